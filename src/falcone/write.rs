//! Writing artifacts of the platform: format "1.0.0" in the collector dialect (what the platform's own
//! export writes), from falconer's resources.
//!
//! Each domain section carries the dialect's `data`, for the platform's tools, and `_falconer`: the domain's
//! falconer document (a JSON manifest), holding what the dialect has no place for (check constraints,
//! foreign keys, policies, PostgreSQL roles, secrets' shape, ...). The platform ignores keys that start with
//! `_`. falconer reads `_falconer` back only while the section's `data` is still what falconer writes from
//! it: an edited `data` is read instead, with a warning, never silently ignored.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{CURRENT_VERSION, DomainStatus, SCHEMA_CHECKSUM_1_0_0};
use crate::domains::{Spec, functions as fnd, iam, kafka, mongo, postgres as pg, storage};
use crate::manifest::{self, Format, LoadOptions};
use crate::model::secret::REDACTED as MARKER;
use crate::model::{Domain, Tenant};

/// The section key of falconer's own copy of a domain.
pub const OVERLAY: &str = "_falconer";

/// One domain of an artifact to write.
pub struct Section {
    pub domain: Domain,
    pub status: DomainStatus,
    pub exported_at: String,
    /// The system's error or why the domain was not available.
    pub message: Option<String>,
    /// The domain's resources (for `ok` and `empty`).
    pub resources: Vec<Spec>,
    /// The falconer document holding them.
    pub document: Option<Value>,
}

/// The tenant and resources of a falconer document (a JSON manifest), with every check `validate` makes
/// (references may be to live objects).
pub fn read_document(doc: &Value) -> Result<(Tenant, Vec<Spec>), String> {
    let text = serde_json::to_string(doc).unwrap_or_default();
    let opts = LoadOptions {
        external_refs: true,
        ..LoadOptions::default()
    };
    let mut loaded = manifest::load_str(OVERLAY, &text, Format::Json, opts);
    let Some(m) = loaded.manifest.take() else {
        return Err(format!(
            "it does not load ({})",
            loaded.messages().trim().replace('\n', "; ")
        ));
    };
    Ok((m.tenant, m.resources.into_iter().map(|r| r.spec).collect()))
}

/// An artifact of format "1.0.0": the envelope and one section per domain the platform exports.
pub fn artifact(
    tenant: &Tenant,
    exported_at: &str,
    correlation_id: &str,
    sections: &[Section],
) -> Value {
    let domains: Vec<Value> = sections.iter().filter_map(|s| section(tenant, s)).collect();
    json!({
        "export_timestamp": exported_at,
        "tenant_id": tenant.id,
        "format_version": CURRENT_VERSION,
        "deployment_profile": "standard",
        "correlation_id": correlation_id,
        "schema_checksum": SCHEMA_CHECKSUM_1_0_0,
        "domains": domains,
    })
}

fn section(tenant: &Tenant, s: &Section) -> Option<Value> {
    let key = s.domain.falcone_key()?;
    let status = serde_json::to_value(s.status).unwrap_or_default();
    let mut out = json!({"domain_key": key, "status": status, "exported_at": s.exported_at});
    match s.status {
        DomainStatus::Ok | DomainStatus::Empty => {
            let (data, count) = data(tenant, s.domain, &s.resources);
            out["items_count"] = Value::from(count);
            out["data"] = data;
            if let Some(doc) = &s.document {
                out[OVERLAY] = doc.clone();
            }
        }
        DomainStatus::Error => {
            out["data"] = Value::Null;
            out["error"] = Value::from(s.message.clone().unwrap_or_default());
        }
        DomainStatus::NotAvailable | DomainStatus::NotRequested => {
            out["data"] = Value::Null;
            out["reason"] = Value::from(s.message.clone().unwrap_or_default());
        }
    }
    Some(out)
}

