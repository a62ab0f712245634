//! The connection profile (`--profile FILE`, env `FALCONER_PROFILE`): where the live systems are and how to
//! sign in. Kept out of manifests, which stay the same in every environment.
//!
//! ```toml
//! [postgres]
//! url = "postgres://falconer@db.internal:5432/platform"
//! password = { env = "FALCONER_PG_PASSWORD" }   # or { file = "pg-password" }, relative to the profile
//!
//! [mongo]
//! url = "mongodb://falconer@mongo.internal:27017/?authSource=admin"
//! password = { env = "FALCONER_MONGO_PASSWORD" }
//!
//! [storage]
//! endpoint = "https://s3.eu-west-1.amazonaws.com"
//! region = "eu-west-1"                      # default us-east-1
//! access_key_id = "AKIA..."
//! secret_access_key = { env = "FALCONER_S3_SECRET" }
//! addressing = "path"                        # or "virtual" (bucket.host)
//!
//! [kafka]
//! url = "broker1:9092,broker2:9092"          # the bootstrap servers
//!
//! [iam]
//! url = "https://keycloak.internal"          # Keycloak's base URL (`.../auth` for very old releases)
//! username = "falconer"                      # password grant through admin-cli ...
//! password = { env = "FALCONER_KC_PASSWORD" }
//! # client_id = "falconer" and client_secret = { env = "..." }: client credentials instead
//! # auth_realm = "master"                    # the realm to sign in to
//!
//! [functions]
//! url = "https://openwhisk.internal"         # the API host (`/api/v1` is added)
//! auth = { env = "FALCONER_OW_AUTH" }         # the namespace's `uuid:key`
//! ```
//!
//! The tables are declared by the registry of live systems (`domains::systems`), each by its domain; one more
//! table guards production restores:
//!
//! ```toml
//! [restore]
//! operational_hours = "09:00-18:00"          # restores of production tenants only then (default)
//! timezone = "local"                         # or "UTC", or a fixed offset like "+01:00"
//! totp_secret = { env = "FALCONER_RESTORE_TOTP" }  # base32; then a one-time code is needed too
//!
//! [backup]
//! repo = "s3://backups/falconer"             # when neither --repo nor FALCONER_REPO is given
//! key = { env = "FALCONER_BACKUP_KEY" }       # encrypts the repository's blobs (docs/backup.md)
//!
//! [serve]                                     # the agent (docs/agent.md)
//! token = { env = "FALCONER_SERVE_TOKEN" }     # its API asks for it (Authorization: Bearer ...)
//! metrics_public = false                      # true: /metrics without the token
//!
//! [[serve.webhook]]                           # the agent's notifications
//! url = { env = "FALCONER_WEBHOOK_URL" }      # a secret: Slack's URLs carry a token
//! format = "json"                             # or "slack"
//! secret = { env = "FALCONER_WEBHOOK_SECRET" } # signs the JSON payloads
//!
//! [timeouts]                                  # seconds (docs/reliability.md); defaults 10 and 30
//! connect = 10
//! request = 30
//! [timeouts.postgres]                         # one system's own
//! connect = 5
//! ```
//!
//! Without a profile (or without a system's table), a system is reached at its environment variables:
//! `FALCONER_POSTGRES_URL`, `FALCONER_MONGO_URL`, `FALCONER_KAFKA_BOOTSTRAP`; S3 at `FALCONER_S3_ENDPOINT` with `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `FALCONER_S3_ADDRESSING`; Keycloak at `FALCONER_KEYCLOAK_URL` with
//! `FALCONER_KEYCLOAK_USER` and `FALCONER_KEYCLOAK_PASSWORD` (or `FALCONER_KEYCLOAK_CLIENT_ID` and
//! `FALCONER_KEYCLOAK_CLIENT_SECRET`); OpenWhisk at `FALCONER_OPENWHISK_URL` with `FALCONER_OPENWHISK_AUTH`.

use std::path::{Path, PathBuf};

use crate::domains::systems::{Live, Tables};
use crate::model::Domain;
use crate::setup::Env;
use crate::util::Timeouts;

/// Why a profile cannot be used: the file cannot be read, or a table in it is wrong (with its place).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the profile {}: {kind}", path.display())]
    Read {
        path: PathBuf,
        kind: std::io::ErrorKind,
    },
    /// `at` is where in the file (`:line:column`), when known.
    #[error("{}{at}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        at: String,
        message: String,
    },
    /// A setting of falconer's own tables cannot be used: which (`[restore] timezone`), and why.
    #[error("the profile's {setting} {why}")]
    Setting { setting: String, why: String },
    /// A secret of the profile cannot be read.
    #[error(transparent)]
    Secret(Box<crate::setup::SetupError>),
}

