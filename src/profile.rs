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
//! ```
//!
//! Without a profile (or without a system's table), a system is reached at its environment variable:
//! `FALCONER_POSTGRES_URL`, `FALCONER_MONGO_URL`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Domain, SecretValue};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub postgres: Option<ConnectionProfile>,
    pub mongo: Option<ConnectionProfile>,
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
            _ => None,
        }
    }

    /// Whether a system's connection is given (by the profile or the environment).
    pub fn configured(profile: Option<&Profile>, domain: Domain) -> bool {
        profile.and_then(|p| p.table(domain)).is_some()
            || env_var(domain).is_some_and(|(var, _)| std::env::var_os(var).is_some())
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
