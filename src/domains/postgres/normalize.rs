//! Normalization of desired PostgreSQL objects by the server itself, so that plans show no changes from
//! mere spelling: `int` is `integer`, `varchar(20)` is `character varying(20)`, `status IN ('a', 'b')` is
//! `status = ANY (ARRAY['a'::text, 'b'::text])`.
//!
//! In transactions that are always rolled back (batches of tables with their indexes and policies, and of
//! views, on up to four connections), shadow copies of the desired tables (columns, defaults, checks),
//! indexes, policies and views are created in a throwaway schema, and read back the way inspection reads
//! live objects. Each object has its own savepoint: one that cannot be created yet (it uses a type or
//! a table that does not exist) keeps the text as written.

use crate::util::Within;
use std::collections::HashMap;

use sqlx::{PgPool, Row};

use super::sql::{quote_ident, split_ident};
use super::*;
use crate::domains::Spec;

/// Serial types: (name, the integer type it is).
const SERIALS: &[(&str, &str)] = &[
    ("smallserial", "smallint"),
    ("serial2", "smallint"),
    ("serial", "integer"),
    ("serial4", "integer"),
    ("bigserial", "bigint"),
    ("serial8", "bigint"),
];

/// How PostgreSQL prints a sequence in `nextval(...)` when its schema is not on the search path.
pub fn nextval_literal(schema: &str, seq: &str) -> String {
    let name = if schema == "public" {
        sql::ident_text(seq)
    } else {
        format!("{}.{}", sql::ident_text(schema), sql::ident_text(seq))
    };
    format!("nextval('{}'::regclass)", name.replace('\'', "''"))
}

/// The serial type that stands for an integer type (`integer` is `serial`).
pub fn serial_of(int: &str) -> Option<&'static str> {
    match int {
        "smallint" => Some("smallserial"),
        "integer" => Some("serial"),
        "bigint" => Some("bigserial"),
        _ => None,
    }
}

/// The canonical serial type a column type is (`serial4` is `serial`), if it is one.
pub fn serial_type(ty: &str) -> Option<&'static str> {
    let ty = ty.trim().to_ascii_lowercase();
    SERIALS.iter().find(|(s, _)| *s == ty).and_then(|(_, int)| serial_of(int))
}

/// The name PostgreSQL gives a constraint (`<table>_<columns>_<suffix>`), when it fits in 63 bytes.
fn default_constraint_name(table: &str, columns: &[String], suffix: &str) -> Option<String> {
    let name = format!("{table}_{}_{suffix}", columns.join("_"));
    (name.len() <= super::MAX_IDENT).then_some(name)
}

/// Fills in what PostgreSQL fills in: constraint names, and the referenced primary key of a foreign key
/// that names no columns.
pub fn fill_constraint_defaults(specs: &mut [Spec]) {
    let pks: std::collections::HashMap<(String, String), Vec<String>> = specs
        .iter()
        .filter_map(|s| match s {
            Spec::PgTable(t) => t
                .primary_key
                .as_ref()
                .map(|pk| ((t.schema.clone(), t.name.clone()), pk.columns.clone())),
            _ => None,
        })
        .collect();
    for s in specs.iter_mut() {
        let Spec::PgTable(t) = s else { continue };
        if let Some(pk) = &mut t.primary_key
            && pk.name.is_none()
        {
            pk.name = Some(format!("{}_pkey", t.name));
        }
        for u in &mut t.unique {
            if u.name.is_none() {
                u.name = default_constraint_name(&t.name, &u.columns, "key");
            }
        }
        for fk in &mut t.foreign_key {
            if fk.references.columns.is_empty() {
                let schema = fk
                    .references
                    .schema
                    .clone()
                    .unwrap_or_else(|| t.schema.clone());
                if let Some(cols) = pks.get(&(schema, fk.references.table.clone())) {
                    fk.references.columns = cols.clone();
                }
            }
            if fk.name.is_none() {
                fk.name = default_constraint_name(&t.name, &fk.columns, "fkey");
            }
        }
    }
}

