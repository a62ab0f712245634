//! The agent's dashboard (docs/agent.md): the fleet (`/`), a tenant (`/tenants/ID`), the agents and their
//! work (`/agents`), the sign-in form and the two buttons that ask for work. Server-rendered HTML
//! (`pages.rs`), no script; the same data as the JSON API (`super::api`).

pub mod pages;
pub mod pages_work;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::Markup;

use super::App;
use super::api::{self, ApiError, work::ListQuery};
use crate::ops::agent::{Asked, Demand};
use pages::{FleetQuery, Viewer};
use session::{Grant, Keys};

/// The dashboard's own settings: the sessions' key, and whether writes are on.
#[derive(Debug, Clone)]
pub struct Web {
    pub keys: Keys,
    pub token: Option<String>,
    pub write_token: Option<String>,
}

/// The Content-Security-Policy every answer carries: nothing but the agent's own files.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The dashboard's routes.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(fleet))
        .route("/agents", get(agents))
        .route("/tenants/{id}", get(tenant))
        .route(
            "/tenants/{id}/drift",
            axum::routing::post(|a, h, id, f| ask(a, h, id, f, Demand::Drift)),
        )
        .route(
            "/tenants/{id}/backup",
            axum::routing::post(|a, h, id, f| ask(a, h, id, f, Demand::Backup)),
        )
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/style.css", get(style))
}

/// Adds the headers every answer carries (CSP, no sniffing, no referrer beyond the agent, no caching;
/// `same-origin`, not `no-referrer`: with that, a browser sends its own forms with `Origin: null`).
pub async fn headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

impl Web {
    pub fn of(access: &super::Access) -> Web {
        Web {
            keys: Keys::of(access.token.as_deref(), access.write_token.as_deref()),
            token: access.token.clone(),
            write_token: access.write_token.clone(),
        }
    }

    /// The session a request's cookie proves.
    pub fn session(&self, headers: &HeaderMap) -> Option<session::Session> {
        session::cookie(headers).and_then(|v| self.keys.check(v))
    }

    fn viewer(&self, headers: &HeaderMap) -> Viewer {
        let s = self.session(headers);
        Viewer {
            signed_in: s.is_some(),
            csrf: s
                .filter(|s| s.grant == Grant::Write)
                .map(|s| self.keys.csrf(&s)),
            writes_on: self.write_token.is_some(),
        }
    }
}

fn page(status: StatusCode, m: Markup) -> Response {
    (status, Html(m.into_string())).into_response()
}

/// A page that could not be made: the state store or the repository did not answer, or no such tenant.
fn trouble(e: &ApiError, viewer: &Viewer) -> Response {
    let (status, title) = match e {
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        ApiError::Query(_) => (StatusCode::BAD_REQUEST, "Not understood"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "Not available"),
    };
    page(status, pages::problem(title, &e.to_string(), viewer))
}

/// The state store, or the page that says it did not answer (a `503`).
async fn state_or_page(app: &App, viewer: &Viewer) -> Result<crate::state::State, Response> {
    let why = |e: String| {
        page(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::problem("Not available", &e, viewer),
        )
    };
    app.state().await.map_err(why)
}

