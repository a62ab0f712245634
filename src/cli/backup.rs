//! `falconer backup create|list|show|verify|delete`: per-tenant backups in a repository.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::live::{LIVE_DOMAINS, Settings};
use super::{Output, exit};
use crate::backup::repo::{Repo, RepoError};
use crate::backup::retention::{self, Candidate, Policy};
use crate::backup::{
    self, BackupStatus, DomainEntry, DomainStatus, FORMAT, FORMAT_VERSION, LeftOut, Record,
};
use crate::domains::Spec;
use crate::manifest::{self, Format, Manifest, Resource};
use crate::model::{Domain, Tenant};
use crate::state::Work;

/// Where backups are kept unless `--repo`, `FALCONER_REPO` or the profile say otherwise.
pub const DEFAULT_REPO: &str = "file:.falconer/backups";

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Read a tenant's live configuration in every configured domain and store it as one backup.
    Create(CreateArgs),
    /// List backups, newest first.
    List(ListArgs),
    /// Show one backup: every domain's status, counts, digest and message, and the secrets left out.
    Show(ShowArgs),
    /// The running backups (pending and completed domains, from any process sharing the state store), or,
    /// with none running, the latest backup's outcome.
    Status(StatusArgs),
    /// Re-read every blob of a backup (or of all) and check its digest; exit 1 when one is damaged.
    Verify(VerifyArgs),
    /// Compare a tenant's live configuration with a backup: exit 0 when equivalent, 2 when it differs.
    VerifyRestore(super::restore::VerifyArgs),
    /// Remove a backup, and the blobs no other backup uses.
    Delete(DeleteArgs),
    /// Write a backup as one self-contained file (its record and documents).
    Export(super::backup_io::ExportArgs),
    /// Put a backup file, or an artifact of the platform ("1.0" / "1.0.0"), into the repository.
    Import(super::backup_io::ImportArgs),
    /// Remove the backups a retention policy does not keep (restic's rules, per tenant; see docs/backup.md).
    Prune(PruneArgs),
    /// Upgrade backups written in an older record format to the current one.
    Migrate(super::backup_migrate::MigrateArgs),
    /// Add, list, remove, pause or resume backup schedules (kept in the state store).
    #[command(subcommand)]
    Schedule(super::schedule::Command),
    /// Run every schedule that is due (from cron, a systemd timer, a CronJob or a CI schedule).
    RunDue(super::schedule::RunDueArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct RepoArg {
    /// The repository: `file:PATH` (default `file:.falconer/backups`).
    #[arg(long, env = "FALCONER_REPO")]
    pub repo: Option<String>,
    /// A file holding the repository's encryption key (32 bytes, hex or base64); else the profile's
    /// `[backup] key`. With a key, new blobs are encrypted; an encrypted repository needs its key.
    #[arg(long, env = "FALCONER_BACKUP_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<std::path::PathBuf>,
}

impl RepoArg {
    /// The repository: `--repo`, else `FALCONER_REPO`, else the profile's `[backup] repo`, else the default.
    pub fn url(&self, settings: &Settings) -> Result<String, String> {
        match &self.repo {
            Some(r) => Ok(r.clone()),
            None => Ok(settings
                .backup_repo()?
                .unwrap_or_else(|| DEFAULT_REPO.to_string())),
        }
    }

    /// The repository, with its key when one is given (`--key-file`, else the profile's `[backup] key`).
    pub fn open(&self, settings: &Settings) -> Result<Repo, String> {
        let repo = Repo::open(&self.url(settings)?).map_err(|e| e.to_string())?;
        let key = match &self.key_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the backup key file {}: {e}", path.display())
                })?;
                Some(
                    crate::backup::crypt::Key::parse(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                )
            }
            None => settings.backup_key()?,
        };
        Ok(repo.with_key(key))
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct CreateArgs {
    /// The tenant to back up.
    #[arg(long, required_unless_present = "manifest")]
    pub tenant: Option<String>,
    /// Take the tenant's naming conventions (its scope) from this manifest's `tenant` block. Without
    /// `--tenant`, the tenant is the manifest's; a fleet (a directory of tenants, a glob, a fleet file: see
    /// docs/fleets.md) backs up each of its tenants, `--parallelism` at once.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Only these domains (default: all six; those without a connection are recorded as not available).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<Domain>,
    /// A label for the backup (`KEY=VALUE`), repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = tag)]
    pub tag: Vec<(String, String)>,
    /// Only resources whose address matches one of these globs.
    #[arg(long, value_name = "ADDR")]
    pub include: Vec<String>,
    /// Leave out resources whose address matches one of these globs.
    #[arg(long, value_name = "ADDR")]
    pub exclude: Vec<String>,
    /// No progress lines on a terminal (off a terminal there are none anyway).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
    /// While another run holds the tenant's lock, wait up to this long (`30s`, `5m`, `1h`) instead of
    /// stopping with exit 3.
    #[arg(long, value_name = "DURATION", value_parser = wait_for)]
    pub wait: Option<u64>,
    /// Fleets: tenants backed up at once, each by a falconer process of its own, its output printed whole
    /// when it ends.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallelism: usize,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// `--wait`: seconds, minutes or hours (`30s`, `5m`, `1h`).
fn wait_for(s: &str) -> Result<u64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 1h"))?;
    match unit {
        "s" | "" => Ok(n),
        "m" => Ok(n * 60),
        "h" => Ok(n * 3600),
        _ => Err(format!("{s:?} is not a duration like 30s, 5m or 1h")),
    }
}

