//! `plan` and `drift` over a fleet (docs/fleets.md): the tenants the paths name, this job's share of them
//! (a shard), at most `parallelism` at once, all sharing one connection to each system (per connection
//! profile) and one state store. Each tenant's result is reported through the events as it is done; the
//! drift history (each tenant's last check) is read and replaced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::future::join_all;

use super::live::{Context, Desired, Live, Settings, desired_of};
use super::{Error, Events};
use crate::domains::provider::Provider;
use crate::fleet::report::{self, FailOn, LastDrift, Status, SystemLine, TenantResult};
use crate::fleet::{Member, Shard};
use crate::manifest::{self, LoadOptions};
use crate::model::{Domain, Tenant};
use crate::plan::render;
use crate::plan::{Options, Plan};
use crate::state::State;

/// What runs over the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `plan`: `changes_fail` is `--detailed-exitcode`.
    Plan { changes_fail: bool },
    /// `drift`, against each tenant's last result in the state store.
    Drift { fail_on: FailOn },
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Plan { .. } => "plan",
            Verb::Drift { .. } => "drift",
        }
    }

    pub fn failed(self) -> Status {
        match self {
            Verb::Plan { .. } => Status::Error,
            Verb::Drift { .. } => Status::CouldNotCheck,
        }
    }
}

/// A fleet run.
#[derive(Debug, Clone)]
pub struct Request {
    pub verb: Verb,
    pub targets: Vec<String>,
    pub excludes: Vec<String>,
    /// `plan -o DIR`: where each tenant's plan with changes is saved, as TENANT.plan.json.
    pub save: Option<PathBuf>,
    /// Tenants checked at once.
    pub parallelism: usize,
    /// Only this job's share of the tenants (`K/N`).
    pub shard: Option<String>,
    /// A drift run shared with other runners (the agents): each tenant checked under a claim.
    pub share: Option<Share>,
}

impl Request {
    /// A run of `verb` over every tenant, `parallelism` at once: no targets, no shard, nothing saved.
    pub fn of(verb: Verb, parallelism: usize) -> Request {
        Request {
            verb,
            targets: Vec::new(),
            excludes: Vec::new(),
            save: None,
            parallelism,
            shard: None,
            share: None,
        }
    }
}

/// A drift run shared with other runners: each tenant's check is claimed for `slot` (the agents' cycle)
/// under a lease renewed while it runs, and its result written only under that claim; a tenant another
/// runner holds, or checked in this slot, is left to it.
#[derive(Debug, Clone)]
pub struct Share {
    pub slot: i64,
    /// Who claims: unique per agent.
    pub holder: String,
    pub lease: std::time::Duration,
    /// Once cancelled, no tenant is claimed any more (what is held runs on).
    pub stop: super::Cancel,
    /// Set when a claim failed (the state store did not answer): the run claims nothing more.
    pub trouble: Arc<std::sync::atomic::AtomicBool>,
}

/// The claims' job name of drift checks.
pub const DRIFT_JOB: &str = "drift";

/// What a fleet run did.
#[derive(Debug)]
pub struct Outcome {
    /// Each tenant's result, by tenant id.
    pub results: Vec<TenantResult>,
    pub shard: Option<Shard>,
    pub started_at: String,
    pub finished_at: String,
}

/// The tenants of this run (its shard's share), loaded.
pub fn tenants(req: &Request, members: Vec<Member>) -> Result<(Vec<Loaded>, Option<Shard>), Error> {
    let shard = req
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(|e| Error::Other(e.to_string()))?;
    let tenants = load(members)
        .into_iter()
        .filter(|t| shard.is_none_or(|s| s.owns(&t.id)))
        .collect();
    Ok((tenants, shard))
}

/// Checks every tenant of the run; each result goes to `events` as it is done.
pub async fn run(
    settings: &Settings,
    req: &Request,
    (tenants, shard): (Vec<Loaded>, Option<Shard>),
    events: &dyn Events,
) -> Result<Outcome, Error> {
    let state = State::open(&settings.state).await?;
    run_in(settings, &state, req, (tenants, shard), events).await
}

