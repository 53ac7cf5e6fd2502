//! The `dockerhub` source end to end: a mock of Docker Hub's token API built from its
//! published reference (`POST /v2/auth/token`, `POST|GET /v2/access-tokens`, `DELETE
//! /v2/access-tokens/{uuid}`, the documented request and response shapes), the engine
//! writing the new token to a CircleCI sink of the provider simulator, the old token of
//! that label deleted only after the sink is verified, another provider's token left
//! alone; an ambiguous failure of the create is never resent, and the token it made is
//! found by its label and deleted as an orphan before a new one is issued.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{Kind, Provider};
use firebreak_rotate::engine;
use firebreak_rotate::plan::{Plan, ProviderConn};
use firebreak_rotate::sources::{Lookup, Source, SourceClients};
use firebreak_rotate::{Journal, SealKey};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Hub {
    tokens: Vec<(String, String, String)>, // uuid, label, token
    next: u32,
    creates: u32,
    /// Answer the next create with 503 after making the token (an ambiguous failure).
    fail_next_create: bool,
}

type S = Arc<Mutex<Hub>>;

const PASSWORD: &str = "hub-password-for-tests-only";
const JWT: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhY21lLWJvdCJ9.";

fn authed(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {JWT}"))
}

async fn auth(Json(b): Json<Value>) -> (StatusCode, Json<Value>) {
    if b["identifier"] == "acme-bot" && b["secret"] == PASSWORD {
        (StatusCode::OK, Json(json!({"access_token": JWT})))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"detail": "Incorrect authentication credentials"})),
        )
    }
}

async fn create(State(s): State<S>, h: HeaderMap, Json(b): Json<Value>) -> (StatusCode, Json<Value>) {
    if !authed(&h) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"detail": "unauthorized"})));
    }
    let label = b["token_label"].as_str().unwrap_or("").to_string();
    if label.is_empty() || label.len() > 100 || !b["scopes"].is_array() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "invalid request"})),
        );
    }
    let mut g = s.lock().unwrap();
    g.creates += 1;
    g.next += 1;
    let uuid = format!("b30bbf97-506c-4ecd-aabc-{:012}", g.next);
    let token = format!("dckr_pat_{:027}", g.next);
    g.tokens.push((uuid.clone(), label.clone(), token.clone()));
    if std::mem::take(&mut g.fail_next_create) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"detail": "try again"})),
        );
    }
    (
        StatusCode::CREATED,
        Json(
            json!({"uuid": uuid, "client_id": "HUB", "creator_ip": "127.0.0.1", "creator_ua": "firebreak",
                     "created_at": "2023-01-05T10:00:00Z", "last_used": null, "generated_by": "manual",
                     "is_active": true, "token": token, "token_label": label, "scopes": b["scopes"]}),
        ),
    )
}

async fn list(State(s): State<S>, h: HeaderMap) -> (StatusCode, Json<Value>) {
    if !authed(&h) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"detail": "unauthorized"})));
    }
    let g = s.lock().unwrap();
    let results: Vec<Value> = g
        .tokens
        .iter()
        .map(|(u, l, _)| json!({"uuid": u, "token_label": l, "is_active": true, "token": "", "scopes": ["repo:read"]}))
        .collect();
    (
        StatusCode::OK,
        Json(
            json!({"count": results.len(), "next": null, "previous": null, "active_count": results.len(), "results": results}),
        ),
    )
}

