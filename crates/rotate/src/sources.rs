//! Credential sources: where a new credential is issued and the old one revoked.
//!
//! Every source supports the three operations the engine needs to be crash-safe:
//! - `prepare`: local material and pre-state recorded (encrypted) WITH the issue intent,
//!   before anything happens outside (a random value, a generated key pair, the list of
//!   keys that existed before);
//! - `issue` with an idempotency key;
//! - `lookup` by idempotency key after a crash between the issue and its recorded result:
//!   `Found` (the credential, so it is not issued twice), `NotFound` (safe to issue), or
//!   `Orphan` (issued but its secret is lost, e.g. an AWS secret access key: the engine
//!   deletes it before issuing again; it never reached any sink).

use crate::aws::FromEnv as _;
use crate::aws::IamClient;
use crate::plan::{CommandSpec, SourceSpec};
use crate::upload::Registry;
use firebreak_core::SecretString;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// A credential: its id (not secret: key id, AWS access key id) and its value.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Id at the source, when it has one.
    pub id: Option<String>,
    /// The secret value.
    pub value: SecretString,
}

/// What `prepare` produced: secret material kept encrypted with the intent, plus public
/// pre-state.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Secret material generated locally (random value, private key).
    pub material: Option<SecretString>,
    /// Public data (public key, ids that existed before).
    pub info: Value,
}

/// An issued credential and what it replaces.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The new credential.
    pub cred: Credential,
    /// Ids of the credentials it replaces (revoked after verification).
    pub previous_ids: Vec<String>,
}

/// Result of a lookup by idempotency key.
#[derive(Debug)]
pub enum Lookup {
    /// Already issued.
    Found(Issued),
    /// Never issued.
    NotFound,
    /// Issued, but its secret cannot be recovered: delete this id, then issue again.
    Orphan(String),
}

/// Why a source operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("source {source_kind} for {secret}: {message}")]
pub struct SourceError {
    /// Source type.
    pub source_kind: String,
    /// Secret name.
    pub secret: String,
    /// What went wrong (never a secret value).
    pub message: String,
}

/// Clients a source may need.
#[derive(Clone, Default)]
pub struct SourceClients {
    /// GitHub.
    pub github: Option<firebreak_providers::github::Client>,
    /// CircleCI.
    pub circleci: Option<firebreak_providers::circleci::Client>,
    /// Settings of the shared HTTP layer for `http` sources (default when `None`).
    pub http: Option<firebreak_http::HttpConfig>,
}

/// A configured source.
#[derive(Clone)]
pub struct Source {
    secret: String,
    spec: SourceSpec,
    clients: SourceClients,
    iam: Option<Arc<IamClient>>,
    /// The shared HTTP layer's client of an `http` source (timeouts, backoff, rate limits).
    http: Option<firebreak_http::Http>,
    /// firebreak's upload-token service (`firebreak_serve`).
    serve: Option<Arc<crate::upload::ServeTokens>>,
    /// The registry of a `dockerhub`, `npm` or `anaconda` source.
    registry: Option<Arc<Registry>>,
}

/// The characters of an alphabet setting.
pub fn alphabet_chars(a: &str) -> Vec<char> {
    match a {
        "alnum" => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            .chars()
            .collect(),
        "hex" => "0123456789abcdef".chars().collect(),
        "base64url" => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            .chars()
            .collect(),
        other => {
            let mut v: Vec<char> = other.chars().collect();
            v.sort_unstable();
            v.dedup();
            v
        }
    }
}

/// A random string from OsRng (uniform over the alphabet).
pub fn random_value(length: usize, alphabet: &str, prefix: Option<&str>) -> SecretString {
    let chars = alphabet_chars(alphabet);
    let mut rng = rand::rngs::OsRng;
    let mut s = String::with_capacity(length + prefix.map_or(0, str::len));
    if let Some(p) = prefix {
        s.push_str(p);
    }
    for _ in 0..length {
        s.push(chars[rng.gen_range(0..chars.len())]);
    }
    SecretString::new(s)
}

/// The reply of the command / HTTP protocol.
#[derive(Deserialize, Default)]
struct Reply {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    previous_ids: Vec<String>,
    #[serde(default)]
    found: Option<bool>,
    #[serde(default)]
    error: Option<String>,
}

