//! Reads authentication flows and required actions through the admin API: a flow from its executions (`GET
//! .../flows/{alias}/executions`: every step, depth first, with its level), its authenticator configs one by
//! one; and the authenticators the server offers, against which a flow is checked before writing.

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::client::{KcError, Keycloak};
use super::flow::{
    AuthenticationFlow, AuthenticatorConfig, Execution, FlowType, REQUIRED_ACTIONS, RequiredAction,
};
use crate::domains::{ResourceKind, Spec};

pub(super) fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn unreadable(what: &str, e: impl std::fmt::Display) -> KcError {
    KcError::Other(format!("cannot read {what}: {e}"))
}

/// The flows the tenant made (not `builtIn`) of the realm's top-level `flows`, and the required actions
/// (`actions`) a new realm does not have as they are or that are declared or managed (`wanted`, by alias).
pub async fn read(
    kc: &Keycloak,
    realm: &str,
    (flows, actions): (&[Value], &[Value]),
    wanted: &[&str],
) -> Result<Vec<Spec>, KcError> {
    let own: Vec<&Value> = flows
        .iter()
        .filter(|f| f["builtIn"] != true && f["topLevel"] != false)
        .collect();
    let mut out: Vec<Spec> = crate::util::each_of(&own, |f| read_flow(kc, realm, f))
        .buffered(super::client::READS_IN_FLIGHT)
        .try_collect()
        .await?;
    for a in actions {
        if let Some(action) = required_action(a, wanted.contains(&str_of(a, "alias")))? {
            out.push(Spec::IamRequiredAction(action));
        }
    }
    Ok(out)
}

