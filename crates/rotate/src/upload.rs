//! Upload-token sources: the tokens packages and images are published with, one per
//! (project, CI provider), so that what one CI provider leaked is revoked without
//! breaking another (conda-forge's first lesson), and old and new stay valid together
//! until the new one is verified in every sink.
//!
//! - [`ServeTokens`]: firebreak's own upload tokens (`firebreak serve`): `POST
//!   /v1/admin/tokens {project, provider}`, listed by `GET /v1/admin/tokens?project=&provider=`,
//!   revoked one by one with `DELETE /v1/admin/tokens/{id}`; the admin credential comes
//!   from `FIREBREAK_ADMIN_TOKEN`.
//! - [`DockerHub`]: Docker Hub personal access tokens, through Docker's documented Hub API
//!   (`POST /v2/auth/token` for a short-lived bearer, `POST /v2/access-tokens`
//!   `{token_label, scopes}`, `GET /v2/access-tokens`, `DELETE /v2/access-tokens/{uuid}`);
//!   the account's password or a personal access token allowed to manage tokens comes
//!   from `DOCKERHUB_TOKEN`.
//!
//! - [`NpmTokens`]: npm access tokens, through the registry's documented token API
//!   (`GET /-/npm/v1/tokens`, `POST /-/npm/v1/tokens` `{name, packages, scopes,
//!   packages_and_scopes_permission, expires, bypass_2fa, cidr}` with the one-time password
//!   in the `npm-otp` header, `DELETE /-/npm/v1/tokens/token/{key}`); the operator's
//!   session token comes from `NPM_SESSION_TOKEN`, the one-time password from `NPM_OTP`,
//!   the account password (when the registry wants it) from `NPM_PASSWORD`.
//! - [`AnacondaTokens`]: anaconda.org tokens, through the API its official client
//!   (anaconda-client's `anaconda auth`) uses: `POST /authentications` with the account's
//!   basic credentials (`{scopes, note, user, max-age, strength, fail-if-exists}`), `GET
//!   /authentications` and `DELETE /authentications[/org/{org}]/name/{name}` with a token
//!   (`Authorization: token ...`); the password comes from `ANACONDA_PASSWORD`, the
//!   management token from `ANACONDA_TOKEN`.
//!
//! Requests that create a token are never resent by the HTTP layer; after an ambiguous
//! failure the engine's lookup finds what was created (a Docker Hub token by its label,
//! which carries the idempotency key; a firebreak token as one that did not exist before)
//! and deletes it as an orphan (its value is shown once and was lost) before issuing again.

use firebreak_core::SecretString;
use firebreak_http::header::{HeaderValue, AUTHORIZATION};
use firebreak_http::{Body, Http, HttpConfig, Method, Replay, Request};
use serde_json::{json, Value};
use url::Url;

/// Docker Hub's API.
pub const DOCKERHUB_API: &str = "https://hub.docker.com/";

/// One token as a service lists it (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMeta {
    /// Id at the service (firebreak token id, Docker Hub uuid).
    pub id: String,
    /// Label (Docker Hub), or `PROJECT/PROVIDER` (firebreak).
    pub label: String,
    /// Still valid (not revoked / active).
    pub active: bool,
}

fn bearer(v: &str) -> Result<HeaderValue, String> {
    let mut h = HeaderValue::from_str(&format!("Bearer {v}"))
        .map_err(|_| "credential is not a valid header value".to_string())?;
    h.set_sensitive(true);
    Ok(h)
}

fn sensitive(v: &str) -> Result<HeaderValue, String> {
    let mut h = HeaderValue::from_str(v).map_err(|_| "credential is not a valid header value".to_string())?;
    h.set_sensitive(true);
    Ok(h)
}

