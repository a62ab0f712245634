//! Canary secrets: distinctive values in every secret field of every domain (from environment variables,
//! files and plain text) must appear in no output: no rendering, no saved plan, no message, no log line at
//! the most verbose level.

use std::path::{Path, PathBuf};
use std::process::Command;

// Each double carries its own copy of the shared HTTP helpers (they also run alone, as examples).
/// A canary per secret field; the desired side and the live side differ, so every secret "changes".
const FIELDS: &[&str] = &[
    "SMTP", "CLIENT", "IDP", "PGROLE", "PKG", "ACTION", "TRIGGER", "WEBAUTH",
];

fn canary(side: &str, field: &str) -> String {
    format!("CANARY-{side}-{field}-7f3a9c")
}

fn manifest(dir: &Path, side: &str, plain: bool) {
    std::fs::create_dir_all(dir).expect("dir");
    for f in FIELDS {
        std::fs::write(dir.join(format!("{f}.secret")), canary(side, f) + "\n")
            .expect("secret file");
    }
    let s = |f: &str, n: usize| -> String {
        if plain && n == 0 {
            format!("\"{}\"", canary(side, f))
        } else if n.is_multiple_of(2) {
            format!("{{ env = \"CANARY_{side}_{f}\" }}")
        } else {
            format!("{{ file = \"{f}.secret\" }}")
        }
    };
    let text = format!(
        r#"
[tenant]
id = "acme"
[tenant.naming]
postgres_schemas = ["app"]

[[iam.realm]]
name = "acme"
smtp = {{ host = "smtp", from = "a@b", password = {smtp} }}

[[iam.client]]
client_id = "svc"
secret = {client}

[[iam.identity_provider]]
alias = "google"
provider_id = "google"
client_secret = {idp}

[[postgres.role]]
name = "app_rw"
password = {pg}

[[functions.package]]
name = "pkg"
parameter = [{{ key = "TOKEN", secret = {pkg} }}]

[[functions.action]]
name = "act"
package = "pkg"
kind = "nodejs:20"
code = "function main() {{ return {{}}; }}"
parameter = [{{ key = "TOKEN", secret = {action} }}]

[[functions.trigger]]
name = "trig"
parameter = [{{ key = "TOKEN", secret = {trigger} }}]
"#,
        smtp = s("SMTP", 0),
        client = s("CLIENT", 1),
        idp = s("IDP", 2),
        pg = s("PGROLE", 3),
        pkg = s("PKG", 4),
        action = s("ACTION", 5),
        trigger = s("TRIGGER", 6),
    );
    std::fs::write(dir.join("manifest.toml"), text).expect("manifest");
}

fn falconer(args: &[&str], envs: &[(String, String)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_falconer"))
        .args(args)
        .envs(envs.iter().cloned())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace")
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Plans in every output format (`args` up to the format), saving the plan; every secret changed, and
/// neither the output nor the saved plan shows one.
fn plan_in_every_format(args: &[&str], envs: &[(String, String)], planfile: &Path) {
    let pf = planfile.to_str().expect("utf-8");
    for format in ["text", "markdown", "json"] {
        let mut all = args.to_vec();
        all.extend(["--format", format, "-o", pf, "--detailed-exitcode"]);
        let (code, out) = falconer(&all, envs);
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains("sensitive"),
            "every secret changed, and the plan says so without a value:\n{out}"
        );
        assert_clean(&format!("plan --format {format}"), &out);
        assert_clean(
            "the saved plan",
            &std::fs::read_to_string(planfile).expect("plan file"),
        );
    }
}

/// A secret as it could leak encoded: hex (either case) and base64 (standard and URL-safe) at each of the
/// three alignments it can have inside a longer encoded value (the characters that depend on its bytes
/// only). URL-encoding leaves a canary as it is (its characters are all unreserved), or, encoded byte by
/// byte, `%43%41...` (either case).
fn encodings(secret: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let percent: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    let mut out = vec![hex.to_uppercase(), hex, percent.to_lowercase(), percent];
    for offset in 0..3 {
        let mut bytes = vec![0u8; offset];
        bytes.extend(secret.as_bytes());
        let start = if offset == 0 { 0 } else { 4 };
        let end = bytes.len() / 3 * 4;
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            out.push(engine.encode(&bytes)[start..end].to_string());
        }
    }
    out
}

fn assert_clean(what: &str, text: &str) {
    for side in ["NEW", "OLD"] {
        for f in FIELDS {
            let secret = canary(side, f);
            assert!(
                !text.contains(&secret),
                "{what} leaks the {side} {f} secret:\n{text}"
            );
            for encoded in encodings(&secret) {
                assert!(
                    !text.contains(&encoded),
                    "{what} leaks the {side} {f} secret, encoded ({encoded}):\n{text}"
                );
            }
        }
    }
    assert!(!text.contains("7f3a9c"), "{what} leaks a canary:\n{text}");
}

