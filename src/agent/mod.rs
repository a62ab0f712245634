//! `falconer serve` (docs/agent.md): the agent runs the fleet's drift checks and the backup schedules
//! (`ops::agent`) and answers over HTTP (axum): `/healthz`, `/readyz`, `/metrics` and the read-only JSON
//! API under `/api/v1/`. It listens on a loopback address only and answers only requests that name a
//! loopback host (a page of another site cannot reach it through DNS rebinding).

pub mod api;
pub mod metrics;
pub mod tls;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request as HttpRequest, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::diag::{Issue, Sources};
use crate::ops::agent::{Asked, Demand, Demands, Request, Store};
use crate::ops::fleet::Checked;
use crate::ops::live::Settings;
use crate::ops::{Cancel, Events};
use crate::state::State;
use api::work::ListQuery;
use metrics::Metrics;

/// How long `/readyz` and a scrape wait for the state store.
const STATE_WAIT: Duration = Duration::from_secs(5);

/// Why the agent could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{0} is not a loopback address: an agent answers beyond this host only with a token (the profile's [serve] token), or listen on 127.0.0.1"
    )]
    NotLoopback(SocketAddr),
    #[error(
        "{0} is not a loopback address: give the agent a certificate (the profile's [serve.tls]), or --insecure-http to answer in plain HTTP (inside a cluster's network, or behind a proxy that adds TLS), or listen on 127.0.0.1"
    )]
    NoTls(SocketAddr),
    #[error("the agent's TLS ([serve.tls]): {0}")]
    Tls(String),
    #[error("{0}")]
    Agent(Box<crate::ops::Error>),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Who may ask what: the token (none: loopback only), whether `/metrics` is public, and whether plain HTTP
/// beyond loopback was asked for.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub token: Option<String>,
    /// The token of the two writes (none: the writes are off).
    pub write_token: Option<String>,
    pub metrics_public: bool,
    pub insecure_http: bool,
    /// The agent's own TLS (`[serve.tls]`).
    pub tls: Option<tls::ServerFiles>,
}

impl Access {
    /// Whether the agent may listen on `addr`.
    fn check(&self, addr: SocketAddr) -> Result<(), ServeError> {
        if addr.ip().is_loopback() {
            return Ok(());
        }
        if self.token.is_none() {
            return Err(ServeError::NotLoopback(addr));
        }
        if self.tls.is_none() && !self.insecure_http {
            return Err(ServeError::NoTls(addr));
        }
        Ok(())
    }
}

/// What every request handler shares.
struct App {
    store: Arc<Store>,
    metrics: Metrics,
    demands: Arc<Demands>,
    /// The profile's backup repository (as `backup list` reads it), or why it cannot be opened.
    repo: Result<crate::backup::repo::Repo, String>,
    web: web::Web,
}

impl App {
    /// The state store, opened if it is not yet, within [`STATE_WAIT`].
    async fn state(&self) -> Result<State, String> {
        match tokio::time::timeout(STATE_WAIT, self.store.get()).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the state store did not answer within {} s",
                STATE_WAIT.as_secs()
            )),
        }
    }
}

