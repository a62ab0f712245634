//! The planner: desired resources against live ones (from any source), ordered by the dependency graph,
//! with field-level changes, hazards, a summary and digests of both inputs.
//!
//! Both sides enter as [`Item`]s: a typed resource plus its canonical value with every secret sealed, so
//! nothing after [`Item::new`] sees a secret value.

pub mod diff;
pub mod render;

pub use crate::domains::item::{Action, Change, Item, PlannedField};

use std::collections::{BTreeMap, HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

use crate::domains::{HazardCx, Spec};
use crate::graph::{Cycle, Graph};
use crate::model::{Address, Domain, Hazard, HazardCode, Tenant};
use crate::secrets;
use diff::FieldChange;

/// The plan format this falconer writes (its JSON Schema is `schemas/plan.schema.json`).
pub const PLAN_FORMAT_VERSION: &str = "1";

impl From<FieldChange> for PlannedField {
    fn from(f: FieldChange) -> Self {
        PlannedField {
            path: f.path,
            old: f.old.as_ref().map(secrets::redact),
            new: f.new.as_ref().map(secrets::redact),
            sensitive: f.sensitive,
            forces_replace: f.forces_replace,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

impl Counts {
    fn add(&mut self, a: Action) {
        match a {
            Action::Create => self.create += 1,
            Action::Update => self.update += 1,
            Action::Replace => self.replace += 1,
            Action::Delete => self.delete += 1,
        }
    }
    pub fn total(&self) -> usize {
        self.create + self.update + self.replace + self.delete
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub counts: Counts,
    /// Resources that are already as desired.
    pub unchanged: usize,
    pub by_domain: BTreeMap<String, Counts>,
    /// How many changes carry each hazard code.
    pub hazards: BTreeMap<HazardCode, usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_hazard: Option<HazardCode>,
}

/// Digests of the inputs, so that a saved plan can be refused when they changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Digests {
    /// SHA-256 of the desired resources (sealed: secret changes change it, no secret is in it).
    pub desired: String,
    /// SHA-256 of the live resources the plan was computed against.
    pub live: String,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: String,
    pub tenant: String,
    /// In execution order: creates and updates by wave, deletes after them in reverse dependency order.
    pub changes: Vec<Change>,
    /// Live resources in the tenant's scope that no manifest declares and falconer does not manage:
    /// reported, never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<String>,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub digests: Digests,
    /// What the plan was made from, so that `apply PLANFILE` can make it again and refuse it if stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    /// For each change, the changes (by position) that must run before it: what it depends on (creates,
    /// updates, replaces) or what depends on it (deletes), directly or not. Recorded once by the planner;
    /// not written (a saved plan is made again before it is applied).
    #[serde(skip)]
    pub after: Order,
    /// The changes a system would refuse by a rule read from it ([`Plan::refuse`]): each address and why.
    /// Not written (made again with the plan).
    #[serde(skip)]
    pub refused: Vec<(Address, String)>,
}

/// For each change of a plan, the changes (by position) that must run before it. Derived from the changes
/// and the dependency graph by the planner, so it is no part of what makes two plans equal (a plan read back
/// from JSON has none, and is made again before it is applied).
#[derive(Debug, Clone, Default)]
pub struct Order(pub Vec<Vec<usize>>);

impl PartialEq for Order {
    fn eq(&self, _: &Order) -> bool {
        true
    }
}

impl Order {
    /// What change `k` waits for.
    pub fn of(&self, k: usize) -> &[usize] {
        self.0.get(k).map(Vec::as_slice).unwrap_or_default()
    }
}

/// The inputs of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Inputs {
    /// The manifest (file or directory), as given.
    pub manifest: String,
    /// The live state file, as given; absent when the plan was made against the live systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<String>,
    /// `--target` patterns the plan was made with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// `--exclude` patterns the plan was made with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// What a plan covers.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these addresses (glob patterns), with what they depend on.
    pub targets: Vec<String>,
    /// Not these addresses (glob patterns), nor what depends on them.
    pub excludes: Vec<String>,
    /// The live resources falconer manages (from the state store). `None`: every live resource in scope
    /// counts as managed (comparing two manifests).
    pub managed: Option<HashSet<Address>>,
    /// One tenant of a fleet: a `--target` that matches nothing here is this tenant's nothing to do (other
    /// tenants may have it); alone, it is an error.
    pub in_fleet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Cycle(Cycle),
    #[error("invalid pattern {0:?}: {1}")]
    Pattern(String, String),
    /// `--target` patterns that match no resource, declared or managed: a typo would otherwise plan nothing
    /// and say the tenant is as desired.
    #[error(
        "--target {} matches no resource of tenant `{tenant}`, declared or managed: check the address (`falconer graph` lists them)",
        .patterns.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ")
    )]
    NoTarget {
        tenant: String,
        patterns: Vec<String>,
    },
}

/// Feeds serialized JSON straight into a hash, without building the text.
struct HashWriter<'a>(&'a mut sha2::Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn digest(items: &[Item]) -> String {
    let mut order: Vec<&Item> = items.iter().collect();
    order.sort_by(|a, b| a.address.cmp(&b.address));
    let mut h = sha2::Sha256::new();
    for Item {
        address, value: v, ..
    } in order
    {
        let _ = std::io::Write::write_fmt(&mut HashWriter(&mut h), format_args!("{address}"));
        h.update([0]);
        let _ = serde_json::to_writer(HashWriter(&mut h), v);
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The address patterns (`--target`, `--exclude`, `--include`) as one glob set; `None` when there are none.
pub fn globs(patterns: &[String]) -> Result<Option<globset::GlobSet>, PlanError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        let g = globset::GlobBuilder::new(p)
            .literal_separator(false)
            .build()
            .map_err(|e| PlanError::Pattern(p.clone(), e.kind().to_string()))?;
        b.add(g);
    }
    b.build()
        .map(Some)
        .map_err(|e| PlanError::Pattern(patterns.join(" "), e.to_string()))
}

/// The domains a plan with these options can change, from what is declared and what falconer manages:
/// `None` when it is not narrowed (no `--target`). With targets: the domains of the targeted declared
/// resources that are not excluded and of what they depend on, and of the targeted managed ones; when a targeted resource is managed
/// but no longer declared (a delete, whose dependents go with it), the domains of every such resource too.
pub fn reach(
    tenant: &Tenant,
    declared: &[&Spec],
    managed: &HashSet<Address>,
    opts: &Options,
) -> Result<Option<HashSet<Domain>>, PlanError> {
    let Some(targets) = globs(&opts.targets)? else {
        return Ok(None);
    };
    let graph = Graph::build(tenant, declared);
    let mut out = HashSet::new();
    let addresses: Vec<Address> = declared.iter().map(|s| s.address()).collect();
    // Excluded: what matches `--exclude`, and what depends on it.
    let mut excluded = HashSet::new();
    if let Some(ex) = globs(&opts.excludes)? {
        for (i, a) in addresses.iter().enumerate() {
            if ex.is_match(a.to_string()) {
                excluded.insert(i);
                excluded.extend(graph.descendants(i));
            }
        }
    }
    for (i, a) in addresses.iter().enumerate() {
        if targets.is_match(a.to_string()) && !excluded.contains(&i) {
            out.insert(a.domain);
            out.extend(graph.ancestors(i).into_iter().map(|j| addresses[j].domain));
        }
    }
    let declared: HashSet<&Address> = addresses.iter().collect();
    let gone: Vec<&Address> = managed.iter().filter(|a| !declared.contains(a)).collect();
    out.extend(
        managed
            .iter()
            .filter(|a| targets.is_match(a.to_string()))
            .map(|a| a.domain),
    );
    if gone.iter().any(|a| targets.is_match(a.to_string())) {
        out.extend(gone.iter().map(|a| a.domain));
    }
    Ok(Some(out))
}

/// One side of a plan: its items, their dependency graph and waves.
struct Side<'a> {
    items: &'a [Item],
    graph: Graph,
    waves: Vec<usize>,
}

