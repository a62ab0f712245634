//! What a fleet run reports: each tenant's result (its status against the drift history, counts, changes,
//! the systems it needed), the roll-up, the exit code, the JSON Lines events (`--json`) and the report
//! document (`--report FILE`). Both formats have a JSON Schema in `schemas/`; readers ignore unknown keys.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::model::HazardCode;
use crate::plan::{Action, Counts, Plan};

/// The version of the events' and the report's formats.
pub const FORMAT_VERSION: u32 = 1;

/// A tenant's status in a fleet run. `drift` gives the first five (against the tenant's last drift result in
/// the state store); `plan` and `apply` the others.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Could not be read or planned (a system unreachable, a manifest with errors).
    CouldNotCheck,
    /// Drifted, and was not (or drifted otherwise) when last checked.
    NewDrift,
    /// Drifted as when last checked.
    StillDrifted,
    /// In sync, and drifted when last checked.
    Resolved,
    InSync,
    /// `plan`: changes to make; `apply`: changes made.
    Changes,
    NoChanges,
    /// `plan`/`apply`: failed.
    Error,
}

impl Status {
    pub fn words(self) -> &'static str {
        match self {
            Status::CouldNotCheck => "could not check",
            Status::NewDrift => "new drift",
            Status::StillDrifted => "still drifted",
            Status::Resolved => "resolved",
            Status::InSync => "in sync",
            Status::Changes => "changes",
            Status::NoChanges => "no changes",
            Status::Error => "error",
        }
    }

    /// The tenant failed (nothing known of it).
    pub fn failed(self) -> bool {
        matches!(self, Status::CouldNotCheck | Status::Error)
    }

    /// The tenant has changes or drift.
    pub fn changed(self) -> bool {
        matches!(
            self,
            Status::NewDrift | Status::StillDrifted | Status::Changes
        )
    }
}

/// The last drift result the state store keeps for a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastDrift {
    pub drifted: bool,
    /// The digest of the drift ([`drift_digest`]); empty when in sync.
    pub digest: String,
}

/// A drift check's status against the last one: `now` is the digest of the drift found (`None`: in sync).
pub fn classify(now: Option<&str>, last: Option<&LastDrift>) -> Status {
    let was = last.filter(|l| l.drifted);
    match (now, was) {
        (Some(d), Some(l)) if l.digest == d => Status::StillDrifted,
        (Some(_), _) => Status::NewDrift,
        (None, Some(_)) => Status::Resolved,
        (None, None) => Status::InSync,
    }
}

/// A digest of what drifted (addresses, actions and changed fields): the same drift twice has the same
/// digest; drift that grew or changed has another.
pub fn drift_digest(plan: &Plan) -> String {
    let mut lines: Vec<String> = plan
        .changes
        .iter()
        .map(|c| {
            let fields: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
            format!("{} {} {}", c.action.symbol(), c.address, fields.join(","))
        })
        .collect();
    lines.sort();
    crate::util::hex(&sha2::Sha256::digest(lines.join("\n").as_bytes()))
}

/// One change, as a report lists it (the plan itself has the fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeLine {
    pub address: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hazards: Vec<HazardCode>,
    /// Changed fields (updates and replaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// How one system went for a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SystemLine {
    /// The domain (`postgres`, `iam`, ...).
    pub domain: String,
    /// Changes (or drift) in this domain.
    pub changes: usize,
    /// Why the system could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One tenant's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantResult {
    /// The tenant's id (from its manifest; the manifest's path when it could not be read).
    pub tenant: String,
    /// The manifest, as found.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub status: Status,
    pub counts: Counts,
    /// Resources already as desired.
    pub unchanged: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_hazard: Option<HazardCode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeLine>,
    /// The systems the tenant needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<SystemLine>,
    /// Problems not tied to one system (the manifest, the state store).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// What the plan warned of (objects of the tenant's scope that no kind carries, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `drift`: the status the state store had from the last check (`in_sync`, `drifted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub duration_ms: u64,
}

impl TenantResult {
    /// A tenant that failed before any system was read.
    pub fn failed(tenant: String, path: String, status: Status, error: String) -> TenantResult {
        TenantResult {
            tenant,
            path,
            group: None,
            status,
            counts: Counts::default(),
            unchanged: 0,
            highest_hazard: None,
            changes: Vec::new(),
            systems: Vec::new(),
            errors: vec![error],
            warnings: Vec::new(),
            previous: None,
            duration_ms: 0,
        }
    }

    /// Fills in what a plan says: counts, hazards, changes, and each system's count.
    pub fn with_plan(mut self, plan: &Plan) -> TenantResult {
        self.counts = plan.summary.counts.clone();
        self.warnings = plan.warnings.clone();
        self.unchanged = plan.summary.unchanged;
        self.highest_hazard = plan.summary.highest_hazard;
        self.changes = plan
            .changes
            .iter()
            .map(|c| ChangeLine {
                address: c.address.to_string(),
                action: c.action,
                hazards: c.hazards.iter().map(|h| h.code).collect(),
                fields: c.fields.iter().map(|f| f.path.clone()).collect(),
            })
            .collect();
        for s in &mut self.systems {
            s.changes = plan
                .summary
                .by_domain
                .get(&s.domain)
                .map_or(0, Counts::total);
        }
        self
    }

    /// Every problem, each with its system when it has one.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .systems
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.domain)))
            .collect();
        out.extend(self.errors.iter().cloned());
        out
    }
}

