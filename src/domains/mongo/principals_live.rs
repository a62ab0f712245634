//! A database's users and roles on the server: read with `usersInfo` and `rolesInfo` (a server without the
//! commands has none), written with `createRole`/`updateRole`/`dropRole` and
//! `createUser`/`updateUser`/`dropUser` (`updateRole` and `updateUser` replace what they are given whole).

use std::future::IntoFuture;

use mongodb::Client;
use mongodb::bson::{Bson, Document, doc};

use super::principals::{Privilege, Role, RoleGrant, User};
use crate::domains::item::{Action, Change};
use crate::domains::{ResourceKind, Spec};
use crate::model::SecretValue;
use crate::util::Within;

/// The server does not have the command (a MongoDB-wire server without users or roles).
fn unsupported(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 59 || c.code == 115)
}

/// One command's answer's list, or none when the server lacks the command.
async fn listed(client: &Client, db: &str, command: Document, list: &str) -> Result<Vec<Document>, mongodb::error::Error> {
    let answer = match client.database(db).run_command(command).into_future().within("MongoDB").await {
        Ok(a) => a,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(answer
        .get_array(list)
        .map(|a| a.iter().filter_map(|d| d.as_document().cloned()).collect())
        .unwrap_or_default())
}

fn grants(d: &Document) -> Vec<RoleGrant> {
    d.get_array("roles")
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .map(|r| RoleGrant {
                    role: r.get_str("role").unwrap_or_default().to_string(),
                    db: r.get_str("db").ok().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn privileges(d: &Document) -> Vec<Privilege> {
    d.get_array("privileges")
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .map(|p| Privilege {
                    collection: p
                        .get_document("resource")
                        .ok()
                        .and_then(|r| r.get_str("collection").ok())
                        .map(str::to_string),
                    actions: p
                        .get_array("actions")
                        .map(|x| x.iter().filter_map(|a| a.as_str().map(str::to_string)).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The users and roles defined in `db` (the password unknown).
pub async fn read(client: &Client, db: &str) -> Result<Vec<Spec>, mongodb::error::Error> {
    let mut out = Vec::new();
    let roles = doc! { "rolesInfo": 1, "showPrivileges": true, "showBuiltinRoles": false };
    for r in listed(client, db, roles, "roles").await? {
        let mut role = Role {
            database: db.to_string(),
            name: r.get_str("role").unwrap_or_default().to_string(),
            privilege: privileges(&r),
            roles: grants(&r),
            depends_on: Vec::new(),
        };
        role.normalize();
        out.push(Spec::MongoRole(role));
    }
    for u in listed(client, db, doc! { "usersInfo": 1 }, "users").await? {
        let mut user = User {
            database: db.to_string(),
            name: u.get_str("user").unwrap_or_default().to_string(),
            roles: grants(&u),
            password: Some(SecretValue::redacted()),
            depends_on: Vec::new(),
        };
        user.normalize();
        out.push(Spec::MongoUser(user));
    }
    Ok(out)
}

/// A command on a database's users or roles: its database, the command, and its words for messages (never
/// a password).
#[derive(Debug, Clone)]
pub struct Command {
    pub db: String,
    pub command: Document,
    pub shown: String,
    /// A drop: a user or role already gone counts as dropped.
    pub drop: bool,
}

fn grant_docs(grants: &[RoleGrant], own: &str) -> Vec<Bson> {
    grants
        .iter()
        .map(|g| Bson::Document(doc! { "role": g.role.as_str(), "db": super::principals::grant_db(g, own) }))
        .collect()
}

fn privilege_docs(r: &Role) -> Vec<Bson> {
    r.privilege
        .iter()
        .map(|p| {
            Bson::Document(doc! {
                "resource": { "db": r.database.as_str(), "collection": p.collection.as_deref().unwrap_or("") },
                "actions": p.actions.clone(),
            })
        })
        .collect()
}

fn command(db: &str, command: Document, shown: String, drop: bool) -> Command {
    Command { db: db.to_string(), command, shown, drop }
}

/// A role's change as its command.
pub fn role(c: &Change, desired: Option<&Role>, live: Option<&Role>) -> Vec<Command> {
    match (c.action, desired, live) {
        (Action::Delete, _, Some(l)) => {
            vec![command(&l.database, doc! { "dropRole": l.name.as_str() }, format!("dropRole {}@{}", l.name, l.database), true)]
        }
        (Action::Create | Action::Replace, Some(r), _) => vec![command(
            &r.database,
            doc! { "createRole": r.name.as_str(), "privileges": privilege_docs(r), "roles": grant_docs(&r.roles, &r.database) },
            format!("createRole {}@{}", r.name, r.database),
            false,
        )],
        (Action::Update, Some(r), _) => vec![command(
            &r.database,
            doc! { "updateRole": r.name.as_str(), "privileges": privilege_docs(r), "roles": grant_docs(&r.roles, &r.database) },
            format!("updateRole {}@{}", r.name, r.database),
            false,
        )],
        _ => Vec::new(),
    }
}

/// A user's change as its commands; `password` is the user's password when the change sets it (created,
/// or its secret changed).
pub fn user(c: &Change, desired: Option<&User>, live: Option<&User>, password: Option<&str>) -> Vec<Command> {
    match (c.action, desired, live) {
        (Action::Delete, _, Some(l)) => {
            vec![command(&l.database, doc! { "dropUser": l.name.as_str() }, format!("dropUser {}@{}", l.name, l.database), true)]
        }
        (Action::Create | Action::Replace, Some(u), _) => {
            let mut cmd = doc! { "createUser": u.name.as_str(), "roles": grant_docs(&u.roles, &u.database) };
            if let Some(p) = password {
                cmd.insert("pwd", p);
            }
            vec![command(&u.database, cmd, format!("createUser {}@{}", u.name, u.database), false)]
        }
        (Action::Update, Some(u), _) => {
            let touched = crate::domains::provider::touched(c);
            let mut cmd = doc! { "updateUser": u.name.as_str() };
            if touched.iter().any(|f| f == "roles") {
                cmd.insert("roles", grant_docs(&u.roles, &u.database));
            }
            if let Some(p) = password {
                cmd.insert("pwd", p);
            }
            if cmd.len() == 1 {
                return Vec::new();
            }
            vec![command(&u.database, cmd, format!("updateUser {}@{}", u.name, u.database), false)]
        }
        _ => Vec::new(),
    }
}

/// Whether a user's change sets its password: created, or its secret changed.
pub fn sets_password(c: &Change) -> bool {
    match c.action {
        Action::Create | Action::Replace => true,
        Action::Update => c.fields.iter().any(|f| f.path == "password"),
        Action::Delete => false,
    }
}

/// Server error codes of a drop whose user or role is already gone.
pub fn gone(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 11 || c.code == 31)
}
