//! Falcone export artifacts: read them (format versions "1.0" and "1.0.0", collector and applier
//! dialects, every domain status) into falconer's model, and migrate them to the current version.
//!
//! The platform's own importer drops or corrupts most of a real export (see the artifact study, section
//! 9). falconer maps every managed value instead, and says what it could not map: every unknown field,
//! every over-redacted value and every gap is a warning naming its JSON path.

mod map;
pub mod write;

use serde_json::{Map, Value};

use crate::diag::{Issue, Span};
use crate::domains::{Origin, Spec};
use crate::manifest::{self, LoadOptions, Manifest, Resource};
use crate::model::{Domain, Naming, Tenant};
use crate::syntax::de::{Ctx, from_node};
use crate::syntax::tree::{Key, Node, Obj, Val};

/// The current Falcone artifact format.
pub const CURRENT_VERSION: &str = "1.0.0";
/// Every artifact version this falconer reads, oldest first.
pub const KNOWN_VERSIONS: &[&str] = &["1.0", "1.0.0"];
/// The platform's `schema_checksum` of format 1.0.0 (a constant: it identifies the schema, not the content).
pub const SCHEMA_CHECKSUM_1_0_0: &str =
    "sha256:97ed32438119c00f321888e660ea2ee9b37077ebd415eabea5821fea96773a29";

/// A domain's export status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    Ok,
    Empty,
    Error,
    NotAvailable,
    NotRequested,
}

impl DomainStatus {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => DomainStatus::Ok,
            "empty" => DomainStatus::Empty,
            "error" => DomainStatus::Error,
            "not_available" => DomainStatus::NotAvailable,
            "not_requested" => DomainStatus::NotRequested,
            _ => return None,
        })
    }

    /// Whether the domain's data describes the tenant (and may be planned against).
    pub fn has_data(self) -> bool {
        matches!(self, DomainStatus::Ok | DomainStatus::Empty)
    }
}

/// Which shape a domain's `data` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// What the platform's export writes (nested, backend-native rows).
    Collector,
    /// What the platform's importer reads (flat, per resource type).
    Applier,
}

/// One domain section of an artifact.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DomainSection {
    pub domain_key: String,
    pub domain: Option<Domain>,
    pub status: DomainStatus,
    pub items_count: Option<u64>,
    pub error: Option<String>,
    pub reason: Option<String>,
    pub dialect: Option<Dialect>,
}

/// An imported artifact.
#[derive(Debug, Clone)]
pub struct Imported {
    pub tenant_id: String,
    /// The version as written in the artifact.
    pub format_version: String,
    pub domains: Vec<DomainSection>,
    pub manifest: Manifest,
    /// The JSON pointer each resource of `manifest` was read from, in the same order.
    pub origins: Vec<String>,
    /// The values the exporter redacted though they are no secrets (unknown, never written), by domain
    /// and JSON pointer.
    pub unknown: Vec<(Domain, String)>,
    /// Warnings (fields that could not be mapped, over-redacted values, gaps) and errors.
    pub issues: Vec<Issue>,
}

/// What leaving out settles an error of an artifact: the resource it is in (by index in the manifest), and
/// the item of a [`crate::model::flags::PART`] list when the error is that item's alone.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub resource: usize,
    pub part: Option<(String, usize)>,
    /// `ADDRESS PART: why [rule]` for people.
    pub line: String,
}

