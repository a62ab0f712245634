//! Decoding trees into typed resources: the tenant block, each domain's kinds, the format version.

use super::*;
use crate::diag::{Issue, Span, did_you_mean};
use crate::domains::{self, Origin, Spec};
use crate::model::tenant::check_tenant_id;
use crate::model::{Domain, Tenant};
use de::{Ctx, from_node};
use tree::{Node, Val};

/// The keys a manifest file may have at its top: its version, the tenant and one per domain.
fn top_keys() -> Vec<&'static str> {
    ["format_version", "tenant"]
        .into_iter()
        .chain(Domain::ALL.map(|d| d.as_str()))
        .collect()
}

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
                        i = match did_you_mean(name, top_keys()) {
                            Some(s) => i.help(format!("did you mean `{s}`?")),
                            None => i.help(format!("a manifest has: {}", top_keys().join(", "))),
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
    let mut tenant = tenant;
    check_naming(&mut tenant, tenant_span, &mut issues);

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

/// The naming block's keys are the domains' scopes (`domains::scopes`): an unknown key, a list where one
/// name is taken, and an empty name are refused; one name where a list is taken is a list of one (as KDL
/// writes it), and kept as a list.
fn check_naming(t: &mut Tenant, span: Span, issues: &mut Vec<Issue>) {
    use crate::model::Names;
    let lists: Vec<(&'static crate::model::Scope, Vec<String>)> = t
        .naming
        .entries()
        .filter_map(|(k, v)| Some((domains::scope_keyed(k)?, v)))
        .filter(|(s, v)| s.many && matches!(v, Names::One(_)))
        .map(|(s, v)| (s, v.to_vec()))
        .collect();
    for (scope, names) in lists {
        t.naming.set(scope, names);
    }
    let keys: Vec<&str> = domains::scopes()
        .map(|s| s.key)
        .filter(|k| !k.is_empty())
        .collect();
    for (key, names) in t.naming.entries() {
        let Some(scope) = domains::scope_keyed(key) else {
            let issue =
                Issue::error("unknown-field", format!("unknown field `{key}` in naming")).at(span);
            issues.push(match crate::diag::did_you_mean(key, keys.iter().copied()) {
                Some(s) => issue.help(format!("did you mean `{s}`?")),
                None => issue.help(format!("naming takes: {}", keys.join(", "))),
            });
            continue;
        };
        let problem = match (scope.many, names) {
            (false, Names::Many(_)) => Some("is one name, not a list"),
            (false, Names::One(n)) if n.is_empty() => Some("is empty"),
            (true, Names::Many(l)) if l.is_empty() || l.iter().any(String::is_empty) => {
                Some("needs at least one non-empty name")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            let mut issue =
                Issue::error("invalid-value", format!("`naming.{key}` {problem}")).at(span);
            if scope.prefix {
                issue = issue.help(
                    "an empty prefix would put every object of the system in this tenant's scope",
                );
            }
            issues.push(issue);
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
