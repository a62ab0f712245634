//! The connection profile (`--profile FILE`, env `FALCONER_PROFILE`): where the live systems are and how to
//! sign in. Kept out of manifests, which stay the same in every environment.
//!
//! ```toml
//! [postgres]
//! url = "postgres://falconer@db.internal:5432/platform"
//! password = { env = "FALCONER_PG_PASSWORD" }   # or { file = "pg-password" }, relative to the profile
//!
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
//! ```
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
//!
//! Without a profile (or without a system's table), a system is reached at its environment variables:
//! `FALCONER_POSTGRES_URL`, `FALCONER_MONGO_URL`, `FALCONER_KAFKA_BOOTSTRAP`; S3 at `FALCONER_S3_ENDPOINT` with `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `FALCONER_S3_ADDRESSING`; Keycloak at `FALCONER_KEYCLOAK_URL` with
//! `FALCONER_KEYCLOAK_USER` and `FALCONER_KEYCLOAK_PASSWORD` (or `FALCONER_KEYCLOAK_CLIENT_ID` and
//! `FALCONER_KEYCLOAK_CLIENT_SECRET`); OpenWhisk at `FALCONER_OPENWHISK_URL` with `FALCONER_OPENWHISK_AUTH`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Domain, SecretValue};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub postgres: Option<ConnectionProfile>,
    pub mongo: Option<ConnectionProfile>,
    /// `url` is the bootstrap list, `host:port[,host:port]`.
    pub kafka: Option<ConnectionProfile>,
    pub storage: Option<StorageProfile>,
    /// Keycloak.
    pub iam: Option<KeycloakProfile>,
    /// OpenWhisk.
    pub functions: Option<OpenWhiskProfile>,
    /// Where the file was read from (secret files are relative to its directory).
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionProfile {
    /// The system's URL (`postgres://user@host:port/database`, `mongodb://user@host:port/`); a password in it
    /// works but belongs in `password`.
    pub url: String,
    pub password: Option<SecretValue>,
}

/// An S3 endpoint and its credentials.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageProfile {
    pub endpoint: String,
    pub region: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: SecretValue,
    /// `path` (default) or `virtual`.
    pub addressing: Option<Addressing>,
}

/// Keycloak's address and how to sign in: a user (password grant through `admin-cli`) or a service client
/// (client credentials).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeycloakProfile {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretValue>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretValue>,
    /// The realm to sign in to (default `master`).
    pub auth_realm: Option<String>,
}

/// OpenWhisk's API host and the namespace's key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenWhiskProfile {
    pub url: String,
    /// `uuid:key`.
    pub auth: SecretValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Addressing {
    Path,
    Virtual,
}

/// A connection: the URL and, apart from it, the password.
pub struct Connection {
    pub url: String,
    pub password: Option<String>,
}

/// The environment variable that gives a system's URL without a profile, and what the URL looks like.
pub fn env_var(domain: Domain) -> Option<(&'static str, &'static str)> {
    match domain {
        Domain::Postgres => Some((
            "FALCONER_POSTGRES_URL",
            "postgres://user@host:port/database",
        )),
        Domain::Mongo => Some(("FALCONER_MONGO_URL", "mongodb://user@host:port/")),
        Domain::Kafka => Some(("FALCONER_KAFKA_BOOTSTRAP", "host:port[,host:port]")),
        _ => None,
    }
}

