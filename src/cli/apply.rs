//! `falconer apply PATH|PLANFILE [--auto-approve] [--allow HAZARD]...`
//!
//! Refuses a suspended tenant (exit 4), takes the tenant's lock (exit 3 when another run holds it),
//! plans against the live systems, refuses hazards not allowed and stale saved plans (exit 4), asks for
//! confirmation on a terminal, then runs the plan's steps through the engine (`crate::engine`), journaled,
//! and records what falconer now manages.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::live::{self, Context};
use super::tenant::Audit;
use super::{Output, exit};
use crate::engine;
use crate::model::{Address, HazardCode, TenantStatus};
use crate::plan::render::{self, Style};
use crate::plan::{Action, Options, Plan};
use crate::state::{Acquired, Lock, Owner, State, StateError};

/// How long a lock lasts without a heartbeat.
pub const LOCK_TTL: Duration = Duration::from_secs(300);

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// A manifest (file or directory), or a plan saved with `plan -o`; for a fleet, several, a directory of
    /// tenants or of saved plans, globs or a fleet file (docs/fleets.md).
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Allow changes with this hazard code (repeat for several).
    #[arg(long, value_enum, value_name = "HAZARD")]
    pub allow: Vec<HazardCode>,
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    #[arg(long, value_name = "ADDR")]
    pub exclude: Vec<String>,
    /// Fleets: tenants applied at once, each by a falconer process of its own, its output printed whole
    /// when it ends (with --auto-approve; without it, one after another, asking for each).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallelism: usize,
}

impl Args {
    /// The one manifest or saved plan of a single-tenant apply.
    fn path(&self) -> &Path {
        &self.paths[0]
    }
}

/// A saved plan, if the path is one.
pub(super) fn saved_plan(path: &Path) -> Option<Plan> {
    if !path.is_file() || path.extension().is_none_or(|e| e != "json") {
        return None;
    }
    // A plan has `digests`, which no manifest has: a JSON manifest does not parse as one.
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

pub fn run(args: &Args, out: &Output, settings: &live::Settings) -> i32 {
    if let Some(code) = super::fleet_each::apply(args, out, settings) {
        return code;
    }
    one(args, out, settings)
}

/// Applies one tenant: `args.paths[0]`.
pub(super) fn one(args: &Args, out: &Output, settings: &live::Settings) -> i32 {
    let saved = saved_plan(args.path());
    let manifest_path = match manifest_of(args, saved.as_ref(), out) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let desired = match live::load(&manifest_path, out) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let tenant = desired.manifest.tenant.clone();
    if tenant.status == TenantStatus::Suspended {
        out.error(format!(
            "tenant `{}` is suspended: nothing is applied to a suspended tenant",
            tenant.id
        ));
        return exit::REFUSED;
    }
    let rt = match live::runtime(out) {
        Ok(r) => r,
        Err(code) => return code,
    };
    rt.block_on(async {
        let (targets, excludes) = selection(args, saved.as_ref());
        let reach = Options {
            targets,
            excludes,
            managed: None,
        };
        let started_at = crate::util::now();
        if let Err(code) = registry_allows(settings, &tenant, &manifest_path, out).await {
            return code;
        }
        let cx = match Context::open(settings, &desired, &reach).await {
            Ok(c) => c,
            Err(e) => {
                out.error(e);
                return exit::ERROR;
            }
        };
        let lock = match lock_tenant(&cx.state, &tenant.id, out).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        let beat = keep_alive(&cx.state, &lock);
        let code = apply_locked(
            args,
            out,
            &cx,
            &desired,
            saved.as_ref(),
            &manifest_path,
            &lock,
        )
        .await;
        beat.abort();
        if let Err(e) = cx.state.unlock(&lock).await {
            out.error(format!("could not release the lock: {e}"));
        }
        let audit = Audit {
            kind: "apply",
            tenant: tenant.id.clone(),
            started_at,
            source: manifest_path.display().to_string(),
            digest: digest_of(&desired),
            map: String::new(),
            domains: domains_of(&desired),
            outcome: outcome_of(code).into(),
            reason: String::new(),
        };
        let named = (code == exit::OK).then_some(&tenant);
        super::tenant::record(&cx.state, audit, named).await;
        code
    })
}

/// Refuses a tenant the registry says is suspended (before any system is reached), and records the refusal.
async fn registry_allows(
    settings: &live::Settings,
    tenant: &crate::model::Tenant,
    manifest_path: &Path,
    out: &Output,
) -> Result<(), i32> {
    let state = State::open(&settings.state).await.map_err(|e| {
        out.error(e.to_string());
        exit::ERROR
    })?;
    let Err(code) = super::tenant::refuse_suspended(&state, &tenant.id, out).await else {
        return Ok(());
    };
    let audit = Audit {
        kind: "apply",
        tenant: tenant.id.clone(),
        started_at: crate::util::now(),
        source: manifest_path.display().to_string(),
        digest: String::new(),
        map: String::new(),
        domains: Vec::new(),
        outcome: outcome_of(code).into(),
        reason: "the tenant is suspended in the tenant registry".into(),
    };
    super::tenant::record(&state, audit, None).await;
    Err(code)
}

/// The history's word for an exit code.
pub(super) fn outcome_of(code: i32) -> &'static str {
    match code {
        exit::OK => "success",
        exit::REFUSED | exit::LOCKED => "refused",
        exit::PARTIAL => "partial",
        _ => "failed",
    }
}

