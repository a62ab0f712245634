//! Production connections: TLS with verification and authentication against real servers, with
//! certificate authorities the tests make (`pki`). Each refusal names the system and what to set.

use std::path::{Path, PathBuf};

use crate::deaths::postgres_cluster_custom;
use crate::pki::{Ca, Leaf};
use crate::support::{Workdir, both, code};

const PG_PASSWORD: &str = "tls-Pa55-scram";

/// The server side of the PostgreSQL tests: a CA, the cluster's files, and another CA nobody trusts.
struct PgPki {
    dir: PathBuf,
    ca: Ca,
    other: Ca,
}

impl PgPki {
    fn new(tag: &str) -> PgPki {
        let dir = std::env::temp_dir().join(format!("falconer-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory");
        let ca = Ca::new("falconer test CA");
        ca.write(&dir.join("ca.pem"));
        let other = Ca::new("an authority nobody trusts");
        other.write(&dir.join("other-ca.pem"));
        PgPki { dir, ca, other }
    }

    /// A cluster in `name` serving `server` (none: TLS off), SCRAM over TLS for `postgres`, certificate
    /// sign-in for `cert_login`, and nothing without TLS. Its port.
    fn cluster(&self, name: &str, server: Option<&Leaf>) -> (crate::deaths::Proc, u16) {
        // The server's files in the cluster's own directory, which the server's user owns.
        let data = self.dir.join(name);
        std::fs::create_dir_all(&data).expect("a directory");
        let mut settings = Vec::new();
        let hba = match server {
            Some(s) => {
                let own = |from: &Path, file: &str| {
                    let to = data.join(file);
                    std::fs::copy(from, &to).expect("copies");
                    to.display().to_string()
                };
                let ca = own(&self.dir.join("ca.pem"), "ca.pem");
                let (cert, key) = (own(&s.cert, "server.crt"), own(&s.key, "server.key"));
                settings.extend([
                    "ssl=on".to_string(),
                    format!("ssl_cert_file={cert}"),
                    format!("ssl_key_file={key}"),
                    format!("ssl_ca_file={ca}"),
                ]);
                "local all all trust\n\
                 hostssl all postgres 127.0.0.1/32 scram-sha-256\n\
                 hostssl all cert_login 127.0.0.1/32 cert\n\
                 hostnossl all all 127.0.0.1/32 reject\n"
            }
            None => "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        };
        let (proc, url) = postgres_cluster_custom(&data, Some(PG_PASSWORD), &settings, Some(hba));
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("a port");
        (proc, port)
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }
}

/// A profile for PostgreSQL at `host:port` signing in as `user` (with the password from the environment
/// for `postgres`), with a `[postgres.tls]` table of `tls` lines.
fn pg_profile(w: &Workdir, name: &str, url: &str, tls: &str) -> String {
    let password = if url.starts_with("postgres://postgres@") {
        "password = { env = \"PG_TLS_PASSWORD\" }\n"
    } else {
        ""
    };
    let table = if tls.is_empty() {
        String::new()
    } else {
        format!("[postgres.tls]\n{tls}")
    };
    let path = w.dir.join(name);
    std::fs::write(
        &path,
        format!("[postgres]\nurl = \"{url}\"\n{password}{table}"),
    )
    .expect("writes");
    path.display().to_string()
}

fn run(w: &Workdir, args: &[&str]) -> std::process::Output {
    w.command(args)
        .env("PG_TLS_PASSWORD", PG_PASSWORD)
        .output()
        .expect("runs")
}

/// falconer's output names the failure and what to set, and leaks neither the password nor a key.
fn refused(o: &std::process::Output, words: &[&str]) {
    assert_ne!(o.status.code(), Some(0), "{}", both(o));
    let out = both(o);
    for w in words {
        assert!(out.contains(w), "expected {w:?} in:\n{out}");
    }
    assert!(!out.contains(PG_PASSWORD), "{out}");
    assert!(!out.contains("PRIVATE KEY"), "{out}");
}

fn copy_into(from: &Path, w: &Workdir, name: &str) {
    std::fs::copy(from, w.dir.join(name)).expect("copies");
}

#[test]
fn postgres_over_verify_full_with_a_company_ca_and_client_certificates() {
    let pki = PgPki::new("pg");
    let server = pki.ca.server(&pki.dir, "server", &["localhost"], false);
    let (_pg, port) = pki.cluster("main", Some(&server));
    let w = Workdir::new("tls", "pg", vec![]);
    copy_into(&pki.dir.join("ca.pem"), &w, "company-ca.pem");
    copy_into(&pki.dir.join("other-ca.pem"), &w, "other-ca.pem");
    let url = format!("postgres://postgres@localhost:{port}/postgres");
    w.write(
        "m.toml",
        "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n\n\
         [[postgres.role]]\nname = \"cert_login\"\nlogin = true\n\n\
         [[postgres.schema]]\nname = \"app\"\n\n\
         [[postgres.table]]\nname = \"orders\"\nschema = \"app\"\nprimary_key = { columns = [\"id\"] }\n\
         column = [{ name = \"id\", type = \"bigint\", nullable = false }]\n",
    );
    let m = w.manifest();
    // The state store on the same server, over verify-full through the URL's own parameters.
    let state = format!(
        "postgres://postgres:{PG_PASSWORD}@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        pki.path("ca.pem")
    );
    let verified = pg_profile(&w, "verified.toml", &url, "ca_file = \"company-ca.pem\"\n");
    let with = |args: &[&str]| {
        let mut c = w.command(args);
        c.env("PG_TLS_PASSWORD", PG_PASSWORD)
            .env("FALCONER_STATE", &state);
        c.output().expect("runs")
    };
    let o = with(&["apply", &m, "--auto-approve", "--profile", &verified]);
    code(&o, 0);
    let o = with(&["plan", &m, "--profile", &verified, "--detailed-exitcode"]);
    code(&o, 0);
    let exported = w.dir.join("export.toml").display().to_string();
    let o = with(&[
        "export",
        "--tenant",
        "acme",
        "--domain",
        "postgres",
        "-o",
        &exported,
        "--profile",
        &verified,
    ]);
    code(&o, 0);
    let text = std::fs::read_to_string(&exported).expect("the export");
    assert!(text.contains("orders"), "{text}");

    // A client certificate signs in as the role its common name names; no password.
    pki.ca.client(&w.dir, "falconer", "cert_login");
    let cert_url = format!("postgres://cert_login@localhost:{port}/postgres");
    let by_cert = pg_profile(
        &w,
        "cert.toml",
        &cert_url,
        "ca_file = \"company-ca.pem\"\ncert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\n",
    );
    let o = with(&["plan", &m, "--profile", &by_cert, "--detailed-exitcode"]);
    code(&o, 0);

    // libpq's variables are honoured without a profile.
    let o = w
        .command(&["plan", &m, "--detailed-exitcode"])
        .env(
            "FALCONER_POSTGRES_URL",
            format!("{cert_url}?sslmode=verify-full"),
        )
        .env("PGSSLROOTCERT", pki.path("ca.pem"))
        .env("PGSSLCERT", w.dir.join("falconer.crt"))
        .env("PGSSLKEY", w.dir.join("falconer.key"))
        .env("FALCONER_STATE", &state)
        .output()
        .expect("runs");
    code(&o, 0);

    // Refusals, each naming what to set.
    let other = pg_profile(&w, "other.toml", &url, "ca_file = \"other-ca.pem\"\n");
    refused(
        &run(&w, &["plan", &m, "--profile", &other]),
        &[
            "PostgreSQL",
            "not signed by an authority falconer trusts",
            "[postgres.tls] ca_file",
        ],
    );
    let by_ip = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let misnamed = pg_profile(&w, "ip.toml", &by_ip, "ca_file = \"company-ca.pem\"\n");
    refused(
        &run(&w, &["plan", &m, "--profile", &misnamed]),
        &["PostgreSQL", "issued to another name"],
    );
    pki.other.client(&w.dir, "stranger", "cert_login");
    let foreign = pg_profile(
        &w,
        "foreign.toml",
        &cert_url,
        "ca_file = \"company-ca.pem\"\ncert_file = \"stranger.crt\"\nkey_file = \"stranger.key\"\n",
    );
    refused(
        &run(&w, &["plan", &m, "--profile", &foreign]),
        &[
            "PostgreSQL",
            "refused falconer's client certificate",
            "[postgres.tls] cert_file",
        ],
    );
    let named = pg_profile(
        &w,
        "named.toml",
        &url,
        "ca_file = \"company-ca.pem\"\nserver_name = \"db.internal\"\n",
    );
    refused(
        &run(&w, &["plan", &m, "--profile", &named]),
        &[
            "[postgres.tls] server_name",
            "cannot be honoured by the PostgreSQL client",
        ],
    );
    let both_modes = pg_profile(
        &w,
        "contradiction.toml",
        &format!("{url}?sslmode=require"),
        "mode = \"verify-full\"\nca_file = \"company-ca.pem\"\n",
    );
    refused(
        &run(&w, &["plan", &m, "--profile", &both_modes]),
        &["[postgres.tls] mode", "verify-full", "sslmode=require"],
    );
    let half = pg_profile(&w, "half.toml", &url, "cert_file = \"falconer.crt\"\n");
    refused(
        &run(&w, &["plan", &m, "--profile", &half]),
        &["[postgres.tls] cert_file", "key_file"],
    );
    let missing = pg_profile(&w, "missing.toml", &url, "ca_file = \"no-such-ca.pem\"\n");
    refused(
        &run(&w, &["plan", &m, "--profile", &missing]),
        &["[postgres.tls] ca_file", "no-such-ca.pem", "cannot be read"],
    );
    // insecure: encrypted, unchecked, and said on every run.
    let insecure = pg_profile(&w, "insecure.toml", &url, "mode = \"insecure\"\n");
    let o = with(&["plan", &m, "--profile", &insecure, "--detailed-exitcode"]);
    code(&o, 0);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("TLS certificates are not checked"),
        "{}",
        both(&o)
    );
}

#[test]
fn postgres_refuses_an_expired_certificate_and_a_server_without_tls() {
    let pki = PgPki::new("pg-bad");
    let expired = pki.ca.server(&pki.dir, "expired", &["localhost"], true);
    let (_old, old_port) = pki.cluster("expired", Some(&expired));
    let (_plain, plain_port) = pki.cluster("plain", None);
    let w = Workdir::new("tls", "pg-bad", vec![]);
    copy_into(&pki.dir.join("ca.pem"), &w, "company-ca.pem");
    w.write("m.toml", "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n\n[[postgres.schema]]\nname = \"app\"\n");
    let m = w.manifest();
    let old = pg_profile(
        &w,
        "expired.toml",
        &format!("postgres://postgres@localhost:{old_port}/postgres"),
        "ca_file = \"company-ca.pem\"\n",
    );
    refused(
        &run(&w, &["plan", &m, "--profile", &old]),
        &["PostgreSQL", "expired"],
    );
    let plain = pg_profile(
        &w,
        "plain.toml",
        &format!("postgres://postgres@localhost:{plain_port}/postgres"),
        "ca_file = \"company-ca.pem\"\n",
    );
    refused(
        &run(&w, &["plan", &m, "--profile", &plain]),
        &["PostgreSQL", "TLS"],
    );
    // Without TLS settings the same server is reached as before (sslmode prefer), and -v says so.
    let o = w
        .command(&["plan", &m, "-v"])
        .env(
            "FALCONER_POSTGRES_URL",
            format!("postgres://postgres:{PG_PASSWORD}@localhost:{plain_port}/postgres"),
        )
        .output()
        .expect("runs");
    code(&o, 0);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the server's certificate is not verified"),
        "{}",
        both(&o)
    );
}

