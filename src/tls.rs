//! The TLS settings of a connection, one shape for every client: a profile's `[<table>.tls]` table, or without
//! a table the environment's `FALCONER_<SYSTEM>_TLS_<KEY>` (`MODE`, `CA_FILE`, `CERT_FILE`, `KEY_FILE`,
//! `SERVER_NAME`). Each client takes what it can honour and refuses the rest by name ([`Tls::refuse`]):
//! nothing is ignored.
//!
//! ```toml
//! [postgres.tls]
//! mode = "verify-full"        # verify-full (the default) | verify-ca | insecure
//! ca_file = "company-ca.pem"  # relative to the profile; trusted beside the system's store and bundled roots
//! cert_file = "falconer.crt"  # a client certificate (mTLS), with key_file
//! key_file = "falconer.key"
//! server_name = "db.internal" # the name the server's certificate must carry, where the client can check it
//! ```

use std::path::{Path, PathBuf};

use crate::setup::{Env, SetupError};

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Signed by a trusted authority, and issued to the host connected to (or `server_name`).
    VerifyFull,
    /// Signed by a trusted authority, for whatever host.
    VerifyCa,
    /// Not checked at all: encrypted, but anyone in the middle can read it. Warned about on every run.
    Insecure,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::VerifyFull => "verify-full",
            Mode::VerifyCa => "verify-ca",
            Mode::Insecure => "insecure",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        [Mode::VerifyFull, Mode::VerifyCa, Mode::Insecure]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A server's TLS files (the agent's `[serve.tls]`), absolute: its certificate chain and key, and the
/// authority of the client certificates it requires (mTLS). Read by `agent::tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// A profile's `[<table>.tls]` table, as written.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsTable {
    pub mode: Option<Mode>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
}

/// A connection's TLS settings, files made absolute. Empty (the default) when nothing was given: each
/// client then behaves as it does without settings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The mode written, if any (a table's default is verify-full: [`Tls::mode`]).
    pub written: Option<Mode>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    /// Where the settings came from, to name a key in errors: `[postgres.tls]`, or `FALCONER_POSTGRES_TLS_`.
    pub origin: String,
}

/// The keys of a `tls` table, in the order errors name them.
pub const KEYS: [&str; 5] = ["mode", "ca_file", "cert_file", "key_file", "server_name"];

impl Tls {
    /// The settings of a system: its profile table's `tls` (files relative to `dir`), else, without a
    /// profile table, the environment's `<prefix>_TLS_<KEY>` (`prefix` like `FALCONER_POSTGRES`).
    pub fn of(
        table: Option<&TlsTable>,
        has_table: bool,
        dir: &Path,
        env: &Env,
        (name, prefix): (&str, &str),
    ) -> Result<Tls, SetupError> {
        let tls = match table {
            Some(t) => Tls::from_table(t, dir, &format!("[{name}.tls]")),
            None if has_table => Tls {
                origin: format!("[{name}.tls]"),
                ..Tls::default()
            },
            None => Tls::from_env(env, &format!("{prefix}_TLS_"))?,
        };
        tls.check()?;
        Ok(tls)
    }

    fn from_table(t: &TlsTable, dir: &Path, origin: &str) -> Tls {
        let file = |f: &Option<PathBuf>| f.as_ref().map(|p| dir.join(p));
        Tls {
            written: t.mode,
            ca_file: file(&t.ca_file),
            cert_file: file(&t.cert_file),
            key_file: file(&t.key_file),
            server_name: t.server_name.clone(),
            origin: origin.to_string(),
        }
    }

    fn from_env(env: &Env, prefix: &str) -> Result<Tls, SetupError> {
        let var = |key: &str| env.get(&format!("{prefix}{}", key.to_ascii_uppercase()));
        let written = match var("mode") {
            None => None,
            Some(m) => Some(Mode::parse(&m).ok_or_else(|| {
                SetupError::setting(
                    format!("{prefix}MODE"),
                    format!("is `{m}`: give verify-full, verify-ca or insecure"),
                )
            })?),
        };
        Ok(Tls {
            written,
            ca_file: var("ca_file").map(PathBuf::from),
            cert_file: var("cert_file").map(PathBuf::from),
            key_file: var("key_file").map(PathBuf::from),
            server_name: var("server_name"),
            origin: prefix.to_string(),
        })
    }

    /// Whether any setting was given.
    pub fn given(&self) -> bool {
        self.written.is_some()
            || self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.server_name.is_some()
    }

    /// The mode: as written, else verify-full.
    pub fn mode(&self) -> Mode {
        self.written.unwrap_or(Mode::VerifyFull)
    }

    /// How a key is named in errors: `[postgres.tls] ca_file`, or `FALCONER_POSTGRES_TLS_CA_FILE`.
    pub fn key(&self, key: &str) -> String {
        if self.origin.ends_with('_') {
            format!("{}{}", self.origin, key.to_ascii_uppercase())
        } else {
            format!("{} {key}", self.origin)
        }
    }

