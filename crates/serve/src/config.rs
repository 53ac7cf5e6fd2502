//! `serve.toml`: every key is documented in `docs/serve.md`.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole service configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (default `127.0.0.1:8420`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `sqlite:PATH`, `sqlite::memory:` or `postgres://user@host:port/db`.
    #[serde(default = "default_db")]
    pub database_url: String,
    /// PostgreSQL only: schema to create and use (default: the server's search_path).
    #[serde(default)]
    pub database_schema: Option<String>,
    /// Connections in the pool (default 4): PostgreSQL connections, or SQLite read-only
    /// connections (next to the one writer).
    #[serde(default = "default_pool")]
    pub database_pool_size: usize,
    /// Where CI uploads artifacts: `<staging_dir>/<project>/...`.
    pub staging_dir: PathBuf,
    /// Where published artifacts go: `<published_dir>/<project>/...`.
    pub published_dir: PathBuf,
    /// JSON Lines audit log (created 0600).
    pub audit_log: PathBuf,
    /// File holding the admin credential (first line). One of this and `admin_token_env` is required.
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    /// Environment variable holding the admin credential.
    #[serde(default)]
    pub admin_token_env: Option<String>,
    /// Token lifetimes and validation cache.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// Request limits.
    #[serde(default)]
    pub limits: Limits,
    /// Audit settings.
    #[serde(default)]
    pub audit: AuditSettings,
    /// OIDC trusted publishing.
    #[serde(default)]
    pub oidc: OidcSettings,
    /// Projects created (idempotently) at start, with their trusted publishers.
    #[serde(default)]
    pub projects: Vec<ProjectConfig>,
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:8420".parse().expect("valid")
}
fn default_db() -> String {
    "sqlite:firebreak-serve.db".into()
}
/// Longest allowed `tokens.cache_ttl_ms`: the documented bound on how stale a validation may be.
pub const MAX_CACHE_TTL_MS: u64 = 1000;

fn default_pool() -> usize {
    4
}

/// Token lifetimes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// Lifetime of an admin-issued token when the request gives none (default 30 days).
    pub default_ttl_secs: u64,
    /// Longest lifetime an admin may ask for (default 90 days).
    pub max_ttl_secs: u64,
    /// Lifetime of tokens minted by OIDC exchange (default and maximum 900 s).
    pub oidc_ttl_secs: u64,
    /// How long a validated token stays in the in-memory cache (default and maximum 1000 ms;
    /// 0 disables the cache). Revocation clears the cache of the node that revoked at once;
    /// other replicas see it within this bound.
    pub cache_ttl_ms: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            default_ttl_secs: 30 * 86400,
            max_ttl_secs: 90 * 86400,
            oidc_ttl_secs: 900,
            cache_ttl_ms: 1000,
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted (default 65536 bytes).
    pub max_body_bytes: usize,
    /// Whole-request timeout, slow clients included (default 30 s).
    pub request_timeout_secs: u64,
    /// Sustained requests per second allowed per client IP; 0 disables rate limiting (default 50).
    pub rate_limit_per_sec: f64,
    /// Burst size of the per-client token bucket (default 100).
    pub rate_limit_burst: f64,
    /// Use the first address of `X-Forwarded-For` as the client IP (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            rate_limit_per_sec: 50.0,
            rate_limit_burst: 100.0,
            trust_forwarded_for: false,
        }
    }
}

/// Audit settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Also log successful `token.verify` calls (denied ones are always logged). Default false.
    pub log_allowed_verify: bool,
}

/// OIDC settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// Allowed clock skew for exp / nbf / iat (default 60 s).
    pub clock_skew_secs: u64,
    /// Oldest `iat` accepted (default 3600 s).
    pub max_token_age_secs: u64,
    /// Least time between two JWKS refetches of one issuer on unknown `kid` (default 30 s).
    pub jwks_refetch_min_interval_secs: u64,
    /// Allow `http://` issuers (tests only; default false).
    pub allow_insecure_http: bool,
    /// Trusted issuers.
    pub issuers: Vec<IssuerConfig>,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            clock_skew_secs: 60,
            max_token_age_secs: 3600,
            jwks_refetch_min_interval_secs: 30,
            allow_insecure_http: false,
            issuers: Vec::new(),
        }
    }
}

