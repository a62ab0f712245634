//! The `[mongo.tls]` settings on the MongoDB driver's options. The driver (on rustls) cannot skip the host
//! name check alone (verify-ca) nor check another name (server_name): both are refused. It takes the client
//! certificate and its key in one file: given apart, they are combined into a private file that lives only
//! while the client is made and first pinged.

use std::path::PathBuf;

use mongodb::options::{ClientOptions, Tls as DriverTls, TlsOptions};

use crate::setup::SetupError;
use crate::tls::{Mode, Tls};

/// A file removed when dropped: the combined certificate and key.
pub struct Combined(Option<PathBuf>);

impl Drop for Combined {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Sets the driver's TLS options from `tls` (nothing when none is given: the URL's own `tls=` options
/// stay).
pub fn apply(opts: &mut ClientOptions, tls: &Tls) -> Result<Combined, SetupError> {
    if !tls.given() {
        return Ok(Combined(None));
    }
    tls.no_server_name("MongoDB")?;
    if tls.written == Some(Mode::VerifyCa) {
        let why = "its TLS (rustls) checks the host name whenever it checks the certificate: give verify-full";
        return Err(tls.refuse("mode", "MongoDB", why));
    }
    if let Some(w) = tls.warning("MongoDB") {
        tracing::warn!("{w}");
    }
    if let Some(ca) = &tls.ca_file {
        tls.read("ca_file", ca)?;
    }
    let (path, combined) = match (&tls.cert_file, &tls.key_file) {
        (Some(c), Some(k)) if c == k => (Some(c.clone()), Combined(None)),
        (Some(c), Some(k)) => {
            let p = combine(tls, c, k)?;
            (Some(p.clone()), Combined(Some(p)))
        }
        _ => (None, Combined(None)),
    };
    let mut o = TlsOptions::default();
    o.ca_file_path = tls.ca_file.clone();
    o.cert_key_file_path = path;
    o.allow_invalid_certificates = (tls.written == Some(Mode::Insecure)).then_some(true);
    opts.tls = Some(DriverTls::Enabled(o));
    Ok(combined)
}

/// The certificate and the key in one file readable by this user only.
fn combine(tls: &Tls, cert: &std::path::Path, key: &std::path::Path) -> Result<PathBuf, SetupError> {
    use std::io::Write;
    let mut pem = tls.read("cert_file", cert)?;
    pem.push(b'\n');
    pem.extend(tls.read("key_file", key)?);
    let name = format!(
        "falconer-mongo-tls-{}-{}.pem",
        std::process::id(),
        crate::util::hex(&crate::util::random::<8>().unwrap_or_default())
    );
    let path = std::env::temp_dir().join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&path).and_then(|mut f| f.write_all(&pem));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&path);
        SetupError::setting(
            tls.key("cert_file"),
            format!("cannot be combined with its key for the MongoDB driver: {e}"),
        )
    })?;
    Ok(path)
}
