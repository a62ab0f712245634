//! Per-domain mapping of artifact `data` (collector and applier dialects) into typed resources: the
//! Mapper and what every domain's mapping shares here, each domain's mapping in its own file.

mod functions;
mod iam;
mod kafka;
mod mongo;
mod postgres;
mod storage;

use crate::model::Scope;
use serde_json::{Map, Value};

use super::{Dialect, decode, escape_pointer, naming_for, snake_case};
use crate::diag::Issue;
use crate::domains::Spec;
use crate::model::secret::is_marker;
use crate::model::{Domain, Tenant};

/// Keys Keycloak generates; they never reach the model.
const KC_SERVER_KEYS: &[&str] = &[
    "id",
    "containerId",
    "internalId",
    "access",
    "createdTimestamp",
    "lastModifiedTimestamp",
    "composite",
    "clientRole",
    "subGroupCount",
];

/// Key names whose marker values are expected (real secrets).
const SECRET_KEYS: &[&str] = &["secret", "clientSecret", "password"];

pub(crate) struct Mapper {
    tenant: String,
    pub resources: Vec<(Spec, String)>,
    pub issues: Vec<Issue>,
    /// The names the artifact places the tenant in, by scope, as found.
    scoped: Vec<(&'static Scope, String)>,
    /// The values the exporter redacted though they are no secrets, by domain and JSON path: unknown,
    /// never written.
    pub unknown: Vec<(Domain, String)>,
    /// The domain being mapped.
    current: Option<Domain>,
}

fn obj(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn s(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(String::from)
}

impl Mapper {
    pub fn new(tenant: &str) -> Self {
        Mapper {
            tenant: tenant.to_string(),
            resources: Vec::new(),
            issues: Vec::new(),
            scoped: Vec::new(),
            unknown: Vec::new(),
            current: None,
        }
    }

    pub fn finish(self) -> (Tenant, Vec<(Spec, String)>, Vec<Issue>) {
        let mut t = Tenant::new(self.tenant.clone());
        t.naming = naming_for(&self.tenant, &self.scoped);
        (t, self.resources, self.issues)
    }

    /// A value the exporter redacted though it is no secret: said, and kept as unknown.
    fn over_redacted(&mut self, path: String, msg: impl Into<String>) {
        if let Some(d) = self.current {
            self.unknown.push((d, path.clone()));
        }
        self.warn(path, "over-redacted", msg);
    }

    /// Notes a name the artifact places the tenant in (its realm, a schema), once.
    pub fn in_scope(&mut self, scope: &'static Scope, name: &str) {
        if !self.scoped.iter().any(|(s, n)| *s == scope && n == name) {
            self.scoped.push((scope, name.to_string()));
        }
    }

    /// The tenant id the artifact names.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// How many resources and issues are mapped so far (for [`Mapper::replace_since`]).
    pub fn mark(&self) -> (usize, usize) {
        (self.resources.len(), self.issues.len())
    }

    /// Replaces what was mapped since `mark` (resources and issues) with `specs`, each at `path`.
    pub fn replace_since(&mut self, mark: (usize, usize), specs: Vec<Spec>, path: &str) {
        self.resources.truncate(mark.0);
        self.issues.truncate(mark.1);
        for spec in specs {
            self.push(spec, path.to_string());
        }
    }

    fn warn(&mut self, path: impl Into<String>, code: &'static str, msg: impl Into<String>) {
        self.issues.push(Issue::warning(code, msg).path(path));
    }

    fn push(&mut self, mut spec: Spec, path: String) {
        spec.normalize();
        self.resources.push((spec, path));
    }

    /// Warns about every key of `o` not in `known` (keys starting with `_` are the platform's own).
    /// The objects listed under `data[key]`, each with its pointer, after warning about keys not in
    /// `known`.
    fn entries<'v>(
        &mut self,
        data: &'v Map<String, Value>,
        path: &str,
        key: &str,
        known: &[&str],
    ) -> Vec<(&'v Map<String, Value>, String)> {
        let mut out = Vec::new();
        for (i, v) in arr(data.get(key)).iter().enumerate() {
            let p = format!("{path}/{key}/{i}");
            if let Some(o) = v.as_object() {
                self.leftover(o, &p, known);
                out.push((o, p));
            }
        }
        out
    }

    fn leftover(&mut self, o: &Map<String, Value>, path: &str, known: &[&str]) {
        for k in o.keys() {
            if !known.contains(&k.as_str()) && !k.starts_with('_') {
                self.warn(
                    format!("{path}/{}", escape_pointer(k)),
                    "unmapped-field",
                    format!("field `{k}` is not mapped"),
                );
            }
        }
    }

    /// Copies a value without server-generated keys; marker values are kept for secret keys and otherwise
    /// dropped with an over-redaction warning.
    fn clean(&mut self, v: &Value, path: &str, drop: &[&str]) -> Value {
        match v {
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    if drop.contains(&k.as_str()) {
                        continue;
                    }
                    let p = format!("{path}/{}", escape_pointer(k));
                    if x.as_str().is_some_and(is_marker) && !SECRET_KEYS.contains(&k.as_str()) {
                        self.over_redacted(
                            p,
                            format!("`{k}` was redacted by the exporter although it is not a secret; its value is unknown and left out (the live value is kept)"),
                        );
                        continue;
                    }
                    out.insert(k.clone(), self.clean(x, &p, &[]));
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                let mut out = Vec::new();
                for (i, x) in a.iter().enumerate() {
                    if x.as_str().is_some_and(is_marker) {
                        self.over_redacted(
                            format!("{path}/{i}"),
                            "a redacted list item is left out",
                        );
                        continue;
                    }
                    out.push(self.clean(x, &format!("{path}/{i}"), &[]));
                }
                Value::Array(out)
            }
            other => other.clone(),
        }
    }

