//! The apply engine across backends: how a plan splits into steps, and one apply that walks PostgreSQL
//! and MongoDB (real servers) in dependency order, journaled, with a failure in one backend leaving the
//! other's independent work applied and the next run converging.

use std::path::Path;
use std::process::Output;

use crate::support::{MongoServer, TestDb, Workdir, both, code, text};
use falconer::engine::{self, Step};
use falconer::manifest::{self, Format, LoadOptions};
use falconer::plan::{self, Item, Options};
use falconer::secrets::FingerprintKey;
use sqlx::Row;

const TENANT: &str = "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n";

fn pg_and_mongo(collection_depends_on_table: bool) -> String {
    let dep = if collection_depends_on_table {
        "depends_on = [\"postgres.table.app.orders\"]\n"
    } else {
        ""
    };
    format!(
        "{TENANT}\n[[postgres.schema]]\nname = \"app\"\n\n\
         [[postgres.table]]\nname = \"orders\"\nschema = \"app\"\ncolumn = [{{ name = \"id\", type = \"bigint\" }}]\n\n\
         [[mongo.database]]\nname = \"acme\"\n\n\
         [[mongo.collection]]\nname = \"order_events\"\ndatabase = \"acme\"\n{dep}\n\
         [[mongo.index]]\ndatabase = \"acme\"\ncollection = \"order_events\"\nkey = [{{ field = \"order_id\", order = 1 }}]\n"
    )
}

fn items(text: &str) -> (falconer::model::Tenant, Vec<Item>) {
    let loaded = manifest::load_str("m.toml", text, Format::Toml, LoadOptions::default());
    let m = loaded
        .manifest
        .unwrap_or_else(|| panic!("{:?}", loaded.issues));
    let key = FingerprintKey::new(b"engine-test".to_vec());
    let mut warnings = Vec::new();
    let items = m
        .resources
        .iter()
        .map(|r| Item::new(r.spec.clone(), Path::new(""), &key, &mut warnings))
        .collect();
    (m.tenant, items)
}

fn shape(steps: &[Step]) -> Vec<(usize, String, usize)> {
    steps
        .iter()
        .map(|s| (s.level, s.domain.to_string(), s.changes.len()))
        .collect()
}

fn s(level: usize, domain: &str, n: usize) -> (usize, String, usize) {
    (level, domain.to_string(), n)
}

#[test]
fn each_domain_is_one_step_unless_it_waits_for_another() {
    let (tenant, desired) = items(&pg_and_mongo(false));
    let p = plan::make(&tenant, &desired, &[], &Options::default()).expect("plans");
    assert_eq!(
        shape(&engine::steps(&p)),
        [s(0, "postgres", 2), s(0, "mongo", 3)]
    );

    // The collection waits for the table: MongoDB's changes go in two steps around PostgreSQL's.
    let (tenant, desired) = items(&pg_and_mongo(true));
    let p = plan::make(&tenant, &desired, &[], &Options::default()).expect("plans");
    let steps = engine::steps(&p);
    assert_eq!(
        shape(&steps),
        [s(0, "postgres", 2), s(0, "mongo", 1), s(1, "mongo", 2)]
    );
    assert_eq!(
        steps[2].changes[0].address,
        "mongo.collection.acme.order_events"
    );

    // Deleting everything goes the other way: the collection before the table it depends on.
    let managed = Some(desired.iter().map(|i| i.address.clone()).collect());
    let p = plan::make(
        &tenant,
        &[],
        &desired,
        &Options {
            managed,
            ..Options::default()
        },
    )
    .expect("plans");
    let steps = engine::steps(&p);
    let table = steps
        .iter()
        .find(|s| {
            s.changes
                .iter()
                .any(|c| c.address == "postgres.table.app.orders")
        })
        .expect("the table's step");
    let coll = steps
        .iter()
        .find(|s| {
            s.changes
                .iter()
                .any(|c| c.address == "mongo.collection.acme.order_events")
        })
        .expect("the collection's step");
    assert!(coll.level < table.level, "{:?}", shape(&steps));
}

struct World {
    db: TestDb,
    mongo: MongoServer,
    w: Workdir,
}

