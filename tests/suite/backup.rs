//! `falconer backup` against a real PostgreSQL: domain statuses (ok, not available, error), partial
//! backups and their exit code, content addressing (unchanged backups add only a record), `verify` finding
//! damaged blobs and records by id, `delete` keeping what other backups use, and no secret in the
//! repository.

use std::path::Path;

use falconer::backup::store::Store;

use serde_json::Value;

use crate::support::{TestDb, Workdir, both, code};

const PASSWORD: &str = "bk-CANARY-pw-51e0d2";

/// Where the test's repository is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum On {
    Dir,
    S3,
}

struct World {
    db: TestDb,
    w: Workdir,
    repo_url: String,
    store: Store,
    /// Another handle on the same store (for counting a fresh reader's requests).
    again: Box<dyn Fn() -> Store + Send + Sync>,
}

impl std::ops::Deref for World {
    type Target = Workdir;
    fn deref(&self) -> &Workdir {
        &self.w
    }
}

impl World {
    async fn new(tag: &str, on: On) -> World {
        let db = TestDb::new(&format!("{tag}_{}", on as u8)).await;
        let mut env = vec![
            ("FALCONER_POSTGRES_URL".to_string(), db.url.clone()),
            ("BACKUP_TEST_PASSWORD".to_string(), PASSWORD.to_string()),
        ];
        let w_dir_name = db.name.clone();
        let (repo_url, store, again): (_, _, Box<dyn Fn() -> Store + Send + Sync>) = match on {
            On::Dir => {
                let dir = std::env::temp_dir()
                    .join(format!(
                        "falconer-backup-{w_dir_name}-{}",
                        std::process::id()
                    ))
                    .join("repo");
                let url = format!("file:{}", dir.display());
                let store = Store::open(&url, &process_env(), None).expect("a store");
                let u = url.clone();
                (
                    url,
                    store,
                    Box::new(move || Store::open(&u, &process_env(), None).expect("a store")),
                )
            }
            On::S3 => {
                let endpoint = crate::support::s3_endpoint().await;
                let bucket = format!("bk-{}-{}", db.name.replace('_', "-"), std::process::id());
                let client = crate::support::s3_client(&endpoint, crate::support::S3_SECRET);
                let call = falconer::s3::client::Call::new(reqwest::Method::PUT, Some(&bucket), "");
                client.send(call).await.expect("creates the bucket");
                env.extend([
                    ("FALCONER_REPO_S3_ENDPOINT".to_string(), endpoint.clone()),
                    ("AWS_ACCESS_KEY_ID".to_string(), "AK".to_string()),
                    (
                        "AWS_SECRET_ACCESS_KEY".to_string(),
                        crate::support::S3_SECRET.to_string(),
                    ),
                ]);
                let store = Store::on_s3(client.config.clone(), &bucket, "repo").expect("a store");
                let (config, b) = (client.config.clone(), bucket.clone());
                let again = move || Store::on_s3(config.clone(), &b, "repo").expect("a store");
                (format!("s3://{bucket}/repo"), store, Box::new(again))
            }
        };
        let w = Workdir::new("backup", &w_dir_name, env);
        let role = format!("r_{}", db.name);
        w.write(
            "m.toml",
            &format!(
                "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n\n\
                 [[postgres.role]]\nname = \"{role}\"\nlogin = true\npassword = {{ env = \"BACKUP_TEST_PASSWORD\" }}\n\n\
                 [[postgres.schema]]\nname = \"app\"\ngrant = [{{ role = \"{role}\", privileges = [\"USAGE\"] }}]\n\n\
                 [[postgres.table]]\nname = \"orders\"\nschema = \"app\"\nprimary_key = {{ columns = [\"id\"] }}\n\
                 column = [{{ name = \"id\", type = \"bigint\", nullable = false }}, {{ name = \"note\", type = \"text\" }}]\n"
            ),
        );
        World {
            db,
            w,
            repo_url,
            store,
            again,
        }
    }

    /// The repository's keys under `dir` (`blobs/`, `backups/acme/`, or `` for all).
    async fn keys(&self, dir: &str) -> Vec<String> {
        self.store.list(dir).await.expect("lists the repository")
    }

    async fn read(&self, key: &str) -> Vec<u8> {
        self.store.read(key).await.expect("reads").expect("exists")
    }

    async fn put(&self, key: &str, bytes: &[u8]) {
        self.store.write(key, bytes).await.expect("writes");
    }

    fn backup(&self, args: &[&str]) -> std::process::Output {
        let m = self.manifest();
        let mut all = vec!["backup", args[0], "--repo", self.repo_url.as_str()];
        if args[0] == "create" {
            all.extend(["--tenant", "acme", "--manifest", m.as_str(), "--json"]);
        }
        all.extend(&args[1..]);
        self.run(&all)
    }

    /// `backup create --tenant acme --manifest M --repo R`.
    fn create_args<'a>(m: &'a str, repo: &'a str) -> Vec<&'a str> {
        vec![
            "backup",
            "create",
            "--tenant",
            "acme",
            "--manifest",
            m,
            "--repo",
            repo,
        ]
    }

    /// `backup create` of the tenant as a child process, with `extra` arguments, output discarded.
    fn spawn_create(&self, extra: &[&str]) -> std::process::Child {
        let m = self.manifest();
        let mut args = World::create_args(&m, &self.repo_url);
        args.extend(extra);
        self.w
            .command(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawns")
    }

    /// Creates a backup; its record (from `--json`) and the exit code.
    fn create(&self, extra: &[&str]) -> (Value, i32) {
        let mut args = vec!["create"];
        args.extend(extra);
        let o = self.backup(&args);
        let record = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("a JSON record ({e}): {}", both(&o)));
        (record, o.status.code().unwrap_or(-1))
    }