/// SHA-256 of the desired state as a JSON document.
fn digest_of(desired: &live::Desired) -> String {
    use sha2::Digest;
    let doc = crate::manifest::write::to_document(&desired.manifest);
    crate::util::hex(&sha2::Sha256::digest(doc.to_string().as_bytes()))
}

fn domains_of(desired: &live::Desired) -> Vec<String> {
    let mut d: Vec<String> = desired
        .specs
        .iter()
        .map(|(s, _)| s.meta().domain.to_string())
        .collect();
    d.sort();
    d.dedup();
    d
}

/// The manifest to apply: the argument, or the one a saved plan was made from (refused when the plan was
/// made against an export rather than the live systems).
fn manifest_of(args: &Args, saved: Option<&Plan>, out: &Output) -> Result<PathBuf, i32> {
    let Some(p) = saved else {
        return Ok(args.path().to_path_buf());
    };
    match &p.inputs {
        Some(i) if i.against.is_none() => Ok(PathBuf::from(&i.manifest)),
        Some(i) => {
            out.error(format!(
                "{} was planned against {}, not the live systems: plan against them (`falconer plan {} -o FILE`) to apply",
                args.path().display(),
                i.against.as_deref().unwrap_or_default(),
                i.manifest
            ));
            Err(exit::REFUSED)
        }
        None => {
            out.error(format!(
                "{} does not say which manifest it was made from",
                args.path().display()
            ));
            Err(exit::ERROR)
        }
    }
}

/// Takes the tenant's lock (an expired one is taken over, with a warning).
pub(super) async fn lock_tenant(state: &State, tenant: &str, out: &Output) -> Result<Lock, i32> {
    match take_lock(state, tenant).await {
        Ok(Acquired::Fresh(l)) => Ok(l),
        Ok(Acquired::TakenOver { lock, previous }) => {
            eprintln!(
                "warning: took over the expired lock of {}",
                previous.holder()
            );
            Ok(lock)
        }
        Err(StateError::Locked { tenant, holder }) => {
            out.error(format!(
                "tenant `{tenant}` is locked by {holder}; wait for that run, or break a stale lock with `falconer lock break {tenant}`"
            ));
            Err(exit::LOCKED)
        }
        Err(e) => {
            out.error(e.to_string());
            Err(exit::ERROR)
        }
    }
}

