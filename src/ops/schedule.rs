//! Running the backup schedules that are due: each slot once, whatever the number of runners (claimed in
//! the state store, the claim renewed while it runs; a slot whose runner stopped runs again once), each
//! tenant backed up, then the schedule's retention.

use std::path::PathBuf;

use super::backup::{self, CreateRequest, Keep, Pruned};
use super::live::Settings;
use super::repo::RepoSpec;
use super::{Error, Events};
use crate::backup::schedule::Schedule;
use crate::backup::{BackupStatus, Record};
use crate::state::{ScheduleRow, SlotClaim, State};

/// How long a runner's claim of a slot lasts unrenewed: a slot whose runner stopped is run again after it.
const SLOT_LEASE: i64 = 600;
/// How often a runner renews its claim while the slot runs.
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// What a runner found of a due slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Run already (by this runner or another).
    AlreadyRun,
    /// Claimed by another runner, which may be running it.
    Held,
    /// Claimed by this runner, which runs it.
    Claimed,
    /// Claimed by a runner that stopped: this one runs it again.
    TakenOver,
}

/// What became of one due schedule.
#[derive(Debug)]
pub struct Due {
    pub schedule: String,
    /// The slot's time (RFC 3339).
    pub slot: String,
    /// The slot's run, when this runner ran it (`None`: run already, or running elsewhere).
    pub ran: Option<SlotRun>,
}

/// One slot's backups (each tenant's record, or why it has none) and its retention.
#[derive(Debug, Default)]
pub struct SlotRun {
    pub backups: Vec<(String, Result<Record, Error>)>,
    /// The retention's outcome (`None` when the schedule has no rule, or a backup failed).
    pub pruned: Option<Result<Pruned, Error>>,
}

impl SlotRun {
    /// The slot's outcome: failed when a backup or the retention failed, else the worst backup's.
    pub fn status(&self) -> BackupStatus {
        let mut worst = BackupStatus::Ok;
        for (_, r) in &self.backups {
            match r {
                Ok(r) if r.status == BackupStatus::Partial && worst == BackupStatus::Ok => {
                    worst = BackupStatus::Partial;
                }
                Ok(r) if r.status == BackupStatus::Failed => worst = BackupStatus::Failed,
                Ok(_) => {}
                Err(_) => worst = BackupStatus::Failed,
            }
        }
        match &self.pruned {
            Some(Err(_)) => BackupStatus::Failed,
            _ => worst,
        }
    }
}

/// Runs every schedule due at `now` (Unix seconds); `key_file` is the runner's repository key.
pub async fn run_due(
    settings: &Settings,
    now: i64,
    key_file: Option<PathBuf>,
    events: &dyn Events,
) -> Result<Vec<Due>, Error> {
    let state = State::open(&settings.state).await?;
    run_due_in(settings, &state, now, key_file, events).await
}

/// [`run_due`], with the state store already open (the agent keeps one for all its runs).
pub async fn run_due_in(
    settings: &Settings,
    state: &State,
    now: i64,
    key_file: Option<PathBuf>,
    events: &dyn Events,
) -> Result<Vec<Due>, Error> {
    let runner = Runner {
        settings,
        state,
        now,
        key_file,
        events,
    };
    let mut done = Vec::new();
    for s in state.schedules().all().await? {
        done.extend(runner.run_one(&s).await?);
    }
    Ok(done)
}

struct Runner<'a> {
    settings: &'a Settings,
    state: &'a State,
    now: i64,
    key_file: Option<PathBuf>,
    events: &'a dyn Events,
}

