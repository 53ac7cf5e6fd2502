//! The HTTP service: state, router, handlers, middleware (request id, rate limit, limits).

use crate::audit::{AuditEvent, AuditLog};
use crate::config::{valid_project_name, valid_provider_name, Config, OidcProvider, TrustedPublisher};
use crate::oidc::{match_publisher, Verifier};
use crate::publish::{self, PublishError, Published};
use crate::store::{self, RevokeScope, Store, TokenRecord};
use crate::token;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, TimeZone, Utc};
use firebreak_core::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Every route the router serves, as (method, path template). The OpenAPI test checks the
/// spec against this list and the router test checks the router against it.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("post", "/v1/admin/projects"),
    ("post", "/v1/admin/projects/{project}/publishers"),
    ("get", "/v1/admin/tokens"),
    ("post", "/v1/admin/tokens"),
    ("delete", "/v1/admin/tokens/{token_id}"),
    ("post", "/v1/admin/revoke"),
    ("post", "/v1/projects/{project}/publish"),
    ("post", "/v1/tokens/verify"),
    ("post", "/v1/oidc/exchange"),
];

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn rfc3339_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| DateTime::<Utc>::from_timestamp(0, 0).expect("epoch"))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Token metadata as the API returns it (never the token).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    /// Public token id.
    pub id: String,
    /// Project.
    pub project: String,
    /// Provider.
    pub provider: String,
    /// `admin` or `oidc`.
    pub origin: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
    /// RFC 3339, last use.
    pub last_used_at: Option<String>,
}

impl From<&TokenRecord> for TokenInfo {
    fn from(r: &TokenRecord) -> Self {
        TokenInfo {
            id: r.id.clone(),
            project: r.project.clone(),
            provider: r.provider.clone(),
            origin: r.origin.clone(),
            created_at: rfc3339_ms(r.created_at),
            expires_at: rfc3339_ms(r.expires_at),
            revoked_at: r.revoked_at.map(rfc3339_ms),
            last_used_at: r.last_used_at.map(rfc3339_ms),
        }
    }
}

/// A freshly issued token: the only time the secret is returned.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token itself.
    pub token: SecretString,
    /// Its stored metadata.
    pub record: TokenRecord,
}

/// How often a token's `last_used_at` is written at most (validations that miss the cache
/// and find a fresher value skip the write).
const TOUCH_INTERVAL_MS: i64 = 1000;

/// In-memory cache of validated tokens keyed by hash, invalidated by a local revocation
/// generation and by age (`tokens.cache_ttl_ms`, at most 1 s: the bound within which a
/// revocation on another replica takes effect here).
struct TokenCache {
    ttl: Duration,
    generation: AtomicU64,
    map: RwLock<CacheMap>,
}

/// Token hash -> (record, time of the lookup that produced it).
type CacheMap = HashMap<[u8; 32], (Arc<TokenRecord>, Instant)>;

impl TokenCache {
    fn get(&self, h: &[u8; 32]) -> Option<Arc<TokenRecord>> {
        if self.ttl.is_zero() {
            return None;
        }
        let m = self.map.read().unwrap_or_else(|e| e.into_inner());
        m.get(h)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(r, _)| r.clone())
    }
    fn put(&self, h: [u8; 32], r: Arc<TokenRecord>, seen_generation: u64, fetched_at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut m = self.map.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::SeqCst) != seen_generation {
            return;
        }
        if m.len() >= 100_000 {
            let ttl = self.ttl;
            m.retain(|_, (_, at)| at.elapsed() < ttl);
            if m.len() >= 100_000 {
                m.clear();
            }
        }
        // Age counts from before the lookup, so an entry never outlives `ttl` after the
        // database state it reflects.
        m.insert(h, (r, fetched_at));
    }
    fn invalidate(&self) {
        let mut m = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        m.clear();
    }
}

/// Per-client token buckets, sharded to limit lock contention.
struct RateLimiter {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<IpAddr, (f64, Instant)>>>,
}

