//! S3 as a [`Provider`]: buckets inspected with their configurations, and changes applied as the
//! configuration calls S3 has (one PUT or DELETE per changed configuration).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::Method;

use super::client::{Call, Client, Config, S3Error};
use super::{Bucket, ObjectCount, Versioning, protection, transfer, xml};
use crate::domains::Spec;
use crate::domains::item::{Action, Change, Item};
use crate::domains::provider::{self, Provider, ProviderError, System};
use crate::setup::{Env, SetupError};
use crate::model::SecretValue;
use crate::model::{Address, Domain, Tenant};
use crate::secrets::FingerprintKey;

pub use super::subresource::{PARALLEL, just_made, sub};

pub struct Storage {
    pub client: Client,
    /// The bucket list (ListBuckets), shared by a fleet's tenants.
    buckets: provider::SharedListing<Vec<String>>,
}

impl Storage {
    pub fn new(client: Client) -> Storage {
        Storage {
            client,
            buckets: Default::default(),
        }
    }

    /// Every bucket: one ListBuckets, or (reads shared by a fleet) the run's one.
    async fn bucket_names(&self) -> Result<Vec<String>, S3Error> {
        self.buckets.get(|| bucket_names(&self.client)).await
    }
}

/// Every bucket of the account (ListBuckets).
pub async fn bucket_names(client: &Client) -> Result<Vec<String>, S3Error> {
    let listed = client.send(Call::new(Method::GET, None, "")).await?;
    xml::read_bucket_names(&listed.body).map_err(|why| unreadable("/", why))
}

fn unreadable(bucket: &str, why: impl std::fmt::Display) -> S3Error {
    S3Error::Refused {
        operation: format!("read {bucket}"),
        status: 200,
        code: "MalformedXML".into(),
        message: why.to_string(),
    }
}

/// One bucket as the server has it.
pub async fn read(client: &Client, name: &str) -> Result<Bucket, S3Error> {
    let (location, versioning, lifecycle, cors, policy, tagging, encryption, versions) = tokio::try_join!(
        sub(client, name, "location"),
        sub(client, name, "versioning"),
        sub(client, name, "lifecycle"),
        sub(client, name, "cors"),
        sub(client, name, "policy"),
        sub(client, name, "tagging"),
        sub(client, name, "encryption"),
        just_made(|| client.send(Call::new(Method::GET, Some(name), "versions").param("max-keys", "1000"))),
    )?;
    let (block, ownership, lock, payment, accelerate) = tokio::try_join!(
        sub(client, name, "publicAccessBlock"),
        sub(client, name, "ownershipControls"),
        sub(client, name, "object-lock"),
        sub(client, name, "requestPayment"),
        sub(client, name, "accelerate"),
    )?;
    let bad = |why: xml::Unreadable| unreadable(name, why);
    let policy = match policy {
        Some(body) if !body.iter().all(u8::is_ascii_whitespace) => Some(
            serde_json::from_slice(&body)
                .map_err(|e| unreadable(name, format!("the policy is not JSON: {e}")))?,
        ),
        _ => None,
    };
    let listed = xml::read_versions(&versions.body).map_err(bad)?;
    let mut b = Bucket {
        name: name.to_string(),
        region: location
            .map(|l| xml::read_location(&l))
            .transpose()
            .map_err(bad)?,
        versioning: versioning
            .map(|v| xml::read_versioning(&v))
            .transpose()
            .map_err(bad)?,
        lifecycle_rule: lifecycle
            .map(|l| xml::read_lifecycle(&l))
            .transpose()
            .map_err(bad)?
            .unwrap_or_default(),
        cors_rule: cors
            .map(|c| xml::read_cors(&c))
            .transpose()
            .map_err(bad)?
            .unwrap_or_default(),
        policy,
        tags: tagging
            .map(|t| xml::read_tagging(&t))
            .transpose()
            .map_err(bad)?
            .unwrap_or_default(),
        encryption: encryption
            .map(|e| xml::read_encryption(&e))
            .transpose()
            .map_err(bad)?
            .flatten(),
        public_access_block: block
            .map(|p| protection::read_public_access_block(&p))
            .transpose()
            .map_err(bad)?,
        ownership: ownership
            .map(|o| protection::read_ownership(&o))
            .transpose()
            .map_err(bad)?
            .flatten(),
        object_lock: lock
            .map(|l| protection::read_object_lock(&l))
            .transpose()
            .map_err(bad)?
            .flatten(),
        request_payer: payment
            .map(|p| transfer::read_request_payment(&p))
            .transpose()
            .map_err(bad)?
            .flatten(),
        accelerate: accelerate
            .map(|a| transfer::read_accelerate(&a))
            .transpose()
            .map_err(bad)?
            .flatten(),
        depends_on: Vec::new(),
        objects: Some(ObjectCount {
            counted: listed.entries.len() as u64,
            more: listed.next.is_some(),
        }),
    };
    crate::domains::ResourceKind::normalize(&mut b);
    Ok(b)
}

