//! GCP service-account keys: a JWT signed with the key, exchanged at Google's OAuth token
//! endpoint (the JWT-bearer grant of RFC 7523). A deleted key or a disabled account gets
//! `invalid_grant`. The key file's own `token_uri` is ignored: the signed assertion goes
//! only to Google's endpoint (or the `gcp` override), never where a leaked file points.

use crate::engine::{verdict, Checker, Inputs};
use firebreak_core::{Validation, ValidationStatus};
use firebreak_http::{Body, Request};
use url::Url;

#[derive(serde::Deserialize)]
struct Key {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    project_id: Option<String>,
}

pub(crate) async fn check(ck: &Checker, id: &str, base: &Url, inputs: &Inputs) -> Validation {
    let Some(text) = inputs.get("json") else {
        return verdict(id, ValidationStatus::Unknown, Some("needs the key file".into()));
    };
    let key: Key = match serde_json::from_str(text.expose()) {
        Ok(k) => k,
        Err(e) => {
            return verdict(
                id,
                ValidationStatus::Error,
                Some(format!(
                    "the key file is not JSON (line {} column {})",
                    e.line(),
                    e.column()
                )),
            )
        }
    };
    let (Some(email), Some(pem)) = (key.client_email.clone(), key.private_key.as_deref()) else {
        return verdict(
            id,
            ValidationStatus::Error,
            Some("the key file has no client_email or private_key".into()),
        );
    };
    if key.kind.as_deref().is_some_and(|k| k != "service_account") {
        return verdict(
            id,
            ValidationStatus::Error,
            Some("the key file is not a service-account key".into()),
        );
    }
    let enc = match jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()) {
        Ok(k) => k,
        Err(_) => {
            return verdict(
                id,
                ValidationStatus::Error,
                Some("the private_key is not an RSA PEM key".into()),
            )
        }
    };
    let now = chrono::Utc::now().timestamp();
    let aud = base.as_str().to_string();
    let claims = serde_json::json!({
        "iss": email, "sub": email, "aud": aud,
        "scope": "https://www.googleapis.com/auth/cloud-platform.read-only",
        "iat": now, "exp": now + 300,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    let jwt = match jsonwebtoken::encode(&header, &claims, &enc) {
        Ok(j) => j,
        Err(e) => {
            return verdict(
                id,
                ValidationStatus::Error,
                Some(format!("cannot sign the assertion: {e}")),
            )
        }
    };
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", &jwt)
        .finish();
    let mut req = Request::new(reqwest::Method::POST, base.clone());
    req.body = Some(Body::Bytes {
        content_type: "application/x-www-form-urlencoded".into(),
        bytes: body.into_bytes(),
    });
    let shown = format!("POST {base} (JWT-bearer grant)");
    let resp = match ck.send_checked(req, id, &shown).await {
        Ok(r) => r,
        Err(v) => return v,
    };
    let j: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let err = j
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(|e| e.as_str())
        .unwrap_or("");
    if resp.status == 200 && j.as_ref().and_then(|j| j.get("access_token")).is_some() {
        let mut v = verdict(id, ValidationStatus::Live, None);
        v.identity.insert("client_email".into(), email.into());
        if let Some(p) = key.project_id {
            v.identity.insert("project_id".into(), p.into());
        }
        if let Some(k) = key.private_key_id {
            v.identity.insert("private_key_id".into(), k.into());
        }
        return v;
    }
    if resp.status == 400 && err == "invalid_grant" {
        let desc = j
            .as_ref()
            .and_then(|j| j.get("error_description"))
            .and_then(|e| e.as_str())
            .unwrap_or("")
            .chars()
            .take(120)
            .collect::<String>();
        return verdict(
            id,
            ValidationStatus::Dead,
            Some(format!("{shown}: HTTP 400 invalid_grant {desc}")),
        );
    }
    verdict(
        id,
        ValidationStatus::Unknown,
        Some(format!("{shown}: unexpected reply HTTP {} {err}", resp.status)),
    )
}
