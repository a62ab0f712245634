//! The planner: orders, diffs, hazards, secrets, scope and managed set, targeting, renderings.

use std::collections::HashSet;
use std::path::Path;

use falconer::graph::Graph;
use falconer::manifest::{Format, LoadOptions, Manifest, load_path, load_str};
use falconer::model::{Address, HazardCode};
use falconer::plan::{self, Action, Item, Options, Plan, render};
use falconer::secrets::FingerprintKey;

fn key() -> FingerprintKey {
    FingerprintKey::new("test-key")
}

fn items(m: &Manifest, base: &Path) -> Vec<Item> {
    let mut w = Vec::new();
    m.resources
        .iter()
        .map(|r| Item::new(r.spec.clone(), base, &key(), &mut w))
        .collect()
}

fn manifest(src: &str) -> Manifest {
    let loaded = load_str("test.toml", src, Format::Toml, LoadOptions::default());
    assert!(!loaded.has_errors(), "{}", loaded.messages());
    loaded.manifest.expect("manifest")
}

fn plan_of(desired: &str, live: &str, opts: &Options) -> Plan {
    let (d, l) = (manifest(desired), manifest(live));
    plan::make(
        &d.tenant,
        &items(&d, Path::new(".")),
        &items(&l, Path::new(".")),
        opts,
    )
    .expect("plans")
}

const TENANT: &str = "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"s\"]\n";

fn with(body: &str) -> String {
    format!("{TENANT}{body}")
}

#[test]
fn against_an_empty_tenant_everything_is_created_in_dependency_order() {
    let m = load_path(Path::new("examples/acme"), LoadOptions::default())
        .manifest
        .expect("loads");
    let empty = manifest("[tenant]\nid = \"acme\"\n");
    let p = plan::make(
        &m.tenant,
        &items(&m, Path::new("examples/acme")),
        &[],
        &Options::default(),
    )
    .expect("plans");
    assert_eq!(p.changes.len(), m.resources.len());
    assert!(p.changes.iter().all(|c| c.action == Action::Create));
    assert_eq!(empty.resources.len(), 0);
    // Every dependency edge is respected by the order of the changes and by their waves.
    let specs: Vec<_> = m.resources.iter().map(|r| &r.spec).collect();
    let g = Graph::build(&m.tenant, &specs);
    let pos = |a: &Address| {
        p.changes
            .iter()
            .position(|c| c.address == *a)
            .expect("planned")
    };
    for e in g.graph.raw_edges() {
        let (a, b) = (
            &g.addresses[g.graph[e.source()]],
            &g.addresses[g.graph[e.target()]],
        );
        assert!(
            pos(a) < pos(b),
            "{a} is planned after {b}, which depends on it"
        );
        assert!(p.changes[pos(a)].wave < p.changes[pos(b)].wave);
    }
}

