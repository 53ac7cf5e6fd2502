//! HTTP client for the service's API (used by `firebreak token` and by tests and drills).

use crate::server::{IssueResponse, TokenInfo};
use firebreak_core::SecretString;
use firebreak_http::header::{HeaderValue, AUTHORIZATION};
use firebreak_http::{Body, Http, HttpConfig, HttpError, Method, Replay, Request};
use serde_json::{json, Value};

/// Talks to a running `firebreak serve`, through the shared HTTP layer: timeouts, retries
/// of requests that are safe to replay, waiting on the service's `429` + `Retry-After`.
/// A request that creates something (a token, a publisher, a publication) is never sent
/// again after an ambiguous failure.
#[derive(Clone)]
pub struct Client {
    base: String,
    admin: Option<SecretString>,
    http: Http,
}

/// An error response from the service, or a transport error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error status.
    #[error("{method} {path}: HTTP {status}: {code}: {message}")]
    Api {
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// Status code.
        status: u16,
        /// Stable error code.
        code: String,
        /// Message.
        message: String,
    },
    /// Transport failure (after the HTTP layer's retries), or an unusable URL.
    #[error("{source}")]
    Http {
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// Cause (names the request; never a credential).
        source: HttpError,
    },
}

impl ClientError {
    /// HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8420`), with an optional admin credential.
    pub fn new(base: &str, admin: Option<SecretString>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            admin,
            http: Http::anonymous(HttpConfig::default()).expect("http client"),
        }
    }

    async fn call(
        &self,
        method: &'static str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        replay: Replay,
    ) -> Result<Value, ClientError> {
        let http_err = |source| ClientError::Http {
            method,
            path: path.to_string(),
            source,
        };
        let url = format!("{}{}", self.base, path);
        let url = url::Url::parse(&url).map_err(|e| {
            http_err(HttpError::BadUrl {
                url: url.clone(),
                message: e.to_string(),
            })
        })?;
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = Request::new(m, url);
        req.replay = replay;
        // Error statuses are the service's answer: read its error code below.
        req.any_status = true;
        if let Some(b) = bearer {
            let mut v = HeaderValue::from_str(&format!("Bearer {b}")).map_err(|_| {
                http_err(HttpError::BadUrl {
                    url: req.url.to_string(),
                    message: "credential is not a valid header value".into(),
                })
            })?;
            v.set_sensitive(true);
            req.headers.push((AUTHORIZATION, v));
        }
        req.body = body.map(Body::Json);
        let resp = self.http.execute(req).await.map_err(http_err)?;
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        if (200..300).contains(&resp.status) {
            Ok(v)
        } else {
            Err(ClientError::Api {
                method,
                path: path.to_string(),
                status: resp.status,
                code: v
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                message: v.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            })
        }
    }

    fn admin(&self) -> Option<&str> {
        self.admin.as_ref().map(|s| s.expose())
    }

    /// Creates a project (idempotent).
    pub async fn create_project(&self, name: &str) -> Result<Value, ClientError> {
        self.call(
            "POST",
            "/v1/admin/projects",
            self.admin(),
            Some(json!({ "name": name })),
            // an existing project is left as it is: sending it twice is sending it once
            Replay::Safe,
        )
        .await
    }

    /// Adds a trusted publisher (JSON as in the API: `{"provider": "github", ...}`).
    pub async fn add_publisher(&self, project: &str, publisher: Value) -> Result<Value, ClientError> {
        self.call(
            "POST",
            &format!("/v1/admin/projects/{project}/publishers"),
            self.admin(),
            Some(publisher),
            // the same publisher is stored once
            Replay::Safe,
        )
        .await
    }

    /// Issues a token; the response holds the token (shown once).
    pub async fn issue(
        &self,
        project: &str,
        provider: &str,
        ttl_secs: Option<u64>,
    ) -> Result<IssueResponse, ClientError> {
        let mut b = json!({ "project": project, "provider": provider });
        if let Some(t) = ttl_secs {
            b["ttl_secs"] = json!(t);
        }
        let v = self
            // creates a token: never sent twice
            .call("POST", "/v1/admin/tokens", self.admin(), Some(b), Replay::Never)
            .await?;
        Ok(serde_json::from_value(v).expect("issue response"))
    }

    /// Lists token metadata.
    pub async fn list(
        &self,
        project: Option<&str>,
        provider: Option<&str>,
    ) -> Result<Vec<TokenInfo>, ClientError> {
        let mut q = Vec::new();
        if let Some(p) = project {
            q.push(format!("project={}", enc(p)));
        }
        if let Some(p) = provider {
            q.push(format!("provider={}", enc(p)));
        }
        let path = if q.is_empty() {
            "/v1/admin/tokens".to_string()
        } else {
            format!("/v1/admin/tokens?{}", q.join("&"))
        };
        let v = self.call("GET", &path, self.admin(), None, Replay::Safe).await?;
        Ok(serde_json::from_value(v["tokens"].clone()).expect("token list"))
    }

    /// Revokes one token by id.
    pub async fn revoke_id(&self, token_id: &str) -> Result<Value, ClientError> {
        self.call(
            "DELETE",
            &format!("/v1/admin/tokens/{}", enc(token_id)),
            self.admin(),
            None,
            Replay::Safe,
        )
        .await
    }

    /// Bulk revocation: `{project, provider}`, `{project}` or `{provider, all_projects: true}`.
    pub async fn revoke(
        &self,
        project: Option<&str>,
        provider: Option<&str>,
        all_projects: bool,
    ) -> Result<Value, ClientError> {
        let b = json!({ "project": project, "provider": provider, "all_projects": all_projects });
        // Its answer lists the tokens this call revoked: a resent request would answer
        // with none, so it is not resent after an ambiguous failure (run it again instead).
        self.call("POST", "/v1/admin/revoke", self.admin(), Some(b), Replay::Never)
            .await
    }

    /// Publishes a staged artifact with an upload token.
    pub async fn publish(
        &self,
        token: &str,
        project: &str,
        artifact: &str,
        sha256: &str,
        provider: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut b = json!({ "artifact": artifact, "sha256": sha256 });
        if let Some(p) = provider {
            b["provider"] = json!(p);
        }
        self.call(
            "POST",
            &format!("/v1/projects/{project}/publish"),
            Some(token),
            Some(b),
            Replay::Never,
        )
        .await
    }

    /// Validates a token.
    pub async fn verify(&self, token: &str) -> Result<Value, ClientError> {
        // reads only (and records the use)
        self.call("POST", "/v1/tokens/verify", Some(token), None, Replay::Safe)
            .await
    }

    /// Exchanges an OIDC ID token for a short-lived upload token.
    pub async fn exchange(&self, jwt: &str, project: &str) -> Result<IssueResponse, ClientError> {
        let v = self
            .call(
                "POST",
                "/v1/oidc/exchange",
                None,
                Some(json!({ "token": jwt, "project": project })),
                // creates a token: never sent twice
                Replay::Never,
            )
            .await?;
        Ok(serde_json::from_value(v).expect("exchange response"))
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
