//! The postgres section of an artifact.

use serde_json::{Map, Value};

use super::*;
use crate::diag::Issue;
use crate::domains::postgres::sql::{paren_group, split_ident, split_top, unquote};
use crate::domains::{Spec, postgres as pg};

const TABLE_KEYS: &[&str] = &["table_name", "columns", "constraints", "indexes"];

impl Mapper {
    pub(super) fn postgres(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        let collector = arr(data.get("schemas"))
            .iter()
            .any(|s| s.get("schema_name").is_some() || s.get("tables").is_some());
        if collector {
            self.leftover(data, path, &["schemas"]);
            for (i, sc) in arr(data.get("schemas")).iter().enumerate() {
                self.pg_schema_collector(sc, &format!("{path}/schemas/{i}"));
            }
            return Dialect::Collector;
        }
        self.leftover(
            data,
            path,
            &[
                "schema",
                "schemas",
                "tables",
                "views",
                "extensions",
                "grants",
            ],
        );
        let schema = s(data.get("schema")).unwrap_or_else(|| self.tenant.replace('-', "_"));
        self.in_scope(&crate::domains::postgres::SCHEMA_SCOPE, &schema);
        self.push(
            Spec::PgSchema(pg::Schema {
                name: schema.clone(),
                owner: None,
                comment: None,
                grant: Vec::new(),
                depends_on: Vec::new(),
            }),
            format!("{path}/schema"),
        );
        for (i, sc) in arr(data.get("schemas")).iter().enumerate() {
            let p = format!("{path}/schemas/{i}");
            if let Some(name) = s(sc.get("name")).filter(|n| *n != schema) {
                self.in_scope(&crate::domains::postgres::SCHEMA_SCOPE, &name);
                self.push(
                    Spec::PgSchema(pg::Schema {
                        name,
                        owner: s(sc.get("owner")),
                        comment: None,
                        grant: Vec::new(),
                        depends_on: Vec::new(),
                    }),
                    p,
                );
            }
        }
        self.pg_applier_relations(data, path, &schema);
        self.pg_extensions(
            arr(data.get("extensions")),
            &format!("{path}/extensions"),
            "name",
            "version",
        );
        self.pg_grants(
            arr(data.get("grants")),
            &format!("{path}/grants"),
            &schema,
            None,
        );
        Dialect::Applier
    }

    /// The applier dialect's tables and views, in the tenant's schema.
    fn pg_applier_relations(&mut self, data: &Map<String, Value>, path: &str, schema: &str) {
        for (i, t) in arr(data.get("tables")).iter().enumerate() {
            let p = format!("{path}/tables/{i}");
            let name = s(t.get("name")).or_else(|| s(t.get("table_name")));
            let Some(name) = name else {
                self.issues
                    .push(Issue::error("missing", "a table without a name").path(p));
                continue;
            };
            let columns = self.pg_columns(arr(t.get("columns")), &format!("{p}/columns"));
            self.push(
                Spec::PgTable(new_table(name, schema.to_string(), columns)),
                p,
            );
        }
        for (i, v) in arr(data.get("views")).iter().enumerate() {
            let p = format!("{path}/views/{i}");
            let name = s(v.get("name")).unwrap_or_default();
            match s(v.get("definition")).or_else(|| s(v.get("view_definition"))) {
                Some(q) => self.push(Spec::PgView(new_view(name, schema.to_string(), q)), p),
                None => self.warn(p, "gap", format!("view `{name}` has no definition in the artifact; it cannot be recreated and is left out")),
            }
        }
    }

