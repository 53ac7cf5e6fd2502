//! The provider clients' create requests go through the shared HTTP layer and are
//! never resent after a 5xx.

use firebreak_core::SecretString;
use firebreak_http::testing::failing_server;
use firebreak_providers::HttpConfig;
use std::time::Duration;

fn quick() -> HttpConfig {
    HttpConfig {
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        max_retries: 3,
        ..HttpConfig::default()
    }
}

/// The provider clients' create calls (deploy keys, checkout keys, runner tokens) go out once.
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
    // a runner token (runner API on the same host here: a CircleCI server)
    assert!(cc.create_runner_token("acme/linux", "default").await.is_err());
    let posts: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .cloned()
        .collect();
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert!(
        posts.iter().any(|p| p.contains("/api/v3/runner/token")),
        "{posts:?}"
    );
}
