//! The shared model of what is stored in CI providers: providers, kinds of secret,
//! inventory items (secret *metadata*, never values) and per-item errors. Every
//! capability speaks these types; the provider clients (`firebreak-providers`) produce them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A CI provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// CircleCI (cloud or server).
    Circleci,
    /// GitHub (github.com or Enterprise Server).
    Github,
    /// GitLab (gitlab.com or self-managed).
    Gitlab,
}

impl Provider {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Circleci => "circleci",
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
        }
    }
    /// All providers.
    pub const ALL: [Provider; 3] = [Provider::Circleci, Provider::Github, Provider::Gitlab];
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "circleci" => Ok(Provider::Circleci),
            "github" => Ok(Provider::Github),
            "gitlab" => Ok(Provider::Gitlab),
            _ => Err(format!(
                "unknown provider {} (circleci, github, gitlab)",
                crate::secret::quote_untrusted(s)
            )),
        }
    }
}

/// What kind of stored secret an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// CircleCI project environment variable.
    EnvVar,
    /// CircleCI context environment variable.
    ContextVar,
    /// CircleCI checkout key (deploy key or user key).
    CheckoutKey,
    /// CircleCI additional SSH key (v1.1 project settings).
    SshKey,
    /// GitHub Actions repository secret.
    ActionsSecret,
    /// GitHub Actions organisation secret.
    OrgSecret,
    /// GitHub Actions environment secret.
    EnvironmentSecret,
    /// GitHub Dependabot secret (repository or organisation).
    DependabotSecret,
    /// GitHub deploy key.
    DeployKey,
    /// GitLab project CI/CD variable.
    ProjectVariable,
    /// GitLab group CI/CD variable.
    GroupVariable,
    /// GitLab instance CI/CD variable.
    InstanceVariable,
    /// GitHub Actions repository variable (plain text: listed, and its value scanned).
    ActionsVariable,
    /// GitHub Actions organisation variable.
    OrgVariable,
    /// GitHub Actions environment variable.
    EnvironmentVariable,
    /// GitHub Codespaces secret (repository or organisation).
    CodespacesSecret,
    /// GitLab project deploy key.
    ProjectDeployKey,
    /// GitLab deploy token (project or group).
    DeployToken,
    /// GitLab project access token.
    ProjectAccessToken,
    /// GitLab group access token.
    GroupAccessToken,
    /// GitLab pipeline trigger token.
    TriggerToken,
    /// GitLab runner (project or group): its authentication token.
    Runner,
    /// An AWS IAM access key named by AWS's notice of exposed keys (`incident init
    /// --aws-key-ids`): scope `aws:ACCOUNT`, name the key id (an identifier, not a secret).
    AwsAccessKey,
    /// CircleCI project API token (v1.1 `project/:vcs/:org/:repo/token`: label, scope, time).
    ProjectApiToken,
    /// CircleCI self-hosted runner resource-class token (runner API `runner/token`).
    RunnerToken,
    /// CircleCI legacy AWS key pair in project settings (v1.1 `settings` → `aws.keypair`).
    AwsKeypair,
    /// CircleCI OAuth authorisation with the VCS (GitHub, Bitbucket, GitLab): no API lists
    /// it; a playbook task per organisation, never inventoried.
    OauthAuthorization,
    /// CircleCI personal API tokens of the organisation's users: no API lists them; a
    /// playbook task per organisation, never inventoried.
    PersonalApiToken,
}

