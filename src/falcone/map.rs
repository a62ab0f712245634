//! Per-domain mapping of artifact `data` (collector and applier dialects) into typed resources.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value};

use super::{Dialect, decode, escape_pointer, naming_for, snake_case};
use crate::diag::Issue;
use crate::domains::postgres::sql::{paren_group, split_ident, split_top, unquote};
use crate::domains::{Spec, functions as fnd, iam, kafka, mongo, postgres as pg, storage};
use crate::model::secret::is_marker;
use crate::model::{Domain, SecretValue, Tenant};

/// Keys Keycloak generates; they never reach the model.
const KC_SERVER_KEYS: &[&str] = &[
    "id",
    "containerId",
    "internalId",
    "access",
    "createdTimestamp",
    "lastModifiedTimestamp",
    "composite",
    "clientRole",
    "subGroupCount",
];

/// Key names whose marker values are expected (real secrets).
const SECRET_KEYS: &[&str] = &["secret", "clientSecret", "password"];

pub(crate) struct Mapper {
    tenant: String,
    pub resources: Vec<(Spec, String)>,
    pub issues: Vec<Issue>,
    realm: Option<String>,
    schemas: Vec<String>,
    dbs: Vec<String>,
    namespace: Option<String>,
}

fn obj(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn s(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(String::from)
}

impl Mapper {
    pub fn new(tenant: &str) -> Self {
        Mapper {
            tenant: tenant.to_string(),
            resources: Vec::new(),
            issues: Vec::new(),
            realm: None,
            schemas: Vec::new(),
            dbs: Vec::new(),
            namespace: None,
        }
    }

    pub fn finish(self) -> (Tenant, Vec<(Spec, String)>, Vec<Issue>) {
        let mut t = Tenant::new(self.tenant.clone());
        t.naming = naming_for(
            &self.tenant,
            self.realm,
            self.schemas,
            self.dbs,
            self.namespace,
        );
        (t, self.resources, self.issues)
    }

    fn warn(&mut self, path: impl Into<String>, code: &'static str, msg: impl Into<String>) {
        self.issues.push(Issue::warning(code, msg).path(path));
    }

    fn push(&mut self, mut spec: Spec, path: String) {
        spec.normalize();
        self.resources.push((spec, path));
    }

    /// Warns about every key of `o` not in `known` (keys starting with `_` are the platform's own).
    fn leftover(&mut self, o: &Map<String, Value>, path: &str, known: &[&str]) {
        for k in o.keys() {
            if !known.contains(&k.as_str()) && !k.starts_with('_') {
                self.warn(
                    format!("{path}/{}", escape_pointer(k)),
                    "unmapped-field",
                    format!("field `{k}` is not mapped"),
                );
            }
        }
    }

    /// Copies a value without server-generated keys; marker values are kept for secret keys and otherwise
    /// dropped with an over-redaction warning.
    fn clean(&mut self, v: &Value, path: &str, drop: &[&str]) -> Value {
        match v {
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    if drop.contains(&k.as_str()) {
                        continue;
                    }
                    let p = format!("{path}/{}", escape_pointer(k));
                    if x.as_str().is_some_and(is_marker) && !SECRET_KEYS.contains(&k.as_str()) {
                        self.warn(
                            p,
                            "over-redacted",
                            format!("`{k}` was redacted by the exporter although it is not a secret; its value is unknown and left out (the live value is kept)"),
                        );
                        continue;
                    }
                    out.insert(k.clone(), self.clean(x, &p, &[]));
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                let mut out = Vec::new();
                for (i, x) in a.iter().enumerate() {
                    if x.as_str().is_some_and(is_marker) {
                        self.warn(
                            format!("{path}/{i}"),
                            "over-redacted",
                            "a redacted list item is left out",
                        );
                        continue;
                    }
                    out.push(self.clean(x, &format!("{path}/{i}"), &[]));
                }
                Value::Array(out)
            }
            other => other.clone(),
        }
    }

    /// Maps one domain's data; returns the dialect it was written in.
    pub fn domain(&mut self, d: Domain, data: &Map<String, Value>, path: &str) -> Dialect {
        match d {
            Domain::Iam => self.iam(data, path),
            Domain::Postgres => self.postgres(data, path),
            Domain::Mongo => self.mongo(data, path),
            Domain::Kafka => self.kafka(data, path),
            Domain::Functions => self.functions(data, path),
            Domain::Storage => self.storage(data, path),
        }
    }

    // ----------------------------------------------------------------------------------------- iam

    fn iam(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        let dialect = if data.contains_key("realm_settings") || data.contains_key("clients") {
            Dialect::Collector
        } else {
            Dialect::Applier
        };
        let realm = s(data.get("realm")).unwrap_or_else(|| self.tenant.clone());
        self.realm = Some(realm.clone());
        self.leftover(
            data,
            path,
            &[
                "realm",
                "realm_settings",
                "roles",
                "groups",
                "clients",
                "client_scopes",
                "identity_providers",
            ],
        );
        let kc = |k: &str| match k {
            "protocolMappers" => "protocol_mapper".to_string(),
            "smtpServer" => "smtp".to_string(),
            "realmRoles" => "realm_roles".to_string(),
            other => snake_case(other),
        };
        if let Some(rs) = obj(data.get("realm_settings")) {
            let p = format!("{path}/realm_settings");
            let mut v = self.clean(&Value::Object(rs.clone()), &p, &["id", "realm"]);
            if let Some(o) = v.as_object_mut() {
                o.insert("name".into(), Value::String(realm.clone()));
                if let Some(Value::Object(smtp)) = o.get_mut("smtpServer") {
                    for (k, x) in smtp.iter_mut() {
                        if let Value::String(t) = x {
                            if k == "port" {
                                if let Ok(n) = t.parse::<u64>() {
                                    *x = Value::from(n);
                                }
                            } else if matches!(k.as_str(), "ssl" | "starttls") {
                                *x = Value::Bool(t == "true");
                            }
                        }
                    }
                    smtp.remove("auth");
                }
            }
            if let Some(r) = decode::<iam::Realm>(&v, &p, &kc, &mut self.issues) {
                self.push(Spec::IamRealm(r), p);
            }
        }
        for (i, r) in arr(data.get("roles")).iter().enumerate() {
            let p = format!("{path}/roles/{i}");
            let v = self.clean(r, &p, KC_SERVER_KEYS);
            if let Some(r) = decode::<iam::Role>(&v, &p, &kc, &mut self.issues) {
                self.push(Spec::IamRole(r), p);
            }
        }
        for (i, sc) in arr(data.get("client_scopes")).iter().enumerate() {
            let p = format!("{path}/client_scopes/{i}");
            let v = self.clean(sc, &p, KC_SERVER_KEYS);
            if let Some(sc) = decode::<iam::ClientScope>(&v, &p, &kc, &mut self.issues) {
                if iam::BUILTIN_SCOPES.contains(&sc.name.as_str()) && is_bare(&v, "name") {
                    // A bare built-in scope name (`{"name":"openid"}`) says nothing to manage.
                    continue;
                }
                self.push(Spec::IamClientScope(sc), p);
            }
        }
        for (i, c) in arr(data.get("clients")).iter().enumerate() {
            let p = format!("{path}/clients/{i}");
            let v = self.clean(c, &p, KC_SERVER_KEYS);
            if let Some(c) = decode::<iam::Client>(&v, &p, &kc, &mut self.issues) {
                if iam::BUILTIN_CLIENTS.contains(&c.client_id.as_str()) {
                    self.warn(
                        p,
                        "builtin",
                        format!("built-in client `{}` is not managed", c.client_id),
                    );
                    continue;
                }
                self.push(Spec::IamClient(c), p);
            }
        }
        for (i, idp) in arr(data.get("identity_providers")).iter().enumerate() {
            let p = format!("{path}/identity_providers/{i}");
            let mut v = self.clean(idp, &p, KC_SERVER_KEYS);
            if let Some(cfg) = v.get_mut("config").and_then(Value::as_object_mut)
                && let Some(secret) = cfg.remove("clientSecret")
                && let Some(o) = v.as_object_mut()
            {
                o.insert("clientSecret".into(), secret);
            }
            if let Some(x) = decode::<iam::IdentityProvider>(&v, &p, &kc, &mut self.issues) {
                self.push(Spec::IamIdentityProvider(x), p);
            }
        }
        for (i, g) in arr(data.get("groups")).iter().enumerate() {
            self.group(g, &format!("{path}/groups/{i}"), None, &kc);
        }
        dialect
    }

    fn group(&mut self, g: &Value, p: &str, parent: Option<String>, kc: &dyn Fn(&str) -> String) {
        let mut v = self.clean(g, p, KC_SERVER_KEYS);
        let subs = v.as_object_mut().and_then(|o| o.remove("subGroups"));
        let kc_path = v.as_object_mut().and_then(|o| o.remove("path"));
        let parent = parent.or_else(|| {
            let full = kc_path
                .as_ref()
                .and_then(Value::as_str)?
                .trim_matches('/')
                .to_string();
            full.rsplit_once('/').map(|(p, _)| p.to_string())
        });
        if let (Some(parent), Some(o)) = (&parent, v.as_object_mut()) {
            o.insert("parent".into(), Value::String(parent.clone()));
        }
        if let Some(g) = decode::<iam::Group>(&v, p, kc, &mut self.issues) {
            let path = g.path();
            self.push(Spec::IamGroup(g), p.to_string());
            for (i, sg) in arr(subs.as_ref()).iter().enumerate() {
                self.group(sg, &format!("{p}/subGroups/{i}"), Some(path.clone()), kc);
            }
        }
    }

    // ------------------------------------------------------------------------------------ postgres

    fn postgres(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
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
        self.schemas.push(schema.clone());
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
                self.schemas.push(name.clone());
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
        for (i, t) in arr(data.get("tables")).iter().enumerate() {
            let p = format!("{path}/tables/{i}");
            let name = s(t.get("name")).or_else(|| s(t.get("table_name")));
            let Some(name) = name else {
                self.issues
                    .push(Issue::error("missing", "a table without a name").path(p));
                continue;
            };
            let columns = self.pg_columns(arr(t.get("columns")), &format!("{p}/columns"));
            self.push(Spec::PgTable(new_table(name, schema.clone(), columns)), p);
        }
        for (i, v) in arr(data.get("views")).iter().enumerate() {
            let p = format!("{path}/views/{i}");
            let name = s(v.get("name")).unwrap_or_default();
            match s(v.get("definition")).or_else(|| s(v.get("view_definition"))) {
                Some(q) => self.push(Spec::PgView(new_view(name, schema.clone(), q)), p),
                None => self.warn(p, "gap", format!("view `{name}` has no definition in the artifact; it cannot be recreated and is left out")),
            }
        }
        self.pg_extensions(
            arr(data.get("extensions")),
            &format!("{path}/extensions"),
            "name",
            "version",
        );
        self.pg_grants(arr(data.get("grants")), &format!("{path}/grants"), &schema);
        Dialect::Applier
    }

    fn pg_schema_collector(&mut self, sc: &Value, p: &str) {
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
        self.schemas.push(schema.clone());
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
        for (i, t) in arr(o.get("tables")).iter().enumerate() {
            let tp = format!("{p}/tables/{i}");
            let Some(to) = t.as_object() else { continue };
            self.leftover(
                to,
                &tp,
                &["table_name", "columns", "constraints", "indexes"],
            );
            let Some(name) = s(to.get("table_name")) else {
                self.issues
                    .push(Issue::error("missing", "a table without `table_name`").path(tp));
                continue;
            };
            let columns = self.pg_columns(arr(to.get("columns")), &format!("{tp}/columns"));
            let mut table = new_table(name.clone(), schema.clone(), columns);
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
                        idx.schema = schema.clone();
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
        self.pg_grants(arr(o.get("grants")), &format!("{p}/grants"), &schema);
    }

    fn pg_columns(&mut self, cols: &[Value], p: &str) -> Vec<pg::Column> {
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
                generated: None,
                collation: None,
                comment: None,
                renamed_from: None,
            });
        }
        out
    }

    /// Maps constraint rows onto the table; returns the names of constraints that own an index.
    fn pg_constraints(&mut self, t: &mut pg::Table, rows: &[Value], p: &str) -> Vec<String> {
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

    fn pg_extensions(&mut self, rows: &[Value], p: &str, name_key: &str, version_key: &str) {
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

    fn pg_grants(&mut self, rows: &[Value], p: &str, schema: &str) {
        let mut grants: Vec<(pg::Grant, String)> = Vec::new();
        for (i, g) in rows.iter().enumerate() {
            let gp = format!("{p}/{i}");
            let grantee = s(g.get("grantee"))
                .or_else(|| s(g.get("name")))
                .unwrap_or_default();
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

    // --------------------------------------------------------------------------------------- mongo

    fn mongo(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        if data.contains_key("databases") {
            self.leftover(data, path, &["databases"]);
            for (i, db) in arr(data.get("databases")).iter().enumerate() {
                let p = format!("{path}/databases/{i}");
                let Some(o) = db.as_object() else { continue };
                self.leftover(o, &p, &["db_name", "collections", "sharding"]);
                let Some(name) = s(o.get("db_name")) else {
                    self.issues
                        .push(Issue::error("missing", "a database without `db_name`").path(p));
                    continue;
                };
                self.mongo_db(&name, &p);
                self.sharding(o.get("sharding"), &format!("{p}/sharding"));
                for (j, c) in arr(o.get("collections")).iter().enumerate() {
                    let cp = format!("{p}/collections/{j}");
                    let Some(co) = c.as_object() else { continue };
                    self.leftover(
                        co,
                        &cp,
                        &[
                            "collection_name",
                            "options",
                            "validator",
                            "indexes",
                            "type",
                            "info",
                            "idIndex",
                        ],
                    );
                    let cname = s(co.get("collection_name")).unwrap_or_default();
                    let options = obj(co.get("options")).cloned().unwrap_or_default();
                    let mut coll =
                        self.collection(&name, &cname, &options, &format!("{cp}/options"));
                    if coll.validator.is_none() {
                        coll.validator = co.get("validator").filter(|v| !v.is_null()).cloned();
                    }
                    self.push(Spec::MongoCollection(coll), cp.clone());
                    for (k, ix) in arr(co.get("indexes")).iter().enumerate() {
                        self.mongo_index(&name, &cname, ix, &format!("{cp}/indexes/{k}"));
                    }
                }
            }
            return Dialect::Collector;
        }
        self.leftover(
            data,
            path,
            &["database", "collections", "indexes", "sharding"],
        );
        let name = s(data.get("database")).unwrap_or_else(|| self.tenant.replace('-', "_"));
        self.mongo_db(&name, &format!("{path}/database"));
        self.sharding(data.get("sharding"), &format!("{path}/sharding"));
        for (j, c) in arr(data.get("collections")).iter().enumerate() {
            let cp = format!("{path}/collections/{j}");
            let Some(co) = c.as_object() else { continue };
            self.leftover(co, &cp, &["name", "validator", "options"]);
            let cname = s(co.get("name")).unwrap_or_default();
            let options = obj(co.get("options")).cloned().unwrap_or_default();
            let mut coll = self.collection(&name, &cname, &options, &format!("{cp}/options"));
            if coll.validator.is_none() {
                coll.validator = co.get("validator").filter(|v| !v.is_null()).cloned();
            }
            self.push(Spec::MongoCollection(coll), cp);
        }
        for (k, ix) in arr(data.get("indexes")).iter().enumerate() {
            let coll = s(ix.get("collection")).unwrap_or_default();
            self.mongo_index(&name, &coll, ix, &format!("{path}/indexes/{k}"));
        }
        Dialect::Applier
    }

    fn mongo_db(&mut self, name: &str, p: &str) {
        self.dbs.push(name.to_string());
        self.push(
            Spec::MongoDatabase(mongo::Database {
                name: name.to_string(),
                depends_on: Vec::new(),
            }),
            p.to_string(),
        );
    }

    fn sharding(&mut self, v: Option<&Value>, p: &str) {
        if v.is_some_and(|v| !v.is_null()) {
            self.warn(
                p,
                "not-applied",
                "`sharding` describes the whole cluster, not the tenant; it is reported, never applied",
            );
        }
    }

    fn collection(
        &mut self,
        db: &str,
        name: &str,
        o: &Map<String, Value>,
        p: &str,
    ) -> mongo::Collection {
        self.leftover(
            o,
            p,
            &[
                "validator",
                "validationLevel",
                "validationAction",
                "capped",
                "size",
                "max",
                "collation",
                "viewOn",
                "pipeline",
                "uuid",
            ],
        );
        let lower = |k: &str| -> Option<Value> {
            o.get(k)
                .and_then(Value::as_str)
                .map(|s| Value::String(s.to_lowercase()))
        };
        let level = lower("validationLevel").and_then(|v| serde_json::from_value(v).ok());
        let action = lower("validationAction").and_then(|v| serde_json::from_value(v).ok());
        let capped = if o.get("capped").and_then(Value::as_bool) == Some(true) {
            Some(mongo::Capped {
                size: o
                    .get("size")
                    .and_then(Value::as_f64)
                    .map(|x| x as u64)
                    .unwrap_or(0),
                max: o.get("max").and_then(Value::as_f64).map(|x| x as u64),
            })
        } else {
            None
        };
        mongo::Collection {
            name: name.to_string(),
            database: db.to_string(),
            validator: o.get("validator").filter(|v| !v.is_null()).cloned(),
            validation_level: level,
            validation_action: action,
            capped,
            collation: o.get("collation").filter(|v| !v.is_null()).cloned(),
            view_on: s(o.get("viewOn")),
            pipeline: arr(o.get("pipeline")).to_vec(),
            depends_on: Vec::new(),
        }
    }

    fn mongo_index(&mut self, db: &str, coll: &str, ix: &Value, p: &str) {
        let Some(o) = ix.as_object() else { return };
        let name = s(o.get("name"));
        if name.as_deref() == Some("_id_") {
            return; // the implicit index of every collection
        }
        self.leftover(
            o,
            p,
            &[
                "v",
                "key",
                "name",
                "ns",
                "collection",
                "unique",
                "sparse",
                "partialFilterExpression",
                "expireAfterSeconds",
                "collation",
                "hidden",
                "background",
            ],
        );
        let mut keys = Vec::new();
        for (field, dir) in obj(o.get("key")).into_iter().flatten() {
            match mongo::IndexDirection::from_json(dir) {
                Some(order) => keys.push(mongo::IndexField {
                    field: field.clone(),
                    order,
                }),
                None => self.issues.push(
                    Issue::error(
                        "invalid-value",
                        format!("index key `{field}` has an unknown direction {dir}"),
                    )
                    .path(format!("{p}/key/{}", escape_pointer(field))),
                ),
            }
        }
        self.push(
            Spec::MongoIndex(mongo::Index {
                name,
                database: db.to_string(),
                collection: coll.to_string(),
                key: keys,
                unique: o.get("unique").and_then(Value::as_bool),
                sparse: o.get("sparse").and_then(Value::as_bool),
                partial_filter_expression: o.get("partialFilterExpression").cloned(),
                expire_after_seconds: o
                    .get("expireAfterSeconds")
                    .and_then(Value::as_f64)
                    .map(|x| x as i64),
                collation: o.get("collation").cloned(),
                hidden: o.get("hidden").and_then(Value::as_bool),
                depends_on: Vec::new(),
            }),
            p.to_string(),
        );
    }

    // --------------------------------------------------------------------------------------- kafka

    fn kafka(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        self.leftover(data, path, &["topics", "acls", "consumer_groups"]);
        let collector = arr(data.get("topics"))
            .iter()
            .any(|t| t.get("partitions").is_some() || t.get("config_overrides").is_some())
            || arr(data.get("acls"))
                .iter()
                .any(|a| a.get("resource").is_some());
        for (i, t) in arr(data.get("topics")).iter().enumerate() {
            let p = format!("{path}/topics/{i}");
            let Some(o) = t.as_object() else { continue };
            self.leftover(
                o,
                &p,
                &[
                    "name",
                    "partitions",
                    "replication_factor",
                    "config_overrides",
                    "numPartitions",
                    "replicationFactor",
                    "configEntries",
                    "config",
                ],
            );
            let name = s(o.get("name")).unwrap_or_default();
            let partitions = o
                .get("partitions")
                .or_else(|| o.get("numPartitions"))
                .and_then(Value::as_u64);
            let partitions = match partitions {
                Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
                None => {
                    self.warn(
                        p.clone(),
                        "gap",
                        format!("topic `{name}` has no partition count; 1 is assumed"),
                    );
                    1
                }
            };
            let rf = o
                .get("replication_factor")
                .or_else(|| o.get("replicationFactor"))
                .and_then(Value::as_i64)
                .and_then(|x| i16::try_from(x).ok());
            let mut config = BTreeMap::new();
            let cfg = o
                .get("config_overrides")
                .or_else(|| o.get("configEntries"))
                .or_else(|| o.get("config"));
            match cfg {
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        config.insert(k.clone(), kafka::ConfigValue(js_string(v)));
                    }
                }
                Some(Value::Array(entries)) => {
                    for e in entries {
                        if let (Some(k), Some(v)) = (s(e.get("name")), e.get("value")) {
                            config.insert(k, kafka::ConfigValue(js_string(v)));
                        }
                    }
                }
                _ => {}
            }
            self.push(
                Spec::KafkaTopic(kafka::Topic {
                    name,
                    partitions,
                    replication_factor: rf,
                    config,
                    depends_on: Vec::new(),
                }),
                p,
            );
        }
        for (i, a) in arr(data.get("acls")).iter().enumerate() {
            let p = format!("{path}/acls/{i}");
            let Some(o) = a.as_object() else { continue };
            self.leftover(
                o,
                &p,
                &[
                    "resource",
                    "resourceName",
                    "resourceType",
                    "resourcePatternType",
                    "patternType",
                    "principal",
                    "host",
                    "operation",
                    "permissionType",
                ],
            );
            let name = s(o.get("resource"))
                .or_else(|| s(o.get("resourceName")))
                .unwrap_or_default();
            let rt = enum_of(
                o.get("resourceType"),
                &[
                    (2, "topic"),
                    (3, "group"),
                    (4, "cluster"),
                    (5, "transactional_id"),
                ],
            )
            .unwrap_or_else(|| "topic".into());
            let pt = enum_of(
                o.get("resourcePatternType")
                    .or_else(|| o.get("patternType")),
                &[(3, "literal"), (4, "prefixed")],
            );
            let op = enum_of(
                o.get("operation"),
                &[
                    (2, "all"),
                    (3, "read"),
                    (4, "write"),
                    (5, "create"),
                    (6, "delete"),
                    (7, "alter"),
                    (8, "describe"),
                    (9, "cluster_action"),
                    (10, "describe_configs"),
                    (11, "alter_configs"),
                    (12, "idempotent_write"),
                ],
            );
            let perm = enum_of(o.get("permissionType"), &[(2, "deny"), (3, "allow")]);
            let v = serde_json::json!({
                "resource_name": name,
                "resource_type": rt,
                "pattern_type": pt,
                "principal": s(o.get("principal")).unwrap_or_default(),
                "host": s(o.get("host")),
                "operation": op,
                "permission": perm,
            });
            let v = strip_nulls(v);
            if let Some(acl) =
                decode::<kafka::Acl>(&v, &p, &|k: &str| k.to_string(), &mut self.issues)
            {
                self.push(Spec::KafkaAcl(acl), p);
            }
        }
        let groups = arr(data.get("consumer_groups"));
        if !groups.is_empty() {
            self.warn(
                format!("{path}/consumer_groups"),
                "not-applied",
                format!("{} consumer group(s) are runtime state, created by their consumers; they are not managed", groups.len()),
            );
        }
        if collector {
            Dialect::Collector
        } else {
            Dialect::Applier
        }
    }

    // ----------------------------------------------------------------------------------- functions

    fn functions(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        self.leftover(
            data,
            path,
            &["namespace", "actions", "packages", "triggers", "rules"],
        );
        let ns = s(data.get("namespace")).unwrap_or_else(|| self.tenant.clone());
        self.namespace = Some(ns.clone());
        let collector = arr(data.get("actions"))
            .iter()
            .any(|a| a.get("code_base64").is_some() || a.get("code_available").is_some());
        for (i, pk) in arr(data.get("packages")).iter().enumerate() {
            let p = format!("{path}/packages/{i}");
            let Some(o) = pk.as_object() else { continue };
            self.leftover(
                o,
                &p,
                &[
                    "name",
                    "namespace",
                    "binding",
                    "parameters",
                    "annotations",
                    "publish",
                    "version",
                    "updated",
                    "actions",
                    "feeds",
                ],
            );
            let binding = obj(o.get("binding"))
                .filter(|b| !b.is_empty())
                .map(|b| fnd::Binding {
                    namespace: s(b.get("namespace")).unwrap_or_default(),
                    name: s(b.get("name")).unwrap_or_default(),
                });
            let parameter = self.ow_params(o.get("parameters"), &format!("{p}/parameters"));
            let annotations = self.ow_annotations(o.get("annotations"));
            self.push(
                Spec::FnPackage(fnd::Package {
                    name: s(o.get("name")).unwrap_or_default(),
                    binding,
                    parameter,
                    annotations,
                    publish: o.get("publish").and_then(Value::as_bool),
                    depends_on: Vec::new(),
                }),
                p,
            );
        }
        for (i, a) in arr(data.get("actions")).iter().enumerate() {
            let p = format!("{path}/actions/{i}");
            let Some(o) = a.as_object() else { continue };
            self.leftover(
                o,
                &p,
                &[
                    "name",
                    "namespace",
                    "kind",
                    "runtime",
                    "exec",
                    "code",
                    "code_base64",
                    "code_available",
                    "limits",
                    "parameters",
                    "annotations",
                    "version",
                    "updated",
                    "publish",
                ],
            );
            let name = s(o.get("name")).unwrap_or_default();
            // An action inside a package is listed with namespace `ns/package`.
            let package = s(o.get("namespace"))
                .and_then(|n| n.split_once('/').map(|(_, pk)| pk.to_string()))
                .filter(|pk| !pk.is_empty());
            let exec = obj(o.get("exec"));
            let kind = exec
                .and_then(|e| s(e.get("kind")))
                .or_else(|| s(o.get("kind")))
                .or_else(|| s(o.get("runtime")))
                .unwrap_or_default();
            let mut code = None;
            let mut binary = exec
                .and_then(|e| e.get("binary"))
                .and_then(Value::as_bool)
                .filter(|b| *b);
            if let Some(b64) = o.get("code_base64").and_then(Value::as_str) {
                match base64::engine::general_purpose::STANDARD.decode(b64) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) if binary != Some(true) => code = Some(fnd::Code::Inline(text)),
                        _ => {
                            code = Some(fnd::Code::Base64(b64.to_string()));
                            binary = Some(true);
                        }
                    },
                    Err(e) => self.issues.push(
                        Issue::error("invalid-value", format!("`code_base64` is not base64: {e}"))
                            .path(format!("{p}/code_base64")),
                    ),
                }
            } else if let Some(c) = exec
                .and_then(|e| s(e.get("code")))
                .or_else(|| s(o.get("code")))
            {
                code = Some(if binary == Some(true) {
                    fnd::Code::Base64(c)
                } else {
                    fnd::Code::Inline(c)
                });
            }
            if code.is_none() && !matches!(kind.as_str(), "sequence" | "blackbox") {
                self.warn(
                    format!("{p}/code_available"),
                    "gap",
                    format!("the code of action `{name}` was not exported (binary or unreadable); the live code is kept, and the action cannot be created from this artifact"),
                );
            }
            let components = exec
                .map(|e| {
                    arr(e.get("components"))
                        .iter()
                        .filter_map(|c| c.as_str())
                        .map(|c| local_path(c, &ns))
                        .collect()
                })
                .unwrap_or_default();
            let limits = obj(o.get("limits"))
                .filter(|l| !l.is_empty())
                .map(|l| fnd::Limits {
                    timeout: l.get("timeout").and_then(Value::as_u64),
                    memory: l.get("memory").and_then(Value::as_u64),
                    logs: l.get("logs").and_then(Value::as_u64),
                    concurrency: l.get("concurrency").and_then(Value::as_u64),
                });
            let parameter = self.ow_params(o.get("parameters"), &format!("{p}/parameters"));
            let annotations = self.ow_annotations(o.get("annotations"));
            self.push(
                Spec::FnAction(fnd::Action {
                    name,
                    package,
                    kind,
                    code,
                    main: exec.and_then(|e| s(e.get("main"))),
                    image: exec.and_then(|e| s(e.get("image"))),
                    binary,
                    components,
                    limits,
                    parameter,
                    annotations,
                    depends_on: Vec::new(),
                }),
                p,
            );
        }
        for (i, t) in arr(data.get("triggers")).iter().enumerate() {
            let p = format!("{path}/triggers/{i}");
            let Some(o) = t.as_object() else { continue };
            self.leftover(
                o,
                &p,
                &[
                    "name",
                    "namespace",
                    "parameters",
                    "annotations",
                    "feed",
                    "version",
                    "updated",
                    "publish",
                    "limits",
                    "rules",
                ],
            );
            let mut annotations = self.ow_annotations(o.get("annotations"));
            let feed = s(o.get("feed")).or_else(|| {
                annotations
                    .remove("feed")
                    .and_then(|v| v.as_str().map(String::from))
            });
            let parameter = self.ow_params(o.get("parameters"), &format!("{p}/parameters"));
            self.push(
                Spec::FnTrigger(fnd::Trigger {
                    name: s(o.get("name")).unwrap_or_default(),
                    feed,
                    parameter,
                    annotations,
                    depends_on: Vec::new(),
                }),
                p,
            );
        }
        for (i, r) in arr(data.get("rules")).iter().enumerate() {
            let p = format!("{path}/rules/{i}");
            let Some(o) = r.as_object() else { continue };
            self.leftover(
                o,
                &p,
                &[
                    "name",
                    "namespace",
                    "trigger",
                    "action",
                    "status",
                    "version",
                    "updated",
                    "publish",
                ],
            );
            let entity = |v: Option<&Value>| -> String {
                match v {
                    Some(Value::String(x)) => local_path(x, &ns),
                    Some(Value::Object(e)) => {
                        let name = s(e.get("name")).unwrap_or_default();
                        match s(e.get("path")) {
                            Some(path) => local_path(&format!("/{path}/{name}"), &ns),
                            None => name,
                        }
                    }
                    _ => String::new(),
                }
            };
            let status = match s(o.get("status")).as_deref() {
                Some("inactive") => Some(fnd::RuleStatus::Inactive),
                Some("active") => Some(fnd::RuleStatus::Active),
                _ => None,
            };
            self.push(
                Spec::FnRule(fnd::Rule {
                    name: s(o.get("name")).unwrap_or_default(),
                    trigger: entity(o.get("trigger")),
                    action: entity(o.get("action")),
                    status,
                    depends_on: Vec::new(),
                }),
                p,
            );
        }
        if collector {
            Dialect::Collector
        } else {
            Dialect::Applier
        }
    }

    fn ow_params(&mut self, v: Option<&Value>, p: &str) -> Vec<fnd::Parameter> {
        let mut out = Vec::new();
        for (i, x) in arr(v).iter().enumerate() {
            let Some(key) = s(x.get("key")) else { continue };
            let value = x.get("value").cloned().unwrap_or(Value::Null);
            if value.as_str().is_some_and(is_marker) {
                self.warn(
                    format!("{p}/{i}/value"),
                    "redacted",
                    format!("parameter `{key}` is redacted; it is treated as a secret whose live value is kept"),
                );
                out.push(fnd::Parameter {
                    key,
                    value: None,
                    secret: Some(SecretValue::redacted()),
                });
            } else {
                out.push(fnd::Parameter {
                    key,
                    value: Some(value),
                    secret: None,
                });
            }
        }
        out
    }

    fn ow_annotations(&mut self, v: Option<&Value>) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        match v {
            Some(Value::Array(items)) => {
                for x in items {
                    if let Some(k) = s(x.get("key"))
                        && k != "exec"
                    {
                        out.insert(k, x.get("value").cloned().unwrap_or(Value::Null));
                    }
                }
            }
            Some(Value::Object(m)) => {
                for (k, x) in m {
                    if k != "exec" {
                        out.insert(k.clone(), x.clone());
                    }
                }
            }
            _ => {}
        }
        out
    }

    // ------------------------------------------------------------------------------------- storage

    fn storage(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        self.leftover(data, path, &["buckets"]);
        let mut collector = false;
        for (i, b) in arr(data.get("buckets")).iter().enumerate() {
            let p = format!("{path}/buckets/{i}");
            let Some(o) = b.as_object() else { continue };
            collector |= o.contains_key("lifecycle_rules")
                || o.contains_key("bucket_policy")
                || o.contains_key("cors_rules")
                || o.get("versioning").is_some_and(Value::is_string);
            self.leftover(
                o,
                &p,
                &[
                    "name",
                    "region",
                    "versioning",
                    "lifecycle_rules",
                    "bucket_policy",
                    "cors_rules",
                    "lifecycle",
                    "policy",
                    "cors",
                    "tags",
                    "tagging",
                    "encryption",
                ],
            );
            let name = s(o.get("name")).unwrap_or_default();
            let versioning_s = match o.get("versioning") {
                Some(Value::String(v)) => Some(v.clone()),
                Some(Value::Object(v)) => s(v.get("Status")),
                _ => None,
            };
            let versioning = versioning_s
                .and_then(|v| serde_json::from_value(Value::String(v.to_lowercase())).ok());
            let rules_v = o.get("lifecycle_rules").cloned().or_else(|| {
                o.get("lifecycle").and_then(|l| {
                    l.get("Rules")
                        .cloned()
                        .or_else(|| l.is_array().then(|| l.clone()))
                })
            });
            let mut lifecycle_rule = Vec::new();
            for (j, r) in arr(rules_v.as_ref()).iter().enumerate() {
                let rp = format!("{p}/lifecycle_rules/{j}");
                if let Some(rule) = self.lifecycle(r, &rp) {
                    lifecycle_rule.push(rule);
                }
            }
            let cors_v = o.get("cors_rules").cloned().or_else(|| {
                o.get("cors").and_then(|c| {
                    c.get("CORSRules")
                        .cloned()
                        .or_else(|| c.is_array().then(|| c.clone()))
                })
            });
            let mut cors_rule = Vec::new();
            for (j, c) in arr(cors_v.as_ref()).iter().enumerate() {
                let cp = format!("{p}/cors_rules/{j}");
                let Some(co) = c.as_object() else { continue };
                self.leftover(
                    co,
                    &cp,
                    &[
                        "ID",
                        "AllowedOrigins",
                        "AllowedMethods",
                        "AllowedHeaders",
                        "ExposeHeaders",
                        "MaxAgeSeconds",
                    ],
                );
                let strings = |k: &str| -> Vec<String> {
                    arr(co.get(k))
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                };
                let methods: Vec<storage::HttpMethod> = strings("AllowedMethods")
                    .into_iter()
                    .filter_map(|m| serde_json::from_value(Value::String(m.to_uppercase())).ok())
                    .collect();
                cors_rule.push(storage::CorsRule {
                    id: s(co.get("ID")),
                    allowed_origins: strings("AllowedOrigins"),
                    allowed_methods: methods,
                    allowed_headers: strings("AllowedHeaders"),
                    expose_headers: strings("ExposeHeaders"),
                    max_age_seconds: co
                        .get("MaxAgeSeconds")
                        .and_then(Value::as_u64)
                        .and_then(|x| u32::try_from(x).ok()),
                });
            }
            let policy = match o.get("bucket_policy").or_else(|| o.get("policy")) {
                Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.issues.push(
                            Issue::error(
                                "invalid-value",
                                format!("the bucket policy is not JSON: {e}"),
                            )
                            .path(format!("{p}/bucket_policy")),
                        );
                        None
                    }
                },
                Some(Value::Null) | None => None,
                Some(v) => Some(v.clone()),
            };
            let tags = match o.get("tags").or_else(|| o.get("tagging")) {
                Some(Value::Object(m)) => {
                    m.iter().map(|(k, v)| (k.clone(), js_string(v))).collect()
                }
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|t| Some((s(t.get("Key"))?, s(t.get("Value")).unwrap_or_default())))
                    .collect(),
                _ => BTreeMap::new(),
            };
            self.push(
                Spec::StorageBucket(storage::Bucket {
                    name,
                    region: s(o.get("region")),
                    versioning,
                    lifecycle_rule,
                    cors_rule,
                    policy,
                    tags,
                    encryption: None,
                    depends_on: Vec::new(),
                    objects: None,
                }),
                p,
            );
        }
        if collector {
            Dialect::Collector
        } else {
            Dialect::Applier
        }
    }

    fn lifecycle(&mut self, r: &Value, p: &str) -> Option<storage::LifecycleRule> {
        let o = r.as_object()?;
        self.leftover(
            o,
            p,
            &[
                "ID",
                "Status",
                "Filter",
                "Prefix",
                "Expiration",
                "NoncurrentVersionExpiration",
                "AbortIncompleteMultipartUpload",
                "Transitions",
                "Transition",
                "NoncurrentVersionTransitions",
            ],
        );
        let u32_of = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .and_then(|x| u32::try_from(x).ok())
        };
        let mut filter = storage::LifecycleFilter::default();
        if let Some(pre) = s(o.get("Prefix")) {
            filter.prefix = Some(pre);
        }
        if let Some(f) = obj(o.get("Filter")) {
            let and = obj(f.get("And"));
            let src = and.unwrap_or(f);
            if let Some(pre) = s(src.get("Prefix")) {
                filter.prefix = Some(pre);
            }
            for t in arr(src.get("Tags")).iter().chain(src.get("Tag")) {
                if let Some(k) = s(t.get("Key")) {
                    filter.tags.insert(k, s(t.get("Value")).unwrap_or_default());
                }
            }
            filter.object_size_greater_than =
                src.get("ObjectSizeGreaterThan").and_then(Value::as_u64);
            filter.object_size_less_than = src.get("ObjectSizeLessThan").and_then(Value::as_u64);
        }
        let expiration = obj(o.get("Expiration")).map(|e| storage::Expiration {
            days: u32_of(e.get("Days")),
            date: s(e.get("Date")),
            expired_object_delete_marker: e
                .get("ExpiredObjectDeleteMarker")
                .and_then(Value::as_bool),
        });
        let nve =
            obj(o.get("NoncurrentVersionExpiration")).map(|e| storage::NoncurrentExpiration {
                noncurrent_days: u32_of(e.get("NoncurrentDays")).unwrap_or(0),
                newer_noncurrent_versions: u32_of(e.get("NewerNoncurrentVersions")),
            });
        let transitions: Vec<storage::Transition> = arr(o.get("Transitions"))
            .iter()
            .chain(o.get("Transition"))
            .filter_map(|t| {
                Some(storage::Transition {
                    days: u32_of(t.get("Days")),
                    date: s(t.get("Date")),
                    storage_class: s(t.get("StorageClass"))?,
                })
            })
            .collect();
        let nvt = arr(o.get("NoncurrentVersionTransitions"))
            .iter()
            .filter_map(|t| {
                Some(storage::NoncurrentTransition {
                    noncurrent_days: u32_of(t.get("NoncurrentDays"))?,
                    storage_class: s(t.get("StorageClass"))?,
                    newer_noncurrent_versions: u32_of(t.get("NewerNoncurrentVersions")),
                })
            })
            .collect();
        let status = match s(o.get("Status")).as_deref() {
            Some("Disabled") => Some(storage::RuleStatus::Disabled),
            Some("Enabled") => Some(storage::RuleStatus::Enabled),
            _ => None,
        };
        Some(storage::LifecycleRule {
            id: s(o.get("ID")).unwrap_or_default(),
            status,
            filter: (filter != storage::LifecycleFilter::default()).then_some(filter),
            expiration,
            noncurrent_version_expiration: nve,
            abort_incomplete_multipart_upload_days: obj(o.get("AbortIncompleteMultipartUpload"))
                .and_then(|a| u32_of(a.get("DaysAfterInitiation"))),
            transition: transitions,
            noncurrent_version_transition: nvt,
        })
    }
}

