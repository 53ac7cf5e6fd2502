//! Revocation at the source: the request a validator's `revoke` section documents (an
//! HTTP template, or a built-in such as AWS `UpdateAccessKey`), then a fresh check of the
//! credential to prove it dead.
//!
//! Revocation requests change state at the provider but create nothing: sending one twice
//! revokes nothing more, so a request lost in transit may be sent again. Journaling and
//! resuming (which credential was revoked, when, with what result) belong to the caller
//! (`firebreak revoke` keeps a journal in the store).

use crate::engine::{describe_http_error, matches, Checker, Inputs};
use crate::spec::{Compiled, Revoke};
use firebreak_core::{Validation, ValidationStatus};
use firebreak_http::aws::{query_request, xml_tag, AwsCredentials};
use serde::{Deserialize, Serialize};
use url::Url;

/// The outcome of one revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeStatus {
    /// The provider revoked it, and a check afterwards found it dead.
    Revoked,
    /// The provider accepted the request, but a check afterwards still found it live or
    /// could not tell (asynchronous revocation, or a check that failed): check again.
    Accepted,
    /// It was dead already (the check before, or the provider's reply, said so).
    AlreadyDead,
    /// The request failed or was refused: the credential may still work.
    Failed,
    /// No API revokes this kind of credential: the validator gives steps for a person.
    Manual,
    /// No validator, or no documented way to revoke this kind.
    Unsupported,
}

impl RevokeStatus {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeStatus::Revoked => "revoked",
            RevokeStatus::Accepted => "accepted",
            RevokeStatus::AlreadyDead => "already_dead",
            RevokeStatus::Failed => "failed",
            RevokeStatus::Manual => "manual",
            RevokeStatus::Unsupported => "unsupported",
        }
    }

    /// True when the credential is proven dead.
    pub fn proven_dead(self) -> bool {
        matches!(self, RevokeStatus::Revoked | RevokeStatus::AlreadyDead)
    }
}

impl std::fmt::Display for RevokeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What revoking one credential did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revocation {
    /// The validator.
    pub validator: String,
    /// The outcome.
    pub status: RevokeStatus,
    /// The request sent, named by its template (never the URL sent, which may carry
    /// the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Why, in words (the reply at fault; the manual steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The check made after the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Validation>,
}

/// How a validator's credential would be revoked, in words, without any value: what
/// `--dry-run` prints.
pub fn describe(v: &Compiled, ck: &Checker) -> Option<String> {
    let r = v.spec.revoke.as_ref()?;
    if let Some(h) = &r.http {
        let target = match (&h.path, &h.url) {
            (Some(p), _) => format!(
                "{}{p}",
                ck.base_of(v)
                    .map(|u| u.as_str().trim_end_matches('/').to_string())
                    .unwrap_or_default()
            ),
            (None, Some(u)) => u.clone(),
            _ => String::new(),
        };
        return Some(format!("{} {target}", h.method));
    }
    match r.builtin.as_deref() {
        Some("aws_deactivate_key") => Some(
            "POST iam:UpdateAccessKey Status=Inactive (signed by the key itself; its user from sts:GetCallerIdentity)".into(),
        ),
        Some(other) => Some(other.to_string()),
        None => r.manual.as_ref().map(|m| format!("by hand: {m}")),
    }
}

fn outcome(
    v: &Compiled,
    status: RevokeStatus,
    request: Option<String>,
    reason: Option<String>,
) -> Revocation {
    Revocation {
        validator: v.spec.id.clone(),
        status,
        request,
        reason,
        after: None,
    }
}

impl Checker {
    /// Revokes one credential with validator `id`'s documented revocation, then checks
    /// it again (bypassing this run's cache) to prove it dead. Sends nothing for a
    /// validator without a revocation (`unsupported`) or with manual steps (`manual`).
    pub async fn revoke(&self, id: &str, inputs: &Inputs) -> Revocation {
        let Some(v) = self.catalogue().get(id) else {
            return Revocation {
                validator: id.to_string(),
                status: RevokeStatus::Unsupported,
                request: None,
                reason: Some(format!("no validator named {id}")),
                after: None,
            };
        };
        let Some(r) = v.spec.revoke.clone() else {
            return outcome(
                v,
                RevokeStatus::Unsupported,
                None,
                Some(format!(
                    "{} documents no way to revoke it through an API: revoke it in the provider's console",
                    v.spec.name
                )),
            );
        };
        let mut out = self.send_revoke(v, &r, inputs).await;
        out.reason = out.reason.map(|x| inputs.hide(&x));
        if matches!(
            out.status,
            RevokeStatus::Revoked | RevokeStatus::Accepted | RevokeStatus::AlreadyDead
        ) {
            let after = self.check_fresh(id, inputs).await;
            out.status = match (out.status, after.status) {
                (_, ValidationStatus::Dead) => {
                    if out.status == RevokeStatus::AlreadyDead {
                        RevokeStatus::AlreadyDead
                    } else {
                        RevokeStatus::Revoked
                    }
                }
                (RevokeStatus::AlreadyDead, ValidationStatus::Live) => RevokeStatus::Failed,
                _ => RevokeStatus::Accepted,
            };
            if out.status == RevokeStatus::Accepted {
                let why = match after.status {
                    ValidationStatus::Live if r.asynchronous => {
                        "the provider revokes asynchronously and the credential still works: check again with `firebreak validate` in a few minutes".to_string()
                    }
                    ValidationStatus::Live => "the provider accepted the revocation but the credential still works".to_string(),
                    _ => format!(
                        "the check afterwards could not tell ({}): check again with `firebreak validate`",
                        after.reason.as_deref().unwrap_or(after.status.as_str())
                    ),
                };
                out.reason = Some(why);
            } else if out.status == RevokeStatus::Failed {
                out.reason = Some("the provider said it was revoked already, but it still works".into());
            }
            out.after = Some(after);
        }
        out
    }

