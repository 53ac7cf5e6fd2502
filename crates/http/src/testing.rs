//! Local servers for tests of HTTP clients (feature `testing`).

use std::sync::{Arc, Mutex};
use url::Url;

/// A server on 127.0.0.1 answering every request with `status` and a provider-style
/// `{"message": ...}` body; returns its base URL and the `METHOD URI` of every request.
/// Call inside a Tokio runtime.
pub async fn failing_server(status: u16) -> (Url, Arc<Mutex<Vec<String>>>) {
    use axum::http::StatusCode;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let app = axum::Router::new().fallback(move |m: axum::http::Method, u: axum::http::Uri| {
        let s2 = s2.clone();
        async move {
            s2.lock().expect("lock").push(format!("{m} {u}"));
            (
                StatusCode::from_u16(status).expect("a valid status"),
                "{\"message\":\"upstream trouble\"}",
            )
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(l, app).await.expect("serve") });
    (Url::parse(&format!("http://{addr}/")).expect("URL"), seen)
}
