//! A port in front of the suite's S3 server (SeaweedFS) that answers the bucket configurations SeaweedFS does
//! not implement (it answers 501) as Amazon S3 does, in the shapes of the S3 API reference, and passes every
//! other request through:
//!
//! - `?publicAccessBlock`: GetPublicAccessBlock (200 with a `PublicAccessBlockConfiguration`, or 404
//!   `NoSuchPublicAccessBlockConfiguration`), PutPublicAccessBlock (200, the document kept for the bucket),
//!   DeletePublicAccessBlock (204);
//! - `?logging`: GetBucketLogging, answered with `logging` when given (a `BucketLoggingStatus` with a
//!   `LoggingEnabled`), else as S3 answers a bucket without logging (an empty `BucketLoggingStatus`).
//! - `?requestPayment`: GetBucketRequestPayment (a `RequestPaymentConfiguration`; `BucketOwner` until one
//!   is put), PutBucketRequestPayment (200, kept);
//! - `?accelerate`: GetBucketAccelerateConfiguration (an `AccelerateConfiguration`, without a `Status` until
//!   one is put), PutBucketAccelerateConfiguration (200, kept).
//!
//! Requests pass through with the client's signed headers as written; `Connection: close` is added (no
//! signature covers it) so that each request comes on a connection of its own and is seen here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct S3Recorded {
    port: u16,
    accept: tokio::task::JoinHandle<()>,
    /// The documents PUT so far, by `bucket?sub-resource` (`acme-b?publicAccessBlock`).
    pub blocks: Arc<Mutex<HashMap<String, String>>>,
}

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A raw HTTP answer, the connection closed after it.
fn answer(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The request line's method, bucket and query of a request head (path-style addressing).
fn request_line(head: &[u8]) -> (String, String, String) {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or_default().to_string();
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let bucket = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    (method, bucket, query.to_string())
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// The port of the S3 endpoint `upstream`, and a listener on a free port of 127.0.0.1 to put in front of it.
pub async fn listen_before(upstream: &str) -> (u16, tokio::net::TcpListener, u16) {
    let upstream: u16 = upstream
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the S3 endpoint's port");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("the address").port();
    (upstream, listener, port)
}

impl S3Recorded {
    /// In front of `upstream` (the S3 endpoint); `logging`: the `LoggingEnabled` element every bucket's
    /// GetBucketLogging answers with.
    pub async fn start(upstream: &str, logging: Option<&str>) -> S3Recorded {
        let (upstream, listener, port) = listen_before(upstream).await;
        let blocks: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let (kept, logging) = (blocks.clone(), Arc::new(logging.map(str::to_string)));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (kept, logging) = (kept.clone(), logging.clone());
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut inbound).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let end = head
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .unwrap_or(head.len())
                        + 4;
                    let (method, bucket, query) = request_line(&head[..end]);
                    let sub = query
                        .split('&')
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches('=');
                    let recorded = matches!(
                        (method.as_str(), sub),
                        ("GET" | "PUT" | "DELETE", "publicAccessBlock")
                            | ("GET", "logging")
                            | ("GET" | "PUT", "requestPayment" | "accelerate")
                    );
                    if !recorded {
                        pass(inbound, head, end, upstream).await;
                        return;
                    }
                    let mut body = head[end.min(head.len())..].to_vec();
                    let want = content_length(&head[..end]);
                    while body.len() < want {
                        match inbound.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&buf[..n]),
                        }
                    }
                    let out = respond(&method, sub, &bucket, &body, &kept, logging.as_deref());
                    let _ = inbound.write_all(out.as_bytes()).await;
                    let _ = inbound.shutdown().await;
                });
            }
        });
        S3Recorded {
            port,
            accept,
            blocks,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The head of a request (its first bytes up to the blank line, and what came with them); `None` when the
/// connection closes first.
pub async fn read_head(inbound: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match inbound.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// Passes one request (its head read up to `end`, the blank line's end) through to the S3 server at
/// `upstream`, with `Connection: close` added: the next request comes on a new connection.
pub async fn pass(
    mut inbound: tokio::net::TcpStream,
    mut head: Vec<u8>,
    end: usize,
    upstream: u16,
) {
    let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    head.splice(end - 2..end - 2, b"Connection: close\r\n".iter().copied());
    if out.write_all(&head).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
    }
}

/// S3's answer to a recorded sub-resource request.
fn respond(
    method: &str,
    sub: &str,
    bucket: &str,
    body: &[u8],
    kept: &Mutex<HashMap<String, String>>,
    logging: Option<&str>,
) -> String {
    let mut blocks = kept.lock().expect("the kept documents");
    match (method, sub) {
        ("GET", "logging") => {
            let inner = logging.unwrap_or_default();
            answer(
                "200 OK",
                &format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BucketLoggingStatus xmlns=\"{NS}\">{inner}</BucketLoggingStatus>"
                ),
            )
        }
        ("PUT", _) => {
            blocks.insert(
                format!("{bucket}?{sub}"),
                String::from_utf8_lossy(body).to_string(),
            );
            answer("200 OK", "")
        }
        ("DELETE", _) => {
            blocks.remove(&format!("{bucket}?{sub}"));
            answer("204 No Content", "")
        }
        _ => match blocks.get(&format!("{bucket}?{sub}")) {
            Some(doc) => answer("200 OK", doc),
            None if sub == "requestPayment" => answer(
                "200 OK",
                &format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<RequestPaymentConfiguration xmlns=\"{NS}\"><Payer>BucketOwner</Payer></RequestPaymentConfiguration>"
                ),
            ),
            None if sub == "accelerate" => answer(
                "200 OK",
                &format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccelerateConfiguration xmlns=\"{NS}\"/>"
                ),
            ),
            None => answer(
                "404 Not Found",
                &format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchPublicAccessBlockConfiguration</Code><Message>The public access block configuration was not found</Message><BucketName>{bucket}</BucketName></Error>"
                ),
            ),
        },
    }
}

impl Drop for S3Recorded {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
