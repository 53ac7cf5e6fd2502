//! AWS Signature Version 4 for requests sent through the HTTP layer, by the maintained
//! `aws-sigv4` crate (the AWS SDK's own signer).
//!
//! Used by the IAM client of rotation and the AWS validators (`sts:GetCallerIdentity` and
//! the IAM reads of access maps, which also make the incident playbook's blast radii).
//! The secret access key is handed to the signer only; the headers it produces are
//! marked sensitive so that they never appear in a debug dump.

use crate::{Body, HttpError, Request};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use firebreak_core::SecretString;
use reqwest::header::{HeaderName, HeaderValue};
use std::time::SystemTime;

/// Credentials of the caller of an AWS API.
#[derive(Clone, Debug)]
pub struct AwsCredentials {
    /// Access key id (not a secret on its own; shown redacted anyway).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretString,
    /// Session token (temporary credentials).
    pub session_token: Option<SecretString>,
}

/// Signs `req` for `service` in `region` at `time`: adds `x-amz-date`,
/// `x-amz-security-token` (temporary credentials) and `authorization`. Every header
/// already on the request, `host` and the body are signed.
pub fn sign_request(
    req: &mut Request,
    service: &str,
    region: &str,
    creds: &AwsCredentials,
    time: SystemTime,
) -> Result<(), HttpError> {
    let bad = |message: String| HttpError::BadUrl {
        url: req.url.to_string(),
        message,
    };
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose().to_string(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "firebreak",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| bad(format!("cannot sign for AWS: {e}")))?
        .into();
    let (ct, body): (Option<String>, &[u8]) = match &req.body {
        None => (None, b""),
        Some(Body::Bytes { content_type, bytes }) => (Some(content_type.clone()), bytes),
        Some(Body::Json(_)) => {
            return Err(bad(
                "AWS requests are signed over bytes; pass the body as Body::Bytes".into(),
            ))
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(ct) = ct {
        headers.push(("content-type".into(), ct));
    }
    for (k, v) in &req.headers {
        if let Ok(v) = v.to_str() {
            headers.push((k.as_str().to_string(), v.to_string()));
        }
    }
    let host = match req.url.port() {
        Some(p) => format!("{}:{p}", req.url.host_str().unwrap_or("")),
        None => req.url.host_str().unwrap_or("").to_string(),
    };
    headers.push(("host".into(), host));
    let signable = SignableRequest::new(
        req.method.as_str(),
        req.url.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| bad(format!("cannot sign for AWS: {e}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| bad(format!("cannot sign for AWS: {e}")))?
        .into_parts();
    for (k, v) in instructions.headers() {
        let (Ok(k), Ok(mut v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) else {
            return Err(bad("the signer produced an invalid header".into()));
        };
        v.set_sensitive(k == reqwest::header::AUTHORIZATION || k.as_str() == "x-amz-security-token");
        req.headers.push((k, v));
    }
    Ok(())
}

/// A form-encoded AWS Query API request (`Action=…&Version=…` plus `params`), signed.
/// Read-only actions may be replayed; the caller sets [`Request::replay`] for creates.
pub fn query_request(
    endpoint: &url::Url,
    service: &str,
    region: &str,
    version: &str,
    action: &str,
    params: &[(&str, &str)],
    creds: &AwsCredentials,
) -> Result<Request, HttpError> {
    // encoded as the AWS SDKs encode it (every byte but the unreserved ones as %XX, a
    // space as %20): AWS signs the bytes as sent, and a server that re-encodes the
    // parameters before checking the signature (moto) must arrive at the same bytes
    let mut pairs: Vec<(&str, &str)> = vec![("Action", action)];
    pairs.extend_from_slice(params);
    pairs.push(("Version", version));
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut req = Request::new(reqwest::Method::POST, endpoint.clone());
    req.body = Some(Body::Bytes {
        content_type: "application/x-www-form-urlencoded; charset=utf-8".into(),
        bytes: body.into_bytes(),
    });
    sign_request(&mut req, service, region, creds, SystemTime::now())?;
    Ok(req)
}

/// AWS's URI encoding: unreserved characters (`A-Z a-z 0-9 - _ . ~`) as they are,
/// every other byte as `%XX` (upper-case hex).
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of the first `<tag>…</tag>` of an AWS XML reply, trimmed.
pub fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let i = xml.find(&open)? + open.len();
    let j = xml[i..].find(&close)? + i;
    Some(xml[i..j].trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    /// The worked example of AWS's SigV4 documentation (IAM ListUsers, 2015-08-30).
    #[test]
    fn matches_the_aws_documentation_example() {
        let creds = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretString::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        };
        let url = Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08").unwrap();
        let mut req = Request::new(reqwest::Method::GET, url);
        req.headers.push((
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        ));
        let t = chrono::DateTime::parse_from_rfc3339("2015-08-30T12:36:00Z").unwrap();
        sign_request(&mut req, "iam", "us-east-1", &creds, t.into()).unwrap();
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k == reqwest::header::AUTHORIZATION)
            .map(|(_, v)| v.to_str().unwrap().to_string())
            .unwrap();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert!(req
            .headers
            .iter()
            .any(|(k, v)| k == "x-amz-date" && v == "20150830T123600Z"));
        let dbg = format!("{req:?}");
        assert!(
            !dbg.contains("wJalrXUtnFEMI"),
            "the secret key is never in a debug dump"
        );
    }

    #[test]
    fn session_tokens_are_signed_and_sensitive() {
        let creds = AwsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: SecretString::new("secret-key-for-test"),
            session_token: Some(SecretString::new("session-token-for-test")),
        };
        let req = query_request(
            &Url::parse("http://127.0.0.1:5000/").unwrap(),
            "sts",
            "us-east-1",
            "2011-06-15",
            "GetCallerIdentity",
            &[],
            &creds,
        )
        .unwrap();
        let tok = req
            .headers
            .iter()
            .find(|(k, _)| k == "x-amz-security-token")
            .unwrap();
        assert!(tok.1.is_sensitive());
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k == reqwest::header::AUTHORIZATION)
            .unwrap();
        assert!(auth.1.to_str().unwrap().contains("x-amz-security-token"));
    }

    #[test]
    fn form_bodies_are_encoded_as_the_sdks_encode_them() {
        assert_eq!(uri_encode("a b*c+d/é"), "a%20b%2Ac%2Bd%2F%C3%A9");
        assert_eq!(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn xml_tags() {
        assert_eq!(xml_tag("<a><Account> 1 </Account></a>", "Account"), Some("1"));
        assert_eq!(xml_tag("<a/>", "Account"), None);
    }
}
