//! What the tenant's schemas hold that no kind carries: every object of the catalogs with a namespace in
//! the tenant's schemas (relations, functions, types, constraints, triggers, rules, policies, statistics,
//! collations, operators, text search objects, conversions, extensions), less the members of extensions
//! and the parts of other objects (`pg_depend` types `e`, `i`, `P` and `S`: a row type, an array type, an
//! identity sequence, a constraint's index, a view's rule, a partition's copy of its parent's index), less
//! what the kinds read. Worked out as everything in
//! scope minus what was carried, never from a list of what someone thought to leave out.

use std::collections::HashSet;

use sqlx::PgPool;

use crate::domains::Spec;
use crate::domains::provider::NotCarried;
use crate::util::Within;

/// Every object in the schemas, with its kind (in PostgreSQL's words), schema, name, the table or domain
/// it belongs to, a code (`relkind`, `contype`) and its address (catalog, oid: described by
/// [`DESCRIBE_SQL`] once known not to be carried): the catalogs
/// that need more than a name (relations, functions, types, constraints), then those of a table
/// ([`OF_A_TABLE`]), then those named in a namespace ([`NAMED`]).
const INVENTORY_HEAD: &str = r#"
WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY($1)),
objs(classid, objid, kind, schema, name, parent, code) AS (
  SELECT 'pg_class'::regclass, c.oid,
         CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
              WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index'
              WHEN 'I' THEN 'index' WHEN 'f' THEN 'foreign table' WHEN 'c' THEN 'composite type'
              ELSE 'relation' END,
         ns.nspname, c.relname::text, NULL::text, c.relkind::text
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  UNION ALL
  SELECT 'pg_proc'::regclass, p.oid,
         CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
              WHEN 'w' THEN 'window function' ELSE 'function' END,
         ns.nspname, p.proname || '(' || coalesce((SELECT string_agg(format_type(u.t, NULL), ', ' ORDER BY u.o)
                                                    FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, o)), '') || ')',
         NULL, p.prokind::text
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
  UNION ALL
  SELECT 'pg_type'::regclass, t.oid,
         CASE t.typtype WHEN 'd' THEN 'domain' WHEN 'e' THEN 'enum type' WHEN 'r' THEN 'range type'
              WHEN 'm' THEN 'multirange type' ELSE 'type' END,
         ns.nspname, t.typname::text, NULL, t.typtype::text
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
   WHERE t.typrelid = 0
  UNION ALL
  SELECT 'pg_constraint'::regclass, co.oid, 'constraint', ns.nspname, co.conname::text,
         coalesce(rel.relname, ty.typname)::text, co.contype::text
    FROM pg_constraint co JOIN ns ON ns.oid = co.connamespace
    LEFT JOIN pg_class rel ON rel.oid = co.conrelid
    LEFT JOIN pg_type ty ON ty.oid = co.contypid
  UNION ALL
  SELECT 'pg_default_acl'::regclass, d.oid, 'default privileges', ns.nspname,
         pg_get_userbyid(d.defaclrole)::text || ' ' || d.defaclobjtype::text, NULL, NULL
    FROM pg_default_acl d JOIN ns ON ns.oid = d.defaclnamespace
  UNION ALL
  -- Privileges no kind carries yet, on objects that are carried: a function's, a type's, a column's.
  SELECT 'pg_proc'::regclass, p.oid, 'privileges on a function', ns.nspname,
         p.proname || '(' || coalesce((SELECT string_agg(format_type(u.t, NULL), ', ' ORDER BY u.o)
                                        FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, o)), '') || ')',
         NULL, 'acl'
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace WHERE p.proacl IS NOT NULL
  UNION ALL
  SELECT 'pg_type'::regclass, t.oid, 'privileges on a type', ns.nspname, t.typname::text, NULL, 'acl'
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typacl IS NOT NULL
  UNION ALL
  SELECT 'pg_class'::regclass, c.oid, 'privileges on a column', ns.nspname, c.relname || '.' || a.attname, NULL, 'acl'
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
   WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  -- What no field carries of a carried relation: an unlogged sequence, a materialized view's storage
  -- parameters (a table's UNLOGGED, storage parameters and identity options are its fields).
  SELECT 'pg_class'::regclass, c.oid, 'unlogged sequence', ns.nspname, c.relname::text, NULL, 'attr'
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relpersistence = 'u' AND c.relkind = 'S'
  UNION ALL
  SELECT 'pg_class'::regclass, c.oid, 'storage parameters', ns.nspname, c.relname::text, NULL, 'attr'
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.reloptions IS NOT NULL AND c.relkind = 'm'
  UNION ALL
  SELECT 'pg_operator'::regclass, o.oid, 'operator', ns.nspname,
         o.oprname || '(' || o.oprleft::regtype || ', ' || o.oprright::regtype || ')', NULL, NULL
    FROM pg_operator o JOIN ns ON ns.oid = o.oprnamespace
"#;

/// The catalogs of objects that belong to a table: (catalog, kind, name column, table column, condition).
const OF_A_TABLE: &[(&str, &str, &str, &str, &str)] = &[
    ("pg_trigger", "trigger", "tgname", "tgrelid", "NOT x.tgisinternal"),
    ("pg_rewrite", "rule", "rulename", "ev_class", "true"),
    ("pg_policy", "policy", "polname", "polrelid", "true"),
];

/// The catalogs of objects named in a namespace: (catalog, kind, name column, namespace column).
const NAMED: &[(&str, &str, &str, &str)] = &[
    ("pg_statistic_ext", "statistics object", "stxname", "stxnamespace"),
    ("pg_collation", "collation", "collname", "collnamespace"),
    ("pg_opclass", "operator class", "opcname", "opcnamespace"),
    ("pg_opfamily", "operator family", "opfname", "opfnamespace"),
    ("pg_ts_config", "text search configuration", "cfgname", "cfgnamespace"),
    ("pg_ts_dict", "text search dictionary", "dictname", "dictnamespace"),
    ("pg_ts_parser", "text search parser", "prsname", "prsnamespace"),
    ("pg_ts_template", "text search template", "tmplname", "tmplnamespace"),
    ("pg_conversion", "conversion", "conname", "connamespace"),
    ("pg_extension", "extension", "extname", "extnamespace"),
];

/// What is left once an object is known: not a member of an extension nor a part of another object.
const INVENTORY_TAIL: &str = r#"
)
SELECT o.kind, o.schema, o.name, o.parent, o.code, o.classid::int8 AS catalog, o.objid::int8 AS oid
  FROM objs o
 WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype IN ('e', 'i', 'P', 'S'))
