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

/// Naming conventions: the tenant's scope. Nothing outside it is ever planned, changed or deleted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Naming {
    /// Keycloak realm. Default: the tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// PostgreSQL schemas. Default: the id with `-` turned into `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_schemas: Option<Vec<String>>,
    /// MongoDB databases. Default: the id with `-` turned into `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongo_databases: Option<Vec<String>>,
    /// Prefix of the tenant's Kafka topics, consumer groups and transactional ids. Default: `<id>.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_topic_prefix: Option<String>,
    /// OpenWhisk namespace. Default: the tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions_namespace: Option<String>,
    /// Prefix of the tenant's bucket names. Default: `<id>-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_prefix: Option<String>,
}

impl Naming {
    pub fn is_empty(&self) -> bool {
        *self == Naming::default()
    }

    /// Takes `other`'s fields where this one has none.
    pub fn fill_from(&mut self, other: &Naming) {
        fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
            if slot.is_none() {
                slot.clone_from(from);
            }
        }
        fill(&mut self.realm, &other.realm);
        fill(&mut self.postgres_schemas, &other.postgres_schemas);
        fill(&mut self.mongo_databases, &other.mongo_databases);
        fill(&mut self.kafka_topic_prefix, &other.kafka_topic_prefix);
        fill(&mut self.functions_namespace, &other.functions_namespace);
        fill(&mut self.bucket_prefix, &other.bucket_prefix);
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

    fn underscored(&self) -> String {
        self.id.replace('-', "_")
    }

    pub fn realm(&self) -> String {
        self.naming.realm.clone().unwrap_or_else(|| self.id.clone())
    }

    pub fn postgres_schemas(&self) -> Vec<String> {
        self.naming
            .postgres_schemas
            .clone()
            .unwrap_or_else(|| vec![self.underscored()])
    }

    pub fn mongo_databases(&self) -> Vec<String> {
        self.naming
            .mongo_databases
            .clone()
            .unwrap_or_else(|| vec![self.underscored()])
    }

    pub fn kafka_topic_prefix(&self) -> String {
        self.naming
            .kafka_topic_prefix
            .clone()
            .unwrap_or_else(|| format!("{}.", self.id))
    }

    pub fn functions_namespace(&self) -> String {
        self.naming
            .functions_namespace
            .clone()
            .unwrap_or_else(|| self.id.clone())
    }

    pub fn bucket_prefix(&self) -> String {
        self.naming
            .bucket_prefix
            .clone()
            .unwrap_or_else(|| format!("{}-", self.id))
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
