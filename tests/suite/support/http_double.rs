//! What the HTTP test doubles share: route templates matched against a path, percent-decoding, form
//! bodies, JSON answers, the request log, and serving on 127.0.0.1.
#![allow(dead_code)]

use std::collections::HashMap;

use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request as answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The route template that answered, or `(unknown)` / `(unauthorized)`.
    pub route: String,
    pub status: u16,
    /// The answer's body.
    pub body: Value,
    pub query: String,
    /// The request's JSON body (null when it had none, or one that is not JSON).
    pub request: Value,
}

/// Percent-decodes a path segment or form field.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(x);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a path segment.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body (or a query string).
pub fn form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(&k.replace('+', " ")), decode(&v.replace('+', " "))))
        .collect()
}

/// The decoded segments of a path.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect()
}

/// Matches path segments against route templates (`{name}` takes one segment; a last `{path}` takes the
/// rest); the template and its parameters.
pub fn route(
    method: &str,
    rest: &[String],
    routes: &'static [(&'static str, &'static str)],
) -> Option<(&'static str, HashMap<String, String>)> {
    'templates: for (m, template) in routes {
        if *m != method {
            continue;
        }
        let parts: Vec<&str> = template.split('/').filter(|p| !p.is_empty()).collect();
        let mut params = HashMap::new();
        for (j, p) in parts.iter().enumerate() {
            if *p == "{path}" && j == parts.len() - 1 && j < rest.len() {
                params.insert("path".to_string(), rest[j..].join("/"));
                return Some((template, params));
            }
            let Some(seg) = rest.get(j) else {
                continue 'templates;
            };
            if p.starts_with('{') {
                params.insert(p.trim_matches(['{', '}']).to_string(), seg.clone());
            } else if p != seg {
                continue 'templates;
            }
        }
        if parts.len() == rest.len() {
            return Some((template, params));
        }
    }
    None
}

/// A JSON answer (no body when `body` is null), with extra headers.
pub fn answer(status: u16, headers: &[(HeaderName, String)], body: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = if body.is_null() {
        code.into_response()
    } else {
        (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    for (name, value) in headers {
        if let Ok(v) = value.parse() {
            r.headers_mut().insert(name.clone(), v);
        }
    }
    r
}

/// A double being served; dropping it stops it.
pub struct Running {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A test double: its state `W` and options `O`, shared with the handler that serves it.
pub struct Double<W, O> {
    pub url: String,
    shared: std::sync::Arc<(std::sync::Mutex<W>, O)>,
    _running: Running,
}

/// What a double's handler gets: the state and the options.
pub type Shared<W, O> = std::sync::Arc<(std::sync::Mutex<W>, O)>;

impl<W, O> Double<W, O>
where
    W: Default + Send + 'static,
    O: Send + Sync + 'static,
{
    /// Serves `handler` on 127.0.0.1 (`port` 0: a free one) with a fresh state.
    pub async fn serve_with<H, T>(port: u16, options: O, handler: H) -> std::io::Result<Self>
    where
        H: axum::handler::Handler<T, Shared<W, O>>,
        T: 'static,
    {
        Self::serve_tls_with(port, options, handler, None).await
    }

    /// As [`Double::serve_with`], over HTTPS with `tls` when given (the URL then names `localhost`).
    pub async fn serve_tls_with<H, T>(
        port: u16,
        options: O,
        handler: H,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Self>
    where
        H: axum::handler::Handler<T, Shared<W, O>>,
        T: 'static,
    {
        let shared = std::sync::Arc::new((std::sync::Mutex::new(W::default()), options));
        let app = axum::Router::new()
            .fallback(handler)
            .with_state(shared.clone());
        let running = serve_tls(port, app, tls).await?;
        Ok(Double {
            url: running.url.clone(),
            shared,
            _running: running,
        })
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, W> {
        self.shared.0.lock().expect("double state")
    }

    pub fn options(&self) -> &O {
        &self.shared.1
    }
}

/// Serves `app` on 127.0.0.1 (`port` 0: a free one).
pub async fn serve(port: u16, app: axum::Router) -> std::io::Result<Running> {
    serve_tls(port, app, None).await
}

/// Serves `app` on 127.0.0.1, over HTTPS with `tls` when given (its URL then names `localhost`, the name
/// the tests' server certificates carry).
pub async fn serve_tls(
    port: u16,
    app: axum::Router,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let (url, task) = match tls {
        None => (
            format!("http://{addr}"),
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }),
        ),
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            (
                format!("https://localhost:{}", addr.port()),
                tokio::spawn(async move {
                    let _ = axum::serve(TlsListener { listener, acceptor }, app).await;
                }),
            )
        }
    };
    Ok(Running { url, task })
}

/// A TCP listener whose connections are TLS: a handshake that fails is dropped, never the listener.
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.listener.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A fault to answer instead of the real answer: the status, headers and raw body (any bytes: malformed
/// JSON, a truncated body), or `None` to answer normally. Given each request's method, path and body.
pub type Fault = std::sync::Arc<
    dyn Fn(&axum::http::Method, &str, &[u8]) -> Option<(u16, Vec<(String, String)>, String)>
        + Send
        + Sync,
>;

/// The fault's answer to a request, if it has one.
pub fn fault_answer(
    fault: Option<&Fault>,
    method: &axum::http::Method,
    path: &str,
    request: &[u8],
) -> Option<Response> {
    let (status, headers, body) = fault?(method, path, request)?;
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[(&str, &str)] = &[("GET", "/a/{x}"), ("GET", "/a/{x}/b"), ("GET", "/p/{path}")];

    #[test]
    fn templates_match_by_segments() {
        let s = |p: &str| segments(p);
        assert_eq!(
            route("GET", &s("/a/1"), ROUTES).map(|r| r.0),
            Some("/a/{x}")
        );
        assert_eq!(
            route("GET", &s("/a/1/b"), ROUTES).map(|r| r.0),
            Some("/a/{x}/b")
        );
        assert_eq!(route("GET", &s("/a/1/c"), ROUTES), None);
        let (_, p) = route("GET", &s("/p/x/y%2Fz"), ROUTES).unwrap();
        assert_eq!(p["path"], "x/y/z");
        assert_eq!(form(b"a=b+c&d=%41")["a"], "b c");
    }
}
