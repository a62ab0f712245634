//! Several agents share a fleet's drift checks through a PostgreSQL state store (docs/agent.md, "Several
//! agents"): each tenant is claimed once per cycle, under a lease renewed while its check runs. Two agents
//! check every tenant exactly once between them; an agent killed while it holds claims (its checks held at
//! a gate that never opens) has them taken over by the other within two leases; an agent whose state store
//! dies while it holds claims says so (`/readyz` 503, `falconer_state_store_up 0`), writes nothing of the
//! checks it held, and completes the cycle once the store is back, without a restart. Each event the tests
//! act on is counted (claims held in the state store, lines the agents said), never a time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use falconer::state::{ClaimRow, State};
use tokio::io::AsyncWriteExt;

use crate::agent::{Agent, PASSWORD, series, tenant};
use crate::support::{TestDb, Workdir};

/// The lease the agents take (seconds): a killed agent's claims are free after it.
const LEASE: i64 = 3;

/// A fleet of `n` tenants (never applied: each drifts) in a work directory whose state store is `state`.
fn fleet(tag: &str, n: usize, state: &str, data: &str) -> (Workdir, String, Vec<String>) {
    let mut w = Workdir::new("agents", tag, vec![]);
    w.set_env("FALCONER_STATE", state);
    w.set_env("FALCONER_POSTGRES_URL", data);
    w.set_env("AGENT_ROLE_PASSWORD", PASSWORD);
    let dir = w.dir.join("fleet");
    let ids: Vec<String> = (0..n).map(|i| format!("{tag}-{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        std::fs::create_dir_all(dir.join(id)).expect("dir");
        let role = format!("{}_{}_{i}", tag.replace('-', "_"), std::process::id());
        std::fs::write(dir.join(id).join("main.toml"), tenant(id, &role)).expect("writes");
    }
    (w, dir.display().to_string(), ids)
}

/// `falconer serve` over the fleet: one cycle a day (the test sees one), the short lease, each tenant's
/// status said (`-vv`).
fn serve(w: &Workdir, fleet: &str, parallelism: &str) -> Agent {
    let args = [
        "serve",
        fleet,
        "--drift-every",
        "24h",
        "--no-schedules",
        "--lease",
        "3s",
        "--parallelism",
        parallelism,
        "-vv",
    ];
    Agent::spawn(w.command(&args))
}

/// How many times each tenant was checked and its result written, from what the agents said
/// (`debug: TENANT: STATUS`).
fn checks(agents: &[&Agent], ids: &[String]) -> BTreeMap<String, usize> {
    const STATUSES: [&str; 5] = [
        "in sync",
        "new drift",
        "still drifted",
        "resolved",
        "could not check",
    ];
    let mut n: BTreeMap<String, usize> = ids.iter().map(|i| (i.clone(), 0)).collect();
    for line in agents.iter().flat_map(|a| a.said()) {
        let Some((id, status)) = line
            .strip_prefix("debug: ")
            .and_then(|l| l.split_once(": "))
        else {
            continue;
        };
        if STATUSES.contains(&status)
            && let Some(c) = n.get_mut(id)
        {
            *c += 1;
        }
    }
    n
}

/// The drift claims in the state store, by tenant.
async fn claims(state: &State) -> BTreeMap<String, ClaimRow> {
    let rows = state.claims().of_job("drift").await.expect("the claims");
    rows.into_iter().map(|c| (c.item.clone(), c)).collect()
}

/// Waits (bounded) until `done` holds of the drift claims.
async fn until(state: &State, what: &str, done: impl Fn(&BTreeMap<String, ClaimRow>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(rows) = state.claims().of_job("drift").await {
            let by: BTreeMap<String, ClaimRow> =
                rows.into_iter().map(|c| (c.item.clone(), c)).collect();
            if done(&by) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{what}: never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Claims held now by the agent with this process id.
fn held_by(c: &BTreeMap<String, ClaimRow>, pid: u32) -> usize {
    let now = falconer::util::now();
    let mark = format!(":{pid}:");
    c.values()
        .filter(|r| r.holder.contains(&mark) && r.held(now))
        .count()
}

/// Every tenant's check done in one slot.
fn all_done(c: &BTreeMap<String, ClaimRow>, ids: &[String]) -> bool {
    ids.iter()
        .all(|i| c.get(i).is_some_and(|r| r.done_at.is_some()))
}

/// A port in front of a server that holds every connection until it is opened, then passes it through:
/// checks wait there for as long as a test needs.
pub(crate) struct Gate {
    port: u16,
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    pub(crate) async fn new(target: u16) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let port = listener.local_addr().expect("an address").port();
        let (open, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    if watch.wait_for(|open| *open).await.is_err() {
                        return;
                    }
                    match tokio::net::TcpStream::connect(("127.0.0.1", target)).await {
                        Ok(mut out) => {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        }
                        Err(_) => {
                            let _ = inbound.shutdown().await;
                        }
                    }
                });
            }
        });
        Gate { port, open }
    }

    pub(crate) fn open(&self) {
        let _ = self.open.send(true);
    }

    /// New connections wait again (those passed through stay).
    pub(crate) fn close(&self) {
        let _ = self.open.send(false);
    }

    /// `url` with this gate's port in place of the server's.
    pub(crate) fn url(&self, url: &str, target: u16) -> String {
        url.replace(&format!(":{target}/"), &format!(":{}/", self.port))
    }
}

