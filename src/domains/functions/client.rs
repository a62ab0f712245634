//! A client of OpenWhisk's REST API (`/api/v1`): HTTP Basic auth with the namespace's `uuid:key`, every path
//! segment percent-encoded, lists paged with `limit`/`skip`, and OpenWhisk's `{error, code}` bodies turned
//! into sentences that carry the transaction id.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::domains::answer;
use reqwest::{Method, Url};
use serde_json::Value;

/// The largest page OpenWhisk gives.
pub const PAGE: usize = 200;

/// The routes (under `/api/v1`, `*` for one segment) whose answer is a list of entities.
const LISTS: &[&str] = &[
    "namespaces/*/actions",
    "namespaces/*/packages",
    "namespaces/*/triggers",
    "namespaces/*/rules",
];

/// The routes whose answer is a list of strings (the namespaces the key may use).
const STRINGS: &[&str] = &["namespaces"];

/// The kinds OpenWhisk's entities give the members falconer reads (`apiv1swagger.json`).
const MEMBERS: &[(&str, answer::Kind)] = &[
    ("name", answer::Kind::Str),
    ("namespace", answer::Kind::Str),
    ("version", answer::Kind::Str),
    ("publish", answer::Kind::Bool),
    ("exec", answer::Kind::Object),
    ("limits", answer::Kind::Object),
    ("parameters", answer::Kind::List),
    ("annotations", answer::Kind::List),
];

/// Where OpenWhisk is and the key to use.
pub struct Config {
    /// The API host (`https://openwhisk.internal`); `/api/v1` is added.
    pub url: String,
    /// `uuid:key`.
    pub auth: String,
    pub tls: crate::tls::Tls,
}

/// Why a request failed. Never holds the key.
#[derive(Debug, thiserror::Error)]
pub enum OwError {
    #[error(transparent)]
    Setup(#[from] crate::setup::SetupError),
    #[error("the OpenWhisk key is not valid: it is `uuid:key`, with a colon")]
    Auth,
    /// The TLS handshake failed (the words say what to set).
    #[error("cannot connect to OpenWhisk at {url}: {why}")]
    Tls { url: String, why: String },
    #[error("cannot reach OpenWhisk at {url}: {why}")]
    Unreachable {
        url: String,
        why: String,
        /// No answer within the request timeout (not tried again: a hung server would only multiply it).
        timed_out: bool,
    },
    #[error(
        "OpenWhisk at {url} refused the key ({status}): {message}; check the profile's [functions] auth (or FALCONER_OPENWHISK_AUTH)"
    )]
    Credentials {
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "OpenWhisk answered {status} to {method} {path}: {message}{}",
        transaction(code)
    )]
    Refused {
        method: String,
        path: String,
        status: u16,
        message: String,
        /// The transaction id OpenWhisk gives with an error (for its logs).
        code: Option<String>,
    },
    /// A change that cannot be made as asked (a file or secret that cannot be read).
    #[error("{0}")]
    Other(String),
}

fn transaction(code: &Option<String>) -> String {
    code.as_ref()
        .map(|c| format!(" (transaction {c})"))
        .unwrap_or_default()
}

