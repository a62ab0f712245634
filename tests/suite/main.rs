//! falconer's integration tests, as one binary (one link of sqlx, mongodb and librdkafka instead of one a
//! file). Each module is one area; `cargo test --test suite <module>::` runs one of them.
//!
//! The offline modules (cli, examples, falcone, graph, malformed, no_panic, plan, plan_props, readme,
//! render, roundtrip, schema) need no server. The others use the servers `scripts/test` starts (see
//! `support`) or the test doubles of Keycloak, OpenWhisk and Kafka.

mod common;
mod support;

#[path = "support/kafka_double.rs"]
mod kafka_double;
#[path = "support/kafka_sasl.rs"]
mod kafka_sasl;
#[path = "support/kafka_scram.rs"]
mod kafka_scram;
#[path = "support/keycloak_double.rs"]
mod keycloak_double;
#[allow(clippy::duplicate_mod)]
#[path = "support/openwhisk_double.rs"]
mod openwhisk_double;
#[path = "support/pki.rs"]
mod pki;
#[path = "support/s3_recorded.rs"]
mod s3_recorded;

mod agent;
mod agent_api;
mod agent_tls;
mod agents;
mod answers;
mod apply;
mod backup;
mod browser;
mod canary;
mod cli;
mod dashboard;
mod deaths;
mod doctor;
mod documented;
mod engine;
mod examples;
mod falcone;
mod fields;
mod first_day;
mod fleet;
mod functions;
mod graph;
mod iam;
mod injection;
mod kafka;
mod keycloak_contract;
mod malformed;
mod mongo;
mod no_panic;
mod openwhisk_contract;
mod ops;
mod pg_kinds;
mod plan;
mod plan_props;
mod postgres;
mod readme;
mod reliability;
mod render;
mod restore;
mod roundtrip;
mod schema;
mod scram;
mod state;
mod storage;
mod tls;
