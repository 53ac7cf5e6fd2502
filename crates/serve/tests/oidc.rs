//! OIDC trusted publishing against a local issuer with its own RSA and EC keys.

mod common;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use common::{start, Backend, Env};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

struct Keys {
    rsa_pem: String,
    rsa_pub_pem: String,
    rsa_jwk: Value,
    rsa2_pem: String,
    rsa2_jwk: Value,
    forger_pem: String,
    ec_pem: String,
    ec_jwk: Value,
}

fn b64u(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn rsa_key(kid: &str) -> (String, String, Value) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let k = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = k.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let pub_pem = k.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": b64u(&k.n().to_bytes_be()), "e": b64u(&k.e().to_bytes_be())});
    (pem, pub_pem, jwk)
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let (rsa_pem, rsa_pub_pem, rsa_jwk) = rsa_key("rsa-1");
        let (rsa2_pem, _, rsa2_jwk) = rsa_key("rsa-2");
        let (forger_pem, _, _) = rsa_key("forger");
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let ec = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let ec_pem = ec.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let mut ec_jwk: Value = serde_json::from_str(&ec.public_key().to_jwk_string()).unwrap();
        ec_jwk["kid"] = json!("ec-1");
        ec_jwk["alg"] = json!("ES256");
        ec_jwk["use"] = json!("sig");
        Keys {
            rsa_pem,
            rsa_pub_pem,
            rsa_jwk,
            rsa2_pem,
            rsa2_jwk,
            forger_pem,
            ec_pem,
            ec_jwk,
        }
    })
}

