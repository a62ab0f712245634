//! The storage section of an artifact.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::*;
use crate::diag::Issue;
use crate::domains::{Spec, storage};

const BUCKET_KEYS: &[&str] = &[
    "name",
    "region",
    "versioning",
    "lifecycle_rules",
    "bucket_policy",
    "cors_rules",
    "lifecycle",
    "policy",
    "cors",
    "tags",
    "tagging",
    "encryption",
];
const CORS_KEYS: &[&str] = &[
    "ID",
    "AllowedOrigins",
    "AllowedMethods",
    "AllowedHeaders",
    "ExposeHeaders",
    "MaxAgeSeconds",
];

impl Mapper {
    pub(super) fn storage(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        self.leftover(data, path, &["buckets"]);
        let mut collector = false;
        for (o, p) in self.entries(data, path, "buckets", BUCKET_KEYS) {
            collector |= o.contains_key("lifecycle_rules")
                || o.contains_key("bucket_policy")
                || o.contains_key("cors_rules")
                || o.get("versioning").is_some_and(Value::is_string);
            self.bucket(o, p);
        }
        if collector {
            Dialect::Collector
        } else {
            Dialect::Applier
        }
    }

    fn bucket(&mut self, o: &Map<String, Value>, p: String) {
        let versioning = match o.get("versioning") {
            Some(Value::String(v)) => Some(v.clone()),
            Some(Value::Object(v)) => s(v.get("Status")),
            _ => None,
        }
        .and_then(|v| serde_json::from_value(Value::String(v.to_lowercase())).ok());
        let rules_v = listed(o, "lifecycle_rules", "lifecycle", "Rules");
        let mut lifecycle_rule = Vec::new();
        for (j, r) in arr(rules_v.as_ref()).iter().enumerate() {
            if let Some(rule) = self.lifecycle(r, &format!("{p}/lifecycle_rules/{j}")) {
                lifecycle_rule.push(rule);
            }
        }
        let cors_v = listed(o, "cors_rules", "cors", "CORSRules");
        let mut cors_rule = Vec::new();
        for (j, c) in arr(cors_v.as_ref()).iter().enumerate() {
            let Some(co) = c.as_object() else { continue };
            self.leftover(co, &format!("{p}/cors_rules/{j}"), CORS_KEYS);
            cors_rule.push(cors(co));
        }
        let policy = self.policy(o, &p);
        self.push(
            Spec::StorageBucket(storage::Bucket {
                name: s(o.get("name")).unwrap_or_default(),
                region: s(o.get("region")),
                versioning,
                lifecycle_rule,
                cors_rule,
                policy,
                tags: tags(o),
                encryption: None,
                // The platform's buckets carry none of these: falconer's own copy does.
                public_access_block: None,
                ownership: None,
                object_lock: None,
                request_payer: None,
                accelerate: None,
                depends_on: Vec::new(),
                objects: None,
            }),
            p,
        );
    }

    /// The bucket policy: a JSON document, or its text. A policy without statements is how the platform
    /// writes a bucket that has none (S3 stores no such policy: it refuses one without statements).
    fn policy(&mut self, o: &Map<String, Value>, p: &str) -> Option<Value> {
        let policy = match o.get("bucket_policy").or_else(|| o.get("policy")) {
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.issues.push(
                        Issue::error(
                            "invalid-value",
                            format!("the bucket policy is not JSON: {e}"),
                        )
                        .path(format!("{p}/bucket_policy")),
                    );
                    None
                }
            },
            Some(Value::Null) | None => None,
            Some(v) => Some(v.clone()),
        };
        let empty = |v: &Value| {
            v.get("Statement")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
        };
        policy.filter(|v| !empty(v))
    }

    pub(super) fn lifecycle(&mut self, r: &Value, p: &str) -> Option<storage::LifecycleRule> {
        let o = r.as_object()?;
        self.leftover(
            o,
            p,
            &[
                "ID",
                "Status",
                "Filter",
                "Prefix",
                "Expiration",
                "NoncurrentVersionExpiration",
                "AbortIncompleteMultipartUpload",
                "Transitions",
                "Transition",
                "NoncurrentVersionTransitions",
            ],
        );
        let u32_of = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .and_then(|x| u32::try_from(x).ok())
        };
        let filter = lifecycle_filter(o);
        let expiration = obj(o.get("Expiration")).map(|e| storage::Expiration {
            days: u32_of(e.get("Days")),
            date: s(e.get("Date")),
            expired_object_delete_marker: e
                .get("ExpiredObjectDeleteMarker")
                .and_then(Value::as_bool),
        });
        let nve =
            obj(o.get("NoncurrentVersionExpiration")).map(|e| storage::NoncurrentExpiration {
                noncurrent_days: u32_of(e.get("NoncurrentDays")).unwrap_or(0),
                newer_noncurrent_versions: u32_of(e.get("NewerNoncurrentVersions")),
            });
        let transitions: Vec<storage::Transition> = arr(o.get("Transitions"))
            .iter()
            .chain(o.get("Transition"))
            .filter_map(|t| {
                Some(storage::Transition {
                    days: u32_of(t.get("Days")),
                    date: s(t.get("Date")),
                    storage_class: s(t.get("StorageClass"))?,
                })
            })
            .collect();
        let nvt = arr(o.get("NoncurrentVersionTransitions"))
            .iter()
            .filter_map(|t| {
                Some(storage::NoncurrentTransition {
                    noncurrent_days: u32_of(t.get("NoncurrentDays"))?,
                    storage_class: s(t.get("StorageClass"))?,
                    newer_noncurrent_versions: u32_of(t.get("NewerNoncurrentVersions")),
                })
            })
            .collect();
        let status = match s(o.get("Status")).as_deref() {
            Some("Disabled") => Some(storage::RuleStatus::Disabled),
            Some("Enabled") => Some(storage::RuleStatus::Enabled),
            _ => None,
        };
        Some(storage::LifecycleRule {
            id: s(o.get("ID")).unwrap_or_default(),
            status,
            filter: (filter != storage::LifecycleFilter::default()).then_some(filter),
            expiration,
            noncurrent_version_expiration: nve,
            abort_incomplete_multipart_upload_days: obj(o.get("AbortIncompleteMultipartUpload"))
                .and_then(|a| u32_of(a.get("DaysAfterInitiation"))),
            transition: transitions,
            noncurrent_version_transition: nvt,
        })
    }
}

