//! The validation cache never outlives a revocation or an expiry: on the node that revoked at
//! once, on another replica sharing the database within `tokens.cache_ttl_ms` (≤ 1 s), and
//! never past a token's expiry. Both backends.

mod common;

use common::{base_config, start, Backend, Env};
use firebreak_serve::client::Client;
use firebreak_serve::{now_ms, Server};
use std::time::Duration;

/// A second replica on the same database (same SQLite file or PostgreSQL schema).
async fn replica(env: &Env, extra: &str) -> (Server, Client) {
    let cfg = base_config(env.dir.path(), env.backend, env.schema.as_deref(), extra);
    let server = Server::start(cfg).await.unwrap();
    let client = Client::new(&server.url(), None);
    (server, client)
}

async fn revoke_on_same_node_is_immediate(b: Backend) {
    let env = start(b, "[tokens]\ncache_ttl_ms = 1000\n").await;
    env.admin.create_project("numpy").await.unwrap();
    let t = env.admin.issue("numpy", "circleci", None).await.unwrap();
    let other = env.admin.issue("numpy", "github", None).await.unwrap();
    // Fill the cache, then revoke each way: the very next validation is denied.
    for _ in 0..3 {
        env.anon.verify(&t.token).await.unwrap();
        env.anon.verify(&other.token).await.unwrap();
    }
    env.admin.revoke_id(&t.info.id).await.unwrap();
    assert_eq!(env.anon.verify(&t.token).await.unwrap_err().status(), Some(401));
    env.anon.verify(&other.token).await.unwrap();
    env.admin.revoke(None, Some("github"), true).await.unwrap();
    assert_eq!(
        env.anon.verify(&other.token).await.unwrap_err().status(),
        Some(401)
    );
    env.assert_denied("token.verify", "token revoked");
    // Publishing is refused too (same authentication path).
    let sha = env.stage("numpy/a.whl", b"x");
    assert_eq!(
        env.anon
            .publish(&t.token, "numpy", "numpy/a.whl", &sha, None)
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
    env.finish().await;
}

async fn revoke_on_another_replica_within_ttl(b: Backend) {
    let extra = "[tokens]\ncache_ttl_ms = 300\n";
    let env = start(b, extra).await;
    let (b_server, b_client) = replica(&env, extra).await;
    env.admin.create_project("numpy").await.unwrap();
    let t = env.admin.issue("numpy", "circleci", None).await.unwrap();
    // A token issued on A is usable on B at once (unknown tokens are never cached).
    b_client.verify(&t.token).await.unwrap();
    b_client.verify(&t.token).await.unwrap();
    env.admin.revoke_id(&t.info.id).await.unwrap();
    // A is immediate; B has the record cached for at most cache_ttl_ms after its lookup.
    assert_eq!(env.anon.verify(&t.token).await.unwrap_err().status(), Some(401));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b_client.verify(&t.token).await.unwrap_err().status(),
        Some(401),
        "replica B still accepts a token revoked on A after cache_ttl_ms"
    );
    b_server.shutdown().await.unwrap();
    env.finish().await;
}

async fn uncached_replica_sees_revoke_at_once(b: Backend) {
    let extra = "[tokens]\ncache_ttl_ms = 0\n";
    let env = start(b, extra).await;
    let (b_server, b_client) = replica(&env, extra).await;
    env.admin.create_project("numpy").await.unwrap();
    let t = env.admin.issue("numpy", "circleci", None).await.unwrap();
    for _ in 0..3 {
        b_client.verify(&t.token).await.unwrap();
    }
    env.admin.revoke(Some("numpy"), None, false).await.unwrap();
    assert_eq!(b_client.verify(&t.token).await.unwrap_err().status(), Some(401));
    b_server.shutdown().await.unwrap();
    env.finish().await;
}

async fn cached_token_still_expires(b: Backend) {
    let env = start(b, "[tokens]\ncache_ttl_ms = 1000\n").await;
    env.admin.create_project("numpy").await.unwrap();
    let st = env.server.state();
    let it = st
        .issue_token("numpy", "circleci", "admin", now_ms() + 400)
        .await
        .unwrap();
    let tok = it.token.expose().to_string();
    env.anon.verify(&tok).await.unwrap();
    // Still within the cache lifetime, but past the token's expiry.
    while now_ms() <= it.record.expires_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(env.anon.verify(&tok).await.unwrap_err().status(), Some(401));
    env.assert_denied("token.verify", "token expired");
    env.finish().await;
}

async fn last_used_is_recorded(b: Backend) {
    let env = start(b, "[tokens]\ncache_ttl_ms = 0\n").await;
    env.admin.create_project("numpy").await.unwrap();
    let t = env.admin.issue("numpy", "circleci", None).await.unwrap();
    let before = now_ms() - 1000;
    for _ in 0..5 {
        env.anon.verify(&t.token).await.unwrap();
    }
    let list = env.admin.list(Some("numpy"), None).await.unwrap();
    let used = list[0].last_used_at.as_deref().expect("last_used_at set");
    let used = chrono::DateTime::parse_from_rfc3339(used)
        .unwrap()
        .timestamp_millis();
    assert!(used >= before, "last_used_at is recent");
    env.finish().await;
}

both_backends!(
    revoke_on_same_node_is_immediate,
    revoke_on_another_replica_within_ttl,
    uncached_replica_sees_revoke_at_once,
    cached_token_still_expires,
    last_used_is_recorded
);
