//! Loading manifest files and directories: finding the files, reading each into a tree, and the checks
//! that need the files themselves (the files resources name).

use std::path::{Path, PathBuf};

use super::*;
use crate::diag::{Issue, Sources, sort_issues};
use tree::Node;

/// Lists the manifest files of a path: the file itself, or every `.toml`, `.kdl` and `.json` file under a
/// directory (recursively, sorted, hidden entries skipped).
pub fn manifest_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(p);
            } else if Format::from_path(&p).is_some() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one file into the spanned tree.
pub fn read_tree(
    sources: &mut Sources,
    name: &str,
    text: String,
    format: Format,
) -> (u32, Result<Node, Vec<Issue>>) {
    let id = sources.add(name, text);
    let text = sources.get(id).map(|f| f.text.clone()).unwrap_or_default();
    let res = match format {
        Format::Toml => tree::read_toml(id, &text),
        Format::Kdl => tree::read_kdl(id, &text),
        Format::Json => tree::read_json(id, &text),
    };
    (id, res)
}

/// Loads and validates the manifest at `path` (a file or a directory).
pub fn load_path(path: &Path, opts: LoadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    let files = match manifest_files(path) {
        Ok(f) => f,
        Err(e) => {
            loaded.issues.push(
                Issue::error("io", format!("cannot read {}: {e}", path.display()))
                    .help("give a manifest file or a directory of .toml, .kdl or .json files"),
            );
            return loaded;
        }
    };
    if files.is_empty() {
        loaded.issues.push(
            Issue::error(
                "no-manifest",
                format!("no manifest files in {}", path.display()),
            )
            .help("manifest files end in .toml, .kdl or .json"),
        );
        return loaded;
    }
    let mut trees = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let text = match std::fs::read(f) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    loaded
                        .issues
                        .push(Issue::error("io", format!("{name} is not UTF-8 text")));
                    continue;
                }
            },
            Err(e) => {
                loaded
                    .issues
                    .push(Issue::error("io", format!("cannot read {name}: {e}")));
                continue;
            }
        };
        let format = Format::from_path(f).unwrap_or(Format::Toml);
        tracing::debug!(file = %name, bytes = text.len(), "reading manifest file");
        if format == Format::Json
            && serde_json::from_str::<serde_json::Value>(&text)
                .is_ok_and(|v| crate::syntax::is_artifact(&v))
        {
            loaded.issues.push(
                Issue::error("artifact-in-manifest", format!("{name} is a Falcone export artifact, not a manifest file"))
                    .help("give an artifact to falconer on its own (`falconer convert ARTIFACT` turns it into a manifest)"),
            );
            continue;
        }
        let (id, res) = read_tree(&mut loaded.sources, &name, text, format);
        while loaded.files.len() < id as usize {
            loaded.files.push(PathBuf::new());
        }
        loaded.files.push(f.clone());
        match res {
            Ok(node) => trees.push(node),
            Err(issues) => loaded.issues.extend(issues),
        }
    }
    let parse_failed = trees.len() < files.len();
    let (manifest, mut issues, secret_spans) = from_trees(&trees, opts);
    for span in secret_spans {
        loaded.sources.mask(span);
    }
    if parse_failed {
        // The tenant block may be in the file that did not parse: do not report it missing.
        issues.retain(|i| i.code != "no-tenant");
    }
    loaded.issues.extend(issues);
    check_files(manifest.as_ref(), &loaded.files, &mut loaded.issues);
    sort_issues(&mut loaded.issues);
    if !loaded.has_errors() {
        loaded.manifest = manifest;
    }
    loaded
}

/// Loads a manifest from text (for tests and tools); `name` is shown in messages.
pub fn load_str(name: &str, text: &str, format: Format, opts: LoadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    let (_, res) = read_tree(&mut loaded.sources, name, text.to_string(), format);
    loaded.files.push(PathBuf::from(name));
    match res {
        Ok(node) => {
            let (m, issues, secret_spans) = from_trees(std::slice::from_ref(&node), opts);
            for span in secret_spans {
                loaded.sources.mask(span);
            }
            loaded.issues.extend(issues);
            sort_issues(&mut loaded.issues);
            if !loaded.has_errors() {
                loaded.manifest = m;
            }
        }
        Err(issues) => loaded.issues = issues,
    }
    loaded
}

/// Checks that the files resources name (an action's code) exist, relative to the file that names them.
fn check_files(m: Option<&Manifest>, files: &[PathBuf], issues: &mut Vec<Issue>) {
    let Some(m) = m else { return };
    for r in &m.resources {
        for (what, rel) in r.spec.files() {
            let base = r
                .span
                .and_then(|s| files.get(s.file as usize))
                .and_then(|p| p.parent())
                .unwrap_or(Path::new("."));
            let p = base.join(&rel);
            if !p.is_file() {
                issues.push(
                    Issue::error(
                        "missing-file",
                        format!("{what} {} of {} does not exist", p.display(), r.spec.address()),
                    )
                    .at_opt(r.span)
                    .help("file paths in a manifest are relative to the manifest file that names them"),
                );
            }
        }
    }
}

/// A JSON document of resources (a backup's domain document, falconer's copy in an artifact) loaded as one
/// manifest, with every check `validate` makes (references may be to live objects). Its problems, one per
/// line, each named by its JSON pointer in the document (`/postgres/table/0/column/0/type`) rather than by
/// a line of a generated text no file holds.
pub fn load_document(name: &str, doc: &serde_json::Value) -> Result<Manifest, String> {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let opts = LoadOptions {
        external_refs: true,
        ..LoadOptions::default()
    };
    let mut loaded = load_str(name, &text, Format::Json, opts);
    if let Some(m) = loaded.manifest.take() {
        return Ok(m);
    }
    if let Ok(tree) = crate::syntax::tree::read_json(0, &text) {
        for i in &mut loaded.issues {
            if let Some(span) = i.span.take() {
                i.path = Some(tree.pointer_at(span.start));
                i.related.clear();
            }
        }
    }
    Err(loaded.messages())
}
