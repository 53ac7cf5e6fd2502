//! Inventory of secrets stored in CI providers: snapshots, diff, verify.
//!
//! [`collect_circleci`], [`collect_github`] and [`collect_gitlab`] list every stored
//! secret (metadata only) of an organisation with the provider clients, concurrently,
//! recording per-scope errors instead of stopping. [`diff`] compares two snapshots;
//! [`verify`] says, secret by secret, whether it was rotated after a time.

#![warn(missing_docs)]

pub mod purge;

use chrono::{DateTime, SecondsFormat, Utc};
use firebreak_providers::http::StatsSnapshot;
use firebreak_providers::model::identity;
use firebreak_providers::{circleci, github, gitlab, Flags, Item, ItemError, Kind, Listing, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The outcome of one inventory run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Provider.
    pub provider: Provider,
    /// Organisation / group.
    pub org: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Items, sorted by identity.
    pub items: Vec<Item>,
    /// Per-scope errors.
    pub errors: Vec<ItemError>,
    /// HTTP counters.
    pub stats: StatsSnapshot,
    /// Projects / repositories inventoried.
    pub projects: usize,
    /// Secrets found by the scanner in the values of plain-text variables (GitHub
    /// Actions variables), sorted by identity then rule.
    #[serde(default)]
    pub findings: Vec<VariableFinding>,
    /// CircleCI with a VCS side: repositories CircleCI has no project for (404 on
    /// `GET /project/{slug}`): not CircleCI projects, or hidden from the token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vcs_only: Vec<String>,
}

/// A secret the scanner found in the value of a plain-text variable. Holds no value:
/// only a redacted form (a few leading characters) and the SHA-256 fingerprint, as the
/// scanner reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableFinding {
    /// Provider.
    pub provider: Provider,
    /// The variable's kind (`actions_variable`, `org_variable`, `environment_variable`).
    pub kind: Kind,
    /// The variable's scope.
    pub scope: String,
    /// The variable's name.
    pub name: String,
    /// Scanner rule id.
    pub rule_id: String,
    /// Human rule name.
    pub rule_name: String,
    /// A few leading characters, then `…`.
    pub redacted: String,
    /// SHA-256 hex of the secret.
    pub fingerprint: String,
    /// The rule's confidence.
    pub confidence: firebreak_core::finding::Confidence,
}

#[derive(Default)]
struct Acc {
    items: Vec<Item>,
    errors: Vec<ItemError>,
    findings: Vec<VariableFinding>,
}

type Shared = Arc<Mutex<Acc>>;

fn take<T>(acc: &Shared, p: Provider, scope: &str, l: Listing<T>) -> Vec<T> {
    if let Some(e) = &l.error {
        acc.lock()
            .expect("acc")
            .errors
            .push(firebreak_providers::model::item_error(p, scope, e));
    }
    l.items
}

/// Like [`take`], for a kind the token may lack the permission to read: the error record
/// names the kind and, for 401 / 403 / 404, what the token needs.
fn take_kind<T>(acc: &Shared, p: Provider, scope: &str, kind: Kind, needs: &str, l: Listing<T>) -> Vec<T> {
    if let Some(e) = &l.error {
        let mut ie = firebreak_providers::model::item_error(p, scope, e);
        ie.message = match ie.status {
            Some(401 | 403 | 404) => format!("{kind}: cannot list (needs {needs}): {}", ie.message),
            _ => format!("{kind}: {}", ie.message),
        };
        acc.lock().expect("acc").errors.push(ie);
    }
    l.items
}

/// The scanner of variable values: the built-in rules, compiled once, on first use.
fn value_scanner() -> Result<&'static firebreak_scan::Scanner, String> {
    static S: std::sync::OnceLock<Result<firebreak_scan::Scanner, String>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        firebreak_scan::RuleSet::builtin()
            .map(|r| firebreak_scan::Scanner::new(r, firebreak_scan::ScanOptions::default()))
            .map_err(|e| format!("cannot compile the built-in scanner rules: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Scans one plain-text variable's value as `NAME=value` (the name gives the rules
/// their context: `AWS_SECRET_ACCESS_KEY=...`) and records what is found. The value is
/// consumed: it lives in memory only for the scan, and only its redacted form and
/// fingerprint are kept.
fn scan_value(
    acc: &Shared,
    p: Provider,
    kind: Kind,
    scope: &str,
    name: &str,
    value: Option<firebreak_core::SecretString>,
) {
    let Some(v) = value else { return };
    if v.is_empty() {
        return;
    }
    let sc = match value_scanner() {
        Ok(s) => s,
        Err(message) => {
            acc.lock().expect("acc").errors.push(ItemError {
                provider: p,
                scope: scope.to_string(),
                request: format!("scan {kind} {name}"),
                status: None,
                message,
            });
            return;
        }
    };
    let line = firebreak_core::SecretString::new(format!("{name}={}\n", v.expose()));
    drop(v);
    let rep = sc.scan_bytes(&format!("{p}:{scope}/{kind}/{name}"), line.expose().as_bytes());
    drop(line);
    let mut a = acc.lock().expect("acc");
    for f in rep.findings {
        a.findings.push(VariableFinding {
            provider: p,
            kind,
            scope: scope.to_string(),
            name: name.to_string(),
            rule_id: f.rule_id,
            rule_name: f.rule_name,
            redacted: f.redacted,
            fingerprint: f.fingerprint,
            confidence: f.confidence,
        });
    }
}

fn push(acc: &Shared, it: Item) {
    acc.lock().expect("acc").items.push(it);
}

/// Runs `f` over `inputs` with at most `limit` tasks in flight.
async fn for_each_limited<I, F, Fut>(inputs: Vec<I>, limit: usize, f: F)
where
    I: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in inputs {
        while set.len() >= limit.max(1) {
            let _ = set.join_next().await;
        }
        set.spawn(f(i));
    }
    while set.join_next().await.is_some() {}
}

fn finish(
    provider: Provider,
    org: &str,
    started: DateTime<Utc>,
    acc: Shared,
    stats: StatsSnapshot,
    projects: usize,
) -> RunResult {
    let mut a = std::mem::take(&mut *acc.lock().expect("acc"));
    a.items.sort_by_key(|i| i.identity());
    a.items.dedup_by_key(|i| i.identity());
    a.errors
        .sort_by(|x, y| (&x.scope, &x.request).cmp(&(&y.scope, &y.request)));
    a.findings.sort_by(|x, y| {
        (
            identity(x.provider, x.kind, &x.scope, &x.name),
            &x.rule_id,
            &x.fingerprint,
        )
            .cmp(&(
                identity(y.provider, y.kind, &y.scope, &y.name),
                &y.rule_id,
                &y.fingerprint,
            ))
    });
    a.findings.dedup();
    RunResult {
        provider,
        org: org.to_string(),
        started_at: started,
        finished_at: Utc::now(),
        items: a.items,
        errors: a.errors,
        stats,
        projects,
        findings: a.findings,
        vcs_only: Vec::new(),
    }
}

fn item(
    p: Provider,
    kind: Kind,
    scope: &str,
    name: &str,
    c: Option<DateTime<Utc>>,
    u: Option<DateTime<Utc>>,
    flags: Flags,
) -> Item {
    Item {
        provider: p,
        kind,
        scope: scope.to_string(),
        name: name.to_string(),
        created_at: c,
        updated_at: u,
        flags,
    }
}

/// Options of [`collect_circleci_with`].
#[derive(Clone, Debug, Default)]
pub struct CircleciOptions {
    /// Project slugs to inventory instead of enumerating the organisation's
    /// (`--projects-file`).
    pub projects: Option<Vec<String>>,
    /// Projects processed at once (the HTTP layer also limits requests).
    pub tasks: usize,
    /// The VCS side, a GitHub client for the organisation of the same name: its
    /// repositories are candidate projects (a project nobody follows is still found),
    /// and its deploy keys are matched to checkout keys by public key.
    pub github: Option<github::Client>,
    /// The GitLab side: for projects CircleCI connects through GitLab (opaque
    /// `circleci/ORG-ID/PROJECT-ID` slugs, whose `vcs_info` names the GitLab project), the
    /// project's deploy keys are matched to its checkout keys by public key.
    pub gitlab: Option<gitlab::Client>,
    /// Self-hosted runner namespace (default: the organisation's name).
    pub runner_namespace: Option<String>,
    /// Pages of v2 pipelines (`GET /pipeline?org-slug=`) read for candidate projects
    /// (default of [`collect_circleci`]: 10; 0 reads none).
    pub pipeline_pages: usize,
}

/// Inventories a CircleCI organisation: `org` is `org` or `vcs/org` (default vcs `gh`).
/// `projects` (slugs) replaces the project enumeration when given (`--projects-file`).
/// `tasks` bounds the projects processed at once (the HTTP layer also limits requests).
/// The same as [`collect_circleci_with`] with no VCS side and 10 pages of pipelines.
pub async fn collect_circleci(
    client: &circleci::Client,
    org: &str,
    projects: Option<Vec<String>>,
    tasks: usize,
) -> RunResult {
    let opts = CircleciOptions {
        projects,
        tasks,
        pipeline_pages: 10,
        ..Default::default()
    };
    collect_circleci_with(client, org, &opts).await
}

/// Why a candidate project was probed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    Pipelines,
    Vcs,
}

