//! `plan` and `drift` over a fleet (docs/fleets.md): the tenants the command's paths name, this job's share
//! of them (`--shard K/N`), at most `--parallelism` at once, all sharing one connection to each system (per
//! connection profile) and one state store. Each tenant's output is printed whole when it is done (never
//! interleaved), then the roll-up; `--json` streams JSON Lines events instead, `--report` and `--junit`
//! write files, `--format markdown` prints a comment-sized summary.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};

use super::live::{self, Context, Desired, Live, Settings};
use super::plan::PlanFormat;
use super::{MessageFormat, Output, exit};
use crate::domains::provider::Provider;
use crate::fleet::report::{
    self, Event, FailOn, LastDrift, Report, Status, Summary, SystemLine, TenantResult,
};
use crate::fleet::{Member, Shard, junit, markdown};
use crate::manifest::{self, LoadOptions};
use crate::model::{Domain, Tenant};
use crate::plan::render::{self, Style};
use crate::plan::{Options, Plan};
use crate::state::State;

/// The options of a fleet run, shared by `plan` and `drift`.
#[derive(clap::Args, Debug, Clone)]
pub struct FleetArgs {
    /// Fleets: tenants in flight at once (they share one connection pool per system).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallelism: usize,
    /// Fleets: only this job's share of the tenants, K of N (stable, by tenant id): N jobs given 1/N … N/N
    /// cover every tenant once.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Fleets: JSON Lines events on standard output (schema: schemas/fleet-event.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Fleets: write the run's report, one JSON document (schema: schemas/fleet-report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Fleets: write JUnit XML, a test suite per tenant and a test case per domain.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Fleets: no progress bar on a terminal (off a terminal, and with --json, there is none anyway).
    #[arg(short, long)]
    pub quiet: bool,
    /// Fleets: write the Markdown summary (what `--format markdown` prints) to a file as well (for a
    /// pull-request comment, or to append to `$GITHUB_STEP_SUMMARY`).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

impl FleetArgs {
    /// Whether any option asks for a fleet run (a single tenant then runs as a fleet of one).
    pub fn asked(&self) -> bool {
        self.shard.is_some()
            || self.json
            || self.report.is_some()
            || self.junit.is_some()
            || self.markdown.is_some()
    }
}

/// What runs over the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `plan`: `changes_fail` is `--detailed-exitcode`.
    Plan { changes_fail: bool },
    /// `drift`, against each tenant's last result in the state store.
    Drift { fail_on: FailOn },
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Plan { .. } => "plan",
            Verb::Drift { .. } => "drift",
        }
    }

    fn failed(self) -> Status {
        match self {
            Verb::Plan { .. } => Status::Error,
            Verb::Drift { .. } => Status::CouldNotCheck,
        }
    }
}

/// A fleet run.
pub struct Job<'a> {
    pub verb: Verb,
    pub fleet: &'a FleetArgs,
    pub format: PlanFormat,
    pub targets: Vec<String>,
    pub excludes: Vec<String>,
    /// `plan -o DIR`: where each tenant's plan with changes is saved, as TENANT.plan.json.
    pub save: Option<PathBuf>,
}

/// A member once its manifest is read.
struct Loaded {
    member: Member,
    /// The manifest's tenant id, else the path.
    id: String,
    desired: Result<Desired, String>,
    /// Warnings of the manifest, as text.
    notes: String,
}

/// What a tenant's check gave: its result, and the plan for the text output.
struct Done {
    result: TenantResult,
    plan: Option<Plan>,
    notes: String,
}

/// Runs the job when `paths` name a fleet (or fleet options ask for one): `Some(exit code)`; `None` for one
/// tenant, which the command runs as before.
pub fn maybe(job: &Job, paths: &[PathBuf], out: &Output, settings: &Settings) -> Option<i32> {
    let members = match crate::fleet::resolve(paths) {
        Ok(Some(m)) => m,
        Ok(None) if job.fleet.asked() => vec![Member {
            path: paths[0].clone(),
            profile: None,
            group: None,
        }],
        Ok(None) => return None,
        Err(e) => {
            out.error(e.to_string());
            return Some(exit::ERROR);
        }
    };
    Some(run(job, members, out, settings))
}

