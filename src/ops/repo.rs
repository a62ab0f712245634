//! Which backup repository an operation uses, and with which key.

use std::path::PathBuf;

use super::Error;
use super::live::Settings;
use crate::backup::repo::Repo;

/// The repository when none is named.
pub const DEFAULT_REPO: &str = "file:.falconer/backups";

/// A repository as asked for: a URL and a key file, each else the profile's, else the default.
#[derive(Debug, Clone, Default)]
pub struct RepoSpec {
    /// `file:PATH` or `s3://bucket/prefix`.
    pub url: Option<String>,
    /// A file holding the repository's encryption key.
    pub key_file: Option<PathBuf>,
}

impl RepoSpec {
    /// The repository's URL: the one asked for, else the profile's `[backup] repo`, else the default.
    pub fn url(&self, settings: &Settings) -> Result<String, Error> {
        match &self.url {
            Some(r) => Ok(r.clone()),
            None => Ok(settings
                .backup_repo()?
                .unwrap_or_else(|| DEFAULT_REPO.to_string())),
        }
    }

    /// The repository, with its key when one is given (the key file, else the profile's `[backup] key`).
    pub fn open(&self, settings: &Settings) -> Result<Repo, Error> {
        let url = self.url(settings)?;
        let timeouts = settings.general_timeouts()?;
        let repo = crate::util::with_timeouts_now(timeouts, || {
            Repo::open_with(&url, &settings.env, settings.backup_s3()?).map_err(Error::from)
        })?;
        Ok(repo.with_key(self.open_key(settings)?))
    }

    /// The repository's key: the key file, else the profile's `[backup] key`, else none.
    pub fn open_key(
        &self,
        settings: &Settings,
    ) -> Result<Option<crate::backup::crypt::Key>, Error> {
        let key = match &self.key_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Other(format!(
                        "cannot read the backup key file {}: {e}",
                        path.display()
                    ))
                })?;
                let key = crate::backup::crypt::Key::parse(&text)
                    .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
                Some(key)
            }
            None => settings.backup_key()?,
        };
        Ok(key)
    }
}
