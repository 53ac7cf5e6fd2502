//! GitHub client (github.com or Enterprise Server): organisation repositories, Actions
//! secrets (repository, organisation with visibility, environment), Dependabot and
//! Codespaces secrets (repository and organisation), Actions variables (repository,
//! organisation, environment; values returned in plain text), deploy keys, secret public keys and sealed-secret writes, Actions run logs.
//!
//! `Authorization: Bearer TOKEN`; pagination follows the `Link: rel="next"` header.

use crate::http::{link_next, parse_ts, url_for, Auth, Http, HttpConfig, HttpError, PageGuard};
use crate::Listing;
use chrono::{DateTime, Utc};
use firebreak_core::SecretString;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

/// Default API base.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Environment variable holding the token.
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";

/// A GitHub connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: Http,
    base: Url,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    /// Numeric id (used by organisation secrets' `selected_repository_ids`).
    #[serde(default)]
    pub id: u64,
    /// `owner/name`.
    pub full_name: String,
}

/// Where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretScope {
    /// Actions repository secret (`owner/repo`).
    Repo(String),
    /// Actions organisation secret.
    Org(String),
    /// Actions environment secret.
    Environment {
        /// `owner/repo`.
        repo: String,
        /// Environment name.
        environment: String,
    },
    /// Dependabot repository secret.
    DependabotRepo(String),
    /// Dependabot organisation secret.
    DependabotOrg(String),
    /// Codespaces repository secret (`owner/repo`).
    CodespacesRepo(String),
    /// Codespaces organisation secret.
    CodespacesOrg(String),
}

impl SecretScope {
    fn path(&self) -> (String, Vec<String>) {
        let split = |r: &str| -> Vec<String> {
            let (o, n) = r.split_once('/').unwrap_or((r, ""));
            vec![o.to_string(), n.to_string()]
        };
        match self {
            SecretScope::Repo(r) => {
                let mut v = split(r);
                v.extend(["actions".into(), "secrets".into()]);
                ("repos".into(), v)
            }
            SecretScope::Org(o) => ("orgs".into(), vec![o.clone(), "actions".into(), "secrets".into()]),
            SecretScope::Environment { repo, environment } => {
                let mut v = split(repo);
                v.extend(["environments".into(), environment.clone(), "secrets".into()]);
                ("repos".into(), v)
            }
            SecretScope::DependabotRepo(r) => {
                let mut v = split(r);
                v.extend(["dependabot".into(), "secrets".into()]);
                ("repos".into(), v)
            }
            SecretScope::DependabotOrg(o) => (
                "orgs".into(),
                vec![o.clone(), "dependabot".into(), "secrets".into()],
            ),
            SecretScope::CodespacesRepo(r) => {
                let mut v = split(r);
                v.extend(["codespaces".into(), "secrets".into()]);
                ("repos".into(), v)
            }
            SecretScope::CodespacesOrg(o) => (
                "orgs".into(),
                vec![o.clone(), "codespaces".into(), "secrets".into()],
            ),
        }
    }

    /// True for organisation-level scopes (whose PUT needs a visibility).
    pub fn is_org(&self) -> bool {
        matches!(
            self,
            SecretScope::Org(_) | SecretScope::DependabotOrg(_) | SecretScope::CodespacesOrg(_)
        )
    }
}

/// Where an Actions variable lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VarScope {
    /// Repository variable (`owner/repo`): `GET /repos/{owner}/{repo}/actions/variables`.
    Repo(String),
    /// Organisation variable: `GET /orgs/{org}/actions/variables`.
    Org(String),
    /// Environment variable: `GET /repos/{owner}/{repo}/environments/{env}/variables`.
    Environment {
        /// `owner/repo`.
        repo: String,
        /// Environment name.
        environment: String,
    },
}

