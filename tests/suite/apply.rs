//! `falconer plan`, `apply`, `drift`, `lock` and `state` against a real PostgreSQL database: convergence,
//! the preflight's exit codes (3 locked, 4 refused), saved plans, role passwords that work and never show,
//! concurrent runs, and runs killed at twenty points.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{TestDb, Workdir, both, code, text};

/// One test's world: a database, and a state store and manifest directory (a [`Workdir`]).
struct World {
    db: TestDb,
    w: Workdir,
    role: String,
}

impl std::ops::Deref for World {
    type Target = Workdir;
    fn deref(&self) -> &Workdir {
        &self.w
    }
}

impl World {
    async fn new(tag: &str) -> World {
        let db = TestDb::new(tag).await;
        let env = vec![
            ("FALCONER_POSTGRES_URL".to_string(), db.url.clone()),
            ("APPLY_TEST_PASSWORD".to_string(), PASSWORD.to_string()),
        ];
        let w = Workdir::new("apply", &db.name, env);
        // Roles are cluster-wide: one per test.
        let role = format!("r_{}", db.name);
        World { db, w, role }
    }

    /// Writes the manifest: schema `app` with `tables` tables, and the test's role.
    fn write(&self, tables: usize, status: &str) {
        let mut m = format!(
            "[tenant]\nid = \"acme\"\nstatus = \"{status}\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n\n\
             [[postgres.role]]\nname = \"{r}\"\nlogin = true\npassword = {{ env = \"APPLY_TEST_PASSWORD\" }}\n\n\
             [[postgres.schema]]\nname = \"app\"\ngrant = [{{ role = \"{r}\", privileges = [\"USAGE\"] }}]\n",
            r = self.role
        );
        for i in 0..tables {
            m.push_str(&format!(
                "\n[[postgres.table]]\nname = \"t{i}\"\nschema = \"app\"\nprimary_key = {{ columns = [\"id\"] }}\n\
                 column = [\n  {{ name = \"id\", type = \"bigint\", nullable = false }},\n  {{ name = \"note\", type = \"text\" }},\n]\n\n\
                 [[postgres.index]]\nname = \"t{i}_note\"\nschema = \"app\"\ntable = \"t{i}\"\ncolumns = [\"note\"]\n"
            ));
        }
        std::fs::write(self.dir.join("manifest/db.toml"), m).expect("write manifest");
    }

    /// Runs with another role password in the environment.
    fn run_with(&self, args: &[&str], password: &str) -> Output {
        self.w
            .command(args)
            .env("APPLY_TEST_PASSWORD", password)
            .output()
            .expect("runs")
    }

    async fn tables(&self) -> i64 {
        sqlx::query_scalar("select count(*) from pg_tables where schemaname = 'app'")
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
    }

    /// Opens a transaction that creates `app.<table>` and keeps it open: an apply that creates that table
    /// waits for it (PostgreSQL makes the second creator of a name wait for the first to end).
    async fn block(&self, table: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut tx = self.db.pool.begin().await.expect("begins");
        sqlx::query(&format!("create table app.\"{table}\" (x int)"))
            .execute(&mut *tx)
            .await
            .expect("creates");
        tx
    }

    /// Waits until a session of this database waits on a lock (the apply reached the blocked statement);
    /// false when `child` ended first.
    async fn until_waiting(&self, child: &mut std::process::Child) -> bool {
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            let waiting: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'",
            )
            .bind(&self.db.name)
            .fetch_one(&self.db.pool)
            .await
            .expect("reads pg_stat_activity");
            if waiting > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn finish(self) {
        let _ = sqlx::raw_sql(&format!(
            "drop owned by \"{r}\"; drop role if exists \"{r}\"",
            r = self.role
        ))
        .execute(&self.db.pool)
        .await;
        let _ = std::fs::remove_dir_all(&self.dir);
        self.db.drop().await;
    }
}

const PASSWORD: &str = "s3cret-Pa55-for-apply-tests";

