//! Inspection of a tenant's PostgreSQL objects with a fixed number of catalog queries (seventeen with the
//! roles'), whatever the number of objects: one query per kind of catalog row, for all the tenant's schemas
//! at once.
//!
//! Values are read in the server's own spelling (`format_type`, `pg_get_expr`, `pg_get_indexdef`,
//! `pg_get_viewdef`), which is also how exported manifests write them, so that export then plan shows no
//! changes.

use crate::util::Within;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::PgPool;

use super::sql::{quote_literal, split_ident, unquote};
use super::*;
use crate::domains::Spec;
use crate::model::{SecretValue, Tenant};

/// Everything inspected, by kind.
#[derive(Debug, Default)]
pub struct Inspected {
    pub resources: Vec<Spec>,
    /// How many catalog queries ran (for tests: it must not grow with the number of objects).
    pub queries: usize,
}

// Catalog rows, decoded by column name.

#[derive(Clone, sqlx::FromRow)]
struct SchemaRow {
    name: String,
    owner: String,
    comment: Option<String>,
}

#[derive(Clone, sqlx::FromRow)]
struct AclRow {
    schema: String,
    object: String,
    kind: String,
    grantee: String,
    privilege: String,
    grantable: bool,
    /// A column's privilege (`GRANT SELECT (email)`); none for the object's own.
    column: Option<String>,
}

#[derive(Clone, sqlx::FromRow)]
struct ExtensionRow {
    name: String,
    schema: String,
    version: String,
}

#[derive(Clone, sqlx::FromRow)]
struct TableRow {
    oid: i64,
    schema: String,
    name: String,
    owner: String,
    rls: bool,
    force_rls: bool,
    comment: Option<String>,
    partition_by: Option<String>,
    parent_schema: Option<String>,
    parent: Option<String>,
    bound: Option<String>,
    unlogged: bool,
    storage: Vec<String>,
}

#[derive(Clone, sqlx::FromRow)]
struct ColumnRow {
    table_oid: i64,
    number: i32,
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
    identity: String,
    generated: String,
    collation: Option<String>,
    comment: Option<String>,
    /// Declared by the table itself (a partition's columns are its parent's).
    is_local: bool,
    /// The column's own privileges, when it has any, each as `PRIVILEGE grantable grantee` (the owner's
    /// left out).
    acl: Option<Vec<String>>,
}

#[derive(Clone, sqlx::FromRow)]
struct ConstraintRow {
    table_oid: i64,
    name: String,
    kind: String,
    /// The constrained columns' numbers, and their names once [`name_constraint_columns`] has run.
    keys: Vec<i16>,
    #[sqlx(skip)]
    columns: Vec<String>,
    /// A foreign key's referenced table and columns (numbers; names as [`Self::columns`]).
    ref_oid: i64,
    ref_keys: Vec<i16>,
    ref_schema: Option<String>,
    ref_table: Option<String>,
    #[sqlx(skip)]
    ref_columns: Vec<String>,
    on_delete: String,
    on_update: String,
    deferrable: bool,
    initially_deferred: bool,
    expression: Option<String>,
    nulls_not_distinct: bool,
    /// Declared by the table itself (not a partition's copy of its parent's).
    is_local: bool,
    /// An exclusion constraint's definition (`EXCLUDE USING ...`).
    definition: Option<String>,
}

#[derive(Clone, sqlx::FromRow)]
struct IndexRow {
    schema: String,
    name: String,
    table: String,
    is_unique: bool,
    method: String,
    predicate: Option<String>,
    key_count: i16,
    keys: Vec<String>,
    options: Vec<i16>,
    nulls_not_distinct: bool,
    comment: Option<String>,
    /// Each key's operator class (oid), named by [`OPCLASS_SQL`] when it is not its type's default.
    opclasses: Vec<i64>,
}

/// An operator class that is not its type's default (`varchar_pattern_ops`), by oid, with its name as an
/// index key writes it.
#[derive(Clone, sqlx::FromRow)]
struct OpclassRow {
    oid: i64,
    name: String,
}

#[derive(Clone, sqlx::FromRow)]
struct ViewRow {
    schema: String,
    name: String,
    owner: String,
    kind: String,
    definition: String,
    comment: Option<String>,
    options: Vec<String>,
}

#[derive(Clone, sqlx::FromRow)]
struct PolicyRow {
    schema: String,
    table: String,
    name: String,
    command: String,
    permissive: bool,
    roles: Vec<String>,
    using: Option<String>,
    with_check: Option<String>,
}

#[derive(Clone, sqlx::FromRow)]
struct RoleRow {
    name: String,
    login: bool,
    inherit: bool,
    bypass_rls: bool,
    connection_limit: i32,
    member_of: Vec<String>,
    comment: Option<String>,
    settings: Vec<String>,
    database_settings: Vec<String>,
}

/// Up to `n` read-only transactions that all read one snapshot (as `pg_dump --jobs` does), so that queries
/// running at once see one consistent catalog. Where a snapshot cannot be exported (a connection pooler,
/// a pool of one), a single transaction.
async fn snapshot(
    pool: &PgPool,
    n: usize,
) -> Result<Vec<sqlx::Transaction<'static, sqlx::Postgres>>, sqlx::Error> {
    const READ: &str = "set transaction isolation level repeatable read, read only";
    let mut first = pool.begin().within("PostgreSQL").await?;
    sqlx::query(READ).execute(&mut *first).within("PostgreSQL").await?;
    let mut txs = Vec::with_capacity(n);
    let exported: Result<String, _> = sqlx::query_scalar("select pg_export_snapshot()")
        .fetch_one(&mut *first)
        .within("PostgreSQL")
        .await;
    txs.push(first);
    let Ok(id) = exported else {
        return Ok(txs);
    };
    let max = pool.options().get_max_connections();
    let n = n.min(max as usize);
    for _ in 1..n {
        // Only a connection that is free or can be opened now: waiting for one while holding another
        // would starve the other readers sharing the pool (a fleet's tenants).
        if pool.num_idle() == 0 && pool.size() >= max {
            break;
        }
        let Ok(Ok(mut tx)) =
            tokio::time::timeout(std::time::Duration::from_secs(1), pool.begin()).await
        else {
            break;
        };
        sqlx::query(READ).execute(&mut *tx).within("PostgreSQL").await?;
        sqlx::query(&format!("set transaction snapshot {}", quote_literal(&id)))
            .execute(&mut *tx)
            .within("PostgreSQL")
            .await?;
        txs.push(tx);
    }
    Ok(txs)
}

