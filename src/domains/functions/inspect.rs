//! Reads the tenant's namespace: packages, actions (with their code), triggers and rules. Each list is read
//! once, page by page; each entity is then read on its own (the lists are brief), eight at a time.
//!
//! Server-maintained fields (`version`, `updated`, the `exec`/`binding`/`provide-api-key` annotations,
//! trigger `rules`) never reach the model, and an action inside a package sheds the package's parameters
//! OpenWhisk merges into what it shows. OpenWhisk masks nothing: the values of secret parameters are
//! handed back apart from the model, to be fingerprinted and dropped.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Map, Value, json};

use super::client::{OwError, Whisk};
use super::inventory::members;
use super::{Action, Binding, Code, Limits, Package, Parameter, Rule, RuleStatus, Trigger};
use crate::domains::{ResourceKind, Spec};
use crate::model::SecretValue;

/// Requests in flight at once.
pub const PARALLEL: usize = 8;

/// Annotations OpenWhisk maintains itself.
pub const SERVER_ANNOTATIONS: &[&str] = &["exec", "binding", "provide-api-key"];

/// What the manifest says of an entity's parameters: which keys are secrets, which are plain values.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    pub secret: HashSet<String>,
    pub value: HashSet<String>,
}

/// Whether a parameter no manifest declares looks like a secret by its key (`API_TOKEN`, `password`, ...);
/// such values are exported as `***REDACTED***`.
pub fn looks_secret(key: &str) -> bool {
    // Words of the key: split at `_`, `-`, `.` and where a lower-case letter meets an upper-case one.
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if (!c.is_alphanumeric() || (c.is_uppercase() && prev_lower)) && !word.is_empty() {
            words.push(std::mem::take(&mut word).to_lowercase());
        }
        if c.is_alphanumeric() {
            word.push(c);
        }
        prev_lower = c.is_lowercase();
    }
    if !word.is_empty() {
        words.push(word.to_lowercase());
    }
    let secret = [
        "secret",
        "password",
        "passwd",
        "token",
        "apikey",
        "credential",
        "credentials",
        "private",
    ];
    words.iter().any(|w| secret.contains(&w.as_str())) || words.last().is_some_and(|w| w == "key")
}

