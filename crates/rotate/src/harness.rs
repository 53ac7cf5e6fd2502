//! The crash-test and benchmark harness: a provider simulator (sinks) and a source
//! simulator running in THIS process, a plan of generated secrets over them, and a child
//! process (`rotate-harness child`) that runs the rotation and is killed with SIGKILL at
//! random (seeded) points, then resumed, until done. Invariants are checked after every
//! kill and at the end (see [`crate::invariants`]).

use crate::engine::{self, state, Engine, RunOptions};
use crate::invariants::{self, SinkEvent};
use crate::journal::Journal;
use crate::plan::{Field, Plan, ProviderConn, Providers, SecretSpec, SinkSpec, SourceSpec};
use crate::sim_source::SourceSim;
use crate::sinks::SinkClients;
use anyhow::Context as _;
use firebreak_providers::sim::{Faults, SimConfig, SimHandle, Simulator};
use firebreak_providers::{circleci, gitlab, HttpConfig, Kind, Provider};
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
        });
    }
    plan.validate("(generated)")?;
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
    })
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

    /// End-of-run checks: every secret terminal, and consistent with its state.
    pub fn check_final(&self) -> anyhow::Result<(engine::Summary, Vec<String>)> {
        let j = Journal::open(&self.store_path)?;
        let run = engine::latest_run(&j)?.context("no run in the store")?;
        let rows = engine::status(&j, &run)?;
        let sum = engine::summarize(&run, &rows);
        let mut v = self.check_now();
        let tl = self.src.timeline();
        for r in &rows {
            let keys = &self.sink_keys[&r.secret];
            let old = &self.old_fp[&r.secret];
            let old_valid = tl.iter().any(|c| &c.fingerprint == old && c.revoked_at.is_none());
            match r.state.as_str() {
                state::DONE => {
                    let new = r.new_fingerprint.clone().unwrap_or_default();
                    for k in keys {
                        if self.current_fp(k).as_deref() != Some(new.as_str()) {
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
                state::STOPPED => {
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
                state::ROLLED_BACK => {
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
