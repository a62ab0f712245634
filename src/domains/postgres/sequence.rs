//! The tenant's standalone sequences (`CREATE SEQUENCE`). A sequence a `serial` column made is part of that
//! column; one that a column owns (`OWNED BY`) but that is not shaped like a serial's is a sequence of its
//! own, and the column says it owns it (`owns_sequence`). Identity columns' sequences are their columns'.

use super::sql::{qualified, quote_literal};
use super::*;

model! {
    /// A sequence. Its current value is data: a restore sets it only when asked (`--sequence-values`).
    pub struct Sequence {
        pub name: String,
        pub schema: String,
        /// The role that owns it (server default: the role that creates it).
        pub owner: Option<String>,
        /// `smallint`, `integer` or `bigint` (server default: bigint).
        #[serde(rename = "type")]
        pub ty: Option<String>,
        pub start: Option<i64>,
        pub increment: Option<i64>,
        pub min_value: Option<i64>,
        pub max_value: Option<i64>,
        pub cache: Option<i64>,
        pub cycle: Option<bool>,
        pub comment: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

pub(super) static SEQUENCE: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "sequence",
    title: "PostgreSQL sequence",
    identity: &["schema", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("owner", SERVER_DEFAULT),
        FieldMeta::new("type", SERVER_DEFAULT),
        FieldMeta::new("start", SERVER_DEFAULT),
        FieldMeta::new("increment", SERVER_DEFAULT),
        FieldMeta::new("min_value", SERVER_DEFAULT),
        FieldMeta::new("max_value", SERVER_DEFAULT),
        FieldMeta::new("cache", SERVER_DEFAULT),
        FieldMeta::new("cycle", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

const TYPES: &[&str] = &["smallint", "integer", "bigint"];

impl ResourceKind for Sequence {
    kind_basics!(SEQUENCE, |self| { vec![self.schema.clone(), self.name.clone()] });
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let schema = Reference::soft("schema", addr("schema", &[&self.schema]));
        std::iter::once(schema).chain(owner_reference(&self.owner)).collect()
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn hazards(&self, live: Option<&Self>, _: &super::super::HazardCx<'_>) -> Vec<Hazard> {
        let Some(l) = live else { return Vec::new() };
        let start = self.start.or(l.start).unwrap_or(1);
        let (lo, hi) = (self.min_value.or(l.min_value), self.max_value.or(l.max_value));
        if lo.is_some_and(|lo| start < lo) || hi.is_some_and(|hi| start > hi) {
            return vec![Hazard::new(
                HazardCode::Impossible,
                format!(
                    "sequence {}.{}: its start ({start}) would be outside min_value..max_value: set `start` too",
                    self.schema, self.name
                ),
            )];
        }
        Vec::new()
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        if let Some(t) = &self.ty
            && !TYPES.contains(&t.as_str())
        {
            cx.error("type", "invalid-value", format!("a sequence is a smallint, integer or bigint, not `{t}`"));
        }
        if self.increment == Some(0) {
            cx.error("increment", "invalid-value", "the increment cannot be zero");
        }
        if let (Some(lo), Some(hi)) = (self.min_value, self.max_value)
            && lo >= hi
        {
            cx.error("min_value", "conflict", format!("min_value {lo} is not below max_value {hi}"));
        }
        if let Some(start) = self.start
            && (self.min_value.is_some_and(|lo| start < lo) || self.max_value.is_some_and(|hi| start > hi))
        {
            cx.error("start", "conflict", format!("start {start} is outside min_value..max_value"));
        }
        if self.cache.is_some_and(|c| c < 1) {
            cx.error("cache", "invalid-value", "the cache is at least 1");
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        rename_owner(r, &mut self.owner);
    }
}

/// The options clause of `CREATE`/`ALTER SEQUENCE` for the options `d` sets that differ from `l`'s.
fn options(d: &Sequence, l: Option<&Sequence>) -> String {
    let differs = |f: fn(&Sequence) -> Option<i64>| f(d).filter(|v| l.is_none_or(|l| f(l) != Some(*v)));
    let mut s = String::new();
    if let Some(t) = d.ty.as_ref().filter(|t| l.is_none_or(|l| l.ty.as_ref() != Some(*t))) {
        s.push_str(&format!(" as {t}"));
    }
    for (word, f) in [
        ("increment by", (|q: &Sequence| q.increment) as fn(&Sequence) -> Option<i64>),
        ("minvalue", |q| q.min_value),
        ("maxvalue", |q| q.max_value),
        ("start with", |q| q.start),
        ("cache", |q| q.cache),
    ] {
        if let Some(v) = differs(f) {
            s.push_str(&format!(" {word} {v}"));
        }
    }
    if let Some(c) = d.cycle.filter(|c| l.is_none_or(|l| l.cycle != Some(*c))) {
        s.push_str(if c { " cycle" } else { " no cycle" });
    }
    s
}

fn comment(q: &Sequence) -> String {
    let text = q.comment.as_deref().map_or("null".to_string(), quote_literal);
    format!("comment on sequence {} is {text}", qualified(&q.schema, &q.name))
}

/// `CREATE SEQUENCE`, and the comment.
pub fn create(q: &Sequence) -> Vec<String> {
    let mut out = vec![format!("create sequence {}{}", qualified(&q.schema, &q.name), options(q, None))];
    if q.comment.is_some() {
        out.push(comment(q));
    }
    out
}

/// `ALTER SEQUENCE` for the options that changed (never its current value), and the comment.
pub fn update(d: &Sequence, l: &Sequence) -> Vec<String> {
    let mut out = Vec::new();
    let o = options(d, Some(l));
    if !o.is_empty() {
        out.push(format!("alter sequence {}{o}", qualified(&d.schema, &d.name)));
    }
    if d.comment != l.comment {
        out.push(comment(d));
    }
    out
}

/// `DROP SEQUENCE IF EXISTS`: a sequence a column owned is gone with its table already.
pub fn drop(q: &Sequence) -> String {
    format!("drop sequence if exists {}", qualified(&q.schema, &q.name))
}

/// The largest value of a sequence's type.
pub fn type_max(ty: &str) -> i64 {
    match ty {
        "smallint" => i16::MAX as i64,
        "integer" => i32::MAX as i64,
        _ => i64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq() -> Sequence {
        Sequence {
            name: "invoice_no".into(),
            schema: "app".into(),
            owner: None,
            ty: Some("integer".into()),
            start: Some(1000),
            increment: Some(1),
            min_value: Some(1000),
            max_value: None,
            cache: Some(1),
            cycle: Some(false),
            comment: None,
            depends_on: vec![],
        }
    }

    #[test]
    fn a_sequence_alters_only_the_options_that_changed() {
        assert_eq!(
            create(&seq()),
            vec!["create sequence \"app\".\"invoice_no\" as integer increment by 1 minvalue 1000 start with 1000 cache 1 no cycle"]
        );
        let mut d = seq();
        d.increment = Some(10);
        d.cycle = Some(true);
        assert_eq!(update(&d, &seq()), vec!["alter sequence \"app\".\"invoice_no\" increment by 10 cycle"]);
        assert!(update(&seq(), &seq()).is_empty());
    }
}

/// A sequence as the catalog describes it, with the column it belongs to, if any.
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    schema: String,
    name: String,
    owner: String,
    ty: String,
    start: i64,
    increment: i64,
    min_value: i64,
    max_value: i64,
    cache: i64,
    cycle: bool,
    comment: Option<String>,
    /// The column (table oid, column number) the sequence belongs to, and how (`pg_depend.deptype`):
    /// `a`, owned by it (`OWNED BY`, as a serial's), or `i`, an identity column's own.
    column_table: Option<i64>,
    column_number: Option<i32>,
    belongs: Option<String>,
}

impl Row {
    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the sequence is the one `serial` makes for a column of type `column_type`: of that type,
    /// with every option at its default.
    pub fn is_plain_for(&self, column_type: &str) -> bool {
        let max = match column_type {
            "smallint" => i64::from(i16::MAX),
            "integer" => i64::from(i32::MAX),
            "bigint" => i64::MAX,
            _ => return false,
        };
        self.ty == column_type
            && (self.start, self.increment, self.min_value, self.cache) == (1, 1, 1, 1)
            && self.max_value == max
            && !self.cycle
    }

    /// An identity column's options, as its sequence holds them.
    pub fn identity_options(&self) -> IdentityOptions {
        IdentityOptions {
            start: Some(self.start),
            increment: Some(self.increment),
            min_value: Some(self.min_value),
            max_value: Some(self.max_value),
            cache: Some(self.cache),
            cycle: Some(self.cycle),
        }
    }

    fn belongs_as(&self, how: &str) -> bool {
        self.belongs.as_deref() == Some(how)
    }
}

/// The sequences that belong to columns, by (table oid, column number): those a column owns and those
/// of identity columns.
#[derive(Default)]
pub struct OfColumns<'a> {
    pub owned: std::collections::HashMap<(i64, i32), &'a Row>,
    pub identity: std::collections::HashMap<(i64, i32), &'a Row>,
}

pub fn of_columns(rows: &[Row]) -> OfColumns<'_> {
    let mut out = OfColumns::default();
    for r in rows {
        let (Some(table), Some(number)) = (r.column_table, r.column_number) else {
            continue;
        };
        let to = if r.belongs_as("i") {
            &mut out.identity
        } else {
            &mut out.owned
        };
        to.insert((table, number), r);
    }
    out
}

/// The sequences among the relations `$1` (oids), each with the column it belongs to (one: an identity
/// column's before one it is merely owned by).
pub const SQL: &str = "select n.nspname::text as schema, c.relname::text as name, format_type(s.seqtypid, null) as ty,
       pg_get_userbyid(c.relowner)::text as owner,
       s.seqstart as start, s.seqincrement as increment, s.seqmin as min_value, s.seqmax as max_value,
       s.seqcache as cache, s.seqcycle as cycle, ds.description as comment,
       b.refobjid::int8 as column_table, b.refobjsubid::int4 as column_number, b.deptype::text as belongs
  from pg_sequence s join pg_class c on c.oid = s.seqrelid join pg_namespace n on n.oid = c.relnamespace
  left join pg_description ds on ds.objoid = c.oid and ds.classoid = 'pg_class'::regclass and ds.objsubid = 0
  left join lateral (
    select d.refobjid, d.refobjsubid, d.deptype from pg_depend d
     where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.objsubid = 0
       and d.refclassid = 'pg_class'::regclass and d.refobjsubid > 0 and d.deptype in ('a', 'i')
     order by d.deptype desc limit 1) b on true
 where s.seqrelid = any($1::oid[])
 order by 1, 2";

/// The sequences the rows describe, but identity columns' and those a `serial` column stands for
/// (`serials`: schema, name).
pub fn of_rows(
    rows: Vec<Row>,
    serials: &std::collections::HashSet<(String, String)>,
) -> Vec<crate::domains::Spec> {
    rows.into_iter()
        .filter(|r| !r.belongs_as("i") && !serials.contains(&(r.schema.clone(), r.name.clone())))
        .map(|r| {
            crate::domains::Spec::PgSequence(Sequence {
                name: r.name,
                schema: r.schema,
                owner: Some(r.owner),
                ty: Some(r.ty),
                start: Some(r.start),
                increment: Some(r.increment),
                min_value: Some(r.min_value),
                max_value: Some(r.max_value),
                cache: Some(r.cache),
                cycle: Some(r.cycle),
                comment: r.comment,
                depends_on: Vec::new(),
            })
        })
        .collect()
}
