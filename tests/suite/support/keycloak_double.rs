//! A Keycloak test double: the admin REST API endpoints falconer uses, with Keycloak 26.6's semantics as
//! its published OpenAPI document (`openapi-26.6.2.json`) and the behaviour notes in the shared reference
//! describe them:
//!
//! - tokens from `/realms/{realm}/protocol/openid-connect/token` (password grant through `admin-cli`),
//!   expiring after `token_life` seconds; admin calls without a valid token get 401;
//! - creates answer 201 with a `Location` whose last segment is the new id (a role's name), no body;
//!   duplicates answer 409 with Keycloak's `{errorMessage}` body;
//! - client `PUT` is a partial update (only the fields sent change);
//! - role lists are brief unless `briefRepresentation=false`; a role's composites are read and written only
//!   through `/composites` (by role id);
//! - an identity provider's `clientSecret` and the SMTP password are masked as `**********` on read, and a
//!   masked value sent back keeps the stored one; a confidential client's secret is returned in clear
//!   (26.6), or masked when `mask_client_secrets` is set (26.8's behaviour);
//! - groups and identity providers are paged with `first`/`max` (default 100), other lists are not
//!   paged unless asked;
//! - a new realm comes with Keycloak's built-in clients, client scopes and roles, and a new client gets the
//!   realm's default client scopes.
//!
//! Every request is recorded (method, route template, status, body) so that a contract test can check the
//! routes and bodies against the OpenAPI document. Serves 127.0.0.1 only.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

#[path = "http_double.rs"]
pub mod http;

#[path = "keycloak/clients.rs"]
mod clients;
#[path = "keycloak/config.rs"]
mod config;
#[path = "keycloak/flows.rs"]
mod flows;
#[path = "keycloak/groups.rs"]
mod groups;
#[path = "keycloak/idps.rs"]
mod idps;
#[path = "keycloak/realms.rs"]
mod realms;
#[path = "keycloak/roles.rs"]
mod roles;
#[path = "keycloak/scopes.rs"]
mod scopes;

/// A handler's answer: a status and a body, or an error answer.
type Routed = Result<(u16, Value), (u16, Value)>;

/// A family of routes: answers the routes that are its own.
type Family<C> = fn(&mut C, &str, &str, Value) -> Routed;

/// What a family of routes answers for a route that is not its own (the next family is tried).
const UNROUTED: (u16, Value) = (0, Value::Null);

