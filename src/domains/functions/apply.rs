//! Carries out functions changes with OpenWhisk's merge semantics: a create is a `PUT` without `overwrite`
//! (a 409 means it is already there, so the run resumes with an update); an update is a `PUT` with
//! `overwrite=true` carrying what the change touches: an action's `exec` only when its code or runtime
//! changed, its parameters whole (OpenWhisk replaces them), its limits (merged by OpenWhisk), its
//! annotations with `delAnnotations` for those removed; a rule's status through its own `POST`.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{OwError, Whisk};
use super::{Action, Code, Package, Parameter, Rule, RuleStatus, Trigger};
use crate::domains::Spec;
use crate::domains::item::{Action as Act, Change};
use crate::domains::provider::touched;

/// A name as OpenWhisk takes it in a reference: `/ns/pkg/name` (one already absolute is kept).
pub fn qualified(path: &str, ns: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{ns}/{path}")
    }
}

/// A secret read from its source for OpenWhisk; `what` names it in the error (`parameter `KEY``).
fn secret_text(s: &crate::model::SecretValue, base: &Path, what: &str) -> Result<String, OwError> {
    match crate::secrets::resolve(s, base) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(OwError::Other(format!(
            "{what}: the secret is unknown (a redaction marker); give it as {{ env = \"NAME\" }} or {{ file = \"path\" }}"
        ))),
        Err(u) => Err(OwError::Other(format!(
            "{what}: the secret ({}) cannot be read: {}",
            s.describe(),
            u.0
        ))),
    }
}

/// Parameters as OpenWhisk takes them, secrets read from their source.
fn parameters(params: &[Parameter], base: &Path) -> Result<Value, OwError> {
    let mut out = Vec::new();
    for p in params {
        let value = match (&p.value, &p.secret) {
            (_, Some(s)) => json!(secret_text(s, base, &format!("parameter `{}`", p.key))?),
            (Some(v), None) => v.clone(),
            (None, None) => Value::Null,
        };
        out.push(json!({ "key": p.key, "value": value }));
    }
    Ok(Value::Array(out))
}

fn annotations(a: &std::collections::BTreeMap<String, Value>) -> Value {
    Value::Array(
        a.iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect(),
    )
}

/// An entity's path segments under `/namespaces/{ns}`.
fn segments<'a>(ns: &'a str, kind: &'a str, path: &'a str) -> Vec<&'a str> {
    let mut s = vec!["namespaces", ns, kind];
    s.extend(path.split('/'));
    s
}

/// PUTs an entity: created (`overwrite=false`, a 409 retried as an update) or updated.
async fn put(w: &Whisk, segs: &[&str], create: bool, body: &Value) -> Result<(), OwError> {
    let q = |o: bool| [("overwrite", o.to_string())];
    match w.send(Method::PUT, segs, &q(!create), Some(body)).await {
        Err(e) if create && e.status() == Some(409) => w
            .send(Method::PUT, segs, &q(true), Some(body))
            .await
            .map(|_| ()),
        r => r.map(|_| ()),
    }
}

/// The fields of an action's `exec`.
const CODE_FIELDS: &[&str] = &["kind", "code", "main", "image", "binary", "components"];

/// The top-level fields of each kind that an update carries out (packages and triggers are sent whole).
pub fn carries(kind: &str, field: &str) -> bool {
    let fields: &[&str] = match kind {
        "package" => &["parameter", "annotations", "publish", "binding"],
        "trigger" => &["parameter", "annotations", "feed"],
        "action" => &["parameter", "limits", "annotations", "require_whisk_auth", "require_whisk_auth_token"],
        "rule" => &["trigger", "action", "status"],
        _ => &[],
    };
    fields.contains(&field) || (kind == "action" && CODE_FIELDS.contains(&field))
}

fn wants(only: &Option<Vec<String>>, fields: &[&str]) -> bool {
    only.as_ref()
        .is_none_or(|o| o.iter().any(|f| fields.contains(&f.as_str())))
}

async fn package(w: &Whisk, ns: &str, c: &Change, d: &Package, base: &Path) -> Result<(), OwError> {
    let create = c.action != Act::Update;
    let mut body = json!({
        "parameters": parameters(&d.parameter, base)?,
        "annotations": annotations(&d.annotations),
        "publish": d.publish.unwrap_or(false),
    });
    if let Some(b) = &d.binding {
        body["binding"] = json!({ "namespace": b.namespace, "name": b.name });
    }
    put(w, &segments(ns, "packages", &d.name), create, &body).await
}

/// The `exec` of an action.
fn exec(d: &Action, ns: &str) -> Result<Value, OwError> {
    let mut e = json!({ "kind": d.kind });
    match d.kind.as_str() {
        "sequence" => {
            e["components"] = json!(
                d.components
                    .iter()
                    .map(|c| qualified(c, ns))
                    .collect::<Vec<_>>()
            );
        }
        _ => {
            if let Some(i) = &d.image {
                e["image"] = json!(i);
            }
            match &d.code {
                Some(Code::Inline(t)) => e["code"] = json!(t),
                Some(Code::Base64(b)) => {
                    e["code"] = json!(b);
                    e["binary"] = json!(true);
                }
                Some(Code::File(p)) => {
                    return Err(OwError::Other(format!(
                        "action `{}`: the code file {p} was not read",
                        d.path()
                    )));
                }
                None if d.kind != "blackbox" => {
                    return Err(OwError::Other(format!(
                        "action `{}` has no code: add `code = {{ file = \"path\" }}`",
                        d.path()
                    )));
                }
                None => {}
            }
            if let Some(m) = &d.main {
                e["main"] = json!(m);
            }
        }
    }
    Ok(e)
}

