//! Default privileges (`ALTER DEFAULT PRIVILEGES FOR ROLE ... IN SCHEMA ...`): what objects a role creates
//! later in a schema of the tenant give to another role, one resource per (schema, creator, kind of object,
//! grantee).

use super::sql::quote_ident;
use super::*;

choice! { "snake_case";
    /// The objects default privileges apply to.
    pub enum DefaultObjects { Tables, Sequences, Functions, Types }
}

choice! { "UPPERCASE";
    /// A privilege given by default.
    pub enum DefaultPrivilege { Select, Insert, Update, Delete, Truncate, References, Trigger, Usage, Execute, All }
}

model! {
    /// Privileges given to the objects `role` creates later in `schema`.
    pub struct DefaultPrivileges {
        pub schema: String,
        /// The role whose future objects they are (`FOR ROLE`).
        pub role: String,
        pub on: DefaultObjects,
        pub grantee: String,
        pub privileges: Vec<DefaultPrivilege>,
        pub with_grant_option: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

pub(super) static DEFAULT_PRIVILEGES: KindMeta = KindMeta {
    domain: Domain::Postgres,
    kind: "default_privileges",
    title: "PostgreSQL default privileges",
    identity: &["schema", "role", "on", "grantee"],
    holds_data: false,
    fields: &[
        FieldMeta::new("privileges", SET),
        FieldMeta::new("with_grant_option", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl DefaultObjects {
    fn word(self) -> &'static str {
        match self {
            DefaultObjects::Tables => "tables",
            DefaultObjects::Sequences => "sequences",
            DefaultObjects::Functions => "functions",
            DefaultObjects::Types => "types",
        }
    }

    /// `pg_default_acl.defaclobjtype`.
    pub fn code(self) -> &'static str {
        match self {
            DefaultObjects::Tables => "r",
            DefaultObjects::Sequences => "S",
            DefaultObjects::Functions => "f",
            DefaultObjects::Types => "T",
        }
    }

    fn of_code(code: &str) -> Option<DefaultObjects> {
        [Self::Tables, Self::Sequences, Self::Functions, Self::Types].into_iter().find(|o| o.code() == code)
    }

    /// The privileges that apply to these objects.
    fn allows(self, p: DefaultPrivilege) -> bool {
        use DefaultPrivilege::*;
        match self {
            DefaultObjects::Tables => !matches!(p, Usage | Execute),
            DefaultObjects::Sequences => matches!(p, Select | Update | Usage | All),
            DefaultObjects::Functions => matches!(p, Execute | All),
            DefaultObjects::Types => matches!(p, Usage | All),
        }
    }
}

impl ResourceKind for DefaultPrivileges {
    kind_basics!(DEFAULT_PRIVILEGES, |self| {
        vec![self.schema.clone(), self.role.clone(), self.on.word().to_string(), self.grantee.clone()]
    });
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let mut r = vec![
            Reference::soft("schema", addr("schema", &[&self.schema])),
            Reference::soft("role", addr("role", &[&self.role])),
        ];
        if !is_builtin_role(&self.grantee) {
            r.push(Reference::soft("grantee", addr("role", &[&self.grantee])));
        }
        r
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        schema_in_scope(&self.schema, tenant)
    }
    fn normalize(&mut self) {
        self.privileges.sort();
        self.privileges.dedup();
        if self.with_grant_option == Some(false) {
            self.with_grant_option = None;
        }
        if self.grantee.eq_ignore_ascii_case("public") {
            self.grantee = "public".into();
        }
    }
    fn hazards(&self, _: Option<&Self>, _: &super::super::HazardCx<'_>) -> Vec<Hazard> {
        if self.grantee != "public" {
            return Vec::new();
        }
        vec![Hazard::new(
            HazardCode::WidensAccess,
            format!("every {} {} creates in {} will be open to PUBLIC", self.on.word().trim_end_matches('s'), self.role, self.schema),
        )]
    }
    fn check(&self, cx: &mut Checker<'_>) {
        ident("role", &self.role, cx);
        ident("grantee", &self.grantee, cx);
        in_schema_scope(&self.schema, cx);
        if self.privileges.is_empty() {
            cx.error("privileges", "empty", "default privileges need at least one privilege");
        }
        for p in self.privileges.iter().filter(|p| !self.on.allows(**p)) {
            cx.error("privileges", "invalid-value", format!("{p:?} cannot be given on {}", self.on.word()).to_uppercase());
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&SCHEMA_SCOPE, &mut self.schema);
        r.tenant_word(&mut self.role);
        r.tenant_word(&mut self.grantee);
    }
}

fn prefix(d: &DefaultPrivileges) -> String {
    format!("alter default privileges for role {} in schema {}", quote_ident(&d.role), quote_ident(&d.schema))
}

fn who(g: &str) -> String {
    if g == "public" { "public".into() } else { quote_ident(g) }
}

fn list(p: &[&DefaultPrivilege]) -> String {
    p.iter().map(|x| format!("{x:?}").to_uppercase()).collect::<Vec<_>>().join(", ")
}

/// `ALTER DEFAULT PRIVILEGES ... GRANT`.
pub fn create(d: &DefaultPrivileges) -> Vec<String> {
    let all: Vec<&DefaultPrivilege> = d.privileges.iter().collect();
    let option = if d.with_grant_option == Some(true) { " with grant option" } else { "" };
    vec![format!("{} grant {} on {} to {}{option}", prefix(d), list(&all), d.on.word(), who(&d.grantee))]
}

/// Revokes what `l` gives and `d` does not, then grants what `d` adds (again, with the grant option when
/// that changes).
pub fn update(d: &DefaultPrivileges, l: &DefaultPrivileges) -> Vec<String> {
    let mut out = Vec::new();
    let gone: Vec<&DefaultPrivilege> = l.privileges.iter().filter(|p| !d.privileges.contains(p)).collect();
    if !gone.is_empty() {
        out.push(format!("{} revoke {} on {} from {}", prefix(d), list(&gone), d.on.word(), who(&d.grantee)));
    }
    if d.with_grant_option != l.with_grant_option && d.with_grant_option != Some(true) {
        out.push(format!("{} revoke grant option for all on {} from {}", prefix(d), d.on.word(), who(&d.grantee)));
    }
    if d.privileges.iter().any(|p| !l.privileges.contains(p)) || (d.with_grant_option == Some(true) && l.with_grant_option != Some(true)) {
        out.extend(create(d));
    }
    out
}

/// `ALTER DEFAULT PRIVILEGES ... REVOKE ALL`.
pub fn drop(d: &DefaultPrivileges) -> String {
    format!("{} revoke all on {} from {}", prefix(d), d.on.word(), who(&d.grantee))
}

/// Default privileges as the catalog describes them, one row per privilege.
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    schema: String,
    role: String,
    objtype: String,
    grantee: String,
    privilege: String,
    grantable: bool,
}

impl Row {
    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn grantee(&self) -> &str {
        &self.grantee
    }
}

/// The default privileges of the schemas `$1`.
pub const SQL: &str = "select n.nspname::text as schema, pg_get_userbyid(d.defaclrole)::text as role,
       d.defaclobjtype::text as objtype, coalesce(r.rolname::text, 'public') as grantee,
       a.privilege_type as privilege, a.is_grantable as grantable
  from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace
  cross join lateral aclexplode(d.defaclacl) a left join pg_roles r on r.oid = a.grantee
 where n.nspname = any($1)
 order by 1, 2, 3, 4, 5";

/// The default privileges the rows describe, gathered per (schema, role, objects, grantee).
pub fn of_rows(rows: Vec<Row>) -> Vec<crate::domains::Spec> {
    let mut out: Vec<DefaultPrivileges> = Vec::new();
    for r in rows {
        let (Some(on), Ok(p)) = (
            DefaultObjects::of_code(&r.objtype),
            serde_json::from_value::<DefaultPrivilege>(serde_json::Value::String(r.privilege.clone())),
        ) else {
            continue;
        };
        let same = |d: &DefaultPrivileges| d.schema == r.schema && d.role == r.role && d.on == on && d.grantee == r.grantee;
        match out.iter_mut().find(|d| same(d)) {
            Some(d) => d.privileges.push(p),
            None => out.push(DefaultPrivileges {
                schema: r.schema,
                role: r.role,
                on,
                grantee: r.grantee,
                privileges: vec![p],
                with_grant_option: r.grantable.then_some(true),
                depends_on: Vec::new(),
            }),
        }
    }
    out.into_iter()
        .map(|mut d| {
            ResourceKind::normalize(&mut d);
            crate::domains::Spec::PgDefaultPrivileges(d)
        })
        .collect()
}
