//! `falconer restore` against the real servers (PostgreSQL, MongoDB-wire, Kafka, S3) and the Keycloak and
//! OpenWhisk doubles: a tenant of all six domains backed up, lost, and restored whole (E1) or in part
//! (E2); conflicts refused, kept or overwritten (E3); degraded backups (E4); a system that refuses mid-way
//! (partial, then the re-run completes); a restore while the tenant is locked (EC3); a suspended tenant and
//! another tenant refused; hostile documents refused before anything is written; the report's schema.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::keycloak_double::KeycloakDouble;
use crate::openwhisk_double::OpenWhiskDouble;
use crate::support::{KafkaServer, MongoServer, TestDb, Workdir, both, code};

struct World {
    db: TestDb,
    _mongo: MongoServer,
    kafka: KafkaServer,
    _kc: KeycloakDouble,
    _ow: OpenWhiskDouble,
    w: Workdir,
    /// The tenant (unique per test: buckets share one S3 server).
    t: String,
    repo: String,
}

impl std::ops::Deref for World {
    type Target = Workdir;
    fn deref(&self) -> &Workdir {
        &self.w
    }
}

/// The tenant's manifest: two or more objects in each of the six domains.
fn manifest(t: &str) -> String {
    format!(
        r#"[tenant]
id = "{t}"
[tenant.naming]
realm = "{t}"
postgres_schemas = ["{t}_app"]
mongo_databases = ["{t}"]
kafka_topic_prefix = "{t}."
functions_namespace = "{t}"
bucket_prefix = "{t}-"

[[iam.realm]]
name = "{t}"
display_name = "Tenant {t}"

[[iam.role]]
name = "viewer"
description = "Reads"

[[iam.role]]
name = "editor"
description = "Changes"

[[postgres.schema]]
name = "{t}_app"

[[postgres.table]]
name = "orders"
schema = "{t}_app"
primary_key = {{ columns = ["id"] }}
column = [{{ name = "id", type = "bigint", nullable = false }}, {{ name = "note", type = "text" }}]

[[postgres.table]]
name = "customers"
schema = "{t}_app"
column = [{{ name = "id", type = "bigint", nullable = false }}]

[[mongo.database]]
name = "{t}"

[[mongo.collection]]
name = "events"
database = "{t}"

[[kafka.topic]]
name = "{t}.orders"
partitions = 2
replication_factor = 1

[[kafka.topic]]
name = "{t}.audit"
partitions = 1
replication_factor = 1
config = {{ "retention.ms" = "86400000" }}

[[storage.bucket]]
name = "{t}-files"

[[storage.bucket]]
name = "{t}-exports"
versioning = "enabled"

[[functions.package]]
name = "orders"

[[functions.action]]
name = "notify"
package = "orders"
kind = "nodejs:20"
code = "function main() {{ return {{}}; }}"
"#
    )
}

impl World {
    async fn new(t: &str) -> World {
        World::with(t, |_| Default::default()).await
    }

    /// A world whose Keycloak double is made with these options (which may act on the broker).
    async fn with(
        t: &str,
        kc_options: impl FnOnce(&KafkaServer) -> crate::keycloak_double::Options,
    ) -> World {
        let db = TestDb::new(&format!("rs_{t}")).await;
        let mongo = MongoServer::start().await;
        let kafka = KafkaServer::start().await;
        let kc = KeycloakDouble::start(0, kc_options(&kafka))
            .await
            .expect("the Keycloak double starts");
        let options = crate::openwhisk_double::Options {
            namespace: t.to_string(),
            ..Default::default()
        };
        let ow = OpenWhiskDouble::start(0, options)
            .await
            .expect("the OpenWhisk double starts");
        let endpoint = crate::support::s3_endpoint().await;
        let mut env = vec![
            ("FALCONER_POSTGRES_URL".to_string(), db.url.clone()),
            ("FALCONER_MONGO_URL".to_string(), mongo.url.clone()),
            (
                "FALCONER_KAFKA_BOOTSTRAP".to_string(),
                kafka.bootstrap.clone(),
            ),
            ("FALCONER_S3_ENDPOINT".to_string(), endpoint),
            ("AWS_ACCESS_KEY_ID".to_string(), "AK".to_string()),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                crate::support::S3_SECRET.to_string(),
            ),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ];
        env.extend(kc.env());
        env.extend(ow.env());
        let w = Workdir::new("restore", t, env);
        let repo = format!("file:{}", w.dir.join("repo").display());
        w.write("m.toml", &manifest(t));
        World {
            db,
            _mongo: mongo,
            kafka,
            _kc: kc,
            _ow: ow,
            w,
            t: t.to_string(),
            repo,
        }
    }

    /// Applies the manifest and backs the tenant up; the backup's id.
    fn applied_and_backed_up(&self) -> String {
        code(&self.apply(&["WIDENS_ACCESS", "LOCKS_TABLE"]), 0);
        let o = self.run(&[
            "backup",
            "create",
            "--tenant",
            &self.t,
            "--manifest",
            &self.manifest(),
            "--repo",
            &self.repo,
            "--json",
        ]);
        code(&o, 0);
        let r: Value = serde_json::from_slice(&o.stdout).expect("a record");
        assert!(
            r["domains"]
                .as_array()
                .expect("domains")
                .iter()
                .all(|d| d["status"] == "ok"),
            "{r}"
        );
        assert_eq!(r["domains"].as_array().map(Vec::len), Some(6), "{r}");
        r["id"].as_str().expect("an id").to_string()
    }

    /// `restore SOURCE --tenant T` with `extra`; the output and the report it wrote.
    fn restore(&self, source: &str, extra: &[&str]) -> (std::process::Output, Value) {
        let report = self.dir.join("report.json");
        let _ = std::fs::remove_file(&report);
        let r = report.display().to_string();
        let mut args = vec![
            "restore", source, "--tenant", &self.t, "--repo", &self.repo, "--report", &r,
        ];
        args.extend(extra);
        let o = self.run(&args);
        let report = std::fs::read_to_string(&report)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        (o, report)
    }

    /// Each domain's outcome in a report.
    /// One domain's part of a report (`null` when it has none).
    fn domain(report: &Value, domain: &str) -> Value {
        report["domains"]
            .as_array()
            .and_then(|ds| ds.iter().find(|d| d["domain"] == domain))
            .cloned()
            .unwrap_or_default()
    }

    fn outcomes(report: &Value) -> BTreeMap<String, String> {
        report["domains"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .map(|d| {
                        (
                            d["domain"].as_str().unwrap_or_default().to_string(),
                            d["outcome"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every domain of a report came out unchanged.
    fn nothing_done(report: &Value) {
        assert!(
            World::outcomes(report).values().all(|o| o == "unchanged"),
            "{report}"
        );
    }

    /// Loses the whole tenant by mistake: an apply of the tenant block alone deletes everything falconer
    /// manages in the six domains. The manifest is then put back (for `in_sync`).
    fn lose_everything(&self) {
        let full = manifest(&self.t);
        let block = full
            .split("\n[[")
            .next()
            .expect("the tenant block")
            .to_string();
        self.write("m.toml", &block);
        let o = self.apply(&[
            "DELETES_DATA",
            "WIDENS_ACCESS",
            "LOCKS_TABLE",
            "CHANGES_SIGN_IN",
        ]);
        code(&o, 0);
        assert!(self.plan()["changes"].as_array().is_some_and(Vec::is_empty));
        self.write("m.toml", &full);
    }

    /// The live plan of the manifest has no changes.
    fn in_sync(&self) {
        let o = self.run(&["plan", &self.manifest(), "--detailed-exitcode"]);
        assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    }

    async fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.w.dir);
        self.db.drop().await;
    }
}

const ALL: &[&str] = &["iam", "postgres", "mongo", "kafka", "storage", "functions"];

/// E1: the whole tenant, lost by mistake, comes back from its backup; `--verify` reads it back equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e1_a_full_backup_restores_into_the_emptied_tenant_and_verifies() {
    let w = World::new("rse1").await;
    let id = w.applied_and_backed_up();
    w.lose_everything();

    // The dry run shows what it would create and writes nothing.
    let (o, report) = w.restore(&id, &["--dry-run"]);
    code(&o, 0);
    assert_eq!(report["outcome"], "dry_run", "{report}");
    assert_eq!(report["risk"], "low", "only creates: {report}");
    assert!(report["counts"]["create"].as_u64() >= Some(12), "{report}");
    let out = both(&o);
    assert!(out.contains("to create"), "{out}");
    assert!(
        w.plan()["changes"]
            .as_array()
            .is_some_and(|c| c.len() >= 12)
    );

    let (o, report) = restore_as_predicted(&w, &id, &["--auto-approve", "--verify"]);
    code(&o, 0);
    assert_eq!(report["outcome"], "success", "{report}");
    assert_eq!(report["verified"], true, "{report}");
    let outcomes = World::outcomes(&report);
    for d in ALL {
        assert_eq!(
            outcomes.get(*d).map(String::as_str),
            Some("applied"),
            "{report}"
        );
    }
    w.in_sync();
    // Restoring again finds nothing to do.
    let (o, report) = w.restore("latest", &["--auto-approve"]);
    code(&o, 0);
    World::nothing_done(&report);
    w.finish().await;
}

/// E2: `--domain` restores exactly those domains; the others are reported as not requested and left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2_a_subset_of_domains_restores_exactly_those() {
    let w = World::new("rse2").await;
    let id = w.applied_and_backed_up();
    for subset in [["iam", "postgres"], ["kafka", "storage"]] {
        w.lose_everything();
        let mut args = vec!["--auto-approve"];
        for d in subset {
            args.extend(["--domain", d]);
        }
        let (o, report) = w.restore(&id, &args);
        code(&o, 0);
        let outcomes = World::outcomes(&report);
        for d in ALL {
            let want = if subset.contains(d) {
                "applied"
            } else {
                "not_requested"
            };
            assert_eq!(
                outcomes.get(*d).map(String::as_str),
                Some(want),
                "{d}: {report}"
            );
        }
        // What is still missing is exactly the other domains' objects.
        let plan = w.plan();
        let missing: Vec<String> = plan["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| c["address"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(!missing.is_empty());
        for a in &missing {
            let domain = a.split('.').next().unwrap_or_default();
            assert!(
                !subset.contains(&domain),
                "{a} was not restored: {missing:?}"
            );
        }
        // Put the rest back for the next subset.
        code(&w.apply(&["WIDENS_ACCESS", "LOCKS_TABLE"]), 0);
    }
    w.finish().await;
}

/// E3: a role and a table changed in the target are conflicts: `fail` refuses listing both, `keep` leaves
/// both, `overwrite` restores both; nothing else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e3_conflicts_are_refused_kept_or_overwritten() {
    let w = World::new("rse3").await;
    let id = w.applied_and_backed_up();
    w.edit(
        "m.toml",
        "description = \"Reads\"",
        "description = \"Reads everything\"",
    );
    w.edit(
        "m.toml",
        "column = [{ name = \"id\", type = \"bigint\", nullable = false }]",
        "column = [{ name = \"id\", type = \"bigint\", nullable = false }, { name = \"extra\", type = \"text\" }]",
    );
    code(&w.apply(&["LOCKS_TABLE"]), 0);
    let changed = w.manifest();
    let role = "iam.role.viewer";
    let table = format!("postgres.table.{}_app.customers", w.t);

    let (o, report) = w.restore(&id, &["--auto-approve"]);
    code(&o, 4);
    assert_eq!(report["outcome"], "refused", "{report}");
    assert_eq!(
        report["risk"], "high",
        "overwriting drops a column: {report}"
    );
    assert!(both(&o).contains("Risk: high"), "{}", both(&o));
    let err = both(&o);
    assert!(err.contains(role) && err.contains(&table), "{err}");
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["iam"], "conflict");
    assert_eq!(outcomes["postgres"], "conflict");
    let conflicts: Vec<&Value> = report["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .flat_map(|d| d["conflicts"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(conflicts.len(), 2, "{report}");
    code(&w.run(&["plan", &changed, "--detailed-exitcode"]), 0);

    let (o, report) = w.restore(&id, &["--auto-approve", "--on-conflict", "keep"]);
    code(&o, 0);
    assert_eq!(report["counts"]["update"], 0, "{report}");
    code(&w.run(&["plan", &changed, "--detailed-exitcode"]), 0);

    let (o, report) = w.restore(
        &id,
        &[
            "--auto-approve",
            "--on-conflict",
            "overwrite",
            "--allow",
            "DELETES_DATA",
        ],
    );
    code(&o, 0);
    assert_eq!(report["counts"]["update"], 2, "{report}");
    w.edit(
        "m.toml",
        "description = \"Reads everything\"",
        "description = \"Reads\"",
    );
    w.edit("m.toml", ", { name = \"extra\", type = \"text\" }]", "]");
    w.in_sync();
    w.finish().await;
}

/// Writes a backup file with the given record changes and documents; its path.
fn backup_file(w: &World, id: &str, edit: impl Fn(&mut Value)) -> String {
    let path = w.dir.join(format!("{id}.backup.json"));
    let p = path.display().to_string();
    let o = w.run(&["backup", "export", id, "-o", &p, "--repo", &w.repo]);
    code(&o, 0);
    let mut file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reads")).expect("JSON");
    edit(&mut file);
    std::fs::write(&path, serde_json::to_string(&file).expect("JSON")).expect("writes");
    p
}

/// Replaces one domain's document in a backup file (and its digest in the record).
fn replace_document(file: &mut Value, domain: &str, edit: impl Fn(&mut Value)) {
    let old = file["record"]["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|d| d["domain"] == domain)
        .and_then(|d| d["digest"].as_str())
        .expect("the domain's digest")
        .to_string();
    let old_text = file["documents"][&old]
        .as_str()
        .expect("a document")
        .to_string();
    let mut doc: Value = serde_json::from_str(&old_text).expect("a JSON document");
    edit(&mut doc);
    let text = serde_json::to_string_pretty(&doc).expect("JSON");
    let new = falconer::util::hex(&Sha256::digest(text.as_bytes()));
    for d in file["record"]["domains"].as_array_mut().expect("domains") {
        if d["domain"] == domain {
            d["digest"] = Value::from(new.clone());
        }
    }
    file["documents"][&new] = Value::from(text);
}

/// E4: a backup with MongoDB not available and Kafka in error restores the other four and says why two were
/// skipped; the live MongoDB and Kafka objects are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e4_degraded_domains_are_skipped_never_emptied() {
    let w = World::new("rse4").await;
    let id = w.applied_and_backed_up();
    let file = backup_file(&w, &id, |f| {
        for d in f["record"]["domains"].as_array_mut().expect("domains") {
            let (status, message) = match d["domain"].as_str() {
                Some("mongo") => ("not_available", "no MongoDB connection configured"),
                Some("kafka") => ("error", "broker 127.0.0.1:1 unreachable"),
                _ => continue,
            };
            d["status"] = Value::from(status);
            d["message"] = Value::from(message);
            d.as_object_mut().expect("an entry").remove("digest");
        }
    });
    w.lose_everything();
    // The live Kafka and MongoDB objects are back before the restore, changed: the restore must not touch them.
    code(&w.apply(&["WIDENS_ACCESS", "LOCKS_TABLE"]), 0);
    w.edit(
        "m.toml",
        "retention.ms\" = \"86400000\"",
        "retention.ms\" = \"3600000\"",
    );
    code(&w.apply(&[]), 0);
    let changed = w.manifest();
    let (o, report) = w.restore(
        &file,
        &["--auto-approve", "--prune", "--on-conflict", "overwrite"],
    );
    code(&o, 0);
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["mongo"], "skipped", "{report}");
    assert_eq!(outcomes["kafka"], "skipped", "{report}");
    let out = both(&o);
    assert!(out.contains("no MongoDB connection configured"), "{out}");
    assert!(out.contains("broker 127.0.0.1:1 unreachable"), "{out}");
    // Kafka kept the changed retention; everything else is as in the manifest that was changed.
    code(&w.run(&["plan", &changed, "--detailed-exitcode"]), 0);
    w.finish().await;
}