    pub(super) fn pg_schema_collector(&mut self, sc: &Value, p: &str) {
        let Some(o) = sc.as_object() else { return };
        self.leftover(
            o,
            p,
            &[
                "schema_name",
                "name",
                "owner",
                "tables",
                "views",
                "extensions",
                "grants",
            ],
        );
        let Some(schema) = s(o.get("schema_name")).or_else(|| s(o.get("name"))) else {
            self.issues
                .push(Issue::error("missing", "a schema without `schema_name`").path(p));
            return;
        };
        self.in_scope(&crate::domains::postgres::SCHEMA_SCOPE, &schema);
        self.push(
            Spec::PgSchema(pg::Schema {
                name: schema.clone(),
                owner: s(o.get("owner")),
                comment: None,
                grant: Vec::new(),
                depends_on: Vec::new(),
            }),
            p.to_string(),
        );
        for (to, tp) in self.entries(o, p, "tables", TABLE_KEYS) {
            self.pg_table_collector(to, tp, &schema);
        }
        for (i, v) in arr(o.get("views")).iter().enumerate() {
            let vp = format!("{p}/views/{i}");
            if let Some(vo) = v.as_object() {
                self.leftover(vo, &vp, &["table_name", "view_definition"]);
            }
            let name = s(v.get("table_name")).unwrap_or_default();
            match s(v.get("view_definition")) {
                Some(q) => self.push(Spec::PgView(new_view(name, schema.clone(), q)), vp),
                None => self.warn(
                    vp,
                    "gap",
                    format!("view `{name}` has no definition; it is left out"),
                ),
            }
        }
        self.pg_extensions(
            arr(o.get("extensions")),
            &format!("{p}/extensions"),
            "extname",
            "extversion",
        );
        let owner = s(o.get("owner"));
        self.pg_grants(
            arr(o.get("grants")),
            &format!("{p}/grants"),
            &schema,
            owner.as_deref(),
        );
    }

    /// A collector table with its constraints and its indexes (those of constraints left out).
    fn pg_table_collector(&mut self, to: &Map<String, Value>, tp: String, schema: &str) {
        let Some(name) = s(to.get("table_name")) else {
            self.issues
                .push(Issue::error("missing", "a table without `table_name`").path(tp));
            return;
        };
        let columns = self.pg_columns(arr(to.get("columns")), &format!("{tp}/columns"));
        let mut table = new_table(name, schema.to_string(), columns);
        let constraint_names = self.pg_constraints(
            &mut table,
            arr(to.get("constraints")),
            &format!("{tp}/constraints"),
        );
        for (j, ix) in arr(to.get("indexes")).iter().enumerate() {
            let ip = format!("{tp}/indexes/{j}");
            let iname = s(ix.get("indexname")).unwrap_or_default();
            if constraint_names.contains(&iname) {
                continue; // the index of a primary key or unique constraint
            }
            let def = s(ix.get("indexdef")).unwrap_or_default();
            match parse_indexdef(&def) {
                Some(mut idx) => {
                    idx.schema = schema.to_string();
                    self.push(Spec::PgIndex(idx), ip);
                }
                None => self.warn(
                    ip,
                    "unmapped-field",
                    format!("index `{iname}`: cannot read its definition {def:?}"),
                ),
            }
        }
        self.push(Spec::PgTable(table), tp);
    }

    pub(super) fn pg_columns(&mut self, cols: &[Value], p: &str) -> Vec<pg::Column> {
        let mut out = Vec::new();
        for (i, c) in cols.iter().enumerate() {
            let cp = format!("{p}/{i}");
            let Some(co) = c.as_object() else { continue };
            self.leftover(
                co,
                &cp,
                &[
                    "column_name",
                    "data_type",
                    "is_nullable",
                    "column_default",
                    "ordinal_position",
                ],
            );
            let name = s(co.get("column_name")).unwrap_or_default();
            let ty = s(co.get("data_type")).unwrap_or_default();
            if matches!(ty.as_str(), "ARRAY" | "USER-DEFINED") {
                self.warn(
                    format!("{cp}/data_type"),
                    "lossy-type",
                    format!("column `{name}`: information_schema reports only `{ty}`; the exact type is unknown — set it before applying"),
                );
            }
            out.push(pg::Column {
                name,
                ty,
                nullable: match co.get("is_nullable").and_then(Value::as_str) {
                    Some("NO") => Some(false),
                    Some("YES") => Some(true),
                    _ => None,
                },
                default: s(co.get("column_default")),
                identity: None,
                identity_options: None,
                generated: None,
                collation: None,
                comment: None,
                owns_sequence: None,
                renamed_from: None,
            });
        }
        out
    }

