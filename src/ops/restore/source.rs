//! What `falconer restore SOURCE` reads: a backup of the repository (by id, `latest`, or `--at TIME`), a
//! backup file (`backup export`), or an artifact of the platform ("1.0" or "1.0.0", either dialect). Every
//! source is read and checked whole before anything is planned; a format this falconer cannot read is
//! refused naming the version that can.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::backup::file::{FILE_FORMAT, read_backup_file};
use crate::backup::repo::Repo;
use crate::backup::retention::parse_time;
use crate::backup::{BackupStatus, Record};
use crate::falcone;
use crate::model::Domain;
use crate::ops::{Error, Events, Refusal};
use crate::restore::{self, Source};

/// Reads the source a restore names (`req`): a file, else a backup of the repository (`latest`, an id, or
/// the newest at or before `req.at`, Unix seconds); its warnings go to `events`. The errors of a file in
/// the domains restored refuse it, or with `--skip-invalid` what breaks a rule is left out.
pub async fn resolve(
    req: &super::Request,
    settings: &crate::ops::live::Settings,
    events: &dyn Events,
) -> Result<Source, Error> {
    let (source, at, repo) = (req.source.as_deref(), req.at, &req.repo);
    let tenant = req.from_tenant.as_ref().unwrap_or(&req.tenant);
    if let Some(s) = source
        && Path::new(s).is_file()
    {
        return from_file(Path::new(s), req, events);
    }
    let repo = repo.open(settings)?;
    repo.must_exist().await?;
    let record = match (source, at) {
        (_, Some(at)) => newest_at(&repo, tenant, at).await,
        (Some("latest"), None) => repo.record("latest", Some(tenant)).await,
        (Some(id), None) => repo.record(id, None).await,
        (None, None) => {
            return Err(Error::Other(
                "name what to restore: a backup id, `latest`, `--at TIME`, or a file".into(),
            ));
        }
    }
    .map_err(|e| Error::Other(format!("{e} (in {})", repo.describe())))?;
    from_repo(&repo, &record).await
}

/// The newest successful backup of the tenant taken at or before `at`.
async fn newest_at(
    repo: &Repo,
    tenant: &str,
    limit: i64,
) -> Result<Record, crate::backup::repo::RepoError> {
    let records = repo.records(Some(tenant)).await?;
    let at = crate::util::rfc3339(limit);
    records
        .into_iter()
        .flatten()
        .filter(|r| r.status == BackupStatus::Ok)
        .find(|r| parse_time(&r.started_at).is_some_and(|t| t <= limit))
        .ok_or_else(|| {
            crate::backup::repo::RepoError::NotFound(format!(
                "a successful backup of tenant `{tenant}` at or before {at}"
            ))
        })
}

/// A backup of the repository, every document read (and checked against its digest) first.
async fn from_repo(repo: &Repo, record: &Record) -> Result<Source, Error> {
    let mut documents = BTreeMap::new();
    for digest in record.blobs() {
        let blob = repo.get_blob(digest).await.map_err(|e| {
            Error::Other(format!(
                "backup {} cannot be read: {e}; nothing was restored",
                record.id
            ))
        })?;
        documents.insert(digest.to_string(), blob);
    }
    let origin = format!("backup {} in {}", record.id, repo.describe());
    let digest = digest_of(&serde_json::to_vec(record).unwrap_or_default());
    restore::from_record(record, &documents, origin, digest).map_err(unreadable)
}

/// A source that cannot be restored as it is: refused, naming why.
fn unreadable(e: impl std::fmt::Display) -> Error {
    Error::Refused(Refusal::Other(e.to_string()))
}

/// A backup file or an artifact of the platform. An artifact's errors in a domain that is not restored
/// (`req.domains`, none: all) do not refuse it: that domain is not written.
fn from_file(path: &Path, req: &super::Request, events: &dyn Events) -> Result<Source, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    let digest = digest_of(text.as_bytes());
    let origin = format!("file {}", path.display());
    let Some(value) = falcone::detect(&text).or_else(|| serde_json::from_str(&text).ok()) else {
        return Err(Error::Other(format!(
            "{} is neither a backup file (`backup export`) nor an artifact of the platform",
            path.display()
        )));
    };
    if value.get("format").and_then(|f| f.as_str()) == Some(FILE_FORMAT) {
        let file = read_backup_file(value)
            .map_err(|m| unreadable(format!("{}: {m}; nothing was restored", path.display())))?;
        let documents = file
            .documents
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        return restore::from_record(&file.record, &documents, origin, digest).map_err(unreadable);
    }
    let (imported, issues) = match falcone::import(&value) {
        Ok(i) => {
            let issues = i.issues.clone();
            (Some(i), issues)
        }
        Err(issues) => (None, issues),
    };
    // Whether an object is outside the tenant's scope is said by the report, with the naming in force
    // (`--manifest`, the registry): the artifact's own naming would contradict what the restore does.
    let said: Vec<_> = issues
        .into_iter()
        .filter(|i| i.code != "out-of-scope")
        .collect();
    events.issues(&said, &Default::default());
    let Some(mut imported) = imported else {
        return Err(unreadable(format!(
            "{} cannot be restored; nothing was restored",
            path.display()
        )));
    };
    if !imported.has_errors() {
        return Ok(restore::from_artifact(&imported, origin, digest));
    }
    let invalid = match imported.invalid(&req.domains) {
        Ok(invalid) => invalid,
        Err(_) if errors_outside(&imported, &value, &req.domains) => Vec::new(),
        Err(_) => {
            return Err(unreadable(format!(
                "{} has errors (above); nothing was restored",
                path.display()
            )));
        }
    };
    if invalid.is_empty() {
        events.note("the errors above are in domains this restore does not write: left aside");
        return Ok(restore::from_artifact(&imported, origin, digest));
    }
    let lines: Vec<String> = invalid.iter().map(|i| i.line.clone()).collect();
    if !req.skip_invalid {
        return Err(Error::Refused(Refusal::BreaksRules(lines)));
    }
    events.warning(&format!(
        "left out, they break rules their systems would refuse them by: {}",
        lines.join("; ")
    ));
    let domains: Vec<Domain> = invalid
        .iter()
        .map(|i| imported.manifest.resources[i.resource].spec.meta().domain)
        .collect();
    imported.leave_out(&invalid);
    let mut source = restore::from_artifact(&imported, origin, digest);
    for (domain, line) in domains.into_iter().zip(lines) {
        if let Some(s) = source.sections.iter_mut().find(|s| s.domain == domain) {
            s.invalid.push(line);
        }
    }
    Ok(source)
}

/// Whether every error of the artifact is in the section of a domain that is not restored (`domains`, none:
/// all are): its path is under `/domains/N` and that entry's domain is not among `domains`.
fn errors_outside(
    imported: &falcone::Imported,
    artifact: &serde_json::Value,
    domains: &[Domain],
) -> bool {
    let domain_of = |path: &str| -> Option<Domain> {
        let n: usize = path
            .strip_prefix("/domains/")?
            .split('/')
            .next()?
            .parse()
            .ok()?;
        let key = artifact["domains"][n]["domain_key"].as_str()?;
        imported
            .domains
            .iter()
            .find(|d| d.domain_key == key)?
            .domain
    };
    !domains.is_empty()
        && imported.issues.iter().filter(|i| i.is_error()).all(|i| {
            i.path
                .as_deref()
                .and_then(domain_of)
                .is_some_and(|d| !domains.contains(&d))
        })
}

fn digest_of(bytes: &[u8]) -> String {
    crate::util::hex(&Sha256::digest(bytes))
}
