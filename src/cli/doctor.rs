//! `falconer doctor`: the checks of a profile, one block a system (or the state store, the repository,
//! the key); exit 1 when any problem was found.

use super::args::RepoArg;
use super::common::block_on;
use super::exit;
use super::output::Output;
use crate::ops::doctor::{Check, Doctor};
use crate::ops::live::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArg,
    /// The checks as one JSON document on standard output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &Args, out: &Output, settings: &Settings) -> i32 {
    block_on(out, async {
        let doctor = match crate::ops::doctor::doctor(settings, &a.repo.spec()).await {
            Ok(d) => d,
            Err(e) => return exit::fail(out, &e),
        };
        match a.json {
            true => println!(
                "{}",
                serde_json::to_string_pretty(&doctor).unwrap_or_default()
            ),
            false => print!("{}", text(&doctor)),
        }
        summary(out, &doctor)
    })
}

fn summary(out: &Output, doctor: &Doctor) -> i32 {
    match doctor.problems() {
        0 => {
            eprintln!("No problems found.");
            exit::OK
        }
        n => {
            out.error(format!(
                "{n} problem{} found: each is said above with what to do",
                if n == 1 { "" } else { "s" }
            ));
            exit::ERROR
        }
    }
}

/// The checks as text: a line a subject with its verdict, its facts indented under it, then its problems.
pub fn text(doctor: &Doctor) -> String {
    let width = doctor
        .checks
        .iter()
        .flat_map(|c| c.found.facts.keys().map(String::len))
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for c in &doctor.checks {
        s.push_str(&format!("{:<20}{}\n", c.subject, verdict(c)));
        for (k, v) in &c.found.facts {
            s.push_str(&format!("  {k:<width$}  {v}\n"));
        }
        for p in &c.found.problems {
            s.push_str(&format!("  problem: {p}\n"));
        }
    }
    s
}

fn verdict(c: &Check) -> String {
    match (c.configured, c.found.problems.len()) {
        (false, 0) => "not configured".into(),
        (_, 0) => "ok".into(),
        (_, 1) => "1 problem".into(),
        (_, n) => format!("{n} problems"),
    }
}
