//! What several commands show the same way: a plan in a format, a restore's preflight and outcome.

use super::args::PlanFormat;
use crate::backup::DomainEntry;
use crate::plan::Plan;
use crate::plan::render::{self, Style};
use crate::restore::map::MapEntry;
use crate::restore::report::{DomainOutcome, DomainReport, Outcome, Report};

/// Prints a plan in a format (its warnings, in text, on standard error).
pub fn print(plan: &Plan, format: PlanFormat) {
    match format {
        PlanFormat::Text => {
            warnings(plan);
            let color = super::output::stdout_color();
            print!("{}", render::text(plan, Style { color }));
        }
        PlanFormat::Markdown => print!("{}", render::markdown(plan)),
        PlanFormat::Json => print!("{}", render::json(plan)),
    }
}

/// The preflight: where from, each domain's disposition, conflicts and secrets, then the plan.
pub fn preflight(format: PlanFormat, plan: &Plan, report: &Report) {
    match format {
        PlanFormat::Json => {}
        PlanFormat::Markdown => {
            println!("{}", preamble(report));
            print!("{}", render::markdown(plan));
        }
        PlanFormat::Text => {
            warnings(plan);
            println!("{}", preamble(report));
            let color = super::output::stdout_color();
            print!("{}", render::text(plan, Style { color }));
        }
    }
}

/// A plan's warnings, on standard error.
pub fn warnings(plan: &Plan) {
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
}

/// The restore's own lines before the plan.
pub fn preamble(report: &Report) -> String {
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
        if !d.not_carried.is_empty() {
            let each: Vec<&str> = d.not_carried.iter().map(|n| n.name.as_str()).collect();
            s += &format!(
                "    this backup cannot bring these back (no kind carries them): {}\n",
                each.join("; ")
            );
        }
        if !d.unknown_values.is_empty() {
            s += &format!(
                "    values the source redacted though they are no secrets (unknown: never written, the live value stays): {}\n",
                d.unknown_values.join(", ")
            );
        }
        if !d.held_back.is_empty() {
            s += &format!(
                "    held back, they depend on a system that cannot be reached (the same restore run again restores them): {}\n",
                d.held_back.join(", ")
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

pub fn domain_words(d: &DomainReport) -> String {
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

/// A restore's outcome: the report as JSON, or in words.
pub fn restore_outcome(format: PlanFormat, report: &Report) {
    if format == PlanFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print_outcome(report);
    }
}

fn print_outcome(report: &Report) {
    if report.outcome == Outcome::DryRun || report.outcome == Outcome::Refused {
        return;
    }
    if report.dry_run {
        // A dry run that could not finish its preflight: what stopped it, and that nothing was written.
        let why = report.message.as_deref().unwrap_or("see the errors");
        println!(
            "Dry run of the restore of tenant `{}`: the preflight stopped ({why}). Nothing was written.",
            report.tenant
        );
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

/// An identifier map's entries, one a line.
pub fn map_lines(entries: &[MapEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("  {:<40} {} -> {}", e.scope, e.from, e.to))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An identifier map used, or proposed.
pub fn mapped(from: &str, to: &str, entries: &[MapEntry], proposed: bool) {
    let what = if proposed {
        "Proposed identifier map"
    } else {
        "Identifier map"
    };
    println!(
        "{what}, from tenant `{from}` to `{to}`:\n{}",
        map_lines(entries)
    );
}

pub fn domain_line(d: &DomainEntry) -> String {
    let status = crate::util::word(&d.status);
    let mut line = format!(
        "  {:<10} {:<14} {:>5} resources",
        d.domain.as_str(),
        status,
        d.resources
    );
    if let Some(m) = &d.message {
        line.push_str(&format!("  {m}"));
    }
    if !d.not_carried.is_empty() {
        let counted = crate::domains::provider::counted(&d.not_carried);
        line.push_str(&format!("  not carried: {counted}"));
    }
    line
}

/// What a retention run kept (and why) and removed.
pub fn pruned(p: &crate::ops::backup::Pruned, dry_run: bool, json: bool) {
    if json {
        let v = serde_json::json!({
            "dry_run": dry_run,
            "kept": p.kept.iter().map(|(r, why)| serde_json::json!({"id": r.id, "tenant": r.tenant, "reasons": why})).collect::<Vec<_>>(),
            "removed": p.removed.iter().map(|r| serde_json::json!({"id": r.id, "tenant": r.tenant})).collect::<Vec<_>>(),
            "blobs_removed": p.blobs,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for (r, why) in &p.kept {
        println!("keep    {}  {:<16} {}", r.id, r.tenant, why.join(", "));
    }
    let verb = if dry_run { "would remove" } else { "remove" };
    for r in &p.removed {
        println!("{verb:<7} {}  {}", r.id, r.tenant);
    }
    println!(
        "{} kept, {} {}{}",
        p.kept.len(),
        p.removed.len(),
        if dry_run {
            "would be removed"
        } else {
            "removed"
        },
        if dry_run {
            String::new()
        } else {
            format!(" ({} blobs no backup used)", p.blobs)
        }
    );
}

/// A backup taken: its outcome and each domain's line.
pub fn backup_created(r: &crate::backup::Record) {
    println!(
        "Backup {} of tenant `{}`: {} ({} resources, {} bytes).",
        r.id,
        r.tenant,
        r.status,
        r.domains.iter().map(|d| d.resources).sum::<usize>(),
        r.size()
    );
    for d in &r.domains {
        println!("{}", domain_line(d));
    }
    if r.status == crate::backup::BackupStatus::Partial {
        eprintln!("warning: the backup is partial: the domains in error are not in it");
    }
}

/// Writes to standard output at once; a reader that stopped early (`| head`) is no error.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// A tenant's output, printed whole: a heading with its status and its plan when it has changes; and,
/// apart, its problems, warnings and notes (for standard error), a line each.
pub fn block(d: &crate::ops::fleet::Checked) -> (String, Vec<String>) {
    let r = &d.result;
    let mut s = format!("── {} · {} · {}", r.tenant, r.path, r.status.words());
    if r.counts.total() > 0 {
        s.push_str(&format!(" ({} changes)", r.counts.total()));
    } else if !r.status.failed() {
        s.push_str(&format!(" ({} resources)", r.unchanged));
    }
    s.push('\n');
    let mut said: Vec<String> = d.notes.lines().map(String::from).collect();
    said.extend(r.problems().iter().map(|p| format!("error: {p}")));
    said.extend(r.warnings.iter().map(|w| format!("warning: {w}")));
    if let Some(plan) = d.plan.as_ref().filter(|p| p.has_changes()) {
        s.push_str(&render::text(
            plan,
            Style {
                color: super::output::stdout_color(),
            },
        ));
    }
    (s, said)
}
