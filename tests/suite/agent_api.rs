//! The agent's JSON API beyond the tenants' list (docs/agent.md, HTTP): one tenant, its drift history, the
//! schedules with their next slots, the locks, the history, the restores, the agents, each answer against
//! its schema in `schemas/`; and the two writes behind a token of their own: a backup and a drift check
//! now, each asked once per tenant while queued or running (`429`). The backup is held at a gate in front
//! of PostgreSQL, so that the second ask comes while the first runs (a counted event, not a time).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::{Agent, PASSWORD, tenant};
use crate::agents::{Gate, port_of};
use crate::support::{TestDb, Workdir, code, conforms};

const WRITE_TOKEN: &str = "agent-write-token-7d1e94c2a0";

/// GET `path`: its status and JSON.
async fn get(agent: &Agent, path: &str) -> (u16, Value) {
    let (status, body) = agent.get(path).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// POST `path` with the bearer token when given: its status.
async fn post(agent: &Agent, path: &str, token: Option<&str>) -> u16 {
    let mut r = reqwest::Client::new().post(format!("{}{path}", agent.base));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("answers").status().as_u16()
}

/// Waits (bounded) until `done` holds of a GET's JSON.
async fn until(agent: &Agent, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, v) = get(agent, path).await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: never came: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_lists_the_work_and_takes_two_writes() {
    let db = TestDb::new("agent_api").await;
    let pg = port_of(&db.url);
    let gate = Gate::new(pg).await;
    gate.open();
    let mut w = Workdir::new("agent", "api", vec![]);
    w.set_env("FALCONER_POSTGRES_URL", &gate.url(&db.url, pg));
    w.set_env("AGENT_ROLE_PASSWORD", PASSWORD);
    w.set_env("AGENT_WRITE_TOKEN", WRITE_TOKEN);
    let fleet = w.dir.join("fleet");
    for (id, role) in [("api-one", "a"), ("api-two", "b")] {
        std::fs::create_dir_all(fleet.join(id)).expect("dir");
        let role = format!("agent_api_{}_{role}", std::process::id());
        std::fs::write(fleet.join(id).join("main.toml"), tenant(id, &role)).expect("writes");
    }
    let one = fleet.join("api-one").display().to_string();
    code(&w.run(&["apply", &one, "--auto-approve"]), 0);
    let repo = format!("file:{}", w.dir.join("repo").display());
    let profile = w.dir.join("profile.toml");
    let text = format!(
        "[serve]\nwrite_token = {{ env = \"AGENT_WRITE_TOKEN\" }}\n\n[backup]\nrepo = \"{repo}\"\n"
    );
    std::fs::write(&profile, text).expect("the profile");
    let profile = profile.display().to_string();
    let words =
        format!("backup schedule add nightly --tenant api-one={one} --repo {repo} --keep-all");
    let mut add: Vec<&str> = words.split(' ').collect();
    add.extend(["--cron", "0 0 * * *"]);
    code(&w.run(&add), 0);
    // A restore running and one done, as a restore's process leaves them in the state store.
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("the state store");
    let progress = state.progress();
    let domains = ["postgres".to_string()];
    let restore = falconer::state::Work::Restore;
    progress
        .work_started(restore, "r-running", "api-two", &domains, "ops@laptop")
        .await
        .expect("writes");
    let done = falconer::state::HistoryRow {
        id: "r-done".into(),
        tenant: "api-two".into(),
        kind: "restore".into(),
        who: "ops".into(),
        host: "laptop".into(),
        started_at: 1_700_000_000,
        finished_at: 1_700_000_060,
        source: "backup b1".into(),
        digest: String::new(),
        map: "{}".into(),
        domains: "postgres".into(),
        outcome: "success".into(),
        reason: String::new(),
    };
    state
        .registry()
        .record_history(&done)
        .await
        .expect("writes");

    let fleet = fleet.display().to_string();
    let args = [
        "serve",
        &fleet,
        "--no-schedules",
        "--drift-every",
        "24h",
        "--profile",
        &profile,
    ];
    let agent = Agent::spawn(w.command(&args));
    until(&agent, "/api/v1/tenants", "both tenants checked", |v| {
        items(v).iter().filter(|t| t["drift"].is_string()).count() == 2
    })
    .await;

    let (status, t) = get(&agent, "/api/v1/tenants/api-one").await;
    assert_eq!(
        (status, t["tenant"].as_str()),
        (200, Some("api-one")),
        "{t}"
    );
    conforms("schemas/api-tenant.schema.json", &t);
    let (status, e) = get(&agent, "/api/v1/tenants/nobody").await;
    assert_eq!(status, 404, "{e}");
    assert!(
        e["error"].as_str().is_some_and(|e| e.contains("nobody")),
        "{e}"
    );

    let (status, h) = get(&agent, "/api/v1/tenants/api-two/drift").await;
    assert_eq!(status, 200, "{h}");
    conforms("schemas/api-drift-history.schema.json", &h);
    let changes = items(&h);
    let statuses: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["status"].as_str())
        .collect();
    assert_eq!(statuses, ["new_drift"], "{h}");

    let (_, s) = get(&agent, "/api/v1/schedules").await;
    conforms("schemas/api-schedules.schema.json", &s);
    let nightly = &items(&s)[0];
    assert_eq!(nightly["name"], "nightly");
    assert_eq!(nightly["tenants"], serde_json::json!(["api-one"]));
    assert!(
        nightly["next_slot"]
            .as_str()
            .is_some_and(|n| n.ends_with("T00:00:00Z")),
        "{s}"
    );
    assert_eq!(
        items(&get(&agent, "/api/v1/schedules?tenant=api-two").await.1).len(),
        0
    );

    let (_, l) = get(&agent, "/api/v1/locks").await;
    conforms("schemas/api-locks.schema.json", &l);
    assert!(
        items(&l).iter().any(|l| l["tenant"] == "(agent)"),
        "the agent's own lock: {l}"
    );

    let (_, hist) = get(&agent, "/api/v1/history?tenant=api-one").await;
    conforms("schemas/api-history.schema.json", &hist);
    let events = items(&hist);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["apply"], "{hist}");
    let (_, restores_only) = get(&agent, "/api/v1/history?kind=restore").await;
    assert_eq!(items(&restores_only).len(), 1);
    assert_eq!(get(&agent, "/api/v1/history?kind=backup").await.0, 400);
    assert_eq!(get(&agent, "/api/v1/locks?kind=apply").await.0, 400);
    assert_eq!(get(&agent, "/api/v1/locks?per_page=0").await.0, 400);

    let (_, r) = get(&agent, "/api/v1/restores").await;
    conforms("schemas/api-restores.schema.json", &r);
    let rs = items(&r);
    assert_eq!(rs.len(), 2, "{r}");
    assert_eq!(
        (rs[0]["id"].as_str(), rs[0]["running"].as_bool()),
        (Some("r-running"), Some(true))
    );
    assert_eq!(rs[0]["domains"]["postgres"], "pending");
    assert_eq!(
        (rs[1]["id"].as_str(), rs[1]["outcome"].as_str()),
        (Some("r-done"), Some("success"))
    );

    let (_, a) = get(&agent, "/api/v1/agents").await;
    conforms("schemas/api-agents.schema.json", &a);
    let mark = format!(":{}:", agent.child.id());
    assert!(
        items(&a)
            .iter()
            .any(|x| x["id"].as_str().is_some_and(|i| i.contains(&mark))),
        "{a}"
    );

    // The writes: their own token, never the lack of one.
    let backup = "/api/v1/tenants/api-one/backup";
    let drift = "/api/v1/tenants/api-one/drift";
    assert_eq!(post(&agent, backup, None).await, 401);
    assert_eq!(
        post(&agent, backup, Some("agent-write-token-wrong-000")).await,
        401
    );
    assert_eq!(
        post(&agent, "/api/v1/tenants/nobody/backup", Some(WRITE_TOKEN)).await,
        404
    );
    // The backup is held at the gate: asked again meanwhile, it is asked once.
    gate.close();
    assert_eq!(post(&agent, backup, Some(WRITE_TOKEN)).await, 202);
    assert_eq!(post(&agent, backup, Some(WRITE_TOKEN)).await, 429);
    assert_eq!(
        post(&agent, drift, Some(WRITE_TOKEN)).await,
        202,
        "another kind is queued"
    );
    assert_eq!(post(&agent, drift, Some(WRITE_TOKEN)).await, 429);
    gate.open();
    // Two drift jobs (the cycle, then the check asked for) and one backup, from the agent's metrics.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = agent.get("/metrics").await.1;
        let runs = |job: &str| -> f64 {
            let head = format!("falconer_job_duration_seconds_count{{job=\"{job}\"");
            m.lines()
                .filter(|l| l.starts_with(&head))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        if runs("drift") == 2.0 && runs("backups") == 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backup and the check ran: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = get(&agent, "/api/v1/tenants/api-one").await.1;
    assert_eq!(t["backup"]["status"], "ok", "{t}");
    // The backup as the repository's catalog holds it.
    let (status, list) = get(&agent, "/api/v1/tenants/api-one/backups").await;
    assert_eq!(status, 200, "{list}");
    conforms("schemas/api-backups.schema.json", &list);
    let taken = items(&list);
    assert_eq!(taken.len(), 1, "{list}");
    assert_eq!(taken[0]["id"], t["backup"]["id"]);
    assert_eq!(taken[0]["tags"]["asked"], "api");
    let domains = taken[0]["domains"].as_array().expect("domains");
    let pg = domains
        .iter()
        .find(|d| d["domain"] == "postgres")
        .expect("postgres");
    assert_eq!(pg["status"], "ok", "{list}");
    assert!(pg["resources"].as_u64().is_some_and(|n| n >= 2), "{list}");
    let (status, latest) = get(&agent, "/api/v1/tenants/api-one/backups/latest").await;
    assert_eq!(
        (status, &latest["id"]),
        (200, &t["backup"]["id"]),
        "{latest}"
    );
    conforms("schemas/api-backup.schema.json", &latest);
    assert_eq!(
        get(&agent, "/api/v1/tenants/api-one/backups/b-none")
            .await
            .0,
        404
    );
    assert_eq!(
        items(&get(&agent, "/api/v1/tenants/api-two/backups").await.1).len(),
        0
    );
    assert_eq!(
        get(&agent, "/api/v1/tenants/api-one/backups?tenant=x")
            .await
            .0,
        400
    );
    assert_eq!(t["drift"], "in_sync", "{t}");
    let backups = std::fs::read_dir(w.dir.join("repo/backups/api-one")).map(|d| d.count());
    assert_eq!(backups.ok(), Some(1), "one backup, asked twice");
    let deadline = Instant::now() + Duration::from_secs(30);
    while post(&agent, drift, Some(WRITE_TOKEN)).await != 202 {
        assert!(
            Instant::now() < deadline,
            "a drift check is asked again once the last ran"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(agent.terminate().await.code(), Some(0));

    // Without a write token the writes are off.
    let args = ["serve", &fleet, "--no-schedules", "--drift-every", "1h"];
    let off = Agent::spawn(w.command(&args));
    assert_eq!(post(&off, backup, Some(WRITE_TOKEN)).await, 403);
    drop(off);
    drop(gate);
    db.drop().await;
}