/// A column is written as the user wrote it: `serial` (canonical: `serial4` is `serial`) when it is an
/// integer whose default calls the sequence `serial` makes and the manifest declares no sequence of that
/// name (then the sequence is one of its own), as inspection reads it.
pub fn collapse_serials(t: &mut Table, sequences: &std::collections::HashSet<(String, String)>) {
    const INTS: &[(&str, &str)] = &[("int", "integer"), ("int4", "integer"), ("int8", "bigint"), ("int2", "smallint")];
    for c in &mut t.column {
        if let Some(serial) = serial_type(&c.ty) {
            c.ty = serial.to_string();
            continue;
        }
        let lower = c.ty.trim().to_ascii_lowercase();
        let int = INTS.iter().find(|(a, _)| *a == lower).map_or(lower.as_str(), |(_, i)| i);
        let seq = format!("{}_{}_seq", t.name, c.name);
        if let Some(serial) = serial_of(int)
            && c.default.as_deref() == Some(nextval_literal(&t.schema, &seq).as_str())
            && !sequences.contains(&(t.schema.clone(), seq))
            && c.owns_sequence != Some(true)
        {
            c.ty = serial.to_string();
            c.default = None;
        }
    }
}

/// What needs no server: serial columns are written as `serial` ([`collapse_serials`]), and constraints
/// get the names PostgreSQL gives them.
pub fn local_forms(specs: &mut [Spec]) {
    let sequences: std::collections::HashSet<(String, String)> = specs
        .iter()
        .filter_map(|s| match s {
            Spec::PgSequence(q) => Some((q.schema.clone(), q.name.clone())),
            _ => None,
        })
        .collect();
    for s in specs.iter_mut() {
        if let Spec::PgTable(t) = s {
            collapse_serials(t, &sequences);
        }
    }
    fill_constraint_defaults(specs);
}

/// Normalizes the desired PostgreSQL resources in place. Errors of the connection are returned; objects
/// the server cannot build yet are left as written.
pub async fn normalize(pool: &PgPool, specs: &mut [Spec]) -> Result<(), sqlx::Error> {
    local_forms(specs);
    let wanted = vec![true; specs.len()];
    normalize_wanted(pool, specs, &wanted).await
}

/// Normalizes the specs marked in `wanted` (the others only serve as the tables of wanted indexes and
/// policies), whose local forms ([`local_forms`]) are already settled.
pub async fn normalize_wanted(
    pool: &PgPool,
    specs: &mut [Spec],
    wanted: &[bool],
) -> Result<(), sqlx::Error> {
    // Only resources whose SQL fields pass their checks are ever sent to the server.
    let tenant = crate::model::Tenant::new("normalize");
    let valid: Vec<bool> = specs
        .iter()
        .map(|s| {
            let mut cx = crate::domains::Checker::new(&tenant, false, crate::domains::Origin::None);
            s.check(&mut cx);
            !cx.issues.iter().any(|i| i.code == "invalid-sql")
        })
        .collect();
    let first: Vec<bool> = valid.iter().zip(wanted).map(|(v, w)| *v && *w).collect();
    if !first.iter().any(|w| *w) {
        return Ok(());
    }
    let before = specs.to_vec();
    let started = std::time::Instant::now();
    run_pass(pool, specs, &first, &valid).await?;
    tracing::debug!(objects = first.iter().filter(|w| **w).count(), elapsed = ?started.elapsed(), "normalized (first pass)");
    // What apply sends is the normalized text, and the server may print that differently again (an IN
    // list over varchar gains casts on the second round). A second pass over what changed reaches what
    // the server will store, so an applied object plans as unchanged.
    let changed: Vec<bool> = specs
        .iter()
        .zip(&before)
        .zip(&first)
        .map(|((now, was), ok)| *ok && now != was)
        .collect();
    let n = changed.iter().filter(|c| **c).count();
    if n > 0 {
        let started = std::time::Instant::now();
        run_pass(pool, specs, &changed, &valid).await?;
        tracing::debug!(objects = n, elapsed = ?started.elapsed(), "normalized (second pass)");
    }
    Ok(())
}

