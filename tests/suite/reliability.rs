//! Reliability: what falconer does when a live system misbehaves (docs/reliability.md). Here: a system that
//! accepts connections and never answers (a listener that never accepts: the kernel completes the handshake,
//! nothing reads or replies). Every system's command fails within its connect timeout, naming the system,
//! rather than hang; the timeouts come from the environment or the profile's `[timeouts]` table.

use std::net::TcpListener;

use crate::support::{Workdir, both};

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

/// Runs a command to its end, which must come (polled up to a generous bound: a hang fails the test).
fn bounded(mut c: std::process::Command) -> std::process::Output {
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
        fault: Some(std::sync::Arc::new(move |m, path| {
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
        fault: Some(std::sync::Arc::new(move |m, path| {
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
