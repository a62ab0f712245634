//! Reads the tenant's realm: settings, realm roles with their composites, clients (scopes, mappers, roles,
//! service-account roles), client scopes, identity providers with their mappers, and groups with their
//! role mappings. Built-in clients, scopes and roles are left out. Lists are read once each; what hangs
//! off one object is read eight requests at a time.

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::client::{KcError, Keycloak};
use super::{BUILTIN_CLIENTS, BUILTIN_SCOPES, RoleSet, builtin_realm_role, rep};
use crate::domains::{ResourceKind, Spec};

/// Requests in flight at once.
pub const PARALLEL: usize = super::client::READS_IN_FLIGHT;

/// The realm as read: its resources, and the secrets of confidential clients where Keycloak gives them
/// (up to 26.6 it does), by client id, to be fingerprinted and dropped.
#[derive(Default)]
pub struct Inspected {
    pub specs: Vec<Spec>,
    pub client_secrets: HashMap<String, String>,
}

fn unreadable(why: rep::Undecodable) -> KcError {
    KcError::Refused {
        method: "GET".into(),
        path: String::new(),
        status: 200,
        message: format!("cannot read the answer: {why}"),
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Roles as a set by realm and client id (`clients` maps client uuids to client ids).
fn role_set(roles: &[Value], clients: &HashMap<String, String>) -> RoleSet {
    let mut set = RoleSet::default();
    for r in roles {
        let name = str_of(r, "name").to_string();
        if r["clientRole"].as_bool().unwrap_or(false) {
            let client = clients
                .get(str_of(r, "containerId"))
                .cloned()
                .unwrap_or_else(|| str_of(r, "containerId").to_string());
            set.client.entry(client).or_default().push(name);
        } else {
            set.realm.push(name);
        }
    }
    set.realm.sort();
    for v in set.client.values_mut() {
        v.sort();
    }
    set
}

/// A `MappingsRepresentation` as a set.
pub(super) fn mappings(m: &Value, realm: &str) -> RoleSet {
    let mut set = RoleSet::default();
    for r in m["realmMappings"].as_array().into_iter().flatten() {
        let name = str_of(r, "name");
        if name != format!("default-roles-{realm}") {
            set.realm.push(name.to_string());
        }
    }
    for (client, c) in m["clientMappings"].as_object().into_iter().flatten() {
        let mut names: Vec<String> = c["mappings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| str_of(r, "name").to_string())
            .collect();
        names.sort();
        if !names.is_empty() {
            set.client.insert(client.clone(), names);
        }
    }
    set.realm.sort();
    set
}

fn non_empty(s: RoleSet) -> Option<RoleSet> {
    (!s.realm.is_empty() || !s.client.is_empty()).then_some(s)
}

/// The composites of a role (`path` is the role's own path).
async fn composites(
    kc: &Keycloak,
    path: &[&str],
    clients: &HashMap<String, String>,
) -> Result<Option<RoleSet>, KcError> {
    let mut p = path.to_vec();
    p.push("composites");
    let roles = kc.all(&p).await?;
    Ok(non_empty(role_set(&roles, clients)))
}

/// The realm's resources, or nothing when the realm does not exist; `wanted`: the required actions
/// declared or managed (read even where they are as in a new realm).
pub async fn inspect(kc: &Keycloak, realm: &str, wanted: &[&str]) -> Result<Inspected, KcError> {
    let Some(settings) = kc.get(&[realm], &[]).await? else {
        return Ok(Inspected::default());
    };
    let mut out = Inspected::default();
    out.specs
        .push(Spec::IamRealm(rep::realm(&settings).map_err(unreadable)?));
    let full = [("briefRepresentation", "false".to_string())];
    let paths: [&[&str]; 7] = [
        &[realm, "roles"],
        &[realm, "clients"],
        &[realm, "client-scopes"],
        &[realm, "identity-provider", "instances"],
        &[realm, "groups"],
        &[realm, "authentication", "flows"],
        &[realm, "authentication", "required-actions"],
    ];
    let (roles, clients, scopes, idps, groups, flows, actions) = tokio::try_join!(
        kc.list(paths[0], &full),
        kc.list(paths[1], &[]),
        kc.all(paths[2]),
        kc.list(paths[3], &full),
        kc.list(paths[4], &full),
        kc.all(paths[5]),
        kc.all(paths[6]),
    )?;
    let client_ids: HashMap<String, String> = clients
        .iter()
        .map(|c| {
            (
                str_of(c, "id").to_string(),
                str_of(c, "clientId").to_string(),
            )
        })
        .collect();
    let ids = &client_ids;
    let flow_aliases = super::flow_read::aliases(&flows);
    let by_id = &flow_aliases;

    let defaults = Defaults::read(kc, realm).await?;
    out.specs.extend(read_roles(kc, realm, &roles, ids).await?.into_iter().map(|s| defaults.mark(s)));
    // Client scopes.
    for s in &scopes {
        if !BUILTIN_SCOPES.contains(&str_of(s, "name")) {
            let mut scope = rep::client_scope(s).map_err(unreadable)?;
            scope.normalize();
            out.specs.push(Spec::IamClientScope(scope));
        }
    }
    // Clients.
    let mine: Vec<&Value> = clients
        .iter()
        .filter(|c| !BUILTIN_CLIENTS.contains(&str_of(c, "clientId")))
        .collect();
    let read: Vec<(Spec, Option<(String, String)>)> =
        crate::util::each_of(&mine, |c| read_client(kc, realm, c, (ids, by_id))).buffered(PARALLEL)
            .try_collect()
        .await?;
    for (spec, secret) in read {
        out.specs.push(spec);
        out.client_secrets.extend(secret);
    }
    out.specs.extend(read_idps(kc, realm, &idps).await?);
    let sign_in = (flows.as_slice(), actions.as_slice());
    out.specs.extend(super::flow_read::read(kc, realm, sign_in, wanted).await?);
    let all = group_tree(kc, realm, groups).await?;
    out.specs.extend(read_groups(kc, realm, &all).await?.into_iter().map(|s| defaults.mark(s)));
    Ok(out)
}

/// The realm's default roles (its own, the composites of `default-roles-<realm>` that are realm roles) and
/// default groups (by path, without the leading `/`).
struct Defaults {
    roles: Vec<String>,
    groups: Vec<String>,
}

impl Defaults {
    async fn read(kc: &Keycloak, realm: &str) -> Result<Defaults, KcError> {
        let role = format!("default-roles-{}", realm.to_lowercase());
        let (composites, listed): ([&str; 4], [&str; 2]) =
            ([realm, "roles", &role, "composites"], [realm, "default-groups"]);
        let (roles, groups) = tokio::try_join!(kc.all(&composites), kc.all(&listed))?;
        Ok(Defaults {
            roles: roles
                .iter()
                .filter(|r| r["clientRole"] != true)
                .map(|r| str_of(r, "name").to_string())
                .collect(),
            groups: groups.iter().map(|g| str_of(g, "path").trim_start_matches('/').to_string()).collect(),
        })
    }

    /// A role or group read, marked `default` when it is one.
    fn mark(&self, mut spec: Spec) -> Spec {
        match &mut spec {
            Spec::IamRole(r) if self.roles.contains(&r.name) => r.default = Some(true),
            Spec::IamGroup(g) if self.groups.contains(&g.path()) => g.default = Some(true),
            _ => {}
        }
        spec
    }
}

/// The realm's own roles (not the built-in ones), with their composites.
async fn read_roles(
    kc: &Keycloak,
    realm: &str,
    roles: &[Value],
    ids: &HashMap<String, String>,
) -> Result<Vec<Spec>, KcError> {
    let mine: Vec<&Value> = roles
        .iter()
        .filter(|r| !builtin_realm_role(str_of(r, "name"), realm))
        .collect();
    crate::util::each_of(&mine, |r| async move {
            let mut role = rep::role(r).map_err(unreadable)?;
            if r["composite"].as_bool().unwrap_or(false) {
                role.composites = composites(kc, &[realm, "roles", &role.name], ids).await?;
            }
            Ok::<_, KcError>(Spec::IamRole(role))
        }).buffered(PARALLEL)
        .try_collect()
        .await
}

/// The identity providers with their mappers.
async fn read_idps(kc: &Keycloak, realm: &str, idps: &[Value]) -> Result<Vec<Spec>, KcError> {
    crate::util::each_of(idps, |i| async move {
            let mut idp = rep::identity_provider(i).map_err(unreadable)?;
            let mappers = kc
                .all(&[
                    realm,
                    "identity-provider",
                    "instances",
                    &idp.alias,
                    "mappers",
                ])
                .await?;
            idp.mapper = mappers
                .iter()
                .map(rep::idp_mapper)
                .collect::<Result<_, _>>()
                .map_err(unreadable)?;
            Ok::<_, KcError>(Spec::IamIdentityProvider(idp))
        }).buffered(PARALLEL)
        .try_collect()
        .await
}

/// Every group with its parent's path, read level by level (a level's children concurrently).
async fn group_tree(
    kc: &Keycloak,
    realm: &str,
    top: Vec<Value>,
) -> Result<Vec<(Value, Option<String>)>, KcError> {
    let mut level: Vec<(Value, Option<String>)> = top.into_iter().map(|g| (g, None)).collect();
    let mut all = Vec::new();
    while !level.is_empty() {
        let children: Vec<Vec<(Value, Option<String>)>> = crate::util::each_of(&level, |(g, parent)| async move {
                let path = match parent {
                    Some(p) => format!("{p}/{}", str_of(g, "name")),
                    None => str_of(g, "name").to_string(),
                };
                let has = g["subGroupCount"].as_u64().unwrap_or(0) > 0
                    || g["subGroups"].as_array().is_some_and(|a| !a.is_empty());
                if !has {
                    return Ok::<_, KcError>(Vec::new());
                }
                let kids = kc
                    .list(
                        &[realm, "groups", str_of(g, "id"), "children"],
                        &[("briefRepresentation", "false".to_string())],
                    )
                    .await?;
                Ok(kids.into_iter().map(|k| (k, Some(path.clone()))).collect())
            }).buffered(PARALLEL)
            .try_collect()
            .await?;
        all.append(&mut level);
        level = children.into_iter().flatten().collect();
    }
    Ok(all)
}

/// The groups with their role mappings.
async fn read_groups(
    kc: &Keycloak,
    realm: &str,
    all: &[(Value, Option<String>)],
) -> Result<Vec<Spec>, KcError> {
    crate::util::each_of(all, |(g, parent)| async move {
            let mut group = rep::group(g, parent.as_deref()).map_err(unreadable)?;
            let m = kc
                .get(&[realm, "groups", str_of(g, "id"), "role-mappings"], &[])
                .await?
                .unwrap_or_default();
            let set = mappings(&m, realm);
            group.realm_roles = set.realm;
            group.client_roles = set.client;
            Ok::<_, KcError>(Spec::IamGroup(group))
        }).buffered(PARALLEL)
        .try_collect()
        .await
}

/// One client with what hangs off it, and its secret when Keycloak gives it.
async fn read_client(
    kc: &Keycloak,
    realm: &str,
    c: &Value,
    (ids, flows): (&HashMap<String, String>, &HashMap<String, String>),
) -> Result<(Spec, Option<(String, String)>), KcError> {
    let uuid = str_of(c, "id");
    let mut client = rep::client(c).map_err(unreadable)?;
    for (binding, id) in c["authenticationFlowBindingOverrides"].as_object().into_iter().flatten() {
        let id = id.as_str().unwrap_or_default();
        if !id.is_empty() {
            let alias = flows.get(id).cloned().unwrap_or_else(|| id.to_string());
            client.authentication_flow_overrides.insert(binding.clone(), alias);
        }
    }
    let full = [("briefRepresentation", "false".to_string())];
    let paths: [&[&str]; 3] = [
        &[realm, "clients", uuid, "default-client-scopes"],
        &[realm, "clients", uuid, "optional-client-scopes"],
        &[realm, "clients", uuid, "roles"],
    ];
    let (default, optional, roles) =
        tokio::try_join!(kc.all(paths[0]), kc.all(paths[1]), kc.list(paths[2], &full),)?;
    let names = |l: &[Value]| -> Vec<String> {
        let mut v: Vec<String> = l.iter().map(|s| str_of(s, "name").to_string()).collect();
        v.sort();
        v
    };
    client.default_client_scopes = Some(names(&default));
    client.optional_client_scopes = Some(names(&optional));
    client.role = crate::util::each_of(&roles, |r| async move {
            let mut role = rep::client_role(r).map_err(unreadable)?;
            if r["composite"].as_bool().unwrap_or(false) {
                role.composites =
                    composites(kc, &[realm, "clients", uuid, "roles", &role.name], ids).await?;
            }
            Ok::<_, KcError>(role)
        }).buffered(PARALLEL)
        .try_collect()
        .await?;
    if c["serviceAccountsEnabled"].as_bool().unwrap_or(false)
        && let Some(user) = kc
            .get(&[realm, "clients", uuid, "service-account-user"], &[])
            .await?
    {
        let m = kc
            .get(&[realm, "users", str_of(&user, "id"), "role-mappings"], &[])
            .await?
            .unwrap_or_default();
        client.service_account_roles = non_empty(mappings(&m, realm));
    }
    client.normalize();
    let secret = c
        .get("secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && !crate::model::secret::is_marker(s))
        .filter(|_| client.secret.is_some())
        .map(|s| (client.client_id.clone(), s.to_string()));
    Ok((Spec::IamClient(client), secret))
}
