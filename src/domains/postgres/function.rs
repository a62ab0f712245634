//! The tenant's functions and procedures (`CREATE FUNCTION`, `CREATE PROCEDURE`), in any language but C
//! and `internal` (those are an extension's): identified by name and argument types (overloads are distinct),
//! compared on their source (`prosrc`), arguments and attributes, never on a definition that embeds the
//! schema. A body is created with `check_function_bodies` off, so a function may name a table made after it.

use std::collections::BTreeMap;

use super::sql::{qualified, quote_ident, quote_literal};
use super::*;

choice! { "snake_case";
    /// A function or a procedure.
    pub enum RoutineKind { Function, Procedure }
    /// How an argument is passed.
    pub enum ArgMode { In, Out, Inout, Variadic }
    pub enum Volatility { Immutable, Stable, Volatile }
    pub enum Parallel { Unsafe, Restricted, Safe }
}

model! {
    /// A function or procedure of the tenant.
    pub struct Function {
        pub name: String,
        pub schema: String,
        /// The role that owns it (server default: the role that creates it).
        pub owner: Option<String>,
        /// Default: function.
        pub kind: Option<RoutineKind>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub argument: Vec<Argument>,
        /// A function's result as PostgreSQL writes it (`integer`, `trigger`, `SETOF app.orders`,
        /// `TABLE(id bigint, total numeric)`); a procedure has none.
        pub returns: Option<String>,
        /// `sql`, `plpgsql`, or another installed language.
        pub language: String,
        /// The source, as written between the dollar quotes.
        pub body: String,
        /// Default: volatile.
        pub volatility: Option<Volatility>,
        /// RETURNS NULL ON NULL INPUT. Default: false.
        pub strict: Option<bool>,
        /// SECURITY DEFINER: runs with its owner's privileges. Default: false.
        pub security_definer: Option<bool>,
        pub leakproof: Option<bool>,
        /// Default: unsafe.
        pub parallel: Option<Parallel>,
        pub cost: Option<f64>,
        pub rows: Option<f64>,
        /// Settings in force while it runs (`SET search_path = app, pg_temp`).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub set: BTreeMap<String, String>,
        /// The roles that may call it besides its owner (`public`: every role, as a new function allows);
        /// `[]` after `REVOKE EXECUTE ... FROM PUBLIC` with no grant. Default: as the server has it.
        pub execute: Option<Vec<String>>,
        pub comment: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// An argument of a function or procedure.
    pub struct Argument {
        pub name: Option<String>,
        #[serde(rename = "type")]
        pub ty: String,
        /// Default: in.
        pub mode: Option<ArgMode>,
        /// Default value (SQL).
        pub default: Option<String>,
    }
}

pub(super) static FUNCTION: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "function",
    title: "PostgreSQL function or procedure",
    identity: &["schema", "signature"],
    holds_data: false,
    fields: &[
        FieldMeta::new("owner", SERVER_DEFAULT),
        // The name is the signature's: another name is another function.
        FieldMeta::new("name", IMMUTABLE),
        FieldMeta::new("kind", IMMUTABLE),
        FieldMeta::new("argument", IMMUTABLE),
        FieldMeta::new("returns", IMMUTABLE),
        FieldMeta::new("volatility", SERVER_DEFAULT),
        FieldMeta::new("strict", SERVER_DEFAULT),
        FieldMeta::new("security_definer", SERVER_DEFAULT),
        FieldMeta::new("leakproof", SERVER_DEFAULT),
        FieldMeta::new("parallel", SERVER_DEFAULT),
        FieldMeta::new("cost", SERVER_DEFAULT),
        FieldMeta::new("execute", SET | SERVER_DEFAULT),
        FieldMeta::new("rows", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl Parallel {
    /// From `pg_proc.proparallel` (`s`, `r`, `u`).
    pub fn of_code(code: &str) -> Parallel {
        match code {
            "s" => Parallel::Safe,
            "r" => Parallel::Restricted,
            _ => Parallel::Unsafe,
        }
    }
}

/// Type names as `format_type` prints them for a function's arguments (no type modifiers).
const ALIASES: &[(&str, &str)] = &[
    ("int", "integer"),
    ("int4", "integer"),
    ("int8", "bigint"),
    ("int2", "smallint"),
    ("bool", "boolean"),
    ("float8", "double precision"),
    ("float4", "real"),
    ("float", "double precision"),
    ("decimal", "numeric"),
    ("varchar", "character varying"),
    ("char", "character"),
    ("bpchar", "character"),
    ("timestamptz", "timestamp with time zone"),
    ("timestamp", "timestamp without time zone"),
    ("timetz", "time with time zone"),
    ("time", "time without time zone"),
];

/// A type as a function's signature writes it: aliases spelled out, type modifiers dropped (PostgreSQL
/// ignores them in arguments), names lower-cased unless quoted.
pub fn canonical_type(ty: &str) -> String {
    let t = ty.trim();
    let (base, arrays) = match t.find("[]") {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let base = match base.find('(') {
        Some(i) if !base.starts_with('"') => base[..i].trim_end(),
        _ => base,
    };
    if base.contains('"') {
        return format!("{base}{arrays}");
    }
    let lower = base.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == lower)
        .map_or(lower.clone(), |(_, t)| t.to_string());
    format!("{name}{arrays}")
}

impl Function {
    /// `name(type, type)`: the identity PostgreSQL gives it (the types of its in, inout and variadic
    /// arguments).
    pub fn signature(&self) -> String {
        format!("{}({})", self.name, self.types().join(", "))
    }

    fn types(&self) -> Vec<String> {
        self.argument
            .iter()
            .filter(|a| a.mode != Some(ArgMode::Out))
            .map(|a| canonical_type(&a.ty))
            .collect()
    }

    fn is_procedure(&self) -> bool {
        self.kind == Some(RoutineKind::Procedure)
    }

    pub fn word(&self) -> &'static str {
        if self.is_procedure() { "procedure" } else { "function" }
    }

    /// `"schema"."name"(type, type)`: how DROP, ALTER and COMMENT name it.
    pub fn target(&self) -> String {
        format!("{}({})", qualified(&self.schema, &self.name), self.types().join(", "))
    }
}

impl ResourceKind for Function {
    kind_basics!(FUNCTION, |self| { vec![self.schema.clone(), self.signature()] });
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut r = vec![Reference::soft("schema", addr("schema", &[&self.schema]))];
        r.extend(owner_reference(&self.owner));
        for (i, role) in self.execute.iter().flatten().enumerate() {
            if !is_builtin_role(role) {
                r.push(Reference::soft(format!("execute[{i}]"), addr("role", &[role])));
            }
        }
        for (i, a) in self.argument.iter().enumerate() {
            r.extend(types::type_reference(format!("argument[{i}].type"), &a.ty, tenant));
        }
        if let Some(ret) = &self.returns {
            let ty = ret.trim().trim_start_matches("SETOF ").trim_start_matches("setof ");
            r.extend(types::type_reference("returns".into(), ty, tenant));
        }
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn normalize(&mut self) {
        normalize_holders(&mut self.execute);
        for a in &mut self.argument {
            a.ty = canonical_type(&a.ty);
            if a.mode == Some(ArgMode::In) {
                a.mode = None;
            }
        }
        if self.kind == Some(RoutineKind::Function) {
            self.kind = None;
        }
    }
    fn hazards(&self, live: Option<&Self>, _: &super::super::HazardCx<'_>) -> Vec<Hazard> {
        let was = live.is_some_and(|l| l.security_definer == Some(true));
        let new_owner = live.is_some_and(|l| self.owner.is_some() && l.owner != self.owner);
        if self.security_definer != Some(true) || (was && !new_owner) {
            return Vec::new();
        }
        if was {
            return vec![Hazard::new(
                HazardCode::WidensAccess,
                format!(
                    "{} {}.{} runs as SECURITY DEFINER and changes owner: it runs with {}'s privileges",
                    self.word(),
                    self.schema,
                    self.signature(),
                    self.owner.as_deref().unwrap_or_default()
                ),
            )];
        }
        vec![Hazard::new(
            HazardCode::WidensAccess,
            format!(
                "{} {}.{} runs as SECURITY DEFINER: with the privileges of its owner, the role that applies it",
                self.word(),
                self.schema,
                self.signature()
            ),
        )]
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        ident("language", &self.language, cx);
        self.check_sql(cx);
        if self.is_procedure() && self.returns.is_some() {
            cx.error("returns", "conflict", "a procedure returns nothing");
        }
        if !self.is_procedure() && self.returns.is_none() {
            cx.error("returns", "missing", "a function needs `returns` (`void` when it returns nothing)");
        }
        check_settings("set", &self.set, cx);
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        rename_owner(r, &mut self.owner);
        for role in self.execute.iter_mut().flatten() {
            r.tenant_word(role);
        }
        for a in &mut self.argument {
            sql::rename_schemas(r, &mut a.ty);
            if let Some(d) = &mut a.default {
                sql::rename_schemas(r, d);
            }
        }
        if let Some(ret) = &mut self.returns {
            sql::rename_schemas(r, ret);
        }
        sql::rename_schemas(r, &mut self.body);
        rename_settings(r, &mut self.set);
    }
}

impl Function {
    fn check_sql(&self, cx: &mut Checker<'_>) {
        for (i, a) in self.argument.iter().enumerate() {
            if let Err(e) = sql::check_type(&a.ty) {
                cx.error(&format!("argument[{i}].type"), "invalid-sql", e.to_string());
            }
            if let Some(d) = &a.default
                && let Err(e) = sql::check_expr(d)
            {
                cx.error(&format!("argument[{i}].default"), "invalid-sql", e.to_string());
            }
        }
        if let Some(ret) = &self.returns
            && let Err(e) = check_returns(ret)
        {
            cx.error("returns", "invalid-sql", e.to_string());
        }
    }
}

/// A result type: a type, `SETOF` a type, or `TABLE(name type, ...)`.
fn check_returns(ret: &str) -> Result<(), sql::SqlRefused> {
    let t = ret.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("table") {
        let inner = sql::paren_group(t[5..].trim_start())
            .filter(|(_, rest)| rest.trim().is_empty())
            .ok_or_else(|| sql::SqlRefused::NotAType(ret.to_string()))?
            .0;
        for col in sql::split_top(&inner) {
            let (_, ty) = sql::split_ident(&col).ok_or_else(|| sql::SqlRefused::NotAType(col.clone()))?;
            sql::check_type(ty)?;
        }
        return Ok(());
    }
    match lower.strip_prefix("setof ") {
        Some(_) => sql::check_type(&t[6..]),
        None => sql::check_type(t),
    }
}

/// The names of a list setting as the server stores it (`"$user", app, public`).
fn list_setting(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| sql::unquote(s.trim()))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Settings whose value is a list of names.
const LIST_SETTINGS: &[&str] = &["search_path", "temp_tablespaces"];

/// The schemas a `search_path` setting names, renamed by the map.
pub(super) fn rename_settings(r: &crate::domains::rename::Renamer, set: &mut BTreeMap<String, String>) {
    if let Some(path) = set.get_mut("search_path") {
        let renamed: Vec<String> = list_setting(path)
            .into_iter()
            .map(|s| r.whole(&SCHEMA_SCOPE, &s).map_or(s.clone(), str::to_string))
            .map(|s| sql::ident_text(&s))
            .collect();
        *path = renamed.join(", ");
    }
}

/// Setting names are words (`statement_timeout`, `app.tenant`).
pub(super) fn check_settings(field: &str, set: &BTreeMap<String, String>, cx: &mut Checker<'_>) {
    for key in set.keys() {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            cx.error(field, "invalid-name", format!("`{key}` is not a setting's name"));
        }
    }
}

/// ` set KEY to VALUE`, a list setting's names quoted as identifiers, any other value as a literal.
pub(super) fn set_clause(key: &str, value: &str) -> String {
    let value = if LIST_SETTINGS.contains(&key) {
        list_setting(value).iter().map(|s| quote_ident(s)).collect::<Vec<_>>().join(", ")
    } else {
        quote_literal(value)
    };
    format!(" set {key} to {value}")
}

/// A dollar-quote tag that does not occur in `body`.
fn dollar_tag(body: &str) -> String {
    (0..)
        .map(|i| if i == 0 { "$body$".to_string() } else { format!("$body{i}$") })
        .find(|t| !body.contains(t.as_str()))
        .expect("a free tag")
}

fn argument_def(a: &Argument) -> String {
    let mut s = String::new();
    if let Some(m) = a.mode.filter(|m| *m != ArgMode::In) {
        s.push_str(&format!("{m:?} ").to_lowercase());
    }
    if let Some(n) = &a.name {
        s.push_str(&format!("{} ", quote_ident(n)));
    }
    s.push_str(&a.ty);
    if let Some(d) = &a.default {
        s.push_str(&format!(" default {d}"));
    }
    s
}

fn attributes(f: &Function) -> String {
    let mut s = String::new();
    let word = |w: &str| format!(" {w}");
    if let Some(v) = f.volatility {
        s.push_str(&word(&format!("{v:?}").to_lowercase()));
    }
    match f.strict {
        Some(true) => s.push_str(" strict"),
        Some(false) => s.push_str(" called on null input"),
        None => {}
    }
    if let Some(p) = f.parallel {
        s.push_str(&format!(" parallel {}", format!("{p:?}").to_lowercase()));
    }
    if let Some(l) = f.leakproof {
        s.push_str(if l { " leakproof" } else { " not leakproof" });
    }
    if let Some(c) = f.cost {
        s.push_str(&format!(" cost {c}"));
    }
    if let Some(r) = f.rows.filter(|r| *r > 0.0) {
        s.push_str(&format!(" rows {r}"));
    }
    s
}

/// `CREATE OR REPLACE FUNCTION` (or `PROCEDURE`), after turning `check_function_bodies` off for the rest
/// of the transaction; then the comment and who may call it.
pub fn create(f: &Function) -> Vec<String> {
    let mut out = definition(f);
    if f.comment.is_some() {
        out.push(comment(f));
    }
    out.extend(execute_changes(f, None));
    out
}

/// `GRANT` and `REVOKE EXECUTE` that make the roles allowed to call `f` its `execute` (`had`: the live
/// function's; a new function lets PUBLIC call it).
fn execute_changes(f: &Function, had: Option<&Vec<String>>) -> Vec<String> {
    let on = format!("{} {}", f.word(), f.target());
    privilege_changes("execute", &on, f.execute.as_ref(), had)
}

/// `GRANT` and `REVOKE` of `privilege` on `on` (`function "app"."f"()`) that make the roles holding it
/// `want` (`had`: the live object's; a new object gives it to PUBLIC). Nothing when `want` is absent.
pub(super) fn privilege_changes(privilege: &str, on: &str, want: Option<&Vec<String>>, had: Option<&Vec<String>>) -> Vec<String> {
    let Some(want) = want else { return Vec::new() };
    let public = vec!["public".to_string()];
    let had = had.unwrap_or(&public);
    let who = |r: &String| if r == "public" { "public".to_string() } else { quote_ident(r) };
    let revokes = had.iter().filter(|r| !want.contains(r)).map(|r| format!("revoke {privilege} on {on} from {}", who(r)));
    let grants = want.iter().filter(|r| !had.contains(r)).map(|r| format!("grant {privilege} on {on} to {}", who(r)));
    revokes.chain(grants).collect()
}

/// Roles as a privilege's holders are compared: `public` in lower case, sorted, once each.
pub(super) fn normalize_holders(roles: &mut Option<Vec<String>>) {
    if let Some(roles) = roles {
        for r in roles.iter_mut() {
            if r.eq_ignore_ascii_case("public") {
                *r = "public".into();
            }
        }
        roles.sort();
        roles.dedup();
    }
}

/// The function's definition (`CREATE OR REPLACE`), with `check_function_bodies` off.
fn definition(f: &Function) -> Vec<String> {
    let args: Vec<String> = f.argument.iter().map(argument_def).collect();
    let mut s = format!("create or replace {} {}({})", f.word(), qualified(&f.schema, &f.name), args.join(", "));
    if let Some(r) = &f.returns {
        s.push_str(&format!(" returns {r}"));
    }
    s.push_str(&format!(" language {}", quote_ident(&f.language)));
    if !f.is_procedure() {
        s.push_str(&attributes(f));
    }
    if let Some(d) = f.security_definer {
        s.push_str(if d { " security definer" } else { " security invoker" });
    }
    for (k, v) in &f.set {
        s.push_str(&set_clause(k, v));
    }
    let tag = dollar_tag(&f.body);
    s.push_str(&format!(" as {tag}{}{tag}", f.body));
    vec!["set local check_function_bodies = off".to_string(), s]
}

fn comment(f: &Function) -> String {
    let text = f.comment.as_deref().map_or("null".to_string(), quote_literal);
    format!("comment on {} {} is {text}", f.word(), f.target())
}

/// The statements that change `l` into `d` (same signature, result and arguments: those are a replace).
pub fn update(d: &Function, l: &Function) -> Vec<String> {
    // What a definition does not hold changes on its own (the owner: `ddl::owner_change`).
    let mut same = d.clone();
    (same.comment, same.owner, same.execute) = (l.comment.clone(), l.owner.clone(), l.execute.clone());
    let mut out = if same == *l { Vec::new() } else { definition(d) };
    if d.comment != l.comment {
        out.push(comment(d));
    }
    if d.execute.is_some() && d.execute != l.execute {
        out.extend(execute_changes(d, l.execute.as_ref()));
    }
    out
}

/// `DROP FUNCTION` / `DROP PROCEDURE` by its signature.
pub fn drop(f: &Function) -> String {
    format!("drop {} {}", f.word(), f.target())
}

/// An argument as `pg_get_function_arguments` prints it (`[mode] [name] type [DEFAULT expr]`): its
/// default expression, if it has one.
pub fn default_of(printed: &str) -> Option<String> {
    let mut in_str = false;
    for (i, c) in printed.char_indices() {
        match c {
            '\'' => in_str = !in_str,
            ' ' if !in_str && printed[i..].starts_with(" DEFAULT ") => {
                return Some(printed[i + 9..].trim().to_string());
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch() -> Function {
        Function {
            name: "touch".into(),
            schema: "app".into(),
            owner: None,
            kind: None,
            argument: vec![],
            returns: Some("trigger".into()),
            language: "plpgsql".into(),
            body: "begin new.updated_at := now(); return new; end".into(),
            volatility: None,
            strict: None,
            security_definer: Some(true),
            leakproof: None,
            parallel: None,
            cost: None,
            rows: None,
            set: BTreeMap::from([("search_path".into(), "app, pg_temp".into())]),
            execute: None,
            comment: None,
            depends_on: vec![],
        }
    }

    #[test]
    fn a_signature_is_the_name_and_the_canonical_types_of_its_inputs() {
        let mut f = touch();
        f.argument = vec![
            Argument { name: Some("a".into()), ty: "INT".into(), mode: None, default: None },
            Argument { name: Some("b".into()), ty: "varchar(20)[]".into(), mode: Some(ArgMode::Inout), default: None },
            Argument { name: Some("c".into()), ty: "text".into(), mode: Some(ArgMode::Out), default: None },
            Argument { name: None, ty: "\"App\".\"Money\"".into(), mode: None, default: Some("0".into()) },
        ];
        assert_eq!(f.signature(), "touch(integer, character varying[], \"App\".\"Money\")");
        assert_eq!(canonical_type("timestamptz"), "timestamp with time zone");
        assert_eq!(canonical_type("numeric(12, 2)"), "numeric");
    }

    #[test]
    fn a_body_is_dollar_quoted_with_a_tag_it_does_not_contain() {
        let mut f = touch();
        f.body = "select '$body$'".into();
        let sql = create(&f);
        assert_eq!(sql[0], "set local check_function_bodies = off");
        assert!(sql[1].ends_with("as $body1$select '$body$'$body1$"), "{}", sql[1]);
        assert!(sql[1].contains(" security definer set search_path to \"app\", \"pg_temp\" as "), "{}", sql[1]);
    }

    #[test]
    fn a_printed_argument_gives_its_default() {
        assert_eq!(default_of("p_limit integer DEFAULT 10"), Some("10".into()));
        assert_eq!(default_of("note text DEFAULT ' DEFAULT '::text"), Some("' DEFAULT '::text".into()));
        assert_eq!(default_of("' DEFAULT ' text"), None);
        assert_eq!(default_of("a integer"), None);
    }
}

/// A function or procedure as the catalog describes it.
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    schema: String,
    name: String,
    owner: String,
    kind: String,
    arg_names: Vec<String>,
    arg_modes: Vec<String>,
    arg_types: Vec<String>,
    arguments: String,
    returns: Option<String>,
    language: String,
    body: String,
    volatility: String,
    strict: bool,
    security_definer: bool,
    leakproof: bool,
    parallel: String,
    cost: f64,
    rows: f64,
    config: Vec<String>,
    comment: Option<String>,
    execute: Option<Vec<String>>,
}

impl Row {
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// The functions and procedures of the schemas `$1` in a language with a source text (not C, not
/// `internal`, not a SQL-standard body: those stay in the inventory), not an extension's.
pub const SQL: &str = "select n.nspname::text as schema, p.proname::text as name, p.prokind::text as kind,
       pg_get_userbyid(p.proowner)::text as owner,
       coalesce(p.proargnames, '{}')::text[] as arg_names, coalesce(p.proargmodes::text[], '{}') as arg_modes,
       array(select format_type(u.t, null) from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
             with ordinality u(t, o) order by u.o) as arg_types,
       pg_get_function_arguments(p.oid) as arguments,
       case when p.prokind = 'p' then null else pg_get_function_result(p.oid) end as returns,
       l.lanname::text as language, p.prosrc as body, p.provolatile::text as volatility, p.proisstrict as strict,
       p.prosecdef as security_definer, p.proleakproof as leakproof, p.proparallel::text as parallel,
       p.procost::float8 as cost, p.prorows::float8 as rows, coalesce(p.proconfig, '{}') as config,
       ds.description as comment,
       case when p.proacl is not null then
         array(select coalesce(r.rolname::text, 'public') from aclexplode(p.proacl) a
               left join pg_roles r on r.oid = a.grantee
               where a.privilege_type = 'EXECUTE' and a.grantee <> p.proowner order by 1) end as execute
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
  left join pg_description ds on ds.objoid = p.oid and ds.classoid = 'pg_proc'::regclass and ds.objsubid = 0
 where n.nspname = any($1) and p.prokind in ('f', 'p') and l.lanname not in ('c', 'internal')
   and p.prosqlbody is null
   and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
 order by 1, 2, 4";

fn mode(code: &str) -> Option<ArgMode> {
    match code {
        "o" => Some(ArgMode::Out),
        "b" => Some(ArgMode::Inout),
        "v" => Some(ArgMode::Variadic),
        _ => None,
    }
}

/// The arguments of a row (a `RETURNS TABLE`'s columns are its result's, not arguments).
fn arguments_of(r: &Row) -> Vec<Argument> {
    let printed = sql::split_top(&r.arguments);
    let mut printed = printed.iter();
    let mut out = Vec::new();
    for (i, ty) in r.arg_types.iter().enumerate() {
        let code = r.arg_modes.get(i).map_or("i", String::as_str);
        if code == "t" {
            continue;
        }
        let name = r.arg_names.get(i).filter(|n| !n.is_empty()).cloned();
        out.push(Argument {
            name,
            ty: ty.clone(),
            mode: mode(code),
            default: printed.next().and_then(|p| default_of(p)),
        });
    }
    out
}

/// `KEY=VALUE` settings as PostgreSQL stores them (`proconfig`, `setconfig`), as a map.
pub(super) fn settings(config: &[String]) -> BTreeMap<String, String> {
    config
        .iter()
        .filter_map(|c| c.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The functions the rows describe.
pub fn of_rows(rows: Vec<Row>) -> Vec<crate::domains::Spec> {
    rows.into_iter()
        .map(|r| {
            let procedure = r.kind == "p";
            let argument = arguments_of(&r);
            crate::domains::Spec::PgFunction(Function {
                kind: procedure.then_some(RoutineKind::Procedure),
                argument,
                returns: r.returns,
                language: r.language,
                body: r.body,
                volatility: (!procedure).then_some(match r.volatility.as_str() {
                    "i" => Volatility::Immutable,
                    "s" => Volatility::Stable,
                    _ => Volatility::Volatile,
                }),
                strict: (!procedure).then_some(r.strict),
                security_definer: Some(r.security_definer),
                leakproof: (!procedure).then_some(r.leakproof),
                parallel: (!procedure).then_some(Parallel::of_code(&r.parallel)),
                cost: (!procedure).then_some(r.cost),
                rows: (!procedure).then_some(r.rows),
                set: settings(&r.config),
                execute: r.execute,
                comment: r.comment,
                name: r.name,
                schema: r.schema,
                owner: Some(r.owner),
                depends_on: Vec::new(),
            })
        })
        .collect()
}
