//! Writing artifacts of the platform: format "1.0.0" in the collector dialect (what the platform's own
//! export writes), from falconer's resources.
//!
//! Each domain section carries the dialect's `data`, for the platform's tools, and `_falconer`: the domain's
//! falconer document (a JSON manifest), holding what the dialect has no place for (check constraints,
//! foreign keys, policies, PostgreSQL roles, secrets' shape, ...). The platform ignores keys that start with
//! `_`. falconer reads `_falconer` back only while the section's `data` is still what falconer writes from
//! it: an edited `data` is read instead, with a warning, never silently ignored.

use serde_json::{Value, json};

use super::{CURRENT_VERSION, DomainStatus, SCHEMA_CHECKSUM_1_0_0};
use crate::domains::Spec;
use crate::manifest;
use crate::model::{Domain, Tenant};

/// The section key of falconer's own copy of a domain.
pub const OVERLAY: &str = "_falconer";

/// One domain of an artifact to write.
pub struct Section {
    pub domain: Domain,
    pub status: DomainStatus,
    pub exported_at: String,
    /// The system's error or why the domain was not available.
    pub message: Option<String>,
    /// The domain's resources (for `ok` and `empty`).
    pub resources: Vec<Spec>,
    /// The falconer document holding them.
    pub document: Option<Value>,
}

/// The tenant and resources of a falconer document (a JSON manifest), with every check `validate` makes
/// (references may be to live objects).
pub fn read_document(doc: &Value) -> Result<(Tenant, Vec<Spec>), String> {
    let m = manifest::load_document(OVERLAY, doc)
        .map_err(|e| format!("it does not load ({})", e.trim().replace('\n', "; ")))?;
    Ok((m.tenant, m.resources.into_iter().map(|r| r.spec).collect()))
}

/// An artifact of format "1.0.0": the envelope and one section per domain the platform exports.
pub fn artifact(
    tenant: &Tenant,
    exported_at: &str,
    correlation_id: &str,
    sections: &[Section],
) -> Value {
    let domains: Vec<Value> = sections.iter().filter_map(|s| section(tenant, s)).collect();
    json!({
        "export_timestamp": exported_at,
        "tenant_id": tenant.id,
        "format_version": CURRENT_VERSION,
        "deployment_profile": "standard",
        "correlation_id": correlation_id,
        "schema_checksum": SCHEMA_CHECKSUM_1_0_0,
        "domains": domains,
    })
}

fn section(tenant: &Tenant, s: &Section) -> Option<Value> {
    let key = s.domain.falcone_key()?;
    let status = serde_json::to_value(s.status).unwrap_or_default();
    let mut out = json!({"domain_key": key, "status": status, "exported_at": s.exported_at});
    match s.status {
        DomainStatus::Ok | DomainStatus::Empty => {
            let (data, count) = data(tenant, s.domain, &s.resources);
            out["items_count"] = Value::from(count);
            out["data"] = data;
            if let Some(doc) = &s.document {
                out[OVERLAY] = doc.clone();
            }
        }
        DomainStatus::Error => {
            out["data"] = Value::Null;
            out["error"] = Value::from(s.message.clone().unwrap_or_default());
        }
        DomainStatus::NotAvailable | DomainStatus::NotRequested => {
            out["data"] = Value::Null;
            out["reason"] = Value::from(s.message.clone().unwrap_or_default());
        }
    }
    Some(out)
}

/// A domain's `data` in the collector dialect, and its `items_count` as the platform counts it.
pub fn data(tenant: &Tenant, domain: Domain, specs: &[Spec]) -> (Value, usize) {
    let data = super::map::write_data(domain, tenant, specs);
    let n = match domain {
        Domain::Postgres => data["schemas"].as_array().map_or(0, |a| {
            a.iter().map(|s| len(&s["tables"]) + len(&s["views"])).sum()
        }),
        Domain::Mongo => data["databases"]
            .as_array()
            .map_or(0, |a| a.iter().map(|db| len(&db["collections"])).sum()),
        _ => COUNTED.iter().map(|k| len(&data[*k])).sum(),
    };
    (data, n)
}

/// The lists the platform counts in `items_count` (each domain's data has only its own).
const COUNTED: &[&str] = &[
    "roles",
    "groups",
    "clients",
    "client_scopes",
    "identity_providers",
    "topics",
    "acls",
    "consumer_groups",
    "actions",
    "packages",
    "triggers",
    "rules",
    "buckets",
];

fn len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}