/// CI providers that can exchange OIDC tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OidcProvider {
    /// GitHub Actions.
    Github,
    /// CircleCI.
    Circleci,
}

impl OidcProvider {
    /// Provider name as stored on tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            OidcProvider::Github => "github",
            OidcProvider::Circleci => "circleci",
        }
    }
}

/// One trusted issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Which claim set to match (`github` or `circleci`).
    pub provider: OidcProvider,
    /// The exact `iss` claim, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// The required `aud` claim.
    pub audience: String,
    /// Discovery document URL (default `<issuer>/.well-known/openid-configuration`).
    #[serde(default)]
    pub discovery_url: Option<String>,
}

/// A project and its trusted publishers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Project name (`[A-Za-z0-9._-]{1,64}`).
    pub name: String,
    /// GitHub Actions publishers.
    #[serde(default)]
    pub github: Vec<GithubPublisher>,
    /// CircleCI publishers.
    #[serde(default)]
    pub circleci: Vec<CircleciPublisher>,
}

/// A GitHub Actions trusted publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubPublisher {
    /// `owner/repo`, matched against the `repository` claim.
    pub repository: String,
    /// Numeric owner id, matched against `repository_owner_id` (guards against renamed owners).
    pub repository_owner_id: String,
    /// Matched against `job_workflow_ref`, e.g. `o/r/.github/workflows/release.yml@refs/heads/main`.
    pub job_workflow_ref: String,
    /// When set, the `environment` claim must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// A CircleCI trusted publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircleciPublisher {
    /// Matched against `oidc.circleci.com/org-id`.
    pub org_id: String,
    /// Matched against `oidc.circleci.com/project-id`.
    pub project_id: String,
}

/// A trusted publisher of either provider (the admin API's body and the stored form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum TrustedPublisher {
    /// GitHub Actions.
    Github(GithubPublisher),
    /// CircleCI.
    Circleci(CircleciPublisher),
}

impl TrustedPublisher {
    /// The provider of this publisher.
    pub fn provider(&self) -> OidcProvider {
        match self {
            TrustedPublisher::Github(_) => OidcProvider::Github,
            TrustedPublisher::Circleci(_) => OidcProvider::Circleci,
        }
    }
}

/// True for a valid project name: `[A-Za-z0-9._-]{1,64}`, not `.` or `..`.
pub fn valid_project_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// True for a valid provider name: `[a-z0-9_-]{1,32}`.
pub fn valid_provider_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
}

