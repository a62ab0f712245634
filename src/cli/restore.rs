//! `falconer restore SOURCE --tenant T`: a backup (or an artifact) back into the live systems, as a plan
//! the user reads first.
//!
//! Preflight, always, before anything is written: the source is read and checked whole; the tenant must be
//! the source's and not suspended; each domain is restored, skipped (the backup could not read it: it is
//! never emptied) or not requested (`--domain`); the restored domains are planned against the live systems,
//! deleting nothing unless `--prune` (and then only what falconer manages); objects that exist and differ
//! from the backup are conflicts, refused (`--on-conflict fail`, exit 4), kept or overwritten. `--dry-run`
//! stops there. Then the apply engine runs the plan under the tenant's lock, journaled: one system's failure
//! leaves the others' changes done (exit 5, partial), and running the restore again completes the rest.

use std::path::PathBuf;
use std::time::Instant;

use super::apply::{self, Approval};
use super::backup::RepoArg;
use super::live::{self, Context, Desired};
use super::plan::PlanFormat;
use super::restore_map::{another_tenant, map_source};
use super::restore_show::{count_changes, print_outcome, show_preflight};
use super::{Output, exit, restore_guard};
use crate::manifest::{Manifest, Resource};
use crate::model::{Address, Domain, HazardCode, TenantStatus};
use crate::plan::{Action, Item, Options, Plan};
use crate::restore::report::{
    self, Conflict, Counts, DomainOutcome, DomainReport, Outcome, Report, SourceReport,
};
use crate::restore::{Disposition, Source, dispositions};
use crate::state::{Lock, State, Work};

/// What to do with objects that exist in the target and differ from the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnConflict {
    /// Refuse the restore (exit 4), listing them.
    Fail,
    /// Restore only what is missing; leave them as they are.
    Keep,
    /// Change them back to the backup.
    Overwrite,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// A backup id, `latest` (the tenant's newest backup that did not fail), or a file: a backup file
    /// (`backup export`) or an artifact of the platform ("1.0" or "1.0.0").
    pub source: Option<String>,
    /// Instead of SOURCE: the tenant's newest successful backup taken at or before this time (UTC,
    /// `2026-11-30T21:00:00Z`).
    #[arg(long, value_name = "TIME", conflicts_with = "source")]
    pub at: Option<String>,
    /// The tenant to restore into (the backup's own tenant). Required (optional only for `restore status`).
    #[arg(long, required = true)]
    pub tenant: Option<String>,
    /// Only these domains (default: every domain the backup holds).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<Domain>,
    #[arg(long, value_enum, default_value_t = OnConflict::Fail)]
    pub on_conflict: OnConflict,
    /// Also delete what falconer manages in the restored domains and the backup does not hold.
    #[arg(long)]
    pub prune: bool,
    /// Preflight only: show what the restore would do, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How the preflight is shown.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Write the restore's report (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Allow changes with this hazard code (repeat for several).
    #[arg(long, value_enum, value_name = "HAZARD")]
    pub allow: Vec<HazardCode>,
    /// Restore without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// After the restore, read the target again and compare it with the backup (exit 2 when they differ).
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub mapping: MapArgs,
    /// The tenant's manifest: its `tenant` block (naming, status) stands for the backup's, and its secret
    /// references (`{ env }`, `{ file }`) fill the secrets the backup could not carry.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Restore a production tenant outside its operational hours, for this reason (kept in the history).
    #[arg(long, value_name = "REASON")]
    pub break_glass: Option<String>,
    /// The current one-time code, where the profile's `[restore] totp_secret` asks for one.
    #[arg(long, value_name = "CODE")]
    pub mfa_code: Option<String>,
    /// The time to judge operational hours and codes by (tests' fake clock, RFC 3339 UTC).
    #[arg(long, hide = true)]
    pub now: Option<String>,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// An identifier map, for restoring another tenant's backup.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MapArgs {
    /// Restoring another tenant's backup: map a name of the source to the target's (`acme_app=globex_app`,
    /// `acme.=globex.` for a prefix); repeat for several. Replaces the proposal's entry for the same name.
    #[arg(long = "map", value_name = "FROM=TO")]
    pub map: Vec<String>,
    /// A file of map entries: JSON (the report's `proposed_map`, or `{"FROM": "TO"}`) or TOML (`"FROM" =
    /// "TO"` lines); `--map` entries go on top.
    #[arg(long, value_name = "FILE")]
    pub map_file: Option<PathBuf>,
    /// Restoring another tenant's backup: use the identifier map the preflight proposes (`--map` and
    /// `--map-file` entries go on top).
    #[arg(long)]
    pub accept_proposed_map: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// The running restore (its domains, pending or done), else the last one's outcome; from the state
    /// store, so another machine sharing it sees the same.
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub json: bool,
}

