//! The users and roles defined in a tenant's database (`mongo.user`, `mongo.role`): a role's privileges
//! (actions on the database or one collection) and the roles it inherits; a user's role grants and password
//! (a secret: sent to the server, which keeps only its SCRAM verifiers, and never read back).

use crate::diag::Rule;
use crate::domains::{Checker, Reference, ResourceKind};
use crate::model::flags::*;
use crate::model::{Address, Domain, FieldMeta, Hazard, HazardCode, KindMeta, SecretValue, Tenant};
use crate::{kind_basics, model};

use super::DATABASE_SCOPE;

/// MongoDB's built-in roles a database's user or role may be granted: never a reference to a `mongo.role`.
pub const BUILTIN_ROLES: &[&str] = &[
    "read",
    "readWrite",
    "dbAdmin",
    "dbOwner",
    "userAdmin",
    "clusterAdmin",
    "clusterManager",
    "clusterMonitor",
    "hostManager",
    "backup",
    "restore",
    "readAnyDatabase",
    "readWriteAnyDatabase",
    "userAdminAnyDatabase",
    "dbAdminAnyDatabase",
    "root",
    "enableSharding",
    "directShardOperations",
    "__system",
];

model! {
    /// A role granted: by name, of this database unless `db` says another.
    #[derive(Eq, PartialOrd, Ord)]
    pub struct RoleGrant {
        pub role: String,
        /// Default: the database of the user or role granted it.
        pub db: Option<String>,
    }

    /// Actions allowed on the role's database, or one collection of it.
    pub struct Privilege {
        /// Default: every collection of the database.
        pub collection: Option<String>,
        pub actions: Vec<String>,
    }

    /// A role defined in a tenant's database.
    pub struct Role {
        pub name: String,
        pub database: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub privilege: Vec<Privilege>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub roles: Vec<RoleGrant>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A user defined in a tenant's database (it signs in against that database).
    pub struct User {
        pub name: String,
        pub database: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub roles: Vec<RoleGrant>,
        /// Never read back: set when created and when it changes.
        pub password: Option<SecretValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

pub(super) const PRINCIPALS: Rule = Rule {
    id: "mongo-user-role",
    says: "a user or role name is 1 to 128 characters without NUL, a role's not a built-in role's; a privilege \
           lists at least one action",
    source: "MongoDB manual, createUser and createRole (BadValue, RoleNotFound)",
    breaks: "[[mongo.role]]\ndatabase = \"acme\"\nname = \"reporting\"\n\
             privilege = [{ collection = \"orders\", actions = [] }]\n",
};

static ROLE: KindMeta = KindMeta {
    domain: Domain::Mongo,
    kind: "role",
    title: "MongoDB role",
    identity: &["database", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("privilege", SET),
        FieldMeta::new("roles", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

static USER: KindMeta = KindMeta {
    domain: Domain::Mongo,
    kind: "user",
    title: "MongoDB user",
    identity: &["database", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("roles", SET),
        FieldMeta::new("password", SECRET),
        FieldMeta::new("depends_on", SET),
    ],
};

/// A grant's database (`own` unless it names another).
pub fn grant_db<'a>(g: &'a RoleGrant, own: &'a str) -> &'a str {
    g.db.as_deref().unwrap_or(own)
}

fn normalize_grants(grants: &mut Vec<RoleGrant>, own: &str) {
    for g in grants.iter_mut() {
        if g.db.as_deref() == Some(own) {
            g.db = None;
        }
    }
    grants.sort();
    grants.dedup();
}

/// A user's or role's references: its database, and the roles granted it.
fn references(grants: &[RoleGrant], own: &str) -> Vec<Reference> {
    let mut r = vec![Reference::soft(
        "database",
        Address::new(Domain::Mongo, "database", vec![own.to_string()]),
    )];
    r.extend(grant_references(grants, own));
    r
}

/// The grants of roles defined in a database (not built in): references to those roles, which order a
/// declared role before what is granted it (a role may also be made by another tool: MongoDB refuses a grant
/// of one that exists nowhere, RoleNotFound).
fn grant_references(grants: &[RoleGrant], own: &str) -> Vec<Reference> {
    grants
        .iter()
        .enumerate()
        .filter(|(_, g)| !BUILTIN_ROLES.contains(&g.role.as_str()) && grant_db(g, own) != "admin")
        .map(|(i, g)| {
            Reference::soft(
                format!("roles[{i}]"),
                Address::new(Domain::Mongo, "role", vec![grant_db(g, own).to_string(), g.role.clone()]),
            )
        })
        .collect()
}

fn check_name(cx: &mut Checker<'_>, name: &str, database: &str) {
    cx.under(&PRINCIPALS, |cx| {
        cx.name("name", name, |n| {
            if n.is_empty() || n.len() > 128 || n.contains('\0') {
                Err("1 to 128 characters without NUL".into())
            } else {
                Ok(())
            }
        })
    });
    let dbs = cx.tenant.names(&DATABASE_SCOPE);
    cx.scope("database", "database", database, &dbs, false);
}

fn rename(r: &crate::domains::rename::Renamer, database: &mut String, grants: &mut [RoleGrant]) {
    r.name(&DATABASE_SCOPE, database);
    for g in grants {
        if let Some(db) = &mut g.db {
            r.name(&DATABASE_SCOPE, db);
        }
    }
}

impl ResourceKind for Role {
    kind_basics!(ROLE, |self| { vec![self.database.clone(), self.name.clone()] });
    fn normalize(&mut self) {
        normalize_grants(&mut self.roles, &self.database);
        for p in &mut self.privilege {
            p.actions.sort();
            p.actions.dedup();
            if p.collection.as_deref() == Some("") {
                p.collection = None;
            }
        }
        self.privilege.sort_by(|a, b| (&a.collection, &a.actions).cmp(&(&b.collection, &b.actions)));
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        super::db_in_scope(&self.database, tenant)
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        references(&self.roles, &self.database)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        check_name(cx, &self.name, &self.database);
        if BUILTIN_ROLES.contains(&self.name.as_str()) {
            cx.rule("name", &PRINCIPALS, format!("`{}` is a built-in role", self.name));
        }
        for (i, p) in self.privilege.iter().enumerate() {
            if p.actions.is_empty() {
                cx.rule(&format!("privilege[{i}].actions"), &PRINCIPALS, "a privilege lists at least one action");
            }
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        rename(r, &mut self.database, &mut self.roles);
    }
}

impl ResourceKind for User {
    kind_basics!(USER, |self| { vec![self.database.clone(), self.name.clone()] });
    fn normalize(&mut self) {
        normalize_grants(&mut self.roles, &self.database);
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        super::db_in_scope(&self.database, tenant)
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        references(&self.roles, &self.database)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        check_name(cx, &self.name, &self.database);
        cx.secret("password", self.password.as_ref());
        if self.password.is_none() {
            cx.warn(
                "password",
                "no-password",
                "a user created without a password gets a random one nobody knows: it cannot sign in until \
                 `password` is given",
            );
        }
    }
    fn secrets_needed(&self) -> Vec<String> {
        SecretValue::unknown_at(self.password.as_ref(), "/password")
    }
    fn without_unknown_secrets(&mut self) {
        SecretValue::forget_unknown(&mut self.password);
    }
    fn delete_hazards(&self) -> Vec<Hazard> {
        vec![Hazard::new(
            HazardCode::ChangesSignIn,
            format!("{} can no longer sign in to {}", self.name, self.database),
        )]
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        rename(r, &mut self.database, &mut self.roles);
    }
}
