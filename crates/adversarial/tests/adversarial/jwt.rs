//! JWT attacks on the OIDC verifier: `alg: none`, HS256 signed with the public key,
//! algorithm confusion, huge `kid`, expired / future times, absurd claims, oversized
//! tokens. Each is denied with a short reason that never echoes the token; a valid token
//! still verifies (so the denials are not an artefact of a broken setup).

use firebreak_adversarial::targets::jwt::{
    b64u, circleci_claims, github_claims, now, public_pem, runtime, sign_es256, verifier, KID, MAX_AGE,
};
use firebreak_serve::oidc::match_publisher;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn verify(jwt: &str) -> Result<firebreak_serve::oidc::Verified, String> {
    runtime().block_on(verifier().verify(jwt, now()))
}

fn denied(jwt: &str, why: &str) {
    match verify(jwt) {
        Ok(_) => panic!("token verified but should be denied ({why})"),
        Err(reason) => {
            assert!(reason.contains(why), "expected {why:?}, got {reason:?}");
            assert!(reason.len() < 200, "short reason: {reason}");
            if jwt.len() > 16 {
                assert!(!reason.contains(jwt), "the reason must not echo the token");
            }
        }
    }
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64u(header.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes())
    )
}

#[test]
fn valid_tokens_verify_and_match_their_publisher() {
    let v = verify(&sign_es256(&github_claims(), KID)).expect("valid GitHub token");
    match_publisher(
        v.issuer.provider,
        &v.claims,
        &firebreak_adversarial::targets::jwt::publishers(),
    )
    .unwrap();
    let v = verify(&sign_es256(&circleci_claims(), KID)).expect("valid CircleCI token");
    match_publisher(
        v.issuer.provider,
        &v.claims,
        &firebreak_adversarial::targets::jwt::publishers(),
    )
    .unwrap();
}

#[test]
fn alg_none_in_every_spelling() {
    let c = github_claims();
    for alg in ["none", "None", "NONE", ""] {
        denied(
            &unsigned(&json!({"alg": alg, "kid": KID, "typ": "JWT"}), &c),
            "algorithm none",
        );
    }
    denied(&unsigned(&json!({"kid": KID}), &c), "algorithm none");
    // a valid signature moved onto a none header
    let good = sign_es256(&c, KID);
    let sig = good.rsplit('.').next().unwrap();
    let forged = format!("{}{sig}", unsigned(&json!({"alg": "none", "kid": KID}), &c));
    denied(&forged, "algorithm none");
    // "nOnE" and other spellings are not RS256/ES256 either
    denied(&unsigned(&json!({"alg": "nOnE", "kid": KID}), &c), "not allowed");
}

#[test]
fn hmac_signed_with_the_public_key() {
    let pem = public_pem();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let mut h = Header::new(alg);
        h.kid = Some(KID.into());
        let t =
            jsonwebtoken::encode(&h, &github_claims(), &EncodingKey::from_secret(pem.as_bytes())).unwrap();
        denied(&t, "is not allowed");
    }
    // RS256 header over an EC key: algorithm confusion
    let good = sign_es256(&github_claims(), KID);
    let mut parts: Vec<&str> = good.split('.').collect();
    let rs = b64u(json!({"alg": "RS256", "kid": KID}).to_string().as_bytes());
    parts[0] = &rs;
    denied(&parts.join("."), "does not match the issuer's key");
}

#[test]
fn huge_and_hostile_kid() {
    let c = github_claims();
    for kid in [
        "k".repeat(1 << 20),
        "../../../../etc/passwd".into(),
        "\u{0}".into(),
        "🔑".repeat(10_000),
    ] {
        denied(&sign_es256(&c, &kid), "unknown signing key id");
    }
    // kid of the wrong type
    let t = sign_es256(&c, KID);
    let body = t.split('.').nth(1).unwrap();
    for kid in [json!(1), json!(null), json!({"a": 1}), json!(["fuzz-ec-1"])] {
        let h = b64u(json!({"alg": "ES256", "kid": kid}).to_string().as_bytes());
        denied(&format!("{h}.{body}.sig"), "no kid");
    }
}

