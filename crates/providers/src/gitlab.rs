//! GitLab client (gitlab.com or self-managed, API v4): projects of a group (with
//! subgroups) or all visible projects, project / group / instance CI/CD variables with
//! their scope flags, and the other credentials a CI breach exposes: project deploy
//! keys, deploy tokens, project and group access tokens, pipeline trigger tokens and
//! runners (metadata only: none of these listings returns a usable token; a trigger's
//! truncated token is not even parsed).
//!
//! GitLab returns variable values in plain text. A value is read only into a
//! [`SecretString`] ([`Variable::value`]: redacted in `Debug`, wiped on drop, never
//! serialised), which the store turns into a keyed fingerprint at once: GitLab variables
//! carry no timestamp, so the fingerprint is what proves a value changed. `PRIVATE-TOKEN` header; pagination
//! follows `Link: rel="next"` (keyset) or `X-Next-Page` (offset). A list answered with a
//! single object (as Prism does for GitLab's description) is accepted.

use crate::http::{link_next, parse_ts, url_for, Auth, Http, HttpConfig, HttpError, OneOrMany, PageGuard};
use crate::Listing;
use chrono::{DateTime, Utc};
use firebreak_core::SecretString;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

/// Default API base.
pub const DEFAULT_API_URL: &str = "https://gitlab.com/api/v4";
/// Environment variable holding the token.
pub const TOKEN_ENV: &str = "GITLAB_TOKEN";

/// A GitLab connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: Http,
    base: Url,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Numeric id.
    pub id: u64,
    /// `group/sub/project`.
    #[serde(default)]
    pub path_with_namespace: String,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Numeric id.
    pub id: u64,
    /// `group/sub`.
    #[serde(default)]
    pub full_path: String,
}

/// A CI/CD variable. Its value is held only as a [`SecretString`] and never serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// Key.
    pub key: String,
    /// The value (GitLab returns it), for its keyed fingerprint only.
    #[serde(default, deserialize_with = "de_secret", skip_serializing)]
    pub value: Option<SecretString>,
    /// `env_var` or `file`.
    #[serde(default)]
    pub variable_type: Option<String>,
    /// Protected branches/tags only.
    #[serde(default)]
    pub protected: Option<bool>,
    /// Masked in job logs.
    #[serde(default)]
    pub masked: Option<bool>,
    /// Environment scope (`*` = all).
    #[serde(default)]
    pub environment_scope: Option<String>,
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.filter(|v| !v.is_empty()).map(SecretString::new))
}

fn de_ts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    // access tokens' `expires_at` is a date (`2026-01-31`): the start of that day, UTC
    Ok(parse_ts(s.as_deref()).or_else(|| {
        chrono::NaiveDate::parse_from_str(s.as_deref()?.trim(), "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    }))
}

/// A project deploy key (`GET /projects/:id/deploy_keys`, `DeployKeysProject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployKey {
    /// Id.
    pub id: u64,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Public key.
    #[serde(default)]
    pub key: String,
    /// MD5 fingerprint.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// SHA-256 fingerprint (`SHA256:...`).
    #[serde(default)]
    pub fingerprint_sha256: Option<String>,
    /// Write access to this project.
    #[serde(default)]
    pub can_push: Option<bool>,
    /// Creation time.
    #[serde(default, deserialize_with = "de_ts")]
    pub created_at: Option<DateTime<Utc>>,
    /// Expiry.
    #[serde(default, deserialize_with = "de_ts")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A deploy token (`GET /projects/:id/deploy_tokens`, `/groups/:id/deploy_tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployToken {
    /// Id.
    pub id: u64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// The username it authenticates as (`gitlab+deploy-token-N` unless set).
    #[serde(default)]
    pub username: Option<String>,
    /// Expiry.
    #[serde(default, deserialize_with = "de_ts")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes (`read_repository`, `read_registry`, ...).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Revoked.
    #[serde(default)]
    pub revoked: bool,
    /// Expired.
    #[serde(default)]
    pub expired: bool,
}

/// A project or group access token (`GET /projects/:id/access_tokens`,
/// `/groups/:id/access_tokens`, `ResourceAccessToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    /// Id.
    pub id: u64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Creation time.
    #[serde(default, deserialize_with = "de_ts")]
    pub created_at: Option<DateTime<Utc>>,
    /// Expiry (GitLab sends a date).
    #[serde(default, deserialize_with = "de_ts")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use.
    #[serde(default, deserialize_with = "de_ts")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Usable (neither revoked nor expired).
    #[serde(default)]
    pub active: Option<bool>,
    /// Revoked.
    #[serde(default)]
    pub revoked: bool,
    /// Scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Role of its bot user (10 guest ... 50 owner).
    #[serde(default)]
    pub access_level: Option<u64>,
}

/// A pipeline trigger token (`GET /projects/:id/triggers`). GitLab shows the token (in
/// full to its owner, else its first 4 characters): this type has no field for it, so it
/// is never parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Id.
    pub id: u64,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "de_ts")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "de_ts")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Last use.
    #[serde(default, deserialize_with = "de_ts")]
    pub last_used: Option<DateTime<Utc>>,
    /// Expiry.
    #[serde(default, deserialize_with = "de_ts")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Owner's username.
    #[serde(default, deserialize_with = "de_owner")]
    pub owner: Option<String>,
}

