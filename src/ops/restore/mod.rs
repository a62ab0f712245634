//! Restore: a backup (or an artifact) back into the live systems, as a plan a person reads first.
//!
//! Preflight, always, before anything is written: the source is read and checked whole; the tenant must be
//! the source's (or a map renames it) and not suspended; a production tenant passes the guard; each domain
//! is restored, skipped (the backup could not read it: it is never emptied) or not requested; the restored
//! domains are planned against the live systems, deleting nothing unless `prune` (and then only what
//! falconer manages); objects that exist and differ from the backup are conflicts, refused, kept or
//! overwritten. A dry run stops there. Then the apply engine runs the plan under the tenant's lock,
//! journaled: one system's failure leaves the others' changes done ([`Error::Partial`]), and running the
//! restore again completes the rest.

pub mod guard;
pub mod map;
mod planned;
mod secrets;
pub mod source;

use std::path::PathBuf;
use std::time::Instant;

use super::apply::{self, Approval, Locked};
use super::live::{self, Desired, Settings};
use super::repo::RepoSpec;
use super::{Cancel, Error, Events, Question, Refusal, RunFailure, audit, lock};
use crate::domains::provider::Provider as _;
use crate::manifest::{Manifest, Resource};
use crate::model::{Domain, HazardCode, TenantStatus};
use crate::plan::Item;
use crate::restore::report::{
    self, Counts, DomainOutcome, DomainReport, Outcome, Report, SourceReport,
};
use crate::restore::{Disposition, Source, dispositions};
use crate::state::{Lock, State, Work};
pub use map::MapRequest;
use planned::Planned;

/// What to do with objects that exist in the target and differ from the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnConflict {
    /// Refuse the restore, listing them.
    #[default]
    Fail,
    /// Restore only what is missing; leave them as they are.
    Keep,
    /// Change them back to the backup.
    Overwrite,
}

/// What to restore, into which tenant, and how.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// A backup id, `latest`, or a file (a backup file or an artifact of the platform).
    pub source: Option<String>,
    /// Instead of `source`: the tenant's newest successful backup at or before this time (Unix seconds).
    pub at: Option<i64>,
    /// How the source was named (for the report when it cannot be read).
    pub origin: String,
    pub tenant: String,
    /// With `latest` or `at`: whose newest backup (default: the target's).
    pub from_tenant: Option<String>,
    /// Only these domains (empty: every domain the source holds).
    pub domains: Vec<Domain>,
    pub on_conflict: OnConflict,
    pub prune: bool,
    pub dry_run: bool,
    pub allow: Vec<HazardCode>,
    pub auto_approve: bool,
    /// After the restore, read the target again and compare it with the backup.
    pub verify: bool,
    /// Also set the values the backup holds that are data, not configuration (sequences' current values).
    pub data_values: bool,
    /// Create the missing containers that can be created (`--create-missing`).
    pub create_missing: bool,
    /// Write objects without the secrets the backup could not carry (`--create-without-secrets`).
    pub create_without_secrets: bool,
    /// The secrets the backup could not carry, by reference (`--secrets FILE`).
    pub secrets: Option<PathBuf>,
    /// Leave out the objects that cannot be written as the source holds them (`--skip-invalid`).
    pub skip_invalid: bool,
    pub map: MapRequest,
    /// The tenant's manifest: its tenant block stands for the source's, its secret references fill the
    /// secrets the source could not carry.
    pub manifest: Option<PathBuf>,
    pub break_glass: Option<String>,
    pub mfa_code: Option<String>,
    /// The time to judge operational hours and codes by (Unix seconds; default now).
    pub now: Option<i64>,
    pub repo: RepoSpec,
}

