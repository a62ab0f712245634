//! The functions section of an artifact.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value};

use super::*;
use crate::diag::Issue;
use crate::domains::{Spec, functions as fnd};
use crate::model::SecretValue;
use crate::model::secret::is_marker;

const PACKAGE_KEYS: &[&str] = &[
    "name",
    "namespace",
    "binding",
    "parameters",
    "annotations",
    "publish",
    "version",
    "updated",
    "actions",
    "feeds",
];
const ACTION_KEYS: &[&str] = &[
    "name",
    "namespace",
    "kind",
    "runtime",
    "exec",
    "code",
    "code_base64",
    "code_available",
    "limits",
    "parameters",
    "annotations",
    "version",
    "updated",
    "publish",
];
const TRIGGER_KEYS: &[&str] = &[
    "name",
    "namespace",
    "parameters",
    "annotations",
    "feed",
    "version",
    "updated",
    "publish",
    "limits",
    "rules",
];
const RULE_KEYS: &[&str] = &[
    "name",
    "namespace",
    "trigger",
    "action",
    "status",
    "version",
    "updated",
    "publish",
];

impl Mapper {
    pub(super) fn functions(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        self.leftover(
            data,
            path,
            &["namespace", "actions", "packages", "triggers", "rules"],
        );
        let ns = s(data.get("namespace")).unwrap_or_else(|| self.tenant.clone());
        self.in_scope(&crate::domains::functions::NAMESPACE_SCOPE, &ns);
        let collector = arr(data.get("actions"))
            .iter()
            .any(|a| a.get("code_base64").is_some() || a.get("code_available").is_some());
        for (o, p) in self.entries(data, path, "packages", PACKAGE_KEYS) {
            self.package(o, p);
        }
        for (o, p) in self.entries(data, path, "actions", ACTION_KEYS) {
            self.action(o, p, &ns);
        }
        for (o, p) in self.entries(data, path, "triggers", TRIGGER_KEYS) {
            self.trigger(o, p);
        }
        for (o, p) in self.entries(data, path, "rules", RULE_KEYS) {
            self.rule(o, p, &ns);
        }
        if collector {
            Dialect::Collector
        } else {
            Dialect::Applier
        }
    }

    fn package(&mut self, o: &Map<String, Value>, p: String) {
        let binding = obj(o.get("binding"))
            .filter(|b| !b.is_empty())
            .map(|b| fnd::Binding {
                namespace: s(b.get("namespace")).unwrap_or_default(),
                name: s(b.get("name")).unwrap_or_default(),
            });
        let parameter = self.ow_params(o.get("parameters"), &format!("{p}/parameters"));
        let annotations = self.ow_annotations(o.get("annotations"));
        self.push(
            Spec::FnPackage(fnd::Package {
                name: s(o.get("name")).unwrap_or_default(),
                binding,
                parameter,
                annotations,
                publish: o.get("publish").and_then(Value::as_bool),
                depends_on: Vec::new(),
            }),
            p,
        );
    }

    fn action(&mut self, o: &Map<String, Value>, p: String, ns: &str) {
        let name = s(o.get("name")).unwrap_or_default();
        // An action inside a package is listed with namespace `ns/package`.
        let package = s(o.get("namespace"))
            .and_then(|n| n.split_once('/').map(|(_, pk)| pk.to_string()))
            .filter(|pk| !pk.is_empty());
        let exec = obj(o.get("exec"));
        let kind = exec
            .and_then(|e| s(e.get("kind")))
            .or_else(|| s(o.get("kind")))
            .or_else(|| s(o.get("runtime")))
            .unwrap_or_default();
        let (code, binary) = self.action_code(o, &p);
        if code.is_none() && !matches!(kind.as_str(), "sequence" | "blackbox") {
            self.warn(
                format!("{p}/code_available"),
                "gap",
                format!("the code of action `{name}` was not exported (binary or unreadable); the live code is kept, and the action cannot be created from this artifact"),
            );
        }
        let components = exec
            .map(|e| {
                arr(e.get("components"))
                    .iter()
                    .filter_map(|c| c.as_str())
                    .map(|c| local_path(c, ns))
                    .collect()
            })
            .unwrap_or_default();
        let limits = obj(o.get("limits"))
            .filter(|l| !l.is_empty())
            .map(|l| fnd::Limits {
                timeout: l.get("timeout").and_then(Value::as_u64),
                memory: l.get("memory").and_then(Value::as_u64),
                logs: l.get("logs").and_then(Value::as_u64),
                concurrency: l.get("concurrency").and_then(Value::as_u64),
            });
        let parameter = self.ow_params(o.get("parameters"), &format!("{p}/parameters"));
        let annotations = self.ow_annotations(o.get("annotations"));
        self.push(
            Spec::FnAction(fnd::Action {
                name,
                package,
                kind,
                code,
                main: exec.and_then(|e| s(e.get("main"))),
                image: exec.and_then(|e| s(e.get("image"))),
                binary,
                components,
                limits,
                parameter,
                annotations,
                require_whisk_auth: None,
                require_whisk_auth_token: None,
                depends_on: Vec::new(),
            }),
            p,
        );
    }

