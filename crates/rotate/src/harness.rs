//! The crash-test and benchmark harness: a provider simulator (sinks) and a source
//! simulator running in THIS process, a plan of generated secrets over them, and a child
//! process (`rotate-harness child`) that runs the rotation and is killed with SIGKILL at
//! random (seeded) points, then resumed, until done. Invariants are checked after every
//! kill and at the end (see [`crate::invariants`]).

use crate::aws::FromEnv as _;
use crate::engine::{self, Engine, RunOptions};
use crate::invariants::{self, SinkEvent};
use crate::journal::Journal;
use crate::plan::{Field, Plan, ProviderConn, Providers, SecretSpec, SinkSpec, SourceSpec};
use crate::sim_source::SourceSim;
use crate::sinks::SinkClients;
use crate::state::State;
use anyhow::Context as _;
use firebreak_http::HttpConfig;
use firebreak_providers::sim::{Faults, SimConfig, SimHandle, Simulator};
use firebreak_providers::{circleci, gitlab, Kind, Provider};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of a simulated world.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Secrets in the plan.
    pub secrets: usize,
    /// Projects per provider in the simulator.
    pub projects: usize,
    /// Seed.
    pub seed: u64,
    /// Per-provider rate limit (server side in the simulator and client side in the plan).
    pub rate_limit: Option<f64>,
    /// Forbid one GitHub repository after seeding, so some secrets fail before revoke.
    pub inject_failures: bool,
    /// The source cannot give back old credentials (failures stop instead of rolling back).
    pub no_fetch: bool,
    /// Every n-th secret has a verification hook that fails (`false`), so it fails after
    /// its sinks were written and verified: rolled back, or stopped.
    pub failing_hook_every: Option<usize>,
    /// Sources of other kinds than the HTTP source simulator.
    pub extra: ExtraSources,
}

/// Sources of other kinds in a world, each checked against the truth at its source.
#[derive(Debug, Clone, Default)]
pub struct ExtraSources {
    /// AWS IAM users at this IAM endpoint (moto), with their count: each user's access
    /// key id and secret are stored in two GitHub secrets. The AWS credentials of the
    /// rotation come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub aws: Option<(String, usize)>,
    /// GitHub deploy keys, each with its private key in a CircleCI project variable.
    pub deploy_keys: usize,
    /// CircleCI checkout keys (no sink: CircleCI keeps the private key).
    pub checkout_keys: usize,
}

/// A secret of another kind than the HTTP source, with what the checks need to know.
#[derive(Debug, Clone)]
pub enum ExtraSecret {
    /// An IAM user's access key.
    Aws {
        /// Secret name in the plan.
        secret: String,
        /// IAM user.
        user: String,
        /// The seeded (old) access key id.
        old_id: String,
        /// Sink key of the sink holding the key id.
        id_sink: String,
    },
    /// A GitHub deploy key.
    DeployKey {
        /// Secret name in the plan.
        secret: String,
        /// Repository.
        repo: String,
        /// Title the source replaces.
        title: String,
        /// The seeded key's id.
        old_id: u64,
        /// Fingerprint of the seeded private key.
        old_private_fp: String,
        /// Sink key of the sink holding the private key.
        sink: String,
    },
    /// A CircleCI checkout key.
    CheckoutKey {
        /// Secret name in the plan.
        secret: String,
        /// Project slug.
        project: String,
        /// Fingerprints of the keys before the rotation.
        old: Vec<String>,
    },
}

impl ExtraSecret {
    /// The secret's name in the plan.
    pub fn secret(&self) -> &str {
        match self {
            ExtraSecret::Aws { secret, .. }
            | ExtraSecret::DeployKey { secret, .. }
            | ExtraSecret::CheckoutKey { secret, .. } => secret,
        }
    }
}

/// A simulated world.
pub struct World {
    /// Provider simulator (sinks).
    pub sim: SimHandle,
    /// Source simulator.
    pub src: SourceSim,
    /// The plan.
    pub plan: Plan,
    /// Plan file.
    pub plan_path: PathBuf,
    /// Store file.
    pub store_path: PathBuf,
    /// Rotation key (base64).
    pub key_b64: String,
    /// Sink key (as in simulator events) per secret and sink.
    pub sink_keys: HashMap<String, Vec<String>>,
    /// Seeded (old) credential fingerprint per secret.
    pub old_fp: HashMap<String, String>,
    /// Secrets of other kinds (checked by [`World::check_extra`]).
    pub extra: Vec<ExtraSecret>,
    /// IAM client of the AWS secrets, if any.
    pub iam: Option<Arc<crate::aws::IamClient>>,
}

fn ev_key(p: Provider, k: Kind, scope: &str, name: &str) -> String {
    format!("{p}/{k}/{scope}/{name}")
}

fn sink_key(s: &SinkSpec, ctx_names: &HashMap<String, String>) -> String {
    match s {
        SinkSpec::CircleciEnv { project, name, .. } => {
            ev_key(Provider::Circleci, Kind::EnvVar, project, name)
        }
        SinkSpec::CircleciContext { context_id, name, .. } => {
            let id = context_id.clone().unwrap_or_default();
            ev_key(
                Provider::Circleci,
                Kind::ContextVar,
                ctx_names.get(&id).unwrap_or(&id),
                name,
            )
        }
        SinkSpec::GithubSecret {
            repo,
            org,
            environment,
            name,
            ..
        } => match (repo, org, environment) {
            (Some(r), _, Some(e)) => ev_key(
                Provider::Github,
                Kind::EnvironmentSecret,
                &format!("{r}:{e}"),
                name,
            ),
            (Some(r), _, None) => ev_key(Provider::Github, Kind::ActionsSecret, r, name),
            (None, Some(o), _) => ev_key(Provider::Github, Kind::OrgSecret, o, name),
            _ => String::new(),
        },
        // a file on disk: no simulator event (the harness's worlds have none)
        SinkSpec::CircleciRunnerConfig {
            resource_class, path, ..
        } => ev_key(Provider::Circleci, Kind::RunnerToken, resource_class, path),
        SinkSpec::GitlabVariable {
            project, group, key, ..
        } => match (project, group) {
            (Some(p), _) => ev_key(Provider::Gitlab, Kind::ProjectVariable, p, key),
            (None, Some(g)) => ev_key(Provider::Gitlab, Kind::GroupVariable, g, key),
            _ => ev_key(Provider::Gitlab, Kind::InstanceVariable, "instance", key),
        },
    }
}

