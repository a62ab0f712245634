//! A system dies in the middle of an apply (issue 18, item 1). On a counted event (the Keycloak double's
//! answer to the first role created; the dying system's resources wait on that role), the test kills the
//! server: PostgreSQL (a cluster of the test's own), MongoDB-wire (SecantusDB on disk), Kafka (noida-db) and
//! S3 (SeaweedFS) by SIGKILL of their process group and the leader's children, as a crash would; Keycloak and OpenWhisk by closing the
//! port in front of their double and every connection through it. falconer must report the failure naming
//! the system, exit 1, keep the journal (the run `failed`, the dying system's step `failed`), never report
//! success, and complete the steps of the other system that were not waiting on it. Started again (with its
//! data), the next apply completes: the plan after it is empty (nothing lost) and every name is there once.
//!
//! Each system also stops answering on the same event (the four real servers by SIGSTOP of their processes,
//! the doubles by the port in front of them holding every byte; connections stay open, no answer comes):
//! the apply fails within the timeouts (3 s here), naming the system, with the same journal; let go on
//! (SIGCONT, the port thawed), the next apply completes.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::keycloak_double::KeycloakDouble;
use crate::openwhisk_double::OpenWhiskDouble;
use crate::support::{TestDb, Workdir, both, bounded, code, text};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (bounded) until 127.0.0.1:`port` accepts connections.
fn wait_port(port: u16, what: &str) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} did not open 127.0.0.1:{port} within 30 s");
}

/// A server process of the test's own, in a process group of its own: killed whole by its PID (SIGKILL to
/// the group, as a crash would), started again with the same command (same port, same data).
#[derive(Clone)]
pub(crate) struct Proc {
    argv: Arc<Vec<String>>,
    port: u16,
    what: &'static str,
    child: Arc<Mutex<Option<Child>>>,
}

impl Proc {
    fn start(what: &'static str, argv: Vec<String>, port: u16) -> Proc {
        let p = Proc {
            argv: Arc::new(argv),
            port,
            what,
            child: Default::default(),
        };
        p.start_again();
        p
    }

    pub(crate) fn start_again(&self) {
        use std::os::unix::process::CommandExt;
        let child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.argv[0]));
        *self.child.lock().expect("the child") = Some(child);
        wait_port(self.port, self.what);
    }

    /// Signals the process group and the leader's children (PostgreSQL's backends are groups of their own:
    /// each calls setsid): SIGSTOP (the server keeps its connections and answers nothing), SIGCONT, SIGKILL.
    /// Whether the signal was sent.
    fn signal(&self, signal: &str) -> bool {
        if let Some(c) = self.child.lock().expect("the child").as_ref() {
            let children = Command::new("ps")
                .args(["-o", "pid=", "--ppid", &c.id().to_string()])
                .output()
                .expect("ps");
            let mut targets = vec![format!("-{}", c.id())];
            targets.extend(text(&children.stdout).split_whitespace().map(String::from));
            let status = Command::new("kill")
                .arg(signal)
                .arg("--")
                .args(&targets)
                .status();
            return status.is_ok_and(|s| s.success());
        }
        false
    }

    /// Kills the process group and the leader's children (from any thread); waits for the leader.
    pub(crate) fn kill(&self) {
        self.signal("-KILL");
        if let Some(mut c) = self.child.lock().expect("the child").take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if Arc::strong_count(&self.child) == 1 {
            self.kill();
        }
    }
}

/// A PostgreSQL cluster of the test's own (initdb in a temporary directory; as the `postgres` user when
/// the test runs as root), trusting every connection.
fn postgres_cluster(dir: &std::path::Path) -> (Proc, String) {
    postgres_cluster_with(dir, None)
}

/// A cluster of the test's own; with `password`, connections over TCP need SCRAM-SHA-256 (the superuser
/// `postgres` has that password, in the URL), so a login proves a password.
pub(crate) fn postgres_cluster_with(
    dir: &std::path::Path,
    password: Option<&str>,
) -> (Proc, String) {
    postgres_cluster_custom(dir, password, &[], None)
}

