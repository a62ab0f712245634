//! Keycloak: realm settings, realm roles, clients (with client roles, scopes and protocol mappers), client
//! scopes, identity providers and groups. Never users or sessions.

use crate::diag::Rule;
use super::ResourceKind;
use std::collections::{BTreeMap, HashSet};

pub mod apply;
pub mod baseline;
pub mod client;
pub mod flow;
pub mod flow_read;
pub mod flow_write;
pub mod inspect;
pub mod inventory;
pub mod provider;
pub mod session;

/// The domain's live system, for the registry ([`crate::for_each_domain`]).
pub type Provider = provider::Iam;

pub mod rep;

use super::{Checker, Reference};
use crate::model::flags::*;
use crate::model::{Address, Domain, FieldMeta, Hazard, HazardCode, KindMeta, SecretValue, Tenant};
use crate::{choice, kind_basics, model};
use crate::model::Scope;

/// The tenant's realm.
pub static REALM_SCOPE: Scope = Scope {
    name: "realm",
    key: "realm",
    many: false,
    prefix: false,
    default: str::to_string,
    doc: "Keycloak realm. Default: the tenant id.",
};

/// The scopes of Keycloak's objects (the registry's `domains::scopes`).
pub static SCOPES: &[&Scope] = &[&REALM_SCOPE];

/// Client scopes every Keycloak realm has.
pub const BUILTIN_SCOPES: &[&str] = &[
    "acr",
    "address",
    "basic",
    "email",
    "microprofile-jwt",
    "offline_access",
    "organization",
    "phone",
    "profile",
    "role_list",
    "roles",
    "saml_organization",
    "service_account",
    "web-origins",
];

/// Clients every Keycloak realm has.
pub const BUILTIN_CLIENTS: &[&str] = &[
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];

pub fn builtin_realm_role(name: &str, realm: &str) -> bool {
    name == "offline_access"
        || name == "uma_authorization"
        || name == format!("default-roles-{realm}")
}

fn addr(kind: &'static str, seg: &str) -> Address {
    Address::new(Domain::Iam, kind, vec![seg.to_string()])
}

choice! { "lowercase";
    pub enum SslRequired { None, External, All }
}

choice! { "kebab-case";
    pub enum Protocol { OpenidConnect, Saml }
}