/// Tokens the simulator accepts, as the environment a child needs.
pub fn sim_env(sim: &SimHandle) -> Vec<(String, String)> {
    let c = sim.config();
    vec![
        ("CIRCLECI_TOKEN".into(), c.circleci_token.expose().to_string()),
        ("GITHUB_TOKEN".into(), c.github_token.expose().to_string()),
        ("GITLAB_TOKEN".into(), c.gitlab_token.expose().to_string()),
    ]
}

/// Starts the simulators, builds and seeds a plan of `cfg.secrets` secrets in `dir`.
pub async fn build_world(cfg: &WorldConfig, dir: &Path) -> anyhow::Result<World> {
    for (k, v) in [
        ("CIRCLECI_TOKEN", "sim-circleci-token"),
        ("GITHUB_TOKEN", "sim-github-token"),
        ("GITLAB_TOKEN", "sim-gitlab-token"),
    ] {
        // the harness's own clients read the simulator's tokens from the environment
        std::env::set_var(k, v);
    }
    let sim = Simulator::start(SimConfig {
        seed: cfg.seed,
        projects: cfg.projects,
        rate_limit: cfg.rate_limit,
        page_size: 100,
        log_projects: 0,
        ..SimConfig::default()
    })
    .await?;
    let src = SourceSim::start().await?;
    src.set_no_fetch(cfg.no_fetch);
    let org = sim.config().org.clone();
    let hc = HttpConfig {
        requests_per_second: cfg.rate_limit,
        ..HttpConfig::default()
    };
    let cc = circleci::Client::new(
        &sim.circleci_url(),
        sim.config().circleci_token.clone(),
        hc.clone(),
    )?;
    let contexts = cc
        .list_contexts(&circleci::Owner::Slug(format!("gh/{org}")))
        .await
        .into_result()?;
    let gl = gitlab::Client::new(&sim.gitlab_url(), sim.config().gitlab_token.clone(), hc.clone())?;
    let projects: Vec<String> = gl
        .list_projects(Some(sim.config().gitlab_group.as_str()))
        .await
        .into_result()?
        .into_iter()
        .map(|p| p.path_with_namespace)
        .collect();
    anyhow::ensure!(
        !contexts.is_empty() && !projects.is_empty(),
        "simulator has no contexts or GitLab projects"
    );
    let ctx_names: HashMap<String, String> =
        contexts.iter().map(|c| (c.id.clone(), c.name.clone())).collect();
    let conn = |url: String| {
        Some(ProviderConn {
            api_url: Some(url),
            requests_per_second: cfg.rate_limit,
            ..Default::default()
        })
    };
    let mut plan = Plan {
        version: 1,
        providers: Providers {
            circleci: conn(sim.circleci_url()),
            github: conn(sim.github_url()),
            gitlab: conn(sim.gitlab_url()),
        },
        secrets: Vec::new(),
    };
    let p = cfg.projects.max(1);
    for i in 0..cfg.secrets {
        let name = format!("ROT_{i:05}");
        let repo = format!("{org}/repo-{:05}", i % p);
        let slug = format!("gh/{org}/repo-{:05}", i % p);
        let env = SinkSpec::CircleciEnv {
            project: slug,
            name: name.clone(),
            field: Field::Value,
        };
        let gh = SinkSpec::GithubSecret {
            repo: Some(repo),
            org: None,
            visibility: None,
            environment: None,
            name: name.clone(),
            field: Field::Value,
        };
        let glv = SinkSpec::GitlabVariable {
            project: Some(projects[i % projects.len()].clone()),
            group: None,
            instance: false,
            key: name.clone(),
            protected: Some(true),
            masked: Some(true),
            environment_scope: None,
            field: Field::Value,
        };
        let ctx = SinkSpec::CircleciContext {
            context_id: Some(contexts[i % contexts.len()].id.clone()),
            context: None,
            owner_slug: None,
            name: name.clone(),
            field: Field::Value,
        };
        let sinks = match i % 4 {
            0 => vec![env, gh],
            1 => vec![gh, glv],
            2 => vec![ctx, glv],
            _ => vec![env, glv, gh],
        };
        let verify = match cfg.failing_hook_every {
            Some(n) if n > 0 && i % n == n - 1 => Some(crate::plan::CommandSpec {
                program: "false".into(),
                args: vec![],
                env: vec![],
            }),
            _ => None,
        };
        plan.secrets.push(SecretSpec {
            name,
            source: SourceSpec::Http { url: src.url() },
            sinks,
            verify,
            // one token in several providers on purpose: the engine's multi-provider paths
            shared: true,
        });
    }
    // Seed: the current credential at the source, copied into every sink.
    let clients = Arc::new(SinkClients::from_plan(&plan, 32)?);
    let mut old_fp = HashMap::new();
    let mut sink_keys = HashMap::new();
    let mut jobs = Vec::new();
    for s in &plan.secrets {
        let v = src.seed(&s.name);
        old_fp.insert(s.name.clone(), v.fingerprint());
        sink_keys.insert(
            s.name.clone(),
            s.sinks
                .iter()
                .map(|k| sink_key(k, &ctx_names))
                .collect::<Vec<_>>(),
        );
        for k in &s.sinks {
            let (c, k, v) = (clients.clone(), k.clone(), v.clone());
            jobs.push(async move { c.write(&k, &v).await });
        }
    }
    let mut it = jobs.into_iter();
    loop {
        let batch: Vec<_> = it.by_ref().take(32).collect();
        if batch.is_empty() {
            break;
        }
        for r in futures_join(batch).await {
            r.map_err(|e| anyhow::anyhow!("seeding: {e}"))?;
        }
    }
    if cfg.inject_failures {
        sim.set_faults(Faults {
            forbidden: vec![format!("{org}/repo-{:05}", 7 % p)],
            ..Faults::default()
        });
    }
    let (extra, iam) = seed_extra(cfg, &sim, &clients, &org, &mut plan, p).await?;
    plan.validate("(generated)")?;
    std::fs::create_dir_all(dir)?;
    let plan_path = dir.join("plan.toml");
    std::fs::write(&plan_path, plan.to_toml())?;
    let (_, key_b64) = crate::crypto::SealKey::generate();
    Ok(World {
        sim,
        src,
        plan,
        plan_path,
        store_path: dir.join("store.db"),
        key_b64,
        sink_keys,
        old_fp,
        extra,
        iam,
    })
}

