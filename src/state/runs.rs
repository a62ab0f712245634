//! The journal of runs: started, each step, finished; what unfinished runs set out to change.

use super::*;

/// The journal of runs: started, each step, finished; what unfinished runs set out to change.
#[derive(Clone, Copy)]
pub struct Runs<'a>(pub(super) &'a State);

impl Runs<'_> {
    /// Starts a journaled run; returns its id.
    pub async fn start_run(self, tenant: &str, plan_digest: &str) -> Result<String, StateError> {
        let id = crate::util::hex(&crate::util::random::<8>().map_err(db)?);
        on!(self.0, |p| {
            sqlx::query(
            "insert into falconer_runs (id, tenant, plan_digest, status, started_at) values ($1, $2, $3, 'running', $4)"
        )
        .bind(&id)
        .bind(tenant)
        .bind(plan_digest)
        .bind(now())
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db)
        })?;
        Ok(id)
    }
    /// Records a step of a run.
    pub async fn journal(
        self,
        run: &str,
        step: i64,
        address: &str,
        status: &str,
    ) -> Result<(), StateError> {
        on!(self.0, |p| {
            sqlx::query(
            "insert into falconer_journal (run_id, step, address, status, at) values ($1, $2, $3, $4, $5)
             on conflict (run_id, step) do update set status = excluded.status, at = excluded.at"
        )
        .bind(run)
        .bind(step)
        .bind(address)
        .bind(status)
        .bind(now())
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db)
        })
    }
    /// Ends a run with its final status (`applied`, `failed`).
    pub async fn finish_run(self, run: &str, status: &str) -> Result<(), StateError> {
        on!(self.0, |p| sqlx::query(
            "update falconer_runs set status = $1, finished_at = $2 where id = $3"
        )
        .bind(status)
        .bind(now())
        .bind(run)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))
    }
    /// Runs of a tenant that started and never finished (the process died): (id, started_at).
    pub async fn unfinished_runs(self, tenant: &str) -> Result<Vec<(String, i64)>, StateError> {
        on!(self.0, |p| {
            sqlx::query_as(
            "select id, started_at from falconer_runs where tenant = $1 and status = 'running' order by started_at"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db)
        })
    }
    /// Records the addresses a run is about to change (so that a later run can tell what an unfinished one
    /// left half-done from what someone changed).
    pub async fn record_run_changes(
        self,
        run: &str,
        addresses: &[String],
    ) -> Result<(), StateError> {
        if addresses.is_empty() {
            return Ok(());
        }
        on!(self.0, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            // A few statements of many rows each, within the servers' limits on bound values.
            for chunk in addresses.chunks(ROWS_PER_STATEMENT) {
                let mut q =
                    sqlx::QueryBuilder::new("insert into falconer_run_changes (run_id, address) ");
                q.push_values(chunk, |mut row, a| {
                    row.push_bind(run).push_bind(a);
                });
                q.push(" on conflict (run_id, address) do nothing");
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }
    /// The addresses runs of a tenant set out to change and did not see through (killed, failed or
    /// interrupted) since its last run that applied everything.
    pub async fn unfinished_changes(self, tenant: &str) -> Result<HashSet<String>, StateError> {
        let rows: Vec<(String,)> = on!(self.0, |p| {
            sqlx::query_as(
            "select distinct c.address from falconer_run_changes c join falconer_runs r on r.id = c.run_id
             where r.tenant = $1 and r.status <> 'applied' and r.started_at >= coalesce(
                 (select max(started_at) from falconer_runs where tenant = $1 and status = 'applied'), 0)"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db)
        })?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
    /// The steps journaled by a tenant's runs that have not finished, in order: (domain, status).
    pub async fn running_steps(self, tenant: &str) -> Result<Vec<(String, String)>, StateError> {
        on!(self.0, |p| {
            sqlx::query_as(
            "select j.address, j.status from falconer_journal j join falconer_runs r on r.id = j.run_id
             where r.tenant = $1 and r.status = 'running' order by r.started_at, j.step"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db)
        })
    }
    /// Marks unfinished runs as resumed by a later run (`by`, itself left running), or as seen through by
    /// a run that found nothing left to change (`None`).
    pub async fn resume_runs(self, tenant: &str, by: Option<&str>) -> Result<(), StateError> {
        let by = by.unwrap_or("");
        on!(self.0, |p| {
            sqlx::query(
            "update falconer_runs set status = 'interrupted', finished_at = $1 where tenant = $2 and status = 'running' and id <> $3"
        )
        .bind(now())
        .bind(tenant)
        .bind(by)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db)
        })
    }
}
