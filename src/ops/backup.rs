//! Backups: one tenant's live configuration, every domain at once, stored in a repository under the
//! tenant's lock and a shared lock of the repository; retention (prune) under the repository's lock.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::live::Settings;
use super::{Error, Events, export, lock};
use crate::backup::repo::{LockOwner, Repo, RepoError, RepoLock};
use crate::backup::retention::{self, Candidate, Policy};
use crate::backup::{
    self, BackupStatus, DomainEntry, DomainStatus, FORMAT, FORMAT_VERSION, LeftOut, Record,
};
use crate::domains::Spec;
use crate::manifest::{self, Format, Manifest, Resource};
use crate::model::{Domain, Tenant};
use crate::state::{Lock, State, Work};

/// How long a repository lock lasts (prune and delete are short; an expired lock is taken over).
pub const REPO_LOCK_TTL: i64 = 600;
/// How often a held repository lock is renewed.
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// One backup to take.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub tenant: String,
    /// The tenant's manifest: its naming (scope).
    pub manifest: Option<PathBuf>,
    /// Only these domains (empty: every live domain).
    pub domains: Vec<Domain>,
    pub tags: Vec<(String, String)>,
    /// Address patterns kept, and left out.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Seconds to wait for the tenant's lock while an apply holds it.
    pub wait: Option<u64>,
    /// The backup's time (a schedule's slot), else now.
    pub at_ms: Option<i64>,
}

/// Takes one backup of a tenant: every domain read at once, its documents stored, then its record. A
/// domain that could not be read is in the record as such (the backup is then partial or failed); an
/// error is what kept the backup from being stored at all.
pub async fn create(
    settings: &Settings,
    repo: &Repo,
    req: &CreateRequest,
    events: &dyn Events,
) -> Result<Record, Error> {
    let state = State::open(&settings.state).await?;
    create_in(settings, &state, repo, req, events).await
}

/// [`create`], with the state store already open (a schedule's runner backs up many tenants).
pub async fn create_in(
    settings: &Settings,
    state: &State,
    repo: &Repo,
    req: &CreateRequest,
    events: &dyn Events,
) -> Result<Record, Error> {
    let (tenant, declared) =
        export::tenant_in(&req.tenant, req.manifest.as_deref(), state, events).await?;
    let filter = Filter {
        include: crate::plan::globs(&req.include)?,
        exclude: crate::plan::globs(&req.exclude)?,
    };
    let domains: Vec<Domain> = match req.domains.is_empty() {
        true => super::live::LIVE_DOMAINS.to_vec(),
        false => req.domains.clone(),
    };
    // A backup reads; holding the tenant's lock keeps an apply from changing it half-way through.
    let lock = lock_waiting(state, &tenant.id, req.wait, events).await?;
    let beat = lock::keep_alive(state, &lock);
    let started_ms = req.at_ms.unwrap_or_else(crate::util::now_millis);
    let id = backup::new_id(started_ms);
    let names: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
    let started = state
        .progress()
        .work_started(Work::Backup, &id, &tenant.id, &names, &lock.holder())
        .await;
    if let Err(e) = started {
        events.warning(&format!("`backup status` will not show this backup: {e}"));
    }
    let job = Job {
        req,
        id: &id,
        tenant: &tenant,
        domains: &domains,
        filter: &filter,
        started_ms,
        state,
        settings,
        events,
        held: held(req, &declared, repo, &tenant.id).await,
    };
    let stored = store_shared(&job, repo).await;
    if let Err(e) = last_backup(state, &tenant.id, &id, stored.as_ref().ok()).await {
        events.warning(&format!(
            "could not record backup {id} as the tenant's last: {e}"
        ));
    }
    if let Err(e) = state.progress().work_ended(Work::Backup, &id).await {
        events.warning(&format!("could not record that backup {id} ended: {e}"));
    }
    beat.abort();
    lock::release(state, &lock, events).await;
    stored
}

