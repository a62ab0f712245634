//! `falconer migrate INPUT [-o OUT]`: upgrade a Falcone artifact or a manifest to the current format.

use std::path::{Path, PathBuf};

use super::{common::now_rfc3339, common::write_atomic, exit, output::Output};
use crate::diag::{Issue, Sources};
use crate::falcone;
use crate::manifest::{self, FORMAT_VERSION, Format};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A Falcone artifact (.json) or a manifest file (.toml, .kdl, .json).
    pub input: PathBuf,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: &Args, out: &Output) -> i32 {
    let text = match std::fs::read_to_string(&args.input) {
        Ok(t) => t,
        Err(e) => {
            out.error(format!("cannot read {}: {e}", args.input.display()));
            return exit::ERROR;
        }
    };
    let result = match falcone::detect(&text) {
        Some(v) => migrate_artifact(v),
        None => migrate_manifest(&args.input, &text),
    };
    let (migrated, note) = match result {
        Ok(r) => r,
        Err(issue) => {
            let mut issue = *issue;
            issue.message = format!("{}: {}", args.input.display(), issue.message);
            out.issues(&[issue], &Sources::default());
            return exit::ERROR;
        }
    };
    eprintln!("{}: {note}", args.input.display());
    match &args.output {
        Some(p) => {
            if let Err(e) = write_atomic(p, &migrated) {
                out.error(format!("cannot write {}: {e}", p.display()));
                return exit::ERROR;
            }
        }
        None => print!("{migrated}"),
    }
    exit::OK
}

fn migrate_artifact(v: serde_json::Value) -> Result<(String, String), Box<Issue>> {
    let m = falcone::migrate(v, &now_rfc3339())?;
    let note = if m.steps.is_empty() {
        format!("already at format {}", falcone::CURRENT_VERSION)
    } else {
        format!("migrated {} (steps: {})", m.from, m.steps.join(", "))
    };
    let out = serde_json::to_string_pretty(&m.value)
        .map_err(|e| Box::new(Issue::error("io", e.to_string())))?
        + "\n";
    Ok((out, note))
}

/// Manifests: the chain of steps is empty so far (format 1 is the first); a file without a version is
/// stamped with the current one, keeping its text (and comments) as they are.
fn migrate_manifest(path: &Path, text: &str) -> Result<(String, String), Box<Issue>> {
    let format = Format::from_path(path).ok_or_else(|| {
        Box::new(Issue::error(
            "io",
            "not a manifest file (.toml, .kdl or .json) nor a Falcone artifact",
        ))
    })?;
    let mut sources = Sources::default();
    let (_, tree) = manifest::read_tree(
        &mut sources,
        &path.display().to_string(),
        text.to_string(),
        format,
    );
    let tree = tree.map_err(|mut issues| {
        let first = issues.remove(0);
        let loc = first.span.map(|s| sources.location(s)).unwrap_or_default();
        Box::new(Issue::error(
            first.code,
            format!("{loc}: {}", first.message),
        ))
    })?;
    let version = match &tree.val {
        crate::syntax::tree::Val::Obj(o) => o.get("format_version").map(|n| match &n.val {
            crate::syntax::tree::Val::Str(s) => s.clone(),
            crate::syntax::tree::Val::Int(i) => i.to_string(),
            _ => String::from("?"),
        }),
        _ => None,
    };
    match version {
        Some(v) => {
            manifest::check_format_version(&v).map_err(|e| {
                Box::new(
                    Issue::error("format-version", e)
                        .help("upgrade falconer to read this manifest"),
                )
            })?;
            Ok((
                text.to_string(),
                format!("already at manifest format {FORMAT_VERSION}"),
            ))
        }
        None => {
            let stamped = match format {
                Format::Toml => format!("format_version = \"{FORMAT_VERSION}\"\n{text}"),
                Format::Kdl => format!("format_version \"{FORMAT_VERSION}\"\n{text}"),
                Format::Json => {
                    let v: serde_json::Value = serde_json::from_str(text)
                        .map_err(|e| Box::new(Issue::error("syntax", e.to_string())))?;
                    let mut o = serde_json::Map::new();
                    o.insert("format_version".into(), FORMAT_VERSION.into());
                    if let serde_json::Value::Object(rest) = v {
                        o.extend(rest);
                    }
                    serde_json::to_string_pretty(&serde_json::Value::Object(o))
                        .map_err(|e| Box::new(Issue::error("io", e.to_string())))?
                        + "\n"
                }
            };
            Ok((
                stamped,
                format!("stamped with manifest format {FORMAT_VERSION}"),
            ))
        }
    }
}