/// The projects of an organisation: the followed ones (v1.1 `/projects`), plus every
/// candidate from the organisation's pipelines and the VCS side that v2
/// `GET /project/{slug}` answers for. A candidate that cannot be read is an error record
/// (`project: …`), except a VCS repository CircleCI does not know (404): most
/// repositories are not CircleCI projects; those are in [`RunResult::vcs_only`].
async fn enumerate_projects(
    client: &circleci::Client,
    org: &str,
    owner_slug: &str,
    opts: &CircleciOptions,
    acc: &Shared,
) -> (Vec<String>, Vec<String>) {
    const P: Provider = Provider::Circleci;
    let mut projects = match client.list_projects(org).await {
        Ok(p) => p,
        Err(e) => {
            let mut ie = firebreak_providers::model::item_error(P, org, &e);
            ie.message = format!("project: cannot list the followed projects: {}", ie.message);
            acc.lock().expect("acc").errors.push(ie);
            Vec::new()
        }
    };
    let mut candidates: Vec<(String, Found)> = Vec::new();
    if opts.pipeline_pages > 0 {
        let l = client
            .list_pipeline_projects(owner_slug, opts.pipeline_pages)
            .await;
        let needs = "a personal API token of a member of the organisation";
        for slug in take_kind_named(acc, P, owner_slug, "project (pipelines)", needs, l) {
            candidates.push((slug, Found::Pipelines));
        }
    }
    if let Some(gh) = &opts.github {
        let (vcs, gh_org) = owner_slug.split_once('/').unwrap_or(("gh", owner_slug));
        if matches!(vcs, "gh" | "github") {
            let l = gh.list_org_repos(gh_org).await;
            let needs = "a GitHub token that can list the organisation's repositories";
            for r in take_kind_named(
                acc,
                Provider::Github,
                gh_org,
                "project (GitHub repositories)",
                needs,
                l,
            ) {
                candidates.push((format!("gh/{}", r.full_name), Found::Vcs));
            }
        }
    }
    let mut seen: std::collections::BTreeSet<String> = projects.iter().cloned().collect();
    let mut probe: Vec<(String, Found)> = Vec::new();
    for (slug, how) in candidates {
        if seen.insert(slug.clone()) {
            probe.push((slug, how));
        } else if how == Found::Pipelines {
            // also a VCS candidate: the pipelines say more (a 404 is then an error)
            if let Some(p) = probe.iter_mut().find(|(s, _)| *s == slug) {
                p.1 = Found::Pipelines;
            }
        }
    }
    let found: Arc<Mutex<Vec<String>>> = Arc::default();
    let vcs_only: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let client = client.clone();
        let acc = acc.clone();
        let (found, vcs_only) = (found.clone(), vcs_only.clone());
        for_each_limited(probe, opts.tasks.max(1), move |(slug, how)| {
            let client = client.clone();
            let acc = acc.clone();
            let (found, vcs_only) = (found.clone(), vcs_only.clone());
            async move {
                match client.get_project(&slug).await {
                    Ok(_) => found.lock().expect("found").push(slug),
                    Err(e) if e.status() == Some(404) && how == Found::Vcs => {
                        vcs_only.lock().expect("vcs").push(slug)
                    }
                    Err(e) => {
                        let mut ie = firebreak_providers::model::item_error(P, &slug, &e);
                        ie.message = match (ie.status, how) {
                            (Some(404), _) => format!(
                                "project: in the organisation's pipelines but not found (deleted, or hidden from the token): {}",
                                ie.message
                            ),
                            (Some(401 | 403), _) => format!(
                                "project: cannot read it, so none of its secrets are listed (needs a personal API token of a project member): {}",
                                ie.message
                            ),
                            _ => format!("project: cannot read it: {}", ie.message),
                        };
                        acc.lock().expect("acc").errors.push(ie);
                    }
                }
            }
        })
        .await;
    }
    let mut extra = std::mem::take(&mut *found.lock().expect("found"));
    extra.sort();
    projects.extend(extra);
    let mut vo = std::mem::take(&mut *vcs_only.lock().expect("vcs"));
    vo.sort();
    (projects, vo)
}

/// [`take_kind`] for a listing that is not an item kind (`project (pipelines)`).
fn take_kind_named<T>(
    acc: &Shared,
    p: Provider,
    scope: &str,
    what: &str,
    needs: &str,
    l: Listing<T>,
) -> Vec<T> {
    if let Some(e) = &l.error {
        let mut ie = firebreak_providers::model::item_error(p, scope, e);
        ie.message = match ie.status {
            Some(401 | 403 | 404) => format!("{what}: cannot list (needs {needs}): {}", ie.message),
            _ => format!("{what}: {}", ie.message),
        };
        acc.lock().expect("acc").errors.push(ie);
    }
    l.items
}

