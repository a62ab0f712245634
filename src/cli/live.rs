//! Planning against the live systems: what `plan` (without `--against`), `drift` and `apply` share.
//!
//! Today the live systems are PostgreSQL (`FALCONER_POSTGRES_URL`); resources of the other domains are left
//! out of a live plan, and a warning says so.

use std::path::{Path, PathBuf};

use super::Output;
use super::exit;
use crate::domains::Spec;
use crate::domains::postgres::provider;
use crate::manifest::{self, LoadOptions, Manifest};
use crate::model::Domain;
use crate::plan::{self, Item, Options, Plan};
use crate::secrets::FingerprintKey;
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

/// What a live plan needs: the state store, the tenant's fingerprint key and the database.
pub struct Context {
    pub state: State,
    pub key: FingerprintKey,
    pub pool: sqlx::PgPool,
}

impl Context {
    pub async fn open(state_url: &str, tenant: &str) -> Result<Context, String> {
        let state = State::open(state_url).await.map_err(|e| e.to_string())?;
        let key = state
            .fingerprint_key(tenant)
            .await
            .map_err(|e| e.to_string())?;
        let url = std::env::var("FALCONER_POSTGRES_URL")
            .map_err(|_| "no PostgreSQL connection: set FALCONER_POSTGRES_URL (postgres://user@host:port/database)".to_string())?;
        let pool = crate::domains::postgres::connect(&url, 4).await?;
        Ok(Context { state, key, pool })
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
        let desired = provider::desired_items(&self.pool, &d.specs, &self.key, &mut warnings)
            .await
            .map_err(|e| format!("PostgreSQL: {e}"))?;
        let managed = self
            .state
            .managed(&tenant.id)
            .await
            .map_err(|e| e.to_string())?;
        // Roles are cluster-wide: those declared or managed are read even when nothing refers to them.
        let mut roles: Vec<String> = d
            .specs
            .iter()
            .filter_map(|(s, _)| match s {
                Spec::PgRole(r) => Some(r.name.clone()),
                _ => None,
            })
            .collect();
        roles.extend(
            managed
                .iter()
                .filter(|a| a.domain == Domain::Postgres && a.kind == "role")
                .filter_map(|a| a.segments.first().cloned()),
        );
        let live = provider::live_items(&self.pool, tenant, &roles, &self.key)
            .await
            .map_err(|e| format!("PostgreSQL: {e}"))?;
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