impl Imported {
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(Issue::is_error)
    }

    /// The section of a domain, if the artifact has one.
    pub fn section(&self, d: Domain) -> Option<&DomainSection> {
        self.domains.iter().find(|s| s.domain == Some(d))
    }

    /// The errors in resources of `domains` (none: every domain), each as what leaving out would settle it;
    /// `Err` with the errors that no resource holds (leaving nothing out settles those).
    pub fn invalid(&self, domains: &[Domain]) -> Result<Vec<Invalid>, Vec<String>> {
        let mut found = Vec::new();
        let mut unsettled = Vec::new();
        for issue in self.issues.iter().filter(|i| i.is_error()) {
            let Some(r) = issue.path.as_deref().and_then(|p| self.resource_at(p)) else {
                unsettled.push(issue.message.clone());
                continue;
            };
            let spec = &self.manifest.resources[r].spec;
            if !domains.is_empty() && !domains.contains(&spec.meta().domain) {
                continue;
            }
            let part = issue.field.as_deref().and_then(|f| part_of(spec.meta(), f));
            // An item's line names it once: its message's own `item`: prefix goes.
            let (what, message) = match &part {
                Some((list, i)) => {
                    let item = format!("{list}[{i}]");
                    let own = format!("`{item}`: ");
                    let message = issue.message.strip_prefix(&own).unwrap_or(&issue.message);
                    (format!(" {item}"), message)
                }
                None => (String::new(), issue.message.as_str()),
            };
            let line = format!("{}{what}: {message} [{}]", spec.address(), issue.code);
            found.push(Invalid {
                resource: r,
                part,
                line,
            });
        }
        if unsettled.is_empty() {
            Ok(found)
        } else {
            Err(unsettled)
        }
    }

    /// The resource read at `path` or above it.
    fn resource_at(&self, path: &str) -> Option<usize> {
        let under = |o: &String| {
            path == o
                || path
                    .strip_prefix(o.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        };
        self.origins.iter().position(under)
    }

    /// Leaves out what `invalid` names: a resource with an error of its own whole, else the items of its
    /// lists that have one.
    pub fn leave_out(&mut self, invalid: &[Invalid]) {
        let whole: std::collections::BTreeSet<usize> = invalid
            .iter()
            .filter(|i| i.part.is_none())
            .map(|i| i.resource)
            .collect();
        let mut parts: Vec<(usize, &str, usize)> = invalid
            .iter()
            .filter(|i| !whole.contains(&i.resource))
            .filter_map(|i| i.part.as_ref().map(|(l, n)| (i.resource, l.as_str(), *n)))
            .collect();
        parts.sort();
        parts.dedup();
        for (r, list, n) in parts.into_iter().rev() {
            let spec = &mut self.manifest.resources[r].spec;
            let mut v = spec.to_json();
            if let Some(items) = v
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .filter(|a| n < a.len())
            {
                items.remove(n);
            }
            if let Ok(s) = spec.same_kind_from_json(v) {
                *spec = s;
            }
        }
        for r in whole.into_iter().rev() {
            self.manifest.resources.remove(r);
            self.origins.remove(r);
        }
    }
}

/// The item of a list with the PART flag that `field` (`cors_rule[0].allowed_methods`) lies in.
fn part_of(meta: &crate::model::KindMeta, field: &str) -> Option<(String, usize)> {
    let (list, rest) = field.split_once('[')?;
    let n: usize = rest.split_once(']')?.0.parse().ok()?;
    meta.field(list)
        .filter(|f| f.has(crate::model::flags::PART))
        .map(|_| (list.to_string(), n))
}

pub use crate::syntax::is_artifact;

/// The artifact in a text, if the text is one (a cheap check first: manifests are not parsed twice).
pub fn detect(text: &str) -> Option<Value> {
    if !text.contains("\"domains\"") {
        return None;
    }
    parse(text).ok().filter(is_artifact)
}

/// Parses artifact text into JSON, with a located syntax error. There is no size cap (the platform's own
/// limit is 10 MiB; falconer reads larger ones, holding the text and its tree once each).
pub fn parse(text: &str) -> Result<Value, Box<Issue>> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        Box::new(Issue::error(
            "syntax",
            format!(
                "invalid JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
        ))
    })?;
    if !v.is_object() {
        return Err(Box::new(
            Issue::error("invalid-value", "an artifact is a JSON object").path("/"),
        ));
    }
    Ok(v)
}