/// A system that refuses mid-restore: the other domains complete, the failing one is reported with the
/// system's error, exit 5; the same restore without the refused object completes and converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_that_fails_mid_restore_leaves_the_others_done_and_the_rerun_completes() {
    let w = World::new("rsec1").await;
    let id = w.applied_and_backed_up();
    // This server cannot build hashed indexes: MongoDB refuses the restore's index.
    let hashed = |f: &mut Value| {
        replace_document(f, "mongo", |doc| {
            let t = doc["tenant"]["id"].as_str().unwrap_or_default().to_string();
            doc["mongo"]["index"] = serde_json::json!([{
                "database": t, "collection": "events", "key": [{ "field": "customer", "order": "hashed" }]
            }]);
        })
    };
    let file = backup_file(&w, &id, hashed);
    w.lose_everything();
    let (o, report) = w.restore(&file, &["--auto-approve", "--allow", "LOCKS_TABLE"]);
    code(&o, 5);
    assert_eq!(report["outcome"], "partial", "{report}");
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["mongo"], "error", "{report}");
    for d in ["iam", "postgres", "kafka", "storage", "functions"] {
        assert_eq!(outcomes[d], "applied", "{d}: {report}");
    }
    assert!(both(&o).contains("mongo refused a command"), "{}", both(&o));
    // The re-run (from the real backup) completes only what is missing: MongoDB's commands before the
    // refused one stay applied (it has no transactions), so nothing may be left to do there either.
    let (o, report) = w.restore(&id, &["--auto-approve"]);
    code(&o, 0);
    let outcomes = World::outcomes(&report);
    assert!(
        ["applied", "unchanged"].contains(&outcomes["mongo"].as_str()),
        "{report}"
    );
    for d in ["iam", "postgres", "kafka", "storage", "functions"] {
        assert_eq!(outcomes[d], "unchanged", "{d}: {report}");
    }
    w.in_sync();
    w.finish().await;
}

/// EC3: while another run holds the tenant's lock, a restore exits 3 naming the holder and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec3_a_restore_while_the_tenant_is_locked_exits_3_naming_the_holder() {
    let w = World::new("rsec3").await;
    let id = w.applied_and_backed_up();
    w.lose_everything();
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("the state store");
    let holder = falconer::state::Owner {
        name: "restore-test".into(),
        host: "other-host".into(),
        pid: 4242,
        scope: String::new(),
    };
    let falconer::state::Acquired::Fresh(held) = state
        .locks()
        .lock(&w.t, &holder, std::time::Duration::from_secs(300))
        .await
        .expect("locks")
    else {
        panic!("the lock was free");
    };
    let (o, _) = w.restore(&id, &["--auto-approve"]);
    code(&o, 3);
    assert!(both(&o).contains("other-host"), "{}", both(&o));
    assert!(
        w.plan()["changes"]
            .as_array()
            .is_some_and(|c| c.len() >= 12)
    );
    state.locks().unlock(&held).await.expect("unlocks");
    let (o, _) = w.restore(&id, &["--auto-approve"]);
    code(&o, 0);
    w.in_sync();
    w.finish().await;
}

/// A restore's JSON report.
fn read_report(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("a report")).expect("JSON")
}

/// An edit of a backup's document.
type Edit<'a> = Box<dyn Fn(&mut Value) + 'a>;

/// A backup of another tenant, and a suspended tenant, are refused (exit 4) before anything is written;
/// a document carrying SQL in a type name is refused naming the field, and a sentinel survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_before_anything_is_written() {
    let w = World::new("rsref").await;
    let id = w.applied_and_backed_up();
    w.db.exec("create table public.sentinel (id int)").await;
    w.lose_everything();

    let o = w.run(&[
        "restore",
        &id,
        "--tenant",
        "globex",
        "--repo",
        &w.repo,
        "--auto-approve",
    ]);
    code(&o, 4);
    // EC2 (the proposal only): a backup of another tenant is refused with a proposed map, typed by scope,
    // with no cut names and no duplicate `from`.
    let out = both(&o);
    assert!(out.contains("identifier map"), "{out}");
    for line in [
        "rsref -> globex",
        "rsref_app -> globex_app",
        "rsref. -> globex.",
        "rsref- -> globex-",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert_eq!(out.matches(" rsref -> ").count(), 1, "{out}");

    let suspended = backup_file(&w, &id, |f| {
        for d in ALL {
            replace_document(f, d, |doc| {
                doc["tenant"]["status"] = Value::from("suspended")
            });
        }
    });
    let (o, report) = w.restore(&suspended, &["--auto-approve"]);
    code(&o, 4);
    assert!(both(&o).contains("suspended"), "{}", both(&o));
    assert_eq!(report["outcome"], "refused");

    // Hostile documents: SQL in a type, a default, privileges and a view body; quotes and `..` in names.
    let sql = "int); drop table public.sentinel; --";
    let schema = format!("{}_app", w.t);
    let cases: Vec<(&str, &str, Edit)> = vec![
        (
            "postgres",
            "type",
            Box::new(|doc: &mut Value| {
                doc["postgres"]["table"][0]["column"][0]["type"] = Value::from(sql);
            }),
        ),
        (
            "postgres",
            "default",
            Box::new(|doc: &mut Value| {
                doc["postgres"]["table"][0]["column"][0]["default"] =
                    Value::from("'x'); drop table public.sentinel; --");
            }),
        ),
        (
            "postgres",
            "privileges",
            Box::new(|doc: &mut Value| {
                doc["postgres"]["grant"] = serde_json::json!([{
                    "grantee": "PUBLIC", "schema": schema, "object": "orders",
                    "privileges": ["SELECT; DROP TABLE public.sentinel"]
                }]);
            }),
        ),
        (
            "postgres",
            "query",
            Box::new(|doc: &mut Value| {
                doc["postgres"]["view"] = serde_json::json!([{
                    "name": "v", "schema": schema,
                    "query": "select 1; drop table public.sentinel"
                }]);
            }),
        ),
        (
            "postgres",
            "name",
            Box::new(|doc: &mut Value| {
                doc["postgres"]["table"][1]["name"] =
                    Value::from("customers\"; drop table public.sentinel; --");
            }),
        ),
        (
            "storage",
            "name",
            Box::new(|doc: &mut Value| {
                doc["storage"]["bucket"][0]["name"] = Value::from("rsref-..files");
            }),
        ),
    ];
    for (domain, field, edit) in &cases {
        let hostile = backup_file(&w, &id, |f| replace_document(f, domain, |doc| edit(doc)));
        let (o, report) = w.restore(&hostile, &["--auto-approve"]);
        assert_eq!(o.status.code(), Some(4), "{domain} {field}: {}", both(&o));
        assert_eq!(report["outcome"], "refused", "{field}: {report}");
        assert!(
            both(&o).contains(&format!("/{field})")) || both(&o).contains(&format!("/{field}/")),
            "{domain} {field}: {}",
            both(&o)
        );
    }
    assert!(
        w.plan()["changes"]
            .as_array()
            .is_some_and(|c| c.len() >= 12)
    );
    let n: i64 = sqlx::query_scalar("select count(*) from public.sentinel")
        .fetch_one(&w.db.pool)
        .await
        .expect("the sentinel is there");
    assert_eq!(n, 0);
    w.finish().await;
}

