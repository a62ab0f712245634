//! Manifests: load TOML, KDL and JSON files (or a directory of them) into one tenant manifest, validate
//! it, and write it back in any of the three formats.
//!
//! A manifest file has a `format_version`, at most one `tenant` block (exactly one across all files), and
//! one section per domain holding lists of resources by kind: `[[postgres.table]]`, `kafka { topic ... }`.

pub mod schema;
pub mod snapshot;
pub mod write;

pub use crate::syntax::{de, tree};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Issue, Sources, Span, did_you_mean, sort_issues};
use crate::domains::{self, Checker, Origin, Spec, place};
use crate::model::tenant::check_tenant_id;
use crate::model::{Address, Domain, Tenant};
use de::{Ctx, from_node};
use tree::{Node, Val};

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

const TOP_KEYS: &[&str] = &[
    "format_version",
    "tenant",
    "iam",
    "postgres",
    "mongo",
    "kafka",
    "functions",
    "storage",
];

/// Checks a manifest format version.
pub fn check_format_version(v: &str) -> Result<(), String> {
    if KNOWN_VERSIONS.contains(&v) {
        return Ok(());
    }
    match v.parse::<u32>() {
        Ok(n) if n > FORMAT_VERSION.parse::<u32>().unwrap_or(0) => Err(format!(
            "manifest format version {v} is newer than this falconer understands (it reads {})",
            KNOWN_VERSIONS.join(", ")
        )),
        _ => Err(format!(
            "unknown manifest format version {v:?} (this falconer reads {})",
            KNOWN_VERSIONS.join(", ")
        )),
    }
}

/// Decoded files: the tenant (with where its block is) and every resource with its node.
pub struct Decoded<'a> {
    pub tenant: Option<(Tenant, Span)>,
    pub resources: Vec<(Spec, &'a Node)>,
    pub issues: Vec<Issue>,
}

/// Decodes trees (one per file) into typed resources, without the semantic checks of [`validate`].
pub fn decode(trees: &[Node]) -> Decoded<'_> {
    let cx = Ctx::default();
    let mut issues = Vec::new();
    let mut tenant: Option<(Tenant, Span)> = None;
    let mut decoded: Vec<(Spec, &Node)> = Vec::new();

    for root in trees {
        let Val::Obj(obj) = &root.val else {
            issues.push(
                Issue::error("invalid-value", "a manifest is a table at the top level")
                    .at(root.span),
            );
            continue;
        };
        for (key, node) in &obj.entries {
            match key.name.as_str() {
                "format_version" => {
                    let v = match &node.val {
                        Val::Str(s) => s.clone(),
                        Val::Int(i) => i.to_string(),
                        _ => {
                            issues.push(
                                Issue::error(
                                    "invalid-value",
                                    "`format_version` is a string such as \"1\"",
                                )
                                .at(node.span),
                            );
                            continue;
                        }
                    };
                    if let Err(e) = check_format_version(&v) {
                        issues.push(
                            Issue::error("format-version", e)
                                .at(node.span)
                                .help("upgrade falconer to read this manifest, or run `falconer migrate` on older files"),
                        );
                    }
                }
                "tenant" => match from_node::<Tenant>(node, &cx) {
                    Ok(t) => {
                        if let Some((_, first)) = &tenant {
                            issues.push(
                                Issue::error("duplicate-tenant", "the tenant block is given twice")
                                    .at(key.span)
                                    .label("second tenant block")
                                    .related(*first, "first given here")
                                    .help(
                                        "a manifest describes one tenant; keep one `tenant` block",
                                    ),
                            );
                        } else {
                            tenant = Some((t, key.span));
                        }
                    }
                    Err(e) => issues.push(e.into_issue()),
                },
                name => match name.parse::<Domain>() {
                    Ok(domain) => decode_domain(domain, node, &cx, &mut decoded, &mut issues),
                    Err(_) => {
                        let mut i =
                            Issue::error("unknown-field", format!("unknown section `{name}`"))
                                .at(key.span)
                                .label("unknown section");
                        i = match did_you_mean(name, TOP_KEYS.iter().copied()) {
                            Some(s) => i.help(format!("did you mean `{s}`?")),
                            None => i.help(format!("a manifest has: {}", TOP_KEYS.join(", "))),
                        };
                        issues.push(i);
                    }
                },
            }
        }
    }
    issues.extend(cx.issues.take());
    Decoded {
        tenant,
        resources: decoded,
        issues,
    }
}