/// Version arithmetic: a version string's three numeric parts (a missing patch counts as 0).
fn version_parts(v: &str) -> Option<(u64, u64, u64)> {
    let parts: Vec<&str> = v.split('.').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let n: Vec<u64> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    Some((n[0], n[1], *n.get(2).unwrap_or(&0)))
}

/// Checks an artifact's `format_version`: known, or refused with a message that says what to do.
pub fn check_version(v: &Value) -> Result<String, Box<Issue>> {
    let Some(s) = v.get("format_version") else {
        return Err(Box::new(Issue::error("format-version", "the artifact has no `format_version`")
            .path("/format_version")
            .help("Falcone artifacts carry \"1.0\" or \"1.0.0\"; add the version the artifact was exported with")));
    };
    let Some(s) = s.as_str() else {
        return Err(Box::new(
            Issue::error(
                "format-version",
                format!("`format_version` is {s}, not a string"),
            )
            .path("/format_version")
            .help("write it as a string, e.g. \"1.0.0\""),
        ));
    };
    if KNOWN_VERSIONS.contains(&s) {
        return Ok(s.to_string());
    }
    let known = KNOWN_VERSIONS.join(" and ");
    match version_parts(s) {
        Some(p) if p > (1, 0, 0) => Err(Box::new(
            Issue::error(
                "format-version",
                format!(
                    "artifact format {s} is newer than this falconer understands (it reads {known})"
                ),
            )
            .path("/format_version")
            .help("upgrade falconer; a newer format is never read by guesswork"),
        )),
        _ => Err(Box::new(
            Issue::error(
                "format-version",
                format!("{s:?} is not a Falcone artifact format version (known: {known})"),
            )
            .path("/format_version"),
        )),
    }
}

/// Reads an artifact into falconer's model.
pub fn import(v: &Value) -> Result<Imported, Vec<Issue>> {
    let version = check_version(v).map_err(|e| vec![*e])?;
    let Some(env) = v.as_object() else {
        return Err(vec![
            Issue::error("invalid-value", "an artifact is a JSON object").path("/"),
        ]);
    };
    let tenant_id = match env.get("tenant_id").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => {
            return Err(vec![
                Issue::error("missing", "the artifact has no `tenant_id`").path("/tenant_id").help(
                    "the tenant id names the realm, schemas, databases and prefixes the artifact belongs to",
                ),
            ]);
        }
    };
    let mut issues = envelope_issues(env, &version);
    let mut m = map::Mapper::new(&tenant_id);
    let domains = env
        .get("domains")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if env.get("domains").is_none_or(|d| !d.is_array()) {
        issues.push(Issue::error("missing", "the artifact has no `domains` list").path("/domains"));
    }
    let mut sections: Vec<DomainSection> = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let path = format!("/domains/{i}");
        let Some(obj) = d.as_object() else {
            issues.push(Issue::error("invalid-value", "a domain section is an object").path(path));
            continue;
        };
        if let Some(section) = read_section(obj, &path, &sections, &mut m, &mut issues) {
            sections.push(section);
        }
    }
    let unknown = std::mem::take(&mut m.unknown);
    let (tenant, resources, map_issues) = m.finish();
    issues.extend(map_issues);
    let origins = resources.iter().map(|(_, p)| p.clone()).collect();
    let manifest = checked_manifest(tenant, resources, &mut issues);
    Ok(Imported {
        tenant_id,
        format_version: version,
        domains: sections,
        manifest,
        origins,
        unknown,
        issues,
    })
}