/// The admin routes the double serves (method, path template under `/admin/realms`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", ""),
    ("POST", ""),
    ("GET", "/{realm}"),
    ("PUT", "/{realm}"),
    ("DELETE", "/{realm}"),
    ("GET", "/{realm}/roles"),
    ("POST", "/{realm}/roles"),
    ("GET", "/{realm}/roles/{role-name}"),
    ("PUT", "/{realm}/roles/{role-name}"),
    ("DELETE", "/{realm}/roles/{role-name}"),
    ("GET", "/{realm}/roles/{role-name}/composites"),
    ("POST", "/{realm}/roles/{role-name}/composites"),
    ("DELETE", "/{realm}/roles/{role-name}/composites"),
    ("GET", "/{realm}/clients"),
    ("POST", "/{realm}/clients"),
    ("GET", "/{realm}/clients/{client-uuid}"),
    ("PUT", "/{realm}/clients/{client-uuid}"),
    ("DELETE", "/{realm}/clients/{client-uuid}"),
    ("GET", "/{realm}/clients/{client-uuid}/client-secret"),
    (
        "GET",
        "/{realm}/clients/{client-uuid}/default-client-scopes",
    ),
    (
        "PUT",
        "/{realm}/clients/{client-uuid}/default-client-scopes/{clientScopeId}",
    ),
    (
        "DELETE",
        "/{realm}/clients/{client-uuid}/default-client-scopes/{clientScopeId}",
    ),
    (
        "GET",
        "/{realm}/clients/{client-uuid}/optional-client-scopes",
    ),
    (
        "PUT",
        "/{realm}/clients/{client-uuid}/optional-client-scopes/{clientScopeId}",
    ),
    (
        "DELETE",
        "/{realm}/clients/{client-uuid}/optional-client-scopes/{clientScopeId}",
    ),
    ("GET", "/{realm}/clients/{client-uuid}/roles"),
    ("POST", "/{realm}/clients/{client-uuid}/roles"),
    ("GET", "/{realm}/clients/{client-uuid}/roles/{role-name}"),
    ("PUT", "/{realm}/clients/{client-uuid}/roles/{role-name}"),
    ("DELETE", "/{realm}/clients/{client-uuid}/roles/{role-name}"),
    (
        "GET",
        "/{realm}/clients/{client-uuid}/roles/{role-name}/composites",
    ),
    (
        "POST",
        "/{realm}/clients/{client-uuid}/roles/{role-name}/composites",
    ),
    (
        "DELETE",
        "/{realm}/clients/{client-uuid}/roles/{role-name}/composites",
    ),
    (
        "GET",
        "/{realm}/clients/{client-uuid}/protocol-mappers/models",
    ),
    (
        "POST",
        "/{realm}/clients/{client-uuid}/protocol-mappers/models",
    ),
    (
        "PUT",
        "/{realm}/clients/{client-uuid}/protocol-mappers/models/{id}",
    ),
    (
        "DELETE",
        "/{realm}/clients/{client-uuid}/protocol-mappers/models/{id}",
    ),
    ("GET", "/{realm}/clients/{client-uuid}/service-account-user"),
    ("GET", "/{realm}/users/{user-id}/role-mappings"),
    ("POST", "/{realm}/users/{user-id}/role-mappings/realm"),
    ("DELETE", "/{realm}/users/{user-id}/role-mappings/realm"),
    (
        "POST",
        "/{realm}/users/{user-id}/role-mappings/clients/{client-id}",
    ),
    (
        "DELETE",
        "/{realm}/users/{user-id}/role-mappings/clients/{client-id}",
    ),
    ("GET", "/{realm}/client-scopes"),
    ("POST", "/{realm}/client-scopes"),
    ("GET", "/{realm}/client-scopes/{client-scope-id}"),
    ("PUT", "/{realm}/client-scopes/{client-scope-id}"),
    ("DELETE", "/{realm}/client-scopes/{client-scope-id}"),
    (
        "GET",
        "/{realm}/client-scopes/{client-scope-id}/protocol-mappers/models",
    ),
    (
        "POST",
        "/{realm}/client-scopes/{client-scope-id}/protocol-mappers/models",
    ),
    (
        "PUT",
        "/{realm}/client-scopes/{client-scope-id}/protocol-mappers/models/{id}",
    ),
    (
        "DELETE",
        "/{realm}/client-scopes/{client-scope-id}/protocol-mappers/models/{id}",
    ),
    ("GET", "/{realm}/identity-provider/instances"),
    ("POST", "/{realm}/identity-provider/instances"),
    ("GET", "/{realm}/identity-provider/instances/{alias}"),
    ("PUT", "/{realm}/identity-provider/instances/{alias}"),
    ("DELETE", "/{realm}/identity-provider/instances/{alias}"),
    (
        "GET",
        "/{realm}/identity-provider/instances/{alias}/mappers",
    ),
    (
        "POST",
        "/{realm}/identity-provider/instances/{alias}/mappers",
    ),
    (
        "PUT",
        "/{realm}/identity-provider/instances/{alias}/mappers/{id}",
    ),
    (
        "DELETE",
        "/{realm}/identity-provider/instances/{alias}/mappers/{id}",
    ),
    ("GET", "/{realm}/groups"),
    ("POST", "/{realm}/groups"),
    ("GET", "/{realm}/groups/{group-id}"),
    ("PUT", "/{realm}/groups/{group-id}"),
    ("DELETE", "/{realm}/groups/{group-id}"),
    ("GET", "/{realm}/groups/{group-id}/children"),
    ("POST", "/{realm}/groups/{group-id}/children"),
    ("GET", "/{realm}/group-by-path/{path}"),
    ("GET", "/{realm}/groups/{group-id}/role-mappings"),
    ("POST", "/{realm}/groups/{group-id}/role-mappings/realm"),
    ("DELETE", "/{realm}/groups/{group-id}/role-mappings/realm"),
    (
        "POST",
        "/{realm}/groups/{group-id}/role-mappings/clients/{client-id}",
    ),
    (
        "DELETE",
        "/{realm}/groups/{group-id}/role-mappings/clients/{client-id}",
    ),
    ("GET", "/{realm}/authentication/flows"),
    ("POST", "/{realm}/authentication/flows"),
    ("GET", "/{realm}/authentication/flows/{id}"),
    ("PUT", "/{realm}/authentication/flows/{id}"),
    ("DELETE", "/{realm}/authentication/flows/{id}"),
    (
        "GET",
        "/{realm}/authentication/flows/{flowAlias}/executions",
    ),
    (
        "PUT",
        "/{realm}/authentication/flows/{flowAlias}/executions",
    ),
    (
        "POST",
        "/{realm}/authentication/flows/{flowAlias}/executions/execution",
    ),
    (
        "POST",
        "/{realm}/authentication/flows/{flowAlias}/executions/flow",
    ),
    ("DELETE", "/{realm}/authentication/executions/{executionId}"),
    (
        "POST",
        "/{realm}/authentication/executions/{executionId}/config",
    ),
    ("GET", "/{realm}/authentication/config/{id}"),
    ("PUT", "/{realm}/authentication/config/{id}"),
    ("DELETE", "/{realm}/authentication/config/{id}"),
    ("GET", "/{realm}/authentication/authenticator-providers"),
    ("GET", "/{realm}/authentication/form-action-providers"),
    ("GET", "/{realm}/authentication/form-providers"),
    (
        "GET",
        "/{realm}/authentication/client-authenticator-providers",
    ),
    ("GET", "/{realm}/authentication/required-actions"),
    ("GET", "/{realm}/authentication/required-actions/{alias}"),
    ("PUT", "/{realm}/authentication/required-actions/{alias}"),
    ("DELETE", "/{realm}/authentication/required-actions/{alias}"),
    ("POST", "/{realm}/authentication/register-required-action"),
    ("GET", "/{realm}/components"),
    ("GET", "/{realm}/client-policies/policies"),
    ("PUT", "/{realm}/client-policies/policies"),
    ("GET", "/{realm}/client-policies/profiles"),
    ("PUT", "/{realm}/client-policies/profiles"),
    ("GET", "/{realm}/events/config"),
    ("PUT", "/{realm}/events/config"),
    ("GET", "/{realm}/default-groups"),
    ("PUT", "/{realm}/default-groups/{groupId}"),
    ("DELETE", "/{realm}/default-groups/{groupId}"),
    ("GET", "/{realm}/localization"),
    ("GET", "/{realm}/default-default-client-scopes"),
    (
        "PUT",
        "/{realm}/default-default-client-scopes/{clientScopeId}",
    ),
    ("GET", "/{realm}/default-optional-client-scopes"),
    (
        "PUT",
        "/{realm}/default-optional-client-scopes/{clientScopeId}",
    ),
];