fn tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only backups with this status (ok, partial, failed).
    #[arg(long, value_parser = ["ok", "partial", "failed"])]
    pub status: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A backup id, or `latest` (the newest backup that is not failed; with `--tenant`, of that tenant).
    pub id: String,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A backup id, or `latest`.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// Every backup in the repository.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The backup id.
    pub id: String,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// A retention policy's rules (restic's; see docs/backup.md).
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct KeepArgs {
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

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Only this tenant's backups.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// How long a repository lock lasts (prune and delete are short; an expired lock is taken over).
const REPO_LOCK_TTL: i64 = 600;

pub fn run(c: &Command, out: &Output, settings: &Settings) -> i32 {
    if let Command::Create(a) = c
        && let Some(code) = super::fleet_each::backup(a, out, settings, |one, s| {
            run(&Command::Create(one.clone()), out, s)
        })
    {
        return code;
    }
    match c {
        Command::Schedule(s) => return super::schedule::run(s, out, settings),
        Command::VerifyRestore(a) => return super::restore::verify_only(a, out, settings),
        Command::RunDue(a) => return super::schedule::run_due(a, out, settings),
        _ => {}
    }
    let repo_url = match c {
        Command::Create(a) => &a.repo,
        Command::List(a) => &a.repo,
        Command::Show(a) => &a.repo,
        Command::Status(a) => &a.repo,
        Command::Verify(a) => &a.repo,
        Command::Delete(a) => &a.repo,
        Command::Export(a) => &a.repo,
        Command::Import(a) => &a.repo,
        Command::Prune(a) => &a.repo,
        Command::Migrate(a) => &a.repo,
        Command::Schedule(_) | Command::RunDue(_) | Command::VerifyRestore(_) => {
            return exit::ERROR;
        }
    };
    let repo = match repo_url.open(settings) {
        Ok(r) => r,
        Err(e) => {
            out.error(e);
            return exit::ERROR;
        }
    };
    let rt = match super::live::runtime(out) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let done = rt.block_on(async {
        match c {
            Command::Create(a) => Ok(create(a, out, settings, &repo, None).await),
            Command::List(a) => list(a, &repo).await,
            Command::Show(a) => show(a, &repo).await,
            Command::Status(a) => status(a, &repo, settings).await,
            Command::Verify(a) => verify(a, &repo).await,
            Command::Delete(a) => delete(a, &repo).await,
            Command::Export(a) => super::backup_io::export(a, &repo, out).await,
            Command::Import(a) => super::backup_io::import(a, &repo, out).await,
            Command::Prune(a) => prune(a, &repo, out).await,
            Command::Migrate(a) => super::backup_migrate::migrate(a, &repo, out).await,
            Command::Schedule(_) | Command::RunDue(_) | Command::VerifyRestore(_) => {
                Ok(exit::ERROR)
            }
        }
    });
    done.unwrap_or_else(|e| {
        out.error(e.to_string());
        match e {
            RepoError::Locked { .. } => exit::LOCKED,
            _ => exit::ERROR,
        }
    })
}

/// The exit code of a backup's outcome.
fn code_of(status: BackupStatus) -> i32 {
    match status {
        BackupStatus::Ok => exit::OK,
        BackupStatus::Partial => exit::PARTIAL,
        BackupStatus::Failed => exit::ERROR,
    }
}

/// The tenant to back up: `--tenant`, else the one `--manifest` declares.
fn tenant_id(a: &CreateArgs, out: &Output) -> Option<String> {
    if let Some(t) = &a.tenant {
        return Some(t.clone());
    }
    let path = a.manifest.as_deref()?;
    let loaded = crate::manifest::load_path(path, crate::manifest::LoadOptions::default());
    let id = loaded.manifest.map(|m| m.tenant.id);
    if id.is_none() {
        out.error(format!(
            "{0}: no tenant to back up: the manifest cannot be read (see `falconer validate {0}`), or give --tenant",
            path.display()
        ));
    }
    id
}

/// Takes one backup; `at_ms` gives its time (a schedule's simulated clock), else now.
pub(super) async fn create(
    a: &CreateArgs,
    out: &Output,
    settings: &Settings,
    repo: &Repo,
    at_ms: Option<i64>,
) -> i32 {
    let Some(id) = tenant_id(a, out) else {
        return exit::ERROR;
    };
    let tenant = match super::export::tenant_of(&id, a.manifest.as_deref(), settings, out).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let (include, exclude) = match (
        crate::plan::globs(&a.include),
        crate::plan::globs(&a.exclude),
    ) {
        (Ok(i), Ok(e)) => (i, e),
        (Err(e), _) | (_, Err(e)) => {
            out.error(e.to_string());
            return exit::ERROR;
        }
    };
    let domains: Vec<Domain> = if a.domain.is_empty() {
        LIVE_DOMAINS.to_vec()
    } else {
        a.domain.clone()
    };
    {
        let state = match crate::state::State::open(&settings.state).await {
            Ok(s) => s,
            Err(e) => {
                out.error(e.to_string());
                return exit::ERROR;
            }
        };
        // A backup reads; holding the tenant's lock keeps an apply from changing it half-way through.
        let lock = match lock_waiting(&state, &tenant.id, a.wait, out).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        let beat = super::apply::keep_alive(&state, &lock);
        let filter = Filter { include, exclude };
        let started_ms = at_ms.unwrap_or_else(crate::util::now_millis);
        let id = backup::new_id(started_ms);
        let names: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let holder = lock.holder();
        if let Err(e) = state
            .work_started(Work::Backup, &id, &tenant.id, &names, &holder)
            .await
        {
            eprintln!("warning: `backup status` will not show this backup: {e}");
        }
        let job = Job {
            a,
            id: &id,
            tenant: &tenant,
            domains: &domains,
            filter: &filter,
            started_ms,
            state: &state,
        };
        let code = store_shared(job, settings, repo, out).await;
        if let Err(e) = state.work_ended(Work::Backup, &id).await {
            eprintln!("warning: could not record that backup {id} ended: {e}");
        }
        beat.abort();
        if let Err(e) = state.unlock(&lock).await {
            out.error(format!("could not release the lock: {e}"));
        }
        code
    }
}

/// Stores the backup holding a shared lock of the repository: the blobs a backup writes are named by no
/// record until its end, and the lock keeps a removal (which takes what no record names) from running
/// meanwhile. Refused (exit 3) while a removal holds the repository.
async fn store_shared(job: Job<'_>, settings: &Settings, repo: &Repo, out: &Output) -> i32 {
    let shared = match repo.lock_shared(&lock_owner(), REPO_LOCK_TTL).await {
        Ok(l) => l,
        Err(e) => {
            out.error(format!("the backup was not started: {e}"));
            return match e {
                RepoError::Locked { .. } => exit::LOCKED,
                _ => exit::ERROR,
            };
        }
    };
    let code = renewing(repo, &shared, store(job, settings, repo, out)).await;
    if let Err(e) = repo.unlock(shared).await {
        eprintln!("warning: the backup's repository lock stays until it expires: {e}");
    }
    code
}

/// Takes the tenant's lock; with `--wait`, tries again (every second) until the lock is free or the time is
/// up, then stops as without it (exit 3, naming the holder).
async fn lock_waiting(
    state: &crate::state::State,
    tenant: &str,
    wait: Option<u64>,
    out: &Output,
) -> Result<crate::state::Lock, i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait.unwrap_or(0));
    loop {
        let last = std::time::Instant::now() >= deadline;
        match held_or_taken(state, tenant, out, last).await {
            Ok(l) => return Ok(l),
            Err(Some(code)) => return Err(code),
            Err(None) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
}

/// One try: the lock, or `Some(code)` to stop, or `None` to try again (held by another, time left).
async fn held_or_taken(
    state: &crate::state::State,
    tenant: &str,
    out: &Output,
    last: bool,
) -> Result<crate::state::Lock, Option<i32>> {
    if !last
        && let Ok(Some(held)) = state.lock_of(tenant).await
        && !held.expired(crate::util::now())
        && !super::apply::holder_is_gone(&held, &crate::state::Owner::current())
    {
        return Err(None);
    }
    super::apply::lock_tenant(state, tenant, out)
        .await
        .map_err(|code| {
            if code == exit::LOCKED && !last {
                None
            } else {
                Some(code)
            }
        })
}

/// The `--include` / `--exclude` patterns.
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

/// Reads every domain at once, stores their documents, then the record.
/// One backup to take: what was asked, of which tenant and domains, narrowed how, started when.
struct Job<'a> {
    a: &'a CreateArgs,
    id: &'a str,
    tenant: &'a Tenant,
    domains: &'a [Domain],
    filter: &'a Filter,
    started_ms: i64,
    /// Where each domain's progress is recorded for `backup status`.
    state: &'a crate::state::State,
}