model! {
    /// The tenant's realm settings (the realm itself is the tenant's; at most one per manifest).
    pub struct Realm {
        pub name: String,
        pub display_name: Option<String>,
        pub enabled: Option<bool>,
        pub ssl_required: Option<SslRequired>,
        pub registration_allowed: Option<bool>,
        pub registration_email_as_username: Option<bool>,
        pub remember_me: Option<bool>,
        pub verify_email: Option<bool>,
        pub login_with_email_allowed: Option<bool>,
        pub duplicate_emails_allowed: Option<bool>,
        pub reset_password_allowed: Option<bool>,
        pub edit_username_allowed: Option<bool>,
        pub brute_force_protected: Option<bool>,
        pub login_theme: Option<String>,
        pub account_theme: Option<String>,
        pub admin_theme: Option<String>,
        pub email_theme: Option<String>,
        pub internationalization_enabled: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub supported_locales: Vec<String>,
        pub default_locale: Option<String>,
        /// Seconds.
        pub access_token_lifespan: Option<u32>,
        /// Seconds.
        pub access_code_lifespan: Option<u32>,
        /// Seconds.
        pub sso_session_idle_timeout: Option<u32>,
        /// Seconds.
        pub sso_session_max_lifespan: Option<u32>,
        /// Seconds.
        pub offline_session_idle_timeout: Option<u32>,
        /// Keycloak password policy string, e.g. `length(12) and notUsername`.
        pub password_policy: Option<String>,
        /// The flow users sign in through in a browser (an alias; built in: `browser`).
        pub browser_flow: Option<String>,
        /// The flow of the direct grant (password) login (built in: `direct grant`).
        pub direct_grant_flow: Option<String>,
        /// The flow of self-registration (built in: `registration`).
        pub registration_flow: Option<String>,
        /// The flow of a forgotten password (built in: `reset credentials`).
        pub reset_credentials_flow: Option<String>,
        /// The flow clients authenticate through (built in: `clients`).
        pub client_authentication_flow: Option<String>,
        /// The flow of Docker's authentication (built in: `docker auth`).
        pub docker_authentication_flow: Option<String>,
        /// The flow of a first login through an identity provider (built in: `first broker login`).
        pub first_broker_login_flow: Option<String>,
        /// Whether the realm stores its users' events (sign-ins, sign-outs, ...).
        pub events_enabled: Option<bool>,
        /// Seconds a stored user event is kept (none: until deleted).
        pub events_expiration: Option<u64>,
        /// Where events go (built in: `jboss-logging`, the server's log; `email`, ...).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub events_listeners: Vec<String>,
        /// The user event types stored (none: every type).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub enabled_event_types: Vec<String>,
        /// Whether the realm stores its administrators' changes.
        pub admin_events_enabled: Option<bool>,
        /// Whether a stored admin event holds the representation sent.
        pub admin_events_details_enabled: Option<bool>,
        pub smtp: Option<Box<Smtp>>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub attributes: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    pub struct Smtp {
        pub host: String,
        pub port: Option<u16>,
        pub from: String,
        pub from_display_name: Option<String>,
        pub reply_to: Option<String>,
        pub ssl: Option<bool>,
        pub starttls: Option<bool>,
        pub user: Option<String>,
        pub password: Option<SecretValue>,
    }

    /// Roles a composite role (or a group, or a service account) contains.
    #[derive(Default)]
    pub struct RoleSet {
        /// Realm roles.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub realm: Vec<String>,
        /// Client roles, by client id.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub client: BTreeMap<String, Vec<String>>,
    }

    /// A realm role.
    pub struct Role {
        pub name: String,
        pub description: Option<String>,
        /// Makes the role a composite of these roles.
        pub composites: Option<RoleSet>,
        /// Every new user gets the role (one of the realm's default roles, `default-roles-<realm>`).
        pub default: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub attributes: BTreeMap<String, Vec<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A client role (inside its client).
    pub struct ClientRole {
        pub name: String,
        pub description: Option<String>,
        pub composites: Option<RoleSet>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub attributes: BTreeMap<String, Vec<String>>,
    }

    pub struct ProtocolMapper {
        pub name: String,
        /// Default: the protocol of the client or scope.
        pub protocol: Option<Protocol>,
        /// The mapper type, e.g. `oidc-usermodel-attribute-mapper`.
        pub protocol_mapper: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub config: BTreeMap<String, String>,
    }

    /// A client.
    pub struct Client {
        pub client_id: String,
        pub name: Option<String>,
        pub description: Option<String>,
        pub enabled: Option<bool>,
        pub protocol: Option<Protocol>,
        pub public_client: Option<bool>,
        pub bearer_only: Option<bool>,
        /// The client secret (confidential clients).
        pub secret: Option<SecretValue>,
        pub root_url: Option<String>,
        pub base_url: Option<String>,
        pub admin_url: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub redirect_uris: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub web_origins: Vec<String>,
        pub standard_flow_enabled: Option<bool>,
        pub implicit_flow_enabled: Option<bool>,
        pub direct_access_grants_enabled: Option<bool>,
        pub service_accounts_enabled: Option<bool>,
        pub consent_required: Option<bool>,
        pub full_scope_allowed: Option<bool>,
        pub frontchannel_logout: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub attributes: BTreeMap<String, String>,
        pub default_client_scopes: Option<Vec<String>>,
        pub optional_client_scopes: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub protocol_mapper: Vec<ProtocolMapper>,
        /// Flows this client signs in through instead of the realm's (`browser`, `direct_grant`), by alias.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub authentication_flow_overrides: BTreeMap<String, String>,
        /// Client roles.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub role: Vec<ClientRole>,
        /// Roles of the client's service account.
        pub service_account_roles: Option<RoleSet>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A client scope.
    pub struct ClientScope {
        pub name: String,
        pub description: Option<String>,
        pub protocol: Option<Protocol>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub attributes: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub protocol_mapper: Vec<ProtocolMapper>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// An identity provider (brokering to another IdP).
    pub struct IdentityProvider {
        pub alias: String,
        pub display_name: Option<String>,
        /// `oidc`, `saml`, `google`, `github`, ...
        pub provider_id: String,
        pub enabled: Option<bool>,
        pub trust_email: Option<bool>,
        pub store_token: Option<bool>,
        pub link_only: Option<bool>,
        pub first_broker_login_flow_alias: Option<String>,
        pub post_broker_login_flow_alias: Option<String>,
        /// The provider's `clientSecret` (kept out of `config`).
        pub client_secret: Option<SecretValue>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub config: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub mapper: Vec<IdpMapper>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    pub struct IdpMapper {
        pub name: String,
        /// The mapper type, e.g. `hardcoded-role-idp-mapper`.
        pub identity_provider_mapper: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub config: BTreeMap<String, String>,
    }

    /// A group (top level, or under `parent`).
    pub struct Group {
        pub name: String,
        /// Path of the parent group, e.g. `staff` or `staff/admins`.
        pub parent: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub attributes: BTreeMap<String, Vec<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub realm_roles: Vec<String>,
        /// Client roles, by client id.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub client_roles: BTreeMap<String, Vec<String>>,
        /// Every new user joins the group (one of the realm's default groups).
        pub default: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

/// A flag whose absence means off (a default role or group): `false` is written as its absence, so a manifest
/// that leaves it out asks for it off.
fn off_is_absent(flag: &mut Option<bool>) {
    if *flag == Some(false) {
        *flag = None;
    }
}

impl Group {
    /// `parent/name`, without a leading `/`.
    pub fn path(&self) -> String {
        match &self.parent {
            Some(p) if !p.trim_matches('/').is_empty() => {
                format!("{}/{}", p.trim_matches('/'), self.name)
            }
            _ => self.name.clone(),
        }
    }
}

/// Every IAM resource lives in the tenant's realm: its container, ordered after the realm's settings.
pub(super) fn realm_ref(tenant: &Tenant) -> Reference {
    Reference::container("realm", addr("realm", &tenant.name(&REALM_SCOPE)))
}

/// References from a set of roles to the resources that define them.
fn role_refs(field: &str, set: &RoleSet, realm: &str, out: &mut Vec<Reference>) {
    for (i, r) in set.realm.iter().enumerate() {
        if !builtin_realm_role(r, realm) {
            out.push(Reference::to(
                format!("{field}.realm[{i}]"),
                addr("role", r),
            ));
        }
    }
    for client in set.client.keys() {
        if !BUILTIN_CLIENTS.contains(&client.as_str()) {
            out.push(Reference::to(
                format!("{field}.client.{client}"),
                addr("client", client),
            ));
        }
    }
}

/// The rules Keycloak holds a realm's objects to (the table in docs/iam.md).
pub const RULES: &[Rule] = &[
    NAMES,
    PATH_NAME,
    SCOPE_NAME,
    GROUP_NAME,
    REDIRECT_URIS,
    flow::FLOW_STEP,
    flow::FLOW_ALIAS,
    flow::AUTHENTICATOR,
    BINDING,
];

const BINDING: Rule = Rule {
    id: "keycloak-flow-binding",
    says: "a client overrides only its `browser` and `direct_grant` flows",
    source: "Keycloak Admin REST API, ClientRepresentation.authenticationFlowBindingOverrides; Server \
             Administration Guide, Authentication flows",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.client]]\nclient_id = \"web\"\n\
             redirect_uris = [\"https://web.example/*\"]\n\
             authentication_flow_overrides = { registration = \"browser\" }\n",
};

const PATH_NAME: Rule = Rule {
    id: "keycloak-path-name",
    says: "a name the admin API reads from a URL path (a realm, a realm or client role, a group, an identity \
           provider's alias) is not `.` or `..`",
    source: "RFC 3986 section 5.2.4 (remove_dot_segments) and the WHATWG URL Standard (`%2e` is a dot): a \
             URL path resolves such a segment, so the request reaches another resource",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.role]]\nname = \"..\"\n",
};

const NAMES: Rule = Rule {
    id: "keycloak-name",
    says: "a realm, role, group, client, client scope and mapper has a name, unique among its kind where \
           Keycloak finds it by name",
    source: "Keycloak Admin REST API: the representations' `name`/`clientId`/`alias` (409 Conflict on a \
             duplicate)",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.role]]\nname = \" \"\n",
};
const SCOPE_NAME: Rule = Rule {
    id: "keycloak-client-scope-name",
    says: "a client scope's name has no spaces (it is a word of the `scope` parameter)",
    source: "Keycloak Admin REST API, ClientScopeRepresentation (refused: `Unexpected name`); OAuth 2.0 \
             (RFC 6749 section 3.3: scope tokens)",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.client_scope]]\nname = \"read orders\"\n",
};
const GROUP_NAME: Rule = Rule {
    id: "keycloak-group-name",
    says: "a group's name has no `/` (it separates a group's path)",
    source: "Keycloak Server Administration Guide, Groups (group paths)",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.group]]\nname = \"ops/night\"\n",
};
const REDIRECT_URIS: Rule = Rule {
    id: "keycloak-redirect-uri",
    says: "a client's redirect URIs are not empty",
    source: "Keycloak Admin REST API, ClientRepresentation.redirectUris (refused: `Invalid redirect uri`)",
    breaks: "[[iam.realm]]\nname = \"acme\"\n[[iam.client]]\nclient_id = \"portal\"\n\
             redirect_uris = [\" \"]\n",
};

