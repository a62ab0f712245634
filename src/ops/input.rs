//! Reading a command's input: a manifest (file or directory) or a Falcone artifact.

use std::path::Path;

use crate::diag::{Issue, Sources};
use crate::falcone::{self, Imported};
use crate::manifest::{self, LoadOptions, Loaded, Manifest};

/// What was read.
pub enum Input {
    Manifest(Loaded),
    Artifact {
        imported: Option<Imported>,
        issues: Vec<Issue>,
    },
}

impl Input {
    pub fn manifest(&self) -> Option<&Manifest> {
        match self {
            Input::Manifest(l) => l.manifest.as_ref(),
            Input::Artifact { imported, .. } => imported.as_ref().map(|i| &i.manifest),
        }
    }

    pub fn issues(&self) -> &[Issue] {
        match self {
            Input::Manifest(l) => &l.issues,
            Input::Artifact { issues, .. } => issues,
        }
    }

    pub fn sources(&self) -> Sources {
        match self {
            Input::Manifest(l) => l.sources.clone(),
            Input::Artifact { .. } => Sources::default(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.issues().iter().any(Issue::is_error)
    }
}

/// Reads a manifest or an artifact (a `.json` file whose content is a Falcone artifact).
pub fn read(path: &Path, opts: LoadOptions) -> Input {
    let is_json = path.is_file() && path.extension().and_then(|e| e.to_str()) == Some("json");
    let artifact = if is_json {
        std::fs::read_to_string(path)
            .ok()
            .as_deref()
            .and_then(falcone::detect)
    } else {
        None
    };
    let Some(v) = artifact else {
        return Input::Manifest(manifest::load_path(path, opts));
    };
    let name = path.display().to_string();
    let located = |mut i: Issue| {
        i.message = format!("{name}: {}", i.message);
        i
    };
    match falcone::import(&v) {
        Ok(imp) => {
            let issues = imp.issues.iter().cloned().map(located).collect();
            Input::Artifact {
                imported: Some(imp),
                issues,
            }
        }
        Err(issues) => Input::Artifact {
            imported: None,
            issues: issues.into_iter().map(located).collect(),
        },
    }
}