impl Runner<'_> {
    /// Runs one schedule if it is due and no runner has claimed its slot (or the one that did stopped).
    async fn run_one(&self, s: &ScheduleRow) -> Result<Option<Due>, Error> {
        let cron = Schedule::parse(&s.cron).map_err(Error::Other)?;
        let Some(slot) = cron.due(self.now, s.created_at).filter(|_| !s.paused) else {
            return Ok(None);
        };
        let at = crate::util::rfc3339(slot);
        let due = |ran| Due {
            schedule: s.name.clone(),
            slot: at.clone(),
            ran,
        };
        let last = self.state.schedules().last_slot(&s.name).await?;
        let ran = |(l, status): &(i64, String)| *l > slot || (*l == slot && status != "running");
        if last.as_ref().is_some_and(ran) {
            self.events.slot(&s.name, &at, Slot::AlreadyRun);
            return Ok(Some(due(None)));
        }
        let claim = self
            .state
            .schedules()
            .claim_slot(&s.name, slot, self.now, SLOT_LEASE)
            .await?;
        let (news, generation) = match claim {
            SlotClaim::Held => (Slot::Held, 0),
            SlotClaim::TakenOver(g) => (Slot::TakenOver, g),
            SlotClaim::Claimed(g) => (Slot::Claimed, g),
        };
        self.events.slot(&s.name, &at, news);
        if news == Slot::Held {
            return Ok(Some(due(None)));
        }
        if news == Slot::Claimed {
            let since = last.map_or(s.created_at, |(l, _)| l);
            self.tell_missed(s, &cron, (since, slot)).await;
        }
        let claim = (s.name.as_str(), slot, generation);
        let Some(run) = self.renewing_claim(claim, self.run_slot(s, &at)).await else {
            self.events.warning(&format!(
                "schedule `{}`: the slot of {at} stopped: its claim could not be renewed (the state store did not answer, or another runner took the slot over); the runner that holds it runs it",
                s.name
            ));
            return Ok(Some(due(None)));
        };
        let status = run.status().to_string();
        let finished = self
            .state
            .schedules()
            .finish_slot(claim, &status, "")
            .await?;
        if !finished {
            self.events.warning(&format!(
                "schedule `{}`: the slot of {at} was taken over by another runner while it ran: its end is that runner's to record",
                s.name
            ));
        }
        Ok(Some(due(Some(run))))
    }

    /// Tells of the slots between the last one run (or the schedule's making) and `slot` that no runner
    /// ran: a `schedule.missed` event, and a warning.
    async fn tell_missed(&self, s: &ScheduleRow, cron: &Schedule, (since, slot): (i64, i64)) {
        let missed = missed_slots(cron, since, slot);
        let (Some(first), Some(last)) = (missed.first(), missed.last()) else {
            return;
        };
        let (first, last) = (crate::util::rfc3339(*first), crate::util::rfc3339(*last));
        let n = missed.len();
        let which = match n {
            1 => format!("the slot of {first} was missed"),
            _ => format!("{n} slots were missed, from {first} to {last}"),
        };
        self.events.warning(&format!(
            "schedule `{}`: {which} (no runner ran it)",
            s.name
        ));
        let data = serde_json::json!({
            "schedule": s.name,
            "missed": n,
            "first": first,
            "last": last,
            "running": crate::util::rfc3339(slot),
        });
        let kind = super::webhooks::Kind::ScheduleMissed;
        if let Err(e) = super::webhooks::tell(self.state, kind, "", data).await {
            self.events
                .warning(&format!("the missed slots could not be told: {e}"));
        }
    }

    /// Runs `work`, renewing the claim of the slot every minute; `None` (the work dropped, before it
    /// writes more) once another runner took the slot over, or the claim went unrenewed for its lease.
    async fn renewing_claim<T>(
        &self,
        claim: (&str, i64, i64),
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let started = std::time::Instant::now();
        let renew = || {
            let elapsed = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
            self.state.schedules().renew_slot(claim, self.now + elapsed)
        };
        let lease = super::lease::Lease {
            every: RENEW_EVERY,
            length: std::time::Duration::from_secs(SLOT_LEASE.unsigned_abs()),
        };
        super::lease::while_renewed(lease, renew, |_| {}, work)
            .await
            .ok()
    }

    /// A slot's backups of every tenant of the schedule, then its retention.
    async fn run_slot(&self, s: &ScheduleRow, at: &str) -> SlotRun {
        let mut run = SlotRun::default();
        let repo = match self.repo(s).open(self.settings) {
            Ok(r) => r,
            Err(e) => {
                run.backups.push((String::new(), Err(e)));
                return run;
            }
        };
        for t in tenants_of(s) {
            let t = match t {
                Ok(t) => t,
                Err((member, why)) => {
                    run.backups.push((member, Err(Error::Other(why))));
                    continue;
                }
            };
            let req = create_request(s, &t, at, self.now);
            let r = backup::create_in(self.settings, self.state, &repo, &req, self.events).await;
            run.backups.push((req.tenant, r));
        }
        let failed =
            |r: &Result<Record, Error>| r.as_ref().is_ok_and(|r| r.status == BackupStatus::Failed);
        if run.backups.iter().all(|(_, r)| r.is_ok() && !failed(r)) {
            run.pruned = self.retain(s, &repo).await.transpose();
        }
        run
    }

    /// A schedule's repository, with the runner's key.
    fn repo(&self, s: &ScheduleRow) -> RepoSpec {
        RepoSpec {
            url: Some(s.repo.clone()),
            key_file: self.key_file.clone(),
        }
    }

    /// Applies the schedule's retention to its tenants' backups (nothing when it has no rule).
    async fn retain(
        &self,
        s: &ScheduleRow,
        repo: &crate::backup::repo::Repo,
    ) -> Result<Option<Pruned>, Error> {
        let keep: Keep = serde_json::from_str(&s.keep).unwrap_or_default();
        let policy = keep.policy().map_err(Error::Other)?;
        if policy.is_empty() {
            return Ok(None);
        }
        let mut all = Pruned::default();
        for t in tenants_of(s).into_iter().flatten() {
            let id = t.split_once('=').map_or(t.as_str(), |(id, _)| id);
            let pruning = backup::Pruning {
                policy: &policy,
                tenant: Some(id),
                dry_run: false,
            };
            let p = backup::prune(repo, &pruning, self.events).await?;
            all.kept.extend(p.kept);
            all.removed.extend(p.removed);
            all.blobs += p.blobs;
        }
        Ok(Some(all))
    }
}

