//! The layering of the top-level modules, read from the source: no module reaches back into one that uses
//! it (no cycle), each stays in its layer, and no core module names a domain.
//!
//! The layers, bottom up (a module may use only those below it):
//!
//! ```text
//! setup                       (the environment as a value; why a system cannot be reached)
//! tls                         (the TLS settings every client takes)
//! util, diag
//! model                       (types only: Address, Domain, Kind, KindMeta, Tenant, Hazard, SecretValue)
//! secrets, syntax             (sealing and fingerprints; the spanned tree, its Deserializer, sniffing)
//! domains                     (the kind registry, Item/Change, the Provider trait, the six domain folders)
//! graph                       (the dependency graph)
//! manifest, plan, state       (loading and validating; planning; the state store)
//! falcone, engine, profile,  (artifacts; the apply engine; where the live systems are;
//! fleet                       many tenants in one run)
//! restore, fuzz               (restores; the readers of untrusted input the fuzz targets call)
//! ops                         (the operations: typed requests and outcomes, events through a trait)
//! agent                       (`falconer serve`: the operations run by an agent, answered over HTTP)
//! cli                         (the commands: arguments into requests, outcomes rendered, exit codes)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module and the layer it is in.
const LAYERS: &[(&str, usize)] = &[
    ("setup", 0),
    ("tls", 1),
    ("util", 2),
    ("diag", 2),
    ("s3", 3),
    ("model", 3),
    ("secrets", 4),
    ("syntax", 4),
    ("domains", 5),
    ("graph", 6),
    ("manifest", 7),
    ("plan", 7),
    ("state", 7),
    ("backup", 7),
    ("falcone", 8),
    ("engine", 8),
    ("fleet", 8),
    ("restore", 9),
    ("fuzz", 9),
    ("profile", 8),
    ("ops", 10),
    ("agent", 11),
    ("cli", 12),
];

/// The domain folders: only `domains` (and the places listed in [`NAMING_A_DOMAIN`], with why) may name one.
const DOMAINS: &[crate::model::Domain] = &crate::model::Domain::ALL;

/// Files outside `domains/` that name a domain's module, each with why: the test fails when a file not
/// listed names a domain, and when a listed file no longer does.
const NAMING_A_DOMAIN: &[(&str, &str)] = &[
    ("falcone/map/iam.rs", MAPS_ITS_SECTION),
    ("falcone/map/postgres.rs", MAPS_ITS_SECTION),
    ("falcone/map/mongo.rs", MAPS_ITS_SECTION),
    ("falcone/map/kafka.rs", MAPS_ITS_SECTION),
    ("falcone/map/functions.rs", MAPS_ITS_SECTION),
    ("falcone/map/storage.rs", MAPS_ITS_SECTION),
];

/// Why the artifact importer names domains: the platform's artifact has one section per domain, each in its
/// own dialect, mapped by one file per domain (the importer's core, `falcone/map/mod.rs`, names none).
const MAPS_ITS_SECTION: &str = "maps its domain's section of a Falcone artifact, both ways (reading it, and writing it for `backup export`)";

/// A source file's text without its comments (`//` to the end of the line).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file's code names (`crate::x`, `crate::{x, y::z}`).
fn named(code: &str) -> BTreeSet<String> {
    named_after(code, "crate::")
}

