//! The provider trait: what a domain's live system offers falconer; each domain's `provider.rs` implements
//! it (`postgres::provider::Postgres`, ...).
//!
//! A provider reads the tenant's scope in batches (a fixed number of round trips, not one per object),
//! prepares the desired resources the way the server would store them (its plan-time checks), and carries
//! out a plan's changes of its domain, all or nothing where the backend allows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::item::{Change, Item};
use crate::domains::Spec;
use crate::model::{Address, Domain, SecretValue, Tenant};
use crate::secrets::FingerprintKey;
use crate::setup::{Env, SetupError};

/// Why a provider could not do its part. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The backend could not be read or refused a plan-time check.
    #[error("{domain}: {message}")]
    Backend { domain: Domain, message: String },
    /// A change could not be built (e.g. a secret that cannot be read).
    #[error("{domain}: {message}")]
    Change { domain: Domain, message: String },
    /// The plan changes fields that falconer has no operation for: applying would change nothing, and the
    /// next plan would show the same change again. Nothing of the domain was applied.
    #[error(
        "{domain}: cannot apply {} of {address}: falconer has no operation that changes {}; nothing was applied (change the manifest, or change it on the server by hand)",
        quoted(fields),
        if fields.len() == 1 { "it" } else { "them" }
    )]
    CannotApply {
        domain: Domain,
        address: Address,
        fields: Vec<String>,
    },
    /// The backend refused a change; nothing of the domain was applied.
    #[error(
        "{domain} refused a change, nothing was applied (the transaction was rolled back): {message}\n  statement: {statement}"
    )]
    Refused {
        domain: Domain,
        message: String,
        /// The statement as it may be shown (secrets left out).
        statement: String,
    },
    /// The backend refused a command of a domain without transactions: the commands before it stay
    /// applied, and the next apply completes the work.
    #[error(
        "{domain} refused a command after {done} command(s) of this run had been applied: {message}\n  command: {command}\n  the next apply plans from the live state and completes the rest"
    )]
    Failed {
        domain: Domain,
        message: String,
        command: String,
        done: usize,
    },
}