/// Seeds the sources of other kinds and adds their secrets to the plan.
async fn seed_extra(
    cfg: &WorldConfig,
    sim: &SimHandle,
    clients: &SinkClients,
    org: &str,
    plan: &mut Plan,
    projects: usize,
) -> anyhow::Result<(Vec<ExtraSecret>, Option<Arc<crate::aws::IamClient>>)> {
    let mut extra = Vec::new();
    let mut iam_out = None;
    let no_ctx = HashMap::new();
    if let Some((endpoint, n)) = &cfg.extra.aws {
        let creds = crate::aws::AwsCredentials::from_env()?;
        let iam = Arc::new(crate::aws::IamClient::new(Some(endpoint), "us-east-1", creds)?);
        for i in 0..*n {
            let user = format!("ci-deployer-{}-{i}", cfg.seed);
            match iam.create_user(&user).await {
                Ok(()) => {}
                Err(e) if e.code() == Some("EntityAlreadyExists") => {}
                Err(e) => anyhow::bail!("moto: creating user {user}: {e}"),
            }
            for k in iam.list_access_keys(&user).await? {
                iam.delete_access_key(&user, &k.id).await?;
            }
            let (id, secret) = iam.create_access_key(&user).await?;
            let repo = format!("{org}/repo-{:05}", (100 + i) % projects);
            let id_sink = SinkSpec::GithubSecret {
                repo: Some(repo.clone()),
                org: None,
                visibility: None,
                environment: None,
                name: format!("AWS_ACCESS_KEY_ID_{i}"),
                field: Field::Id,
            };
            let secret_sink = SinkSpec::GithubSecret {
                repo: Some(repo),
                org: None,
                visibility: None,
                environment: None,
                name: format!("AWS_SECRET_ACCESS_KEY_{i}"),
                field: Field::Value,
            };
            clients
                .write(&id_sink, &firebreak_core::SecretString::new(id.clone()))
                .await?;
            clients.write(&secret_sink, &secret).await?;
            let name = format!("aws {user}");
            extra.push(ExtraSecret::Aws {
                secret: name.clone(),
                user: user.clone(),
                old_id: id,
                id_sink: sink_key(&id_sink, &no_ctx),
            });
            plan.secrets.push(SecretSpec {
                name,
                source: SourceSpec::AwsIam {
                    user,
                    region: "us-east-1".into(),
                    endpoint: Some(endpoint.clone()),
                },
                sinks: vec![id_sink, secret_sink],
                verify: None,
                shared: false,
            });
        }
        iam_out = Some(iam);
    }
    let gh = clients.github.clone().context("no GitHub client")?;
    for i in 0..cfg.extra.deploy_keys {
        let repo = format!("{org}/repo-{:05}", (200 + i) % projects);
        let title = format!("fb-deploy-{i}");
        let kp = crate::sshkey::generate("seeded");
        let k = gh.create_deploy_key(&repo, &title, &kp.public, true).await?;
        let sink = SinkSpec::CircleciEnv {
            project: format!("gh/{repo}"),
            name: format!("DEPLOY_KEY_{i}"),
            field: Field::Value,
        };
        clients.write(&sink, &kp.private).await?;
        let name = format!("deploy-key {repo} {title}");
        extra.push(ExtraSecret::DeployKey {
            secret: name.clone(),
            repo: repo.clone(),
            title: title.clone(),
            old_id: k.id,
            old_private_fp: kp.private.fingerprint(),
            sink: sink_key(&sink, &no_ctx),
        });
        plan.secrets.push(SecretSpec {
            name,
            source: SourceSpec::DeployKey {
                github_repo: Some(repo),
                circleci_project: None,
                title,
                read_only: true,
            },
            sinks: vec![sink],
            verify: None,
            shared: false,
        });
    }
    let cc = clients.circleci.clone().context("no CircleCI client")?;
    for i in 0..cfg.extra.checkout_keys {
        let project = format!("gh/{org}/repo-{:05}", (300 + i) % projects);
        cc.create_checkout_key(&project, circleci::CheckoutKeyType::DeployKey)
            .await?;
        let old = cc
            .list_checkout_keys(&project)
            .await
            .into_result()?
            .into_iter()
            .map(|k| k.fingerprint)
            .collect();
        let name = format!("checkout-key {project}");
        extra.push(ExtraSecret::CheckoutKey {
            secret: name.clone(),
            project: project.clone(),
            old,
        });
        plan.secrets.push(SecretSpec {
            name,
            source: SourceSpec::DeployKey {
                github_repo: None,
                circleci_project: Some(project),
                title: "firebreak".into(),
                read_only: true,
            },
            sinks: vec![],
            verify: None,
            shared: false,
        });
    }
    let _ = sim;
    Ok((extra, iam_out))
}

async fn futures_join<F: std::future::Future + Send + 'static>(fs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let hs: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in hs {
        out.push(h.await.expect("task"));
    }
    out
}

impl World {
    /// Sink events of the plan's sinks, from the provider simulator's log.
    pub fn sink_events(&self) -> Vec<SinkEvent> {
        let keys: std::collections::HashSet<&String> = self.sink_keys.values().flatten().collect();
        self.sim
            .events()
            .into_iter()
            .filter_map(|e| {
                let k = ev_key(e.provider, e.kind, &e.scope, &e.name);
                keys.contains(&k).then_some(SinkEvent {
                    sink: k,
                    seq: e.seq,
                    at: e.at,
                    fingerprint: e.fingerprint,
                })
            })
            .collect()
    }

    /// Invariants 1–4 now.
    pub fn check_now(&self) -> Vec<String> {
        invariants::check(
            &self.src.timeline(),
            &self.sink_events(),
            &self.src.issue_calls(),
            chrono::Utc::now(),
        )
    }

    fn current_fp(&self, key: &str) -> Option<String> {
        let mut it = key.splitn(4, '/');
        let (p, k) = (it.next()?, it.next()?);
        let rest: Vec<&str> = it.collect();
        let joined = rest.join("/");
        // scope may contain '/', name never does
        let (scope, name) = joined.rsplit_once('/')?;
        let p: Provider = p.parse().ok()?;
        let k: Kind = k.parse().ok()?;
        self.sim.secret(p, k, scope, name)?.fingerprint
    }