/// A cluster of the test's own, as [`postgres_cluster_with`], with server settings (`-c ssl=on`, ...) and,
/// when given, its own `pg_hba.conf`. Files the server reads (certificates, keys) must be in `dir`.
pub(crate) fn postgres_cluster_custom(
    dir: &std::path::Path,
    password: Option<&str>,
    settings: &[String],
    hba: Option<&str>,
) -> (Proc, String) {
    // The newest major version by number (as scripts/servers.sh picks it, `sort -V`), never by text order
    // ("9" would sort after "16").
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name();
                    let version: Vec<u32> = name
                        .to_str()?
                        .split('.')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .ok()?;
                    Some((version, e.path().join("bin")))
                })
                .max()
        })
        .map(|(_, bin)| bin)
        .expect("PostgreSQL's server binaries (scripts/test installs them)");
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0");
    let as_pg = |program: std::path::PathBuf| -> Vec<String> {
        let mut argv = Vec::new();
        if root {
            argv.extend(
                [
                    "setpriv",
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ]
                .map(String::from),
            );
        }
        argv.push(program.display().to_string());
        argv
    };
    std::fs::create_dir_all(dir).expect("a directory");
    if root {
        let _ = Command::new("chown").arg("postgres").arg(dir).status();
    }
    let data = dir.join("data");
    let mut initdb = as_pg(bin.join("initdb"));
    initdb.extend(["-D".into(), data.display().to_string()]);
    match password {
        None => initdb.extend(["-A".into(), "trust".into()]),
        Some(p) => {
            let file = dir.join("pwfile");
            std::fs::write(&file, p).expect("writes the password file");
            if root {
                let _ = Command::new("chown").arg("postgres").arg(&file).status();
            }
            initdb.extend([
                "--auth-local=trust".into(),
                "--auth-host=scram-sha-256".into(),
                format!("--pwfile={}", file.display()),
            ]);
        }
    }
    initdb.extend(["-U".into(), "postgres".into()]);
    let o = Command::new(&initdb[0])
        .args(&initdb[1..])
        .output()
        .expect("initdb");
    assert!(o.status.success(), "initdb: {}", both(&o));
    if let Some(h) = hba {
        std::fs::write(data.join("pg_hba.conf"), h).expect("writes pg_hba.conf");
    }
    if root {
        let _ = Command::new("chown")
            .arg("-R")
            .arg("postgres")
            .arg(dir)
            .status();
    }
    let port = free_port();
    let mut argv = as_pg(bin.join("postgres"));
    for a in ["-D", &data.display().to_string(), "-p", &port.to_string()] {
        argv.push(a.to_string());
    }
    for a in [
        "-k",
        &dir.display().to_string(),
        "-c",
        "listen_addresses=127.0.0.1",
    ] {
        argv.push(a.to_string());
    }
    for s in settings {
        argv.extend(["-c".to_string(), s.clone()]);
    }
    let url = match password {
        None => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        Some(p) => format!("postgres://postgres:{p}@127.0.0.1:{port}/postgres"),
    };
    (Proc::start("PostgreSQL", argv, port), url)
}

/// SecantusDB keeping its data in `dir`.
fn mongo_on_disk(dir: &std::path::Path) -> (Proc, String) {
    mongo_on_disk_with(dir, &[])
}

