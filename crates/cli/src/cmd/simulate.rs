//! `firebreak simulate`: run the stateful CircleCI / GitHub / GitLab simulator
//! (docs/simulator.md) until interrupted.

use anyhow::Context;
use firebreak_core::{Exit, SecretString};
use firebreak_providers::sim::{Faults, SimConfig, Simulator};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `firebreak simulate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// RNG seed for the data and the injected faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Projects / repositories seeded per provider.
    #[arg(long, default_value_t = 100)]
    projects: usize,
    /// Requests per second allowed per provider (token bucket; 429 / 403 with Retry-After or reset headers).
    #[arg(long, value_name = "RPS")]
    rate_limit: Option<f64>,
    /// Token-bucket capacity (default: one second of requests).
    #[arg(long)]
    burst: Option<f64>,
    /// Port on 127.0.0.1 (0 = any free port; the URL is printed on the first line of stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Probability of an injected 503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Probability of a slow reply.
    #[arg(long, default_value_t = 0.0)]
    slow_rate: f64,
    /// Delay of a slow reply, milliseconds.
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// Largest page a listing returns.
    #[arg(long, default_value_t = 20)]
    page_size: usize,
    /// Listings repeat the same next-page token / URL forever (pagination-loop fault).
    #[arg(long)]
    repeat_page_token: bool,
    /// Scope answering 403 (CircleCI slug, GitHub owner/repo, GitLab project path). Repeatable.
    #[arg(long, value_name = "SCOPE")]
    forbidden: Vec<String>,
    /// Organisation name (CircleCI and GitHub).
    #[arg(long, default_value = "sim-org")]
    org: String,
    /// GitLab top-level group.
    #[arg(long, default_value = "sim-group")]
    gitlab_group: String,
    /// Projects per provider with CI logs (with planted fake secrets).
    #[arg(long, default_value_t = 3)]
    log_projects: usize,
    /// Token the simulated CircleCI accepts.
    #[arg(
        long,
        env = "FIREBREAK_SIM_CIRCLECI_TOKEN",
        default_value = "sim-circleci-token",
        hide_default_value = true,
        hide_env_values = true
    )]
    circleci_token: String,
    /// Token the simulated GitHub accepts.
    #[arg(
        long,
        env = "FIREBREAK_SIM_GITHUB_TOKEN",
        default_value = "sim-github-token",
        hide_default_value = true,
        hide_env_values = true
    )]
    github_token: String,
    /// Token the simulated GitLab accepts.
    #[arg(
        long,
        env = "FIREBREAK_SIM_GITLAB_TOKEN",
        default_value = "sim-gitlab-token",
        hide_default_value = true,
        hide_env_values = true
    )]
    gitlab_token: String,
    /// Write the write-event log (JSON Lines) here on exit.
    #[arg(long, value_name = "FILE")]
    events_out: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C / SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// CircleCI projects connected through GitLab (`circleci/ORG-ID/PROJECT-ID` slugs whose
    /// checkout key is the GitLab project's deploy key; not followed).
    #[arg(long, default_value_t = 0, value_name = "N")]
    gitlab_linked: usize,
}

/// Runs the subcommand.
pub fn run(a: Args) -> anyhow::Result<Exit> {
    let cfg = SimConfig {
        seed: a.seed,
        projects: a.projects,
        rate_limit: a.rate_limit,
        burst: a.burst,
        faults: Faults {
            error_rate: a.error_rate,
            slow_rate: a.slow_rate,
            slow_ms: a.slow_ms,
            repeat_page_token: a.repeat_page_token,
            forbidden: a.forbidden.clone(),
            forbidden_kinds: Vec::new(),
        },
        page_size: a.page_size.max(1),
        org: a.org.clone(),
        gitlab_group: a.gitlab_group.clone(),
        log_projects: a.log_projects,
        circleci_token: SecretString::new(a.circleci_token.clone()),
        github_token: SecretString::new(a.github_token.clone()),
        gitlab_token: SecretString::new(a.gitlab_token.clone()),
        npm_token: None,
        port: a.port,
        gitlab_linked: a.gitlab_linked,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let h = Simulator::start(cfg)
            .await
            .context("cannot start the simulator")?;
        {
            // The banner is best effort: a reader that closes stdout after the first line
            // (as scripts and tests do) must not stop the simulator.
            let mut out = std::io::stdout().lock();
            // the simulator's default tokens are public test values and are shown; a token
            // the user chose is never echoed
            let tok = |given: &str, default: &str, var: &str| {
                if given == default {
                    format!("export {var}={default}")
                } else {
                    format!("export {var}=...   # the token you gave the simulator")
                }
            };
            let banner = format!(
                "firebreak simulate: listening on {base}\n\
                 circleci --api-url {cc}  --org {org}\n\
                 github   --api-url {gh}  --org {org}\n\
                 gitlab   --api-url {gl}  --org {group}\n\
                 {t1}\n{t2}\n{t3}\n\
                 e.g. firebreak inventory --provider circleci --org {org} --api-url {cc}\n",
                base = h.base_url(),
                cc = h.circleci_url(),
                gh = h.github_url(),
                gl = h.gitlab_url(),
                org = a.org,
                group = a.gitlab_group,
                t1 = tok(&a.circleci_token, "sim-circleci-token", "CIRCLECI_TOKEN"),
                t2 = tok(&a.github_token, "sim-github-token", "GITHUB_TOKEN"),
                t3 = tok(&a.gitlab_token, "sim-gitlab-token", "GITLAB_TOKEN"),
            );
            let _ = out.write_all(banner.as_bytes()).and_then(|_| out.flush());
        }
        let stop = async {
            #[cfg(unix)]
            {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            #[cfg(not(unix))]
            tokio::signal::ctrl_c().await?;
            anyhow::Ok(())
        };
        match a.duration {
            Some(s) => {
                tokio::select! {
                    r = stop => r?,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(s)) => {},
                }
            }
            None => stop.await?,
        }
        if let Some(p) = &a.events_out {
            let mut f = std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?;
            for e in h.events() {
                writeln!(f, "{}", serde_json::to_string(&e)?)?;
            }
        }
        let reqs: Vec<String> = firebreak_providers::Provider::ALL
            .iter()
            .map(|p| {
                format!(
                    "{p} {} ({} rate-limited)",
                    h.request_count(*p),
                    h.rate_limited_count(*p)
                )
            })
            .collect();
        crate::output::note!("firebreak simulate: stopped; requests: {}", reqs.join(", "));
        h.shutdown().await;
        anyhow::Ok(Exit::Clean)
    })
}