    /// The journal's (keyed) fingerprint of the value a sink holds now.
    fn current_keyed_fp(&self, key: &str) -> Option<String> {
        let mut it = key.splitn(4, '/');
        let (p, k) = (it.next()?, it.next()?);
        let rest: Vec<&str> = it.collect();
        let joined = rest.join("/");
        let (scope, name) = joined.rsplit_once('/')?;
        let p: Provider = p.parse().ok()?;
        let k: Kind = k.parse().ok()?;
        let v = self.sim.secret_value(p, k, scope, name)?;
        let sk = crate::crypto::SealKey::from_base64(&self.key_b64, "the harness's key").ok()?;
        Some(sk.fingerprint(&v))
    }

    /// End-of-run checks: every secret terminal, and consistent with its state.
    pub fn check_final(&self) -> anyhow::Result<(engine::Summary, Vec<String>)> {
        let j = Journal::open(&self.store_path)?;
        let run = engine::latest_run(&j)?.context("no run in the store")?;
        let rows = engine::status(&j, &run)?;
        let sum = engine::summarize(&run, &rows);
        let mut v = self.check_now();
        let tl = self.src.timeline();
        for r in &rows {
            let Some(keys) = self.sink_keys.get(&r.secret) else {
                continue; // another kind of source: see check_extra
            };
            let old = &self.old_fp[&r.secret];
            let old_valid = tl.iter().any(|c| &c.fingerprint == old && c.revoked_at.is_none());
            match r.state {
                State::Done => {
                    let new = r.new_fingerprint.clone().unwrap_or_default();
                    for k in keys {
                        if self.current_keyed_fp(k).as_deref() != Some(new.as_str()) {
                            v.push(format!(
                                "{}: done but sink {k} does not hold the new credential",
                                r.secret
                            ));
                        }
                    }
                    if old_valid {
                        v.push(format!(
                            "{}: done but the old credential was not revoked",
                            r.secret
                        ));
                    }
                }
                State::Stopped => {
                    if !old_valid {
                        v.push(format!(
                            "{}: stopped but its old credential was revoked",
                            r.secret
                        ));
                    }
                    if r.reason.as_deref().unwrap_or("").is_empty() {
                        v.push(format!("{}: stopped without a recorded reason", r.secret));
                    }
                }
                State::RolledBack => {
                    if !old_valid {
                        v.push(format!(
                            "{}: rolled back but its old credential was revoked",
                            r.secret
                        ));
                    }
                    for k in keys {
                        if self.current_fp(k).as_deref() != Some(old.as_str()) {
                            v.push(format!(
                                "{}: rolled back but sink {k} does not hold the old credential",
                                r.secret
                            ));
                        }
                    }
                }
                other => v.push(format!("{}: ended in non-terminal state {other}", r.secret)),
            }
        }
        // erased material: nothing encrypted left for terminal secrets
        let left: i64 = j.exec_blocking(|c| {
            c.query_row(
                "SELECT count(*) FROM rotation_secrets WHERE state IN ('done','rolled_back') AND (new_enc IS NOT NULL OR pending_enc IS NOT NULL)",
                [],
                |r| r.get(0),
            )
        })?;
        if left > 0 {
            v.push(format!(
                "{left} finished secrets still have credential material in the journal"
            ));
        }
        Ok((sum, v))
    }
}

impl World {
    /// The invariants of the secrets of other kinds, against the truth at their sources
    /// (moto's IAM, the simulator's deploy and checkout keys) and in their sinks. With
    /// `states` (secret → state reported by the run), also that each reported state
    /// matches that truth.
    pub async fn check_extra(&self, states: Option<&HashMap<String, State>>) -> Vec<String> {
        let mut v = Vec::new();
        let cur = |key: &str| self.current_fp(key);
        for x in &self.extra {
            let st = states.and_then(|m| m.get(x.secret())).copied();
            match x {
                ExtraSecret::Aws {
                    secret,
                    user,
                    old_id,
                    id_sink,
                } => {
                    let Some(iam) = &self.iam else { continue };
                    let keys = match iam.list_access_keys(user).await {
                        Ok(k) => k,
                        Err(e) => {
                            v.push(format!("{secret}: cannot list access keys: {e}"));
                            continue;
                        }
                    };
                    let active: Vec<&str> = keys
                        .iter()
                        .filter(|k| k.status == "Active")
                        .map(|k| k.id.as_str())
                        .collect();
                    let held = cur(id_sink);
                    let holds_active = active.iter().any(|id| {
                        Some(firebreak_core::SecretString::new(id.to_string()).fingerprint()) == held
                    });
                    if !holds_active {
                        v.push(format!(
                            "{secret}: sink {id_sink} holds an access key id that is not an active key of {user} (active: {active:?})"
                        ));
                    }
                    let old_alive = active.contains(&old_id.as_str());
                    match st {
                        Some(State::Done) if old_alive || keys.len() != 1 => v.push(format!(
                            "{secret}: done but {user} has keys {keys:?} (old {old_id})"
                        )),
                        Some(State::Stopped | State::RolledBack) if !old_alive => v.push(format!(
                            "{secret}: {} but its old key {old_id} is gone",
                            st.map_or("", State::as_str)
                        )),
                        Some(other) if states.is_some() && !other.is_terminal() => {
                            v.push(format!("{secret}: ended in non-terminal state {other}"))
                        }
                        _ => {}
                    }
                }
                ExtraSecret::DeployKey {
                    secret,
                    repo,
                    title,
                    old_id,
                    old_private_fp,
                    sink,
                } => {
                    let gh = match firebreak_providers::github::Client::new(
                        &self.sim.github_url(),
                        self.sim.config().github_token.clone(),
                        HttpConfig::default(),
                    ) {
                        Ok(c) => c,
                        Err(e) => {
                            v.push(format!("{secret}: {e}"));
                            continue;
                        }
                    };
                    let ours: Vec<(u64, String)> = match gh.list_deploy_keys(repo).await.into_result() {
                        Ok(ks) => ks
                            .into_iter()
                            .filter(|k| {
                                k.title == *title || k.title.starts_with(&format!("{title} (firebreak "))
                            })
                            .map(|k| (k.id, k.title))
                            .collect(),
                        Err(e) => {
                            v.push(format!("{secret}: cannot list deploy keys of {repo}: {e}"));
                            continue;
                        }
                    };
                    let mut titles: Vec<&String> = ours.iter().map(|(_, t)| t).collect();
                    titles.sort();
                    let n = titles.len();
                    titles.dedup();
                    if titles.len() != n || n > 2 {
                        v.push(format!(
                            "{secret}: {n} deploy keys in {repo} ({titles:?}): a key was issued twice"
                        ));
                    }
                    let old_alive = ours.iter().any(|(id, _)| id == old_id);
                    match cur(sink) {
                        Some(fp) if &fp == old_private_fp => {
                            if !old_alive {
                                v.push(format!("{secret}: sink {sink} holds the old private key, whose deploy key was deleted"));
                            }
                        }
                        Some(_) => {
                            if !ours.iter().any(|(id, _)| id != old_id) {
                                v.push(format!("{secret}: sink {sink} holds a new private key but no new deploy key exists"));
                            }
                        }
                        None => v.push(format!("{secret}: sink {sink} is empty")),
                    }
                    match st {
                        Some(State::Done) if old_alive || n != 1 => v.push(format!(
                            "{secret}: done but {n} keys remain (old alive: {old_alive})"
                        )),
                        Some(State::Stopped | State::RolledBack) if !old_alive => v.push(format!(
                            "{secret}: {} but its old deploy key is gone",
                            st.map_or("", State::as_str)
                        )),
                        Some(other) if states.is_some() && !other.is_terminal() => {
                            v.push(format!("{secret}: ended in non-terminal state {other}"))
                        }
                        _ => {}
                    }
                }
                ExtraSecret::CheckoutKey { secret, project, old } => {
                    let keys: Vec<String> = self
                        .sim
                        .secrets()
                        .into_iter()
                        .filter(|s| {
                            s.provider == Provider::Circleci
                                && s.kind == Kind::CheckoutKey
                                && &s.scope == project
                        })
                        .map(|s| s.name)
                        .collect();
                    let new: Vec<&String> = keys.iter().filter(|k| !old.contains(k)).collect();
                    if new.len() > 1 {
                        v.push(format!(
                            "{secret}: {} new checkout keys in {project}: a key was issued twice",
                            new.len()
                        ));
                    }
                    let old_left = keys.iter().filter(|k| old.contains(k)).count();
                    match st {
                        Some(State::Done) if old_left > 0 || new.len() != 1 => v.push(format!(
                            "{secret}: done but {old_left} old and {} new keys remain",
                            new.len()
                        )),
                        Some(State::Stopped | State::RolledBack) if old_left == 0 => v.push(format!(
                            "{secret}: {} but its old checkout keys are gone",
                            st.map_or("", State::as_str)
                        )),
                        Some(other) if states.is_some() && !other.is_terminal() => {
                            v.push(format!("{secret}: ended in non-terminal state {other}"))
                        }
                        _ => {}
                    }
                }
            }
        }
        v
    }
}