    async fn finish(self) {
        let role = format!("r_{}", self.db.name);
        let _ = sqlx::raw_sql(&format!(
            "drop owned by \"{role}\"; drop role if exists \"{role}\""
        ))
        .execute(&self.db.pool)
        .await;
        let _ = std::fs::remove_dir_all(&self.w.dir);
        if let Store::Dir(d) = &self.store {
            let _ = std::fs::remove_dir_all(d.parent().unwrap_or(d));
        }
        self.db.drop().await;
    }
}

/// Each test runs on a local directory and on S3.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_directory() {
                super::$name(super::On::Dir).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_s3() {
                super::$name(super::On::S3).await;
            }
        }
    )* };
}

on_both!(
    backups_record_each_domain_and_share_unchanged_documents,
    a_failing_domain_makes_a_partial_backup_that_keeps_the_others,
    verify_names_damaged_backups_and_delete_keeps_shared_blobs,
    a_backup_is_refused_while_the_tenant_is_locked,
    a_killed_backup_leaves_nothing_or_a_complete_backup,
    backups_travel_as_files_and_artifacts_import_as_backups,
    an_encrypted_repository_opens_only_with_its_key,
);

fn status_of<'a>(record: &'a Value, domain: &str) -> &'a Value {
    record["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("no {domain} in {record}"))
}

fn id(record: &Value) -> String {
    record["id"].as_str().unwrap_or_default().to_string()
}

/// A blob's document (the repository's layout: a 4-byte tag, then deflate).
fn inflate(body: &[u8]) -> Vec<u8> {
    assert_eq!(&body[..4], b"FBZ1");
    miniz_oxide::inflate::decompress_to_vec(&body[4..]).expect("inflates")
}

async fn backups_record_each_domain_and_share_unchanged_documents(on: On) {
    let w = World::new("bk_statuses", on).await;
    code(&w.apply(&[]), 0);

    let (first, rc) = w.create(&[]);
    assert_eq!(rc, 0, "{first}");
    assert_eq!(first["status"], "ok");
    let schema = jsonschema::validator_for(&falconer::backup::schema()).expect("a schema");
    assert!(
        schema.is_valid(&first),
        "the record follows its schema: {first}"
    );
    let pg = status_of(&first, "postgres");
    assert_eq!(pg["status"], "ok");
    assert_eq!(pg["resources"], 3, "{pg}");
    assert_eq!(pg["secrets"][0]["field"], "/password", "{pg}");
    let mongo = status_of(&first, "mongo");
    assert_eq!(mongo["status"], "not_available");
    assert!(
        mongo["message"]
            .as_str()
            .unwrap_or_default()
            .contains("MongoDB"),
        "{mongo}"
    );
    assert_eq!(w.keys("blobs/").await.len(), 1);

    // Nine more backups of the unchanged tenant: one record each, no new blob.
    let mut blob_bytes = 0;
    for k in w.keys("blobs/").await {
        blob_bytes += w.read(&k).await.len();
    }
    let mut ids = vec![id(&first)];
    for _ in 0..9 {
        let (r, rc) = w.create(&[]);
        assert_eq!(rc, 0, "{r}");
        assert_eq!(status_of(&r, "postgres")["digest"], pg["digest"]);
        ids.push(id(&r));
    }
    let blobs = w.keys("blobs/").await;
    assert_eq!(blobs.len(), 1, "unchanged backups add no blob");
    assert_eq!(w.read(&blobs[0]).await.len(), blob_bytes);
    assert_eq!(w.keys("backups/acme/").await.len(), 10);

    // The listing shows all ten, newest first.
    let o = w.backup(&["list", "--json"]);
    code(&o, 0);
    let listed: Value = serde_json::from_slice(&o.stdout).expect("JSON list");
    let listed: Vec<&str> = listed
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.sort();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    // Another machine: an empty state store lists, shows and verifies them from the repository alone.
    let elsewhere = format!("sqlite:{}", w.dir.join("elsewhere.db").display());
    let fresh = |args: &[&str]| {
        let mut all = vec![
            "--state",
            elsewhere.as_str(),
            "backup",
            args[0],
            "--repo",
            &w.repo_url,
        ];
        all.extend(&args[1..]);
        w.run(&all)
    };
    let o = fresh(&["list"]);
    code(&o, 0);
    // A header, then the ten.
    assert_eq!(both(&o).lines().count(), 11, "{}", both(&o));
    assert!(both(&o).starts_with("ID "), "{}", both(&o));
    // A reader lists the ten from one listing and the index: on S3, two requests, not one per record.
    let reader = falconer::backup::repo::Repo::in_store((w.again)());
    let listed = reader.records(None).await.expect("lists");
    assert_eq!(listed.iter().filter(|r| r.is_ok()).count(), 10);
    if on == On::S3 {
        assert_eq!(reader.requests(), 2, "one page of keys and the index");
    }
    // A record the index lacks (its writer died before the index) is read and added: then two again.
    w.store
        .remove("index/records")
        .await
        .expect("removes the index");
    let reader = falconer::backup::repo::Repo::in_store((w.again)());
    assert_eq!(reader.records(None).await.expect("lists").len(), 10);
    if on == On::S3 {
        assert_eq!(
            reader.requests(),
            2 + 10 + 1,
            "the records read once, the index written"
        );
        let reader = falconer::backup::repo::Repo::in_store((w.again)());
        assert_eq!(reader.records(None).await.expect("lists").len(), 10);
        assert_eq!(reader.requests(), 2);
    }
    code(&fresh(&["show", &ids[0]]), 0);
    code(&fresh(&["verify", "--all"]), 0);

    // No secret anywhere in the repository.
    for k in w.keys("").await {
        let body = w.read(&k).await;
        let body = if k.starts_with("blobs/") || k.starts_with("index/") {
            inflate(&body)
        } else {
            body
        };
        assert!(
            !String::from_utf8_lossy(&body).contains(PASSWORD),
            "{k} holds the secret"
        );
    }
    w.finish().await;
}