#[test]
fn toml_and_kdl_examples_differ_in_nothing_and_one_edit_shows_exactly_it() {
    let t = load_path(Path::new("examples/acme"), LoadOptions::default())
        .manifest
        .expect("toml");
    let k = load_path(Path::new("examples/acme-kdl"), LoadOptions::default())
        .manifest
        .expect("kdl");
    let p = plan::make(
        &k.tenant,
        &items(&k, Path::new("examples/acme-kdl")),
        &items(&t, Path::new("examples/acme")),
        &Options::default(),
    )
    .expect("plans");
    assert!(
        p.changes.is_empty(),
        "{}",
        render::text(&p, Default::default())
    );
    assert_eq!(p.summary.unchanged, 59);

    // Edit one field in a copy of the KDL example.
    let dir = std::env::temp_dir().join(format!("falconer-plan-edit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("code")).expect("dir");
    for f in std::fs::read_dir("examples/acme-kdl").expect("dir") {
        let p = f.expect("entry").path();
        if p.extension().is_some_and(|e| e == "kdl") {
            std::fs::copy(&p, dir.join(p.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::copy("examples/acme/code/notify.js", dir.join("code/notify.js")).expect("copy");
    let text = std::fs::read_to_string(dir.join("kafka.kdl")).expect("kdl");
    let edited = text.replace(
        "topic acme.orders partitions=6",
        "topic acme.orders partitions=8",
    );
    assert_ne!(text, edited);
    std::fs::write(dir.join("kafka.kdl"), edited).expect("write");
    let k2 = load_path(&dir, LoadOptions::default())
        .manifest
        .expect("loads");
    let p = plan::make(
        &k2.tenant,
        &items(&k2, &dir),
        &items(&t, Path::new("examples/acme")),
        &Options::default(),
    )
    .expect("plans");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        p.changes.len(),
        1,
        "{}",
        render::text(&p, Default::default())
    );
    let c = &p.changes[0];
    assert_eq!(
        (c.address.to_string().as_str(), c.action),
        ("kafka.topic.acme.orders", Action::Update)
    );
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].path, "partitions");
    assert_eq!(
        (c.fields[0].old.clone(), c.fields[0].new.clone()),
        (Some(6.into()), Some(8.into()))
    );
}

#[test]
fn the_reference_artifact_planned_against_itself_has_no_changes() {
    let text =
        std::fs::read_to_string("tests/fixtures/falcone/globex-v1.0.0.json").expect("fixture");
    let imp = falconer::falcone::import(&falconer::falcone::parse(&text).expect("json"))
        .expect("imports");
    let i = items(&imp.manifest, Path::new("."));
    let p = plan::make(&imp.manifest.tenant, &i, &i, &Options::default()).expect("plans");
    assert!(p.changes.is_empty());
    assert_eq!(p.summary.unchanged, 24);
}

#[test]
fn hazards_of_typical_changes() {
    let cases: Vec<(&str, &str, HazardCode)> = vec![
        (
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n",
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"id\", type = \"bigint\" }, { name = \"email\", type = \"text\" }]\n",
            HazardCode::DeletesData,
        ),
        (
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"id\", type = \"text\" }]\n",
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n",
            HazardCode::RewritesData,
        ),
        (
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\nrow_level_security = false\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n",
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\nrow_level_security = true\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n",
            HazardCode::WidensAccess,
        ),
        (
            "[[kafka.topic]]\nname = \"acme.a\"\npartitions = 3\n",
            "[[kafka.topic]]\nname = \"acme.a\"\npartitions = 6\n",
            HazardCode::Impossible,
        ),
        (
            "[[storage.bucket]]\nname = \"acme-a\"\nversioning = \"disabled\"\n",
            "[[storage.bucket]]\nname = \"acme-a\"\nversioning = \"enabled\"\n",
            HazardCode::Impossible,
        ),
        (
            "[[storage.bucket]]\nname = \"acme-a\"\npolicy = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Principal = \"*\", Action = \"s3:GetObject\", Resource = \"arn:aws:s3:::acme-a/*\" }] }\n",
            "[[storage.bucket]]\nname = \"acme-a\"\n",
            HazardCode::WidensAccess,
        ),
        (
            "[[iam.client]]\nclient_id = \"web\"\npublic_client = true\n",
            "[[iam.client]]\nclient_id = \"web\"\npublic_client = false\n",
            HazardCode::WidensAccess,
        ),
        (
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n[[postgres.index]]\nname = \"i\"\nschema = \"s\"\ntable = \"t\"\ncolumns = [\"id\"]\n",
            "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n",
            HazardCode::LocksTable,
        ),
    ];
    for (desired, live, code) in cases {
        let p = plan_of(&with(desired), &with(live), &Options::default());
        let all: Vec<HazardCode> = p
            .changes
            .iter()
            .flat_map(|c| c.hazards.iter().map(|h| h.code))
            .collect();
        assert!(
            all.contains(&code),
            "expected {code} for\n{desired}\nagainst\n{live}\n{}",
            render::text(&p, Default::default())
        );
        assert!(p.summary.hazards.contains_key(&code));
    }
}

#[test]
fn deleting_a_data_holding_resource_says_what_is_lost() {
    let p = plan_of(
        &with(""),
        &with("[[kafka.topic]]\nname = \"acme.a\"\npartitions = 1\n"),
        &Options::default(),
    );
    let c = &p.changes[0];
    assert_eq!(c.action, Action::Delete);
    assert_eq!(c.hazards[0].code, HazardCode::DeletesData);
    assert!(
        c.hazards[0].message.contains("kafka.topic.acme.a"),
        "{}",
        c.hazards[0].message
    );
}

#[test]
fn immutable_fields_force_a_replace() {
    let p = plan_of(
        &with(
            "[[mongo.collection]]\nname = \"c\"\ndatabase = \"acme\"\ncapped = { size = 2048 }\n",
        ),
        &with(
            "[[mongo.collection]]\nname = \"c\"\ndatabase = \"acme\"\ncapped = { size = 1024 }\n",
        ),
        &Options::default(),
    );
    let c = &p.changes[0];
    assert_eq!(c.action, Action::Replace);
    assert!(
        c.fields
            .iter()
            .any(|f| f.path == "capped.size" && f.forces_replace)
    );
    assert_eq!(c.hazards[0].code, HazardCode::DeletesData);
}

#[test]
fn no_noise_from_order_defaults_or_redaction() {
    // Set-like lists in another order, keyed lists in another order, a server default not set in the
    // manifest, a redacted secret: no change.
    let desired = with(
        "[[iam.client]]\nclient_id = \"web\"\nredirect_uris = [\"https://a\", \"https://b\"]\nsecret = \"***REDACTED***\"\n\
         [[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"a\", type = \"int\" }, { name = \"b\", type = \"int\" }]\n",
    );
    let live = with(
        "[[iam.client]]\nclient_id = \"web\"\nredirect_uris = [\"https://b\", \"https://a\"]\nenabled = true\nsecret = { env = \"SOME_VARIABLE_THAT_IS_NOT_SET\" }\n\
         [[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncolumn = [{ name = \"b\", type = \"int\" }, { name = \"a\", type = \"int\" }]\n",
    );
    let p = plan_of(&desired, &live, &Options::default());
    assert!(
        p.changes.is_empty(),
        "{}",
        render::text(&p, Default::default())
    );
}

#[test]
fn a_changed_secret_is_detected_by_fingerprint_and_never_shown() {
    let dir = std::env::temp_dir().join(format!("falconer-plan-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("new"), "rotated-canary-value\n").expect("write");
    std::fs::write(dir.join("old"), "original-canary-value\n").expect("write");
    let d = manifest(&with(
        "[[iam.client]]\nclient_id = \"svc\"\nsecret = { file = \"new\" }\n",
    ));
    let l = manifest(&with(
        "[[iam.client]]\nclient_id = \"svc\"\nsecret = { file = \"old\" }\n",
    ));
    let p = plan::make(
        &d.tenant,
        &items(&d, &dir),
        &items(&l, &dir),
        &Options::default(),
    )
    .expect("plans");
    assert_eq!(p.changes.len(), 1);
    let f = &p.changes[0].fields[0];
    assert!(f.sensitive && f.old.is_none() && f.new.is_none());
    for out in [
        render::text(&p, Default::default()),
        render::markdown(&p),
        render::json(&p),
    ] {
        assert!(out.contains("sensitive"), "{out}");
        assert!(!out.contains("canary-value"), "a secret leaked:\n{out}");
    }
    // Same value on both sides: no change.
    let p = plan::make(
        &d.tenant,
        &items(&d, &dir),
        &items(&d, &dir),
        &Options::default(),
    )
    .expect("plans");
    assert!(p.changes.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deletes_only_touch_managed_resources_in_scope() {
    let live = with(
        "[[kafka.topic]]\nname = \"acme.managed\"\npartitions = 1\n[[kafka.topic]]\nname = \"acme.unmanaged\"\npartitions = 1\n",
    );
    let managed: HashSet<Address> =
        [Address::parse("kafka.topic.acme.managed").expect("addr")].into();
    let p = plan_of(
        &with(""),
        &live,
        &Options {
            managed: Some(managed),
            ..Options::default()
        },
    );
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.changes[0].address, "kafka.topic.acme.managed");
    assert_eq!(p.unmanaged, vec!["kafka.topic.acme.unmanaged"]);
    assert!(render::text(&p, Default::default()).contains("? kafka.topic.acme.unmanaged"));
}

#[test]
fn targets_bring_their_dependencies_and_excludes_take_their_dependents() {
    let m = load_path(Path::new("examples/acme"), LoadOptions::default())
        .manifest
        .expect("loads");
    let i = items(&m, Path::new("examples/acme"));
    let opts = Options {
        targets: vec!["postgres.policy.*".into()],
        ..Options::default()
    };
    let p = plan::make(&m.tenant, &i, &[], &opts).expect("plans");
    let addrs: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
    assert!(
        addrs
            .iter()
            .any(|a| a == "postgres.policy.tenant_acme.orders.orders_of_current_customer")
    );
    assert!(
        addrs
            .iter()
            .any(|a| a == "postgres.table.tenant_acme.orders"),
        "{addrs:?}"
    );
    assert!(
        addrs
            .iter()
            .any(|a| a == "postgres.table.tenant_acme.customers"),
        "the foreign key's table: {addrs:?}"
    );
    assert!(!addrs.iter().any(|a| a.starts_with("kafka.")), "{addrs:?}");

    let opts = Options {
        excludes: vec!["postgres.table.tenant_acme.orders".into()],
        ..Options::default()
    };
    let p = plan::make(&m.tenant, &i, &[], &opts).expect("plans");
    let addrs: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
    assert!(
        !addrs
            .iter()
            .any(|a| a == "postgres.table.tenant_acme.orders")
    );
    assert!(
        !addrs
            .iter()
            .any(|a| a == "postgres.index.tenant_acme.orders_pending_idx"),
        "dependents go too"
    );
    assert!(
        !addrs
            .iter()
            .any(|a| a == "postgres.table.tenant_acme.order_items"),
        "dependents go too"
    );
    assert!(
        addrs
            .iter()
            .any(|a| a == "postgres.table.tenant_acme.customers")
    );

    let bad = plan::make(
        &m.tenant,
        &i,
        &[],
        &Options {
            targets: vec!["postgres.[".into()],
            ..Options::default()
        },
    );
    assert!(bad.is_err());
}

#[test]
fn markdown_stays_under_the_comment_limit() {
    let mut src = String::from("[tenant]\nid = \"big\"\n");
    for n in 0..3000 {
        src.push_str(&format!(
            "[[kafka.topic]]\nname = \"big.a-rather-long-topic-name-to-fill-the-comment-{n}\"\npartitions = 3\nconfig = {{ \"retention.ms\" = \"1000\" }}\n"
        ));
    }
    let m = manifest(&src);
    let p = plan::make(
        &m.tenant,
        &items(&m, Path::new(".")),
        &[],
        &Options::default(),
    )
    .expect("plans");
    let md = render::markdown(&p);
    assert!(md.len() < render::MARKDOWN_LIMIT, "{} characters", md.len());
    assert!(md.contains("3000 to create"));
    assert!(md.contains("left out to stay under GitHub's comment limit"));
}

/// Plan and apply agree by construction: a field of an update that no operation carries out is named, and
/// the provider refuses the change before it runs anything (here with a stand-in that has statements for
/// columns only).
#[test]
fn an_update_field_without_work_is_named() {
    use falconer::domains::provider::{ProviderError, idle_fields};
    let live = with(
        "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncomment = \"one\"\ncolumn = [{ name = \"id\", type = \"bigint\" }]\n",
    );
    let desired = with(
        "[[postgres.table]]\nname = \"t\"\nschema = \"s\"\ncomment = \"two\"\ncolumn = [{ name = \"id\", type = \"bigint\" }, { name = \"x\", type = \"text\" }]\n",
    );
    let p = plan_of(&desired, &live, &Options::default());
    assert_eq!(p.changes.len(), 1);
    let (d, l) = (manifest(&desired), manifest(&live));
    let columns_only = |one: &falconer::plan::Change, _: &falconer::domains::Spec| {
        Ok::<usize, ()>(usize::from(
            one.fields.iter().any(|f| f.path.starts_with("column")),
        ))
    };
    let idle = idle_fields(
        &p.changes[0],
        &d.resources[0].spec,
        &l.resources[0].spec,
        columns_only,
    );
    assert_eq!(idle, ["comment"]);
    let e = ProviderError::CannotApply {
        domain: falconer::model::Domain::Postgres,
        address: p.changes[0].address.clone(),
        fields: idle,
    };
    assert!(
        e.to_string()
            .contains("cannot apply `comment` of postgres.table.s.t"),
        "{e}"
    );
    // The real statements have work for both fields.
    let real = falconer::domains::postgres::provider::statements(
        &p.changes,
        &items(&d, Path::new(".")),
        &items(&l, Path::new(".")),
        &Default::default(),
    )
    .expect("statements");
    assert!(real.len() >= 2, "{}", real.len());
}
