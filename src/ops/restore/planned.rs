//! The restore's plan: the restored domains against the live systems, what may be deleted, the references
//! nothing satisfies, and the conflicts (settled as asked).

use std::collections::HashSet;

use super::{OnConflict, Restoring, refuse};
use crate::model::{Address, Domain};
use crate::ops::live::{Context, Desired};
use crate::ops::{Error, Refusal};
use crate::plan::{Action, Item, Options, Plan};
use crate::restore::report::{Conflict, Counts, DomainOutcome, Report};

/// The plan of the restore and the conflicts it settled.
pub struct Planned {
    pub cx: Context,
    /// The restored domains whose systems could not be reached: their objects, and those that depend on
    /// them, are held back (the next run restores them), each system's error reported.
    pub unreachable: Vec<crate::domains::provider::ProviderError>,
    pub plan: Plan,
    pub desired_items: Vec<Item>,
    pub live_items: Vec<Item>,
    pub opts: Options,
}

/// Connects, plans, settles conflicts, and shows the preflight (through the events).
pub async fn plan(
    run: &Restoring<'_>,
    (desired, restored): (&mut Desired, &[Domain]),
    report: &mut Report,
) -> Result<Planned, Error> {
    let req = run.req;
    let mut opts = Options {
        managed: Some(managed(run, restored).await?),
        ..Options::default()
    };
    let (cx, unreachable) =
        match Context::open_reachable(run.settings, run.state, desired, &opts).await {
            Ok(opened) => opened,
            Err(Error::Connect(failed)) => {
                let lines = failed
                    .iter()
                    .map(|e| format!("{}: {e}", e.domain))
                    .collect();
                return Err(refuse(report, Refusal::CannotConnect(lines)));
            }
            Err(e) => return Err(e),
        };
    let unreachable = hold_back(run, desired, &unreachable, report);
    let (mut plan, mut desired_items, mut live_items) = cx.plan(desired, opts.clone()).await?;
    // What the systems would refuse, settled on the first plan; the plan is made again once if any of it
    // changed what is restored.
    let added = containers(run, desired, (&desired_items, &live_items), report)?;
    let without = unknown_secrets(run, desired, &plan, report)?;
    let left_out = creation_gaps(run, (desired, &plan), &plan.refused, report)?;
    if added || without || left_out {
        (plan, desired_items, live_items) = cx.plan(desired, opts.clone()).await?;
    }
    let desired = &*desired;
    refuse_unresolved(report, desired, (&desired_items, &live_items))?;
    let conflicts = settle_conflicts(run, &plan, report).await?;
    if req.on_conflict == OnConflict::Keep && !conflicts.is_empty() {
        opts.excludes = conflicts
            .iter()
            .map(|(_, c)| globset::escape(&c.address))
            .collect();
        (plan, desired_items, live_items) = cx.plan(desired, opts.clone()).await?;
    }
    count_changes(&plan, &desired_items, report);
    let (risk, why) = crate::restore::report::Risk::of(&plan);
    report.risk = Some(risk);
    report.risk_reason = Some(why);
    run.events.preflight(&plan, report);
    if req.on_conflict == OnConflict::Fail && !conflicts.is_empty() {
        for (domain, _) in &conflicts {
            if let Some(d) = report.domain_mut(*domain) {
                d.outcome = DomainOutcome::Conflict;
            }
        }
        let list: Vec<&str> = conflicts.iter().map(|(_, c)| c.address.as_str()).collect();
        return Err(refuse(
            report,
            Refusal::Other(format!(
                "refused: {} object(s) exist and differ from the backup: {}; re-run with --on-conflict keep (leave them) or --on-conflict overwrite (restore them)",
                list.len(),
                list.join(", ")
            )),
        ));
    }
    Ok(Planned {
        cx,
        unreachable,
        plan,
        desired_items,
        live_items,
        opts,
    })
}