/// The token endpoint (OpenID Connect, not part of the admin API document).
pub const TOKEN_ROUTE: &str = "/realms/{realm}/protocol/openid-connect/token";

const MASK: &str = "**********";

/// What runs before a request is answered: its method and path.
pub type Hook = std::sync::Arc<dyn Fn(&Method, &str) + Send + Sync>;

pub use http::Fault;

/// How the double behaves.
#[derive(Clone)]
pub struct Options {
    pub username: String,
    pub password: String,
    /// Seconds a token lives (Keycloak's default is 60).
    pub token_life: u64,
    /// The life the double tells the client (`expires_in`) when it is not the real one: a client told 0
    /// must renew before every request, which a test can count without waiting for a clock.
    pub told_token_life: Option<u64>,
    /// Mask confidential clients' secrets on read (Keycloak 26.8 for callers without manage-clients).
    pub mask_client_secrets: bool,
    /// A service client of the master realm that may sign in by client credentials (id, secret).
    pub service_client: (String, String),
    /// The `master` realm roles in the tokens of the admin user and of the service client's account
    /// (Keycloak gives `admin` to the first and what an administrator granted to the second).
    pub admin_roles: Vec<String>,
    pub service_roles: Vec<String>,
    /// Called with the method and path of each request before it is answered (tests act on counted
    /// events with it: the answer waits until it returns).
    pub before_answer: Option<Hook>,
    /// Answers a fault instead of the real answer when it says so (see [`Fault`]).
    pub fault: Option<Fault>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            username: "admin".into(),
            password: "admin-password".into(),
            token_life: 60,
            told_token_life: None,
            mask_client_secrets: false,
            service_client: ("falconer-ci".into(), "service-client-secret".into()),
            admin_roles: ["admin", "create-realm", "default-roles-master"]
                .map(String::from)
                .to_vec(),
            service_roles: ["create-realm", "default-roles-master"]
                .map(String::from)
                .to_vec(),
            before_answer: None,
            fault: None,
        }
    }
}

pub use http::Recorded;

#[derive(Clone, Debug)]
struct RoleS {
    id: String,
    name: String,
    description: Option<String>,
    attributes: Value,
    composites: Vec<String>,
    /// The client's uuid (client roles).
    client: Option<String>,
}

#[derive(Clone, Debug)]
struct ClientS {
    id: String,
    rep: Map<String, Value>,
    secret: Option<String>,
    mappers: Vec<Value>,
    default_scopes: Vec<String>,
    optional_scopes: Vec<String>,
}

#[derive(Clone, Debug)]
struct ScopeS {
    id: String,
    rep: Map<String, Value>,
    mappers: Vec<Value>,
}

#[derive(Clone, Debug)]
struct IdpS {
    internal_id: String,
    rep: Map<String, Value>,
    mappers: Vec<Value>,
}

#[derive(Clone, Debug)]
struct GroupS {
    id: String,
    name: String,
    parent: Option<String>,
    attributes: Value,
    roles: Vec<String>,
}