/// A directory of the test's own for certificates.
fn certs_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("falconer-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory");
    dir
}

fn write_profile(w: &Workdir, name: &str, body: &str) -> String {
    let path = w.dir.join(name);
    std::fs::write(&path, body).expect("writes the profile");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_over_https_with_a_company_ca_and_a_client_certificate() {
    use crate::keycloak_double::{KeycloakDouble, Options};
    let dir = certs_dir("kc");
    let ca = Ca::new("falconer test CA");
    let server = ca.server(&dir, "server", &["localhost"], false);
    let ca_pem = ca.write(&dir.join("ca.pem"));
    let kc = KeycloakDouble::start_tls(
        0,
        Options::default(),
        crate::pki::server_config(&server, Some(&ca_pem)),
    )
    .await
    .expect("the double");
    assert!(kc.url.starts_with("https://localhost:"), "{}", kc.url);
    let w = Workdir::new("tls", "kc", vec![]);
    copy_into(&ca_pem, &w, "company-ca.pem");
    ca.client(&w.dir, "falconer", "falconer");
    let stranger = Ca::new("an authority nobody trusts");
    stranger.client(&w.dir, "stranger", "falconer");
    w.write(
        "m.toml",
        "[tenant]\nid = \"acme\"\n\n[[iam.realm]]\nname = \"acme\"\n",
    );
    let m = w.manifest();
    let o = Options::default();
    let profile = |name: &str, tls: &str| {
        write_profile(
            &w,
            name,
            &format!(
                "[iam]\nurl = \"{}\"\nusername = \"{}\"\npassword = {{ env = \"KC_TLS_PASSWORD\" }}\n[iam.tls]\n{tls}",
                kc.url, o.username
            ),
        )
    };
    let run = |p: &str, extra: &[&str]| {
        let mut args = vec!["apply", m.as_str(), "--auto-approve", "--profile", p];
        args.extend(extra);
        w.command(&args)
            .env("KC_TLS_PASSWORD", &o.password)
            .output()
            .expect("runs")
    };
    let good = profile(
        "good.toml",
        "ca_file = \"company-ca.pem\"\ncert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\n",
    );
    code(&run(&good, &[]), 0);
    assert!(
        kc.log()
            .iter()
            .any(|r| r.method == "POST" && r.status == 201),
        "the realm was created over HTTPS"
    );
    let o2 = w
        .command(&["plan", &m, "--profile", &good, "--detailed-exitcode"])
        .env("KC_TLS_PASSWORD", &o.password)
        .output()
        .expect("runs");
    code(&o2, 0);

    let untrusted = profile(
        "untrusted.toml",
        "cert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\n",
    );
    let out = run(&untrusted, &[]);
    refused_kc(
        &out,
        &[
            "Keycloak",
            "not signed by an authority falconer trusts",
            "[iam.tls] ca_file",
        ],
        &o.password,
    );
    let no_cert = profile("no-cert.toml", "ca_file = \"company-ca.pem\"\n");
    refused_kc(
        &run(&no_cert, &[]),
        &["Keycloak", "client certificate", "[iam.tls] cert_file"],
        &o.password,
    );
    let foreign = profile(
        "foreign.toml",
        "ca_file = \"company-ca.pem\"\ncert_file = \"stranger.crt\"\nkey_file = \"stranger.key\"\n",
    );
    refused_kc(
        &run(&foreign, &[]),
        &["Keycloak", "client certificate"],
        &o.password,
    );
    // server_name: the certificate is checked against that name, not the host connected to.
    let named = profile(
        "named.toml",
        "ca_file = \"company-ca.pem\"\ncert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\nserver_name = \"kc.internal\"\n",
    );
    refused_kc(
        &run(&named, &[]),
        &["Keycloak", "issued to another name"],
        &o.password,
    );
    let internal = ca.server(&dir, "internal", &["kc.internal"], false);
    let kc2 = KeycloakDouble::start_tls(
        0,
        Options::default(),
        crate::pki::server_config(&internal, Some(&ca_pem)),
    )
    .await
    .expect("the double");
    let by_name = |name: &str, extra: &str| {
        write_profile(
            &w,
            name,
            &format!(
                "[iam]\nurl = \"{}\"\nusername = \"{}\"\npassword = {{ env = \"KC_TLS_PASSWORD\" }}\n[iam.tls]\nca_file = \"company-ca.pem\"\ncert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\n{extra}",
                kc2.url, o.username
            ),
        )
    };
    code(
        &run(
            &by_name("internal.toml", "server_name = \"kc.internal\"\n"),
            &[],
        ),
        0,
    );
    refused_kc(
        &run(&by_name("host.toml", ""), &[]),
        &["Keycloak", "issued to another name"],
        &o.password,
    );
    refused_kc(
        &run(
            &by_name(
                "ca-mode.toml",
                "mode = \"verify-ca\"\nserver_name = \"kc.internal\"\n",
            ),
            &[],
        ),
        &["[iam.tls] server_name", "verify-full"],
        &o.password,
    );
}

fn refused_kc(o: &std::process::Output, words: &[&str], password: &str) {
    assert_ne!(o.status.code(), Some(0), "{}", both(o));
    let out = both(o);
    for w in words {
        assert!(out.contains(w), "expected {w:?} in:\n{out}");
    }
    assert!(!out.contains(password), "{out}");
    assert!(!out.contains("PRIVATE KEY"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_openwhisk_is_reached_only_with_insecure_which_warns() {
    use crate::openwhisk_double::{OpenWhiskDouble, Options};
    let dir = certs_dir("ow");
    // A certificate that signs itself, as OpenWhisk's own deployments make.
    let own = Ca::new("openwhisk");
    let server = own.server(&dir, "server", &["localhost"], false);
    let ow = OpenWhiskDouble::start_tls(
        0,
        Options::default(),
        crate::pki::server_config(&server, None),
    )
    .await
    .expect("the double");
    let w = Workdir::new("tls", "ow", vec![]);
    w.write(
        "m.toml",
        "[tenant]\nid = \"acme\"\n\n[[functions.package]]\nname = \"orders\"\n",
    );
    let m = w.manifest();
    let auth = Options::default().auth;
    let profile = |name: &str, tls: &str| {
        write_profile(
            &w,
            name,
            &format!(
                "[functions]\nurl = \"{}\"\nauth = {{ env = \"OW_TLS_AUTH\" }}\n{tls}",
                ow.url
            ),
        )
    };
    let run = |p: &str| {
        w.command(&["apply", &m, "--auto-approve", "--profile", p])
            .env("OW_TLS_AUTH", &auth)
            .output()
            .expect("runs")
    };
    let checked = profile("checked.toml", "");
    refused_kc(
        &run(&checked),
        &[
            "OpenWhisk",
            "not signed by an authority falconer trusts",
            "[functions.tls] ca_file",
        ],
        &auth,
    );
    let insecure = profile("insecure.toml", "[functions.tls]\nmode = \"insecure\"\n");
    let o = run(&insecure);
    code(&o, 0);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("OpenWhisk: TLS certificates are not checked"),
        "{}",
        both(&o)
    );
    assert!(!both(&o).contains(&auth), "{}", both(&o));
    // The same from the environment, without a profile.
    let o = w
        .command(&["plan", &m, "--detailed-exitcode"])
        .env("FALCONER_OPENWHISK_URL", &ow.url)
        .env("FALCONER_OPENWHISK_AUTH", &auth)
        .env("FALCONER_OPENWHISK_TLS_MODE", "insecure")
        .output()
        .expect("runs");
    code(&o, 0);
    let o = w
        .command(&["plan", &m])
        .env("FALCONER_OPENWHISK_URL", &ow.url)
        .env("FALCONER_OPENWHISK_AUTH", &auth)
        .env("FALCONER_OPENWHISK_TLS_MODE", "unchecked")
        .output()
        .expect("runs");
    refused_kc(
        &o,
        &[
            "FALCONER_OPENWHISK_TLS_MODE",
            "verify-full, verify-ca or insecure",
        ],
        &auth,
    );
}

const MONGO_PASSWORD: &str = "mongo-Tls-Pa55";

/// Users made on a SecantusDB started without sign-in: `falconer` (SCRAM-SHA-256) and the certificate
/// `CN=falconer` (MONGODB-X509), both `root`.
async fn mongo_users(url: &str) {
    use mongodb::bson::doc;
    let client = mongodb::Client::with_uri_str(url).await.expect("a client");
    let admin = client.database("admin");
    admin
        .run_command(doc! { "createUser": "falconer", "pwd": MONGO_PASSWORD, "roles": ["root"] })
        .await
        .expect("creates falconer");
    client
        .database("$external")
        .run_command(doc! { "createUser": "CN=falconer", "mechanisms": ["MONGODB-X509"], "roles": [{ "role": "root", "db": "admin" }] })
        .await
        .expect("creates CN=falconer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_over_tls_with_scram_and_x509_sign_in() {
    use crate::deaths::mongo_on_disk_with;
    let dir = certs_dir("mongo");
    let ca = Ca::new("falconer test CA");
    let ca_pem = ca.write(&dir.join("ca.pem"));
    let server = ca.server(&dir, "server", &["localhost"], false);
    let store = dir.join("db");
    // Users first, without sign-in or TLS; then the same data behind TLS, client certificates and --auth.
    {
        // Synced on commit: the server is killed after.
        let (_open, url) = mongo_on_disk_with(&store, &["--sync-on-commit".to_string()]);
        mongo_users(&url).await;
    }
    let secured = [
        "--auth".to_string(),
        format!("--tls-cert-file={}", server.cert.display()),
        format!("--tls-key-file={}", server.key.display()),
        format!("--tls-ca-file={}", ca_pem.display()),
        "--tls-require-client-cert".to_string(),
    ];
    let (_mongo, url) = mongo_on_disk_with(&store, &secured);
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("a port")
        .to_string();
    let w = Workdir::new("tls", "mongo", vec![]);
    copy_into(&ca_pem, &w, "company-ca.pem");
    ca.client(&w.dir, "falconer", "falconer");
    Ca::new("an authority nobody trusts").write(&w.dir.join("other-ca.pem"));
    w.write(
        "m.toml",
        "[tenant]\nid = \"acme\"\n\n[[mongo.database]]\nname = \"acme\"\n\n[[mongo.collection]]\nname = \"events\"\ndatabase = \"acme\"\n",
    );
    let m = w.manifest();
    let scram =
        format!("mongodb://falconer@localhost:{port}/?authSource=admin&directConnection=true");
    let x509 =
        format!("mongodb://localhost:{port}/?authMechanism=MONGODB-X509&directConnection=true");
    let profile = |name: &str, url: &str, tls: &str| {
        let password = if url.contains("falconer@") {
            "password = { env = \"MONGO_TLS_PASSWORD\" }\n"
        } else {
            ""
        };
        write_profile(
            &w,
            name,
            &format!("[mongo]\nurl = \"{url}\"\n{password}[mongo.tls]\n{tls}"),
        )
    };
    // The refusals wait out the driver's server selection: the connect timeout, short here.
    let run = |args: &[&str], password: &str| {
        w.command(args)
            .env("MONGO_TLS_PASSWORD", password)
            .env("FALCONER_CONNECT_TIMEOUT", "3")
            .output()
            .expect("runs")
    };
    let mtls =
        "ca_file = \"company-ca.pem\"\ncert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\n";
    let good = profile("scram.toml", &scram, mtls);
    code(
        &run(
            &["apply", &m, "--auto-approve", "--profile", &good],
            MONGO_PASSWORD,
        ),
        0,
    );
    code(
        &run(
            &["plan", &m, "--profile", &good, "--detailed-exitcode"],
            MONGO_PASSWORD,
        ),
        0,
    );
    let by_cert = profile("x509.toml", &x509, mtls);
    code(
        &run(
            &["plan", &m, "--profile", &by_cert, "--detailed-exitcode"],
            "",
        ),
        0,
    );
    let exported = w.dir.join("export.toml").display().to_string();
    let args = [
        "export",
        "--tenant",
        "acme",
        "--domain",
        "mongo",
        "-o",
        &exported,
        "--profile",
        &by_cert,
    ];
    code(&run(&args, ""), 0);
    assert!(
        std::fs::read_to_string(&exported)
            .expect("the export")
            .contains("events")
    );
    // The combined certificate and key made for the driver is gone after the run.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("lists")
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.starts_with("falconer-mongo-tls-") && name.ends_with(".pem")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let wrong = run(&["plan", &m, "--profile", &good], "not-the-password");
    refused_kc(
        &wrong,
        &["MongoDB", "authentication failed"],
        MONGO_PASSWORD,
    );
    let other = profile(
        "other.toml",
        &scram,
        "ca_file = \"other-ca.pem\"\ncert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\n",
    );
    refused_kc(
        &run(&["plan", &m, "--profile", &other], MONGO_PASSWORD),
        &[
            "MongoDB",
            "not signed by an authority falconer trusts",
            "[mongo.tls] ca_file",
        ],
        MONGO_PASSWORD,
    );
    let no_cert = profile("no-cert.toml", &scram, "ca_file = \"company-ca.pem\"\n");
    refused_kc(
        &run(&["plan", &m, "--profile", &no_cert], MONGO_PASSWORD),
        &[
            "MongoDB",
            "refused falconer's client certificate",
            "[mongo.tls] cert_file",
        ],
        MONGO_PASSWORD,
    );
    let ca_only = profile(
        "ca-only.toml",
        &scram,
        "mode = \"verify-ca\"\nca_file = \"company-ca.pem\"\n",
    );
    refused_kc(
        &run(&["plan", &m, "--profile", &ca_only], MONGO_PASSWORD),
        &[
            "[mongo.tls] mode",
            "cannot be honoured by the MongoDB client",
        ],
        MONGO_PASSWORD,
    );
}

/// A bucket made over HTTPS with falconer's own S3 client, trusting `ca`.
async fn make_bucket(endpoint: &str, ca: &Path, bucket: &str) {
    use falconer::s3::client::{Call, Client, Config};
    let tls = falconer::tls::Tls {
        ca_file: Some(ca.to_path_buf()),
        origin: "[test.tls]".into(),
        ..Default::default()
    };
    let client = Client::new(Config {
        endpoint: endpoint.to_string(),
        region: "us-east-1".into(),
        access_key: "AK".into(),
        secret_key: crate::support::S3_SECRET.into(),
        virtual_host: false,
        session_token: None,
        tls,
    })
    .expect("a client");
    client
        .send(Call::new(reqwest::Method::PUT, Some(bucket), ""))
        .await
        .expect("creates the bucket over HTTPS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_a_backup_repository_over_https_with_a_company_ca() {
    let dir = certs_dir("s3");
    let ca = Ca::new("falconer test CA");
    let ca_pem = ca.write(&dir.join("ca.pem"));
    let server = ca.server(&dir, "server", &["localhost"], false);
    let (_s3, url) =
        crate::deaths::s3_on_disk_with(&dir.join("weed"), Some((&server.cert, &server.key)));
    assert!(url.starts_with("https://localhost:"), "{url}");
    make_bucket(&url, &ca_pem, "falconer-backups").await;
    let w = Workdir::new("tls", "s3", vec![]);
    copy_into(&ca_pem, &w, "company-ca.pem");
    Ca::new("an authority nobody trusts").write(&w.dir.join("other-ca.pem"));
    w.write(
        "m.toml",
        "[tenant]\nid = \"acme\"\n\n[[storage.bucket]]\nname = \"acme-uploads\"\nversioning = \"enabled\"\n",
    );
    let m = w.manifest();
    let profile = |name: &str, endpoint: &str, storage_ca: &str, backup_ca: &str| {
        write_profile(
            &w,
            name,
            &format!(
                "[storage]\nendpoint = \"{endpoint}\"\naccess_key_id = \"AK\"\nsecret_access_key = {{ env = \"S3_TLS_SECRET\" }}\n\
                 [storage.tls]\nca_file = \"{storage_ca}\"\n\n\
                 [backup]\nrepo = \"s3://falconer-backups/repo\"\nendpoint = \"{endpoint}\"\naccess_key_id = \"AK\"\n\
                 secret_access_key = {{ env = \"S3_TLS_SECRET\" }}\n[backup.tls]\nca_file = \"{backup_ca}\"\n"
            ),
        )
    };
    let run = |args: &[&str]| {
        w.command(args)
            .env("S3_TLS_SECRET", crate::support::S3_SECRET)
            .env_remove("FALCONER_S3_ENDPOINT")
            .env_remove("FALCONER_REPO_S3_ENDPOINT")
            .output()
            .expect("runs")
    };
    let good = profile("good.toml", &url, "company-ca.pem", "company-ca.pem");
    code(
        &run(&["apply", &m, "--auto-approve", "--profile", &good]),
        0,
    );
    code(
        &run(&["plan", &m, "--profile", &good, "--detailed-exitcode"]),
        0,
    );
    // The repository on S3 is reached through the profile's [backup] table, not the environment.
    let o = run(&[
        "backup",
        "create",
        "--tenant",
        "acme",
        "--manifest",
        &m,
        "--profile",
        &good,
    ]);
    code(&o, 0);
    let o = run(&["backup", "list", "--tenant", "acme", "--profile", &good]);
    code(&o, 0);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("acme"),
        "{}",
        both(&o)
    );
    let o = run(&[
        "restore",
        "latest",
        "--tenant",
        "acme",
        "--profile",
        &good,
        "--dry-run",
    ]);
    code(&o, 0);

    let storage_other = profile("s-other.toml", &url, "other-ca.pem", "company-ca.pem");
    refused_kc(
        &run(&["plan", &m, "--profile", &storage_other]),
        &[
            "S3",
            "not signed by an authority falconer trusts",
            "[storage.tls] ca_file",
        ],
        crate::support::S3_SECRET,
    );
    let backup_other = profile("b-other.toml", &url, "company-ca.pem", "other-ca.pem");
    refused_kc(
        &run(&[
            "backup",
            "list",
            "--tenant",
            "acme",
            "--profile",
            &backup_other,
        ]),
        &[
            "S3",
            "not signed by an authority falconer trusts",
            "[backup.tls] ca_file",
        ],
        crate::support::S3_SECRET,
    );
    let by_ip = url.replace("localhost", "127.0.0.1");
    let misnamed = profile("ip.toml", &by_ip, "company-ca.pem", "company-ca.pem");
    refused_kc(
        &run(&["plan", &m, "--profile", &misnamed]),
        &["S3", "issued to another name"],
        crate::support::S3_SECRET,
    );
}

const KAFKA_PASSWORD: &str = "kafka-Scram-Pa55";
const OAUTH_SECRET: &str = "oauth-client-Secret";

/// A token endpoint (client credentials, RFC 6749 4.4) over HTTPS: a token for `falconer-client` with its
/// secret, recorded in `tokens` for the double to accept; 401 otherwise.
async fn token_endpoint(
    tokens: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tls: std::sync::Arc<rustls::ServerConfig>,
) -> crate::keycloak_double::http::Running {
    use base64::Engine;
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let tokens = tokens.clone();
            async move {
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("falconer-client:{OAUTH_SECRET}"))
                );
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                if auth != Some(expected.as_str()) || !body.contains("grant_type=client_credentials") {
                    let body = serde_json::json!({ "error": "invalid_client" }).to_string();
                    return (axum::http::StatusCode::UNAUTHORIZED, body);
                }
                let mut t = tokens.lock().expect("tokens");
                let token = format!("token-{}", t.len() + 1);
                t.push(token.clone());
                let body = serde_json::json!({ "access_token": token, "token_type": "bearer", "expires_in": 300 });
                (axum::http::StatusCode::OK, body.to_string())
            }
        }),
    );
    crate::keycloak_double::http::serve_tls(0, app, Some(tls))
        .await
        .expect("the token endpoint")
}

