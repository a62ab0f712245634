//! Falcone artifacts: every managed value of the project's fixtures (tests/fixtures/falcone, written in the
//! platform's format) arrives in the model, field by field;
//! the applier dialect, domain statuses, versions and migration behave as specified.

use falconer::domains::{Spec, functions as fnd, iam, kafka, mongo, postgres as pg, storage};
use falconer::falcone::{self, Dialect, DomainStatus, Imported};
use falconer::model::{Domain, SecretValue};
use serde_json::json;

const FULL: &str = "tests/fixtures/falcone/globex-v1.0.0.json";
const LEGACY: &str = "tests/fixtures/falcone/globex-v1.0-legacy.json";

fn import_file(path: &str) -> Imported {
    let text = std::fs::read_to_string(path).expect("fixture");
    let v = falcone::parse(&text).expect("json");
    falcone::import(&v).expect("imports")
}

fn find<'a>(imp: &'a Imported, addr: &str) -> &'a Spec {
    imp.manifest
        .resources
        .iter()
        .find(|r| r.address() == addr)
        .map(|r| &r.spec)
        .unwrap_or_else(|| {
            let all: Vec<String> = imp
                .manifest
                .resources
                .iter()
                .map(|r| r.address().to_string())
                .collect();
            panic!("{addr} not imported; have {all:#?}")
        })
}

macro_rules! get {
    ($imp:expr, $addr:expr, $variant:path) => {
        match find($imp, $addr) {
            $variant(x) => x,
            other => panic!("{} is {:?}", $addr, other.meta().kind),
        }
    };
}

fn warning_paths(imp: &Imported) -> Vec<String> {
    imp.issues
        .iter()
        .filter(|i| !i.is_error())
        .filter_map(|i| i.path.clone())
        .collect()
}

