//! What a tenant's buckets hold that the bucket kind does not carry: every configuration sub-resource S3
//! answers for a bucket that no field reads, named when it is set (notifications, replication, logging, a
//! website, and the analytics, inventory, metrics and intelligent-tiering configurations). The public
//! access block, object ownership, object lock, requester pays and transfer acceleration are fields of the
//! bucket.
//! A server that does not implement one (501) or has none (404) has nothing to name.

use futures_util::{StreamExt, TryStreamExt};

use super::subresource::{PARALLEL, sub};
use crate::domains::provider::NotCarried;
use super::client::{Client, S3Error};

/// A sub-resource, what it is called, and the element its answer holds when it is set.
struct SubResource {
    query: &'static str,
    kind: &'static str,
    set: fn(&str) -> bool,
}

const SUBRESOURCES: &[SubResource] = &[
    SubResource {
        query: "notification",
        kind: "event notifications",
        set: |b| {
            ["<TopicConfiguration>", "<QueueConfiguration>", "<CloudFunctionConfiguration>", "<EventBridgeConfiguration"]
                .iter()
                .any(|t| b.contains(t))
        },
    },
    SubResource { query: "replication", kind: "replication", set: |b| b.contains("<Rule>") },
    SubResource { query: "logging", kind: "access logging", set: |b| b.contains("<LoggingEnabled>") },
    SubResource {
        query: "website",
        kind: "website",
        set: |b| b.contains("<IndexDocument>") || b.contains("<RedirectAllRequestsTo>"),
    },
    SubResource {
        query: "analytics",
        kind: "analytics configuration",
        set: |b| b.contains("<AnalyticsConfiguration>"),
    },
    SubResource {
        query: "inventory",
        kind: "inventory configuration",
        set: |b| b.contains("<InventoryConfiguration>"),
    },
    SubResource { query: "metrics", kind: "metrics configuration", set: |b| b.contains("<MetricsConfiguration>") },
    SubResource {
        query: "intelligent-tiering",
        kind: "intelligent-tiering configuration",
        set: |b| b.contains("<IntelligentTieringConfiguration>"),
    },
];

/// The sub-resources of `buckets` that are set and that no field carries, bucket by bucket.
pub async fn not_carried(client: &Client, buckets: &[String]) -> Result<Vec<NotCarried>, S3Error> {
    let probes: Vec<(String, &'static SubResource)> = buckets
        .iter()
        .flat_map(|b| SUBRESOURCES.iter().map(move |s| (b.clone(), s)))
        .collect();
    let found: Vec<Option<NotCarried>> = crate::util::each_of(&probes, |(bucket, s)| probe(client, bucket, s))
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// One sub-resource of one bucket, named when it is set.
async fn probe(client: &Client, bucket: &str, s: &SubResource) -> Result<Option<NotCarried>, S3Error> {
    let body = sub(client, bucket, s.query).await?;
    let set = body.is_some_and(|b| (s.set)(&String::from_utf8_lossy(&b)));
    Ok(set.then(|| NotCarried {
        kind: s.kind.to_string(),
        name: format!("{} of bucket {bucket}", s.kind),
    }))
}
