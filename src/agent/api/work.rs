//! The API's listings of the work around the tenants: a tenant's drift history, the backup schedules and
//! their next slots, the locks, the history of applies and restores, the restores running and done, and
//! the agents. Each a [`Page`], newest or by name as each says.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiError, Page, page_of};
use crate::state::{State, Work};
use crate::util::rfc3339;

/// A listing's query: the page, and the filters the listing takes (`tenant`; `kind` for the history).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub page: Option<usize>,
    pub per_page: Option<usize>,
    pub tenant: Option<String>,
    /// `apply` or `restore` (the history only).
    pub kind: Option<String>,
}

impl ListQuery {
    /// The page asked for.
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        page_of(self.page, self.per_page)
    }

    /// Refuses filters where the listing takes none (its tenant is in its path).
    pub fn only_paging(&self) -> Result<(), ApiError> {
        self.no_kind()?;
        match &self.tenant {
            Some(_) => Err(ApiError::Query("`tenant` is in this listing's path".into())),
            None => Ok(()),
        }
    }

    /// Refuses `kind` where the listing does not take it.
    fn no_kind(&self) -> Result<(), ApiError> {
        match &self.kind {
            Some(_) => Err(ApiError::Query(
                "`kind` filters /api/v1/history only".into(),
            )),
            None => Ok(()),
        }
    }

    fn keeps(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }
}

/// A change of a tenant's drift status.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DriftChange {
    /// When the check that changed it ran (RFC 3339).
    pub checked_at: String,
    /// The new status (`in_sync`, `new_drift`, `resolved`, `could_not_check`, ...).
    pub status: String,
    /// The drift's digest: the same drift keeps it (empty when in sync or not checked).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

/// A tenant's changes of drift status, newest first.
pub async fn drift_history(
    state: &State,
    tenant: &str,
    q: &ListQuery,
) -> Result<Page<DriftChange>, ApiError> {
    q.no_kind()?;
    let asked = q.page()?;
    let changes = state.drift().history(tenant, i64::MAX).await?;
    if changes.is_empty() && state.drift().result(tenant).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "tenant `{tenant}` has never been checked for drift"
        )));
    }
    let items = changes.into_iter().map(|c| DriftChange {
        checked_at: rfc3339(c.checked_at),
        status: c.status,
        digest: c.digest,
    });
    Ok(Page::of(items.collect(), asked))
}

/// A backup schedule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    pub name: String,
    pub cron: String,
    /// Its tenants' ids (`@FLEET`: every tenant of a fleet file, read at each slot).
    pub tenants: Vec<String>,
    /// The repository, with no credentials.
    pub repo: String,
    pub paused: bool,
    /// The next slot (RFC 3339); absent when paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_slot: Option<String>,
    /// The last slot run, and how it ended (`running`, `ok`, `partial`, `failed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
}

/// The backup schedules, by name (of one tenant's with `tenant`).
pub async fn schedules(state: &State, q: &ListQuery) -> Result<Page<Schedule>, ApiError> {
    q.no_kind()?;
    let asked = q.page()?;
    let now = crate::util::now();
    let mut items = Vec::new();
    for s in state.schedules().all().await? {
        let tenants: Vec<String> = s
            .tenants
            .iter()
            .map(|t| {
                t.split_once('=')
                    .map_or(t.as_str(), |(id, _)| id)
                    .to_string()
            })
            .collect();
        if q.tenant.is_some() && !tenants.iter().any(|t| q.keeps(t)) {
            continue;
        }
        let next = crate::backup::schedule::Schedule::parse(&s.cron)
            .ok()
            .filter(|_| !s.paused)
            .and_then(|c| c.next(now));
        let last = state.schedules().last_slot(&s.name).await?;
        items.push(Schedule {
            name: s.name,
            cron: s.cron,
            tenants,
            repo: crate::util::shown_url(&s.repo),
            paused: s.paused,
            next_slot: next.map(rfc3339),
            last_slot: last.as_ref().map(|(at, _)| rfc3339(*at)),
            last_status: last.map(|(_, status)| status),
        });
    }
    Ok(Page::of(items, asked))
}

/// A tenant's lock (an apply, a restore or a backup holds it), or an agent's on a SQLite state store.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Lock {
    pub tenant: String,
    /// `user@host (pid N), since T`.
    pub holder: String,
    pub acquired_at: String,
    pub heartbeat_at: String,
    pub expires_at: String,
    /// Its holder stopped renewing it: the next taker takes it over.
    pub expired: bool,
}