/// E5: the platform's "1.0" artifact (a real one, with the gaps real exports have) restores after
/// migration: the report says from which version; the domains it can carry are applied, and a second
/// restore finds nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_the_platforms_1_0_artifact_restores_after_migration() {
    let w = World::new("globex").await;
    let artifact = fixture("globex-v1.0-legacy.json");
    let domains = [
        "--domain", "iam", "--domain", "postgres", "--domain", "mongo",
    ];
    let mut args = vec!["--auto-approve"];
    args.extend(domains);
    let (o, report) = w.restore(&artifact, &args);
    code(&o, 0);
    assert_eq!(report["source"]["migrated_from"], "1.0", "{report}");
    assert!(
        both(&o).contains("format 1.0, migrated in memory"),
        "{}",
        both(&o)
    );
    let outcomes = World::outcomes(&report);
    for d in ["iam", "postgres", "mongo"] {
        assert_eq!(outcomes[d], "applied", "{d}: {}", both(&o));
    }
    for d in ["kafka", "storage", "functions"] {
        assert_eq!(outcomes[d], "not_requested", "{d}: {report}");
    }
    let mut again = args.clone();
    again.push("--verify");
    let (o, report) = w.restore(&artifact, &again);
    code(&o, 0);
    assert_eq!(report["verified"], true, "{report}");
    assert!(
        World::outcomes(&report)
            .values()
            .all(|o| o == "unchanged" || o == "not_requested"),
        "{}",
        both(&o)
    );
    // EC4: the same artifact padded to 9 MiB (the platform's own limit is 10 MiB) reads and restores the
    // same: nothing to change.
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).expect("reads")).expect("JSON");
    v["domains"][0]["data"]["_padding"] = Value::from("x".repeat(9 << 20));
    let padded = w.dir.join("padded.json");
    std::fs::write(&padded, serde_json::to_string(&v).expect("JSON")).expect("writes");
    assert!(std::fs::metadata(&padded).expect("a file").len() >= 9 << 20);
    let (o, report) = w.restore(&padded.display().to_string(), &args);
    code(&o, 0);
    assert!(
        World::outcomes(&report)
            .values()
            .all(|o| o == "unchanged" || o == "not_requested"),
        "{}",
        both(&o)
    );
    w.finish().await;
}

/// EC5: a tenant the registry suspends is refused (exit 4) by restore and apply, and no system is asked
/// anything; `tenant list` shows it, and lifting it lets the restore through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec5_a_suspended_tenant_is_refused_and_nothing_is_read() {
    let w = World::new("rsec5").await;
    let id = w.applied_and_backed_up();
    w.lose_everything();
    code(
        &w.run(&[
            "tenant",
            "set",
            &w.t,
            "--status",
            "suspended",
            "--environment",
            "staging",
        ]),
        0,
    );
    let listed = both(&w.run(&["tenant", "list"]));
    assert!(
        listed.contains("suspended") && listed.contains("staging"),
        "{listed}"
    );
    let asked = w._kc.log().len() + w._ow.log().len();
    let (o, report) = w.restore(&id, &["--auto-approve"]);
    code(&o, 4);
    assert!(both(&o).contains("suspended"), "{}", both(&o));
    assert_eq!(report["outcome"], "refused", "{report}");
    code(&w.apply(&[]), 4);
    assert_eq!(
        w._kc.log().len() + w._ow.log().len(),
        asked,
        "a system was asked"
    );
    code(&w.run(&["tenant", "set", &w.t, "--status", "active"]), 0);
    let (o, _) = w.restore(&id, &["--auto-approve"]);
    code(&o, 0);
    // The history has both refusals and the restore that went through.
    let history = both(&w.run(&["history", "--tenant", &w.t]));
    assert_eq!(history.matches("refused").count(), 2, "{history}");
    assert!(history.contains("restore\tsuccess"), "{history}");
    w.finish().await;
}

/// A one-time code for a base32 secret at a time.
fn code_at(secret: &str, at: u64) -> String {
    let s = totp_rs::Secret::try_from_base32(secret).expect("base32");
    totp_rs::Builder::new()
        .with_secret(s)
        .build()
        .expect("a TOTP")
        .generate(at)
        .to_string()
}

/// The production guard: outside the operational hours a restore is refused without `--break-glass` and
/// goes through with it (the reason in the history); with a TOTP secret, a missing, wrong or reused code is
/// refused and a right one passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_guard_wants_hours_or_break_glass_and_a_one_time_code() {
    let mut w = World::new("rsprod").await;
    let id = w.applied_and_backed_up();
    code(
        &w.run(&["tenant", "set", &w.t, "--environment", "production"]),
        0,
    );
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let profile = w.dir.join("profile.toml");
    std::fs::write(
        &profile,
        "[restore]\noperational_hours = \"09:00-18:00\"\ntimezone = \"+01:00\"\ntotp_secret = { env = \"RESTORE_TOTP\" }\n",
    )
    .expect("a profile");
    w.w.set_env("FALCONER_PROFILE", &profile.display().to_string());
    w.w.set_env("RESTORE_TOTP", secret);
    // 20:30 UTC is 21:30 at +01:00: outside.
    let night = "2026-11-30T20:30:00Z";
    let night_s = falconer::backup::retention::parse_time(night).expect("a time") as u64;
    let (o, report) = w.restore(&id, &["--auto-approve", "--now", night]);
    code(&o, 4);
    assert!(
        both(&o).contains("outside the operational hours 09:00-18:00"),
        "{}",
        both(&o)
    );
    assert_eq!(report["outcome"], "refused");
    // Break glass, but no code, then a wrong one.
    let glass = [
        "--auto-approve",
        "--now",
        night,
        "--break-glass",
        "INC-4711 tenant lost its schema",
    ];
    let (o, _) = w.restore(&id, &glass);
    code(&o, 4);
    assert!(both(&o).contains("--mfa-code"), "{}", both(&o));
    let wrong = code_at(secret, night_s + 3600);
    let (o, _) = w.restore(&id, &[&glass[..], &["--mfa-code", &wrong]].concat());
    code(&o, 4);
    assert!(both(&o).contains("wrong"), "{}", both(&o));
    let right = code_at(secret, night_s);
    let (o, report) = w.restore(&id, &[&glass[..], &["--mfa-code", &right]].concat());
    code(&o, 0);
    assert_eq!(report["outcome"], "success", "{report}");
    // The same code again is a replay.
    let (o, _) = w.restore(&id, &[&glass[..], &["--mfa-code", &right]].concat());
    code(&o, 4);
    assert!(both(&o).contains("used before"), "{}", both(&o));
    // Within hours (10:00 at +01:00), a fresh code is enough.
    let day = "2026-12-01T09:00:00Z";
    let day_s = falconer::backup::retention::parse_time(day).expect("a time") as u64;
    let fresh = code_at(secret, day_s);
    let (o, _) = w.restore(&id, &["--auto-approve", "--now", day, "--mfa-code", &fresh]);
    code(&o, 0);
    let history = both(&w.run(&["history", "--tenant", &w.t, "--kind", "restore", "--json"]));
    assert!(
        history.contains("break glass: INC-4711 tenant lost its schema"),
        "{history}"
    );
    assert_eq!(history.lines().count(), 6, "{history}");
    w.finish().await;
}

/// `restore status`: a running restore's domains from the state store (as another machine sees them),
/// else the last outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_status_shows_the_running_restore_else_the_last_outcome() {
    let w = World::new("rsstat").await;
    let o = w.run(&["restore", "status", "--json"]);
    code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["running"], false);
    assert!(v["last"].is_null());
    let id = w.applied_and_backed_up();
    let (o, _) = w.restore(&id, &["--auto-approve"]);
    code(&o, 0);
    let o = w.run(&["restore", "status", "--tenant", &w.t, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["last"]["outcome"], "success", "{v}");
    // Another process's restore, as the state store records it while it runs.
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("the state store");
    let domains = ["postgres".to_string(), "kafka".to_string()];
    state
        .progress()
        .work_started(
            falconer::state::Work::Restore,
            "r-1",
            &w.t,
            &domains,
            "ops@elsewhere (pid 7)",
        )
        .await
        .expect("records");
    state
        .progress()
        .work_progress(falconer::state::Work::Restore, "r-1", "postgres", "applied")
        .await
        .expect("records");
    // Its run has journaled Kafka's step as applying.
    let run = state.runs().start_run(&w.t, "digest").await.expect("a run");
    state
        .runs()
        .journal(&run, 0, "kafka", "applying")
        .await
        .expect("journals");
    let o = w.run(&["restore", "status", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["running"], true, "{v}");
    assert_eq!(v["holder"], "ops@elsewhere (pid 7)");
    assert_eq!(
        v["domains"],
        serde_json::json!([{ "domain": "kafka", "status": "applying" }, { "domain": "postgres", "status": "applied" }])
    );
    w.finish().await;
}

/// A restore killed at 20 points (counted events: the Keycloak and OpenWhisk doubles' answers) leaves the
/// tenant so that the same restore run again completes it, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_restore_converges_when_run_again() {
    let w = World::new("rskill").await;
    let id = w.applied_and_backed_up();
    let events = || w._kc.log().len() + w._ow.log().len();
    w.lose_everything();
    let before = events();
    let (o, _) = w.restore(&id, &["--auto-approve"]);
    code(&o, 0);
    let whole = events() - before;
    assert!(whole >= 10, "only {whole} events in a restore");
    let mut kills = 0;
    for point in 1..=20 {
        w.lose_everything();
        let start = events();
        let command = w.w.command(&[
            "restore",
            &id,
            "--tenant",
            &w.t,
            "--repo",
            &w.repo,
            "--auto-approve",
        ]);
        if crate::support::kill_when(command, || events() >= start + point * whole / 21).await {
            kills += 1;
        }
        let (o, report) = w.restore(&id, &["--auto-approve"]);
        code(&o, 0);
        assert_eq!(
            report["outcome"], "success",
            "after a kill at event {point}: {report}"
        );
        w.in_sync();
    }
    assert!(kills >= 15, "only {kills} restores were killed mid-way");
    w.finish().await;
}

