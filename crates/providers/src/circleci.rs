//! CircleCI client: API v2 (`Circle-Token`), plus v1.1 where v2 has no equivalent
//! (project list, additional SSH keys, project API tokens, the legacy AWS key pair, job
//! step logs), and the self-hosted runner API (resource classes and their tokens).
//!
//! Project slugs (`gh/org/repo`) are ONE path parameter and are sent URL-encoded
//! (`gh%2Forg%2Frepo`). Environment variable values returned by the API (masked) are
//! never deserialised.

use crate::http::{parse_ts, url_for, Auth, Http, HttpConfig, HttpError, PageGuard};
use crate::Listing;
use chrono::{DateTime, Utc};
use firebreak_core::SecretString;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

/// Default API base (v2) for circleci.com.
pub const DEFAULT_API_URL: &str = "https://circleci.com/api/v2";
/// Environment variable holding the token.
pub const TOKEN_ENV: &str = "CIRCLECI_TOKEN";
/// The self-hosted runner API of circleci.com (a host of its own).
pub const DEFAULT_RUNNER_URL: &str = "https://runner.circleci.com/api/v3";

/// A CircleCI connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: Http,
    v2: Url,
    v1: Url,
    runner: std::sync::Arc<RunnerSide>,
}

/// The runner API base (`…/api/v3`), and its HTTP layer: the same token, bound to that
/// origin (runner.circleci.com for circleci.com; the API host for a server).
#[derive(Debug)]
struct RunnerSide {
    url: Url,
    http: Http,
    /// Kept for [`Client::with_runner_url`] (a redacting type: never printed).
    token: SecretString,
}

/// A project API token (v1.1): label, scope and creation time. The token itself is
/// never parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectToken {
    /// Token id (what delete takes); not the token.
    pub id: String,
    /// Label given at creation.
    pub label: String,
    /// `status`, `view-builds` (read only) or `all` (admin).
    pub scope: String,
    /// Creation time (`time`).
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawProjectToken {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    time: Option<String>,
}

impl From<RawProjectToken> for ProjectToken {
    fn from(r: RawProjectToken) -> Self {
        ProjectToken {
            id: match r.id {
                Some(serde_json::Value::String(s)) => s,
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            },
            label: r.label.unwrap_or_default(),
            scope: r.scope.unwrap_or_default(),
            created_at: parse_ts(r.time.as_deref()),
        }
    }
}

/// The legacy AWS key pair of a project's settings (v1.1 `aws.keypair`): the access key
/// id only. The secret access key (returned masked) is never parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsKeypair {
    /// The access key id (`AKIA…`).
    pub access_key_id: String,
}

/// What the inventory reads from a project's v1.1 settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProjectSettings {
    /// Additional SSH keys.
    pub ssh_keys: Vec<SshKey>,
    /// The legacy AWS key pair, when one is set.
    pub aws_keypair: Option<AwsKeypair>,
}

#[derive(Deserialize, Default)]
struct RawSettings {
    #[serde(default)]
    ssh_keys: Vec<SshKey>,
    #[serde(default)]
    aws: Option<RawAws>,
}

#[derive(Deserialize, Default)]
struct RawAws {
    #[serde(default)]
    keypair: Option<RawKeypair>,
}

#[derive(Deserialize, Default)]
struct RawKeypair {
    #[serde(default)]
    access_key_id: Option<String>,
}

impl From<RawSettings> for ProjectSettings {
    fn from(r: RawSettings) -> Self {
        ProjectSettings {
            ssh_keys: r.ssh_keys,
            aws_keypair: r
                .aws
                .and_then(|a| a.keypair)
                .and_then(|k| k.access_key_id)
                .filter(|k| !k.trim().is_empty())
                .map(|access_key_id| AwsKeypair { access_key_id }),
        }
    }
}

/// A project as v2 `GET /project/{slug}` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// Slug (`gh/org/repo`).
    pub slug: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Organisation name.
    #[serde(default)]
    pub organization_name: String,
    /// Where the code lives (`vcs_url`, `provider`: `GitHub`, `Bitbucket`, or `CircleCI`
    /// for projects connected through CircleCI's GitLab or GitHub App integrations).
    #[serde(default)]
    pub vcs_info: Option<VcsInfo>,
}

/// A project's VCS (`vcs_info` of `GET /project/{slug}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcsInfo {
    /// URL of the repository (`https://gitlab.com/group/project`).
    #[serde(default)]
    pub vcs_url: String,
    /// `GitHub`, `Bitbucket` or `CircleCI`.
    #[serde(default)]
    pub provider: String,
}

impl VcsInfo {
    /// The GitLab project path (`group/sub/project`) when the repository is at a GitLab
    /// host: `gitlab_host` (the instance of `--gitlab-api-url`) or any host named
    /// `gitlab…`.
    pub fn gitlab_path(&self, gitlab_host: Option<&str>) -> Option<String> {
        let u = url::Url::parse(&self.vcs_url).ok()?;
        let host = u.host_str()?;
        let at_gitlab = gitlab_host.is_some_and(|h| h.eq_ignore_ascii_case(host))
            || host.split('.').any(|l| l.eq_ignore_ascii_case("gitlab"));
        if !at_gitlab || self.provider.eq_ignore_ascii_case("github") {
            return None;
        }
        let p = u.path().trim_matches('/').trim_end_matches(".git");
        (p.contains('/')).then(|| p.to_string())
    }
}