async fn store(job: Job<'_>, settings: &Settings, repo: &Repo, out: &Output) -> i32 {
    let Job {
        a,
        id,
        tenant,
        domains,
        filter,
        started_ms,
        state,
    } = job;
    let started = started_ms.div_euclid(1000);
    let clock = crate::util::now();
    let progress = super::progress::Progress::new(a.quiet || a.json);
    let progress = &progress;
    let reads = futures_util::future::join_all(domains.iter().map(|d| async move {
        let line = progress.task(d.as_str(), "reading");
        let r = read(settings, tenant, *d).await;
        let status = match &r {
            Read::Specs(..) => "read",
            Read::Failed(DomainStatus::NotAvailable, _) => "not_available",
            Read::Failed(..) => "error",
        };
        line.done(status);
        if let Err(e) = state
            .work_progress(Work::Backup, id, d.as_str(), status)
            .await
        {
            tracing::warn!("cannot record the progress of backup {id}: {e}");
        }
        r
    }));
    let reads = reads.await;
    progress.clear();
    let mut entries = Vec::new();
    let mut left_out = 0;
    for (domain, read) in domains.iter().zip(reads) {
        let entry = match read {
            Read::Specs(specs, at) => {
                let before = specs.len();
                let kept: Vec<Spec> = specs
                    .into_iter()
                    .filter(|s| filter.keeps(&s.address().to_string()))
                    .collect();
                left_out += before - kept.len();
                match stored(repo, tenant, *domain, kept, Some(at)).await {
                    Ok(e) => e,
                    Err(e) => {
                        out.error(format!("cannot store the backup: {e}"));
                        return exit::ERROR;
                    }
                }
            }
            Read::Failed(status, message) => failed(*domain, status, message),
        };
        entries.push(entry);
    }
    let record = Record {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        id: id.to_string(),
        tenant: tenant.id.clone(),
        status: Record::outcome(&entries),
        started_at: crate::util::rfc3339(started),
        finished_at: crate::util::rfc3339(started + (crate::util::now() - clock)),
        falconer: env!("CARGO_PKG_VERSION").to_string(),
        manifest_format: manifest::FORMAT_VERSION.to_string(),
        tags: a.tag.iter().cloned().collect::<BTreeMap<_, _>>(),
        source: crate::state::Owner::current().host,
        domains: entries,
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        left_out,
        encryption: repo.encryption(),
    };
    if let Err(e) = repo.put_record(&record).await {
        out.error(format!("cannot store the backup's record: {e}"));
        return exit::ERROR;
    }
    report_created(&record, a.json);
    code_of(record.status)
}