/// Runs a restore: the report (absent when the source could not even be mapped or overlaid), and how it
/// ended.
pub async fn restore(
    settings: &Settings,
    req: &Request,
    events: &dyn Events,
    cancel: &Cancel,
) -> (Option<Report>, Result<(), Error>) {
    let started = Instant::now();
    let started_at = crate::util::now();
    let source = source::resolve(req, settings, events).await;
    let mut source = match source {
        Ok(s) => s,
        Err(e) => return (Some(unread(req, &e)), Err(e)),
    };
    let state = match State::open(&settings.state).await {
        Ok(s) => s,
        Err(e) => return (None, Err(e.into())),
    };
    let prepared = prepare(req, &state, &mut source, events).await;
    let (mapping, bases) = match prepared {
        Ok(p) => p,
        Err(e) => return (None, Err(e)),
    };
    let mut report = new_report(req, &source);
    if let Some(m) = mapping {
        report.source.tenant = m.from_tenant;
        report.map = m.entries.into_iter().map(|e| (e.from, e.to)).collect();
        report.proposed_map = m.proposal;
    }
    let mut glass = None;
    let run = Restoring {
        req,
        settings,
        state: &state,
        events,
        cancel,
    };
    let result = run.run((&source, &bases), &mut report, &mut glass).await;
    report.finished_at = crate::util::rfc3339(crate::util::now_millis().div_euclid(1000));
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report.total();
    if !req.dry_run {
        record(&state, &report, started_at, glass, &source, events).await;
    }
    (Some(report), result)
}

/// The map (another tenant's backup), the manifest's overlay, and the tenant's registered naming.
async fn prepare(
    req: &Request,
    state: &State,
    source: &mut Source,
    events: &dyn Events,
) -> Result<(Option<map::Mapping>, Bases), Error> {
    let mapping = map::map_source(&req.map, &req.tenant, state, source, events).await?;
    if let Some(m) = &mapping {
        events.mapped(&m.from_tenant, &req.tenant, &m.entries, false);
    }
    let mut bases = overlay(req, source, events)?;
    if let Some(path) = &req.secrets {
        let filled = secrets::fill(path, source, &mut bases)?;
        events.note(&format!(
            "{} secret(s) given by {}: {}",
            filled.len(),
            path.display(),
            filled.join(", ")
        ));
    }
    if mapping.is_none() && req.manifest.is_none() && source.tenant.id == req.tenant {
        // The tenant's naming as the registry declares it (`tenant set`, or its last apply or restore) is
        // the target's scope; the source's fills what the registry does not say.
        if let Ok(mut known) = state.registry().registered(&req.tenant).await {
            known.naming.fill_from(&source.tenant.naming);
            source.tenant.naming = known.naming;
        }
    }
    Ok((mapping, bases))
}

