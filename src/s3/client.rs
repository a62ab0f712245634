//! A small S3 REST client: SigV4-signed requests (`sigv4.rs`) over `reqwest`, path-style (default) or
//! virtual-host addressing, errors read from S3's XML error body and said in words.

use base64::Engine;
use md5::{Digest, Md5};
use reqwest::{Method, Url};

use super::sigv4::{self, Credentials};
use crate::setup::{Env, SetupError};

/// Where an S3 endpoint is and how to sign in (from the profile or the environment, never a manifest).
#[derive(Clone)]
pub struct Config {
    /// `http://127.0.0.1:8333` or `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// `bucket.host` instead of `host/bucket`.
    pub virtual_host: bool,
    /// A temporary credential's session token (`AWS_SESSION_TOKEN`), sent as `x-amz-security-token`.
    pub session_token: Option<String>,
    pub tls: crate::tls::Tls,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("virtual_host", &self.virtual_host)
            .finish_non_exhaustive()
    }
}

/// An answer from S3.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a request failed. Never holds a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum S3Error {
    #[error("cannot reach S3 at {endpoint}: {message}")]
    Unreachable {
        endpoint: String,
        message: String,
        /// No answer within the request timeout (not tried again: a hung server would only multiply it).
        timed_out: bool,
    },
    /// The TLS handshake failed (the words say what to set).
    #[error("cannot connect to S3 at {endpoint}: {message}")]
    Tls { endpoint: String, message: String },
    #[error(
        "S3 at {endpoint} refused the credentials ({code}): check the access key and secret key of the profile or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    )]
    Auth { endpoint: String, code: String },
    #[error("S3 refused `{operation}` ({code}, HTTP {status}): {message}")]
    Refused {
        operation: String,
        status: u16,
        code: String,
        message: String,
    },
}

impl S3Error {
    /// Whether a read that failed so may be tried again: S3 unreachable (not a timeout), or an answer that
    /// says "later" (429, 502, 503 such as SlowDown, 504).
    fn try_again(&self) -> bool {
        match self {
            S3Error::Unreachable { timed_out, .. } => !timed_out,
            S3Error::Refused { status, .. } => crate::util::try_again_later(*status),
            S3Error::Auth { .. } | S3Error::Tls { .. } => false,
        }
    }

    /// The S3 error code (`NoSuchBucket`, `NoSuchLifecycleConfiguration`, ...), if the server gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            S3Error::Refused { code, .. } | S3Error::Auth { code, .. } => Some(code),
            S3Error::Unreachable { .. } | S3Error::Tls { .. } => None,
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    pub config: Config,
    endpoint: Url,
    /// What the last answer asked to wait (for the next try of a read).
    asked: crate::util::AskedWait,
    /// Requests in flight at once, at most [`IN_FLIGHT`]: the connections S3 sees from this client are
    /// bounded, however many buckets (or a fleet's tenants) are read at once.
    in_flight: tokio::sync::Semaphore,
}

/// Requests one client has in flight at once.
pub const IN_FLIGHT: usize = 16;

/// A request: the bucket (or none, for the service), the query (a bare sub-resource has an empty value)
/// and the body.
pub struct Call<'a> {
    pub method: Method,
    pub bucket: Option<&'a str>,
    /// An object key in the bucket.
    pub key: Option<&'a str>,
    pub query: Vec<(String, String)>,
    /// Headers beyond the signing ones (signed too), such as `if-none-match`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, bucket: Option<&'a str>, sub: &str) -> Call<'a> {
        let query = if sub.is_empty() {
            Vec::new()
        } else {
            vec![(sub.to_string(), String::new())]
        };
        Call {
            method,
            bucket,
            key: None,
            query,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A header to send (and sign).
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_ascii_lowercase(), v.to_string()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    pub fn key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }

    pub fn param(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.to_string(), v.to_string()));
        self
    }

    /// `GET bucket?lifecycle`, for messages.
    pub fn describe(&self) -> String {
        let q: Vec<&str> = self.query.iter().map(|(k, _)| k.as_str()).collect();
        format!(
            "{} {}{}{}",
            self.method,
            self.bucket.unwrap_or("/"),
            if q.is_empty() { "" } else { "?" },
            q.join("&")
        )
    }
}

