//! `falconer report merge`: the reports of a fleet run's shards (`--report` of each CI job) as one report,
//! one Markdown comment and one JUnit file.

use std::path::PathBuf;

use super::{exit, output::Output};
use crate::fleet::report::Report;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Join fleet reports (each shard's `--report FILE`) into one: the roll-up on standard output, and the
    /// merged report, Markdown comment and JUnit file where asked; the exit code is the worst of theirs.
    Merge(MergeArgs),
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The reports (`--report FILE` of `plan` or `drift`), one per shard.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Write the merged report (JSON) here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the Markdown summary (a pull-request comment) here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write JUnit XML (a case per tenant and domain) here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

pub fn run(c: &Command, out: &Output) -> i32 {
    let Command::Merge(a) = c;
    let mut reports = Vec::new();
    for p in &a.reports {
        let read = std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Report>(&t).map_err(|e| e.to_string()));
        match read {
            Ok(r) => reports.push(r),
            Err(e) => {
                out.error(format!("{} is not a fleet report: {e}", p.display()));
                return exit::ERROR;
            }
        }
    }
    let merged = match Report::merge(reports) {
        Ok(m) => m,
        Err(e) => {
            out.error(e);
            return exit::ERROR;
        }
    };
    let full = a.output.as_ref().map(|p| p.display().to_string());
    let files = [
        (
            &a.output,
            Ok(serde_json::to_string_pretty(&merged).unwrap_or_default() + "\n"),
        ),
        (
            &a.markdown,
            Ok(crate::fleet::markdown::render(&merged, full.as_deref())),
        ),
        (&a.junit, crate::fleet::junit::render(&merged)),
    ];
    for (path, text) in files {
        let Some(path) = path else { continue };
        let written =
            text.and_then(|t| super::common::write_atomic(path, &t).map_err(|e| e.to_string()));
        if let Err(e) = written {
            out.error(format!("cannot write {}: {e}", path.display()));
            return exit::ERROR;
        }
    }
    super::show::say(&super::fleet::rollup(&merged));
    merged.summary.exit_code
}
