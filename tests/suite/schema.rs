//! The checked-in JSON Schema of manifests is generated from the types, is current, and accepts the
//! example manifests while refusing malformed ones.

use falconer::manifest::schema::manifest_schema;
use falconer::manifest::{Format, LoadOptions, load_path, tree, write};

/// Compares a generated schema with the checked-in file (`FALCONER_BLESS=1` rewrites the file).
fn assert_current(path: &str, schema: &serde_json::Value) {
    let generated = serde_json::to_string_pretty(schema).expect("serializes") + "\n";
    if std::env::var_os("FALCONER_BLESS").is_some() {
        std::fs::write(path, &generated).expect("writes the schema");
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{path} is stale: regenerate it with `FALCONER_BLESS=1 cargo test --test suite schema::` and commit it"
    );
}

#[test]
fn checked_in_schemas_are_current() {
    assert_current("schemas/manifest.schema.json", &manifest_schema());
    assert_current("schemas/plan.schema.json", &falconer::plan::schema());
    assert_current(
        "schemas/backup-record.schema.json",
        &falconer::backup::schema(),
    );
    assert_current(
        "schemas/restore-report.schema.json",
        &falconer::restore::report::schema(),
    );
    assert_current(
        "schemas/fleet-report.schema.json",
        &falconer::fleet::report::report_schema(),
    );
    assert_current(
        "schemas/fleet-event.schema.json",
        &falconer::fleet::report::event_schema(),
    );
    assert_current(
        "schemas/doctor.schema.json",
        &falconer::ops::doctor::schema(),
    );
    for (file, schema) in falconer::agent::api::schemas() {
        assert_current(&format!("schemas/{file}"), &schema);
    }
    assert_current(
        "schemas/webhook-event.schema.json",
        &falconer::ops::webhooks::payload_schema(),
    );
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&manifest_schema()).expect("the schema is a valid JSON Schema")
}

#[test]
fn example_files_validate_against_the_schema() {
    let v = validator();
    for entry in std::fs::read_dir("examples/acme").expect("dir") {
        let p = entry.expect("entry").path();
        if Format::from_path(&p) != Some(Format::Toml) {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("text");
        let doc = tree::read_toml(0, &text).expect("parses").to_json();
        let errors: Vec<String> = v
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
    }
    // The whole manifest as written in JSON (the KDL example loads to the same model).
    let m = load_path(
        std::path::Path::new("examples/acme-kdl"),
        LoadOptions::default(),
    )
    .manifest
    .expect("loads");
    let doc = write::to_document(&m);
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let v = validator();
    for bad in [
        serde_json::json!({"tenant": {"id": "a"}, "postgres": {"tabel": []}}),
        serde_json::json!({"tenant": {"id": "a"}, "kafka": {"topic": [{"name": "a.b", "partitions": "six"}]}}),
        serde_json::json!({"tenant": {"id": "a"}, "kafka": {"topic": [{"name": "a.b", "partitions": 1, "replicas": 2}]}}),
        serde_json::json!({"tenant": {"id": "a", "status": "sleeping"}}),
        serde_json::json!({"tenant": {"id": "a"}, "iam": {"client": [{"client_id": "x", "secret": {"vault": "y"}}]}}),
    ] {
        assert!(!v.is_valid(&bad), "accepted {bad}");
    }
}