/// [`run`], with the state store already open (the agent keeps one for all its cycles).
pub async fn run_in(
    settings: &Settings,
    state: &State,
    req: &Request,
    (tenants, shard): (Vec<Loaded>, Option<Shard>),
    events: &dyn Events,
) -> Result<Outcome, Error> {
    let systems = Systems::new(settings, &tenants);
    let started_at = crate::util::rfc3339(crate::util::now());
    let mut results = run_all(req, &tenants, state, &systems, events).await;
    results.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(Outcome {
        results,
        shard,
        started_at,
        finished_at: crate::util::rfc3339(crate::util::now()),
    })
}

/// A member once its manifest is read.
pub struct Loaded {
    pub member: Member,
    /// The manifest's tenant id, else the path.
    pub id: String,
    desired: Result<Desired, String>,
    /// Warnings of the manifest, as text.
    notes: String,
}

/// What a tenant's check gave: its result, the plan (for the text output), and its manifest's warnings.
pub struct Checked {
    pub result: TenantResult,
    pub plan: Option<Plan>,
    pub notes: String,
    /// Its drift result could not be written (the state store failed, or its claim was another
    /// runner's by then).
    pub unwritten: bool,
}

/// Checks every tenant, at most `--parallelism` at once, printing each one's output when it is done.
async fn run_all(
    job: &Request,
    tenants: &[Loaded],
    state: &State,
    systems: &Systems<'_>,
    events: &dyn Events,
) -> Vec<TenantResult> {
    let order: Vec<usize> = (0..tenants.len()).collect();
    let mut done = crate::util::each_of(&order, |&i| async move {
        let t = &tenants[i];
        let kept = match &job.share {
            None => Some(kept(job, t, state, systems, None, events).await),
            Some(share) => shared(share, (job, t), state, systems, events).await,
        };
        (i, kept)
    })
    .buffer_unordered(job.parallelism.max(1));
    // Each tenant is told in the fleet's order, whichever finished first: a finished one waits for those
    // before it (a tenant left to another runner is passed over).
    let mut waiting: std::collections::BTreeMap<usize, Option<Checked>> = Default::default();
    let (mut told, mut results) = (0, Vec::new());
    while let Some((i, d)) = done.next().await {
        waiting.insert(i, d);
        while let Some(d) = waiting.remove(&told) {
            told += 1;
            if let Some(d) = d {
                events.tenant_checked(&d);
                results.push(d.result);
            }
        }
    }
    results
}

/// A tenant checked, and (`drift`) its records written, under `fence` when it was claimed; `None` when
/// the claim was no longer this runner's at the write (nothing written).
async fn kept(
    job: &Request,
    t: &Loaded,
    state: &State,
    systems: &Systems<'_>,
    fence: Option<&crate::state::Fence>,
    events: &dyn Events,
) -> Checked {
    events.tenant_started(&t.id, &t.member.path.display().to_string());
    let mut checked = check(job, t, state, systems).await;
    if let Verb::Drift { .. } = job.verb
        && let Err(e) = remember(state, &checked, fence).await
    {
        checked.unwritten = true;
        let e = format!("warning: the drift result could not be recorded: {e}\n");
        checked.notes.push_str(&e);
    }
    checked
}

