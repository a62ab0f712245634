//! The operations driven without the command line (`falconer::ops`), against a real PostgreSQL: plan,
//! apply (hazards, approval, cancellation), backup create, restore (preflight, conflicts, the production
//! guard), a fleet's drift, and two operations with different profiles at once. Every outcome and error is
//! asserted by its type, never by its words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use falconer::backup::BackupStatus;
use falconer::fleet::Member;
use falconer::fleet::report::{FailOn, Status};
use falconer::model::{Domain, HazardCode};
use falconer::ops::apply::Request as ApplyRequest;
use falconer::ops::backup::CreateRequest;
use falconer::ops::live::Settings;
use falconer::ops::repo::RepoSpec;
use falconer::ops::restore::{OnConflict, Request as RestoreRequest};
use falconer::ops::{self, Answer, Cancel, Error, Event, Recorded, Refusal};
use falconer::plan::Options;
use falconer::restore::report::{DomainOutcome, Outcome};
use falconer::setup::SetupError;

use crate::support::TestDb;

/// A tenant's manifest directory, its profile (the database's URL) and its state store.
struct Place {
    dir: PathBuf,
    db: TestDb,
}

impl Place {
    async fn new(tag: &str) -> Place {
        let db = TestDb::new(tag).await;
        let dir = std::env::temp_dir().join(format!("falconer-ops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("m")).expect("a directory");
        let profile = format!(
            "[postgres]\nurl = \"{}\"\n[restore]\ntimezone = \"UTC\"\n",
            db.url
        );
        std::fs::write(dir.join("profile.toml"), profile).expect("writes");
        Place { dir, db }
    }

    fn settings(&self) -> Settings {
        let state = format!("sqlite:{}", self.dir.join("state.db").display());
        Settings::new(state, Some(self.dir.join("profile.toml")))
            .with_env(falconer::setup::Env::from_pairs(std::env::vars()))
    }

    fn manifest(&self) -> PathBuf {
        self.dir.join("m")
    }

    /// Writes the tenant's manifest: a schema and a table of `columns` (`name type` pairs).
    fn write(&self, tenant: &str, columns: &[(&str, &str)]) {
        write_tenant(&self.manifest(), tenant, columns);
    }

    fn repo(&self) -> RepoSpec {
        RepoSpec {
            url: Some(format!("file:{}", self.dir.join("repo").display())),
            key_file: None,
        }
    }
}

fn write_tenant(dir: &Path, tenant: &str, columns: &[(&str, &str)]) {
    let columns: Vec<String> = columns
        .iter()
        .map(|(n, t)| format!("{{ name = \"{n}\", type = \"{t}\" }}"))
        .collect();
    let body = format!(
        "[tenant]\nid = \"{tenant}\"\n[tenant.naming]\npostgres_schemas = [\"{tenant}_app\"]\n\n\
         [[postgres.schema]]\nname = \"{tenant}_app\"\n\n\
         [[postgres.table]]\nname = \"orders\"\nschema = \"{tenant}_app\"\ncomment = \"orders\"\n\
         column = [{}]\n",
        columns.join(", ")
    );
    std::fs::create_dir_all(dir).expect("a directory");
    std::fs::write(dir.join("tenant.toml"), body).expect("writes");
}

fn approved(path: &Path) -> ApplyRequest {
    ApplyRequest {
        path: path.to_path_buf(),
        auto_approve: true,
        ..ApplyRequest::default()
    }
}

async fn plan(p: &Place) -> falconer::plan::Plan {
    let events = Recorded::default();
    ops::live::plan_path(&p.manifest(), Options::default(), &p.settings(), &events)
        .await
        .expect("plans")
}

#[tokio::test]
async fn apply_plans_refuses_asks_and_stops_by_type() {
    let p = Place::new("ops_apply").await;
    p.write("opsa", &[("id", "bigint"), ("note", "text")]);
    let settings = p.settings();
    let cancel = Cancel::new();
    let before = plan(&p).await;
    assert!(
        before.has_changes(),
        "an empty database needs the schema and table"
    );

    // Nobody to ask, and not approved: nothing is written.
    let events = Recorded::default();
    let asked = ApplyRequest {
        auto_approve: false,
        ..approved(&p.manifest())
    };
    let e = ops::apply::apply(&settings, &asked, &events, &cancel).await;
    assert!(matches!(e, Err(Error::NotApproved(_))), "{e:?}");
    assert!(events.taken().iter().any(|e| matches!(e, Event::Asked(_))));
    // A person says no.
    let no = Recorded {
        answer: Answer::No,
        ..Recorded::default()
    };
    let e = ops::apply::apply(&settings, &asked, &no, &cancel).await;
    assert!(matches!(e, Err(Error::Declined)), "{e:?}");
    // Cancelled before the first write.
    let stopped = Cancel::new();
    stopped.cancel();
    let e = ops::apply::apply(&settings, &approved(&p.manifest()), &events, &stopped).await;
    assert!(matches!(e, Err(Error::Cancelled)), "{e:?}");
    assert_eq!(
        plan(&p).await.changes.len(),
        before.changes.len(),
        "nothing was written"
    );

    let applied = ops::apply::apply(&settings, &approved(&p.manifest()), &events, &cancel)
        .await
        .expect("applies");
    assert_eq!(applied.tenant, "opsa");
    assert_eq!(applied.applied, before.changes.len());
    assert!(!plan(&p).await.has_changes(), "the re-plan is empty");

    // Dropping a column deletes data: refused, naming the hazard, until allowed.
    p.write("opsa", &[("id", "bigint")]);
    let e = ops::apply::apply(&settings, &approved(&p.manifest()), &events, &cancel).await;
    match e {
        Err(Error::Refused(Refusal::Hazards(h))) => assert!(h.contains(&HazardCode::DeletesData)),
        other => panic!("expected a hazard refusal, got {other:?}"),
    }
    let allowed = ApplyRequest {
        allow: vec![HazardCode::DeletesData],
        ..approved(&p.manifest())
    };
    let done = ops::apply::apply(&settings, &allowed, &events, &cancel).await;
    assert_eq!(done.expect("applies").applied, 1);

    // A suspended tenant (the registry says so) is refused before any system is reached.
    let state = falconer::state::State::open(&settings.state)
        .await
        .expect("state");
    state
        .registry()
        .set_tenant("opsa", "suspended", "")
        .await
        .expect("registers");
    let e = ops::apply::apply(&settings, &approved(&p.manifest()), &events, &cancel).await;
    assert!(
        matches!(e, Err(Error::Refused(Refusal::SuspendedInRegistry(ref t))) if t == "opsa"),
        "{e:?}"
    );
    p.db.drop().await;
}

#[tokio::test]
async fn a_system_that_cannot_be_reached_is_named() {
    let p = Place::new("ops_connect").await;
    p.write("opsc", &[("id", "bigint")]);
    std::fs::write(
        p.dir.join("profile.toml"),
        "[postgres]\nurl = \"postgres://nobody@127.0.0.1:1/none\"\n",
    )
    .expect("writes");
    let events = Recorded::default();
    let e = ops::live::plan_path(&p.manifest(), Options::default(), &p.settings(), &events).await;
    match e {
        Err(Error::Connect(failed)) => assert_eq!(failed[0].domain, Domain::Postgres),
        other => panic!("expected a connection error, got {other:?}"),
    }
    p.db.drop().await;
}

#[tokio::test]
async fn backup_and_restore_decide_by_type() {
    let p = Place::new("ops_restore").await;
    p.write("opsr", &[("id", "bigint"), ("note", "text")]);
    let settings = p.settings();
    let (events, cancel) = (Recorded::default(), Cancel::new());
    ops::apply::apply(&settings, &approved(&p.manifest()), &events, &cancel)
        .await
        .expect("applies");
    let repo = p.repo().open(&settings).expect("a repository");
    let req = CreateRequest {
        tenant: "opsr".into(),
        manifest: Some(p.manifest()),
        domains: vec![Domain::Postgres],
        ..CreateRequest::default()
    };
    let record = ops::backup::create(&settings, &repo, &req, &events)
        .await
        .expect("backs up");
    assert_eq!(record.status, BackupStatus::Ok);
    assert!(record.domains[0].resources >= 2, "{record:?}");

    let restore = RestoreRequest {
        source: Some(record.id.clone()),
        tenant: "opsr".into(),
        domains: vec![Domain::Postgres],
        repo: p.repo(),
        auto_approve: true,
        ..RestoreRequest::default()
    };
    // The table is lost: the preflight plans it back, writing nothing.
    p.db.exec("drop table opsr_app.orders").await;
    let dry = RestoreRequest {
        dry_run: true,
        ..restore.clone()
    };
    let recorded = Recorded::default();
    let (report, r) = ops::restore::restore(&settings, &dry, &recorded, &cancel).await;
    r.expect("a dry run");
    let report = report.expect("a report");
    assert_eq!(report.outcome, Outcome::DryRun);
    assert_eq!(report.counts.create, 1, "{report:?}");
    assert!(
        recorded
            .taken()
            .iter()
            .any(|e| matches!(e, Event::Preflight { changes: 1 }))
    );

    let (report, r) = ops::restore::restore(&settings, &restore, &recorded, &cancel).await;
    r.expect("restores the lost table");
    assert_eq!(
        report.map(|r| (r.outcome, r.applied)),
        Some((Outcome::Success, 1))
    );

    // A comment changed by hand makes the table differ: refused as a conflict, then overwritten.
    p.db.exec("comment on table opsr_app.orders is 'by hand'")
        .await;
    let (report, r) = ops::restore::restore(&settings, &restore, &recorded, &cancel).await;
    assert!(matches!(r, Err(Error::Refused(Refusal::Other(_)))), "{r:?}");
    let report = report.expect("a report");
    assert_eq!(report.outcome, Outcome::Refused);
    let pg = report.domains.iter().find(|d| d.domain == Domain::Postgres);
    assert_eq!(pg.map(|d| d.outcome), Some(DomainOutcome::Conflict));
    let overwrite = RestoreRequest {
        on_conflict: OnConflict::Overwrite,
        verify: true,
        ..restore.clone()
    };
    let (report, r) = ops::restore::restore(&settings, &overwrite, &recorded, &cancel).await;
    r.expect("restores");
    let report = report.expect("a report");
    assert_eq!(report.outcome, Outcome::Success);
    assert_eq!(report.verified, Some(true));

    // A production tenant outside its hours (03:00 UTC): the guard refuses, unless by break glass.
    let state = falconer::state::State::open(&settings.state)
        .await
        .expect("state");
    state
        .registry()
        .set_tenant("opsr", "active", "production")
        .await
        .expect("registers");
    let night = falconer::backup::retention::parse_time("2026-12-01T03:00:00Z");
    let guarded = RestoreRequest {
        now: night,
        ..overwrite.clone()
    };
    let (report, r) = ops::restore::restore(&settings, &guarded, &recorded, &cancel).await;
    assert!(
        matches!(r, Err(Error::Refused(Refusal::Production(_)))),
        "{r:?}"
    );
    assert_eq!(report.map(|r| r.outcome), Some(Outcome::Refused));
    let glass = RestoreRequest {
        break_glass: Some("incident 42".into()),
        ..guarded
    };
    let (_, r) = ops::restore::restore(&settings, &glass, &recorded, &cancel).await;
    r.expect("restores by break glass");
    assert!(
        recorded
            .taken()
            .iter()
            .any(|e| matches!(e, Event::Warning(_)))
    );
    p.db.drop().await;
}

#[tokio::test]
async fn a_fleet_drifts_through_ops() {
    let p = Place::new("ops_fleet").await;
    let settings = p.settings();
    let (events, cancel) = (Recorded::default(), Cancel::new());
    let mut members = Vec::new();
    for t in ["opsf1", "opsf2"] {
        let dir = p.dir.join("fleet").join(t);
        write_tenant(&dir, t, &[("id", "bigint")]);
        ops::apply::apply(&settings, &approved(&dir), &events, &cancel)
            .await
            .expect("applies");
        members.push(Member {
            path: dir,
            profile: None,
            group: None,
        });
    }
    p.db.exec("alter table opsf2_app.orders add column extra text")
        .await;
    let req = ops::fleet::Request {
        verb: ops::fleet::Verb::Drift {
            fail_on: FailOn::Any,
        },
        targets: Vec::new(),
        excludes: Vec::new(),
        save: None,
        parallelism: 2,
        shard: None,
        share: None,
    };
    let drift = |members: Vec<Member>| {
        let (req, settings, events) = (&req, &settings, &events);
        async move {
            let tenants = ops::fleet::tenants(req, members).expect("loads");
            ops::fleet::run(settings, req, tenants, events)
                .await
                .expect("runs")
        }
    };
    let first = drift(members.clone()).await;
    let status: Vec<(String, Status)> = first
        .results
        .iter()
        .map(|r| (r.tenant.clone(), r.status))
        .collect();
    assert_eq!(
        status,
        [
            ("opsf1".to_string(), Status::InSync),
            ("opsf2".to_string(), Status::NewDrift)
        ]
    );
    let again = drift(members).await;
    assert_eq!(again.results[1].status, Status::StillDrifted);
    let checked = events
        .taken()
        .iter()
        .filter(|e| matches!(e, Event::Checked { .. }))
        .count();
    assert_eq!(checked, 4, "each tenant's check is an event");
    p.db.drop().await;
}

/// Two applies at once on a multi-threaded runtime, each with its own profile (another database) and
/// state store: each sees only its own systems. `tokio::spawn` also holds the operations to being `Send`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operations_with_different_profiles_run_at_once() {
    let (a, b) = (Place::new("ops_two_a").await, Place::new("ops_two_b").await);
    a.write("opst", &[("id", "bigint")]);
    b.write("opst", &[("id", "bigint"), ("extra", "text")]);
    let run = |p: &Place| {
        let settings = Arc::new(p.settings());
        let req = approved(&p.manifest());
        tokio::spawn(async move {
            let events = Recorded::default();
            ops::apply::apply(&settings, &req, &events, &Cancel::new()).await
        })
    };
    let (ra, rb) = tokio::join!(run(&a), run(&b));
    let (ra, rb) = (ra.expect("joins"), rb.expect("joins"));
    assert_eq!(ra.expect("applies").applied, 2, "schema and table");
    assert_eq!(rb.expect("applies").applied, 2, "schema and table");
    let columns = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from information_schema.columns where table_schema = 'opst_app'",
            )
            .fetch_one(&pool)
            .await
            .expect("counts");
            n
        }
    };
    assert_eq!(columns(&a.db).await, 1);
    assert_eq!(columns(&b.db).await, 2);
    a.db.drop().await;
    b.db.drop().await;
}