impl OwError {
    /// Whether a read that failed so may be tried again: OpenWhisk unreachable (not a timeout), or an
    /// answer that says "later" (429, 502, 503, 504).
    fn try_again(&self) -> bool {
        match self {
            OwError::Unreachable { timed_out, .. } => !timed_out,
            OwError::Refused { status, .. } => crate::util::try_again_later(*status),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            OwError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub struct Whisk {
    http: reqwest::Client,
    base: Url,
    user: String,
    key: String,
    /// To name the TLS settings in errors.
    tls: crate::tls::Tls,
    requests: AtomicUsize,
    /// What the last answer asked to wait (for the next try of a read).
    asked: crate::util::AskedWait,
}

impl From<OwError> for crate::setup::SetupError {
    fn from(e: OwError) -> Self {
        use crate::setup::SetupError;
        match e {
            OwError::Setup(s) => s,
            OwError::Auth => {
                SetupError::setting("the OpenWhisk key", "is not valid: it is `uuid:key`, with a colon")
            }
            OwError::Credentials { .. } => SetupError::SignIn(e.to_string()),
            OwError::Tls { .. } => SetupError::Tls(e.to_string()),
            e => SetupError::Unreachable(e.to_string()),
        }
    }
}

impl Whisk {
    pub fn new(config: Config) -> Result<Whisk, OwError> {
        let mut base = crate::domains::provider::http_base(&config.url, "OpenWhisk")?;
        if let Ok(mut p) = base.path_segments_mut() {
            p.pop_if_empty();
            if !config.url.trim_end_matches('/').ends_with("/api/v1") {
                p.extend(["api", "v1"]);
            }
        }
        let (user, key) = config.auth.split_once(':').ok_or(OwError::Auth)?;
        let http = crate::domains::provider::http_client("OpenWhisk", &config.tls)?;
        Ok(Whisk {
            http,
            base,
            user: user.to_string(),
            key: key.to_string(),
            tls: config.tls.clone(),
            requests: AtomicUsize::new(0),
            asked: Default::default(),
        })
    }

    /// Where the server is, as it may be shown.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// Requests sent so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn url_of(&self, segments: &[&str]) -> Url {
        crate::domains::provider::http_join(&self.base, segments)
    }

    /// One request under `/api/v1`. A read (GET) that finds OpenWhisk unreachable or busy is tried again
    /// with backoff ([`crate::util::retry_read`]); a write never is.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, OwError> {
        if method != Method::GET {
            return self.send_once(method, segments, query, body).await;
        }
        crate::util::retry_read(
            "OpenWhisk",
            || self.send_once(method.clone(), segments, query, body),
            OwError::try_again,
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
    ) -> Result<Value, OwError> {
        let shown = format!("/{}", segments.join("/"));
        let mut req = self
            .http
            .request(method.clone(), self.url_of(segments))
            .basic_auth(&self.user, Some(&self.key))
            .query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let unreachable = |e: reqwest::Error| match crate::domains::provider::http_tls(&e, &self.tls) {
            Some(why) => OwError::Tls {
                url: self.url().to_string(),
                why,
            },
            None => OwError::Unreachable {
                url: self.url().to_string(),
                timed_out: e.is_timeout(),
                why: crate::domains::provider::http_why(e),
            },
        };
        let r = req.send().await.map_err(unreachable)?;
        let status = r.status().as_u16();
        self.asked.note(r.headers());
        let bytes = r.bytes().await.map_err(unreachable)?;
        tracing::debug!(%method, path = %shown, status, "openwhisk");
        let parsed = if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(Value::Null)
        } else {
            serde_json::from_slice::<Value>(&bytes)
        };
        if (200..300).contains(&status) {
            // A success whose body is not JSON, or not of the shape OpenWhisk gives, is a bad answer, never
            // taken for an empty one.
            let refused = |message: String| OwError::Refused {
                method: method.to_string(),
                path: shown.clone(),
                status,
                message,
                code: None,
            };
            let body = parsed.map_err(|e| refused(format!("the answer is not JSON: {e}")))?;
            if method == Method::GET {
                answer::check(&body, answer::shape_of(segments, LISTS, STRINGS), MEMBERS)
                    .map_err(|why| refused(format!("the answer is not one OpenWhisk gives: {why}")))?;
            }
            return Ok(body);
        }
        let body = parsed.unwrap_or(Value::Null);
        let message = crate::domains::provider::http_message(&bytes, &["error"]);
        if status == 401 {
            return Err(OwError::Credentials {
                url: self.url().to_string(),
                status,
                message,
            });
        }
        Err(OwError::Refused {
            method: method.to_string(),
            path: shown,
            status,
            message,
            code: body
                .get("code")
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string)),
        })
    }

    /// A GET's body; `None` on 404.
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Option<Value>, OwError> {
        match self.send(Method::GET, segments, query, None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list, page by page (`limit`/`skip`).
    pub async fn list(&self, segments: &[&str]) -> Result<Vec<Value>, OwError> {
        let mut out = Vec::new();
        loop {
            let q = [("limit", PAGE.to_string()), ("skip", out.len().to_string())];
            let page = match self.send(Method::GET, segments, &q, None).await? {
                Value::Array(page) => page,
                // Anything else is a bad answer, never taken for an empty list.
                other => {
                    return Err(OwError::Refused {
                        method: "GET".into(),
                        path: format!("/{}", segments.join("/")),
                        status: 200,
                        message: format!(
                            "the answer is not a list: it is {}",
                            crate::domains::provider::json_kind(&other)
                        ),
                        code: None,
                    });
                }
            };
            let n = page.len();
            out.extend(page);
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// Checks the address and the key (`GET /namespaces`).
    pub async fn check(&self) -> Result<(), OwError> {
        self.send(Method::GET, &["namespaces"], &[], None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whisk(url: &str, auth: &str) -> Result<Whisk, OwError> {
        Whisk::new(Config {
            url: url.into(),
            auth: auth.into(),
            tls: Default::default(),
        })
    }

    #[test]
    fn segments_are_encoded_under_api_v1() {
        let w = whisk("http://127.0.0.1:3233/", "u:k").unwrap();
        let u = w.url_of(&["namespaces", "acme", "actions", "orders", "a b?c"]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:3233/api/v1/namespaces/acme/actions/orders/a%20b%3Fc"
        );
        let w = whisk("http://h/api/v1", "u:k").unwrap();
        assert_eq!(
            w.url_of(&["namespaces"]).as_str(),
            "http://h/api/v1/namespaces"
        );
    }

    #[test]
    fn bad_settings_are_refused_without_the_key() {
        assert!(matches!(whisk("http://h", "no-colon"), Err(OwError::Auth)));
        let e = whisk("http://u:secret-key@h", "u:k")
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("secret-key"), "{e}");
        let e = OwError::Refused {
            method: "PUT".into(),
            path: "/namespaces/acme/actions/a".into(),
            status: 409,
            message: "resource already exists".into(),
            code: Some("abc123".into()),
        };
        assert_eq!(
            e.to_string(),
            "OpenWhisk answered 409 to PUT /namespaces/acme/actions/a: resource already exists (transaction abc123)"
        );
    }
}
