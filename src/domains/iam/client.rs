//! A client of Keycloak's admin REST API: an admin token by password grant (`admin-cli`) or client
//! credentials, renewed before it expires and once more on a 401; every path segment percent-encoded;
//! lists paged with `first`/`max`; errors by status, with Keycloak's `errorMessage` in words.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::domains::answer;

/// Page size of list requests.
pub const PAGE: usize = 100;

/// The admin routes (under `/admin/realms`, `*` for one segment) whose answer is a list of representations.
/// Reads in flight at once (what hangs off each object of a list).
pub const READS_IN_FLIGHT: usize = 8;

const LISTS: &[&str] = &[
    "",
    "*/roles",
    "*/roles/*/composites",
    "*/clients",
    "*/clients/*/roles",
    "*/clients/*/roles/*/composites",
    "*/clients/*/protocol-mappers/models",
    "*/clients/*/default-client-scopes",
    "*/clients/*/optional-client-scopes",
    "*/client-scopes",
    "*/client-scopes/*/protocol-mappers/models",
    "*/groups",
    "*/groups/*/children",
    "*/identity-provider/instances",
    "*/identity-provider/instances/*/mappers",
    "*/authentication/flows",
    "*/authentication/flows/*/executions",
    "*/authentication/required-actions",
    "*/authentication/authenticator-providers",
    "*/authentication/form-action-providers",
    "*/authentication/form-providers",
    "*/authentication/client-authenticator-providers",
    "*/components",
    "*/default-groups",
    "*/default-default-client-scopes",
    "*/default-optional-client-scopes",
    "*/users",
];

/// The admin routes whose answer is a list of strings (the realm's locales with texts).
const STRINGS: &[&str] = &["*/localization"];

/// The kinds Keycloak's representations give the members falconer reads (OpenAPI document, 26.6).
const MEMBERS: &[(&str, answer::Kind)] = &[
    ("id", answer::Kind::Str),
    ("name", answer::Kind::Str),
    ("alias", answer::Kind::Str),
    ("clientId", answer::Kind::Str),
    ("realm", answer::Kind::Str),
    ("providerId", answer::Kind::Str),
    ("protocol", answer::Kind::Str),
    ("protocolMapper", answer::Kind::Str),
    ("identityProviderMapper", answer::Kind::Str),
    ("containerId", answer::Kind::Str),
    ("description", answer::Kind::Str),
    ("username", answer::Kind::Str),
    ("enabled", answer::Kind::Bool),
    ("composite", answer::Kind::Bool),
    ("clientRole", answer::Kind::Bool),
    ("publicClient", answer::Kind::Bool),
    ("bearerOnly", answer::Kind::Bool),
    ("attributes", answer::Kind::Object),
    ("config", answer::Kind::Object),
    ("smtpServer", answer::Kind::Object),
    ("clientMappings", answer::Kind::Object),
    ("realmMappings", answer::Kind::List),
    ("redirectUris", answer::Kind::List),
    ("webOrigins", answer::Kind::List),
    ("protocolMappers", answer::Kind::List),
    ("policies", answer::Kind::List),
    ("profiles", answer::Kind::List),
    ("requirement", answer::Kind::Str),
    ("displayName", answer::Kind::Str),
    ("flowId", answer::Kind::Str),
    ("authenticationConfig", answer::Kind::Str),
    ("authenticationFlow", answer::Kind::Bool),
    ("builtIn", answer::Kind::Bool),
    ("topLevel", answer::Kind::Bool),
    ("defaultAction", answer::Kind::Bool),
    ("authenticationFlowBindingOverrides", answer::Kind::Object),
];

/// How falconer signs in.
pub enum Auth {
    /// Password grant through the `admin-cli` client.
    Password { username: String, password: String },
    /// Client credentials of a service client with the realm-management roles.
    Client { id: String, secret: String },
}

/// Where Keycloak is and how to sign in.
pub struct Config {
    /// The server's base URL (`https://keycloak.internal`, or `.../auth` for very old releases).
    pub url: String,
    pub auth: Auth,
    /// The realm to sign in to (default `master`).
    pub auth_realm: String,
    pub tls: crate::tls::Tls,
}

/// Why a request failed. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum KcError {
    #[error(transparent)]
    Setup(#[from] crate::setup::SetupError),
    #[error("cannot reach Keycloak at {url}: {why}")]
    Unreachable {
        url: String,
        why: String,
        /// No answer within the request timeout (not tried again: a hung server would only multiply it).
        timed_out: bool,
    },
    /// The TLS handshake failed (the words say what to set).
    #[error("cannot connect to Keycloak at {url}: {why}")]
    Tls { url: String, why: String },
    #[error(
        "Keycloak at {url} refused the sign-in ({status}): {message}; check the profile's [iam] credentials (or FALCONER_KEYCLOAK_USER and FALCONER_KEYCLOAK_PASSWORD)"
    )]
    SignIn {
        url: String,
        status: u16,
        message: String,
    },
    /// A change that cannot be made as asked (a secret that cannot be read, an object that is missing).
    #[error("{0}")]
    Other(String),
    #[error("Keycloak answered {status} to {method} {path}: {message}")]
    Refused {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
}