enum Read {
    Specs(Vec<Spec>, i64),
    Failed(DomainStatus, String),
}

/// One domain's live resources, as `export` reads them (secrets redacted).
async fn read(settings: &Settings, tenant: &Tenant, domain: Domain) -> Read {
    match settings.configured(domain) {
        Ok(true) => {}
        Ok(false) => {
            return Read::Failed(
                DomainStatus::NotAvailable,
                format!(
                    "no {} connection is configured (profile or environment)",
                    domain.system()
                ),
            );
        }
        Err(e) => return Read::Failed(DomainStatus::Error, e),
    }
    match super::export::read(settings, tenant, domain).await {
        Ok(specs) => Read::Specs(specs, crate::util::now()),
        Err(e) => Read::Failed(DomainStatus::Error, e),
    }
}

/// A domain that was not read, with why.
pub(super) fn failed(domain: Domain, status: DomainStatus, message: String) -> DomainEntry {
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
    }
}

/// Stores a domain's document: a JSON manifest of the tenant block and the domain's resources, in address
/// order (the same live state gives the same bytes, and so the same blob).
pub(super) async fn stored(
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
    })
}

fn report_created(r: &Record, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    println!(
        "Backup {} of tenant `{}`: {} ({} resources, {} bytes).",
        r.id,
        r.tenant,
        r.status,
        r.domains.iter().map(|d| d.resources).sum::<usize>(),
        r.size()
    );
    for d in &r.domains {
        println!("{}", domain_line(d));
    }
    if r.status == BackupStatus::Partial {
        eprintln!("warning: the backup is partial: the domains in error are not in it");
    }
}

