//! GCP service-account keys: a JWT signed with the key, exchanged at Google's OAuth token
//! endpoint (the JWT-bearer grant of RFC 7523). A deleted key or a disabled account gets
//! `invalid_grant`. The key file's own `token_uri` is ignored: the signed assertion goes
//! only to Google's endpoint (or the `gcp` override), never where a leaked file points.
//!
//! The access map ([`map`]) searches the IAM policies of the key's project for bindings
//! naming the service account (Cloud Asset `searchAllIamPolicies`, a read).

use crate::engine::{verdict, Checker, Inputs};
use firebreak_core::{Access, AccessMap, SecretString, Validation, ValidationStatus};
use firebreak_http::{Body, Request};
use serde_json::Value;
use url::Url;

/// Cloud Asset API (`--endpoint gcp_asset=URL` overrides it).
pub(crate) const CLOUD_ASSET: &str = "https://cloudasset.googleapis.com";
/// The scope of the validation's token: read-only.
const READ_ONLY: &str = "https://www.googleapis.com/auth/cloud-platform.read-only";
/// The scope `searchAllIamPolicies` requires (it accepts no read-only scope); the token
/// is used for that one `GET` and dropped.
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Most pages of search results read (500 results a page).
const MAX_PAGES: usize = 10;

#[derive(serde::Deserialize)]
struct Key {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    project_id: Option<String>,
}

/// The key file, or why it cannot be used (status `error`, or `unknown` when missing).
fn parse_key(
    inputs: &Inputs,
) -> Result<(Key, String, jsonwebtoken::EncodingKey), (ValidationStatus, String)> {
    let Some(text) = inputs.get("json") else {
        return Err((ValidationStatus::Unknown, "needs the key file".into()));
    };
    let key: Key = serde_json::from_str(text.expose()).map_err(|e| {
        (
            ValidationStatus::Error,
            format!(
                "the key file is not JSON (line {} column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let (Some(email), Some(pem)) = (key.client_email.clone(), key.private_key.as_deref()) else {
        return Err((
            ValidationStatus::Error,
            "the key file has no client_email or private_key".into(),
        ));
    };
    if key.kind.as_deref().is_some_and(|k| k != "service_account") {
        return Err((
            ValidationStatus::Error,
            "the key file is not a service-account key".into(),
        ));
    }
    let enc = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
        (
            ValidationStatus::Error,
            "the private_key is not an RSA PEM key".to_string(),
        )
    })?;
    Ok((key, email, enc))
}

/// A JWT-bearer assertion for `scope`, signed with the key, for the token endpoint `aud`.
fn assertion(
    aud: &Url,
    key: &Key,
    email: &str,
    enc: &jsonwebtoken::EncodingKey,
    scope: &str,
) -> Result<String, String> {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": email, "sub": email, "aud": aud.as_str(),
        "scope": scope,
        "iat": now, "exp": now + 300,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    jsonwebtoken::encode(&header, &claims, enc).map_err(|e| format!("cannot sign the assertion: {e}"))
}

/// Sends a signed assertion to the token endpoint `base`.
async fn exchange(ck: &Checker, base: &Url, jwt: &str) -> Result<firebreak_http::Response, String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", jwt)
        .finish();
    let mut req = Request::new(reqwest::Method::POST, base.clone());
    req.body = Some(Body::Bytes {
        content_type: "application/x-www-form-urlencoded".into(),
        bytes: body.into_bytes(),
    });
    ck.send(req)
        .await
        .map_err(|e| crate::engine::describe_http_error(&e))
}

pub(crate) async fn check(ck: &Checker, id: &str, base: &Url, inputs: &Inputs) -> Validation {
    let (key, email, enc) = match parse_key(inputs) {
        Ok(k) => k,
        Err((status, why)) => return verdict(id, status, Some(why)),
    };
    let jwt = match assertion(base, &key, &email, &enc, READ_ONLY) {
        Ok(j) => j,
        Err(e) => return verdict(id, ValidationStatus::Error, Some(e)),
    };
    let shown = format!("POST {base} (JWT-bearer grant)");
    let resp = match exchange(ck, base, &jwt).await {
        Ok(r) => r,
        Err(e) => return verdict(id, ValidationStatus::Unknown, Some(format!("{shown}: {e}"))),
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

/// Whether `p` can be a project id in a URL path: GCP's lowercase letters, digits and
/// hyphens (and the `domain.example:name` form of old domain-scoped projects).
fn project_id_ok(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 100
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':'))
}

