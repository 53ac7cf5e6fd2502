//! Admin API, tokens, publishing and every token rejection path, on SQLite and PostgreSQL.

mod common;

use common::{start, Backend, Env};
use firebreak_serve::now_ms;
use firebreak_serve::token;
use std::sync::Arc;

async fn setup(env: &Env, projects: &[&str]) {
    for p in projects {
        env.admin.create_project(p).await.unwrap();
    }
}

async fn lifecycle(b: Backend) {
    let env = start(b, "").await;
    setup(&env, &["numpy", "scipy"]).await;
    let t1 = env.admin.issue("numpy", "circleci", Some(3600)).await.unwrap();
    let t2 = env.admin.issue("numpy", "circleci", None).await.unwrap();
    let t3 = env.admin.issue("numpy", "github", None).await.unwrap();
    let t4 = env.admin.issue("scipy", "circleci", None).await.unwrap();
    for t in [&t1, &t2, &t3, &t4] {
        token::validate_format(&t.token).unwrap();
        assert_eq!(t.info.id, token::token_id(&t.token));
    }
    // Several valid tokens per (project, provider).
    for t in [&t1, &t2, &t3, &t4] {
        let v = env.anon.verify(&t.token).await.unwrap();
        assert_eq!(v["token_id"], t.info.id.as_str());
    }
    let list = env.admin.list(Some("numpy"), Some("circleci")).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list
        .iter()
        .all(|t| t.revoked_at.is_none() && t.last_used_at.is_some()));
    // Revoke one: the other keeps working, immediately.
    let r = env.admin.revoke_id(&t1.info.id).await.unwrap();
    assert_eq!(r["count"], 1);
    assert_eq!(env.anon.verify(&t1.token).await.unwrap_err().status(), Some(401));
    env.anon.verify(&t2.token).await.unwrap();
    env.assert_denied("token.verify", "token revoked");
    // Unknown id.
    assert_eq!(
        env.admin
            .revoke_id("tok_0000000000000000")
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    // Provider in a project.
    let r = env
        .admin
        .revoke(Some("numpy"), Some("circleci"), false)
        .await
        .unwrap();
    assert_eq!(r["action"], "token.revoke_provider");
    assert_eq!(r["count"], 1);
    env.anon.verify(&t3.token).await.unwrap();
    env.anon.verify(&t4.token).await.unwrap();
    // Provider across all projects.
    let t5 = env.admin.issue("numpy", "circleci", None).await.unwrap();
    let r = env.admin.revoke(None, Some("circleci"), true).await.unwrap();
    assert_eq!(r["action"], "token.revoke_provider_all");
    assert_eq!(r["count"], 2);
    assert!(env.anon.verify(&t4.token).await.is_err());
    assert!(env.anon.verify(&t5.token).await.is_err());
    env.anon.verify(&t3.token).await.unwrap();
    // Whole project.
    let r = env.admin.revoke(Some("numpy"), None, false).await.unwrap();
    assert_eq!(r["action"], "token.revoke_project");
    assert_eq!(r["count"], 1);
    assert!(env.anon.verify(&t3.token).await.is_err());
    // Bad bulk request.
    assert_eq!(
        env.admin
            .revoke(None, Some("circleci"), false)
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );

    let evs = env.audit();
    for a in [
        "project.create",
        "token.issue",
        "token.revoke",
        "token.revoke_provider",
        "token.revoke_project",
        "token.revoke_provider_all",
    ] {
        assert!(
            evs.iter()
                .any(|e| e.action == a && e.outcome == "allowed" && e.actor == "admin"),
            "{a} audited"
        );
    }
    let all = env.admin.list(None, None).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|t| t.revoked_at.is_some()));
    env.finish().await;
}

