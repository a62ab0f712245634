//! The planner: the dependency graph, the diff of desired against live resources, hazards, and the plan
//! with its renderings.

pub mod graph;
