//! The malformed-manifest corpus: every file (or directory) under `tests/malformed/` must give its
//! diagnostics with file:line:column, and never a manifest. Snapshots pin the messages.
//! Files named `warn_*` must load with warnings only.

use std::path::{Path, PathBuf};

use falconer::manifest::{LoadOptions, load_path};

fn corpus() -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir("tests/malformed")
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    entries
}

fn short(p: &Path, opts: LoadOptions) -> (falconer::manifest::Loaded, String) {
    let loaded = load_path(p, opts);
    let text = loaded.messages();
    (loaded, text)
}

#[test]
fn every_malformed_manifest_is_diagnosed_with_a_location() {
    let entries = corpus();
    assert!(
        entries.len() >= 20,
        "the corpus has {} entries",
        entries.len()
    );
    let located = regex_like_location();
    for p in entries {
        let name = p
            .file_name()
            .expect("name")
            .to_string_lossy()
            .replace('.', "_");
        let (loaded, text) = short(&p, LoadOptions::default());
        if name.starts_with("warn_") {
            assert!(!loaded.has_errors(), "{name} should load:\n{text}");
            assert!(!loaded.issues.is_empty(), "{name} should warn");
        } else {
            assert!(loaded.has_errors(), "{name} should fail:\n{text}");
            assert!(
                loaded.manifest.is_none(),
                "{name} gave a manifest despite errors"
            );
        }
        for i in &loaded.issues {
            assert!(
                i.span.is_some(),
                "{name}: issue without a location: {}",
                i.short(&loaded.sources)
            );
        }
        let first = text.lines().next().unwrap_or_default();
        assert!(
            located(first),
            "{name}: first line has no file:line:col: {first}"
        );
        insta::assert_snapshot!(name, text);
    }
}

/// `tests/malformed/<file>:<line>:<col>: ` at the start of a line.
fn regex_like_location() -> impl Fn(&str) -> bool {
    |line: &str| {
        let Some(rest) = line.strip_prefix("tests/malformed/") else {
            return false;
        };
        let mut parts = rest.splitn(4, ':');
        let _file = parts.next();
        let line_no = parts.next().and_then(|x| x.parse::<u32>().ok());
        let col = parts.next().and_then(|x| x.parse::<u32>().ok());
        line_no.is_some_and(|n| n > 0) && col.is_some_and(|n| n > 0)
    }
}

#[test]
fn strict_mode_makes_plain_secrets_errors_and_never_shows_them() {
    let p = Path::new("tests/malformed/warn_plain_secret.toml");
    let (loaded, text) = short(
        p,
        LoadOptions {
            strict: true,
            ..Default::default()
        },
    );
    assert!(loaded.has_errors(), "{text}");
    assert!(text.contains("plain-secret"));
    assert!(
        !text.contains("hunter2-canary"),
        "a secret leaked into a message:\n{text}"
    );
    let (_, lenient) = short(p, LoadOptions::default());
    assert!(!lenient.contains("hunter2-canary"));
}

#[test]
fn graphical_report_shows_the_source_line() {
    let p = Path::new("tests/malformed/unknown_field.toml");
    let loaded = load_path(p, LoadOptions::default());
    let issue = loaded.issues.first().expect("an issue");
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    handler
        .render_report(&mut out, &issue.report(&loaded.sources))
        .expect("renders");
    insta::assert_snapshot!("graphical_unknown_field", out);
    assert!(
        out.contains("tests/malformed/unknown_field.toml:11:1"),
        "{out}"
    );
    assert!(out.contains("nulable = false"));
}

#[test]
fn json_message_format_has_line_and_column() {
    let p = Path::new("tests/malformed/wrong_type.toml");
    let loaded = load_path(p, LoadOptions::default());
    let j = falconer::cli::issue_json(&loaded.issues[0], &loaded.sources);
    assert_eq!(j["file"], "tests/malformed/wrong_type.toml");
    assert_eq!(j["line"], 6);
    assert_eq!(j["column"], 14);
    assert_eq!(j["severity"], "error");
}