/// The namespace as read: its entities, and the values of secret parameters by (address, key).
#[derive(Default)]
pub struct Inspected {
    pub specs: Vec<Spec>,
    pub secrets: HashMap<(String, String), String>,
    /// The members no field reads ([`super::inventory::members`]).
    pub not_carried: Vec<crate::domains::provider::NotCarried>,
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// `[{key, value}]` as a map.
fn key_values(v: &Value) -> Vec<(String, Value)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                str_of(kv, "key").to_string(),
                kv.get("value").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn annotations(v: &Value) -> BTreeMap<String, Value> {
    key_values(&v["annotations"])
        .into_iter()
        .filter(|(k, _)| !SERVER_ANNOTATIONS.contains(&k.as_str()))
        .collect()
}

/// A parameter value as the secret it is (a string as itself, anything else as JSON text).
pub fn secret_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Parameters as the model has them; secrets (declared, or looking like one when not declared) become
/// `***REDACTED***` and their values go to `secrets`.
fn parameters(
    list: Vec<(String, Value)>,
    address: &str,
    declared: Option<&Declared>,
    secrets: &mut HashMap<(String, String), String>,
) -> Vec<Parameter> {
    list.into_iter()
        .map(|(key, value)| {
            let secret = match declared {
                Some(d) if d.secret.contains(&key) => true,
                Some(d) if d.value.contains(&key) => false,
                _ => looks_secret(&key),
            };
            if secret {
                secrets.insert((address.to_string(), key.clone()), secret_text(&value));
                Parameter {
                    key,
                    value: None,
                    secret: Some(SecretValue::redacted()),
                }
            } else {
                Parameter {
                    key,
                    value: Some(value),
                    secret: None,
                }
            }
        })
        .collect()
}

/// `/ns/pkg/name` or `ns/pkg` + `name` as the manifest writes it: relative when in `ns`.
pub fn local(path: &str, ns: &str) -> String {
    let p = path.trim_start_matches('/');
    match p.strip_prefix(ns) {
        Some("") => String::new(),
        Some(rest) if rest.starts_with('/') => rest[1..].to_string(),
        _ => format!("/{p}"),
    }
}

fn join_local(path: &str, name: &str, ns: &str) -> String {
    let l = local(path, ns);
    if l.is_empty() {
        name.to_string()
    } else {
        format!("{l}/{name}")
    }
}

fn limits(v: &Value) -> Option<Limits> {
    let l = v.get("limits")?;
    let n = |k: &str| l.get(k).and_then(Value::as_u64);
    Some(Limits {
        timeout: n("timeout"),
        memory: n("memory"),
        logs: n("logs"),
        concurrency: n("concurrency"),
    })
    .filter(|x| {
        x.timeout.is_some() || x.memory.is_some() || x.logs.is_some() || x.concurrency.is_some()
    })
}

/// Each listed entity read on its own (`path` names it within its kind), [`PARALLEL`] at a time; one that is
/// gone meanwhile is left out.
async fn each(
    w: &Whisk,
    ns: &str,
    kind: &str,
    listed: &[Value],
    path: impl Fn(&Value) -> String,
) -> Result<Vec<Value>, OwError> {
    let read: Vec<Option<Value>> = stream::iter(listed.iter().map(path))
        .map(|p| async move {
            let mut segs = vec!["namespaces", ns, kind];
            segs.extend(p.split('/'));
            w.get(&segs, &[]).await
        })
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    Ok(read.into_iter().flatten().collect())
}

/// The tenant's namespace. `declared` gives, by address, what the manifest says of each entity's
/// parameters (empty for an export).
pub async fn inspect(
    w: &Whisk,
    ns: &str,
    declared: &HashMap<String, Declared>,
) -> Result<Inspected, OwError> {
    let lists = [
        ["namespaces", ns, "packages"],
        ["namespaces", ns, "actions"],
        ["namespaces", ns, "triggers"],
        ["namespaces", ns, "rules"],
    ];
    let (packages, actions, triggers, rules) = tokio::try_join!(
        w.list(&lists[0]),
        w.list(&lists[1]),
        w.list(&lists[2]),
        w.list(&lists[3]),
    )?;
    let packages = each(w, ns, "packages", &packages, |p| {
        str_of(p, "name").to_string()
    })
    .await?;
    let actions = each(w, ns, "actions", &actions, |a| {
        join_local(str_of(a, "namespace"), str_of(a, "name"), ns)
    })
    .await?;
    let triggers = each(w, ns, "triggers", &triggers, |t| {
        str_of(t, "name").to_string()
    })
    .await?;
    let rules = each(w, ns, "rules", &rules, |r| str_of(r, "name").to_string()).await?;

    let mut out = Inspected::default();
    // A package's parameters as OpenWhisk shows them (a binding's merged with the bound package's).
    let mut package_params: HashMap<String, Map<String, Value>> = HashMap::new();
    for p in &packages {
        let shown = key_values(&p["parameters"]);
        package_params.insert(
            str_of(p, "name").to_string(),
            shown.iter().cloned().collect(),
        );
        let package = read_package(w, p, shown, declared, &mut out.secrets).await?;
        out.not_carried.extend(members("package", &package.name, p));
        out.specs.push(Spec::FnPackage(package));
    }
    for a in &actions {
        let action = read_action(a, ns, declared, &package_params, &mut out.secrets);
        let path = match &action.package {
            Some(p) => format!("{p}/{}", action.name),
            None => action.name.clone(),
        };
        out.not_carried.extend(members("action", &path, a));
        out.specs.push(Spec::FnAction(action));
    }
    for t in &triggers {
        let name = str_of(t, "name").to_string();
        out.not_carried.extend(members("trigger", &name, t));
        let address = format!("functions.trigger.{name}");
        let mut annotations = annotations(t);
        let feed = annotations
            .remove("feed")
            .and_then(|f| f.as_str().map(str::to_string));
        out.specs.push(Spec::FnTrigger(Trigger {
            feed,
            parameter: parameters(
                key_values(&t["parameters"]),
                &address,
                declared.get(&address),
                &mut out.secrets,
            ),
            annotations,
            depends_on: Vec::new(),
            name,
        }));
    }
    for r in &rules {
        let path_name = |v: &Value| join_local(str_of(v, "path"), str_of(v, "name"), ns);
        out.not_carried.extend(members("rule", str_of(r, "name"), r));
        out.specs.push(Spec::FnRule(Rule {
            name: str_of(r, "name").to_string(),
            trigger: path_name(&r["trigger"]),
            action: path_name(&r["action"]),
            status: serde_json::from_value(json!(str_of(r, "status")))
                .ok()
                .or(Some(RuleStatus::Active)),
            depends_on: Vec::new(),
        }));
    }
    Ok(out)
}

/// A package as read; a binding's parameters without those the bound package holds (unless the
/// manifest declares them).
async fn read_package(
    w: &Whisk,
    p: &Value,
    mut shown: Vec<(String, Value)>,
    declared: &HashMap<String, Declared>,
    secrets: &mut HashMap<(String, String), String>,
) -> Result<Package, OwError> {
    let name = str_of(p, "name").to_string();
    let address = format!("functions.package.{name}");
    let binding = p
        .get("binding")
        .filter(|b| !str_of(b, "name").is_empty())
        .map(|b| Binding {
            namespace: str_of(b, "namespace").to_string(),
            name: str_of(b, "name").to_string(),
        });
    if let Some(b) = &binding {
        // What the bound package holds is not the binding's own.
        // A bound package that is gone holds nothing; one that cannot be read is an error, never taken
        // for a package without parameters.
        let bound = w
            .get(&["namespaces", &b.namespace, "packages", &b.name], &[])
            .await?
            .map(|v| key_values(&v["parameters"]))
            .unwrap_or_default();
        let none = Declared::default();
        let own = declared.get(&address).unwrap_or(&none);
        shown.retain(|(k, v)| {
            own.secret.contains(k)
                || own.value.contains(k)
                || !bound.iter().any(|(bk, bv)| bk == k && bv == v)
        });
    }
    Ok(Package {
        parameter: parameters(shown, &address, declared.get(&address), secrets),
        annotations: annotations(p),
        publish: p.get("publish").and_then(Value::as_bool).filter(|p| *p),
        binding,
        depends_on: Vec::new(),
        name,
    })
}

/// An action as read; its parameters without those its package shows merged into it (unless the
/// manifest declares them).
fn read_action(
    a: &Value,
    ns: &str,
    declared: &HashMap<String, Declared>,
    package_params: &HashMap<String, Map<String, Value>>,
    secrets: &mut HashMap<(String, String), String>,
) -> Action {
    let package = {
        let l = local(str_of(a, "namespace"), ns);
        (!l.is_empty()).then_some(l)
    };
    let name = str_of(a, "name").to_string();
    let path = match &package {
        Some(p) => format!("{p}/{name}"),
        None => name.clone(),
    };
    let address = format!("functions.action.{path}");
    let own = declared.get(&address);
    let mut shown = key_values(&a["parameters"]);
    if let Some(pp) = package.as_ref().and_then(|p| package_params.get(p)) {
        let keep = |k: &String| own.is_some_and(|d| d.secret.contains(k) || d.value.contains(k));
        shown.retain(|(k, v)| keep(k) || pp.get(k) != Some(v));
    }
    let exec = &a["exec"];
    let kind = str_of(exec, "kind").to_string();
    let code = exec.get("code").and_then(Value::as_str).map(|c| {
        if exec["binary"].as_bool().unwrap_or(false) {
            Code::Base64(c.to_string())
        } else {
            Code::Inline(c.to_string())
        }
    });
    let components = exec["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|c| local(c, ns))
        .collect();
    let text = |k: &str| exec.get(k).and_then(Value::as_str).map(str::to_string);
    let mut action = Action {
        code: if kind == "sequence" { None } else { code },
        main: text("main"),
        image: text("image"),
        binary: None,
        components,
        limits: limits(a),
        parameter: parameters(shown, &address, own, secrets),
        annotations: annotations(a),
        require_whisk_auth: None,
        require_whisk_auth_token: None,
        depends_on: Vec::new(),
        kind,
        package,
        name,
    };
    // `require-whisk-auth` is read into its fields; a token, like a secret parameter, is redacted in the
    // model and its value kept for the plan's fingerprint.
    action.normalize();
    if let Some(SecretValue::Plain(token)) = action.require_whisk_auth_token.take() {
        secrets.insert((address, TOKEN_KEY.to_string()), token);
        action.require_whisk_auth_token = Some(SecretValue::redacted());
    }
    action
}

/// Where an action's `require-whisk-auth` token is kept among the secrets read (a key no parameter has).
pub const TOKEN_KEY: &str = "\u{0}require-whisk-auth";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_written_relative_to_the_namespace() {
        assert_eq!(local("/acme/orders/enrich", "acme"), "orders/enrich");
        assert_eq!(local("acme", "acme"), "");
        assert_eq!(local("acme/orders", "acme"), "orders");
        assert_eq!(
            local("/whisk.system/alarms/alarm", "acme"),
            "/whisk.system/alarms/alarm"
        );
        assert_eq!(local("/acmex/a", "acme"), "/acmex/a");
        assert_eq!(join_local("acme/orders", "notify", "acme"), "orders/notify");
    }

    #[test]
    fn secret_looking_keys() {
        for k in [
            "API_TOKEN",
            "password",
            "dbPassword",
            "SECRET",
            "apiKey",
            "private_key",
        ] {
            assert!(looks_secret(k), "{k}");
        }
        for k in [
            "ORDERS_TOPIC",
            "source",
            "keyspace",
            "monkey",
            "TOKENIZER_MODE",
        ] {
            assert!(!looks_secret(k), "{k}");
        }
    }
}
