//! Blast radius: what a stored secret unlocks, and which audit logs to hunt for its misuse.
//!
//! An inventory never holds values, so most of what firebreak can say comes from the
//! secret's kind and name, and is marked *inferred*. Better evidence when it is at hand:
//! - keys (CircleCI checkout keys, GitHub deploy keys, CircleCI SSH keys): the repository
//!   or host comes from the inventory itself (not inferred);
//! - an AWS access key id (`AKIA…` / `ASIA…`, from a values file or found in a CI log):
//!   its account id is decoded offline from the key id ([`aws_account_from_key_id`]), with
//!   no request;
//! - any value the validator catalogue of `firebreak validate` recognises, with
//!   `--verify-credentials`: the validator proves it live at its provider and maps what it
//!   reaches ([`with_validation`]): for AWS the IAM principal, account and policies; for
//!   GitHub the login, scopes, organisations and repositories; for GitLab the token, its
//!   projects and groups. The hunt pointers then name those: CloudTrail of that account
//!   for that key and ARN, the audit log of each organisation with the login as actor.
//!
//! Values are held in [`SecretString`](firebreak_core::SecretString) only while the
//! playbook is built, and never stored or printed (key ids are shown redacted; account
//! ids are not secrets).

use firebreak_core::{Access, Validation, ValidationStatus};
use firebreak_providers::{Item, Kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How a blast radius was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// From the secret's name (a guess).
    Name,
    /// From the inventory (the key's repository or host).
    Inventory,
    /// Decoded offline from an AWS access key id.
    KeyIdDecoding,
    /// IAM named the key's owner (`GetAccessKeyLastUsed`, for a key AWS listed as
    /// exposed: `incident init --aws-key-ids`).
    Iam,
    /// A validator of the catalogue ([`Blast::validator`]) proved the value live at its
    /// provider, and its access map said what it reaches.
    Validated,
}

impl Method {
    /// True when the result is a guess rather than established.
    pub fn inferred(self) -> bool {
        matches!(self, Method::Name)
    }
}

/// Most resources of an access map a blast radius keeps (the rest are counted in
/// [`Blast::resources_total`]).
pub const MAX_RESOURCES: usize = 50;

/// Most organisations (and hunt pointers per organisation) a blast radius keeps.
pub const MAX_ORGANISATIONS: usize = 20;

/// What a secret unlocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blast {
    /// In words.
    pub unlocks: String,
    /// Audit logs to hunt, each with its scope and the identities to filter on.
    pub hunt_logs: Vec<String>,
    /// How it was established.
    pub method: Method,
    /// AWS account id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account: Option<String>,
    /// IAM ARN / GitHub login / GitLab token, when a provider said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Token scopes, when the provider said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The validator that checked the value (`aws.access_key`, `github.token`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<String>,
    /// Its verdict when the playbook was built (`live`, `dead`, `unknown`, `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationStatus>,
    /// What the provider said about the owner (validator identity fields; never a value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identity: BTreeMap<String, Value>,
    /// Organisations / groups the credential reaches (GitHub organisations, IAM groups,
    /// GitLab groups), at most [`MAX_ORGANISATIONS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organisations: Vec<String>,
    /// Resources it reaches, with the permission held and how (repositories, projects,
    /// IAM policy statements), at most [`MAX_RESOURCES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Access>,
    /// Resources in the access map, kept or not.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resources_total: usize,
    /// True when the map was cut short (a listing longer than it reads) or resources were
    /// dropped beyond [`MAX_RESOURCES`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// Identities to look for as the actor in the hunt logs (IAM ARN, login).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hunt_actors: Vec<String>,
    /// What the access map could not read (e.g. `iam:ListAttachedUserPolicies: HTTP 403
    /// AccessDenied`): the map is incomplete there, not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map_errors: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Blast {
    /// A blast radius with nothing but its words, logs and method.
    pub fn new(unlocks: impl Into<String>, hunt_logs: Vec<String>, method: Method) -> Blast {
        Blast {
            unlocks: unlocks.into(),
            hunt_logs,
            method,
            aws_account: None,
            principal: None,
            scopes: None,
            validator: None,
            validation: None,
            identity: BTreeMap::new(),
            organisations: Vec::new(),
            resources: Vec::new(),
            resources_total: 0,
            truncated: false,
            hunt_actors: Vec::new(),
            map_errors: Vec::new(),
        }
    }
    fn named(unlocks: impl Into<String>, logs: &[&str]) -> Blast {
        Blast::new(
            unlocks,
            logs.iter().map(|s| s.to_string()).collect(),
            Method::Name,
        )
    }
    /// True when inferred from the name.
    pub fn inferred(&self) -> bool {
        self.method.inferred()
    }
    /// The detail stored with a task (never a value).
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Audit-log names used in playbooks (also what `firebreak hunt` reads where it can).
pub mod logs {
    /// AWS CloudTrail.
    pub const CLOUDTRAIL: &str = "AWS CloudTrail";
    /// GitHub organisation audit log.
    pub const GITHUB_AUDIT: &str = "GitHub audit log";
    /// CircleCI audit log.
    pub const CIRCLECI_AUDIT: &str = "CircleCI audit log";
    /// GitLab audit events.
    pub const GITLAB_AUDIT: &str = "GitLab audit events";
    /// GCP Cloud Audit Logs.
    pub const GCP_AUDIT: &str = "GCP Cloud Audit Logs";
    /// Azure activity and sign-in logs.
    pub const AZURE: &str = "Azure activity log / Entra sign-in log";
}