/// A domain's `data` in the collector dialect, and its `items_count` as the platform counts it.
pub fn data(tenant: &Tenant, domain: Domain, specs: &[Spec]) -> (Value, usize) {
    let (data, counted): (Value, &[&str]) = match domain {
        Domain::Iam => (
            iam_data(tenant, specs),
            &[
                "roles",
                "groups",
                "clients",
                "client_scopes",
                "identity_providers",
            ],
        ),
        Domain::Postgres => {
            let d = postgres_data(specs);
            let n = d["schemas"].as_array().map_or(0, |a| {
                a.iter().map(|s| len(&s["tables"]) + len(&s["views"])).sum()
            });
            return (d, n);
        }
        Domain::Mongo => {
            let d = mongo_data(specs);
            let n = d["databases"]
                .as_array()
                .map_or(0, |a| a.iter().map(|db| len(&db["collections"])).sum());
            return (d, n);
        }
        Domain::Kafka => (kafka_data(specs), &["topics", "acls", "consumer_groups"]),
        Domain::Functions => (
            functions_data(tenant, specs),
            &["actions", "packages", "triggers", "rules"],
        ),
        Domain::Storage => (storage_data(specs), &["buckets"]),
        #[allow(unreachable_patterns)]
        _ => (json!({}), &[]),
    };
    let n = counted.iter().map(|k| len(&data[*k])).sum();
    (data, n)
}

fn len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

// ------------------------------------------------------------------------------------------------ iam

/// A model value as Keycloak represents it: camelCase keys (map-valued fields keep their keys), no
/// `depends_on`.
fn kc(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| k != "depends_on")
                .map(|(k, x)| {
                    let raw = super::RAW_MAPS.contains(&k.as_str());
                    let key = match k.as_str() {
                        "protocol_mapper" => "protocolMappers".to_string(),
                        "smtp" => "smtpServer".to_string(),
                        "realm_roles" => "realmRoles".to_string(),
                        other => iam::rep::camel(other),
                    };
                    (key, if raw { x } else { kc(x) })
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(kc).collect()),
        other => other,
    }
}

fn iam_data(tenant: &Tenant, specs: &[Spec]) -> Value {
    let mut d = Map::new();
    let mut realm = tenant.realm();
    let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for s in specs {
        let key = match s {
            Spec::IamRealm(r) => {
                realm = r.name.clone();
                let mut v = kc(s.to_json());
                if let Some(o) = v.as_object_mut() {
                    o.remove("name");
                }
                d.insert("realm_settings".into(), v);
                continue;
            }
            Spec::IamRole(_) => "roles",
            Spec::IamGroup(g) => {
                let mut v = kc(s.to_json());
                if let Some(o) = v.as_object_mut() {
                    o.remove("parent");
                    o.insert("path".into(), Value::from(format!("/{}", g.path())));
                }
                lists.entry("groups").or_default().push(v);
                continue;
            }
            Spec::IamClient(_) => "clients",
            Spec::IamClientScope(_) => "client_scopes",
            Spec::IamIdentityProvider(_) => "identity_providers",
            _ => continue,
        };
        lists.entry(key).or_default().push(kc(s.to_json()));
    }
    let mut out = Map::new();
    out.insert("realm".into(), Value::from(realm));
    out.extend(d);
    for key in [
        "roles",
        "groups",
        "clients",
        "client_scopes",
        "identity_providers",
    ] {
        out.insert(
            key.into(),
            Value::Array(lists.remove(key).unwrap_or_default()),
        );
    }
    Value::Object(out)
}

// ------------------------------------------------------------------------------------------- postgres

/// One schema's entry of the collector's `schemas` list.
#[derive(Default)]
struct PgSchema {
    owner: Option<String>,
    tables: Vec<Value>,
    views: Vec<Value>,
    grants: Vec<Value>,
}