#[derive(Clone, Debug)]
struct UserS {
    id: String,
    username: String,
    /// The client whose service account this is.
    client: String,
    roles: Vec<String>,
}

#[derive(Clone, Debug, Default)]
struct RealmS {
    id: String,
    rep: Map<String, Value>,
    roles: Vec<RoleS>,
    clients: Vec<ClientS>,
    scopes: Vec<ScopeS>,
    default_default: Vec<String>,
    default_optional: Vec<String>,
    idps: Vec<IdpS>,
    groups: Vec<GroupS>,
    users: Vec<UserS>,
    config: config::ConfigS,
}

/// Everything the double holds.
#[derive(Default)]
pub struct World {
    realms: BTreeMap<String, RealmS>,
    tokens: HashMap<String, Instant>,
    next: u64,
    pub log: Vec<Recorded>,
    pub token_grants: usize,
}

impl World {
    /// A realm's stored SMTP password (the API only ever shows it masked).
    pub fn smtp_password(&self, realm: &str) -> Option<String> {
        let r = self.realms.get(realm)?;
        r.rep
            .get("smtpServer")?
            .get("password")?
            .as_str()
            .map(str::to_string)
    }

    /// Sets an identity provider's client secret directly (as another client would).
    pub fn set_idp_secret(&mut self, realm: &str, alias: &str, secret: &str) {
        if let Some(p) = self
            .realms
            .get_mut(realm)
            .and_then(|r| r.idps.iter_mut().find(|p| p.rep["alias"] == alias))
            && let Some(Value::Object(c)) = p.rep.get_mut("config")
        {
            c.insert("clientSecret".into(), json!(secret));
        }
    }

    /// An identity provider's stored client secret (the API only ever shows it masked).
    pub fn idp_secret(&self, realm: &str, alias: &str) -> Option<String> {
        let r = self.realms.get(realm)?;
        let p = r.idps.iter().find(|p| p.rep["alias"] == alias)?;
        p.rep
            .get("config")?
            .get("clientSecret")?
            .as_str()
            .map(str::to_string)
    }
}

type Shared = http::Shared<World, Options>;

/// The double, served.
pub type KeycloakDouble = http::Double<World, Options>;

impl KeycloakDouble {
    /// Starts the double on 127.0.0.1 (`port` 0: a free one).
    pub async fn start(port: u16, options: Options) -> std::io::Result<KeycloakDouble> {
        http::Double::serve_with(port, options, serve).await
    }

    /// Starts the double over HTTPS with `tls` on `port` (0: a free one); its URL names `localhost`.
    pub async fn start_tls(
        port: u16,
        options: Options,
        tls: std::sync::Arc<rustls::ServerConfig>,
    ) -> std::io::Result<KeycloakDouble> {
        http::Double::serve_tls_with(port, options, serve, Some(tls)).await
    }

    /// The environment that points falconer at the double (address and sign-in).
    pub fn env(&self) -> Vec<(String, String)> {
        let o = self.options();
        [
            ("FALCONER_KEYCLOAK_URL", self.url.as_str()),
            ("FALCONER_KEYCLOAK_USER", o.username.as_str()),
            ("FALCONER_KEYCLOAK_PASSWORD", o.password.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    /// Every recorded request.
    pub fn log(&self) -> Vec<Recorded> {
        self.world().log.clone()
    }

    /// Forgets every token (as if they had all expired).
    pub fn expire_tokens(&self) {
        self.world().tokens.clear();
    }
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "errorMessage": message }))
}

fn not_found(what: &str) -> (u16, Value) {
    (404, json!({ "error": format!("Could not find {what}") }))
}

