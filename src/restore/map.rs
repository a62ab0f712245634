//! Identifier maps for restoring one tenant's backup into another: the proposal, typed by scope.
//!
//! An entry maps a whole name (a realm, a schema, a database, a namespace, the tenant id) or a prefix that
//! ends at a delimiter (`acme.` for topics, `acme-` for buckets): a name is rewritten whole or by that
//! prefix, never inside a word (`acme.orders` and `acme.ops` become `globex.orders` and `globex.ops`, never
//! `globex.rders`). No two entries have the same `from`.

use serde::{Deserialize, Serialize};

use crate::domains::rename::{Rename, Renamer, scopes_of};
use crate::model::tenant::TENANT_ID;
use crate::model::{Naming, Tenant};

/// One entry of an identifier map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MapEntry {
    /// What it names: `tenant`, `realm`, `postgres_schema`, `mongo_database`, `kafka_topic_prefix`,
    /// `functions_namespace`, `bucket_prefix` (several, comma-separated, when one name serves several).
    pub scope: String,
    pub from: String,
    pub to: String,
}

pub use crate::domains::rename::replace_word;

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
/// registry or a manifest, or defaulted), one entry per name that changes; the scopes and their names are
/// the domains' ([`scopes_of`]).
pub fn propose(source: &Tenant, target: &Tenant) -> Vec<MapEntry> {
    let ids = (source.id.as_str(), target.id.as_str());
    let mut raw: Vec<(&str, String, String)> =
        vec![(TENANT_ID.name, source.id.clone(), target.id.clone())];
    let targets = scopes_of(target);
    for from in scopes_of(source) {
        let Some(to) = targets.iter().find(|t| t.scope == from.scope) else {
            continue;
        };
        for (i, name) in from.names.iter().enumerate() {
            let declared = to
                .declared
                .as_ref()
                .and_then(|l| l.get(i))
                .map(String::as_str);
            let default = to
                .names
                .get(i)
                .or(to.names.first())
                .cloned()
                .unwrap_or_default();
            let renamed = target_name(name, ids, declared, &default);
            raw.push((from.scope.name, name.clone(), renamed));
        }
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

/// Why a map cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("map entry `{from}`: unknown scope `{scope}` (expected one of: {})", crate::domains::scopes().map(|s| s.name).collect::<Vec<_>>().join(", "))]
    Scope { from: String, scope: String },
    #[error("map entry `{0}`: an empty name")]
    Empty(String),
    #[error("`{0}` is mapped twice; give each name one target")]
    Twice(String),
    #[error("`{0}` is not FROM=TO")]
    Form(String),
    /// The map file cannot be read.
    #[error("cannot read the map file {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The map file is neither form (JSON or TOML, entries or pairs): the parser's words.
    #[error("the map file {}: {why}", path.display())]
    File {
        path: std::path::PathBuf,
        why: String,
    },
}

/// Entries given by the user (`--map FROM=TO`, a map file) on top of `base` (the accepted proposal, or
/// nothing): an entry replaces the one with the same `from`; a new one takes the scope of the proposal's
/// entry for that name, else `tenant` (a word inside names).
pub fn overridden(
    base: Vec<MapEntry>,
    given: Vec<(Option<String>, String, String)>,
    proposal: &[MapEntry],
) -> Result<Vec<MapEntry>, MapError> {
    let mut out = base;
    let mut seen = std::collections::BTreeSet::new();
    for (scope, from, to) in given {
        if from.is_empty() || to.is_empty() {
            return Err(MapError::Empty(from));
        }
        if !seen.insert(from.clone()) {
            return Err(MapError::Twice(from));
        }
        let scope = scope
            .or_else(|| {
                proposal
                    .iter()
                    .find(|e| e.from == from)
                    .map(|e| e.scope.clone())
            })
            .unwrap_or_else(|| TENANT_ID.name.to_string());
        out.retain(|e| e.from != from);
        out.push(MapEntry { scope, from, to });
    }
    Ok(out)
}

/// Parses `FROM=TO`.
pub fn parse_pair(s: &str) -> Result<(String, String), MapError> {
    match s.split_once('=') {
        Some((f, t)) => Ok((f.trim().to_string(), t.trim().to_string())),
        None => Err(MapError::Form(s.to_string())),
    }
}

/// The renamer of a map.
pub fn renamer(entries: &[MapEntry]) -> Result<Renamer, MapError> {
    let mut renames = Vec::new();
    for e in entries {
        let scopes = e
            .scope
            .split(',')
            .map(|s| {
                crate::domains::scope_named(s.trim()).ok_or_else(|| MapError::Scope {
                    from: e.from.clone(),
                    scope: s.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        renames.push(Rename {
            scopes,
            from: e.from.clone(),
            to: e.to.clone(),
        });
    }
    Ok(Renamer::new(renames))
}

/// The target's tenant block: its id, and the source's naming renamed by the map (every scope declared,
/// so the target's scope is exactly where the renamed objects are).
pub fn target_tenant(source: &Tenant, target_id: &str, r: &Renamer) -> Tenant {
    let mut naming = Naming::default();
    for from in scopes_of(source) {
        let names = from
            .names
            .iter()
            .map(|n| r.renamed(from.scope, n))
            .collect();
        naming.set(from.scope, names);
    }
    Tenant {
        id: target_id.to_string(),
        status: source.status,
        naming,
    }
}

/// Whether `id` is a word of a free text (bounded by anything but letters and digits).
fn names_word(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(i, _)| {
        let before = text[..i].chars().last();
        let after = text[i + id.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The names a renamed backup must no longer hold: the source tenant's id and every name the map renamed
/// (a prefix without its trailing separator), each once; not a name its new name holds as a word (`app`
/// renamed `app_eu`), which every renamed value would then name.
pub fn renamed_words<'a>(source_id: &'a str, entries: &'a [MapEntry]) -> Vec<&'a str> {
    let mut words = vec![source_id];
    for e in entries {
        let w = e.from.trim_end_matches(|c: char| !c.is_alphanumeric());
        if !w.is_empty() && !words.contains(&w) && !names_word(&e.to, w) {
            words.push(w);
        }
    }
    words
}

/// The line of a long or multi-line value that holds `word`, cut to a readable length; a short value whole.
fn excerpt(value: &str, word: &str) -> String {
    const WIDE: usize = 100;
    if value.len() <= WIDE && !value.contains('\n') {
        return format!("{value:?}");
    }
    let line = value
        .lines()
        .find(|l| names_word(l, word))
        .unwrap_or(value)
        .trim();
    match line.char_indices().nth(WIDE) {
        Some((cut, _)) => format!("{:?}…", &line[..cut]),
        None => format!("{line:?}"),
    }
}

/// The values of mapped resources that still name, as a word, the source tenant or a name the map renamed
/// (`words`, from [`renamed_words`]): free text and settings a map does not rewrite (descriptions, URLs,
/// parameter values, tags, SQL in a string that a function runs as dynamic SQL), as `ADDRESS POINTER:
/// value` (the line that names it, for a long value).
pub fn mentions(specs: &[&crate::domains::Spec], words: &[&str]) -> Vec<String> {
    fn walk(v: &serde_json::Value, at: String, words: &[&str], out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => {
                if let Some(w) = words.iter().find(|w| names_word(s, w)) {
                    out.push(format!("{at}: {}", excerpt(s, w)));
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{at}/{i}"), words, out);
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    walk(
                        x,
                        format!("{at}/{}", crate::util::escape_pointer(k)),
                        words,
                        out,
                    );
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for spec in specs {
        let mut found = Vec::new();
        walk(&spec.to_json(), String::new(), words, &mut found);
        let address = spec.address();
        out.extend(found.into_iter().map(|f| format!("{address} {f}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_shown_by_the_line_that_names_it() {
        let body = "begin\n  perform 1;\n  execute 'truncate app.audit';\nend".to_string();
        assert_eq!(excerpt(&body, "app"), "\"execute 'truncate app.audit';\"");
        assert_eq!(excerpt("acme-web", "acme"), "\"acme-web\"");
        let long = format!("{} acme", "x".repeat(200));
        assert!(excerpt(&long, "acme").ends_with('…'));
        let entries = [MapEntry {
            scope: "schema".into(),
            from: "acme.".into(),
            to: "g.".into(),
        }];
        assert_eq!(renamed_words("acme", &entries), ["acme"]);
        let entries = [
            MapEntry {
                scope: "schema".into(),
                from: "app".into(),
                to: "app_eu".into(),
            },
            MapEntry {
                scope: "schema".into(),
                from: "ledger".into(),
                to: "books".into(),
            },
        ];
        assert_eq!(renamed_words("acme", &entries), ["acme", "ledger"]);
    }

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
}
