//! `falconer backup schedule add|set|list|remove|pause|resume` and `falconer backup run-due`.

use super::super::args::RepoArg;
use super::super::terminal::Terminal;
use super::super::{exit, output::Output};
use crate::backup::BackupStatus;
use crate::backup::schedule::Schedule;
use crate::ops::Error;
use crate::ops::backup::Keep;
use crate::ops::live::Settings;
use crate::ops::schedule::ScheduleRequest;
use crate::state::{ScheduleRow, State};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Add a schedule: a cron expression (5 fields, or 6 with seconds; `@daily`), tenants, a repository
    /// and the retention applied after each successful run.
    Add(Box<AddArgs>),
    /// Change a schedule: what is given replaces what it had (tenants: the whole list; retention: every
    /// rule), checked as `add` checks.
    Set(Box<SetArgs>),
    /// List the schedules, with their next slot and last run.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a schedule.
    Remove {
        /// The schedule to remove.
        name: String,
    },
    /// Pause a schedule (run-due skips it).
    Pause {
        /// The schedule to pause.
        name: String,
    },
    /// Resume a paused schedule.
    Resume {
        /// The schedule to resume.
        name: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The schedule's name (unique in the state store).
    pub name: String,
    /// When, in UTC: `0 2 * * *`, `0 0 0 * * *` (with seconds), `@daily`, `@hourly`...
    #[arg(long)]
    pub cron: String,
    /// A tenant to back up, as `ID` or `ID=MANIFEST` (its naming from that manifest); repeatable.
    #[arg(long, value_name = "TENANT", required_unless_present = "manifest")]
    pub tenant: Vec<String>,
    /// Every tenant of a fleet (a directory of tenants, a fleet file, a quoted glob), read at each slot: a
    /// tenant added to it is backed up from then on; repeatable.
    #[arg(long, value_name = "FLEET")]
    pub manifest: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub keep: Keep,
    /// No retention: keep every backup (a schedule needs `--keep-*` rules or this).
    #[arg(long)]
    pub keep_all: bool,
}

#[derive(clap::Args, Debug)]
pub struct SetArgs {
    /// The schedule to change.
    pub name: String,
    /// A new cron expression.
    #[arg(long)]
    pub cron: Option<String>,
    /// The tenants, replacing the list (`ID` or `ID=MANIFEST`; repeatable).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Vec<String>,
    /// Fleets, replacing the list with `--tenant` (as `add --manifest`).
    #[arg(long, value_name = "FLEET")]
    pub manifest: Vec<String>,
    /// Another repository (`file:PATH` or `s3://bucket/prefix`).
    #[arg(long)]
    pub repo: Option<String>,
    /// Retention rules, replacing all of them.
    #[command(flatten)]
    pub keep: Keep,
    /// No retention: keep every backup (the rules are dropped).
    #[arg(long)]
    pub keep_all: bool,
}

