//! The OpenWhisk test double on its own, for the local sandbox and manual tries:
//!
//! ```sh
//! cargo run --example openwhisk_double -- --port 3233 [--namespace acme] [--auth uuid:key]
//! FALCONER_OPENWHISK_URL=http://127.0.0.1:3233 FALCONER_OPENWHISK_AUTH=uuid:key falconer plan examples/acme
//! ```
//!
//! With `--tls-cert` and `--tls-key` (PEM files) it serves HTTPS, its URL naming `localhost`.
//! It serves 127.0.0.1 only and keeps everything in memory. See `tests/support/openwhisk_double.rs`.

#[path = "../tests/suite/support/openwhisk_double.rs"]
mod openwhisk_double;
#[path = "../tests/suite/support/pki.rs"]
mod pki;

use openwhisk_double::{OpenWhiskDouble, Options};

fn usage() -> ! {
    eprintln!(
        "usage: openwhisk_double --port PORT [--tls-cert FILE --tls-key FILE] [--namespace NAME] [--auth UUID:KEY]"
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
            "--namespace" => options.namespace = value(),
            "--auth" => options.auth = value(),
            _ => usage(),
        }
    }
    let Some(port) = port else { usage() };
    if !options.auth.contains(':') {
        usage();
    }
    let namespace = options.namespace.clone();
    let uuid = options
        .auth
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let started = match (cert, key) {
        (None, None) => OpenWhiskDouble::start(port, options).await,
        (Some(cert), Some(key)) => {
            OpenWhiskDouble::start_tls(port, options, pki::from_files(cert.as_ref(), key.as_ref()))
                .await
        }
        _ => usage(),
    };
    let double = match started {
        Ok(d) => d,
        Err(e) => {
            eprintln!("openwhisk_double: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    };
    println!(
        "OpenWhisk double on {} (namespace {namespace}, key of {uuid}); stop it with Ctrl-C",
        double.url
    );
    std::future::pending::<()>().await;
}
