//! The state store: what falconer manages per tenant, the key of its secret fingerprints, locks and apply
//! journals. Never a secret value.
//!
//! Two backends with the same schema and the same (portable) SQL: SQLite, the default
//! (`sqlite:.falconer/state.db`), and PostgreSQL (`postgres://...`) for teams and CI fleets, where locks are
//! shared between runners. Timestamps are Unix seconds. The schema is versioned: [`MIGRATIONS`] run in order
//! on open, each once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

pub use crate::util::{now, rfc3339};

use crate::model::Address;
use crate::secrets::FingerprintKey;

/// Schema migrations, in order. Each runs once; `falconer_meta.version` says how many ran.
pub const MIGRATIONS: &[&str] = &[
    "create table if not exists falconer_managed (
        tenant text not null, address text not null, since bigint not null,
        primary key (tenant, address))",
    "create table if not exists falconer_keys (tenant text primary key, fingerprint_key text not null)",
    "create table if not exists falconer_locks (
        tenant text primary key, owner text not null, host text not null, pid bigint not null,
        acquired_at bigint not null, heartbeat_at bigint not null, expires_at bigint not null)",
    "create table if not exists falconer_runs (
        id text primary key, tenant text not null, plan_digest text not null, status text not null,
        started_at bigint not null, finished_at bigint)",
    "create table if not exists falconer_journal (
        run_id text not null, step bigint not null, address text not null, status text not null,
        at bigint not null, primary key (run_id, step))",
    "create table if not exists falconer_secrets (
        tenant text not null, address text not null, field text not null, fingerprint text not null,
        primary key (tenant, address, field))",
    "alter table falconer_locks add column scope text not null default ''",
    "create table if not exists falconer_schedules (
        name text primary key, cron text not null, tenants text not null, repo text not null,
        keep text not null, paused bigint not null default 0, created_at bigint not null)",
    "create table if not exists falconer_slots (
        schedule text not null, slot bigint not null, started_at bigint not null, status text not null,
        detail text not null default '', primary key (schedule, slot))",
    "create table if not exists falconer_backup_progress (
        id text not null, tenant text not null, domain text not null, status text not null,
        started_at bigint not null, at bigint not null, holder text not null, primary key (id, domain))",
    "create table if not exists falconer_restore_progress (
        id text not null, tenant text not null, domain text not null, status text not null,
        started_at bigint not null, at bigint not null, holder text not null, primary key (id, domain))",
    "create table if not exists falconer_tenants (
        tenant text primary key, status text not null, environment text not null,
        naming text not null default '', updated_at bigint not null)",
    "create table if not exists falconer_history (
        id text primary key, tenant text not null, kind text not null, who text not null, host text not null,
        started_at bigint not null, finished_at bigint not null, source text not null default '',
        digest text not null default '', map text not null default '', domains text not null default '',
        outcome text not null, reason text not null default '')",
    "create table if not exists falconer_otp_used (
        tenant text not null, step bigint not null, at bigint not null, primary key (tenant, step))",
    "create table if not exists falconer_run_changes (
        run_id text not null, address text not null, primary key (run_id, address))",
    "create table if not exists falconer_drift (
        tenant text primary key, drifted bigint not null, digest text not null, checked_at bigint not null)",
];

/// Long work whose progress other processes sharing the state store can see, each in its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Backup,
    Restore,
}

impl Work {
    fn table(self) -> &'static str {
        match self {
            Work::Backup => "falconer_backup_progress",
            Work::Restore => "falconer_restore_progress",
        }
    }
}

/// One domain of a running backup or restore, as `backup status` and `restore status` show it from any
/// process sharing the state store.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressRow {
    pub id: String,
    pub tenant: String,
    pub domain: String,
    /// `pending`, or the domain's status once read.
    pub status: String,
    pub started_at: i64,
    pub at: i64,
    pub holder: String,
}

