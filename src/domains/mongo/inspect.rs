//! Reads a tenant's MongoDB databases: one `listDatabases`, one `listCollections` per database and one
//! `listIndexes` per collection, run concurrently (at most [`PARALLEL`] at a time). Collections and indexes
//! are read with their options as the server stores them, then normalized like desired ones.

use crate::util::Within;
use futures_util::{StreamExt, TryStreamExt};
use mongodb::Client;
use mongodb::bson::{Document, doc};
use serde_json::Value;

use super::bson::int;
use super::bson::{document_to_json, to_json};
use super::{Capped, Collection, Database, Index, IndexDirection, IndexField};
use crate::domains::Spec;
use crate::model::{Address, Domain, Tenant};

/// How many requests inspection and apply have in flight at once.
pub const PARALLEL: usize = 4;

/// Databases every server has; never the tenant's.
const SYSTEM_DATABASES: &[&str] = &["admin", "local", "config"];

/// The databases to read: the tenant's (its naming convention) and those named by `also`.
pub fn wanted(tenant: &Tenant, also: &[Address]) -> Vec<String> {
    let mut dbs = tenant.names(&super::DATABASE_SCOPE);
    for a in also.iter().filter(|a| a.domain == Domain::Mongo) {
        // Every MongoDB address starts with its database.
        if let Some(db) = a.segments.first()
            && !dbs.contains(db)
        {
            dbs.push(db.clone());
        }
    }
    dbs.retain(|d| !SYSTEM_DATABASES.contains(&d.as_str()));
    dbs
}

/// The tenant's MongoDB resources as the server has them, of the server's databases `names`
/// (`listDatabases`).
pub async fn inspect(
    client: &Client,
    names: Vec<String>,
    tenant: &Tenant,
    also: &[Address],
) -> Result<Vec<Spec>, mongodb::error::Error> {
    let wanted = wanted(tenant, also);
    let dbs: Vec<String> = names.into_iter().filter(|n| wanted.contains(n)).collect();
    let collections: Vec<Vec<Document>> = crate::util::each_of(&dbs, |db| {
        list(client, db, doc! { "listCollections": 1 })
    }).buffered(PARALLEL)
        .try_collect()
        .await?;
    let mut out: Vec<Spec> = Vec::new();
    let mut tables: Vec<(String, String)> = Vec::new();
    for (db, colls) in dbs.iter().zip(&collections) {
        out.push(Spec::MongoDatabase(Database {
            name: db.clone(),
            depends_on: Vec::new(),
        }));
        for c in colls {
            let Some(coll) = collection(db, c) else {
                continue;
            };
            if coll.view_on.is_none() {
                tables.push((db.clone(), coll.name.clone()));
            }
            out.push(Spec::MongoCollection(coll));
        }
    }
    let indexes: Vec<Vec<Document>> = crate::util::each_of(&tables, |(db, coll)| {
        list(client, db, doc! { "listIndexes": coll.as_str() })
    }).buffered(PARALLEL)
        .try_collect()
        .await?;
    for ((db, coll), list) in tables.iter().zip(&indexes) {
        out.extend(
            list.iter()
                .filter_map(|ix| index(db, coll, ix))
                .map(Spec::MongoIndex),
        );
    }
    let principals: Vec<Vec<Spec>> = crate::util::each_of(&dbs, |db| super::principals_live::read(client, db))
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    out.extend(principals.into_iter().flatten());
    for s in &mut out {
        s.normalize();
    }
    Ok(out)
}

/// All documents of a cursor-returning command.
pub(super) async fn list(
    client: &Client,
    db: &str,
    command: Document,
) -> Result<Vec<Document>, mongodb::error::Error> {
    let listing = async {
        let cursor = client.database(db).run_cursor_command(command).await?;
        cursor.try_collect().await
    };
    listing.within("MongoDB").await
}


fn enum_field<T: serde::de::DeserializeOwned>(o: &Document, key: &str) -> Option<T> {
    serde_json::from_value(Value::String(o.get_str(key).ok()?.to_string())).ok()
}

/// A collection (a time series among them) or view of `listCollections`; `None` for system collections.
fn collection(db: &str, c: &Document) -> Option<Collection> {
    let name = c.get_str("name").ok()?;
    let kind = c.get_str("type").unwrap_or("collection");
    if name.starts_with("system.") || !matches!(kind, "collection" | "view" | "timeseries") {
        return None;
    }
    let empty = Document::new();
    let o = c.get_document("options").unwrap_or(&empty);
    let validator = o
        .get_document("validator")
        .ok()
        .filter(|v| !v.is_empty())
        .map(document_to_json);
    let capped = match o.get_bool("capped") {
        Ok(true) => Some(Capped {
            size: int(o.get("size")).unwrap_or(0).max(0) as u64,
            max: int(o.get("max")).filter(|m| *m > 0).map(|m| m as u64),
        }),
        _ => None,
    };
    let mut out = Collection {
        name: name.to_string(),
        database: db.to_string(),
        validator,
        validation_level: enum_field(o, "validationLevel"),
        validation_action: enum_field(o, "validationAction"),
        capped,
        collation: o.get_document("collation").ok().map(document_to_json),
        view_on: o.get_str("viewOn").ok().map(str::to_string),
        pipeline: o
            .get_array("pipeline")
            .map(|a| a.iter().map(to_json).collect())
            .unwrap_or_default(),
        timeseries: None,
        expire_after_seconds: None,
        clustered: None,
        change_stream_pre_and_post_images: None,
        depends_on: Vec::new(),
    };
    super::options::read(&mut out, o);
    Some(out)
}

/// An index of `listIndexes`; `None` for the implicit `_id_` index.
fn index(db: &str, coll: &str, ix: &Document) -> Option<Index> {
    let name = ix.get_str("name").ok()?;
    if name == "_id_" {
        return None;
    }
    let keys = ix.get_document("key").ok()?;
    let key: Vec<IndexField> = if keys.contains_key("_fts") {
        // A text index stores its fields as weights.
        let weights = ix.get_document("weights").ok()?;
        weights
            .keys()
            .map(|f| IndexField {
                field: f.clone(),
                order: IndexDirection::Text,
            })
            .collect()
    } else {
        keys.iter()
            .map(|(f, v)| {
                Some(IndexField {
                    field: f.clone(),
                    order: IndexDirection::from_json(&to_json(v))?,
                })
            })
            .collect::<Option<_>>()?
    };
    Some(Index {
        name: Some(name.to_string()),
        database: db.to_string(),
        collection: coll.to_string(),
        key,
        unique: ix.get_bool("unique").ok(),
        sparse: ix.get_bool("sparse").ok(),
        partial_filter_expression: ix
            .get_document("partialFilterExpression")
            .ok()
            .map(document_to_json),
        expire_after_seconds: int(ix.get("expireAfterSeconds")),
        collation: ix.get_document("collation").ok().map(document_to_json),
        hidden: ix.get_bool("hidden").ok(),
        depends_on: Vec::new(),
    })
}