// The catalog queries; `$1` is the tenant's schemas, or (`::oid[]`) the oids of its relations
// (RELATION_SQL: an extension's members are the extension's, never read as the tenant's own). The
// catalog has no index on a relation's namespace, so only RELATION_SQL reads
// all of `pg_class`; the rest go by oid (indexed), and a fleet of tenants in one database stays linear.
const RELATION_SQL: &str = "select c.oid::int8 from pg_class c
         where c.relnamespace = any(array(select n.oid from pg_namespace n where n.nspname = any($1)))
           and c.relkind in ('r', 'p', 'v', 'm', 'S')
           and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                             and d.objid = c.oid and d.deptype = 'e')";
const SCHEMA_SQL: &str =
    "select n.nspname::text as name, pg_get_userbyid(n.nspowner)::text as owner,
                ds.description as comment
         from pg_namespace n
         left join pg_description ds on ds.objoid = n.oid and ds.classoid = 'pg_namespace'::regclass and ds.objsubid = 0
         where n.nspname = any($1) order by 1";
const SCHEMA_ACL_SQL: &str = "select n.nspname::text as schema, n.nspname::text as object, 'n' as kind,
                coalesce(r.rolname::text, 'public') as grantee, a.privilege_type as privilege, a.is_grantable as grantable,
                null::text as column
         from pg_namespace n cross join lateral aclexplode(n.nspacl) a
         left join pg_roles r on r.oid = a.grantee
         where n.nspname = any($1) and a.grantee <> n.nspowner order by 1, 4, 5";
const EXT_SQL: &str =
    "select e.extname::text as name, n.nspname::text as schema, e.extversion as version
         from pg_extension e join pg_namespace n on n.oid = e.extnamespace
         where e.extname <> 'plpgsql' and ($1::text[] is not null) order by 1";
const TABLE_SQL: &str = "select c.oid::int8 as oid, n.nspname::text as schema, c.relname::text as name,
                pg_get_userbyid(c.relowner)::text as owner,
                c.relrowsecurity as rls, c.relforcerowsecurity as force_rls, ds.description as comment,
                case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partition_by,
                pn.nspname::text as parent_schema, pc.relname::text as parent,
                case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as bound,
                c.relpersistence = 'u' as unlogged, coalesce(c.reloptions, '{}') as storage
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         left join pg_inherits ih on ih.inhrelid = c.oid and c.relispartition
         left join pg_class pc on pc.oid = ih.inhparent left join pg_namespace pn on pn.oid = pc.relnamespace
         left join pg_description ds on ds.objoid = c.oid and ds.classoid = 'pg_class'::regclass and ds.objsubid = 0
         where c.oid = any($1::oid[]) and c.relkind in ('r', 'p') order by 2, 3";
const VIEW_SQL: &str = "select n.nspname::text as schema, c.relname::text as name, c.relkind::text as kind,
                pg_get_userbyid(c.relowner)::text as owner,
                pg_get_viewdef(c.oid, true) as definition, ds.description as comment,
                coalesce(c.reloptions, '{}')::text[] as options
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         left join pg_description ds on ds.objoid = c.oid and ds.classoid = 'pg_class'::regclass and ds.objsubid = 0
         where c.oid = any($1::oid[]) and c.relkind in ('v', 'm') order by 1, 2";
const POLICY_SQL: &str = "select n.nspname::text as schema, c.relname::text as table, p.polname::text as name,
                p.polcmd::text as command, p.polpermissive as permissive,
                coalesce((select array_agg(case when r = 0 then 'public' else pg_get_userbyid(r)::text end order by 1)
                          from unnest(p.polroles) r), '{}') as roles,
                pg_get_expr(p.polqual, p.polrelid, true) as using,
                pg_get_expr(p.polwithcheck, p.polrelid, true) as with_check
         from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
         where p.polrelid = any($1::oid[]) order by 1, 2, 3";
const GRANT_SQL: &str = "select n.nspname::text as schema, c.relname::text as object, c.relkind::text as kind,
                coalesce(r.rolname::text, 'public') as grantee, a.privilege_type as privilege, a.is_grantable as grantable,
                null::text as column
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         cross join lateral aclexplode(c.relacl) a left join pg_roles r on r.oid = a.grantee
         where c.oid = any($1::oid[]) and a.grantee <> c.relowner
         order by 1, 2, 4, 5";
const COLUMN_SQL: &str = "select a.attrelid::int8 as table_oid, a.attnum::int4 as number, a.attname::text as name,
                format_type(a.atttypid, a.atttypmod) as ty, a.attnotnull as not_null,
                pg_get_expr(d.adbin, d.adrelid, true) as default, a.attidentity::text as identity,
                a.attgenerated::text as generated,
                case when a.attcollation <> 0 and a.attcollation <> t.typcollation then co.collname::text end as collation,
                ds.description as comment, a.attislocal as is_local,
                case when a.attacl is not null then
                  array(select x.privilege_type || ' ' || x.is_grantable::text || ' '
                               || case when x.grantee = 0 then 'public' else pg_get_userbyid(x.grantee)::text end
                          from aclexplode(a.attacl) x where x.grantee <> c.relowner order by x.privilege_type) end as acl
         from pg_class c join pg_attribute a on a.attrelid = c.oid
         join pg_type t on t.oid = a.atttypid
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
         left join pg_collation co on co.oid = a.attcollation
         left join pg_description ds on ds.objoid = a.attrelid and ds.classoid = 'pg_class'::regclass
                                    and ds.objsubid = a.attnum
         where c.oid = any($1::oid[]) and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
         order by a.attrelid, a.attnum";