/// Inventories a CircleCI organisation with [`CircleciOptions`]: every project (followed,
/// found through the pipelines or the VCS side), per project its environment variables,
/// checkout keys (MD5 names, SHA-256 fingerprints, matched to GitHub deploy keys), additional
/// SSH keys, legacy AWS key pair and project API tokens; the organisation's contexts and
/// their variables, and the self-hosted runner tokens of its namespace. A kind the token
/// cannot read is an error record naming the kind and the scope; the run goes on.
pub async fn collect_circleci_with(
    client: &circleci::Client,
    org: &str,
    opts: &CircleciOptions,
) -> RunResult {
    const P: Provider = Provider::Circleci;
    let started = Utc::now();
    let acc: Shared = Arc::default();
    let tasks = opts.tasks.max(1);
    let owner_slug = if org.contains('/') {
        org.to_string()
    } else {
        format!("gh/{org}")
    };
    let (projects, vcs_only) = match opts.projects.clone() {
        Some(p) => (p, Vec::new()),
        None => enumerate_projects(client, org, &owner_slug, opts, &acc).await,
    };
    let n = projects.len();
    // contexts (organisation level)
    let ctx = client
        .list_contexts(&circleci::Owner::Slug(owner_slug.clone()))
        .await;
    let contexts = take(&acc, P, &owner_slug, ctx);
    {
        let client = client.clone();
        let acc = acc.clone();
        for_each_limited(contexts, tasks, move |c| {
            let client = client.clone();
            let acc = acc.clone();
            async move {
                let vars = client.list_context_vars(&c.id).await;
                for v in take(&acc, P, &c.name, vars) {
                    push(
                        &acc,
                        item(
                            P,
                            Kind::ContextVar,
                            &c.name,
                            &v.variable,
                            v.created_at,
                            v.updated_at,
                            Flags::default(),
                        ),
                    );
                }
            }
        })
        .await;
    }
    // self-hosted runner tokens (organisation level, runner API)
    {
        let ns = opts
            .runner_namespace
            .clone()
            .unwrap_or_else(|| owner_slug.rsplit('/').next().unwrap_or(&owner_slug).to_string());
        let needs = "a personal API token of an organisation admin (runner API)";
        let classes = client.list_runner_resource_classes(&ns).await;
        for rc in take_kind(&acc, P, &ns, Kind::RunnerToken, needs, classes) {
            let toks = client.list_runner_tokens(&rc.resource_class).await;
            for t in take_kind(&acc, P, &rc.resource_class, Kind::RunnerToken, needs, toks) {
                let flags = Flags {
                    detail: Some(if rc.description.is_empty() {
                        "resource class token".to_string()
                    } else {
                        format!("resource class token ({})", rc.description)
                    }),
                    ..Default::default()
                };
                push(
                    &acc,
                    item(
                        P,
                        Kind::RunnerToken,
                        &rc.resource_class,
                        &format!("{}#{}", t.nickname, t.id),
                        t.created_at,
                        None,
                        flags,
                    ),
                );
            }
        }
    }
    {
        let client = client.clone();
        let acc = acc.clone();
        let gh = opts.github.clone();
        let gl = opts.gitlab.clone();
        for_each_limited(projects, tasks, move |slug| {
            let client = client.clone();
            let acc = acc.clone();
            let gh = gh.clone();
            let gl = gl.clone();
            async move {
                // the GitLab end of a project CircleCI connects through GitLab: its
                // `vcs_info` names the GitLab project (the slug does not)
                let gl_deploy_keys = async {
                    let gl = gl.as_ref()?;
                    if !slug.starts_with("circleci/") {
                        return None;
                    }
                    let host = gl.base_url().host_str().map(str::to_string);
                    let path = match client.get_project(&slug).await {
                        Ok(p) => p.vcs_info.and_then(|v| v.gitlab_path(host.as_deref()))?,
                        Err(_) => return None,
                    };
                    let keys = gl.list_deploy_keys(&path).await;
                    Some((path, keys))
                };
                let gh_repo = slug
                    .strip_prefix("gh/")
                    .or_else(|| slug.strip_prefix("github/"))
                    .filter(|_| gh.is_some())
                    .map(str::to_string);
                let deploy_keys = async {
                    match (&gh, &gh_repo) {
                        (Some(g), Some(r)) => Some(g.list_deploy_keys(r).await),
                        _ => None,
                    }
                };
                let (env, keys, keys256, settings, tokens, deploy_keys, gl_keys) = tokio::join!(
                    client.list_env_vars(&slug),
                    client.list_checkout_keys(&slug),
                    client.list_checkout_keys_sha256(&slug),
                    client.project_settings(&slug),
                    client.list_project_tokens(&slug),
                    deploy_keys,
                    gl_deploy_keys,
                );
                for v in take(&acc, P, &slug, env) {
                    push(
                        &acc,
                        item(
                            P,
                            Kind::EnvVar,
                            &slug,
                            &v.name,
                            v.created_at,
                            None,
                            Flags {
                                masked_tail: v.masked_tail,
                                ..Flags::default()
                            },
                        ),
                    );
                }
                let needs = "a personal API token of a project member";
                let sha: BTreeMap<String, String> =
                    take_kind(&acc, P, &slug, Kind::CheckoutKey, needs, keys256)
                        .into_iter()
                        .filter(|k| k.fingerprint.starts_with("SHA256:"))
                        .map(|k| (k.public_key, k.fingerprint))
                        .collect();
                // the VCS end: GitHub deploy keys of the repository, by SHA-256
                let mut vcs_keys: BTreeMap<String, String> = BTreeMap::new();
                if let (Some(mut l), Some(repo)) = (deploy_keys, &gh_repo) {
                    // no such repository at GitHub (deleted, renamed): nothing to match,
                    // and not a CircleCI listing that failed
                    if l.error.as_ref().and_then(|e| e.status()) == Some(404) {
                        l.error = None;
                    }
                    let needs = "a GitHub token with read access to the repository's deploy keys (administration: read)";
                    for k in take_kind(&acc, Provider::Github, repo, Kind::DeployKey, needs, l) {
                        if let Some(fp) = firebreak_providers::model::openssh_sha256(&k.key) {
                            vcs_keys.insert(fp, identity(Provider::Github, Kind::DeployKey, repo, &k.title));
                        }
                    }
                }
                if let Some((path, l)) = gl_keys {
                    let needs = "a GitLab token with the Maintainer role on the project (its deploy keys)";
                    for k in take_kind(&acc, Provider::Gitlab, &path, Kind::ProjectDeployKey, needs, l) {
                        let fp = firebreak_providers::model::openssh_sha256(&k.key)
                            .or_else(|| k.fingerprint_sha256.clone());
                        if let Some(fp) = fp {
                            let name = gl_name(Some(&k.title), k.id, "key");
                            vcs_keys.insert(fp, identity(Provider::Gitlab, Kind::ProjectDeployKey, &path, &name));
                        }
                    }
                }
                for k in take(&acc, P, &slug, keys) {
                    let fp256 = sha
                        .get(&k.public_key)
                        .cloned()
                        .or_else(|| firebreak_providers::model::openssh_sha256(&k.public_key));
                    let same = fp256.as_ref().and_then(|f| vcs_keys.get(f).cloned());
                    let flags = Flags {
                        detail: Some(format!(
                            "{}{}",
                            k.key_type,
                            if k.preferred { ", preferred" } else { "" }
                        )),
                        fingerprint_sha256: fp256,
                        same_key_as: same,
                        ..Default::default()
                    };
                    push(
                        &acc,
                        item(
                            P,
                            Kind::CheckoutKey,
                            &slug,
                            &k.fingerprint,
                            k.created_at,
                            None,
                            flags,
                        ),
                    );
                }
                match settings {
                    Ok(st) => {
                        for k in st.ssh_keys {
                            let flags = Flags {
                                detail: (!k.hostname.is_empty()).then(|| format!("host {}", k.hostname)),
                                ..Default::default()
                            };
                            push(
                                &acc,
                                item(P, Kind::SshKey, &slug, &k.fingerprint, None, None, flags),
                            );
                        }
                        if let Some(kp) = st.aws_keypair {
                            let flags = Flags {
                                detail: Some(format!(
                                    "legacy AWS key pair in project settings: access key id {} (secret access key masked)",
                                    circleci::redact_key_id(&kp.access_key_id)
                                )),
                                ..Default::default()
                            };
                            push(
                                &acc,
                                item(
                                    P,
                                    Kind::AwsKeypair,
                                    &slug,
                                    &circleci::aws_keypair_name(&kp.access_key_id),
                                    None,
                                    None,
                                    flags,
                                ),
                            );
                        }
                    }
                    Err(e) => acc
                        .lock()
                        .expect("acc")
                        .errors
                        .push(firebreak_providers::model::item_error(P, &slug, &e)),
                }
                let needs = "a personal API token of a project admin (v1.1)";
                let tokens = match tokens {
                    Ok(t) => Listing::ok(t),
                    Err(e) => Listing::partial(Vec::new(), e),
                };
                for t in take_kind(&acc, P, &slug, Kind::ProjectApiToken, needs, tokens) {
                    let flags = Flags {
                        detail: Some(format!("scope {}", if t.scope.is_empty() { "?" } else { &t.scope })),
                        ..Default::default()
                    };
                    push(
                        &acc,
                        item(
                            P,
                            Kind::ProjectApiToken,
                            &slug,
                            &format!("{}#{}", t.label, t.id),
                            t.created_at,
                            None,
                            flags,
                        ),
                    );
                }
            }
        })
        .await;
    }
    let mut r = finish(P, org, started, acc, client.http().stats(), n);
    r.vcs_only = vcs_only;
    r
}

