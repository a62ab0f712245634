//! MongoDB: databases, collections (validators, validation level/action, capped, collation, views) and
//! indexes (unique, compound, partial, TTL, sparse). Never documents.
//!
//! The live side (inspection, apply) is in `inspect.rs`, `apply.rs` and `provider.rs`; `bson.rs` converts
//! between the model's JSON and BSON.

pub mod apply;
pub mod bson;
pub mod inspect;
pub mod inventory;
pub mod options;
pub mod principals;
pub mod principals_live;
pub mod provider;
mod tls;

/// The domain's live system, for the registry ([`crate::for_each_domain`]).
pub type Provider = provider::Mongo;


use crate::diag::Rule;
use super::ResourceKind;
use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{Checker, Reference};
use crate::model::flags::*;
use crate::model::{Address, Domain, FieldMeta, Hazard, HazardCode, KindMeta, Tenant};
use crate::{choice, kind_basics, model};
use crate::model::Scope;

/// The tenant's databases.
pub static DATABASE_SCOPE: Scope = Scope {
    name: "mongo_database",
    key: "mongo_databases",
    many: true,
    prefix: false,
    default: crate::model::tenant::underscored,
    doc: "MongoDB databases. Default: the id with `-` turned into `_`.",
};

/// The scopes of MongoDB's objects (the registry's `domains::scopes`).
pub static SCOPES: &[&Scope] = &[&DATABASE_SCOPE];

choice! { "lowercase";
    pub enum ValidationLevel { Off, Strict, Moderate }
    pub enum ValidationAction { Error, Warn }
}

/// The direction or type of one index key: `1`, `-1`, `"text"`, `"2dsphere"`, `"2d"`, `"hashed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexDirection {
    Asc,
    Desc,
    Text,
    Sphere2d,
    Flat2d,
    Hashed,
}

impl IndexDirection {
    /// The suffix MongoDB uses in default index names.
    pub fn name_part(self) -> &'static str {
        match self {
            IndexDirection::Asc => "1",
            IndexDirection::Desc => "-1",
            IndexDirection::Text => "text",
            IndexDirection::Sphere2d => "2dsphere",
            IndexDirection::Flat2d => "2d",
            IndexDirection::Hashed => "hashed",
        }
    }

    pub fn to_json(self) -> Value {
        match self {
            IndexDirection::Asc => Value::from(1),
            IndexDirection::Desc => Value::from(-1),
            other => Value::from(other.name_part()),
        }
    }

    /// Reads a key direction as MongoDB stores it (numbers of any type compare by value).
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => match n.as_f64() {
                Some(x) if x > 0.0 => Some(IndexDirection::Asc),
                Some(x) if x < 0.0 => Some(IndexDirection::Desc),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "text" => Some(IndexDirection::Text),
                "2dsphere" => Some(IndexDirection::Sphere2d),
                "2d" => Some(IndexDirection::Flat2d),
                "hashed" => Some(IndexDirection::Hashed),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Serialize for IndexDirection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IndexDirection::Asc => s.serialize_i64(1),
            IndexDirection::Desc => s.serialize_i64(-1),
            other => s.serialize_str(other.name_part()),
        }
    }
}

