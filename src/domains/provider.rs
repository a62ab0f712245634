//! The provider trait: what a domain's live system offers falconer. PostgreSQL is the first implementation
//! (`postgres::provider::Postgres`); each further domain adds one.
//!
//! A provider reads the tenant's scope in batches (a fixed number of round trips, not one per object),
//! prepares the desired resources the way the server would store them (its plan-time checks), and carries
//! out a plan's changes of its domain, all or nothing where the backend allows.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::domains::Spec;
use crate::model::{Address, Domain, Tenant};
use crate::plan::{Change, Item};
use crate::secrets::FingerprintKey;

/// Why a provider could not do its part. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The backend could not be read or refused a plan-time check.
    #[error("{domain}: {message}")]
    Backend { domain: Domain, message: String },
    /// A change could not be built (e.g. a secret that cannot be read).
    #[error("{domain}: {message}")]
    Change { domain: Domain, message: String },
    /// The backend refused a change; nothing of the domain was applied.
    #[error(
        "{domain} refused a change, nothing was applied (the transaction was rolled back): {message}\n  statement: {statement}"
    )]
    Refused {
        domain: Domain,
        message: String,
        /// The statement as it may be shown (secrets left out).
        statement: String,
    },
    /// The backend refused a command of a domain without transactions: the commands before it stay
    /// applied, and the next apply completes the work.
    #[error(
        "{domain} refused a command after {done} command(s) of this run had been applied: {message}\n  command: {command}\n  the next apply plans from the live state and completes the rest"
    )]
    Failed {
        domain: Domain,
        message: String,
        command: String,
        done: usize,
    },
}

/// The desired resources of a plan, each with the directory its secret files are relative to.
pub type DesiredSpecs = [(Spec, PathBuf)];

#[allow(async_fn_in_trait)]
pub trait Provider {
    fn domain(&self) -> Domain;

    /// The desired resources of this domain, prepared as the server would store them, and sealed.
    async fn desired(
        &self,
        specs: &DesiredSpecs,
        key: &FingerprintKey,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Item>, ProviderError>;

    /// The live resources of the tenant's scope, sealed. `also` names resources outside the scope to read
    /// as well (declared or managed ones, such as cluster-wide roles).
    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError>;

    /// Carries out changes of this domain (given in plan order, waves ascending), with bounded parallelism
    /// where the backend allows it; returns how many there were. `bases` gives, by address, the directory a
    /// desired resource's secret files are relative to.
    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        bases: &HashMap<String, PathBuf>,
    ) -> Result<usize, ProviderError>;
}

/// The desired resources of one domain, sealed (each with its secret files' directory).
pub fn desired_of(
    specs: &DesiredSpecs,
    domain: Domain,
    key: &FingerprintKey,
    warnings: &mut Vec<String>,
) -> Vec<Item> {
    specs
        .iter()
        .filter(|(s, _)| s.meta().domain == domain)
        .map(|(s, b)| Item::new(s.clone(), b, key, warnings))
        .collect()
}

/// Live resources, sealed (a server gives back no secret value to seal).
pub fn sealed(specs: impl IntoIterator<Item = Spec>, key: &FingerprintKey) -> Vec<Item> {
    let mut warnings = Vec::new();
    specs
        .into_iter()
        .map(|s| Item::new(s, std::path::Path::new(""), key, &mut warnings))
        .collect()
}

/// The changes of one domain's kinds (those whose kind starts with `prefix`, such as `"kafka."`), grouped by
/// wave, waves ascending, plan order kept within each.
pub fn by_wave<'a>(changes: &'a [Change], prefix: &str) -> Vec<Vec<&'a Change>> {
    let mut waves: std::collections::BTreeMap<usize, Vec<&Change>> = Default::default();
    for c in changes.iter().filter(|c| c.kind.starts_with(prefix)) {
        waves.entry(c.wave).or_default().push(c);
    }
    waves.into_values().collect()
}