/// Runs the job over the members; returns the exit code.
pub fn run(job: &Job, members: Vec<Member>, out: &Output, settings: &Settings) -> i32 {
    let shard = match job.fleet.shard.as_deref().map(Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            out.error(e.to_string());
            return exit::ERROR;
        }
    };
    let tenants: Vec<Loaded> = load(members)
        .into_iter()
        .filter(|t| shard.is_none_or(|s| s.owns(&t.id)))
        .collect();
    let rt = match live::runtime(out) {
        Ok(r) => r,
        Err(code) => return code,
    };
    rt.block_on(async {
        let state = match State::open(&settings.state).await {
            Ok(s) => s,
            Err(e) => {
                out.error(e.to_string());
                return exit::ERROR;
            }
        };
        let systems = Systems::new(settings, &tenants);
        let started_at = super::now_rfc3339();
        emit(
            job,
            &Event::Start {
                format_version: report::FORMAT_VERSION,
                command: job.verb.name().into(),
                tenants: tenants.len(),
                shard: shard.map(|s| s.to_string()),
            },
        );
        let mut results = run_all(job, &tenants, &state, &systems).await;
        results.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        let code = exit_code(job.verb, &results);
        let report = Report {
            format_version: report::FORMAT_VERSION,
            command: job.verb.name().into(),
            started_at,
            finished_at: super::now_rfc3339(),
            shard: shard.map(|s| s.to_string()),
            summary: Summary::of(&results, code),
            tenants: results,
        };
        finish(job, &report, out).unwrap_or(code)
    })
}

/// Checks every tenant, at most `--parallelism` at once, printing each one's output when it is done.
async fn run_all(
    job: &Job<'_>,
    tenants: &[Loaded],
    state: &State,
    systems: &Systems<'_>,
) -> Vec<TenantResult> {
    let mut done = stream::iter(tenants)
        .map(|t| async move {
            emit(
                job,
                &Event::TenantStart {
                    tenant: t.id.clone(),
                    path: t.member.path.display().to_string(),
                },
            );
            check(job, t, state, systems).await
        })
        .buffer_unordered(job.fleet.parallelism.max(1));
    let bar =
        super::progress::Counter::new(job.fleet.quiet || job.fleet.json, tenants.len(), "tenants");
    let mut results = Vec::new();
    while let Some(d) = done.next().await {
        bar.print(|| {
            if job.fleet.json {
                for e in Event::of_tenant(&d.result) {
                    emit(job, &e);
                }
            } else if job.format == PlanFormat::Text {
                say(&block(&d));
            }
        });
        bar.step();
        results.push(d.result);
    }
    bar.clear();
    results
}

/// Prints an event, when `--json` asks for them.
fn emit(job: &Job, e: &Event) {
    if job.fleet.json {
        say(&(e.line() + "\n"));
    }
}

/// Writes to standard output at once; a reader that stopped early (`| head`) is no error.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The end of a run: the roll-up (or the Markdown, or the report on standard output), the summary event,
/// the report and JUnit files. `Some(code)` when a file could not be written.
fn finish(job: &Job, report: &Report, out: &Output) -> Option<i32> {
    let mut failed = None;
    if let Some(path) = &job.fleet.report {
        let text = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
        failed = failed.or(write(path, &text, out));
    }
    if let Some(path) = &job.fleet.junit {
        match junit::render(report) {
            Ok(xml) => failed = failed.or(write(path, &xml, out)),
            Err(e) => {
                out.error(format!("cannot write the JUnit report: {e}"));
                failed = Some(exit::ERROR);
            }
        }
    }
    if let Some(path) = &job.fleet.markdown {
        failed = failed.or(write(path, &markdown_of(job, report), out));
    }
    if job.fleet.json {
        emit(job, &Event::Summary(report.summary.clone()));
        return failed;
    }
    match job.format {
        PlanFormat::Text => say(&rollup(report)),
        PlanFormat::Markdown => say(&markdown_of(job, report)),
        PlanFormat::Json => say(&(serde_json::to_string_pretty(report).unwrap_or_default() + "\n")),
    }
    failed
}

/// The run in Markdown, naming the report file as where the full report is.
fn markdown_of(job: &Job, report: &Report) -> String {
    let full = job.fleet.report.as_ref().map(|p| p.display().to_string());
    markdown::render(report, full.as_deref())
}

