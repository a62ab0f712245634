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
    /// Records a tenant's drift result (replacing the last).
    pub async fn record_drift(
        self,
        tenant: &str,
        drifted: bool,
        digest: &str,
        at: i64,
    ) -> Result<(), StateError> {
        on!(self.0, |p| {
            sqlx::query(
            "insert into falconer_drift (tenant, drifted, digest, checked_at) values ($1, $2, $3, $4)
             on conflict (tenant) do update set drifted = excluded.drifted, digest = excluded.digest,
             checked_at = excluded.checked_at"
        )
        .bind(tenant)
        .bind(i64::from(drifted))
        .bind(digest)
        .bind(at)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db)
        })
    }
}
