//! S3 / MinIO: buckets with versioning, lifecycle rules, CORS, policy, tags, default encryption, public
//! access block, object ownership and object lock. Never objects.
//!
//! The live side: the project's S3 client (`crate::s3`), `xml.rs` (the configurations as S3's XML),
//! `provider.rs` (inspection and apply).

pub use crate::s3::{client, sigv4};
pub mod inventory;
pub mod protection;
pub mod provider;
pub mod subresource;
pub mod transfer;

/// The domain's live system, for the registry ([`crate::for_each_domain`]).
pub type Provider = provider::Storage;

pub mod xml;

use super::ResourceKind;
use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::Checker;
use crate::diag::Rule;
use crate::model::flags::*;
use crate::model::{Domain, FieldMeta, Hazard, HazardCode, KindMeta};
use crate::{choice, kind_basics, model};
use crate::model::Scope;

/// The prefix of the tenant's bucket names.
pub static BUCKET_PREFIX_SCOPE: Scope = Scope {
    name: "bucket_prefix",
    key: "bucket_prefix",
    many: false,
    prefix: true,
    default: |id| format!("{id}-"),
    doc: "Prefix of the tenant's bucket names. Default: `<id>-`.",
};

/// The scopes of S3's objects (the registry's `domains::scopes`).
pub static SCOPES: &[&Scope] = &[&BUCKET_PREFIX_SCOPE];

choice! { "lowercase";
    /// `disabled` is only possible on a bucket that never had versioning: S3 can only suspend it.
    pub enum Versioning { Enabled, Suspended, Disabled }
    pub enum RuleStatus { Enabled, Disabled }
}

choice! { "UPPERCASE";
    pub enum HttpMethod { Get, Put, Post, Delete, Head }
}

/// Default encryption algorithm.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub enum SseAlgorithm {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    AwsKms,
    #[serde(rename = "aws:kms:dsse")]
    AwsKmsDsse,
}

model! {
    /// A bucket of the tenant.
    pub struct Bucket {
        pub name: String,
        /// Server default: the endpoint's region.
        pub region: Option<String>,
        pub versioning: Option<Versioning>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub lifecycle_rule: Vec<LifecycleRule>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub cors_rule: Vec<CorsRule>,
        /// The bucket policy document (IAM policy JSON).
        pub policy: Option<Value>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub tags: BTreeMap<String, String>,
        pub encryption: Option<Encryption>,
        /// Blocks public ACLs and policies (S3's four settings).
        pub public_access_block: Option<protection::PublicAccessBlock>,
        /// Who owns written objects: `BucketOwnerEnforced` (S3's default: ACLs off), `BucketOwnerPreferred`,
        /// `ObjectWriter`.
        pub ownership: Option<protection::Ownership>,
        /// Object lock, enabled (it cannot be disabled), with a default retention: `{ mode = "GOVERNANCE",
        /// days = 30 }`, or `{}` for none.
        pub object_lock: Option<protection::ObjectLock>,
        /// `Requester`: whoever requests or downloads pays (requester pays); absent: the bucket owner.
        pub request_payer: Option<transfer::Payer>,
        /// Transfer acceleration on; absent: off.
        pub accelerate: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
        /// How many objects (all versions) the live bucket holds, as inspected, counted up to 1000; never
        /// in a manifest.
        #[serde(skip)]
        #[schemars(skip)]
        pub objects: Option<ObjectCount>,
    }

    pub struct LifecycleRule {
        pub id: String,
        /// Default: enabled.
        pub status: Option<RuleStatus>,
        pub filter: Option<LifecycleFilter>,
        pub expiration: Option<Expiration>,
        pub noncurrent_version_expiration: Option<NoncurrentExpiration>,
        pub abort_incomplete_multipart_upload_days: Option<u32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub transition: Vec<Transition>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub noncurrent_version_transition: Vec<NoncurrentTransition>,
    }

    #[derive(Default)]
    pub struct LifecycleFilter {
        pub prefix: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub tags: BTreeMap<String, String>,
        pub object_size_greater_than: Option<u64>,
        pub object_size_less_than: Option<u64>,
    }

    pub struct Expiration {
        pub days: Option<u32>,
        /// ISO 8601 date (midnight UTC).
        pub date: Option<String>,
        pub expired_object_delete_marker: Option<bool>,
    }

    pub struct NoncurrentExpiration {
        pub noncurrent_days: u32,
        pub newer_noncurrent_versions: Option<u32>,
    }

    pub struct Transition {
        pub days: Option<u32>,
        pub date: Option<String>,
        pub storage_class: String,
    }

    pub struct NoncurrentTransition {
        pub noncurrent_days: u32,
        pub storage_class: String,
        pub newer_noncurrent_versions: Option<u32>,
    }

    pub struct CorsRule {
        pub id: Option<String>,
        pub allowed_origins: Vec<String>,
        pub allowed_methods: Vec<HttpMethod>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub allowed_headers: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub expose_headers: Vec<String>,
        pub max_age_seconds: Option<u32>,
    }

    pub struct Encryption {
        pub algorithm: SseAlgorithm,
        pub kms_key_id: Option<String>,
        pub bucket_key_enabled: Option<bool>,
    }
}

