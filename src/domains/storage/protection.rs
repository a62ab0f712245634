//! What protects a bucket's objects: its public access block, its object ownership and its object lock, with
//! their documents as S3's XML and the rules and hazards between them and the rest of the bucket.

use serde::Deserialize;

use super::xml::{Unreadable, parse};
use super::{Bucket, Versioning};
use crate::diag::Rule;
use crate::domains::Checker;
use crate::model::{Hazard, HazardCode};
use crate::{choice, model};

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

choice! { "PascalCase";
    /// Who owns the objects written into the bucket (and whether ACLs count).
    pub enum Ownership { BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter }
}

choice! { "UPPERCASE";
    /// How a retention holds: `GOVERNANCE` can be lifted by a user allowed to bypass it, `COMPLIANCE` by no one.
    pub enum LockMode { Governance, Compliance }
}

model! {
    /// The bucket's public access block (S3's four settings; one not written is `false`).
    #[derive(Default)]
    pub struct PublicAccessBlock {
        #[serde(default)]
        pub block_public_acls: bool,
        #[serde(default)]
        pub ignore_public_acls: bool,
        #[serde(default)]
        pub block_public_policy: bool,
        #[serde(default)]
        pub restrict_public_buckets: bool,
    }

    /// Object lock, enabled, with the retention new objects get by default (a mode with days or years).
    #[derive(Default)]
    pub struct ObjectLock {
        pub mode: Option<LockMode>,
        pub days: Option<u32>,
        pub years: Option<u32>,
    }
}

impl ObjectLock {
    /// The default retention in days (a year as 365), when there is one.
    fn length(&self) -> Option<u64> {
        match (self.days, self.years) {
            (Some(d), _) => Some(d.into()),
            (_, Some(y)) => Some(u64::from(y) * 365),
            _ => None,
        }
    }
}

pub fn public_access_block(p: &PublicAccessBlock) -> Vec<u8> {
    format!(
        "<PublicAccessBlockConfiguration xmlns=\"{NS}\"><BlockPublicAcls>{}</BlockPublicAcls>\
         <IgnorePublicAcls>{}</IgnorePublicAcls><BlockPublicPolicy>{}</BlockPublicPolicy>\
         <RestrictPublicBuckets>{}</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
        p.block_public_acls, p.ignore_public_acls, p.block_public_policy, p.restrict_public_buckets
    )
    .into_bytes()
}

pub fn read_public_access_block(body: &[u8]) -> Result<PublicAccessBlock, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct P {
        #[serde(default)]
        block_public_acls: bool,
        #[serde(default)]
        ignore_public_acls: bool,
        #[serde(default)]
        block_public_policy: bool,
        #[serde(default)]
        restrict_public_buckets: bool,
    }
    let p: P = parse(body, "public access block")?;
    Ok(PublicAccessBlock {
        block_public_acls: p.block_public_acls,
        ignore_public_acls: p.ignore_public_acls,
        block_public_policy: p.block_public_policy,
        restrict_public_buckets: p.restrict_public_buckets,
    })
}

fn ownership_name(o: Ownership) -> &'static str {
    match o {
        Ownership::BucketOwnerEnforced => "BucketOwnerEnforced",
        Ownership::BucketOwnerPreferred => "BucketOwnerPreferred",
        Ownership::ObjectWriter => "ObjectWriter",
    }
}

pub fn ownership(o: Ownership) -> Vec<u8> {
    format!(
        "<OwnershipControls xmlns=\"{NS}\"><Rule><ObjectOwnership>{}</ObjectOwnership></Rule></OwnershipControls>",
        ownership_name(o)
    )
    .into_bytes()
}