/// A self-hosted runner resource class (runner API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerResourceClass {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// `namespace/name`.
    pub resource_class: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A runner resource-class token's metadata (the token is shown only at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunnerToken {
    /// Id (what delete takes).
    pub id: String,
    /// `namespace/name`.
    pub resource_class: String,
    /// Nickname given at creation.
    pub nickname: String,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawRunnerToken {
    #[serde(default)]
    id: String,
    #[serde(default)]
    resource_class: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    created_at: Option<String>,
}

impl From<RawRunnerToken> for RunnerToken {
    fn from(r: RawRunnerToken) -> Self {
        RunnerToken {
            id: r.id,
            resource_class: r.resource_class,
            nickname: r.nickname,
            created_at: parse_ts(r.created_at.as_deref()),
        }
    }
}

/// A runner token just created: its metadata and the token, shown this once.
#[derive(Debug, Clone)]
pub struct NewRunnerToken {
    /// Metadata.
    pub meta: RunnerToken,
    /// The token.
    pub token: SecretString,
}

#[derive(Deserialize)]
struct Items<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize)]
struct RawPipeline {
    #[serde(default)]
    project_slug: String,
}

/// A project environment variable (name, timestamp, and the last characters of the
/// value that the API shows; the value itself is never readable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// `created-at` (CircleCI replaces a variable on write, so this is its last write).
    pub created_at: Option<DateTime<Utc>>,
    /// The last 4 characters of the value, from the API's masked `value` (`xxxxABCD`).
    #[serde(skip)]
    pub masked_tail: Option<SecretString>,
}

#[derive(Deserialize)]
struct RawEnvVar {
    name: String,
    #[serde(rename = "created-at", alias = "created_at")]
    created_at: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

/// The shown tail of a masked CircleCI value: `xxxxABCD` → `ABCD`.
fn masked_tail(v: Option<&str>) -> Option<SecretString> {
    let rest = v?.strip_prefix("xxxx")?;
    (rest.chars().count() == 4).then(|| SecretString::new(rest))
}

impl From<RawEnvVar> for EnvVar {
    fn from(r: RawEnvVar) -> Self {
        EnvVar {
            name: r.name,
            created_at: parse_ts(r.created_at.as_deref()),
            masked_tail: masked_tail(r.value.as_deref()),
        }
    }
}

/// A checkout key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutKey {
    /// Fingerprint (identifies the key for delete).
    pub fingerprint: String,
    /// `deploy-key` or `github-user-key` (`user-key`).
    pub key_type: String,
    /// Whether CircleCI uses this key for checkout.
    pub preferred: bool,
    /// Public key.
    pub public_key: String,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawCheckoutKey {
    fingerprint: String,
    #[serde(rename = "type", default)]
    key_type: String,
    #[serde(default)]
    preferred: bool,
    #[serde(rename = "public-key", default)]
    public_key: String,
    #[serde(rename = "created-at", alias = "created_at")]
    created_at: Option<String>,
}

impl From<RawCheckoutKey> for CheckoutKey {
    fn from(r: RawCheckoutKey) -> Self {
        CheckoutKey {
            fingerprint: r.fingerprint,
            key_type: r.key_type,
            preferred: r.preferred,
            public_key: r.public_key,
            created_at: parse_ts(r.created_at.as_deref()),
        }
    }
}

/// Type of checkout key to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutKeyType {
    /// A repository deploy key.
    DeployKey,
    /// A user key.
    UserKey,
}

/// An additional SSH key (v1.1 project settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKey {
    /// Host the key is for (may be empty).
    #[serde(default)]
    pub hostname: String,
    /// Fingerprint.
    pub fingerprint: String,
}

/// A context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawContext {
    id: String,
    name: String,
    created_at: Option<String>,
}

/// A context environment variable (metadata only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextVar {
    /// Variable name.
    pub variable: String,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawContextVar {
    variable: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

impl From<RawContextVar> for ContextVar {
    fn from(r: RawContextVar) -> Self {
        ContextVar {
            variable: r.variable,
            created_at: parse_ts(r.created_at.as_deref()),
            updated_at: parse_ts(r.updated_at.as_deref()),
        }
    }
}

/// Who owns contexts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `owner-slug`, e.g. `gh/acme`.
    Slug(String),
    /// `owner-id` (organisation UUID).
    Id(String),
}