/// An Actions variable. GitHub returns variable values in plain text: the value is held
/// as a [`SecretString`] (never serialised, redacted in `Debug`) only so that the caller
/// can scan it and drop it.
#[derive(Debug, Clone, Deserialize)]
pub struct Variable {
    /// Name.
    pub name: String,
    /// The value, as GitHub returns it.
    #[serde(default, deserialize_with = "de_secret")]
    pub value: Option<SecretString>,
    /// Creation time.
    #[serde(default, deserialize_with = "de_ts")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "de_ts")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Organisation variables: `all`, `private` or `selected`.
    #[serde(default)]
    pub visibility: Option<String>,
}

/// A variable's value: GitHub documents a string, but its own published example holds a
/// boolean (`"value": true`): any scalar is taken as its text.
fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(SecretString::new(s)),
        Some(other) => Some(SecretString::new(other.to_string())),
    })
}

/// A secret's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Name.
    pub name: String,
    /// Creation time.
    #[serde(default, deserialize_with = "de_ts")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "de_ts")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Organisation secrets: `all`, `private` or `selected`.
    #[serde(default)]
    pub visibility: Option<String>,
}

fn de_ts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(parse_ts(s.as_deref()))
}

/// A public key for sealing secrets (`.../secrets/public-key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// Key id to send back with the encrypted value.
    pub key_id: String,
    /// Base64 X25519 public key.
    pub key: String,
}

/// A secret value already sealed (libsodium sealed box) with the scope's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedSecret {
    /// The public key's id.
    pub key_id: String,
    /// Base64 sealed box.
    pub encrypted_value: String,
}

/// Visibility of an organisation secret on write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgVisibility {
    /// All repositories.
    All,
    /// Private repositories.
    Private,
    /// The listed repository ids.
    Selected(Vec<u64>),
}

/// A deploy key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployKey {
    /// Id (for delete).
    pub id: u64,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Public key.
    #[serde(default)]
    pub key: String,
    /// Read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Creation time.
    #[serde(default, deserialize_with = "de_ts")]
    pub created_at: Option<DateTime<Utc>>,
}

/// A workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Run id.
    pub id: u64,
    /// Workflow name.
    #[serde(default)]
    pub name: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "de_ts")]
    pub created_at: Option<DateTime<Utc>>,
}

/// One run's logs: a zip archive as GitHub serves it.
#[derive(Debug, Clone)]
pub struct RunLog {
    /// `github:owner/repo/runs/ID`.
    pub name: String,
    /// Run id.
    pub run_id: u64,
    /// The zip archive bytes.
    pub zip: Vec<u8>,
}

/// Most bytes [`RunLog::entries`] expands from one archive (a zip bomb served as a run
/// log must not exhaust memory).
pub const MAX_RUN_LOG_BYTES: u64 = 1 << 30;

impl RunLog {
    /// The files in the archive, as `(name!entry, bytes)`. Fails when the archive
    /// expands past [`MAX_RUN_LOG_BYTES`].
    pub fn entries(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        self.entries_bounded(MAX_RUN_LOG_BYTES)
    }

    /// Like [`RunLog::entries`] with a bound of `max_bytes` expanded bytes in all.
    pub fn entries_bounded(&self, max_bytes: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
        use std::io::Read;
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(&self.zip))
            .map_err(|e| format!("{}: not a zip archive: {e}", self.name))?;
        let mut out = Vec::new();
        let mut total = 0u64;
        for i in 0..z.len() {
            let f = z
                .by_index(i)
                .map_err(|e| format!("{}: entry {i}: {e}", self.name))?;
            if f.is_dir() {
                continue;
            }
            let name = format!("{}!{}", self.name, f.name());
            let mut buf = Vec::new();
            let left = max_bytes - total;
            f.take(left + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("{name}: {e}"))?;
            if buf.len() as u64 > left {
                return Err(format!(
                    "{name}: run log archive expands past {max_bytes} bytes (probable zip bomb)"
                ));
            }
            total += buf.len() as u64;
            out.push((name, buf));
        }
        Ok(out)
    }
}