/// The constraints of the tables `$1` (oids), their columns by number (named by
/// [`name_constraint_columns`]).
const CONSTRAINT_SQL: &str = "select c.conrelid::int8 as table_oid, c.conname::text as name, c.contype::text as kind,
                coalesce(c.conkey, '{}') as keys, c.confrelid::int8 as ref_oid, coalesce(c.confkey, '{}') as ref_keys,
                fn.nspname::text as ref_schema, fc.relname::text as ref_table,
                c.confdeltype::text as on_delete, c.confupdtype::text as on_update, c.condeferrable as deferrable,
                c.condeferred as initially_deferred,
                pg_get_expr(c.conbin, c.conrelid, true) as expression,
                coalesce(ci.indnullsnotdistinct, false) as nulls_not_distinct,
                c.conislocal as is_local,
                case when c.contype = 'x' then pg_get_constraintdef(c.oid, true) end as definition
         from pg_constraint c
         left join pg_class fc on fc.oid = c.confrelid left join pg_namespace fn on fn.oid = fc.relnamespace
         left join pg_index ci on ci.indexrelid = c.conindid and c.contype = 'u'
         where c.conrelid = any($1::oid[]) and c.contype in ('p', 'u', 'c', 'f', 'x')
         order by c.conrelid, c.contype, c.conname";
/// The operator classes that are not their type's default (the database's: a few hundred at most).
const OPCLASS_SQL: &str = "select oc.oid::int8 as oid,
                case when ocn.nspname = 'pg_catalog' then oc.opcname::text else ocn.nspname || '.' || oc.opcname end as name
         from pg_opclass oc join pg_namespace ocn on ocn.oid = oc.opcnamespace
         where not oc.opcdefault and ($1::text[] is not null)";
/// The columns of tables `$1` (oids) that the columns query did not read: those a foreign key references
/// outside the tenant's schemas.
const REFERENCED_COLUMN_SQL: &str = "select a.attrelid::int8 as table_oid, a.attnum::int4 as number, a.attname::text as name
         from pg_attribute a where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped";
const INDEX_SQL: &str = "select n.nspname::text as schema, ic.relname::text as name, t.relname::text as table,
                i.indisunique as is_unique, am.amname::text as method,
                pg_get_expr(i.indpred, i.indrelid, true) as predicate, i.indnkeyatts as key_count,
                array(select pg_get_indexdef(i.indexrelid, k, true) from generate_series(1, i.indnatts) k) as keys,
                string_to_array(i.indoption::text, ' ')::int2[] as options,
                i.indnullsnotdistinct as nulls_not_distinct, ds.description as comment,
                string_to_array(i.indclass::text, ' ')::int8[] as opclasses
         from pg_index i join pg_class ic on ic.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
         join pg_namespace n on n.oid = t.relnamespace join pg_am am on am.oid = ic.relam
         left join pg_description ds on ds.objoid = ic.oid and ds.classoid = 'pg_class'::regclass and ds.objsubid = 0
         where i.indrelid = any($1::oid[])
           and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.contype in ('p', 'u', 'x'))
           and not exists (select 1 from pg_inherits ih where ih.inhrelid = i.indexrelid)
         order by 1, 2";

/// Inspects the tenant's schemas.
pub async fn inspect(pool: &PgPool, tenant: &Tenant) -> Result<Inspected, sqlx::Error> {
    inspect_with_roles(pool, tenant, &[]).await
}

/// Like [`inspect`], and also reads `roles` (those the manifest declares or falconer manages) whether or
/// not anything in the tenant's schemas refers to them.
pub async fn inspect_with_roles(
    pool: &PgPool,
    tenant: &Tenant,
    roles: &[String],
) -> Result<Inspected, sqlx::Error> {
    let mut txs = snapshot(pool, 4).await?;
    let mut rows = catalog(&mut txs, &tenant.names(&super::SCHEMA_SCOPE)).await?;
    let first = txs.first_mut().ok_or(sqlx::Error::PoolClosed)?;
    rows.role_rows = read_roles(&mut **first, &rows.role_names(roles)).await?;
    rows.queries += 1;
    for tx in txs {
        tx.rollback().within("PostgreSQL").await?;
    }
    Ok(resources_of(rows))
}

/// The catalog rows of every schema of a fleet's tenants, read once with the queries one tenant's
/// inspection makes (a fleet's run that only reads: [`crate::domains::provider::Provider::share_reads`]);
/// each tenant then takes its schemas' share, and reads only the roles it names.
pub struct Fleet {
    schemas: Vec<String>,
    /// Set once read (a failed read is not kept: the next tenant, or the retry, reads again).
    rows: tokio::sync::OnceCell<HashMap<String, Rows>>,
}

impl Fleet {
    pub fn new(tenants: &[Tenant]) -> Fleet {
        let schemas: BTreeSet<String> = tenants.iter().flat_map(|t| t.names(&super::SCHEMA_SCOPE)).collect();
        Fleet {
            schemas: schemas.into_iter().collect(),
            rows: tokio::sync::OnceCell::new(),
        }
    }

    /// Every schema of the fleet's tenants, sorted.
    pub fn schemas(&self) -> &[String] {
        &self.schemas
    }

    /// Whether the fleet's read holds every schema of `tenant`.
    pub fn covers(&self, tenant: &Tenant) -> bool {
        let schemas = tenant.names(&super::SCHEMA_SCOPE);
        schemas
            .iter()
            .all(|s| self.schemas.binary_search(s).is_ok())
    }
}

