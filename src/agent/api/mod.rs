//! The read-only JSON API (`/api/v1/...`): what the state store holds of the fleet, paginated and
//! filtered. Its answers' JSON Schemas are in `schemas/` (generated from these types, listed by
//! [`schemas`]). The tenants here; the drift history, schedules, locks, history, restores and agents in
//! `work.rs`.

pub mod backups;
pub mod work;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fleet::report::{SystemLine, TenantResult};
use crate::state::{LastBackup, State, StateError};

/// The most items a page holds.
pub const MAX_PER_PAGE: usize = 1000;

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// This page (from 1), its size, and how many items the listing has in all.
    pub page: usize,
    pub per_page: usize,
    pub total: usize,
}

/// A tenant as the agent knows it: its last drift check, its registry entry and its last backups.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Tenant {
    pub tenant: String,
    /// The last drift check's status (`in_sync`, `new_drift`, `still_drifted`, `resolved`,
    /// `could_not_check`); absent when never checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    /// When it was last checked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
    /// The registry's environment and status (`active`, `suspended`), when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_status: Option<String>,
    /// Resources that differ from the manifest, as last checked.
    pub changes: usize,
    /// Each system the tenant needs: its changes, or why it could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<SystemLine>,
    /// Problems not tied to one system (the manifest, the state store).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<Backup>,
}

/// A tenant's last backups.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Backup {
    /// The last backup's id, status (`ok`, `incomplete`, `partial`, `failed`) and end (RFC 3339).
    pub id: String,
    pub status: String,
    pub at: String,
    /// When the last backup that stored anything, and the last complete one, ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_complete_at: Option<String>,
}

/// `/api/v1/tenants`' query: a page and filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    pub page: Option<usize>,
    pub per_page: Option<usize>,
    /// A drift status, or `drifted` (new or still drifted).
    pub drift: Option<String>,
    pub environment: Option<String>,
}

/// The drift statuses a query may name.
const DRIFT_FILTERS: &[&str] = &[
    "in_sync",
    "new_drift",
    "still_drifted",
    "resolved",
    "could_not_check",
    "drifted",
    "unchecked",
];

/// A page asked for: its number (from 1) and size (1 to [`MAX_PER_PAGE`], 100 by default).
pub fn page_of(page: Option<usize>, per_page: Option<usize>) -> Result<(usize, usize), ApiError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(100);
    if page == 0 {
        return Err(ApiError::Query("`page` counts from 1".into()));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::Query(format!(
            "`per_page` is from 1 to {MAX_PER_PAGE}"
        )));
    }
    Ok((page, per_page))
}

impl<T> Page<T> {
    /// The page `page` of `per_page` items of `all`.
    pub fn of(all: Vec<T>, (page, per_page): (usize, usize)) -> Page<T> {
        let total = all.len();
        let items = all
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect();
        Page {
            items,
            page,
            per_page,
            total,
        }
    }
}

impl TenantQuery {
    /// The page and its size, or what is wrong with the query.
    fn page(&self) -> Result<(usize, usize), ApiError> {
        let (page, per_page) = page_of(self.page, self.per_page)?;
        if let Some(d) = self.drift.as_deref().filter(|d| !DRIFT_FILTERS.contains(d)) {
            return Err(ApiError::Query(format!(
                "`drift={d}` is not a status: use one of {}",
                DRIFT_FILTERS.join(", ")
            )));
        }
        Ok((page, per_page))
    }

    fn keeps(&self, t: &Tenant) -> bool {
        let drift = t.drift.as_deref().unwrap_or("unchecked");
        let status_ok = match self.drift.as_deref() {
            None => true,
            Some("drifted") => matches!(drift, "new_drift" | "still_drifted"),
            Some(d) => d == drift,
        };
        let env_ok = self
            .environment
            .as_deref()
            .is_none_or(|e| t.environment.as_deref() == Some(e));
        status_ok && env_ok
    }
}

/// Why a request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Query(String),
    /// Nothing of that name.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    State(#[from] StateError),
    /// The backup repository could not be read.
    #[error("the backup repository: {0}")]
    Repo(String),
}

/// Every tenant the state store knows (checked, registered or backed up), by id; a page of those the
/// query keeps.
pub async fn tenants(state: &State, q: &TenantQuery) -> Result<Page<Tenant>, ApiError> {
    let asked = q.page()?;
    let all = known(state).await?;
    let kept: Vec<Tenant> = all.into_values().filter(|t| q.keeps(t)).collect();
    Ok(Page::of(kept, asked))
}

