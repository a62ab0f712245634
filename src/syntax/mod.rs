//! The input layer under every reader of files: the spanned tree that TOML, KDL and JSON all become
//! ([`tree`]), the serde Deserializer over it that locates every error ([`de`]), and what tells the kinds of
//! JSON input apart before they are read ([`is_artifact`], [`is_snapshot`]). Nothing here knows a kind or a
//! domain.

pub mod de;
pub mod tree;

use serde_json::Value;

/// Whether a JSON document looks like a Falcone artifact (rather than a manifest).
pub fn is_artifact(v: &Value) -> bool {
    v.get("domains").is_some_and(Value::is_array)
        && (v.get("format_version").is_some() || v.get("tenant_id").is_some())
}

/// Whether a JSON document is a falconer snapshot.
pub fn is_snapshot(v: &Value) -> bool {
    v.get("falconer_snapshot").is_some()
}