async fn serve(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (world, options) = (&shared.0, &shared.1);
    if let Some(hook) = &options.before_answer {
        hook(&method, uri.path());
    }
    if let Some(r) = http::fault_answer(options.fault.as_ref(), &method, uri.path(), &body) {
        return r;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let query: HashMap<String, String> = http::form(uri.query().unwrap_or_default().as_bytes());
    let segments = http::segments(uri.path());
    let mut w = world.lock().expect("double state");
    let (route_name, status, location, out) = if segments.len() == 5
        && segments[0] == "realms"
        && segments[2..] == ["protocol", "openid-connect", "token"]
        && method == Method::POST
    {
        let f = http::form(&body);
        let field = |k: &str| f.get(k).map(String::as_str);
        let signed_in = match field("grant_type") {
            Some("password")
                if field("client_id") == Some("admin-cli")
                    && field("username") == Some(options.username.as_str())
                    && field("password") == Some(options.password.as_str()) =>
            {
                Some((options.username.clone(), "admin-cli", &options.admin_roles))
            }
            Some("client_credentials")
                if field("client_id") == Some(options.service_client.0.as_str())
                    && field("client_secret") == Some(options.service_client.1.as_str()) =>
            {
                let id = options.service_client.0.as_str();
                Some((format!("service-account-{id}"), id, &options.service_roles))
            }
            _ => None,
        };
        if let Some((user, client, roles)) = signed_in.filter(|_| segments[1] == "master") {
            w.next += 1;
            w.token_grants += 1;
            let token = access_token(w.next, &user, client, roles);
            w.tokens.insert(
                token.clone(),
                Instant::now() + Duration::from_secs(options.token_life),
            );
            (
                TOKEN_ROUTE.to_string(),
                200,
                None,
                json!({"access_token": token, "expires_in": options.told_token_life.unwrap_or(options.token_life), "token_type": "Bearer",
                       "refresh_expires_in": 1800, "not-before-policy": 0, "scope": "profile email"}),
            )
        } else {
            (
                TOKEN_ROUTE.to_string(),
                401,
                None,
                json!({"error": "invalid_grant", "error_description": "Invalid user credentials"}),
            )
        }
    } else if segments.len() >= 2 && segments[0] == "admin" && segments[1] == "realms" {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default();
        let valid = w.tokens.get(token).is_some_and(|t| Instant::now() < *t);
        match http::route(method.as_str(), &segments[2..], ROUTES) {
            _ if !valid => (
                "(unauthorized)".to_string(),
                401,
                None,
                json!({"error": "HTTP 401 Unauthorized"}),
            ),
            None => (
                "(unknown)".to_string(),
                404,
                None,
                json!({"error": "Unable to find matching target resource method"}),
            ),
            Some((template, params)) => {
                let input: Value = if body.is_empty() {
                    Value::Null
                } else {
                    match serde_json::from_slice(&body) {
                        Ok(v) => v,
                        Err(_) => {
                            let (s, b) = error(400, "unable to read the request body");
                            drop(w);
                            return http::answer(s, &[], &b);
                        }
                    }
                };
                let base = format!("http://{host}/admin/realms");
                let mut cx = Cx {
                    w: &mut w,
                    options,
                    params: &params,
                    query: &query,
                    base,
                    location: None,
                };
                let (status, out) = cx.handle(method.as_str(), template, input);
                let location = cx.location.take();
                (template.to_string(), status, location, out)
            }
        }
    } else {
        (
            "(unknown)".to_string(),
            404,
            None,
            json!({"error": "Unable to find matching target resource method"}),
        )
    };
    w.log.push(Recorded {
        method: method.to_string(),
        route: route_name,
        status,
        body: out.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        request: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    drop(w);
    let headers: Vec<_> = location
        .map(|l| (header::LOCATION, l))
        .into_iter()
        .collect();
    http::answer(status, &headers, &out)
}

struct Cx<'a> {
    w: &'a mut World,
    options: &'a Options,
    params: &'a HashMap<String, String>,
    query: &'a HashMap<String, String>,
    base: String,
    location: Option<String>,
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn str_of<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Keycloak's realm defaults (a subset of what it returns).
fn realm_defaults(name: &str, id: &str) -> Map<String, Value> {
    obj(&json!({
        "id": id, "realm": name, "enabled": false, "sslRequired": "external",
        "registrationAllowed": false, "registrationEmailAsUsername": false, "rememberMe": false,
        "verifyEmail": false, "loginWithEmailAllowed": true, "duplicateEmailsAllowed": false,
        "resetPasswordAllowed": false, "editUsernameAllowed": false, "bruteForceProtected": false,
        "accessTokenLifespan": 300, "accessCodeLifespan": 60, "ssoSessionIdleTimeout": 1800,
        "ssoSessionMaxLifespan": 36000, "offlineSessionIdleTimeout": 2592000,
        "internationalizationEnabled": false, "supportedLocales": [], "notBefore": 0,
        "smtpServer": {}, "loginTheme": null,
        "attributes": {"cibaBackchannelTokenDeliveryMode": "poll", "cibaExpiresIn": "120",
                       "parRequestUriLifespan": "60", "frontendUrl": ""}
    }))
}

const BUILTIN_CLIENTS: &[&str] = &[
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];
const DEFAULT_SCOPES: &[&str] = &["profile", "email", "roles", "web-origins", "acr", "basic"];
const OPTIONAL_SCOPES: &[&str] = &[
    "address",
    "phone",
    "offline_access",
    "microprofile-jwt",
    "organization",
];

impl Cx<'_> {
    fn id(&mut self) -> String {
        self.w.next += 1;
        format!(
            "{:08x}-{:04x}-4{:03x}-8000-{:012x}",
            std::process::id(),
            self.w.next & 0xffff,
            self.w.next & 0xfff,
            self.w.next
        )
    }

    fn p(&self, k: &str) -> String {
        self.params.get(k).cloned().unwrap_or_default()
    }

    fn realm(&mut self) -> Result<&mut RealmS, (u16, Value)> {
        let name = self.p("realm");
        self.w
            .realms
            .get_mut(&name)
            .ok_or_else(|| (404, json!({"error": "Realm not found."})))
    }

    fn created(&mut self, path: &str) -> (u16, Value) {
        self.location = Some(format!("{}/{}", self.base, path));
        (201, Value::Null)
    }

    /// `first`/`max` paging (`default_max` when `max` is not given).
    fn page(&self, items: Vec<Value>, default_max: Option<usize>) -> Vec<Value> {
        let first: usize = self
            .query
            .get("first")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let max: Option<usize> = self
            .query
            .get("max")
            .and_then(|v| v.parse().ok())
            .or(default_max);
        items
            .into_iter()
            .skip(first)
            .take(max.unwrap_or(usize::MAX))
            .collect()
    }

    fn brief(&self, default: bool) -> bool {
        self.query
            .get("briefRepresentation")
            .map(|v| v == "true")
            .unwrap_or(default)
    }

    fn handle(&mut self, method: &str, template: &str, input: Value) -> (u16, Value) {
        match self.route(method, template, input) {
            Ok(r) => r,
            Err(e) => e,
        }
    }

    fn route(&mut self, method: &str, template: &str, input: Value) -> Routed {
        refuse_unreadable(method, template, &input)?;
        let families: [Family<Self>; 8] = [
            Self::flows,
            Self::config,
            Self::realms,
            Self::roles,
            Self::clients,
            Self::scopes,
            Self::idps,
            Self::groups,
        ];
        for family in families {
            match family(self, method, template, input.clone()) {
                Err((0, _)) => continue,
                answered => return answered,
            }
        }
        Err((405, json!({"error": "HTTP 405 Method Not Allowed"})))
    }

    fn find_role(&mut self) -> Result<(&RealmS, usize), (u16, Value)> {
        let name = self.p("role-name");
        let client = self.params.get("client-uuid").cloned();
        let r = self.realm()?;
        if let Some(c) = &client
            && !r.clients.iter().any(|x| &x.id == c)
        {
            return Err(not_found("client"));
        }
        let i = r
            .roles
            .iter()
            .position(|x| x.client == client && x.name == name)
            .ok_or_else(|| not_found("role"))?;
        Ok((r, i))
    }

    fn client_index(&mut self) -> Result<usize, (u16, Value)> {
        let id = self.p("client-uuid");
        self.realm()?
            .clients
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| not_found("client"))
    }

    fn scope_index(&mut self) -> Result<usize, (u16, Value)> {
        let id = self.p("client-scope-id");
        self.realm()?
            .scopes
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| not_found("client scope"))
    }

    fn idp_index(&mut self) -> Result<usize, (u16, Value)> {
        let alias = self.p("alias");
        self.realm()?
            .idps
            .iter()
            .position(|c| c.rep["alias"] == alias.as_str())
            .ok_or_else(|| not_found("identity provider"))
    }

    fn group_index(&mut self) -> Result<usize, (u16, Value)> {
        let id = self.p("group-id");
        self.realm()?
            .groups
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| not_found("group"))
    }

    fn mappers(&mut self) -> Result<&mut Vec<Value>, (u16, Value)> {
        if self.params.contains_key("client-uuid") {
            let i = self.client_index()?;
            Ok(&mut self.realm()?.clients[i].mappers)
        } else {
            let i = self.scope_index()?;
            Ok(&mut self.realm()?.scopes[i].mappers)
        }
    }

    fn holder_roles(&mut self) -> Result<&mut Vec<String>, (u16, Value)> {
        if let Some(u) = self.params.get("user-id").cloned() {
            let r = self.realm()?;
            let i = r
                .users
                .iter()
                .position(|x| x.id == u)
                .ok_or_else(|| not_found("user"))?;
            Ok(&mut r.users[i].roles)
        } else {
            let i = self.group_index()?;
            Ok(&mut self.realm()?.groups[i].roles)
        }
    }
}