async fn admin_auth(b: Backend) {
    let env = start(b, "").await;
    let wrong = firebreak_serve::client::Client::new(
        &env.url(),
        Some(firebreak_core::SecretString::new("not-the-admin-credential")),
    );
    assert_eq!(wrong.create_project("x").await.unwrap_err().status(), Some(401));
    assert_eq!(env.anon.list(None, None).await.unwrap_err().status(), Some(401));
    assert_eq!(
        wrong.issue("x", "github", None).await.unwrap_err().status(),
        Some(401)
    );
    env.assert_denied("project.create", "invalid admin credential");
    env.assert_denied("token.issue", "invalid admin credential");
    // Validation of inputs.
    assert_eq!(
        env.admin.create_project("../etc").await.unwrap_err().status(),
        Some(400)
    );
    assert_eq!(
        env.admin
            .issue("nope", "github", None)
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    env.admin.create_project("p").await.unwrap();
    assert_eq!(
        env.admin.issue("p", "GitHub!", None).await.unwrap_err().status(),
        Some(400)
    );
    assert_eq!(
        env.admin
            .issue("p", "github", Some(10 * 365 * 86400))
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
    env.finish().await;
}

async fn publish_and_rejections(b: Backend) {
    let env = start(b, "").await;
    setup(&env, &["numpy", "scipy"]).await;
    let good = env.admin.issue("numpy", "circleci", None).await.unwrap();
    let other_project = env.admin.issue("scipy", "circleci", None).await.unwrap();
    let revoked = env.admin.issue("numpy", "circleci", None).await.unwrap();
    env.admin.revoke_id(&revoked.info.id).await.unwrap();
    let expired = env
        .server
        .state()
        .issue_token("numpy", "circleci", "admin", now_ms() - 1000)
        .await
        .unwrap();
    let unknown = token::generate();
    let mut bad_checksum = good.token.clone();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == 'A' { 'B' } else { 'A' });

    let sha = env.stage("numpy/linux-64/pkg-1.0.tar.bz2", b"package bytes");
    let art = "numpy/linux-64/pkg-1.0.tar.bz2";
    let c = &env.anon;
    let st = |r: Result<serde_json::Value, firebreak_serve::client::ClientError>| r.unwrap_err().status();

    assert_eq!(
        st(c.publish(&other_project.token, "numpy", art, &sha, None).await),
        Some(403)
    );
    env.assert_denied("publish", "not valid for this project");
    assert_eq!(
        st(c.publish(&good.token, "numpy", art, &sha, Some("github")).await),
        Some(403)
    );
    env.assert_denied("publish", "another provider");
    assert_eq!(
        st(c.publish(&revoked.token, "numpy", art, &sha, None).await),
        Some(401)
    );
    env.assert_denied("publish", "token revoked");
    assert_eq!(
        st(c.publish(expired.token.expose(), "numpy", art, &sha, None).await),
        Some(401)
    );
    env.assert_denied("publish", "token expired");
    assert_eq!(
        st(c.publish(unknown.expose(), "numpy", art, &sha, None).await),
        Some(401)
    );
    env.assert_denied("publish", "unknown token");
    assert_eq!(
        st(c.publish(&bad_checksum, "numpy", art, &sha, None).await),
        Some(401)
    );
    env.assert_denied("publish", "checksum does not match");
    assert_eq!(
        st(c.publish("fbu_short", "numpy", art, &sha, None).await),
        Some(401)
    );
    // Token's project vs path project.
    assert_eq!(
        st(c.publish(&good.token, "numpy", "scipy/x.tar.bz2", &sha, None)
            .await),
        Some(400)
    );
    env.assert_denied("publish", "first path component must be the project");
    // Traversal and absolute paths.
    for p in ["numpy/../scipy/x", "/etc/passwd", "numpy/./x", "numpy/.hidden"] {
        assert_eq!(
            st(c.publish(&good.token, "numpy", p, &sha, None).await),
            Some(400),
            "{p}"
        );
    }
    // Symlink in staging.
    std::os::unix::fs::symlink("/etc/hostname", env.staging().join("numpy/link")).unwrap();
    assert_eq!(
        st(c.publish(&good.token, "numpy", "numpy/link", &sha, None).await),
        Some(400)
    );
    env.assert_denied("publish", "symlinks are refused");
    // Wrong checksum, missing artifact.
    assert_eq!(
        st(c.publish(&good.token, "numpy", art, &"0".repeat(64), None).await),
        Some(422)
    );
    env.assert_denied("publish", "sha256 does not match");
    assert_eq!(
        st(
            c.publish(&good.token, "numpy", "numpy/missing.tar.bz2", &sha, None)
                .await
        ),
        Some(404)
    );
    assert!(
        env.staging().join(art).exists(),
        "refused publishes leave staging untouched"
    );
    assert!(!env.published().join(art).exists());
    // Success.
    let ok = c
        .publish(&good.token, "numpy", art, &sha, Some("circleci"))
        .await
        .unwrap();
    assert_eq!(ok["status"], "published");
    assert_eq!(
        std::fs::read(env.published().join(art)).unwrap(),
        b"package bytes"
    );
    assert!(!env.staging().join(art).exists());
    // Idempotent retry.
    let again = c.publish(&good.token, "numpy", art, &sha, None).await.unwrap();
    assert_eq!(again["status"], "already_published");
    // A different artifact under the same name: conflict, published file untouched.
    let sha2 = env.stage(art, b"evil replacement");
    assert_eq!(
        st(c.publish(&good.token, "numpy", art, &sha2, None).await),
        Some(409)
    );
    assert_eq!(
        std::fs::read(env.published().join(art)).unwrap(),
        b"package bytes"
    );
    let evs = env.audit();
    assert!(evs.iter().any(|e| e.action == "publish"
        && e.outcome == "allowed"
        && e.actor == format!("token:{}", good.info.id)
        && e.artifact.as_deref() == Some(art)
        && e.provider.as_deref() == Some("circleci")));
    // Unknown-token denials name the token id, never the token.
    assert!(evs.iter().any(|e| e.reason.as_deref() == Some("unknown token")
        && e.token_id.as_deref() == Some(token::token_id(unknown.expose()).as_str())));
    env.finish().await;
}

async fn concurrent_publish(b: Backend) {
    let env = start(b, "").await;
    setup(&env, &["numpy"]).await;
    let t = env.admin.issue("numpy", "github", None).await.unwrap();
    let content = vec![7u8; 256 * 1024];
    let mut handles = Vec::new();
    let env = Arc::new(env);
    for round in 0..3 {
        let art = format!("numpy/noarch/pkg-{round}.conda");
        let sha = env.stage(&art, &content);
        for _ in 0..24 {
            let (c, tok, art, sha) = (env.anon.clone(), t.token.clone(), art.clone(), sha.clone());
            handles.push(tokio::spawn(async move {
                (art.clone(), c.publish(&tok, "numpy", &art, &sha, None).await)
            }));
        }
    }
    let mut created = std::collections::HashMap::<String, usize>::new();
    for h in handles {
        let (art, r) = h.await.unwrap();
        let v = r.unwrap_or_else(|e| panic!("concurrent publish failed: {e}"));
        if v["status"] == "published" {
            *created.entry(art).or_default() += 1;
        } else {
            assert_eq!(v["status"], "already_published");
        }
    }
    assert_eq!(created.len(), 3);
    assert!(
        created.values().all(|&n| n == 1),
        "exactly one winner per artifact: {created:?}"
    );
    for round in 0..3 {
        assert_eq!(
            std::fs::read(env.published().join(format!("numpy/noarch/pkg-{round}.conda"))).unwrap(),
            content
        );
    }
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(env.published().join("numpy/noarch"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
    Arc::try_unwrap(env).ok().unwrap().finish().await;
}

async fn verify_scope(b: Backend) {
    let env = start(b, "").await;
    setup(&env, &["numpy"]).await;
    let t = env.admin.issue("numpy", "circleci", None).await.unwrap();
    let http = reqwest::Client::new();
    let post = |body: &'static str| {
        http.post(format!("{}/v1/tokens/verify", env.url()))
            .bearer_auth(&t.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        post(r#"{"project":"numpy","provider":"circleci"}"#)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(post(r#"{"provider":"github"}"#).await.unwrap().status(), 403);
    env.assert_denied("token.verify", "another provider");
    assert_eq!(post(r#"{"project":"scipy"}"#).await.unwrap().status(), 403);
    env.assert_denied("token.verify", "not valid for this project");
    let r = http
        .post(format!("{}/v1/tokens/verify", env.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-request-id"));
    env.assert_denied("token.verify", "missing bearer token");
    env.finish().await;
}

both_backends!(
    lifecycle,
    admin_auth,
    publish_and_rejections,
    concurrent_publish,
    verify_scope
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_rate_and_body() {
    let env = common::start_with(Backend::Sqlite, "", |c| {
        c.limits.rate_limit_per_sec = 1.0;
        c.limits.rate_limit_burst = 5.0;
        c.limits.max_body_bytes = 1024;
    })
    .await;
    let http = reqwest::Client::new();
    let big = "x".repeat(4096);
    let r = http
        .post(format!("{}/v1/oidc/exchange", env.url()))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let mut limited = 0;
    for _ in 0..20 {
        let r = http.get(format!("{}/healthz", env.url())).send().await.unwrap();
        if r.status() == 429 {
            limited += 1;
            assert_eq!(r.headers()["retry-after"], "1");
        }
    }
    assert!(
        limited >= 10,
        "rate limit should refuse most of a 20-request burst over a bucket of 5 (refused {limited})"
    );
    env.finish().await;
}

#[tokio::test]
async fn sqlite_file_is_private() {
    let env = start(Backend::Sqlite, "").await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.dir.path().join("serve.db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    env.finish().await;
}

/// Found by the `serve_http` fuzz target: a query string the handler's type rejects
/// (here a duplicate field) and a path parameter that does not decode got axum's
/// plain-text rejection instead of the service's JSON error.
#[tokio::test]
async fn malformed_query_and_path_get_json_errors() {
    let env = common::start(Backend::Sqlite, "").await;
    let http = reqwest::Client::new();
    let admin = format!("Bearer {}", common::ADMIN);
    for (method, path) in [
        (
            reqwest::Method::GET,
            "/v1/admin/tokens?provider=github&provider=gitlab",
        ),
        (reqwest::Method::DELETE, "/v1/admin/tokens/%FF%FE"),
        (reqwest::Method::POST, "/v1/admin/projects/%C3%28/publishers"),
    ] {
        let r = http
            .request(method.clone(), format!("{}{path}", env.url()))
            .header("authorization", &admin)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{method} {path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "bad_request", "{method} {path}: {v}");
    }
    env.finish().await;
}
