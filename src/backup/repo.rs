//! The backup repository: `file:PATH` (a local directory) or `s3://bucket/prefix`.
//!
//! ```text
//! blobs/ab/ab12…       a document, compressed; named by the SHA-256 of its content
//! backups/T/ID.json    a backup's record, written last
//! index/records        every record's content by its key, compressed (a cache, see below)
//! locks/exclusive.json the repository's lock while backups are removed
//! locks/shared-T.json  one running backup's lock (blobs it wrote are not yet named by a record)
//! ```
//! Every file is written whole (see `store.rs`): a reader never sees half a file.
//!
//! Records are written once and never change, so the index can hold their content: listing the backups is
//! then one listing of `backups/` (a request per 1,000 keys on S3) and one read of the index, rather than a
//! read per record. The listing decides which backups exist; a record the index lacks (a writer that died
//! between its record and the index, or two writers that raced on the index) is read and added; an entry
//! whose record is gone is dropped. So a stale index costs requests, never a wrong answer.

use sha2::{Digest, Sha256};

use super::crypt::{self, Key, Sealed};
use super::store::Store;
use super::{Encryption, FORMAT, FORMAT_VERSION, OLDEST_FORMAT, Record};

/// What a blob file starts with: the layout of what follows (here: deflate-compressed content).
const BLOB_MAGIC: &[u8; 4] = b"FBZ1";
/// The largest document a blob may inflate to (a bound against damaged or hostile blobs).
const MAX_DOCUMENT: usize = 1 << 30;
const LOCK: &str = "locks/exclusive.json";
/// Where running backups' shared locks are (`locks/shared-TOKEN.json`).
const SHARED: &str = "locks/shared-";
const INDEX: &str = "index/records";
/// The repository's configuration: whether its blobs are encrypted, and with which key.
const CONFIG: &str = "config.json";
/// The index's format; an index of another format is rebuilt from the records. It holds records of this
/// falconer's record format or older only (a newer falconer writes another index format).
pub use super::error::RepoError;

const INDEX_FORMAT: &str = "falconer-backup-index-2";

/// A repository of backups.
pub struct Repo {
    store: Store,
    key: Option<Key>,
    /// Set once the repository's configuration is known to suit this key (or its absence) for writing.
    writable: std::sync::OnceLock<()>,
}

/// Who takes a repository lock: for messages, and to tell a holder of this host that no longer runs.
#[derive(Debug, Clone, Default)]
pub struct LockOwner {
    /// `user@host (pid N)`.
    pub text: String,
    pub host: String,
    /// The holder's boot and pid namespace (empty when unknown: its pid is then never trusted).
    pub scope: String,
    pub pid: i64,
}

impl LockOwner {
    fn body(&self, token: &str, expires: i64) -> serde_json::Value {
        serde_json::json!({"holder": self.text, "token": token, "expires": expires,
            "host": self.host, "scope": self.scope, "pid": self.pid})
    }

    /// Whether the holder of a lock's content is a process of this host (same host, boot and pid namespace)
    /// that no longer runs.
    fn sees_gone(&self, held: &serde_json::Value) -> bool {
        !self.scope.is_empty()
            && held["host"] == self.host.as_str()
            && held["scope"] == self.scope.as_str()
            && held["pid"]
                .as_i64()
                .is_some_and(|pid| !crate::util::process_runs(pid))
    }
}

/// The repository's lock, held while backups are removed (`delete`, `prune`); give it back with
/// [`Repo::unlock`] (an expired lock is taken over by the next taker).
#[derive(Debug)]
pub struct RepoLock {
    token: String,
    /// The lock's file: the exclusive lock, or one backup's shared lock.
    key: String,
}

/// Compressed bytes, as blobs and the index are stored.
fn pack(content: &[u8]) -> Vec<u8> {
    let mut bytes = BLOB_MAGIC.to_vec();
    bytes.extend(miniz_oxide::deflate::compress_to_vec(content, 6));
    bytes
}

/// The content of packed bytes.
fn unpack(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let body = bytes
        .strip_prefix(BLOB_MAGIC)
        .ok_or_else(|| "unknown blob layout".to_string())?;
    miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_DOCUMENT)
        .map_err(|e| format!("cannot be decompressed ({:?})", e.status))
}