impl Args {
    pub(super) fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or_default()
    }
}

pub fn run(args: &Args, out: &Output, settings: &live::Settings) -> i32 {
    if let Some(Sub::Status(a)) = &args.command {
        return super::restore_status::status(a, out, &settings.state);
    }
    run_report(args, out, settings).0
}

/// `backup verify-restore ID --tenant T`: whether the live tenant is equivalent to the backup (exit 0) or
/// differs (exit 2, the differences listed): a restore's preflight that would overwrite every conflict.
pub fn verify_only(a: &VerifyArgs, out: &Output, settings: &live::Settings) -> i32 {
    let args = Args {
        command: None,
        source: Some(a.id.clone()),
        at: None,
        tenant: Some(a.tenant.clone()),
        domain: a.domain.clone(),
        on_conflict: OnConflict::Overwrite,
        prune: false,
        dry_run: true,
        format: a.format,
        report: None,
        allow: Vec::new(),
        auto_approve: false,
        verify: false,
        manifest: a.manifest.clone(),
        mapping: a.mapping.clone(),
        break_glass: None,
        mfa_code: None,
        now: None,
        repo: a.repo.clone(),
    };
    let (code, report) = run_report(&args, out, settings);
    let Some(report) = report.filter(|_| code == exit::OK) else {
        return code;
    };
    let c = &report.counts;
    if c.create + c.update + c.replace == 0 {
        println!(
            "Equivalent: tenant `{}` is as backup {} has it.",
            a.tenant, a.id
        );
        return exit::OK;
    }
    out.error(format!(
        "tenant `{}` differs from the backup: {} object(s) missing, {} changed (the plan above)",
        a.tenant,
        c.create,
        c.update + c.replace
    ));
    exit::CHANGES
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A backup id, `latest`, or a file (as for `restore`).
    pub id: String,
    #[arg(long)]
    pub tenant: String,
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<Domain>,
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    #[command(flatten)]
    pub mapping: MapArgs,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// Runs a restore; the exit code, and the report when the source could be read.
fn run_report(args: &Args, out: &Output, settings: &live::Settings) -> (i32, Option<Report>) {
    let rt = match live::runtime(out) {
        Ok(r) => r,
        Err(code) => return (code, None),
    };
    rt.block_on(async {
        let started = Instant::now();
        let started_at = crate::util::now();
        let mut source = match super::restore_source::resolve(
            args.source.as_deref(),
            args.at.as_deref(),
            args.tenant(),
            &args.repo,
            settings,
            out,
        )
        .await
        {
            Ok(s) => s,
            Err(code) => return unread(args, out, code),
        };
        let state = match State::open(&settings.state).await {
            Ok(s) => s,
            Err(e) => {
                out.error(e.to_string());
                return (exit::ERROR, None);
            }
        };
        let mapping = match map_source(args, &state, &mut source, out).await {
            Ok(m) => m,
            Err(code) => return (code, None),
        };
        let bases = match overlay(args, &mut source, out) {
            Ok(b) => b,
            Err(code) => return (code, None),
        };
        if mapping.is_none() && args.manifest.is_none() && source.tenant.id == args.tenant() {
            // The tenant's naming as the registry declares it (`tenant set`, or its last apply or restore)
            // is the target's scope; the source's fills what the registry does not say.
            if let Ok(mut known) = state.registered(args.tenant()).await {
                known.naming.fill_from(&source.tenant.naming);
                source.tenant.naming = known.naming;
            }
        }
        let mut report = new_report(args, &source);
        if let Some(m) = mapping {
            report.source.tenant = m.from_tenant;
            report.map = m.entries.into_iter().map(|e| (e.from, e.to)).collect();
            report.proposed_map = m.proposal;
        }
        let mut glass = None;
        let code = restore(
            args,
            out,
            settings,
            (&state, &source, &bases),
            &mut report,
            &mut glass,
        )
        .await;
        report.finished_at = crate::util::rfc3339(crate::util::now_millis().div_euclid(1000));
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        report.total();
        let code = finish(args, out, &report, code);
        if !args.dry_run {
            audit(&state, &report, started_at, glass, &source).await;
        }
        (code, Some(report))
    })
}

/// With `--manifest`: its tenant block replaces the source's, and its secret references fill the secrets
/// the source could not carry; the directory each filled resource's files are relative to.
fn overlay(args: &Args, source: &mut Source, out: &Output) -> Result<Bases, i32> {
    let Some(path) = &args.manifest else {
        return Ok(Bases::new());
    };
    let m = live::load(path, out)?;
    if m.manifest.tenant.id != source.tenant.id {
        out.error(format!(
            "{} is the manifest of tenant `{}`, the backup is of `{}`",
            path.display(),
            m.manifest.tenant.id,
            source.tenant.id
        ));
        return Err(exit::REFUSED);
    }
    source.tenant = m.manifest.tenant.clone();
    let by_address: std::collections::HashMap<String, &(crate::domains::Spec, PathBuf)> = m
        .specs
        .iter()
        .map(|e| (e.0.address().to_string(), e))
        .collect();
    let specs = by_address
        .iter()
        .map(|(a, (s, _))| (a.clone(), s))
        .collect();
    let mut bases = Bases::new();
    for section in &mut source.sections {
        for filled in section.fill_secrets(&specs) {
            let address = filled.split(' ').next().unwrap_or_default().to_string();
            if let Some((_, base)) = by_address.get(&address) {
                bases.insert(address, base.clone());
            }
        }
    }
    Ok(bases)
}

/// The directory a resource's secret files are relative to, by address (resources filled from a manifest).
type Bases = std::collections::HashMap<String, PathBuf>;

/// Leaves the restore in the history (and, after a success, the tenant's naming in the registry).
async fn audit(
    state: &State,
    report: &Report,
    started_at: i64,
    glass: Option<String>,
    source: &Source,
) {
    let domains = report
        .domains
        .iter()
        .filter(|d| {
            !matches!(
                d.outcome,
                DomainOutcome::NotRequested | DomainOutcome::Skipped
            )
        })
        .map(|d| d.domain.to_string())
        .collect();
    let a = super::tenant::Audit {
        kind: "restore",
        tenant: report.tenant.clone(),
        started_at,
        source: report.source.origin.clone(),
        digest: report.source.digest.clone(),
        map: serde_json::to_string(&report.map).unwrap_or_default(),
        domains,
        outcome: report.outcome.to_string(),
        reason: glass
            .map(|g| format!("break glass: {g}"))
            .or_else(|| report.message.clone())
            .unwrap_or_default(),
    };
    let named = (report.outcome == Outcome::Success).then_some(&source.tenant);
    super::tenant::record(state, a, named).await;
}

/// Prints the outcome, writes the report; the exit code.
fn finish(args: &Args, out: &Output, report: &Report, code: i32) -> i32 {
    if args.format == PlanFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print_outcome(report);
    }
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
        if let Err(e) = super::write_atomic(path, &text) {
            out.error(format!("cannot write the report {}: {e}", path.display()));
            return code.max(exit::ERROR);
        }
    }
    code
}