/// Aho-free keyword test on an upper-cased name split into words (`_`, `-`, `.`).
fn has(name: &str, words: &[&str]) -> bool {
    let up = name.to_ascii_uppercase();
    let parts: Vec<&str> = up.split(['_', '-', '.', ' ']).collect();
    words.iter().any(|w| {
        if w.contains('_') {
            up.contains(w)
        } else {
            parts.iter().any(|p| p == w || (w.len() >= 5 && p.starts_with(w)))
        }
    })
}

/// Blast radius from the item's kind and name, without any value.
pub fn infer(item: &Item) -> Blast {
    match item.kind {
        Kind::CheckoutKey => {
            let repo = circleci_repo(&item.scope);
            let rw = item
                .flags
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("user-key") || d.contains("github-user-key"));
            let mut unlocks = if rw {
                format!("git read/write as the key's user, on every repository that user can reach (user key of {repo})")
            } else {
                format!("git clone of repository {repo} (checkout deploy key)")
            };
            if let Some(other) = &item.flags.same_key_as {
                unlocks.push_str(&format!(
                    "; the same key ({}) is {other} at the VCS: one task covers both ends (replace the checkout key, then delete that deploy key)",
                    item.flags.fingerprint_sha256.as_deref().unwrap_or("same public key")
                ));
            }
            return Blast::new(
                unlocks,
                vec![format!(
                    "{} (git.clone / public_key events for {repo})",
                    logs::GITHUB_AUDIT
                )],
                Method::Inventory,
            );
        }
        Kind::DeployKey => {
            let ro = item
                .flags
                .detail
                .as_deref()
                .map(|d| d.contains("read_only=true") || d.contains("read-only"));
            let access = match ro {
                Some(true) => "read-only",
                Some(false) => "read/write",
                None => "read or read/write",
            };
            return Blast::new(
                format!("git {access} access to repository {} (deploy key)", item.scope),
                vec![format!(
                    "{} (git.clone / git.push with deploy key, repo {})",
                    logs::GITHUB_AUDIT,
                    item.scope
                )],
                Method::Inventory,
            );
        }
        Kind::SshKey => {
            let host = item.flags.detail.clone().unwrap_or_else(|| "a host".into());
            return Blast::new(
                format!("SSH access configured for {host} (CircleCI additional SSH key)"),
                vec![format!("sshd / auth logs of {host}")],
                Method::Inventory,
            );
        }
        Kind::ProjectApiToken => {
            let d = item.flags.detail.clone().unwrap_or_default();
            let what = if d.contains("scope all") {
                "read and write through CircleCI API v1.1 on project (admin project token): trigger builds, read and change settings"
            } else if d.contains("scope view-builds") {
                "read builds, artifacts and logs through CircleCI API v1.1 on project (read-only project token)"
            } else {
                "build status of project (status project token)"
            };
            return Blast::new(
                format!("{what} {}", item.scope),
                vec![format!("{} (project {})", logs::CIRCLECI_AUDIT, item.scope)],
                Method::Inventory,
            );
        }
        Kind::RunnerToken => {
            return Blast::new(
                format!(
                    "registering a self-hosted runner in resource class {}: taking its jobs, their checkout keys and every environment variable and context they receive",
                    item.scope
                ),
                vec![format!("{} (runner activity of {})", logs::CIRCLECI_AUDIT, item.scope)],
                Method::Inventory,
            );
        }
        Kind::AwsKeypair => {
            return Blast::new(
                format!(
                    "AWS credentials of CircleCI project {} (legacy AWS key pair; the account and IAM user come from the key id at AWS)",
                    item.scope
                ),
                vec![format!("{} (userIdentity.accessKeyId = the key pair's id)", logs::CLOUDTRAIL)],
                Method::Inventory,
            );
        }
        Kind::OauthAuthorization => {
            return Blast::new(
                format!(
                    "the VCS (GitHub, Bitbucket, GitLab) as each user who authorised CircleCI in {}: clone and push to every repository they reach",
                    item.scope
                ),
                vec![format!("{} (oauth_access / git.clone by the CircleCI OAuth app)", logs::GITHUB_AUDIT)],
                Method::Inventory,
            );
        }
        Kind::PersonalApiToken => {
            return Blast::new(
                format!(
                    "the CircleCI API as each user of {}: read every project's settings and trigger builds that receive its secrets",
                    item.scope
                ),
                vec![logs::CIRCLECI_AUDIT.to_string()],
                Method::Inventory,
            );
        }
        Kind::ProjectDeployKey
        | Kind::DeployToken
        | Kind::ProjectAccessToken
        | Kind::GroupAccessToken
        | Kind::TriggerToken
        | Kind::Runner => return gitlab_credential(item),
        _ => {}
    }
    by_name(&item.name)
}

/// Blast radius of a GitLab credential other than a variable, from its kind and the
/// inventory's detail (scopes, access level, write access), never a value.
fn gitlab_credential(item: &Item) -> Blast {
    let d = item.flags.detail.clone().unwrap_or_default();
    // `..., scopes a,b, ...` as the inventory writes it
    let scopes: Option<Vec<String>> = d.split(", ").find_map(|p| p.strip_prefix("scopes ")).map(|s| {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    });
    let s = &item.scope;
    let unlocks = match item.kind {
        Kind::ProjectDeployKey => format!(
            "git {} access to GitLab project {s} (deploy key)",
            if d.contains("read-write") {
                "read/write"
            } else {
                "read-only"
            }
        ),
        Kind::DeployToken => format!(
            "GitLab deploy token of {s}: {} (clone, registry or package access as its username)",
            scopes
                .as_ref()
                .map(|v| v.join(", "))
                .unwrap_or_else(|| "scopes unknown".into())
        ),
        Kind::ProjectAccessToken | Kind::GroupAccessToken => format!(
            "the GitLab API as the bot user of {s} ({}, {})",
            scopes
                .as_ref()
                .map(|v| v.join(", "))
                .unwrap_or_else(|| "scopes unknown".into()),
            d.split(", ")
                .find(|p| p.starts_with("access_level"))
                .unwrap_or("access level unknown")
        ),
        Kind::TriggerToken => format!(
            "running pipelines of GitLab project {s} on any ref, with its CI/CD variables (trigger token)"
        ),
        _ => format!(
            "taking CI jobs of {s} and every variable those jobs receive (GitLab runner authentication token)"
        ),
    };
    let mut b = Blast::new(
        unlocks,
        vec![format!("{} ({s})", logs::GITLAB_AUDIT)],
        Method::Inventory,
    );
    b.scopes = scopes;
    b
}

