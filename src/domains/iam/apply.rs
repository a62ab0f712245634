//! Carries out IAM changes through the admin API: creates (201 + `Location`, a 409 read as "already there":
//! the object is updated instead, so a stopped run resumes), partial updates of what a change touches,
//! composites and role mappings as set differences, protocol and IdP mappers and client scopes matched by
//! name. Ids are looked up by name and kept for the run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::KcError;
use super::session::{Session, is, missing, owned, refs};
use super::{
    Client, ClientRole, ClientScope, Group, IdentityProvider, Realm, Role, RoleSet, flow, flow_read, flow_write, rep,
};
use crate::domains::Spec;
use crate::domains::item::{Action, Change};
use crate::domains::provider::touched;
use crate::model::SecretValue;




/// Reads a secret to send; `None` when there is none or it is unknown (a marker is never sent as a value).
fn secret(s: Option<&SecretValue>, base: &Path, what: &str) -> Result<Option<String>, KcError> {
    let resolved = match s {
        None | Some(SecretValue::Redacted(_)) => None,
        Some(v) => crate::secrets::resolve(v, base).map_err(|u| {
            KcError::Other(format!(
                "{what}: the secret ({}) cannot be read: {}",
                v.describe(),
                u.0
            ))
        })?,
    };
    Ok(rep::secret_value(s, resolved))
}



impl<'a> Session<'a> {




    /// A client's uuid by its client id.
    async fn client_uuid(&self, client_id: &str) -> Result<Option<String>, KcError> {
        if let Some(u) = self
            .clients
            .lock()
            .ok()
            .and_then(|m| m.get(client_id).cloned())
        {
            return Ok(Some(u));
        }
        let found = self
            .kc
            .send(
                Method::GET,
                &[self.realm, "clients"],
                &[("clientId", client_id.to_string())],
                None,
            )
            .await?
            .body;
        let uuid = found
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["clientId"] == client_id)
            .and_then(|c| c["id"].as_str())
            .map(str::to_string);
        if let (Some(u), Ok(mut m)) = (&uuid, self.clients.lock()) {
            m.insert(client_id.to_string(), u.clone());
        }
        Ok(uuid)
    }

    async fn need_client(&self, client_id: &str) -> Result<String, KcError> {
        self.client_uuid(client_id)
            .await?
            .ok_or_else(|| missing("client", client_id))
    }

    fn forget_client(&self, client_id: &str) {
        if let Ok(mut m) = self.clients.lock() {
            m.remove(client_id);
        }
    }

    /// A role as composites and mappings name it (`id`, `name`, `clientRole`, `containerId`).
    async fn role(&self, client: Option<&str>, name: &str) -> Result<Option<Value>, KcError> {
        let key = (client.map(str::to_string), name.to_string());
        if let Some(r) = self.roles.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(r));
        }
        let path = match client {
            Some(c) => {
                let Some(uuid) = self.client_uuid(c).await? else {
                    return Ok(None);
                };
                self.path(&["clients", &uuid, "roles", name])
            }
            None => self.path(&["roles", name]),
        };
        let found = match self.send(Method::GET, &path, None).await {
            Err(e) if is(&e, 404) => return Ok(None),
            r => r?.body,
        };
        let role = json!({
            "id": found["id"],
            "name": found["name"],
            "clientRole": found["clientRole"],
            "containerId": found["containerId"],
        });
        if let Ok(mut m) = self.roles.lock() {
            m.insert(key, role.clone());
        }
        Ok(Some(role))
    }

    /// Forgets roles deleted in this run: of a client (`name` `None`: all of them), or a realm role.
    fn forget_roles(&self, client: Option<&str>, name: Option<&str>) {
        if let Ok(mut m) = self.roles.lock() {
            m.retain(|(c, n), _| !(c.as_deref() == client && name.is_none_or(|x| x == n)));
        }
    }

    async fn scope_id(&self, name: &str) -> Result<Option<String>, KcError> {
        if let Some(id) = self.scopes.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(Some(id));
        }
        let all = self.kc.all(&[self.realm, "client-scopes"]).await?;
        let mut m = self
            .scopes
            .lock()
            .map_err(|_| KcError::Other("a lock was poisoned".into()))?;
        for sc in &all {
            if let (Some(n), Some(id)) = (sc["name"].as_str(), sc["id"].as_str()) {
                m.insert(n.to_string(), id.to_string());
            }
        }
        Ok(m.get(name).cloned())
    }

    async fn group_id(&self, path: &str) -> Result<Option<String>, KcError> {
        let mut p = vec![self.realm.to_string(), "group-by-path".to_string()];
        p.extend(
            path.split('/')
                .filter(|x| !x.is_empty())
                .map(str::to_string),
        );
        match self.send(Method::GET, &p, None).await {
            Err(e) if is(&e, 404) => Ok(None),
            r => Ok(r?.body["id"].as_str().map(str::to_string)),
        }
    }

}