/// Crash-test settings.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// Secrets per world.
    pub secrets: usize,
    /// Total SIGKILLs across worlds.
    pub kills: usize,
    /// First seed.
    pub seed: u64,
    /// Child concurrency.
    pub concurrency: usize,
    /// The child binary (`rotate-harness`).
    pub child: PathBuf,
    /// TEST ONLY: the child revokes before verifying (the checker must catch it).
    pub broken_order: bool,
    /// Stop at the first violation.
    pub fail_fast: bool,
}

/// What a crash test did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CrashReport {
    /// SIGKILLs delivered (timer kills and self-kills at crash points).
    pub kills: usize,
    /// Child processes started.
    pub children: usize,
    /// Worlds (seeds) used.
    pub worlds: usize,
    /// Secrets rotated across worlds.
    pub secrets: usize,
    /// Done.
    pub done: usize,
    /// Stopped.
    pub stopped: usize,
    /// Rolled back.
    pub rolled_back: usize,
    /// Invariant violations (empty = pass).
    pub violations: Vec<String>,
    /// Seconds.
    pub elapsed_s: f64,
}

/// Runs the crash test: worlds of `secrets` secrets, killing children until `kills`
/// SIGKILLs were delivered and the last world finished.
pub async fn crash_test(cfg: &CrashConfig, dir: &Path) -> anyhow::Result<CrashReport> {
    let t0 = Instant::now();
    let mut rep = CrashReport::default();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut world_no = 0u64;
    while rep.kills < cfg.kills || rep.worlds == 0 {
        let seed = cfg.seed.wrapping_add(world_no);
        let wdir = dir.join(format!("world-{world_no}"));
        let w = build_world(
            &WorldConfig {
                secrets: cfg.secrets,
                projects: 40,
                seed,
                rate_limit: None,
                inject_failures: true,
                no_fetch: world_no % 2 == 1,
                failing_hook_every: Some(11),
                extra: ExtraSources::default(),
            },
            &wdir,
        )
        .await?;
        world_no += 1;
        rep.worlds += 1;
        let mut finished = false;
        let mut max_points: i64 = 2 + (cfg.secrets as i64 * 12 / cfg.kills.clamp(1, 100) as i64).max(4);
        while !finished {
            let kill_left = rep.kills < cfg.kills;
            let mut cmd = tokio::process::Command::new(&cfg.child);
            cmd.arg("child")
                .arg("--plan")
                .arg(&w.plan_path)
                .arg("--store")
                .arg(&w.store_path)
                .arg("--concurrency")
                .arg(cfg.concurrency.to_string())
                .env("FIREBREAK_ROTATE_KEY", &w.key_b64)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true);
            for (k, v) in sim_env(&w.sim) {
                cmd.env(k, v);
            }
            if cfg.broken_order {
                cmd.arg("--unsafe-revoke-before-verify");
            }
            let timer = kill_left && rng.gen_bool(0.5);
            if kill_left && !timer {
                cmd.arg("--crash-after")
                    .arg(rng.gen_range(1..=max_points).to_string());
            }
            let mut child = cmd
                .spawn()
                .with_context(|| format!("starting {}", cfg.child.display()))?;
            rep.children += 1;
            let status = if timer {
                let d = Duration::from_millis(rng.gen_range(15..=400));
                tokio::select! {
                    s = child.wait() => s?,
                    _ = tokio::time::sleep(d) => {
                        let _ = child.start_kill();
                        child.wait().await?
                    }
                }
            } else {
                child.wait().await?
            };
            use std::os::unix::process::ExitStatusExt;
            if status.signal() == Some(libc::SIGKILL) {
                rep.kills += 1;
            } else {
                match status.code() {
                    Some(0) | Some(1) => finished = true,
                    _ => {
                        let mut err = String::new();
                        if let Some(mut e) = child.stderr.take() {
                            use tokio::io::AsyncReadExt;
                            let _ = e.read_to_string(&mut err).await;
                        }
                        anyhow::bail!("child exited with {status}: {}", err.lines().last().unwrap_or(""));
                    }
                }
                // it finished before the kill point: aim earlier next time
                max_points = (max_points / 2).max(2);
            }
            let v = w.check_now();
            if !v.is_empty() {
                rep.violations.extend(
                    v.into_iter()
                        .map(|m| format!("world {seed} after child {}: {m}", rep.children)),
                );
                if cfg.fail_fast {
                    rep.elapsed_s = t0.elapsed().as_secs_f64();
                    return Ok(rep);
                }
            }
        }
        let (sum, v) = w.check_final()?;
        rep.secrets += cfg.secrets;
        rep.done += sum.done;
        rep.stopped += sum.stopped;
        rep.rolled_back += sum.rolled_back;
        rep.violations
            .extend(v.into_iter().map(|m| format!("world {seed} final: {m}")));
        if cfg.fail_fast && !rep.violations.is_empty() {
            break;
        }
    }
    rep.elapsed_s = t0.elapsed().as_secs_f64();
    Ok(rep)
}

