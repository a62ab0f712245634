//! Reaching a live system: the environment as the command line read it ([`Env`]), and why a system could not
//! be set up or reached ([`SetupError`]), by kind, so that callers decide on the kind and people read the words.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The process environment, read once by the command line and passed down as a value: nothing below the
/// command line reads the environment for its settings (a secret written `{ env = "NAME" }` is the one
/// exception: the user named the variable, and it is read when the secret is).
#[derive(Debug, Clone, Default)]
pub struct Env(Arc<BTreeMap<String, String>>);

impl Env {
    /// From variables and their values (the command line passes `std::env::vars()`; tests their own).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// A variable's value, when set and not empty.
    pub fn get(&self, var: &str) -> Option<String> {
        self.0.get(var).filter(|v| !v.is_empty()).cloned()
    }

    /// Whether a variable is set (and not empty).
    pub fn has(&self, var: &str) -> bool {
        self.get(var).is_some()
    }
}

/// Why a system could not be set up or reached. Never holds a secret or a URL's password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// Neither the profile nor the environment says where the system is, or how to sign in to it.
    #[error(
        "no {system} {what}: set {vars}, or give a profile with a [{table}] table (--profile FILE)"
    )]
    NotConfigured {
        system: &'static str,
        /// `connection`, `credentials`, `key`.
        what: &'static str,
        /// The environment variables that would say it.
        vars: String,
        table: &'static str,
    },
    /// A setting cannot be used: which (`the MongoDB URL`), and why (`is not valid ...`).
    #[error("{setting} {why}")]
    Setting { setting: String, why: String },
    /// A secret of the profile cannot be read.
    #[error("the profile's {what} ({from}) cannot be read: {why}")]
    Secret {
        what: String,
        /// Where it was to come from (`env FALCONER_PG_PASSWORD`, `file pg-password`).
        from: String,
        why: String,
    },
    /// The system answered and refused the credentials.
    #[error("{0}")]
    SignIn(String),
    /// The system could not be reached: refused, unknown, a transport or TLS failure (the client's words,
    /// naming where it tried).
    #[error("{0}")]
    Unreachable(String),
    /// The TLS handshake failed: the server's certificate was not trusted, expired or issued to another name,
    /// or the server refused falconer's client certificate (the words name the system and what to set).
    #[error("{0}")]
    Tls(String),
    /// The system accepted the connection and did not answer within the connect timeout.
    #[error(
        "{system}{} did not answer within {secs} s (connect timeout: the profile's [timeouts], or FALCONER_CONNECT_TIMEOUT)",
        .target.as_ref().map(|t| format!(" at {t}")).unwrap_or_default()
    )]
    TimedOut {
        system: &'static str,
        /// Where it was tried, when known.
        target: Option<String>,
        secs: u64,
    },
}

impl SetupError {
    /// A setting that cannot be used.
    pub fn setting(setting: impl Into<String>, why: impl Into<String>) -> SetupError {
        SetupError::Setting {
            setting: setting.into(),
            why: why.into(),
        }
    }
}