/// One tenant the state store knows.
pub async fn tenant(state: &State, id: &str) -> Result<Tenant, ApiError> {
    let mut all = known(state).await?;
    all.remove(id)
        .ok_or_else(|| ApiError::NotFound(format!("no tenant `{id}` is known to the state store")))
}

/// Every tenant the state store knows, by id (the dashboard's fleet page).
pub async fn all(state: &State) -> Result<Vec<Tenant>, ApiError> {
    Ok(known(state).await?.into_values().collect())
}

/// A tenant's last drift as the plan rendered it (secrets redacted), when it drifted.
pub async fn drift_plan(state: &State, id: &str) -> Result<Option<String>, ApiError> {
    #[derive(Deserialize)]
    struct Rendered {
        plan: Option<String>,
    }
    let Some(r) = state.drift().result(id).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Rendered>(&r.result)
        .ok()
        .and_then(|r| r.plan))
}

/// Every tenant the state store knows (checked, registered or backed up), by id.
async fn known(state: &State) -> Result<BTreeMap<String, Tenant>, ApiError> {
    let mut all: BTreeMap<String, Tenant> = BTreeMap::new();
    for r in state.drift().results().await? {
        let t = entry(&mut all, &r.tenant);
        t.drift = Some(r.status.clone());
        t.checked_at = Some(crate::util::rfc3339(r.checked_at));
        if let Ok(result) = serde_json::from_str::<TenantResult>(&r.result) {
            t.changes = result.changes.len();
            t.domains = result.systems;
            t.errors = result.errors;
        }
    }
    for row in state.registry().tenants(None).await? {
        let t = entry(&mut all, &row.tenant);
        t.environment = Some(row.environment).filter(|e| !e.is_empty());
        t.registry_status = Some(row.status);
    }
    for b in state.backups().all().await? {
        entry(&mut all, &b.tenant).backup = Some(Backup::of(&b));
    }
    Ok(all)
}

/// The tenant's entry, made when first named.
fn entry<'a>(all: &'a mut BTreeMap<String, Tenant>, id: &str) -> &'a mut Tenant {
    all.entry(id.to_string()).or_insert_with(|| Tenant::new(id))
}

impl Tenant {
    fn new(id: &str) -> Tenant {
        Tenant {
            tenant: id.into(),
            drift: None,
            checked_at: None,
            environment: None,
            registry_status: None,
            changes: 0,
            domains: Vec::new(),
            errors: Vec::new(),
            backup: None,
        }
    }
}

impl Backup {
    fn of(b: &LastBackup) -> Backup {
        Backup {
            id: b.id.clone(),
            status: b.status.clone(),
            at: crate::util::rfc3339(b.at),
            last_success_at: b.success_at.map(crate::util::rfc3339),
            last_complete_at: b.complete_at.map(crate::util::rfc3339),
        }
    }
}

/// The JSON Schema of `/api/v1/tenants`' answer.
pub fn tenants_schema() -> serde_json::Value {
    crate::util::json_schema::<Page<Tenant>>("api-tenants.schema.json", "falconer agent: tenants")
}

/// Every answer's JSON Schema, with its file in `schemas/`.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    use crate::util::json_schema as of;
    vec![
        ("api-tenants.schema.json", tenants_schema()),
        (
            "api-tenant.schema.json",
            of::<Tenant>("api-tenant.schema.json", "falconer agent: a tenant"),
        ),
        (
            "api-drift-history.schema.json",
            of::<Page<work::DriftChange>>(
                "api-drift-history.schema.json",
                "falconer agent: a tenant's drift history",
            ),
        ),
        (
            "api-schedules.schema.json",
            of::<Page<work::Schedule>>("api-schedules.schema.json", "falconer agent: schedules"),
        ),
        (
            "api-locks.schema.json",
            of::<Page<work::Lock>>("api-locks.schema.json", "falconer agent: locks"),
        ),
        (
            "api-history.schema.json",
            of::<Page<work::Event>>("api-history.schema.json", "falconer agent: history"),
        ),
        (
            "api-restores.schema.json",
            of::<Page<work::Restore>>("api-restores.schema.json", "falconer agent: restores"),
        ),
        (
            "api-backups.schema.json",
            of::<Page<backups::Backup>>(
                "api-backups.schema.json",
                "falconer agent: a tenant's backups",
            ),
        ),
        (
            "api-backup.schema.json",
            of::<backups::Backup>("api-backup.schema.json", "falconer agent: a backup"),
        ),
        (
            "api-agents.schema.json",
            of::<Page<work::Agent>>("api-agents.schema.json", "falconer agent: agents"),
        ),
    ]
}