impl Client {
    /// A client for `api_url` (`https://api.github.com`, or `https://HOST/api/v3`).
    pub fn new(api_url: &str, token: SecretString, cfg: HttpConfig) -> Result<Self, HttpError> {
        let base = Url::parse(api_url).map_err(|e| HttpError::BadUrl {
            // A flag's value, which may hold credentials (`https://user:token@host`).
            url: firebreak_core::secret::quote_untrusted(api_url),
            message: e.to_string(),
        })?;
        let http = Http::new(&base, Auth::Bearer(token), cfg)?;
        Ok(Client { http, base })
    }

    /// The shared HTTP layer.
    pub fn http(&self) -> &Http {
        &self.http
    }

    fn url(&self, path: &str, segs: &[&str]) -> Url {
        url_for(&self.base, path, segs)
    }

    /// Follows `Link: rel="next"`; `field` names the array inside an object body
    /// (`secrets`, `environments`, ...) or `None` for an array body.
    async fn list<T: for<'de> Deserialize<'de>>(&self, u: Url, field: Option<&str>) -> Listing<T> {
        self.list_capped(u, field, 100).await
    }

    /// [`Client::list`] with `per_page` set to `per_page` (the endpoint's maximum).
    async fn list_capped<T: for<'de> Deserialize<'de>>(
        &self,
        mut u: Url,
        field: Option<&str>,
        per_page: u32,
    ) -> Listing<T> {
        u.query_pairs_mut().append_pair("per_page", &per_page.to_string());
        let mut out = Vec::new();
        let mut guard = PageGuard::new(self.http.config().max_pages);
        loop {
            let resp = match self.http.send(Method::GET, &u, None).await {
                Ok(r) => r,
                Err(e) => return Listing::partial(out, e),
            };
            let parsed: Result<Vec<T>, HttpError> = match field {
                None => resp.json::<Vec<T>>("GET"),
                Some(f) => resp.json::<serde_json::Value>("GET").and_then(|mut v| {
                    let arr = v
                        .get_mut(f)
                        .map(serde_json::Value::take)
                        .unwrap_or_else(|| json!([]));
                    serde_json::from_value::<Vec<T>>(arr).map_err(|e| HttpError::Decode {
                        method: "GET".into(),
                        url: u.to_string(),
                        message: format!(
                            "field {f:?}: {}",
                            e.to_string().split(" at ").next().unwrap_or("")
                        ),
                    })
                }),
            };
            match parsed {
                Ok(v) => out.extend(v),
                Err(e) => return Listing::partial(out, e),
            }
            let Some(next) = link_next(&resp.headers) else {
                return Listing::ok(out);
            };
            let next_url = match u.join(&next) {
                Ok(n) => n,
                Err(e) => {
                    return Listing::partial(
                        out,
                        HttpError::BadUrl {
                            url: next,
                            message: e.to_string(),
                        },
                    )
                }
            };
            if !self.http.same_origin(&next_url) {
                return Listing::partial(
                    out,
                    HttpError::BadUrl {
                        url: next_url.to_string(),
                        message: "next page is on another host; not followed".into(),
                    },
                );
            }
            if let Err(e) = guard.next(&u, next_url.as_str()) {
                return Listing::partial(out, e);
            }
            u = next_url;
        }
    }

    /// Repositories of an organisation (`GET /orgs/{org}/repos`).
    pub async fn list_org_repos(&self, org: &str) -> Listing<Repo> {
        self.list(self.url("orgs", &[org, "repos"]), None).await
    }

    /// Environment names of a repository (`GET /repos/{owner}/{repo}/environments`).
    pub async fn list_environments(&self, repo: &str) -> Listing<String> {
        #[derive(Deserialize)]
        struct Env {
            name: String,
        }
        let (o, n) = repo.split_once('/').unwrap_or((repo, ""));
        let l: Listing<Env> = self
            .list(self.url("repos", &[o, n, "environments"]), Some("environments"))
            .await;
        Listing {
            items: l.items.into_iter().map(|e| e.name).collect(),
            error: l.error,
        }
    }

    /// Secrets of a scope (metadata only; GitHub never returns values).
    pub async fn list_secrets(&self, scope: &SecretScope) -> Listing<Secret> {
        let (root, segs) = scope.path();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.list(self.url(&root, &segs), Some("secrets")).await
    }