/// Like [`inspect_with_roles`], for a tenant the fleet covers ([`Fleet::covers`]): the fleet's catalog is
/// read by the first tenant that asks, on one snapshot; the tenant's roles are read on their own.
pub async fn inspect_in_fleet(
    pool: &PgPool,
    fleet: &Fleet,
    tenant: &Tenant,
    roles: &[String],
) -> Result<Inspected, std::sync::Arc<sqlx::Error>> {
    let read = async {
        let mut txs = snapshot(pool, 4).await?;
        let rows = catalog(&mut txs, &fleet.schemas).await?;
        for tx in txs {
            tx.rollback().within("PostgreSQL").await?;
        }
        Ok(rows.by_schema())
    };
    let parts = fleet
        .rows
        .get_or_try_init(|| async { read.await.map_err(std::sync::Arc::new) })
        .await?;
    let mut rows = Rows::default();
    for schema in tenant.names(&super::SCHEMA_SCOPE) {
        if let Some(part) = parts.get(&schema) {
            rows.extend(part.clone());
        }
    }
    rows.queries = 0;
    rows.role_rows = read_roles(pool, &rows.role_names(roles)).await?;
    rows.queries += 1;
    Ok(resources_of(rows))
}

/// The resources the catalog rows describe.
fn resources_of(rows: Rows) -> Inspected {
    let mut out = Inspected {
        queries: rows.queries,
        ..Inspected::default()
    };
    let r = &mut out.resources;
    r.extend(roles_of(rows.role_rows));
    r.extend(extensions_of(rows.ext_rows));
    r.extend(schemas_of(rows.schema_rows, rows.schema_acl));
    r.extend(types::of_rows(rows.type_rows));
    let of_columns = sequence::of_columns(&rows.sequence_rows);
    let (tables, serials) = tables_of(rows.table_rows, rows.column_rows, rows.constraint_rows, &of_columns);
    r.extend(sequence::of_rows(rows.sequence_rows, &serials));
    r.extend(function::of_rows(rows.function_rows));
    r.extend(aggregate::of_rows(rows.aggregate_rows));
    r.extend(tables);
    r.extend(indexes_of(rows.index_rows, &rows.opclass_rows));
    r.extend(views_of(rows.view_rows));
    r.extend(policies_of(rows.policy_rows));
    r.extend(grants_of(rows.grant_rows));
    r.extend(trigger::of_rows(rows.trigger_rows));
    r.extend(default_privileges::of_rows(rows.default_privilege_rows));
    out
}

/// Everything the catalog says of some schemas, and of the roles they use.
#[derive(Clone, Default)]
struct Rows {
    schema_rows: Vec<SchemaRow>,
    schema_acl: Vec<AclRow>,
    ext_rows: Vec<ExtensionRow>,
    table_rows: Vec<TableRow>,
    view_rows: Vec<ViewRow>,
    policy_rows: Vec<PolicyRow>,
    grant_rows: Vec<AclRow>,
    column_rows: Vec<ColumnRow>,
    constraint_rows: Vec<ConstraintRow>,
    index_rows: Vec<IndexRow>,
    type_rows: Vec<types::Row>,
    sequence_rows: Vec<sequence::Row>,
    function_rows: Vec<function::Row>,
    aggregate_rows: Vec<aggregate::Row>,
    trigger_rows: Vec<trigger::Row>,
    default_privilege_rows: Vec<default_privileges::Row>,
    /// The database's operator classes that are not their type's default.
    opclass_rows: Vec<OpclassRow>,
    role_rows: Vec<RoleRow>,
    queries: usize,
}

impl Rows {
    /// The roles to read: those the privileges and policies name, and `also` (roles are cluster-wide:
    /// only these).
    fn role_names(&self, also: &[String]) -> Vec<String> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        names.extend(self.schema_acl.iter().map(|r| r.grantee.clone()));
        names.extend(self.grant_rows.iter().map(|r| r.grantee.clone()));
        names.extend(self.policy_rows.iter().flat_map(|r| r.roles.iter().cloned()));
        names.extend(self.default_privilege_rows.iter().map(|r| r.grantee().to_string()));
        names.extend(also.iter().cloned());
        names.remove("public");
        names.into_iter().collect()
    }

    /// The rows of each schema (the extensions, which belong to the database, with every schema; the
    /// columns and constraints with their table's schema), each kind in the order it was read.
    fn by_schema(self) -> HashMap<String, Rows> {
        let mut parts: HashMap<String, Rows> = HashMap::new();
        let schema_of: HashMap<i64, String> = self
            .table_rows
            .iter()
            .map(|t| (t.oid, t.schema.clone()))
            .collect();
        for r in &self.schema_rows {
            parts.insert(
                r.name.clone(),
                Rows {
                    ext_rows: self.ext_rows.clone(),
                    opclass_rows: self.opclass_rows.clone(),
                    ..Rows::default()
                },
            );
        }
        // Each kind's rows to its schema's part: by their table's schema, or by the schema they name.
        macro_rules! share {
            (by table: $($kind:ident),*) => {$(
                for r in self.$kind {
                    if let Some(s) = schema_of.get(&r.table_oid) {
                        parts.entry(s.clone()).or_default().$kind.push(r);
                    }
                }
            )*};
            ($($kind:ident by $schema:ident),*) => {$(
                for r in self.$kind {
                    parts.entry(r.$schema.clone()).or_default().$kind.push(r);
                }
            )*};
        }
        share!(by table: column_rows, constraint_rows);
        share!(schema_rows by name, schema_acl by schema, table_rows by schema, view_rows by schema,
            policy_rows by schema, grant_rows by schema, index_rows by schema);
        macro_rules! share_by_schema {
            ($($kind:ident),*) => {$(
                for r in self.$kind {
                    parts.entry(r.schema().to_string()).or_default().$kind.push(r);
                }
            )*};
        }
        share_by_schema!(type_rows, sequence_rows, function_rows, aggregate_rows, trigger_rows, default_privilege_rows);
        parts
    }

    /// Adds another schema's rows (the extensions are the database's: kept once).
    fn extend(&mut self, other: Rows) {
        if self.ext_rows.is_empty() {
            self.ext_rows = other.ext_rows;
        }
        if self.opclass_rows.is_empty() {
            self.opclass_rows = other.opclass_rows;
        }
        self.schema_rows.extend(other.schema_rows);
        self.schema_acl.extend(other.schema_acl);
        self.table_rows.extend(other.table_rows);
        self.view_rows.extend(other.view_rows);
        self.policy_rows.extend(other.policy_rows);
        self.grant_rows.extend(other.grant_rows);
        self.column_rows.extend(other.column_rows);
        self.constraint_rows.extend(other.constraint_rows);
        self.index_rows.extend(other.index_rows);
        self.type_rows.extend(other.type_rows);
        self.sequence_rows.extend(other.sequence_rows);
        self.function_rows.extend(other.function_rows);
        self.aggregate_rows.extend(other.aggregate_rows);
        self.trigger_rows.extend(other.trigger_rows);
        self.default_privilege_rows.extend(other.default_privilege_rows);
    }
}