    /// Maps constraint rows onto the table; returns the names of constraints that own an index.
    pub(super) fn pg_constraints(
        &mut self,
        t: &mut pg::Table,
        rows: &[Value],
        p: &str,
    ) -> Vec<String> {
        let mut groups: Vec<(String, String, Vec<String>, String)> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let name = s(r.get("constraint_name")).unwrap_or_default();
            let ty = s(r.get("constraint_type")).unwrap_or_default();
            let col = s(r.get("column_name"));
            match groups.iter_mut().find(|(n, _, _, _)| *n == name) {
                Some(g) => g.2.extend(col),
                None => groups.push((name, ty, col.into_iter().collect(), format!("{p}/{i}"))),
            }
        }
        let mut owners = Vec::new();
        for (name, ty, cols, rp) in groups {
            match ty.as_str() {
                "PRIMARY KEY" => {
                    owners.push(name.clone());
                    t.primary_key = Some(pg::PrimaryKey {
                        name: Some(name),
                        columns: cols,
                    });
                }
                "UNIQUE" => {
                    owners.push(name.clone());
                    t.unique.push(pg::Unique {
                        name: Some(name),
                        columns: cols,
                        nulls_not_distinct: None,
                    });
                }
                "CHECK" if name.ends_with("_not_null") => {}
                "CHECK" => self.warn(rp, "gap", format!("check constraint `{name}`: the export has no expression; it is left out")),
                "FOREIGN KEY" => self.warn(rp, "gap", format!("foreign key `{name}`: the export does not record its target; it is left out")),
                other => self.warn(rp, "unmapped-field", format!("constraint `{name}` of type {other:?} is not mapped")),
            }
        }
        owners
    }

    pub(super) fn pg_extensions(
        &mut self,
        rows: &[Value],
        p: &str,
        name_key: &str,
        version_key: &str,
    ) {
        for (i, e) in rows.iter().enumerate() {
            let Some(name) = s(e.get(name_key)) else {
                continue;
            };
            if name == "plpgsql" {
                continue; // built into every database
            }
            self.push(
                Spec::PgExtension(pg::Extension {
                    name,
                    schema: None,
                    version: s(e.get(version_key)),
                    depends_on: Vec::new(),
                }),
                format!("{p}/{i}"),
            );
        }
    }

    /// Grants, merged per grantee and object. Rows naming the schema's owner are left out with a note:
    /// the collector reads `information_schema`, which lists an owner's own (implicit) privileges, and a
    /// grant to the owner is nothing PostgreSQL keeps.
    pub(super) fn pg_grants(&mut self, rows: &[Value], p: &str, schema: &str, owner: Option<&str>) {
        let mut grants: Vec<(pg::Grant, String)> = Vec::new();
        for (i, g) in rows.iter().enumerate() {
            let gp = format!("{p}/{i}");
            let grantee = s(g.get("grantee"))
                .or_else(|| s(g.get("name")))
                .unwrap_or_default();
            if owner == Some(grantee.as_str()) {
                self.warn(gp, "implicit", format!("`{grantee}` owns schema `{schema}`: its privileges there are implicit, not a grant; left out"));
                continue;
            }
            let object = s(g.get("table_name"))
                .or_else(|| s(g.get("object")))
                .unwrap_or_default();
            let priv_s = s(g.get("privilege_type")).unwrap_or_default();
            let privilege: Option<pg::Privilege> =
                serde_json::from_value(Value::String(priv_s.trim().to_uppercase())).ok();
            let Some(privilege) = privilege else {
                self.issues.push(
                    Issue::error("invalid-value", format!("unknown privilege {priv_s:?}"))
                        .path(format!("{gp}/privilege_type")),
                );
                continue;
            };
            match grants
                .iter_mut()
                .find(|(x, _)| x.grantee == grantee && x.object == object)
            {
                Some((x, _)) => {
                    if !x.privileges.contains(&privilege) {
                        x.privileges.push(privilege);
                    }
                }
                None => grants.push((
                    pg::Grant {
                        grantee,
                        schema: schema.to_string(),
                        object,
                        object_type: None,
                        privileges: vec![privilege],
                        columns: Default::default(),
                        with_grant_option: None,
                        depends_on: Vec::new(),
                    },
                    gp,
                )),
            }
        }
        for (g, gp) in grants {
            self.push(Spec::PgGrant(g), gp);
        }
    }
}

pub(super) fn new_table(name: String, schema: String, column: Vec<pg::Column>) -> pg::Table {
    pg::Table {
        name,
        schema,
        comment: None,
        column,
        primary_key: None,
        unique: Vec::new(),
        check: Vec::new(),
        exclude: Vec::new(),
        foreign_key: Vec::new(),
        unlogged: None,
        storage: Default::default(),
        row_level_security: None,
        force_row_level_security: None,
        owner: None,
        partition_by: None,
        partition_of: None,
        partition_bound: None,
        renamed_from: None,
        depends_on: Vec::new(),
    }
}