#[test]
fn full_fixture_imports_every_managed_value() {
    let imp = import_file(FULL);
    // The platform exports each bucket's lifecycle rule without an action and CORS rule without methods:
    // S3 refuses both, so they are errors, each naming its rule; nothing else is.
    let errors: Vec<(String, &str)> = imp
        .issues
        .iter()
        .filter(|i| i.is_error())
        .map(|i| (i.path.clone().unwrap_or_default(), i.code))
        .collect();
    let breaches = |b: usize| {
        let at = format!("/domains/3/data/buckets/{b}");
        [(at.clone(), "s3-lifecycle-rule"), (at, "s3-cors-rule")]
    };
    let expected: Vec<(String, &str)> = breaches(0).into_iter().chain(breaches(1)).collect();
    assert_eq!(errors, expected);
    assert_eq!(imp.tenant_id, "globex");
    assert_eq!(imp.format_version, "1.0.0");
    for d in Domain::ALL {
        let s = imp
            .section(d)
            .unwrap_or_else(|| panic!("no section for {d}"));
        assert_eq!(s.status, DomainStatus::Ok, "{d}");
        assert_eq!(s.dialect, Some(Dialect::Collector), "{d}");
    }

    // iam: realm settings (the platform's importer drops them), roles, groups, clients, scopes, IdPs.
    let realm = get!(&imp, "iam.realm.globex", Spec::IamRealm);
    assert_eq!(realm.display_name.as_deref(), Some("Globex"));
    assert_eq!(realm.ssl_required, Some(iam::SslRequired::All));
    assert_eq!(realm.login_theme.as_deref(), Some("keycloak"));
    assert_eq!(realm.email_theme.as_deref(), Some("keycloak"));
    assert_eq!(realm.sso_session_idle_timeout, Some(900));
    assert_eq!(realm.sso_session_max_lifespan, Some(28800));
    assert_eq!(
        realm.access_token_lifespan, None,
        "over-redacted: unknown, not applied"
    );
    assert!(
        warning_paths(&imp)
            .contains(&"/domains/0/data/realm_settings/accessTokenLifespan".to_string())
    );
    for role in ["operator", "viewer"] {
        let r = get!(&imp, &format!("iam.role.{role}"), Spec::IamRole);
        assert_eq!(r.description, None);
    }
    let r = get!(&imp, "iam.role.auditor", Spec::IamRole);
    assert_eq!(r.description.as_deref(), Some("Reads the audit trail"));
    get!(&imp, "iam.group.finance", Spec::IamGroup);
    get!(&imp, "iam.group.night-shift", Spec::IamGroup);
    let c = get!(&imp, "iam.client.portal", Spec::IamClient);
    assert!(matches!(c.secret, Some(SecretValue::Redacted(_))));
    let c = get!(&imp, "iam.client.billing-api", Spec::IamClient);
    assert_eq!(c.enabled, Some(true));
    assert_eq!(c.protocol, Some(iam::Protocol::OpenidConnect));
    assert_eq!(c.public_client, Some(false));
    assert!(matches!(c.secret, Some(SecretValue::Redacted(_))));
    assert_eq!(
        c.redirect_uris,
        vec!["https://billing.globex.test/callback"]
    );
    get!(&imp, "iam.client_scope.invoices-read", Spec::IamClientScope);
    let idp = get!(
        &imp,
        "iam.identity_provider.github",
        Spec::IamIdentityProvider
    );
    assert_eq!(idp.provider_id, "github");
    assert_eq!(
        idp.config.get("clientId").map(String::as_str),
        Some("gbx-oauth-7")
    );
    assert_eq!(
        imp.manifest
            .tenant
            .name(&falconer::domains::iam::REALM_SCOPE),
        "globex"
    );

    // postgres: the nested `schemas[].tables[]` keeps its tables (the platform's importer loses them).
    assert_eq!(
        imp.manifest
            .tenant
            .names(&falconer::domains::postgres::SCHEMA_SCOPE),
        vec!["globex"]
    );
    let s = get!(&imp, "postgres.schema.globex", Spec::PgSchema);
    assert_eq!(s.owner.as_deref(), Some("postgres"));
    let t = get!(&imp, "postgres.table.globex.invoices", Spec::PgTable);
    let cols: Vec<(&str, &str, Option<bool>, Option<&str>)> = t
        .column
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.ty.as_str(),
                c.nullable,
                c.default.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        vec![
            ("id", "uuid", Some(false), Some("gen_random_uuid()")),
            ("number", "text", Some(false), None),
            ("note", "text", Some(true), None),
            (
                "issued_at",
                "timestamp with time zone",
                Some(false),
                Some("now()")
            ),
        ]
    );
    assert_eq!(
        t.primary_key,
        Some(pg::PrimaryKey {
            name: Some("invoices_pkey".into()),
            columns: vec!["id".into()]
        })
    );
    assert_eq!(t.unique.len(), 1);
    assert_eq!(t.unique[0].name.as_deref(), Some("invoices_number_key"));
    assert_eq!(t.unique[0].columns, vec!["number"]);
    // Both exported indexes back the constraints above: no separate index resources.
    assert!(
        !imp.manifest
            .resources
            .iter()
            .any(|r| matches!(r.spec, Spec::PgIndex(_)))
    );
    let v = get!(&imp, "postgres.view.globex.recent_invoices", Spec::PgView);
    assert!(v.query.starts_with("SELECT invoices.id,"), "{}", v.query);
    assert!(v.query.ends_with("'30 days'::interval));"));
    let e = get!(&imp, "postgres.extension.pgcrypto", Spec::PgExtension);
    assert_eq!(e.version.as_deref(), Some("1.3"));
    // The collector lists the schema owner's own privileges: implicit, not a grant (PostgreSQL keeps none,
    // so it could never be planned in sync); left out with a note.
    assert!(
        !imp.manifest
            .resources
            .iter()
            .any(|r| r.address() == "postgres.grant.globex.invoices.postgres"),
        "the owner's implicit privileges are no grant"
    );
    assert!(imp.issues.iter().any(
        |i| i.code == "implicit" && i.path.as_deref().is_some_and(|p| p.ends_with("/grants/0"))
    ));

    // kafka: partitions and config_overrides keep their values.
    let t = get!(&imp, "kafka.topic.globex.invoices", Spec::KafkaTopic);
    assert_eq!((t.partitions, t.replication_factor), (2, Some(3)));
    assert!(t.config.is_empty());
    let t = get!(&imp, "kafka.topic.globex.audit", Spec::KafkaTopic);
    assert_eq!((t.partitions, t.replication_factor), (6, Some(1)));
    assert_eq!(
        t.config.get("retention.ms").map(|v| v.0.as_str()),
        Some("86400000")
    );
    assert_eq!(
        t.config.get("cleanup.policy").map(|v| v.0.as_str()),
        Some("compact")
    );
    let acl = imp
        .manifest
        .resources
        .iter()
        .find_map(|r| match &r.spec {
            Spec::KafkaAcl(a) => Some(a),
            _ => None,
        })
        .expect("an ACL");
    assert_eq!(acl.resource_name, "globex.audit");
    assert_eq!(acl.resource_type, kafka::AclResource::Topic);
    assert_eq!(acl.pattern(), kafka::PatternType::Literal);
    assert_eq!(acl.principal, "User:auditor");
    assert_eq!(acl.operation, kafka::AclOperation::Read);
    assert_eq!(acl.permission, kafka::AclPermission::Allow);
    assert_eq!(acl.host(), "*");

    // storage: versioning, lifecycle, policy, CORS.
    for name in ["globex-invoices", "globex-exports"] {
        let b = get!(&imp, &format!("storage.bucket.{name}"), Spec::StorageBucket);
        assert_eq!(b.versioning, Some(storage::Versioning::Enabled));
        assert_eq!(b.lifecycle_rule.len(), 1);
        assert_eq!(b.lifecycle_rule[0].id, "expire-old");
        // "Enabled" in the artifact; enabled is the default, which normalization leaves out.
        assert_eq!(b.lifecycle_rule[0].status, None);
        // No statements: the platform's way of writing no policy.
        assert_eq!(b.policy, None);
        assert_eq!(b.cors_rule.len(), 1);
        assert_eq!(
            b.cors_rule[0].allowed_origins,
            vec!["https://portal.globex.test"]
        );
    }

    // mongo: database, collection with its validator; the implicit _id_ index is not managed.
    assert_eq!(
        imp.manifest
            .tenant
            .names(&falconer::domains::mongo::DATABASE_SCOPE),
        vec!["globex"]
    );
    get!(&imp, "mongo.database.globex", Spec::MongoDatabase);
    let c = get!(
        &imp,
        "mongo.collection.globex.ledger",
        Spec::MongoCollection
    );
    assert_eq!(
        c.validator,
        Some(json!({"$jsonSchema": {"required": ["invoice_id"]}}))
    );
    assert!(
        !imp.manifest
            .resources
            .iter()
            .any(|r| matches!(r.spec, Spec::MongoIndex(_)))
    );
    assert!(warning_paths(&imp).contains(&"/domains/4/data/databases/0/sharding".to_string()));

    // functions: code_base64 becomes code; secret parameters stay redacted; missing code is a warning.
    let a = get!(&imp, "functions.action.sendInvoice", Spec::FnAction);
    assert_eq!(a.kind, "nodejs:20");
    assert_eq!(
        a.code,
        Some(fnd::Code::Inline(
            "function main(p) { return { sent: p.id }; }".into()
        ))
    );
    assert_eq!(a.parameter[0].key, "SMTP_TOKEN");
    assert!(matches!(
        a.parameter[0].secret,
        Some(SecretValue::Redacted(_))
    ));
    assert_eq!(a.parameter[1].key, "SENDER");
    assert_eq!(a.parameter[1].value, Some(json!("billing@globex.test")));
    let a = get!(&imp, "functions.action.ping", Spec::FnAction);
    assert_eq!(
        a.code,
        Some(fnd::Code::Inline(
            "function main() { return { ok: true }; }".into()
        ))
    );
    let a = get!(&imp, "functions.action.archive", Spec::FnAction);
    assert_eq!(a.code, None);
    assert!(warning_paths(&imp).contains(&"/domains/5/data/actions/2/code_available".to_string()));

    assert_eq!(imp.manifest.resources.len(), 24);
}