pub(super) fn domain_line(d: &DomainEntry) -> String {
    let status = serde_json::to_value(d.status)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut line = format!(
        "  {:<10} {:<14} {:>5} resources",
        d.domain.as_str(),
        status,
        d.resources
    );
    if let Some(m) = &d.message {
        line.push_str(&format!("  {m}"));
    }
    line
}

async fn list(a: &ListArgs, repo: &Repo) -> Result<i32, RepoError> {
    let mut records = Vec::new();
    let mut damaged = 0;
    for r in repo.records(a.tenant.as_deref()).await? {
        match r {
            Ok(r)
                if a.status
                    .as_deref()
                    .is_none_or(|s| r.status.to_string() == s) =>
            {
                records.push(r)
            }
            Ok(_) => {}
            Err(e) => {
                damaged += 1;
                eprintln!("warning: {e}");
            }
        }
    }
    if a.json {
        let rows: Vec<serde_json::Value> = records.iter().map(summary).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        for r in &records {
            let domains: Vec<String> = r
                .domains
                .iter()
                .filter(|d| d.status.stored())
                .map(|d| d.domain.to_string())
                .collect();
            println!(
                "{}  {:<16} {:<8} {:>9} B  {}",
                r.id,
                r.tenant,
                r.status,
                r.size(),
                domains.join(",")
            );
        }
    }
    Ok(if damaged > 0 { exit::ERROR } else { exit::OK })
}

