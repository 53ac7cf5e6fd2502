//! A minimal AWS IAM client for access-key rotation: the Query API (form-encoded POST,
//! `Version=2010-05-08`), signed with Signature Version 4 by the HTTP layer
//! (`firebreak_http::aws`, the `aws-sigv4` crate).
//!
//! Credentials of the caller come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! optionally `AWS_SESSION_TOKEN`. Secret access keys returned by `CreateAccessKey` are
//! wrapped in [`SecretString`] at once and never logged.

use firebreak_core::SecretString;
use firebreak_http::{Auth, Http, HttpConfig, Replay};
use url::Url;

/// Default IAM endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://iam.amazonaws.com/";

/// Caller credentials (the HTTP layer's type, shared with the validators).
pub use firebreak_http::aws::AwsCredentials;

/// Reads caller credentials from the environment.
pub trait FromEnv: Sized {
    /// From `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    fn from_env() -> Result<Self, AwsError>;
}

impl FromEnv for AwsCredentials {
    fn from_env() -> Result<Self, AwsError> {
        let id = std::env::var("AWS_ACCESS_KEY_ID").ok().filter(|s| !s.is_empty());
        let sk = std::env::var("AWS_SECRET_ACCESS_KEY")
            .ok()
            .filter(|s| !s.is_empty());
        match (id, sk) {
            (Some(id), Some(sk)) => Ok(AwsCredentials {
                access_key_id: id,
                secret_access_key: SecretString::new(sk),
                session_token: std::env::var("AWS_SESSION_TOKEN")
                    .ok()
                    .filter(|s| !s.is_empty())
                    .map(SecretString::new),
            }),
            _ => Err(AwsError::NoCredentials),
        }
    }
}

/// Why an IAM call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AwsError {
    /// No caller credentials.
    #[error("AWS credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NoCredentials,
    /// IAM answered with an error document.
    #[error("IAM {action} at {endpoint}: HTTP {status} {code}: {message}")]
    Api {
        /// Action.
        action: String,
        /// Endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// AWS error code, e.g. `NoSuchEntity`, `LimitExceeded`.
        code: String,
        /// AWS message.
        message: String,
    },
    /// No response.
    #[error("IAM {action} at {endpoint}: {message}")]
    Transport {
        /// Action.
        action: String,
        /// Endpoint.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
}

impl AwsError {
    /// The AWS error code, when IAM answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One access key's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyMeta {
    /// Access key id.
    pub id: String,
    /// `Active` or `Inactive`.
    pub status: String,
}

/// What `GetAccessKeyLastUsed` says of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyLastUsed {
    /// The IAM user that owns the key.
    pub user: String,
    /// Last use (`None`: never used, or before IAM tracked it in April 2015).
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The service it was last used with (`s3`, `iam`, ...).
    pub service: Option<String>,
    /// The region it was last used in.
    pub region: Option<String>,
}

/// An IAM client.
#[derive(Clone, Debug)]
pub struct IamClient {
    http: Http,
    endpoint: Url,
    region: String,
    creds: AwsCredentials,
}

use firebreak_http::aws::xml_tag as tag;

impl IamClient {
    /// A client for `endpoint` (default `https://iam.amazonaws.com/`) signing for `region`.
    pub fn new(endpoint: Option<&str>, region: &str, creds: AwsCredentials) -> Result<Self, AwsError> {
        let ep = endpoint.unwrap_or(DEFAULT_ENDPOINT);
        let endpoint = Url::parse(ep).map_err(|e| AwsError::Transport {
            action: "-".into(),
            endpoint: ep.to_string(),
            message: format!("bad endpoint URL: {e}"),
        })?;
        let http =
            Http::new(&endpoint, Auth::None, HttpConfig::default()).map_err(|e| AwsError::Transport {
                action: "-".into(),
                endpoint: ep.to_string(),
                message: e.to_string(),
            })?;
        Ok(IamClient {
            http,
            endpoint,
            region: region.to_string(),
            creds,
        })
    }

