//! A plan's MongoDB changes as server commands.
//!
//! MongoDB has no transactions for these commands, so each one is atomic on its own and a run that stops
//! half-way is completed by the next apply (which plans from the live state again). Changes run wave by
//! wave; within a wave, the commands of one collection run in order and different collections run
//! concurrently, at most [`PARALLEL`] at a time. New indexes of a collection go in one `createIndexes`.
//! Drops are idempotent: a namespace or index that is already gone counts as dropped.

use std::future::IntoFuture;

use crate::util::Within;
use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, TryStreamExt};
use indexmap::IndexMap;
use mongodb::Client;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error, ErrorKind};

use super::bson::enum_str;
use super::bson::to_bson;
use super::inspect::PARALLEL;
use super::{Collection, Index};
use crate::domains::Spec;
use crate::domains::item::{Action, Change};
use crate::model::Address;

/// Server error codes a drop may meet when its target is already gone.
const NAMESPACE_NOT_FOUND: i32 = 26;
const INDEX_NOT_FOUND: i32 = 27;

/// One server command, and what it touches.
#[derive(Debug, Clone)]
pub enum Op {
    DropDatabase(String),
    Create(Box<Collection>),
    Drop {
        db: String,
        coll: String,
    },
    CollMod {
        db: String,
        command: Document,
    },
    CreateIndexes {
        db: String,
        coll: String,
        indexes: Vec<Index>,
    },
    DropIndex {
        db: String,
        coll: String,
        name: String,
    },
    /// A command on a database's users or roles.
    Principal(super::principals_live::Command),
}

