//! Every falconer command the documentation shows (the shell blocks of the README and docs/*.md, and the
//! command lines of examples/: CI files, schedules) is one falconer takes: its arguments parse, and the
//! offline ones run against the repository's own examples with the exit code the doc promises.

use std::path::{Path, PathBuf};

/// One documented command: where it is, and its words after `falconer`.
#[derive(Debug)]
struct Documented {
    place: String,
    words: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of a file that can hold commands: a Markdown file's shell blocks, any other file whole;
/// a line ending in `\` joined with the next.
fn command_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let markdown = path.extension().is_some_and(|e| e == "md");
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut in_shell = !markdown;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        if markdown && line.trim_start().starts_with("```") {
            in_shell = !in_shell && matches!(line.trim(), "```sh" | "```bash" | "```console");
            continue;
        }
        if !in_shell {
            continue;
        }
        let (n, joined) = match pending.take() {
            Some((n, head)) => (n, format!("{head} {}", line.trim())),
            None => (i + 1, line.to_string()),
        };
        match joined.strip_suffix('\\') {
            Some(head) => pending = Some((n, head.to_string())),
            None => out.push((n, joined)),
        }
    }
    out
}

/// Shell words, as a POSIX shell splits them (quotes, no expansion); `None` for an unclosed quote.
fn words(s: &str) -> Option<Vec<String>> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None::<char>, false);
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Some(out)
}

/// The falconer command in a line, if it holds one: the words after `falconer` up to the end of the
/// simple command (`;`, `&&`, `||`, `|`, a redirection, a comment); CI variables stand as `1`.
fn command_in(line: &str, subcommands: &[String]) -> Option<Vec<String>> {
    let line = line
        .replace("${{ matrix.shard }}", "1")
        .replace("cargo run --release --", "falconer");
    let line = regex_free_vars(&line);
    let at = find_falconer(&line)?;
    let rest = &line[at + "falconer".len()..];
    let cut = [" ;", " &&", " ||", " |", " >", " 2>", " #", ";"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
        .unwrap_or(rest.len());
    let w = words(&rest[..cut])?;
    let first = w.first()?;
    (subcommands.contains(first) || first.starts_with("--")).then_some(w)
}

/// Where `falconer` starts a command in the line (at its start, after a path or a shell operator).
fn find_falconer(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find("falconer ") {
        let at = from + i;
        // A command starts a line, or follows a path, an `=` (ExecStart=), a `run:`, a list's `-` or a
        // shell operator; "the falconer backup schedules" in prose and `check_name: falconer drift` in
        // YAML do not.
        let head = line[..at].trim_end();
        let path = line[..at].ends_with('/');
        let operator = head.ends_with(['=', '-', '&', ';', '|', '(']) || head.ends_with("run:");
        if path || head.is_empty() || operator {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `$NAME` and `${NAME}` as `1` (a shard index, a version): only the shape is checked.
fn regex_free_vars(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            for d in chars.by_ref() {
                if d == '}' {
                    break;
                }
            }
        } else {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_')
            {
                chars.next();
            }
        }
        out.push('1');
    }
    out
}

fn documented() -> Vec<Documented> {
    use clap::CommandFactory;
    let subcommands: Vec<String> = falconer::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut files = vec![root().join("README.md")];
    let mut add_dir = |dir: &Path, all: bool| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("a directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && (all || p.extension().is_some_and(|e| e == "md")))
            .collect();
        found.sort();
        files.extend(found);
    };
    add_dir(&root().join("docs"), false);
    add_dir(&root().join("examples/ci"), true);
    add_dir(&root().join("examples/schedules"), true);
    let mut out = Vec::new();
    for f in files {
        for (n, line) in command_lines(&f) {
            if line.trim_start().starts_with('#') {
                continue;
            }
            if let Some(words) = command_in(&line, &subcommands) {
                let place = format!("{}:{n}", f.strip_prefix(root()).unwrap_or(&f).display());
                out.push(Documented { place, words });
            }
        }
    }
    out
}

/// Every documented command parses as falconer's command line does.
#[test]
fn every_documented_command_parses() {
    use clap::Parser;
    let all = documented();
    assert!(all.len() >= 40, "found {} documented commands", all.len());
    let failed: Vec<String> = all
        .iter()
        .filter_map(|d| {
            let argv = std::iter::once("falconer".to_string()).chain(d.words.iter().cloned());
            // `--version` and `--help` answer by an "error" of clap's that is their output.
            let shown = [
                clap::error::ErrorKind::DisplayVersion,
                clap::error::ErrorKind::DisplayHelp,
            ];
            let refused = falconer::cli::Cli::try_parse_from(argv).err();
            refused.filter(|e| !shown.contains(&e.kind())).map(|e| {
                format!(
                    "{}: falconer {}\n{}",
                    d.place,
                    d.words.join(" "),
                    e.render()
                )
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "documented commands falconer refuses:\n{}",
        failed.join("\n")
    );
}

/// The offline documented commands (validate, graph, diff, convert, migrate, and plan against a file) run
/// on the repository's examples, and end as documented: 0, or 2 where they show changes.
#[test]
fn offline_documented_commands_run() {
    let offline = ["validate", "graph", "diff", "convert", "migrate"];
    let mut ran = Vec::new();
    let mut failed = Vec::new();
    for d in documented() {
        let verb = d.words[0].as_str();
        let against = d.words.iter().any(|w| w == "--against");
        if !(offline.contains(&verb) || (verb == "plan" && against)) {
            continue;
        }
        // Only what names the repository's own files (a doc's `tenants/acme.toml` is the reader's).
        let paths_exist = d
            .words
            .iter()
            .skip(1)
            .filter(|w| !w.starts_with('-') && (w.contains('/') || w.ends_with(".toml")))
            .all(|w| root().join(w).exists());
        let writes = d.words.iter().any(|w| w == "-o" || w == "--output");
        if !paths_exist || writes {
            continue;
        }
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_falconer"))
            .args(&d.words)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env_remove("FALCONER_PROFILE")
            .output()
            .expect("runs");
        ran.push(d.place.clone());
        if !matches!(o.status.code(), Some(0) | Some(2)) {
            failed.push(format!(
                "{}: falconer {} -> {:?}\n{}",
                d.place,
                d.words.join(" "),
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    // The README's first command (the main job, offline) is among them.
    assert!(
        ran.iter().any(|p| p.starts_with("README.md:")),
        "ran {ran:?}"
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn the_command_finder_reads_shell_as_a_shell_does() {
    let subs = vec!["backup".to_string(), "plan".to_string()];
    assert_eq!(
        command_in(
            "  falconer backup verify latest --tenant acme   # check",
            &subs
        ),
        Some(
            ["backup", "verify", "latest", "--tenant", "acme"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        )
    );
    assert_eq!(
        command_in(
            "*/5 * * * * . /etc/env && /usr/local/bin/falconer backup run-due >>/log 2>&1",
            &subs
        )
        .map(|w| w.join(" ")),
        Some("backup run-due".to_string())
    );
    assert_eq!(
        command_in(
            "falconer plan 'tenants/eu-*' --shard ${{ matrix.shard }}/4 | jq .",
            &subs
        )
        .map(|w| w.join(" ")),
        Some("plan tenants/eu-* --shard 1/4".to_string())
    );
    assert_eq!(command_in("name: falconer backups", &subs), None);
    assert_eq!(
        words("a 'b c' \"d\""),
        Some(vec!["a".into(), "b c".into(), "d".into()])
    );
    assert_eq!(words("'open"), None);
}