/// ACLs planned, applied and planned again (no changes) through a Kafka that speaks TLS and SASL, over
/// each protocol and mechanism; each sign-in is the double's own record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_over_each_security_protocol_and_sasl_mechanism() {
    use crate::kafka_double::{KafkaDouble, Sasl, Secured};
    let dir = certs_dir("kafka");
    let ca = Ca::new("falconer test CA");
    let ca_pem = ca.write(&dir.join("ca.pem"));
    // The double advertises 127.0.0.1 in its metadata: the certificate carries both names.
    let server = ca.server(&dir, "server", &["localhost", "127.0.0.1"], false);
    let tokens = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let idp = token_endpoint(tokens.clone(), crate::pki::server_config(&server, None)).await;
    let w = Workdir::new("tls", "kafka", vec![]);
    copy_into(&ca_pem, &w, "company-ca.pem");
    ca.client(&w.dir, "falconer", "falconer");
    w.write(
        "m.toml",
        "[tenant]\nid = \"acme\"\n\n[[kafka.acl]]\nresource_name = \"acme.orders-tx\"\nresource_type = \"transactional_id\"\nprincipal = \"User:orders-api\"\noperation = \"write\"\npermission = \"allow\"\n",
    );
    let m = w.manifest();
    let sasl = |mechanism: &str| Sasl {
        mechanisms: vec![mechanism.to_string()],
        users: vec![("falconer".into(), KAFKA_PASSWORD.into())],
        tokens: tokens.clone(),
        ..Sasl::default()
    };
    let tls = || Some(crate::pki::server_config(&server, Some(&ca_pem)));
    let with_ca = "[kafka.tls]\nca_file = \"company-ca.pem\"\ncert_file = \"falconer.crt\"\nkey_file = \"falconer.key\"\n";
    let cases: Vec<(&str, Secured, String)> = vec![
        ("SSL", Secured { tls: tls(), sasl: None }, "security_protocol = \"SSL\"\n".into()),
        (
            "PLAIN",
            Secured { tls: None, sasl: Some(sasl("PLAIN")) },
            "security_protocol = \"SASL_PLAINTEXT\"\nsasl_mechanism = \"PLAIN\"\nusername = \"falconer\"\npassword = { env = \"KAFKA_TLS_PASSWORD\" }\n".into(),
        ),
        (
            "SCRAM-SHA-256",
            Secured { tls: tls(), sasl: Some(sasl("SCRAM-SHA-256")) },
            "security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-256\"\nusername = \"falconer\"\npassword = { env = \"KAFKA_TLS_PASSWORD\" }\n".into(),
        ),
        (
            "SCRAM-SHA-512",
            Secured { tls: tls(), sasl: Some(sasl("SCRAM-SHA-512")) },
            "security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nusername = \"falconer\"\npassword = { env = \"KAFKA_TLS_PASSWORD\" }\n".into(),
        ),
        (
            "OAUTHBEARER",
            Secured { tls: tls(), sasl: Some(sasl("OAUTHBEARER")) },
            format!(
                "security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"OAUTHBEARER\"\noauth = {{ token_endpoint = \"{}/token\", client_id = \"falconer-client\", client_secret = {{ env = \"KAFKA_OAUTH_SECRET\" }} }}\n",
                idp.url
            ),
        ),
    ];
    for (name, secured, table) in cases {
        let uses_tls = secured.tls.is_some();
        let uses_sasl = secured.sasl.is_some();
        let double = KafkaDouble::start_secured(secured).await;
        let tls_table = if uses_tls { with_ca } else { "" };
        let profile = write_profile(
            &w,
            &format!("{name}.toml"),
            &format!(
                "[kafka]\nurl = \"{}\"\n{table}{tls_table}",
                double.bootstrap
            ),
        );
        let state = format!("sqlite:{}", w.dir.join(format!("{name}.db")).display());
        let run = |args: &[&str]| {
            w.command(args)
                .env("FALCONER_STATE", &state)
                .env("KAFKA_TLS_PASSWORD", KAFKA_PASSWORD)
                .env("KAFKA_OAUTH_SECRET", OAUTH_SECRET)
                .output()
                .expect("runs")
        };
        let o = run(&["apply", &m, "--auto-approve", "--profile", &profile]);
        code(&o, 0);
        let out = both(&o);
        assert!(
            !out.contains(KAFKA_PASSWORD) && !out.contains(OAUTH_SECRET),
            "{out}"
        );
        assert_eq!(double.count("CreateAcls"), 1, "{name}");
        code(
            &run(&["plan", &m, "--profile", &profile, "--detailed-exitcode"]),
            0,
        );
        let st = double.state.lock().expect("state");
        if uses_sasl {
            assert!(
                !st.logins.is_empty() && st.logins.iter().all(|(m, _)| m == name),
                "{name}: {:?}",
                st.logins
            );
        }
        assert_eq!(st.refused_logins, 0, "{name}");
    }
    assert!(
        !tokens.lock().expect("tokens").is_empty(),
        "the token endpoint issued the OAUTHBEARER token"
    );
}

