//! What a tenant's databases hold that no kind carries: collections the collection kind does not read
//! (time series, `system.js` and other system collections but the server's own bookkeeping of what is
//! carried), collection options no field reads (`changeStreamPreAndPostImages`, `clusteredIndex`,
//! `expireAfterSeconds`, ...), and the users and roles defined in the database. Worked out from what the
//! server lists, less what was carried.

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

/// The server does not have the command (a MongoDB-wire server without users or roles): nothing to name.
fn unsupported(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 59 || c.code == 115)
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
        out.extend(principals(client, db).await?);
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

/// The users and roles defined in the database.
async fn principals(client: &Client, db: &str) -> Result<Vec<NotCarried>, mongodb::error::Error> {
    let mut out = Vec::new();
    for (command, list, kind) in [
        (doc! { "usersInfo": 1 }, "users", "user"),
        (doc! { "rolesInfo": 1, "showBuiltinRoles": false }, "roles", "role"),
    ] {
        let answer = match client.database(db).run_command(command).await {
            Ok(a) => a,
            Err(e) if unsupported(&e) => continue,
            Err(e) => return Err(e),
        };
        let names = answer.get_array(list).map(|a| a.iter().filter_map(|u| u.as_document()).collect::<Vec<_>>());
        for p in names.unwrap_or_default() {
            let name = p.get_str(kind).unwrap_or_default();
            out.push(NotCarried { kind: kind.into(), name: format!("{kind} {name}@{db}") });
        }
    }
    Ok(out)
}