/// A tenant's check in a shared run: claimed (else left to the runner that holds it or did it), run while
/// the claim's lease is renewed, dropped before it writes once the lease cannot be renewed. A check whose
/// result could not be written is not done: it is left for the next pass (of any runner), not told.
async fn shared(
    share: &Share,
    (job, t): (&Request, &Loaded),
    state: &State,
    systems: &Systems<'_>,
    events: &dyn Events,
) -> Option<Checked> {
    let trouble = &share.trouble;
    if share.stop.is_cancelled() || trouble.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let lease = i64::try_from(share.lease.as_secs()).unwrap_or(i64::MAX);
    let claimed = state
        .claims()
        .claim(
            (DRIFT_JOB, &t.id, share.slot),
            &share.holder,
            (crate::util::now(), lease),
        )
        .await;
    let fence = match claimed {
        Ok(Some(f)) => f,
        Ok(None) => return None,
        Err(e) => {
            if !trouble.swap(true, std::sync::atomic::Ordering::Relaxed) {
                events.warning(&format!("claims stopped: {}: {e}", t.id));
            }
            return None;
        }
    };
    if fence.taken_over {
        events.note(&format!(
            "{}: taken over (its runner's lease ran out)",
            t.id
        ));
    }
    let work = kept(job, t, state, systems, Some(&fence), events);
    let why = match leased(state, &fence, share.lease, work).await {
        Some(c) if !c.unwritten => return Some(c),
        Some(c) => c.notes.lines().last().unwrap_or_default().to_string(),
        None => "its claim could not be renewed (the state store did not answer, or another runner took it over)".into(),
    };
    events.warning(&format!(
        "{}: the check's result is not written, the tenant is left to the next pass: {}",
        t.id,
        why.trim_start_matches("warning: ")
    ));
    None
}

/// Runs `work` while the claim is renewed every third of its lease; `None` (the work dropped) once the
/// claim was taken over, or its lease ran out without a renewal.
async fn leased<T>(
    state: &State,
    fence: &crate::state::Fence,
    lease: std::time::Duration,
    work: impl Future<Output = T>,
) -> Option<T> {
    let secs = i64::try_from(lease.as_secs()).unwrap_or(i64::MAX);
    let renew = || state.claims().renew(fence, (crate::util::now(), secs));
    let kept = super::lease::Lease {
        every: (lease / 3).max(std::time::Duration::from_millis(100)),
        length: lease,
    };
    super::lease::while_renewed(kept, renew, |_| {}, work)
        .await
        .ok()
}

/// Reads every member's manifest (problems kept as text); a tenant id declared twice is an error of the
/// later member.
fn load(members: Vec<Member>) -> Vec<Loaded> {
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    members
        .into_iter()
        .map(|member| {
            let loaded = manifest::load_path(&member.path, LoadOptions::default());
            let notes: String = loaded
                .issues
                .iter()
                .map(|i| i.short(&loaded.sources) + "\n")
                .collect();
            let desired = desired_of(&loaded).ok_or_else(|| notes.trim_end().to_string());
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
    groups: Mutex<HashMap<PathBuf, Arc<Settings>>>,
    cells: Mutex<HashMap<SystemKey, Arc<Connection>>>,
    /// The run's tenants, by connection profile (`None`: the command's).
    tenants: HashMap<Option<PathBuf>, Vec<Tenant>>,
}

/// A system of a connection profile (`None`: the command's).
type SystemKey = (Option<PathBuf>, Domain);

type Connection = tokio::sync::OnceCell<Result<Arc<Live>, Arc<Error>>>;

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
            groups: Mutex::new(HashMap::new()),
            cells: Mutex::new(HashMap::new()),
            tenants,
        }
    }

    /// The shared connection to a system, for a tenant of the group with `profile` (the command's without).
    async fn get(&self, profile: Option<&Path>, domain: Domain) -> Result<Arc<Live>, Arc<Error>> {
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((profile.map(Path::to_path_buf), domain))
            .or_default()
            .clone();
        let settings = profile.map(|p| {
            self.groups
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(p.to_path_buf())
                .or_insert_with(|| Arc::new(self.settings.for_profile(p.to_path_buf())))
                .clone()
        });
        let settings = settings.as_deref().unwrap_or(self.settings);
        let tenants = self.tenants.get(&profile.map(Path::to_path_buf));
        let connect = || async {
            let live = settings.connect(domain).await.map_err(Arc::new)?;
            // The run only reads: a listing of the whole system, or of all the tenants' scopes, is read
            // once for all of them.
            live.share_reads(tenants.map(Vec::as_slice).unwrap_or_default());
            Ok(Arc::new(live))
        };
        cell.get_or_init(connect).await.clone()
    }
}

