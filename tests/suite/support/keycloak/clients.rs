//! The Keycloak double: clients, their secrets, scopes, roles, mappers and service accounts.

use super::*;

impl Cx<'_> {
    pub(super) fn clients(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "/{realm}/clients") => {
                let mask = self.options.mask_client_secrets;
                let wanted = self.query.get("clientId").cloned();
                let r = self.realm()?;
                let list: Vec<Value> = r
                    .clients
                    .iter()
                    .filter(|c| {
                        wanted
                            .as_ref()
                            .is_none_or(|w| c.rep["clientId"] == w.as_str())
                    })
                    .map(|c| client_rep(r, c, mask))
                    .collect();
                Ok((200, Value::Array(self.page(list, None))))
            }
            ("POST", "/{realm}/clients") => self.create_client(input),
            ("GET", "/{realm}/clients/{client-uuid}") => {
                let mask = self.options.mask_client_secrets;
                let i = self.client_index()?;
                let r = self.realm()?;
                Ok((200, client_rep(r, &r.clients[i], mask)))
            }
            ("PUT", "/{realm}/clients/{client-uuid}") => {
                let i = self.client_index()?;
                if let Some(new_id) = input.get("clientId").and_then(Value::as_str) {
                    let r = self.realm()?;
                    if r.clients
                        .iter()
                        .enumerate()
                        .any(|(j, c)| j != i && c.rep["clientId"] == new_id)
                    {
                        return Err(error(409, &format!("Client {new_id} already exists")));
                    }
                }
                let sa = input.get("serviceAccountsEnabled").and_then(Value::as_bool) == Some(true);
                let r = self.realm()?;
                let flows: Vec<&str> = r.config.flows.iter().map(|f| str_of(f, "id")).collect();
                let overrides = obj(&input["authenticationFlowBindingOverrides"]);
                let unknown = overrides.values().filter_map(Value::as_str);
                if unknown
                    .clone()
                    .any(|id| !id.is_empty() && !flows.contains(&id))
                {
                    return Err(error(400, "Flow id does not exist"));
                }
                let c = &mut r.clients[i];
                for (k, v) in obj(&input) {
                    match k.as_str() {
                        "id"
                        | "protocolMappers"
                        | "defaultClientScopes"
                        | "optionalClientScopes"
                        | "access" => {}
                        "secret" => {
                            if let Some(s) = v.as_str().filter(|s| *s != MASK) {
                                c.secret = Some(s.to_string());
                            }
                        }
                        "attributes" => merge_attributes(&mut c.rep, &v),
                        "authenticationFlowBindingOverrides" => {
                            let mut o = obj(c.rep.get(&k).unwrap_or(&Value::Null));
                            for (b, id) in obj(&v) {
                                if id.as_str().is_none_or(str::is_empty) {
                                    o.remove(&b);
                                } else {
                                    o.insert(b, id);
                                }
                            }
                            c.rep.insert(k, Value::Object(o));
                        }
                        _ if !v.is_null() => {
                            c.rep.insert(k, v);
                        }
                        _ => {}
                    }
                }
                if confidential(&c.rep) && c.secret.is_none() {
                    c.secret = Some(format!("generated-{}", c.id));
                    secret_created(&mut c.rep);
                }
                if sa {
                    self.service_account(i);
                }
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/clients/{client-uuid}") => {
                let i = self.client_index()?;
                let r = self.realm()?;
                let c = r.clients.remove(i);
                let gone: Vec<String> = r
                    .roles
                    .iter()
                    .filter(|x| x.client.as_deref() == Some(c.id.as_str()))
                    .map(|x| x.id.clone())
                    .collect();
                r.roles
                    .retain(|x| x.client.as_deref() != Some(c.id.as_str()));
                r.users.retain(|u| u.client != c.id);
                forget_roles(r, &gone);
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/clients/{client-uuid}/client-secret") => {
                let i = self.client_index()?;
                let c = &self.realm()?.clients[i];
                Ok((200, json!({"type": "secret", "value": c.secret})))
            }
            (
                "GET",
                "/{realm}/clients/{client-uuid}/default-client-scopes"
                | "/{realm}/clients/{client-uuid}/optional-client-scopes",
            ) => {
                let i = self.client_index()?;
                let r = self.realm()?;
                let c = &r.clients[i];
                let ids = if t.ends_with("default-client-scopes") {
                    &c.default_scopes
                } else {
                    &c.optional_scopes
                };
                let list: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| r.scopes.iter().find(|s| &s.id == id))
                    .map(|s| json!({"id": s.id, "name": s.rep["name"]}))
                    .collect();
                Ok((200, Value::Array(list)))
            }
            (
                "PUT" | "DELETE",
                "/{realm}/clients/{client-uuid}/default-client-scopes/{clientScopeId}"
                | "/{realm}/clients/{client-uuid}/optional-client-scopes/{clientScopeId}",
            ) => {
                let i = self.client_index()?;
                let scope = self.p("clientScopeId");
                let r = self.realm()?;
                if !r.scopes.iter().any(|s| s.id == scope) {
                    return Err(not_found("client scope"));
                }
                let c = &mut r.clients[i];
                let default = t.contains("default-client-scopes");
                if method == "PUT" {
                    let (mine, other) = if default {
                        (&c.default_scopes, &c.optional_scopes)
                    } else {
                        (&c.optional_scopes, &c.default_scopes)
                    };
                    if other.contains(&scope) {
                        return Err(error(409, "Client scope is already linked to the client"));
                    }
                    if !mine.contains(&scope) {
                        if default {
                            c.default_scopes.push(scope)
                        } else {
                            c.optional_scopes.push(scope)
                        }
                    }
                } else if default {
                    c.default_scopes.retain(|s| *s != scope);
                } else {
                    c.optional_scopes.retain(|s| *s != scope);
                }
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/clients/{client-uuid}/roles") => {
                let i = self.client_index()?;
                let brief = self.brief(true);
                let r = self.realm()?;
                let cid = r.clients[i].id.clone();
                let list: Vec<Value> = r
                    .roles
                    .iter()
                    .filter(|x| x.client.as_deref() == Some(cid.as_str()))
                    .map(|x| role_rep(r, x, brief))
                    .collect();
                Ok((200, Value::Array(self.page(list, None))))
            }
            ("POST", "/{realm}/clients/{client-uuid}/roles") => {
                let i = self.client_index()?;
                let cid = self.realm()?.clients[i].id.clone();
                self.create_role(Some(cid), input)
            }
            (
                "GET",
                "/{realm}/clients/{client-uuid}/protocol-mappers/models"
                | "/{realm}/client-scopes/{client-scope-id}/protocol-mappers/models",
            ) => Ok((200, Value::Array(self.mappers()?.clone()))),
            (
                "POST",
                "/{realm}/clients/{client-uuid}/protocol-mappers/models"
                | "/{realm}/client-scopes/{client-scope-id}/protocol-mappers/models",
            ) => {
                let id = self.id();
                let list = self.mappers()?;
                if list.iter().any(|m| m["name"] == input["name"]) {
                    return Err(error(409, "Protocol mapper exists with same name"));
                }
                let mut m = mapper(&input);
                m.insert("id".into(), json!(id));
                list.push(Value::Object(m));
                let owner = if t.contains("/clients/") {
                    format!("clients/{}", self.p("client-uuid"))
                } else {
                    format!("client-scopes/{}", self.p("client-scope-id"))
                };
                let path = format!(
                    "{}/{owner}/protocol-mappers/models/{id}",
                    http::encode(&self.p("realm"))
                );
                Ok(self.created(&path))
            }
            (
                "PUT" | "DELETE",
                "/{realm}/clients/{client-uuid}/protocol-mappers/models/{id}"
                | "/{realm}/client-scopes/{client-scope-id}/protocol-mappers/models/{id}",
            ) => {
                let id = self.p("id");
                let list = self.mappers()?;
                let Some(i) = list.iter().position(|m| m["id"] == id.as_str()) else {
                    return Err(not_found("protocol mapper"));
                };
                if method == "DELETE" {
                    list.remove(i);
                } else {
                    let mut m = mapper(&input);
                    m.insert("id".into(), json!(id));
                    list[i] = Value::Object(m);
                }
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/clients/{client-uuid}/service-account-user") => {
                let i = self.client_index()?;
                let r = self.realm()?;
                let c = &r.clients[i];
                if c.rep.get("serviceAccountsEnabled").and_then(Value::as_bool) != Some(true) {
                    return Err(error(400, "Service account not enabled for the client"));
                }
                let u = r
                    .users
                    .iter()
                    .find(|u| u.client == c.id)
                    .ok_or_else(|| not_found("user"))?;
                Ok((
                    200,
                    json!({"id": u.id, "username": u.username, "enabled": true, "emailVerified": false,
                                "serviceAccountClientId": c.id, "createdTimestamp": 0}),
                ))
            }
            (
                "GET",
                "/{realm}/users/{user-id}/role-mappings"
                | "/{realm}/groups/{group-id}/role-mappings",
            ) => {
                let roles = self.holder_roles()?.clone();
                Ok((200, mappings(self.realm()?, &roles)))
            }
            (
                "POST" | "DELETE",
                "/{realm}/users/{user-id}/role-mappings/realm"
                | "/{realm}/groups/{group-id}/role-mappings/realm"
                | "/{realm}/users/{user-id}/role-mappings/clients/{client-id}"
                | "/{realm}/groups/{group-id}/role-mappings/clients/{client-id}",
            ) => {
                if t.ends_with("{client-id}") {
                    let c = self.p("client-id");
                    if !self.realm()?.clients.iter().any(|x| x.id == c) {
                        return Err(not_found("client"));
                    }
                }
                let ids = role_ids(self.realm()?, &input)?;
                let roles = self.holder_roles()?;
                if method == "POST" {
                    for id in ids {
                        if !roles.contains(&id) {
                            roles.push(id);
                        }
                    }
                } else {
                    roles.retain(|r| !ids.contains(r));
                }
                Ok((204, Value::Null))
            }

            _ => Err(UNROUTED),
        }
    }

    pub(super) fn create_client(&mut self, input: Value) -> Result<(u16, Value), (u16, Value)> {
        let client_id = str_of(&input, "clientId").to_string();
        if client_id.is_empty() {
            return Err(error(400, "Client id is missing"));
        }
        let id = self.id();
        let mut mapper_ids = Vec::new();
        for _ in input["protocolMappers"].as_array().into_iter().flatten() {
            mapper_ids.push(self.id());
        }
        let realm = self.p("realm");
        let r = self.realm()?;
        if r.clients
            .iter()
            .any(|c| c.rep["clientId"] == client_id.as_str())
        {
            return Err(error(409, &format!("Client {client_id} already exists")));
        }
        let mut rep = obj(
            &json!({"enabled": true, "publicClient": false, "bearerOnly": false,
            "standardFlowEnabled": true, "implicitFlowEnabled": false, "directAccessGrantsEnabled": false,
            "serviceAccountsEnabled": false, "consentRequired": false, "fullScopeAllowed": true,
            "frontchannelLogout": true, "protocol": "openid-connect", "redirectUris": [], "webOrigins": [],
            "attributes": {}, "surrogateAuthRequired": false, "alwaysDisplayInConsole": false,
            "clientAuthenticatorType": "client-secret", "notBefore": 0, "nodeReRegistrationTimeout": -1,
            "authenticationFlowBindingOverrides": {}}),
        );
        let mut secret = None;
        for (k, v) in obj(&input) {
            match k.as_str() {
                "id" | "protocolMappers" | "defaultClientScopes" | "optionalClientScopes" => {}
                "secret" => secret = v.as_str().map(str::to_string),
                "attributes" => merge_attributes(&mut rep, &v),
                _ if !v.is_null() => {
                    rep.insert(k, v);
                }
                _ => {}
            }
        }
        if confidential(&rep) && secret.is_none() {
            secret = Some(format!("generated-{id}"));
            secret_created(&mut rep);
        }
        if !confidential(&rep) {
            secret = None;
        }
        let protocol = rep["protocol"]
            .as_str()
            .unwrap_or("openid-connect")
            .to_string();
        // Unknown scope names are skipped (Keycloak logs a warning only).
        let by_name = |names: &Value, fallback: &[String]| -> Vec<String> {
            match names.as_array() {
                Some(a) => a
                    .iter()
                    .filter_map(|n| r.scopes.iter().find(|s| s.rep["name"] == *n))
                    .map(|s| s.id.clone())
                    .collect(),
                None => fallback
                    .iter()
                    .filter(|id| {
                        r.scopes
                            .iter()
                            .any(|s| &s.id == *id && s.rep["protocol"] == protocol.as_str())
                    })
                    .cloned()
                    .collect(),
            }
        };
        let default_scopes = by_name(&input["defaultClientScopes"], &r.default_default);
        let optional_scopes = by_name(&input["optionalClientScopes"], &r.default_optional);
        let mappers = input["protocolMappers"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(mapper_ids)
            .map(|(m, mid)| {
                let mut m = mapper(m);
                m.insert("id".into(), json!(mid));
                Value::Object(m)
            })
            .collect();
        r.clients.push(ClientS {
            id: id.clone(),
            rep,
            secret,
            mappers,
            default_scopes,
            optional_scopes,
        });
        let i = r.clients.len() - 1;
        if r.clients[i]
            .rep
            .get("serviceAccountsEnabled")
            .and_then(Value::as_bool)
            == Some(true)
        {
            self.service_account(i);
        }
        Ok(self.created(&format!("{}/clients/{id}", http::encode(&realm))))
    }

    /// Gives a client its service-account user (with the realm's default roles), once.
    pub(super) fn service_account(&mut self, i: usize) {
        let uid = self.id();
        let name = self.p("realm");
        let Ok(r) = self.realm() else { return };
        let c = &r.clients[i];
        if r.users.iter().any(|u| u.client == c.id) {
            return;
        }
        let default = r
            .roles
            .iter()
            .find(|x| x.client.is_none() && x.name == format!("default-roles-{name}"))
            .map(|x| x.id.clone());
        r.users.push(UserS {
            id: uid,
            username: format!(
                "service-account-{}",
                str_of(&Value::Object(c.rep.clone()), "clientId")
            ),
            client: c.id.clone(),
            roles: default.into_iter().collect(),
        });
    }
}

/// Lays the `attributes` of a client request over the stored ones as Keycloak does (`RepresentationToModel`
/// sets each attribute sent and removes one sent empty; a key the request leaves out is kept: "clearing
/// needs an explicit empty value", the reference's behaviour notes).
fn merge_attributes(rep: &mut Map<String, Value>, sent: &Value) {
    let mut stored = obj(rep.get("attributes").unwrap_or(&Value::Null));
    for (k, v) in obj(sent) {
        match v.as_str() {
            Some(s) if !s.trim().is_empty() => {
                stored.insert(k, v);
            }
            _ if v.is_null() || v.as_str().is_some() => {
                stored.remove(&k);
            }
            _ => {
                stored.insert(k, v);
            }
        }
    }
    rep.insert("attributes".into(), Value::Object(stored));
}

/// Keycloak records when it generated a client's secret, as the attribute `client.secret.creation.time`
/// (seconds since the epoch).
fn secret_created(rep: &mut Map<String, Value>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut a = obj(rep.get("attributes").unwrap_or(&Value::Null));
    a.insert("client.secret.creation.time".into(), json!(now.to_string()));
    rep.insert("attributes".into(), Value::Object(a));
}