impl From<KcError> for crate::setup::SetupError {
    fn from(e: KcError) -> Self {
        use crate::setup::SetupError;
        match e {
            KcError::Setup(s) => s,
            KcError::SignIn { .. } => SetupError::SignIn(e.to_string()),
            KcError::Tls { .. } => SetupError::Tls(e.to_string()),
            e => SetupError::Unreachable(e.to_string()),
        }
    }
}

impl KcError {
    pub fn status(&self) -> Option<u16> {
        match self {
            KcError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a read that failed so may be tried again: Keycloak unreachable (not a timeout), or an answer
    /// that says "later" (429, 502, 503, 504).
    fn try_again(&self) -> bool {
        match self {
            KcError::Unreachable { timed_out, .. } => !timed_out,
            KcError::Refused { status, .. } => crate::util::try_again_later(*status),
            _ => false,
        }
    }
}

/// A successful answer.
pub struct Response {
    pub status: u16,
    /// The `Location` header of a 201.
    pub location: Option<String>,
    /// The JSON body (`null` when there is none).
    pub body: Value,
}

impl Response {
    /// The last path segment of `Location`: the new object's id (a role's name).
    pub fn created_id(&self) -> Option<String> {
        let loc = Url::parse(self.location.as_deref()?).ok()?;
        let last = loc.path_segments()?.next_back()?.to_string();
        Some(percent_decode(&last))
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(hex) = std::str::from_utf8(&b[i + 1..i + 3])
            && let Ok(x) = u8::from_str_radix(hex, 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Token {
    value: String,
    renew_at: Instant,
}

pub struct Keycloak {
    http: reqwest::Client,
    base: Url,
    config: Config,
    token: Mutex<Option<Token>>,
    requests: AtomicUsize,
    /// What the last answer asked to wait (for the next try of a read).
    asked: crate::util::AskedWait,
}

/// The words of an error body: `errorMessage` (admin API), `error_description` or `error` (token
/// endpoint), else the text itself.
fn message(body: &[u8]) -> String {
    crate::domains::provider::http_message(body, &["errorMessage", "error_description", "error"])
}

impl Keycloak {
    pub fn new(config: Config) -> Result<Keycloak, KcError> {
        let base = crate::domains::provider::http_base(&config.url, "Keycloak")?;
        let http = crate::domains::provider::http_client("Keycloak", &config.tls)?;
        Ok(Keycloak {
            http,
            base,
            config,
            token: Mutex::new(None),
            requests: AtomicUsize::new(0),
            asked: Default::default(),
        })
    }

    /// Where the server is, as it may be shown.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// Requests sent so far (token requests included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn url_of(&self, segments: &[&str]) -> Url {
        crate::domains::provider::http_join(&self.base, segments)
    }

    fn unreachable(&self, e: reqwest::Error) -> KcError {
        if let Some(why) = crate::domains::provider::http_tls(&e, &self.config.tls) {
            let url = self.url().to_string();
            return KcError::Tls { url, why };
        }
        KcError::Unreachable {
            url: self.url().to_string(),
            timed_out: e.is_timeout(),
            why: crate::domains::provider::http_why(e),
        }
    }

    /// A valid admin token; `renew` forces a new one.
    async fn token(&self, renew: bool) -> Result<String, KcError> {
        let mut t = self.token.lock().await;
        if !renew
            && let Some(t) = t.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let url = self.url_of(&[
            "realms",
            &self.config.auth_realm,
            "protocol",
            "openid-connect",
            "token",
        ]);
        let form: Vec<(&str, &str)> = match &self.config.auth {
            Auth::Password { username, password } => vec![
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", username),
                ("password", password),
            ],
            Auth::Client { id, secret } => vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let r = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = r.status().as_u16();
        let body = r.bytes().await.map_err(|e| self.unreachable(e))?;
        if !(200..300).contains(&status) {
            return Err(KcError::SignIn {
                url: self.url().to_string(),
                status,
                message: message(&body),
            });
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(value) = v.get("access_token").and_then(Value::as_str) else {
            return Err(KcError::SignIn {
                url: self.url().to_string(),
                status,
                message: "the answer has no access_token".into(),
            });
        };
        let life = v.get("expires_in").and_then(Value::as_u64).unwrap_or(60);
        // Renewed a little before it runs out: at 80% of its life, at most 10 s early.
        let early = (life / 5).min(10);
        *t = Some(Token {
            value: value.to_string(),
            renew_at: Instant::now() + Duration::from_secs(life.saturating_sub(early)),
        });
        Ok(value.to_string())
    }

    /// Signs in (checks the connection and the credentials).
    pub async fn sign_in(&self) -> Result<(), KcError> {
        self.token(false).await.map(|_| ())
    }

    /// The claims of the admin token when it is a JWT (Keycloak's are), read without checking its
    /// signature (the server checks it): who falconer is signed in as, with which roles. `None` for a
    /// token of another shape.
    pub async fn claims(&self) -> Result<Option<Value>, KcError> {
        use base64::Engine;
        let token = self.token(false).await?;
        let parts: Vec<&str> = token.split('.').collect();
        let [_, payload, _] = parts[..] else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok();
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Who the profile signs in as: the user, or the service client.
    /// The realm falconer signs in to.
    pub fn auth_realm(&self) -> &str {
        &self.config.auth_realm
    }

    pub fn account(&self) -> String {
        match &self.config.auth {
            Auth::Password { username, .. } => username.clone(),
            Auth::Client { id, .. } => format!("client {id}"),
        }
    }

    /// One request under `/admin/realms`; a 401 renews the token and tries once more. A read (GET) that finds
    /// Keycloak unreachable or busy is tried again with backoff ([`crate::util::retry_read`]); a write never is.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Response, KcError> {
        if method != Method::GET {
            return self.send_once(method, segments, query, body).await;
        }
        crate::util::retry_read(
            "Keycloak",
            || self.send_once(method.clone(), segments, query, body),
            KcError::try_again,
            || self.asked.take(),
        )
        .await
    }

    async fn send_once(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Response, KcError> {
        let mut all = vec!["admin", "realms"];
        all.extend_from_slice(segments);
        let url = self.url_of(&all);
        let shown = format!("/{}", segments.join("/"));
        for attempt in 0..2 {
            let token = self.token(attempt > 0).await?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token)
                .query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let r = req.send().await.map_err(|e| self.unreachable(e))?;
            let status = r.status().as_u16();
            if status == 401 && attempt == 0 {
                tracing::debug!(path = %shown, "401: signing in again");
                continue;
            }
            self.asked.note(r.headers());
            let location = r
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string);
            let bytes = r.bytes().await.map_err(|e| self.unreachable(e))?;
            tracing::debug!(%method, path = %shown, status, "keycloak");
            if !(200..300).contains(&status) {
                return Err(KcError::Refused {
                    method: method.to_string(),
                    path: shown,
                    status,
                    message: message(&bytes),
                });
            }
            let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|e| KcError::Refused {
                    method: method.to_string(),
                    path: shown.clone(),
                    status,
                    message: format!("the answer is not JSON: {e}"),
                })?
            };
            if method == Method::GET {
                answer::check(&body, answer::shape_of(segments, LISTS, STRINGS), MEMBERS).map_err(
                    |why| KcError::Refused {
                        method: method.to_string(),
                        path: shown.clone(),
                        status,
                        message: format!("the answer is not one Keycloak gives: {why}"),
                    },
                )?;
            }
            return Ok(Response {
                status,
                location,
                body,
            });
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// A GET's JSON body; `None` on 404.
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Option<Value>, KcError> {
        match self.send(Method::GET, segments, query, None).await {
            Ok(r) => Ok(Some(r.body)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list, page by page (`first`/`max`).
    pub async fn list(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, KcError> {
        let mut out = Vec::new();
        loop {
            let mut q = query.to_vec();
            q.push(("first", out.len().to_string()));
            q.push(("max", PAGE.to_string()));
            let page = list_of(self.send(Method::GET, segments, &q, None).await?.body, segments)?;
            let n = page.len();
            out.extend(page);
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// A list the API does not page.
    pub async fn all(&self, segments: &[&str]) -> Result<Vec<Value>, KcError> {
        list_of(self.send(Method::GET, segments, &[], None).await?.body, segments)
    }
}

/// The items of a list answer; anything else is a bad answer, never taken for an empty list (which would plan
/// to create what exists).
fn list_of(body: Value, segments: &[&str]) -> Result<Vec<Value>, KcError> {
    match body {
        Value::Array(items) => Ok(items),
        other => Err(KcError::Refused {
            method: "GET".into(),
            path: format!("/admin/realms/{}", segments.join("/")),
            status: 200,
            message: format!(
                "the answer is not a list: it is {}",
                crate::domains::provider::json_kind(&other)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kc(url: &str) -> Result<Keycloak, KcError> {
        Keycloak::new(Config {
            url: url.into(),
            auth: Auth::Password {
                username: "u".into(),
                password: "p".into(),
            },
            auth_realm: "master".into(),
            tls: Default::default(),
        })
    }

    #[test]
    fn segments_are_encoded() {
        let k = kc("http://127.0.0.1:8080/auth/").unwrap();
        let u = k.url_of(&["admin", "realms", "a b", "roles", "orders:write/x?y#z"]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/auth/admin/realms/a%20b/roles/orders:write%2Fx%3Fy%23z"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_credentials() {
        assert!(kc("ftp://x").is_err());
        let e = kc("http://admin:hunter2@h").err().unwrap().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn created_ids_come_from_location() {
        let r = Response {
            status: 201,
            location: Some("http://h/admin/realms/acme/roles/orders%3Awrite".into()),
            body: Value::Null,
        };
        assert_eq!(r.created_id().as_deref(), Some("orders:write"));
        assert_eq!(
            message(br#"{"errorMessage":"Client x already exists"}"#),
            "Client x already exists"
        );
    }
}
