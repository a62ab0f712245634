//! The Keycloak double: authentication flows with their executions and authenticator configs, the providers
//! a flow may name, and registering and removing required actions.
//!
//! As Keycloak 26 does: a flow's list (`GET .../flows`) has the top-level flows, each with its executions
//! as `AuthenticationExecutionExportRepresentation`s; `GET .../flows/{alias}/executions` gives every step,
//! depth first, with its level and index; an added step goes last, `DISABLED`; a step names a provider the
//! server offers (400 otherwise); a built-in flow, or one a realm or client binds, cannot be deleted (400);
//! deleting a sub-flow's step deletes the sub-flow and what is in it.

use super::*;

/// Authenticators Keycloak 26 offers in basic flows.
const AUTHENTICATORS: &[&str] = &[
    "auth-cookie",
    "auth-spnego",
    "identity-provider-redirector",
    "auth-username-password-form",
    "auth-username-form",
    "auth-password-form",
    "auth-otp-form",
    "auth-conditional-otp-form",
    "auth-recovery-authn-code-form",
    "conditional-user-configured",
    "conditional-user-role",
    "conditional-level-of-authentication",
    "direct-grant-validate-username",
    "direct-grant-validate-password",
    "direct-grant-validate-otp",
    "reset-credentials-choose-user",
    "reset-credential-email",
    "reset-password",
    "reset-otp",
    "idp-review-profile",
    "idp-create-user-if-unique",
    "idp-confirm-link",
    "idp-email-verification",
    "idp-username-password-form",
    "idp-auto-link",
    "webauthn-authenticator",
    "webauthn-authenticator-passwordless",
    "allow-access-authenticator",
    "deny-access-authenticator",
    "user-session-limits",
    "docker-http-basic-authenticator",
    "http-basic-authenticator",
    "auth-x509-client-username-form",
];
/// Form actions (the steps of a form sub-flow) and form providers.
const FORM_ACTIONS: &[&str] = &[
    "registration-user-creation",
    "registration-password-action",
    "registration-recaptcha-action",
    "registration-terms-and-conditions",
];
const FORMS: &[&str] = &["registration-page-form"];
/// Client authenticators (the steps of a client flow).
const CLIENT_AUTHENTICATORS: &[&str] = &[
    "client-secret",
    "client-jwt",
    "client-secret-jwt",
    "client-x509",
];

fn providers(ids: &[&str]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"id": id, "displayName": id, "description": format!("{id} provider")}))
            .collect(),
    )
}