async fn action(
    w: &Whisk,
    ns: &str,
    c: &Change,
    d: &Action,
    l: Option<&Action>,
    base: &Path,
) -> Result<(), OwError> {
    let create = c.action != Act::Update;
    let only = (!create).then(|| touched(c));
    let mut body = json!({});
    // An update without code in the manifest keeps the live code; a create needs it (`exec` says so).
    let has_code = d.code.is_some() || matches!(d.kind.as_str(), "sequence" | "blackbox");
    if create || (wants(&only, CODE_FIELDS) && has_code) {
        body["exec"] = exec(d, ns)?;
    }
    if wants(&only, &["parameter"]) {
        body["parameters"] = parameters(&d.parameter, base)?;
    }
    if wants(&only, &["limits"])
        && let Some(lim) = &d.limits
    {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("timeout", lim.timeout),
            ("memory", lim.memory),
            ("logs", lim.logs),
            ("concurrency", lim.concurrency),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        body["limits"] = Value::Object(m);
    }
    if wants(&only, &["annotations", "require_whisk_auth", "require_whisk_auth_token"]) {
        let desired = with_whisk_auth(d, base)?;
        body["annotations"] = annotations(&desired);
        let live_keys = l.into_iter().flat_map(|l| {
            let auth = l.require_whisk_auth.is_some() || l.require_whisk_auth_token.is_some();
            l.annotations.keys().cloned().chain(auth.then(|| super::WHISK_AUTH.to_string()))
        });
        let gone: Vec<String> = live_keys.filter(|k| !desired.contains_key(k)).collect();
        if !gone.is_empty() && !create {
            body["delAnnotations"] = json!(gone);
        }
    }
    put(w, &segments(ns, "actions", &d.path()), create, &body).await
}

/// An action's annotations with `require-whisk-auth` from its fields (a token read from its source).
fn with_whisk_auth(
    d: &Action,
    base: &Path,
) -> Result<std::collections::BTreeMap<String, Value>, OwError> {
    let mut all = d.annotations.clone();
    if let Some(b) = d.require_whisk_auth {
        all.insert(super::WHISK_AUTH.into(), json!(b));
    }
    if let Some(s) = &d.require_whisk_auth_token {
        let token = secret_text(s, base, "require_whisk_auth_token")?;
        all.insert(super::WHISK_AUTH.into(), json!(token));
    }
    Ok(all)
}

async fn trigger(w: &Whisk, ns: &str, c: &Change, d: &Trigger, base: &Path) -> Result<(), OwError> {
    let create = c.action != Act::Update;
    let mut a = d.annotations.clone();
    if let Some(f) = &d.feed {
        a.insert("feed".into(), json!(f));
    }
    let body = json!({
        "parameters": parameters(&d.parameter, base)?,
        "annotations": annotations(&a),
    });
    put(w, &segments(ns, "triggers", &d.name), create, &body).await
}

async fn rule(w: &Whisk, ns: &str, c: &Change, d: &Rule) -> Result<(), OwError> {
    let create = c.action != Act::Update;
    let only = (!create).then(|| touched(c));
    let segs = segments(ns, "rules", &d.name);
    if wants(&only, &["trigger", "action"]) {
        let body = json!({
            "name": d.name,
            "trigger": qualified(&d.trigger, ns),
            "action": qualified(&d.action, ns),
        });
        put(w, &segs, create, &body).await?;
    }
    // A new rule starts active; an update keeps its status.
    let status = d.status.unwrap_or(RuleStatus::Active);
    if (create && status == RuleStatus::Inactive) || (!create && wants(&only, &["status"])) {
        let s = match status {
            RuleStatus::Active => "active",
            RuleStatus::Inactive => "inactive",
        };
        w.send(Method::POST, &segs, &[], Some(&json!({ "status": s })))
            .await?;
    }
    Ok(())
}

/// Deletes a live entity; what is already gone counts as deleted. A package that still holds entities
/// falconer does not manage is refused by OpenWhisk (409), and said so.
async fn delete(w: &Whisk, ns: &str, l: &Spec) -> Result<(), OwError> {
    let (kind, path) = match l {
        Spec::FnPackage(p) => ("packages", p.name.clone()),
        Spec::FnAction(a) => ("actions", a.path()),
        Spec::FnTrigger(t) => ("triggers", t.name.clone()),
        Spec::FnRule(r) => ("rules", r.name.clone()),
        _ => return Ok(()),
    };
    match w
        .send(Method::DELETE, &segments(ns, kind, &path), &[], None)
        .await
    {
        Err(e) if e.status() == Some(404) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// Carries out one change (`base` is the directory its secret files are relative to).
pub async fn apply_one(
    w: &Whisk,
    ns: &str,
    c: &Change,
    desired: Option<&Spec>,
    live: Option<&Spec>,
    base: &Path,
) -> Result<(), OwError> {
    if matches!(c.action, Act::Delete | Act::Replace)
        && let Some(l) = live
    {
        delete(w, ns, l).await?;
    }
    match desired {
        _ if c.action == Act::Delete => Ok(()),
        Some(Spec::FnPackage(d)) => package(w, ns, c, d, base).await,
        Some(Spec::FnAction(d)) => {
            let l = match live {
                Some(Spec::FnAction(l)) => Some(l),
                _ => None,
            };
            action(w, ns, c, d, l, base).await
        }
        Some(Spec::FnTrigger(d)) => trigger(w, ns, c, d, base).await,
        Some(Spec::FnRule(d)) => rule(w, ns, c, d).await,
        _ => Ok(()),
    }
}
