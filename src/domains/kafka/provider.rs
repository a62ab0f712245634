//! Kafka as a [`Provider`]: topics read from the broker and changed in batches, one request per kind of
//! change and wave (all new topics of a wave in one CreateTopics, all config changes in one
//! IncrementalAlterConfigs, ...). ACLs are not planned against a live broker yet: they are left out with a
//! warning.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::Topic;
use super::admin::{self, Admin, ConfigChanges};
use crate::domains::Spec;
use crate::domains::provider::{self, DesiredSpecs, Provider, ProviderError};
use crate::model::{Address, Domain, Tenant};
use crate::plan::{Action, Change, Item};
use crate::secrets::FingerprintKey;

pub struct Kafka {
    pub admin: Admin,
}

fn topics(items: &[Item]) -> HashMap<String, &Topic> {
    items
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::KafkaTopic(t) => Some((i.address.to_string(), t)),
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

impl Provider for Kafka {
    fn domain(&self) -> Domain {
        Domain::Kafka
    }

    async fn desired(
        &self,
        specs: &DesiredSpecs,
        key: &FingerprintKey,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Item>, ProviderError> {
        let acls = specs
            .iter()
            .filter(|(s, _)| matches!(s, Spec::KafkaAcl(_)))
            .count();
        if acls > 0 {
            warnings.push(format!(
                "{acls} Kafka ACL(s) left out of this live plan: ACLs are not yet planned against a live broker"
            ));
        }
        let mut items = provider::desired_of(specs, Domain::Kafka, key, warnings);
        items.retain(|i| matches!(i.spec, Spec::KafkaTopic(_)));
        Ok(items)
    }

    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        let prefix = tenant.kafka_topic_prefix();
        let named: Vec<String> = also
            .iter()
            .filter(|a| a.domain == Domain::Kafka && a.kind == "topic")
            .filter_map(|a| a.segments.first().cloned())
            .collect();
        let found = admin::topics(&self.admin, |n| {
            n.starts_with(&prefix) || named.iter().any(|x| x == n)
        })
        .await
        .map_err(|message| ProviderError::Backend {
            domain: Domain::Kafka,
            message,
        })?;
        Ok(provider::sealed(
            found.into_iter().map(Spec::KafkaTopic),
            key,
        ))
    }

    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        _bases: &HashMap<String, PathBuf>,
    ) -> Result<usize, ProviderError> {
        let (d, l) = (topics(desired), topics(live));
        let mine: Vec<&Change> = changes.iter().filter(|c| c.kind == "kafka.topic").collect();
        let mut waves: BTreeMap<usize, Vec<&Change>> = BTreeMap::new();
        for c in &mine {
            waves.entry(c.wave).or_default().push(c);
        }
        let mut done = 0;
        let failed = |message: String, command: &str, done: usize| ProviderError::Failed {
            domain: Domain::Kafka,
            message,
            command: command.to_string(),
            done,
        };
        for wave in waves.values() {
            let mut create: Vec<&Topic> = Vec::new();
            let mut grow: Vec<(&str, u32)> = Vec::new();
            let mut configs: ConfigChanges = Vec::new();
            let mut delete: Vec<&str> = Vec::new();
            for c in wave {
                let (dt, lt) = (d.get(&c.address).copied(), l.get(&c.address).copied());
                match (c.action, dt, lt) {
                    (Action::Create, Some(t), _) => create.push(t),
                    (Action::Update, Some(t), Some(old)) => {
                        if t.partitions > old.partitions {
                            grow.push((&t.name, t.partitions));
                        }
                        let cc = config_changes(t, Some(old));
                        if !cc.is_empty() {
                            configs.push((t.name.clone(), cc));
                        }
                    }
                    (Action::Delete, _, Some(old)) => delete.push(&old.name),
                    // A replace only comes from a replication-factor change, which the plan refuses.
                    _ => {}
                }
            }
            admin::create_topics(&self.admin, &create)
                .await
                .map_err(|e| failed(e, "CreateTopics", done))?;
            admin::add_partitions(&self.admin, &grow)
                .await
                .map_err(|e| failed(e, "CreatePartitions", done))?;
            admin::alter_configs(&self.admin, configs)
                .await
                .map_err(|e| failed(e, "IncrementalAlterConfigs", done))?;
            admin::delete_topics(&self.admin, &delete)
                .await
                .map_err(|e| failed(e, "DeleteTopics", done))?;
            done += wave.len();
        }
        Ok(mine.len())
    }
}