/// The roll-up of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub tenants: usize,
    /// Tenants by status.
    pub by_status: BTreeMap<Status, usize>,
    /// Changes (or drift) over all tenants.
    pub changes: usize,
    pub exit_code: i32,
}

impl Summary {
    pub fn of(results: &[TenantResult], exit_code: i32) -> Summary {
        let mut by_status = BTreeMap::new();
        for r in results {
            *by_status.entry(r.status).or_insert(0) += 1;
        }
        Summary {
            tenants: results.len(),
            by_status,
            changes: results.iter().map(|r| r.counts.total()).sum(),
            exit_code,
        }
    }

    /// `2 new drift · 1 could not check · 27 in sync`, in [`Status`] order.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .by_status
            .iter()
            .map(|(s, n)| format!("{n} {}", s.words()))
            .collect();
        if parts.is_empty() {
            "no tenants".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// Which drift fails a `drift` run (exit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Only drift not seen by the last check.
    New,
    /// Any drift.
    Any,
}

/// The report document (`--report FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub format_version: u32,
    /// `plan`, `drift`, `apply` or `backup create`.
    pub command: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    pub summary: Summary,
    /// Sorted by tenant.
    pub tenants: Vec<TenantResult>,
}

impl Report {
    /// The reports of one run's shards (or of several runs of one command) as one: every tenant once, the
    /// summary counted again, the exit code the worst of theirs, the run from the first start to the last
    /// end. Reports of different commands or formats, or naming a tenant twice, are refused.
    pub fn merge(reports: Vec<Report>) -> Result<Report, String> {
        let Some(first) = reports.first() else {
            return Err("no report to merge".into());
        };
        let (command, format_version) = (first.command.clone(), first.format_version);
        if let Some(r) = reports
            .iter()
            .find(|r| r.command != command || r.format_version != format_version)
        {
            return Err(format!(
                "a report of `{}` (format {}) cannot be merged with one of `{command}` (format {format_version})",
                r.command, r.format_version
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut tenants = Vec::new();
        for r in &reports {
            for t in &r.tenants {
                if !seen.insert(t.tenant.clone()) {
                    return Err(format!("tenant `{}` is in two of the reports", t.tenant));
                }
                tenants.push(t.clone());
            }
        }
        tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        // Exit codes rank 0 < 2 (changes) < 5 (some tenant not checked).
        let exit_code = reports
            .iter()
            .map(|r| r.summary.exit_code)
            .max()
            .unwrap_or(0);
        Ok(Report {
            format_version,
            started_at: reports
                .iter()
                .map(|r| r.started_at.clone())
                .min()
                .unwrap_or_default(),
            finished_at: reports
                .iter()
                .map(|r| r.finished_at.clone())
                .max()
                .unwrap_or_default(),
            shard: None,
            summary: Summary::of(&tenants, exit_code),
            command,
            tenants,
        })
    }
}

/// A JSON Lines event (`--json`): one object per line, `event` says which. The first line is `start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The first line: the format's version and what runs.
    Start {
        format_version: u32,
        command: String,
        tenants: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<String>,
    },
    TenantStart {
        tenant: String,
        path: String,
    },
    /// A change to make (`plan`) or a drift found (`drift`).
    Change {
        tenant: String,
        #[serde(flatten)]
        change: ChangeLine,
    },
    /// A problem: a system that could not be read, a manifest with errors.
    Error {
        tenant: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        message: String,
    },
    TenantResult {
        tenant: String,
        status: Status,
        counts: Counts,
        unchanged: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    /// The last line.
    Summary(Summary),
}

impl Event {
    /// The events of one finished tenant, after its `tenant_start`.
    pub fn of_tenant(r: &TenantResult) -> Vec<Event> {
        let mut out: Vec<Event> = r
            .changes
            .iter()
            .map(|c| Event::Change {
                tenant: r.tenant.clone(),
                change: c.clone(),
            })
            .collect();
        for s in &r.systems {
            if let Some(e) = &s.error {
                out.push(Event::Error {
                    tenant: r.tenant.clone(),
                    domain: Some(s.domain.clone()),
                    message: e.clone(),
                });
            }
        }
        out.extend(r.errors.iter().map(|e| Event::Error {
            tenant: r.tenant.clone(),
            domain: None,
            message: e.clone(),
        }));
        out.push(Event::TenantResult {
            tenant: r.tenant.clone(),
            status: r.status,
            counts: r.counts.clone(),
            unchanged: r.unchanged,
            previous: r.previous.clone(),
        });
        out
    }

    /// One line of JSON.
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The JSON Schema of the report document.
pub fn report_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or_default()
}

/// The JSON Schema of one event line.
pub fn event_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Event)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(drifted: bool, digest: &str) -> LastDrift {
        LastDrift {
            drifted,
            digest: digest.into(),
        }
    }

    #[test]
    fn drift_is_new_once_then_still_then_resolved() {
        assert_eq!(classify(Some("a"), None), Status::NewDrift);
        assert_eq!(
            classify(Some("a"), Some(&last(false, ""))),
            Status::NewDrift
        );
        assert_eq!(
            classify(Some("a"), Some(&last(true, "a"))),
            Status::StillDrifted
        );
        // Drift that changed is new again.
        assert_eq!(
            classify(Some("b"), Some(&last(true, "a"))),
            Status::NewDrift
        );
        assert_eq!(classify(None, Some(&last(true, "a"))), Status::Resolved);
        assert_eq!(classify(None, Some(&last(false, ""))), Status::InSync);
        assert_eq!(classify(None, None), Status::InSync);
    }
}
