//! Kafka: topics (partitions, replication factor, configs), ACLs and the SCRAM credentials of the tenant's
//! service principals. Never messages.
//!
//! The live side is in `admin.rs` (the broker through librdkafka's admin API, with
//! IncrementalAlterConfigs through `rdkafka-sys`) and `provider.rs`.

pub mod acl;
pub mod admin;
pub mod credentials;
pub mod provider;
pub mod scram;
pub mod security;

/// The domain's live system, for the registry ([`crate::for_each_domain`]).
pub type Provider = provider::Kafka;


use crate::diag::Rule;
use super::ResourceKind;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Checker, Reference};
use crate::model::flags::*;
use crate::model::{Address, Domain, FieldMeta, Hazard, HazardCode, KindMeta, Tenant};
use crate::{choice, kind_basics, model};
use crate::model::Scope;

/// The prefix of the tenant's topics, consumer groups and transactional ids.
pub static TOPIC_PREFIX_SCOPE: Scope = Scope {
    name: "kafka_topic_prefix",
    key: "kafka_topic_prefix",
    many: false,
    prefix: true,
    default: |id| format!("{id}."),
    doc: "Prefix of the tenant's Kafka topics, consumer groups, transactional ids and SCRAM users. Default: `<id>.`.",
};

/// The scopes of Kafka's objects (the registry's `domains::scopes`).
pub static SCOPES: &[&Scope] = &[&TOPIC_PREFIX_SCOPE];

/// Topic-level configs a broker accepts (Apache Kafka 3.x/4.x).
pub const TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

const BOOLEAN_CONFIGS: &[&str] = &[
    "message.downconversion.enable",
    "preallocate",
    "remote.storage.enable",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "unclean.leader.election.enable",
];

/// A config value. Kafka configs are strings; numbers and booleans are accepted and kept as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigValue(pub String);

impl Serialize for ConfigValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConfigValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a config value (string, number or boolean)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ConfigValue {
    fn schema_name() -> Cow<'static, str> {
        "KafkaConfigValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "description": "A topic config value; kept as text", "type": ["string", "number", "boolean"] })
    }
}

choice! { "snake_case";
    pub enum AclResource { Topic, Group, TransactionalId, Cluster }
    pub enum PatternType { Literal, Prefixed }
    pub enum AclOperation { All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite }
    pub enum AclPermission { Allow, Deny }
}