/// Keeps the backup as the tenant's last (a backup that stored nothing is a failed one).
async fn last_backup(
    state: &State,
    tenant: &str,
    id: &str,
    record: Option<&Record>,
) -> Result<(), crate::state::StateError> {
    let status = record.map_or(BackupStatus::Failed, |r| r.status);
    let word = crate::util::word(&status);
    let stored = status != BackupStatus::Failed;
    let complete = status == BackupStatus::Ok;
    let at = crate::state::now();
    state
        .backups()
        .record(tenant, (id, &word), at, (stored, complete))
        .await?;
    let kind = match status {
        BackupStatus::Ok => return Ok(()),
        BackupStatus::Incomplete => super::webhooks::Kind::BackupIncomplete,
        BackupStatus::Partial => super::webhooks::Kind::BackupPartial,
        BackupStatus::Failed => super::webhooks::Kind::BackupFailed,
    };
    let domains: Vec<serde_json::Value> = record
        .map(|r| {
            let status = |e: &DomainEntry| serde_json::to_value(e.status).unwrap_or_default();
            r.domains
                .iter()
                .map(|e| serde_json::json!({ "domain": e.domain, "status": status(e) }))
                .collect()
        })
        .unwrap_or_default();
    let data = serde_json::json!({ "id": id, "status": word, "domains": domains });
    super::webhooks::tell(state, kind, tenant, data).await
}

/// The domains the tenant has objects in, as its manifest declares them and its newest backup holds them,
/// each with where that is known from: a backup that cannot read one of them is partial, never complete.
async fn held(
    req: &CreateRequest,
    declared: &[Domain],
    repo: &Repo,
    tenant: &str,
) -> Vec<(Domain, String)> {
    let mut out: Vec<(Domain, String)> = Vec::new();
    if let Some(path) = &req.manifest {
        let why = format!("its manifest {} declares some", path.display());
        out.extend(declared.iter().map(|d| (*d, why.clone())));
    }
    // Newest first: each domain as the newest backup that read it found it.
    let records = repo.records(Some(tenant)).await.unwrap_or_default();
    let mut seen: Vec<Domain> = out.iter().map(|(d, _)| *d).collect();
    for r in records.into_iter().flatten() {
        for e in r.domains.iter().filter(|e| e.status.stored()) {
            if seen.contains(&e.domain) {
                continue;
            }
            seen.push(e.domain);
            if e.resources > 0 {
                out.push((e.domain, format!("its backup {} holds some", r.id)));
            }
        }
    }
    out
}

/// Stores the backup holding a shared lock of the repository: the blobs a backup writes are named by no
/// record until its end, and the lock keeps a removal (which takes what no record names) from running
/// meanwhile. Refused while a removal holds the repository.
async fn store_shared(job: &Job<'_>, repo: &Repo) -> Result<Record, Error> {
    let shared = repo.lock_shared(&lock_owner(), REPO_LOCK_TTL).await?;
    let stored = renewing(repo, &shared, job.events, store(job, repo)).await;
    if let Err(e) = repo.unlock(shared).await {
        job.events.warning(&format!(
            "the backup's repository lock stays until it expires: {e}"
        ));
    }
    stored?
}

/// Takes the tenant's lock; with `wait`, tries again (every second) until the lock is free or the time is
/// up, then stops as without it (naming the holder).
async fn lock_waiting(
    state: &State,
    tenant: &str,
    wait: Option<u64>,
    events: &dyn Events,
) -> Result<Lock, Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait.unwrap_or(0));
    loop {
        let last = std::time::Instant::now() >= deadline;
        match held_or_taken(state, tenant, events, last).await {
            Ok(l) => return Ok(l),
            Err(Some(e)) => return Err(e),
            Err(None) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
}

/// One try: the lock, or `Some(error)` to stop, or `None` to try again (held by another, time left).
async fn held_or_taken(
    state: &State,
    tenant: &str,
    events: &dyn Events,
    last: bool,
) -> Result<Lock, Option<Error>> {
    if !last
        && let Ok(Some(held)) = state.locks().lock_of(tenant).await
        && !held.expired(crate::util::now())
        && !lock::holder_is_gone(&held, &crate::state::Owner::current())
    {
        return Err(None);
    }
    lock::lock_tenant(state, tenant, events)
        .await
        .map_err(|e| match e {
            Error::Locked { .. } if !last => None,
            e => Some(e),
        })
}

/// The include and exclude patterns.
struct Filter {
    include: Option<globset::GlobSet>,
    exclude: Option<globset::GlobSet>,
}

impl Filter {
    fn keeps(&self, address: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(address))
            && self.exclude.as_ref().is_none_or(|g| !g.is_match(address))
    }
}

/// One backup to take: what was asked, of which tenant and domains, narrowed how, started when.
struct Job<'a> {
    req: &'a CreateRequest,
    id: &'a str,
    tenant: &'a Tenant,
    domains: &'a [Domain],
    filter: &'a Filter,
    started_ms: i64,
    /// Where each domain's progress is recorded for `backup status`.
    state: &'a State,
    settings: &'a Settings,
    events: &'a dyn Events,
    /// The domains the tenant is known to have objects in, with where that is known from.
    held: Vec<(Domain, String)>,
}

