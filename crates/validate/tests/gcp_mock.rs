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

/// What the mock Google saw: the scope of each token asked for, and each search.
#[derive(Default)]
struct Seen {
    scopes: Vec<String>,
    tokens: std::collections::HashMap<String, (String, String)>,
    searches: Vec<String>,
}

const PROJECT: &str = "//cloudresourcemanager.googleapis.com/projects/acme-prod";
const BUCKET: &str = "//storage.googleapis.com/acme-releases";

/// Cloud Asset's `searchAllIamPolicies` as Google documents it: the caller's token must
/// carry the `cloud-platform` scope; results are IAM policies holding only the bindings
/// that match `query`; `nextPageToken` while more remain.
fn search(seen: &Mutex<Seen>, uri: &axum::http::Uri, auth: Option<&str>) -> (u16, serde_json::Value) {
    use serde_json::json;
    let mut s = seen.lock().unwrap();
    s.searches.push(uri.to_string());
    if uri.path() != "/v1/projects/acme-prod:searchAllIamPolicies" {
        return (
            404,
            json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "not found"}}),
        );
    }
    let token = auth.and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
    let Some((email, scope)) = s.tokens.get(token).cloned() else {
        return (
            401,
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Request had invalid authentication credentials."}}),
        );
    };
    if scope != "https://www.googleapis.com/auth/cloud-platform" {
        return (
            403,
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "Request had insufficient authentication scopes.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}),
        );
    }
    if email.starts_with("ci-other@") {
        return (
            403,
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
            "message": "Cloud Asset API has not been used in project 123456 before or it is disabled.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com"}]}}),
        );
    }
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let member = format!("serviceAccount:{email}");
    if q.get("query") != Some(&format!("policy:\"{member}\"")) {
        return (
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "unexpected query"}}),
        );
    }
    let policies = [
        (
            PROJECT,
            json!([
                {"role": "roles/storage.objectAdmin", "members": [member, "user:alice@acme.example"]},
                {"role": "roles/viewer", "members": ["group:eng@acme.example"]},
                {"role": "roles/run.developer", "members": [member],
                 "condition": {"title": "only-staging", "expression": "resource.name.startsWith(\"projects/acme-prod/locations/europe-west1/services/staging-\")"}},
            ]),
        ),
        (
            BUCKET,
            json!([{"role": "roles/storage.legacyBucketWriter", "members": ["projectEditor:acme-prod", member]}]),
        ),
    ];
    let results: Vec<serde_json::Value> = policies
        .iter()
        .map(|(res, bindings)| {
            let matching: Vec<&serde_json::Value> = bindings
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["members"].as_array().unwrap().iter().any(|m| m == &member))
                .collect();
            json!({"resource": res, "assetType": "x", "project": "projects/123456", "policy": {"bindings": matching}})
        })
        .collect();
    // one result a page
    match q.get("pageToken").map(String::as_str) {
        None => (200, json!({"results": [results[0]], "nextPageToken": "page-2"})),
        Some("page-2") => (200, json!({"results": [results[1]]})),
        Some(_) => (
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad page token"}}),
        ),
    }
}

