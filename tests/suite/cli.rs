//! The `falconer` binary: exit codes, output, and files written only on success.

use std::path::PathBuf;
use std::process::{Command, Output};

fn falconer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_falconer"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("falconer-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn validate_exit_codes() {
    let ok = falconer(&["validate", "examples/acme", "examples/acme-kdl"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("examples/acme: valid manifest: tenant `acme`, 59 resources")
    );

    let bad = falconer(&["validate", "tests/malformed/unknown_field.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(err.contains("unknown field `nulable`"), "{err}");
    assert!(
        err.contains("tests/malformed/unknown_field.toml:11:1"),
        "{err}"
    );

    let missing = falconer(&["validate", "does/not/exist"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot read does/not/exist"));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    assert_eq!(falconer(&["validate"]).status.code(), Some(1));
    assert_eq!(falconer(&["frobnicate"]).status.code(), Some(1));
    assert_eq!(falconer(&["--help"]).status.code(), Some(0));
    assert_eq!(falconer(&["--version"]).status.code(), Some(0));
}

#[test]
fn json_message_format_is_machine_readable() {
    let out = falconer(&[
        "--message-format",
        "json",
        "validate",
        "tests/malformed/wrong_type.toml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_str(text(&out.stderr).trim()).expect("JSON on stderr");
    assert_eq!(v[0]["code"], "invalid-value");
    assert_eq!(v[0]["line"], 6);
}

#[test]
fn convert_artifact_to_every_format() {
    let dir = temp_dir("convert");
    let artifact = dir.join("globex.json");
    std::fs::write(&artifact, crate::support::globex_mended()).expect("writes");
    for (fmt, ext) in [("toml", "toml"), ("kdl", "kdl"), ("json", "json")] {
        let out_path = dir.join(format!("acme.{ext}"));
        let out = falconer(&[
            "convert",
            artifact.to_str().expect("utf-8"),
            "--to",
            fmt,
            "-o",
            out_path.to_str().expect("utf-8"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        // Warnings name their JSON paths.
        assert!(text(&out.stderr).contains("/domains/0/data/realm_settings/accessTokenLifespan"));
        let again = falconer(&["validate", out_path.to_str().expect("utf-8")]);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
        assert!(
            text(&again.stdout).contains("24 resources"),
            "{}",
            text(&again.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn convert_writes_nothing_when_the_input_has_errors() {
    let dir = temp_dir("noconvert");
    let out_path = dir.join("out.toml");
    let out = falconer(&[
        "convert",
        "tests/malformed/dangling_reference.toml",
        "-o",
        out_path.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out_path.exists(), "a file was written despite errors");
    assert_eq!(
        std::fs::read_dir(&dir).expect("dir").count(),
        0,
        "temporary files left behind"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_artifacts_and_manifests() {
    let out = falconer(&["migrate", "tests/fixtures/falcone/globex-v1.0-legacy.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["format_version"], "1.0.0");
    assert_eq!(v["_migration_metadata"]["migrated_from"], "1.0");
    assert!(text(&out.stderr).contains("1.0→1.0.0"));

    let dir = temp_dir("migrate");
    let future = dir.join("future.json");
    std::fs::write(
        &future,
        r#"{"tenant_id":"a","format_version":"1.2.0","domains":[]}"#,
    )
    .expect("write");
    let out = falconer(&["migrate", future.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("newer than this falconer understands"),
        "{}",
        text(&out.stderr)
    );

    let unversioned = dir.join("m.toml");
    std::fs::write(&unversioned, "# keep me\n[tenant]\nid = \"a\"\n").expect("write");
    let out = falconer(&["migrate", unversioned.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "format_version = \"1\"\n# keep me\n[tenant]\nid = \"a\"\n"
    );

    let newer = dir.join("n.kdl");
    std::fs::write(&newer, "format_version \"2\"\ntenant id=\"a\"\n").expect("write");
    let out = falconer(&["migrate", newer.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_artifact_inside_a_manifest_directory_is_explained() {
    // One tenant's manifest directory (a tenant block, a file of resources) with an artifact among them.
    let dir = temp_dir("artifact-inside");
    std::fs::write(dir.join("m.toml"), "[tenant]\nid = \"acme\"\n").expect("writes");
    std::fs::write(dir.join("s.toml"), "[[postgres.schema]]\nname = \"acme\"\n").expect("writes");
    std::fs::copy(
        "tests/fixtures/falcone/globex-v1.0.0.json",
        dir.join("globex.json"),
    )
    .expect("copies");
    let out = falconer(&["validate", dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is a Falcone export artifact, not a manifest file"));
}

fn empty_tenant(dir: &std::path::Path) -> PathBuf {
    let p = dir.join("empty.toml");
    std::fs::write(
        &p,
        "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"tenant_acme\"]\n",
    )
    .expect("write");
    p
}

#[test]
fn plan_exit_codes_and_saved_plan() {
    let dir = temp_dir("plan");
    let empty = empty_tenant(&dir);
    let e = empty.to_str().expect("utf-8");
    let out = falconer(&["plan", "examples/acme", "--against", e]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Plan: 59 to create, 0 to update, 0 to replace, 0 to delete.")
    );

    let planfile = dir.join("plan.json");
    let out = falconer(&[
        "plan",
        "examples/acme",
        "--against",
        e,
        "--detailed-exitcode",
        "-o",
        planfile.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&planfile).expect("plan file"))
            .expect("JSON");
    assert_eq!(saved["format_version"], "1");
    assert_eq!(saved["digests"]["desired"].as_str().map(str::len), Some(64));

    let same = falconer(&[
        "plan",
        "examples/acme",
        "--against",
        "examples/acme-kdl",
        "--detailed-exitcode",
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stdout));
    assert!(text(&same.stdout).contains("No changes"));

    let md = falconer(&[
        "plan",
        "examples/acme",
        "--against",
        e,
        "--format",
        "markdown",
    ]);
    assert!(text(&md.stdout).starts_with("### falconer plan — tenant `acme`"));

    let bad = falconer(&[
        "plan",
        "examples/acme",
        "--against",
        e,
        "--target",
        "postgres.[",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("invalid pattern"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diff_and_graph() {
    let out = falconer(&["diff", "examples/acme", "examples/acme-kdl"]);
    assert_eq!(out.status.code(), Some(0));
    let dir = temp_dir("diff");
    let empty = empty_tenant(&dir);
    let out = falconer(&["diff", empty.to_str().expect("utf-8"), "examples/acme"]);
    assert_eq!(out.status.code(), Some(2), "changes exit 2");
    let dot = falconer(&["graph", "examples/acme", "--format", "dot"]);
    assert_eq!(dot.status.code(), Some(0));
    assert!(text(&dot.stdout).starts_with("digraph falconer {"));
    let txt = falconer(&["graph", "examples/acme-kdl"]);
    assert!(text(&txt.stdout).contains("# wave 0"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plan_against_a_snapshot_deletes_only_what_falconer_manages() {
    let dir = temp_dir("snapshot");
    let snap = dir.join("live.json");
    std::fs::write(
        &snap,
        serde_json::json!({
            "falconer_snapshot": "1",
            "managed": ["kafka.topic.acme.old"],
            "resources": {
                "tenant": {"id": "acme"},
                "kafka": {"topic": [
                    {"name": "acme.old", "partitions": 1},
                    {"name": "acme.someone-elses", "partitions": 1}
                ]}
            }
        })
        .to_string(),
    )
    .expect("write");
    let empty = empty_tenant(&dir);
    let out = falconer(&[
        "plan",
        empty.to_str().expect("utf-8"),
        "--against",
        snap.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("- kafka.topic.acme.old"), "{t}");
    assert!(t.contains("? kafka.topic.acme.someone-elses"), "{t}");
    assert!(
        t.contains("Plan: 0 to create, 0 to update, 0 to replace, 1 to delete."),
        "{t}"
    );

    std::fs::write(&snap, r#"{"falconer_snapshot": "9", "resources": {}}"#).expect("write");
    let out = falconer(&[
        "plan",
        empty.to_str().expect("utf-8"),
        "--against",
        snap.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown snapshot version"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-o` to something that is not a regular file writes into it and leaves it what it was: a pipe stays a
/// pipe (as `/dev/null` stays a device), and a symbolic link stays a link to the file that now holds the
/// output.
#[cfg(unix)]
#[test]
fn output_to_a_pipe_or_a_link_keeps_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("special-output");
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // Read in a thread; a replaced pipe would never be written, so the wait is bounded.
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::read_to_string(fifo).expect("reads the pipe"));
        });
    }
    let out = falconer(&[
        "convert",
        "examples/acme",
        "--to",
        "json",
        "-o",
        fifo.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let received = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("nothing was written into the pipe");
    assert!(received.contains("\"tenant\""), "{received}");
    let kind = std::fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");

    let target = dir.join("real.toml");
    std::fs::write(&target, "old").expect("target");
    let link = dir.join("link.toml");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = falconer(&[
        "convert",
        "examples/acme",
        "--to",
        "toml",
        "-o",
        link.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&target)
            .expect("target")
            .contains("[tenant]")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An artifact whose topics do not follow the tenant's default naming (common in real exports) validates,
/// with warnings that say how to declare the tenant's real naming, not as a hard stop.
#[test]
fn an_artifact_outside_the_default_naming_validates_with_warnings() {
    let dir = temp_dir("scope");
    let text = crate::support::globex_mended();
    assert!(text.contains("\"globex.invoices\""));
    let path = dir.join("artifact.json");
    std::fs::write(&path, text.replace("\"globex.invoices\"", "\"invoices\"")).expect("writes");
    let out = falconer(&["validate", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let said = text_of(&out);
    assert!(
        said.contains("topic \"invoices\" is outside tenant `globex`'s scope"),
        "{said}"
    );
    assert!(
        said.contains("falconer tenant set globex --kafka-topic-prefix"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn text_of(o: &std::process::Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// Shell completions and the manual page come from the command line's definition; a reader that stops
/// early is no error.
#[test]
fn completions_and_the_manual_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = falconer(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = text(&o.stdout);
        assert!(script.contains("falconer"), "{shell}");
        assert!(
            script.contains("backup"),
            "{shell}: the subcommands are in it"
        );
    }
    assert_ne!(falconer(&["completions", "tcsh"]).status.code(), Some(0));
    let o = falconer(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let page = text(&o.stdout);
    assert!(page.contains(".TH falconer 1"), "{page}");
    assert!(page.contains("restore"), "{page}");
}

/// Colours: `--color always|never`, NO_COLOR (never) over CLICOLOR_FORCE (always); off a terminal `auto`
/// gives none.
#[test]
fn colours_follow_the_flag_then_no_color_then_clicolor_force() {
    let ex = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let (acme, empty) = (format!("{ex}/acme"), format!("{ex}/acme-empty"));
    let plan = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_falconer"));
        c.args(["plan", &acme, "--against", &empty])
            .args(extra)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("runs");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        text(&o.stdout).contains('\u{1b}')
    };
    assert!(!plan(&[], &[]), "auto, off a terminal: none");
    assert!(plan(&["--color", "always"], &[]));
    assert!(!plan(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!plan(&["--no-color", "--color", "always"], &[]));
    assert!(plan(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!plan(&[], &[("CLICOLOR_FORCE", "0")]));
    assert!(!plan(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(
        plan(&["--color", "always"], &[("NO_COLOR", "1")]),
        "the flag first"
    );
}
