//! The tenant registry (each tenant's status, environment and naming, `falconer tenant`), the audit history
//! of applies and restores (`falconer history`), and the one-time codes already used.

use super::{Pool, State, StateError, db, now};

/// A tenant as the registry keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRow {
    pub tenant: String,
    /// `active` or `suspended`.
    pub status: String,
    /// `production`, `staging`, ...
    pub environment: String,
    /// The tenant's naming (its scope) as JSON, from its last apply or restore; empty when unknown.
    pub naming: String,
    pub updated_at: i64,
}

/// One apply or restore, as the history keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryRow {
    pub id: String,
    pub tenant: String,
    /// `apply` or `restore`.
    pub kind: String,
    pub who: String,
    pub host: String,
    pub started_at: i64,
    pub finished_at: i64,
    /// What it read: a manifest, a backup, a file.
    pub source: String,
    /// SHA-256 of the source.
    pub digest: String,
    /// The identifier map used, as JSON (`{}` when none).
    pub map: String,
    /// The domains it touched, comma-separated.
    pub domains: String,
    /// `success`, `partial`, `failed`, `refused`.
    pub outcome: String,
    /// The break-glass reason, or why it was refused.
    pub reason: String,
}

type HistoryTuple = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
);

const HISTORY_COLUMNS: &str = "id, tenant, kind, who, host, started_at, finished_at, source, digest, map, domains, outcome, reason";

fn history_row(r: HistoryTuple) -> HistoryRow {
    HistoryRow {
        id: r.0,
        tenant: r.1,
        kind: r.2,
        who: r.3,
        host: r.4,
        started_at: r.5,
        finished_at: r.6,
        source: r.7,
        digest: r.8,
        map: r.9,
        domains: r.10,
        outcome: r.11,
        reason: r.12,
    }
}

/// The tenant registry and the history of applies and restores.
#[derive(Clone, Copy)]
pub struct Registry<'a>(pub(super) &'a State);

impl Registry<'_> {
    /// Sets a tenant's status and environment (its naming is kept).
    pub async fn set_tenant(
        self,
        tenant: &str,
        status: &str,
        environment: &str,
    ) -> Result<(), StateError> {
        on!(self.0, |p| sqlx::query(
            "insert into falconer_tenants (tenant, status, environment, naming, updated_at)
             values ($1, $2, $3, '', $4)
             on conflict (tenant) do update set status = excluded.status,
                 environment = excluded.environment, updated_at = excluded.updated_at"
        )
        .bind(tenant)
        .bind(status)
        .bind(environment)
        .bind(now())
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))
    }
    /// Remembers a tenant's naming (JSON) after an apply or restore; a tenant not in the registry is added,
    /// `active`, with no environment.
    pub async fn remember_naming(self, tenant: &str, naming: &str) -> Result<(), StateError> {
        on!(self.0, |p| {
            sqlx::query(
            "insert into falconer_tenants (tenant, status, environment, naming, updated_at)
             values ($1, 'active', '', $2, $3)
             on conflict (tenant) do update set naming = excluded.naming, updated_at = excluded.updated_at"
        )
        .bind(tenant)
        .bind(naming)
        .bind(now())
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db)
        })
    }
    /// The registry, by tenant; one tenant when `tenant` is given.
    pub async fn tenants(self, tenant: Option<&str>) -> Result<Vec<TenantRow>, StateError> {
        let rows: Vec<(String, String, String, String, i64)> = on!(self.0, |p| sqlx::query_as(
            "select tenant, status, environment, naming, updated_at from falconer_tenants
             where $1 is null or tenant = $1 order by tenant"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows
            .into_iter()
            .map(|r| TenantRow {
                tenant: r.0,
                status: r.1,
                environment: r.2,
                naming: r.3,
                updated_at: r.4,
            })
            .collect())
    }
    /// The tenant with the naming the registry remembers (the defaults when it knows none).
    pub async fn registered(self, tenant: &str) -> Result<crate::model::Tenant, StateError> {
        let mut t = crate::model::Tenant::new(tenant);
        if let Some(naming) = self
            .tenants(Some(tenant))
            .await?
            .first()
            .and_then(|r| serde_json::from_str(&r.naming).ok())
        {
            t.naming = naming;
        }
        Ok(t)
    }
    /// Records an apply or restore in the history.
    pub async fn record_history(self, h: &HistoryRow) -> Result<(), StateError> {
        on!(self.0, |p| sqlx::query(&format!(
            "insert into falconer_history ({HISTORY_COLUMNS})
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&h.id)
        .bind(&h.tenant)
        .bind(&h.kind)
        .bind(&h.who)
        .bind(&h.host)
        .bind(h.started_at)
        .bind(h.finished_at)
        .bind(&h.source)
        .bind(&h.digest)
        .bind(&h.map)
        .bind(&h.domains)
        .bind(&h.outcome)
        .bind(&h.reason)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))
    }
    /// The history, newest first; of one tenant and one kind when given.
    pub async fn history(
        self,
        tenant: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Vec<HistoryRow>, StateError> {
        let rows: Vec<HistoryTuple> = on!(self.0, |p| sqlx::query_as(&format!(
            "select {HISTORY_COLUMNS} from falconer_history
             where ($1 is null or tenant = $1) and ($2 is null or kind = $2)
             order by started_at desc, id desc"
        ))
        .bind(tenant)
        .bind(kind)
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows.into_iter().map(history_row).collect())
    }
}