impl Source {
    /// A source for `secret` from its spec.
    pub fn new(secret: &str, spec: &SourceSpec, clients: SourceClients) -> Result<Self, SourceError> {
        let mut iam = None;
        if let SourceSpec::AwsIam { region, endpoint, .. } = spec {
            let e = |m: String| SourceError {
                source_kind: "aws_iam".into(),
                secret: secret.into(),
                message: m,
            };
            let creds = crate::aws::AwsCredentials::from_env().map_err(|x| e(x.to_string()))?;
            iam = Some(Arc::new(
                IamClient::new(endpoint.as_deref(), region, creds).map_err(|x| e(x.to_string()))?,
            ));
        }
        let mut http = None;
        if let SourceSpec::Http { url } = spec {
            let e = |m: String| SourceError {
                source_kind: "http".into(),
                secret: secret.into(),
                message: m,
            };
            let base = url::Url::parse(url).map_err(|x| e(format!("bad url: {x}")))?;
            let cfg = clients.http.clone().unwrap_or_default();
            http = Some(
                firebreak_http::Http::new(&base, firebreak_http::Auth::None, cfg)
                    .map_err(|x| e(x.to_string()))?,
            );
        }
        let e = |kind: &str, m: String| SourceError {
            source_kind: kind.into(),
            secret: secret.into(),
            message: m,
        };
        let cfg = clients.http.clone().unwrap_or_default();
        let mut serve = None;
        if let SourceSpec::FirebreakServe {
            url,
            project,
            provider,
            ttl_secs,
        } = spec
        {
            let admin = env_secret("FIREBREAK_ADMIN_TOKEN").ok_or_else(|| {
                e(
                    "firebreak_serve",
                    "set FIREBREAK_ADMIN_TOKEN (the service's admin credential)".into(),
                )
            })?;
            serve = Some(Arc::new(
                crate::upload::ServeTokens::new(url, admin, project, provider, *ttl_secs, cfg.clone())
                    .map_err(|m| e("firebreak_serve", m))?,
            ));
        }
        let mut registry = None;
        if let SourceSpec::Dockerhub {
            username,
            scopes,
            endpoint,
            ..
        } = spec
        {
            let pw = env_secret("DOCKERHUB_TOKEN").ok_or_else(|| {
                e(
                    "dockerhub",
                    format!("set DOCKERHUB_TOKEN (the password of {username}, or a token allowed to manage access tokens)"),
                )
            })?;
            registry = Some(Arc::new(Registry::Docker(
                crate::upload::DockerHub::new(endpoint.as_deref(), username, pw, scopes.clone(), cfg.clone())
                    .map_err(|m| e("dockerhub", m))?,
            )));
        }
        if let SourceSpec::Npm {
            packages,
            scopes,
            permission,
            expires_days,
            bypass_2fa,
            cidr,
            registry: npm_registry,
            ..
        } = spec
        {
            let session = env_secret("NPM_SESSION_TOKEN").ok_or_else(|| {
                e(
                    "npm",
                    "set NPM_SESSION_TOKEN (the token `npm login` stored for the account in ~/.npmrc)".into(),
                )
            })?;
            if packages.is_empty() && scopes.is_empty() {
                return Err(e(
                    "npm",
                    "name the packages (or scopes) the token may publish: packages = [\"@acme/app\"] (or [\"*\"])".into(),
                ));
            }
            if !matches!(permission.as_str(), "read-write" | "read-only") {
                return Err(e(
                    "npm",
                    format!("permission {permission:?}: read-write or read-only"),
                ));
            }
            let mut grant = json!({"packages_and_scopes_permission": permission, "bypass_2fa": bypass_2fa});
            if !packages.is_empty() {
                grant["packages"] = json!(packages);
            }
            if !scopes.is_empty() {
                grant["scopes"] = json!(scopes);
            }
            if !cidr.is_empty() {
                grant["cidr"] = json!(cidr);
            }
            if let Some(d) = expires_days {
                grant["expires"] = json!(d);
            }
            registry = Some(Arc::new(Registry::Npm(
                crate::upload::NpmTokens::new(
                    npm_registry.as_deref(),
                    session,
                    env_secret("NPM_OTP"),
                    env_secret("NPM_PASSWORD"),
                    grant,
                    cfg.clone(),
                )
                .map_err(|m| e("npm", m))?,
            )));
        }
        if let SourceSpec::Anaconda {
            username,
            org,
            scopes,
            max_age_secs,
            endpoint,
            ..
        } = spec
        {
            let pw = env_secret("ANACONDA_PASSWORD").ok_or_else(|| {
                e(
                    "anaconda",
                    format!("set ANACONDA_PASSWORD (the password of {username}: anaconda.org creates tokens with it)"),
                )
            })?;
            let tok = env_secret("ANACONDA_TOKEN").ok_or_else(|| {
                e(
                    "anaconda",
                    "set ANACONDA_TOKEN (a token of the account allowed to list and remove tokens)".into(),
                )
            })?;
            registry = Some(Arc::new(Registry::Anaconda(
                crate::upload::AnacondaTokens::new(
                    endpoint.as_deref(),
                    username,
                    pw,
                    tok,
                    org.as_deref(),
                    scopes.clone(),
                    *max_age_secs,
                    cfg.clone(),
                )
                .map_err(|m| e("anaconda", m))?,
            )));
        }
        Ok(Source {
            secret: secret.to_string(),
            spec: spec.clone(),
            clients,
            iam,
            http,
            serve,
            registry,
        })
    }

