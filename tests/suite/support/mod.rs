//! Real servers for the integration tests. `scripts/test` starts them and exports their addresses.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

/// The PostgreSQL server of the test run.
pub fn postgres_url() -> String {
    std::env::var("FALCONER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test, dropped by [`TestDb::drop`].
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    pub name: String,
    admin: PgPool,
}

impl TestDb {
    pub async fn new(tag: &str) -> TestDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let admin_url = postgres_url();
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("no PostgreSQL at {admin_url} ({e}): run scripts/test, or set FALCONER_TEST_POSTGRES_URL"));
        let name = format!(
            "falconer_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        admin
            .execute(format!("drop database if exists \"{name}\" with (force)").as_str())
            .await
            .expect("drop");
        admin
            .execute(format!("create database \"{name}\"").as_str())
            .await
            .expect("create database");
        let opts = PgConnectOptions::from_str(&admin_url)
            .expect("url")
            .database(&name);
        let url = opts.to_url_lossy().to_string();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .expect("connect");
        TestDb {
            pool,
            url,
            name,
            admin,
        }
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    pub async fn drop(self) {
        self.pool.close().await;
        let _ = self
            .admin
            .execute(format!("drop database if exists \"{}\" with (force)", self.name).as_str())
            .await;
    }
}

/// A MongoDB-wire server of its own for one test (SecantusDB, in memory), stopped by its PID when dropped.
/// `scripts/test` installs it and sets `FALCONER_TEST_SECANTUS` to its `secantusd-py`.
pub struct MongoServer {
    child: std::process::Child,
    pub url: String,
}

impl MongoServer {
    pub async fn start() -> MongoServer {
        let bin = std::env::var("FALCONER_TEST_SECANTUS").unwrap_or_else(|_| {
            format!(
                "{}/tests/.servers/secantus/bin/secantusd-py",
                env!("CARGO_MANIFEST_DIR")
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--storage-path", ":memory:", "--standalone"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): run scripts/test, which installs SecantusDB")
            });
        let server = MongoServer {
            child,
            url: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("SecantusDB did not open 127.0.0.1:{port} within 15 s");
    }

    pub async fn client(&self) -> mongodb::Client {
        mongodb::Client::with_uri_str(&self.url)
            .await
            .expect("a client")
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        // Stopped by its own PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts a command's exit code, showing its output when it differs.
pub fn code(o: &std::process::Output, want: i32) {
    assert_eq!(o.status.code(), Some(want), "{}", both(o));
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A command's standard output and error.
/// Held by the tests that create the acme example's buckets: bucket names are global on the one S3 server
/// the suite shares, so those tests take turns.
pub static ACME_BUCKETS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Held by the tests that create globex's buckets (the platform's export restored, the documented clone
/// of acme into globex).
pub static GLOBEX_BUCKETS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn both(o: &std::process::Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// Runs a command and kills it with SIGKILL as soon as `now()` says so (polled every millisecond); whether
/// it was killed (rather than finishing first).
pub async fn kill_when(mut command: std::process::Command, now: impl Fn() -> bool) -> bool {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if now() {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// The S3 server of the test run (SeaweedFS, started by `scripts/test`): its endpoint, once it answers a
/// signed ListBuckets.
pub async fn s3_endpoint() -> String {
    let endpoint = std::env::var("FALCONER_TEST_S3_ENDPOINT").expect(
        "no S3 server: run scripts/test, or set FALCONER_TEST_S3_ENDPOINT (credentials AK/SK)",
    );
    let client = s3_client(&endpoint, S3_SECRET);
    for _ in 0..300 {
        let call = falconer::domains::storage::client::Call::new(reqwest::Method::GET, None, "");
        if client.send(call).await.is_ok() {
            return endpoint;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("S3 at {endpoint} does not answer a signed ListBuckets");
}

/// The test server's secret key (see scripts/test).
pub const S3_SECRET: &str = "SK";

pub fn s3_client(endpoint: &str, secret: &str) -> falconer::domains::storage::client::Client {
    falconer::domains::storage::client::Client::new(falconer::domains::storage::client::Config {
        endpoint: endpoint.to_string(),
        region: "us-east-1".into(),
        access_key: "AK".into(),
        secret_key: secret.into(),
        virtual_host: false,
        session_token: None,
        tls: Default::default(),
    })
    .expect("a client")
}

/// A Kafka broker of its own for one test (noida-db, a fresh data directory), stopped by its PID when
/// dropped. `scripts/test` installs it and sets `FALCONER_TEST_NOIDA` to the broker binary. `stopper` kills
/// it from anywhere (a double's hook, on a counted event); `start_again` brings it back on the same port and
/// data directory.
pub struct KafkaServer {
    child: std::sync::Arc<std::sync::Mutex<Option<std::process::Child>>>,
    dir: std::path::PathBuf,
    port: u16,
    pub bootstrap: String,
}

impl KafkaServer {
    pub async fn start() -> KafkaServer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "falconer-kafka-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = KafkaServer {
            child: Default::default(),
            dir,
            port,
            bootstrap: format!("127.0.0.1:{port}"),
        };
        server.start_again().await;
        server
    }

    /// Starts the broker (again), on its port and data directory, once it accepts connections.
    pub async fn start_again(&self) {
        // The broker comes back empty, always: what noida-db had flushed before it was killed (a deletion
        // may not have been) would otherwise decide what the tests find after the restart.
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).expect("the broker's data directory");
        let bin = std::env::var("FALCONER_TEST_NOIDA")
            .expect("no Kafka broker: run scripts/test, which installs noida-db and sets FALCONER_TEST_NOIDA");
        let child = std::process::Command::new(&bin)
            .args(["start", "--data-dir"])
            .arg(&self.dir)
            .args([
                "--host",
                "127.0.0.1",
                "--only",
                "kafka",
                "--kafka-port",
                &self.port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        *self.child.lock().expect("the broker") = Some(child);
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("noida-db did not open 127.0.0.1:{}", self.port);
    }

    /// Something that stops the broker (by its PID) when called, from any thread.
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let child = self.child.clone();
        move || {
            if let Some(mut c) = child.lock().expect("the broker").take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for KafkaServer {
    fn drop(&mut self) {
        (self.stopper())();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A manifest directory and a state store of one test, and the falconer command run on them with a
/// given environment (the live systems' addresses, secret sources).
pub struct Workdir {
    pub dir: std::path::PathBuf,
    pub env: Vec<(String, String)>,
}

impl Workdir {
    /// A directory of this test's own: two tests with the same tag, running at once, never share (or
    /// delete) one.
    pub fn new(domain: &str, tag: &str, env: Vec<(String, String)>) -> Workdir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "falconer-{domain}-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("manifest")).expect("temp dir");
        Workdir { dir, env }
    }

    pub fn manifest(&self) -> String {
        self.dir.join("manifest").display().to_string()
    }

    /// The state store's URL.
    pub fn state_url(&self) -> String {
        format!("sqlite:{}", self.dir.join("state.db").display())
    }

    pub fn write(&self, file: &str, body: &str) {
        std::fs::write(self.dir.join("manifest").join(file), body).expect("writes");
    }

    /// Copies files (or directories of files) of `examples/acme` into the manifest directory.
    pub fn acme(&self, files: &[&str]) {
        let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
        for f in files {
            let (from, to) = (ex.join(f), self.dir.join("manifest").join(f));
            if from.is_dir() {
                std::fs::create_dir_all(&to).expect("a directory");
                for e in std::fs::read_dir(&from).expect("lists") {
                    let e = e.expect("an entry");
                    std::fs::copy(e.path(), to.join(e.file_name())).expect("copies");
                }
            } else {
                std::fs::copy(from, to).expect("copies");
            }
        }
    }

    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.dir.join("manifest").join(file);
        let body = std::fs::read_to_string(&path).expect("reads");
        assert!(body.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, body.replacen(from, to, 1)).expect("writes");
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("runs")
    }

    /// `export --tenant acme --domain DOMAIN -o DIR/FILE` (exit 0 asserted); the manifest written.
    pub fn export_acme(&self, domain: &str, file: &str) -> String {
        let out = self.dir.join(file);
        let path = out.display().to_string();
        let args = [
            "export", "--tenant", "acme", "--domain", domain, "-o", &path,
        ];
        code(&self.run(&args), 0);
        std::fs::read_to_string(&out).expect("the export")
    }

    /// The falconer command with this directory's state store and environment.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_falconer"));
        c.args(args)
            .env("NO_COLOR", "1")
            .env("FALCONER_STATE", self.state_url())
            .env_remove("FALCONER_POSTGRES_URL")
            .env_remove("FALCONER_PROFILE")
            .stdin(std::process::Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// `apply --auto-approve` of the manifest, allowing these hazard codes.
    pub fn apply(&self, allow: &[&str]) -> std::process::Output {
        let m = self.manifest();
        let mut args = vec!["apply", m.as_str(), "--auto-approve"];
        for h in allow {
            args.extend(["--allow", h]);
        }
        self.run(&args)
    }

    /// The JSON plan of the manifest.
    pub fn plan(&self) -> serde_json::Value {
        let o = self.run(&["plan", &self.manifest(), "--format", "json"]);
        code(&o, 0);
        serde_json::from_slice(&o.stdout).expect("a JSON plan")
    }

    /// The plan's changes as (address, action, changed field paths).
    pub fn changes(&self) -> Vec<(String, String, Vec<String>)> {
        self.plan()["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| {
                let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                (
                    s(&c["address"]),
                    s(&c["action"]),
                    c["fields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| s(&f["path"]))
                        .collect(),
                )
            })
            .collect()
    }

    /// Asserts the plan is exactly one update of `address` changing exactly `fields`, applies it (no hazard
    /// allowed) and asserts the next plan shows no changes.
    pub fn step(&self, address: &str, fields: &[&str]) {
        self.step_with(address, fields, &[]);
    }

    /// [`Workdir::step`], allowing these hazard codes.
    pub fn step_with(&self, address: &str, fields: &[&str], allow: &[&str]) {
        let mut f = self.one_update(address);
        f.sort();
        let mut want: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(f, want, "the changed fields of {address}");
        code(&self.apply(allow), 0);
        self.converged();
    }

    /// Asserts the plan is exactly one update of `address` whose changed paths all lie under the top-level
    /// `field` (`grant[r].privileges` lies under `grant`), applies it (allowing `allow`) and asserts the next
    /// plan shows no changes.
    pub fn step_field(&self, address: &str, field: &str, allow: &[&str]) {
        let paths = self.one_update(address);
        let tops: std::collections::BTreeSet<&str> = paths
            .iter()
            .map(|p| p.split(['.', '[']).next().unwrap_or_default())
            .collect();
        assert_eq!(
            tops,
            std::collections::BTreeSet::from([field]),
            "the changed fields of {address}: {paths:?}"
        );
        code(&self.apply(allow), 0);
        self.converged();
    }

    /// The changed field paths of the plan, which must be exactly one update of `address`.
    fn one_update(&self, address: &str) -> Vec<String> {
        let changes = self.changes();
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (a, action, paths) = &changes[0];
        assert_eq!(
            (a.as_str(), action.as_str()),
            (address, "update"),
            "{changes:?}"
        );
        paths.clone()
    }

    /// Applies the manifest again and again, each run killed with SIGKILL once `answered()` (a count of the
    /// server's answers) has grown by the next of `points` since the run began; stops at the first run that
    /// finishes first. Returns how many runs were killed mid-way.
    pub async fn killed_applies(&self, points: &[usize], answered: impl Fn() -> usize) -> usize {
        let m = self.manifest();
        let mut kills = 0;
        for n in points {
            let start = answered();
            let command = self.command(&["apply", &m, "--auto-approve"]);
            if !kill_when(command, || answered() >= start + n).await {
                break;
            }
            kills += 1;
        }
        kills
    }

    /// Asserts a plan shows no changes.
    pub fn converged(&self) {
        let o = self.run(&["plan", &self.manifest(), "--detailed-exitcode"]);
        code(&o, 0);
    }
}

/// A client of a Keycloak admin API (the test double's), signing in by password.
pub fn keycloak_client(
    url: &str,
    username: &str,
    password: &str,
) -> falconer::domains::iam::client::Keycloak {
    use falconer::domains::iam::client::{Auth, Config, Keycloak};
    Keycloak::new(Config {
        url: url.to_string(),
        auth: Auth::Password {
            username: username.to_string(),
            password: password.to_string(),
        },
        auth_realm: "master".into(),
        tls: Default::default(),
    })
    .expect("a Keycloak client")
}

/// Checking test doubles against published API documents (OpenAPI 3, Swagger 2).
pub mod contract {
    use serde_json::{Value, json};

    /// An official API document, from the folder `FALCONER_REFERENCE` names (`scripts/test` sets it when the
    /// documents are there, and skips the contract tests when they are not: the project does not carry them).
    pub fn document(path: &str) -> Value {
        let root = std::env::var_os("FALCONER_REFERENCE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                panic!("FALCONER_REFERENCE is not set: run scripts/test, or set it to the folder of the official API documents")
            });
        let path = root.join(path);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("the API document is JSON")
    }

    /// Makes every object schema that lists its properties refuse others, so that a body with a property
    /// the document does not name fails.
    pub fn strict(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                    m.insert("additionalProperties".into(), json!(false));
                }
                for x in m.values_mut() {
                    strict(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(strict),
            _ => {}
        }
    }

    /// The routes (method, template) of `routes` that no successful answer in `answered` (method, route,
    /// status) came from.
    pub fn unreached<'a>(
        routes: &'a [(&'a str, &'a str)],
        answered: impl Iterator<Item = (String, String, u16)>,
    ) -> Vec<&'a (&'a str, &'a str)> {
        let reached: std::collections::BTreeSet<(String, String)> = answered
            .filter(|(_, _, status)| (200..300).contains(status))
            .map(|(m, r, _)| (m, r))
            .collect();
        routes
            .iter()
            .filter(|(m, r)| !reached.contains(&(m.to_string(), r.to_string())))
            .collect()
    }

    /// A strict validator of `schema`, resolving `#/<defs>/...` (`components` or `definitions`) in the
    /// document.
    pub fn validator(doc: &Value, defs: &str, schema: &Value) -> jsonschema::Validator {
        let mut root = schema.clone();
        let mut shared = doc[defs].clone();
        strict(&mut shared);
        strict(&mut root);
        root[defs] = shared;
        jsonschema::validator_for(&root).expect("a valid schema")
    }
}

/// The environment that points falconer at a PostgreSQL database, a MongoDB server, Kafka brokers and the
/// suite's S3.
pub async fn systems_env(postgres: &str, mongo: &str, kafka: &str) -> Vec<(String, String)> {
    [
        ("FALCONER_POSTGRES_URL", postgres.to_string()),
        ("FALCONER_MONGO_URL", mongo.to_string()),
        ("FALCONER_KAFKA_BOOTSTRAP", kafka.to_string()),
        ("FALCONER_S3_ENDPOINT", s3_endpoint().await),
        ("AWS_ACCESS_KEY_ID", "AK".into()),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET.into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The Keycloak double, and the OpenWhisk double serving `namespace`.
pub async fn doubles(
    namespace: &str,
) -> (
    crate::keycloak_double::KeycloakDouble,
    crate::openwhisk_double::OpenWhiskDouble,
) {
    let kc = crate::keycloak_double::KeycloakDouble::start(0, Default::default())
        .await
        .expect("the Keycloak double starts");
    let options = crate::openwhisk_double::Options {
        namespace: namespace.into(),
        ..Default::default()
    };
    let ow = crate::openwhisk_double::OpenWhiskDouble::start(0, options)
        .await
        .expect("the OpenWhisk double starts");
    (kc, ow)
}

/// Runs a command to its end, which must come (polled up to a generous bound: a hang fails the test).
pub fn bounded(mut c: std::process::Command) -> std::process::Output {
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("waits"));
    for _ in 0..600 {
        if waiter.is_finished() {
            return waiter.join().expect("the output");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    panic!(
        "the command hung past a minute: {:?}",
        waiter.join().ok().map(|o| both(&o))
    );
}

/// `--tenant T --manifest M --domain D`: one domain of a tenant.
fn one_domain<'a>(tenant: &'a str, manifest: &'a str, domain: &'a str) -> [&'a str; 6] {
    [
        "--tenant",
        tenant,
        "--manifest",
        manifest,
        "--domain",
        domain,
    ]
}

/// `export` of one domain of `tenant` (its manifest `manifest`) to nothing: what it says is what counts.
pub fn export_args(tenant: &str, manifest: &str, domain: &str) -> Vec<String> {
    let args = std::iter::once("export").chain(one_domain(tenant, manifest, domain));
    args.chain(["-o", "/dev/null"]).map(String::from).collect()
}

/// Runs `export` (which must succeed) and checks that it names nothing as not carried.
pub fn nothing_named(w: &Workdir, export: &[&str]) {
    let o = w.run(export);
    code(&o, 0);
    assert!(!text(&o.stderr).contains("not carried"), "{}", both(&o));
}

/// `backup create --json` of one domain of `tenant` into the file repository `repo` (`extra` arguments
/// after), which must exit `exit`: its record.
pub fn backup_record(
    w: &Workdir,
    (tenant, manifest, domain): (&str, &str, &str),
    repo: &str,
    extra: &[&str],
    exit: i32,
) -> serde_json::Value {
    let mut args = vec!["backup", "create"];
    args.extend(one_domain(tenant, manifest, domain));
    args.extend(["--repo", repo, "--json"]);
    args.extend(extra);
    let o = w.run(&args);
    code(&o, exit);
    serde_json::from_slice(&o.stdout).expect("a record")
}

/// Runs `export` (which must succeed) and checks that its warnings name `named` as not carried, then that
/// the same export with `--strict` is refused (exit 5). Returns the warnings.
pub fn named_and_strict(w: &Workdir, export: &[&str], named: &str) -> String {
    let o = w.run(export);
    code(&o, 0);
    let err = text(&o.stderr);
    assert!(err.contains(named), "{named}: {err}");
    let mut strict = export.to_vec();
    strict.push("--strict");
    code(&w.run(&strict), 5);
    err
}

/// `backup create` of `tenant` (the Workdir's manifest beside it) into `repo`: the backup's record.
pub fn backed_up(w: &Workdir, tenant: &str, repo: &str) -> serde_json::Value {
    let m = w.manifest();
    let o = w.run(&[
        "backup",
        "create",
        "--tenant",
        tenant,
        "--manifest",
        &m,
        "--repo",
        repo,
        "--json",
    ]);
    code(&o, 0);
    serde_json::from_slice(&o.stdout).expect("a record")
}

/// A restore of backup `id` from `repo` into another tenant, `target`, with the proposed identifier map
/// accepted and no question asked; `extra` arguments after.
pub fn restored_as(
    w: &Workdir,
    (id, repo): (&str, &str),
    target: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "restore",
        id,
        "--tenant",
        target,
        "--repo",
        repo,
        "--accept-proposed-map",
        "--auto-approve",
    ];
    args.extend(extra);
    w.run(&args)
}

/// The platform's globex artifact (its 1.0.0 export), as JSON.
pub fn globex_fixture() -> serde_json::Value {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/falcone/globex-v1.0.0.json");
    serde_json::from_str(&std::fs::read_to_string(fixture).expect("reads")).expect("JSON")
}

/// The platform's globex artifact with what S3 would refuse mended (each bucket's lifecycle rule given an
/// expiration, its CORS rule a method), for tests of what a valid artifact does: its text.
pub fn globex_mended() -> String {
    let mut a = globex_fixture();
    for d in a["domains"].as_array_mut().expect("domains") {
        for b in d["data"]["buckets"].as_array_mut().into_iter().flatten() {
            for r in b["lifecycle_rules"].as_array_mut().into_iter().flatten() {
                r["Expiration"] = serde_json::json!({"Days": 30});
            }
            for r in b["cors_rules"].as_array_mut().into_iter().flatten() {
                r["AllowedMethods"] = serde_json::json!(["GET"]);
            }
        }
    }
    serde_json::to_string_pretty(&a).expect("writes")
}

/// The suite's servers (a database of the test's own, MongoDB, Kafka) and the two doubles (OpenWhisk serving
/// `namespace`) for one test, and the environment that points falconer at them.
pub struct Servers {
    pub db: TestDb,
    _mongo: MongoServer,
    _kafka: KafkaServer,
    _kc: crate::keycloak_double::KeycloakDouble,
    _ow: crate::openwhisk_double::OpenWhiskDouble,
    pub env: Vec<(String, String)>,
}

pub async fn servers(tag: &str, namespace: &str) -> Servers {
    let db = TestDb::new(tag).await;
    let mongo = MongoServer::start().await;
    let kafka = KafkaServer::start().await;
    let (kc, ow) = doubles(namespace).await;
    let mut env = systems_env(&db.url, &mongo.url, &kafka.bootstrap).await;
    env.push(("FALCONER_CONNECT_TIMEOUT".into(), "3".into()));
    env.extend(kc.env());
    env.extend(ow.env());
    Servers {
        db,
        _mongo: mongo,
        _kafka: kafka,
        _kc: kc,
        _ow: ow,
        env,
    }
}

/// Checks a document against a checked-in schema.
pub fn conforms(schema: &str, doc: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(schema);
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect(schema)).expect("JSON");
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{doc}: {errors:?}");
}

/// The addresses of a JSON plan's changes refused before writing by `rule` (an `IMPOSSIBLE` hazard naming
/// it) whose message also holds `words`.
pub fn refused_by<'p>(plan: &'p serde_json::Value, rule: &str, words: &str) -> Vec<&'p str> {
    let tag = format!("[{rule}]");
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| {
            c["hazards"].as_array().is_some_and(|h| {
                h.iter().any(|h| {
                    h["code"] == "IMPOSSIBLE"
                        && h["message"]
                            .as_str()
                            .is_some_and(|m| m.contains(&tag) && m.contains(words))
                })
            })
        })
        .filter_map(|c| c["address"].as_str())
        .collect()
}
