//! Findings: what a capability reports. Every finding has a stable id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How sure a rule is that a match is a real secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Generic patterns, gated by entropy.
    Low,
    /// Context-dependent patterns.
    #[default]
    Medium,
    /// Vendor formats with fixed prefixes or checksums.
    High,
}

impl Confidence {
    /// One level lower (`low` stays `low`).
    pub fn lower(self) -> Confidence {
        match self {
            Confidence::High => Confidence::Medium,
            _ => Confidence::Low,
        }
    }
}

/// Severity of a finding (Sigma's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Informational.
    Informational,
    /// Low.
    Low,
    /// Medium.
    #[default]
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// A stable id: SHA-256 over the parts, separated by NUL, first 16 hex chars.
pub fn stable_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..8])
}

/// A secret found in plain text by the scanner (and reused by census and report).
///
/// It never holds the secret itself: only its redacted form and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretFinding {
    /// Stable id: hash of rule, fingerprint, path, line.
    pub id: String,
    /// Rule id, e.g. `aws.access_key_id`.
    pub rule_id: String,
    /// Human rule name.
    pub rule_name: String,
    /// Where: a file path, `-` for stdin, `outer.tar.gz!inner/file` inside archives.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column (in bytes).
    pub column: u64,
    /// 1-based line of the secret's last byte (a private key spans lines); 0 in outputs
    /// written before it existed.
    #[serde(default)]
    pub end_line: u64,
    /// 1-based column just past the secret's last byte on `end_line` (SARIF's exclusive
    /// `endColumn`).
    #[serde(default)]
    pub end_column: u64,
    /// A few leading characters, then `…`.
    pub redacted: String,
    /// SHA-256 hex of the secret.
    pub fingerprint: String,
    /// Git commit that first introduced the secret, for `--git` scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The rule's confidence.
    pub confidence: Confidence,
    /// Whether the secret works at its provider (`scan --validate` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
}

/// What a live check said about a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationStatus {
    /// The provider accepted it: it works now. The most urgent state.
    Live,
    /// The provider refused it as unknown, revoked or expired.
    Dead,
    /// No answer that proves either (timeout, 5xx, rate limit, an unexpected reply, or
    /// no way to check). Never to be read as dead.
    Unknown,
    /// The check could not be made or its reply could not be read.
    Error,
}

impl ValidationStatus {
    /// `live`, `dead`, `unknown` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Live => "live",
            ValidationStatus::Dead => "dead",
            ValidationStatus::Unknown => "unknown",
            ValidationStatus::Error => "error",
        }
    }
}

impl std::fmt::Display for ValidationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of validating one credential at its provider. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// The validator used, e.g. `github.token`.
    pub validator: String,
    /// The verdict.
    pub status: ValidationStatus,
    /// What the provider said about the credential's owner (account, principal, login,
    /// scopes, expiry, organisation...), when live.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub identity: std::collections::BTreeMap<String, serde_json::Value>,
    /// Why, in words (the request and status at fault for `unknown` and `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the check was made.
    pub checked_at: chrono::DateTime<chrono::Utc>,
    /// What a live credential can reach (`--map`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessMap>,
}

/// What a live credential can reach: its principal, scopes, organisations, and resources
/// with the permission it holds on each, and how it holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessMap {
    /// The identity acting (an IAM ARN, a login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Token scopes, where the provider has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Organisations / groups it belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organisations: Vec<String>,
    /// Resources and permissions.
    #[serde(default)]
    pub resources: Vec<Access>,
    /// True when a listing was cut short (more than the map reads).
    #[serde(default)]
    pub truncated: bool,
    /// What could not be read (e.g. `iam:ListAttachedUserPolicies: AccessDenied`): the map
    /// is incomplete there, not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// One permission on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The resource: a repository, a project, an ARN pattern (`*` for all).
    pub resource: String,
    /// The permission: `admin`, `push`, `Allow s3:GetObject, s3:PutObject`...
    pub permission: String,
    /// How it is held: `policy ci-deploy (attached)`, `group ops: policy X`, `token scopes`.
    pub via: String,
}

impl SecretFinding {
    /// Computes the stable id from the identifying fields.
    pub fn compute_id(rule_id: &str, fingerprint: &str, path: &str, line: u64) -> String {
        stable_id(&[rule_id, fingerprint, path, &line.to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_id_is_stable_and_separates_parts() {
        assert_eq!(stable_id(&["a", "b"]), stable_id(&["a", "b"]));
        assert_ne!(stable_id(&["ab", ""]), stable_id(&["a", "b"]));
        assert_eq!(stable_id(&["x"]).len(), 16);
    }
}