async fn a_failing_domain_makes_a_partial_backup_that_keeps_the_others(on: On) {
    let mut w = World::new("bk_partial", on).await;
    code(&w.apply(&[]), 0);
    // An S3 endpoint where nothing listens: the storage domain fails, the others are kept.
    w.w.set_env("FALCONER_S3_ENDPOINT", "http://127.0.0.1:9");
    w.w.set_env("AWS_ACCESS_KEY_ID", "AK");
    w.w.set_env("AWS_SECRET_ACCESS_KEY", crate::support::S3_SECRET);
    let (r, rc) = w.create(&[]);
    assert_eq!(rc, 5, "partial: {r}");
    assert_eq!(r["status"], "partial");
    let s3 = status_of(&r, "storage");
    assert_eq!(s3["status"], "error");
    assert!(
        s3["message"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1:9"),
        "{s3}"
    );
    assert_eq!(status_of(&r, "postgres")["status"], "ok");

    // Only PostgreSQL asked for, and only the table: the record says what was left out.
    let (r, rc) = w.create(&["--domain", "postgres", "--include", "postgres.table.*"]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(status_of(&r, "postgres")["resources"], 1);
    assert_eq!(r["left_out"], 2);
    assert_eq!(r["domains"].as_array().map(Vec::len), Some(1));
    w.finish().await;
}

/// A runner that lost a system's connection writes a partial backup (exit 5), never an `ok` one without the
/// tenant's objects in it; and retention keeps the last complete backup behind newer partial ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_makes_a_partial_backup_and_prune_keeps_the_last_complete() {
    let mut w = World::new("bk_lost", On::Dir).await;
    code(&w.apply(&[]), 0);
    let (complete, rc) = w.create(&[]);
    assert_eq!(
        (rc, complete["status"].as_str()),
        (0, Some("ok")),
        "{complete}"
    );
    // The runner's PostgreSQL connection is gone (S3 is there, with nothing of the tenant's); the manifest
    // declares PostgreSQL objects.
    w.w.set_env("FALCONER_POSTGRES_URL", "");
    w.w.set_env("FALCONER_S3_ENDPOINT", &crate::support::s3_endpoint().await);
    w.w.set_env("AWS_ACCESS_KEY_ID", "AK");
    w.w.set_env("AWS_SECRET_ACCESS_KEY", crate::support::S3_SECRET);
    let (r, rc) = w.create(&[]);
    assert_eq!(rc, 5, "partial: {r}");
    assert_eq!(r["status"], "partial");
    let pg = status_of(&r, "postgres");
    assert_eq!(pg["status"], "error", "{pg}");
    let message = pg["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("the tenant has PostgreSQL objects (its manifest"),
        "{message}"
    );
    // Without the manifest, the previous backup says the tenant has them.
    let o = w.run(&[
        "backup",
        "create",
        "--tenant",
        "acme",
        "--repo",
        &w.repo_url,
        "--json",
    ]);
    code(&o, 5);
    let again: Value = serde_json::from_slice(&o.stdout).expect("a JSON record");
    let message = status_of(&again, "postgres")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(&format!("its backup {} holds some", id(&complete))),
        "{message}"
    );
    // Keycloak is neither configured nor held: not available, as before.
    assert_eq!(status_of(&again, "iam")["status"], "not_available");

    // Keep one: the newest (partial) and the last complete one stay, each with its reason.
    let o = w.backup(&["prune", "--keep-last", "1", "--json"]);
    code(&o, 0);
    let pruned: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let mut kept: Vec<(String, Value)> = pruned["kept"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            (
                k["id"].as_str().unwrap_or_default().to_string(),
                k["reasons"].clone(),
            )
        })
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kept,
        vec![
            (
                id(&complete),
                serde_json::json!(["newest complete (the newer ones are partial)"])
            ),
            (id(&again), serde_json::json!(["newest", "last 1"])),
        ],
        "{pruned}"
    );
    let keys = w.keys("backups/acme/").await;
    assert!(
        keys.iter()
            .any(|k| k.ends_with(&format!("{}.json", id(&complete)))),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.ends_with(&format!("{}.json", id(&again)))),
        "{keys:?}"
    );
    assert!(
        !keys
            .iter()
            .any(|k| k.ends_with(&format!("{}.json", id(&r)))),
        "{keys:?}"
    );
    w.finish().await;
}

