//! The tenant's aggregates (`CREATE AGGREGATE`): identified by name and argument types, as functions are,
//! and compared on their state function and type, final and combine functions, initial condition, sort
//! operator and parallel safety. A change is `CREATE OR REPLACE AGGREGATE` (PostgreSQL 12 and later).
//! Ordered-set and hypothetical-set aggregates and moving-aggregate forms stay in the inventory.

use super::function::{Parallel, canonical_type};
use super::sql::{qualified, quote_literal};
use super::*;

model! {
    /// An aggregate of the tenant.
    #[derive(Default)]
    pub struct Aggregate {
        pub name: String,
        pub schema: String,
        /// The role that owns it (server default: the role that creates it).
        pub owner: Option<String>,
        /// The argument types (`numeric`; `[]`: an aggregate over `*`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub argument: Vec<String>,
        /// SFUNC: the state transition function (`numeric_add`, `app.add_cents`).
        pub state_function: String,
        /// STYPE: the state's type.
        pub state_type: String,
        /// FINALFUNC.
        pub final_function: Option<String>,
        /// FINALFUNC_EXTRA. Default: false.
        pub final_extra: Option<bool>,
        /// COMBINEFUNC (for parallel aggregation).
        pub combine_function: Option<String>,
        /// SERIALFUNC.
        pub serial_function: Option<String>,
        /// DESERIALFUNC.
        pub deserial_function: Option<String>,
        /// INITCOND, as text.
        pub initial_condition: Option<String>,
        /// SORTOP (`>` for a `max`-like aggregate).
        pub sort_operator: Option<String>,
        /// Default: unsafe.
        pub parallel: Option<Parallel>,
        pub comment: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

pub(super) static AGGREGATE: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "aggregate",
    title: "PostgreSQL aggregate",
    identity: &["schema", "signature"],
    holds_data: false,
    fields: &[
        // Its name and argument types are its signature: others make another aggregate.
        FieldMeta::new("argument", IMMUTABLE),
        FieldMeta::new("name", IMMUTABLE),
        FieldMeta::new("owner", SERVER_DEFAULT),
        FieldMeta::new("final_extra", SERVER_DEFAULT),
        FieldMeta::new("parallel", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl Aggregate {
    /// `name(type, type)`, as a function's signature (`name(*)` has none).
    pub fn signature(&self) -> String {
        format!("{}({})", self.name, self.types())
    }

    fn types(&self) -> String {
        match self.argument.is_empty() {
            true => "*".into(),
            false => self.argument.iter().map(|t| canonical_type(t)).collect::<Vec<_>>().join(", "),
        }
    }

    /// `name(type, type)` as the catalog lists it (`name()` for an aggregate over `*`).
    pub fn catalog_name(&self) -> String {
        let types: Vec<String> = self.argument.iter().map(|t| canonical_type(t)).collect();
        format!("{}({})", self.name, types.join(", "))
    }

    /// `"schema"."name"(type)`: how DROP, ALTER and COMMENT name it.
    pub fn target(&self) -> String {
        format!("{}({})", qualified(&self.schema, &self.name), self.types())
    }

    /// The support functions it names, by field.
    fn functions(&self) -> Vec<(&'static str, &String)> {
        [
            ("state_function", Some(&self.state_function)),
            ("final_function", self.final_function.as_ref()),
            ("combine_function", self.combine_function.as_ref()),
            ("serial_function", self.serial_function.as_ref()),
            ("deserial_function", self.deserial_function.as_ref()),
        ]
        .into_iter()
        .filter_map(|(f, v)| v.map(|v| (f, v)))
        .collect()
    }

    fn functions_mut(&mut self) -> Vec<&mut String> {
        let mut out = vec![&mut self.state_function];
        for f in [
            &mut self.final_function,
            &mut self.combine_function,
            &mut self.serial_function,
            &mut self.deserial_function,
        ] {
            out.extend(f.as_mut());
        }
        out
    }
}

impl ResourceKind for Aggregate {
    kind_basics!(AGGREGATE, |self| { vec![self.schema.clone(), self.signature()] });
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut r = vec![Reference::soft("schema", addr("schema", &[&self.schema]))];
        r.extend(owner_reference(&self.owner));
        for (i, ty) in self.argument.iter().enumerate() {
            r.extend(types::type_reference(format!("argument[{i}]"), ty, tenant));
        }
        r.extend(types::type_reference("state_type".into(), &self.state_type, tenant));
        for (field, f) in self.functions() {
            // A function is named as a call would name it: any overload of the name.
            r.extend(uses(field, &format!("{f}(null)"), &self.schema, tenant));
        }
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn normalize(&mut self) {
        for a in &mut self.argument {
            *a = canonical_type(a);
        }
        if self.final_extra == Some(false) {
            self.final_extra = None;
        }
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        for (field, f) in self.functions() {
            if let Err(e) = sql::check_expr(&format!("{f}(null)")) {
                cx.error(field, "invalid-sql", format!("`{f}` is not a function's name: {e}"));
            }
        }
        for (i, ty) in self.argument.iter().enumerate() {
            if let Err(e) = sql::check_type(ty) {
                cx.error(&format!("argument[{i}]"), "invalid-sql", e.to_string());
            }
        }
        if let Err(e) = sql::check_type(&self.state_type) {
            cx.error("state_type", "invalid-sql", e.to_string());
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        rename_owner(r, &mut self.owner);
        for text in self.functions_mut() {
            sql::rename_schemas(r, text);
        }
        sql::rename_schemas(r, &mut self.state_type);
        for a in &mut self.argument {
            sql::rename_schemas(r, a);
        }
    }
}

/// `CREATE OR REPLACE AGGREGATE` with its options; the comment after it.
pub fn create(a: &Aggregate) -> Vec<String> {
    let mut out = vec![definition(a)];
    if a.comment.is_some() {
        out.push(comment(a));
    }
    out
}

fn definition(a: &Aggregate) -> String {
    let mut opts = vec![format!("sfunc = {}", a.state_function), format!("stype = {}", a.state_type)];
    let named = [
        ("finalfunc", &a.final_function),
        ("combinefunc", &a.combine_function),
        ("serialfunc", &a.serial_function),
        ("deserialfunc", &a.deserial_function),
        ("sortop", &a.sort_operator),
    ];
    for (k, v) in named {
        if let Some(v) = v {
            opts.push(format!("{k} = {v}"));
        }
    }
    if a.final_extra == Some(true) {
        opts.push("finalfunc_extra".into());
    }
    if let Some(init) = &a.initial_condition {
        opts.push(format!("initcond = {}", quote_literal(init)));
    }
    if let Some(p) = a.parallel {
        opts.push(format!("parallel = {}", format!("{p:?}").to_lowercase()));
    }
    format!("create or replace aggregate {} ({})", a.target(), opts.join(", "))
}

fn comment(a: &Aggregate) -> String {
    let text = a.comment.as_deref().map_or("null".to_string(), quote_literal);
    format!("comment on aggregate {} is {text}", a.target())
}

/// The statements that change `l` into `d` (same signature).
pub fn update(d: &Aggregate, l: &Aggregate) -> Vec<String> {
    let mut same = d.clone();
    (same.comment, same.owner) = (l.comment.clone(), l.owner.clone());
    let mut out = if same == *l { Vec::new() } else { vec![definition(d)] };
    if d.comment != l.comment {
        out.push(comment(d));
    }
    out
}

pub fn drop(a: &Aggregate) -> String {
    format!("drop aggregate {}", a.target())
}

#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    schema: String,
    name: String,
    owner: String,
    arg_types: Vec<String>,
    sfunc: String,
    stype: String,
    finalfunc: Option<String>,
    final_extra: bool,
    combinefunc: Option<String>,
    serialfunc: Option<String>,
    deserialfunc: Option<String>,
    initcond: Option<String>,
    sortop: Option<String>,
    parallel: String,
    comment: Option<String>,
}

impl Row {
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// The plain aggregates of the schemas `$1`, not an extension's. Functions are named as `regproc` prints
/// them: qualified unless in `pg_catalog`.
pub const SQL: &str = "select n.nspname::text as schema, p.proname::text as name,
       pg_get_userbyid(p.proowner)::text as owner,
       array(select format_type(t, null) from unnest(p.proargtypes::oid[]) with ordinality u(t, o) order by u.o) as arg_types,
       a.aggtransfn::regproc::text as sfunc, format_type(a.aggtranstype, null) as stype,
       nullif(a.aggfinalfn, 0)::regproc::text as finalfunc, a.aggfinalextra as final_extra,
       nullif(a.aggcombinefn, 0)::regproc::text as combinefunc,
       nullif(a.aggserialfn, 0)::regproc::text as serialfunc,
       nullif(a.aggdeserialfn, 0)::regproc::text as deserialfunc,
       a.agginitval as initcond,
       case when a.aggsortop <> 0 then (select o.oprname::text from pg_operator o where o.oid = a.aggsortop) end as sortop,
       p.proparallel::text as parallel, ds.description as comment
  from pg_aggregate a join pg_proc p on p.oid = a.aggfnoid join pg_namespace n on n.oid = p.pronamespace
  left join pg_description ds on ds.objoid = p.oid and ds.classoid = 'pg_proc'::regclass and ds.objsubid = 0
 where n.nspname = any($1) and a.aggkind = 'n' and a.aggmtransfn = 0
   and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
 order by 1, 2";

/// The aggregates the rows describe.
pub fn of_rows(rows: Vec<Row>) -> Vec<crate::domains::Spec> {
    rows.into_iter()
        .map(|r| {
            crate::domains::Spec::PgAggregate(Aggregate {
                argument: r.arg_types,
                state_function: r.sfunc,
                state_type: r.stype,
                final_function: r.finalfunc,
                final_extra: Some(r.final_extra),
                combine_function: r.combinefunc,
                serial_function: r.serialfunc,
                deserial_function: r.deserialfunc,
                initial_condition: r.initcond,
                sort_operator: r.sortop,
                parallel: Some(Parallel::of_code(&r.parallel)),
                comment: r.comment,
                name: r.name,
                schema: r.schema,
                owner: Some(r.owner),
                depends_on: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aggregate_is_created_by_its_signature_with_its_options() {
        let a = Aggregate {
            name: "sum_cents".into(),
            schema: "app".into(),
            argument: vec!["int8".into()],
            state_function: "app.cents_add".into(),
            state_type: "bigint".into(),
            initial_condition: Some("0".into()),
            parallel: Some(Parallel::Safe),
            ..Default::default()
        };
        assert_eq!(a.signature(), "sum_cents(bigint)");
        assert_eq!(
            definition(&a),
            "create or replace aggregate \"app\".\"sum_cents\"(bigint) (sfunc = app.cents_add, stype = bigint, initcond = '0', parallel = safe)"
        );
        let star = Aggregate { argument: vec![], ..a };
        assert_eq!(star.target(), "\"app\".\"sum_cents\"(*)");
    }
}