/// A backup schedule as the state store keeps it (see `backup schedule`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    pub name: String,
    pub cron: String,
    /// Tenants, each `ID` or `ID=MANIFEST`.
    pub tenants: Vec<String>,
    pub repo: String,
    /// The retention policy, as JSON.
    pub keep: String,
    pub paused: bool,
    pub created_at: i64,
}

type ScheduleTuple = (String, String, String, String, String, i64, i64);

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("unsupported state URL {0:?}: use sqlite:PATH or postgres://...")]
    Url(String),
    #[error("state store: {0}")]
    Db(String),
    /// SQLite said the database is busy or locked by another connection (SQLITE_BUSY, SQLITE_LOCKED).
    #[error("state store: {0}")]
    Busy(String),
    #[error("tenant `{tenant}` is locked by {holder}")]
    Locked { tenant: String, holder: String },
}

/// Rows per multi-row statement (well under SQLite's and PostgreSQL's limits on bound parameters).
const ROWS_PER_STATEMENT: usize = 200;

fn db<E: std::error::Error + 'static>(e: E) -> StateError {
    let busy = (&e as &dyn std::error::Error)
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        // The primary result code is the low byte of SQLite's extended code.
        .is_some_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED));
    if busy {
        StateError::Busy(e.to_string())
    } else {
        StateError::Db(e.to_string())
    }
}

/// SQLite's primary result codes for a database another connection holds.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// A held lock.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    pub tenant: String,
    pub owner: String,
    pub host: String,
    pub pid: i64,
    pub acquired_at: i64,
    pub heartbeat_at: i64,
    pub expires_at: i64,
    /// Where the pid means something: the holder's boot and pid namespace (empty when unknown).
    pub scope: String,
}

impl Lock {
    /// `owner@host (pid N) since T`, for messages.
    pub fn holder(&self) -> String {
        format!(
            "{}@{} (pid {}), since {}",
            self.owner,
            self.host,
            self.pid,
            crate::state::rfc3339(self.acquired_at)
        )
    }
    pub fn expired(&self, at: i64) -> bool {
        self.expires_at <= at
    }
}

/// Who takes a lock.
#[derive(Debug, Clone)]
pub struct Owner {
    pub name: String,
    pub host: String,
    pub pid: i64,
    /// The boot and pid namespace the pid belongs to: containers may share a host name while their pids
    /// mean different processes. Empty when unknown.
    pub scope: String,
}

impl Owner {
    /// This process: the user and host from the environment.
    pub fn current() -> Owner {
        let name = std::env::var("FALCONER_LOCK_OWNER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "falconer".into());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        Owner {
            name,
            host,
            pid: i64::from(std::process::id()),
            scope: pid_scope(),
        }
    }
}

/// This process's boot id and pid namespace (Linux), or empty.
fn pid_scope() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_string())
        .unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if boot.is_empty() || ns.is_empty() {
        String::new()
    } else {
        format!("{boot}/{ns}")
    }
}

/// How a runner's claim of a schedule's slot went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotClaim {
    /// This runner runs the slot.
    Claimed,
    /// The slot's runner stopped without finishing it; this runner runs it again.
    TakenOver,
    /// Another runner runs it, or ran it.
    Held,
}

/// What happened when a lock was taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Acquired {
    Fresh(Lock),
    /// An expired lock of another run was taken over.
    TakenOver {
        lock: Lock,
        previous: Lock,
    },
}

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The state store.
#[derive(Clone)]
pub struct State {
    pool: Pool,
}