/// An application schema holds objects no kind carries yet (an ordered-set aggregate, a function with a
/// SQL-standard body, a rule, a text search configuration): export names each, the backup is `incomplete`
/// (exit 0; 5 with `--strict`) and `backup show` lists them. What the kinds carry (the table, its key, a
/// materialized view, an enum type, a sequence a default calls, a `plpgsql` function and the trigger
/// calling it, a plain aggregate) is not named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_no_kind_carries_is_named_and_the_backup_is_incomplete() {
    let w = World::new("bk_inv", On::Dir).await;
    code(&w.apply(&[]), 0);
    sqlx::raw_sql(
        "CREATE TYPE app.status AS ENUM ('new', 'paid');
         CREATE SEQUENCE app.invoice_no;
         CREATE TABLE app.invoices (id bigint PRIMARY KEY DEFAULT nextval('app.invoice_no'),
                                    status app.status NOT NULL DEFAULT 'new', touched timestamptz);
         CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql
           AS $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;
         CREATE TRIGGER invoices_touch BEFORE UPDATE ON app.invoices
           FOR EACH ROW EXECUTE FUNCTION app.touch();
         CREATE MATERIALIZED VIEW app.paid AS SELECT id FROM app.invoices WHERE status = 'paid';
         CREATE TEXT SEARCH CONFIGURATION app.english_simple (COPY = pg_catalog.simple);
         CREATE AGGREGATE app.total_sum(numeric) (SFUNC = numeric_add, STYPE = numeric);
         CREATE AGGREGATE app.last_sorted(ORDER BY numeric) (SFUNC = numeric_larger, STYPE = numeric);
         CREATE FUNCTION app.twice(x integer) RETURNS integer LANGUAGE sql RETURN x * 2;
         CREATE VIEW app.open AS SELECT id FROM app.invoices WHERE status = 'new';
         CREATE RULE open_keep AS ON DELETE TO app.open DO INSTEAD NOTHING;
         CREATE EXTENSION pg_buffercache SCHEMA app;",
    )
    .execute(&w.db.pool)
    .await
    .expect("creates the schema's objects");
    let m = w.manifest();
    let export = [
        "export",
        "--tenant",
        "acme",
        "--manifest",
        &m,
        "--domain",
        "postgres",
    ];
    let o = w.run(&export);
    code(&o, 0);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("postgres: not carried (a manifest, export or backup does not hold them): 1 aggregate, 1 function, 1 rule, 1 text search configuration:"),
        "{err}"
    );
    for name in [
        "function app.last_sorted(numeric)",
        "function app.twice(integer)",
        "rule open_keep on view app.open",
        "text search configuration app.english_simple",
    ] {
        assert!(err.contains(name), "{name}: {err}");
    }
    for carried in [
        "table app.invoices;",
        "materialized view",
        "invoices_pkey",
        "type app.status",
        "sequence app.invoice_no",
        "app.touch()",
        "trigger invoices_touch",
        "total_sum",
    ] {
        assert!(!err.contains(carried), "{carried} is carried: {err}");
    }
    // An extension's members (pg_buffercache's view and functions) are the extension's: neither exported
    // nor named; the extension itself is exported.
    let manifest = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!manifest.contains("pg_buffercache_pages"), "{manifest}");
    assert!(manifest.contains("name = \"pg_buffercache\""), "{manifest}");
    assert!(!err.contains("pg_buffercache"), "{err}");
    let mut strict = export.to_vec();
    strict.push("--strict");
    code(&w.run(&strict), 5);
    // A plan (and so a drift check) says it by kind and count.
    let o = w.run(&["plan", &m]);
    code(&o, 0);
    assert!(
        both(&o).contains("postgres: 4 object(s) of the tenant's scope not carried (no kind manages them; the plan neither changes nor deletes them): 1 aggregate, 1 function, 1 rule, 1 text search configuration"),
        "{}",
        both(&o)
    );

    let (r, rc) = w.create(&["--domain", "postgres"]);
    assert_eq!((rc, r["status"].as_str()), (0, Some("incomplete")), "{r}");
    let pg = status_of(&r, "postgres");
    assert_eq!(pg["status"], "incomplete", "{pg}");
    let kinds: Vec<&str> = pg["not_carried"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["aggregate", "function", "rule", "text search configuration"],
        "{pg}"
    );
    let (_, rc) = w.create(&["--domain", "postgres", "--strict"]);
    assert_eq!(rc, 5);
    let o = w.backup(&["show", "latest", "--tenant", "acme"]);
    code(&o, 0);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        shown.contains("not carried: function app.last_sorted(numeric)"),
        "{shown}"
    );
    assert!(shown.contains("incomplete"), "{shown}");
    // A restore's preflight repeats what the backup cannot bring back (a dry run writes nothing).
    let report = w.w.dir.join("report.json");
    let r = report.display().to_string();
    let o = w.run(&[
        "restore",
        "latest",
        "--tenant",
        "acme",
        "--repo",
        &w.repo_url,
        "--domain",
        "postgres",
        "--dry-run",
        "--report",
        &r,
    ]);
    code(&o, 0);
    assert!(
        both(&o).contains(
            "this backup cannot bring these back (no kind carries them): function app.last_sorted(numeric);"
        ),
        "{}",
        both(&o)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("a report")).expect("JSON");
    let pg = report["domains"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["domain"] == "postgres"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        pg["not_carried"].as_array().map(Vec::len),
        Some(4),
        "{report}"
    );
    w.finish().await;
}

async fn verify_names_damaged_backups_and_delete_keeps_shared_blobs(on: On) {
    let w = World::new("bk_verify", on).await;
    code(&w.apply(&[]), 0);
    let (a, b) = (id(&w.create(&[]).0), id(&w.create(&[]).0));
    code(&w.backup(&["verify", "--all"]), 0);
    let o = w.backup(&["prune"]);
    code(&o, 4);
    assert!(both(&o).contains("empty policy"), "{}", both(&o));
    let o = w.backup(&["prune", "--keep-last", "1", "--dry-run"]);
    code(&o, 0);
    assert!(
        both(&o).contains(&format!("would remove {a}")),
        "{}",
        both(&o)
    );
    assert_eq!(
        w.keys("backups/acme/").await.len(),
        2,
        "a dry run removes nothing"
    );

    // Deleting one backup keeps the blob the other uses.
    let o = w.backup(&["delete", &a]);
    code(&o, 0);
    assert!(both(&o).contains("0 blobs"), "{}", both(&o));
    code(&w.backup(&["verify", &b]), 0);
    let o = w.backup(&["show", "latest"]);
    code(&o, 0);
    assert!(both(&o).contains(&b), "{}", both(&o));

    // A flipped byte in the blob: verify names the backup and fails.
    let blob = w.keys("blobs/").await.pop().expect("a blob");
    let mut bytes = w.read(&blob).await;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    w.put(&blob, &bytes).await;
    let o = w.backup(&["verify", "--all"]);
    code(&o, 1);
    assert!(both(&o).contains(&format!("damaged: {b}")), "{}", both(&o));

    // A truncated record is reported by its key.
    let record = format!("backups/acme/{b}.json");
    let body = w.read(&record).await;
    w.put(&record, &body[..body.len() / 2]).await;
    let o = w.backup(&["verify", "--all"]);
    code(&o, 1);
    assert!(both(&o).contains(&format!("{b}.json")), "{}", both(&o));
    // `show` and `restore` read the record itself and refuse it (`list` answers from the index).
    code(&w.backup(&["show", &b]), 1);
    w.finish().await;
}

