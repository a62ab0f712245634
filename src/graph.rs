//! The dependency graph over all resources of all six domains.
//!
//! An edge `a → b` means "a must exist before b" (b refers to a). Edges come from each kind's references
//! (only to resources that are present) and from explicit `depends_on`. Creates and updates run in
//! topological order, deletes in reverse. A cycle is an error that names the resources on it.

use std::collections::HashMap;
use std::fmt::Write;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::domains::Spec;
use crate::model::address::OVERLOADS;
use crate::model::{Address, Tenant};

/// Why one resource depends on another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edge {
    /// A field of the dependent refers to the dependency (`table`, `parent`, ...).
    Reference(String),
    /// `depends_on`.
    Explicit,
}

impl Edge {
    pub fn label(&self) -> &str {
        match self {
            Edge::Reference(f) => f,
            Edge::Explicit => "depends_on",
        }
    }
}

/// The graph of a set of resources; node `i` is resource `i` of the slice it was built from.
#[derive(Debug)]
pub struct Graph {
    pub addresses: Vec<Address>,
    pub index: HashMap<Address, usize>,
    pub graph: DiGraph<usize, Edge>,
}

/// An address's kind and segments with the last cut before `(` (what overloads share).
type Family = (crate::model::Domain, &'static str, Vec<String>);

/// The family of `a` when its last segment holds `mark` (`(` for a resource, [`OVERLOADS`] for a target).
fn family_of(a: &Address, mark: &str) -> Option<Family> {
    let (last, head) = a.segments.split_last()?;
    let at = last.find(mark)?;
    let mut segments = head.to_vec();
    segments.push(last[..at].to_string());
    Some((a.domain, a.kind, segments))
}

/// A dependency cycle, as the addresses on it (the first one repeated at the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Cycle(pub Vec<Address>);

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "dependency cycle: {}", parts.join(" → "))
    }
}