#[test]
fn legacy_fixture_imports_to_the_same_model() {
    let full = import_file(FULL);
    let legacy = import_file(LEGACY);
    assert_eq!(legacy.format_version, "1.0");
    assert_eq!(full.manifest, legacy.manifest);
}

#[test]
fn imported_fixture_writes_as_a_valid_manifest() {
    let mut imp = import_file(FULL);
    // What breaks S3's rules is left out, item by item: the buckets stay, without those rules.
    let invalid = imp.invalid(&[]).expect("every error is a resource's");
    let parts: Vec<_> = invalid.iter().filter_map(|i| i.part.clone()).collect();
    assert_eq!(parts.len(), 4, "{invalid:?}");
    imp.leave_out(&invalid);
    assert_eq!(imp.manifest.resources.len(), 24);
    for format in [
        falconer::manifest::Format::Toml,
        falconer::manifest::Format::Kdl,
    ] {
        let text = falconer::manifest::write::write(&imp.manifest, format).expect("writes");
        let loaded = falconer::manifest::load_str("fixture", &text, format, Default::default());
        assert!(!loaded.has_errors(), "{format:?}: {:#?}", loaded.issues);
        let mut back = loaded.manifest.expect("manifest");
        for r in &mut back.resources {
            r.span = None;
        }
        let mut a: Vec<String> = imp
            .manifest
            .resources
            .iter()
            .map(|r| format!("{:?}", r.spec))
            .collect();
        let mut b: Vec<String> = back
            .resources
            .iter()
            .map(|r| format!("{:?}", r.spec))
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{format:?}");
    }
}