/// The schedule's tenants as `ID` or `ID=MANIFEST`: a fleet (`@PATH`: a directory of tenants, a fleet file,
/// a glob) is read now, so that a tenant added to it is backed up from the next slot on. A member whose
/// manifest cannot be read is an error of its own (by path); the others go on.
fn tenants_of(s: &ScheduleRow) -> Vec<Result<String, (String, String)>> {
    let mut out = Vec::new();
    for t in &s.tenants {
        match t.strip_prefix('@') {
            None => out.push(Ok(t.clone())),
            Some(fleet) => out.extend(fleet_tenants(fleet)),
        }
    }
    out
}

/// Each tenant of a fleet, as `ID=MANIFEST`.
fn fleet_tenants(fleet: &str) -> Vec<Result<String, (String, String)>> {
    let members = match crate::fleet::members_of(&[std::path::PathBuf::from(fleet)]) {
        Ok(m) => m,
        Err(e) => return vec![Err((fleet.to_string(), e.to_string()))],
    };
    members
        .into_iter()
        .map(|m| {
            let path = m.path.display().to_string();
            let loaded = crate::manifest::load_path(&m.path, Default::default());
            let sound = !loaded.has_errors();
            match loaded.manifest.filter(|_| sound) {
                Some(manifest) => Ok(format!("{}={path}", manifest.tenant.id)),
                None => Err((
                    path.clone(),
                    format!("{path}: the manifest has errors (falconer validate {path})"),
                )),
            }
        })
        .collect()
}

/// A scheduled backup of one tenant (`ID`, or `ID=MANIFEST` for its naming), tagged with its schedule and
/// slot.
fn create_request(s: &ScheduleRow, tenant: &str, slot: &str, now: i64) -> CreateRequest {
    let (id, manifest) = match tenant.split_once('=') {
        Some((id, m)) => (id.to_string(), Some(m.into())),
        None => (tenant.to_string(), None),
    };
    CreateRequest {
        tenant: id,
        manifest,
        tags: vec![
            ("schedule".into(), s.name.clone()),
            ("slot".into(), slot.to_string()),
        ],
        // A runner that finds the tenant locked waits a little: an apply may be finishing.
        wait: Some(300),
        at_ms: Some(now * 1000),
        ..CreateRequest::default()
    }
}

