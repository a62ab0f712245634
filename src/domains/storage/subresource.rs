//! One GET of a bucket's configuration sub-resource, as inspection and the inventory read them.

use reqwest::Method;

use super::client::{Call, Client, S3Error};

/// Requests in flight at once (buckets inspected or changed concurrently).
pub const PARALLEL: usize = 4;

/// A configuration sub-resource, or `None` when the bucket has none (S3 answers 404 with a
/// `NoSuch...`/`...NotFound...` code; a server that does not implement it answers 501).
pub async fn sub(client: &Client, bucket: &str, name: &str) -> Result<Option<Vec<u8>>, S3Error> {
    match client
        .send(Call::new(Method::GET, Some(bucket), name))
        .await
    {
        Ok(r) => {
            tracing::debug!(bucket, name, body = %String::from_utf8_lossy(&r.body), "read");
            Ok(Some(r.body))
        }
        Err(S3Error::Refused {
            status: 404 | 501,
            code,
            ..
        }) if code != "NoSuchBucket" => Ok(None),
        Err(e) => Err(e),
    }
}
