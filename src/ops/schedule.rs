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
    let runner = Runner {
        settings,
        state: &state,
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
        if last.is_some_and(|(l, status)| l > slot || (l == slot && status != "running")) {
            self.events.slot(&s.name, &at, Slot::AlreadyRun);
            return Ok(Some(due(None)));
        }
        let claim = self
            .state
            .schedules()
            .claim_slot(&s.name, slot, self.now, SLOT_LEASE)
            .await?;
        let news = match claim {
            SlotClaim::Held => Slot::Held,
            SlotClaim::TakenOver => Slot::TakenOver,
            SlotClaim::Claimed => Slot::Claimed,
        };
        self.events.slot(&s.name, &at, news);
        if news == Slot::Held {
            return Ok(Some(due(None)));
        }
        let run = self.renewing_claim(s, slot, self.run_slot(s, &at)).await;
        let status = run.status().to_string();
        self.state
            .schedules()
            .finish_slot(&s.name, slot, &status, "")
            .await?;
        Ok(Some(due(Some(run))))
    }

    /// Runs `work`, renewing the claim of the slot every minute.
    async fn renewing_claim<T>(
        &self,
        s: &ScheduleRow,
        slot: i64,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let started = std::time::Instant::now();
        tokio::pin!(work);
        let renew = async {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let elapsed = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
                let renewed = self
                    .state
                    .schedules()
                    .renew_slot(&s.name, slot, self.now + elapsed);
                if renewed.await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            t = &mut work => t,
            () = renew => work.await,
        }
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
        for t in &s.tenants {
            let req = create_request(s, t, at, self.now);
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
        for t in &s.tenants {
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
