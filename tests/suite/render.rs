//! Snapshot tests of the three plan renderings, for a plan with every action, hazards, a long SQL diff,
//! a sensitive change and an unmanaged resource; the JSON validates against the checked-in schema.

use std::collections::HashSet;

use falconer::manifest::{Format, LoadOptions, Manifest, load_str};
use falconer::model::Address;
use falconer::plan::{self, Item, Options, Plan, render};
use falconer::secrets::FingerprintKey;

fn manifest(src: &str) -> Manifest {
    let loaded = load_str("render.toml", src, Format::Toml, LoadOptions::default());
    assert!(!loaded.has_errors(), "{}", loaded.messages());
    loaded.manifest.expect("manifest")
}

const DESIRED: &str = r#"
[tenant]
id = "acme"
[tenant.naming]
postgres_schemas = ["app"]

[[postgres.table]]
name = "orders"
schema = "app"
column = [{ name = "id", type = "bigint" }, { name = "total", type = "numeric(12,2)" }]

[[postgres.view]]
name = "big_orders"
schema = "app"
query = """
SELECT id, total
FROM app.orders
WHERE total > 1000
ORDER BY total DESC"""

[[kafka.topic]]
name = "acme.events"
partitions = 6
config = { "retention.ms" = "86400000" }

[[iam.client]]
client_id = "svc"
secret = { file = "new-secret" }
public_client = false

[[storage.bucket]]
name = "acme-new"
versioning = "enabled"

[[mongo.collection]]
name = "logs"
database = "acme"
capped = { size = 4096 }
"#;

const LIVE: &str = r#"
[tenant]
id = "acme"
[tenant.naming]
postgres_schemas = ["app"]

[[postgres.table]]
name = "orders"
schema = "app"
column = [{ name = "id", type = "bigint" }, { name = "total", type = "numeric(12,2)" }, { name = "notes", type = "text" }]

[[postgres.view]]
name = "big_orders"
schema = "app"
query = """
SELECT id, total
FROM app.orders
WHERE total > 500"""

[[kafka.topic]]
name = "acme.events"
partitions = 3
config = { "retention.ms" = "604800000", "cleanup.policy" = "delete" }

[[kafka.topic]]
name = "acme.old"
partitions = 1

[[kafka.topic]]
name = "acme.foreign"
partitions = 1

[[iam.client]]
client_id = "svc"
secret = { file = "old-secret" }
public_client = false

[[mongo.collection]]
name = "logs"
database = "acme"
capped = { size = 1024 }
"#;

fn the_plan() -> Plan {
    // One directory per call: tests run in parallel in one process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("falconer-render-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("new-secret"), "s3cr3t-new").expect("write");
    std::fs::write(dir.join("old-secret"), "s3cr3t-old").expect("write");
    let key = FingerprintKey::new("render-test");
    let mut w = Vec::new();
    let (d, l) = (manifest(DESIRED), manifest(LIVE));
    let di: Vec<Item> = d
        .resources
        .iter()
        .map(|r| Item::new(r.spec.clone(), &dir, &key, &mut w))
        .collect();
    let li: Vec<Item> = l
        .resources
        .iter()
        .map(|r| Item::new(r.spec.clone(), &dir, &key, &mut w))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(w.is_empty(), "{w:?}");
    let managed: HashSet<Address> = l
        .resources
        .iter()
        .map(|r| r.address())
        .filter(|a| *a != "kafka.topic.acme.foreign")
        .collect();
    plan::make(
        &d.tenant,
        &di,
        &li,
        &Options {
            managed: Some(managed),
            ..Options::default()
        },
    )
    .expect("plans")
}

#[test]
fn text_rendering() {
    let p = the_plan();
    let out = render::text(&p, render::Style::default());
    assert!(!out.contains("s3cr3t"));
    insta::assert_snapshot!("plan_text", out);
}

#[test]
fn colored_text_only_when_asked() {
    let p = the_plan();
    assert!(!render::text(&p, render::Style::default()).contains('\x1b'));
    assert!(render::text(&p, render::Style { color: true }).contains("\x1b[31m"));
}

#[test]
fn markdown_rendering() {
    let p = the_plan();
    let out = render::markdown(&p);
    assert!(!out.contains("s3cr3t"));
    // Risk-ranked: the first row is the riskiest change.
    let first_row = out.lines().find(|l| l.starts_with("| `")).expect("a row");
    assert!(
        first_row.contains("IMPOSSIBLE") || first_row.contains("DELETES_DATA"),
        "{first_row}"
    );
    insta::assert_snapshot!("plan_markdown", out);
}

#[test]
fn json_rendering_validates_against_the_schema() {
    let p = the_plan();
    let out = render::json(&p);
    assert!(!out.contains("s3cr3t"));
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/plan.schema.json").expect("schema"))
            .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The plan file reads back as the same plan.
    let back: Plan = serde_json::from_str(&out).expect("reads back");
    assert_eq!(back, p);
    insta::assert_snapshot!("plan_json", out);
}