fn confidential(rep: &Map<String, Value>) -> bool {
    rep.get("publicClient").and_then(Value::as_bool) != Some(true)
        && rep.get("bearerOnly").and_then(Value::as_bool) != Some(true)
}

/// Role ids from a body of role representations (by `id`, as Keycloak reads them).
fn role_ids(r: &RealmS, input: &Value) -> Result<Vec<String>, (u16, Value)> {
    let mut out = Vec::new();
    for x in input.as_array().into_iter().flatten() {
        let id = str_of(x, "id");
        if !r.roles.iter().any(|role| role.id == id) {
            return Err(not_found("role"));
        }
        out.push(id.to_string());
    }
    Ok(out)
}

fn forget_roles(r: &mut RealmS, ids: &[String]) {
    for x in &mut r.roles {
        x.composites.retain(|c| !ids.contains(c));
    }
    for g in &mut r.groups {
        g.roles.retain(|c| !ids.contains(c));
    }
    for u in &mut r.users {
        u.roles.retain(|c| !ids.contains(c));
    }
}

fn mapper(input: &Value) -> Map<String, Value> {
    obj(&json!({
        "name": input["name"],
        "protocol": input.get("protocol").cloned().unwrap_or(json!("openid-connect")),
        "protocolMapper": input["protocolMapper"],
        "consentRequired": false,
        "config": input.get("config").cloned().unwrap_or(json!({})),
    }))
}

