//! A new operator's first day (issue 36): what misled is a clear error or a true message, and standard
//! output holds results only (warnings and diagnostics on standard error).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn falconer(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_falconer"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env(
            "FALCONER_STATE",
            format!("sqlite:{}", dir.join("state.db").display()),
        )
        .env_remove("FALCONER_PROFILE")
        .env_remove("FALCONER_REPO")
        .env_remove("FALCONER_POSTGRES_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// The exit code, and words standard error must hold.
fn expect(o: Output, code: i32, words: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", both(&o));
    assert!(text(&o.stderr).contains(words), "{}", both(&o));
}

/// A scratch directory holding a copy of the examples the tests need.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("falconer-first-day-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn a_target_that_matches_nothing_is_an_error_naming_it() {
    let d = scratch("target");
    let acme = examples().join("acme");
    let empty = examples().join("acme-empty");
    let typo = falconer(
        &d,
        &[
            "plan",
            arg(&acme),
            "--against",
            arg(&empty),
            "--target",
            "postgres.tabel.*",
        ],
    );
    assert_eq!(typo.status.code(), Some(1), "{}", both(&typo));
    let err = text(&typo.stderr);
    assert!(
        err.contains("\"postgres.tabel.*\" matches no resource"),
        "{err}"
    );
    assert!(
        !text(&typo.stdout).contains("No changes"),
        "{}",
        both(&typo)
    );
    // One of two patterns matching nothing is named alone.
    let half = falconer(
        &d,
        &[
            "plan",
            arg(&acme),
            "--against",
            arg(&empty),
            "--target",
            "postgres.table.*",
            "--target",
            "kafka.topik.*",
        ],
    );
    assert_eq!(half.status.code(), Some(1));
    let err = text(&half.stderr);
    assert!(
        err.contains("\"kafka.topik.*\"") && !err.contains("\"postgres.table.*\""),
        "{err}"
    );
    let right = falconer(
        &d,
        &[
            "plan",
            arg(&acme),
            "--against",
            arg(&empty),
            "--target",
            "postgres.table.*",
        ],
    );
    assert_eq!(right.status.code(), Some(0), "{}", both(&right));
    assert!(
        text(&right.stdout).contains("to create"),
        "{}",
        both(&right)
    );
}

