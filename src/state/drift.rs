//! Each tenant's last drift check (a fleet's `drift` classifies against it).

use super::*;

/// Each tenant's last drift check (a fleet's `drift` classifies against it).
#[derive(Clone, Copy)]
pub struct Drift<'a>(pub(super) &'a State);

impl Drift<'_> {
    /// A tenant's last drift result: whether it drifted, and the digest of that drift.
    pub async fn last_drift(self, tenant: &str) -> Result<Option<(bool, String)>, StateError> {
        let row: Option<(i64, String)> = on!(self.0, |p| sqlx::query_as(
            "select drifted, digest from falconer_drift where tenant = $1"
        )
        .bind(tenant)
        .fetch_optional(p)
        .await
        .map_err(db))?;
        Ok(row.map(|(d, digest)| (d != 0, digest)))
    }
}

/// A tenant's last drift check as the agent shows it: the fleet report's result (JSON, changes redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftResult {
    pub tenant: String,
    /// The fleet report's status (`in_sync`, `new_drift`, `could_not_check`, ...).
    pub status: String,
    pub checked_at: i64,
    /// The fleet report's `TenantResult`, as JSON.
    pub result: String,
}

/// A change of a tenant's drift status.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftChange {
    pub tenant: String,
    pub checked_at: i64,
    pub status: String,
    /// The drift's digest (empty when in sync or not checked).
    pub digest: String,
}

/// A drift check's records, written together in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct DriftRecord<'a> {
    pub result: &'a DriftResult,
    /// The drift's digest (empty when in sync or not checked).
    pub digest: &'a str,
    /// Whether the tenant drifted, what the next check classifies against; `None` when the check could
    /// not plan (the last real check stays).
    pub drifted: Option<bool>,
    /// The event the check tells of (new drift, drift resolved).
    pub event: Option<&'a OutboxEvent>,
}

