//! The token service's request handlers, driven in-process through the axum router.
//!
//! Input layout: byte 0 picks the route, byte 1 the credential, byte 2 header flags;
//! the rest is `PATH-PARAM\nBODY` (the parameter goes into the route's `{...}` slot;
//! for the raw-path route it is the whole path and query).

use super::jwt;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use firebreak_core::SecretString;
use firebreak_serve::publish::check_path;
use firebreak_serve::{router, AppState, Config};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

/// The admin credential of the fuzzing service.
pub const ADMIN: &str = "fuzz-admin-credential-0123456789abcdef";

/// The service, its tokens and its directory.
pub struct Service {
    /// Shared state.
    pub state: Arc<AppState>,
    /// Router with every layer.
    pub router: axum::Router,
    /// A usable upload token for project `acme`, provider `github`.
    pub valid: SecretString,
    /// A revoked token.
    pub revoked: SecretString,
    /// An expired token.
    pub expired: SecretString,
    /// Base directory (staging, published, database).
    pub dir: PathBuf,
}

/// Config for a service rooted at `dir` (SQLite file store, rate limit off, small bodies).
pub fn config(dir: &std::path::Path, audit_log: &str) -> Config {
    std::fs::write(dir.join("admin-token"), format!("{ADMIN}\n")).expect("admin token");
    let text = format!(
        r#"listen = "127.0.0.1:0"
database_url = "sqlite:{db}"
staging_dir = "{dir}/staging"
published_dir = "{dir}/published"
audit_log = "{audit_log}"
admin_token_file = "{dir}/admin-token"
[limits]
rate_limit_per_sec = 0
max_body_bytes = 4096
request_timeout_secs = 5
[[projects]]
name = "acme"
[[projects.github]]
repository = "acme/app"
repository_owner_id = "42"
job_workflow_ref = "acme/app/.github/workflows/release.yml@refs/heads/main"
environment = "release"
[[projects.circleci]]
org_id = "0b4e5f6a-1111-2222-3333-444455556666"
project_id = "7c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff"
"#,
        db = dir.join("serve.db").display(),
        dir = dir.display(),
    );
    let mut cfg = Config::from_toml(&text, "fuzz config").expect("fuzz config parses");
    cfg.oidc = jwt::settings();
    cfg
}

/// Builds a service in a fresh scratch directory (see [`super::scratch_dir`]).
pub fn build(audit_to_file: bool) -> Service {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = super::scratch_dir(&format!("serve-{n}"));
    let audit = if audit_to_file {
        dir.join("audit.jsonl").display().to_string()
    } else {
        "/dev/null".to_string()
    };
    let cfg = config(&dir, &audit);
    let rt = jwt::runtime();
    rt.block_on(async {
        let state = AppState::build(cfg).await.expect("service state");
        state.verifier().preload_keys(jwt::GH_ISSUER, jwt::jwks()).await;
        state.verifier().preload_keys(jwt::CCI_ISSUER, jwt::jwks()).await;
        let now = firebreak_serve::now_ms();
        let valid = state
            .issue_token("acme", "github", "admin", now + 3_600_000_000)
            .await
            .expect("issue")
            .token;
        let r = state
            .issue_token("acme", "circleci", "admin", now + 3_600_000_000)
            .await
            .expect("issue");
        state
            .revoke(&firebreak_serve::store::RevokeScope::Token(r.record.id.clone()))
            .await
            .expect("revoke");
        let expired = state
            .issue_token("acme", "github", "admin", now - 1000)
            .await
            .expect("issue")
            .token;
        std::fs::create_dir_all(dir.join("staging/acme/pkg")).expect("staging");
        std::fs::write(dir.join("staging/acme/pkg/a.whl"), b"artifact").expect("artifact");
        Service {
            router: router(state.clone()),
            state,
            valid,
            revoked: r.token,
            expired,
            dir: dir.clone(),
        }
    })
}