/// Checks one tenant: its systems, its plan, and (`drift`) its status against the last check.
async fn check(job: &Request, t: &Loaded, state: &State, systems: &Systems<'_>) -> Checked {
    let started = Instant::now();
    let mut checked = match &t.desired {
        Ok(d) => planned(job, t, d, state, systems).await,
        Err(e) => Checked {
            result: failed(job, t, e.clone()),
            plan: None,
            notes: t.notes.clone(),
            unwritten: false,
        },
    };
    if let Some(mut plan) = checked.plan.take() {
        checked.result.status = status(job, t, state, &mut plan, &mut checked).await;
        checked.plan = Some(plan);
    }
    checked.result.duration_ms = elapsed(started);
    checked
}

/// Keeps a tenant's drift result whatever came of it (what the agent shows), and its status's changes.
async fn remember(
    state: &State,
    checked: &Checked,
    fence: Option<&crate::state::Fence>,
) -> Result<(), crate::state::StateError> {
    let r = &checked.result;
    let status = crate::util::word(&r.status);
    let plan = checked.plan.as_ref();
    let digest = plan
        .filter(|p| p.has_changes())
        .map(report::drift_digest)
        .unwrap_or_default();
    let row = crate::state::DriftResult {
        tenant: r.tenant.clone(),
        status,
        checked_at: crate::state::now(),
        result: stored(r, plan.filter(|p| p.has_changes())),
    };
    let event = match event_of(r) {
        Some((kind, data)) => Some(super::webhooks::event(kind, &r.tenant, &data)?),
        None => None,
    };
    let record = crate::state::DriftRecord {
        result: &row,
        digest: &digest,
        drifted: plan.map(Plan::has_changes),
        event: event.as_ref(),
    };
    state.drift().record(&record, fence).await.map(|_| ())
}

/// The most of a drift's rendered plan the state store keeps (the dashboard shows it).
const PLAN_KEPT: usize = 64 * 1024;

/// A tenant's result as the state store keeps it: the fleet report's, and with drift its plan as the text
/// rendering shows it (secrets redacted), cut at [`PLAN_KEPT`].
fn stored(r: &TenantResult, drift: Option<&Plan>) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let (Some(plan), Some(o)) = (drift, v.as_object_mut()) {
        let mut text = crate::plan::render::text(plan, crate::plan::render::Style::default());
        if text.len() > PLAN_KEPT {
            let mut cut = PLAN_KEPT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("\n… (cut here: `falconer plan` shows the whole)\n");
        }
        o.insert("plan".into(), text.into());
    }
    v.to_string()
}

/// The event a drift result tells of, with its data: new drift, drift resolved.
fn event_of(r: &TenantResult) -> Option<(super::webhooks::Kind, serde_json::Value)> {
    let kind = match r.status {
        Status::NewDrift => super::webhooks::Kind::DriftNew,
        Status::Resolved => super::webhooks::Kind::DriftResolved,
        _ => return None,
    };
    let domains: Vec<serde_json::Value> = r
        .systems
        .iter()
        .map(|s| serde_json::json!({ "domain": s.domain, "changes": s.changes }))
        .collect();
    let data = serde_json::json!({
        "status": crate::util::word(&r.status),
        "changes": r.changes.len(),
        "domains": domains,
        "previous": r.previous,
    });
    Some((kind, data))
}

/// A tenant that could not be checked, and why.
fn failed(job: &Request, t: &Loaded, error: String) -> TenantResult {
    let path = t.member.path.display().to_string();
    TenantResult {
        group: t.member.group.clone(),
        ..TenantResult::failed(t.id.clone(), path, job.verb.failed(), error)
    }
}