/// One normalization pass over the selected specs (a valid table is included when it or anything on it
/// is selected). Only specs whose SQL fields passed their checks (`valid`) reach the server.
async fn run_pass(
    pool: &PgPool,
    specs: &mut [Spec],
    selected: &[bool],
    valid: &[bool],
) -> Result<(), sqlx::Error> {
    // Batches of tables with their indexes and policies (shadow tables have no foreign keys, so batches
    // are independent), and batches of views: each batch is one short transaction, so the lock table is
    // never exhausted however large the tenant, and the batches run on up to LANES connections at once.
    let mut on_table: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, s) in specs.iter().enumerate() {
        match s {
            Spec::PgIndex(ix) => on_table
                .entry((ix.schema.clone(), ix.table.clone()))
                .or_default()
                .push(i),
            Spec::PgPolicy(p) => on_table
                .entry((p.schema.clone(), p.table.clone()))
                .or_default()
                .push(i),
            _ => {}
        }
    }
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut tables_in_batch = 0;
    for (i, s) in specs.iter().enumerate() {
        if let Spec::PgTable(t) = s {
            let deps: Vec<usize> = on_table
                .get(&(t.schema.clone(), t.name.clone()))
                .map(|d| d.iter().copied().filter(|&d| selected[d]).collect())
                .unwrap_or_default();
            if !valid[i] || (!selected[i] && deps.is_empty()) {
                continue;
            }
            // The table is needed by its selected indexes and policies even when it is not selected.
            current.push(i);
            current.extend(deps);
            tables_in_batch += 1;
            if tables_in_batch == TABLES_PER_BATCH {
                batches.push(std::mem::take(&mut current));
                tables_in_batch = 0;
            }
        }
    }
    for (i, s) in specs.iter().enumerate() {
        if matches!(s, Spec::PgView(_)) && selected[i] {
            current.push(i);
            if current.len() >= TABLES_PER_BATCH * 2 {
                batches.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        batches.push(current);
    }
    // Each spec goes to exactly one batch: hand out disjoint mutable borrows.
    let mut slots: Vec<Option<&mut Spec>> = specs.iter_mut().map(Some).collect();
    let mut lanes: Vec<Vec<Vec<(usize, &mut Spec)>>> = (0..LANES).map(|_| Vec::new()).collect();
    for (b, batch) in batches.into_iter().enumerate() {
        let items: Vec<(usize, &mut Spec)> = batch
            .into_iter()
            .filter_map(|i| slots[i].take().map(|s| (i, s)))
            .collect();
        lanes[b % LANES].push(items);
    }
    let mut lanes = lanes.into_iter();
    let mut next = || lanes.next().unwrap_or_default();
    tokio::try_join!(
        run_lane(pool, 0, next()),
        run_lane(pool, 1, next()),
        run_lane(pool, 2, next()),
        run_lane(pool, 3, next())
    )?;
    Ok(())
}

/// One lane's batches, one after another.
async fn run_lane(
    pool: &PgPool,
    lane: usize,
    batches: Vec<Vec<(usize, &mut Spec)>>,
) -> Result<(), sqlx::Error> {
    for items in batches {
        normalize_batch(pool, lane, items).await?;
    }
    Ok(())
}

/// Tables per normalization batch (with their indexes and policies).
const TABLES_PER_BATCH: usize = 100;
/// Connections normalization uses at once (at most; the pool may have fewer).
const LANES: usize = 4;

/// Normalizes one batch in a transaction that is rolled back, in a shadow schema of its own. All of the
/// batch's DDL is sent without savepoints first; when the server refuses an object, the batch is done
/// again with a savepoint per object, and what cannot be built is compared as written.
async fn normalize_batch(
    pool: &PgPool,
    lane: usize,
    mut items: Vec<(usize, &mut Spec)>,
) -> Result<(), sqlx::Error> {
    if items.is_empty() {
        return Ok(());
    }
    if !shadow_batch(pool, lane, &mut items, false).await? {
        shadow_batch(pool, lane, &mut items, true).await?;
    }
    Ok(())
}

/// The shadow DDL of one object, if it has any; `table_of` names the shadow table of a real one.
fn shadow_ddl(
    i: usize,
    spec: &Spec,
    sh: &dyn Fn(&str) -> String,
    table_of: &HashMap<(String, String), String>,
) -> Option<String> {
    match spec {
        Spec::PgTable(t) => {
            let mut cols: Vec<String> = Vec::new();
            for c in &t.column {
                // A serial's shadow is its integer type: the shadow makes no sequence, and it stays `serial`.
                let ty = match serial_type(&c.ty) {
                    Some(_) => "bigint",
                    None => c.ty.as_str(),
                };
                let mut d = format!("{} {ty}", quote_ident(&c.name));
                if let Some(g) = &c.generated {
                    d.push_str(&format!(" generated always as ({g}) stored"));
                } else if let Some(def) = &c.default {
                    d.push_str(&format!(" default {def}"));
                }
                if let Some(coll) = &c.collation {
                    d.push_str(&format!(" collate {}", quote_ident(coll)));
                }
                cols.push(d);
            }
            for (k, ch) in t.check.iter().enumerate() {
                cols.push(format!(
                    "constraint {} check ({})",
                    quote_ident(&format!("c{k}")),
                    ch.expression
                ));
            }
            for (k, x) in t.exclude.iter().enumerate() {
                cols.push(format!("constraint {} exclude {}", quote_ident(&format!("x{k}")), x.definition));
            }
            Some(format!(
                "create table {} ({})",
                sh(&format!("t{i}")),
                cols.join(", ")
            ))
        }
        Spec::PgIndex(ix) => {
            let table = table_of.get(&(ix.schema.clone(), ix.table.clone()))?;
            let keys: Vec<String> = ix
                .columns
                .iter()
                .map(|k| match (&k.column, &k.expression) {
                    (Some(c), _) => quote_ident(c),
                    (None, Some(e)) => format!("({e})"),
                    _ => String::new(),
                })
                .collect();
            let mut ddl = format!(
                "create index {} on {} ({})",
                quote_ident(&format!("i{i}")),
                sh(table),
                keys.join(", ")
            );
            if let Some(p) = &ix.predicate {
                ddl.push_str(&format!(" where {p}"));
            }
            Some(ddl)
        }
        Spec::PgPolicy(p) => {
            let table = table_of.get(&(p.schema.clone(), p.table.clone()))?;
            let mut ddl = format!(
                "create policy {} on {}",
                quote_ident(&format!("p{i}")),
                sh(table)
            );
            if let Some(u) = &p.using {
                ddl.push_str(&format!(" using ({u})"));
            }
            // No FOR clause: the shadow policy is FOR ALL, which takes both expressions.
            if let Some(w) = &p.with_check {
                ddl.push_str(&format!(" with check ({w})"));
            }
            Some(ddl)
        }
        Spec::PgView(v) => Some(format!(
            "create view {} as {}",
            sh(&format!("v{i}")),
            v.query
        )),
        _ => None,
    }
}

/// Shadow objects of the batch, then one read-back query per kind. `careful`: a savepoint per object,
/// and objects the server refuses are skipped; otherwise the first refusal rolls back and returns false.
async fn shadow_batch(
    pool: &PgPool,
    lane: usize,
    items: &mut [(usize, &mut Spec)],
    careful: bool,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().within("PostgreSQL").await?;
    let shadow = format!("falconer_shadow_{}_{lane}", std::process::id());
    sqlx::query(&format!("create schema {}", quote_ident(&shadow)))
        .execute(&mut *tx)
        .within("PostgreSQL")
        .await?;
    if !build_shadows(&mut tx, &shadow, items, careful).await? {
        tx.rollback().within("PostgreSQL").await?;
        return Ok(false);
    }
    let back = ReadBack::read(&mut tx, &shadow).await?;
    tx.rollback().within("PostgreSQL").await?;
    for (i, s) in items.iter_mut() {
        back.apply(*i, s);
    }
    Ok(true)
}

/// Creates the shadow of each object in `shadow`: tables first (indexes and policies are built on their
/// shadows), then the rest. `false` when not careful and the server refused one.
async fn build_shadows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    shadow: &str,
    items: &[(usize, &mut Spec)],
    careful: bool,
) -> Result<bool, sqlx::Error> {
    let sh = |name: &str| format!("{}.{}", quote_ident(shadow), quote_ident(name));
    let mut table_of: HashMap<(String, String), String> = HashMap::new();
    for tables_pass in [true, false] {
        for (i, s) in items.iter() {
            if matches!(**s, Spec::PgTable(_)) != tables_pass {
                continue;
            }
            let Some(ddl) = shadow_ddl(*i, s, &sh, &table_of) else {
                continue;
            };
            let built = if careful {
                try_ddl(tx, &ddl).await? || piecewise(tx, *i, s, shadow).await?
            } else {
                match sqlx::query(&ddl).execute(&mut **tx).within("PostgreSQL").await {
                    Ok(_) => true,
                    Err(sqlx::Error::Database(_)) => return Ok(false),
                    Err(e) => return Err(e),
                }
            };
            if built && let Spec::PgTable(t) = &**s {
                table_of.insert((t.schema.clone(), t.name.clone()), format!("t{i}"));
            }
        }
    }
    Ok(true)
}

