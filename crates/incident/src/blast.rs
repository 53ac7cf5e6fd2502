//! Blast radius: what a stored secret unlocks, and which audit logs to hunt for its misuse.
//!
//! An inventory never holds values, so most of what firebreak can say comes from the
//! secret's kind and name, and is marked *inferred*. Better evidence when it is at hand:
//! - keys (CircleCI checkout keys, GitHub deploy keys, CircleCI SSH keys): the repository
//!   or host comes from the inventory itself (not inferred);
//! - an AWS access key id (`AKIA…` / `ASIA…`, from a values file or found in a CI log):
//!   its account id is decoded offline from the key id ([`aws_account_from_key_id`]);
//!   with the secret key too and `--verify-credentials`, `sts:GetCallerIdentity` names the
//!   IAM user or role ([`sts_get_caller_identity`]);
//! - a GitHub token with `--verify-credentials`: `GET /user` names its owner and the
//!   `X-OAuth-Scopes` header its scopes ([`github_token_owner`]).
//!
//! Values are held in [`SecretString`] only while the playbook is built, and never
//! stored or printed (key ids are shown redacted; account ids are not secrets).

use firebreak_core::SecretString;
use firebreak_providers::{Item, Kind};
use serde::{Deserialize, Serialize};

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
    /// `sts:GetCallerIdentity` answered.
    StsGetCallerIdentity,
    /// GitHub `GET /user` answered.
    GithubUser,
}

impl Method {
    /// True when the result is a guess rather than established.
    pub fn inferred(self) -> bool {
        matches!(self, Method::Name)
    }
}

/// What a secret unlocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blast {
    /// In words.
    pub unlocks: String,
    /// Audit logs to hunt.
    pub hunt_logs: Vec<String>,
    /// How it was established.
    pub method: Method,
    /// AWS account id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account: Option<String>,
    /// IAM ARN / GitHub login, when an API said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// GitHub token scopes, when GitHub said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

impl Blast {
    fn named(unlocks: impl Into<String>, logs: &[&str]) -> Blast {
        Blast {
            unlocks: unlocks.into(),
            hunt_logs: logs.iter().map(|s| s.to_string()).collect(),
            method: Method::Name,
            aws_account: None,
            principal: None,
            scopes: None,
        }
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
            return Blast {
                unlocks: if rw {
                    format!("git read/write as the key's user, on every repository that user can reach (user key of {repo})")
                } else {
                    format!("git clone of repository {repo} (checkout deploy key)")
                },
                hunt_logs: vec![format!(
                    "{} (git.clone / public_key events for {repo})",
                    logs::GITHUB_AUDIT
                )],
                method: Method::Inventory,
                aws_account: None,
                principal: None,
                scopes: None,
            };
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
            return Blast {
                unlocks: format!("git {access} access to repository {} (deploy key)", item.scope),
                hunt_logs: vec![format!(
                    "{} (git.clone / git.push with deploy key, repo {})",
                    logs::GITHUB_AUDIT,
                    item.scope
                )],
                method: Method::Inventory,
                aws_account: None,
                principal: None,
                scopes: None,
            };
        }
        Kind::SshKey => {
            let host = item.flags.detail.clone().unwrap_or_else(|| "a host".into());
            return Blast {
                unlocks: format!("SSH access configured for {host} (CircleCI additional SSH key)"),
                hunt_logs: vec![format!("sshd / auth logs of {host}")],
                method: Method::Inventory,
                aws_account: None,
                principal: None,
                scopes: None,
            };
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
    Blast {
        unlocks,
        hunt_logs: vec![format!("{} ({s})", logs::GITLAB_AUDIT)],
        method: Method::Inventory,
        aws_account: None,
        principal: None,
        scopes,
    }
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
            "AWS account {acct} (decoded offline from access key id {}; IAM user not known without sts:GetCallerIdentity)",
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

/// What `sts:GetCallerIdentity` says about a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerIdentity {
    /// Account id.
    pub account: String,
    /// ARN of the user or role.
    pub arn: String,
    /// Unique id.
    pub user_id: String,
}

use firebreak_http::aws::xml_tag;

/// Calls `sts:GetCallerIdentity` (read-only; needs no permission) with a credential.
/// `endpoint` defaults to `https://sts.amazonaws.com/` (moto in tests).
pub async fn sts_get_caller_identity(
    key_id: &str,
    secret: &SecretString,
    endpoint: Option<&str>,
    region: &str,
) -> Result<CallerIdentity, String> {
    let ep = endpoint.unwrap_or("https://sts.amazonaws.com/");
    let url = url::Url::parse(ep).map_err(|e| format!("STS endpoint {ep}: {e}"))?;
    let creds = firebreak_http::aws::AwsCredentials {
        access_key_id: key_id.to_string(),
        secret_access_key: secret.clone(),
        session_token: None,
    };
    use firebreak_http::{Auth, Http};
    let http =
        Http::new(&url, Auth::None, firebreak_http::HttpConfig::default()).map_err(|e| e.to_string())?;
    let mut req = firebreak_http::aws::query_request(
        &url,
        "sts",
        region,
        "2011-06-15",
        "GetCallerIdentity",
        &[],
        &creds,
    )
    .map_err(|e| format!("sts:GetCallerIdentity at {ep}: {e}"))?;
    // read-only: safe to send again after an ambiguous failure
    req.replay = firebreak_http::Replay::Safe;
    req.any_status = true;
    let resp = http
        .execute(req)
        .await
        .map_err(|e| format!("sts:GetCallerIdentity at {ep}: {e}"))?;
    let text = String::from_utf8_lossy(&resp.body).into_owned();
    if resp.status >= 300 {
        let code = xml_tag(&text, "Code").unwrap_or("?");
        return Err(format!(
            "sts:GetCallerIdentity at {ep}: HTTP {} {code}",
            resp.status
        ));
    }
    match (
        xml_tag(&text, "Account"),
        xml_tag(&text, "Arn"),
        xml_tag(&text, "UserId"),
    ) {
        (Some(a), Some(arn), Some(u)) => Ok(CallerIdentity {
            account: a.to_string(),
            arn: arn.to_string(),
            user_id: u.to_string(),
        }),
        _ => Err(format!("sts:GetCallerIdentity at {ep}: unexpected answer")),
    }
}

/// Sharpens a blast radius with what STS said.
pub fn with_caller_identity(mut b: Blast, key_id: &str, c: &CallerIdentity) -> Blast {
    b.unlocks = format!(
        "AWS account {} as {} (sts:GetCallerIdentity with access key {})",
        c.account,
        c.arn,
        firebreak_core::redact(key_id)
    );
    b.hunt_logs = vec![format!(
        "{} of account {} for {} (userIdentity.accessKeyId = the key id)",
        logs::CLOUDTRAIL,
        c.account,
        c.arn
    )];
    b.method = Method::StsGetCallerIdentity;
    b.aws_account = Some(c.account.clone());
    b.principal = Some(c.arn.clone());
    b
}

/// What GitHub says about a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubOwner {
    /// The token's user.
    pub login: String,
    /// Scopes (`X-OAuth-Scopes`; empty for fine-grained tokens and apps).
    pub scopes: Vec<String>,
}

