//! Router tests over a fake source (no network, no store).

use super::*;
use axum::body::Body;
use axum::http::Request as HttpRequest;
use std::sync::Mutex;
use tower::ServiceExt;

/// The status shape documented in docs/dashboard.md.
pub(crate) fn sample() -> Value {
    json!({
        "incident": {"name": "circleci-2023-01", "providers": ["circleci"],
                     "window": {"start": "2022-12-21T00:00:00Z", "end": null},
                     "created_at": "2023-01-04T10:00:00Z"},
        "secrets": {"total": 5, "inventoried": 5, "live": 0, "rotated": 1, "verified": 1, "rewritten": 0, "manual": 1, "pending": 2, "stopped": 0},
        "rotation": {"runs": 1, "done": 2, "in_progress": 1, "stopped": 0, "total": 4, "manual": 0, "queued": 1},
        "hunts": {"runs": 2, "findings": {"critical": 1, "high": 2, "medium": 0, "low": 3, "informational": 7}},
        "scans": {"runs": 1, "findings": 4, "distinct_secrets": 3},
        "census": {"runs": 1, "artifacts": 12, "flagged": 1},
        "tasks": [{"secret": "AWS_ACCESS_KEY_ID", "scope": "circleci/gh/acme/api", "state": "pending",
                   "unlocks": "aws account 123456789012", "hunt_logs": ["cloudtrail"], "inferred": false}],
        "updated_at": "2023-01-05T00:00:00Z"
    })
}

struct Fake(Mutex<Value>);

impl StatusSource for Fake {
    fn status(&self, incident: Option<&str>) -> Result<Value, SourceError> {
        match incident {
            None | Some("circleci-2023-01") => Ok(self.0.lock().unwrap().clone()),
            Some("broken") => Err(SourceError::Unavailable("store /x.db: disk I/O error".into())),
            Some(n) => Err(SourceError::NotFound(format!("no incident named {n:?}"))),
        }
    }
    fn incidents(&self) -> Result<Value, SourceError> {
        Ok(json!([{"name": "circleci-2023-01"}]))
    }
}

fn app() -> Router {
    router(Arc::new(Fake(Mutex::new(sample()))), true)
}

async fn get(app: &Router, uri: &str, host: Option<&str>) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = HttpRequest::builder().uri(uri);
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn page_is_served_with_security_headers() {
    let (code, h, body) = get(&app(), "/", Some("127.0.0.1:8484")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(body, PAGE);
}

#[test]
fn csp_hashes_the_inline_script_and_style() {
    let script = inline_block(PAGE, "script").unwrap();
    let style = inline_block(PAGE, "style").unwrap();
    assert!(script.contains("/api/status") && style.contains("--bg"));
    let csp = content_security_policy();
    assert!(
        csp.contains(&format!("script-src {}", sha256_source(script))),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("style-src {}", sha256_source(style))),
        "{csp}"
    );
    // Exactly one inline block of each: a second would be blocked by the CSP.
    assert_eq!(PAGE.matches("<script").count(), 1);
    assert_eq!(PAGE.matches("<style").count(), 1);
}

#[test]
fn page_is_self_contained_and_never_writes_html() {
    for bad in [
        "http://",
        "https://",
        "//cdn",
        "@import",
        "url(",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        " style=\"",
        "<script src",
        "<link rel=\"stylesheet\"",
    ] {
        assert!(!PAGE.contains(bad), "the dashboard page contains {bad:?}");
    }
}

/// Every number the page shows is a field of the status JSON (catches a typo in a
/// `data-field`), and every number of the status is shown.
#[test]
fn page_fields_match_the_status_shape() {
    let s = sample();
    let mut shown = Vec::new();
    for part in PAGE.split("data-field=\"").skip(1) {
        let path = &part[..part.find('"').unwrap()];
        let mut v = &s;
        for k in path.split('.') {
            v = &v[k];
        }
        assert!(v.is_u64(), "data-field {path:?} is not a number of the status");
        shown.push(path.to_string());
    }
    for (section, v) in s.as_object().unwrap() {
        let mut stack = vec![(section.clone(), v)];
        while let Some((path, v)) = stack.pop() {
            match v {
                Value::Object(m) if section != "incident" => {
                    stack.extend(m.iter().map(|(k, v)| (format!("{path}.{k}"), v)))
                }
                Value::Number(_) => assert!(shown.contains(&path), "{path} is not shown"),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn api_status_and_errors() {
    let app = app();
    let (code, h, body) = get(&app, "/api/status", Some("localhost:8484")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), sample());
    let (code, _, body) = get(&app, "/api/status?incident=circleci-2023-01", Some("localhost")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["secrets"]["total"],
        5
    );

    let (code, _, body) = get(&app, "/api/status?incident=nope", Some("localhost")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "no incident named \"nope\""
    );
    let (code, _, body) = get(&app, "/api/status?incident=broken", Some("localhost")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("/x.db"), "{body}");
    let long = "a".repeat(MAX_INCIDENT_NAME + 1);
    let (code, _, _) = get(&app, &format!("/api/status?incident={long}"), Some("localhost")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let (code, _, body) = get(&app, "/api/incidents", Some("[::1]:9")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()[0]["name"],
        "circleci-2023-01"
    );
    let (code, h, _) = get(&app, "/nope", Some("localhost")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(h.contains_key("content-security-policy"));
}

#[tokio::test]
async fn foreign_host_is_refused_on_loopback() {
    let app = app();
    for host in [
        Some("evil.example"),
        Some("evil.example:8484"),
        Some("127.0.0.1.evil.example"),
        None,
    ] {
        let (code, h, body) = get(&app, "/api/status", host).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{host:?}");
        assert!(!body.contains("AWS_ACCESS_KEY_ID"));
        assert_eq!(h["cache-control"], "no-store");
    }
    // Listening on a non-loopback address: no Host check (docs/dashboard.md says why to avoid it).
    let open = router(Arc::new(Fake(Mutex::new(sample()))), false);
    let (code, _, _) = get(&open, "/api/status", Some("dashboard.internal:8484")).await;
    assert_eq!(code, StatusCode::OK);
}

#[test]
fn loopback_hosts() {
    for h in [
        "localhost",
        "LOCALHOST:1",
        "127.0.0.1",
        "127.0.0.1:8484",
        "127.1.2.3:80",
        "[::1]",
        "[::1]:8484",
    ] {
        assert!(is_loopback_host(h), "{h}");
    }
    for h in [
        "",
        "evil",
        "10.0.0.1:80",
        "localhost.evil:80",
        "[::2]:80",
        "[::1",
        "127.0.0.1:80:80",
        "0.0.0.0:8484",
    ] {
        assert!(!is_loopback_host(h), "{h}");
    }
}

#[tokio::test]
async fn server_starts_on_port_zero_and_stops() {
    let fake = Arc::new(Fake(Mutex::new(sample())));
    let server = Server::start("127.0.0.1:0".parse().unwrap(), fake.clone())
        .await
        .unwrap();
    assert_ne!(server.addr().port(), 0);
    assert_eq!(server.url(), format!("http://{}/", server.addr()));
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = |addr: SocketAddr| async move {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(
            format!("GET /api/status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    };
    let out = fetch(server.addr()).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"pending\":2"));
    // The status is read on every request.
    fake.0.lock().unwrap()["secrets"]["pending"] = json!(1);
    assert!(fetch(server.addr()).await.contains("\"pending\":1"));
    server.shutdown().await.unwrap();
}
