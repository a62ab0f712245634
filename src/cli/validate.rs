//! `falconer validate PATH...`

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{exit, output::Output};
use crate::manifest::LoadOptions;
use crate::ops::input::{self, Input};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Manifest files or directories, or Falcone artifacts (.json); or a fleet, as `plan` takes one (a
    /// directory of tenants, a quoted glob, a fleet file): each of its tenants is validated.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Treat risky warnings (plain-text secrets) as errors.
    #[arg(long)]
    pub strict: bool,
}

/// Validates each path; a manifest's secret `{ command }` passes where the profile allows one (validate
/// never runs it).
pub fn run(args: &Args, out: &Output, settings: &crate::ops::live::Settings) -> i32 {
    let mut code = exit::OK;
    let commands = match settings.manifest_commands() {
        Ok(c) => c,
        Err(e) => return exit::fail(out, &e),
    };
    let paths: Vec<PathBuf> = match crate::fleet::resolve(&args.paths) {
        Ok(Some(members)) => members.into_iter().map(|m| m.path).collect(),
        Ok(None) => args.paths.clone(),
        Err(e) => {
            out.error(e.to_string());
            return exit::ERROR;
        }
    };
    for path in &paths {
        let input = input::read(
            path,
            LoadOptions {
                strict: args.strict,
                commands,
                ..LoadOptions::default()
            },
        );
        out.issues(input.issues(), &input.sources());
        let warnings = input.issues().iter().filter(|i| !i.is_error()).count();
        match input.manifest() {
            Some(m) if !input.has_errors() => {
                let mut per_domain: BTreeMap<&str, usize> = BTreeMap::new();
                for r in &m.resources {
                    *per_domain.entry(r.spec.meta().domain.as_str()).or_default() += 1;
                }
                let domains = per_domain
                    .iter()
                    .map(|(d, n)| format!("{d} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let what = match &input {
                    Input::Artifact {
                        imported: Some(i), ..
                    } => format!("Falcone artifact (format {})", i.format_version),
                    _ => "manifest".to_string(),
                };
                println!(
                    "{}: valid {what}: tenant `{}`, {} resources ({}), {warnings} warning(s)",
                    path.display(),
                    m.tenant.id,
                    m.resources.len(),
                    if domains.is_empty() {
                        "none".to_string()
                    } else {
                        domains
                    },
                );
            }
            _ => {
                let errors = input.issues().iter().filter(|i| i.is_error()).count();
                println!(
                    "{}: {errors} error(s), {warnings} warning(s)",
                    path.display()
                );
                code = exit::ERROR;
            }
        }
    }
    code
}