impl Cx<'_> {
    pub(super) fn flows(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "/{realm}/authentication/flows") => {
                let r = self.realm()?;
                let top = r.config.flows.iter().filter(|f| f["topLevel"] == true);
                let all = top.map(|f| flow_rep(r, f)).collect();
                Ok((200, Value::Array(all)))
            }
            ("POST", "/{realm}/authentication/flows") => self.create_flow(input),
            ("GET", "/{realm}/authentication/flows/{id}") => {
                let i = self.flow_by_id()?;
                let r = self.realm()?;
                Ok((200, flow_rep(r, &r.config.flows[i])))
            }
            ("PUT", "/{realm}/authentication/flows/{id}") => {
                let i = self.flow_by_id()?;
                let r = self.realm()?;
                let f = &mut r.config.flows[i];
                if let Some(d) = input.get("description").filter(|d| !d.is_null()) {
                    f["description"] = d.clone();
                }
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/authentication/flows/{id}") => self.delete_flow(),
            ("GET", "/{realm}/authentication/flows/{flowAlias}/executions") => {
                let id = self.flow_by_alias()?;
                let r = self.realm()?;
                let mut out = Vec::new();
                steps(r, &id, 0, &mut out);
                Ok((200, Value::Array(out)))
            }
            ("PUT", "/{realm}/authentication/flows/{flowAlias}/executions") => {
                self.flow_by_alias()?;
                let id = str_of(&input, "id").to_string();
                let r = self.realm()?;
                let e = r
                    .config
                    .executions
                    .iter_mut()
                    .find(|e| e["id"] == id.as_str())
                    .ok_or_else(|| not_found("execution"))?;
                if let Some(req) = input.get("requirement").filter(|v| v.is_string()) {
                    e["requirement"] = req.clone();
                }
                Ok((204, Value::Null))
            }
            ("POST", "/{realm}/authentication/flows/{flowAlias}/executions/execution") => {
                self.add_execution(input)
            }
            ("POST", "/{realm}/authentication/flows/{flowAlias}/executions/flow") => {
                self.add_sub_flow(input)
            }
            ("DELETE", "/{realm}/authentication/executions/{executionId}") => {
                let id = self.p("executionId");
                let r = self.realm()?;
                let e = r
                    .config
                    .executions
                    .iter()
                    .find(|e| e["id"] == id.as_str())
                    .cloned()
                    .ok_or_else(|| not_found("execution"))?;
                delete_step(r, &e);
                Ok((204, Value::Null))
            }
            ("POST", "/{realm}/authentication/executions/{executionId}/config") => {
                self.add_config(input)
            }
            ("GET", "/{realm}/authentication/config/{id}") => {
                let id = self.p("id");
                let r = self.realm()?;
                let c = r.config.configs.iter().find(|c| c["id"] == id.as_str());
                c.cloned()
                    .map(|c| (200, c))
                    .ok_or_else(|| not_found("config"))
            }
            ("PUT", "/{realm}/authentication/config/{id}") => {
                let id = self.p("id");
                let r = self.realm()?;
                let c = r
                    .config
                    .configs
                    .iter_mut()
                    .find(|c| c["id"] == id.as_str())
                    .ok_or_else(|| not_found("config"))?;
                c["alias"] = input["alias"].clone();
                c["config"] = input.get("config").cloned().unwrap_or(json!({}));
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/authentication/config/{id}") => {
                let id = self.p("id");
                let r = self.realm()?;
                let before = r.config.configs.len();
                r.config.configs.retain(|c| c["id"] != id.as_str());
                if r.config.configs.len() == before {
                    return Err(not_found("config"));
                }
                for e in &mut r.config.executions {
                    if e["authenticatorConfig"] == id.as_str() {
                        e.as_object_mut().map(|o| o.remove("authenticatorConfig"));
                    }
                }
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/authentication/authenticator-providers") => {
                self.server_realm()?;
                Ok((200, providers(AUTHENTICATORS)))
            }
            ("GET", "/{realm}/authentication/form-action-providers") => {
                self.server_realm()?;
                Ok((200, providers(FORM_ACTIONS)))
            }
            ("GET", "/{realm}/authentication/form-providers") => {
                self.server_realm()?;
                Ok((200, providers(FORMS)))
            }
            ("GET", "/{realm}/authentication/client-authenticator-providers") => {
                self.server_realm()?;
                Ok((200, providers(CLIENT_AUTHENTICATORS)))
            }
            ("GET", "/{realm}/authentication/required-actions/{alias}") => {
                let alias = self.p("alias");
                let r = self.realm()?;
                let a = r
                    .config
                    .required_actions
                    .iter()
                    .find(|a| a["alias"] == alias.as_str());
                a.cloned()
                    .map(|a| (200, a))
                    .ok_or_else(|| not_found("required action"))
            }
            ("POST", "/{realm}/authentication/register-required-action") => {
                let provider = str_of(&input, "providerId").to_string();
                let name = input.get("name").cloned().unwrap_or(json!(provider));
                let r = self.realm()?;
                if provider.is_empty() {
                    return Err(error(400, "Provider id is missing"));
                }
                let actions = &mut r.config.required_actions;
                if actions.iter().any(|a| a["alias"] == provider.as_str()) {
                    return Err(error(409, "Required action already exists"));
                }
                let priority = actions
                    .iter()
                    .filter_map(|a| a["priority"].as_u64())
                    .max()
                    .unwrap_or(0)
                    + 10;
                actions.push(
                    json!({"alias": provider, "name": name, "providerId": provider, "enabled": true,
                    "defaultAction": false, "priority": priority, "config": {}}),
                );
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/authentication/required-actions/{alias}") => {
                let alias = self.p("alias");
                let actions = &mut self.realm()?.config.required_actions;
                let before = actions.len();
                actions.retain(|a| a["alias"] != alias.as_str());
                if actions.len() == before {
                    return Err(not_found("required action"));
                }
                Ok((204, Value::Null))
            }
            _ => Err(UNROUTED),
        }
    }

    /// A realm of the server: one of the double's, or `master` (every Keycloak has it; the double keeps it
    /// for signing in only).
    fn server_realm(&mut self) -> Result<(), (u16, Value)> {
        if self.p("realm") == "master" {
            return Ok(());
        }
        self.realm().map(|_| ())
    }

    fn flow_by_id(&mut self) -> Result<usize, (u16, Value)> {
        let id = self.p("id");
        let r = self.realm()?;
        r.config
            .flows
            .iter()
            .position(|f| f["id"] == id.as_str())
            .ok_or_else(|| not_found("flow"))
    }

    /// The id of the flow the path names by alias.
    fn flow_by_alias(&mut self) -> Result<String, (u16, Value)> {
        let alias = self.p("flowAlias");
        let r = self.realm()?;
        r.config
            .flows
            .iter()
            .find(|f| f["alias"] == alias.as_str())
            .map(|f| str_of(f, "id").to_string())
            .ok_or_else(|| not_found("flow"))
    }

    pub(super) fn create_flow(&mut self, input: Value) -> Routed {
        let alias = str_of(&input, "alias").to_string();
        if alias.is_empty() {
            return Err(error(400, "Flow alias is missing"));
        }
        let id = self.id();
        let flows = &mut self.realm()?.config.flows;
        if flows.iter().any(|f| f["alias"] == alias.as_str()) {
            return Err(error(409, &format!("Flow {alias} already exists")));
        }
        flows.push(
            json!({"id": id, "alias": alias, "description": str_of(&input, "description"),
            "providerId": input.get("providerId").cloned().unwrap_or(json!("basic-flow")),
            "topLevel": input.get("topLevel").cloned().unwrap_or(json!(true)), "builtIn": false}),
        );
        let realm = self.p("realm");
        Ok(self.created(&format!(
            "{}/authentication/flows/{id}",
            http::encode(&realm)
        )))
    }

    /// The flow the path names, its type, and the next priority in it.
    fn parent(&mut self) -> Result<(String, String, u64), (u16, Value)> {
        let id = self.flow_by_alias()?;
        let r = self.realm()?;
        let kind = r.config.flows.iter().find(|f| f["id"] == id.as_str());
        let kind = kind
            .map(|f| str_of(f, "providerId").to_string())
            .unwrap_or_default();
        let last = r
            .config
            .executions
            .iter()
            .filter(|e| e["parentFlow"] == id.as_str());
        let next = last
            .filter_map(|e| e["priority"].as_u64())
            .max()
            .unwrap_or(0)
            + 10;
        Ok((id, kind, next))
    }

    fn add_execution(&mut self, input: Value) -> Routed {
        let provider = str_of(&input, "provider").to_string();
        let (parent, kind, priority) = self.parent()?;
        let offered = match kind.as_str() {
            "form-flow" => FORM_ACTIONS,
            "client-flow" => CLIENT_AUTHENTICATORS,
            _ => AUTHENTICATORS,
        };
        if !offered.contains(&provider.as_str()) {
            return Err(error(
                400,
                &format!("No authentication provider found for id: {provider}"),
            ));
        }
        let id = self.id();
        self.realm()?
            .config
            .executions
            .push(json!({"id": id, "parentFlow": parent,
            "authenticator": provider, "authenticatorFlow": false, "requirement": "DISABLED",
            "priority": priority}));
        let realm = self.p("realm");
        Ok(self.created(&format!(
            "{}/authentication/executions/{id}",
            http::encode(&realm)
        )))
    }

    fn add_sub_flow(&mut self, input: Value) -> Routed {
        let alias = str_of(&input, "alias").to_string();
        let kind = input
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("basic-flow")
            .to_string();
        let form = str_of(&input, "provider").to_string();
        if alias.is_empty() {
            return Err(error(400, "Flow alias is missing"));
        }
        if kind == "form-flow" && !FORMS.contains(&form.as_str()) {
            return Err(error(
                400,
                &format!("No form provider found for id: {form}"),
            ));
        }
        let (parent, _, priority) = self.parent()?;
        let (flow_id, exec_id) = (self.id(), self.id());
        let r = self.realm()?;
        if r.config.flows.iter().any(|f| f["alias"] == alias.as_str()) {
            return Err(error(409, "New flow alias name already exists"));
        }
        r.config
            .flows
            .push(json!({"id": flow_id, "alias": alias, "providerId": kind,
            "description": str_of(&input, "description"), "topLevel": false, "builtIn": false}));
        let mut e = json!({"id": exec_id, "parentFlow": parent, "authenticatorFlow": true,
            "flowId": flow_id, "requirement": "DISABLED", "priority": priority});
        if kind == "form-flow" {
            e["authenticator"] = json!(form);
        }
        r.config.executions.push(e);
        let realm = self.p("realm");
        Ok(self.created(&format!(
            "{}/authentication/flows/{flow_id}",
            http::encode(&realm)
        )))
    }

    fn add_config(&mut self, input: Value) -> Routed {
        let exec = self.p("executionId");
        let alias = str_of(&input, "alias").to_string();
        let id = self.id();
        let r = self.realm()?;
        if !r.config.executions.iter().any(|e| e["id"] == exec.as_str()) {
            return Err(not_found("execution"));
        }
        if alias.is_empty() {
            return Err(error(400, "Authenticator config alias is missing"));
        }
        if r.config
            .configs
            .iter()
            .any(|c| c["alias"] == alias.as_str())
        {
            return Err(error(
                409,
                &format!("Authenticator config {alias} already exists"),
            ));
        }
        r.config.configs.push(json!({"id": id, "alias": alias,
            "config": input.get("config").cloned().unwrap_or(json!({}))}));
        if let Some(e) = r
            .config
            .executions
            .iter_mut()
            .find(|e| e["id"] == exec.as_str())
        {
            e["authenticatorConfig"] = json!(id);
        }
        let realm = self.p("realm");
        Ok(self.created(&format!(
            "{}/authentication/config/{id}",
            http::encode(&realm)
        )))
    }

    fn delete_flow(&mut self) -> Routed {
        let i = self.flow_by_id()?;
        let r = self.realm()?;
        let f = r.config.flows[i].clone();
        if f["builtIn"] == true {
            return Err(error(400, "Can't delete built in flow"));
        }
        let alias = str_of(&f, "alias");
        let bound = r.rep.iter().any(|(k, v)| k.ends_with("Flow") && v == alias)
            || r.clients.iter().any(|c| {
                obj(c
                    .rep
                    .get("authenticationFlowBindingOverrides")
                    .unwrap_or(&Value::Null))
                .values()
                .any(|v| *v == f["id"])
            });
        if bound {
            return Err(error(400, "Cannot delete flow, it is used"));
        }
        delete_flow_deep(r, str_of(&f, "id"));
        Ok((204, Value::Null))
    }
}