/// Inventories a GitHub organisation: organisation Actions, Dependabot and Codespaces
/// secrets and Actions variables, and per repository Actions secrets and variables,
/// environment secrets and variables, Dependabot and Codespaces secrets and deploy keys.
/// `repos` (`owner/name`) replaces the repository listing when given. Variable values
/// (plain text at GitHub) are scanned as they arrive: what the scanner finds is in
/// [`RunResult::findings`]; the values are then dropped.
pub async fn collect_github(
    client: &github::Client,
    org: &str,
    repos: Option<Vec<String>>,
    tasks: usize,
) -> RunResult {
    const P: Provider = Provider::Github;
    let started = Utc::now();
    let acc: Shared = Arc::default();
    let repos = match repos {
        Some(r) => r,
        None => {
            let l = client.list_org_repos(org).await;
            take(&acc, P, org, l).into_iter().map(|r| r.full_name).collect()
        }
    };
    let n = repos.len();
    for (scope, kind) in [
        (github::SecretScope::Org(org.to_string()), Kind::OrgSecret),
        (
            github::SecretScope::DependabotOrg(org.to_string()),
            Kind::DependabotSecret,
        ),
    ] {
        let l = client.list_secrets(&scope).await;
        for s in take(&acc, P, org, l) {
            let flags = Flags {
                visibility: s.visibility.clone(),
                ..Default::default()
            };
            push(
                &acc,
                item(P, kind, org, &s.name, s.created_at, s.updated_at, flags),
            );
        }
    }
    {
        let l = client
            .list_secrets(&github::SecretScope::CodespacesOrg(org.to_string()))
            .await;
        let needs = "the \"Organization codespaces secrets\" organisation permission (read), or admin:org for a classic token";
        for s in take_kind(&acc, P, org, Kind::CodespacesSecret, needs, l) {
            let flags = Flags {
                visibility: s.visibility.clone(),
                ..Default::default()
            };
            push(
                &acc,
                item(
                    P,
                    Kind::CodespacesSecret,
                    org,
                    &s.name,
                    s.created_at,
                    s.updated_at,
                    flags,
                ),
            );
        }
        let l = client
            .list_variables(&github::VarScope::Org(org.to_string()))
            .await;
        let needs = "the \"Variables\" organisation permission (read), or admin:org for a classic token";
        for v in take_kind(&acc, P, org, Kind::OrgVariable, needs, l) {
            let flags = Flags {
                visibility: v.visibility.clone(),
                ..Default::default()
            };
            push(
                &acc,
                item(
                    P,
                    Kind::OrgVariable,
                    org,
                    &v.name,
                    v.created_at,
                    v.updated_at,
                    flags,
                ),
            );
            scan_value(&acc, P, Kind::OrgVariable, org, &v.name, v.value);
        }
    }
    {
        let client = client.clone();
        let acc = acc.clone();
        for_each_limited(repos, tasks, move |repo| {
            let client = client.clone();
            let acc = acc.clone();
            async move {
                let rs = github::SecretScope::Repo(repo.clone());
                let ds = github::SecretScope::DependabotRepo(repo.clone());
                let cs = github::SecretScope::CodespacesRepo(repo.clone());
                let vs = github::VarScope::Repo(repo.clone());
                let (secrets, envs, dep, keys, cspaces, vars) = tokio::join!(
                    client.list_secrets(&rs),
                    client.list_environments(&repo),
                    client.list_secrets(&ds),
                    client.list_deploy_keys(&repo),
                    client.list_secrets(&cs),
                    client.list_variables(&vs)
                );
                let needs =
                    "the \"Codespaces secrets\" repository permission (read), or repo for a classic token";
                for s in take_kind(&acc, P, &repo, Kind::CodespacesSecret, needs, cspaces) {
                    push(
                        &acc,
                        item(
                            P,
                            Kind::CodespacesSecret,
                            &repo,
                            &s.name,
                            s.created_at,
                            s.updated_at,
                            Flags::default(),
                        ),
                    );
                }
                let needs = "the \"Variables\" repository permission (read), or repo for a classic token";
                for v in take_kind(&acc, P, &repo, Kind::ActionsVariable, needs, vars) {
                    push(
                        &acc,
                        item(
                            P,
                            Kind::ActionsVariable,
                            &repo,
                            &v.name,
                            v.created_at,
                            v.updated_at,
                            Flags::default(),
                        ),
                    );
                    scan_value(&acc, P, Kind::ActionsVariable, &repo, &v.name, v.value);
                }
                for s in take(&acc, P, &repo, secrets) {
                    push(
                        &acc,
                        item(
                            P,
                            Kind::ActionsSecret,
                            &repo,
                            &s.name,
                            s.created_at,
                            s.updated_at,
                            Flags::default(),
                        ),
                    );
                }
                for s in take(&acc, P, &repo, dep) {
                    push(
                        &acc,
                        item(
                            P,
                            Kind::DependabotSecret,
                            &repo,
                            &s.name,
                            s.created_at,
                            s.updated_at,
                            Flags::default(),
                        ),
                    );
                }
                for k in take(&acc, P, &repo, keys) {
                    let flags = Flags {
                        detail: Some(format!(
                            "id {}{}",
                            k.id,
                            if k.read_only {
                                ", read-only"
                            } else {
                                ", read-write"
                            }
                        )),
                        fingerprint_sha256: firebreak_providers::model::openssh_sha256(&k.key),
                        ..Default::default()
                    };
                    push(
                        &acc,
                        item(P, Kind::DeployKey, &repo, &k.title, k.created_at, None, flags),
                    );
                }
                for env in take(&acc, P, &repo, envs) {
                    let scope = format!("{repo}:{env}");
                    let ss = github::SecretScope::Environment {
                        repo: repo.clone(),
                        environment: env.clone(),
                    };
                    let vs = github::VarScope::Environment {
                        repo: repo.clone(),
                        environment: env.clone(),
                    };
                    let (l, vars) = tokio::join!(client.list_secrets(&ss), client.list_variables(&vs));
                    let needs =
                        "the \"Environments\" repository permission (read), or repo for a classic token";
                    for v in take_kind(&acc, P, &scope, Kind::EnvironmentVariable, needs, vars) {
                        push(
                            &acc,
                            item(
                                P,
                                Kind::EnvironmentVariable,
                                &scope,
                                &v.name,
                                v.created_at,
                                v.updated_at,
                                Flags::default(),
                            ),
                        );
                        scan_value(&acc, P, Kind::EnvironmentVariable, &scope, &v.name, v.value);
                    }
                    for s in take(&acc, P, &scope, l) {
                        push(
                            &acc,
                            item(
                                P,
                                Kind::EnvironmentSecret,
                                &scope,
                                &s.name,
                                s.created_at,
                                s.updated_at,
                                Flags::default(),
                            ),
                        );
                    }
                }
            }
        })
        .await;
    }
    finish(P, org, started, acc, client.http().stats(), n)
}

