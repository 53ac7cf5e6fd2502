//! Every HTTP validator of the built-in catalogue, against a local server that answers
//! with the replies the provider documents (each validator's `mock`): the example value
//! is live, a changed value is dead, a 503 is unknown (never dead), and the value is
//! sent where the template says and never appears in a verdict.

use firebreak_core::{SecretString, ValidationStatus};
use firebreak_validate::spec::{Check, Reply};
use firebreak_validate::{Catalogue, Checker, Endpoints, Inputs, Options};
use std::sync::{Arc, Mutex};

#[derive(Default, Clone)]
struct Expect {
    live: String,
    dead: String,
    live_reply: Option<Reply>,
    dead_reply: Option<Reply>,
    force_status: Option<u16>,
    seen: Vec<String>,
}

fn reply(r: &Reply) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = match (&r.body, &r.text) {
        (Some(b), _) => axum::Json(b.clone()).into_response(),
        (None, Some(t)) => t.clone().into_response(),
        (None, None) => ().into_response(),
    };
    *resp.status_mut() = axum::http::StatusCode::from_u16(r.status).unwrap();
    for (k, v) in &r.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    resp
}

/// Everything of a request a value could be carried in, decoded.
fn carried(m: &axum::http::Method, u: &axum::http::Uri, h: &axum::http::HeaderMap, body: &[u8]) -> String {
    use base64::Engine;
    let mut s = format!("{m} ");
    s.push_str(
        &url::form_urlencoded::parse(u.to_string().as_bytes())
            .map(|(k, v)| format!("{k}={v}&"))
            .collect::<String>(),
    );
    s.push_str(&u.to_string());
    for (k, v) in h {
        let v = v.to_str().unwrap_or("");
        s.push_str(&format!("\n{k}: {v}"));
        if let Some(b) = v.strip_prefix("Basic ") {
            if let Ok(d) = base64::engine::general_purpose::STANDARD.decode(b) {
                s.push_str(&format!("\nbasic: {}", String::from_utf8_lossy(&d)));
            }
        }
    }
    s.push('\n');
    s.push_str(&String::from_utf8_lossy(body));
    for (k, v) in url::form_urlencoded::parse(body) {
        s.push_str(&format!("\n{k}={v}"));
    }
    s
}