impl Config {
    /// From the environment: the endpoint from the first of `endpoints` that is set, with
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` and
    /// `FALCONER_S3_ADDRESSING`; TLS from `<tls>_TLS_*` (`tls` like `FALCONER_S3`).
    pub fn from_env(env: &Env, endpoints: &[&str], tls: &str) -> Result<Config, SetupError> {
        let var = |k: &str| env.get(k);
        let missing = |what, vars| SetupError::NotConfigured {
            system: "S3",
            what,
            vars,
            table: "storage",
        };
        let endpoint = endpoints.iter().find_map(|k| var(k)).ok_or_else(|| {
            let vars = format!(
                "{} (https://host[:port]) with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                endpoints.join(" or ")
            );
            missing("connection", vars)
        })?;
        let (Some(access_key), Some(secret_key)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            let vars = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string();
            return Err(missing("credentials", vars));
        };
        Ok(Config {
            endpoint,
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            access_key,
            secret_key,
            virtual_host: var("FALCONER_S3_ADDRESSING").as_deref() == Some("virtual"),
            session_token: var("AWS_SESSION_TOKEN"),
            tls: crate::tls::Tls::of(None, false, std::path::Path::new(""), env, ("storage", tls))?,
        })
    }
}

impl Client {
    pub fn new(config: Config) -> Result<Client, SetupError> {
        let endpoint = Url::parse(&config.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                let why = format!(
                    "{:?} is not an http(s) URL like https://s3.eu-west-1.amazonaws.com",
                    config.endpoint
                );
                SetupError::setting("the S3 endpoint", why)
            })?;
        let t = crate::util::timeouts();
        let builder = reqwest::Client::builder()
            .timeout(t.request)
            .connect_timeout(t.connect)
            .pool_max_idle_per_host(IN_FLIGHT);
        let http = config.tls.http(builder, "S3")?.build().map_err(|e| {
            SetupError::setting("the S3 HTTP client", format!("cannot be set up: {e}"))
        })?;
        Ok(Client {
            http,
            config,
            endpoint,
            asked: Default::default(),
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
        })
    }

    fn url(&self, bucket: Option<&str>, key: Option<&str>) -> Url {
        let mut url = self.endpoint.clone();
        let key = key
            .map(|k| format!("/{}", sigv4::uri_encode(k, true)))
            .unwrap_or_default();
        match bucket {
            Some(b) if self.config.virtual_host => {
                let host = format!("{b}.{}", self.endpoint.host_str().unwrap_or_default());
                let _ = url.set_host(Some(&host));
                url.set_path(if key.is_empty() { "/" } else { &key });
            }
            Some(b) => url.set_path(&format!("/{}{key}", sigv4::uri_encode(b, false))),
            None => url.set_path("/"),
        }
        url
    }

    /// Sends a signed request; a 2xx answer is `Ok`, anything else an [`S3Error`]. A read (GET, HEAD) that
    /// finds S3 unreachable or busy is tried again with backoff ([`crate::util::retry_read`]); a write
    /// never is.
    pub async fn send(&self, call: Call<'_>) -> Result<Response, S3Error> {
        if !matches!(call.method, Method::GET | Method::HEAD) {
            return self.send_once(&call).await;
        }
        let asked = || self.asked.take();
        crate::util::retry_read("S3", || self.send_once(&call), S3Error::try_again, asked).await
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<Response, S3Error> {
        let unreachable = |e: reqwest::Error| match crate::tls::failure(&e) {
            Some(f) => S3Error::Tls {
                endpoint: self.config.endpoint.clone(),
                message: crate::tls::advice(&f, &|k| self.config.tls.key(k)),
            },
            None => S3Error::Unreachable {
                endpoint: self.config.endpoint.clone(),
                message: reqwest_reason(&e),
                timed_out: e.is_timeout(),
            },
        };
        // The semaphore is never closed: a permit always comes.
        let _permit = self.in_flight.acquire().await.ok();
        let resp = self.signed(call).send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        self.asked.note(resp.headers());
        let body = resp.bytes().await.map_err(unreachable)?.to_vec();
        if (200..300).contains(&status) {
            return Ok(Response { status, body });
        }
        Err(self.refusal(call, status, &body))
    }

    /// The request, signed with AWS Signature Version 4.
    fn signed(&self, call: &Call<'_>) -> reqwest::RequestBuilder {
        let url = self.url(call.bucket, call.key);
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let amz_date = amz_date(std::time::SystemTime::now());
        let payload_hash = sigv4::sha256_hex(&call.body);
        let mut headers = vec![
            ("host".to_string(), host),
            ("x-amz-content-sha256".to_string(), payload_hash.clone()),
            ("x-amz-date".to_string(), amz_date.clone()),
        ];
        headers.extend(call.headers.iter().cloned());
        if let Some(token) = &self.config.session_token {
            headers.push(("x-amz-security-token".to_string(), token.clone()));
        }
        if !call.body.is_empty() {
            let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&call.body));
            headers.push(("content-md5".to_string(), md5));
        }
        let auth = sigv4::authorization(
            &Credentials {
                access_key: &self.config.access_key,
                secret_key: &self.config.secret_key,
                region: &self.config.region,
            },
            &sigv4::Request {
                method: call.method.as_str(),
                path: url.path(),
                query: &call.query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
            &amz_date,
        );
        let mut full = url.clone();
        let q = sigv4::canonical_query(&call.query);
        full.set_query(if q.is_empty() { None } else { Some(&q) });
        let mut req = self
            .http
            .request(call.method.clone(), full)
            .header("authorization", auth);
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            req = req.header(k.as_str(), v.as_str());
        }
        req.body(call.body.clone())
    }

    /// What a non-2xx answer means: bad credentials, or a refusal of the operation.
    fn refusal(&self, call: &Call<'_>, status: u16, body: &[u8]) -> S3Error {
        let (code, message) = error_body(body);
        let code = code.unwrap_or_else(|| format!("HTTP {status}"));
        let auth = matches!(
            code.as_str(),
            "SignatureDoesNotMatch" | "InvalidAccessKeyId"
        ) || (status == 403
            && matches!(code.as_str(), "AccessDenied" | "HTTP 403")
            && call.bucket.is_none());
        if auth {
            return S3Error::Auth {
                endpoint: self.config.endpoint.clone(),
                code,
            };
        }
        S3Error::Refused {
            operation: call.describe(),
            status,
            code,
            message: message.unwrap_or_default(),
        }
    }
}

/// The reason of a transport error, without the URL.
fn reqwest_reason(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection refused or unreachable".to_string()
    } else {
        "the request failed".to_string()
    };
    if let Some(src) = std::error::Error::source(e) {
        s.push_str(&format!(" ({src})"));
    }
    s
}

/// `Code` and `Message` of S3's XML error body.
fn error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    match quick_xml::de::from_reader::<_, E>(body) {
        Ok(e) => (e.code, e.message),
        Err(_) => (None, None),
    }
}

/// `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::util::rfc3339(secs).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str, virtual_host: bool) -> Client {
        Client::new(Config {
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            access_key: "AK".into(),
            secret_key: "SK".into(),
            virtual_host,
            session_token: None,
            tls: Default::default(),
        })
        .expect("a client")
    }

    #[test]
    fn path_style_and_virtual_host_addresses() {
        let path = client("http://127.0.0.1:8333", false);
        assert_eq!(
            path.url(Some("acme-logs"), Some("a b/c.txt")).as_str(),
            "http://127.0.0.1:8333/acme-logs/a%20b/c.txt"
        );
        let virt = client("https://s3.eu-west-1.amazonaws.com", true);
        assert_eq!(
            virt.url(Some("acme-logs"), None).as_str(),
            "https://acme-logs.s3.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            virt.url(None, None).as_str(),
            "https://s3.eu-west-1.amazonaws.com/"
        );
    }

    #[test]
    fn endpoints_that_are_not_http_urls_are_refused() {
        for bad in ["s3.amazonaws.com", "ftp://x", ""] {
            let e = Client::new(Config {
                endpoint: bad.into(),
                region: "us-east-1".into(),
                access_key: "AK".into(),
                secret_key: "SK".into(),
                virtual_host: false,
                session_token: None,
                tls: Default::default(),
            })
            .err()
            .expect("refused");
            assert!(matches!(e, SetupError::Setting { .. }), "{e}");
            assert!(e.to_string().contains("is not an http(s) URL"), "{e}");
        }
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let mut c = client("http://127.0.0.1:8333", false);
        c.config.session_token = Some("FwoGZXIvYXdzE-session".into());
        let req = c
            .signed(&Call::new(Method::GET, Some("acme-logs"), ""))
            .build()
            .expect("a request");
        let header = |k: &str| {
            req.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("x-amz-security-token"), "FwoGZXIvYXdzE-session");
        let auth = header("authorization");
        let signed = auth.split("SignedHeaders=").nth(1).unwrap_or_default();
        assert!(signed.contains("x-amz-security-token"), "{auth}");
        let plain = client("http://127.0.0.1:8333", false)
            .signed(&Call::new(Method::GET, Some("acme-logs"), ""))
            .build()
            .expect("a request");
        assert!(plain.headers().get("x-amz-security-token").is_none());
    }

    #[test]
    fn the_debug_form_never_shows_the_keys() {
        let c = client("http://127.0.0.1:1", false);
        let shown = format!("{:?}", c.config);
        assert!(!shown.contains("SK") && !shown.contains("AK"), "{shown}");
    }
}
