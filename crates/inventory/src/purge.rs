//! Retiring a CI provider: delete the secrets it still stores (conda-forge's third
//! lesson: remove secrets from CI services you no longer use).
//!
//! [`plan`] decides, from saved snapshots, which secrets of the retired provider may go:
//! only those whose replacement is proven elsewhere (a secret of the same name in
//! another provider's snapshot, written at or after the retired one's last write) unless
//! forced. [`delete`] deletes one through the provider's documented API; a secret that is
//! gone already (404) counts as deleted, so a run cut short is resumed by running it
//! again. Journaling is the caller's (`firebreak inventory purge` keeps one in the store).

use firebreak_providers::{circleci, github, gitlab, Item, Kind, Provider};
use serde::Serialize;

/// One secret of the retired provider, and what the plan says about it.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The secret (metadata only).
    pub item: Item,
    /// Where its replacement lives (`provider/kind/scope/name`), when proven.
    pub replacement: Option<String>,
    /// Why it is kept, when it is.
    pub keep_reason: Option<String>,
}

impl Candidate {
    /// True when the plan deletes it.
    pub fn deletes(&self) -> bool {
        self.keep_reason.is_none()
    }
}

/// Kinds a purge can delete (each has a documented delete call).
pub fn deletable(k: Kind) -> bool {
    matches!(
        k,
        Kind::EnvVar
            | Kind::ContextVar
            | Kind::CheckoutKey
            | Kind::SshKey
            | Kind::ActionsSecret
            | Kind::OrgSecret
            | Kind::EnvironmentSecret
            | Kind::DependabotSecret
            | Kind::ProjectVariable
            | Kind::GroupVariable
            | Kind::InstanceVariable
    )
}

/// What to delete from `retired` (the latest snapshot of the retired provider), given
/// `elsewhere` (the latest snapshots of the providers that replace it). `scope` limits
/// the purge to scopes starting with it; `force` deletes even what has no proven
/// replacement (keys, which have no name to match, need `force`).
pub fn plan(retired: &[Item], elsewhere: &[Item], scope: Option<&str>, force: bool) -> Vec<Candidate> {
    let mut out = Vec::new();
    for it in retired {
        if scope.is_some_and(|s| !it.scope.starts_with(s)) {
            continue;
        }
        if !deletable(it.kind) {
            out.push(Candidate {
                item: it.clone(),
                replacement: None,
                keep_reason: Some(format!("{} cannot be deleted through an API", it.kind)),
            });
            continue;
        }
        let written = it.last_written();
        let repl = elsewhere
            .iter()
            .filter(|o| o.provider != it.provider && o.name.eq_ignore_ascii_case(&it.name))
            .filter(|o| match (written, o.last_written()) {
                (Some(w), Some(ow)) => ow >= w,
                (None, Some(_)) => true,
                _ => false,
            })
            .max_by_key(|o| o.last_written());
        let keep_reason = match (repl, force) {
            (Some(_), _) | (None, true) => None,
            (None, false) if matches!(it.kind, Kind::CheckoutKey | Kind::SshKey) => Some(
                "a key has no name to match a replacement by: delete it with --force once its repository's new key is in place".into(),
            ),
            (None, false) => Some(format!(
                "no replacement proven: no secret named {} written at or after it in another provider's snapshot (--force deletes it anyway)",
                it.name
            )),
        };
        out.push(Candidate {
            item: it.clone(),
            replacement: repl.map(Item::identity),
            keep_reason,
        });
    }
    out
}

/// The clients of the retired provider.
pub enum Clients {
    /// CircleCI, with the organisation (`gh/acme`) that owns its contexts.
    Circleci(circleci::Client, String),
    /// GitHub.
    Github(github::Client),
    /// GitLab.
    Gitlab(gitlab::Client),
}

/// What deleting one secret came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deleted {
    /// Deleted now.
    Deleted,
    /// Not there any more (404): deleted earlier, by this tool or someone else.
    Gone,
}

fn status(e: &firebreak_providers::HttpError) -> Option<u16> {
    e.status()
}