/// One line of `backup list --json`.
fn summary(r: &Record) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "tenant": r.tenant,
        "status": r.status,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "size": r.size(),
        "domains": r.domains.iter().filter(|d| d.status.stored()).map(|d| d.domain).collect::<Vec<_>>(),
        "tags": r.tags,
    })
}

async fn show(a: &ShowArgs, repo: &Repo) -> Result<i32, RepoError> {
    let r = repo.record(&a.id, a.tenant.as_deref()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        return Ok(exit::OK);
    }
    println!("Backup {} of tenant `{}`: {}", r.id, r.tenant, r.status);
    println!(
        "  taken {} .. {} on {} by falconer {}",
        r.started_at, r.finished_at, r.source, r.falconer
    );
    let read: Vec<i64> = r
        .domains
        .iter()
        .filter_map(|d| {
            d.read_at
                .as_deref()
                .and_then(crate::backup::retention::parse_time)
        })
        .collect();
    if let (Some(first), Some(last)) = (read.iter().min(), read.iter().max()) {
        println!("  domains read within {} s of each other", last - first);
    }
    for (k, v) in &r.tags {
        println!("  tag {k}={v}");
    }
    if let Some(e) = &r.encryption {
        println!("  encrypted ({}, key id {})", e.algorithm, e.key_id);
    }
    for d in &r.domains {
        println!("{}", domain_line(d));
        if let Some(digest) = &d.digest {
            println!("  {:<10} sha256:{digest} ({} bytes)", "", d.size);
        }
        for (path, digest) in &d.parts {
            println!("  {:<10} {path}: sha256:{digest}", "");
        }
    }
    let secrets: Vec<&LeftOut> = r.domains.iter().flat_map(|d| &d.secrets).collect();
    if !secrets.is_empty() {
        println!("Secrets not in the backup (set them again after a restore):");
        for s in secrets {
            println!("  {} {}", s.address, s.field);
        }
    }
    if r.left_out > 0 {
        println!(
            "{} resources left out by --include/--exclude ({} / {})",
            r.left_out,
            r.include.join(" "),
            r.exclude.join(" ")
        );
    }
    Ok(exit::OK)
}

async fn verify(a: &VerifyArgs, repo: &Repo) -> Result<i32, RepoError> {
    let records: Vec<Result<Record, RepoError>> = match &a.id {
        Some(id) => vec![repo.record(id, None).await],
        None => repo.records_read(None).await?,
    };
    let mut bad = 0;
    for r in &records {
        let problems = match r {
            Ok(r) => repo.verify(r).await,
            Err(e) => {
                bad += 1;
                println!("damaged: {e}");
                continue;
            }
        };
        let Ok(r) = r else { continue };
        if problems.is_empty() {
            println!("ok: {} ({} blobs)", r.id, r.blobs().count());
        } else {
            bad += 1;
            for p in problems {
                println!("damaged: {}: {p}", r.id);
            }
        }
    }
    println!("{} backups checked, {bad} damaged", records.len());
    Ok(if bad > 0 { exit::ERROR } else { exit::OK })
}

/// How often a held repository lock is renewed.
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `work` holding `lock`, renewed every minute (a lock that expired and was taken over is said once).
pub(super) async fn renewing<T>(
    repo: &Repo,
    lock: &crate::backup::repo::RepoLock,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let renew = async {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match repo.renew(lock, REPO_LOCK_TTL).await {
                Ok(true) => {}
                Ok(false) => {
                    eprintln!("warning: the repository lock expired and was taken over");
                    return;
                }
                Err(e) => eprintln!("warning: could not renew the repository lock: {e}"),
            }
        }
    };
    tokio::select! {
        t = &mut work => t,
        () = renew => work.await,
    }
}

/// This process, as a repository lock names its holder.
fn lock_owner() -> crate::backup::repo::LockOwner {
    let me = crate::state::Owner::current();
    crate::backup::repo::LockOwner {
        text: format!("{}@{} (pid {})", me.name, me.host, me.pid),
        host: me.host,
        scope: me.scope,
        pid: me.pid,
    }
}

