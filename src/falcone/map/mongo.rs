//! The mongo section of an artifact.

use serde_json::{Map, Value};

use super::*;
use crate::diag::Issue;
use crate::domains::{Spec, mongo};

impl Mapper {
    pub(super) fn mongo(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        if data.contains_key("databases") {
            self.leftover(data, path, &["databases"]);
            for (i, db) in arr(data.get("databases")).iter().enumerate() {
                let p = format!("{path}/databases/{i}");
                let Some(o) = db.as_object() else { continue };
                self.leftover(o, &p, &["db_name", "collections", "sharding"]);
                let Some(name) = s(o.get("db_name")) else {
                    self.issues
                        .push(Issue::error("missing", "a database without `db_name`").path(p));
                    continue;
                };
                self.mongo_db(&name, &p);
                self.sharding(o.get("sharding"), &format!("{p}/sharding"));
                if !o.contains_key("collections") {
                    self.warn(
                        format!("{p}/collections"),
                        "missing",
                        format!("database `{name}` has no `collections` list: its collections are not in this export, and none is restored"),
                    );
                }
                for (j, c) in arr(o.get("collections")).iter().enumerate() {
                    let cp = format!("{p}/collections/{j}");
                    let Some(co) = c.as_object() else { continue };
                    self.leftover(
                        co,
                        &cp,
                        &[
                            "collection_name",
                            "options",
                            "validator",
                            "indexes",
                            "type",
                            "info",
                            "idIndex",
                        ],
                    );
                    let cname = s(co.get("collection_name")).unwrap_or_default();
                    let options = obj(co.get("options")).cloned().unwrap_or_default();
                    let mut coll =
                        self.collection(&name, &cname, &options, &format!("{cp}/options"));
                    if coll.validator.is_none() {
                        coll.validator = co.get("validator").filter(|v| !v.is_null()).cloned();
                    }
                    self.push(Spec::MongoCollection(coll), cp.clone());
                    for (k, ix) in arr(co.get("indexes")).iter().enumerate() {
                        self.mongo_index(&name, &cname, ix, &format!("{cp}/indexes/{k}"));
                    }
                }
            }
            return Dialect::Collector;
        }
        self.leftover(
            data,
            path,
            &["database", "collections", "indexes", "sharding"],
        );
        let name = s(data.get("database")).unwrap_or_else(|| self.tenant.replace('-', "_"));
        self.mongo_db(&name, &format!("{path}/database"));
        self.sharding(data.get("sharding"), &format!("{path}/sharding"));
        for (j, c) in arr(data.get("collections")).iter().enumerate() {
            let cp = format!("{path}/collections/{j}");
            let Some(co) = c.as_object() else { continue };
            self.leftover(co, &cp, &["name", "validator", "options"]);
            let cname = s(co.get("name")).unwrap_or_default();
            let options = obj(co.get("options")).cloned().unwrap_or_default();
            let mut coll = self.collection(&name, &cname, &options, &format!("{cp}/options"));
            if coll.validator.is_none() {
                coll.validator = co.get("validator").filter(|v| !v.is_null()).cloned();
            }
            self.push(Spec::MongoCollection(coll), cp);
        }
        for (k, ix) in arr(data.get("indexes")).iter().enumerate() {
            let coll = s(ix.get("collection")).unwrap_or_default();
            self.mongo_index(&name, &coll, ix, &format!("{path}/indexes/{k}"));
        }
        Dialect::Applier
    }

    pub(super) fn mongo_db(&mut self, name: &str, p: &str) {
        self.in_scope(&crate::domains::mongo::DATABASE_SCOPE, name);
        self.push(
            Spec::MongoDatabase(mongo::Database {
                name: name.to_string(),
                depends_on: Vec::new(),
            }),
            p.to_string(),
        );
    }

    pub(super) fn sharding(&mut self, v: Option<&Value>, p: &str) {
        if v.is_some_and(|v| !v.is_null()) {
            self.warn(
                p,
                "not-applied",
                "`sharding` describes the whole cluster, not the tenant; it is reported, never applied",
            );
        }
    }

