//! PostgreSQL: extensions, schemas, roles, tables, indexes, views, row-level-security policies, grants.
//! Never row data.

pub mod aggregate;
pub mod data;
pub mod ddl;
pub mod default_privileges;
pub mod function;
mod hazards;
pub mod inspect;
pub mod inventory;
pub mod normalize;
pub mod password;
pub mod provider;
pub mod partition;
pub mod sequence;
pub mod trigger;
pub mod types;

pub use aggregate::Aggregate;
pub use default_privileges::DefaultPrivileges;
pub use function::Function;
pub use sequence::Sequence;
pub use trigger::Trigger;
pub use types::Type;

/// The domain's live system, for the registry ([`crate::for_each_domain`]).
pub type Provider = provider::Postgres;

pub mod sql;

pub use crate::util::{pg_error as connection_error, pg_pool as connect};

use super::ResourceKind;

/// PostgreSQL's own rules are not restated here: the server reads every statement falconer writes
/// (types, expressions, bodies are parsed by it) and a plan's changes run in one transaction, so what it
/// refuses leaves nothing written. The checks of this domain are of names and combinations.
pub const RULES: &[crate::diag::Rule] = &[];
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Checker, Reference, names};
use crate::model::flags::*;
use crate::model::{Address, Domain, FieldMeta, Hazard, HazardCode, KindMeta, SecretValue, Tenant};
use crate::{choice, kind_basics, model};
use crate::model::Scope;

/// The tenant's schemas.
pub static SCHEMA_SCOPE: Scope = Scope {
    name: "postgres_schema",
    key: "postgres_schemas",
    many: true,
    prefix: false,
    default: crate::model::tenant::underscored,
    doc: "PostgreSQL schemas. Default: the id with `-` turned into `_`.",
};

/// The scopes of PostgreSQL's objects (the registry's `domains::scopes`).
pub static SCOPES: &[&Scope] = &[&SCHEMA_SCOPE];

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
pub const MAX_IDENT: usize = 63;

fn ident(field: &str, value: &str, cx: &mut Checker<'_>) {
    cx.name(field, value, names::non_empty_max(MAX_IDENT));
}

fn addr(kind: &'static str, segs: &[&str]) -> Address {
    Address::new(
        Domain::Postgres,
        kind,
        segs.iter().map(|s| s.to_string()).collect(),
    )
}

fn in_schema_scope(schema: &str, cx: &mut Checker<'_>) {
    let schemas = cx.tenant.names(&SCHEMA_SCOPE);
    cx.scope("schema", "schema", schema, &schemas, false);
}

choice! { "UPPERCASE";
    /// A privilege on a table, view or sequence.
    pub enum Privilege { Select, Insert, Update, Delete, Truncate, References, Trigger, Usage, All }
    /// A privilege on a schema.
    pub enum SchemaPrivilege { Usage, Create, All }
}

choice! { "snake_case";
    /// How an identity column generates values.
    pub enum IdentityKind { Always, ByDefault }
    pub enum FkAction { NoAction, Restrict, Cascade, SetNull, SetDefault }
    pub enum SortOrder { Asc, Desc }
    pub enum NullsOrder { First, Last }
    pub enum IndexMethod { Btree, Hash, Gin, Gist, Spgist, Brin }
    pub enum PolicyCommand { All, Select, Insert, Update, Delete }
    pub enum PolicyMode { Permissive, Restrictive }
    pub enum CheckOption { Local, Cascaded }
    pub enum GrantObject { Table, View, Sequence }
}