impl RateLimiter {
    fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            shards: (0..16).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
    fn allow(&self, ip: IpAddr) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let idx = match ip {
            IpAddr::V4(v) => v.octets()[3] as usize,
            IpAddr::V6(v) => v.octets()[15] as usize,
        } % self.shards.len();
        let mut m = self.shards[idx].lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if m.len() > 50_000 {
            let horizon = Duration::from_secs_f64((self.burst / self.rate).max(1.0));
            m.retain(|_, (_, t)| now.duration_since(*t) < horizon);
        }
        let e = m.entry(ip).or_insert((self.burst, now));
        let refill = now.duration_since(e.1).as_secs_f64() * self.rate;
        e.0 = (e.0 + refill).min(self.burst);
        e.1 = now;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Shared service state.
pub struct AppState {
    cfg: Config,
    store: Arc<dyn Store>,
    audit: AuditLog,
    admin_hash: [u8; 32],
    verifier: Verifier,
    cache: TokenCache,
    limiter: RateLimiter,
}

/// Per-request context (set by the middleware).
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Client address.
    pub client_ip: String,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: String,
}

/// An API error: status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "message": self.message, "request_id": self.request_id});
        (self.status, Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn err(ctx: &Ctx, status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
        request_id: ctx.request_id.clone(),
    }
}

