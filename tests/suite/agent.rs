//! `falconer serve` (docs/agent.md) against the suite's PostgreSQL: an agent over a fleet of three tenants
//! (one applied, one never applied, one whose manifest is broken) checks each, and its API, metrics
//! (checked by promtool) and health say so; a tenant taken out of the fleet leaves both at the next cycle;
//! no secret shows; SIGTERM stops it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{TestDb, Workdir, code, text};

/// A tenant of the fleet: a schema, a table and a login role whose password comes from the environment.
pub fn tenant(id: &str, role: &str) -> String {
    let schema = id.replace('-', "_");
    format!(
        r#"format_version = "1"

[tenant]
id = "{id}"

[[postgres.role]]
name = "{role}"
login = true
password = {{ env = "AGENT_ROLE_PASSWORD" }}

[[postgres.schema]]
name = "{schema}"

[[postgres.table]]
name = "orders"
schema = "{schema}"
primary_key = {{ columns = ["id"] }}

[[postgres.table.column]]
name = "id"
type = "bigint"
identity = "always"

[[postgres.table.column]]
name = "note"
type = "text"
"#
    )
}

/// The password the roles get: it must show nowhere.
pub const PASSWORD: &str = "agent-canary-5Vq9xT2";

/// A running agent: its process, its address and what it said on standard error.
pub struct Agent {
    pub child: Child,
    pub base: String,
    pub lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Agent {
    fn start(w: &Workdir, fleet: &str) -> Agent {
        let args = ["serve", fleet, "--drift-every", "1s", "--no-schedules"];
        Agent::spawn(w.command(&args))
    }

    /// Starts `falconer serve` (its command as given, on a port the system chooses) and waits, bounded,
    /// until it says where it listens.
    pub fn spawn(mut command: std::process::Command) -> Agent {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the agent starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let said = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("falconer serve: listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                said.lock().expect("the lines").push(line);
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the agent says where it listens");
        Agent { child, base, lines }
    }

    /// What the agent said so far on standard error.
    pub fn said(&self) -> Vec<String> {
        self.lines.lock().expect("the lines").clone()
    }

    /// Stops the agent with SIGTERM and waits (bounded) for its exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .output();
        assert!(killed.is_ok_and(|o| o.status.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().expect("waits") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not stop on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("the agent answers");
        (r.status().as_u16(), r.text().await.expect("a body"))
    }

    pub async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Waits (bounded) until `done` holds of the tenants the API lists.
    async fn until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let page = self.json("/api/v1/tenants").await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if done(&items) {
                return items;
            }
            assert!(Instant::now() < deadline, "{what}: never came: {page}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The number of drift cycles this agent has finished, from its metrics.
    async fn cycles(&self) -> u64 {
        let (_, m) = self.get("/metrics").await;
        m.lines()
            .filter(|l| l.starts_with("falconer_job_duration_seconds_count{job=\"drift\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The drift status of a tenant (by id, or for a tenant whose manifest could not be read, by the end of
/// its path).
fn drift_of<'a>(items: &'a [Value], id: &str) -> Option<&'a str> {
    items
        .iter()
        .find(|t| {
            t["tenant"]
                .as_str()
                .is_some_and(|t| t == id || t.ends_with(&format!("/{id}")))
        })
        .and_then(|t| t["drift"].as_str())
}

/// The value of a series (name and labels as written) in the metrics' text.
pub fn series(metrics: &str, head: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(head) && l[head.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn an_agent_checks_its_fleet_and_shows_it_in_its_api_and_metrics() {
    let db = TestDb::new("agent").await;
    let mut w = Workdir::new("agent", "fleet", vec![]);
    w.set_env("FALCONER_POSTGRES_URL", &db.url);
    w.set_env("AGENT_ROLE_PASSWORD", PASSWORD);
    let role = |n: &str| format!("agent_{}_{n}", std::process::id());
    let fleet = w.dir.join("fleet");
    for (id, r) in [("agent-in-sync", "a"), ("agent-drifted", "b")] {
        std::fs::create_dir_all(fleet.join(id)).expect("dir");
        std::fs::write(fleet.join(id).join("main.toml"), tenant(id, &role(r))).expect("writes");
    }
    std::fs::create_dir_all(fleet.join("agent-broken")).expect("dir");
    std::fs::write(
        fleet.join("agent-broken/main.toml"),
        "format_version = \"1\"\n[tenant]\nid = \"agent-broken\"\n[[postgres.schema]]\nnmae = \"x\"\n",
    )
    .expect("writes");
    let applied = fleet.join("agent-in-sync").display().to_string();
    code(&w.run(&["apply", &applied, "--auto-approve"]), 0);

    let agent = Agent::start(&w, &fleet.display().to_string());
    let items = agent
        .until("all three tenants checked", |items| {
            ["agent-in-sync", "agent-drifted", "agent-broken"]
                .iter()
                .all(|id| drift_of(items, id).is_some())
        })
        .await;
    assert_eq!(drift_of(&items, "agent-in-sync"), Some("in_sync"));
    // New at the first cycle, still drifted at the next ones.
    let drifted = drift_of(&items, "agent-drifted");
    assert!(
        matches!(drifted, Some("new_drift" | "still_drifted")),
        "{items:?}"
    );
    assert_eq!(drift_of(&items, "agent-broken"), Some("could_not_check"));
    let drifted = items.iter().find(|t| t["tenant"] == "agent-drifted");
    assert!(
        drifted.is_some_and(|t| t["changes"].as_u64() >= Some(3)),
        "{items:?}"
    );

    // Filters and pages.
    let only = agent.json("/api/v1/tenants?drift=drifted").await;
    assert_eq!(only["total"], 1, "{only}");
    assert_eq!(only["items"][0]["tenant"], "agent-drifted");
    let second = agent.json("/api/v1/tenants?per_page=1&page=2").await;
    assert_eq!(
        (
            second["total"].as_u64(),
            second["items"].as_array().map(Vec::len)
        ),
        (Some(3), Some(1))
    );
    assert_eq!(
        second["items"][0]["tenant"], "agent-drifted",
        "by tenant id"
    );
    let (status, body) = agent.get("/api/v1/tenants?drift=sideways").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("in_sync"), "the statuses are named: {body}");
    let (status, _) = agent.get("/api/v1/tenants?per_page=100000").await;
    assert_eq!(status, 400);
    crate::support::conforms("schemas/api-tenants.schema.json", &only);

    // Metrics: the tenants' series, checked by promtool.
    let (status, metrics) = agent.get("/metrics").await;
    assert_eq!(status, 200);
    let head = |tenant: &str| {
        format!("falconer_tenant_domain_drifted{{tenant=\"{tenant}\",domain=\"postgres\"}}")
    };
    assert_eq!(
        series(&metrics, &head("agent-in-sync")),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        series(&metrics, &head("agent-drifted")),
        Some(1.0),
        "{metrics}"
    );
    let broken = metrics.lines().find(|l| {
        l.starts_with("falconer_tenant_drift_check_ok{") && l.contains("/agent-broken\"")
    });
    assert!(broken.is_some_and(|l| l.ends_with(" 0")), "{metrics}");
    assert_eq!(series(&metrics, "falconer_state_store_up"), Some(1.0));
    promtool(&["check", "metrics"], &metrics);
    for (path, body) in [
        ("/metrics", &metrics),
        ("/api/v1/tenants", &agent.get("/api/v1/tenants").await.1),
    ] {
        assert!(!body.contains(PASSWORD), "{path} shows the password");
    }

    // Health, and requests for another host (DNS rebinding) refused.
    assert_eq!(agent.get("/healthz").await.0, 200);
    assert_eq!(agent.get("/readyz").await.0, 200);
    let port = agent
        .base
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let foreign = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/tenants"))
        .header("Host", "attacker.example")
        .send()
        .await
        .expect("answers");
    assert_eq!(foreign.status().as_u16(), 421);

    // A tenant taken out of the fleet leaves the API and the metrics once a whole cycle ran without it.
    std::fs::remove_dir_all(fleet.join("agent-broken")).expect("removes");
    let seen = agent.cycles().await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while agent.cycles().await < seen + 2 {
        assert!(Instant::now() < deadline, "no drift cycle ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = agent.json("/api/v1/tenants").await;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(drift_of(&items, "agent-broken"), None, "{page}");
    let (_, metrics) = agent.get("/metrics").await;
    assert!(!metrics.contains("agent-broken"), "{metrics}");

    // SIGTERM: the agent stops, exit 0.
    assert_eq!(agent.terminate().await.code(), Some(0));
    for r in ["a", "b"] {
        db.exec(&format!("drop role if exists \"{}\"", role(r)))
            .await;
    }
    db.drop().await;
}

/// promtool finds nothing wrong (`check metrics` with the text on its standard input).
fn promtool(args: &[&str], metrics: &str) {
    use std::io::Write;
    let bin = std::env::var("FALCONER_TEST_PROMTOOL").unwrap_or_else(|_| {
        panic!("FALCONER_TEST_PROMTOOL is not set: run scripts/test (it installs promtool)")
    });
    let mut child = std::process::Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("writes");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool: {}{}\n{metrics}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn serve_refuses_an_address_that_is_not_loopback() {
    let w = Workdir::new("agent", "public", vec![]);
    let o = w.run(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--no-schedules",
        "examples/fleet",
    ]);
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("not a loopback address"),
        "{}",
        text(&o.stderr)
    );
    let o = w.run(&["serve", "--no-schedules"]);
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("nothing to do"),
        "{}",
        text(&o.stderr)
    );
    let o = w.run(&["serve", "x", "--drift-every", "15d"]);
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("use s, m, h"),
        "{}",
        text(&o.stderr)
    );
}

/// The example alerting rules are rules Prometheus takes, over series the agent has.
#[test]
fn the_example_alerting_rules_check() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/prometheus/falconer-rules.yml");
    promtool(&["check", "rules", &rules.display().to_string()], "");
    let text = std::fs::read_to_string(&rules).expect("the rules");
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent.md"),
    )
    .expect("the doc");
    for name in text
        .split("falconer_")
        .skip(1)
        .filter_map(|s| s.split([' ', ')']).next())
    {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/agent.md does not list falconer_{name}"
        );
    }
}

/// What the test's webhook receiver got: each request's path, event id and type headers, signature and
/// body, and the status it answered.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    id: String,
    kind: String,
    signature: Option<String>,
    body: String,
    answered: u16,
}

/// A webhook receiver on a port of its own: it answers 500 to the first request of each path, 200 after.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let got: std::sync::Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
    let log = got.clone();
    let handler = move |uri: Uri, headers: HeaderMap, body: String| {
        let log = log.clone();
        async move {
            let header = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from)
            };
            let mut log = log.lock().expect("the log");
            let first = !log.iter().any(|r| r.path == uri.path());
            let answered = if first { 500 } else { 200 };
            log.push(Received {
                path: uri.path().to_string(),
                id: header("x-falconer-event-id").unwrap_or_default(),
                kind: header("x-falconer-event-type").unwrap_or_default(),
                signature: header("x-falconer-signature"),
                body,
                answered,
            });
            StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
        }
    };
    let app = axum::Router::new().fallback(axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

/// Checks a signature header (`t=UNIX,v1=HEX`) over a body with the secret, within five minutes.
fn signed(signature: &str, body: &str, secret: &str) -> bool {
    use hmac::{KeyInit, Mac};
    let mut t = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = Some(x.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = falconer::util::now();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(format!("{t}.{body}").as_bytes());
    let want = falconer::util::hex(&mac.finalize().into_bytes());
    (now - t).abs() <= 300 && want == v1
}

#[tokio::test]
async fn the_agents_webhooks_are_signed_retried_and_delivered_once() {
    let db = TestDb::new("agent_hooks").await;
    let (base, got) = receiver().await;
    let secret = "hook-signing-key-8Hn2";
    let mut w = Workdir::new("agent", "hooks", vec![]);
    w.set_env("FALCONER_POSTGRES_URL", &db.url);
    w.set_env("AGENT_ROLE_PASSWORD", PASSWORD);
    w.set_env("HOOK_URL", &format!("{base}/json"));
    w.set_env("HOOK_SECRET", secret);
    w.set_env(
        "SLACK_URL",
        &format!("{base}/slack/T000/B000/XXXXSECRETTOKEN"),
    );
    let profile = w.dir.join("profile.toml");
    std::fs::write(
        &profile,
        "[[serve.webhook]]\nurl = { env = \"HOOK_URL\" }\nsecret = { env = \"HOOK_SECRET\" }\n\n\
         [[serve.webhook]]\nurl = { env = \"SLACK_URL\" }\nformat = \"slack\"\n",
    )
    .expect("the profile");
    let role = format!("agent_{}_hooks", std::process::id());
    let fleet = w.dir.join("fleet");
    std::fs::create_dir_all(fleet.join("agent-hooks")).expect("dir");
    std::fs::write(
        fleet.join("agent-hooks/main.toml"),
        tenant("agent-hooks", &role),
    )
    .expect("writes");
    let mut c = w.command(&[
        "serve",
        &fleet.display().to_string(),
        "--drift-every",
        "1s",
        "--no-schedules",
        "--profile",
        &profile.display().to_string(),
    ]);
    c.env_remove("FALCONER_PROFILE");
    let agent = Agent::spawn(c);

    // The new drift: refused once by each receiver's path, then delivered, with the same id.
    let deadline = Instant::now() + Duration::from_secs(90);
    let delivered = |path: &str| {
        let log = got.lock().expect("the log");
        log.iter()
            .filter(|r| r.path.starts_with(path) && r.answered == 200)
            .count()
    };
    while delivered("/json") == 0 || delivered("/slack") == 0 {
        assert!(
            Instant::now() < deadline,
            "not delivered: {:?}",
            got.lock().expect("the log")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = got.lock().expect("the log").clone();
    let json: Vec<&Received> = log.iter().filter(|r| r.path == "/json").collect();
    assert_eq!(json.len(), 2, "{json:?}");
    assert_eq!((json[0].answered, json[1].answered), (500, 200));
    assert_eq!(json[0].id, json[1].id, "a retry keeps the event's id");
    assert_eq!(json[1].kind, "drift.new");
    for r in &json {
        let sig = r.signature.as_deref().expect("signed");
        assert!(
            signed(sig, &r.body, secret),
            "{sig} does not sign {}",
            r.body
        );
    }
    let payload: Value = serde_json::from_str(&json[1].body).expect("JSON");
    crate::support::conforms("schemas/webhook-event.schema.json", &payload);
    assert_eq!(payload["tenant"], "agent-hooks");
    assert_eq!(payload["id"], json[1].id.as_str());
    assert!(payload["data"]["changes"].as_u64() >= Some(3), "{payload}");
    let slack: Vec<&Received> = log
        .iter()
        .filter(|r| r.path.starts_with("/slack"))
        .collect();
    let text: Value = serde_json::from_str(&slack[slack.len() - 1].body).expect("JSON");
    assert!(
        text["text"]
            .as_str()
            .is_some_and(|t| t.contains("agent-hooks") && t.contains("new drift")),
        "{text}"
    );
    assert!(
        slack.iter().all(|r| r.signature.is_none()),
        "Slack's payloads are not signed"
    );
    for r in &log {
        assert!(
            !r.body.contains(PASSWORD),
            "a payload shows the password: {}",
            r.body
        );
    }

    // Rounds go on; nothing more is sent (the drift is still the same), and the outbox says delivered.
    let (_, metrics) = agent.get("/metrics").await;
    let rounds = |m: &str| {
        m.lines()
            .filter(|l| l.starts_with("falconer_job_duration_seconds_count{job=\"webhooks\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let seen = rounds(&metrics);
    let deadline = Instant::now() + Duration::from_secs(90);
    while rounds(&agent.get("/metrics").await.1) < seen + 2 {
        assert!(Instant::now() < deadline, "no delivery round ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        got.lock().expect("the log").len(),
        log.len(),
        "sent once each"
    );
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("the state store");
    let deliveries = state.outbox().deliveries(&json[1].id).await.expect("reads");
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    for d in &deliveries {
        assert!(d.delivered_at.is_some() && d.attempts == 2, "{d:?}");
        assert!(!d.last_error.contains("XXXXSECRETTOKEN"), "{d:?}");
    }
    assert_eq!(agent.terminate().await.code(), Some(0));
    db.exec(&format!("drop role if exists \"{role}\"")).await;
    db.drop().await;
}

/// With the profile's `[serve] token`, the API and `/metrics` ask for it (the probes do not), a request for
/// another host is answered on the token's strength; beyond loopback the agent needs a token and
/// `--insecure-http` (it serves no TLS yet), and says so before it listens.
#[tokio::test]
async fn an_agent_with_a_token_asks_for_it() {
    let db = TestDb::new("agent_token").await;
    let token = "agent-token-4f9a1c7e2b8d6053";
    let mut w = Workdir::new("agent", "token", vec![]);
    w.set_env("FALCONER_POSTGRES_URL", &db.url);
    w.set_env("AGENT_TOKEN", token);
    let profile = w.dir.join("profile.toml");
    std::fs::write(&profile, "[serve]\ntoken = { env = \"AGENT_TOKEN\" }\n").expect("the profile");
    let profile = profile.display().to_string();
    let fleet = w.dir.join("manifest").display().to_string();
    let mut c = w.command(&["serve", &fleet, "--no-schedules", "--profile", &profile]);
    c.env_remove("FALCONER_PROFILE");
    let agent = Agent::spawn(c);
    let client = reqwest::Client::new();
    let ask = |path: &str, bearer: Option<&str>, host: Option<&str>| {
        let mut r = client.get(format!("{}{path}", agent.base));
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        if let Some(h) = host {
            r = r.header("Host", h);
        }
        async move { r.send().await.expect("answers").status().as_u16() }
    };
    assert_eq!(ask("/api/v1/tenants", None, None).await, 401);
    assert_eq!(
        ask("/api/v1/tenants", Some("agent-token-wrong-0000000"), None).await,
        401
    );
    assert_eq!(ask("/metrics", None, None).await, 401);
    assert_eq!(ask("/api/v1/tenants", Some(token), None).await, 200);
    assert_eq!(ask("/metrics", Some(token), None).await, 200);
    assert_eq!(
        ask("/api/v1/tenants", Some(token), Some("agent.internal:9464")).await,
        200
    );
    assert_eq!(ask("/healthz", None, None).await, 200);
    assert_eq!(ask("/readyz", None, None).await, 200);
    assert_eq!(agent.terminate().await.code(), Some(0));

    // Beyond loopback: a token and --insecure-http, each refused without (before anything listens).
    let public = ["serve", &fleet, "--no-schedules", "--listen", "0.0.0.0:0"];
    let o = w.run(&public);
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("only with a token"),
        "{}",
        text(&o.stderr)
    );
    let o = w.run(&[&public[..], &["--profile", &profile]].concat());
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("--insecure-http"),
        "{}",
        text(&o.stderr)
    );
    // A token written in the profile's text, or a short one, is refused.
    std::fs::write(
        w.dir.join("plain.toml"),
        "[serve]\ntoken = \"agent-token-in-the-file-1234\"\n",
    )
    .expect("writes");
    let o = w.run(&[
        "serve",
        &fleet,
        "--profile",
        &w.dir.join("plain.toml").display().to_string(),
    ]);
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("plain text"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        !text(&o.stderr).contains("agent-token-in-the-file"),
        "{}",
        text(&o.stderr)
    );
    db.drop().await;
}

/// The `args:` lists of a Kubernetes manifest's containers, each as falconer's words.
fn container_args(yaml: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() != "args:" {
            continue;
        }
        let mut words = Vec::new();
        while let Some(item) = lines.peek().and_then(|l| l.trim().strip_prefix("- ")) {
            words.push(item.trim_matches('"').to_string());
            lines.next();
        }
        out.push(words);
    }
    out
}

/// The Kubernetes examples' command lines are ones falconer takes: the agent's, the Indexed Job's apply
/// with `--shard auto` (and the Job sets the count it reads), the agent's listener as docs/agent.md asks
/// (beyond loopback: a token, and TLS from the mounted certificate or --insecure-http).
#[test]
fn the_kubernetes_examples_command_lines_parse() {
    use clap::Parser;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect(f);
    let mut verbs = Vec::new();
    for file in ["agent.yaml", "fleet-apply-job.yaml"] {
        let text = read(file);
        let all = container_args(&text);
        assert!(!all.is_empty(), "{file} has no args");
        for words in all {
            let argv = std::iter::once("falconer".to_string()).chain(words.iter().cloned());
            if let Err(e) = falconer::cli::Cli::try_parse_from(argv) {
                panic!("{file}: falconer {}\n{}", words.join(" "), e.render());
            }
            if words[0] == "serve" && !words.contains(&"127.0.0.1:9464".to_string()) {
                // Beyond loopback: plain HTTP asked for, or TLS from the certificate the pod mounts.
                let profile = read("profile-secret.yaml");
                let tls = profile.contains("[serve.tls]")
                    && profile.contains("cert_file = \"/etc/falconer-tls/tls.crt\"")
                    && text.contains("mountPath: /etc/falconer-tls");
                assert!(
                    tls || words.contains(&"--insecure-http".to_string()),
                    "{file}: {words:?}"
                );
                assert!(
                    read("profile-secret.yaml").contains("token = { env ="),
                    "the agent's token"
                );
            }
            if words.contains(&"auto".to_string()) {
                assert!(
                    text.contains("JOB_COMPLETIONS") && text.contains("completionMode: Indexed"),
                    "{file}"
                );
            }
            verbs.push(words[0].clone());
        }
    }
    assert_eq!(verbs, ["serve", "apply"]);
    assert!(read("agent.yaml").contains("readOnlyRootFilesystem: true"));
    assert!(read("Containerfile").contains("USER 10001"));
}

/// The metrics of a fleet of 2,000 tenants (each checked in two domains, every other one drifted in one,
/// each backed up: `sample_fleet`): a series per tenant and domain, per tenant, one per status; promtool takes them.
#[tokio::test]
async fn the_metrics_of_two_thousand_tenants() {
    let w = Workdir::new("agent", "metrics", vec![]);
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("the state store");
    falconer::agent::metrics::sample_fleet(&state, 2000)
        .await
        .expect("the fleet");
    let text = falconer::agent::metrics::Metrics::default()
        .render(Some(&state))
        .await;
    let count = |head: &str| text.lines().filter(|l| l.starts_with(head)).count();
    assert_eq!(count("falconer_tenant_domain_drifted{"), 4000);
    assert_eq!(count("falconer_tenant_domain_check_ok{"), 4000);
    assert_eq!(count("falconer_tenant_drift_check_ok{"), 2000);
    assert_eq!(
        count("falconer_tenant_last_drift_check_timestamp_seconds{"),
        2000
    );
    assert_eq!(
        count("falconer_tenant_last_backup_complete_timestamp_seconds{"),
        2000
    );
    assert_eq!(count("falconer_tenants{"), 2);
    let drifted = text
        .lines()
        .filter(|l| l.starts_with("falconer_tenant_domain_drifted{") && l.ends_with(" 1"))
        .count();
    assert_eq!(drifted, 1000, "one drifted domain in every other tenant");
    promtool(&["check", "metrics"], &text);
}

/// With SQLite, one agent per state store: a second is refused naming the first, and starts once the first
/// has stopped.
#[tokio::test]
async fn a_second_agent_on_a_sqlite_state_store_is_refused() {
    let w = Workdir::new("agent", "sole", vec![]);
    let first = Agent::spawn(w.command(&["serve"]));
    let o = crate::support::bounded({
        let mut c = w.command(&["serve", "--listen", "127.0.0.1:0"]);
        c.stdin(Stdio::null());
        c
    });
    code(&o, 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("another agent") && err.contains("PostgreSQL"),
        "{err}"
    );
    assert_eq!(first.terminate().await.code(), Some(0));
    let second = Agent::spawn(w.command(&["serve"]));
    assert_eq!(second.get("/healthz").await.0, 200);
    assert_eq!(second.terminate().await.code(), Some(0));
}

/// An agent prunes the outbox of events older than 30 days (at its start, then hourly), whether or not
/// it has webhooks: events that no webhook takes do not pile up.
#[tokio::test]
async fn an_agent_prunes_old_events_from_the_outbox() {
    let w = Workdir::new("agent", "prune", vec![]);
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("the state store");
    let now = falconer::util::now();
    for (id, age_days) in [("old", 31), ("recent", 1)] {
        let event = falconer::state::OutboxEvent {
            id: id.into(),
            kind: "drift.new".into(),
            tenant: "acme".into(),
            at: now - age_days * 86_400,
            data: "{}".into(),
        };
        state.outbox().add(&event).await.expect("writes");
    }
    let fleet = w.manifest();
    let agent =
        Agent::spawn(w.command(&["serve", &fleet, "--no-schedules", "--drift-every", "24h"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ids: Vec<String> = state
            .outbox()
            .events(0)
            .await
            .expect("reads")
            .into_iter()
            .map(|e| e.id)
            .collect();
        if ids == ["recent"] {
            break;
        }
        assert!(Instant::now() < deadline, "the old event stays: {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(agent.terminate().await.code(), Some(0));
}