type RoleKey = (Option<String>, String);

fn role_keys(set: Option<&RoleSet>) -> BTreeSet<RoleKey> {
    let mut out = BTreeSet::new();
    if let Some(set) = set {
        out.extend(set.realm.iter().map(|r| (None, r.clone())));
        for (c, names) in &set.client {
            out.extend(names.iter().map(|n| (Some(c.clone()), n.clone())));
        }
    }
    out
}

/// Makes a role's composites (`composite`) or a group's or user's role mappings what `desired` says.
async fn set_roles(
    s: &Session<'_>,
    holder: &[String],
    composite: bool,
    desired: Option<&RoleSet>,
    live: Option<&RoleSet>,
) -> Result<(), KcError> {
    let (want, have) = (role_keys(desired), role_keys(live));
    for (method, keys) in [
        (Method::DELETE, have.difference(&want).collect::<Vec<_>>()),
        (Method::POST, want.difference(&have).collect::<Vec<_>>()),
    ] {
        let mut by_target: Vec<(Vec<String>, Vec<Value>)> = Vec::new();
        for (client, name) in keys {
            let Some(role) = s.role(client.as_deref(), name).await? else {
                if method == Method::DELETE {
                    continue;
                }
                return Err(match client {
                    Some(c) => missing("client role", &format!("{c}/{name}")),
                    None => missing("role", name),
                });
            };
            let mut target = holder.to_vec();
            if composite {
                target.push("composites".into());
            } else {
                target.push("role-mappings".into());
                match client {
                    Some(c) => {
                        target.push("clients".into());
                        target.push(s.need_client(c).await?);
                    }
                    None => target.push("realm".into()),
                }
            }
            match by_target.iter_mut().find(|(t, _)| *t == target) {
                Some((_, v)) => v.push(role),
                None => by_target.push((target, vec![role])),
            }
        }
        for (target, roles) in by_target {
            s.send(method.clone(), &target, Some(&Value::Array(roles)))
                .await?;
        }
    }
    Ok(())
}

/// Makes the mappers under `path` (protocol mappers of a client or scope, mappers of an IdP) the desired
/// ones, matched by name: new ones created, changed ones updated in place, others deleted.
async fn set_mappers(s: &Session<'_>, path: &[String], desired: &[Value]) -> Result<(), KcError> {
    let live = s.kc.all(&refs(path)).await?;
    let named = |l: &Value, d: &Value| l["name"] == d["name"];
    for l in &live {
        if !desired.iter().any(|d| named(l, d)) {
            let mut p = path.to_vec();
            p.push(l["id"].as_str().unwrap_or_default().to_string());
            s.delete(&p).await?;
        }
    }
    for d in desired {
        match live.iter().find(|l| named(l, d)) {
            None => {
                s.send(Method::POST, path, Some(d)).await?;
            }
            Some(l) => {
                let same = d
                    .as_object()
                    .into_iter()
                    .flatten()
                    .all(|(k, v)| l.get(k).unwrap_or(&Value::Null) == v);
                if !same {
                    let mut body = d.clone();
                    body["id"] = l["id"].clone();
                    let mut p = path.to_vec();
                    p.push(l["id"].as_str().unwrap_or_default().to_string());
                    s.send(Method::PUT, &p, Some(&body)).await?;
                }
            }
        }
    }
    Ok(())
}