#[test]
fn expired_future_and_absurd_times() {
    let now = now();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("exp", json!(now - 3600), "expired"),
        ("exp", json!(now - 120), "expired"),
        ("iat", json!(now + 3600), "issued in the future"),
        ("nbf", json!(now + 3600), "not valid yet"),
        ("iat", json!(now - MAX_AGE as i64 - 3600), "too old"),
        ("exp", json!("tomorrow"), "JWT"),
        ("exp", json!(1e300), "JWT"),
        ("iat", json!(i64::MIN), "too old"),
        ("iat", json!(1.5), "iat is not a number"),
        ("iat", json!(null), "JWT"),
    ];
    for (claim, val, why) in cases {
        let mut c = github_claims();
        c[claim] = val.clone();
        denied(&sign_es256(&c, KID), why);
    }
    // exp far in the future is fine by itself (the service mints its own 15-minute token)
    let mut c = github_claims();
    c["exp"] = json!(i64::MAX);
    assert!(verify(&sign_es256(&c, KID)).is_ok());
}

#[test]
fn missing_claims_and_wrong_parties() {
    for (claim, why) in [
        ("jti", "no jti"),
        ("iss", "no iss"),
        ("aud", "aud"),
        ("iat", "iat"),
    ] {
        let mut c = github_claims();
        c.as_object_mut().unwrap().remove(claim);
        denied(&sign_es256(&c, KID), why);
    }
    let mut c = github_claims();
    c["jti"] = json!("j".repeat(257));
    denied(&sign_es256(&c, KID), "no jti");
    let mut c = github_claims();
    c["iss"] = json!("https://evil.example");
    denied(&sign_es256(&c, KID), "untrusted issuer");
    let mut c = github_claims();
    c["aud"] = json!(["someone-else"]);
    denied(&sign_es256(&c, KID), "audience");
}

#[test]
fn malformed_and_oversized_tokens() {
    let huge_payload = b64u(json!({"iss": "x".repeat(1 << 20)}).to_string().as_bytes());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for t in [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        ".".repeat(100_000),
        "a.b.c".into(),
        "not a jwt at all".into(),
        format!(
            "{}.{huge_payload}.sig",
            b64u(br#"{"alg":"ES256","kid":"fuzz-ec-1"}"#)
        ),
        format!(
            "{}.{}.sig",
            b64u(br#"{"alg":"ES256","kid":"fuzz-ec-1"}"#),
            b64u(deep.as_bytes())
        ),
        format!("{}.e30.", b64u(deep.as_bytes())),
        format!("{}.e30.", b64u(b"\xff\xfe not json")),
        "x".repeat(4 << 20),
    ] {
        let r = verify(&t);
        let Err(reason) = r else {
            panic!("a crafted token was accepted")
        };
        assert!(reason.len() < 200, "{reason}");
        if t.len() > 16 {
            assert!(!reason.contains(&t));
        }
    }
    // tampered payload under a valid signature
    let good = sign_es256(&github_claims(), KID);
    let parts: Vec<&str> = good.split('.').collect();
    let mut c = github_claims();
    c["repository"] = json!("evil/repo");
    let tampered = format!("{}.{}.{}", parts[0], b64u(c.to_string().as_bytes()), parts[2]);
    denied(&tampered, "signature is invalid");
}

#[test]
fn circleci_ssh_rerun_and_claim_types() {
    let pubs = firebreak_adversarial::targets::jwt::publishers();
    for (val, ok) in [
        (json!(false), true),
        (json!(true), false),
        (json!("false"), false),
        (json!(0), false),
    ] {
        let mut c = circleci_claims();
        c["oidc.circleci.com/ssh-rerun"] = val;
        let v = verify(&sign_es256(&c, KID)).expect("verifies");
        assert_eq!(match_publisher(v.issuer.provider, &v.claims, &pubs).is_ok(), ok);
    }
    // a GitHub token whose claims have the wrong types never matches
    let mut c = github_claims();
    c["repository"] = json!(["acme/app"]);
    let v = verify(&sign_es256(&c, KID)).expect("verifies");
    assert!(match_publisher(v.issuer.provider, &v.claims, &pubs).is_err());
}