/// A table whose shadow the server refused as a whole (a default names an enum label not added yet, a
/// check a function not made yet), built in parts: its columns with their types, then each default and
/// check on its own, so that what can be normalized is (what cannot is read back as absent, and keeps the
/// text as written).
async fn piecewise(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    i: usize,
    spec: &Spec,
    shadow: &str,
) -> Result<bool, sqlx::Error> {
    let Spec::PgTable(t) = spec else {
        return Ok(false);
    };
    let mut bare = t.clone();
    for c in &mut bare.column {
        c.default = None;
    }
    bare.check.clear();
    bare.exclude.clear();
    let (table, ddl) = {
        let sh = |name: &str| format!("{}.{}", quote_ident(shadow), quote_ident(name));
        (sh(&format!("t{i}")), shadow_ddl(i, &Spec::PgTable(bare), &sh, &HashMap::new()))
    };
    let Some(ddl) = ddl else {
        return Ok(false);
    };
    if !try_ddl(tx, &ddl).await? {
        return Ok(false);
    }
    for c in t.column.iter().filter(|c| c.generated.is_none()) {
        if let Some(def) = &c.default {
            let alter = format!("alter table {table} alter column {} set default {def}", quote_ident(&c.name));
            try_ddl(tx, &alter).await?;
        }
    }
    for (k, ch) in t.check.iter().enumerate() {
        let add = format!("alter table {table} add constraint {} check ({})", quote_ident(&format!("c{k}")), ch.expression);
        try_ddl(tx, &add).await?;
    }
    for (k, x) in t.exclude.iter().enumerate() {
        let add = format!("alter table {table} add constraint {} exclude {}", quote_ident(&format!("x{k}")), x.definition);
        try_ddl(tx, &add).await?;
    }
    Ok(true)
}