/// Runs the same SQL on either backend.
macro_rules! on {
    ($self:expr, |$p:ident| $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

type LockRow = (String, String, String, i64, i64, i64, i64, String);

fn lock_of(r: LockRow) -> Lock {
    Lock {
        tenant: r.0,
        owner: r.1,
        host: r.2,
        pid: r.3,
        acquired_at: r.4,
        heartbeat_at: r.5,
        expires_at: r.6,
        scope: r.7,
    }
}

const LOCK_COLUMNS: &str = "tenant, owner, host, pid, acquired_at, heartbeat_at, expires_at, scope";

impl State {
    /// Opens (creating if needed) the store at `url` and runs pending migrations.
    ///
    /// SQLite answers "database is locked" at once, without waiting for the busy timeout, in a few cases
    /// while several processes open a new store together (switching it to WAL, recovering a WAL):
    /// opening is then tried again, for up to ten seconds.
    pub async fn open(url: &str) -> Result<State, StateError> {
        let mut tries = 0;
        loop {
            match Self::open_once(url).await {
                Err(StateError::Busy(_)) if tries < 200 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    async fn open_once(url: &str) -> Result<State, StateError> {
        let pool = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if let Some(dir) = std::path::Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(db)?;
            }
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            Pool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(opts)
                    .await
                    .map_err(db)?,
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(
                crate::util::pg_pool(url, None, 4)
                    .await
                    .map_err(StateError::Db)?,
            )
        } else {
            return Err(StateError::Url(url.to_string()));
        };
        let state = State { pool };
        state.migrate().await?;
        Ok(state)
    }

    async fn migrate(&self) -> Result<(), StateError> {
        const META: &str = "create table if not exists falconer_meta (id integer primary key, version bigint not null)";
        const META_ROW: &str =
            "insert into falconer_meta (id, version) values (1, 0) on conflict (id) do nothing";
        // PostgreSQL's `create table if not exists` is not safe against itself: runs opening the store
        // at once take an advisory lock first (released with the transaction).
        let postgres = matches!(self.pool, Pool::Postgres(_));
        // On SQLite the transaction takes the write lock at its start (waiting up to the busy timeout):
        // a deferred one that read first could not upgrade once another run had committed.
        let begin = if postgres { "BEGIN" } else { "BEGIN IMMEDIATE" };
        on!(self, |p| {
            let mut tx = p.begin_with(begin).await.map_err(db)?;
            if postgres {
                sqlx::query("select pg_advisory_xact_lock(7146955125630836565)")
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            sqlx::query(META).execute(&mut *tx).await.map_err(db)?;
            sqlx::query(META_ROW).execute(&mut *tx).await.map_err(db)?;
            // The transaction first writes the version row (SQLite takes its write lock there): runs that
            // open the store at once migrate one after another, and each migration runs once.
            sqlx::query("update falconer_meta set version = version where id = 1")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            let version: i64 = sqlx::query_scalar("select version from falconer_meta where id = 1")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            for (i, m) in MIGRATIONS
                .iter()
                .enumerate()
                .skip(usize::try_from(version).unwrap_or(0))
            {
                sqlx::query(m).execute(&mut *tx).await.map_err(db)?;
                sqlx::query("update falconer_meta set version = $1 where id = 1")
                    .bind(i64::try_from(i + 1).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }

    /// The schema version (number of migrations run).
    pub async fn version(&self) -> Result<i64, StateError> {
        on!(self, |p| sqlx::query_scalar(
            "select version from falconer_meta where id = 1"
        )
        .fetch_one(p)
        .await
        .map_err(db))
    }

    // ---------------------------------------------------------------------------------- managed set

    /// The resources falconer manages for a tenant.
    pub async fn managed(&self, tenant: &str) -> Result<HashSet<Address>, StateError> {
        let rows: Vec<String> = on!(self, |p| sqlx::query_scalar(
            "select address from falconer_managed where tenant = $1"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows.iter().filter_map(|a| Address::parse(a).ok()).collect())
    }

    /// Records resources as managed (created or adopted) and forgets deleted ones.
    pub async fn update_managed(
        &self,
        tenant: &str,
        added: &[Address],
        removed: &[Address],
    ) -> Result<(), StateError> {
        let t = now();
        let added: Vec<String> = added.iter().map(Address::to_string).collect();
        let removed: Vec<String> = removed.iter().map(Address::to_string).collect();
        on!(self, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            // A few statements of many rows each, not one round trip per resource.
            for chunk in added.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new(
                    "insert into falconer_managed (tenant, address, since) ",
                );
                q.push_values(chunk, |mut row, a| {
                    row.push_bind(tenant).push_bind(a).push_bind(t);
                });
                q.push(" on conflict (tenant, address) do nothing");
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
            for chunk in removed.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("delete from falconer_managed where tenant = ");
                q.push_bind(tenant).push(" and address in (");
                let mut list = q.separated(", ");
                for a in chunk {
                    list.push_bind(a);
                }
                q.push(")");
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }

    // ------------------------------------------------------------------------- applied secrets

    /// Fingerprints of the secrets falconer last set, by address and field: what a server cannot give back
    /// (a role's password), so that a changed secret is still planned.
    pub async fn secret_fingerprints(
        &self,
        tenant: &str,
    ) -> Result<HashMap<(String, String), String>, StateError> {
        let rows: Vec<(String, String, String)> = on!(self, |p| sqlx::query_as(
            "select address, field, fingerprint from falconer_secrets where tenant = $1"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows.into_iter().map(|(a, f, fp)| ((a, f), fp)).collect())
    }

    /// Records the fingerprints of secrets just set: (address, field, fingerprint).
    pub async fn record_secrets(
        &self,
        tenant: &str,
        set: &[(String, String, String)],
    ) -> Result<(), StateError> {
        on!(self, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            for chunk in set.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new(
                    "insert into falconer_secrets (tenant, address, field, fingerprint) ",
                );
                q.push_values(chunk, |mut row, (address, field, fp)| {
                    row.push_bind(tenant)
                        .push_bind(address)
                        .push_bind(field)
                        .push_bind(fp);
                });
                q.push(
                    " on conflict (tenant, address, field) do update set fingerprint = excluded.fingerprint",
                );
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }

    /// Forgets recorded secrets: one field of a resource, or (`None`) all of a resource's.
    pub async fn forget_secrets(
        &self,
        tenant: &str,
        gone: &[(String, Option<String>)],
    ) -> Result<(), StateError> {
        on!(self, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            for (address, field) in gone {
                sqlx::query(
                    "delete from falconer_secrets where tenant = $1 and address = $2 and ($3 is null or field = $3)",
                )
                .bind(tenant)
                .bind(address)
                .bind(field)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }

    // ------------------------------------------------------------------------------ fingerprint key

    /// The tenant's fingerprint key, created (random) on first use.
    pub async fn fingerprint_key(&self, tenant: &str) -> Result<FingerprintKey, StateError> {
        let hex = crate::util::hex(&crate::util::random::<32>().map_err(db)?);
        let key: String = on!(self, |p| {
            sqlx::query("insert into falconer_keys (tenant, fingerprint_key) values ($1, $2) on conflict (tenant) do nothing")
                .bind(tenant)
                .bind(&hex)
                .execute(p)
                .await
                .map_err(db)?;
            sqlx::query_scalar("select fingerprint_key from falconer_keys where tenant = $1")
                .bind(tenant)
                .fetch_one(p)
                .await
                .map_err(db)
        })?;
        Ok(FingerprintKey::new(key.into_bytes()))
    }

    // ---------------------------------------------------------------------------------------- locks

    /// Takes the tenant's lock for `ttl`, or fails with who holds it. An expired lock is taken over.
    pub async fn lock(
        &self,
        tenant: &str,
        owner: &Owner,
        ttl: Duration,
    ) -> Result<Acquired, StateError> {
        let t = now();
        let expires = t + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let previous = self.lock_of(tenant).await?;
        // One statement: insert, or replace a lock that has expired; nothing when a live lock is held.
        let taken: Option<LockRow> = on!(self, |p| {
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
    pub async fn heartbeat(&self, lock: &Lock, ttl: Duration) -> Result<bool, StateError> {
        let t = now();
        let expires = t + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let n = on!(self, |p| {
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
    pub async fn unlock(&self, lock: &Lock) -> Result<(), StateError> {
        lock_log("release", &lock.tenant, lock.pid);
        on!(self, |p| {
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
    pub async fn lock_of(&self, tenant: &str) -> Result<Option<Lock>, StateError> {
        let row: Option<LockRow> = on!(self, |p| sqlx::query_as(&format!(
            "select {LOCK_COLUMNS} from falconer_locks where tenant = $1"
        ))
        .bind(tenant)
        .fetch_optional(p)
        .await
        .map_err(db))?;
        Ok(row.map(lock_of))
    }

    /// Every lock.
    pub async fn locks(&self) -> Result<Vec<Lock>, StateError> {
        let rows: Vec<LockRow> = on!(self, |p| sqlx::query_as(&format!(
            "select {LOCK_COLUMNS} from falconer_locks order by tenant"
        ))
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows.into_iter().map(lock_of).collect())
    }

    // ------------------------------------------------------------------------ backups running

    /// Records a backup or restore as started, each of its domains pending. The caller holds the tenant's
    /// lock, so rows left by an earlier one of the tenant (killed) are removed.
    pub async fn work_started(
        &self,
        work: Work,
        id: &str,
        tenant: &str,
        domains: &[String],
        holder: &str,
    ) -> Result<(), StateError> {
        let t = now();
        let table = work.table();
        on!(self, |p| {
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
        &self,
        work: Work,
        id: &str,
        domain: &str,
        status: &str,
    ) -> Result<(), StateError> {
        let sql = format!(
            "update {} set status = $1, at = $2 where id = $3 and domain = $4",
            work.table()
        );
        on!(self, |p| sqlx::query(&sql)
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
    pub async fn work_ended(&self, work: Work, id: &str) -> Result<(), StateError> {
        let sql = format!("delete from {} where id = $1", work.table());
        on!(self, |p| sqlx::query(&sql)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ())
            .map_err(db))
    }

    /// The domains of the backups or restores running (or left by a killed one), by id and domain.
    pub async fn work_running(&self, work: Work) -> Result<Vec<ProgressRow>, StateError> {
        let sql = format!(
            "select id, tenant, domain, status, started_at, at, holder from {} order by id, domain",
            work.table()
        );
        let rows: Vec<(String, String, String, String, i64, i64, String)> =
            on!(self, |p| sqlx::query_as(&sql)
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

    // ------------------------------------------------------------------------------ schedules

    /// Adds a schedule; false when one of that name exists.
    pub async fn add_schedule(&self, s: &ScheduleRow) -> Result<bool, StateError> {
        let tenants = serde_json::to_string(&s.tenants).unwrap_or_default();
        let n = on!(self, |p| {
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

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, StateError> {
        let rows: Vec<ScheduleTuple> = on!(self, |p| {
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
    pub async fn remove_schedule(&self, name: &str) -> Result<bool, StateError> {
        let n = on!(self, |p| {
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
    pub async fn pause_schedule(&self, name: &str, paused: bool) -> Result<bool, StateError> {
        let n = on!(self, |p| sqlx::query(
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
        &self,
        schedule: &str,
        slot: i64,
        now: i64,
        lease: i64,
    ) -> Result<SlotClaim, StateError> {
        let n = on!(self, |p| {
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
            return Ok(SlotClaim::Claimed);
        }
        let n = on!(self, |p| {
            sqlx::query(
                "update falconer_slots set started_at = $1, detail = 'taken over from a runner that stopped'
                 where schedule = $2 and slot = $3 and status = 'running' and started_at < $4",
            )
            .bind(now)
            .bind(schedule)
            .bind(slot)
            .bind(now - lease)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(db)
        })?;
        Ok(if n == 1 {
            SlotClaim::TakenOver
        } else {
            SlotClaim::Held
        })
    }

    /// Renews this runner's claim of a running slot (its lease runs from `at`).
    pub async fn renew_slot(&self, schedule: &str, slot: i64, at: i64) -> Result<(), StateError> {
        on!(self, |p| {
            sqlx::query(
            "update falconer_slots set started_at = $1 where schedule = $2 and slot = $3 and status = 'running'"
        )
        .bind(at)
        .bind(schedule)
        .bind(slot)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db)
        })
    }

    /// Records how a slot's run ended.
    pub async fn finish_slot(
        &self,
        schedule: &str,
        slot: i64,
        status: &str,
        detail: &str,
    ) -> Result<(), StateError> {
        on!(self, |p| sqlx::query(
            "update falconer_slots set status = $1, detail = $2 where schedule = $3 and slot = $4"
        )
        .bind(status)
        .bind(detail)
        .bind(schedule)
        .bind(slot)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db))
    }

    /// The newest slot claimed of a schedule, and its status.
    pub async fn last_slot(&self, schedule: &str) -> Result<Option<(i64, String)>, StateError> {
        on!(self, |p| sqlx::query_as(
            "select slot, status from falconer_slots where schedule = $1 order by slot desc limit 1"
        )
        .bind(schedule)
        .fetch_optional(p)
        .await
        .map_err(db))
    }

    // ---------------------------------------------------------------------------------- drift history

    /// A tenant's last drift result: whether it drifted, and the digest of that drift.
    pub async fn last_drift(&self, tenant: &str) -> Result<Option<(bool, String)>, StateError> {
        let row: Option<(i64, String)> = on!(self, |p| sqlx::query_as(
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
        &self,
        tenant: &str,
        drifted: bool,
        digest: &str,
        at: i64,
    ) -> Result<(), StateError> {
        on!(self, |p| {
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

    /// Breaks a tenant's lock, whoever holds it; returns the lock that was broken.
    pub async fn break_lock(&self, tenant: &str) -> Result<Option<Lock>, StateError> {
        let lock = self.lock_of(tenant).await?;
        on!(self, |p| sqlx::query(
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

impl State {
    // -------------------------------------------------------------------------------------- journal

    /// Starts a journaled run; returns its id.
    pub async fn start_run(&self, tenant: &str, plan_digest: &str) -> Result<String, StateError> {
        let id = crate::util::hex(&crate::util::random::<8>().map_err(db)?);
        on!(self, |p| {
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
        &self,
        run: &str,
        step: i64,
        address: &str,
        status: &str,
    ) -> Result<(), StateError> {
        on!(self, |p| {
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
    pub async fn finish_run(&self, run: &str, status: &str) -> Result<(), StateError> {
        on!(self, |p| sqlx::query(
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
    pub async fn unfinished_runs(&self, tenant: &str) -> Result<Vec<(String, i64)>, StateError> {
        on!(self, |p| {
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
        &self,
        run: &str,
        addresses: &[String],
    ) -> Result<(), StateError> {
        if addresses.is_empty() {
            return Ok(());
        }
        on!(self, |p| {
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
    pub async fn unfinished_changes(&self, tenant: &str) -> Result<HashSet<String>, StateError> {
        let rows: Vec<(String,)> = on!(self, |p| {
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
    pub async fn running_steps(&self, tenant: &str) -> Result<Vec<(String, String)>, StateError> {
        on!(self, |p| {
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

    /// Marks unfinished runs as resumed by a later run.
    pub async fn resume_runs(&self, tenant: &str, by: &str) -> Result<(), StateError> {
        on!(self, |p| {
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

mod registry;
pub use registry::{HistoryRow, TenantRow};

/// `FALCONER_LOCK_LOG`: a file every lock taken and released is appended to, one line each (`acquire TENANT
/// PID` once the lock is held, `release TENANT PID` before it is let go), for checking many processes'
/// locking from outside (scripts/locks-under-load). A line is one append, whole.
fn lock_log(event: &str, tenant: &str, pid: i64) {
    let Some(path) = std::env::var_os("FALCONER_LOCK_LOG") else {
        return;
    };
    use std::io::Write;
    let line = format!("{event} {tenant} {pid} {}\n", std::process::id());
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(
            "cannot append to the lock log {}: {e}",
            std::path::Path::new(&path).display()
        );
    }
}
