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

use futures_util::future::join_all;

use crate::domains::Spec;
use crate::domains::provider::{Provider, ProviderError};
use crate::model::{Domain, Tenant};
use crate::plan::graph::Graph;
use crate::plan::{Action, Change, Item, Plan, domain_order};
use crate::state::State;

/// The changes of one domain that run together.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub level: usize,
    pub domain: String,
    /// In plan order.
    pub changes: Vec<Change>,
}

/// The plan's changes as steps, in run order (level, then domain order).
pub fn steps(plan: &Plan, tenant: &Tenant, desired: &[Item], live: &[Item]) -> Vec<Step> {
    let dspecs: Vec<&Spec> = desired.iter().map(|i| &i.spec).collect();
    let lspecs: Vec<&Spec> = live.iter().map(|i| &i.spec).collect();
    let dgraph = Graph::build(tenant, &dspecs);
    let lgraph = Graph::build(tenant, &lspecs);
    let dindex: HashMap<String, usize> = desired
        .iter()
        .enumerate()
        .map(|(i, x)| (x.address.to_string(), i))
        .collect();
    let lindex: HashMap<String, usize> = live
        .iter()
        .enumerate()
        .map(|(i, x)| (x.address.to_string(), i))
        .collect();
    let at: HashMap<&str, usize> = plan
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.address.as_str(), i))
        .collect();
    let domain = |c: &Change| c.kind.split('.').next().unwrap_or_default().to_string();
    let mut level = vec![0usize; plan.changes.len()];
    // Plan order puts what a change waits for before it (creates by wave, deletes in reverse dependency order).
    for (k, c) in plan.changes.iter().enumerate() {
        let before: Vec<String> = if c.action == Action::Delete {
            // A deleted resource goes after the deletes of what depends on it.
            lindex
                .get(&c.address)
                .map(|&i| {
                    lgraph
                        .descendants(i)
                        .into_iter()
                        .map(|j| live[j].address.to_string())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            dindex
                .get(&c.address)
                .map(|&i| {
                    dgraph
                        .ancestors(i)
                        .into_iter()
                        .map(|j| desired[j].address.to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mine = domain(c);
        level[k] = before
            .iter()
            .filter_map(|a| at.get(a.as_str()).copied())
            .filter(|&j| {
                j < k && (plan.changes[j].action == Action::Delete) == (c.action == Action::Delete)
            })
            .map(|j| level[j] + usize::from(domain(&plan.changes[j]) != mine))
            .max()
            .unwrap_or(0);
    }
    let mut steps: Vec<Step> = Vec::new();
    for (k, c) in plan.changes.iter().enumerate() {
        let d = domain(c);
        match steps
            .iter_mut()
            .find(|s| s.level == level[k] && s.domain == d)
        {
            Some(s) => s.changes.push(c.clone()),
            None => steps.push(Step {
                level: level[k],
                domain: d,
                changes: vec![c.clone()],
            }),
        }
    }
    steps.sort_by_key(|s| (s.level, domain_order(&s.domain)));
    steps
}

/// What the engine needs of the run: the state store and the run's journal.
pub struct Journal<'a> {
    pub state: &'a State,
    pub run: &'a str,
}

impl Journal<'_> {
    async fn record(&self, step: usize, domain: &str, status: &str) {
        // The journal helps people and later runs; it never stops an apply that is under way.
        if let Err(e) = self
            .state
            .journal(self.run, step as i64, domain, status)
            .await
        {
            tracing::warn!("could not journal step {step} ({domain}): {e}");
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
    /// Domains whose steps all succeeded.
    pub done: Vec<String>,
}

/// Runs the steps: each level's steps concurrently, levels in order.
pub async fn run<P: Provider>(
    steps: &[Step],
    providers: &[P],
    desired: &[Item],
    live: &[Item],
    bases: &HashMap<String, PathBuf>,
    journal: &Journal<'_>,
) -> Outcome {
    let mut outcome = Outcome {
        applied: 0,
        errors: Vec::new(),
        done: Vec::new(),
    };
    let mut ok = vec![false; steps.len()];
    let levels = steps.iter().map(|s| s.level).max().map_or(0, |m| m + 1);
    for level in 0..levels {
        let work = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.level == level)
            .map(|(n, s)| async move {
                let Some(p) = providers.iter().find(|p| p.domain().as_str() == s.domain) else {
                    let e = ProviderError::Change {
                        domain: s.domain.parse().unwrap_or(Domain::Postgres),
                        message: "no connection to this system was opened".into(),
                    };
                    return (n, Err(e));
                };
                journal.record(n, &s.domain, "applying").await;
                let r = p.apply(&s.changes, desired, live, bases).await;
                let status = if r.is_ok() { "committed" } else { "failed" };
                journal.record(n, &s.domain, status).await;
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
    for s in steps {
        let all = steps
            .iter()
            .zip(&ok)
            .filter(|(t, _)| t.domain == s.domain)
            .all(|(_, &k)| k);
        if all && !outcome.done.contains(&s.domain) {
            outcome.done.push(s.domain.clone());
        }
    }
    outcome
}