model! {
    /// A topic of the tenant.
    pub struct Topic {
        pub name: String,
        pub partitions: u32,
        /// Server default: the broker's `default.replication.factor`.
        pub replication_factor: Option<i16>,
        /// Topic-level configs (only what is set on the topic; broker defaults are not listed).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub config: BTreeMap<String, ConfigValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// An ACL binding.
    pub struct Acl {
        pub resource_name: String,
        pub resource_type: AclResource,
        /// Default: literal.
        pub pattern_type: Option<PatternType>,
        /// `User:name` (a Keycloak service account is `User:service-account-<client>`).
        pub principal: String,
        /// Default: `*`.
        pub host: Option<String>,
        pub operation: AclOperation,
        pub permission: AclPermission,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

impl Acl {
    pub fn pattern(&self) -> PatternType {
        self.pattern_type.unwrap_or(PatternType::Literal)
    }
    pub fn host(&self) -> &str {
        self.host.as_deref().unwrap_or("*")
    }
}

fn snake<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Checks a topic name: legal characters and length.
/// The rules Kafka holds topics and ACLs to (the table in docs/kafka.md). The replication factor's upper
/// bound, the cluster's brokers, is read before writing (`Provider::refusals`).
pub const RULES: &[Rule] = &[TOPIC_NAME, PARTITIONS, REPLICATION, TOPIC_CONFIG, ACL_RULE, scram::SCRAM_RULE];

const TOPIC_NAME: Rule = Rule {
    id: "kafka-topic-name",
    says: "1 to 249 ASCII letters, digits, `.`, `_` and `-`; not `.` or `..`",
    source: "Apache Kafka, org.apache.kafka.common.internals.Topic (legal topic names)",
    breaks: "[[kafka.topic]]\nname = \"acme.bad name\"\npartitions = 1\n",
};
const PARTITIONS: Rule = Rule {
    id: "kafka-partitions",
    says: "a topic has at least one partition",
    source: "Kafka protocol, CreateTopics (INVALID_PARTITIONS)",
    breaks: "[[kafka.topic]]\nname = \"acme.orders\"\npartitions = 0\n",
};
pub(crate) const REPLICATION: Rule = Rule {
    id: "kafka-replication-factor",
    says: "a replication factor of at least 1 and at most the cluster's brokers",
    source: "Kafka protocol, CreateTopics (INVALID_REPLICATION_FACTOR)",
    breaks: "[[kafka.topic]]\nname = \"acme.orders\"\npartitions = 1\nreplication_factor = 0\n",
};
const TOPIC_CONFIG: Rule = Rule {
    id: "kafka-topic-config",
    says: "a topic config is one Kafka knows, with a value of its type and range",
    source: "Apache Kafka documentation, Topic-level configs (INVALID_CONFIG)",
    breaks: "[[kafka.topic]]\nname = \"acme.orders\"\npartitions = 1\n\
             config = { \"retention.ms\" = \"soon\" }\n",
};
const ACL_RULE: Rule = Rule {
    id: "kafka-acl",
    says: "a principal is `Type:name`; the operation is one that applies to the resource type",
    source: "Apache Kafka documentation, Authorization and ACLs: operations and resources on protocols",
    breaks: "[[kafka.acl]]\nresource_type = \"group\"\nresource_name = \"acme.billing\"\n\
             principal = \"auditor\"\noperation = \"read\"\npermission = \"allow\"\n",
};

pub fn topic_name_rule(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name == "." || name == ".." {
        return Err("`.` and `..` are not topic names".into());
    }
    if name.len() > 249 {
        return Err(format!(
            "it is {} characters long; the limit is 249",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{c:?} is not allowed; topic names use ASCII letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

/// Topic names that collide once `.` and `_` are treated alike (Kafka's metric names do).
pub fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

static TOPIC: KindMeta = KindMeta {
    domain: Domain::Kafka,
    kind: "topic",
    title: "Kafka topic",
    identity: &["name"],
    holds_data: true,
    fields: &[
        FieldMeta::new("replication_factor", SERVER_DEFAULT | IMMUTABLE),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Topic {
    kind_basics!(TOPIC, |self| { vec![self.name.clone()] });
    fn in_scope(&self, tenant: &Tenant) -> bool {
        self.name.starts_with(&tenant.name(&TOPIC_PREFIX_SCOPE))
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&TOPIC_NAME, |cx| cx.name("name", &self.name, topic_name_rule));
        let prefix = cx.tenant.name(&TOPIC_PREFIX_SCOPE);
        cx.scope("name", "topic", &self.name, &[prefix], true);
        if self.partitions == 0 {
            cx.rule(
                "partitions",
                &PARTITIONS,
                "a topic needs at least one partition",
            );
        }
        if let Some(rf) = self.replication_factor
            && rf < 1
        {
            cx.rule(
                "replication_factor",
                &REPLICATION,
                "the replication factor is at least 1",
            );
        }
        cx.under(&TOPIC_CONFIG, |cx| {
        for (k, v) in &self.config {
            let field = format!("config.{k}");
            if !TOPIC_CONFIGS.contains(&k.as_str()) {
                let e = cx.error(
                    &field,
                    "unknown-config",
                    format!("`{k}` is not a topic config"),
                );
                e.help = Some(
                    match crate::diag::did_you_mean(k, TOPIC_CONFIGS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "see the topic configs of the Kafka documentation".into(),
                    },
                );
                continue;
            }
            if let Err(msg) = check_config_value(k, &v.0) {
                cx.error(
                    &field,
                    "invalid-config",
                    format!("`{k}` = {:?}: {msg}", v.0),
                );
            }
        }
        });
    }
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        let Some(live) = live else { return Vec::new() };
        let mut out = Vec::new();
        if self.partitions < live.partitions {
            out.push(Hazard::new(
                HazardCode::Impossible,
                format!(
                    "topic {} has {} partitions; Kafka cannot remove partitions (the manifest \
                     asks for {}). Keep {} or more, or create a new topic and migrate",
                    self.name, live.partitions, self.partitions, live.partitions
                ),
            ));
        }
        if let (Some(d), Some(l)) = (self.replication_factor, live.replication_factor)
            && d != l
        {
            out.push(Hazard::new(
                HazardCode::Impossible,
                format!(
                    "topic {} has replication factor {l}; changing it to {d} needs a partition \
                     reassignment, which falconer does not do",
                    self.name
                ),
            ));
        }
        out
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&TOPIC_PREFIX_SCOPE, &mut self.name);
    }
}

fn check_config_value(key: &str, v: &str) -> Result<(), String> {
    if BOOLEAN_CONFIGS.contains(&key) {
        return match v {
            "true" | "false" => Ok(()),
            _ => Err("expected true or false".into()),
        };
    }
    match key {
        "cleanup.policy" => {
            for p in v.split(',') {
                if !matches!(p.trim(), "delete" | "compact") {
                    return Err("expected `delete`, `compact` or `delete,compact`".into());
                }
            }
            Ok(())
        }
        "compression.type" => match v {
            "uncompressed" | "zstd" | "lz4" | "snappy" | "gzip" | "producer" => Ok(()),
            _ => Err("expected one of uncompressed, zstd, lz4, snappy, gzip, producer".into()),
        },
        "message.timestamp.type" => match v {
            "CreateTime" | "LogAppendTime" => Ok(()),
            _ => Err("expected CreateTime or LogAppendTime".into()),
        },
        "min.cleanable.dirty.ratio" => match v.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(()),
            _ => Err("expected a number from 0 to 1".into()),
        },
        "message.format.version"
        | "follower.replication.throttled.replicas"
        | "leader.replication.throttled.replicas" => Ok(()),
        _ => match v.parse::<i64>() {
            Ok(x) if x >= -1 => Ok(()),
            _ => Err("expected an integer (-1 for unlimited where Kafka allows it)".into()),
        },
    }
}

static ACL: KindMeta = KindMeta {
    domain: Domain::Kafka,
    kind: "acl",
    title: "Kafka ACL",
    identity: &[
        "resource_type",
        "pattern_type",
        "principal",
        "host",
        "operation",
        "permission",
        "resource_name",
    ],
    holds_data: false,
    fields: &[FieldMeta::new("depends_on", SET)],
};

impl ResourceKind for Acl {
    kind_basics!(ACL, |self| { vec![
            snake(&self.resource_type),
            snake(&self.pattern()),
            self.principal.clone(),
            self.host().to_string(),
            snake(&self.operation),
            snake(&self.permission),
            self.resource_name.clone(),
        ] });
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        let wildcard = self.principal == "User:*" || self.principal.ends_with(":*");
        if live.is_none() && wildcard && self.permission == AclPermission::Allow {
            vec![Hazard::new(
                HazardCode::WidensAccess,
                format!("allows {} on {} to every principal", snake(&self.operation), self.resource_name),
            )]
        } else {
            Vec::new()
        }
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        let mut out = Vec::new();
        if self.resource_type == AclResource::Topic
            && self.pattern() == PatternType::Literal
            && self.resource_name != "*"
        {
            out.push(Reference::to(
                "resource_name",
                Address::new(Domain::Kafka, "topic", vec![self.resource_name.clone()]),
            ));
        }
        if let Some(client) = self.principal.strip_prefix("User:service-account-") {
            out.push(Reference::soft(
                "principal",
                Address::new(Domain::Iam, "client", vec![client.to_string()]),
            ));
        }
        out
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        self.resource_type != AclResource::Cluster
            && self.resource_name != "*"
            && self.resource_name.starts_with(&tenant.name(&TOPIC_PREFIX_SCOPE))
    }
    fn check(&self, cx: &mut Checker<'_>) {
        match self.principal.split_once(':') {
            Some((t, n)) if !t.is_empty() && !n.is_empty() => {}
            _ => {
                cx.rule(
                    "principal",
                    &ACL_RULE,
                    format!("principal {:?} is not `Type:name`", self.principal),
                )
                .help = Some("for example `User:orders-service`".into());
            }
        }
        if self.resource_type == AclResource::Cluster {
            cx.error(
                "resource_type",
                "out-of-scope",
                "cluster ACLs affect every tenant; they are outside any tenant's scope",
            );
            return;
        }
        if self.resource_name == "*" {
            cx.error(
                "resource_name",
                "out-of-scope",
                "a wildcard ACL reaches other tenants' resources",
            )
            .help =
                Some("use `pattern_type = \"prefixed\"` with the tenant's prefix instead".into());
            return;
        }
        let prefix = cx.tenant.name(&TOPIC_PREFIX_SCOPE);
        let what = snake(&self.resource_type).replace('_', " ");
        cx.scope("resource_name", &what, &self.resource_name, &[prefix], true);
        use AclOperation::*;
        let allowed: &[AclOperation] = match self.resource_type {
            AclResource::Topic => &[
                All,
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            AclResource::Group => &[All, Read, Describe, Delete],
            AclResource::TransactionalId => &[All, Write, Describe],
            AclResource::Cluster => &[],
        };
        if !allowed.contains(&self.operation) {
            cx.rule(
                "operation",
                &ACL_RULE,
                format!(
                    "operation `{}` does not apply to a {what}",
                    snake(&self.operation)
                ),
            )
            .help = Some(format!(
                "a {what} takes: {}",
                allowed.iter().map(snake).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        if self.resource_type != AclResource::Cluster {
            r.name(&TOPIC_PREFIX_SCOPE, &mut self.resource_name);
        }
        r.tenant_word(&mut self.principal);
    }
}

/// A manifest rule of the Kafka domain: no two topics whose names collide in Kafka's metric names.
pub fn distinct_topics(resources: &[(&super::Spec, super::Origin<'_>)]) -> Vec<crate::diag::Issue> {
    let mut issues = Vec::new();
    let mut topics: std::collections::HashMap<String, &str> = Default::default();
    for (spec, origin) in resources {
        let super::Spec::KafkaTopic(t) = spec else {
            continue;
        };
        match topics.get(&collision_key(&t.name)) {
            Some(other) if *other != t.name => issues.push(super::place(
                crate::diag::Issue::error(
                    "topic-collision",
                    format!(
                        "topics `{}` and `{other}` collide: Kafka treats `.` and `_` alike in \
                         metric names",
                        t.name
                    ),
                ),
                origin,
                "name",
            )),
            Some(_) => {}
            None => {
                topics.insert(collision_key(&t.name), &t.name);
            }
        }
    }
    issues
}