/// A local issuer: `/{name}/.well-known/openid-configuration` and `/{name}/jwks`.
struct Issuer {
    base: String,
    jwks: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct IssuerState {
    base: String,
    jwks: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn discovery(State(s): State<IssuerState>, Path(name): Path<String>) -> Json<Value> {
    Json(json!({"issuer": format!("{}/{name}", s.base), "jwks_uri": format!("{}/{name}/jwks", s.base)}))
}

async fn jwks(State(s): State<IssuerState>) -> Json<Value> {
    s.fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({"keys": s.jwks.read().unwrap().clone()}))
}

async fn start_issuer() -> Issuer {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let k = keys();
    let jwks_v = Arc::new(RwLock::new(vec![k.rsa_jwk.clone(), k.ec_jwk.clone()]));
    let fetches = Arc::new(AtomicUsize::new(0));
    let st = IssuerState {
        base: base.clone(),
        jwks: jwks_v.clone(),
        fetches: fetches.clone(),
    };
    let app = Router::new()
        .route("/{name}/.well-known/openid-configuration", get(discovery))
        .route("/{name}/jwks", get(jwks))
        .with_state(st);
    let task = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    Issuer {
        base,
        jwks: jwks_v,
        fetches,
        _task: task,
    }
}

const ORG: &str = "0b4e5f6a-1111-2222-3333-444455556666";
const CPROJ: &str = "7c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff";

fn extra(iss: &Issuer) -> String {
    format!(
        r#"
[oidc]
allow_insecure_http = true
jwks_refetch_min_interval_secs = 0
[[oidc.issuers]]
provider = "github"
issuer = "{b}/gh"
audience = "firebreak"
[[oidc.issuers]]
provider = "circleci"
issuer = "{b}/circleci"
audience = "{ORG}"
[[projects]]
name = "numpy"
[[projects.github]]
repository = "conda-forge/numpy-feedstock"
repository_owner_id = "4658359"
job_workflow_ref = "conda-forge/numpy-feedstock/.github/workflows/upload.yml@refs/heads/main"
environment = "release"
[[projects.circleci]]
org_id = "{ORG}"
project_id = "{CPROJ}"
[[projects]]
name = "scipy"
"#,
        b = iss.base
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn jti() -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn gh_claims(iss: &Issuer) -> Value {
    let n = now();
    json!({
        "iss": format!("{}/gh", iss.base), "aud": "firebreak",
        "sub": "repo:conda-forge/numpy-feedstock:environment:release",
        "repository": "conda-forge/numpy-feedstock", "repository_owner_id": "4658359",
        "job_workflow_ref": "conda-forge/numpy-feedstock/.github/workflows/upload.yml@refs/heads/main",
        "environment": "release", "jti": jti(), "iat": n, "nbf": n - 5, "exp": n + 300,
    })
}

fn cci_claims(iss: &Issuer) -> Value {
    let n = now();
    json!({
        "iss": format!("{}/circleci", iss.base), "aud": ORG,
        "sub": format!("org/{ORG}/project/{CPROJ}/user/u1"),
        "oidc.circleci.com/org-id": ORG, "oidc.circleci.com/project-id": CPROJ,
        "oidc.circleci.com/ssh-rerun": false, "jti": jti(), "iat": n, "exp": n + 300,
    })
}

fn sign_rs(claims: &Value, pem: &str, kid: &str) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
}

fn sign_es(claims: &Value, kid: &str) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(
        &h,
        claims,
        &EncodingKey::from_ec_pem(keys().ec_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn expect_denied(env: &Env, jwt: &str, project: &str, status: u16, reason: &str) {
    let e = env
        .anon
        .exchange(jwt, project)
        .await
        .err()
        .unwrap_or_else(|| panic!("exchange should be refused: {reason}"));
    assert_eq!(e.status(), Some(status), "{reason}: {e}");
    env.assert_denied("oidc.exchange", reason);
}

async fn exchange_and_publish(b: Backend) {
    let iss = start_issuer().await;
    let env = start(b, &extra(&iss)).await;
    let k = keys();
    // GitHub, RS256.
    let r = env
        .anon
        .exchange(&sign_rs(&gh_claims(&iss), &k.rsa_pem, "rsa-1"), "numpy")
        .await
        .unwrap();
    assert_eq!(r.info.provider, "github");
    assert_eq!(r.info.origin, "oidc");
    let exp = chrono::DateTime::parse_from_rfc3339(&r.info.expires_at)
        .unwrap()
        .timestamp();
    assert!(exp - now() <= 900 && exp - now() > 800, "short-lived token");
    let sha = env.stage("numpy/noarch/a.conda", b"a");
    let p = env
        .anon
        .publish(&r.token, "numpy", "numpy/noarch/a.conda", &sha, Some("github"))
        .await
        .unwrap();
    assert_eq!(p["status"], "published");
    // CircleCI, ES256.
    let r = env
        .anon
        .exchange(&sign_es(&cci_claims(&iss), "ec-1"), "numpy")
        .await
        .unwrap();
    assert_eq!(r.info.provider, "circleci");
    env.anon.verify(&r.token).await.unwrap();
    // A GitHub environment is required when configured, optional otherwise.
    let mut c = gh_claims(&iss);
    c.as_object_mut().unwrap().remove("environment");
    expect_denied(
        &env,
        &sign_rs(&c, &k.rsa_pem, "rsa-1"),
        "numpy",
        403,
        "claims do not match",
    )
    .await;
    // Added publisher via the admin API (no environment) for scipy.
    env.admin.add_publisher("scipy", json!({"provider": "github", "repository": "conda-forge/numpy-feedstock",
        "repository_owner_id": "4658359", "job_workflow_ref": "conda-forge/numpy-feedstock/.github/workflows/upload.yml@refs/heads/main"})).await.unwrap();
    let mut c = gh_claims(&iss);
    c.as_object_mut().unwrap().remove("environment");
    env.anon
        .exchange(&sign_rs(&c, &k.rsa_pem, "rsa-1"), "scipy")
        .await
        .unwrap();
    let evs = env.audit();
    assert!(evs.iter().any(|e| e.action == "oidc.exchange"
        && e.outcome == "allowed"
        && e.actor
            == format!(
                "oidc:{}/gh:repo:conda-forge/numpy-feedstock:environment:release",
                iss.base
            )));
    assert!(evs
        .iter()
        .any(|e| e.action == "publisher.add" && e.outcome == "allowed"));
    // Keys were fetched once and cached.
    assert_eq!(iss.fetches.load(Ordering::SeqCst), 2, "one JWKS fetch per issuer");
    env.finish().await;
}

async fn rejections(b: Backend) {
    let iss = start_issuer().await;
    let env = start(b, &extra(&iss)).await;
    let k = keys();
    let rs = |c: &Value| sign_rs(c, &k.rsa_pem, "rsa-1");

    // Forged signature: right kid, wrong key.
    expect_denied(
        &env,
        &sign_rs(&gh_claims(&iss), &k.forger_pem, "rsa-1"),
        "numpy",
        401,
        "signature is invalid",
    )
    .await;
    // Wrong issuer.
    let mut c = gh_claims(&iss);
    c["iss"] = json!("https://token.actions.example.invalid");
    expect_denied(&env, &rs(&c), "numpy", 401, "untrusted issuer").await;
    // Wrong audience.
    let mut c = gh_claims(&iss);
    c["aud"] = json!("someone-else");
    expect_denied(&env, &rs(&c), "numpy", 401, "audience does not match").await;
    // Expired.
    let mut c = gh_claims(&iss);
    c["iat"] = json!(now() - 1200);
    c["nbf"] = json!(now() - 1200);
    c["exp"] = json!(now() - 600);
    expect_denied(&env, &rs(&c), "numpy", 401, "expired").await;
    // Not yet valid.
    let mut c = gh_claims(&iss);
    c["nbf"] = json!(now() + 600);
    expect_denied(&env, &rs(&c), "numpy", 401, "not valid yet").await;
    // Issued in the future.
    let mut c = gh_claims(&iss);
    c["iat"] = json!(now() + 600);
    expect_denied(&env, &rs(&c), "numpy", 401, "issued in the future").await;
    // No jti.
    let mut c = gh_claims(&iss);
    c.as_object_mut().unwrap().remove("jti");
    expect_denied(&env, &rs(&c), "numpy", 401, "no jti").await;
    // Replayed jti.
    let good = rs(&gh_claims(&iss));
    env.anon.exchange(&good, "numpy").await.unwrap();
    expect_denied(&env, &good, "numpy", 401, "replayed").await;
    // Claims that do not match the publisher (each field).
    for (field, val) in [
        ("repository", "evil/numpy-feedstock"),
        ("repository_owner_id", "1"),
        (
            "job_workflow_ref",
            "conda-forge/numpy-feedstock/.github/workflows/pr.yml@refs/pull/1/merge",
        ),
        ("environment", "dev"),
    ] {
        let mut c = gh_claims(&iss);
        c[field] = json!(val);
        expect_denied(&env, &rs(&c), "numpy", 403, "claims do not match").await;
    }
    // A project without this publisher.
    expect_denied(&env, &rs(&gh_claims(&iss)), "scipy", 403, "claims do not match").await;
    // CircleCI: wrong project id, ssh-rerun true, ssh-rerun missing.
    let mut c = cci_claims(&iss);
    c["oidc.circleci.com/project-id"] = json!("other");
    expect_denied(&env, &sign_es(&c, "ec-1"), "numpy", 403, "claims do not match").await;
    let mut c = cci_claims(&iss);
    c["oidc.circleci.com/ssh-rerun"] = json!(true);
    expect_denied(&env, &sign_es(&c, "ec-1"), "numpy", 403, "ssh-rerun is true").await;
    let mut c = cci_claims(&iss);
    c.as_object_mut().unwrap().remove("oidc.circleci.com/ssh-rerun");
    expect_denied(
        &env,
        &sign_es(&c, "ec-1"),
        "numpy",
        403,
        "lacks oidc.circleci.com/ssh-rerun",
    )
    .await;
    // alg none.
    let hdr = b64u(br#"{"alg":"none","kid":"rsa-1","typ":"JWT"}"#);
    let body = b64u(gh_claims(&iss).to_string().as_bytes());
    expect_denied(&env, &format!("{hdr}.{body}."), "numpy", 401, "algorithm none").await;
    // HS256 signed with the issuer's public key as the HMAC secret.
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("rsa-1".into());
    let hs = jsonwebtoken::encode(
        &h,
        &gh_claims(&iss),
        &EncodingKey::from_secret(k.rsa_pub_pem.as_bytes()),
    )
    .unwrap();
    expect_denied(&env, &hs, "numpy", 401, "HS256 is not allowed").await;
    // ES256 header naming an RSA key.
    expect_denied(
        &env,
        &sign_es(&gh_claims(&iss), "rsa-1"),
        "numpy",
        401,
        "does not match the issuer's key",
    )
    .await;
    // Unknown kid (after a refetch).
    expect_denied(
        &env,
        &sign_rs(&gh_claims(&iss), &k.rsa2_pem, "rsa-2"),
        "numpy",
        401,
        "unknown signing key",
    )
    .await;
    // Malformed.
    expect_denied(&env, "not-a-jwt", "numpy", 401, "malformed JWT").await;
    // Unknown project.
    expect_denied(&env, &rs(&gh_claims(&iss)), "nope", 404, "no such project").await;
    env.finish().await;
}

async fn key_rotation_refetch(b: Backend) {
    let iss = start_issuer().await;
    let env = start(b, &extra(&iss)).await;
    let k = keys();
    env.anon
        .exchange(&sign_rs(&gh_claims(&iss), &k.rsa_pem, "rsa-1"), "numpy")
        .await
        .unwrap();
    let before = iss.fetches.load(Ordering::SeqCst);
    // The issuer rotates to a new key: the unknown kid triggers one refetch.
    iss.jwks.write().unwrap().push(k.rsa2_jwk.clone());
    env.anon
        .exchange(&sign_rs(&gh_claims(&iss), &k.rsa2_pem, "rsa-2"), "numpy")
        .await
        .unwrap();
    assert_eq!(iss.fetches.load(Ordering::SeqCst), before + 1);
    // Known kid: no refetch.
    env.anon
        .exchange(&sign_rs(&gh_claims(&iss), &k.rsa_pem, "rsa-1"), "numpy")
        .await
        .unwrap();
    assert_eq!(iss.fetches.load(Ordering::SeqCst), before + 1);
    env.finish().await;
}

both_backends!(exchange_and_publish, rejections, key_rotation_refetch);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_refetch_is_rate_limited() {
    let iss = start_issuer().await;
    let extra = extra(&iss).replace(
        "jwks_refetch_min_interval_secs = 0",
        "jwks_refetch_min_interval_secs = 3600",
    );
    let env = start(Backend::Sqlite, &extra).await;
    let k = keys();
    env.anon
        .exchange(&sign_rs(&gh_claims(&iss), &k.rsa_pem, "rsa-1"), "numpy")
        .await
        .unwrap();
    for _ in 0..5 {
        expect_denied(
            &env,
            &sign_rs(&gh_claims(&iss), &k.forger_pem, "nope"),
            "numpy",
            401,
            "unknown signing key",
        )
        .await;
    }
    assert_eq!(
        iss.fetches.load(Ordering::SeqCst),
        1,
        "unknown kids must not hammer the issuer"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_exp_is_accepted_once_not_an_overflow() {
    // Found by the adversarial suite: `exp * 1000` overflowed for exp = i64::MAX (a panic
    // in debug builds; in release the jti expiry wrapped into the past and was pruned, so
    // the token could be replayed).
    let iss = start_issuer().await;
    let env = start(Backend::Sqlite, &extra(&iss)).await;
    let k = keys();
    let mut c = gh_claims(&iss);
    c["exp"] = json!(i64::MAX);
    let t = sign_rs(&c, &k.rsa_pem, "rsa-1");
    env.anon.exchange(&t, "numpy").await.unwrap();
    // another exchange prunes expired jtis; this one must survive it
    env.anon
        .exchange(&sign_rs(&gh_claims(&iss), &k.rsa_pem, "rsa-1"), "numpy")
        .await
        .unwrap();
    expect_denied(&env, &t, "numpy", 401, "replayed").await;
    env.finish().await;
}

/// A denied exchange names nobody as its actor: the `iss` and `sub` of a token that
/// failed verification are whatever its sender wrote (here a forged signature claiming
/// the numpy feedstock, then an unknown issuer claiming a token-shaped subject). They are
/// recorded as claimed, unverified, and redacted (a configured issuer excepted); a
/// verified token that is then denied (publisher mismatch) keeps its verified actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_exchanges_record_claims_as_unverified_never_as_the_actor() {
    const TOKEN: &str = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yh1Jd6Gf0Sa2Qe9";
    let iss = start_issuer().await;
    let env = start(Backend::Sqlite, &extra(&iss)).await;
    let k = keys();
    let gh = format!("{}/gh", iss.base);
    let denied = |n: usize| {
        let evs: Vec<_> = env
            .audit()
            .into_iter()
            .filter(|e| e.action == "oidc.exchange" && e.outcome == "denied")
            .collect();
        assert_eq!(evs.len(), n, "{evs:?}");
        evs[n - 1].clone()
    };

    // Forged: a configured issuer and the feedstock's subject, signed by someone else.
    let forged = sign_rs(&gh_claims(&iss), &k.forger_pem, "rsa-1");
    expect_denied(&env, &forged, "numpy", 401, "signature is invalid").await;
    let e = denied(1);
    assert_eq!(e.actor, "anonymous");
    assert!(!e.actor.contains("numpy-feedstock"));
    assert_eq!(
        e.claimed_issuer.as_deref(),
        Some(gh.as_str()),
        "a configured issuer is shown"
    );
    let sub = e.claimed_subject.clone().expect("claimed subject");
    assert!(
        sub.contains("not shown whole") && !sub.contains("numpy-feedstock"),
        "{sub}"
    );

    // An unknown issuer (attacker-chosen bytes), a token as the subject, a long claim.
    let mut c = gh_claims(&iss);
    c["iss"] = json!(format!("https://evil.example.invalid/{}", "x".repeat(5000)));
    c["sub"] = json!(format!("repo:victim/repo:{TOKEN}"));
    expect_denied(
        &env,
        &sign_rs(&c, &k.rsa_pem, "rsa-1"),
        "numpy",
        401,
        "untrusted issuer",
    )
    .await;
    let e = denied(2);
    assert_eq!(e.actor, "anonymous");
    let (ci, cs) = (e.claimed_issuer.unwrap(), e.claimed_subject.unwrap());
    assert!(!ci.contains("evil.example") && ci.len() < 80, "{ci}");
    assert!(
        !cs.contains(&TOKEN[4..]) && !cs.contains("victim") && cs.len() < 80,
        "{cs}"
    );
    let raw = std::fs::read_to_string(env.audit_path()).unwrap();
    assert!(!raw.contains(&TOKEN[4..]) && !raw.contains("evil.example") && !raw.contains("victim"));

    // Unsigned, nothing to peek at: no claims, still anonymous.
    expect_denied(&env, "not-a-jwt", "numpy", 401, "malformed JWT").await;
    let e = denied(3);
    assert_eq!(
        (e.actor.as_str(), e.claimed_issuer, e.claimed_subject),
        ("anonymous", None, None)
    );

    // Verified, then denied: the verified identity is the actor, nothing is "claimed".
    let mut c = gh_claims(&iss);
    c["environment"] = json!("dev");
    expect_denied(
        &env,
        &sign_rs(&c, &k.rsa_pem, "rsa-1"),
        "numpy",
        403,
        "claims do not match",
    )
    .await;
    let e = denied(4);
    assert_eq!(
        e.actor,
        format!("oidc:{gh}:repo:conda-forge/numpy-feedstock:environment:release")
    );
    assert_eq!((e.claimed_issuer, e.claimed_subject), (None, None));
    env.finish().await;
}
