//! The agent's own TLS (`[serve.tls]`): its certificate chain and key, and with `client_ca_file` the
//! authority whose client certificates it requires (mTLS). The files are read again when one of them
//! changes (looked at every [`RELOAD_EVERY`]): each new connection gets the newest configuration, those
//! open keep theirs; files that do not make a configuration leave the last good one in place, with a
//! warning. Handshakes run apart from the accepting loop, each bounded by [`HANDSHAKE`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use crate::ops::Events;

/// How often the files are looked at for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How long a client has for its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

pub use crate::tls::ServerFiles;

impl ServerFiles {
    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.cert, &self.key].into_iter().chain(&self.client_ca)
    }

    /// What the files are now (their times and sizes): a change of any is a reload.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        let of = |p: &PathBuf| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        };
        self.all().map(of).collect()
    }

    /// The server configuration the files make, or what is wrong with them (naming the file).
    pub fn config(&self) -> Result<Arc<ServerConfig>, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| unusable(&self.cert, "a PEM certificate chain", &e))?;
        if chain.is_empty() {
            return Err(format!("{} holds no certificate", self.cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| unusable(&self.key, "a PEM private key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(ca)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| unusable(ca, "PEM certificates", &e))?;
                for c in certs {
                    roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| format!("{}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            format!(
                "{} and {} do not make a server certificate: {e}",
                self.cert.display(),
                self.key.display()
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn unusable(path: &Path, what: &str, e: &dyn std::fmt::Display) -> String {
    format!("{} is not {what}: {e}", path.display())
}

/// A listener whose connections are TLS: what `axum::serve` takes.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

/// Serves TLS on `tcp` with the files' configuration (the first must be good), reloaded as they change.
pub fn listen(
    tcp: TcpListener,
    files: ServerFiles,
    events: Arc<dyn Events>,
) -> Result<TlsListener, String> {
    let current = Arc::new(RwLock::new(files.config()?));
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(reload(files, current.clone(), events));
    let (tx, ready) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let Ok((stream, addr)) = tcp.accept().await else {
                continue;
            };
            let config = current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await
                {
                    let _ = tx.send((tls, addr)).await;
                }
            });
        }
    });
    Ok(TlsListener { ready, local })
}

/// Reads the files again whenever they change; a configuration they do not make is warned of once.
async fn reload(
    files: ServerFiles,
    current: Arc<RwLock<Arc<ServerConfig>>>,
    events: Arc<dyn Events>,
) {
    let mut seen = files.stamp();
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        let now = files.stamp();
        if now == seen {
            continue;
        }
        seen = now;
        match files.config() {
            Ok(config) => {
                *current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
                events.note(&format!(
                    "the TLS certificate was read again from {}",
                    files.cert.display()
                ));
            }
            Err(e) => events.warning(&format!(
                "the TLS files changed but cannot be used (the last good ones still serve): {e}"
            )),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