fn internal(ctx: &Ctx, e: anyhow::Error) -> ApiError {
    tracing::error!(request_id = %ctx.request_id, "internal error: {e:#}");
    err(
        ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error (see server log)",
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Why token authentication failed.
struct AuthDenied {
    status: StatusCode,
    code: &'static str,
    reason: String,
    token_id: Option<String>,
}

impl AppState {
    /// Builds the state: opens the store, the audit log, seeds configured projects and publishers.
    pub async fn build(cfg: Config) -> anyhow::Result<Arc<AppState>> {
        let admin = cfg.read_admin_token()?;
        let store = store::open(
            &cfg.database_url,
            cfg.database_schema.as_deref(),
            cfg.database_pool_size,
        )
        .await?;
        let audit = AuditLog::open(&cfg.audit_log)?;
        for d in [&cfg.staging_dir, &cfg.published_dir] {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", d.display()))?;
        }
        let now = now_ms();
        for p in &cfg.projects {
            store.create_project(&p.name, now).await?;
            for g in &p.github {
                store
                    .add_publisher(&p.name, &TrustedPublisher::Github(g.clone()), now)
                    .await?;
            }
            for c in &p.circleci {
                store
                    .add_publisher(&p.name, &TrustedPublisher::Circleci(c.clone()), now)
                    .await?;
            }
        }
        let state = AppState {
            admin_hash: Sha256::digest(admin.expose().as_bytes()).into(),
            verifier: Verifier::new(cfg.oidc.clone()),
            cache: TokenCache {
                ttl: Duration::from_millis(cfg.tokens.cache_ttl_ms),
                generation: AtomicU64::new(0),
                map: RwLock::new(HashMap::new()),
            },
            limiter: RateLimiter::new(cfg.limits.rate_limit_per_sec, cfg.limits.rate_limit_burst),
            cfg,
            store,
            audit,
        };
        Ok(Arc::new(state))
    }

    /// The store (tests use it to plant records, e.g. already-expired tokens).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The OIDC verifier (tests and drills pre-load issuer keys with
    /// [`Verifier::preload_keys`]).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Issues a token for (project, provider) expiring at `expires_at` (Unix ms). No audit:
    /// the HTTP handlers audit; in-process callers (tests, drills) are trusted.
    pub async fn issue_token(
        &self,
        project: &str,
        provider: &str,
        origin: &str,
        expires_at: i64,
    ) -> anyhow::Result<IssuedToken> {
        let tok = token::generate();
        let h = token::hash(tok.expose());
        let record = TokenRecord {
            id: token::token_id_from_hash(&h),
            hash_hex: hex::encode(h),
            project: project.to_string(),
            provider: provider.to_string(),
            origin: origin.to_string(),
            created_at: now_ms(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        self.store.insert_token(&record).await?;
        Ok(IssuedToken { token: tok, record })
    }

    /// Revokes tokens in scope and invalidates this node's validation cache at once.
    pub async fn revoke(&self, scope: &RevokeScope) -> anyhow::Result<Vec<String>> {
        let ids = self.store.revoke(scope, now_ms()).await;
        self.cache.invalidate();
        ids
    }

    fn audit(&self, ctx: &Ctx, mut ev: AuditEvent) {
        ev.time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        ev.client_ip = ctx.client_ip.clone();
        ev.user_agent = ctx.user_agent.clone();
        ev.request_id = ctx.request_id.clone();
        self.audit.write(&ev);
    }

    fn check_admin(&self, headers: &HeaderMap) -> bool {
        match bearer(headers) {
            Some(b) => {
                let h: [u8; 32] = Sha256::digest(b.as_bytes()).into();
                bool::from(h.ct_eq(&self.admin_hash))
            }
            None => false,
        }
    }

    /// Validates an upload token: format and checksum first (no lookup), then cache or store,
    /// then revocation and expiry. Returns the record when usable.
    async fn authenticate(
        &self,
        presented: Option<&str>,
        touch: bool,
    ) -> Result<Arc<TokenRecord>, AuthDenied> {
        let deny = |reason: &str, token_id: Option<String>| AuthDenied {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_token",
            reason: reason.to_string(),
            token_id,
        };
        let Some(t) = presented else {
            return Err(deny("missing bearer token", None));
        };
        if let Err(e) = token::validate_format(t) {
            return Err(deny(&format!("malformed token: {e}"), None));
        }
        let h = token::hash(t);
        let rec = match self.cache.get(&h) {
            Some(r) => r,
            None => {
                let generation = self.cache.generation.load(Ordering::SeqCst);
                let fetched_at = Instant::now();
                let found = self.store.token_by_hash(&hex::encode(h)).await.map_err(|e| {
                    tracing::error!("token lookup failed: {e:#}");
                    AuthDenied {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        code: "unavailable",
                        reason: "token store unavailable".into(),
                        token_id: Some(token::token_id_from_hash(&h)),
                    }
                })?;
                let Some(r) = found else {
                    return Err(deny("unknown token", Some(token::token_id_from_hash(&h))));
                };
                let mut stored = [0u8; 32];
                let same =
                    hex::decode_to_slice(&r.hash_hex, &mut stored).is_ok() && bool::from(stored.ct_eq(&h));
                if !same {
                    return Err(deny("unknown token", Some(token::token_id_from_hash(&h))));
                }
                let r = Arc::new(r);
                if r.revoked_at.is_none() {
                    let now = now_ms();
                    if touch && r.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL_MS) {
                        let _ = self.store.touch_token(&r.id, now).await;
                    }
                    self.cache.put(h, r.clone(), generation, fetched_at);
                }
                r
            }
        };
        if rec.revoked_at.is_some() {
            return Err(deny("token revoked", Some(rec.id.clone())));
        }
        if rec.expires_at <= now_ms() {
            return Err(deny("token expired", Some(rec.id.clone())));
        }
        Ok(rec)
    }
}

/// Builds the router with all layers.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = state.cfg.limits.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/admin/projects", post(create_project))
        .route("/v1/admin/projects/{project}/publishers", post(add_publisher))
        .route("/v1/admin/tokens", get(list_tokens).post(issue))
        .route("/v1/admin/tokens/{token_id}", delete(revoke_one))
        .route("/v1/admin/revoke", post(revoke_bulk))
        .route("/v1/projects/{project}/publish", post(publish_artifact))
        .route("/v1/tokens/verify", post(verify))
        .route("/v1/tokens/revoke-self", post(revoke_self))
        .route("/v1/oidc/exchange", post(oidc_exchange))
        .route_layer(axum::middleware::from_fn(log_mw))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), context_mw))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            limits.max_body_bytes,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(limits.request_timeout_secs.max(1)),
        ))
        .with_state(state)
}