impl Profile {
    /// Reads a profile; errors name the file, line and column.
    pub fn load(path: &Path) -> Result<Profile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the profile {}: {}", path.display(), e.kind()))?;
        let mut p: Profile = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (line, col) = crate::diag::line_col(&text, s.start);
                    format!(":{line}:{col}")
                })
                .unwrap_or_default();
            format!("{}{at}: {}", path.display(), e.message().trim_end())
        })?;
        p.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(p)
    }

    fn table(&self, domain: Domain) -> Option<&ConnectionProfile> {
        match domain {
            Domain::Postgres => self.postgres.as_ref(),
            Domain::Mongo => self.mongo.as_ref(),
            Domain::Kafka => self.kafka.as_ref(),
            _ => None,
        }
    }

    /// Whether a system's connection is given (by the profile or the environment).
    pub fn configured(profile: Option<&Profile>, domain: Domain) -> bool {
        if domain == Domain::Iam {
            return profile.is_some_and(|p| p.iam.is_some())
                || std::env::var_os("FALCONER_KEYCLOAK_URL").is_some();
        }
        if domain == Domain::Functions {
            return profile.is_some_and(|p| p.functions.is_some())
                || std::env::var_os("FALCONER_OPENWHISK_URL").is_some();
        }
        if domain == Domain::Storage {
            return profile.is_some_and(|p| p.storage.is_some())
                || std::env::var_os("FALCONER_S3_ENDPOINT").is_some();
        }
        profile.and_then(|p| p.table(domain)).is_some()
            || env_var(domain).is_some_and(|(var, _)| std::env::var_os(var).is_some())
    }

    /// Where S3 is and how to sign in: the profile's `[storage]`, else the environment.
    pub fn storage(
        profile: Option<&Profile>,
    ) -> Result<crate::domains::storage::client::Config, String> {
        use crate::domains::storage::client::Config;
        if let Some(p) = profile
            && let Some(t) = &p.storage
        {
            let secret = crate::secrets::resolve(&t.secret_access_key, &p.dir)
                .map_err(|why| {
                    format!(
                        "the profile's S3 secret key ({}) cannot be read: {}",
                        t.secret_access_key.describe(),
                        why.0
                    )
                })?
                .ok_or("the profile's S3 secret key is empty")?;
            return Ok(Config {
                endpoint: t.endpoint.clone(),
                region: t.region.clone().unwrap_or_else(|| "us-east-1".into()),
                access_key: t.access_key_id.clone(),
                secret_key: secret,
                virtual_host: t.addressing == Some(Addressing::Virtual),
            });
        }
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let endpoint = var("FALCONER_S3_ENDPOINT").ok_or(
            "no S3 connection: set FALCONER_S3_ENDPOINT (https://host[:port]) with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a profile with a [storage] table (--profile FILE)",
        )?;
        let (Some(access_key), Some(secret_key)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(format!(
                "no S3 credentials for {endpoint}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a profile with a [storage] table"
            ));
        };
        Ok(Config {
            endpoint,
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            access_key,
            secret_key,
            virtual_host: var("FALCONER_S3_ADDRESSING").as_deref() == Some("virtual"),
        })
    }

    /// Where Keycloak is and how to sign in: the profile's `[iam]`, else the environment.
    pub fn keycloak(
        profile: Option<&Profile>,
    ) -> Result<crate::domains::iam::client::Config, String> {
        use crate::domains::iam::client::{Auth, Config};
        let Some((p, t)) = profile.and_then(|p| p.iam.as_ref().map(|t| (p, t))) else {
            return crate::domains::iam::provider::config_from_env();
        };
        let read = |s: &SecretValue, what: &str| -> Result<String, String> {
            crate::secrets::resolve(s, &p.dir)
                .map_err(|why| {
                    format!(
                        "the profile's Keycloak {what} ({}) cannot be read: {}",
                        s.describe(),
                        why.0
                    )
                })?
                .ok_or_else(|| format!("the profile's Keycloak {what} is unknown (a marker)"))
        };
        let auth = match (&t.client_id, &t.client_secret, &t.username, &t.password) {
            (Some(id), Some(secret), None, None) => Auth::Client {
                id: id.clone(),
                secret: read(secret, "client secret")?,
            },
            (None, None, Some(user), Some(password)) => Auth::Password {
                username: user.clone(),
                password: read(password, "password")?,
            },
            _ => {
                return Err(format!(
                    "{}: the [iam] table needs `username` and `password`, or `client_id` and `client_secret`",
                    p.dir.display()
                ));
            }
        };
        Ok(Config {
            url: t.url.clone(),
            auth,
            auth_realm: t.auth_realm.clone().unwrap_or_else(|| "master".into()),
        })
    }

    /// Where OpenWhisk is and its key: the profile's `[functions]`, else the environment.
    pub fn openwhisk(
        profile: Option<&Profile>,
    ) -> Result<crate::domains::functions::client::Config, String> {
        let Some((p, t)) = profile.and_then(|p| p.functions.as_ref().map(|t| (p, t))) else {
            return crate::domains::functions::provider::config_from_env();
        };
        let auth = crate::secrets::resolve(&t.auth, &p.dir)
            .map_err(|why| {
                format!(
                    "the profile's OpenWhisk key ({}) cannot be read: {}",
                    t.auth.describe(),
                    why.0
                )
            })?
            .ok_or("the profile's OpenWhisk key is unknown (a marker)")?;
        Ok(crate::domains::functions::client::Config {
            url: t.url.clone(),
            auth,
        })
    }

    /// Where a system is: the profile's table for it, else its environment variable.
    pub fn connection(profile: Option<&Profile>, domain: Domain) -> Result<Connection, String> {
        let system = domain.system();
        if let Some(p) = profile
            && let Some(t) = p.table(domain)
        {
            let password = match &t.password {
                Some(s) => crate::secrets::resolve(s, &p.dir).map_err(|why| {
                    format!(
                        "the profile's {system} password ({}) cannot be read: {}",
                        s.describe(),
                        why.0
                    )
                })?,
                None => None,
            };
            return Ok(Connection {
                url: t.url.clone(),
                password,
            });
        }
        let Some((var, shape)) = env_var(domain) else {
            return Err(format!("falconer cannot reach {system} yet"));
        };
        std::env::var(var)
            .map(|url| Connection {
                url,
                password: None,
            })
            .map_err(|_| {
                format!(
                    "no {system} connection: set {var} ({shape}), or give a profile with a [{domain}] table (--profile FILE)"
                )
            })
    }
}