fn new_table(name: String, schema: String, column: Vec<pg::Column>) -> pg::Table {
    pg::Table {
        name,
        schema,
        comment: None,
        column,
        primary_key: None,
        unique: Vec::new(),
        check: Vec::new(),
        foreign_key: Vec::new(),
        row_level_security: None,
        force_row_level_security: None,
        renamed_from: None,
        depends_on: Vec::new(),
    }
}

fn new_view(name: String, schema: String, query: String) -> pg::View {
    pg::View {
        name,
        schema,
        query: query.trim().to_string(),
        materialized: None,
        check_option: None,
        security_barrier: None,
        security_invoker: None,
        comment: None,
        depends_on: Vec::new(),
    }
}

/// Whether an object has only the given key.
fn is_bare(v: &Value, key: &str) -> bool {
    v.as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key(key))
}

/// JavaScript's `String(v)` for config values.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A snake_case enum name from a string (any case) or a kafkajs numeric enum.
fn enum_of(v: Option<&Value>, numbers: &[(i64, &str)]) -> Option<String> {
    match v? {
        Value::String(s) => Some(snake_case(&s.to_lowercase().replace(['-', ' '], "_"))),
        Value::Number(n) => numbers
            .iter()
            .find(|(k, _)| Some(*k) == n.as_i64())
            .map(|(_, s)| s.to_string()),
        _ => None,
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.into_iter().filter(|(_, x)| !x.is_null()).collect()),
        other => other,
    }
}

/// `/ns/pkg/name` → `pkg/name` (within the tenant's namespace); other forms are kept.
fn local_path(p: &str, ns: &str) -> String {
    match p
        .strip_prefix('/')
        .and_then(|x| x.strip_prefix(ns))
        .and_then(|x| x.strip_prefix('/'))
    {
        Some(local) => local.to_string(),
        None => p.to_string(),
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

fn index_key(k: &str) -> pg::IndexKey {
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
