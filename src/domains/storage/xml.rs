//! A bucket's configurations as S3's XML documents: written by hand (escaped), read with quick-xml's serde
//! support. Elements falconer does not model (such as SeaweedFS's `TransitionDefaultMinimumObjectSize`)
//! are ignored when read.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Deserialize;

use super::{
    CorsRule, Encryption, Expiration, HttpMethod, LifecycleFilter, LifecycleRule,
    NoncurrentExpiration, NoncurrentTransition, RuleStatus, SseAlgorithm, Transition, Versioning,
};

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn el(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "<{name}>{}</{name}>", esc(&value.to_string()));
}

fn opt(out: &mut String, name: &str, value: Option<impl std::fmt::Display>) {
    if let Some(v) = value {
        el(out, name, v);
    }
}

/// A configuration document S3 gave that falconer cannot read.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("the {0} document is not UTF-8")]
    NotText(&'static str),
    #[error("cannot read the {what} document: {source}")]
    Xml {
        what: &'static str,
        #[source]
        source: quick_xml::DeError,
    },
    /// A value S3 stores that falconer has no word for (a CORS method, an encryption algorithm).
    #[error("unknown {what} {value:?}")]
    Unknown { what: &'static str, value: String },
}

pub(super) fn parse<'de, T: Deserialize<'de>>(body: &'de [u8], what: &'static str) -> Result<T, Unreadable> {
    let text = std::str::from_utf8(body).map_err(|_| Unreadable::NotText(what))?;
    quick_xml::de::from_str(text).map_err(|source| Unreadable::Xml { what, source })
}

// ---- versioning

pub fn versioning(v: Versioning) -> Vec<u8> {
    let status = match v {
        Versioning::Enabled => "Enabled",
        // S3 has no way back to "never versioned": `disabled` on a versioned bucket is refused at plan time.
        Versioning::Suspended | Versioning::Disabled => "Suspended",
    };
    format!("<VersioningConfiguration xmlns=\"{NS}\"><Status>{status}</Status></VersioningConfiguration>")
        .into_bytes()
}

pub fn read_versioning(body: &[u8]) -> Result<Versioning, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct V {
        status: Option<String>,
    }
    let v: V = parse(body, "versioning")?;
    Ok(match v.status.as_deref() {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => Versioning::Disabled,
    })
}

// ---- lifecycle

/// S3 wants dates as midnight UTC in ISO 8601.
fn full_date(d: &str) -> String {
    if d.contains('T') {
        d.to_string()
    } else {
        format!("{d}T00:00:00Z")
    }
}

fn tags(out: &mut String, tags: &BTreeMap<String, String>) {
    for (k, v) in tags {
        out.push_str("<Tag>");
        el(out, "Key", k);
        el(out, "Value", v);
        out.push_str("</Tag>");
    }
}

fn filter(out: &mut String, f: Option<&LifecycleFilter>) {
    let Some(f) = f else {
        out.push_str("<Filter></Filter>");
        return;
    };
    let n = usize::from(f.prefix.is_some())
        + f.tags.len()
        + usize::from(f.object_size_greater_than.is_some())
        + usize::from(f.object_size_less_than.is_some());
    out.push_str("<Filter>");
    if n > 1 {
        out.push_str("<And>");
    }
    opt(out, "Prefix", f.prefix.as_deref());
    tags(out, &f.tags);
    opt(out, "ObjectSizeGreaterThan", f.object_size_greater_than);
    opt(out, "ObjectSizeLessThan", f.object_size_less_than);
    if n > 1 {
        out.push_str("</And>");
    }
    out.push_str("</Filter>");
}

