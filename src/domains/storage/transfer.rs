//! Who pays for a bucket's requests and downloads (`request_payer`: requester pays) and transfer
//! acceleration (`accelerate`), with their documents as S3's XML. Absent means S3's default: the bucket owner
//! pays, no acceleration; a manifest that leaves one out asks for the default.

use serde::Deserialize;

use super::Bucket;
use super::xml::{Unreadable, parse};
use crate::choice;
use crate::diag::Rule;
use crate::domains::Checker;

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

choice! { "PascalCase";
    /// Who pays for requests and data downloaded from the bucket.
    pub enum Payer { BucketOwner, Requester }
}

pub(super) const ACCELERATE: Rule = Rule {
    id: "s3-accelerate",
    says: "transfer acceleration needs a bucket name without `.`",
    source: "Amazon S3 User Guide, Configuring fast, secure file transfers using Amazon S3 Transfer Acceleration (requirements)",
    breaks: "[[storage.bucket]]\nname = \"acme.media\"\naccelerate = true\n",
};

/// The `RequestPaymentConfiguration` of `PutBucketRequestPayment`.
pub fn request_payment(p: Payer) -> Vec<u8> {
    let payer = match p {
        Payer::BucketOwner => "BucketOwner",
        Payer::Requester => "Requester",
    };
    format!("<RequestPaymentConfiguration xmlns=\"{NS}\"><Payer>{payer}</Payer></RequestPaymentConfiguration>")
        .into_bytes()
}

/// `GetBucketRequestPayment`: who pays; the owner (S3's default) is `None`.
pub fn read_request_payment(body: &[u8]) -> Result<Option<Payer>, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct R {
        payer: Option<String>,
    }
    let r: R = parse(body, "request payment")?;
    match r.payer.as_deref() {
        None | Some("BucketOwner") => Ok(None),
        Some("Requester") => Ok(Some(Payer::Requester)),
        Some(other) => Err(Unreadable::Unknown {
            what: "request payer",
            value: other.to_string(),
        }),
    }
}

/// The `AccelerateConfiguration` of `PutBucketAccelerateConfiguration`: on, or suspended.
pub fn accelerate(on: bool) -> Vec<u8> {
    let status = if on { "Enabled" } else { "Suspended" };
    format!("<AccelerateConfiguration xmlns=\"{NS}\"><Status>{status}</Status></AccelerateConfiguration>")
        .into_bytes()
}

/// `GetBucketAccelerateConfiguration`: `Some(true)` when enabled; suspended or never set is `None`.
pub fn read_accelerate(body: &[u8]) -> Result<Option<bool>, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct A {
        status: Option<String>,
    }
    let a: A = parse(body, "accelerate configuration")?;
    Ok((a.status.as_deref() == Some("Enabled")).then_some(true))
}

/// Absent means S3's default: the owner pays, no acceleration.
pub fn normalize(b: &mut Bucket) {
    if b.request_payer == Some(Payer::BucketOwner) {
        b.request_payer = None;
    }
    if b.accelerate == Some(false) {
        b.accelerate = None;
    }
}

pub fn check(b: &Bucket, cx: &mut Checker<'_>) {
    if b.accelerate == Some(true) && b.name.contains('.') {
        cx.rule(
            "accelerate",
            &ACCELERATE,
            format!("bucket `{}` has a `.` in its name: S3 does not accelerate it", b.name),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documents of the S3 API reference's examples read back as written.
    #[test]
    fn documents_read_back() {
        assert_eq!(read_request_payment(&request_payment(Payer::Requester)).ok(), Some(Some(Payer::Requester)));
        assert_eq!(read_request_payment(&request_payment(Payer::BucketOwner)).ok(), Some(None));
        assert_eq!(read_accelerate(&accelerate(true)).ok(), Some(Some(true)));
        assert_eq!(read_accelerate(&accelerate(false)).ok(), Some(None));
        // A bucket whose acceleration was never set answers an empty configuration.
        let never = format!("<AccelerateConfiguration xmlns=\"{NS}\"/>");
        assert_eq!(read_accelerate(never.as_bytes()).ok(), Some(None));
    }
}
