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
fn tenant(id: &str, role: &str) -> String {
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
const PASSWORD: &str = "agent-canary-5Vq9xT2";

/// A running agent: its process and its address.
pub struct Agent {
    pub child: Child,
    pub base: String,
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
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("falconer serve: listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the agent says where it listens");
        Agent { child, base }
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

    async fn json(&self, path: &str) -> Value {
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
fn series(metrics: &str, head: &str) -> Option<f64> {
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