"#;

/// How PostgreSQL names the objects `$1` (catalogs) and `$2` (oids), in their order.
const DESCRIBE_SQL: &str = "select pg_describe_object(u.c, u.o, 0) from unnest($1::oid[], $2::oid[]) with ordinality u(c, o, n)
  order by u.n";

/// The inventory query, put together once.
static INVENTORY_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut sql = INVENTORY_HEAD.to_string();
    for (catalog, kind, name, table, condition) in OF_A_TABLE {
        sql += &format!(
            "  UNION ALL\n  SELECT '{catalog}'::regclass, x.oid, '{kind}', ns.nspname, x.{name}::text, rel.relname::text, NULL\n    FROM {catalog} x JOIN pg_class rel ON rel.oid = x.{table} JOIN ns ON ns.oid = rel.relnamespace\n   WHERE {condition}\n"
        );
    }
    for (catalog, kind, name, namespace) in NAMED {
        sql += &format!(
            "  UNION ALL\n  SELECT '{catalog}'::regclass, x.oid, '{kind}', ns.nspname, x.{name}::text, NULL, NULL\n    FROM {catalog} x JOIN ns ON ns.oid = x.{namespace}\n"
        );
    }
    sql + INVENTORY_TAIL
});

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    kind: String,
    schema: String,
    name: String,
    parent: Option<String>,
    code: Option<String>,
    catalog: i64,
    oid: i64,
}