#[tokio::test]
async fn a_live_service_account_key_maps_its_iam_bindings() {
    let Some(private) = openssl(
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        None,
    ) else {
        eprintln!("SKIP: openssl is not available to make a test key");
        return;
    };
    let public = openssl(&["pkey", "-pubout"], Some(&private)).unwrap();
    let pubkey = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (s1, s2) = (seen.clone(), seen.clone());
    let app = axum::Router::new()
        .route(
            "/token",
            axum::routing::post(move |body: String| {
                let (seen, pubkey) = (s1.clone(), pubkey.clone());
                async move {
                    let form: std::collections::HashMap<String, String> =
                        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                    let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                    val.validate_aud = false;
                    let jwt = form.get("assertion").map(String::as_str).unwrap_or("");
                    match jsonwebtoken::decode::<serde_json::Value>(jwt, &pubkey, &val) {
                        Ok(t) => {
                            let mut s = seen.lock().unwrap();
                            let scope = t.claims["scope"].as_str().unwrap_or("").to_string();
                            let token = format!("ya29.mock-{}", s.scopes.len());
                            s.scopes.push(scope.clone());
                            s.tokens.insert(token.clone(), (t.claims["sub"].as_str().unwrap_or("").to_string(), scope));
                            (axum::http::StatusCode::OK, axum::Json(serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})))
                        }
                        Err(_) => (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "invalid_grant"}))),
                    }
                }
            }),
        )
        .fallback(move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let seen = s2.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                let (status, body) = search(&seen, &uri, auth);
                (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(body))
            }
        });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let key = |email: &str| {
        serde_json::json!({
            "type": "service_account", "project_id": "acme-prod", "private_key_id": "0123abcd",
            "private_key": private, "client_email": email,
        })
        .to_string()
    };
    let checker = |map: bool| {
        let mut eps = Endpoints::default();
        eps.insert("gcp", url::Url::parse(&format!("http://{addr}/token")).unwrap());
        eps.insert("gcp_asset", url::Url::parse(&format!("http://{addr}/")).unwrap());
        Checker::new(
            Arc::new(Catalogue::builtin().unwrap()),
            Options {
                endpoints: eps,
                map,
                ..Options::default()
            },
        )
    };
    let email = "ci-deployer@acme-prod.iam.gserviceaccount.com";
    let inputs = Inputs::one("json", SecretString::new(key(email)));

    // without --map: one read-only exchange, no search
    let v = checker(false).check("gcp.service_account", &inputs).await;
    assert_eq!(v.status, ValidationStatus::Live, "{v:?}");
    assert!(v.access.is_none());
    assert_eq!(seen.lock().unwrap().searches.len(), 0);

    let v = checker(true).check("gcp.service_account", &inputs).await;
    assert_eq!(v.status, ValidationStatus::Live, "{v:?}");
    let m = v.access.clone().expect("a live key is mapped");
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert!(!m.truncated);
    assert_eq!(m.principal.as_deref(), Some(email));
    let got: Vec<(String, String, String)> = m
        .resources
        .iter()
        .map(|a| (a.resource.clone(), a.permission.clone(), a.via.clone()))
        .collect();
    let on = |r: &str| format!("IAM policy on {r}");
    assert_eq!(
        got,
        [
            (
                PROJECT.to_string(),
                "roles/storage.objectAdmin".to_string(),
                on(PROJECT)
            ),
            (
                PROJECT.to_string(),
                "roles/run.developer".to_string(),
                format!("{}, under condition only-staging", on(PROJECT))
            ),
            (
                BUCKET.to_string(),
                "roles/storage.legacyBucketWriter".to_string(),
                on(BUCKET)
            ),
        ]
    );
    {
        let s = seen.lock().unwrap();
        // validation read-only, the map's own token for Cloud Asset (which takes no
        // read-only scope)
        assert_eq!(
            s.scopes,
            [
                "https://www.googleapis.com/auth/cloud-platform.read-only",
                "https://www.googleapis.com/auth/cloud-platform.read-only",
                "https://www.googleapis.com/auth/cloud-platform"
            ]
        );
        assert_eq!(s.searches.len(), 2, "two pages: {:?}", s.searches);
        assert!(s.searches.iter().all(|u| u.contains("pageSize=500")));
        assert!(s.searches[1].contains("pageToken=page-2"));
    }
    let shown = format!("{v:?}");
    assert!(!shown.contains("ya29."), "no access token in the result");
    assert!(!shown.contains("PRIVATE KEY"), "no key in the result");

    // the Cloud Asset API disabled: the key is live, the map says what it could not read
    let other = Inputs::one(
        "json",
        SecretString::new(key("ci-other@acme-prod.iam.gserviceaccount.com")),
    );
    let v = checker(true).check("gcp.service_account", &other).await;
    assert_eq!(v.status, ValidationStatus::Live, "{v:?}");
    let m = v.access.unwrap();
    assert!(m.resources.is_empty());
    assert_eq!(m.errors.len(), 1, "{:?}", m.errors);
    let e = &m.errors[0];
    assert!(
        e.starts_with(&format!(
            "GET http://{addr}/v1/projects/acme-prod:searchAllIamPolicies: HTTP 403 PERMISSION_DENIED SERVICE_DISABLED: the Cloud Asset API (cloudasset.googleapis.com) is disabled"
        )),
        "{e}"
    );
    assert!(e.contains("the map is incomplete"), "{e}");
    assert!(!e.contains("ya29."), "{e}");
}
