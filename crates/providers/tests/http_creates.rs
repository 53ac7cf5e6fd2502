//! The provider clients' create requests go through the shared HTTP layer and are
//! never resent after a 5xx.

use firebreak_core::SecretString;
use firebreak_providers::HttpConfig;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// A server answering every request with `status`, recording `METHOD URI`.
async fn failing_server(status: u16) -> (Url, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::StatusCode;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let app = axum::Router::new().fallback(move |m: axum::http::Method, u: axum::http::Uri| {
        let s2 = s2.clone();
        async move {
            s2.lock().unwrap().push(format!("{m} {u}"));
            (
                StatusCode::from_u16(status).unwrap(),
                "{\"message\":\"upstream trouble\"}",
            )
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (Url::parse(&format!("http://{addr}/")).unwrap(), seen)
}

fn quick() -> HttpConfig {
    HttpConfig {
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        max_retries: 3,
        ..HttpConfig::default()
    }
}

/// The provider clients' create calls (deploy keys, checkout keys) go out once.
#[tokio::test]
async fn provider_creates_go_out_once_after_a_5xx() {
    let (base, seen) = failing_server(503).await;
    let gh =
        firebreak_providers::github::Client::new(base.as_str(), SecretString::new("t0ken-for-test"), quick())
            .unwrap();
    assert!(gh
        .create_deploy_key("acme/app", "ci", "ssh-ed25519 AAAA", true)
        .await
        .is_err());
    let cc = firebreak_providers::circleci::Client::new(
        base.as_str(),
        SecretString::new("t0ken-for-test"),
        quick(),
    )
    .unwrap();
    assert!(cc
        .create_checkout_key(
            "gh/acme/app",
            firebreak_providers::circleci::CheckoutKeyType::DeployKey
        )
        .await
        .is_err());
    let posts: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .cloned()
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
}