async fn a_backup_is_refused_while_the_tenant_is_locked(on: On) {
    let w = World::new("bk_locked", on).await;
    code(&w.apply(&[]), 0);
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("state");
    let falconer::state::Acquired::Fresh(held) = state
        .locks()
        .lock(
            "acme",
            &falconer::state::Owner::current(),
            std::time::Duration::from_secs(300),
        )
        .await
        .expect("locks")
    else {
        panic!("a fresh lock");
    };
    let o = w.backup(&["create"]);
    code(&o, 3);
    assert!(both(&o).contains("locked by"), "{}", both(&o));
    assert!(w.keys("").await.is_empty(), "nothing written");
    // A bounded wait: still held when the time is up, refused the same way.
    let o = w.backup(&["create", "--wait", "1s"]);
    code(&o, 3);
    assert!(both(&o).contains("locked by"), "{}", both(&o));
    // Waiting while it is held, then going on once it is given back.
    let mut child = w.spawn_create(&["--wait", "5m"]);
    state.locks().unlock(&held).await.expect("unlocks");
    assert!(child.wait().expect("runs").success());
    assert_eq!(w.keys("backups/acme/").await.len(), 1);
    w.finish().await;
}

/// Killed at 24 points (counted events: the Keycloak double's answers while the domains are read, and on a
/// directory the files the repository gains), `backup create` leaves either no backup or a complete one:
/// every record there reads and verifies, and the next backup completes.
async fn a_killed_backup_leaves_nothing_or_a_complete_backup(on: On) {
    use crate::keycloak_double::{KeycloakDouble, Options};
    let kc = KeycloakDouble::start(0, Options::default())
        .await
        .expect("the double starts");
    let mut w = World::new("bk_killed", on).await;
    for (k, v) in kc.env() {
        w.w.set_env(&k, &v);
    }
    let mut realm = String::from("[[iam.realm]]\nname = \"acme\"\n");
    for i in 0..20 {
        realm.push_str(&format!(
            "\n[[iam.role]]\nname = \"r{i}\"\n\n[[iam.client]]\nclient_id = \"c{i}\"\npublic_client = true\nredirect_uris = [\"https://c{i}/cb\"]\n"
        ));
    }
    w.write("iam.toml", &realm);
    code(&w.apply(&["WIDENS_ACCESS"]), 0);

    let repo_dir = match &w.store {
        Store::Dir(d) => Some(d.clone()),
        Store::S3(_) => None,
    };
    let repo_files = || repo_dir.as_deref().map(count_files).unwrap_or(0);
    let events = || kc.log().len() + repo_files();
    // One whole backup first: how many events one makes.
    let before = events();
    assert_eq!(w.create(&[]).1, 0);
    let whole = events() - before;
    let mut kills = 0;
    for point in (1..=24).map(|i| i * whole / 25) {
        let start = events();
        let command = w.w.command(&[
            "backup",
            "create",
            "--tenant",
            "acme",
            "--manifest",
            &w.manifest(),
            "--repo",
            &w.repo_url,
        ]);
        if crate::support::kill_when(command, || events() >= start + point).await {
            kills += 1;
        }
        // Whatever is there reads and verifies.
        code(&w.backup(&["verify", "--all"]), 0);
    }
    assert!(kills >= 20, "only {kills} backups were killed mid-way");
    let (r, rc) = w.create(&[]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(status_of(&r, "iam")["resources"], 41, "{r}");
    assert!(whole >= 25, "a backup makes {whole} events");
    let o = w.backup(&["verify", "--all"]);
    code(&o, 0);
    w.finish().await;
}

/// A repository given a key is encrypted: its blobs are sealed (no blob inflates, no secret or name shows),
/// `verify` and `export` need the key (the profile's `[backup] key` or `--key-file`), another key is refused
/// naming both key ids, a backup without the key is refused, and an unencrypted repository with backups
/// refuses a key.
async fn an_encrypted_repository_opens_only_with_its_key(on: On) {
    let w = World::new("bk_crypt", on).await;
    code(&w.apply(&[]), 0);
    let key = w.dir.join("backup.key");
    std::fs::write(&key, format!("{}\n", "3f".repeat(32))).expect("writes the key");
    let other = w.dir.join("other.key");
    std::fs::write(&other, "a1".repeat(32)).expect("writes the key");
    let (key, other) = (key.display().to_string(), other.display().to_string());
    let (r, rc) = w.create(&["--key-file", &key]);
    assert_eq!(rc, 0, "{r}");
    let key_id = r["encryption"]["key_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(key_id.len(), 16, "{r}");
    let blobs = w.keys("blobs/").await;
    assert!(!blobs.is_empty());
    for b in &blobs {
        let body = w.read(b).await;
        assert_eq!(&body[..4], b"FBE1", "{b} is sealed");
        // Past the header (key id, nonce) is ciphertext: it does not inflate to the document.
        let inflated = miniz_oxide::inflate::decompress_to_vec(&body[24..]).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&inflated).contains("orders"),
            "{b}"
        );
        assert!(!String::from_utf8_lossy(&body).contains("orders"), "{b}");
    }
    let id = id(&r);
    code(&w.backup(&["verify", "--all", "--key-file", &key]), 0);
    let o = w.backup(&["verify", "--all"]);
    code(&o, 1);
    assert!(
        both(&o).contains(&format!("is encrypted (key id {key_id})")),
        "{}",
        both(&o)
    );
    let o = w.backup(&["verify", "--all", "--key-file", &other]);
    code(&o, 1);
    assert!(
        both(&o).contains(&format!("encrypted with the key of id {key_id}")),
        "{}",
        both(&o)
    );
    let o = w.backup(&["create"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("is encrypted"), "{}", both(&o));
    // The profile's key opens it too; the exported file holds the documents, readable.
    std::fs::write(
        w.dir.join("profile.toml"),
        "[backup]\nkey = { file = \"backup.key\" }\n",
    )
    .expect("writes the profile");
    let profile = w.dir.join("profile.toml").display().to_string();
    let file = w.dir.join("b.json").display().to_string();
    let mut args = vec![
        "--profile",
        profile.as_str(),
        "backup",
        "export",
        id.as_str(),
        "-o",
        file.as_str(),
    ];
    args.extend(["--repo", w.repo_url.as_str()]);
    code(&w.run(&args), 0);
    let exported = std::fs::read_to_string(&file).expect("the file");
    assert!(
        exported.contains("orders"),
        "the export holds the documents"
    );
    assert!(!exported.contains(PASSWORD));

    // An unencrypted repository that holds backups refuses a key.
    let plain = format!("file:{}", w.dir.join("plain").display());
    let m = w.manifest();
    let create = |extra: &[&str]| {
        let mut args = World::create_args(&m, &plain);
        args.extend(extra);
        w.run(&args)
    };
    code(&create(&[]), 0);
    let o = create(&["--key-file", &key]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        both(&o).contains("holds unencrypted backups"),
        "{}",
        both(&o)
    );
    w.finish().await;
}

/// A backup file in record format 1, as falconer wrote it before format 2: the action's code inside the
/// functions document, no `parts`.
fn format_1_file() -> (String, Value) {
    use sha2::Digest;
    let doc = serde_json::json!({"format_version": "1", "tenant": {"id": "acme"},
        "functions": {"action": [{"name": "hello", "kind": "nodejs:20", "code": "function main() { return {}; }"}]}});
    let text = serde_json::to_string_pretty(&doc).expect("JSON");
    let digest = falconer::util::hex(&sha2::Sha256::digest(text.as_bytes()));
    let id = "20260101T000000000Z-00aa11";
    let record = serde_json::json!({"format": "falconer-backup", "format_version": 1, "id": id,
        "tenant": "acme", "status": "ok", "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:00:01Z", "falconer": "0.1.0", "manifest_format": "1",
        "source": "host", "domains": [{"domain": "functions", "status": "ok", "resources": 1,
        "digest": digest, "size": text.len(), "read_at": "2026-01-01T00:00:00Z"}], "left_out": 0});
    let file = serde_json::json!({"format": "falconer-backup-file", "format_version": 1,
        "record": record, "documents": {digest: text}});
    (id.to_string(), file)
}

/// `backup migrate` upgrades a format-1 backup in place: the action's code becomes a blob of its own, the
/// backup verifies and still gives the code; a dry run changes nothing; a record older than any format
/// falconer reads is refused naming that.
#[tokio::test]
async fn migrate_upgrades_a_format_1_backup_and_old_formats_are_refused() {
    let w = World::new("bk_migrate", On::Dir).await;
    let (id, file) = format_1_file();
    let path = w.dir.join("v1.json");
    std::fs::write(&path, file.to_string()).expect("writes");
    code(&w.backup(&["import", &path.display().to_string()]), 0);
    let show = |w: &World| -> Value {
        let o = w.backup(&["show", &id, "--json"]);
        code(&o, 0);
        serde_json::from_slice(&o.stdout).expect("JSON")
    };
    assert_eq!(show(&w)["format_version"], 1);
    let o = w.backup(&["migrate", "--dry-run"]);
    code(&o, 0);
    assert!(
        both(&o).contains(&format!("would migrate backup {id}")),
        "{}",
        both(&o)
    );
    assert_eq!(show(&w)["format_version"], 1, "a dry run changes nothing");
    let o = w.backup(&["migrate"]);
    code(&o, 0);
    assert!(both(&o).contains("(1 parts stored apart)"), "{}", both(&o));
    let r = show(&w);
    assert_eq!(r["format_version"], 2, "{r}");
    let parts = &r["domains"][0]["parts"];
    assert!(parts.get("code/hello.js").is_some(), "{r}");
    code(&w.backup(&["verify", "--all"]), 0);
    let art = w.dir.join("art.json").display().to_string();
    code(
        &w.backup(&["export", &id, "-o", &art, "--format", "falcone"]),
        0,
    );
    let art: Value =
        serde_json::from_str(&std::fs::read_to_string(w.dir.join("art.json")).expect("reads"))
            .expect("JSON");
    use base64::Engine;
    let code_b64 =
        base64::engine::general_purpose::STANDARD.encode("function main() { return {}; }");
    assert_eq!(
        art["domains"][0]["data"]["actions"][0]["code_base64"], code_b64,
        "{art}"
    );
    assert!(both(&w.backup(&["migrate"])).contains("Nothing to migrate"));

    // A record in a format older than any falconer reads.
    let dir = match &w.store {
        Store::Dir(d) => d.clone(),
        Store::S3(_) => unreachable!("a directory world"),
    };
    let mut old = file["record"].clone();
    old["format_version"] = 0.into();
    old["id"] = "20250101T000000000Z-00bb22".into();
    std::fs::write(
        dir.join("backups/acme/20250101T000000000Z-00bb22.json"),
        old.to_string(),
    )
    .expect("writes");
    let o = w.backup(&["show", "20250101T000000000Z-00bb22"]);
    code(&o, 1);
    assert!(
        both(&o).contains("older than any falconer reads"),
        "{}",
        both(&o)
    );
    w.finish().await;
}

/// Files under a directory, at any depth (temporary ones included: they are events too).
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

/// A daily schedule over ten simulated days (`run-due --now`): three days no runner calls, one day the runner
/// comes late and catches the slot up once; retention (`--keep-daily 5`) runs after each backup; two
/// runners at once run a slot once.
#[tokio::test]
async fn a_daily_schedule_runs_each_slot_once_and_keeps_five_days() {
    let w = World::new("bk_schedule", On::Dir).await;
    code(&w.apply(&[]), 0);
    let m = format!("acme={}", w.manifest());
    let o = w.run(&[
        "backup",
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 0 * * *",
        "--tenant",
        &m,
        "--repo",
        &w.repo_url,
        "--keep-daily",
        "5",
    ]);
    code(&o, 0);
    let first_midnight = (falconer::util::now() / 86_400 + 1) * 86_400;
    let at_minute = |day: i64, minute: i64| {
        falconer::util::rfc3339(first_midnight + day * 86_400 + minute * 60)
    };
    let at = |day: i64, hour: i64| at_minute(day, hour * 60);
    let run_due = |now: &str| w.run(&["backup", "run-due", "--now", now]);
    for day in 0..10 {
        match day {
            2 | 5 | 7 => continue,
            8 => {
                // The runner comes at noon: the day's slot runs late, once.
                let o = run_due(&at(day, 12));
                code(&o, 0);
                assert!(both(&o).contains("running slot"), "{}", both(&o));
                let o = run_due(&at(day, 13));
                code(&o, 0);
                assert!(both(&o).contains("already run"), "{}", both(&o));
            }
            _ => code(&run_due(&at_minute(day, 5)), 0),
        }
    }
    let slots = |w: &World| -> Vec<String> {
        let o = w.backup(&["list", "--json"]);
        code(&o, 0);
        let rows: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let mut s: Vec<String> = rows
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["tags"]["slot"].as_str().unwrap_or_default().to_string())
            .collect();
        s.sort();
        s
    };
    // Seven slots ran (days 0, 1, 3, 4, 6, 8, 9); the five newest days are kept.
    assert_eq!(slots(&w), [3, 4, 6, 8, 9].map(|d| at(d, 0)));
    // The slots no runner ran (days 2, 5, 7) were told when the next one ran: a `schedule.missed` event
    // each, in the outbox any agent delivers.
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("state");
    let events = state.outbox().events(0).await.expect("the outbox");
    let mut missed: Vec<(String, i64, String)> = events
        .iter()
        .filter(|e| e.kind == "schedule.missed")
        .map(|e| {
            let d: Value = serde_json::from_str(&e.data).expect("JSON");
            let first = d["first"].as_str().unwrap_or_default().to_string();
            (
                d["schedule"].as_str().unwrap_or_default().into(),
                d["missed"].as_i64().unwrap_or(0),
                first,
            )
        })
        .collect();
    missed.sort_by(|a, b| a.2.cmp(&b.2));
    let expected: Vec<(String, i64, String)> = [2, 5, 7]
        .iter()
        .map(|&d| ("nightly".to_string(), 1, at(d, 0)))
        .collect();
    assert_eq!(missed, expected);

    // Two runners at once: the slot of day 10 runs once.
    let spawn = || {
        w.w.command(&["backup", "run-due", "--now", &at(10, 1)])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawns")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("runs"),
        b.wait_with_output().expect("runs"),
    );
    let ran = [&a, &b]
        .iter()
        .filter(|o| both(o).contains("running slot"))
        .count();
    assert_eq!(ran, 1, "{}\n{}", both(&a), both(&b));
    assert_eq!(slots(&w), [4, 6, 8, 9, 10].map(|d| at(d, 0)));
    w.finish().await;
}

