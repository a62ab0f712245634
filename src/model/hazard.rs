//! Hazards: what a change could lose or expose. Each has a stable code; applying a change with a hazard
//! requires allowing that code explicitly (`apply --allow CODE`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Hazard codes, from the most to the least severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[clap(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HazardCode {
    /// The change cannot be made (an error, not a replace).
    Impossible,
    /// Data is lost: a table, column, collection, topic, bucket, realm.
    DeletesData,
    /// Access widens: RLS disabled, public bucket policy, wildcard ACL, public client.
    WidensAccess,
    /// Stored data is rewritten (a column type change).
    RewritesData,
    /// A table or collection is locked or scanned while the change runs (index builds, NOT NULL).
    LocksTable,
    /// How users sign in changes: a flow binding, a flow's steps, an action asked of every new user.
    ChangesSignIn,
    /// Data can no longer be deleted by anyone until a retention ends (S3 object lock in COMPLIANCE mode).
    RetainsData,
}

impl HazardCode {
    pub fn as_str(self) -> &'static str {
        match self {
            HazardCode::Impossible => "IMPOSSIBLE",
            HazardCode::DeletesData => "DELETES_DATA",
            HazardCode::WidensAccess => "WIDENS_ACCESS",
            HazardCode::RewritesData => "REWRITES_DATA",
            HazardCode::LocksTable => "LOCKS_TABLE",
            HazardCode::ChangesSignIn => "CHANGES_SIGN_IN",
            HazardCode::RetainsData => "RETAINS_DATA",
        }
    }
}

impl std::fmt::Display for HazardCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hazard of a change: its code and what would be lost or exposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hazard {
    pub code: HazardCode,
    pub message: String,
}

impl Hazard {
    pub fn new(code: HazardCode, message: impl Into<String>) -> Self {
        Hazard {
            code,
            message: message.into(),
        }
    }
}
