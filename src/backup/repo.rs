//! The backup repository on a local directory (`file:PATH`).
//!
//! ```text
//! PATH/blobs/ab/ab12…       a document, compressed; named by the SHA-256 of its content
//! PATH/backups/T/ID.json    a backup's record, written last
//! ```
//! Every file is written to a temporary name, synced and renamed: a reader never sees half a file.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{FORMAT, FORMAT_VERSION, Record};

/// What a blob file starts with: the layout of what follows (here: deflate-compressed content).
const BLOB_MAGIC: &[u8; 4] = b"FBZ1";
/// The largest document a blob may inflate to (a bound against damaged or hostile blobs).
const MAX_DOCUMENT: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("repository {0:?} is not supported yet: give a local directory (file:PATH)")]
    Unsupported(String),
    #[error("no backup {0} in the repository")]
    NotFound(String),
    #[error("blob {digest} is damaged: {reason}")]
    Damaged { digest: String, reason: String },
    #[error("{path} is not a backup record: {reason}")]
    BadRecord { path: String, reason: String },
    #[error(
        "backup {id} was written by falconer {by} in backup format {version}; this falconer reads format {FORMAT_VERSION}: use falconer {by} or later"
    )]
    TooNew {
        id: String,
        by: String,
        version: u32,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A repository of backups.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// Opens `file:PATH` (or a plain path); the directory is created on first write.
    pub fn open(url: &str) -> Result<Repo, RepoError> {
        if url.contains("://") {
            return Err(RepoError::Unsupported(url.to_string()));
        }
        let path = url.strip_prefix("file:").unwrap_or(url);
        Ok(Repo {
            root: PathBuf::from(path),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let shard = digest.get(..2).unwrap_or("00");
        self.root.join("blobs").join(shard).join(digest)
    }

    fn record_path(&self, tenant: &str, id: &str) -> PathBuf {
        self.root
            .join("backups")
            .join(tenant)
            .join(format!("{id}.json"))
    }

    /// Stores a document once; its digest, and whether it was new.
    pub fn put_blob(&self, content: &[u8]) -> Result<(String, bool), RepoError> {
        let digest = crate::util::hex(&Sha256::digest(content));
        let path = self.blob_path(&digest);
        if path.is_file() {
            return Ok((digest, false));
        }
        let mut bytes = BLOB_MAGIC.to_vec();
        bytes.extend(miniz_oxide::deflate::compress_to_vec(content, 6));
        write_atomic(&path, &bytes)?;
        Ok((digest, true))
    }

    /// A document, checked against its digest.
    pub fn get_blob(&self, digest: &str) -> Result<Vec<u8>, RepoError> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let damaged = |reason: String| RepoError::Damaged {
            digest: digest.to_string(),
            reason,
        };
        let body = bytes
            .strip_prefix(BLOB_MAGIC)
            .ok_or_else(|| damaged("unknown blob layout".into()))?;
        let content = miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_DOCUMENT)
            .map_err(|e| damaged(format!("cannot be decompressed ({:?})", e.status)))?;
        let actual = crate::util::hex(&Sha256::digest(&content));
        if actual != digest {
            return Err(damaged(format!("its content has digest {actual}")));
        }
        Ok(content)
    }

    /// Writes a backup's record (last: the backup exists from then on).
    pub fn put_record(&self, r: &Record) -> Result<(), RepoError> {
        let body = serde_json::to_vec_pretty(r).unwrap_or_default();
        write_atomic(&self.record_path(&r.tenant, &r.id), &body)
    }

    /// Every record file, by tenant (or of one tenant).
    fn record_files(&self, tenant: Option<&str>) -> Result<Vec<PathBuf>, RepoError> {
        let base = self.root.join("backups");
        let tenants: Vec<PathBuf> = match tenant {
            Some(t) => vec![base.join(t)],
            None => list_dir(&base)?,
        };
        let mut files = Vec::new();
        for dir in tenants {
            files.extend(
                list_dir(&dir)?
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "json")),
            );
        }
        Ok(files)
    }

    /// Every backup, newest first; records that cannot be read are returned as errors, by path.
    pub fn records(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<Result<Record, RepoError>>, RepoError> {
        let mut out: Vec<Result<Record, RepoError>> = self
            .record_files(tenant)?
            .iter()
            .map(|p| read_record(p))
            .collect();
        out.sort_by(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => b.id.cmp(&a.id),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(a), Err(b)) => a.to_string().cmp(&b.to_string()),
        });
        Ok(out)
    }

    /// One backup by id, or the newest of a tenant (`latest`, with `tenant`).
    pub fn record(&self, id: &str, tenant: Option<&str>) -> Result<Record, RepoError> {
        if id == "latest" {
            return self
                .records(tenant)?
                .into_iter()
                .flatten()
                .find(|r| r.status != super::BackupStatus::Failed)
                .ok_or_else(|| RepoError::NotFound("latest".into()));
        }
        let file = format!("{id}.json");
        let path = self
            .record_files(tenant)?
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == file))
            .ok_or_else(|| RepoError::NotFound(id.to_string()))?;
        read_record(&path)
    }

    /// Removes a backup's record, then the blobs no other record names; the number of blobs removed.
    pub fn delete(&self, r: &Record) -> Result<usize, RepoError> {
        let path = self.record_path(&r.tenant, &r.id);
        std::fs::remove_file(&path).map_err(io(&path))?;
        self.collect()
    }

    /// Removes the blobs no record names (left by deleted backups, or by a backup killed before its
    /// record); the number removed. A record that cannot be read keeps every blob (nothing it might name is
    /// removed).
    pub fn collect(&self) -> Result<usize, RepoError> {
        let mut used = std::collections::HashSet::new();
        for r in self.records(None)? {
            match r {
                Ok(r) => used.extend(r.blobs().map(str::to_string)),
                Err(_) => return Ok(0),
            }
        }
        let mut removed = 0;
        for shard in list_dir(&self.root.join("blobs"))? {
            for blob in list_dir(&shard)? {
                let name = blob.file_name().map(|n| n.to_string_lossy().into_owned());
                if name.is_some_and(|n| !n.starts_with('.') && !used.contains(&n)) {
                    std::fs::remove_file(&blob).map_err(io(&blob))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Re-reads every blob a backup names and checks its digest; the problems found.
    pub fn verify(&self, r: &Record) -> Vec<RepoError> {
        r.blobs().filter_map(|d| self.get_blob(d).err()).collect()
    }
}

/// A record file, checked: its format, its version.
fn read_record(path: &Path) -> Result<Record, RepoError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let bad = |reason: String| RepoError::BadRecord {
        path: path.display().to_string(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad(format!("its `format` is not {FORMAT:?}")));
    }
    let version = v
        .get("format_version")
        .and_then(|f| f.as_u64())
        .unwrap_or(0);
    if version > u64::from(FORMAT_VERSION) {
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("?").to_string();
        return Err(RepoError::TooNew {
            id: text("id"),
            by: text("falconer"),
            version: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    serde_json::from_value(v).map_err(|e| bad(e.to_string()))
}

/// The entries of a directory (none when it does not exist), sorted.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, RepoError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Writes a file whole: a temporary name in the same directory, synced, then renamed.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(())
}
