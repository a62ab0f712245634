//! Parsers never panic: arbitrary bytes, mutated real files and artifact-shaped JSON with wrong types go
//! through the TOML, KDL, JSON and artifact readers and the whole load/validate/import pipeline.

use falconer::falcone;
use falconer::manifest::{Format, LoadOptions, load_str};
use proptest::prelude::*;
use serde_json::{Value, json};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn examples() -> Vec<(String, Format)> {
    let mut out = Vec::new();
    for dir in ["examples/acme", "examples/acme-kdl"] {
        for f in std::fs::read_dir(dir).expect("example dir") {
            let p = f.expect("entry").path();
            if let Some(fmt) = Format::from_path(&p) {
                out.push((std::fs::read_to_string(&p).expect("text"), fmt));
            }
        }
    }
    out.push((
        std::fs::read_to_string("tests/fixtures/falcone/globex-v1.0.0.json").expect("fixture"),
        Format::Json,
    ));
    out
}

/// Runs every reader on a text; none may panic.
fn feed(text: &str) {
    for fmt in [Format::Toml, Format::Kdl, Format::Json] {
        let loaded = load_str(
            "fuzz",
            text,
            fmt,
            LoadOptions {
                strict: true,
                ..Default::default()
            },
        );
        // Every issue renders without panicking too.
        for i in &loaded.issues {
            let _ = i.short(&loaded.sources);
            let _ = format!("{:?}", miette::Report::new(i.report(&loaded.sources)));
        }
    }
    if let Ok(v) = falcone::parse(text) {
        let _ = falcone::import(&v);
        let _ = falcone::migrate(v, "now");
    }
}

fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &(pos, op, b) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = pos % bytes.len();
        match op % 4 {
            0 => {
                bytes.remove(i);
            }
            1 => bytes.insert(i, b),
            2 => bytes[i] = b,
            _ => {
                let end = (i + (b as usize % 40)).min(bytes.len());
                let chunk: Vec<u8> = bytes[i..end].to_vec();
                bytes.splice(i..i, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(Value::from("***REDACTED***")),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,8}",
                    Just("name".to_string()),
                    Just("tables".to_string()),
                    Just("columns".to_string()),
                    Just("schemas".to_string()),
                    Just("key".to_string()),
                    Just("exec".to_string()),
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Artifact envelopes whose domain data is arbitrary JSON (wrong types everywhere).
fn artifact() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("iam"),
        Just("postgres_metadata"),
        Just("mongo_metadata"),
        Just("kafka"),
        Just("functions"),
        Just("storage"),
        Just("other"),
    ];
    let status = prop_oneof![
        Just("ok"),
        Just("empty"),
        Just("error"),
        Just("not_available"),
        Just("bogus")
    ];
    prop::collection::vec((keys, status, any_json()), 0..6).prop_map(|ds| {
        let domains: Vec<Value> = ds
            .into_iter()
            .map(|(k, s, data)| json!({"domain_key": k, "status": s, "data": data}))
            .collect();
        json!({"tenant_id": "acme", "format_version": "1.0.0", "domains": domains})
    })
}

/// Realistic-looking domain data with values of the wrong shape in known places.
fn shaped_artifact() -> impl Strategy<Value = Value> {
    (any_json(), any_json(), any_json(), any_json()).prop_map(|(a, b, c, d)| {
        json!({"tenant_id": "acme", "format_version": "1.0", "domains": [
            {"domain_key": "postgres_metadata", "status": "ok", "data": {"schemas": [{"schema_name": "acme", "tables": [{"table_name": "t", "columns": a, "constraints": b, "indexes": [{"indexname": "i", "indexdef": c}]}]}]}},
            {"domain_key": "kafka", "status": "ok", "data": {"topics": [{"name": "acme.x", "partitions": d, "config_overrides": a}], "acls": [{"resource": b, "operation": c}]}},
            {"domain_key": "functions", "status": "ok", "data": {"actions": [{"name": "f", "code_base64": c, "exec": d, "parameters": a}], "rules": [{"name": "r", "trigger": b, "action": d}]}},
            {"domain_key": "storage", "status": "ok", "data": {"buckets": [{"name": "acme-b", "versioning": a, "lifecycle_rules": b, "cors_rules": c, "bucket_policy": d}]}},
            {"domain_key": "iam", "status": "ok", "data": {"realm_settings": a, "clients": [b], "groups": [c], "identity_providers": [d]}},
            {"domain_key": "mongo_metadata", "status": "ok", "data": {"databases": [{"db_name": "acme", "collections": [{"collection_name": "c", "options": a, "indexes": [{"key": b, "name": c}]}]}]}}
        ]})
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        feed(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_real_files(which in any::<prop::sample::Index>(), edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        let ex = examples();
        let (text, _) = &ex[which.index(ex.len())];
        feed(&mutate(text, &edits));
    }

    #[test]
    fn artifacts_with_arbitrary_data(v in artifact()) {
        let _ = falcone::import(&v);
        feed(&v.to_string());
    }

    #[test]
    fn artifacts_with_wrong_shapes(v in shaped_artifact()) {
        let _ = falcone::import(&v);
    }
}

#[test]
fn deeply_nested_input_is_refused_not_crashed() {
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    feed(&deep_json);
    let deep_kdl = format!("{}{}", "a {".repeat(2_000), "}".repeat(2_000));
    feed(&deep_kdl);
    let deep_toml = format!("a = {}1{}", "[".repeat(5_000), "]".repeat(5_000));
    feed(&deep_toml);
}

/// What the fuzz targets found (and their seeds) is replayed through the same readers: each target has a
/// folder in tests/fixtures/fuzz, and no input in it may panic (a crash `scripts/fuzz` finds is copied there).
#[test]
fn fuzz_inputs_are_replayed_without_panicking() {
    let root = std::path::Path::new("tests/fixtures/fuzz");
    let mut replayed = 0;
    for (target, read) in falconer::fuzz::TARGETS {
        let dir = root.join(target);
        let inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| f.expect("entry").path())
            .collect();
        assert!(!inputs.is_empty(), "{} has no input", dir.display());
        for input in inputs {
            read(&std::fs::read(&input).expect("input"));
            replayed += 1;
        }
    }
    assert!(replayed >= falconer::fuzz::TARGETS.len());
}
