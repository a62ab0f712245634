//! The Keycloak double: identity providers and their mappers.

use super::*;

impl Cx<'_> {
    pub(super) fn idps(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "/{realm}/identity-provider/instances") => {
                let r = self.realm()?;
                let list: Vec<Value> = r.idps.iter().map(idp_rep).collect();
                Ok((200, Value::Array(self.page(list, Some(100)))))
            }
            ("POST", "/{realm}/identity-provider/instances") => {
                let alias = str_of(&input, "alias").to_string();
                if alias.is_empty() {
                    return Err(error(400, "Invalid identity provider alias"));
                }
                let id = self.id();
                let r = self.realm()?;
                if r.idps.iter().any(|p| p.rep["alias"] == alias.as_str()) {
                    return Err(error(
                        409,
                        &format!("Identity Provider {alias} already exists"),
                    ));
                }
                let mut rep = obj(
                    &json!({"enabled": false, "trustEmail": false, "storeToken": false,
                    "linkOnly": false, "hideOnLogin": false, "addReadTokenRoleOnCreate": false,
                    "authenticateByDefault": false, "updateProfileFirstLoginMode": "on",
                    "firstBrokerLoginFlowAlias": "first broker login", "config": {}}),
                );
                rep.extend(
                    obj(&input)
                        .into_iter()
                        .filter(|(k, v)| !v.is_null() && k != "internalId"),
                );
                r.idps.push(IdpS {
                    internal_id: id,
                    rep,
                    mappers: Vec::new(),
                });
                let path = format!(
                    "{}/identity-provider/instances/{}",
                    http::encode(&self.p("realm")),
                    http::encode(&alias)
                );
                Ok(self.created(&path))
            }
            ("GET", "/{realm}/identity-provider/instances/{alias}") => {
                let i = self.idp_index()?;
                Ok((200, idp_rep(&self.realm()?.idps[i])))
            }
            ("PUT", "/{realm}/identity-provider/instances/{alias}") => {
                let i = self.idp_index()?;
                let p = &mut self.realm()?.idps[i];
                let old_secret = p
                    .rep
                    .get("config")
                    .and_then(|c| c.get("clientSecret"))
                    .cloned();
                for (k, v) in obj(&input) {
                    match k.as_str() {
                        "internalId" | "alias" => {}
                        "config" => {
                            let mut c = obj(&v);
                            if c.get("clientSecret").and_then(Value::as_str) == Some(MASK) {
                                match &old_secret {
                                    Some(s) => {
                                        c.insert("clientSecret".into(), s.clone());
                                    }
                                    None => {
                                        c.remove("clientSecret");
                                    }
                                }
                            }
                            p.rep.insert(k, Value::Object(c));
                        }
                        _ if !v.is_null() => {
                            p.rep.insert(k, v);
                        }
                        _ => {}
                    }
                }
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/identity-provider/instances/{alias}") => {
                let i = self.idp_index()?;
                self.realm()?.idps.remove(i);
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/identity-provider/instances/{alias}/mappers") => {
                let i = self.idp_index()?;
                Ok((200, Value::Array(self.realm()?.idps[i].mappers.clone())))
            }
            ("POST", "/{realm}/identity-provider/instances/{alias}/mappers") => {
                let i = self.idp_index()?;
                let id = self.id();
                let alias = self.p("alias");
                let p = &mut self.realm()?.idps[i];
                if p.mappers.iter().any(|m| m["name"] == input["name"]) {
                    return Err(error(
                        409,
                        "Identity provider mapper with the same name already exists",
                    ));
                }
                let mut m = obj(
                    &json!({"name": input["name"], "identityProviderAlias": alias,
                    "identityProviderMapper": input["identityProviderMapper"], "config": input.get("config").cloned().unwrap_or(json!({}))}),
                );
                m.insert("id".into(), json!(id));
                p.mappers.push(Value::Object(m));
                let path = format!(
                    "{}/identity-provider/instances/{}/mappers/{id}",
                    http::encode(&self.p("realm")),
                    http::encode(&alias)
                );
                Ok(self.created(&path))
            }
            ("PUT" | "DELETE", "/{realm}/identity-provider/instances/{alias}/mappers/{id}") => {
                let i = self.idp_index()?;
                let id = self.p("id");
                let alias = self.p("alias");
                let p = &mut self.realm()?.idps[i];
                let Some(j) = p.mappers.iter().position(|m| m["id"] == id.as_str()) else {
                    return Err(not_found("mapper"));
                };
                if method == "DELETE" {
                    p.mappers.remove(j);
                } else {
                    p.mappers[j] = json!({"id": id, "name": input["name"], "identityProviderAlias": alias,
                        "identityProviderMapper": input["identityProviderMapper"], "config": input.get("config").cloned().unwrap_or(json!({}))});
                }
                Ok((204, Value::Null))
            }

            _ => Err(UNROUTED),
        }
    }
}