/// A source that could not be read, or failed its checks (said above): the report says so too.
fn unread(args: &Args, out: &Output, code: i32) -> (i32, Option<Report>) {
    let source = Source {
        tenant: crate::model::Tenant::new(""),
        origin: args
            .source
            .clone()
            .or_else(|| args.at.as_ref().map(|t| format!("--at {t}")))
            .unwrap_or_default(),
        backup_id: None,
        digest: String::new(),
        migrated_from: None,
        sections: Vec::new(),
    };
    let mut report = new_report(args, &source);
    report.outcome = match code {
        exit::REFUSED => Outcome::Refused,
        _ => Outcome::Failed,
    };
    report.message = Some(
        "the source could not be read, or failed its checks (see the errors); nothing was restored"
            .into(),
    );
    report.finished_at = report.started_at.clone();
    (finish(args, out, &report, code), Some(report))
}

fn new_report(args: &Args, source: &Source) -> Report {
    Report {
        format: report::FORMAT.into(),
        format_version: report::FORMAT_VERSION,
        tenant: args.tenant().to_string(),
        source: SourceReport {
            origin: source.origin.clone(),
            backup_id: source.backup_id.clone(),
            tenant: source.tenant.id.clone(),
            digest: source.digest.clone(),
            migrated_from: source.migrated_from.clone(),
        },
        outcome: Outcome::Refused,
        message: None,
        on_conflict: format!("{:?}", args.on_conflict).to_lowercase(),
        risk: None,
        risk_reason: None,
        prune: args.prune,
        map: Default::default(),
        proposed_map: Vec::new(),
        domains: Vec::new(),
        counts: Counts::default(),
        applied: 0,
        started_at: crate::util::rfc3339(crate::util::now_millis().div_euclid(1000)),
        finished_at: String::new(),
        duration_ms: 0,
        verified: None,
    }
}