/// Takes the repository's lock, saying so when an expired one is taken over.
pub(super) async fn lock(repo: &Repo) -> Result<crate::backup::repo::RepoLock, RepoError> {
    let (lock, previous) = repo.lock(&lock_owner(), REPO_LOCK_TTL).await?;
    if let Some(p) = previous {
        eprintln!("warning: took over the expired repository lock of {p}");
    }
    Ok(lock)
}

async fn delete(a: &DeleteArgs, repo: &Repo) -> Result<i32, RepoError> {
    let lock = lock(repo).await?;
    let r = match repo.record(&a.id, None).await {
        Ok(r) => r,
        Err(e) => {
            repo.unlock(lock).await?;
            return Err(e);
        }
    };
    let removed = renewing(repo, &lock, repo.delete(&r)).await;
    repo.unlock(lock).await?;
    let removed = removed?;
    println!(
        "Deleted backup {} of tenant `{}` ({removed} blobs no other backup used).",
        r.id, r.tenant
    );
    Ok(exit::OK)
}

pub(super) fn policy(a: &KeepArgs) -> Result<Policy, String> {
    let within = a
        .keep_within
        .as_deref()
        .map(retention::parse_duration)
        .transpose()?;
    Ok(Policy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        within,
    })
}

async fn prune(a: &PruneArgs, repo: &Repo, out: &Output) -> Result<i32, RepoError> {
    let policy = match policy(&a.keep) {
        Ok(p) if p.is_empty() => {
            out.error("refused: an empty policy would remove every backup but the newest of each tenant; give at least one --keep-* rule");
            return Ok(exit::REFUSED);
        }
        Ok(p) => p,
        Err(e) => {
            out.error(e);
            return Ok(exit::ERROR);
        }
    };
    if a.dry_run {
        return prune_under(a, &policy, repo).await;
    }
    let lock = lock(repo).await?;
    let done = renewing(repo, &lock, prune_under(a, &policy, repo)).await;
    repo.unlock(lock).await?;
    done
}

/// Prunes (or, dry, says what it would prune) with the repository's lock held.
pub(super) async fn prune_under(
    a: &PruneArgs,
    policy: &Policy,
    repo: &Repo,
) -> Result<i32, RepoError> {
    let mut by_tenant: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for r in repo.records(a.tenant.as_deref()).await? {
        match r {
            Ok(r) => by_tenant.entry(r.tenant.clone()).or_default().push(r),
            Err(e) => eprintln!("warning: kept, cannot be read: {e}"),
        }
    }
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    for records in by_tenant.values() {
        let candidates: Vec<Candidate> = records
            .iter()
            .map(|r| Candidate {
                id: r.id.clone(),
                at: retention::parse_time(&r.started_at).unwrap_or(0),
                failed: r.status == BackupStatus::Failed,
            })
            .collect();
        let why = retention::keep(&candidates, policy);
        for r in records {
            match why.get(&r.id) {
                Some(reasons) => kept.push((r, reasons.clone())),
                None => removed.push(r),
            }
        }
    }
    let mut blobs = 0;
    if !a.dry_run {
        for r in &removed {
            repo.remove_record(r).await?;
        }
        blobs = repo.collect().await?;
    }
    report_prune(a, &kept, &removed, blobs);
    Ok(exit::OK)
}

