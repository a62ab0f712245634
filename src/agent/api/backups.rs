//! The API's backups of a tenant, as the repository's catalog holds them (the profile's repository, as
//! `backup list` reads it): each with its domains' statuses, the secrets it left out (counted, never
//! named by value) and the inventory of what it did not carry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::work::ListQuery;
use super::{ApiError, Page};
use crate::backup::Record;
use crate::backup::repo::Repo;

/// A backup of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Backup {
    pub id: String,
    pub tenant: String,
    /// `ok`, `incomplete`, `partial` or `failed`.
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
    /// Whether its blobs are encrypted at rest.
    pub encrypted: bool,
    pub domains: Vec<Domain>,
}

/// One domain of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Domain {
    pub domain: String,
    /// `ok`, `incomplete`, `empty`, `unavailable`, `error`, ...
    pub status: String,
    pub resources: usize,
    /// The system's error, or why the domain was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Secret fields that exist and were not stored (a restore asks for them).
    pub secrets_left_out: usize,
    /// What the tenant has there that no kind carries: a restore cannot bring it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_carried: Vec<crate::domains::provider::NotCarried>,
}

impl Backup {
    fn of(r: Record) -> Backup {
        let domains = r.domains.into_iter().map(|d| Domain {
            domain: d.domain.as_str().to_string(),
            status: crate::util::word(&d.status),
            resources: d.resources,
            message: d.message,
            secrets_left_out: d.secrets.len(),
            not_carried: d.not_carried,
        });
        Backup {
            id: r.id,
            tenant: r.tenant,
            status: crate::util::word(&r.status),
            started_at: r.started_at,
            finished_at: r.finished_at,
            tags: r.tags,
            encrypted: r.encryption.is_some(),
            domains: domains.collect(),
        }
    }
}

/// A tenant's backups, newest first (records that cannot be read are left out of the page).
pub async fn list(repo: &Repo, tenant: &str, q: &ListQuery) -> Result<Page<Backup>, ApiError> {
    q.only_paging()?;
    let records = repo.records(Some(tenant)).await.map_err(repo_error)?;
    let items = records.into_iter().filter_map(Result::ok).map(Backup::of);
    Ok(Page::of(items.collect(), q.page()?))
}

/// One backup of a tenant, by id, or `latest` (the newest that did not fail).
pub async fn one(repo: &Repo, tenant: &str, id: &str) -> Result<Backup, ApiError> {
    match repo.record(id, Some(tenant)).await {
        Ok(r) if r.tenant == tenant => Ok(Backup::of(r)),
        Ok(_) | Err(crate::backup::repo::RepoError::NotFound(_)) => Err(ApiError::NotFound(
            format!("tenant `{tenant}` has no backup {id}"),
        )),
        Err(e) => Err(repo_error(e)),
    }
}

fn repo_error(e: crate::backup::repo::RepoError) -> ApiError {
    ApiError::Repo(e.to_string())
}