/// EC1: the Kafka broker stops during the restore (on a counted event: Keycloak's answer to the first role
/// created; Kafka's topics wait on that role, so its step comes after): the other five domains are restored,
/// Kafka is reported with the broker's error, exit 5. With the broker back, the same restore completes Kafka
/// only, and nothing else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec1_the_broker_stops_mid_restore_then_the_rerun_completes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let armed = Arc::new(AtomicBool::new(false));
    let trigger = armed.clone();
    let w = World::with("rsec1k", |kafka| {
        let stop = kafka.stopper();
        let hook = move |m: &axum::http::Method, path: &str| {
            if m == axum::http::Method::POST
                && path.ends_with("/roles")
                && trigger.swap(false, Ordering::SeqCst)
            {
                stop();
            }
        };
        crate::keycloak_double::Options {
            before_answer: Some(Arc::new(hook)),
            ..Default::default()
        }
    })
    .await;
    let id = w.applied_and_backed_up();
    let file = backup_file(&w, &id, |f| {
        replace_document(f, "kafka", |doc| {
            for t in doc["kafka"]["topic"].as_array_mut().expect("topics") {
                t["depends_on"] = serde_json::json!(["iam.role.viewer"]);
            }
        });
    });
    w.lose_everything();
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let (o, report) = w.restore(&file, &["--auto-approve"]);
    code(&o, 5);
    assert!(
        !armed.load(std::sync::atomic::Ordering::SeqCst),
        "the broker was stopped"
    );
    assert_eq!(report["outcome"], "partial", "{report}");
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["kafka"], "error", "{report}");
    for d in ["iam", "postgres", "mongo", "storage", "functions"] {
        assert_eq!(outcomes[d], "applied", "{d}: {report}");
    }
    let kafka = report["domains"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["domain"] == "kafka"))
        .cloned()
        .unwrap_or_default();
    let broker = format!("brokers at {}", w.kafka.bootstrap);
    assert!(
        kafka["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("kafka") && r.contains(&broker)),
        "{kafka}"
    );

    w.kafka.start_again().await;
    let (o, report) = w.restore(&file, &["--auto-approve"]);
    code(&o, 0);
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["kafka"], "applied", "{report}");
    for d in ["iam", "postgres", "mongo", "storage", "functions"] {
        assert_eq!(outcomes[d], "unchanged", "{d}: {report}");
    }
    w.in_sync();
    w.finish().await;
}

/// Backups of the six-domain tenant: all six `ok`; with the Kafka broker stopped, `partial` (exit 5) with
/// Kafka in `error` naming the broker and the other five `ok`; with no MongoDB connection configured for a
/// tenant whose manifest declares MongoDB objects, MongoDB is `error` and the backup `partial` (exit 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_of_six_domains_with_the_broker_stopped_or_mongo_unconfigured() {
    let mut w = World::new("rsbk").await;
    w.applied_and_backed_up();
    let create = |w: &World| {
        let o = w.run(&[
            "backup",
            "create",
            "--tenant",
            &w.t,
            "--manifest",
            &w.manifest(),
            "--repo",
            &w.repo,
            "--json",
        ]);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o, r)
    };
    let status = |r: &Value, d: &str| -> (String, String) {
        let e = r["domains"]
            .as_array()
            .and_then(|ds| ds.iter().find(|x| x["domain"] == d))
            .cloned()
            .unwrap_or_default();
        (
            e["status"].as_str().unwrap_or_default().to_string(),
            e["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    (w.kafka.stopper())();
    let (o, r) = create(&w);
    code(&o, 5);
    assert_eq!(r["status"], "partial", "{r}");
    let (kafka, message) = status(&r, "kafka");
    assert_eq!(kafka, "error", "{r}");
    assert!(message.contains(&w.kafka.bootstrap), "{message}");
    for d in ["iam", "postgres", "mongo", "storage", "functions"] {
        assert_eq!(status(&r, d).0, "ok", "{d}: {r}");
    }
    // The broker comes back empty (noida-db keeps no topics over a restart): apply puts them back.
    w.kafka.start_again().await;
    code(&w.apply(&[]), 0);
    // Without a MongoDB connection, the tenant's MongoDB objects (its manifest declares them) cannot be
    // read: the backup is partial, never `ok` without them.
    w.w.set_env("FALCONER_MONGO_URL", "");
    let (o, r) = create(&w);
    code(&o, 5);
    assert_eq!(r["status"], "partial", "{r}");
    let (mongo, why) = status(&r, "mongo");
    assert_eq!(mongo, "error", "{r}");
    assert!(why.contains("the tenant has MongoDB objects"), "{r}");
    assert_eq!(status(&r, "kafka").0, "ok", "{r}");
    w.finish().await;
}

/// A backup of the six-domain tenant exported as an artifact of the platform (format 1.0.0, the export's
/// dialect): `validate` reads it, and a plan of it against the live tenant has no changes. Its collector
/// `data` alone (falconer's copies removed) carries every resource the dialect has a place for; a section
/// whose `data` was edited is read from the data, with a warning, not from falconer's copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_exported_for_the_platform_validates_and_plans_in_sync() {
    let w = World::new("rsfal").await;
    let id = w.applied_and_backed_up();
    let art = w.dir.join("artifact.json").display().to_string();
    let o = w.run(&[
        "backup", "export", &id, "-o", &art, "--format", "falcone", "--repo", &w.repo,
    ]);
    code(&o, 0);
    let text = std::fs::read_to_string(&art).expect("the artifact");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["format_version"], "1.0.0");
    assert_eq!(v["domains"].as_array().map(Vec::len), Some(6), "{v}");
    let pg = &v["domains"].as_array().expect("domains")[1];
    assert_eq!(pg["domain_key"], "postgres_metadata", "{v}");
    assert_eq!(pg["items_count"], 2, "two tables: {pg}");
    assert_eq!(
        pg["data"]["schemas"][0]["tables"][0]["columns"][0]["is_nullable"], "NO",
        "{pg}"
    );
    let o = w.run(&["validate", &art]);
    code(&o, 0);
    let plan = |path: &str| w.run(&["plan", path, "--detailed-exitcode"]);
    let o = plan(&art);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));

    // The collector data alone.
    let mut bare = v.clone();
    for d in bare["domains"].as_array_mut().expect("domains") {
        d.as_object_mut().map(|o| o.remove("_falconer"));
    }
    let bare_path = w.dir.join("bare.json").display().to_string();
    std::fs::write(&bare_path, bare.to_string()).expect("writes");
    let o = plan(&bare_path);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));

    // An edited section: its data is read, and the plan shows the edit.
    let mut edited = v.clone();
    let kafka = edited["domains"]
        .as_array_mut()
        .and_then(|ds| ds.iter_mut().find(|d| d["domain_key"] == "kafka"))
        .expect("the kafka section");
    for topic in kafka["data"]["topics"].as_array_mut().expect("topics") {
        if topic["partitions"] == 2 {
            topic["partitions"] = 4.into();
        }
    }
    let edited_path = w.dir.join("edited.json").display().to_string();
    std::fs::write(&edited_path, edited.to_string()).expect("writes");
    let o = plan(&edited_path);
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    let out = both(&o);
    assert!(
        out.contains("falconer's copy of domain `kafka` is not used"),
        "{out}"
    );
    assert!(out.contains(&format!("{}.orders", w.t)), "{out}");

    // A section without data (the export failed there) leaves its domain alone: nothing is deleted.
    let mut failed = v.clone();
    let kafka = failed["domains"]
        .as_array_mut()
        .and_then(|ds| ds.iter_mut().find(|d| d["domain_key"] == "kafka"))
        .expect("the kafka section");
    *kafka = serde_json::json!({"domain_key": "kafka", "status": "error",
        "exported_at": kafka["exported_at"], "data": null, "error": "broker down"});
    let failed_path = w.dir.join("failed.json").display().to_string();
    std::fs::write(&failed_path, failed.to_string()).expect("writes");
    let o = plan(&failed_path);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    w.finish().await;
}

