//! The `npm` and `anaconda` sources end to end, against mocks built from each service's
//! documented shapes: npm's registry token API (`GET|POST /-/npm/v1/tokens`, `DELETE
//! /-/npm/v1/tokens/token/{key}`, the one-time password in `npm-otp`, as npm's API
//! reference describes them) and the anaconda.org API as its official client
//! (anaconda-client's `anaconda auth`) calls it (`POST /authentications` with basic
//! credentials, `GET /authentications` and `DELETE /authentications/name/{name}` with
//! `Authorization: token ...`).
//!
//! Each token name is one (project, CI provider): the new token is written to a CircleCI
//! sink of the provider simulator and verified there before the old token of that name is
//! deleted; another provider's token is left alone; an ambiguous create is never resent,
//! and what it made is found by name and deleted as an orphan before a new one is issued.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{Kind, Provider};
use firebreak_rotate::engine;
use firebreak_rotate::plan::{Plan, ProviderConn, SourceSpec};
use firebreak_rotate::sources::{Lookup, Source, SourceClients};
use firebreak_rotate::{Journal, SealKey};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Reg {
    tokens: Vec<(String, String, String)>, // key or name, name, token
    next: u32,
    creates: u32,
    bodies: Vec<Value>,
    fail_next_create: bool,
}

type S = Arc<Mutex<Reg>>;

async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{a}/")
}

fn seed(s: &S, id: &str, name: &str) {
    let mut g = s.lock().unwrap();
    g.next += 1;
    let n = g.next;
    g.tokens.push((id.into(), name.into(), format!("old-token-{n}")));
}

// ------------------------------------------------------------------------------ npm

const SESSION: &str = "npm_sessionTokenForTestsOnly0000000000";
const OTP: &str = "123456";

fn npm_authed(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SESSION}"))
}

async fn npm_list(
    State(s): State<S>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if !npm_authed(&h) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized"})));
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let per: usize = q.get("perPage").and_then(|p| p.parse().ok()).unwrap_or(2).min(2);
    let g = s.lock().unwrap();
    let all: Vec<Value> = g
        .tokens
        .iter()
        .map(|(k, n, t)| {
            json!({"key": k, "name": n, "token": format!("{}...{}", &t[..4], &t[t.len() - 4..]),
                   "revoked": null, "readonly": false, "bypass_2fa": true, "created": "2022-06-01T00:00:00.000Z"})
        })
        .collect();
    let objects: Vec<Value> = all.iter().skip(page * per).take(per).cloned().collect();
    let next = if (page + 1) * per < all.len() {
        json!({"next": format!("/-/npm/v1/tokens?page={}&perPage={per}", page + 1)})
    } else {
        json!({})
    };
    (
        StatusCode::OK,
        Json(json!({"objects": objects, "total": all.len(), "urls": next})),
    )
}

async fn npm_create(State(s): State<S>, h: HeaderMap, Json(b): Json<Value>) -> (StatusCode, Json<Value>) {
    if !npm_authed(&h) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized"})));
    }
    if h.get("npm-otp").and_then(|v| v.to_str().ok()) != Some(OTP) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "This operation requires a one-time password"})),
        );
    }
    let name = b["name"].as_str().unwrap_or("");
    let perm = b["packages_and_scopes_permission"]
        .as_str()
        .unwrap_or("no-access");
    let rw_too_long = perm == "read-write" && b["expires"].as_u64().is_some_and(|d| d > 90);
    if name.is_empty()
        || !["read-only", "read-write", "no-access"].contains(&perm)
        || rw_too_long
        || !(b["packages"].is_array() || b["scopes"].is_array())
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid parameters"})),
        );
    }
    let mut g = s.lock().unwrap();
    g.creates += 1;
    g.next += 1;
    g.bodies.push(b.clone());
    let key = format!("a1b2c3d4-e5f6-7890-abcd-{:012}", g.next);
    let token = format!("npm_{:036}", g.next);
    g.tokens.push((key.clone(), name.to_string(), token.clone()));
    if std::mem::take(&mut g.fail_next_create) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "internal"})),
        );
    }
    (
        StatusCode::CREATED,
        Json(json!({"key": key, "name": name, "token": token, "revoked": null,
                    "bypass_2fa": b["bypass_2fa"], "created": "2023-01-05T10:00:00.000Z"})),
    )
}

