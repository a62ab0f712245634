//! The MongoDB domain against a real MongoDB-wire server (SecantusDB, one per test): the acme example
//! applies and its validators are live, export then plan shows no changes for what another client made,
//! each kind of change plans minimally and applies, runs killed at many points converge, and the lock holds.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{MongoServer, Workdir, both, code, text};
use mongodb::bson::{Bson, Document, doc};
use serde_json::Value;

/// A server of its own, a client of it, and a Workdir whose falconer reaches it.
struct World {
    /// The server (it stops when dropped).
    mongo: MongoServer,
    client: mongodb::Client,
    w: Workdir,
}

impl std::ops::Deref for World {
    type Target = Workdir;
    fn deref(&self) -> &Workdir {
        &self.w
    }
}

impl World {
    async fn new(tag: &str) -> World {
        let mongo = MongoServer::start().await;
        let client = mongo.client().await;
        let env = vec![("FALCONER_MONGO_URL".to_string(), mongo.url.clone())];
        let w = Workdir::new("mongo", tag, env);
        World { mongo, client, w }
    }

    /// Puts the acme example's tenant and MongoDB part in the manifest directory.
    fn acme(&self) {
        self.w.acme(&["tenant.toml", "mongo.toml", "secrets"]);
    }

    /// `apply --auto-approve`, allowing these hazard codes.
    fn apply_args(&self, allow: &[&str]) -> Vec<String> {
        let mut a = vec![
            "apply".to_string(),
            self.manifest(),
            "--auto-approve".into(),
        ];
        for h in allow {
            a.extend(["--allow".to_string(), h.to_string()]);
        }
        a
    }