/// A required action as read, when it is `wanted` or differs from a new realm's: one Keycloak does not
/// register itself, one enabled or disabled against Keycloak's default, asked of every new user, or
/// configured.
fn required_action(a: &Value, wanted: bool) -> Result<Option<RequiredAction>, KcError> {
    let alias = str_of(a, "alias");
    let default = REQUIRED_ACTIONS.iter().find(|(x, _)| *x == alias);
    let enabled = a["enabled"].as_bool().unwrap_or(false);
    let config: std::collections::BTreeMap<String, String> = a["config"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    let asked = a["defaultAction"] == true;
    if !wanted && default.is_some_and(|(_, on)| *on == enabled) && !asked && config.is_empty() {
        return Ok(None);
    }
    let mut action = RequiredAction {
        alias: alias.to_string(),
        name: some(str_of(a, "name")),
        provider_id: some(str_of(a, "providerId")),
        enabled: Some(enabled),
        default_action: Some(asked),
        priority: a["priority"].as_u64().and_then(|p| u32::try_from(p).ok()),
        config,
        depends_on: Vec::new(),
    };
    action.normalize();
    Ok(Some(action))
}

/// One flow with its steps and their configs.
async fn read_flow(kc: &Keycloak, realm: &str, f: &Value) -> Result<Spec, KcError> {
    let alias = str_of(f, "alias");
    let steps = kc
        .all(&[realm, "authentication", "flows", alias, "executions"])
        .await?;
    let configs: Vec<&str> = steps
        .iter()
        .map(|s| str_of(s, "authenticationConfig"))
        .filter(|id| !id.is_empty())
        .collect();
    let read: Vec<(String, AuthenticatorConfig)> = crate::util::each_of(&configs, |id| async move {
        let c = kc
            .get(&[realm, "authentication", "config", id], &[])
            .await?
            .unwrap_or_default();
        let config = serde_json::from_value(c["config"].clone())
            .map_err(|e| unreadable(&format!("the config of flow {alias}"), e))?;
        let alias = str_of(&c, "alias").to_string();
        Ok::<_, KcError>((id.to_string(), AuthenticatorConfig { alias, config }))
    })
    .buffered(super::client::READS_IN_FLIGHT)
    .try_collect()
    .await?;
    let configs: HashMap<String, AuthenticatorConfig> = read.into_iter().collect();
    let mut items = steps.iter().peekable();
    let mut flow = AuthenticationFlow {
        alias: alias.to_string(),
        description: some(str_of(f, "description")),
        provider_id: serde_json::from_value(f["providerId"].clone()).ok(),
        execution: tree(&mut items, 0, &configs)?,
        depends_on: Vec::new(),
    };
    flow.normalize();
    Ok(Spec::IamAuthenticationFlow(flow))
}

type Flat<'a> = std::iter::Peekable<std::slice::Iter<'a, Value>>;

/// The steps at `level` and below, from Keycloak's flat list (depth first, each with its level).
fn tree(
    items: &mut Flat<'_>,
    level: u64,
    configs: &HashMap<String, AuthenticatorConfig>,
) -> Result<Vec<Execution>, KcError> {
    let mut out = Vec::new();
    while let Some(s) = items.peek() {
        if s["level"].as_u64().unwrap_or(0) < level {
            break;
        }
        let s = items.next().unwrap_or(&Value::Null);
        let requirement = serde_json::from_value(s["requirement"].clone())
            .map_err(|e| unreadable("a step's requirement", e))?;
        let config = configs.get(str_of(s, "authenticationConfig")).cloned();
        let e = if s["authenticationFlow"] == true {
            Execution {
                authenticator: None,
                flow: some(str_of(s, "displayName")),
                description: some(str_of(s, "description")),
                form: some(str_of(s, "providerId")),
                requirement,
                config,
                execution: tree(items, level + 1, configs)?,
            }
        } else {
            Execution {
                authenticator: some(str_of(s, "providerId")),
                flow: None,
                description: None,
                form: None,
                requirement,
                config,
                execution: Vec::new(),
            }
        };
        out.push(e);
    }
    Ok(out)
}

/// The ids of the realm's flows (top level), by alias.
pub async fn flow_ids(kc: &Keycloak, realm: &str) -> Result<HashMap<String, String>, KcError> {
    let flows = kc.all(&[realm, "authentication", "flows"]).await?;
    Ok(aliases(&flows).into_iter().map(|(id, a)| (a, id)).collect())
}

/// The aliases of flows, by id.
pub fn aliases(flows: &[Value]) -> HashMap<String, String> {
    flows
        .iter()
        .map(|f| (str_of(f, "id").to_string(), str_of(f, "alias").to_string()))
        .collect()
}

/// The authenticators a flow names that the server does not offer: each flow's address and why. Keycloak
/// lists its authenticators, form actions, form providers and client authenticators separately.
pub async fn unknown_authenticators(
    kc: &Keycloak,
    realm: &str,
    flows: &[&AuthenticationFlow],
) -> Result<Vec<(String, String)>, KcError> {
    if flows.is_empty() {
        return Ok(Vec::new());
    }
    // The providers are the server's: a realm not made yet asks the realm falconer signs in to, and an
    // account that may not read that one has them checked when the realm exists.
    let answers = match providers(kc, realm).await {
        Err(e) if e.status() == Some(404) => match providers(kc, kc.auth_realm()).await {
            Err(e) if matches!(e.status(), Some(403 | 404)) => return Ok(Vec::new()),
            r => r?,
        },
        r => r?,
    };
    let ids = |i: usize| -> Vec<&str> { answers[i].iter().map(|p| str_of(p, "id")).collect() };
    let (plain, actions, forms, clients) = (ids(0), ids(1), ids(2), ids(3));
    let mut out = Vec::new();
    for f in flows {
        let top = if f.provider_id == Some(FlowType::ClientFlow) { &clients } else { &plain };
        let mut missing = Vec::new();
        unknown_in(&f.execution, (top, &actions, &forms), &mut missing);
        for m in missing {
            let rule = super::flow::AUTHENTICATOR.id;
            let why = format!("Keycloak offers no authenticator `{m}` (is its provider installed?) [{rule}]");
            out.push((f.alias.clone(), why));
        }
    }
    Ok(out)
}

/// The server's authenticators, form actions, form providers and client authenticators, as `realm` lists them.
async fn providers(kc: &Keycloak, realm: &str) -> Result<Vec<Vec<Value>>, KcError> {
    let lists = ["authenticator-providers", "form-action-providers", "form-providers", "client-authenticator-providers"];
    let read = lists.iter().map(|l| async move { kc.all(&[realm, "authentication", l]).await });
    futures_util::future::try_join_all(read).await
}

/// The authenticators of `steps` missing from what the server offers (`known`: the kind of step it may
/// be; a form sub-flow's steps are form actions).
fn unknown_in(steps: &[Execution], known: (&[&str], &[&str], &[&str]), out: &mut Vec<String>) {
    let (plain, actions, forms) = known;
    for e in steps {
        if let Some(a) = &e.authenticator
            && !plain.contains(&a.as_str())
        {
            out.push(a.clone());
        }
        if let Some(form) = &e.form
            && !forms.contains(&form.as_str())
        {
            out.push(form.clone());
        }
        let inner = if e.form.is_some() { actions } else { plain };
        unknown_in(&e.execution, (inner, actions, forms), out);
    }
}