/// Whether the role's stored password is `password`: its SCRAM verifier is recomputed with the stored salt
/// and iterations. (The shared test server may trust local connections; a login on a cluster that requires
/// SCRAM is `a_role_logs_in_with_its_password_where_scram_is_required`.)
async fn password_is(w: &World, password: &str) -> bool {
    use base64::Engine;
    let stored: Option<String> =
        sqlx::query_scalar("select rolpassword from pg_authid where rolname = $1")
            .bind(&w.role)
            .fetch_one(&w.db.pool)
            .await
            .expect("reads pg_authid");
    let stored = stored.expect("the role has a password");
    assert!(stored.starts_with("SCRAM-SHA-256$"), "not a SCRAM verifier");
    let (iterations, salt) = stored["SCRAM-SHA-256$".len()..]
        .split('$')
        .next()
        .and_then(|s| s.split_once(':'))
        .expect("iterations:salt");
    let salt = base64::engine::general_purpose::STANDARD
        .decode(salt)
        .expect("salt");
    let iterations: u32 = iterations.parse().expect("iterations");
    falconer::domains::postgres::password::verifier_with_salt(password, &salt, iterations) == stored
}

/// Asserts an exit code, showing the output when it is another.
fn m(w: &World) -> String {
    w.manifest()
}

#[tokio::test]
async fn apply_converges_and_the_role_can_log_in() {
    let w = World::new("apply_converges").await;
    w.write(3, "active");
    let plan = w.run(&["plan", &m(&w), "--detailed-exitcode"]);
    code(&plan, 2);
    assert!(
        text(&plan.stdout).contains("+ postgres.table.app.t2"),
        "{}",
        both(&plan)
    );

    let apply = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&apply, 0);
    assert!(text(&apply.stdout).contains("Applied:"), "{}", both(&apply));
    assert_eq!(w.tables().await, 3);

    // Converged: plan and drift see nothing to do.
    let again = w.run(&["plan", &m(&w), "--detailed-exitcode"]);
    code(&again, 0);
    let drift = w.run(&["drift", &m(&w)]);
    code(&drift, 0);

    // The state store records what falconer manages.
    let listed = w.run(&["state", "list", "acme"]);
    code(&listed, 0);
    let listed = text(&listed.stdout);
    assert!(listed.contains("postgres.table.app.t0\n"), "{listed}");
    assert!(
        listed.contains(&format!("postgres.role.{}\n", w.role)),
        "{listed}"
    );

    // The role's password is set (sent as a SCRAM verifier)...
    assert!(
        password_is(&w, PASSWORD).await,
        "the role's password is not the manifest's"
    );
    assert!(!password_is(&w, "something else").await);
    // ...and it shows nowhere: not in output, not in the state store.
    for o in [&plan, &apply, &again, &drift] {
        assert!(!both(o).contains(PASSWORD));
    }
    let store = std::fs::read(w.dir.join("state.db")).expect("state store");
    assert!(!String::from_utf8_lossy(&store).contains(PASSWORD));
    w.finish().await;
}

#[tokio::test]
async fn drift_is_reported_and_hazards_need_allow() {
    let w = World::new("apply_hazard").await;
    w.write(1, "active");
    let apply = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&apply, 0);

    // A column added out of band is drift; removing it deletes data.
    w.db.exec("alter table app.t0 add column extra integer")
        .await;
    let drift = w.run(&["drift", &m(&w), "--format", "json"]);
    code(&drift, 2);
    let json: serde_json::Value = serde_json::from_slice(&drift.stdout).expect("JSON plan");
    assert_eq!(json["changes"][0]["address"], "postgres.table.app.t0");

    let refused = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&refused, 4);
    assert!(
        text(&refused.stderr).contains("--allow DELETES_DATA"),
        "{}",
        both(&refused)
    );
    let kept: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.columns where table_schema = 'app' and column_name = 'extra'",
    )
    .fetch_one(&w.db.pool)
    .await
    .expect("count");
    assert_eq!(kept, 1, "a refused apply changed the database");

    let allowed = w.run(&["apply", &m(&w), "--auto-approve", "--allow", "DELETES_DATA"]);
    code(&allowed, 0);
    let drift = w.run(&["drift", &m(&w)]);
    code(&drift, 0);

    // Without --auto-approve and off a terminal, nothing is applied.
    w.write(2, "active");
    let asked = w.run(&["apply", &m(&w)]);
    code(&asked, 1);
    assert!(
        text(&asked.stderr).contains("--auto-approve"),
        "{}",
        both(&asked)
    );
    assert_eq!(w.tables().await, 1);

    // A suspended tenant is refused before anything is read.
    w.write(2, "suspended");
    let suspended = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&suspended, 4);
    assert!(text(&suspended.stderr).contains("suspended"));
    assert_eq!(w.tables().await, 1);
    w.finish().await;
}