async fn server(state: Arc<Mutex<Expect>>) -> String {
    let app = axum::Router::new().fallback(
        move |m: axum::http::Method,
              u: axum::http::Uri,
              h: axum::http::HeaderMap,
              body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let mut e = state.lock().unwrap();
                let c = carried(&m, &u, &h, &body);
                e.seen.push(format!("{m} {}", u.path()));
                if let Some(s) = e.force_status {
                    return reply(&Reply {
                        status: s,
                        headers: Default::default(),
                        body: None,
                        text: Some("upstream trouble".into()),
                    });
                }
                if c.contains(&e.live) {
                    reply(e.live_reply.as_ref().unwrap())
                } else if c.contains(&e.dead) {
                    reply(e.dead_reply.as_ref().unwrap())
                } else {
                    reply(&Reply {
                        status: 418,
                        headers: Default::default(),
                        body: None,
                        text: Some("the value was not in the request".into()),
                    })
                }
            }
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

/// A checker sending validator endpoint `ep` to `{base}/{ep}` on the local mock, without
/// retries or a real rate limit.
fn mock_checker(cat: &Arc<Catalogue>, ep: &str, base: &str) -> Checker {
    let mut eps = Endpoints::default();
    eps.insert(ep, url::Url::parse(&format!("{base}/{ep}")).unwrap());
    Checker::new(
        cat.clone(),
        Options {
            endpoints: eps,
            max_retries: 0,
            rate_per_host: 1000.0,
            ..Options::default()
        },
    )
}

/// What of a value the mock looks for: a URL value (a webhook) travels as its path.
fn marker(v: &str) -> String {
    match v.strip_prefix("https://") {
        Some(r) => r.rsplit('/').next().unwrap().to_string(),
        None => v.to_string(),
    }
}

/// The example with one character changed so that it keeps its shape, differing from
/// every value in `avoid`.
fn changed(c: &firebreak_validate::Compiled, ex: &str, avoid: &[&str]) -> String {
    let b: Vec<char> = ex.chars().collect();
    for pos in (0..b.len()).rev().skip(1).take(12) {
        for rep in ['Q', 'q', '7', 'e', 'x', 'Z', '3'] {
            if b[pos] == rep || !b[pos].is_ascii_alphanumeric() {
                continue;
            }
            let mut t = b.clone();
            t[pos] = rep;
            let t: String = t.into_iter().collect();
            if c.shape_ok(0, &t) && t != ex && !avoid.contains(&t.as_str()) {
                return t;
            }
        }
    }
    panic!("{}: cannot change the example and keep its shape", c.spec.id)
}

#[tokio::test]
async fn every_http_validator_answers_as_its_provider_documents() {
    let cat = Arc::new(Catalogue::builtin().unwrap());
    let state = Arc::new(Mutex::new(Expect::default()));
    let base = server(state.clone()).await;
    let mut tested = 0;
    let mut failures = Vec::new();
    for v in cat.iter() {
        let Check::Http(h) = &v.spec.check else { continue };
        let id = &v.spec.id;
        let Some(mock) = &v.spec.mock else {
            failures.push(format!(
                "{id}: an HTTP validator needs a mock (the provider's documented replies)"
            ));
            continue;
        };
        let mut inputs = Inputs::default();
        for i in &v.spec.inputs {
            match &i.example {
                Some(ex) => {
                    inputs.0.insert(i.name.clone(), SecretString::new(ex.clone()));
                }
                None if i.optional => {}
                None => failures.push(format!("{id}: input {} needs an example", i.name)),
            }
        }
        let first = v.spec.inputs[0].name.clone();
        let live = inputs.get(&first).unwrap().expose().to_string();
        let dead = changed(v, &live, &[]);
        let ep = v.spec.endpoint.clone().unwrap();
        let ck = mock_checker(&cat, &ep, &base);
        *state.lock().unwrap() = Expect {
            live: marker(&live),
            dead: marker(&dead),
            live_reply: Some(mock.live.clone()),
            dead_reply: Some(mock.dead.clone()),
            ..Expect::default()
        };
        let got = ck.check(id, &inputs).await;
        let seen = state.lock().unwrap().seen.clone();
        if got.status != ValidationStatus::Live {
            failures.push(format!(
                "{id}: example should be live, got {} ({:?}); requests {seen:?}",
                got.status, got.reason
            ));
        }
        for (k, want) in &mock.identity {
            if got.identity.get(k) != Some(want) {
                failures.push(format!(
                    "{id}: identity.{k} = {:?}, want {want}",
                    got.identity.get(k)
                ));
            }
        }
        if !seen.iter().all(|s| s.starts_with(&format!("{} /{ep}", h.method))) {
            failures.push(format!("{id}: requests went to {seen:?}"));
        }
        let mut dead_inputs = inputs.clone();
        dead_inputs
            .0
            .insert(first.clone(), SecretString::new(dead.clone()));
        let got = ck.check(id, &dead_inputs).await;
        if got.status != ValidationStatus::Dead {
            failures.push(format!(
                "{id}: changed value should be dead, got {} ({:?})",
                got.status, got.reason
            ));
        }
        // a server in trouble proves nothing
        state.lock().unwrap().force_status = Some(503);
        let mut other = inputs.clone();
        other.0.insert(
            first.clone(),
            SecretString::new(changed(v, &dead, &[live.as_str()])),
        );
        let got = ck.check(id, &other).await;
        if got.status != ValidationStatus::Unknown {
            failures.push(format!("{id}: a 503 must be unknown, got {}", got.status));
        }
        for g in [&got] {
            let text = serde_json::to_string(g).unwrap();
            for val in [&live, &dead] {
                if text.contains(val.as_str()) {
                    failures.push(format!("{id}: the verdict holds the value"));
                }
            }
        }
        tested += 1;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(tested >= 50, "only {tested} HTTP validators tested");
    eprintln!("{tested} HTTP validators answered as documented");
}

#[tokio::test]
async fn a_full_url_value_goes_only_to_its_own_hosts() {
    let cat = Arc::new(Catalogue::builtin().unwrap());
    let ck = Checker::new(cat, Options::default());
    // a "Slack webhook" pointing elsewhere is never sent
    let v = ck
        .check(
            "discord.webhook",
            &Inputs::one("url", SecretString::new("https://discord.com.evil.example/api/webhooks/109876543210987654/Zx8bGk2PqR7tLm4nVw9sQw3rTy8uIoP2aSdF4gHjZx8bGk2PqR7tLm4nVw9sQw3rTy8u")),
        )
        .await;
    assert_ne!(v.status, ValidationStatus::Live);
    assert_ne!(v.status, ValidationStatus::Dead);
    assert!(!serde_json::to_string(&v)
        .unwrap()
        .contains("Zx8bGk2PqR7tLm4nVw9sQw3r"));
}

#[tokio::test]
async fn missing_parts_and_endpoints_are_unknown_not_dead() {
    let cat = Arc::new(Catalogue::builtin().unwrap());
    let ck = Checker::new(cat, Options::default());
    let v = ck
        .check(
            "vault.token",
            &Inputs::one(
                "token",
                SecretString::new("hvs.CAESIZx8bGk2PqR7tLm4nVw9sQw3rTy8uIoP2aSdF"),
            ),
        )
        .await;
    assert_eq!(v.status, ValidationStatus::Unknown);
    assert!(
        v.reason.as_deref().unwrap().contains("--endpoint vault=URL"),
        "{v:?}"
    );
    let v = ck
        .check(
            "aws.access_key",
            &Inputs::one("key_id", SecretString::new("AKIAZ7EXAMPLEKEY2345")),
        )
        .await;
    assert_eq!(v.status, ValidationStatus::Unknown);
    assert!(v.reason.as_deref().unwrap().contains("secret"), "{v:?}");
}

/// A provider that knows one credential: the documented `live` reply to checks until a
/// revocation request (the validator's `revoke` method and path, carrying the value)
/// arrives, the documented `dead` reply after it.
#[derive(Default)]
struct Revocable {
    marker: String,
    method: String,
    path: String,
    mock: Option<firebreak_validate::spec::Mock>,
    revoked: bool,
    fail_revoke: bool,
    requests: Vec<String>,
}

async fn revocable_server(state: Arc<Mutex<Revocable>>) -> String {
    let app = axum::Router::new().fallback(
        move |m: axum::http::Method,
              u: axum::http::Uri,
              h: axum::http::HeaderMap,
              body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let mut st = state.lock().unwrap();
                let c = carried(&m, &u, &h, &body);
                st.requests.push(format!("{m} {}", u.path()));
                let mock = st.mock.clone().unwrap();
                let is_revoke = m.as_str() == st.method && u.path().contains(&st.path);
                if is_revoke {
                    if st.fail_revoke {
                        return reply(&Reply {
                            status: 503,
                            headers: Default::default(),
                            body: None,
                            text: Some("maintenance".into()),
                        });
                    }
                    if c.contains(&st.marker) {
                        st.revoked = true;
                        return reply(mock.revoked.as_ref().unwrap());
                    }
                }
                if c.contains(&st.marker) && !st.revoked {
                    reply(&mock.live)
                } else {
                    reply(&mock.dead)
                }
            }
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn every_http_revocation_is_sent_as_documented_and_proven_by_a_fresh_check() {
    use firebreak_validate::RevokeStatus;
    let cat = Arc::new(Catalogue::builtin().unwrap());
    let state = Arc::new(Mutex::new(Revocable::default()));
    let base = revocable_server(state.clone()).await;
    let mut tested = 0;
    let mut failures = Vec::new();
    for v in cat.iter() {
        let Some(rv) = v.spec.revoke.as_ref().and_then(|r| r.http.clone()) else {
            continue;
        };
        let id = &v.spec.id;
        let Some(mock) = v.spec.mock.clone() else {
            failures.push(format!("{id}: no mock"));
            continue;
        };
        if mock.revoked.is_none() {
            failures.push(format!(
                "{id}: an HTTP revocation needs mock.revoked (the documented reply)"
            ));
            continue;
        }
        let mut inputs = Inputs::default();
        for i in &v.spec.inputs {
            if let Some(ex) = &i.example {
                inputs.0.insert(i.name.clone(), SecretString::new(ex.clone()));
            }
        }
        let live = inputs.get(&v.spec.inputs[0].name).unwrap().expose().to_string();
        let ep = v.spec.endpoint.clone().unwrap();
        let ck = mock_checker(&cat, &ep, &base);
        let path = rv.path.clone().unwrap_or_default();
        let path = path.split("{{").next().unwrap().to_string();
        *state.lock().unwrap() = Revocable {
            marker: marker(&live),
            method: rv.method.clone(),
            path: path.trim_end_matches('/').to_string(),
            mock: Some(mock.clone()),
            fail_revoke: true,
            ..Revocable::default()
        };
        // the provider in trouble: the revocation failed, the credential is not dead
        assert_eq!(ck.check(id, &inputs).await.status, ValidationStatus::Live, "{id}");
        let r = ck.revoke(id, &inputs).await;
        if r.status != RevokeStatus::Failed {
            failures.push(format!(
                "{id}: a 503 to the revocation must be failed, got {}",
                r.status
            ));
        }
        state.lock().unwrap().fail_revoke = false;
        let r = ck.revoke(id, &inputs).await;
        let seen = state.lock().unwrap().requests.clone();
        if r.status != RevokeStatus::Revoked {
            failures.push(format!(
                "{id}: revocation should be proven, got {} ({:?}); requests {seen:?}",
                r.status, r.reason
            ));
        }
        if r.after.as_ref().map(|a| a.status) != Some(ValidationStatus::Dead) {
            failures.push(format!(
                "{id}: no fresh check after the revocation: {:?}",
                r.after
            ));
        }
        if !seen
            .iter()
            .any(|s| s.starts_with(&format!("{} /{ep}", rv.method)))
        {
            failures.push(format!("{id}: no {} request in {seen:?}", rv.method));
        }
        let text = serde_json::to_string(&r).unwrap();
        if text.contains(&live) {
            failures.push(format!("{id}: the revocation record holds the value"));
        }
        tested += 1;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(tested >= 12, "only {tested} HTTP revocations tested");
}

#[tokio::test]
async fn manual_and_missing_revocations_send_nothing() {
    use firebreak_validate::RevokeStatus;
    let cat = Arc::new(Catalogue::builtin().unwrap());
    let ck = Checker::new(cat, Options::default());
    let r = ck
        .revoke(
            "circleci.token",
            &Inputs::one(
                "token",
                SecretString::new("0123456789abcdef0123456789abcdef01234567"),
            ),
        )
        .await;
    assert_eq!(r.status, RevokeStatus::Manual);
    assert!(r.reason.unwrap().contains("Personal API Tokens"));
    let r = ck
        .revoke(
            "openai.api_key",
            &Inputs::one(
                "token",
                SecretString::new("sk-proj-Zx8bGk2PqR7tLm4nVw9sQw3rTy8uIoP2aSdF4gHj"),
            ),
        )
        .await;
    assert_eq!(r.status, RevokeStatus::Unsupported);
    assert_eq!(ck.requests(), 0);
}
