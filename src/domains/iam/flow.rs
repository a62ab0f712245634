//! Keycloak's authentication flows (with their executions, sub-flows and authenticator configs) and required
//! actions: how a realm's users sign in. The realm's flow bindings are realm fields (`browser_flow`, ...), a
//! client's are its `authentication_flow_overrides`, an identity provider's its broker login flows: each names
//! a flow by its alias. Built-in flows are referenced, never copied; a flow the tenant made is managed.

use std::collections::BTreeMap;

use super::{Realm, addr, path_name, unique_names};
use crate::diag::Rule;
use crate::domains::{Checker, HazardCx, Reference, ResourceKind};
use crate::model::flags::*;
use crate::model::{Domain, FieldMeta, Hazard, HazardCode, KindMeta, Tenant};
use crate::{choice, kind_basics, model};

/// The flows Keycloak creates in every realm (`builtIn`), by alias: referenced, never managed.
pub const BUILTIN_FLOWS: &[&str] = &[
    "browser",
    "direct grant",
    "registration",
    "reset credentials",
    "clients",
    "first broker login",
    "docker auth",
    "http challenge",
    "saml ecp",
];

/// The realm's flow bindings: the model field, Keycloak's member, and the built-in flow a new realm binds.
pub const REALM_BINDINGS: &[(&str, &str, &str)] = &[
    ("browser_flow", "browserFlow", "browser"),
    ("direct_grant_flow", "directGrantFlow", "direct grant"),
    ("registration_flow", "registrationFlow", "registration"),
    ("reset_credentials_flow", "resetCredentialsFlow", "reset credentials"),
    ("client_authentication_flow", "clientAuthenticationFlow", "clients"),
    ("docker_authentication_flow", "dockerAuthenticationFlow", "docker auth"),
    ("first_broker_login_flow", "firstBrokerLoginFlow", "first broker login"),
];

/// The bindings a client may override (`authenticationFlowBindingOverrides`).
pub const CLIENT_OVERRIDES: &[&str] = &["browser", "direct_grant"];

/// Keycloak's required actions of a new realm, and whether each is enabled there (Keycloak 26).
pub const REQUIRED_ACTIONS: &[(&str, bool)] = &[
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

choice! { "SCREAMING_SNAKE_CASE";
    /// How a step counts in its flow.
    pub enum Requirement { Required, Alternative, Conditional, Disabled }
}

choice! { "kebab-case";
    /// A top-level flow's type: users sign in through a basic flow, clients through a client flow.
    pub enum FlowType { BasicFlow, ClientFlow }
}

model! {
    /// An authenticator's settings (Keycloak's `AuthenticatorConfigRepresentation`).
    pub struct AuthenticatorConfig {
        /// Unique in the realm.
        pub alias: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub config: BTreeMap<String, String>,
    }

    /// A step of a flow: an authenticator, or a sub-flow with steps of its own (in order).
    pub struct Execution {
        /// The authenticator's provider id (`auth-cookie`, `auth-otp-form`); not set for a sub-flow.
        pub authenticator: Option<String>,
        /// A sub-flow's alias (unique in the realm); not set for an authenticator.
        pub flow: Option<String>,
        /// A sub-flow's description.
        pub description: Option<String>,
        /// A form sub-flow's form provider (`registration-page-form`); a sub-flow without one is a basic flow.
        pub form: Option<String>,
        pub requirement: Requirement,
        /// The authenticator's settings.
        pub config: Option<AuthenticatorConfig>,
        /// A sub-flow's steps, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub execution: Vec<Execution>,
    }

    /// An authentication flow the tenant made (a copy of a built-in one, or its own), with its steps in order.
    pub struct AuthenticationFlow {
        pub alias: String,
        pub description: Option<String>,
        /// Default `basic-flow`.
        pub provider_id: Option<FlowType>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub execution: Vec<Execution>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A required action a realm can ask of its users (enabled, asked of every new user, its place).
    pub struct RequiredAction {
        /// `CONFIGURE_TOTP`, `VERIFY_EMAIL`, ... or a provider's own.
        pub alias: String,
        pub name: Option<String>,
        /// Default: the alias (Keycloak's built-in actions).
        pub provider_id: Option<String>,
        pub enabled: Option<bool>,
        /// Asked of every new user.
        pub default_action: Option<bool>,
        /// Its place among the actions (lower first).
        pub priority: Option<u32>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub config: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

impl Execution {
    /// Whether the step is a sub-flow.
    pub fn is_flow(&self) -> bool {
        self.flow.is_some()
    }

    /// The steps' shape: each step's authenticator or sub-flow (alias and form), nested. Two flows of one
    /// shape differ only in what can be changed in place (requirements, configs, descriptions).
    pub fn shape(steps: &[Execution]) -> Vec<String> {
        let mut out = Vec::new();
        for e in steps {
            out.push(match &e.flow {
                Some(f) => format!("flow {f} {}", e.form.as_deref().unwrap_or_default()),
                None => format!("step {}", e.authenticator.as_deref().unwrap_or_default()),
            });
            out.extend(Execution::shape(&e.execution).into_iter().map(|s| format!("  {s}")));
        }
        out
    }

    /// Every step, depth first, with the alias of the flow it is in.
    pub fn walk<'a>(parent: &'a str, steps: &'a [Execution], out: &mut Vec<(&'a str, &'a Execution)>) {
        for e in steps {
            out.push((parent, e));
            if let Some(f) = &e.flow {
                Execution::walk(f, &e.execution, out);
            }
        }
    }
}

/// Whether an alias names one of Keycloak's built-in flows.
pub fn builtin_flow(alias: &str) -> bool {
    BUILTIN_FLOWS.contains(&alias)
}

/// A reference to the flow `alias` names, unless it is a built-in one.
pub fn flow_ref(field: String, alias: &str, out: &mut Vec<Reference>) {
    if !builtin_flow(alias) && !alias.is_empty() {
        out.push(Reference::to(field, addr("authentication_flow", alias)));
    }
}

pub(super) const FLOW_STEP: Rule = Rule {
    id: "keycloak-flow-step",
    says: "a flow's step is an authenticator or a sub-flow, not both and not neither, and only a sub-flow \
           has steps of its own",
    source: "Keycloak Admin REST API, AuthenticationExecutionRepresentation (`authenticator` or \
             `authenticatorFlow` with `flowId`)",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.authentication_flow]]\nalias = \"mfa\"\n\
             [[iam.authentication_flow.execution]]\nrequirement = \"REQUIRED\"\n",
};

pub(super) const AUTHENTICATOR: Rule = Rule {
    id: "keycloak-authenticator",
    says: "a step names an authenticator (a form sub-flow a form provider) that the server offers: its \
           authenticators, form actions (in a form sub-flow), form providers and client authenticators (in a \
           client flow), as the admin API lists them; checked against the server before writing",
    source: "Keycloak Admin REST API, GET /authentication/authenticator-providers, form-action-providers, \
             form-providers, client-authenticator-providers; POST .../executions/execution (400: `No \
             authentication provider found for id`)",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.authentication_flow]]\nalias = \"mfa\"\n\
             [[iam.authentication_flow.execution]]\nauthenticator = \"\"\nrequirement = \"REQUIRED\"\n",
};

