//! The registry of live systems, made from the domain table ([`crate::for_each_domain`]): each domain's
//! module exports its `Provider`, whose profile table is named as the module. From the table come the
//! profile's tables ([`Tables`]), the connected systems as one provider ([`Live`]), and connecting to one
//! ([`Tables::connect`]). Nothing else names a domain's provider.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::item::{Change, Item};
use super::provider::{DesiredSpecs, Provider, ProviderError, System};
use crate::model::{Address, Domain, Tenant};
use crate::secrets::FingerprintKey;
use crate::setup::{Env, SetupError};

/// A system that could not be connected to: which, and why (by kind; its words name where it tried).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct ConnectError {
    pub domain: Domain,
    pub error: SetupError,
}

impl ConnectError {
    /// The system could not be reached (refused, unknown, timed out), which a later run may change; not
    /// a setting, a secret or credentials it refused.
    pub fn unreachable(&self) -> bool {
        matches!(
            self.error,
            SetupError::Unreachable(_) | SetupError::TimedOut { .. }
        )
    }
}

macro_rules! systems {
    ($( $variant:ident $table:ident $system:literal $falcone:expr ),* $(,)?) => {
        /// The connection profile's tables, one per system (`[postgres]`, `[iam]`, ...); any other table is
        /// refused.
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Tables {
            $( pub $table: Option<<super::$table::Provider as System>::Table>, )*
        }

        /// The domains with a live system, in plan order.
        pub const LIVE_DOMAINS: &[Domain] = &[$( Domain::$variant ),*];

        /// A connected live system, with the timeouts every call to it is bounded by.
        pub struct Live {
            system: Connected,
            timeouts: crate::util::Timeouts,
        }

        enum Connected {
            $( $variant(super::$table::Provider), )*
        }

        impl Tables {
            /// Whether a system's connection is given (by its table here, or the environment).
            pub fn configured(&self, domain: Domain, env: &Env) -> bool {
                match domain {
                    $( Domain::$variant => self.$table.is_some() || <super::$table::Provider as System>::in_env(env), )*
                }
            }

            /// Connects to a system (secret files of the tables relative to `dir`), within its connect
            /// timeout: a system that accepts and never answers fails, naming itself, rather than hang.
            pub async fn connect(
                &self,
                domain: Domain,
                dir: &Path,
                env: &Env,
                timeouts: crate::util::Timeouts,
            ) -> Result<Live, ConnectError> {
                let limit = timeouts.connect;
                let connecting = crate::util::with_timeouts(timeouts, async {
                    match domain {
                        $( Domain::$variant => Ok(Live { system: Connected::$variant(
                            <super::$table::Provider as System>::connect(self.$table.as_ref(), dir, env).await?,
                        ), timeouts }), )*
                    }
                });
                // A backstop a little past the limit: a system's own bounded connect (which names where it
                // tried) reports first.
                let backstop = limit + std::time::Duration::from_secs(2);
                let connected = tokio::time::timeout(backstop, connecting).await.map_err(|_| {
                    SetupError::TimedOut { system: domain.system(), target: None, secs: limit.as_secs() }
                });
                connected.and_then(|c: Result<Live, SetupError>| c).map_err(|error| ConnectError { domain, error })
            }
        }

        impl Provider for Live {
            fn domain(&self) -> Domain {
                match &self.system { $( Connected::$variant(p) => p.domain(), )* }
            }

            fn notes(&self) -> Vec<String> {
                match &self.system { $( Connected::$variant(p) => p.notes(), )* }
            }

            async fn not_carried(
                &self,
                tenant: &Tenant,
                carried: &[&crate::domains::Spec],
            ) -> Result<Option<Vec<super::provider::NotCarried>>, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.not_carried(tenant, carried).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            async fn refusals(
                &self,
                tenant: &Tenant,
                desired: &[Item],
                live: &[Item],
            ) -> Result<Vec<(crate::model::Address, String)>, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.refusals(tenant, desired, live).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            async fn data(
                &self,
                tenant: &Tenant,
                carried: &[&crate::domains::Spec],
            ) -> Result<Vec<super::provider::DataValue>, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.data(tenant, carried).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            async fn set_data(
                &self,
                values: &[super::provider::DataValue],
            ) -> Result<Vec<String>, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.set_data(values).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            async fn checkup(&self) -> Result<super::provider::Checkup, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.checkup().await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            fn share_reads(&self, tenants: &[Tenant]) {
                match &self.system { $( Connected::$variant(p) => p.share_reads(tenants), )* }
            }

            async fn desired(
                &self,
                specs: &DesiredSpecs,
                key: &FingerprintKey,
                warnings: &mut Vec<String>,
            ) -> Result<Vec<Item>, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.desired(specs, key, warnings).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            async fn settle(
                &self,
                specs: &DesiredSpecs,
                desired: Vec<Item>,
                unchanged: &[bool],
                key: &FingerprintKey,
            ) -> Result<Vec<Item>, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.settle(specs, desired, unchanged, key).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            async fn live(
                &self,
                tenant: &Tenant,
                also: &[Address],
                key: &FingerprintKey,
            ) -> Result<Vec<Item>, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.live(tenant, also, key).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }

            async fn apply(
                &self,
                changes: &[Change],
                desired: &[Item],
                live: &[Item],
                bases: &HashMap<Address, PathBuf>,
            ) -> Result<usize, ProviderError> {
                let work = async { match &self.system { $( Connected::$variant(p) => p.apply(changes, desired, live, bases).await, )* } };
                crate::util::with_timeouts(self.timeouts, work).await
            }
        }
    };
}

crate::for_each_domain!(systems);
