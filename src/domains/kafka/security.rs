//! How falconer signs in to Kafka and encrypts the connection: the profile's `[kafka]` table (or the
//! environment), set on librdkafka's configuration. TLS through librdkafka's OpenSSL; SASL PLAIN,
//! SCRAM-SHA-256/512 and OAUTHBEARER, whose token falconer fetches itself (client credentials against a
//! token endpoint, over the same `tls` settings) and hands to librdkafka.
//!
//! ```toml
//! [kafka]
//! url = "broker1:9093"
//! security_protocol = "SASL_SSL"      # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
//! sasl_mechanism = "SCRAM-SHA-512"    # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
//! username = "falconer"
//! password = { env = "KAFKA_PASSWORD" }
//! # OAUTHBEARER: oauth = { token_endpoint = "https://idp/token", client_id = "falconer", client_secret = { env = "..." } }
//! [kafka.tls]                         # ca_file, cert_file/key_file (mTLS), mode
//! ca_file = "company-ca.pem"
//! ```

use std::path::Path;

use crate::model::SecretValue;
use crate::setup::{Env, SetupError};
use crate::tls::{Mode, Tls, TlsTable};

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Protocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    const ALL: [(Protocol, &'static str); 4] = [
        (Protocol::Plaintext, "PLAINTEXT"),
        (Protocol::Ssl, "SSL"),
        (Protocol::SaslPlaintext, "SASL_PLAINTEXT"),
        (Protocol::SaslSsl, "SASL_SSL"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(p, _)| *p == self).map_or("", |(_, s)| s)
    }

    fn tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::SaslSsl)
    }

    fn sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Mechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "OAUTHBEARER")]
    OauthBearer,
}

impl Mechanism {
    const ALL: [(Mechanism, &'static str); 4] = [
        (Mechanism::Plain, "PLAIN"),
        (Mechanism::ScramSha256, "SCRAM-SHA-256"),
        (Mechanism::ScramSha512, "SCRAM-SHA-512"),
        (Mechanism::OauthBearer, "OAUTHBEARER"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(m, _)| *m == self).map_or("", |(_, s)| s)
    }
}

/// OAUTHBEARER's token source: client credentials at a token endpoint.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthTable {
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: SecretValue,
    pub scope: Option<String>,
}

/// The profile's `[kafka]` table.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTable {
    /// The bootstrap servers, `host:port[,host:port]`.
    pub url: String,
    pub security_protocol: Option<Protocol>,
    pub sasl_mechanism: Option<Mechanism>,
    pub username: Option<String>,
    pub password: Option<SecretValue>,
    pub oauth: Option<OAuthTable>,
    pub tls: Option<TlsTable>,
}

/// OAUTHBEARER's token source, secrets read.
#[derive(Debug, Clone)]
pub struct OAuth {
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
}

/// How to reach the brokers: where, the protocol, the SASL credentials and the TLS settings.
#[derive(Debug, Clone)]
pub struct Security {
    pub bootstrap: String,
    pub protocol: Protocol,
    pub mechanism: Option<Mechanism>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub oauth: Option<OAuth>,
    pub tls: Tls,
}

impl Security {
    /// The connection's TLS and who it signs in as, in `falconer doctor`'s words.
    pub fn described(&self) -> (String, String) {
        let tls = match self.protocol.tls() {
            true => format!("on ({})", self.protocol.as_str()),
            false => format!("none ({})", self.protocol.as_str()),
        };
        let who = match (self.protocol.sasl(), self.mechanism, &self.username, &self.oauth) {
            (false, ..) => "nobody (no SASL)".to_string(),
            (true, Some(m), _, Some(o)) => format!("client {} ({})", o.client_id, m.as_str()),
            (true, m, u, _) => format!(
                "{} ({})",
                u.as_deref().unwrap_or("?"),
                m.map_or("", Mechanism::as_str)
            ),
        };
        (tls, who)
    }
}

/// The environment's names for the table's keys.
const ENV: &str = "FALCONER_KAFKA";

fn setting(key: &str, why: impl Into<String>) -> SetupError {
    SetupError::setting(format!("the profile's [kafka] {key}"), why)
}