fn service() -> &'static Service {
    static S: OnceLock<Service> = OnceLock::new();
    S.get_or_init(|| build(false))
}

/// Routes: (method, path template with `{}` for the parameter).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("POST", "/v1/admin/projects"),
    ("POST", "/v1/admin/projects/{}/publishers"),
    ("GET", "/v1/admin/tokens?{}"),
    ("POST", "/v1/admin/tokens"),
    ("DELETE", "/v1/admin/tokens/{}"),
    ("POST", "/v1/admin/revoke"),
    ("POST", "/v1/projects/{}/publish"),
    ("POST", "/v1/tokens/verify"),
    ("POST", "/v1/oidc/exchange"),
    ("RAW", "{}"),
];

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the request an input describes (`None` when it is not a valid HTTP request).
pub fn request(data: &[u8], s: &Service) -> Option<Request<Body>> {
    let (route, rest) = super::split_selector(data);
    let (cred, rest) = super::split_selector(rest);
    let (flags, rest) = super::split_selector(rest);
    let (param, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let param = String::from_utf8_lossy(param);
    let (method, tpl) = ROUTES[route as usize % ROUTES.len()];
    let (method, uri) = if method == "RAW" {
        let m = match flags % 5 {
            0 => "GET",
            1 => "POST",
            2 => "DELETE",
            3 => "PUT",
            _ => "OPTIONS",
        };
        let p = if param.starts_with('/') {
            param.to_string()
        } else {
            format!("/{param}")
        };
        (m, p)
    } else if tpl.contains('?') {
        (method, tpl.replace("{}", &param))
    } else {
        (method, tpl.replace("{}", &encode_segment(&param)))
    };
    let mut b = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(uri);
    let bearer = match cred % 7 {
        0 => None,
        1 => Some(ADMIN.to_string()),
        2 => Some(s.valid.expose().to_string()),
        3 => Some(s.revoked.expose().to_string()),
        4 => Some(s.expired.expose().to_string()),
        5 => Some(param.to_string()),
        _ => Some(format!("{}x", &ADMIN[..ADMIN.len() - 1])),
    };
    if let Some(t) = bearer {
        let scheme = if flags & 0x10 != 0 { "bearer" } else { "Bearer" };
        b = b.header("authorization", format!("{scheme} {t}"));
    }
    if flags & 1 == 0 {
        b = b.header("content-type", "application/json");
    }
    if flags & 2 != 0 {
        b = b.header("x-request-id", param.as_bytes());
    }
    if flags & 4 != 0 {
        b = b.header("x-forwarded-for", param.as_bytes());
    }
    if flags & 8 != 0 {
        b = b.header("user-agent", body.get(..body.len().min(300)).unwrap_or_default());
    }
    b.body(Body::from(body.to_vec())).ok()
}

/// Sends one request and checks the response.
pub fn http(data: &[u8]) {
    let s = service();
    // The artifact-path check guards the filesystem: whatever it accepts stays inside.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = check_path("acme", text) {
            for c in p.components() {
                assert!(
                    matches!(c, std::path::Component::Normal(_)),
                    "check_path let {c:?} through"
                );
            }
        }
    }
    let Some(req) = request(data, s) else { return };
    let rt = jwt::runtime();
    let (status, body) = rt.block_on(async {
        let resp = s.router.clone().oneshot(req).await.expect("router is infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("response body");
        (status, body)
    });
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "no input causes an internal error"
    );
    let text = String::from_utf8_lossy(&body);
    for secret in [ADMIN, s.valid.expose(), s.revoked.expose(), s.expired.expose()] {
        assert!(
            !text.contains(secret),
            "a response echoed a credential (status {status})"
        );
    }
    if status.is_client_error() && status != StatusCode::METHOD_NOT_ALLOWED {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert!(
            v.get("error").is_some() || body.is_empty() || status == StatusCode::PAYLOAD_TOO_LARGE,
            "errors have a stable code ({status}): {text}"
        );
    }
}