#[tokio::test]
async fn saved_plans_apply_only_while_fresh() {
    let w = World::new("apply_saved").await;
    w.write(2, "active");
    let file = w.dir.join("plan.json");
    let f = file.display().to_string();
    let plan = w.run(&["plan", &m(&w), "-o", &f]);
    code(&plan, 0);

    // The live state changes after the plan was made: the saved plan is stale.
    w.db.exec("create schema app; create table app.t0 (id bigint primary key)")
        .await;
    let stale = w.run(&["apply", &f]);
    code(&stale, 4);
    assert!(text(&stale.stderr).contains("stale"), "{}", both(&stale));
    assert_eq!(w.tables().await, 1);

    // Planned again, it applies without a question (the plan file was the review).
    let plan = w.run(&["plan", &m(&w), "-o", &f]);
    code(&plan, 0);
    // The hazard gate still holds for a saved plan: the index on the existing table needs an allow.
    let gated = w.run(&["apply", &f]);
    code(&gated, 4);
    let apply = w.run(&["apply", &f, "--allow", "LOCKS_TABLE"]);
    code(&apply, 0);
    assert_eq!(w.tables().await, 2);

    // A plan made against a file is not applied to live systems.
    let offline = w.dir.join("offline.json");
    let o = w.run(&[
        "plan",
        &m(&w),
        "--against",
        &m(&w),
        "-o",
        &offline.display().to_string(),
    ]);
    code(&o, 0);
    let refused = w.run(&["apply", &offline.display().to_string()]);
    code(&refused, 4);
    w.finish().await;
}

#[tokio::test]
async fn a_held_lock_exits_3_naming_its_holder() {
    use falconer::state::{Owner, State};
    let w = World::new("apply_lock").await;
    w.write(1, "active");
    let state = State::open(&w.state_url()).await.expect("state");
    let other = Owner {
        name: "ci-job-17".into(),
        host: "runner-elsewhere".into(),
        pid: 99,
        scope: String::new(),
    };
    state
        .locks()
        .lock("acme", &other, Duration::from_secs(600))
        .await
        .expect("locks");

    let locked = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&locked, 3);
    let err = text(&locked.stderr);
    assert!(
        err.contains("ci-job-17") && err.contains("runner-elsewhere"),
        "{err}"
    );
    assert_eq!(w.tables().await, 0);

    let list = w.run(&["lock", "list"]);
    assert!(
        text(&list.stdout).starts_with("TENANT\tSTATUS\t")
            && text(&list.stdout)
                .lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("acme\theld\t")),
        "{}",
        both(&list)
    );
    let broken = w.run(&["lock", "break", "acme"]);
    code(&broken, 0);
    let apply = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&apply, 0);
    // The run released its lock.
    assert!(
        state
            .locks()
            .lock_of("acme")
            .await
            .expect("reads")
            .is_none()
    );
    w.finish().await;
}