impl<'a> Side<'a> {
    fn new(tenant: &Tenant, items: &'a [Item]) -> Result<Side<'a>, PlanError> {
        let specs: Vec<&Spec> = items.iter().map(|x| &x.spec).collect();
        let graph = Graph::build(tenant, &specs);
        let waves = graph.waves().map_err(PlanError::Cycle)?;
        Ok(Side {
            items,
            graph,
            waves,
        })
    }
}

/// The changes found so far, with the side and index of the resource each belongs to (`true`: desired).
#[derive(Default)]
struct Found {
    changes: Vec<Change>,
    owners: Vec<(bool, usize)>,
    unchanged: usize,
    unmanaged: Vec<String>,
    outside: usize,
}

impl Found {
    fn push(&mut self, change: Change, owner: (bool, usize)) {
        self.changes.push(change);
        self.owners.push(owner);
    }
}

/// Plans `desired` against `live`: creates, updates and replaces of what is declared, deletes of what
/// falconer manages and no longer declares, narrowed by `--target`/`--exclude`, in plan order.
pub fn make(
    tenant: &Tenant,
    desired: &[Item],
    live: &[Item],
    opts: &Options,
) -> Result<Plan, PlanError> {
    let (d, l) = (Side::new(tenant, desired)?, Side::new(tenant, live)?);
    let live_index: HashMap<&Address, usize> = live
        .iter()
        .enumerate()
        .map(|(i, x)| (&x.address, i))
        .collect();
    let mut found = Found::default();
    declared_changes(tenant, &d, &l, &live_index, &mut found);
    delete_changes(tenant, &d, &l, opts, &mut found);
    if !opts.in_fleet {
        unmatched_targets(tenant, desired, live, &opts.targets)?;
    }
    narrow(&d, &l, opts, &mut found)?;
    let (changes, after) = in_plan_order(found.changes, &found.owners, &d, &l);
    let summary = summarize(&changes, found.unchanged);
    tracing::info!(
        create = summary.counts.create,
        update = summary.counts.update,
        replace = summary.counts.replace,
        delete = summary.counts.delete,
        unchanged = summary.unchanged,
        "planned tenant {}",
        tenant.id
    );
    let mut warnings = Vec::new();
    if found.outside > 0 {
        warnings.push(format!(
            "{} live resource(s) outside tenant `{}`'s scope are ignored",
            found.outside, tenant.id
        ));
    }
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION.to_string(),
        tenant: tenant.id.clone(),
        changes,
        unmanaged: found.unmanaged,
        summary,
        warnings,
        digests: Digests {
            desired: digest(desired),
            live: digest(live),
        },
        inputs: None,
        after,
        refused: Vec::new(),
    })
}