/// Logs each routed request at debug level: request id, method, the route's
/// template (never the raw path or query, which a careless client may fill with a
/// token), status and latency. Costs nothing measurable when debug is off.
async fn log_mw(req: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let request_id = req
        .extensions()
        .get::<Arc<Ctx>>()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let resp = next.run(req).await;
    tracing::debug!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

fn new_request_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

async fn context_mw(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let fwd = if st.cfg.limits.trust_forwarded_for {
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    } else {
        None
    };
    let ip = fwd.or(peer).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    // Validated above as [A-Za-z0-9._-] or generated hex: always a valid header value.
    let request_id_header = HeaderValue::from_str(&request_id).ok();
    let ctx = Ctx {
        client_ip: ip.to_string(),
        user_agent: req
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
        request_id,
    };
    let mut resp = if st.limiter.allow(ip) {
        // In an Arc: handlers extract it by clone, once per request.
        req.extensions_mut().insert(Arc::new(ctx));
        next.run(req).await
    } else {
        let mut r = err(
            &ctx,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this client",
        )
        .into_response();
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        r
    };
    if let Some(v) = request_id_header {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

async fn not_found(Extension(ctx): Extension<Arc<Ctx>>) -> ApiError {
    err(&ctx, StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    Json(json!({"status": "ok", "backend": st.store.backend()})).into_response()
}

fn body<T>(ctx: &Ctx, b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(|e| {
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            e.status()
        } else {
            StatusCode::BAD_REQUEST
        };
        err(
            ctx,
            status,
            "bad_request",
            format!("request body: {}", e.body_text()),
        )
    })
}

/// A query string the handler's type rejects (duplicate or unknown field, wrong type)
/// is a 400 with the service's JSON error, not axum's plain-text rejection.
fn query<T>(ctx: &Ctx, q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| {
        err(
            ctx,
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("query string: {}", e.body_text()),
        )
    })
}

/// A path parameter that does not decode (invalid percent-encoding or UTF-8) is a 400
/// with the service's JSON error.
fn path_param(ctx: &Ctx, p: Result<UrlPath<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|UrlPath(v)| v).map_err(|_| {
        err(
            ctx,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "path parameter is not valid percent-encoded UTF-8",
        )
    })
}

fn ev(action: &str, actor: &str) -> AuditEvent {
    AuditEvent {
        action: action.into(),
        actor: actor.into(),
        outcome: "allowed".into(),
        ..Default::default()
    }
}

impl AppState {
    /// Audits and returns a denial.
    fn deny(
        &self,
        ctx: &Ctx,
        mut e: AuditEvent,
        status: StatusCode,
        code: &'static str,
        reason: impl Into<String>,
    ) -> ApiError {
        let reason = reason.into();
        e.outcome = "denied".into();
        e.reason = Some(reason.clone());
        self.audit(ctx, e);
        err(ctx, status, code, reason)
    }

    fn admin_or_deny(&self, ctx: &Ctx, headers: &HeaderMap, action: &str) -> Result<(), ApiError> {
        if self.check_admin(headers) {
            Ok(())
        } else {
            Err(self.deny(
                ctx,
                ev(action, "anonymous"),
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "invalid admin credential",
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    name: String,
}

async fn create_project(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
    b: Result<Json<CreateProject>, JsonRejection>,
) -> ApiResult {
    st.admin_or_deny(&ctx, &headers, "project.create")?;
    let b = body(&ctx, b)?;
    let mut e = ev("project.create", "admin");
    e.project = Some(b.name.clone());
    if !valid_project_name(&b.name) {
        return Err(st.deny(
            &ctx,
            e,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "project name must match [A-Za-z0-9._-]{1,64}",
        ));
    }
    let created = st
        .store
        .create_project(&b.name, now_ms())
        .await
        .map_err(|e| internal(&ctx, e))?;
    st.audit(&ctx, e);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"name": b.name, "created": created}))).into_response())
}

async fn add_publisher(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    project: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
    b: Result<Json<TrustedPublisher>, JsonRejection>,
) -> ApiResult {
    st.admin_or_deny(&ctx, &headers, "publisher.add")?;
    let project = path_param(&ctx, project)?;
    let p = body(&ctx, b)?;
    let mut e = ev("publisher.add", "admin");
    e.project = Some(project.clone());
    e.provider = Some(p.provider().as_str().into());
    if !st
        .store
        .project_exists(&project)
        .await
        .map_err(|e| internal(&ctx, e))?
    {
        return Err(st.deny(&ctx, e, StatusCode::NOT_FOUND, "not_found", "no such project"));
    }
    let added = st
        .store
        .add_publisher(&project, &p, now_ms())
        .await
        .map_err(|e| internal(&ctx, e))?;
    st.audit(&ctx, e);
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"project": project, "added": added, "publisher": p})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueReq {
    project: String,
    provider: String,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// Response of token issue and OIDC exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueResponse {
    /// The token: shown once.
    pub token: String,
    /// Metadata.
    #[serde(flatten)]
    pub info: TokenInfo,
}