/// Refuses the restore as a whole: the reason goes to the report and to stderr.
pub(super) fn refuse(out: &Output, report: &mut Report, message: String) -> i32 {
    out.error(&message);
    report.outcome = Outcome::Refused;
    report.message = Some(message);
    exit::REFUSED
}

async fn restore(
    args: &Args,
    out: &Output,
    settings: &live::Settings,
    (state, source, bases): (&State, &Source, &Bases),
    report: &mut Report,
    glass: &mut Option<String>,
) -> i32 {
    if source.tenant.id != args.tenant() {
        return another_tenant(args, out, state, source, report).await;
    }
    if let Err(message) = same_tenant(args, source) {
        return refuse(out, report, message);
    }
    if let Err(code) = super::tenant::refuse_suspended(state, args.tenant(), out).await {
        report.message = Some("the tenant is suspended in the tenant registry".into());
        return code;
    }
    // A dry run writes nothing: the production guard is for what writes.
    let production = match args.dry_run {
        true => false,
        false => match guard(args, settings, state, out, report).await {
            Ok((g, production)) => {
                *glass = g;
                production
            }
            Err(code) => return code,
        },
    };
    let (desired, restored) = desired_of(source, &args.domain, bases, report);
    if restored.is_empty() {
        report.outcome = Outcome::Failed;
        report.message = Some("no requested domain can be restored from this backup".into());
        out.error("nothing to restore: no requested domain can be restored from this backup (see each domain's reason)");
        return exit::ERROR;
    }
    if args.dry_run {
        return preflight(args, out, settings, state, &desired, &restored, report).await;
    }
    let lock = match apply::lock_tenant(state, args.tenant(), out).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let beat = apply::keep_alive(state, &lock);
    let run = Run {
        state,
        lock: &lock,
        production,
        id: crate::backup::new_id(crate::util::now_millis()),
    };
    progress_started(&run, args.tenant(), &restored).await;
    let code = locked(args, out, settings, &run, (&desired, &restored), report).await;
    if let Err(e) = state.work_ended(Work::Restore, &run.id).await {
        eprintln!("warning: could not record that the restore ended: {e}");
    }
    beat.abort();
    if let Err(e) = state.unlock(&lock).await {
        out.error(format!("could not release the lock: {e}"));
    }
    code
}