/// Creates, updates and replaces: each declared resource against its live one.
fn declared_changes(
    tenant: &Tenant,
    d: &Side<'_>,
    l: &Side<'_>,
    live_index: &HashMap<&Address, usize>,
    found: &mut Found,
) {
    let exists = |a: &Address| live_index.contains_key(a);
    let cx = HazardCx {
        tenant,
        live: &exists,
    };
    for (i, item) in d.items.iter().enumerate() {
        let change = match live_index.get(&item.address).map(|&j| &l.items[j]) {
            None => Some(Change {
                address: item.address.clone(),
                kind: item.address.kind_of(),
                action: Action::Create,
                wave: d.waves[i],
                fields: Vec::new(),
                hazards: item.spec.hazards(None, &cx),
                value: Some(secrets::redact(&item.value)),
            }),
            Some(live) => update(item, live, d.waves[i], &cx),
        };
        match change {
            Some(c) => found.push(c, (true, i)),
            None => found.unchanged += 1,
        }
    }
}

/// For each desired item, whether the plan finds it unchanged against the live item at its address (no
/// field differs).
pub fn unchanged(desired: &[Item], live: &[Item]) -> Vec<bool> {
    let live: HashMap<&Address, &Item> = live.iter().map(|i| (&i.address, i)).collect();
    desired
        .iter()
        .map(|d| {
            live.get(&d.address)
                .is_some_and(|l| diff::diff(d.spec.meta(), &d.value, &l.value).is_empty())
        })
        .collect()
}

/// The update or replace that turns `live` into `item`, if they differ.
fn update(item: &Item, live: &Item, wave: usize, cx: &HazardCx<'_>) -> Option<Change> {
    let meta = item.spec.meta();
    let fields = diff::diff(meta, &item.value, &live.value);
    tracing::debug!(address = %item.address, changed = ?fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), "diffed");
    if fields.is_empty() {
        return None;
    }
    let replace = fields.iter().any(|f| f.forces_replace);
    let mut hazards = item.spec.hazards(Some(&live.spec), cx);
    if replace && meta.holds_data {
        let why: Vec<&str> = fields
            .iter()
            .filter(|f| f.forces_replace)
            .map(|f| f.path.as_str())
            .collect();
        hazards.insert(
            0,
            Hazard::new(
                HazardCode::DeletesData,
                format!(
                    "replacing {} {} drops it with all its data ({} cannot change in place)",
                    meta.title,
                    item.address,
                    why.join(", ")
                ),
            ),
        );
    }
    Some(Change {
        address: item.address.clone(),
        kind: item.address.kind_of(),
        action: if replace {
            Action::Replace
        } else {
            Action::Update
        },
        wave,
        fields: fields.into_iter().map(PlannedField::from).collect(),
        hazards,
        value: None,
    })
}

