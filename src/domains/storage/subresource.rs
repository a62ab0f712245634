//! One GET of a bucket's configuration sub-resource, as inspection and the inventory read them.

use reqwest::Method;

use super::client::{Call, Client, S3Error};

/// Requests in flight at once (buckets inspected or changed concurrently).
pub const PARALLEL: usize = 4;

/// A configuration sub-resource, or `None` when the bucket has none (S3 answers 404 with a
/// `NoSuch...`/`...NotFound...` code; a server that does not implement it answers 501).
/// A bucket that was listed or just made may not yet be visible to every node of the server: its
/// `NoSuchBucket` is asked again (see [`just_made`]).
pub async fn sub(client: &Client, bucket: &str, name: &str) -> Result<Option<Vec<u8>>, S3Error> {
    match just_made(|| client.send(Call::new(Method::GET, Some(bucket), name))).await {
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

/// A call on a bucket just made or just listed: a server that has not yet made the bucket visible to every
/// node (SeaweedFS under load answers `NoSuchBucket` for a moment) is asked again, five times at most,
/// 50 ms, 100 ms, ... apart (1.55 s in all); a bucket still missing then is the error it is.
pub async fn just_made<T, F, Fut>(call: F) -> Result<T, S3Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, S3Error>>,
{
    let mut wait = std::time::Duration::from_millis(50);
    for _ in 0..5 {
        match call().await {
            Err(S3Error::Refused { code, .. }) if code == "NoSuchBucket" => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
    call().await
}