/// Reads every domain at once, stores their documents, then the record.
async fn store(job: &Job<'_>, repo: &Repo) -> Result<Record, Error> {
    let started = job.started_ms.div_euclid(1000);
    let clock = crate::util::now();
    let reads = futures_util::future::join_all(job.domains.iter().map(|d| job.read(*d))).await;
    let mut entries = Vec::new();
    let mut left_out = 0;
    for (domain, read) in job.domains.iter().zip(reads) {
        let entry = match read {
            Read::Specs(read, at) => {
                let before = read.specs.len();
                let kept: Vec<Spec> = read
                    .specs
                    .into_iter()
                    .filter(|s| job.filter.keeps(&s.address().to_string()))
                    .collect();
                left_out += before - kept.len();
                let mut entry = stored(repo, job.tenant, *domain, kept, Some(at))
                    .await
                    .map_err(|e| Error::Other(format!("cannot store the backup: {e}")))?;
                entry.data = read.data;
                let not_carried = read.not_carried.unwrap_or_default();
                if !not_carried.is_empty() {
                    entry.status = DomainStatus::Incomplete;
                    entry.not_carried = not_carried;
                }
                entry
            }
            Read::Failed(status, message) => failed(*domain, status, message),
        };
        entries.push(entry);
    }
    let req = job.req;
    let record = Record {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        id: job.id.to_string(),
        tenant: job.tenant.id.clone(),
        status: Record::outcome(&entries),
        started_at: crate::util::rfc3339(started),
        finished_at: crate::util::rfc3339(started + (crate::util::now() - clock)),
        falconer: env!("CARGO_PKG_VERSION").to_string(),
        manifest_format: manifest::FORMAT_VERSION.to_string(),
        tags: req.tags.iter().cloned().collect::<BTreeMap<_, _>>(),
        source: crate::state::Owner::current().host,
        domains: entries,
        include: req.include.clone(),
        exclude: req.exclude.clone(),
        left_out,
        encryption: repo.encryption(),
    };
    repo.put_record(&record)
        .await
        .map_err(|e| Error::Other(format!("cannot store the backup's record: {e}")))?;
    Ok(record)
}

enum Read {
    Specs(export::Read, i64),
    Failed(DomainStatus, String),
}

impl Job<'_> {
    /// One domain's live resources (its progress said and recorded).
    async fn read(&self, domain: Domain) -> Read {
        self.events.domain_started(domain);
        let r = self.read_domain(domain).await;
        let status = match &r {
            Read::Specs(..) => "read",
            Read::Failed(DomainStatus::NotAvailable, _) => "not_available",
            Read::Failed(..) => "error",
        };
        self.events.domain_done(domain, status);
        let recorded = self
            .state
            .progress()
            .work_progress(Work::Backup, self.id, domain.as_str(), status)
            .await;
        if let Err(e) = recorded {
            tracing::warn!("cannot record the progress of backup {}: {e}", self.id);
        }
        r
    }

    /// A domain whose connection is not configured: an error when the tenant is known to have objects there
    /// (the backup is then partial), else not available.
    fn unconfigured(&self, domain: Domain) -> Read {
        let system = domain.system();
        let missing = format!("no {system} connection is configured (profile or environment)");
        match self.held.iter().find(|(d, _)| *d == domain) {
            Some((_, known)) => Read::Failed(
                DomainStatus::Error,
                format!(
                    "{missing}, and the tenant has {system} objects ({known}): configure the connection, or leave the domain out with --domain"
                ),
            ),
            None => Read::Failed(DomainStatus::NotAvailable, missing),
        }
    }

    /// One domain's live resources, as `export` reads them (secrets redacted).
    async fn read_domain(&self, domain: Domain) -> Read {
        match self.settings.configured(domain) {
            Ok(true) => {}
            Ok(false) => return self.unconfigured(domain),
            Err(e) => return Read::Failed(DomainStatus::Error, e.to_string()),
        }
        match export::read(self.settings, self.tenant, (domain, true), self.events).await {
            Ok(read) => Read::Specs(read, crate::util::now()),
            Err(e) => Read::Failed(DomainStatus::Error, e.to_string()),
        }
    }
}

