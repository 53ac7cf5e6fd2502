//! The GCP service-account validator against a token endpoint that checks the JWT-bearer
//! assertion's signature with the key's public half, as Google's does: the key that signs
//! is live; a key the endpoint does not know is dead (`invalid_grant`); the key file's own
//! `token_uri` is never used.

use firebreak_core::{SecretString, ValidationStatus};
use firebreak_validate::{Catalogue, Checker, Endpoints, Inputs, Options};
use std::sync::{Arc, Mutex};

fn openssl(args: &[&str], input: Option<&str>) -> Option<String> {
    use std::io::Write;
    let mut c = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    if let Some(i) = input {
        c.stdin.take().unwrap().write_all(i.as_bytes()).ok()?;
    } else {
        drop(c.stdin.take());
    }
    let o = c.wait_with_output().ok()?;
    o.status.success().then(|| String::from_utf8(o.stdout).unwrap())
}

#[tokio::test]
async fn a_service_account_key_is_live_until_google_forgets_it() {
    let Some(private) = openssl(
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        None,
    ) else {
        eprintln!("SKIP: openssl is not available to make a test key");
        return;
    };
    let public = openssl(&["pkey", "-pubout"], Some(&private)).unwrap();
    let other = openssl(
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        None,
    )
    .unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    let pubkey = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move |body: String| {
            let (seen, pubkey) = (s2.clone(), pubkey.clone());
            async move {
                let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                seen.lock().unwrap().push(form.get("grant_type").cloned().unwrap_or_default());
                let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                val.validate_aud = false;
                match jsonwebtoken::decode::<serde_json::Value>(form.get("assertion").map(String::as_str).unwrap_or(""), &pubkey, &val) {
                    Ok(_) => (axum::http::StatusCode::OK, axum::Json(serde_json::json!({"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}))),
                    Err(_) => (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}))),
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let key = |pem: &str| {
        serde_json::json!({
            "type": "service_account", "project_id": "acme-prod", "private_key_id": "0123abcd",
            "private_key": pem, "client_email": "ci-deployer@acme-prod.iam.gserviceaccount.com",
            // a leaked file may point anywhere: never followed
            "token_uri": "https://attacker.example/token",
        })
        .to_string()
    };
    let mut eps = Endpoints::default();
    eps.insert("gcp", url::Url::parse(&format!("http://{addr}/token")).unwrap());
    let ck = Checker::new(
        Arc::new(Catalogue::builtin().unwrap()),
        Options {
            endpoints: eps,
            ..Options::default()
        },
    );
    let live = ck
        .check(
            "gcp.service_account",
            &Inputs::one("json", SecretString::new(key(&private))),
        )
        .await;
    assert_eq!(live.status, ValidationStatus::Live, "{live:?}");
    assert_eq!(
        live.identity["client_email"],
        "ci-deployer@acme-prod.iam.gserviceaccount.com"
    );
    let dead = ck
        .check(
            "gcp.service_account",
            &Inputs::one("json", SecretString::new(key(&other))),
        )
        .await;
    assert_eq!(dead.status, ValidationStatus::Dead, "{dead:?}");
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|g| g == "urn:ietf:params:oauth:grant-type:jwt-bearer"));
    let bad = ck
        .check(
            "gcp.service_account",
            &Inputs::one(
                "json",
                SecretString::new("{\"type\": \"service_account\", \"private_key\": \"x\""),
            ),
        )
        .await;
    assert_eq!(bad.status, ValidationStatus::Error, "{bad:?}");
}
