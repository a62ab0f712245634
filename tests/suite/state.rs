//! The state store on both backends (SQLite and PostgreSQL): migrations, managed set, fingerprint keys,
//! locks (holder named, heartbeat, expiry take-over, break, a race with one winner).

use std::time::Duration;

use falconer::model::Address;
use falconer::state::{Acquired, MIGRATIONS, Owner, State, StateError};

fn owner(name: &str) -> Owner {
    Owner {
        name: name.into(),
        host: "ci-runner".into(),
        pid: 4242,
        scope: String::new(),
    }
}

async fn exercise(url: &str) {
    let state = State::open(url).await.expect("opens");
    assert_eq!(
        state.version().await.expect("version"),
        MIGRATIONS.len() as i64
    );
    // Opening again runs nothing new.
    let state = State::open(url).await.expect("reopens");
    assert_eq!(
        state.version().await.expect("version"),
        MIGRATIONS.len() as i64
    );

    // Managed set.
    let a = Address::parse("postgres.table.app.orders").expect("a");
    let b = Address::parse("kafka.topic.acme.events").expect("b");
    state
        .managed()
        .update_managed("acme", &[a.clone(), b.clone()], &[])
        .await
        .expect("adds");
    state
        .managed()
        .update_managed("acme", std::slice::from_ref(&a), &[])
        .await
        .expect("adds again");
    assert_eq!(
        state
            .managed()
            .managed("acme")
            .await
            .expect("managed")
            .len(),
        2
    );
    state
        .managed()
        .update_managed("acme", &[], std::slice::from_ref(&b))
        .await
        .expect("removes");
    let m = state.managed().managed("acme").await.expect("managed");
    assert!(m.contains(&a) && !m.contains(&b));
    assert!(
        state
            .managed()
            .managed("other")
            .await
            .expect("managed")
            .is_empty()
    );

    // A run's changes, many more than one statement may bind (SQLite allows 32,766 values): all recorded,
    // and unfinished until the run is applied.
    let run = state
        .runs()
        .start_run("big", "digest")
        .await
        .expect("a run");
    let many: Vec<String> = (0..20_000).map(|i| format!("iam.role.r{i}")).collect();
    state
        .runs()
        .record_run_changes(&run, &many)
        .await
        .expect("records 20,000 changes");
    assert_eq!(
        state
            .runs()
            .unfinished_changes("big")
            .await
            .expect("reads")
            .len(),
        20_000
    );
    state
        .runs()
        .finish_run(&run, "applied")
        .await
        .expect("finishes");
    assert!(
        state
            .runs()
            .unfinished_changes("big")
            .await
            .expect("reads")
            .is_empty()
    );

    // Fingerprint keys: stable per tenant, different between tenants, never shown.
    let k1 = state.managed().fingerprint_key("acme").await.expect("key");
    let k2 = State::open(url)
        .await
        .expect("reopens")
        .managed()
        .fingerprint_key("acme")
        .await
        .expect("key");
    let k3 = state
        .managed()
        .fingerprint_key("globex")
        .await
        .expect("key");
    assert_eq!(k1.fingerprint(b"x"), k2.fingerprint(b"x"));
    assert_ne!(k1.fingerprint(b"x"), k3.fingerprint(b"x"));
    assert!(format!("{k1:?}").contains("hidden"));

    // Locks.
    let ttl = Duration::from_secs(300);
    let Acquired::Fresh(lock) = state
        .locks()
        .lock("acme", &owner("alice"), ttl)
        .await
        .expect("locks")
    else {
        panic!("a fresh lock")
    };
    match state.locks().lock("acme", &owner("bob"), ttl).await {
        Err(StateError::Locked { tenant, holder }) => {
            assert_eq!(tenant, "acme");
            assert!(
                holder.contains("alice@ci-runner") && holder.contains("pid 4242"),
                "{holder}"
            );
        }
        other => panic!("expected a held lock, got {other:?}"),
    }
    assert!(
        state
            .locks()
            .heartbeat(&lock, ttl)
            .await
            .expect("heartbeat")
    );
    assert_eq!(state.locks().all().await.expect("list").len(), 1);
    state.locks().unlock(&lock).await.expect("unlocks");
    assert!(state.locks().lock_of("acme").await.expect("lock").is_none());

    // An expired lock is taken over, and says whose it was.
    let Acquired::Fresh(stale) = state
        .locks()
        .lock("acme", &owner("crashed"), Duration::ZERO)
        .await
        .expect("locks")
    else {
        panic!("fresh")
    };
    match state
        .locks()
        .lock("acme", &owner("bob"), ttl)
        .await
        .expect("takes over")
    {
        Acquired::TakenOver { lock, previous } => {
            assert_eq!(lock.owner, "bob");
            assert_eq!(previous.owner, "crashed");
        }
        other => panic!("expected a take-over, got {other:?}"),
    }
    assert!(
        !state
            .locks()
            .heartbeat(&stale, ttl)
            .await
            .expect("heartbeat"),
        "the old holder lost the lock"
    );
    let broken = state
        .locks()
        .break_lock("acme")
        .await
        .expect("breaks")
        .expect("a lock");
    assert_eq!(broken.owner, "bob");

    // A race: exactly one of many concurrent claimants wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = state.clone();
        tasks.push(tokio::spawn(async move {
            s.locks()
                .lock("race", &owner(&format!("runner{i}")), ttl)
                .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.expect("joins") {
            Ok(_) => winners += 1,
            Err(StateError::Locked { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(winners, 1);
    agent_records(&state).await;
    claims(&state).await;
    slots(&state).await;
}

/// A schedule's slot: claimed once; taken over once its lease ran out, with the next generation; then the
/// first runner's renewal and its end are refused (its end writes nothing), its successor's kept.
async fn slots(state: &State) {
    use falconer::state::SlotClaim;
    let s = state.schedules();
    assert_eq!(
        s.claim_slot("nightly", 100, 1000, 600)
            .await
            .expect("claims"),
        SlotClaim::Claimed(1)
    );
    assert_eq!(
        s.claim_slot("nightly", 100, 1100, 600).await.expect("asks"),
        SlotClaim::Held
    );
    assert!(
        s.renew_slot(("nightly", 100, 1), 1200)
            .await
            .expect("renews")
    );
    assert_eq!(
        s.claim_slot("nightly", 100, 1700, 600).await.expect("asks"),
        SlotClaim::Held,
        "renewed at 1200"
    );
    assert_eq!(
        s.claim_slot("nightly", 100, 1801, 600).await.expect("asks"),
        SlotClaim::TakenOver(2)
    );
    assert!(
        !s.renew_slot(("nightly", 100, 1), 1802).await.expect("asks"),
        "the first runner's claim is gone"
    );
    assert!(
        !s.finish_slot(("nightly", 100, 1), "ok", "")
            .await
            .expect("asks"),
        "its end is refused"
    );
    assert_eq!(
        s.last_slot("nightly").await.expect("reads"),
        Some((100, "running".into()))
    );
    assert!(
        s.finish_slot(("nightly", 100, 2), "partial", "")
            .await
            .expect("writes")
    );
    assert_eq!(
        s.last_slot("nightly").await.expect("reads"),
        Some((100, "partial".into()))
    );
}

/// The agents' claims: one holder per item and slot; a lease that ran out taken over with the next
/// generation; the first holder's renewal and its fenced write refused (nothing written), its successor's
/// written; a claim handed back taken at once; a race of eight claims with one winner; the agents' list.
async fn claims(state: &State) {
    use falconer::state::{AgentRow, DriftRecord, DriftResult};
    let c = state.claims();
    let item = ("drift", "fenced", 7);
    let a = c.claim(item, "agent-a", (1000, 10)).await.expect("claims");
    let a = a.expect("the first claim is taken");
    assert_eq!((a.generation, a.taken_over), (1, false));
    assert_eq!(
        c.claim(item, "agent-b", (1005, 10)).await.expect("asks"),
        None
    );
    assert!(c.renew(&a, (1006, 10)).await.expect("renews"));
    assert_eq!(
        c.claim(item, "agent-b", (1015, 10)).await.expect("asks"),
        None,
        "renewed until 1016"
    );
    let b = c.claim(item, "agent-b", (1016, 10)).await.expect("claims");
    let b = b.expect("a lease that ran out is taken over");
    assert_eq!(
        (b.generation, b.taken_over, b.holder.as_str()),
        (2, true, "agent-b")
    );
    assert!(
        !c.renew(&a, (1017, 10)).await.expect("renews"),
        "a's claim is gone"
    );
    let result = |by: &str| DriftResult {
        tenant: "fenced".into(),
        status: "in_sync".into(),
        checked_at: 1020,
        result: format!("{{\"by\":\"{by}\"}}"),
    };
    fn write(r: &DriftResult) -> DriftRecord<'_> {
        DriftRecord {
            result: r,
            digest: "",
            drifted: Some(false),
            event: None,
        }
    }
    let by_a = result("a");
    let refused = state.drift().record(&write(&by_a), Some(&a)).await;
    assert!(matches!(refused, Err(StateError::Fenced(_))), "{refused:?}");
    let nothing = state.drift().result("fenced").await.expect("reads");
    assert_eq!(nothing, None, "a fenced write leaves nothing");
    assert_eq!(
        state.drift().last_drift("fenced").await.expect("reads"),
        None
    );
    let by_b = result("b");
    state
        .drift()
        .record(&write(&by_b), Some(&b))
        .await
        .expect("b writes");
    let kept = state.drift().result("fenced").await.expect("reads");
    assert_eq!(kept.map(|r| r.result), Some("{\"by\":\"b\"}".to_string()));
    assert_eq!(
        c.claim(item, "agent-c", (5000, 10)).await.expect("asks"),
        None,
        "done in its slot"
    );
    let again = c
        .claim(("drift", "fenced", 8), "agent-c", (5000, 10))
        .await
        .expect("claims");
    let again = again.expect("the next slot is claimed");
    assert_eq!((again.generation, again.taken_over), (3, false));
    c.hand_back(&again).await.expect("hands back");
    let d = c
        .claim(("drift", "fenced", 8), "agent-d", (5001, 10))
        .await
        .expect("claims");
    assert!(
        d.is_some_and(|d| d.taken_over),
        "a claim handed back is taken at once"
    );
    let claimed = c.of_job("drift").await.expect("reads");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].holder.as_str(), claimed[0].tries),
        ("agent-d", 2)
    );
    let race = (0..8).map(|i| {
        let s = state.clone();
        tokio::spawn(async move {
            let holder = format!("racer-{i}");
            s.claims()
                .claim(("drift", "raced", 1), &holder, (100, 60))
                .await
        })
    });
    let mut won = 0;
    for t in race {
        won += usize::from(t.await.expect("joins").expect("claims").is_some());
    }
    assert_eq!(won, 1, "one of eight claims wins");
    let agent = |id: &str, seen_at| AgentRow {
        id: id.into(),
        host: "node-1".into(),
        version: "1".into(),
        started_at: 10,
        seen_at,
    };
    c.beat(&agent("one", 100)).await.expect("beats");
    c.beat(&agent("two", 50)).await.expect("beats");
    c.beat(&agent("old", 1)).await.expect("beats");
    let alive = c.agents(70).await.expect("lists");
    assert_eq!(
        alive.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["one"]
    );
    assert_eq!(c.forget_agents(10).await.expect("forgets"), 1, "`old`");
    assert_eq!(c.agents(0).await.expect("lists").len(), 2);
    c.leave("one").await.expect("leaves");
    assert_eq!(c.agents(0).await.expect("lists").len(), 1);
}

/// The agent's records: each tenant's last drift result and the changes of its status; each tenant's last
/// backup, with its last successful and last complete ones kept across a failure.
async fn agent_records(state: &State) {
    use falconer::state::DriftResult;
    let drift = state.drift();
    let mut changed = Vec::new();
    for (at, status, digest) in [
        (100, "in_sync", ""),
        (200, "in_sync", ""),
        (300, "new_drift", "d1"),
        (400, "still_drifted", "d1"),
        (500, "new_drift", "d2"),
        (600, "could_not_check", ""),
        (700, "resolved", ""),
    ] {
        let row = DriftResult {
            tenant: "acme".into(),
            status: status.into(),
            checked_at: at,
            result: format!("{{\"at\":{at}}}"),
        };
        changed.push(drift.record_result(&row, digest).await.expect("records"));
    }
    assert_eq!(changed, [true, false, true, false, true, true, true]);
    let history = drift.history("acme", 10).await.expect("the history");
    let statuses: Vec<(i64, &str, &str)> = history
        .iter()
        .map(|c| (c.checked_at, c.status.as_str(), c.digest.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            (700, "resolved", ""),
            (600, "could_not_check", ""),
            (500, "new_drift", "d2"),
            (300, "new_drift", "d1"),
            (100, "in_sync", ""),
        ]
    );
    let last = drift
        .result("acme")
        .await
        .expect("reads")
        .expect("a result");
    assert_eq!(
        (last.checked_at, last.result.as_str()),
        (700, "{\"at\":700}")
    );
    drift
        .record_result(
            &DriftResult {
                tenant: "gone".into(),
                status: "in_sync".into(),
                checked_at: 1,
                result: "{}".into(),
            },
            "",
        )
        .await
        .expect("records");
    assert_eq!(
        drift
            .forget_results(&["acme".into()])
            .await
            .expect("forgets"),
        1
    );
    let left: Vec<String> = drift
        .results()
        .await
        .expect("reads")
        .into_iter()
        .map(|r| r.tenant)
        .collect();
    assert_eq!(left, ["acme"]);

    let backups = state.backups();
    backups
        .record("acme", ("b1", "ok"), 10, (true, true))
        .await
        .expect("records");
    backups
        .record("acme", ("b2", "partial"), 20, (true, false))
        .await
        .expect("records");
    backups
        .record("acme", ("b3", "failed"), 30, (false, false))
        .await
        .expect("records");
    let all = backups.all().await.expect("reads");
    let b = &all[0];
    assert_eq!(
        (
            b.id.as_str(),
            b.status.as_str(),
            b.at,
            b.success_at,
            b.complete_at
        ),
        ("b3", "failed", 30, Some(20), Some(10))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_state() {
    let dir = std::env::temp_dir().join(format!("falconer-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = format!("sqlite:{}/nested/state.db", dir.display());
    exercise(&url).await;
    assert!(dir.join("nested/state.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_state() {
    let db = crate::support::TestDb::new("state").await;
    exercise(&db.url).await;
    db.drop().await;
}

#[tokio::test]
async fn bad_urls_are_refused() {
    assert!(matches!(
        State::open("mysql://x").await,
        Err(StateError::Url(_))
    ));
}

/// Runs opening a fresh store at once migrate one after another: every open succeeds and each migration
/// runs once (one that is not idempotent, like adding a column, would fail when run twice).
async fn concurrent_opens(url: &str) {
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.to_string();
            tokio::spawn(async move { State::open(&url).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.expect("joins").expect("opens while others open");
    }
    let state = State::open(url).await.expect("opens");
    assert_eq!(
        state.version().await.expect("version"),
        MIGRATIONS.len() as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_migrate_once() {
    let dir = std::env::temp_dir().join(format!("falconer-state-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    concurrent_opens(&format!("sqlite:{}/state.db", dir.display())).await;
    let _ = std::fs::remove_dir_all(&dir);
    let db = crate::support::TestDb::new("state_race").await;
    concurrent_opens(&db.url).await;
    db.drop().await;
}