/// Sends one request with a bearer; returns (status, JSON body).
async fn call(
    http: &Http,
    method: Method,
    url: Url,
    auth: Option<&str>,
    body: Option<Value>,
    replay: Replay,
) -> Result<(u16, Value), String> {
    let headers = match auth {
        Some(a) => vec![(AUTHORIZATION, bearer(a)?)],
        None => Vec::new(),
    };
    call_with(http, method, url, headers, body, replay).await
}

/// Sends one request with the given headers; returns (status, JSON body) for 2xx and 404,
/// else an error naming the request and the service's own words (scrubbed).
async fn call_with(
    http: &Http,
    method: Method,
    url: Url,
    headers: Vec<(firebreak_http::header::HeaderName, HeaderValue)>,
    body: Option<Value>,
    replay: Replay,
) -> Result<(u16, Value), String> {
    let shown = format!("{method} {}", url.path());
    let mut req = Request::new(method, url);
    req.replay = replay;
    req.any_status = true;
    req.headers.extend(headers);
    req.body = body.map(Body::Json);
    let r = http.execute(req).await.map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    if (200..300).contains(&r.status) || r.status == 404 {
        return Ok((r.status, v));
    }
    let why = ["message", "detail", "error", "errinfo"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or("");
    Err(format!(
        "{shown}: HTTP {} {}",
        r.status,
        firebreak_core::scrub::scrub(why)
            .chars()
            .take(200)
            .collect::<String>()
    ))
}

fn join(base: &Url, path: &str) -> Result<Url, String> {
    base.join(path.trim_start_matches('/'))
        .map_err(|e| format!("bad URL {base}{path}: {e}"))
}

fn base_url(s: &str) -> Result<Url, String> {
    let s = if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    };
    Url::parse(&s).map_err(|e| format!("bad URL {s}: {e}"))
}

fn enc(s: &str) -> String {
    firebreak_http::aws::uri_encode(s)
}

/// firebreak's upload-token service, for one (project, provider).
#[derive(Debug, Clone)]
pub struct ServeTokens {
    http: Http,
    base: Url,
    admin: SecretString,
    project: String,
    provider: String,
    ttl_secs: Option<u64>,
}

impl ServeTokens {
    /// A client for the service at `url`.
    pub fn new(
        url: &str,
        admin: SecretString,
        project: &str,
        provider: &str,
        ttl_secs: Option<u64>,
        cfg: HttpConfig,
    ) -> Result<Self, String> {
        let base = base_url(url)?;
        let http = Http::new(&base, firebreak_http::Auth::None, cfg).map_err(|e| e.to_string())?;
        Ok(ServeTokens {
            http,
            base,
            admin,
            project: project.to_string(),
            provider: provider.to_string(),
            ttl_secs,
        })
    }

