//! The tenant's own types: enums, composite types, domains and ranges (`CREATE TYPE`, `CREATE DOMAIN`).

use super::sql::{qualified, quote_ident, quote_literal};
use super::*;

choice! { "snake_case";
    /// What a type is.
    pub enum TypeKind { Enum, Composite, Domain, Range }
}

model! {
    /// A type of the tenant: an enum (its labels in order), a composite type (its attributes), a domain
    /// (a base type with a default, `NOT NULL` and named checks) or a range (of a subtype, its `base`).
    pub struct Type {
        pub name: String,
        pub schema: String,
        /// The role that owns it (server default: the role that creates it).
        pub owner: Option<String>,
        pub kind: TypeKind,
        /// An enum's labels, in their order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub values: Vec<String>,
        /// A composite type's attributes, in their order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub attribute: Vec<Attribute>,
        /// A domain's base type, or a range's subtype, as PostgreSQL writes it (`text`, `numeric(12,2)`).
        pub base: Option<String>,
        /// A range's subtype operator class (default: the subtype's default B-tree class).
        pub subtype_opclass: Option<String>,
        /// A range's canonical function.
        pub canonical: Option<String>,
        /// A range's subtype difference function (`float8mi`).
        pub subtype_diff: Option<String>,
        /// The name of a range's multirange type (default: PostgreSQL's).
        pub multirange: Option<String>,
        /// A domain's default (SQL).
        pub default: Option<String>,
        /// A domain's NULL: default true.
        pub nullable: Option<bool>,
        /// A domain's named CHECK constraints (`VALUE` is the value checked).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub check: Vec<Check>,
        pub collation: Option<String>,
        /// The roles that may use it besides its owner (`public`: every role, as a new type allows); `[]`
        /// after `REVOKE USAGE ... FROM PUBLIC` with no grant. Default: as the server has it.
        pub usage: Option<Vec<String>>,
        pub comment: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// An attribute of a composite type.
    pub struct Attribute {
        pub name: String,
        #[serde(rename = "type")]
        pub ty: String,
        pub collation: Option<String>,
    }
}

pub(super) static TYPE: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "type",
    title: "PostgreSQL type (enum, composite, domain, range)",
    identity: &["schema", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("owner", SERVER_DEFAULT),
        FieldMeta::new("kind", IMMUTABLE),
        FieldMeta::new("base", IMMUTABLE),
        FieldMeta::keyed("attribute", "name", 0),
        FieldMeta::new("nullable", SERVER_DEFAULT),
        FieldMeta::keyed("check", "name", 0),
        FieldMeta::new("collation", IMMUTABLE),
        FieldMeta::new("subtype_opclass", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("canonical", IMMUTABLE),
        FieldMeta::new("subtype_diff", IMMUTABLE),
        FieldMeta::new("multirange", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("usage", SET | SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

/// The tenant-schema types a type name refers to (`app.status`, `"App"."Money"[]`): (schema, name).
pub fn named_type(ty: &str) -> Option<(String, String)> {
    let t = ty.trim().trim_end_matches("[]");
    let (schema, rest) = sql::split_ident(t)?;
    let rest = rest.strip_prefix('.')?;
    let (name, tail) = sql::split_ident(rest)?;
    (tail.trim().is_empty() || tail.trim_start().starts_with('(')).then_some((schema, name))
}

/// A soft reference to a type of the tenant when `ty` names one in a schema of the tenant.
pub fn type_reference(field: String, ty: &str, tenant: &Tenant) -> Option<Reference> {
    let (schema, name) = named_type(ty)?;
    schema_in_scope(&schema, tenant).then(|| Reference::soft(field, addr("type", &[&schema, &name])))
}

impl ResourceKind for Type {
    kind_basics!(TYPE, |self| { vec![self.schema.clone(), self.name.clone()] });
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut r = vec![Reference::soft("schema", addr("schema", &[&self.schema]))];
        r.extend(owner_reference(&self.owner));
        for (i, a) in self.attribute.iter().enumerate() {
            r.extend(type_reference(format!("attribute[{i}].type"), &a.ty, tenant));
        }
        if let Some(b) = &self.base {
            r.extend(type_reference("base".into(), b, tenant));
        }
        if let Some(f) = &self.subtype_diff {
            r.extend(uses("subtype_diff", &format!("{f}(null)"), &self.schema, tenant));
        }
        for (i, role) in self.usage.iter().flatten().enumerate() {
            if !is_builtin_role(role) {
                r.push(Reference::soft(format!("usage[{i}]"), addr("role", &[role])));
            }
        }
        r
    }
    fn normalize(&mut self) {
        super::function::normalize_holders(&mut self.usage);
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn hazards(&self, live: Option<&Self>, _: &super::super::HazardCx<'_>) -> Vec<Hazard> {
        let Some(l) = live else { return Vec::new() };
        if self.kind == TypeKind::Enum && l.kind == TypeKind::Enum && added_labels(&self.values, &l.values).is_none() {
            return vec![Hazard::new(
                HazardCode::Impossible,
                format!(
                    "enum {}.{}: labels cannot be removed or reordered in place (PostgreSQL only adds them); \
                     create a new type, move the columns to it, then drop the old one",
                    self.schema, self.name
                ),
            )];
        }
        Vec::new()
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        let (enum_, composite, domain, range) = (
            !self.values.is_empty(),
            !self.attribute.is_empty(),
            self.base.is_some() || self.default.is_some() || self.nullable.is_some() || !self.check.is_empty(),
            self.subtype_opclass.is_some()
                || self.canonical.is_some()
                || self.subtype_diff.is_some()
                || self.multirange.is_some(),
        );
        let domain_only = self.default.is_some() || self.nullable.is_some() || !self.check.is_empty();
        let wrong = match self.kind {
            TypeKind::Enum => [(composite, "attribute"), (domain, "base"), (range, "subtype_diff")],
            TypeKind::Composite => [(enum_, "values"), (domain, "base"), (range, "subtype_diff")],
            TypeKind::Domain => [(enum_, "values"), (composite, "attribute"), (range, "subtype_diff")],
            TypeKind::Range => [(enum_, "values"), (composite, "attribute"), (domain_only, "default")],
        };
        for (set, field) in wrong {
            if set {
                cx.error(field, "conflict", format!("a {:?} type has no `{field}`", self.kind).to_lowercase());
            }
        }
        if self.kind == TypeKind::Domain && self.base.is_none() {
            cx.error("base", "missing", "a domain needs its `base` type");
        }
        if self.kind == TypeKind::Range && self.base.is_none() {
            cx.error("base", "missing", "a range needs its subtype as `base`");
        }
        let mut seen = HashSet::new();
        for (i, v) in self.values.iter().enumerate() {
            if !seen.insert(v) {
                cx.error(&format!("values[{i}]"), "duplicate", format!("label `{v}` is listed twice"));
            }
        }
        self.check_sql(cx);
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        rename_owner(r, &mut self.owner);
        for role in self.usage.iter_mut().flatten() {
            r.tenant_word(role);
        }
        for a in &mut self.attribute {
            sql::rename_schemas(r, &mut a.ty);
        }
        for text in [&mut self.base, &mut self.default, &mut self.subtype_diff, &mut self.canonical]
            .into_iter()
            .flatten()
        {
            sql::rename_schemas(r, text);
        }
        for c in &mut self.check {
            sql::rename_schemas(r, &mut c.expression);
        }
    }
}

impl Type {
    fn check_sql(&self, cx: &mut Checker<'_>) {
        let types = self
            .attribute
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("attribute[{i}].type"), &a.ty))
            .chain(self.base.iter().map(|b| ("base".to_string(), b)));
        for (field, ty) in types {
            if let Err(e) = sql::check_type(ty) {
                cx.error(&field, "invalid-sql", e.to_string());
            }
        }
        let exprs = self
            .default
            .iter()
            .map(|d| ("default".to_string(), d))
            .chain(self.check.iter().enumerate().map(|(i, c)| (format!("check[{i}].expression"), &c.expression)));
        for (field, e) in exprs {
            if let Err(e) = sql::check_expr(e) {
                cx.error(&field, "invalid-sql", format!("`{field}` must be one SQL expression: {e}"));
            }
        }
    }
}

/// The labels `desired` adds to `live` with where each goes (`BEFORE`/`AFTER` a label that exists), or
/// `None` when `desired` removes or reorders a live label.
pub fn added_labels(desired: &[String], live: &[String]) -> Option<Vec<String>> {
    let kept: Vec<&String> = desired.iter().filter(|v| live.contains(v)).collect();
    if kept.len() != live.len() || kept.iter().zip(live).any(|(a, b)| *a != b) {
        return None;
    }
    let mut out = Vec::new();
    for (i, v) in desired.iter().enumerate() {
        if live.contains(v) {
            continue;
        }
        // Placed after the nearest earlier label, which exists by then (live, or added just before).
        let place = match i.checked_sub(1).map(|p| &desired[p]) {
            Some(prev) => format!(" after {}", quote_literal(prev)),
            None => match desired.iter().find(|n| live.contains(n)) {
                Some(next) => format!(" before {}", quote_literal(next)),
                None => String::new(),
            },
        };
        out.push(format!("{}{place}", quote_literal(v)));
    }
    Some(out)
}

pub fn word(t: &Type) -> &'static str {
    match t.kind {
        TypeKind::Domain => "domain",
        _ => "type",
    }
}

/// `CREATE TYPE` / `CREATE DOMAIN`, and the comment.
pub fn create(t: &Type) -> Vec<String> {
    let name = qualified(&t.schema, &t.name);
    let mut out = vec![match t.kind {
        TypeKind::Enum => {
            let labels: Vec<String> = t.values.iter().map(|v| quote_literal(v)).collect();
            format!("create type {name} as enum ({})", labels.join(", "))
        }
        TypeKind::Composite => {
            let attrs: Vec<String> = t.attribute.iter().map(attribute_def).collect();
            format!("create type {name} as ({})", attrs.join(", "))
        }
        TypeKind::Domain => domain_def(t, &name),
        TypeKind::Range => range_def(t, &name),
    }];
    if t.comment.is_some() {
        out.push(comment(t));
    }
    out.extend(usage_changes(t, None));
    out
}

/// `GRANT` and `REVOKE USAGE` that make the roles allowed to use `t` its `usage`.
fn usage_changes(t: &Type, had: Option<&Vec<String>>) -> Vec<String> {
    let on = format!("{} {}", word(t), qualified(&t.schema, &t.name));
    super::function::privilege_changes("usage", &on, t.usage.as_ref(), had)
}

fn attribute_def(a: &Attribute) -> String {
    let mut s = format!("{} {}", quote_ident(&a.name), a.ty);
    if let Some(c) = &a.collation {
        s.push_str(&format!(" collate {}", quote_ident(c)));
    }
    s
}

fn domain_def(t: &Type, name: &str) -> String {
    let mut s = format!("create domain {name} as {}", t.base.as_deref().unwrap_or("text"));
    if let Some(c) = &t.collation {
        s.push_str(&format!(" collate {}", quote_ident(c)));
    }
    if let Some(d) = &t.default {
        s.push_str(&format!(" default {d}"));
    }
    if t.nullable == Some(false) {
        s.push_str(" not null");
    }
    for c in &t.check {
        s.push_str(&format!(" {}", super::ddl::check_def(c)));
    }
    s
}

fn range_def(t: &Type, name: &str) -> String {
    let mut opts = vec![format!("subtype = {}", t.base.as_deref().unwrap_or("text"))];
    let named = [
        ("subtype_opclass", &t.subtype_opclass),
        ("canonical", &t.canonical),
        ("subtype_diff", &t.subtype_diff),
    ];
    for (k, v) in named {
        if let Some(v) = v {
            opts.push(format!("{k} = {v}"));
        }
    }
    if let Some(c) = &t.collation {
        opts.push(format!("collation = {}", quote_ident(c)));
    }
    if let Some(m) = &t.multirange {
        opts.push(format!("multirange_type_name = {}", qualified(&t.schema, m)));
    }
    format!("create type {name} as range ({})", opts.join(", "))
}

fn comment(t: &Type) -> String {
    let text = t.comment.as_deref().map_or("null".to_string(), quote_literal);
    format!("comment on {} {} is {text}", word(t), qualified(&t.schema, &t.name))
}

/// `ALTER TYPE ... ADD VALUE` for each label `d` adds to `l`, in order: each is committed before the rest
/// of the apply, which may use it ([`super::ddl::Statement::first`]).
pub fn add_values(d: &Type, l: &Type) -> Vec<String> {
    let name = qualified(&d.schema, &d.name);
    match d.kind {
        TypeKind::Enum => added_labels(&d.values, &l.values)
            .unwrap_or_default()
            .into_iter()
            .map(|v| format!("alter type {name} add value if not exists {v}"))
            .collect(),
        _ => Vec::new(),
    }
}

/// The statements that change `l` into `d` in place but its added labels ([`add_values`]); the kind and
/// base type are immutable (a replace).
pub fn update(d: &Type, l: &Type) -> Vec<String> {
    let name = qualified(&d.schema, &d.name);
    let mut out = match d.kind {
        TypeKind::Enum | TypeKind::Range => Vec::new(),
        TypeKind::Composite => update_attributes(&name, d, l),
        TypeKind::Domain => update_domain(&name, d, l),
    };
    if d.comment != l.comment {
        out.push(comment(d));
    }
    if d.usage.is_some() && d.usage != l.usage {
        out.extend(usage_changes(d, l.usage.as_ref()));
    }
    out
}

fn update_attributes(name: &str, d: &Type, l: &Type) -> Vec<String> {
    let mut out = Vec::new();
    for la in &l.attribute {
        if !d.attribute.iter().any(|a| a.name == la.name) {
            out.push(format!("alter type {name} drop attribute {}", quote_ident(&la.name)));
        }
    }
    for a in &d.attribute {
        match l.attribute.iter().find(|la| la.name == a.name) {
            None => out.push(format!("alter type {name} add attribute {}", attribute_def(a))),
            Some(la) if la.ty != a.ty || la.collation != a.collation => {
                out.push(format!("alter type {name} alter attribute {} type {}", quote_ident(&a.name), a.ty));
                if let Some(c) = &a.collation {
                    out.last_mut().expect("pushed").push_str(&format!(" collate {}", quote_ident(c)));
                }
            }
            Some(_) => {}
        }
    }
    out
}

fn update_domain(name: &str, d: &Type, l: &Type) -> Vec<String> {
    let mut out = Vec::new();
    if d.default != l.default {
        out.push(match &d.default {
            Some(v) => format!("alter domain {name} set default {v}"),
            None => format!("alter domain {name} drop default"),
        });
    }
    if d.nullable.is_some() && d.nullable.unwrap_or(true) != l.nullable.unwrap_or(true) {
        let verb = if d.nullable == Some(false) { "set" } else { "drop" };
        out.push(format!("alter domain {name} {verb} not null"));
    }
    for lc in &l.check {
        if !d.check.contains(lc) {
            out.push(format!("alter domain {name} drop constraint {}", quote_ident(&lc.name)));
        }
    }
    for c in d.check.iter().filter(|c| !l.check.contains(c)) {
        out.push(format!("alter domain {name} add {}", super::ddl::check_def(c)));
    }
    out
}

/// `DROP TYPE` / `DROP DOMAIN`.
pub fn drop(t: &Type) -> String {
    format!("drop {} {}", word(t), qualified(&t.schema, &t.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn enum_labels_are_added_in_place_never_removed_or_reordered() {
        let live = labels(&["draft", "sent", "paid"]);
        assert_eq!(
            added_labels(&labels(&["new", "draft", "sent", "overdue", "paid", "void"]), &live),
            Some(vec!["'new' before 'draft'".into(), "'overdue' after 'sent'".into(), "'void' after 'paid'".into()])
        );
        assert_eq!(added_labels(&live, &live), Some(vec![]));
        assert_eq!(added_labels(&labels(&["draft", "paid"]), &live), None);
        assert_eq!(added_labels(&labels(&["sent", "draft", "paid"]), &live), None);
    }

    #[test]
    fn a_column_type_names_a_type_of_a_schema() {
        assert_eq!(named_type("app.status"), Some(("app".into(), "status".into())));
        assert_eq!(named_type("\"App\".\"Money\"[]"), Some(("App".into(), "Money".into())));
        assert_eq!(named_type("app.price(10)"), Some(("app".into(), "price".into())));
        assert_eq!(named_type("text"), None);
        assert_eq!(named_type("timestamp with time zone"), None);
    }
}

/// A type as the catalog describes it.
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    schema: String,
    name: String,
    owner: String,
    kind: String,
    labels: Vec<String>,
    attr_names: Vec<String>,
    attr_types: Vec<String>,
    attr_collations: Vec<String>,
    base: Option<String>,
    default: Option<String>,
    not_null: bool,
    collation: Option<String>,
    check_names: Vec<String>,
    check_defs: Vec<String>,
    comment: Option<String>,
    subtype_opclass: Option<String>,
    canonical: Option<String>,
    subtype_diff: Option<String>,
    multirange: Option<String>,
    usage: Option<Vec<String>>,
}

impl Row {
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// The enums, composite types, domains and ranges of the schemas `$1` (not an extension's).
pub const SQL: &str = "select n.nspname::text as schema, t.typname::text as name, t.typtype::text as kind,
       pg_get_userbyid(t.typowner)::text as owner,
       coalesce((select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid), '{}') as labels,
       coalesce((select array_agg(a.attname::text order by a.attnum) from pg_attribute a
                  where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped), '{}') as attr_names,
       coalesce((select array_agg(format_type(a.atttypid, a.atttypmod) order by a.attnum) from pg_attribute a
                  where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped), '{}') as attr_types,
       coalesce((select array_agg(coalesce(case when a.attcollation <> 0 and a.attcollation <> at.typcollation
                                               then co.collname::text end, '') order by a.attnum)
                  from pg_attribute a join pg_type at on at.oid = a.atttypid left join pg_collation co on co.oid = a.attcollation
                  where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped), '{}') as attr_collations,
       case when t.typtype = 'd' then format_type(t.typbasetype, t.typtypmod)
            when t.typtype = 'r' then format_type(rng.rngsubtype, null) end as base,
       t.typdefault as default, t.typnotnull as not_null,
       case when t.typtype = 'd' and t.typcollation <> 0 and t.typcollation <> bt.typcollation then co.collname::text
            when t.typtype = 'r' and rng.rngcollation <> 0 and rng.rngcollation <> st.typcollation
              then (select rc.collname::text from pg_collation rc where rc.oid = rng.rngcollation) end as collation,
       coalesce((select array_agg(c.conname::text order by c.conname) from pg_constraint c
                  where c.contypid = t.oid and c.contype = 'c'), '{}') as check_names,
       coalesce((select array_agg(pg_get_constraintdef(c.oid, true) order by c.conname) from pg_constraint c
                  where c.contypid = t.oid and c.contype = 'c'), '{}') as check_defs,
       ds.description as comment,
       (select case when oc.opcdefault then null when ocn.nspname = 'pg_catalog' then oc.opcname::text
                    else ocn.nspname || '.' || oc.opcname end
          from pg_opclass oc join pg_namespace ocn on ocn.oid = oc.opcnamespace where oc.oid = rng.rngsubopc) as subtype_opclass,
       nullif(rng.rngcanonical, 0)::regproc::text as canonical, nullif(rng.rngsubdiff, 0)::regproc::text as subtype_diff,
       (select mt.typname::text from pg_type mt where mt.oid = rng.rngmultitypid) as multirange,
       case when t.typacl is not null then
         array(select coalesce(r.rolname::text, 'public') from aclexplode(t.typacl) a
               left join pg_roles r on r.oid = a.grantee
               where a.privilege_type = 'USAGE' and a.grantee <> t.typowner order by 1) end as usage
  from pg_type t join pg_namespace n on n.oid = t.typnamespace
  left join pg_range rng on rng.rngtypid = t.oid
  left join pg_type st on st.oid = rng.rngsubtype
  left join pg_type bt on bt.oid = t.typbasetype
  left join pg_collation co on co.oid = t.typcollation
  left join pg_class rc on rc.oid = t.typrelid
  left join pg_description ds on ds.objoid = t.oid and ds.classoid = 'pg_type'::regclass and ds.objsubid = 0
 where n.nspname = any($1) and (t.typtype in ('e', 'd', 'r') or (t.typtype = 'c' and rc.relkind = 'c'))
   and not exists (select 1 from pg_depend d where d.deptype = 'e'
                    and ((d.classid = 'pg_type'::regclass and d.objid = t.oid)
                      or (d.classid = 'pg_class'::regclass and d.objid = t.typrelid)))
 order by 1, 2";

/// `CHECK (expr)` as `pg_get_constraintdef` prints it: the expression.
fn check_expression(def: &str) -> String {
    let d = def.trim().trim_end_matches(" NOT VALID");
    d.strip_prefix("CHECK ")
        .and_then(|rest| sql::paren_group(rest))
        .map(|(inner, _)| inner)
        .unwrap_or_else(|| d.to_string())
}

/// The types the rows describe.
pub fn of_rows(rows: Vec<Row>) -> Vec<crate::domains::Spec> {
    rows.into_iter()
        .map(|r| {
            let kind = match r.kind.as_str() {
                "e" => TypeKind::Enum,
                "c" => TypeKind::Composite,
                "r" => TypeKind::Range,
                _ => TypeKind::Domain,
            };
            let domain = kind == TypeKind::Domain;
            let attribute = r
                .attr_names
                .into_iter()
                .zip(r.attr_types)
                .zip(r.attr_collations.into_iter().chain(std::iter::repeat(String::new())))
                .map(|((name, ty), c)| Attribute { name, ty, collation: (!c.is_empty()).then_some(c) })
                .collect();
            let check = r
                .check_names
                .into_iter()
                .zip(r.check_defs)
                .map(|(name, def)| Check { name, expression: check_expression(&def) })
                .collect();
            crate::domains::Spec::PgType(Type {
                name: r.name,
                schema: r.schema,
                owner: Some(r.owner),
                kind,
                values: r.labels,
                attribute,
                base: r.base,
                subtype_opclass: r.subtype_opclass,
                canonical: r.canonical,
                subtype_diff: r.subtype_diff,
                multirange: r.multirange,
                usage: r.usage,
                default: r.default,
                nullable: domain.then_some(!r.not_null),
                check,
                collation: r.collation,
                comment: r.comment,
                depends_on: Vec::new(),
            })
        })
        .collect()
}