/// What a change asks for: everything (a create) or the top-level fields it touches.
/// The top-level fields of each kind that an update carries out: the representation's own fields, sent
/// whole or filtered (`rep`), and the sub-resources each kind's function below sets (`wants`).
pub fn carries(kind: &str, field: &str) -> bool {
    let (own, more): (&[&str], &[&str]) = match kind {
        "realm" => (rep::REALM_FIELDS, &["smtp"]),
        "client" => (
            rep::CLIENT_FIELDS,
            &[
                "secret",
                "authentication_flow_overrides",
                "role",
                "protocol_mapper",
                "default_client_scopes",
                "optional_client_scopes",
                "service_account_roles",
            ],
        ),
        "client_scope" => (rep::SCOPE_FIELDS, &["protocol_mapper"]),
        "identity_provider" => (rep::IDP_FIELDS, &["config", "client_secret", "mapper"]),
        "role" => (&[], &["description", "attributes", "composites", "default"]),
        "authentication_flow" => (&[], &["description", "provider_id", "execution"]),
        "required_action" => (
            &[],
            &["name", "provider_id", "enabled", "default_action", "priority", "config"],
        ),
        "group" => (&[], &["attributes", "realm_roles", "client_roles", "default"]),
        _ => (&[], &[]),
    };
    own.contains(&field) || more.contains(&field)
}

fn wanted(c: &Change) -> Option<Vec<String>> {
    (c.action == Action::Update).then(|| touched(c))
}

fn wants(only: &Option<Vec<String>>, field: &str) -> bool {
    only.as_ref().is_none_or(|o| o.iter().any(|f| f == field))
}

