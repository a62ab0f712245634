//! The tenants' locks: taken, renewed, released, listed, broken.

use super::*;

/// The tenants' locks: taken, renewed, released, listed, broken.
#[derive(Clone, Copy)]
pub struct Locks<'a>(pub(super) &'a State);

impl Locks<'_> {
    /// Takes the tenant's lock for `ttl`, or fails with who holds it. An expired lock is taken over.
    pub async fn lock(
        self,
        tenant: &str,
        owner: &Owner,
        ttl: Duration,
    ) -> Result<Acquired, StateError> {
        let t = now();
        let expires = t + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let previous = self.lock_of(tenant).await?;
        // One statement: insert, or replace a lock that has expired; nothing when a live lock is held.
        let taken: Option<LockRow> = on!(self.0, |p| {
            sqlx::query_as(&format!(
            "insert into falconer_locks ({LOCK_COLUMNS}) values ($1, $2, $3, $4, $5, $5, $6, $7)
             on conflict (tenant) do update set owner = excluded.owner, host = excluded.host, pid = excluded.pid, scope = excluded.scope,
                 acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
             where falconer_locks.expires_at <= $5
             returning {LOCK_COLUMNS}"
        ))
        .bind(tenant)
        .bind(&owner.name)
        .bind(&owner.host)
        .bind(owner.pid)
        .bind(t)
        .bind(expires)
        .bind(&owner.scope)
        .fetch_optional(p)
        .await
        .map_err(db)
        })?;
        if let Some(l) = &taken {
            lock_log("acquire", tenant, l.3);
        }
        match taken.map(lock_of) {
            Some(lock) => Ok(match previous.filter(|p| p.expired(t)) {
                Some(previous) => Acquired::TakenOver { lock, previous },
                None => Acquired::Fresh(lock),
            }),
            None => {
                let holder = self
                    .lock_of(tenant)
                    .await?
                    .map(|l| l.holder())
                    .unwrap_or_else(|| "another run".into());
                Err(StateError::Locked {
                    tenant: tenant.to_string(),
                    holder,
                })
            }
        }
    }
    /// Extends a held lock (the apply calls this while it works).
    pub async fn heartbeat(self, lock: &Lock, ttl: Duration) -> Result<bool, StateError> {
        let t = now();
        let expires = t + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let n = on!(self.0, |p| {
            sqlx::query(
            "update falconer_locks set heartbeat_at = $1, expires_at = $2 where tenant = $3 and owner = $4 and pid = $5 and acquired_at = $6"
        )
        .bind(t)
        .bind(expires)
        .bind(&lock.tenant)
        .bind(&lock.owner)
        .bind(lock.pid)
        .bind(lock.acquired_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db)
        })?;
        Ok(n == 1)
    }
    /// Releases a lock this run holds (or, breaking a dead run's lock, exactly that lock: never one another
    /// run took meanwhile).
    pub async fn unlock(self, lock: &Lock) -> Result<(), StateError> {
        lock_log("release", &lock.tenant, lock.pid);
        on!(self.0, |p| {
            sqlx::query("delete from falconer_locks where tenant = $1 and owner = $2 and pid = $3 and acquired_at = $4")
            .bind(&lock.tenant)
            .bind(&lock.owner)
            .bind(lock.pid)
            .bind(lock.acquired_at)
            .execute(p)
            .await
            .map(|_| ())
            .map_err(db)
        })
    }
    /// The lock of a tenant, if any (held or expired).
    pub async fn lock_of(self, tenant: &str) -> Result<Option<Lock>, StateError> {
        let row: Option<LockRow> = on!(self.0, |p| sqlx::query_as(&format!(
            "select {LOCK_COLUMNS} from falconer_locks where tenant = $1"
        ))
        .bind(tenant)
        .fetch_optional(p)
        .await
        .map_err(db))?;
        Ok(row.map(lock_of))
    }
    /// Every lock.
    pub async fn all(self) -> Result<Vec<Lock>, StateError> {
        let rows: Vec<LockRow> = on!(self.0, |p| sqlx::query_as(&format!(
            "select {LOCK_COLUMNS} from falconer_locks order by tenant"
        ))
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows.into_iter().map(lock_of).collect())
    }
    /// Breaks a tenant's lock, whoever holds it; returns the lock that was broken.
    pub async fn break_lock(self, tenant: &str) -> Result<Option<Lock>, StateError> {
        let lock = self.lock_of(tenant).await?;
        on!(self.0, |p| sqlx::query(
            "delete from falconer_locks where tenant = $1"
        )
        .bind(tenant)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))?;
        Ok(lock)
    }
}
