//! HTTP client for the service's API (used by `firebreak token` and by tests and drills).

use crate::server::{IssueResponse, TokenInfo};
use firebreak_core::SecretString;
use serde_json::{json, Value};

/// Talks to a running `firebreak serve`.
#[derive(Clone)]
pub struct Client {
    base: String,
    admin: Option<SecretString>,
    http: reqwest::Client,
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
    /// Transport failure.
    #[error("{method} {path}: {source}")]
    Http {
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// Cause.
        source: reqwest::Error,
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
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    async fn call(
        &self,
        method: &'static str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{}", self.base, path);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(m, &url);
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let http_err = |source| ClientError::Http {
            method,
            path: path.to_string(),
            source,
        };
        let resp = rb.send().await.map_err(http_err)?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v)
        } else {
            Err(ClientError::Api {
                method,
                path: path.to_string(),
                status: status.as_u16(),
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
            .call("POST", "/v1/admin/tokens", self.admin(), Some(b))
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
        let v = self.call("GET", &path, self.admin(), None).await?;
        Ok(serde_json::from_value(v["tokens"].clone()).expect("token list"))
    }

    /// Revokes one token by id.
    pub async fn revoke_id(&self, token_id: &str) -> Result<Value, ClientError> {
        self.call(
            "DELETE",
            &format!("/v1/admin/tokens/{}", enc(token_id)),
            self.admin(),
            None,
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
        self.call("POST", "/v1/admin/revoke", self.admin(), Some(b)).await
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
        )
        .await
    }

    /// Validates a token.
    pub async fn verify(&self, token: &str) -> Result<Value, ClientError> {
        self.call("POST", "/v1/tokens/verify", Some(token), None).await
    }

    /// Exchanges an OIDC ID token for a short-lived upload token.
    pub async fn exchange(&self, jwt: &str, project: &str) -> Result<IssueResponse, ClientError> {
        let v = self
            .call(
                "POST",
                "/v1/oidc/exchange",
                None,
                Some(json!({ "token": jwt, "project": project })),
            )
            .await?;
        Ok(serde_json::from_value(v).expect("exchange response"))
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
