//! Apply: refuses a suspended tenant, takes the tenant's lock, plans against the live systems, refuses
//! hazards not allowed and stale saved plans, asks for approval (through [`Events`]), then runs the plan's
//! steps through the engine ([`crate::engine`]), journaled, and records what falconer now manages.
//!
//! What restore shares with apply is here too: [`approve`], [`execute`], [`record_applied`], [`finish_run`].

use std::path::{Path, PathBuf};

use super::audit::{self, Audit};
use super::live::{self, Context, Desired, Settings};
use super::lock::{self, LOCK_TTL};
use super::{Answer, Cancel, Error, Events, Question, Refusal};
use crate::engine;
use crate::model::{Address, HazardCode, TenantStatus};
use crate::plan::{Action, Item, Options, Plan};
use crate::state::Lock;

/// What to apply, and what is allowed.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// A manifest (file or directory), or a plan saved with `plan -o`.
    pub path: PathBuf,
    /// Hazards allowed.
    pub allow: Vec<HazardCode>,
    /// Approved already (no question is asked); a saved plan is approved by its review.
    pub auto_approve: bool,
    pub targets: Vec<String>,
    pub excludes: Vec<String>,
}

/// What an apply did.
#[derive(Debug)]
pub struct Applied {
    pub tenant: String,
    /// The plan that was applied (with no changes: nothing was).
    pub plan: Plan,
    /// Changes applied.
    pub applied: usize,
}

/// A saved plan, if the path is one.
pub fn saved_plan(path: &Path) -> Option<Plan> {
    if !path.is_file() || path.extension().is_none_or(|e| e != "json") {
        return None;
    }
    // A plan has `digests`, which no manifest has: a JSON manifest does not parse as one.
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Applies one tenant's manifest or saved plan; a manifest's secret `{ command }` runs where the profile
/// allows it.
pub async fn apply(
    settings: &Settings,
    req: &Request,
    events: &dyn Events,
    cancel: &Cancel,
) -> Result<Applied, Error> {
    let allowed = settings.manifest_commands()?;
    crate::secrets::with_manifest_commands(allowed, apply_manifest(settings, req, events, cancel))
        .await
}

async fn apply_manifest(
    settings: &Settings,
    req: &Request,
    events: &dyn Events,
    cancel: &Cancel,
) -> Result<Applied, Error> {
    let saved = saved_plan(&req.path);
    let manifest_path = manifest_of(&req.path, saved.as_ref())?;
    let desired = live::load(&manifest_path, settings.load_options()?, events)?;
    let tenant = desired.manifest.tenant.clone();
    if tenant.status == TenantStatus::Suspended {
        return Err(Error::Refused(Refusal::Suspended(tenant.id)));
    }
    let (targets, excludes) = selection(req, saved.as_ref());
    let reach = Options {
        targets,
        excludes,
        managed: None,
        in_fleet: false,
    };
    let started_at = crate::util::now();
    let audit = Audit {
        kind: "apply",
        tenant: tenant.id.clone(),
        started_at,
        source: manifest_path.display().to_string(),
        digest: String::new(),
        map: String::new(),
        domains: Vec::new(),
        outcome: "refused".into(),
        reason: "the tenant is suspended in the tenant registry".into(),
    };
    let state = crate::state::State::open(&settings.state).await?;
    if let Err(e) = audit::refuse_suspended(&state, &tenant.id).await {
        audit::record(&state, audit, None, events).await;
        return Err(e);
    }
    let cx = Context::open(settings, &state, &desired, &reach).await?;
    let lock = lock::lock_tenant(&cx.state, &tenant.id, events).await;
    let result = match lock {
        Ok(lock) => {
            let beat = lock::keep_alive(&cx.state, &lock);
            let run = Locked {
                cx: &cx,
                lock: &lock,
                events,
                cancel,
            };
            let r = run
                .apply(req, &desired, saved.as_ref(), &manifest_path)
                .await;
            beat.abort();
            lock::release(&cx.state, &lock, events).await;
            r
        }
        Err(e) => Err(e),
    };
    let outcome = audit::outcome_of(&result);
    let named = result.is_ok().then_some(&tenant);
    let audit = Audit {
        digest: digest_of(&desired),
        domains: domains_of(&desired),
        outcome: outcome.into(),
        reason: String::new(),
        ..audit
    };
    audit::record(&cx.state, audit, named, events).await;
    result
}

/// SHA-256 of the desired state as a JSON document.
fn digest_of(desired: &Desired) -> String {
    use sha2::Digest;
    let doc = crate::manifest::write::to_document(&desired.manifest);
    crate::util::hex(&sha2::Sha256::digest(doc.to_string().as_bytes()))
}

fn domains_of(desired: &Desired) -> Vec<String> {
    let mut d: Vec<String> = desired
        .specs
        .iter()
        .map(|(s, _)| s.meta().domain.to_string())
        .collect();
    d.sort();
    d.dedup();
    d
}

/// The manifest to apply: the path, or the one a saved plan was made from (refused when the plan was made
/// against an export rather than the live systems).
fn manifest_of(path: &Path, saved: Option<&Plan>) -> Result<PathBuf, Error> {
    let Some(p) = saved else {
        return Ok(path.to_path_buf());
    };
    match &p.inputs {
        Some(i) if i.against.is_none() => Ok(PathBuf::from(&i.manifest)),
        Some(i) => Err(Error::Refused(Refusal::PlannedOffline {
            plan: path.display().to_string(),
            against: i.against.clone().unwrap_or_default(),
            manifest: i.manifest.clone(),
        })),
        None => Err(Error::Other(format!(
            "{} does not say which manifest it was made from",
            path.display()
        ))),
    }
}

/// The `--target` and `--exclude` patterns: a saved plan is made again with those it was made with.
fn selection(req: &Request, saved: Option<&Plan>) -> (Vec<String>, Vec<String>) {
    match saved.and_then(|s| s.inputs.as_ref()) {
        Some(i) => (i.targets.clone(), i.excludes.clone()),
        None => (req.targets.clone(), req.excludes.clone()),
    }
}

/// A run under the tenant's lock.
pub struct Locked<'a> {
    pub cx: &'a Context,
    pub lock: &'a Lock,
    pub events: &'a dyn Events,
    pub cancel: &'a Cancel,
}

