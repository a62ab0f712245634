//! `falconer export --tenant ID [--domain D]... [--to toml|kdl|json] [-o OUT]`: live state as a manifest.

use std::path::PathBuf;

use super::terminal::Terminal;
use super::{common::emit_manifest, exit, output::Output};
use crate::domains::Spec;
use crate::manifest::{Format, Manifest, Resource};
use crate::model::Domain;
use crate::ops::{self, live::Settings};

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
    /// The manifest format written (`toml`, `kdl`, `json`).
    #[arg(long, value_enum, default_value_t = Format::Toml)]
    pub to: Format,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Exit 5 when a domain holds objects no kind carries (they are named either way; the manifest is
    /// written either way).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &Args, out: &Output, settings: &Settings) -> i32 {
    let events = Terminal::new(out);
    let read = async {
        let tenant =
            ops::export::tenant_of(&args.tenant, args.manifest.as_deref(), settings, &events)
                .await?;
        let domains = ops::export::domains(&args.domain, settings)?;
        let specs = ops::export::export(settings, &tenant, &domains, &events).await?;
        Ok::<_, ops::Error>((tenant, specs))
    };
    let (tenant, (mut specs, not_carried)) = match super::common::run_async(out, read) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return exit::fail(out, &e),
        None => return exit::ERROR,
    };
    if let Some(path) = &args.output
        && let Err(e) = externalize(&mut specs, path)
    {
        out.error(e.to_string());
        return exit::ERROR;
    }
    let mut m = Manifest::new(tenant);
    m.resources = specs
        .into_iter()
        .map(|spec| Resource { spec, span: None })
        .collect();
    match emit_manifest(&m, args.to, args.output.as_deref(), out) {
        exit::OK if args.strict && !not_carried.is_empty() => {
            out.error(format!(
                "--strict: {} not carried (named above)",
                crate::domains::provider::counted(&not_carried)
            ));
            exit::PARTIAL
        }
        code => code,
    }
}

/// Writes what the resources keep in files beside the manifest (action code), relative to `manifest`'s
/// directory; the resources then name the files.
fn externalize(
    specs: &mut [Spec],
    manifest: &std::path::Path,
) -> Result<(), crate::util::FileError> {
    use crate::util::file_error;
    let dir = manifest.parent().unwrap_or(std::path::Path::new(""));
    for s in specs {
        for (rel, text) in s.externalize() {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(file_error("create", parent))?;
            }
            std::fs::write(&path, text).map_err(file_error("write", &path))?;
        }
    }
    Ok(())
}