fn unique_names<'a>(
    cx: &mut Checker<'_>,
    field: &str,
    what: &str,
    names: impl Iterator<Item = &'a str>,
) {
    let mut seen = HashSet::new();
    for (i, n) in names.enumerate() {
        if n.is_empty() {
            cx.rule(
                &format!("{field}[{i}].name"),
                &NAMES,
                format!("a {what} needs a name"),
            );
        } else if !seen.insert(n) {
            cx.rule(
                &format!("{field}[{i}].name"),
                &NAMES,
                format!("{what} `{n}` is declared twice"),
            );
        }
    }
}

fn non_empty(cx: &mut Checker<'_>, field: &str, value: &str, what: &str) {
    if value.trim().is_empty() {
        cx.rule(field, &NAMES, format!("the {what} is empty"));
    }
}

/// A name that is a segment of the admin API's URL paths: not empty, and not a dot segment.
fn path_name(cx: &mut Checker<'_>, field: &str, value: &str, what: &str) {
    non_empty(cx, field, value, what);
    if value == "." || value == ".." {
        cx.rule(
            field,
            &PATH_NAME,
            format!("the {what} `{value}` cannot be sent: a URL path resolves it to another resource"),
        )
        .help = Some("rename it (Keycloak's admin API cannot address it)".into());
    }
}

