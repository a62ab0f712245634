//! The secure sandbox's throwaway certificates (`scripts/sandbox start --secure`):
//!
//! ```sh
//! cargo run --example sandbox_pki -- DIR
//! ```
//!
//! writes into DIR a certificate authority (`ca.pem`), a server certificate for `localhost` and `127.0.0.1`
//! (`server.crt`, `server.key`), and a client certificate whose common name is `falconer` (`client.crt`,
//! `client.key`); keys are readable by their owner only. They are made afresh for each sandbox and never
//! leave it.

#[path = "../tests/suite/support/pki.rs"]
mod pki;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: sandbox_pki DIR");
        std::process::exit(2)
    };
    let dir = std::path::Path::new(&dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("sandbox_pki: cannot make {}: {e}", dir.display());
        std::process::exit(1)
    }
    let ca = pki::Ca::new("falconer sandbox CA");
    ca.write(&dir.join("ca.pem"));
    ca.server(dir, "server", &["localhost", "127.0.0.1"], false);
    ca.client(dir, "client", "falconer");
    println!("certificates in {}", dir.display());
}