/// The source's tenant block must not say it is suspended.
fn same_tenant(args: &Args, source: &Source) -> Result<(), String> {
    if source.tenant.status == TenantStatus::Suspended {
        return Err(format!(
            "tenant `{}` is suspended (the backup's tenant block says so): nothing is restored into a suspended tenant",
            args.tenant()
        ));
    }
    Ok(())
}

/// The production guard; whether the tenant is a production one, and the break-glass reason used.
async fn guard(
    args: &Args,
    settings: &live::Settings,
    state: &State,
    out: &Output,
    report: &mut Report,
) -> Result<(Option<String>, bool), i32> {
    let environment = super::tenant::environment(state, args.tenant())
        .await
        .map_err(|e| {
            out.error(e);
            exit::ERROR
        })?;
    let now = match args.now.as_deref() {
        Some(t) => crate::backup::retention::parse_time(t).ok_or_else(|| {
            out.error(format!(
                "--now {t:?} is not a time like 2026-11-30T21:36:22Z"
            ));
            exit::ERROR
        })?,
        None => crate::util::now(),
    };
    let asked = restore_guard::Asked {
        tenant: args.tenant(),
        break_glass: args.break_glass.as_deref(),
        mfa_code: args.mfa_code.as_deref(),
        now,
    };
    match restore_guard::check(&asked, &environment, settings, state, out).await {
        Ok(glass) => Ok((glass, environment == restore_guard::PRODUCTION)),
        Err((code, refused)) => {
            if let Some(restore_guard::Refused(why)) = refused {
                report.outcome = Outcome::Refused;
                report.message = Some(why);
            }
            Err(code)
        }
    }
}

/// What a locked restore runs with.
struct Run<'a> {
    state: &'a State,
    lock: &'a Lock,
    production: bool,
    /// The restore's id in the state store's progress (`restore status`).
    id: String,
}

/// Records the restore as running, each restored domain pending (a failure to do so is a warning).
async fn progress_started(run: &Run<'_>, tenant: &str, restored: &[Domain]) {
    let names: Vec<String> = restored.iter().map(|d| d.to_string()).collect();
    let holder = run.lock.holder();
    if let Err(e) = run
        .state
        .work_started(Work::Restore, &run.id, tenant, &names, &holder)
        .await
    {
        eprintln!("warning: could not record the restore's progress: {e}");
    }
}

/// Records each restored domain's outcome in the progress rows.
async fn progress_done(run: &Run<'_>, report: &Report, restored: &[Domain]) {
    for d in report
        .domains
        .iter()
        .filter(|d| restored.contains(&d.domain))
    {
        let status = serde_json::to_value(d.outcome)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        if let Err(e) = run
            .state
            .work_progress(Work::Restore, &run.id, d.domain.as_str(), &status)
            .await
        {
            eprintln!("warning: could not record the restore's progress: {e}");
        }
    }
}

/// The desired state of the restored domains (the source's tenant block and their resources), and which
/// domains those are; every domain's disposition goes into the report.
fn desired_of(
    source: &Source,
    requested: &[Domain],
    bases: &Bases,
    report: &mut Report,
) -> (Desired, Vec<Domain>) {
    let mut manifest = Manifest::new(source.tenant.clone());
    let mut specs = Vec::new();
    let mut restored = Vec::new();
    for (domain, d) in dispositions(source, requested) {
        let (outcome, reason) = match &d {
            Disposition::Restore => (DomainOutcome::Planned, None),
            Disposition::NotRequested => (DomainOutcome::NotRequested, None),
            Disposition::Skipped(why) => (DomainOutcome::Skipped, Some(why.clone())),
        };
        let mut secrets_to_set = Vec::new();
        let mut out_of_scope = Vec::new();
        if let (Disposition::Restore, Some(section)) = (&d, source.section(domain)) {
            restored.push(domain);
            for spec in &section.resources {
                if !spec.in_scope(&source.tenant) {
                    out_of_scope.push(spec.address().to_string());
                    continue;
                }
                manifest.resources.push(Resource {
                    spec: spec.clone(),
                    span: None,
                });
                let base = bases.get(&spec.address().to_string()).cloned();
                specs.push((spec.clone(), base.unwrap_or_default()));
            }
            secrets_to_set = section
                .left_out()
                .into_iter()
                .map(|l| format!("{} {}", l.address, l.field))
                .collect();
        }
        report.domains.push(DomainReport {
            domain,
            outcome,
            reason,
            counts: Counts::default(),
            conflicts: Vec::new(),
            secrets_to_set,
            out_of_scope,
        });
    }
    (Desired { manifest, specs }, restored)
}

