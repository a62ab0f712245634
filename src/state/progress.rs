//! The progress of running backups and restores, domain by domain (`backup status`, `restore status`).

use super::*;

/// The progress of running backups and restores, domain by domain (`backup status`, `restore status`).
#[derive(Clone, Copy)]
pub struct Progress<'a>(pub(super) &'a State);

impl Progress<'_> {
    /// Records a backup or restore as started, each of its domains pending. The caller holds the tenant's
    /// lock, so rows left by an earlier one of the tenant (killed) are removed.
    pub async fn work_started(
        self,
        work: Work,
        id: &str,
        tenant: &str,
        domains: &[String],
        holder: &str,
    ) -> Result<(), StateError> {
        let t = now();
        let table = work.table();
        on!(self.0, |p| {
            sqlx::query(&format!("delete from {table} where tenant = $1"))
                .bind(tenant)
                .execute(p)
                .await
                .map_err(db)?;
            let mut q = sqlx::QueryBuilder::new(format!(
                "insert into {table} (id, tenant, domain, status, started_at, at, holder) "
            ));
            q.push_values(domains, |mut row, d| {
                row.push_bind(id)
                    .push_bind(tenant)
                    .push_bind(d)
                    .push_bind("pending")
                    .push_bind(t)
                    .push_bind(t)
                    .push_bind(holder);
            });
            q.build().execute(p).await.map(|_| ()).map_err(db)
        })
    }
    /// Records a domain of a running backup or restore as done, with its status.
    pub async fn work_progress(
        self,
        work: Work,
        id: &str,
        domain: &str,
        status: &str,
    ) -> Result<(), StateError> {
        let sql = format!(
            "update {} set status = $1, at = $2 where id = $3 and domain = $4",
            work.table()
        );
        on!(self.0, |p| sqlx::query(&sql)
            .bind(status)
            .bind(now())
            .bind(id)
            .bind(domain)
            .execute(p)
            .await
            .map(|_| ())
            .map_err(db))
    }
    /// Forgets a backup or restore that ended (its outcome is in the repository, or the history).
    pub async fn work_ended(self, work: Work, id: &str) -> Result<(), StateError> {
        let sql = format!("delete from {} where id = $1", work.table());
        on!(self.0, |p| sqlx::query(&sql)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ())
            .map_err(db))
    }
    /// The domains of the backups or restores running (or left by a killed one), by id and domain.
    pub async fn work_running(self, work: Work) -> Result<Vec<ProgressRow>, StateError> {
        let sql = format!(
            "select id, tenant, domain, status, started_at, at, holder from {} order by id, domain",
            work.table()
        );
        let rows: Vec<(String, String, String, String, i64, i64, String)> =
            on!(self.0, |p| sqlx::query_as(&sql)
                .fetch_all(p)
                .await
                .map_err(db))?;
        Ok(rows
            .into_iter()
            .map(|r| ProgressRow {
                id: r.0,
                tenant: r.1,
                domain: r.2,
                status: r.3,
                started_at: r.4,
                at: r.5,
                holder: r.6,
            })
            .collect())
    }
}
