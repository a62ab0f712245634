//! Planning against the live systems: what `plan` (without `--against`), `drift` and `apply` share.
//!
//! Today the live systems are PostgreSQL (the `--profile` file or `FALCONER_POSTGRES_URL`); resources of the other domains are left
//! out of a live plan, and a warning says so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Output;
use super::exit;
use crate::domains::Spec;
use crate::domains::postgres::provider::Postgres;
use crate::domains::provider::Provider;
use crate::manifest::{self, LoadOptions, Manifest};
use crate::model::{Address, Domain};
use crate::plan::{self, Action, Item, Options, Plan};
use crate::profile::Profile;
use crate::secrets::{self, FingerprintKey};
use crate::state::State;

/// The domains falconer can plan and apply against live systems so far.
pub const LIVE_DOMAINS: &[Domain] = &[Domain::Postgres];

/// A loaded manifest, with the directory of each resource's file.
pub struct Desired {
    pub manifest: Manifest,
    pub specs: Vec<(Spec, PathBuf)>,
}

/// Loads a manifest for a live plan; problems are printed.
pub fn load(path: &Path, out: &Output) -> Result<Desired, i32> {
    let loaded = manifest::load_path(path, LoadOptions::default());
    out.issues(&loaded.issues, &loaded.sources);
    let Some(m) = loaded.manifest.clone() else {
        return Err(exit::ERROR);
    };
    let specs = m
        .resources
        .iter()
        .map(|r| {
            let base = r
                .span
                .and_then(|s| loaded.files.get(s.file as usize))
                .and_then(|p| p.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default();
            (r.spec.clone(), base)
        })
        .collect();
    Ok(Desired { manifest: m, specs })
}

/// Where the state store and the live systems are (`--state`, `--profile`).
pub struct Settings {
    pub state: String,
    pub profile: Option<PathBuf>,
}

impl Settings {
    /// A pool of `max` connections to PostgreSQL, from the profile or `FALCONER_POSTGRES_URL`.
    pub async fn postgres(&self, max: u32) -> Result<sqlx::PgPool, String> {
        let profile = match &self.profile {
            Some(p) => Some(Profile::load(p)?),
            None => None,
        };
        let c = Profile::postgres(profile.as_ref())?;
        crate::domains::postgres::connect(&c.url, c.password.as_deref(), max).await
    }
}

/// What a live plan needs: the state store, the tenant's fingerprint key and the live systems.
pub struct Context {
    pub state: State,
    pub key: FingerprintKey,
    pub postgres: Postgres,
}

impl Context {
    pub async fn open(settings: &Settings, tenant: &str) -> Result<Context, String> {
        let state = State::open(&settings.state)
            .await
            .map_err(|e| e.to_string())?;
        let key = state
            .fingerprint_key(tenant)
            .await
            .map_err(|e| e.to_string())?;
        let pool = settings.postgres(4).await?;
        Ok(Context {
            state,
            key,
            postgres: Postgres { pool },
        })
    }

    /// Plans the desired state against the live one, deleting only what the state store says falconer
    /// manages.
    pub async fn plan(
        &self,
        d: &Desired,
        opts: Options,
    ) -> Result<(Plan, Vec<Item>, Vec<Item>), String> {
        let mut warnings = Vec::new();
        let skipped: Vec<String> = Domain::ALL
            .iter()
            .filter(|dom| !LIVE_DOMAINS.contains(dom))
            .filter(|dom| d.specs.iter().any(|(s, _)| s.meta().domain == **dom))
            .map(|dom| dom.as_str().to_string())
            .collect();
        if !skipped.is_empty() {
            warnings.push(format!(
                "left out of this live plan (not yet supported against live systems): {}",
                skipped.join(", ")
            ));
        }
        let tenant = &d.manifest.tenant;
        let managed = self
            .state
            .managed(&tenant.id)
            .await
            .map_err(|e| e.to_string())?;
        // Declared and managed resources are read even outside the tenant's scope (cluster-wide roles).
        let mut also: Vec<Address> = d.specs.iter().map(|(s, _)| s.address()).collect();
        also.extend(managed.iter().cloned());
        let desired = self
            .postgres
            .desired(&d.specs, &self.key, &mut warnings)
            .await
            .map_err(|e| e.to_string())?;
        let mut live = self
            .postgres
            .live(tenant, &also, &self.key)
            .await
            .map_err(|e| e.to_string())?;
        let recorded = self
            .state
            .secret_fingerprints(&tenant.id)
            .await
            .map_err(|e| e.to_string())?;
        with_recorded_secrets(&mut live, &recorded);
        let opts = Options {
            managed: Some(managed),
            ..opts
        };
        let mut p = plan::make(tenant, &desired, &live, &opts).map_err(|e| e.to_string())?;
        warnings.append(&mut p.warnings);
        p.warnings = warnings;
        Ok((p, desired, live))
    }
}

/// Fills in the secrets a server cannot give back (sealed as unknown) with the fingerprints of what falconer
/// last set, so that a changed secret plans as a change.
fn with_recorded_secrets(live: &mut [Item], recorded: &HashMap<(String, String), String>) {
    if recorded.is_empty() {
        return;
    }
    for item in live {
        let address = item.address.to_string();
        let Some(fields) = item.value.as_object_mut() else {
            continue;
        };
        for (field, v) in fields.iter_mut() {
            if secrets::sealed(v) == Some(None)
                && let Some(fp) = recorded.get(&(address.clone(), field.clone()))
            {
                *v = serde_json::json!({ secrets::SENSITIVE: fp });
            }
        }
    }
}

/// The fingerprints of the secrets a successful apply set: every known top-level secret of a created or
/// replaced resource, and of an updated one the secrets its change names.
pub fn secrets_set(plan: &Plan, desired: &[Item]) -> Vec<(String, String, String)> {
    let by_address: HashMap<String, &Item> =
        desired.iter().map(|i| (i.address.to_string(), i)).collect();
    let mut out = Vec::new();
    for c in &plan.changes {
        let Some(item) = by_address.get(&c.address) else {
            continue;
        };
        let Some(fields) = item.value.as_object() else {
            continue;
        };
        for (field, v) in fields {
            let Some(Some(fp)) = secrets::sealed(v) else {
                continue;
            };
            let set = match c.action {
                Action::Create | Action::Replace => true,
                Action::Update => c.fields.iter().any(|f| f.path == *field),
                Action::Delete => false,
            };
            if set {
                out.push((c.address.clone(), field.clone(), fp.to_string()));
            }
        }
    }
    out
}

/// Loads a manifest and plans it against the live systems; problems are printed, and `Err` is the exit
/// code.
pub fn plan_path(
    path: &Path,
    opts: Options,
    out: &Output,
    settings: &Settings,
) -> Result<Plan, i32> {
    let desired = load(path, out)?;
    let rt = runtime(out)?;
    rt.block_on(async {
        let cx = Context::open(settings, &desired.manifest.tenant.id).await?;
        cx.plan(&desired, opts).await
    })
    .map(|(p, _, _)| p)
    .map_err(|e| {
        out.error(e);
        exit::ERROR
    })
}

/// A current-thread async runtime for one command.
pub fn runtime(out: &Output) -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            out.error(format!("cannot start the async runtime: {e}"));
            exit::ERROR
        })
}
