//! Validating resources of a tenant: each kind's checks, duplicates, references, `depends_on`, cycles and
//! the domains' rules about a whole manifest.

use std::collections::HashMap;

use super::*;
use crate::diag::{Issue, did_you_mean};
use crate::domains::{self, Checker, Origin, Spec, place};
use crate::model::{Address, Domain, Tenant};

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
        cx.foreign = opts.external_refs;
        cx.commands = opts.commands;
        spec.check(&mut cx);
        issues.extend(
            cx.issues
                .into_iter()
                .map(|i| foreign_scope(i, tenant, opts)),
        );
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
            if r.required && !r.targets.iter().any(|t| by_addr.contains_key(t)) {
                issues.push(dangling(&r, origin, &by_kind, opts));
            }
        }
        check_depends_on(spec, origin, &by_addr, opts, &mut issues);
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

/// An object outside the tenant's scope in an artifact or a backup (`external_refs`): the platform does not
/// always follow falconer's default naming, so it is a warning saying how to declare the tenant's real naming
/// (a restore leaves such objects out until then). In a manifest it stays an error.
fn foreign_scope(mut issue: Issue, tenant: &Tenant, opts: LoadOptions) -> Issue {
    if !opts.external_refs || issue.code != "out-of-scope" || !issue.is_error() {
        return issue;
    }
    issue.severity = crate::diag::Severity::Warning;
    issue.help = Some(format!(
        "if this is tenant `{0}`'s real naming, declare it: `falconer tenant set {0} --kafka-topic-prefix ... --bucket-prefix ...` (see `tenant set --help`), or a manifest's `tenant` block given with --manifest; until then a restore leaves the object out",
        tenant.id
    ));
    issue
}

/// A reference to nothing declared: an error, or where references may be to live objects
/// (`external_refs`), a warning saying it must exist live.
fn unresolved(message: String, opts: LoadOptions) -> Issue {
    if opts.external_refs {
        Issue::warning(
            "dangling-reference",
            format!("{message}: it must exist live"),
        )
    } else {
        Issue::error("dangling-reference", message)
    }
}

/// A required reference to nothing declared, with the nearest name of its kind.
fn dangling(
    r: &crate::domains::Reference,
    origin: &Origin<'_>,
    by_kind: &HashMap<(Domain, &str), Vec<&Address>>,
    opts: LoadOptions,
) -> Issue {
    let t = &r.targets[0];
    let issue = place(
        unresolved(
            format!(
                "`{}` refers to {t}, which is not declared in this manifest",
                r.field
            ),
            opts,
        ),
        origin,
        &r.field,
    );
    let candidates: Vec<String> = by_kind
        .get(&(t.domain, t.kind))
        .map(|v| v.iter().map(|a| a.to_string()).collect())
        .unwrap_or_default();
    if let Some(s) = did_you_mean(&t.to_string(), candidates.iter().map(String::as_str)) {
        issue.help(format!("did you mean {s}?"))
    } else {
        issue.help(format!(
            "declare the {} or fix the name",
            domains::kind(t.domain, t.kind)
                .map(|m| m.title)
                .unwrap_or("resource")
        ))
    }
}

/// Each `depends_on` entry is an address of something declared.
fn check_depends_on(
    spec: &Spec,
    origin: &Origin<'_>,
    by_addr: &HashMap<Address, usize>,
    opts: LoadOptions,
    issues: &mut Vec<Issue>,
) {
    for (i, dep) in spec.depends_on().iter().enumerate() {
        let field = format!("depends_on[{i}]");
        match Address::parse(dep) {
            Ok(a) if by_addr.contains_key(&a) => {}
            Ok(a) => issues.push(place(
                unresolved(
                    format!("`depends_on` names {a}, which is not declared"),
                    opts,
                ),
                origin,
                &field,
            )),
            Err(e) => issues.push(place(
                Issue::error("invalid-address", e.to_string()),
                origin,
                &field,
            )),
        }
    }
}

#[cfg(test)]
mod rule_tests {
    use crate::manifest::{Format, LoadOptions, load_str};

    /// Every rule of every domain is checked: the manifest that breaks it is refused with the rule's id and
    /// its source, at the place it names; and each domain's documentation lists it.
    #[test]
    fn every_rule_refuses_what_breaks_it_and_is_documented() {
        let mut seen = std::collections::HashSet::new();
        for (domain, rule) in crate::domains::rules() {
            assert!(seen.insert(rule.id), "{} is named twice", rule.id);
            let text = format!("[tenant]\nid = \"acme\"\n\n{}", rule.breaks);
            let loaded = load_str("rule.toml", &text, Format::Toml, LoadOptions::default());
            let issue = loaded.issues.iter().find(|i| i.code == rule.id);
            let issue = issue.unwrap_or_else(|| panic!("{}: {}", rule.id, loaded.messages()));
            assert!(issue.is_error() && issue.rule == Some(rule), "{issue:?}");
            assert!(issue.short(&loaded.sources).contains(rule.source));
            let doc = std::fs::read_to_string(format!(
                "{}/docs/{}.md",
                env!("CARGO_MANIFEST_DIR"),
                domain.as_str()
            ))
            .expect("the domain's documentation");
            assert!(
                doc.contains(&format!("`{}`", rule.id)),
                "docs/{}.md: {}",
                domain.as_str(),
                rule.id
            );
        }
        assert!(seen.len() >= 20, "{} rules", seen.len());
    }
}
