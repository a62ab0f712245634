//! The realm's configuration that falconer's kinds do not carry (its inventory reads it): authentication
//! flows, required actions, components, client policies and profiles, events settings, default groups and
//! localization texts. A new realm has Keycloak's built-in flows (`builtIn`), its required actions (none a
//! default action), generated keys and a client registration policy, no client policy, no stored events
//! and the `jboss-logging` listener.

use super::*;

/// Keycloak's built-in top-level flows and the realm member binding each.
const BUILTIN_FLOWS: &[(&str, &str, &str)] = &[
    ("browser", "basic-flow", "browserFlow"),
    ("direct grant", "basic-flow", "directGrantFlow"),
    ("registration", "basic-flow", "registrationFlow"),
    ("reset credentials", "basic-flow", "resetCredentialsFlow"),
    ("clients", "client-flow", "clientAuthenticationFlow"),
    ("first broker login", "basic-flow", "firstBrokerLoginFlow"),
    ("docker auth", "basic-flow", "dockerAuthenticationFlow"),
];

/// Keycloak 26's required actions: alias, enabled.
const REQUIRED_ACTIONS: &[(&str, bool)] = &[
    ("CONFIGURE_TOTP", true),
    ("TERMS_AND_CONDITIONS", false),
    ("UPDATE_PASSWORD", true),
    ("UPDATE_PROFILE", true),
    ("VERIFY_EMAIL", true),
    ("delete_account", false),
    ("webauthn-register", true),
    ("webauthn-register-passwordless", true),
    ("VERIFY_PROFILE", true),
    ("delete_credential", true),
    ("update_user_locale", true),
];

/// What a realm holds beyond the kinds falconer carries.
#[derive(Clone, Debug, Default)]
pub(super) struct ConfigS {
    /// Every flow, top level or not (`flows.rs` serves them).
    pub(super) flows: Vec<Value>,
    /// Every flow's steps, each with its `parentFlow`.
    pub(super) executions: Vec<Value>,
    /// Authenticator configs.
    pub(super) configs: Vec<Value>,
    pub(super) required_actions: Vec<Value>,
    components: Vec<Value>,
    policies: Value,
    profiles: Value,
    events: Value,
    default_groups: Vec<String>,
    /// Texts by locale, then key.
    localization: BTreeMap<String, BTreeMap<String, String>>,
}

impl ConfigS {
    /// A new realm's (`id`: the realm's id), and the realm members binding the built-in flows.
    pub(super) fn new(
        realm_id: &str,
        mut id: impl FnMut() -> String,
    ) -> (ConfigS, Map<String, Value>) {
        let mut bindings = Map::new();
        let flows = BUILTIN_FLOWS
            .iter()
            .map(|(alias, provider, member)| {
                bindings.insert(member.to_string(), json!(alias));
                json!({"id": id(), "alias": alias, "description": "", "providerId": provider,
                       "topLevel": true, "builtIn": true})
            })
            .collect();
        let required_actions = REQUIRED_ACTIONS
            .iter()
            .enumerate()
            .map(|(i, (alias, enabled))| {
                json!({"alias": alias, "name": alias, "providerId": alias, "enabled": enabled,
                       "defaultAction": false, "priority": (i + 1) * 10, "config": {}})
            })
            .collect();
        let keys = "org.keycloak.keys.KeyProvider";
        let generated = [
            ("rsa-generated", "rsa-generated"),
            ("rsa-enc-generated", "rsa-enc-generated"),
            ("hmac-generated-hs512", "hmac-generated"),
            ("aes-generated", "aes-generated"),
        ];
        let mut components: Vec<Value> = generated
            .iter()
            .map(|(name, p)| {
                json!({"id": id(), "name": name, "providerId": p, "providerType": keys,
                                    "parentId": realm_id, "config": {"priority": ["100"]}})
            })
            .collect();
        components.push(json!({"id": id(), "name": "Trusted Hosts", "providerId": "trusted-hosts",
            "providerType": "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy",
            "parentId": realm_id, "subType": "anonymous",
            "config": {"host-sending-registration-request-must-match": ["true"]}}));
        let config = ConfigS {
            flows,
            executions: Vec::new(),
            configs: Vec::new(),
            required_actions,
            components,
            policies: json!({"policies": []}),
            profiles: json!({"profiles": []}),
            events: json!({"eventsEnabled": false, "eventsListeners": ["jboss-logging"], "enabledEventTypes": [],
                           "adminEventsEnabled": false, "adminEventsDetailsEnabled": false}),
            default_groups: Vec::new(),
            localization: BTreeMap::new(),
        };
        (config, bindings)
    }
}

/// The realm representation's members that are its events settings (`RealmRepresentation`, as
/// `/events/config` answers them): one store, read and written through either.
pub(super) const EVENT_MEMBERS: &[&str] = &[
    "eventsEnabled",
    "eventsExpiration",
    "eventsListeners",
    "enabledEventTypes",
    "adminEventsEnabled",
    "adminEventsDetailsEnabled",
];