/// A runner killed while it runs a slot (its backup hangs on a Keycloak that never answers): the slot stays
/// claimed while the claim's lease (ten minutes) runs, so another runner leaves it alone; after the lease a
/// runner takes it over and runs it, once.
#[tokio::test]
async fn a_slot_whose_runner_was_killed_runs_again_after_its_lease() {
    let mut w = World::new("bk_slot_retry", On::Dir).await;
    code(&w.apply(&[]), 0);
    let m = format!("acme={}", w.manifest());
    let add = [
        "backup",
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 0 * * *",
    ];
    let mut args = add.to_vec();
    args.extend(["--tenant", &m, "--repo", &w.repo_url, "--keep-all"]);
    code(&w.run(&args), 0);
    let midnight = (falconer::util::now() / 86_400 + 1) * 86_400;
    let at = |minute: i64| falconer::util::rfc3339(midnight + minute * 60);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}", silent.local_addr().expect("an address"));
    w.w.set_env("FALCONER_KEYCLOAK_URL", &url);
    w.w.set_env("FALCONER_KEYCLOAK_USER", "admin");
    w.w.set_env("FALCONER_KEYCLOAK_PASSWORD", "admin");
    let mut runner =
        w.w.command(&["backup", "run-due", "--now", &at(5)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawns");
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("state");
    let mut claimed = false;
    for _ in 0..3000 {
        if state
            .schedules()
            .last_slot("nightly")
            .await
            .expect("reads")
            .is_some()
        {
            claimed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(claimed, "the runner claims the slot");
    runner.kill().expect("kills the runner");
    let _ = runner.wait();
    w.w.set_env("FALCONER_KEYCLOAK_URL", "");
    let run_due = |now: &str| w.run(&["backup", "run-due", "--now", now]);
    let o = run_due(&at(10));
    code(&o, 0);
    assert!(
        both(&o).contains("already run (or running)"),
        "{}",
        both(&o)
    );
    assert_eq!(w.keys("backups/").await.len(), 0, "nothing ran");
    let o = run_due(&at(16));
    code(&o, 0);
    assert!(
        both(&o).contains("again: the runner that claimed it stopped"),
        "{}",
        both(&o)
    );
    assert_eq!(w.keys("backups/acme/").await.len(), 1);
    let o = run_due(&at(17));
    code(&o, 0);
    assert!(both(&o).contains("already run"), "{}", both(&o));
    assert_eq!(w.keys("backups/acme/").await.len(), 1);
    w.finish().await;
}

/// While a backup runs, `backup status` from another process shows its pending and completed domains (here
/// Keycloak accepts connections and never answers, so the realm read stays pending); the backup is killed,
/// and the next backup of the tenant replaces its progress; then the latest outcome is shown.
#[tokio::test]
async fn status_shows_a_running_backup_then_the_latest_outcome() {
    let mut w = World::new("bk_status", On::Dir).await;
    code(&w.apply(&[]), 0);
    // A listener that never accepts: connections wait in its backlog, requests are never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}", silent.local_addr().expect("an address"));
    w.w.set_env("FALCONER_KEYCLOAK_URL", &url);
    w.w.set_env("FALCONER_KEYCLOAK_USER", "admin");
    w.w.set_env("FALCONER_KEYCLOAK_PASSWORD", "admin");
    let mut child = w.spawn_create(&["--domain", "postgres", "--domain", "iam"]);
    let status = |w: &World| -> Value {
        let o = w.backup(&["status", "--json"]);
        code(&o, 0);
        serde_json::from_slice(&o.stdout).expect("JSON")
    };
    // Until PostgreSQL is read (a counted event: its row in the state store).
    let mut seen = Value::Null;
    for _ in 0..1200 {
        seen = status(&w);
        let done = &seen["backups"][0]["completed"];
        if done
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["domain"] == "postgres"))
        {
            break;
        }
        assert!(
            child.try_wait().expect("polls").is_none(),
            "the backup ended early"
        );
    }
    assert_eq!(seen["running"], true, "{seen}");
    assert_eq!(
        seen["backups"][0]["pending"],
        serde_json::json!(["iam"]),
        "{seen}"
    );
    assert_eq!(
        seen["backups"][0]["completed"][0]["status"], "read",
        "{seen}"
    );
    // While it runs, a removal is refused: the blobs it wrote are named by no record yet.
    let o = w.backup(&["prune", "--keep-last", "1"]);
    code(&o, 3);
    assert!(both(&o).contains("locked by a backup by"), "{}", both(&o));
    let _ = child.kill();
    let _ = child.wait();
    drop(silent);
    // Its holder is gone (a process of this host that no longer runs): a removal goes on.
    code(&w.backup(&["prune", "--keep-last", "1"]), 0);

    // While a removal holds the repository, a backup is refused naming it.
    let remover = falconer::backup::repo::LockOwner {
        text: "ops@elsewhere (pid 1)".into(),
        ..Default::default()
    };
    let repo = falconer::backup::repo::Repo::open(&w.repo_url, &process_env()).expect("opens");
    let (held, _) = repo.lock(&remover, 600).await.expect("locks");
    let o = w.backup(&["create"]);
    code(&o, 3);
    assert!(both(&o).contains("ops@elsewhere"), "{}", both(&o));
    repo.unlock(held).await.expect("unlocks");

    // The next backup (no Keycloak configured) takes the dead run's lock and replaces its progress.
    w.w.set_env("FALCONER_KEYCLOAK_URL", "");
    let (r, rc) = w.create(&[]);
    assert_eq!(rc, 0, "{r}");
    let done = status(&w);
    assert_eq!(done["running"], false, "{done}");
    assert_eq!(done["backup"]["id"], r["id"], "{done}");
    assert_eq!(done["backup"]["succeeded"], true, "{done}");
    w.finish().await;
}

async fn backups_travel_as_files_and_artifacts_import_as_backups(on: On) {
    let w = World::new("bk_files", on).await;
    code(&w.apply(&[]), 0);
    let (r, _) = w.create(&[]);
    let file = w.dir.join("backup.json");
    let file_s = file.display().to_string();
    code(&w.backup(&["export", "latest", "-o", &file_s]), 0);

    // Into another repository (a directory): the same backup, verified.
    let other = format!("file:{}", w.dir.join("other").display());
    let run = |args: &[&str]| {
        let mut all = vec!["backup", args[0], "--repo", other.as_str()];
        all.extend(&args[1..]);
        w.run(&all)
    };
    code(&run(&["import", &file_s]), 0);
    code(&run(&["verify", "--all"]), 0);
    let o = run(&["show", &id(&r), "--json"]);
    code(&o, 0);
    let shown: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(shown, r, "the record travels unchanged");
    code(&run(&["import", &file_s]), 4);

    // A damaged document is refused by its digest.
    let text = std::fs::read_to_string(&file).expect("reads");
    std::fs::write(&file, text.replacen("orders", "orderz", 1)).expect("writes");
    let o = run(&["import", &file_s]);
    code(&o, 1);
    assert!(both(&o).contains("is damaged"), "{}", both(&o));

    // An artifact of the platform becomes a backup, each section's status kept.
    let artifact = w.dir.join("globex.json");
    std::fs::write(&artifact, crate::support::globex_mended()).expect("writes");
    let o = w.backup(&["import", artifact.to_str().unwrap_or_default()]);
    code(&o, 0);
    let o = w.backup(&["show", "latest", "--tenant", "globex", "--json"]);
    code(&o, 0);
    let g: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(g["tenant"], "globex");
    assert!(
        g["domains"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["status"] == "ok")),
        "{g}"
    );
    code(&w.backup(&["verify", "--all"]), 0);
    w.finish().await;
}

