//! Backup schedules and their slots, each slot claimed by one runner.

use super::*;

/// Backup schedules and their slots, each slot claimed by one runner.
#[derive(Clone, Copy)]
pub struct Schedules<'a>(pub(super) &'a State);

impl Schedules<'_> {
    /// Adds a schedule; false when one of that name exists.
    pub async fn add_schedule(self, s: &ScheduleRow) -> Result<bool, StateError> {
        let tenants = serde_json::to_string(&s.tenants).unwrap_or_default();
        let n = on!(self.0, |p| {
            sqlx::query(
            "insert into falconer_schedules (name, cron, tenants, repo, keep, paused, created_at)
             values ($1, $2, $3, $4, $5, $6, $7) on conflict (name) do nothing"
        )
        .bind(&s.name)
        .bind(&s.cron)
        .bind(&tenants)
        .bind(&s.repo)
        .bind(&s.keep)
        .bind(i64::from(s.paused))
        .bind(s.created_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db)
        })?;
        Ok(n == 1)
    }
    /// Changes a schedule's cron, tenants, repository and retention (its slots stay); false when there is
    /// none of that name.
    pub async fn update_schedule(self, s: &ScheduleRow) -> Result<bool, StateError> {
        let tenants = serde_json::to_string(&s.tenants).unwrap_or_default();
        let n = on!(self.0, |p| {
            sqlx::query(
            "update falconer_schedules set cron = $1, tenants = $2, repo = $3, keep = $4 where name = $5"
        )
        .bind(&s.cron)
        .bind(&tenants)
        .bind(&s.repo)
        .bind(&s.keep)
        .bind(&s.name)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db)
        })?;
        Ok(n == 1)
    }
    /// Every schedule, by name.
    pub async fn all(self) -> Result<Vec<ScheduleRow>, StateError> {
        let rows: Vec<ScheduleTuple> = on!(self.0, |p| {
            sqlx::query_as(
            "select name, cron, tenants, repo, keep, paused, created_at from falconer_schedules order by name"
        )
        .fetch_all(p)
        .await
        .map_err(db)
        })?;
        Ok(rows
            .into_iter()
            .map(|r| ScheduleRow {
                name: r.0,
                cron: r.1,
                tenants: serde_json::from_str(&r.2).unwrap_or_default(),
                repo: r.3,
                keep: r.4,
                paused: r.5 != 0,
                created_at: r.6,
            })
            .collect())
    }
    /// Removes a schedule (and its slots); false when there is none of that name.
    pub async fn remove_schedule(self, name: &str) -> Result<bool, StateError> {
        let n = on!(self.0, |p| {
            sqlx::query("delete from falconer_slots where schedule = $1")
                .bind(name)
                .execute(p)
                .await
                .map_err(db)?;
            sqlx::query("delete from falconer_schedules where name = $1")
                .bind(name)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
                .map_err(db)
        })?;
        Ok(n == 1)
    }
    /// Pauses or resumes a schedule; false when there is none of that name.
    pub async fn pause_schedule(self, name: &str, paused: bool) -> Result<bool, StateError> {
        let n = on!(self.0, |p| sqlx::query(
            "update falconer_schedules set paused = $1 where name = $2"
        )
        .bind(i64::from(paused))
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db))?;
        Ok(n == 1)
    }
    /// Claims a schedule's slot for this runner at `now`: exactly one of any number of runners gets it. A slot
    /// claimed by a runner that stopped (still `running`, its claim not renewed for `lease` seconds) is
    /// taken over, again by exactly one runner.
    pub async fn claim_slot(
        self,
        schedule: &str,
        slot: i64,
        now: i64,
        lease: i64,
    ) -> Result<SlotClaim, StateError> {
        let n = on!(self.0, |p| {
            sqlx::query(
            "insert into falconer_slots (schedule, slot, started_at, status) values ($1, $2, $3, 'running')
             on conflict (schedule, slot) do nothing"
        )
        .bind(schedule)
        .bind(slot)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db)
        })?;
        if n == 1 {
            return Ok(SlotClaim::Claimed(1));
        }
        let taken: Option<(i64,)> = on!(self.0, |p| {
            sqlx::query_as(
                "update falconer_slots set started_at = $1, generation = generation + 1,
                     detail = 'taken over from a runner that stopped'
                 where schedule = $2 and slot = $3 and status = 'running' and started_at < $4
                 returning generation",
            )
            .bind(now)
            .bind(schedule)
            .bind(slot)
            .bind(now - lease)
            .fetch_optional(p)
            .await
            .map_err(db)
        })?;
        Ok(taken.map_or(SlotClaim::Held, |(g,)| SlotClaim::TakenOver(g)))
    }
    /// Renews this runner's claim of a running slot (its lease runs from `at`); false once another
    /// runner took the slot over (its generation is not this runner's any more).
    pub async fn renew_slot(self, claim: (&str, i64, i64), at: i64) -> Result<bool, StateError> {
        self.own_slot(claim, Some(at), None).await
    }
    /// Records how a slot's run ended, when the slot is still this runner's (its generation); false when
    /// another runner took it over (nothing written).
    pub async fn finish_slot(
        self,
        claim: (&str, i64, i64),
        status: &str,
        detail: &str,
    ) -> Result<bool, StateError> {
        self.own_slot(claim, None, Some((status, detail))).await
    }
    /// Sets a running slot's renewal or its end, if it is still of the generation this runner claimed.
    async fn own_slot(
        self,
        (schedule, slot, generation): (&str, i64, i64),
        at: Option<i64>,
        ended: Option<(&str, &str)>,
    ) -> Result<bool, StateError> {
        let n = on!(self.0, |p| sqlx::query(
            "update falconer_slots set started_at = coalesce($1, started_at),
                 status = coalesce($2, status), detail = coalesce($3, detail)
             where schedule = $4 and slot = $5 and generation = $6 and status = 'running'"
        )
        .bind(at)
        .bind(ended.map(|e| e.0))
        .bind(ended.map(|e| e.1))
        .bind(schedule)
        .bind(slot)
        .bind(generation)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db))?;
        Ok(n == 1)
    }
    /// The newest slot claimed of a schedule, and its status.
    pub async fn last_slot(self, schedule: &str) -> Result<Option<(i64, String)>, StateError> {
        on!(self.0, |p| sqlx::query_as(
            "select slot, status from falconer_slots where schedule = $1 order by slot desc limit 1"
        )
        .bind(schedule)
        .fetch_optional(p)
        .await
        .map_err(db))
    }
}