#[test]
fn a_repository_that_is_not_there_is_an_error_and_verify_must_check_something() {
    let d = scratch("repo");
    for args in [
        vec!["backup", "verify", "--all", "--repo", "file:nope"],
        vec!["backup", "list", "--repo", "file:nope"],
        vec!["backup", "verify", "latest", "--repo", "file:nope"],
        vec![
            "restore",
            "latest",
            "--tenant",
            "acme",
            "--dry-run",
            "--repo",
            "file:nope",
        ],
    ] {
        let o = falconer(&d, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", both(&o));
        assert!(
            text(&o.stderr).contains("no backup repository at file:nope"),
            "{args:?}: {}",
            both(&o)
        );
        assert!(!text(&o.stdout).contains("0 backups checked"), "{args:?}");
    }
    std::fs::create_dir_all(d.join("empty")).expect("a directory");
    let o = falconer(&d, &["backup", "verify", "--all", "--repo", "file:empty"]);
    expect(o, 1, "no backup to verify");
}

#[test]
fn environments_are_a_known_set_and_tenant_ids_are_checked() {
    let d = scratch("tenant");
    let typo = falconer(&d, &["tenant", "set", "acme", "--environment", "prodution"]);
    expect(typo, 1, "did you mean `production`");
    let bad = falconer(&d, &["tenant", "set", "Bad_Name"]);
    expect(bad, 1, "a tenant id");
    // Neither was written.
    let list = falconer(&d, &["tenant", "list"]);
    assert!(!text(&list.stdout).contains("acme") && !text(&list.stdout).contains("Bad_Name"));
    let ok = falconer(
        &d,
        &["tenant", "set", "acme", "--environment", "production"],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", both(&ok));
    // A profile lists its own environments.
    std::fs::write(
        d.join("p.toml"),
        "environments = [\"production\", \"qa\"]\n",
    )
    .expect("writes");
    let qa = falconer(
        &d,
        &[
            "tenant",
            "set",
            "acme",
            "--environment",
            "qa",
            "--profile",
            "p.toml",
        ],
    );
    assert_eq!(qa.status.code(), Some(0), "{}", both(&qa));
    let staging = falconer(
        &d,
        &[
            "tenant",
            "set",
            "acme",
            "--environment",
            "staging",
            "--profile",
            "p.toml",
        ],
    );
    expect(staging, 1, "production, qa");
}

#[test]
fn convert_carries_code_files_so_its_output_validates_anywhere() {
    let d = scratch("convert");
    let acme = examples().join("acme");
    let o = falconer(&d, &["convert", arg(&acme), "-o", "acme.kdl"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let kdl = std::fs::read_to_string(d.join("acme.kdl")).expect("written");
    let notify = std::fs::read_to_string(acme.join("code/notify.js")).expect("the example's code");
    let first = notify
        .lines()
        .find(|l| !l.trim().is_empty())
        .expect("a line");
    assert!(kdl.contains(first.trim()), "the code is carried: {kdl}");
    let v = falconer(&d, &["validate", "acme.kdl"]);
    assert_eq!(v.status.code(), Some(0), "{}", both(&v));
    // A code file that is not text cannot be carried: refused, nothing written.
    let m = d.join("bin");
    std::fs::create_dir_all(m.join("code")).expect("a directory");
    std::fs::write(
        m.join("code/a.zip"),
        [0x50u8, 0x4b, 0x03, 0x04, 0xff, 0xfe, 0x00],
    )
    .expect("writes");
    std::fs::write(
        m.join("m.toml"),
        "[tenant]\nid = \"acme\"\n\n[[functions.action]]\nname = \"zipped\"\nkind = \"nodejs:20\"\ncode = { file = \"code/a.zip\" }\n",
    )
    .expect("writes");
    let o = falconer(&d, &["convert", arg(&m.join("m.toml")), "-o", "bin.json"]);
    expect(o, 1, "code/a.zip");
    assert!(!d.join("bin.json").exists());
}

#[test]
fn validate_takes_a_fleet_as_plan_does() {
    let d = scratch("validate");
    let fleet = examples().join("fleet");
    let o = falconer(&d, &["validate", arg(&fleet)]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let valid = text(&o.stdout)
        .lines()
        .filter(|l| l.contains(": valid manifest"))
        .count();
    assert_eq!(valid, 24, "{}", text(&o.stdout));
    let glob = format!("{}/fleet-0*.toml", fleet.display());
    let o = falconer(&d, &["validate", &glob]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let valid = text(&o.stdout)
        .lines()
        .filter(|l| l.contains(": valid manifest"))
        .count();
    assert_eq!(valid, 9, "{}", text(&o.stdout));
}

#[test]
fn a_schedule_is_checked_before_it_is_added_and_can_be_changed() {
    let d = scratch("schedule");
    let acme = examples().join("acme");
    let manifest = format!("acme={}", acme.display());
    let add = |extra: &[&str]| {
        let mut args = vec![
            "backup",
            "schedule",
            "add",
            "nightly",
            "--cron",
            "0 2 * * *",
        ];
        args.extend(extra);
        falconer(&d, &args)
    };
    let refused = [
        (
            vec!["--tenant", "acme=missing/", "--keep-daily", "7"],
            "cannot be read",
        ),
        (vec!["--tenant", "Acme", "--keep-daily", "7"], "a tenant id"),
        (vec!["--tenant", "acme"], "needs a retention"),
        (
            vec!["--tenant", "acme", "--keep-all", "--keep-daily", "7"],
            "--keep-all",
        ),
        (
            // Nothing listens on port 9: the repository cannot be reached now.
            vec![
                "--tenant",
                "acme",
                "--keep-daily",
                "7",
                "--repo",
                "s3://backups/acme",
            ],
            "cannot be reached now",
        ),
    ];
    for (extra, words) in refused {
        let o = if extra.contains(&"s3://backups/acme") {
            let mut args = vec![
                "backup",
                "schedule",
                "add",
                "nightly",
                "--cron",
                "0 2 * * *",
            ];
            args.extend(&extra);
            Command::new(env!("CARGO_BIN_EXE_falconer"))
                .args(&args)
                .current_dir(&d)
                .env(
                    "FALCONER_STATE",
                    format!("sqlite:{}", d.join("state.db").display()),
                )
                .env("FALCONER_REPO_S3_ENDPOINT", "http://127.0.0.1:9")
                .env("AWS_ACCESS_KEY_ID", "AK")
                .env("AWS_SECRET_ACCESS_KEY", "SK")
                .env_remove("FALCONER_PROFILE")
                .output()
                .expect("runs")
        } else {
            add(&extra)
        };
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", both(&o));
        assert!(text(&o.stderr).contains(words), "{extra:?}: {}", both(&o));
    }
    let list = falconer(&d, &["backup", "schedule", "list", "--json"]);
    assert_eq!(text(&list.stdout).trim(), "[]", "nothing was added");
    // Relative paths are made absolute: run-due runs from elsewhere.
    let o = add(&[
        "--tenant",
        &manifest,
        "--keep-daily",
        "7",
        "--repo",
        "file:repo",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let o = falconer(
        &d,
        &[
            "backup",
            "schedule",
            "set",
            "nightly",
            "--cron",
            "30 3 * * *",
            "--keep-all",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let list = falconer(&d, &["backup", "schedule", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let row = &rows[0];
    assert_eq!(row["cron"], "30 3 * * *");
    assert_eq!(row["repo"], format!("file:{}", d.join("repo").display()));
    assert_eq!(row["tenants"][0], manifest.as_str());
    assert_eq!(row["keep"]["keep_daily"], serde_json::Value::Null, "{row}");
    let missing = falconer(
        &d,
        &["backup", "schedule", "set", "weekly", "--cron", "@weekly"],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no schedule `weekly`"));
}

/// Commands that warn: each warning on standard error, none on standard output.
#[test]
fn warnings_and_diagnostics_go_to_standard_error_only() {
    let d = scratch("streams");
    std::fs::write(
        d.join("m.toml"),
        "[tenant]\nid = \"acme\"\n\n[[postgres.schema]]\nname = \"acme\"\n\n[[postgres.role]]\nname = \"acme_app\"\npassword = \"plain-text-password\"\n",
    )
    .expect("writes");
    std::fs::write(d.join("empty.toml"), "[tenant]\nid = \"acme\"\n").expect("writes");
    let runs: Vec<Vec<&str>> = vec![
        vec!["validate", "m.toml"],
        vec!["plan", "m.toml", "--against", "empty.toml"],
        vec!["diff", "empty.toml", "m.toml"],
        vec!["graph", "m.toml"],
        vec!["convert", "m.toml"],
        vec![
            "plan",
            "m.toml",
            "--against",
            "empty.toml",
            "--target",
            "nothing",
        ],
    ];
    for args in runs {
        let o = falconer(&d, &args);
        let out = text(&o.stdout);
        let err = text(&o.stderr);
        // A diagnostic's line, in any of its styles (one line, or a miette block's mark).
        let diagnostic = |l: &str| {
            let l = l.trim_start();
            [
                "warning", "error", "Warning", "Error", "x ", "! ", "×", "⚠", "help:",
            ]
            .iter()
            .any(|w| l.starts_with(w))
        };
        if let Some(l) = out.lines().find(|l| diagnostic(l)) {
            panic!("{args:?}: a diagnostic on standard output: {l:?}\n{out}");
        }
        assert!(
            err.contains("plain text"),
            "{args:?}: the warning is on standard error:\n{err}"
        );
        // Said once, not twice.
        let n = err.matches("plain-text").count() + err.matches("plain text").count();
        assert!(n <= 1, "{args:?}: said {n} times:\n{err}");
    }
}

/// Every option and argument of every command says what it is; the global options stand under their own
/// heading, once.
#[test]
fn every_flag_has_help_and_global_options_have_their_heading() {
    use clap::CommandFactory;
    fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in c.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let said = a.get_help().or(a.get_long_help()).map(|h| h.to_string());
            if said.is_none_or(|h| h.trim().is_empty()) {
                missing.push(format!("{path} {id}"));
            }
        }
        for s in c.get_subcommands() {
            walk(s, &format!("{path} {}", s.get_name()), missing);
        }
    }
    let cli = falconer::cli::Cli::command();
    let mut missing = Vec::new();
    walk(&cli, "falconer", &mut missing);
    assert!(missing.is_empty(), "without help: {missing:#?}");
    let help = Command::new(env!("CARGO_BIN_EXE_falconer"))
        .args(["plan", "--help"])
        .output()
        .expect("runs");
    let help = text(&help.stdout);
    assert_eq!(help.matches("Global options:").count(), 1, "{help}");
    let global = help.split("Global options:").nth(1).unwrap_or_default();
    for flag in ["--state", "--profile", "--message-format"] {
        assert!(global.contains(flag), "{flag} under Global options: {help}");
    }
    assert!(help.lines().count() < 120, "help stays short: {help}");
}

/// The example profile is a profile falconer reads: every system configured, the backup repository and the
/// restore guard given.
#[test]
fn the_example_profile_reads_with_every_system() {
    use falconer::model::Domain;
    let path = examples().join("profile.toml");
    let p = falconer::profile::Profile::load(
        &path,
        falconer::setup::Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .expect("the example profile reads");
    for d in Domain::ALL {
        assert!(p.configured(d), "{d} is configured");
    }
    assert_eq!(
        p.backup.repo.as_deref(),
        Some("s3://falconer-backups/platform")
    );
    assert!(p.restore.operational_hours.is_some());
}

/// A schedule of a whole fleet: kept as the fleet (made absolute), read at each slot; a fleet that names no
/// tenant is refused.
#[test]
fn a_schedule_takes_a_fleet() {
    let d = scratch("schedule-fleet");
    let fleet = examples().join("fleet");
    let o = falconer(
        &d,
        &[
            "backup",
            "schedule",
            "add",
            "fleet",
            "--cron",
            "@daily",
            "--manifest",
            arg(&fleet),
            "--keep-daily",
            "7",
            "--repo",
            "file:repo",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let list = falconer(&d, &["backup", "schedule", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    assert_eq!(rows[0]["tenants"][0], format!("@{}", fleet.display()));
    let text_list = falconer(&d, &["backup", "schedule", "list"]);
    assert!(
        text(&text_list.stdout).contains("fleet fleet"),
        "{}",
        both(&text_list)
    );
    std::fs::create_dir_all(d.join("empty")).expect("a directory");
    let o = falconer(
        &d,
        &[
            "backup",
            "schedule",
            "add",
            "none",
            "--cron",
            "@daily",
            "--manifest",
            "empty/*.toml",
            "--keep-all",
        ],
    );
    expect(o, 1, "matches no tenant");
}

/// A `--target` that matches nothing is an error of a tenant planned alone; in a fleet it is that tenant's
/// nothing to do (other tenants may have what it names).
#[test]
fn an_unmatched_target_is_an_error_alone_and_nothing_to_do_in_a_fleet() {
    use falconer::plan::{Options, PlanError, make};
    let tenant = falconer::model::Tenant::new("acme");
    let opts = |in_fleet| Options {
        targets: vec!["kafka.topic.*".into()],
        in_fleet,
        ..Options::default()
    };
    let alone = make(&tenant, &[], &[], &opts(false));
    assert!(
        matches!(alone, Err(PlanError::NoTarget { ref patterns, .. }) if patterns == &["kafka.topic.*"]),
        "{alone:?}"
    );
    let fleet = make(&tenant, &[], &[], &opts(true)).expect("a plan");
    assert!(!fleet.has_changes());
}

/// One warning style: a problem's other place is a second label of its snippet when it is in the same
/// file, and a note (`Advice:`) after it when it is in another, never a second "Warning:".
#[test]
fn a_problems_other_place_is_a_label_or_a_note_never_a_warning() {
    let d = scratch("related");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let across = root.join("tests/malformed/dup_across_files");
    let o = falconer(&d, &["validate", arg(&across)]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("Warning:"), "{err}");
    let note = err
        .find("Advice:")
        .expect("the other file's place as a note");
    assert!(
        err[note..].contains("first declared here") && err[note..].contains("a.toml:4:1"),
        "{err}"
    );
    let same = root.join("tests/malformed/duplicate_address.toml");
    let o = falconer(&d, &["validate", arg(&same)]);
    let err = text(&o.stderr);
    assert!(
        !err.contains("Warning:") && !err.contains("Advice:"),
        "{err}"
    );
    assert_eq!(
        err.matches(",-[").count(),
        1,
        "one snippet with both places: {err}"
    );
    assert!(err.contains("first declared here"), "{err}");
}
