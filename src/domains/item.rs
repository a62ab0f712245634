//! What the planner and the providers exchange: [`Item`] (a sealed resource on one side of a plan), and
//! [`Change`] (one planned change, with its [`Action`] and changed fields). They live here, below the
//! planner, because every provider takes them; `crate::plan` re-exports them.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Spec;
use crate::model::{Address, Hazard, HazardCode, Kind, canonicalize};
use crate::secrets::{self, FingerprintKey};

/// A resource on one side of a plan.
#[derive(Debug, Clone)]
pub struct Item {
    pub spec: Spec,
    pub address: Address,
    /// Canonical value with secrets sealed.
    pub value: Value,
}

impl Item {
    /// Seals and canonicalizes a resource. Secrets that cannot be resolved (`base` is the directory file
    /// references are relative to) are sealed as unknown, and a warning says so.
    pub fn new(spec: Spec, base: &Path, key: &FingerprintKey, warnings: &mut Vec<String>) -> Item {
        let meta = spec.meta();
        let address = spec.address();
        let mut value = spec.to_json();
        for (field, why) in secrets::seal(meta, &mut value, base, key) {
            warnings.push(format!(
                "{address} `{field}`: the secret cannot be read ({}); it is treated as unknown, so no change to it is detected",
                why.0
            ));
        }
        let value = canonicalize(meta, value);
        tracing::trace!(%address, value = %value, "sealed resource");
        Item {
            value,
            spec,
            address,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    pub address: Address,
    /// The resource kind, `<domain>.<kind>`.
    pub kind: Kind,
    pub action: Action,
    /// Changes of one wave have no dependencies on each other; waves run in order.
    pub wave: usize,
    /// Changed fields (updates and replaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<PlannedField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hazards: Vec<Hazard>,
    /// The resource as created (creates) or as it was (deletes); secrets shown as `(sensitive)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl Change {
    /// The most severe hazard of the change.
    pub fn worst(&self) -> Option<HazardCode> {
        self.hazards.iter().map(|h| h.code).min()
    }
}

/// A changed field as written in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedField {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forces_replace: bool,
}
