//! The tenant: its id, status, and the naming conventions that define its scope in each system.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    #[default]
    Active,
    /// Plans are still made; applies are refused.
    Suspended,
}

/// The `tenant` block of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The tenant id: lowercase letters, digits and `-`, starting with a letter.
    pub id: String,
    #[serde(default)]
    pub status: TenantStatus,
    /// Where the tenant lives in each system. Every field has a default derived from the id.
    #[serde(default, skip_serializing_if = "Naming::is_empty")]
    pub naming: Naming,
}

/// A scope a domain's objects live in (its schemas, its realm, its topic prefix), as the domain declares it
/// (`SCOPES` in its module; the registry lists them all): the core knows scopes only as this data.
#[derive(Debug)]
pub struct Scope {
    /// Its name in identifier maps and reports (`postgres_schema`).
    pub name: &'static str,
    /// Its key in the tenant's `naming` block (`postgres_schemas`); empty for the tenant id itself.
    pub key: &'static str,
    /// Whether the naming gives a list of names (schemas) or one (a realm).
    pub many: bool,
    /// Whether names of this scope are matched by their beginning (topic and bucket prefixes).
    pub prefix: bool,
    /// The name by default, from the tenant id.
    pub default: fn(&str) -> String,
    /// What it is and its default, in words (the JSON Schema's description).
    pub doc: &'static str,
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.name == other.name
    }
}

impl Eq for Scope {}

/// The tenant id itself, as a word inside other names (a role `acme_app`, a principal `User:acme-app`).
pub static TENANT_ID: Scope = Scope {
    name: "tenant",
    key: "",
    many: false,
    prefix: false,
    default: str::to_string,
    doc: "the tenant id, as a word inside other names",
};

/// The `id` with `-` turned into `_` (the default of names that cannot hold a `-` unquoted).
pub fn underscored(id: &str) -> String {
    id.replace('-', "_")
}

/// One scope's declared names: one name, or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Names::One(n) => vec![n.clone()],
            Names::Many(l) => l.clone(),
        }
    }
}

/// Naming conventions: the tenant's scope in each system, keyed by the scopes' naming keys (which the
/// domains declare; a manifest's unknown key is refused when it is read). Nothing outside the scope is ever
/// planned, changed or deleted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Naming(indexmap::IndexMap<String, Names>);

impl JsonSchema for Naming {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Naming".into()
    }

    /// The keys are the domains' (the manifest's schema lists them: `manifest::schema`).
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": {
                "type": ["string", "array"],
                "items": { "type": "string" }
            }
        })
    }
}

impl Naming {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names declared for a scope, if any.
    pub fn declared(&self, scope: &Scope) -> Option<Vec<String>> {
        self.0.get(scope.key).map(Names::to_vec)
    }

    /// Declares a scope's names (one, or a list, as the scope takes).
    pub fn set(&mut self, scope: &Scope, names: Vec<String>) {
        let value = match (scope.many, names.as_slice()) {
            (false, [one, ..]) => Names::One(one.clone()),
            _ => Names::Many(names),
        };
        self.0.insert(scope.key.to_string(), value);
    }

    /// Forgets a scope's names (its default applies again).
    pub fn unset(&mut self, scope: &Scope) {
        self.0.shift_remove(scope.key);
    }

    /// The keys and values as written.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Names)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Takes `other`'s entries where this one has none.
    pub fn fill_from(&mut self, other: &Naming) {
        for (k, v) in &other.0 {
            self.0.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

impl Tenant {
    pub fn new(id: impl Into<String>) -> Self {
        Tenant {
            id: id.into(),
            status: TenantStatus::Active,
            naming: Naming::default(),
        }
    }

    /// The tenant's names in a scope: those its naming declares, else the scope's default.
    pub fn names(&self, scope: &Scope) -> Vec<String> {
        self.naming
            .declared(scope)
            .unwrap_or_else(|| vec![(scope.default)(&self.id)])
    }

    /// The tenant's one name in a scope of one name (a realm, a prefix).
    pub fn name(&self, scope: &Scope) -> String {
        self.names(scope)
            .into_iter()
            .next()
            .unwrap_or_else(|| (scope.default)(&self.id))
    }
}

/// Checks a tenant id: 1–63 characters, lowercase letters, digits and `-`, starting with a letter.
pub fn check_tenant_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 63 {
        return Err("a tenant id has 1 to 63 characters".into());
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("a tenant id starts with a lowercase letter".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "a tenant id has only lowercase letters, digits and `-` (found {c:?})"
        ));
    }
    Ok(())
}
