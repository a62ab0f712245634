//! Small helpers the whole crate shares: times, hex, randomness, atomic file writes, a PostgreSQL pool (the
//! state store's and the postgres domain's). No falconer types.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Escapes a key for a JSON pointer (RFC 6901).
pub fn escape_pointer(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Random bytes from the operating system's generator (`getrandom`); an error when it has none, never a
/// weaker stand-in (the bytes key fingerprints and salt password verifiers).
pub fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// Connects to PostgreSQL. One direct connection first, so that a refused connection or a wrong password
/// is reported as such; the error names host, port and database, never the URL (it may hold a password).
/// TLS as the URL's `sslmode` (libpq's meaning) and `tls` say ([`pg_tls`]).
pub async fn pg_pool(
    url: &str,
    password: Option<&str>,
    tls: &crate::tls::Tls,
    max: u32,
) -> Result<sqlx::PgPool, crate::setup::SetupError> {
    use crate::setup::SetupError;
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let mut opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|_| {
        SetupError::setting(
            "the PostgreSQL connection URL",
            "is not valid (postgres://user@host:port/database)",
        )
    })?;
    if let Some(p) = password {
        opts = opts.password(p);
    }
    let opts = pg_tls(opts, url, tls)?;
    let target = format!(
        "{}:{} (database {})",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or("default")
    );
    let limit = timeouts().connect;
    let silent = |_| SetupError::TimedOut {
        system: "PostgreSQL",
        target: Some(target.clone()),
        secs: limit.as_secs(),
    };
    let refused = |e: sqlx::Error| {
        let words = format!("cannot connect to PostgreSQL at {target}: {}", pg_error(&e));
        match &e {
            // invalid_authorization_specification, invalid_password
            sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("28")) => {
                SetupError::SignIn(words)
            }
            e => match crate::tls::failure(e) {
                Some(f) => SetupError::Tls(format!(
                    "cannot connect to PostgreSQL at {target}: {}",
                    crate::tls::advice(&f, &|k| pg_key(tls, k))
                )),
                None if matches!(e, sqlx::Error::Tls(_)) => SetupError::Tls(words),
                None => SetupError::Unreachable(words),
            },
        }
    };
    let first = tokio::time::timeout(limit, opts.connect())
        .await
        .map_err(silent)?
        .map_err(refused)?;
    drop(first);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(limit)
        .connect_with(opts);
    tokio::time::timeout(limit, pool)
        .await
        .map_err(silent)?
        .map_err(refused)
}

/// How a PostgreSQL TLS setting is named in advice: the `tls` table's key, else the URL's parameter.
fn pg_key(tls: &crate::tls::Tls, key: &str) -> String {
    if tls.given() {
        return tls.key(key);
    }
    let param = match key {
        "ca_file" => "sslrootcert",
        "cert_file" => "sslcert",
        _ => "sslkey",
    };
    format!("the URL's {param} (or a [postgres.tls] table)")
}

/// The TLS of a PostgreSQL connection: the URL's `sslmode`, `sslrootcert`, `sslcert` and `sslkey` (libpq's
/// meaning; libpq's `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY` when the URL has none), and
/// `tls` over them. A `tls` mode that contradicts the URL's `sslmode` is an error naming both; `tls` with no
/// mode, and no `sslmode`, means verify-full. An unverified connection is said at `-v`; `insecure` is
/// warned about.
pub fn pg_tls(
    mut opts: sqlx::postgres::PgConnectOptions,
    url: &str,
    tls: &crate::tls::Tls,
) -> Result<sqlx::postgres::PgConnectOptions, crate::setup::SetupError> {
    use crate::tls::Mode;
    use sqlx::postgres::PgSslMode;
    tls.no_server_name("PostgreSQL")?;
    let in_url = reqwest::Url::parse(url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "sslmode" || k == "ssl-mode")
            .map(|(_, v)| v.into_owned())
    });
    let wanted = tls.written.map(|m| match m {
        Mode::VerifyFull => PgSslMode::VerifyFull,
        Mode::VerifyCa => PgSslMode::VerifyCa,
        Mode::Insecure => PgSslMode::Require,
    });
    match (wanted, &in_url) {
        (Some(w), Some(u))
            if std::mem::discriminant(&opts.get_ssl_mode()) != std::mem::discriminant(&w) =>
        {
            let why = format!(
                "is `{}`, and the PostgreSQL URL says sslmode={u}: give one of them",
                tls.mode().as_str()
            );
            return Err(crate::setup::SetupError::setting(tls.key("mode"), why));
        }
        (Some(w), _) => opts = opts.ssl_mode(w),
        (None, None) if tls.given() => opts = opts.ssl_mode(PgSslMode::VerifyFull),
        _ => {}
    }
    if let Some(ca) = &tls.ca_file {
        tls.read("ca_file", ca)?;
        opts = opts.ssl_root_cert(ca);
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        tls.read("cert_file", cert)?;
        tls.read("key_file", key)?;
        opts = opts.ssl_client_cert(cert).ssl_client_key(key);
    }
    if let Some(w) = tls.warning("PostgreSQL") {
        tracing::warn!("{w}");
    } else if !matches!(
        opts.get_ssl_mode(),
        PgSslMode::VerifyFull | PgSslMode::VerifyCa
    ) {
        tracing::info!(
            "PostgreSQL at {}: the server's certificate is not verified (sslmode {:?}): give sslmode=verify-full, or a [postgres.tls] table",
            opts.get_host(),
            opts.get_ssl_mode()
        );
    }
    Ok(opts)
}

