//! The agent's own TLS (`[serve.tls]`, docs/agent.md): it answers HTTPS with its certificate (plain HTTP
//! gets nothing), takes a new certificate swapped into its files without a restart (the test waits, bounded,
//! until a new connection is shown the new one), and with `client_ca_file` answers only clients with a
//! certificate that authority signed (mTLS). Certificates are throwaway ones the test makes.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::agent::Agent;
use crate::pki::{Ca, Leaf};
use crate::support::Workdir;

/// The DER of a PEM certificate file's first certificate.
fn der(path: &Path) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::pem_file_iter(path)
        .expect("reads")
        .next()
        .expect("a certificate")
        .expect("PEM");
    cert.as_ref().to_vec()
}

/// A client that trusts `ca`, opens a new connection for each request, and keeps the server's certificate.
fn client(ca: &Path, identity: Option<&Leaf>) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("the CA");
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a CA"))
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10));
    if let Some(leaf) = identity {
        let mut pem = std::fs::read(&leaf.cert).expect("the certificate");
        pem.extend(std::fs::read(&leaf.key).expect("the key"));
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("an identity"));
    }
    b.build().expect("a client")
}

/// GET `url`: the status and the server's certificate, or the error.
async fn get(c: &reqwest::Client, url: &str) -> Result<(u16, Vec<u8>), String> {
    let r = c.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    let peer = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Ok((r.status().as_u16(), peer))
}

fn serve(w: &Workdir, profile: &Path) -> Agent {
    let fleet = w.manifest();
    let profile = profile.display().to_string();
    let args = ["serve", &fleet, "--no-schedules", "--profile", &profile];
    let mut c = w.command(&args);
    c.env_remove("FALCONER_PROFILE");
    Agent::spawn(c)
}

#[tokio::test]
async fn an_agent_serves_tls_takes_a_new_certificate_and_asks_for_client_certificates() {
    let w = Workdir::new("agent", "tls", vec![]);
    let dir = &w.dir;
    let ca = Ca::new("falconer agent test CA");
    let ca_file = ca.write(&dir.join("ca.pem"));
    let first = ca.server(dir, "first", &["127.0.0.1", "localhost"], false);
    std::fs::copy(&first.cert, dir.join("agent.crt")).expect("copies");
    std::fs::copy(&first.key, dir.join("agent.key")).expect("copies");
    let profile = dir.join("profile.toml");
    let tls = "[serve.tls]\ncert_file = \"agent.crt\"\nkey_file = \"agent.key\"\n";
    std::fs::write(&profile, tls).expect("the profile");
    let agent = serve(&w, &profile);
    assert!(agent.base.starts_with("https://"), "{}", agent.base);
    let healthz = format!("{}/healthz", agent.base);
    let c = client(&ca_file, None);
    let (status, peer) = get(&c, &healthz).await.expect("HTTPS answers");
    assert_eq!((status, peer == der(&first.cert)), (200, true));
    let plain = healthz.replacen("https://", "http://", 1);
    let refused = reqwest::Client::new().get(&plain).send().await;
    assert!(
        refused.is_err() || refused.is_ok_and(|r| !r.status().is_success()),
        "plain HTTP is not answered"
    );

    // A new certificate swapped in: new connections get it, without a restart.
    let second = ca.server(dir, "second", &["127.0.0.1", "localhost"], false);
    std::fs::copy(&second.key, dir.join("agent.key")).expect("copies");
    std::fs::copy(&second.cert, dir.join("agent.crt")).expect("copies");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, peer) = get(&c, &healthz).await.expect("HTTPS answers");
        if peer == der(&second.cert) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(agent.terminate().await.code(), Some(0));

    // mTLS: a client certificate of the authority, or nothing.
    let mtls = format!("{tls}client_ca_file = \"ca.pem\"\n");
    std::fs::write(&profile, mtls).expect("the profile");
    let agent = serve(&w, &profile);
    let healthz = format!("{}/healthz", agent.base);
    let anonymous = get(&client(&ca_file, None), &healthz).await;
    assert!(
        anonymous.is_err(),
        "without a client certificate: {anonymous:?}"
    );
    let other = Ca::new("another CA");
    let stranger = other.client(dir, "stranger", "stranger");
    let foreign = get(&client(&ca_file, Some(&stranger)), &healthz).await;
    assert!(
        foreign.is_err(),
        "a certificate of another authority: {foreign:?}"
    );
    let ops = ca.client(dir, "ops", "ops");
    let known = get(&client(&ca_file, Some(&ops)), &healthz).await;
    assert_eq!(known.map(|(s, _)| s), Ok(200));
    assert_eq!(agent.terminate().await.code(), Some(0));

    // Files that do not make a certificate stop the agent before it listens, naming the file.
    std::fs::write(dir.join("agent.crt"), "not a certificate\n").expect("writes");
    let o = w.run(&[
        "serve",
        &w.manifest(),
        "--no-schedules",
        "--profile",
        &profile.display().to_string(),
    ]);
    crate::support::code(&o, 1);
    let err = crate::support::text(&o.stderr);
    assert!(
        err.contains("[serve.tls]") && err.contains("agent.crt"),
        "{err}"
    );
}