/// The tenant's systems (shared with the run's other tenants) and its plan; each system that failed says
/// so in the result, and then there is no plan.
async fn planned(
    job: &Request,
    t: &Loaded,
    d: &Desired,
    state: &State,
    systems: &Systems<'_>,
) -> Checked {
    let unchecked = |e: String| Checked {
        result: failed(job, t, e),
        plan: None,
        notes: t.notes.clone(),
        unwritten: false,
    };
    let opts = Options {
        targets: job.targets.clone(),
        excludes: job.excludes.clone(),
        managed: None,
        in_fleet: true,
    };
    let domains = match Context::domains(state, d, &opts).await {
        Ok(x) => x,
        Err(e) => return unchecked(e.to_string()),
    };
    let key = match state.managed().fingerprint_key(&t.id).await {
        Ok(k) => k,
        Err(e) => return unchecked(e.to_string()),
    };
    let profile = t.member.profile.as_deref();
    let connected = join_all(domains.iter().map(|&dm| systems.get(profile, dm))).await;
    let mut checked = unchecked(String::new());
    checked.result.errors.clear();
    checked.result.systems = domains
        .iter()
        .zip(&connected)
        .map(|(dm, c)| SystemLine {
            domain: dm.as_str().into(),
            changes: 0,
            error: c.as_ref().err().map(ToString::to_string),
        })
        .collect();
    if connected.iter().any(Result::is_err) {
        return checked;
    }
    let cx = Context {
        state: state.clone(),
        key,
        live: connected.into_iter().filter_map(Result::ok).collect(),
    };
    match cx.plan(d, opts).await {
        Ok((plan, _, _)) => {
            checked.result = checked.result.with_plan(&plan);
            checked.plan = Some(plan);
        }
        Err(e) => {
            let failed = e.domain().map(Domain::as_str);
            let system = checked.result.systems.iter_mut();
            match system
                .into_iter()
                .find(|s| Some(s.domain.as_str()) == failed)
            {
                Some(s) => s.error = Some(e.to_string()),
                None => checked.result.errors.push(e.to_string()),
            }
        }
    }
    checked
}

/// A planned tenant's status: its plan saved when asked (`plan -o DIR`), then changes or not (`plan`), or
/// its drift against the last check (`drift`, which the history then keeps).
async fn status(
    job: &Request,
    t: &Loaded,
    state: &State,
    plan: &mut Plan,
    checked: &mut Checked,
) -> Status {
    if let Err(e) = save(job, t, plan) {
        checked.result.errors.push(e.to_string());
        return Status::Error;
    }
    match job.verb {
        Verb::Plan { .. } if plan.has_changes() => Status::Changes,
        Verb::Plan { .. } => Status::NoChanges,
        Verb::Drift { .. } => match history(state, &t.id, plan, &mut checked.result).await {
            Ok(s) => s,
            Err(e) => {
                checked.notes.push_str(&format!(
                    "warning: the drift history could not be read: {e}\n"
                ));
                if plan.has_changes() {
                    Status::NewDrift
                } else {
                    Status::InSync
                }
            }
        },
    }
}

/// `plan -o DIR`: saves a tenant's plan with changes as DIR/TENANT.plan.json, for `apply PLANFILE`.
fn save(job: &Request, t: &Loaded, plan: &mut Plan) -> Result<(), crate::util::FileError> {
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
        .and_then(|()| crate::util::write_atomic(&path, render::json(plan).as_bytes()))
        .map_err(crate::util::file_error("write", &path))
}

/// A drift check's status against the tenant's last one (which the check's records then replace).
async fn history(
    state: &State,
    tenant: &str,
    plan: &Plan,
    result: &mut TenantResult,
) -> Result<Status, crate::state::StateError> {
    let last = state
        .drift()
        .last_drift(tenant)
        .await?
        .map(|(drifted, digest)| LastDrift { drifted, digest });
    result.previous = last
        .as_ref()
        .map(|l| if l.drifted { "drifted" } else { "in_sync" }.to_string());
    let digest = plan.has_changes().then(|| report::drift_digest(plan));
    Ok(report::classify(digest.as_deref(), last.as_ref()))
}

fn elapsed(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