/// The slots strictly between `since` and `slot` (at most a thousand: what a notice needs).
fn missed_slots(cron: &Schedule, since: i64, slot: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut at = since;
    while let Some(next) = cron.next(at).filter(|&n| n < slot) {
        out.push(next);
        at = next;
        if out.len() == 1000 {
            break;
        }
    }
    out
}

/// What `backup schedule add` and `set` ask: for `set`, what is not given stays as it is.
#[derive(Debug, Clone, Default)]
pub struct ScheduleRequest {
    pub name: String,
    pub cron: Option<String>,
    /// `ID`, `ID=MANIFEST`, or `@FLEET` (every tenant of a fleet, read at each slot); for `set`, given ones
    /// replace the list.
    pub tenants: Vec<String>,
    /// The repository (`RepoSpec::url`'s answer); for `set`, `None` keeps it.
    pub repo: Option<String>,
    /// Retention rules; for `set`, `None` keeps them.
    pub keep: Option<Keep>,
    /// No retention, said outright: every backup is kept.
    pub keep_all: bool,
}

/// Adds a schedule, everything checked first: the cron expression, each tenant id and manifest (made
/// absolute: `run-due` runs from cron, elsewhere), a retention (or `keep_all`), a repository that answers
/// now rather than at 02:00.
pub async fn add(
    settings: &Settings,
    state: &State,
    req: &ScheduleRequest,
) -> Result<ScheduleRow, Error> {
    let row = ScheduleRow {
        name: req.name.clone(),
        cron: req.cron.clone().unwrap_or_default(),
        tenants: req.tenants.clone(),
        repo: req.repo.clone().unwrap_or_default(),
        keep: serde_json::to_string(&req.keep.clone().unwrap_or_default()).unwrap_or_default(),
        paused: false,
        created_at: crate::util::now(),
    };
    let row = checked(settings, row, req.keep_all).await?;
    if !state.schedules().add_schedule(&row).await? {
        return Err(Error::Other(format!(
            "a schedule `{}` exists: change it with `falconer backup schedule set`, or choose another name",
            req.name
        )));
    }
    Ok(row)
}

/// Changes a schedule: what the request gives replaces what it had; checked as [`add`] checks.
pub async fn set(
    settings: &Settings,
    state: &State,
    req: &ScheduleRequest,
) -> Result<ScheduleRow, Error> {
    let all = state.schedules().all().await?;
    let Some(mut row) = all.into_iter().find(|s| s.name == req.name) else {
        return Err(Error::Other(format!(
            "no schedule `{}` (see `falconer backup schedule list`)",
            req.name
        )));
    };
    if let Some(c) = &req.cron {
        row.cron = c.clone();
    }
    if !req.tenants.is_empty() {
        row.tenants = req.tenants.clone();
    }
    if let Some(r) = &req.repo {
        row.repo = r.clone();
    }
    if let Some(k) = &req.keep {
        row.keep = serde_json::to_string(k).unwrap_or_default();
    }
    let keep_all = req.keep_all || (req.keep.is_none() && kept(&row)?.is_empty());
    let row = checked(settings, row, keep_all).await?;
    state.schedules().update_schedule(&row).await?;
    Ok(row)
}

fn kept(row: &ScheduleRow) -> Result<crate::backup::retention::Policy, Error> {
    let keep: Keep = serde_json::from_str(&row.keep).unwrap_or_default();
    keep.policy().map_err(Error::Other)
}

/// A schedule's row with every part checked, paths made absolute.
async fn checked(
    settings: &Settings,
    mut row: ScheduleRow,
    keep_all: bool,
) -> Result<ScheduleRow, Error> {
    Schedule::parse(&row.cron).map_err(Error::Other)?;
    match (kept(&row)?.is_empty(), keep_all) {
        (true, false) => {
            return Err(Error::Other(
                "a schedule needs a retention: give --keep-daily, --keep-weekly, ... (see docs/backup.md), or --keep-all to keep every backup".into(),
            ));
        }
        (false, true) => {
            return Err(Error::Other(
                "--keep-all keeps every backup: give it without --keep-* rules".into(),
            ));
        }
        _ => {}
    }
    row.tenants = row
        .tenants
        .iter()
        .map(|t| scheduled_tenant(t))
        .collect::<Result<_, _>>()?;
    row.repo = absolute_repo(&row.repo)?;
    let spec = RepoSpec {
        url: Some(row.repo.clone()),
        key_file: None,
    };
    let repo = spec.open(settings)?;
    repo.reachable().await.map_err(|e| {
        Error::Other(format!(
            "the repository {} cannot be reached now: {e}",
            repo.describe()
        ))
    })?;
    Ok(row)
}

