//! An OpenWhisk test double: the REST API (`/api/v1`) endpoints falconer uses, with OpenWhisk's semantics
//! as its published API definition (`apiv1swagger.json`), its docs and the behaviour notes in the shared
//! reference describe them:
//!
//! - HTTP Basic auth with the namespace's `uuid:key` (401 otherwise); `_` is the caller's own namespace,
//!   another namespace is 403, but for reading one of its published packages;
//! - a binding must name a package that exists, is not a binding, and is published or the caller's own;
//!   reading a binding shows the bound package's parameters merged into its own (its own win);
//! - errors are `{error, code}` with a transaction id;
//! - `PUT` without `overwrite=true` on an existing name is 409; with it, the entity is merged: an action's
//!   `exec` and `parameters` replaced when given, `limits` merged field by field, annotations merged (old and
//!   new) with `delAnnotations` removed; a package's or trigger's parameters and annotations replaced when
//!   given; every update bumps the patch of `version`;
//! - an action inside a package shows the package's parameters merged into its own;
//! - `binary` is derived from the code (base64 is binary); the server adds an `exec` annotation;
//! - deleting a package that is not empty is 409 unless `force=true`;
//! - a rule starts active, keeps its status across updates, and changes it through `POST {status}`;
//!   triggers carry the map of their rules;
//! - lists take `limit` (default 30, at most 200, 0 for the most) and `skip`.
//!
//! Every request is recorded (method, route template, status, body) for a contract test. Serves 127.0.0.1
//! only.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};

#[path = "http_double.rs"]
mod http;

pub use http::Recorded;

/// The routes the double serves (method, path template under `/api/v1`, as the API definition names
/// them).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/namespaces"),
    ("GET", "/namespaces/{namespace}/actions"),
    ("GET", "/namespaces/{namespace}/actions/{actionName}"),
    ("PUT", "/namespaces/{namespace}/actions/{actionName}"),
    ("DELETE", "/namespaces/{namespace}/actions/{actionName}"),
    (
        "GET",
        "/namespaces/{namespace}/actions/{packageName}/{actionName}",
    ),
    (
        "PUT",
        "/namespaces/{namespace}/actions/{packageName}/{actionName}",
    ),
    (
        "DELETE",
        "/namespaces/{namespace}/actions/{packageName}/{actionName}",
    ),
    ("GET", "/namespaces/{namespace}/packages"),
    ("GET", "/namespaces/{namespace}/packages/{packageName}"),
    ("PUT", "/namespaces/{namespace}/packages/{packageName}"),
    ("DELETE", "/namespaces/{namespace}/packages/{packageName}"),
    ("GET", "/namespaces/{namespace}/triggers"),
    ("GET", "/namespaces/{namespace}/triggers/{triggerName}"),
    ("PUT", "/namespaces/{namespace}/triggers/{triggerName}"),
    ("DELETE", "/namespaces/{namespace}/triggers/{triggerName}"),
    ("GET", "/namespaces/{namespace}/rules"),
    ("GET", "/namespaces/{namespace}/rules/{ruleName}"),
    ("PUT", "/namespaces/{namespace}/rules/{ruleName}"),
    ("DELETE", "/namespaces/{namespace}/rules/{ruleName}"),
    ("POST", "/namespaces/{namespace}/rules/{ruleName}"),
    ("GET", "/namespaces/{namespace}/limits"),
];

/// The runtimes the double knows (a subset of a default OpenWhisk deployment's).
pub const KINDS: &[&str] = &[
    "nodejs:18",
    "nodejs:20",
    "python:3.10",
    "python:3.11",
    "go:1.21",
    "java:8",
    "php:8.1",
    "ruby:2.5",
    "swift:5.3",
    "rust:1.34",
    "dotnet:6.0",
    "blackbox",
    "sequence",
];

