//! The incident dashboard behind `firebreak dashboard` (docs/dashboard.md).
//!
//! A small axum server, meant for loopback, that serves:
//! - `GET /`: one self-contained HTML page ([`PAGE`], embedded with `include_str!`: inline
//!   CSS and JavaScript, no external scripts, fonts or images). It polls `/api/status`
//!   every second and shows the incident's progress; it writes data with `textContent`
//!   only, never as HTML.
//! - `GET /api/status?incident=NAME`: the incident status JSON (see [`StatusSource`]);
//!   without `incident`, the source's default incident.
//! - `GET /api/incidents`: the incidents in the store, as JSON.
//!
//! Every response carries security headers: a Content-Security-Policy that allows only
//! this origin plus the page's own inline script and style (by SHA-256 hash, see
//! [`content_security_policy`]), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//! no-referrer`, `X-Frame-Options: DENY` and `Cache-Control: no-store`. When the server
//! listens on a loopback address it also refuses requests whose `Host` header is not a
//! loopback name (`localhost`, `127.0.0.1`, `[::1]`), so a web page on another site cannot
//! read the status through DNS rebinding.
//!
//! The data comes from a [`StatusSource`]; [`StoreSource`] computes it from the firebreak
//! store with `firebreak_incident::status` on each request, so the page follows a rotation
//! while it runs (the store is SQLite in WAL mode: readers see each committed step).

#![warn(missing_docs)]

mod source;

pub use source::StoreSource;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

/// The dashboard page: one HTML file with its CSS and JavaScript inline.
pub const PAGE: &str = include_str!("dashboard.html");

/// The default listen address of `firebreak dashboard`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8484";

/// Longest incident name accepted in `?incident=` (longer is a 400).
pub const MAX_INCIDENT_NAME: usize = 200;

/// Why a [`StatusSource`] could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No such incident, or no incident at all (HTTP 404). The message says which.
    #[error("{0}")]
    NotFound(String),
    /// The store could not be read (HTTP 503). The message names the store file.
    #[error("{0}")]
    Unavailable(String),
}

/// Where the dashboard's data comes from. Called from a blocking thread, once per
/// request: implementations compute the status fresh each time.
pub trait StatusSource: Send + Sync + 'static {
    /// The status JSON of `incident`, or of the default incident when `None` (the one
    /// named on the command line, else the most recent). Top-level keys: `incident`,
    /// `secrets`, `rotation`, `hunts`, `scans`, `census`, `tasks`, `updated_at`, and
    /// `brief` (the report's summary, "Do next" list and findings; the page hides what is
    /// missing) (docs/dashboard.md).
    fn status(&self, incident: Option<&str>) -> Result<Value, SourceError>;
    /// The incidents known, as a JSON array.
    fn incidents(&self) -> Result<Value, SourceError>;
}

/// The text of the single `<tag>…</tag>` block of the page (`tag` = `script` or `style`).
fn inline_block<'a>(html: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = html.find(&open)? + open.len();
    let end = start + html[start..].find(&close)?;
    Some(&html[start..end])
}

fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The Content-Security-Policy sent with every response: `default-src 'self'`, the page's
/// inline script and style allowed by their SHA-256 hashes (nothing else inline, no
/// `eval`), images only from this origin or `data:`, no framing, no forms, no `<base>`.
pub fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let script = inline_block(PAGE, "script")
            .map(sha256_source)
            .unwrap_or_default();
        let style = inline_block(PAGE, "style").map(sha256_source).unwrap_or_default();
        format!(
            "default-src 'self'; script-src {script}; style-src {style}; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        )
    })
}

/// Whether a `Host` header names this machine's loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, _)) => ip,
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

#[derive(Clone)]
struct AppState {
    source: Arc<dyn StatusSource>,
    loopback_only: bool,
}

/// Builds the router over `source`. With `loopback_only`, requests whose `Host` is not a
/// loopback name get 403.
pub fn router(source: Arc<dyn StatusSource>, loopback_only: bool) -> Router {
    let state = AppState {
        source,
        loopback_only,
    };
    Router::new()
        .route("/", get(page))
        .route("/api/status", get(status))
        .route("/api/incidents", get(incidents))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = if st.loopback_only
        && !req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(is_loopback_host)
    {
        error(
            StatusCode::FORBIDDEN,
            "the dashboard listens on loopback and answers only requests addressed to localhost, 127.0.0.1 or [::1]",
        )
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(content_security_policy()),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn error(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({ "error": msg }))).into_response()
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

#[derive(Deserialize)]
struct StatusQuery {
    incident: Option<String>,
}

fn answer(r: Result<Result<Value, SourceError>, tokio::task::JoinError>) -> Response {
    match r {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(SourceError::NotFound(m))) => error(StatusCode::NOT_FOUND, &m),
        Ok(Err(SourceError::Unavailable(m))) => {
            tracing::warn!("dashboard: {m}");
            error(StatusCode::SERVICE_UNAVAILABLE, &m)
        }
        Err(e) => {
            tracing::error!("dashboard: status task failed: {e}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn status(State(st): State<AppState>, Query(q): Query<StatusQuery>) -> Response {
    let name = q.incident.filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.len() > MAX_INCIDENT_NAME) {
        return error(StatusCode::BAD_REQUEST, "incident name too long");
    }
    let src = st.source.clone();
    answer(tokio::task::spawn_blocking(move || src.status(name.as_deref())).await)
}

async fn incidents(State(st): State<AppState>) -> Response {
    let src = st.source.clone();
    answer(tokio::task::spawn_blocking(move || src.incidents()).await)
}

/// A running dashboard server.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `listen` (port 0 picks a free port) and starts serving `source`. A loopback
    /// `listen` address turns on the `Host` check (see the crate docs).
    pub async fn start(listen: SocketAddr, source: Arc<dyn StatusSource>) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let app = router(source, listen.ip().is_loopback());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Server {
            addr,
            shutdown: Some(tx),
            handle,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops accepting, finishes in-flight requests, and waits.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.handle).await??;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