    async fn send_revoke(&self, v: &Compiled, r: &Revoke, inputs: &Inputs) -> Revocation {
        if let Some(m) = &r.manual {
            return outcome(v, RevokeStatus::Manual, None, Some(m.clone()));
        }
        if let Some(h) = &r.http {
            let (req, shown) = match self.build_request(v, h, inputs) {
                Ok(x) => x,
                Err(e) => return outcome(v, RevokeStatus::Failed, None, e.reason),
            };
            let resp = match self.send(req).await {
                Ok(r) => r,
                Err(e) => {
                    return outcome(
                        v,
                        RevokeStatus::Failed,
                        Some(shown.clone()),
                        Some(format!("{shown}: {}", describe_http_error(&e))),
                    )
                }
            };
            let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
            let status = if matches(&h.live, &resp, json.as_ref()) {
                RevokeStatus::Revoked
            } else if h.dead.iter().any(|d| matches(d, &resp, json.as_ref())) {
                RevokeStatus::AlreadyDead
            } else {
                RevokeStatus::Failed
            };
            let reason = (status == RevokeStatus::Failed)
                .then(|| format!("{shown}: unexpected reply HTTP {}", resp.status));
            return outcome(v, status, Some(shown), reason);
        }
        match r.builtin.as_deref() {
            Some("aws_deactivate_key") => self.aws_deactivate(v, inputs).await,
            other => outcome(
                v,
                RevokeStatus::Unsupported,
                None,
                Some(format!("unknown built-in revocation {other:?}")),
            ),
        }
    }

    /// AWS: `sts:GetCallerIdentity` names the key's IAM user, then `iam:UpdateAccessKey`
    /// sets the key `Inactive`, both signed by the key itself. Deactivation (not
    /// deletion) is what AWS advises first: it can be undone if something breaks.
    async fn aws_deactivate(&self, v: &Compiled, inputs: &Inputs) -> Revocation {
        let request = "POST iam:UpdateAccessKey".to_string();
        // the check made just before (cached for this run) names the user; no second call
        let before = self.check(&v.spec.id, inputs).await;
        match before.status {
            ValidationStatus::Dead => {
                return outcome(v, RevokeStatus::AlreadyDead, None, before.reason);
            }
            ValidationStatus::Live => {}
            _ => {
                return outcome(
                    v,
                    RevokeStatus::Failed,
                    None,
                    Some(format!(
                        "cannot name the key's user: {}",
                        before.reason.as_deref().unwrap_or("sts:GetCallerIdentity failed")
                    )),
                )
            }
        }
        let arn = before
            .identity
            .get("arn")
            .and_then(|a| a.as_str())
            .unwrap_or_default()
            .to_string();
        // arn:aws:iam::123456789012:user/path/name; a role session cannot be deactivated
        let Some(user) = arn
            .split_once(":user/")
            .map(|(_, p)| p.rsplit('/').next().unwrap_or(p).to_string())
        else {
            return outcome(
                v,
                RevokeStatus::Failed,
                None,
                Some(format!(
                    "the key belongs to {arn}, not an IAM user: temporary credentials cannot be deactivated; revoke the role's sessions (IAM console: Revoke active sessions)"
                )),
            );
        };
        let (Some(key_id), Some(secret)) = (inputs.get("key_id"), inputs.get("secret")) else {
            return outcome(
                v,
                RevokeStatus::Failed,
                None,
                Some("needs the key id and the secret".into()),
            );
        };
        let creds = AwsCredentials {
            access_key_id: key_id.expose().to_string(),
            secret_access_key: secret.clone(),
            session_token: inputs.get("session_token").cloned(),
        };
        let base = self
            .endpoint("aws_iam")
            .or_else(|| self.endpoint("aws"))
            .unwrap_or_else(|| Url::parse("https://iam.amazonaws.com/").expect("URL"));
        let req = match query_request(
            &base,
            "iam",
            "us-east-1",
            "2010-05-08",
            "UpdateAccessKey",
            &[
                ("AccessKeyId", key_id.expose()),
                ("Status", "Inactive"),
                ("UserName", &user),
            ],
            &creds,
        ) {
            Ok(r) => r,
            Err(e) => {
                return outcome(
                    v,
                    RevokeStatus::Failed,
                    Some(request.clone()),
                    Some(format!("{request}: {e}")),
                )
            }
        };
        let resp = match self.send(req).await {
            Ok(r) => r,
            Err(e) => {
                return outcome(
                    v,
                    RevokeStatus::Failed,
                    Some(request.clone()),
                    Some(format!("{request}: {}", describe_http_error(&e))),
                )
            }
        };
        if resp.status == 200 {
            return outcome(v, RevokeStatus::Revoked, Some(request), None);
        }
        let text = String::from_utf8_lossy(&resp.body);
        let code = xml_tag(&text, "Code").unwrap_or("").to_string();
        let hint = if code == "AccessDenied" {
            ": the key may not deactivate itself (no iam:UpdateAccessKey on its own user); deactivate it in the IAM console or with an administrator's credentials"
        } else {
            ""
        };
        outcome(
            v,
            RevokeStatus::Failed,
            Some(request.clone()),
            Some(format!("{request}: HTTP {} {code}{hint}", resp.status)),
        )
    }
}