impl Kind {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EnvVar => "env_var",
            Kind::ContextVar => "context_var",
            Kind::CheckoutKey => "checkout_key",
            Kind::SshKey => "ssh_key",
            Kind::ActionsSecret => "actions_secret",
            Kind::OrgSecret => "org_secret",
            Kind::EnvironmentSecret => "environment_secret",
            Kind::DependabotSecret => "dependabot_secret",
            Kind::DeployKey => "deploy_key",
            Kind::ProjectVariable => "project_variable",
            Kind::GroupVariable => "group_variable",
            Kind::InstanceVariable => "instance_variable",
            Kind::ActionsVariable => "actions_variable",
            Kind::OrgVariable => "org_variable",
            Kind::EnvironmentVariable => "environment_variable",
            Kind::CodespacesSecret => "codespaces_secret",
            Kind::ProjectDeployKey => "project_deploy_key",
            Kind::DeployToken => "deploy_token",
            Kind::ProjectAccessToken => "project_access_token",
            Kind::GroupAccessToken => "group_access_token",
            Kind::TriggerToken => "trigger_token",
            Kind::Runner => "runner",
            Kind::AwsAccessKey => "aws_access_key",
            Kind::ProjectApiToken => "project_api_token",
            Kind::RunnerToken => "runner_token",
            Kind::AwsKeypair => "aws_keypair",
            Kind::OauthAuthorization => "oauth_authorization",
            Kind::PersonalApiToken => "personal_api_token",
        }
    }

    /// Every kind.
    pub const ALL: [Kind; 28] = [
        Kind::EnvVar,
        Kind::ContextVar,
        Kind::CheckoutKey,
        Kind::SshKey,
        Kind::ActionsSecret,
        Kind::OrgSecret,
        Kind::EnvironmentSecret,
        Kind::DependabotSecret,
        Kind::DeployKey,
        Kind::ProjectVariable,
        Kind::GroupVariable,
        Kind::InstanceVariable,
        Kind::ActionsVariable,
        Kind::OrgVariable,
        Kind::EnvironmentVariable,
        Kind::CodespacesSecret,
        Kind::ProjectDeployKey,
        Kind::DeployToken,
        Kind::ProjectAccessToken,
        Kind::GroupAccessToken,
        Kind::TriggerToken,
        Kind::Runner,
        Kind::AwsAccessKey,
        Kind::ProjectApiToken,
        Kind::RunnerToken,
        Kind::AwsKeypair,
        Kind::OauthAuthorization,
        Kind::PersonalApiToken,
    ];

    /// True for the kinds no provider API lists (CircleCI OAuth authorisations and
    /// personal API tokens): they exist only as playbook tasks, which `incident status`
    /// and the report count as not checked until a person confirms them.
    pub fn is_unlisted(self) -> bool {
        matches!(self, Kind::OauthAuthorization | Kind::PersonalApiToken)
    }

    /// True for the plain-text variable kinds (GitHub Actions variables), whose values
    /// the provider returns and firebreak scans for secrets.
    pub fn is_plain_variable(self) -> bool {
        matches!(
            self,
            Kind::ActionsVariable | Kind::OrgVariable | Kind::EnvironmentVariable
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown kind {}", crate::secret::quote_untrusted(s)))
    }
}

/// Scope flags some providers attach to a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    /// GitHub organisation secret visibility (`all`, `private`, `selected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// GitLab: only exposed to protected branches and tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
    /// GitLab: masked in job logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<bool>,
    /// GitLab: environment scope (`*` = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_scope: Option<String>,
    /// Keys: read-only / deploy-key type, fingerprint, host... (free-form detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The last characters of the value as the provider shows them (CircleCI's API
    /// returns `xxxxABCD`). Held in memory between the provider and the store only:
    /// never serialised; the store keeps [`Flags::tail_fingerprint`] instead.
    #[serde(skip)]
    pub masked_tail: Option<crate::SecretString>,
    /// When the provider says the credential was last used (GitLab access tokens,
    /// trigger tokens). Not compared by `inventory diff`: use is not a write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the credential expires, as the provider says (GitLab deploy keys, deploy,
    /// access and trigger tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// OpenSSH SHA-256 fingerprint (`SHA256:` + unpadded base64) of a key's public half
    /// (CircleCI checkout keys with `?digest=sha256`, GitHub and GitLab deploy keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_sha256: Option<String>,
    /// The identity (`provider/kind/scope/name`) of the same key seen at the other end:
    /// a CircleCI checkout key and the GitHub / GitLab deploy key with the same public
    /// key. One playbook task covers both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_key_as: Option<String>,
    /// Keyed fingerprint (HMAC under the store's key) of [`Flags::masked_tail`], set by
    /// the store: a value stored again with the same tail as a leaked one is caught.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_fingerprint: Option<String>,
    /// The whole value, where the provider returns it (GitLab CI/CD variables). Held in
    /// memory between the provider and the store only: never serialised; the store keeps
    /// [`Flags::value_fingerprint`] instead.
    #[serde(skip)]
    pub value: Option<crate::SecretString>,
    /// Keyed fingerprint (HMAC under the store's key) of [`Flags::value`], set by the
    /// store: it proves a value without a timestamp changed (or that a leaked value is
    /// still stored) without keeping the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_fingerprint: Option<String>,
}