fn de_owner<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(v.and_then(|v| v.get("username").and_then(|u| u.as_str()).map(str::to_string)))
}

/// A runner (`GET /projects/:id/runners`, `/groups/:id/runners`, `Ci::Runner`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runner {
    /// Id.
    pub id: u64,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// `instance_type`, `group_type` or `project_type`.
    #[serde(default)]
    pub runner_type: Option<String>,
    /// Accepting jobs (deprecated by GitLab for `paused`).
    #[serde(default)]
    pub active: Option<bool>,
    /// Not accepting jobs.
    #[serde(default)]
    pub paused: Option<bool>,
    /// `online`, `offline`, `stale`, `never_contacted`.
    #[serde(default)]
    pub status: Option<String>,
}

/// The owner of deploy tokens, access tokens and runners.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A project (numeric id or path).
    Project(String),
    /// A group (numeric id or path).
    Group(String),
}

impl Owner {
    fn url(&self, base: &Url, what: &str) -> Url {
        match self {
            Owner::Project(p) => url_for(base, "projects", &[p, what]),
            Owner::Group(g) => url_for(base, "groups", &[g, what]),
        }
    }
}

/// Where a variable lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VarScope {
    /// A project (numeric id or `group/project` path).
    Project(String),
    /// A group (numeric id or path).
    Group(String),
    /// The instance (admin).
    Instance,
}

/// Options of a variable write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableOptions {
    /// Protected.
    pub protected: Option<bool>,
    /// Masked.
    pub masked: Option<bool>,
    /// Environment scope (project and group variables). Also selects which variable an
    /// update or delete targets when several share a key.
    pub environment_scope: Option<String>,
    /// `env_var` or `file`.
    pub variable_type: Option<String>,
}

impl Client {
    /// A client for `api_url` (`https://gitlab.com/api/v4`).
    pub fn new(api_url: &str, token: SecretString, cfg: HttpConfig) -> Result<Self, HttpError> {
        let base = Url::parse(api_url).map_err(|e| HttpError::BadUrl {
            // A flag's value, which may hold credentials (`https://user:token@host`).
            url: firebreak_core::secret::quote_untrusted(api_url),
            message: e.to_string(),
        })?;
        let http = Http::new(
            &base,
            Auth::Header {
                name: "private-token",
                token,
            },
            cfg,
        )?;
        Ok(Client { http, base })
    }