fn postgres_data(specs: &[Spec]) -> Value {
    let mut schemas: BTreeMap<String, PgSchema> = BTreeMap::new();
    let mut extensions = Vec::new();
    let indexes = |schema: &str, table: &str| -> Vec<Value> {
        specs
            .iter()
            .filter_map(|s| match s {
                Spec::PgIndex(i) if i.schema == schema && i.table == table => {
                    Some(json!({"indexname": i.name, "indexdef": pg::ddl::indexdef(i)}))
                }
                _ => None,
            })
            .collect()
    };
    for s in specs {
        match s {
            Spec::PgSchema(x) => schemas.entry(x.name.clone()).or_default().owner = x.owner.clone(),
            Spec::PgTable(t) => {
                let mut v = pg_table(t);
                v["indexes"] = Value::Array(indexes(&t.schema, &t.name));
                schemas.entry(t.schema.clone()).or_default().tables.push(v);
            }
            Spec::PgView(v) => schemas.entry(v.schema.clone()).or_default().views.push(
                json!({"table_name": v.name, "view_definition": v.query}),
            ),
            Spec::PgGrant(g) => schemas.entry(g.schema.clone()).or_default().grants.extend(
                g.privileges.iter().map(|p| {
                    json!({"grantee": g.grantee, "table_name": g.object, "privilege_type": privilege(p)})
                }),
            ),
            Spec::PgExtension(e) => extensions.push(json!({"extname": e.name, "extversion": e.version})),
            _ => {}
        }
    }
    let list: Vec<Value> = schemas
        .into_iter()
        .map(|(name, s)| {
            json!({"schema_name": name, "owner": s.owner, "tables": s.tables, "views": s.views,
                "extensions": extensions, "grants": s.grants})
        })
        .collect();
    json!({ "schemas": list })
}

/// A privilege as `information_schema` writes it (`SELECT`, `TRUNCATE`, ...).
fn privilege<T: serde::Serialize>(p: &T) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ").to_uppercase()))
        .unwrap_or_default()
}

fn pg_table(t: &pg::Table) -> Value {
    let columns: Vec<Value> = t
        .column
        .iter()
        .map(|c| {
            let nullable = if c.nullable == Some(false) {
                "NO"
            } else {
                "YES"
            };
            json!({"column_name": c.name, "data_type": c.ty, "is_nullable": nullable,
                "column_default": c.default})
        })
        .collect();
    let mut constraints = Vec::new();
    if let Some(pk) = &t.primary_key {
        let name = pk
            .name
            .clone()
            .unwrap_or_else(|| format!("{}_pkey", t.name));
        for c in &pk.columns {
            constraints.push(json!({"constraint_name": name, "constraint_type": "PRIMARY KEY", "column_name": c}));
        }
    }
    for u in &t.unique {
        let name = u
            .name
            .clone()
            .unwrap_or_else(|| format!("{}_{}_key", t.name, u.columns.join("_")));
        for c in &u.columns {
            constraints.push(
                json!({"constraint_name": name, "constraint_type": "UNIQUE", "column_name": c}),
            );
        }
    }
    json!({"table_name": t.name, "columns": columns, "constraints": constraints})
}

// ---------------------------------------------------------------------------------------------- mongo

fn mongo_data(specs: &[Spec]) -> Value {
    let mut dbs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in specs {
        match s {
            Spec::MongoDatabase(d) => {
                dbs.entry(d.name.clone()).or_default();
            }
            Spec::MongoCollection(c) => {
                let indexes: Vec<Value> = specs
                    .iter()
                    .filter_map(|s| match s {
                        Spec::MongoIndex(i)
                            if i.database == c.database && i.collection == c.name =>
                        {
                            Some(mongo_index(i))
                        }
                        _ => None,
                    })
                    .collect();
                let mut implicit = vec![json!({"v": 2, "key": {"_id": 1}, "name": "_id_"})];
                if c.view_on.is_some() {
                    implicit.clear();
                }
                implicit.extend(indexes);
                let options = collection_options(c);
                dbs.entry(c.database.clone()).or_default().push(json!({
                    "collection_name": c.name,
                    "options": options,
                    "validator": c.validator,
                    "indexes": implicit,
                }));
            }
            _ => {}
        }
    }
    let list: Vec<Value> = dbs
        .into_iter()
        .map(|(name, collections)| json!({"db_name": name, "collections": collections, "sharding": null}))
        .collect();
    json!({ "databases": list })
}