impl Graph {
    /// Builds the graph of `specs`. Unknown `depends_on` addresses and references to absent resources
    /// add no edge (validation reports them).
    pub fn build(tenant: &Tenant, specs: &[&Spec]) -> Graph {
        let addresses: Vec<Address> = specs.iter().map(|s| s.address()).collect();
        let index: HashMap<Address, usize> = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i))
            .collect();
        let mut families: HashMap<Family, Vec<usize>> = HashMap::new();
        for (i, a) in addresses.iter().enumerate() {
            if let Some(f) = family_of(a, "(") {
                families.entry(f).or_default().push(i);
            }
        }
        let mut graph = DiGraph::with_capacity(specs.len(), specs.len() * 2);
        for i in 0..specs.len() {
            graph.add_node(i);
        }
        for (i, spec) in specs.iter().enumerate() {
            // Edges into `i` are added only here, so duplicates are found among its own few dependencies
            // (`contains_edge` would walk all of a dependency's edges: quadratic for a realm of 100,000 roles).
            let mut seen: Vec<usize> = Vec::new();
            let mut add = |dep: usize, edge: Edge| {
                if dep != i && !seen.contains(&dep) {
                    seen.push(dep);
                    graph.add_edge(NodeIndex::new(dep), NodeIndex::new(i), edge);
                }
            };
            for r in spec.references(tenant).into_iter().filter(|r| r.ordered) {
                if let Some(&dep) = r.targets.iter().find_map(|t| index.get(t)) {
                    add(dep, Edge::Reference(r.field));
                    continue;
                }
                let overloads = r
                    .targets
                    .iter()
                    .find_map(|t| families.get(&family_of(t, OVERLOADS)?));
                for &dep in overloads.into_iter().flatten() {
                    add(dep, Edge::Reference(r.field.clone()));
                }
            }
            for d in spec.depends_on() {
                if let Some(&dep) = Address::parse(d).ok().as_ref().and_then(|a| index.get(a)) {
                    add(dep, Edge::Explicit);
                }
            }
        }
        Graph {
            addresses,
            index,
            graph,
        }
    }

    /// Resources in dependency order (dependencies first), or the cycle that prevents one.
    pub fn order(&self) -> Result<Vec<usize>, Cycle> {
        match toposort(&self.graph, None) {
            Ok(order) => Ok(order.into_iter().map(|n| self.graph[n]).collect()),
            Err(_) => Err(self.find_cycle()),
        }
    }

    /// The wave of each resource: 0 for resources without dependencies, else one more than the highest
    /// wave of its dependencies. Resources of one wave can be applied together.
    pub fn waves(&self) -> Result<Vec<usize>, Cycle> {
        let order = self.order()?;
        let mut wave = vec![0usize; self.addresses.len()];
        for i in order {
            let n = NodeIndex::new(i);
            let w = self
                .graph
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .map(|d| wave[self.graph[d]] + 1)
                .max()
                .unwrap_or(0);
            wave[i] = w;
        }
        Ok(wave)
    }

    /// The dependencies of resource `i` with the reason for each.
    pub fn dependencies(&self, i: usize) -> Vec<(usize, &Edge)> {
        let n = NodeIndex::new(i);
        let mut deps: Vec<(usize, &Edge)> = self
            .graph
            .edges_directed(n, petgraph::Direction::Incoming)
            .map(|e| (self.graph[petgraph::visit::EdgeRef::source(&e)], e.weight()))
            .collect();
        deps.sort_by(|a, b| self.addresses[a.0].cmp(&self.addresses[b.0]));
        deps
    }

    /// The resources `i` depends on, directly or not.
    pub fn ancestors(&self, i: usize) -> Vec<usize> {
        self.walk(i, petgraph::Direction::Incoming)
    }

    /// The resources that depend on `i`, directly or not.
    pub fn descendants(&self, i: usize) -> Vec<usize> {
        self.walk(i, petgraph::Direction::Outgoing)
    }

    /// What `i` reaches in `dir`. Costs what it visits (not the graph's size), so a walk per resource of a
    /// large, shallow tenant stays linear overall.
    fn walk(&self, i: usize, dir: petgraph::Direction) -> Vec<usize> {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![NodeIndex::new(i)];
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            for m in self.graph.neighbors_directed(n, dir) {
                let j = self.graph[m];
                if seen.insert(j) {
                    out.push(j);
                    stack.push(m);
                }
            }
        }
        out
    }

    fn find_cycle(&self) -> Cycle {
        for scc in tarjan_scc(&self.graph) {
            if scc.len() < 2 {
                continue;
            }
            // Walk inside the component until a node repeats.
            let inside: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
            let mut path = vec![scc[0]];
            let mut pos: HashMap<NodeIndex, usize> = HashMap::from([(scc[0], 0)]);
            let mut cur = scc[0];
            while let Some(next) = self
                .graph
                .neighbors_directed(cur, petgraph::Direction::Outgoing)
                .find(|m| inside.contains(m))
            {
                if let Some(&start) = pos.get(&next) {
                    let mut cycle: Vec<Address> = path[start..]
                        .iter()
                        .map(|n| self.addresses[self.graph[*n]].clone())
                        .collect();
                    cycle.push(self.addresses[self.graph[next]].clone());
                    return Cycle(cycle);
                }
                pos.insert(next, path.len());
                path.push(next);
                cur = next;
            }
        }
        Cycle(Vec::new())
    }

    /// Text: every resource in dependency order, with what it depends on and why.
    pub fn to_text(&self) -> Result<String, Cycle> {
        let waves = self.waves()?;
        let mut order: Vec<usize> = (0..self.addresses.len()).collect();
        order.sort_by(|a, b| {
            waves[*a]
                .cmp(&waves[*b])
                .then_with(|| self.addresses[*a].cmp(&self.addresses[*b]))
        });
        let mut out = String::new();
        let mut current = usize::MAX;
        for i in order {
            if waves[i] != current {
                current = waves[i];
                let _ = writeln!(out, "# wave {current}");
            }
            let _ = writeln!(out, "{}", self.addresses[i]);
            for (d, e) in self.dependencies(i) {
                let _ = writeln!(out, "    ← {} ({})", self.addresses[d], e.label());
            }
        }
        Ok(out)
    }

    /// Graphviz DOT, one cluster per domain.
    pub fn to_dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::from(
            "digraph falconer {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for domain in crate::model::Domain::ALL {
            let members: Vec<&Address> = self
                .addresses
                .iter()
                .filter(|a| a.domain == domain)
                .collect();
            if members.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  subgraph cluster_{domain} {{\n    label={};",
                q(domain.system())
            );
            for a in members {
                let _ = writeln!(out, "    {};", q(&a.to_string()));
            }
            out.push_str("  }\n");
        }
        for e in self.graph.edge_indices() {
            if let Some((s, t)) = self.graph.edge_endpoints(e) {
                let _ = writeln!(
                    out,
                    "  {} -> {} [label={}];",
                    q(&self.addresses[self.graph[s]].to_string()),
                    q(&self.addresses[self.graph[t]].to_string()),
                    q(self.graph[e].label())
                );
            }
        }
        out.push_str("}\n");
        out
    }
}