fn realm_rep(r: &RealmS) -> Value {
    let mut rep = r.rep.clone();
    for (k, v) in r.config.event_settings() {
        rep.insert(k, v);
    }
    rep.retain(|_, v| !v.is_null());
    if let Some(Value::Object(s)) = rep.get_mut("smtpServer")
        && s.contains_key("password")
    {
        s.insert("password".into(), json!(MASK));
    }
    Value::Object(rep)
}

fn role_rep(r: &RealmS, x: &RoleS, brief: bool) -> Value {
    let mut v = json!({
        "id": x.id, "name": x.name, "composite": !x.composites.is_empty(),
        "clientRole": x.client.is_some(), "containerId": x.client.clone().unwrap_or_else(|| r.id.clone()),
    });
    if let Some(d) = &x.description {
        v["description"] = json!(d);
    }
    if !brief {
        v["attributes"] = x.attributes.clone();
    }
    v
}

fn client_rep(r: &RealmS, c: &ClientS, mask: bool) -> Value {
    let mut rep = c.rep.clone();
    rep.insert("id".into(), json!(c.id));
    let mut attributes = obj(rep.get("attributes").unwrap_or(&Value::Null));
    attributes.insert(
        "realm_client".into(),
        json!(
            BUILTIN_CLIENTS
                .contains(&str_of(&Value::Object(c.rep.clone()), "clientId"))
                .to_string()
        ),
    );
    rep.insert("attributes".into(), Value::Object(attributes));
    if let Some(s) = &c.secret {
        rep.insert("secret".into(), json!(if mask { MASK } else { s.as_str() }));
    }
    if !c.mappers.is_empty() {
        rep.insert("protocolMappers".into(), Value::Array(c.mappers.clone()));
    }
    let names = |ids: &[String]| -> Vec<Value> {
        ids.iter()
            .filter_map(|id| r.scopes.iter().find(|s| &s.id == id))
            .map(|s| s.rep["name"].clone())
            .collect()
    };
    rep.insert(
        "defaultClientScopes".into(),
        Value::Array(names(&c.default_scopes)),
    );
    rep.insert(
        "optionalClientScopes".into(),
        Value::Array(names(&c.optional_scopes)),
    );
    rep.insert(
        "access".into(),
        json!({"view": true, "configure": true, "manage": true}),
    );
    Value::Object(rep)
}

fn scope_rep(s: &ScopeS) -> Value {
    let mut rep = s.rep.clone();
    rep.insert("id".into(), json!(s.id));
    if !s.mappers.is_empty() {
        rep.insert("protocolMappers".into(), Value::Array(s.mappers.clone()));
    }
    Value::Object(rep)
}

fn idp_rep(p: &IdpS) -> Value {
    let mut rep = p.rep.clone();
    rep.insert("internalId".into(), json!(p.internal_id));
    if let Some(Value::Object(c)) = rep.get_mut("config")
        && c.get("clientSecret")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.starts_with("${vault."))
    {
        c.insert("clientSecret".into(), json!(MASK));
    }
    Value::Object(rep)
}