#[test]
fn applier_dialect_and_statuses() {
    let v = json!({
        "tenant_id": "tenant-dest",
        "format_version": "1.0.0",
        "domains": [
            {"domain_key": "postgres_metadata", "status": "ok", "data": {"schema": "tenant_dest", "schemas": [],
              "tables": [{"name": "events", "columns": [{"column_name": "id", "data_type": "uuid"}]}],
              "views": [], "extensions": [{"name": "citext", "version": "1.6"}],
              "grants": [{"grantee": "app", "table_name": "events", "privilege_type": "select"}]}},
            {"domain_key": "kafka", "status": "ok", "data": {"topics": [
                {"name": "tenant-dest.events", "numPartitions": 4, "configEntries": [{"name": "retention.ms", "value": 1000}]}],
              "acls": [{"resourceType": 2, "resourceName": "tenant-dest.events", "resourcePatternType": 3,
                        "principal": "User:x", "host": "*", "operation": 3, "permissionType": 3}]}},
            {"domain_key": "mongo_metadata", "status": "ok", "data": {"database": "tenant_dest",
              "collections": [{"name": "logs", "validator": {"$jsonSchema": {"bsonType": "object"}}}],
              "indexes": [{"collection": "logs", "key": {"at": -1}, "unique": true}]}},
            {"domain_key": "functions", "status": "ok", "data": {"namespace": "tenant-dest",
              "actions": [{"name": "hello", "exec": {"kind": "python:3.11", "code": "def main(a): return a"}}],
              "rules": [{"name": "r", "trigger": "/tenant-dest/t", "action": "/tenant-dest/hello"}],
              "triggers": [{"name": "t"}]}},
            {"domain_key": "storage", "status": "ok", "data": {"buckets": [{"name": "tenant-dest-files",
              "versioning": {"Status": "Suspended"},
              "lifecycle": {"Rules": [{"ID": "x", "Status": "Enabled", "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}]}}, "Expiration": {"Days": 3}}]},
              "cors": {"CORSRules": [{"AllowedOrigins": ["https://x"], "AllowedMethods": ["GET"]}]},
              "policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"}]}},
            {"domain_key": "iam", "status": "error", "error": "Collector 'iam' timed out after 8000ms", "data": null},
            {"domain_key": "not_a_domain", "status": "ok", "data": {}}
        ]
    });
    let imp = falcone::import(&v).expect("imports");
    let errors: Vec<_> = imp.issues.iter().filter(|i| i.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        imp.section(Domain::Postgres).and_then(|s| s.dialect),
        Some(Dialect::Applier)
    );
    assert_eq!(
        imp.section(Domain::Iam).map(|s| s.status),
        Some(DomainStatus::Error)
    );
    assert_eq!(
        imp.section(Domain::Iam)
            .and_then(|s| s.error.clone())
            .as_deref(),
        Some("Collector 'iam' timed out after 8000ms")
    );
    assert!(imp.issues.iter().any(|i| i.code == "unknown-domain"));

    let t = get!(&imp, "postgres.table.tenant_dest.events", Spec::PgTable);
    assert_eq!(t.column[0].ty, "uuid");
    let g = get!(&imp, "postgres.grant.tenant_dest.events.app", Spec::PgGrant);
    assert_eq!(g.privileges, vec![pg::Privilege::Select]);
    let t = get!(&imp, "kafka.topic.tenant-dest.events", Spec::KafkaTopic);
    assert_eq!(t.partitions, 4);
    assert_eq!(
        t.config.get("retention.ms").map(|v| v.0.as_str()),
        Some("1000")
    );
    let acl = imp.manifest.resources.iter().find_map(|r| match &r.spec {
        Spec::KafkaAcl(a) => Some(a),
        _ => None,
    });
    let acl = acl.expect("acl");
    assert_eq!(
        (acl.operation, acl.permission),
        (kafka::AclOperation::Read, kafka::AclPermission::Allow)
    );
    let i = get!(&imp, "mongo.index.tenant_dest.logs.at_-1", Spec::MongoIndex);
    assert_eq!(i.key[0].order, mongo::IndexDirection::Desc);
    assert_eq!(i.unique, Some(true));
    let a = get!(&imp, "functions.action.hello", Spec::FnAction);
    assert_eq!(a.kind, "python:3.11");
    assert_eq!(
        a.code,
        Some(fnd::Code::Inline("def main(a): return a".into()))
    );
    let r = get!(&imp, "functions.rule.r", Spec::FnRule);
    assert_eq!((r.trigger.as_str(), r.action.as_str()), ("t", "hello"));
    let b = get!(
        &imp,
        "storage.bucket.tenant-dest-files",
        Spec::StorageBucket
    );
    assert_eq!(b.versioning, Some(storage::Versioning::Suspended));
    let f = b.lifecycle_rule[0].filter.as_ref().expect("filter");
    assert_eq!(f.prefix.as_deref(), Some("a/"));
    assert_eq!(f.tags.get("k").map(String::as_str), Some("v"));
    assert_eq!(
        b.lifecycle_rule[0].expiration.as_ref().and_then(|e| e.days),
        Some(3)
    );
    assert_eq!(
        b.cors_rule[0].allowed_methods,
        vec![storage::HttpMethod::Get]
    );
    // A policy without statements is how the platform writes none (S3 refuses one).
    assert_eq!(b.policy, None);
}

#[test]
fn unknown_fields_and_over_redaction_are_warnings_with_paths() {
    let v = json!({
        "tenant_id": "acme", "format_version": "1.0.0", "surprise": 1,
        "domains": [{"domain_key": "iam", "status": "ok", "data": {"realm": "acme",
            "clients": [{"clientId": "svc", "secret": "***REDACTED***", "surrogateAuthRequired": false,
                         "attributes": {"access.token.lifespan": "***REDACTED***", "pkce.code.challenge.method": "S256"}}],
            "roles": [{"name": "r", "id": "1f3", "containerId": "acme"}]}}]
    });
    let imp = falcone::import(&v).expect("imports");
    let paths = warning_paths(&imp);
    assert!(paths.contains(&"/surprise".to_string()), "{paths:#?}");
    assert!(
        paths.contains(&"/domains/0/data/clients/0/surrogateAuthRequired".to_string()),
        "{paths:#?}"
    );
    assert!(
        paths.contains(&"/domains/0/data/clients/0/attributes/access.token.lifespan".to_string()),
        "{paths:#?}"
    );
    // Server-generated ids never reach the model and are not worth a warning.
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with("/id") || p.ends_with("/containerId")),
        "{paths:#?}"
    );
    let c = get!(&imp, "iam.client.svc", Spec::IamClient);
    assert!(matches!(c.secret, Some(SecretValue::Redacted(_))));
    assert_eq!(
        c.attributes
            .get("pkce.code.challenge.method")
            .map(String::as_str),
        Some("S256")
    );
    assert!(!c.attributes.contains_key("access.token.lifespan"));
}

#[test]
fn versions_are_checked_with_messages_that_say_what_to_do() {
    for (v, expect) in [
        (
            json!({"tenant_id": "a", "format_version": "1.1.0", "domains": []}),
            "newer",
        ),
        (
            json!({"tenant_id": "a", "format_version": "2.0.0", "domains": []}),
            "newer",
        ),
        (
            json!({"tenant_id": "a", "format_version": "1", "domains": []}),
            "not a Falcone",
        ),
        (
            json!({"tenant_id": "a", "domains": []}),
            "no `format_version`",
        ),
        (
            json!({"format_version": "1.0.0", "domains": []}),
            "no `tenant_id`",
        ),
    ] {
        let errs = falcone::import(&v).expect_err("refused");
        assert!(
            errs[0].message.contains(expect),
            "{}: {}",
            v,
            errs[0].message
        );
    }
}

#[test]
fn migrating_the_legacy_fixture_gives_the_current_format() {
    let text = std::fs::read_to_string(LEGACY).expect("fixture");
    let v = falcone::parse(&text).expect("json");
    let m = falcone::migrate(v, "2026-11-21T00:00:00Z").expect("migrates");
    assert_eq!(m.from, "1.0");
    assert_eq!(m.value["format_version"], "1.0.0");
    assert_eq!(m.value["schema_checksum"], falcone::SCHEMA_CHECKSUM_1_0_0);
    assert_eq!(
        m.value["_migration_metadata"]["migration_chain"],
        json!(["1.0→1.0.0"])
    );
    // The domain data is untouched, so the migrated artifact imports to the same model.
    let imp = falcone::import(&m.value).expect("imports");
    assert_eq!(imp.manifest, import_file(FULL).manifest);
}

/// Every member of every object of the platform's exports (both fixtures of the 1.0.0 format), dropped in
/// turn, is never lost in silence: the object still becomes a resource, or an issue names it (at its path
/// or below), or the import refuses with its issues.
#[test]
fn each_member_dropped_in_turn_is_carried_or_named() {
    for fixture in [FULL, "tests/fixtures/falcone/initech-v1.0.0.json"] {
        members_dropped_in_turn(fixture);
    }
}

fn members_dropped_in_turn(fixture: &str) {
    let full = falcone::parse(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    let carried = falcone::import(&full)
        .expect("imports")
        .manifest
        .resources
        .len();
    let mut objects: Vec<(String, Vec<String>)> = Vec::new();
    for (di, d) in full["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .enumerate()
    {
        for (key, v) in d["data"].as_object().into_iter().flatten() {
            let at = format!("/domains/{di}/data/{key}");
            match v {
                serde_json::Value::Array(items) => {
                    for (oi, o) in items.iter().enumerate() {
                        let keys = o.as_object().map(|o| o.keys().cloned().collect());
                        objects.push((format!("{at}/{oi}"), keys.unwrap_or_default()));
                    }
                }
                serde_json::Value::Object(o) => objects.push((at, o.keys().cloned().collect())),
                _ => {}
            }
        }
    }
    let mut tried = 0;
    for (at, keys) in &objects {
        for key in keys {
            let mut v = full.clone();
            if let Some(o) = v.pointer_mut(at).and_then(serde_json::Value::as_object_mut) {
                o.remove(key);
            }
            tried += 1;
            let Ok(imp) = falcone::import(&v) else {
                continue;
            };
            let named = imp.issues.iter().any(|i| {
                i.path
                    .as_deref()
                    .is_some_and(|p| p == at || p.starts_with(&format!("{at}/")))
            });
            let kept = imp.manifest.resources.len() >= carried;
            assert!(
                named || kept,
                "{fixture}: {at} without `{key}` is lost in silence"
            );
        }
    }
    assert!(tried > 60, "{tried} members tried");
}