/// A flow as `AuthenticationFlowRepresentation`, its executions as Keycloak exports them.
fn flow_rep(r: &RealmS, f: &Value) -> Value {
    let id = str_of(f, "id");
    let mut own: Vec<&Value> = r
        .config
        .executions
        .iter()
        .filter(|e| e["parentFlow"] == id)
        .collect();
    own.sort_by_key(|e| e["priority"].as_u64());
    let executions: Vec<Value> = own
        .iter()
        .map(|e| {
            let mut x = json!({"requirement": e["requirement"], "priority": e["priority"],
                "authenticatorFlow": e["authenticatorFlow"], "autheticatorFlow": e["authenticatorFlow"],
                "userSetupAllowed": false});
            if let Some(a) = e.get("authenticator") {
                x["authenticator"] = a.clone();
            }
            if let Some(sub) = r.config.flows.iter().find(|f| f["id"] == e["flowId"]) {
                x["flowAlias"] = sub["alias"].clone();
            }
            if let Some(c) = r.config.configs.iter().find(|c| c["id"] == e["authenticatorConfig"]) {
                x["authenticatorConfig"] = c["alias"].clone();
            }
            x
        })
        .collect();
    let mut rep = f.clone();
    rep["authenticationExecutions"] = Value::Array(executions);
    rep
}

