//! Backups of tenants: what a backup records, and the repository that keeps them.
//!
//! A backup is one record (`backups/<tenant>/<id>.json`) naming one document per domain by the SHA-256 of
//! its content. Documents are blobs (`blobs/<2 hex>/<sha256>`), compressed, written once and shared by every
//! backup whose domain read the same: an unchanged domain costs nothing in a new backup. The record is
//! written last, by rename: a backup killed at any point leaves either no record (and perhaps blobs no record
//! names, which `delete` and `prune` collect) or a complete backup.
//!
//! This module never names a domain: a domain is its name (`Domain`) and its document is a JSON manifest
//! holding the tenant block and that domain's resources, secrets redacted as `export` redacts them.

pub mod crypt;
mod error;
pub mod file;
pub mod repo;
pub mod retention;
pub mod schedule;
pub mod store;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Domain;

/// The record format this falconer writes.
pub const FORMAT: &str = "falconer-backup";
/// The record format version this falconer writes; it reads this one and migrates older ones (see
/// [`OLDEST_FORMAT`]). Version 2 added each action's code as a blob of its own (`parts`) and encryption at
/// rest (`encryption`).
pub const FORMAT_VERSION: u32 = 2;
/// The oldest record format this falconer reads (and `backup migrate` upgrades).
pub const OLDEST_FORMAT: u32 = 1;

/// How a domain's read went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    /// Read; the tenant has resources there.
    Ok,
    /// Read, and the domain's inventory found objects of the tenant's scope that no kind carries (see
    /// `not_carried`): a restore cannot bring them back.
    Incomplete,
    /// Read; the tenant has nothing there.
    Empty,
    /// The system answered with an error (see `message`).
    Error,
    /// No connection to the system is configured (see `message`).
    NotAvailable,
}

impl DomainStatus {
    /// Whether the domain's document is in the backup.
    pub fn stored(self) -> bool {
        matches!(
            self,
            DomainStatus::Ok | DomainStatus::Incomplete | DomainStatus::Empty
        )
    }
}

/// A backup's outcome.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    /// Every domain that was reachable was read (unconfigured ones are `not_available`).
    Ok,
    /// Every domain was read, and some hold objects no kind carries (their domains are `incomplete`).
    Incomplete,
    /// Some domains failed: the others are kept.
    Partial,
    /// No domain could be read.
    Failed,
}

impl std::fmt::Display for BackupStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupStatus::Ok => "ok",
            BackupStatus::Incomplete => "incomplete",
            BackupStatus::Partial => "partial",
            BackupStatus::Failed => "failed",
        })
    }
}

/// A secret field that exists in the live system and is not in the backup.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct LeftOut {
    pub address: String,
    /// JSON pointer of the field within the resource.
    pub field: String,
}

/// One domain of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainEntry {
    pub domain: Domain,
    pub status: DomainStatus,
    /// Resources read.
    #[serde(default)]
    pub resources: usize,
    /// SHA-256 of the document (hex), when stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The document's size in bytes, uncompressed.
    #[serde(default)]
    pub size: u64,
    /// When the domain was read (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    /// The system's error, or why the domain was not available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Secret fields that exist and were not stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<LeftOut>,
    /// Files the document names (each action's code), stored as blobs of their own: path → SHA-256.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parts: BTreeMap<String, String>,
    /// Objects of the tenant's scope that no kind carries (the domain's inventory): not in the backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_carried: Vec<crate::domains::provider::NotCarried>,
    /// Values of the domain's objects that are data (sequences' current values), set by a restore only
    /// when asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<crate::domains::provider::DataValue>,
}

/// How a backup's blobs are encrypted (the key itself is never in the repository).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Encryption {
    pub algorithm: String,
    /// The key's id: which key opens the blobs.
    pub key_id: String,
}

/// A backup's record: what it holds and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    pub format: String,
    pub format_version: u32,
    pub id: String,
    pub tenant: String,
    pub status: BackupStatus,
    pub started_at: String,
    pub finished_at: String,
    /// The falconer version that wrote it.
    pub falconer: String,
    /// The manifest format of the domain documents.
    pub manifest_format: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Where it was taken (host name).
    #[serde(default)]
    pub source: String,
    pub domains: Vec<DomainEntry>,
    /// The `--include` / `--exclude` patterns that narrowed it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Resources left out by those patterns.
    #[serde(default)]
    pub left_out: usize,
    /// Set when the blobs are encrypted at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