/// Topics over SASL_SSL (the secure sandbox's Kafka): created with their configs, then a config set, one
/// removed and partitions added (IncrementalAlterConfigs, CreatePartitions), then deleted (DeleteTopics),
/// each converging: the plan after each apply is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_topics_converge_over_sasl_ssl() {
    use crate::kafka_double::{KafkaDouble, Sasl, Secured};
    let dir = certs_dir("kafka-topics");
    let ca = Ca::new("falconer test CA");
    let ca_pem = ca.write(&dir.join("ca.pem"));
    let server = ca.server(&dir, "server", &["localhost", "127.0.0.1"], false);
    let double = KafkaDouble::start_secured(Secured {
        tls: Some(crate::pki::server_config(&server, None)),
        sasl: Some(Sasl {
            mechanisms: vec!["SCRAM-SHA-512".into()],
            users: vec![("falconer".into(), KAFKA_PASSWORD.into())],
            ..Sasl::default()
        }),
    })
    .await;
    let w = Workdir::new("tls", "kafka-topics", vec![]);
    copy_into(&ca_pem, &w, "company-ca.pem");
    let profile = write_profile(
        &w,
        "p.toml",
        &format!(
            "[kafka]\nurl = \"{}\"\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nusername = \"falconer\"\npassword = {{ env = \"KAFKA_TLS_PASSWORD\" }}\n[kafka.tls]\nca_file = \"company-ca.pem\"\n",
            double.bootstrap
        ),
    );
    let state = format!("sqlite:{}", w.dir.join("state.db").display());
    let converge = |topics: &str, allow: &[&str]| {
        w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{topics}"));
        let m = w.manifest();
        let mut args = vec!["apply", m.as_str(), "--auto-approve", "--profile", &profile];
        args.extend(allow);
        let run = |args: &[&str]| {
            w.command(args)
                .env("FALCONER_STATE", &state)
                .env("KAFKA_TLS_PASSWORD", KAFKA_PASSWORD)
                .output()
                .expect("runs")
        };
        code(&run(&args), 0);
        code(
            &run(&["plan", &m, "--profile", &profile, "--detailed-exitcode"]),
            0,
        );
    };
    converge(
        "[[kafka.topic]]\nname = \"acme.orders\"\npartitions = 3\nreplication_factor = 1\nconfig = { \"retention.ms\" = \"604800000\", \"cleanup.policy\" = \"delete\" }\n",
        &[],
    );
    converge(
        "[[kafka.topic]]\nname = \"acme.orders\"\npartitions = 6\nreplication_factor = 1\nconfig = { \"retention.ms\" = \"86400000\" }\n",
        &[],
    );
    {
        let st = double.state.lock().expect("state");
        let (parts, configs) = &st.topics["acme.orders"];
        assert_eq!(*parts, 6);
        assert_eq!(
            configs.iter().collect::<Vec<_>>(),
            [(&"retention.ms".to_string(), &"86400000".to_string())]
        );
    }
    assert_eq!(double.count("IncrementalAlterConfigs"), 1);
    assert_eq!(double.count("CreatePartitions"), 1);
    converge("", &["--allow", "DELETES_DATA"]);
    assert!(double.state.lock().expect("state").topics.is_empty());
    assert_eq!(double.count("DeleteTopics"), 1);
}