async fn remove(State(s): State<S>, h: HeaderMap, Path(u): Path<String>) -> StatusCode {
    if !authed(&h) {
        return StatusCode::UNAUTHORIZED;
    }
    let mut g = s.lock().unwrap();
    let before = g.tokens.len();
    g.tokens.retain(|t| t.0 != u);
    if g.tokens.len() < before {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn hub() -> (String, S) {
    let s: S = Arc::new(Mutex::new(Hub::default()));
    let app = Router::new()
        .route("/v2/auth/token", post(auth))
        .route("/v2/access-tokens", post(create).get(list))
        .route("/v2/access-tokens/{uuid}", delete(remove))
        .with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{a}/"), s)
}

fn seed(s: &S, label: &str) -> String {
    let mut g = s.lock().unwrap();
    g.next += 1;
    let uuid = format!("00000000-0000-0000-0000-{:012}", g.next);
    let n = g.next;
    g.tokens
        .push((uuid.clone(), label.into(), format!("dckr_pat_old{n}")));
    uuid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_s_token_is_rotated_into_its_sink_and_only_its_old_token_deleted() {
    std::env::set_var("DOCKERHUB_TOKEN", PASSWORD);
    std::env::set_var("CIRCLECI_TOKEN", "sim-circleci-token");
    let (url, hub) = hub().await;
    let old = seed(&hub, "circleci sim-org/repo-00001");
    let other = seed(&hub, "github sim-org/repo-00001");
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
name = "DOCKERHUB_TOKEN circleci"
source = {{ type = "dockerhub", username = "acme-bot", label = "circleci sim-org/repo-00001", endpoint = "{url}" }}
[[secret.sink]]
type = "circleci_env"
project = "gh/sim-org/repo-00001"
name = "DOCKERHUB_TOKEN"
"#
    );
    let mut plan = Plan::parse(&toml, "hub.toml").unwrap();
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
    assert_eq!(row.previous_ids, vec![old.clone()]);
    let g = hub.lock().unwrap();
    let ids: Vec<&str> = g.tokens.iter().map(|t| t.0.as_str()).collect();
    assert!(!ids.contains(&old.as_str()), "old token deleted: {ids:?}");
    assert!(
        ids.contains(&other.as_str()),
        "another provider's token kept: {ids:?}"
    );
    let new = g
        .tokens
        .iter()
        .find(|t| t.1.starts_with("circleci sim-org/repo-00001 (firebreak "))
        .expect("a new labelled token");
    assert_eq!(Some(new.0.clone()), row.new_id);
    let in_sink = sim
        .secret_value(
            Provider::Circleci,
            Kind::EnvVar,
            "gh/sim-org/repo-00001",
            "DOCKERHUB_TOKEN",
        )
        .unwrap();
    assert_eq!(in_sink.expose(), new.2);
    assert_eq!(g.creates, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_create_is_never_resent_and_its_token_is_deleted_as_an_orphan() {
    std::env::set_var("DOCKERHUB_TOKEN", PASSWORD);
    let (url, hub) = hub().await;
    let old = seed(&hub, "circleci acme/app");
    let spec: firebreak_rotate::plan::SourceSpec = toml::from_str(&format!(
        "type = \"dockerhub\"\nusername = \"acme-bot\"\nlabel = \"circleci acme/app\"\nendpoint = \"{url}\"\n"
    ))
    .unwrap();
    let src = Source::new("hub", &spec, SourceClients::default()).unwrap();
    let prep = src.prepare("idem-0123456789ab").await.unwrap();
    hub.lock().unwrap().fail_next_create = true;
    let e = src
        .issue("idem-0123456789ab", &prep)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("503"), "{e}");
    assert_eq!(hub.lock().unwrap().creates, 1, "a create is never resent");
    let orphan = match src.lookup("idem-0123456789ab", &prep).await.unwrap() {
        Lookup::Orphan(id) => id,
        other => panic!("expected an orphan, got {other:?}"),
    };
    src.delete_orphan(&orphan).await.unwrap();
    let issued = src.issue("idem-0123456789ab", &prep).await.unwrap();
    assert_eq!(issued.previous_ids, vec![old.clone()]);
    assert!(!issued.cred.value.expose().is_empty());
    src.revoke(&issued.previous_ids).await.unwrap();
    // revoking again is success (already gone)
    src.revoke(&issued.previous_ids).await.unwrap();
    {
        let g = hub.lock().unwrap();
        let ids: Vec<String> = g.tokens.iter().map(|t| t.0.clone()).collect();
        assert_eq!(ids, vec![issued.cred.id.clone().unwrap()]);
        assert_eq!(g.creates, 2);
    }
    // credentials the hub refuses: a named error, never the password
    let spec2: firebreak_rotate::plan::SourceSpec = toml::from_str(&format!(
        "type = \"dockerhub\"\nusername = \"someone-else\"\nlabel = \"x\"\nendpoint = \"{url}\"\n"
    ))
    .unwrap();
    let bad = Source::new("hub", &spec2, SourceClients::default()).unwrap();
    let e = bad.prepare("x").await.unwrap_err().to_string();
    assert!(e.contains("/v2/auth/token") && e.contains("401"), "{e}");
    assert!(!e.contains(PASSWORD), "{e}");
}