impl From<crate::setup::SetupError> for ProfileError {
    fn from(e: crate::setup::SetupError) -> Self {
        ProfileError::Secret(Box::new(e))
    }
}

impl ProfileError {
    /// A setting of falconer's own tables that cannot be used.
    pub fn setting(setting: impl Into<String>, why: impl Into<String>) -> ProfileError {
        ProfileError::Setting {
            setting: setting.into(),
            why: why.into(),
        }
    }
}

fn invalid(path: &Path, message: String) -> ProfileError {
    ProfileError::Invalid {
        path: path.to_path_buf(),
        at: String::new(),
        message,
    }
}

/// The `[restore]` table: when production restores may run, and their second factor.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreTable {
    /// `HH:MM-HH:MM` (default 09:00-18:00); a range past midnight (`22:00-06:00`) wraps.
    pub operational_hours: Option<String>,
    /// `local` (default), `UTC`, or a fixed offset `+HH:MM` / `-HH:MM`.
    pub timezone: Option<String>,
    /// A base32 TOTP secret (RFC 6238): production restores then need a current one-time code.
    pub totp_secret: Option<crate::model::secret::SecretValue>,
}

impl RestoreTable {
    fn is_default(&self) -> bool {
        self.operational_hours.is_none() && self.timezone.is_none() && self.totp_secret.is_none()
    }
}

/// The `[backup]` table: the repository used when `--repo` and `FALCONER_REPO` are not given, and the S3
/// endpoint of a repository on S3 (else the environment's).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupTable {
    /// `file:PATH` or `s3://bucket/prefix`.
    pub repo: Option<String>,
    /// The repository's encryption key: `{ env = "NAME" }` or `{ file = "PATH" }`.
    pub key: Option<crate::model::SecretValue>,
    /// The S3 endpoint of an `s3://` repository, with its credentials and TLS (as `[storage]`'s).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<crate::model::SecretValue>,
    pub session_token: Option<crate::model::SecretValue>,
    /// `path` (default) or `virtual`.
    pub addressing: Option<String>,
    pub tls: Option<crate::tls::TlsTable>,
}

impl BackupTable {
    fn is_default(&self) -> bool {
        self.repo.is_none() && self.key.is_none() && self.endpoint.is_none() && self.tls.is_none()
    }

    /// The S3 connection of the repository, when the table gives an endpoint (secrets relative to `dir`).
    pub fn s3(&self, dir: &Path) -> Result<Option<crate::s3::client::Config>, ProfileError> {
        let Some(endpoint) = &self.endpoint else {
            if self.tls.is_some() || self.access_key_id.is_some() {
                return Err(ProfileError::setting(
                    "[backup] table",
                    "gives credentials or tls without an endpoint: add `endpoint`",
                ));
            }
            return Ok(None);
        };
        let secret = |s: &Option<crate::model::SecretValue>, what: &str| {
            s.as_ref()
                .map(|s| crate::domains::provider::profile_secret(s, dir, what))
                .transpose()
        };
        let (Some(access_key), Some(secret_key)) = (
            self.access_key_id.clone(),
            secret(&self.secret_access_key, "backup S3 secret key")?,
        ) else {
            let why = "gives an endpoint without access_key_id and secret_access_key";
            return Err(ProfileError::setting("[backup] table", why));
        };
        let virtual_host = match self.addressing.as_deref() {
            None | Some("path") => false,
            Some("virtual") => true,
            Some(other) => {
                let why = format!("is `{other}`: give path or virtual");
                return Err(ProfileError::setting("[backup] addressing", why));
            }
        };
        let env = crate::setup::Env::default();
        let tls = crate::tls::Tls::of(
            self.tls.as_ref(),
            true,
            dir,
            &env,
            ("backup", "FALCONER_BACKUP"),
        )?;
        Ok(Some(crate::s3::client::Config {
            endpoint: endpoint.clone(),
            region: self.region.clone().unwrap_or_else(|| "us-east-1".into()),
            access_key,
            secret_key,
            virtual_host,
            session_token: secret(&self.session_token, "backup S3 session token")?,
            tls,
        }))
    }
}