/// The realm without its bindings to flows that do not exist yet (a flow's change sets those), and the
/// fields so left out.
async fn bindable(s: &Session<'_>, d: &Realm) -> Result<(Realm, Vec<&'static str>), KcError> {
    let custom: Vec<(&'static str, &str)> = flow::realm_bindings(d)
        .into_iter()
        .filter(|(_, a)| !flow::builtin_flow(a))
        .collect();
    if custom.is_empty() {
        return Ok((d.clone(), Vec::new()));
    }
    let made = match flow_read::flow_ids(s.kc, s.realm).await {
        Ok(ids) => ids,
        Err(e) if is(&e, 404) => HashMap::new(),
        Err(e) => return Err(e),
    };
    let mut v = serde_json::to_value(d).unwrap_or_default();
    let mut left = Vec::new();
    for (field, alias) in custom {
        if !made.contains_key(alias)
            && let Some(o) = v.as_object_mut()
        {
            o.remove(field);
            left.push(field);
        }
    }
    let realm = serde_json::from_value(v).map_err(|e| KcError::Other(e.to_string()))?;
    Ok((realm, left))
}

async fn realm(s: &Session<'_>, c: &Change, d: &Realm, base: &Path) -> Result<(), KcError> {
    let (d, left) = bindable(s, d).await?;
    let d = &d;
    let mut only = wanted(c);
    if let Some(o) = &mut only {
        o.retain(|f| !left.contains(&f.as_str()));
        if o.is_empty() {
            return Ok(());
        }
    }
    let password_changed = only.is_none()
        || c.fields
            .iter()
            .any(|f| f.path == "smtp.password" || f.path == "smtp");
    let password = match (&d.smtp, password_changed) {
        (Some(smtp), true) => secret(smtp.password.as_ref(), base, "smtp.password")?,
        _ => None,
    };
    if only.is_none() {
        let body = rep::realm_rep(d, None, password.as_deref());
        if s.create(&[], &body).await?.is_some() {
            return Ok(());
        }
    }
    let body = rep::realm_rep(d, only.as_deref(), password.as_deref());
    s.send(Method::PUT, std::slice::from_ref(&d.name), Some(&body))
        .await
        .map(|_| ())
}

async fn role(s: &Session<'_>, c: &Change, d: &Role, l: Option<&Role>) -> Result<(), KcError> {
    let only = wanted(c);
    let body = rep::role_rep(
        &d.name,
        d.description.as_deref(),
        &serde_json::to_value(&d.attributes).unwrap_or_default(),
    );
    let path = s.path(&["roles", &d.name]);
    let created = only.is_none() && s.create(&s.path(&["roles"]), &body).await?.is_some();
    if !created && (wants(&only, "description") || wants(&only, "attributes")) {
        s.send(Method::PUT, &path, Some(&body)).await?;
    }
    if wants(&only, "composites") {
        let live = l.and_then(|l| l.composites.as_ref());
        set_roles(s, &path, true, d.composites.as_ref(), live).await?;
    }
    if wants(&only, "default") && d.default != l.and_then(|l| l.default) {
        // One of the realm's default roles: a composite of `default-roles-<realm>`.
        let role = s.role(None, &d.name).await?.ok_or_else(|| missing("role", &d.name))?;
        let defaults = format!("default-roles-{}", s.realm.to_lowercase());
        let method = if d.default == Some(true) { Method::POST } else { Method::DELETE };
        s.send(method, &s.path(&["roles", &defaults, "composites"]), Some(&json!([role])))
            .await?;
    }
    Ok(())
}

/// A client's roles: created or updated first, their composites after (they may name each other).
async fn client_roles(
    s: &Session<'_>,
    (client_id, uuid): (&str, &str),
    desired: &[ClientRole],
    live: &[ClientRole],
) -> Result<(), KcError> {
    let base = s.path(&["clients", uuid, "roles"]);
    for l in live {
        if !desired.iter().any(|d| d.name == l.name) {
            let mut p = base.clone();
            p.push(l.name.clone());
            s.delete(&p).await?;
            s.forget_roles(Some(client_id), Some(&l.name));
        }
    }
    for d in desired {
        let l = live.iter().find(|l| l.name == d.name);
        let body = rep::role_rep(
            &d.name,
            d.description.as_deref(),
            &serde_json::to_value(&d.attributes).unwrap_or_default(),
        );
        let mut p = base.clone();
        p.push(d.name.clone());
        match l {
            None => {
                if s.create(&base, &body).await?.is_none() {
                    s.send(Method::PUT, &p, Some(&body)).await?;
                }
            }
            Some(l) if l.description != d.description || l.attributes != d.attributes => {
                s.send(Method::PUT, &p, Some(&body)).await?;
            }
            Some(_) => {}
        }
    }
    for d in desired {
        let l = live.iter().find(|l| l.name == d.name);
        let have = l.and_then(|l| l.composites.as_ref());
        if d.composites.as_ref() != have {
            let mut p = base.clone();
            p.push(d.name.clone());
            set_roles(s, &p, true, d.composites.as_ref(), have).await?;
        }
    }
    Ok(())
}

/// A client's default and optional scopes: removals first, so a scope can move from one list to the other.
async fn client_scopes(s: &Session<'_>, uuid: &str, d: &Client) -> Result<(), KcError> {
    let lists = [
        ("default-client-scopes", d.default_client_scopes.as_ref()),
        ("optional-client-scopes", d.optional_client_scopes.as_ref()),
    ];
    let mut live = Vec::new();
    for (which, want) in lists {
        let have = match want {
            Some(_) => s.kc.all(&[s.realm, "clients", uuid, which]).await?,
            None => Vec::new(),
        };
        live.push(have);
    }
    for ((which, want), have) in lists.iter().zip(&live) {
        let Some(want) = want else { continue };
        for h in have {
            if !want.iter().any(|w| h["name"] == w.as_str()) {
                let id = h["id"].as_str().unwrap_or_default();
                s.delete(&s.path(&["clients", uuid, which, id])).await?;
            }
        }
    }
    for ((which, want), have) in lists.iter().zip(&live) {
        let Some(want) = want else { continue };
        for w in want.iter() {
            if !have.iter().any(|h| h["name"] == w.as_str()) {
                let id = s
                    .scope_id(w)
                    .await?
                    .ok_or_else(|| missing("client scope", w))?;
                s.send(Method::PUT, &s.path(&["clients", uuid, which, &id]), None)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn service_account_roles(s: &Session<'_>, uuid: &str, d: &Client) -> Result<(), KcError> {
    let Some(user) =
        s.kc.get(&[s.realm, "clients", uuid, "service-account-user"], &[])
            .await?
    else {
        return Err(KcError::Other(format!(
            "client `{}` has no service account (service_accounts_enabled is not true)",
            d.client_id
        )));
    };
    let id = user["id"].as_str().unwrap_or_default().to_string();
    let m =
        s.kc.get(&[s.realm, "users", &id, "role-mappings"], &[])
            .await?
            .unwrap_or_default();
    let live = super::inspect::mappings(&m, s.realm);
    set_roles(
        s,
        &s.path(&["users", &id]),
        false,
        d.service_account_roles.as_ref(),
        Some(&live),
    )
    .await
}

async fn client(
    s: &Session<'_>,
    c: &Change,
    d: &Client,
    l: Option<&Client>,
    base: &Path,
) -> Result<(), KcError> {
    let only = wanted(c);
    let secret = if wants(&only, "secret") {
        secret(d.secret.as_ref(), base, "secret")?
    } else {
        None
    };
    let uuid = if only.is_none() {
        let body = rep::client_rep(d, None, secret.as_deref(), None);
        match s.create(&s.path(&["clients"]), &body).await? {
            Some(id) if !id.is_empty() => id,
            _ => {
                let uuid = s.need_client(&d.client_id).await?;
                s.send(Method::PUT, &s.path(&["clients", &uuid]), Some(&body))
                    .await?;
                uuid
            }
        }
    } else {
        let uuid = s.need_client(&d.client_id).await?;
        let own: Vec<String> = only
            .iter()
            .flatten()
            .filter(|f| rep::CLIENT_FIELDS.contains(&f.as_str()) || *f == "secret")
            .cloned()
            .collect();
        if !own.is_empty() {
            let body = rep::client_rep(d, Some(&own), secret.as_deref(), l);
            s.send(Method::PUT, &s.path(&["clients", &uuid]), Some(&body))
                .await?;
        }
        uuid
    };
    if let Ok(mut m) = s.clients.lock() {
        m.insert(d.client_id.clone(), uuid.clone());
    }
    let live = l.filter(|_| only.is_some());
    if wants(&only, "role") {
        client_roles(
            s,
            (&d.client_id, &uuid),
            &d.role,
            live.map_or(&[][..], |l| &l.role),
        )
        .await?;
    }
    if wants(&only, "protocol_mapper") {
        let reps = rep::protocol_mapper_reps(&d.protocol_mapper, d.protocol);
        set_mappers(
            s,
            &s.path(&["clients", &uuid, "protocol-mappers", "models"]),
            &reps,
        )
        .await?;
    }
    if wants(&only, "default_client_scopes") || wants(&only, "optional_client_scopes") {
        client_scopes(s, &uuid, d).await?;
    }
    let overrides_live = live.map_or(&BTreeMap::new(), |l| &l.authentication_flow_overrides).clone();
    if wants(&only, "authentication_flow_overrides")
        && (only.is_some() || !d.authentication_flow_overrides.is_empty())
    {
        flow_overrides(s, &uuid, d, &overrides_live).await?;
    }
    if wants(&only, "service_account_roles")
        && (d.service_account_roles.is_some()
            || live.is_some_and(|l| l.service_account_roles.is_some()))
    {
        service_account_roles(s, &uuid, d).await?;
    }
    Ok(())
}

/// A client's flow overrides, by the flows' ids; one it no longer has is sent empty (Keycloak merges them).
async fn flow_overrides(
    s: &Session<'_>,
    uuid: &str,
    d: &Client,
    live: &BTreeMap<String, String>,
) -> Result<(), KcError> {
    let ids = flow_read::flow_ids(s.kc, s.realm).await?;
    let mut sent = serde_json::Map::new();
    for k in live.keys() {
        sent.insert(k.clone(), json!(""));
    }
    for (binding, alias) in &d.authentication_flow_overrides {
        let id = ids.get(alias).ok_or_else(|| missing("flow", alias))?;
        sent.insert(binding.clone(), json!(id));
    }
    let body = json!({"clientId": d.client_id, "authenticationFlowBindingOverrides": sent});
    s.send(Method::PUT, &s.path(&["clients", uuid]), Some(&body))
        .await
        .map(|_| ())
}

async fn client_scope(s: &Session<'_>, c: &Change, d: &ClientScope) -> Result<(), KcError> {
    let only = wanted(c);
    let mut id = None;
    if only.is_none() {
        id = s
            .create(&s.path(&["client-scopes"]), &rep::client_scope_rep(d, None))
            .await?
            .filter(|i| !i.is_empty());
    }
    let created = id.is_some();
    let id = match id {
        Some(i) => i,
        None => s
            .scope_id(&d.name)
            .await?
            .ok_or_else(|| missing("client scope", &d.name))?,
    };
    if let Ok(mut m) = s.scopes.lock() {
        m.insert(d.name.clone(), id.clone());
    }
    let path = s.path(&["client-scopes", &id]);
    let own = only
        .as_ref()
        .is_none_or(|o| o.iter().any(|f| f != "protocol_mapper"));
    if !created && own {
        let base = s.send(Method::GET, &path, None).await?.body;
        s.send(
            Method::PUT,
            &path,
            Some(&rep::client_scope_rep(d, Some(&base))),
        )
        .await?;
    }
    if wants(&only, "protocol_mapper") {
        let reps = rep::protocol_mapper_reps(&d.protocol_mapper, d.protocol);
        let mut p = path.clone();
        p.extend(owned(&["protocol-mappers", "models"]));
        set_mappers(s, &p, &reps).await?;
    }
    Ok(())
}

async fn identity_provider(
    s: &Session<'_>,
    c: &Change,
    d: &IdentityProvider,
    base: &Path,
) -> Result<(), KcError> {
    let only = wanted(c);
    let secret = if wants(&only, "client_secret") {
        secret(d.client_secret.as_ref(), base, "client_secret")?
    } else {
        None
    };
    let path = s.path(&["identity-provider", "instances", &d.alias]);
    let created = only.is_none()
        && s.create(
            &s.path(&["identity-provider", "instances"]),
            &rep::identity_provider_rep(d, None, secret.as_deref()),
        )
        .await?
        .is_some();
    let own = only
        .as_ref()
        .is_none_or(|o| o.iter().any(|f| f != "mapper"));
    if !created && own {
        let live = s.send(Method::GET, &path, None).await?.body;
        let body = rep::identity_provider_rep(d, Some(&live), secret.as_deref());
        s.send(Method::PUT, &path, Some(&body)).await?;
    }
    if wants(&only, "mapper") {
        let reps: Vec<Value> = d
            .mapper
            .iter()
            .map(|m| rep::idp_mapper_rep(&d.alias, m))
            .collect();
        let mut p = path.clone();
        p.push("mappers".into());
        set_mappers(s, &p, &reps).await?;
    }
    Ok(())
}

async fn group(s: &Session<'_>, c: &Change, d: &Group, l: Option<&Group>) -> Result<(), KcError> {
    let only = wanted(c);
    let body = rep::group_rep(d);
    let mut id = None;
    if only.is_none() {
        let parent = match d.parent.as_deref().map(|p| p.trim_matches('/')) {
            Some(p) if !p.is_empty() => {
                Some(s.group_id(p).await?.ok_or_else(|| missing("group", p))?)
            }
            _ => None,
        };
        let at = match &parent {
            Some(p) => s.path(&["groups", p, "children"]),
            None => s.path(&["groups"]),
        };
        id = s.create(&at, &body).await?.filter(|i| !i.is_empty());
    }
    let created = id.is_some();
    let id = match id {
        Some(i) => i,
        None => s
            .group_id(&d.path())
            .await?
            .ok_or_else(|| missing("group", &d.path()))?,
    };
    let path = s.path(&["groups", &id]);
    if !created && wants(&only, "attributes") {
        s.send(Method::PUT, &path, Some(&body)).await?;
    }
    if wants(&only, "realm_roles") || wants(&only, "client_roles") {
        let want = RoleSet {
            realm: d.realm_roles.clone(),
            client: d.client_roles.clone(),
        };
        let have = l.filter(|_| only.is_some()).map(|l| RoleSet {
            realm: l.realm_roles.clone(),
            client: l.client_roles.clone(),
        });
        set_roles(s, &path, false, Some(&want), have.as_ref()).await?;
    }
    if wants(&only, "default") && d.default != l.and_then(|l| l.default) {
        let method = if d.default == Some(true) { Method::PUT } else { Method::DELETE };
        s.send(method, &s.path(&["default-groups", &id]), None).await?;
    }
    Ok(())
}

/// Deletes a live object.
async fn delete(s: &Session<'_>, l: &Spec) -> Result<(), KcError> {
    match l {
        Spec::IamRealm(r) => s.delete(std::slice::from_ref(&r.name)).await,
        Spec::IamRole(r) => {
            s.forget_roles(None, Some(&r.name));
            s.delete(&s.path(&["roles", &r.name])).await
        }
        Spec::IamClient(c) => {
            let Some(uuid) = s.client_uuid(&c.client_id).await? else {
                return Ok(());
            };
            s.forget_client(&c.client_id);
            s.forget_roles(Some(&c.client_id), None);
            s.delete(&s.path(&["clients", &uuid])).await
        }
        Spec::IamClientScope(sc) => match s.scope_id(&sc.name).await? {
            Some(id) => {
                if let Ok(mut m) = s.scopes.lock() {
                    m.remove(&sc.name);
                }
                s.delete(&s.path(&["client-scopes", &id])).await
            }
            None => Ok(()),
        },
        Spec::IamIdentityProvider(p) => {
            s.delete(&s.path(&["identity-provider", "instances", &p.alias]))
                .await
        }
        Spec::IamGroup(g) => match s.group_id(&g.path()).await? {
            Some(id) => s.delete(&s.path(&["groups", &id])).await,
            None => Ok(()),
        },
        Spec::IamAuthenticationFlow(f) => flow_write::delete_flow(s, &f.alias).await,
        Spec::IamRequiredAction(a) => flow_write::delete_required(s, a).await,
        _ => Ok(()),
    }
}

/// Carries out one change (`base` is the directory its secret files are relative to).
pub async fn apply_one(
    s: &Session<'_>,
    c: &Change,
    desired: Option<&Spec>,
    live: Option<&Spec>,
    base: &Path,
) -> Result<(), KcError> {
    if matches!(c.action, Action::Delete | Action::Replace)
        && let Some(l) = live
    {
        delete(s, l).await?;
    }
    if c.action == Action::Delete {
        return Ok(());
    }
    let Some(d) = desired else {
        return Ok(());
    };
    match (d, live) {
        (Spec::IamRealm(d), _) => realm(s, c, d, base).await,
        (Spec::IamRole(d), l) => {
            let l = match l {
                Some(Spec::IamRole(l)) => Some(l),
                _ => None,
            };
            role(s, c, d, l).await
        }
        (Spec::IamClient(d), l) => {
            let l = match l {
                Some(Spec::IamClient(l)) => Some(l),
                _ => None,
            };
            client(s, c, d, l, base).await
        }
        (Spec::IamClientScope(d), _) => client_scope(s, c, d).await,
        (Spec::IamIdentityProvider(d), _) => identity_provider(s, c, d, base).await,
        (Spec::IamGroup(d), l) => {
            let l = match l {
                Some(Spec::IamGroup(l)) => Some(l),
                _ => None,
            };
            group(s, c, d, l).await
        }
        (Spec::IamAuthenticationFlow(d), l) => {
            let l = match l {
                Some(Spec::IamAuthenticationFlow(l)) if c.action != Action::Replace => Some(l),
                _ => None,
            };
            flow_write::flow(s, d, l, &s.bindings).await
        }
        (Spec::IamRequiredAction(d), _) => flow_write::required(s, d).await,
        _ => Ok(()),
    }
}