/// Deletes one secret through its provider's API. Errors name the request (the
/// provider's API path, which holds no value).
pub async fn delete(c: &Clients, it: &Item) -> Result<Deleted, String> {
    let res: Result<(), firebreak_providers::HttpError> = match (c, it.kind) {
        (Clients::Circleci(cc, _), Kind::EnvVar) => cc.delete_env_var(&it.scope, &it.name).await,
        (Clients::Circleci(cc, org), Kind::ContextVar) => {
            let owner = if org.contains('/') {
                org.clone()
            } else {
                format!("gh/{org}")
            };
            let ctxs = cc.list_contexts(&circleci::Owner::Slug(owner)).await;
            match ctxs.items.into_iter().find(|x| x.name == it.scope) {
                Some(ctx) => cc.delete_context_var(&ctx.id, &it.name).await,
                None => match ctxs.error {
                    Some(e) => return Err(format!("listing contexts: {e}")),
                    None => return Ok(Deleted::Gone),
                },
            }
        }
        (Clients::Circleci(cc, _), Kind::CheckoutKey) => cc.delete_checkout_key(&it.scope, &it.name).await,
        (Clients::Circleci(cc, _), Kind::SshKey) => {
            let host = it
                .flags
                .detail
                .as_deref()
                .and_then(|d| d.strip_prefix("host "))
                .unwrap_or("");
            cc.delete_ssh_key(&it.scope, host, &it.name).await
        }
        (Clients::Github(gh), k) => {
            let scope = match k {
                Kind::ActionsSecret => github::SecretScope::Repo(it.scope.clone()),
                Kind::OrgSecret => github::SecretScope::Org(it.scope.clone()),
                Kind::EnvironmentSecret => {
                    let (r, e) = it.scope.rsplit_once(':').unwrap_or((&it.scope, ""));
                    github::SecretScope::Environment {
                        repo: r.to_string(),
                        environment: e.to_string(),
                    }
                }
                Kind::DependabotSecret if it.scope.contains('/') => {
                    github::SecretScope::DependabotRepo(it.scope.clone())
                }
                Kind::DependabotSecret => github::SecretScope::DependabotOrg(it.scope.clone()),
                _ => return Err(format!("{} cannot be deleted through an API", it.kind)),
            };
            gh.delete_secret(&scope, &it.name).await
        }
        (Clients::Gitlab(gl), k) => {
            let scope = match k {
                Kind::ProjectVariable => gitlab::VarScope::Project(it.scope.clone()),
                Kind::GroupVariable => gitlab::VarScope::Group(it.scope.clone()),
                Kind::InstanceVariable => gitlab::VarScope::Instance,
                _ => return Err(format!("{} cannot be deleted through an API", it.kind)),
            };
            gl.delete_variable(&scope, &it.name, it.flags.environment_scope.as_deref())
                .await
        }
        (_, k) => return Err(format!("{k} of {} cannot be deleted by this client", it.provider)),
    };
    match res {
        Ok(()) => Ok(Deleted::Deleted),
        Err(e) if status(&e) == Some(404) => Ok(Deleted::Gone),
        Err(e) => Err(e.to_string()),
    }
}

/// The provider a set of clients deletes from.
pub fn provider_of(c: &Clients) -> Provider {
    match c {
        Clients::Circleci(..) => Provider::Circleci,
        Clients::Github(_) => Provider::Github,
        Clients::Gitlab(_) => Provider::Gitlab,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item(p: Provider, k: Kind, scope: &str, name: &str, day: u32) -> Item {
        Item {
            provider: p,
            kind: k,
            scope: scope.into(),
            name: name.into(),
            created_at: Some(chrono::Utc.with_ymd_and_hms(2023, 1, day, 0, 0, 0).unwrap()),
            updated_at: None,
            flags: Default::default(),
        }
    }

    #[test]
    fn only_what_is_proven_replaced_goes_unless_forced() {
        let retired = vec![
            item(Provider::Circleci, Kind::EnvVar, "gh/a/x", "NPM_TOKEN", 3),
            item(Provider::Circleci, Kind::EnvVar, "gh/a/x", "PYPI_TOKEN", 3),
            item(Provider::Circleci, Kind::EnvVar, "gh/a/x", "OLD_SECRET", 9),
            item(Provider::Circleci, Kind::CheckoutKey, "gh/a/x", "aa:bb", 3),
            item(Provider::Circleci, Kind::EnvVar, "gh/b/y", "NPM_TOKEN", 3),
        ];
        let elsewhere = vec![
            item(Provider::Github, Kind::ActionsSecret, "a/x", "NPM_TOKEN", 10),
            // written before the retired one: not proof
            item(Provider::Github, Kind::ActionsSecret, "a/x", "OLD_SECRET", 5),
        ];
        let p = plan(&retired, &elsewhere, Some("gh/a/"), false);
        assert_eq!(p.len(), 4, "the scope filter keeps gh/a only");
        let by = |n: &str| p.iter().find(|c| c.item.name == n).unwrap();
        assert!(by("NPM_TOKEN").deletes());
        assert_eq!(
            by("NPM_TOKEN").replacement.as_deref(),
            Some("github/actions_secret/a/x/NPM_TOKEN")
        );
        assert!(!by("PYPI_TOKEN").deletes());
        assert!(!by("OLD_SECRET").deletes());
        assert!(by("aa:bb").keep_reason.as_deref().unwrap().contains("--force"));
        assert!(plan(&retired, &elsewhere, None, true)
            .iter()
            .all(Candidate::deletes));
    }
}