#[test]
fn the_canary_check_sees_encoded_leaks() {
    use base64::Engine;
    let secret = canary("NEW", "SMTP");
    let b64 = base64::engine::general_purpose::STANDARD;
    for leak in [
        format!("token={}", b64.encode(format!("user:{secret}"))),
        format!("x{}y", b64.encode(format!("ab{secret}cd"))),
        secret
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        format!(
            "?token={}",
            secret
                .bytes()
                .map(|b| format!("%{b:02x}"))
                .collect::<String>()
        ),
    ] {
        let caught = std::panic::catch_unwind(|| assert_clean("a leak", &leak));
        assert!(caught.is_err(), "not caught: {leak}");
    }
    assert_clean(
        "clean text",
        "nothing to see: sensitive (fingerprint 0123abcd)",
    );
}

#[test]
fn no_secret_appears_in_any_output() {
    let root: PathBuf =
        std::env::temp_dir().join(format!("falconer-canary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (new, old) = (root.join("new"), root.join("old"));
    manifest(&new, "NEW", true);
    manifest(&old, "OLD", false);
    let mut envs = Vec::new();
    for side in ["NEW", "OLD"] {
        for f in FIELDS {
            envs.push((format!("CANARY_{side}_{f}"), canary(side, f)));
        }
    }
    let (n, o) = (new.to_str().expect("utf-8"), old.to_str().expect("utf-8"));
    plan_in_every_format(
        &["-vvv", "plan", n, "--against", o],
        &envs,
        &root.join("plan.json"),
    );
    // Same secrets on both sides: no change, and still nothing shown.
    let (code, out) = falconer(
        &["-vvv", "plan", n, "--against", n, "--detailed-exitcode"],
        &envs,
    );
    assert_eq!(code, 0, "{out}");
    assert_clean("an empty plan", &out);
    // Without the environment: every secret is unreadable; the warnings name the variable, not a value.
    let (_, out) = falconer(&["-vvv", "plan", n, "--against", o], &[]);
    assert_clean("plan without secrets", &out);
    // Diagnostics: plain secrets are errors with --strict, in every message format.
    for mf in ["human", "short", "json"] {
        let (code, out) = falconer(
            &["-vvv", "--message-format", mf, "validate", "--strict", n],
            &envs,
        );
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("plain-secret"), "{out}");
        assert_clean(&format!("validate --message-format {mf}"), &out);
    }
    for cmd in [vec!["diff", o, n], vec!["graph", n]] {
        let mut args = vec!["-vvv"];
        args.extend(cmd.iter());
        let (_, out) = falconer(&args, &envs);
        assert_clean(cmd[0], &out);
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Applies a manifest with the OLD canaries, rotates them to the NEW ones, plans in every format, applies,
/// plans again and exports, all at the most verbose level: no canary shows in any output, the saved plan or
/// the state store. `write(side)` writes `manifest.toml` (and secret files) under `root`; `applied()` checks
/// that the NEW secrets reached the server.
fn live_canaries(
    root: &Path,
    mut envs: Vec<(String, String)>,
    fields: &[&str],
    domain: &str,
    write: impl Fn(&str),
    applied: impl Fn(),
) {
    envs.push((
        "FALCONER_STATE".to_string(),
        format!("sqlite:{}", root.join("state.db").display()),
    ));
    for side in ["NEW", "OLD"] {
        for f in fields {
            envs.push((format!("CANARY_{side}_{f}"), canary(side, f)));
        }
    }
    let m = root.join("manifest.toml");
    let m = m.to_str().expect("utf-8");
    write("OLD");
    let (code, out) = falconer(&["-vvv", "apply", m, "--auto-approve"], &envs);
    assert_eq!(code, 0, "{out}");
    assert_clean("apply", &out);
    write("NEW");
    plan_in_every_format(&["-vvv", "plan", m], &envs, &root.join("plan.json"));
    fleet_canaries(root, &envs, m);
    let (code, out) = falconer(&["-vvv", "apply", m, "--auto-approve"], &envs);
    assert_eq!(code, 0, "{out}");
    assert_clean("apply of rotated secrets", &out);
    applied();
    let (code, out) = falconer(&["-vvv", "plan", m, "--detailed-exitcode"], &envs);
    assert_eq!(code, 0, "{out}");
    assert_clean("converged plan", &out);
    let (code, out) = falconer(
        &["-vvv", "export", "--tenant", "acme", "--domain", domain],
        &envs,
    );
    assert_eq!(code, 0, "{out}");
    assert_clean("export", &out);
    backup_canaries(root, &envs, domain);
    restore_canaries(root, &envs, domain);
    for file in ["state.db", "state.db-wal"] {
        if let Ok(stored) = std::fs::read(root.join(file)) {
            assert_clean(file, &String::from_utf8_lossy(&stored));
        }
    }
}

/// The fleet outputs of a tenant whose secrets all changed: JSON Lines events, the report, JUnit, Markdown
/// and the plans saved per tenant.
fn fleet_canaries(root: &Path, envs: &[(String, String)], m: &str) {
    let file = |name: &str| root.join(name).display().to_string();
    let (report, junit, md, plans) = (
        file("fleet.json"),
        file("fleet.xml"),
        file("fleet.md"),
        file("plans"),
    );
    let args = [
        "-vvv",
        "drift",
        m,
        "--json",
        "--report",
        &report,
        "--junit",
        &junit,
        "--markdown",
        &md,
    ];
    let (code, out) = falconer(&args, envs);
    assert_eq!(code, 2, "the secrets drifted: {out}");
    assert!(out.contains("\"event\":\"change\""), "{out}");
    assert_clean("drift --json", &out);
    let (code, out) = falconer(&["-vvv", "plan", m, "--json", "-o", &plans], envs);
    assert_eq!(code, 0, "{out}");
    assert_clean("plan --json -o DIR", &out);
    let saved = std::fs::read_dir(&plans).expect("the saved plans").count();
    assert_eq!(saved, 1);
    for f in [report, junit, md, format!("{plans}/acme.plan.json")] {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(text.contains("acme"), "{f} names the tenant");
        assert_clean(&f, &text);
    }
    // The saved plans applied as a fleet: each tenant by a process of its own, its output (at -vvv) printed
    // by the parent.
    let (code, out) = falconer(&["-vvv", "apply", &plans, "--auto-approve"], envs);
    assert!(
        out.contains("── ") && out.contains("falconer apply: 1 tenant(s)"),
        "{code}: {out}"
    );
    assert_clean("apply DIR (a fleet of saved plans)", &out);
    std::fs::remove_dir_all(&plans).expect("removes");
}

/// A restore's preflight of the latest backup, with its report, and the history: no canary.
fn restore_canaries(root: &Path, envs: &[(String, String)], domain: &str) {
    let repo = format!("file:{}", root.join("repo").display());
    let report = root.join("restore.json").display().to_string();
    let args = [
        "-vvv",
        "restore",
        "latest",
        "--tenant",
        "acme",
        "--domain",
        domain,
        "--repo",
        &repo,
        "--dry-run",
        "--report",
        &report,
    ];
    let (code, out) = falconer(&args, envs);
    assert_eq!(code, 0, "{out}");
    assert_clean("restore --dry-run", &out);
    let text = std::fs::read_to_string(&report).expect("the restore report");
    assert_clean("the restore report", &text);
    let (code, out) = falconer(&["-vvv", "history", "--json"], envs);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("apply"), "{out}");
    assert_clean("history", &out);
}

/// A backup of the domain, its listing and record: no canary in any output or repository file (blobs
/// inflated).
fn backup_canaries(root: &Path, envs: &[(String, String)], domain: &str) {
    let repo = format!("file:{}", root.join("repo").display());
    let (code, out) = falconer(
        &[
            "-vvv", "backup", "create", "--tenant", "acme", "--domain", domain, "--repo", &repo,
        ],
        envs,
    );
    assert_eq!(code, 0, "{out}");
    assert_clean("backup create", &out);
    for args in [["list", "--json"], ["show", "latest"]] {
        let (code, out) = falconer(&["-vvv", "backup", args[0], args[1], "--repo", &repo], envs);
        assert_eq!(code, 0, "{out}");
        assert_clean(&format!("backup {}", args[0]), &out);
    }
    for format in ["falconer", "falcone"] {
        let file = root.join(format!("export-{format}.json"));
        let f = file.display().to_string();
        let args = [
            "-vvv", "backup", "export", "latest", "-o", &f, "--format", format,
        ];
        let (code, out) = falconer(&[&args[..], &["--repo", &repo]].concat(), envs);
        assert_eq!(code, 0, "{out}");
        assert_clean("backup export", &out);
        let text = std::fs::read_to_string(&file).expect("the exported file");
        assert_clean(&f, &text);
        std::fs::remove_file(&file).expect("removes");
    }
    let mut todo = vec![root.join("repo")];
    let mut seen = 0;
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("lists").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
                continue;
            }
            let body = std::fs::read(&p).expect("reads");
            let body = match body.strip_prefix(b"FBZ1") {
                Some(z) => miniz_oxide::inflate::decompress_to_vec(z).expect("inflates"),
                None => body,
            };
            assert_clean(&p.display().to_string(), &String::from_utf8_lossy(&body));
            seen += 1;
        }
    }
    assert!(seen >= 2, "a blob and a record");
}