/// What the plan may delete: nothing, or with `--prune` what falconer manages in the restored domains.
async fn managed(
    args: &Args,
    state: &State,
    restored: &[Domain],
) -> Result<std::collections::HashSet<Address>, String> {
    if !args.prune {
        return Ok(Default::default());
    }
    let all = state
        .managed(args.tenant())
        .await
        .map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .filter(|a| restored.contains(&a.domain))
        .collect())
}

/// The plan of the restore and the conflicts it settles; `Err` is the exit code (reported).
struct Planned {
    cx: Context,
    plan: Plan,
    desired_items: Vec<Item>,
    live_items: Vec<Item>,
    opts: Options,
}

/// Connects, plans, settles conflicts, and shows the preflight.
async fn plan_restore(
    args: &Args,
    out: &Output,
    settings: &live::Settings,
    state: &State,
    (desired, restored): (&Desired, &[Domain]),
    report: &mut Report,
) -> Result<Planned, i32> {
    let error = |e: String| {
        out.error(e);
        exit::ERROR
    };
    let mut opts = Options {
        managed: Some(managed(args, state, restored).await.map_err(error)?),
        ..Options::default()
    };
    let cx = Context::open(settings, desired, &opts)
        .await
        .map_err(error)?;
    let (mut plan, mut desired_items, mut live_items) =
        cx.plan(desired, opts.clone()).await.map_err(error)?;
    refuse_unresolved(out, report, desired, (&desired_items, &live_items))?;
    let conflicts = settle_conflicts(args, state, &plan, report)
        .await
        .map_err(error)?;
    if args.on_conflict == OnConflict::Keep && !conflicts.is_empty() {
        opts.excludes = conflicts
            .iter()
            .map(|(_, c)| globset::escape(&c.address))
            .collect();
        (plan, desired_items, live_items) = cx.plan(desired, opts.clone()).await.map_err(error)?;
    }
    count_changes(&plan, &desired_items, report);
    let (risk, why) = crate::restore::report::Risk::of(&plan);
    report.risk = Some(risk);
    report.risk_reason = Some(why);
    show_preflight(args, &plan, report);
    if args.on_conflict == OnConflict::Fail && !conflicts.is_empty() {
        for (domain, _) in &conflicts {
            if let Some(d) = report.domain_mut(*domain) {
                d.outcome = DomainOutcome::Conflict;
            }
        }
        let list: Vec<&str> = conflicts.iter().map(|(_, c)| c.address.as_str()).collect();
        return Err(refuse(
            out,
            report,
            format!(
                "refused: {} object(s) exist and differ from the backup: {}; re-run with --on-conflict keep (leave them) or --on-conflict overwrite (restore them)",
                list.len(),
                list.join(", ")
            ),
        ));
    }
    Ok(Planned {
        cx,
        plan,
        desired_items,
        live_items,
        opts,
    })
}