impl Config {
    /// Parses a TOML document; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> anyhow::Result<Config> {
        // Not toml's own message: it quotes the offending line, which may hold a secret.
        let cfg: Config = toml::from_str(text).map_err(|e: toml::de::Error| {
            let at = firebreak_core::secret::ParseErrorAt::new(text, e.span(), e.message());
            anyhow::anyhow!("invalid config {}", at.in_file(origin))
        })?;
        cfg.check(origin)?;
        Ok(cfg)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read config: {e}", path.display()))?;
        Config::from_toml(&text, &path.display().to_string())
    }

    fn check(&self, origin: &str) -> anyhow::Result<()> {
        if self.admin_token_file.is_none() && self.admin_token_env.is_none() {
            anyhow::bail!("{origin}: set admin_token_file or admin_token_env (the admin credential is never written inline)");
        }
        if self.tokens.oidc_ttl_secs == 0 || self.tokens.oidc_ttl_secs > 900 {
            anyhow::bail!("{origin}: tokens.oidc_ttl_secs must be in 1..=900");
        }
        if self.tokens.default_ttl_secs == 0 || self.tokens.default_ttl_secs > self.tokens.max_ttl_secs {
            anyhow::bail!("{origin}: tokens.default_ttl_secs must be in 1..=tokens.max_ttl_secs");
        }
        if self.tokens.cache_ttl_ms > MAX_CACHE_TTL_MS {
            anyhow::bail!(
                "{origin}: tokens.cache_ttl_ms must be in 0..={MAX_CACHE_TTL_MS} (it bounds how long a revocation on another replica takes to apply)"
            );
        }
        for p in &self.projects {
            if !valid_project_name(&p.name) {
                anyhow::bail!(
                    "{origin}: project name {:?} must match [A-Za-z0-9._-]{{1,64}}",
                    p.name
                );
            }
        }
        for i in &self.oidc.issuers {
            let u = url::Url::parse(&i.issuer)
                .map_err(|e| anyhow::anyhow!("{origin}: issuer {:?}: {e}", i.issuer))?;
            if u.scheme() != "https" && !self.oidc.allow_insecure_http {
                anyhow::bail!(
                    "{origin}: issuer {:?} must use https (oidc.allow_insecure_http is for tests)",
                    i.issuer
                );
            }
        }
        if let Some(s) = &self.database_schema {
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                anyhow::bail!("{origin}: database_schema must match [a-z0-9_]+");
            }
        }
        Ok(())
    }

    /// Reads the admin credential from its file or environment variable.
    pub fn read_admin_token(&self) -> anyhow::Result<firebreak_core::SecretString> {
        let v = if let Some(p) = &self.admin_token_file {
            let t = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("{}: cannot read admin token file: {e}", p.display()))?;
            t.lines().next().unwrap_or("").trim().to_string()
        } else if let Some(var) = &self.admin_token_env {
            std::env::var(var).map_err(|_| anyhow::anyhow!("admin token variable {var} is not set"))?
        } else {
            String::new()
        };
        if v.len() < 16 {
            anyhow::bail!("the admin credential must be at least 16 characters");
        }
        Ok(firebreak_core::SecretString::new(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_example() {
        let doc = include_str!("../../../docs/serve.md");
        let start = doc.find("```toml\n").expect("docs/serve.md has a toml example") + 8;
        let end = start + doc[start..].find("```").unwrap();
        let cfg = Config::from_toml(&doc[start..end], "docs/serve.md").unwrap();
        assert_eq!(cfg.projects.len(), 2);
        assert!(!cfg.oidc.issuers.is_empty());
    }

    #[test]
    fn cache_ttl_is_bounded() {
        let base = "staging_dir='s'\npublished_dir='p'\naudit_log='a'\nadmin_token_env='X'\n";
        let cfg = Config::from_toml(base, "t").unwrap();
        assert_eq!(cfg.tokens.cache_ttl_ms, 1000);
        for ok in [0, 250, MAX_CACHE_TTL_MS] {
            assert!(Config::from_toml(&format!("{base}[tokens]\ncache_ttl_ms = {ok}\n"), "t").is_ok());
        }
        let e = Config::from_toml(&format!("{base}[tokens]\ncache_ttl_ms = 1001\n"), "t").unwrap_err();
        assert!(e.to_string().contains("tokens.cache_ttl_ms"), "{e}");
    }

    #[test]
    fn refuses_inline_admin_token_and_missing_credential() {
        let base = "staging_dir='s'\npublished_dir='p'\naudit_log='a'\n";
        assert!(Config::from_toml(base, "t").is_err());
        assert!(Config::from_toml(&format!("{base}admin_token='x'\n"), "t").is_err());
        // A credential pasted inline (the field does not exist) or as a bad value:
        // the error names the line, never the value.
        let token = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yh1Jd6Gf0Sa2Qe9Xw";
        let lines = base.lines().count();
        for (bad, col) in [
            (format!("admin_token = '{token}'\n"), 1),
            (format!("listen = {token}\n"), 10),
            (format!("[tokens]\ndefault_ttl_secs = '{token}'\n"), 20),
        ] {
            let e = Config::from_toml(&format!("{base}{bad}"), "serve.toml")
                .unwrap_err()
                .to_string();
            assert!(!e.contains(&token[4..]), "{e}");
            let line = lines + bad.lines().count();
            assert!(e.contains(&format!("serve.toml:{line}:{col}: ")), "{e}");
        }
        assert!(Config::from_toml(&format!("{base}admin_token_env='X'\n"), "t").is_ok());
    }

    #[test]
    fn names() {
        assert!(valid_project_name("numpy-feedstock"));
        assert!(!valid_project_name(".."));
        assert!(!valid_project_name("a/b"));
        assert!(valid_provider_name("circleci"));
        assert!(!valid_provider_name("CircleCI"));
    }
}