pub(super) const FLOW_ALIAS: Rule = Rule {
    id: "keycloak-flow-alias",
    says: "a flow's alias (sub-flows' too) is unique in the realm and is not a built-in flow's, and an \
           authenticator config's alias is unique in the realm",
    source: "Keycloak Admin REST API, POST /authentication/flows and .../executions/flow (409 Conflict: \
             `Flow ... already exists`), POST .../config (409 Conflict)",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.authentication_flow]]\nalias = \"browser\"\n",
};

static AUTHENTICATION_FLOW: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "authentication_flow",
    title: "Keycloak authentication flow",
    identity: &["alias"],
    holds_data: false,
    fields: &[
        FieldMeta::new("description", SERVER_DEFAULT),
        FieldMeta::new("provider_id", SERVER_DEFAULT | IMMUTABLE),
        FieldMeta::new("depends_on", SET),
    ],
};

fn check_steps(cx: &mut Checker<'_>, field: &str, steps: &[Execution]) {
    for (i, e) in steps.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let nested = !e.execution.is_empty();
        match (&e.authenticator, &e.flow) {
            (Some(_), Some(_)) | (None, None) => {
                cx.rule(&at, &FLOW_STEP, "a step needs either `authenticator` or `flow`");
            }
            (Some(_), None) if nested || e.form.is_some() => {
                cx.rule(&at, &FLOW_STEP, "an authenticator has no steps or form of its own");
            }
            (Some(a), None) if a.trim().is_empty() => {
                cx.rule(&format!("{at}.authenticator"), &AUTHENTICATOR, "the authenticator is empty");
            }
            (None, Some(f)) => {
                path_name(cx, &format!("{at}.flow"), f, "sub-flow alias");
                if e.config.is_some() && e.form.is_none() {
                    cx.rule(&at, &FLOW_STEP, "a basic sub-flow has no authenticator config");
                }
            }
            _ => {}
        }
        check_steps(cx, &format!("{at}.execution"), &e.execution);
    }
}

