//! The outbox: the events every falconer process writes (new drift, drift resolved, a backup that is not
//! complete, a restore finished), which agents deliver to their webhooks, each at least once: a delivery
//! is claimed by one agent at a time for a lease, and tried again after a failure until it is delivered
//! or given up.

use super::*;

/// Writes an event (binds: id, kind, tenant, at, data); an id written again is ignored.
pub(super) const ADD: &str = "insert into falconer_outbox (id, kind, tenant, at, data)
     values ($1, $2, $3, $4, $5) on conflict (id) do nothing";

/// The outbox and each event's deliveries.
#[derive(Clone, Copy)]
pub struct Outbox<'a>(pub(super) &'a State);

/// An event, as written once by the process that saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Random, stable: the receivers' key for dropping a second delivery.
    pub id: String,
    /// `drift.new`, `drift.resolved`, `backup.failed`, ...
    pub kind: String,
    pub tenant: String,
    pub at: i64,
    /// The event's data, as JSON (never a secret).
    pub data: String,
}

/// One delivery of an event to a target, as its last attempt left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub event_id: String,
    pub target: String,
    pub attempts: i64,
    pub delivered_at: Option<i64>,
    pub abandoned: bool,
    pub last_error: String,
}

impl Outbox<'_> {
    /// Writes an event (once: an id written again is ignored).
    pub async fn add(self, e: &OutboxEvent) -> Result<(), StateError> {
        on!(self.0, |p| sqlx::query(ADD)
            .bind(&e.id)
            .bind(&e.kind)
            .bind(&e.tenant)
            .bind(e.at)
            .bind(&e.data)
            .execute(p)
            .await
            .map(|_| ())
            .map_err(db))
    }

    /// Claims for `holder` up to `limit` events written since `since` whose delivery to `target` is due at
    /// `now` (never tried, or failed with its next attempt due, or claimed by a holder whose lease ran
    /// out), each until `now + lease`; oldest first. Two agents never hold the same delivery at once.
    pub async fn claim(
        self,
        target: &str,
        holder: &str,
        (now, lease): (i64, i64),
        since: i64,
        limit: i64,
    ) -> Result<Vec<(OutboxEvent, i64)>, StateError> {
        type Row = (String, String, String, i64, String);
        let due: Vec<Row> = on!(self.0, |p| {
            sqlx::query_as(
            "select e.id, e.kind, e.tenant, e.at, e.data from falconer_outbox e
             where e.at >= $1 and not exists (
                 select 1 from falconer_deliveries d where d.event_id = e.id and d.target = $2
                 and (d.delivered_at is not null or d.abandoned <> 0 or d.lease_until > $3 or d.next_at > $3))
             order by e.at, e.id limit $4"
        )
        .bind(since)
        .bind(target)
        .bind(now)
        .bind(limit)
        .fetch_all(p)
        .await
        .map_err(db)
        })?;
        let mut claimed = Vec::new();
        for (id, kind, tenant, at, data) in due {
            if let Some(attempts) = self.take(&id, target, holder, now, now + lease).await? {
                let event = OutboxEvent {
                    id,
                    kind,
                    tenant,
                    at,
                    data,
                };
                claimed.push((event, attempts));
            }
        }
        Ok(claimed)
    }

    /// Takes one delivery for `holder` unless another holds it or it is done; its attempts so far.
    async fn take(
        self,
        event: &str,
        target: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<i64>, StateError> {
        // One statement: the row is taken (its attempts returned) only when no one holds it.
        on!(self.0, |p| {
            sqlx::query_scalar(
            "insert into falconer_deliveries (event_id, target, holder, lease_until) values ($1, $2, $3, $4)
             on conflict (event_id, target) do update set holder = excluded.holder,
             lease_until = excluded.lease_until
             where falconer_deliveries.delivered_at is null and falconer_deliveries.abandoned = 0
             and falconer_deliveries.lease_until <= $5 and falconer_deliveries.next_at <= $5
             returning attempts"
        )
        .bind(event)
        .bind(target)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(p)
        .await
        .map_err(db)
        })
    }

    /// Ends a delivery `holder` holds: delivered at `at`, or failed (tried again at `retry`, or given up
    /// when `None`). A holder whose lease was taken over changes nothing.
    pub async fn settle(
        self,
        (event, target, holder): (&str, &str, &str),
        at: i64,
        failed: Option<(&str, Option<i64>)>,
    ) -> Result<(), StateError> {
        let (delivered, error, next, abandoned) = match failed {
            None => (Some(at), "", 0, 0),
            Some((error, Some(next))) => (None, error, next, 0),
            Some((error, None)) => (None, error, 0, 1),
        };
        on!(self.0, |p| sqlx::query(
            "update falconer_deliveries set delivered_at = $1, last_error = $2, next_at = $3,
             abandoned = $4, lease_until = 0, attempts = attempts + 1
             where event_id = $5 and target = $6 and holder = $7"
        )
        .bind(delivered)
        .bind(error)
        .bind(next)
        .bind(abandoned)
        .bind(event)
        .bind(target)
        .bind(holder)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))
    }

    /// The deliveries of an event.
    pub async fn deliveries(self, event: &str) -> Result<Vec<Delivery>, StateError> {
        type Row = (String, String, i64, Option<i64>, i64, String);
        let rows: Vec<Row> = on!(self.0, |p| sqlx::query_as(
            "select event_id, target, attempts, delivered_at, abandoned, last_error
             from falconer_deliveries where event_id = $1 order by target"
        )
        .bind(event)
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows
            .into_iter()
            .map(
                |(event_id, target, attempts, delivered_at, abandoned, last_error)| Delivery {
                    event_id,
                    target,
                    attempts,
                    delivered_at,
                    abandoned: abandoned != 0,
                    last_error,
                },
            )
            .collect())
    }

    /// The events written since `since`, oldest first.
    pub async fn events(self, since: i64) -> Result<Vec<OutboxEvent>, StateError> {
        type Row = (String, String, String, i64, String);
        let rows: Vec<Row> = on!(self.0, |p| {
            sqlx::query_as(
            "select id, kind, tenant, at, data from falconer_outbox where at >= $1 order by at, id"
        )
        .bind(since)
        .fetch_all(p)
        .await
        .map_err(db)
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, tenant, at, data)| OutboxEvent {
                id,
                kind,
                tenant,
                at,
                data,
            })
            .collect())
    }

    /// Forgets events written before `before`, with their deliveries.
    pub async fn prune(self, before: i64) -> Result<(), StateError> {
        on!(self.0, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            sqlx::query(
                "delete from falconer_deliveries where event_id in
                 (select id from falconer_outbox where at < $1)",
            )
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            sqlx::query("delete from falconer_outbox where at < $1")
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)
        })
    }
}