/// One job step's log, as downloaded.
#[derive(Debug, Clone)]
pub struct JobLog {
    /// `circleci:SLUG/BUILD_NUM/STEP/ACTION_INDEX`.
    pub name: String,
    /// The step's output (messages concatenated).
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct RawProject {
    #[serde(default)]
    vcs_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    reponame: String,
    vcs_type: Option<String>,
}

#[derive(Deserialize)]
struct RawBuildSummary {
    build_num: u64,
    start_time: Option<String>,
    queued_at: Option<String>,
}

#[derive(Deserialize)]
struct RawBuild {
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
struct RawStep {
    #[serde(default)]
    name: String,
    #[serde(default)]
    actions: Vec<RawAction>,
}

#[derive(Deserialize)]
struct RawAction {
    #[serde(default)]
    index: u64,
    output_url: Option<String>,
}

#[derive(Deserialize)]
struct RawLogLine {
    #[serde(default)]
    message: String,
}

/// An AWS access key id shown the way firebreak names it: the first and last 4
/// characters (`AKIA…MPLE`): enough to tell two keys apart and to find the key at AWS,
/// never the whole id.
pub fn redact_key_id(key_id: &str) -> String {
    let c: Vec<char> = key_id.chars().filter(|c| !c.is_control()).collect();
    if c.len() <= 12 {
        return "…".into();
    }
    let head: String = c[..4].iter().collect();
    let tail: String = c[c.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The inventory name of a project's legacy AWS key pair: `aws-keypair AKIA…MPLE`.
pub fn aws_keypair_name(access_key_id: &str) -> String {
    format!("aws-keypair {}", redact_key_id(access_key_id))
}

/// Splits `vcs/org/repo` and returns the v1.1 path form (`github/org/repo`).
pub fn v1_project_path(slug: &str) -> Option<[String; 3]> {
    let mut it = slug.splitn(3, '/');
    let (vcs, org, repo) = (it.next()?, it.next()?, it.next()?);
    let vcs = match vcs {
        "gh" | "github" => "github",
        "bb" | "bitbucket" => "bitbucket",
        other => other,
    };
    Some([vcs.to_string(), org.to_string(), repo.to_string()])
}

impl Client {
    /// A client for the v2 API at `api_url` (e.g. `https://circleci.com/api/v2`; v1.1 is
    /// derived by replacing a trailing `/api/v2` with `/api/v1.1`, or appending `/api/v1.1`).
    pub fn new(api_url: &str, token: SecretString, cfg: HttpConfig) -> Result<Self, HttpError> {
        let v2 = Url::parse(api_url).map_err(|e| HttpError::BadUrl {
            // A flag's value, which may hold credentials (`https://user:token@host`).
            url: firebreak_core::secret::quote_untrusted(api_url),
            message: e.to_string(),
        })?;
        let trimmed = api_url.trim_end_matches('/');
        let v1s = match trimmed.strip_suffix("/api/v2") {
            Some(root) => format!("{root}/api/v1.1"),
            None => format!("{trimmed}/api/v1.1"),
        };
        let v1 = Url::parse(&v1s).map_err(|e| HttpError::BadUrl {
            url: firebreak_core::secret::quote_untrusted(&v1s),
            message: e.to_string(),
        })?;
        let runner_s = if v2.host_str() == Some("circleci.com") {
            DEFAULT_RUNNER_URL.to_string()
        } else {
            match trimmed.strip_suffix("/api/v2") {
                Some(root) => format!("{root}/api/v3"),
                None => format!("{trimmed}/api/v3"),
            }
        };
        let runner = Url::parse(&runner_s).map_err(|e| HttpError::BadUrl {
            url: firebreak_core::secret::quote_untrusted(&runner_s),
            message: e.to_string(),
        })?;
        let http = Http::new(
            &v2,
            Auth::Header {
                name: "circle-token",
                token: token.clone(),
            },
            cfg.clone(),
        )?;
        let runner_http = if runner.origin() == v2.origin() {
            http.clone()
        } else {
            Http::new(
                &runner,
                Auth::Header {
                    name: "circle-token",
                    token: token.clone(),
                },
                cfg,
            )?
        };
        Ok(Client {
            http,
            v2,
            v1,
            runner: std::sync::Arc::new(RunnerSide {
                url: runner,
                http: runner_http,
                token,
            }),
        })
    }

    /// The same client with the runner API at `url` (`https://HOST/api/v3`); the token
    /// is sent there too, and only there besides the v2 / v1.1 origin.
    pub fn with_runner_url(mut self, url: &str) -> Result<Self, HttpError> {
        let runner = Url::parse(url).map_err(|e| HttpError::BadUrl {
            url: firebreak_core::secret::quote_untrusted(url),
            message: e.to_string(),
        })?;
        let token = self.runner.token.clone();
        let http = if runner.origin() == self.v2.origin() {
            self.http.clone()
        } else {
            Http::new(
                &runner,
                Auth::Header {
                    name: "circle-token",
                    token: token.clone(),
                },
                self.http.config().clone(),
            )?
        };
        self.runner = std::sync::Arc::new(RunnerSide {
            url: runner,
            http,
            token,
        });
        Ok(self)
    }

    /// The runner API base URL.
    pub fn runner_url(&self) -> &Url {
        &self.runner.url
    }

    /// The shared HTTP layer (counters, config).
    pub fn http(&self) -> &Http {
        &self.http
    }

    async fn list_v2<R: for<'de> Deserialize<'de>, T: From<R>>(&self, base: Url) -> Listing<T> {
        let mut out = Vec::new();
        let mut guard = PageGuard::new(self.http.config().max_pages);
        let mut token: Option<String> = None;
        loop {
            let mut u = base.clone();
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("page-token", t);
            }
            match self.http.get_json::<Page<R>>(&u).await {
                Ok((page, _)) => {
                    out.extend(page.items.into_iter().map(T::from));
                    match page.next_page_token.filter(|t| !t.is_empty()) {
                        Some(t) => {
                            if let Err(e) = guard.next(&u, &t) {
                                return Listing::partial(out, e);
                            }
                            token = Some(t);
                        }
                        None => return Listing::ok(out),
                    }
                }
                Err(e) => return Listing::partial(out, e),
            }
        }
    }

    /// Projects the token follows in organisation `org` (v1.1 `GET /projects`), as
    /// slugs `gh/org/repo`. `org` may be `org` or `vcs/org`.
    pub async fn list_projects(&self, org: &str) -> Result<Vec<String>, HttpError> {
        let org_name = org.rsplit('/').next().unwrap_or(org);
        let u = url_for(&self.v1, "projects", &[]);
        let (raw, _) = self.http.get_json::<Vec<RawProject>>(&u).await?;
        let mut out = Vec::new();
        for p in raw {
            if !p.username.eq_ignore_ascii_case(org_name) {
                continue;
            }
            let vcs = match p.vcs_type.as_deref() {
                Some("github") => "gh",
                Some("bitbucket") => "bb",
                Some(o) => o,
                None if p.vcs_url.contains("bitbucket") => "bb",
                None => "gh",
            };
            out.push(format!("{vcs}/{}/{}", p.username, p.reponame));
        }
        Ok(out)
    }

    /// Project environment variables (`GET /project/{slug}/envvar`).
    pub async fn list_env_vars(&self, slug: &str) -> Listing<EnvVar> {
        self.list_v2::<RawEnvVar, EnvVar>(url_for(&self.v2, "project", &[slug, "envvar"]))
            .await
    }

    /// One project environment variable, `None` when absent (404).
    pub async fn get_env_var(&self, slug: &str, name: &str) -> Result<Option<EnvVar>, HttpError> {
        let u = url_for(&self.v2, "project", &[slug, "envvar", name]);
        match self.http.get_json::<RawEnvVar>(&u).await {
            Ok((r, _)) => Ok(Some(r.into())),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces a project environment variable (`POST /project/{slug}/envvar`).
    pub async fn create_env_var(
        &self,
        slug: &str,
        name: &str,
        value: &SecretString,
    ) -> Result<EnvVar, HttpError> {
        let u = url_for(&self.v2, "project", &[slug, "envvar"]);
        let body = json!({"name": name, "value": value.expose()});
        // documented as create-or-replace: sending it twice stores the same value
        let r = self
            .http
            .send_replay(Method::POST, &u, Some(&body), crate::http::Replay::Safe)
            .await?;
        Ok(r.json::<RawEnvVar>("POST")?.into())
    }

    /// Deletes a project environment variable.
    pub async fn delete_env_var(&self, slug: &str, name: &str) -> Result<(), HttpError> {
        let u = url_for(&self.v2, "project", &[slug, "envvar", name]);
        self.http.send(Method::DELETE, &u, None).await.map(|_| ())
    }

    /// Checkout keys (`GET /project/{slug}/checkout-key`).
    pub async fn list_checkout_keys(&self, slug: &str) -> Listing<CheckoutKey> {
        self.list_v2::<RawCheckoutKey, CheckoutKey>(url_for(&self.v2, "project", &[slug, "checkout-key"]))
            .await
    }

    /// Checkout keys with SHA-256 fingerprints (`GET /project/{slug}/checkout-key?digest=sha256`):
    /// the `fingerprint` of each is `SHA256:…`, as GitHub and GitLab show deploy keys.
    pub async fn list_checkout_keys_sha256(&self, slug: &str) -> Listing<CheckoutKey> {
        let mut u = url_for(&self.v2, "project", &[slug, "checkout-key"]);
        u.query_pairs_mut().append_pair("digest", "sha256");
        self.list_v2::<RawCheckoutKey, CheckoutKey>(u).await
    }

    /// A project (`GET /project/{slug}`): answers for every project the token can see,
    /// followed or not (404 when it does not exist or is hidden from the token).
    pub async fn get_project(&self, slug: &str) -> Result<ProjectInfo, HttpError> {
        let u = url_for(&self.v2, "project", &[slug]);
        Ok(self.http.get_json::<ProjectInfo>(&u).await?.0)
    }

    /// The project slugs of an organisation's recent pipelines (`GET /pipeline?org-slug=`),
    /// at most `max_pages` pages, in order of first appearance, without repeats. Lists
    /// projects the token does not follow too.
    pub async fn list_pipeline_projects(&self, org_slug: &str, max_pages: usize) -> Listing<String> {
        let mut out: Vec<String> = Vec::new();
        let mut guard = PageGuard::new(self.http.config().max_pages);
        let mut token: Option<String> = None;
        for _ in 0..max_pages.max(1) {
            let mut u = url_for(&self.v2, "pipeline", &[]);
            u.query_pairs_mut().append_pair("org-slug", org_slug);
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("page-token", t);
            }
            match self.http.get_json::<Page<RawPipeline>>(&u).await {
                Ok((page, _)) => {
                    for p in page.items {
                        if !p.project_slug.is_empty() && !out.contains(&p.project_slug) {
                            out.push(p.project_slug);
                        }
                    }
                    match page.next_page_token.filter(|t| !t.is_empty()) {
                        Some(t) => {
                            if let Err(e) = guard.next(&u, &t) {
                                return Listing::partial(out, e);
                            }
                            token = Some(t);
                        }
                        None => break,
                    }
                }
                Err(e) => return Listing::partial(out, e),
            }
        }
        Listing::ok(out)
    }

    /// Project API tokens (v1.1 `GET /project/{vcs}/{org}/{repo}/token`): label, scope,
    /// time and id; the tokens themselves are never parsed.
    pub async fn list_project_tokens(&self, slug: &str) -> Result<Vec<ProjectToken>, HttpError> {
        let u = self.v1_project(slug, &["token"])?;
        let (raw, _) = self.http.get_json::<Vec<RawProjectToken>>(&u).await?;
        Ok(raw.into_iter().map(ProjectToken::from).collect())
    }

    /// Creates a project API token (v1.1 `POST /project/{vcs}/{org}/{repo}/token` with
    /// `{scope, label}`): its metadata and the token (shown once). Never resent: a retry
    /// after a lost reply would create a second token.
    pub async fn create_project_token(
        &self,
        slug: &str,
        scope: &str,
        label: &str,
    ) -> Result<(ProjectToken, SecretString), HttpError> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(flatten)]
            meta: RawProjectToken,
            token: String,
        }
        let u = self.v1_project(slug, &["token"])?;
        let body = json!({"scope": scope, "label": label});
        let r = self.http.send(Method::POST, &u, Some(&body)).await?;
        let c = r.json::<Created>("POST")?;
        Ok((c.meta.into(), SecretString::new(c.token)))
    }