impl Record {
    /// The outcome the domains make: failed when none was read and some failed, partial when some failed.
    pub fn outcome(domains: &[DomainEntry]) -> BackupStatus {
        let failed = domains
            .iter()
            .filter(|d| d.status == DomainStatus::Error)
            .count();
        let read = domains.iter().filter(|d| d.status.stored()).count();
        let incomplete = domains.iter().any(|d| d.status == DomainStatus::Incomplete);
        match (failed, read) {
            (0, 0) => BackupStatus::Failed,
            (0, _) if incomplete => BackupStatus::Incomplete,
            (0, _) => BackupStatus::Ok,
            (_, 0) => BackupStatus::Failed,
            _ => BackupStatus::Partial,
        }
    }

    /// The digests of the blobs the backup uses (documents and their parts).
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        self.domains.iter().flat_map(|d| {
            d.digest
                .as_deref()
                .into_iter()
                .chain(d.parts.values().map(String::as_str))
        })
    }

    /// The stored size of the documents, uncompressed.
    pub fn size(&self) -> u64 {
        self.domains.iter().map(|d| d.size).sum()
    }
}

/// The JSON Schema of backup records (`schemas/backup-record.schema.json`).
pub fn schema() -> serde_json::Value {
    crate::util::json_schema::<Record>("backup-record.schema.json", "falconer backup record")
}

/// A new backup id: its UTC time to the millisecond (ids sort as the backups were started) and a random
/// suffix.
pub fn new_id(at_ms: i64) -> String {
    let t = crate::util::rfc3339(at_ms.div_euclid(1000)).replace(['-', ':', 'Z'], "");
    let t = format!("{t}{:03}Z", at_ms.rem_euclid(1000));
    let suffix = crate::util::random::<3>()
        .map(|b| crate::util::hex(&b))
        .unwrap_or_else(|_| format!("{:06x}", std::process::id() & 0xff_ffff));
    format!("{t}-{suffix}")
}

/// The secret fields of a document: every string equal to the redaction marker, by resource address.
pub fn left_out_secrets(address: &str, value: &serde_json::Value, path: &str) -> Vec<LeftOut> {
    use serde_json::Value;
    match value {
        Value::String(s) if crate::model::secret::is_marker(s) => vec![LeftOut {
            address: address.to_string(),
            field: path.to_string(),
        }],
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, v)| {
                left_out_secrets(
                    address,
                    v,
                    &format!("{path}/{}", crate::util::escape_pointer(k)),
                )
            })
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .flat_map(|(i, v)| left_out_secrets(address, v, &format!("{path}/{i}")))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: DomainStatus) -> DomainEntry {
        DomainEntry {
            domain: Domain::Postgres,
            status,
            resources: 0,
            digest: None,
            size: 0,
            read_at: None,
            message: None,
            secrets: Vec::new(),
            parts: Default::default(),
            not_carried: Vec::new(),
            data: Vec::new(),
        }
    }

    #[test]
    fn outcome_follows_the_domains() {
        use DomainStatus::*;
        let o =
            |s: &[DomainStatus]| Record::outcome(&s.iter().map(|x| entry(*x)).collect::<Vec<_>>());
        assert_eq!(o(&[Ok, Empty, NotAvailable]), BackupStatus::Ok);
        assert_eq!(o(&[Ok, Error]), BackupStatus::Partial);
        assert_eq!(o(&[Error, NotAvailable]), BackupStatus::Failed);
        assert_eq!(o(&[NotAvailable]), BackupStatus::Failed);
        assert_eq!(o(&[Ok, Incomplete, Empty]), BackupStatus::Incomplete);
        assert_eq!(o(&[Incomplete, Error]), BackupStatus::Partial);
    }

    #[test]
    fn ids_sort_by_time() {
        let (a, b) = (new_id(1_700_000_000_001), new_id(1_700_000_000_002));
        assert!(a < b, "{a} {b}");
        assert!(a.starts_with("20231114T221320001Z-"), "{a}");
    }
}
