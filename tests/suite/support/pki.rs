//! Throwaway certificate authorities and certificates for the TLS tests (rcgen): made by each test in its
//! own directory, never committed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, written as PEM files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a CA certificate"),
        }
    }

    /// The CA's certificate as a PEM file at `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.issuer.pem()).expect("writes the CA");
        path.to_path_buf()
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now, unless `expired`.
    pub fn server(&self, dir: &Path, file: &str, names: &[&str], expired: bool) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        self.leaf(dir, file, params)
    }

    /// A client certificate whose common name is `user` (PostgreSQL's `cert` sign-in maps it to a role).
    pub fn client(&self, dir: &Path, file: &str, user: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        self.leaf(dir, file, params)
    }

    fn leaf(&self, dir: &Path, file: &str, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &*self.issuer).expect("signs");
        let leaf = Leaf {
            cert: dir.join(format!("{file}.crt")),
            key: dir.join(format!("{file}.key")),
        };
        std::fs::write(&leaf.cert, cert.pem()).expect("writes the certificate");
        write_private(&leaf.key, &key.serialize_pem());
        leaf
    }
}

/// A private key's file: readable by its owner only (PostgreSQL refuses a key others can read).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("writes the key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// A TLS server configuration presenting `leaf`; with `client_ca`, a client certificate it signed is
/// required (mTLS).
pub fn server_config(
    leaf: &Leaf,
    client_ca: Option<&Path>,
) -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&leaf.cert)
        .expect("reads the certificate")
        .collect::<Result<_, _>>()
        .expect("a PEM certificate");
    let key = PrivateKeyDer::from_pem_file(&leaf.key).expect("a PEM key");
    let builder = rustls::ServerConfig::builder();
    let config = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).expect("reads the CA") {
                roots
                    .add(c.expect("a CA certificate"))
                    .expect("adds the CA");
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder(std::sync::Arc::new(roots))
                    .build()
                    .expect("a client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    std::sync::Arc::new(
        config
            .with_single_cert(chain, key)
            .expect("a server configuration"),
    )
}

/// A TLS server configuration presenting the certificate and key of two PEM files (the doubles' example
/// binaries, `--tls-cert` and `--tls-key`).
pub fn from_files(cert: &Path, key: &Path) -> std::sync::Arc<rustls::ServerConfig> {
    let leaf = Leaf {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    };
    server_config(&leaf, None)
}
