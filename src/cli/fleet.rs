//! `plan` and `drift` over a fleet, as the command line shows them (docs/fleets.md): each tenant's output
//! printed whole when it is done (never interleaved), then the roll-up; `--json` streams JSON Lines events
//! instead, `--report` and `--junit` write files, `--format markdown` prints a comment-sized summary. The
//! run itself is [`crate::ops::fleet`]. `plan` and `drift` share this file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::args::{FleetArgs, PlanFormat};
use super::progress::Counter;
use super::show::say;
use super::terminal::{FleetView, Terminal};
use super::{exit, output::Output};
use crate::fleet::report::{self, Event, FailOn, Report, Status, Summary, TenantResult};
use crate::fleet::{Member, junit, markdown};
use crate::ops::fleet::{Request, Verb};
use crate::ops::live::Settings;

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

/// Runs the job when `paths` name a fleet (or fleet options ask for one): `Some(exit code)`; `None` for one
/// tenant, which the command runs as before.
pub fn maybe(job: &Job, paths: &[PathBuf], out: &Output, settings: &Settings) -> Option<i32> {
    let members = match crate::fleet::resolve(paths) {
        Ok(Some(m)) => m,
        Ok(None) if job.fleet.asked() => vec![Member::of(paths[0].clone())],
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
    let shard = match super::args::shard(job.fleet.shard.as_deref()) {
        Ok(s) => s.map(|s| s.to_string()),
        Err(e) => {
            out.error(e.to_string());
            return exit::ERROR;
        }
    };
    let req = Request {
        verb: job.verb,
        targets: job.targets.clone(),
        excludes: job.excludes.clone(),
        save: job.save.clone(),
        parallelism: job.fleet.parallelism,
        shard,
        share: None,
    };
    let loaded = match crate::ops::fleet::tenants(&req, members) {
        Ok(l) => l,
        Err(e) => return exit::fail(out, &e),
    };
    emit(
        job,
        &Event::Start {
            format_version: report::FORMAT_VERSION,
            command: job.verb.name().into(),
            tenants: loaded.0.len(),
            shard: loaded.1.map(|s| s.to_string()),
        },
    );
    let view = FleetView {
        json: job.fleet.json,
        blocks: job.format == PlanFormat::Text,
        bar: Counter::new(job.fleet.quiet || job.fleet.json, loaded.0.len(), "tenants"),
        said: Default::default(),
    };
    let shown = Terminal::with_fleet(out, view);
    let done =
        super::common::run_async(out, crate::ops::fleet::run(settings, &req, loaded, &shown));
    shown.clear_progress();
    if let Some(f) = &shown.fleet {
        f.repeated();
    }
    let outcome = match done {
        Some(Ok(o)) => o,
        Some(Err(e)) => return exit::fail(out, &e),
        None => return exit::ERROR,
    };
    let code = exit_code(job.verb, &outcome.results);
    let report = Report {
        format_version: report::FORMAT_VERSION,
        command: job.verb.name().into(),
        started_at: outcome.started_at,
        finished_at: outcome.finished_at,
        shard: outcome.shard.map(|s| s.to_string()),
        summary: Summary::of(&outcome.results, code),
        tenants: outcome.results,
    };
    finish(job, &report, out).unwrap_or(code)
}

/// Prints an event, when `--json` asks for them.
fn emit(job: &Job, e: &Event) {
    if job.fleet.json {
        say(&(e.line() + "\n"));
    }
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
    match super::common::write_atomic(path, text) {
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

/// The roll-up: a short table, a row per status with its count, and the tenants (by id) of each status
/// that needs attention.
pub fn rollup(report: &Report) -> String {
    let mut s = format!(
        "\nfalconer {}: {} tenant(s)\n",
        report.command, report.summary.tenants
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
    for (status, n) in &report.summary.by_status {
        let mut names: Vec<String> = Vec::new();
        if attention.contains(status) {
            names = report
                .tenants
                .iter()
                .filter(|r| r.status == *status)
                .map(|r| match r.counts.total() {
                    0 => r.tenant.clone(),
                    n => format!("{} ({n})", r.tenant),
                })
                .collect();
        }
        let row = format!("  {:<16} {n:>5}  {}", status.words(), names.join(", "));
        s.push_str(row.trim_end());
        s.push('\n');
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
