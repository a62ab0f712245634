//! `falconer export --tenant ID [--domain D]... [--to toml|kdl|json] [-o OUT]`: live state as a manifest.

use std::path::PathBuf;

use super::{Output, emit_manifest, exit};
use crate::domains::Spec;
use crate::domains::provider::Provider;
use crate::manifest::{self, Format, LoadOptions, Manifest, Resource};
use crate::model::{Domain, Tenant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The tenant to export.
    #[arg(long)]
    pub tenant: String,
    /// Take the tenant's naming conventions (its scope) from this manifest's `tenant` block.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Only these domains (default: every domain falconer can read whose connection is given).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<Domain>,
    #[arg(long, value_enum, default_value_t = Format::Toml)]
    pub to: Format,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// The domains export can read today.
const SUPPORTED: &[Domain] = super::live::LIVE_DOMAINS;

/// The tenant to read: its naming from `manifest`'s tenant block when given, else the naming the tenant
/// registry remembers from its last apply or restore, else the defaults.
pub(super) async fn tenant_of(
    id: &str,
    manifest: Option<&std::path::Path>,
    settings: &super::live::Settings,
    out: &Output,
) -> Result<Tenant, i32> {
    let Some(p) = manifest else {
        return Ok(remembered(id, settings).await);
    };
    let loaded = manifest::load_path(p, LoadOptions::default());
    out.issues(&loaded.issues, &loaded.sources);
    match loaded.manifest {
        Some(m) if m.tenant.id == id => Ok(m.tenant),
        Some(m) => {
            out.error(format!(
                "{} describes tenant `{}`, not `{id}`",
                p.display(),
                m.tenant.id,
            ));
            Err(exit::ERROR)
        }
        None => Err(exit::ERROR),
    }
}

/// The tenant with the naming the registry remembers (the defaults when it knows none, or cannot be read:
/// said on stderr).
async fn remembered(id: &str, settings: &super::live::Settings) -> Tenant {
    let registered = match crate::state::State::open(&settings.state).await {
        Ok(state) => state.registered(id).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    registered.unwrap_or_else(|e| {
        eprintln!(
            "warning: the tenant registry cannot be read ({e}); reading tenant `{id}` with the default naming"
        );
        Tenant::new(id.to_string())
    })
}

pub fn run(args: &Args, out: &Output, settings: &super::live::Settings) -> i32 {
    let runtime = match super::live::runtime(out) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let tenant = match runtime.block_on(tenant_of(
        &args.tenant,
        args.manifest.as_deref(),
        settings,
        out,
    )) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let domains: Vec<Domain> = if args.domain.is_empty() {
        let mut given = Vec::new();
        for d in SUPPORTED {
            match settings.configured(*d) {
                Ok(true) => given.push(*d),
                Ok(false) => {}
                Err(e) => {
                    out.error(e);
                    return exit::ERROR;
                }
            }
        }
        if given.is_empty() {
            out.error(
                "no live system to export from: set FALCONER_POSTGRES_URL, FALCONER_MONGO_URL, FALCONER_KAFKA_BOOTSTRAP, FALCONER_S3_ENDPOINT, FALCONER_KEYCLOAK_URL or FALCONER_OPENWHISK_URL, or give a profile (--profile FILE)",
            );
            return exit::ERROR;
        }
        given
    } else {
        args.domain.clone()
    };
    if let Some(d) = domains.iter().find(|d| !SUPPORTED.contains(d)) {
        out.error(format!(
            "export cannot read the {} domain ({}) yet; it reads: {}",
            d,
            d.system(),
            SUPPORTED
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return exit::ERROR;
    }
    let inspected = runtime.block_on(async {
        let mut specs = Vec::new();
        for d in &domains {
            specs.extend(read(settings, &tenant, *d).await?);
        }
        Ok::<_, String>(specs)
    });
    let mut specs = match inspected {
        Ok(i) => i,
        Err(e) => {
            out.error(e);
            return exit::ERROR;
        }
    };
    if let Some(path) = &args.output
        && let Err(e) = externalize(&mut specs, path)
    {
        out.error(e);
        return exit::ERROR;
    }
    let mut m = Manifest::new(tenant);
    m.resources = specs
        .into_iter()
        .map(|spec| Resource { spec, span: None })
        .collect();
    emit_manifest(&m, args.to, args.output.as_deref(), out)
}

/// The file extension of an action's code, by its runtime.
/// Writes what the resources keep in files beside the manifest (action code), relative to `manifest`'s
/// directory; the resources then name the files.
fn externalize(specs: &mut [Spec], manifest: &std::path::Path) -> Result<(), String> {
    let dir = manifest.parent().unwrap_or(std::path::Path::new(""));
    for s in specs {
        for (rel, text) in s.externalize() {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {}", parent.display(), e.kind()))?;
            }
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {}", path.display(), e.kind()))?;
        }
    }
    Ok(())
}

/// The tenant's live resources of one domain, as its provider reads them for a plan (secrets redacted).
pub(super) async fn read(
    settings: &super::live::Settings,
    tenant: &Tenant,
    domain: Domain,
) -> Result<Vec<Spec>, String> {
    let system = settings.connect(domain).await?;
    // Fingerprints are not exported: a throwaway key.
    let key = crate::secrets::FingerprintKey::new(b"export".to_vec());
    let items = system
        .live(tenant, &[], &key)
        .await
        .map_err(|e| format!("inspecting {} failed: {e}", domain.system()))?;
    tracing::info!(resources = items.len(), "inspected {}", domain.system());
    for note in system.notes() {
        eprintln!("note: {note}");
    }
    Ok(items.into_iter().map(|i| i.spec).collect())
}