    /// An action's code (base64 of the collector, or `exec.code`) and whether it is binary.
    fn action_code(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
    ) -> (Option<fnd::Code>, Option<bool>) {
        let exec = obj(o.get("exec"));
        let binary = exec
            .and_then(|e| e.get("binary"))
            .and_then(Value::as_bool)
            .filter(|b| *b);
        if let Some(b64) = o.get("code_base64").and_then(Value::as_str) {
            return match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) if binary != Some(true) => (Some(fnd::Code::Inline(text)), binary),
                    _ => (Some(fnd::Code::Base64(b64.to_string())), Some(true)),
                },
                Err(e) => {
                    self.issues.push(
                        Issue::error("invalid-value", format!("`code_base64` is not base64: {e}"))
                            .path(format!("{p}/code_base64")),
                    );
                    (None, binary)
                }
            };
        }
        let code = exec
            .and_then(|e| s(e.get("code")))
            .or_else(|| s(o.get("code")))
            .map(|c| {
                if binary == Some(true) {
                    fnd::Code::Base64(c)
                } else {
                    fnd::Code::Inline(c)
                }
            });
        (code, binary)
    }

    fn trigger(&mut self, o: &Map<String, Value>, p: String) {
        let mut annotations = self.ow_annotations(o.get("annotations"));
        let feed = s(o.get("feed")).or_else(|| {
            annotations
                .remove("feed")
                .and_then(|v| v.as_str().map(String::from))
        });
        let parameter = self.ow_params(o.get("parameters"), &format!("{p}/parameters"));
        self.push(
            Spec::FnTrigger(fnd::Trigger {
                name: s(o.get("name")).unwrap_or_default(),
                feed,
                parameter,
                annotations,
                depends_on: Vec::new(),
            }),
            p,
        );
    }

    fn rule(&mut self, o: &Map<String, Value>, p: String, ns: &str) {
        let entity = |v: Option<&Value>| -> String {
            match v {
                Some(Value::String(x)) => local_path(x, ns),
                Some(Value::Object(e)) => {
                    let name = s(e.get("name")).unwrap_or_default();
                    match s(e.get("path")) {
                        Some(path) => local_path(&format!("/{path}/{name}"), ns),
                        None => name,
                    }
                }
                _ => String::new(),
            }
        };
        let status = match s(o.get("status")).as_deref() {
            Some("inactive") => Some(fnd::RuleStatus::Inactive),
            Some("active") => Some(fnd::RuleStatus::Active),
            _ => None,
        };
        self.push(
            Spec::FnRule(fnd::Rule {
                name: s(o.get("name")).unwrap_or_default(),
                trigger: entity(o.get("trigger")),
                action: entity(o.get("action")),
                status,
                depends_on: Vec::new(),
            }),
            p,
        );
    }

    pub(super) fn ow_params(&mut self, v: Option<&Value>, p: &str) -> Vec<fnd::Parameter> {
        let mut out = Vec::new();
        for (i, x) in arr(v).iter().enumerate() {
            let Some(key) = s(x.get("key")) else { continue };
            let value = x.get("value").cloned().unwrap_or(Value::Null);
            if value.as_str().is_some_and(is_marker) {
                self.warn(
                    format!("{p}/{i}/value"),
                    "redacted",
                    format!("parameter `{key}` is redacted; it is treated as a secret whose live value is kept"),
                );
                out.push(fnd::Parameter {
                    key,
                    value: None,
                    secret: Some(SecretValue::redacted()),
                });
            } else {
                out.push(fnd::Parameter {
                    key,
                    value: Some(value),
                    secret: None,
                });
            }
        }
        out
    }

    /// The entity's annotations, less those the server maintains (as the live read leaves them out).
    pub(super) fn ow_annotations(&mut self, v: Option<&Value>) -> BTreeMap<String, Value> {
        use crate::domains::functions::inspect::SERVER_ANNOTATIONS;
        let mut out = BTreeMap::new();
        match v {
            Some(Value::Array(items)) => {
                for x in items {
                    if let Some(k) = s(x.get("key"))
                        && !SERVER_ANNOTATIONS.contains(&k.as_str())
                    {
                        out.insert(k, x.get("value").cloned().unwrap_or(Value::Null));
                    }
                }
            }
            Some(Value::Object(m)) => {
                for (k, x) in m {
                    if !SERVER_ANNOTATIONS.contains(&k.as_str()) {
                        out.insert(k.clone(), x.clone());
                    }
                }
            }
            _ => {}
        }
        out
    }
}

