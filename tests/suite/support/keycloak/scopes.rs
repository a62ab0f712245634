//! The Keycloak double: client scopes and their mappers.

use super::*;

impl Cx<'_> {
    pub(super) fn scopes(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "/{realm}/client-scopes") => {
                let r = self.realm()?;
                Ok((200, Value::Array(r.scopes.iter().map(scope_rep).collect())))
            }
            ("POST", "/{realm}/client-scopes") => {
                let name = str_of(&input, "name").to_string();
                let id = self.id();
                let r = self.realm()?;
                if r.scopes.iter().any(|s| s.rep["name"] == name.as_str()) {
                    return Err(error(409, &format!("Client Scope {name} already exists")));
                }
                let mut rep = obj(&input);
                rep.remove("id");
                let mappers = rep
                    .remove("protocolMappers")
                    .and_then(|m| m.as_array().cloned())
                    .unwrap_or_default();
                rep.entry("protocol").or_insert(json!("openid-connect"));
                let mut s = ScopeS {
                    id: id.clone(),
                    rep,
                    mappers: Vec::new(),
                };
                for m in mappers {
                    let mut m = mapper(&m);
                    m.insert("id".into(), json!(format!("{id}-m{}", s.mappers.len())));
                    s.mappers.push(Value::Object(m));
                }
                r.scopes.push(s);
                let path = format!("{}/client-scopes/{id}", http::encode(&self.p("realm")));
                Ok(self.created(&path))
            }
            ("GET", "/{realm}/client-scopes/{client-scope-id}") => {
                let i = self.scope_index()?;
                Ok((200, scope_rep(&self.realm()?.scopes[i])))
            }
            ("PUT", "/{realm}/client-scopes/{client-scope-id}") => {
                let i = self.scope_index()?;
                let s = &mut self.realm()?.scopes[i];
                for (k, v) in obj(&input) {
                    match k.as_str() {
                        "id" | "protocolMappers" => {}
                        _ if !v.is_null() => {
                            s.rep.insert(k, v);
                        }
                        _ => {}
                    }
                }
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/client-scopes/{client-scope-id}") => {
                let i = self.scope_index()?;
                let r = self.realm()?;
                let id = r.scopes.remove(i).id;
                for c in &mut r.clients {
                    c.default_scopes.retain(|s| *s != id);
                    c.optional_scopes.retain(|s| *s != id);
                }
                r.default_default.retain(|s| *s != id);
                r.default_optional.retain(|s| *s != id);
                Ok((204, Value::Null))
            }
            // The realm's default client scopes, given to each new client: `{id, name}` each.
            (
                "GET",
                "/{realm}/default-default-client-scopes"
                | "/{realm}/default-optional-client-scopes",
            ) => {
                let r = self.realm()?;
                let ids = if t.contains("default-default") {
                    &r.default_default
                } else {
                    &r.default_optional
                };
                let named = ids
                    .iter()
                    .filter_map(|id| r.scopes.iter().find(|s| s.id == *id))
                    .map(|s| json!({"id": s.id, "name": s.rep["name"]}))
                    .collect();
                Ok((200, Value::Array(named)))
            }
            (
                "PUT",
                "/{realm}/default-default-client-scopes/{clientScopeId}"
                | "/{realm}/default-optional-client-scopes/{clientScopeId}",
            ) => {
                let id = self.p("clientScopeId");
                let r = self.realm()?;
                if !r.scopes.iter().any(|s| s.id == id) {
                    return Err(not_found("client scope"));
                }
                r.default_default.retain(|s| *s != id);
                r.default_optional.retain(|s| *s != id);
                match t.contains("default-default") {
                    true => r.default_default.push(id),
                    false => r.default_optional.push(id),
                }
                Ok((204, Value::Null))
            }

            _ => Err(UNROUTED),
        }
    }
}
