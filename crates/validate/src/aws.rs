//! AWS access keys: `sts:GetCallerIdentity`, signed with SigV4. It needs no permission,
//! so any working key answers; a deleted or deactivated key gets `InvalidClientTokenId`.

use crate::engine::{verdict, Checker, Inputs};
use firebreak_core::{Validation, ValidationStatus};
use firebreak_http::aws::{query_request, xml_tag, AwsCredentials};
use url::Url;

pub(crate) async fn check(ck: &Checker, id: &str, base: &Url, inputs: &Inputs) -> Validation {
    let (Some(key_id), Some(secret)) = (inputs.get("key_id"), inputs.get("secret")) else {
        return verdict(
            id,
            ValidationStatus::Unknown,
            Some("needs both the key id and the secret".into()),
        );
    };
    let creds = AwsCredentials {
        access_key_id: key_id.expose().to_string(),
        secret_access_key: secret.clone(),
        session_token: inputs.get("session_token").cloned(),
    };
    let shown = format!("POST {base} sts:GetCallerIdentity");
    let req = match query_request(
        base,
        "sts",
        "us-east-1",
        "2011-06-15",
        "GetCallerIdentity",
        &[],
        &creds,
    ) {
        Ok(r) => r,
        Err(e) => return verdict(id, ValidationStatus::Error, Some(format!("{shown}: {e}"))),
    };
    let resp = match ck.send_checked(req, id, &shown).await {
        Ok(r) => r,
        Err(v) => return v,
    };
    let text = String::from_utf8_lossy(&resp.body);
    if resp.status == 200 {
        let mut v = verdict(id, ValidationStatus::Live, None);
        for (k, tag) in [("account", "Account"), ("arn", "Arn"), ("user_id", "UserId")] {
            if let Some(x) = xml_tag(&text, tag) {
                v.identity
                    .insert(k.into(), serde_json::Value::String(x.to_string()));
            }
        }
        if v.identity.is_empty() {
            return verdict(
                id,
                ValidationStatus::Error,
                Some(format!(
                    "{shown}: HTTP 200 without the documented GetCallerIdentityResult"
                )),
            );
        }
        return v;
    }
    let code = xml_tag(&text, "Code").unwrap_or("").to_string();
    match code.as_str() {
        // the key id does not exist (deleted) or is inactive; a session token expired
        "InvalidClientTokenId" | "ExpiredToken" if resp.status == 403 => {
            verdict(id, ValidationStatus::Dead, Some(format!("{shown}: HTTP 403 {code}")))
        }
        "SignatureDoesNotMatch" => verdict(
            id,
            ValidationStatus::Unknown,
            Some(format!(
                "{shown}: HTTP {} SignatureDoesNotMatch: the key id exists but this secret is not its secret (wrong pairing, or a clock far off)",
                resp.status
            )),
        ),
        _ => verdict(
            id,
            ValidationStatus::Unknown,
            Some(format!("{shown}: unexpected reply HTTP {} {code}", resp.status)),
        ),
    }
}