/// Writing this domain's section in the export's (collector) dialect, from falconer's resources.
pub(crate) mod write {
    use std::collections::BTreeMap;

    use base64::Engine;
    use serde_json::{Value, json};

    use crate::domains::{Spec, functions as fnd};
    use crate::model::Tenant;
    use crate::model::secret::REDACTED as MARKER;

    pub(crate) fn data(tenant: &Tenant, specs: &[Spec]) -> Value {
        let ns = tenant.name(&crate::domains::functions::NAMESPACE_SCOPE);
        let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for s in specs {
            let (key, v) = match s {
                Spec::FnAction(a) => ("actions", ow_action(a, &ns)),
                Spec::FnPackage(p) => {
                    let binding = p
                        .binding
                        .as_ref()
                        .map(|b| json!({"namespace": b.namespace, "name": b.name}))
                        .unwrap_or_else(|| json!({}));
                    let mut v = ow_entity(&p.name, &ns, &p.parameter, &p.annotations);
                    v["binding"] = binding;
                    if let Some(publish) = p.publish {
                        v["publish"] = Value::Bool(publish);
                    }
                    ("packages", v)
                }
                Spec::FnTrigger(t) => {
                    let mut annotations = t.annotations.clone();
                    if let Some(feed) = &t.feed {
                        annotations.insert("feed".into(), Value::from(feed.clone()));
                    }
                    (
                        "triggers",
                        ow_entity(&t.name, &ns, &t.parameter, &annotations),
                    )
                }
                Spec::FnRule(r) => {
                    let entity = |path: &str| {
                        let (dir, name) = path
                            .rsplit_once('/')
                            .map_or((ns.clone(), path), |(d, n)| (format!("{ns}/{d}"), n));
                        json!({"path": dir, "name": name})
                    };
                    let mut v = json!({"name": r.name, "namespace": ns, "trigger": entity(&r.trigger),
                        "action": entity(&r.action)});
                    if let Some(st) = r.status {
                        v["status"] = serde_json::to_value(st).unwrap_or_default();
                    }
                    ("rules", v)
                }
                _ => continue,
            };
            lists.entry(key).or_default().push(v);
        }
        let mut out = json!({"namespace": ns});
        for key in ["actions", "packages", "triggers", "rules"] {
            out[key] = Value::Array(lists.remove(key).unwrap_or_default());
        }
        out
    }

    /// The fields every OpenWhisk entity has: name, namespace, parameters (secrets redacted), annotations.
    fn ow_entity(
        name: &str,
        ns: &str,
        params: &[fnd::Parameter],
        annotations: &BTreeMap<String, Value>,
    ) -> Value {
        let parameters: Vec<Value> = params
            .iter()
            .map(|p| match &p.secret {
                Some(_) => json!({"key": p.key, "value": MARKER, "encrypt": true}),
                None => json!({"key": p.key, "value": p.value.clone().unwrap_or_default()}),
            })
            .collect();
        let annotations: Vec<Value> = annotations
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        json!({"name": name, "namespace": ns, "parameters": parameters, "annotations": annotations})
    }

    fn ow_action(a: &fnd::Action, ns: &str) -> Value {
        let namespace = match &a.package {
            Some(p) => format!("{ns}/{p}"),
            None => ns.to_string(),
        };
        let mut v = ow_entity(&a.name, &namespace, &a.parameter, &a.annotations);
        v["kind"] = Value::from(a.kind.clone());
        let limits = a
            .limits
            .as_ref()
            .and_then(|l| serde_json::to_value(l).ok())
            .unwrap_or_else(|| json!({}));
        v["limits"] = limits;
        let code = match &a.code {
            Some(fnd::Code::Inline(text)) => {
                Some(base64::engine::general_purpose::STANDARD.encode(text))
            }
            Some(fnd::Code::Base64(b64)) => Some(b64.clone()),
            Some(fnd::Code::File(_)) | None => None,
        };
        v["code_available"] = Value::Bool(code.is_some());
        v["code_base64"] = code.map(Value::from).unwrap_or_default();
        v["exec"] = exec(a, ns);
        v
    }

    /// What the action runs, as OpenWhisk gives it (`exec`): its kind, a sequence's components (fully
    /// qualified), the entry point, a blackbox image, whether the code is binary.
    fn exec(a: &fnd::Action, ns: &str) -> Value {
        let mut exec = json!({"kind": a.kind});
        if !a.components.is_empty() {
            let full = |c: &String| match c.starts_with('/') {
                true => c.clone(),
                false => format!("/{ns}/{c}"),
            };
            exec["components"] = a.components.iter().map(full).collect();
        }
        for (key, value) in [("main", &a.main), ("image", &a.image)] {
            if let Some(v) = value {
                exec[key] = Value::from(v.clone());
            }
        }
        if let Some(b) = a.binary {
            exec["binary"] = Value::Bool(b);
        }
        exec
    }
}
