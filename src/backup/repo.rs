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
        self.remove_record(r)?;
        self.collect()
    }

    /// Removes a backup's record (its blobs stay until [`Repo::collect`]).
    pub fn remove_record(&self, r: &Record) -> Result<(), RepoError> {
        let path = self.record_path(&r.tenant, &r.id);
        std::fs::remove_file(&path).map_err(io(&path))
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

/// The repository's lock, held while backups are removed (`delete`, `prune`); released on drop.
#[derive(Debug)]
pub struct RepoLock {
    path: PathBuf,
    token: String,
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        let mine = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["token"] == self.token.as_str());
        if mine {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Repo {
    /// Takes the repository's lock for `ttl` seconds; an expired lock is taken over (its holder is
    /// returned, to be reported). Two takers of one expired lock: one wins, the other is refused.
    pub fn lock(&self, holder: &str, ttl: i64) -> Result<(RepoLock, Option<String>), RepoError> {
        let dir = self.root.join("locks");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join("exclusive.json");
        let token = crate::util::hex(&crate::util::random::<16>().unwrap_or_default());
        let now = crate::util::now();
        let body = serde_json::json!({"holder": holder, "token": token, "expires": now + ttl});
        let mut previous = None;
        for _ in 0..2 {
            match create_new(&path, body.to_string().as_bytes()) {
                Ok(()) => {
                    let lock = RepoLock { path, token };
                    return Ok((lock, previous));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(&path)(e)),
            }
            let held: serde_json::Value = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let expires = held["expires"].as_i64().unwrap_or(0);
            let by = held["holder"]
                .as_str()
                .unwrap_or("an unknown holder")
                .to_string();
            if expires > now {
                return Err(RepoError::Locked {
                    holder: by,
                    until: crate::util::rfc3339(expires),
                    path: path.display().to_string(),
                });
            }
            // Expired: move it aside (only one taker succeeds), then try again.
            let aside = dir.join(format!(".expired-{token}"));
            if std::fs::rename(&path, &aside).is_ok() {
                let _ = std::fs::remove_file(&aside);
                previous = Some(by);
            }
        }
        Err(RepoError::Locked {
            holder: "another process".into(),
            until: "now".into(),
            path: path.display().to_string(),
        })
    }
}

/// Creates a file that must not exist yet, whole: written and synced under another name, then linked to
/// its name (which fails when the name exists), so no reader ever sees it half-written.
fn create_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let linked = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::retention::{self, Candidate, Policy};
    use crate::backup::{BackupStatus, DomainEntry, DomainStatus};
    use crate::model::Domain;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// A backup of tenant `t` whose domains hold documents `docs` (indices into a small pool).
        Create {
            t: usize,
            docs: Vec<usize>,
        },
        Delete(usize),
        Prune {
            last: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..2usize, proptest::collection::vec(0..5usize, 1..4))
                .prop_map(|(t, docs)| Op::Create { t, docs }),
            1 => (0..8usize).prop_map(Op::Delete),
            1 => (1..3usize).prop_map(|last| Op::Prune { last }),
        ]
    }

    fn record(repo: &Repo, n: usize, t: usize, docs: &[usize]) -> Record {
        let domains = docs
            .iter()
            .zip(Domain::ALL)
            .map(|(d, domain)| {
                let (digest, _) = repo
                    .put_blob(format!("document {d}").as_bytes())
                    .expect("stores");
                DomainEntry {
                    domain,
                    status: DomainStatus::Ok,
                    resources: 1,
                    digest: Some(digest),
                    size: 10,
                    read_at: None,
                    message: None,
                    secrets: Vec::new(),
                }
            })
            .collect();
        let at = 1_700_000_000 + i64::try_from(n).unwrap_or(0) * 3600;
        Record {
            format: crate::backup::FORMAT.into(),
            format_version: crate::backup::FORMAT_VERSION,
            id: format!("{}-{n:04}", crate::util::rfc3339(at)),
            tenant: format!("t{t}"),
            status: BackupStatus::Ok,
            started_at: crate::util::rfc3339(at),
            finished_at: crate::util::rfc3339(at),
            falconer: "test".into(),
            manifest_format: "1".into(),
            tags: Default::default(),
            source: String::new(),
            domains,
            include: Vec::new(),
            exclude: Vec::new(),
            left_out: 0,
        }
    }

    fn prune(repo: &Repo, last: usize) {
        let records: Vec<Record> = repo
            .records(None)
            .expect("lists")
            .into_iter()
            .flatten()
            .collect();
        for t in ["t0", "t1"] {
            let mine: Vec<&Record> = records.iter().filter(|r| r.tenant == t).collect();
            let candidates: Vec<Candidate> = mine
                .iter()
                .map(|r| Candidate {
                    id: r.id.clone(),
                    at: retention::parse_time(&r.started_at).unwrap_or(0),
                    failed: false,
                })
                .collect();
            let policy = Policy {
                last: Some(last),
                ..Policy::default()
            };
            let keep = retention::keep(&candidates, &policy);
            for r in mine.iter().filter(|r| !keep.contains_key(&r.id)) {
                repo.remove_record(r).expect("removes");
            }
        }
        repo.collect().expect("collects");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Whatever the sequence of creates, deletes and prunes, every remaining backup verifies: no blob
        /// another backup uses is ever removed, and unused blobs are.
        #[test]
        fn removing_backups_never_takes_a_blob_another_uses(ops in proptest::collection::vec(op(), 1..24)) {
            static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("falconer-repo-prop-{}-{case}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let repo = Repo::open(&format!("file:{}", dir.display())).expect("opens");
            for (n, op) in ops.iter().enumerate() {
                match op {
                    Op::Create { t, docs } => repo.put_record(&record(&repo, n, *t, docs)).expect("stores"),
                    Op::Delete(i) => {
                        let all: Vec<Record> = repo.records(None).expect("lists").into_iter().flatten().collect();
                        if let Some(r) = all.get(i % all.len().max(1)) {
                            repo.delete(r).expect("deletes");
                        }
                    }
                    Op::Prune { last } => prune(&repo, *last),
                }
                let all: Vec<Record> = repo.records(None).expect("lists").into_iter().flatten().collect();
                for r in &all {
                    prop_assert!(repo.verify(r).is_empty(), "backup {} lost a blob after {:?}", r.id, op);
                }
                if !matches!(op, Op::Create { .. }) {
                    let used: std::collections::HashSet<&str> = all.iter().flat_map(Record::blobs).collect();
                    let stored = list_dir(&dir.join("blobs")).expect("lists").iter()
                        .map(|s| list_dir(s).expect("lists").len()).sum::<usize>();
                    prop_assert_eq!(stored, used.len(), "unused blobs are removed");
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn the_lock_refuses_a_second_holder_and_takes_over_an_expired_one() {
        let dir = std::env::temp_dir().join(format!("falconer-repo-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = Repo::open(dir.to_str().unwrap_or_default()).expect("opens");
        let (held, previous) = repo.lock("first", 600).expect("locks");
        assert!(previous.is_none());
        assert!(
            matches!(repo.lock("second", 600), Err(RepoError::Locked { holder, .. }) if holder == "first")
        );
        drop(held);
        let (expired, _) = repo.lock("stale", -1).expect("locks");
        std::mem::forget(expired);
        let (_, previous) = repo.lock("third", 600).expect("takes over");
        assert_eq!(previous.as_deref(), Some("stale"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