/// The child side: resume the store's run, or start one from the plan.
pub async fn child_main(
    plan: &Path,
    store: &Path,
    concurrency: usize,
    unsafe_order: bool,
) -> anyhow::Result<engine::Summary> {
    let key = crate::crypto::SealKey::load(None)?;
    let j = Journal::open(store)?;
    let run = match engine::latest_run(&j)? {
        Some(r) => r,
        None => {
            let p = Plan::load(plan)?;
            engine::create_run(&j, &p, &plan.display().to_string())?
        }
    };
    let e = Arc::new(Engine::new(
        j,
        key,
        &run,
        RunOptions {
            concurrency,
            unsafe_revoke_before_verify: unsafe_order,
            ..Default::default()
        },
    )?);
    Ok(e.run().await?)
}

/// Creates a run of `plan` in `j` and runs it to its end with one worker (tests and
/// drills): the run id and its summary.
pub async fn run_plan(
    j: &Journal,
    plan: &Plan,
    key: &crate::SealKey,
) -> anyhow::Result<(String, engine::Summary)> {
    let run = engine::create_run(j, plan, "plan.toml")?;
    let e = Arc::new(Engine::new(
        j.clone(),
        key.clone(),
        &run,
        RunOptions {
            concurrency: 1,
            ..Default::default()
        },
    )?);
    let sum = e.run().await?;
    Ok((run, sum))
}

/// A moto server (AWS in a process; PyPI `moto[server]`, installed by
/// `scripts/setup.d/60-moto.sh`, which exports `FIREBREAK_MOTO_SERVER`), stopped on drop.
pub struct Moto {
    child: std::process::Child,
    /// Its endpoint, e.g. `http://127.0.0.1:PORT/`.
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it accepts connections.
    pub fn start() -> anyhow::Result<Moto> {
        let bin = std::env::var("FIREBREAK_MOTO_SERVER").map_err(|_| {
            anyhow::anyhow!("FIREBREAK_MOTO_SERVER is not set: run scripts/setup.d/60-moto.sh (or scripts/test) and source .tools/env.d/moto.sh")
        })?;
        anyhow::ensure!(
            Path::new(&bin).exists(),
            "{bin} missing: run scripts/setup.d/60-moto.sh"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let m = Moto {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        };
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(m);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("moto did not listen on port {port} within 20 s")
    }
}

/// Settings of the fault test that drives the real `firebreak` binary.
#[derive(Debug, Clone)]
pub struct CliFaultConfig {
    /// The `firebreak` binary.
    pub firebreak: PathBuf,
    /// Secrets of the HTTP source simulator.
    pub secrets: usize,
    /// Sources of other kinds.
    pub extra: ExtraSources,
    /// Fault episodes before the run is allowed to finish.
    pub episodes: usize,
    /// Seed.
    pub seed: u64,
    /// `--concurrency` of the children.
    pub concurrency: usize,
    /// Requests per second per provider (simulator and plan), so a run lasts long enough
    /// for the faults to meet every step.
    pub rate_limit: f64,
    /// Timed kills happen within this many milliseconds of a child's start.
    pub kill_within_ms: u64,
}

/// What the CLI fault test did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CliFaultReport {
    /// Episodes (one or two children each).
    pub episodes: usize,
    /// Child processes started.
    pub children: usize,
    /// Fault × outcome counts, e.g. `disk full after [write_sink intent]: journal failed, exit 3`.
    pub matrix: std::collections::BTreeMap<String, usize>,
    /// Secrets in the world.
    pub secrets: usize,
    /// Done.
    pub done: usize,
    /// Stopped.
    pub stopped: usize,
    /// Rolled back.
    pub rolled_back: usize,
    /// Invariant violations and unexpected outcomes (empty = pass).
    pub violations: Vec<String>,
    /// Seconds.
    pub elapsed_s: f64,
}

struct ChildOutcome {
    killed: bool,
    code: Option<i32>,
    stderr: String,
}

fn spawn_cli(
    cfg: &CliFaultConfig,
    w: &World,
    args: &[&str],
    fsize: Option<u64>,
) -> anyhow::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(&cfg.firebreak);
    cmd.arg("rotate")
        .args(args)
        .arg("--store")
        .arg(&w.store_path)
        .arg("--concurrency")
        .arg(cfg.concurrency.to_string())
        .env("FIREBREAK_ROTATE_KEY", &w.key_b64)
        .env_remove("FIREBREAK_STORE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in sim_env(&w.sim) {
        cmd.env(k, v);
    }
    if let Some(limit) = fsize {
        // A full disk for this process only: writes past `limit` bytes into any file fail
        // with EFBIG (SIGXFSZ, which would kill it, is ignored), as on a full file system.
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let r = libc::rlimit {
                    rlim_cur: limit as libc::rlim_t,
                    rlim_max: limit as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", cfg.firebreak.display()))
}

async fn finish_child(
    mut child: tokio::process::Child,
    kill_after: Option<Duration>,
) -> anyhow::Result<ChildOutcome> {
    use tokio::io::AsyncReadExt;
    let mut err = child.stderr.take().context("stderr")?;
    let reader = tokio::spawn(async move {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s).await;
        s
    });
    let limit = Duration::from_secs(600);
    let status = match kill_after {
        Some(d) => tokio::select! {
            s = child.wait() => s?,
            _ = tokio::time::sleep(d) => {
                let _ = child.start_kill();
                child.wait().await?
            }
        },
        None => tokio::time::timeout(limit, child.wait())
            .await
            .map_err(|_| anyhow::anyhow!("a child ran for more than {limit:?}"))??,
    };
    let stderr = reader.await.unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    Ok(ChildOutcome {
        killed: status.signal() == Some(libc::SIGKILL),
        code: status.code(),
        stderr,
    })
}

