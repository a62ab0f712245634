//! Property tests of the planner: a state planned against itself has no changes; applying a plan's
//! changes to the live state (a simulator) converges; deletes never touch unmanaged or out-of-scope
//! resources.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use falconer::domains::{Checker, Origin, Spec};
use falconer::manifest::Manifest;
use falconer::model::{Address, Tenant};
use falconer::plan::{self, Action, Item, Options, Plan};
use falconer::secrets::FingerprintKey;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// The items of a manifest, one per address (generated manifests may repeat an address).
fn items(m: &Manifest) -> Vec<Item> {
    let key = FingerprintKey::new("props");
    let mut seen = HashSet::new();
    let mut w = Vec::new();
    m.resources
        .iter()
        .filter(|r| seen.insert(r.address()))
        .map(|r| Item::new(r.spec.clone(), Path::new("."), &key, &mut w))
        .collect()
}

fn in_scope(tenant: &Tenant, spec: &Spec) -> bool {
    let mut cx = Checker::new(tenant, false, Origin::None);
    spec.check(&mut cx);
    !cx.issues.iter().any(|i| i.code == "out-of-scope")
}

/// Applies a plan's changes to the live items, as a perfect applier would.
fn simulate(plan: &Plan, desired: &[Item], live: &[Item]) -> Vec<Item> {
    let by_addr: HashMap<String, &Item> =
        desired.iter().map(|i| (i.address.to_string(), i)).collect();
    let mut state: Vec<Item> = live.to_vec();
    for c in &plan.changes {
        match c.action {
            Action::Create => state.push(by_addr[&c.address.to_string()].clone()),
            Action::Update | Action::Replace => {
                if let Some(x) = state.iter_mut().find(|x| x.address == c.address) {
                    *x = by_addr[&c.address.to_string()].clone();
                }
            }
            Action::Delete => state.retain(|x| x.address != c.address),
        }
    }
    state
}

/// A desired manifest, and a live one built from the same tenant: partly the same resources, partly
/// generated on its own.
fn scenario() -> impl Strategy<Value = (Manifest, Manifest)> {
    (
        crate::common::manifest(true),
        crate::common::manifest(true),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(d, mut l, cut)| {
            l.tenant = d.tenant.clone();
            let keep = if d.resources.is_empty() {
                0
            } else {
                cut.index(d.resources.len() + 1)
            };
            l.resources.extend(d.resources.iter().take(keep).cloned());
            (d, l)
        })
}

/// A plan, or why the case does not count: a generated dependency cycle is rejected (proptest draws
/// another case, and fails the test when too many are rejected; [`counted`] checks `cases` plans really
/// ran); any other planning error fails the case.
fn planned(r: Result<plan::Plan, plan::PlanError>) -> Result<plan::Plan, TestCaseError> {
    match r {
        Ok(p) => Ok(p),
        Err(plan::PlanError::Cycle(_)) => Err(TestCaseError::reject("a dependency cycle")),
        Err(e) => Err(TestCaseError::fail(e.to_string())),
    }
}

/// Runs `test` on `cases()` generated values and counts the cases that really planned: a case rejected (a
/// generated dependency cycle) does not count, proptest draws another; the run fails below the floor (all of
/// them), so a test that quietly skipped its cases cannot pass.
fn counted<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ran = AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    let result = runner.run(&strategy, |v| {
        test(v)?;
        ran.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let ran = ran.into_inner();
    // A case that fails is shrunk (run again); a passing run counts each case once.
    assert!(
        ran >= cases() as usize,
        "{name}: only {ran} of {} cases planned",
        cases()
    );
}

#[test]
fn a_state_planned_against_itself_has_no_changes() {
    counted("self", crate::common::manifest(true), |m| {
        let i = items(&m);
        let p = planned(plan::make(&m.tenant, &i, &i, &Options::default()))?;
        prop_assert!(p.changes.is_empty(), "{:?}", p.changes);
        prop_assert_eq!(p.summary.unchanged, i.len());
        Ok(())
    });
}

#[test]
fn applying_a_plan_converges() {
    counted("converges", scenario(), |(d, l)| {
        let (di, li) = (items(&d), items(&l));
        let p = planned(plan::make(&d.tenant, &di, &li, &Options::default()))?;
        let after = simulate(&p, &di, &li);
        let again = plan::make(&d.tenant, &di, &after, &Options::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(again.changes.is_empty(), "{:?}", again.changes);
        Ok(())
    });
}

#[test]
fn deletes_never_touch_unmanaged_or_out_of_scope_resources() {
    let picks = prop::collection::vec(any::<bool>(), 0..16);
    counted("deletes", (scenario(), picks), |((d, l), picks)| {
        let (di, li) = (items(&d), items(&l));
        let managed: HashSet<Address> = li
            .iter()
            .zip(picks.iter().chain(std::iter::repeat(&true)))
            .filter(|(_, p)| **p)
            .map(|(i, _)| i.address.clone())
            .collect();
        let opts = Options {
            managed: Some(managed.clone()),
            ..Options::default()
        };
        let p = planned(plan::make(&d.tenant, &di, &li, &opts))?;
        let specs: HashMap<&Address, &Spec> = li.iter().map(|i| (&i.address, &i.spec)).collect();
        for c in p.changes.iter().filter(|c| c.action == Action::Delete) {
            prop_assert!(
                managed.contains(&c.address),
                "deleted unmanaged {}",
                c.address
            );
            prop_assert!(
                in_scope(&d.tenant, specs[&c.address]),
                "deleted out-of-scope {}",
                c.address
            );
        }
        for u in &p.unmanaged {
            prop_assert!(!p.changes.iter().any(|c| c.address == u.as_str()));
        }
        Ok(())
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// The kinds' own answer to "is it in the tenant's scope" (what planning asks of every live resource)
    /// agrees with their checks' `out-of-scope` issues.
    #[test]
    fn in_scope_agrees_with_the_checks(m in crate::common::manifest(true)) {
        for r in &m.resources {
            prop_assert_eq!(r.spec.in_scope(&m.tenant), in_scope(&m.tenant, &r.spec), "{}", r.spec.address());
        }
    }
}
