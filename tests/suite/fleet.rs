//! Fleets (docs/fleets.md): `examples/fleet` applied to the suite's servers and doubles, then drifted as one
//! run: two tenants changed behind falconer's back and one whose Kafka is unreachable are reported as such in
//! text, JSON Lines, the report, JUnit and Markdown, with exit 5; a second run says `still drifted`. Shards
//! over a shared PostgreSQL state store cover every tenant once.

use serde_json::Value;

use crate::support::{TestDb, Workdir, code, conforms, text};

/// The example fleet's directory.
fn example_fleet() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet")
}

/// The example fleet's tenant ids.
fn fleet_ids() -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(example_fleet())
        .expect("examples/fleet")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".toml").map(str::to_string)
        })
        .collect();
    ids.sort();
    ids
}

/// Each tenant's block of a fleet's apply or backup (from its `── PATH` heading to the next) is there once,
/// holds `done` (when given) and names no other tenant: grouped, never interleaved.
fn blocks_are_whole(out: &str, ids: &[String], done: &str) {
    let blocks: Vec<&str> = out.split("── ").skip(1).collect();
    assert_eq!(blocks.len(), ids.len(), "a block per tenant: {out}");
    let mut seen = Vec::new();
    for b in blocks {
        let head = b.lines().next().unwrap_or_default();
        let id = ids
            .iter()
            .find(|id| head.ends_with(&format!("/{id}.toml")))
            .unwrap_or_else(|| panic!("a tenant's heading: {head}"));
        seen.push(id.clone());
        assert!(b.contains(done), "{id}: {b}");
        for other in ids.iter().filter(|o| *o != id) {
            assert!(
                !b.contains(&format!("`{other}`")),
                "{id}'s block names {other}: {b}"
            );
        }
    }
    seen.sort();
    assert_eq!(seen, ids, "every tenant once");
}