/// The acme example applied across all six domains (Kafka: the double, whose authorizer keeps the ACLs)
/// and backed up: six `ok` domains. Exported for the platform (`--format falcone`), the backup passes
/// `validate` and plans with no changes against the live tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_backed_up_and_exported_for_the_platform_plans_in_sync() {
    let _turn = crate::support::ACME_BUCKETS.lock().await;
    let db = TestDb::new("rs_acme").await;
    let _mongo = MongoServer::start().await;
    let kafka = crate::kafka_double::KafkaDouble::start().await;
    let (kc, ow) = crate::support::doubles("acme").await;
    let mut env = crate::support::systems_env(&db.url, &_mongo.url, &kafka.bootstrap).await;
    env.extend(
        [
            ("ACME_FUNCTIONS_API_TOKEN", "acme-token-1"),
            ("ACME_SMTP_PASSWORD", "acme-smtp-1"),
            ("ACME_ORDERS_API_SECRET", "acme-orders-1"),
            ("ACME_GOOGLE_CLIENT_SECRET", "acme-google-1"),
            ("ACME_DB_APP_PASSWORD", "acme-db-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env.extend(kc.env());
    env.extend(ow.env());
    let w = Workdir::new("restore", "acme", env);
    let files = [
        "tenant.toml",
        "iam.toml",
        "postgres.toml",
        "mongo.toml",
        "kafka.toml",
    ];
    w.acme(&files);
    w.acme(&["storage.toml", "functions.toml", "code", "secrets"]);
    let m = w.manifest();
    code(&w.apply(&["WIDENS_ACCESS"]), 0);
    let repo = format!("file:{}", w.dir.join("repo").display());
    let backup = [
        "backup",
        "create",
        "--tenant",
        "acme",
        "--manifest",
        &m,
        "--repo",
        &repo,
    ];
    let o = w.run(&[&backup[..], &["--json"]].concat());
    code(&o, 0);
    let r: Value = serde_json::from_slice(&o.stdout).expect("a record");
    let statuses: Vec<&str> = r["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .map(|d| d["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["ok"; 6], "{r}");
    let art = w.dir.join("acme-artifact.json").display().to_string();
    let id = r["id"].as_str().expect("an id");
    let export = [
        "backup", "export", id, "-o", &art, "--format", "falcone", "--repo", &repo,
    ];
    code(&w.run(&export), 0);
    code(&w.run(&["validate", &art]), 0);
    let o = w.run(&["plan", &art, "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    acme_restores_with_no_noise(&w, &art);
    // Leave nothing behind on the shared servers (roles are the cluster's, buckets the S3 server's): the
    // manifest without PostgreSQL and storage deletes them, views before the tables they read.
    for f in ["postgres.toml", "storage.toml"] {
        std::fs::remove_file(w.dir.join("manifest").join(f)).expect("removes");
    }
    let o = w.apply(&[
        "DELETES_DATA",
        "WIDENS_ACCESS",
        "LOCKS_TABLE",
        "CHANGES_SIGN_IN",
    ]);
    code(&o, 0);
    let _ = std::fs::remove_dir_all(&w.dir);
    db.drop().await;
}

/// Zero noise over every kind (the example holds each kind of the registry: `examples.rs` fails when a kind
/// is added without it), for both forms of the artifact: with falconer's own copy, and the platform's
/// collector data alone. Each is restored into the emptied tenant (the secrets from the tenant's manifest)
/// and verified; restored again, nothing changes and nothing conflicts. The collector data holds no
/// PostgreSQL roles: restored while the roles are gone, it is refused before writing, naming them.
fn acme_restores_with_no_noise(w: &Workdir, art: &str) {
    let mut bare: Value =
        serde_json::from_str(&std::fs::read_to_string(art).expect("reads")).expect("JSON");
    for d in bare["domains"].as_array_mut().expect("domains") {
        d.as_object_mut().map(|o| o.remove("_falconer"));
    }
    let bare_path = w.dir.join("acme-bare.json").display().to_string();
    std::fs::write(&bare_path, bare.to_string()).expect("writes");
    let m = w.manifest();
    let report = w.dir.join("report.json").display().to_string();
    let args = |artifact| {
        let args = [
            "restore",
            artifact,
            "--tenant",
            "acme",
            "--manifest",
            &m,
            "--auto-approve",
            "--allow",
            "WIDENS_ACCESS",
            "--report",
            &report,
        ];
        args.map(String::from).to_vec()
    };
    let run = |args: &[String]| w.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for (artifact, roles_kept) in [
        (art, false),
        (bare_path.as_str(), false),
        (bare_path.as_str(), true),
    ] {
        acme_lose_all_but(w, roles_kept);
        let mut first = args(artifact);
        first.push("--verify".into());
        let o = run(&first);
        if artifact == bare_path && !roles_kept {
            code(&o, 4);
            assert!(
                both(&o).contains(
                    "it names role `acme_app`, which is neither declared nor in the cluster"
                ),
                "{}",
                both(&o)
            );
            continue;
        }
        code(&o, 0);
        code(&run(&args(artifact)), 0);
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("a report"))
            .expect("JSON");
        for d in r["domains"].as_array().expect("domains") {
            assert_eq!(d["outcome"], "unchanged", "{artifact}: {r}");
            assert!(d["conflicts"].as_array().is_none_or(Vec::is_empty), "{r}");
        }
    }
}

/// Deletes everything of the acme tenant (its tenant block applied) but its Kafka objects (the authorizing
/// broker of these tests, a double, has no DeleteTopics) and, when asked, its PostgreSQL roles.
fn acme_lose_all_but(w: &Workdir, roles: bool) {
    let kept = w.dir.join("kept");
    let manifest = w.dir.join("manifest");
    std::fs::rename(&manifest, &kept).expect("moves");
    std::fs::create_dir_all(&manifest).expect("a directory");
    for f in ["tenant.toml", "kafka.toml"] {
        std::fs::copy(kept.join(f), manifest.join(f)).expect("copies");
    }
    if roles {
        let pg: toml::Table = std::fs::read_to_string(kept.join("postgres.toml"))
            .expect("reads")
            .parse()
            .expect("TOML");
        let mut only = toml::Table::new();
        let role = pg["postgres"]["role"].clone();
        only.insert(
            "postgres".into(),
            toml::Value::Table([("role".to_string(), role)].into_iter().collect()),
        );
        std::fs::write(
            manifest.join("roles.toml"),
            toml::to_string(&only).expect("TOML"),
        )
        .expect("writes");
        std::fs::create_dir_all(manifest.join("secrets")).expect("a directory");
        for e in std::fs::read_dir(kept.join("secrets")).expect("secrets") {
            let e = e.expect("an entry");
            std::fs::copy(e.path(), manifest.join("secrets").join(e.file_name())).expect("copies");
        }
    }
    code(
        &w.apply(&[
            "DELETES_DATA",
            "WIDENS_ACCESS",
            "LOCKS_TABLE",
            "CHANGES_SIGN_IN",
        ]),
        0,
    );
    std::fs::remove_dir_all(&manifest).expect("removes");
    std::fs::rename(&kept, &manifest).expect("moves back");
}

/// Each action's code is a blob of its own: a backup after a change of code alone adds that code's blob and
/// nothing else (the functions document names the code by path, and is unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actions_code_is_stored_apart_so_a_code_change_adds_only_it() {
    let w = World::new("rscode").await;
    w.applied_and_backed_up();
    let blobs = |w: &World| {
        let mut n = 0;
        for d in std::fs::read_dir(w.dir.join("repo/blobs"))
            .expect("blobs")
            .flatten()
        {
            n += std::fs::read_dir(d.path())
                .expect("a fan-out directory")
                .count();
        }
        n
    };
    let before = blobs(&w);
    w.edit("m.toml", "return {};", "return { changed: true };");
    let id = w.applied_and_backed_up();
    assert_eq!(blobs(&w), before + 1, "only the new code is stored");
    let o = w.run(&["backup", "show", &id, "--repo", &w.repo, "--json"]);
    code(&o, 0);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let functions = r["domains"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["domain"] == "functions"))
        .expect("the functions domain");
    assert_eq!(
        functions["parts"].as_object().map(|p| p.len()),
        Some(1),
        "{functions}"
    );
    // The restore puts the code back: the emptied tenant comes back with the changed code, in sync.
    w.lose_everything();
    w.edit("m.toml", "return {};", "return { changed: true };");
    let (o, report) = w.restore(&id, &["--auto-approve"]);
    code(&o, 0);
    assert_eq!(report["outcome"], "success", "{report}");
    w.in_sync();
    w.finish().await;
}

/// Secrets: the preflight lists what the backup could not carry; with `--manifest`, the manifest's
/// references fill them, the live system gets the value, and a plan afterwards is in sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_the_backup_could_not_carry_come_from_the_manifest() {
    let mut w = World::new("rssec").await;
    let smtp = "rs-CANARY-smtp-7f3a9c";
    w.w.set_env("RESTORE_SMTP_PASSWORD", smtp);
    let with_smtp = |w: &World| {
        w.edit(
            "m.toml",
            "display_name = \"Tenant rssec\"",
            "display_name = \"Tenant rssec\"\nsmtp = { host = \"smtp.example.net\", from = \"ops@example.net\", user = \"ops\", password = { env = \"RESTORE_SMTP_PASSWORD\" } }",
        )
    };
    with_smtp(&w);
    let id = w.applied_and_backed_up();
    w.lose_everything();
    with_smtp(&w);
    let (o, report) = w.restore(&id, &["--dry-run"]);
    code(&o, 0);
    let iam = World::domain(&report, "iam");
    assert_eq!(
        iam["secrets_to_set"],
        serde_json::json!(["iam.realm.rssec /smtp/password"]),
        "{report}"
    );
    assert!(
        both(&o).contains("set these before or after"),
        "{}",
        both(&o)
    );
    assert!(!both(&o).contains(smtp));

    let m = w.manifest();
    let (o, report) = w.restore(&id, &["--auto-approve", "--manifest", &m]);
    code(&o, 0);
    assert!(!both(&o).contains(smtp));
    assert!(!report.to_string().contains(smtp));
    assert_eq!(w._kc.world().smtp_password("rssec").as_deref(), Some(smtp));
    w.in_sync();
    w.finish().await;
}

/// The registry remembers a tenant's naming from its last apply: `export` and `backup` without a manifest
/// read the tenant's real schemas, databases, prefixes and realm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_remembers_the_naming_for_export_and_backup() {
    let w = World::new("rsname").await;
    let before = w.run(&[
        "export", "--tenant", &w.t, "--domain", "postgres", "--to", "json",
    ]);
    code(&before, 0);
    assert!(!text_of(&before).contains("orders"), "nothing applied yet");
    code(&w.apply(&["WIDENS_ACCESS", "LOCKS_TABLE"]), 0);
    let listed = both(&w.run(&["tenant", "list", "--json"]));
    assert!(listed.contains("rsname_app"), "{listed}");
    let o = w.run(&[
        "export", "--tenant", &w.t, "--domain", "postgres", "--to", "json",
    ]);
    code(&o, 0);
    let out = text_of(&o);
    assert!(
        out.contains("\"rsname_app\"") && out.contains("\"orders\""),
        "{out}"
    );
    let o = w.run(&[
        "backup", "create", "--tenant", &w.t, "--repo", &w.repo, "--json",
    ]);
    code(&o, 0);
    let r: Value = serde_json::from_slice(&o.stdout).expect("a record");
    let pg = r["domains"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["domain"] == "postgres"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(pg["resources"], 3, "{r}");
    w.finish().await;
}

fn text_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The profile's `[backup] repo` is the repository when neither `--repo` nor `FALCONER_REPO` is given,
/// for `backup` and `restore` alike; the rest of the profile still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_names_the_repository() {
    let mut w = World::new("rsprof").await;
    code(&w.apply(&["WIDENS_ACCESS", "LOCKS_TABLE"]), 0);
    let profile = w.dir.join("profile.toml");
    let repo_dir = w.dir.join("profile-repo");
    std::fs::write(
        &profile,
        format!("[backup]\nrepo = \"file:{}\"\n", repo_dir.display()),
    )
    .expect("a profile");
    w.w.set_env("FALCONER_PROFILE", &profile.display().to_string());
    let o = w.run(&["backup", "create", "--tenant", &w.t, "--json"]);
    code(&o, 0);
    assert!(
        repo_dir.join("backups").join(&w.t).is_dir(),
        "the profile's repository was used"
    );
    let o = w.run(&["restore", "latest", "--tenant", &w.t, "--dry-run"]);
    code(&o, 0);
    assert!(
        both(&o).contains(&format!("in file:{}", repo_dir.display())),
        "{}",
        both(&o)
    );
    w.finish().await;
}

/// `backup verify-restore`: the live tenant against a backup, equivalent (exit 0) or not (exit 2), writing
/// nothing either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_restore_tells_equivalent_from_different() {
    let w = World::new("rsver").await;
    let id = w.applied_and_backed_up();
    let verify = || {
        w.run(&[
            "backup",
            "verify-restore",
            &id,
            "--tenant",
            &w.t,
            "--repo",
            &w.repo,
        ])
    };
    let o = verify();
    code(&o, 0);
    assert!(both(&o).contains("Equivalent"), "{}", both(&o));
    w.edit(
        "m.toml",
        "description = \"Reads\"",
        "description = \"Reads all\"",
    );
    code(&w.apply(&[]), 0);
    let o = verify();
    code(&o, 2);
    assert!(both(&o).contains("iam.role.viewer"), "{}", both(&o));
    // Nothing was written: the changed description is still live.
    code(&w.run(&["plan", &w.manifest(), "--detailed-exitcode"]), 0);
    w.finish().await;
}

