//! The agents' shared work: each item of a job (a tenant's drift check) claimed once per slot (a cycle of
//! the job), under a lease its holder renews while it works. A claim whose lease ran out, its work not
//! done, is taken over by the next runner, which bumps its generation; a result is written only in a
//! transaction that first marks the claim done under the generation it was claimed with ([`FENCE`]), so a
//! holder that lost its claim (paused, cut off, slow) never writes over its successor's result.
//! And the agents themselves, each seen at its heartbeat.

use super::*;

/// The agents' claims and the agents.
#[derive(Clone, Copy)]
pub struct Claims<'a>(pub(super) &'a State);

/// A claim held: what its holder's writes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub job: String,
    pub item: String,
    pub slot: i64,
    pub holder: String,
    pub generation: i64,
    /// The claim was another runner's, whose lease ran out before it was done.
    pub taken_over: bool,
}

/// A claim as the state store keeps it (the last slot's, per job and item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow {
    pub job: String,
    pub item: String,
    pub slot: i64,
    pub holder: String,
    pub generation: i64,
    /// How many runners claimed it in its slot (more than one: taken over).
    pub tries: i64,
    pub claimed_at: i64,
    pub lease_until: i64,
    pub done_at: Option<i64>,
}

impl ClaimRow {
    /// Claimed, not done, and its lease not run out at `now`.
    pub fn held(&self, now: i64) -> bool {
        self.done_at.is_none() && self.lease_until > now
    }
}

/// An agent, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub id: String,
    pub host: String,
    pub version: String,
    pub started_at: i64,
    pub seen_at: i64,
}

/// The first statement of a fenced write's transaction (binds: done at, job, item, generation): marks the
/// claim done if, and only if, it still has the generation its holder claimed it under (as
/// [`Claims::set`] sets a column). One row changed:
/// the write goes on; none: [`StateError::Fenced`]. On PostgreSQL the row stays locked until the
/// transaction ends, so a takeover waits for it and then finds the claim done.
pub(super) const FENCE: &str = "update falconer_claims set done_at = $1
     where job = $2 and item = $3 and generation = $4 and done_at is null";

type ClaimTuple = (String, String, i64, String, i64, i64, i64, i64, Option<i64>);

const CLAIM_COLUMNS: &str =
    "job, item, slot, holder, generation, tries, claimed_at, lease_until, done_at";

fn claim_of(r: ClaimTuple) -> ClaimRow {
    ClaimRow {
        job: r.0,
        item: r.1,
        slot: r.2,
        holder: r.3,
        generation: r.4,
        tries: r.5,
        claimed_at: r.6,
        lease_until: r.7,
        done_at: r.8,
    }
}

