//! Snapshots: a saved live state of a tenant, to plan against offline.
//!
//! ```json
//! { "falconer_snapshot": "1",
//!   "managed": ["kafka.topic.acme.orders", ...],
//!   "resources": { <a manifest document: format_version, tenant, domains> } }
//! ```
//!
//! `managed` lists the resources falconer manages: only those are ever planned for deletion. Secrets in
//! `resources` are redaction markers (their fingerprints live in the state store, not in files).

use std::collections::HashSet;

use serde_json::Value;

use crate::diag::Issue;
use crate::manifest::{self, Format, LoadOptions, Manifest};
use crate::model::Address;

pub const SNAPSHOT_VERSION: &str = "1";

/// A loaded snapshot.
pub struct Snapshot {
    pub manifest: Manifest,
    pub managed: HashSet<Address>,
}

pub use crate::syntax::is_snapshot;

/// Reads a snapshot; every problem is an issue naming its JSON path.
pub fn read(v: &Value, name: &str) -> Result<Snapshot, Vec<Issue>> {
    match v.get("falconer_snapshot").and_then(Value::as_str) {
        Some(SNAPSHOT_VERSION) => {}
        other => {
            return Err(vec![
                Issue::error(
                    "format-version",
                    format!("unknown snapshot version {other:?} (this falconer reads \"1\")"),
                )
                .path("/falconer_snapshot"),
            ]);
        }
    }
    let mut issues = Vec::new();
    let mut managed = HashSet::new();
    for (i, a) in v
        .get("managed")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match a.as_str().map(Address::parse) {
            Some(Ok(addr)) => {
                managed.insert(addr);
            }
            Some(Err(e)) => issues
                .push(Issue::error("invalid-address", e.to_string()).path(format!("/managed/{i}"))),
            None => issues.push(
                Issue::error("invalid-value", "an address is a string")
                    .path(format!("/managed/{i}")),
            ),
        }
    }
    let Some(doc) = v.get("resources") else {
        issues.push(
            Issue::error(
                "missing",
                "a snapshot needs `resources` (a manifest document)",
            )
            .path("/resources"),
        );
        return Err(issues);
    };
    let loaded = manifest::load_str(
        &format!("{name}#/resources"),
        &doc.to_string(),
        Format::Json,
        LoadOptions::default(),
    );
    issues.extend(loaded.issues.iter().filter(|i| i.is_error()).map(|i| {
        let mut i = i.clone();
        i.span = None;
        i.path = Some("/resources".into());
        i
    }));
    match loaded.manifest {
        Some(manifest) if issues.is_empty() => Ok(Snapshot { manifest, managed }),
        _ => Err(issues),
    }
}

/// Writes a snapshot of a manifest (every resource managed).
pub fn write(m: &Manifest) -> Value {
    serde_json::json!({
        "falconer_snapshot": SNAPSHOT_VERSION,
        "managed": m.resources.iter().map(|r| r.address().to_string()).collect::<Vec<_>>(),
        "resources": manifest::write::to_document(m),
    })
}