/// Writes an output file atomically (a reader never sees half of it).
fn write(path: &Path, text: &str, out: &Output) -> Option<i32> {
    match super::write_atomic(path, text) {
        Ok(()) => None,
        Err(e) => {
            out.error(format!("cannot write {}: {e}", path.display()));
            Some(exit::ERROR)
        }
    }
}

/// The exit code: 5 when some tenant could not be checked (or planned), else 2 for drift (`--fail-on`) or
/// for changes (`plan --detailed-exitcode`), else 0.
pub fn exit_code(verb: Verb, results: &[TenantResult]) -> i32 {
    if results.iter().any(|r| r.status.failed()) {
        return exit::PARTIAL;
    }
    let fails = |s: Status| match (verb, s) {
        (Verb::Drift { .. }, Status::NewDrift) => true,
        (Verb::Drift { fail_on }, Status::StillDrifted) => fail_on == FailOn::Any,
        (Verb::Plan { changes_fail }, Status::Changes) => changes_fail,
        _ => false,
    };
    if results.iter().any(|r| fails(r.status)) {
        exit::CHANGES
    } else {
        exit::OK
    }
}

/// Reads every member's manifest (problems kept as text); a tenant id declared twice is an error of the
/// later member.
fn load(members: Vec<Member>) -> Vec<Loaded> {
    let short = Output {
        format: MessageFormat::Short,
    };
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    members
        .into_iter()
        .map(|member| {
            let loaded = manifest::load_path(&member.path, LoadOptions::default());
            let notes = short.render(&loaded.issues, &loaded.sources);
            let desired = live::desired_of(&loaded).ok_or_else(|| notes.trim_end().to_string());
            let id = match &desired {
                Ok(d) => d.manifest.tenant.id.clone(),
                Err(_) => member.path.display().to_string(),
            };
            let desired = match seen.get(&id) {
                Some(first) => Err(format!(
                    "tenant `{id}` is also declared by {}: each tenant once in a fleet",
                    first.display()
                )),
                None => desired,
            };
            seen.entry(id.clone())
                .or_insert_with(|| member.path.clone());
            let notes = if desired.is_ok() {
                notes
            } else {
                String::new()
            };
            Loaded {
                member,
                id,
                desired,
                notes,
            }
        })
        .collect()
}

/// One connection per system and connection profile, made when a tenant first needs it and shared by all.
struct Systems<'a> {
    settings: &'a Settings,
    /// The settings of the fleet file's group profiles.
    groups: RefCell<HashMap<PathBuf, Rc<Settings>>>,
    cells: RefCell<HashMap<SystemKey, Rc<Connection>>>,
    /// The run's tenants, by connection profile (`None`: the command's).
    tenants: HashMap<Option<PathBuf>, Vec<Tenant>>,
}

/// A system of a connection profile (`None`: the command's).
type SystemKey = (Option<PathBuf>, Domain);

type Connection = tokio::sync::OnceCell<Result<Arc<Live>, String>>;

