//! Each tenant's last backup: what the agent's metrics and pages say of backups without reading the
//! repository.

use super::*;

/// Each tenant's last backup, its last successful one (anything stored) and its last complete one.
#[derive(Clone, Copy)]
pub struct Backups<'a>(pub(super) &'a State);

/// A tenant's last backups, as the state store keeps them.
#[derive(Debug, Clone, PartialEq)]
pub struct LastBackup {
    pub tenant: String,
    /// The last backup's id and status (`ok`, `incomplete`, `partial`, `failed`).
    pub id: String,
    pub status: String,
    pub at: i64,
    /// When the last backup that stored anything (not failed), and the last complete (`ok`) one, ended.
    pub success_at: Option<i64>,
    pub complete_at: Option<i64>,
}

impl Backups<'_> {
    /// Records a backup that ended at `at`: `stored` when it kept anything, `complete` when it kept all.
    pub async fn record(
        self,
        tenant: &str,
        (id, status): (&str, &str),
        at: i64,
        (stored, complete): (bool, bool),
    ) -> Result<(), StateError> {
        on!(self.0, |p| sqlx::query(
            "insert into falconer_backup_last (tenant, id, status, at, success_at, complete_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (tenant) do update set id = excluded.id, status = excluded.status,
             at = excluded.at,
             success_at = coalesce(excluded.success_at, falconer_backup_last.success_at),
             complete_at = coalesce(excluded.complete_at, falconer_backup_last.complete_at)"
        )
        .bind(tenant)
        .bind(id)
        .bind(status)
        .bind(at)
        .bind(stored.then_some(at))
        .bind(complete.then_some(at))
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))
    }

    /// Every tenant's last backups, by tenant.
    pub async fn all(self) -> Result<Vec<LastBackup>, StateError> {
        type Row = (String, String, String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = on!(self.0, |p| sqlx::query_as(
            "select tenant, id, status, at, success_at, complete_at from falconer_backup_last
             order by tenant"
        )
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows
            .into_iter()
            .map(
                |(tenant, id, status, at, success_at, complete_at)| LastBackup {
                    tenant,
                    id,
                    status,
                    at,
                    success_at,
                    complete_at,
                },
            )
            .collect())
    }
}
