//! Exit codes (documented in the README), and the one mapping of the operations' errors to them.

use super::output::Output;
use crate::backup::repo::RepoError;
use crate::ops::Error;

/// Success; no changes.
pub const OK: i32 = 0;
/// An error: invalid input, an unreachable system, a failed step.
pub const ERROR: i32 = 1;
/// Changes present (`plan --detailed-exitcode`, `drift`).
pub const CHANGES: i32 = 2;
/// The tenant's lock is held by another run.
pub const LOCKED: i32 = 3;
/// Refused by preflight (hazard not allowed, suspended tenant, stale plan).
pub const REFUSED: i32 = 4;
/// Partly done: a backup with some domains in error (the others are kept).
pub const PARTIAL: i32 = 5;

/// The exit code of an operation's error.
pub fn of(e: &Error) -> i32 {
    match e {
        Error::Locked { .. } | Error::Repo(RepoError::Locked { .. }) => LOCKED,
        Error::Refused(_) => REFUSED,
        Error::Declined => OK,
        Error::Run(f) if f.lock_lost() => LOCKED,
        Error::Partial(_) => PARTIAL,
        Error::Differs(_) => CHANGES,
        Error::Invalid { .. }
        | Error::Connect(_)
        | Error::System(_)
        | Error::Profile(_)
        | Error::State(_)
        | Error::NotApproved(_)
        | Error::Run(_)
        | Error::Unrecorded(_)
        | Error::Cancelled
        | Error::Repo(_)
        | Error::Map(_)
        | Error::File(_)
        | Error::Plan(_)
        | Error::Other(_) => ERROR,
    }
}

/// Reports an operation's error on standard error; its exit code.
pub fn fail(out: &Output, e: &Error) -> i32 {
    match e {
        Error::Invalid { issues, sources } => out.issues(issues, sources),
        Error::Declined => eprintln!("Nothing applied."),
        Error::Run(f) => {
            for e in &f.errors {
                out.error(e.to_string());
            }
            if let Some(s) = &f.stopped {
                out.error(format!(
                    "{s}; the journal keeps what was done, and the next apply completes the rest"
                ));
            }
            if !f.done.is_empty() {
                let done: Vec<&str> = f.done.iter().map(|d| d.as_str()).collect();
                eprintln!(
                    "note: the changes of {} were applied; the next apply completes the rest",
                    done.join(", ")
                );
            }
        }
        e => out.error(e.to_string()),
    }
    of(e)
}
