//! Kafka as a [`Provider`]: topics read from the broker and changed in batches, one request per kind of
//! change and wave (all new topics of a wave in one CreateTopics, all config changes in one
//! IncrementalAlterConfigs, ...), then its ACLs (one CreateAcls, one DeleteAcls) and SCRAM credentials (one
//! AlterUserScramCredentials). A broker without an authorizer cannot take ACLs: the rest of the apply goes
//! on, and the run ends with that said in words. A cluster without SCRAM credentials' API has none to read,
//! and a credential to create there is refused before anything is written.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::acl::{self, AclError};
use super::admin::{self, Admin, ConfigChanges};
use super::credentials::{self, CredentialError};
use super::scram::ScramCredential;
use super::{Acl, Topic};
use crate::domains::Spec;
use crate::domains::item::{Action, Change, Item};
use crate::domains::provider::{self, DesiredSpecs, Provider, ProviderError, System};
use crate::setup::{Env, SetupError};
use crate::model::{Address, Domain, Tenant};
use crate::secrets::FingerprintKey;

pub struct Kafka {
    pub admin: Admin,
    /// The config keys the desired topics declare (set by `desired`, read by `live`).
    pub declared: std::sync::Mutex<HashMap<String, Vec<String>>>,
    /// What reading the cluster found worth saying (no authorizer).
    notes: std::sync::Mutex<Vec<String>>,
    /// Reading the ACLs found that the cluster has no authorizer: it refuses every ACL written.
    no_authorizer: std::sync::atomic::AtomicBool,
    /// The bootstrap servers, named in errors (empty when unknown).
    pub bootstrap: String,
    /// The connection's TLS and who it signs in as (for `falconer doctor`).
    access: (String, String),
    /// The cluster's topic list (one Metadata request), shared by a fleet's tenants.
    cluster: provider::SharedListing<admin::Cluster>,
    /// The cluster's SCRAM credentials (one DescribeUserScramCredentials), shared by a fleet's tenants;
    /// `None` when the cluster does not offer them.
    scram: provider::SharedListing<Option<Vec<ScramCredential>>>,
}

impl Kafka {
    pub fn new(admin: Admin) -> Kafka {
        Kafka {
            admin,
            declared: std::sync::Mutex::new(HashMap::new()),
            notes: std::sync::Mutex::new(Vec::new()),
            no_authorizer: Default::default(),
            bootstrap: String::new(),
            access: Default::default(),
            cluster: Default::default(),
            scram: Default::default(),
        }
    }

    /// The cluster's SCRAM credentials, `None` when it does not offer them (read once for a fleet).
    async fn credentials(&self) -> Result<Option<Vec<ScramCredential>>, CredentialError> {
        self.scram
            .get(|| async {
                match credentials::describe(&self.admin).await {
                    Ok(c) => Ok(Some(c)),
                    Err(CredentialError::Unsupported) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await
    }

    /// The SCRAM credentials of the tenant (its prefix) and those `managed` names; none on a cluster that
    /// does not offer them.
    async fn tenant_credentials(&self, prefix: &str, managed: &[String]) -> Result<Vec<Spec>, ProviderError> {
        let all = self
            .credentials()
            .await
            .map_err(|e| ProviderError::backend(Domain::Kafka, format!("Kafka DescribeUserScramCredentials: {e}")))?;
        Ok(all
            .unwrap_or_default()
            .into_iter()
            .map(Spec::KafkaScramCredential)
            .filter(|s| match s {
                Spec::KafkaScramCredential(c) => {
                    c.user.starts_with(prefix) || managed.contains(&s.address().to_string())
                }
                _ => false,
            })
            .collect())
    }

    /// Every topic of the cluster and its brokers: one Metadata request, or (reads shared by a fleet) the
    /// run's one.
    async fn cluster(&self) -> Result<admin::Cluster, admin::AdminError> {
        self.cluster.get(|| admin::metadata(&self.admin)).await
    }

    /// The topics created, or whose replication factor changes, with more replicas than brokers.
    async fn replication_refusals(
        &self,
        desired: &[Item],
        live: &[Item],
    ) -> Result<Vec<(Address, String)>, ProviderError> {
        let live = topics(live);

        let wanted: Vec<(&Address, i16)> = topics(desired)
            .into_iter()
            .filter_map(|(a, t)| Some((a, t.replication_factor?)))
            .filter(|(a, rf)| live.get(a).is_none_or(|l| l.replication_factor != Some(*rf)))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let brokers = self
            .cluster()
            .await
            .map_err(|e| ProviderError::backend(Domain::Kafka, e.to_string()))?
            .brokers;
        Ok(wanted
            .into_iter()
            .filter(|(_, rf)| *rf as usize > brokers)
            .map(|(a, rf)| {
                let why = format!(
                    "replication factor {rf} is more than the cluster's {brokers} broker(s) [{}]",
                    super::REPLICATION.id
                );
                (a.clone(), why)
            })
            .collect())
    }
}

fn acls(items: &[Item]) -> HashMap<&Address, &Acl> {
    items
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::KafkaAcl(a) => Some((&i.address, a)),
            _ => None,
        })
        .collect()
}

fn scram(items: &[Item]) -> HashMap<&Address, &ScramCredential> {
    items
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::KafkaScramCredential(c) => Some((&i.address, c)),
            _ => None,
        })
        .collect()
}