/// The index: each record by its key.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Index {
    format: String,
    records: std::collections::BTreeMap<String, Record>,
}

fn blob_key(digest: &str) -> String {
    format!("blobs/{}/{digest}", digest.get(..2).unwrap_or("00"))
}

/// Where the records of a tenant (or of all) are.
fn records_dir(tenant: Option<&str>) -> String {
    match tenant {
        Some(t) => format!("backups/{t}/"),
        None => "backups/".to_string(),
    }
}

fn record_key(tenant: &str, id: &str) -> String {
    format!("backups/{tenant}/{id}.json")
}

impl Repo {
    /// Opens `file:PATH` (or a plain path) or `s3://bucket/prefix` (S3 as the environment says); nothing
    /// is written until needed.
    pub fn open(url: &str, env: &crate::setup::Env) -> Result<Repo, RepoError> {
        Repo::open_with(url, env, None)
    }

    /// As [`Repo::open`], S3 reached with `s3` when given (the profile's `[backup]` connection).
    pub fn open_with(
        url: &str,
        env: &crate::setup::Env,
        s3: Option<crate::s3::client::Config>,
    ) -> Result<Repo, RepoError> {
        Ok(Repo::in_store(Store::open(url, env, s3)?))
    }

    /// The repository in a given store.
    pub fn in_store(store: Store) -> Repo {
        Repo {
            store,
            key: None,
            writable: std::sync::OnceLock::new(),
        }
    }

    /// The repository with a key: new blobs are encrypted with it, encrypted ones opened.
    pub fn with_key(mut self, key: Option<Key>) -> Repo {
        self.key = key;
        self
    }

    /// How new backups' blobs are encrypted (none without a key).
    pub fn encryption(&self) -> Option<Encryption> {
        self.key.as_ref().map(|k| Encryption {
            algorithm: crypt::ALGORITHM.into(),
            key_id: k.id(),
        })
    }