/// A backup may refer to objects it does not carry: the restore goes on when they exist live, and is
/// refused (exit 4) naming them when they exist nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_to_objects_the_backup_lacks_must_exist_live() {
    let w = World::new("rsref2").await;
    let id = w.applied_and_backed_up();
    let file = backup_file(&w, &id, |f| {
        replace_document(f, "iam", |doc| {
            for r in doc["iam"]["role"].as_array_mut().expect("roles") {
                if r["name"] == "editor" {
                    r["composites"] = serde_json::json!({ "realm": ["ops-lead"] });
                }
            }
        });
    });
    let (o, report) = w.restore(&file, &["--auto-approve", "--on-conflict", "overwrite"]);
    code(&o, 4);
    assert!(both(&o).contains("iam.role.ops-lead"), "{}", both(&o));
    assert_eq!(report["outcome"], "refused", "{report}");
    // Once it exists live, the same restore goes through.
    w.edit(
        "m.toml",
        "[[iam.role]]\nname = \"editor\"",
        "[[iam.role]]\nname = \"ops-lead\"\n\n[[iam.role]]\nname = \"editor\"",
    );
    code(&w.apply(&[]), 0);
    let (o, report) = w.restore(&file, &["--auto-approve", "--on-conflict", "overwrite"]);
    code(&o, 0);
    assert_eq!(report["counts"]["update"], 1, "{report}");
    w.finish().await;
}

/// EC2: a tenant's backup restored into another tenant with the accepted proposal: every object lands in
/// the target's scope (the target's own manifest plans no change), the source tenant is exactly as before,
/// the proposal has no cut names and no `from` twice, and verify finds the target equivalent to the mapped
/// backup. A map that would give a name the system refuses is refused before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_another_tenants_backup_restores_with_the_accepted_map() {
    let w = World::new("rsec2").await;
    let id = w.applied_and_backed_up();
    let target = "rsec2g";
    // The target's OpenWhisk namespace has its own key, as in a real deployment.
    let ow = OpenWhiskDouble::start(
        0,
        crate::openwhisk_double::Options {
            namespace: target.to_string(),
            ..Default::default()
        },
    )
    .await
    .expect("the OpenWhisk double starts");
    let run = |args: &[&str]| w.command(args).envs(ow.env()).output().expect("runs");
    let export = || {
        let o = w.run(&["export", "--tenant", &w.t, "--manifest", &w.manifest()]);
        code(&o, 0);
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let before = export();
    let report_file = w.dir.join("ec2.json");
    let rf = report_file.display().to_string();
    let restore = |extra: &[&str]| {
        let mut args = vec!["restore", &id, "--tenant", target, "--repo", &w.repo];
        args.extend(extra);
        run(&args)
    };

    // Malformed maps and a map for the backup's own tenant are usage errors; a map giving an invalid name
    // is refused naming it, and nothing is written.
    code(&restore(&["--map", "rsec2_app"]), 1);
    let own = w.run(&[
        "restore",
        &id,
        "--tenant",
        &w.t,
        "--repo",
        &w.repo,
        "--accept-proposed-map",
    ]);
    code(&own, 1);
    let bad = restore(&[
        "--accept-proposed-map",
        "--map",
        "rsec2-=Bad_",
        "--auto-approve",
    ]);
    code(&bad, 4);
    assert!(both(&bad).contains("Bad_files"), "{}", both(&bad));

    let o = restore(&[
        "--accept-proposed-map",
        "--auto-approve",
        "--verify",
        "--report",
        &rf,
    ]);
    code(&o, 0);
    // Free text that names the source tenant is kept, and said so.
    let said = both(&o);
    assert!(
        said.contains("iam.realm.rsec2g /display_name: \"Tenant rsec2\""),
        "{said}"
    );
    let report = read_report(&report_file);
    assert_eq!(report["outcome"], "success", "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["source"]["tenant"], "rsec2", "{report}");
    for (from, to) in [
        ("rsec2", "rsec2g"),
        ("rsec2_app", "rsec2g_app"),
        ("rsec2.", "rsec2g."),
        ("rsec2-", "rsec2g-"),
    ] {
        assert_eq!(report["map"][from], to, "{report}");
    }
    let proposal = report["proposed_map"].as_array().expect("a proposal");
    let froms: Vec<&str> = proposal
        .iter()
        .map(|e| e["from"].as_str().expect("from"))
        .collect();
    let distinct: std::collections::BTreeSet<&&str> = froms.iter().collect();
    assert_eq!(distinct.len(), froms.len(), "a `from` twice: {froms:?}");
    for e in proposal {
        let (from, to) = (
            e["from"].as_str().unwrap_or(""),
            e["to"].as_str().unwrap_or(""),
        );
        // Whole names or delimited prefixes only: the target never keeps a cut piece of the source name.
        assert!(
            to.starts_with(target) && (from == "rsec2" || from.starts_with("rsec2")),
            "{e}"
        );
        assert_eq!(from.replacen("rsec2", target, 1), to, "{e}");
    }

    // Every object is in the target's scope: the target's own manifest plans no change (free text, such as
    // the realm's display name, is not an identifier and keeps the source's words).
    let dir = w.dir.join("target");
    std::fs::create_dir_all(&dir).expect("a directory");
    let own = manifest(target).replace("Tenant rsec2g", "Tenant rsec2");
    std::fs::write(dir.join("m.toml"), own).expect("writes");
    let d = dir.display().to_string();
    let plan = run(&["plan", &d, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", both(&plan));
    // The source tenant is exactly as it was.
    assert_eq!(export(), before);
    w.in_sync();
    // The same restore again finds nothing to do.
    let again = restore(&["--accept-proposed-map", "--auto-approve", "--report", &rf]);
    code(&again, 0);
    let report = read_report(&report_file);
    World::nothing_done(&report);
    w.finish().await;
}

/// Real-world naming: a source with a topic outside the tenant's prefix. The restore leaves it out, listing
/// it with how to declare the tenant's real naming; once the registry declares it, the same restore creates
/// it (and only it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_outside_the_scope_are_left_out_until_the_naming_is_declared() {
    let w = World::new("rsscope").await;
    let id = w.applied_and_backed_up();
    let file = backup_file(&w, &id, |f| {
        replace_document(f, "kafka", |doc| {
            doc["kafka"]["topic"]
                .as_array_mut()
                .expect("topics")
                .push(serde_json::json!({
                    "name": "rsscope-legacy", "partitions": 1, "replication_factor": 1
                }));
        });
    });
    let (o, report) = w.restore(&file, &["--auto-approve"]);
    code(&o, 0);
    let out = both(&o);
    assert!(
        out.contains("left out, outside tenant `rsscope`'s scope: kafka.topic.rsscope-legacy"),
        "{out}"
    );
    assert!(out.contains("falconer tenant set rsscope"), "{out}");
    let kafka = report["domains"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["domain"] == "kafka"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        kafka["out_of_scope"],
        serde_json::json!(["kafka.topic.rsscope-legacy"]),
        "{report}"
    );
    assert_eq!(report["counts"]["create"], 0, "{report}");

    let set = w.run(&[
        "tenant",
        "set",
        "rsscope",
        "--kafka-topic-prefix",
        "rsscope",
    ]);
    code(&set, 0);
    let (o, report) = w.restore(&file, &["--auto-approve"]);
    code(&o, 0);
    assert_eq!(report["counts"]["create"], 1, "{report}");
    assert!(!both(&o).contains("left out"), "{}", both(&o));
    let (o, report) = w.restore(&file, &["--auto-approve"]);
    code(&o, 0);
    World::nothing_done(&report);
    w.finish().await;
}

// The identifier map's proposal, from the domains' scopes.

#[test]
fn the_proposal_maps_every_scope_without_cut_names_or_duplicate_froms() {
    let mut acme = falconer::model::Tenant::new("acme");
    acme.naming.set(
        &falconer::domains::postgres::SCHEMA_SCOPE,
        vec!["tenant_acme".into(), "app".into()],
    );
    let globex = falconer::model::Tenant::new("globex");
    let p = falconer::restore::map::propose(&acme, &globex);
    let get = |from: &str| p.iter().find(|e| e.from == from).map(|e| e.to.clone());
    assert_eq!(get("acme").as_deref(), Some("globex"));
    assert_eq!(get("tenant_acme").as_deref(), Some("tenant_globex"));
    assert_eq!(get("acme.").as_deref(), Some("globex."));
    assert_eq!(get("acme-").as_deref(), Some("globex-"));
    // `app` has no tenant word: it takes the target's default schema.
    assert_eq!(get("app").as_deref(), Some("globex"));
    let mut froms: Vec<&str> = p.iter().map(|e| e.from.as_str()).collect();
    froms.sort_unstable();
    let n = froms.len();
    froms.dedup();
    assert_eq!(froms.len(), n, "{p:?}");
    // The tenant id, realm, database and namespace share one entry.
    let shared = p.iter().find(|e| e.from == "acme").expect("an entry");
    for scope in ["tenant", "realm", "mongo_database", "functions_namespace"] {
        assert!(shared.scope.split(',').any(|s| s == scope), "{shared:?}");
    }
}

#[test]
fn a_declared_target_naming_wins() {
    let acme = falconer::model::Tenant::new("acme");
    let mut globex = falconer::model::Tenant::new("globex");
    globex.naming.set(
        &falconer::domains::kafka::TOPIC_PREFIX_SCOPE,
        vec!["gx.".into()],
    );
    let p = falconer::restore::map::propose(&acme, &globex);
    assert!(p.contains(&falconer::restore::map::MapEntry {
        scope: "kafka_topic_prefix".into(),
        from: "acme.".into(),
        to: "gx.".into()
    }));
}

/// The path of one of the platform's artifacts among the suite's fixtures.
fn fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/falcone")
        .join(name)
        .display()
        .to_string()
}

/// The platform's globex artifact with `edit` applied to the domain `key`'s entry, written into the
/// world's directory as `name`: its path.
fn globex_artifact(w: &World, name: &str, key: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut artifact = crate::support::globex_fixture();
    let domains = artifact["domains"].as_array_mut().expect("domains");
    let entry = domains
        .iter_mut()
        .find(|d| d["domain_key"] == key)
        .expect("the domain's entry");
    edit(entry);
    let file = w.dir.join(name);
    std::fs::write(&file, artifact.to_string()).expect("writes");
    file.display().to_string()
}

/// The globex artifact with only the actions whose code it holds.
fn globex_functions_with_code(w: &World, name: &str) -> String {
    globex_artifact(w, name, "functions", |d| {
        if let Some(actions) = d["data"]["actions"].as_array_mut() {
            actions.retain(|a| a["code_available"] == true);
        }
    })
}

/// The globex artifact's PostgreSQL schema does not exist: a refused restore wrote nothing there.
async fn globex_schema_absent(w: &World) {
    let schemas: i64 =
        sqlx::query_scalar("select count(*) from pg_namespace where nspname = 'globex'")
            .fetch_one(&w.db.pool)
            .await
            .expect("counts");
    assert_eq!(schemas, 0, "nothing is written before the refusal");
}

/// An artifact whose topics are not under the default prefix: without the tenant's real naming the restore
/// leaves them out and says so once, in the report's words; with `--manifest` declaring the naming, they are
/// restored and no warning says they are outside the scope (each warning is computed with the naming in
/// force).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_warnings_follow_the_naming_in_force() {
    let w = World::new("globex").await;
    let file = globex_artifact(&w, "gbx-artifact.json", "kafka", |d| {
        d["data"] = serde_json::json!({
            "topics": [{"name": "gbx.audit", "partitions": 1, "replication_factor": 1,
                        "config_overrides": {}}],
            "acls": [], "consumer_groups": []
        });
        d["items_count"] = serde_json::json!(1);
    });
    let naming = w.dir.join("naming.toml");
    std::fs::write(
        &naming,
        "[tenant]\nid = \"globex\"\n[tenant.naming]\nkafka_topic_prefix = \"gbx.\"\n",
    )
    .expect("writes");
    let naming = naming.display().to_string();

    let (o, _) = w.restore(&file, &["--auto-approve", "--domain", "kafka"]);
    code(&o, 0);
    let out = both(&o);
    assert!(
        out.contains("left out, outside tenant `globex`'s scope: kafka.topic.gbx.audit"),
        "{out}"
    );
    assert_eq!(out.matches("gbx.audit").count(), 1, "said once: {out}");

    let (o, report) = w.restore(
        &file,
        &["--auto-approve", "--domain", "kafka", "--manifest", &naming],
    );
    code(&o, 0);
    let out = both(&o);
    assert!(!out.contains("outside tenant"), "{out}");
    assert_eq!(report["counts"]["create"], 1, "{report}");
    w.finish().await;
}

