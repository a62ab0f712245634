//! What `falconer restore SOURCE` reads: a backup of the repository (by id, `latest`, or `--at TIME`), a
//! backup file (`backup export`), or an artifact of the platform ("1.0" or "1.0.0", either dialect). Every
//! source is read and checked whole before anything is planned; a format this falconer cannot read is
//! refused naming the version that can.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::backup_io::{FILE_FORMAT, read_backup_file};
use super::{Output, exit};
use crate::backup::repo::Repo;
use crate::backup::retention::parse_time;
use crate::backup::{BackupStatus, Record};
use crate::falcone;
use crate::restore::{self, Source};

/// Reads the source a restore names; `Err` is the exit code (reported).
pub async fn resolve(
    source: Option<&str>,
    at: Option<&str>,
    tenant: &str,
    repo: &super::backup::RepoArg,
    settings: &super::live::Settings,
    out: &Output,
) -> Result<Source, i32> {
    if let Some(s) = source
        && Path::new(s).is_file()
    {
        return from_file(Path::new(s), out);
    }
    let repo = repo.open(settings).map_err(|e| {
        out.error(e);
        exit::ERROR
    })?;
    let record = match (source, at) {
        (_, Some(at)) => newest_at(&repo, tenant, at, out).await?,
        (Some("latest"), None) => repo.record("latest", Some(tenant)).await,
        (Some(id), None) => repo.record(id, None).await,
        (None, None) => {
            out.error("name what to restore: a backup id, `latest`, `--at TIME`, or a file");
            return Err(exit::ERROR);
        }
    }
    .map_err(|e| {
        out.error(format!("{e} (in {})", repo.describe()));
        exit::ERROR
    })?;
    from_repo(&repo, &record, out).await
}

/// The newest successful backup of the tenant taken at or before `at`.
async fn newest_at(
    repo: &Repo,
    tenant: &str,
    at: &str,
    out: &Output,
) -> Result<Result<Record, crate::backup::repo::RepoError>, i32> {
    let Some(limit) = parse_time(at) else {
        out.error(format!(
            "--at {at:?} is not a time like 2026-11-30T21:36:22Z (UTC)"
        ));
        return Err(exit::ERROR);
    };
    let records = match repo.records(Some(tenant)).await {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    Ok(records
        .into_iter()
        .flatten()
        .filter(|r| r.status == BackupStatus::Ok)
        .find(|r| parse_time(&r.started_at).is_some_and(|t| t <= limit))
        .ok_or_else(|| {
            crate::backup::repo::RepoError::NotFound(format!(
                "a successful backup of tenant `{tenant}` at or before {at}"
            ))
        }))
}

/// A backup of the repository, every document read (and checked against its digest) first.
async fn from_repo(repo: &Repo, record: &Record, out: &Output) -> Result<Source, i32> {
    let mut documents = BTreeMap::new();
    for digest in record.blobs() {
        match repo.get_blob(digest).await {
            Ok(b) => {
                documents.insert(digest.to_string(), b);
            }
            Err(e) => {
                out.error(format!(
                    "backup {} cannot be read: {e}; nothing was restored",
                    record.id
                ));
                return Err(exit::ERROR);
            }
        }
    }
    let origin = format!("backup {} in {}", record.id, repo.describe());
    let digest = digest_of(&serde_json::to_vec(record).unwrap_or_default());
    restore::from_record(record, &documents, origin, digest).map_err(|e| {
        out.error(e.to_string());
        exit::REFUSED
    })
}

/// A backup file or an artifact of the platform.
fn from_file(path: &Path, out: &Output) -> Result<Source, i32> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        out.error(format!("cannot read {}: {e}", path.display()));
        exit::ERROR
    })?;
    let digest = digest_of(text.as_bytes());
    let origin = format!("file {}", path.display());
    let Some(value) = falcone::detect(&text).or_else(|| serde_json::from_str(&text).ok()) else {
        out.error(format!(
            "{} is neither a backup file (`backup export`) nor an artifact of the platform",
            path.display()
        ));
        return Err(exit::ERROR);
    };
    if value.get("format").and_then(|f| f.as_str()) == Some(FILE_FORMAT) {
        let file = read_backup_file(value).map_err(|m| {
            out.error(format!("{}: {m}; nothing was restored", path.display()));
            exit::REFUSED
        })?;
        let documents = file
            .documents
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        return restore::from_record(&file.record, &documents, origin, digest).map_err(|e| {
            out.error(e.to_string());
            exit::REFUSED
        });
    }
    match falcone::import(&value) {
        Ok(i) if !i.has_errors() => {
            out.issues(&i.issues, &Default::default());
            Ok(restore::from_artifact(&i, origin, digest))
        }
        Ok(i) => {
            out.issues(&i.issues, &Default::default());
            out.error(format!(
                "{} has errors (above); nothing was restored",
                path.display()
            ));
            Err(exit::REFUSED)
        }
        Err(issues) => {
            out.issues(&issues, &Default::default());
            out.error(format!(
                "{} cannot be restored; nothing was restored",
                path.display()
            ));
            Err(exit::REFUSED)
        }
    }
}

fn digest_of(bytes: &[u8]) -> String {
    crate::util::hex(&Sha256::digest(bytes))
}
