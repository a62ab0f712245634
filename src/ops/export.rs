//! Export: a tenant's live configuration read into resources, as `export` writes it and `backup create`
//! stores it (secrets redacted).

use crate::domains::provider::{self, NotCarried};
use std::path::Path;

use super::live::Settings;
use super::{Error, Events};
use crate::domains::Spec;
use crate::domains::provider::Provider;
use crate::manifest::{self, LoadOptions};
use crate::model::{Domain, Tenant};
use crate::state::State;

/// The domains export can read.
pub const SUPPORTED: &[Domain] = super::live::LIVE_DOMAINS;

/// The tenant to read: its naming from `manifest`'s tenant block when given, else the naming the tenant
/// registry remembers from its last apply or restore, else the defaults.
pub async fn tenant_of(
    id: &str,
    manifest: Option<&Path>,
    settings: &Settings,
    events: &dyn Events,
) -> Result<Tenant, Error> {
    match manifest {
        Some(p) => from_manifest(id, p, events).map(|(t, _)| t),
        None => Ok(remembered(id, State::open(&settings.state).await.as_ref(), events).await),
    }
}

/// [`tenant_of`], with the state store already open; with the domains the manifest declares resources
/// in (none without a manifest), read from the same load.
pub async fn tenant_in(
    id: &str,
    manifest: Option<&Path>,
    state: &State,
    events: &dyn Events,
) -> Result<(Tenant, Vec<Domain>), Error> {
    match manifest {
        Some(p) => from_manifest(id, p, events),
        None => Ok((remembered(id, Ok(state), events).await, Vec::new())),
    }
}

/// The tenant block of a manifest, which must be `id`'s, and the domains it declares resources in.
fn from_manifest(id: &str, p: &Path, events: &dyn Events) -> Result<(Tenant, Vec<Domain>), Error> {
    let loaded = manifest::load_path(p, LoadOptions::default());
    match loaded.manifest {
        Some(m) if m.tenant.id == id => {
            events.issues(&loaded.issues, &loaded.sources);
            let mut declared: Vec<Domain> = Vec::new();
            for r in &m.resources {
                let d = r.spec.meta().domain;
                if !declared.contains(&d) {
                    declared.push(d);
                }
            }
            Ok((m.tenant, declared))
        }
        Some(m) => {
            events.issues(&loaded.issues, &loaded.sources);
            Err(Error::Other(format!(
                "{} describes tenant `{}`, not `{id}`",
                p.display(),
                m.tenant.id,
            )))
        }
        None => Err(Error::Invalid {
            issues: loaded.issues,
            sources: loaded.sources,
        }),
    }
}

/// The tenant with the naming the registry remembers (the defaults when it knows none, or cannot be read:
/// said as a warning).
async fn remembered(
    id: &str,
    state: Result<&State, &crate::state::StateError>,
    events: &dyn Events,
) -> Tenant {
    let registered = match state {
        Ok(state) => state
            .registry()
            .registered(id)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    registered.unwrap_or_else(|e| {
        events.warning(&format!(
            "the tenant registry cannot be read ({e}); reading tenant `{id}` with the default naming"
        ));
        Tenant::new(id.to_string())
    })
}

/// The domains to export: those asked for (each one export can read), else every one whose connection
/// is given (at least one).
pub fn domains(asked: &[Domain], settings: &Settings) -> Result<Vec<Domain>, Error> {
    if let Some(d) = asked.iter().find(|d| !SUPPORTED.contains(d)) {
        let names: Vec<&str> = SUPPORTED.iter().map(|d| d.as_str()).collect();
        return Err(Error::Other(format!(
            "export cannot read the {d} domain ({}) yet; it reads: {}",
            d.system(),
            names.join(", ")
        )));
    }
    if !asked.is_empty() {
        return Ok(asked.to_vec());
    }
    let mut given = Vec::new();
    for d in SUPPORTED {
        if settings.configured(*d)? {
            given.push(*d);
        }
    }
    if given.is_empty() {
        return Err(Error::Other(
            "no live system to export from: set FALCONER_POSTGRES_URL, FALCONER_MONGO_URL, FALCONER_KAFKA_BOOTSTRAP, FALCONER_S3_ENDPOINT, FALCONER_KEYCLOAK_URL or FALCONER_OPENWHISK_URL, or give a profile (--profile FILE)".into(),
        ));
    }
    Ok(given)
}

/// The tenant's live resources of the domains, in the order given, and what each domain's inventory found
/// that they do not carry (said as a warning per domain).
pub async fn export(
    settings: &Settings,
    tenant: &Tenant,
    domains: &[Domain],
    events: &dyn Events,
) -> Result<(Vec<Spec>, Vec<NotCarried>), Error> {
    let mut specs = Vec::new();
    let mut left = Vec::new();
    for d in domains {
        let read = read(settings, tenant, (*d, false), events).await?;
        specs.extend(read.specs);
        left.extend(read.not_carried.unwrap_or_default());
    }
    Ok((specs, left))
}

/// A domain as read: its resources, and the objects of the tenant's scope they do not carry (`None`: the
/// domain has no inventory yet).
pub struct Read {
    pub specs: Vec<Spec>,
    pub not_carried: Option<Vec<NotCarried>>,
    /// The values of its objects that are data (a backup keeps them; an export does not write them).
    pub data: Vec<crate::domains::provider::DataValue>,
}

/// Says what a domain's inventory found that is not carried, by kind and count, and each one.
fn say_not_carried(domain: Domain, items: &[NotCarried], events: &dyn Events) {
    if items.is_empty() {
        return;
    }
    let each: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    events.warning(&format!(
        "{domain}: not carried (a manifest, export or backup does not hold them): {}: {}",
        provider::counted(items),
        each.join("; ")
    ));
}

/// The tenant's live resources of one domain, as its provider reads them for a plan (secrets redacted), and
/// when `data` is asked (a backup), the values of its objects that are data, read alongside the inventory.
pub async fn read(
    settings: &Settings,
    tenant: &Tenant,
    (domain, data): (Domain, bool),
    events: &dyn Events,
) -> Result<Read, Error> {
    let system = settings.connect(domain).await?;
    // Fingerprints are not exported: a throwaway key.
    let key = crate::secrets::FingerprintKey::new(b"export".to_vec());
    let items = system.live(tenant, &[], &key).await?;
    tracing::info!(resources = items.len(), "inspected {}", domain.system());
    for note in system.notes() {
        events.note(&note);
    }
    let specs: Vec<Spec> = items.into_iter().map(|i| i.spec).collect();
    let carried: Vec<&Spec> = specs.iter().collect();
    let values = async {
        match data {
            true => system.data(tenant, &carried).await,
            false => Ok(Vec::new()),
        }
    };
    let (not_carried, data) = tokio::try_join!(system.not_carried(tenant, &carried), values)?;
    if let Some(items) = &not_carried {
        say_not_carried(domain, items, events);
    }
    Ok(Read {
        specs,
        not_carried,
        data,
    })
}