/// A role the platform exports with `"composites": {"realm": []}` (or with every collection empty) is a
/// role without composites, as Keycloak stores it: the first restore creates it, `--verify` finds nothing
/// left, and restoring the same artifact again changes nothing and reports no conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_collections_restore_with_no_noise() {
    let w = World::new("globex").await;
    let file = globex_artifact(&w, "gbx-empty-composites.json", "iam", |d| {
        d["data"]["roles"] = serde_json::json!([
            {"name": "operator", "composites": {"realm": []}},
            {"name": "viewer", "composites": {"realm": [], "client": {}}, "attributes": {}},
            {"name": "auditor", "description": "Reads the audit trail", "composites": {}}
        ]);
    });
    let args = ["--auto-approve", "--domain", "iam", "--verify"];
    let (o, report) = w.restore(&file, &args);
    code(&o, 0);
    assert_eq!(World::outcomes(&report)["iam"], "applied", "{}", both(&o));
    let (o, report) = w.restore(&file, &args);
    code(&o, 0);
    assert_eq!(World::outcomes(&report)["iam"], "unchanged", "{}", both(&o));
    let conflicts: Vec<&Value> = report["domains"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| d["conflicts"].as_array().into_iter().flatten())
        .collect();
    assert!(conflicts.is_empty(), "{report}");
    w.finish().await;
}

/// The platform's artifact names the tenant's realm but carries none of its settings: restored into a
/// Keycloak without that realm, the preflight refuses before anything is written (exit 4, naming the
/// realm), PostgreSQL included; `--create-missing` creates the realm with Keycloak's defaults, says which
/// security settings take them, and the restore completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_realm_refuses_before_writing_or_is_created_when_asked() {
    let w = World::new("globex").await;
    let file = globex_artifact(&w, "gbx-no-realm.json", "iam", |d| {
        if let Some(data) = d["data"].as_object_mut() {
            data.remove("realm_settings");
        }
    });
    let args = ["--auto-approve", "--domain", "postgres", "--domain", "iam"];
    let (o, report) = w.restore(&file, &args);
    code(&o, 4);
    assert_eq!(report["outcome"], "refused", "{report}");
    assert!(
        both(&o).contains("do not exist: iam.realm.globex (--create-missing creates it)"),
        "{}",
        both(&o)
    );
    globex_schema_absent(&w).await;

    let mut create = args.to_vec();
    create.extend(["--create-missing", "--verify"]);
    let (o, report) = restore_as_predicted(&w, &file, &create);
    code(&o, 0);
    assert!(
        both(&o).contains("iam.realm.globex does not exist: it is created with the system's defaults (no password policy, brute-force protection off"),
        "{}",
        both(&o)
    );
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["iam"], "applied", "{report}");
    assert_eq!(outcomes["postgres"], "applied", "{report}");
    // The realm exists now: the same restore needs no flag and changes nothing.
    let (o, report) = w.restore(&file, &args);
    code(&o, 0);
    assert_eq!(World::outcomes(&report)["iam"], "unchanged", "{}", both(&o));
    w.finish().await;
}

/// The platform redacts an OpenWhisk parameter it encrypts; OpenWhisk takes parameters whole, so the action
/// cannot be written without it. The preflight refuses before anything is written (exit 4), naming the
/// action, the parameter and how to give it; `--create-without-secrets` writes the action without it, and
/// the report lists it among the secrets to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_needing_an_uncarried_secret_refuses_before_writing() {
    let w = World::new("globex").await;
    let file = globex_functions_with_code(&w, "gbx-functions.json");
    let args = [
        "--auto-approve",
        "--domain",
        "functions",
        "--domain",
        "postgres",
    ];
    let (o, report) = w.restore(&file, &args);
    let out = both(&o);
    assert_eq!(report["outcome"], "refused", "{out}");
    code(&o, 4);
    assert!(
        out.contains("cannot be written without secrets the backup could not carry: functions.action.sendInvoice /parameter/0/secret;"),
        "{out}"
    );
    assert!(out.contains("--create-without-secrets"), "{out}");
    globex_schema_absent(&w).await;

    let mut without = args.to_vec();
    without.push("--create-without-secrets");
    let (o, report) = w.restore(&file, &without);
    code(&o, 0);
    let out = both(&o);
    assert!(
        out.contains("written without the secrets the backup could not carry (set them after the restore): functions.action.sendInvoice /parameter/0/secret"),
        "{out}"
    );
    let functions = World::domain(&report, "functions");
    assert_eq!(functions["outcome"], "applied", "{report}");
    assert_eq!(
        functions["secrets_to_set"],
        serde_json::json!(["functions.action.sendInvoice /parameter/0/secret"]),
        "{report}"
    );
    w.finish().await;
}

/// `--secrets FILE` gives the secrets the backup could not carry by reference, named as the preflight
/// names them: the action is written with its parameter (read from the environment), and neither the
/// output nor the report shows the value. A file naming a field the backup did carry is refused before
/// anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_file_gives_what_the_backup_could_not_carry() {
    let mut w = World::new("globex").await;
    let token = "gbx-CANARY-smtp-51c0de";
    w.w.set_env("GBX_SMTP_TOKEN", token);
    let file = globex_functions_with_code(&w, "gbx-secrets.json");
    // A secrets file naming the action's field `/parameter/{index}/secret`, and the restore with it.
    let with_secrets = |index: u32| {
        let path = w.dir.join(format!("secrets-{index}.toml"));
        let text = format!(
            "[\"functions.action.sendInvoice\"]\n\"/parameter/{index}/secret\" = {{ env = \"GBX_SMTP_TOKEN\" }}\n"
        );
        std::fs::write(&path, text).expect("writes");
        let path = path.display().to_string();
        w.restore(
            &file,
            &[
                "--auto-approve",
                "--domain",
                "functions",
                "--secrets",
                &path,
            ],
        )
    };
    let (o, _) = with_secrets(1);
    code(&o, 4);
    assert!(
        both(&o).contains("functions.action.sendInvoice /parameter/1/secret: not a secret this backup could not carry"),
        "{}",
        both(&o)
    );
    assert!(
        !w._ow.log().iter().any(|r| r.method == "PUT"),
        "nothing is written"
    );

    let (o, report) = with_secrets(0);
    code(&o, 0);
    assert!(both(&o).contains("1 secret(s) given by"), "{}", both(&o));
    assert!(!both(&o).contains(token));
    assert!(!report.to_string().contains(token));
    let sent = w
        ._ow
        .log()
        .into_iter()
        .find(|r| r.method == "PUT" && r.body["name"] == "sendInvoice")
        .map(|r| r.body["parameters"].clone())
        .unwrap_or_default();
    assert!(
        sent.as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["key"] == "SMTP_TOKEN" && p["value"] == token)),
        "{sent}"
    );
    w.finish().await;
}

/// An artifact with an error in one domain (a bucket name S3 refuses): restoring that domain is refused
/// before anything is written, naming it; restoring other domains goes on, the error left aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_refuses_only_the_restore_of_its_own_domain() {
    let w = World::new("globex").await;
    let file = globex_artifact(&w, "gbx-bad-bucket.json", "storage", |d| {
        d["data"]["buckets"][0]["name"] = Value::from("globex_Invoices");
    });
    let (o, report) = w.restore(&file, &["--auto-approve", "--domain", "storage"]);
    code(&o, 4);
    assert_eq!(report["outcome"], "refused", "{report}");
    assert!(both(&o).contains("globex_Invoices"), "{}", both(&o));

    let (o, report) = w.restore(&file, &["--auto-approve", "--domain", "postgres"]);
    code(&o, 0);
    assert!(
        both(&o).contains("the errors above are in domains this restore does not write"),
        "{}",
        both(&o)
    );
    assert_eq!(World::outcomes(&report)["postgres"], "applied", "{report}");
    assert_eq!(
        World::outcomes(&report)["storage"],
        "not_requested",
        "{report}"
    );
    w.finish().await;
}

/// The platform could not export an action's code: the action cannot be created from the artifact. The
/// preflight refuses before anything is written (exit 4), naming it and what it lacks; `--skip-invalid`
/// leaves it out, says so, and the report lists it; the rest of the domain is restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_without_its_code_refuses_or_is_left_out() {
    let w = World::new("globex").await;
    let file = globex_artifact(&w, "gbx-no-code.json", "functions", |_| {});
    let args = [
        "--auto-approve",
        "--domain",
        "functions",
        "--create-without-secrets",
    ];
    let (o, report) = w.restore(&file, &args);
    code(&o, 4);
    assert_eq!(report["outcome"], "refused", "{report}");
    assert!(
        both(&o).contains(
            "cannot be created from this source: functions.action.archive: its code (not exported);"
        ),
        "{}",
        both(&o)
    );
    assert!(
        !w._ow.log().iter().any(|r| r.method == "PUT"),
        "nothing is written"
    );

    let mut skip = args.to_vec();
    skip.push("--skip-invalid");
    let (o, report) = w.restore(&file, &skip);
    code(&o, 0);
    let out = both(&o);
    let left = "left out, they cannot be created from this source: functions.action.archive";
    assert!(out.contains(left), "{out}");
    let functions = World::domain(&report, "functions");
    let lacking = serde_json::json!(["functions.action.archive: its code (not exported)"]);
    let outcome = (&functions["outcome"], &functions["left_out"]);
    assert_eq!(outcome, (&Value::from("applied"), &lacking), "{report}");
    w.finish().await;
}