    /// Maps one domain's data; returns the dialect it was written in.
    pub fn domain(&mut self, d: Domain, data: &Map<String, Value>, path: &str) -> Dialect {
        self.current = Some(d);
        match d {
            Domain::Iam => self.iam(data, path),
            Domain::Postgres => self.postgres(data, path),
            Domain::Mongo => self.mongo(data, path),
            Domain::Kafka => self.kafka(data, path),
            Domain::Functions => self.functions(data, path),
            Domain::Storage => self.storage(data, path),
            // A domain the platform does not export has no section to map (its key never matches).
            #[allow(unreachable_patterns)]
            _ => Dialect::Applier,
        }
    }
}

/// A domain's `data` in the export's (collector) dialect, written from falconer's resources.
pub(crate) fn write_data(d: Domain, tenant: &Tenant, specs: &[Spec]) -> Value {
    match d {
        Domain::Iam => iam::write::data(tenant, specs),
        Domain::Postgres => postgres::write::data(specs),
        Domain::Mongo => mongo::write::data(specs),
        Domain::Kafka => kafka::write::data(specs),
        Domain::Functions => functions::write::data(tenant, specs),
        Domain::Storage => storage::write::data(specs),
        // A domain the platform does not export has no section to write.
        #[allow(unreachable_patterns)]
        _ => Value::Object(Map::new()),
    }
}

/// Whether an object has only the given key.
fn is_bare(v: &Value, key: &str) -> bool {
    v.as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key(key))
}

/// JavaScript's `String(v)` for config values.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A snake_case enum name from a string (any case) or a kafkajs numeric enum.
fn enum_of(v: Option<&Value>, numbers: &[(i64, &str)]) -> Option<String> {
    match v? {
        Value::String(s) => Some(snake_case(&s.to_lowercase().replace(['-', ' '], "_"))),
        Value::Number(n) => numbers
            .iter()
            .find(|(k, _)| Some(*k) == n.as_i64())
            .map(|(_, s)| s.to_string()),
        _ => None,
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.into_iter().filter(|(_, x)| !x.is_null()).collect()),
        other => other,
    }
}

/// `/ns/pkg/name` → `pkg/name` (within the tenant's namespace); other forms are kept.
fn local_path(p: &str, ns: &str) -> String {
    match p
        .strip_prefix('/')
        .and_then(|x| x.strip_prefix(ns))
        .and_then(|x| x.strip_prefix('/'))
    {
        Some(local) => local.to_string(),
        None => p.to_string(),
    }
}