/// The plan's conflicts, recorded in the report with how they are settled. What an earlier run of the tenant
/// left unfinished is completed, not a conflict (said on stderr).
async fn settle_conflicts(
    args: &Args,
    state: &State,
    plan: &Plan,
    report: &mut Report,
) -> Result<Vec<(Domain, Conflict)>, String> {
    let unfinished = state
        .unfinished_changes(args.tenant())
        .await
        .map_err(|e| e.to_string())?;
    let (resumed, conflicts): (Vec<_>, Vec<_>) = conflicts_of(plan)
        .into_iter()
        .partition(|(_, c)| unfinished.contains(&c.address));
    if !resumed.is_empty() {
        eprintln!(
            "note: {} object(s) an earlier restore or apply of the tenant left unfinished are completed, not conflicts: {}",
            resumed.len(),
            resumed
                .iter()
                .map(|(_, c)| c.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let resolution = match args.on_conflict {
        OnConflict::Fail => "refused",
        OnConflict::Keep => "kept",
        OnConflict::Overwrite => "overwritten",
    };
    for (domain, c) in &conflicts {
        if let Some(d) = report.domain_mut(*domain) {
            d.conflicts.push(Conflict {
                resolution: resolution.into(),
                ..c.clone()
            });
        }
    }
    Ok(conflicts)
}

/// Refuses (exit 4) a restore whose resources refer to objects that are neither restored nor live.
fn refuse_unresolved(
    out: &Output,
    report: &mut Report,
    desired: &Desired,
    (desired_items, live_items): (&[Item], &[Item]),
) -> Result<(), i32> {
    let present: std::collections::HashSet<Address> = desired_items
        .iter()
        .chain(live_items)
        .map(|i| i.address.clone())
        .collect();
    let specs: Vec<&crate::domains::Spec> = desired.specs.iter().map(|(s, _)| s).collect();
    let missing = crate::restore::unresolved(&desired.manifest.tenant, &specs, &present);
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|u| format!("{} (`{}`) refers to {}", u.address, u.field, u.target))
        .collect();
    Err(refuse(
        out,
        report,
        format!(
            "refused: objects the backup does not hold and that do not exist live are referred to: {}; create them first, or restore the domains that hold them",
            list.join("; ")
        ),
    ))
}

/// Updates and replaces: objects that exist and differ from the backup.
fn conflicts_of(plan: &Plan) -> Vec<(Domain, Conflict)> {
    plan.changes
        .iter()
        .filter(|c| matches!(c.action, Action::Update | Action::Replace))
        .map(|c| {
            let conflict = Conflict {
                address: c.address.to_string(),
                fields: c.fields.iter().map(|f| f.path.clone()).collect(),
                resolution: String::new(),
            };
            (c.kind.domain, conflict)
        })
        .collect()
}

/// `--dry-run`: the preflight only (no lock: nothing is written).
async fn preflight(
    args: &Args,
    out: &Output,
    settings: &live::Settings,
    state: &State,
    desired: &Desired,
    restored: &[Domain],
    report: &mut Report,
) -> i32 {
    match plan_restore(args, out, settings, state, (desired, restored), report).await {
        Ok(_) => {
            report.outcome = Outcome::DryRun;
            exit::OK
        }
        Err(code) => code,
    }
}

/// Under the tenant's lock: plan, gate, apply, record.
async fn locked(
    args: &Args,
    out: &Output,
    settings: &live::Settings,
    run: &Run<'_>,
    (desired, restored): (&Desired, &[Domain]),
    report: &mut Report,
) -> i32 {
    let p = match plan_restore(args, out, settings, run.state, (desired, restored), report).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    if !p.plan.has_changes() {
        mark(report, restored, DomainOutcome::Unchanged);
        report.outcome = Outcome::Success;
        return verify(args, out, &p, desired, report).await;
    }
    let approval = Approval {
        allow: &args.allow,
        auto_approve: args.auto_approve,
        question: format!("Restore these changes into tenant `{}`?", args.tenant()),
        expected: if run.production {
            args.tenant().to_string()
        } else {
            "yes".into()
        },
        off_terminal: "not on a terminal: pass --auto-approve to restore",
    };
    if let Err(code) = apply::gate(approval, out, &p.plan) {
        report.message = Some("not approved".into());
        return code;
    }
    let items = (p.desired_items.as_slice(), p.live_items.as_slice());
    let Some((run_id, outcome)) =
        apply::execute(out, &p.cx, desired, &p.plan, items, run.lock).await
    else {
        report.outcome = Outcome::Failed;
        return exit::ERROR;
    };
    report.applied = outcome.applied;
    settle(report, restored, &outcome);
    progress_done(run, report, restored).await;
    let done_items: Vec<Item> = p
        .desired_items
        .iter()
        .filter(|i| outcome.done.contains(&i.address.domain))
        .cloned()
        .collect();
    let recorded = apply::record_applied(out, &p.cx, args.tenant(), &p.plan, &done_items).await;
    let status = if outcome.errors.is_empty() && outcome.stopped.is_none() {
        "applied"
    } else {
        "failed"
    };
    apply::finish_run(&p.cx, &run_id, status).await;
    report_errors(out, &outcome);
    match (report.outcome, recorded) {
        (Outcome::Success, Ok(())) => verify(args, out, &p, desired, report).await,
        (Outcome::Success, Err(code)) => code,
        (Outcome::Partial, _) => exit::PARTIAL,
        _ if matches!(outcome.stopped, Some(crate::engine::Stopped::LockLost(_))) => exit::LOCKED,
        _ => exit::ERROR,
    }
}

fn mark(report: &mut Report, domains: &[Domain], outcome: DomainOutcome) {
    for d in domains {
        if let Some(r) = report.domain_mut(*d) {
            r.outcome = outcome;
        }
    }
}

/// Each restored domain's outcome from the engine's, and the restore's.
fn settle(report: &mut Report, restored: &[Domain], outcome: &crate::engine::Outcome) {
    for d in restored {
        let Some(r) = report.domain_mut(*d) else {
            continue;
        };
        if let Some(e) = outcome.errors.iter().find(|e| e.domain() == *d) {
            r.outcome = DomainOutcome::Error;
            r.reason = Some(e.to_string());
        } else if outcome.blocked.contains(d) {
            r.outcome = DomainOutcome::Error;
            r.reason = Some("not applied: its changes wait on a domain that failed".into());
        } else if outcome.done.contains(d) {
            r.outcome = DomainOutcome::Applied;
        } else if outcome.stopped.is_some() {
            r.outcome = DomainOutcome::Error;
            r.reason = outcome.stopped.as_ref().map(|s| s.to_string());
        } else {
            r.outcome = DomainOutcome::Unchanged;
        }
    }
    let failed = restored
        .iter()
        .filter(|d| {
            report
                .domains
                .iter()
                .any(|r| r.domain == **d && r.outcome == DomainOutcome::Error)
        })
        .count();
    report.outcome = match failed {
        0 => Outcome::Success,
        n if n == restored.len() => Outcome::Failed,
        _ => Outcome::Partial,
    };
}

fn report_errors(out: &Output, outcome: &crate::engine::Outcome) {
    for e in &outcome.errors {
        out.error(e.to_string());
    }
    if let Some(s) = &outcome.stopped {
        out.error(s.to_string());
    }
    if !outcome.errors.is_empty() || outcome.stopped.is_some() {
        eprintln!(
            "note: the journal keeps what was done; run the same restore again to complete the rest"
        );
    }
}

/// `--verify`: plans the restored domains again; any change left is a difference (exit 2).
async fn verify(
    args: &Args,
    out: &Output,
    p: &Planned,
    desired: &Desired,
    report: &mut Report,
) -> i32 {
    if !args.verify {
        return exit::OK;
    }
    let again = match p.cx.plan(desired, p.opts.clone()).await {
        Ok((plan, _, _)) => plan,
        Err(e) => {
            out.error(format!(
                "restored, but could not read the target again to verify: {e}"
            ));
            return exit::ERROR;
        }
    };
    report.verified = Some(!again.has_changes());
    if !again.has_changes() {
        println!("Verified: the target is equivalent to the backup.");
        return exit::OK;
    }
    let list: Vec<String> = again
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} ({})",
                c.address,
                format!("{:?}", c.action).to_lowercase()
            )
        })
        .collect();
    out.error(format!(
        "verify: the target differs from the backup after the restore: {}",
        list.join(", ")
    ));
    exit::CHANGES
}