pub fn read_ownership(body: &[u8]) -> Result<Option<Ownership>, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct R {
        object_ownership: Option<String>,
    }
    #[derive(Deserialize)]
    struct O {
        #[serde(rename = "Rule", default)]
        rules: Vec<R>,
    }
    let o: O = parse(body, "ownership controls")?;
    let Some(name) = o.rules.into_iter().find_map(|r| r.object_ownership) else {
        return Ok(None);
    };
    serde_json::from_value(serde_json::Value::String(name.clone()))
        .map(Some)
        .map_err(|_| Unreadable::Unknown {
            what: "object ownership",
            value: name,
        })
}

pub fn object_lock(l: &ObjectLock) -> Vec<u8> {
    let mut out =
        format!("<ObjectLockConfiguration xmlns=\"{NS}\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>");
    if let Some(mode) = l.mode {
        let mode = if mode == LockMode::Compliance { "COMPLIANCE" } else { "GOVERNANCE" };
        out.push_str(&format!("<Rule><DefaultRetention><Mode>{mode}</Mode>"));
        if let Some(d) = l.days {
            out.push_str(&format!("<Days>{d}</Days>"));
        }
        if let Some(y) = l.years {
            out.push_str(&format!("<Years>{y}</Years>"));
        }
        out.push_str("</DefaultRetention></Rule>");
    }
    out.push_str("</ObjectLockConfiguration>");
    out.into_bytes()
}