    /// The shared HTTP layer.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The API's base URL (`https://gitlab.com/api/v4/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn vars_url(&self, scope: &VarScope, key: Option<&str>) -> Url {
        let mut segs: Vec<&str> = Vec::new();
        let root = match scope {
            VarScope::Project(p) => {
                segs.push(p);
                segs.push("variables");
                "projects"
            }
            VarScope::Group(g) => {
                segs.push(g);
                segs.push("variables");
                "groups"
            }
            VarScope::Instance => "admin/ci/variables",
        };
        if let Some(k) = key {
            segs.push(k);
        }
        url_for(&self.base, root, &segs)
    }

    async fn list<T: for<'de> Deserialize<'de>>(&self, mut u: Url) -> Listing<T> {
        u.query_pairs_mut().append_pair("per_page", "100");
        let mut out = Vec::new();
        let mut guard = PageGuard::new(self.http.config().max_pages);
        loop {
            let resp = match self.http.send(Method::GET, &u, None).await {
                Ok(r) => r,
                Err(e) => return Listing::partial(out, e),
            };
            match resp.json::<OneOrMany<T>>("GET") {
                Ok(v) => out.extend(v.into_vec()),
                Err(e) => return Listing::partial(out, e),
            }
            let next = if let Some(l) = link_next(&resp.headers) {
                match u.join(&l) {
                    Ok(n) if !self.http.same_origin(&n) => {
                        return Listing::partial(
                            out,
                            HttpError::BadUrl {
                                url: n.to_string(),
                                message: "next page is on another host; not followed".into(),
                            },
                        )
                    }
                    Ok(n) => Some(n),
                    Err(e) => {
                        return Listing::partial(
                            out,
                            HttpError::BadUrl {
                                url: l,
                                message: e.to_string(),
                            },
                        )
                    }
                }
            } else if let Some(p) = resp
                .header("x-next-page")
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let mut n = u.clone();
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .filter(|(k, _)| k != "page")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                n.query_pairs_mut()
                    .clear()
                    .extend_pairs(pairs)
                    .append_pair("page", p);
                Some(n)
            } else {
                None
            };
            let Some(next) = next else {
                return Listing::ok(out);
            };
            if let Err(e) = guard.next(&u, next.as_str()) {
                return Listing::partial(out, e);
            }
            u = next;
        }
    }

    /// Projects of a group including subgroups (`GET /groups/{id}/projects?include_subgroups=true`),
    /// or all projects the token can see when `group` is `None` (`GET /projects`).
    pub async fn list_projects(&self, group: Option<&str>) -> Listing<Project> {
        let mut u = match group {
            Some(g) => url_for(&self.base, "groups", &[g, "projects"]),
            None => url_for(&self.base, "projects", &[]),
        };
        if group.is_some() {
            u.query_pairs_mut().append_pair("include_subgroups", "true");
        }
        u.query_pairs_mut().append_pair("simple", "true");
        self.list(u).await
    }

    /// A group and all its descendant groups (`GET /groups/{id}`, `/groups/{id}/descendant_groups`).
    pub async fn list_groups(&self, group: &str) -> Listing<Group> {
        let top = match self
            .http
            .get_json::<Group>(&url_for(&self.base, "groups", &[group]))
            .await
        {
            Ok((g, _)) => g,
            Err(e) => return Listing::partial(Vec::new(), e),
        };
        let mut l: Listing<Group> = self
            .list(url_for(&self.base, "groups", &[group, "descendant_groups"]))
            .await;
        l.items.insert(0, top);
        l
    }

    /// Variables of a scope, values dropped.
    pub async fn list_variables(&self, scope: &VarScope) -> Listing<Variable> {
        self.list(self.vars_url(scope, None)).await
    }

    /// Deploy keys of a project (`GET /projects/:id/deploy_keys`).
    pub async fn list_deploy_keys(&self, project: &str) -> Listing<DeployKey> {
        self.list(url_for(&self.base, "projects", &[project, "deploy_keys"]))
            .await
    }

    /// Deploy tokens of a project or group (`GET /{projects|groups}/:id/deploy_tokens`).
    pub async fn list_deploy_tokens(&self, owner: &Owner) -> Listing<DeployToken> {
        self.list(owner.url(&self.base, "deploy_tokens")).await
    }

    /// Access tokens of a project or group (`GET /{projects|groups}/:id/access_tokens`),
    /// active and inactive.
    pub async fn list_access_tokens(&self, owner: &Owner) -> Listing<AccessToken> {
        self.list(owner.url(&self.base, "access_tokens")).await
    }

    /// Pipeline trigger tokens of a project (`GET /projects/:id/triggers`).
    pub async fn list_triggers(&self, project: &str) -> Listing<Trigger> {
        self.list(url_for(&self.base, "projects", &[project, "triggers"]))
            .await
    }

    /// Runners registered to a project or group (`GET /{projects|groups}/:id/runners`,
    /// `type=project_type` or `group_type`: the runners it inherits from its groups or
    /// the instance are listed where they are registered).
    pub async fn list_runners(&self, owner: &Owner) -> Listing<Runner> {
        let mut u = owner.url(&self.base, "runners");
        let t = match owner {
            Owner::Project(_) => "project_type",
            Owner::Group(_) => "group_type",
        };
        u.query_pairs_mut().append_pair("type", t);
        self.list(u).await
    }

    /// Creates a variable (`POST .../variables`).
    pub async fn create_variable(
        &self,
        scope: &VarScope,
        key: &str,
        value: &SecretString,
        opts: &VariableOptions,
    ) -> Result<Variable, HttpError> {
        let mut body = json!({"key": key, "value": value.expose()});
        apply_opts(&mut body, scope, opts);
        let r = self
            .http
            .send(Method::POST, &self.vars_url(scope, None), Some(&body))
            .await?;
        r.json("POST")
    }

    /// Updates a variable's value (`PUT .../variables/{key}`; `filter[environment_scope]`
    /// selects among same-key variables).
    pub async fn update_variable(
        &self,
        scope: &VarScope,
        key: &str,
        value: &SecretString,
        opts: &VariableOptions,
    ) -> Result<Variable, HttpError> {
        let mut u = self.vars_url(scope, Some(key));
        filter_scope(&mut u, scope, opts);
        let mut body = json!({"value": value.expose()});
        apply_opts(&mut body, scope, opts);
        let r = self.http.send(Method::PUT, &u, Some(&body)).await?;
        r.json("PUT")
    }

    /// Deletes a variable.
    pub async fn delete_variable(
        &self,
        scope: &VarScope,
        key: &str,
        environment_scope: Option<&str>,
    ) -> Result<(), HttpError> {
        let mut u = self.vars_url(scope, Some(key));
        let opts = VariableOptions {
            environment_scope: environment_scope.map(str::to_string),
            ..Default::default()
        };
        filter_scope(&mut u, scope, &opts);
        self.http.send(Method::DELETE, &u, None).await.map(|_| ())
    }
}

fn apply_opts(body: &mut serde_json::Value, scope: &VarScope, o: &VariableOptions) {
    // GitLab's description types these as strings for group variables and booleans
    // elsewhere; GitLab accepts both, so follow the description.
    let flag = |b: bool| {
        if matches!(scope, VarScope::Group(_)) {
            json!(b.to_string())
        } else {
            json!(b)
        }
    };
    if let Some(p) = o.protected {
        body["protected"] = flag(p);
    }
    if let Some(m) = o.masked {
        body["masked"] = flag(m);
    }
    if let Some(t) = &o.variable_type {
        body["variable_type"] = json!(t);
    }
    if let (Some(e), false) = (&o.environment_scope, matches!(scope, VarScope::Instance)) {
        body["environment_scope"] = json!(e);
    }
}

fn filter_scope(u: &mut Url, scope: &VarScope, o: &VariableOptions) {
    if let (Some(e), false) = (&o.environment_scope, matches!(scope, VarScope::Instance)) {
        if e != "*" {
            u.query_pairs_mut().append_pair("filter[environment_scope]", e);
        }
    }
}