/// Warnings about the envelope: unknown fields, and a 1.0.0 checksum that is not the schema's.
fn envelope_issues(env: &Map<String, Value>, version: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    let known_env: &[&str] = match version {
        "1.0" => &[
            "export_timestamp",
            "tenant_id",
            "format_version",
            "deployment_profile",
            "correlation_id",
            "domains",
        ],
        _ => &[
            "export_timestamp",
            "tenant_id",
            "format_version",
            "deployment_profile",
            "correlation_id",
            "schema_checksum",
            "domains",
        ],
    };
    for k in env.keys() {
        if !known_env.contains(&k.as_str())
            && !k.starts_with('_')
            && k != "exported_at"
            && k != "checksum"
        {
            issues.push(
                Issue::warning(
                    "unknown-field",
                    format!("unknown envelope field `{k}` is ignored"),
                )
                .path(format!("/{k}")),
            );
        }
    }
    if version == CURRENT_VERSION
        && let Some(c) = env.get("schema_checksum").and_then(Value::as_str)
        && c != SCHEMA_CHECKSUM_1_0_0
    {
        issues.push(
            Issue::warning(
                "checksum",
                "`schema_checksum` does not match format 1.0.0's schema",
            )
            .path("/schema_checksum")
            .help("it identifies the schema, not the content; the artifact is read as 1.0.0"),
        );
    }
    issues
}

const SECTION_KEYS: &[&str] = &[
    "domain_key",
    "status",
    "exported_at",
    "items_count",
    "data",
    "error",
    "reason",
];