/// How the double behaves.
#[derive(Clone)]
pub struct Options {
    pub namespace: String,
    /// `uuid:key`.
    pub auth: String,
    /// Answers a fault instead of the real answer when it says so.
    pub fault: Option<http::Fault>,
    /// Packages of other namespaces (namespace, package as OpenWhisk shows it): a published one can be read
    /// and bound to, another is 403.
    pub others: Vec<(String, Value)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "acme".into(),
            auth: "00000000-0000-4000-8000-00000000ac3e:test-key-of-the-openwhisk-double".into(),
            fault: None,
            others: vec![
                // As a deployment with the alarms and samples packages installed has them.
                other("whisk.system", "alarms", true, json!([])),
                other(
                    "whisk.system",
                    "samples",
                    true,
                    json!([{"key": "place", "value": "Earth"}, {"key": "greeting", "value": "Hello"}]),
                ),
                other(
                    "globex",
                    "internal",
                    false,
                    json!([{"key": "token", "value": "x"}]),
                ),
            ],
        }
    }
}

/// A package of another namespace, as OpenWhisk shows it.
pub fn other(namespace: &str, name: &str, publish: bool, parameters: Value) -> (String, Value) {
    (
        namespace.to_string(),
        json!({"name": name, "namespace": namespace, "version": "0.0.1", "publish": publish,
               "binding": {}, "parameters": parameters, "annotations": [], "updated": 0}),
    )
}

/// Everything the double holds (entities as OpenWhisk shows them, without `namespace`).
#[derive(Default)]
pub struct World {
    pub packages: BTreeMap<String, Map<String, Value>>,
    /// By path (`name` or `package/name`).
    pub actions: BTreeMap<String, Map<String, Value>>,
    pub triggers: BTreeMap<String, Map<String, Value>>,
    pub rules: BTreeMap<String, Map<String, Value>>,
    /// The limits an operator set for the namespace (`UserLimits`: only those set are answered).
    pub limits: Map<String, Value>,
    pub log: Vec<Recorded>,
    next: u64,
}

type Shared = http::Shared<World, Options>;

/// The double, served.
pub type OpenWhiskDouble = http::Double<World, Options>;

impl OpenWhiskDouble {
    /// Starts the double on 127.0.0.1 (`port` 0: a free one).
    pub async fn start(port: u16, options: Options) -> std::io::Result<OpenWhiskDouble> {
        http::Double::serve_with(port, options, serve).await
    }

    /// Starts the double over HTTPS with `tls` on `port` (0: a free one); its URL names `localhost`.
    pub async fn start_tls(
        port: u16,
        options: Options,
        tls: std::sync::Arc<rustls::ServerConfig>,
    ) -> std::io::Result<OpenWhiskDouble> {
        http::Double::serve_tls_with(port, options, serve, Some(tls)).await
    }

    /// The environment that points falconer at the double (address and key).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("FALCONER_OPENWHISK_URL".to_string(), self.url.clone()),
            (
                "FALCONER_OPENWHISK_AUTH".to_string(),
                self.options().auth.clone(),
            ),
        ]
    }

    pub fn log(&self) -> Vec<Recorded> {
        self.world().log.clone()
    }
}

type Answer = (u16, Value);