fn topics(items: &[Item]) -> HashMap<&Address, &Topic> {
    items
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::KafkaTopic(t) => Some((&i.address, t)),
            _ => None,
        })
        .collect()
}

/// The config changes that turn `live` into `desired`: set what is new or different, delete what is gone.
pub fn config_changes(desired: &Topic, live: Option<&Topic>) -> Vec<(String, Option<String>)> {
    let empty = BTreeMap::new();
    let old = live.map_or(&empty, |l| &l.config);
    let mut out: Vec<(String, Option<String>)> = desired
        .config
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.0.clone())))
        .collect();
    out.extend(
        old.keys()
            .filter(|k| !desired.config.contains_key(*k))
            .map(|k| (k.clone(), None)),
    );
    out
}

impl System for Kafka {
    /// `url` is the bootstrap list, `host:port[,host:port]`; SASL and TLS beside it.
    type Table = super::security::KafkaTable;
    fn in_env(env: &Env) -> bool {
        env.has("FALCONER_KAFKA_BOOTSTRAP")
    }
    async fn connect(
        table: Option<&super::security::KafkaTable>,
        dir: &Path,
        env: &Env,
    ) -> Result<Self, SetupError> {
        let security = super::security::Security::of(table, dir, env)?;
        if let Some(w) = security.tls.warning("Kafka") {
            tracing::warn!("{w}");
        }
        Ok(Kafka {
            bootstrap: security.bootstrap.clone(),
            access: security.described(),
            ..Kafka::new(admin::connect(&security).await?)
        })
    }
}

impl Provider for Kafka {
    /// The brokers, the connection, and whether the account may read the cluster's ACLs (Describe on the
    /// cluster, docs/kafka.md).
    async fn checkup(&self) -> Result<provider::Checkup, ProviderError> {
        let backend = |e: String| ProviderError::backend(Domain::Kafka, e);
        let brokers = self.cluster().await.map_err(|e| backend(e.to_string()))?.brokers;
        let mut c = provider::Checkup::default();
        c.fact("brokers", format!("{brokers} ({})", self.bootstrap))
            .fact("tls", self.access.0.clone())
            .fact("signed in as", self.access.1.clone());
        match super::acl::describe(&self.admin).await {
            Ok(acls) => c.fact("acls", format!("{} readable", acls.len())),
            Err(super::acl::AclError::NoAuthorizer) => c.fact("acls", "none: the cluster has no authorizer"),
            Err(super::acl::AclError::Lost(e)) => return Err(backend(e)),
            Err(super::acl::AclError::Other(e)) => c.need(false, || {
                format!("cannot describe the cluster's ACLs ({e}): allow Describe on the cluster (docs/kafka.md)")
            }),
        };
        match self.credentials().await {
            Ok(Some(found)) => c.fact("scram credentials", format!("{} readable", found.len())),
            Ok(None) => c.fact("scram credentials", "none: the cluster does not offer them (Kafka 2.7 and later do)"),
            Err(CredentialError::Lost(e)) => return Err(backend(e)),
            Err(e) => c.need(false, || {
                format!("cannot describe the SCRAM credentials ({e}): allow Describe on the cluster (docs/kafka.md)")
            }),
        };
        Ok(c)
    }

    /// The tenant's consumer groups (its topic prefix): their committed offsets are not carried.
    async fn not_carried(
        &self,
        tenant: &Tenant,
        _carried: &[&Spec],
    ) -> Result<Option<Vec<provider::NotCarried>>, ProviderError> {
        let prefix = tenant.name(&super::TOPIC_PREFIX_SCOPE);
        let groups = admin::groups(&self.admin, &prefix)
            .await
            .map_err(|e| ProviderError::backend(Domain::Kafka, e.to_string()))?;
        Ok(Some(
            groups
                .into_iter()
                .map(|g| provider::NotCarried {
                    kind: "consumer group".into(),
                    name: format!("consumer group {g} (its committed offsets)"),
                })
                .collect(),
        ))
    }

    fn domain(&self) -> Domain {
        Domain::Kafka
    }