/// An object as the inventory and the kinds name it: kind, schema, name, and the table it belongs to.
type Key = (&'static str, String, String, Option<String>);

/// What the kinds read, as inventory keys.
fn carried(specs: &[&Spec]) -> HashSet<Key> {
    let mut out = HashSet::new();
    for s in specs {
        match s {
            Spec::PgTable(t) => {
                out.insert(("table", t.schema.clone(), t.name.clone(), None));
                let named = t
                    .primary_key
                    .iter()
                    .filter_map(|k| k.name.clone())
                    .chain(t.unique.iter().filter_map(|u| u.name.clone()))
                    .chain(t.check.iter().map(|c| c.name.clone()))
                    .chain(t.exclude.iter().map(|x| x.name.clone()))
                    .chain(t.foreign_key.iter().filter_map(|f| f.name.clone()));
                for name in named {
                    let parent = Some(t.name.clone());
                    out.insert(("constraint", t.schema.clone(), name, parent));
                }
                // A serial column carries the sequence it makes.
                for c in t.column.iter().filter(|c| super::normalize::serial_type(&c.ty).is_some()) {
                    let seq = format!("{}_{}_seq", t.name, c.name);
                    out.insert(("sequence", t.schema.clone(), seq, None));
                }
            }
            Spec::PgIndex(i) => {
                out.insert(("index", i.schema.clone(), i.name.clone(), None));
            }
            Spec::PgView(v) => {
                out.insert(("view", v.schema.clone(), v.name.clone(), None));
            }
            Spec::PgPolicy(p) => {
                let parent = Some(p.table.clone());
                out.insert(("policy", p.schema.clone(), p.name.clone(), parent));
            }
            Spec::PgSequence(q) => {
                out.insert(("sequence", q.schema.clone(), q.name.clone(), None));
            }
            Spec::PgType(t) => {
                out.insert(("type", t.schema.clone(), t.name.clone(), None));
                if t.usage.is_some() {
                    out.insert(("privileges on a type", t.schema.clone(), t.name.clone(), None));
                }
                // A range carries the multirange type PostgreSQL makes with it.
                if let Some(m) = &t.multirange {
                    out.insert(("type", t.schema.clone(), m.clone(), None));
                }
                for c in &t.check {
                    let parent = Some(t.name.clone());
                    out.insert(("constraint", t.schema.clone(), c.name.clone(), parent));
                }
            }
            Spec::PgFunction(f) => {
                out.insert(("function", f.schema.clone(), f.signature(), None));
                if f.execute.is_some() {
                    out.insert(("privileges on a function", f.schema.clone(), f.signature(), None));
                }
            }
            Spec::PgGrant(g) => {
                for column in g.columns.keys() {
                    let name = format!("{}.{column}", g.object);
                    out.insert(("privileges on a column", g.schema.clone(), name, None));
                }
            }
            Spec::PgAggregate(a) => {
                out.insert(("aggregate", a.schema.clone(), a.catalog_name(), None));
            }
            Spec::PgDefaultPrivileges(d) => {
                let name = format!("{} {}", d.role, d.on.code());
                out.insert(("default privileges", d.schema.clone(), name, None));
            }
            Spec::PgTrigger(t) => {
                let parent = Some(t.table.clone());
                out.insert(("trigger", t.schema.clone(), t.name.clone(), parent));
            }
            _ => {}
        }
    }
    out
}

/// Whether the inventory's object is one the kinds carry.
fn is_carried(r: &Row, carried: &HashSet<Key>, extensions: &HashSet<&str>) -> bool {
    let key = |kind: &'static str, parent: Option<String>| {
        carried.contains(&(kind, r.schema.clone(), r.name.clone(), parent))
    };
    match (r.kind.as_str(), r.code.as_deref()) {
        ("table", _) => key("table", None),
        ("index", _) => key("index", None),
        // The view kind reads materialized views too (`materialized`).
        ("view" | "materialized view", _) => key("view", None),
        ("policy", _) => key("policy", r.parent.clone()),
        ("trigger", _) => key("trigger", r.parent.clone()),
        ("sequence", _) => key("sequence", None),
        ("enum type" | "domain" | "composite type" | "range type" | "multirange type", _) => key("type", None),
        ("function" | "procedure", _) => key("function", None),
        ("aggregate", _) => key("aggregate", None),
        ("privileges on a column", _) => key("privileges on a column", None),
        ("privileges on a function", _) => key("privileges on a function", None),
        ("privileges on a type", _) => key("privileges on a type", None),
        ("default privileges", _) => key("default privileges", None),
        // A NOT NULL (a constraint of its own since PostgreSQL 18) is its column's `nullable`, or its
        // domain's.
        ("constraint", Some("n")) => r.parent.as_ref().is_some_and(|t| {
            ["table", "type"].iter().any(|k| carried.contains(&(*k, r.schema.clone(), t.clone(), None)))
        }),
        ("constraint", _) => key("constraint", r.parent.clone()),
        ("extension", _) => extensions.contains(r.name.as_str()),
        _ => false,
    }
}

