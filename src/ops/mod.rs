//! The operations: what falconer does, between the core and the command line.
//!
//! One function per operation (apply, the live plan, the locks and the history the operations share, ...),
//! each taking its inputs as values (the [`live::Settings`] say where the state store and the systems are)
//! and returning a typed outcome or an [`Error`]. What happens on the way (problems in the input, warnings,
//! notes, the plan, a question for a person) is reported through [`Events`], which the caller implements: a
//! terminal renders them, a test or an agent records them ([`Recorded`]). Nothing here prints, reads a
//! terminal or knows an exit code: the command line maps outcomes and errors to exit codes in one place.
//! Operations are `Send` and take a [`Cancel`] token: a cancelled operation stops before its next write.

pub mod agent;
pub mod apply;
pub mod audit;
pub mod backup;
pub mod doctor;
mod error;
mod events;
pub mod export;
pub mod fleet;
pub mod input;
pub mod lease;
pub mod live;
pub mod lock;
pub mod repo;
pub mod restore;
pub mod schedule;
pub mod tenant;
pub mod webhooks;

pub use error::{Error, Refusal, RunFailure};
pub use events::{Answer, Event, Events, Question, Recorded};

/// Stops an operation before its next write (the agent's shutdown, a test); a command line never cancels.
pub use tokio_util::sync::CancellationToken as Cancel;

/// Every operation's future is `Send` (the agent runs many on a multi-threaded runtime): checked when the
/// tests are compiled. A closure over a reference inside an operation breaks it (see `util::buffered`).
#[cfg(test)]
mod send {
    use super::*;

    fn send<F: std::future::Future + Send>(_: F) {}

    #[allow(dead_code)]
    fn operations(settings: &live::Settings, events: &dyn Events, cancel: &Cancel) {
        let opts = crate::plan::Options::default();
        send(live::plan_path(
            std::path::Path::new("m"),
            opts,
            settings,
            events,
        ));
        send(apply::apply(settings, &Default::default(), events, cancel));
        send(restore::restore(
            settings,
            &Default::default(),
            events,
            cancel,
        ));
        let repo = crate::backup::repo::Repo::open("file:r", &Default::default());
        if let Ok(repo) = repo {
            send(backup::create(settings, &repo, &Default::default(), events));
        }
        send(schedule::run_due(settings, 0, None, events));
        let plan = fleet::Verb::Plan {
            changes_fail: false,
        };
        let req = fleet::Request::of(plan, 1);
        send(fleet::run(settings, &req, (Vec::new(), None), events));
    }
}