/// A role's password cannot be read back from the server; falconer records the fingerprint of what it set,
/// so a rotated password plans as a change and is applied. Role attributes update in place.
#[tokio::test]
async fn rotated_passwords_and_role_attributes_are_applied() {
    let w = World::new("apply_rotate").await;
    w.write(1, "active");
    let apply = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&apply, 0);
    const ROTATED: &str = "rotated-Pa55-for-apply-tests";
    let plan = w.run_with(&["plan", &m(&w), "--detailed-exitcode"], ROTATED);
    code(&plan, 2);
    assert!(text(&plan.stdout).contains("password"), "{}", both(&plan));
    let rotate = w.run_with(&["apply", &m(&w), "--auto-approve"], ROTATED);
    code(&rotate, 0);
    for o in [&plan, &rotate] {
        assert!(!both(o).contains(ROTATED) && !both(o).contains(PASSWORD));
    }
    assert!(
        password_is(&w, ROTATED).await,
        "the password was not rotated"
    );
    assert!(
        !password_is(&w, PASSWORD).await,
        "the old password is still set"
    );
    let again = w.run_with(&["plan", &m(&w), "--detailed-exitcode"], ROTATED);
    code(&again, 0);

    // Attributes and comment in place.
    let path = w.dir.join("manifest/db.toml");
    let body = std::fs::read_to_string(&path).expect("manifest").replacen(
        "login = true\n",
        "login = true\nconnection_limit = 7\ncomment = \"the app's role\"\n",
        1,
    );
    std::fs::write(&path, body).expect("manifest");
    let update = w.run_with(&["apply", &m(&w), "--auto-approve"], ROTATED);
    code(&update, 0);
    let limit: i32 = sqlx::query_scalar("select rolconnlimit from pg_roles where rolname = $1")
        .bind(&w.role)
        .fetch_one(&w.db.pool)
        .await
        .expect("role");
    assert_eq!(limit, 7);
    let again = w.run_with(&["plan", &m(&w), "--detailed-exitcode"], ROTATED);
    code(&again, 0);
    // Without the password at hand, nothing is planned for it (unknown is not a change).
    let unset = w
        .command(&["plan", &m(&w), "--detailed-exitcode"])
        .env_remove("APPLY_TEST_PASSWORD")
        .output()
        .expect("runs");
    code(&unset, 0);
    w.finish().await;
}

/// Connections come from a profile file (never from the manifest): `[postgres] url` and a password from a
/// secret reference. Problems in the profile name the file, line and column.
#[tokio::test]
async fn connections_come_from_a_profile() {
    let w = World::new("apply_profile").await;
    w.write(1, "active");
    let profile = w.dir.join("profile.toml");
    std::fs::write(w.dir.join("pg-password"), "from-a-file\n").expect("password file");
    std::fs::write(
        &profile,
        format!(
            "[postgres]\nurl = \"{}\"\npassword = {{ file = \"pg-password\" }}\n",
            w.db.url
        ),
    )
    .expect("profile");
    let p = profile.display().to_string();
    let plan = w
        .command(&["plan", &m(&w), "--profile", &p, "--detailed-exitcode"])
        .env_remove("FALCONER_POSTGRES_URL")
        .output()
        .expect("runs");
    code(&plan, 2);
    assert!(
        text(&plan.stdout).contains("+ postgres.table.app.t0"),
        "{}",
        both(&plan)
    );

    // Neither a profile nor the variable: the error says what to set.
    let none = w
        .command(&["plan", &m(&w)])
        .env_remove("FALCONER_POSTGRES_URL")
        .output()
        .expect("runs");
    code(&none, 1);
    assert!(
        text(&none.stderr).contains("FALCONER_POSTGRES_URL"),
        "{}",
        both(&none)
    );

    // A typo in the profile is located.
    std::fs::write(
        &profile,
        "[postgres]\nurl = \"postgres://x@127.0.0.1/db\"\npasword = \"x\"\n",
    )
    .expect("profile");
    let typo = w
        .command(&["plan", &m(&w), "--profile", &p])
        .output()
        .expect("runs");
    code(&typo, 1);
    let err = text(&typo.stderr);
    assert!(
        err.contains(&format!("{p}:3:1")) && err.contains("pasword"),
        "{err}"
    );

    // An unreadable password file is named, and nothing is tried.
    std::fs::write(
        &profile,
        format!(
            "[postgres]\nurl = \"{}\"\npassword = {{ file = \"missing\" }}\n",
            w.db.url
        ),
    )
    .expect("profile");
    let missing = w
        .command(&["apply", &m(&w), "--profile", &p, "--auto-approve"])
        .output()
        .expect("runs");
    code(&missing, 1);
    assert!(
        text(&missing.stderr).contains("file:missing"),
        "{}",
        both(&missing)
    );
    assert_eq!(w.tables().await, 0);
    w.finish().await;
}