/// `ID` or `ID=MANIFEST`: the id checked, the manifest found and made absolute; `@FLEET`: the fleet made
/// absolute, and each of its tenants read now (a fleet that names none, or a member with errors, refused).
fn scheduled_tenant(t: &str) -> Result<String, Error> {
    if let Some(fleet) = t.strip_prefix('@') {
        let absolute = absolute_path(fleet)?;
        let tenants = fleet_tenants(&absolute);
        if tenants.is_empty() {
            return Err(Error::Other(format!("--manifest {fleet}: names no tenant")));
        }
        if let Some(Err((_, e))) = tenants.into_iter().find(Result::is_err) {
            return Err(Error::Other(format!("--manifest {fleet}: {e}")));
        }
        return Ok(format!("@{absolute}"));
    }
    let (id, manifest) = match t.split_once('=') {
        Some((id, m)) => (id, Some(m)),
        None => (t, None),
    };
    crate::model::tenant::check_tenant_id(id)
        .map_err(|why| Error::Other(format!("--tenant {t:?}: {why}")))?;
    let Some(m) = manifest else {
        return Ok(id.to_string());
    };
    let path = std::path::Path::new(m).canonicalize().map_err(|e| {
        Error::Other(format!(
            "--tenant {t:?}: the manifest {m} cannot be read ({})",
            e.kind()
        ))
    })?;
    Ok(format!("{id}={}", path.display()))
}

/// A path made absolute against the current directory (a glob's pattern too).
fn absolute_path(p: &str) -> Result<String, Error> {
    let path = std::path::Path::new(p);
    if path.is_absolute() {
        return Ok(p.to_string());
    }
    let here = std::env::current_dir()
        .map_err(|e| Error::Other(format!("the current directory: {}", e.kind())))?;
    Ok(here.join(path).display().to_string())
}

/// A repository URL with a local path made absolute (`run-due` runs from elsewhere).
fn absolute_repo(url: &str) -> Result<String, Error> {
    if url.starts_with("s3://") {
        return Ok(url.to_string());
    }
    let path = url.strip_prefix("file:").unwrap_or(url);
    let path = std::path::Path::new(path);
    if path.is_absolute() {
        return Ok(format!("file:{}", path.display()));
    }
    let here = std::env::current_dir()
        .map_err(|e| Error::Other(format!("the current directory: {}", e.kind())))?;
    Ok(format!("file:{}", here.join(path).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenants: &[&str]) -> ScheduleRow {
        ScheduleRow {
            name: "nightly".into(),
            cron: "@daily".into(),
            tenants: tenants.iter().map(|t| t.to_string()).collect(),
            repo: "file:/tmp/r".into(),
            keep: "{}".into(),
            paused: false,
            created_at: 0,
        }
    }

    #[test]
    fn a_fleet_entry_is_every_tenant_of_the_fleet_read_at_each_slot() {
        let fleet = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet");
        let entry = format!("@{fleet}");
        let all = tenants_of(&row(&["acme", &entry]));
        assert_eq!(all.len(), 25, "acme and the fleet's 24");
        assert_eq!(all[0].as_ref().ok().map(String::as_str), Some("acme"));
        let first = all[1].as_ref().expect("a member");
        assert!(
            first.starts_with("fleet-01=") && first.ends_with("fleet-01.toml"),
            "{first}"
        );
        let missing = tenants_of(&row(&["@/nonexistent/fleet-*.toml"]));
        assert!(missing.iter().all(Result::is_err) || missing.is_empty());
        assert!(scheduled_tenant("@/nonexistent/fleet-*.toml").is_err());
        let absolute = scheduled_tenant(&entry).expect("a fleet");
        assert_eq!(absolute, entry);
    }
}