impl Locked<'_> {
    async fn apply(
        &self,
        req: &Request,
        desired: &Desired,
        saved: Option<&Plan>,
        manifest_path: &Path,
    ) -> Result<Applied, Error> {
        let tenant = &desired.manifest.tenant;
        note_unfinished(self.cx, &tenant.id, self.events).await?;
        let (targets, excludes) = selection(req, saved);
        let opts = Options {
            targets: targets.clone(),
            excludes: excludes.clone(),
            managed: None,
            in_fleet: false,
        };
        let (mut plan, desired_items, live_items) = self.cx.plan(desired, opts).await?;
        plan.inputs = Some(crate::plan::Inputs {
            manifest: manifest_path.display().to_string(),
            against: None,
            targets,
            excludes,
        });
        if let Some(s) = saved
            && (s.digests != plan.digests || s.changes != plan.changes)
        {
            let path = req.path.display().to_string();
            return Err(Error::Refused(Refusal::Stale(path)));
        }
        self.events.planned(&plan);
        if !plan.has_changes() {
            finish_noop(self.cx, &tenant.id, &desired_items, &live_items).await?;
            return Ok(Applied {
                tenant: tenant.id.clone(),
                plan,
                applied: 0,
            });
        }
        let approval = Approval {
            allow: &req.allow,
            auto_approve: req.auto_approve || saved.is_some(),
            question: Question {
                text: format!("Apply these changes to tenant `{}`?", tenant.id),
                expected: "yes".into(),
                unattended: "not on a terminal: pass --auto-approve, or apply a plan saved with `plan -o FILE`",
            },
        };
        approve(&approval, &plan, self.events)?;
        let (run, outcome) = self
            .execute(desired, &plan, (&desired_items, &live_items))
            .await?;
        if !outcome.errors.is_empty() || outcome.stopped.is_some() {
            finish_run(self.cx, &run, "failed", self.events).await;
            return Err(Error::Run(outcome.into()));
        }
        record_applied(self.cx, &tenant.id, &plan, &desired_items).await?;
        finish_run(self.cx, &run, "applied", self.events).await;
        Ok(Applied {
            tenant: tenant.id.clone(),
            plan,
            applied: outcome.applied,
        })
    }

    /// Starts a run in the journal and applies the plan's steps.
    pub async fn execute(
        &self,
        desired: &Desired,
        plan: &Plan,
        (desired_items, live_items): (&[Item], &[Item]),
    ) -> Result<(String, engine::Outcome), Error> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let cx = self.cx;
        let tenant = &desired.manifest.tenant.id;
        let bases = desired
            .specs
            .iter()
            .map(|(s, b)| (s.address(), b.clone()))
            .collect();
        let run = cx
            .state
            .runs()
            .start_run(tenant, &plan.digests.desired)
            .await?;
        if let Err(e) = cx.state.runs().resume_runs(tenant, Some(&run)).await {
            self.events.warning(&format!(
                "could not mark the earlier unfinished runs as resumed: {e}"
            ));
        }
        let changing: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
        cx.state
            .runs()
            .record_run_changes(&run, &changing)
            .await
            .map_err(|e| Error::Other(format!("cannot record what the run changes: {e}")))?;
        let steps = engine::steps(plan);
        let journal = engine::Journal {
            runs: cx.state.runs(),
            locks: cx.state.locks(),
            run: &run,
            lock: Some((self.lock, LOCK_TTL)),
            cancel: Some(self.cancel),
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
        Ok((run, outcome))
    }
}