/// The roles named, with their attributes and memberships.
async fn read_roles<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    names: &[String],
) -> Result<Vec<RoleRow>, sqlx::Error> {
    sqlx::query_as(
        "select r.rolname::text as name, r.rolcanlogin as login, r.rolinherit as inherit,
                r.rolbypassrls as bypass_rls, r.rolconnlimit as connection_limit,
                coalesce((select array_agg(b.rolname::text order by 1) from pg_auth_members m
                          join pg_roles b on b.oid = m.roleid where m.member = r.oid), '{}') as member_of,
                shobj_description(r.oid, 'pg_authid') as comment,
                coalesce((select s.setconfig from pg_db_role_setting s
                          where s.setrole = r.oid and s.setdatabase = 0), '{}') as settings,
                coalesce((select s.setconfig from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
                          where s.setrole = r.oid and d.datname = current_database()), '{}') as database_settings
         from pg_roles r where r.rolname = any($1) order by 1",
    )
    .bind(names)
    .fetch_all(executor)
    .within("PostgreSQL")
    .await
}

/// A read-only transaction of a snapshot.
type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Runs the catalog queries of `schemas` (sixteen: the relations first, then the rest at once on the
/// snapshot's connections, `txs`), all but the roles'.
// Long: one line per catalog query, spread over four connections that read one snapshot; the lanes are
// kept together so that which queries share a connection stays visible.
async fn catalog(txs: &mut [Tx], schemas: &[String]) -> Result<Rows, sqlx::Error> {
    let queries = &AtomicUsize::new(0);
    let (first, rest) = txs.split_first_mut().ok_or(sqlx::Error::PoolClosed)?;
    let relations: &Vec<i64> = &sqlx::query_scalar(RELATION_SQL)
        .bind(schemas)
        .fetch_all(&mut **first)
        .within("PostgreSQL")
        .await?;
    // Each query is bound to what it selects by: the schema names, or the relation oids.
    macro_rules! q {
        ($tx:expr, $sql:expr, $by:expr) => {{
            let n = queries.fetch_add(1, Ordering::Relaxed) + 1;
            let started = std::time::Instant::now();
            let query = sqlx::query_as($sql).bind($by);
            let rows = query.fetch_all(&mut **$tx).within("PostgreSQL").await?;
            tracing::debug!(query = n, rows = rows.len(), elapsed = ?started.elapsed(), "catalog query");
            rows
        }};
    }

    // The catalog queries run at once on up to four connections that read one snapshot.
    let mut rest = rest.iter_mut();
    let mut lanes = [rest.next(), rest.next(), rest.next()];
    let small = async {
        let schema_rows: Vec<SchemaRow> = q!(first, SCHEMA_SQL, schemas);
        let schema_acl: Vec<AclRow> = q!(first, SCHEMA_ACL_SQL, schemas);
        let ext_rows: Vec<ExtensionRow> = q!(first, EXT_SQL, schemas);
        let table_rows: Vec<TableRow> = q!(first, TABLE_SQL, relations);
        let view_rows: Vec<ViewRow> = q!(first, VIEW_SQL, relations);
        let policy_rows: Vec<PolicyRow> = q!(first, POLICY_SQL, relations);
        let grant_rows: Vec<AclRow> = q!(first, GRANT_SQL, relations);
        let more = Rows {
            type_rows: q!(first, types::SQL, schemas),
            sequence_rows: q!(first, sequence::SQL, relations),
            function_rows: q!(first, function::SQL, schemas),
            aggregate_rows: q!(first, aggregate::SQL, schemas),
            trigger_rows: q!(first, trigger::SQL, relations),
            default_privilege_rows: q!(first, default_privileges::SQL, schemas),
            opclass_rows: q!(first, OPCLASS_SQL, schemas),
            ..Rows::default()
        };
        Ok::<_, sqlx::Error>((
            (schema_rows, schema_acl, ext_rows, table_rows),
            (view_rows, policy_rows, grant_rows, more),
        ))
    };
    // The big queries each on a connection of their own; without one, on the first after the others.
    macro_rules! lane {
        ($i:expr, $sql:expr) => {{
            let lane = lanes[$i].take();
            async move {
                match lane {
                    Some(tx) => Ok::<_, sqlx::Error>(Some(q!(tx, $sql, relations))),
                    None => Ok(None),
                }
            }
        }};
    }
    let (
        ((schema_rows, schema_acl, ext_rows, table_rows), (view_rows, policy_rows, grant_rows, more)),
        column_rows,
        constraint_rows,
        index_rows,
    ) = tokio::try_join!(
        small,
        lane!(0, COLUMN_SQL),
        lane!(1, CONSTRAINT_SQL),
        lane!(2, INDEX_SQL)
    )?;
    let column_rows: Vec<ColumnRow> = match column_rows {
        Some(rows) => rows,
        None => q!(first, COLUMN_SQL, relations),
    };
    let mut grant_rows = grant_rows;
    grant_rows.extend(column_grants(&table_rows, &column_rows));
    let mut constraint_rows: Vec<ConstraintRow> = match constraint_rows {
        Some(rows) => rows,
        None => q!(first, CONSTRAINT_SQL, relations),
    };
    if name_constraint_columns(first, &mut constraint_rows, &column_rows).await? {
        queries.fetch_add(1, Ordering::Relaxed);
    }
    let index_rows: Vec<IndexRow> = match index_rows {
        Some(rows) => rows,
        None => q!(first, INDEX_SQL, relations),
    };

    Ok(Rows {
        schema_rows,
        schema_acl,
        ext_rows,
        table_rows,
        view_rows,
        policy_rows,
        grant_rows,
        column_rows,
        constraint_rows,
        index_rows,
        role_rows: Vec::new(),
        queries: queries.load(Ordering::Relaxed) + 1,
        ..more
    })
}

/// The columns' own privileges (`GRANT SELECT (email)`), as grant rows of their tables.
fn column_grants(tables: &[TableRow], columns: &[ColumnRow]) -> Vec<AclRow> {
    let table: HashMap<i64, &TableRow> = tables.iter().map(|t| (t.oid, t)).collect();
    let mut out = Vec::new();
    for c in columns {
        let (Some(acl), Some(t)) = (&c.acl, table.get(&c.table_oid)) else {
            continue;
        };
        for item in acl {
            let mut parts = item.splitn(3, ' ');
            let (Some(privilege), Some(grantable), Some(grantee)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            out.push(AclRow {
                schema: t.schema.clone(),
                object: t.name.clone(),
                kind: "r".to_string(),
                grantee: grantee.to_string(),
                privilege: privilege.to_string(),
                grantable: grantable == "true",
                column: Some(c.name.clone()),
            });
        }
    }
    out
}

/// Names the constraints' columns (and a foreign key's referenced ones) from the columns read, reading
/// those of referenced tables outside the schemas first. Whether it had to.
async fn name_constraint_columns(
    tx: &mut Tx,
    constraints: &mut [ConstraintRow],
    columns: &[ColumnRow],
) -> Result<bool, sqlx::Error> {
    let mut names: HashMap<(i64, i32), String> = columns
        .iter()
        .map(|c| ((c.table_oid, c.number), c.name.clone()))
        .collect();
    let read: HashSet<i64> = columns.iter().map(|c| c.table_oid).collect();
    let outside: Vec<i64> = constraints
        .iter()
        .filter(|c| c.kind == "f" && !read.contains(&c.ref_oid))
        .map(|c| c.ref_oid)
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    if !outside.is_empty() {
        let rows: Vec<(i64, i32, String)> = sqlx::query_as(REFERENCED_COLUMN_SQL)
            .bind(&outside)
            .fetch_all(&mut **tx)
            .within("PostgreSQL")
            .await?;
        names.extend(rows.into_iter().map(|(t, n, name)| ((t, n), name)));
    }
    let named = |table: i64, keys: &[i16]| -> Vec<String> {
        let name = |k: &i16| names.get(&(table, i32::from(*k))).cloned();
        keys.iter().filter_map(name).collect()
    };
    for c in constraints.iter_mut() {
        c.columns = named(c.table_oid, &c.keys);
        c.ref_columns = named(c.ref_oid, &c.ref_keys);
    }
    Ok(!outside.is_empty())
}

fn roles_of(rows: Vec<RoleRow>) -> Vec<Spec> {
    let mut out = Vec::new();
    for r in rows {
        out.push(Spec::PgRole(Role {
            name: r.name,
            login: Some(r.login),
            inherit: Some(r.inherit),
            bypass_rls: Some(r.bypass_rls),
            connection_limit: Some(r.connection_limit),
            // A password cannot be read back: unknown, so it never differs.
            password: r.login.then(SecretValue::redacted),
            member_of: r.member_of,
            comment: r.comment,
            settings: super::function::settings(&r.settings),
            database_settings: super::function::settings(&r.database_settings),
            depends_on: Vec::new(),
        }));
    }
    out
}

fn extensions_of(rows: Vec<ExtensionRow>) -> Vec<Spec> {
    let mut out = Vec::new();
    for e in rows {
        out.push(Spec::PgExtension(Extension {
            name: e.name,
            schema: Some(e.schema),
            version: Some(e.version),
            depends_on: Vec::new(),
        }));
    }
    out
}

/// Schemas, with their grants gathered per role.
fn schemas_of(schema_rows: Vec<SchemaRow>, schema_acl: Vec<AclRow>) -> Vec<Spec> {
    let mut out = Vec::new();
    let mut schema_grants: BTreeMap<(String, String), (Vec<SchemaPrivilege>, bool)> =
        BTreeMap::new();
    for a in schema_acl {
        let e = schema_grants.entry((a.schema, a.grantee)).or_default();
        if let Some(p) = parse_enum::<SchemaPrivilege>(&a.privilege) {
            e.0.push(p);
        }
        e.1 |= a.grantable;
    }
    for s in schema_rows {
        let grant = schema_grants
            .iter()
            .filter(|((schema, _), _)| *schema == s.name)
            .map(|((_, role), (privileges, grantable))| SchemaGrant {
                role: role.clone(),
                privileges: privileges.clone(),
                with_grant_option: grantable.then_some(true),
            })
            .collect();
        out.push(Spec::PgSchema(Schema {
            name: s.name,
            owner: Some(s.owner),
            comment: s.comment,
            grant,
            depends_on: Vec::new(),
        }));
    }

    out
}

/// Tables, with their columns and constraints.
fn tables_of(
    table_rows: Vec<TableRow>,
    column_rows: Vec<ColumnRow>,
    constraint_rows: Vec<ConstraintRow>,
    sequences: &sequence::OfColumns,
) -> (Vec<Spec>, HashSet<(String, String)>) {
    let mut tables: Vec<(i64, Table)> = table_rows
        .into_iter()
        .map(|t| {
            (
                t.oid,
                Table {
                    name: t.name,
                    schema: t.schema.clone(),
                    owner: Some(t.owner),
                    comment: t.comment,
                    column: Vec::new(),
                    primary_key: None,
                    unique: Vec::new(),
                    check: Vec::new(),
                    exclude: Vec::new(),
                    foreign_key: Vec::new(),
                    unlogged: Some(t.unlogged),
                    storage: super::function::settings(&t.storage),
                    row_level_security: Some(t.rls),
                    force_row_level_security: Some(t.force_rls),
                    partition_by: t.partition_by,
                    partition_of: t.parent.map(|p| {
                        let parent_schema = t.parent_schema.as_deref().unwrap_or_default();
                        super::partition::parent_text(&t.schema, parent_schema, &p)
                    }),
                    partition_bound: t.bound,
                    renamed_from: None,
                    depends_on: Vec::new(),
                },
            )
        })
        .collect();
    let index_of: HashMap<i64, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, (oid, _))| (*oid, i))
        .collect();
    let mut serials = HashSet::new();
    for c in column_rows {
        let Some(&i) = index_of.get(&c.table_oid) else {
            continue;
        };
        if !c.is_local && tables[i].1.partition_of.is_some() {
            continue;
        }
        let column = column_of(&tables[i].1, c, sequences, &mut serials);
        tables[i].1.column.push(column);
    }
    for c in constraint_rows {
        let Some(&i) = index_of.get(&c.table_oid) else {
            continue;
        };
        if !c.is_local && tables[i].1.partition_of.is_some() {
            continue;
        }
        add_constraint(&mut tables[i].1, c);
    }
    let tables = tables.into_iter().map(|(_, t)| Spec::PgTable(t)).collect();
    (tables, serials)
}