/// How a child ended, in words; `Err` when that is not an allowed outcome.
fn classify(o: &ChildOutcome, full_disk: bool) -> Result<String, String> {
    let last = o
        .stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    if o.killed {
        return Ok("killed".into());
    }
    match o.code {
        Some(0) | Some(1) => Ok("finished".into()),
        Some(2) if o.stderr.contains("is being driven by") => {
            Ok("refused: another process drives the run".into())
        }
        Some(2) if o.stderr.contains("overlaps unfinished run") => {
            Ok("refused: plan overlaps an unfinished run".into())
        }
        Some(2) if full_disk && o.stderr.contains("store") => Ok("store could not be opened, exit 2".into()),
        Some(3) if o.stderr.contains("could not be made durable") => {
            Ok("journal failed, stopped at a safe point, exit 3".into())
        }
        Some(3) => Ok("unfinished secrets, exit 3".into()),
        other => Err(format!("exit {other:?}: {last}")),
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

impl World {
    /// The run of the store, if one was created, and its status.
    fn run_state(&self) -> anyhow::Result<Option<(String, String)>> {
        if !self.store_path.exists() {
            return Ok(None);
        }
        let j = Journal::open(&self.store_path)?;
        let Some(run) = engine::latest_run(&j)? else {
            return Ok(None);
        };
        let r2 = run.clone();
        let st: String = j.exec_blocking(move |c| {
            c.query_row("SELECT status FROM rotation_runs WHERE run_id = ?1", [r2], |r| {
                r.get(0)
            })
        })?;
        Ok(Some((run, st)))
    }

    /// The step of the last durable journal record (`step phase`, or `run created`).
    pub fn last_step(&self) -> String {
        let Ok(j) = Journal::open(&self.store_path) else {
            return "?".into();
        };
        j.exec_blocking(|c| {
            c.query_row(
                "SELECT coalesce((SELECT step || ' ' || phase FROM rotation_journal ORDER BY seq DESC LIMIT 1), 'run created')",
                [],
                |r| r.get::<_, String>(0),
            )
        })
        .unwrap_or_else(|_| "?".into())
    }
}

/// The fault test of the real binary: `firebreak rotate run` / `resume` on one store,
/// killed with SIGKILL at random moments, two at once (on a fresh store too: the migration
/// race and the run lock), on a full disk (a file-size limit on the child, so its journal
/// commits fail with real I/O errors), and a second `run` of the plan while it is
/// unfinished; then resumed until done. Invariants are checked after every episode and at
/// the end, for every kind of source in the world.
pub async fn cli_fault_test(cfg: &CliFaultConfig, dir: &Path) -> anyhow::Result<CliFaultReport> {
    let t0 = Instant::now();
    let mut rep = CliFaultReport::default();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut world_no = 0u64;
    while rep.episodes < cfg.episodes || world_no == 0 {
        let seed = cfg.seed.wrapping_add(world_no);
        cli_world(
            cfg,
            &dir.join(format!("world-{world_no}")),
            seed,
            &mut rng,
            &mut rep,
        )
        .await?;
        world_no += 1;
        if !rep.violations.is_empty() {
            break;
        }
    }
    rep.elapsed_s = t0.elapsed().as_secs_f64();
    Ok(rep)
}

/// One world of [`cli_fault_test`], from a fresh store to a finished run.
async fn cli_world(
    cfg: &CliFaultConfig,
    dir: &Path,
    seed: u64,
    rng: &mut StdRng,
    rep: &mut CliFaultReport,
) -> anyhow::Result<()> {
    let w = build_world(
        &WorldConfig {
            secrets: cfg.secrets,
            projects: 40,
            seed,
            // slow enough (requests per second per provider) for faults to meet every step
            rate_limit: Some(cfg.rate_limit),
            inject_failures: true,
            no_fetch: seed % 2 == 1,
            failing_hook_every: Some(13),
            extra: cfg.extra.clone(),
        },
        dir,
    )
    .await?;
    rep.secrets += w.plan.secrets.len();
    let plan = w.plan_path.display().to_string();
    let mut episode = 0usize;
    loop {
        let faults_left = rep.episodes < cfg.episodes;
        let run = w.run_state()?;
        if matches!(&run, Some((_, st)) if st == "finished") {
            break;
        }
        let mut kinds: Vec<(String, Option<u64>, Option<Duration>)> = Vec::new(); // (args, fsize, kill)
        let label: String;
        let kill_ms = |rng: &mut StdRng| Duration::from_millis(rng.gen_range(30..cfg.kill_within_ms.max(31)));
        match (&run, faults_left) {
            (None, _) => {
                // the first episode: two `run`s at once on a fresh store
                label = "two `run`s at once".into();
                for _ in 0..2 {
                    let kill = (faults_left && rng.gen_bool(0.8)).then(|| kill_ms(rng));
                    kinds.push(("run".into(), None, kill));
                }
            }
            (Some(_), false) => {
                label = "resume".into();
                kinds.push(("resume".into(), None, None));
            }
            (Some(_), true) => match rng.gen_range(0..10) {
                0..=2 => {
                    label = "resume, killed".into();
                    kinds.push(("resume".into(), None, Some(kill_ms(rng))));
                }
                3..=5 => {
                    label = "two `resume`s at once".into();
                    for _ in 0..2 {
                        let kill = rng.gen_bool(0.4).then(|| kill_ms(rng));
                        kinds.push(("resume".into(), None, kill));
                    }
                }
                6..=8 => {
                    let mut wal = w.store_path.as_os_str().to_owned();
                    wal.push("-wal");
                    let base = file_len(&w.store_path).max(file_len(Path::new(&wal)));
                    let limit = base + rng.gen_range(0..64u64) * 4096;
                    label = "disk full".into();
                    kinds.push(("resume".into(), Some(limit), None));
                }
                _ => {
                    label = "`run` of the plan while it is unfinished".into();
                    kinds.push(("run".into(), None, None));
                }
            },
        }
        episode += 1;
        rep.episodes += 1;
        let mut running = Vec::new();
        for (arg, fsize, kill) in &kinds {
            let args: Vec<&str> = if arg == "run" {
                vec!["run", plan.as_str()]
            } else {
                vec!["resume"]
            };
            let child = spawn_cli(cfg, &w, &args, *fsize)?;
            rep.children += 1;
            running.push(tokio::spawn(finish_child(child, *kill)));
        }
        let mut words = Vec::new();
        for (h, (_, fsize, _)) in running.into_iter().zip(&kinds) {
            let o = h.await??;
            match classify(&o, fsize.is_some()) {
                Ok(c) => words.push(c),
                Err(m) => rep
                    .violations
                    .push(format!("world {seed} episode {episode} ({label}): {m}")),
            }
        }
        // a second `run` of an unfinished plan must be refused, whatever else happens
        if label.starts_with("`run`")
            && words
                .iter()
                .any(|c| c != "refused: plan overlaps an unfinished run")
        {
            rep.violations.push(format!(
                "world {seed} episode {episode}: a second run of an unfinished plan was not refused: {words:?}"
            ));
        }
        if label == "two `run`s at once" && words.iter().filter(|c| c.as_str() == "finished").count() > 1 {
            rep.violations.push(format!(
                "world {seed} episode {episode}: two runs of one plan both ran: {words:?}"
            ));
        }
        words.sort();
        let key = if label == "disk full" && words.iter().any(|c| c.starts_with("journal failed")) {
            format!("disk full after [{}]: {}", w.last_step(), words.join(" + "))
        } else {
            format!("{label}: {}", words.join(" + "))
        };
        *rep.matrix.entry(key).or_default() += 1;
        let mut v = w.check_now();
        v.extend(w.check_extra(None).await);
        rep.violations.extend(
            v.into_iter()
                .map(|m| format!("world {seed} after episode {episode} ({label}): {m}")),
        );
        if !rep.violations.is_empty() || episode > cfg.episodes + 30 {
            if rep.violations.is_empty() {
                rep.violations
                    .push(format!("world {seed}: the run did not finish"));
            }
            return Ok(());
        }
    }
    let (sum, v) = w.check_final()?;
    rep.violations
        .extend(v.into_iter().map(|m| format!("world {seed} final: {m}")));
    let j = Journal::open(&w.store_path)?;
    let run = engine::latest_run(&j)?.context("no run")?;
    let states: HashMap<String, State> = engine::status(&j, &run)?
        .into_iter()
        .map(|r| (r.secret, r.state))
        .collect();
    rep.violations.extend(
        w.check_extra(Some(&states))
            .await
            .into_iter()
            .map(|m| format!("world {seed} final: {m}")),
    );
    let locks: i64 =
        j.exec_blocking(|c| c.query_row("SELECT count(*) FROM rotation_locks", [], |r| r.get(0)))?;
    if locks != 0 {
        rep.violations.push(format!(
            "world {seed} final: {locks} run lock(s) left behind by a finished run"
        ));
    }
    rep.done += sum.done;
    rep.stopped += sum.stopped;
    rep.rolled_back += sum.rolled_back;
    Ok(())
}

/// Benchmark figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Secrets.
    pub secrets: usize,
    /// Per-provider rate limit (requests / second).
    pub rate_limit: f64,
    /// Concurrency.
    pub concurrency: usize,
    /// Requests served per provider (circleci, github, gitlab), excluding 429s.
    pub requests: [u64; 3],
    /// 429 / 403 rate-limit replies per provider.
    pub rate_limited: [u64; 3],
    /// Lower bound: max over providers of requests / rate limit, seconds.
    pub bound_s: f64,
    /// Measured run time, seconds.
    pub elapsed_s: f64,
    /// elapsed / bound.
    pub ratio: f64,
    /// Done secrets.
    pub done: usize,
}

/// Rotates `secrets` secrets in-process over the simulators with a per-provider rate limit.
pub async fn bench(secrets: usize, rate: f64, concurrency: usize, dir: &Path) -> anyhow::Result<BenchReport> {
    let w = build_world(
        &WorldConfig {
            secrets,
            projects: (secrets / 4).clamp(10, 2000),
            seed: 42,
            rate_limit: Some(rate),
            inject_failures: false,
            no_fetch: false,
            failing_hook_every: None,
            extra: ExtraSources::default(),
        },
        dir,
    )
    .await?;
    std::env::set_var("FIREBREAK_ROTATE_KEY", &w.key_b64);
    let key = crate::crypto::SealKey::load(None)?;
    let j = Journal::open(&w.store_path)?;
    let run = engine::create_run(&j, &w.plan, &w.plan_path.display().to_string())?;
    let before: Vec<(u64, u64)> = Provider::ALL
        .iter()
        .map(|p| (w.sim.request_count(*p), w.sim.rate_limited_count(*p)))
        .collect();
    // let the simulator's buckets refill after seeding
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let e = Arc::new(Engine::new(
        j,
        key,
        &run,
        RunOptions {
            concurrency,
            ..Default::default()
        },
    )?);
    let t0 = Instant::now();
    let sum = e.run().await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let mut requests = [0u64; 3];
    let mut limited = [0u64; 3];
    for (i, p) in Provider::ALL.iter().enumerate() {
        limited[i] = w.sim.rate_limited_count(*p) - before[i].1;
        requests[i] = w.sim.request_count(*p) - before[i].0 - limited[i];
    }
    let bound = requests.iter().copied().max().unwrap_or(0) as f64 / rate;
    let v = w.check_now();
    anyhow::ensure!(v.is_empty(), "invariant violations in the benchmark: {v:?}");
    Ok(BenchReport {
        secrets,
        rate_limit: rate,
        concurrency,
        requests,
        rate_limited: limited,
        bound_s: bound,
        elapsed_s: elapsed,
        ratio: if bound > 0.0 { elapsed / bound } else { 0.0 },
        done: sum.done,
    })
}