    /// Checks, before the first write, that the repository suits the key (or its absence): an encrypted
    /// repository takes only its own key; an unencrypted one with backups takes none; an empty one given a
    /// key becomes encrypted (its configuration written once, whoever comes first).
    async fn ready_to_write(&self) -> Result<(), RepoError> {
        if self.writable.get().is_some() {
            return Ok(());
        }
        for _ in 0..2 {
            let config = self.store.read(CONFIG).await?;
            let encrypted = config
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| serde_json::from_value::<Encryption>(v["encryption"].clone()).ok());
            match (encrypted, &self.key) {
                (Some(e), Some(k)) if e.key_id == k.id() => break,
                (Some(e), Some(k)) => return Err(self.wrong_key(e.key_id, k.id())),
                (Some(e), None) => return Err(self.key_needed(e.key_id)),
                (None, None) => break,
                (None, Some(_)) if config.is_some() || self.holds_anything().await? => {
                    return Err(RepoError::NotEncrypted(self.describe()));
                }
                (None, Some(_)) => {
                    let body = serde_json::json!({"format": "falconer-repository", "encryption": self.encryption()});
                    if self
                        .store
                        .create_new(CONFIG, body.to_string().as_bytes())
                        .await?
                    {
                        break;
                    }
                }
            }
        }
        let _ = self.writable.set(());
        Ok(())
    }

    /// Whether the repository can be written to now: a directory is made if missing; on S3 the prefix is
    /// listed (the bucket exists, the credentials are taken).
    pub async fn reachable(&self) -> Result<(), RepoError> {
        match &self.store {
            Store::Dir(p) => std::fs::create_dir_all(p).map_err(|source| RepoError::Io {
                path: p.display().to_string(),
                source,
            }),
            Store::S3(_) => self.store.list("backups/").await.map(|_| ()),
        }
    }

    /// Refuses a repository that was never written: a directory that does not exist, or a bucket and prefix
    /// that hold nothing (S3 has no empty directories). An empty directory is an empty repository.
    pub async fn must_exist(&self) -> Result<(), RepoError> {
        let there = match &self.store {
            Store::Dir(p) => p.is_dir(),
            Store::S3(_) => self.holds_anything().await? || self.store.exists(CONFIG).await?,
        };
        match there {
            true => Ok(()),
            false => Err(RepoError::Missing(self.describe())),
        }
    }

    async fn holds_anything(&self) -> Result<bool, RepoError> {
        Ok(!self.store.list("backups/").await?.is_empty()
            || !self.store.list("blobs/").await?.is_empty())
    }

    fn wrong_key(&self, needed: String, given: String) -> RepoError {
        RepoError::WrongKey {
            repo: self.describe(),
            needed,
            given,
        }
    }

    fn key_needed(&self, key_id: String) -> RepoError {
        RepoError::KeyNeeded {
            repo: self.describe(),
            key_id,
        }
    }

    /// Where the repository is, for messages.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// The requests sent to the store so far (S3; 0 on a directory).
    pub fn requests(&self) -> usize {
        self.store.requests()
    }

    /// Stores a document once; its digest, and whether it was new.
    pub async fn put_blob(&self, content: &[u8]) -> Result<(String, bool), RepoError> {
        let digest = crate::util::hex(&Sha256::digest(content));
        self.ready_to_write().await?;
        let key = blob_key(&digest);
        if self.store.exists(&key).await? {
            return Ok((digest, false));
        }
        let bytes = match &self.key {
            Some(k) => k
                .seal(&digest, pack(content))
                .map_err(|reason| RepoError::Damaged {
                    digest: digest.clone(),
                    reason,
                })?,
            None => pack(content),
        };
        self.store.write(&key, &bytes).await?;
        Ok((digest, true))
    }

    /// A document, checked against its digest.
    pub async fn get_blob(&self, digest: &str) -> Result<Vec<u8>, RepoError> {
        let damaged = |reason: String| RepoError::Damaged {
            digest: digest.to_string(),
            reason,
        };
        let bytes = self
            .store
            .read(&blob_key(digest))
            .await?
            .ok_or_else(|| damaged("it is missing".into()))?;
        let packed = match crypt::key_id_of(&bytes) {
            None => bytes,
            Some(id) => {
                let Some(k) = &self.key else {
                    return Err(self.key_needed(id));
                };
                k.open(digest, &bytes).map_err(|e| match e {
                    Sealed::OtherKey(id) => self.wrong_key(id, k.id()),
                    Sealed::Damaged => damaged("it does not open with its key (damaged)".into()),
                })?
            }
        };
        let content = unpack(&packed).map_err(damaged)?;
        let actual = crate::util::hex(&Sha256::digest(&content));
        if actual != digest {
            return Err(damaged(format!("its content has digest {actual}")));
        }
        Ok(content)
    }

    /// Writes a backup's record (last: the backup exists from then on), then adds it to the index (a failure
    /// there only costs a later listing a request).
    pub async fn put_record(&self, r: &Record) -> Result<(), RepoError> {
        let body = serde_json::to_vec_pretty(r).unwrap_or_default();
        let key = record_key(&r.tenant, &r.id);
        self.store.write(&key, &body).await?;
        let mut index = self.index().await;
        index.records.insert(key, r.clone());
        self.put_index(&mut index).await;
        Ok(())
    }

    /// The index (empty when it is missing, damaged or of another format: it is rebuilt as records are
    /// read).
    async fn index(&self) -> Index {
        let bytes = self.store.read(INDEX).await.ok().flatten();
        bytes.and_then(|b| index_of(&b)).unwrap_or_default()
    }

    async fn put_index(&self, index: &mut Index) {
        index.format = INDEX_FORMAT.to_string();
        let bytes = pack(&serde_json::to_vec(&index).unwrap_or_default());
        if let Err(e) = self.store.write(INDEX, &bytes).await {
            tracing::warn!(
                "the backup index was not updated ({e}); listings read the records instead"
            );
        }
    }

    /// Every record's key, of every tenant or of one.
    async fn record_keys(&self, tenant: Option<&str>) -> Result<Vec<String>, RepoError> {
        let mut keys = self.store.list(&records_dir(tenant)).await?;
        keys.retain(|k| k.ends_with(".json") && k.matches('/').count() == 2);
        Ok(keys)
    }

    /// Every backup, newest first, from the listing and the index (records the index lacks are read and
    /// added); records that cannot be read are returned as errors, by key.
    pub async fn records(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<Result<Record, RepoError>>, RepoError> {
        let keys = self.record_keys(tenant).await?;
        let mut index = self.index().await;
        let mut changed = false;
        let mut out = Vec::new();
        for key in &keys {
            let r = match index.records.get(key) {
                Some(r) => Ok(r.clone()),
                None => {
                    let r = self.read_record(key).await;
                    if let Ok(r) = &r {
                        index.records.insert(key.clone(), r.clone());
                        changed = true;
                    }
                    r
                }
            };
            out.push(r);
        }
        let scope = records_dir(tenant);
        let listed: std::collections::HashSet<&String> = keys.iter().collect();
        let before = index.records.len();
        index
            .records
            .retain(|k, _| !k.starts_with(&scope) || listed.contains(k));
        if changed || index.records.len() != before {
            self.put_index(&mut index).await;
        }
        sort_newest_first(&mut out);
        Ok(out)
    }

    /// Every backup, newest first, each record read from its own file (what `verify` checks).
    pub async fn records_read(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<Result<Record, RepoError>>, RepoError> {
        let mut out = Vec::new();
        for key in self.record_keys(tenant).await? {
            out.push(self.read_record(&key).await);
        }
        sort_newest_first(&mut out);
        Ok(out)
    }

    /// One backup by id, or the newest that is not failed (`latest`; of `tenant` when given).
    pub async fn record(&self, id: &str, tenant: Option<&str>) -> Result<Record, RepoError> {
        if id == "latest" {
            return self
                .records(tenant)
                .await?
                .into_iter()
                .flatten()
                .find(|r| r.status != super::BackupStatus::Failed)
                .ok_or_else(|| {
                    RepoError::NotFound(match tenant {
                        Some(t) => format!("of tenant `{t}` (latest)"),
                        None => "latest".into(),
                    })
                });
        }
        let file = format!("/{id}.json");
        let key = self
            .record_keys(tenant)
            .await?
            .into_iter()
            .find(|k| k.ends_with(&file))
            .ok_or_else(|| RepoError::NotFound(id.to_string()))?;
        self.read_record(&key).await
    }

    /// Removes a backup's record, then the blobs no other record names; the number of blobs removed.
    pub async fn delete(&self, r: &Record) -> Result<usize, RepoError> {
        self.remove_record(r).await?;
        self.collect().await
    }

    /// Removes a backup's record (its blobs stay until [`Repo::collect`]).
    pub async fn remove_record(&self, r: &Record) -> Result<(), RepoError> {
        self.store.remove(&record_key(&r.tenant, &r.id)).await
    }

    /// Removes the blobs no record names (left by deleted backups, or by a backup killed before its
    /// record); the number removed. While a record cannot be read, nothing is removed (it might name any).
    pub async fn collect(&self) -> Result<usize, RepoError> {
        let mut used = std::collections::HashSet::new();
        for r in self.records(None).await? {
            match r {
                Ok(r) => used.extend(r.blobs().map(str::to_string)),
                Err(_) => return Ok(0),
            }
        }
        let mut removed = 0;
        for key in self.store.list("blobs/").await? {
            let digest = key.rsplit('/').next().unwrap_or_default();
            if !used.contains(digest) {
                self.store.remove(&key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The number of blobs stored (used or not).
    pub async fn blob_count(&self) -> Result<usize, RepoError> {
        Ok(self.store.list("blobs/").await?.len())
    }

    /// Re-reads every blob a backup names and checks its digest; the problems found.
    pub async fn verify(&self, r: &Record) -> Vec<RepoError> {
        let mut problems = Vec::new();
        for d in r.blobs() {
            if let Err(e) = self.get_blob(d).await {
                problems.push(e);
            }
        }
        problems
    }

    /// Takes the repository's exclusive lock for `ttl` seconds (renew it with [`Repo::renew`]); an expired
    /// lock is taken over (its holder is returned, to be reported). Two takers of one expired lock: one wins,
    /// the other is refused. Refused too while a backup runs (a live shared lock): the blobs it has written
    /// are named by no record yet, and removing what no record names would take them.
    pub async fn lock(
        &self,
        me: &LockOwner,
        ttl: i64,
    ) -> Result<(RepoLock, Option<String>), RepoError> {
        let token = crate::util::hex(&crate::util::random::<16>().unwrap_or_default());
        let now = crate::util::now();
        let body = me.body(&token, now + ttl);
        let mut previous = None;
        for _ in 0..2 {
            if self
                .store
                .create_new(LOCK, body.to_string().as_bytes())
                .await?
            {
                if let Some((by, until)) = self.live_shared(me, now).await? {
                    self.store.remove(LOCK).await?;
                    return Err(self.locked(format!("a backup by {by}"), until, LOCK));
                }
                let key = LOCK.to_string();
                return Ok((RepoLock { token, key }, previous));
            }
            let held = self.held(LOCK).await?;
            let expires = held["expires"].as_i64().unwrap_or(0);
            let by = held["holder"]
                .as_str()
                .unwrap_or("an unknown holder")
                .to_string();
            if expires > now && !me.sees_gone(&held) {
                return Err(self.locked(by, expires, LOCK));
            }
            // Expired, or its holder is gone: removed, then taken again (only one of two takers creates it).
            self.store.remove(LOCK).await?;
            previous = Some(by);
        }
        Err(self.locked("another process".into(), now, LOCK))
    }

    /// Takes a shared lock for a backup, for `ttl` seconds: any number of backups hold one at once; refused
    /// while the exclusive lock is held (a removal runs).
    pub async fn lock_shared(&self, me: &LockOwner, ttl: i64) -> Result<RepoLock, RepoError> {
        let token = crate::util::hex(&crate::util::random::<16>().unwrap_or_default());
        let now = crate::util::now();
        let key = format!("{SHARED}{token}.json");
        let body = me.body(&token, now + ttl);
        self.store.write(&key, body.to_string().as_bytes()).await?;
        let held = self.held(LOCK).await?;
        let expires = held["expires"].as_i64().unwrap_or(0);
        if expires > now && !me.sees_gone(&held) {
            self.store.remove(&key).await?;
            let by = held["holder"].as_str().unwrap_or("an unknown holder");
            return Err(self.locked(by.to_string(), expires, LOCK));
        }
        Ok(RepoLock { token, key })
    }

    /// The holder and expiry of a live shared lock, if there is one (expired ones, and those of holders of
    /// this host that no longer run, are removed).
    async fn live_shared(
        &self,
        me: &LockOwner,
        now: i64,
    ) -> Result<Option<(String, i64)>, RepoError> {
        for key in self.store.list("locks/").await? {
            if !key.starts_with(SHARED) {
                continue;
            }
            let held = self.held(&key).await?;
            let expires = held["expires"].as_i64().unwrap_or(0);
            if expires > now && !me.sees_gone(&held) {
                let by = held["holder"].as_str().unwrap_or("an unknown holder");
                return Ok(Some((by.to_string(), expires)));
            }
            self.store.remove(&key).await?;
        }
        Ok(None)
    }

    fn locked(&self, holder: String, until: i64, key: &str) -> RepoError {
        RepoError::Locked {
            holder,
            until: crate::util::rfc3339(until),
            path: format!("{}/{key}", self.describe()),
        }
    }

    /// A lock file's content (null when there is none or it cannot be read).
    async fn held(&self, key: &str) -> Result<serde_json::Value, RepoError> {
        Ok(self
            .store
            .read(key)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    /// Renews a lock for `ttl` seconds from now; false when it is no longer this one's (it expired and was
    /// taken over).
    pub async fn renew(&self, lock: &RepoLock, ttl: i64) -> Result<bool, RepoError> {
        let mut held = self.held(&lock.key).await?;
        if held["token"] != lock.token.as_str() {
            return Ok(false);
        }
        held["expires"] = (crate::util::now() + ttl).into();
        self.store
            .write(&lock.key, held.to_string().as_bytes())
            .await?;
        Ok(true)
    }

    /// Gives a lock back (when it is still this one's).
    pub async fn unlock(&self, lock: RepoLock) -> Result<(), RepoError> {
        let held = self.held(&lock.key).await?;
        if held["token"] == lock.token.as_str() {
            self.store.remove(&lock.key).await?;
        }
        Ok(())
    }

    /// A record read from its file, checked: its format, its version.
    async fn read_record(&self, key: &str) -> Result<Record, RepoError> {
        let bytes = self
            .store
            .read(key)
            .await?
            .ok_or_else(|| bad_record(key, "it is gone".into()))?;
        record_of(key, &bytes)
    }
}

/// A record from the bytes of its file (at `key`), checked.
pub(crate) fn record_of(key: &str, bytes: &[u8]) -> Result<Record, RepoError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad_record(key, e.to_string()))?;
    check_record(key, v)
}

/// Packed bytes read as a repository reads them: unpacked, then as the index and as a document (for the
/// fuzz target of stored blobs).
pub(crate) fn read_packed(bytes: &[u8]) {
    if let Ok(plain) = unpack(bytes) {
        let _ = index_in(&plain);
        let _ = serde_json::from_slice::<serde_json::Value>(&plain);
    }
}

/// The index of records in packed bytes, if they hold one of this format.
pub(crate) fn index_of(bytes: &[u8]) -> Option<Index> {
    index_in(&unpack(bytes).ok()?)
}

/// The index of records in unpacked bytes, if they hold one of this format.
fn index_in(plain: &[u8]) -> Option<Index> {
    serde_json::from_slice::<Index>(plain)
        .ok()
        .filter(|i| i.format == INDEX_FORMAT)
}

fn bad_record(key: &str, reason: String) -> RepoError {
    RepoError::BadRecord {
        path: key.to_string(),
        reason,
    }
}

/// A record's JSON, checked: its format, its version (a newer one is refused naming the falconer that
/// wrote it).
fn check_record(key: &str, v: serde_json::Value) -> Result<Record, RepoError> {
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad_record(key, format!("its `format` is not {FORMAT:?}")));
    }
    let version = v
        .get("format_version")
        .and_then(|f| f.as_u64())
        .unwrap_or(0);
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("?").to_string();
    if version < u64::from(OLDEST_FORMAT) {
        return Err(RepoError::TooOld {
            id: text("id"),
            version: u32::try_from(version).unwrap_or(0),
        });
    }
    if version > u64::from(FORMAT_VERSION) {
        return Err(RepoError::TooNew {
            id: text("id"),
            by: text("falconer"),
            version: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    serde_json::from_value(v).map_err(|e| bad_record(key, e.to_string()))
}

fn sort_newest_first(out: &mut [Result<Record, RepoError>]) {
    out.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => b.id.cmp(&a.id),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(a), Err(b)) => a.to_string().cmp(&b.to_string()),
    });
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

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    fn record(repo: &Repo, n: usize, t: usize, docs: &[usize]) -> Record {
        let domains = docs
            .iter()
            .zip(Domain::ALL)
            .map(|(d, domain)| {
                let (digest, _) =
                    block(repo.put_blob(format!("document {d}").as_bytes())).expect("stores");
                DomainEntry {
                    domain,
                    status: DomainStatus::Ok,
                    resources: 1,
                    digest: Some(digest),
                    size: 10,
                    read_at: None,
                    message: None,
                    secrets: Vec::new(),
                    parts: Default::default(),
                    not_carried: Vec::new(),
                    data: Vec::new(),
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
            encryption: None,
        }
    }

    fn prune(repo: &Repo, last: usize) {
        let records = all(repo);
        for t in ["t0", "t1"] {
            let mine: Vec<&Record> = records.iter().filter(|r| r.tenant == t).collect();
            let candidates: Vec<Candidate> = mine
                .iter()
                .map(|r| Candidate {
                    id: r.id.clone(),
                    at: retention::parse_time(&r.started_at).unwrap_or(0),
                    status: r.status,
                })
                .collect();
            let policy = Policy {
                last: Some(last),
                ..Policy::default()
            };
            let keep = retention::keep(&candidates, &policy);
            for r in mine.iter().filter(|r| !keep.contains_key(&r.id)) {
                block(repo.remove_record(r)).expect("removes");
            }
        }
        block(repo.collect()).expect("collects");
    }

    fn all(repo: &Repo) -> Vec<Record> {
        block(repo.records(None))
            .expect("lists")
            .into_iter()
            .flatten()
            .collect()
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
            let repo = Repo::open(&format!("file:{}", dir.display()), &Default::default()).expect("opens");
            for (n, op) in ops.iter().enumerate() {
                match op {
                    Op::Create { t, docs } => block(repo.put_record(&record(&repo, n, *t, docs))).expect("stores"),
                    Op::Delete(i) => {
                        let all = all(&repo);
                        if let Some(r) = all.get(i % all.len().max(1)) {
                            block(repo.delete(r)).expect("deletes");
                        }
                    }
                    Op::Prune { last } => prune(&repo, *last),
                }
                let all = all(&repo);
                for r in &all {
                    prop_assert!(block(repo.verify(r)).is_empty(), "backup {} lost a blob after {:?}", r.id, op);
                }
                if !matches!(op, Op::Create { .. }) {
                    let used: std::collections::HashSet<&str> = all.iter().flat_map(Record::blobs).collect();
                    let stored = block(repo.blob_count()).expect("counts");
                    prop_assert_eq!(stored, used.len(), "unused blobs are removed");
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    fn who(text: &str) -> LockOwner {
        LockOwner {
            text: text.into(),
            ..LockOwner::default()
        }
    }

    #[test]
    fn the_lock_refuses_a_second_holder_and_takes_over_an_expired_one() {
        let dir = std::env::temp_dir().join(format!("falconer-repo-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo =
            Repo::open(dir.to_str().unwrap_or_default(), &Default::default()).expect("opens");
        let (held, previous) = block(repo.lock(&who("first"), 600)).expect("locks");
        assert!(previous.is_none());
        assert!(
            matches!(block(repo.lock(&who("second"), 600)), Err(RepoError::Locked { holder, .. }) if holder == "first")
        );
        block(repo.unlock(held)).expect("unlocks");
        let (_expired, _) = block(repo.lock(&who("stale"), -1)).expect("locks");
        let (third, previous) = block(repo.lock(&who("third"), 600)).expect("takes over");
        assert_eq!(previous.as_deref(), Some("stale"));
        // A backup is refused while a removal holds the lock; a removal while a backup runs.
        assert!(
            matches!(block(repo.lock_shared(&who("backup"), 600)), Err(RepoError::Locked { holder, .. }) if holder == "third")
        );
        block(repo.unlock(third)).expect("unlocks");
        let backup = block(repo.lock_shared(&who("backup"), 600)).expect("a shared lock");
        let _other = block(repo.lock_shared(&who("another backup"), 600)).expect("shared");
        assert!(
            matches!(block(repo.lock(&who("remover"), 600)), Err(RepoError::Locked { holder, .. }) if holder.contains("backup"))
        );
        assert!(block(repo.renew(&backup, 600)).expect("renews"));
        block(repo.unlock(backup)).expect("unlocks");
        block(repo.unlock(_other)).expect("unlocks");
        let (removal, _) = block(repo.lock(&who("remover"), 600)).expect("free again");
        assert!(block(repo.renew(&removal, 600)).expect("renews"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod versions {
    use super::*;

    #[test]
    fn a_record_from_a_newer_falconer_is_refused_naming_its_version() {
        let dir = std::env::temp_dir().join(format!("falconer-repo-newer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo =
            Repo::open(dir.to_str().unwrap_or_default(), &Default::default()).expect("opens");
        let body = serde_json::json!({"format": FORMAT, "format_version": FORMAT_VERSION + 1,
            "id": "x1", "falconer": "9.9.9", "tenant": "acme"});
        std::fs::create_dir_all(dir.join("backups/acme")).expect("dir");
        std::fs::write(dir.join("backups/acme/x1.json"), body.to_string()).expect("writes");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let e = rt.block_on(repo.record("x1", None)).expect_err("refused");
        assert!(
            matches!(e, RepoError::TooNew { ref by, .. } if by == "9.9.9"),
            "{e}"
        );
        assert!(e.to_string().contains("use falconer 9.9.9 or later"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