/// A change the server refuses at apply time (a unique index over duplicate rows) rolls back the whole
/// domain: the other changes of the run are not applied either, the error names the statement, and the
/// journal records the failure.
#[tokio::test]
async fn a_refused_change_applies_nothing() {
    let w = World::new("apply_refused").await;
    w.write(1, "active");
    let apply = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&apply, 0);
    w.db.exec("insert into app.t0 (id, note) values (1, 'same'), (2, 'same')")
        .await;

    w.write(2, "active");
    let path = w.dir.join("manifest/db.toml");
    let mut body = std::fs::read_to_string(&path).expect("manifest");
    body.push_str(
        "\n[[postgres.index]]\nname = \"t0_note_unique\"\nschema = \"app\"\ntable = \"t0\"\nunique = true\ncolumns = [\"note\"]\n",
    );
    std::fs::write(&path, body).expect("manifest");
    let refused = w.run(&["apply", &m(&w), "--auto-approve", "--allow", "LOCKS_TABLE"]);
    code(&refused, 1);
    let err = text(&refused.stderr);
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(err.contains("create unique index"), "{err}");
    // t1 was planned in the same run and is not there.
    assert_eq!(w.tables().await, 1);
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("state");
    assert!(
        state
            .locks()
            .lock_of("acme")
            .await
            .expect("reads")
            .is_none(),
        "the lock was not released"
    );
    w.finish().await;
}

/// A lock whose process is gone is broken only where its pid means the same process: same host name,
/// boot and pid namespace. Another container with the same host name keeps its lock.
#[tokio::test]
async fn a_dead_holder_is_recognized_only_in_its_own_pid_namespace() {
    use falconer::state::{Owner, State};
    let w = World::new("apply_dead").await;
    w.write(1, "active");
    let state = State::open(&w.state_url()).await.expect("state");
    let mut gone = Command::new("true").spawn().expect("spawns");
    let dead_pid = i64::from(gone.id());
    gone.wait().expect("exits");
    let me = Owner::current();
    let elsewhere = Owner {
        pid: dead_pid,
        scope: "another-boot/pid:[1]".into(),
        ..me.clone()
    };
    state
        .locks()
        .lock("acme", &elsewhere, Duration::from_secs(600))
        .await
        .expect("locks");
    let kept = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&kept, 3);
    assert_eq!(w.tables().await, 0);

    state.locks().break_lock("acme").await.expect("breaks");
    let here = Owner {
        pid: dead_pid,
        ..me
    };
    state
        .locks()
        .lock("acme", &here, Duration::from_secs(600))
        .await
        .expect("locks");
    let taken = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&taken, 0);
    assert!(
        text(&taken.stderr).contains("no longer runs"),
        "{}",
        both(&taken)
    );
    assert_eq!(w.tables().await, 1);
    w.finish().await;
}

/// Two applies of one tenant at once: the first is held inside its transaction (the test creates a table
/// it creates, and keeps that open), so it holds the lock for certain while the second runs; the second exits 3
/// naming it and touches nothing; released, the first converges.
#[tokio::test]
async fn a_second_concurrent_apply_exits_3() {
    let w = World::new("apply_concurrent").await;
    w.write(40, "active");
    w.db.exec("create schema app").await;
    let blocker = w.block("t0").await;
    let mut first = w
        .command(&["apply", &m(&w), "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    assert!(
        w.until_waiting(&mut first).await,
        "the first apply waits inside its transaction"
    );
    let pid = first.id();
    let second = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&second, 3);
    let err = text(&second.stderr);
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(
        !text(&second.stdout).contains("Applied:"),
        "{}",
        both(&second)
    );
    blocker.rollback().await.expect("rolls back");
    let first = first.wait_with_output().expect("waits");
    code(&first, 0);
    assert_eq!(w.tables().await, 40);
    w.finish().await;
}