/// A column of table `t`. One that owns the sequence its default calls is written as the user wrote it:
/// `serial` when the sequence is the one `serial` makes (its name, its options; added to `serials`), else
/// with `owns_sequence` (the sequence is then a resource of its own).
fn column_of(
    t: &Table,
    c: ColumnRow,
    sequences: &sequence::OfColumns,
    serials: &mut HashSet<(String, String)>,
) -> Column {
    let (mut default, generated) = if c.generated == "s" {
        (None, c.default)
    } else {
        (c.default, None)
    };
    let (mut ty, mut owns_sequence) = (c.ty, None);
    let key = (c.table_oid, c.number);
    if let Some(&seq) = sequences.owned.get(&key)
        && default.as_deref() == Some(normalize::nextval_literal(seq.schema(), seq.name()).as_str())
    {
        let serial = normalize::serial_of(&ty).filter(|_| {
            seq.is_plain_for(&ty)
                && c.not_null
                && seq.schema() == t.schema
                && seq.name() == format!("{}_{}_seq", t.name, c.name)
        });
        match serial {
            Some(serial) => {
                ty = serial.to_string();
                default = None;
                serials.insert((seq.schema().to_string(), seq.name().to_string()));
            }
            None => owns_sequence = Some(true),
        }
    }
    let identity_options = sequences.identity.get(&key).map(|seq| seq.identity_options());
    let identity_options = plain_identity(&ty, identity_options);
    Column {
        name: c.name,
        ty,
        nullable: Some(!c.not_null),
        default,
        identity: match c.identity.as_str() {
            "a" => Some(IdentityKind::Always),
            "d" => Some(IdentityKind::ByDefault),
            _ => None,
        },
        identity_options,
        generated,
        collation: c.collation,
        comment: c.comment,
        owns_sequence,
        renamed_from: None,
    }
}