/// The rules S3 holds a bucket's configuration to (the table in docs/storage.md).
pub const RULES: &[Rule] = &[
    BUCKET_NAME,
    CORS,
    LIFECYCLE,
    LIFECYCLE_ACTIONS,
    LIFECYCLE_FILTER,
    POLICY,
    TAGS,
    ENCRYPTION,
    protection::OBJECT_LOCK,
    protection::PUBLIC_POLICY,
    transfer::ACCELERATE,
];

const BUCKET_NAME: Rule = Rule {
    id: "s3-bucket-name",
    says: "3 to 63 lowercase letters, digits, `.` and `-`, a letter or digit at each end; no IP address form, \
           reserved prefix or suffix",
    source: "Amazon S3 User Guide, General purpose bucket naming rules",
    breaks: "[[storage.bucket]]\nname = \"acme-Invoices\"\n",
};
const CORS: Rule = Rule {
    id: "s3-cors-rule",
    says: "at most 100 CORS rules, each with allowed origins (at most one `*` in each) and allowed methods",
    source: "Amazon S3 API Reference, CORSRule (AllowedMethods and AllowedOrigins are required); Amazon S3 \
             User Guide, CORS configuration",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\n\
             cors_rule = [{ allowed_origins = [\"https://a.test\"], allowed_methods = [] }]\n",
};
const LIFECYCLE: Rule = Rule {
    id: "s3-lifecycle-rule",
    says: "at most 1000 lifecycle rules, each with an id of 1 to 255 characters unique in the bucket and at \
           least one action",
    source: "Amazon S3 API Reference, LifecycleRule and PutBucketLifecycleConfiguration",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\nlifecycle_rule = [{ id = \"expire-old\" }]\n",
};
const LIFECYCLE_ACTIONS: Rule = Rule {
    id: "s3-lifecycle-action",
    says: "an expiration has exactly one of days (1 or more), date, expired object delete marker (never with a \
           tag filter); a transition has days or a date",
    source: "Amazon S3 API Reference, LifecycleExpiration and Transition",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\n\
             lifecycle_rule = [{ id = \"x\", expiration = { days = 0 } }]\n",
};
const LIFECYCLE_FILTER: Rule = Rule {
    id: "s3-lifecycle-filter",
    says: "a tag filter's keys are not empty; the smallest object size is below the largest",
    source: "Amazon S3 API Reference, LifecycleRuleFilter and LifecycleRuleAndOperator",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\nlifecycle_rule = [{ id = \"x\", \
             expiration = { days = 3 }, filter = { object_size_greater_than = 9, object_size_less_than = 2 } }]\n",
};
const POLICY: Rule = Rule {
    id: "s3-policy",
    says: "a bucket policy is a document with at least one statement, each with an Effect (Allow or Deny), \
           an Action or NotAction, and a Principal",
    source: "IAM User Guide, IAM JSON policy element reference; Amazon S3 User Guide, Bucket policies",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\n\
             policy = { Version = \"2012-10-17\", Statement = [] }\n",
};
const TAGS: Rule = Rule {
    id: "s3-tags",
    says: "at most 50 tags, keys of 1 to 128 characters outside the `aws:` prefix, values of at most 256",
    source: "Amazon S3 API Reference, PutBucketTagging; AWS tagging: tag naming limits and requirements",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\ntags = { \"aws:team\" = \"a\" }\n",
};
const ENCRYPTION: Rule = Rule {
    id: "s3-encryption",
    says: "a KMS key is given only with the `aws:kms` algorithms",
    source: "Amazon S3 API Reference, ServerSideEncryptionByDefault (KMSMasterKeyID)",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\n\
             encryption = { algorithm = \"AES256\", kms_key_id = \"key-1\" }\n",
};

/// The objects of a live bucket: how many were counted, and whether there are more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectCount {
    pub counted: u64,
    pub more: bool,
}

impl std::fmt::Display for ObjectCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.more {
            write!(f, "more than {} objects", self.counted)
        } else if self.counted == 1 {
            f.write_str("1 object")
        } else {
            write!(f, "{} objects", self.counted)
        }
    }
}

/// A bucket policy in one form, so that equal policies compare equal: `Statement` always a list, sorted;
/// one-element lists of actions, resources, principals and condition values as the value itself (as
/// S3 servers return them), longer ones sorted.
pub fn normalize_policy(p: &mut Value) {
    fn collapse(v: &mut Value) {
        if let Value::Array(a) = v {
            if a.len() == 1 {
                *v = a.remove(0);
            } else {
                a.sort_by_key(|x| x.to_string());
            }
        }
    }
    let Some(obj) = p.as_object_mut() else {
        return;
    };
    if let Some(s @ Value::Object(_)) = obj.get_mut("Statement") {
        *s = Value::Array(vec![s.take()]);
    }
    if let Some(Value::Array(statements)) = obj.get_mut("Statement") {
        for st in statements.iter_mut() {
            let Some(st) = st.as_object_mut() else {
                continue;
            };
            for key in ["Action", "NotAction", "Resource", "NotResource"] {
                if let Some(v) = st.get_mut(key) {
                    collapse(v);
                }
            }
            for key in ["Principal", "NotPrincipal"] {
                if let Some(Value::Object(m)) = st.get_mut(key) {
                    m.values_mut().for_each(collapse);
                }
            }
            if let Some(Value::Object(ops)) = st.get_mut("Condition") {
                for cond in ops.values_mut() {
                    if let Value::Object(m) = cond {
                        m.values_mut().for_each(collapse);
                    }
                }
            }
        }
        statements.sort_by_key(|x| x.to_string());
    }
}

/// `2026-01-01T00:00:00Z` (how S3 returns a date) as `2026-01-01` (how people write it).
fn date_only(d: &mut Option<String>) {
    if let Some(s) = d
        && let Some((day, time)) = s.split_once('T')
        && time.trim_end_matches('Z').trim_end_matches(".000") == "00:00:00"
    {
        *s = day.to_string();
    }
}

impl LifecycleRule {
    pub fn has_action(&self) -> bool {
        self.expiration.is_some()
            || self.noncurrent_version_expiration.is_some()
            || self.abort_incomplete_multipart_upload_days.is_some()
            || !self.transition.is_empty()
            || !self.noncurrent_version_transition.is_empty()
    }
}

/// S3's bucket naming rules.
pub fn bucket_name_rule(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!(
            "it is {} characters long; bucket names have 3 to 63",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!(
            "{c:?} is not allowed; use lowercase letters, digits, `.` and `-`"
        ));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err("it must start and end with a letter or a digit".into());
    }
    if name.contains("..") {
        return Err("it has two adjacent periods".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("it is formatted as an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(p) {
            return Err(format!("the prefix `{p}` is reserved"));
        }
    }
    for s in ["-s3alias", "--ol-s3", "--x-s3", ".mrap"] {
        if name.ends_with(s) {
            return Err(format!("the suffix `{s}` is reserved"));
        }
    }
    Ok(())
}

static BUCKET: KindMeta = KindMeta {
    domain: Domain::Storage,
    kind: "bucket",
    title: "S3 bucket",
    identity: &["name"],
    holds_data: true,
    fields: &[
        FieldMeta::new("region", SERVER_DEFAULT | IMMUTABLE),
        FieldMeta::new("versioning", SERVER_DEFAULT),
        FieldMeta::keyed("lifecycle_rule", "id", PART),
        FieldMeta::new("cors_rule", SET | PART),
        FieldMeta::new("cors_rule[].allowed_origins", SET),
        FieldMeta::new("cors_rule[].allowed_methods", SET),
        FieldMeta::new("cors_rule[].allowed_headers", SET),
        FieldMeta::new("cors_rule[].expose_headers", SET),
        FieldMeta::new("policy", FREEFORM),
        FieldMeta::new("public_access_block", SERVER_DEFAULT),
        FieldMeta::new("ownership", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Bucket {
    kind_basics!(BUCKET, |self| { vec![self.name.clone()] });
    fn normalize(&mut self) {
        transfer::normalize(self);
        for r in &mut self.lifecycle_rule {
            if r.status == Some(RuleStatus::Enabled) {
                r.status = None;
            }
            if let Some(f) = &mut r.filter
                && f.prefix.as_deref() == Some("")
            {
                f.prefix = None;
            }
            if r.filter.as_ref().is_some_and(|f| *f == LifecycleFilter::default()) {
                r.filter = None;
            }
            if let Some(e) = &mut r.expiration {
                date_only(&mut e.date);
            }
            for t in &mut r.transition {
                date_only(&mut t.date);
            }
        }
        for c in &mut self.cors_rule {
            // Servers add `MaxAgeSeconds: 0` to a rule without one.
            if c.max_age_seconds == Some(0) {
                c.max_age_seconds = None;
            }
        }
        if let Some(p) = &mut self.policy {
            normalize_policy(p);
        }
        if let Some(e) = &mut self.encryption
            && e.bucket_key_enabled == Some(false)
        {
            e.bucket_key_enabled = None;
        }
    }
    fn delete_hazards(&self) -> Vec<Hazard> {
        match self.objects {
            Some(n) if n.counted > 0 => vec![Hazard::new(
                HazardCode::DeletesData,
                format!("bucket {} holds {n} (every version); deleting the bucket deletes \
                         them first", self.name),
            )],
            _ => Vec::new(),
        }
    }
    fn hazards(&self, live: Option<&Self>, _: &super::HazardCx<'_>) -> Vec<Hazard> {
        let mut out = Vec::new();
        let public = |p: Option<&Value>| p.is_some_and(policy_is_public);
        if public(self.policy.as_ref()) && live.is_none_or(|l| l.policy != self.policy) {
            out.push(Hazard::new(
                HazardCode::WidensAccess,
                format!("the policy of bucket {} allows access to everyone \
                         (`Principal: \"*\"`)", self.name),
            ));
        }
        if let Some(l) = live
            && matches!(l.versioning, Some(Versioning::Enabled | Versioning::Suspended))
            && self.versioning == Some(Versioning::Disabled)
        {
            out.push(Hazard::new(
                HazardCode::Impossible,
                format!("bucket {} has had versioning; S3 can only suspend it, never disable it \
                         (write `versioning = \"suspended\"`)", self.name),
            ));
        }
        out.extend(protection::hazards(self, live));
        out
    }
    fn in_scope(&self, tenant: &crate::model::Tenant) -> bool {
        self.name.starts_with(&tenant.name(&BUCKET_PREFIX_SCOPE))
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&BUCKET_NAME, |cx| cx.name("name", &self.name, bucket_name_rule));
        let prefix = cx.tenant.name(&BUCKET_PREFIX_SCOPE);
        cx.scope("name", "bucket", &self.name, &[prefix], true);
        if self.lifecycle_rule.len() > 1000 {
            cx.rule("lifecycle_rule", &LIFECYCLE, "S3 allows at most 1000 lifecycle rules");
        }
        let mut ids = HashSet::new();
        for (i, r) in self.lifecycle_rule.iter().enumerate() {
            let f = format!("lifecycle_rule[{i}]");
            check_lifecycle_rule(cx, &f, r, &mut ids);
        }
        cx.under(&CORS, |cx| {
            for (i, c) in self.cors_rule.iter().enumerate() {
                check_cors_rule(cx, &format!("cors_rule[{i}]"), c);
            }
            if self.cors_rule.len() > 100 {
                cx.error("cors_rule", "invalid-value", "S3 allows at most 100 CORS rules");
            }
        });
        if let Some(p) = &self.policy {
            check_policy(cx, p, &self.name);
        }
        cx.under(&TAGS, |cx| check_tags(cx, &self.tags));
        protection::check(self, cx);
        transfer::check(self, cx);
        if let Some(e) = &self.encryption
            && e.algorithm == SseAlgorithm::Aes256
            && e.kms_key_id.is_some()
        {
            cx.rule(
                "encryption.kms_key_id",
                &ENCRYPTION,
                "a KMS key needs `algorithm = \"aws:kms\"`",
            );
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&BUCKET_PREFIX_SCOPE, &mut self.name);
        if let Some(p) = &mut self.policy {
            rename_bucket_arns(r, p);
        }
    }
}

/// One lifecycle rule: its id, an action, one kind of expiration, and a filter S3 accepts.
fn check_lifecycle_rule<'r>(
    cx: &mut Checker<'_>,
    f: &str,
    r: &'r LifecycleRule,
    ids: &mut HashSet<&'r str>,
) {
    if r.id.is_empty() || r.id.len() > 255 {
        cx.rule(
            &format!("{f}.id"),
            &LIFECYCLE,
            "a lifecycle rule id has 1 to 255 characters",
        );
    } else if !ids.insert(r.id.as_str()) {
        cx.rule(
            &format!("{f}.id"),
            &LIFECYCLE,
            format!("lifecycle rule `{}` is declared twice", r.id),
        );
    }
    if !r.has_action() {
        cx.rule(f, &LIFECYCLE, format!("lifecycle rule `{}` has no action", r.id))
            .help = Some("add `expiration`, `transition`, `noncurrent_version_expiration` or \
                          `abort_incomplete_multipart_upload_days`".into());
    }
    cx.under(&LIFECYCLE_ACTIONS, |cx| check_lifecycle_actions(cx, f, r));
    if let Some(fl) = &r.filter {
        cx.under(&LIFECYCLE_FILTER, |cx| check_lifecycle_filter(cx, f, fl));
    }
}

/// A lifecycle rule's expiration and transitions.
fn check_lifecycle_actions(cx: &mut Checker<'_>, f: &str, r: &LifecycleRule) {
    if let Some(e) = &r.expiration {
        let n = [
            e.days.is_some(),
            e.date.is_some(),
            e.expired_object_delete_marker.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            cx.error(
                &format!("{f}.expiration"),
                "conflict",
                "an expiration has exactly one of `days`, `date`, `expired_object_delete_marker`",
            );
        }
        if e.days == Some(0) {
            cx.error(
                &format!("{f}.expiration.days"),
                "invalid-value",
                "expiration days must be at least 1",
            );
        }
        if e.expired_object_delete_marker.is_some()
            && r.filter.as_ref().is_some_and(|fl| !fl.tags.is_empty())
        {
            cx.error(
                &format!("{f}.expiration"),
                "conflict",
                "`expired_object_delete_marker` cannot be used with a tag filter",
            );
        }
    }
    for (j, t) in r.transition.iter().enumerate() {
        if t.days.is_some() == t.date.is_some() {
            cx.error(
                &format!("{f}.transition[{j}]"),
                "conflict",
                "a transition has exactly one of `days` or `date`",
            );
        }
    }
}

fn check_lifecycle_filter(cx: &mut Checker<'_>, f: &str, fl: &LifecycleFilter) {
    if fl.tags.keys().any(String::is_empty) {
        cx.error(
            &format!("{f}.filter.tags"),
            "invalid-value",
            "a tag filter needs a key; S3 refuses an empty one",
        );
    }
    if let (Some(gt), Some(lt)) = (fl.object_size_greater_than, fl.object_size_less_than)
        && gt >= lt
    {
        cx.error(
            &format!("{f}.filter"),
            "conflict",
            "`object_size_greater_than` must be less than `object_size_less_than`",
        );
    }
}

/// One CORS rule: origins and methods present, at most one `*` per origin.
fn check_cors_rule(cx: &mut Checker<'_>, f: &str, c: &CorsRule) {
    if c.allowed_origins.is_empty() {
        cx.error(
            &format!("{f}.allowed_origins"),
            "empty",
            "a CORS rule without allowed origins",
        );
    }
    if c.allowed_methods.is_empty() {
        cx.error(
            &format!("{f}.allowed_methods"),
            "empty",
            "a CORS rule without allowed methods",
        )
        .help = Some("add `allowed_methods = [\"GET\"]` (GET, PUT, POST, DELETE, HEAD)".into());
    }
    for o in &c.allowed_origins {
        if o.matches('*').count() > 1 {
            cx.error(
                &format!("{f}.allowed_origins"),
                "invalid-value",
                format!("origin {o:?} has more than one `*`"),
            );
        }
    }
}

/// A bucket's tags: at most 50, keys of 1 to 128 characters outside `aws:`, values of at most 256.
fn check_tags(cx: &mut Checker<'_>, tags: &BTreeMap<String, String>) {
    if tags.len() > 50 {
        cx.error(
            "tags",
            "invalid-value",
            "S3 allows at most 50 tags on a bucket",
        );
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            cx.error(
                &format!("tags.{k}"),
                "invalid-value",
                "a tag key has 1 to 128 characters",
            );
        }
        if k.starts_with("aws:") {
            cx.error(
                &format!("tags.{k}"),
                "invalid-value",
                "the `aws:` tag prefix is reserved",
            );
        }
        if v.chars().count() > 256 {
            cx.error(
                &format!("tags.{k}"),
                "invalid-value",
                "a tag value has at most 256 characters",
            );
        }
    }
}

/// Whether a bucket policy allows something to everyone (`"Principal": "*"` or `{"AWS": "*"}`).
pub fn policy_is_public(p: &Value) -> bool {
    let statements: Vec<&Value> = match p.get("Statement") {
        Some(Value::Array(s)) => s.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    let star = |v: &Value| match v {
        Value::String(s) => s == "*",
        Value::Array(a) => a.iter().any(|x| x == "*"),
        _ => false,
    };
    statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && match s.get("Principal") {
                Some(Value::Object(m)) => m.values().any(star),
                Some(other) => star(other),
                None => false,
            }
    })
}

fn check_policy(cx: &mut Checker<'_>, p: &Value, bucket: &str) {
    let mut statements = Vec::new();
    cx.under(&POLICY, |cx| statements = policy_statements(cx, p));
    for (i, s) in statements.iter().enumerate() {
        check_resources(cx, &format!("policy.Statement[{i}]"), s, bucket);
    }
}

/// A policy's statements, each with what S3 requires of it.
fn policy_statements<'p>(cx: &mut Checker<'_>, p: &'p Value) -> Vec<&'p Value> {
    let Some(obj) = p.as_object() else {
        cx.error(
            "policy",
            "invalid-value",
            "a bucket policy is a document (a table)",
        );
        return Vec::new();
    };
    let statements = match obj.get("Statement") {
        Some(Value::Array(s)) if !s.is_empty() => s.iter().collect::<Vec<_>>(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => {
            cx.error(
                "policy",
                "invalid-value",
                "a bucket policy needs a `Statement` list of at least one statement",
            )
            .help = Some("leave `policy` out for a bucket without a policy".into());
            return Vec::new();
        }
    };
    for (i, s) in statements.iter().enumerate() {
        let f = format!("policy.Statement[{i}]");
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            _ => {
                cx.error(
                    &f,
                    "invalid-value",
                    "a statement's `Effect` is \"Allow\" or \"Deny\"",
                );
            }
        }
        if s.get("Action").is_none() && s.get("NotAction").is_none() {
            cx.error(
                &f,
                "invalid-value",
                "a statement needs `Action` or `NotAction`",
            );
        }
        if s.get("Principal").is_none() && s.get("NotPrincipal").is_none() {
            cx.error(
                &f,
                "invalid-value",
                "a bucket policy statement needs a `Principal`",
            );
        }
    }
    statements
}

/// A bucket policy speaks of its own bucket only (as S3 requires): every `Resource` and `NotResource` is the
/// bucket's ARN or one of its objects', never another bucket (another tenant's) nor `*`.
fn check_resources(cx: &mut Checker<'_>, field: &str, statement: &Value, bucket: &str) {
    let own = format!("arn:aws:s3:::{bucket}");
    let inside = |r: &str| r == own || r.strip_prefix(&own).is_some_and(|rest| rest.starts_with('/'));
    for key in ["Resource", "NotResource"] {
        let resources: Vec<&Value> = match statement.get(key) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v) => vec![v],
            None => continue,
        };
        for r in resources {
            if !r.as_str().is_some_and(inside) {
                cx.error(
                    &format!("{field}.{key}"),
                    "invalid-value",
                    format!(
                        "a policy of bucket `{bucket}` may only name `{own}` and \
                         `{own}/...`, not {r}"
                    ),
                );
            }
        }
    }
}

/// Renames the buckets an S3 bucket policy names in its ARNs (`arn:aws:s3:::acme-files/*`).
pub fn rename_bucket_arns(r: &crate::domains::rename::Renamer, policy: &mut serde_json::Value) {
    use serde_json::Value;
    const ARN: &str = "arn:aws:s3:::";
    match policy {
        Value::String(s) => {
            if let Some(rest) = s.strip_prefix(ARN) {
                let (bucket, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                *s = format!("{ARN}{}{tail}", r.renamed(&BUCKET_PREFIX_SCOPE, bucket));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| rename_bucket_arns(r, v)),
        Value::Object(o) => o.values_mut().for_each(|v| rename_bucket_arns(r, v)),
        _ => {}
    }
}