    async fn desired(
        &self,
        specs: &DesiredSpecs,
        key: &FingerprintKey,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Item>, ProviderError> {
        let declared: HashMap<String, Vec<String>> = specs
            .iter()
            .filter_map(|(s, _)| match s {
                Spec::KafkaTopic(t) => Some((t.name.clone(), t.config.keys().cloned().collect())),
                _ => None,
            })
            .collect();
        // Merged, not replaced: tenants of a fleet share this provider, and topic names are the cluster's.
        if let Ok(mut d) = self.declared.lock() {
            d.extend(declared);
        }
        Ok(provider::desired_of(specs, Domain::Kafka, key, warnings))
    }

    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        let prefix = tenant.name(&super::TOPIC_PREFIX_SCOPE);
        let named: Vec<String> = also
            .iter()
            .filter(|a| a.domain == Domain::Kafka && a.kind == "topic")
            .filter_map(|a| a.segments.first().cloned())
            .collect();
        let backend = |message: String| ProviderError::backend(Domain::Kafka, message);
        let declared = self.declared.lock().map(|d| d.clone()).unwrap_or_default();
        let all = self.cluster().await.map_err(|e| backend(e.to_string()))?.topics;
        let found = admin::topics(
            &self.admin,
            all,
            |n| n.starts_with(&prefix) || named.iter().any(|x| x == n),
            &declared,
        )
        .await
        .map_err(|e| backend(e.to_string()))?;
        let managed: Vec<String> = also.iter().map(ToString::to_string).collect();
        // Without an authorizer there are no ACLs to read; creating them says so at apply.
        let acls = match acl::describe(&self.admin).await {
            Ok(a) => a,
            Err(AclError::NoAuthorizer) => {
                self.no_authorizer.store(true, std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut n) = self.notes.lock() {
                    n.push(format!("{}; no ACLs were read", acl::NO_AUTHORIZER));
                }
                Vec::new()
            }
            Err(AclError::Other(m) | AclError::Lost(m)) => {
                return Err(backend(format!("Kafka DescribeAcls: {m}")));
            }
        };
        let acls = acls.into_iter().map(Spec::KafkaAcl).filter(|s| match s {
            Spec::KafkaAcl(a) => {
                a.resource_name.starts_with(&prefix) || managed.contains(&s.address().to_string())
            }
            _ => false,
        });
        let scram = self.tenant_credentials(&prefix, &managed).await?;
        Ok(provider::sealed(
            found.into_iter().map(Spec::KafkaTopic).chain(acls).chain(scram),
            key,
        ))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// A topic created (or whose replication factor changes) with more replicas than the cluster has
    /// brokers (`kafka-replication-factor`), an ACL created on a cluster without an authorizer, and a SCRAM
    /// credential on a cluster without their API: Kafka refuses them.
    async fn refusals(
        &self,
        _: &Tenant,
        desired: &[Item],
        live: &[Item],
    ) -> Result<Vec<(Address, String)>, ProviderError> {
        let mut out = self.replication_refusals(desired, live).await?;
        if self.no_authorizer.load(std::sync::atomic::Ordering::Relaxed) {
            let present = acls(live);
            out.extend(
                acls(desired)
                    .into_keys()
                    .filter(|a| !present.contains_key(a))
                    .map(|a| (a.clone(), format!("{} (SECURITY_DISABLED)", acl::NO_AUTHORIZER))),
            );
        }
        let wanted = desired.iter().filter(|i| matches!(i.spec, Spec::KafkaScramCredential(_)));
        if wanted.clone().next().is_some()
            && self.credentials().await.ok().flatten().is_none()
        {
            out.extend(wanted.map(|i| (i.address.clone(), CredentialError::Unsupported.to_string())));
        }
        Ok(out)
    }

    fn share_reads(&self, _tenants: &[Tenant]) {
        self.cluster.share();
        self.scram.share();
    }

    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        bases: &HashMap<Address, PathBuf>,
    ) -> Result<usize, ProviderError> {
        refuse_idle(changes, desired, live)?;
        let (d, l) = (topics(desired), topics(live));
        let (da, la) = (acls(desired), acls(live));
        let (ds, ls) = (scram(desired), scram(live));
        let waves = provider::by_wave(changes, Domain::Kafka);
        // ACL errors do not stop the topics' work: the first is reported at the end.
        let mut acl_error: Option<AclError> = None;
        let mut done = 0;
        let failed = |message: String, command: &str, done: usize| ProviderError::Failed {
            domain: Domain::Kafka,
            message: if self.bootstrap.is_empty() {
                message
            } else {
                format!("{message} (brokers at {})", self.bootstrap)
            },
            command: command.to_string(),
            done,
        };
        for wave in &waves {
            let Batch {
                create,
                grow,
                configs,
                delete,
                acl_create,
                acl_delete,
            } = Batch::of(wave, (&d, &l), (&da, &la));
            admin::create_topics(&self.admin, &create)
                .await
                .map_err(|e| failed(e.to_string(), "CreateTopics", done))?;
            admin::add_partitions(&self.admin, &grow)
                .await
                .map_err(|e| failed(e.to_string(), "CreatePartitions", done))?;
            admin::alter_configs(&self.admin, configs)
                .await
                .map_err(|e| failed(e.to_string(), "IncrementalAlterConfigs", done))?;
            admin::delete_topics(&self.admin, &delete)
                .await
                .map_err(|e| failed(e.to_string(), "DeleteTopics", done))?;
            if acl_error.is_none() {
                let r = match acl::create(&self.admin, acl_create).await {
                    Ok(()) => acl::delete(&self.admin, acl_delete).await,
                    Err(e) => Err(e),
                };
                acl_error = r.err();
            }
            let alterations = credentials::alterations(wave, &ds, &ls, bases)
                .map_err(|m| failed(m, "AlterUserScramCredentials", done))?;
            credentials::alter(&self.admin, alterations)
                .await
                .map_err(|e| failed(e.to_string(), "AlterUserScramCredentials", done))?;
            done += wave.len();
        }
        match acl_error {
            None => {}
            Some(AclError::NoAuthorizer) => {
                return Err(ProviderError::Change {
                    domain: Domain::Kafka,
                    message: format!(
                        "the topics were applied, the ACLs were not: {}; remove the kafka.acl resources from the manifest, or configure an authorizer on the brokers",
                        AclError::NoAuthorizer
                    ),
                });
            }
            Some(e) => return Err(failed(e.to_string(), "CreateAcls/DeleteAcls", done)),
        }
        Ok(waves.iter().map(Vec::len).sum())
    }
}