impl ConfigS {
    /// The events settings, as the realm's representation carries them.
    pub(super) fn event_settings(&self) -> Map<String, Value> {
        obj(&self.events)
    }

    /// Moves the events settings a realm representation carries into the events store.
    pub(super) fn take_events(&mut self, rep: &mut Map<String, Value>) {
        for k in EVENT_MEMBERS {
            if let Some(v) = rep.remove(*k).filter(|v| !v.is_null()) {
                self.events[*k] = v;
            }
        }
    }
}

impl KeycloakDouble {
    /// Adds a component to a realm (as `POST /{realm}/components` would: user federation, a key).
    pub fn add_component(&self, realm: &str, mut component: Value) {
        let mut w = self.world();
        let r = w.realms.get_mut(realm).expect("the realm");
        component["parentId"] = json!(r.id);
        r.config.components.push(component);
    }

    /// Sets a localization text of a realm (as `PUT /{realm}/localization/{locale}/{key}` with a text body).
    pub fn set_text(&self, realm: &str, locale: &str, key: &str, text: &str) {
        let mut w = self.world();
        let r = w.realms.get_mut(realm).expect("the realm");
        let texts = r.config.localization.entry(locale.into()).or_default();
        texts.insert(key.into(), text.into());
    }
}

impl Cx<'_> {
    pub(super) fn config(&mut self, method: &str, t: &str, input: Value) -> Routed {
        match (method, t) {
            ("GET", "/{realm}/authentication/required-actions") => Ok((
                200,
                Value::Array(self.realm()?.config.required_actions.clone()),
            )),
            ("PUT", "/{realm}/authentication/required-actions/{alias}") => {
                let alias = self.p("alias");
                let actions = &mut self.realm()?.config.required_actions;
                let a = actions
                    .iter_mut()
                    .find(|a| a["alias"] == alias.as_str())
                    .ok_or_else(|| not_found("required action"))?;
                for k in ["name", "enabled", "defaultAction", "priority", "config"] {
                    if let Some(v) = input.get(k).filter(|v| !v.is_null()) {
                        a[k] = v.clone();
                    }
                }
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/components") => {
                let ty = self.query.get("type").cloned();
                let all = self.realm()?.config.components.clone();
                let of_type = all
                    .into_iter()
                    .filter(|c| ty.as_deref().is_none_or(|t| c["providerType"] == t))
                    .collect();
                Ok((200, Value::Array(of_type)))
            }
            ("GET", "/{realm}/client-policies/policies") => {
                Ok((200, self.realm()?.config.policies.clone()))
            }
            ("PUT", "/{realm}/client-policies/policies") => {
                self.realm()?.config.policies = json!({"policies": input["policies"].clone()});
                Ok((200, Value::Null))
            }
            ("GET", "/{realm}/client-policies/profiles") => {
                Ok((200, self.realm()?.config.profiles.clone()))
            }
            ("PUT", "/{realm}/client-policies/profiles") => {
                self.realm()?.config.profiles = json!({"profiles": input["profiles"].clone()});
                Ok((200, Value::Null))
            }
            ("GET", "/{realm}/events/config") => Ok((200, self.realm()?.config.events.clone())),
            ("PUT", "/{realm}/events/config") => {
                let events = &mut self.realm()?.config.events;
                for (k, v) in obj(&input) {
                    if !v.is_null() {
                        events[k] = v;
                    }
                }
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/default-groups") => self.default_groups(),
            ("PUT", "/{realm}/default-groups/{groupId}") => {
                let id = self.p("groupId");
                let r = self.realm()?;
                if !r.groups.iter().any(|g| g.id == id) {
                    return Err(not_found("group"));
                }
                if !r.config.default_groups.contains(&id) {
                    r.config.default_groups.push(id);
                }
                Ok((204, Value::Null))
            }
            ("DELETE", "/{realm}/default-groups/{groupId}") => {
                let id = self.p("groupId");
                let r = self.realm()?;
                if !r.groups.iter().any(|g| g.id == id) {
                    return Err(not_found("group"));
                }
                r.config.default_groups.retain(|g| g != &id);
                Ok((204, Value::Null))
            }
            ("GET", "/{realm}/localization") => {
                let locales = self
                    .realm()?
                    .config
                    .localization
                    .keys()
                    .map(|l| json!(l))
                    .collect();
                Ok((200, Value::Array(locales)))
            }
            _ => Err(UNROUTED),
        }
    }

    /// The default groups, as groups with their paths.
    fn default_groups(&mut self) -> Routed {
        let r = self.realm()?;
        let groups = r
            .config
            .default_groups
            .iter()
            .filter_map(|id| r.groups.iter().find(|g| &g.id == id))
            .map(|g| json!({"id": g.id, "name": g.name, "path": group_path(r, g)}))
            .collect();
        Ok((200, Value::Array(groups)))
    }
}
