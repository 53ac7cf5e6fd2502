//! Sinks: the CI stores that hold copies, written through the providers crate's clients
//! (one client per provider, shared by every worker, so its rate limiter is shared too).
//!
//! Writes are idempotent by value: writing the same value twice leaves the same state.
//! Verification reads the sink back: the provider's `updated_at` (CircleCI env vars:
//! `created-at`, since CircleCI replaces them) must not be older than the write, and for
//! GitLab, which returns values, the value's fingerprint must match (the value is
//! fingerprinted in memory and dropped at once).

use crate::plan::{Plan, ProviderConn, SinkSpec};
use base64::Engine as _;
use chrono::{DateTime, Timelike, Utc};
use firebreak_core::SecretString;
use firebreak_http::{url_for, HttpConfig, HttpError};
use firebreak_providers::{circleci, github, gitlab, Provider};
use std::collections::HashMap;
use std::sync::Mutex;

/// Why a sink operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sink {sink}: {message}")]
pub struct SinkError {
    /// Sink label.
    pub sink: String,
    /// What went wrong (request and status; never a value).
    pub message: String,
    /// HTTP status, when there was one.
    pub status: Option<u16>,
}

/// Outcome of a read-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The sink holds the new value.
    Ok,
    /// It does not (or cannot be shown to).
    Mismatch(String),
}

/// Per-provider clients for sinks (and the sources that use provider APIs).
pub struct SinkClients {
    /// CircleCI.
    pub circleci: Option<circleci::Client>,
    /// GitHub.
    pub github: Option<github::Client>,
    /// GitLab.
    pub gitlab: Option<gitlab::Client>,
    gitlab_base: Option<url::Url>,
    gh_keys: Mutex<HashMap<String, github::PublicKey>>,
    contexts: Mutex<HashMap<(String, String), String>>,
}

impl std::fmt::Debug for SinkClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkClients")
            .field("circleci", &self.circleci.is_some())
            .field("github", &self.github.is_some())
            .field("gitlab", &self.gitlab.is_some())
            .finish()
    }
}

fn conn_token(p: Provider, c: &ProviderConn) -> anyhow::Result<SecretString> {
    let var = c.token_env.clone().unwrap_or_else(|| match p {
        Provider::Circleci => circleci::TOKEN_ENV.into(),
        Provider::Github => github::TOKEN_ENV.into(),
        Provider::Gitlab => gitlab::TOKEN_ENV.into(),
    });
    Ok(firebreak_providers::load_token_hinted(
        &var,
        c.token_file.as_deref().map(std::path::Path::new),
        "`token_file` in the plan's provider settings",
    )?)
}

fn http_cfg(c: &ProviderConn, concurrency: usize) -> HttpConfig {
    HttpConfig {
        requests_per_second: c.requests_per_second,
        concurrency: concurrency.max(1),
        ..HttpConfig::default()
    }
}