/// Binds `listen` (a loopback address), then runs the jobs and answers HTTP until `cancel`.
pub async fn serve(
    settings: &Settings,
    (req, access): (Request, Access),
    listen: SocketAddr,
    events: Arc<dyn Events>,
    cancel: Cancel,
) -> Result<(), ServeError> {
    access.check(listen)?;
    let store = Arc::new(Store::new(&settings.state));
    let sole = crate::ops::agent::sole_agent(&store, events.as_ref())
        .await
        .map_err(|e| ServeError::Agent(Box::new(e)))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(listen);
    let listener = match access.tls.clone() {
        Some(files) => {
            let tls = tls::listen(listener, files, events.clone()).map_err(ServeError::Tls)?;
            Either::Tls(tls)
        }
        None => Either::Plain(listener),
    };
    let metrics = Metrics::default();
    let demands = Arc::new(Demands::default());
    let spec = crate::ops::repo::RepoSpec {
        url: None,
        key_file: req.key_file.clone(),
    };
    let app = Arc::new(App {
        store: store.clone(),
        metrics: metrics.clone(),
        demands: demands.clone(),
        repo: spec.open(settings).map_err(|e| e.to_string()),
        web: web::Web::of(&access),
    });
    let stop = cancel.clone();
    let routes = router(app, access);
    // The one line the agent always prints: where it answers (with `--listen 127.0.0.1:0`, the port
    // the system chose).
    let http = match listener {
        Either::Tls(tls) => {
            eprintln!("falconer serve: listening on https://{bound}");
            let served = axum::serve(tls, routes).with_graceful_shutdown(stop.cancelled_owned());
            tokio::spawn(async move { served.await })
        }
        Either::Plain(listener) => {
            eprintln!("falconer serve: listening on http://{bound}");
            let served =
                axum::serve(listener, routes).with_graceful_shutdown(stop.cancelled_owned());
            tokio::spawn(async move { served.await })
        }
    };
    let jobs = (settings, store.as_ref(), demands.as_ref());
    crate::ops::agent::run(jobs, &req, &metrics, events.as_ref(), &cancel).await;
    cancel.cancel();
    if let Ok(Err(e)) = http.await {
        events.warning(&format!("the HTTP server stopped: {e}"));
    }
    if let Some(sole) = sole {
        sole.release(events.as_ref()).await;
    }
    Ok(())
}

/// The agent's listener: TLS, or plain HTTP.
enum Either {
    Tls(tls::TlsListener),
    Plain(tokio::net::TcpListener),
}

fn router(app: Arc<App>, access: Access) -> Router {
    let access = Arc::new(access);
    let listings = [
        ("/api/v1/schedules", Listing::Schedules),
        ("/api/v1/locks", Listing::Locks),
        ("/api/v1/history", Listing::History),
        ("/api/v1/restores", Listing::Restores),
        ("/api/v1/agents", Listing::Agents),
    ];
    let mut routes = Router::new();
    for (path, which) in listings {
        routes = routes.route(path, get(move |a, q| listing(a, q, which)));
    }
    routes
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/tenants", get(tenants))
        .route("/api/v1/tenants/{id}", get(tenant))
        .route(
            "/api/v1/tenants/{id}/drift",
            get(|a, id, q| of_tenant(a, id, q, OfTenant::Drift))
                .post(|a, id| ask(a, id, Demand::Drift)),
        )
        .route(
            "/api/v1/tenants/{id}/backup",
            post(|a, id| ask(a, id, Demand::Backup)),
        )
        .route(
            "/api/v1/tenants/{id}/backups",
            get(|a, id, q| of_tenant(a, id, q, OfTenant::Backups)),
        )
        .route("/api/v1/tenants/{id}/backups/{backup}", get(backup))
        .merge(web::routes())
        .layer(middleware::from_fn_with_state(
            (access, app.web.clone()),
            guard,
        ))
        .layer(middleware::from_fn(web::headers))
        .with_state(app)
}

/// Without a token, only requests for a loopback host; with one, every path but the probes, the sign-in
/// form and the style sheet (and `/metrics` when public) needs it, as a bearer token or a session cookie
/// (a page without either sends the browser to the sign-in form). A form sent from another site's page is
/// refused.
async fn guard(
    Shared((access, web)): Shared<(Arc<Access>, web::Web)>,
    req: HttpRequest,
    next: Next,
) -> Response {
    if access.token.is_none() && !is_loopback_host(host_of(&req)) {
        let message =
            "this agent answers only requests for a loopback host (localhost, 127.0.0.1, [::1])\n";
        return (StatusCode::MISDIRECTED_REQUEST, message).into_response();
    }
    let path = req.uri().path();
    let api = path.starts_with("/api/");
    if req.method() == axum::http::Method::POST {
        if api {
            return writes(&access, req, next).await;
        }
        if !same_origin(&req) {
            return (StatusCode::FORBIDDEN, "a form of another site\n").into_response();
        }
    }
    let open = matches!(path, "/healthz" | "/readyz" | "/login" | "/style.css")
        || (path == "/metrics" && access.metrics_public);
    let Some(token) = &access.token else {
        return next.run(req).await;
    };
    if open || bearer(&req).is_some_and(|g| same(g, token)) || web.session(req.headers()).is_some()
    {
        return next.run(req).await;
    }
    if api || path == "/metrics" {
        return denied("this agent asks for its token: Authorization: Bearer TOKEN\n");
    }
    axum::response::Redirect::to("/login").into_response()
}

