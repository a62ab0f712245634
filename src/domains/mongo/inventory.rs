//! What a tenant's databases hold that no kind carries: collections the collection kind does not read
//! (time series, `system.js` and other system collections but the server's own bookkeeping of what is
//! carried), collection options no field reads (`changeStreamPreAndPostImages`, `clusteredIndex`,
//! `expireAfterSeconds`, ...). Worked out from what the server lists, less what was carried. (The users and
//! roles defined in the database are carried: `mongo.user`, `mongo.role`.)

use std::collections::HashSet;

use mongodb::Client;
use mongodb::bson::{Document, doc};

use crate::domains::Spec;
use crate::domains::provider::NotCarried;

use super::COLLECTION_OPTIONS as CARRIED_OPTIONS;

/// The server's own bookkeeping of what is carried: views' definitions, time series' buckets.
fn bookkeeping(name: &str) -> bool {
    name == "system.views" || name.starts_with("system.buckets.")
}

/// What the tenant's databases (those `carried` holds) have that `carried` does not.
pub async fn not_carried(client: &Client, carried: &[&Spec]) -> Result<Vec<NotCarried>, mongodb::error::Error> {
    let mut collections: HashSet<(&str, &str)> = HashSet::new();
    let mut dbs: Vec<&str> = Vec::new();
    for s in carried {
        match s {
            Spec::MongoDatabase(d) => dbs.push(&d.name),
            Spec::MongoCollection(c) => {
                collections.insert((&c.database, &c.name));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for db in dbs {
        for c in super::inspect::list(client, db, doc! { "listCollections": 1 }).await? {
            out.extend(collection(db, &c, &collections));
        }
    }
    Ok(out)
}

/// A listed collection no kind carries, or the options of a carried one that no field reads.
fn collection(db: &str, c: &Document, carried: &HashSet<(&str, &str)>) -> Vec<NotCarried> {
    let Ok(name) = c.get_str("name") else { return Vec::new() };
    if bookkeeping(name) {
        return Vec::new();
    }
    if !carried.contains(&(db, name)) {
        let kind = match c.get_str("type").unwrap_or("collection") {
            "timeseries" => "time series collection".to_string(),
            other => other.to_string(),
        };
        return vec![NotCarried { name: format!("{kind} {db}.{name}"), kind }];
    }
    let empty = Document::new();
    let options = c.get_document("options").unwrap_or(&empty);
    options
        .keys()
        .filter(|k| !CARRIED_OPTIONS.contains(&k.as_str()))
        .map(|k| NotCarried {
            kind: "collection option".into(),
            name: format!("{k} of collection {db}.{name}"),
        })
        .collect()
}
