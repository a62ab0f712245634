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
    // Each tenant's last drift check whatever came of it (the fleet report's result, as JSON), and the
    // changes of its status: what the agent's metrics, API and pages show. New tables only: an agent of
    // the version before keeps working beside one of this version (a rolling update).
    "create table if not exists falconer_drift_result (
        tenant text primary key, status text not null, checked_at bigint not null, result text not null)",
    "create table if not exists falconer_drift_history (
        tenant text not null, checked_at bigint not null, status text not null, digest text not null,
        primary key (tenant, checked_at))",
    "create table if not exists falconer_backup_last (
        tenant text primary key, id text not null, status text not null, at bigint not null,
        success_at bigint, complete_at bigint)",
    "create table if not exists falconer_outbox (
        id text primary key, kind text not null, tenant text not null, at bigint not null,
        data text not null)",
    "create table if not exists falconer_deliveries (
        event_id text not null, target text not null, holder text not null default '',
        lease_until bigint not null default 0, attempts bigint not null default 0,
        next_at bigint not null default 0, delivered_at bigint, abandoned bigint not null default 0,
        last_error text not null default '', primary key (event_id, target))",
    // The agents' shared work: each item of a job (a tenant's drift check) claimed once per slot (a
    // cycle), under a lease its holder renews; a claim taken over bumps its generation, and a result is
    // written only with the generation it was claimed under (fencing). And the agents themselves.
    "create table if not exists falconer_claims (
        job text not null, item text not null, slot bigint not null, holder text not null,
        generation bigint not null, tries bigint not null, claimed_at bigint not null,
        lease_until bigint not null, done_at bigint, primary key (job, item))",
    "create table if not exists falconer_agents (
        id text primary key, host text not null, version text not null, started_at bigint not null,
        seen_at bigint not null)",
    // A schedule's slot taken over bumps its generation: its first runner's renewals and its end are
    // refused from then on (fencing, as the claims').
    "alter table falconer_slots add column generation bigint not null default 1",
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
    /// A claim's generation is no longer the one its holder had: another runner took it over (or it was
    /// done), so the holder's result is not written.
    #[error(
        "the claim of {0} was taken over (or done) by another runner: its result is not written"
    )]
    Fenced(String),
    /// The PostgreSQL state store cannot be reached.
    #[error("state store: {0}")]
    Connect(Box<crate::setup::SetupError>),
}

impl From<crate::setup::SetupError> for StateError {
    fn from(e: crate::setup::SetupError) -> Self {
        StateError::Connect(Box::new(e))
    }
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
    /// This runner runs the slot, under this generation of its claim.
    Claimed(i64),
    /// The slot's runner stopped without finishing it; this runner runs it again, under the next
    /// generation.
    TakenOver(i64),
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
            announce_new(path);
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
            Pool::Postgres(crate::util::pg_pool(url, None, &crate::tls::Tls::default(), 4).await?)
        } else {
            return Err(StateError::Url(crate::util::shown_url(url)));
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

    /// What falconer manages for each tenant, and the fingerprints of the secrets it set (and of each tenant's key).
    pub fn managed(&self) -> Managed<'_> {
        Managed(self)
    }

    /// The tenants' locks: taken, renewed, released, listed, broken.
    pub fn locks(&self) -> Locks<'_> {
        Locks(self)
    }

    /// The progress of running backups and restores, domain by domain (`backup status`, `restore status`).
    pub fn progress(&self) -> Progress<'_> {
        Progress(self)
    }

    /// Backup schedules and their slots, each slot claimed by one runner.
    pub fn schedules(&self) -> Schedules<'_> {
        Schedules(self)
    }

    /// Each tenant's last drift check (a fleet's `drift` classifies against it).
    pub fn drift(&self) -> Drift<'_> {
        Drift(self)
    }

    /// Each tenant's last backup (and last successful and complete ones), as the agent shows them.
    pub fn backups(&self) -> Backups<'_> {
        Backups(self)
    }

    /// The agents' claims of shared work (each under a lease, fenced by its generation), and the agents.
    pub fn claims(&self) -> Claims<'_> {
        Claims(self)
    }

    /// The events falconer processes write for the agents' webhooks, and their deliveries.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox(self)
    }

    /// The journal of runs: started, each step, finished; what unfinished runs set out to change.
    pub fn runs(&self) -> Runs<'_> {
        Runs(self)
    }

    /// The tenant registry and the history of applies and restores.
    pub fn registry(&self) -> Registry<'_> {
        Registry(self)
    }

    /// The one-time codes already used (each once).
    pub fn codes(&self) -> Codes<'_> {
        Codes(self)
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
}

mod backups;
mod claims;
mod codes;
mod drift;
mod locks;
mod managed;
mod outbox;
mod progress;
mod registry;
mod runs;
mod schedules;
pub use backups::{Backups, LastBackup};
pub use claims::{AgentRow, ClaimRow, Claims, Fence};
pub use codes::Codes;
pub use drift::{Drift, DriftChange, DriftRecord, DriftResult};
pub use locks::Locks;
pub use managed::Managed;
pub use outbox::{Delivery, Outbox, OutboxEvent};
pub use progress::Progress;
pub use registry::{HistoryRow, Registry, TenantRow};
pub use runs::Runs;
pub use schedules::Schedules;

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

/// Says where a new SQLite state store is made when its path is relative: a run from another directory
/// would silently start a state of its own.
fn announce_new(path: &str) {
    let p = std::path::Path::new(path);
    if p.is_absolute() || p.exists() || path == ":memory:" {
        return;
    }
    let here = std::env::current_dir().unwrap_or_default();
    tracing::warn!(
        "a new state store is made at {} (relative to this directory: a run from elsewhere starts another; set FALCONER_STATE or --state to keep one)",
        here.join(p).display()
    );
}
