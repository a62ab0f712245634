//! `falconer export --tenant ID [--domain D]... [--to toml|kdl|json] [-o OUT]`: live state as a manifest.

use std::path::PathBuf;

use super::{Output, emit_manifest, exit};
use crate::domains::Spec;
use crate::domains::postgres::inspect;
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

pub fn run(args: &Args, out: &Output, settings: &super::live::Settings) -> i32 {
    let mut tenant = Tenant::new(args.tenant.clone());
    if let Some(p) = &args.manifest {
        let loaded = manifest::load_path(p, LoadOptions::default());
        out.issues(&loaded.issues, &loaded.sources);
        match loaded.manifest {
            Some(m) if m.tenant.id == args.tenant => tenant = m.tenant,
            Some(m) => {
                out.error(format!(
                    "{} describes tenant `{}`, not `{}`",
                    p.display(),
                    m.tenant.id,
                    args.tenant
                ));
                return exit::ERROR;
            }
            None => return exit::ERROR,
        }
    }
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
    let runtime = match super::live::runtime(out) {
        Ok(r) => r,
        Err(code) => return code,
    };
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
        && let Err(e) = code_files(&mut specs, path)
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
fn extension(kind: &str) -> &'static str {
    match kind.split(':').next().unwrap_or_default() {
        "nodejs" => "js",
        "python" => "py",
        "go" => "go",
        "php" => "php",
        "ruby" => "rb",
        "swift" => "swift",
        "rust" => "rs",
        "java" => "java",
        _ => "txt",
    }
}

/// Writes each action's code to a file beside the manifest (`code/<package>/<name>.<ext>`, binary code as
/// base64 in `.b64`), and makes the action name it.
fn code_files(specs: &mut [Spec], manifest: &std::path::Path) -> Result<(), String> {
    use crate::domains::functions::Code;
    let dir = manifest.parent().unwrap_or(std::path::Path::new(""));
    for s in specs {
        let Spec::FnAction(a) = s else { continue };
        let (text, ext) = match &a.code {
            Some(Code::Inline(t)) => (t.clone(), extension(&a.kind)),
            Some(Code::Base64(b)) => (b.clone() + "\n", "b64"),
            _ => continue,
        };
        let rel = format!("code/{}.{ext}", a.path());
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {}", parent.display(), e.kind()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write {}: {}", path.display(), e.kind()))?;
        a.code = Some(Code::File(rel));
    }
    Ok(())
}

/// One domain's resources of the tenant, as its live system has them.
async fn read(
    settings: &super::live::Settings,
    tenant: &Tenant,
    domain: Domain,
) -> Result<Vec<Spec>, String> {
    match domain {
        Domain::Postgres => {
            let pool = settings.postgres(4).await?;
            let r = inspect::inspect(&pool, tenant)
                .await
                .map_err(|e| format!("inspecting PostgreSQL failed: {e}"));
            pool.close().await;
            let r = r?;
            tracing::info!(
                resources = r.resources.len(),
                queries = r.queries,
                "inspected PostgreSQL"
            );
            Ok(r.resources)
        }
        Domain::Mongo => {
            let client = settings.mongo().await?;
            let r = crate::domains::mongo::inspect::inspect(&client, tenant, &[])
                .await
                .map_err(|e| {
                    format!(
                        "inspecting MongoDB failed: {}",
                        crate::domains::mongo::apply::error_message(&e)
                    )
                });
            client.shutdown().await;
            r
        }
        Domain::Kafka => {
            let admin = settings.kafka().await?;
            let prefix = tenant.kafka_topic_prefix();
            let topics = crate::domains::kafka::admin::topics(
                &admin,
                |n| n.starts_with(&prefix),
                &Default::default(),
            )
            .await?;
            use crate::domains::kafka::acl::{self, AclError};
            let acls = match acl::describe(&admin).await {
                Ok(a) => a,
                Err(AclError::NoAuthorizer) => {
                    eprintln!("note: {}; no ACLs exported", acl::NO_AUTHORIZER);
                    Vec::new()
                }
                Err(AclError::Other(m)) => return Err(format!("Kafka DescribeAcls: {m}")),
            };
            Ok(topics
                .into_iter()
                .map(Spec::KafkaTopic)
                .chain(
                    acls.into_iter()
                        .filter(|a| a.resource_name.starts_with(&prefix))
                        .map(Spec::KafkaAcl),
                )
                .collect())
        }
        Domain::Storage => {
            let client = settings.storage()?;
            let buckets = crate::domains::storage::provider::inspect(&client, tenant, &[])
                .await
                .map_err(|e| format!("inspecting S3 failed: {e}"))?;
            Ok(buckets.into_iter().map(Spec::StorageBucket).collect())
        }
        Domain::Iam => {
            let kc = settings.keycloak().await?;
            let r = crate::domains::iam::inspect::inspect(&kc, &tenant.realm())
                .await
                .map_err(|e| format!("inspecting Keycloak failed: {e}"))?;
            // Client secrets Keycloak gave in clear are dropped here: the specs hold `***REDACTED***`.
            drop(r.client_secrets);
            Ok(r.specs)
        }
        Domain::Functions => {
            let w = settings.openwhisk().await?;
            let r = crate::domains::functions::inspect::inspect(
                &w,
                &tenant.functions_namespace(),
                &Default::default(),
            )
            .await
            .map_err(|e| format!("inspecting OpenWhisk failed: {e}"))?;
            // The values of secret parameters are dropped here: the specs hold `***REDACTED***`.
            drop(r.secrets);
            Ok(r.specs)
        }
    }
}
