//! Identifier maps for restoring one tenant's backup into another: the proposal, typed by scope.
//!
//! An entry maps a whole name (a realm, a schema, a database, a namespace, the tenant id) or a prefix that
//! ends at a delimiter (`acme.` for topics, `acme-` for buckets): a name is rewritten whole or by that
//! prefix, never inside a word (`acme.orders` and `acme.ops` become `globex.orders` and `globex.ops`, never
//! `globex.rders`). No two entries have the same `from`.

use serde::{Deserialize, Serialize};

use crate::model::Tenant;

/// One entry of an identifier map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MapEntry {
    /// What it names: `tenant`, `realm`, `postgres_schema`, `mongo_database`, `kafka_topic_prefix`,
    /// `functions_namespace`, `bucket_prefix` (several, comma-separated, when one name serves several).
    pub scope: String,
    pub from: String,
    pub to: String,
}

/// Whether `c` ends a word in a name.
fn delimiter(c: char) -> bool {
    matches!(c, '.' | '-' | '_' | '/' | ':')
}

/// `name` with every whole-word occurrence of `from` replaced by `to` (words end at `.`, `-`, `_`, `/`,
/// `:` or the name's ends); `None` when `from` is not a word of it.
pub fn replace_word(name: &str, from: &str, to: &str) -> Option<String> {
    if from.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut rest = name;
    let mut found = false;
    while let Some(i) = rest.find(from) {
        // What precedes the match: in `rest`, else what was already written.
        let before = rest[..i].chars().last().or_else(|| out.chars().last());
        let after = &rest[i + from.len()..];
        if before.is_none_or(delimiter) && after.chars().next().is_none_or(delimiter) {
            out.push_str(&rest[..i]);
            out.push_str(to);
            found = true;
        } else {
            out.push_str(&rest[..i + from.len()]);
        }
        rest = after;
    }
    out.push_str(rest);
    found.then_some(out)
}

/// The name a source name takes in the target: the target's own when it declares one (`declared`), else the
/// source name with the source tenant's id replaced by the target's as a whole word, else the target's
/// default.
fn target_name(
    source_name: &str,
    ids: (&str, &str),
    declared: Option<&str>,
    default: &str,
) -> String {
    if let Some(d) = declared {
        return d.to_string();
    }
    replace_word(source_name, ids.0, ids.1).unwrap_or_else(|| default.to_string())
}

/// The proposal for restoring `source`'s objects into `target` (whose naming may be declared, in the
/// registry or a manifest, or defaulted), one entry per name that changes.
pub fn propose(source: &Tenant, target: &Tenant) -> Vec<MapEntry> {
    let ids = (source.id.as_str(), target.id.as_str());
    let declared = &target.naming;
    let mut raw: Vec<(&str, String, String)> =
        vec![("tenant", source.id.clone(), target.id.clone())];
    let realm = source.realm();
    raw.push((
        "realm",
        realm.clone(),
        target_name(&realm, ids, declared.realm.as_deref(), &target.realm()),
    ));
    let lists = [
        (
            "postgres_schema",
            source.postgres_schemas(),
            declared.postgres_schemas.clone(),
            target.postgres_schemas(),
        ),
        (
            "mongo_database",
            source.mongo_databases(),
            declared.mongo_databases.clone(),
            target.mongo_databases(),
        ),
    ];
    for (scope, names, declared_list, defaults) in lists {
        for (i, n) in names.iter().enumerate() {
            let declared_one = declared_list
                .as_ref()
                .and_then(|l| l.get(i))
                .map(String::as_str);
            let default = defaults
                .get(i)
                .or(defaults.first())
                .cloned()
                .unwrap_or_default();
            raw.push((
                scope,
                n.clone(),
                target_name(n, ids, declared_one, &default),
            ));
        }
    }
    let singles = [
        (
            "kafka_topic_prefix",
            source.kafka_topic_prefix(),
            declared.kafka_topic_prefix.clone(),
            target.kafka_topic_prefix(),
        ),
        (
            "functions_namespace",
            source.functions_namespace(),
            declared.functions_namespace.clone(),
            target.functions_namespace(),
        ),
        (
            "bucket_prefix",
            source.bucket_prefix(),
            declared.bucket_prefix.clone(),
            target.bucket_prefix(),
        ),
    ];
    for (scope, name, declared_one, default) in singles {
        raw.push((
            scope,
            name.clone(),
            target_name(&name, ids, declared_one.as_deref(), &default),
        ));
    }
    merge(raw)
}

