//! `falconer drift`, `falconer lock list|break` and `falconer state list`: reading and tending the state
//! store and the live systems without changing them (breaking a lock aside).

use std::path::PathBuf;

use super::args::{FleetArgs, PlanFormat};
use super::{common::with_state, exit, output::Output};
use crate::fleet::report::FailOn;
use crate::ops::live;
use crate::plan::Options;
use crate::state::{State, rfc3339};

#[derive(clap::Args, Debug)]
pub struct DriftArgs {
    /// The manifest (file or directory) the live systems should match; for a fleet, several, a directory of
    /// tenants, globs or a fleet file (docs/fleets.md).
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// `text`, `markdown` (a pull-request comment) or `json`.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Only these resources (glob patterns on addresses), with what they depend on.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Not these resources (glob patterns on addresses), nor what depends on them.
    #[arg(long, value_name = "ADDR")]
    pub exclude: Vec<String>,
    /// Fleets: which drift fails the run (exit 2): `any`, or only `new` drift (not seen by the last check,
    /// which the state store keeps per tenant).
    #[arg(long, value_enum, default_value_t = FailOn::Any)]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum LockCommand {
    /// Every lock: tenant, holder, since, expiry.
    List,
    /// Breaks a tenant's lock (when its run is known to be dead).
    Break {
        /// The tenant whose lock to break.
        tenant: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum StateCommand {
    /// The resources falconer manages for a tenant.
    List {
        /// The tenant.
        tenant: String,
    },
}

/// Plans against the live systems and reports any difference: exit 0 in sync, 2 drifted, 1 error.
pub fn drift(args: &DriftArgs, out: &Output, settings: &live::Settings) -> i32 {
    let job = super::fleet::Job {
        verb: crate::ops::fleet::Verb::Drift {
            fail_on: args.fail_on,
        },
        fleet: &args.fleet,
        format: args.format,
        targets: args.target.clone(),
        excludes: args.exclude.clone(),
        save: None,
    };
    if let Some(code) = super::fleet::maybe(&job, &args.paths, out, settings) {
        return code;
    }
    let opts = Options {
        targets: args.target.clone(),
        excludes: args.exclude.clone(),
        managed: None,
        in_fleet: false,
    };
    let Some(plan) = super::common::live_plan(&args.paths[0], opts, out, settings) else {
        return exit::ERROR;
    };
    super::show::print(&plan, args.format);
    if plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    }
}

pub fn lock(cmd: &LockCommand, out: &Output, state_url: &str) -> i32 {
    with_state(out, state_url, async |state: State| match cmd {
        LockCommand::List => {
            let now = crate::state::now();
            let locks = state.locks().all().await?;
            match locks.is_empty() {
                true => println!("No tenant is locked."),
                false => println!("TENANT\tSTATUS\tHOLDER\tSINCE\tEXPIRES"),
            }
            for l in locks {
                let status = if l.expired(now) { "expired" } else { "held" };
                println!(
                    "{}\t{}\t{}\tsince {}\texpires {}",
                    l.tenant,
                    status,
                    l.holder(),
                    rfc3339(l.acquired_at),
                    rfc3339(l.expires_at)
                );
            }
            Ok(exit::OK)
        }
        LockCommand::Break { tenant } => match state.locks().break_lock(tenant).await? {
            Some(l) => {
                eprintln!("broke the lock of tenant `{tenant}` held by {}", l.holder());
                Ok(exit::OK)
            }
            None => {
                eprintln!("tenant `{tenant}` was not locked");
                Ok(exit::OK)
            }
        },
    })
}

pub fn state(cmd: &StateCommand, out: &Output, state_url: &str) -> i32 {
    with_state(out, state_url, async |state: State| match cmd {
        StateCommand::List { tenant } => {
            let mut managed: Vec<String> = state
                .managed()
                .managed(tenant)
                .await?
                .iter()
                .map(|a| a.to_string())
                .collect();
            managed.sort();
            if managed.is_empty() {
                println!("falconer manages nothing of tenant `{tenant}`.");
            }
            for a in managed {
                println!("{a}");
            }
            Ok(exit::OK)
        }
    })
}