pub(crate) fn port_of(url: &str) -> u16 {
    let after = url.rsplit_once('@').map_or(url, |(_, h)| h);
    let port = after
        .split(['/', '?'])
        .next()
        .and_then(|h| h.rsplit_once(':'));
    port.and_then(|(_, p)| p.parse().ok())
        .expect("a port in the URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_agents_check_each_tenant_once_per_cycle() {
    let (store, data) = (
        TestDb::new("agents_store").await,
        TestDb::new("agents_data").await,
    );
    let (w, dir, ids) = fleet("share", 16, &store.url, &data.url);
    let a = serve(&w, &dir, "2");
    let b = serve(&w, &dir, "2");
    let state = State::open(&store.url).await.expect("the state store");
    until(&state, "every tenant checked", |c| all_done(c, &ids)).await;
    let slots: std::collections::BTreeSet<i64> =
        claims(&state).await.values().map(|c| c.slot).collect();
    assert_eq!(slots.len(), 1, "one cycle: {slots:?}");
    // The last result is written before the agent says it; both agents said theirs once the claims
    // are done (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    while checks(&[&a, &b], &ids).values().sum::<usize>() < ids.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = checks(&[&a, &b], &ids);
    assert!(n.values().all(|&c| c == 1), "each tenant once: {n:?}");
    let by_a = checks(&[&a], &ids).values().sum::<usize>();
    let holders = claims(&state).await;
    let mark = format!(":{}:", a.child.id());
    let claimed_by_a = holders
        .values()
        .filter(|c| c.holder.contains(&mark))
        .count();
    assert_eq!(
        by_a, claimed_by_a,
        "what a said it checked is what it holds done"
    );
    let m = a.get("/metrics").await.1;
    assert_eq!(series(&m, "falconer_agents_alive"), Some(2.0), "{m}");
    assert_eq!(
        series(&m, "falconer_tenants{status=\"new_drift\"}"),
        Some(16.0)
    );
    assert_eq!(a.terminate().await.code(), Some(0));
    assert_eq!(b.terminate().await.code(), Some(0));
    let results = state.drift().results().await.expect("the results");
    assert_eq!(results.len(), ids.len());
    store.drop().await;
    data.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_agents_claims_are_taken_over_within_two_leases() {
    let (store, data) = (
        TestDb::new("agents_kill").await,
        TestDb::new("agents_kdata").await,
    );
    let (mut w, dir, ids) = fleet("kill", 10, &store.url, &data.url);
    let state = State::open(&store.url).await.expect("the state store");
    // Agent a's checks wait at a gate that never opens (its PostgreSQL hangs): it holds two claims,
    // renewing them, until it is killed.
    let pg = port_of(&data.url);
    let gate = Gate::new(pg).await;
    let mut wa = Workdir::new("agents", "kill-a", w.env.clone());
    wa.set_env("FALCONER_POSTGRES_URL", &gate.url(&data.url, pg));
    wa.set_env("FALCONER_CONNECT_TIMEOUT", "600");
    wa.set_env("FALCONER_REQUEST_TIMEOUT", "600");
    let a = serve(&wa, &dir, "2");
    let pid = a.child.id();
    until(&state, "a holds two claims", |c| held_by(c, pid) == 2).await;
    w.set_env("FALCONER_LOCK_OWNER", "agent-b");
    let b = serve(&w, &dir, "2");
    until(&state, "b checks the rest while a holds two", |c| {
        let done = c.values().filter(|r| r.done_at.is_some()).count();
        done == ids.len() - 2 && held_by(c, pid) == 2
    })
    .await;
    // a renews its claims: b leaves them alone for longer than a lease.
    let before = claims(&state).await;
    let killed_at = falconer::util::now();
    let mut a = a;
    a.child.kill().expect("kills a");
    let _ = a.child.wait();
    until(&state, "every tenant checked", |c| all_done(c, &ids)).await;
    let after = claims(&state).await;
    let taken: Vec<&ClaimRow> = after.values().filter(|c| c.tries == 2).collect();
    assert_eq!(taken.len(), 2, "a's two claims taken over: {after:?}");
    for c in &taken {
        assert!(before[&c.item].holder.contains(&format!(":{pid}:")));
        assert!(c.holder.starts_with("agent-b@"), "{c:?}");
        assert!(
            c.claimed_at <= killed_at + 2 * LEASE + 1,
            "taken over within two leases of the kill: {c:?}, killed at {killed_at}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while checks(&[&b], &ids).values().sum::<usize>() < ids.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = checks(&[&a, &b], &ids);
    assert!(n.values().all(|&c| c == 1), "each tenant once: {n:?}");
    assert_eq!(
        checks(&[&a], &ids).values().sum::<usize>(),
        0,
        "a wrote nothing"
    );
    let said = b.said().join("\n");
    assert_eq!(
        said.matches("taken over (its runner's lease ran out)")
            .count(),
        2,
        "{said}"
    );
    assert_eq!(b.terminate().await.code(), Some(0));
    drop(gate);
    store.drop().await;
    data.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_rides_out_a_state_store_outage() {
    let dir = std::env::temp_dir().join(format!("falconer-agents-outage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory");
    let (server, store_url) = crate::deaths::postgres_cluster_with(&dir, None);
    let data = TestDb::new("agents_odata").await;
    let pg = port_of(&data.url);
    let gate = Gate::new(pg).await;
    let (mut w, fleet_dir, ids) = fleet("outage", 8, &store_url, &gate.url(&data.url, pg));
    w.set_env("FALCONER_CONNECT_TIMEOUT", "600");
    w.set_env("FALCONER_REQUEST_TIMEOUT", "600");
    let agent = serve(&w, &fleet_dir, "2");
    let state = State::open(&store_url).await.expect("the state store");
    let pid = agent.child.id();
    until(&state, "the agent holds two claims", |c| {
        held_by(c, pid) == 2
    })
    .await;
    assert_eq!(agent.get("/readyz").await.0, 200);
    server.kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = agent.get("/readyz").await.0;
        let up = series(&agent.get("/metrics").await.1, "falconer_state_store_up");
        if ready == 503 && up == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outage shows: /readyz {ready}, up {up:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The held checks go on and end while the store is down: neither is written.
    gate.open();
    let deadline = Instant::now() + Duration::from_secs(60);
    let left = |a: &Agent| {
        a.said()
            .iter()
            .filter(|l| l.contains("the check's result is not written"))
            .count()
    };
    while left(&agent) < 2 {
        assert!(
            Instant::now() < deadline,
            "the held checks end: {:?}",
            agent.said()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        checks(&[&agent], &ids).values().sum::<usize>(),
        0,
        "nothing told as written"
    );
    server.start_again();
    // The same handle: its pool connects again once the server answers.
    until(&state, "every tenant checked after the outage", |c| {
        all_done(c, &ids)
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while checks(&[&agent], &ids).values().sum::<usize>() < ids.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = checks(&[&agent], &ids);
    assert!(n.values().all(|&c| c == 1), "each tenant once: {n:?}");
    let results = state.drift().results().await.expect("the results");
    assert_eq!(results.len(), ids.len());
    let history: usize = {
        let mut all = 0;
        for id in &ids {
            all += state
                .drift()
                .history(id, 10)
                .await
                .expect("the history")
                .len();
        }
        all
    };
    assert_eq!(
        history,
        ids.len(),
        "one change of status per tenant, no duplicate"
    );
    assert_eq!(agent.get("/readyz").await.0, 200);
    let up = series(&agent.get("/metrics").await.1, "falconer_state_store_up");
    assert_eq!(up, Some(1.0));
    assert_eq!(agent.terminate().await.code(), Some(0));
    drop(server);
    data.drop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