async fn issue(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
    b: Result<Json<IssueReq>, JsonRejection>,
) -> ApiResult {
    st.admin_or_deny(&ctx, &headers, "token.issue")?;
    let b = body(&ctx, b)?;
    let mut e = ev("token.issue", "admin");
    e.project = Some(b.project.clone());
    e.provider = Some(b.provider.clone());
    if !valid_provider_name(&b.provider) {
        return Err(st.deny(
            &ctx,
            e,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "provider must match [a-z0-9_-]{1,32}",
        ));
    }
    let ttl = b.ttl_secs.unwrap_or(st.cfg.tokens.default_ttl_secs);
    if ttl == 0 || ttl > st.cfg.tokens.max_ttl_secs {
        return Err(st.deny(
            &ctx,
            e,
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("ttl_secs must be in 1..={}", st.cfg.tokens.max_ttl_secs),
        ));
    }
    if !st
        .store
        .project_exists(&b.project)
        .await
        .map_err(|e| internal(&ctx, e))?
    {
        return Err(st.deny(&ctx, e, StatusCode::NOT_FOUND, "not_found", "no such project"));
    }
    let it = st
        .issue_token(&b.project, &b.provider, "admin", now_ms() + (ttl as i64) * 1000)
        .await
        .map_err(|e| internal(&ctx, e))?;
    e.token_id = Some(it.record.id.clone());
    st.audit(&ctx, e);
    let resp = IssueResponse {
        token: it.token.expose().to_string(),
        info: TokenInfo::from(&it.record),
    };
    Ok((StatusCode::CREATED, Json(resp)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    project: Option<String>,
    provider: Option<String>,
}

async fn list_tokens(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    st.admin_or_deny(&ctx, &headers, "token.list")?;
    let q = query(&ctx, q)?;
    let recs = st
        .store
        .list_tokens(q.project.as_deref(), q.provider.as_deref())
        .await
        .map_err(|e| internal(&ctx, e))?;
    let tokens: Vec<TokenInfo> = recs.iter().map(TokenInfo::from).collect();
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// `POST /v1/tokens/revoke-self`: whoever holds a token can revoke it (a leaked token
/// found in a log is revoked by the finder, as GitLab's `personal_access_tokens/self`).
async fn revoke_self(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
) -> ApiResult {
    let rec = match st.authenticate(bearer(&headers), true).await {
        Ok(r) => r,
        Err(d) => {
            let mut e = ev("token.revoke_self", "anonymous");
            if let Some(id) = &d.token_id {
                e.actor = format!("token:{id}");
            }
            e.token_id = d.token_id.clone();
            return Err(st.deny(&ctx, e, d.status, d.code, d.reason));
        }
    };
    let mut e = ev("token.revoke_self", &format!("token:{}", rec.id));
    e.token_id = Some(rec.id.clone());
    e.project = Some(rec.project.clone());
    e.provider = Some(rec.provider.clone());
    let ids = st
        .revoke(&RevokeScope::Token(rec.id.clone()))
        .await
        .map_err(|e| internal(&ctx, e))?;
    e.count = Some(ids.len() as u64);
    st.audit(&ctx, e);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_one(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    token_id: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    st.admin_or_deny(&ctx, &headers, "token.revoke")?;
    let token_id = path_param(&ctx, token_id)?;
    let mut e = ev("token.revoke", "admin");
    e.token_id = Some(token_id.chars().take(64).collect());
    let ids = st
        .revoke(&RevokeScope::Token(token_id.clone()))
        .await
        .map_err(|e| internal(&ctx, e))?;
    if ids.is_empty() {
        let known = st
            .store
            .list_tokens(None, None)
            .await
            .map_err(|e| internal(&ctx, e))?
            .iter()
            .any(|t| t.id == token_id);
        if !known {
            return Err(st.deny(&ctx, e, StatusCode::NOT_FOUND, "not_found", "no such token"));
        }
    }
    e.count = Some(ids.len() as u64);
    st.audit(&ctx, e);
    Ok(Json(json!({"action": "token.revoke", "count": ids.len(), "revoked": ids})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeReq {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    all_projects: bool,
}

async fn revoke_bulk(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
    b: Result<Json<RevokeReq>, JsonRejection>,
) -> ApiResult {
    st.admin_or_deny(&ctx, &headers, "token.revoke_provider")?;
    let b = body(&ctx, b)?;
    let (action, scope) = match (&b.project, &b.provider, b.all_projects) {
        (Some(p), Some(v), false) => (
            "token.revoke_provider",
            RevokeScope::Provider {
                project: p.clone(),
                provider: v.clone(),
            },
        ),
        (Some(p), None, false) => ("token.revoke_project", RevokeScope::Project(p.clone())),
        (None, Some(v), true) => ("token.revoke_provider_all", RevokeScope::ProviderAll(v.clone())),
        _ => {
            return Err(err(
                &ctx,
                StatusCode::BAD_REQUEST,
                "bad_request",
                "give {project, provider}, {project}, or {provider, all_projects: true}",
            ))
        }
    };
    let mut e = ev(action, "admin");
    e.project = b.project.clone();
    e.provider = b.provider.clone();
    let ids = st.revoke(&scope).await.map_err(|e| internal(&ctx, e))?;
    e.count = Some(ids.len() as u64);
    st.audit(&ctx, e);
    Ok(Json(json!({"action": action, "count": ids.len(), "revoked": ids})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishReq {
    artifact: String,
    sha256: String,
    #[serde(default)]
    provider: Option<String>,
}

async fn publish_artifact(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    project: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
    b: Result<Json<PublishReq>, JsonRejection>,
) -> ApiResult {
    let project = path_param(&ctx, project)?;
    let mut e = ev("publish", "anonymous");
    e.project = Some(project.chars().take(64).collect());
    let rec = match st.authenticate(bearer(&headers), true).await {
        Ok(r) => r,
        Err(d) => {
            if let Some(id) = &d.token_id {
                e.actor = format!("token:{id}");
            }
            e.token_id = d.token_id.clone();
            return Err(st.deny(&ctx, e, d.status, d.code, d.reason));
        }
    };
    e.actor = format!("token:{}", rec.id);
    e.token_id = Some(rec.id.clone());
    e.provider = Some(rec.provider.clone());
    let b = match body(&ctx, b) {
        Ok(b) => b,
        Err(er) => return Err(st.deny(&ctx, e, er.status, er.code, er.message)),
    };
    e.artifact = Some(b.artifact.chars().take(256).collect());
    if rec.project != project {
        return Err(st.deny(
            &ctx,
            e,
            StatusCode::FORBIDDEN,
            "forbidden",
            "token is not valid for this project",
        ));
    }
    if let Some(p) = &b.provider {
        if *p != rec.provider {
            return Err(st.deny(
                &ctx,
                e,
                StatusCode::FORBIDDEN,
                "forbidden",
                "token was issued for another provider",
            ));
        }
    }
    let rel = match publish::check_path(&project, &b.artifact) {
        Ok(r) => r,
        Err(pe) => return Err(st.deny(&ctx, e, StatusCode::BAD_REQUEST, "bad_path", pe.to_string())),
    };
    let (staging, published) = (st.cfg.staging_dir.clone(), st.cfg.published_dir.clone());
    let sha = b.sha256.clone();
    let r = tokio::task::spawn_blocking(move || publish::publish(&staging, &published, &rel, &sha))
        .await
        .map_err(|e| internal(&ctx, anyhow::anyhow!("publish task: {e}")))?;
    let (status, code) = match &r {
        Ok(_) => (StatusCode::OK, ""),
        Err(PublishError::BadPath(_)) => (StatusCode::BAD_REQUEST, "bad_request"),
        Err(PublishError::NotFound) => (StatusCode::NOT_FOUND, "not_found"),
        Err(PublishError::NotRegular) => (StatusCode::BAD_REQUEST, "bad_path"),
        Err(PublishError::ChecksumMismatch) => (StatusCode::UNPROCESSABLE_ENTITY, "checksum_mismatch"),
        Err(PublishError::Conflict) => (StatusCode::CONFLICT, "conflict"),
        Err(PublishError::Io(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    match r {
        Ok(p) => {
            st.audit(&ctx, e);
            let created = p == Published::Created;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                status,
                Json(json!({
                    "project": project, "artifact": b.artifact, "sha256": b.sha256.to_ascii_lowercase(),
                    "status": if created { "published" } else { "already_published" },
                    "token_id": rec.id, "provider": rec.provider,
                })),
            )
                .into_response())
        }
        Err(pe) => Err(st.deny(&ctx, e, status, code, pe.to_string())),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyReq {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    provider: Option<String>,
}

/// Body of a successful `POST /v1/tokens/verify`.
#[derive(Serialize)]
struct VerifyResp<'a> {
    valid: bool,
    token_id: &'a str,
    project: &'a str,
    provider: &'a str,
    expires_at: String,
}

async fn verify(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
    body_bytes: axum::body::Bytes,
) -> ApiResult {
    let rec = match st.authenticate(bearer(&headers), true).await {
        Ok(r) => r,
        Err(d) => {
            let mut e = ev("token.verify", "anonymous");
            if let Some(id) = &d.token_id {
                e.actor = format!("token:{id}");
            }
            e.token_id = d.token_id.clone();
            return Err(st.deny(&ctx, e, d.status, d.code, d.reason));
        }
    };
    // The audit event is only built when it is written (denials always; allowed calls when
    // `audit.log_allowed_verify`): this is the hot path.
    let event = || {
        let mut e = ev("token.verify", &format!("token:{}", rec.id));
        e.token_id = Some(rec.id.clone());
        e.project = Some(rec.project.clone());
        e.provider = Some(rec.provider.clone());
        e
    };
    let req: VerifyReq = if body_bytes.is_empty() {
        VerifyReq::default()
    } else {
        match serde_json::from_slice(&body_bytes) {
            Ok(v) => v,
            Err(er) => {
                return Err(st.deny(
                    &ctx,
                    event(),
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("request body: {er}"),
                ))
            }
        }
    };
    if req.project.as_ref().is_some_and(|p| *p != rec.project) {
        return Err(st.deny(
            &ctx,
            event(),
            StatusCode::FORBIDDEN,
            "forbidden",
            "token is not valid for this project",
        ));
    }
    if req.provider.as_ref().is_some_and(|p| *p != rec.provider) {
        return Err(st.deny(
            &ctx,
            event(),
            StatusCode::FORBIDDEN,
            "forbidden",
            "token was issued for another provider",
        ));
    }
    if st.cfg.audit.log_allowed_verify {
        st.audit(&ctx, event());
    }
    Ok(Json(VerifyResp {
        valid: true,
        token_id: &rec.id,
        project: &rec.project,
        provider: &rec.provider,
        expires_at: rfc3339_ms(rec.expires_at),
    })
    .into_response())
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeReq {
    #[serde(deserialize_with = "de_secret")]
    token: SecretString,
    project: String,
}

async fn oidc_exchange(
    State(st): State<Arc<AppState>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    b: Result<Json<ExchangeReq>, JsonRejection>,
) -> ApiResult {
    let mut e = ev("oidc.exchange", "anonymous");
    let b = match body(&ctx, b) {
        Ok(b) => b,
        Err(er) => return Err(st.deny(&ctx, e, er.status, er.code, er.message)),
    };
    let jwt = b.token.expose();
    e.project = Some(b.project.chars().take(64).collect());
    let now_s = Utc::now().timestamp();
    let v = match st.verifier.verify(jwt, now_s).await {
        Ok(v) => v,
        Err(reason) => {
            // Nobody was verified: the actor stays `anonymous`. What the token claims
            // is recorded as claimed, never as the actor (anyone can write any `iss`
            // and `sub` into an unsigned or forged token), and redacted unless it is a
            // configured issuer.
            let (iss, sub) = crate::oidc::Verifier::peek_iss_sub(jwt);
            let issuers: Vec<&str> = st.cfg.oidc.issuers.iter().map(|i| i.issuer.as_str()).collect();
            e.claimed_issuer = iss.map(|i| crate::audit::claimed(&i, &issuers));
            e.claimed_subject = sub.map(|s| crate::audit::claimed(&s, &[]));
            return Err(st.deny(&ctx, e, StatusCode::UNAUTHORIZED, "invalid_oidc_token", reason));
        }
    };
    let provider: OidcProvider = v.issuer.provider;
    e.provider = Some(provider.as_str().into());
    e.actor = format!("oidc:{}:{}", v.issuer.issuer, v.sub);
    if !st
        .store
        .project_exists(&b.project)
        .await
        .map_err(|e| internal(&ctx, e))?
    {
        return Err(st.deny(&ctx, e, StatusCode::NOT_FOUND, "not_found", "no such project"));
    }
    let pubs = st
        .store
        .publishers(&b.project)
        .await
        .map_err(|e| internal(&ctx, e))?;
    if let Err(reason) = match_publisher(provider, &v.claims, &pubs) {
        return Err(st.deny(&ctx, e, StatusCode::FORBIDDEN, "publisher_mismatch", reason));
    }
    let fresh = st
        .store
        .record_jti(
            &v.issuer.issuer,
            &v.jti,
            // saturating: a token may carry `exp` up to i64::MAX (overflow panicked in
            // debug builds and wrapped to the past in release, defeating replay protection)
            v.exp
                .saturating_mul(1000)
                .saturating_add((st.cfg.oidc.clock_skew_secs as i64).saturating_mul(1000)),
            now_ms(),
        )
        .await
        .map_err(|e| internal(&ctx, e))?;
    if !fresh {
        return Err(st.deny(
            &ctx,
            e,
            StatusCode::UNAUTHORIZED,
            "invalid_oidc_token",
            "JWT replayed (jti already used)",
        ));
    }
    let it = st
        .issue_token(
            &b.project,
            provider.as_str(),
            "oidc",
            now_ms() + (st.cfg.tokens.oidc_ttl_secs as i64) * 1000,
        )
        .await
        .map_err(|e| internal(&ctx, e))?;
    e.token_id = Some(it.record.id.clone());
    st.audit(&ctx, e);
    let resp = IssueResponse {
        token: it.token.expose().to_string(),
        info: TokenInfo::from(&it.record),
    };
    Ok((StatusCode::CREATED, Json(resp)).into_response())
}

/// Accepts connections until `stop` fires, then drains them. Unlike `axum::serve`,
/// connections get a header read timeout (`limits.request_timeout_secs`): a client that
/// trickles its request head (slowloris), never sends one, or idles on a keep-alive
/// connection is disconnected instead of holding a connection open forever. Bodies are
/// bounded by the router's timeout layer. HTTP/1.1 only (put TLS and HTTP/2 in a proxy).
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1 directly (not protocol auto-detection, which reads the first bytes with no
    // deadline): the header read timer then runs from the moment the connection is ready
    // for a request, so it also closes idle and idle keep-alive connections.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let svc = tower::ServiceExt::map_request(app.clone(), move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(remote));
                    req
                });
                let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%remote, "connection ended: {e}");
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A running server (for the CLI and for tests).
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Builds the state and starts serving on `cfg.listen` (port 0 picks a free port).
    pub async fn start(cfg: Config) -> anyhow::Result<Server> {
        let listen = cfg.listen;
        let state = AppState::build(cfg).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(state.clone());
        let header_timeout = Duration::from_secs(state.cfg.limits.request_timeout_secs.max(1));
        let handle = tokio::spawn(serve_connections(listener, app, header_timeout, rx));
        Ok(Server {
            addr,
            state,
            shutdown: Some(tx),
            handle,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting, finishes in-flight requests, and waits.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.handle).await??;
        Ok(())
    }

    /// Serves until the process receives Ctrl-C / SIGTERM.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        self.shutdown().await
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM: when a long-running server should shut down.
pub async fn shutdown_signal() {
    let term = async {
        #[cfg(unix)]
        {
            if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                s.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