    /// Deletes a project API token (v1.1 `DELETE /project/{vcs}/{org}/{repo}/token/{id}`).
    pub async fn delete_project_token(&self, slug: &str, id: &str) -> Result<(), HttpError> {
        let u = self.v1_project(slug, &["token", id])?;
        self.http.send(Method::DELETE, &u, None).await.map(|_| ())
    }

    /// Resource classes of a runner namespace (runner API `GET /runner/resource?namespace=`).
    pub async fn list_runner_resource_classes(&self, namespace: &str) -> Listing<RunnerResourceClass> {
        let mut u = url_for(&self.runner.url, "runner", &["resource"]);
        u.query_pairs_mut().append_pair("namespace", namespace);
        match self.runner.http.get_json::<Items<RunnerResourceClass>>(&u).await {
            Ok((r, _)) => Listing::ok(r.items),
            Err(e) => Listing::partial(Vec::new(), e),
        }
    }

    /// Tokens of a resource class (runner API `GET /runner/token?resource-class=`): metadata only.
    pub async fn list_runner_tokens(&self, resource_class: &str) -> Listing<RunnerToken> {
        let mut u = url_for(&self.runner.url, "runner", &["token"]);
        u.query_pairs_mut().append_pair("resource-class", resource_class);
        match self.runner.http.get_json::<Items<RawRunnerToken>>(&u).await {
            Ok((r, _)) => Listing::ok(r.items.into_iter().map(RunnerToken::from).collect()),
            Err(e) => Listing::partial(Vec::new(), e),
        }
    }