model! {
    /// An extension, installed in the tenant's database.
    pub struct Extension {
        pub name: String,
        /// Schema the extension's objects are created in (server default: the first of the search path).
        pub schema: Option<String>,
        /// Version (server default: the extension's default version).
        pub version: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A schema of the tenant.
    pub struct Schema {
        pub name: String,
        pub owner: Option<String>,
        pub comment: Option<String>,
        /// Privileges on the schema itself (USAGE, CREATE).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub grant: Vec<SchemaGrant>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    pub struct SchemaGrant {
        pub role: String,
        pub privileges: Vec<SchemaPrivilege>,
        pub with_grant_option: Option<bool>,
    }

    /// A role used by the tenant's grants and policies.
    #[derive(Default)]
    pub struct Role {
        pub name: String,
        pub login: Option<bool>,
        pub inherit: Option<bool>,
        pub bypass_rls: Option<bool>,
        pub connection_limit: Option<i32>,
        pub password: Option<SecretValue>,
        /// Roles this role is a member of.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub member_of: Vec<String>,
        pub comment: Option<String>,
        /// Settings in force in every session of the role (`ALTER ROLE ... SET statement_timeout = '5s'`).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub settings: BTreeMap<String, String>,
        /// Settings in force in its sessions in the tenant's database (`ALTER ROLE ... IN DATABASE ... SET`).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub database_settings: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A table, with its columns and constraints.
    pub struct Table {
        pub name: String,
        pub schema: String,
        /// The role that owns it (server default: the role that creates it).
        pub owner: Option<String>,
        pub comment: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub column: Vec<Column>,
        pub primary_key: Option<PrimaryKey>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub unique: Vec<Unique>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub check: Vec<Check>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub exclude: Vec<Exclusion>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub foreign_key: Vec<ForeignKey>,
        /// UNLOGGED: not written to the write-ahead log (emptied after a crash, not replicated). Default: false.
        pub unlogged: Option<bool>,
        /// Storage parameters as PostgreSQL keeps them (`fillfactor = "70"`, `autovacuum_enabled = "false"`).
        /// Absent: whatever the table has.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub storage: BTreeMap<String, String>,
        /// ENABLE ROW LEVEL SECURITY.
        pub row_level_security: Option<bool>,
        /// FORCE ROW LEVEL SECURITY (applies policies to the owner too).
        pub force_row_level_security: Option<bool>,
        /// PARTITION BY, as PostgreSQL writes it (`RANGE (created_at)`, `LIST (region)`, `HASH (id)`).
        pub partition_by: Option<String>,
        /// The partitioned table this table is a partition of (`name` in its schema, or `schema.name`): it
        /// takes its columns from it.
        pub partition_of: Option<String>,
        /// A partition's bound: `FOR VALUES FROM (...) TO (...)`, `FOR VALUES IN (...)`, `FOR VALUES WITH
        /// (MODULUS m, REMAINDER r)` or `DEFAULT`.
        pub partition_bound: Option<String>,
        /// The table's previous name: the change is a rename, never a drop and a create.
        pub renamed_from: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    pub struct Column {
        pub name: String,
        /// The SQL type as PostgreSQL writes it (`bigint`, `text[]`, `numeric(12,2)`, `timestamp with time zone`).
        #[serde(rename = "type")]
        pub ty: String,
        /// Default: true.
        pub nullable: Option<bool>,
        /// Default expression (SQL).
        pub default: Option<String>,
        pub identity: Option<IdentityKind>,
        /// An identity column's sequence options (`start = 100`); absent ones are as the server has them.
        pub identity_options: Option<IdentityOptions>,
        /// GENERATED ALWAYS AS (expression) STORED.
        pub generated: Option<String>,
        pub collation: Option<String>,
        pub comment: Option<String>,
        /// The column owns the sequence its default calls (`OWNED BY`: dropped with the column), as a
        /// `serial` column owns the one it makes.
        pub owns_sequence: Option<bool>,
        pub renamed_from: Option<String>,
    }

    /// The options of an identity column's sequence; each absent one is its default.
    #[derive(Default)]
    pub struct IdentityOptions {
        /// START WITH (default: the minimum, or the maximum when it counts down).
        pub start: Option<i64>,
        /// INCREMENT BY (default: 1).
        pub increment: Option<i64>,
        /// CYCLE (default: false).
        pub cycle: Option<bool>,
        /// MINVALUE (default: 1, or the type's least when it counts down).
        pub min_value: Option<i64>,
        /// MAXVALUE (default: the type's greatest, or -1 when it counts down).
        pub max_value: Option<i64>,
        /// CACHE (default: 1).
        pub cache: Option<i64>,
    }

    pub struct PrimaryKey {
        /// Constraint name (server default: `<table>_pkey`).
        pub name: Option<String>,
        pub columns: Vec<String>,
    }

    pub struct Unique {
        pub name: Option<String>,
        pub columns: Vec<String>,
        pub nulls_not_distinct: Option<bool>,
    }

    pub struct Check {
        pub name: String,
        /// A boolean SQL expression.
        pub expression: String,
    }

    /// An exclusion constraint: `definition` is what follows `EXCLUDE`, as PostgreSQL prints it: the index
    /// method, the elements with their operators, and any `INCLUDE`, `WHERE` and `DEFERRABLE`
    /// (`using gist (room with =, during with &&)`).
    pub struct Exclusion {
        pub name: String,
        pub definition: String,
    }

    pub struct ForeignKey {
        pub name: Option<String>,
        pub columns: Vec<String>,
        pub references: FkTarget,
        pub on_delete: Option<FkAction>,
        pub on_update: Option<FkAction>,
        pub deferrable: Option<bool>,
        /// DEFERRABLE INITIALLY DEFERRED: checked at commit (as Django's migrations make them).
        pub initially_deferred: Option<bool>,
    }

    pub struct FkTarget {
        pub table: String,
        /// Default: the referencing table's schema.
        pub schema: Option<String>,
        /// Default: the referenced table's primary key.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub columns: Vec<String>,
    }

    /// An index (constraint indexes of primary keys and unique constraints are part of their table).
    pub struct Index {
        pub name: String,
        pub schema: String,
        pub table: String,
        #[serde(with = "index_keys")]
        #[schemars(with = "Vec<index_keys::Written>")]
        pub columns: Vec<IndexKey>,
        pub unique: Option<bool>,
        /// Default: btree.
        pub method: Option<IndexMethod>,
        /// INCLUDE columns.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub include: Vec<String>,
        /// Partial index predicate (SQL).
        #[serde(rename = "where")]
        pub predicate: Option<String>,
        pub nulls_not_distinct: Option<bool>,
        pub comment: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A view or materialized view.
    pub struct View {
        pub name: String,
        pub schema: String,
        /// The role that owns it (server default: the role that creates it).
        pub owner: Option<String>,
        /// The view's query: exactly one SELECT.
        pub query: String,
        pub materialized: Option<bool>,
        pub check_option: Option<CheckOption>,
        pub security_barrier: Option<bool>,
        pub security_invoker: Option<bool>,
        pub comment: Option<String>,
        /// Tables and views the query reads (declared, for ordering).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A row-level-security policy on a table.
    pub struct Policy {
        pub name: String,
        pub schema: String,
        pub table: String,
        /// Default: all.
        pub command: Option<PolicyCommand>,
        /// Default: permissive.
        pub mode: Option<PolicyMode>,
        /// Default: PUBLIC.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub roles: Vec<String>,
        /// USING expression (SQL).
        pub using: Option<String>,
        /// WITH CHECK expression (SQL).
        pub with_check: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// Privileges of one role on one table, view or sequence of the tenant.
    pub struct Grant {
        pub grantee: String,
        pub schema: String,
        pub object: String,
        /// Default: table (views are granted as tables).
        pub object_type: Option<GrantObject>,
        pub privileges: Vec<Privilege>,
        /// Privileges on single columns (`{ email = ["SELECT"] }`: `GRANT SELECT (email)`); a grant may hold
        /// these alone.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub columns: BTreeMap<String, Vec<Privilege>>,
        pub with_grant_option: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

model! {
    /// One key of an index in its table form: a `column` or an `expression`, with options. In a manifest a
    /// plain column key may be written as just its name (`columns = ["email"]`).
    #[derive(Default)]
    pub struct IndexKey {
        pub column: Option<String>,
        /// An expression (SQL), e.g. `lower(email)`.
        pub expression: Option<String>,
        pub order: Option<SortOrder>,
        pub nulls: Option<NullsOrder>,
        pub opclass: Option<String>,
        pub collation: Option<String>,
    }
}

/// `Index::columns` as written: each key a column name or a table.
mod index_keys {
    use super::*;
    use serde::ser::SerializeSeq;

    /// One key as written (for decoding and for the JSON Schema).
    pub struct Written(pub IndexKey);

    impl<'de> Deserialize<'de> for Written {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Written;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a column name or a table with `column` or `expression`")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Written, E> {
                    Ok(Written(IndexKey {
                        column: Some(v.to_string()),
                        ..IndexKey::default()
                    }))
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Written, A::Error> {
                    IndexKey::deserialize(de::value::MapAccessDeserializer::new(map)).map(Written)
                }
            }
            d.deserialize_any(V)
        }
    }

    impl JsonSchema for Written {
        fn schema_name() -> std::borrow::Cow<'static, str> {
            "IndexKeyWritten".into()
        }
        fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
            let table = g.subschema_for::<IndexKey>();
            schemars::json_schema!({
                "description": "A column name, or a table with `column` or `expression`",
                "oneOf": [{ "type": "string" }, table]
            })
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IndexKey>, D::Error> {
        Ok(Vec::<Written>::deserialize(d)?
            .into_iter()
            .map(|w| w.0)
            .collect())
    }

    /// A plain column key is written as a bare string, anything else as a table.
    pub fn serialize<S: serde::Serializer>(keys: &[IndexKey], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(keys.len()))?;
        for k in keys {
            match (&k.column, k.is_plain_column()) {
                (Some(c), true) => seq.serialize_element(c)?,
                _ => seq.serialize_element(k)?,
            }
        }
        seq.end()
    }
}

impl IndexKey {
    fn is_plain_column(&self) -> bool {
        self.expression.is_none()
            && self.order.is_none()
            && self.nulls.is_none()
            && self.opclass.is_none()
            && self.collation.is_none()
    }
}

static EXTENSION: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "extension",
    title: "PostgreSQL extension",
    identity: &["name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("schema", SERVER_DEFAULT | IMMUTABLE),
        FieldMeta::new("version", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Extension {
    kind_basics!(EXTENSION, |self| { vec![self.name.clone()] });
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        // Installed in a schema of the tenant: after it.
        self.schema
            .iter()
            .map(|s| Reference::soft("schema", addr("schema", &[s])))
            .collect()
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        if let Some(s) = &mut self.schema {
            r.name(&SCHEMA_SCOPE, s);
        }
    }
}

static SCHEMA: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "schema",
    title: "PostgreSQL schema",
    identity: &["name"],
    holds_data: true,
    fields: &[
        FieldMeta::new("owner", SERVER_DEFAULT),
        FieldMeta::keyed("grant", "role", 0),
        FieldMeta::new("grant[].privileges", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

/// Whether a schema is one of the tenant's.
fn schema_in_scope(schema: &str, tenant: &Tenant) -> bool {
    tenant.names(&SCHEMA_SCOPE).iter().any(|s| s == schema)
}

impl ResourceKind for Schema {
    kind_basics!(SCHEMA, |self| { vec![self.name.clone()] });
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let mut r: Vec<Reference> = self
            .grant
            .iter()
            .enumerate()
            .map(|(i, g)| Reference::soft(format!("grant[{i}].role"), addr("role", &[&g.role])))
            .collect();
        if let Some(o) = &self.owner {
            r.push(Reference::soft("owner", addr("role", &[o])));
        }
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.name, tenant)
    }
    fn normalize(&mut self) {
        for g in &mut self.grant {
            if g.with_grant_option == Some(false) {
                g.with_grant_option = None;
            }
        }
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        let schemas = cx.tenant.names(&SCHEMA_SCOPE);
        cx.scope("name", "schema", &self.name, &schemas, false);
        for (i, g) in self.grant.iter().enumerate() {
            if g.privileges.is_empty() {
                cx.error(
                    &format!("grant[{i}].privileges"),
                    "empty",
                    "a grant needs at least one privilege",
                );
            }
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.name);
        if let Some(o) = &mut self.owner {
            r.tenant_word(o);
        }
        for g in &mut self.grant {
            r.tenant_word(&mut g.role);
        }
    }
}

static ROLE: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "role",
    title: "PostgreSQL role",
    identity: &["name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("login", SERVER_DEFAULT),
        FieldMeta::new("inherit", SERVER_DEFAULT),
        FieldMeta::new("bypass_rls", SERVER_DEFAULT),
        FieldMeta::new("connection_limit", SERVER_DEFAULT),
        FieldMeta::new("password", SECRET),
        FieldMeta::new("member_of", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Role {
    kind_basics!(ROLE, |self| { vec![self.name.clone()] });
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        self.member_of
            .iter()
            .enumerate()
            .map(|(i, m)| Reference::soft(format!("member_of[{i}]"), addr("role", &[m])))
            .collect()
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        if self.name.starts_with("pg_") {
            cx.error(
                "name",
                "invalid-name",
                "role names starting with `pg_` are reserved by PostgreSQL",
            );
        }
        if self.name == "public" {
            cx.error(
                "name",
                "invalid-name",
                "`public` is not a role that can be created",
            );
        }
        function::check_settings("settings", &self.settings, cx);
        function::check_settings("database_settings", &self.database_settings, cx);
        cx.secret("password", self.password.as_ref());
        if self.password.is_some() && self.login == Some(false) {
            cx.warn(
                "password",
                "useless-password",
                "a password on a role that cannot log in is never used",
            );
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.tenant_word(&mut self.name);
        for m in &mut self.member_of {
            r.tenant_word(m);
        }
        function::rename_settings(r, &mut self.settings);
        function::rename_settings(r, &mut self.database_settings);
    }
}

static TABLE: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "table",
    title: "PostgreSQL table",
    identity: &["schema", "name"],
    holds_data: true,
    fields: &[
        FieldMeta::new("owner", SERVER_DEFAULT),
        FieldMeta::keyed("column", "name", 0),
        FieldMeta::new("column[].nullable", SERVER_DEFAULT),
        FieldMeta::new("column[].collation", SERVER_DEFAULT),
        FieldMeta::new("column[].identity_options", SERVER_DEFAULT),
        FieldMeta::new("column[].identity_options.start", SERVER_DEFAULT),
        FieldMeta::new("column[].identity_options.increment", SERVER_DEFAULT),
        FieldMeta::new("column[].identity_options.min_value", SERVER_DEFAULT),
        FieldMeta::new("column[].identity_options.max_value", SERVER_DEFAULT),
        FieldMeta::new("column[].identity_options.cache", SERVER_DEFAULT),
        FieldMeta::new("column[].identity_options.cycle", SERVER_DEFAULT),
        FieldMeta::new("primary_key.name", SERVER_DEFAULT),
        FieldMeta::new("unique", SET),
        FieldMeta::keyed("check", "name", 0),
        FieldMeta::keyed("exclude", "name", 0),
        FieldMeta::new("foreign_key", SET),
        FieldMeta::new("row_level_security", SERVER_DEFAULT),
        FieldMeta::new("force_row_level_security", SERVER_DEFAULT),
        FieldMeta::new("unlogged", SERVER_DEFAULT),
        FieldMeta::new("storage", SERVER_DEFAULT),
        FieldMeta::new("partition_by", IMMUTABLE),
        FieldMeta::new("partition_of", IMMUTABLE),
        FieldMeta::new("partition_bound", IMMUTABLE),
        FieldMeta::new("depends_on", SET),
    ],
};

const INTEGER_TYPES: &[&str] = &[
    "smallint", "integer", "bigint", "int", "int2", "int4", "int8",
];

/// An identity's options without those that are the defaults for its column type `ty` (`None` when all
/// are): how a manifest and the live table compare them.
pub fn plain_identity(ty: &str, o: Option<IdentityOptions>) -> Option<IdentityOptions> {
    let mut o = o?;
    let inc = o.increment.unwrap_or(1);
    let ty = function::canonical_type(ty);
    let max = sequence::type_max(&ty);
    let (min_default, max_default) = if inc > 0 { (1, max) } else { (-max - 1, -1) };
    let min = o.min_value.unwrap_or(min_default);
    let start_default = if inc > 0 { min } else { o.max_value.unwrap_or(max_default) };
    let drop = |v: &mut Option<i64>, default: i64| {
        if *v == Some(default) {
            *v = None;
        }
    };
    drop(&mut o.start, start_default);
    drop(&mut o.increment, 1);
    drop(&mut o.min_value, min_default);
    drop(&mut o.max_value, max_default);
    drop(&mut o.cache, 1);
    if o.cycle == Some(false) {
        o.cycle = None;
    }
    (o != IdentityOptions::default()).then_some(o)
}

impl ResourceKind for Table {
    kind_basics!(TABLE, |self| { vec![self.schema.clone(), self.name.clone()] });
    fn normalize(&mut self) {
        for c in &mut self.column {
            c.identity_options = plain_identity(&c.ty, c.identity_options.take());
        }
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut r = vec![Reference::soft("schema", addr("schema", &[&self.schema]))];
        for (i, c) in self.column.iter().enumerate() {
            if let Some(ext) = extension_of_type(&c.ty) {
                r.push(Reference::soft(format!("column[{i}].type"), addr("extension", &[ext])));
            }
            r.extend(types::type_reference(format!("column[{i}].type"), &c.ty, tenant));
            for text in [&c.default, &c.generated].into_iter().flatten() {
                r.extend(uses(&format!("column[{i}]"), text, &self.schema, tenant));
            }
        }
        for (i, x) in self.exclude.iter().enumerate() {
            r.extend(uses(&format!("exclude[{i}]"), &x.definition, &self.schema, tenant));
        }
        for (i, ch) in self.check.iter().enumerate() {
            r.extend(uses(&format!("check[{i}]"), &ch.expression, &self.schema, tenant));
        }
        r.extend(partition::parent_reference(self));
        r.extend(owner_reference(&self.owner));
        let schemas = tenant.names(&SCHEMA_SCOPE);
        for (i, fk) in self.foreign_key.iter().enumerate() {
            let schema = fk.references.schema.as_deref().unwrap_or(&self.schema);
            if schema == self.schema && fk.references.table == self.name {
                continue; // self-reference
            }
            let target = addr("table", &[schema, &fk.references.table]);
            let field = format!("foreign_key[{i}].references");
            r.push(if schemas.iter().any(|s| s == schema) {
                Reference::to(field, target)
            } else {
                Reference::soft(field, target)
            });
        }
        r
    }
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        let Some(live) = live else { return Vec::new() };
        let mut out = Vec::new();
        let t = format!("{}.{}", self.schema, self.name);
        for lc in &live.column {
            let renamed = self.column.iter().any(|c| c.renamed_from.as_deref() == Some(lc.name.as_str()));
            match self.column.iter().find(|c| c.name == lc.name) {
                None if !renamed => out.push(Hazard::new(
                    HazardCode::DeletesData,
                    format!("drops column `{}` of table {t}: every value in it is lost", lc.name),
                )),
                Some(c) if hazards::rewrites(&lc.ty, &c.ty) => out.push(Hazard::new(
                    HazardCode::RewritesData,
                    format!("changes column `{}` of {t} from `{}` to `{}`: the table is rewritten \
                             under an exclusive lock", c.name, lc.ty, c.ty),
                )),
                Some(c) if c.nullable == Some(false) && lc.nullable != Some(false) => out.push(Hazard::new(
                    HazardCode::LocksTable,
                    format!("SET NOT NULL on `{}` scans {t} under an exclusive lock (and fails on \
                             existing NULLs)", c.name),
                )),
                _ => {}
            }
        }
        if self.unlogged.is_some() && self.unlogged.unwrap_or(false) != live.unlogged.unwrap_or(false) {
            let to = if self.unlogged == Some(true) { "UNLOGGED" } else { "LOGGED" };
            out.push(Hazard::new(
                HazardCode::LocksTable,
                format!("SET {to} rewrites {t} under an exclusive lock"),
            ));
        }
        // Only an explicit `false` turns it off: an absent (server-defaulted) flag keeps what is live.
        let on = |v: Option<bool>| v == Some(true);
        if on(live.row_level_security) && self.row_level_security == Some(false) {
            out.push(Hazard::new(
                HazardCode::WidensAccess,
                format!("disables row-level security on {t}: every role with privileges on it \
                         sees every row"),
            ));
        }
        if on(live.force_row_level_security) && self.force_row_level_security == Some(false) {
            out.push(Hazard::new(HazardCode::WidensAccess, format!("stops forcing row-level \
                security on {t}: its owner bypasses the policies")));
        }
        out
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        ident("schema", &self.schema, cx);
        in_schema_scope(&self.schema, cx);
        if self.column.is_empty() && self.partition_of.is_none() {
            cx.warn(
                "",
                "no-columns",
                format!("table `{}` has no columns", self.name),
            );
        }
        let mut seen = HashSet::new();
        for (i, c) in self.column.iter().enumerate() {
            let f = format!("column[{i}]");
            ident(&format!("{f}.name"), &c.name, cx);
            if !seen.insert(c.name.as_str()) {
                cx.error(
                    &format!("{f}.name"),
                    "duplicate",
                    format!("column `{}` is declared twice", c.name),
                );
            }
            check_column(cx, &f, c);
        }
        self.check_keys(cx);
        let mut names = HashSet::new();
        for (i, c) in self.check.iter().enumerate() {
            ident(&format!("check[{i}].name"), &c.name, cx);
            if !names.insert(c.name.as_str()) {
                cx.error(
                    &format!("check[{i}].name"),
                    "duplicate",
                    format!("check constraint `{}` is declared twice", c.name),
                );
            }
            if let Err(msg) = sql::check_expr(&c.expression) {
                cx.error(&format!("check[{i}].expression"), "invalid-sql", format!("a check must be one \
                    SQL expression: {msg}"));
            }
        }
        for (i, x) in self.exclude.iter().enumerate() {
            ident(&format!("exclude[{i}].name"), &x.name, cx);
            if !names.insert(x.name.as_str()) {
                cx.error(
                    &format!("exclude[{i}].name"),
                    "duplicate",
                    format!("constraint `{}` is declared twice", x.name),
                );
            }
            if !x.definition.trim_start().to_lowercase().starts_with("using ") && !x.definition.trim_start().starts_with('(') {
                cx.error(&format!("exclude[{i}].definition"), "invalid-sql", "an exclusion is what follows \
                    EXCLUDE: `using gist (column with =, ...)` or `(column with =, ...)`");
            }
        }
        partition::check(self, cx);
        if self.force_row_level_security == Some(true) && self.row_level_security != Some(true) {
            cx.warn(
                "force_row_level_security",
                "no-effect",
                "FORCE ROW LEVEL SECURITY has no effect unless `row_level_security = true`",
            );
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        rename_owner(r, &mut self.owner);
        for c in &mut self.column {
            sql::rename_schemas(r, &mut c.ty);
            for sql in [&mut c.default, &mut c.generated].into_iter().flatten() {
                sql::rename_schemas(r, sql);
            }
        }
        for c in &mut self.check {
            sql::rename_schemas(r, &mut c.expression);
        }
        for x in &mut self.exclude {
            sql::rename_schemas(r, &mut x.definition);
        }
        for text in [&mut self.partition_of, &mut self.partition_by].into_iter().flatten() {
            sql::rename_schemas(r, text);
        }
        for fk in &mut self.foreign_key {
            if let Some(s) = &mut fk.references.schema {
                r.name(&SCHEMA_SCOPE, s);
            }
        }
    }
}

/// One column: its type and expressions parse, and identity, default and generated do not conflict.
fn check_column(cx: &mut Checker<'_>, f: &str, c: &Column) {
    if let Err(e) = sql::check_type(&c.ty) {
        cx.error(&format!("{f}.type"), "invalid-sql", e.to_string());
    }
    for (field, expr) in [("default", &c.default), ("generated", &c.generated)] {
        if let Some(e) = expr
            && let Err(msg) = sql::check_expr(e)
        {
            cx.error(
                &format!("{f}.{field}"),
                "invalid-sql",
                format!("`{field}` must be one SQL expression: {msg}"),
            );
        }
    }
    if c.identity.is_some() {
        if c.default.is_some() {
            cx.error(
                &format!("{f}.default"),
                "conflict",
                format!("column `{}` has both a default and an identity", c.name),
            )
            .help = Some("an identity column generates its own values; remove `default`".into());
        }
        if !INTEGER_TYPES.contains(&c.ty.trim().to_ascii_lowercase().as_str()) {
            cx.error(
                &format!("{f}.identity"),
                "conflict",
                format!("identity column `{}` has type `{}`", c.name, c.ty),
            )
            .help = Some("identity columns are smallint, integer or bigint".into());
        }
        if c.nullable == Some(true) {
            cx.error(
                &format!("{f}.nullable"),
                "conflict",
                "an identity column is always NOT NULL",
            );
        }
    }
    if c.generated.is_some() && (c.default.is_some() || c.identity.is_some()) {
        cx.error(
            &format!("{f}.generated"),
            "conflict",
            format!(
                "generated column `{}` cannot also have a default or an identity",
                c.name
            ),
        );
    }
}

impl Table {
    /// Columns named by a key exist; the primary key's are not nullable.
    fn check_cols(&self, cx: &mut Checker<'_>, field: String, cols: &[String]) {
        if cols.is_empty() {
            cx.error(&field, "empty", "at least one column is needed");
        }
        for c in cols {
            if !self.column.iter().any(|x| &x.name == c) {
                let cand = did_you_mean_col(c, &self.column);
                let e = cx.error(
                    &field,
                    "unknown-column",
                    format!("table `{}` has no column `{c}`", self.name),
                );
                if let Some(s) = cand {
                    e.help = Some(format!("did you mean `{s}`?"));
                }
            }
        }
    }

    /// The primary key, unique keys and foreign keys name columns that exist, in matching numbers.
    fn check_keys(&self, cx: &mut Checker<'_>) {
        if let Some(pk) = &self.primary_key {
            self.check_cols(cx, "primary_key.columns".into(), &pk.columns);
            for c in &pk.columns {
                if let Some(col) = self.column.iter().find(|x| &x.name == c)
                    && col.nullable == Some(true)
                {
                    cx.error(
                        "primary_key",
                        "conflict",
                        format!("primary key column `{c}` is declared nullable"),
                    );
                }
            }
        }
        for (i, u) in self.unique.iter().enumerate() {
            self.check_cols(cx, format!("unique[{i}].columns"), &u.columns);
        }
        for (i, fk) in self.foreign_key.iter().enumerate() {
            self.check_cols(cx, format!("foreign_key[{i}].columns"), &fk.columns);
            self.check_foreign_key(cx, i, fk);
        }
    }

    fn check_foreign_key(&self, cx: &mut Checker<'_>, i: usize, fk: &ForeignKey) {
        if !fk.references.columns.is_empty() && fk.references.columns.len() != fk.columns.len() {
            cx.error(
                &format!("foreign_key[{i}].references"),
                "conflict",
                format!(
                    "the foreign key has {} column(s) but references {}",
                    fk.columns.len(),
                    fk.references.columns.len()
                ),
            );
        }
        if matches!(fk.on_delete, Some(FkAction::SetNull)) {
            for c in &fk.columns {
                if self
                    .column
                    .iter()
                    .any(|x| &x.name == c && x.nullable == Some(false))
                {
                    cx.error(
                        &format!("foreign_key[{i}].on_delete"),
                        "conflict",
                        format!("ON DELETE SET NULL on NOT NULL column `{c}`"),
                    );
                }
            }
        }
    }
}

/// Soft references to what an expression of `field` uses in the tenant's schemas: the sequences it calls
/// `nextval` on, and the functions it calls (any overload of the name: [`crate::model::address::OVERLOADS`]).
pub fn uses(field: &str, text: &str, schema: &str, tenant: &Tenant) -> Vec<Reference> {
    let used = sql::used(text, schema);
    let sequences = used.sequences.iter().map(|(s, n)| (s, addr("sequence", &[s, n])));
    let calls = used
        .calls
        .iter()
        .map(|(s, n)| {
            let family = format!("{n}{}", crate::model::address::OVERLOADS);
            (s, addr("function", &[s, &family]), Some(addr("aggregate", &[s, &family])))
        });
    sequences
        .map(|(s, a)| (s, a, None))
        .chain(calls)
        .filter(|(s, _, _)| schema_in_scope(s, tenant))
        .map(|(_, a, or)| match or {
            Some(alt) => Reference::soft(field, a).or(alt),
            None => Reference::soft(field, a),
        })
        .collect()
}

/// An owner is created before what it owns (when the manifest declares it: roles are cluster-wide).
pub fn owner_reference(owner: &Option<String>) -> Option<Reference> {
    owner.as_ref().map(|o| Reference::soft("owner", addr("role", &[o])))
}

/// Renames an owner that names the tenant (`acme_owner` becomes `globex_owner`).
pub fn rename_owner(r: &crate::domains::rename::Renamer, owner: &mut Option<String>) {
    if let Some(o) = owner {
        r.tenant_word(o);
    }
}

/// The extension that provides a column type, for the common extension types.
pub fn extension_of_type(ty: &str) -> Option<&'static str> {
    let base = ty
        .trim()
        .trim_end_matches("[]")
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    Some(match base.as_str() {
        "citext" => "citext",
        "hstore" => "hstore",
        "ltree" | "lquery" | "ltxtquery" => "ltree",
        "vector" | "halfvec" | "sparsevec" => "vector",
        "geometry" | "geography" | "box2d" | "box3d" => "postgis",
        "cube" => "cube",
        "isbn" | "isbn13" | "issn" | "issn13" | "ean13" | "upc" | "ismn" | "ismn13" => "isn",
        "seg" => "seg",
        _ => return None,
    })
}

fn did_you_mean_col<'a>(c: &str, cols: &'a [Column]) -> Option<&'a str> {
    crate::diag::did_you_mean(c, cols.iter().map(|x| x.name.as_str()))
}

static INDEX: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "index",
    title: "PostgreSQL index",
    identity: &["schema", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("table", IMMUTABLE),
        FieldMeta::new("columns", IMMUTABLE),
        FieldMeta::new("unique", IMMUTABLE),
        FieldMeta::new("method", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("include", IMMUTABLE | SET),
        FieldMeta::new("where", IMMUTABLE),
        FieldMeta::new("nulls_not_distinct", IMMUTABLE),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Index {
    kind_basics!(INDEX, |self| { vec![self.schema.clone(), self.name.clone()] });
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        vec![
            Reference::to("table", addr("table", &[&self.schema, &self.table]))
                .or(addr("view", &[&self.schema, &self.table])),
        ]
    }
    fn hazards(&self, live: Option<&Self>, cx: &super::HazardCx<'_>) -> Vec<Hazard> {
        // A change of the comment alone builds nothing.
        let rebuilt = live.is_none_or(|l| {
            Index {
                comment: l.comment.clone(),
                ..self.clone()
            } != *l
        });
        if rebuilt && (cx.live)(&addr("table", &[&self.schema, &self.table])) {
            vec![Hazard::new(
                HazardCode::LocksTable,
                format!("building index `{}` blocks writes to {}.{} \
                         while it runs", self.name, self.schema, self.table),
            )]
        } else {
            Vec::new()
        }
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        if self.columns.is_empty() {
            cx.error(
                "columns",
                "empty",
                "an index needs at least one column or expression",
            );
        }
        if let Some(p) = &self.predicate
            && let Err(msg) = sql::check_expr(p)
        {
            cx.error("where", "invalid-sql", format!("`where` must be one SQL expression: {msg}"));
        }
        for (i, k) in self.columns.iter().enumerate() {
            if let Some(e) = &k.expression
                && let Err(msg) = sql::check_expr(e)
            {
                cx.error(&format!("columns[{i}]"), "invalid-sql", format!("an index expression \
                    must be one SQL expression: {msg}"));
            }
            match (&k.column, &k.expression) {
                (Some(_), Some(_)) => {
                    cx.error(
                        &format!("columns[{i}]"),
                        "conflict",
                        "an index key is a `column` or an `expression`, not both",
                    );
                }
                (None, None) => {
                    cx.error(
                        &format!("columns[{i}]"),
                        "missing",
                        "an index key needs a `column` or an `expression`",
                    );
                }
                _ => {}
            }
        }
        if self.method == Some(IndexMethod::Hash) {
            if self.unique == Some(true) {
                cx.error("unique", "conflict", "hash indexes cannot be unique");
            }
            if self.columns.len() > 1 {
                cx.error("columns", "conflict", "hash indexes have exactly one key");
            }
        }
        if !matches!(self.method, None | Some(IndexMethod::Btree)) && self.unique == Some(true) {
            cx.error("unique", "conflict", "only btree indexes can be unique");
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        for k in &mut self.columns {
            if let Some(e) = &mut k.expression {
                sql::rename_schemas(r, e);
            }
        }
        if let Some(p) = &mut self.predicate {
            sql::rename_schemas(r, p);
        }
    }
}

static VIEW: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "view",
    title: "PostgreSQL view",
    identity: &["schema", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("owner", SERVER_DEFAULT),
        FieldMeta::new("materialized", IMMUTABLE),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for View {
    kind_basics!(VIEW, |self| { vec![self.schema.clone(), self.name.clone()] });
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        // The relations its query reads: created before it, and dropped after it.
        let mut out = vec![Reference::soft("schema", addr("schema", &[&self.schema]))];
        out.extend(uses("query", &self.query, &self.schema, tenant));
        out.extend(owner_reference(&self.owner));
        for (schema, name) in sql::relations(&self.query, &self.schema) {
            if schema == self.schema && name == self.name {
                continue;
            }
            let table = addr("table", &[&schema, &name]);
            out.push(Reference::soft("query", table).or(addr("view", &[&schema, &name])));
        }
        out
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        if let Err(msg) = sql::check_query(&self.query) {
            cx.error("query", "invalid-sql", format!("a view is one SQL query: {msg}"));
        }
        if self.materialized == Some(true) && self.check_option.is_some() {
            cx.error(
                "check_option",
                "conflict",
                "a materialized view has no check option",
            );
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        rename_owner(r, &mut self.owner);
        sql::rename_schemas(r, &mut self.query);
    }
}

static POLICY: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "policy",
    title: "PostgreSQL row-level-security policy",
    identity: &["schema", "table", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("table", IMMUTABLE),
        FieldMeta::new("command", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("mode", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("roles", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Policy {
    kind_basics!(POLICY, |self| { vec![self.schema.clone(), self.table.clone(), self.name.clone()] });
    fn delete_hazards(&self) -> Vec<Hazard> {
        if self.mode == Some(PolicyMode::Restrictive) {
            vec![Hazard::new(
                HazardCode::WidensAccess,
                format!("dropping restrictive policy `{}` on {}.{} makes the rows it \
                         hid visible", self.name, self.schema, self.table),
            )]
        } else {
            Vec::new()
        }
    }
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        match live {
            Some(l) if l.mode == Some(PolicyMode::Restrictive) && self.mode != Some(PolicyMode::Restrictive) => vec![Hazard::new(
                HazardCode::WidensAccess,
                format!("policy `{}` on {}.{} stops being restrictive: rows it hid \
                         become visible", self.name, self.schema, self.table),
            )],
            _ => Vec::new(),
        }
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let mut r = vec![Reference::to(
            "table",
            addr("table", &[&self.schema, &self.table]),
        )];
        for (i, role) in self.roles.iter().enumerate() {
            if !is_builtin_role(role) {
                r.push(Reference::soft(
                    format!("roles[{i}]"),
                    addr("role", &[role]),
                ));
            }
        }
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        for (field, expr) in [("using", &self.using), ("with_check", &self.with_check)] {
            if let Some(e) = expr
                && let Err(msg) = sql::check_expr(e)
            {
                cx.error(field, "invalid-sql", format!("`{field}` must be one SQL \
                                                        expression: {msg}"));
            }
        }
        let cmd = self.command.unwrap_or(PolicyCommand::All);
        if self.using.is_none() && self.with_check.is_none() {
            cx.error(
                "",
                "missing",
                "a policy needs `using`, `with_check`, or both",
            );
        }
        if cmd == PolicyCommand::Insert && self.using.is_some() {
            cx.error(
                "using",
                "conflict",
                "an INSERT policy takes only `with_check`",
            );
        }
        if matches!(cmd, PolicyCommand::Select | PolicyCommand::Delete) && self.with_check.is_some()
        {
            cx.error(
                "with_check",
                "conflict",
                "SELECT and DELETE policies take only `using`",
            );
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        for role in &mut self.roles {
            r.tenant_word(role);
        }
        for sql in [&mut self.using, &mut self.with_check].into_iter().flatten() {
            sql::rename_schemas(r, sql);
        }
    }
}

fn is_builtin_role(r: &str) -> bool {
    matches!(
        r,
        "public" | "PUBLIC" | "current_user" | "current_role" | "session_user"
    )
}

static GRANT: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "grant",
    title: "PostgreSQL grant",
    identity: &["schema", "object", "grantee"],
    holds_data: false,
    fields: &[
        FieldMeta::new("object_type", SERVER_DEFAULT),
        FieldMeta::new("privileges", SET),
        FieldMeta::new("columns", SET),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Grant {
    kind_basics!(GRANT, |self| { vec![
            self.schema.clone(),
            self.object.clone(),
            self.grantee.clone(),
        ] });
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        if !self.grantee.eq_ignore_ascii_case("public") {
            return Vec::new();
        }
        let added: Vec<String> = self
            .privileges
            .iter()
            .filter(|p| live.is_none_or(|l| !l.privileges.contains(p)))
            .map(|p| format!("{p:?}").to_uppercase())
            .collect();
        if added.is_empty() {
            return Vec::new();
        }
        vec![Hazard::new(
            HazardCode::WidensAccess,
            format!("grants {} on {}.{} to PUBLIC: every \
                     role gets it", added.join(", "), self.schema, self.object),
        )]
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let mut r = Vec::new();
        match self.object_type {
            Some(GrantObject::Sequence) => {}
            Some(GrantObject::View) => r.push(Reference::to(
                "object",
                addr("view", &[&self.schema, &self.object]),
            )),
            Some(GrantObject::Table) | None => r.push(
                Reference::to("object", addr("table", &[&self.schema, &self.object]))
                    .or(addr("view", &[&self.schema, &self.object])),
            ),
        }
        if !is_builtin_role(&self.grantee) {
            r.push(Reference::soft("grantee", addr("role", &[&self.grantee])));
        }
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn normalize(&mut self) {
        for privileges in self.columns.values_mut() {
            privileges.sort();
            privileges.dedup();
        }
        self.columns.retain(|_, p| !p.is_empty());
        // Without the grant option is how the server shows a grant without it.
        if self.with_grant_option == Some(false) {
            self.with_grant_option = None;
        }
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("grantee", &self.grantee, cx);
        in_schema_scope(&self.schema, cx);
        if self.privileges.is_empty() && self.columns.values().all(Vec::is_empty) {
            cx.error(
                "privileges",
                "empty",
                "a grant needs at least one privilege (on the object, or on a column)",
            );
        }
        for (column, privileges) in &self.columns {
            ident(&format!("columns.{column}"), column, cx);
            let column_kind = |p: &Privilege| {
                matches!(p, Privilege::Select | Privilege::Insert | Privilege::Update | Privilege::References)
            };
            if let Some(p) = privileges.iter().find(|p| !column_kind(p)) {
                let p = format!("{p:?}").to_uppercase();
                cx.error(&format!("columns.{column}"), "invalid-value", format!("{p} cannot be granted on a \
                    column (SELECT, INSERT, UPDATE and REFERENCES can)"));
            }
        }
        let seq = self.object_type == Some(GrantObject::Sequence);
        for p in &self.privileges {
            let ok = match p {
                Privilege::Usage => seq,
                Privilege::Select | Privilege::Update | Privilege::All => true,
                _ => !seq,
            };
            if !ok {
                let on = if seq { "a sequence" } else { "a table or view" };
                let p = format!("{p:?}").to_uppercase();
                cx.error(
                    "privileges",
                    "invalid-value",
                    format!("{p} cannot be granted on {on}"),
                );
            }
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        r.tenant_word(&mut self.grantee);
    }
}