    async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
        let mut req = firebreak_http::aws::query_request(
            &self.endpoint,
            "iam",
            &self.region,
            "2010-05-08",
            action,
            params,
            &self.creds,
        )
        .map_err(|e| AwsError::Transport {
            action: action.into(),
            endpoint: self.endpoint.to_string(),
            message: e.to_string(),
        })?;
        // an action that creates (an access key, a user) is never sent twice by the HTTP
        // layer: after a 5xx or a timeout the caller looks up what exists instead
        req.replay = if action.starts_with("Create") {
            Replay::Never
        } else {
            Replay::Safe
        };
        req.any_status = true;
        req.throttled = Some(|r| String::from_utf8_lossy(&r.body).contains("<Code>Throttling</Code>"));
        let r = self.http.execute(req).await.map_err(|e| AwsError::Transport {
            action: action.into(),
            endpoint: self.endpoint.to_string(),
            message: e.to_string(),
        })?;
        let text = String::from_utf8_lossy(&r.body).into_owned();
        if r.status < 300 {
            return Ok(text);
        }
        Err(AwsError::Api {
            action: action.into(),
            endpoint: self.endpoint.to_string(),
            status: r.status,
            code: tag(&text, "Code").unwrap_or("").to_string(),
            message: firebreak_core::scrub::scrub(tag(&text, "Message").unwrap_or(""))
                .chars()
                .take(200)
                .collect(),
        })
    }

    /// `ListAccessKeys` for `user`.
    pub async fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKeyMeta>, AwsError> {
        let xml = self.call("ListAccessKeys", &[("UserName", user)]).await?;
        let mut out = Vec::new();
        let mut rest = xml.as_str();
        while let Some(i) = rest.find("<member>") {
            let after = &rest[i + 8..];
            let end = after.find("</member>").unwrap_or(after.len());
            let m = &after[..end];
            if let Some(id) = tag(m, "AccessKeyId") {
                out.push(AccessKeyMeta {
                    id: id.to_string(),
                    status: tag(m, "Status").unwrap_or("").to_string(),
                });
            }
            rest = &after[end..];
        }
        Ok(out)
    }

    /// `CreateAccessKey`: returns (access key id, secret access key).
    pub async fn create_access_key(&self, user: &str) -> Result<(String, SecretString), AwsError> {
        let xml = self.call("CreateAccessKey", &[("UserName", user)]).await?;
        let id = tag(&xml, "AccessKeyId").unwrap_or("").to_string();
        let sk = SecretString::new(tag(&xml, "SecretAccessKey").unwrap_or("").to_string());
        drop(xml);
        if id.is_empty() || sk.is_empty() {
            return Err(AwsError::Api {
                action: "CreateAccessKey".into(),
                endpoint: self.endpoint.to_string(),
                status: 200,
                code: "MalformedResponse".into(),
                message: "no AccessKeyId / SecretAccessKey in the reply".into(),
            });
        }
        Ok((id, sk))
    }

    /// `UpdateAccessKey` to `Active` / `Inactive`.
    pub async fn update_access_key(&self, user: &str, id: &str, status: &str) -> Result<(), AwsError> {
        self.call(
            "UpdateAccessKey",
            &[("UserName", user), ("AccessKeyId", id), ("Status", status)],
        )
        .await
        .map(|_| ())
    }

    /// `DeleteAccessKey`.
    pub async fn delete_access_key(&self, user: &str, id: &str) -> Result<(), AwsError> {
        self.call("DeleteAccessKey", &[("UserName", user), ("AccessKeyId", id)])
            .await
            .map(|_| ())
    }

    /// `GetAccessKeyLastUsed`: the IAM user that owns the key `id` (in the caller's
    /// account) and when, where and with which service it was last used.
    pub async fn access_key_last_used(&self, id: &str) -> Result<AccessKeyLastUsed, AwsError> {
        let xml = self.call("GetAccessKeyLastUsed", &[("AccessKeyId", id)]).await?;
        let known = |t: &str| {
            tag(&xml, t)
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != "N/A")
                .map(str::to_string)
        };
        let user = known("UserName").ok_or_else(|| AwsError::Api {
            action: "GetAccessKeyLastUsed".into(),
            endpoint: self.endpoint.to_string(),
            status: 200,
            code: "MalformedResponse".into(),
            message: "no UserName in the reply".into(),
        })?;
        Ok(AccessKeyLastUsed {
            user,
            last_used_at: known("LastUsedDate").and_then(|d| {
                chrono::DateTime::parse_from_rfc3339(&d)
                    .ok()
                    .map(|t| t.with_timezone(&chrono::Utc))
            }),
            service: known("ServiceName"),
            region: known("Region"),
        })
    }

    /// `CreateUser` (tests and drills).
    pub async fn create_user(&self, user: &str) -> Result<(), AwsError> {
        self.call("CreateUser", &[("UserName", user)]).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `CreateAccessKey` goes out once after a 5xx (a second key would be a second live
    /// credential); read calls are retried.
    #[tokio::test]
    async fn create_access_key_is_never_sent_twice() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let s2 = seen.clone();
        let app = axum::Router::new().fallback(move |body: String| {
            let s2 = s2.clone();
            async move {
                s2.lock().unwrap().push(body);
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "<Error><Code>InternalFailure</Code></Error>",
                )
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        let creds = AwsCredentials {
            access_key_id: "AKIAFIREBREAKTEST000".into(),
            secret_access_key: SecretString::new("not-a-real-secret-000000000000000000000"),
            session_token: None,
        };
        let mut c = IamClient::new(Some(&format!("http://{addr}/")), "us-east-1", creds).unwrap();
        c.http = Http::new(
            &c.endpoint,
            Auth::None,
            HttpConfig {
                backoff_base: std::time::Duration::from_millis(1),
                backoff_max: std::time::Duration::from_millis(2),
                max_retries: 2,
                ..HttpConfig::default()
            },
        )
        .unwrap();
        let e = c.create_access_key("deployer").await.unwrap_err();
        assert_eq!(e.code(), Some("InternalFailure"), "{e}");
        let creates = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.contains("Action=CreateAccessKey"))
            .count();
        assert_eq!(creates, 1);
        assert!(c.list_access_keys("deployer").await.is_err());
        let lists = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.contains("Action=ListAccessKeys"))
            .count();
        assert_eq!(lists, 3, "read calls are retried");
    }

    #[test]
    fn xml_tags() {
        let x = "<R><member><AccessKeyId>AKIA1</AccessKeyId><Status>Active</Status></member></R>";
        assert_eq!(tag(x, "AccessKeyId"), Some("AKIA1"));
        assert_eq!(tag(x, "Nope"), None);
    }
}
