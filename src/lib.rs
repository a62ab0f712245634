//! falconer: a declarative reconciler for the configuration of a multi-tenant platform across Keycloak,
//! PostgreSQL, MongoDB, Kafka, OpenWhisk and S3.
//!
//! Data flows one way: files → [`manifest`] (typed, validated) → resources ([`domains::Spec`], canonical
//! through [`model`]) → graph → plan → apply. [`falcone`] reads the platform's export artifacts into the same
//! model. See `docs/architecture.md` for a map of the code.

pub mod agent;
pub mod backup;
pub mod cli;
pub mod diag;
pub mod domains;
pub mod engine;
pub mod falcone;
pub mod fleet;
pub mod fuzz;
pub mod graph;
pub mod manifest;
pub mod model;
pub mod ops;
pub mod plan;
pub mod profile;
pub mod restore;
pub mod s3;
pub mod secrets;
pub mod setup;
pub mod state;
pub mod syntax;
pub mod tls;
pub mod util;

#[cfg(test)]
mod layering;
