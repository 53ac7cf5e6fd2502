//! The one HTTP layer every outbound request of firebreak goes through: provider
//! clients, rotation sources, AWS calls, blast-radius checks, OIDC discovery and JWKS.
//!
//! - timeouts (connect and whole request);
//! - retries with jittered exponential backoff on 5xx, timeouts and connection errors —
//!   but a request that is not idempotent (POST, PATCH: creates a deploy key, a checkout
//!   key, a token) is sent again only when it provably never reached the server (the
//!   connection could not be made) or the server refused it with a rate-limit reply;
//!   after a 5xx or a timeout it fails instead, and the caller looks up what happened
//!   (see [`Replay`]);
//! - `429`, and `403` that is a rate limit (GitHub's `X-RateLimit-Remaining: 0`, or a
//!   `Retry-After`), wait for `Retry-After` / `X-RateLimit-Reset` / `RateLimit-Reset`
//!   and pause *every* task sharing the client, then retry;
//! - a client-side rate limiter (requests per second, shared across concurrent tasks)
//!   and a concurrency limit (semaphore);
//! - pagination guards that detect a repeated page token or URL;
//! - authentication attached only to requests for the configured API origin, so a
//!   redirect or a log URL on another host never receives the token.
//!
//! Response bodies are never logged. Errors name the request (method and URL) and the
//! status, plus the provider's short `message` field when there is one.

pub mod aws;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use firebreak_core::SecretString;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;

/// HTTP methods (re-exported so callers need no HTTP library of their own).
pub use reqwest::Method;

/// Header names and values (re-exported so callers need no HTTP library of their own).
pub use reqwest::header;

/// Settings of the shared HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Whole-request timeout (headers and body).
    pub timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Retries after a 5xx, a timeout or a connection error.
    pub max_retries: u32,
    /// Retries after a rate-limit reply (429 / 403 rate limit).
    pub max_rate_limit_retries: u32,
    /// First backoff delay; doubles each retry, with jitter.
    pub backoff_base: Duration,
    /// Upper bound of one backoff delay.
    pub backoff_max: Duration,
    /// Upper bound of one wait asked by `Retry-After` / reset headers.
    pub max_wait: Duration,
    /// Client-side rate limit in requests per second, shared by all tasks; `None` = unlimited.
    pub requests_per_second: Option<f64>,
    /// Maximum requests in flight at once.
    pub concurrency: usize,
    /// Maximum pages followed by one listing before it is reported as an error.
    pub max_pages: usize,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            max_rate_limit_retries: 10,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(20),
            max_wait: Duration::from_secs(300),
            requests_per_second: None,
            concurrency: 16,
            max_pages: 100_000,
            user_agent: concat!("firebreak/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// How a client authenticates. The token is attached only to requests whose origin is
/// the API's origin.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No authentication.
    None,
    /// A custom header, e.g. `Circle-Token` or `PRIVATE-TOKEN`.
    Header {
        /// Header name.
        name: &'static str,
        /// Token.
        token: SecretString,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer(SecretString),
}

/// Why a request failed (after retries). Never contains a secret or a response body
/// beyond the provider's short `message` field.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum HttpError {
    /// The server answered with a non-success status.
    #[error("{method} {url}: HTTP {status}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Status {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// Status code.
        status: u16,
        /// The provider's `message` field, when short.
        message: Option<String>,
    },
    /// No usable response (connection refused, timeout, TLS...), after retries.
    #[error("{method} {url}: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The body did not have the expected shape.
    #[error("{method} {url}: unexpected response body: {message}")]
    Decode {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// Parser message (never the body).
        message: String,
    },
    /// The server handed back a page token or next-page URL that was already followed.
    #[error("GET {url}: pagination loop: page {token:?} was already fetched; stopped listing")]
    PageLoop {
        /// The URL of the request that returned the repeated token.
        url: String,
        /// The repeated token or URL.
        token: String,
    },
    /// More pages than `HttpConfig::max_pages`.
    #[error("GET {url}: more than {max} pages; stopped listing")]
    TooManyPages {
        /// The last URL.
        url: String,
        /// The limit.
        max: usize,
    },
    /// The response body is larger than the request's [`Request::max_body`]; it was not
    /// read to the end (and the request is not retried).
    #[error("{method} {url}: response body larger than {limit} bytes")]
    TooLarge {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A URL could not be built or a next-page URL points at another host.
    #[error("bad URL {url}: {message}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
}