fn error(w: &mut World, status: u16, message: &str) -> Answer {
    w.next += 1;
    (
        status,
        json!({ "error": message, "code": format!("{:032x}", w.next * 0x9e37_79b9) }),
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// OpenWhisk's rule: code that is base64 (a multiple of 4 characters that decodes) is binary.
fn is_binary(code: &str) -> bool {
    let t = code.trim();
    !t.is_empty()
        && t.len().is_multiple_of(4)
        && base64::engine::general_purpose::STANDARD.decode(t).is_ok()
}

fn bump(version: &Value) -> Value {
    let v = version.as_str().unwrap_or("0.0.0");
    let mut parts: Vec<u64> = v.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    parts.resize(3, 0);
    parts[2] += 1;
    json!(format!("{}.{}.{}", parts[0], parts[1], parts[2]))
}

fn key_values(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// An entity's parameters with those of `from` (its package, or a binding's bound package) merged in, its
/// own winning.
fn inherit(entity: &mut Map<String, Value>, from: &Map<String, Value>) {
    let own = key_values(entity.get("parameters"));
    let mut merged: Vec<Value> = key_values(from.get("parameters"))
        .into_iter()
        .filter(|x| !own.iter().any(|o| o["key"] == x["key"]))
        .collect();
    merged.extend(own);
    entity.insert("parameters".into(), Value::Array(merged));
}

/// Annotations merged: the old ones, overridden and extended by the new ones.
fn merge_annotations(old: &[Value], new: &[Value], remove: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = old
        .iter()
        .filter(|o| !new.iter().any(|n| n["key"] == o["key"]))
        .cloned()
        .collect();
    out.extend(new.iter().cloned());
    out.retain(|a| !remove.iter().any(|r| *r == a["key"]));
    out
}

async fn serve(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (world, options) = (&shared.0, &shared.1);
    if let Some(r) = http::fault_answer(options.fault.as_ref(), &method, uri.path(), &body) {
        return r;
    }
    let query = http::form(uri.query().unwrap_or_default().as_bytes());
    let segments = http::segments(uri.path());
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|b| b == options.auth.as_bytes());
    let mut w = world.lock().expect("double state");
    let (route, (status, out)) = if segments.len() < 2 || segments[..2] != ["api", "v1"] {
        (
            "(unknown)".to_string(),
            error(&mut w, 404, "The requested resource does not exist."),
        )
    } else if !authorized {
        (
            "(unauthorized)".to_string(),
            error(&mut w, 401, "The supplied authentication is invalid"),
        )
    } else {
        match http::route(method.as_str(), &segments[2..], ROUTES) {
            None => (
                "(unknown)".to_string(),
                error(&mut w, 404, "The requested resource does not exist."),
            ),
            Some((template, params)) => {
                let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut cx = Cx {
                    w: &mut w,
                    options,
                    params: &params,
                    query: &query,
                };
                (
                    template.to_string(),
                    cx.handle(method.as_str(), template, input),
                )
            }
        }
    };
    w.log.push(Recorded {
        method: method.to_string(),
        route,
        status,
        body: out.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        request: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    drop(w);
    http::answer(status, &[], &out)
}

struct Cx<'a> {
    w: &'a mut World,
    options: &'a Options,
    params: &'a HashMap<String, String>,
    query: &'a HashMap<String, String>,
}

impl Cx<'_> {
    fn p(&self, k: &str) -> String {
        self.params.get(k).cloned().unwrap_or_default()
    }

    fn err(&mut self, status: u16, message: &str) -> Answer {
        error(self.w, status, message)
    }

    fn flag(&self, k: &str) -> bool {
        self.query.get(k).map(String::as_str) == Some("true")
    }

    /// `limit`/`skip` paging.
    fn page(&mut self, items: Vec<Value>) -> Result<Vec<Value>, Answer> {
        let limit: usize = match self.query.get("limit").map(|l| l.parse::<usize>()) {
            None => 30,
            Some(Ok(0)) => 200,
            Some(Ok(l)) if l <= 200 => l,
            Some(_) => {
                let l = self.query.get("limit").cloned().unwrap_or_default();
                return Err(self.err(
                    400,
                    &format!("The value '{l}' is not in the range of 0 to 200."),
                ));
            }
        };
        let skip: usize = self
            .query
            .get("skip")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(items.into_iter().skip(skip).take(limit).collect())
    }

    /// A list as OpenWhisk gives it: brief entities (`drop` left out), paged.
    fn listed(
        &mut self,
        all: &BTreeMap<String, Map<String, Value>>,
        drop: &[&str],
    ) -> Result<Answer, Answer> {
        let ns = self.ns();
        let list: Vec<Value> = all
            .values()
            .map(|e| {
                let mut m = e.clone();
                m.retain(|k, _| !drop.contains(&k.as_str()));
                self.shown(&m, ns.clone())
            })
            .collect();
        Ok((200, Value::Array(self.page(list)?)))
    }

    fn handle(&mut self, method: &str, template: &str, input: Value) -> Answer {
        let ns = self.p("namespace");
        let shared =
            (method, template) == ("GET", "/namespaces/{namespace}/packages/{packageName}");
        if shared && let Some(p) = self.other(&ns, &self.p("packageName")) {
            return (200, p);
        }
        if template != "/namespaces" && ns != "_" && ns != self.options.namespace {
            return self.err(
                403,
                &format!("The supplied authentication is not authorized to access '{ns}'."),
            );
        }
        match self.route(method, template, input) {
            Ok(a) | Err(a) => a,
        }
    }

    fn ns(&self) -> String {
        self.options.namespace.clone()
    }

    /// A published package of another namespace.
    fn other(&self, ns: &str, name: &str) -> Option<Value> {
        self.options
            .others
            .iter()
            .find(|(n, p)| n == ns && p["name"] == name && p["publish"] == true)
            .map(|(_, p)| p.clone())
    }

    /// The package a binding names, as its parameters come: OpenWhisk refuses a binding to a package that
    /// does not exist or is itself a binding (400), and to another namespace's package that is not
    /// published (403) (`Packages.scala`: `bindingDoesNotExist`, `bindingCannotReferenceBinding`, the
    /// entitlement check of the referenced package).
    fn bound(&mut self, binding: &Value) -> Result<Value, Answer> {
        let ns = binding["namespace"].as_str().unwrap_or("_");
        let name = binding["name"].as_str().unwrap_or_default();
        let own = ns == "_" || ns == self.ns();
        let p = if own {
            self.w.packages.get(name).cloned().map(Value::Object)
        } else if let Some(p) = self.other(ns, name) {
            Some(p)
        } else if self
            .options
            .others
            .iter()
            .any(|(n, p)| n == ns && p["name"] == name)
        {
            return Err(self.err(
                403,
                "The supplied authentication is not authorized to access this resource.",
            ));
        } else {
            None
        };
        let Some(p) = p else {
            return Err(self.err(400, "Binding references a package that does not exist."));
        };
        if p["binding"].get("name").is_some() {
            return Err(self.err(400, "Cannot bind to another package binding."));
        }
        Ok(p)
    }

    fn shown(&self, entity: &Map<String, Value>, namespace: String) -> Value {
        let mut e = entity.clone();
        e.insert("namespace".into(), json!(namespace));
        Value::Object(e)
    }

    fn action_path(&self) -> String {
        match self.params.get("packageName") {
            Some(p) => format!("{p}/{}", self.p("actionName")),
            None => self.p("actionName"),
        }
    }

    fn action_namespace(&self, path: &str) -> String {
        match path.split_once('/') {
            Some((p, _)) => format!("{}/{p}", self.ns()),
            None => self.ns(),
        }
    }

    /// An action as GET shows it: its package's parameters merged in (its own win).
    fn action_shown(&self, path: &str, code: bool) -> Value {
        let mut a = self.w.actions[path].clone();
        if let Some((pkg, _)) = path.split_once('/')
            && let Some(p) = self.w.packages.get(pkg)
        {
            inherit(&mut a, p);
        }
        if !code && let Some(Value::Object(e)) = a.get_mut("exec") {
            e.remove("code");
        }
        self.shown(&a, self.action_namespace(path))
    }

    /// A reference `/ns/path`, `ns/path` or `path` as a path in this namespace.
    fn local(&self, r: &str) -> Option<String> {
        let r = r.trim_start_matches('/');
        let ns = self.ns();
        match r.split_once('/') {
            Some((first, rest)) if first == ns || first == "_" => Some(rest.to_string()),
            Some(_) if r.matches('/').count() >= 2 => None,
            _ => Some(r.to_string()),
        }
    }

    fn path_name(&self, path: &str) -> Value {
        match path.rsplit_once('/') {
            Some((pkg, name)) => json!({ "path": format!("{}/{pkg}", self.ns()), "name": name }),
            None => json!({ "path": self.ns(), "name": path }),
        }
    }

    fn route(&mut self, method: &str, t: &str, input: Value) -> Result<Answer, Answer> {
        let ns = self.ns();
        match (method, t) {
            ("GET", "/namespaces") => Ok((200, json!([ns]))),
            ("GET", "/namespaces/{namespace}/limits") => {
                Ok((200, Value::Object(self.w.limits.clone())))
            }

            // ---------------------------------------------------------------------------- actions
            ("GET", "/namespaces/{namespace}/actions") => {
                let list: Vec<Value> = self
                    .w
                    .actions
                    .iter()
                    .map(|(path, a)| {
                        let mut m = Map::new();
                        for k in [
                            "name",
                            "version",
                            "publish",
                            "annotations",
                            "limits",
                            "updated",
                        ] {
                            if let Some(v) = a.get(k) {
                                m.insert(k.into(), v.clone());
                            }
                        }
                        m.insert("exec".into(), json!({ "binary": a["exec"]["binary"] }));
                        self.shown(&m, self.action_namespace(path))
                    })
                    .collect();
                Ok((200, Value::Array(self.page(list)?)))
            }
            (
                "GET",
                "/namespaces/{namespace}/actions/{actionName}"
                | "/namespaces/{namespace}/actions/{packageName}/{actionName}",
            ) => {
                let path = self.action_path();
                if !self.w.actions.contains_key(&path) {
                    return Err(self.err(404, "The requested resource does not exist."));
                }
                let code = self.query.get("code").map(String::as_str) != Some("false");
                Ok((200, self.action_shown(&path, code)))
            }
            (
                "PUT",
                "/namespaces/{namespace}/actions/{actionName}"
                | "/namespaces/{namespace}/actions/{packageName}/{actionName}",
            ) => self.put_action(input),
            (
                "DELETE",
                "/namespaces/{namespace}/actions/{actionName}"
                | "/namespaces/{namespace}/actions/{packageName}/{actionName}",
            ) => {
                let path = self.action_path();
                if !self.w.actions.contains_key(&path) {
                    return Err(self.err(404, "The requested resource does not exist."));
                }
                let shown = self.action_shown(&path, true);
                self.w.actions.remove(&path);
                Ok((200, shown))
            }

            // --------------------------------------------------------------------------- packages
            ("GET", "/namespaces/{namespace}/packages") => {
                let all = self.w.packages.clone();
                self.listed(&all, &["parameters"])
            }
            ("GET", "/namespaces/{namespace}/packages/{packageName}") => {
                let name = self.p("packageName");
                let Some(p) = self.w.packages.get(&name) else {
                    return Err(self.err(404, "The requested resource does not exist."));
                };
                let mut p = p.clone();
                // A binding comes back with the bound package's parameters merged in, its own winning;
                // when the bound package is gone, the binding's read is 404 (OpenWhisk reads the bound
                // package to answer: `mergePackageWithBinding`).
                if let Some(b) = p
                    .get("binding")
                    .filter(|b| b.get("name").is_some())
                    .cloned()
                {
                    let bound = match self.bound(&b) {
                        Ok(bound) => bound,
                        Err((400, _)) => {
                            return Err(self.err(404, "The requested resource does not exist."));
                        }
                        Err(e) => return Err(e),
                    };
                    if let Some(bound) = bound.as_object() {
                        inherit(&mut p, bound);
                    }
                }
                let actions: Vec<Value> = self
                    .w
                    .actions
                    .iter()
                    .filter(|(path, _)| path.split_once('/').is_some_and(|(pk, _)| pk == name))
                    .map(|(_, a)| json!({ "name": a["name"], "version": a["version"], "annotations": a["annotations"] }))
                    .collect();
                p.insert("actions".into(), Value::Array(actions));
                p.insert("feeds".into(), json!([]));
                Ok((200, self.shown(&p, ns)))
            }
            ("PUT", "/namespaces/{namespace}/packages/{packageName}") => {
                let name = self.p("packageName");
                let overwrite = self.flag("overwrite");
                let binding = input
                    .get("binding")
                    .filter(|b| b.get("name").is_some())
                    .cloned();
                if let Some(b) = &binding {
                    self.bound(b)?;
                }
                let now = now_ms();
                match self.w.packages.get_mut(&name) {
                    Some(_) if !overwrite => Err(self.err(409, "resource already exists")),
                    Some(p) => {
                        let was_binding = p.get("binding").is_some_and(|b| b.get("name").is_some());
                        if binding.is_some() && !was_binding {
                            return Err(self.err(409, "resource is not a binding"));
                        }
                        for k in ["parameters", "annotations", "publish"] {
                            if let Some(v) = input.get(k).filter(|v| !v.is_null()) {
                                p.insert(k.into(), v.clone());
                            }
                        }
                        let v = bump(&p["version"]);
                        p.insert("version".into(), v);
                        p.insert("updated".into(), json!(now));
                        let p = p.clone();
                        Ok((200, self.shown(&p, ns)))
                    }
                    None => {
                        let p = json!({
                            "name": name, "version": "0.0.1",
                            "publish": input.get("publish").cloned().filter(|v| !v.is_null()).unwrap_or(json!(false)),
                            "binding": binding.unwrap_or(json!({})),
                            "parameters": key_values(input.get("parameters")),
                            "annotations": key_values(input.get("annotations")),
                            "updated": now,
                        });
                        let p = p.as_object().cloned().unwrap_or_default();
                        self.w.packages.insert(name, p.clone());
                        Ok((200, self.shown(&p, ns)))
                    }
                }
            }
            ("DELETE", "/namespaces/{namespace}/packages/{packageName}") => {
                let name = self.p("packageName");
                let Some(p) = self.w.packages.get(&name).cloned() else {
                    return Err(self.err(404, "The requested resource does not exist."));
                };
                let inside: Vec<String> = self
                    .w
                    .actions
                    .keys()
                    .filter(|path| path.split_once('/').is_some_and(|(pk, _)| pk == name))
                    .cloned()
                    .collect();
                if !inside.is_empty() && !self.flag("force") {
                    return Err(self.err(
                        409,
                        &format!(
                            "Package not empty (contains {} {}). Set force param or delete package contents.",
                            inside.len(),
                            if inside.len() == 1 { "entity" } else { "entities" }
                        ),
                    ));
                }
                for a in inside {
                    self.w.actions.remove(&a);
                }
                self.w.packages.remove(&name);
                Ok((200, self.shown(&p, ns)))
            }

            // --------------------------------------------------------------------------- triggers
            ("GET", "/namespaces/{namespace}/triggers") => {
                let all = self.w.triggers.clone();
                self.listed(&all, &["parameters", "limits", "rules"])
            }
            ("GET", "/namespaces/{namespace}/triggers/{triggerName}") => {
                let name = self.p("triggerName");
                let Some(t) = self.w.triggers.get(&name).cloned() else {
                    return Err(self.err(404, "The requested resource does not exist."));
                };
                Ok((200, self.shown(&t, ns)))
            }
            ("PUT", "/namespaces/{namespace}/triggers/{triggerName}") => {
                let name = self.p("triggerName");
                let overwrite = self.flag("overwrite");
                let now = now_ms();
                match self.w.triggers.get_mut(&name) {
                    Some(_) if !overwrite => Err(self.err(409, "resource already exists")),
                    Some(t) => {
                        for k in ["parameters", "annotations", "limits", "publish"] {
                            if let Some(v) = input.get(k).filter(|v| !v.is_null()) {
                                t.insert(k.into(), v.clone());
                            }
                        }
                        let v = bump(&t["version"]);
                        t.insert("version".into(), v);
                        t.insert("updated".into(), json!(now));
                        let t = t.clone();
                        Ok((200, self.shown(&t, ns)))
                    }
                    None => {
                        let publish = input.get("publish").filter(|v| v.is_boolean());
                        let t = json!({
                            "name": name, "version": "0.0.1", "publish": publish.cloned().unwrap_or(json!(false)),
                            "parameters": key_values(input.get("parameters")),
                            "annotations": key_values(input.get("annotations")),
                            "limits": {}, "rules": {}, "updated": now,
                        });
                        let t = t.as_object().cloned().unwrap_or_default();
                        self.w.triggers.insert(name, t.clone());
                        Ok((200, self.shown(&t, ns)))
                    }
                }
            }
            ("DELETE", "/namespaces/{namespace}/triggers/{triggerName}") => {
                let name = self.p("triggerName");
                let Some(t) = self.w.triggers.remove(&name) else {
                    return Err(self.err(404, "The requested resource does not exist."));
                };
                Ok((200, self.shown(&t, ns)))
            }

            // ------------------------------------------------------------------------------ rules
            ("GET", "/namespaces/{namespace}/rules") => {
                let all = self.w.rules.clone();
                self.listed(&all, &["status"])
            }
            ("GET", "/namespaces/{namespace}/rules/{ruleName}") => {
                let name = self.p("ruleName");
                let Some(r) = self.w.rules.get(&name).cloned() else {
                    return Err(self.err(404, "The requested resource does not exist."));
                };
                Ok((200, self.shown(&r, ns)))
            }
            ("PUT", "/namespaces/{namespace}/rules/{ruleName}") => self.put_rule(input),
            ("POST", "/namespaces/{namespace}/rules/{ruleName}") => {
                let name = self.p("ruleName");
                let status = input["status"].as_str().unwrap_or_default().to_string();
                if status != "active" && status != "inactive" {
                    return Err(self.err(400, "status must be 'active' or 'inactive'"));
                }
                let Some(r) = self.w.rules.get_mut(&name) else {
                    return Err(self.err(404, "The requested resource does not exist."));
                };
                r.insert("status".into(), json!(status));
                let trigger = r["trigger"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let key = format!("{ns}/{name}");
                if let Some(t) = self.w.triggers.get_mut(&trigger)
                    && let Some(Value::Object(rules)) = t.get_mut("rules")
                    && let Some(entry) = rules.get_mut(&key)
                {
                    entry["status"] = json!(status);
                }
                Ok((200, Value::Null))
            }
            ("DELETE", "/namespaces/{namespace}/rules/{ruleName}") => {
                let name = self.p("ruleName");
                let Some(r) = self.w.rules.remove(&name) else {
                    return Err(self.err(404, "The requested resource does not exist."));
                };
                let trigger = r["trigger"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if let Some(t) = self.w.triggers.get_mut(&trigger)
                    && let Some(Value::Object(rules)) = t.get_mut("rules")
                {
                    rules.remove(&format!("{ns}/{name}"));
                }
                Ok((200, self.shown(&r, ns)))
            }
            _ => Err(self.err(405, "The request method is not allowed.")),
        }
    }

    fn put_action(&mut self, input: Value) -> Result<Answer, Answer> {
        let path = self.action_path();
        let overwrite = self.flag("overwrite");
        if let Some((pkg, _)) = path.split_once('/') {
            match self.w.packages.get(pkg) {
                None => return Err(self.err(404, "The requested resource does not exist.")),
                Some(p) if p["binding"].get("name").is_some() => {
                    return Err(self.err(400, "Cannot create an action in a package binding."));
                }
                _ => {}
            }
        }
        let exists = self.w.actions.contains_key(&path);
        if exists && !overwrite {
            return Err(self.err(409, "resource already exists"));
        }
        let exec = match input.get("exec").filter(|e| !e.is_null()) {
            Some(e) => Some(self.exec(e)?),
            None if exists => None,
            None => return Err(self.err(400, "The request content was malformed:\nexec undefined")),
        };
        let now = now_ms();
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        let mut a = self.w.actions.get(&path).cloned().unwrap_or_else(|| {
            json!({
                "name": name, "version": "0.0.0", "publish": false, "annotations": [], "parameters": [],
                "limits": {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
            })
            .as_object()
            .cloned()
            .unwrap_or_default()
        });
        if let Some(e) = exec {
            let family = e["kind"]
                .as_str()
                .unwrap_or_default()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            a.insert("exec".into(), e);
            let old = key_values(a.get("annotations"));
            a.insert(
                "annotations".into(),
                Value::Array(merge_annotations(
                    &old,
                    &[json!({"key": "exec", "value": family})],
                    &[],
                )),
            );
        }
        if let Some(p) = input.get("parameters").filter(|v| !v.is_null()) {
            a.insert("parameters".into(), p.clone());
        }
        if let Some(p) = input.get("publish").filter(|v| v.is_boolean()) {
            a.insert("publish".into(), p.clone());
        }
        if let Some(Value::Object(l)) = input.get("limits") {
            let mut limits = a["limits"].as_object().cloned().unwrap_or_default();
            for (k, v) in l {
                if !["timeout", "memory", "logs", "concurrency"].contains(&k.as_str()) {
                    return Err(self.err(
                        400,
                        &format!("The request content was malformed:\nunknown limit '{k}'"),
                    ));
                }
                limits.insert(k.clone(), v.clone());
            }
            a.insert("limits".into(), Value::Object(limits));
        }
        let old = key_values(a.get("annotations"));
        let new = key_values(input.get("annotations"));
        let remove = key_values(input.get("delAnnotations"));
        a.insert(
            "annotations".into(),
            Value::Array(merge_annotations(&old, &new, &remove)),
        );
        let v = bump(&a["version"]);
        a.insert("version".into(), v);
        a.insert("updated".into(), json!(now));
        self.w.actions.insert(path.clone(), a);
        Ok((200, self.action_shown(&path, true)))
    }

    /// Validates an `exec` and derives `binary`.
    fn exec(&mut self, e: &Value) -> Result<Value, Answer> {
        let kind = e["kind"].as_str().unwrap_or_default().to_string();
        if !KINDS.contains(&kind.as_str()) {
            return Err(self.err(
                400,
                &format!("kind '{kind}' not in Set({})", KINDS.join(", ")),
            ));
        }
        let mut out = Map::new();
        out.insert("kind".into(), json!(kind));
        match kind.as_str() {
            "sequence" => {
                let components: Vec<String> = e["components"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                for c in &components {
                    let known = self
                        .local(c)
                        .is_some_and(|p| self.w.actions.contains_key(&p));
                    if !known {
                        return Err(self.err(400, "Sequence component does not exist."));
                    }
                }
                out.insert("components".into(), json!(components));
                out.insert("binary".into(), json!(false));
            }
            _ => {
                let code = e["code"].as_str().map(str::to_string);
                if kind == "blackbox" {
                    let Some(image) = e["image"].as_str() else {
                        return Err(
                            self.err(400, "The request content was malformed:\nimage undefined")
                        );
                    };
                    out.insert("image".into(), json!(image));
                } else if code.is_none() {
                    return Err(self.err(400, "The request content was malformed:\ncode undefined"));
                }
                let binary = code.as_deref().is_some_and(is_binary);
                if let Some(c) = code {
                    out.insert("code".into(), json!(c));
                }
                out.insert("binary".into(), json!(binary));
                if let Some(m) = e["main"].as_str() {
                    out.insert("main".into(), json!(m));
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn put_rule(&mut self, input: Value) -> Result<Answer, Answer> {
        let name = self.p("ruleName");
        let ns = self.ns();
        let overwrite = self.flag("overwrite");
        let exists = self.w.rules.contains_key(&name);
        if exists && !overwrite {
            return Err(self.err(409, "resource already exists"));
        }
        let trigger = self.local(input["trigger"].as_str().unwrap_or_default());
        let action = self.local(input["action"].as_str().unwrap_or_default());
        let (Some(trigger), Some(action)) = (trigger, action) else {
            return Err(self.err(
                400,
                "The request content was malformed:\ntrigger and action are fully qualified names",
            ));
        };
        if !self.w.triggers.contains_key(&trigger) || !self.w.actions.contains_key(&action) {
            return Err(self.err(404, "The requested resource does not exist."));
        }
        let key = format!("{ns}/{name}");
        let old = self.w.rules.get(&name).cloned();
        let status = old
            .as_ref()
            .and_then(|r| r.get("status").cloned())
            .unwrap_or(json!("active"));
        if let Some(old) = &old {
            let t = old["trigger"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(t) = self.w.triggers.get_mut(&t)
                && let Some(Value::Object(rules)) = t.get_mut("rules")
            {
                rules.remove(&key);
            }
        }
        let version = old.as_ref().map_or(json!("0.0.1"), |r| bump(&r["version"]));
        let r = json!({
            "name": name, "version": version, "publish": false, "annotations": [],
            "status": status, "trigger": self.path_name(&trigger), "action": self.path_name(&action),
            "updated": now_ms(),
        });
        let entry = json!({ "action": self.path_name(&action), "status": status });
        if let Some(t) = self.w.triggers.get_mut(&trigger)
            && let Some(Value::Object(rules)) = t.get_mut("rules")
        {
            rules.insert(key, entry);
        }
        let r = r.as_object().cloned().unwrap_or_default();
        self.w.rules.insert(name, r.clone());
        Ok((200, self.shown(&r, ns)))
    }
}