/// A refused password, an untrusted server and a refused token are each a typed error at once, naming
/// Kafka; a setting the protocol does not use is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_refusals_are_typed_and_named() {
    use crate::kafka_double::{KafkaDouble, Sasl, Secured};
    use falconer::domains::kafka::security::{KafkaTable, Security};
    use falconer::setup::{Env, SetupError};
    let dir = certs_dir("kafka-refused");
    let ca = Ca::new("falconer test CA");
    ca.write(&dir.join("ca.pem"));
    Ca::new("an authority nobody trusts").write(&dir.join("other-ca.pem"));
    let server = ca.server(&dir, "server", &["localhost", "127.0.0.1"], false);
    std::fs::write(dir.join("pw"), "not-the-password\n").expect("writes");
    std::fs::write(dir.join("secret"), "not-the-secret\n").expect("writes");
    let tokens = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let idp = token_endpoint(tokens.clone(), crate::pki::server_config(&server, None)).await;
    let double = KafkaDouble::start_secured(Secured {
        tls: Some(crate::pki::server_config(&server, None)),
        sasl: Some(Sasl {
            mechanisms: vec!["SCRAM-SHA-512".into(), "OAUTHBEARER".into()],
            users: vec![("falconer".into(), KAFKA_PASSWORD.into())],
            tokens: tokens.clone(),
            ..Sasl::default()
        }),
    })
    .await;
    let connect = |table: String| {
        let env = Env::default();
        let dir = dir.clone();
        async move {
            let t: KafkaTable = toml::from_str(&table).expect("a [kafka] table");
            let s = Security::of(Some(&t), &dir, &env)?;
            falconer::domains::kafka::admin::connect(&s)
                .await
                .map(|_| ())
        }
    };
    let base = format!(
        "url = \"{}\"\nsecurity_protocol = \"SASL_SSL\"\n",
        double.bootstrap
    );
    let scram = format!(
        "{base}sasl_mechanism = \"SCRAM-SHA-512\"\nusername = \"falconer\"\npassword = {{ file = \"pw\" }}\n"
    );
    let e = connect(format!("{scram}[tls]\nca_file = \"ca.pem\"\n"))
        .await
        .expect_err("refused");
    assert!(matches!(e, SetupError::SignIn(_)), "{e:?}");
    assert!(e.to_string().contains("Kafka"), "{e}");
    assert!(double.state.lock().expect("state").refused_logins >= 1);
    let e = connect(format!("{scram}[tls]\nca_file = \"other-ca.pem\"\n"))
        .await
        .expect_err("refused");
    assert!(matches!(e, SetupError::Tls(_)), "{e:?}");
    assert!(e.to_string().contains("[kafka.tls] ca_file"), "{e}");
    let oauth = format!(
        "{base}sasl_mechanism = \"OAUTHBEARER\"\noauth = {{ token_endpoint = \"{}/token\", client_id = \"falconer-client\", client_secret = {{ file = \"secret\" }} }}\n[tls]\nca_file = \"ca.pem\"\n",
        idp.url
    );
    let e = connect(oauth).await.expect_err("refused");
    assert!(matches!(e, SetupError::SignIn(_)), "{e:?}");
    assert!(!e.to_string().contains("not-the-secret"), "{e}");
    let plain = format!(
        "url = \"{}\"\nsecurity_protocol = \"PLAINTEXT\"\n[tls]\nca_file = \"ca.pem\"\n",
        double.bootstrap
    );
    let e = connect(plain).await.expect_err("refused");
    assert!(
        e.to_string().contains("[kafka.tls]") && e.to_string().contains("PLAINTEXT"),
        "{e}"
    );
    let named = format!("{scram}[tls]\nca_file = \"ca.pem\"\nserver_name = \"kafka.internal\"\n");
    let e = connect(named).await.expect_err("refused");
    assert!(e.to_string().contains("[kafka.tls] server_name"), "{e}");
}