    /// Actions variables of a scope, with their values (see [`Variable`]). GitHub pages
    /// variables by at most 30: the `Link` header is followed.
    pub async fn list_variables(&self, scope: &VarScope) -> Listing<Variable> {
        let split = |r: &str| -> (String, String) {
            let (o, n) = r.split_once('/').unwrap_or((r, ""));
            (o.to_string(), n.to_string())
        };
        let u = match scope {
            VarScope::Repo(r) => {
                let (o, n) = split(r);
                self.url("repos", &[&o, &n, "actions", "variables"])
            }
            VarScope::Org(o) => self.url("orgs", &[o, "actions", "variables"]),
            VarScope::Environment { repo, environment } => {
                let (o, n) = split(repo);
                self.url("repos", &[&o, &n, "environments", environment, "variables"])
            }
        };
        self.list_capped(u, Some("variables"), 30).await
    }

    /// One secret's metadata, `None` when absent.
    pub async fn get_secret(&self, scope: &SecretScope, name: &str) -> Result<Option<Secret>, HttpError> {
        let (root, mut segs) = scope.path();
        segs.push(name.to_string());
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match self.http.get_json::<Secret>(&self.url(&root, &segs)).await {
            Ok((s, _)) => Ok(Some(s)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The scope's public key for sealing values (`.../secrets/public-key`).
    pub async fn public_key(&self, scope: &SecretScope) -> Result<PublicKey, HttpError> {
        let (root, mut segs) = scope.path();
        segs.push("public-key".into());
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        Ok(self.http.get_json::<PublicKey>(&self.url(&root, &segs)).await?.0)
    }

    /// Creates or updates a secret with a value already sealed with [`Client::public_key`]
    /// (`PUT .../secrets/{name}`). Organisation scopes need `visibility`
    /// (defaults to `private` when `None`).
    pub async fn put_secret(
        &self,
        scope: &SecretScope,
        name: &str,
        value: &EncryptedSecret,
        visibility: Option<&OrgVisibility>,
    ) -> Result<(), HttpError> {
        let (root, mut segs) = scope.path();
        segs.push(name.to_string());
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let mut body = json!({"encrypted_value": value.encrypted_value, "key_id": value.key_id});
        if scope.is_org() {
            let (vis, ids) = match visibility.unwrap_or(&OrgVisibility::Private) {
                OrgVisibility::All => ("all", None),
                OrgVisibility::Private => ("private", None),
                OrgVisibility::Selected(ids) => ("selected", Some(ids.clone())),
            };
            body["visibility"] = json!(vis);
            if let Some(ids) = ids {
                body["selected_repository_ids"] = json!(ids);
            }
        }
        self.http
            .send(Method::PUT, &self.url(&root, &segs), Some(&body))
            .await
            .map(|_| ())
    }

    /// Deletes a secret.
    pub async fn delete_secret(&self, scope: &SecretScope, name: &str) -> Result<(), HttpError> {
        let (root, mut segs) = scope.path();
        segs.push(name.to_string());
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.http
            .send(Method::DELETE, &self.url(&root, &segs), None)
            .await
            .map(|_| ())
    }

    /// Deploy keys of a repository (`GET /repos/{owner}/{repo}/keys`).
    pub async fn list_deploy_keys(&self, repo: &str) -> Listing<DeployKey> {
        let (o, n) = repo.split_once('/').unwrap_or((repo, ""));
        self.list(self.url("repos", &[o, n, "keys"]), None).await
    }

    /// Adds a deploy key (`POST /repos/{owner}/{repo}/keys`).
    pub async fn create_deploy_key(
        &self,
        repo: &str,
        title: &str,
        public_key: &str,
        read_only: bool,
    ) -> Result<DeployKey, HttpError> {
        let (o, n) = repo.split_once('/').unwrap_or((repo, ""));
        let body = json!({"title": title, "key": public_key, "read_only": read_only});
        let r = self
            .http
            .send(Method::POST, &self.url("repos", &[o, n, "keys"]), Some(&body))
            .await?;
        r.json("POST")
    }

    /// Deletes a deploy key.
    pub async fn delete_deploy_key(&self, repo: &str, key_id: u64) -> Result<(), HttpError> {
        let (o, n) = repo.split_once('/').unwrap_or((repo, ""));
        let id = key_id.to_string();
        self.http
            .send(Method::DELETE, &self.url("repos", &[o, n, "keys", &id]), None)
            .await
            .map(|_| ())
    }

    /// Workflow runs created at or after `since` (`GET /repos/{o}/{r}/actions/runs`).
    pub async fn list_runs(&self, repo: &str, since: Option<DateTime<Utc>>) -> Listing<Run> {
        let (o, n) = repo.split_once('/').unwrap_or((repo, ""));
        let mut u = self.url("repos", &[o, n, "actions", "runs"]);
        if let Some(s) = since {
            u.query_pairs_mut().append_pair(
                "created",
                &format!(">={}", s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
        }
        self.list(u, Some("workflow_runs")).await
    }

    /// Downloads one run's log archive (`GET .../actions/runs/{id}/logs` → 302 → zip). The
    /// token is not sent to a redirect target on another host.
    pub async fn run_log(&self, repo: &str, run_id: u64) -> Result<RunLog, HttpError> {
        let (o, n) = repo.split_once('/').unwrap_or((repo, ""));
        let id = run_id.to_string();
        let u = self.url("repos", &[o, n, "actions", "runs", &id, "logs"]);
        let mut resp = self.http.send(Method::GET, &u, None).await?;
        let mut hops = 0;
        while (300..400).contains(&resp.status) {
            hops += 1;
            let loc = resp.header("location").ok_or_else(|| HttpError::Decode {
                method: "GET".into(),
                url: resp.url.to_string(),
                message: "redirect without Location".into(),
            })?;
            let next = resp.url.join(loc).map_err(|e| HttpError::BadUrl {
                url: loc.to_string(),
                message: e.to_string(),
            })?;
            if hops > 5 {
                return Err(HttpError::BadUrl {
                    url: next.to_string(),
                    message: "too many redirects".into(),
                });
            }
            resp = self.http.send(Method::GET, &next, None).await?;
        }
        Ok(RunLog {
            name: format!("github:{repo}/runs/{run_id}"),
            run_id,
            zip: resp.body,
        })
    }

    /// Streams the log archives of the repository's runs created at or after `since`.
    /// Errors arrive as `Err` items; the stream goes on.
    pub fn run_logs(
        &self,
        repo: &str,
        since: Option<DateTime<Utc>>,
    ) -> tokio::sync::mpsc::Receiver<Result<RunLog, HttpError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let this = self.clone();
        let repo = repo.to_string();
        tokio::spawn(async move {
            let runs = this.list_runs(&repo, since).await;
            for run in runs.items {
                if let (Some(s), Some(c)) = (since, run.created_at) {
                    if c < s {
                        continue;
                    }
                }
                let r = this.run_log(&repo, run.id).await;
                if tx.send(r).await.is_err() {
                    return;
                }
            }
            if let Some(e) = runs.error {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn run_log_entries_are_bounded() {
        // Found by the adversarial suite: a run-log zip was expanded without bound.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        for n in ["1_build.txt", "2_test.txt"] {
            w.start_file(n, o).unwrap();
            w.write_all(&[0u8; 3000]).unwrap();
        }
        let log = RunLog {
            name: "github:o/r/runs/1".into(),
            run_id: 1,
            zip: w.finish().unwrap().into_inner(),
        };
        assert_eq!(log.entries_bounded(6000).unwrap().len(), 2);
        let e = log.entries_bounded(4000).unwrap_err();
        assert!(
            e.starts_with("github:o/r/runs/1!2_test.txt") && e.contains("zip bomb"),
            "{e}"
        );
        assert_eq!(log.entries().unwrap().len(), 2);
    }
}