/// A domain that was not read, with why.
pub fn failed(domain: Domain, status: DomainStatus, message: String) -> DomainEntry {
    DomainEntry {
        domain,
        status,
        resources: 0,
        digest: None,
        size: 0,
        read_at: None,
        message: Some(message),
        secrets: Vec::new(),
        parts: BTreeMap::new(),
        not_carried: Vec::new(),
        data: Vec::new(),
    }
}

/// Stores a domain's document: a JSON manifest of the tenant block and the domain's resources, in address
/// order (the same live state gives the same bytes, and so the same blob).
pub async fn stored(
    repo: &Repo,
    tenant: &Tenant,
    domain: Domain,
    mut specs: Vec<Spec>,
    at: Option<i64>,
) -> Result<DomainEntry, RepoError> {
    specs.sort_by_cached_key(|s| s.address().to_string());
    let secrets: Vec<LeftOut> = specs
        .iter()
        .flat_map(|s| {
            let v = s.to_json();
            backup::left_out_secrets(&s.address().to_string(), &v, "")
        })
        .collect();
    let resources = specs.len();
    // What belongs in files (each action's code) is stored apart: a changed action adds its code alone.
    let mut parts = BTreeMap::new();
    for spec in &mut specs {
        for (path, content) in spec.externalize() {
            let (digest, _) = repo.put_blob(content.as_bytes()).await?;
            parts.insert(path, digest);
        }
    }
    let mut m = Manifest::new(tenant.clone());
    m.resources = specs
        .into_iter()
        .map(|spec| Resource { spec, span: None })
        .collect();
    let text = manifest::write::write(&m, Format::Json).map_err(|e| RepoError::BadRecord {
        path: domain.to_string(),
        reason: e.to_string(),
    })?;
    let (digest, _) = repo.put_blob(text.as_bytes()).await?;
    Ok(DomainEntry {
        domain,
        status: if resources == 0 {
            DomainStatus::Empty
        } else {
            DomainStatus::Ok
        },
        resources,
        digest: Some(digest),
        size: text.len() as u64,
        read_at: at.map(crate::util::rfc3339),
        message: None,
        secrets,
        parts,
        not_carried: Vec::new(),
        data: Vec::new(),
    })
}

/// Runs `work` holding `lock`, renewed every minute. A lock that expired and was taken over, or could not
/// be renewed before it expired, stops the work where it is ([`RepoError::LockLost`]): another process may
/// hold the repository by then (a removal would take what the work writes, or remove under it).
pub async fn renewing<T>(
    repo: &Repo,
    lock: &RepoLock,
    events: &dyn Events,
    work: impl std::future::Future<Output = T>,
) -> Result<T, RepoError> {
    renewing_every(RENEW_EVERY, (repo, lock), events, work).await
}

async fn renewing_every<T>(
    every: std::time::Duration,
    (repo, lock): (&Repo, &RepoLock),
    events: &dyn Events,
    work: impl std::future::Future<Output = T>,
) -> Result<T, RepoError> {
    use super::lease::{Lease, Lost, while_renewed};
    let lease = Lease {
        every,
        length: std::time::Duration::from_secs(REPO_LOCK_TTL.unsigned_abs()),
    };
    let failed = |e: &str| {
        events.warning(&format!(
            "could not renew the repository lock (tried again in a minute): {e}"
        ));
    };
    let renew = || repo.renew(lock, REPO_LOCK_TTL);
    while_renewed(lease, renew, failed, work)
        .await
        .map_err(|lost| {
            RepoError::LockLost(match lost {
                Lost::TakenOver => "it expired and another process took it over".to_string(),
                Lost::Unrenewed(e) => format!("it could not be renewed before it expired: {e}"),
            })
        })
}

/// This process, as a repository lock names its holder.
fn lock_owner() -> LockOwner {
    let me = crate::state::Owner::current();
    LockOwner {
        text: format!("{}@{} (pid {})", me.name, me.host, me.pid),
        host: me.host,
        scope: me.scope,
        pid: me.pid,
    }
}

/// Takes the repository's lock, saying so when an expired one is taken over.
pub async fn lock_repo(repo: &Repo, events: &dyn Events) -> Result<RepoLock, RepoError> {
    let (lock, previous) = repo.lock(&lock_owner(), REPO_LOCK_TTL).await?;
    if let Some(p) = previous {
        events.warning(&format!("took over the expired repository lock of {p}"));
    }
    Ok(lock)
}