    /// Creates a resource-class token (runner API `POST /runner/token`). Never resent:
    /// a retry after a lost reply would create a second token.
    pub async fn create_runner_token(
        &self,
        resource_class: &str,
        nickname: &str,
    ) -> Result<NewRunnerToken, HttpError> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(flatten)]
            meta: RawRunnerToken,
            token: String,
        }
        let u = url_for(&self.runner.url, "runner", &["token"]);
        let body = json!({"resource_class": resource_class, "nickname": nickname});
        let r = self.runner.http.send(Method::POST, &u, Some(&body)).await?;
        let c = r.json::<Created>("POST")?;
        Ok(NewRunnerToken {
            meta: c.meta.into(),
            token: SecretString::new(c.token),
        })
    }

    /// Deletes a resource-class token (runner API `DELETE /runner/token/{id}`).
    pub async fn delete_runner_token(&self, id: &str) -> Result<(), HttpError> {
        let u = url_for(&self.runner.url, "runner", &["token", id]);
        self.runner.http.send(Method::DELETE, &u, None).await.map(|_| ())
    }

    /// The HTTP layer of the runner API (its own origin on circleci.com).
    pub fn runner_http(&self) -> &Http {
        &self.runner.http
    }

    /// Creates a checkout key (CircleCI generates the pair and registers the public half).
    pub async fn create_checkout_key(
        &self,
        slug: &str,
        key_type: CheckoutKeyType,
    ) -> Result<CheckoutKey, HttpError> {
        let u = url_for(&self.v2, "project", &[slug, "checkout-key"]);
        let t = match key_type {
            CheckoutKeyType::DeployKey => "deploy-key",
            CheckoutKeyType::UserKey => "user-key",
        };
        let r = self
            .http
            .send(Method::POST, &u, Some(&json!({"type": t})))
            .await?;
        Ok(r.json::<RawCheckoutKey>("POST")?.into())
    }

    /// Deletes a checkout key by fingerprint.
    pub async fn delete_checkout_key(&self, slug: &str, fingerprint: &str) -> Result<(), HttpError> {
        let u = url_for(&self.v2, "project", &[slug, "checkout-key", fingerprint]);
        self.http.send(Method::DELETE, &u, None).await.map(|_| ())
    }

    fn v1_project(&self, slug: &str, tail: &[&str]) -> Result<Url, HttpError> {
        let [vcs, org, repo] = v1_project_path(slug).ok_or_else(|| HttpError::BadUrl {
            // A flag's value (`--circleci SLUG`): it may be anything pasted.
            url: firebreak_core::secret::quote_untrusted(slug),
            message: "project slug must look like vcs/org/repo".into(),
        })?;
        let mut segs: Vec<&str> = vec![&vcs, &org, &repo];
        segs.extend_from_slice(tail);
        Ok(url_for(&self.v1, "project", &segs))
    }

    /// Additional SSH keys of a project (v1.1 `GET /project/{vcs}/{org}/{repo}/settings`,
    /// field `ssh_keys`).
    pub async fn list_ssh_keys(&self, slug: &str) -> Result<Vec<SshKey>, HttpError> {
        Ok(self.project_settings(slug).await?.ssh_keys)
    }

    /// The secrets of a project's v1.1 settings (`GET /project/{vcs}/{org}/{repo}/settings`):
    /// additional SSH keys and the legacy AWS key pair's access key id (its secret is
    /// never parsed).
    pub async fn project_settings(&self, slug: &str) -> Result<ProjectSettings, HttpError> {
        let u = self.v1_project(slug, &["settings"])?;
        let (s, _) = self.http.get_json::<RawSettings>(&u).await?;
        Ok(s.into())
    }

    /// Adds an additional SSH key (v1.1 `POST .../ssh-key` with `hostname`, `private_key`).
    pub async fn add_ssh_key(
        &self,
        slug: &str,
        hostname: &str,
        private_key: &SecretString,
    ) -> Result<(), HttpError> {
        let u = self.v1_project(slug, &["ssh-key"])?;
        let body = json!({"hostname": hostname, "private_key": private_key.expose()});
        self.http.send(Method::POST, &u, Some(&body)).await.map(|_| ())
    }

    /// Deletes an additional SSH key (v1.1 `DELETE .../ssh-key` with `hostname`, `fingerprint`).
    pub async fn delete_ssh_key(
        &self,
        slug: &str,
        hostname: &str,
        fingerprint: &str,
    ) -> Result<(), HttpError> {
        let u = self.v1_project(slug, &["ssh-key"])?;
        let body = json!({"hostname": hostname, "fingerprint": fingerprint});
        self.http.send(Method::DELETE, &u, Some(&body)).await.map(|_| ())
    }

    /// Contexts of an owner (`GET /context?owner-slug=` or `?owner-id=`).
    pub async fn list_contexts(&self, owner: &Owner) -> Listing<Context> {
        let mut u = url_for(&self.v2, "context", &[]);
        match owner {
            Owner::Slug(s) => u.query_pairs_mut().append_pair("owner-slug", s),
            Owner::Id(i) => u.query_pairs_mut().append_pair("owner-id", i),
        };
        let l = self.list_v2::<RawContext, RawContextOut>(u).await;
        Listing {
            items: l.items.into_iter().map(|r| r.0).collect(),
            error: l.error,
        }
    }

    /// Creates a context (`POST /context`).
    pub async fn create_context(&self, owner: &Owner, name: &str) -> Result<Context, HttpError> {
        let u = url_for(&self.v2, "context", &[]);
        let owner = match owner {
            Owner::Slug(s) => json!({"slug": s, "type": "organization"}),
            Owner::Id(i) => json!({"id": i, "type": "organization"}),
        };
        let r = self
            .http
            .send(Method::POST, &u, Some(&json!({"name": name, "owner": owner})))
            .await?;
        Ok(RawContextOut::from(r.json::<RawContext>("POST")?).0)
    }

    /// Variables of a context (`GET /context/{id}/environment-variable`).
    pub async fn list_context_vars(&self, context_id: &str) -> Listing<ContextVar> {
        self.list_v2::<RawContextVar, ContextVar>(url_for(
            &self.v2,
            "context",
            &[context_id, "environment-variable"],
        ))
        .await
    }

    /// Creates or updates a context variable (`PUT /context/{id}/environment-variable/{name}`).
    pub async fn put_context_var(
        &self,
        context_id: &str,
        name: &str,
        value: &SecretString,
    ) -> Result<ContextVar, HttpError> {
        let u = url_for(&self.v2, "context", &[context_id, "environment-variable", name]);
        let r = self
            .http
            .send(Method::PUT, &u, Some(&json!({"value": value.expose()})))
            .await?;
        Ok(r.json::<RawContextVar>("PUT")?.into())
    }

    /// Deletes a context variable.
    pub async fn delete_context_var(&self, context_id: &str, name: &str) -> Result<(), HttpError> {
        let u = url_for(&self.v2, "context", &[context_id, "environment-variable", name]);
        self.http.send(Method::DELETE, &u, None).await.map(|_| ())
    }

    /// Streams the step logs of the project's jobs that started at or after `since`
    /// (v1.1: recent builds, then each build's `steps[].actions[].output_url`). Logs
    /// arrive on the channel as they are downloaded; errors are sent as `Err` items and
    /// the stream goes on. The token is sent only to the API's own origin, never to a
    /// log URL on another host.
    pub fn job_logs(
        &self,
        slug: &str,
        since: Option<DateTime<Utc>>,
    ) -> tokio::sync::mpsc::Receiver<Result<JobLog, HttpError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let this = self.clone();
        let slug = slug.to_string();
        tokio::spawn(async move {
            this.job_logs_task(&slug, since, tx).await;
        });
        rx
    }

    async fn job_logs_task(
        &self,
        slug: &str,
        since: Option<DateTime<Utc>>,
        tx: tokio::sync::mpsc::Sender<Result<JobLog, HttpError>>,
    ) {
        const LIMIT: usize = 100;
        let mut offset = 0usize;
        'pages: loop {
            let mut u = match self.v1_project(slug, &[]) {
                Ok(u) => u,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            u.query_pairs_mut()
                .append_pair("limit", &LIMIT.to_string())
                .append_pair("offset", &offset.to_string())
                .append_pair("shallow", "true");
            let builds = match self.http.get_json::<Vec<RawBuildSummary>>(&u).await {
                Ok((b, _)) => b,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let n = builds.len();
            for b in builds {
                let started = parse_ts(b.start_time.as_deref().or(b.queued_at.as_deref()));
                if let (Some(s), Some(t)) = (since, started) {
                    if t < s {
                        // builds are newest first: everything after is older
                        break 'pages;
                    }
                }
                let bu = match self.v1_project(slug, &[&b.build_num.to_string()]) {
                    Ok(u) => u,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        continue;
                    }
                };
                let build = match self.http.get_json::<RawBuild>(&bu).await {
                    Ok((b, _)) => b,
                    Err(e) => {
                        if tx.send(Err(e)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                };
                for step in build.steps {
                    for action in step.actions {
                        let Some(out) = action.output_url else { continue };
                        let name = format!("circleci:{slug}/{}/{}/{}", b.build_num, step.name, action.index);
                        let res = self.fetch_log(&out).await.map(|data| JobLog { name, data });
                        if tx.send(res).await.is_err() {
                            return;
                        }
                    }
                }
            }
            if n < LIMIT {
                break;
            }
            offset += n;
        }
    }

    async fn fetch_log(&self, output_url: &str) -> Result<Vec<u8>, HttpError> {
        let u = Url::parse(output_url).map_err(|e| HttpError::BadUrl {
            url: output_url.to_string(),
            message: e.to_string(),
        })?;
        let (lines, _) = self.http.get_json::<Vec<RawLogLine>>(&u).await?;
        let mut data = Vec::new();
        for l in lines {
            data.extend_from_slice(l.message.as_bytes());
        }
        Ok(data)
    }
}

struct RawContextOut(Context);
impl From<RawContext> for RawContextOut {
    fn from(r: RawContext) -> Self {
        RawContextOut(Context {
            id: r.id,
            name: r.name,
            created_at: parse_ts(r.created_at.as_deref()),
        })
    }
}

/// The kinds of CircleCI response body the client decodes (see [`decode_body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// v1.1 `GET /projects`.
    Projects,
    /// v2 page of project environment variables.
    EnvVarPage,
    /// v2 one project environment variable.
    EnvVar,
    /// v2 page of checkout keys.
    CheckoutKeyPage,
    /// v2 one checkout key.
    CheckoutKey,
    /// v1.1 project settings (`ssh_keys`).
    Settings,
    /// v2 page of contexts.
    ContextPage,
    /// v2 one context.
    Context,
    /// v2 page of context variables.
    ContextVarPage,
    /// v2 one context variable.
    ContextVar,
    /// v1.1 recent builds of a project.
    Builds,
    /// v1.1 one build (steps and their log URLs).
    Build,
    /// A step log (`output_url`): a list of messages.
    LogLines,
    /// v1.1 project API tokens (`…/token`).
    ProjectTokens,
    /// v2 page of pipelines (`GET /pipeline`).
    PipelinePage,
    /// v2 one project (`GET /project/{slug}`).
    Project,
    /// Runner API resource classes.
    RunnerResourceClasses,
    /// Runner API tokens of a resource class.
    RunnerTokens,
}

