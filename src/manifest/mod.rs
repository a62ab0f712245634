//! Manifests: load TOML, KDL and JSON files (or a directory of them) into one tenant manifest, validate
//! it, and write it back in any of the three formats.
//!
//! A manifest file has a `format_version`, at most one `tenant` block (exactly one across all files), and
//! one section per domain holding lists of resources by kind: `[[postgres.table]]`, `kafka { topic ... }`.

mod decode;
mod load;
pub mod schema;
pub mod snapshot;
mod validate;
pub mod write;

pub use decode::{Decoded, check_format_version, decode, from_trees};
pub use load::{load_document, load_path, load_str, manifest_files, read_tree};
pub use validate::validate;

pub use crate::syntax::{de, tree};

use std::path::{Path, PathBuf};

use crate::diag::{Issue, Sources, Span};
use crate::domains::Spec;
use crate::model::{Address, Tenant};

/// The manifest format this falconer writes. Older versions are upgraded by `falconer migrate`.
pub const FORMAT_VERSION: &str = "1";
/// Every manifest format version this falconer reads, oldest first.
pub const KNOWN_VERSIONS: &[&str] = &["1"];

/// The formats a manifest can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Toml,
    Kdl,
    Json,
}

impl Format {
    pub fn from_path(p: &Path) -> Option<Format> {
        match p.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "kdl" => Some(Format::Kdl),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::Kdl => "kdl",
            Format::Json => "json",
        }
    }
}

/// One resource of a manifest, with where it was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub spec: Spec,
    pub span: Option<Span>,
}

impl Resource {
    pub fn address(&self) -> Address {
        self.spec.address()
    }
}

/// A tenant's desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub format_version: String,
    pub tenant: Tenant,
    pub resources: Vec<Resource>,
}

impl Manifest {
    /// Puts the text of the files resources name (code files, relative to `base`) into the resources
    /// themselves, so that the manifest stands alone wherever it is written; the files that could not be
    /// (unreadable, or not text), by resource.
    pub fn inline_files(&mut self, base: &std::path::Path) -> Vec<String> {
        let read = |rel: &str| std::fs::read_to_string(base.join(rel)).ok();
        let mut left = Vec::new();
        for r in &mut self.resources {
            r.spec.internalize(&read);
            for (what, rel) in r.spec.files() {
                left.push(format!("{}: its {what} {rel}", r.spec.address()));
            }
        }
        left
    }

    pub fn new(tenant: Tenant) -> Self {
        Manifest {
            format_version: FORMAT_VERSION.to_string(),
            tenant,
            resources: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Treat warnings that hide risks (plain-text secrets) as errors.
    pub strict: bool,
    /// References to objects not declared are warnings, not errors: the objects may exist live (artifacts
    /// and backups, which do not always carry what they refer to; a restore checks them against the live
    /// systems).
    pub external_refs: bool,
    /// The profile sets `allow_manifest_commands = true`: a secret `{ command }` is not an error (a live
    /// plan or apply runs it; nothing else does).
    pub commands: bool,
}

/// The result of loading: the manifest (when there were no errors), every issue, and the files read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub manifest: Option<Manifest>,
    pub issues: Vec<Issue>,
    pub sources: Sources,
    /// The path of each file, by file id.
    pub files: Vec<PathBuf>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(Issue::is_error)
    }

    /// Every issue in its one-line form (`file:line:col: error[code]: message`), one per line.
    pub fn messages(&self) -> String {
        self.issues
            .iter()
            .map(|i| i.short(&self.sources))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