/// An HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opens.
async fn connect_proxy() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().expect("an address").port();
    let tunnels = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut reader = tokio::io::BufReader::new(conn);
                let mut first = String::new();
                reader.read_line(&mut first).await.ok()?;
                let target = first
                    .strip_prefix("CONNECT ")?
                    .split(' ')
                    .next()?
                    .to_string();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).await.ok()?;
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                }
                let mut upstream =
                    tokio::net::TcpStream::connect(target.replace("localhost", "127.0.0.1"))
                        .await
                        .ok()?;
                let mut conn = reader.into_inner();
                conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .ok()?;
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::io::copy_bidirectional(&mut conn, &mut upstream)
                    .await
                    .ok()?;
                Some(())
            });
        }
    });
    (port, tunnels)
}

/// HTTPS_PROXY is followed, and NO_PROXY is honoured, as curl reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxies_are_taken_from_the_environment() {
    use crate::openwhisk_double::{OpenWhiskDouble, Options};
    use std::sync::atomic::Ordering;
    let dir = certs_dir("proxy");
    let ca = Ca::new("falconer test CA");
    let ca_pem = ca.write(&dir.join("ca.pem"));
    let server = ca.server(&dir, "server", &["localhost"], false);
    let ow = OpenWhiskDouble::start_tls(
        0,
        Options::default(),
        crate::pki::server_config(&server, None),
    )
    .await
    .expect("the double");
    let (port, tunnels) = connect_proxy().await;
    let w = Workdir::new("tls", "proxy", vec![]);
    w.write(
        "m.toml",
        "[tenant]\nid = \"acme\"\n\n[[functions.package]]\nname = \"orders\"\n",
    );
    let m = w.manifest();
    let run = |no_proxy: Option<&str>| {
        let mut c = w.command(&["plan", &m, "--detailed-exitcode"]);
        c.env("FALCONER_OPENWHISK_URL", &ow.url)
            .env("FALCONER_OPENWHISK_AUTH", Options::default().auth)
            .env("FALCONER_OPENWHISK_TLS_CA_FILE", &ca_pem)
            .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
            .env_remove("https_proxy")
            .env_remove("no_proxy")
            .env_remove("NO_PROXY");
        if let Some(n) = no_proxy {
            c.env("NO_PROXY", n);
        }
        c.output().expect("runs")
    };
    code(&run(None), 2);
    let through = tunnels.load(Ordering::SeqCst);
    assert!(through >= 1, "the requests went through the proxy");
    code(&run(Some("localhost")), 2);
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        through,
        "NO_PROXY=localhost goes around it"
    );
}
