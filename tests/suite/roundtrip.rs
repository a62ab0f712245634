//! Property tests: model → TOML → model, model → KDL → model and model → JSON → model are identities on
//! generated manifests that use every shape of value the model has.

use std::collections::BTreeMap;

use crate::common::manifest;
use falconer::domains::{Spec, mongo, storage};
use falconer::manifest::{self, Format, Manifest, Resource, tree, write};
use falconer::model::Tenant;
use proptest::prelude::*;

/// Asserts two lists of resources are equal as multisets (the writer groups resources by kind, and the
/// order of resources, like the order of keys in a JSON object, carries no meaning).
fn same_resources(got: Vec<Spec>, want: Vec<Spec>, context: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{}", context);
    let mut rest = got;
    for w in want {
        match rest.iter().position(|g| *g == w) {
            Some(i) => {
                rest.swap_remove(i);
            }
            None => {
                return Err(TestCaseError::fail(format!(
                    "{} not read back:\n{:?}\n{context}",
                    w.address(),
                    w.to_json()
                )));
            }
        }
    }
    Ok(())
}

fn round_trip(m: &Manifest, format: Format) -> Result<(), TestCaseError> {
    let text = write::write(m, format).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut sources = falconer::diag::Sources::default();
    let (_, tree) = manifest::read_tree(&mut sources, "generated", text.clone(), format);
    let tree = tree.map_err(|e| {
        TestCaseError::fail(format!("{format:?} does not parse back: {e:?}\n{text}"))
    })?;
    let decoded = manifest::decode(std::slice::from_ref(&tree));
    prop_assert!(
        decoded.issues.is_empty(),
        "{format:?}: {:?}\n{text}",
        decoded.issues
    );
    let (tenant, _) = decoded
        .tenant
        .clone()
        .ok_or_else(|| TestCaseError::fail("no tenant"))?;
    prop_assert_eq!(&tenant, &m.tenant);
    let got: Vec<Spec> = decoded.resources.into_iter().map(|(s, _)| s).collect();
    // Reading normalizes (e.g. a MongoDB index's `sparse = false` is no option at all).
    let want: Vec<Spec> = m
        .resources
        .iter()
        .map(|r| {
            let mut s = r.spec.clone();
            s.normalize();
            s
        })
        .collect();
    same_resources(got, want, &format!("{format:?}\n{text}"))
}

proptest! {
    // 96 cases by default; PROPTEST_CASES raises it for a longer run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96)
    ))]

    #[test]
    fn toml_round_trip(m in manifest(false)) {
        round_trip(&m, Format::Toml)?;
    }

    #[test]
    fn kdl_round_trip(m in manifest(true)) {
        round_trip(&m, Format::Kdl)?;
    }

    #[test]
    fn json_round_trip(m in manifest(true)) {
        round_trip(&m, Format::Json)?;
    }
}

#[test]
fn toml_refuses_null_with_a_clear_message() {
    let mut m = Manifest::new(Tenant::new("a"));
    m.resources.push(Resource {
        spec: Spec::StorageBucket(storage::Bucket {
            name: "a-b".into(),
            region: None,
            versioning: None,
            lifecycle_rule: vec![],
            cors_rule: vec![],
            policy: Some(serde_json::json!({"Statement": [null]})),
            tags: BTreeMap::new(),
            encryption: None,
            public_access_block: None,
            ownership: None,
            object_lock: None,
            request_payer: None,
            accelerate: None,
            depends_on: vec![],
            objects: None,
        }),
        span: None,
    });
    let e = write::write(&m, Format::Toml).expect_err("null");
    assert!(
        e.to_string().contains("write this manifest as KDL or JSON"),
        "{e}"
    );
    assert!(write::write(&m, Format::Kdl).is_ok());
}

#[test]
fn kdl_tree_keeps_free_form_shapes() {
    // An empty list, an empty object and a one-item list survive (they are where KDL is ambiguous).
    let mut m = Manifest::new(Tenant::new("a"));
    m.resources.push(Resource {
        spec: Spec::MongoCollection(mongo::Collection {
            name: "c".into(),
            database: "a".into(),
            validator: Some(
                serde_json::json!({"e": [], "o": {}, "one": ["x"], "-": {"-": 1}, "n": null}),
            ),
            validation_level: None,
            validation_action: None,
            capped: None,
            collation: None,
            view_on: None,
            pipeline: vec![],
            timeseries: None,
            expire_after_seconds: None,
            clustered: None,
            change_stream_pre_and_post_images: None,
            depends_on: vec![],
        }),
        span: None,
    });
    round_trip(&m, Format::Kdl).expect("round trip");
    let text = write::write(&m, Format::Kdl).expect("kdl");
    let tree = tree::read_kdl(0, &text).expect("parses");
    assert!(matches!(tree.val, tree::Val::Obj(_)));
}
