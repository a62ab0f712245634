//! The one-time codes already used (each once).

use super::*;

/// The one-time codes already used (each once).
#[derive(Clone, Copy)]
pub struct Codes<'a>(pub(super) &'a State);

impl Codes<'_> {
    /// Records a one-time code's time step as used for a tenant; false when it was used before (a replay).
    pub async fn use_code(self, tenant: &str, step: i64) -> Result<bool, StateError> {
        let n = on!(self.0, |p| sqlx::query(
            "insert into falconer_otp_used (tenant, step, at) values ($1, $2, $3)
             on conflict (tenant, step) do nothing"
        )
        .bind(tenant)
        .bind(step)
        .bind(now())
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db))?;
        Ok(n == 1)
    }
}