/// One entry per `from`: scopes sharing a name and its target are listed together; an unchanged name is no
/// entry.
fn merge(raw: Vec<(&str, String, String)>) -> Vec<MapEntry> {
    let mut out: Vec<MapEntry> = Vec::new();
    for (scope, from, to) in raw.into_iter().filter(|(_, f, t)| f != t) {
        match out.iter_mut().find(|e| e.from == from) {
            Some(e) if e.to == to => {
                if !e.scope.split(',').any(|s| s == scope) {
                    e.scope = format!("{},{scope}", e.scope);
                }
            }
            // The same name would go two ways: the first (the wider scope) wins; the other is left for the
            // user to map (`--map`).
            Some(_) => {}
            None => out.push(MapEntry {
                scope: scope.to_string(),
                from,
                to,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_replaced_whole_never_inside() {
        assert_eq!(
            replace_word("acme.orders", "acme", "globex").as_deref(),
            Some("globex.orders")
        );
        assert_eq!(
            replace_word("tenant_acme", "acme", "globex").as_deref(),
            Some("tenant_globex")
        );
        assert_eq!(
            replace_word("acme", "acme", "globex").as_deref(),
            Some("globex")
        );
        assert_eq!(replace_word("acmecorp.x", "acme", "globex"), None);
        assert_eq!(replace_word("bacme-x", "acme", "globex"), None);
        assert_eq!(
            replace_word("acme-acme", "acme", "g").as_deref(),
            Some("g-g")
        );
    }

    #[test]
    fn the_proposal_maps_every_scope_without_cut_names_or_duplicate_froms() {
        let mut acme = Tenant::new("acme");
        acme.naming.postgres_schemas = Some(vec!["tenant_acme".into(), "app".into()]);
        let globex = Tenant::new("globex");
        let p = propose(&acme, &globex);
        let get = |from: &str| p.iter().find(|e| e.from == from).map(|e| e.to.clone());
        assert_eq!(get("acme").as_deref(), Some("globex"));
        assert_eq!(get("tenant_acme").as_deref(), Some("tenant_globex"));
        assert_eq!(get("acme.").as_deref(), Some("globex."));
        assert_eq!(get("acme-").as_deref(), Some("globex-"));
        // `app` has no tenant word: it takes the target's default schema.
        assert_eq!(get("app").as_deref(), Some("globex"));
        let mut froms: Vec<&str> = p.iter().map(|e| e.from.as_str()).collect();
        froms.sort_unstable();
        let n = froms.len();
        froms.dedup();
        assert_eq!(froms.len(), n, "{p:?}");
        // The tenant id, realm, database and namespace share one entry.
        let shared = p.iter().find(|e| e.from == "acme").expect("an entry");
        for scope in ["tenant", "realm", "mongo_database", "functions_namespace"] {
            assert!(shared.scope.split(',').any(|s| s == scope), "{shared:?}");
        }
    }

    #[test]
    fn a_declared_target_naming_wins() {
        let acme = Tenant::new("acme");
        let mut globex = Tenant::new("globex");
        globex.naming.kafka_topic_prefix = Some("gx.".into());
        let p = propose(&acme, &globex);
        assert!(p.contains(&MapEntry {
            scope: "kafka_topic_prefix".into(),
            from: "acme.".into(),
            to: "gx.".into()
        }));
    }
}
