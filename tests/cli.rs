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
        text(&ok.stdout).contains("examples/acme: valid manifest: tenant `acme`, 47 resources")
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
    for (fmt, ext) in [("toml", "toml"), ("kdl", "kdl"), ("json", "json")] {
        let out_path = dir.join(format!("acme.{ext}"));
        let out = falconer(&[
            "convert",
            "../shared/reference/falcone/fixtures/falcone-export-v1.0.0-full.json",
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
            text(&again.stdout).contains("25 resources"),
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
    let out = falconer(&[
        "migrate",
        "../shared/reference/falcone/fixtures/falcone-export-v1.0-legacy.json",
    ]);
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
    let out = falconer(&["validate", "../shared/reference/falcone/fixtures"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is a Falcone export artifact, not a manifest file"));
}