fn gl_flags(v: &gitlab::Variable) -> Flags {
    Flags {
        protected: v.protected,
        masked: v.masked,
        environment_scope: v.environment_scope.clone(),
        detail: v.variable_type.clone().filter(|t| t != "env_var"),
        // the store keeps only its keyed fingerprint
        value: v.value.clone(),
        ..Default::default()
    }
}

/// Inventories GitLab: with `group`, the group's and its subgroups' variables, deploy
/// tokens, access tokens and runners, and for every project in them its variables,
/// deploy keys, deploy tokens, access tokens, trigger tokens and runners; without
/// `group`, every project the token can see. `projects` (ids or paths) replaces the
/// project listing; `instance` adds the instance (admin) variables. GitLab gives no
/// timestamps for variables. Revoked or expired tokens and keys are not listed (they no
/// longer work); a runner is listed once, under the outermost scope that lists it.
pub async fn collect_gitlab(
    client: &gitlab::Client,
    group: Option<&str>,
    projects: Option<Vec<String>>,
    instance: bool,
    tasks: usize,
) -> RunResult {
    const P: Provider = Provider::Gitlab;
    let started = Utc::now();
    let acc: Shared = Arc::default();
    let org = group.unwrap_or("*");
    if let Some(g) = group {
        let l = client.list_groups(g).await;
        let groups = take(&acc, P, g, l);
        let client2 = client.clone();
        let acc2 = acc.clone();
        for_each_limited(groups, tasks, move |gr| {
            let client = client2.clone();
            let acc = acc2.clone();
            async move {
                let owner = gitlab::Owner::Group(gr.id.to_string());
                let vs = gitlab::VarScope::Group(gr.id.to_string());
                let (l, dt, at, rn) = tokio::join!(
                    client.list_variables(&vs),
                    client.list_deploy_tokens(&owner),
                    client.list_access_tokens(&owner),
                    client.list_runners(&owner)
                );
                gl_deploy_tokens(&acc, &gr.full_path, "the Owner role on the group", dt);
                gl_access_tokens(
                    &acc,
                    &gr.full_path,
                    Kind::GroupAccessToken,
                    "the Owner role on the group",
                    at,
                );
                gl_runners(&acc, &gr.full_path, "the Owner role on the group", rn);
                for v in take(&acc, P, &gr.full_path, l) {
                    push(
                        &acc,
                        item(
                            P,
                            Kind::GroupVariable,
                            &gr.full_path,
                            &v.key,
                            None,
                            None,
                            gl_flags(&v),
                        ),
                    );
                }
            }
        })
        .await;
    }
    if instance {
        let l = client.list_variables(&gitlab::VarScope::Instance).await;
        for v in take(&acc, P, "instance", l) {
            push(
                &acc,
                item(
                    P,
                    Kind::InstanceVariable,
                    "instance",
                    &v.key,
                    None,
                    None,
                    gl_flags(&v),
                ),
            );
        }
    }
    let projects: Vec<(String, String)> = match projects {
        Some(p) => p.into_iter().map(|x| (x.clone(), x)).collect(),
        None => {
            let l = client.list_projects(group).await;
            take(&acc, P, org, l)
                .into_iter()
                .map(|p| (p.id.to_string(), p.path_with_namespace))
                .collect()
        }
    };
    let n = projects.len();
    {
        let client = client.clone();
        let acc = acc.clone();
        for_each_limited(projects, tasks, move |(id, path)| {
            let client = client.clone();
            let acc = acc.clone();
            async move {
                let owner = gitlab::Owner::Project(id.clone());
                let vs = gitlab::VarScope::Project(id.clone());
                let (l, dk, dt, at, tr, rn) = tokio::join!(
                    client.list_variables(&vs),
                    client.list_deploy_keys(&id),
                    client.list_deploy_tokens(&owner),
                    client.list_access_tokens(&owner),
                    client.list_triggers(&id),
                    client.list_runners(&owner)
                );
                const MAINTAINER: &str = "the Maintainer role on the project";
                gl_deploy_keys(&acc, &path, dk);
                gl_deploy_tokens(&acc, &path, MAINTAINER, dt);
                gl_access_tokens(&acc, &path, Kind::ProjectAccessToken, MAINTAINER, at);
                gl_triggers(&acc, &path, tr);
                gl_runners(&acc, &path, MAINTAINER, rn);
                for v in take(&acc, P, &path, l) {
                    push(
                        &acc,
                        item(P, Kind::ProjectVariable, &path, &v.key, None, None, gl_flags(&v)),
                    );
                }
            }
        })
        .await;
    }
    one_runner_each(&acc);
    finish(P, org, started, acc, client.http().stats(), n)
}

/// GitLab lists a runner under every project or group that can use it (a group runner
/// under each subgroup): keep it once, under the outermost scope (where it is registered).
fn one_runner_each(acc: &Shared) {
    let mut a = acc.lock().expect("acc");
    let mut best: BTreeMap<String, String> = BTreeMap::new();
    for i in a.items.iter().filter(|i| i.kind == Kind::Runner) {
        let e = best.entry(i.name.clone()).or_insert_with(|| i.scope.clone());
        if (i.scope.len(), &i.scope) < (e.len(), &*e) {
            *e = i.scope.clone();
        }
    }
    a.items
        .retain(|i| i.kind != Kind::Runner || best.get(&i.name) == Some(&i.scope));
}

/// `LABEL#ID`: the item name of a GitLab credential (labels repeat, ids do not).
fn gl_name(label: Option<&str>, id: u64, default: &str) -> String {
    let l = label.map(str::trim).filter(|l| !l.is_empty()).unwrap_or(default);
    format!("{l}#{id}")
}

fn gl_deploy_keys(acc: &Shared, path: &str, l: Listing<gitlab::DeployKey>) {
    const P: Provider = Provider::Gitlab;
    let now = Utc::now();
    for k in take_kind(
        acc,
        P,
        path,
        Kind::ProjectDeployKey,
        "the Maintainer role on the project",
        l,
    ) {
        if k.expires_at.is_some_and(|e| e <= now) {
            continue;
        }
        let fp = k
            .fingerprint_sha256
            .clone()
            .or(k.fingerprint.clone())
            .unwrap_or_default();
        let rw = if k.can_push == Some(true) {
            "read-write"
        } else {
            "read-only"
        };
        let flags = Flags {
            detail: Some(format!("id {}, {rw}, {fp}", k.id)),
            expires_at: k.expires_at,
            fingerprint_sha256: k.fingerprint_sha256.clone(),
            ..Default::default()
        };
        let name = gl_name(Some(&k.title), k.id, "key");
        push(
            acc,
            item(P, Kind::ProjectDeployKey, path, &name, k.created_at, None, flags),
        );
    }
}