/// Puts a constraint row in its table (primary key, unique, check or foreign key).
fn add_constraint(t: &mut Table, c: ConstraintRow) {
    match c.kind.as_str() {
        "p" => {
            t.primary_key = Some(PrimaryKey {
                name: Some(c.name),
                columns: c.columns,
            })
        }
        "u" => t.unique.push(Unique {
            name: Some(c.name),
            columns: c.columns,
            nulls_not_distinct: c.nulls_not_distinct.then_some(true),
        }),
        "c" => t.check.push(Check {
            name: c.name,
            expression: c.expression.unwrap_or_default(),
        }),
        "x" => t.exclude.push(Exclusion {
            name: c.name,
            definition: exclusion_definition(c.definition.as_deref().unwrap_or_default()),
        }),
        "f" => t.foreign_key.push(ForeignKey {
            name: Some(c.name),
            columns: c.columns,
            references: FkTarget {
                table: c.ref_table.unwrap_or_default(),
                schema: c.ref_schema.filter(|s| *s != t.schema),
                columns: c.ref_columns,
            },
            on_delete: fk_action(&c.on_delete),
            on_update: fk_action(&c.on_update),
            deferrable: c.deferrable.then_some(true),
            initially_deferred: c.initially_deferred.then_some(true),
        }),
        _ => {}
    }
}

/// What follows `EXCLUDE` in the constraint's definition as PostgreSQL prints it.
pub fn exclusion_definition(printed: &str) -> String {
    let t = printed.trim();
    match t.get(..8) {
        Some(head) if head.eq_ignore_ascii_case("exclude ") => t[8..].trim().to_string(),
        _ => t.to_string(),
    }
}