/// The locks, by tenant.
pub async fn locks(state: &State, q: &ListQuery) -> Result<Page<Lock>, ApiError> {
    q.no_kind()?;
    let asked = q.page()?;
    let now = crate::util::now();
    let all = state.locks().all().await?;
    let items = all
        .into_iter()
        .filter(|l| q.keeps(&l.tenant))
        .map(|l| Lock {
            holder: l.holder(),
            acquired_at: rfc3339(l.acquired_at),
            heartbeat_at: rfc3339(l.heartbeat_at),
            expires_at: rfc3339(l.expires_at),
            expired: l.expired(now),
            tenant: l.tenant,
        });
    Ok(Page::of(items.collect(), asked))
}

/// An apply or a restore, as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub id: String,
    pub tenant: String,
    /// `apply` or `restore`.
    pub kind: String,
    /// Who ran it, and where.
    pub who: String,
    pub host: String,
    pub started_at: String,
    pub finished_at: String,
    /// What it read: a manifest, a backup.
    pub source: String,
    pub domains: Vec<String>,
    /// `success`, `partial`, `failed`, `refused`.
    pub outcome: String,
    /// The break-glass reason, or why it was refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// The history of applies and restores, newest first.
pub async fn history(state: &State, q: &ListQuery) -> Result<Page<Event>, ApiError> {
    let asked = q.page()?;
    if let Some(k) = q
        .kind
        .as_deref()
        .filter(|k| !["apply", "restore"].contains(k))
    {
        return Err(ApiError::Query(format!(
            "`kind={k}`: the history holds `apply` and `restore`"
        )));
    }
    let rows = state
        .registry()
        .history(q.tenant.as_deref(), q.kind.as_deref())
        .await?;
    let items = rows.into_iter().map(|h| Event {
        id: h.id,
        tenant: h.tenant,
        kind: h.kind,
        who: h.who,
        host: h.host,
        started_at: rfc3339(h.started_at),
        finished_at: rfc3339(h.finished_at),
        source: h.source,
        domains: h
            .domains
            .split(',')
            .filter(|d| !d.is_empty())
            .map(String::from)
            .collect(),
        outcome: h.outcome,
        reason: h.reason,
    });
    Ok(Page::of(items.collect(), asked))
}

/// A restore: running (its domains as far as they got) or done (as the history keeps it).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Restore {
    pub id: String,
    pub tenant: String,
    pub running: bool,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// How a restore that is done ended (`success`, `partial`, `failed`, `refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// A running restore's domains: `pending`, or the domain's status once restored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub domains: BTreeMap<String, String>,
}

/// The restores running, then those done, newest first.
pub async fn restores(state: &State, q: &ListQuery) -> Result<Page<Restore>, ApiError> {
    q.no_kind()?;
    let asked = q.page()?;
    let mut running: BTreeMap<String, Restore> = BTreeMap::new();
    for row in state.progress().work_running(Work::Restore).await? {
        let r = running.entry(row.id.clone()).or_insert_with(|| Restore {
            id: row.id.clone(),
            tenant: row.tenant.clone(),
            running: true,
            started_at: rfc3339(row.started_at),
            finished_at: None,
            outcome: None,
            domains: BTreeMap::new(),
        });
        r.domains.insert(row.domain, row.status);
    }
    let done = state.registry().history(None, Some("restore")).await?;
    let done = done.into_iter().map(|h| Restore {
        id: h.id,
        tenant: h.tenant,
        running: false,
        started_at: rfc3339(h.started_at),
        finished_at: Some(rfc3339(h.finished_at)),
        outcome: Some(h.outcome),
        domains: BTreeMap::new(),
    });
    let all = running.into_values().chain(done);
    Ok(Page::of(
        all.filter(|r| q.keeps(&r.tenant)).collect(),
        asked,
    ))
}

/// An agent sharing the state store, alive at its last heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    /// `user@host:pid:tag`: what its claims name.
    pub id: String,
    pub host: String,
    pub version: String,
    pub started_at: String,
    pub seen_at: String,
    /// The tenants' checks it holds now.
    pub claims: usize,
}

/// The agents alive (seen within two heartbeats), by id.
pub async fn agents(state: &State, q: &ListQuery) -> Result<Page<Agent>, ApiError> {
    q.no_kind()?;
    let asked = q.page()?;
    let now = crate::util::now();
    let held = state.claims().held(now).await?;
    let alive = state
        .claims()
        .agents(crate::ops::agent::alive_since(now))
        .await?;
    let items = alive.into_iter().map(|a| Agent {
        claims: held.iter().filter(|c| c.holder == a.id).count(),
        id: a.id,
        host: a.host,
        version: a.version,
        started_at: rfc3339(a.started_at),
        seen_at: rfc3339(a.seen_at),
    });
    Ok(Page::of(items.collect(), asked))
}