/// The steps of a flow, depth first, as `AuthenticationExecutionInfoRepresentation`s.
fn steps(r: &RealmS, flow: &str, level: u64, out: &mut Vec<Value>) {
    let mut own: Vec<&Value> = r
        .config
        .executions
        .iter()
        .filter(|e| e["parentFlow"] == flow)
        .collect();
    own.sort_by_key(|e| e["priority"].as_u64());
    for (index, e) in own.into_iter().enumerate() {
        let mut x = json!({"id": e["id"], "requirement": e["requirement"], "level": level, "index": index,
            "priority": e["priority"], "authenticationFlow": e["authenticatorFlow"],
            "requirementChoices": ["REQUIRED", "ALTERNATIVE", "DISABLED", "CONDITIONAL"]});
        let sub = r.config.flows.iter().find(|f| f["id"] == e["flowId"]);
        if let Some(sub) = sub {
            x["displayName"] = sub["alias"].clone();
            x["description"] = sub["description"].clone();
            x["flowId"] = sub["id"].clone();
            x["configurable"] = json!(false);
            if sub["providerId"] == "form-flow" {
                x["providerId"] = e["authenticator"].clone();
            }
        } else {
            x["providerId"] = e["authenticator"].clone();
            x["displayName"] = e["authenticator"].clone();
            x["configurable"] = json!(true);
        }
        if let Some(c) = r
            .config
            .configs
            .iter()
            .find(|c| c["id"] == e["authenticatorConfig"])
        {
            x["authenticationConfig"] = c["id"].clone();
            x["alias"] = c["alias"].clone();
        }
        out.push(x);
        if let Some(sub) = sub {
            steps(r, str_of(sub, "id"), level + 1, out);
        }
    }
}

/// Deletes a step, and the sub-flow it is with what is in it.
fn delete_step(r: &mut RealmS, e: &Value) {
    r.config.executions.retain(|x| x["id"] != e["id"]);
    r.config
        .configs
        .retain(|c| c["id"] != e["authenticatorConfig"]);
    if let Some(sub) = e["flowId"].as_str() {
        delete_flow_deep(r, sub);
    }
}

/// Deletes a flow with its steps and their sub-flows.
fn delete_flow_deep(r: &mut RealmS, id: &str) {
    let own: Vec<Value> = r
        .config
        .executions
        .iter()
        .filter(|e| e["parentFlow"] == id)
        .cloned()
        .collect();
    for e in &own {
        delete_step(r, e);
    }
    r.config.flows.retain(|f| f["id"] != id);
}