/// On S3 the repository's lock is created with a conditional write (`If-None-Match: *`): the server refuses
/// a second creation of the key with 412, so of eight takers at once exactly one holds the lock.
#[tokio::test]
async fn on_s3_the_repository_lock_is_created_once() {
    use falconer::s3::client::{Call, S3Error};
    let endpoint = crate::support::s3_endpoint().await;
    let bucket = format!("bk-lock-{}", std::process::id());
    let client = crate::support::s3_client(&endpoint, crate::support::S3_SECRET);
    client
        .send(Call::new(reqwest::Method::PUT, Some(&bucket), ""))
        .await
        .expect("creates the bucket");
    let store = Store::on_s3(client.config.clone(), &bucket, "repo").expect("a store");
    let takers = (0..8).map(|i| {
        let body = format!("taker {i}");
        let store = &store;
        async move {
            store
                .create_new("locks/exclusive.json", body.as_bytes())
                .await
        }
    });
    let results = futures_util::future::join_all(takers).await;
    let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(won, 1, "{results:?}");
    let late = Call::new(reqwest::Method::PUT, Some(&bucket), "")
        .key("repo/locks/exclusive.json")
        .header("if-none-match", "*")
        .body(b"late".to_vec());
    let refused = client.send(late).await;
    assert!(
        matches!(refused, Err(S3Error::Refused { status: 412, .. })),
        "{:?}",
        refused.err()
    );
}

/// The test process's environment, as the command line would read it.
fn process_env() -> falconer::setup::Env {
    falconer::setup::Env::from_pairs(std::env::vars())
}
