//! The resource model the core works on: addresses, per-kind field metadata, the canonical value of a
//! resource, secret references and the tenant.
//!
//! Each kind is a typed struct in `domains/<domain>/`; the core never matches on kinds. It sees a resource
//! through [`KindMeta`] (identity, field flags) and its canonical JSON value.

pub mod address;
pub mod hazard;
pub mod secret;
pub mod tenant;

pub use address::{Address, Domain, Kind};
pub use hazard::{Hazard, HazardCode};
pub use secret::SecretValue;
pub use tenant::{Names, Naming, Scope, Tenant, TenantStatus};

use serde_json::Value;

/// Field flags (combine with `|`).
pub mod flags {
    /// Changing the field forces a replace (or is impossible, see the kind's hazards).
    pub const IMMUTABLE: u8 = 1;
    /// A list compared without order (and without duplicates).
    pub const SET: u8 = 2;
    /// The server fills it in when it is not given: compared only when the manifest sets it.
    pub const SERVER_DEFAULT: u8 = 4;
    /// Holds a secret reference; never shown, compared by fingerprint.
    pub const SECRET: u8 = 8;
    /// Free-form JSON (validators, policies, parameter values): compared as a document.
    pub const FREEFORM: u8 = 16;
    /// A list of objects matched by their key field (see [`super::FieldMeta::key`]), order-insensitive.
    pub const KEYED: u8 = 32;
    /// An empty value (`[]`, `{}`) is the same as none: the system stores the two alike (a role with no
    /// composites), so neither side's empty differs from the other's absence.
    pub const EMPTY_IS_ABSENT: u8 = 64;
    /// Each item of this list stands on its own (a bucket's lifecycle or CORS rule): an item that breaks a
    /// system's rule can be left out alone (`restore --skip-invalid`), the rest of the object kept.
    pub const PART: u8 = 128;
}

/// What the core knows about one field of a kind.
///
/// `path` names a field inside the canonical value: `a.b` for nested objects, `a[]` for the items of a
/// list, `a.*` for the values of a map.
#[derive(Debug, Clone, Copy)]
pub struct FieldMeta {
    pub path: &'static str,
    pub flags: u8,
    /// For [`flags::KEYED`] lists: the field that identifies an item.
    pub key: Option<&'static str>,
}

impl FieldMeta {
    pub const fn new(path: &'static str, flags: u8) -> Self {
        FieldMeta {
            path,
            flags,
            key: None,
        }
    }
    pub const fn keyed(path: &'static str, key: &'static str, flags: u8) -> Self {
        FieldMeta {
            path,
            flags: flags | flags::KEYED,
            key: Some(key),
        }
    }
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// What the core knows about one kind.
#[derive(Debug)]
pub struct KindMeta {
    pub domain: Domain,
    /// The kind's name in addresses and manifests (`table`).
    pub kind: &'static str,
    /// For messages (`PostgreSQL table`).
    pub title: &'static str,
    /// The identity fields, in address order.
    pub identity: &'static [&'static str],
    /// Deleting it loses data (rows, documents, messages, objects, users).
    pub holds_data: bool,
    pub fields: &'static [FieldMeta],
}

impl KindMeta {
    pub fn field(&self, path: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.path == path)
    }

    pub fn flags_of(&self, path: &str) -> u8 {
        self.field(path).map(|f| f.flags).unwrap_or(0)
    }

    /// Whether any field has `flag`.
    pub fn has_flag(&self, flag: u8) -> bool {
        self.fields.iter().any(|f| f.has(flag))
    }

    /// Whether a field with `flag` is at or below child `key` of `parent` (a map's `*` counts), without
    /// building the child's path: walks that look for one flag skip every other branch.
    pub fn flag_below(&self, flag: u8, parent: &str, key: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.has(flag) && (below(f.path, parent, key) || below(f.path, parent, "*")))
    }
}

/// Whether `path` is `parent.key` or lies below it (`parent.key.x`, `parent.key[]...`).
fn below(path: &str, parent: &str, key: &str) -> bool {
    let rest = if parent.is_empty() {
        path
    } else {
        match path.strip_prefix(parent).and_then(|r| r.strip_prefix('.')) {
            Some(r) => r,
            None => return false,
        }
    };
    match rest.strip_prefix(key) {
        Some(r) => r.is_empty() || r.starts_with('.') || r.starts_with('['),
        None => false,
    }
}

/// Brings a serialized resource into canonical form: no nulls, set-like lists sorted and deduplicated.
/// Keyed lists keep their order (a table's column order matters when it is created); the diff matches
/// their items by key.
pub fn canonicalize(meta: &KindMeta, value: Value) -> Value {
    // Serialization never writes nulls outside free-form values, so only set-like lists need work.
    if !meta.has_flag(flags::SET) {
        return value;
    }
    canon_at(meta, "", value)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn canon_at(meta: &KindMeta, path: &str, value: Value) -> Value {
    let f = meta.flags_of(path);
    if f & flags::FREEFORM != 0 {
        return value;
    }
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if v.is_null() {
                    continue;
                }
                if !meta.flag_below(flags::SET, path, &k) {
                    out.insert(k, v);
                    continue;
                }
                let child = join(path, &k);
                let child = if meta.flags_of(&child) == 0 && meta.field(&join(path, "*")).is_some()
                {
                    join(path, "*")
                } else {
                    child
                };
                out.insert(k, canon_at(meta, &child, v));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let item_path = format!("{path}[]");
            let mut items: Vec<Value> = items
                .into_iter()
                .map(|v| canon_at(meta, &item_path, v))
                .collect();
            if f & flags::SET != 0 {
                items.sort_by_key(|v| v.to_string());
                items.dedup();
            }
            Value::Array(items)
        }
        other => other,
    }
}
