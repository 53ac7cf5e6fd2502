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
        }
    }

    /// Every kind.
    pub const ALL: [Kind; 23] = [
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
    ];

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