async fn npm_delete(State(s): State<S>, h: HeaderMap, Path(k): Path<String>) -> StatusCode {
    if !npm_authed(&h) {
        return StatusCode::UNAUTHORIZED;
    }
    let mut g = s.lock().unwrap();
    let before = g.tokens.len();
    g.tokens.retain(|t| t.0 != k);
    if g.tokens.len() < before {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn npm_registry() -> (String, S) {
    let s: S = Arc::new(Mutex::new(Reg::default()));
    let app = Router::new()
        .route("/-/npm/v1/tokens", get(npm_list).post(npm_create))
        .route("/-/npm/v1/tokens/token/{key}", delete(npm_delete))
        .with_state(s.clone());
    (serve(app).await, s)
}

fn npm_spec(url: &str, name: &str) -> SourceSpec {
    toml::from_str(&format!(
        "type = \"npm\"\nname = \"{name}\"\npackages = [\"@acme/app\"]\nexpires_days = 30\nregistry = \"{url}\"\n"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_tokens_rotate_per_provider_with_a_one_time_password() {
    std::env::set_var("NPM_SESSION_TOKEN", SESSION);
    std::env::remove_var("NPM_PASSWORD");
    std::env::set_var("CIRCLECI_TOKEN", "sim-circleci-token");
    let (url, reg) = npm_registry().await;
    // three tokens so listing takes two pages
    seed(&reg, "0000-old-circleci", "circleci sim-org/repo-00001");
    seed(&reg, "0000-old-github", "github sim-org/repo-00001");
    seed(&reg, "0000-unrelated", "laptop");

    // without a one-time password, nothing is created and the error says what to set
    std::env::remove_var("NPM_OTP");
    let src = Source::new(
        "npm",
        &npm_spec(&url, "circleci sim-org/repo-00001"),
        SourceClients::default(),
    )
    .unwrap();
    let prep = src.prepare("idem-0123456789ab").await.unwrap();
    let e = src
        .issue("idem-0123456789ab", &prep)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("NPM_OTP"), "{e}");
    assert_eq!(reg.lock().unwrap().creates, 0);

    // a plan without packages is refused before any request
    let bare: SourceSpec =
        toml::from_str(&format!("type = \"npm\"\nname = \"x\"\nregistry = \"{url}\"\n")).unwrap();
    let e = Source::new("npm", &bare, SourceClients::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("packages"), "{e}");

    std::env::set_var("NPM_OTP", OTP);
    let sim = Simulator::start(SimConfig {
        projects: 2,
        log_projects: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let toml = format!(
        r#"
[[secret]]
name = "NPM_TOKEN circleci"
source = {{ type = "npm", name = "circleci sim-org/repo-00001", packages = ["@acme/app"], expires_days = 30, registry = "{url}" }}
[[secret.sink]]
type = "circleci_env"
project = "gh/sim-org/repo-00001"
name = "NPM_TOKEN"
"#
    );
    let mut plan = Plan::parse(&toml, "npm.toml").unwrap();
    plan.providers.circleci = Some(ProviderConn {
        api_url: Some(sim.circleci_url()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("fb.db")).unwrap();
    let (key, _) = SealKey::generate();
    let (run, sum) = firebreak_rotate::harness::run_plan(&j, &plan, &key)
        .await
        .unwrap();
    assert_eq!(sum.done, 1, "{:?}", engine::status(&j, &run).unwrap());
    let row = engine::status(&j, &run).unwrap().remove(0);
    assert_eq!(row.previous_ids, vec!["0000-old-circleci".to_string()]);
    {
        let g = reg.lock().unwrap();
        let ids: Vec<&str> = g.tokens.iter().map(|t| t.0.as_str()).collect();
        assert!(!ids.contains(&"0000-old-circleci"), "old token deleted: {ids:?}");
        assert!(
            ids.contains(&"0000-old-github") && ids.contains(&"0000-unrelated"),
            "{ids:?}"
        );
        let new = g
            .tokens
            .iter()
            .find(|t| t.1.starts_with("circleci sim-org/repo-00001 (firebreak "))
            .expect("a new named token");
        assert_eq!(Some(new.0.clone()), row.new_id);
        // what was asked for: the plan's grant, publish without an OTP, no password sent
        let body = g.bodies.last().unwrap();
        assert_eq!(body["packages"], json!(["@acme/app"]));
        assert_eq!(body["packages_and_scopes_permission"], "read-write");
        assert_eq!(
            (body["expires"].as_u64(), body["bypass_2fa"].as_bool()),
            (Some(30), Some(true))
        );
        assert!(body.get("password").is_none());
        let in_sink = sim
            .secret_value(
                Provider::Circleci,
                Kind::EnvVar,
                "gh/sim-org/repo-00001",
                "NPM_TOKEN",
            )
            .unwrap();
        assert_eq!(in_sink.expose(), new.2);
        assert_eq!(g.creates, 1);
    }

    // an ambiguous create is never resent; its token is found by name and deleted
    let src = Source::new(
        "npm",
        &npm_spec(&url, "github sim-org/repo-00001"),
        SourceClients::default(),
    )
    .unwrap();
    let prep = src.prepare("idem-fedcba987654").await.unwrap();
    reg.lock().unwrap().fail_next_create = true;
    let e = src
        .issue("idem-fedcba987654", &prep)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("500"), "{e}");
    assert_eq!(reg.lock().unwrap().creates, 2, "a create is never resent");
    let orphan = match src.lookup("idem-fedcba987654", &prep).await.unwrap() {
        Lookup::Orphan(id) => id,
        other => panic!("expected an orphan, got {other:?}"),
    };
    src.delete_orphan(&orphan).await.unwrap();
    let issued = src.issue("idem-fedcba987654", &prep).await.unwrap();
    assert_eq!(issued.previous_ids, vec!["0000-old-github".to_string()]);
    src.revoke(&issued.previous_ids).await.unwrap();
    src.revoke(&issued.previous_ids).await.unwrap(); // already gone: success

    // a session the registry refuses: a named error, never the token
    std::env::set_var("NPM_SESSION_TOKEN", "npm_notTheRightSessionToken000000000000");
    let bad = Source::new("npm", &npm_spec(&url, "x"), SourceClients::default()).unwrap();
    let e = bad.prepare("x").await.unwrap_err().to_string();
    assert!(e.contains("/-/npm/v1/tokens") && e.contains("401"), "{e}");
    assert!(!e.contains("notTheRightSessionToken"), "{e}");
    std::env::set_var("NPM_SESSION_TOKEN", SESSION);
}

// ------------------------------------------------------------------------- anaconda

const ANACONDA_PW: &str = "anaconda-password-for-tests-only";
const ANACONDA_TOK: &str = "an-anaconda-management-token-for-tests";

fn basic_ok(h: &HeaderMap) -> bool {
    use base64::Engine as _;
    let want = base64::engine::general_purpose::STANDARD.encode(format!("acme-bot:{ANACONDA_PW}"));
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Basic {want}"))
}

fn token_ok(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("token {ANACONDA_TOK}"))
}

async fn an_create(State(s): State<S>, h: HeaderMap, Json(b): Json<Value>) -> (StatusCode, Json<Value>) {
    if !basic_ok(&h) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Invalid username or password"})),
        );
    }
    let note = b["note"].as_str().unwrap_or("").to_string();
    let mut g = s.lock().unwrap();
    if note.is_empty() || !b["scopes"].is_array() {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "bad request"})));
    }
    if b["fail-if-exists"] == true && g.tokens.iter().any(|t| t.1 == note) {
        return (StatusCode::CONFLICT, Json(json!({"error": "token exists"})));
    }
    g.creates += 1;
    g.next += 1;
    g.bodies.push(b.clone());
    let token = format!("an-{:040}", g.next);
    g.tokens.push((note.clone(), note.clone(), token.clone()));
    if std::mem::take(&mut g.fail_next_create) {
        return (StatusCode::BAD_GATEWAY, Json(json!({"error": "upstream"})));
    }
    (
        StatusCode::OK,
        Json(json!({"token": token, "id": format!("{:024x}", g.next)})),
    )
}

