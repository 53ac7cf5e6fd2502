//! HTTP dispatch of the simulator: one fallback handler routes by provider prefix and
//! percent-decoded path segments (so a CircleCI slug `gh%2Forg%2Frepo` is one segment).

use super::state::{colon_fp, map_key, SecretRecord};
use super::Shared;
use crate::model::{Flags, Kind, Provider};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use firebreak_core::SecretString;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A token bucket.
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    cap: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(cap: f64, now: Instant) -> Self {
        Bucket {
            tokens: cap,
            cap,
            last: now,
        }
    }
    /// Takes a token, or returns how long until one is available.
    fn take(&mut self, rate: f64, now: Instant) -> Result<(), Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * rate).min(self.cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

struct Req {
    method: Method,
    segs: Vec<String>,
    query: HashMap<String, String>,
    body: Bytes,
    origin: String,
    path: String,
}

impl Req {
    #[allow(clippy::result_large_err)] // axum handlers return the ready error response
    fn json(&self) -> Result<Value, Response> {
        if self.body.is_empty() {
            return Err(err(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Body parameter is required",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|_| err(StatusCode::BAD_REQUEST, "Problems parsing JSON"))
    }
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
}

fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn err(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({"message": msg}))).into_response()
}

fn ok(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ts_s(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    // a package registry beside the CI providers: npm's `whoami`, for validators
    if let Some(r) = path.strip_prefix("/npm") {
        return npm(&sh, &method, r, &headers);
    }
    // GitHub's credential revocation API takes no authentication (an authenticated
    // request is refused with 403) and accepts up to 1000 tokens
    if path == "/github/credentials/revoke" && method == Method::POST {
        return github_revoke_credentials(&sh, &headers, &body);
    }
    let (provider, rest) = if let Some(r) = path.strip_prefix("/circleci") {
        (Provider::Circleci, r)
    } else if let Some(r) = path.strip_prefix("/github") {
        (Provider::Github, r)
    } else if let Some(r) = path.strip_prefix("/gitlab") {
        (Provider::Gitlab, r)
    } else {
        return err(StatusCode::NOT_FOUND, "Not Found");
    };
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(pct_decode)
        .collect();
    let query: HashMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    sh.state.lock().expect("state").requests[provider as usize] += 1;
    let exempt = matches!(segs.first().map(String::as_str), Some("output") | Some("blobs"));

    let faults = sh.faults.lock().expect("faults").clone();
    let (slow, fail) = {
        let mut rng = sh.rng.lock().expect("rng");
        (
            faults.slow_rate > 0.0 && rng.gen::<f64>() < faults.slow_rate,
            faults.error_rate > 0.0 && rng.gen::<f64>() < faults.error_rate,
        )
    };
    if slow {
        tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await;
    }
    if !exempt {
        if let Some(rate) = sh.cfg.rate_limit {
            let r = sh.buckets[provider as usize]
                .lock()
                .expect("bucket")
                .take(rate, Instant::now());
            if let Err(wait) = r {
                sh.state.lock().expect("state").rate_limited[provider as usize] += 1;
                return rate_limited(provider, wait);
            }
        }
    }
    if fail {
        return err(StatusCode::SERVICE_UNAVAILABLE, "injected failure");
    }
    if !exempt {
        let (hdr, expected) = match provider {
            Provider::Circleci => ("circle-token", sh.cfg.circleci_token.expose().to_string()),
            Provider::Github => (
                "authorization",
                format!("Bearer {}", sh.cfg.github_token.expose()),
            ),
            Provider::Gitlab => ("private-token", sh.cfg.gitlab_token.expose().to_string()),
        };
        let got = headers.get(hdr).and_then(|v| v.to_str().ok()).unwrap_or("");
        let bare = got
            .strip_prefix("Bearer ")
            .or_else(|| got.strip_prefix("token "))
            .unwrap_or(got);
        let revoked = sh
            .state
            .lock()
            .expect("state")
            .revoked
            .contains(&firebreak_core::fingerprint(bare.as_bytes()));
        let got = if revoked { "" } else { got };
        let github_alt =
            provider == Provider::Github && got.strip_prefix("token ") == Some(sh.cfg.github_token.expose());
        if got != expected && !github_alt {
            return match provider {
                Provider::Github => err(StatusCode::UNAUTHORIZED, "Bad credentials"),
                Provider::Gitlab => err(StatusCode::UNAUTHORIZED, "401 Unauthorized"),
                Provider::Circleci => err(StatusCode::UNAUTHORIZED, "You must log in first."),
            };
        }
    }
    let req = Req {
        method,
        segs,
        query,
        body,
        origin: format!("http://{host}"),
        path,
    };
    match provider {
        Provider::Circleci => circleci(&sh, &req, &faults),
        Provider::Github => github(&sh, &req, &faults),
        Provider::Gitlab => gitlab(&sh, &req, &faults),
    }
}

/// `POST /credentials/revoke` (GitHub): `{"credentials": [...]}`, 202.
fn github_revoke_credentials(sh: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    if headers.contains_key("authorization") {
        return err(StatusCode::FORBIDDEN, "Authenticated requests are not accepted");
    }
    let creds: Vec<String> = match serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("credentials").cloned())
        .and_then(|c| serde_json::from_value(c).ok())
    {
        Some(c) => c,
        None => return err(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed"),
    };
    if creds.is_empty() || creds.len() > 1000 {
        return err(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    }
    let mut st = sh.state.lock().expect("state");
    for c in creds {
        st.revoked.insert(firebreak_core::fingerprint(c.as_bytes()));
    }
    ok(StatusCode::ACCEPTED, json!({}))
}

/// npm's registry: `GET /-/whoami` names the owner of an accepted token;
/// `DELETE /-/npm/v1/tokens/token/{token}` revokes it.
fn npm(sh: &Shared, method: &Method, rest: &str, headers: &HeaderMap) -> Response {
    let got = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|g| {
            !sh.state
                .lock()
                .expect("state")
                .revoked
                .contains(&firebreak_core::fingerprint(g.as_bytes()))
        });
    let accepted = matches!((&sh.cfg.npm_token, got), (Some(t), Some(g)) if t.expose() == g);
    if let Some(tok) = rest.strip_prefix("/-/npm/v1/tokens/token/") {
        if *method != Method::DELETE {
            return err(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        }
        if !accepted {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "You must be logged in to perform this action"})),
            )
                .into_response();
        }
        let tok = pct_decode(tok);
        if Some(tok.as_str()) != got {
            return err(StatusCode::NOT_FOUND, "token not found");
        }
        sh.state
            .lock()
            .expect("state")
            .revoked
            .insert(firebreak_core::fingerprint(tok.as_bytes()));
        return StatusCode::NO_CONTENT.into_response();
    }
    if rest != "/-/whoami" {
        return err(StatusCode::NOT_FOUND, "Not Found");
    }
    match accepted {
        true => ok(StatusCode::OK, json!({"username": "acme-publisher"})),
        _ => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "You must be logged in to perform this action"})),
        )
            .into_response(),
    }
}

fn rate_limited(p: Provider, wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let reset = Utc::now().timestamp() as u64 + secs;
    let mut h = HeaderMap::new();
    let set = |h: &mut HeaderMap, k: &'static str, v: String| {
        h.insert(k, HeaderValue::from_str(&v).expect("header"));
    };
    match p {
        Provider::Circleci => {
            set(&mut h, "retry-after", secs.to_string());
            (
                StatusCode::TOO_MANY_REQUESTS,
                h,
                axum::Json(json!({"message": "Rate limit exceeded"})),
            )
                .into_response()
        }
        Provider::Github => {
            // GitHub's primary rate limit: 403 with remaining 0 and an epoch reset.
            set(&mut h, "x-ratelimit-remaining", "0".into());
            set(&mut h, "x-ratelimit-reset", reset.to_string());
            (
                StatusCode::FORBIDDEN,
                h,
                axum::Json(json!({"message": "API rate limit exceeded"})),
            )
                .into_response()
        }
        Provider::Gitlab => {
            set(&mut h, "retry-after", secs.to_string());
            set(&mut h, "ratelimit-reset", reset.to_string());
            set(&mut h, "ratelimit-remaining", "0".into());
            (StatusCode::TOO_MANY_REQUESTS, h, "Retry later").into_response()
        }
    }
}

