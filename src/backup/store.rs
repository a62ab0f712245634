//! Where a repository's files live: a local directory, or a bucket and prefix on S3. Keys are relative
//! paths (`blobs/ab/ab12…`, `backups/T/ID.json`); every write is whole (a directory's file is written under
//! a temporary name, synced and renamed; an S3 object is whole by nature).

use std::path::{Path, PathBuf};

use reqwest::Method;

use super::error::RepoError;
use crate::s3::client::{Call, Client, Config, S3Error};

pub enum Store {
    Dir(PathBuf),
    S3(Box<Bucket>),
}

/// A bucket and a prefix on S3.
pub struct Bucket {
    client: Client,
    /// Requests sent so far (each page of a listing is one).
    requests: std::sync::atomic::AtomicUsize,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: what.to_string(),
        source,
    }
}

fn s3(e: S3Error) -> RepoError {
    RepoError::S3(e.to_string())
}

impl Store {
    /// `file:PATH` (or a path), or `s3://bucket/prefix`: on S3 with `s3`'s connection (the profile's
    /// `[backup]` table), else the environment's (`FALCONER_REPO_S3_ENDPOINT` or `FALCONER_S3_ENDPOINT`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `FALCONER_BACKUP_TLS_*`).
    pub fn open(
        url: &str,
        env: &crate::setup::Env,
        s3: Option<Config>,
    ) -> Result<Store, RepoError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(RepoError::Unsupported(url.to_string()));
            }
            let endpoints = ["FALCONER_REPO_S3_ENDPOINT", "FALCONER_S3_ENDPOINT"];
            let config = match s3 {
                Some(c) => c,
                None => Config::from_env(env, &endpoints, "FALCONER_BACKUP")?,
            };
            return Store::on_s3(config, bucket, prefix);
        }
        if url.contains("://") {
            return Err(RepoError::Unsupported(url.to_string()));
        }
        Ok(Store::Dir(PathBuf::from(
            url.strip_prefix("file:").unwrap_or(url),
        )))
    }

    /// `s3://bucket/prefix` with a given connection (not the environment's).
    pub fn on_s3(config: Config, bucket: &str, prefix: &str) -> Result<Store, RepoError> {
        let prefix = prefix.trim_matches('/');
        Ok(Store::S3(Box::new(Bucket {
            client: Client::new(config)?,
            requests: Default::default(),
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })))
    }

    /// The requests sent to S3 so far (0 on a directory).
    pub fn requests(&self) -> usize {
        match self {
            Store::Dir(_) => 0,
            Store::S3(b) => b.requests.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Where the repository is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Store::Dir(p) => format!("file:{}", p.display()),
            Store::S3(b) => format!("s3://{}/{}", b.bucket, b.prefix),
        }
    }

    /// A file's content; `None` when it does not exist.
    pub async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, RepoError> {
        match self {
            Store::Dir(root) => match std::fs::read(root.join(key)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io(key)(e)),
            },
            Store::S3(b) => match b.call(Method::GET, key, Vec::new()).await {
                Ok(r) => Ok(Some(r)),
                Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
                Err(e) => Err(s3(e)),
            },
        }
    }

    /// Whether a file exists.
    pub async fn exists(&self, key: &str) -> Result<bool, RepoError> {
        match self {
            Store::Dir(root) => Ok(root.join(key).is_file()),
            Store::S3(b) => match b.call(Method::HEAD, key, Vec::new()).await {
                Ok(_) => Ok(true),
                Err(S3Error::Refused { status: 404, .. }) => Ok(false),
                Err(e) => Err(s3(e)),
            },
        }
    }

    /// Writes a file whole.
    pub async fn write(&self, key: &str, bytes: &[u8]) -> Result<(), RepoError> {
        match self {
            Store::Dir(root) => {
                let path = root.join(key);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io(key))?;
                }
                crate::util::write_atomic(&path, bytes).map_err(io(key))
            }
            Store::S3(b) => b
                .call(Method::PUT, key, bytes.to_vec())
                .await
                .map(|_| ())
                .map_err(s3),
        }
    }

    /// Removes a file (one that is gone already is no error).
    pub async fn remove(&self, key: &str) -> Result<(), RepoError> {
        match self {
            Store::Dir(root) => match std::fs::remove_file(root.join(key)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(key)(e)),
                _ => Ok(()),
            },
            Store::S3(b) => b
                .call(Method::DELETE, key, Vec::new())
                .await
                .map(|_| ())
                .map_err(s3),
        }
    }

    /// The keys under `dir` (`backups/`), at any depth, sorted; names starting with `.` are left out.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, RepoError> {
        let mut keys = match self {
            Store::Dir(root) => list_tree(root, dir)?,
            Store::S3(b) => b.list(dir).await?,
        };
        keys.retain(|k| !k.split('/').any(|part| part.starts_with('.')));
        keys.sort();
        Ok(keys)
    }

    /// Creates a file that must not exist yet; false when it exists. On a directory the file is written
    /// under another name and linked to its own (the link fails when the name exists), so no reader sees it
    /// half-written. On S3 the write is conditional (`If-None-Match: *`: the server refuses it with 412 when
    /// the key exists, so of two writers at once one wins); the content is read back as well, for servers
    /// that ignore the condition.
    pub async fn create_new(&self, key: &str, bytes: &[u8]) -> Result<bool, RepoError> {
        match self {
            Store::Dir(root) => match link_new(&root.join(key), bytes) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(io(key)(e)),
            },
            Store::S3(b) => {
                let full = format!("{}{key}", b.prefix);
                let call = Call::new(Method::PUT, Some(&b.bucket), "")
                    .key(&full)
                    .header("if-none-match", "*")
                    .body(bytes.to_vec());
                match b.send(call).await {
                    Ok(_) => {}
                    Err(S3Error::Refused {
                        status: 412 | 409, ..
                    }) => return Ok(false),
                    Err(e) => return Err(s3(e)),
                }
                Ok(self.read(key).await?.as_deref() == Some(bytes))
            }
        }
    }
}