async fn fleet(
    Shared(app): Shared<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<FleetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = app.web.viewer(&headers);
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let state = match state_or_page(&app, &viewer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match api::all(&state).await {
        Ok(all) => page(
            StatusCode::OK,
            pages::fleet(all, &q, crate::util::now(), &viewer),
        ),
        Err(e) => trouble(&e, &viewer),
    }
}

async fn agents(Shared(app): Shared<Arc<App>>, headers: HeaderMap) -> Response {
    use api::work;
    let viewer = app.web.viewer(&headers);
    let state = match state_or_page(&app, &viewer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = ListQuery {
        per_page: Some(api::MAX_PER_PAGE),
        ..ListQuery::default()
    };
    let read = async {
        let a = work::agents(&state, &q).await?.items;
        let s = work::schedules(&state, &q).await?.items;
        let l = work::locks(&state, &q).await?.items;
        Ok::<_, ApiError>((a, s, l))
    };
    match read.await {
        Ok((a, s, l)) => page(StatusCode::OK, pages::agents(&a, &s, &l, &viewer)),
        Err(e) => trouble(&e, &viewer),
    }
}

/// What a tenant page was sent back with after a button.
#[derive(Debug, Default, serde::Deserialize)]
struct Flash {
    asked: Option<String>,
    busy: Option<String>,
}

impl Flash {
    fn words(&self) -> Option<String> {
        match (&self.asked, &self.busy) {
            (Some(w), _) => Some(format!(
                "Asked: a {} now. It runs as soon as the agent is free.",
                what(w)
            )),
            (_, Some(w)) => Some(format!(
                "A {} is queued or running already: it is asked once.",
                what(w)
            )),
            _ => None,
        }
    }
}

fn what(word: &str) -> &'static str {
    if word == "backup" {
        "backup"
    } else {
        "drift check"
    }
}

async fn tenant(
    Shared(app): Shared<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    flash: Result<Query<Flash>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = app.web.viewer(&headers);
    let state = match state_or_page(&app, &viewer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match tenant_page(&app, &state, &id, &viewer, flash.ok().map(|Query(f)| f)).await {
        Ok(m) => page(StatusCode::OK, m),
        Err(e) => trouble(&e, &viewer),
    }
}

async fn tenant_page(
    app: &App,
    state: &crate::state::State,
    id: &str,
    viewer: &Viewer,
    flash: Option<Flash>,
) -> Result<Markup, ApiError> {
    use api::work;
    let t = api::tenant(state, id).await?;
    let plan = api::drift_plan(state, id).await?;
    let some = |n: usize| ListQuery {
        per_page: Some(n),
        ..ListQuery::default()
    };
    let drift = match work::drift_history(state, id, &some(20)).await {
        Ok(p) => p.items,
        Err(ApiError::NotFound(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let of_tenant = |n: usize| ListQuery {
        tenant: Some(id.to_string()),
        ..some(n)
    };
    let restores = work::restores(state, &of_tenant(10)).await?.items;
    let history = work::history(state, &of_tenant(20)).await?.items;
    let backups = match &app.repo {
        Ok(repo) => api::backups::list(repo, id, &some(10))
            .await
            .map(|p| p.items)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    let flash = flash.and_then(|f| f.words());
    let view = pages::TenantView {
        tenant: &t,
        plan: plan.as_deref(),
        drift: &drift,
        backups: backups.as_deref().map_err(String::as_str),
        restores: &restores,
        history: &history,
        flash: flash.as_deref(),
    };
    Ok(pages::tenant(&view, crate::util::now(), viewer))
}

/// A button's form: its CSRF token.
#[derive(Debug, serde::Deserialize)]
struct AskForm {
    #[serde(default)]
    csrf: String,
}

/// A button: a session of the write token and the form's CSRF token, then the same queue as the API's
/// writes; back to the tenant's page, which says what came of it.
async fn ask(
    Shared(app): Shared<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<AskForm>, axum::extract::rejection::FormRejection>,
    demand: Demand,
) -> Response {
    let viewer = app.web.viewer(&headers);
    let session = app
        .web
        .session(&headers)
        .filter(|s| s.grant == Grant::Write);
    let Some(session) = session else {
        let m = pages::problem(
            "Not allowed",
            "Sign in with the agent's write token to ask for work.",
            &viewer,
        );
        return page(StatusCode::FORBIDDEN, m);
    };
    let given = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !app.web.keys.csrf_ok(&session, &given) {
        let m = pages::problem(
            "Not allowed",
            "The form's token is not this session's: open the page again and use its button.",
            &viewer,
        );
        return page(StatusCode::FORBIDDEN, m);
    }
    let word = match demand {
        Demand::Drift => "drift",
        Demand::Backup => "backup",
    };
    let back = format!("/tenants/{}", pages_work::path_part(&id));
    match app.demands.ask(demand, &id) {
        Asked::Queued => Redirect::to(&format!("{back}?asked={word}")).into_response(),
        Asked::AlreadyQueued => Redirect::to(&format!("{back}?busy={word}")).into_response(),
        Asked::NotInFleet => {
            let m = pages::problem(
                "Not in the fleet",
                &format!("Tenant `{id}` is not in this agent's fleet (as its last cycle read it)."),
                &viewer,
            );
            page(StatusCode::NOT_FOUND, m)
        }
    }
}

async fn login_form(Shared(app): Shared<Arc<App>>) -> Response {
    page(StatusCode::OK, pages::login(None, app.web.token.is_none()))
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Signs in with the read token or the write token: a session cookie, then the fleet.
async fn login(
    Shared(app): Shared<Arc<App>>,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let given = form.map(|Form(f)| f.token).unwrap_or_default();
    let web = &app.web;
    let matches = |t: &Option<String>| t.as_deref().is_some_and(|t| super::same(&given, t));
    let grant = if matches(&web.write_token) {
        Grant::Write
    } else if matches(&web.token) {
        Grant::Read
    } else {
        let m = pages::login(Some("That is not the agent's token."), web.token.is_none());
        return page(StatusCode::UNAUTHORIZED, m);
    };
    let Ok(value) = web.keys.open(grant) else {
        let m = pages::problem(
            "Not available",
            "No session could be made (the system's random source failed).",
            &Viewer::default(),
        );
        return page(StatusCode::SERVICE_UNAVAILABLE, m);
    };
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&value)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout() -> Response {
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn style() -> Response {
    let mut r = include_str!("style.css").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    r
}