fn parse<T: Copy>(all: &[(T, &str)], key: &str, value: &str) -> Result<T, SetupError> {
    all.iter().find(|(_, s)| *s == value).map(|(t, _)| *t).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|(_, s)| *s).collect();
        SetupError::setting(
            format!("{ENV}_{key}"),
            format!("is `{value}`: give one of {}", names.join(", ")),
        )
    })
}

impl Security {
    /// From the profile's table (secrets relative to `dir`), else the environment (`FALCONER_KAFKA_*`).
    /// Without a protocol, it follows from what is given: TLS settings mean SSL, a mechanism SASL.
    pub fn of(table: Option<&KafkaTable>, dir: &Path, env: &Env) -> Result<Security, SetupError> {
        let tls = Tls::of(
            table.and_then(|t| t.tls.as_ref()),
            table.is_some(),
            dir,
            env,
            ("kafka", ENV),
        )?;
        let (protocol, s) = match table {
            Some(t) => (t.security_protocol, Security::from_table(t, dir, tls)?),
            None => Security::from_env(env, tls)?,
        };
        s.settled(protocol)
    }

    fn from_table(t: &KafkaTable, dir: &Path, tls: Tls) -> Result<Security, SetupError> {
        let read = |s: &SecretValue, what: &str| {
            crate::domains::provider::profile_secret(s, dir, &format!("Kafka {what}"))
        };
        let oauth = match &t.oauth {
            None => None,
            Some(o) => Some(OAuth {
                token_endpoint: o.token_endpoint.clone(),
                client_id: o.client_id.clone(),
                client_secret: read(&o.client_secret, "OAuth client secret")?,
                scope: o.scope.clone(),
            }),
        };
        Ok(Security {
            bootstrap: t.url.clone(),
            protocol: Protocol::Plaintext,
            mechanism: t.sasl_mechanism,
            username: t.username.clone(),
            password: t.password.as_ref().map(|p| read(p, "password")).transpose()?,
            oauth,
            tls,
        })
    }

    fn from_env(env: &Env, tls: Tls) -> Result<(Option<Protocol>, Security), SetupError> {
        let var = |k: &str| env.get(&format!("{ENV}_{k}"));
        let bootstrap = var("BOOTSTRAP").ok_or_else(|| SetupError::NotConfigured {
            system: "Kafka",
            what: "connection",
            vars: format!("{ENV}_BOOTSTRAP (host:port[,host:port])"),
            table: "kafka",
        })?;
        let protocol = var("SECURITY_PROTOCOL")
            .map(|v| parse(&Protocol::ALL, "SECURITY_PROTOCOL", &v))
            .transpose()?;
        let mechanism = var("SASL_MECHANISM")
            .map(|v| parse(&Mechanism::ALL, "SASL_MECHANISM", &v))
            .transpose()?;
        let oauth = var("OAUTH_TOKEN_ENDPOINT").map(|token_endpoint| OAuth {
            token_endpoint,
            client_id: var("OAUTH_CLIENT_ID").unwrap_or_default(),
            client_secret: var("OAUTH_CLIENT_SECRET").unwrap_or_default(),
            scope: var("OAUTH_SCOPE"),
        });
        let s = Security {
            bootstrap,
            protocol: Protocol::Plaintext,
            mechanism,
            username: var("USERNAME"),
            password: var("PASSWORD"),
            oauth,
            tls,
        };
        Ok((protocol, s))
    }