fn quoted(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fields of an update that no operation carries out. Each top-level field the change names is tried
/// alone: `work` gets the change narrowed to that field and the live resource with only that field as desired,
/// and says how many operations it would run. Fields with none are returned; plan and apply agree when there
/// are none. (A field `work` cannot even build, such as an unreadable secret, counts as having work: the real
/// run reports that error itself.)
pub fn idle_fields<E>(
    c: &Change,
    desired: &Spec,
    live: &Spec,
    work: impl Fn(&Change, &Spec) -> Result<usize, E>,
) -> Vec<String> {
    if c.action != crate::domains::item::Action::Update {
        return Vec::new();
    }
    let meta = live.meta();
    let Some(entry) = super::entry(meta.domain, meta.kind) else {
        return Vec::new();
    };
    let (d, l) = (desired.to_json(), live.to_json());
    touched(c)
        .into_iter()
        .filter(|field| {
            let mut one = l.clone();
            if let Some(o) = one.as_object_mut() {
                match d.get(field) {
                    Some(v) => o.insert(field.clone(), v.clone()),
                    None => o.remove(field),
                };
            }
            let Ok(alone) = (entry.from_json)(one) else {
                return false;
            };
            let narrowed = Change {
                fields: c
                    .fields
                    .iter()
                    .filter(|f| f.path.split(['.', '[']).next() == Some(field.as_str()))
                    .cloned()
                    .collect(),
                ..c.clone()
            };
            matches!(work(&narrowed, &alone), Ok(0))
        })
        .collect()
}

/// Refuses an update with fields no operation carries out ([`idle_fields`]), naming them, before anything
/// of the domain runs.
pub fn refuse_idle<E>(
    domain: Domain,
    c: &Change,
    desired: &Spec,
    live: &Spec,
    work: impl Fn(&Change, &Spec) -> Result<usize, E>,
) -> Result<(), ProviderError> {
    let fields = idle_fields(c, desired, live, work);
    if fields.is_empty() {
        return Ok(());
    }
    Err(ProviderError::CannotApply {
        domain,
        address: c.address.clone(),
        fields,
    })
}

/// Refuses the updates that touch a field no operation of the domain carries out for the kind, naming
/// them, before anything of the domain runs. For providers that call their servers as they go (the REST
/// ones): `carries(kind, field)` is the domain's own list of the top-level fields its apply sends.
pub fn refuse_uncarried(
    domain: Domain,
    changes: &[Change],
    carries: impl Fn(&str, &str) -> bool,
) -> Result<(), ProviderError> {
    for c in changes
        .iter()
        .filter(|c| c.action == super::item::Action::Update)
    {
        let fields: Vec<String> = touched(c)
            .into_iter()
            .filter(|f| !carries(c.address.kind, f))
            .collect();
        if !fields.is_empty() {
            return Err(ProviderError::CannotApply {
                domain,
                address: c.address.clone(),
                fields,
            });
        }
    }
    Ok(())
}

/// The desired resources of a plan, each with the directory its secret files are relative to.
pub type DesiredSpecs = [(Spec, PathBuf)];

#[allow(async_fn_in_trait)]
pub trait Provider {
    fn domain(&self) -> Domain;

    /// The desired resources of this domain, prepared as the server would store them, and sealed. By
    /// default, as the manifest gives them.
    async fn desired(
        &self,
        specs: &DesiredSpecs,
        key: &FingerprintKey,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Item>, ProviderError> {
        Ok(desired_of(specs, self.domain(), key, warnings))
    }

    /// Brings the desired resources of this domain to the form the server would store them in, once the
    /// live ones are read (called after [`Provider::desired`] and [`Provider::live`]): `unchanged` says,
    /// in the order of `desired`, which ones the plan already finds unchanged against their live selves,
    /// for which a provider can spare the work. By default, they are left as they are.
    async fn settle(
        &self,
        specs: &DesiredSpecs,
        desired: Vec<Item>,
        unchanged: &[bool],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        let _ = (specs, unchanged, key);
        Ok(desired)
    }

    /// The live resources of the tenant's scope, sealed. `also` names resources outside the scope to read
    /// as well (declared or managed ones, such as cluster-wide roles).
    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError>;

    /// Carries out changes of this domain (given in plan order, waves ascending), with bounded parallelism
    /// where the backend allows it; returns how many there were. `bases` gives, by address, the directory a
    /// desired resource's secret files are relative to.
    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        bases: &HashMap<Address, PathBuf>,
    ) -> Result<usize, ProviderError>;

    /// The objects of the tenant's scope that no kind carries (its inventory), given what the kinds read
    /// (`carried`, from [`Provider::live`]): `None` when the domain has no inventory yet.
    async fn not_carried(
        &self,
        tenant: &Tenant,
        carried: &[&Spec],
    ) -> Result<Option<Vec<NotCarried>>, ProviderError> {
        let _ = (tenant, carried);
        Ok(None)
    }

    /// What the system would refuse of the desired resources by a rule that needs reading it (a Kafka
    /// topic's replication factor above the cluster's brokers), given what the plan reads live (called
    /// after [`Provider::live`]; the items of every domain, of which it reads its own): each object's
    /// address and why. By default, nothing.
    async fn refusals(
        &self,
        tenant: &Tenant,
        desired: &[Item],
        live: &[Item],
    ) -> Result<Vec<(Address, String)>, ProviderError> {
        let _ = (tenant, desired, live);
        Ok(Vec::new())
    }

    /// Values of the tenant's objects that are data rather than configuration (a sequence's current value),
    /// each by its object's address: a backup takes them, a restore sets them only when asked.
    async fn data(
        &self,
        tenant: &Tenant,
        carried: &[&Spec],
    ) -> Result<Vec<DataValue>, ProviderError> {
        let _ = (tenant, carried);
        Ok(Vec::new())
    }

    /// Sets data values a backup took (their addresses already in the target's names); says of each one
    /// that could not be set why (its object is not there).
    async fn set_data(&self, values: &[DataValue]) -> Result<Vec<String>, ProviderError> {
        let _ = values;
        Ok(Vec::new())
    }

    /// What the system said while it was read that a person should know (a Kafka cluster without an
    /// authorizer has no ACLs to read); `export` prints these.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// From now on the provider only reads, for `tenants` (a fleet's `plan` or `drift`): a listing of the
    /// whole system, or of all these tenants' scopes, may be read once and shared by every tenant's read.
    /// By default, nothing changes.
    fn share_reads(&self, tenants: &[Tenant]) {
        let _ = tenants;
    }

    /// What `falconer doctor` says of the connected system: its version, the connection's TLS, who
    /// falconer is there, and which privileges of its doc's least-privilege list the account lacks.
    async fn checkup(&self) -> Result<Checkup, ProviderError> {
        Ok(Checkup::default())
    }
}

/// A connected system as `falconer doctor` found it: facts in order (`version`, `tls`, `signed in as`,
/// ...) and each privilege or setting the account lacks, in words that say what to grant.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Checkup {
    pub facts: indexmap::IndexMap<String, String>,
    pub problems: Vec<String>,
}