fn indexes_of(rows: Vec<IndexRow>, opclasses: &[OpclassRow]) -> Vec<Spec> {
    let opclass: HashMap<i64, &str> = opclasses.iter().map(|o| (o.oid, o.name.as_str())).collect();
    let mut out = Vec::new();
    for ix in rows {
        let nkey = usize::try_from(ix.key_count).unwrap_or(0);
        let columns = ix
            .keys
            .iter()
            .take(nkey)
            .enumerate()
            .map(|(k, text)| {
                let opt = ix.options.get(k).copied().unwrap_or(0);
                let mut key = match split_ident(text) {
                    Some((id, rest)) if rest.trim().is_empty() => IndexKey {
                        column: Some(id),
                        ..IndexKey::default()
                    },
                    _ => IndexKey {
                        expression: Some(text.clone()),
                        ..IndexKey::default()
                    },
                };
                if opt & 1 != 0 {
                    key.order = Some(SortOrder::Desc);
                }
                key.opclass = ix.opclasses.get(k).and_then(|oid| opclass.get(oid)).map(|n| n.to_string());
                // NULLS FIRST is the default for DESC, NULLS LAST for ASC: only the other one is written.
                match (opt & 1 != 0, opt & 2 != 0) {
                    (false, true) => key.nulls = Some(NullsOrder::First),
                    (true, false) => key.nulls = Some(NullsOrder::Last),
                    _ => {}
                }
                key
            })
            .collect();
        out.push(Spec::PgIndex(Index {
            name: ix.name,
            schema: ix.schema,
            table: ix.table,
            columns,
            unique: ix.is_unique.then_some(true),
            method: parse_enum::<IndexMethod>(&ix.method).filter(|m| *m != IndexMethod::Btree),
            include: ix.keys.iter().skip(nkey).map(|k| unquote(k)).collect(),
            predicate: ix.predicate,
            nulls_not_distinct: ix.nulls_not_distinct.then_some(true),
            comment: ix.comment,
            depends_on: Vec::new(),
        }));
    }
    out
}

fn views_of(rows: Vec<ViewRow>) -> Vec<Spec> {
    let mut out = Vec::new();
    for v in rows {
        let opt = |k: &str| v.options.iter().any(|o| o == &format!("{k}=true"));
        let check_option = v.options.iter().find_map(|o| match o.as_str() {
            "check_option=local" => Some(CheckOption::Local),
            "check_option=cascaded" => Some(CheckOption::Cascaded),
            _ => None,
        });
        out.push(Spec::PgView(View {
            query: normalize_query(&v.definition),
            materialized: (v.kind == "m").then_some(true),
            check_option,
            security_barrier: opt("security_barrier").then_some(true),
            security_invoker: opt("security_invoker").then_some(true),
            owner: Some(v.owner),
            comment: v.comment,
            depends_on: Vec::new(),
            name: v.name,
            schema: v.schema,
        }));
    }
    out
}

fn policies_of(rows: Vec<PolicyRow>) -> Vec<Spec> {
    let mut out = Vec::new();
    for p in rows {
        out.push(Spec::PgPolicy(Policy {
            command: Some(match p.command.as_str() {
                "r" => PolicyCommand::Select,
                "a" => PolicyCommand::Insert,
                "w" => PolicyCommand::Update,
                "d" => PolicyCommand::Delete,
                _ => PolicyCommand::All,
            }),
            mode: Some(if p.permissive {
                PolicyMode::Permissive
            } else {
                PolicyMode::Restrictive
            }),
            name: p.name,
            schema: p.schema,
            table: p.table,
            // PUBLIC is the default: written as no roles, as in a manifest.
            roles: if p.roles == ["public"] {
                Vec::new()
            } else {
                p.roles
            },
            using: p.using,
            with_check: p.with_check,
            depends_on: Vec::new(),
        }));
    }
    out
}

/// Table, view and sequence grants, gathered per (schema, object, grantee).
fn grants_of(rows: Vec<AclRow>) -> Vec<Spec> {
    let mut out = Vec::new();
    // (schema, object, grantee) → (relkind, privileges, grantable, column privileges)
    type GrantKey = (String, String, String);
    type Held = (String, Vec<Privilege>, bool, BTreeMap<String, Vec<Privilege>>);
    let mut grants: BTreeMap<GrantKey, Held> = BTreeMap::new();
    for a in rows {
        let e = grants
            .entry((a.schema, a.object, a.grantee))
            .or_insert_with(|| (a.kind, Vec::new(), false, BTreeMap::new()));
        if let Some(p) = parse_enum::<Privilege>(&a.privilege) {
            match a.column {
                Some(c) => e.3.entry(c).or_default().push(p),
                None => e.1.push(p),
            }
        }
        e.2 |= a.grantable;
    }
    for ((schema, object, grantee), (kind, privileges, grantable, columns)) in grants {
        out.push(Spec::PgGrant(Grant {
            grantee,
            schema,
            object,
            object_type: Some(match kind.as_str() {
                "v" | "m" => GrantObject::View,
                "S" => GrantObject::Sequence,
                _ => GrantObject::Table,
            }),
            privileges,
            columns,
            with_grant_option: grantable.then_some(true),
            depends_on: Vec::new(),
        }));
    }
    out
}

/// A view's query as stored: without the surrounding white space and the final semicolon.
pub fn normalize_query(q: &str) -> String {
    q.trim().trim_end_matches(';').trim_end().to_string()
}

fn fk_action(code: &str) -> Option<FkAction> {
    match code {
        "r" => Some(FkAction::Restrict),
        "c" => Some(FkAction::Cascade),
        "n" => Some(FkAction::SetNull),
        "d" => Some(FkAction::SetDefault),
        // "a", NO ACTION, is the default.
        _ => None,
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .or_else(|_| serde_json::from_value(serde_json::Value::String(s.to_lowercase())))
        .ok()
}
