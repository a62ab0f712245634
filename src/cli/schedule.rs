//! `falconer backup schedule add|list|remove|pause|resume` and `falconer backup run-due`.

use super::backup::{CreateArgs, KeepArgs, PruneArgs, RepoArg};
use super::live::Settings;
use super::{Output, exit};
use crate::backup::BackupStatus;
use crate::backup::repo::Repo;
use crate::backup::schedule::Schedule;
use crate::state::{ScheduleRow, SlotClaim, State};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Add a schedule: a cron expression (5 fields, or 6 with seconds; `@daily`), tenants, a repository
    /// and the retention applied after each successful run.
    Add(Box<AddArgs>),
    /// List the schedules, with their next slot and last run.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a schedule.
    Remove { name: String },
    /// Pause a schedule (run-due skips it).
    Pause { name: String },
    /// Resume a paused schedule.
    Resume { name: String },
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    pub name: String,
    /// When, in UTC: `0 2 * * *`, `0 0 0 * * *` (with seconds), `@daily`, `@hourly`...
    #[arg(long)]
    pub cron: String,
    /// A tenant to back up, as `ID` or `ID=MANIFEST` (its naming from that manifest); repeatable.
    #[arg(long, required = true, value_name = "TENANT")]
    pub tenant: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub keep: KeepArgs,
}