fn gl_deploy_tokens(acc: &Shared, scope: &str, needs: &str, l: Listing<gitlab::DeployToken>) {
    // whose token: the detail says (a subgroup's path looks like a project's)
    let owner = if needs.contains("group") {
        "group"
    } else {
        "project"
    };
    const P: Provider = Provider::Gitlab;
    for t in take_kind(acc, P, scope, Kind::DeployToken, needs, l) {
        if t.revoked || t.expired {
            continue;
        }
        let flags = Flags {
            detail: Some(format!(
                "id {}, {owner}, username {}, scopes {}",
                t.id,
                t.username.as_deref().unwrap_or("-"),
                t.scopes.join(",")
            )),
            expires_at: t.expires_at,
            ..Default::default()
        };
        let name = gl_name(Some(&t.name), t.id, "token");
        push(acc, item(P, Kind::DeployToken, scope, &name, None, None, flags));
    }
}

fn gl_access_tokens(acc: &Shared, scope: &str, kind: Kind, needs: &str, l: Listing<gitlab::AccessToken>) {
    const P: Provider = Provider::Gitlab;
    for t in take_kind(acc, P, scope, kind, needs, l) {
        if t.revoked || t.active == Some(false) {
            continue;
        }
        let flags = Flags {
            detail: Some(format!(
                "id {}, scopes {}, access_level {}",
                t.id,
                t.scopes.join(","),
                t.access_level
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into())
            )),
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            ..Default::default()
        };
        let name = gl_name(Some(&t.name), t.id, "token");
        push(acc, item(P, kind, scope, &name, t.created_at, None, flags));
    }
}

fn gl_triggers(acc: &Shared, path: &str, l: Listing<gitlab::Trigger>) {
    const P: Provider = Provider::Gitlab;
    let now = Utc::now();
    for t in take_kind(
        acc,
        P,
        path,
        Kind::TriggerToken,
        "the Maintainer role on the project",
        l,
    ) {
        if t.expires_at.is_some_and(|e| e <= now) {
            continue;
        }
        let flags = Flags {
            detail: Some(format!(
                "id {}, owner {}",
                t.id,
                t.owner.as_deref().unwrap_or("-")
            )),
            last_used_at: t.last_used,
            expires_at: t.expires_at,
            ..Default::default()
        };
        let name = gl_name(t.description.as_deref(), t.id, "trigger");
        push(
            acc,
            item(
                P,
                Kind::TriggerToken,
                path,
                &name,
                t.created_at,
                t.updated_at,
                flags,
            ),
        );
    }
}

fn gl_runners(acc: &Shared, scope: &str, needs: &str, l: Listing<gitlab::Runner>) {
    const P: Provider = Provider::Gitlab;
    for r in take_kind(acc, P, scope, Kind::Runner, needs, l) {
        let paused = r.paused.or(r.active.map(|a| !a)).unwrap_or(false);
        let flags = Flags {
            detail: Some(format!(
                "id {}, {}, status {}{}",
                r.id,
                r.runner_type.as_deref().unwrap_or("-"),
                r.status.as_deref().unwrap_or("-"),
                if paused { ", paused" } else { "" }
            )),
            ..Default::default()
        };
        let name = gl_name(r.description.as_deref(), r.id, "runner");
        push(acc, item(P, Kind::Runner, scope, &name, None, None, flags));
    }
}

// ------------------------------------------------------------------ identity helpers

/// The identity used by diff and verify: `provider/kind/scope/name`, plus `@env` for a
/// GitLab variable limited to one environment scope (keys may repeat across scopes).
pub fn item_key(i: &Item) -> String {
    match i.flags.environment_scope.as_deref() {
        Some(e) if e != "*" => format!("{}@{e}", i.identity()),
        _ => i.identity(),
    }
}

// ------------------------------------------------------------------ diff

/// What changed between two snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Diff {
    /// In B, not in A.
    pub added: Vec<Item>,
    /// In A, not in B.
    pub removed: Vec<Item>,
    /// In both, with a different last-write time or flags: `(a, b)`.
    pub changed: Vec<(Item, Item)>,
}

impl Diff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares snapshot items `a` (older) with `b` (newer).
pub fn diff(a: &[Item], b: &[Item]) -> Diff {
    let ma: BTreeMap<String, &Item> = a.iter().map(|i| (item_key(i), i)).collect();
    let mb: BTreeMap<String, &Item> = b.iter().map(|i| (item_key(i), i)).collect();
    let mut d = Diff::default();
    for (k, ia) in &ma {
        match mb.get(k) {
            None => d.removed.push((*ia).clone()),
            Some(ib) => {
                // a credential's use is not a write: `last_used_at` is not compared; nor
                // is what the inventory learns about a key elsewhere (its SHA-256
                // fingerprint, asked for since issue 22, and the VCS end it matches)
                let unused = |f: &Flags| Flags {
                    last_used_at: None,
                    fingerprint_sha256: None,
                    same_key_as: None,
                    ..f.clone()
                };
                if ia.last_written() != ib.last_written()
                    || ia.created_at != ib.created_at
                    || unused(&ia.flags) != unused(&ib.flags)
                {
                    d.changed.push(((*ia).clone(), (*ib).clone()));
                }
            }
        }
    }
    for (k, ib) in &mb {
        if !ma.contains_key(k) {
            d.added.push((*ib).clone());
        }
    }
    d
}

// ------------------------------------------------------------------ verify

/// Verdict for one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Last written at or after the time.
    Rotated,
    /// Last written before the time.
    NotRotated,
    /// No timestamp from the provider and no rotation record.
    Unknown,
}

impl Verdict {
    /// Text shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Rotated => "rotated",
            Verdict::NotRotated => "NOT rotated",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One line of a verification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerifyRow {
    /// The secret.
    pub item: Item,
    /// Verdict.
    pub verdict: Verdict,
    /// The time the verdict rests on.
    pub last_written: Option<DateTime<Utc>>,
    /// Where that time comes from: `updated_at`, `created_at`, `rotation_record` or `none`.
    pub evidence: String,
    /// True when the secret still exists in a provider marked as retired.
    pub retired_provider: bool,
}

/// Summary counts of a verification.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerifySummary {
    /// Rotated.
    pub rotated: usize,
    /// NOT rotated.
    pub not_rotated: usize,
    /// Unknown.
    pub unknown: usize,
    /// Still stored in a retired provider.
    pub in_retired_provider: usize,
}

/// Verifies each item against `rotated_after`. `rotation` gives firebreak's own latest
/// rotation record for an identity (used when the provider gives no timestamp, or when
/// the record is newer). `retired` lists providers the team has retired: any secret
/// still stored there is flagged.
pub fn verify(
    items: &[Item],
    rotated_after: DateTime<Utc>,
    rotation: impl Fn(&Item) -> Option<DateTime<Utc>>,
    retired: &[Provider],
) -> (Vec<VerifyRow>, VerifySummary) {
    let mut rows = Vec::with_capacity(items.len());
    let mut sum = VerifySummary::default();
    for it in items {
        let (mut t, mut ev) = match (it.updated_at, it.created_at) {
            (Some(u), Some(c)) if u >= c => (Some(u), "updated_at"),
            (Some(u), None) => (Some(u), "updated_at"),
            (_, Some(c)) => (Some(c), "created_at"),
            (None, None) => (None, "none"),
        };
        if let Some(r) = rotation(it) {
            if t.is_none_or(|x| r > x) {
                t = Some(r);
                ev = "rotation_record";
            }
        }
        let verdict = match t {
            Some(x) if x >= rotated_after => Verdict::Rotated,
            Some(_) => Verdict::NotRotated,
            None => Verdict::Unknown,
        };
        match verdict {
            Verdict::Rotated => sum.rotated += 1,
            Verdict::NotRotated => sum.not_rotated += 1,
            Verdict::Unknown => sum.unknown += 1,
        }
        let retired_provider = retired.contains(&it.provider);
        if retired_provider {
            sum.in_retired_provider += 1;
        }
        rows.push(VerifyRow {
            item: it.clone(),
            verdict,
            last_written: t,
            evidence: ev.to_string(),
            retired_provider,
        });
    }
    (rows, sum)
}