/// Deletes: live resources in the tenant's scope that falconer manages and no manifest declares, after the
/// creates and updates, dependents first. Unmanaged ones are reported; those out of scope, counted.
fn delete_changes(tenant: &Tenant, d: &Side<'_>, l: &Side<'_>, opts: &Options, found: &mut Found) {
    let declared: HashSet<&Address> = d.items.iter().map(|x| &x.address).collect();
    let top = d.waves.iter().copied().max().map(|w| w + 1).unwrap_or(0);
    let depth = l.waves.iter().copied().max().unwrap_or(0);
    for (j, item) in l.items.iter().enumerate() {
        if declared.contains(&item.address) {
            continue;
        }
        if !item.spec.in_scope(tenant) {
            found.outside += 1;
            continue;
        }
        if !opts
            .managed
            .as_ref()
            .is_none_or(|m| m.contains(&item.address))
        {
            found.unmanaged.push(item.address.to_string());
            continue;
        }
        let meta = item.spec.meta();
        let mut hazards = Vec::new();
        if meta.holds_data {
            hazards.push(Hazard::new(
                HazardCode::DeletesData,
                format!(
                    "deletes {} {} and all the data it holds",
                    meta.title, item.address
                ),
            ));
        }
        hazards.extend(item.spec.delete_hazards());
        let change = Change {
            address: item.address.clone(),
            kind: item.address.kind_of(),
            action: Action::Delete,
            // Dependents are deleted before what they depend on.
            wave: top + depth - l.waves[j],
            fields: Vec::new(),
            hazards,
            value: Some(secrets::redact(&item.value)),
        };
        found.push(change, (false, j));
    }
}

/// `--target` / `--exclude`, keeping dependencies consistent: a target brings what it depends on (and a
/// deleted target what depends on it); an exclusion takes away what depends on it.
/// Refuses `--target` patterns that match nothing on either side.
fn unmatched_targets(
    tenant: &Tenant,
    desired: &[Item],
    live: &[Item],
    targets: &[String],
) -> Result<(), PlanError> {
    let Some(set) = globs(targets)? else {
        return Ok(());
    };
    let mut hit = vec![false; targets.len()];
    for x in desired.iter().chain(live) {
        for i in set.matches(x.address.to_string()) {
            hit[i] = true;
        }
    }
    let patterns: Vec<String> = targets
        .iter()
        .zip(&hit)
        .filter(|(_, h)| !**h)
        .map(|(p, _)| p.clone())
        .collect();
    if patterns.is_empty() {
        return Ok(());
    }
    Err(PlanError::NoTarget {
        tenant: tenant.id.clone(),
        patterns,
    })
}

fn narrow(d: &Side<'_>, l: &Side<'_>, opts: &Options, found: &mut Found) -> Result<(), PlanError> {
    let targets = globs(&opts.targets)?;
    let excludes = globs(&opts.excludes)?;
    if targets.is_none() && excludes.is_none() {
        return Ok(());
    }
    let select = |set: &globset::GlobSet, side: &Side<'_>, up: bool| -> HashSet<usize> {
        let mut out = HashSet::new();
        for (i, x) in side.items.iter().enumerate() {
            if set.is_match(x.address.to_string()) {
                out.insert(i);
                out.extend(if up {
                    side.graph.ancestors(i)
                } else {
                    side.graph.descendants(i)
                });
            }
        }
        out
    };
    let tin = targets
        .as_ref()
        .map(|t| (select(t, d, true), select(t, l, false)));
    let ex = excludes
        .as_ref()
        .map(|e| (select(e, d, false), select(e, l, true)))
        .unwrap_or_default();
    let keep: Vec<bool> = found
        .owners
        .iter()
        .map(|&(is_desired, i)| {
            let (t, x) = if is_desired {
                (tin.as_ref().map(|t| &t.0), &ex.0)
            } else {
                (tin.as_ref().map(|t| &t.1), &ex.1)
            };
            t.is_none_or(|t| t.contains(&i)) && !x.contains(&i)
        })
        .collect();
    let mut k = keep.iter();
    found.changes.retain(|_| k.next().copied().unwrap_or(false));
    let mut k = keep.iter();
    found.owners.retain(|_| k.next().copied().unwrap_or(false));
    Ok(())
}