pub(super) fn new_view(name: String, schema: String, query: String) -> pg::View {
    pg::View {
        name,
        schema,
        query: query.trim().to_string(),
        materialized: None,
        check_option: None,
        security_barrier: None,
        security_invoker: None,
        owner: None,
        comment: None,
        depends_on: Vec::new(),
    }
}

/// Reads `CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING method (keys) [INCLUDE (cols)]
/// [NULLS [NOT] DISTINCT] [WHERE predicate]` as PostgreSQL's `pg_indexes.indexdef` writes it.
pub(crate) fn parse_indexdef(def: &str) -> Option<pg::Index> {
    let rest = def.trim().strip_prefix("CREATE ")?;
    let (unique, rest) = match rest.strip_prefix("UNIQUE ") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_prefix("INDEX ")?;
    let (name, rest) = split_ident(rest)?;
    let rest = rest.trim_start().strip_prefix("ON ")?;
    let rest = rest.strip_prefix("ONLY ").unwrap_or(rest);
    let (first, rest) = split_ident(rest)?;
    let (table, rest) = match rest.strip_prefix('.') {
        Some(r) => split_ident(r)?,
        None => (first, rest),
    };
    let rest = rest.trim_start();
    let (method, rest) = match rest.strip_prefix("USING ") {
        Some(r) => {
            let end = r.find(' ').unwrap_or(r.len());
            (Some(r[..end].to_string()), r[end..].trim_start())
        }
        None => (None, rest),
    };
    let (keys, rest) = paren_group(rest)?;
    let mut rest = rest.trim_start();
    let mut include = Vec::new();
    if let Some(r) = rest.strip_prefix("INCLUDE ") {
        let (inc, r2) = paren_group(r.trim_start())?;
        include = split_top(&inc).into_iter().map(|c| unquote(&c)).collect();
        rest = r2.trim_start();
    }
    let mut nulls_not_distinct = None;
    if let Some(r) = rest.strip_prefix("NULLS NOT DISTINCT") {
        nulls_not_distinct = Some(true);
        rest = r.trim_start();
    }
    let predicate = rest.strip_prefix("WHERE ").map(|w| w.trim().to_string());
    let columns = split_top(&keys)
        .into_iter()
        .map(|k| index_key(&k))
        .collect();
    let method = method
        .and_then(|m| serde_json::from_value(Value::String(m)).ok())
        .filter(|m| *m != pg::IndexMethod::Btree);
    Some(pg::Index {
        name,
        schema: String::new(),
        table,
        columns,
        unique: unique.then_some(true),
        method,
        include,
        predicate,
        nulls_not_distinct,
        comment: None,
        depends_on: Vec::new(),
    })
}

pub(super) fn index_key(k: &str) -> pg::IndexKey {
    let mut key = pg::IndexKey::default();
    let mut text = k.trim().to_string();
    for (suffix, nulls) in [
        (" NULLS FIRST", pg::NullsOrder::First),
        (" NULLS LAST", pg::NullsOrder::Last),
    ] {
        if let Some(t) = text.strip_suffix(suffix) {
            key.nulls = Some(nulls);
            text = t.to_string();
        }
    }
    if let Some(t) = text.strip_suffix(" DESC") {
        key.order = Some(pg::SortOrder::Desc);
        text = t.to_string();
    } else if let Some(t) = text.strip_suffix(" ASC") {
        text = t.to_string();
    }
    match split_ident(&text) {
        Some((id, rest)) if rest.trim().is_empty() => key.column = Some(id),
        _ => key.expression = Some(text),
    }
    key
}

/// Writing this domain's section in the export's (collector) dialect, from falconer's resources.
pub(crate) mod write {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use crate::domains::{Spec, postgres as pg};

    /// One schema's entry of the collector's `schemas` list.
    #[derive(Default)]
    struct PgSchema {
        owner: Option<String>,
        tables: Vec<Value>,
        views: Vec<Value>,
        grants: Vec<Value>,
    }