// ------------------------------------------------------------------ output

/// The output format type of every command: the inventory writers take `Text` (an
/// aligned table), `Json` (one document), `Jsonl` (one record per line) and `Csv`.
pub use firebreak_core::output::Format;

/// Writes `records` as JSON Lines (`jsonl`) or, for `json`, as one document holding them
/// under `key` (and the records of each of `more` under its key).
fn write_records(
    w: &mut dyn Write,
    f: Format,
    key: &str,
    records: &[serde_json::Value],
    more: &[(&str, &[serde_json::Value])],
) -> std::io::Result<()> {
    if f == Format::Jsonl {
        for v in records.iter().chain(more.iter().flat_map(|m| m.1.iter())) {
            writeln!(w, "{}", serde_json::to_string(v)?)?;
        }
        return Ok(());
    }
    let mut doc = serde_json::Map::new();
    doc.insert(key.into(), records.to_vec().into());
    for (k, m) in more {
        doc.insert((*k).into(), m.to_vec().into());
    }
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

/// The error for a format an inventory writer does not produce.
fn unsupported(f: Format) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("--format {f}: not an inventory format (text, json, jsonl, csv)"),
    )
}

fn t(x: Option<DateTime<Utc>>) -> String {
    x.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}

fn table(w: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |w: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(w, &header.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
    for r in rows {
        line(w, r)?;
    }
    Ok(())
}

fn flags_text(f: &Flags) -> String {
    let mut v = Vec::new();
    if let Some(x) = &f.visibility {
        v.push(format!("visibility={x}"));
    }
    if let Some(x) = f.protected {
        v.push(format!("protected={x}"));
    }
    if let Some(x) = f.masked {
        v.push(format!("masked={x}"));
    }
    if let Some(x) = &f.environment_scope {
        v.push(format!("environment_scope={x}"));
    }
    if let Some(x) = &f.detail {
        v.push(x.clone());
    }
    if let Some(x) = &f.fingerprint_sha256 {
        v.push(x.clone());
    }
    if let Some(x) = &f.same_key_as {
        v.push(format!("same_key_as={x}"));
    }
    v.join(" ")
}

/// Writes an inventory (items and per-scope errors): [`write_inventory_findings`]
/// without findings.
pub fn write_inventory(
    w: &mut dyn Write,
    items: &[Item],
    errors: &[ItemError],
    f: Format,
) -> std::io::Result<()> {
    write_inventory_findings(w, items, errors, &[], f)
}

/// Writes an inventory: items, per-scope errors, and the secrets found in plain-text
/// variable values.
///
/// JSON Lines: one `{"record":"item", provider, kind, scope, name, created_at, updated_at,
/// flags}` per secret, then one `{"record":"error", provider, scope, request, status,
/// message}` per error, then one `{"record":"finding", provider, kind, scope, name,
/// rule_id, rule_name, redacted, fingerprint, confidence}` per secret found in a
/// variable's value (redacted; never the value); JSON: `{"items": [...], "errors": [...],
/// "findings": [...]}` of the same objects. CSV: items only
/// (`provider,kind,scope,name,created_at,updated_at,flags`). Table: `KIND SCOPE NAME
/// CREATED UPDATED`, errors and findings listed after it.
pub fn write_inventory_findings(
    w: &mut dyn Write,
    items: &[Item],
    errors: &[ItemError],
    findings: &[VariableFinding],
    f: Format,
) -> std::io::Result<()> {
    match f {
        Format::Sarif | Format::Conda => return Err(unsupported(f)),
        Format::Json | Format::Jsonl => {
            let mut its = Vec::with_capacity(items.len());
            for i in items {
                let mut v = serde_json::to_value(i)?;
                v["record"] = "item".into();
                its.push(v);
            }
            let mut errs = Vec::with_capacity(errors.len());
            for e in errors {
                let mut v = serde_json::to_value(e)?;
                v["record"] = "error".into();
                errs.push(v);
            }
            let mut fnd = Vec::with_capacity(findings.len());
            for x in findings {
                let mut v = serde_json::to_value(x)?;
                v["record"] = "finding".into();
                fnd.push(v);
            }
            write_records(w, f, "items", &its, &[("errors", &errs), ("findings", &fnd)])?;
        }
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            c.write_record([
                "provider",
                "kind",
                "scope",
                "name",
                "created_at",
                "updated_at",
                "flags",
            ])?;
            for i in items {
                c.write_record([
                    i.provider.as_str(),
                    i.kind.as_str(),
                    &i.scope,
                    &i.name,
                    &t(i.created_at),
                    &t(i.updated_at),
                    &flags_text(&i.flags),
                ])?;
            }
            c.flush()?;
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| {
                    vec![
                        i.kind.to_string(),
                        i.scope.clone(),
                        i.name.clone(),
                        t(i.created_at),
                        t(i.updated_at),
                    ]
                })
                .collect();
            table(w, &["KIND", "SCOPE", "NAME", "CREATED", "UPDATED"], &rows)?;
            let linked: Vec<&Item> = items.iter().filter(|i| i.flags.same_key_as.is_some()).collect();
            if !linked.is_empty() {
                writeln!(
                    w,
                    "\n{} key(s) seen at both ends (one task covers both):",
                    linked.len()
                )?;
                for i in linked {
                    writeln!(
                        w,
                        "  {} {} {} ({}): same key as {}",
                        i.kind,
                        i.scope,
                        i.name,
                        i.flags.fingerprint_sha256.as_deref().unwrap_or("?"),
                        i.flags.same_key_as.as_deref().unwrap_or("?")
                    )?;
                }
            }
            if !errors.is_empty() {
                writeln!(w, "\n{} error(s):", errors.len())?;
                for e in errors {
                    writeln!(w, "  {}: {}", e.scope, e.message)?;
                }
            }
            if !findings.is_empty() {
                writeln!(w, "\n{} secret(s) found in variable values:", findings.len())?;
                for x in findings {
                    writeln!(
                        w,
                        "  {} {} {}: {} {} (fingerprint {})",
                        x.kind, x.scope, x.name, x.rule_id, x.redacted, x.fingerprint
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// Writes a diff. JSON Lines: `{"change":"added"|"removed"|"changed", ...item, "before": {...}}`;
/// JSON: `{"changes": [...]}` of the same objects.
pub fn write_diff(w: &mut dyn Write, d: &Diff, f: Format) -> std::io::Result<()> {
    let mut rows: Vec<(&str, &Item, Option<&Item>)> = Vec::new();
    rows.extend(d.added.iter().map(|i| ("added", i, None)));
    rows.extend(d.removed.iter().map(|i| ("removed", i, None)));
    rows.extend(d.changed.iter().map(|(a, b)| ("changed", b, Some(a))));
    match f {
        Format::Sarif | Format::Conda => return Err(unsupported(f)),
        Format::Json | Format::Jsonl => {
            let mut changes = Vec::with_capacity(rows.len());
            for (c, i, before) in rows {
                let mut v = serde_json::to_value(i)?;
                v["change"] = c.into();
                if let Some(b) = before {
                    v["before"] = serde_json::json!({"created_at": b.created_at, "updated_at": b.updated_at, "flags": b.flags});
                }
                changes.push(v);
            }
            write_records(w, f, "changes", &changes, &[])?;
        }
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            c.write_record([
                "change",
                "provider",
                "kind",
                "scope",
                "name",
                "updated_before",
                "updated_after",
            ])?;
            for (ch, i, before) in rows {
                c.write_record([
                    ch,
                    i.provider.as_str(),
                    i.kind.as_str(),
                    &i.scope,
                    &i.name,
                    &t(before.and_then(Item::last_written)),
                    &t(i.last_written()),
                ])?;
            }
            c.flush()?;
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|(c, i, b)| {
                    vec![
                        c.to_string(),
                        i.kind.to_string(),
                        i.scope.clone(),
                        i.name.clone(),
                        t(b.and_then(Item::last_written)),
                        t(i.last_written()),
                    ]
                })
                .collect();
            table(w, &["CHANGE", "KIND", "SCOPE", "NAME", "BEFORE", "AFTER"], &rows)?;
            writeln!(
                w,
                "\n{} added, {} removed, {} changed",
                d.added.len(),
                d.removed.len(),
                d.changed.len()
            )?;
        }
    }
    Ok(())
}

/// Writes a verification. JSON Lines: `{...item, "verdict", "last_written", "evidence",
/// "retired_provider"}`; JSON: `{"secrets": [...]}` of the same objects.
pub fn write_verify(
    w: &mut dyn Write,
    rows: &[VerifyRow],
    sum: &VerifySummary,
    f: Format,
) -> std::io::Result<()> {
    match f {
        Format::Sarif | Format::Conda => return Err(unsupported(f)),
        Format::Json | Format::Jsonl => {
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let mut v = serde_json::to_value(&r.item)?;
                v["verdict"] = serde_json::to_value(r.verdict)?;
                v["last_written"] = serde_json::to_value(r.last_written)?;
                v["evidence"] = r.evidence.clone().into();
                v["retired_provider"] = r.retired_provider.into();
                out.push(v);
            }
            write_records(w, f, "secrets", &out, &[])?;
        }
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            c.write_record([
                "verdict",
                "provider",
                "kind",
                "scope",
                "name",
                "last_written",
                "evidence",
                "retired_provider",
            ])?;
            for r in rows {
                c.write_record([
                    r.verdict.label(),
                    r.item.provider.as_str(),
                    r.item.kind.as_str(),
                    &r.item.scope,
                    &r.item.name,
                    &t(r.last_written),
                    &r.evidence,
                    if r.retired_provider { "true" } else { "false" },
                ])?;
            }
            c.flush()?;
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut v = r.verdict.label().to_string();
                    if r.retired_provider {
                        v.push_str(" (retired provider)");
                    }
                    vec![
                        v,
                        format!("{}/{}", r.item.provider, r.item.kind),
                        r.item.scope.clone(),
                        r.item.name.clone(),
                        t(r.last_written),
                        r.evidence.clone(),
                    ]
                })
                .collect();
            table(
                w,
                &["STATUS", "KIND", "SCOPE", "NAME", "LAST WRITTEN", "EVIDENCE"],
                &rows,
            )?;
            writeln!(
                w,
                "\n{} rotated, {} NOT rotated, {} unknown, {} still in a retired provider",
                sum.rotated, sum.not_rotated, sum.unknown, sum.in_retired_provider
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    fn it(p: Provider, k: Kind, name: &str, c: Option<DateTime<Utc>>, u: Option<DateTime<Utc>>) -> Item {
        item(p, k, "scope", name, c, u, Flags::default())
    }

    #[test]
    fn diff_added_removed_changed() {
        let a = vec![
            it(
                Provider::Github,
                Kind::ActionsSecret,
                "A",
                at("2022-01-01T00:00:00Z"),
                at("2022-01-01T00:00:00Z"),
            ),
            it(
                Provider::Github,
                Kind::ActionsSecret,
                "B",
                at("2022-01-01T00:00:00Z"),
                at("2022-01-01T00:00:00Z"),
            ),
            it(Provider::Github, Kind::ActionsSecret, "C", None, None),
        ];
        let mut b = a.clone();
        b.remove(2);
        b[1].updated_at = at("2023-01-05T00:00:00Z");
        b.push(it(Provider::Github, Kind::ActionsSecret, "D", None, None));
        let d = diff(&a, &b);
        assert_eq!(d.added.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["D"]);
        assert_eq!(
            d.removed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            ["C"]
        );
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].1.name, "B");
        assert!(diff(&a, &a).is_empty());
        // a key's SHA-256 fingerprint and matched VCS end, learned later, are no change
        let mut c = a.clone();
        c[0].flags.fingerprint_sha256 = Some("SHA256:x".into());
        c[0].flags.same_key_as = Some("github/deploy_key/o/r/t".into());
        assert!(diff(&a, &c).is_empty());
    }

    #[test]
    fn verify_verdicts() {
        let cut = at("2023-01-04T00:00:00Z").unwrap();
        let items = vec![
            it(
                Provider::Github,
                Kind::ActionsSecret,
                "new",
                at("2020-01-01T00:00:00Z"),
                at("2023-01-05T00:00:00Z"),
            ),
            it(
                Provider::Github,
                Kind::ActionsSecret,
                "old",
                at("2020-01-01T00:00:00Z"),
                at("2022-12-01T00:00:00Z"),
            ),
            it(
                Provider::Circleci,
                Kind::EnvVar,
                "cc",
                at("2023-01-04T00:00:00Z"),
                None,
            ),
            it(Provider::Gitlab, Kind::ProjectVariable, "nots", None, None),
            it(Provider::Gitlab, Kind::ProjectVariable, "recorded", None, None),
        ];
        let (rows, sum) = verify(
            &items,
            cut,
            |i| (i.name == "recorded").then(|| at("2023-01-06T00:00:00Z").unwrap()),
            &[Provider::Circleci],
        );
        let v: Vec<Verdict> = rows.iter().map(|r| r.verdict).collect();
        assert_eq!(
            v,
            [
                Verdict::Rotated,
                Verdict::NotRotated,
                Verdict::Rotated,
                Verdict::Unknown,
                Verdict::Rotated
            ]
        );
        assert_eq!(rows[4].evidence, "rotation_record");
        assert_eq!(rows[2].evidence, "created_at");
        assert!(rows[2].retired_provider);
        assert_eq!(sum.not_rotated, 1);
        assert_eq!(sum.unknown, 1);
        assert_eq!(sum.in_retired_provider, 1);
    }

    #[test]
    fn outputs_render() {
        let items = vec![it(
            Provider::Github,
            Kind::ActionsSecret,
            "A",
            at("2022-01-01T00:00:00Z"),
            None,
        )];
        for f in [Format::Text, Format::Json, Format::Jsonl, Format::Csv] {
            let mut out = Vec::new();
            write_inventory(&mut out, &items, &[], f).unwrap();
            let s = String::from_utf8(out).unwrap();
            assert!(
                s.contains("actions_secret") && s.contains("2022-01-01T00:00:00Z"),
                "{s}"
            );
        }
    }
}