fn report_prune(a: &PruneArgs, kept: &[(&Record, Vec<String>)], removed: &[&Record], blobs: usize) {
    if a.json {
        let v = serde_json::json!({
            "dry_run": a.dry_run,
            "kept": kept.iter().map(|(r, why)| serde_json::json!({"id": r.id, "tenant": r.tenant, "reasons": why})).collect::<Vec<_>>(),
            "removed": removed.iter().map(|r| serde_json::json!({"id": r.id, "tenant": r.tenant})).collect::<Vec<_>>(),
            "blobs_removed": blobs,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for (r, why) in kept {
        println!("keep    {}  {:<16} {}", r.id, r.tenant, why.join(", "));
    }
    let verb = if a.dry_run { "would remove" } else { "remove" };
    for r in removed {
        println!("{verb:<7} {}  {}", r.id, r.tenant);
    }
    println!(
        "{} kept, {} {}{}",
        kept.len(),
        removed.len(),
        if a.dry_run {
            "would be removed"
        } else {
            "removed"
        },
        if a.dry_run {
            String::new()
        } else {
            format!(" ({blobs} blobs no backup used)")
        }
    );
}

async fn status(a: &StatusArgs, repo: &Repo, settings: &Settings) -> Result<i32, RepoError> {
    let state = crate::state::State::open(&settings.state)
        .await
        .map_err(|e| RepoError::State(e.to_string()))?;
    let rows: Vec<crate::state::ProgressRow> = state
        .work_running(Work::Backup)
        .await
        .map_err(|e| RepoError::State(e.to_string()))?
        .into_iter()
        .filter(|r| a.tenant.as_ref().is_none_or(|t| *t == r.tenant))
        .collect();
    if !rows.is_empty() {
        print_running(&rows, a.json);
        return Ok(exit::OK);
    }
    let latest = repo
        .records(a.tenant.as_deref())
        .await?
        .into_iter()
        .flatten()
        .next();
    if a.json {
        let backup = latest.as_ref().map(|r| {
            serde_json::json!({
                "id": r.id, "tenant": r.tenant, "succeeded": r.status == BackupStatus::Ok,
                "status": r.status, "statusMessage": status_message(r),
                "startDate": r.started_at, "endDate": r.finished_at,
            })
        });
        let v = serde_json::json!({"running": false, "backup": backup});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(exit::OK);
    }
    match latest {
        Some(r) => println!(
            "No backup running. Latest: {} of tenant `{}`, {} ({})",
            r.id,
            r.tenant,
            r.status,
            status_message(&r)
        ),
        None => println!("No backup running, and none in {}.", repo.describe()),
    }
    Ok(exit::OK)
}

/// What a backup's outcome says in words: the domains in error, with their messages.
fn status_message(r: &Record) -> String {
    let failed: Vec<String> = r
        .domains
        .iter()
        .filter(|d| d.status == DomainStatus::Error)
        .map(|d| format!("{}: {}", d.domain, d.message.as_deref().unwrap_or("error")))
        .collect();
    if failed.is_empty() {
        format!(
            "{} domains read",
            r.domains.iter().filter(|d| d.status.stored()).count()
        )
    } else {
        failed.join("; ")
    }
}

fn print_running(rows: &[crate::state::ProgressRow], json: bool) {
    let mut by_id: BTreeMap<&str, Vec<&crate::state::ProgressRow>> = BTreeMap::new();
    for r in rows {
        by_id.entry(r.id.as_str()).or_default().push(r);
    }
    if json {
        let running: Vec<serde_json::Value> = by_id
            .values()
            .map(|rs| {
                let pending: Vec<&str> = rs.iter().filter(|r| r.status == "pending").map(|r| r.domain.as_str()).collect();
                let done: Vec<serde_json::Value> = rs.iter().filter(|r| r.status != "pending")
                    .map(|r| serde_json::json!({"domain": r.domain, "status": r.status})).collect();
                serde_json::json!({"id": rs[0].id, "tenant": rs[0].tenant, "holder": rs[0].holder,
                    "startDate": crate::util::rfc3339(rs[0].started_at), "pending": pending, "completed": done})
            })
            .collect();
        let v = serde_json::json!({"running": true, "backups": running});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for rs in by_id.values() {
        println!(
            "Backup {} of tenant `{}` running since {} ({})",
            rs[0].id,
            rs[0].tenant,
            crate::util::rfc3339(rs[0].started_at),
            rs[0].holder
        );
        for r in rs {
            println!("  {:<10} {}", r.domain, r.status);
        }
    }
}
