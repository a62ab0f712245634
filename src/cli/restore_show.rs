//! What a restore shows: the preflight (per domain what it will create, change and leave alone, conflicts,
//! secrets to set, objects outside the scope) and the outcome.

use super::restore::Args;

use super::plan::PlanFormat;
use crate::plan::render::{self, Style};
use crate::plan::{Item, Plan};
use crate::restore::report::{Counts, DomainOutcome, DomainReport, Outcome, Report};

/// Each restored domain's changes, and how many of its objects are left alone (already as in the backup,
/// or conflicts kept).
pub(super) fn count_changes(plan: &Plan, desired: &[Item], report: &mut Report) {
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

/// The preflight: where from, each domain's disposition, conflicts and secrets, then the plan.
pub(super) fn show_preflight(args: &Args, plan: &Plan, report: &Report) {
    match args.format {
        PlanFormat::Json => {}
        PlanFormat::Markdown => {
            println!("{}", preamble(report));
            print!("{}", render::markdown(plan));
        }
        PlanFormat::Text => {
            println!("{}", preamble(report));
            let color = super::stdout_color();
            print!("{}", render::text(plan, Style { color }));
        }
    }
}

/// The restore's own lines before the plan.
pub(super) fn preamble(report: &Report) -> String {
    let mut s = format!(
        "Restore of tenant `{}` from {}",
        report.tenant, report.source.origin
    );
    if let Some(v) = &report.source.migrated_from {
        s += &format!(" (format {v}, migrated in memory)");
    }
    s += "\n";
    if let (Some(risk), Some(why)) = (report.risk, &report.risk_reason) {
        s += &format!("  Risk: {} ({why})\n", format!("{risk:?}").to_lowercase());
    }
    for d in &report.domains {
        s += &format!("  {:<10} {}", d.domain.to_string(), domain_words(d));
        s += "\n";
        for c in &d.conflicts {
            s += &format!(
                "    conflict: {} differs in {} ({})\n",
                c.address,
                c.fields.join(", "),
                c.resolution
            );
        }
        if !d.secrets_to_set.is_empty() {
            s += &format!(
                "    secrets the backup could not carry (set these before or after): {}\n",
                d.secrets_to_set.join(", ")
            );
        }
        if !d.out_of_scope.is_empty() {
            s += &format!(
                "    left out, outside tenant `{0}`'s scope: {1}\n    (if that is the tenant's real naming, declare it with `falconer tenant set {0} --kafka-topic-prefix ... --bucket-prefix ...` or a manifest's `tenant` block given with --manifest, and they restore)\n",
                report.tenant,
                d.out_of_scope.join(", ")
            );
        }
    }
    s
}

pub(super) fn domain_words(d: &DomainReport) -> String {
    let what = match d.outcome {
        DomainOutcome::Applied => "applied",
        DomainOutcome::Unchanged => "unchanged",
        DomainOutcome::Planned => "restored",
        DomainOutcome::Skipped => "skipped",
        DomainOutcome::NotRequested => "not requested",
        DomainOutcome::Conflict => "conflicts",
        DomainOutcome::Error => "error",
    };
    let c = &d.counts;
    let counts = if d.outcome == DomainOutcome::Planned {
        format!(
            ": {} to create, {} to change, {} to delete, {} left alone (as in the backup{})",
            c.create,
            c.update + c.replace,
            c.delete,
            c.unchanged,
            if d.conflicts.is_empty() {
                ""
            } else {
                ", or kept"
            }
        )
    } else {
        String::new()
    };
    match &d.reason {
        Some(r) => format!("{what}: {r}"),
        None => format!("{what}{counts}"),
    }
}

pub(super) fn print_outcome(report: &Report) {
    if report.outcome == Outcome::DryRun || report.outcome == Outcome::Refused {
        return;
    }
    println!(
        "Restore of tenant `{}`: {} ({} change(s) applied).",
        report.tenant, report.outcome, report.applied
    );
    for d in &report.domains {
        println!("  {:<10} {}", d.domain.to_string(), domain_words(d));
    }
}