fn check_redirects(cx: &mut Checker<'_>, uris: &[String]) {
    for (i, u) in uris.iter().enumerate() {
        if u.trim().is_empty() {
            cx.rule(
                &format!("redirect_uris[{i}]"),
                &REDIRECT_URIS,
                "an empty redirect URI",
            );
        }
    }
}

static REALM: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "realm",
    title: "Keycloak realm",
    identity: &["name"],
    holds_data: true,
    fields: &[
        FieldMeta::new("display_name", SERVER_DEFAULT),
        FieldMeta::new("enabled", SERVER_DEFAULT),
        FieldMeta::new("ssl_required", SERVER_DEFAULT),
        FieldMeta::new("registration_allowed", SERVER_DEFAULT),
        FieldMeta::new("registration_email_as_username", SERVER_DEFAULT),
        FieldMeta::new("remember_me", SERVER_DEFAULT),
        FieldMeta::new("verify_email", SERVER_DEFAULT),
        FieldMeta::new("login_with_email_allowed", SERVER_DEFAULT),
        FieldMeta::new("duplicate_emails_allowed", SERVER_DEFAULT),
        FieldMeta::new("reset_password_allowed", SERVER_DEFAULT),
        FieldMeta::new("edit_username_allowed", SERVER_DEFAULT),
        FieldMeta::new("brute_force_protected", SERVER_DEFAULT),
        FieldMeta::new("login_theme", SERVER_DEFAULT),
        FieldMeta::new("account_theme", SERVER_DEFAULT),
        FieldMeta::new("admin_theme", SERVER_DEFAULT),
        FieldMeta::new("email_theme", SERVER_DEFAULT),
        FieldMeta::new("internationalization_enabled", SERVER_DEFAULT),
        FieldMeta::new("supported_locales", SET | SERVER_DEFAULT),
        FieldMeta::new("default_locale", SERVER_DEFAULT),
        FieldMeta::new("access_token_lifespan", SERVER_DEFAULT),
        FieldMeta::new("access_code_lifespan", SERVER_DEFAULT),
        FieldMeta::new("sso_session_idle_timeout", SERVER_DEFAULT),
        FieldMeta::new("sso_session_max_lifespan", SERVER_DEFAULT),
        FieldMeta::new("offline_session_idle_timeout", SERVER_DEFAULT),
        FieldMeta::new("password_policy", SERVER_DEFAULT),
        FieldMeta::new("browser_flow", SERVER_DEFAULT),
        FieldMeta::new("direct_grant_flow", SERVER_DEFAULT),
        FieldMeta::new("registration_flow", SERVER_DEFAULT),
        FieldMeta::new("reset_credentials_flow", SERVER_DEFAULT),
        FieldMeta::new("client_authentication_flow", SERVER_DEFAULT),
        FieldMeta::new("docker_authentication_flow", SERVER_DEFAULT),
        FieldMeta::new("first_broker_login_flow", SERVER_DEFAULT),
        FieldMeta::new("events_enabled", SERVER_DEFAULT),
        FieldMeta::new("events_expiration", SERVER_DEFAULT),
        FieldMeta::new("events_listeners", SET | SERVER_DEFAULT),
        FieldMeta::new("enabled_event_types", SET | SERVER_DEFAULT),
        FieldMeta::new("admin_events_enabled", SERVER_DEFAULT),
        FieldMeta::new("admin_events_details_enabled", SERVER_DEFAULT),
        FieldMeta::new("smtp.password", SECRET | SERVER_DEFAULT),
        FieldMeta::new("attributes", SERVER_DEFAULT),
        FieldMeta::new("attributes.*", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Realm {
    kind_basics!(REALM, |self| { vec![self.name.clone()] });
    fn bare_defaults() -> Option<&'static str> {
        Some(
            "no password policy, brute-force protection off, SSL required for external requests only, \
             Keycloak's token and session lifespans, no SMTP server",
        )
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        self.name == tenant.name(&REALM_SCOPE)
    }
    /// The flows the realm binds live in the realm: each flow's change completes its binding.
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let mut out = Vec::new();
        for (field, alias) in flow::realm_bindings(self) {
            if !flow::builtin_flow(alias) && !alias.is_empty() {
                let to = addr("authentication_flow", alias);
                out.push(Reference::completed_by_target(field, to));
            }
        }
        out
    }
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        flow::binding_hazards(self, live)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        path_name(cx, "name", &self.name, "realm name");
        let realm = cx.tenant.name(&REALM_SCOPE);
        cx.scope("name", "realm", &self.name, &[realm], false);
        if let Some(s) = &self.smtp {
            cx.secret("smtp.password", s.password.as_ref());
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&REALM_SCOPE, &mut self.name);
    }
}