    /// The plan's changes as (address, action).
    fn changes(&self) -> Vec<(String, String)> {
        let o = self.run(&["plan", &self.manifest(), "--format", "json"]);
        code(&o, 0);
        let plan: Value = serde_json::from_slice(&o.stdout).expect("a JSON plan");
        plan["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| {
                (
                    c["address"].as_str().unwrap_or_default().to_string(),
                    c["action"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    async fn options(&self, db: &str, coll: &str) -> Option<Document> {
        let out = self
            .client
            .database(db)
            .run_command(doc! { "listCollections": 1, "filter": { "name": coll } })
            .await
            .expect("listCollections");
        let batch = out
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .expect("a cursor");
        batch
            .first()
            .and_then(Bson::as_document)
            .map(|d| d.get_document("options").cloned().unwrap_or_default())
    }

    async fn indexes(&self, db: &str, coll: &str) -> Vec<Document> {
        use futures_util::TryStreamExt;
        self.client
            .database(db)
            .run_cursor_command(doc! { "listIndexes": coll })
            .await
            .expect("listIndexes")
            .try_collect()
            .await
            .expect("indexes")
    }

    async fn index_names(&self, db: &str, coll: &str) -> Vec<String> {
        let mut n: Vec<String> = self
            .indexes(db, coll)
            .await
            .iter()
            .filter_map(|d| d.get_str("name").ok().map(str::to_string))
            .collect();
        n.sort();
        n
    }

    async fn collections(&self, db: &str) -> Vec<String> {
        let mut n = self
            .client
            .database(db)
            .list_collection_names()
            .await
            .expect("lists");
        n.sort();
        n
    }

    fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn number(b: Option<&Bson>) -> Option<i64> {
    match b? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) => Some(*d as i64),
        _ => None,
    }
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[tokio::test]
async fn acme_applies_to_an_empty_server_and_its_validators_are_live() {
    let w = World::new("acme").await;
    w.acme();
    let o = w.apply(&[]);
    code(&o, 0);
    assert!(
        text(&o.stdout).contains("Applied: 11 change(s)"),
        "{}",
        both(&o)
    );
    w.converged();
    assert_eq!(
        w.collections("acme").await,
        ["audit_log", "events", "page_views", "sessions"]
    );
    assert_eq!(
        w.index_names("acme", "sessions").await,
        ["_id_", "sessions_token_unique", "user_id_1"]
    );
    assert_eq!(
        w.index_names("acme", "events").await,
        ["_id_", "events_ttl", "type_1_at_-1"]
    );
    let events = w.client.database("acme").collection::<Document>("events");
    let refused = events
        .insert_one(
            doc! { "type": "order.lost", "at": mongodb::bson::DateTime::now(), "payload": {} },
        )
        .await
        .expect_err("the validator refuses a type outside its enum");
    assert!(
        matches!(&*refused.kind, mongodb::error::ErrorKind::Write(_)),
        "{refused}"
    );
    events
        .insert_one(
            doc! { "type": "order.paid", "at": mongodb::bson::DateTime::now(), "payload": {} },
        )
        .await
        .expect("a valid event is accepted");
    // `sessions` only warns.
    w.client
        .database("acme")
        .collection::<Document>("sessions")
        .insert_one(doc! { "user_id": 7 })
        .await
        .expect("validation_action = warn accepts");
    let capped = w.options("acme", "audit_log").await.expect("audit_log");
    assert_eq!(capped.get_bool("capped").ok(), Some(true));
    let views = w.options("acme", "page_views").await.expect("page_views");
    let series = views.get_document("timeseries").expect("a time series");
    assert_eq!(
        (series.get_str("timeField"), series.get_str("metaField")),
        (Ok("at"), Ok("page"))
    );
    w.finish();
}

#[tokio::test]
async fn export_then_plan_shows_no_changes_for_what_another_client_made() {
    let w = World::new("export").await;
    let db = w.client.database("beta");
    let run = |cmd: Document| {
        let db = db.clone();
        async move { db.run_command(cmd).await.expect("the server takes it") }
    };
    run(doc! { "create": "orders", "validator": { "$jsonSchema": {
    "bsonType": "object", "required": ["customer", "total"],
    "properties": { "total": { "bsonType": "double", "minimum": 0.0, "maximum": 1.5e6 },
                    "customer": { "bsonType": "long", "minimum": Bson::Int64(1) } } } },
    "validationLevel": "moderate", "validationAction": "warn" })
    .await;
    run(doc! { "create": "people", "validator": { "$or": [
    { "age": { "$gte": 18 } }, { "guardian": { "$exists": true } } ] } })
    .await;
    run(doc! { "create": "log", "capped": true, "size": 65536, "max": 500 }).await;
    run(doc! { "create": "names", "collation": { "locale": "fr", "strength": 2 } }).await;
    run(doc! { "create": "adults", "viewOn": "people", "pipeline": [
    { "$match": { "age": { "$gte": 18 } } }, { "$project": { "name": 1 } } ] })
    .await;
    run(doc! { "createIndexes": "orders", "indexes": [
        { "key": { "customer": Bson::Int64(1), "created": Bson::Double(-1.0) }, "name": "customer_1_created_-1", "unique": true },
        { "key": { "status": 1 }, "name": "open_orders", "partialFilterExpression": { "status": { "$exists": true } } },
        { "key": { "created_at": 1 }, "name": "created_at_1", "expireAfterSeconds": 3600 },
        { "key": { "coupon": 1 }, "name": "coupon_1", "sparse": true },
    ] })
    .await;
    run(doc! { "createIndexes": "names", "indexes": [
        { "key": { "name": 1 }, "name": "name_1", "collation": { "locale": "fr", "strength": 1 } },
    ] })
    .await;
    let out = w.dir.join("manifest").join("beta.toml");
    let o = w.run(&[
        "export",
        "--tenant",
        "beta",
        "-o",
        &out.display().to_string(),
    ]);
    code(&o, 0);
    // Everything made is carried: the inventory names nothing.
    assert!(
        !text(&o.stderr).contains("not carried"),
        "{}",
        text(&o.stderr)
    );
    let exported = std::fs::read_to_string(&out).expect("exported");
    for expected in [
        "view_on = \"people\"",
        "expire_after_seconds = 3600",
        "validation_level = \"moderate\"",
        "name = \"customer_1_created_-1\"",
        "locale = \"fr\"",
        "sparse = true",
        "max = 500",
    ] {
        assert!(
            exported.contains(expected),
            "no {expected:?} in\n{exported}"
        );
    }
    // The view is not read as a collection with indexes; `_id_` never appears.
    assert!(!exported.contains("_id_"), "{exported}");
    w.converged();
    // And once falconer manages them, still nothing to do.
    code(&w.apply(&[]), 0);
    w.converged();
    w.finish();
}

#[tokio::test]
async fn each_change_plans_minimally_and_applies() {
    let w = World::new("changes").await;
    w.acme();
    code(&w.apply(&[]), 0);

    // Validator change: one collMod.
    w.edit(
        "mongo.toml",
        "required = [\"type\", \"at\", \"payload\"]",
        "required = [\"type\", \"at\", \"payload\", \"source\"]",
    );
    assert_eq!(
        w.changes(),
        [pair("mongo.collection.acme.events", "update")]
    );
    code(&w.apply(&[]), 0);
    let opts = w.options("acme", "events").await.expect("events");
    let required = opts
        .get_document("validator")
        .and_then(|v| v.get_document("$jsonSchema"))
        .and_then(|s| s.get_array("required"))
        .expect("required")
        .clone();
    assert!(
        required.contains(&Bson::String("source".into())),
        "{required:?}"
    );
    w.converged();

    // TTL change: in place.
    w.edit(
        "mongo.toml",
        "expire_after_seconds = 2592000",
        "expire_after_seconds = 86400",
    );
    assert_eq!(
        w.changes(),
        [pair("mongo.index.acme.events.events_ttl", "update")]
    );
    code(&w.apply(&[]), 0);
    let ttl = w.indexes("acme", "events").await;
    let ttl = ttl
        .iter()
        .find(|i| i.get_str("name") == Ok("events_ttl"))
        .expect("events_ttl");
    assert_eq!(number(ttl.get("expireAfterSeconds")), Some(86400));
    w.converged();

    // Index add and index change: each needs LOCKS_TABLE (the collections exist).
    let mut body = std::fs::read_to_string(w.dir.join("manifest/mongo.toml")).expect("reads");
    body.push_str("\n[[mongo.index]]\ndatabase = \"acme\"\ncollection = \"events\"\nkey = [{ field = \"payload.kind\", order = 1 }]\n");
    w.write("mongo.toml", &body);
    w.edit(
        "mongo.toml",
        "partial_filter_expression = { token = { \"$exists\" = true } }",
        "partial_filter_expression = { token = { \"$type\" = \"string\" } }",
    );
    assert_eq!(
        sorted(w.changes()),
        [
            pair("mongo.index.acme.events.payload.kind_1", "create"),
            pair("mongo.index.acme.sessions.sessions_token_unique", "replace"),
        ]
    );
    code(&w.apply(&[]), 4);
    code(&w.apply(&["LOCKS_TABLE"]), 0);
    assert!(
        w.index_names("acme", "events")
            .await
            .contains(&"payload.kind_1".to_string())
    );
    let token = w.indexes("acme", "sessions").await;
    let token = token
        .iter()
        .find(|i| i.get_str("name") == Ok("sessions_token_unique"))
        .expect("rebuilt");
    assert_eq!(
        token
            .get_document("partialFilterExpression")
            .expect("partial")
            .get_document("token")
            .expect("token")
            .get_str("$type"),
        Ok("string")
    );
    w.converged();

    // Index drop: the index only.
    w.edit(
        "mongo.toml",
        "[[mongo.index]]\nname = \"events_ttl\"",
        "[[mongo.index]]\nname = \"events_at\"",
    );
    w.edit("mongo.toml", "expire_after_seconds = 86400\n", "");
    assert_eq!(
        sorted(w.changes()),
        [
            pair("mongo.index.acme.events.events_at", "create"),
            pair("mongo.index.acme.events.events_ttl", "delete"),
        ]
    );
    code(&w.apply(&["LOCKS_TABLE"]), 0);
    assert_eq!(
        w.index_names("acme", "events").await,
        ["_id_", "events_at", "payload.kind_1", "type_1_at_-1"]
    );
    w.converged();

    // Collection drop: refused without permission, its hazard says what goes; then applied.
    w.edit("mongo.toml", "[[mongo.collection]]\nname = \"audit_log\"\ndatabase = \"acme\"\ncapped = { size = 10485760, max = 100000 }\n", "");
    assert_eq!(
        w.changes(),
        [pair("mongo.collection.acme.audit_log", "delete")]
    );
    let refused = w.apply(&[]);
    code(&refused, 4);
    assert!(
        text(&refused.stdout).contains("DELETES_DATA"),
        "{}",
        both(&refused)
    );
    assert!(
        w.collections("acme")
            .await
            .contains(&"audit_log".to_string())
    );
    code(&w.apply(&["DELETES_DATA"]), 0);
    assert_eq!(
        w.collections("acme").await,
        ["events", "page_views", "sessions"]
    );
    w.converged();

    // A capped size cannot change in place: a replace that deletes data, indexes built again.
    w.edit(
        "mongo.toml",
        "name = \"sessions\"\ndatabase = \"acme\"\n",
        "name = \"sessions\"\ndatabase = \"acme\"\ncapped = { size = 1048576 }\n",
    );
    assert_eq!(
        w.changes(),
        [pair("mongo.collection.acme.sessions", "replace")]
    );
    code(&w.apply(&["DELETES_DATA"]), 0);
    assert_eq!(
        w.index_names("acme", "sessions").await,
        ["_id_", "sessions_token_unique", "user_id_1"]
    );
    w.converged();
    w.finish();
}

/// Kills `apply` with SIGKILL at counted points of a run of 90 commands: each time as soon as the server
/// holds the next number of collections. Each next run picks up from the live state, and the last converges
/// with nothing duplicated and nothing lost.
#[tokio::test]
async fn killed_applies_converge_without_duplicates_or_losses() {
    let w = World::new("crash").await;
    let mut m = String::from("[tenant]\nid = \"acme\"\n\n[[mongo.database]]\nname = \"acme\"\n");
    for i in 0..30 {
        m.push_str(&format!(
            "\n[[mongo.collection]]\nname = \"c{i}\"\ndatabase = \"acme\"\nvalidator = {{ n = {{ \"$type\" = \"int\" }} }}\n\n\
             [[mongo.index]]\ndatabase = \"acme\"\ncollection = \"c{i}\"\nkey = [{{ field = \"a\", order = 1 }}]\n\n\
             [[mongo.index]]\ndatabase = \"acme\"\ncollection = \"c{i}\"\nkey = [{{ field = \"b\", order = -1 }}, {{ field = \"c\", order = 1 }}]\nunique = true\n"
        ));
    }
    w.write("db.toml", &m);
    let mut seen = Vec::new();
    let mut kills = 0;
    for n in [1, 4, 8, 12, 16, 20, 24, 28] {
        let args = w.apply_args(&["LOCKS_TABLE"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = w
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns");
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if w.collections("acme").await.len() >= n {
                child.kill().expect("kills");
                child.wait().expect("reaped");
                kills += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        seen.push(w.collections("acme").await.len());
    }
    // Collections are created a wave at a time, four at once: most points land mid-run.
    assert!(
        kills >= 4,
        "only {kills} runs were killed mid-way: {seen:?}"
    );
    eprintln!("collections after each kill: {seen:?}");
    let last = w.apply(&["LOCKS_TABLE"]);
    code(&last, 0);
    assert_eq!(w.collections("acme").await.len(), 30, "{seen:?}");
    for i in 0..30 {
        assert_eq!(
            w.index_names("acme", &format!("c{i}")).await,
            ["_id_", "a_1", "b_-1_c_1"],
            "collection c{i}"
        );
    }
    w.converged();
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("state");
    assert_eq!(
        state.runs().unfinished_runs("acme").await.expect("runs"),
        vec![]
    );
    w.finish();
}

/// While a running process holds the tenant's lock, apply exits 3 naming it and touches nothing; once
/// that process is gone, its lock is broken and the apply goes on.
#[tokio::test]
async fn the_lock_holds_for_this_domain() {
    use falconer::state::{Owner, State};
    let w = World::new("lock").await;
    w.acme();
    let state = State::open(&w.state_url()).await.expect("state");
    let mut holder = Command::new("sleep").arg("60").spawn().expect("spawns");
    let owner = Owner {
        pid: i64::from(holder.id()),
        ..Owner::current()
    };
    state
        .locks()
        .lock("acme", &owner, Duration::from_secs(600))
        .await
        .expect("locks");
    let locked = w.apply(&[]);
    code(&locked, 3);
    assert!(
        text(&locked.stderr).contains(&format!("pid {}", holder.id())),
        "{}",
        both(&locked)
    );
    let dbs = w.client.list_database_names().await.expect("lists");
    assert!(!dbs.contains(&"acme".to_string()), "{dbs:?}");
    let _ = holder.kill();
    let _ = holder.wait();
    let o = w.apply(&[]);
    code(&o, 0);
    assert!(text(&o.stderr).contains("no longer runs"), "{}", both(&o));
    w.converged();
    w.finish();
}

/// Connection problems name the hosts and what went wrong, never the URL (it may hold a password).
#[tokio::test]
async fn connection_errors_name_the_host_and_never_the_password() {
    let w = World::new("conn").await;
    w.acme();
    let port = w
        .mongo
        .url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port");
    let wrong = format!(
        "mongodb://falconer:not-the-Pa55word@127.0.0.1:{port}/?authSource=admin&directConnection=true"
    );
    let o = w
        .command(&["plan", &w.manifest()])
        .env("FALCONER_MONGO_URL", &wrong)
        .output()
        .expect("runs");
    code(&o, 1);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("cannot connect to MongoDB at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!both(&o).contains("not-the-Pa55word"), "{}", both(&o));
    let o = w
        .command(&["plan", &w.manifest()])
        .env(
            "FALCONER_MONGO_URL",
            "mongo://falconer:not-the-Pa55word@nowhere",
        )
        .output()
        .expect("runs");
    code(&o, 1);
    assert!(
        text(&o.stderr).contains("the MongoDB URL is not valid"),
        "{}",
        both(&o)
    );
    assert!(!both(&o).contains("not-the-Pa55word"), "{}", both(&o));
    w.finish();
}

/// New indexes of one collection go in one `createIndexes`; a wave's commands are grouped by collection.
#[test]
fn new_indexes_of_a_collection_are_one_request() {
    use falconer::domains::mongo::apply::{Op, ops};
    use std::collections::HashMap;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    let loaded = falconer::manifest::load_path(&dir, Default::default());
    let m = loaded.manifest.expect("the example loads");
    let key = falconer::secrets::FingerprintKey::new(b"k".to_vec());
    let mut warnings = Vec::new();
    let desired: Vec<falconer::plan::Item> = m
        .resources
        .iter()
        .filter(|r| r.spec.meta().domain == falconer::model::Domain::Mongo)
        .map(|r| falconer::plan::Item::new(r.spec.clone(), Path::new(""), &key, &mut warnings))
        .collect();
    let plan = falconer::plan::make(&m.tenant, &desired, &[], &Default::default()).expect("plans");
    let by: HashMap<&falconer::model::Address, &falconer::domains::Spec> =
        desired.iter().map(|i| (&i.address, &i.spec)).collect();
    let waves = ops(&plan.changes, &by, &HashMap::new(), &HashMap::new());
    let shown: Vec<Vec<String>> = waves
        .iter()
        .map(|w| w.values().flatten().map(Op::shown).collect())
        .collect();
    assert_eq!(
        shown,
        [
            vec![
                "create acme.audit_log".to_string(),
                "create acme.events".into(),
                "create acme.page_views".into(),
                "create acme.sessions".into(),
                "createRole reporting@acme".into(),
            ],
            vec![
                "createIndexes acme.events [events_ttl, type_1_at_-1]".into(),
                "createIndexes acme.sessions [sessions_token_unique, user_id_1]".into(),
                "createUser reporter@acme".into(),
            ],
        ]
    );
}

/// What no kind carries is named: a collection's storage engine options. A time series collection, a
/// collection with pre- and post-images and a user of the database were named here until the collection,
/// user and role kinds carried them: the export now holds them. `--strict` refuses the export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_no_kind_carries_is_named() {
    let w = World::new("inventory").await;
    let db = w.client.database("gamma");
    db.run_command(doc! { "create": "plain" })
        .await
        .expect("creates a collection");
    db.run_command(doc! { "create": "readings", "timeseries": { "timeField": "at", "metaField": "sensor", "granularity": "minutes" }, "expireAfterSeconds": 86400 })
        .await
        .expect("creates a time series collection");
    db.run_command(
        doc! { "create": "audited", "changeStreamPreAndPostImages": { "enabled": true } },
    )
    .await
    .expect("creates a collection with pre- and post-images");
    db.run_command(doc! { "createUser": "reporter", "pwd": "throwaway-password", "roles": [{ "role": "read", "db": "gamma" }] })
        .await
        .expect("creates a user");
    db.run_command(doc! { "create": "tuned", "storageEngine": { "wiredTiger": { "configString": "block_compressor=zstd" } } })
        .await
        .expect("creates a collection with storage engine options");
    let export = |out: &str| {
        [
            "export", "--tenant", "gamma", "--domain", "mongo", "-o", out,
        ]
        .map(String::from)
        .to_vec()
    };
    let args = export("/dev/null");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = crate::support::named_and_strict(
        &w,
        &args,
        "1 collection option: storageEngine of collection gamma.tuned",
    );
    for carried in [
        "readings",
        "audited",
        "timeseries",
        "changeStreamPreAndPostImages",
        "reporter",
    ] {
        assert!(!err.contains(carried), "{carried} is carried: {err}");
    }
    let out = w.dir.join("carried.toml").display().to_string();
    let args = export(&out);
    code(
        &w.run(&args.iter().map(String::as_str).collect::<Vec<_>>()),
        0,
    );
    let exported = std::fs::read_to_string(&out).expect("the export");
    assert!(!exported.contains("throwaway-password"), "{exported}");
    for line in [
        "[mongo.collection.timeseries]\ntime_field = \"at\"\nmeta_field = \"sensor\"\ngranularity = \"minutes\"",
        "expire_after_seconds = 86400",
        "change_stream_pre_and_post_images = true",
        "[[mongo.user]]\nname = \"reporter\"\ndatabase = \"gamma\"\npassword = \"***REDACTED***\"\n\n[[mongo.user.roles]]\nrole = \"read\"",
    ] {
        assert!(exported.contains(line), "{line}:\n{exported}");
    }
    w.finish();
}

/// The meta field of the time series `ts.readings` is `meta`.
async fn meta_field_is(w: &World, meta: &str) {
    let readings = w.options("ts", "readings").await.expect("readings");
    let series = readings.get_document("timeseries").expect("a time series");
    assert_eq!(series.get_str("metaField"), Ok(meta), "{readings}");
}

/// Time series and clustered collections, documents' expiry and pre- and post-images are created as declared
/// against the test server and converge; pre- and post-images are turned off with `collMod`; a time series'
/// meta field, and whether a collection is clustered, cannot change in place (IMPOSSIBLE, nothing written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_series_and_clustered_collections_converge() {
    let w = World::new("timeseries").await;
    let manifest = |meta: &str, images: &str, clustered: &str| {
        format!(
            "[tenant]\nid = \"ts\"\n[[mongo.database]]\nname = \"ts\"\n\
             [[mongo.collection]]\nname = \"readings\"\ndatabase = \"ts\"\n\
             timeseries = {{ time_field = \"at\", meta_field = \"{meta}\", granularity = \"minutes\" }}\n\
             expire_after_seconds = 604800\n\
             [[mongo.collection]]\nname = \"events\"\ndatabase = \"ts\"\nclustered = true\n\
             expire_after_seconds = 86400\n\
             [[mongo.collection]]\nname = \"orders\"\ndatabase = \"ts\"\n{images}{clustered}"
        )
    };
    w.write(
        "m.toml",
        &manifest("sensor", "change_stream_pre_and_post_images = true\n", ""),
    );
    code(&w.apply(&[]), 0);
    w.converged();
    meta_field_is(&w, "sensor").await;
    let readings = w.options("ts", "readings").await.expect("readings");
    assert_eq!(number(readings.get("expireAfterSeconds")), Some(604800));
    let events = w.options("ts", "events").await.expect("events");
    assert!(events.contains_key("clusteredIndex"), "{events}");
    let orders = |o: Document| {
        o.get_document("changeStreamPreAndPostImages")
            .and_then(|d| d.get_bool("enabled"))
    };
    assert_eq!(
        orders(w.options("ts", "orders").await.expect("orders")),
        Ok(true)
    );

    w.write("m.toml", &manifest("sensor", "", ""));
    code(&w.apply(&[]), 0);
    w.converged();
    assert_eq!(
        orders(w.options("ts", "orders").await.expect("orders")),
        Ok(false)
    );

    for (changed, why) in [
        (manifest("device", "", ""), "time and meta fields"),
        (manifest("sensor", "", "clustered = true\n"), "clustered"),
    ] {
        w.write("m.toml", &changed);
        let o = w.apply(&[]);
        code(&o, 4);
        assert!(
            both(&o).contains("IMPOSSIBLE") && both(&o).contains(why),
            "{}",
            both(&o)
        );
    }
    meta_field_is(&w, "sensor").await;
    w.finish();
}

/// The updates the test server acknowledges without making (a view's pipeline, an index's `hidden`, a time
/// series' granularity and documents' expiry) are held to the commands MongoDB documents for them instead:
/// `collMod` with both `viewOn` and `pipeline` ("to modify a view's definition, specify both"), with
/// `timeseries: {granularity}` and `expireAfterSeconds`, and with `index: {name, hidden}`. The server
/// accepts them.
#[tokio::test]
async fn updates_the_test_server_cannot_show_send_mongodbs_commands() {
    use falconer::domains::mongo::apply::{Op, execute, ops};
    use std::collections::HashMap;
    let manifest = |status: &str, hidden: &str| {
        let (granularity, expiry) = if hidden.is_empty() {
            ("minutes", 3600)
        } else {
            ("hours", 7200)
        };
        format!(
            "format_version = \"1\"\n[tenant]\nid = \"eps\"\n[[mongo.database]]\nname = \"eps\"\n\
             [[mongo.collection]]\nname = \"readings\"\ndatabase = \"eps\"\n\
             timeseries = {{ time_field = \"at\", granularity = \"{granularity}\" }}\n\
             expire_after_seconds = {expiry}\n\
             [[mongo.collection]]\nname = \"orders\"\ndatabase = \"eps\"\n\
             [[mongo.collection]]\nname = \"open_orders\"\ndatabase = \"eps\"\nview_on = \"orders\"\n\
             pipeline = [{{ \"$match\" = {{ status = \"{status}\" }} }}]\n\
             [[mongo.index]]\nname = \"status_1\"\ndatabase = \"eps\"\ncollection = \"orders\"\n\
             key = [{{ field = \"status\", order = 1 }}]\n{hidden}"
        )
    };
    let key = falconer::secrets::FingerprintKey::new(b"k".to_vec());
    let items = |text: &str| {
        let loaded = falconer::manifest::load_str(
            "m.toml",
            text,
            falconer::manifest::Format::Toml,
            Default::default(),
        );
        let m = loaded.manifest.expect("loads");
        let mut warnings = Vec::new();
        let items: Vec<falconer::plan::Item> = m
            .resources
            .iter()
            .map(|r| falconer::plan::Item::new(r.spec.clone(), Path::new(""), &key, &mut warnings))
            .collect();
        (m.tenant, items)
    };
    let old = manifest("open", "");
    let (tenant, live) = items(&old);
    let (_, desired) = items(&manifest("paid", "hidden = true\n"));
    let plan = falconer::plan::make(&tenant, &desired, &live, &Default::default()).expect("plans");
    let by =
        |v: &[falconer::plan::Item]| -> Vec<(falconer::model::Address, falconer::domains::Spec)> {
            v.iter()
                .map(|i| (i.address.clone(), i.spec.clone()))
                .collect()
        };
    let (d, l) = (by(&desired), by(&live));
    let d: HashMap<_, _> = d.iter().map(|(a, s)| (a, s)).collect();
    let l: HashMap<_, _> = l.iter().map(|(a, s)| (a, s)).collect();
    let waves = ops(&plan.changes, &d, &l, &HashMap::new());
    let commands: Vec<mongodb::bson::Document> = waves
        .iter()
        .flat_map(|w| w.values().flatten())
        .map(|op| match op {
            Op::CollMod { command, .. } => command.clone(),
            other => panic!("only collMod is sent, not {}", other.shown()),
        })
        .collect();
    assert_eq!(
        commands,
        [
            doc! { "collMod": "readings", "timeseries": { "granularity": "hours" }, "expireAfterSeconds": 7200_i64 },
            doc! { "collMod": "open_orders", "viewOn": "orders", "pipeline": [{ "$match": { "status": "paid" } }] },
            doc! { "collMod": "orders", "index": { "name": "status_1", "hidden": true } },
        ]
    );
    let w = World::new("unseen").await;
    w.write("m.toml", &old);
    code(&w.apply(&[]), 0);
    execute(&w.client, &waves)
        .await
        .map_err(|(_, what, e)| format!("{what}: {e}"))
        .expect("the server accepts both");
    w.finish();
}

/// Whether `user` signs in to `db` with `password` (SecantusDB checks the SCRAM-SHA-256 proof).
async fn signs_in(w: &World, db: &str, user: &str, password: &str) -> bool {
    let port = w
        .mongo
        .url
        .trim_start_matches("mongodb://127.0.0.1:")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let url = format!(
        "mongodb://{user}:{password}@127.0.0.1:{port}/{db}?directConnection=true&serverSelectionTimeoutMS=3000"
    );
    let Ok(client) = mongodb::Client::with_uri_str(&url).await else {
        return false;
    };
    let r = client.database(db).run_command(doc! { "ping": 1 }).await;
    if let Err(e) = &r {
        eprintln!("sign-in of {user}: {e}");
    }
    r.is_ok()
}

/// A database's roles and users: created (a role before the user granted it), read back as planned, signed in
/// with; a role's privileges and a user's grants changed in place; the password rotated (the old one no
/// longer signs in); a user deleted (a hazard), then its role. The password is in no output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_roles_apply_sign_in_rotate_and_delete() {
    let mut world = World::new("principals").await;
    world
        .w
        .env
        .push(("REPORTER_PW".into(), "reporter-first-pw".into()));
    let w = &world;
    let inherits = std::cell::RefCell::new("{ role = \"read\" }".to_string());
    let manifest = |actions: &str, grants: &str, user: bool| {
        let user = if user {
            format!(
                "[[mongo.user]]\ndatabase = \"gamma\"\nname = \"reporter\"\nroles = [{grants}]\npassword = {{ env = \"REPORTER_PW\" }}\n"
            )
        } else {
            String::new()
        };
        format!(
            "[tenant]\nid = \"gamma\"\n[[mongo.database]]\nname = \"gamma\"\n\
             [[mongo.collection]]\nname = \"orders\"\ndatabase = \"gamma\"\n\
             [[mongo.role]]\ndatabase = \"gamma\"\nname = \"reporting\"\n\
             privilege = [{{ collection = \"orders\", actions = [{actions}] }}]\nroles = [{}]\n{user}",
            inherits.borrow()
        )
    };
    w.write(
        "m.toml",
        &manifest("\"find\"", "{ role = \"reporting\" }", true),
    );
    let o = w.apply(&[]);
    code(&o, 0);
    assert!(!both(&o).contains("reporter-first-pw"), "{}", both(&o));
    w.converged();
    assert!(signs_in(w, "gamma", "reporter", "reporter-first-pw").await);
    assert!(!signs_in(w, "gamma", "reporter", "a-wrong-pw").await);
    let users = w
        .client
        .database("gamma")
        .run_command(doc! { "usersInfo": 1 })
        .await
        .expect("usersInfo");
    let roles = users.get_array("users").expect("users")[0]
        .as_document()
        .expect("a user")
        .get_array("roles")
        .expect("roles")
        .clone();
    assert_eq!(
        roles,
        vec![mongodb::bson::Bson::Document(
            doc! { "role": "reporting", "db": "gamma" }
        )]
    );

    // A privilege's actions, then the user's grants, each changed in place.
    w.write(
        "m.toml",
        &manifest("\"find\", \"insert\"", "{ role = \"reporting\" }", true),
    );
    w.step("mongo.role.gamma.reporting", &["privilege"]);
    w.write(
        "m.toml",
        &manifest(
            "\"find\", \"insert\"",
            "{ role = \"reporting\" }, { role = \"readWrite\" }",
            true,
        ),
    );
    w.step("mongo.user.gamma.reporter", &["roles"]);
    let privileges = w
        .client
        .database("gamma")
        .run_command(doc! { "rolesInfo": "reporting", "showPrivileges": true })
        .await
        .expect("rolesInfo");
    assert!(privileges.to_string().contains("insert"), "{privileges}");
    *inherits.borrow_mut() = "{ role = \"read\" }, { role = \"dbAdmin\" }".into();
    w.write(
        "m.toml",
        &manifest(
            "\"find\", \"insert\"",
            "{ role = \"reporting\" }, { role = \"readWrite\" }",
            true,
        ),
    );
    w.step("mongo.role.gamma.reporting", &["roles"]);

    // A new password: set, and the old one no longer signs in.
    world.w.env.retain(|(k, _)| k != "REPORTER_PW");
    world
        .w
        .env
        .push(("REPORTER_PW".into(), "reporter-second-pw".into()));
    let w = &world;
    w.step("mongo.user.gamma.reporter", &["password"]);
    assert!(signs_in(w, "gamma", "reporter", "reporter-second-pw").await);
    assert!(!signs_in(w, "gamma", "reporter", "reporter-first-pw").await);

    // The user deleted (it can no longer sign in: allowed by name), then the role.
    w.write("m.toml", &manifest("\"find\", \"insert\"", "", false));
    let o = w.apply(&[]);
    assert!(both(&o).contains("CHANGES_SIGN_IN"), "{}", both(&o));
    code(&w.apply(&["CHANGES_SIGN_IN"]), 0);
    w.converged();
    assert!(!signs_in(w, "gamma", "reporter", "reporter-second-pw").await);
    w.write("m.toml", "[tenant]\nid = \"gamma\"\n[[mongo.database]]\nname = \"gamma\"\n[[mongo.collection]]\nname = \"orders\"\ndatabase = \"gamma\"\n");
    code(&w.apply(&[]), 0);
    w.converged();
    let left = w
        .client
        .database("gamma")
        .run_command(doc! { "rolesInfo": 1 })
        .await
        .expect("rolesInfo");
    assert!(left.get_array("roles").expect("roles").is_empty(), "{left}");
    world.finish();
}

/// Users and roles backed up (the password never: a backup cannot hold it) and restored into another tenant
/// with the identifier map: refused before writing while a user's password is unknown, then created with the
/// password a manifest gives, verified, and signed in with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_roles_restore_into_another_tenant() {
    let mut world = World::new("principals-rs").await;
    world
        .w
        .env
        .push(("REPORTER_PW".into(), "reporter-first-pw".into()));
    let w = &world;
    let user = |db: &str| {
        format!(
            "[[mongo.user]]\nname = \"reporter\"\ndatabase = \"{db}\"\nroles = [{{ role = \"reporting\" }}]\npassword = {{ env = \"REPORTER_PW\" }}\n"
        )
    };
    w.write(
        "m.toml",
        &format!(
            "[tenant]\nid = \"epsilon\"\n[[mongo.database]]\nname = \"epsilon\"\n\
             [[mongo.collection]]\nname = \"orders\"\ndatabase = \"epsilon\"\n\
             [[mongo.role]]\nname = \"reporting\"\ndatabase = \"epsilon\"\n\
             privilege = [{{ collection = \"orders\", actions = [\"find\"] }}]\n{}",
            user("epsilon")
        ),
    );
    code(&w.apply(&[]), 0);
    let repo = w.dir.join("repo").display().to_string();
    let record = crate::support::backed_up(w, "epsilon", &repo);
    let id = record["id"].as_str().expect("an id").to_string();
    let restore = |extra: &[&str]| crate::support::restored_as(w, (&id, &repo), "zeta", extra);
    let o = restore(&[]);
    code(&o, 4);
    assert!(
        both(&o).contains("mongo.user.zeta.reporter /password"),
        "{}",
        both(&o)
    );
    let dbs = w.client.list_database_names().await.expect("databases");
    assert!(
        !dbs.contains(&"zeta".to_string()),
        "nothing is written: {dbs:?}"
    );

    let given = w.dir.join("given");
    std::fs::create_dir_all(&given).expect("a directory");
    std::fs::write(
        given.join("m.toml"),
        format!("[tenant]\nid = \"zeta\"\n{}", user("zeta")),
    )
    .expect("writes");
    let o = restore(&["--manifest", &given.display().to_string(), "--verify"]);
    code(&o, 0);
    assert!(signs_in(w, "zeta", "reporter", "reporter-first-pw").await);
    let roles = w
        .client
        .database("zeta")
        .run_command(doc! { "rolesInfo": "reporting", "showPrivileges": true })
        .await
        .expect("rolesInfo");
    assert!(roles.to_string().contains("\"orders\""), "{roles}");
    world.finish();
}