/// Each operation is bounded by its own profile's timeouts, even when two run at once: a PostgreSQL that
/// accepts and never answers fails each plan within the connect timeout its profile gives (1 s and 2 s),
/// the error naming that timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_keeps_its_own_profiles_timeouts() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!(
        "postgres://nobody@{}/none",
        silent.local_addr().expect("an address")
    );
    let (a, b) = (
        Place::new("ops_limits_a").await,
        Place::new("ops_limits_b").await,
    );
    for (p, seconds) in [(&a, 1), (&b, 2)] {
        p.write("opsl", &[("id", "bigint")]);
        let profile =
            format!("[postgres]\nurl = \"{url}\"\n[timeouts.postgres]\nconnect = {seconds}\n");
        std::fs::write(p.dir.join("profile.toml"), profile).expect("writes");
    }
    let run = |p: &Place| {
        let (settings, path) = (p.settings(), p.manifest());
        tokio::spawn(async move {
            let events = Recorded::default();
            ops::live::plan_path(&path, Options::default(), &settings, &events).await
        })
    };
    let (ra, rb) = tokio::join!(run(&a), run(&b));
    for (r, seconds) in [(ra.expect("joins"), 1), (rb.expect("joins"), 2)] {
        match r {
            Err(Error::Connect(failed)) => {
                assert_eq!(failed[0].domain, Domain::Postgres);
                match &failed[0].error {
                    SetupError::TimedOut { system, secs, .. } => {
                        assert_eq!((*system, *secs), ("PostgreSQL", seconds));
                    }
                    other => panic!("expected a timeout, got {other:?}"),
                }
                let within = format!("within {seconds} s");
                assert!(failed[0].to_string().contains(&within), "{}", failed[0]);
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
    }
    drop(silent);
    a.db.drop().await;
    b.db.drop().await;
}