/// SecantusDB keeping its data in `dir`, with more arguments (`--auth`, `--tls-cert-file ...`).
pub(crate) fn mongo_on_disk_with(dir: &std::path::Path, extra: &[String]) -> (Proc, String) {
    let bin = std::env::var("FALCONER_TEST_SECANTUS").unwrap_or_else(|_| {
        format!(
            "{}/tests/.servers/secantus/bin/secantusd-py",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    std::fs::create_dir_all(dir).expect("a directory");
    let port = free_port();
    let argv = [
        bin.as_str(),
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--storage-path",
        &dir.join("data").display().to_string(),
        "--standalone",
    ]
    .map(String::from)
    .to_vec();
    let argv = [argv, extra.to_vec()].concat();
    let url = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
    (Proc::start("SecantusDB", argv, port), url)
}

/// A noida-db broker keeping its data in `dir`.
fn kafka_on_disk(dir: &std::path::Path) -> (Proc, String) {
    let bin = std::env::var("FALCONER_TEST_NOIDA")
        .expect("no Kafka broker: run scripts/test, which installs noida-db");
    let port = free_port();
    let argv = [
        bin.as_str(),
        "start",
        "--data-dir",
        &dir.display().to_string(),
        "--host",
        "127.0.0.1",
        "--only",
        "kafka",
        "--kafka-port",
        &port.to_string(),
    ]
    .map(String::from)
    .to_vec();
    (
        Proc::start("noida-db", argv, port),
        format!("127.0.0.1:{port}"),
    )
}

/// A SeaweedFS of the test's own (`weed mini`, data in `dir`), credentials AK/SK.
fn s3_on_disk(dir: &std::path::Path) -> (Proc, String) {
    s3_on_disk_with(dir, None)
}

/// As [`s3_on_disk`]; with `https` (a certificate and its key), S3 is also served over HTTPS, and the URL
/// returned is that one (`https://localhost:PORT`).
pub(crate) fn s3_on_disk_with(
    dir: &std::path::Path,
    https: Option<(&std::path::Path, &std::path::Path)>,
) -> (Proc, String) {
    let weed = format!(
        "{}/tests/.servers/seaweedfs/bin/weed",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::create_dir_all(dir.join("data")).expect("a directory");
    std::fs::create_dir_all(dir.join("logs")).expect("a directory");
    let config = dir.join("s3.json");
    std::fs::write(&config, r#"{"identities":[{"name":"ci","credentials":[{"accessKey":"AK","secretKey":"SK"}],"actions":["Admin","Read","List","Tagging","Write"]}]}"#).expect("writes");
    let s3 = free_port();
    let p = |name: &str| format!("-{name}={}", free_port());
    let argv = vec![
        weed,
        format!("-logdir={}", dir.join("logs").display()),
        "mini".into(),
        format!("-dir={}", dir.join("data").display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-s3.port={s3}"),
        p("s3.port.grpc"),
        p("master.port"),
        p("master.port.grpc"),
        p("filer.port"),
        p("filer.port.grpc"),
        p("volume.port"),
        p("volume.port.grpc"),
        p("admin.port"),
        p("admin.port.grpc"),
        "-master.telemetry=false".into(),
        format!("-s3.config={}", config.display()),
        "-webdav=false".into(),
        "-admin.ui=false".into(),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
    ];
    match https {
        None => (
            Proc::start("SeaweedFS", argv, s3),
            format!("http://127.0.0.1:{s3}"),
        ),
        Some((cert, key)) => {
            let port = free_port();
            let tls = vec![
                format!("-s3.port.https={port}"),
                format!("-s3.cert.file={}", cert.display()),
                format!("-s3.key.file={}", key.display()),
            ];
            (
                Proc::start("SeaweedFS", [argv, tls].concat(), port),
                format!("https://localhost:{port}"),
            )
        }
    }
}

/// A TCP port in front of a double: `cut` closes it and every connection through it (the double is
/// stopped); `mend` opens it again, and the double answers with what it held (a server restarted with its
/// data). `freeze` holds every byte that comes through, connections open (a server that stops answering);
/// `thaw` lets them go on.
struct Gate {
    port: u16,
    target: u16,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    async fn open(target_url: &str) -> Arc<Gate> {
        let target = target_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let gate = Arc::new(Gate {
            port: free_port(),
            target,
            tasks: Default::default(),
            frozen: tokio::sync::watch::Sender::new(false),
        });
        gate.mend().await;
        gate
    }

    async fn mend(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the gate's port");
        let (target, tasks, frozen) = (self.target, self.tasks.clone(), self.frozen.clone());
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(out) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (from_client, to_client) = inbound.into_split();
                let (from_server, to_server) = out.into_split();
                let up = tokio::spawn(pass(from_client, to_server, frozen.subscribe()));
                let down = tokio::spawn(pass(from_server, to_client, frozen.subscribe()));
                tasks.lock().expect("tasks").extend([up, down]);
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }

    /// Closes the port and every connection (from any thread).
    fn cut(&self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }

    /// Holds every byte from now on, or (`false`) lets them go on (from any thread).
    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Copies one way, holding each chunk while the gate is frozen.
async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16384];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The system that dies.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Victim {
    Postgres,
    Mongo,
    Kafka,
    Storage,
    Keycloak,
    OpenWhisk,
}

impl Victim {
    /// The manifest's resources of the victim (each waits on the role `viewer`), and how falconer names the
    /// system.
    fn resources(self, t: &str) -> (String, &'static str, &'static str) {
        let wait = "depends_on = [\"iam.role.viewer\"]";
        match self {
            Victim::Postgres => (
                format!(
                    "[[postgres.schema]]\nname = \"{t}_app\"\n{wait}\n\n[[postgres.table]]\nname = \"orders\"\nschema = \"{t}_app\"\ncolumn = [{{ name = \"id\", type = \"bigint\" }}]\n{wait}\n"
                ),
                "postgres",
                "PostgreSQL",
            ),
            Victim::Mongo => (
                format!(
                    "[[mongo.database]]\nname = \"{t}\"\n{wait}\n\n[[mongo.collection]]\nname = \"events\"\ndatabase = \"{t}\"\n{wait}\n\n[[mongo.collection]]\nname = \"audit\"\ndatabase = \"{t}\"\n{wait}\n"
                ),
                "mongo",
                "MongoDB",
            ),
            Victim::Kafka => (
                format!(
                    "[[kafka.topic]]\nname = \"{t}.orders\"\npartitions = 2\nreplication_factor = 1\n{wait}\n\n[[kafka.topic]]\nname = \"{t}.audit\"\npartitions = 1\nreplication_factor = 1\n{wait}\n"
                ),
                "kafka",
                "Kafka",
            ),
            Victim::Storage => (
                format!(
                    "[[storage.bucket]]\nname = \"{t}-files\"\n{wait}\n\n[[storage.bucket]]\nname = \"{t}-exports\"\nversioning = \"enabled\"\n{wait}\n"
                ),
                "storage",
                "S3",
            ),
            Victim::Keycloak => (String::new(), "iam", "Keycloak"),
            Victim::OpenWhisk => (
                format!(
                    "[[functions.package]]\nname = \"orders\"\n{wait}\n\n[[functions.action]]\nname = \"notify\"\npackage = \"orders\"\nkind = \"nodejs:20\"\ncode = \"function main() {{ return {{}}; }}\"\n{wait}\n"
                ),
                "functions",
                "OpenWhisk",
            ),
        }
    }
}

/// What happens to the victim.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fault {
    /// It dies (SIGKILL; a double's port closed), and is started again with its data.
    Dies,
    /// It stops answering (SIGSTOP: its connections stay open, its answers never come), then goes on.
    Stops,
}

/// One death: the tenant applied with the victim killed on the first role created, then the victim back and
/// the apply run again.
async fn dies_mid_apply(victim: Victim) {
    fault_mid_apply(victim, Fault::Dies).await;
}

/// One fault of the victim on the first role created, then the victim back and the apply run again.
async fn fault_mid_apply(victim: Victim, fault: Fault) {
    let t = match fault {
        Fault::Dies => format!("death{}", victim as usize),
        Fault::Stops => format!("stop{}", victim as usize),
    };
    let dir = std::env::temp_dir().join(format!("falconer-servers-{t}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The other system, whose step waits on nothing: OpenWhisk's package, or (when OpenWhisk dies) a
    // PostgreSQL table on the suite's server.
    let shared_db = TestDb::new(&format!("deaths_{t}")).await;
    let (server, env): (Option<Proc>, Vec<(String, String)>) = match victim {
        Victim::Postgres => {
            let (p, url) = postgres_cluster(&dir.join("pg"));
            (Some(p), vec![("FALCONER_POSTGRES_URL".into(), url)])
        }
        Victim::Mongo => {
            let (p, url) = mongo_on_disk(&dir.join("mongo"));
            (Some(p), vec![("FALCONER_MONGO_URL".into(), url)])
        }
        Victim::Kafka => {
            let (p, url) = kafka_on_disk(&dir.join("kafka"));
            (Some(p), vec![("FALCONER_KAFKA_BOOTSTRAP".into(), url)])
        }
        Victim::Storage => {
            let (p, url) = s3_on_disk(&dir.join("s3"));
            let env = [
                ("FALCONER_S3_ENDPOINT", url.as_str()),
                ("AWS_ACCESS_KEY_ID", "AK"),
                ("AWS_SECRET_ACCESS_KEY", "SK"),
                ("AWS_REGION", "us-east-1"),
            ];
            (
                Some(p),
                env.map(|(k, v)| (k.to_string(), v.to_string())).to_vec(),
            )
        }
        Victim::Keycloak | Victim::OpenWhisk => (None, Vec::new()),
    };
    if let Some(s) = &server {
        wait_port(s.port, s.what);
    }

    // The counted event: the first role created. What it does is set once the gates exist.
    let armed = Arc::new(AtomicBool::new(false));
    let kill: Arc<OnceLock<Box<dyn Fn() + Send + Sync>>> = Arc::new(OnceLock::new());
    let (trigger, killer) = (armed.clone(), kill.clone());
    let hook = move |m: &axum::http::Method, path: &str| {
        if m == axum::http::Method::POST
            && path.ends_with("/roles")
            && trigger.swap(false, Ordering::SeqCst)
            && let Some(k) = killer.get()
        {
            k();
        }
    };
    let kc = KeycloakDouble::start(
        0,
        crate::keycloak_double::Options {
            before_answer: Some(Arc::new(hook)),
            ..Default::default()
        },
    )
    .await
    .expect("the Keycloak double starts");
    let ow = OpenWhiskDouble::start(
        0,
        crate::openwhisk_double::Options {
            namespace: t.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("the OpenWhisk double starts");
    let (kc_gate, ow_gate) = (Gate::open(&kc.url).await, Gate::open(&ow.url).await);
    let _ = kill.set(match (victim, &server) {
        (Victim::Keycloak | Victim::OpenWhisk, _) => {
            let g = match victim {
                Victim::Keycloak => kc_gate.clone(),
                _ => ow_gate.clone(),
            };
            match fault {
                Fault::Dies => Box::new(move || g.cut()),
                Fault::Stops => Box::new(move || g.freeze(true)),
            }
        }
        (_, Some(s)) => {
            let s = s.clone();
            match fault {
                Fault::Dies => Box::new(move || s.kill()),
                Fault::Stops => Box::new(move || assert!(s.signal("-STOP"), "SIGSTOP sent")),
            }
        }
        (_, None) => unreachable!("a server dies"),
    });

    let mut all_env: Vec<(String, String)> = kc
        .env()
        .into_iter()
        .chain(ow.env())
        .map(|(k, v)| match k.as_str() {
            "FALCONER_KEYCLOAK_URL" => (k, kc_gate.url()),
            "FALCONER_OPENWHISK_URL" => (k, ow_gate.url()),
            _ => (k, v),
        })
        .collect();
    all_env.extend(env);
    if fault == Fault::Stops {
        // A stopped server is found out by the request timeout (and a new connection by the connect one).
        all_env.push(("FALCONER_REQUEST_TIMEOUT".into(), "3".into()));
        all_env.push(("FALCONER_CONNECT_TIMEOUT".into(), "3".into()));
    }
    let (other, other_domain) = if victim == Victim::OpenWhisk {
        all_env.push(("FALCONER_POSTGRES_URL".into(), shared_db.url.clone()));
        (
            format!(
                "[[postgres.schema]]\nname = \"{t}_other\"\n\n[[postgres.table]]\nname = \"kept\"\nschema = \"{t}_other\"\ncolumn = [{{ name = \"id\", type = \"bigint\" }}]\n"
            ),
            "postgres",
        )
    } else {
        (
            "[[functions.package]]\nname = \"kept\"\n".to_string(),
            "functions",
        )
    };
    let (resources, domain, name) = victim.resources(&t);
    let w = Workdir::new("deaths", &t, all_env);
    w.write(
        "m.toml",
        &format!(
            "[tenant]\nid = \"{t}\"\n[tenant.naming]\nrealm = \"{t}\"\npostgres_schemas = [\"{t}_app\", \"{t}_other\"]\nmongo_databases = [\"{t}\"]\nkafka_topic_prefix = \"{t}.\"\nfunctions_namespace = \"{t}\"\nbucket_prefix = \"{t}-\"\n\n[[iam.realm]]\nname = \"{t}\"\n\n[[iam.role]]\nname = \"viewer\"\n\n[[iam.role]]\nname = \"editor\"\ndepends_on = [\"iam.role.viewer\"]\n\n{resources}\n{other}"
        ),
    );

    // The apply during which the victim dies.
    armed.store(true, Ordering::SeqCst);
    let o = bounded(w.command(&["apply", &w.manifest(), "--auto-approve"]));
    assert!(
        !armed.load(Ordering::SeqCst),
        "{victim:?}: the event came: {}",
        both(&o)
    );
    code(&o, 1);
    let out = both(&o);
    assert!(
        out.contains(&format!("error: {domain} ")) && out.contains(name),
        "{victim:?}: the failure names {name}: {out}"
    );
    assert!(
        out.contains("command: ") || out.contains("statement: "),
        "{victim:?}: the failure names the step: {out}"
    );
    if fault == Fault::Stops {
        assert!(
            out.contains("within 3 s") || out.to_lowercase().contains("timed out"),
            "{victim:?}: the failure says the system did not answer in time: {out}"
        );
    }
    assert!(
        !text(&o.stdout).contains("Applied:"),
        "{victim:?}: no success: {out}"
    );
    let steps = journal(&w).await;
    assert!(
        steps.iter().any(|(d, s)| d == domain && s == "failed"),
        "{victim:?}: the journal keeps the failed step: {steps:?}\n{out}"
    );
    assert!(
        steps
            .iter()
            .any(|(d, s)| d == other_domain && s == "committed"),
        "{victim:?}: the other system's step completed: {steps:?}\n{out}"
    );

    // Back (with its data), the next apply completes; then nothing is left to do.
    match (victim, &server) {
        (Victim::Keycloak, _) if fault == Fault::Stops => kc_gate.freeze(false),
        (Victim::OpenWhisk, _) if fault == Fault::Stops => ow_gate.freeze(false),
        (Victim::Keycloak, _) => kc_gate.mend().await,
        (Victim::OpenWhisk, _) => ow_gate.mend().await,
        (_, Some(s)) if fault == Fault::Stops => assert!(s.signal("-CONT"), "SIGCONT sent"),
        (_, Some(s)) => s.start_again(),
        (_, None) => unreachable!(),
    }
    if let (Victim::Postgres, Fault::Dies, Some((_, url))) = (
        victim,
        fault,
        w.env.iter().find(|(k, _)| k == "FALCONER_POSTGRES_URL"),
    ) {
        postgres_ready(url).await;
    }
    let again = w.apply(&[]);
    code(&again, 0);
    w.converged();
    // Every name once in the doubles (the real servers key their objects by name).
    match victim {
        Victim::Keycloak => {
            // Each role created once: a second creation of a name would have been answered 409.
            let created = kc
                .log()
                .iter()
                .filter(|r| r.method == "POST" && r.route.ends_with("/roles") && r.status == 201)
                .count();
            assert_eq!(created, 2, "two roles, each created once");
        }
        Victim::OpenWhisk => {
            assert_eq!(ow.world().packages.len(), 1);
            assert_eq!(ow.world().actions.len(), 1);
        }
        _ => {}
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&w.dir);
    let _ = std::fs::remove_dir_all(&dir);
    shared_db.drop().await;
}

/// Waits (bounded) until PostgreSQL accepts a session: after a crash it opens its port before its recovery
/// ends ("the database system is starting up").
async fn postgres_ready(url: &str) {
    use sqlx::Connection;
    for _ in 0..600 {
        if sqlx::PgConnection::connect(url).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("PostgreSQL at {url} did not accept a session within 30 s of its restart");
}

/// The run's journal in the state store: (domain, status) of each step.
async fn journal(w: &Workdir) -> Vec<(String, String)> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&w.state_url())
        .await
        .expect("the state store");
    let runs: Vec<(String,)> = sqlx::query_as("select status from falconer_runs")
        .fetch_all(&mut c)
        .await
        .expect("runs");
    assert_eq!(runs, vec![("failed".to_string(),)], "one run, failed");
    sqlx::query_as("select address, status from falconer_journal order by step")
        .fetch_all(&mut c)
        .await
        .expect("journal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dies_mid_apply() {
    dies_mid_apply(Victim::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_dies_mid_apply() {
    dies_mid_apply(Victim::Mongo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_dies_mid_apply() {
    dies_mid_apply(Victim::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_dies_mid_apply() {
    dies_mid_apply(Victim::Storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_dies_mid_apply() {
    dies_mid_apply(Victim::Keycloak).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openwhisk_dies_mid_apply() {
    dies_mid_apply(Victim::OpenWhisk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stops_answering_mid_apply() {
    fault_mid_apply(Victim::Postgres, Fault::Stops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_stops_answering_mid_apply() {
    fault_mid_apply(Victim::Mongo, Fault::Stops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_stops_answering_mid_apply() {
    fault_mid_apply(Victim::Kafka, Fault::Stops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_stops_answering_mid_apply() {
    fault_mid_apply(Victim::Storage, Fault::Stops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_stops_answering_mid_apply() {
    fault_mid_apply(Victim::Keycloak, Fault::Stops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openwhisk_stops_answering_mid_apply() {
    fault_mid_apply(Victim::OpenWhisk, Fault::Stops).await;
}