impl Op {
    /// The command in a few words, for messages.
    pub fn shown(&self) -> String {
        match self {
            Op::DropDatabase(db) => format!("dropDatabase {db}"),
            Op::Create(c) => format!("create {}.{}", c.database, c.name),
            Op::Drop { db, coll } => format!("drop {db}.{coll}"),
            Op::CollMod { db, command } => {
                format!(
                    "collMod {db}.{}",
                    command.get_str("collMod").unwrap_or_default()
                )
            }
            Op::CreateIndexes { db, coll, indexes } => format!(
                "createIndexes {db}.{coll} [{}]",
                indexes
                    .iter()
                    .map(Index::effective_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Op::DropIndex { db, coll, name } => format!("dropIndexes {db}.{coll} {name}"),
            Op::Principal(p) => p.shown.clone(),
        }
    }

    fn database(&self) -> &str {
        match self {
            Op::DropDatabase(db) => db,
            Op::Create(c) => &c.database,
            Op::Drop { db, .. }
            | Op::CollMod { db, .. }
            | Op::CreateIndexes { db, .. }
            | Op::DropIndex { db, .. } => db,
            Op::Principal(p) => &p.db,
        }
    }

    /// The collection the command is about (empty for a database-wide one).
    fn collection(&self) -> &str {
        match self {
            Op::DropDatabase(_) | Op::Principal(_) => "",
            Op::Create(c) => &c.name,
            Op::CollMod { command, .. } => command.get_str("collMod").unwrap_or_default(),
            Op::Drop { coll, .. } | Op::CreateIndexes { coll, .. } | Op::DropIndex { coll, .. } => {
                coll
            }
        }
    }

    fn command(&self) -> Document {
        match self {
            Op::DropDatabase(_) => doc! { "dropDatabase": 1 },
            Op::Create(c) => create_command(c),
            Op::Drop { coll, .. } => doc! { "drop": coll.as_str() },
            Op::CollMod { command, .. } => command.clone(),
            Op::CreateIndexes { coll, indexes, .. } => doc! {
                "createIndexes": coll.as_str(),
                "indexes": indexes.iter().map(|i| Bson::Document(index_document(i))).collect::<Vec<_>>(),
            },
            Op::DropIndex { coll, name, .. } => {
                doc! { "dropIndexes": coll.as_str(), "index": name.as_str() }
            }
            Op::Principal(p) => p.command.clone(),
        }
    }

    async fn run(&self, client: &Client) -> Result<(), (String, Error)> {
        let result = client
            .database(self.database())
            .run_command(self.command())
            .into_future()
            .within("MongoDB")
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if self.is_drop() && (gone(&e) || super::principals_live::gone(&e)) => Ok(()),
            Err(e) => Err((self.shown(), e)),
        }
    }

    fn is_drop(&self) -> bool {
        match self {
            Op::Principal(p) => p.drop,
            other => matches!(other, Op::DropDatabase(_) | Op::Drop { .. } | Op::DropIndex { .. }),
        }
    }
}

/// Whether an error says the namespace or index is not there.
fn gone(e: &Error) -> bool {
    matches!(&*e.kind, ErrorKind::Command(c) if c.code == NAMESPACE_NOT_FOUND || c.code == INDEX_NOT_FOUND)
}

/// A server error for people: the server's message with its code name, never a connection string.
pub fn error_message(e: &Error) -> String {
    match &*e.kind {
        ErrorKind::Command(c) => format!("{} ({}, code {})", c.message, c.code_name, c.code),
        ErrorKind::Authentication { message, .. } => format!("authentication failed: {message}"),
        ErrorKind::InvalidArgument { message, .. } => message.clone(),
        ErrorKind::ServerSelection { .. } => {
            "cannot reach MongoDB: no server answered (is it running, and is the URL right?)".to_string()
        }
        ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// `create` with a collection's options.
fn create_command(c: &Collection) -> Document {
    let mut cmd = doc! { "create": c.name.as_str() };
    if let Some(v) = &c.view_on {
        cmd.insert("viewOn", v.as_str());
        cmd.insert(
            "pipeline",
            c.pipeline.iter().map(to_bson).collect::<Vec<_>>(),
        );
    }
    if let Some(v) = &c.validator {
        cmd.insert("validator", to_bson(v));
    }
    if let Some(l) = c.validation_level {
        cmd.insert("validationLevel", enum_str(&l));
    }
    if let Some(a) = c.validation_action {
        cmd.insert("validationAction", enum_str(&a));
    }
    if let Some(cap) = &c.capped {
        cmd.insert("capped", true);
        cmd.insert("size", number(cap.size));
        if let Some(m) = cap.max {
            cmd.insert("max", number(m));
        }
    }
    if let Some(col) = &c.collation {
        cmd.insert("collation", to_bson(col));
    }
    super::options::create_parts(c, &mut cmd);
    cmd
}

fn number(n: u64) -> Bson {
    to_bson(&serde_json::Value::from(n))
}


/// `collMod` setting a collection's changeable options as desired (validator, level and action together;
/// a view's pipeline; a time series' granularity, documents' expiry, pre- and post-images: each when the
/// change touches it). `None` when the change touches none of them.
fn collmod_collection(c: &Collection, change: &Change) -> Option<Document> {
    let touched: Vec<String> = crate::domains::provider::touched(change)
        .into_iter()
        .filter(|f| f != "depends_on")
        .collect();
    if touched.is_empty() {
        return None;
    }
    let mut cmd = doc! { "collMod": c.name.as_str() };
    if let Some(v) = &c.view_on {
        cmd.insert("viewOn", v.as_str());
        cmd.insert(
            "pipeline",
            c.pipeline.iter().map(to_bson).collect::<Vec<_>>(),
        );
        return Some(cmd);
    }
    let validation = ["validator", "validation_level", "validation_action"];
    if touched.iter().any(|f| validation.contains(&f.as_str())) {
        cmd.insert(
            "validator",
            c.validator
                .as_ref()
                .map(to_bson)
                .unwrap_or(Bson::Document(Document::new())),
        );
        if let Some(l) = c.validation_level {
            cmd.insert("validationLevel", enum_str(&l));
        }
        if let Some(a) = c.validation_action {
            cmd.insert("validationAction", enum_str(&a));
        }
    }
    super::options::collmod_parts(c, &touched, &mut cmd);
    (cmd.len() > 1).then_some(cmd)
}

/// An index as `createIndexes` takes it.
fn index_document(i: &Index) -> Document {
    let key: Document = i
        .key
        .iter()
        .map(|k| (k.field.clone(), to_bson(&k.order.to_json())))
        .collect();
    let mut d = doc! { "key": key, "name": i.effective_name() };
    if let Some(u) = i.unique {
        d.insert("unique", u);
    }
    if let Some(s) = i.sparse {
        d.insert("sparse", s);
    }
    if let Some(p) = &i.partial_filter_expression {
        d.insert("partialFilterExpression", to_bson(p));
    }
    if let Some(e) = i.expire_after_seconds {
        d.insert("expireAfterSeconds", to_bson(&serde_json::Value::from(e)));
    }
    if let Some(c) = &i.collation {
        d.insert("collation", to_bson(c));
    }
    if let Some(h) = i.hidden {
        d.insert("hidden", h);
    }
    d
}

/// The `collMod` of an index update that can be made in place (TTL, hidden); `None` when it must be rebuilt.
fn collmod_index(i: &Index, live: Option<&Index>) -> Option<Document> {
    let live = live?;
    if !i.changes_in_place(live) {
        return None;
    }
    let mut index = doc! { "name": i.effective_name() };
    if let Some(e) = i.expire_after_seconds {
        index.insert("expireAfterSeconds", to_bson(&serde_json::Value::from(e)));
    }
    if i.hidden != live.hidden {
        index.insert("hidden", i.hidden.unwrap_or(false));
    }
    Some(doc! { "collMod": i.collection.as_str(), "index": index })
}

/// The commands of a plan's MongoDB changes, by wave; within a wave, by collection (`db`, `coll`; a
/// database-wide command has an empty collection).
pub type Waves = Vec<IndexMap<(String, String), Vec<Op>>>;

/// Turns changes (in plan order) into commands. `desired` and `live` are the MongoDB resources by address;
/// `passwords` the users' whose change sets it.
pub fn ops(
    changes: &[Change],
    desired: &HashMap<&Address, &Spec>,
    live: &HashMap<&Address, &Spec>,
    passwords: &HashMap<&Address, String>,
) -> Waves {
    let gone = Gone::of(changes, live);
    // Indexes the plan creates or rebuilds itself.
    let planned: HashSet<&Address> = changes.iter().map(|c| &c.address).collect();
    let mut waves: Waves = Vec::new();
    let mut wave_of: Vec<usize> = Vec::new();
    for c in changes {
        let d = desired.get(&c.address).copied();
        let l = live.get(&c.address).copied();
        let out = match (c.action, d) {
            _ if matches!(c.kind.name, "user" | "role") => principal_ops(c, d, l, passwords.get(&c.address)),
            (Action::Delete, _) => gone.deletes(l),
            (_, Some(Spec::MongoCollection(x))) => collection_ops(c, x, desired, &planned),
            (_, Some(Spec::MongoIndex(x))) => index_ops(c, x, l, &gone),
            // A database is created with its first collection; its only other field is `depends_on`.
            _ => Vec::new(),
        };
        if out.is_empty() {
            continue;
        }
        let slot = match wave_of.iter().position(|&w| w == c.wave) {
            Some(i) => i,
            None => {
                wave_of.push(c.wave);
                waves.push(IndexMap::new());
                waves.len() - 1
            }
        };
        place(&mut waves[slot], out);
    }
    waves
}

/// A user's or role's change as its commands.
fn principal_ops(c: &Change, d: Option<&Spec>, l: Option<&Spec>, password: Option<&String>) -> Vec<Op> {
    use super::principals_live::{role, user};
    let commands = match (d, l) {
        (Some(Spec::MongoRole(x)), l) => role(c, Some(x), l.and_then(as_role)),
        (None, Some(Spec::MongoRole(x))) => role(c, None, Some(x)),
        (Some(Spec::MongoUser(x)), l) => user(c, Some(x), l.and_then(as_user), password.map(String::as_str)),
        (None, Some(Spec::MongoUser(x))) => user(c, None, Some(x), None),
        _ => Vec::new(),
    };
    commands.into_iter().map(Op::Principal).collect()
}

fn as_role(s: &Spec) -> Option<&super::principals::Role> {
    match s {
        Spec::MongoRole(r) => Some(r),
        _ => None,
    }
}

fn as_user(s: &Spec) -> Option<&super::principals::User> {
    match s {
        Spec::MongoUser(u) => Some(u),
        _ => None,
    }
}

/// Puts a change's commands in its wave, by collection; new indexes of one collection in one wave go in
/// one request.
fn place(wave: &mut IndexMap<(String, String), Vec<Op>>, ops: Vec<Op>) {
    for op in ops {
        let lane = wave
            .entry((op.database().to_string(), op.collection().to_string()))
            .or_default();
        if let Op::CreateIndexes { indexes, .. } = &op
            && let Some(Op::CreateIndexes { indexes: prev, .. }) = lane.last_mut()
        {
            prev.extend(indexes.iter().cloned());
            continue;
        }
        lane.push(op);
    }
}

/// Namespaces the plan drops (or rebuilds): what is in them goes with them.
struct Gone {
    dbs: HashSet<String>,
    rebuilt: HashSet<(String, String)>,
}

impl Gone {
    fn of(changes: &[Change], live: &HashMap<&Address, &Spec>) -> Gone {
        let mut gone = Gone {
            dbs: HashSet::new(),
            rebuilt: HashSet::new(),
        };
        for c in changes {
            match (c.action, live.get(&c.address).copied()) {
                (Action::Delete, Some(Spec::MongoDatabase(d))) => {
                    gone.dbs.insert(d.name.clone());
                }
                (Action::Delete | Action::Replace, Some(Spec::MongoCollection(x))) => {
                    gone.rebuilt.insert((x.database.clone(), x.name.clone()));
                }
                _ => {}
            }
        }
        gone
    }

    fn rebuilt(&self, db: &str, coll: &str) -> bool {
        self.rebuilt.contains(&(db.to_string(), coll.to_string()))
    }

    /// Deleting a live resource, unless a dropped database or collection takes it along.
    fn deletes(&self, live: Option<&Spec>) -> Vec<Op> {
        match live {
            Some(Spec::MongoDatabase(x)) => vec![Op::DropDatabase(x.name.clone())],
            Some(Spec::MongoCollection(x)) if !self.dbs.contains(&x.database) => vec![Op::Drop {
                db: x.database.clone(),
                coll: x.name.clone(),
            }],
            Some(Spec::MongoIndex(x))
                if !self.dbs.contains(&x.database) && !self.rebuilt(&x.database, &x.collection) =>
            {
                vec![drop_index(x)]
            }
            _ => Vec::new(),
        }
    }
}

/// Creating, rebuilding (with the indexes the plan does not create itself) or changing a collection.
fn collection_ops(
    c: &Change,
    x: &Collection,
    desired: &HashMap<&Address, &Spec>,
    planned: &HashSet<&Address>,
) -> Vec<Op> {
    match c.action {
        Action::Create => vec![Op::Create(Box::new(x.clone()))],
        Action::Replace => {
            let mut out = vec![
                Op::Drop {
                    db: x.database.clone(),
                    coll: x.name.clone(),
                },
                Op::Create(Box::new(x.clone())),
            ];
            // Its indexes went with it: those the plan does not create itself are built again.
            let again: Vec<Index> = desired
                .iter()
                .filter(|(a, _)| !planned.contains(**a))
                .filter_map(|(_, s)| match s {
                    Spec::MongoIndex(i) if i.database == x.database && i.collection == x.name => {
                        Some(i.clone())
                    }
                    _ => None,
                })
                .collect();
            if !again.is_empty() {
                out.push(create_indexes(again));
            }
            out
        }
        Action::Update => collmod_collection(x, c)
            .map(|command| Op::CollMod {
                db: x.database.clone(),
                command,
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Creating an index, changing it in place where `collMod` can, or dropping and building it again.
fn index_ops(c: &Change, x: &Index, live: Option<&Spec>, gone: &Gone) -> Vec<Op> {
    if c.action == Action::Create {
        return vec![create_indexes(vec![x.clone()])];
    }
    if !matches!(c.action, Action::Replace | Action::Update) {
        return Vec::new();
    }
    let live = match live {
        Some(Spec::MongoIndex(l)) => Some(l),
        _ => None,
    };
    let in_place = (c.action == Action::Update)
        .then(|| collmod_index(x, live))
        .flatten();
    if let Some(command) = in_place {
        return vec![Op::CollMod {
            db: x.database.clone(),
            command,
        }];
    }
    let mut out = Vec::new();
    if !gone.rebuilt(&x.database, &x.collection) {
        out.push(drop_index(x));
    }
    out.push(create_indexes(vec![x.clone()]));
    out
}

fn drop_index(x: &Index) -> Op {
    Op::DropIndex {
        db: x.database.clone(),
        coll: x.collection.clone(),
        name: x.effective_name(),
    }
}

fn create_indexes(indexes: Vec<Index>) -> Op {
    let first = &indexes[0];
    Op::CreateIndexes {
        db: first.database.clone(),
        coll: first.collection.clone(),
        indexes,
    }
}

/// Runs the commands wave by wave; the first refusal stops the run. Returns the number of commands run, or
/// the number of commands of the waves completed before the refusal, the refused command and the error.
pub async fn execute(client: &Client, waves: &Waves) -> Result<usize, (usize, String, Error)> {
    let mut done = 0;
    for wave in waves {
        let lanes: Vec<&Vec<Op>> = wave.values().collect();
        let counts: Vec<usize> = crate::util::each_of(&lanes, |lane| async move {
            for op in lane.iter() {
                op.run(client).await?;
            }
            Ok::<usize, (String, Error)>(lane.len())
        }).buffer_unordered(PARALLEL)
        .try_collect()
            .await
            .map_err(|(shown, e)| (done, shown, e))?;
        done += counts.iter().sum::<usize>();
    }
    Ok(done)
}