#[derive(clap::Args, Debug)]
pub struct RunDueArgs {
    /// Act as if it were this time (RFC 3339, UTC): for tests and rehearsals.
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

fn runtime_and_state<T>(
    out: &Output,
    settings: &Settings,
    f: impl AsyncFnOnce(State) -> Result<T, String>,
) -> Result<T, i32> {
    let rt = super::live::runtime(out)?;
    rt.block_on(async {
        let state = State::open(&settings.state)
            .await
            .map_err(|e| e.to_string())?;
        f(state).await
    })
    .map_err(|e| {
        out.error(e);
        exit::ERROR
    })
}

pub fn run(c: &Command, out: &Output, settings: &Settings) -> i32 {
    let done = runtime_and_state(out, settings, async |state| match c {
        Command::Add(a) => add(a, &state, settings).await,
        Command::List { json } => list(&state, *json).await,
        Command::Remove { name } => found(name, state.remove_schedule(name).await, "removed"),
        Command::Pause { name } => found(name, state.pause_schedule(name, true).await, "paused"),
        Command::Resume { name } => found(name, state.pause_schedule(name, false).await, "resumed"),
    });
    done.unwrap_or_else(|code| code)
}

fn found(name: &str, r: Result<bool, crate::state::StateError>, done: &str) -> Result<i32, String> {
    match r.map_err(|e| e.to_string())? {
        true => {
            println!("Schedule `{name}` {done}.");
            Ok(exit::OK)
        }
        false => Err(format!(
            "no schedule `{name}` (see `falconer backup schedule list`)"
        )),
    }
}

async fn add(a: &AddArgs, state: &State, settings: &Settings) -> Result<i32, String> {
    let schedule = Schedule::parse(&a.cron)?;
    super::backup::policy(&a.keep)?;
    let repo = a.repo.url(settings)?;
    Repo::open(&repo).map_err(|e| e.to_string())?;
    let now = crate::util::now();
    let row = ScheduleRow {
        name: a.name.clone(),
        cron: a.cron.clone(),
        tenants: a.tenant.clone(),
        repo,
        keep: serde_json::to_string(&a.keep).unwrap_or_default(),
        paused: false,
        created_at: now,
    };
    if !state.add_schedule(&row).await.map_err(|e| e.to_string())? {
        return Err(format!(
            "a schedule `{}` exists: remove it first, or choose another name",
            a.name
        ));
    }
    let next = schedule.next(now).map(crate::util::rfc3339);
    println!(
        "Schedule `{}` added; first run at {}.",
        a.name,
        next.as_deref().unwrap_or("(never)")
    );
    Ok(exit::OK)
}

async fn list(state: &State, json: bool) -> Result<i32, String> {
    let now = crate::util::now();
    let mut rows = Vec::new();
    for s in state.schedules().await.map_err(|e| e.to_string())? {
        let next = Schedule::parse(&s.cron).ok().and_then(|c| c.next(now));
        let last = state.last_slot(&s.name).await.map_err(|e| e.to_string())?;
        rows.push(serde_json::json!({
            "name": s.name, "cron": s.cron, "tenants": s.tenants, "repo": s.repo,
            "keep": serde_json::from_str::<serde_json::Value>(&s.keep).unwrap_or_default(),
            "paused": s.paused,
            "next": next.map(crate::util::rfc3339),
            "last": last.map(|(slot, status)| serde_json::json!({"slot": crate::util::rfc3339(slot), "status": status})),
        }));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    for r in &rows {
        println!(
            "{:<16} {:<14} {}{}  next {}  last {}",
            r["name"].as_str().unwrap_or_default(),
            r["cron"].as_str().unwrap_or_default(),
            r["tenants"],
            if r["paused"] == true { " (paused)" } else { "" },
            r["next"].as_str().unwrap_or("-"),
            r["last"]["slot"].as_str().unwrap_or("-"),
        );
    }
    Ok(exit::OK)
}

pub fn run_due(a: &RunDueArgs, out: &Output, settings: &Settings) -> i32 {
    let now = match a.now.as_deref().map(crate::backup::retention::parse_time) {
        None => crate::util::now(),
        Some(Some(t)) => t,
        Some(None) => {
            out.error("--now is an RFC 3339 UTC time like 2026-12-01T00:05:00Z");
            return exit::ERROR;
        }
    };
    let done = runtime_and_state(out, settings, async |state| {
        let mut worst = exit::OK;
        for s in state.schedules().await.map_err(|e| e.to_string())? {
            let code = run_one(&s, now, &state, out, settings).await?;
            worst = worse(worst, code);
        }
        Ok(worst)
    });
    done.unwrap_or_else(|code| code)
}

/// The worse of two exit codes of runs: an error, then a partial backup, then success.
fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        exit::OK => 0,
        exit::PARTIAL => 1,
        _ => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// How long a runner's claim of a slot lasts unrenewed: a slot whose runner stopped is run again after it.
const SLOT_LEASE: i64 = 600;
/// How often a runner renews its claim while the slot runs.
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs one schedule if it is due and no runner has claimed its slot (or the one that did stopped).
async fn run_one(
    s: &ScheduleRow,
    now: i64,
    state: &State,
    out: &Output,
    settings: &Settings,
) -> Result<i32, String> {
    let cron = Schedule::parse(&s.cron)?;
    let Some(slot) = cron.due(now, s.created_at).filter(|_| !s.paused) else {
        return Ok(exit::OK);
    };
    let at = crate::util::rfc3339(slot);
    let last = state.last_slot(&s.name).await.map_err(|e| e.to_string())?;
    if last.is_some_and(|(l, status)| l > slot || (l == slot && status != "running")) {
        println!("schedule `{}`: slot {at} already run", s.name);
        return Ok(exit::OK);
    }
    let claim = state.claim_slot(&s.name, slot, now, SLOT_LEASE).await;
    match claim.map_err(|e| e.to_string())? {
        SlotClaim::Held => {
            println!("schedule `{}`: slot {at} already run (or running)", s.name);
            return Ok(exit::OK);
        }
        SlotClaim::TakenOver => println!(
            "schedule `{}`: running slot {at} again: the runner that claimed it stopped",
            s.name
        ),
        SlotClaim::Claimed => println!("schedule `{}`: running slot {at}", s.name),
    }
    let started = std::time::Instant::now();
    let work = run_slot(s, now, out, settings, &at);
    tokio::pin!(work);
    let renew = async {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let elapsed = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
            if state
                .renew_slot(&s.name, slot, now + elapsed)
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let code = tokio::select! {
        c = &mut work => c?,
        () = renew => work.await?,
    };
    let status = match code {
        exit::OK => BackupStatus::Ok,
        exit::PARTIAL => BackupStatus::Partial,
        _ => BackupStatus::Failed,
    };
    state
        .finish_slot(&s.name, slot, &status.to_string(), "")
        .await
        .map_err(|e| e.to_string())?;
    Ok(code)
}

/// A slot's backups of every tenant of the schedule, then its retention; the worst exit code.
async fn run_slot(
    s: &ScheduleRow,
    now: i64,
    out: &Output,
    settings: &Settings,
    at: &str,
) -> Result<i32, String> {
    let repo = schedule_repo(s).open(settings)?;
    let mut code = exit::OK;
    for t in &s.tenants {
        let args = create_args(s, t, at);
        let c = super::backup::create(&args, out, settings, &repo, Some(now * 1000)).await;
        code = worse(code, c);
    }
    if code != exit::ERROR {
        code = worse(code, retain(s, &repo).await?);
    }
    Ok(code)
}

/// A schedule's repository, with the runner's key (`FALCONER_BACKUP_KEY_FILE`, else its profile's).
fn schedule_repo(s: &ScheduleRow) -> RepoArg {
    RepoArg {
        repo: Some(s.repo.clone()),
        key_file: std::env::var_os("FALCONER_BACKUP_KEY_FILE").map(Into::into),
    }
}

fn create_args(s: &ScheduleRow, tenant: &str, slot: &str) -> CreateArgs {
    let (id, manifest) = match tenant.split_once('=') {
        Some((id, m)) => (id.to_string(), Some(m.into())),
        None => (tenant.to_string(), None),
    };
    CreateArgs {
        tenant: Some(id),
        manifest,
        domain: Vec::new(),
        tag: vec![
            ("schedule".into(), s.name.clone()),
            ("slot".into(), slot.to_string()),
        ],
        include: Vec::new(),
        exclude: Vec::new(),
        json: false,
        quiet: true,
        // A runner that finds the tenant locked waits a little: an apply may be finishing.
        wait: Some(300),
        parallelism: 1,
        repo: schedule_repo(s),
    }
}

/// Applies the schedule's retention to its tenants' backups (nothing when it has no rule).
async fn retain(s: &ScheduleRow, repo: &Repo) -> Result<i32, String> {
    let keep: KeepArgs = serde_json::from_str(&s.keep).unwrap_or_default();
    let policy = super::backup::policy(&keep)?;
    if policy.is_empty() {
        return Ok(exit::OK);
    }
    let mut code = exit::OK;
    for t in &s.tenants {
        let id = t.split_once('=').map_or(t.as_str(), |(id, _)| id);
        let args = PruneArgs {
            keep: keep.clone(),
            tenant: Some(id.to_string()),
            dry_run: false,
            json: false,
            repo: schedule_repo(s),
        };
        let lock = super::backup::lock(repo).await.map_err(|e| e.to_string())?;
        let done = super::backup::renewing(
            repo,
            &lock,
            super::backup::prune_under(&args, &policy, repo),
        )
        .await;
        repo.unlock(lock).await.map_err(|e| e.to_string())?;
        code = worse(code, done.map_err(|e| e.to_string())?);
    }
    Ok(code)
}