/// Keeps the lock alive while a long step runs (the engine also renews it before each level, and stops
/// when it is gone); abort the task when done.
pub(super) fn keep_alive(state: &State, lock: &Lock) -> tokio::task::JoinHandle<()> {
    let (state, lock) = (state.clone(), lock.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LOCK_TTL / 5).await;
            match state.heartbeat(&lock, LOCK_TTL).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => eprintln!("warning: could not renew the lock: {e}"),
            }
        }
    })
}

/// Starts a run in the journal and applies the plan's steps; `None` (reported) when the run cannot start.
pub(super) async fn execute(
    out: &Output,
    cx: &Context,
    desired: &live::Desired,
    plan: &Plan,
    (desired_items, live_items): (&[crate::plan::Item], &[crate::plan::Item]),
    lock: &Lock,
) -> Option<(String, engine::Outcome)> {
    let tenant = &desired.manifest.tenant.id;
    let bases = desired
        .specs
        .iter()
        .map(|(s, b)| (s.address(), b.clone()))
        .collect();
    let run = match cx.state.start_run(tenant, &plan.digests.desired).await {
        Ok(r) => r,
        Err(e) => {
            out.error(e.to_string());
            return None;
        }
    };
    if let Err(e) = cx.state.resume_runs(tenant, &run).await {
        eprintln!("warning: could not mark the earlier unfinished runs as resumed: {e}");
    }
    let changing: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
    if let Err(e) = cx.state.record_run_changes(&run, &changing).await {
        out.error(format!("cannot record what the run changes: {e}"));
        return None;
    }
    let steps = engine::steps(plan);
    let journal = engine::Journal {
        state: &cx.state,
        run: &run,
        lock: Some((lock, LOCK_TTL)),
    };
    let providers: Vec<&live::Live> = cx.live.iter().map(AsRef::as_ref).collect();
    let outcome = engine::run(
        &steps,
        &providers,
        desired_items,
        live_items,
        &bases,
        &journal,
    )
    .await;
    Some((run, outcome))
}

/// The `--target` and `--exclude` patterns: a saved plan is made again with those it was made with.
fn selection(args: &Args, saved: Option<&Plan>) -> (Vec<String>, Vec<String>) {
    match saved.and_then(|s| s.inputs.as_ref()) {
        Some(i) => (i.targets.clone(), i.excludes.clone()),
        None => (args.target.clone(), args.exclude.clone()),
    }
}

/// Takes the tenant's lock. A lock left by a process of this host that no longer runs (killed, crashed)
/// is broken first, with a warning: its run cannot be going on.
async fn take_lock(state: &State, tenant: &str) -> Result<Acquired, StateError> {
    let me = Owner::current();
    match state.lock(tenant, &me, LOCK_TTL).await {
        Err(StateError::Locked { .. }) => {
            let Some(held) = state.lock_of(tenant).await? else {
                return state.lock(tenant, &me, LOCK_TTL).await;
            };
            // Only where the pid means the same process: same host name, boot and pid namespace.
            if holder_is_gone(&held, &me) {
                eprintln!(
                    "warning: broke the lock of {}: that process no longer runs on this host",
                    held.holder()
                );
                // Only that lock: another run may have broken it and taken the tenant meanwhile.
                state.unlock(&held).await?;
                return state.lock(tenant, &me, LOCK_TTL).await;
            }
            state.lock(tenant, &me, LOCK_TTL).await
        }
        other => other,
    }
}

/// Whether a lock's holder is a process of this host (same host name, boot and pid namespace) that no
/// longer runs: only then does the pid mean what it says.
pub(super) fn holder_is_gone(held: &Lock, me: &Owner) -> bool {
    held.host == me.host
        && !me.scope.is_empty()
        && held.scope == me.scope
        && !crate::util::process_runs(held.pid)
}