impl Drift<'_> {
    /// Replaces a tenant's last result; when its status differs in kind from the last one's (drifted, in
    /// sync, could not check) or is new drift, the history keeps the change. Returns whether it did.
    pub async fn record_result(self, r: &DriftResult, digest: &str) -> Result<bool, StateError> {
        let record = DriftRecord {
            result: r,
            digest,
            drifted: None,
            event: None,
        };
        self.record(&record, None).await
    }

    /// Writes a drift check's records at once: the last drift, the last result (and the history's change,
    /// as [`Drift::record_result`]) and its event. With a `fence`, only while the claim is still the one
    /// the check was made under, which it marks done ([`StateError::Fenced`], nothing written, when not).
    pub async fn record(
        self,
        r: &DriftRecord<'_>,
        fence: Option<&Fence>,
    ) -> Result<bool, StateError> {
        let res = r.result;
        // SQLite: the write lock from the start (a read first could not upgrade after another commit).
        let begin = match self.0.pool {
            Pool::Sqlite(_) => "BEGIN IMMEDIATE",
            Pool::Postgres(_) => "BEGIN",
        };
        on!(self.0, |p| {
            let mut tx = p.begin_with(begin).await.map_err(db)?;
            if let Some(f) = fence {
                let marked = sqlx::query(super::claims::FENCE)
                    .bind(res.checked_at)
                    .bind(&f.job)
                    .bind(&f.item)
                    .bind(f.generation)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                super::claims::fenced(f, marked.rows_affected())?;
            }
            if let Some(drifted) = r.drifted {
                sqlx::query(
                    "insert into falconer_drift (tenant, drifted, digest, checked_at) values ($1, $2, $3, $4)
                     on conflict (tenant) do update set drifted = excluded.drifted, digest = excluded.digest,
                     checked_at = excluded.checked_at",
                )
                .bind(&res.tenant)
                .bind(i64::from(drifted))
                .bind(r.digest)
                .bind(res.checked_at)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            let last: Option<String> =
                sqlx::query_scalar("select status from falconer_drift_result where tenant = $1")
                    .bind(&res.tenant)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            let changed = changed(last.as_deref(), &res.status);
            sqlx::query(
                "insert into falconer_drift_result (tenant, status, checked_at, result) values ($1, $2, $3, $4)
                 on conflict (tenant) do update set status = excluded.status,
                 checked_at = excluded.checked_at, result = excluded.result",
            )
            .bind(&res.tenant)
            .bind(&res.status)
            .bind(res.checked_at)
            .bind(&res.result)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if changed {
                sqlx::query(
                    "insert into falconer_drift_history (tenant, checked_at, status, digest)
                     values ($1, $2, $3, $4) on conflict (tenant, checked_at) do update
                     set status = excluded.status, digest = excluded.digest",
                )
                .bind(&res.tenant)
                .bind(res.checked_at)
                .bind(&res.status)
                .bind(r.digest)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            if let Some(e) = r.event {
                sqlx::query(super::outbox::ADD)
                    .bind(&e.id)
                    .bind(&e.kind)
                    .bind(&e.tenant)
                    .bind(e.at)
                    .bind(&e.data)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            Ok(changed)
        })
    }
}

impl Drift<'_> {
    /// A tenant's last result.
    pub async fn result(self, tenant: &str) -> Result<Option<DriftResult>, StateError> {
        let row: Option<(String, String, i64, String)> = on!(self.0, |p| {
            sqlx::query_as(
            "select tenant, status, checked_at, result from falconer_drift_result where tenant = $1"
        )
        .bind(tenant)
        .fetch_optional(p)
        .await
        .map_err(db)
        })?;
        Ok(row.map(result_of))
    }

    /// Every tenant's last result, by tenant.
    pub async fn results(self) -> Result<Vec<DriftResult>, StateError> {
        let rows: Vec<(String, String, i64, String)> = on!(self.0, |p| {
            sqlx::query_as(
            "select tenant, status, checked_at, result from falconer_drift_result order by tenant"
        )
        .fetch_all(p)
        .await
        .map_err(db)
        })?;
        Ok(rows.into_iter().map(result_of).collect())
    }

    /// Forgets the last results of tenants no longer checked (their series leave the metrics).
    pub async fn forget_results(self, keep: &[String]) -> Result<u64, StateError> {
        let mut gone = 0;
        for r in self.results().await? {
            if keep.contains(&r.tenant) {
                continue;
            }
            gone += on!(self.0, |p| sqlx::query(
                "delete from falconer_drift_result where tenant = $1"
            )
            .bind(&r.tenant)
            .execute(p)
            .await
            .map(|d| d.rows_affected())
            .map_err(db))?;
        }
        Ok(gone)
    }

    /// A tenant's changes of drift status, newest first.
    pub async fn history(self, tenant: &str, limit: i64) -> Result<Vec<DriftChange>, StateError> {
        let rows: Vec<(String, i64, String, String)> = on!(self.0, |p| {
            sqlx::query_as(
            "select tenant, checked_at, status, digest from falconer_drift_history where tenant = $1
             order by checked_at desc limit $2"
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(p)
        .await
        .map_err(db)
        })?;
        Ok(rows
            .into_iter()
            .map(|(tenant, checked_at, status, digest)| DriftChange {
                tenant,
                checked_at,
                status,
                digest,
            })
            .collect())
    }
}

fn result_of((tenant, status, checked_at, result): (String, String, i64, String)) -> DriftResult {
    DriftResult {
        tenant,
        status,
        checked_at,
        result,
    }
}

/// Whether a status is a change the history keeps: new drift, or a status of another kind (drifted, in
/// sync, could not check) than the last one's.
fn changed(last: Option<&str>, status: &str) -> bool {
    let kind = |s: &str| match s {
        "new_drift" | "still_drifted" => "drifted",
        "resolved" | "in_sync" => "in_sync",
        _ => "could_not_check",
    };
    status == "new_drift" || last.is_none_or(|l| kind(l) != kind(status))
}