async fn an_list(State(s): State<S>, h: HeaderMap) -> (StatusCode, Json<Value>) {
    if !token_ok(&h) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized"})));
    }
    let g = s.lock().unwrap();
    let v: Vec<Value> = g
        .tokens
        .iter()
        .map(|(_, n, _)| {
            json!({"id": format!("id-{n}"), "application": n, "remote_addr": "127.0.0.1",
                                "hostname": "ci", "expires": null, "scopes": ["api:write", "api:read"]})
        })
        .collect();
    (StatusCode::OK, Json(json!(v)))
}

async fn an_delete(State(s): State<S>, h: HeaderMap, Path(n): Path<String>) -> (StatusCode, Json<Value>) {
    if !token_ok(&h) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized"})));
    }
    let mut g = s.lock().unwrap();
    let before = g.tokens.len();
    g.tokens.retain(|t| t.1 != n);
    if g.tokens.len() < before {
        (StatusCode::CREATED, Json(json!({})))
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"error": "not found"})))
    }
}

async fn anaconda() -> (String, S) {
    let s: S = Arc::new(Mutex::new(Reg::default()));
    let app = Router::new()
        .route("/authentications", get(an_list).post(an_create))
        .route("/authentications/name/{name}", delete(an_delete))
        .with_state(s.clone());
    (serve(app).await, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anaconda_tokens_rotate_by_name_and_an_ambiguous_create_is_not_resent() {
    std::env::set_var("ANACONDA_PASSWORD", ANACONDA_PW);
    std::env::set_var("ANACONDA_TOKEN", ANACONDA_TOK);
    let (url, reg) = anaconda().await;
    seed(&reg, "circleci acme/feedstock", "circleci acme/feedstock");
    seed(&reg, "github acme/feedstock", "github acme/feedstock");
    let spec: SourceSpec = toml::from_str(&format!(
        "type = \"anaconda\"\nusername = \"acme-bot\"\nname = \"circleci acme/feedstock\"\nmax_age_secs = 7776000\nendpoint = \"{url}\"\n"
    ))
    .unwrap();
    let src = Source::new("an", &spec, SourceClients::default()).unwrap();
    let prep = src.prepare("idem-0123456789ab").await.unwrap();
    reg.lock().unwrap().fail_next_create = true;
    let e = src
        .issue("idem-0123456789ab", &prep)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("502"), "{e}");
    assert_eq!(reg.lock().unwrap().creates, 1, "a create is never resent");
    let orphan = match src.lookup("idem-0123456789ab", &prep).await.unwrap() {
        Lookup::Orphan(id) => id,
        other => panic!("expected an orphan, got {other:?}"),
    };
    assert_eq!(orphan, "circleci acme/feedstock (firebreak idem-0123456)");
    src.delete_orphan(&orphan).await.unwrap();
    let issued = src.issue("idem-0123456789ab", &prep).await.unwrap();
    assert_eq!(issued.previous_ids, vec!["circleci acme/feedstock".to_string()]);
    assert_eq!(issued.cred.id.as_deref(), Some(orphan.as_str()));
    src.revoke(&issued.previous_ids).await.unwrap();
    src.revoke(&issued.previous_ids).await.unwrap(); // already gone: success
    {
        let g = reg.lock().unwrap();
        let names: Vec<&str> = g.tokens.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(names, vec!["github acme/feedstock", orphan.as_str()]);
        let b = g.bodies.last().unwrap();
        assert_eq!(b["scopes"], json!(["api:write", "api:read"]));
        assert_eq!(
            (b["max-age"].as_u64(), b["fail-if-exists"].as_bool()),
            (Some(7_776_000), Some(true))
        );
    }
    // a password anaconda.org refuses: a named error, never the password
    std::env::set_var("ANACONDA_PASSWORD", "wrong-password-for-tests");
    let bad = Source::new("an", &spec, SourceClients::default()).unwrap();
    let e = bad.issue("idem-x", &prep).await.unwrap_err().to_string();
    assert!(e.contains("/authentications") && e.contains("401"), "{e}");
    assert!(!e.contains("wrong-password"), "{e}");
    std::env::set_var("ANACONDA_PASSWORD", ANACONDA_PW);
    // no management token: refused before any request
    std::env::remove_var("ANACONDA_TOKEN");
    let e = Source::new("an", &spec, SourceClients::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("ANACONDA_TOKEN"), "{e}");
}
