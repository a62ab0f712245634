//! Reliability: what falconer does when a live system misbehaves (docs/reliability.md). Here: a system that
//! accepts connections and never answers (a listener that never accepts: the kernel completes the handshake,
//! nothing reads or replies). Every system's command fails within its connect timeout, naming the system,
//! rather than hang; the timeouts come from the environment or the profile's `[timeouts]` table.

use std::net::TcpListener;

use crate::support::{Workdir, both, bounded, code, text};

/// A listener that accepts connections into its backlog and never answers.
fn silent() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = l.local_addr().expect("an address").to_string();
    (l, addr)
}

/// A system's name, its manifest part and its environment.
type System = (&'static str, String, Vec<(String, String)>);

/// Each system: its name, its manifest part and its environment (pointing at the silent listener).
fn systems(addr: &str) -> Vec<System> {
    let http = format!("http://{addr}");
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    vec![
        (
            "PostgreSQL",
            "[[postgres.schema]]\nname = \"acme\"\n".into(),
            env(&[("FALCONER_POSTGRES_URL", &format!("postgres://u@{addr}/db"))]),
        ),
        (
            "MongoDB",
            "[[mongo.database]]\nname = \"acme\"\n".into(),
            env(&[("FALCONER_MONGO_URL", &format!("mongodb://{addr}/"))]),
        ),
        (
            "Kafka",
            "[[kafka.topic]]\nname = \"acme.t\"\npartitions = 1\n".into(),
            env(&[("FALCONER_KAFKA_BOOTSTRAP", addr)]),
        ),
        (
            "Keycloak",
            "[[iam.realm]]\nname = \"acme\"\n".into(),
            env(&[
                ("FALCONER_KEYCLOAK_URL", &http),
                ("FALCONER_KEYCLOAK_USER", "admin"),
                ("FALCONER_KEYCLOAK_PASSWORD", "admin"),
            ]),
        ),
        (
            "OpenWhisk",
            "[[functions.package]]\nname = \"p\"\n".into(),
            env(&[
                ("FALCONER_OPENWHISK_URL", &http),
                ("FALCONER_OPENWHISK_AUTH", "u:k"),
            ]),
        ),
        (
            "S3",
            "[[storage.bucket]]\nname = \"acme-b\"\n".into(),
            env(&[
                ("FALCONER_S3_ENDPOINT", &http),
                ("AWS_ACCESS_KEY_ID", "AK"),
                ("AWS_SECRET_ACCESS_KEY", "SK"),
            ]),
        ),
    ]
}

/// A hung system, each of the six: `plan` fails within the connect timeout (1 s here, from the
/// environment), naming the system, with exit 1.
#[test]
fn a_system_that_never_answers_fails_the_command_naming_it() {
    let (_listener, addr) = silent();
    for (system, part, mut env) in systems(&addr) {
        env.push(("FALCONER_CONNECT_TIMEOUT".into(), "1".into()));
        env.push(("FALCONER_REQUEST_TIMEOUT".into(), "2".into()));
        let w = Workdir::new("reliability", &system.to_lowercase(), env);
        w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n\n{part}"));
        let o = bounded(w.command(&["plan", &w.manifest()]));
        let out = both(&o);
        assert_eq!(o.status.code(), Some(1), "{system}: {out}");
        assert!(out.contains(system), "{system} is named: {out}");
        let _ = std::fs::remove_dir_all(&w.dir);
    }
}

/// The profile's `[timeouts]` table sets a system's timeouts (here PostgreSQL's, to 1 s); a table for a
/// system that does not exist, or a timeout of 0, is refused naming the file.
#[test]
fn the_profile_sets_timeouts_per_system() {
    let (_listener, addr) = silent();
    let (_, part, env) = systems(&addr).remove(0);
    let w = Workdir::new("reliability", "profile", env);
    w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n\n{part}"));
    let profile = w.dir.join("profile.toml");
    let p = profile.display().to_string();
    std::fs::write(
        &profile,
        "[timeouts]\nrequest = 5\n[timeouts.postgres]\nconnect = 1\n",
    )
    .expect("writes");
    let o = bounded(w.command(&["--profile", &p, "plan", &w.manifest()]));
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("PostgreSQL"), "{}", both(&o));
    assert!(both(&o).contains("within 1 s"), "{}", both(&o));
    for (bad, says) in [
        ("[timeouts.nosuch]\nconnect = 1\n", "no such system"),
        ("[timeouts]\nconnect = 0\n", "would never wait"),
    ] {
        std::fs::write(&profile, bad).expect("writes");
        let o = bounded(w.command(&["--profile", &p, "plan", &w.manifest()]));
        assert_eq!(o.status.code(), Some(1), "{}", both(&o));
        assert!(both(&o).contains(says), "{}", both(&o));
        assert!(both(&o).contains("profile.toml"), "{}", both(&o));
    }
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// What a fault does to a Keycloak read, counted by the double.
struct Faulty {
    kc: crate::keycloak_double::KeycloakDouble,
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A Keycloak double that answers `fault` to the first `times` requests of `method` to the realm
/// (`/admin/realms/acme`; a POST: to `/admin/realms`, which creates it).
async fn faulty(
    method: &'static str,
    times: usize,
    fault: (u16, &'static str, &'static str),
) -> Faulty {
    let target = if method == "POST" {
        "/admin/realms"
    } else {
        "/admin/realms/acme"
    };
    faulty_at(method, target, times, fault).await
}

/// A Keycloak double that answers `fault` to the first `times` requests of `method` to `target`.
async fn faulty_at(
    method: &'static str,
    target: &'static str,
    times: usize,
    fault: (u16, &'static str, &'static str),
) -> Faulty {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let (status, retry_after, body) = fault;
    let options = crate::keycloak_double::Options {
        fault: Some(std::sync::Arc::new(move |m, path, _| {
            if m.as_str() != method || path != target {
                return None;
            }
            if count.fetch_add(1, Ordering::SeqCst) >= times {
                return None;
            }
            let headers = if retry_after.is_empty() {
                Vec::new()
            } else {
                vec![("Retry-After".to_string(), retry_after.to_string())]
            };
            Some((status, headers, body.to_string()))
        })),
        ..Default::default()
    };
    let kc = crate::keycloak_double::KeycloakDouble::start(0, options)
        .await
        .expect("the double starts");
    Faulty { kc, served }
}

impl Faulty {
    /// `plan --detailed-exitcode` (or `apply`) of a realm against the double.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_and_managed(args).0
    }

    /// Like `run`, and what the state store then says falconer manages for the tenant.
    fn run_and_managed(&self, args: &[&str]) -> (std::process::Output, String) {
        let w = Workdir::new("reliability", "kc-fault", self.kc.env());
        w.write(
            "m.toml",
            "[tenant]\nid = \"acme\"\n\n[[iam.realm]]\nname = \"acme\"\n",
        );
        let m = w.manifest();
        let mut all = args.to_vec();
        all.insert(1, &m);
        let o = bounded(w.command(&all));
        let managed = w.run(&["state", "list", "acme"]);
        let _ = std::fs::remove_dir_all(&w.dir);
        (o, String::from_utf8_lossy(&managed.stdout).to_string())
    }

    fn served(&self) -> usize {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Bad answers from Keycloak: a read answered 503 (with `Retry-After`) or 429 is tried again and the plan
/// goes on; one that keeps answering 429 fails after four tries, naming Keycloak and the status; malformed
/// JSON and a 500 fail at once with a clear error (never a panic); a write answered 503 is not repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_from_keycloak_are_retried_or_reported() {
    let busy = faulty("GET", 2, (503, "1", "{\"error\":\"busy\"}")).await;
    let o = busy.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "the plan goes on: {}", both(&o));
    assert!(busy.served() >= 3, "two faults, then the real answer");

    let limited = faulty("GET", usize::MAX, (429, "0", "{\"error\":\"slow down\"}")).await;
    let o = limited.run(&["plan"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("Keycloak answered 429"), "{}", both(&o));
    assert_eq!(limited.served(), 4, "one try and three more");

    for (status, body, says) in [
        (200, "{\"realm\": \"acme\", ", "not JSON"),
        (500, "{\"error\":\"boom\"}", "Keycloak answered 500"),
        (
            200,
            "{\"realm\": 42, \"enabled\": \"yes\", \"attributes\": []}",
            "Keycloak",
        ),
        (200, "[1, 2, 3]", "Keycloak"),
    ] {
        let broken = faulty("GET", usize::MAX, (status, "", body)).await;
        let o = broken.run(&["plan"]);
        assert_eq!(o.status.code(), Some(1), "{}", both(&o));
        assert!(both(&o).contains(says), "{}", both(&o));
        assert!(!both(&o).contains("panicked"), "{}", both(&o));
        assert_eq!(broken.served(), 1, "not tried again");
    }

    // An object where a list belongs is an error, never an empty list.
    let object = faulty_at(
        "GET",
        "/admin/realms/acme/roles",
        usize::MAX,
        (200, "", "{\"roles\": []}"),
    )
    .await;
    // The realm exists first (a realm that does not exist has no lists to read).
    let _ = object.run(&["apply", "--auto-approve"]);
    let o = object.run(&["plan"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("not a list"), "{}", both(&o));

    let busy_realm = faulty("POST", usize::MAX, (503, "0", "{\"error\":\"busy\"}")).await;
    let (o, managed) = busy_realm.run_and_managed(&["apply", "--auto-approve"]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    assert!(both(&o).contains("Keycloak answered 503"), "{}", both(&o));
    assert_eq!(busy_realm.served(), 1, "a write is not repeated");
    // What the system refused is not recorded as applied (falconer does not come to manage it).
    assert!(!managed.contains("iam.realm.acme"), "{managed}");

    // The same apply against a double that answers: the realm is then recorded, so the check above can fail.
    let fine = faulty("POST", 0, (503, "0", "")).await;
    let (o, managed) = fine.run_and_managed(&["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(managed.contains("iam.realm.acme"), "{managed}");
}

/// An OpenWhisk double whose package list answers `fault` the first `times` times; the faults served.
async fn faulty_openwhisk(
    times: usize,
    fault: (u16, &'static str, &'static str),
) -> (
    crate::openwhisk_double::OpenWhiskDouble,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let (status, retry_after, body) = fault;
    let options = crate::openwhisk_double::Options {
        fault: Some(std::sync::Arc::new(move |m, path, _| {
            let list = m.as_str() == "GET" && path.ends_with("/packages");
            if !list || count.fetch_add(1, Ordering::SeqCst) >= times {
                return None;
            }
            let headers = vec![("Retry-After".to_string(), retry_after.to_string())];
            Some((status, headers, body.to_string()))
        })),
        ..Default::default()
    };
    let ow = crate::openwhisk_double::OpenWhiskDouble::start(0, options)
        .await
        .expect("the double starts");
    (ow, served)
}

/// Bad answers from OpenWhisk: a package list answered 503 twice is read on the third try; one answered 200
/// with a truncated body is an error (it used to be read as an empty answer), not tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_from_openwhisk_are_retried_or_reported() {
    let plan = |ow: &crate::openwhisk_double::OpenWhiskDouble| {
        let w = Workdir::new("reliability", "ow-fault", ow.env());
        w.write(
            "m.toml",
            "[tenant]\nid = \"acme\"\n\n[[functions.package]]\nname = \"p\"\n",
        );
        let o = bounded(w.command(&["plan", &w.manifest(), "--detailed-exitcode"]));
        let _ = std::fs::remove_dir_all(&w.dir);
        o
    };
    let (busy, served) = faulty_openwhisk(2, (503, "0", "{\"error\":\"busy\"}")).await;
    let o = plan(&busy);
    assert_eq!(o.status.code(), Some(2), "the plan goes on: {}", both(&o));
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let (truncated, served) = faulty_openwhisk(usize::MAX, (200, "", "[{\"name\": \"p\", ")).await;
    let o = plan(&truncated);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("not JSON"), "{}", both(&o));
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    // An object where a list belongs is an error, never an empty list (which would plan to create what exists).
    let (object, _) = faulty_openwhisk(usize::MAX, (200, "", "{\"packages\": []}")).await;
    let o = plan(&object);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("not a list"), "{}", both(&o));
    // Wrong types inside the list: an error or a plan, never a panic.
    for body in ["[1, 2]", "[{\"name\": 5, \"namespace\": []}]"] {
        let (wrong, _) = faulty_openwhisk(usize::MAX, (200, "", body)).await;
        let o = plan(&wrong);
        assert!(
            matches!(o.status.code(), Some(1 | 2)) && !both(&o).contains("panicked"),
            "{body}: {}",
            both(&o)
        );
    }
}

/// A TCP port in front of the suite's S3 server that answers `answer` (a raw HTTP answer, connection
/// closed after it) to the first `times` requests of `method`; every other request passes through (the
/// signed headers stay as the client wrote them; `Connection: close` is added, which no signature covers,
/// so that each request comes on a connection of its own and is seen here). Counts the requests of
/// `method`.
struct S3Faults {
    port: u16,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl S3Faults {
    async fn start(upstream: &str, method: &'static str, times: usize, answer: String) -> S3Faults {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::AsyncWriteExt;
        let (upstream, listener, port) = crate::s3_recorded::listen_before(upstream).await;
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let (count, answer) = (seen.clone(), std::sync::Arc::new(answer));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (count, answer) = (count.clone(), answer.clone());
                tokio::spawn(async move {
                    // The first request's head (a GET or PUT of falconer's: a few hundred bytes).
                    let Some(head) = crate::s3_recorded::read_head(&mut inbound).await else {
                        return;
                    };
                    if head.starts_with(format!("{method} ").as_bytes())
                        && count.fetch_add(1, Ordering::SeqCst) < times
                    {
                        let _ = inbound.write_all(answer.as_bytes()).await;
                        let _ = inbound.shutdown().await;
                        return;
                    }
                    let end = head
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .unwrap_or(head.len())
                        + 4;
                    crate::s3_recorded::pass(inbound, head, end, upstream).await;
                });
            }
        });
        S3Faults { port, seen, accept }
    }

    fn seen(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3Faults {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A raw HTTP answer with an S3 error body (`Retry-After` when given).
fn s3_answer(status: &str, code: &str, retry_after: Option<&str>) -> String {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected</Message></Error>"
    );
    let retry = retry_after
        .map(|s| format!("Retry-After: {s}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Bad answers from S3 (a port in front of the suite's SeaweedFS): a read answered 503 SlowDown (with
/// `Retry-After`) or cut short (a body shorter than its length) is tried again and the plan goes on; one
/// that keeps answering 503 fails after four tries naming S3; a 500 and malformed XML fail at once with a
/// clear error; a write answered 503 is not repeated, and what S3 refused is not recorded as applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_from_s3_are_retried_or_reported() {
    let direct = crate::support::s3_endpoint().await;
    let env = |endpoint: &str| {
        [
            ("FALCONER_S3_ENDPOINT", endpoint),
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", crate::support::S3_SECRET),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    };
    let manifest = "[tenant]\nid = \"s3fault\"\n[tenant.naming]\nbucket_prefix = \"s3fault-\"\n\n[[storage.bucket]]\nname = \"s3fault-kept\"\nversioning = \"enabled\"\n";
    // The bucket exists (applied straight to S3); the one the last part creates does not.
    let client = crate::support::s3_client(&direct, crate::support::S3_SECRET);
    let gone = falconer::domains::storage::client::Call::new(
        reqwest::Method::DELETE,
        Some("s3fault-new"),
        "",
    );
    let _ = client.send(gone).await;
    let w = Workdir::new("reliability", "s3-fault", env(&direct));
    w.write("m.toml", manifest);
    code(&w.apply(&[]), 0);

    let run = |faults: &S3Faults, args: &[&str], body: &str| {
        let mut w = Workdir::new("reliability", "s3-fault", env(&faults.endpoint()));
        w.set_env("FALCONER_REQUEST_TIMEOUT", "5");
        w.write("m.toml", body);
        let m = w.manifest();
        let mut all = args.to_vec();
        all.insert(1, &m);
        let o = bounded(w.command(&all));
        let managed = text(&w.run(&["state", "list", "s3fault"]).stdout);
        let _ = std::fs::remove_dir_all(&w.dir);
        (o, managed)
    };
    let plan = ["plan", "--detailed-exitcode"];

    let slow = s3_answer("503 Service Unavailable", "SlowDown", Some("0"));
    let busy = S3Faults::start(&direct, "GET", 2, slow.clone()).await;
    let (o, _) = run(&busy, &plan, manifest);
    assert_eq!(
        o.status.code(),
        Some(0),
        "in sync after two faults: {}",
        both(&o)
    );
    assert!(busy.seen() >= 3, "two faults, then the real answer");

    let cut = "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 400\r\n\r\n<?xml version=\"1.0\"?><ListAllMyBucketsResult>".to_string();
    let short = S3Faults::start(&direct, "GET", 2, cut).await;
    let (o, _) = run(&short, &plan, manifest);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a cut answer is read again: {}",
        both(&o)
    );
    assert!(short.seen() >= 3);

    let always = S3Faults::start(&direct, "GET", usize::MAX, slow.clone()).await;
    let (o, _) = run(&always, &plan, manifest);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        both(&o).contains("S3") && both(&o).contains("503"),
        "{}",
        both(&o)
    );
    assert_eq!(always.seen(), 4, "one try and three more");

    let boom = s3_answer("500 Internal Server Error", "InternalError", None);
    let malformed = "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 45\r\nConnection: close\r\n\r\n<ListAllMyBucketsResult><Buckets><Bucket><Nam".to_string();
    for (answer, says) in [(boom, "InternalError"), (malformed, "MalformedXML")] {
        let broken = S3Faults::start(&direct, "GET", usize::MAX, answer).await;
        let (o, _) = run(&broken, &plan, manifest);
        assert_eq!(o.status.code(), Some(1), "{}", both(&o));
        assert!(both(&o).contains(says), "{}", both(&o));
        assert!(!both(&o).contains("panicked"), "{}", both(&o));
        assert_eq!(broken.seen(), 1, "not tried again: {}", both(&o));
    }

    // A new bucket whose creation is answered 503: not repeated, not recorded.
    let more = format!("{manifest}\n[[storage.bucket]]\nname = \"s3fault-new\"\n");
    let refused = S3Faults::start(&direct, "PUT", usize::MAX, slow).await;
    let (o, managed) = run(&refused, &["apply", "--auto-approve"], &more);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("503"), "{}", both(&o));
    assert_eq!(refused.seen(), 1, "a write is not repeated: {}", both(&o));
    assert!(!managed.contains("s3fault-new"), "{managed}");
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// A TCP port in front of `upstream` (127.0.0.1) that cuts a connection (both ways, at once) the first
/// `times` times the client sends `marker` on it (a query's text, a command's name: both travel as plain
/// bytes); every other byte passes through. Counts the cuts.
async fn cutter(
    upstream: u16,
    marker: &'static str,
    times: usize,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("the address").port();
    let cuts = std::sync::Arc::new(AtomicUsize::new(0));
    let count = cuts.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(out) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let (mut from_client, mut to_client) = inbound.into_split();
                let (mut from_server, mut to_server) = out.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                let mut buf = vec![0u8; 65536];
                let mut tail: Vec<u8> = Vec::new();
                loop {
                    let n = match from_client.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // The marker may straddle two reads: look at the last bytes too.
                    tail.extend_from_slice(&buf[..n]);
                    let seen = tail.windows(marker.len()).any(|w| w == marker.as_bytes());
                    tail.drain(..tail.len().saturating_sub(marker.len()));
                    if seen && count.fetch_add(1, Ordering::SeqCst) < times {
                        break;
                    }
                    if to_server.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                back.abort();
            });
        }
    });
    (port, cuts)
}

/// A read cut off mid-way (the connection lost) is read again: PostgreSQL's catalog (the connection cut
/// when the inspection opens its snapshot) and MongoDB's collections (cut at `listCollections`). Once: the
/// plan finds the tenant in sync. Every time: four tries, then the plan fails naming the system.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_cut_off_is_read_again() {
    use std::sync::atomic::Ordering;
    let db = crate::support::TestDb::new("cut_read").await;
    db.exec("create schema cut; create table cut.t (id bigint)")
        .await;
    let pg_port: u16 = db
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the port");
    let mongo = crate::support::MongoServer::start().await;
    let mongo_port: u16 = mongo
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.trim_end_matches('/').split(['/', '?']).next())
        .and_then(|p| p.parse().ok())
        .expect("the port");
    let cases = [
        (
            "PostgreSQL",
            pg_port,
            "pg_export_snapshot",
            "[tenant]\nid = \"cut\"\n\n[[postgres.schema]]\nname = \"cut\"\n\n[[postgres.table]]\nname = \"t\"\nschema = \"cut\"\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n",
        ),
        (
            "MongoDB",
            mongo_port,
            "listCollections",
            "[tenant]\nid = \"cut\"\n\n[[mongo.database]]\nname = \"cut\"\n\n[[mongo.collection]]\nname = \"events\"\ndatabase = \"cut\"\n",
        ),
    ];
    for (system, upstream, marker, manifest) in cases {
        let url = |port: u16| match system {
            // In plain text, so that the cutter sees the query it cuts (the server may offer TLS).
            "PostgreSQL" => (
                "FALCONER_POSTGRES_URL".to_string(),
                format!(
                    "{}{}sslmode=disable",
                    db.url
                        .replace(&format!(":{pg_port}/"), &format!(":{port}/")),
                    if db.url.contains('?') { "&" } else { "?" }
                ),
            ),
            _ => (
                "FALCONER_MONGO_URL".to_string(),
                format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            ),
        };
        let run = |port: u16, args: &[&str]| {
            let w = Workdir::new("reliability", "cut", vec![url(port)]);
            w.write("m.toml", manifest);
            let m = w.manifest();
            let mut all = vec![args[0], m.as_str()];
            all.extend(&args[1..]);
            let o = bounded(w.command(&all));
            let _ = std::fs::remove_dir_all(&w.dir);
            o
        };
        // The tenant exists (applied straight).
        code(&run(upstream, &["apply", "--auto-approve"]), 0);
        let (once, cuts) = cutter(upstream, marker, 1).await;
        let o = run(once, &["plan", "--detailed-exitcode"]);
        assert_eq!(o.status.code(), Some(0), "{system}: in sync: {}", both(&o));
        // MongoDB's inventory lists the collections once more after the read (PostgreSQL's is its own query).
        let passes = if system == "MongoDB" { 3 } else { 2 };
        assert_eq!(
            cuts.load(Ordering::SeqCst),
            passes,
            "{system}: cut once, then passed"
        );
        let (always, cuts) = cutter(upstream, marker, usize::MAX).await;
        let o = run(always, &["plan"]);
        assert_eq!(o.status.code(), Some(1), "{system}: {}", both(&o));
        assert!(both(&o).contains(system), "{system} is named: {}", both(&o));
        assert_eq!(
            cuts.load(Ordering::SeqCst),
            4,
            "{system}: one try and three more"
        );
    }
    drop(mongo);
    db.drop().await;
}