impl Checkup {
    pub fn fact(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.facts.insert(name.to_string(), value.into());
        self
    }

    /// A problem when `ok` is false.
    pub fn need(&mut self, ok: bool, problem: impl FnOnce() -> String) -> &mut Self {
        if !ok {
            self.problems.push(problem());
        }
        self
    }
}

/// An object of the tenant's scope that no kind carries: its kind and name in the system's own words
/// (`sequence`, `sequence app.orders_id_seq`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct NotCarried {
    pub kind: String,
    pub name: String,
}

/// A value of an object that is data rather than configuration (a sequence's current value): the object's
/// address and the value, as its domain writes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct DataValue {
    pub address: String,
    pub value: serde_json::Value,
}

/// The objects not carried, counted by kind (`2 sequence, 1 function`), in kind order.
pub fn counted(items: &[NotCarried]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for i in items {
        *counts.entry(i.kind.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a plan says of a domain's inventory: the objects no kind carries, by kind and count.
pub fn not_carried_line(domain: Domain, items: &[NotCarried]) -> String {
    format!(
        "{domain}: {} object(s) of the tenant's scope not carried (no kind manages them; the plan neither changes nor deletes them): {}",
        items.len(),
        counted(items)
    )
}

/// A listing of a whole system (Kafka's topics, MongoDB's databases, S3's buckets): read for each tenant,
/// or, once [`SharedListing::share`] is called ([`Provider::share_reads`]: a fleet's run that only reads),
/// read once for every tenant of the run. A failed read is not kept: the next tenant reads again.
pub struct SharedListing<T> {
    shared: std::sync::atomic::AtomicBool,
    cell: tokio::sync::OnceCell<T>,
}

impl<T> Default for SharedListing<T> {
    fn default() -> Self {
        SharedListing {
            shared: std::sync::atomic::AtomicBool::new(false),
            cell: tokio::sync::OnceCell::new(),
        }
    }
}

impl<T: Clone> SharedListing<T> {
    /// From now on, the listing is read once.
    pub fn share(&self) {
        self.shared.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The listing: `read` now, or the run's one.
    pub async fn get<E, Fut>(&self, read: impl FnOnce() -> Fut) -> Result<T, E>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        if !self.shared.load(std::sync::atomic::Ordering::SeqCst) {
            return read().await;
        }
        self.cell.get_or_try_init(read).await.cloned()
    }
}

/// A domain's live system as the registry (`systems!` in `domains/mod.rs`) knows it: its provider, its table
/// in the connection profile, and how to reach it from that table or, without one, from the environment.
#[allow(async_fn_in_trait)]
pub trait System: Provider + Sized {
    /// The profile's table for this system (`[postgres]`, `[iam]`, ...).
    type Table: serde::de::DeserializeOwned + std::fmt::Debug;
    /// Whether the environment says where the system is (consulted when the profile has no table).
    fn in_env(env: &Env) -> bool;
    /// Connects (and checks that the system answers), from the profile's table (secret files relative to
    /// `dir`) or the environment.
    async fn connect(
        table: Option<&Self::Table>,
        dir: &Path,
        env: &Env,
    ) -> Result<Self, SetupError>;
}

/// The profile table of a system reached by one URL: `url`, and the password apart from it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlTable {
    /// The system's URL (`postgres://user@host:port/database`, `mongodb://user@host:port/`, the Kafka
    /// bootstrap list); a password in it works but belongs in `password`.
    pub url: String,
    pub password: Option<SecretValue>,
    /// `[<table>.tls]`: how the connection is encrypted and the server checked.
    pub tls: Option<crate::tls::TlsTable>,
}

/// A connection: the URL and, apart from it, the password and the TLS settings.
pub struct Connection {
    pub url: String,
    pub password: Option<String>,
    pub tls: crate::tls::Tls,
}

/// Reads a secret of the profile (files relative to `dir`); errors say which one, never its value.
pub fn profile_secret(secret: &SecretValue, dir: &Path, what: &str) -> Result<String, SetupError> {
    crate::secrets::resolve_profile(secret, dir)
        .map_err(|why| SetupError::Secret {
            what: what.to_string(),
            from: secret.describe(),
            why: why.0,
        })?
        .ok_or_else(|| SetupError::Secret {
            what: what.to_string(),
            from: secret.describe(),
            why: "it is a redaction marker, not a value".into(),
        })
}

/// Where a system reached by URL is: its profile table, else the environment variable `var` (whose value
/// looks like `shape`).
pub fn connection(
    table: Option<&UrlTable>,
    dir: &Path,
    env: &Env,
    domain: Domain,
    (var, shape): (&'static str, &str),
) -> Result<Connection, SetupError> {
    let system = domain.system();
    // FALCONER_POSTGRES_URL → FALCONER_POSTGRES_TLS_*.
    let prefix = var.rsplit_once('_').map_or(var, |(p, _)| p);
    let tls = crate::tls::Tls::of(
        table.and_then(|t| t.tls.as_ref()),
        table.is_some(),
        dir,
        env,
        (domain.as_str(), prefix),
    )?;
    if let Some(t) = table {
        let password = t
            .password
            .as_ref()
            .map(|s| profile_secret(s, dir, &format!("{system} password")))
            .transpose()?;
        return Ok(Connection {
            url: t.url.clone(),
            password,
            tls,
        });
    }
    env.get(var)
        .map(|url| Connection {
            url,
            password: None,
            tls,
        })
        .ok_or_else(|| SetupError::NotConfigured {
            system,
            what: "connection",
            vars: format!("{var} ({shape})"),
            table: domain.as_str(),
        })
}

/// The desired resources of one domain, sealed (each with its secret files' directory).
pub fn desired_of(
    specs: &DesiredSpecs,
    domain: Domain,
    key: &FingerprintKey,
    warnings: &mut Vec<String>,
) -> Vec<Item> {
    specs
        .iter()
        .filter(|(s, _)| s.meta().domain == domain)
        .map(|(s, b)| Item::new(s.clone(), b, key, warnings))
        .collect()
}

/// The resources of one domain among `items`, by address.
pub fn by_address(items: &[Item], domain: Domain) -> HashMap<&Address, &Spec> {
    items
        .iter()
        .filter(|i| i.address.domain == domain)
        .map(|i| (&i.address, &i.spec))
        .collect()
}

/// Live resources, sealed (a server gives back no secret value to seal).
pub fn sealed(specs: impl IntoIterator<Item = Spec>, key: &FingerprintKey) -> Vec<Item> {
    let mut warnings = Vec::new();
    specs
        .into_iter()
        .map(|s| Item::new(s, std::path::Path::new(""), key, &mut warnings))
        .collect()
}

/// The changes of one domain, grouped by wave, waves ascending, plan order kept within each.
pub fn by_wave(changes: &[Change], domain: Domain) -> Vec<Vec<&Change>> {
    let mut waves: std::collections::BTreeMap<usize, Vec<&Change>> = Default::default();
    for c in changes.iter().filter(|c| c.kind.domain == domain) {
        waves.entry(c.wave).or_default().push(c);
    }
    waves.into_values().collect()
}

/// The top-level fields a change touches (`lifecycle_rule[2].expiration.days` → `lifecycle_rule`), in plan
/// order, each once.
pub fn touched(c: &Change) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &c.fields {
        let top = f.path.split(['.', '[']).next().unwrap_or_default();
        if !out.iter().any(|o| o == top) {
            out.push(top.to_string());
        }
    }
    out
}

/// Carries out the changes of one domain wave by wave, `parallel` at a time within a wave, for backends without transactions: the first failure stops the run, and the error says how many
/// changes were done before it. Returns how many there were.
pub async fn in_waves<'c, F, Fut, E>(
    changes: &'c [Change],
    domain: Domain,
    parallel: usize,
    apply: F,
) -> Result<usize, ProviderError>
where
    F: Fn(&'c Change) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    use futures_util::{StreamExt, TryStreamExt};
    let waves = by_wave(changes, domain);
    let mut done = 0;
    for wave in &waves {
        let finished: Vec<()> = crate::util::each_of(wave, |c| {
            let run = apply(c);
            async move {
                run.await
                    .map_err(|e| (c.address.to_string(), e.to_string()))
            }
        })
        .buffer_unordered(parallel)
        .try_collect()
        .await
        .map_err(|(address, message)| ProviderError::Failed {
            domain,
            message,
            command: address,
            done,
        })?;
        done += finished.len();
    }
    Ok(done)
}

/// Why an HTTP request failed, in words: the error and its causes, without the URL (which the caller names).
pub fn http_why(e: reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        causes.push(s.to_string());
        src = s.source();
    }
    let mut why = e.without_url().to_string();
    for c in causes {
        if !why.contains(&c) {
            why = format!("{why}: {c}");
        }
    }
    why
}