/// The changes in plan order (by wave, then domain, then address text) and what each waits for.
fn in_plan_order(
    changes: Vec<Change>,
    owners: &[(bool, usize)],
    d: &Side<'_>,
    l: &Side<'_>,
) -> (Vec<Change>, Order) {
    let names: Vec<String> = changes.iter().map(|c| c.address.to_string()).collect();
    let mut order: Vec<usize> = (0..changes.len()).collect();
    order.sort_by(|&x, &y| {
        let (a, b) = (&changes[x], &changes[y]);
        a.wave
            .cmp(&b.wave)
            .then(domain_rank(a.kind.domain).cmp(&domain_rank(b.kind.domain)))
            .then_with(|| names[x].cmp(&names[y]))
    });
    let owners: Vec<(bool, usize)> = order.iter().map(|&i| owners[i]).collect();
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    let changes: Vec<Change> = order.iter().filter_map(|&i| slots[i].take()).collect();
    let after = Order(predecessors(
        &changes,
        &owners,
        (d.items, &d.graph),
        (l.items, &l.graph),
    ));
    (changes, after)
}

impl Plan {
    /// Marks the change of `address` as one its system would refuse (`why`, read from the system): an
    /// IMPOSSIBLE hazard, so that no apply starts with it.
    pub fn refuse(&mut self, address: &Address, why: String) {
        let Some(c) = self.changes.iter_mut().find(|c| &c.address == address) else {
            return;
        };
        c.hazards
            .push(Hazard::new(HazardCode::Impossible, why.clone()));
        self.summary = summarize(&self.changes, self.summary.unchanged);
        self.refused.push((address.clone(), why));
    }
}

/// Counts by action, domain and hazard.
fn summarize(changes: &[Change], unchanged: usize) -> Summary {
    let mut summary = Summary {
        unchanged,
        ..Summary::default()
    };
    for c in changes {
        summary.counts.add(c.action);
        summary
            .by_domain
            .entry(c.kind.domain.to_string())
            .or_default()
            .add(c.action);
        let mut codes: Vec<HazardCode> = c.hazards.iter().map(|h| h.code).collect();
        codes.dedup();
        for code in codes {
            *summary.hazards.entry(code).or_default() += 1;
        }
    }
    summary.highest_hazard = summary.hazards.keys().min().copied();
    summary
}

/// For each change (in plan order), the earlier changes it waits for: a create, update or replace waits for
/// the non-delete changes of what it depends on; a delete for the deletes of what depends on it.
fn predecessors(
    changes: &[Change],
    owners: &[(bool, usize)],
    desired: (&[Item], &Graph),
    live: (&[Item], &Graph),
) -> Vec<Vec<usize>> {
    let at: HashMap<&Address, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.address, i))
        .collect();
    changes
        .iter()
        .zip(owners)
        .enumerate()
        .map(|(k, (c, &(is_desired, i)))| {
            let (items, related) = if is_desired {
                (desired.0, desired.1.ancestors(i))
            } else {
                (live.0, live.1.descendants(i))
            };
            let deleting = c.action == Action::Delete;
            let mut before: Vec<usize> = related
                .into_iter()
                .filter_map(|j| at.get(&items[j].address).copied())
                .filter(|&j| j < k && (changes[j].action == Action::Delete) == deleting)
                .collect();
            before.sort_unstable();
            before.dedup();
            before
        })
        .collect()
}

/// The JSON Schema of a plan (checked in as `schemas/plan.schema.json`).
pub fn schema() -> Value {
    crate::util::json_schema::<Plan>("plan.schema.json", "falconer plan")
}

/// The domains in plan order, for renderers.
pub fn domain_order(d: &str) -> usize {
    d.parse().map_or(usize::MAX, domain_rank)
}

/// A domain's place in plan order.
pub fn domain_rank(d: Domain) -> usize {
    Domain::ALL
        .iter()
        .position(|x| *x == d)
        .unwrap_or(usize::MAX)
}