/// A connection error for people: the server's message, never the connection string (it may hold a
/// password).
pub fn pg_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::Io(io) => format!("the connection to PostgreSQL failed: {io}"),
        sqlx::Error::Tls(t) => format!("TLS: {t}"),
        sqlx::Error::Configuration(_) => "the connection URL is not valid".into(),
        sqlx::Error::PoolTimedOut => format!(
            "cannot reach PostgreSQL: no connection could be opened or checked within {} s (the connect timeout: is the server running, and answering?)",
            timeouts().connect.as_secs()
        ),
        other => other.to_string(),
    }
}

/// Whether a failed PostgreSQL read may pass if read again: the connection was lost (not a timeout: a hung
/// server would only multiply the wait), or the server said "not now" (shutting down, starting up, a
/// connection exception, a serialization failure or deadlock).
pub fn pg_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(io) => io.kind() != std::io::ErrorKind::TimedOut,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || ["57P01", "57P02", "57P03", "40001", "40P01"].contains(&&*c)
        }),
        _ => false,
    }
}

/// Writes a file whole: a temporary file beside it, written and synced, then renamed over it. Nothing is
/// half-written.
///
/// What is not a regular file (`/dev/null`, `/dev/stdout`, a pipe) is written to directly, never replaced;
/// through a symbolic link, the file it points to is replaced and the link stays.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
    {
        return std::fs::write(path, bytes);
    }
    let resolved = std::fs::canonicalize(path).ok();
    let path = resolved.as_deref().unwrap_or(path);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The JSON Schema (draft 2020-12) of a type, with its `$id` (`https://falconer.dev/schemas/<file>`) and title.
pub fn json_schema<T: schemars::JsonSchema>(file: &str, title: &str) -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(o) = schema.as_object_mut() {
        o.insert(
            "$id".into(),
            format!("https://falconer.dev/schemas/{file}").into(),
        );
        o.insert("title".into(), title.into());
    }
    schema
}

/// Whether a process of this host runs (on systems without `/proc`, it is assumed to).
pub fn process_runs(pid: i64) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// How long falconer waits for a live system: to reach it and sign in (`connect`), and for one request's
/// answer (`request`, where the system's client can bound a request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: std::time::Duration,
    pub request: std::time::Duration,
}

/// The defaults: 10 s to connect, 30 s a request.
pub const DEFAULT_TIMEOUTS: (u64, u64) = (10, 30);

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: std::time::Duration::from_secs(DEFAULT_TIMEOUTS.0),
            request: std::time::Duration::from_secs(DEFAULT_TIMEOUTS.1),
        }
    }
}

tokio::task_local! {
    /// The timeouts of the system whose work is running: each connected system holds its own (from its
    /// profile) and sets them around each of its calls, so two operations with different profiles never
    /// share them.
    static TIMEOUTS: Timeouts;
}