impl Bucket {
    async fn send(&self, call: Call<'_>) -> Result<Vec<u8>, S3Error> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.client.send(call).await.map(|r| r.body)
    }

    async fn call(&self, method: Method, key: &str, body: Vec<u8>) -> Result<Vec<u8>, S3Error> {
        let full = format!("{}{key}", self.prefix);
        let call = Call::new(method, Some(&self.bucket), "")
            .key(&full)
            .body(body);
        self.send(call).await
    }

    /// ListObjectsV2, a thousand keys a page.
    async fn list(&self, dir: &str) -> Result<Vec<String>, RepoError> {
        let full = format!("{}{dir}", self.prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = Call::new(Method::GET, Some(&self.bucket), "")
                .param("list-type", "2")
                .param("prefix", &full);
            if let Some(t) = &token {
                call = call.param("continuation-token", t);
            }
            let body = self.send(call).await.map_err(s3)?;
            let page: ListPage = quick_xml::de::from_reader(body.as_slice()).map_err(|e| {
                RepoError::S3(format!(
                    "cannot read the object list of {}: {e}",
                    self.bucket
                ))
            })?;
            keys.extend(
                page.contents
                    .into_iter()
                    .filter_map(|c| c.key.strip_prefix(self.prefix.as_str()).map(String::from)),
            );
            match page.next_continuation_token {
                Some(t) if page.is_truncated => token = Some(t),
                _ => return Ok(keys),
            }
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPage {
    #[serde(default)]
    contents: Vec<Entry>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    key: String,
}

/// The files under `root/dir`, as keys relative to `root`.
fn list_tree(root: &Path, dir: &str) -> Result<Vec<String>, RepoError> {
    let mut out = Vec::new();
    let mut todo = vec![root.join(dir)];
    while let Some(d) = todo.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&d.display().to_string())(e)),
        };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}

/// Creates `path` with `bytes` unless it exists: written and synced under another name, then linked.
fn link_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let linked = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked
}