/// One stored secret (metadata only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Provider.
    pub provider: Provider,
    /// Kind.
    pub kind: Kind,
    /// Where it lives: project slug (`gh/org/repo`), `owner/repo`, `owner/repo:env`, context
    /// name, group path, `instance`, or the organisation.
    pub scope: String,
    /// Name (variable name, key title or fingerprint).
    pub name: String,
    /// When the provider says it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the provider says it was last updated.
    pub updated_at: Option<DateTime<Utc>>,
    /// Scope flags.
    #[serde(default)]
    pub flags: Flags,
}

impl Item {
    /// A stable identity: `provider/kind/scope/name`.
    pub fn identity(&self) -> String {
        identity(self.provider, self.kind, &self.scope, &self.name)
    }

    /// The last time the provider says the value was written: `updated_at`, else
    /// `created_at` (CircleCI env vars and keys are replaced, not updated, so their
    /// creation time is their last write).
    pub fn last_written(&self) -> Option<DateTime<Utc>> {
        match (self.updated_at, self.created_at) {
            (Some(u), Some(c)) => Some(u.max(c)),
            (u, c) => u.or(c),
        }
    }
}

/// `provider/kind/scope/name`, the identity used by snapshots, diffs, rotation records.
pub fn identity(provider: Provider, kind: Kind, scope: &str, name: &str) -> String {
    format!("{}/{}/{}/{}", provider, kind, scope, name)
}

/// A request that failed while inventorying one scope; the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    /// Provider.
    pub provider: Provider,
    /// The scope being listed (project, repo, context, group...).
    pub scope: String,
    /// `METHOD URL` of the failing request.
    pub request: String,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// What went wrong.
    pub message: String,
}

/// The OpenSSH SHA-256 fingerprint of a public key line (`ssh-ed25519 AAAA… comment`),
/// as `ssh-keygen -lf`, GitHub, GitLab and CircleCI (`?digest=sha256`) show it:
/// `SHA256:` then the unpadded base64 of the SHA-256 of the decoded key blob. `None`
/// when the line has no base64 blob. The blob is not parsed further, so any key type
/// works; decoding tolerates missing padding.
pub fn openssh_sha256(public_key: &str) -> Option<String> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
    use base64::engine::DecodePaddingMode;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut parts = public_key.split_whitespace();
    let first = parts.next()?;
    // `ssh-ed25519 BLOB comment`, or a bare blob
    let blob = if first.starts_with("ssh-") || first.starts_with("ecdsa-") || first.starts_with("sk-") {
        parts.next()?
    } else {
        first
    };
    let bytes = LENIENT.decode(blob).ok().filter(|b| !b.is_empty())?;
    Some(format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(&bytes))
    ))
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn sha256_fingerprint_is_openssh_s() {
        // expected value computed independently (Python: base64(sha256(blob)), `=` stripped)
        let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8nK8W0x7mU7mFJ3p0mJ5oNqQ6k2n0Z5xYkQm8Vw3a test";
        let want = "SHA256:+a7BQLfpvdSff1OVbkLdevzp7Hv7HIM5tPGoFIq8HTs";
        assert_eq!(openssh_sha256(k).as_deref(), Some(want));
        assert_eq!(openssh_sha256("ssh-ed25519"), None);
        assert_eq!(openssh_sha256("ssh-ed25519 !!!"), None);
        // the comment does not matter
        assert_eq!(
            openssh_sha256(k),
            openssh_sha256(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8nK8W0x7mU7mFJ3p0mJ5oNqQ6k2n0Z5xYkQm8Vw3a"
            )
        );
    }
}
