//! A backup as one self-contained file (`backup export`): its record and every document, by digest; read
//! back checked whole (`backup import`, `restore FILE`).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{FORMAT_VERSION, OLDEST_FORMAT, Record};

/// The format of a backup file.
pub const FILE_FORMAT: &str = "falconer-backup-file";

/// A backup as one file: its record and every document, by digest.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct BackupFile {
    pub format: String,
    pub format_version: u32,
    pub record: Record,
    pub documents: BTreeMap<String, String>,
}

/// A backup file, checked: a format this falconer reads (a newer one is refused naming the falconer that
/// wrote it), every document the record names present and matching its digest. The error is a message for
/// a person (nothing decides on it).
pub fn read_backup_file(value: serde_json::Value) -> Result<BackupFile, String> {
    let version = value["format_version"].as_u64().unwrap_or(0);
    if version < u64::from(OLDEST_FORMAT) {
        return Err(format!(
            "in backup format {version}, older than any falconer reads (the oldest is {OLDEST_FORMAT})"
        ));
    }
    if version > u64::from(FORMAT_VERSION) {
        let by = value["record"]["falconer"].as_str().unwrap_or("?");
        return Err(format!(
            "written by falconer {by} in backup format {version}; this falconer reads format {FORMAT_VERSION}: use falconer {by} or later"
        ));
    }
    let file: BackupFile =
        serde_json::from_value(value).map_err(|e| format!("not a backup file: {e}"))?;
    for digest in file.record.blobs() {
        let Some(text) = file.documents.get(digest) else {
            return Err(format!("the document {digest} is missing"));
        };
        let actual = crate::util::hex(&Sha256::digest(text.as_bytes()));
        if actual != digest {
            return Err(format!(
                "the document {digest} is damaged (its digest is {actual})"
            ));
        }
    }
    Ok(file)
}