/// A Kafka read whose connection is lost (the protocol double closes it instead of answering the tenant's
/// DescribeConfigs, or its DescribeAcls) is sent again (librdkafka does not send an admin request again by
/// itself), and the plan finds the tenant in sync; lost every time: four tries, then the plan fails naming
/// Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_read_cut_off_is_sent_again() {
    let kafka = crate::kafka_double::KafkaDouble::start().await;
    let env = vec![(
        "FALCONER_KAFKA_BOOTSTRAP".to_string(),
        kafka.bootstrap.clone(),
    )];
    let mut w = Workdir::new("reliability", "cut-kafka", env);
    w.set_env("FALCONER_REQUEST_TIMEOUT", "5");
    w.write(
        "m.toml",
        "[tenant]\nid = \"cutk\"\n\n[[kafka.topic]]\nname = \"cutk.orders\"\npartitions = 1\nreplication_factor = 1\n",
    );
    code(&w.apply(&[]), 0);
    let cut = |times: usize| {
        let mut s = kafka.state.lock().expect("state");
        s.cut.insert("DescribeConfigs".into(), times);
    };
    let before = kafka.count("DescribeConfigs");
    cut(1);
    let o = bounded(w.command(&["plan", &w.manifest(), "--detailed-exitcode"]));
    assert_eq!(o.status.code(), Some(0), "in sync: {}", both(&o));
    assert_eq!(
        kafka.count("DescribeConfigs") - before,
        2,
        "lost once, then answered"
    );
    // DescribeAcls too (the double has no authorizer: it answers SECURITY_DISABLED, read as "no ACLs").
    let acls = kafka.count("DescribeAcls");
    kafka
        .state
        .lock()
        .expect("state")
        .cut
        .insert("DescribeAcls".into(), 1);
    let o = bounded(w.command(&["plan", &w.manifest(), "--detailed-exitcode"]));
    assert_eq!(o.status.code(), Some(0), "in sync: {}", both(&o));
    assert_eq!(
        kafka.count("DescribeAcls") - acls,
        2,
        "lost once, then answered"
    );
    cut(usize::MAX);
    let before = kafka.count("DescribeConfigs");
    let o = bounded(w.command(&["plan", &w.manifest()]));
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("Kafka"), "names Kafka: {}", both(&o));
    let sent = kafka.count("DescribeConfigs") - before;
    assert_eq!(sent, 4, "one try and three more");
    let _ = std::fs::remove_dir_all(&w.dir);
}