/// The `[serve]` table: the agent's webhooks (docs/agent.md).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeTable {
    #[serde(default)]
    pub webhook: Vec<WebhookTable>,
    /// The token the API (and `/metrics`, unless `metrics_public`) asks for: `Authorization: Bearer ...`.
    #[serde(default)]
    pub token: Option<crate::model::SecretValue>,
    /// `/metrics` without the token.
    #[serde(default)]
    pub metrics_public: bool,
    /// The token of the API's two writes (a backup or a drift check now), another than `token`.
    #[serde(default)]
    pub write_token: Option<crate::model::SecretValue>,
    /// The agent's own TLS.
    #[serde(default)]
    pub tls: Option<ServeTlsTable>,
}

impl ServeTable {
    fn is_default(&self) -> bool {
        self.webhook.is_empty()
            && self.token.is_none()
            && !self.metrics_public
            && self.write_token.is_none()
            && self.tls.is_none()
    }
}

/// `[serve.tls]`: the agent's certificate chain and key, and the authority of the client certificates it
/// requires (mTLS); files relative to the profile.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeTlsTable {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// One `[[serve.webhook]]`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTable {
    /// The URL, a secret (Slack's carry a token): `{ env }`, `{ file }` or `{ command }`.
    pub url: crate::model::SecretValue,
    /// `json` (falconer's, signed with `secret`) or `slack` (Slack's incoming webhooks).
    #[serde(default)]
    pub format: Option<String>,
    /// The key of the JSON payloads' signature (HMAC-SHA256).
    #[serde(default)]
    pub secret: Option<crate::model::SecretValue>,
}

/// The `[timeouts]` table: seconds to reach a system and sign in (`connect`) and for one request (`request`),
/// for every system, and per system in a table of its own (`[timeouts.postgres]`).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct TimeoutsTable {
    pub connect: Option<u64>,
    pub request: Option<u64>,
    #[serde(flatten)]
    pub systems: std::collections::BTreeMap<String, SystemTimeouts>,
}

/// One system's timeouts, in seconds.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemTimeouts {
    pub connect: Option<u64>,
    pub request: Option<u64>,
}

impl TimeoutsTable {
    /// Refuses a table for a system that does not exist, and zero.
    fn check(&self, path: &Path) -> Result<(), ProfileError> {
        if let Some(k) = self
            .systems
            .keys()
            .find(|k| !Domain::ALL.iter().any(|d| d.as_str() == k.as_str()))
        {
            let all = Domain::ALL.map(|d| d.as_str()).join(", ");
            let why = format!("[timeouts.{k}]: no such system (the systems are {all})");
            return Err(invalid(path, why));
        }
        let all = self.systems.values().flat_map(|s| [s.connect, s.request]);
        if all
            .chain([self.connect, self.request])
            .any(|t| t == Some(0))
        {
            let why = "[timeouts]: a timeout of 0 s would never wait";
            return Err(invalid(path, why.into()));
        }
        Ok(())
    }

    /// A system's timeouts: its own, else the table's, else `base`.
    fn of(&self, domain: Domain, base: Timeouts) -> Timeouts {
        let own = self
            .systems
            .get(domain.as_str())
            .cloned()
            .unwrap_or_default();
        self.over(&own, base)
    }

    /// `own`'s timeouts, else the table's, else `base`.
    fn over(&self, own: &SystemTimeouts, base: Timeouts) -> Timeouts {
        let pick = |own: Option<u64>, all: Option<u64>, base: std::time::Duration| {
            own.or(all).map_or(base, std::time::Duration::from_secs)
        };
        Timeouts {
            connect: pick(own.connect, self.connect, base.connect),
            request: pick(own.request, self.request, base.request),
        }
    }
}

/// Takes one of falconer's own tables (`[restore]`, `[backup]`) out of the profile; absent, its defaults.
fn own_table<T: serde::de::DeserializeOwned + Default>(
    all: &mut toml::Table,
    name: &str,
    path: &Path,
) -> Result<T, ProfileError> {
    match all.remove(name) {
        None => Ok(T::default()),
        Some(v) => v.try_into().map_err(|e: toml::de::Error| {
            invalid(path, format!("[{name}]: {}", e.message().trim_end()))
        }),
    }
}