/// What the preflight predicts, per object: each change's address and action, read from the plan a dry
/// run shows (`  + ADDRESS`: create, `~` update, `-/+` replace, `-` delete).
fn predicted(w: &World, file: &str, args: &[&str]) -> BTreeMap<String, String> {
    let mut all = vec!["--dry-run"];
    all.extend(args.iter().filter(|a| **a != "--verify"));
    let (o, _) = w.restore(file, &all);
    let actions = [
        ("+", "create"),
        ("~", "update"),
        ("-/+", "replace"),
        ("-", "delete"),
    ];
    text_of(&o)
        .lines()
        .filter_map(|l| {
            let (symbol, address) = l.strip_prefix("  ")?.split_once(' ')?;
            let (_, action) = actions.iter().find(|(s, _)| *s == symbol)?;
            let address = (!address.contains(' ') && address.contains('.')).then_some(address)?;
            Some((address.to_string(), action.to_string()))
        })
        .collect()
}

/// Restores `file` with `args` after predicting it, and holds the outcome to the prediction, object by
/// object: each predicted change of a domain that was applied is made (the preflight of the same restore
/// run again predicts nothing for it), each of a domain that failed is made or still to be made as predicted
/// (a system without transactions keeps what it applied before the failure), nothing else changed, and the
/// report counts what was predicted. The restore's output and report.
fn restore_as_predicted(w: &World, file: &str, args: &[&str]) -> (std::process::Output, Value) {
    let before = predicted(w, file, args);
    assert!(!before.is_empty(), "the preflight predicts changes");
    let (o, report) = w.restore(file, args);
    let after = predicted(w, file, args);
    let failed = |address: &str| {
        let domain = address.split('.').next().unwrap_or_default();
        World::outcomes(&report).get(domain).map(String::as_str) == Some("error")
    };
    for (address, action) in &before {
        let left = after.get(address);
        match failed(address) {
            true => assert!(
                left.is_none_or(|l| l == action),
                "{address}: {left:?}, not {action}"
            ),
            false => assert_eq!(
                left, None,
                "{address}: predicted to {action}, not made: {report}"
            ),
        }
    }
    for address in after.keys() {
        assert!(
            before.contains_key(address) || failed(address),
            "{address} was not predicted"
        );
    }
    let creates = before
        .iter()
        .filter(|(a, c)| c.as_str() == "create" && !failed(a))
        .count();
    assert_eq!(report["counts"]["create"], creates, "{report}");
    (o, report)
}

/// The platform's whole globex export, restored into empty systems: the preflight refuses before anything
/// is written what S3 and Kafka would refuse (a CORS rule without methods, a lifecycle rule without an
/// action, a replication factor above the cluster's one broker), naming each object and rule; with
/// `--skip-invalid` exactly those are left out and listed, the rest completes (exit 0), and restoring the
/// same artifact again changes nothing, reports no conflict and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platforms_whole_export_restores_or_is_refused_before_writing() {
    let _turn = crate::support::GLOBEX_BUCKETS.lock().await;
    let w = World::new("globex").await;
    // The test broker has no authorizer and, unlike Kafka, answers DescribeAcls without saying so
    // (Kafka answers SECURITY_DISABLED, which the preflight reads): its ACL cannot be restored here.
    let file = globex_artifact(&w, "gbx-full.json", "kafka", |d| {
        d["data"]["acls"] = serde_json::json!([]);
    });
    let mut args = vec![
        "--auto-approve",
        "--create-missing",
        "--create-without-secrets",
    ];
    let (o, report) = w.restore(&file, &args);
    code(&o, 4);
    let out = both(&o);
    assert!(
        out.contains("break rules their systems would refuse them by"),
        "{out}"
    );
    // The refusal names each bucket's rule once (the source's own diagnostics say `error[rule]` apart).
    for rule in [" [s3-cors-rule]", " [s3-lifecycle-rule]"] {
        assert_eq!(
            out.matches(rule).count(),
            2,
            "{rule} for each bucket: {out}"
        );
    }
    assert_eq!(report["outcome"], "refused", "{report}");
    globex_schema_absent(&w).await;

    // The cluster's one broker is read before writing: the topic that asks for three is refused.
    let kafka_only = globex_artifact(&w, "gbx-kafka.json", "kafka", |_| {});
    let (o, _) = w.restore(&kafka_only, &["--auto-approve", "--domain", "kafka"]);
    code(&o, 4);
    let refusal = "kafka.topic.globex.invoices: replication factor 3 is more than the cluster's 1 broker(s) [kafka-replication-factor]";
    assert!(both(&o).contains(refusal), "{}", both(&o));

    args.push("--skip-invalid");
    let (o, report) = restore_as_predicted(&w, &file, &args);
    code(&o, 0);
    let storage = World::domain(&report, "storage");
    let left: Vec<&str> = storage["left_out"]
        .as_array()
        .expect("left_out")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(left.len(), 4, "{report}");
    for bucket in ["globex-invoices", "globex-exports"] {
        for part in ["cors_rule[0]", "lifecycle_rule[0]"] {
            let line = format!("storage.bucket.{bucket} {part}:");
            assert!(
                left.iter().any(|l| l.starts_with(&line)),
                "{line}: {report}"
            );
        }
    }
    let kafka = World::domain(&report, "kafka");
    assert_eq!(kafka["left_out"], serde_json::json!([refusal]), "{report}");
    let functions = World::domain(&report, "functions");
    let archive = serde_json::json!(["functions.action.archive: its code (not exported)"]);
    assert_eq!(functions["left_out"], archive, "{report}");
    assert_eq!(storage["outcome"], "applied", "{report}");
    // The token lifespan the platform redacted though it is no secret: named, never written.
    let unknown = serde_json::json!(["/domains/0/data/realm_settings/accessTokenLifespan"]);
    assert_eq!(
        World::domain(&report, "iam")["unknown_values"],
        unknown,
        "{report}"
    );
    assert!(
        both(&o).contains("redacted though they are no secrets"),
        "{}",
        both(&o)
    );

    args.push("--verify");
    let (o, report) = w.restore(&file, &args);
    code(&o, 0);
    World::nothing_done(&report);
    assert!(
        report["domains"]
            .as_array()
            .expect("domains")
            .iter()
            .all(|d| d["conflicts"].as_array().is_none_or(Vec::is_empty)),
        "{report}"
    );
    w.finish().await;
}

/// The platform's "partial failure and later retry": with the broker down, the restore writes every domain
/// that does not need it, holds back Kafka's objects and what depends on them (an action made to depend on
/// a topic), reports Kafka's error naming the broker, and exits 5; once the broker is back, the same
/// restore creates exactly what was held back and leaves the rest alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_system_holds_back_only_what_needs_it_and_the_rerun_completes() {
    let mut w = World::new("rsunr").await;
    w.w.set_env("FALCONER_CONNECT_TIMEOUT", "3");
    let id = w.applied_and_backed_up();
    let topic = format!("kafka.topic.{}.orders", w.t);
    let file = backup_file(&w, &id, |f| {
        replace_document(f, "functions", |doc| {
            for a in doc["functions"]["action"].as_array_mut().expect("actions") {
                a["depends_on"] = serde_json::json!([topic]);
            }
        });
    });
    w.lose_everything();
    (w.kafka.stopper())();
    let (o, report) = restore_as_predicted(&w, &file, &["--auto-approve"]);
    code(&o, 5);
    assert_eq!(report["outcome"], "partial", "{report}");
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["kafka"], "error", "{report}");
    assert_eq!(outcomes["functions"], "applied", "{report}");
    for d in ["iam", "postgres", "mongo", "storage"] {
        assert_eq!(outcomes[d], "applied", "{d}: {report}");
    }
    let kafka = World::domain(&report, "kafka");
    let broker = w.kafka.bootstrap.clone();
    assert!(
        kafka["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot be reached") && r.contains(&broker)),
        "{kafka}"
    );
    let held = serde_json::json!([format!("functions.action.orders/notify")]);
    assert_eq!(
        World::domain(&report, "functions")["held_back"],
        held,
        "{report}"
    );
    assert!(both(&o).contains("held back"), "{}", both(&o));

    // A connection that cannot work (here a URL that is not one) is no reason to write the rest: refused.
    w.w.set_env("FALCONER_MONGO_URL", "not a url");
    let (o, report) = w.restore(&file, &["--auto-approve"]);
    code(&o, 4);
    assert_eq!(report["outcome"], "refused", "{report}");
    assert!(
        both(&o).contains("cannot be connected to: mongo:"),
        "{}",
        both(&o)
    );
    let mongo = w._mongo.url.clone();
    w.w.set_env("FALCONER_MONGO_URL", &mongo);

    w.kafka.start_again().await;
    let (o, report) = restore_as_predicted(&w, &file, &["--auto-approve"]);
    code(&o, 0);
    let outcomes = World::outcomes(&report);
    assert_eq!(outcomes["kafka"], "applied", "{report}");
    assert_eq!(outcomes["functions"], "applied", "{report}");
    assert_eq!(
        World::domain(&report, "functions")["counts"]["create"],
        1,
        "{report}"
    );
    for d in ["iam", "postgres", "mongo", "storage"] {
        assert_eq!(outcomes[d], "unchanged", "{d}: {report}");
    }
    w.in_sync();
    w.finish().await;
}

/// A second export of the platform, written in its shapes as the systems' APIs return them with their
/// optional members present (Keycloak representations with ids, attributes, access maps and mappers; S3
/// lifecycle rules with an `And` filter, noncurrent expiration and multipart abort (no transition: the test
/// server does not implement them, docs/storage.md), a full CORS rule, a deny policy; OpenWhisk entities
/// with versions, limits, annotations and a rule's entity paths; a capped collection; a composite role):
/// restored into empty systems as predicted and verified, then into
/// systems that hold the tenant, where nothing changes and nothing conflicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rich_export_restores_into_empty_systems_and_again_without_noise() {
    let w = World::new("initech").await;
    let file = fixture("initech-v1.0.0.json");
    let args = [
        "--auto-approve",
        "--create-missing",
        "--create-without-secrets",
        "--allow",
        "WIDENS_ACCESS",
        "--verify",
    ];
    let (o, report) = restore_as_predicted(&w, &file, &args);
    code(&o, 0);
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["counts"]["create"], 27, "{report}");
    let (o, report) = w.restore(&file, &args);
    code(&o, 0);
    World::nothing_done(&report);
    assert!(
        report["domains"]
            .as_array()
            .expect("domains")
            .iter()
            .all(|d| d["conflicts"].as_array().is_none_or(Vec::is_empty)),
        "{report}"
    );
    w.finish().await;
}
