//! The double's SCRAM credentials (KIP-554): DescribeUserScramCredentials and AlterUserScramCredentials as
//! Kafka's controller answers them (`ScramControlManager`), and the stored credential a SCRAM sign-in then
//! checks (the salt, iterations and salted password the client sent; never the password).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

/// The protocol's error codes of these calls.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
pub const RESOURCE_NOT_FOUND: i16 = 91;
pub const DUPLICATE_RESOURCE: i16 = 92;
pub const UNACCEPTABLE_CREDENTIAL: i16 = 93;

/// One stored credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// The credentials by user and mechanism (`SCRAM-SHA-256`, `SCRAM-SHA-512`), shared by the double's
/// connections and its SASL sign-ins.
pub type Credentials = Arc<Mutex<BTreeMap<(String, String), Stored>>>;

/// The protocol's number of a mechanism, and back.
fn mechanism(n: i8) -> Option<&'static str> {
    match n {
        1 => Some("SCRAM-SHA-256"),
        2 => Some("SCRAM-SHA-512"),
        _ => None,
    }
}

fn number(m: &str) -> i8 {
    if m == "SCRAM-SHA-512" { 2 } else { 1 }
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

/// Every user's credentials (no user named, or none), or the named users' (RESOURCE_NOT_FOUND for one
/// without any).
pub fn describe(
    store: &Credentials,
    req: &DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let st = store.lock().expect("credentials");
    let named: Vec<String> = req
        .users
        .iter()
        .flatten()
        .map(|u| u.name.to_string())
        .collect();
    let users: Vec<String> = if named.is_empty() {
        let mut all: Vec<String> = st.keys().map(|(u, _)| u.clone()).collect();
        all.dedup();
        all
    } else {
        named
    };
    let results = users
        .iter()
        .map(|u| {
            let infos: Vec<CredentialInfo> = st
                .iter()
                .filter(|((user, _), _)| user == u)
                .map(|((_, m), c)| {
                    CredentialInfo::default()
                        .with_mechanism(number(m))
                        .with_iterations(c.iterations)
                })
                .collect();
            let r = DescribeUserScramCredentialsResult::default().with_user(s(u));
            if infos.is_empty() {
                r.with_error_code(RESOURCE_NOT_FOUND)
                    .with_error_message(Some(s(&format!(
                        "Attempt to describe a user credential that does not exist: {u}"
                    ))))
            } else {
                r.with_credential_infos(infos)
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// Why the controller refuses one upsertion, if it does.
fn unacceptable(name: &str, m: i8, iterations: i32) -> Option<(i16, String)> {
    if mechanism(m).is_none() {
        return Some((UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism".into()));
    }
    if name.is_empty() {
        return Some((UNACCEPTABLE_CREDENTIAL, "Username must not be empty".into()));
    }
    if iterations < 4096 {
        return Some((UNACCEPTABLE_CREDENTIAL, "Too few iterations".into()));
    }
    if iterations > 16384 {
        return Some((UNACCEPTABLE_CREDENTIAL, "Too many iterations".into()));
    }
    None
}

/// Deletions and upsertions, each user's answered on its own; a user altered twice with the same mechanism
/// in one request is DUPLICATE_RESOURCE and none of its alterations is carried out.
pub fn alter(
    store: &Credentials,
    req: &AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let mut st = store.lock().expect("credentials");
    let mut seen: BTreeMap<(String, i8), usize> = BTreeMap::new();
    for (n, m) in req
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism))
        .chain(
            req.upsertions
                .iter()
                .map(|u| (u.name.to_string(), u.mechanism)),
        )
    {
        *seen.entry((n, m)).or_default() += 1;
    }
    let mut results: BTreeMap<String, (i16, Option<String>)> = BTreeMap::new();
    let duplicate = |n: &str| seen.iter().any(|((u, _), c)| u == n && *c > 1);
    for d in &req.deletions {
        let name = d.name.to_string();
        let key = (
            name.clone(),
            mechanism(d.mechanism).unwrap_or("").to_string(),
        );
        let outcome = if duplicate(&name) {
            (
                DUPLICATE_RESOURCE,
                Some("A user credential cannot be altered twice in the same request".into()),
            )
        } else if mechanism(d.mechanism).is_none() {
            (
                UNSUPPORTED_SASL_MECHANISM,
                Some("Unknown SCRAM mechanism".into()),
            )
        } else if st.remove(&key).is_none() {
            (
                RESOURCE_NOT_FOUND,
                Some("Attempt to delete a user credential that does not exist".into()),
            )
        } else {
            (0, None)
        };
        results.entry(name).or_insert(outcome);
    }
    for u in &req.upsertions {
        let name = u.name.to_string();
        let outcome = if duplicate(&name) {
            (
                DUPLICATE_RESOURCE,
                Some("A user credential cannot be altered twice in the same request".into()),
            )
        } else if let Some((code, why)) = unacceptable(&name, u.mechanism, u.iterations) {
            (code, Some(why))
        } else {
            st.insert(
                (
                    name.clone(),
                    mechanism(u.mechanism).unwrap_or("").to_string(),
                ),
                Stored {
                    iterations: u.iterations,
                    salt: u.salt.to_vec(),
                    salted_password: u.salted_password.to_vec(),
                },
            );
            (0, None)
        };
        let entry = results.entry(name).or_insert((0, None));
        if entry.0 == 0 {
            *entry = outcome;
        }
    }
    AlterUserScramCredentialsResponse::default().with_results(
        results
            .into_iter()
            .map(|(user, (code, why))| {
                AlterUserScramCredentialsResult::default()
                    .with_user(s(&user))
                    .with_error_code(code)
                    .with_error_message(why.map(|w| s(&w)))
            })
            .collect(),
    )
}