/// Holds back the objects of the systems that cannot be reached, and every object with a path in the
/// dependency graph to one of them (it depends on it, directly or not): the rest is restored, and the
/// same restore run again completes these. Each system's error, as the run reports a failed domain.
fn hold_back(
    run: &Restoring<'_>,
    desired: &mut Desired,
    unreachable: &[crate::domains::systems::ConnectError],
    report: &mut Report,
) -> Vec<crate::domains::provider::ProviderError> {
    if unreachable.is_empty() {
        return Vec::new();
    }
    let down: Vec<Domain> = unreachable.iter().map(|e| e.domain).collect();
    let specs: Vec<&crate::domains::Spec> = desired.specs.iter().map(|(s, _)| s).collect();
    let graph = crate::graph::Graph::build(&desired.manifest.tenant, &specs);
    let mut held: std::collections::BTreeSet<usize> = (0..specs.len())
        .filter(|i| down.contains(&specs[*i].meta().domain))
        .collect();
    for i in held.clone() {
        held.extend(graph.descendants(i));
    }
    let held: HashSet<Address> = held
        .into_iter()
        .map(|i| graph.addresses[i].clone())
        .collect();
    for a in held.iter().filter(|a| !down.contains(&a.domain)) {
        if let Some(d) = report.domain_mut(a.domain) {
            d.held_back.push(a.to_string());
        }
    }
    for e in unreachable {
        if let Some(d) = report.domain_mut(e.domain) {
            d.outcome = DomainOutcome::Error;
            d.reason = Some(format!("cannot be reached: {e}"));
        }
    }
    let systems: Vec<String> = unreachable
        .iter()
        .map(|e| format!("{}: {e}", e.domain))
        .collect();
    run.events.warning(&format!(
        "cannot be reached, held back with what depends on them (run the same restore again to complete them): {}",
        systems.join("; ")
    ));
    desired.specs.retain(|(s, _)| !held.contains(&s.address()));
    desired
        .manifest
        .resources
        .retain(|r| !held.contains(&r.spec.address()));
    unreachable
        .iter()
        .map(|e| crate::domains::provider::ProviderError::Backend {
            domain: e.domain,
            message: format!("cannot be reached: {e}; nothing of it was written"),
        })
        .collect()
}

/// What the plan may delete: nothing, or with `prune` what falconer manages in the restored domains.
async fn managed(run: &Restoring<'_>, restored: &[Domain]) -> Result<HashSet<Address>, Error> {
    if !run.req.prune {
        return Ok(Default::default());
    }
    let all = run.state.managed().managed(&run.req.tenant).await?;
    Ok(all
        .into_iter()
        .filter(|a| restored.contains(&a.domain))
        .collect())
}