impl<'a> Systems<'a> {
    fn new(settings: &'a Settings, loaded: &[Loaded]) -> Systems<'a> {
        let mut tenants: HashMap<Option<PathBuf>, Vec<Tenant>> = HashMap::new();
        for t in loaded {
            if let Ok(d) = &t.desired {
                let group = tenants.entry(t.member.profile.clone()).or_default();
                group.push(d.manifest.tenant.clone());
            }
        }
        Systems {
            settings,
            groups: RefCell::new(HashMap::new()),
            cells: RefCell::new(HashMap::new()),
            tenants,
        }
    }

    /// The shared connection to a system, for a tenant of the group with `profile` (the command's without).
    async fn get(&self, profile: Option<&Path>, domain: Domain) -> Result<Arc<Live>, String> {
        let cell = self
            .cells
            .borrow_mut()
            .entry((profile.map(Path::to_path_buf), domain))
            .or_default()
            .clone();
        let settings = profile.map(|p| {
            self.groups
                .borrow_mut()
                .entry(p.to_path_buf())
                .or_insert_with(|| {
                    Rc::new(Settings::new(
                        self.settings.state.clone(),
                        Some(p.to_path_buf()),
                    ))
                })
                .clone()
        });
        let settings = settings.as_deref().unwrap_or(self.settings);
        let tenants = self.tenants.get(&profile.map(Path::to_path_buf));
        let connect = || async {
            let live = settings.connect(domain).await?;
            // The run only reads: a listing of the whole system, or of all the tenants' scopes, is read
            // once for all of them.
            live.share_reads(tenants.map(Vec::as_slice).unwrap_or_default());
            Ok(Arc::new(live))
        };
        cell.get_or_init(connect).await.clone()
    }
}

/// Checks one tenant: its systems, its plan, and (`drift`) its status against the last check.
async fn check(job: &Job<'_>, t: &Loaded, state: &State, systems: &Systems<'_>) -> Done {
    let started = Instant::now();
    let path = t.member.path.display().to_string();
    let fail = |e: String| Done {
        result: TenantResult {
            group: t.member.group.clone(),
            duration_ms: elapsed(started),
            ..TenantResult::failed(t.id.clone(), path.clone(), job.verb.failed(), e)
        },
        plan: None,
        notes: t.notes.clone(),
    };
    let d = match &t.desired {
        Ok(d) => d,
        Err(e) => return fail(e.clone()),
    };
    let opts = Options {
        targets: job.targets.clone(),
        excludes: job.excludes.clone(),
        managed: None,
    };
    let domains = match Context::domains(state, d, &opts).await {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let key = match state.fingerprint_key(&t.id).await {
        Ok(k) => k,
        Err(e) => return fail(e.to_string()),
    };
    let profile = t.member.profile.as_deref();
    let connected = join_all(domains.iter().map(|&dm| systems.get(profile, dm))).await;
    let mut result = fail(String::new()).result;
    result.errors.clear();
    result.systems = domains
        .iter()
        .zip(&connected)
        .map(|(dm, c)| SystemLine {
            domain: dm.as_str().into(),
            changes: 0,
            error: c.as_ref().err().cloned(),
        })
        .collect();
    if connected.iter().any(Result::is_err) {
        return Done {
            result,
            plan: None,
            notes: t.notes.clone(),
        };
    }
    let cx = Context {
        state: state.clone(),
        key,
        live: connected.into_iter().filter_map(Result::ok).collect(),
    };
    let plan = match cx.plan_checked(d, opts).await {
        Ok((plan, _, _)) => plan,
        Err(e) => {
            match result
                .systems
                .iter_mut()
                .find(|s| Some(s.domain.as_str()) == e.domain.map(Domain::as_str))
            {
                Some(s) => s.error = Some(e.message),
                None => result.errors.push(e.message),
            }
            result.duration_ms = elapsed(started);
            return Done {
                result,
                plan: None,
                notes: t.notes.clone(),
            };
        }
    };
    let mut result = result.with_plan(&plan);
    let mut notes = t.notes.clone();
    let mut plan = plan;
    if let Err(e) = save(job, t, &mut plan) {
        result.status = Status::Error;
        result.errors.push(e);
        return Done {
            result,
            plan: Some(plan),
            notes,
        };
    }
    result.status = match job.verb {
        Verb::Plan { .. } if plan.has_changes() => Status::Changes,
        Verb::Plan { .. } => Status::NoChanges,
        Verb::Drift { .. } => match history(state, &t.id, &plan, &mut result).await {
            Ok(s) => s,
            Err(e) => {
                notes.push_str(&format!(
                    "warning: the drift history could not be read or written: {e}\n"
                ));
                if plan.has_changes() {
                    Status::NewDrift
                } else {
                    Status::InSync
                }
            }
        },
    };
    result.duration_ms = elapsed(started);
    Done {
        result,
        plan: Some(plan),
        notes,
    }
}

/// `plan -o DIR`: saves a tenant's plan with changes as DIR/TENANT.plan.json, for `apply PLANFILE`.
fn save(job: &Job, t: &Loaded, plan: &mut Plan) -> Result<(), String> {
    let Some(dir) = job.save.as_ref().filter(|_| plan.has_changes()) else {
        return Ok(());
    };
    plan.inputs = Some(crate::plan::Inputs {
        manifest: t.member.path.display().to_string(),
        against: None,
        targets: job.targets.clone(),
        excludes: job.excludes.clone(),
    });
    let name: String =
        t.id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    let path = dir.join(format!("{name}.plan.json"));
    std::fs::create_dir_all(dir)
        .and_then(|()| super::write_atomic(&path, &render::json(plan)))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A drift check's status against the tenant's last one, which it then replaces.
async fn history(
    state: &State,
    tenant: &str,
    plan: &Plan,
    result: &mut TenantResult,
) -> Result<Status, crate::state::StateError> {
    let last = state
        .last_drift(tenant)
        .await?
        .map(|(drifted, digest)| LastDrift { drifted, digest });
    result.previous = last
        .as_ref()
        .map(|l| if l.drifted { "drifted" } else { "in_sync" }.to_string());
    let digest = plan.has_changes().then(|| report::drift_digest(plan));
    let status = report::classify(digest.as_deref(), last.as_ref());
    state
        .record_drift(
            tenant,
            digest.is_some(),
            digest.as_deref().unwrap_or(""),
            crate::state::now(),
        )
        .await?;
    Ok(status)
}

fn elapsed(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A tenant's output, printed whole: a heading with its status, its problems, and its plan when it has
/// changes.
fn block(d: &Done) -> String {
    let r = &d.result;
    let mut s = format!("── {} · {} · {}", r.tenant, r.path, r.status.words());
    if r.counts.total() > 0 {
        s.push_str(&format!(" ({} changes)", r.counts.total()));
    } else if !r.status.failed() {
        s.push_str(&format!(" ({} resources)", r.unchanged));
    }
    s.push('\n');
    s.push_str(&d.notes);
    for p in r.problems() {
        s.push_str(&format!("  error: {p}\n"));
    }
    if let Some(plan) = d.plan.as_ref().filter(|p| p.has_changes()) {
        s.push_str(&render::text(
            plan,
            Style {
                color: super::stdout_color(),
            },
        ));
    }
    s
}

/// The roll-up: counts by status, then the tenants of each status that needs attention.
fn rollup(report: &Report) -> String {
    let mut s = format!(
        "\nfalconer {}: {} tenants: {}\n",
        report.command,
        report.summary.tenants,
        report.summary.line()
    );
    let attention: HashSet<Status> = [
        Status::CouldNotCheck,
        Status::Error,
        Status::NewDrift,
        Status::StillDrifted,
        Status::Resolved,
        Status::Changes,
    ]
    .into();
    for status in report
        .summary
        .by_status
        .keys()
        .filter(|k| attention.contains(k))
    {
        let names: Vec<String> = report
            .tenants
            .iter()
            .filter(|r| r.status == *status)
            .map(|r| match r.counts.total() {
                0 => r.tenant.clone(),
                n => format!("{} ({n})", r.tenant),
            })
            .collect();
        s.push_str(&format!("  {}: {}\n", status.words(), names.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Status) -> TenantResult {
        TenantResult::failed("t".into(), "p".into(), status, String::new())
    }

    #[test]
    fn exit_codes_keep_unchecked_apart_from_drift() {
        let r = |s: &[Status]| s.iter().map(|&s| result(s)).collect::<Vec<_>>();
        let any = Verb::Drift {
            fail_on: FailOn::Any,
        };
        let new = Verb::Drift {
            fail_on: FailOn::New,
        };
        assert_eq!(exit_code(any, &r(&[Status::InSync])), exit::OK);
        let still = r(&[Status::InSync, Status::StillDrifted]);
        assert_eq!(exit_code(any, &still), exit::CHANGES);
        assert_eq!(exit_code(new, &still), exit::OK);
        assert_eq!(exit_code(new, &r(&[Status::NewDrift])), exit::CHANGES);
        let unchecked = r(&[Status::NewDrift, Status::CouldNotCheck]);
        assert_eq!(exit_code(any, &unchecked), exit::PARTIAL);
        let plan = |changes_fail| Verb::Plan { changes_fail };
        assert_eq!(exit_code(plan(false), &r(&[Status::Changes])), exit::OK);
        assert_eq!(exit_code(plan(true), &r(&[Status::Changes])), exit::CHANGES);
    }
}