    fn check(&self) -> Result<(), SetupError> {
        let both = "needs both cert_file and key_file (the client certificate and its private key)";
        if self.cert_file.is_some() != self.key_file.is_some() {
            let given = if self.cert_file.is_some() {
                "cert_file"
            } else {
                "key_file"
            };
            return Err(SetupError::setting(self.key(given), both));
        }
        if self.written == Some(Mode::Insecure) && self.ca_file.is_some() {
            let why =
                "is given with mode insecure, which checks no certificate: remove one of them";
            return Err(SetupError::setting(self.key("ca_file"), why));
        }
        Ok(())
    }

    /// A setting `system`'s client cannot honour, refused: naming the key, the client and what to do.
    pub fn refuse(&self, key: &str, system: &str, why: &str) -> SetupError {
        SetupError::setting(
            self.key(key),
            format!("cannot be honoured by the {system} client: {why}"),
        )
    }

    /// Refuses `server_name` for a client that cannot check a name other than the host it connects to.
    pub fn no_server_name(&self, system: &str) -> Result<(), SetupError> {
        match &self.server_name {
            None => Ok(()),
            Some(_) => Err(self.refuse(
                "server_name",
                system,
                "it checks the certificate against the host it connects to; connect to a name the certificate carries (an entry in /etc/hosts, or the URL's host)",
            )),
        }
    }

    /// The warning an insecure connection gives on every run, if it is one.
    pub fn warning(&self, system: &str) -> Option<String> {
        (self.written == Some(Mode::Insecure)).then(|| {
            format!(
                "{system}: TLS certificates are not checked ({} = \"insecure\"): anyone between falconer and {system} can read and change what is sent, credentials included",
                self.key("mode")
            )
        })
    }

    /// A file of the settings, read; an error names the key and the file.
    pub fn read(&self, key: &str, path: &Path) -> Result<Vec<u8>, SetupError> {
        std::fs::read(path).map_err(|e| {
            SetupError::setting(
                self.key(key),
                format!("{} cannot be read: {e}", path.display()),
            )
        })
    }

    /// An HTTP client with these settings: the CA file's certificates trusted beside the system's store and
    /// the bundled roots, the client certificate presented, the mode's checks; with `server_name`, the
    /// server's certificate checked against that name (a rustls configuration of falconer's own).
    /// `insecure` is warned about here, once for each HTTP client of `system`.
    pub fn http(
        &self,
        mut builder: reqwest::ClientBuilder,
        system: &str,
    ) -> Result<reqwest::ClientBuilder, SetupError> {
        if let Some(w) = self.warning(system) {
            tracing::warn!("{w}");
        }
        if self.server_name.is_some() {
            if self.written.is_some_and(|m| m != Mode::VerifyFull) {
                let why =
                    "is given with a mode that checks no name: give mode verify-full, or remove it";
                return Err(SetupError::setting(self.key("server_name"), why));
            }
            return Ok(builder.use_preconfigured_tls(self.client_config()?));
        }
        let bad = |key: &str, e: reqwest::Error| {
            SetupError::setting(self.key(key), format!("holds no usable PEM: {e}"))
        };
        if let Some(ca) = &self.ca_file {
            let pem = self.read("ca_file", ca)?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad("ca_file", e))?;
            if certs.is_empty() {
                let why = format!("{} holds no PEM certificate", ca.display());
                return Err(SetupError::setting(self.key("ca_file"), why));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            let mut pem = self.read("cert_file", cert)?;
            pem.push(b'\n');
            pem.extend(self.read("key_file", key)?);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| bad("cert_file", e))?;
            builder = builder.identity(id);
        }
        Ok(match self.written {
            Some(Mode::Insecure) => builder.danger_accept_invalid_certs(true),
            Some(Mode::VerifyCa) => builder.danger_accept_invalid_hostnames(true),
            _ => builder,
        })
    }
}

