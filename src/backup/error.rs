//! Why a repository operation failed (shared by the repository and the places it stores files).

use super::{FORMAT_VERSION, OLDEST_FORMAT};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the repository on S3: {0}")]
    S3(String),
    /// The repository's S3 connection cannot be set up.
    #[error("the repository on S3: {0}")]
    Setup(Box<crate::setup::SetupError>),
    #[error("the state store: {0}")]
    State(String),
    /// The repository's lock was lost while work held it: the work stopped where it was.
    #[error(
        "the repository lock was lost ({0}): stopped before writing more; what was done is kept, run it again"
    )]
    LockLost(String),
    #[error(
        "repository {0:?} is not supported: give a local directory (file:PATH) or s3://bucket/prefix"
    )]
    Unsupported(String),
    #[error("no backup {0} in the repository")]
    NotFound(String),
    /// Nothing was ever written where the repository is said to be: a wrong `--repo` reads as empty.
    #[error(
        "no backup repository at {0}: nothing has been backed up there; check --repo (or FALCONER_REPO, or the profile's [backup] repo)"
    )]
    Missing(String),
    #[error("blob {digest} is damaged: {reason}")]
    Damaged { digest: String, reason: String },
    #[error("{path} is not a backup record: {reason}")]
    BadRecord { path: String, reason: String },
    #[error(
        "the repository is locked by {holder} until {until}; wait for it, or remove {path} if that process is gone"
    )]
    Locked {
        holder: String,
        until: String,
        path: String,
    },
    #[error(
        "backup {id} was written by falconer {by} in backup format {version}; this falconer reads format {FORMAT_VERSION}: use falconer {by} or later"
    )]
    TooNew {
        id: String,
        by: String,
        version: u32,
    },
    #[error(
        "backup {id} is in backup format {version}, older than any falconer reads (the oldest is {OLDEST_FORMAT}, which `falconer backup migrate` upgrades); no release of falconer can restore it"
    )]
    TooOld { id: String, version: u32 },
    #[error(
        "the repository {repo} is encrypted (key id {key_id}): give its key with --key-file or the profile's [backup] key"
    )]
    KeyNeeded { repo: String, key_id: String },
    #[error(
        "the repository {repo} is encrypted with the key of id {needed}; the key given has id {given}"
    )]
    WrongKey {
        repo: String,
        needed: String,
        given: String,
    },
    #[error(
        "the repository {0} holds unencrypted backups: encrypted backups go to a new, empty repository"
    )]
    NotEncrypted(String),
}

impl From<crate::setup::SetupError> for RepoError {
    fn from(e: crate::setup::SetupError) -> Self {
        RepoError::Setup(Box::new(e))
    }
}