// ---------------------------------------------------------------- pagination

fn circle_page(req: &Req, items: Vec<Value>, page_size: usize, repeat: bool) -> Response {
    let offset: usize = req
        .q("page-token")
        .and_then(|t| t.strip_prefix("off-"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let end = (offset + page_size).min(items.len());
    let page: Vec<Value> = items.get(offset..end).map(<[Value]>::to_vec).unwrap_or_default();
    let next = if end < items.len() {
        Some(if repeat {
            format!("off-{page_size}")
        } else {
            format!("off-{end}")
        })
    } else {
        None
    };
    ok(StatusCode::OK, json!({"items": page, "next_page_token": next}))
}

/// GitHub / GitLab offset pagination: `page`, `per_page` (capped); returns the page and
/// headers (`Link`, and GitLab's `X-*` headers when `gitlab`).
fn offset_page(
    req: &Req,
    items: Vec<Value>,
    cap: usize,
    default: usize,
    repeat: bool,
    gitlab: bool,
) -> (Vec<Value>, HeaderMap) {
    let per: usize = req
        .q("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .clamp(1, cap.max(1));
    let page: usize = req.q("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let start = (page - 1) * per;
    let end = (start + per).min(items.len());
    let slice = items.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
    let mut h = HeaderMap::new();
    let has_next = end < items.len();
    let next_page = if repeat { 2 } else { page + 1 };
    if has_next {
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        q.sort();
        q.push(("page".into(), next_page.to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        let link = format!("<{}{}?{}>; rel=\"next\"", req.origin, req.path, qs);
        if !gitlab || !repeat {
            h.insert("link", HeaderValue::from_str(&link).expect("link"));
        }
    }
    if gitlab {
        let set = |h: &mut HeaderMap, k: &'static str, v: String| {
            h.insert(k, HeaderValue::from_str(&v).expect("header"));
        };
        set(&mut h, "x-page", page.to_string());
        set(&mut h, "x-per-page", per.to_string());
        set(&mut h, "x-total", items.len().to_string());
        set(
            &mut h,
            "x-next-page",
            if has_next {
                next_page.to_string()
            } else {
                String::new()
            },
        );
    }
    (slice, h)
}

fn forbidden(faults: &super::Faults, scope: &str) -> bool {
    faults.forbidden.iter().any(|f| f == scope)
}

/// The 403 a provider answers for a kind the token may not read ([`super::Faults::forbidden_kinds`]).
fn kind_forbidden(faults: &super::Faults, p: Provider, kind: Kind) -> Option<Response> {
    faults.forbidden_kinds.contains(&kind).then(|| match p {
        Provider::Gitlab => err(StatusCode::FORBIDDEN, "403 Forbidden"),
        _ => err(StatusCode::FORBIDDEN, "Resource not accessible by integration"),
    })
}

// ---------------------------------------------------------------- CircleCI

fn circleci(sh: &Shared, req: &Req, faults: &super::Faults) -> Response {
    let s: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = &req.method;
    let ps = sh.cfg.page_size;
    let repeat = faults.repeat_page_token;
    let mut st = sh.state.lock().expect("state");
    let v1_slug = |vcs: &str, org: &str, repo: &str| {
        let v = match vcs {
            "github" | "gh" => "gh",
            "bitbucket" | "bb" => "bb",
            o => o,
        };
        format!("{v}/{org}/{repo}")
    };
    match (m.clone(), s.as_slice()) {
        // who the token belongs to (validators: `circleci.token`)
        (Method::GET, ["api", "v2", "me"]) => ok(
            StatusCode::OK,
            json!({"id": "5a6c4b2e-1f0d-4c3b-9a8e-7d6c5b4a3f2e", "login": "sim-admin", "name": "Simulator Admin"}),
        ),
        (Method::GET, ["api", "v1.1", "projects"]) => {
            let v: Vec<Value> = st
                .circleci_projects
                .iter()
                .filter_map(|slug| {
                    let mut it = slug.splitn(3, '/');
                    let (_, org, repo) = (it.next()?, it.next()?, it.next()?);
                    Some(json!({"vcs_url": format!("https://github.com/{org}/{repo}"), "username": org, "reponame": repo, "vcs_type": "github"}))
                })
                .collect();
            ok(StatusCode::OK, Value::Array(v))
        }
        (_, ["api", "v1.1", "project", vcs, org, repo, tail @ ..]) => {
            let slug = v1_slug(vcs, org, repo);
            if !st.circleci_index.contains_key(&slug) {
                return err(StatusCode::NOT_FOUND, "Project not found");
            }
            if forbidden(faults, &slug) {
                return err(StatusCode::FORBIDDEN, "Permission denied");
            }
            match (m.clone(), tail) {
                (Method::GET, ["settings"]) => {
                    let keys: Vec<Value> = st
                        .list_keys(Provider::Circleci, Kind::SshKey, &slug)
                        .into_iter()
                        .map(|k| json!({"hostname": k.hostname, "fingerprint": k.fingerprint}))
                        .collect();
                    let aws = st
                        .circleci_creds
                        .iter()
                        .find(|c| c.kind == Kind::AwsKeypair && c.scope == slug)
                        .map(|c| {
                            let v = c.value.expose();
                            let tail: String = v.chars().skip(v.chars().count().saturating_sub(4)).collect();
                            json!({"access_key_id": c.label, "secret_access_key": format!("xxxx{tail}")})
                        });
                    ok(
                        StatusCode::OK,
                        json!({"ssh_keys": keys, "feature_flags": {}, "aws": {"keypair": aws}}),
                    )
                }
                (Method::GET, ["token"]) => {
                    if let Some(r) = kind_forbidden(faults, Provider::Circleci, Kind::ProjectApiToken) {
                        return r;
                    }
                    // the reference page's shape; the token itself is part of the reply
                    // (a client must not parse it)
                    let v: Vec<Value> = st
                        .circleci_creds
                        .iter()
                        .filter(|c| c.kind == Kind::ProjectApiToken && c.scope == slug)
                        .map(|c| json!({"id": c.id, "label": c.label, "scope": c.detail, "time": ts(c.created_at), "token": c.value.expose()}))
                        .collect();
                    ok(StatusCode::OK, Value::Array(v))
                }
                (Method::POST, ["token"]) => {
                    if let Some(r) = kind_forbidden(faults, Provider::Circleci, Kind::ProjectApiToken) {
                        return r;
                    }
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let (Some(scope), Some(label)) = (b["scope"].as_str(), b["label"].as_str()) else {
                        return err(StatusCode::BAD_REQUEST, "scope and label are required");
                    };
                    if !matches!(scope, "status" | "view-builds" | "all") || label.is_empty() {
                        return err(
                            StatusCode::BAD_REQUEST,
                            "scope must be status, view-builds or all",
                        );
                    }
                    let value = {
                        let mut rng = sh.rng.lock().expect("rng");
                        (0..40)
                            .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
                            .collect::<String>()
                    };
                    let c = st.create_project_token(&slug, label, scope, SecretString::new(value));
                    ok(
                        StatusCode::OK,
                        json!({"id": c.id, "label": c.label, "scope": c.detail, "time": ts(c.created_at), "token": c.value.expose()}),
                    )
                }
                (Method::DELETE, ["token", id]) => {
                    let id = id.to_string();
                    if st
                        .circleci_creds
                        .iter()
                        .any(|c| c.kind == Kind::ProjectApiToken && c.scope == slug && c.id == id)
                        && st.delete_cc_cred(Kind::ProjectApiToken, &id)
                    {
                        ok(StatusCode::OK, json!({"message": "ok"}))
                    } else {
                        err(StatusCode::NOT_FOUND, "token not found")
                    }
                }
                (Method::POST, ["ssh-key"]) => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let (Some(pk), host) = (b["private_key"].as_str(), b["hostname"].as_str().unwrap_or(""))
                    else {
                        return err(StatusCode::BAD_REQUEST, "private_key is required");
                    };
                    let fp = colon_fp(pk.as_bytes());
                    let now = Utc::now();
                    st.add_key(
                        Provider::Circleci,
                        Kind::SshKey,
                        &slug,
                        fp.clone(),
                        String::new(),
                        "ssh-key",
                        host,
                        false,
                        now,
                    );
                    st.record(
                        Provider::Circleci,
                        Kind::SshKey,
                        &slug,
                        &fp,
                        super::EventAction::Create,
                        Some(fp.clone()),
                        now,
                    );
                    ok(StatusCode::CREATED, json!({"hostname": host, "fingerprint": fp}))
                }
                (Method::DELETE, ["ssh-key"]) => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let fp = b["fingerprint"].as_str().unwrap_or("").to_string();
                    if st.remove_key(Provider::Circleci, Kind::SshKey, &slug, |k| k.fingerprint == fp) {
                        ok(StatusCode::OK, json!({"message": "ok"}))
                    } else {
                        err(StatusCode::NOT_FOUND, "key not found")
                    }
                }
                (Method::GET, []) => {
                    let limit: usize = req.q("limit").and_then(|v| v.parse().ok()).unwrap_or(30).min(100);
                    let offset: usize = req.q("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let builds = st.builds.get(&slug).cloned().unwrap_or_default();
                    let v: Vec<Value> = builds
                        .iter()
                        .skip(offset)
                        .take(limit)
                        .map(|b| json!({"build_num": b.num, "start_time": ts(b.start_time), "queued_at": ts(b.start_time), "status": "success"}))
                        .collect();
                    ok(StatusCode::OK, Value::Array(v))
                }
                (Method::GET, [num]) => {
                    let Ok(n) = num.parse::<u64>() else {
                        return err(StatusCode::NOT_FOUND, "Not found");
                    };
                    let Some(b) = st
                        .builds
                        .get(&slug)
                        .and_then(|v| v.iter().find(|b| b.num == n))
                        .cloned()
                    else {
                        return err(StatusCode::NOT_FOUND, "Build not found");
                    };
                    let enc = url::form_urlencoded::byte_serialize(slug.as_bytes()).collect::<String>();
                    let steps: Vec<Value> = b
                        .steps
                        .iter()
                        .enumerate()
                        .map(|(i, (name, _))| {
                            json!({"name": name, "actions": [{"index": 0, "step": i, "name": name, "has_output": true,
                                "output_url": format!("{}/circleci/output/{}/{}/{}", req.origin, enc, n, i)}]})
                        })
                        .collect();
                    ok(
                        StatusCode::OK,
                        json!({"build_num": n, "start_time": ts(b.start_time), "steps": steps}),
                    )
                }
                _ => err(StatusCode::NOT_FOUND, "Not found"),
            }
        }
        (Method::GET, ["output", slug, num, step]) => {
            let n: u64 = num.parse().unwrap_or(0);
            let i: usize = step.parse().unwrap_or(usize::MAX);
            match st
                .builds
                .get(*slug)
                .and_then(|v| v.iter().find(|b| b.num == n))
                .and_then(|b| b.steps.get(i))
            {
                Some((_, data)) => ok(
                    StatusCode::OK,
                    json!([{"message": String::from_utf8_lossy(data), "time": "2022-12-25T00:00:00.000Z", "type": "out", "truncated": false}]),
                ),
                None => err(StatusCode::NOT_FOUND, "no output"),
            }
        }
        (_, ["api", "v2", "project", slug, tail @ ..]) => {
            let slug = slug.to_string();
            if !st.circleci_index.contains_key(&slug) {
                return err(StatusCode::NOT_FOUND, "Project not found");
            }
            if forbidden(faults, &slug) {
                return err(StatusCode::FORBIDDEN, "Permission denied");
            }
            let envvar_json = |r: &SecretRecord| {
                let v = r
                    .value
                    .as_ref()
                    .map(|v| v.expose().to_string())
                    .unwrap_or_default();
                let tail: String = v
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                json!({"name": r.name, "value": format!("xxxx{tail}"), "created-at": ts(r.created_at)})
            };
            match (m.clone(), tail) {
                (Method::GET, []) => {
                    let mut it = slug.splitn(3, '/');
                    let (vcs, org, repo) = (
                        it.next().unwrap_or(""),
                        it.next().unwrap_or(""),
                        it.next().unwrap_or(""),
                    );
                    ok(
                        StatusCode::OK,
                        json!({"slug": slug, "name": repo, "id": format!("{:08x}-0000-4000-a000-000000000000", slug.len()),
                        "organization_name": org, "organization_slug": format!("{vcs}/{org}"),
                        "organization_id": "00000000-0000-4000-a000-000000000001",
                        "vcs_info": match st.circleci_gitlab.get(&slug) {
                            // GitLab projects come through CircleCI's own app
                            Some(path) => json!({"vcs_url": format!("https://gitlab.com/{path}"), "provider": "CircleCI", "default_branch": "main"}),
                            None => json!({"vcs_url": format!("https://github.com/{org}/{repo}"), "provider": "GitHub", "default_branch": "main"}),
                        }}),
                    )
                }
                (Method::GET, ["envvar"]) => {
                    let items: Vec<Value> = st
                        .list_secrets(Provider::Circleci, Kind::EnvVar, &slug)
                        .iter()
                        .map(envvar_json)
                        .collect();
                    circle_page(req, items, ps, repeat)
                }
                (Method::POST, ["envvar"]) => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let (Some(name), Some(value)) = (b["name"].as_str(), b["value"].as_str()) else {
                        return err(StatusCode::UNPROCESSABLE_ENTITY, "name and value are required");
                    };
                    let (r, _) = st.write_secret(
                        Provider::Circleci,
                        Kind::EnvVar,
                        &slug,
                        name,
                        Some(SecretString::new(value)),
                        Flags::default(),
                        true,
                    );
                    ok(StatusCode::CREATED, envvar_json(&r))
                }
                (Method::GET, ["envvar", name]) => {
                    match st.get_secret(Provider::Circleci, Kind::EnvVar, &slug, name) {
                        Some(r) => ok(StatusCode::OK, envvar_json(&r)),
                        None => err(StatusCode::NOT_FOUND, "Environment variable not found."),
                    }
                }
                (Method::DELETE, ["envvar", name]) => {
                    if st.delete_secret(Provider::Circleci, Kind::EnvVar, &slug, name) {
                        ok(
                            StatusCode::OK,
                            json!({"message": "Environment variable deleted."}),
                        )
                    } else {
                        err(StatusCode::NOT_FOUND, "Environment variable not found.")
                    }
                }
                (Method::GET, ["checkout-key"]) => {
                    let sha256 = match req.q("digest") {
                        None | Some("md5") => false,
                        Some("sha256") => true,
                        Some(_) => return err(StatusCode::BAD_REQUEST, "digest must be sha256 or md5"),
                    };
                    let items: Vec<Value> = st
                        .list_keys(Provider::Circleci, Kind::CheckoutKey, &slug)
                        .iter()
                        .enumerate()
                        .map(|(i, k)| {
                            let fp = if sha256 {
                                crate::model::openssh_sha256(&k.public_key).unwrap_or_else(|| k.fingerprint.clone())
                            } else {
                                k.fingerprint.clone()
                            };
                            json!({"public-key": k.public_key, "type": k.key_type, "fingerprint": fp, "preferred": i == 0, "created-at": ts(k.created_at)})
                        })
                        .collect();
                    circle_page(req, items, ps, repeat)
                }
                (Method::POST, ["checkout-key"]) => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let t = match b["type"].as_str() {
                        Some("deploy-key") => "deploy-key",
                        Some("user-key") => "github-user-key",
                        _ => {
                            return err(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "type must be deploy-key or user-key",
                            )
                        }
                    };
                    let mut rng = sh.rng.lock().expect("rng");
                    let pk = format!(
                        "ssh-ed25519 {} sim",
                        (0..43)
                            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
                            .collect::<String>()
                    );
                    drop(rng);
                    let now = Utc::now();
                    let fp = colon_fp(pk.as_bytes());
                    let k = st.add_key(
                        Provider::Circleci,
                        Kind::CheckoutKey,
                        &slug,
                        fp.clone(),
                        pk,
                        t,
                        "",
                        true,
                        now,
                    );
                    st.record(
                        Provider::Circleci,
                        Kind::CheckoutKey,
                        &slug,
                        &fp,
                        super::EventAction::Create,
                        Some(fp.clone()),
                        now,
                    );
                    ok(
                        StatusCode::CREATED,
                        json!({"public-key": k.public_key, "type": k.key_type, "fingerprint": k.fingerprint, "preferred": false, "created-at": ts(k.created_at)}),
                    )
                }
                (Method::GET, ["checkout-key", fp]) => {
                    match st
                        .list_keys(Provider::Circleci, Kind::CheckoutKey, &slug)
                        .into_iter()
                        .find(|k| k.fingerprint == *fp)
                    {
                        Some(k) => ok(
                            StatusCode::OK,
                            json!({"public-key": k.public_key, "type": k.key_type, "fingerprint": k.fingerprint, "preferred": false, "created-at": ts(k.created_at)}),
                        ),
                        None => err(StatusCode::NOT_FOUND, "Checkout key not found."),
                    }
                }
                (Method::DELETE, ["checkout-key", fp]) => {
                    let fp = fp.to_string();
                    if st.remove_key(Provider::Circleci, Kind::CheckoutKey, &slug, |k| {
                        k.fingerprint == fp
                    }) {
                        ok(StatusCode::OK, json!({"message": "Checkout key deleted."}))
                    } else {
                        err(StatusCode::NOT_FOUND, "Checkout key not found.")
                    }
                }
                _ => err(StatusCode::NOT_FOUND, "Not found"),
            }
        }
        (Method::GET, ["api", "v2", "pipeline"]) => {
            let Some(org_slug) = req.q("org-slug") else {
                return err(StatusCode::BAD_REQUEST, "org-slug is required");
            };
            let items: Vec<Value> = if org_slug.rsplit('/').next() == Some(sh.cfg.org.as_str()) {
                st.circleci_pipelines
                    .iter()
                    .enumerate()
                    .map(|(i, slug)| json!({"id": format!("{:08x}-1111-4000-a000-{:012x}", i, i), "project_slug": slug,
                        "number": 1000 - i as i64, "state": "created", "created_at": "2023-01-03T10:00:00.000Z",
                        "trigger": {"type": "webhook", "received_at": "2023-01-03T10:00:00.000Z", "actor": {"login": "dev", "avatar_url": null}},
                        "updated_at": "2023-01-03T10:00:00.000Z", "errors": []}))
                    .collect()
            } else {
                Vec::new()
            };
            circle_page(req, items, ps, repeat)
        }
        (_, ["api", "v3", "runner", rest @ ..]) => {
            if let Some(r) = kind_forbidden(faults, Provider::Circleci, Kind::RunnerToken) {
                return r;
            }
            match (m.clone(), rest) {
                (Method::GET, ["resource"]) => {
                    let Some(ns) = req.q("namespace") else {
                        return err(StatusCode::BAD_REQUEST, "namespace is required");
                    };
                    let items: Vec<Value> = st
                        .runner_classes
                        .iter()
                        .filter(|(_, rc, _)| rc.split('/').next() == Some(ns))
                        .map(|(id, rc, d)| json!({"id": id, "resource_class": rc, "description": d}))
                        .collect();
                    ok(StatusCode::OK, json!({"items": items}))
                }
                (Method::GET, ["token"]) => {
                    let Some(rc) = req.q("resource-class") else {
                        return err(StatusCode::BAD_REQUEST, "resource-class is required");
                    };
                    if forbidden(faults, rc) {
                        return err(StatusCode::FORBIDDEN, "Permission denied");
                    }
                    let items: Vec<Value> = st
                        .circleci_creds
                        .iter()
                        .filter(|c| c.kind == Kind::RunnerToken && c.scope == rc)
                        .map(|c| json!({"id": c.id, "resource_class": c.scope, "nickname": c.label, "created_at": ts(c.created_at)}))
                        .collect();
                    ok(StatusCode::OK, json!({"items": items}))
                }
                (Method::POST, ["token"]) => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let (Some(rc), Some(nick)) = (b["resource_class"].as_str(), b["nickname"].as_str())
                    else {
                        return err(
                            StatusCode::BAD_REQUEST,
                            "resource_class and nickname are required",
                        );
                    };
                    if !st.runner_classes.iter().any(|(_, c, _)| c == rc) {
                        return err(StatusCode::NOT_FOUND, "resource class not found");
                    }
                    if forbidden(faults, rc) {
                        return err(StatusCode::FORBIDDEN, "Permission denied");
                    }
                    let value = {
                        let mut rng = sh.rng.lock().expect("rng");
                        (0..80)
                            .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
                            .collect::<String>()
                    };
                    let c = st.create_runner_token(rc, nick, SecretString::new(value));
                    ok(
                        StatusCode::OK,
                        json!({"id": c.id, "resource_class": c.scope, "nickname": c.label, "created_at": ts(c.created_at), "token": c.value.expose()}),
                    )
                }
                (Method::DELETE, ["token", id]) => {
                    if st.delete_cc_cred(Kind::RunnerToken, id) {
                        (StatusCode::NO_CONTENT, "").into_response()
                    } else {
                        err(StatusCode::NOT_FOUND, "token not found")
                    }
                }
                _ => err(StatusCode::NOT_FOUND, "Not found"),
            }
        }
        (Method::GET, ["api", "v2", "context"]) => {
            let owner_ok = match (req.q("owner-slug"), req.q("owner-id")) {
                (Some(s), _) => s.rsplit('/').next() == Some(sh.cfg.org.as_str()),
                (None, Some(_)) => true,
                (None, None) => return err(StatusCode::BAD_REQUEST, "owner-id or owner-slug is required"),
            };
            let items: Vec<Value> = if owner_ok {
                st.contexts
                    .iter()
                    .map(|c| json!({"id": c.id, "name": c.name, "created_at": ts(c.created_at)}))
                    .collect()
            } else {
                Vec::new()
            };
            circle_page(req, items, ps, repeat)
        }
        (Method::POST, ["api", "v2", "context"]) => {
            let b = match req.json() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Some(name) = b["name"].as_str() else {
                return err(StatusCode::BAD_REQUEST, "name is required");
            };
            if st.contexts.iter().any(|c| c.name == name) {
                return err(StatusCode::CONFLICT, "context already exists");
            }
            let id = {
                let mut rng = sh.rng.lock().expect("rng");
                let h: String = (0..32).map(|_| format!("{:x}", rng.gen_range(0..16u8))).collect();
                format!(
                    "{}-{}-4{}-a{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[13..16],
                    &h[17..20],
                    &h[20..32]
                )
            };
            let now = Utc::now();
            st.contexts.push(super::state::ContextRec {
                id: id.clone(),
                name: name.into(),
                created_at: now,
            });
            ok(
                StatusCode::OK,
                json!({"id": id, "name": name, "created_at": ts(now)}),
            )
        }
        (_, ["api", "v2", "context", id, "environment-variable", tail @ ..]) => {
            let Some(ctx) = st.contexts.iter().find(|c| c.id == *id).cloned() else {
                return err(StatusCode::NOT_FOUND, "Context not found");
            };
            if forbidden(faults, &ctx.name) {
                return err(StatusCode::FORBIDDEN, "Permission denied");
            }
            let var_json = |r: &SecretRecord| json!({"variable": r.name, "created_at": ts(r.created_at), "updated_at": ts(r.updated_at), "context_id": ctx.id});
            match (m.clone(), tail) {
                (Method::GET, []) => {
                    let items: Vec<Value> = st
                        .list_secrets(Provider::Circleci, Kind::ContextVar, &ctx.name)
                        .iter()
                        .map(var_json)
                        .collect();
                    circle_page(req, items, ps, repeat)
                }
                (Method::PUT, [name]) => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let Some(value) = b["value"].as_str() else {
                        return err(StatusCode::UNPROCESSABLE_ENTITY, "value is required");
                    };
                    let (r, _) = st.write_secret(
                        Provider::Circleci,
                        Kind::ContextVar,
                        &ctx.name,
                        name,
                        Some(SecretString::new(value)),
                        Flags::default(),
                        false,
                    );
                    ok(StatusCode::OK, var_json(&r))
                }
                (Method::DELETE, [name]) => {
                    if st.delete_secret(Provider::Circleci, Kind::ContextVar, &ctx.name, name) {
                        ok(
                            StatusCode::OK,
                            json!({"message": "Environment variable deleted."}),
                        )
                    } else {
                        err(StatusCode::NOT_FOUND, "Environment variable not found.")
                    }
                }
                _ => err(StatusCode::NOT_FOUND, "Not found"),
            }
        }
        _ => err(StatusCode::NOT_FOUND, "Not found"),
    }
}