#[derive(clap::Args, Debug)]
pub struct RunDueArgs {
    /// Act as if it were this time (RFC 3339, UTC): for tests and rehearsals.
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

pub fn run(c: &Command, out: &Output, settings: &Settings) -> i32 {
    super::super::common::with_state(out, &settings.state, async |state| match c {
        Command::Add(a) => add(a, &state, settings).await,
        Command::Set(a) => set(a, &state, settings).await,
        Command::List { json } => list(&state, *json).await,
        Command::Remove { name } => found(
            name,
            state.schedules().remove_schedule(name).await,
            "removed",
        ),
        Command::Pause { name } => found(
            name,
            state.schedules().pause_schedule(name, true).await,
            "paused",
        ),
        Command::Resume { name } => found(
            name,
            state.schedules().pause_schedule(name, false).await,
            "resumed",
        ),
    })
}

fn found(name: &str, r: Result<bool, crate::state::StateError>, done: &str) -> Result<i32, Error> {
    match r? {
        true => {
            println!("Schedule `{name}` {done}.");
            Ok(exit::OK)
        }
        false => Err(Error::Other(format!(
            "no schedule `{name}` (see `falconer backup schedule list`)"
        ))),
    }
}

async fn add(a: &AddArgs, state: &State, settings: &Settings) -> Result<i32, Error> {
    let req = ScheduleRequest {
        name: a.name.clone(),
        cron: Some(a.cron.clone()),
        tenants: with_fleets(&a.tenant, &a.manifest),
        repo: Some(a.repo.url(settings)?),
        keep: Some(a.keep.clone()),
        keep_all: a.keep_all,
    };
    let row = crate::ops::schedule::add(settings, state, &req).await?;
    announce(&row, "added");
    Ok(exit::OK)
}

async fn set(a: &SetArgs, state: &State, settings: &Settings) -> Result<i32, Error> {
    let rules = a.keep.policy().map_err(Error::Other)?;
    let req = ScheduleRequest {
        name: a.name.clone(),
        cron: a.cron.clone(),
        tenants: with_fleets(&a.tenant, &a.manifest),
        repo: a.repo.clone(),
        keep: match (rules.is_empty(), a.keep_all) {
            (false, _) => Some(a.keep.clone()),
            (true, true) => Some(Keep::default()),
            (true, false) => None,
        },
        keep_all: a.keep_all,
    };
    let row = crate::ops::schedule::set(settings, state, &req).await?;
    announce(&row, "changed");
    Ok(exit::OK)
}

/// A schedule's tenants in a few words: the ids, and each fleet by its file or directory name.
fn tenants_column(tenants: &serde_json::Value) -> String {
    let words: Vec<String> = tenants
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .map(|t| match t.strip_prefix('@') {
            Some(fleet) => {
                let name = std::path::Path::new(fleet).file_name();
                format!(
                    "fleet {}",
                    name.map(|n| n.to_string_lossy()).unwrap_or_default()
                )
            }
            None => t.split_once('=').map_or(t, |(id, _)| id).to_string(),
        })
        .collect();
    let all = words.join(",");
    match all.chars().count() > 20 {
        true => format!("{}...", all.chars().take(17).collect::<String>()),
        false => all,
    }
}

/// The tenants and the fleets (`@FLEET`) of a schedule, as the state store keeps them.
fn with_fleets(tenants: &[String], fleets: &[String]) -> Vec<String> {
    let fleets = fleets.iter().map(|f| format!("@{f}"));
    tenants.iter().cloned().chain(fleets).collect()
}

fn announce(row: &ScheduleRow, done: &str) {
    let next = Schedule::parse(&row.cron)
        .ok()
        .and_then(|s| s.next(crate::util::now()))
        .map(crate::util::rfc3339);
    println!(
        "Schedule `{}` {done}; next run at {}.",
        row.name,
        next.as_deref().unwrap_or("(never)")
    );
}

async fn list(state: &State, json: bool) -> Result<i32, Error> {
    let now = crate::util::now();
    let mut rows = Vec::new();
    for s in state.schedules().all().await? {
        let next = Schedule::parse(&s.cron).ok().and_then(|c| c.next(now));
        let last = state.schedules().last_slot(&s.name).await?;
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
    match rows.is_empty() {
        true => println!("No schedules (`falconer backup schedule add` adds one)."),
        false => println!(
            "{:<16} {:<14} {:<20} {:<21} {:<21}",
            "NAME", "CRON", "TENANTS", "NEXT", "LAST"
        ),
    }
    for r in &rows {
        println!(
            "{:<16} {:<14} {:<20} {:<21} {:<21}",
            r["name"].as_str().unwrap_or_default(),
            r["cron"].as_str().unwrap_or_default(),
            format!(
                "{}{}",
                tenants_column(&r["tenants"]),
                if r["paused"] == true { " (paused)" } else { "" }
            ),
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
    // The runner's key for the schedules' repositories (else each profile's).
    let key_file = std::env::var_os("FALCONER_BACKUP_KEY_FILE").map(Into::into);
    let events = Terminal::new(out);
    let work = crate::ops::schedule::run_due(settings, now, key_file, &events);
    match super::super::common::run_async(out, work) {
        Some(Ok(due)) => due.iter().map(|d| shown(d, out)).fold(exit::OK, worse),
        Some(Err(e)) => exit::fail(out, &e),
        None => exit::ERROR,
    }
}

/// One due schedule's slot as it ran: each backup, the retention; its exit code.
fn shown(d: &crate::ops::schedule::Due, out: &Output) -> i32 {
    let Some(run) = &d.ran else {
        return exit::OK;
    };
    let mut code = exit::OK;
    for (tenant, r) in &run.backups {
        let c = match r {
            Ok(record) => {
                super::super::show::backup_created(record);
                match record.status {
                    BackupStatus::Ok | BackupStatus::Incomplete => exit::OK,
                    BackupStatus::Partial => exit::PARTIAL,
                    BackupStatus::Failed => exit::ERROR,
                }
            }
            Err(e) => {
                out.error(format!("schedule `{}`, tenant `{tenant}`: {e}", d.schedule));
                exit::ERROR
            }
        };
        code = worse(code, c);
    }
    match &run.pruned {
        Some(Ok(p)) => super::super::show::pruned(p, false, false),
        Some(Err(e)) => code = worse(code, exit::fail(out, e)),
        None => {}
    }
    code
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