fn scratch(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("falconer-canary-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("dir");
    root
}

/// The IAM domain's three secrets (SMTP password, client secret, IdP secret) against the Keycloak double.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_against_live_keycloak() {
    let kc = crate::keycloak_double::KeycloakDouble::start(
        0,
        crate::keycloak_double::Options::default(),
    )
    .await
    .expect("the double starts");
    let root = scratch("iam");
    let envs = kc.env();
    let write = |side: &str| {
        std::fs::write(root.join("IDP.secret"), canary(side, "IDP") + "\n").expect("file");
        let text = format!(
            r#"
[tenant]
id = "acme"

[[iam.realm]]
name = "acme"
smtp = {{ host = "smtp", from = "a@b", user = "u", password = {{ env = "CANARY_{side}_SMTP" }} }}

[[iam.client]]
client_id = "svc"
public_client = false
secret = {{ env = "CANARY_{side}_CLIENT" }}

[[iam.identity_provider]]
alias = "google"
provider_id = "google"
client_secret = {{ file = "IDP.secret" }}
"#
        );
        std::fs::write(root.join("manifest.toml"), text).expect("manifest");
    };
    let applied = || {
        assert_eq!(
            kc.world().idp_secret("acme", "google"),
            Some(canary("NEW", "IDP")),
            "the rotated secret was applied"
        );
    };
    live_canaries(
        &root,
        envs,
        &["SMTP", "CLIENT", "IDP"],
        "iam",
        write,
        applied,
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The functions domain's secret parameters (package, action, trigger) against the OpenWhisk double, which
/// masks nothing: falconer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_against_live_openwhisk() {
    let ow = crate::openwhisk_double::OpenWhiskDouble::start(
        0,
        crate::openwhisk_double::Options::default(),
    )
    .await
    .expect("the double starts");
    let root = scratch("functions");
    let envs = ow.env();
    let write = |side: &str| {
        std::fs::write(root.join("TRIGGER.secret"), canary(side, "TRIGGER") + "\n").expect("file");
        let text = format!(
            r#"
[tenant]
id = "acme"

[[functions.package]]
name = "pkg"
parameter = [{{ key = "TOKEN", secret = {{ env = "CANARY_{side}_PKG" }} }}]

[[functions.action]]
name = "act"
package = "pkg"
kind = "nodejs:20"
code = "function main() {{ return {{}}; }}"
parameter = [{{ key = "TOKEN", secret = {{ env = "CANARY_{side}_ACTION" }} }}]
annotations = {{ "web-export" = true }}
require_whisk_auth_token = {{ env = "CANARY_{side}_WEBAUTH" }}

[[functions.trigger]]
name = "trig"
parameter = [{{ key = "TOKEN", secret = {{ file = "TRIGGER.secret" }} }}]
"#
        );
        std::fs::write(root.join("manifest.toml"), text).expect("manifest");
    };
    let applied = || {
        let w = ow.world();
        let token =
            |e: &serde_json::Map<String, serde_json::Value>| e["parameters"][0]["value"].clone();
        assert_eq!(token(&w.packages["pkg"]), canary("NEW", "PKG"));
        assert_eq!(token(&w.actions["pkg/act"]), canary("NEW", "ACTION"));
        assert_eq!(token(&w.triggers["trig"]), canary("NEW", "TRIGGER"));
        let auth = w.actions["pkg/act"]["annotations"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|x| x["key"] == "require-whisk-auth")
                    .map(|x| x["value"].clone())
            });
        assert_eq!(
            auth,
            Some(canary("NEW", "WEBAUTH").into()),
            "the web action's token"
        );
    };
    live_canaries(
        &root,
        envs,
        &["PKG", "ACTION", "TRIGGER", "WEBAUTH"],
        "functions",
        write,
        applied,
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A profile's secret printed by a command shows nowhere: not when the system it signs in to cannot be
/// reached, not when the command fails having printed it to its standard error as well, at the most
/// verbose log level.
#[test]
fn a_secret_a_command_prints_appears_in_no_output() {
    let root = scratch("command");
    let secret = canary("NEW", "SMTP");
    std::fs::create_dir_all(root.join("m")).expect("dir");
    std::fs::write(
        root.join("m/m.toml"),
        "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n\n[[postgres.schema]]\nname = \"app\"\n",
    )
    .expect("manifest");
    let state = format!("sqlite:{}", root.join("state.db").display());
    let m = root.join("m").display().to_string();
    for script in [
        format!("printf '{secret}\\n'"),
        format!("printf '{secret}'; echo 'refused {secret}' >&2; exit 1"),
    ] {
        let profile = root.join("profile.toml");
        std::fs::write(
            &profile,
            format!(
                "[postgres]\nurl = \"postgres://falconer@127.0.0.1:1/platform\"\npassword = {{ command = [\"sh\", \"-c\", {script:?}] }}\n"
            ),
        )
        .expect("profile");
        let p = profile.display().to_string();
        let envs = [("FALCONER_STATE".to_string(), state.clone())];
        let (code, out) = falconer(&["plan", &m, "--profile", &p, "-vvv"], &envs);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("PostgreSQL"), "{out}");
        if script.contains("exit 1") {
            // The command ran, and its standard error is shown with the secret blotted out.
            assert!(out.contains("refused ***"), "{out}");
        }
        assert_clean("a plan with a command's secret", &out);
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// No certificate's or key's body shows in any output, at the most verbose level, whether the file is a real
/// key or junk that is no PEM at all, for every system's `tls` table (each system unreachable or refusing).
#[test]
fn no_key_or_certificate_body_appears_in_any_output() {
    let root = scratch("tls-keys");
    let junk = canary("NEW", "SMTP");
    std::fs::create_dir_all(root.join("m")).expect("dir");
    std::fs::write(
        root.join("m/m.toml"),
        "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n\n[[postgres.schema]]\nname = \"app\"\n\n\
         [[mongo.database]]\nname = \"acme\"\n\n[[kafka.topic]]\nname = \"acme.orders\"\npartitions = 1\nreplication_factor = 1\n\n\
         [[storage.bucket]]\nname = \"acme-uploads\"\n\n[[iam.realm]]\nname = \"acme\"\n\n[[functions.package]]\nname = \"orders\"\n",
    )
    .expect("manifest");
    let ca = crate::pki::Ca::new("canary CA");
    ca.write(&root.join("ca.pem"));
    let real = ca.client(&root, "real", "falconer");
    let key_text = std::fs::read_to_string(&real.key).expect("the key");
    let key_line = key_text.lines().nth(1).expect("a body line").to_string();
    std::fs::write(
        root.join("junk.pem"),
        format!("-----BEGIN PRIVATE KEY-----\n{junk}\n-----END PRIVATE KEY-----\n"),
    )
    .expect("junk");
    let state = format!("sqlite:{}", root.join("state.db").display());
    let m = root.join("m").display().to_string();
    for (cert, key) in [("real.crt", "real.key"), ("junk.pem", "junk.pem")] {
        let tls = format!("ca_file = \"ca.pem\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n");
        let profile = root.join("profile.toml");
        std::fs::write(
            &profile,
            format!(
                "[postgres]\nurl = \"postgres://falconer@localhost:1/platform\"\n[postgres.tls]\n{tls}\n\
                 [mongo]\nurl = \"mongodb://localhost:1/?directConnection=true\"\n[mongo.tls]\n{tls}\n\
                 [kafka]\nurl = \"localhost:1\"\n[kafka.tls]\n{tls}\n\
                 [storage]\nendpoint = \"https://localhost:1\"\naccess_key_id = \"AK\"\nsecret_access_key = {{ file = \"ca.pem\" }}\n[storage.tls]\n{tls}\n\
                 [iam]\nurl = \"https://localhost:1\"\nusername = \"u\"\npassword = {{ file = \"ca.pem\" }}\n[iam.tls]\n{tls}\n\
                 [functions]\nurl = \"https://localhost:1\"\nauth = {{ file = \"ca.pem\" }}\n[functions.tls]\n{tls}\n"
            ),
        )
        .expect("profile");
        let p = profile.display().to_string();
        let envs = [
            ("FALCONER_STATE".to_string(), state.clone()),
            ("FALCONER_CONNECT_TIMEOUT".to_string(), "2".to_string()),
        ];
        let (code, out) = falconer(&["plan", &m, "--profile", &p, "-vvv"], &envs);
        assert_ne!(code, 0, "{out}");
        assert_clean("a plan with TLS files", &out);
        assert!(!out.contains(&key_line), "a key's body shows:\n{out}");
        assert!(
            !out.contains("BEGIN PRIVATE KEY") && !out.contains("BEGIN CERTIFICATE"),
            "{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