pub fn lifecycle(rules: &[LifecycleRule]) -> Vec<u8> {
    let mut out = format!("<LifecycleConfiguration xmlns=\"{NS}\">");
    for r in rules {
        out.push_str("<Rule>");
        el(&mut out, "ID", &r.id);
        filter(&mut out, r.filter.as_ref());
        let status = match r.status {
            Some(RuleStatus::Disabled) => "Disabled",
            _ => "Enabled",
        };
        el(&mut out, "Status", status);
        if let Some(e) = &r.expiration {
            out.push_str("<Expiration>");
            opt(&mut out, "Days", e.days);
            opt(&mut out, "Date", e.date.as_deref().map(full_date));
            opt(
                &mut out,
                "ExpiredObjectDeleteMarker",
                e.expired_object_delete_marker,
            );
            out.push_str("</Expiration>");
        }
        for t in &r.transition {
            out.push_str("<Transition>");
            opt(&mut out, "Days", t.days);
            opt(&mut out, "Date", t.date.as_deref().map(full_date));
            el(&mut out, "StorageClass", &t.storage_class);
            out.push_str("</Transition>");
        }
        for t in &r.noncurrent_version_transition {
            out.push_str("<NoncurrentVersionTransition>");
            el(&mut out, "NoncurrentDays", t.noncurrent_days);
            el(&mut out, "StorageClass", &t.storage_class);
            opt(
                &mut out,
                "NewerNoncurrentVersions",
                t.newer_noncurrent_versions,
            );
            out.push_str("</NoncurrentVersionTransition>");
        }
        if let Some(n) = &r.noncurrent_version_expiration {
            out.push_str("<NoncurrentVersionExpiration>");
            el(&mut out, "NoncurrentDays", n.noncurrent_days);
            opt(
                &mut out,
                "NewerNoncurrentVersions",
                n.newer_noncurrent_versions,
            );
            out.push_str("</NoncurrentVersionExpiration>");
        }
        if let Some(d) = r.abort_incomplete_multipart_upload_days {
            out.push_str("<AbortIncompleteMultipartUpload>");
            el(&mut out, "DaysAfterInitiation", d);
            out.push_str("</AbortIncompleteMultipartUpload>");
        }
        out.push_str("</Rule>");
    }
    out.push_str("</LifecycleConfiguration>");
    out.into_bytes()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct TagX {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Conditions {
    prefix: Option<String>,
    #[serde(default)]
    tag: Vec<TagX>,
    object_size_greater_than: Option<u64>,
    object_size_less_than: Option<u64>,
}

/// A filter: one condition directly, or several in `And` (no `flatten`: quick-xml reads text badly through
/// it).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct FilterX {
    prefix: Option<String>,
    #[serde(default)]
    tag: Vec<TagX>,
    object_size_greater_than: Option<u64>,
    object_size_less_than: Option<u64>,
    and: Option<Conditions>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuleX {
    #[serde(rename = "ID")]
    id: Option<String>,
    filter: Option<FilterX>,
    /// The old form: a prefix on the rule itself.
    prefix: Option<String>,
    status: Option<String>,
    expiration: Option<ExpirationX>,
    #[serde(default)]
    transition: Vec<TransitionX>,
    #[serde(default)]
    noncurrent_version_transition: Vec<NcTransitionX>,
    noncurrent_version_expiration: Option<NcExpirationX>,
    abort_incomplete_multipart_upload: Option<AbortX>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExpirationX {
    days: Option<u32>,
    date: Option<String>,
    expired_object_delete_marker: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransitionX {
    days: Option<u32>,
    date: Option<String>,
    storage_class: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NcTransitionX {
    noncurrent_days: u32,
    storage_class: String,
    newer_noncurrent_versions: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NcExpirationX {
    noncurrent_days: u32,
    newer_noncurrent_versions: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AbortX {
    days_after_initiation: u32,
}

fn conditions(c: Conditions) -> LifecycleFilter {
    LifecycleFilter {
        prefix: c.prefix,
        tags: c.tag.into_iter().map(|t| (t.key, t.value)).collect(),
        object_size_greater_than: c.object_size_greater_than,
        object_size_less_than: c.object_size_less_than,
    }
}

pub fn read_lifecycle(body: &[u8]) -> Result<Vec<LifecycleRule>, Unreadable> {
    #[derive(Deserialize)]
    struct L {
        #[serde(rename = "Rule", default)]
        rules: Vec<RuleX>,
    }
    let l: L = parse(body, "lifecycle")?;
    Ok(l.rules
        .into_iter()
        .map(|r| {
            let filter = match (r.filter, r.prefix) {
                (Some(f), _) => Some(conditions(f.and.unwrap_or(Conditions {
                    prefix: f.prefix,
                    tag: f.tag,
                    object_size_greater_than: f.object_size_greater_than,
                    object_size_less_than: f.object_size_less_than,
                }))),
                (None, Some(p)) => Some(LifecycleFilter {
                    prefix: Some(p),
                    ..LifecycleFilter::default()
                }),
                (None, None) => None,
            };
            LifecycleRule {
                id: r.id.unwrap_or_default(),
                status: match r.status.as_deref() {
                    Some("Disabled") => Some(RuleStatus::Disabled),
                    _ => Some(RuleStatus::Enabled),
                },
                filter,
                expiration: r.expiration.map(|e| Expiration {
                    days: e.days,
                    date: e.date,
                    expired_object_delete_marker: e.expired_object_delete_marker,
                }),
                noncurrent_version_expiration: r.noncurrent_version_expiration.map(|n| {
                    NoncurrentExpiration {
                        noncurrent_days: n.noncurrent_days,
                        newer_noncurrent_versions: n.newer_noncurrent_versions,
                    }
                }),
                abort_incomplete_multipart_upload_days: r
                    .abort_incomplete_multipart_upload
                    .map(|a| a.days_after_initiation),
                transition: r
                    .transition
                    .into_iter()
                    .map(|t| Transition {
                        days: t.days,
                        date: t.date,
                        storage_class: t.storage_class,
                    })
                    .collect(),
                noncurrent_version_transition: r
                    .noncurrent_version_transition
                    .into_iter()
                    .map(|t| NoncurrentTransition {
                        noncurrent_days: t.noncurrent_days,
                        storage_class: t.storage_class,
                        newer_noncurrent_versions: t.newer_noncurrent_versions,
                    })
                    .collect(),
            }
        })
        .collect())
}

// ---- CORS

fn method(m: HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Put => "PUT",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Head => "HEAD",
    }
}

pub fn cors(rules: &[CorsRule]) -> Vec<u8> {
    let mut out = format!("<CORSConfiguration xmlns=\"{NS}\">");
    for r in rules {
        out.push_str("<CORSRule>");
        opt(&mut out, "ID", r.id.as_deref());
        for o in &r.allowed_origins {
            el(&mut out, "AllowedOrigin", o);
        }
        for m in &r.allowed_methods {
            el(&mut out, "AllowedMethod", method(*m));
        }
        for h in &r.allowed_headers {
            el(&mut out, "AllowedHeader", h);
        }
        for h in &r.expose_headers {
            el(&mut out, "ExposeHeader", h);
        }
        opt(&mut out, "MaxAgeSeconds", r.max_age_seconds);
        out.push_str("</CORSRule>");
    }
    out.push_str("</CORSConfiguration>");
    out.into_bytes()
}

pub fn read_cors(body: &[u8]) -> Result<Vec<CorsRule>, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct R {
        #[serde(rename = "ID")]
        id: Option<String>,
        #[serde(default)]
        allowed_origin: Vec<String>,
        #[serde(default)]
        allowed_method: Vec<String>,
        #[serde(default)]
        allowed_header: Vec<String>,
        #[serde(default)]
        expose_header: Vec<String>,
        max_age_seconds: Option<u32>,
    }
    #[derive(Deserialize)]
    struct C {
        #[serde(rename = "CORSRule", default)]
        rules: Vec<R>,
    }
    let c: C = parse(body, "CORS")?;
    c.rules
        .into_iter()
        .map(|r| {
            let allowed_methods = r
                .allowed_method
                .iter()
                .map(|m| {
                    serde_json::from_value(serde_json::Value::String(m.clone()))
                        .map_err(|_| Unreadable::Unknown {
                            what: "CORS method",
                            value: m.clone(),
                        })
                })
                .collect::<Result<_, Unreadable>>()?;
            Ok(CorsRule {
                id: r.id,
                allowed_origins: r.allowed_origin,
                allowed_methods,
                allowed_headers: r.allowed_header,
                expose_headers: r.expose_header,
                max_age_seconds: r.max_age_seconds,
            })
        })
        .collect()
}

// ---- tagging

pub fn tagging(t: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = format!("<Tagging xmlns=\"{NS}\"><TagSet>");
    tags(&mut out, t);
    out.push_str("</TagSet></Tagging>");
    out.into_bytes()
}

pub fn read_tagging(body: &[u8]) -> Result<BTreeMap<String, String>, Unreadable> {
    #[derive(Deserialize, Default)]
    struct Set {
        #[serde(rename = "Tag", default)]
        tags: Vec<TagX>,
    }
    #[derive(Deserialize)]
    struct T {
        #[serde(rename = "TagSet", default)]
        set: Set,
    }
    let t: T = parse(body, "tagging")?;
    Ok(t.set.tags.into_iter().map(|t| (t.key, t.value)).collect())
}

// ---- default encryption

fn algorithm(a: SseAlgorithm) -> &'static str {
    match a {
        SseAlgorithm::Aes256 => "AES256",
        SseAlgorithm::AwsKms => "aws:kms",
        SseAlgorithm::AwsKmsDsse => "aws:kms:dsse",
    }
}

pub fn encryption(e: &Encryption) -> Vec<u8> {
    let mut out = format!(
        "<ServerSideEncryptionConfiguration xmlns=\"{NS}\"><Rule><ApplyServerSideEncryptionByDefault>"
    );
    el(&mut out, "SSEAlgorithm", algorithm(e.algorithm));
    opt(&mut out, "KMSMasterKeyID", e.kms_key_id.as_deref());
    out.push_str("</ApplyServerSideEncryptionByDefault>");
    opt(&mut out, "BucketKeyEnabled", e.bucket_key_enabled);
    out.push_str("</Rule></ServerSideEncryptionConfiguration>");
    out.into_bytes()
}

pub fn read_encryption(body: &[u8]) -> Result<Option<Encryption>, Unreadable> {
    #[derive(Deserialize)]
    struct Default_ {
        #[serde(rename = "SSEAlgorithm")]
        algorithm: String,
        #[serde(rename = "KMSMasterKeyID")]
        kms: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Rule {
        apply_server_side_encryption_by_default: Option<Default_>,
        bucket_key_enabled: Option<bool>,
    }
    #[derive(Deserialize)]
    struct E {
        #[serde(rename = "Rule", default)]
        rules: Vec<Rule>,
    }
    let e: E = parse(body, "encryption")?;
    let Some(rule) = e.rules.into_iter().next() else {
        return Ok(None);
    };
    let Some(d) = rule.apply_server_side_encryption_by_default else {
        return Ok(None);
    };
    let algorithm = serde_json::from_value(serde_json::Value::String(d.algorithm.clone()))
        .map_err(|_| Unreadable::Unknown {
            what: "encryption algorithm",
            value: d.algorithm.clone(),
        })?;
    Ok(Some(Encryption {
        algorithm,
        kms_key_id: d.kms,
        bucket_key_enabled: rule.bucket_key_enabled,
    }))
}

// ---- buckets, location, object versions

pub fn create_bucket(region: &str) -> Vec<u8> {
    if region == "us-east-1" {
        return Vec::new();
    }
    let mut out = format!("<CreateBucketConfiguration xmlns=\"{NS}\">");
    el(&mut out, "LocationConstraint", region);
    out.push_str("</CreateBucketConfiguration>");
    out.into_bytes()
}

pub fn read_location(body: &[u8]) -> Result<String, Unreadable> {
    #[derive(Deserialize)]
    struct L {
        #[serde(rename = "$text", default)]
        text: String,
    }
    let l: L = parse(body, "location")?;
    Ok(if l.text.is_empty() {
        "us-east-1".to_string()
    } else {
        l.text
    })
}

pub fn read_bucket_names(body: &[u8]) -> Result<Vec<String>, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct B {
        name: String,
    }
    #[derive(Deserialize, Default)]
    struct Bs {
        #[serde(rename = "Bucket", default)]
        list: Vec<B>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct L {
        #[serde(default)]
        buckets: Bs,
    }
    let l: L = parse(body, "bucket list")?;
    Ok(l.buckets.list.into_iter().map(|b| b.name).collect())
}

/// The owner of the account a `ListBuckets` answer lists: its display name, else its id.
pub fn read_owner(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct O {
        #[serde(rename = "ID")]
        id: Option<String>,
        display_name: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct L {
        owner: Option<O>,
    }
    let owner = parse::<L>(body, "bucket list").ok()?.owner?;
    owner.display_name.filter(|n| !n.is_empty()).or(owner.id)
}

/// One page of `ListObjectVersions`: (key, version id) of versions and delete markers, and where the next
/// page starts.
pub struct Versions {
    pub entries: Vec<(String, String)>,
    pub next: Option<(String, String)>,
}

pub fn read_versions(body: &[u8]) -> Result<Versions, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct V {
        key: String,
        version_id: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct L {
        #[serde(default)]
        version: Vec<V>,
        #[serde(default)]
        delete_marker: Vec<V>,
        is_truncated: Option<bool>,
        next_key_marker: Option<String>,
        next_version_id_marker: Option<String>,
    }
    let l: L = parse(body, "object versions")?;
    let entries = l
        .version
        .into_iter()
        .chain(l.delete_marker)
        .map(|v| (v.key, v.version_id.unwrap_or_else(|| "null".into())))
        .collect();
    let next = match (l.is_truncated, l.next_key_marker) {
        (Some(true), Some(k)) => Some((k, l.next_version_id_marker.unwrap_or_default())),
        _ => None,
    };
    Ok(Versions { entries, next })
}

/// A `DeleteObjects` request for these (key, version id) pairs (at most 1000).
pub fn delete_objects(entries: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("<Delete xmlns=\"{NS}\"><Quiet>true</Quiet>");
    for (k, v) in entries {
        out.push_str("<Object>");
        el(&mut out, "Key", k);
        if v != "null" {
            el(&mut out, "VersionId", v);
        }
        out.push_str("</Object>");
    }
    out.push_str("</Delete>");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_round_trips_and_ignores_server_additions() {
        let rules = vec![LifecycleRule {
            id: "a&b".into(),
            status: Some(RuleStatus::Enabled),
            filter: Some(LifecycleFilter {
                prefix: Some("tmp/".into()),
                tags: [("k".to_string(), "v<1>".to_string())].into(),
                object_size_greater_than: None,
                object_size_less_than: None,
            }),
            expiration: Some(Expiration {
                days: Some(30),
                date: None,
                expired_object_delete_marker: None,
            }),
            noncurrent_version_expiration: None,
            abort_incomplete_multipart_upload_days: Some(7),
            transition: vec![],
            noncurrent_version_transition: vec![],
        }];
        let mut xml = String::from_utf8(lifecycle(&rules)).expect("utf-8");
        assert!(
            xml.contains(
                "<And><Prefix>tmp/</Prefix><Tag><Key>k</Key><Value>v&lt;1&gt;</Value></Tag></And>"
            ),
            "{xml}"
        );
        xml = xml.replace(
            "</LifecycleConfiguration>",
            "<TransitionDefaultMinimumObjectSize>all_storage_classes_128K</TransitionDefaultMinimumObjectSize></LifecycleConfiguration>",
        );
        assert_eq!(read_lifecycle(xml.as_bytes()).expect("reads"), rules);
    }
}