impl Tls {
    /// A rustls client configuration with these settings: the bundled web roots, the system's store and
    /// the CA file trusted; the client certificate presented. Not for `insecure` (nothing to check).
    pub fn client_config(&self) -> Result<rustls::ClientConfig, SetupError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        let bad = |key: &str, e: &dyn std::fmt::Display| {
            SetupError::setting(self.key(key), format!("holds no usable PEM: {e}"))
        };
        if let Some(ca) = &self.ca_file {
            let pem = self.read("ca_file", ca)?;
            for c in CertificateDer::pem_slice_iter(&pem) {
                roots
                    .add(c.map_err(|e| bad("ca_file", &e))?)
                    .map_err(|e| bad("ca_file", &e))?;
            }
        }
        let roots = std::sync::Arc::new(roots);
        let builder = match &self.server_name {
            // The certificate is checked against `server_name`, not the host connected to.
            Some(name) => {
                let named = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                    SetupError::setting(self.key("server_name"), format!("is not a host name: {e}"))
                })?;
                let inner = rustls::client::WebPkiServerVerifier::builder(roots)
                    .build()
                    .map_err(|e| bad("ca_file", &e))?;
                rustls::ClientConfig::builder()
                    .dangerous()
                    .with_custom_certificate_verifier(std::sync::Arc::new(Named { inner, named }))
            }
            None => rustls::ClientConfig::builder().with_root_certificates(roots),
        };
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let pem = self.read("cert_file", cert)?;
                let chain = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("cert_file", &e))?;
                let key = PrivateKeyDer::from_pem_slice(&self.read("key_file", key)?)
                    .map_err(|e| bad("key_file", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad("cert_file", &e))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }

    /// Why a TLS connection to `host:port` fails, found by a handshake of falconer's own (bounded by
    /// `limit`): for a driver that says only that no server answered. `None` when the handshake (and a
    /// first read, where a server refuses a client certificate under TLS 1.3) passes, or cannot be tried.
    pub fn probe(
        &self,
        host: &str,
        port: u16,
        limit: std::time::Duration,
    ) -> Option<rustls::Error> {
        use std::io::Read;
        if self.written == Some(Mode::Insecure) {
            return None;
        }
        let config = std::sync::Arc::new(self.client_config().ok()?);
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).ok()?;
        let mut conn = rustls::ClientConnection::new(config, name).ok()?;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).ok()?;
        let mut sock = addr
            .into_iter()
            .find_map(|a| std::net::TcpStream::connect_timeout(&a, limit).ok())?;
        sock.set_read_timeout(Some(limit)).ok()?;
        sock.set_write_timeout(Some(limit)).ok()?;
        let found = |e: std::io::Error| failure(&e);
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut sock) {
                return found(e);
            }
        }
        // A refusal of the client certificate comes as an alert right after the handshake (TLS 1.3); a
        // server that waits for the client's first message says nothing within the second.
        let _ = conn.complete_io(&mut sock);
        sock.set_read_timeout(Some(limit.min(std::time::Duration::from_secs(1))))
            .ok()?;
        let mut byte = [0u8; 1];
        rustls::Stream::new(&mut conn, &mut sock)
            .read_exact(&mut byte)
            .err()
            .and_then(found)
    }
}

/// A server certificate verifier that checks the name the settings give (`server_name`) instead of the
/// host connected to; everything else is webpki's.
#[derive(Debug)]
struct Named {
    inner: std::sync::Arc<rustls::client::WebPkiServerVerifier>,
    named: rustls::pki_types::ServerName<'static>,
}

impl rustls::client::danger::ServerCertVerifier for Named {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _connected: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.named, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The failed TLS handshake behind an error (it or one of its causes), if it is one: an untrusted, expired
/// or misnamed certificate, or a client certificate the server refused.
pub fn failure(e: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.clone());
        }
        // An I/O error's `source` skips the error it wraps (a TLS error, or another I/O error): go in.
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// A failed handshake in words, with what to set: the trust (`ca_file`), the host name, the server's
/// certificate, or the client certificate. `key` names a setting as the connection's origin does.
pub fn advice(e: &rustls::Error, key: &dyn Fn(&str) -> String) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let what = match e {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "the server's certificate is not signed by an authority falconer trusts: give that authority in {}",
            key("ca_file")
        ),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the server's certificate is issued to another name: connect to a name it carries"
                .into()
        }
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => "the server's certificate has expired or is not valid yet: renew it on the server"
            .into(),
        E::AlertReceived(
            A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::CertificateUnknown,
        ) => format!(
            "the server refused falconer's client certificate: give one it trusts in {} and {}",
            key("cert_file"),
            key("key_file")
        ),
        _ => format!("check {} and the server's TLS settings", key("ca_file")),
    };
    format!("TLS failed ({e}): {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_failure_is_found_however_deep_it_is_wrapped() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls.clone());
        let twice = std::io::Error::other(io);
        assert_eq!(failure(&twice), Some(tls.clone()));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(failure(&plain), None);
        let words = advice(&tls, &|k| format!("[postgres.tls] {k}"));
        assert!(words.contains("[postgres.tls] ca_file"), "{words}");
    }

    #[test]
    fn settings_a_client_cannot_use_are_refused_by_name() {
        let env = Env::from_pairs([("FALCONER_KAFKA_TLS_MODE", "sometimes")]);
        let e = Tls::of(
            None,
            false,
            Path::new(""),
            &env,
            ("kafka", "FALCONER_KAFKA"),
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("FALCONER_KAFKA_TLS_MODE")
        );
        let half = TlsTable {
            key_file: Some("k.pem".into()),
            ..TlsTable::default()
        };
        let e = Tls::of(
            Some(&half),
            true,
            Path::new("/p"),
            &Env::default(),
            ("iam", "X"),
        );
        assert!(e.unwrap_err().to_string().contains("[iam.tls] key_file"));
        let named = TlsTable {
            server_name: Some("db.internal".into()),
            ..TlsTable::default()
        };
        let t = Tls::of(
            Some(&named),
            true,
            Path::new("/p"),
            &Env::default(),
            ("mongo", "X"),
        )
        .unwrap();
        let e = t.no_server_name("MongoDB").unwrap_err().to_string();
        assert!(
            e.contains("[mongo.tls] server_name") && e.contains("MongoDB"),
            "{e}"
        );
    }
}