/// A connection profile: its tables, and where it was read from.
#[derive(Debug, Default)]
pub struct Profile {
    pub tables: Tables,
    pub restore: RestoreTable,
    pub backup: BackupTable,
    pub serve: ServeTable,
    /// Where the file was read from (secret files are relative to its directory); empty without a file.
    pub dir: PathBuf,
    /// The `[timeouts]` table, when given.
    pub timeouts: TimeoutsTable,
    /// The environment, for the systems the profile has no table for.
    pub env: Env,
    /// `allow_manifest_commands = true`: a manifest's secret `{ command }` runs in live plans and applies.
    pub manifest_commands: bool,
    /// `environments = [...]`: the environments a tenant can be in (default [`DEFAULT_ENVIRONMENTS`]).
    pub environments: Option<Vec<String>>,
}

/// The environments a tenant can be in where the profile does not list its own.
pub const DEFAULT_ENVIRONMENTS: [&str; 4] = ["production", "staging", "test", "development"];

impl Profile {
    /// No profile: every system from the environment.
    pub fn from_env(env: Env) -> Profile {
        Profile {
            env,
            ..Profile::default()
        }
    }

    /// Reads a profile (the systems it has no table for from `env`); errors name the file, line and column.
    pub fn load(path: &Path, env: Env) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
            path: path.to_path_buf(),
            kind: e.kind(),
        })?;
        let located = |e: toml::de::Error| ProfileError::Invalid {
            path: path.to_path_buf(),
            at: e
                .span()
                .map(|s| {
                    let (line, col) = crate::diag::line_col(&text, s.start);
                    format!(":{line}:{col}")
                })
                .unwrap_or_default(),
            message: e.message().trim_end().to_string(),
        };
        let mut all: toml::Table = toml::from_str(&text).map_err(located)?;
        let manifest_commands = match all.remove("allow_manifest_commands") {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(_) => {
                let why = "allow_manifest_commands: give true or false".to_string();
                return Err(invalid(path, why));
            }
        };
        let environments = match all.remove("environments") {
            None => None,
            Some(toml::Value::Array(a)) if a.iter().all(toml::Value::is_str) && !a.is_empty() => {
                Some(
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                )
            }
            Some(_) => {
                let why =
                    "environments: give a list of names, such as [\"production\", \"staging\"]";
                return Err(invalid(path, why.to_string()));
            }
        };
        let restore: RestoreTable = own_table(&mut all, "restore", path)?;
        let backup: BackupTable = own_table(&mut all, "backup", path)?;
        let serve: ServeTable = own_table(&mut all, "serve", path)?;
        let timeouts: Option<TimeoutsTable> = all
            .contains_key("timeouts")
            .then(|| own_table(&mut all, "timeouts", path))
            .transpose()?;
        if let Some(t) = &timeouts {
            t.check(path)?;
        }
        let tables: Tables = if restore.is_default()
            && backup.is_default()
            && serve.is_default()
            && timeouts.is_none()
            && !manifest_commands
            && environments.is_none()
        {
            // Without falconer's own tables, the tables are read from the text: errors keep their place.
            toml::from_str(&text).map_err(located)?
        } else {
            toml::Value::Table(all).try_into().map_err(located)?
        };
        Ok(Profile {
            tables,
            restore,
            backup,
            serve,
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            timeouts: timeouts.unwrap_or_default(),
            env,
            manifest_commands,
            environments,
        })
    }

    /// The environments a tenant can be in: the profile's `environments`, else [`DEFAULT_ENVIRONMENTS`].
    pub fn environments(&self) -> Vec<String> {
        match &self.environments {
            Some(e) => e.clone(),
            None => DEFAULT_ENVIRONMENTS.map(String::from).to_vec(),
        }
    }

    /// Whether a system's connection is given (by the profile or the environment).
    pub fn configured(&self, domain: Domain) -> bool {
        self.tables.configured(domain, &self.env)
    }

    /// The timeouts of what is not one of the systems (the backup repository on S3): the profile's
    /// `[timeouts]` for all systems, else `base`.
    pub fn general_timeouts(&self, base: Timeouts) -> Timeouts {
        self.timeouts.over(&SystemTimeouts::default(), base)
    }

    /// A system's timeouts: the profile's `[timeouts]`, else `base`.
    pub fn timeouts(&self, domain: Domain, base: Timeouts) -> Timeouts {
        self.timeouts.of(domain, base)
    }

    /// Connects to a system (its table here, else the environment), bounded by its timeouts (`base` where
    /// the profile gives none).
    pub async fn connect(
        &self,
        domain: Domain,
        base: Timeouts,
    ) -> Result<Live, crate::domains::systems::ConnectError> {
        let t = self.timeouts(domain, base);
        self.tables.connect(domain, &self.dir, &self.env, t).await
    }
}
