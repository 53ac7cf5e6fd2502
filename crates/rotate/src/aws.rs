//! A minimal AWS IAM client for access-key rotation: the Query API (form-encoded POST,
//! `Version=2010-05-08`) signed with Signature Version 4 (HMAC-SHA256), implemented here.
//!
//! Credentials of the caller come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! optionally `AWS_SESSION_TOKEN`. Secret access keys returned by `CreateAccessKey` are
//! wrapped in [`SecretString`] at once and never logged.

use firebreak_core::SecretString;
use firebreak_http::{Auth, Body, Http, HttpConfig, Replay, Request};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use url::Url;

type HmacSha256 = Hmac<Sha256>;

/// Default IAM endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://iam.amazonaws.com/";

/// Caller credentials.
#[derive(Clone, Debug)]
pub struct AwsCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretString,
    /// Session token (temporary credentials).
    pub session_token: Option<SecretString>,
}

impl AwsCredentials {
    /// From `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Result<Self, AwsError> {
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

/// An IAM client.
#[derive(Clone, Debug)]
pub struct IamClient {
    http: Http,
    endpoint: Url,
    region: String,
    creds: AwsCredentials,
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Signs a request with SigV4; returns the headers to add (`x-amz-date`, optional
/// `x-amz-security-token`, `authorization`). `headers` are the other signed headers
/// (lowercase name, value), `host` is added here.
#[allow(clippy::too_many_arguments)]
pub fn sign_v4(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    service: &str,
    region: &str,
    creds: &AwsCredentials,
    amz_date: &str,
) -> Vec<(String, String)> {
    let date = &amz_date[..8];
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
        None => url.host_str().unwrap_or("").to_string(),
    };
    let mut hs: Vec<(String, String)> = headers.to_vec();
    hs.push(("host".into(), host));
    hs.push(("x-amz-date".into(), amz_date.to_string()));
    if let Some(t) = &creds.session_token {
        hs.push(("x-amz-security-token".into(), t.expose().to_string()));
    }
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let signed: Vec<&str> = hs.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let mut q: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (enc(&k), enc(&v))).collect();
    q.sort();
    let cq: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let path = if url.path().is_empty() { "/" } else { url.path() };
    let canonical = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed}\n{}",
        cq.join("&"),
        hex::encode(Sha256::digest(body))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(
        format!("AWS4{}", creds.secret_access_key.expose()).as_bytes(),
        date.as_bytes(),
    );
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    let k = hmac(&k, b"aws4_request");
    let sig = hex::encode(hmac(&k, sts.as_bytes()));
    let mut out = vec![("x-amz-date".to_string(), amz_date.to_string())];
    if let Some(t) = &creds.session_token {
        out.push(("x-amz-security-token".into(), t.expose().to_string()));
    }
    out.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={sig}",
            creds.access_key_id
        ),
    ));
    out
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let i = xml.find(&open)? + open.len();
    let j = xml[i..].find(&close)? + i;
    Some(&xml[i..j])
}

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
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.append_pair("Version", "2010-05-08");
            form.finish()
        };
        let ct = "application/x-www-form-urlencoded; charset=utf-8";
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let signed = sign_v4(
            "POST",
            &self.endpoint,
            &[("content-type".into(), ct.into())],
            body.as_bytes(),
            "iam",
            &self.region,
            &self.creds,
            &amz_date,
        );
        let mut req = Request::new(firebreak_http::Method::POST, self.endpoint.clone());
        for (k, v) in &signed {
            let (Ok(k), Ok(mut v)) = (
                firebreak_http::header::HeaderName::from_bytes(k.as_bytes()),
                firebreak_http::header::HeaderValue::from_str(v),
            ) else {
                continue;
            };
            v.set_sensitive(k.as_str() == "authorization" || k.as_str() == "x-amz-security-token");
            req.headers.push((k, v));
        }
        req.body = Some(Body::Bytes {
            content_type: ct.into(),
            bytes: body.into_bytes(),
        });
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

    /// The worked example of AWS's SigV4 documentation (IAM ListUsers, 2015-08-30).
    #[test]
    fn sigv4_matches_aws_example() {
        let creds = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretString::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        };
        let url = Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08").unwrap();
        let h = sign_v4(
            "GET",
            &url,
            &[(
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            b"",
            "iam",
            "us-east-1",
            &creds,
            "20150830T123600Z",
        );
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn xml_tags() {
        let x = "<R><member><AccessKeyId>AKIA1</AccessKeyId><Status>Active</Status></member></R>";
        assert_eq!(tag(x, "AccessKeyId"), Some("AKIA1"));
        assert_eq!(tag(x, "Nope"), None);
    }
}
