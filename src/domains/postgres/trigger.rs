//! Triggers on the tenant's tables and views (`CREATE [CONSTRAINT] TRIGGER`), after their table and the
//! function they call.

use super::sql::{qualified, quote_ident, quote_literal};
use super::*;

choice! { "snake_case";
    pub enum Timing { Before, After, InsteadOf }
    pub enum Event { Insert, Update, Delete, Truncate }
    pub enum ForEach { Row, Statement }
    /// When the trigger fires (`ALTER TABLE ... ENABLE/DISABLE TRIGGER`). Default: origin (enabled).
    pub enum Firing { Origin, Always, Replica, Disabled }
}

model! {
    /// A trigger on a table or view of the tenant.
    pub struct Trigger {
        pub name: String,
        pub schema: String,
        pub table: String,
        pub timing: Timing,
        pub events: Vec<Event>,
        /// `UPDATE OF` these columns.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub columns: Vec<String>,
        /// Default: statement.
        pub for_each: Option<ForEach>,
        /// WHEN condition (SQL, with `OLD` and `NEW`).
        pub when: Option<String>,
        /// The function it calls: `name` in the trigger's schema, or `schema.name`.
        pub function: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub arguments: Vec<String>,
        /// REFERENCING OLD TABLE AS.
        pub old_table: Option<String>,
        /// REFERENCING NEW TABLE AS.
        pub new_table: Option<String>,
        /// A constraint trigger (fires at the end of the statement or transaction).
        pub constraint: Option<bool>,
        pub deferrable: Option<bool>,
        pub initially_deferred: Option<bool>,
        pub firing: Option<Firing>,
        pub comment: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

pub(super) static TRIGGER: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "trigger",
    title: "PostgreSQL trigger",
    identity: &["schema", "table", "name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("timing", IMMUTABLE),
        FieldMeta::new("events", IMMUTABLE | SET),
        FieldMeta::new("columns", IMMUTABLE | SET),
        FieldMeta::new("for_each", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("when", IMMUTABLE),
        FieldMeta::new("function", IMMUTABLE),
        FieldMeta::new("arguments", IMMUTABLE),
        FieldMeta::new("old_table", IMMUTABLE),
        FieldMeta::new("new_table", IMMUTABLE),
        FieldMeta::new("constraint", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("deferrable", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("initially_deferred", IMMUTABLE | SERVER_DEFAULT),
        FieldMeta::new("firing", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl Trigger {
    /// The function's schema and name.
    fn function_name(&self) -> (String, String) {
        match sql::split_ident(&self.function) {
            Some((first, rest)) if rest.starts_with('.') => {
                let (name, _) = sql::split_ident(&rest[1..]).unwrap_or_default();
                (first, name)
            }
            Some((name, _)) => (self.schema.clone(), name),
            None => (self.schema.clone(), self.function.clone()),
        }
    }
}

impl ResourceKind for Trigger {
    kind_basics!(TRIGGER, |self| { vec![self.schema.clone(), self.table.clone(), self.name.clone()] });
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut r = vec![
            Reference::to("table", addr("table", &[&self.schema, &self.table]))
                .or(addr("view", &[&self.schema, &self.table])),
        ];
        let (schema, name) = self.function_name();
        let function = addr("function", &[&schema, &format!("{name}()")]);
        r.push(match schema_in_scope(&schema, tenant) {
            true => Reference::to("function", function),
            false => Reference::soft("function", function),
        });
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn normalize(&mut self) {
        self.events.sort();
        self.events.dedup();
        if self.for_each == Some(ForEach::Statement) {
            self.for_each = None;
        }
        if self.firing == Some(Firing::Origin) {
            self.firing = None;
        }
        for flag in [&mut self.constraint, &mut self.deferrable, &mut self.initially_deferred] {
            if *flag == Some(false) {
                *flag = None;
            }
        }
        let (schema, name) = self.function_name();
        self.function = match schema == self.schema {
            true => sql::ident_text(&name),
            false => format!("{}.{}", sql::ident_text(&schema), sql::ident_text(&name)),
        };
    }
    fn hazards(&self, live: Option<&Self>, _: &super::super::HazardCx<'_>) -> Vec<Hazard> {
        match live {
            Some(l) if l.firing != Some(Firing::Disabled) && self.firing == Some(Firing::Disabled) => {
                vec![Hazard::new(
                    HazardCode::WidensAccess,
                    format!(
                        "trigger `{}` on {}.{} stops firing: what it checks or records is no longer done",
                        self.name, self.schema, self.table
                    ),
                )]
            }
            _ => Vec::new(),
        }
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("name", &self.name, cx);
        in_schema_scope(&self.schema, cx);
        if self.events.is_empty() {
            cx.error("events", "empty", "a trigger fires on at least one event");
        }
        if !self.columns.is_empty() && !self.events.contains(&Event::Update) {
            cx.error("columns", "conflict", "`columns` are those of an UPDATE event");
        }
        if let Some(w) = &self.when
            && let Err(e) = sql::check_expr(w)
        {
            cx.error("when", "invalid-sql", format!("`when` must be one SQL expression: {e}"));
        }
        let row = self.for_each == Some(ForEach::Row);
        if self.timing == Timing::InsteadOf && !row {
            cx.error("for_each", "conflict", "an INSTEAD OF trigger fires for each row");
        }
        if self.constraint == Some(true) && (self.timing != Timing::After || !row) {
            cx.error("constraint", "conflict", "a constraint trigger is AFTER ... FOR EACH ROW");
        }
        if self.constraint != Some(true) && (self.deferrable.is_some() || self.initially_deferred.is_some()) {
            cx.error("deferrable", "conflict", "only a constraint trigger can be deferred");
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        sql::rename_schemas(r, &mut self.function);
        if let Some(w) = &mut self.when {
            sql::rename_schemas(r, w);
        }
    }
}

fn word<T: std::fmt::Debug>(v: T) -> String {
    let s = format!("{v:?}");
    let mut out = String::new();
    for (i, c) in s.char_indices() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn events(t: &Trigger) -> String {
    let words: Vec<String> = t
        .events
        .iter()
        .map(|e| match (e, t.columns.is_empty()) {
            (Event::Update, false) => {
                let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(c)).collect();
                format!("update of {}", cols.join(", "))
            }
            _ => word(e),
        })
        .collect();
    words.join(" or ")
}

fn referencing(t: &Trigger) -> String {
    let mut s = String::new();
    for (which, name) in [("old", &t.old_table), ("new", &t.new_table)] {
        if let Some(n) = name {
            s.push_str(&format!(" {which} table as {}", quote_ident(n)));
        }
    }
    if s.is_empty() { s } else { format!(" referencing{s}") }
}

/// `CREATE [CONSTRAINT] TRIGGER`, then how it fires and its comment.
pub fn create(t: &Trigger) -> Vec<String> {
    let table = qualified(&t.schema, &t.table);
    let (fs, fname) = t.function_name();
    let args: Vec<String> = t.arguments.iter().map(|a| quote_literal(a)).collect();
    let mut s = format!(
        "create {}trigger {} {} {} on {table}",
        if t.constraint == Some(true) { "constraint " } else { "" },
        quote_ident(&t.name),
        word(t.timing),
        events(t),
    );
    if t.constraint == Some(true) {
        s.push_str(match (t.deferrable, t.initially_deferred) {
            (Some(true), Some(true)) => " deferrable initially deferred",
            (Some(true), _) => " deferrable initially immediate",
            _ => " not deferrable",
        });
    }
    s.push_str(&referencing(t));
    s.push_str(&format!(" for each {}", word(t.for_each.unwrap_or(ForEach::Statement))));
    if let Some(w) = &t.when {
        s.push_str(&format!(" when ({w})"));
    }
    s.push_str(&format!(" execute function {}({})", qualified(&fs, &fname), args.join(", ")));
    let mut out = vec![s];
    out.extend(firing(t));
    if t.comment.is_some() {
        out.push(comment(t));
    }
    out
}

fn firing(t: &Trigger) -> Option<String> {
    let how = match t.firing? {
        Firing::Origin => "enable",
        Firing::Always => "enable always",
        Firing::Replica => "enable replica",
        Firing::Disabled => "disable",
    };
    Some(format!("alter table {} {how} trigger {}", qualified(&t.schema, &t.table), quote_ident(&t.name)))
}

fn comment(t: &Trigger) -> String {
    let text = t.comment.as_deref().map_or("null".to_string(), quote_literal);
    format!(
        "comment on trigger {} on {} is {text}",
        quote_ident(&t.name),
        qualified(&t.schema, &t.table)
    )
}

/// How it fires and its comment (everything else is a replace).
pub fn update(d: &Trigger, l: &Trigger) -> Vec<String> {
    let mut out = Vec::new();
    if d.firing.unwrap_or(Firing::Origin) != l.firing.unwrap_or(Firing::Origin) {
        let mut d = d.clone();
        d.firing.get_or_insert(Firing::Origin);
        out.extend(firing(&d));
    }
    if d.comment != l.comment {
        out.push(comment(d));
    }
    out
}

/// `DROP TRIGGER`.
pub fn drop(t: &Trigger) -> String {
    format!("drop trigger {} on {}", quote_ident(&t.name), qualified(&t.schema, &t.table))
}

/// The `WHEN` condition in `pg_get_triggerdef`'s text, if it has one.
pub fn when_of(definition: &str) -> Option<String> {
    let at = definition.find(" WHEN (")?;
    let (inner, _) = sql::paren_group(&definition[at + 6..])?;
    Some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_is_created_as_written() {
        let t = Trigger {
            name: "invoices_touch".into(),
            schema: "app".into(),
            table: "invoices".into(),
            timing: Timing::Before,
            events: vec![Event::Insert, Event::Update],
            columns: vec!["status".into()],
            for_each: Some(ForEach::Row),
            when: Some("old.* IS DISTINCT FROM new.*".into()),
            function: "touch".into(),
            arguments: vec!["it's".into()],
            old_table: None,
            new_table: None,
            constraint: None,
            deferrable: None,
            initially_deferred: None,
            firing: Some(Firing::Disabled),
            comment: None,
            depends_on: vec![],
        };
        assert_eq!(
            create(&t),
            vec![
                "create trigger \"invoices_touch\" before insert or update of \"status\" on \"app\".\"invoices\" \
                 for each row when (old.* IS DISTINCT FROM new.*) execute function \"app\".\"touch\"('it''s')",
                "alter table \"app\".\"invoices\" disable trigger \"invoices_touch\"",
            ]
        );
        assert_eq!(
            when_of("CREATE TRIGGER x BEFORE UPDATE ON app.t FOR EACH ROW WHEN ((old.a <> new.a)) EXECUTE FUNCTION app.f()"),
            Some("(old.a <> new.a)".into())
        );
    }
}

/// A trigger as the catalog describes it.
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    schema: String,
    table: String,
    name: String,
    tgtype: i32,
    columns: Vec<String>,
    function_schema: String,
    function: String,
    args: Vec<u8>,
    nargs: i32,
    firing: String,
    is_constraint: bool,
    deferrable: bool,
    initially_deferred: bool,
    old_table: Option<String>,
    new_table: Option<String>,
    definition: Option<String>,
    comment: Option<String>,
}

impl Row {
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// The triggers on the relations `$1` (oids), but the server's own (foreign keys') and a partition's
/// copies of its parent's.
pub const SQL: &str = "select n.nspname::text as schema, c.relname::text as table, t.tgname::text as name,
       t.tgtype::int4 as tgtype,
       coalesce((select array_agg(a.attname::text order by k.o) from unnest(t.tgattr::int2[]) with ordinality k(num, o)
                 join pg_attribute a on a.attrelid = t.tgrelid and a.attnum = k.num), '{}') as columns,
       fn.nspname::text as function_schema, p.proname::text as function, t.tgargs as args, t.tgnargs::int4 as nargs,
       t.tgenabled::text as firing, t.tgconstraint <> 0 as is_constraint, t.tgdeferrable as deferrable,
       t.tginitdeferred as initially_deferred, t.tgoldtable::text as old_table, t.tgnewtable::text as new_table,
       case when t.tgqual is not null then pg_get_triggerdef(t.oid, true) end as definition, ds.description as comment
  from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
  join pg_proc p on p.oid = t.tgfoid join pg_namespace fn on fn.oid = p.pronamespace
  left join pg_description ds on ds.objoid = t.oid and ds.classoid = 'pg_trigger'::regclass and ds.objsubid = 0
 where t.tgrelid = any($1::oid[]) and not t.tgisinternal and t.tgparentid = 0
 order by 1, 2, 3";

/// `tgtype`'s bits (`pg_trigger.h`).
const ROW: i32 = 1;
const BEFORE: i32 = 2;
const INSTEAD: i32 = 64;
const EVENTS: &[(i32, Event)] = &[(4, Event::Insert), (8, Event::Delete), (16, Event::Update), (32, Event::Truncate)];

/// The triggers the rows describe.
pub fn of_rows(rows: Vec<Row>) -> Vec<crate::domains::Spec> {
    rows.into_iter()
        .map(|r| {
            let timing = match (r.tgtype & BEFORE != 0, r.tgtype & INSTEAD != 0) {
                (true, _) => Timing::Before,
                (_, true) => Timing::InsteadOf,
                _ => Timing::After,
            };
            let mut events: Vec<Event> = EVENTS.iter().filter(|(b, _)| r.tgtype & b != 0).map(|(_, e)| *e).collect();
            events.sort();
            let mut arguments: Vec<String> = r
                .args
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            arguments.truncate(usize::try_from(r.nargs).unwrap_or(0));
            let function = match r.function_schema == r.schema {
                true => sql::ident_text(&r.function),
                false => format!("{}.{}", sql::ident_text(&r.function_schema), sql::ident_text(&r.function)),
            };
            crate::domains::Spec::PgTrigger(Trigger {
                when: r.definition.as_deref().and_then(when_of),
                timing,
                events,
                columns: r.columns,
                for_each: (r.tgtype & ROW != 0).then_some(ForEach::Row),
                function,
                arguments,
                old_table: r.old_table,
                new_table: r.new_table,
                constraint: r.is_constraint.then_some(true),
                deferrable: r.deferrable.then_some(true),
                initially_deferred: r.initially_deferred.then_some(true),
                firing: match r.firing.as_str() {
                    "D" => Some(Firing::Disabled),
                    "A" => Some(Firing::Always),
                    "R" => Some(Firing::Replica),
                    _ => None,
                },
                comment: r.comment,
                name: r.name,
                schema: r.schema,
                table: r.table,
                depends_on: Vec::new(),
            })
        })
        .collect()
}