static ROLE: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "role",
    title: "Keycloak realm role",
    identity: &["name"],
    holds_data: false,
    fields: &[
        // Keycloak stores a role given no composites and one given none alike.
        FieldMeta::new("composites", EMPTY_IS_ABSENT),
        FieldMeta::new("composites.realm", SET),
        FieldMeta::new("composites.client.*", SET),
        FieldMeta::new("attributes.*", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Role {
    kind_basics!(ROLE, |self| { vec![self.name.clone()] });
    fn normalize(&mut self) {
        off_is_absent(&mut self.default);
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut out = vec![realm_ref(tenant)];
        if let Some(c) = &self.composites {
            role_refs("composites", c, &tenant.name(&REALM_SCOPE), &mut out);
        }
        out
    }
    fn check(&self, cx: &mut Checker<'_>) {
        path_name(cx, "name", &self.name, "role name");
        if let Some(c) = &self.composites
            && c.realm.iter().any(|r| r == &self.name)
        {
            cx.error(
                "composites.realm",
                "cycle",
                format!("role `{}` cannot contain itself", self.name),
            );
        }
    }
    // Inside the realm: its names are the realm's own, the same in any tenant.
    fn rename(&mut self, _: &crate::domains::rename::Renamer) {}
}

static CLIENT: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "client",
    title: "Keycloak client",
    identity: &["client_id"],
    holds_data: false,
    fields: &[
        FieldMeta::new("enabled", SERVER_DEFAULT),
        FieldMeta::new("protocol", SERVER_DEFAULT | IMMUTABLE),
        FieldMeta::new("public_client", SERVER_DEFAULT),
        FieldMeta::new("bearer_only", SERVER_DEFAULT),
        FieldMeta::new("secret", SECRET | SERVER_DEFAULT),
        FieldMeta::new("redirect_uris", SET),
        FieldMeta::new("web_origins", SET),
        FieldMeta::new("standard_flow_enabled", SERVER_DEFAULT),
        FieldMeta::new("implicit_flow_enabled", SERVER_DEFAULT),
        FieldMeta::new("direct_access_grants_enabled", SERVER_DEFAULT),
        FieldMeta::new("service_accounts_enabled", SERVER_DEFAULT),
        FieldMeta::new("consent_required", SERVER_DEFAULT),
        FieldMeta::new("full_scope_allowed", SERVER_DEFAULT),
        FieldMeta::new("frontchannel_logout", SERVER_DEFAULT),
        // Declared attributes are compared in full: a key removed from the manifest is removed.
        FieldMeta::new("attributes", SERVER_DEFAULT),
        FieldMeta::new("default_client_scopes", SET | SERVER_DEFAULT),
        FieldMeta::new("optional_client_scopes", SET | SERVER_DEFAULT),
        FieldMeta::keyed("protocol_mapper", "name", 0),
        FieldMeta::new("authentication_flow_overrides", SERVER_DEFAULT),
        FieldMeta::keyed("role", "name", 0),
        FieldMeta::new("role[].composites", EMPTY_IS_ABSENT),
        FieldMeta::new("role[].composites.realm", SET),
        FieldMeta::new("role[].composites.client.*", SET),
        FieldMeta::new("role[].attributes.*", SET),
        FieldMeta::new("service_account_roles.realm", SET),
        FieldMeta::new("service_account_roles.client.*", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

/// A mapper whose protocol is its owner's says so by leaving it out.
fn default_mapper_protocol(owner: Option<Protocol>, mappers: &mut [ProtocolMapper]) {
    let owner = owner.unwrap_or(Protocol::OpenidConnect);
    for m in mappers {
        if m.protocol == Some(owner) {
            m.protocol = None;
        }
    }
}

impl ResourceKind for Client {
    kind_basics!(CLIENT, |self| { vec![self.client_id.clone()] });
    fn normalize(&mut self) {
        default_mapper_protocol(self.protocol, &mut self.protocol_mapper);
    }
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        let mut out = Vec::new();
        let was_public = live.is_some_and(|l| l.public_client == Some(true));
        if self.public_client == Some(true) && !was_public {
            out.push(Hazard::new(
                HazardCode::WidensAccess,
                format!("client {} becomes public: anyone can start a login with it, no \
                         secret needed", self.client_id),
            ));
        }
        for u in &self.redirect_uris {
            let new = live.is_none_or(|l| !l.redirect_uris.contains(u));
            if new && (u == "*" || u.ends_with("/*") || u.contains("*")) {
                out.push(Hazard::new(
                    HazardCode::WidensAccess,
                    format!("client {} accepts the wildcard redirect URI {u:?}: tokens can be \
                             sent to any matching address", self.client_id),
                ));
            }
        }
        out
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut out = vec![realm_ref(tenant)];
        for (field, scopes) in [
            ("default_client_scopes", &self.default_client_scopes),
            ("optional_client_scopes", &self.optional_client_scopes),
        ] {
            for (i, s) in scopes.iter().flatten().enumerate() {
                if !BUILTIN_SCOPES.contains(&s.as_str()) {
                    out.push(Reference::to(
                        format!("{field}[{i}]"),
                        addr("client_scope", s),
                    ));
                }
            }
        }
        let realm = tenant.name(&REALM_SCOPE);
        for (i, r) in self.role.iter().enumerate() {
            if let Some(c) = &r.composites {
                role_refs(&format!("role[{i}].composites"), c, &realm, &mut out);
            }
        }
        if let Some(sa) = &self.service_account_roles {
            role_refs("service_account_roles", sa, &realm, &mut out);
        }
        for (binding, alias) in &self.authentication_flow_overrides {
            let field = format!("authentication_flow_overrides.{binding}");
            flow::flow_ref(field, alias, &mut out);
        }
        out.retain(|r| r.targets[0] != addr("client", &self.client_id));
        out
    }
    fn check(&self, cx: &mut Checker<'_>) {
        non_empty(cx, "client_id", &self.client_id, "client id");
        if BUILTIN_CLIENTS.contains(&self.client_id.as_str()) {
            cx.error(
                "client_id",
                "reserved",
                format!(
                    "`{}` is a client Keycloak creates in every realm; it is not managed",
                    self.client_id
                ),
            );
        }
        cx.secret("secret", self.secret.as_ref());
        let public = self.public_client == Some(true);
        if public && self.secret.is_some() {
            cx.error("secret", "conflict", "a public client has no secret")
                .help = Some("remove `secret`, or set `public_client = false`".into());
        }
        if public && self.service_accounts_enabled == Some(true) {
            cx.error(
                "service_accounts_enabled",
                "conflict",
                "service accounts need a confidential client (`public_client = false`)",
            );
        }
        if self.service_account_roles.is_some() && self.service_accounts_enabled != Some(true) {
            cx.error(
                "service_account_roles",
                "conflict",
                "service account roles need `service_accounts_enabled = true`",
            );
        }
        if self.bearer_only == Some(true) && !public && self.secret.is_some() {
            // Keycloak keeps no secret for a bearer-only client (its `secret` reads null): one declared
            // here could never be applied, and every plan would show it again.
            cx.error("secret", "conflict", "a bearer-only client has no secret")
                .help = Some("remove `secret`, or `bearer_only`".into());
        }
        if public && self.bearer_only == Some(true) {
            cx.error(
                "bearer_only",
                "conflict",
                "a client cannot be both public and bearer-only",
            );
        }
        check_redirects(cx, &self.redirect_uris);
        for binding in self.authentication_flow_overrides.keys() {
            if !flow::CLIENT_OVERRIDES.contains(&binding.as_str()) {
                cx.rule(
                    &format!("authentication_flow_overrides.{binding}"),
                    &BINDING,
                    format!("a client cannot override its `{binding}` flow"),
                )
                .help = Some("override `browser` or `direct_grant`".into());
            }
        }
        unique_names(
            cx,
            "protocol_mapper",
            "protocol mapper",
            self.protocol_mapper.iter().map(|m| m.name.as_str()),
        );
        unique_names(
            cx,
            "role",
            "client role",
            self.role.iter().map(|r| r.name.as_str()),
        );
        for (i, r) in self.role.iter().enumerate() {
            if !r.name.is_empty() {
                path_name(cx, &format!("role[{i}].name"), &r.name, "client role name");
            }
        }
        if let (Some(d), Some(o)) = (&self.default_client_scopes, &self.optional_client_scopes) {
            for s in d.iter().filter(|s| o.contains(s)) {
                cx.error(
                    "optional_client_scopes",
                    "conflict",
                    format!("scope `{s}` is both a default and an optional scope"),
                );
            }
        }
    }
    // Inside the realm: its names are the realm's own, the same in any tenant.
    fn rename(&mut self, _: &crate::domains::rename::Renamer) {}
}

static CLIENT_SCOPE: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "client_scope",
    title: "Keycloak client scope",
    identity: &["name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("protocol", SERVER_DEFAULT | IMMUTABLE),
        FieldMeta::new("attributes", SERVER_DEFAULT),
        FieldMeta::new("attributes.*", SERVER_DEFAULT),
        FieldMeta::keyed("protocol_mapper", "name", 0),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for ClientScope {
    kind_basics!(CLIENT_SCOPE, |self| { vec![self.name.clone()] });
    fn normalize(&mut self) {
        default_mapper_protocol(self.protocol, &mut self.protocol_mapper);
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        vec![realm_ref(tenant)]
    }
    fn check(&self, cx: &mut Checker<'_>) {
        non_empty(cx, "name", &self.name, "client scope name");
        if self.name.contains(' ') {
            cx.rule(
                "name",
                &SCOPE_NAME,
                "client scope names cannot contain spaces (they are used in the `scope` parameter)",
            );
        }
        unique_names(
            cx,
            "protocol_mapper",
            "protocol mapper",
            self.protocol_mapper.iter().map(|m| m.name.as_str()),
        );
    }
    // Inside the realm: its names are the realm's own, the same in any tenant.
    fn rename(&mut self, _: &crate::domains::rename::Renamer) {}
}

static IDENTITY_PROVIDER: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "identity_provider",
    title: "Keycloak identity provider",
    identity: &["alias"],
    holds_data: true,
    fields: &[
        FieldMeta::new("provider_id", IMMUTABLE),
        FieldMeta::new("display_name", SERVER_DEFAULT),
        FieldMeta::new("enabled", SERVER_DEFAULT),
        FieldMeta::new("trust_email", SERVER_DEFAULT),
        FieldMeta::new("store_token", SERVER_DEFAULT),
        FieldMeta::new("link_only", SERVER_DEFAULT),
        FieldMeta::new("first_broker_login_flow_alias", SERVER_DEFAULT),
        FieldMeta::new("post_broker_login_flow_alias", SERVER_DEFAULT),
        FieldMeta::new("config", SERVER_DEFAULT),
        FieldMeta::new("config.*", SERVER_DEFAULT),
        FieldMeta::new("client_secret", SECRET | SERVER_DEFAULT),
        FieldMeta::keyed("mapper", "name", 0),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for IdentityProvider {
    kind_basics!(IDENTITY_PROVIDER, |self| { vec![self.alias.clone()] });
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut out = vec![realm_ref(tenant)];
        for (field, alias) in [
            ("first_broker_login_flow_alias", &self.first_broker_login_flow_alias),
            ("post_broker_login_flow_alias", &self.post_broker_login_flow_alias),
        ] {
            if let Some(a) = alias {
                flow::flow_ref(field.into(), a, &mut out);
            }
        }
        out
    }
    fn check(&self, cx: &mut Checker<'_>) {
        path_name(cx, "alias", &self.alias, "alias");
        non_empty(cx, "provider_id", &self.provider_id, "provider id");
        cx.secret("client_secret", self.client_secret.as_ref());
        if self.config.contains_key("clientSecret") {
            cx.error(
                "config.clientSecret",
                "secret-in-config",
                "the provider's client secret is written in `config`",
            )
            .help = Some("move it to `client_secret = { env = \"NAME\" }`".into());
        }
        unique_names(
            cx,
            "mapper",
            "mapper",
            self.mapper.iter().map(|m| m.name.as_str()),
        );
    }
    // Inside the realm: its names are the realm's own, the same in any tenant.
    fn rename(&mut self, _: &crate::domains::rename::Renamer) {}
}

static GROUP: KindMeta = KindMeta {
    domain: Domain::Iam,
    kind: "group",
    title: "Keycloak group",
    identity: &["path"],
    holds_data: false,
    fields: &[
        FieldMeta::new("parent", IMMUTABLE),
        FieldMeta::new("attributes.*", SET),
        FieldMeta::new("realm_roles", SET),
        FieldMeta::new("client_roles.*", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Group {
    kind_basics!(GROUP, |self| { vec![self.path()] });
    fn normalize(&mut self) {
        off_is_absent(&mut self.default);
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut out = vec![realm_ref(tenant)];
        if let Some(p) = &self.parent {
            let p = p.trim_matches('/');
            if !p.is_empty() {
                out.push(Reference::to("parent", addr("group", p)));
            }
        }
        let set = RoleSet {
            realm: self.realm_roles.clone(),
            client: self.client_roles.clone(),
        };
        role_refs("roles", &set, &tenant.name(&REALM_SCOPE), &mut out);
        for r in &mut out {
            r.field = r
                .field
                .replace("roles.realm", "realm_roles")
                .replace("roles.client", "client_roles");
        }
        out
    }
    fn check(&self, cx: &mut Checker<'_>) {
        path_name(cx, "name", &self.name, "group name");
        if self.name.contains('/') {
            cx.rule("name", &GROUP_NAME, "a group name cannot contain `/`")
                .help = Some("nest groups with `parent = \"path/of/parent\"`".into());
        }
    }
    // Inside the realm: its names are the realm's own, the same in any tenant.
    fn rename(&mut self, _: &crate::domains::rename::Renamer) {}
}

/// A manifest rule of the IAM domain: a tenant has exactly one realm.
pub fn one_realm(resources: &[(&super::Spec, super::Origin<'_>)]) -> Vec<crate::diag::Issue> {
    resources
        .iter()
        .filter(|(s, _)| matches!(s, super::Spec::IamRealm(_)))
        .skip(1)
        .map(|(_, o)| {
            super::place(
                crate::diag::Issue::error(
                    "duplicate",
                    "more than one realm: a tenant has exactly one realm",
                ),
                o,
                "",
            )
        })
        .collect()
}
