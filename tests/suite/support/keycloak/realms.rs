//! The Keycloak double: the realms.

use super::*;

impl Cx<'_> {
    pub(super) fn realms(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "") => {
                let all: Vec<Value> = self.w.realms.values().map(realm_rep).collect();
                Ok((200, Value::Array(all)))
            }
            ("POST", "") => self.create_realm(input),
            ("GET", "/{realm}") => Ok((200, realm_rep(self.realm()?))),
            ("PUT", "/{realm}") => {
                let r = self.realm()?;
                unknown_flow(r, &obj(&input))?;
                let mut input = obj(&input);
                r.config.take_events(&mut input);
                for (k, v) in input {
                    match k.as_str() {
                        "id" | "realm" => {}
                        "smtpServer" => {
                            let mut new = obj(&v);
                            if new.get("password").and_then(Value::as_str) == Some(MASK) {
                                match r.rep.get("smtpServer").and_then(|s| s.get("password")) {
                                    Some(old) => {
                                        new.insert("password".into(), old.clone());
                                    }
                                    None => {
                                        new.remove("password");
                                    }
                                }
                            }
                            r.rep.insert(k, Value::Object(new));
                        }
                        "attributes" => {
                            let mut a = obj(r.rep.get("attributes").unwrap_or(&Value::Null));
                            a.extend(obj(&v));
                            r.rep.insert(k, Value::Object(a));
                        }
                        _ if !v.is_null() => {
                            r.rep.insert(k, v);
                        }
                        _ => {}
                    }
                }
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}") => {
                let name = self.p("realm");
                self.realm()?;
                self.w.realms.remove(&name);
                Ok((204, Value::Null))
            }

            _ => Err(UNROUTED),
        }
    }

    pub(super) fn create_realm(&mut self, input: Value) -> Result<(u16, Value), (u16, Value)> {
        let name = str_of(&input, "realm").to_string();
        if name.is_empty() {
            return Err(error(400, "Realm name cannot be empty"));
        }
        if self.w.realms.contains_key(&name) {
            return Err(error(409, "Conflict detected. See logs for details"));
        }
        let id = self.id();
        let mut rep = realm_defaults(&name, &id);
        for (k, v) in obj(&input) {
            if !v.is_null() && k != "id" {
                rep.insert(k, v);
            }
        }
        let (mut config, bindings) = config::ConfigS::new(&id, || self.id());
        for (k, v) in bindings {
            rep.entry(k).or_insert(v);
        }
        config.take_events(&mut rep);
        let mut r = RealmS {
            id: id.clone(),
            rep,
            config,
            ..Default::default()
        };
        unknown_flow(&r, &r.rep)?;
        // Built-in roles.
        for n in ["offline_access", "uma_authorization"] {
            let rid = self.id();
            r.roles.push(RoleS {
                id: rid,
                name: n.into(),
                description: Some(format!("${{role_{n}}}")),
                attributes: json!({}),
                composites: vec![],
                client: None,
            });
        }
        let did = self.id();
        let composites = r.roles.iter().map(|x| x.id.clone()).collect();
        r.roles.push(RoleS {
            id: did,
            name: format!("default-roles-{name}"),
            description: Some("${role_default-roles}".into()),
            attributes: json!({}),
            composites,
            client: None,
        });
        // Built-in client scopes.
        for n in DEFAULT_SCOPES.iter().chain(OPTIONAL_SCOPES).chain(&[
            "role_list",
            "saml_organization",
            "service_account",
        ]) {
            let sid = self.id();
            let protocol = if *n == "role_list" || *n == "saml_organization" {
                "saml"
            } else {
                "openid-connect"
            };
            r.scopes.push(ScopeS { id: sid.clone(), rep: obj(&json!({"name": n, "protocol": protocol, "attributes": {"include.in.token.scope": "true"}})), mappers: vec![] });
            if DEFAULT_SCOPES.contains(n) {
                r.default_default.push(sid);
            } else if OPTIONAL_SCOPES.contains(n) {
                r.default_optional.push(sid);
            }
        }
        // Built-in clients (realm-management with a few of its roles).
        for n in BUILTIN_CLIENTS {
            let cid = self.id();
            r.clients.push(ClientS { id: cid.clone(), rep: obj(&json!({"clientId": n, "enabled": true, "publicClient": *n != "realm-management" && *n != "broker", "bearerOnly": *n == "realm-management" || *n == "broker", "protocol": "openid-connect"})), secret: None, mappers: vec![], default_scopes: vec![], optional_scopes: vec![] });
            if *n == "realm-management" {
                for role in ["manage-clients", "view-users", "realm-admin"] {
                    let rid = self.id();
                    r.roles.push(RoleS {
                        id: rid,
                        name: role.into(),
                        description: None,
                        attributes: json!({}),
                        composites: vec![],
                        client: Some(cid.clone()),
                    });
                }
            }
        }
        self.w.realms.insert(name.clone(), r);
        Ok(self.created(&http::encode(&name)))
    }
}

/// A flow binding (a realm member ending in `Flow`) to no top-level flow of the realm: Keycloak refuses it.
fn unknown_flow(r: &RealmS, rep: &Map<String, Value>) -> Result<(), (u16, Value)> {
    for (k, v) in rep {
        let Some(alias) = v.as_str().filter(|_| k.ends_with("Flow")) else {
            continue;
        };
        if !r
            .config
            .flows
            .iter()
            .any(|f| f["alias"] == alias && f["topLevel"] == true)
        {
            return Err(error(400, &format!("Flow {alias} not found for {k}")));
        }
    }
    Ok(())
}