impl World {
    async fn new(tag: &str) -> World {
        let db = TestDb::new(tag).await;
        let mongo = MongoServer::start().await;
        let env = vec![
            ("FALCONER_POSTGRES_URL".to_string(), db.url.clone()),
            ("FALCONER_MONGO_URL".to_string(), mongo.url.clone()),
        ];
        let w = Workdir::new("engine", &db.name, env);
        World { db, mongo, w }
    }

    fn write(&self, body: &str) {
        self.w.write("m.toml", body);
    }

    /// Runs falconer; `M` stands for the manifest directory.
    fn run(&self, args: &[&str]) -> Output {
        let manifest = self.w.manifest();
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "M" { manifest.as_str() } else { a })
            .collect();
        self.w.run(&args)
    }

    fn state_url(&self) -> String {
        self.w.state_url()
    }

    /// The journal of the last run: (step, domain, status).
    async fn journal(&self) -> Vec<(i64, String, String)> {
        let pool = sqlx::SqlitePool::connect(&self.state_url())
            .await
            .expect("state");
        let rows = sqlx::query(
            "select step, address, status from falconer_journal where run_id =
               (select id from falconer_runs order by started_at desc, rowid desc limit 1) order by step",
        )
        .fetch_all(&pool)
        .await
        .expect("journal");
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    async fn collections(&self) -> Vec<String> {
        let client = self.mongo.client().await;
        let mut n = client
            .database("acme")
            .list_collection_names()
            .await
            .expect("lists");
        n.sort();
        n
    }

    async fn has_table(&self) -> bool {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from pg_tables where schemaname = 'app' and tablename = 'orders'",
        )
        .fetch_one(&self.db.pool)
        .await
        .expect("counts")
            == 1
    }

    async fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.w.dir);
        self.db.drop().await;
    }
}

#[tokio::test]
async fn one_apply_walks_both_backends_in_dependency_order() {
    let w = World::new("engine_order").await;
    w.write(&pg_and_mongo(true));
    let o = w.run(&["apply", "M", "--auto-approve"]);
    code(&o, 0);
    assert!(
        text(&o.stdout).contains("Applied: 5 change(s)"),
        "{}",
        both(&o)
    );
    assert!(w.has_table().await);
    assert_eq!(w.collections().await, ["order_events"]);
    assert_eq!(
        w.journal().await,
        [
            (0, "postgres".into(), "committed".into()),
            (1, "mongo".into(), "committed".into()),
            (2, "mongo".into(), "committed".into()),
        ]
    );
    code(&w.run(&["plan", "M", "--detailed-exitcode"]), 0);
    w.finish().await;
}

#[tokio::test]
async fn a_refusal_in_one_backend_leaves_the_other_applied_and_the_next_run_converges() {
    let w = World::new("engine_fail").await;
    // This server cannot build hashed indexes: MongoDB's step fails, PostgreSQL's (independent) commits.
    let hashed = "\n[[mongo.index]]\ndatabase = \"acme\"\ncollection = \"order_events\"\nkey = [{ field = \"customer\", order = \"hashed\" }]\n";
    w.write(&(pg_and_mongo(false) + hashed));
    let o = w.run(&["apply", "M", "--auto-approve"]);
    code(&o, 1);
    let err = text(&o.stderr);
    assert!(err.contains("mongo refused a command"), "{err}");
    assert!(err.contains("createIndexes acme.order_events"), "{err}");
    assert!(
        err.contains("the changes of postgres were applied"),
        "{err}"
    );
    assert!(w.has_table().await);
    let journal = w.journal().await;
    assert!(
        journal.contains(&(0, "postgres".into(), "committed".into())),
        "{journal:?}"
    );
    assert!(
        journal.contains(&(1, "mongo".into(), "failed".into())),
        "{journal:?}"
    );

    w.write(&pg_and_mongo(false));
    let o = w.run(&["apply", "M", "--auto-approve", "--allow", "LOCKS_TABLE"]);
    code(&o, 0);
    code(&w.run(&["plan", "M", "--detailed-exitcode"]), 0);
    w.finish().await;
}