/// Kills `apply` with SIGKILL inside its transaction, at twelve statements: each time the test holds the
/// creation of one table (`block`), waits until the apply waits on it, kills the apply, and lets go. The
/// database then holds nothing of the change (one transaction), no lock of the killed run stands in the way,
/// and the next apply completes the work.
#[tokio::test]
async fn killed_applies_leave_all_or_nothing_and_the_next_run_converges() {
    let w = World::new("apply_crash").await;
    w.write(12, "active");
    w.db.exec("create schema app").await;
    for i in 0..12 {
        let blocker = w.block(&format!("t{i}")).await;
        let mut child = w
            .command(&["apply", &m(&w), "--auto-approve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns");
        assert!(
            w.until_waiting(&mut child).await,
            "kill point {i}: the apply reaches the blocked table"
        );
        child.kill().expect("kills");
        child.wait().expect("reaped");
        blocker.rollback().await.expect("rolls back");
        assert_eq!(w.tables().await, 0, "kill point {i}: a half-applied change");
    }
    let last = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&last, 0);
    assert!(
        text(&last.stderr).contains("did not finish"),
        "the killed runs are noted: {}",
        both(&last)
    );
    assert_eq!(w.tables().await, 12);
    // The journal shows no run still running: the killed ones were marked as resumed.
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("state");
    assert_eq!(
        state.runs().unfinished_runs("acme").await.expect("runs"),
        vec![]
    );
    let again = w.run(&["plan", &m(&w), "--detailed-exitcode"]);
    code(&again, 0);
    // A run killed after its last step, before it recorded its end: the next apply has nothing to change,
    // and sees it through all the same.
    state
        .runs()
        .start_run("acme", "digest")
        .await
        .expect("a run");
    let noop = w.run(&["apply", &m(&w), "--auto-approve"]);
    code(&noop, 0);
    assert!(
        text(&noop.stderr).contains("did not finish"),
        "{}",
        both(&noop)
    );
    assert_eq!(
        state.runs().unfinished_runs("acme").await.expect("runs"),
        vec![]
    );
    w.finish().await;
}

/// On a cluster that requires SCRAM-SHA-256 for every TCP connection, the role falconer created logs in
/// with the manifest's password, not with another; after a rotation, with the new one only. The password
/// shows in no output.
#[tokio::test]
async fn a_role_logs_in_with_its_password_where_scram_is_required() {
    use sqlx::Connection;
    let dir = std::env::temp_dir().join(format!("falconer-scram-{}", std::process::id()));
    let (_server, url) =
        crate::deaths::postgres_cluster_with(&dir.join("pg"), Some("super-Pa55-scram"));
    let w = Workdir::new(
        "apply",
        "scram",
        vec![
            ("FALCONER_POSTGRES_URL".to_string(), url.clone()),
            ("APPLY_TEST_PASSWORD".to_string(), PASSWORD.to_string()),
        ],
    );
    w.write(
        "db.toml",
        "[tenant]\nid = \"acme\"\n\n[[postgres.role]]\nname = \"app_login\"\nlogin = true\npassword = { env = \"APPLY_TEST_PASSWORD\" }\n",
    );
    let o = w.apply(&[]);
    code(&o, 0);
    assert!(!both(&o).contains(PASSWORD));
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("a port");
    let login = |password: &str| {
        let url = format!("postgres://app_login:{password}@127.0.0.1:{port}/postgres");
        async move { sqlx::PgConnection::connect(&url).await.map(|_| ()) }
    };
    login(PASSWORD)
        .await
        .expect("the role logs in with its password");
    let e = login("not-the-password")
        .await
        .expect_err("another password is refused");
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );
    let rotated = "rotated-Pa55-for-scram";
    let o = w
        .command(&["apply", &w.manifest(), "--auto-approve"])
        .env("APPLY_TEST_PASSWORD", rotated)
        .output()
        .expect("runs");
    code(&o, 0);
    login(rotated).await.expect("the rotated password logs in");
    assert!(
        login(PASSWORD).await.is_err(),
        "the old password no longer does"
    );

    // falconer's own password may come from a command in the profile (run without a shell); the URL then
    // carries none. A command that fails is a clear error naming what it was for.
    let profile = w.dir.join("profile.toml");
    let bare = url.replace(":super-Pa55-scram@", "@");
    let plan_with = |command: &str| {
        std::fs::write(
            &profile,
            format!("[postgres]\nurl = \"{bare}\"\npassword = {{ command = {command} }}\n"),
        )
        .expect("writes the profile");
        w.command(&[
            "plan",
            &w.manifest(),
            "--profile",
            &profile.display().to_string(),
            "--detailed-exitcode",
        ])
        .env_remove("FALCONER_POSTGRES_URL")
        .env("APPLY_TEST_PASSWORD", rotated)
        .output()
        .expect("runs")
    };
    let o = plan_with(r#"["sh", "-c", "printf 'super-Pa55-scram\n'"]"#);
    code(&o, 0);
    assert!(!both(&o).contains("super-Pa55-scram"), "{}", both(&o));
    let o = plan_with(r#"["sh", "-c", "echo 'vault: permission denied' >&2; exit 2"]"#);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    let out = both(&o);
    assert!(
        out.contains("PostgreSQL password") && out.contains("vault: permission denied"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&w.dir);
}
