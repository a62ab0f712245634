//! The Kafka protocol double on its own, for the secure sandbox (`scripts/sandbox start --secure`) and manual
//! tries: a broker with an authorizer that speaks TLS and SASL (noida-db, the suite's broker, speaks neither).
//!
//! ```sh
//! cargo run --example kafka_double -- --port 9093 [--tls-cert server.crt --tls-key server.key] \
//!   [--sasl SCRAM-SHA-512 --user falconer --password PASSWORD]
//! ```
//!
//! It serves 127.0.0.1 only and keeps everything in memory. See `tests/suite/support/kafka_double.rs`.

#[path = "../tests/suite/support/kafka_double.rs"]
mod kafka_double;
#[path = "../tests/suite/support/kafka_sasl.rs"]
mod kafka_sasl;
#[path = "../tests/suite/support/kafka_scram.rs"]
mod kafka_scram;
#[path = "../tests/suite/support/pki.rs"]
mod pki;

use kafka_double::{KafkaDouble, Sasl, Secured};

fn usage() -> ! {
    eprintln!(
        "usage: kafka_double --port PORT [--tls-cert FILE --tls-key FILE] [--sasl MECHANISM --user NAME --password PASSWORD]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let (mut port, mut cert, mut key) = (None::<u16>, None::<String>, None::<String>);
    let (mut mechanism, mut user, mut password) = (None::<String>, None::<String>, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => port = Some(value().parse().unwrap_or_else(|_| usage())),
            "--tls-cert" => cert = Some(value()),
            "--tls-key" => key = Some(value()),
            "--sasl" => mechanism = Some(value()),
            "--user" => user = Some(value()),
            "--password" => password = Some(value()),
            _ => usage(),
        }
    }
    let Some(port) = port else { usage() };
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(pki::from_files(cert.as_ref(), key.as_ref())),
        (None, None) => None,
        _ => usage(),
    };
    let sasl = match (mechanism, user, password) {
        (Some(m), Some(u), Some(p)) => Some(Sasl {
            mechanisms: vec![m],
            users: vec![(u, p)],
            ..Sasl::default()
        }),
        (None, None, None) => None,
        _ => usage(),
    };
    let double = match KafkaDouble::start_on(port, Secured { tls, sasl }).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kafka_double: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    };
    println!("Kafka double on {}; stop it with Ctrl-C", double.bootstrap);
    std::future::pending::<()>().await;
}