/// The tenant's buckets (its prefix) and those named by `also`, of the account's buckets `names`.
pub async fn inspect(
    client: &Client,
    names: Vec<String>,
    tenant: &Tenant,
    also: &[Address],
) -> Result<Vec<Bucket>, S3Error> {
    let prefix = tenant.name(&super::BUCKET_PREFIX_SCOPE);
    let named: Vec<&str> = also
        .iter()
        .filter(|a| a.domain == Domain::Storage)
        .filter_map(|a| a.segments.first().map(String::as_str))
        .collect();
    let mine: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with(&prefix) || named.contains(&n.as_str()))
        .collect();
    crate::util::each_of(&mine, |n| read(client, n)).buffered(PARALLEL)
        .try_collect()
        .await
}

async fn put(client: &Client, bucket: &str, name: &str, body: Vec<u8>) -> Result<(), S3Error> {
    client
        .send(Call::new(Method::PUT, Some(bucket), name).body(body))
        .await
        .map(|_| ())
}

/// Deletes a configuration; one that is already gone counts as deleted.
async fn delete(client: &Client, bucket: &str, name: &str) -> Result<(), S3Error> {
    match client
        .send(Call::new(Method::DELETE, Some(bucket), name))
        .await
    {
        Ok(_) => Ok(()),
        Err(S3Error::Refused {
            status: 404, code, ..
        }) if code != "NoSuchBucket" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets one configuration (`field` is the manifest's name for it) as desired, or deletes it.
async fn configure(client: &Client, b: &Bucket, field: &str) -> Result<(), S3Error> {
    let name = b.name.as_str();
    match field {
        "versioning" => match b.versioning {
            Some(v) => put(client, name, "versioning", xml::versioning(v)).await,
            None => Ok(()),
        },
        "lifecycle_rule" if b.lifecycle_rule.is_empty() => delete(client, name, "lifecycle").await,
        "lifecycle_rule" => put(client, name, "lifecycle", xml::lifecycle(&b.lifecycle_rule)).await,
        "cors_rule" if b.cors_rule.is_empty() => delete(client, name, "cors").await,
        "cors_rule" => put(client, name, "cors", xml::cors(&b.cors_rule)).await,
        "policy" => match &b.policy {
            Some(p) => put(client, name, "policy", p.to_string().into_bytes()).await,
            None => delete(client, name, "policy").await,
        },
        "tags" if b.tags.is_empty() => delete(client, name, "tagging").await,
        "tags" => put(client, name, "tagging", xml::tagging(&b.tags)).await,
        "encryption" => match &b.encryption {
            Some(e) => put(client, name, "encryption", xml::encryption(e)).await,
            None => delete(client, name, "encryption").await,
        },
        "public_access_block" => match &b.public_access_block {
            Some(p) => put(client, name, "publicAccessBlock", protection::public_access_block(p)).await,
            None => delete(client, name, "publicAccessBlock").await,
        },
        "ownership" => match b.ownership {
            Some(o) => put(client, name, "ownershipControls", protection::ownership(o)).await,
            None => delete(client, name, "ownershipControls").await,
        },
        "request_payer" => {
            let payer = b.request_payer.unwrap_or(transfer::Payer::BucketOwner);
            put(client, name, "requestPayment", transfer::request_payment(payer)).await
        }
        "accelerate" => put(client, name, "accelerate", transfer::accelerate(b.accelerate == Some(true))).await,
        // Object lock cannot be disabled (the plan refuses it): only enabled or its retention changed.
        "object_lock" => match &b.object_lock {
            Some(l) => put(client, name, "object-lock", protection::object_lock(l)).await,
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The configurations a new bucket needs, in the order they are set.
const CONFIGURATIONS: &[&str] = &[
    "versioning",
    "object_lock",
    "ownership",
    "public_access_block",
    "encryption",
    "tags",
    "lifecycle_rule",
    "cors_rule",
    "policy",
    "request_payer",
    "accelerate",
];

/// The top-level fields of a bucket that an update carries out: its configurations.
pub fn carries(kind: &str, field: &str) -> bool {
    kind == "bucket" && CONFIGURATIONS.contains(&field)
}

async fn create(client: &Client, b: &Bucket) -> Result<(), S3Error> {
    let region = b.region.as_deref().unwrap_or(&client.config.region);
    let mut call = Call::new(Method::PUT, Some(&b.name), "").body(xml::create_bucket(region));
    if b.object_lock.is_some() {
        // Object lock is enabled as the bucket is made (S3 enables its versioning with it).
        call = call.header("x-amz-bucket-object-lock-enabled", "true");
    }
    client.send(call).await?;
    for field in CONFIGURATIONS {
        let set = match *field {
            "versioning" => b.versioning.is_some_and(|v| v != Versioning::Disabled),
            "object_lock" => b.object_lock.as_ref().is_some_and(|l| l.mode.is_some()),
            // S3 makes a bucket `BucketOwnerEnforced`: only another ownership is set.
            "ownership" => b.ownership.is_some_and(|o| o != protection::Ownership::BucketOwnerEnforced),
            "public_access_block" => b.public_access_block.is_some(),
            "encryption" => b.encryption.is_some(),
            "tags" => !b.tags.is_empty(),
            "lifecycle_rule" => !b.lifecycle_rule.is_empty(),
            "cors_rule" => !b.cors_rule.is_empty(),
            "request_payer" => b.request_payer.is_some(),
            "accelerate" => b.accelerate.is_some(),
            _ => b.policy.is_some(),
        };
        if set {
            just_made(|| configure(client, b, field)).await?;
        }
    }
    Ok(())
}

/// Deletes every object version and delete marker, then the bucket.
async fn remove(client: &Client, name: &str) -> Result<(), S3Error> {
    loop {
        let page = client
            .send(Call::new(Method::GET, Some(name), "versions").param("max-keys", "1000"))
            .await;
        let page = match page {
            Err(S3Error::Refused { code, .. }) if code == "NoSuchBucket" => return Ok(()),
            other => other?,
        };
        let listed = xml::read_versions(&page.body).map_err(|why| unreadable(name, why))?;
        if listed.entries.is_empty() {
            break;
        }
        client
            .send(
                Call::new(Method::POST, Some(name), "delete")
                    .body(xml::delete_objects(&listed.entries)),
            )
            .await?;
    }
    match client.send(Call::new(Method::DELETE, Some(name), "")).await {
        Err(S3Error::Refused { code, .. }) if code == "NoSuchBucket" => Ok(()),
        other => other.map(|_| ()),
    }
}

async fn apply_one(
    client: &Client,
    c: &Change,
    desired: Option<&Bucket>,
    live: Option<&Bucket>,
) -> Result<(), S3Error> {
    match (c.action, desired, live) {
        (Action::Create, Some(d), _) => create(client, d).await,
        (Action::Update, Some(d), _) => {
            for field in provider::touched(c) {
                configure(client, d, &field).await?;
            }
            Ok(())
        }
        (Action::Replace, Some(d), _) => {
            remove(client, &d.name).await?;
            create(client, d).await
        }
        (Action::Delete, _, Some(l)) => remove(client, &l.name).await,
        _ => Ok(()),
    }
}

fn buckets(items: &[Item]) -> HashMap<&Address, &Bucket> {
    items
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::StorageBucket(b) => Some((&i.address, b)),
            _ => None,
        })
        .collect()
}

/// The profile's `[storage]` table: an S3 endpoint and its credentials.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageTable {
    pub endpoint: String,
    pub region: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: SecretValue,
    /// `path` (default) or `virtual`.
    pub addressing: Option<Addressing>,
    /// A temporary credential's session token.
    pub session_token: Option<SecretValue>,
    pub tls: Option<crate::tls::TlsTable>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Addressing {
    Path,
    Virtual,
}

/// Where S3 is and how to sign in: the profile's table, else `FALCONER_S3_ENDPOINT` with
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `FALCONER_S3_ADDRESSING`.
pub fn config(table: Option<&StorageTable>, dir: &Path, env: &Env) -> Result<Config, SetupError> {
    if let Some(t) = table {
        let secret = provider::profile_secret(&t.secret_access_key, dir, "S3 secret key")?;
        return Ok(Config {
            endpoint: t.endpoint.clone(),
            region: t.region.clone().unwrap_or_else(|| "us-east-1".into()),
            access_key: t.access_key_id.clone(),
            secret_key: secret,
            virtual_host: t.addressing == Some(Addressing::Virtual),
            session_token: t
                .session_token
                .as_ref()
                .map(|s| provider::profile_secret(s, dir, "S3 session token"))
                .transpose()?,
            tls: crate::tls::Tls::of(t.tls.as_ref(), true, dir, env, ("storage", "FALCONER_S3"))?,
        });
    }
    Config::from_env(env, &["FALCONER_S3_ENDPOINT"], "FALCONER_S3")
}

impl System for Storage {
    type Table = StorageTable;
    fn in_env(env: &Env) -> bool {
        env.has("FALCONER_S3_ENDPOINT")
    }
    async fn connect(table: Option<&StorageTable>, dir: &Path, env: &Env) -> Result<Self, SetupError> {
        Ok(Storage::new(Client::new(config(table, dir, env)?)?))
    }
}

impl Provider for Storage {
    fn domain(&self) -> Domain {
        Domain::Storage
    }

    /// The connection, the account's owner and its buckets (ListBuckets: `s3:ListAllMyBuckets`, the
    /// first grant of docs/storage.md). S3 gives no version.
    async fn checkup(&self) -> Result<provider::Checkup, ProviderError> {
        let mut c = provider::Checkup::default();
        let tls = self.client.config.endpoint.starts_with("https:");
        c.fact("tls", if tls { "on (https)" } else { "none (http)" });
        let listed = self.client.send(Call::new(Method::GET, None, "")).await;
        match listed {
            Ok(r) => {
                let owner = xml::read_owner(&r.body).unwrap_or_else(|| "an account S3 does not name".into());
                let names = xml::read_bucket_names(&r.body).map(|n| n.len().to_string());
                c.fact("signed in as", owner).fact("buckets", names.unwrap_or_else(|e| e.to_string()));
            }
            Err(e) if e.code() == Some("AccessDenied") => {
                c.need(false, || format!("the account may not list the buckets ({e}): allow s3:ListAllMyBuckets (docs/storage.md)"));
            }
            Err(e) => return Err(ProviderError::backend(Domain::Storage, e)),
        }
        Ok(c)
    }

    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        let names = self.bucket_names().await;
        let names = names.map_err(|e| ProviderError::backend(Domain::Storage, e))?;
        let buckets = inspect(&self.client, names, tenant, also)
            .await
            .map_err(|e| ProviderError::backend(Domain::Storage, e))?;
        Ok(provider::sealed(
            buckets.into_iter().map(Spec::StorageBucket),
            key,
        ))
    }

    fn share_reads(&self, _tenants: &[Tenant]) {
        self.buckets.share();
    }

    /// Each tenant bucket's configuration sub-resources that no field carries (`inventory.rs`).
    async fn not_carried(
        &self,
        _tenant: &Tenant,
        carried: &[&Spec],
    ) -> Result<Option<Vec<provider::NotCarried>>, ProviderError> {
        let buckets: Vec<String> = carried
            .iter()
            .filter_map(|s| match s {
                Spec::StorageBucket(b) => Some(b.name.clone()),
                _ => None,
            })
            .collect();
        super::inventory::not_carried(&self.client, &buckets)
            .await
            .map(Some)
            .map_err(|e| ProviderError::backend(Domain::Storage, e))
    }

    /// Buckets do not depend on each other: changes of one wave run concurrently, [`PARALLEL`] at a time.
    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        _bases: &HashMap<Address, PathBuf>,
    ) -> Result<usize, ProviderError> {
        provider::refuse_uncarried(Domain::Storage, changes, carries)?;
        let (d, l) = (buckets(desired), buckets(live));
        provider::in_waves(changes, Domain::Storage, PARALLEL, |c| {
            apply_one(
                &self.client,
                c,
                d.get(&c.address).copied(),
                l.get(&c.address).copied(),
            )
        })
        .await
    }
}