/// Why Cloud Asset refused, in a sentence: the API disabled, the permission missing, the
/// token's scope short, or what Google said.
fn asset_error(shown: &str, scope: &str, status: u16, body: &[u8]) -> String {
    let j: Option<Value> = serde_json::from_slice(body).ok();
    let e = j.as_ref().and_then(|j| j.get("error"));
    let gstatus = e
        .and_then(|e| e.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message: String = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(160)
        .collect();
    let reason = e
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .and_then(|d| d.iter().find_map(|x| x.get("reason").and_then(Value::as_str)))
        .unwrap_or("");
    let why = match (status, reason) {
        (403, "SERVICE_DISABLED") => format!(
            "the Cloud Asset API (cloudasset.googleapis.com) is disabled in the key's project, so its IAM bindings in {scope} could not be searched"
        ),
        (403, "ACCESS_TOKEN_SCOPE_INSUFFICIENT") => {
            "the access token's OAuth scope does not allow the search".to_string()
        }
        (403, _) => format!(
            "the key lacks the permission cloudasset.assets.searchAllIamPolicies on {scope} (or the Cloud Asset API is disabled), so its IAM bindings could not be searched"
        ),
        _ => "the search failed".to_string(),
    };
    let mut out = format!("{shown}: HTTP {status}");
    for x in [gstatus, reason] {
        if !x.is_empty() {
            out.push(' ');
            out.push_str(x);
        }
    }
    out.push_str(&format!(": {why}; the map is incomplete"));
    if !message.is_empty() {
        out.push_str(&format!(" (Google: {message})"));
    }
    out
}

/// The access map of a live service-account key: the IAM bindings that name it
/// (`serviceAccount:EMAIL`) in the policies of its project and the resources in it, read
/// with Cloud Asset `GET /v1/projects/{project_id}:searchAllIamPolicies`
/// (`query=policy:"serviceAccount:EMAIL"`, following `nextPageToken`, at most
/// [`MAX_PAGES`] pages). That call needs a token with the `cloud-platform` scope: one more
/// JWT-bearer exchange, the token used for the search only and then dropped. Bindings
/// inherited from folders or the organisation, and those held through a Google group,
/// are outside the project's policies and not read.
pub(crate) async fn map(
    ck: &Checker,
    token_endpoint: &Url,
    asset: &Url,
    v: &Validation,
    inputs: &Inputs,
) -> AccessMap {
    let mut map = AccessMap {
        principal: v
            .identity
            .get("client_email")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..AccessMap::default()
    };
    let (key, email, enc) = match parse_key(inputs) {
        Ok(k) => k,
        Err((_, why)) => {
            map.errors.push(why);
            return map;
        }
    };
    map.principal = Some(email.clone());
    let Some(project) = key.project_id.clone().filter(|p| project_id_ok(p)) else {
        map.errors
            .push("the key file has no usable project_id: no project whose IAM policies to search".into());
        return map;
    };
    let scope = format!("projects/{project}");
    let a = asset.as_str().trim_end_matches('/');
    let shown = format!("GET {a}/v1/{scope}:searchAllIamPolicies");
    // a token that Cloud Asset accepts
    let grant = format!("POST {token_endpoint} (JWT-bearer grant, scope cloud-platform)");
    let token = match assertion(token_endpoint, &key, &email, &enc, CLOUD_PLATFORM) {
        Ok(jwt) => match exchange(ck, token_endpoint, &jwt).await {
            Ok(r) if r.status == 200 => serde_json::from_slice::<Value>(&r.body).ok().and_then(|j| {
                j.get("access_token")
                    .and_then(Value::as_str)
                    .map(SecretString::new)
            }),
            Ok(r) => {
                let err = serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|j| j.get("error").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                map.errors
                    .push(format!("{grant}: HTTP {} {err}", r.status).trim_end().to_string());
                return map;
            }
            Err(e) => {
                map.errors.push(format!("{grant}: {e}"));
                return map;
            }
        },
        Err(e) => {
            map.errors.push(e);
            return map;
        }
    };
    let Some(token) = token else {
        map.errors.push(format!(
            "{grant}: HTTP 200 without the access_token Google documents"
        ));
        return map;
    };
    let member = format!("serviceAccount:{email}");
    let query = format!("policy:\"{member}\"");
    let mut page_token: Option<String> = None;
    for page in 1..=MAX_PAGES + 1 {
        if page > MAX_PAGES {
            map.truncated = true;
            break;
        }
        let Ok(mut url) = Url::parse(&format!("{a}/v1/{scope}:searchAllIamPolicies")) else {
            map.errors.push(format!("{shown}: not a URL"));
            break;
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("query", &query).append_pair("pageSize", "500");
            if let Some(t) = &page_token {
                q.append_pair("pageToken", t);
            }
        }
        let mut req = Request::new(reqwest::Method::GET, url);
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .expect("an access token is a header value");
        auth.set_sensitive(true);
        req.headers.push((reqwest::header::AUTHORIZATION, auth));
        let r = match ck.send(req).await {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                map.errors.push(asset_error(&shown, &scope, r.status, &r.body));
                break;
            }
            Err(e) => {
                map.errors
                    .push(format!("{shown}: {}", crate::engine::describe_http_error(&e)));
                break;
            }
        };
        let Ok(j) = serde_json::from_slice::<Value>(&r.body) else {
            map.errors
                .push(format!("{shown}: page {page} is not the JSON Google documents"));
            break;
        };
        for res in j.get("results").and_then(Value::as_array).into_iter().flatten() {
            let Some(resource) = res.get("resource").and_then(Value::as_str) else {
                continue;
            };
            let bindings = res
                .get("policy")
                .and_then(|p| p.get("bindings"))
                .and_then(Value::as_array);
            for b in bindings.into_iter().flatten() {
                let named = b.get("members").and_then(Value::as_array).is_some_and(|m| {
                    m.iter()
                        .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(&member)))
                });
                let Some(role) = b.get("role").and_then(Value::as_str).filter(|_| named) else {
                    continue;
                };
                let condition = b
                    .get("condition")
                    .and_then(|c| c.get("title").or_else(|| c.get("expression")))
                    .and_then(Value::as_str);
                map.resources.push(Access {
                    resource: resource.to_string(),
                    permission: role.to_string(),
                    via: match condition {
                        Some(c) => format!("IAM policy on {resource}, under condition {c}"),
                        None => format!("IAM policy on {resource}"),
                    },
                });
            }
        }
        page_token = j
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if page_token.is_none() {
            break;
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_asset_refusals_say_why() {
        let disabled = br#"{"error":{"code":403,"message":"Cloud Asset API has not been used in project 123 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}"#;
        let e = asset_error("GET x", "projects/p", 403, disabled);
        assert!(
            e.starts_with("GET x: HTTP 403 PERMISSION_DENIED SERVICE_DISABLED: the Cloud Asset API"),
            "{e}"
        );
        assert!(e.contains("the map is incomplete"), "{e}");
        let denied = br#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#;
        let e = asset_error("GET x", "projects/p", 403, denied);
        assert!(
            e.contains("cloudasset.assets.searchAllIamPolicies on projects/p"),
            "{e}"
        );
        assert!(
            e.ends_with("(Google: The caller does not have permission)"),
            "{e}"
        );
        assert!(project_id_ok("acme-prod-123"));
        assert!(project_id_ok("example.com:legacy"));
        assert!(!project_id_ok("acme/../../x"));
        assert!(!project_id_ok("Acme?x=1"));
    }
}
