//! The connection profile (`--profile FILE`, env `FALCONER_PROFILE`): where the live systems are and how to
//! sign in. Kept out of manifests, which stay the same in every environment.
//!
//! ```toml
//! [postgres]
//! url = "postgres://falconer@db.internal:5432/platform"
//! password = { env = "FALCONER_PG_PASSWORD" }   # or { file = "pg-password" }, relative to the profile
//! ```
//!
//! Without a profile (or without its `[postgres]` table), PostgreSQL is reached at `FALCONER_POSTGRES_URL`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::SecretValue;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub postgres: Option<PostgresProfile>,
    /// Where the file was read from (secret files are relative to its directory).
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresProfile {
    /// `postgres://user@host:port/database`; a password in it works but belongs in `password`.
    pub url: String,
    pub password: Option<SecretValue>,
}

/// A PostgreSQL connection: the URL and, apart from it, the password.
pub struct PostgresConnection {
    pub url: String,
    pub password: Option<String>,
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

    /// Where PostgreSQL is: the profile's `[postgres]`, else `FALCONER_POSTGRES_URL`.
    pub fn postgres(profile: Option<&Profile>) -> Result<PostgresConnection, String> {
        if let Some(p) = profile
            && let Some(pg) = &p.postgres
        {
            let password = match &pg.password {
                Some(s) => crate::secrets::resolve(s, &p.dir).map_err(|why| {
                    format!(
                        "the profile's PostgreSQL password ({}) cannot be read: {}",
                        s.describe(),
                        why.0
                    )
                })?,
                None => None,
            };
            return Ok(PostgresConnection {
                url: pg.url.clone(),
                password,
            });
        }
        std::env::var("FALCONER_POSTGRES_URL")
            .map(|url| PostgresConnection {
                url,
                password: None,
            })
            .map_err(|_| {
                "no PostgreSQL connection: set FALCONER_POSTGRES_URL (postgres://user@host:port/database), or give a profile with a [postgres] table (--profile FILE)".to_string()
            })
    }
}
