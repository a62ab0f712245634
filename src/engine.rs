//! The apply engine: turns a plan into steps and runs them against the live systems, journaled.
//!
//! A **step** is the changes of one domain that can run together. Each domain's changes form one step (for
//! PostgreSQL: one transaction) unless a change depends on a change of another domain: then it goes into a
//! later step, after the step it depends on. Formally, a change's level is the highest level of the changes
//! it depends on, plus one where that dependency is in another domain; a step is (level, domain). Steps of
//! one level run concurrently (different backends); levels run in order. A failed step stops the steps that
//! wait on it (directly or through others); the steps that do not wait on it still run, so one system's
//! failure does not hold up the others.
//! Within a step the provider keeps plan order (waves) with its own bounded parallelism.
//!
//! Every step is journaled (`applying`, then `committed` or `failed`). A run killed at any point is
//! completed by the next apply, which plans from the live state again: what was done is no longer a
//! change, and what was not is.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::join_all;

use crate::domains::provider::{Provider, ProviderError};
use crate::model::{Address, Domain};
use crate::plan::{Change, Item, Plan, domain_rank};
use crate::state::{Lock, Locks, Runs, StateError};

/// The changes of one domain that run together.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub level: usize,
    pub domain: Domain,
    /// In plan order.
    pub changes: Vec<Change>,
    /// The steps (indices in run order) this one waits on.
    pub after: Vec<usize>,
}

/// The plan's changes as steps, in run order (level, then domain order). Uses the predecessors the planner
/// recorded (`Plan::after`).
pub fn steps(plan: &Plan) -> Vec<Step> {
    let level = levels(plan);
    let mut at: HashMap<(usize, Domain), usize> = HashMap::new();
    let mut of_change = vec![0usize; plan.changes.len()];
    let mut steps: Vec<Step> = Vec::new();
    for (k, c) in plan.changes.iter().enumerate() {
        let key = (level[k], c.kind.domain);
        let s = *at.entry(key).or_insert_with(|| {
            steps.push(Step {
                level: level[k],
                domain: c.kind.domain,
                changes: Vec::new(),
                after: Vec::new(),
            });
            steps.len() - 1
        });
        steps[s].changes.push(c.clone());
        of_change[k] = s;
    }
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by_key(|&s| (steps[s].level, domain_rank(steps[s].domain)));
    let mut rank = vec![0usize; steps.len()];
    for (r, &s) in order.iter().enumerate() {
        rank[s] = r;
    }
    for (k, &s) in of_change.iter().enumerate() {
        for &j in plan.after.of(k).iter().filter(|&&j| j < k) {
            let t = of_change[j];
            if t != s && !steps[s].after.contains(&rank[t]) {
                steps[s].after.push(rank[t]);
            }
        }
    }
    let mut sorted: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&s| sorted[s].take())
        .map(|mut st| {
            st.after.sort_unstable();
            st
        })
        .collect()
}

/// Each change's level: the highest level of the changes it waits for, plus one where that change is of
/// another domain (plan order puts what a change waits for before it).
fn levels(plan: &Plan) -> Vec<usize> {
    let mut level = vec![0usize; plan.changes.len()];
    for (k, c) in plan.changes.iter().enumerate() {
        level[k] = plan
            .after
            .of(k)
            .iter()
            .filter(|&&j| j < k)
            .map(|&j| level[j] + usize::from(plan.changes[j].kind.domain != c.kind.domain))
            .max()
            .unwrap_or(0);
    }
    level
}

/// What the engine needs of the run: the state store, the run's journal and the lock the run holds.
pub struct Journal<'a> {
    /// Where each step is journaled.
    pub runs: Runs<'a>,
    /// Where the lock is renewed.
    pub locks: Locks<'a>,
    pub run: &'a str,
    /// The tenant's lock, renewed before each level; `None` runs unlocked (tests of the engine alone).
    pub lock: Option<(&'a Lock, Duration)>,
    /// Stops the run before its next level once cancelled (an agent shutting down).
    pub cancel: Option<&'a tokio_util::sync::CancellationToken>,
}

/// Why a run stopped before its next level, though no step failed.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// The lock is no longer this run's: broken (`falconer lock break`) or taken over.
    #[error(
        "the lock of tenant `{0}` is no longer held by this run (broken or taken over); it stopped there, before its next step or before recording what it did"
    )]
    LockLost(String),
    /// The run was cancelled (its caller is shutting down).
    #[error(
        "the run was cancelled; it stopped before its next step, and the next apply completes the rest"
    )]
    Cancelled,
    /// The state store could not renew the lock.
    #[error("the state store could not renew the lock of tenant `{tenant}`: {error}")]
    State { tenant: String, error: StateError },
}