    pub(super) fn collection(
        &mut self,
        db: &str,
        name: &str,
        o: &Map<String, Value>,
        p: &str,
    ) -> mongo::Collection {
        // The collection's uuid is the server's, not configuration.
        self.leftover(o, p, &[mongo::COLLECTION_OPTIONS, &["uuid"]].concat());
        let lower = |k: &str| -> Option<Value> {
            o.get(k)
                .and_then(Value::as_str)
                .map(|s| Value::String(s.to_lowercase()))
        };
        let level = lower("validationLevel").and_then(|v| serde_json::from_value(v).ok());
        let action = lower("validationAction").and_then(|v| serde_json::from_value(v).ok());
        let capped = if o.get("capped").and_then(Value::as_bool) == Some(true) {
            Some(mongo::Capped {
                size: o
                    .get("size")
                    .and_then(Value::as_f64)
                    .map(|x| x as u64)
                    .unwrap_or(0),
                max: o.get("max").and_then(Value::as_f64).map(|x| x as u64),
            })
        } else {
            None
        };
        let mut c = mongo::Collection {
            name: name.to_string(),
            database: db.to_string(),
            validator: o.get("validator").filter(|v| !v.is_null()).cloned(),
            validation_level: level,
            validation_action: action,
            capped,
            collation: o.get("collation").filter(|v| !v.is_null()).cloned(),
            view_on: s(o.get("viewOn")),
            pipeline: arr(o.get("pipeline")).to_vec(),
            timeseries: None,
            expire_after_seconds: None,
            clustered: None,
            change_stream_pre_and_post_images: None,
            depends_on: Vec::new(),
        };
        mongo::options::read(&mut c, &mongo::bson::to_document(o));
        c
    }

    pub(super) fn mongo_index(&mut self, db: &str, coll: &str, ix: &Value, p: &str) {
        let Some(o) = ix.as_object() else { return };
        let name = s(o.get("name"));
        if name.as_deref() == Some("_id_") {
            return; // the implicit index of every collection
        }
        self.leftover(
            o,
            p,
            &[
                "v",
                "key",
                "name",
                "ns",
                "collection",
                "unique",
                "sparse",
                "partialFilterExpression",
                "expireAfterSeconds",
                "collation",
                "hidden",
                "background",
            ],
        );
        let mut keys = Vec::new();
        for (field, dir) in obj(o.get("key")).into_iter().flatten() {
            match mongo::IndexDirection::from_json(dir) {
                Some(order) => keys.push(mongo::IndexField {
                    field: field.clone(),
                    order,
                }),
                None => self.issues.push(
                    Issue::error(
                        "invalid-value",
                        format!("index key `{field}` has an unknown direction {dir}"),
                    )
                    .path(format!("{p}/key/{}", escape_pointer(field))),
                ),
            }
        }
        self.push(
            Spec::MongoIndex(mongo::Index {
                name,
                database: db.to_string(),
                collection: coll.to_string(),
                key: keys,
                unique: o.get("unique").and_then(Value::as_bool),
                sparse: o.get("sparse").and_then(Value::as_bool),
                partial_filter_expression: o.get("partialFilterExpression").cloned(),
                expire_after_seconds: o
                    .get("expireAfterSeconds")
                    .and_then(Value::as_f64)
                    .map(|x| x as i64),
                collation: o.get("collation").cloned(),
                hidden: o.get("hidden").and_then(Value::as_bool),
                depends_on: Vec::new(),
            }),
            p.to_string(),
        );
    }
}

/// Writing this domain's section in the export's (collector) dialect, from falconer's resources.
pub(crate) mod write {
    use std::collections::BTreeMap;

    use serde_json::{Map, Value, json};

    use crate::domains::{Spec, mongo};

    pub(crate) fn data(specs: &[Spec]) -> Value {
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
        // Time series, expiry, clustering and pre- and post-images, as `create` takes them and
        // `listCollections` lists them.
        let mut more = mongodb::bson::Document::new();
        mongo::options::create_parts(c, &mut more);
        if let Value::Object(m) = mongo::bson::document_to_json(&more) {
            o.extend(m);
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
}