/// With a manifest: its tenant block replaces the source's, and its secret references fill the secrets
/// the source could not carry; the directory each filled resource's files are relative to.
fn overlay(req: &Request, source: &mut Source, events: &dyn Events) -> Result<Bases, Error> {
    let Some(path) = &req.manifest else {
        return Ok(Bases::new());
    };
    let m = live::load(path, crate::manifest::LoadOptions::default(), events)?;
    if m.manifest.tenant.id != source.tenant.id {
        return Err(Error::Refused(Refusal::Other(format!(
            "{} is the manifest of tenant `{}`, the backup is of `{}`",
            path.display(),
            m.manifest.tenant.id,
            source.tenant.id
        ))));
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
async fn record(
    state: &State,
    report: &Report,
    started_at: i64,
    glass: Option<String>,
    source: &Source,
    events: &dyn Events,
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
    let a = audit::Audit {
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
    audit::record(state, a, named, events).await;
}

/// The report of a source that could not be read, or failed its checks.
fn unread(req: &Request, e: &Error) -> Report {
    let source = Source {
        tenant: crate::model::Tenant::new(""),
        origin: req.origin.clone(),
        backup_id: None,
        digest: String::new(),
        migrated_from: None,
        sections: Vec::new(),
    };
    let mut report = new_report(req, &source);
    report.outcome = match e {
        Error::Refused(_) => Outcome::Refused,
        _ => Outcome::Failed,
    };
    report.message = Some(
        "the source could not be read, or failed its checks (see the errors); nothing was restored"
            .into(),
    );
    report.finished_at = report.started_at.clone();
    report
}

fn new_report(req: &Request, source: &Source) -> Report {
    Report {
        format: report::FORMAT.into(),
        format_version: report::FORMAT_VERSION,
        tenant: req.tenant.clone(),
        source: SourceReport {
            origin: source.origin.clone(),
            backup_id: source.backup_id.clone(),
            tenant: source.tenant.id.clone(),
            digest: source.digest.clone(),
            migrated_from: source.migrated_from.clone(),
        },
        outcome: Outcome::Refused,
        dry_run: req.dry_run,
        message: None,
        on_conflict: format!("{:?}", req.on_conflict).to_lowercase(),
        risk: None,
        risk_reason: None,
        prune: req.prune,
        map: Default::default(),
        proposed_map: Vec::new(),
        domains: Vec::new(),
        counts: Counts::default(),
        applied: 0,
        data_values_set: 0,
        started_at: crate::util::rfc3339(crate::util::now_millis().div_euclid(1000)),
        finished_at: String::new(),
        duration_ms: 0,
        verified: None,
    }
}

/// Refuses the restore as a whole: the reason goes to the report.
fn refuse(report: &mut Report, refusal: Refusal) -> Error {
    report.outcome = Outcome::Refused;
    report.message = Some(refusal.to_string());
    Error::Refused(refusal)
}

/// One restore's inputs.
struct Restoring<'a> {
    req: &'a Request,
    settings: &'a Settings,
    state: &'a State,
    events: &'a dyn Events,
    cancel: &'a Cancel,
}

impl Restoring<'_> {
    async fn run(
        &self,
        (source, bases): (&Source, &Bases),
        report: &mut Report,
        glass: &mut Option<String>,
    ) -> Result<(), Error> {
        let req = self.req;
        if source.tenant.id != req.tenant {
            return Err(self.another_tenant(source, report).await);
        }
        if source.tenant.status == TenantStatus::Suspended {
            return Err(refuse(report, Refusal::Suspended(req.tenant.clone())));
        }
        if let Err(e) = audit::refuse_suspended(self.state, &req.tenant).await {
            report.message = Some("the tenant is suspended in the tenant registry".into());
            return Err(e);
        }
        // A dry run writes nothing: the production guard is for what writes.
        let production = match req.dry_run {
            true => false,
            false => {
                let (g, production) = self.guard(report).await?;
                *glass = g;
                production
            }
        };
        let (mut desired, restored) = desired_of(source, &req.domains, bases, report);
        if restored.is_empty() {
            report.outcome = Outcome::Failed;
            report.message = Some("no requested domain can be restored from this backup".into());
            return Err(Error::Other("nothing to restore: no requested domain can be restored from this backup (see each domain's reason)".into()));
        }
        if req.dry_run {
            planned::plan(self, (&mut desired, &restored), report).await?;
            report.outcome = Outcome::DryRun;
            return Ok(());
        }
        let lock = lock::lock_tenant(self.state, &req.tenant, self.events).await?;
        let beat = lock::keep_alive(self.state, &lock);
        let id = crate::backup::new_id(crate::util::now_millis());
        self.progress_started(&lock, &id, &restored).await;
        let result = match self
            .locked((&lock, &id), production, (&mut desired, &restored), report)
            .await
        {
            Ok(()) => self.data_values(source, &restored, report).await,
            failed => failed,
        };
        if let Err(e) = self.state.progress().work_ended(Work::Restore, &id).await {
            self.events
                .warning(&format!("could not record that the restore ended: {e}"));
        }
        beat.abort();
        lock::release(self.state, &lock, self.events).await;
        result
    }

    /// After a restore that succeeded: the values the backup holds that are data, set when asked
    /// (`data_values`), else said to be left as they are.
    async fn data_values(
        &self,
        source: &Source,
        restored: &[Domain],
        report: &mut Report,
    ) -> Result<(), Error> {
        let held = source
            .sections
            .iter()
            .filter(|s| restored.contains(&s.domain) && !s.data.is_empty());
        for s in held {
            if !self.req.data_values {
                self.events.note(&format!(
                    "{}: the backup holds {} value(s) that are data, not configuration (sequences' current values); left as they are (--sequence-values sets them)",
                    s.domain,
                    s.data.len()
                ));
                continue;
            }
            let system = self.settings.connect(s.domain).await?;
            let not_set = system.set_data(&s.data).await?;
            report.data_values_set += s.data.len() - not_set.len();
            for why in &not_set {
                self.events.warning(&format!("{}: {why}", s.domain));
            }
        }
        Ok(())
    }

    /// A backup of another tenant and no map: nothing is written. The proposal (typed by scope, from the
    /// target's remembered naming or its defaults) is shown and reported, and the restore refused.
    async fn another_tenant(&self, source: &Source, report: &mut Report) -> Error {
        let tenant = &self.req.tenant;
        let proposal = map::propose(self.state, source, tenant).await;
        self.events
            .mapped(&source.tenant.id, tenant, &proposal, true);
        report.proposed_map = proposal;
        refuse(
            report,
            Refusal::Other(format!(
                "the backup is of tenant `{}`, not `{tenant}`: restoring into another tenant needs an identifier map; nothing was written. Re-run with --accept-proposed-map to use the one proposed above, or give --map FROM=TO / --map-file FILE",
                source.tenant.id,
            )),
        )
    }

    /// The production guard; the break-glass reason used, and whether the tenant is a production one.
    async fn guard(&self, report: &mut Report) -> Result<(Option<String>, bool), Error> {
        let req = self.req;
        let environment = audit::environment(self.state, &req.tenant).await?;
        let asked = guard::Asked {
            tenant: &req.tenant,
            break_glass: req.break_glass.as_deref(),
            mfa_code: req.mfa_code.as_deref(),
            now: req.now.unwrap_or_else(crate::util::now),
        };
        match guard::check(&asked, &environment, self.settings, self.state, self.events).await {
            Ok(glass) => Ok((glass, environment == guard::PRODUCTION)),
            Err(Error::Refused(r)) => Err(refuse(report, r)),
            Err(e) => Err(e),
        }
    }

    /// Records that the restore runs, domain by domain (for `restore status`).
    async fn progress_started(&self, lock: &Lock, id: &str, restored: &[Domain]) {
        let names: Vec<String> = restored.iter().map(|d| d.to_string()).collect();
        let started = self
            .state
            .progress()
            .work_started(Work::Restore, id, &self.req.tenant, &names, &lock.holder())
            .await;
        if let Err(e) = started {
            self.events
                .warning(&format!("could not record the restore's progress: {e}"));
        }
    }

    /// Records each restored domain's outcome in the progress rows.
    async fn progress_done(&self, id: &str, report: &Report, restored: &[Domain]) {
        for d in report
            .domains
            .iter()
            .filter(|d| restored.contains(&d.domain))
        {
            let status = crate::util::word(&d.outcome);
            let recorded = self
                .state
                .progress()
                .work_progress(Work::Restore, id, d.domain.as_str(), &status)
                .await;
            if let Err(e) = recorded {
                self.events
                    .warning(&format!("could not record the restore's progress: {e}"));
            }
        }
    }

    /// Under the tenant's lock: plan, approve, apply, record.
    async fn locked(
        &self,
        (lock, id): (&Lock, &str),
        production: bool,
        (desired, restored): (&mut Desired, &[Domain]),
        report: &mut Report,
    ) -> Result<(), Error> {
        let req = self.req;
        let mut p = planned::plan(self, (&mut *desired, restored), report).await?;
        let desired = &*desired;
        if !p.plan.has_changes() && p.unreachable.is_empty() {
            mark(report, restored, DomainOutcome::Unchanged);
            report.outcome = Outcome::Success;
            return self.verify(&p, desired, report).await;
        }
        if !p.plan.has_changes() {
            let outcome = crate::engine::Outcome {
                applied: 0,
                errors: std::mem::take(&mut p.unreachable),
                stopped: None,
                done: Vec::new(),
                blocked: Vec::new(),
            };
            settle(report, restored, &outcome);
            let failure = RunFailure::from(outcome);
            return Err(match report.outcome {
                Outcome::Partial => Error::Partial(failure),
                _ => Error::Run(failure),
            });
        }
        let approval = Approval {
            allow: &req.allow,
            auto_approve: req.auto_approve,
            question: Question {
                text: format!("Restore these changes into tenant `{}`?", req.tenant),
                expected: match production {
                    true => req.tenant.clone(),
                    false => "yes".into(),
                },
                unattended: "not on a terminal: pass --auto-approve to restore",
            },
        };
        if let Err(e) = apply::approve(&approval, &p.plan, self.events) {
            report.message = Some("not approved".into());
            return Err(e);
        }
        let run = Locked {
            cx: &p.cx,
            lock,
            events: self.events,
            cancel: self.cancel,
        };
        let items = (p.desired_items.as_slice(), p.live_items.as_slice());
        let (run_id, mut outcome) = match run.execute(desired, &p.plan, items).await {
            Ok(r) => r,
            Err(e) => {
                report.outcome = Outcome::Failed;
                return Err(e);
            }
        };
        report.applied = outcome.applied;
        // The run's own status is of its changes; the systems not reached fail the restore, not the run.
        let failed = !outcome.errors.is_empty() || outcome.stopped.is_some();
        outcome.errors.append(&mut p.unreachable);
        settle(report, restored, &outcome);
        self.progress_done(id, report, restored).await;
        let done_items: Vec<Item> = p
            .desired_items
            .iter()
            .filter(|i| outcome.done.contains(&i.address.domain))
            .cloned()
            .collect();
        let recorded = apply::record_applied(&p.cx, &req.tenant, &p.plan, &done_items).await;
        let status = if failed { "failed" } else { "applied" };
        apply::finish_run(&p.cx, &run_id, status, self.events).await;
        let failure = RunFailure::from(outcome);
        match (report.outcome, recorded) {
            (Outcome::Success, Ok(())) => self.verify(&p, desired, report).await,
            (Outcome::Success, Err(e)) => Err(e),
            (Outcome::Partial, _) => Err(Error::Partial(failure)),
            _ => Err(Error::Run(failure)),
        }
    }

    /// `verify`: plans the restored domains again; any change left is a difference.
    async fn verify(
        &self,
        p: &Planned,
        desired: &Desired,
        report: &mut Report,
    ) -> Result<(), Error> {
        if !self.req.verify {
            return Ok(());
        }
        let again = match p.cx.plan(desired, p.opts.clone()).await {
            Ok((plan, _, _)) => plan,
            Err(e) => {
                return Err(Error::Other(format!(
                    "restored, but could not read the target again to verify: {e}"
                )));
            }
        };
        // The secrets the backup could not carry were said to be set before or after: their absence is
        // no difference.
        let unset: std::collections::HashSet<&str> = report
            .domains
            .iter()
            .flat_map(|d| &d.secrets_to_set)
            .filter_map(|s| s.split_once(' ').map(|(address, _)| address))
            .collect();
        let differs: Vec<&crate::plan::Change> = again
            .changes
            .iter()
            .filter(|c| {
                let secrets_only = !c.fields.is_empty() && c.fields.iter().all(|f| f.sensitive);
                !(c.action == crate::plan::Action::Update
                    && secrets_only
                    && unset.contains(c.address.to_string().as_str()))
            })
            .collect();
        report.verified = Some(differs.is_empty());
        if differs.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = differs
            .iter()
            .map(|c| {
                let action = format!("{:?}", c.action).to_lowercase();
                let fields: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
                match fields.is_empty() {
                    true => format!("{} ({action})", c.address),
                    false => format!("{} ({action}: {})", c.address, fields.join(", ")),
                }
            })
            .collect();
        Err(Error::Differs(format!(
            "verify: the target differs from the backup after the restore: {}",
            list.join(", ")
        )))
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
            held_back: Vec::new(),
            unknown_values: source
                .section(domain)
                .filter(|_| matches!(d, Disposition::Restore))
                .map(|s| s.unknown.clone())
                .unwrap_or_default(),
            left_out: source
                .section(domain)
                .filter(|_| matches!(d, Disposition::Restore))
                .map(|s| s.invalid.clone())
                .unwrap_or_default(),
            not_carried: source
                .section(domain)
                .map(|s| s.not_carried.clone())
                .unwrap_or_default(),
        });
    }
    (Desired { manifest, specs }, restored)
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
