//! The kafka section of an artifact.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::*;
use crate::domains::{Spec, kafka};

const TOPIC_KEYS: &[&str] = &[
    "name",
    "partitions",
    "replication_factor",
    "config_overrides",
    "numPartitions",
    "replicationFactor",
    "configEntries",
    "config",
];
const ACL_KEYS: &[&str] = &[
    "resource",
    "resourceName",
    "resourceType",
    "resourcePatternType",
    "patternType",
    "principal",
    "host",
    "operation",
    "permissionType",
];
const RESOURCE_TYPES: &[(i64, &str)] = &[
    (2, "topic"),
    (3, "group"),
    (4, "cluster"),
    (5, "transactional_id"),
];
const PATTERN_TYPES: &[(i64, &str)] = &[(3, "literal"), (4, "prefixed")];
const OPERATIONS: &[(i64, &str)] = &[
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
];
const PERMISSIONS: &[(i64, &str)] = &[(2, "deny"), (3, "allow")];

impl Mapper {
    pub(super) fn kafka(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        self.leftover(data, path, &["topics", "acls", "consumer_groups"]);
        let collector = arr(data.get("topics"))
            .iter()
            .any(|t| t.get("partitions").is_some() || t.get("config_overrides").is_some())
            || arr(data.get("acls"))
                .iter()
                .any(|a| a.get("resource").is_some());
        for (o, p) in self.entries(data, path, "topics", TOPIC_KEYS) {
            self.topic(o, p);
        }
        for (o, p) in self.entries(data, path, "acls", ACL_KEYS) {
            self.acl(o, p);
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

    fn topic(&mut self, o: &Map<String, Value>, p: String) {
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
        self.push(
            Spec::KafkaTopic(kafka::Topic {
                name,
                partitions,
                replication_factor: rf,
                config: topic_config(o),
                depends_on: Vec::new(),
            }),
            p,
        );
    }

    fn acl(&mut self, o: &Map<String, Value>, p: String) {
        let name = s(o.get("resource"))
            .or_else(|| s(o.get("resourceName")))
            .unwrap_or_default();
        let pattern = o
            .get("resourcePatternType")
            .or_else(|| o.get("patternType"));
        let v = serde_json::json!({
            "resource_name": name,
            "resource_type": enum_of(o.get("resourceType"), RESOURCE_TYPES).unwrap_or_else(|| "topic".into()),
            "pattern_type": enum_of(pattern, PATTERN_TYPES),
            "principal": s(o.get("principal")).unwrap_or_default(),
            "host": s(o.get("host")),
            "operation": enum_of(o.get("operation"), OPERATIONS),
            "permission": enum_of(o.get("permissionType"), PERMISSIONS),
        });
        let v = strip_nulls(v);
        if let Some(acl) = decode::<kafka::Acl>(&v, &p, &|k: &str| k.to_string(), &mut self.issues)
        {
            self.push(Spec::KafkaAcl(acl), p);
        }
    }
}

/// A topic's configuration, given as an object or as a list of `{name, value}`.
fn topic_config(o: &Map<String, Value>) -> BTreeMap<String, kafka::ConfigValue> {
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
    config
}

/// Writing this domain's section in the export's (collector) dialect, from falconer's resources.
pub(crate) mod write {
    use serde_json::{Map, Value, json};

    use crate::domains::{Spec, kafka};

    /// A model enum as kafkajs names it (`DESCRIBE_CONFIGS`).
    fn kafkajs<T: serde::Serialize>(v: &T) -> Value {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_uppercase))
            .map(Value::from)
            .unwrap_or_default()
    }

    pub(crate) fn data(specs: &[Spec]) -> Value {
        let mut topics = Vec::new();
        let mut acls = Vec::new();
        for s in specs {
            match s {
                Spec::KafkaTopic(t) => {
                    let mut v = json!({"name": t.name, "partitions": t.partitions});
                    if let Some(rf) = t.replication_factor {
                        v["replication_factor"] = Value::from(rf);
                    }
                    let config: Map<String, Value> = t
                        .config
                        .iter()
                        .map(|(k, c)| (k.clone(), Value::from(c.0.clone())))
                        .collect();
                    v["config_overrides"] = Value::Object(config);
                    topics.push(v);
                }
                Spec::KafkaAcl(a) => acls.push(kafka_acl(a)),
                _ => {}
            }
        }
        json!({"topics": topics, "acls": acls, "consumer_groups": []})
    }

    fn kafka_acl(a: &kafka::Acl) -> Value {
        let mut v = json!({
            "resource": a.resource_name,
            "resourceType": kafkajs(&a.resource_type),
            "principal": a.principal,
            "host": a.host.clone().unwrap_or_else(|| "*".into()),
            "operation": kafkajs(&a.operation),
            "permissionType": kafkajs(&a.permission),
        });
        if let Some(p) = a.pattern_type {
            v["resourcePatternType"] = kafkajs(&p);
        }
        if a.host.is_none() {
            v.as_object_mut().map(|o| o.remove("host"));
        }
        v
    }
}