async fn read(pool: &PgPool, schemas: &[String]) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(INVENTORY_SQL.as_str())
        .bind(schemas)
        .fetch_all(pool)
        .within("PostgreSQL")
        .await
}

/// The inventory of every schema of a fleet's tenants, read once (by the first tenant that asks) for a
/// fleet's run that only reads ([`crate::domains::provider::Provider::share_reads`]).
pub struct Shared {
    schemas: Vec<String>,
    rows: tokio::sync::OnceCell<std::collections::HashMap<String, Vec<Row>>>,
}

impl Shared {
    pub fn new(schemas: Vec<String>) -> Shared {
        Shared {
            schemas,
            rows: tokio::sync::OnceCell::new(),
        }
    }
}

/// The inventory rows of the tenant's schemas: read for it alone, or, in a fleet's run that covers it,
/// from the fleet's inventory of every tenant's schemas.
async fn rows_of(
    pool: &PgPool,
    schemas: &[String],
    fleet: Option<&Shared>,
) -> Result<Vec<Row>, sqlx::Error> {
    let Some(fleet) = fleet.filter(|f| schemas.iter().all(|s| f.schemas.contains(s))) else {
        return read(pool, schemas).await;
    };
    let all = fleet
        .rows
        .get_or_try_init(|| async {
            let mut by_schema: std::collections::HashMap<String, Vec<Row>> = Default::default();
            for r in read(pool, &fleet.schemas).await? {
                by_schema.entry(r.schema.clone()).or_default().push(r);
            }
            Ok::<_, sqlx::Error>(by_schema)
        })
        .await?;
    Ok(schemas
        .iter()
        .flat_map(|s| all.get(s).cloned().unwrap_or_default())
        .collect())
}

/// The objects of the tenant's schemas that `specs` (what the kinds read) do not carry (`fleet`: a fleet's
/// run that reads every tenant's inventory at once).
pub async fn not_carried(
    pool: &PgPool,
    schemas: &[String],
    specs: &[&Spec],
    fleet: Option<&Shared>,
) -> Result<Vec<NotCarried>, sqlx::Error> {
    let rows = rows_of(pool, schemas, fleet).await?;
    let carried = carried(specs);
    let extensions: HashSet<&str> = specs
        .iter()
        .filter_map(|s| match s {
            Spec::PgExtension(e) => Some(e.name.as_str()),
            _ => None,
        })
        .collect();
    let mut left: Vec<Row> = rows
        .into_iter()
        .filter(|r| !is_carried(r, &carried, &extensions))
        .collect();
    left.sort_by(|a, b| (&a.kind, &a.schema, &a.name, &a.parent).cmp(&(&b.kind, &b.schema, &b.name, &b.parent)));
    let descriptions = describe(pool, &left).await?;
    Ok(left
        .into_iter()
        .zip(descriptions)
        .map(|(r, description)| NotCarried {
            name: described(&r, description),
            kind: r.kind,
        })
        .collect())
}

/// How PostgreSQL names each of `rows` (`pg_describe_object`), in their order.
async fn describe(pool: &PgPool, rows: &[Row]) -> Result<Vec<Option<String>>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let catalogs: Vec<i64> = rows.iter().map(|r| r.catalog).collect();
    let oids: Vec<i64> = rows.iter().map(|r| r.oid).collect();
    sqlx::query_scalar(DESCRIBE_SQL)
        .bind(catalogs)
        .bind(oids)
        .fetch_all(pool)
        .within("PostgreSQL")
        .await
}

/// How the inventory names an object: as `pg_describe_object` does (`description`), and privileges as
/// what they are on.
fn described(r: &Row, description: Option<String>) -> String {
    let object = description.unwrap_or_else(|| format!("{}.{}", r.schema, r.name));
    match (r.code.as_deref(), r.kind.as_str()) {
        (Some("acl"), "privileges on a column") => format!("privileges on column {}.{}", r.schema, r.name),
        (Some("acl"), _) => format!("privileges on {object}"),
        (Some("attr"), "unlogged sequence") => format!("{object} is UNLOGGED"),
        (Some("attr"), kind) => format!("{kind} of {object}"),
        _ => object,
    }
}