/// Runs `work` bounded by a system's timeouts (what [`timeouts`] gives inside it).
pub async fn with_timeouts<F: std::future::Future>(t: Timeouts, work: F) -> F::Output {
    TIMEOUTS.scope(t, work).await
}

/// Runs `work` (not async: opening a client) bounded by these timeouts.
pub fn with_timeouts_now<T>(t: Timeouts, work: impl FnOnce() -> T) -> T {
    TIMEOUTS.sync_scope(t, work)
}

/// Runs blocking work on tokio's blocking threads, within the timeouts of the system whose work is
/// running (a blocking thread is outside the caller's scope: they are carried over).
pub fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let t = timeouts();
    tokio::task::spawn_blocking(move || with_timeouts_now(t, work))
}

/// The timeouts of the system whose work is running ([`with_timeouts`]); the defaults outside any.
pub fn timeouts() -> Timeouts {
    TIMEOUTS.try_with(|t| *t).unwrap_or_default()
}

/// A request to a system, waited for at most the system's request timeout: past it, the request fails
/// with an I/O error of kind `TimedOut` that names the system and the timeout (a server that stopped
/// answering in the middle of a run, whose driver would wait for ever).
pub trait Within<T, E: From<std::io::Error>>:
    std::future::Future<Output = Result<T, E>> + Sized
{
    fn within(self, system: &'static str) -> impl std::future::Future<Output = Result<T, E>> {
        let limit = timeouts().request;
        async move {
            match tokio::time::timeout(limit, self).await {
                Ok(answer) => answer,
                Err(_) => Err(E::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{system} did not answer within {} s (request timeout: the profile's [timeouts], or FALCONER_REQUEST_TIMEOUT)",
                        limit.as_secs()
                    ),
                ))),
            }
        }
    }
}

impl<F, T, E> Within<T, E> for F
where
    F: std::future::Future<Output = Result<T, E>>,
    E: From<std::io::Error>,
{
}

/// How requests that are safe to repeat (reads) are retried: three more tries, from 0.2 s doubling to at
/// most 5 s, with jitter; an answer's `Retry-After` replaces the wait (at most 30 s).
pub fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(200))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_max_times(3)
        .with_jitter()
}

/// Whether an HTTP status says "try again later": 429 (too many requests), 502, 503, 504.
pub fn try_again_later(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The wait an answer asks for (`Retry-After` in seconds; an HTTP date is not honoured), at most 30 s.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs(secs.min(30)))
}

/// The wait the last answer of a system asked for (`Retry-After`), kept for the next try of a read.
#[derive(Debug, Default)]
pub struct AskedWait(std::sync::Mutex<Option<std::time::Duration>>);

impl AskedWait {
    /// Remembers what an answer asks (nothing when it asks nothing).
    pub fn note(&self, headers: &reqwest::header::HeaderMap) {
        if let Ok(mut w) = self.0.lock() {
            *w = retry_after(headers);
        }
    }

    /// The wait asked, once.
    pub fn take(&self) -> Option<std::time::Duration> {
        self.0.lock().ok().and_then(|mut w| w.take())
    }
}

/// Runs a read that is safe to repeat, trying it again with [`backoff`] while `again` says its error may
/// pass; `asked` gives the wait the last answer asked for (`Retry-After`), which replaces the backoff's wait,
/// never its count of tries. Each retry is logged, naming `system`.
pub async fn retry_read<T, E, Fut>(
    system: &str,
    op: impl FnMut() -> Fut,
    again: impl FnMut(&E) -> bool,
    asked: impl Fn() -> Option<std::time::Duration>,
) -> Result<T, E>
where
    E: std::fmt::Display,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    use backon::Retryable;
    op.retry(backoff())
        .when(again)
        .adjust(|_, wait| {
            let a = asked();
            wait.map(|w| a.unwrap_or(w))
        })
        .notify(|e, _| tracing::info!("{system}: {e}; trying again"))
        .await
}

