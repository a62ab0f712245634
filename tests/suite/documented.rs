//! Every falconer command the documentation shows (the shell blocks of the README and docs/*.md, and the
//! command lines of examples/: CI files, schedules) is one falconer takes: its arguments parse, and the
//! offline ones run against the repository's own examples with the exit code the doc promises.

use std::path::{Path, PathBuf};

/// One documented command: where it is, its shell block (a scenario: its commands run in order), its
/// words after `falconer`, the exit code a `# exit N` comment promises, and whether it uses the reader's
/// shell variables.
#[derive(Debug)]
struct Documented {
    place: String,
    block: usize,
    words: Vec<String>,
    exit: Option<i32>,
    vars: bool,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of a file that can hold commands, with the line of the block they are in: a Markdown file's
/// shell blocks, any other file whole (one block); a line ending in `\` joined with the next.
fn command_lines(path: &Path) -> Vec<(usize, usize, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let markdown = path.extension().is_some_and(|e| e == "md");
    let mut out: Vec<(usize, usize, String)> = Vec::new();
    let mut in_shell = !markdown;
    let mut pending: Option<(usize, String)> = None;
    let mut block = 0;
    for (i, line) in text.lines().enumerate() {
        if markdown && line.trim_start().starts_with("```") {
            in_shell = !in_shell && matches!(line.trim(), "```sh" | "```bash" | "```console");
            block = i + 1;
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
            None => out.push((n, block, joined)),
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

/// The exit code a line's comment promises outright (`# exit 4: the proposal`); not a condition's (`# exit 5
/// when incomplete`).
fn promised_exit(line: &str) -> Option<i32> {
    let (_, after) = line.split_once("# exit ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let rest = after[digits.len()..].trim_start();
    (rest.is_empty() || rest.starts_with(':'))
        .then(|| digits.parse().ok())
        .flatten()
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
    let mut files_seen = 0;
    for f in files {
        let file = f.strip_prefix(root()).unwrap_or(&f).display().to_string();
        for (n, block, line) in command_lines(&f) {
            if line.trim_start().starts_with('#') {
                continue;
            }
            if let Some(words) = command_in(&line, &subcommands) {
                let place = format!("{file}:{n}");
                let exit = promised_exit(&line);
                let vars = line.contains('$');
                let block = block + 100_000 * files_seen;
                out.push(Documented {
                    place,
                    block,
                    words,
                    exit,
                    vars,
                });
            }
        }
        files_seen += 1;
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

/// The flags whose value a command writes, and those whose value is a file it reads.
const OUTPUTS: [&str; 5] = ["-o", "--output", "--report", "--junit", "--markdown"];
const INPUTS: [&str; 5] = [
    "--key-file",
    "--map-file",
    "--secrets",
    "--profile",
    "--manifest",
];

/// Whether a documented command runs on what the repository has: the reader's own files (`tenants/`,
/// `my-profile.toml`, `acme=manifests/acme`, `backup.key`), backup ids and times, and shell variables are
/// the reader's; outputs it writes (`-o`, `--report`, ...) do not count, and what an earlier command of
/// the block wrote (in `dir`) is the block's own. A repository on S3 is the suite's S3.
fn runs_on_our_own(d: &Documented, dir: &Path) -> bool {
    let backup_id = |w: &str| {
        w.len() > 16 && w.as_bytes()[8] == b'T' && w[..8].bytes().all(|b| b.is_ascii_digit())
    };
    let mut previous = "";
    !d.vars
        && !d.words.iter().any(|w| w == "--at" || backup_id(w))
        && d.words.iter().skip(1).all(|w| {
            let after = std::mem::replace(&mut previous, w.as_str());
            let path = w.rsplit_once('=').map_or(w.as_str(), |(_, v)| v);
            let names_a_file = INPUTS.contains(&after)
                || (path.contains('/') && !path.starts_with("s3://") && after != "--shard")
                || path.ends_with(".toml")
                || path.ends_with(".json");
            let exists = root().join(path).exists() || dir.join(path).exists();
            OUTPUTS.contains(&after) || w.starts_with('-') || !names_a_file || exists
        })
}

/// What a live documented command is expected to end with: the code a `# exit N` comment gives; else 0,
/// 2 where it shows changes or drift, and 1 with the hint of `--auto-approve` where it would ask a person
/// (the suite has no terminal; with nothing to change it asks nothing).
fn ends_as_documented(d: &Documented, o: &std::process::Output) -> bool {
    let has = |f: &str| d.words.iter().any(|w| w == f);
    let asks = matches!(d.words[0].as_str(), "apply" | "restore")
        && !has("--auto-approve")
        && !has("--dry-run");
    match (d.exit, o.status.code()) {
        (Some(want), got) => got == Some(want),
        (None, Some(0)) => true,
        (None, Some(1)) => asks && String::from_utf8_lossy(&o.stderr).contains("--auto-approve"),
        (None, Some(2)) => ["plan", "drift", "report"].contains(&d.words[0].as_str()),
        _ => false,
    }
}

/// The state a shell block of the docs starts from: the example tenant applied and backed up once, in a
/// state store and repository of the block's own (a copy), so that a block's `tenant set --status
/// suspended` is not the next block's.
fn block_dir(w: &crate::support::Workdir, base: &Path, block: usize) -> PathBuf {
    let dir = w.dir.join(format!("block-{block}"));
    std::fs::create_dir_all(&dir).expect("a block's folder");
    std::os::unix::fs::symlink(root().join("examples"), dir.join("examples"))
        .expect("a link to the examples");
    for entry in std::fs::read_dir(base).expect("the base") {
        let from = entry.expect("an entry").path();
        let copy = std::process::Command::new("cp")
            .arg("-r")
            .arg(&from)
            .arg(&dir)
            .status();
        assert!(
            copy.expect("cp runs").success(),
            "copying {}",
            from.display()
        );
    }
    dir
}

/// The live documented commands (plan, apply, drift, export, backup, restore, tenant, history, doctor,
/// ...) that run on what the repository has run against the suite's servers and doubles, each shell
/// block in order from the example tenant applied and backed up: each ends as documented.
#[tokio::test(flavor = "multi_thread")]
async fn live_documented_commands_run() {
    let offline = [
        "validate",
        "graph",
        "diff",
        "convert",
        "migrate",
        "completions",
        "man",
    ];
    let _turn = crate::support::ACME_BUCKETS.lock().await;
    let _globex = crate::support::GLOBEX_BUCKETS.lock().await;
    let db = crate::support::TestDb::new("documented").await;
    let mongo = crate::support::MongoServer::start().await;
    // The example's Kafka ACLs need an authorizer: the protocol double's.
    let kafka = crate::kafka_double::KafkaDouble::start().await;
    let (kc, ow) = crate::support::doubles("acme").await;
    let mut env = crate::support::systems_env(&db.url, &mongo.url, &kafka.bootstrap).await;
    let secrets = [
        ("ACME_FUNCTIONS_API_TOKEN", "acme-token-doc"),
        ("ACME_SMTP_PASSWORD", "acme-smtp-doc"),
        ("ACME_ORDERS_API_SECRET", "acme-orders-doc"),
        ("ACME_GOOGLE_CLIENT_SECRET", "acme-google-doc"),
        ("ACME_DB_APP_PASSWORD", "acme-db-doc"),
    ];
    env.extend(secrets.map(|(k, v)| (k.to_string(), v.to_string())));
    env.extend(kc.env());
    env.extend(ow.env());
    // An OpenWhisk key reaches its own namespace only: a clone into globex, and the example fleet, are
    // given theirs, as an operator's profile would.
    let (_, globex) = crate::support::doubles("globex").await;
    let (_, fleet) = crate::support::doubles("fleet-01").await;
    let w = crate::support::Workdir::new("documented", "live", env);
    // The repositories on S3 the docs name, as buckets of the suite's S3.
    let s3 = crate::support::s3_client(
        &crate::support::s3_endpoint().await,
        crate::support::S3_SECRET,
    );
    let all = documented();
    let mut buckets: Vec<String> = all
        .iter()
        .flat_map(|d| {
            d.words
                .iter()
                .filter_map(|w| w.strip_prefix("s3://")?.split('/').next().map(String::from))
        })
        .collect();
    buckets.sort();
    buckets.dedup();
    for b in &buckets {
        let made = bucket_call(&s3, reqwest::Method::PUT, b).await;
        let owned = made == Err(Some("BucketAlreadyOwnedByYou".to_string()));
        assert!(made.is_ok() || owned, "{b}: {made:?}");
    }
    let base = w.dir.join("base");
    std::fs::create_dir_all(&base).expect("the base");
    let command = |dir: &Path, words: &[String]| {
        let mut c = w.command(&words.iter().map(String::as_str).collect::<Vec<_>>());
        c.current_dir(dir)
            .env(
                "FALCONER_STATE",
                format!("sqlite:{}", dir.join("state.db").display()),
            )
            .env(
                "FALCONER_REPO",
                format!("file:{}", dir.join("backups").display()),
            );
        let whisk = match () {
            _ if words.iter().any(|w| w == "globex") => Some(&globex),
            _ if words.iter().any(|w| w.starts_with("examples/fleet")) => Some(&fleet),
            _ => None,
        };
        c.envs(whisk.map(|d| d.env()).unwrap_or_default());
        c
    };
    let run = |dir: &Path, words: &[String]| crate::support::bounded(command(dir, words));
    std::os::unix::fs::symlink(root().join("examples"), base.join("examples")).expect("a link");
    for p in [
        "apply examples/acme --auto-approve --allow WIDENS_ACCESS",
        "backup create --tenant acme --manifest examples/acme",
    ] {
        let words: Vec<String> = p.split(' ').map(String::from).collect();
        crate::support::code(&run(&base, &words), 0);
    }
    std::fs::remove_file(base.join("examples")).expect("the link goes");
    let (mut ran, mut failed, mut dirs) =
        (Vec::new(), Vec::new(), std::collections::HashMap::new());
    for d in all {
        let verb = d.words[0].as_str();
        let against = d.words.iter().any(|w| w == "--against");
        if offline.contains(&verb) || against || verb.starts_with('-') {
            continue;
        }
        let dir = dirs
            .entry(d.block)
            .or_insert_with(|| block_dir(&w, &base, d.block));
        if !runs_on_our_own(&d, dir) {
            continue;
        }
        let o = match verb {
            // The agent runs until stopped: it starts, is ready, and stops on SIGTERM with exit 0.
            "serve" => served(command(dir, &d.words)).await,
            _ => run(dir, &d.words),
        };
        ran.push(format!(
            "{}: falconer {} -> {:?}",
            d.place,
            d.words.join(" "),
            o.status.code()
        ));
        if !ends_as_documented(&d, &o) {
            let (out, err) = (
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
            );
            failed.push(format!(
                "{}: falconer {} -> {:?}\n{out}{err}",
                d.place,
                d.words.join(" "),
                o.status.code()
            ));
        }
    }
    eprintln!(
        "ran {} live documented commands:\n{}",
        ran.len(),
        ran.join("\n")
    );
    assert!(ran.len() >= 30, "{ran:#?}");
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    db.drop().await;
    // What the clone made outside the test's own servers: globex's buckets and cluster-wide roles.
    let names = falconer::domains::storage::provider::bucket_names(&s3)
        .await
        .expect("the buckets");
    for b in names.iter().filter(|b| b.starts_with("globex-")) {
        let gone = bucket_call(&s3, reqwest::Method::DELETE, b).await;
        assert!(gone.is_ok(), "{b}: {gone:?}");
    }
    let admin = sqlx::PgPool::connect(&crate::support::postgres_url())
        .await
        .expect("the cluster");
    sqlx::query("drop role if exists globex_app, globex_readonly")
        .execute(&admin)
        .await
        .expect("roles dropped");
}

/// A request on a whole bucket (made, removed); the S3 error code when it fails.
async fn bucket_call(
    s3: &falconer::domains::storage::client::Client,
    method: reqwest::Method,
    bucket: &str,
) -> Result<(), Option<String>> {
    let call = falconer::s3::client::Call::new(method, Some(bucket), "");
    s3.send(call)
        .await
        .map(|_| ())
        .map_err(|e| e.code().map(String::from))
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

/// A documented `falconer serve`, started (on a port of its own), asked `/readyz`, then stopped by
/// SIGTERM: its exit code is 0 only when it was ready and stopped cleanly.
async fn served(c: std::process::Command) -> std::process::Output {
    let agent = crate::agent::Agent::spawn(c);
    let (ready, body) = agent.get("/readyz").await;
    let status = agent.terminate().await;
    use std::os::unix::process::ExitStatusExt;
    // A wait status of exit code 0 or 1.
    let code = i32::from(!(ready == 200 && status.success()));
    std::process::Output {
        status: std::process::ExitStatus::from_raw(code << 8),
        stdout: Vec::new(),
        stderr: format!("/readyz: {ready} {body}").into_bytes(),
    }
}
