//! The apply engine: turns a plan into steps and runs them against the live systems, journaled.
//!
//! A **step** is the changes of one domain that can run together. Each domain's changes form one step (for
//! PostgreSQL: one transaction) unless a change depends on a change of another domain: then it goes into a
//! later step, after the step it depends on. Formally, a change's level is the highest level of the changes
//! it depends on, plus one where that dependency is in another domain; a step is (level, domain). Steps of
//! one level run concurrently (different backends); levels run in order, and a failed level stops the run.
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
use crate::state::{Lock, State, StateError};

/// The changes of one domain that run together.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub level: usize,
    pub domain: Domain,
    /// In plan order.
    pub changes: Vec<Change>,
}

/// The plan's changes as steps, in run order (level, then domain order). Uses the predecessors the planner
/// recorded (`Plan::after`).
pub fn steps(plan: &Plan) -> Vec<Step> {
    let mut level = vec![0usize; plan.changes.len()];
    // Plan order puts what a change waits for before it.
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
    let mut at: HashMap<(usize, Domain), usize> = HashMap::new();
    let mut steps: Vec<Step> = Vec::new();
    for (k, c) in plan.changes.iter().enumerate() {
        let key = (level[k], c.kind.domain);
        match at.get(&key) {
            Some(&s) => steps[s].changes.push(c.clone()),
            None => {
                at.insert(key, steps.len());
                steps.push(Step {
                    level: level[k],
                    domain: c.kind.domain,
                    changes: vec![c.clone()],
                });
            }
        }
    }
    steps.sort_by_key(|s| (s.level, domain_rank(s.domain)));
    steps
}

/// What the engine needs of the run: the state store, the run's journal and the lock the run holds.
pub struct Journal<'a> {
    pub state: &'a State,
    pub run: &'a str,
    /// The tenant's lock, renewed before each level; `None` runs unlocked (tests of the engine alone).
    pub lock: Option<(&'a Lock, Duration)>,
}

/// Why a run stopped before its next level, though no step failed.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// The lock is no longer this run's: broken (`falconer lock break`) or taken over.
    #[error(
        "the lock of tenant `{0}` is no longer held by this run (broken or taken over); it stopped there, before its next step or before recording what it did"
    )]
    LockLost(String),
    /// The state store could not renew the lock.
    #[error("the state store could not renew the lock of tenant `{tenant}`: {error}")]
    State { tenant: String, error: StateError },
}

impl Journal<'_> {
    async fn record(&self, step: usize, domain: Domain, status: &str) {
        // The journal helps people and later runs; a failure to write it is reported, and the apply goes on
        // (the next apply plans from the live state, not from the journal).
        if let Err(e) = self
            .state
            .journal(self.run, step as i64, domain.as_str(), status)
            .await
        {
            eprintln!("warning: could not journal step {step} ({domain}): {e}");
        }
    }

    /// Renews the lock; an error when it is no longer this run's.
    async fn hold(&self) -> Result<(), Stopped> {
        let Some((lock, ttl)) = self.lock else {
            return Ok(());
        };
        match self.state.heartbeat(lock, ttl).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stopped::LockLost(lock.tenant.clone())),
            Err(error) => Err(Stopped::State {
                tenant: lock.tenant.clone(),
                error,
            }),
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Changes applied.
    pub applied: usize,
    /// The errors of the failed steps (the run stopped after their level).
    pub errors: Vec<ProviderError>,
    /// Why the run stopped before a level, when no step failed.
    pub stopped: Option<Stopped>,
    /// Domains whose steps all succeeded.
    pub done: Vec<Domain>,
}

/// Runs the steps: each level's steps concurrently, levels in order. Before each level, and after the last,
/// the lock is renewed; a lost lock stops the run there (after the last: before the run records anything).
pub async fn run<P: Provider>(
    steps: &[Step],
    providers: &[P],
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
    };
    let mut ok = vec![false; steps.len()];
    let levels = steps.iter().map(|s| s.level).max().map_or(0, |m| m + 1);
    for level in 0..levels {
        if let Err(e) = journal.hold().await {
            outcome.stopped = Some(e);
            break;
        }
        let work = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.level == level)
            .map(|(n, s)| async move {
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
            });
        for (n, r) in join_all(work).await {
            match r {
                Ok(count) => {
                    outcome.applied += count;
                    ok[n] = true;
                }
                Err(e) => outcome.errors.push(e),
            }
        }
        if !outcome.errors.is_empty() {
            break;
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
            .zip(&ok)
            .filter(|(t, _)| t.domain == s.domain)
            .all(|(_, &k)| k);
        if all && !outcome.done.contains(&s.domain) {
            outcome.done.push(s.domain);
        }
    }
    outcome
}