impl HttpError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// `METHOD URL` of the request at fault.
    pub fn request(&self) -> String {
        match self {
            HttpError::Status { method, url, .. }
            | HttpError::Transport { method, url, .. }
            | HttpError::Decode { method, url, .. }
            | HttpError::TooLarge { method, url, .. } => format!("{method} {url}"),
            HttpError::PageLoop { url, .. } | HttpError::TooManyPages { url, .. } => {
                format!("GET {url}")
            }
            HttpError::BadUrl { url, .. } => url.clone(),
        }
    }
}

/// A successful (2xx/3xx) response, body fully read.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes. Callers parse it into types that drop secret values; it is never logged.
    pub body: Vec<u8>,
    /// Final request URL.
    pub url: Url,
}

impl Response {
    /// Parses the JSON body.
    pub fn json<T: DeserializeOwned>(&self, method: &str) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Decode {
            method: method.to_string(),
            url: self.url.to_string(),
            // serde's message can quote a string value from the body; keep only the position.
            message: format!("{} at line {} column {}", classify(&e), e.line(), e.column()),
        })
    }
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "JSON does not match the expected schema",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// Whether a request may be sent again after an ambiguous failure: a 5xx reply, a
/// timeout, or a connection lost after the request was sent. (A connection that could not
/// be made, and a rate-limit refusal, are never ambiguous: those are retried always.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Sending it twice has the effect of sending it once (GET, HEAD, PUT, DELETE, OPTIONS,
    /// or a POST the API documents as an upsert).
    Safe,
    /// It may create something each time it is received (POST, PATCH): never resent after
    /// an ambiguous failure.
    Never,
}

impl Replay {
    /// The default for a method (RFC 9110 idempotent methods are safe to replay).
    pub fn for_method(m: &Method) -> Replay {
        if matches!(
            *m,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        ) {
            Replay::Safe
        } else {
            Replay::Never
        }
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// JSON (`Content-Type: application/json`).
    Json(serde_json::Value),
    /// Bytes with their content type (a form, XML...).
    Bytes {
        /// `Content-Type`.
        content_type: String,
        /// The body.
        bytes: Vec<u8>,
    },
}

/// A request for [`Http::execute`].
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// URL.
    pub url: Url,
    /// Extra headers (beyond the client's authentication), e.g. a computed signature.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body.
    pub body: Option<Body>,
    /// May it be resent after an ambiguous failure? Default: by method.
    pub replay: Replay,
    /// Return error statuses as responses instead of errors.
    pub any_status: bool,
    /// Recognises a throttling reply that is not a 429 (e.g. AWS's `Throttling` code in a
    /// 400), which is then waited on and retried like a rate limit.
    pub throttled: Option<fn(&Response) -> bool>,
    /// Largest response body accepted, in bytes; a larger one is an
    /// [`HttpError::TooLarge`] (read no further than the limit). `None` = no limit.
    pub max_body: Option<usize>,
}

impl Request {
    /// A request with the default replay policy of its method, no body, no extra header.
    pub fn new(method: Method, url: Url) -> Request {
        Request {
            replay: Replay::for_method(&method),
            method,
            url,
            headers: Vec::new(),
            body: None,
            any_status: false,
            throttled: None,
            max_body: None,
        }
    }
}