fn collection_options(c: &mongo::Collection) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            o.insert(k.into(), v);
        }
    };
    put("validator", c.validator.clone().unwrap_or_default());
    put(
        "validationLevel",
        serde_json::to_value(c.validation_level).unwrap_or_default(),
    );
    put(
        "validationAction",
        serde_json::to_value(c.validation_action).unwrap_or_default(),
    );
    if let Some(cap) = &c.capped {
        put("capped", Value::Bool(true));
        put("size", Value::from(cap.size));
        put("max", cap.max.map(Value::from).unwrap_or_default());
    }
    put("collation", c.collation.clone().unwrap_or_default());
    put(
        "viewOn",
        c.view_on.clone().map(Value::from).unwrap_or_default(),
    );
    if !c.pipeline.is_empty() {
        put("pipeline", Value::Array(c.pipeline.clone()));
    }
    Value::Object(o)
}

fn mongo_index(i: &mongo::Index) -> Value {
    let key: Map<String, Value> = i
        .key
        .iter()
        .map(|k| (k.field.clone(), k.order.to_json()))
        .collect();
    let mut v = json!({"v": 2, "key": key});
    let mut put = |k: &str, x: Option<Value>| {
        if let Some(x) = x {
            v[k] = x;
        }
    };
    put("name", i.name.clone().map(Value::from));
    put("unique", i.unique.map(Value::from));
    put("sparse", i.sparse.map(Value::from));
    put(
        "partialFilterExpression",
        i.partial_filter_expression.clone(),
    );
    put(
        "expireAfterSeconds",
        i.expire_after_seconds.map(Value::from),
    );
    put("collation", i.collation.clone());
    put("hidden", i.hidden.map(Value::from));
    v
}

// ---------------------------------------------------------------------------------------------- kafka

/// A model enum as kafkajs names it (`DESCRIBE_CONFIGS`).
fn kafkajs<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .map(Value::from)
        .unwrap_or_default()
}

fn kafka_data(specs: &[Spec]) -> Value {
    let mut topics = Vec::new();
    let mut acls = Vec::new();
    for s in specs {
        match s {
            Spec::KafkaTopic(t) => {
                let mut v = json!({"name": t.name, "partitions": t.partitions});
                if let Some(rf) = t.replication_factor {
                    v["replication_factor"] = Value::from(rf);
                }
                let config: Map<String, Value> = t
                    .config
                    .iter()
                    .map(|(k, c)| (k.clone(), Value::from(c.0.clone())))
                    .collect();
                v["config_overrides"] = Value::Object(config);
                topics.push(v);
            }
            Spec::KafkaAcl(a) => acls.push(kafka_acl(a)),
            _ => {}
        }
    }
    json!({"topics": topics, "acls": acls, "consumer_groups": []})
}

fn kafka_acl(a: &kafka::Acl) -> Value {
    let mut v = json!({
        "resource": a.resource_name,
        "resourceType": kafkajs(&a.resource_type),
        "principal": a.principal,
        "host": a.host.clone().unwrap_or_else(|| "*".into()),
        "operation": kafkajs(&a.operation),
        "permissionType": kafkajs(&a.permission),
    });
    if let Some(p) = a.pattern_type {
        v["resourcePatternType"] = kafkajs(&p);
    }
    if a.host.is_none() {
        v.as_object_mut().map(|o| o.remove("host"));
    }
    v
}

// ------------------------------------------------------------------------------------------ functions

fn functions_data(tenant: &Tenant, specs: &[Spec]) -> Value {
    let ns = tenant.functions_namespace();
    let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for s in specs {
        let (key, v) = match s {
            Spec::FnAction(a) => ("actions", ow_action(a, &ns)),
            Spec::FnPackage(p) => {
                let binding = p
                    .binding
                    .as_ref()
                    .map(|b| json!({"namespace": b.namespace, "name": b.name}))
                    .unwrap_or_else(|| json!({}));
                let mut v = ow_entity(&p.name, &ns, &p.parameter, &p.annotations);
                v["binding"] = binding;
                if let Some(publish) = p.publish {
                    v["publish"] = Value::Bool(publish);
                }
                ("packages", v)
            }
            Spec::FnTrigger(t) => {
                let mut annotations = t.annotations.clone();
                if let Some(feed) = &t.feed {
                    annotations.insert("feed".into(), Value::from(feed.clone()));
                }
                (
                    "triggers",
                    ow_entity(&t.name, &ns, &t.parameter, &annotations),
                )
            }
            Spec::FnRule(r) => {
                let entity = |path: &str| {
                    let (dir, name) = path
                        .rsplit_once('/')
                        .map_or((ns.clone(), path), |(d, n)| (format!("{ns}/{d}"), n));
                    json!({"path": dir, "name": name})
                };
                let mut v = json!({"name": r.name, "namespace": ns, "trigger": entity(&r.trigger),
                    "action": entity(&r.action)});
                if let Some(st) = r.status {
                    v["status"] = serde_json::to_value(st).unwrap_or_default();
                }
                ("rules", v)
            }
            _ => continue,
        };
        lists.entry(key).or_default().push(v);
    }
    let mut out = json!({"namespace": ns});
    for key in ["actions", "packages", "triggers", "rules"] {
        out[key] = Value::Array(lists.remove(key).unwrap_or_default());
    }
    out
}