/// Says so when earlier runs of the tenant did not finish (this run completes their work).
pub async fn note_unfinished(cx: &Context, tenant: &str, events: &dyn Events) -> Result<(), Error> {
    let runs = cx.state.runs().unfinished_runs(tenant).await?;
    if !runs.is_empty() {
        events.note(&format!(
            "{} earlier run(s) of tenant `{tenant}` did not finish; this run plans from the live state and completes their work",
            runs.len(),
        ));
    }
    Ok(())
}

/// What lets a plan go on: the hazards allowed, and whether it is approved already (else a person is asked).
pub struct Approval<'a> {
    pub allow: &'a [HazardCode],
    pub auto_approve: bool,
    pub question: Question,
}

/// Refuses a plan with impossible changes or hazards not allowed, and asks a person to approve it unless
/// it is approved already.
pub fn approve(approval: &Approval<'_>, plan: &Plan, events: &dyn Events) -> Result<(), Error> {
    if plan.summary.hazards.contains_key(&HazardCode::Impossible) {
        return Err(Error::Refused(Refusal::Impossible));
    }
    let refused: Vec<HazardCode> = plan
        .summary
        .hazards
        .keys()
        .filter(|h| !approval.allow.contains(h))
        .copied()
        .collect();
    if !refused.is_empty() {
        return Err(Error::Refused(Refusal::Hazards(refused)));
    }
    if approval.auto_approve {
        return Ok(());
    }
    match events.confirm(&approval.question) {
        Answer::Yes => Ok(()),
        Answer::No => Err(Error::Declined),
        Answer::NobodyToAsk => Err(Error::NotApproved(approval.question.unattended)),
    }
}

/// Records in the state store what the apply made managed, removed, and the secrets it set or removed.
pub async fn record_applied(
    cx: &Context,
    tenant: &str,
    plan: &Plan,
    desired_items: &[Item],
) -> Result<(), Error> {
    let added: Vec<Address> = desired_items.iter().map(|i| i.address.clone()).collect();
    let removed: Vec<Address> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.clone())
        .collect();
    let failed = if let Err(e) = cx
        .state
        .managed()
        .update_managed(tenant, &added, &removed)
        .await
    {
        format!("the state store could not record it: {e}; the next apply records it")
    } else if let Err(e) = cx
        .state
        .managed()
        .record_secrets(tenant, &live::secrets_set(plan, desired_items))
        .await
    {
        format!(
            "the state store could not record the secrets set: {e}; a later change of them may go unnoticed"
        )
    } else if let Err(e) = cx
        .state
        .managed()
        .forget_secrets(tenant, &live::secrets_gone(plan, desired_items))
        .await
    {
        format!(
            "the state store could not forget the secrets removed: {e}; the next plan may show them again"
        )
    } else {
        return Ok(());
    };
    Err(Error::Unrecorded(format!("applied, but {failed}")))
}

/// Nothing to change: still record that falconer manages what the manifest declares and exists.
async fn finish_noop(
    cx: &Context,
    tenant: &str,
    desired: &[Item],
    live: &[Item],
) -> Result<(), Error> {
    let live: std::collections::HashSet<&Address> = live.iter().map(|l| &l.address).collect();
    let present: Vec<Address> = desired
        .iter()
        .filter(|d| live.contains(&d.address))
        .map(|d| d.address.clone())
        .collect();
    cx.state
        .managed()
        .update_managed(tenant, &present, &[])
        .await
        .map_err(|e| {
            Error::Unrecorded(format!(
                "nothing to change, but the state store could not record what falconer manages: {e}"
            ))
        })?;
    // Nothing left to change: what earlier unfinished runs set out to do is done (one killed after its
    // last step and before it recorded its end stays listed as unfinished otherwise).
    cx.state
        .runs()
        .resume_runs(tenant, None)
        .await
        .map_err(|e| {
            Error::Unrecorded(format!(
                "nothing to change, but the state store could not close the earlier unfinished runs: {e}"
            ))
        })
}

/// Records how a run ended; a failure to do so is a warning (the run stays listed as unfinished, and the
/// next apply of the tenant completes it).
pub async fn finish_run(cx: &Context, run: &str, status: &str, events: &dyn Events) {
    if let Err(e) = cx.state.runs().finish_run(run, status).await {
        events.warning(&format!("could not record that run {run} {status}: {e}"));
    }
}