impl<'de> Deserialize<'de> for IndexDirection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IndexDirection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("1, -1, \"text\", \"2dsphere\", \"2d\" or \"hashed\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IndexDirection, E> {
                match v {
                    1 => Ok(IndexDirection::Asc),
                    -1 => Ok(IndexDirection::Desc),
                    _ => Err(E::custom(format!("index order {v} is not 1 or -1"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IndexDirection, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(0))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<IndexDirection, E> {
                if v == 1.0 {
                    Ok(IndexDirection::Asc)
                } else if v == -1.0 {
                    Ok(IndexDirection::Desc)
                } else {
                    Err(E::custom(format!("index order {v} is not 1 or -1")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IndexDirection, E> {
                IndexDirection::from_json(&Value::from(v)).ok_or_else(|| {
                    E::unknown_variant(v, &["1", "-1", "text", "2dsphere", "2d", "hashed"])
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for IndexDirection {
    fn schema_name() -> Cow<'static, str> {
        "MongoIndexDirection".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "oneOf": [ { "enum": [1, -1] }, { "enum": ["text", "2dsphere", "2d", "hashed"] } ] })
    }
}

/// The options of a collection (`listCollections`, an artifact's collection) that the collection kind reads.
pub const COLLECTION_OPTIONS: &[&str] = &[
    "validator",
    "validationLevel",
    "validationAction",
    "capped",
    "size",
    "max",
    "collation",
    "viewOn",
    "pipeline",
    "timeseries",
    "expireAfterSeconds",
    "clusteredIndex",
    "changeStreamPreAndPostImages",
];

model! {
    /// A database of the tenant.
    pub struct Database {
        pub name: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A collection (or a view, with `view_on` and `pipeline`).
    pub struct Collection {
        pub name: String,
        pub database: String,
        /// A validator document, e.g. `{ "$jsonSchema": { ... } }`.
        pub validator: Option<Value>,
        /// Default: strict.
        pub validation_level: Option<ValidationLevel>,
        /// Default: error.
        pub validation_action: Option<ValidationAction>,
        pub capped: Option<Capped>,
        /// Default collation document, e.g. `{ locale = "en", strength = 2 }`.
        pub collation: Option<Value>,
        /// Makes this a view on another collection of the same database.
        pub view_on: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub pipeline: Vec<Value>,
        /// A time-series collection: `{ time_field = "at", meta_field = "sensor", granularity = "minutes" }`.
        pub timeseries: Option<options::Timeseries>,
        /// Documents expire this many seconds after their time (time series) or `_id` date (clustered).
        pub expire_after_seconds: Option<u32>,
        /// Documents stored in `_id` order (a clustered collection; set at creation).
        pub clustered: Option<bool>,
        /// Change streams see each document as it was before and after a change.
        pub change_stream_pre_and_post_images: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    pub struct Capped {
        /// Maximum size in bytes.
        pub size: u64,
        /// Maximum number of documents.
        pub max: Option<u64>,
    }

    /// An index (the implicit `_id_` index is never managed).
    pub struct Index {
        /// Default: derived from the keys as MongoDB does (`status_1_created_at_-1`).
        pub name: Option<String>,
        pub database: String,
        pub collection: String,
        /// The keys, in order (order matters: `{a:1,b:-1}` is not `{b:-1,a:1}`).
        pub key: Vec<IndexField>,
        pub unique: Option<bool>,
        pub sparse: Option<bool>,
        pub partial_filter_expression: Option<Value>,
        /// TTL: documents expire this many seconds after the indexed date.
        pub expire_after_seconds: Option<i64>,
        pub collation: Option<Value>,
        pub hidden: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    pub struct IndexField {
        pub field: String,
        pub order: IndexDirection,
    }
}

/// Numbers compare by value, as MongoDB compares them: an integral double (`1.0`) becomes an integer, so
/// that `1`, `1.0` and an `Int64` 1 are the same value.
pub fn numbers_by_value(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(x) = n.as_f64()
                && x.fract() == 0.0
                && x.abs() < 9_007_199_254_740_992.0
            {
                *v = Value::from(x as i64);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(numbers_by_value),
        Value::Object(m) => m.values_mut().for_each(numbers_by_value),
        _ => {}
    }
}

/// The collation options every locale has by default (and `version`, which the server adds): a collation
/// is compared without them, so `{ locale = "en" }` equals the fully spelled-out form a server returns.
fn collation_default(k: &str, v: &Value) -> bool {
    match k {
        "version" => true,
        "caseLevel" | "numericOrdering" | "normalization" | "backwards" => v == &Value::Bool(false),
        "caseFirst" => v == "off",
        "strength" => v.as_f64() == Some(3.0),
        "alternate" => v == "non-ignorable",
        "maxVariable" => v == "punct",
        _ => false,
    }
}

/// A collation without its default options, numbers by value.
pub fn normalize_collation(c: &mut Option<Value>) {
    if let Some(Value::Object(m)) = c {
        m.retain(|k, v| !collation_default(k, v));
    }
    if let Some(v) = c {
        numbers_by_value(v);
    }
}

/// `Some(false)` of an option that is off by default is no option at all.
fn off_is_none(b: &mut Option<bool>) {
    if *b == Some(false) {
        *b = None;
    }
}

impl Index {
    /// The name MongoDB gives an index with these keys.
    pub fn default_name(keys: &[IndexField]) -> String {
        keys.iter()
            .map(|k| format!("{}_{}", k.field, k.order.name_part()))
            .collect::<Vec<_>>()
            .join("_")
    }

    /// Whether going from `live` to this index is a `collMod` (only the TTL or `hidden` differ, and a TTL
    /// is not taken off), not a rebuild.
    pub fn changes_in_place(&self, live: &Index) -> bool {
        self.key == live.key
            && self.unique == live.unique
            && self.sparse == live.sparse
            && self.partial_filter_expression == live.partial_filter_expression
            && self.collation == live.collation
            && !(self.expire_after_seconds.is_none() && live.expire_after_seconds.is_some())
    }

    pub fn effective_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| Index::default_name(&self.key))
    }
}

/// Checks a database name (MongoDB's rules on Linux, and its 63-byte limit).
pub fn database_name_rule(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 63 {
        return Err(format!("it is {} bytes long; the limit is 63", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'))
    {
        return Err(format!("{c:?} is not allowed in a database name"));
    }
    Ok(())
}

/// Checks a collection name.
pub fn collection_name_rule(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.contains('$') || name.contains('\0') {
        return Err("`$` and NUL are not allowed in a collection name".into());
    }
    if name.starts_with("system.") {
        return Err("the `system.` prefix is reserved by MongoDB".into());
    }
    Ok(())
}

/// Query operators MongoDB refuses inside a validator.
const VALIDATOR_FORBIDDEN: &[&str] = &["$near", "$nearSphere", "$text", "$where"];

fn find_operator<'a>(v: &'a Value, ops: &[&str]) -> Option<&'a str> {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if ops.contains(&k.as_str()) {
                    return Some(k);
                }
                if let Some(f) = find_operator(x, ops) {
                    return Some(f);
                }
            }
            None
        }
        Value::Array(a) => a.iter().find_map(|x| find_operator(x, ops)),
        _ => None,
    }
}

/// The rules MongoDB holds databases, collections and indexes to (the table in docs/mongo.md).
pub const RULES: &[Rule] = &[NAMES, COLLECTION_RULE, INDEX_OPTIONS, options::OPTIONS_RULE, principals::PRINCIPALS];

const NAMES: Rule = Rule {
    id: "mongo-name",
    says: "database and collection names MongoDB accepts (no `/\\. \"$` in a database name, at most 63 \
           bytes; no `$` or `system.` in a collection name), a namespace of at most 255 bytes",
    source: "MongoDB Manual, MongoDB Limits and Thresholds: Naming Restrictions",
    breaks: "[[mongo.database]]\nname = \"acme.x\"\n",
};
const COLLECTION_RULE: Rule = Rule {
    id: "mongo-collection",
    says: "a validator is a document without `$where`, `$near`, `$nearSphere` or `$text`; a \
           capped collection has a size; a collation has a locale; a view has a pipeline source and no \
           validator or cap",
    source: "MongoDB Manual, create command (validator, capped, collation, viewOn, pipeline)",
    breaks: "[[mongo.collection]]\nname = \"orders\"\ndatabase = \"acme\"\ncapped = { size = 0 }\n",
};
const INDEX_OPTIONS: Rule = Rule {
    id: "mongo-index",
    says: "an index has keys, and options that go together (a hashed index is not unique, sparse or partial \
           not both, a TTL on one field)",
    source: "MongoDB Manual, createIndexes command and Index Properties",
    breaks: "[[mongo.index]]\nname = \"by_id\"\ndatabase = \"acme\"\ncollection = \"orders\"\n\
             key = [{ field = \"id\", order = \"hashed\" }]\nunique = true\n",
};

fn db_scope(cx: &mut Checker<'_>, db: &str) {
    cx.under(&NAMES, |cx| cx.name("database", db, database_name_rule));
    let dbs = cx.tenant.names(&DATABASE_SCOPE);
    cx.scope("database", "database", db, &dbs, false);
}

static DATABASE: KindMeta = KindMeta {
    domain: Domain::Mongo,
    kind: "database",
    title: "MongoDB database",
    identity: &["name"],
    holds_data: true,
    fields: &[FieldMeta::new("depends_on", SET)],
};

/// Whether a database is one of the tenant's.
fn db_in_scope(db: &str, tenant: &Tenant) -> bool {
    tenant.names(&DATABASE_SCOPE).iter().any(|d| d == db)
}

impl ResourceKind for Database {
    kind_basics!(DATABASE, |self| { vec![self.name.clone()] });
    fn in_scope(&self, tenant: &Tenant) -> bool {
        db_in_scope(&self.name, tenant)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&NAMES, |cx| cx.name("name", &self.name, database_name_rule));
        let dbs = cx.tenant.names(&DATABASE_SCOPE);
        cx.scope("name", "database", &self.name, &dbs, false);
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&DATABASE_SCOPE, &mut self.name);
    }
}

static COLLECTION: KindMeta = KindMeta {
    domain: Domain::Mongo,
    kind: "collection",
    title: "MongoDB collection",
    identity: &["database", "name"],
    holds_data: true,
    fields: &[
        FieldMeta::new("validator", FREEFORM),
        FieldMeta::new("validation_level", SERVER_DEFAULT),
        FieldMeta::new("validation_action", SERVER_DEFAULT),
        FieldMeta::new("capped", IMMUTABLE),
        FieldMeta::new("collation", IMMUTABLE | FREEFORM),
        FieldMeta::new("view_on", IMMUTABLE),
        FieldMeta::new("pipeline", FREEFORM),
        FieldMeta::new("pipeline[]", FREEFORM),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Collection {
    kind_basics!(COLLECTION, |self| { vec![self.database.clone(), self.name.clone()] });
    fn normalize(&mut self) {
        if let Some(v) = &mut self.validator {
            numbers_by_value(v);
        }
        self.pipeline.iter_mut().for_each(numbers_by_value);
        normalize_collation(&mut self.collation);
        if let Some(c) = &mut self.capped
            && c.max == Some(0)
        {
            c.max = None;
        }
        if let Some(t) = &mut self.timeseries {
            options::normalize(t);
        }
        for flag in [&mut self.clustered, &mut self.change_stream_pre_and_post_images] {
            if *flag == Some(false) {
                *flag = None;
            }
        }
    }
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        options::hazards(self, live)
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let mut r = vec![Reference::soft(
            "database",
            Address::new(Domain::Mongo, "database", vec![self.database.clone()]),
        )];
        if let Some(src) = &self.view_on {
            r.push(Reference::to(
                "view_on",
                Address::new(
                    Domain::Mongo,
                    "collection",
                    vec![self.database.clone(), src.clone()],
                ),
            ));
        }
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        db_in_scope(&self.database, tenant)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&NAMES, |cx| cx.name("name", &self.name, collection_name_rule));
        db_scope(cx, &self.database);
        let ns = self.database.len() + 1 + self.name.len();
        if ns > 255 {
            cx.rule(
                "name",
                &NAMES,
                format!(
                    "the namespace `{}.{}` is {ns} bytes; MongoDB allows 255",
                    self.database, self.name
                ),
            );
        }
        cx.under(&COLLECTION_RULE, |cx| {
        if let Some(v) = &self.validator {
            if !v.is_object() {
                cx.error(
                    "validator",
                    "invalid-value",
                    "a validator is a document (a table)",
                );
            } else if let Some(op) = find_operator(v, VALIDATOR_FORBIDDEN) {
                cx.error(
                    "validator",
                    "invalid-value",
                    format!("MongoDB does not allow `{op}` in a validator"),
                );
            } else if let Some(js) = v.get("$jsonSchema")
                && !js.is_object()
            {
                cx.error(
                    "validator",
                    "invalid-value",
                    "`$jsonSchema` must be a document",
                );
            }
        }
        if let Some(c) = &self.capped
            && c.size == 0
        {
            cx.error(
                "capped.size",
                "invalid-value",
                "a capped collection needs a size greater than 0",
            );
        }
        if let Some(c) = &self.collation
            && c.get("locale").and_then(Value::as_str).is_none()
        {
            cx.error("collation", "invalid-value", "a collation needs a `locale`");
        }
        if self.view_on.is_some() {
            if self.validator.is_some() || self.capped.is_some() {
                cx.error(
                    "view_on",
                    "conflict",
                    "a view has no validator and is not capped",
                );
            }
        } else if !self.pipeline.is_empty() {
            cx.error("pipeline", "conflict", "a pipeline needs `view_on`");
        }
        });
        options::check(self, cx);
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&DATABASE_SCOPE, &mut self.database);
    }
}

static INDEX: KindMeta = KindMeta {
    domain: Domain::Mongo,
    kind: "index",
    title: "MongoDB index",
    identity: &["database", "collection", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("key", IMMUTABLE),
        FieldMeta::new("unique", IMMUTABLE),
        FieldMeta::new("sparse", IMMUTABLE),
        FieldMeta::new("partial_filter_expression", IMMUTABLE | FREEFORM),
        FieldMeta::new("collation", IMMUTABLE | FREEFORM),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Index {
    kind_basics!(INDEX, |self| { vec![
            self.database.clone(),
            self.collection.clone(),
            self.effective_name(),
        ] });
    fn hazards(&self, live: Option<&Self>, cx: &super::HazardCx<'_>) -> Vec<Hazard> {
        if live.is_some_and(|l| self.changes_in_place(l)) {
            // A TTL or hidden change is a collMod: nothing is built.
            return Vec::new();
        }
        let coll = Address::new(Domain::Mongo, "collection", vec![self.database.clone(), self.collection.clone()]);
        if (cx.live)(&coll) {
            vec![Hazard::new(
                HazardCode::LocksTable,
                format!("builds index `{}` on collection {}.{}, which holds an exclusive lock at \
                         its start and end", self.effective_name(), self.database, self.collection),
            )]
        } else {
            Vec::new()
        }
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        vec![Reference::to(
            "collection",
            Address::new(
                Domain::Mongo,
                "collection",
                vec![self.database.clone(), self.collection.clone()],
            ),
        )]
    }
    fn normalize(&mut self) {
        if self.name.is_none() && !self.key.is_empty() {
            self.name = Some(Index::default_name(&self.key));
        }
        off_is_none(&mut self.unique);
        off_is_none(&mut self.sparse);
        off_is_none(&mut self.hidden);
        if let Some(v) = &mut self.partial_filter_expression {
            numbers_by_value(v);
        }
        normalize_collation(&mut self.collation);
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        db_in_scope(&self.database, tenant)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        db_scope(cx, &self.database);
        cx.under(&INDEX_OPTIONS, |cx| {
        if self.key.is_empty() {
            cx.error("key", "empty", "an index needs at least one key");
            return;
        }
        if self.effective_name() == "_id_" || (self.key.len() == 1 && self.key[0].field == "_id") {
            cx.error(
                "key",
                "reserved",
                "the `_id_` index exists on every collection; it is never managed",
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, k) in self.key.iter().enumerate() {
            if k.field.is_empty() || k.field.starts_with('$') {
                cx.error(
                    &format!("key[{i}].field"),
                    "invalid-name",
                    format!("{:?} is not a field to index", k.field),
                );
            }
            if !seen.insert(k.field.as_str()) {
                cx.error(
                    &format!("key[{i}].field"),
                    "duplicate",
                    format!("field `{}` is indexed twice", k.field),
                );
            }
        }
        if self.expire_after_seconds.is_some() {
            if self.key.len() > 1 {
                cx.error(
                    "expire_after_seconds",
                    "conflict",
                    "a TTL index has exactly one key",
                );
            }
            if self.key[0].field == "_id" {
                cx.error(
                    "expire_after_seconds",
                    "conflict",
                    "a TTL index cannot be on `_id`",
                );
            }
            if self.expire_after_seconds.is_some_and(|s| s < 0) {
                cx.error(
                    "expire_after_seconds",
                    "invalid-value",
                    "a TTL is 0 or more seconds",
                );
            }
        }
        if self.sparse == Some(true) && self.partial_filter_expression.is_some() {
            cx.error(
                "partial_filter_expression",
                "conflict",
                "an index is sparse or partial, not both",
            );
        }
        if let Some(p) = &self.partial_filter_expression
            && !p.is_object()
        {
            cx.error(
                "partial_filter_expression",
                "invalid-value",
                "a partial filter expression is a document",
            );
        }
        if self.unique == Some(true) && self.key.iter().any(|k| k.order == IndexDirection::Hashed) {
            cx.error("unique", "conflict", "hashed indexes cannot be unique");
        }
        });
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&DATABASE_SCOPE, &mut self.database);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domains::ResourceKind;
    use serde_json::json;

    fn index(keys: &[(&str, i64)]) -> Index {
        serde_json::from_value(json!({
            "database": "acme", "collection": "events",
            "key": keys.iter().map(|(f, o)| json!({"field": f, "order": o})).collect::<Vec<_>>(),
            "unique": false, "collation": {"locale": "fr", "strength": 2.0, "caseLevel": false, "version": "57.1"},
            "partial_filter_expression": {"n": {"$gt": 1.0}},
        }))
        .expect("an index")
    }

    #[test]
    fn indexes_normalize_as_the_server_stores_them() {
        let mut a = index(&[("a", 1), ("b", -1)]);
        a.normalize();
        assert_eq!(a.name.as_deref(), Some("a_1_b_-1"));
        assert_eq!(a.unique, None);
        assert_eq!(a.collation, Some(json!({"locale": "fr", "strength": 2})));
        assert_eq!(a.partial_filter_expression, Some(json!({"n": {"$gt": 1}})));
        // Key order is part of the index: the reverse is another index.
        let mut b = index(&[("b", -1), ("a", 1)]);
        b.normalize();
        assert_ne!(a.identity(), b.identity());
        assert_ne!(a.key, b.key);
    }

    #[test]
    fn collections_compare_validators_by_value() {
        let mut c: Collection = serde_json::from_value(json!({
            "name": "c", "database": "acme",
            "validator": {"$jsonSchema": {"properties": {"n": {"minimum": 1.0, "maximum": 2.5}}}},
            "capped": {"size": 4096, "max": 0},
        }))
        .expect("a collection");
        c.normalize();
        assert_eq!(
            c.validator,
            Some(json!({"$jsonSchema": {"properties": {"n": {"minimum": 1, "maximum": 2.5}}}}))
        );
        assert_eq!(c.capped.as_ref().and_then(|c| c.max), None);
    }
}