/// One domain section: its status and (when it has data) its mapped resources. `None` for a section
/// that is skipped (an unknown status, or a domain seen before).
fn read_section(
    obj: &Map<String, Value>,
    path: &str,
    earlier: &[DomainSection],
    m: &mut map::Mapper,
    issues: &mut Vec<Issue>,
) -> Option<DomainSection> {
    let key = obj
        .get("domain_key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let domain = Domain::ALL
        .into_iter()
        .find(|x| x.falcone_key() == Some(key.as_str()));
    let status_s = obj
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(status) = DomainStatus::parse(status_s) else {
        issues.push(
            Issue::error(
                "invalid-value",
                format!("domain `{key}` has an unknown status {status_s:?}"),
            )
            .path(format!("{path}/status"))
            .help("statuses are ok, empty, error, not_available, not_requested"),
        );
        return None;
    };
    let mut section = DomainSection {
        domain_key: key.clone(),
        domain,
        status,
        items_count: obj.get("items_count").and_then(Value::as_u64),
        error: obj.get("error").and_then(Value::as_str).map(String::from),
        reason: obj.get("reason").and_then(Value::as_str).map(String::from),
        dialect: None,
    };
    let Some(domain) = domain else {
        issues.push(
            Issue::warning(
                "unknown-domain",
                format!("unknown domain `{key}` is ignored"),
            )
            .path(format!("{path}/domain_key")),
        );
        return Some(section);
    };
    if earlier
        .iter()
        .any(|s| s.domain.is_some() && s.domain_key == key)
    {
        issues.push(
            Issue::warning(
                "duplicate",
                format!("domain `{key}` appears twice; the first section is used"),
            )
            .path(path.to_string()),
        );
        return None;
    }
    for k in obj.keys() {
        if !SECTION_KEYS.contains(&k.as_str()) && !k.starts_with('_') {
            issues.push(
                Issue::warning("unknown-field", format!("unknown field `{k}` is ignored"))
                    .path(format!("{path}/{k}")),
            );
        }
    }
    section.dialect = section_data(&section, obj, domain, path, m, issues);
    Some(section)
}

/// Maps a section's data by its status; the dialect it was written in, when it had data.
fn section_data(
    section: &DomainSection,
    obj: &Map<String, Value>,
    domain: Domain,
    path: &str,
    m: &mut map::Mapper,
    issues: &mut Vec<Issue>,
) -> Option<Dialect> {
    let key = &section.domain_key;
    match section.status {
        DomainStatus::Error => issues.push(
            Issue::warning(
                "domain-not-exported",
                format!(
                    "domain `{key}` failed to export: {}",
                    section.error.as_deref().unwrap_or("no message")
                ),
            )
            .path(path.to_string())
            .help("its resources are unknown; plans leave this domain untouched"),
        ),
        DomainStatus::NotAvailable => issues.push(
            Issue::warning(
                "domain-not-exported",
                format!(
                    "domain `{key}` was not available: {}",
                    section.reason.as_deref().unwrap_or("no reason given")
                ),
            )
            .path(path.to_string()),
        ),
        DomainStatus::NotRequested => {}
        DomainStatus::Ok | DomainStatus::Empty => match obj.get("data") {
            Some(Value::Object(data)) => {
                let mark = m.mark();
                let dialect = m.domain(domain, data, &format!("{path}/data"));
                if let Some(copy) = obj.get(write::OVERLAY) {
                    match overlay(copy, domain, data, m.tenant()) {
                        Ok(specs) => m.replace_since(mark, specs, &format!("{path}/{}", write::OVERLAY)),
                        Err(why) => issues.push(
                            Issue::warning(
                                "overlay",
                                format!("falconer's copy of domain `{key}` is not used: {why}; the section's `data` is read instead"),
                            )
                            .path(format!("{path}/{}", write::OVERLAY)),
                        ),
                    }
                }
                return Some(dialect);
            }
            Some(Value::Null) | None => issues.push(
                Issue::warning(
                    "missing",
                    format!(
                        "domain `{key}` has status {} but no data",
                        obj.get("status")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    ),
                )
                .path(format!("{path}/data")),
            ),
            Some(_) => issues.push(
                Issue::error("invalid-value", "a domain's `data` is an object")
                    .path(format!("{path}/data")),
            ),
        },
    }
    None
}

/// The resources of falconer's own copy of a domain (`_falconer`, written by [`write`]): read only while it
/// is a document of this tenant and domain and the section's `data` is still what falconer writes from it.
fn overlay(
    copy: &Value,
    domain: Domain,
    data: &Map<String, Value>,
    tenant_id: &str,
) -> Result<Vec<Spec>, String> {
    let (tenant, specs) = write::read_document(copy)?;
    if tenant.id != tenant_id {
        return Err(format!("it belongs to tenant `{}`", tenant.id));
    }
    if let Some(other) = specs.iter().find(|s| s.meta().domain != domain) {
        return Err(format!("it holds {}, not only {domain}", other.address()));
    }
    if write::data(&tenant, domain, &specs).0 != Value::Object(data.clone()) {
        return Err("the section's `data` was changed after falconer wrote it".into());
    }
    Ok(specs)
}

/// The manifest the mapped resources make, after the manifest's own checks and the tenant id's.
fn checked_manifest(
    tenant: crate::model::Tenant,
    resources: Vec<(Spec, String)>,
    issues: &mut Vec<Issue>,
) -> Manifest {
    let with_origin: Vec<(&Spec, Origin<'_>)> = resources
        .iter()
        .map(|(s, p)| (s, Origin::Path(p)))
        .collect();
    issues.extend(manifest::validate(
        &tenant,
        &with_origin,
        LoadOptions {
            external_refs: true,
            ..LoadOptions::default()
        },
    ));
    if let Err(e) = crate::model::tenant::check_tenant_id(&tenant.id) {
        issues.push(
            Issue::error(
                "invalid-name",
                format!("invalid tenant id {:?}: {e}", tenant.id),
            )
            .path("/tenant_id"),
        );
    }
    Manifest {
        format_version: manifest::FORMAT_VERSION.to_string(),
        tenant,
        resources: resources
            .into_iter()
            .map(|(spec, _)| Resource { spec, span: None })
            .collect(),
    }
}

/// The naming block an artifact implies: for each scope it places the tenant in, the names found, where
/// they differ from falconer's defaults.
pub(crate) fn naming_for(
    tenant: &str,
    scoped: &[(&'static crate::model::Scope, String)],
) -> Naming {
    let t = Tenant::new(tenant);
    let mut naming = Naming::default();
    let mut scopes: Vec<&crate::model::Scope> = Vec::new();
    for (scope, _) in scoped {
        if !scopes.contains(scope) {
            scopes.push(scope);
        }
    }
    for scope in scopes {
        let names: Vec<String> = scoped
            .iter()
            .filter(|(s, _)| *s == scope)
            .map(|(_, n)| n.clone())
            .take(if scope.many { usize::MAX } else { 1 })
            .collect();
        if names != t.names(scope) {
            naming.set(scope, names);
        }
    }
    naming
}

// ------------------------------------------------------------------------- typed decoding of raw JSON

/// File id used for spans that stand for JSON paths of an artifact.
const ARTIFACT_FILE: u32 = u32::MAX;

/// Map-valued fields: their keys are data (Keycloak `config`, `attributes`, client-role maps) and are
/// never renamed.
pub(crate) const RAW_MAPS: &[&str] = &[
    "config",
    "attributes",
    "client",
    "clientRoles",
    "client_roles",
];

/// Decodes a typed value from artifact JSON. Field names are renamed first (camelCase to snake_case; keys
/// of map-valued fields are kept); unknown fields become warnings and decoding errors become errors, each
/// naming its JSON path.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    v: &Value,
    path: &str,
    rename: &dyn Fn(&str) -> String,
    issues: &mut Vec<Issue>,
) -> Option<T> {
    let mut paths = Vec::new();
    let node = to_node(v, path, &mut paths, rename, false);
    let cx = Ctx::default();
    let to_path = |s: Option<Span>| s.and_then(|s| paths.get(s.start as usize).cloned());
    let res = from_node::<T>(&node, &cx);
    for mut i in cx.issues.take() {
        let p = to_path(i.span).unwrap_or_else(|| path.to_string());
        i.span = None;
        i.severity = crate::diag::Severity::Warning;
        i.message = format!(
            "{} is not mapped",
            i.message.replace("unknown field", "field")
        );
        issues.push(i.path(p));
    }
    match res {
        Ok(t) => Some(t),
        Err(e) => {
            let p = to_path(e.span).unwrap_or_else(|| path.to_string());
            let mut i = Issue::error("invalid-value", e.message).path(p);
            if let Some(h) = e.help {
                i = i.help(h);
            }
            issues.push(i);
            None
        }
    }
}

fn to_node(
    v: &Value,
    path: &str,
    paths: &mut Vec<String>,
    rename: &dyn Fn(&str) -> String,
    raw: bool,
) -> Node {
    let id = paths.len();
    paths.push(path.to_string());
    let span = path_span(id);
    let val = match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Val::Int(i)
            } else if let Some(u) = n.as_u64() {
                Val::UInt(u)
            } else {
                Val::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Val::Str(s.clone()),
        Value::Array(a) => Val::Arr(
            a.iter()
                .enumerate()
                .map(|(i, x)| to_node(x, &format!("{path}/{i}"), paths, rename, raw))
                .collect(),
        ),
        Value::Object(o) => Val::Obj(Obj {
            entries: o
                .iter()
                .map(|(k, x)| {
                    let child = format!("{path}/{}", escape_pointer(k));
                    let kid = paths.len();
                    paths.push(child.clone());
                    let key = Key {
                        name: if raw { k.clone() } else { rename(k) },
                        span: path_span(kid),
                    };
                    let raw_child = raw || RAW_MAPS.contains(&k.as_str());
                    (key, to_node(x, &child, paths, rename, raw_child))
                })
                .collect(),
            positional: None,
        }),
    };
    Node::new(span, val)
}

/// A span that stands for entry `id` of the JSON path table.
fn path_span(id: usize) -> Span {
    let id = u32::try_from(id).unwrap_or(u32::MAX);
    Span {
        file: ARTIFACT_FILE,
        start: id,
        end: id,
    }
}

pub use crate::util::escape_pointer;

/// `accessTokenLifespan` → `access_token_lifespan`.
pub fn snake_case(k: &str) -> String {
    let mut out = String::with_capacity(k.len() + 4);
    for (i, c) in k.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// --------------------------------------------------------------------------------------- migration

/// The result of a migration.
#[derive(Debug)]
pub struct Migrated {
    pub value: Value,
    pub from: String,
    /// The steps applied (`1.0→1.0.0`); empty when the input was already current.
    pub steps: Vec<String>,
}

/// One migration step: from version, to version, and the function.
type Step = (&'static str, &'static str, fn(&mut Map<String, Value>));

/// The migration chain, in order. Each step upgrades an artifact by one version.
const STEPS: &[Step] = &[("1.0", "1.0.0", step_1_0_to_1_0_0)];

fn step_1_0_to_1_0_0(env: &mut Map<String, Value>) {
    // 1.0.0 adds `schema_checksum` (right after `correlation_id`); the domain data is unchanged.
    let old = std::mem::take(env);
    for (k, v) in old {
        let after = k == "correlation_id";
        env.insert(k, v);
        if after {
            env.insert(
                "schema_checksum".into(),
                Value::String(SCHEMA_CHECKSUM_1_0_0.into()),
            );
        }
    }
    env.entry("schema_checksum")
        .or_insert_with(|| Value::String(SCHEMA_CHECKSUM_1_0_0.into()));
}

/// Upgrades an artifact to the current format version through the chain of steps.
pub fn migrate(mut v: Value, now: &str) -> Result<Migrated, Box<Issue>> {
    let from = check_version(&v)?;
    let mut steps = Vec::new();
    let mut cur = from.clone();
    while cur != CURRENT_VERSION {
        let Some((f, t, step)) = STEPS.iter().find(|(f, _, _)| *f == cur) else {
            return Err(Box::new(Issue::error(
                "format-version",
                format!("no migration step from {cur}"),
            )));
        };
        if let Some(env) = v.as_object_mut() {
            step(env);
            env.insert("format_version".into(), Value::String((*t).into()));
        }
        steps.push(format!("{f}→{t}"));
        cur = (*t).to_string();
    }
    if !steps.is_empty()
        && let Some(env) = v.as_object_mut()
    {
        env.insert(
            "_migration_metadata".into(),
            serde_json::json!({
                "migrated_from": from,
                "migrated_to": CURRENT_VERSION,
                "migration_chain": steps,
                "migrated_at": now,
            }),
        );
    }
    Ok(Migrated {
        value: v,
        from,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version(&serde_json::json!({"format_version": "1.0"})).is_ok());
        assert!(check_version(&serde_json::json!({"format_version": "1.0.0"})).is_ok());
        let e = check_version(&serde_json::json!({"format_version": "1.1.0"})).expect_err("future");
        assert!(e.message.contains("newer"), "{}", e.message);
        let e = check_version(&serde_json::json!({"format_version": "2.0.0"})).expect_err("future");
        assert!(e.message.contains("newer"));
        let e = check_version(&serde_json::json!({"format_version": "v1"})).expect_err("unknown");
        assert!(e.message.contains("not a Falcone"));
        assert!(check_version(&serde_json::json!({"format_version": 1})).is_err());
        assert!(check_version(&serde_json::json!({})).is_err());
    }

    #[test]
    fn migrates_legacy() {
        let v = serde_json::json!({"tenant_id": "a", "format_version": "1.0", "correlation_id": "x", "domains": []});
        let m = migrate(v, "2026-01-01T00:00:00Z").expect("migrates");
        assert_eq!(m.steps, vec!["1.0→1.0.0"]);
        assert_eq!(m.value["format_version"], "1.0.0");
        assert_eq!(m.value["schema_checksum"], SCHEMA_CHECKSUM_1_0_0);
        let keys: Vec<&String> = m.value.as_object().expect("object").keys().collect();
        assert_eq!(keys[3], "schema_checksum");
        assert_eq!(m.value["_migration_metadata"]["migrated_from"], "1.0");
        // Already current: unchanged, no metadata.
        let again = migrate(m.value.clone(), "later").expect("current");
        assert!(again.steps.is_empty());
        assert_eq!(again.value, m.value);
    }

    #[test]
    fn snake() {
        assert_eq!(snake_case("accessTokenLifespan"), "access_token_lifespan");
        assert_eq!(snake_case("clientId"), "client_id");
        assert_eq!(snake_case("name"), "name");
    }
}