/// What the server printed for the shadow objects, one query per kind over the whole shadow schema.
struct ReadBack {
    columns: HashMap<String, Vec<sqlx::postgres::PgRow>>,
    checks: HashMap<(String, String), Option<String>>,
    indexes: HashMap<String, (Vec<String>, Option<String>)>,
    policies: HashMap<String, (Option<String>, Option<String>)>,
    views: HashMap<String, String>,
}

impl ReadBack {
    async fn read(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        ns: &str,
    ) -> Result<ReadBack, sqlx::Error> {
        let mut columns: HashMap<String, Vec<sqlx::postgres::PgRow>> = HashMap::new();
        for r in shadow_rows(tx, ns,
            "select c.relname::text as rel, format_type(a.atttypid, a.atttypmod) as ty,
                    pg_get_expr(d.adbin, d.adrelid, true) as def, a.attgenerated::text as generated
             from pg_attribute a join pg_class c on c.oid = a.attrelid
             left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
             where c.relnamespace = $1::regnamespace and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
             order by c.relname, a.attnum",
        )
        .await?
        {
            columns.entry(r.get("rel")).or_default().push(r);
        }
        // Checks by their expression, exclusions by their definition.
        let checks = shadow_rows(tx, ns, "select c.relname::text as rel, con.conname::text as name,
                    case con.contype when 'x' then pg_get_constraintdef(con.oid, true)
                         else pg_get_expr(con.conbin, con.conrelid, true) end as expr
             from pg_constraint con join pg_class c on c.oid = con.conrelid
             where c.relnamespace = $1::regnamespace and con.contype in ('c', 'x')")
            .await?
            .into_iter()
            .map(|r| ((r.get("rel"), r.get("name")), r.get("expr")))
            .collect();
        let indexes = shadow_rows(tx, ns, "select ic.relname::text as rel,
                    array(select pg_get_indexdef(i.indexrelid, k, true) from generate_series(1, i.indnkeyatts) k) as keys,
                    pg_get_expr(i.indpred, i.indrelid, true) as pred
             from pg_index i join pg_class ic on ic.oid = i.indexrelid where ic.relnamespace = $1::regnamespace")
            .await?
            .into_iter()
            .map(|r| (r.get("rel"), (r.get("keys"), r.get("pred"))))
            .collect();
        let policies = shadow_rows(tx, ns, "select p.polname::text as name, pg_get_expr(p.polqual, p.polrelid, true) as q,
                    pg_get_expr(p.polwithcheck, p.polrelid, true) as w
             from pg_policy p join pg_class c on c.oid = p.polrelid where c.relnamespace = $1::regnamespace")
            .await?
            .into_iter()
            .map(|r| (r.get("name"), (r.get("q"), r.get("w"))))
            .collect();
        let views = shadow_rows(
            tx,
            ns,
            "select c.relname::text as rel, pg_get_viewdef(c.oid, true) as def
             from pg_class c where c.relnamespace = $1::regnamespace and c.relkind = 'v'",
        )
        .await?
        .into_iter()
        .map(|r| (r.get("rel"), r.get("def")))
        .collect();
        Ok(ReadBack {
            columns,
            checks,
            indexes,
            policies,
            views,
        })
    }

    /// Puts the server's forms into object `i`'s fields that were given.
    fn apply(&self, i: usize, s: &mut Spec) {
        match s {
            Spec::PgTable(t) => self.table(i, t),
            Spec::PgIndex(ix) => {
                let Some((keys, pred)) = self.indexes.get(&format!("i{i}")) else {
                    return;
                };
                for (k, text) in ix.columns.iter_mut().zip(keys) {
                    if k.expression.is_some() {
                        match split_ident(text) {
                            Some((id, rest)) if rest.trim().is_empty() => {
                                k.expression = None;
                                k.column = Some(id);
                            }
                            _ => k.expression = Some(text.clone()),
                        }
                    }
                }
                if ix.predicate.is_some() {
                    ix.predicate = pred.clone();
                }
            }
            Spec::PgPolicy(p) => {
                let Some((q, w)) = self.policies.get(&format!("p{i}")) else {
                    return;
                };
                if p.using.is_some() {
                    p.using = q.clone();
                }
                if p.with_check.is_some() {
                    p.with_check = w.clone();
                }
            }
            Spec::PgView(v) => {
                if let Some(def) = self.views.get(&format!("v{i}")) {
                    v.query = super::inspect::normalize_query(def);
                }
            }
            _ => {}
        }
    }

    fn table(&self, i: usize, t: &mut Table) {
        let rel = format!("t{i}");
        let Some(rows) = self.columns.get(&rel) else {
            return;
        };
        for (c, r) in t.column.iter_mut().zip(rows) {
            if serial_type(&c.ty).is_some() {
                continue;
            }
            c.ty = r.get("ty");
            let def: Option<String> = r.get("def");
            let generated: String = r.get("generated");
            if generated == "s" {
                c.generated = def;
            } else if c.default.is_some() && def.is_some() {
                // A default the shadow could not take yet reads back as none: kept as written.
                c.default = def;
            }
        }
        for (k, ch) in t.check.iter_mut().enumerate() {
            if let Some(expr) = self.checks.get(&(rel.clone(), format!("c{k}"))) {
                ch.expression = expr.clone().unwrap_or_default();
            }
        }
        for (k, x) in t.exclude.iter_mut().enumerate() {
            if let Some(Some(def)) = self.checks.get(&(rel.clone(), format!("x{k}"))) {
                x.definition = super::inspect::exclusion_definition(def);
            }
        }
    }
}

/// Rows of a read-back query over the shadow schema `ns` (bound as `$1`).
async fn shadow_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ns: &str,
    sql: &str,
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    sqlx::query(sql).bind(ns).fetch_all(&mut **tx).within("PostgreSQL").await
}

/// Runs DDL under a savepoint; `false` (and rolled back to the savepoint) when the server refuses it.
async fn try_ddl(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ddl: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query("savepoint falconer_normalize")
        .execute(&mut **tx)
        .within("PostgreSQL")
        .await?;
    // A prepared statement: the server refuses more than one command in it.
    match sqlx::query(ddl).execute(&mut **tx).within("PostgreSQL").await {
        Ok(_) => {
            sqlx::query("release savepoint falconer_normalize")
                .execute(&mut **tx)
                .within("PostgreSQL")
                .await?;
            Ok(true)
        }
        Err(sqlx::Error::Database(e)) => {
            tracing::debug!(error = %e.message(), "cannot normalize an object yet; it is compared as written");
            sqlx::query("rollback to savepoint falconer_normalize")
                .execute(&mut **tx)
                .within("PostgreSQL")
                .await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