/// Counters of one client, for reports and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent (including retries).
    pub requests: AtomicU64,
    /// Retries after 5xx / transport errors.
    pub retries: AtomicU64,
    /// Rate-limit replies received.
    pub rate_limited: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests sent (including retries).
    pub requests: u64,
    /// Retries after 5xx / transport errors.
    pub retries: u64,
    /// Rate-limit replies received.
    pub rate_limited: u64,
}

/// A pacing rate limiter shared by every task of one client: requests are spaced
/// `1/rps` apart, and a rate-limit reply pauses everyone until the reset time.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter of `rps` requests per second (`None` = unlimited).
    pub fn new(rps: Option<f64>) -> Self {
        let interval = rps
            .filter(|r| *r > 0.0 && r.is_finite())
            .map(|r| Duration::from_secs_f64(1.0 / r));
        RateLimiter {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval.unwrap_or(Duration::ZERO);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Pauses every caller until `until`.
    pub async fn pause_until(&self, until: Instant) {
        let mut next = self.next.lock().await;
        if *next < until {
            *next = until;
        }
    }
}

struct Inner {
    client: reqwest::Client,
    cfg: HttpConfig,
    auth: Auth,
    origin: url::Origin,
    limiter: RateLimiter,
    sem: Semaphore,
    stats: Stats,
}

/// The shared HTTP client of one provider connection. Cheap to clone; clones share the
/// rate limiter, the semaphore and the counters.
#[derive(Clone)]
pub struct Http {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("origin", &self.inner.origin.ascii_serialization())
            .field("auth", &self.inner.auth)
            .finish()
    }
}

impl Http {
    /// Builds a client for the API at `base` (its origin receives the token).
    pub fn new(base: &Url, auth: Auth, cfg: HttpConfig) -> Result<Self, HttpError> {
        Http::build(base.origin(), auth, cfg, base.as_str())
    }

    /// Builds a client bound to no API origin and carrying no authentication, for
    /// absolute URLs on any host (an OIDC issuer's discovery document and keys, a
    /// service whose callers attach their own per-request credential in
    /// [`Request::headers`]). [`Http::same_origin`] is false for every URL.
    pub fn anonymous(cfg: HttpConfig) -> Result<Self, HttpError> {
        Http::build(url::Origin::new_opaque(), Auth::None, cfg, "-")
    }