impl Claims<'_> {
    /// Claims `item` of `job` for `slot` until `now + lease`: when it has no claim, or only one of an
    /// earlier slot, or one of this slot not done whose lease ran out (a takeover). `None`: another runner
    /// holds it or did it in this slot.
    pub async fn claim(
        self,
        (job, item, slot): (&str, &str, i64),
        holder: &str,
        (now, lease): (i64, i64),
    ) -> Result<Option<Fence>, StateError> {
        let row: Option<(i64, i64)> = on!(self.0, |p| {
            sqlx::query_as(
                "insert into falconer_claims
                 (job, item, slot, holder, generation, tries, claimed_at, lease_until, done_at)
                 values ($1, $2, $3, $4, 1, 1, $5, $6, null)
                 on conflict (job, item) do update set slot = excluded.slot, holder = excluded.holder,
                 generation = falconer_claims.generation + 1,
                 tries = case when falconer_claims.slot = excluded.slot
                         then falconer_claims.tries + 1 else 1 end,
                 claimed_at = excluded.claimed_at, lease_until = excluded.lease_until, done_at = null
                 where falconer_claims.slot < excluded.slot
                 or (falconer_claims.slot = excluded.slot and falconer_claims.done_at is null
                     and falconer_claims.lease_until <= excluded.claimed_at)
                 returning generation, tries",
            )
            .bind(job)
            .bind(item)
            .bind(slot)
            .bind(holder)
            .bind(now)
            .bind(now.saturating_add(lease))
            .fetch_optional(p)
            .await
            .map_err(db)
        })?;
        Ok(row.map(|(generation, tries)| Fence {
            job: job.into(),
            item: item.into(),
            slot,
            holder: holder.into(),
            generation,
            taken_over: tries > 1,
        }))
    }

    /// Renews a held claim until `now + lease`; false when it is no longer this generation's (taken over)
    /// or was handed back.
    pub async fn renew(self, f: &Fence, (now, lease): (i64, i64)) -> Result<bool, StateError> {
        let renewed = self
            .set(f, "lease_until", now.saturating_add(lease))
            .await?;
        Ok(renewed == 1)
    }

    /// Hands a claim back undone (its lease ends now): the next runner takes it over at once.
    pub async fn hand_back(self, f: &Fence) -> Result<(), StateError> {
        self.set(f, "lease_until", 0).await.map(|_| ())
    }

    /// Sets a column of a claim still held under its generation; the rows changed (0 or 1).
    async fn set(self, f: &Fence, column: &str, value: i64) -> Result<u64, StateError> {
        let sql = format!(
            "update falconer_claims set {column} = $1
             where job = $2 and item = $3 and generation = $4 and done_at is null"
        );
        on!(self.0, |p| sqlx::query(&sql)
            .bind(value)
            .bind(&f.job)
            .bind(&f.item)
            .bind(f.generation)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(db))
    }

    /// Hands back every claim `holder` holds undone (it stops).
    pub async fn hand_back_all(self, holder: &str) -> Result<u64, StateError> {
        on!(self.0, |p| sqlx::query(
            "update falconer_claims set lease_until = 0 where holder = $1 and done_at is null"
        )
        .bind(holder)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db))
    }

    /// The claims of a job, each item's last.
    pub async fn of_job(self, job: &str) -> Result<Vec<ClaimRow>, StateError> {
        let sql =
            format!("select {CLAIM_COLUMNS} from falconer_claims where job = $1 order by item");
        let rows: Vec<ClaimTuple> = on!(self.0, |p| sqlx::query_as(&sql)
            .bind(job)
            .fetch_all(p)
            .await
            .map_err(db))?;
        Ok(rows.into_iter().map(claim_of).collect())
    }

    /// Every claim held at `now` (not done, lease running), by job and item.
    pub async fn held(self, now: i64) -> Result<Vec<ClaimRow>, StateError> {
        let sql = format!(
            "select {CLAIM_COLUMNS} from falconer_claims where done_at is null and lease_until > $1
             order by job, item"
        );
        let rows: Vec<ClaimTuple> = on!(self.0, |p| sqlx::query_as(&sql)
            .bind(now)
            .fetch_all(p)
            .await
            .map_err(db))?;
        Ok(rows.into_iter().map(claim_of).collect())
    }

    /// An agent's heartbeat: it is alive at `a.seen_at`.
    pub async fn beat(self, a: &AgentRow) -> Result<(), StateError> {
        on!(self.0, |p| {
            sqlx::query(
            "insert into falconer_agents (id, host, version, started_at, seen_at) values ($1, $2, $3, $4, $5)
             on conflict (id) do update set seen_at = excluded.seen_at"
        )
        .bind(&a.id)
        .bind(&a.host)
        .bind(&a.version)
        .bind(a.started_at)
        .bind(a.seen_at)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db)
        })
    }

    /// Forgets the agents not seen since `before` (gone without saying so).
    pub async fn forget_agents(self, before: i64) -> Result<u64, StateError> {
        on!(self.0, |p| sqlx::query(
            "delete from falconer_agents where seen_at < $1"
        )
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db))
    }

    /// The agents seen since `since`, by id.
    pub async fn agents(self, since: i64) -> Result<Vec<AgentRow>, StateError> {
        let rows: Vec<(String, String, String, i64, i64)> = on!(self.0, |p| {
            sqlx::query_as(
                "select id, host, version, started_at, seen_at from falconer_agents order by id",
            )
            .fetch_all(p)
            .await
            .map_err(db)
        })?;
        let agent = |(id, host, version, started_at, seen_at)| AgentRow {
            id,
            host,
            version,
            started_at,
            seen_at,
        };
        let all = rows.into_iter().map(agent);
        Ok(all.filter(|a| a.seen_at >= since).collect())
    }

    /// An agent that stops: gone from the list at once.
    pub async fn leave(self, id: &str) -> Result<(), StateError> {
        on!(self.0, |p| sqlx::query(
            "delete from falconer_agents where id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))
    }
}

/// The outcome of a fenced statement that changed `n` rows.
pub(super) fn fenced(f: &Fence, n: u64) -> Result<(), StateError> {
    if n == 1 {
        Ok(())
    } else {
        Err(StateError::Fenced(format!("{} `{}`", f.job, f.item)))
    }
}