/// The GitHub repository of a CircleCI project slug (`gh/org/repo` → `org/repo`).
pub fn circleci_repo(slug: &str) -> String {
    let mut it = slug.splitn(3, '/');
    match (it.next(), it.next(), it.next()) {
        (Some(_vcs), Some(org), Some(repo)) => format!("{org}/{repo}"),
        _ => slug.to_string(),
    }
}

/// Blast radius from a secret's name alone (always inferred).
pub fn by_name(name: &str) -> Blast {
    let n = name;
    if has(n, &["AWS", "AMAZON", "S3"]) {
        return Blast::named(
            "AWS credentials (account and IAM user unknown until the key id is known)",
            &[logs::CLOUDTRAIL],
        );
    }
    if has(n, &["GH", "GITHUB"]) {
        return Blast::named(
            "a GitHub token (owner and scopes unknown without the value)",
            &[logs::GITHUB_AUDIT],
        );
    }
    if has(n, &["NPM", "NODE_AUTH_TOKEN"]) {
        return Blast::named(
            "npm publish rights",
            &[
                "npm publish history (`npm view PKG time`)",
                "npm organisation audit log",
            ],
        );
    }
    if has(n, &["PYPI", "TWINE"]) {
        return Blast::named("PyPI upload rights", &["PyPI project history / security log"]);
    }
    if has(n, &["DOCKER", "DOCKERHUB", "REGISTRY", "GHCR", "QUAY", "ECR"]) {
        return Blast::named(
            "container / package registry push rights",
            &["registry audit log and push history (Docker Hub audit log, GHCR package history)"],
        );
    }
    if has(n, &["SLACK"]) {
        return Blast::named(
            "a Slack webhook or token (post messages; read with a user token)",
            &["Slack audit / access logs"],
        );
    }
    if has(n, &["ANACONDA", "CONDA"]) {
        return Blast::named(
            "anaconda.org upload rights",
            &["anaconda.org upload history (firebreak census)"],
        );
    }
    if has(n, &["CODECOV"]) {
        return Blast::named("Codecov uploads for the repository", &["Codecov upload history"]);
    }
    if has(n, &["SENTRY"]) {
        return Blast::named("Sentry API access", &["Sentry organisation audit log"]);
    }
    if has(n, &["GPG", "PGP", "SIGNING", "COSIGN"]) {
        return Blast::named(
            "a signing key (signatures the attacker makes will verify)",
            &["signatures made with the key: census of signed artifacts published in the window"],
        );
    }
    if has(n, &["GCP", "GOOGLE", "GCLOUD", "GCS"]) {
        return Blast::named("Google Cloud credentials", &[logs::GCP_AUDIT]);
    }
    if has(n, &["AZURE", "ARM_CLIENT_SECRET", "ARM_CLIENT_ID"]) {
        return Blast::named("Azure credentials", &[logs::AZURE]);
    }
    if has(n, &["CIRCLE", "CIRCLECI"]) {
        return Blast::named("a CircleCI API token", &[logs::CIRCLECI_AUDIT]);
    }
    if has(n, &["GITLAB", "GL"]) {
        return Blast::named("a GitLab token", &[logs::GITLAB_AUDIT]);
    }
    if has(n, &["HEROKU"]) {
        return Blast::named("Heroku API access", &["Heroku audit trail"]);
    }
    if has(n, &["SMTP", "MAIL", "SENDGRID", "MAILGUN"]) {
        return Blast::named(
            "sending mail as the organisation",
            &["mail provider activity log"],
        );
    }
    if has(n, &["DATABASE", "POSTGRES", "MYSQL", "MONGO", "REDIS", "DB"]) {
        return Blast::named("a database", &["database connection / audit logs"]);
    }
    if has(n, &["SSH", "DEPLOY_KEY", "PRIVATE_KEY"]) {
        return Blast::named(
            "SSH access (hosts or repositories it is registered on)",
            &["sshd / auth logs; GitHub audit log for deploy keys"],
        );
    }
    Blast::named(
        "unknown: the name gives no hint",
        &["the audit log of the service the secret belongs to"],
    )
}

/// Decodes the AWS account id from an access key id (`AKIA…` long-term, `ASIA…`
/// temporary): base32-decode the 16 characters after the prefix; the account id is bits
/// 1..40 of the first 6 bytes (mask `0x7fffffffff80`, shift 7). Valid for key ids issued
/// since 2019 (the documented encoding); older ids decode to a meaningless number.
pub fn aws_account_from_key_id(key_id: &str) -> Option<String> {
    let k = key_id.trim();
    if k.len() != 20 || !(k.starts_with("AKIA") || k.starts_with("ASIA")) {
        return None;
    }
    let mut bits: u128 = 0;
    for c in k[4..].bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        bits = (bits << 5) | u128::from(v);
    }
    // 80 bits; the first 48 bits are the first 6 bytes
    let first6 = (bits >> 32) as u64;
    let account = (first6 & 0x7fff_ffff_ff80) >> 7;
    Some(format!("{account:012}"))
}