    pub(crate) fn data(specs: &[Spec]) -> Value {
        let mut schemas: BTreeMap<String, PgSchema> = BTreeMap::new();
        let mut extensions = Vec::new();
        let indexes = |schema: &str, table: &str| -> Vec<Value> {
            specs
                .iter()
                .filter_map(|s| match s {
                    Spec::PgIndex(i) if i.schema == schema && i.table == table => {
                        Some(json!({"indexname": i.name, "indexdef": pg::ddl::indexdef(i)}))
                    }
                    _ => None,
                })
                .collect()
        };
        for s in specs {
            match s {
                Spec::PgSchema(x) => schemas.entry(x.name.clone()).or_default().owner = x.owner.clone(),
                Spec::PgTable(t) => {
                    let mut v = pg_table(t);
                    v["indexes"] = Value::Array(indexes(&t.schema, &t.name));
                    schemas.entry(t.schema.clone()).or_default().tables.push(v);
                }
                Spec::PgView(v) => schemas.entry(v.schema.clone()).or_default().views.push(
                    json!({"table_name": v.name, "view_definition": v.query}),
                ),
                Spec::PgGrant(g) => schemas.entry(g.schema.clone()).or_default().grants.extend(
                    g.privileges.iter().map(|p| {
                        json!({"grantee": g.grantee, "table_name": g.object, "privilege_type": privilege(p)})
                    }),
                ),
                Spec::PgExtension(e) => extensions.push(json!({"extname": e.name, "extversion": e.version})),
                _ => {}
            }
        }
        let list: Vec<Value> = schemas
            .into_iter()
            .map(|(name, s)| {
                json!({"schema_name": name, "owner": s.owner, "tables": s.tables, "views": s.views,
                    "extensions": extensions, "grants": s.grants})
            })
            .collect();
        json!({ "schemas": list })
    }

    /// A privilege as `information_schema` writes it (`SELECT`, `TRUNCATE`, ...).
    fn privilege<T: serde::Serialize>(p: &T) -> String {
        serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ").to_uppercase()))
            .unwrap_or_default()
    }

    fn pg_table(t: &pg::Table) -> Value {
        let columns: Vec<Value> = t
            .column
            .iter()
            .map(|c| {
                let nullable = if c.nullable == Some(false) {
                    "NO"
                } else {
                    "YES"
                };
                json!({"column_name": c.name, "data_type": c.ty, "is_nullable": nullable,
                    "column_default": c.default})
            })
            .collect();
        let mut constraints = Vec::new();
        if let Some(pk) = &t.primary_key {
            let name = pk
                .name
                .clone()
                .unwrap_or_else(|| format!("{}_pkey", t.name));
            for c in &pk.columns {
                constraints.push(json!({"constraint_name": name, "constraint_type": "PRIMARY KEY", "column_name": c}));
            }
        }
        for u in &t.unique {
            let name = u
                .name
                .clone()
                .unwrap_or_else(|| format!("{}_{}_key", t.name, u.columns.join("_")));
            for c in &u.columns {
                constraints.push(
                    json!({"constraint_name": name, "constraint_type": "UNIQUE", "column_name": c}),
                );
            }
        }
        json!({"table_name": t.name, "columns": columns, "constraints": constraints})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexdefs() {
        let i =
            parse_indexdef("CREATE UNIQUE INDEX users_email_key ON acme.users USING btree (email)")
                .expect("parses");
        assert_eq!(i.name, "users_email_key");
        assert_eq!(i.table, "users");
        assert_eq!(i.unique, Some(true));
        assert_eq!(i.method, None);
        assert_eq!(i.columns[0].column.as_deref(), Some("email"));
        let i = parse_indexdef(
            "CREATE INDEX \"Odd\"\"Name\" ON s.t USING gin (lower((email)::text), created_at DESC NULLS LAST) INCLUDE (a, \"B\") WHERE (deleted_at IS NULL)",
        )
        .expect("parses");
        assert_eq!(i.name, "Odd\"Name");
        assert_eq!(i.method, Some(pg::IndexMethod::Gin));
        assert_eq!(
            i.columns[0].expression.as_deref(),
            Some("lower((email)::text)")
        );
        assert_eq!(i.columns[1].column.as_deref(), Some("created_at"));
        assert_eq!(i.columns[1].order, Some(pg::SortOrder::Desc));
        assert_eq!(i.columns[1].nulls, Some(pg::NullsOrder::Last));
        assert_eq!(i.include, vec!["a", "B"]);
        assert_eq!(i.predicate.as_deref(), Some("(deleted_at IS NULL)"));
        assert!(parse_indexdef("DROP TABLE x").is_none());
        assert!(parse_indexdef("CREATE INDEX x ON (").is_none());
    }
}