fn group_path(r: &RealmS, g: &GroupS) -> String {
    let mut parts = vec![g.name.clone()];
    let mut at = g.parent.clone();
    while let Some(p) = at {
        match r.groups.iter().find(|x| x.id == p) {
            Some(x) => {
                parts.push(x.name.clone());
                at = x.parent.clone();
            }
            None => break,
        }
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

fn group_rep(r: &RealmS, g: &GroupS, brief: bool) -> Value {
    let subs = r
        .groups
        .iter()
        .filter(|x| x.parent.as_deref() == Some(g.id.as_str()))
        .count();
    let mut v = json!({
        "id": g.id, "name": g.name, "path": group_path(r, g), "subGroupCount": subs, "subGroups": [],
        "access": {"view": true, "viewMembers": true, "manageMembers": true, "manage": true, "manageMembership": true},
    });
    if let Some(p) = &g.parent {
        v["parentId"] = json!(p);
    }
    if !brief {
        v["attributes"] = g.attributes.clone();
    }
    v
}

/// A `MappingsRepresentation` of role ids (empty parts left out, as Keycloak does).
fn mappings(r: &RealmS, ids: &[String]) -> Value {
    let roles: Vec<&RoleS> = ids
        .iter()
        .filter_map(|id| r.roles.iter().find(|x| &x.id == id))
        .collect();
    let realm: Vec<Value> = roles
        .iter()
        .filter(|x| x.client.is_none())
        .map(|x| role_rep(r, x, true))
        .collect();
    let mut clients = Map::new();
    for c in &r.clients {
        let mine: Vec<Value> = roles
            .iter()
            .filter(|x| x.client.as_deref() == Some(c.id.as_str()))
            .map(|x| role_rep(r, x, true))
            .collect();
        if !mine.is_empty() {
            let cid = str_of(&Value::Object(c.rep.clone()), "clientId").to_string();
            clients.insert(
                cid.clone(),
                json!({"id": c.id, "client": cid, "mappings": mine}),
            );
        }
    }
    let mut out = Map::new();
    if !realm.is_empty() {
        out.insert("realmMappings".into(), Value::Array(realm));
    }
    if !clients.is_empty() {
        out.insert("clientMappings".into(), Value::Object(clients));
    }
    Value::Object(out)
}

/// The members of the representations whose handlers copy the members they know (from the OpenAPI
/// document's schemas), by the routes that read them.
fn representation(method: &str, template: &str) -> Option<&'static [&'static str]> {
    const ROLE: &[&str] = &[
        "id",
        "name",
        "description",
        "scopeParamRequired",
        "composite",
        "composites",
        "clientRole",
        "containerId",
        "attributes",
    ];
    const GROUP: &[&str] = &[
        "id",
        "name",
        "description",
        "path",
        "parentId",
        "subGroupCount",
        "subGroups",
        "attributes",
        "realmRoles",
        "clientRoles",
        "access",
    ];
    const PROTOCOL_MAPPER: &[&str] = &[
        "id",
        "name",
        "protocol",
        "protocolMapper",
        "consentRequired",
        "consentText",
        "config",
    ];
    const IDP_MAPPER: &[&str] = &[
        "id",
        "name",
        "identityProviderAlias",
        "identityProviderMapper",
        "config",
    ];
    if method != "POST" && method != "PUT" {
        return None;
    }
    let t = template;
    if t.ends_with("/composites") || t.contains("role-mappings") {
        None
    } else if t.ends_with("/roles") || t.ends_with("/roles/{role-name}") {
        Some(ROLE)
    } else if t.ends_with("/groups")
        || t.ends_with("/children")
        || t.ends_with("/groups/{group-id}")
    {
        Some(GROUP)
    } else if t.contains("/protocol-mappers/models") {
        Some(PROTOCOL_MAPPER)
    } else if t.contains("/identity-provider/instances/{alias}/mappers") {
        Some(IDP_MAPPER)
    } else {
        None
    }
}

/// Keycloak reads a body with Jackson, which refuses a member the representation does not have
/// ("Unrecognized field ..., not marked as ignorable") and a member of the wrong type: 400, nothing changed.
/// Attributes are maps of string lists; a mapper's config is a map of strings.
fn refuse_unreadable(method: &str, template: &str, input: &Value) -> Result<(), (u16, Value)> {
    let Some(known) = representation(method, template) else {
        return Ok(());
    };
    let Some(m) = input.as_object() else {
        return Err(error(400, "unable to read the request body"));
    };
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(error(400, &format!("Unrecognized field \"{k}\"")));
    }
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let typed = match (m.get("attributes"), m.get("config")) {
        (Some(a), _) if !a.is_null() => a.as_object().is_some_and(|o| o.values().all(strings)),
        (_, Some(c)) if !c.is_null() => c
            .as_object()
            .is_some_and(|o| o.values().all(|v| v.is_string() || v.is_null())),
        _ => true,
    };
    let named = m.get("name").is_none_or(Value::is_string);
    if typed && named {
        Ok(())
    } else {
        Err(error(400, "unable to read the request body"))
    }
}

/// An access token shaped as Keycloak's: a JWT (header, claims and signature, each base64url) whose claims
/// name the user, the client and the `master` realm roles. The double checks a token by its value; a
/// client may read the claims, as it may of Keycloak's.
fn access_token(n: u64, user: &str, client: &str, roles: &[String]) -> String {
    use base64::Engine;
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({"jti": format!("{n}-{}", std::process::id()), "typ": "Bearer", "azp": client,
        "preferred_username": user, "realm_access": {"roles": roles}, "scope": "profile email"});
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "double"});
    format!("{}.{}.{}", part(header), part(claims), part(json!(n)))
}