/// The bucket's object lock: `None` when it is not enabled.
pub fn read_object_lock(body: &[u8]) -> Result<Option<ObjectLock>, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Retention {
        mode: Option<String>,
        days: Option<u32>,
        years: Option<u32>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct R {
        default_retention: Option<Retention>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct L {
        object_lock_enabled: Option<String>,
        rule: Option<R>,
    }
    let l: L = parse(body, "object lock")?;
    if l.object_lock_enabled.as_deref() != Some("Enabled") {
        return Ok(None);
    }
    let Some(r) = l.rule.and_then(|r| r.default_retention) else {
        return Ok(Some(ObjectLock::default()));
    };
    let mode = match r.mode.as_deref() {
        None => None,
        Some("GOVERNANCE") => Some(LockMode::Governance),
        Some("COMPLIANCE") => Some(LockMode::Compliance),
        Some(other) => {
            return Err(Unreadable::Unknown {
                what: "object lock mode",
                value: other.to_string(),
            });
        }
    };
    Ok(Some(ObjectLock {
        mode,
        days: r.days,
        years: r.years,
    }))
}

pub(super) const OBJECT_LOCK: Rule = Rule {
    id: "s3-object-lock",
    says: "object lock needs versioning enabled; a default retention has a mode and exactly one of days and \
           years (1 or more)",
    source: "Amazon S3 API Reference, PutObjectLockConfiguration and DefaultRetention; Amazon S3 User Guide, \
             Using S3 Object Lock (versioning is enabled with it and cannot be suspended)",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\nversioning = \"suspended\"\nobject_lock = {}\n",
};

pub(super) const PUBLIC_POLICY: Rule = Rule {
    id: "s3-public-access-block",
    says: "a bucket whose public access block blocks public policies has no policy that grants everyone \
           access",
    source: "Amazon S3 User Guide, Blocking public access (BlockPublicPolicy: PutBucketPolicy is refused \
             with AccessDenied when the policy is public)",
    breaks: "[[storage.bucket]]\nname = \"acme-x\"\npublic_access_block = { block_public_policy = true }\n\
             policy = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Principal = \"*\", \
             Action = \"s3:GetObject\", Resource = \"arn:aws:s3:::acme-x/*\" }] }\n",
};

/// The rules between a bucket's protection and the rest of it.
pub fn check(b: &Bucket, cx: &mut Checker<'_>) {
    if let Some(l) = &b.object_lock {
        if matches!(b.versioning, Some(Versioning::Suspended | Versioning::Disabled)) {
            cx.rule("versioning", &OBJECT_LOCK, "a bucket with object lock keeps versioning enabled")
                .help = Some("write `versioning = \"enabled\"` (or leave it out)".into());
        }
        let ok = match (l.mode, l.days, l.years) {
            (None, None, None) => true,
            (Some(_), Some(d), None) => d > 0,
            (Some(_), None, Some(y)) => y > 0,
            _ => false,
        };
        if !ok {
            cx.rule(
                "object_lock",
                &OBJECT_LOCK,
                "a default retention has a mode and exactly one of `days` and `years` (1 or more)",
            );
        }
    }
    let blocks = b.public_access_block.as_ref().is_some_and(|p| p.block_public_policy);
    if blocks && b.policy.as_ref().is_some_and(super::policy_is_public) {
        cx.rule(
            "policy",
            &PUBLIC_POLICY,
            "the public access block blocks public policies, and this policy grants everyone access",
        );
    }
}

/// Hazards of the bucket's protection changing from `live`'s.
pub fn hazards(d: &Bucket, live: Option<&Bucket>) -> Vec<Hazard> {
    let mut out = Vec::new();
    let name = &d.name;
    let had_lock = live.is_some_and(|l| l.object_lock.is_some());
    if had_lock && d.object_lock.is_none() {
        out.push(Hazard::new(
            HazardCode::Impossible,
            format!("bucket {name} has object lock: S3 cannot disable it (declare `object_lock`)"),
        ));
    }
    if (had_lock || d.object_lock.is_some())
        && matches!(d.versioning, Some(Versioning::Suspended | Versioning::Disabled))
        && live.is_some_and(|l| l.versioning == Some(Versioning::Enabled))
    {
        out.push(Hazard::new(
            HazardCode::Impossible,
            format!("bucket {name} has object lock: S3 cannot suspend its versioning"),
        ));
    }
    if let Some(l) = &d.object_lock
        && l.mode == Some(LockMode::Compliance)
    {
        let before = live
            .and_then(|x| x.object_lock.as_ref())
            .filter(|x| x.mode == Some(LockMode::Compliance))
            .and_then(ObjectLock::length);
        if l.length() > before {
            out.push(Hazard::new(
                HazardCode::RetainsData,
                format!(
                    "bucket {name} keeps every new object version for {} day(s) in COMPLIANCE mode: no one, \
                     the account's root included, can delete one or shorten its retention before then",
                    l.length().unwrap_or_default()
                ),
            ));
        }
    }
    let was_blocked = live
        .and_then(|l| l.public_access_block.as_ref())
        .is_some_and(|p| p.block_public_policy || p.restrict_public_buckets);
    let blocked = d
        .public_access_block
        .as_ref()
        .is_some_and(|p| p.block_public_policy || p.restrict_public_buckets);
    if was_blocked && !blocked && d.public_access_block.is_some() {
        out.push(Hazard::new(
            HazardCode::WidensAccess,
            format!("bucket {name}'s public access block no longer blocks public policies"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_read_back_as_written() {
        let p = PublicAccessBlock {
            block_public_acls: true,
            block_public_policy: true,
            ..Default::default()
        };
        assert_eq!(read_public_access_block(&public_access_block(&p)).expect("reads"), p);
        for o in [Ownership::BucketOwnerEnforced, Ownership::BucketOwnerPreferred, Ownership::ObjectWriter] {
            assert_eq!(read_ownership(&ownership(o)).expect("reads"), Some(o));
        }
        for l in [
            ObjectLock::default(),
            ObjectLock { mode: Some(LockMode::Governance), days: Some(7), years: None },
            ObjectLock { mode: Some(LockMode::Compliance), days: None, years: Some(2) },
        ] {
            assert_eq!(read_object_lock(&object_lock(&l)).expect("reads"), Some(l));
        }
        let off = b"<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>";
        assert_eq!(read_object_lock(off).expect("reads"), None);
        // In the shape of the S3 API reference's GetPublicAccessBlock answer; a setting left out reads false.
        let doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><BlockPublicAcls>true</BlockPublicAcls><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
        let read = read_public_access_block(doc).expect("reads");
        assert!(read.block_public_acls && read.restrict_public_buckets && !read.block_public_policy);
    }
}