    /// The tokens of this project and provider (revoked ones inactive).
    pub async fn list(&self) -> Result<Vec<TokenMeta>, String> {
        let u = join(
            &self.base,
            &format!(
                "v1/admin/tokens?project={}&provider={}",
                enc(&self.project),
                enc(&self.provider)
            ),
        )?;
        let (_, v) = call(
            &self.http,
            Method::GET,
            u,
            Some(self.admin.expose()),
            None,
            Replay::Safe,
        )
        .await?;
        Ok(v["tokens"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|t| {
                        t["project"] == self.project.as_str() && t["provider"] == self.provider.as_str()
                    })
                    .filter_map(|t| {
                        Some(TokenMeta {
                            id: t["id"].as_str()?.to_string(),
                            label: format!("{}/{}", self.project, self.provider),
                            active: t["revoked_at"].is_null(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Issues a token (never resent): (id, token).
    pub async fn create(&self) -> Result<(String, SecretString), String> {
        let mut b = json!({"project": self.project, "provider": self.provider});
        if let Some(t) = self.ttl_secs {
            b["ttl_secs"] = json!(t);
        }
        let u = join(&self.base, "v1/admin/tokens")?;
        let (s, mut v) = call(
            &self.http,
            Method::POST,
            u,
            Some(self.admin.expose()),
            Some(b),
            Replay::Never,
        )
        .await?;
        if s == 404 {
            return Err("POST /v1/admin/tokens: HTTP 404 (is this a firebreak serve URL?)".into());
        }
        let token = SecretString::new(v["token"].as_str().unwrap_or("").to_string());
        if let Some(o) = v.as_object_mut() {
            o.remove("token");
        }
        let id = v["id"].as_str().unwrap_or("").to_string();
        if id.is_empty() || token.is_empty() {
            return Err("POST /v1/admin/tokens: the reply has no id or token".into());
        }
        Ok((id, token))
    }

    /// Revokes one token (already gone is success).
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        let u = join(&self.base, &format!("v1/admin/tokens/{}", enc(id)))?;
        call(
            &self.http,
            Method::DELETE,
            u,
            Some(self.admin.expose()),
            None,
            Replay::Safe,
        )
        .await
        .map(|_| ())
    }
}

/// Docker Hub personal access tokens of one account.
#[derive(Debug)]
pub struct DockerHub {
    http: Http,
    base: Url,
    username: String,
    secret: SecretString,
    scopes: Vec<String>,
    jwt: tokio::sync::Mutex<Option<SecretString>>,
}

impl DockerHub {
    /// A client for `username` at `endpoint` (default [`DOCKERHUB_API`]).
    pub fn new(
        endpoint: Option<&str>,
        username: &str,
        secret: SecretString,
        scopes: Vec<String>,
        cfg: HttpConfig,
    ) -> Result<Self, String> {
        let base = base_url(endpoint.unwrap_or(DOCKERHUB_API))?;
        let http = Http::new(&base, firebreak_http::Auth::None, cfg).map_err(|e| e.to_string())?;
        Ok(DockerHub {
            http,
            base,
            username: username.to_string(),
            secret,
            scopes,
            jwt: tokio::sync::Mutex::new(None),
        })
    }

    /// A short-lived bearer (`POST /v2/auth/token`), made once per client.
    async fn bearer(&self) -> Result<SecretString, String> {
        let mut g = self.jwt.lock().await;
        if let Some(t) = &*g {
            return Ok(t.clone());
        }
        let u = join(&self.base, "v2/auth/token")?;
        let (s, v) = call(
            &self.http,
            Method::POST,
            u,
            None,
            Some(json!({"identifier": self.username, "secret": self.secret.expose()})),
            Replay::Safe,
        )
        .await?;
        let t = v["access_token"].as_str().unwrap_or("");
        if s != 200 || t.is_empty() {
            return Err(format!("POST /v2/auth/token: HTTP {s}, no access_token"));
        }
        let t = SecretString::new(t.to_string());
        *g = Some(t.clone());
        Ok(t)
    }

    /// Every token of the account (paged).
    pub async fn list(&self) -> Result<Vec<TokenMeta>, String> {
        let jwt = self.bearer().await?;
        let mut out = Vec::new();
        for page in 1..=100 {
            let u = join(&self.base, &format!("v2/access-tokens?page={page}&page_size=100"))?;
            let (_, v) = call(&self.http, Method::GET, u, Some(jwt.expose()), None, Replay::Safe).await?;
            let results = v["results"].as_array().cloned().unwrap_or_default();
            for t in &results {
                if let Some(id) = t["uuid"].as_str() {
                    out.push(TokenMeta {
                        id: id.to_string(),
                        label: t["token_label"].as_str().unwrap_or("").to_string(),
                        active: t["is_active"].as_bool().unwrap_or(true),
                    });
                }
            }
            if results.is_empty() || v["next"].is_null() {
                break;
            }
        }
        Ok(out)
    }

    /// Creates a token labelled `label` (never resent): (uuid, token).
    pub async fn create(&self, label: &str) -> Result<(String, SecretString), String> {
        let jwt = self.bearer().await?;
        let u = join(&self.base, "v2/access-tokens")?;
        let (_, mut v) = call(
            &self.http,
            Method::POST,
            u,
            Some(jwt.expose()),
            Some(json!({"token_label": label, "scopes": self.scopes})),
            Replay::Never,
        )
        .await?;
        let token = SecretString::new(v["token"].as_str().unwrap_or("").to_string());
        if let Some(o) = v.as_object_mut() {
            o.remove("token");
        }
        let id = v["uuid"].as_str().unwrap_or("").to_string();
        if id.is_empty() || token.is_empty() {
            return Err("POST /v2/access-tokens: the reply has no uuid or token".into());
        }
        Ok((id, token))
    }

    /// Deletes a token (already gone is success).
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        let jwt = self.bearer().await?;
        let u = join(&self.base, &format!("v2/access-tokens/{}", enc(id)))?;
        call(
            &self.http,
            Method::DELETE,
            u,
            Some(jwt.expose()),
            None,
            Replay::Safe,
        )
        .await
        .map(|_| ())
    }
}

/// npm access tokens of the operator's account, for one token name.
#[derive(Debug)]
pub struct NpmTokens {
    http: Http,
    base: Url,
    session: SecretString,
    otp: Option<SecretString>,
    password: Option<SecretString>,
    grant: Value,
}

/// npm's registry.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org/";

impl NpmTokens {
    /// A client for `registry` (default [`NPM_REGISTRY`]); `grant` holds the new token's
    /// `packages`, `scopes`, `packages_and_scopes_permission`, `expires`, `bypass_2fa` and
    /// `cidr` as the API names them.
    pub fn new(
        registry: Option<&str>,
        session: SecretString,
        otp: Option<SecretString>,
        password: Option<SecretString>,
        grant: Value,
        cfg: HttpConfig,
    ) -> Result<Self, String> {
        let base = base_url(registry.unwrap_or(NPM_REGISTRY))?;
        let http = Http::new(&base, firebreak_http::Auth::None, cfg).map_err(|e| e.to_string())?;
        Ok(NpmTokens {
            http,
            base,
            session,
            otp,
            password,
            grant,
        })
    }

    fn headers(
        &self,
        with_otp: bool,
    ) -> Result<Vec<(firebreak_http::header::HeaderName, HeaderValue)>, String> {
        let mut h = vec![(AUTHORIZATION, bearer(self.session.expose())?)];
        if with_otp {
            if let Some(o) = &self.otp {
                h.push((
                    firebreak_http::header::HeaderName::from_static("npm-otp"),
                    sensitive(o.expose())?,
                ));
            }
        }
        Ok(h)
    }

    /// Every token of the account (paged; never a value: npm shows them redacted).
    pub async fn list(&self) -> Result<Vec<TokenMeta>, String> {
        let mut out = Vec::new();
        for page in 0..100 {
            let u = join(&self.base, &format!("-/npm/v1/tokens?page={page}&perPage=100"))?;
            let (s, v) = call_with(
                &self.http,
                Method::GET,
                u,
                self.headers(false)?,
                None,
                Replay::Safe,
            )
            .await?;
            if s == 404 {
                return Err("GET /-/npm/v1/tokens: HTTP 404 (is this an npm registry?)".into());
            }
            let objects = v["objects"].as_array().cloned().unwrap_or_default();
            for t in &objects {
                if let Some(key) = t["key"].as_str() {
                    out.push(TokenMeta {
                        id: key.to_string(),
                        label: t["name"].as_str().unwrap_or("").to_string(),
                        active: t["revoked"].is_null(),
                    });
                }
            }
            let next = v["urls"]["next"].as_str().is_some_and(|n| !n.is_empty());
            if objects.is_empty() || !next {
                break;
            }
        }
        Ok(out)
    }

    /// Creates a token named `name` (never resent): (key, token).
    pub async fn create(&self, name: &str) -> Result<(String, SecretString), String> {
        if self.otp.is_none() {
            return Err(
                "npm asks for a one-time password to create a token: set NPM_OTP to a fresh code (from your authenticator, or the one npm e-mailed) just before the run".into(),
            );
        }
        let mut b = self.grant.clone();
        b["name"] = json!(name);
        b["token_description"] = json!("issued by firebreak rotate");
        if let Some(p) = &self.password {
            b["password"] = json!(p.expose());
        }
        let u = join(&self.base, "-/npm/v1/tokens")?;
        let (s, mut v) = call_with(
            &self.http,
            Method::POST,
            u,
            self.headers(true)?,
            Some(b),
            Replay::Never,
        )
        .await?;
        if s == 404 {
            return Err("POST /-/npm/v1/tokens: HTTP 404 (is this an npm registry?)".into());
        }
        let token = SecretString::new(v["token"].as_str().unwrap_or("").to_string());
        if let Some(o) = v.as_object_mut() {
            o.remove("token");
        }
        let key = v["key"].as_str().unwrap_or("").to_string();
        if key.is_empty() || token.is_empty() {
            return Err("POST /-/npm/v1/tokens: the reply has no key or token".into());
        }
        Ok((key, token))
    }

    /// Deletes a token by key (already gone is success).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let u = join(&self.base, &format!("-/npm/v1/tokens/token/{}", enc(key)))?;
        call_with(
            &self.http,
            Method::DELETE,
            u,
            self.headers(true)?,
            None,
            Replay::Safe,
        )
        .await
        .map(|_| ())
    }
}

/// anaconda.org tokens of a user or organisation, for one token name.
#[derive(Debug)]
pub struct AnacondaTokens {
    http: Http,
    base: Url,
    username: String,
    password: SecretString,
    token: SecretString,
    org: Option<String>,
    scopes: Vec<String>,
    max_age: Option<u64>,
}

/// anaconda.org's API.
pub const ANACONDA_API: &str = "https://api.anaconda.org/";

impl AnacondaTokens {
    /// A client for `username` (tokens owned by `org` when set) at `endpoint` (default
    /// [`ANACONDA_API`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: Option<&str>,
        username: &str,
        password: SecretString,
        token: SecretString,
        org: Option<&str>,
        scopes: Vec<String>,
        max_age: Option<u64>,
        cfg: HttpConfig,
    ) -> Result<Self, String> {
        let base = base_url(endpoint.unwrap_or(ANACONDA_API))?;
        let http = Http::new(&base, firebreak_http::Auth::None, cfg).map_err(|e| e.to_string())?;
        Ok(AnacondaTokens {
            http,
            base,
            username: username.to_string(),
            password,
            token,
            org: org.map(str::to_string),
            scopes,
            max_age,
        })
    }

    fn token_header(&self) -> Result<Vec<(firebreak_http::header::HeaderName, HeaderValue)>, String> {
        Ok(vec![(
            AUTHORIZATION,
            sensitive(&format!("token {}", self.token.expose()))?,
        )])
    }

    /// Every token the management token sees, by name (never a value).
    pub async fn list(&self) -> Result<Vec<TokenMeta>, String> {
        let u = join(&self.base, "authentications")?;
        let (s, v) = call_with(
            &self.http,
            Method::GET,
            u,
            self.token_header()?,
            None,
            Replay::Safe,
        )
        .await?;
        if s == 404 {
            return Err("GET /authentications: HTTP 404 (is this an anaconda.org API URL?)".into());
        }
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        let name = t["application"].as_str()?;
                        Some(TokenMeta {
                            id: name.to_string(),
                            label: name.to_string(),
                            active: true,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Creates a token named `name` with the account's password (never resent; the
    /// service refuses a name that exists): (name, token).
    pub async fn create(&self, name: &str) -> Result<(String, SecretString), String> {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.username,
            self.password.expose()
        ));
        let headers = vec![(AUTHORIZATION, sensitive(&format!("Basic {basic}"))?)];
        let body = json!({
            "scopes": self.scopes,
            "note": name,
            "note_url": null,
            "hostname": "firebreak",
            "user": self.org,
            "max-age": self.max_age,
            "strength": "strong",
            "fail-if-exists": true,
        });
        let u = join(&self.base, "authentications")?;
        let (s, mut v) = call_with(&self.http, Method::POST, u, headers, Some(body), Replay::Never).await?;
        if s == 404 {
            return Err("POST /authentications: HTTP 404 (is this an anaconda.org API URL?)".into());
        }
        let token = SecretString::new(v["token"].as_str().unwrap_or("").to_string());
        if let Some(o) = v.as_object_mut() {
            o.remove("token");
        }
        if token.is_empty() {
            return Err("POST /authentications: the reply has no token".into());
        }
        Ok((name.to_string(), token))
    }

    /// Deletes the token named `name` (already gone is success).
    pub async fn delete(&self, name: &str) -> Result<(), String> {
        let path = match &self.org {
            Some(o) => format!("authentications/org/{}/name/{}", enc(o), enc(name)),
            None => format!("authentications/name/{}", enc(name)),
        };
        let u = join(&self.base, &path)?;
        call_with(
            &self.http,
            Method::DELETE,
            u,
            self.token_header()?,
            None,
            Replay::Safe,
        )
        .await
        .map(|_| ())
    }
}

/// A registry whose tokens firebreak issues by name (Docker Hub by label, npm and
/// anaconda.org by name): the same steps for each, listed, created and deleted by id.
#[derive(Debug)]
pub enum Registry {
    /// Docker Hub personal access tokens.
    Docker(DockerHub),
    /// npm access tokens.
    Npm(NpmTokens),
    /// anaconda.org tokens.
    Anaconda(AnacondaTokens),
}

impl Registry {
    /// The tokens that still work (never a value).
    pub async fn list(&self) -> Result<Vec<TokenMeta>, String> {
        match self {
            Registry::Docker(c) => c.list().await,
            // a revoked npm token is listed until npm forgets it: nothing to delete
            Registry::Npm(c) => Ok(c.list().await?.into_iter().filter(|t| t.active).collect()),
            Registry::Anaconda(c) => c.list().await,
        }
    }

    /// Creates a token named `name` (never resent): (id, token).
    pub async fn create(&self, name: &str) -> Result<(String, SecretString), String> {
        match self {
            Registry::Docker(c) => c.create(name).await,
            Registry::Npm(c) => c.create(name).await,
            Registry::Anaconda(c) => c.create(name).await,
        }
    }

    /// Deletes a token by id (already gone is success).
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        match self {
            Registry::Docker(c) => c.delete(id).await,
            Registry::Npm(c) => c.delete(id).await,
            Registry::Anaconda(c) => c.delete(id).await,
        }
    }
}

/// The label firebreak gives a Docker Hub token it issues for `label` (carries the
/// idempotency key, so a lookup after a crash finds it).
pub fn issued_label(label: &str, idem: &str) -> String {
    let l: String = label.chars().take(70).collect();
    format!("{l} (firebreak {})", &idem[..idem.len().min(12)])
}

/// True for a token labelled `label`, or one firebreak issued for it earlier.
pub fn is_ours(label: &str, candidate: &str) -> bool {
    let l: String = label.chars().take(70).collect();
    candidate == label || candidate.starts_with(&format!("{l} (firebreak "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let l = issued_label("circleci acme/app", "0123456789abcdef");
        assert_eq!(l, "circleci acme/app (firebreak 0123456789ab)");
        assert!(l.len() <= 100);
        assert!(is_ours("circleci acme/app", &l));
        assert!(is_ours("circleci acme/app", "circleci acme/app"));
        assert!(!is_ours("circleci acme/app", "github acme/app (firebreak 0123)"));
        let long = "x".repeat(200);
        assert!(issued_label(&long, "k").len() <= 100);
        assert!(is_ours(&long, &issued_label(&long, "k")));
    }
}