/// Decodes and validates trees (one per file) into a manifest. Also returns the spans of plain secrets,
/// which callers mask in the sources before showing any of them.
pub fn from_trees(trees: &[Node], opts: LoadOptions) -> (Option<Manifest>, Vec<Issue>, Vec<Span>) {
    let Decoded {
        tenant,
        resources: decoded,
        mut issues,
    } = decode(trees);
    let Some((tenant, tenant_span)) = tenant else {
        issues.push(
            Issue::error("no-tenant", "no `tenant` block")
                .at_opt(trees.first().map(|t| Span {
                    end: t.span.start,
                    ..t.span
                }))
                .help("add `[tenant]` with `id = \"...\"` (once, in any file of the manifest)"),
        );
        return (None, issues, Vec::new());
    };
    if let Err(e) = check_tenant_id(&tenant.id) {
        issues.push(
            Issue::error(
                "invalid-name",
                format!("invalid tenant id {:?}: {e}", tenant.id),
            )
            .at(tenant_span),
        );
    }
    check_naming(&tenant, tenant_span, &mut issues);

    let with_origin: Vec<(&Spec, Origin<'_>)> =
        decoded.iter().map(|(s, n)| (s, Origin::Node(n))).collect();
    issues.extend(validate(&tenant, &with_origin, opts));
    let secret_spans: Vec<Span> = decoded
        .iter()
        .filter(|(spec, _)| spec.meta().has_flag(crate::model::flags::SECRET))
        .flat_map(|(spec, node)| {
            crate::secrets::plain_secret_paths(spec.meta(), &spec.to_json())
                .into_iter()
                .map(|p| domains::locate(node, &p))
                .collect::<Vec<_>>()
        })
        .collect();

    let manifest = Manifest {
        format_version: FORMAT_VERSION.to_string(),
        tenant,
        resources: decoded
            .into_iter()
            .map(|(spec, n)| Resource {
                spec,
                span: Some(n.span),
            })
            .collect(),
    };
    (Some(manifest), issues, secret_spans)
}

fn check_naming(t: &Tenant, span: Span, issues: &mut Vec<Issue>) {
    let n = &t.naming;
    for (field, v) in [
        ("kafka_topic_prefix", &n.kafka_topic_prefix),
        ("bucket_prefix", &n.bucket_prefix),
        ("realm", &n.realm),
        ("functions_namespace", &n.functions_namespace),
    ] {
        if v.as_deref().is_some_and(str::is_empty) {
            issues.push(
                Issue::error("invalid-value", format!("`naming.{field}` is empty"))
                    .at(span)
                    .help("an empty prefix would put every object of the system in this tenant's scope"),
            );
        }
    }
    for (field, v) in [
        ("postgres_schemas", &n.postgres_schemas),
        ("mongo_databases", &n.mongo_databases),
    ] {
        if v.as_ref()
            .is_some_and(|l| l.is_empty() || l.iter().any(String::is_empty))
        {
            issues.push(
                Issue::error(
                    "invalid-value",
                    format!("`naming.{field}` needs at least one non-empty name"),
                )
                .at(span),
            );
        }
    }
}

fn decode_domain<'a>(
    domain: Domain,
    node: &'a Node,
    cx: &Ctx,
    out: &mut Vec<(Spec, &'a Node)>,
    issues: &mut Vec<Issue>,
) {
    let Some(entries) = node.entries() else {
        issues.push(
            Issue::error(
                "invalid-value",
                format!(
                    "`{domain}` is a section of resource lists, found {}",
                    node.type_name()
                ),
            )
            .at(node.span),
        );
        return;
    };
    for (key, list) in entries {
        let Some(entry) = domains::entry(domain, &key.name) else {
            let kinds: Vec<&str> = domains::kinds_of(domain).map(|m| m.kind).collect();
            let mut i = Issue::error(
                "unknown-kind",
                format!("`{domain}` has no resource kind `{}`", key.name),
            )
            .at(key.span)
            .label("unknown kind");
            i = match did_you_mean(&key.name, kinds.iter().copied()) {
                Some(s) => i.help(format!("did you mean `{s}`?")),
                None => i.help(format!("`{domain}` has: {}", kinds.join(", "))),
            };
            issues.push(i);
            continue;
        };
        let items = match &list.val {
            Val::Arr(items) => items.iter().collect(),
            _ if list.flags & tree::LENIENT_SEQ != 0 => vec![list],
            _ => {
                issues.push(
                    Issue::error(
                        "invalid-value",
                        format!(
                            "`{domain}.{}` is a list of resources, found {}",
                            key.name,
                            list.type_name()
                        ),
                    )
                    .at(list.span)
                    .help(format!(
                        "in TOML write each one as [[{domain}.{}]]",
                        key.name
                    )),
                );
                continue;
            }
        };
        for item in items {
            match (entry.decode)(item, cx) {
                Ok(mut spec) => {
                    spec.normalize();
                    out.push((spec, item));
                }
                Err(e) => issues.push(e.into_issue()),
            }
        }
    }
}

/// Validates resources of a tenant: each kind's checks, duplicates, references, `depends_on`, and the
/// rules that span resources. Works for manifests (with spans) and imported artifacts (with JSON paths).
pub fn validate(
    tenant: &Tenant,
    resources: &[(&Spec, Origin<'_>)],
    opts: LoadOptions,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut by_addr: HashMap<Address, usize> = HashMap::with_capacity(resources.len());
    for (i, (spec, origin)) in resources.iter().enumerate() {
        let mut cx = Checker::new(tenant, opts.strict, *origin);
        spec.check(&mut cx);
        issues.extend(cx.issues);
        let a = spec.address();
        if let Some(&first) = by_addr.get(&a) {
            let mut issue = Issue::error("duplicate", format!("{a} is declared twice"));
            issue = place(issue, origin, "");
            if let Origin::Node(n) = resources[first].1 {
                issue = issue.related(n.span, "first declared here");
            }
            issues
                .push(issue.help("each resource is declared once across all files of a manifest"));
        } else {
            by_addr.insert(a, i);
        }
    }

    let mut by_kind: HashMap<(Domain, &str), Vec<&Address>> = HashMap::new();
    for a in by_addr.keys() {
        by_kind.entry((a.domain, a.kind)).or_default().push(a);
    }
    for (spec, origin) in resources {
        for r in spec.references(tenant) {
            if !r.required || r.targets.iter().any(|t| by_addr.contains_key(t)) {
                continue;
            }
            let t = &r.targets[0];
            let mut issue = place(
                Issue::error(
                    "dangling-reference",
                    format!(
                        "`{}` refers to {t}, which is not declared in this manifest",
                        r.field
                    ),
                ),
                origin,
                &r.field,
            );
            let candidates: Vec<String> = by_kind
                .get(&(t.domain, t.kind))
                .map(|v| v.iter().map(|a| a.to_string()).collect())
                .unwrap_or_default();
            if let Some(s) = did_you_mean(&t.to_string(), candidates.iter().map(String::as_str)) {
                issue = issue.help(format!("did you mean {s}?"));
            } else {
                issue = issue.help(format!(
                    "declare the {} or fix the name",
                    domains::kind(t.domain, t.kind)
                        .map(|m| m.title)
                        .unwrap_or("resource")
                ));
            }
            issues.push(issue);
        }
        for (i, dep) in spec.depends_on().iter().enumerate() {
            let field = format!("depends_on[{i}]");
            match Address::parse(dep) {
                Ok(a) if by_addr.contains_key(&a) => {}
                Ok(a) => issues.push(place(
                    Issue::error(
                        "dangling-reference",
                        format!("`depends_on` names {a}, which is not declared"),
                    ),
                    origin,
                    &field,
                )),
                Err(e) => issues.push(place(Issue::error("invalid-address", e), origin, &field)),
            }
        }
    }

    let specs: Vec<&Spec> = resources.iter().map(|(s, _)| *s).collect();
    if let Err(cycle) = crate::graph::Graph::build(tenant, &specs).order()
        && let Some(first) = cycle.0.first()
        && let Some((_, origin)) = resources.iter().find(|(s, _)| s.address() == *first)
    {
        issues.push(
            place(Issue::error("cycle", cycle.to_string()), origin, "")
                .help("break the cycle: remove a `depends_on` or a reference on it"),
        );
    }
    for rule in domains::MANIFEST_RULES {
        issues.extend(rule(resources));
    }
    issues
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