    fn build(origin: url::Origin, auth: Auth, cfg: HttpConfig, label: &str) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpError::Transport {
                method: "-".into(),
                url: label.to_string(),
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Http {
            inner: Arc::new(Inner {
                client,
                limiter: RateLimiter::new(cfg.requests_per_second),
                sem: Semaphore::new(cfg.concurrency.max(1)),
                cfg,
                auth,
                origin,
                stats: Stats::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.inner.stats;
        StatsSnapshot {
            requests: s.requests.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            rate_limited: s.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// True when `url` is on the API's origin (and so receives the token).
    pub fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.inner.origin
    }

    /// GET `url` and parse the JSON body.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<(T, Response), HttpError> {
        let resp = self.send(Method::GET, url, None).await?;
        let v = resp.json("GET")?;
        Ok((v, resp))
    }

    /// Sends a request with retries, rate limiting and the concurrency limit. Returns the
    /// response when its status is 2xx or 3xx; any other status is an [`HttpError::Status`].
    /// Retries after a 5xx or a timeout only when the method is idempotent
    /// ([`Replay::for_method`]); see [`Http::send_replay`].
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, HttpError> {
        let replay = Replay::for_method(&method);
        self.send_replay(method, url, body, replay).await
    }

    /// [`Http::send`] with an explicit replay policy (e.g. [`Replay::Safe`] for a POST
    /// that the API documents as an upsert).
    pub async fn send_replay(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        replay: Replay,
    ) -> Result<Response, HttpError> {
        let mut req = Request::new(method, url.clone());
        req.replay = replay;
        req.body = body.map(|b| Body::Json(b.clone()));
        self.execute(req).await
    }

    /// Sends a request of any shape (headers the caller computed, such as an AWS SigV4
    /// signature; a form body; its own throttling signal), with the same timeouts,
    /// retries, rate limits and replay rules as [`Http::send`]. With
    /// [`Request::any_status`], a 4xx (or a 5xx not retried) is returned as a response
    /// for the caller to read instead of an [`HttpError::Status`].
    pub async fn execute(&self, r: Request) -> Result<Response, HttpError> {
        let (method, url, replay) = (r.method.clone(), &r.url, r.replay);
        let inner = &*self.inner;
        let cfg = &inner.cfg;
        let mut attempt: u32 = 0;
        let mut rl_attempt: u32 = 0;
        loop {
            inner.limiter.acquire().await;
            let result = {
                let _permit = inner.sem.acquire().await.expect("semaphore never closed");
                inner.stats.requests.fetch_add(1, Ordering::Relaxed);
                let mut req = inner.client.request(method.clone(), url.clone());
                if self.same_origin(url) {
                    req = match &inner.auth {
                        Auth::None => req,
                        Auth::Header { name, token } => {
                            let mut v =
                                HeaderValue::from_str(token.expose()).map_err(|_| HttpError::BadUrl {
                                    url: url.to_string(),
                                    message: "token is not a valid header value".into(),
                                })?;
                            v.set_sensitive(true);
                            req.header(HeaderName::from_static(name), v)
                        }
                        Auth::Bearer(token) => {
                            let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                                .map_err(|_| HttpError::BadUrl {
                                    url: url.to_string(),
                                    message: "token is not a valid header value".into(),
                                })?;
                            v.set_sensitive(true);
                            req.header(reqwest::header::AUTHORIZATION, v)
                        }
                    };
                }
                for (k, v) in &r.headers {
                    req = req.header(k.clone(), v.clone());
                }
                match &r.body {
                    Some(Body::Json(b)) => req = req.json(b),
                    Some(Body::Bytes { content_type, bytes }) => {
                        req = req
                            .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                            .body(bytes.clone())
                    }
                    None => {}
                }
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let headers = resp.headers().clone();
                        let final_url = resp.url().clone();
                        match read_body(resp, r.max_body).await {
                            Ok(body) => Ok(Response {
                                status,
                                headers,
                                body,
                                url: final_url,
                            }),
                            Err(BodyError::TooLarge(limit)) => {
                                return Err(HttpError::TooLarge {
                                    method: method.to_string(),
                                    url: url.to_string(),
                                    limit,
                                })
                            }
                            Err(BodyError::Read(e)) => Err((transport_message(&e), false)),
                        }
                    }
                    Err(e) => Err((transport_message(&e), e.is_connect())),
                }
            };
            match result {
                Ok(resp) if resp.status < 400 => return Ok(resp),
                Ok(resp) => {
                    let throttled = r.throttled.is_some_and(|f| f(&resp));
                    let rl = rate_limit_wait(&resp).or(throttled.then_some(None));
                    if let Some(wait) = rl {
                        inner.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        if rl_attempt < cfg.max_rate_limit_retries {
                            rl_attempt += 1;
                            let wait = wait.unwrap_or_else(|| backoff(cfg, rl_attempt)).min(cfg.max_wait);
                            tracing::info!(%method, %url, status = resp.status, wait_ms = wait.as_millis() as u64, "rate limited; pausing");
                            inner.limiter.pause_until(Instant::now() + wait).await;
                            continue;
                        }
                    } else if resp.status >= 500 && replay == Replay::Safe && attempt < cfg.max_retries {
                        attempt += 1;
                        inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                        let d = backoff(cfg, attempt);
                        tracing::debug!(%method, %url, status = resp.status, delay_ms = d.as_millis() as u64, "server error; retrying");
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    if r.any_status {
                        return Ok(resp);
                    }
                    return Err(HttpError::Status {
                        method: method.to_string(),
                        url: url.to_string(),
                        status: resp.status,
                        message: short_message(&resp.body),
                    });
                }
                Err((message, never_sent)) => {
                    // a connection that could not be made never carried the request
                    if (never_sent || replay == Replay::Safe) && attempt < cfg.max_retries {
                        attempt += 1;
                        inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                        let d = backoff(cfg, attempt);
                        tracing::debug!(%method, %url, %message, delay_ms = d.as_millis() as u64, "transport error; retrying");
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(HttpError::Transport {
                        method: method.to_string(),
                        url: url.to_string(),
                        message,
                    });
                }
            }
        }
    }
}

enum BodyError {
    TooLarge(usize),
    Read(reqwest::Error),
}

/// Reads a response body, stopping as soon as it exceeds `limit` bytes (a declared
/// `Content-Length` above the limit is refused before reading anything).
async fn read_body(mut resp: reqwest::Response, limit: Option<usize>) -> Result<Vec<u8>, BodyError> {
    let Some(limit) = limit else {
        return resp.bytes().await.map(|b| b.to_vec()).map_err(BodyError::Read);
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_message(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL (never a header), which is fine; add the kind.
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body read failed"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Jittered exponential backoff: `base * 2^(n-1)`, capped, then a random value in `[d/2, d]`.
pub fn backoff(cfg: &HttpConfig, attempt: u32) -> Duration {
    let exp = cfg
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let d = exp.min(cfg.backoff_max);
    let half = d / 2;
    let jitter = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

/// When the response is a rate-limit reply, `Some(wait)` (`wait` = `None` when the server
/// gave no usable hint). `429` always is; `403` is when `X-RateLimit-Remaining` is 0 or
/// `Retry-After` is present.
pub fn rate_limit_wait(resp: &Response) -> Option<Option<Duration>> {
    let is_rl = match resp.status {
        429 => true,
        403 => {
            resp.header("x-ratelimit-remaining").map(str::trim) == Some("0")
                || resp.header("retry-after").is_some()
        }
        _ => false,
    };
    if !is_rl {
        return None;
    }
    let now = chrono::Utc::now();
    if let Some(ra) = resp.header("retry-after") {
        if let Some(d) = parse_retry_after(ra, now) {
            return Some(Some(d));
        }
    }
    for h in ["x-ratelimit-reset", "ratelimit-reset"] {
        if let Some(v) = resp.header(h) {
            if let Some(d) = parse_reset(v, now) {
                return Some(Some(d));
            }
        }
    }
    Some(None)
}

/// Parses `Retry-After`: delta seconds (fractions accepted) or an HTTP date.
pub fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(1e6)));
        }
        return None;
    }
    let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (t.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Parses a reset header: epoch seconds (values above 10^9, GitHub and GitLab) or delta
/// seconds (the IETF `RateLimit-Reset` draft).
pub fn parse_reset(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let n: f64 = v.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = if n > 1e9 {
        let now_s = now.timestamp_millis() as f64 / 1000.0;
        (n - now_s).max(0.0) + 0.05
    } else {
        n
    };
    // Clamped like `Retry-After` (callers cap waits at `max_wait` anyway): a server
    // sending `1e300` must not panic `Duration::from_secs_f64`.
    Some(Duration::from_secs_f64(secs.min(1e6)))
}

fn short_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let m = v.get("message").or_else(|| v.get("error"))?.as_str()?;
    // a provider's message may quote what it was sent: through the redaction path
    let m = firebreak_core::scrub::scrub(m);
    if m.chars().count() > 200 {
        return Some(format!("{}…", m.chars().take(200).collect::<String>()));
    }
    Some(m)
}

/// Guards one paginated listing: a repeated page token / URL, or too many pages, is an error.
#[derive(Debug)]
pub struct PageGuard {
    seen: HashSet<String>,
    pages: usize,
    max: usize,
}

impl PageGuard {
    /// A guard allowing at most `max_pages` pages.
    pub fn new(max_pages: usize) -> Self {
        PageGuard {
            seen: HashSet::new(),
            pages: 0,
            max: max_pages,
        }
    }
    /// Records the next page's token (or URL) returned by the request to `url`; fails
    /// when it was already seen or the page limit is reached.
    pub fn next(&mut self, url: &Url, token: &str) -> Result<(), HttpError> {
        self.pages += 1;
        if self.pages >= self.max {
            return Err(HttpError::TooManyPages {
                url: url.to_string(),
                max: self.max,
            });
        }
        if !self.seen.insert(token.to_string()) {
            return Err(HttpError::PageLoop {
                url: url.to_string(),
                token: token.to_string(),
            });
        }
        Ok(())
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
pub fn link_next(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(reqwest::header::LINK) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(',') {
            let part = part.trim();
            let Some(end) = part.find('>') else { continue };
            if !part.starts_with('<') {
                continue;
            }
            let target = &part[1..end];
            let params = &part[end + 1..];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return Some(target.to_string());
            }
        }
    }
    None
}

/// A list response that may be an array or, as in Prism mocks of GitLab's description,
/// a single object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// The usual array.
    Many(Vec<T>),
    /// One object.
    One(T),
}

impl<T> OneOrMany<T> {
    /// The items as a vector.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::Many(v) => v,
            OneOrMany::One(x) => vec![x],
        }
    }
}