/// Decodes a CircleCI response body the way the client decodes that kind of response,
/// without a network round trip (for fuzzing, tests and replaying captured responses).
/// Returns the number of items decoded; errors name `url` like the client's.
pub fn decode_body(kind: Body, body: &[u8], url: &Url) -> Result<usize, HttpError> {
    let resp = crate::http::Response {
        status: 200,
        headers: Default::default(),
        body: body.to_vec(),
        url: url.clone(),
    };
    let page_len = |items: usize, token: Option<String>| items + usize::from(token.is_some());
    Ok(match kind {
        Body::Projects => resp.json::<Vec<RawProject>>("GET")?.len(),
        Body::EnvVarPage => {
            let p = resp.json::<Page<RawEnvVar>>("GET")?;
            let items: Vec<EnvVar> = p.items.into_iter().map(EnvVar::from).collect();
            page_len(items.len(), p.next_page_token)
        }
        Body::EnvVar => {
            let _ = EnvVar::from(resp.json::<RawEnvVar>("GET")?);
            1
        }
        Body::CheckoutKeyPage => {
            let p = resp.json::<Page<RawCheckoutKey>>("GET")?;
            let items: Vec<CheckoutKey> = p.items.into_iter().map(CheckoutKey::from).collect();
            page_len(items.len(), p.next_page_token)
        }
        Body::CheckoutKey => {
            let _ = CheckoutKey::from(resp.json::<RawCheckoutKey>("GET")?);
            1
        }
        Body::Settings => {
            let st = ProjectSettings::from(resp.json::<RawSettings>("GET")?);
            st.ssh_keys.len() + usize::from(st.aws_keypair.is_some())
        }
        Body::ProjectTokens => resp
            .json::<Vec<RawProjectToken>>("GET")?
            .into_iter()
            .map(ProjectToken::from)
            .count(),
        Body::PipelinePage => {
            let p = resp.json::<Page<RawPipeline>>("GET")?;
            page_len(
                p.items.iter().filter(|x| !x.project_slug.is_empty()).count(),
                p.next_page_token,
            )
        }
        Body::Project => resp.json::<ProjectInfo>("GET")?.slug.len().min(1),
        Body::RunnerResourceClasses => resp.json::<Items<RunnerResourceClass>>("GET")?.items.len(),
        Body::RunnerTokens => resp
            .json::<Items<RawRunnerToken>>("GET")?
            .items
            .into_iter()
            .map(RunnerToken::from)
            .count(),
        Body::ContextPage => {
            let p = resp.json::<Page<RawContext>>("GET")?;
            let items: Vec<RawContextOut> = p.items.into_iter().map(RawContextOut::from).collect();
            page_len(items.len(), p.next_page_token)
        }
        Body::Context => {
            let _ = RawContextOut::from(resp.json::<RawContext>("GET")?);
            1
        }
        Body::ContextVarPage => {
            let p = resp.json::<Page<RawContextVar>>("GET")?;
            let items: Vec<ContextVar> = p.items.into_iter().map(ContextVar::from).collect();
            page_len(items.len(), p.next_page_token)
        }
        Body::ContextVar => {
            let _ = ContextVar::from(resp.json::<RawContextVar>("GET")?);
            1
        }
        Body::Builds => {
            let b = resp.json::<Vec<RawBuildSummary>>("GET")?;
            b.iter()
                .filter(|b| parse_ts(b.start_time.as_deref().or(b.queued_at.as_deref())).is_some())
                .count()
                + b.len()
        }
        Body::Build => resp
            .json::<RawBuild>("GET")?
            .steps
            .iter()
            .map(|s| s.name.len().min(1) + s.actions.iter().filter(|a| a.output_url.is_some()).count())
            .sum(),
        Body::LogLines => resp
            .json::<Vec<RawLogLine>>("GET")?
            .iter()
            .map(|l| l.message.len())
            .sum(),
    })
}

