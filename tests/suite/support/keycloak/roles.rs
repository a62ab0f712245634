//! The Keycloak double: realm and client roles and their composites.

use super::*;

impl Cx<'_> {
    pub(super) fn roles(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "/{realm}/roles") => {
                let brief = self.brief(true);
                let r = self.realm()?;
                let list: Vec<Value> = r
                    .roles
                    .iter()
                    .filter(|x| x.client.is_none())
                    .map(|x| role_rep(r, x, brief))
                    .collect();
                Ok((200, Value::Array(self.page(list, None))))
            }
            ("POST", "/{realm}/roles") => self.create_role(None, input),
            (
                "GET",
                "/{realm}/roles/{role-name}" | "/{realm}/clients/{client-uuid}/roles/{role-name}",
            ) => {
                let (r, i) = self.find_role()?;
                Ok((200, role_rep(r, &r.roles[i], false)))
            }
            (
                "PUT",
                "/{realm}/roles/{role-name}" | "/{realm}/clients/{client-uuid}/roles/{role-name}",
            ) => {
                let (_, i) = self.find_role()?;
                let r = self.realm()?;
                let role = &mut r.roles[i];
                if let Some(d) = input.get("description").and_then(Value::as_str) {
                    role.description = Some(d.to_string());
                }
                if let Some(a) = input.get("attributes").filter(|a| a.is_object()) {
                    role.attributes = a.clone();
                }
                Ok((204, Value::Null))
            }
            (
                "DELETE",
                "/{realm}/roles/{role-name}" | "/{realm}/clients/{client-uuid}/roles/{role-name}",
            ) => {
                let (_, i) = self.find_role()?;
                let r = self.realm()?;
                let id = r.roles.remove(i).id;
                forget_roles(r, &[id]);
                Ok((204, Value::Null))
            }
            (
                "GET",
                "/{realm}/roles/{role-name}/composites"
                | "/{realm}/clients/{client-uuid}/roles/{role-name}/composites",
            ) => {
                let (r, i) = self.find_role()?;
                let list: Vec<Value> = r.roles[i]
                    .composites
                    .iter()
                    .filter_map(|id| r.roles.iter().find(|x| &x.id == id))
                    .map(|x| role_rep(r, x, false))
                    .collect();
                Ok((200, Value::Array(list)))
            }
            (
                "POST" | "DELETE",
                "/{realm}/roles/{role-name}/composites"
                | "/{realm}/clients/{client-uuid}/roles/{role-name}/composites",
            ) => {
                let (_, i) = self.find_role()?;
                let ids = role_ids(self.realm()?, &input)?;
                let role = &mut self.realm()?.roles[i];
                if method == "POST" {
                    for id in ids {
                        if !role.composites.contains(&id) {
                            role.composites.push(id);
                        }
                    }
                } else {
                    role.composites.retain(|c| !ids.contains(c));
                }
                Ok((204, Value::Null))
            }

            _ => Err(UNROUTED),
        }
    }

    pub(super) fn create_role(
        &mut self,
        client: Option<String>,
        input: Value,
    ) -> Result<(u16, Value), (u16, Value)> {
        let name = str_of(&input, "name").to_string();
        if name.is_empty() {
            return Err(error(400, "Role name is missing"));
        }
        let id = self.id();
        let realm = self.p("realm");
        let r = self.realm()?;
        if r.roles.iter().any(|x| x.client == client && x.name == name) {
            return Err(error(409, &format!("Role with name {name} already exists")));
        }
        r.roles.push(RoleS {
            id,
            name: name.clone(),
            description: input
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            attributes: input
                .get("attributes")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(json!({})),
            composites: Vec::new(),
            client: client.clone(),
        });
        let path = match client {
            Some(c) => format!(
                "{}/clients/{c}/roles/{}",
                http::encode(&realm),
                http::encode(&name)
            ),
            None => format!("{}/roles/{}", http::encode(&realm), http::encode(&name)),
        };
        Ok(self.created(&path))
    }
}