/// An HTTP API's base address (`system`'s), checked: http(s), a host, no credentials in it (they belong in
/// the profile), no query.
pub fn http_base(url: &str, system: &str) -> Result<reqwest::Url, SetupError> {
    let setting = format!("the {system} URL");
    let mut base = reqwest::Url::parse(url.trim_end_matches('/'))
        .map_err(|e| SetupError::setting(&setting, format!("is not valid: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        let why = format!("{} is not an http(s) address", base.as_str());
        return Err(SetupError::setting(setting, why));
    }
    if !base.username().is_empty() || base.password().is_some() {
        let why = "holds credentials: give them in the profile instead";
        return Err(SetupError::setting(setting, why));
    }
    base.set_query(None);
    Ok(base)
}

/// An HTTP client with the timeouts of the system being connected (`crate::util::timeouts`: to connect,
/// and each request) and its TLS settings.
pub fn http_client(system: &str, tls: &crate::tls::Tls) -> Result<reqwest::Client, SetupError> {
    let t = crate::util::timeouts();
    let builder = reqwest::Client::builder()
        .timeout(t.request)
        .connect_timeout(t.connect);
    tls.http(builder, system)?.build().map_err(|e| {
        let why = format!("cannot be set up: {}", http_why(e));
        SetupError::setting(format!("the {system} HTTP client"), why)
    })
}

/// A failed TLS handshake behind an HTTP error, in words with what to set; `None` for any other failure.
pub fn http_tls(e: &reqwest::Error, tls: &crate::tls::Tls) -> Option<String> {
    crate::tls::failure(e).map(|f| crate::tls::advice(&f, &|k| tls.key(k)))
}

/// `base` with `segments` appended, each percent-encoded.
pub fn http_join(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
    let mut u = base.clone();
    if let Ok(mut p) = u.path_segments_mut() {
        p.pop_if_empty();
        p.extend(segments);
    }
    u
}

/// A value a provider learns while planning (the tenant's realm or namespace) and needs when applying.
#[derive(Default)]
pub struct Remembered(std::sync::Mutex<Option<String>>);

impl Remembered {
    pub fn set(&self, v: String) {
        if let Ok(mut x) = self.0.lock() {
            *x = Some(v);
        }
    }

    /// The value, or an error naming what was not learned.
    pub fn get(&self, domain: Domain, what: &str) -> Result<String, ProviderError> {
        self.0
            .lock()
            .ok()
            .and_then(|x| x.clone())
            .ok_or_else(|| ProviderError::Change {
                domain,
                message: format!("the {what} was not read before the apply"),
            })
    }
}

impl ProviderError {
    /// The domain whose system failed.
    pub fn domain(&self) -> Domain {
        match self {
            ProviderError::Backend { domain, .. }
            | ProviderError::Change { domain, .. }
            | ProviderError::CannotApply { domain, .. }
            | ProviderError::Refused { domain, .. }
            | ProviderError::Failed { domain, .. } => *domain,
        }
    }

    /// The backend could not be read.
    pub fn backend(domain: Domain, e: impl std::fmt::Display) -> ProviderError {
        ProviderError::Backend {
            domain,
            message: e.to_string(),
        }
    }
}

/// What a JSON value is, in words, for errors about answers of the wrong shape ("the answer is not a list:
/// it is an object").
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The words of an HTTP error body: the first of `keys` the JSON body has as a string, else the body's own
/// text (at most 300 characters).
pub fn http_message(body: &[u8], keys: &[&str]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(m) = keys.iter().find_map(|k| v.get(*k).and_then(|m| m.as_str())) {
        return m.to_string();
    }
    let t = String::from_utf8_lossy(body);
    let t = t.trim();
    if t.is_empty() {
        "no details given".into()
    } else {
        t.chars().take(300).collect()
    }
}
