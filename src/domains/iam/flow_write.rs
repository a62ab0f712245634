//! Writes authentication flows and required actions through the admin API. A flow is written step by step
//! in order (each added step goes last); a change of shape (a step added, removed or moved) takes the flow's
//! steps away and adds them again, and a change of requirement, config or description is made in place. The
//! realm's bindings that name a flow are set by the flow's change, once it has its steps.

use reqwest::Method;
use serde_json::{Value, json};

use super::flow::{AuthenticatorConfig, Execution, FlowType, REQUIRED_ACTIONS, RequiredAction, AuthenticationFlow};
use super::flow_read::str_of;
use super::client::KcError;
use super::session::{Session, refs};

/// A flow's id by its alias.
async fn flow_id(s: &Session<'_>, alias: &str) -> Result<Option<String>, KcError> {
    Ok(super::flow_read::flow_ids(s.kc, s.realm).await?.remove(alias))
}

fn flow_rep(alias: &str, description: Option<&str>, provider: &str) -> Value {
    json!({"alias": alias, "description": description.unwrap_or_default(), "providerId": provider,
           "topLevel": true, "builtIn": false})
}

/// Creates or changes a flow, then sets the realm's bindings that name it (`bindings`: the desired realm's,
/// as Keycloak's member and alias).
pub async fn flow(
    s: &Session<'_>,
    d: &AuthenticationFlow,
    l: Option<&AuthenticationFlow>,
    bindings: &[(&str, String)],
) -> Result<(), KcError> {
    let provider = match d.provider_id {
        Some(FlowType::ClientFlow) => "client-flow",
        _ => "basic-flow",
    };
    let rep = flow_rep(&d.alias, d.description.as_deref(), provider);
    let flows = s.path(&["authentication", "flows"]);
    let created = l.is_none() && s.create(&flows, &rep).await?.is_some();
    let id = flow_id(s, &d.alias)
        .await?
        .ok_or_else(|| KcError::Other(format!("flow `{}` was not created", d.alias)))?;
    if !created && l.is_none_or(|l| l.description != d.description) {
        s.send(Method::PUT, &s.path(&["authentication", "flows", &id]), Some(&rep))
            .await?;
    }
    let steps = s.path(&["authentication", "flows", &d.alias, "executions"]);
    let mut live = s.kc.all(&refs(&steps)).await?;
    if Execution::shape(&d.execution) != shape_of(&live) {
        for top in live.iter().filter(|x| x["level"] == 0) {
            s.delete(&s.path(&["authentication", "executions", str_of(top, "id")]))
                .await?;
        }
        add_steps(s, &d.alias, &d.execution).await?;
        live = s.kc.all(&refs(&steps)).await?;
    }
    settle(s, &d.alias, &d.execution, &live).await?;
    for (member, alias) in bindings {
        if alias == &d.alias {
            let body = json!({ "realm": s.realm, *member: alias });
            s.send(Method::PUT, &[s.realm.to_string()], Some(&body))
                .await?;
        }
    }
    Ok(())
}

/// The shape of Keycloak's flat list of steps (as [`Execution::shape`] gives a manifest's).
fn shape_of(live: &[Value]) -> Vec<String> {
    live.iter()
        .map(|x| {
            let pad = "  ".repeat(x["level"].as_u64().unwrap_or(0) as usize);
            if x["authenticationFlow"] == true {
                format!("{pad}flow {} {}", str_of(x, "displayName"), str_of(x, "providerId"))
            } else {
                format!("{pad}step {}", str_of(x, "providerId"))
            }
        })
        .collect()
}

