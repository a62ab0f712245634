//! The Keycloak test double on its own, for the local sandbox and manual tries:
//!
//! ```sh
//! cargo run --example keycloak_double -- --port 8081 [--user admin] [--password admin-password] [--token-life 60]
//! FALCONER_KEYCLOAK_URL=http://127.0.0.1:8081 FALCONER_KEYCLOAK_USER=admin \
//!   FALCONER_KEYCLOAK_PASSWORD=admin-password falconer plan examples/acme
//! ```
//!
//! With `--tls-cert` and `--tls-key` (PEM files) it serves HTTPS, its URL naming `localhost`.
//! It serves 127.0.0.1 only and keeps everything in memory. See `tests/support/keycloak_double.rs`.

#[path = "../tests/suite/support/keycloak_double.rs"]
mod keycloak_double;
#[path = "../tests/suite/support/pki.rs"]
mod pki;

use keycloak_double::{KeycloakDouble, Options};

fn usage() -> ! {
    eprintln!(
        "usage: keycloak_double --port PORT [--tls-cert FILE --tls-key FILE] [--user NAME] [--password PASSWORD] [--token-life SECONDS] [--mask-client-secrets]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut port: Option<u16> = None;
    let mut options = Options::default();
    let (mut cert, mut key) = (None::<String>, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => port = Some(value().parse().unwrap_or_else(|_| usage())),
            "--tls-cert" => cert = Some(value()),
            "--tls-key" => key = Some(value()),
            "--user" => options.username = value(),
            "--password" => options.password = value(),
            "--token-life" => options.token_life = value().parse().unwrap_or_else(|_| usage()),
            "--mask-client-secrets" => options.mask_client_secrets = true,
            _ => usage(),
        }
    }
    let Some(port) = port else { usage() };
    let user = options.username.clone();
    let started = match (cert, key) {
        (None, None) => KeycloakDouble::start(port, options).await,
        (Some(cert), Some(key)) => {
            KeycloakDouble::start_tls(port, options, pki::from_files(cert.as_ref(), key.as_ref()))
                .await
        }
        _ => usage(),
    };
    let double = match started {
        Ok(d) => d,
        Err(e) => {
            eprintln!("keycloak_double: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    };
    println!(
        "Keycloak double on {} (sign in as {user}); stop it with Ctrl-C",
        double.url
    );
    std::future::pending::<()>().await;
}