/// The host a request names.
fn host_of(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

/// Whether a form comes from the agent's own pages: its `Origin`, when the browser sends one, names the
/// host the request is for.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or("");
    let host = origin.split_once("://").map_or("", |(_, h)| h);
    !host.is_empty() && host.eq_ignore_ascii_case(host_of(req))
}

/// The two writes of the API: with the write token only.
async fn writes(access: &Access, req: HttpRequest, next: Next) -> Response {
    let Some(token) = &access.write_token else {
        let off = "the agent's writes are off: give it a [serve] write_token (docs/agent.md)\n";
        return (StatusCode::FORBIDDEN, off).into_response();
    };
    if !bearer(&req).is_some_and(|g| same(g, token)) {
        return denied("a write asks for the agent's write token: Authorization: Bearer TOKEN\n");
    }
    next.run(req).await
}

/// The bearer token a request carries.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let given = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    given.strip_prefix("Bearer ").map(str::trim)
}

fn denied(message: &'static str) -> Response {
    let mut denied = (StatusCode::UNAUTHORIZED, message).into_response();
    denied.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"falconer\""),
    );
    denied
}

/// Whether two secrets are equal, in a time that does not depend on where they differ (their digests
/// are compared whole).
fn same(a: &str, b: &str) -> bool {
    use sha2::Digest;
    let (x, y) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// Whether a `Host` header names a loopback host (with or without a port).
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Ready when the state store answers.
async fn readyz(Shared(app): Shared<Arc<App>>) -> Response {
    let answered = match app.state().await {
        Ok(state) => tokio::time::timeout(STATE_WAIT, state.version())
            .await
            .map_err(|_| "the state store did not answer".to_string())
            .and_then(|r| r.map_err(|e| e.to_string())),
        Err(e) => Err(e),
    };
    match answered {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

async fn metrics(Shared(app): Shared<Arc<App>>) -> Response {
    let text = match app.state().await {
        Ok(s) => tokio::time::timeout(STATE_WAIT, app.metrics.render(Some(&s)))
            .await
            .unwrap_or_default(),
        Err(_) => app.metrics.render(None).await,
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    (headers, text).into_response()
}

async fn tenants(
    Shared(app): Shared<Arc<App>>,
    query: Result<Query<api::TenantQuery>, QueryRejection>,
) -> Response {
    let q = match asked(query) {
        Ok(q) => q,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    match app.state().await {
        Ok(state) => answer(api::tenants(&state, &q).await),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

async fn tenant(Shared(app): Shared<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.state().await {
        Ok(state) => answer(api::tenant(&state, &id).await),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

/// A tenant's listings: its drift history (from the state store), its backups (from the repository).
#[derive(Debug, Clone, Copy)]
enum OfTenant {
    Drift,
    Backups,
}

async fn of_tenant(
    Shared(app): Shared<Arc<App>>,
    Path(id): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
    which: OfTenant,
) -> Response {
    let q = match asked(query) {
        Ok(q) => q,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    match (which, &app.repo) {
        (OfTenant::Drift, _) => match app.state().await {
            Ok(state) => answer(api::work::drift_history(&state, &id, &q).await),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
        },
        (OfTenant::Backups, Ok(repo)) => answer(api::backups::list(repo, &id, &q).await),
        (OfTenant::Backups, Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn backup(
    Shared(app): Shared<Arc<App>>,
    Path((id, backup)): Path<(String, String)>,
) -> Response {
    match &app.repo {
        Ok(repo) => answer(api::backups::one(repo, &id, &backup).await),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// A query as parsed, or what is wrong with it.
fn asked<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, String> {
    query.map(|Query(q)| q).map_err(|e| e.body_text())
}

/// The listings that take a [`ListQuery`].
#[derive(Debug, Clone, Copy)]
enum Listing {
    Schedules,
    Locks,
    History,
    Restores,
    Agents,
}

async fn listing(
    Shared(app): Shared<Arc<App>>,
    query: Result<Query<ListQuery>, QueryRejection>,
    which: Listing,
) -> Response {
    use api::work;
    let q = match asked(query) {
        Ok(q) => q,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let state = match app.state().await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    match which {
        Listing::Schedules => answer(work::schedules(&state, &q).await),
        Listing::Locks => answer(work::locks(&state, &q).await),
        Listing::History => answer(work::history(&state, &q).await),
        Listing::Restores => answer(work::restores(&state, &q).await),
        Listing::Agents => answer(work::agents(&state, &q).await),
    }
}

/// A write: a tenant's drift check or backup, queued now (`202`); `429` while one is queued or running
/// for the tenant, `404` for a tenant not in the agent's fleet.
async fn ask(Shared(app): Shared<Arc<App>>, Path(id): Path<String>, demand: Demand) -> Response {
    let what = match demand {
        Demand::Drift => "drift check",
        Demand::Backup => "backup",
    };
    match app.demands.ask(demand, &id) {
        Asked::Queued => {
            let body = serde_json::json!({ "queued": what, "tenant": id });
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
        Asked::AlreadyQueued => error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("a {what} of `{id}` is queued or running: it is asked once"),
        ),
        Asked::NotInFleet => error(
            StatusCode::NOT_FOUND,
            &format!("tenant `{id}` is not in this agent's fleet (as its last cycle read it)"),
        ),
    }
}

/// An API answer: its JSON, or the error's status and `{ "error": ... }`.
fn answer<T: serde::Serialize>(r: Result<T, api::ApiError>) -> Response {
    match r {
        Ok(x) => axum::Json(x).into_response(),
        Err(api::ApiError::Query(e)) => error(StatusCode::BAD_REQUEST, &e),
        Err(api::ApiError::NotFound(e)) => error(StatusCode::NOT_FOUND, &e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message });
    (status, axum::Json(body)).into_response()
}

/// The operations' events as the agent's log lines on standard error (through `tracing`): warnings and
/// problems always, notes and each tenant checked at `-v`.
pub struct Log;

impl Events for Log {
    fn issues(&self, issues: &[Issue], sources: &Sources) {
        for i in issues {
            tracing::warn!("{}", i.short(sources));
        }
    }

    fn warning(&self, message: &str) {
        tracing::warn!("{message}");
    }

    fn note(&self, message: &str) {
        tracing::info!("{message}");
    }

    fn tenant_checked(&self, checked: &Checked) {
        let r = &checked.result;
        tracing::debug!("{}: {}", r.tenant, r.status.words());
        for line in checked.notes.lines() {
            tracing::warn!("{}: {line}", r.tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Access, ServeError, is_loopback_host};

    /// Beyond loopback: a token, and TLS or `--insecure-http`.
    #[test]
    fn an_address_beyond_loopback_needs_a_token_and_tls() {
        let public: std::net::SocketAddr = "0.0.0.0:9464".parse().expect("an address");
        let files = super::tls::ServerFiles {
            cert: "agent.crt".into(),
            key: "agent.key".into(),
            client_ca: None,
        };
        let token = Some("a-token-of-sixteen-chars".to_string());
        let with = |token: Option<String>, tls: Option<_>, insecure_http| Access {
            token,
            tls,
            insecure_http,
            ..Access::default()
        };
        let check = |a: Access| a.check(public);
        assert!(matches!(
            check(with(None, Some(files.clone()), false)),
            Err(ServeError::NotLoopback(_))
        ));
        assert!(matches!(
            check(with(token.clone(), None, false)),
            Err(ServeError::NoTls(_))
        ));
        assert!(check(with(token.clone(), Some(files), false)).is_ok());
        assert!(check(with(token, None, true)).is_ok());
        assert!(check(with(None, None, false)).is_err());
        assert!(
            with(None, None, false)
                .check("127.0.0.1:9464".parse().expect("an address"))
                .is_ok()
        );
    }

    #[test]
    fn only_loopback_hosts_are_answered() {
        for host in [
            "localhost",
            "LOCALHOST:9464",
            "127.0.0.1",
            "127.0.0.1:9464",
            "127.3.4.5:80",
            "[::1]",
            "[::1]:9464",
            "agent.localhost:9464",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "attacker.example",
            "attacker.example:9464",
            "localhost.attacker.example",
            "10.0.0.1:9464",
            "[2001:db8::1]:9464",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