impl Journal<'_> {
    async fn record(&self, step: usize, domain: Domain, status: &str) {
        // The journal helps people and later runs; a failure to write it is reported, and the apply goes on
        // (the next apply plans from the live state, not from the journal).
        if let Err(e) = self
            .runs
            .journal(self.run, step as i64, domain.as_str(), status)
            .await
        {
            tracing::warn!("could not journal step {step} ({domain}): {e}");
        }
    }

    /// Renews the lock; an error when it is no longer this run's.
    async fn hold(&self) -> Result<(), Stopped> {
        if self.cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(Stopped::Cancelled);
        }
        let Some((lock, ttl)) = self.lock else {
            return Ok(());
        };
        match self.locks.heartbeat(lock, ttl).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stopped::LockLost(lock.tenant.clone())),
            Err(error) => Err(Stopped::State {
                tenant: lock.tenant.clone(),
                error,
            }),
        }
    }
}

/// Runs one step through its domain's provider, journaled.
async fn run_step<P: Provider>(
    n: usize,
    s: &Step,
    providers: &[&P],
    (desired, live, bases): (&[Item], &[Item], &HashMap<Address, PathBuf>),
    journal: &Journal<'_>,
) -> (usize, Result<usize, ProviderError>) {
    let Some(p) = providers.iter().find(|p| p.domain() == s.domain) else {
        let e = ProviderError::Change {
            domain: s.domain,
            message: "no connection to this system was opened".into(),
        };
        return (n, Err(e));
    };
    journal.record(n, s.domain, "applying").await;
    let r = p.apply(&s.changes, desired, live, bases).await;
    let status = if r.is_ok() { "committed" } else { "failed" };
    journal.record(n, s.domain, status).await;
    (n, r)
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Changes applied.
    pub applied: usize,
    /// The errors of the failed steps (the steps waiting on them did not run).
    pub errors: Vec<ProviderError>,
    /// Why the run stopped before a level, when no step failed.
    pub stopped: Option<Stopped>,
    /// Domains whose steps all succeeded.
    pub done: Vec<Domain>,
    /// Steps not run because they wait on a failed one: their domains.
    pub blocked: Vec<Domain>,
}

/// Runs the steps: each level's steps concurrently, levels in order. Before each level, and after the last,
/// the lock is renewed; a lost lock stops the run there (after the last: before the run records anything).
pub async fn run<P: Provider>(
    steps: &[Step],
    providers: &[&P],
    desired: &[Item],
    live: &[Item],
    bases: &HashMap<Address, PathBuf>,
    journal: &Journal<'_>,
) -> Outcome {
    let mut outcome = Outcome {
        applied: 0,
        errors: Vec::new(),
        stopped: None,
        done: Vec::new(),
        blocked: Vec::new(),
    };
    // None: not run (yet); Some(true): committed; Some(false): failed or blocked.
    let mut ran: Vec<Option<bool>> = vec![None; steps.len()];
    let levels = steps.iter().map(|s| s.level).max().map_or(0, |m| m + 1);
    for level in 0..levels {
        if let Err(e) = journal.hold().await {
            outcome.stopped = Some(e);
            break;
        }
        for (n, s) in steps.iter().enumerate().filter(|(_, s)| s.level == level) {
            if s.after.iter().any(|&t| ran[t] == Some(false)) {
                ran[n] = Some(false);
                if !outcome.blocked.contains(&s.domain) {
                    outcome.blocked.push(s.domain);
                }
            }
        }
        // By index, not by reference: a closure over `&Step` would keep the run's future from being `Send`
        // (the compiler cannot see that its lifetime is one).
        let now: Vec<usize> = (0..steps.len())
            .filter(|&n| steps[n].level == level && ran[n].is_none())
            .collect();
        let work = now
            .into_iter()
            .map(|n| run_step(n, &steps[n], providers, (desired, live, bases), journal));
        for (n, r) in join_all(work).await {
            ran[n] = Some(r.is_ok());
            match r {
                Ok(count) => outcome.applied += count,
                Err(e) => outcome.errors.push(e),
            }
        }
    }
    // After the last level too: a run that lost its lock must not record what it did as its own.
    if levels > 0
        && outcome.errors.is_empty()
        && outcome.stopped.is_none()
        && let Err(e) = journal.hold().await
    {
        outcome.stopped = Some(e);
    }
    for s in steps {
        let all = steps
            .iter()
            .zip(&ran)
            .filter(|(t, _)| t.domain == s.domain)
            .all(|(_, &k)| k == Some(true));
        if all && !outcome.done.contains(&s.domain) {
            outcome.done.push(s.domain);
        }
    }
    outcome
}