    /// The protocol (as given, else from what is given), and the settings checked against it: a setting
    /// the protocol does not use is refused, never ignored.
    fn settled(mut self, protocol: Option<Protocol>) -> Result<Security, SetupError> {
        self.protocol = protocol.unwrap_or(match (self.mechanism.is_some(), self.tls.given()) {
            (true, true) => Protocol::SaslSsl,
            (true, false) => Protocol::SaslPlaintext,
            (false, true) => Protocol::Ssl,
            (false, false) => Protocol::Plaintext,
        });
        let p = self.protocol.as_str();
        if !self.protocol.tls() && self.tls.given() {
            let why = format!("is given, and security_protocol {p} uses no TLS: give SSL or SASL_SSL");
            return Err(SetupError::setting(self.tls.origin.trim_end_matches('_').to_string(), why));
        }
        self.tls.no_server_name("Kafka")?;
        for (key, file) in [
            ("ca_file", &self.tls.ca_file),
            ("cert_file", &self.tls.cert_file),
            ("key_file", &self.tls.key_file),
        ] {
            if let Some(f) = file {
                self.tls.read(key, f)?;
            }
        }
        if !self.protocol.sasl() {
            if self.mechanism.is_some() || self.username.is_some() || self.password.is_some() {
                let why = format!("is given, and security_protocol {p} signs in with no SASL: give SASL_PLAINTEXT or SASL_SSL");
                let key = if self.mechanism.is_some() { "sasl_mechanism" } else { "username/password" };
                return Err(setting(key, why));
            }
            return Ok(self);
        }
        let Some(m) = self.mechanism else {
            return Err(setting("sasl_mechanism", format!("is missing: {p} needs PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")));
        };
        match m {
            Mechanism::OauthBearer if self.oauth.is_none() => Err(setting(
                "oauth",
                "is missing: OAUTHBEARER needs oauth = { token_endpoint, client_id, client_secret }",
            )),
            Mechanism::OauthBearer => Ok(self),
            _ if self.username.is_none() || self.password.is_none() => Err(setting(
                "username and password",
                format!("are needed by {}", m.as_str()),
            )),
            _ => Ok(self),
        }
    }

    /// The settings on librdkafka's configuration.
    pub fn configure(&self, c: &mut rdkafka::ClientConfig) {
        c.set("security.protocol", self.protocol.as_str().to_ascii_lowercase());
        if let Some(m) = self.mechanism {
            c.set("sasl.mechanism", m.as_str());
        }
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            c.set("sasl.username", u).set("sasl.password", p);
        }
        if !self.protocol.tls() {
            return;
        }
        let path = |p: &Path| p.display().to_string();
        if let Some(ca) = &self.tls.ca_file {
            c.set("ssl.ca.location", path(ca));
        }
        if let (Some(cert), Some(key)) = (&self.tls.cert_file, &self.tls.key_file) {
            c.set("ssl.certificate.location", path(cert));
            c.set("ssl.key.location", path(key));
        }
        match self.tls.mode() {
            Mode::VerifyFull => c.set("ssl.endpoint.identification.algorithm", "https"),
            Mode::VerifyCa => c.set("ssl.endpoint.identification.algorithm", "none"),
            Mode::Insecure => c.set("enable.ssl.certificate.verification", "false"),
        };
    }
}

/// An OAUTHBEARER token and when it expires (milliseconds since the epoch).
pub struct Token {
    pub value: String,
    pub expires_ms: i64,
}

/// A token from the token endpoint by client credentials (RFC 6749, 4.4), over the `tls` settings.
pub async fn token(oauth: &OAuth, tls: &Tls) -> Result<Token, SetupError> {
    let http = crate::domains::provider::http_client("the Kafka token endpoint", tls)?;
    let mut form = vec![("grant_type", "client_credentials".to_string())];
    if let Some(scope) = &oauth.scope {
        form.push(("scope", scope.clone()));
    }
    let at = &oauth.token_endpoint;
    let sent = http
        .post(at)
        .basic_auth(&oauth.client_id, Some(&oauth.client_secret))
        .form(&form)
        .send()
        .await;
    let failed = |e: reqwest::Error| match crate::domains::provider::http_tls(&e, tls) {
        Some(why) => SetupError::Tls(format!("cannot fetch a Kafka token from {at}: {why}")),
        None => SetupError::Unreachable(format!(
            "cannot fetch a Kafka token from {at}: {}",
            crate::domains::provider::http_why(e)
        )),
    };
    let r = sent.map_err(failed)?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(failed)?;
    if !(200..300).contains(&status) {
        let message = crate::domains::provider::http_message(&body, &["error_description", "error"]);
        return Err(SetupError::SignIn(format!(
            "the Kafka token endpoint {at} refused falconer's client credentials ({status}): {message}; check [kafka] oauth"
        )));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: String,
        expires_in: Option<i64>,
    }
    let a: Answer = serde_json::from_slice(&body).map_err(|e| {
        SetupError::Unreachable(format!("the Kafka token endpoint {at} answered no token: {e}"))
    })?;
    let now = chrono::Utc::now().timestamp_millis();
    Ok(Token {
        value: a.access_token,
        expires_ms: now + a.expires_in.unwrap_or(3600) * 1000,
    })
}