// ---------------------------------------------------------------- GitHub

fn github(sh: &Shared, req: &Req, faults: &super::Faults) -> Response {
    let s: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = req.method.clone();
    let cap = sh.cfg.page_size.min(100);
    let repeat = faults.repeat_page_token;
    let mut st = sh.state.lock().expect("state");
    match (m.clone(), s.as_slice()) {
        // who the token belongs to, with its scopes (validators: `github.token`)
        (Method::GET, ["user"]) => {
            let mut h = HeaderMap::new();
            h.insert(
                "x-oauth-scopes",
                HeaderValue::from_static("repo, workflow, admin:org"),
            );
            (
                StatusCode::OK,
                h,
                axum::Json(json!({"login": "sim-admin", "id": 1, "type": "User"})),
            )
                .into_response()
        }
        (Method::GET, ["blobs", "runs", file]) => {
            let id: u64 = file.trim_end_matches(".zip").parse().unwrap_or(0);
            match st.runs.values().flatten().find(|r| r.id == id) {
                Some(r) => {
                    let mut h = HeaderMap::new();
                    h.insert("content-type", HeaderValue::from_static("application/zip"));
                    (StatusCode::OK, h, r.zip.clone()).into_response()
                }
                None => err(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        (Method::GET, ["orgs", org, "actions", "variables"]) => {
            if *org != sh.cfg.org {
                return err(StatusCode::NOT_FOUND, "Not Found");
            }
            if let Some(r) = kind_forbidden(faults, Provider::Github, Kind::OrgVariable) {
                return r;
            }
            gh_variables(&st, req, Kind::OrgVariable, org, true, cap, repeat)
        }
        (_, ["orgs", org, area @ ("actions" | "dependabot" | "codespaces"), "secrets", tail @ ..]) => {
            if *org != sh.cfg.org {
                return err(StatusCode::NOT_FOUND, "Not Found");
            }
            let kind = match *area {
                "actions" => Kind::OrgSecret,
                "dependabot" => Kind::DependabotSecret,
                _ => Kind::CodespacesSecret,
            };
            if let Some(r) = kind_forbidden(faults, Provider::Github, kind) {
                return r;
            }
            gh_secrets(
                &mut st,
                req,
                kind,
                org,
                &format!("org:{org}:{area}"),
                tail,
                true,
                cap,
                repeat,
            )
        }
        // what the token reaches (validators' access map)
        (Method::GET, ["user", "orgs"]) => ok(StatusCode::OK, json!([{"login": sh.cfg.org, "id": 100}])),
        (Method::GET, ["user", "repos"]) => {
            let org = sh.cfg.org.clone();
            let items: Vec<Value> = st
                .github_repos
                .iter()
                .enumerate()
                .map(|(i, (id, full))| {
                    let name = full.split_once('/').map(|x| x.1).unwrap_or(full);
                    // the admin token administers every third repository, writes the rest
                    json!({"id": id, "name": name, "full_name": full, "private": true, "owner": {"login": org},
                           "permissions": {"admin": i % 3 == 0, "maintain": i % 3 == 0, "push": true, "triage": true, "pull": true}})
                })
                .collect();
            let (page, h) = offset_page(req, items, cap, 30, repeat, false);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (Method::GET, ["orgs", org, "repos"]) => {
            if *org != sh.cfg.org {
                return err(StatusCode::NOT_FOUND, "Not Found");
            }
            let items: Vec<Value> = st
                .github_repos
                .iter()
                .map(|(id, full)| {
                    let name = full.split_once('/').map(|x| x.1).unwrap_or(full);
                    json!({"id": id, "name": name, "full_name": full, "private": true, "owner": {"login": org}})
                })
                .collect();
            let (page, h) = offset_page(req, items, cap, 30, repeat, false);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (_, ["repos", o, r, tail @ ..]) => {
            let repo = format!("{o}/{r}");
            if !st.github_index.contains_key(&repo) {
                return err(StatusCode::NOT_FOUND, "Not Found");
            }
            if forbidden(faults, &repo) {
                return err(StatusCode::FORBIDDEN, "Resource not accessible by integration");
            }
            match (m.clone(), tail) {
                (_, ["actions", "secrets", rest @ ..]) => gh_secrets(
                    &mut st,
                    req,
                    Kind::ActionsSecret,
                    &repo,
                    &format!("repo:{repo}:actions"),
                    rest,
                    false,
                    cap,
                    repeat,
                ),
                (_, ["codespaces", "secrets", rest @ ..]) => {
                    if let Some(r) = kind_forbidden(faults, Provider::Github, Kind::CodespacesSecret) {
                        return r;
                    }
                    gh_secrets(
                        &mut st,
                        req,
                        Kind::CodespacesSecret,
                        &repo,
                        &format!("repo:{repo}:codespaces"),
                        rest,
                        false,
                        cap,
                        repeat,
                    )
                }
                (Method::GET, ["actions", "variables"]) => {
                    if let Some(r) = kind_forbidden(faults, Provider::Github, Kind::ActionsVariable) {
                        return r;
                    }
                    gh_variables(&st, req, Kind::ActionsVariable, &repo, false, cap, repeat)
                }
                (Method::GET, ["environments", env, "variables"]) => {
                    if !st
                        .environments
                        .get(&repo)
                        .is_some_and(|v| v.iter().any(|e| e == env))
                    {
                        return err(StatusCode::NOT_FOUND, "Not Found");
                    }
                    if let Some(r) = kind_forbidden(faults, Provider::Github, Kind::EnvironmentVariable) {
                        return r;
                    }
                    let scope = format!("{repo}:{env}");
                    gh_variables(&st, req, Kind::EnvironmentVariable, &scope, false, cap, repeat)
                }
                (_, ["dependabot", "secrets", rest @ ..]) => gh_secrets(
                    &mut st,
                    req,
                    Kind::DependabotSecret,
                    &repo,
                    &format!("repo:{repo}:dependabot"),
                    rest,
                    false,
                    cap,
                    repeat,
                ),
                (Method::GET, ["environments"]) => {
                    let envs = st.environments.get(&repo).cloned().unwrap_or_default();
                    let items: Vec<Value> = envs.iter().map(|e| json!({"name": e})).collect();
                    let total = items.len();
                    let (page, h) = offset_page(req, items, cap, 30, repeat, false);
                    (
                        StatusCode::OK,
                        h,
                        axum::Json(json!({"total_count": total, "environments": page})),
                    )
                        .into_response()
                }
                (_, ["environments", env, "secrets", rest @ ..]) => {
                    if !st
                        .environments
                        .get(&repo)
                        .is_some_and(|v| v.iter().any(|e| e == env))
                    {
                        return err(StatusCode::NOT_FOUND, "Not Found");
                    }
                    let scope = format!("{repo}:{env}");
                    gh_secrets(
                        &mut st,
                        req,
                        Kind::EnvironmentSecret,
                        &scope,
                        &format!("env:{scope}"),
                        rest,
                        false,
                        cap,
                        repeat,
                    )
                }
                (Method::GET, ["keys"]) => {
                    let items: Vec<Value> = st
                        .list_keys(Provider::Github, Kind::DeployKey, &repo)
                        .iter()
                        .map(|k| json!({"id": k.id, "key": k.public_key, "title": k.name, "read_only": k.read_only, "verified": true, "created_at": ts_s(k.created_at)}))
                        .collect();
                    let (page, h) = offset_page(req, items, cap, 30, repeat, false);
                    (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
                }
                (Method::POST, ["keys"]) => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let Some(key) = b["key"].as_str() else {
                        return err(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
                    };
                    let title = b["title"].as_str().unwrap_or("deploy").to_string();
                    let ro = b["read_only"].as_bool().unwrap_or(true);
                    let now = Utc::now();
                    let k = st.add_key(
                        Provider::Github,
                        Kind::DeployKey,
                        &repo,
                        title.clone(),
                        key.to_string(),
                        "deploy-key",
                        "",
                        ro,
                        now,
                    );
                    st.record(
                        Provider::Github,
                        Kind::DeployKey,
                        &repo,
                        &title,
                        super::EventAction::Create,
                        Some(k.fingerprint.clone()),
                        now,
                    );
                    ok(
                        StatusCode::CREATED,
                        json!({"id": k.id, "key": k.public_key, "title": k.name, "read_only": k.read_only, "verified": true, "created_at": ts_s(k.created_at)}),
                    )
                }
                (Method::DELETE, ["keys", id]) => {
                    let id: u64 = id.parse().unwrap_or(0);
                    if st.remove_key(Provider::Github, Kind::DeployKey, &repo, |k| k.id == id) {
                        StatusCode::NO_CONTENT.into_response()
                    } else {
                        err(StatusCode::NOT_FOUND, "Not Found")
                    }
                }
                (Method::GET, ["actions", "runs"]) => {
                    let since = req
                        .q("created")
                        .and_then(|c| c.strip_prefix(">="))
                        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                        .map(|t| t.with_timezone(&Utc));
                    let items: Vec<Value> = st
                        .runs
                        .get(&repo)
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .filter(|r| since.is_none_or(|s| r.created_at >= s))
                        .map(|r| json!({"id": r.id, "name": r.name, "created_at": ts_s(r.created_at), "status": "completed"}))
                        .collect();
                    let total = items.len();
                    let (page, h) = offset_page(req, items, cap, 30, repeat, false);
                    (
                        StatusCode::OK,
                        h,
                        axum::Json(json!({"total_count": total, "workflow_runs": page})),
                    )
                        .into_response()
                }
                (Method::GET, ["actions", "runs", id, "logs"]) => {
                    let id: u64 = id.parse().unwrap_or(0);
                    if !st.runs.get(&repo).is_some_and(|v| v.iter().any(|r| r.id == id)) {
                        return err(StatusCode::NOT_FOUND, "Not Found");
                    }
                    let mut h = HeaderMap::new();
                    let loc = format!("{}/github/blobs/runs/{id}.zip", req.origin);
                    h.insert("location", HeaderValue::from_str(&loc).expect("location"));
                    (StatusCode::FOUND, h).into_response()
                }
                _ => err(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => err(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `GET .../actions/variables`: `{"total_count", "variables": [{name, value, created_at,
/// updated_at}]}` (organisation variables add `visibility` and
/// `selected_repositories_url`); GitHub pages variables by at most 30.
fn gh_variables(
    st: &super::SimState,
    req: &Req,
    kind: Kind,
    scope: &str,
    org: bool,
    cap: usize,
    repeat: bool,
) -> Response {
    let items: Vec<Value> = st
        .list_secrets(Provider::Github, kind, scope)
        .iter()
        .map(|r| {
            // Like the real API, the value is in the reply, in plain text.
            let mut v = json!({"name": r.name,
                "value": r.value.as_ref().map(|v| v.expose().to_string()).unwrap_or_default(),
                "created_at": ts_s(r.created_at), "updated_at": ts_s(r.updated_at)});
            if org {
                v["visibility"] = json!(r.flags.visibility.clone().unwrap_or_else(|| "private".into()));
                v["selected_repositories_url"] = json!(format!(
                    "{}/github/orgs/{scope}/actions/variables/{}/repositories",
                    req.origin, r.name
                ));
            }
            v
        })
        .collect();
    let total = items.len();
    let (page, h) = offset_page(req, items, cap.min(30), 10, repeat, false);
    (
        StatusCode::OK,
        h,
        axum::Json(json!({"total_count": total, "variables": page})),
    )
        .into_response()
}

#[allow(clippy::too_many_arguments)]
fn gh_secrets(
    st: &mut super::SimState,
    req: &Req,
    kind: Kind,
    scope: &str,
    key_scope: &str,
    tail: &[&str],
    org: bool,
    cap: usize,
    repeat: bool,
) -> Response {
    let secret_json = |r: &SecretRecord| {
        let mut v =
            json!({"name": r.name, "created_at": ts_s(r.created_at), "updated_at": ts_s(r.updated_at)});
        if org {
            v["visibility"] = json!(r.flags.visibility.clone().unwrap_or_else(|| "private".into()));
        }
        v
    };
    match (req.method.clone(), tail) {
        (Method::GET, []) => {
            let items: Vec<Value> = st
                .list_secrets(Provider::Github, kind, scope)
                .iter()
                .map(secret_json)
                .collect();
            let total = items.len();
            let (page, h) = offset_page(req, items, cap, 30, repeat, false);
            (
                StatusCode::OK,
                h,
                axum::Json(json!({"total_count": total, "secrets": page})),
            )
                .into_response()
        }
        (Method::GET, ["public-key"]) => {
            let (key_id, sk) = st.sealing_key(key_scope);
            let pk = base64::engine::general_purpose::STANDARD.encode(sk.public_key().as_bytes());
            ok(StatusCode::OK, json!({"key_id": key_id, "key": pk}))
        }
        (Method::GET, [name]) => match st.get_secret(Provider::Github, kind, scope, name) {
            Some(r) => ok(StatusCode::OK, secret_json(&r)),
            None => err(StatusCode::NOT_FOUND, "Not Found"),
        },
        (Method::PUT, [name]) => {
            let b = match req.json() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let (Some(ev), Some(kid)) = (b["encrypted_value"].as_str(), b["key_id"].as_str()) else {
                return err(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "encrypted_value and key_id are required",
                );
            };
            let vis = b["visibility"].as_str().map(str::to_string);
            if org && vis.is_none() {
                return err(StatusCode::UNPROCESSABLE_ENTITY, "visibility is required");
            }
            let (key_id, sk) = st.sealing_key(key_scope);
            if kid != key_id {
                return err(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "key_id does not match the current public key",
                );
            }
            let Ok(ct) = base64::engine::general_purpose::STANDARD.decode(ev) else {
                return err(StatusCode::UNPROCESSABLE_ENTITY, "encrypted_value is not base64");
            };
            let Ok(plain) = sk.unseal(&ct) else {
                return err(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "encrypted_value cannot be decrypted with key_id",
                );
            };
            let value = SecretString::new(String::from_utf8_lossy(&plain).into_owned());
            let flags = Flags {
                visibility: if org { vis } else { None },
                ..Default::default()
            };
            let (_, created) =
                st.write_secret(Provider::Github, kind, scope, name, Some(value), flags, false);
            if created {
                ok(StatusCode::CREATED, json!({}))
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        (Method::DELETE, [name]) => {
            if st.delete_secret(Provider::Github, kind, scope, name) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                err(StatusCode::NOT_FOUND, "Not Found")
            }
        }
        _ => err(StatusCode::NOT_FOUND, "Not Found"),
    }
}

// ---------------------------------------------------------------- GitLab

fn gitlab(sh: &Shared, req: &Req, faults: &super::Faults) -> Response {
    let s: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let Some(s) = s.strip_prefix(&["api", "v4"]) else {
        return err(StatusCode::NOT_FOUND, "404 Not Found");
    };
    let m = req.method.clone();
    let cap = sh.cfg.page_size.min(100);
    let repeat = faults.repeat_page_token;
    // the token's scopes, enforced as GitLab does (403 `insufficient_scope`)
    let scopes = sh.gitlab_scopes.lock().expect("scopes").clone();
    let needed: &[&str] = match (&m, s) {
        (_, ["personal_access_tokens", "self"]) => &[],
        (&Method::GET, ["user"]) => &["api", "read_api", "read_user"],
        (&Method::GET, _) => &["api", "read_api"],
        _ => &["api"],
    };
    if !needed.is_empty() && !needed.iter().any(|n| scopes.iter().any(|s| s == n)) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": needed.join(" "),
            })),
        )
            .into_response();
    }
    let mut st = sh.state.lock().expect("state");
    let find_group = |st: &super::SimState, g: &str| {
        st.gitlab_groups
            .iter()
            .find(|x| x.full_path == g || x.id.to_string() == g)
            .cloned()
    };
    let project_json = |p: &super::state::GlProject| {
        let name = p.path.rsplit('/').next().unwrap_or(&p.path);
        json!({"id": p.id, "name": name, "path": name, "path_with_namespace": p.path, "namespace": {"id": p.group_id}})
    };
    match (m.clone(), s) {
        // the token itself (validators: `gitlab.token`)
        (Method::GET, ["personal_access_tokens", "self"]) => ok(
            StatusCode::OK,
            json!({"id": 1, "name": "sim-admin-token", "revoked": false, "active": true,
                   "scopes": scopes, "user_id": 1, "expires_at": null}),
        ),
        // the token's user (validators' access map)
        (Method::GET, ["user"]) => ok(
            StatusCode::OK,
            json!({"id": 1, "username": "sim-admin", "name": "Simulator Admin", "state": "active",
                   "locked": false, "bot": false, "web_url": format!("{}/sim-admin", req.origin)}),
        ),
        // self-revocation: the token in the header is revoked (it is the simulator's one
        // accepted GitLab token, so every later GitLab request is refused)
        (Method::DELETE, ["personal_access_tokens", "self"]) => {
            st.revoked.insert(firebreak_core::fingerprint(
                sh.cfg.gitlab_token.expose().as_bytes(),
            ));
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, ["projects"]) => {
            // `membership=true`: only projects the user is a member of (directly or through a
            // group); `min_access_level`; `simple=false` (the default): the full entity with
            // the user's `permissions`, as GitLab's `ProjectWithAccess`
            let membership = req.q("membership") == Some("true");
            let min: Option<u64> = req.q("min_access_level").and_then(|v| v.parse().ok());
            let simple = req.q("simple") == Some("true");
            let items: Vec<Value> = st
                .gitlab_projects
                .iter()
                .filter(|p| {
                    let level = gl_project_level(&st, p);
                    (!membership || level.is_some()) && min.is_none_or(|m| level.is_some_and(|l| l >= m))
                })
                .map(|p| {
                    if simple {
                        project_json(p)
                    } else {
                        gl_project_full(&st, p, &req.origin)
                    }
                })
                .collect();
            let (page, h) = offset_page(req, items, cap, 20, repeat, true);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (Method::GET, ["groups"]) => {
            // the groups the user is a member of (directly or inherited), at least
            // `min_access_level`
            let min: u64 = req
                .q("min_access_level")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let items: Vec<Value> = st
                .gitlab_groups
                .iter()
                .filter(|g| gl_group_level(&st, Some(g.id)).is_some_and(|l| l >= min))
                .map(|g| {
                    let name = g.full_path.rsplit('/').next().unwrap_or(&g.full_path);
                    json!({"id": g.id, "name": name, "path": name, "full_name": g.full_path.replace('/', " / "),
                           "full_path": g.full_path, "parent_id": g.parent, "visibility": "private",
                           "web_url": format!("{}/groups/{}", req.origin, g.full_path)})
                })
                .collect();
            let (page, h) = offset_page(req, items, cap, 20, repeat, true);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (Method::GET, ["groups", g]) => match find_group(&st, g) {
            Some(gr) => ok(
                StatusCode::OK,
                json!({"id": gr.id, "full_path": gr.full_path, "parent_id": gr.parent}),
            ),
            None => err(StatusCode::NOT_FOUND, "404 Group Not Found"),
        },
        (Method::GET, ["groups", g, "descendant_groups"]) => {
            let Some(gr) = find_group(&st, g) else {
                return err(StatusCode::NOT_FOUND, "404 Group Not Found");
            };
            let prefix = format!("{}/", gr.full_path);
            let items: Vec<Value> = st
                .gitlab_groups
                .iter()
                .filter(|x| x.full_path.starts_with(&prefix))
                .map(|x| json!({"id": x.id, "full_path": x.full_path, "parent_id": x.parent}))
                .collect();
            let (page, h) = offset_page(req, items, cap, 20, repeat, true);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (Method::GET, ["groups", g, "projects"]) => {
            let Some(gr) = find_group(&st, g) else {
                return err(StatusCode::NOT_FOUND, "404 Group Not Found");
            };
            let sub = req.q("include_subgroups") == Some("true");
            let prefix = format!("{}/", gr.full_path);
            let items: Vec<Value> = st
                .gitlab_projects
                .iter()
                .filter(|p| p.group_id == gr.id || (sub && p.path.starts_with(&prefix)))
                .map(project_json)
                .collect();
            let (page, h) = offset_page(req, items, cap, 20, repeat, true);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (_, ["projects", p, "variables", tail @ ..]) => {
            let Some(proj) = st
                .gitlab_projects
                .iter()
                .find(|x| x.path == *p || x.id.to_string() == *p)
                .cloned()
            else {
                return err(StatusCode::NOT_FOUND, "404 Project Not Found");
            };
            if forbidden(faults, &proj.path) || forbidden(faults, &proj.id.to_string()) {
                return err(StatusCode::FORBIDDEN, "403 Forbidden");
            }
            gl_vars(&mut st, req, Kind::ProjectVariable, &proj.path, tail, cap, repeat)
        }
        (_, ["groups", g, "variables", tail @ ..]) => {
            let Some(gr) = find_group(&st, g) else {
                return err(StatusCode::NOT_FOUND, "404 Group Not Found");
            };
            if forbidden(faults, &gr.full_path) {
                return err(StatusCode::FORBIDDEN, "403 Forbidden");
            }
            gl_vars(
                &mut st,
                req,
                Kind::GroupVariable,
                &gr.full_path,
                tail,
                cap,
                repeat,
            )
        }
        (_, ["admin", "ci", "variables", tail @ ..]) => gl_vars(
            &mut st,
            req,
            Kind::InstanceVariable,
            "instance",
            tail,
            cap,
            repeat,
        ),
        (
            Method::GET,
            ["projects", p, area @ ("deploy_keys" | "deploy_tokens" | "access_tokens" | "triggers" | "runners")],
        ) => {
            let Some(proj) = st
                .gitlab_projects
                .iter()
                .find(|x| x.path == *p || x.id.to_string() == *p)
                .cloned()
            else {
                return err(StatusCode::NOT_FOUND, "404 Project Not Found");
            };
            if forbidden(faults, &proj.path) || forbidden(faults, &proj.id.to_string()) {
                return err(StatusCode::FORBIDDEN, "403 Forbidden");
            }
            let kind = match *area {
                "deploy_keys" => Kind::ProjectDeployKey,
                "deploy_tokens" => Kind::DeployToken,
                "access_tokens" => Kind::ProjectAccessToken,
                "triggers" => Kind::TriggerToken,
                _ => Kind::Runner,
            };
            if let Some(r) = kind_forbidden(faults, Provider::Gitlab, kind) {
                return r;
            }
            // runners: the project's own, its groups' and (none here) the instance's,
            // filtered by `type`
            let ancestors = gl_ancestors(&st, Some(proj.group_id));
            let items: Vec<Value> = st
                .gitlab_creds
                .iter()
                .filter(|c| c.kind == kind)
                .filter(|c| c.scope == proj.path || (kind == Kind::Runner && ancestors.contains(&c.scope)))
                .filter(|c| gl_runner_type_ok(c, req))
                .map(|c| gl_cred_json(c, &req.origin))
                .collect();
            let (page, h) = offset_page(req, items, cap, 20, repeat, true);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (Method::GET, ["groups", g, area @ ("deploy_tokens" | "access_tokens" | "runners")]) => {
            let Some(gr) = find_group(&st, g) else {
                return err(StatusCode::NOT_FOUND, "404 Group Not Found");
            };
            if forbidden(faults, &gr.full_path) {
                return err(StatusCode::FORBIDDEN, "403 Forbidden");
            }
            let kind = match *area {
                "deploy_tokens" => Kind::DeployToken,
                "access_tokens" => Kind::GroupAccessToken,
                _ => Kind::Runner,
            };
            if let Some(r) = kind_forbidden(faults, Provider::Gitlab, kind) {
                return r;
            }
            let ancestors = gl_ancestors(&st, Some(gr.id));
            let items: Vec<Value> = st
                .gitlab_creds
                .iter()
                .filter(|c| c.kind == kind)
                .filter(|c| c.scope == gr.full_path || (kind == Kind::Runner && ancestors.contains(&c.scope)))
                .filter(|c| gl_runner_type_ok(c, req))
                .map(|c| gl_cred_json(c, &req.origin))
                .collect();
            let (page, h) = offset_page(req, items, cap, 20, repeat, true);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        _ => err(StatusCode::NOT_FOUND, "404 Not Found"),
    }
}

/// Full paths of a group and its ancestors.
fn gl_ancestors(st: &super::SimState, mut id: Option<u64>) -> Vec<String> {
    let mut v = Vec::new();
    while let Some(g) = id.and_then(|i| st.gitlab_groups.iter().find(|x| x.id == i)) {
        v.push(g.full_path.clone());
        id = g.parent;
    }
    v
}

/// A runner listing's `type` filter (`project_type`, `group_type`, `instance_type`).
fn gl_runner_type_ok(c: &super::state::GlCred, req: &Req) -> bool {
    match (c.kind, req.q("type")) {
        (Kind::Runner, Some(t)) => c.extra["runner_type"].as_str() == Some(t),
        _ => true,
    }
}

/// A GitLab credential as its list endpoint shows it (GitLab's entities:
/// `DeployKeysProject`, `DeployToken`, `ResourceAccessToken`, `Trigger`, `Ci::Runner`).
fn gl_cred_json(c: &super::state::GlCred, origin: &str) -> Value {
    let t = |x: Option<DateTime<Utc>>| x.map(ts).map(Value::from).unwrap_or(Value::Null);
    let mut v = match c.kind {
        Kind::ProjectDeployKey => json!({"id": c.id, "title": c.label, "created_at": ts(c.created_at),
            "expires_at": t(c.expires_at)}),
        Kind::DeployToken => json!({"id": c.id, "name": c.label, "expires_at": t(c.expires_at),
            "revoked": c.revoked, "expired": c.expires_at.is_some_and(|e| e <= Utc::now())}),
        Kind::ProjectAccessToken | Kind::GroupAccessToken => {
            let active = c.live();
            json!({"id": c.id, "name": c.label, "description": null, "revoked": c.revoked,
                "created_at": ts(c.created_at), "last_used_at": t(c.last_used_at), "active": active,
                "expires_at": c.expires_at.map(|e| e.format("%Y-%m-%d").to_string()),
                "resource_type": if c.kind == Kind::GroupAccessToken { "group" } else { "project" }})
        }
        Kind::TriggerToken => json!({"id": c.id, "description": c.label, "created_at": ts(c.created_at),
            "updated_at": ts(c.created_at), "last_used": t(c.last_used_at), "expires_at": t(c.expires_at),
            "owner": {"id": 2, "username": "ci-bot", "name": "CI Bot", "state": "active",
                      "web_url": format!("{origin}/ci-bot")}}),
        _ => {
            json!({"id": c.id, "description": c.label, "name": null, "active": !c.extra["paused"].as_bool().unwrap_or(false),
            "is_shared": false, "online": true})
        }
    };
    if let (Some(o), Some(e)) = (v.as_object_mut(), c.extra.as_object()) {
        for (k, x) in e {
            // (a trigger's `token` is already truncated to 4 characters, as GitLab shows
            // a trigger its caller does not own)
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

/// The user's highest membership in a group or its ancestors (GitLab's
/// `highest_group_member`).
fn gl_group_level(st: &super::SimState, mut id: Option<u64>) -> Option<u64> {
    let mut best = None;
    while let Some(g) = id.and_then(|i| st.gitlab_groups.iter().find(|x| x.id == i)) {
        best = best.max(g.access);
        id = g.parent;
    }
    best
}

/// The user's effective access level on a project: direct or through its groups.
fn gl_project_level(st: &super::SimState, p: &super::state::GlProject) -> Option<u64> {
    p.access.max(gl_group_level(st, Some(p.group_id)))
}

/// A project as `GET /projects` (not `simple`) shows it to a signed-in user: with
/// `permissions.project_access` (direct membership) and `permissions.group_access` (the
/// highest membership of its group or an ancestor), each `null` when there is none.
fn gl_project_full(st: &super::SimState, p: &super::state::GlProject, origin: &str) -> Value {
    let name = p.path.rsplit('/').next().unwrap_or(&p.path);
    let ns = st.gitlab_groups.iter().find(|g| g.id == p.group_id);
    let ns_path = ns.map(|g| g.full_path.clone()).unwrap_or_default();
    let ns_name = ns_path.rsplit('/').next().unwrap_or(&ns_path).to_string();
    let access = |l: Option<u64>| match l {
        Some(l) => json!({"access_level": l, "notification_level": 3}),
        None => Value::Null,
    };
    json!({
        "id": p.id, "description": null, "name": name, "path": name,
        "name_with_namespace": p.path.replace('/', " / "), "path_with_namespace": p.path,
        "default_branch": "main", "visibility": "private", "archived": false,
        "web_url": format!("{origin}/{}", p.path),
        "namespace": {"id": p.group_id, "name": ns_name, "path": ns_name, "kind": "group", "full_path": ns_path},
        "permissions": {
            "project_access": access(p.access),
            "group_access": access(gl_group_level(st, Some(p.group_id))),
        },
    })
}

fn gl_vars(
    st: &mut super::SimState,
    req: &Req,
    kind: Kind,
    scope: &str,
    tail: &[&str],
    cap: usize,
    repeat: bool,
) -> Response {
    let instance = kind == Kind::InstanceVariable;
    let var_json = |r: &SecretRecord| {
        // Like the real API, the value is in the reply; firebreak keeps only its keyed fingerprint.
        let mut v = json!({
            "variable_type": "env_var",
            "key": r.name,
            "value": r.value.as_ref().map(|v| v.expose().to_string()).unwrap_or_default(),
            "protected": r.flags.protected.unwrap_or(false),
            "masked": r.flags.masked.unwrap_or(false),
            "raw": false,
            "description": null,
        });
        if !instance {
            v["environment_scope"] = json!(r.flags.environment_scope.clone().unwrap_or_else(|| "*".into()));
        }
        v
    };
    let env_filter = req.q("filter[environment_scope]").map(str::to_string);
    match (req.method.clone(), tail) {
        (Method::GET, []) => {
            let items: Vec<Value> = st
                .list_secrets(Provider::Gitlab, kind, scope)
                .iter()
                .map(var_json)
                .collect();
            let (page, h) = offset_page(req, items, cap, 20, repeat, true);
            (StatusCode::OK, h, axum::Json(Value::Array(page))).into_response()
        }
        (Method::POST, []) => {
            let b = match req.json() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let (Some(key), Some(value)) = (b["key"].as_str(), b["value"].as_str()) else {
                return err(StatusCode::BAD_REQUEST, "key and value are required");
            };
            let flags = Flags {
                protected: Some(as_flag(&b["protected"]).unwrap_or(false)),
                masked: Some(as_flag(&b["masked"]).unwrap_or(false)),
                environment_scope: if instance {
                    None
                } else {
                    Some(b["environment_scope"].as_str().unwrap_or("*").to_string())
                },
                ..Default::default()
            };
            if st
                .get_secret(Provider::Gitlab, kind, scope, &map_key(key, &flags))
                .is_some()
            {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"message": {"key": [format!("({key}) has already been taken")]}})),
                )
                    .into_response();
            }
            let (r, _) = st.write_secret(
                Provider::Gitlab,
                kind,
                scope,
                key,
                Some(SecretString::new(value)),
                flags,
                false,
            );
            ok(StatusCode::CREATED, var_json(&r))
        }
        (m, [key]) => {
            let lookup = Flags {
                environment_scope: env_filter.clone(),
                ..Default::default()
            };
            let mk = map_key(key, &lookup);
            let Some(existing) = st.get_secret(Provider::Gitlab, kind, scope, &mk) else {
                return err(StatusCode::NOT_FOUND, "404 Variable Not Found");
            };
            match m {
                Method::GET => ok(StatusCode::OK, var_json(&existing)),
                Method::PUT => {
                    let b = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let Some(value) = b["value"].as_str() else {
                        return err(StatusCode::BAD_REQUEST, "value is missing");
                    };
                    let flags = Flags {
                        protected: as_flag(&b["protected"]),
                        masked: as_flag(&b["masked"]),
                        environment_scope: existing.flags.environment_scope.clone(),
                        ..Default::default()
                    };
                    let (r, _) = st.write_secret(
                        Provider::Gitlab,
                        kind,
                        scope,
                        key,
                        Some(SecretString::new(value)),
                        flags,
                        false,
                    );
                    ok(StatusCode::OK, var_json(&r))
                }
                Method::DELETE => {
                    st.delete_secret(Provider::Gitlab, kind, scope, &mk);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => err(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed"),
            }
        }
        _ => err(StatusCode::NOT_FOUND, "404 Not Found"),
    }
}

/// GitLab accepts booleans as JSON booleans or strings.
fn as_flag(v: &Value) -> Option<bool> {
    v.as_bool().or_else(|| match v.as_str() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    })
}