/// One wave's work, in the requests that carry it.
#[derive(Default)]
struct Batch<'a> {
    create: Vec<&'a Topic>,
    grow: Vec<(&'a str, u32)>,
    configs: ConfigChanges,
    delete: Vec<&'a str>,
    acl_create: Vec<Acl>,
    acl_delete: Vec<Acl>,
}

/// Refuses topic updates with a field no Kafka operation carries out, naming it, before anything runs: each
/// field is tried alone through the same [`Batch`] the apply runs.
fn refuse_idle(changes: &[Change], desired: &[Item], live: &[Item]) -> Result<(), ProviderError> {
    let (d, l) = (
        provider::by_address(desired, Domain::Kafka),
        provider::by_address(live, Domain::Kafka),
    );
    for c in changes {
        let (Some(ds), Some(ls)) = (d.get(&c.address), l.get(&c.address)) else {
            continue;
        };
        provider::refuse_idle(Domain::Kafka, c, ds, ls, |one, alone| {
            let (Spec::KafkaTopic(want), Spec::KafkaTopic(have)) = (alone, *ls) else {
                return Ok::<usize, ()>(1);
            };
            let (dm, lm) = (
                HashMap::from([(&one.address, want)]),
                HashMap::from([(&one.address, have)]),
            );
            let b = Batch::of(&[one], (&dm, &lm), (&HashMap::new(), &HashMap::new()));
            Ok(b.create.len() + b.grow.len() + b.configs.len() + b.delete.len())
        })?;
    }
    Ok(())
}

type ByAddress<'a, T> = HashMap<&'a Address, &'a T>;

impl<'a> Batch<'a> {
    fn of(
        wave: &[&Change],
        (d, l): (&ByAddress<'a, Topic>, &ByAddress<'a, Topic>),
        (da, la): (&ByAddress<'a, Acl>, &ByAddress<'a, Acl>),
    ) -> Batch<'a> {
        let mut b = Batch::default();
        for c in wave {
            if c.kind.name == "acl" {
                match (c.action, da.get(&c.address), la.get(&c.address)) {
                    (Action::Create, Some(a), _) => b.acl_create.push((*a).clone()),
                    (Action::Delete, _, Some(a)) => b.acl_delete.push((*a).clone()),
                    _ => {}
                }
                continue;
            }
            match (
                c.action,
                d.get(&c.address).copied(),
                l.get(&c.address).copied(),
            ) {
                (Action::Create, Some(t), _) => b.create.push(t),
                (Action::Update, Some(t), Some(old)) => {
                    if t.partitions > old.partitions {
                        b.grow.push((&t.name, t.partitions));
                    }
                    let cc = config_changes(t, Some(old));
                    if !cc.is_empty() {
                        b.configs.push((t.name.clone(), cc));
                    }
                }
                (Action::Delete, _, Some(old)) => b.delete.push(&old.name),
                // A replace only comes from a replication-factor change, which the plan refuses.
                _ => {}
            }
        }
        b
    }
}