/// True when the text looks like an AWS access key id.
pub fn is_aws_key_id(s: &str) -> bool {
    aws_account_from_key_id(s).is_some()
}

/// Finds AWS access key ids in a line (the scanner's findings hold only a redacted form).
pub fn aws_key_ids_in(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 20 <= b.len() {
        let w = &b[i..i + 20];
        let boundary_before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let boundary_after = i + 20 == b.len() || !b[i + 20].is_ascii_alphanumeric();
        if boundary_before && boundary_after && (w.starts_with(b"AKIA") || w.starts_with(b"ASIA")) {
            if let Ok(s) = std::str::from_utf8(w) {
                if is_aws_key_id(s) {
                    out.push(s.to_string());
                    i += 20;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// Values given by the responder (`--values FILE`), used only to sharpen the blast
/// radius; held in memory, never stored or printed.
pub use firebreak_core::values::Values;

/// Sharpens a name-based blast radius with a known AWS access key id.
pub fn with_aws_key_id(mut b: Blast, key_id: &str) -> Blast {
    if let Some(acct) = aws_account_from_key_id(key_id) {
        b.unlocks = format!(
            "AWS account {acct} (decoded offline from access key id {}; the IAM user is named only by a live check: --verify-credentials with its secret key)",
            firebreak_core::redact(key_id)
        );
        b.hunt_logs = vec![format!(
            "{} of account {acct} (userIdentity.accessKeyId = the key id)",
            logs::CLOUDTRAIL
        )];
        b.method = Method::KeyIdDecoding;
        b.aws_account = Some(acct);
    }
    b
}

fn id_str<'a>(v: &'a Validation, k: &str) -> Option<&'a str> {
    v.identity
        .get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn id_list(v: &Validation, k: &str) -> Vec<String> {
    match v.identity.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// `a, b, c and 4 more`: the first `n` of `items`, of `total` in all.
fn some_of(items: &[String], n: usize, total: usize) -> String {
    let mut s = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    let total = total.max(items.len());
    if total > n {
        s.push_str(&format!(" and {} more", total - n));
    }
    s
}

/// The provider family of a validator id (`github.token` → `github`).
fn family(validator: &str) -> &str {
    validator.split('.').next().unwrap_or(validator)
}

/// Sharpens a blast radius with the verdict of a validator on the secret's value (and the
/// access map it made of a live credential).
///
/// - not `live`: the blast radius stays as it was (name, inventory or key-id decoding); the
///   validator and its verdict are kept, and a `dead` value is said to be refused now (it
///   may still have worked during the exposure window);
/// - `live`: the method becomes [`Method::Validated`] and the radius is what the
///   provider said: for AWS (`aws.*`) the account, the IAM ARN and the policy statements,
///   hunted in CloudTrail of that account filtered on the key id and the ARN; for GitHub
///   (`github.*`) the login, scopes, organisations and repositories, hunted in the audit log
///   of each organisation with the login as actor; for GitLab (`gitlab.*`) the token and
///   the projects and groups of the map, hunted in their audit events; for any other
///   validator who the credential belongs to, hunted in its provider's logs.
///
/// `title` is the validator's name in words (`npm access token`); `key_id` the AWS access
/// key id checked, when the credential is an AWS key (shown redacted only).
pub fn with_validation(mut b: Blast, v: &Validation, title: &str, key_id: Option<&str>) -> Blast {
    b.validator = Some(v.validator.clone());
    b.validation = Some(v.status);
    if v.status != ValidationStatus::Live {
        if v.status == ValidationStatus::Dead {
            b.unlocks = format!(
                "{}; the value given is refused by its provider now ({} says dead): it may still have worked during the exposure window",
                b.unlocks, v.validator
            );
        }
        return b;
    }
    b.method = Method::Validated;
    b.identity = v.identity.clone();
    let map = v.access.clone().unwrap_or_default();
    b.resources_total = map.resources.len();
    b.truncated = map.truncated || map.resources.len() > MAX_RESOURCES;
    b.resources = map.resources.iter().take(MAX_RESOURCES).cloned().collect();
    b.organisations = map
        .organisations
        .iter()
        .take(MAX_ORGANISATIONS)
        .cloned()
        .collect();
    b.truncated |= map.organisations.len() > MAX_ORGANISATIONS;
    b.map_errors = map.errors.iter().take(10).cloned().collect();
    let scopes = if map.scopes.is_empty() {
        id_list(v, "scopes")
    } else {
        map.scopes.clone()
    };
    if v.identity.contains_key("scopes") || !map.scopes.is_empty() {
        b.scopes = Some(scopes.clone());
    }
    let incomplete = if map.errors.is_empty() {
        String::new()
    } else {
        format!(
            "; the map is incomplete: {} read(s) refused or failed",
            map.errors.len()
        )
    };
    let shown = |n: usize| {
        b.resources
            .iter()
            .map(|a| format!("{} ({})", a.resource, a.permission))
            .take(n)
            .collect::<Vec<_>>()
    };
    match family(&v.validator) {
        "aws" => {
            let kid = key_id.map(firebreak_core::redact);
            let acct = id_str(v, "account")
                .map(str::to_string)
                .or_else(|| key_id.and_then(aws_account_from_key_id))
                .or(b.aws_account.take());
            let arn = id_str(v, "arn")
                .map(str::to_string)
                .or_else(|| map.principal.clone().filter(|p| !p.is_empty()));
            let groups: Vec<String> = b
                .organisations
                .iter()
                .map(|g| g.strip_prefix("group ").unwrap_or(g).to_string())
                .collect();
            let acct_s = acct.clone().unwrap_or_else(|| "?".into());
            let mut u = format!(
                "AWS account {acct_s} as {} (proven live by validator {}{})",
                arn.as_deref().unwrap_or("an unknown principal"),
                v.validator,
                kid.as_ref()
                    .map(|k| format!(" with access key {k}"))
                    .unwrap_or_default()
            );
            if v.access.is_some() {
                if b.resources_total == 0 && map.errors.is_empty() {
                    u.push_str("; IAM policies: none found for it");
                } else if b.resources_total == 0 {
                    u.push_str("; IAM policies: none readable");
                } else {
                    u.push_str(&format!(
                        "; IAM policies: {} statement(s): {}",
                        b.resources_total,
                        some_of(&shown(3), 3, b.resources_total)
                    ));
                }
                if !groups.is_empty() {
                    u.push_str(&format!(
                        "; groups {}",
                        some_of(&groups, 5, map.organisations.len())
                    ));
                }
            }
            u.push_str(&incomplete);
            b.unlocks = u;
            let mut filter = vec![format!(
                "userIdentity.accessKeyId = the key id{}",
                kid.as_ref().map(|k| format!(" {k}")).unwrap_or_default()
            )];
            if let Some(a) = &arn {
                filter.push(format!("userIdentity.arn = {a}"));
            }
            b.hunt_logs = vec![format!(
                "{} of account {acct_s} ({})",
                logs::CLOUDTRAIL,
                filter.join("; ")
            )];
            b.aws_account = acct;
            b.hunt_actors = arn.iter().cloned().collect();
            b.principal = arn;
        }
        "github" => {
            let login = id_str(v, "login")
                .map(str::to_string)
                .or_else(|| map.principal.clone().filter(|p| !p.is_empty()));
            let owner = id_str(v, "owner").map(str::to_string);
            let who = login
                .clone()
                .map(|l| format!("user {l}"))
                .or_else(|| owner.clone().map(|o| format!("an app installed on {o}")))
                .unwrap_or_else(|| "an unknown account".into());
            let scope_words = if v.identity.contains_key("scopes") || !map.scopes.is_empty() {
                if scopes.is_empty() {
                    "no classic scopes reported: a fine-grained token or an app, check its permissions"
                        .to_string()
                } else {
                    format!("scopes {}", scopes.join(", "))
                }
            } else {
                "scopes not reported".to_string()
            };
            let mut u = format!(
                "GitHub as {who} ({scope_words}; proven live by validator {})",
                v.validator
            );
            if v.access.is_some() {
                let mut perms: BTreeMap<&str, usize> = BTreeMap::new();
                for a in &map.resources {
                    *perms.entry(a.permission.as_str()).or_default() += 1;
                }
                let perm_words: Vec<String> = perms.iter().map(|(p, n)| format!("{n} {p}")).collect();
                let repos: Vec<String> = b.resources.iter().map(|a| a.resource.clone()).collect();
                u.push_str(&format!(
                    "; {} repositor{}{}",
                    b.resources_total,
                    if b.resources_total == 1 { "y" } else { "ies" },
                    if repos.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({}): {}",
                            perm_words.join(", "),
                            some_of(&repos, 5, b.resources_total)
                        )
                    }
                ));
                if map.truncated {
                    u.push_str(" (listing cut short: more exist)");
                }
                if !b.organisations.is_empty() {
                    u.push_str(&format!(
                        "; organisations {}",
                        some_of(&b.organisations, 5, map.organisations.len())
                    ));
                }
            }
            u.push_str(&incomplete);
            b.unlocks = u;
            let actor = login.clone().unwrap_or_else(|| "the token's app or bot".into());
            let mut logs_ = Vec::new();
            let mut orgs = b.organisations.clone();
            if orgs.is_empty() {
                orgs.extend(owner.clone());
            }
            for o in &orgs {
                logs_.push(format!(
                    "{} of organisation {o} (actor = {actor})",
                    logs::GITHUB_AUDIT
                ));
            }
            if let Some(l) = &login {
                logs_.push(format!(
                    "{} (security log) of user {l} (actor = {l})",
                    logs::GITHUB_AUDIT
                ));
            }
            if logs_.is_empty() {
                logs_.push(logs::GITHUB_AUDIT.to_string());
            }
            b.hunt_logs = logs_;
            b.hunt_actors = login.iter().cloned().collect();
            b.principal = login.or(owner);
        }
        "gitlab" => {
            let token = id_str(v, "token_name").map(str::to_string);
            let user = id_str(v, "username")
                .map(str::to_string)
                .or_else(|| map.principal.clone().filter(|p| !p.is_empty()))
                .or_else(|| {
                    v.identity
                        .get("user_id")
                        .map(|u| format!("user id {}", json_word(u)))
                });
            let who = match (&token, &user) {
                (Some(t), Some(u)) => format!("token {t} of {u}"),
                (Some(t), None) => format!("token {t}"),
                (None, Some(u)) => u.clone(),
                (None, None) => "an unknown account".into(),
            };
            let mut u = format!(
                "GitLab as {who}{} (proven live by validator {})",
                if scopes.is_empty() {
                    String::new()
                } else {
                    format!(", scopes {}", scopes.join(", "))
                },
                v.validator
            );
            let projects: Vec<String> = b.resources.iter().map(|a| a.resource.clone()).collect();
            if v.access.is_some() {
                u.push_str(&format!(
                    "; {} project(s){}",
                    b.resources_total,
                    if projects.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", some_of(&shown(5), 5, b.resources_total))
                    }
                ));
                if !b.organisations.is_empty() {
                    u.push_str(&format!(
                        "; groups {}",
                        some_of(&b.organisations, 5, map.organisations.len())
                    ));
                }
            }
            u.push_str(&incomplete);
            b.unlocks = u;
            // a bot user is named `NAME (bot user of ...)` by the map: the actor is NAME
            let actor = user
                .as_deref()
                .map(|u| u.split(" (").next().unwrap_or(u).to_string())
                .unwrap_or_else(|| who.clone());
            let mut logs_: Vec<String> = b
                .organisations
                .iter()
                .map(|g| format!("{} of group {g} (author = {actor})", logs::GITLAB_AUDIT))
                .collect();
            logs_.extend(
                projects
                    .iter()
                    .take(MAX_ORGANISATIONS)
                    .map(|p| format!("{} of project {p} (author = {actor})", logs::GITLAB_AUDIT)),
            );
            if logs_.is_empty() {
                logs_.push(format!(
                    "{} of the instance (author = {actor}; the token's own events)",
                    logs::GITLAB_AUDIT
                ));
            }
            b.hunt_logs = logs_;
            b.hunt_actors = user.is_some().then(|| actor.clone()).into_iter().collect();
            b.principal = user.or(token);
        }
        "gcp" => {
            let email = id_str(v, "client_email")
                .map(str::to_string)
                .or_else(|| map.principal.clone().filter(|p| !p.is_empty()));
            let project = id_str(v, "project_id").map(str::to_string);
            let mut u = format!(
                "Google Cloud as service account {}{} (proven live by validator {})",
                email.as_deref().unwrap_or("?"),
                project
                    .as_ref()
                    .map(|p| format!(" of project {p}"))
                    .unwrap_or_default(),
                v.validator
            );
            if v.access.is_some() {
                u.push_str(&format!(
                    "; {} IAM binding(s){}",
                    b.resources_total,
                    if b.resources.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", some_of(&shown(5), 5, b.resources_total))
                    }
                ));
            }
            u.push_str(&incomplete);
            b.unlocks = u;
            b.hunt_logs = vec![format!(
                "{} of project {} (protoPayload.authenticationInfo.principalEmail = {})",
                logs::GCP_AUDIT,
                project.as_deref().unwrap_or("? (the key's project)"),
                email.as_deref().unwrap_or("the service account")
            )];
            b.hunt_actors = email.iter().cloned().collect();
            b.principal = email;
        }
        fam => {
            let who = identity_words(v);
            b.unlocks = format!(
                "{title}: live at its provider (proven by validator {}){}",
                v.validator,
                if who.is_empty() {
                    String::new()
                } else {
                    format!(", as {who}")
                }
            );
            if !b.organisations.is_empty() {
                b.unlocks.push_str(&format!(
                    "; organisations {}",
                    some_of(&b.organisations, 5, map.organisations.len())
                ));
            }
            if b.resources_total > 0 {
                b.unlocks.push_str(&format!(
                    "; {} resource(s): {}",
                    b.resources_total,
                    some_of(&shown(5), 5, b.resources_total)
                ));
            }
            b.unlocks.push_str(&incomplete);
            // the validator knows the provider better than the name does
            let by_provider = by_name(fam);
            b.hunt_logs = if by_provider.unlocks.starts_with("unknown") {
                vec![format!("audit / access logs of the provider of the {title}")]
            } else {
                by_provider.hunt_logs
            };
            b.principal = [
                "login",
                "username",
                "user",
                "email",
                "client_email",
                "account",
                "account_id",
                "owner",
                "name",
            ]
            .iter()
            .find_map(|k| id_str(v, k).map(str::to_string))
            .or_else(|| map.principal.clone().filter(|p| !p.is_empty()));
            b.hunt_actors = b.principal.iter().cloned().collect();
        }
    }
    b
}

fn json_word(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `login octo-ci, email ci@example.com`: up to four scalar identity fields, in words.
fn identity_words(v: &Validation) -> String {
    v.identity
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "scopes" | "expires_at"))
        .filter_map(|(k, x)| match x {
            Value::String(s) if !s.trim().is_empty() => Some(format!("{k} {}", s.trim())),
            Value::Number(n) => Some(format!("{k} {n}")),
            Value::Bool(b) => Some(format!("{k} {b}")),
            _ => None,
        })
        .take(4)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_core::AccessMap;

    #[test]
    fn decodes_account_from_key_id() {
        // The published example of the decoding (AWS documentation example key ids do
        // not follow the encoding; this one is from the original write-up).
        assert_eq!(
            aws_account_from_key_id("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
        // the drill's key id is built with the same encoding (testdata/drill/make_drill_data.py)
        assert_eq!(
            aws_account_from_key_id("AKIABZVKIUSNUVNBPQYJ").as_deref(),
            Some("123837392027")
        );
        assert_eq!(aws_account_from_key_id("AKIA123"), None);
        assert_eq!(aws_account_from_key_id("AROAY34FZKBOKMUTVV7A"), None);
        assert_eq!(aws_account_from_key_id("AKIAY34FZKBOKMUTVV7!"), None);
    }

    #[test]
    fn finds_key_ids_in_lines() {
        let l = "+ export AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A # x";
        assert_eq!(aws_key_ids_in(l), vec!["ASIAY34FZKBOKMUTVV7A".to_string()]);
        assert!(aws_key_ids_in("XASIAY34FZKBOKMUTVV7A").is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(by_name("AWS_SECRET_ACCESS_KEY").hunt_logs, vec![logs::CLOUDTRAIL]);
        assert!(by_name("NPM_TOKEN").unlocks.contains("npm"));
        assert!(by_name("ORG_PYPI_TOKEN").unlocks.contains("PyPI"));
        assert!(by_name("DOCKERHUB_PASSWORD").unlocks.contains("registry"));
        assert!(by_name("GH_PAT").unlocks.contains("GitHub"));
        assert!(by_name("SLACK_WEBHOOK_URL").unlocks.contains("Slack"));
        assert!(by_name("FOO").unlocks.starts_with("unknown"));
        assert!(by_name("FOO").inferred());
        // word match, not substring: "GHOST" is not GitHub
        assert!(!by_name("GHOST_TOKEN").unlocks.contains("GitHub"));
    }

    #[test]
    fn values_file() {
        let (v, bad) = Values::parse("# c\nexport A=1\nB=\"two\"\nnot a line\n");
        assert_eq!(v.get("A").map(|s| s.expose()), Some("1"));
        assert_eq!(v.get("B").map(|s| s.expose()), Some("two"));
        assert_eq!(bad, vec![4]);
    }

    fn validation(
        id: &str,
        status: ValidationStatus,
        identity: Value,
        access: Option<AccessMap>,
    ) -> Validation {
        Validation {
            validator: id.into(),
            status,
            identity: serde_json::from_value(identity).unwrap(),
            reason: None,
            checked_at: chrono::Utc::now(),
            access,
        }
    }

    fn access(resource: &str, permission: &str, via: &str) -> Access {
        Access {
            resource: resource.into(),
            permission: permission.into(),
            via: via.into(),
        }
    }

    #[test]
    fn an_aws_map_names_account_principal_and_policies() {
        let kid = "AKIABZVKIUSNUVNBPQYJ";
        let offline = with_aws_key_id(by_name("AWS_ACCESS_KEY_ID"), kid);
        assert_eq!(offline.method, Method::KeyIdDecoding);
        let arn = "arn:aws:iam::123837392027:user/ci-deployer";
        let map = AccessMap {
            principal: Some(arn.into()),
            organisations: vec!["group releasers".into()],
            resources: vec![
                access(
                    "arn:aws:s3:::acme-releases/*",
                    "Allow s3:PutObject",
                    "policy upload (inline)",
                ),
                access(
                    "*",
                    "Allow iam:ListUsers",
                    "group releasers: policy audit (attached)",
                ),
            ],
            errors: vec!["iam:GetPolicy: HTTP 403 AccessDenied".into()],
            ..AccessMap::default()
        };
        let v = validation(
            "aws.access_key",
            ValidationStatus::Live,
            serde_json::json!({"account": "123837392027", "arn": arn, "user_id": "AIDAEXAMPLE"}),
            Some(map),
        );
        let b = with_validation(offline, &v, "AWS access key pair", Some(kid));
        assert_eq!(b.method, Method::Validated);
        assert!(!b.inferred());
        assert_eq!(b.validator.as_deref(), Some("aws.access_key"));
        assert_eq!(b.validation, Some(ValidationStatus::Live));
        assert_eq!(b.aws_account.as_deref(), Some("123837392027"));
        assert_eq!(b.principal.as_deref(), Some(arn));
        assert_eq!(b.hunt_actors, vec![arn.to_string()]);
        assert_eq!(b.organisations, vec!["group releasers".to_string()]);
        assert_eq!(b.resources.len(), 2);
        assert_eq!(b.resources_total, 2);
        assert_eq!(b.map_errors.len(), 1);
        for part in [
            "AWS account 123837392027 as arn:aws:iam::123837392027:user/ci-deployer",
            "validator aws.access_key",
            "2 statement(s)",
            "arn:aws:s3:::acme-releases/* (Allow s3:PutObject)",
            "groups releasers",
            "the map is incomplete: 1 read(s)",
        ] {
            assert!(b.unlocks.contains(part), "{part}: {}", b.unlocks);
        }
        assert_eq!(
            b.hunt_logs,
            vec![format!(
                "AWS CloudTrail of account 123837392027 (userIdentity.accessKeyId = the key id {}; userIdentity.arn = {arn})",
                firebreak_core::redact(kid)
            )]
        );
        // the key id is never whole in what is stored
        let stored = b.detail().to_string();
        assert!(!stored.contains(kid), "{stored}");
    }

    #[test]
    fn a_github_map_names_login_organisations_and_repositories() {
        let repos: Vec<Access> = (0..(MAX_RESOURCES + 7))
            .map(|i| {
                access(
                    &format!("acme/repo-{i:03}"),
                    if i % 2 == 0 { "admin" } else { "push" },
                    "token scopes repo",
                )
            })
            .collect();
        let map = AccessMap {
            principal: Some("octo-ci".into()),
            scopes: vec!["repo".into(), "workflow".into()],
            organisations: vec!["acme".into(), "acme-labs".into()],
            resources: repos,
            ..AccessMap::default()
        };
        let v = validation(
            "github.token",
            ValidationStatus::Live,
            serde_json::json!({"login": "octo-ci", "scopes": ["repo", "workflow"]}),
            Some(map),
        );
        let b = with_validation(by_name("GH_TOKEN"), &v, "GitHub token", None);
        assert_eq!(b.method, Method::Validated);
        assert_eq!(b.principal.as_deref(), Some("octo-ci"));
        assert_eq!(b.scopes, Some(vec!["repo".to_string(), "workflow".to_string()]));
        // bounded: the first MAX_RESOURCES kept, every one counted
        assert_eq!(b.resources.len(), MAX_RESOURCES);
        assert_eq!(b.resources_total, MAX_RESOURCES + 7);
        assert!(b.truncated);
        for part in [
            "GitHub as user octo-ci (scopes repo, workflow;",
            "57 repositories (29 admin, 28 push): acme/repo-000, acme/repo-001",
            "and 52 more",
            "organisations acme, acme-labs",
        ] {
            assert!(b.unlocks.contains(part), "{part}: {}", b.unlocks);
        }
        assert_eq!(
            b.hunt_logs,
            vec![
                "GitHub audit log of organisation acme (actor = octo-ci)".to_string(),
                "GitHub audit log of organisation acme-labs (actor = octo-ci)".to_string(),
                "GitHub audit log (security log) of user octo-ci (actor = octo-ci)".to_string(),
            ]
        );
        assert_eq!(b.hunt_actors, vec!["octo-ci".to_string()]);
        // a fine-grained token: no classic scopes, said so
        let v = validation(
            "github.token",
            ValidationStatus::Live,
            serde_json::json!({"login": "octo-ci", "scopes": []}),
            None,
        );
        let b = with_validation(by_name("GH_TOKEN"), &v, "GitHub token", None);
        assert!(b.unlocks.contains("no classic scopes reported"), "{}", b.unlocks);
        assert_eq!(b.scopes, Some(Vec::new()));
    }

    #[test]
    fn a_gitlab_map_points_at_its_projects_and_groups() {
        let map = AccessMap {
            principal: Some("project_7_bot (bot user of a project or group access token)".into()),
            scopes: vec!["api".into()],
            organisations: vec!["acme".into()],
            resources: vec![access(
                "acme/app",
                "Maintainer",
                "project membership, token scopes api",
            )],
            ..AccessMap::default()
        };
        let v = validation(
            "gitlab.token",
            ValidationStatus::Live,
            serde_json::json!({"token_name": "ci-deploy", "user_id": 7, "scopes": ["api"]}),
            Some(map),
        );
        let b = with_validation(by_name("GITLAB_TOKEN"), &v, "GitLab token", None);
        assert_eq!(b.method, Method::Validated);
        assert!(
            b.unlocks.contains("token ci-deploy of project_7_bot")
                && b.unlocks.contains("1 project(s): acme/app (Maintainer)")
                && b.unlocks.contains("groups acme"),
            "{}",
            b.unlocks
        );
        assert_eq!(
            b.hunt_logs,
            vec![
                "GitLab audit events of group acme (author = project_7_bot)".to_string(),
                "GitLab audit events of project acme/app (author = project_7_bot)".to_string(),
            ]
        );
        assert_eq!(b.hunt_actors, vec!["project_7_bot".to_string()]);
    }

    #[test]
    fn other_validators_name_the_owner_and_the_providers_logs() {
        let v = validation(
            "npm.token",
            ValidationStatus::Live,
            serde_json::json!({"username": "acme-publisher"}),
            None,
        );
        // a value recognised by its shape under a name that says nothing
        let b = with_validation(by_name("TOKEN_2"), &v, "npm access token", None);
        assert_eq!(b.method, Method::Validated);
        assert_eq!(b.principal.as_deref(), Some("acme-publisher"));
        assert!(
            b.unlocks.starts_with("npm access token: live at its provider (proven by validator npm.token), as username acme-publisher"),
            "{}",
            b.unlocks
        );
        assert!(
            b.hunt_logs[0].contains("npm publish history"),
            "{:?}",
            b.hunt_logs
        );
        let v = validation("stripe.key", ValidationStatus::Live, serde_json::json!({}), None);
        let b = with_validation(by_name("X"), &v, "Stripe secret key", None);
        assert_eq!(
            b.hunt_logs,
            vec!["audit / access logs of the provider of the Stripe secret key".to_string()]
        );
        let v = validation(
            "gcp.service_account",
            ValidationStatus::Live,
            serde_json::json!({"client_email": "ci@acme-prod.iam.gserviceaccount.com", "project_id": "acme-prod"}),
            None,
        );
        let b = with_validation(by_name("GCP_KEY"), &v, "GCP service-account key", None);
        assert_eq!(
            b.hunt_logs,
            vec!["GCP Cloud Audit Logs of project acme-prod (protoPayload.authenticationInfo.principalEmail = ci@acme-prod.iam.gserviceaccount.com)".to_string()]
        );
    }

    #[test]
    fn verdicts_other_than_live_keep_the_radius() {
        let kid = "AKIABZVKIUSNUVNBPQYJ";
        let offline = with_aws_key_id(by_name("AWS_ACCESS_KEY_ID"), kid);
        let mut dead = validation(
            "aws.access_key",
            ValidationStatus::Dead,
            serde_json::json!({}),
            None,
        );
        dead.reason = Some("HTTP 403 InvalidClientTokenId".into());
        let b = with_validation(offline.clone(), &dead, "AWS access key pair", Some(kid));
        assert_eq!(b.method, Method::KeyIdDecoding);
        assert_eq!(b.hunt_logs, offline.hunt_logs);
        assert_eq!(b.aws_account.as_deref(), Some("123837392027"));
        assert_eq!(b.validation, Some(ValidationStatus::Dead));
        assert!(b.unlocks.contains("refused by its provider now"), "{}", b.unlocks);
        let unknown = validation(
            "github.token",
            ValidationStatus::Unknown,
            serde_json::json!({}),
            None,
        );
        let named = by_name("GH_TOKEN");
        let b = with_validation(named.clone(), &unknown, "GitHub token", None);
        assert!(b.inferred());
        assert_eq!((b.unlocks, b.hunt_logs), (named.unlocks, named.hunt_logs));
        assert_eq!(b.validator.as_deref(), Some("github.token"));
    }

    #[test]
    fn key_items_use_the_inventory() {
        let it = Item {
            provider: firebreak_providers::Provider::Circleci,
            kind: Kind::CheckoutKey,
            scope: "gh/acme/app".into(),
            name: "aa:bb".into(),
            created_at: None,
            updated_at: None,
            flags: Default::default(),
        };
        let b = infer(&it);
        assert!(!b.inferred());
        assert!(b.unlocks.contains("acme/app"), "{}", b.unlocks);
    }
}