fn floor_sec(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

impl SinkClients {
    /// No clients (plans without sinks, tests).
    pub fn empty() -> Self {
        SinkClients {
            circleci: None,
            github: None,
            gitlab: None,
            gitlab_base: None,
            gh_keys: Mutex::new(HashMap::new()),
            contexts: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the clients of the providers the plan uses. Tokens come from the
    /// environment or token files (named by the plan); a provider that some sink needs
    /// but has no token is an error naming the variable.
    pub fn from_plan(plan: &Plan, concurrency: usize) -> anyhow::Result<Self> {
        let mut need = [false; 3];
        for s in &plan.secrets {
            for k in &s.sinks {
                need[k.provider() as usize] = true;
            }
            if let crate::plan::SourceSpec::DeployKey {
                github_repo,
                circleci_project,
                ..
            } = &s.source
            {
                need[Provider::Github as usize] |= github_repo.is_some();
                need[Provider::Circleci as usize] |= circleci_project.is_some();
            }
            if let crate::plan::SourceSpec::CircleciRunner { .. } = &s.source {
                need[Provider::Circleci as usize] = true;
            }
        }
        let mut me = SinkClients::empty();
        let p = &plan.providers;
        if need[Provider::Circleci as usize] {
            let c = p.circleci.clone().unwrap_or_default();
            let url = c
                .api_url
                .clone()
                .unwrap_or_else(|| circleci::DEFAULT_API_URL.into());
            let mut cc = circleci::Client::new(
                &url,
                conn_token(Provider::Circleci, &c)?,
                http_cfg(&c, concurrency),
            )?;
            if let Some(r) = &c.runner_api_url {
                cc = cc.with_runner_url(r)?;
            }
            me.circleci = Some(cc);
        }
        if need[Provider::Github as usize] {
            let c = p.github.clone().unwrap_or_default();
            let url = c
                .api_url
                .clone()
                .unwrap_or_else(|| github::DEFAULT_API_URL.into());
            me.github = Some(github::Client::new(
                &url,
                conn_token(Provider::Github, &c)?,
                http_cfg(&c, concurrency),
            )?);
        }
        if need[Provider::Gitlab as usize] {
            let c = p.gitlab.clone().unwrap_or_default();
            let url = c
                .api_url
                .clone()
                .unwrap_or_else(|| gitlab::DEFAULT_API_URL.into());
            me.gitlab_base = Some(url::Url::parse(&url)?);
            me.gitlab = Some(gitlab::Client::new(
                &url,
                conn_token(Provider::Gitlab, &c)?,
                http_cfg(&c, concurrency),
            )?);
        }
        Ok(me)
    }

    /// Requests sent per provider so far (circleci, github, gitlab).
    pub fn request_counts(&self) -> [u64; 3] {
        [
            self.circleci.as_ref().map_or(0, |c| c.http().stats().requests),
            self.github.as_ref().map_or(0, |c| c.http().stats().requests),
            self.gitlab.as_ref().map_or(0, |c| c.http().stats().requests),
        ]
    }

    fn err(sink: &SinkSpec, e: impl std::fmt::Display, status: Option<u16>) -> SinkError {
        SinkError {
            sink: sink.label(),
            message: e.to_string(),
            status,
        }
    }

    fn http_err(sink: &SinkSpec, e: HttpError) -> SinkError {
        let st = e.status();
        Self::err(sink, e, st)
    }

    async fn context_id(&self, sink: &SinkSpec) -> Result<String, SinkError> {
        let SinkSpec::CircleciContext {
            context_id,
            context,
            owner_slug,
            ..
        } = sink
        else {
            unreachable!("only for context sinks")
        };
        if let Some(id) = context_id {
            return Ok(id.clone());
        }
        let (name, owner) = (
            context.clone().unwrap_or_default(),
            owner_slug.clone().unwrap_or_default(),
        );
        if let Some(id) = self
            .contexts
            .lock()
            .expect("lock")
            .get(&(owner.clone(), name.clone()))
        {
            return Ok(id.clone());
        }
        let c = self
            .circleci
            .as_ref()
            .ok_or_else(|| Self::err(sink, "no CircleCI connection", None))?;
        let all = c
            .list_contexts(&circleci::Owner::Slug(owner.clone()))
            .await
            .into_result()
            .map_err(|e| Self::http_err(sink, e))?;
        let mut m = self.contexts.lock().expect("lock");
        for x in all {
            m.insert((owner.clone(), x.name.clone()), x.id.clone());
        }
        m.get(&(owner.clone(), name.clone())).cloned().ok_or_else(|| {
            Self::err(
                sink,
                format!("context {name:?} not found for owner {owner}"),
                Some(404),
            )
        })
    }

    fn gh_scope(sink: &SinkSpec) -> (github::SecretScope, Option<github::OrgVisibility>) {
        let SinkSpec::GithubSecret {
            repo,
            org,
            visibility,
            environment,
            ..
        } = sink
        else {
            unreachable!("only for GitHub sinks")
        };
        match (repo, org, environment) {
            (Some(r), _, Some(e)) => (
                github::SecretScope::Environment {
                    repo: r.clone(),
                    environment: e.clone(),
                },
                None,
            ),
            (Some(r), _, None) => (github::SecretScope::Repo(r.clone()), None),
            (None, Some(o), _) => (
                github::SecretScope::Org(o.clone()),
                Some(match visibility.as_deref() {
                    Some("all") => github::OrgVisibility::All,
                    _ => github::OrgVisibility::Private,
                }),
            ),
            _ => (github::SecretScope::Repo(String::new()), None),
        }
    }

    async fn gh_key(
        &self,
        scope: &github::SecretScope,
        refresh: bool,
    ) -> Result<github::PublicKey, HttpError> {
        let k = format!("{scope:?}");
        if !refresh {
            if let Some(v) = self.gh_keys.lock().expect("lock").get(&k) {
                return Ok(v.clone());
            }
        }
        let c = self.github.as_ref().expect("checked by caller");
        let pk = c.public_key(scope).await?;
        self.gh_keys.lock().expect("lock").insert(k, pk.clone());
        Ok(pk)
    }

    fn gl_scope(sink: &SinkSpec) -> (gitlab::VarScope, gitlab::VariableOptions, String) {
        let SinkSpec::GitlabVariable {
            project,
            group,
            key,
            protected,
            masked,
            environment_scope,
            ..
        } = sink
        else {
            unreachable!("only for GitLab sinks")
        };
        let scope = match (project, group) {
            (Some(p), _) => gitlab::VarScope::Project(p.clone()),
            (None, Some(g)) => gitlab::VarScope::Group(g.clone()),
            _ => gitlab::VarScope::Instance,
        };
        let opts = gitlab::VariableOptions {
            protected: *protected,
            masked: *masked,
            environment_scope: environment_scope.clone(),
            variable_type: None,
        };
        (scope, opts, key.clone())
    }

    /// Writes `value` to the sink (create or replace).
    pub async fn write(&self, sink: &SinkSpec, value: &SecretString) -> Result<(), SinkError> {
        let no = |p: &str| Self::err(sink, format!("no {p} connection in the plan"), None);
        match sink {
            SinkSpec::CircleciRunnerConfig { path, key, .. } => {
                let (path, key, value) = (path.clone(), key.clone(), value.clone());
                tokio::task::spawn_blocking(move || crate::runner_config::write(&path, &key, &value))
                    .await
                    .map_err(|e| Self::err(sink, e, None))?
                    .map_err(|m| Self::err(sink, m, None))
            }
            SinkSpec::CircleciEnv { project, name, .. } => {
                let c = self.circleci.as_ref().ok_or_else(|| no("CircleCI"))?;
                c.create_env_var(project, name, value)
                    .await
                    .map(|_| ())
                    .map_err(|e| Self::http_err(sink, e))
            }
            SinkSpec::CircleciContext { name, .. } => {
                let c = self.circleci.as_ref().ok_or_else(|| no("CircleCI"))?;
                let id = self.context_id(sink).await?;
                c.put_context_var(&id, name, value)
                    .await
                    .map(|_| ())
                    .map_err(|e| Self::http_err(sink, e))
            }
            SinkSpec::GithubSecret { name, .. } => {
                let c = self.github.as_ref().ok_or_else(|| no("GitHub"))?;
                let (scope, vis) = Self::gh_scope(sink);
                let mut refresh = false;
                loop {
                    let pk = self
                        .gh_key(&scope, refresh)
                        .await
                        .map_err(|e| Self::http_err(sink, e))?;
                    let sealed = seal_for_github(&pk.key, value).map_err(|m| Self::err(sink, m, None))?;
                    let enc = github::EncryptedSecret {
                        key_id: pk.key_id.clone(),
                        encrypted_value: sealed,
                    };
                    match c.put_secret(&scope, name, &enc, vis.as_ref()).await {
                        Ok(()) => return Ok(()),
                        // the scope's key was rotated: fetch it again once
                        Err(e) if e.status() == Some(422) && !refresh => refresh = true,
                        Err(e) => return Err(Self::http_err(sink, e)),
                    }
                }
            }
            SinkSpec::GitlabVariable { .. } => {
                let c = self.gitlab.as_ref().ok_or_else(|| no("GitLab"))?;
                let (scope, opts, key) = Self::gl_scope(sink);
                match c.update_variable(&scope, &key, value, &opts).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.status() == Some(404) => {
                        match c.create_variable(&scope, &key, value, &opts).await {
                            Ok(_) => Ok(()),
                            // created concurrently (or by a write whose reply was lost): update it
                            Err(e) if e.status() == Some(400) => c
                                .update_variable(&scope, &key, value, &opts)
                                .await
                                .map(|_| ())
                                .map_err(|e| Self::http_err(sink, e)),
                            Err(e) => Err(Self::http_err(sink, e)),
                        }
                    }
                    Err(e) => Err(Self::http_err(sink, e)),
                }
            }
        }
    }

    /// Reads the sink back: does it hold the value with fingerprint `fp`, written at or
    /// after `written_at`?
    pub async fn verify(
        &self,
        sink: &SinkSpec,
        fp: &str,
        written_at: DateTime<Utc>,
    ) -> Result<Verified, SinkError> {
        let floor = floor_sec(written_at);
        let no = |p: &str| Self::err(sink, format!("no {p} connection in the plan"), None);
        let check = |t: Option<DateTime<Utc>>, what: &str| match t {
            Some(t) if t >= floor => Verified::Ok,
            Some(t) => Verified::Mismatch(format!(
                "{what} {} is older than the write at {}",
                t.to_rfc3339(),
                floor.to_rfc3339()
            )),
            None => Verified::Mismatch(format!("{what} missing")),
        };
        match sink {
            SinkSpec::CircleciRunnerConfig { path, key, .. } => {
                let (path, key) = (path.clone(), key.clone());
                let got = tokio::task::spawn_blocking(move || crate::runner_config::read(&path, &key))
                    .await
                    .map_err(|e| Self::err(sink, e, None))?
                    .map_err(|m| Self::err(sink, m, None))?;
                Ok(match got {
                    Some(v) if v.fingerprint() == fp => Verified::Ok,
                    Some(_) => Verified::Mismatch("the file holds another token".into()),
                    None => Verified::Mismatch("no token in the file".into()),
                })
            }
            SinkSpec::CircleciEnv { project, name, .. } => {
                let c = self.circleci.as_ref().ok_or_else(|| no("CircleCI"))?;
                match c
                    .get_env_var(project, name)
                    .await
                    .map_err(|e| Self::http_err(sink, e))?
                {
                    Some(v) => Ok(check(v.created_at, "created-at")),
                    None => Ok(Verified::Mismatch("variable not found".into())),
                }
            }
            SinkSpec::CircleciContext { name, .. } => {
                let c = self.circleci.as_ref().ok_or_else(|| no("CircleCI"))?;
                let id = self.context_id(sink).await?;
                let vars = c
                    .list_context_vars(&id)
                    .await
                    .into_result()
                    .map_err(|e| Self::http_err(sink, e))?;
                match vars.into_iter().find(|v| v.variable == *name) {
                    Some(v) => Ok(check(v.updated_at.or(v.created_at), "updated_at")),
                    None => Ok(Verified::Mismatch("variable not found".into())),
                }
            }
            SinkSpec::GithubSecret { name, .. } => {
                let c = self.github.as_ref().ok_or_else(|| no("GitHub"))?;
                let (scope, _) = Self::gh_scope(sink);
                match c
                    .get_secret(&scope, name)
                    .await
                    .map_err(|e| Self::http_err(sink, e))?
                {
                    Some(s) => Ok(check(s.updated_at, "updated_at")),
                    None => Ok(Verified::Mismatch("secret not found".into())),
                }
            }
            SinkSpec::GitlabVariable { .. } => {
                let c = self.gitlab.as_ref().ok_or_else(|| no("GitLab"))?;
                let base = self.gitlab_base.as_ref().ok_or_else(|| no("GitLab"))?;
                let (scope, opts, key) = Self::gl_scope(sink);
                let mut u = match &scope {
                    gitlab::VarScope::Project(p) => url_for(base, "projects", &[p, "variables", &key]),
                    gitlab::VarScope::Group(g) => url_for(base, "groups", &[g, "variables", &key]),
                    gitlab::VarScope::Instance => url_for(base, "admin/ci/variables", &[&key]),
                };
                if let (Some(e), false) = (
                    &opts.environment_scope,
                    matches!(scope, gitlab::VarScope::Instance),
                ) {
                    if e != "*" {
                        u.query_pairs_mut().append_pair("filter[environment_scope]", e);
                    }
                }
                #[derive(serde::Deserialize)]
                struct V {
                    #[serde(default)]
                    value: Option<String>,
                }
                let r = match c.http().send(firebreak_http::Method::GET, &u, None).await {
                    Ok(r) => r,
                    Err(e) if e.status() == Some(404) => {
                        return Ok(Verified::Mismatch("variable not found".into()))
                    }
                    Err(e) => return Err(Self::http_err(sink, e)),
                };
                let v: V = r.json("GET").map_err(|e| Self::http_err(sink, e))?;
                drop(r);
                let got = SecretString::new(v.value.unwrap_or_default());
                if got.fingerprint() == fp {
                    Ok(Verified::Ok)
                } else {
                    Ok(Verified::Mismatch("value fingerprint differs".into()))
                }
            }
        }
    }
}

/// Seals `value` for GitHub with the scope's base64 X25519 public key (libsodium
/// `crypto_box_seal`), returning base64.
pub fn seal_for_github(public_key_b64: &str, value: &SecretString) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64
        .decode(public_key_b64.trim())
        .map_err(|_| "GitHub public key is not base64".to_string())?;
    let arr: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| "GitHub public key is not 32 bytes".to_string())?;
    let pk = crypto_box::PublicKey::from(arr);
    let sealed = pk
        .seal(&mut rand::rngs::OsRng, value.expose().as_bytes())
        .map_err(|_| "sealing failed".to_string())?;
    Ok(b64.encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_box_opens_with_the_secret_key() {
        let sk = crypto_box::SecretKey::from([9u8; 32]);
        let pk = base64::engine::general_purpose::STANDARD.encode(sk.public_key().as_bytes());
        let v = SecretString::new("a-secret-value-0123456789");
        let sealed = seal_for_github(&pk, &v).unwrap();
        let ct = base64::engine::general_purpose::STANDARD.decode(sealed).unwrap();
        assert_eq!(ct.len(), 32 + 16 + v.len(), "libsodium sealed box layout");
        let pt = sk.unseal(&ct).unwrap();
        assert_eq!(pt, v.expose().as_bytes());
        assert!(seal_for_github("bm9wZQ==", &v).is_err());
    }
}