/// A list given under `key` (collector) or as `alt` (applier: S3's own document, whose list is under
/// `inner`, or the list itself).
fn listed(o: &Map<String, Value>, key: &str, alt: &str, inner: &str) -> Option<Value> {
    o.get(key).cloned().or_else(|| {
        o.get(alt).and_then(|l| {
            l.get(inner)
                .cloned()
                .or_else(|| l.is_array().then(|| l.clone()))
        })
    })
}

fn cors(co: &Map<String, Value>) -> storage::CorsRule {
    let strings = |k: &str| -> Vec<String> {
        arr(co.get(k))
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let methods: Vec<storage::HttpMethod> = strings("AllowedMethods")
        .into_iter()
        .filter_map(|m| serde_json::from_value(Value::String(m.to_uppercase())).ok())
        .collect();
    storage::CorsRule {
        id: s(co.get("ID")),
        allowed_origins: strings("AllowedOrigins"),
        allowed_methods: methods,
        allowed_headers: strings("AllowedHeaders"),
        expose_headers: strings("ExposeHeaders"),
        max_age_seconds: co
            .get("MaxAgeSeconds")
            .and_then(Value::as_u64)
            .and_then(|x| u32::try_from(x).ok()),
    }
}

/// Tags given as an object or as S3's `[{Key, Value}]`.
fn tags(o: &Map<String, Value>) -> BTreeMap<String, String> {
    match o.get("tags").or_else(|| o.get("tagging")) {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), js_string(v))).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| Some((s(t.get("Key"))?, s(t.get("Value")).unwrap_or_default())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A lifecycle rule's filter: a prefix, tags and object sizes, directly or under `And`.
fn lifecycle_filter(o: &Map<String, Value>) -> storage::LifecycleFilter {
    let mut filter = storage::LifecycleFilter::default();
    if let Some(pre) = s(o.get("Prefix")) {
        filter.prefix = Some(pre);
    }
    if let Some(f) = obj(o.get("Filter")) {
        let and = obj(f.get("And"));
        let src = and.unwrap_or(f);
        if let Some(pre) = s(src.get("Prefix")) {
            filter.prefix = Some(pre);
        }
        for t in arr(src.get("Tags")).iter().chain(src.get("Tag")) {
            if let Some(k) = s(t.get("Key")) {
                filter.tags.insert(k, s(t.get("Value")).unwrap_or_default());
            }
        }
        filter.object_size_greater_than = src.get("ObjectSizeGreaterThan").and_then(Value::as_u64);
        filter.object_size_less_than = src.get("ObjectSizeLessThan").and_then(Value::as_u64);
    }
    filter
}

/// Writing this domain's section in the export's (collector) dialect, from falconer's resources.
pub(crate) mod write {
    use serde_json::{Value, json};

    use crate::domains::{Spec, storage};

    /// A model value in the AWS API's shape: PascalCase keys (`ID` for `id`).
    fn aws(v: Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, x)| {
                        let key = match k.as_str() {
                            "id" => "ID".to_string(),
                            "transition" => "Transitions".to_string(),
                            "noncurrent_version_transition" => {
                                "NoncurrentVersionTransitions".to_string()
                            }
                            other => pascal(other),
                        };
                        (key, aws(x))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(aws).collect()),
            other => other,
        }
    }

    fn pascal(s: &str) -> String {
        s.split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// An enum value as AWS writes it (`Enabled`).
    fn aws_word<T: serde::Serialize>(v: &T) -> Value {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(pascal))
            .map(Value::from)
            .unwrap_or_default()
    }

    pub(crate) fn data(specs: &[Spec]) -> Value {
        let buckets: Vec<Value> = specs
            .iter()
            .filter_map(|s| match s {
                Spec::StorageBucket(b) => Some(bucket(b)),
                _ => None,
            })
            .collect();
        json!({ "buckets": buckets })
    }

    fn bucket(b: &storage::Bucket) -> Value {
        let versioning = b
            .versioning
            .map(|v| aws_word(&v))
            .unwrap_or_else(|| Value::from("Disabled"));
        let rules: Vec<Value> = b
            .lifecycle_rule
            .iter()
            .map(|r| {
                let mut v = aws(serde_json::to_value(r).unwrap_or_default());
                // AWS nests it: `AbortIncompleteMultipartUpload: {DaysAfterInitiation}`.
                if let Some(days) = r.abort_incomplete_multipart_upload_days {
                    v.as_object_mut()
                        .map(|o| o.remove("AbortIncompleteMultipartUploadDays"));
                    v["AbortIncompleteMultipartUpload"] = json!({ "DaysAfterInitiation": days });
                }
                if let Some(st) = r.status {
                    v["Status"] = aws_word(&st);
                }
                v
            })
            .collect();
        let cors: Vec<Value> = b
            .cors_rule
            .iter()
            .map(|r| aws(serde_json::to_value(r).unwrap_or_default()))
            .collect();
        json!({"name": b.name, "region": null, "versioning": versioning, "lifecycle_rules": rules,
            "bucket_policy": b.policy, "cors_rules": cors})
    }
}