/// `GET {api}/user` with the token: its owner and scopes. `api` defaults to
/// `https://api.github.com`.
pub async fn github_token_owner(token: &SecretString, api: Option<&str>) -> Result<GithubOwner, String> {
    let base = api.unwrap_or("https://api.github.com").trim_end_matches('/');
    let url = format!("{base}/user");
    use firebreak_http::{Auth, Http, Request};
    let u = url::Url::parse(&url).map_err(|e| format!("GET {url}: {e}"))?;
    let http = Http::new(
        &u,
        Auth::Bearer(token.clone()),
        firebreak_http::HttpConfig::default(),
    )
    .map_err(|e| e.to_string())?;
    let mut req = Request::new(firebreak_http::Method::GET, u);
    req.headers.push((
        firebreak_http::header::ACCEPT,
        firebreak_http::header::HeaderValue::from_static("application/vnd.github+json"),
    ));
    req.any_status = true;
    let resp = http.execute(req).await.map_err(|e| e.to_string())?;
    let status = resp.status;
    let scopes: Vec<String> = resp
        .header("x-oauth-scopes")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if status >= 300 {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    let v: serde_json::Value = resp.json("GET").map_err(|e| e.to_string())?;
    let login = v["login"]
        .as_str()
        .ok_or_else(|| format!("GET {url}: no login in the answer"))?;
    Ok(GithubOwner {
        login: login.to_string(),
        scopes,
    })
}

/// Sharpens a blast radius with what GitHub said.
pub fn with_github_owner(mut b: Blast, o: &GithubOwner) -> Blast {
    let scopes = if o.scopes.is_empty() {
        "no classic scopes reported (fine-grained token or app: check its permissions)".to_string()
    } else {
        format!("scopes {}", o.scopes.join(", "))
    };
    b.unlocks = format!("GitHub as user {} ({scopes})", o.login);
    b.hunt_logs = vec![format!(
        "{} and security log of {} (actor = {})",
        logs::GITHUB_AUDIT,
        o.login,
        o.login
    )];
    b.method = Method::GithubUser;
    b.principal = Some(o.login.clone());
    b.scopes = Some(o.scopes.clone());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

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
