//! `falconer apply PATH|PLANFILE [--auto-approve] [--allow HAZARD]...`: one tenant, through
//! [`crate::ops::apply`] (a fleet goes to `fleet_each`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::fleet_each;
use super::terminal::Terminal;
use super::{exit, output::Output};
use crate::fleet::Member;
use crate::model::HazardCode;
use crate::ops::apply::Request;
use crate::ops::live::Settings;
use crate::ops::{self, Cancel};

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
    /// Only these addresses (glob patterns), with what they depend on; one that matches nothing is an error.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Leave out these addresses (glob patterns) and what depends on them.
    #[arg(long, value_name = "ADDR")]
    pub exclude: Vec<String>,
    /// Fleets: tenants applied at once, each by a falconer process of its own, its output printed whole
    /// when it ends (with --auto-approve; without it, one after another, asking for each).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallelism: usize,
    /// Fleets: only this job's share of the tenants, K of N (as `plan` and `drift` take it), or `auto`
    /// from the runner's parallel job (a Kubernetes Indexed Job, GitLab CI, ...; docs/fleets.md).
    #[arg(long, value_name = "K/N|auto")]
    pub shard: Option<String>,
}

impl Args {
    /// The one manifest or saved plan of a single-tenant apply.
    pub fn path(&self) -> &Path {
        &self.paths[0]
    }
}

/// Runs the apply when the paths name a fleet: `Some(exit code)`; `None` for one tenant.
pub fn fleet(args: &Args, out: &Output, settings: &Settings) -> Option<i32> {
    let members = match fleet_each::members(&args.paths) {
        Ok(Some(m)) => m,
        // With --shard, one tenant is a fleet of one: this job applies it only when it is its share.
        Ok(None) if args.shard.is_some() => vec![Member::of(args.paths[0].clone())],
        Ok(None) => return None,
        Err(e) => return Some(fleet_each::failed(&e.to_string(), out)),
    };
    let members = match super::args::shard(args.shard.as_deref()) {
        Ok(Some(shard)) => fleet_each::share(members, shard),
        Ok(None) => members,
        Err(e) => return Some(fleet_each::failed(&e.to_string(), out)),
    };
    if args.auto_approve && args.parallelism > 1 {
        let fleet: Vec<OsString> = args.paths.iter().map(|p| p.clone().into()).collect();
        let argv = |m: &Member| {
            Ok(fleet_each::command_line(
                &fleet,
                &[],
                &[m.path.clone().into()],
            ))
        };
        let outcomes = fleet_each::in_processes(&members, args.parallelism, settings, argv);
        return Some(fleet_each::finish("apply", "applied", &outcomes));
    }
    Some(fleet_each::each(
        "apply",
        "applied",
        &members,
        settings,
        |m, s| {
            let tenant = Args {
                paths: vec![m.path.clone()],
                ..args.clone()
            };
            one(&tenant, out, s)
        },
    ))
}

/// Applies one tenant: `args.paths[0]`.
pub fn one(args: &Args, out: &Output, settings: &Settings) -> i32 {
    let req = Request {
        path: args.path().to_path_buf(),
        allow: args.allow.clone(),
        auto_approve: args.auto_approve,
        targets: args.target.clone(),
        excludes: args.exclude.clone(),
    };
    super::common::block_on(out, async {
        let events = Terminal::new(out);
        match ops::apply::apply(settings, &req, &events, &Cancel::new()).await {
            Ok(a) if a.plan.has_changes() => {
                println!("Applied: {} change(s) to tenant `{}`.", a.applied, a.tenant);
                exit::OK
            }
            Ok(_) => exit::OK,
            Err(e) => exit::fail(out, &e),
        }
    })
}