/// The fields every OpenWhisk entity has: name, namespace, parameters (secrets redacted), annotations.
fn ow_entity(
    name: &str,
    ns: &str,
    params: &[fnd::Parameter],
    annotations: &BTreeMap<String, Value>,
) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| match &p.secret {
            Some(_) => json!({"key": p.key, "value": MARKER, "encrypt": true}),
            None => json!({"key": p.key, "value": p.value.clone().unwrap_or_default()}),
        })
        .collect();
    let annotations: Vec<Value> = annotations
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    json!({"name": name, "namespace": ns, "parameters": parameters, "annotations": annotations})
}

fn ow_action(a: &fnd::Action, ns: &str) -> Value {
    let namespace = match &a.package {
        Some(p) => format!("{ns}/{p}"),
        None => ns.to_string(),
    };
    let mut v = ow_entity(&a.name, &namespace, &a.parameter, &a.annotations);
    v["kind"] = Value::from(a.kind.clone());
    let limits = a
        .limits
        .as_ref()
        .and_then(|l| serde_json::to_value(l).ok())
        .unwrap_or_else(|| json!({}));
    v["limits"] = limits;
    let code = match &a.code {
        Some(fnd::Code::Inline(text)) => {
            Some(base64::engine::general_purpose::STANDARD.encode(text))
        }
        Some(fnd::Code::Base64(b64)) => Some(b64.clone()),
        Some(fnd::Code::File(_)) | None => None,
    };
    v["code_available"] = Value::Bool(code.is_some());
    v["code_base64"] = code.map(Value::from).unwrap_or_default();
    v
}

// -------------------------------------------------------------------------------------------- storage

/// A model value in the AWS API's shape: PascalCase keys (`ID` for `id`).
fn aws(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| {
                    let key = match k.as_str() {
                        "id" => "ID".to_string(),
                        "transition" => "Transitions".to_string(),
                        "noncurrent_version_transition" => {
                            "NoncurrentVersionTransitions".to_string()
                        }
                        other => pascal(other),
                    };
                    (key, aws(x))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(aws).collect()),
        other => other,
    }
}

fn pascal(s: &str) -> String {
    s.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// An enum value as AWS writes it (`Enabled`).
fn aws_word<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(pascal))
        .map(Value::from)
        .unwrap_or_default()
}

fn storage_data(specs: &[Spec]) -> Value {
    let buckets: Vec<Value> = specs
        .iter()
        .filter_map(|s| match s {
            Spec::StorageBucket(b) => Some(bucket(b)),
            _ => None,
        })
        .collect();
    json!({ "buckets": buckets })
}

fn bucket(b: &storage::Bucket) -> Value {
    let versioning = b
        .versioning
        .map(|v| aws_word(&v))
        .unwrap_or_else(|| Value::from("Disabled"));
    let rules: Vec<Value> = b
        .lifecycle_rule
        .iter()
        .map(|r| {
            let mut v = aws(serde_json::to_value(r).unwrap_or_default());
            if let Some(st) = r.status {
                v["Status"] = aws_word(&st);
            }
            v
        })
        .collect();
    let cors: Vec<Value> = b
        .cors_rule
        .iter()
        .map(|r| aws(serde_json::to_value(r).unwrap_or_default()))
        .collect();
    json!({"name": b.name, "region": null, "versioning": versioning, "lifecycle_rules": rules,
        "bucket_policy": b.policy, "cors_rules": cors})
}