/// Joins `segments` (each percent-encoded as ONE path segment) onto `base`.
pub fn join(base: &Url, segments: &[&str]) -> Url {
    let mut u = base.clone();
    {
        let mut p = u.path_segments_mut().expect("http(s) URLs have paths");
        p.pop_if_empty();
        for s in segments {
            // split literal "a/b" segments given as static path pieces
            p.push(s);
        }
    }
    u
}

/// Joins a static path (slashes separate segments) then `encoded` (each one segment).
pub fn url_for(base: &Url, path: &str, params: &[&str]) -> Url {
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segs.extend_from_slice(params);
    join(base, &segs)
}

/// Parses a timestamp leniently: RFC 3339, or CircleCI's `#joda/inst 2023-04-14T21:20:14+0000`.
pub fn parse_ts(s: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s?.trim();
    let s = s.strip_prefix("#joda/inst ").unwrap_or(s);
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&chrono::Utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::failing_server;

    fn quick() -> HttpConfig {
        HttpConfig {
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            max_retries: 3,
            ..HttpConfig::default()
        }
    }

    /// A create request is never sent twice after a 5xx; idempotent ones are retried.
    #[tokio::test]
    async fn a_create_request_is_never_sent_twice_after_a_5xx() {
        let (base, seen) = failing_server(502).await;
        let h = Http::new(&base, Auth::None, quick()).unwrap();
        let u = base.join("repos/acme/app/keys").unwrap();
        let e = h
            .send(
                Method::POST,
                &u,
                Some(&serde_json::json!({"key": "ssh-ed25519 AAAA"})),
            )
            .await;
        assert_eq!(e.unwrap_err().status(), Some(502));
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "POST resent: {:?}",
            seen.lock().unwrap()
        );
        let e = h.send(Method::PATCH, &u, None).await;
        assert!(e.is_err());
        assert_eq!(seen.lock().unwrap().len(), 2);
        // GET / PUT / DELETE are retried (1 + max_retries each)
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            seen.lock().unwrap().clear();
            assert!(h.send(m.clone(), &u, None).await.is_err());
            assert_eq!(seen.lock().unwrap().len(), 4, "{m}");
        }
        // an explicitly replayable POST (a documented upsert) is retried too
        seen.lock().unwrap().clear();
        assert!(h.send_replay(Method::POST, &u, None, Replay::Safe).await.is_err());
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    /// A connection that cannot be made never carried the request: retried for any method.
    #[tokio::test]
    async fn a_refused_connection_is_retried_even_for_a_create() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let h = Http::new(&base, Auth::None, quick()).unwrap();
        let e = h.send(Method::POST, &base, None).await.unwrap_err();
        assert!(matches!(e, HttpError::Transport { .. }), "{e}");
        assert_eq!(h.stats().requests, 4, "connect failures are retried");
    }

    /// A server recording the `Authorization` header of each request (or `-`).
    async fn auth_recorder() -> (Url, Arc<std::sync::Mutex<Vec<String>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let app = axum::Router::new().fallback(move |h: axum::http::HeaderMap| {
            let s2 = s2.clone();
            async move {
                let a = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string();
                s2.lock().unwrap().push(a);
                "{\"ok\":true}"
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (Url::parse(&format!("http://{addr}/")).unwrap(), seen)
    }

    /// An anonymous client fetches absolute URLs on any origin, sends no credential of
    /// its own, and passes on a header the caller attached to one request.
    #[tokio::test]
    async fn anonymous_client_fetches_any_origin_without_auth() {
        let (a, seen_a) = auth_recorder().await;
        let (b, seen_b) = auth_recorder().await;
        assert_ne!(a.origin(), b.origin());
        let h = Http::anonymous(quick()).unwrap();
        assert!(!h.same_origin(&a) && !h.same_origin(&b));
        let (v, _) = h
            .get_json::<serde_json::Value>(&a.join("x").unwrap())
            .await
            .unwrap();
        assert_eq!(v["ok"], true);
        let mut req = Request::new(Method::POST, b.join("y").unwrap());
        req.headers.push((
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer per-request"),
        ));
        assert_eq!(h.execute(req).await.unwrap().status, 200);
        assert_eq!(*seen_a.lock().unwrap(), vec!["-".to_string()]);
        assert_eq!(*seen_b.lock().unwrap(), vec!["Bearer per-request".to_string()]);
        // An origin-bound client still keeps its token to its own origin.
        let bound = Http::new(&a, Auth::Bearer(SecretString::new("t0ken")), quick()).unwrap();
        bound.send(Method::GET, &b, None).await.unwrap();
        bound.send(Method::GET, &a, None).await.unwrap();
        assert_eq!(seen_b.lock().unwrap().last().map(String::as_str), Some("-"));
        assert_eq!(
            seen_a.lock().unwrap().last().map(String::as_str),
            Some("Bearer t0ken")
        );
    }

    /// A server answering every connection with a chunked body of `chunks` x 1000 bytes
    /// (no `Content-Length`: the limit must be enforced while reading), or with a declared
    /// `Content-Length` when `declared`.
    async fn body_server(chunks: usize, declared: bool) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let chunk = vec![b'a'; 1000];
                    if declared {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            chunks * 1000
                        );
                        let _ = s.write_all(head.as_bytes()).await;
                        for _ in 0..chunks {
                            let _ = s.write_all(&chunk).await;
                        }
                    } else {
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                            )
                            .await;
                        for _ in 0..chunks {
                            let _ = s.write_all(b"3e8\r\n").await;
                            let _ = s.write_all(&chunk).await;
                            let _ = s.write_all(b"\r\n").await;
                        }
                        let _ = s.write_all(b"0\r\n\r\n").await;
                    }
                    let _ = s.shutdown().await;
                });
            }
        });
        Url::parse(&format!("http://{addr}/doc")).unwrap()
    }

    /// `Request::max_body` refuses a larger body, declared or streamed, without retrying;
    /// a body within the limit is read whole.
    #[tokio::test]
    async fn max_body_refuses_larger_responses() {
        let h = Http::anonymous(quick()).unwrap();
        for declared in [false, true] {
            let u = body_server(3, declared).await;
            let mut req = Request::new(Method::GET, u.clone());
            req.max_body = Some(1500);
            let e = h.execute(req).await.unwrap_err();
            assert_eq!(
                e,
                HttpError::TooLarge {
                    method: "GET".into(),
                    url: u.to_string(),
                    limit: 1500
                },
                "declared={declared}"
            );
            let mut req = Request::new(Method::GET, u.clone());
            req.max_body = Some(3000);
            assert_eq!(
                h.execute(req).await.unwrap().body.len(),
                3000,
                "declared={declared}"
            );
            // no limit: read whole
            assert_eq!(
                h.execute(Request::new(Method::GET, u)).await.unwrap().body.len(),
                3000
            );
        }
        let s = h.stats();
        assert_eq!(s.retries, 0, "a too-large body is not retried");
        assert_eq!(s.requests, 6);
    }

    #[test]
    fn absurd_reset_headers_do_not_panic() {
        // Found by the providers_http fuzz target: `Duration::from_secs_f64` panicked.
        let now = chrono::Utc::now();
        for v in ["1e300", "1.7976931348623157e308", "99999999999999999999999"] {
            assert_eq!(parse_reset(v, now), Some(Duration::from_secs(1_000_000)), "{v}");
        }
        assert_eq!(parse_reset("inf", now), None);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1e300"));
        let resp = Response {
            status: 403,
            headers: h,
            body: Vec::new(),
            url: Url::parse("https://api.example.invalid/x").unwrap(),
        };
        assert_eq!(rate_limit_wait(&resp), Some(Some(Duration::from_secs(1_000_000))));
    }

    #[test]
    fn link_header_next() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/x?page=1>; rel=\"prev\", <https://api.github.com/x?page=3>; rel=\"next\"",
            ),
        );
        assert_eq!(link_next(&h).as_deref(), Some("https://api.github.com/x?page=3"));
        h.insert(
            "link",
            HeaderValue::from_static("<https://a/x?page=1>; rel=\"first\""),
        );
        assert_eq!(link_next(&h), None);
    }

    #[test]
    fn retry_after_and_reset() {
        let now = chrono::DateTime::parse_from_rfc3339("2023-01-04T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 04 Jan 2023 00:00:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let epoch = now.timestamp() + 7;
        let d = parse_reset(&epoch.to_string(), now).unwrap();
        assert!(d >= Duration::from_secs(7) && d < Duration::from_secs(8));
        assert_eq!(parse_reset("2", now), Some(Duration::from_secs(2)));
    }

    #[test]
    fn page_guard_detects_repeats() {
        let u = Url::parse("http://x/y").unwrap();
        let mut g = PageGuard::new(10);
        g.next(&u, "a").unwrap();
        g.next(&u, "b").unwrap();
        assert!(matches!(g.next(&u, "a"), Err(HttpError::PageLoop { .. })));
        let mut g = PageGuard::new(2);
        g.next(&u, "a").unwrap();
        assert!(matches!(g.next(&u, "b"), Err(HttpError::TooManyPages { .. })));
    }

    #[test]
    fn slug_is_one_segment() {
        let b = Url::parse("http://h/api/v2").unwrap();
        let u = url_for(&b, "project", &["gh/org/repo", "envvar"]);
        assert_eq!(u.as_str(), "http://h/api/v2/project/gh%2Forg%2Frepo/envvar");
    }

    #[test]
    fn timestamps() {
        assert!(parse_ts(Some("#joda/inst 2023-04-14T21:20:14+0000")).is_some());
        assert!(parse_ts(Some("2015-09-21T17:29:21.042Z")).is_some());
        assert!(parse_ts(Some("nope")).is_none());
    }

    #[test]
    fn one_or_many() {
        let v: OneOrMany<serde_json::Value> = serde_json::from_str("{\"a\":1}").unwrap();
        assert_eq!(v.into_vec().len(), 1);
        let v: OneOrMany<serde_json::Value> = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(v.into_vec().len(), 2);
    }

    #[test]
    fn backoff_is_bounded() {
        let cfg = HttpConfig::default();
        for n in 1..30 {
            assert!(backoff(&cfg, n) <= cfg.backoff_max);
        }
    }
}
