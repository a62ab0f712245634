//! The report of a restore (`restore --report FILE`, `--format json`): per domain what happened, counts,
//! timings, the source and the outcome. Its JSON Schema is `schemas/restore-report.schema.json`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Domain;

/// The report format this falconer writes.
pub const FORMAT: &str = "falconer-restore-report";
pub const FORMAT_VERSION: u32 = 1;

/// How a restore ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every requested domain that could be restored was.
    Success,
    /// Some domains were restored, some failed (see each domain).
    Partial,
    /// Nothing could be restored.
    Failed,
    /// The preflight refused: nothing was written.
    Refused,
    /// `--dry-run`: the preflight only; nothing was written.
    DryRun,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Success => "success",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::DryRun => "dry run",
        })
    }
}

/// How much a restore can break: `low` only creates, `medium` changes what exists (or widens access, locks
/// tables), `high` deletes or rewrites data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    /// The risk of a plan: its changes' actions and hazards.
    pub fn of(plan: &crate::plan::Plan) -> (Risk, String) {
        use crate::model::HazardCode;
        use crate::plan::Action;
        let c = &plan.summary.counts;
        let hazards = &plan.summary.hazards;
        let data = [
            HazardCode::DeletesData,
            HazardCode::RewritesData,
            HazardCode::Impossible,
        ];
        if c.delete > 0 || data.iter().any(|h| hazards.contains_key(h)) {
            return (
                Risk::High,
                format!("{} deleted, hazards: {}", c.delete, hazard_list(plan)),
            );
        }
        let changed = plan
            .changes
            .iter()
            .filter(|x| matches!(x.action, Action::Update | Action::Replace))
            .count();
        if changed > 0 || !hazards.is_empty() {
            return (
                Risk::Medium,
                format!(
                    "{changed} existing object(s) changed, hazards: {}",
                    hazard_list(plan)
                ),
            );
        }
        (
            Risk::Low,
            format!("{} object(s) created, nothing existing changed", c.create),
        )
    }
}

fn hazard_list(plan: &crate::plan::Plan) -> String {
    let list: Vec<String> = plan.summary.hazards.keys().map(|h| h.to_string()).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// What happened to one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainOutcome {
    /// Its changes were applied.
    Applied,
    /// Already as in the backup: nothing to do.
    Unchanged,
    /// Planned, not applied (dry run, or the restore was refused).
    Planned,
    /// Not restored: the backup has nothing to restore it from (see `reason`).
    Skipped,
    /// Not asked for.
    NotRequested,
    /// Objects differ from the backup and `--on-conflict fail` refused (see `conflicts`).
    Conflict,
    /// The system failed (see `reason`), or a change it waited for did.
    Error,
}

/// An object that exists in the target and differs from the backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Conflict {
    pub address: String,
    /// The fields that differ (secrets are named, never shown).
    pub fields: Vec<String>,
    /// What was done with it: `refused`, `kept` or `overwritten`.
    pub resolution: String,
}

/// Change counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
}

/// One domain of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainReport {
    pub domain: Domain,
    pub outcome: DomainOutcome,
    /// Why it was skipped, or the system's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub counts: Counts,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// Secret fields the backup could not carry: set them before or after (`ADDRESS FIELD`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets_to_set: Vec<String>,
    /// Objects of the source outside the tenant's scope (its naming), left out: `ADDRESS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_of_scope: Vec<String>,
    /// Objects left out because they cannot be written as the source holds them (`--skip-invalid`):
    /// `ADDRESS: what it lacks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// Values the source redacted though they are no secrets (a token lifespan): unknown, never written;
    /// the live value stays (JSON pointers into the source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_values: Vec<String>,
    /// Objects held back because they depend on a system that could not be reached: the same restore run
    /// again restores them (`ADDRESS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<String>,
    /// Objects the backup found and no kind carries: this restore cannot bring them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_carried: Vec<crate::domains::provider::NotCarried>,
}

/// Where the restore read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceReport {
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// The tenant the source was taken from.
    pub tenant: String,
    /// SHA-256 of the record or file read.
    pub digest: String,
    /// The format version the source was migrated from in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_from: Option<String>,
}

/// The report of one restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub format: String,
    pub format_version: u32,
    pub tenant: String,
    pub source: SourceReport,
    pub outcome: Outcome,
    /// `--dry-run`: the preflight only; nothing was written, whatever the outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Why the restore was refused or failed as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `fail`, `keep` or `overwrite`.
    pub on_conflict: String,
    /// The plan's risk, and why (absent when nothing was planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_reason: Option<String>,
    pub prune: bool,
    /// Identifier map used (from → to); empty for a restore into the same tenant.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// For a backup of another tenant: the identifier map proposed, by scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposed_map: Vec<super::map::MapEntry>,
    pub domains: Vec<DomainReport>,
    /// Totals over the domains.
    pub counts: Counts,
    /// Changes applied.
    pub applied: usize,
    /// Data values set (`--sequence-values`: sequences' current values).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data_values_set: usize,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// `--verify`: whether the target was read back equal to the backup (absent when not verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

impl Report {
    pub fn domain_mut(&mut self, d: Domain) -> Option<&mut DomainReport> {
        self.domains.iter_mut().find(|r| r.domain == d)
    }

    /// Adds up the domains' counts.
    pub fn total(&mut self) {
        let mut c = Counts::default();
        for d in &self.domains {
            c.create += d.counts.create;
            c.update += d.counts.update;
            c.replace += d.counts.replace;
            c.delete += d.counts.delete;
            c.unchanged += d.counts.unchanged;
        }
        self.counts = c;
    }
}

/// The JSON Schema of restore reports (`schemas/restore-report.schema.json`).
pub fn schema() -> serde_json::Value {
    crate::util::json_schema::<Report>("restore-report.schema.json", "falconer restore report")
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