/// Copies the state store (SQLite with its write-ahead log) while no process uses it.
fn copy_state(w: &Workdir, to: &std::path::Path) -> String {
    for suffix in ["", "-wal", "-shm"] {
        let from = w.dir.join(format!("state.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, to.join(format!("state.db{suffix}"))).expect("copies");
        }
    }
    format!("sqlite:{}", to.join("state.db").display())
}

/// The events of a JSON Lines output, checked line by line.
fn events(stdout: &[u8]) -> Vec<Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Each tenant's status in a run's events.
fn statuses(events: &[Value]) -> std::collections::BTreeMap<String, String> {
    events
        .iter()
        .filter(|e| e["event"] == "tenant_result")
        .map(|e| {
            (
                e["tenant"].as_str().unwrap_or_default().to_string(),
                e["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Bucket names are global on the suite's one S3 server: the tests that apply the example fleet take turns.
static FLEET_BUCKETS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_drifts_in_every_format_with_history() {
    let _buckets = FLEET_BUCKETS.lock().await;
    let s = crate::support::servers("fleet", "fleet-01").await;
    let db = &s.db;
    let w = Workdir::new("fleet", "drift", s.env.clone());
    let ids = fleet_ids();
    assert!(ids.len() >= 20, "a few dozen tenants: {ids:?}");
    let fleet = example_fleet().display().to_string();
    // The whole fleet applied in one run (each tenant's clients are public: an access hazard allowed).
    // Four tenants at once (the default), each by a process of its own, its output printed whole.
    let o = w.run(&[
        "apply",
        &fleet,
        "--auto-approve",
        "--allow",
        "WIDENS_ACCESS",
    ]);
    code(&o, 0);
    let out = text(&o.stdout);
    let rollup = format!(
        "falconer apply: {n} tenant(s)\n  applied          {n:>5}\n",
        n = ids.len()
    );
    assert!(out.contains(&rollup), "{out}");
    assert!(!out.contains("not applied"), "{out}");
    blocks_are_whole(&out, &ids, "Applied: ");
    // Each tenant backed up in one run, the tenant taken from each manifest (the OpenWhisk double's key
    // serves fleet-01's namespace only: functions are left out).
    let repo = format!("file:{}", w.dir.join("backups").display());
    let mut args = vec!["backup", "create", "--manifest", &fleet, "--repo", &repo];
    for d in ["iam", "postgres", "mongo", "kafka", "storage"] {
        args.extend(["--domain", d]);
    }
    args.extend(["--parallelism", "3"]);
    let o = w.run(&args);
    code(&o, 0);
    let rollup = format!(
        "falconer backup create: {n} tenant(s)\n  backed up        {n:>5}\n",
        n = ids.len()
    );
    assert!(text(&o.stdout).contains(&rollup), "{}", text(&o.stdout));
    blocks_are_whole(&text(&o.stdout), &ids, "");
    let o = w.run(&["backup", "list", "--json", "--repo", &repo]);
    code(&o, 0);
    let listed: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let mut backed: Vec<String> = listed
        .as_array()
        .expect("backups")
        .iter()
        .map(|b| b["tenant"].as_str().unwrap_or_default().to_string())
        .collect();
    backed.sort();
    assert_eq!(backed, ids);

    // Every tenant is in sync, and the first check records it.
    let o = w.run(&["drift", &fleet, "--json"]);
    code(&o, 0);
    let first = statuses(&events(&o.stdout));
    assert_eq!(first.len(), ids.len());
    assert!(first.values().all(|s| s == "in_sync"), "{first:?}");

    // Two tenants are changed behind falconer's back; a third's Kafka is unreachable (its group's profile).
    let pg = sqlx::PgPool::connect(&db.url).await.expect("PostgreSQL");
    for sql in [
        "alter table fleet_02.items_1 add column note text",
        "drop index fleet_03.items_1_name_idx",
        // Not drift (no kind manages text search configurations): the check says it is not carried.
        "create text search configuration fleet_05.orphan_ts (copy = pg_catalog.simple)",
    ] {
        sqlx::query(sql).execute(&pg).await.expect(sql);
    }
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let dead_port = dead.local_addr().expect("an address").port();
    drop(dead);
    std::fs::write(
        w.dir.join("far.toml"),
        format!("[kafka]\nurl = \"127.0.0.1:{dead_port}\"\n"),
    )
    .expect("writes the profile");
    let others: Vec<String> = ids
        .iter()
        .filter(|i| *i != "fleet-04")
        .map(|i| format!("\"{fleet}/{i}.toml\""))
        .collect();
    std::fs::write(
        w.dir.join("fleet.toml"),
        format!(
            "[[group]]\nname = \"main\"\ntenants = [{}]\n\n[[group]]\nname = \"far\"\nprofile = \"far.toml\"\ntenants = [\"{fleet}/fleet-04.toml\"]\n",
            others.join(", ")
        ),
    )
    .expect("writes the fleet file");
    let fleet_file = w.dir.join("fleet.toml").display().to_string();

    // The same run, from the same history, once in text (with the report, JUnit and Markdown files) and
    // once as JSON Lines.
    let copy = w.dir.join("copy");
    std::fs::create_dir_all(&copy).expect("a directory");
    let copied = copy_state(&w, &copy);
    let (report, junit, md) = (
        w.dir.join("report.json"),
        w.dir.join("junit.xml"),
        w.dir.join("summary.md"),
    );
    let o = w.run(&[
        "drift",
        &fleet_file,
        "--report",
        &report.display().to_string(),
        "--junit",
        &junit.display().to_string(),
        "--markdown",
        &md.display().to_string(),
    ]);
    code(&o, 5);
    let out = text(&o.stdout);
    let err = text(&o.stderr);
    // The roll-up: a row per status, the tenants of those that need attention.
    for row in [
        "  could not check      1  fleet-04\n",
        "  new drift            2  fleet-02 (1), fleet-03 (1)\n",
        "  in sync             21\n",
    ] {
        assert!(out.contains(row), "the roll-up has {row:?}: {out}");
    }
    // Blocks in the fleet file's order (the main group, then fleet-04's), whichever finished first.
    let order: Vec<usize> = ids
        .iter()
        .filter(|i| *i != "fleet-04")
        .chain(std::iter::once(&"fleet-04".to_string()))
        .filter_map(|i| out.find(&format!("── {i} · ")))
        .collect();
    assert_eq!(order.len(), ids.len(), "{out}");
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
    // Problems, warnings and notes on standard error, under the tenant's id; none on standard output.
    let not_carried = "postgres: 1 object(s) of the tenant's scope not carried (no kind manages them; the plan neither changes nor deletes them): 1 text search configuration";
    assert!(err.contains(not_carried), "{err}");
    assert!(!out.contains(not_carried), "{out}");
    assert!(
        out.contains("── fleet-04 · ") && err.contains("fleet-04: error: kafka:"),
        "{out}\n{err}"
    );
    let mut j = w.command(&["drift", &fleet_file, "--json"]);
    j.env("FALCONER_STATE", &copied);
    let o = j.output().expect("runs");
    code(&o, 5);
    let ev = events(&o.stdout);
    assert_eq!(ev[0]["event"], "start");
    assert_eq!(ev[0]["format_version"], 1);
    assert_eq!(ev.last().expect("events")["event"], "summary");
    assert_eq!(ev.last().expect("events")["exit_code"], 5);
    for e in &ev {
        conforms("schemas/fleet-event.schema.json", e);
    }
    let st = statuses(&ev);
    assert_eq!(st.len(), ids.len());
    assert_eq!(st["fleet-02"], "new_drift");
    assert_eq!(st["fleet-03"], "new_drift");
    assert_eq!(st["fleet-04"], "could_not_check");
    let rest = st
        .iter()
        .filter(|(t, _)| !["fleet-02", "fleet-03", "fleet-04"].contains(&t.as_str()));
    assert!(rest.clone().all(|(_, s)| s == "in_sync"), "{st:?}");
    assert!(
        ev.iter()
            .any(|e| e["event"] == "error" && e["tenant"] == "fleet-04" && e["domain"] == "kafka")
    );
    assert!(ev.iter().any(|e| e["event"] == "change"
        && e["tenant"] == "fleet-03"
        && e["address"] == "postgres.index.fleet_03.items_1_name_idx"
        && e["action"] == "create"));

    // The report says the same.
    let r: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("the report")).expect("JSON");
    conforms("schemas/fleet-report.schema.json", &r);
    assert_eq!(r["summary"]["by_status"]["new_drift"], 2);
    assert_eq!(r["summary"]["by_status"]["could_not_check"], 1);
    assert_eq!(r["summary"]["exit_code"], 5);
    let t = |id: &str| {
        r["tenants"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["tenant"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} in the report"))
    };
    assert_eq!(t("fleet-02")["status"], "new_drift");
    assert_eq!(t("fleet-02")["previous"], "in_sync");
    assert_eq!(t("fleet-04")["group"], "far");

    // JUnit: a failure for each drifted domain, an error for the unreachable system.
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
    assert_eq!(parsed.test_suites.len(), ids.len());
    let case = |suite: &str, case: &str| {
        let s = parsed
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == suite)
            .unwrap_or_else(|| panic!("suite {suite}"));
        s.test_cases
            .iter()
            .find(|c| c.name.as_str() == case)
            .unwrap_or_else(|| panic!("{suite}: case {case}"))
            .status
            .clone()
    };
    use quick_junit::{NonSuccessKind, TestCaseStatus};
    let kind = |s: TestCaseStatus| match s {
        TestCaseStatus::NonSuccess { kind, .. } => Some(kind),
        _ => None,
    };
    assert_eq!(
        kind(case("fleet-02", "postgres")),
        Some(NonSuccessKind::Failure)
    );
    assert_eq!(kind(case("fleet-02", "mongo")), None);
    assert_eq!(kind(case("fleet-04", "kafka")), Some(NonSuccessKind::Error));
    assert_eq!(kind(case("fleet-05", "postgres")), None);

    // Markdown: the marker, the counts, only the tenants that need attention.
    let md = std::fs::read_to_string(&md).expect("the Markdown");
    assert!(md.starts_with("<!-- falconer:drift -->\n"), "{md}");
    assert!(
        md.contains("1 could not check · 2 new drift · 21 in sync"),
        "{md}"
    );
    for id in ["fleet-02", "fleet-03", "fleet-04"] {
        assert!(md.contains(&format!("<code>{id}</code>")), "{id}: {md}");
    }
    assert!(!md.contains("<code>fleet-05</code>"), "{md}");

    // The next check: still drifted; `--fail-on new` does not fail on old drift (Kafka reachable again).
    let o = w.run(&["drift", &fleet, "--json", "--fail-on", "new"]);
    code(&o, 0);
    let st = statuses(&events(&o.stdout));
    assert_eq!(st["fleet-02"], "still_drifted");
    assert_eq!(st["fleet-03"], "still_drifted");
    assert_eq!(st["fleet-04"], "in_sync");
    let o = w.run(&["drift", &fleet]);
    code(&o, 2);
    assert!(
        text(&o.stdout).contains("  still drifted        2  fleet-02 (1), fleet-03 (1)\n"),
        "{}",
        text(&o.stdout)
    );
    // The same as a comment on standard output: the marker, the counts, the drifted tenants.
    let o = w.run(&["drift", &fleet, "--format", "markdown"]);
    code(&o, 2);
    let md = text(&o.stdout);
    assert!(md.starts_with("<!-- falconer:drift -->\n"), "{md}");
    assert!(
        md.contains("2 still drifted") && md.contains("<code>fleet-02</code>"),
        "{md}"
    );

    // Fixed: resolved, once.
    let m = example_fleet().join("fleet-03.toml").display().to_string();
    code(
        &w.run(&["apply", &m, "--auto-approve", "--allow", "LOCKS_TABLE"]),
        0,
    );
    let st = statuses(&events(&w.run(&["drift", &fleet, "--json"]).stdout));
    assert_eq!(st["fleet-03"], "resolved");
    let st = statuses(&events(&w.run(&["drift", &fleet, "--json"]).stdout));
    assert_eq!(st["fleet-03"], "in_sync");

    shards_cover_the_fleet_once(&w, &fleet, &ids).await;
    pg.close().await;
    s.db.drop().await;
}

/// Four jobs, `--shard 1/4` … `4/4`, at once on one PostgreSQL state store: every tenant is checked by
/// exactly one of them, and the store's drift history has each tenant once.
async fn shards_cover_the_fleet_once(w: &Workdir, fleet: &str, ids: &[String]) {
    let store = TestDb::new("fleet_state").await;
    let jobs: Vec<_> = (1..=4)
        .map(|k| {
            let report = w.dir.join(format!("shard-{k}.json"));
            let mut c = w.command(&[
                "drift",
                fleet,
                "--shard",
                &format!("{k}/4"),
                "--report",
                &report.display().to_string(),
            ]);
            c.env("FALCONER_STATE", &store.url);
            c.stdout(std::process::Stdio::piped());
            c.stderr(std::process::Stdio::piped());
            (report, c.spawn().expect("starts"))
        })
        .collect();
    let mut seen: Vec<String> = Vec::new();
    for (report, child) in jobs {
        let o = child.wait_with_output().expect("runs");
        // fleet-02 is still drifted: the job that has it exits 2, the others 0.
        assert!(
            matches!(o.status.code(), Some(0 | 2)),
            "{}",
            crate::support::both(&o)
        );
        let r: Value =
            serde_json::from_slice(&std::fs::read(&report).expect("the report")).expect("JSON");
        let tenants = r["tenants"].as_array().expect("tenants");
        assert!(!tenants.is_empty(), "each share has tenants of 24");
        seen.extend(
            tenants
                .iter()
                .map(|t| t["tenant"].as_str().unwrap_or_default().to_string()),
        );
    }
    seen.sort();
    assert_eq!(seen, ids, "every tenant exactly once");
    let recorded: i64 = sqlx::query_scalar("select count(distinct tenant) from falconer_drift")
        .fetch_one(&store.pool)
        .await
        .expect("the drift history");
    assert_eq!(recorded, 24);
    store.drop().await;
}

/// The falconer command lines of a CI file, in order: every line that runs `falconer plan|apply|drift` or
/// `falconer report merge`
/// (YAML keys other than `run:`, and comments, are not commands).
fn ci_commands(file: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).expect(file);
    let runs = |l: &str| {
        [
            "falconer plan ",
            "falconer apply ",
            "falconer drift ",
            "falconer report merge ",
        ]
        .iter()
        .any(|c| l.contains(c))
    };
    text.lines()
        .map(|l| {
            l.trim()
                .trim_start_matches("- ")
                .trim_start_matches("run: ")
        })
        .filter(|l| !l.starts_with('#') && runs(l))
        .filter(|l| {
            let key = l.split_once(": ").map(|(k, _)| k);
            key.is_none_or(|k| k.contains(' ') || k.contains('['))
        })
        .map(str::to_string)
        .collect()
}

/// Runs the CI file's command lines in a shell, as the CI system would: each must succeed. `shards` are
/// the values a matrix (or parallel job) gives a line that names `shard`.
fn run_ci_file(
    w: &Workdir,
    file: &str,
    shard_line: impl Fn(&str, usize) -> (String, Vec<(String, String)>),
) {
    let lines = ci_commands(file);
    for verb in ["plan", "apply", "drift", "report merge"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("falconer {verb} "))),
            "{file} runs `falconer {verb}`: {lines:?}"
        );
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_falconer"))
        .parent()
        .expect("the binary's directory")
        .display()
        .to_string();
    let base = w.command(&[]);
    for line in &lines {
        let runs: Vec<(String, Vec<(String, String)>)> = if line.contains("shard") {
            (1..=4).map(|k| shard_line(line, k)).collect()
        } else {
            vec![(line.clone(), Vec::new())]
        };
        for (cmd, extra) in runs {
            let mut sh = std::process::Command::new("sh");
            sh.args(["-c", &cmd]).current_dir(&w.dir);
            for (k, v) in base.get_envs() {
                if let Some(v) = v {
                    sh.env(k, v);
                }
            }
            let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
            sh.env("PATH", path).envs(extra);
            let o = sh.output().expect("runs a shell");
            code(&o, 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ci_examples_run_against_the_example_fleet() {
    let _buckets = FLEET_BUCKETS.lock().await;
    let ids = fleet_ids();
    for file in [
        "examples/ci/github-actions.yml",
        "examples/ci/gitlab-ci.yml",
    ] {
        let s = crate::support::servers("fleet_ci", "fleet-01").await;
        let w = Workdir::new("fleet-ci", "ci", s.env.clone());
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
            w.dir.join("examples"),
        )
        .expect("links the examples");
        let github = file.contains("github");
        run_ci_file(&w, file, |line, k| {
            if github {
                (
                    line.replace("${{ matrix.shard }}", &k.to_string()),
                    Vec::new(),
                )
            } else {
                let env = vec![
                    ("CI_NODE_INDEX".to_string(), k.to_string()),
                    ("CI_NODE_TOTAL".to_string(), "4".to_string()),
                ];
                (line.replace("drift.", &format!("drift-{k}.")), env)
            }
        });
        // The plan saved a plan per tenant, the apply applied them, and the four drift shards covered the
        // fleet once, every tenant in sync.
        let saved = std::fs::read_dir(w.dir.join("plans"))
            .expect("the saved plans")
            .count();
        assert_eq!(saved, ids.len(), "{file}");
        let md = std::fs::read_to_string(w.dir.join("plan.md")).expect("the plan's Markdown");
        assert!(md.starts_with("<!-- falconer:plan -->\n"), "{md}");
        let mut seen = Vec::new();
        for k in 1..=4 {
            let r: Value = serde_json::from_slice(
                &std::fs::read(w.dir.join(format!("drift-{k}.json"))).expect("a shard's report"),
            )
            .expect("JSON");
            for t in r["tenants"].as_array().expect("tenants") {
                assert_eq!(t["status"], "in_sync", "{file}: {t}");
                seen.push(t["tenant"].as_str().unwrap_or_default().to_string());
            }
        }
        seen.sort();
        assert_eq!(seen, ids, "{file}");
        // The shards joined: one report with every tenant once, one JUnit file, one Markdown comment.
        let merged: Value =
            serde_json::from_slice(&std::fs::read(w.dir.join("drift.json")).expect("merged"))
                .expect("JSON");
        let mut all: Vec<String> = merged["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .map(|t| t["tenant"].as_str().unwrap_or_default().to_string())
            .collect();
        all.sort();
        assert_eq!(all, ids, "{file}");
        assert_eq!(merged["summary"]["exit_code"], 0, "{file}");
        let xml = std::fs::read_to_string(w.dir.join("drift.xml")).expect("JUnit");
        assert!(xml.contains("fleet-01"), "{file}: {xml}");
        let md = std::fs::read_to_string(w.dir.join("drift.md")).expect("Markdown");
        assert!(md.starts_with("<!-- falconer:drift -->"), "{file}: {md}");
        s.db.drop().await;
    }
}

/// `apply` over a fleet, three tenants at once: a tenant the server refuses fails alone (exit 1, named in
/// the roll-up), the others are applied, each block whole, and the run ends partly done (exit 5).
#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_fleet_apply_goes_on_past_a_failed_tenant() {
    let db = TestDb::new("fleet_parallel").await;
    let env = vec![("FALCONER_POSTGRES_URL".to_string(), db.url.clone())];
    let w = Workdir::new("fleet", "parallel", env);
    let ids: Vec<String> = (1..=5).map(|i| format!("par-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let ty = if i == 2 { "no_such_type" } else { "bigint" };
        let schema = id.replace('-', "_");
        w.write(
            &format!("{id}.toml"),
            &format!(
                "[tenant]\nid = \"{id}\"\n\n[[postgres.schema]]\nname = \"{schema}\"\n\n[[postgres.table]]\nname = \"t\"\nschema = \"{schema}\"\ncolumn = [{{ name = \"id\", type = \"{ty}\" }}]\n"
            ),
        );
    }
    let fleet = w.dir.join("manifest").display().to_string();
    let o = w.run(&["apply", &fleet, "--auto-approve", "--parallelism", "3"]);
    code(&o, 5);
    let out = text(&o.stdout);
    assert!(
        out.contains(
            "falconer apply: 5 tenant(s)\n  applied              4\n  not applied          1  "
        ) && out.contains("par-3.toml (exit 1)"),
        "{out}"
    );
    blocks_are_whole(&out, &ids, "");
    for id in ids.iter().filter(|id| *id != "par-3") {
        let m = w.dir.join("manifest").join(format!("{id}.toml"));
        let plan = w.run(&["plan", &m.display().to_string(), "--detailed-exitcode"]);
        code(&plan, 0);
    }
    db.drop().await;
}

/// `--shard auto` takes the runner's job index and count: two GitLab CI jobs (counted from 1) apply a fleet
/// of four between them, each tenant once; a Kubernetes Indexed Job's index (counted from 0) shares a drift
/// run the same way; a runner's index without its count is an error naming the variable.
#[tokio::test]
async fn shard_auto_shares_a_fleet_by_the_runners_job_index() {
    let db = TestDb::new("shard_auto").await;
    let mut w = Workdir::new("fleet", "shard-auto", vec![]);
    w.set_env("FALCONER_POSTGRES_URL", &db.url);
    w.set_env("AGENT_ROLE_PASSWORD", crate::agent::PASSWORD);
    let fleet = w.dir.join("fleet");
    let ids = ["shard-a", "shard-b", "shard-c", "shard-d"];
    let role = |id: &str| format!("shard_{}_{}", std::process::id(), id.replace('-', "_"));
    for id in ids {
        std::fs::create_dir_all(fleet.join(id)).expect("dir");
        std::fs::write(
            fleet.join(id).join("main.toml"),
            crate::agent::tenant(id, &role(id)),
        )
        .expect("writes");
    }
    let fleet = fleet.display().to_string();
    let mut applied = Vec::new();
    for k in ["1", "2"] {
        let mut c = w.command(&["apply", &fleet, "--auto-approve", "--shard", "auto"]);
        no_runner(&mut c)
            .env("CI_NODE_INDEX", k)
            .env("CI_NODE_TOTAL", "2");
        let o = crate::support::bounded(c);
        code(&o, 0);
        assert!(
            text(&o.stderr).contains(&format!("this job's share is {k}/2 (GitLab CI")),
            "{}",
            text(&o.stderr)
        );
        let out = text(&o.stdout);
        applied.extend(
            ids.iter()
                .filter(|id| out.contains(&format!("/{id}")))
                .map(|id| id.to_string()),
        );
    }
    applied.sort();
    assert_eq!(applied, ids, "each tenant applied by one job");

    // Drift: a Kubernetes Indexed Job's two indexes share the fleet as 1/2 and 2/2, all in sync.
    let mut checked = 0;
    for index in ["0", "1"] {
        let mut c = w.command(&["drift", &fleet, "--shard", "auto", "--json"]);
        no_runner(&mut c)
            .env("JOB_COMPLETION_INDEX", index)
            .env("JOB_COMPLETIONS", "2");
        let o = crate::support::bounded(c);
        code(&o, 0);
        let start = events(&o.stdout).into_iter().next().expect("a start event");
        let k = index.parse::<u64>().expect("a number") + 1;
        assert_eq!(start["shard"], format!("{k}/2"), "{start}");
        checked += start["tenants"].as_u64().unwrap_or(0);
    }
    assert_eq!(checked, 4);
    let mut c = w.command(&["drift", &fleet, "--shard", "auto"]);
    no_runner(&mut c).env("JOB_COMPLETION_INDEX", "0");
    let o = crate::support::bounded(c);
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("JOB_COMPLETIONS"),
        "{}",
        text(&o.stderr)
    );
    for id in ids {
        db.exec(&format!("drop role if exists \"{}\"", role(id)))
            .await;
    }
    db.drop().await;
}

/// The command without any runner's job index or count from the test's own environment (a CI runner's).
fn no_runner(c: &mut std::process::Command) -> &mut std::process::Command {
    for r in falconer::fleet::RUNNERS {
        c.env_remove(r.index).env_remove(r.total);
    }
    c
}
