//! The OIDC ID-token verifier, with issuer keys pre-loaded (no network).

use base64::Engine;
use firebreak_serve::config::{
    CircleciPublisher, GithubPublisher, IssuerConfig, OidcProvider, OidcSettings, TrustedPublisher,
};
use firebreak_serve::oidc::{match_publisher, Verifier};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// GitHub Actions' issuer.
pub const GH_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// A CircleCI organisation issuer.
pub const CCI_ISSUER: &str = "https://oidc.circleci.com/org/0b4e5f6a-1111-2222-3333-444455556666";
/// The audience both issuers are configured with.
pub const AUDIENCE: &str = "firebreak";
/// The key id the fuzzing issuer signs with.
pub const KID: &str = "fuzz-ec-1";
/// `iat` (and `nbf`) of the seed tokens: fixed, so that seeds written to a corpus stay
/// valid (the fuzzing verifier accepts tokens up to 200 years old).
pub const IAT: i64 = 1_700_000_000;
/// `exp` of the seed tokens (year 2096).
pub const EXP: i64 = 4_000_000_000;
/// Oldest `iat` the fuzzing verifier accepts, in seconds.
pub const MAX_AGE: u64 = 200 * 365 * 86_400;

/// The verifier's clock: the real time (the JWT library checks `exp` and `nbf` against it).
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fixed P-256 key (fuzzing only; never used anywhere else).
fn secret_key() -> p256::SecretKey {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    p256::SecretKey::from_slice(&b).expect("valid scalar")
}

/// The issuer's JWKS (public half of the fixed key, `kid` [`KID`]).
pub fn jwks() -> JwkSet {
    let mut jwk: Value = serde_json::from_str(&secret_key().public_key().to_jwk_string()).expect("jwk");
    jwk["kid"] = json!(KID);
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    serde_json::from_value(json!({ "keys": [jwk] })).expect("jwks")
}

/// The public key as PEM (what an attacker would use as an HMAC secret).
pub fn public_pem() -> String {
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    secret_key()
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem")
}

/// Signs `claims` with ES256 and the fixed key, header `kid`.
pub fn sign_es256(claims: &Value, kid: &str) -> String {
    use p256::pkcs8::EncodePrivateKey;
    let der = secret_key().to_pkcs8_der().expect("pkcs8");
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_ec_der(der.as_bytes())).expect("sign")
}

/// Base64url without padding.
pub fn b64u(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Valid GitHub Actions claims (`iat` [`IAT`], `exp` [`EXP`]).
pub fn github_claims() -> Value {
    json!({
        "iss": GH_ISSUER, "aud": AUDIENCE, "sub": "repo:acme/app:ref:refs/heads/main",
        "iat": IAT, "nbf": IAT, "exp": EXP, "jti": "jti-1",
        "repository": "acme/app", "repository_owner_id": "42",
        "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main",
        "environment": "release"
    })
}

/// Valid CircleCI claims (`iat` [`IAT`], `exp` [`EXP`]).
pub fn circleci_claims() -> Value {
    json!({
        "iss": CCI_ISSUER, "aud": AUDIENCE, "sub": "org/x/project/y/user/z",
        "iat": IAT, "exp": EXP, "jti": "jti-2",
        "oidc.circleci.com/org-id": "0b4e5f6a-1111-2222-3333-444455556666",
        "oidc.circleci.com/project-id": "7c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff",
        "oidc.circleci.com/ssh-rerun": false
    })
}

/// The trusted publishers the fuzzing verifier matches against.
pub fn publishers() -> Vec<TrustedPublisher> {
    vec![
        TrustedPublisher::Github(GithubPublisher {
            repository: "acme/app".into(),
            repository_owner_id: "42".into(),
            job_workflow_ref: "acme/app/.github/workflows/release.yml@refs/heads/main".into(),
            environment: Some("release".into()),
        }),
        TrustedPublisher::Circleci(CircleciPublisher {
            org_id: "0b4e5f6a-1111-2222-3333-444455556666".into(),
            project_id: "7c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff".into(),
        }),
    ]
}

/// OIDC settings with both issuers; discovery points at a closed local port and refetches
/// are effectively disabled, so verification never leaves the process.
pub fn settings() -> OidcSettings {
    let issuer = |provider, iss: &str| IssuerConfig {
        provider,
        issuer: iss.to_string(),
        audience: AUDIENCE.to_string(),
        discovery_url: Some("http://127.0.0.1:9/.well-known/openid-configuration".into()),
    };
    OidcSettings {
        clock_skew_secs: 60,
        max_token_age_secs: MAX_AGE,
        jwks_refetch_min_interval_secs: 1 << 40,
        allow_insecure_http: false,
        issuers: vec![
            issuer(OidcProvider::Github, GH_ISSUER),
            issuer(OidcProvider::Circleci, CCI_ISSUER),
        ],
    }
}

/// A current-thread runtime shared by the async targets.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A verifier with both issuers' keys pre-loaded.
pub fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let v = Verifier::new(settings());
        runtime().block_on(async {
            v.preload_keys(GH_ISSUER, jwks()).await;
            v.preload_keys(CCI_ISSUER, jwks()).await;
        });
        v
    })
}

fn header_alg(jwt: &str) -> Option<String> {
    let h = jwt.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("alg")?.as_str().map(str::to_string)
}

/// The input is the token.
pub fn verify(data: &[u8]) {
    let jwt = String::from_utf8_lossy(data);
    let _ = Verifier::peek_iss_sub(&jwt);
    let now = now();
    match runtime().block_on(verifier().verify(&jwt, now)) {
        Ok(v) => {
            assert_eq!(
                header_alg(&jwt).as_deref(),
                Some("ES256"),
                "only the issuer's algorithm may verify"
            );
            assert!(!v.jti.is_empty() && v.jti.len() <= 256);
            assert!(v.exp + 60 > now, "an expired token must not verify");
            let _ = match_publisher(v.issuer.provider, &v.claims, &publishers());
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            assert!(
                reason.len() <= 512,
                "denial reasons stay short: {} bytes",
                reason.len()
            );
            if jwt.len() >= 16 {
                assert!(!reason.contains(&*jwt), "a denial must not echo the token");
            }
        }
    }
}