/// What a retention run kept (with the rules that keep each) and removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub kept: Vec<(Record, Vec<String>)>,
    pub removed: Vec<Record>,
    /// Blobs no backup used any more, removed with them.
    pub blobs: usize,
}

/// A retention run: the policy, the backups it applies to (one tenant's, or all, each tenant on its own),
/// and whether it only says what it would remove.
pub struct Pruning<'a> {
    pub policy: &'a Policy,
    pub tenant: Option<&'a str>,
    pub dry_run: bool,
}

/// Applies a retention policy under the repository's lock (a dry run takes none).
pub async fn prune(
    repo: &Repo,
    pruning: &Pruning<'_>,
    events: &dyn Events,
) -> Result<Pruned, RepoError> {
    if pruning.dry_run {
        return prune_under(repo, pruning, events).await;
    }
    let lock = lock_repo(repo, events).await?;
    let work = prune_under(repo, pruning, events);
    let done = renewing(repo, &lock, events, work).await;
    repo.unlock(lock).await?;
    done?
}

/// Prunes (or, dry, says what it would prune) with the repository's lock held.
async fn prune_under(
    repo: &Repo,
    pruning: &Pruning<'_>,
    events: &dyn Events,
) -> Result<Pruned, RepoError> {
    let mut by_tenant: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for r in repo.records(pruning.tenant).await? {
        match r {
            Ok(r) => by_tenant.entry(r.tenant.clone()).or_default().push(r),
            Err(e) => events.warning(&format!("kept, cannot be read: {e}")),
        }
    }
    let mut pruned = Pruned::default();
    for records in by_tenant.into_values() {
        let candidates: Vec<Candidate> = records
            .iter()
            .map(|r| Candidate {
                id: r.id.clone(),
                at: retention::parse_time(&r.started_at).unwrap_or(0),
                status: r.status,
            })
            .collect();
        let why = retention::keep(&candidates, pruning.policy);
        for r in records {
            match why.get(&r.id) {
                Some(reasons) => pruned.kept.push((r, reasons.clone())),
                None => pruned.removed.push(r),
            }
        }
    }
    if !pruning.dry_run {
        for r in &pruned.removed {
            repo.remove_record(r).await?;
        }
        pruned.blobs = repo.collect().await?;
    }
    Ok(pruned)
}

/// A retention policy's rules (restic's; see docs/backup.md), as `prune` and a schedule give them (a
/// schedule keeps them in the state store as JSON).
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Keep {
    /// Keep the N newest backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// For the N newest hours with backups, keep the newest of each.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<usize>,
    /// For the N newest days with backups, keep the newest of each.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,
    /// For the N newest ISO weeks with backups, keep the newest of each.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<usize>,
    /// For the N newest months with backups, keep the newest of each.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<usize>,
    /// For the N newest years with backups, keep the newest of each.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<usize>,
    /// Keep every backup newer than this before the newest one (`30d`, `2w`, `1y6m`, `12h`).
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
}

impl Keep {
    /// The policy these rules make; the error names a duration that is not one.
    pub fn policy(&self) -> Result<Policy, String> {
        let within = self
            .keep_within
            .as_deref()
            .map(retention::parse_duration)
            .transpose()?;
        Ok(Policy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn repo(tag: &str) -> (Repo, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("falconer-renew-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory");
        let url = format!("file:{}", dir.display());
        (Repo::open(&url, &Default::default()).expect("opens"), dir)
    }

    /// A removal's work stops once its repository lock is lost: here the work itself lets the lock expire
    /// and another process take it over (the counted event), then waits for ever; the next renewal finds
    /// the lock gone and stops it (the backup tests' prunes show a lock that stays: their work ends).
    #[tokio::test]
    async fn work_stops_when_its_repository_lock_is_lost() {
        let (repo, dir) = repo("lost");
        let events = super::super::events::Recorded::default();
        let (lock, _) = repo.lock(&lock_owner(), -1).await.expect("locks");
        let other = LockOwner {
            text: "backup@elsewhere (pid 7)".into(),
            host: "elsewhere".into(),
            scope: String::new(),
            pid: 7,
        };
        let work = async {
            let (_, previous) = repo.lock(&other, 600).await.expect("takes it over");
            assert!(previous.is_some(), "the expired lock was taken over");
            std::future::pending::<()>().await;
        };
        let every = Duration::from_millis(20);
        let done = renewing_every(every, (&repo, &lock), &events, work).await;
        assert!(
            matches!(&done, Err(RepoError::LockLost(why)) if why.contains("took it over")),
            "{done:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
