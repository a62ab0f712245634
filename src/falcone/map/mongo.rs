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
        self.dbs.push(name.to_string());
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
        self.leftover(
            o,
            p,
            &[
                "validator",
                "validationLevel",
                "validationAction",
                "capped",
                "size",
                "max",
                "collation",
                "viewOn",
                "pipeline",
                "uuid",
            ],
        );
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
        mongo::Collection {
            name: name.to_string(),
            database: db.to_string(),
            validator: o.get("validator").filter(|v| !v.is_null()).cloned(),
            validation_level: level,
            validation_action: action,
            capped,
            collation: o.get("collation").filter(|v| !v.is_null()).cloned(),
            view_on: s(o.get("viewOn")),
            pipeline: arr(o.get("pipeline")).to_vec(),
            depends_on: Vec::new(),
        }
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