/// Adds steps to the flow `parent`, in order (each goes last), sub-flows with their own steps.
async fn add_steps(s: &Session<'_>, parent: &str, steps: &[Execution]) -> Result<(), KcError> {
    for e in steps {
        match (&e.authenticator, &e.flow) {
            (Some(a), _) => {
                let path = s.path(&["authentication", "flows", parent, "executions", "execution"]);
                s.send(Method::POST, &path, Some(&json!({ "provider": a })))
                    .await?;
            }
            (None, Some(f)) => {
                let path = s.path(&["authentication", "flows", parent, "executions", "flow"]);
                let kind = if e.form.is_some() { "form-flow" } else { "basic-flow" };
                let mut body = json!({"alias": f, "type": kind,
                    "description": e.description.as_deref().unwrap_or_default()});
                if let Some(form) = &e.form {
                    body["provider"] = json!(form);
                }
                s.send(Method::POST, &path, Some(&body)).await?;
                Box::pin(add_steps(s, f, &e.execution)).await?;
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// Makes each live step's requirement, config and (sub-flow) description what the manifest says; the live
/// steps are in the manifest's shape.
async fn settle(s: &Session<'_>, top: &str, d: &[Execution], live: &[Value]) -> Result<(), KcError> {
    let mut want = Vec::new();
    Execution::walk(top, d, &mut want);
    for ((_, e), x) in want.iter().zip(live) {
        let requirement = serde_json::to_value(e.requirement).unwrap_or_default();
        if x["requirement"] != requirement {
            let mut body = x.clone();
            body["requirement"] = requirement;
            let path = s.path(&["authentication", "flows", top, "executions"]);
            s.send(Method::PUT, &path, Some(&body)).await?;
        }
        if e.is_flow() && e.description.as_deref().unwrap_or_default() != str_of(x, "description") {
            let sub = s.path(&["authentication", "flows", str_of(x, "flowId")]);
            let flow = s.kc.get(&refs(&sub), &[]).await?.unwrap_or_default();
            let mut body = flow.clone();
            body["description"] = json!(e.description.as_deref().unwrap_or_default());
            if let Some(o) = body.as_object_mut() {
                o.remove("authenticationExecutions");
            }
            s.send(Method::PUT, &sub, Some(&body)).await?;
        }
        config(s, e.config.as_ref(), x).await?;
    }
    Ok(())
}

/// Makes a step's authenticator config what the manifest says: created, changed or removed.
async fn config(s: &Session<'_>, d: Option<&AuthenticatorConfig>, x: &Value) -> Result<(), KcError> {
    let id = str_of(x, "authenticationConfig");
    let at = s.path(&["authentication", "config", id]);
    match d {
        Some(c) if id.is_empty() => {
            let path = s.path(&["authentication", "executions", str_of(x, "id"), "config"]);
            s.send(Method::POST, &path, Some(&json!({"alias": c.alias, "config": c.config})))
                .await?;
        }
        Some(c) => {
            let live = s.kc.get(&refs(&at), &[]).await?.unwrap_or_default();
            let want = json!({"id": id, "alias": c.alias, "config": c.config});
            if live["alias"] != want["alias"] || live["config"] != want["config"] {
                s.send(Method::PUT, &at, Some(&want)).await?;
            }
        }
        None if !id.is_empty() => s.delete(&at).await?,
        None => {}
    }
    Ok(())
}

/// Deletes a flow (what is gone already counts as deleted). Keycloak refuses to delete a flow still bound, so
/// what binds it goes back to Keycloak's own flow first: the realm's bindings, clients' overrides, identity
/// providers' broker login flows.
pub async fn delete_flow(s: &Session<'_>, alias: &str) -> Result<(), KcError> {
    let Some(id) = flow_id(s, alias).await? else {
        return Ok(());
    };
    unbind(s, alias, &id).await?;
    s.delete(&s.path(&["authentication", "flows", &id])).await
}

/// Binds Keycloak's own flows where the flow `alias` (`id`) is bound.
async fn unbind(s: &Session<'_>, alias: &str, id: &str) -> Result<(), KcError> {
    let realm = s.kc.get(&[s.realm], &[]).await?.unwrap_or_default();
    let mut body = json!({ "realm": s.realm });
    for (_, member, builtin) in super::flow::REALM_BINDINGS {
        if realm[*member] == alias {
            body[*member] = json!(builtin);
        }
    }
    if body.as_object().is_some_and(|o| o.len() > 1) {
        s.send(Method::PUT, &[s.realm.to_string()], Some(&body)).await?;
    }
    for c in s.kc.list(&[s.realm, "clients"], &[]).await? {
        let overrides = c["authenticationFlowBindingOverrides"].as_object().cloned().unwrap_or_default();
        let bound: serde_json::Map<String, Value> =
            overrides.into_iter().filter(|(_, v)| v == id).map(|(k, _)| (k, json!(""))).collect();
        if !bound.is_empty() {
            let body = json!({"clientId": c["clientId"], "authenticationFlowBindingOverrides": bound});
            s.send(Method::PUT, &s.path(&["clients", str_of(&c, "id")]), Some(&body)).await?;
        }
    }
    let idps = s.path(&["identity-provider", "instances"]);
    for mut p in s.kc.list(&refs(&idps), &[]).await? {
        let first = p["firstBrokerLoginFlowAlias"] == alias;
        let post = p["postBrokerLoginFlowAlias"] == alias;
        if first || post {
            if first {
                p["firstBrokerLoginFlowAlias"] = json!("first broker login");
            }
            if post {
                p["postBrokerLoginFlowAlias"] = json!("");
            }
            let at = s.path(&["identity-provider", "instances", str_of(&p, "alias")]);
            s.send(Method::PUT, &at, Some(&p)).await?;
        }
    }
    Ok(())
}

/// Registers a required action when Keycloak does not have it, then sets what the manifest says (what it
/// leaves out keeps its live value).
pub async fn required(s: &Session<'_>, d: &RequiredAction) -> Result<(), KcError> {
    let path = s.path(&["authentication", "required-actions", &d.alias]);
    let live = match s.kc.get(&refs(&path), &[]).await? {
        Some(l) => l,
        None => {
            let provider = d.provider_id.clone().unwrap_or_else(|| d.alias.clone());
            let name = d.name.clone().unwrap_or_else(|| d.alias.clone());
            let register = s.path(&["authentication", "register-required-action"]);
            let body = json!({"providerId": provider, "name": name});
            s.send(Method::POST, &register, Some(&body)).await?;
            s.kc.get(&refs(&path), &[])
                .await?
                .ok_or_else(|| KcError::Other(format!("required action `{}` was not registered", d.alias)))?
        }
    };
    let mut body = live;
    let set = |body: &mut Value, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            body[k] = v;
        }
    };
    set(&mut body, "name", d.name.as_ref().map(|v| json!(v)));
    set(&mut body, "enabled", d.enabled.map(|v| json!(v)));
    set(&mut body, "defaultAction", d.default_action.map(|v| json!(v)));
    set(&mut body, "priority", d.priority.map(|v| json!(v)));
    body["config"] = json!(d.config);
    s.send(Method::PUT, &path, Some(&body)).await.map(|_| ())
}

/// Deletes a required action: one Keycloak registers itself goes back to a new realm's settings, another is
/// unregistered.
pub async fn delete_required(s: &Session<'_>, l: &RequiredAction) -> Result<(), KcError> {
    let path = s.path(&["authentication", "required-actions", &l.alias]);
    let Some(&(_, enabled)) = REQUIRED_ACTIONS.iter().find(|(a, _)| *a == l.alias) else {
        return s.delete(&path).await;
    };
    let Some(mut body) = s.kc.get(&refs(&path), &[]).await? else {
        return Ok(());
    };
    body["enabled"] = json!(enabled);
    body["defaultAction"] = json!(false);
    body["config"] = json!({});
    s.send(Method::PUT, &path, Some(&body)).await.map(|_| ())
}