    /// Source type name.
    pub fn kind(&self) -> &'static str {
        self.spec.kind()
    }

    fn err(&self, m: impl std::fmt::Display) -> SourceError {
        SourceError {
            source_kind: self.kind().into(),
            secret: self.secret.clone(),
            // a source's own words may quote a credential: never shown or journaled whole
            message: firebreak_core::scrub::scrub(&m.to_string()),
        }
    }

    /// True when the source can hand back an old credential by id (enables rollback).
    pub fn can_fetch(&self) -> bool {
        matches!(self.spec, SourceSpec::Command(_) | SourceSpec::Http { .. })
    }

    async fn proto(&self, req: Value) -> Result<Reply, SourceError> {
        let text = match &self.spec {
            SourceSpec::Command(c) => run_command(c, &self.secret, &req)
                .await
                .map_err(|m| self.err(m))?,
            SourceSpec::Http { url } => {
                use firebreak_http::Replay;
                let http = self.http.as_ref().ok_or_else(|| self.err("no HTTP client"))?;
                let u = url::Url::parse(url).map_err(|e| self.err(format!("bad url: {e}")))?;
                // an issue is never sent twice by the HTTP layer: after an ambiguous failure
                // the engine looks its idempotency key up before trying again
                let replay = if req["op"] == "issue" {
                    Replay::Never
                } else {
                    Replay::Safe
                };
                // an error status names the request and the reply's `error` / `message`
                let r = http
                    .send_replay(firebreak_http::Method::POST, &u, Some(&req), replay)
                    .await
                    .map_err(|e| self.err(e))?;
                String::from_utf8_lossy(&r.body).into_owned()
            }
            _ => return Err(self.err("not a protocol source")),
        };
        let r: Reply = serde_json::from_str(text.trim()).map_err(|e| {
            self.err(format!(
                "reply is not the protocol's JSON (line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(e) = &r.error {
            return Err(self.err(format!(
                "source answered error: {}",
                e.chars().take(200).collect::<String>()
            )));
        }
        Ok(r)
    }

    /// Local material and pre-state, recorded with the intent.
    pub async fn prepare(&self, idem: &str) -> Result<Prepared, SourceError> {
        match &self.spec {
            SourceSpec::Random {
                length,
                alphabet,
                prefix,
            } => Ok(Prepared {
                material: Some(random_value(*length, alphabet, prefix.as_deref())),
                info: Value::Null,
            }),
            SourceSpec::DeployKey {
                github_repo: Some(_), ..
            } => {
                let kp = crate::sshkey::generate(&format!("firebreak-{}", &idem[..idem.len().min(12)]));
                Ok(Prepared {
                    material: Some(kp.private),
                    info: json!({"public_key": kp.public}),
                })
            }
            SourceSpec::DeployKey {
                circleci_project: Some(p),
                ..
            } => {
                let c = self.circleci()?;
                let keys = c
                    .list_checkout_keys(p)
                    .await
                    .into_result()
                    .map_err(|e| self.err(e))?;
                let before: Vec<String> = keys.into_iter().map(|k| k.fingerprint).collect();
                Ok(Prepared {
                    material: None,
                    info: json!({"before": before}),
                })
            }
            SourceSpec::CircleciRunner {
                resource_class,
                nickname,
            } => {
                let c = self.circleci()?;
                let toks = c
                    .list_runner_tokens(resource_class)
                    .await
                    .into_result()
                    .map_err(|e| self.err(e))?;
                let before: Vec<String> = toks
                    .into_iter()
                    .filter(|t| Self::is_ours(nickname, &t.nickname))
                    .map(|t| t.id)
                    .collect();
                Ok(Prepared {
                    material: None,
                    info: json!({"before": before}),
                })
            }
            SourceSpec::FirebreakServe { .. } => {
                let c = self.serve.as_ref().ok_or_else(|| self.err("no client"))?;
                let before: Vec<String> = c
                    .list()
                    .await
                    .map_err(|e| self.err(e))?
                    .into_iter()
                    .filter(|t| t.active)
                    .map(|t| t.id)
                    .collect();
                Ok(Prepared {
                    material: None,
                    info: json!({"before": before}),
                })
            }
            SourceSpec::Dockerhub { .. } | SourceSpec::Npm { .. } | SourceSpec::Anaconda { .. } => {
                let (c, name) = self.registry()?;
                let before: Vec<String> = c
                    .list()
                    .await
                    .map_err(|e| self.err(e))?
                    .into_iter()
                    .filter(|t| crate::upload::is_ours(name, &t.label))
                    .map(|t| t.id)
                    .collect();
                Ok(Prepared {
                    material: None,
                    info: json!({"before": before}),
                })
            }
            SourceSpec::CircleciProjectToken { project, label, .. } => {
                let c = self.circleci()?;
                let before: Vec<String> = c
                    .list_project_tokens(project)
                    .await
                    .map_err(|e| self.err(e))?
                    .into_iter()
                    .filter(|t| Self::is_ours(label, &t.label))
                    .map(|t| t.id)
                    .collect();
                Ok(Prepared {
                    material: None,
                    info: json!({"before": before}),
                })
            }
            SourceSpec::AwsIam { user, .. } => {
                let iam = self.iam.as_ref().ok_or_else(|| self.err("no IAM client"))?;
                let keys = iam.list_access_keys(user).await.map_err(|e| self.err(e))?;
                if keys.len() >= 2 {
                    return Err(self.err(format!(
                        "IAM user {user} already has {} access keys (the limit is 2): delete an unused one first",
                        keys.len()
                    )));
                }
                let before: Vec<String> = keys.into_iter().map(|k| k.id).collect();
                Ok(Prepared {
                    material: None,
                    info: json!({"before": before}),
                })
            }
            _ => Ok(Prepared::default()),
        }
    }

    fn before(p: &Prepared) -> Vec<String> {
        p.info["before"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    fn gh_title(title: &str, idem: &str) -> String {
        format!("{title} (firebreak {})", &idem[..idem.len().min(12)])
    }

    /// True for a deploy key titled `title`, or one firebreak issued for it earlier.
    fn is_ours(title: &str, candidate: &str) -> bool {
        candidate == title || candidate.starts_with(&format!("{title} (firebreak "))
    }

    /// A registry source's client and the name of its tokens (Docker Hub's label, npm's and
    /// anaconda.org's name).
    fn registry(&self) -> Result<(&Registry, &str), SourceError> {
        let name = match &self.spec {
            SourceSpec::Dockerhub { label, .. } => label,
            SourceSpec::Npm { name, .. } | SourceSpec::Anaconda { name, .. } => name,
            _ => return Err(self.err("not a registry source")),
        };
        let c = self.registry.as_deref().ok_or_else(|| self.err("no client"))?;
        Ok((c, name))
    }

    fn github(&self) -> Result<&firebreak_providers::github::Client, SourceError> {
        self.clients
            .github
            .as_ref()
            .ok_or_else(|| self.err("no GitHub connection in the plan"))
    }

    fn circleci(&self) -> Result<&firebreak_providers::circleci::Client, SourceError> {
        self.clients
            .circleci
            .as_ref()
            .ok_or_else(|| self.err("no CircleCI connection in the plan"))
    }

    /// Issues a new credential with idempotency key `idem`.
    pub async fn issue(&self, idem: &str, p: &Prepared) -> Result<Issued, SourceError> {
        match &self.spec {
            SourceSpec::Random { .. } => Ok(Issued {
                cred: Credential {
                    id: None,
                    value: p
                        .material
                        .clone()
                        .ok_or_else(|| self.err("random value missing"))?,
                },
                previous_ids: vec![],
            }),
            SourceSpec::Command(_) | SourceSpec::Http { .. } => {
                let r = self
                    .proto(json!({"op": "issue", "secret": self.secret, "idempotency_key": idem}))
                    .await?;
                let value = r
                    .credential
                    .ok_or_else(|| self.err("issue reply has no credential"))?;
                Ok(Issued {
                    cred: Credential {
                        id: r.id,
                        value: SecretString::new(value),
                    },
                    previous_ids: r.previous_ids,
                })
            }
            SourceSpec::DeployKey {
                github_repo: Some(repo),
                title,
                read_only,
                ..
            } => {
                let c = self.github()?;
                let public = p.info["public_key"].as_str().unwrap_or("").to_string();
                let existing = c
                    .list_deploy_keys(repo)
                    .await
                    .into_result()
                    .map_err(|e| self.err(e))?;
                let prev: Vec<String> = existing
                    .iter()
                    .filter(|k| Self::is_ours(title, &k.title))
                    .map(|k| k.id.to_string())
                    .collect();
                let k = c
                    .create_deploy_key(repo, &Self::gh_title(title, idem), &public, *read_only)
                    .await
                    .map_err(|e| self.err(e))?;
                Ok(Issued {
                    cred: Credential {
                        id: Some(k.id.to_string()),
                        value: p
                            .material
                            .clone()
                            .ok_or_else(|| self.err("private key missing"))?,
                    },
                    previous_ids: prev,
                })
            }
            SourceSpec::DeployKey {
                circleci_project: Some(proj),
                ..
            } => {
                let c = self.circleci()?;
                let k = c
                    .create_checkout_key(proj, firebreak_providers::circleci::CheckoutKeyType::DeployKey)
                    .await
                    .map_err(|e| self.err(e))?;
                Ok(Issued {
                    cred: Credential {
                        id: Some(k.fingerprint),
                        value: SecretString::new(k.public_key),
                    },
                    previous_ids: Self::before(p),
                })
            }
            SourceSpec::AwsIam { user, .. } => {
                let iam = self.iam.as_ref().ok_or_else(|| self.err("no IAM client"))?;
                let (id, sk) = iam.create_access_key(user).await.map_err(|e| self.err(e))?;
                Ok(Issued {
                    cred: Credential {
                        id: Some(id),
                        value: sk,
                    },
                    previous_ids: Self::before(p),
                })
            }
            SourceSpec::CircleciRunner {
                resource_class,
                nickname,
            } => {
                let c = self.circleci()?;
                // a POST the HTTP layer never resends: after a lost reply, `lookup` finds
                // the token by its nickname (an orphan: its value was shown only once)
                let t = c
                    .create_runner_token(resource_class, &Self::gh_title(nickname, idem))
                    .await
                    .map_err(|e| self.err(e))?;
                Ok(Issued {
                    cred: Credential {
                        id: Some(t.meta.id),
                        value: t.token,
                    },
                    previous_ids: Self::before(p),
                })
            }
            SourceSpec::FirebreakServe { .. } => {
                let c = self.serve.as_ref().ok_or_else(|| self.err("no client"))?;
                let (id, token) = c.create().await.map_err(|e| self.err(e))?;
                Ok(Issued {
                    cred: Credential {
                        id: Some(id),
                        value: token,
                    },
                    previous_ids: Self::before(p),
                })
            }
            SourceSpec::Dockerhub { .. } | SourceSpec::Npm { .. } | SourceSpec::Anaconda { .. } => {
                let (c, name) = self.registry()?;
                let (id, token) = c
                    .create(&crate::upload::issued_label(name, idem))
                    .await
                    .map_err(|e| self.err(e))?;
                Ok(Issued {
                    cred: Credential {
                        id: Some(id),
                        value: token,
                    },
                    previous_ids: Self::before(p),
                })
            }
            SourceSpec::CircleciProjectToken {
                project,
                scope,
                label,
            } => {
                let c = self.circleci()?;
                // a POST the HTTP layer never resends: after a lost reply, `lookup` finds
                // the token by its label (an orphan: its value was shown only once)
                let (meta, token) = c
                    .create_project_token(project, scope, &Self::gh_title(label, idem))
                    .await
                    .map_err(|e| self.err(e))?;
                Ok(Issued {
                    cred: Credential {
                        id: Some(meta.id),
                        value: token,
                    },
                    previous_ids: Self::before(p),
                })
            }
            SourceSpec::DeployKey { .. } => Err(self.err("deploy_key needs github_repo or circleci_project")),
            SourceSpec::Manual { .. } => Err(self.err("manual source: nothing to issue")),
        }
    }

    /// After a crash between issue and its recorded result: was it issued?
    pub async fn lookup(&self, idem: &str, p: &Prepared) -> Result<Lookup, SourceError> {
        match &self.spec {
            SourceSpec::Random { .. } => Ok(Lookup::NotFound),
            SourceSpec::Command(_) | SourceSpec::Http { .. } => {
                let r = self
                    .proto(json!({"op": "lookup", "secret": self.secret, "idempotency_key": idem}))
                    .await?;
                if r.found == Some(false) || r.credential.is_none() {
                    return Ok(Lookup::NotFound);
                }
                Ok(Lookup::Found(Issued {
                    cred: Credential {
                        id: r.id,
                        value: SecretString::new(r.credential.unwrap_or_default()),
                    },
                    previous_ids: r.previous_ids,
                }))
            }
            SourceSpec::DeployKey {
                github_repo: Some(repo),
                title,
                ..
            } => {
                let c = self.github()?;
                let keys = c
                    .list_deploy_keys(repo)
                    .await
                    .into_result()
                    .map_err(|e| self.err(e))?;
                let mine = Self::gh_title(title, idem);
                let Some(k) = keys.iter().find(|k| k.title == mine) else {
                    return Ok(Lookup::NotFound);
                };
                let prev = keys
                    .iter()
                    .filter(|x| x.id != k.id && Self::is_ours(title, &x.title))
                    .map(|x| x.id.to_string())
                    .collect();
                Ok(Lookup::Found(Issued {
                    cred: Credential {
                        id: Some(k.id.to_string()),
                        value: p
                            .material
                            .clone()
                            .ok_or_else(|| self.err("private key missing"))?,
                    },
                    previous_ids: prev,
                }))
            }
            SourceSpec::DeployKey {
                circleci_project: Some(proj),
                ..
            } => {
                let c = self.circleci()?;
                let keys = c
                    .list_checkout_keys(proj)
                    .await
                    .into_result()
                    .map_err(|e| self.err(e))?;
                let before = Self::before(p);
                match keys.into_iter().find(|k| !before.contains(&k.fingerprint)) {
                    Some(k) => Ok(Lookup::Found(Issued {
                        cred: Credential {
                            id: Some(k.fingerprint),
                            value: SecretString::new(k.public_key),
                        },
                        previous_ids: before,
                    })),
                    None => Ok(Lookup::NotFound),
                }
            }
            SourceSpec::CircleciRunner {
                resource_class,
                nickname,
            } => {
                let c = self.circleci()?;
                let mine = Self::gh_title(nickname, idem);
                let toks = c
                    .list_runner_tokens(resource_class)
                    .await
                    .into_result()
                    .map_err(|e| self.err(e))?;
                match toks.into_iter().find(|t| t.nickname == mine) {
                    Some(t) => Ok(Lookup::Orphan(t.id)),
                    None => Ok(Lookup::NotFound),
                }
            }
            SourceSpec::FirebreakServe { .. } => {
                let c = self.serve.as_ref().ok_or_else(|| self.err("no client"))?;
                let before = Self::before(p);
                let now = c.list().await.map_err(|e| self.err(e))?;
                match now.into_iter().find(|t| t.active && !before.contains(&t.id)) {
                    Some(t) => Ok(Lookup::Orphan(t.id)),
                    None => Ok(Lookup::NotFound),
                }
            }
            SourceSpec::Dockerhub { .. } | SourceSpec::Npm { .. } | SourceSpec::Anaconda { .. } => {
                let (c, name) = self.registry()?;
                let mine = crate::upload::issued_label(name, idem);
                let now = c.list().await.map_err(|e| self.err(e))?;
                match now.into_iter().find(|t| t.label == mine) {
                    Some(t) => Ok(Lookup::Orphan(t.id)),
                    None => Ok(Lookup::NotFound),
                }
            }
            SourceSpec::CircleciProjectToken { project, label, .. } => {
                let c = self.circleci()?;
                let mine = Self::gh_title(label, idem);
                let toks = c.list_project_tokens(project).await.map_err(|e| self.err(e))?;
                match toks.into_iter().find(|t| t.label == mine) {
                    Some(t) => Ok(Lookup::Orphan(t.id)),
                    None => Ok(Lookup::NotFound),
                }
            }
            SourceSpec::AwsIam { user, .. } => {
                let iam = self.iam.as_ref().ok_or_else(|| self.err("no IAM client"))?;
                let before = Self::before(p);
                let keys = iam.list_access_keys(user).await.map_err(|e| self.err(e))?;
                match keys.into_iter().find(|k| !before.contains(&k.id)) {
                    Some(k) => Ok(Lookup::Orphan(k.id)),
                    None => Ok(Lookup::NotFound),
                }
            }
            _ => Ok(Lookup::NotFound),
        }
    }

    /// Deletes an orphan found by [`Source::lookup`].
    pub async fn delete_orphan(&self, id: &str) -> Result<(), SourceError> {
        match &self.spec {
            SourceSpec::AwsIam { user, .. } => {
                let iam = self.iam.as_ref().ok_or_else(|| self.err("no IAM client"))?;
                match iam.delete_access_key(user, id).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
                    Err(e) => Err(self.err(e)),
                }
            }
            SourceSpec::CircleciRunner { .. } => match self.circleci()?.delete_runner_token(id).await {
                Ok(()) => Ok(()),
                Err(e) if e.status() == Some(404) => Ok(()),
                Err(e) => Err(self.err(e)),
            },
            SourceSpec::FirebreakServe { .. }
            | SourceSpec::Dockerhub { .. }
            | SourceSpec::CircleciProjectToken { .. }
            | SourceSpec::Npm { .. }
            | SourceSpec::Anaconda { .. } => self.revoke(&[id.to_string()]).await,
            _ => Err(self.err("this source has no orphans")),
        }
    }

    /// Revokes credentials by id (idempotent: already gone is success).
    pub async fn revoke(&self, ids: &[String]) -> Result<(), SourceError> {
        for id in ids {
            match &self.spec {
                SourceSpec::Command(_) | SourceSpec::Http { .. } => {
                    self.proto(json!({"op": "revoke", "secret": self.secret, "id": id}))
                        .await?;
                }
                SourceSpec::DeployKey {
                    github_repo: Some(repo),
                    ..
                } => {
                    let c = self.github()?;
                    let n: u64 = id
                        .parse()
                        .map_err(|_| self.err(format!("bad deploy key id {id}")))?;
                    match c.delete_deploy_key(repo, n).await {
                        Ok(()) => {}
                        Err(e) if e.status() == Some(404) => {}
                        Err(e) => return Err(self.err(e)),
                    }
                }
                SourceSpec::DeployKey {
                    circleci_project: Some(p),
                    ..
                } => {
                    let c = self.circleci()?;
                    match c.delete_checkout_key(p, id).await {
                        Ok(()) => {}
                        Err(e) if e.status() == Some(404) => {}
                        Err(e) => return Err(self.err(e)),
                    }
                }
                SourceSpec::CircleciRunner { .. } => match self.circleci()?.delete_runner_token(id).await {
                    Ok(()) => {}
                    Err(e) if e.status() == Some(404) => {}
                    Err(e) => return Err(self.err(e)),
                },
                SourceSpec::FirebreakServe { .. } => {
                    let c = self.serve.as_ref().ok_or_else(|| self.err("no client"))?;
                    c.delete(id).await.map_err(|e| self.err(e))?;
                }
                SourceSpec::Dockerhub { .. } | SourceSpec::Npm { .. } | SourceSpec::Anaconda { .. } => {
                    let (c, _) = self.registry()?;
                    c.delete(id).await.map_err(|e| self.err(e))?;
                }
                SourceSpec::CircleciProjectToken { project, .. } => {
                    match self.circleci()?.delete_project_token(project, id).await {
                        Ok(()) => {}
                        Err(e) if e.status() == Some(404) => {}
                        Err(e) => return Err(self.err(e)),
                    }
                }

                SourceSpec::AwsIam { user, .. } => {
                    let iam = self.iam.as_ref().ok_or_else(|| self.err("no IAM client"))?;
                    // Deactivate first (reversible), then delete.
                    match iam.update_access_key(user, id, "Inactive").await {
                        Ok(()) => {}
                        Err(e) if e.code() == Some("NoSuchEntity") => continue,
                        Err(e) => return Err(self.err(e)),
                    }
                    match iam.delete_access_key(user, id).await {
                        Ok(()) => {}
                        Err(e) if e.code() == Some("NoSuchEntity") => {}
                        Err(e) => return Err(self.err(e)),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The credential with id `id`, when the source can give it back (rollback).
    pub async fn fetch(&self, id: &str) -> Result<Option<SecretString>, SourceError> {
        if !self.can_fetch() {
            return Ok(None);
        }
        let r = self
            .proto(json!({"op": "fetch", "secret": self.secret, "id": id}))
            .await?;
        Ok(r.credential.map(SecretString::new))
    }
}

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(SecretString::new)
}

/// Starts `c` with stdin piped (stdout piped when `read_stdout`, else discarded), stderr
/// discarded, the environment cleared except `PATH`, the allowlist and
/// `FIREBREAK_SECRET_NAME`; killed when dropped.
pub(crate) fn spawn_isolated(
    c: &CommandSpec,
    secret: &str,
    read_stdout: bool,
) -> Result<tokio::process::Child, String> {
    let mut cmd = tokio::process::Command::new(&c.program);
    cmd.args(&c.args)
        .env_clear()
        .env("FIREBREAK_SECRET_NAME", secret)
        .stdin(std::process::Stdio::piped())
        .stdout(if read_stdout {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(p) = std::env::var_os("PATH") {
        cmd.env("PATH", p);
    }
    for k in &c.env {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start {}: {e}", c.program))
}

/// Runs a protocol command: one JSON request on stdin, one JSON reply on stdout. The
/// environment is cleared except `PATH` and the allowlist; `FIREBREAK_SECRET_NAME` names
/// the secret. stderr is not read into logs (it could hold a secret).
async fn run_command(c: &CommandSpec, secret: &str, req: &Value) -> Result<String, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = spawn_isolated(c, secret, true)?;
    let mut line = serde_json::to_vec(req).unwrap_or_default();
    line.push(b'\n');
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&line)
            .await
            .map_err(|e| format!("{}: writing request: {e}", c.program))?;
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), child.wait_with_output())
        .await
        .map_err(|_| format!("{} timed out after 300 s", c.program))?
        .map_err(|e| format!("{}: {e}", c.program))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", c.program, out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("{}: reply is not UTF-8", c.program))
}

/// The protocol request, for documentation and the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProtocolRequest {
    /// `issue`, `lookup`, `revoke` or `fetch`.
    pub op: String,
    /// Secret name.
    #[serde(default)]
    pub secret: String,
    /// Idempotency key (`issue`, `lookup`).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Credential id (`revoke`, `fetch`).
    #[serde(default)]
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values() {
        let v = random_value(40, "hex", Some("fbu_"));
        assert_eq!(v.len(), 44);
        assert!(v.expose().starts_with("fbu_"));
        assert!(v.expose()[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random_value(40, "alnum", None), random_value(40, "alnum", None));
        assert_eq!(alphabet_chars("abca"), vec!['a', 'b', 'c']);
    }

    #[tokio::test]
    async fn command_protocol() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("src.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nread req\ncase \"$req\" in\n*'\"op\":\"issue\"'*) echo '{\"id\":\"k2\",\"credential\":\"cred-value-123456\",\"previous_ids\":[\"k1\"]}';;\n*'\"op\":\"lookup\"'*) echo '{\"found\":false}';;\n*'\"op\":\"revoke\"'*) echo '{\"ok\":true}';;\n*) echo '{\"error\":\"unsupported\"}';;\nesac\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec = SourceSpec::Command(CommandSpec {
            program: script.display().to_string(),
            args: vec![],
            env: vec![],
        });
        let s = Source::new("S", &spec, SourceClients::default()).unwrap();
        let p = s.prepare("k").await.unwrap();
        let i = s.issue("idem-1", &p).await.unwrap();
        assert_eq!(i.cred.id.as_deref(), Some("k2"));
        assert_eq!(i.previous_ids, vec!["k1".to_string()]);
        assert!(matches!(s.lookup("idem-1", &p).await.unwrap(), Lookup::NotFound));
        s.revoke(&["k1".into()]).await.unwrap();
        let e = s.fetch("k1").await.unwrap_err().to_string();
        assert!(e.contains("unsupported"), "{e}");
    }
}