/// The futures of `work` on each item, as a stream to buffer (`.buffered(n)`, `.buffer_unordered(n)`).
/// The stream goes over the items' indices, never over references: a stream mapped by a closure over a
/// reference keeps the caller's future from being `Send` (the compiler asks that the closure work for
/// every lifetime), and the operations run on a multi-threaded runtime.
pub fn each_of<'a, T, F, Fut>(items: &'a [T], work: F) -> impl futures_util::Stream<Item = Fut> + 'a
where
    F: Fn(&'a T) -> Fut + 'a,
    Fut: 'a,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(0..items.len()).map(move |i| work(&items[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_holds_no_password() {
        let shown = shown_url(
            "postgres://falconer:s3cret-pw@db.internal:5432/platform?sslmode=verify-full",
        );
        assert_eq!(
            shown,
            "postgres://falconer:***@db.internal:5432/platform?sslmode=verify-full"
        );
        let shown = shown_url("postgresql://db/platform?user=falconer&password=s3cret-pw");
        assert!(
            !shown.contains("s3cret-pw") && shown.contains("password=***"),
            "{shown}"
        );
        assert_eq!(
            shown_url("sqlite:.falconer/state.db"),
            "sqlite:.falconer/state.db"
        );
        assert_eq!(shown_url("file:backups"), "file:backups");
        assert_eq!(
            shown_url("mysql:s3cret-pw@@:"),
            "mysql:(a URL falconer cannot read)"
        );
    }

    /// A system's timeouts reach its requests, on its task and on the blocking threads it uses, and stay
    /// its own: outside its scope (another operation's work) they are the defaults.
    #[tokio::test]
    async fn timeouts_are_scoped_to_the_systems_work() {
        let mine = Timeouts {
            connect: std::time::Duration::from_secs(2),
            request: std::time::Duration::from_secs(7),
        };
        let (inside, blocked) = with_timeouts(mine, async {
            let blocked = blocking(timeouts).await.expect("runs");
            (timeouts(), blocked)
        })
        .await;
        assert_eq!((inside, blocked), (mine, mine));
        assert_eq!(timeouts(), Timeouts::default());
        assert_eq!(blocking(timeouts).await.expect("runs"), Timeouts::default());
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn hex_and_random() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        let (a, b) = (
            random::<16>().expect("random"),
            random::<16>().expect("random"),
        );
        assert_ne!(a, b, "two draws of 128 bits differ");
    }
}

/// A file that could not be read, written or made: what was done, where, and the system's reason.
#[derive(Debug, thiserror::Error)]
#[error("cannot {doing} {}: {source}", path.display())]
pub struct FileError {
    /// `read`, `write`, `create`.
    pub doing: &'static str,
    pub path: std::path::PathBuf,
    pub source: std::io::Error,
}

/// The error of `doing` a file at `path`, for `map_err`.
pub fn file_error(
    doing: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_path_buf();
    move |source| FileError {
        doing,
        path,
        source,
    }
}

/// A URL as it may be shown: a password in it (`user:password@`, `?password=`) replaced by `***`; a
/// URL that cannot be read is shown as its scheme only.
pub fn shown_url(url: &str) -> String {
    let unread = || {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        format!("{scheme}:(a URL falconer cannot read)")
    };
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return unread();
    };
    // `scheme:user:password@host` without `//` is no URL with credentials, but may hold them.
    if u.cannot_be_a_base() && url.contains('@') {
        return unread();
    }
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    let in_query = pairs
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"));
    if u.password().is_none() && !in_query {
        return url.to_string();
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if in_query {
        let shown = pairs
            .iter()
            .map(|(k, v)| match k.eq_ignore_ascii_case("password") {
                true => (k.clone(), "***".to_string()),
                false => (k.clone(), v.clone()),
            });
        u.query_pairs_mut().clear().extend_pairs(shown);
    }
    u.to_string()
}

/// A positive amount written as numbers with units (`1h30m`, `2w`): each unit's factor from `units`;
/// `like` shows the reader what is meant when the text is none.
pub fn sum_of_units(s: &str, units: &[(char, i64)], like: &str) -> Result<i64, String> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let Some(&(_, unit)) = units.iter().find(|(u, _)| *u == ch) else {
            let names: Vec<String> = units.iter().map(|(u, _)| u.to_string()).collect();
            return Err(format!(
                "{s:?}: unknown unit `{ch}` (use {})",
                names.join(", ")
            ));
        };
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("{s:?}: a number is missing before `{ch}`"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(format!("{s:?} is not a duration like {like}"));
    }
    Ok(total)
}

/// The word a unit enum serializes as (`"partial"`, `"new_drift"`); empty for anything else.
pub fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
