//! The project's own S3 client, shared by the storage domain (buckets and their configuration) and the
//! backup repository (`s3://bucket/prefix`): SigV4 signing (`sigv4.rs`) and signed requests over `reqwest`
//! with S3's errors in words (`client.rs`).

pub mod client;
pub mod sigv4;