#[cfg(test)]
mod kinds_tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://circleci.invalid/api/v1.1/x").unwrap()
    }

    #[test]
    fn settings_give_the_aws_key_id_and_never_the_secret() {
        let body = br#"{"ssh_keys":[{"hostname":"h","fingerprint":"aa:bb"}],
            "aws":{"keypair":{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"xxxxLKEY"}}}"#;
        let raw: RawSettings = serde_json::from_slice(body).unwrap();
        let st = ProjectSettings::from(raw);
        assert_eq!(
            st.aws_keypair.as_ref().unwrap().access_key_id,
            "AKIAIOSFODNN7EXAMPLE"
        );
        assert_eq!(st.ssh_keys.len(), 1);
        // no key pair: `aws: {keypair: null}` or no `aws` at all
        for b in [&br#"{"aws":{"keypair":null}}"#[..], br#"{}"#, br#"{"aws":null}"#] {
            let st = ProjectSettings::from(serde_json::from_slice::<RawSettings>(b).unwrap());
            assert!(st.aws_keypair.is_none());
        }
        assert_eq!(decode_body(Body::Settings, body, &url()).unwrap(), 2);
        assert_eq!(aws_keypair_name("AKIAIOSFODNN7EXAMPLE"), "aws-keypair AKIA…MPLE");
        assert_eq!(redact_key_id("short"), "…");
    }

    #[test]
    fn project_and_runner_tokens_keep_metadata_only() {
        let body = br#"[{"id":"42","label":"badge","scope":"status","time":"2022-12-01T00:00:00Z","token":"0123456789abcdef0123456789abcdef01234567"}]"#;
        let raw: Vec<RawProjectToken> = serde_json::from_slice(body).unwrap();
        let t: Vec<ProjectToken> = raw.into_iter().map(ProjectToken::from).collect();
        assert_eq!(
            (t[0].id.as_str(), t[0].label.as_str(), t[0].scope.as_str()),
            ("42", "badge", "status")
        );
        assert!(t[0].created_at.is_some());
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
        let body = br#"{"items":[{"id":"r1","resource_class":"acme/linux","nickname":"default","created_at":"2022-12-01T00:00:00Z"}]}"#;
        assert_eq!(decode_body(Body::RunnerTokens, body, &url()).unwrap(), 1);
        assert_eq!(
            decode_body(
                Body::PipelinePage,
                br#"{"items":[{"project_slug":"gh/a/b"},{"project_slug":""}],"next_page_token":null}"#,
                &url()
            )
            .unwrap(),
            1
        );
    }

    #[test]
    fn the_runner_api_is_its_own_host_on_circleci_com_and_the_same_host_on_a_server() {
        let t = || SecretString::new("t0ken-for-test");
        let c = Client::new("https://circleci.com/api/v2", t(), HttpConfig::default()).unwrap();
        assert_eq!(c.runner_url().as_str(), "https://runner.circleci.com/api/v3");
        let c = Client::new("https://ci.example.com/api/v2", t(), HttpConfig::default()).unwrap();
        assert_eq!(c.runner_url().as_str(), "https://ci.example.com/api/v3");
        let c = c.with_runner_url("https://runner.example.com/api/v3").unwrap();
        assert_eq!(c.runner_url().as_str(), "https://runner.example.com/api/v3");
        // the v2 client's token is not sent to the runner host by the v2 HTTP layer
        assert!(!c.http().same_origin(c.runner_url()));
    }
}