/// The names a file's code gives right after `prefix` (`prefix` then `x`, or `{x, y::z}`).
fn named_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        rest = &rest[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items are split at the group's own commas, not those of nested groups.
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(head(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(head(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(head);
        }
    }
    out
}

/// The first name of a path (`functions as fnd` → `functions`, `model::Address` → `model`).
fn head(item: &str) -> String {
    let first = item.trim().split("::").next().unwrap_or_default();
    first
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Every `.rs` file under `dir`, with its path relative to `src/`.
fn files(src: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).expect("src is readable") {
        let p = e.expect("an entry").path();
        if p.is_dir() {
            files(src, &p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(src)
                .expect("under src")
                .display()
                .to_string();
            out.push((rel, std::fs::read_to_string(&p).expect("readable")));
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    files(&src, &src, &mut out);
    out
}

fn top(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or_default();
    first.strip_suffix(".rs").unwrap_or(first)
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let layer: BTreeMap<&str, usize> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for (rel, text) in sources() {
        let from = top(&rel);
        if matches!(from, "lib" | "main" | "layering") {
            continue;
        }
        seen.insert(from.to_string());
        let Some(&own) = layer.get(from) else {
            wrong.push(format!("{rel}: module `{from}` has no layer in LAYERS"));
            continue;
        };
        for to in named(&code(&text)) {
            match layer.get(to.as_str()) {
                Some(&l) if to != from && l >= own => wrong.push(format!(
                    "{rel}: `{from}` (layer {own}) uses `{to}` (layer {l})"
                )),
                _ => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let listed: BTreeSet<String> = LAYERS.iter().map(|(m, _)| m.to_string()).collect();
    assert_eq!(seen, listed, "LAYERS names exactly the modules there are");
}

#[test]
fn no_core_module_names_a_domain() {
    let mut found = BTreeSet::new();
    for (rel, text) in sources() {
        if top(&rel) == "domains" || rel == "layering.rs" {
            continue;
        }
        let names = named_after(&code(&text), "domains::");
        if DOMAINS.iter().any(|d| names.contains(d.as_str())) {
            found.insert(rel);
        }
    }
    let allowed: BTreeSet<String> = NAMING_A_DOMAIN.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        found, allowed,
        "files outside domains/ that name a domain (NAMING_A_DOMAIN lists those still to move)"
    );
}

/// What only the command line does: print, read a terminal or the environment, end the process.
const TERMINAL_ONLY: &[&str] = &[
    "println!",
    "eprintln!",
    "print!(",
    "eprint!(",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
    "IsTerminal",
    "std::process::exit",
    "std::env::var",
    "std::env::args",
];

#[test]
fn no_operation_prints_reads_a_terminal_or_the_environment() {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        if top(&rel) != "ops" {
            continue;
        }
        let code = code(&text);
        for word in TERMINAL_ONLY.iter().filter(|w| code.contains(**w)) {
            found.push(format!("{rel}: {word}"));
        }
    }
    assert!(
        found.is_empty(),
        "operations report through ops::Events and take their settings as values: {found:#?}"
    );
}

/// Files outside the command line that read the process environment, each with why; the test fails on
/// any other file, and on a listed file that no longer does.
const READS_THE_ENVIRONMENT: &[(&str, &str)] = &[
    (
        "secrets.rs",
        "a secret written `{ env = \"NAME\" }`: the user named the variable, and it is read when the secret is",
    ),
    (
        "state/mod.rs",
        "a lock's owner is this process (its user and host, as its pid is), and FALCONER_LOCK_LOG is a diagnostic hook of scripts/locks-under-load",
    ),
];

#[test]
fn only_the_command_line_reads_the_environment() {
    let found: BTreeSet<String> = sources()
        .into_iter()
        .filter(|(rel, text)| {
            top(rel) != "cli" && rel != "layering.rs" && code(text).contains("std::env::var")
        })
        .map(|(rel, _)| rel)
        .collect();
    let allowed: BTreeSet<String> = READS_THE_ENVIRONMENT
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(
        found, allowed,
        "the command line reads the environment once (setup::Env) and passes it down as a value"
    );
}

/// The words of a domain's naming (its scope in the tenant block) and its variants of `Domain`.
fn domain_words() -> Vec<String> {
    let mut words: Vec<String> = ["Postgres", "Mongo", "Kafka", "Storage", "Iam", "Functions"]
        .iter()
        .map(|v| format!("Domain::{v}"))
        .collect();
    // The scopes' names and naming keys, as the domains declare them (the compound ones: `realm` is a word
    // of Keycloak's API as much as a scope).
    for scope in crate::domains::scopes() {
        for w in [scope.name, scope.key] {
            if w.contains('_') && !words.iter().any(|x| x == w) {
                words.push(w.to_string());
            }
        }
    }
    words
}

/// Files outside `domains/` that name a `Domain` variant or a naming word, each with why; the test fails
/// on any other file, and on a listed file that no longer does (the list only shrinks).
const NAMING_WORDS_OUTSIDE: &[(&str, &str)] = &[
    (
        "model/address.rs",
        "the domain table itself (`for_each_domain!`), whose lines name the variants",
    ),
    ("falcone/map/mod.rs", MAPS_ITS_SECTION),
    ("falcone/write.rs", MAPS_ITS_SECTION),
    (
        "backup/mod.rs",
        "the oldest backup format named its domains by variant; `migrate` reads it",
    ),
];

#[test]
fn no_core_file_names_a_domain_variant_or_a_naming_word() {
    let words = domain_words();
    let mut found = BTreeSet::new();
    for (rel, text) in sources() {
        if top(&rel) == "domains" || rel == "layering.rs" {
            continue;
        }
        let code = code(&text);
        if words.iter().any(|w| code.contains(w.as_str())) {
            found.insert(rel);
        }
    }
    let allowed: BTreeSet<String> = NAMING_WORDS_OUTSIDE
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(
        found, allowed,
        "files outside domains/ that name a Domain variant or a naming word"
    );
}

#[test]
fn the_reader_finds_grouped_and_plain_paths() {
    let n = named("use crate::{model::{Address, Domain}, secrets};\nlet x = crate::util::now();");
    assert_eq!(
        n,
        ["model", "secrets", "util"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert!(named(&code("// crate::cli is only mentioned")).is_empty());
    let d = named_after(
        "use crate::domains::{Spec, functions as fnd, iam};",
        "domains::",
    );
    assert!(d.contains("iam") && d.contains("functions"), "{d:?}");
}
