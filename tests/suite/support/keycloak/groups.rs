//! The Keycloak double: groups, their children and role mappings.

use super::*;

impl Cx<'_> {
    pub(super) fn groups(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "/{realm}/groups") => {
                let brief = self.brief(true);
                let r = self.realm()?;
                let list: Vec<Value> = r
                    .groups
                    .iter()
                    .filter(|g| g.parent.is_none())
                    .map(|g| group_rep(r, g, brief))
                    .collect();
                Ok((200, Value::Array(self.page(list, Some(100)))))
            }
            ("GET", "/{realm}/groups/{group-id}/children") => {
                let brief = self.brief(true);
                let id = self.group_index()?;
                let r = self.realm()?;
                let pid = r.groups[id].id.clone();
                let list: Vec<Value> = r
                    .groups
                    .iter()
                    .filter(|g| g.parent.as_deref() == Some(pid.as_str()))
                    .map(|g| group_rep(r, g, brief))
                    .collect();
                Ok((200, Value::Array(self.page(list, Some(100)))))
            }
            ("POST", "/{realm}/groups" | "/{realm}/groups/{group-id}/children") => {
                let parent = if t.ends_with("children") {
                    let i = self.group_index()?;
                    Some(self.realm()?.groups[i].id.clone())
                } else {
                    None
                };
                let name = str_of(&input, "name").to_string();
                if name.trim().is_empty() {
                    return Err(error(400, "Group name is missing"));
                }
                let id = self.id();
                let r = self.realm()?;
                if r.groups
                    .iter()
                    .any(|g| g.parent == parent && g.name == name)
                {
                    return Err(error(
                        409,
                        &match parent {
                            None => format!("Top level group named '{name}' already exists."),
                            Some(_) => format!("Sibling group named '{name}' already exists."),
                        },
                    ));
                }
                r.groups.push(GroupS {
                    id: id.clone(),
                    name,
                    parent,
                    attributes: input
                        .get("attributes")
                        .cloned()
                        .filter(Value::is_object)
                        .unwrap_or(json!({})),
                    roles: Vec::new(),
                });
                let path = format!("{}/groups/{id}", http::encode(&self.p("realm")));
                Ok(self.created(&path))
            }
            ("GET", "/{realm}/groups/{group-id}") => {
                let i = self.group_index()?;
                let r = self.realm()?;
                Ok((200, group_rep(r, &r.groups[i], false)))
            }
            ("GET", "/{realm}/group-by-path/{path}") => {
                let path = self.p("path");
                let r = self.realm()?;
                let g = r
                    .groups
                    .iter()
                    .find(|g| group_path(r, g) == format!("/{}", path.trim_matches('/')))
                    .ok_or_else(|| not_found("group"))?;
                Ok((200, group_rep(r, g, false)))
            }
            ("PUT", "/{realm}/groups/{group-id}") => {
                let i = self.group_index()?;
                let r = self.realm()?;
                // A rename is held to a new group's rules: a name, unique among its siblings.
                if let Some(n) = input.get("name").and_then(Value::as_str) {
                    if n.trim().is_empty() {
                        return Err(error(400, "Group name is missing"));
                    }
                    let parent = r.groups[i].parent.clone();
                    if r.groups
                        .iter()
                        .enumerate()
                        .any(|(j, g)| j != i && g.parent == parent && g.name == n)
                    {
                        return Err(error(
                            409,
                            &format!("Sibling group named '{n}' already exists."),
                        ));
                    }
                }
                let g = &mut r.groups[i];
                if let Some(n) = input.get("name").and_then(Value::as_str) {
                    g.name = n.to_string();
                }
                if let Some(a) = input.get("attributes").filter(|a| a.is_object()) {
                    g.attributes = a.clone();
                }
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/groups/{group-id}") => {
                let i = self.group_index()?;
                let r = self.realm()?;
                let mut gone = vec![r.groups[i].id.clone()];
                loop {
                    let more: Vec<String> = r
                        .groups
                        .iter()
                        .filter(|g| {
                            g.parent.as_ref().is_some_and(|p| gone.contains(p))
                                && !gone.contains(&g.id)
                        })
                        .map(|g| g.id.clone())
                        .collect();
                    if more.is_empty() {
                        break;
                    }
                    gone.extend(more);
                }
                r.groups.retain(|g| !gone.contains(&g.id));
                Ok((204, Value::Null))
            }
            _ => Err(UNROUTED),
        }
    }
}