impl ResourceKind for AuthenticationFlow {
    kind_basics!(AUTHENTICATION_FLOW, |self| { vec![self.alias.clone()] });
    fn normalize(&mut self) {
        if self.provider_id == Some(FlowType::BasicFlow) {
            self.provider_id = None;
        }
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        vec![super::realm_ref(tenant)]
    }
    fn check(&self, cx: &mut Checker<'_>) {
        path_name(cx, "alias", &self.alias, "flow alias");
        if builtin_flow(&self.alias) {
            cx.rule(
                "alias",
                &FLOW_ALIAS,
                format!("`{}` is a flow Keycloak creates in every realm", self.alias),
            )
            .help = Some("copy it under an alias of your own, and bind that".into());
        }
        check_steps(cx, "execution", &self.execution);
        let mut steps = Vec::new();
        Execution::walk(&self.alias, &self.execution, &mut steps);
        let flows = steps.iter().filter_map(|(_, e)| e.flow.as_deref());
        let all = std::iter::once(self.alias.as_str()).chain(flows);
        unique_names(cx, "execution", "flow alias", all);
        let configs = steps.iter().filter_map(|(_, e)| e.config.as_ref());
        unique_names(cx, "execution", "authenticator config", configs.map(|c| c.alias.as_str()));
    }
    fn delete_hazards(&self) -> Vec<Hazard> {
        vec![Hazard::new(
            HazardCode::ChangesSignIn,
            format!(
                "flow {} is deleted: what binds it (the realm, a client, an identity provider) goes back to \
                 Keycloak's own flow",
                self.alias
            ),
        )]
    }
    fn hazards(&self, live: Option<&Self>, _: &HazardCx<'_>) -> Vec<Hazard> {
        match live {
            Some(l) if l.execution != self.execution => vec![Hazard::new(
                HazardCode::ChangesSignIn,
                format!(
                    "flow {} changes its steps: users signing in through it meet the new ones, and a \
                     mistake can lock them out",
                    self.alias
                ),
            )],
            _ => Vec::new(),
        }
    }
    // Inside the realm: its names are the realm's own, the same in any tenant.
    fn rename(&mut self, _: &crate::domains::rename::Renamer) {}
}

static REQUIRED_ACTION: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "required_action",
    title: "Keycloak required action",
    identity: &["alias"],
    holds_data: false,
    fields: &[
        FieldMeta::new("name", SERVER_DEFAULT),
        FieldMeta::new("provider_id", SERVER_DEFAULT | IMMUTABLE),
        FieldMeta::new("enabled", SERVER_DEFAULT),
        FieldMeta::new("default_action", SERVER_DEFAULT),
        FieldMeta::new("priority", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for RequiredAction {
    kind_basics!(REQUIRED_ACTION, |self| { vec![self.alias.clone()] });
    fn normalize(&mut self) {
        if self.provider_id.as_deref() == Some(self.alias.as_str()) {
            self.provider_id = None;
        }
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        vec![super::realm_ref(tenant)]
    }
    fn check(&self, cx: &mut Checker<'_>) {
        path_name(cx, "alias", &self.alias, "required action alias");
        if self.default_action == Some(true) && self.enabled == Some(false) {
            cx.error(
                "default_action",
                "conflict",
                "a disabled required action cannot be asked of every new user",
            );
        }
    }
    fn hazards(&self, live: Option<&Self>, _: &HazardCx<'_>) -> Vec<Hazard> {
        let asked = |a: Option<&RequiredAction>| a.and_then(|a| a.default_action) == Some(true);
        if asked(Some(self)) && live.is_some() && !asked(live) {
            return vec![Hazard::new(
                HazardCode::ChangesSignIn,
                format!("every new user must complete {} before signing in", self.alias),
            )];
        }
        Vec::new()
    }
    // Inside the realm: its names are the realm's own, the same in any tenant.
    fn rename(&mut self, _: &crate::domains::rename::Renamer) {}
}

/// The realm's bindings as (model field, alias), from its representation in a manifest.
pub fn realm_bindings(r: &Realm) -> Vec<(&'static str, &str)> {
    let v = [
        &r.browser_flow,
        &r.direct_grant_flow,
        &r.registration_flow,
        &r.reset_credentials_flow,
        &r.client_authentication_flow,
        &r.docker_authentication_flow,
        &r.first_broker_login_flow,
    ];
    REALM_BINDINGS
        .iter()
        .zip(v)
        .filter_map(|((field, _, _), alias)| Some((*field, alias.as_deref()?)))
        .collect()
}

/// Hazards of a realm's change of bindings: each binding that changes on a realm that exists.
pub fn binding_hazards(d: &Realm, live: Option<&Realm>) -> Vec<Hazard> {
    let Some(l) = live else {
        return Vec::new();
    };
    let was: BTreeMap<&str, &str> = realm_bindings(l).into_iter().collect();
    realm_bindings(d)
        .into_iter()
        .filter(|(f, a)| was.get(f).is_some_and(|w| w != a))
        .map(|(f, a)| {
            Hazard::new(
                HazardCode::ChangesSignIn,
                format!(
                    "realm {} binds {f} to `{a}` (was `{}`): users sign in through it, and a broken \
                     flow locks them out",
                    d.name, was[f]
                ),
            )
        })
        .collect()
}