async fn apply_locked(
    args: &Args,
    out: &Output,
    cx: &Context,
    desired: &live::Desired,
    saved: Option<&Plan>,
    manifest_path: &Path,
    lock: &Lock,
) -> i32 {
    let tenant = &desired.manifest.tenant;
    if let Err(code) = note_unfinished(out, cx, &tenant.id).await {
        return code;
    }
    let (targets, excludes) = selection(args, saved);
    let opts = Options {
        targets: targets.clone(),
        excludes: excludes.clone(),
        managed: None,
    };
    let (mut plan, desired_items, live_items) = match cx.plan(desired, opts).await {
        Ok(p) => p,
        Err(e) => {
            out.error(e);
            return exit::ERROR;
        }
    };
    plan.inputs = Some(crate::plan::Inputs {
        manifest: manifest_path.display().to_string(),
        against: None,
        targets,
        excludes,
    });
    if let Some(s) = saved
        && (s.digests != plan.digests || s.changes != plan.changes)
    {
        out.error(format!(
            "{} is stale: the manifest or the live state changed since it was planned; plan again",
            args.path().display()
        ));
        return exit::REFUSED;
    }
    let color = super::stdout_color();
    print!("{}", render::text(&plan, Style { color }));
    if !plan.has_changes() {
        return finish_noop(out, cx, &tenant.id, &desired_items, &live_items).await;
    }
    let approval = Approval {
        allow: &args.allow,
        auto_approve: args.auto_approve || saved.is_some(),
        question: format!("Apply these changes to tenant `{}`?", tenant.id),
        expected: "yes".into(),
        off_terminal: "not on a terminal: pass --auto-approve, or apply a plan saved with `plan -o FILE`",
    };
    if let Err(code) = gate(approval, out, &plan) {
        return code;
    }
    let Some((run, outcome)) =
        execute(out, cx, desired, &plan, (&desired_items, &live_items), lock).await
    else {
        return exit::ERROR;
    };
    if !outcome.errors.is_empty() || outcome.stopped.is_some() {
        return stopped(out, cx, &run, &outcome).await;
    }
    if let Err(code) = record_applied(out, cx, &tenant.id, &plan, &desired_items).await {
        return code;
    }
    finish_run(cx, &run, "applied").await;
    println!(
        "Applied: {} change(s) to tenant `{}`.",
        outcome.applied, tenant.id
    );
    exit::OK
}

/// Says so when earlier runs of the tenant did not finish (this run completes their work).
pub(super) async fn note_unfinished(out: &Output, cx: &Context, tenant: &str) -> Result<(), i32> {
    match cx.state.unfinished_runs(tenant).await {
        Ok(runs) if !runs.is_empty() => {
            eprintln!(
                "note: {} earlier run(s) of tenant `{tenant}` did not finish; this run plans from the live state and completes their work",
                runs.len(),
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            out.error(e.to_string());
            Err(exit::ERROR)
        }
    }
}

/// What lets a plan go on: the hazards allowed, and whether it is approved already (else a person is asked).
pub(super) struct Approval<'a> {
    pub allow: &'a [HazardCode],
    pub auto_approve: bool,
    /// The question asked on a terminal, and the answer that goes on.
    pub question: String,
    pub expected: String,
    /// The error off a terminal, when not approved.
    pub off_terminal: &'static str,
}

/// Refuses a plan with impossible changes or hazards not allowed, and asks a person to confirm unless
/// `--auto-approve` or a saved plan says so; the exit code when the apply does not go on.
pub(super) fn gate(approval: Approval<'_>, out: &Output, plan: &Plan) -> Result<(), i32> {
    if plan.summary.hazards.contains_key(&HazardCode::Impossible) {
        out.error("refused: the plan has changes that cannot be made (IMPOSSIBLE); change the manifest (see the plan above)");
        return Err(exit::REFUSED);
    }
    let refused: Vec<HazardCode> = plan
        .summary
        .hazards
        .keys()
        .filter(|h| !approval.allow.contains(h))
        .copied()
        .collect();
    if !refused.is_empty() {
        let list: Vec<String> = refused.iter().map(|h| h.to_string()).collect();
        out.error(format!(
            "refused: the plan has hazards that are not allowed: {}; re-run with {} after reading what each would do",
            list.join(", "),
            list.iter().map(|h| format!("--allow {h}")).collect::<Vec<_>>().join(" ")
        ));
        return Err(exit::REFUSED);
    }
    if approval.auto_approve {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        out.error(approval.off_terminal);
        return Err(exit::ERROR);
    }
    print!(
        "{} Type {} to go on: ",
        approval.question, approval.expected
    );
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() != approval.expected {
        eprintln!("Nothing applied.");
        return Err(exit::OK);
    }
    Ok(())
}