/// The plan's conflicts, recorded in the report with how they are settled. What an earlier run of the tenant
/// left unfinished is completed, not a conflict (said as a note).
async fn settle_conflicts(
    run: &Restoring<'_>,
    plan: &Plan,
    report: &mut Report,
) -> Result<Vec<(Domain, Conflict)>, Error> {
    let unfinished = run.state.runs().unfinished_changes(&run.req.tenant).await?;
    let (resumed, conflicts): (Vec<_>, Vec<_>) = conflicts_of(plan)
        .into_iter()
        .partition(|(_, c)| unfinished.contains(&c.address));
    if !resumed.is_empty() {
        run.events.note(&format!(
            "{} object(s) an earlier restore or apply of the tenant left unfinished are completed, not conflicts: {}",
            resumed.len(),
            resumed
                .iter()
                .map(|(_, c)| c.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let resolution = match run.req.on_conflict {
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

/// What is restored or exists live.
fn present((desired_items, live_items): (&[Item], &[Item])) -> HashSet<Address> {
    desired_items
        .iter()
        .chain(live_items)
        .map(|i| i.address.clone())
        .collect()
}

/// The containers the restored objects live in that are neither restored nor live: refused, naming each
/// (the default), or with `--create-missing` added to `desired` bare, with the settings that then take the
/// system's defaults said. Whether it added any (the plan is then made again).
fn containers(
    run: &Restoring<'_>,
    desired: &mut Desired,
    items: (&[Item], &[Item]),
    report: &mut Report,
) -> Result<bool, Error> {
    let specs: Vec<&crate::domains::Spec> = desired.specs.iter().map(|(s, _)| s).collect();
    let missing =
        crate::restore::missing_containers(&desired.manifest.tenant, &specs, &present(items));
    if missing.is_empty() {
        return Ok(false);
    }
    let bare: Vec<Option<crate::domains::Spec>> =
        missing.iter().map(crate::restore::bare).collect();
    if !run.req.create_missing || bare.iter().any(Option::is_none) {
        let list: Vec<String> = missing
            .iter()
            .zip(&bare)
            .map(|(a, b)| match b {
                Some(_) => format!("{a} (--create-missing creates it)"),
                None => format!("{a} (cannot be created by falconer: create it first)"),
            })
            .collect();
        return Err(refuse(report, Refusal::MissingContainers(list)));
    }
    let origin = desired
        .specs
        .first()
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    for (address, spec) in missing.iter().zip(bare.into_iter().flatten()) {
        let defaults = spec
            .bare_defaults()
            .unwrap_or("the system's defaults for every setting");
        run.events.warning(&format!(
            "{address} does not exist: it is created with the system's defaults ({defaults}); set them after the restore"
        ));
        desired.specs.push((spec, origin.clone()));
    }
    Ok(true)
}

/// The addresses of the plan's changes that `keep` keeps.
fn changed(plan: &Plan, keep: impl Fn(&crate::domains::item::Change) -> bool) -> HashSet<String> {
    plan.changes
        .iter()
        .filter(|c| keep(c))
        .map(|c| c.address.to_string())
        .collect()
}

/// The objects the plan writes that need a secret the backup could not carry: refused, naming each (the
/// default), or with `--create-without-secrets` written without it (said; the report lists it to be set).
/// Whether it changed `desired` (the plan is then made again).
fn unknown_secrets(
    run: &Restoring<'_>,
    desired: &mut Desired,
    plan: &Plan,
    report: &mut Report,
) -> Result<bool, Error> {
    let written = changed(plan, |c| match c.action {
        Action::Create | Action::Replace => true,
        Action::Update => c.fields.iter().any(|f| f.path.starts_with("parameter")),
        _ => false,
    });
    let mut needed = Vec::new();
    for (spec, _) in &desired.specs {
        let address = spec.address().to_string();
        if written.contains(&address) {
            needed.extend(
                spec.secrets_needed()
                    .into_iter()
                    .map(|f| format!("{address} {f}")),
            );
        }
    }
    if needed.is_empty() {
        return Ok(false);
    }
    if !run.req.create_without_secrets {
        return Err(refuse(report, Refusal::SecretsUnknown(needed)));
    }
    run.events.warning(&format!(
        "written without the secrets the backup could not carry (set them after the restore): {}",
        needed.join(", ")
    ));
    for (spec, _) in &mut desired.specs {
        if written.contains(&spec.address().to_string()) {
            spec.without_unknown_secrets();
        }
    }
    for r in &mut desired.manifest.resources {
        if written.contains(&r.spec.address().to_string()) {
            r.spec.without_unknown_secrets();
        }
    }
    Ok(true)
}

/// The objects the plan creates that lack what their creation needs, and those their system would refuse
/// by a rule read from it (`refused`): refused, naming each and why (the default), or with `--skip-invalid`
/// left out (said, and listed in the report). Whether it changed `desired` (the plan is then made again).
fn creation_gaps(
    run: &Restoring<'_>,
    (desired, plan): (&mut Desired, &Plan),
    refused: &[(Address, String)],
    report: &mut Report,
) -> Result<bool, Error> {
    let created = changed(plan, |c| {
        matches!(c.action, Action::Create | Action::Replace)
    });
    let mut lacking: Vec<(Domain, String, String)> = Vec::new();
    for (spec, _) in &desired.specs {
        let address = spec.address();
        let gaps = spec.creation_gaps();
        if created.contains(&address.to_string()) && !gaps.is_empty() {
            lacking.push((address.domain, address.to_string(), gaps.join(", ")));
        }
    }
    let breaking: Vec<(Domain, String, String)> = refused
        .iter()
        .map(|(a, why)| (a.domain, a.to_string(), why.clone()))
        .collect();
    if lacking.is_empty() && breaking.is_empty() {
        return Ok(false);
    }
    let lines = |l: &[(Domain, String, String)]| -> Vec<String> {
        l.iter().map(|(_, a, why)| format!("{a}: {why}")).collect()
    };
    if !run.req.skip_invalid {
        return Err(refuse(
            report,
            match lacking.is_empty() {
                false => Refusal::CannotCreate(lines(&lacking)),
                true => Refusal::BreaksRules(lines(&breaking)),
            },
        ));
    }
    for (what, l) in [
        ("they cannot be created from this source", &lacking),
        ("their systems would refuse them", &breaking),
    ] {
        if !l.is_empty() {
            run.events
                .warning(&format!("left out, {what}: {}", lines(l).join("; ")));
        }
    }
    lacking.extend(breaking);
    let out: HashSet<&str> = lacking.iter().map(|(_, a, _)| a.as_str()).collect();
    desired
        .specs
        .retain(|(s, _)| !out.contains(s.address().to_string().as_str()));
    desired
        .manifest
        .resources
        .retain(|r| !out.contains(r.spec.address().to_string().as_str()));
    for ((domain, _, _), line) in lacking.iter().zip(lines(&lacking)) {
        if let Some(d) = report.domain_mut(*domain) {
            d.left_out.push(line);
        }
    }
    Ok(true)
}

/// Refuses a restore whose resources refer to objects that are neither restored nor live.
fn refuse_unresolved(
    report: &mut Report,
    desired: &Desired,
    items: (&[Item], &[Item]),
) -> Result<(), Error> {
    let present = present(items);
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
        report,
        Refusal::Other(format!(
            "refused: objects the backup does not hold and that do not exist live are referred to: {}; create them first, or restore the domains that hold them",
            list.join("; ")
        )),
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

/// Each restored domain's changes, and how many of its objects are left alone (already as in the backup,
/// or conflicts kept).
fn count_changes(plan: &Plan, desired: &[Item], report: &mut Report) {
    for d in &mut report.domains {
        if d.outcome != DomainOutcome::Planned {
            continue;
        }
        let c = plan
            .summary
            .by_domain
            .get(&d.domain.to_string())
            .cloned()
            .unwrap_or_default();
        let objects = desired
            .iter()
            .filter(|i| i.address.domain == d.domain)
            .count();
        d.counts = Counts {
            create: c.create,
            update: c.update,
            replace: c.replace,
            delete: c.delete,
            unchanged: objects.saturating_sub(c.create + c.update + c.replace),
        };
    }
}