/// Records in the state store what the apply made managed, removed, and the secrets it set or removed;
/// each failure is reported.
pub(super) async fn record_applied(
    out: &Output,
    cx: &Context,
    tenant: &str,
    plan: &Plan,
    desired_items: &[crate::plan::Item],
) -> Result<(), i32> {
    let added: Vec<Address> = desired_items.iter().map(|i| i.address.clone()).collect();
    let removed: Vec<Address> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.clone())
        .collect();
    let failed = if let Err(e) = cx.state.update_managed(tenant, &added, &removed).await {
        format!("the state store could not record it: {e}; the next apply records it")
    } else if let Err(e) = cx
        .state
        .record_secrets(tenant, &live::secrets_set(plan, desired_items))
        .await
    {
        format!(
            "the state store could not record the secrets set: {e}; a later change of them may go unnoticed"
        )
    } else if let Err(e) = cx
        .state
        .forget_secrets(tenant, &live::secrets_gone(plan, desired_items))
        .await
    {
        format!(
            "the state store could not forget the secrets removed: {e}; the next plan may show them again"
        )
    } else {
        return Ok(());
    };
    out.error(format!("applied, but {failed}"));
    Err(exit::ERROR)
}

/// Nothing to change: still record that falconer manages what the manifest declares and exists.
async fn finish_noop(
    out: &Output,
    cx: &Context,
    tenant: &str,
    desired: &[crate::plan::Item],
    live: &[crate::plan::Item],
) -> i32 {
    let live: std::collections::HashSet<&Address> = live.iter().map(|l| &l.address).collect();
    let present: Vec<Address> = desired
        .iter()
        .filter(|d| live.contains(&d.address))
        .map(|d| d.address.clone())
        .collect();
    if let Err(e) = cx.state.update_managed(tenant, &present, &[]).await {
        out.error(format!(
            "nothing to change, but the state store could not record what falconer manages: {e}"
        ));
        return exit::ERROR;
    }
    exit::OK
}

/// Records how a run ended; a failure to do so is reported (the run stays listed as unfinished, and the next
/// apply of the tenant completes it).
pub(super) async fn finish_run(cx: &Context, run: &str, status: &str) {
    if let Err(e) = cx.state.finish_run(run, status).await {
        eprintln!("warning: could not record that run {run} {status}: {e}");
    }
}

/// A run that failed or stopped before its end: why, and what was done. A lost lock is exit 3.
async fn stopped(out: &Output, cx: &Context, run: &str, outcome: &engine::Outcome) -> i32 {
    finish_run(cx, run, "failed").await;
    for e in &outcome.errors {
        out.error(e.to_string());
    }
    if let Some(s) = &outcome.stopped {
        out.error(format!(
            "{s}; the journal keeps what was done, and the next apply completes the rest"
        ));
    }
    if !outcome.done.is_empty() {
        let done: Vec<&str> = outcome.done.iter().map(|d| d.as_str()).collect();
        eprintln!(
            "note: the changes of {} were applied; the next apply completes the rest",
            done.join(", ")
        );
    }
    match &outcome.stopped {
        Some(engine::Stopped::LockLost(_)) if outcome.errors.is_empty() => exit::LOCKED,
        _ => exit::ERROR,
    }
}
