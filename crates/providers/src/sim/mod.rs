//! The stateful simulator of the CircleCI, GitHub and GitLab APIs firebreak uses.
//!
//! One HTTP server (127.0.0.1) serves the three providers under path prefixes:
//!
//! | provider | `--api-url` |
//! |---|---|
//! | CircleCI v2 (v1.1 beside it) | `{base}/circleci/api/v2` (`{base}/circleci/api/v1.1`) |
//! | GitHub | `{base}/github` |
//! | GitLab | `{base}/gitlab/api/v4` |
//!
//! It models pagination (page tokens, `Link`, `X-Next-Page`), secrets created / updated /
//! listed / deleted with timestamps, checkout / deploy / SSH keys, GitHub public keys
//! with real sealed-box decryption, token checks, a per-provider token-bucket rate limit
//! answering 429 / 403 with `Retry-After` and reset headers, injected 5xx and slow
//! replies (seeded RNG), CI job logs with seeded leaked secrets, and an event log of
//! every write. See `docs/simulator.md`.

mod server;
mod state;

pub use state::{Event, EventAction, LeakedSecret, SecretView, SimState};

use crate::model::{Kind, Provider};
use firebreak_core::SecretString;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Fault injection settings (can be changed while running with [`SimHandle::set_faults`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Probability that a request gets a 503.
    pub error_rate: f64,
    /// Probability that a reply is delayed by `slow_ms`.
    pub slow_rate: f64,
    /// Delay of a slow reply, milliseconds.
    pub slow_ms: u64,
    /// Listings hand back the same next-page token / URL forever.
    pub repeat_page_token: bool,
    /// Scopes (CircleCI slug, GitHub `owner/repo`, GitLab project path or id) that answer 403.
    pub forbidden: Vec<String>,
    /// Kinds whose listings answer 403 everywhere, as for a token without the permission
    /// to read them (GitHub variables and Codespaces secrets, GitLab deploy keys, tokens
    /// and runners).
    pub forbidden_kinds: Vec<Kind>,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// RNG seed (data and faults).
    pub seed: u64,
    /// Projects / repositories per provider.
    pub projects: usize,
    /// Requests per second allowed per provider (`None` = unlimited).
    pub rate_limit: Option<f64>,
    /// Token-bucket capacity (default: one second of requests, at least 1).
    pub burst: Option<f64>,
    /// Injected faults.
    pub faults: Faults,
    /// Largest page a listing returns (CircleCI's fixed page size; GitHub's and GitLab's
    /// `per_page` cap).
    pub page_size: usize,
    /// CircleCI organisation / GitHub organisation name.
    pub org: String,
    /// GitLab top-level group.
    pub gitlab_group: String,
    /// Projects (per provider) that have CI builds with logs.
    pub log_projects: usize,
    /// Accepted CircleCI token.
    pub circleci_token: SecretString,
    /// Accepted GitHub token.
    pub github_token: SecretString,
    /// Accepted GitLab token.
    pub gitlab_token: SecretString,
    /// Token accepted by the simulated npm registry (`{base}/npm/-/whoami`), if any.
    pub npm_token: Option<SecretString>,
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// CircleCI projects connected through GitLab (slugs `circleci/ORG-ID/PROJECT-ID`,
    /// `vcs_info.vcs_url` naming the first GitLab projects), each with a checkout key that
    /// is its GitLab project's deploy key. Not followed: give them as `--projects-file`.
    pub gitlab_linked: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            projects: 100,
            rate_limit: None,
            burst: None,
            faults: Faults::default(),
            page_size: 20,
            org: "sim-org".into(),
            gitlab_group: "sim-group".into(),
            log_projects: 3,
            circleci_token: SecretString::new("sim-circleci-token"),
            github_token: SecretString::new("sim-github-token"),
            gitlab_token: SecretString::new("sim-gitlab-token"),
            npm_token: None,
            port: 0,
            gitlab_linked: 0,
        }
    }
}

pub(crate) struct Shared {
    pub(crate) cfg: SimConfig,
    pub(crate) state: Mutex<SimState>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) rng: Mutex<rand::rngs::StdRng>,
    pub(crate) buckets: [Mutex<server::Bucket>; 3],
    /// Scopes of the accepted GitLab token (`api` unless a test narrows them).
    pub(crate) gitlab_scopes: Mutex<Vec<String>>,
}

/// The simulator.
pub struct Simulator;

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Seeds the state and starts serving on 127.0.0.1 (call inside a Tokio runtime).
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimHandle> {
        use rand::SeedableRng;
        let state = SimState::seeded(&cfg);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await?;
        let addr = listener.local_addr()?;
        let now = tokio::time::Instant::now();
        let cap = cfg
            .burst
            .unwrap_or_else(|| cfg.rate_limit.unwrap_or(1.0).max(1.0));
        let mk = || Mutex::new(server::Bucket::new(cap, now));
        let shared = Arc::new(Shared {
            faults: Mutex::new(cfg.faults.clone()),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(cfg.seed ^ 0x5eed_fa17)),
            buckets: [mk(), mk(), mk()],
            gitlab_scopes: Mutex::new(vec!["api".to_string()]),
            cfg,
            state: Mutex::new(state),
        });
        let app = server::router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SimHandle {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// CircleCI `--api-url` (`{base}/circleci/api/v2`).
    pub fn circleci_url(&self) -> String {
        format!("{}/circleci/api/v2", self.base_url())
    }
    /// GitHub `--api-url` (`{base}/github`).
    pub fn github_url(&self) -> String {
        format!("{}/github", self.base_url())
    }
    /// GitLab `--api-url` (`{base}/gitlab/api/v4`).
    pub fn gitlab_url(&self) -> String {
        format!("{}/gitlab/api/v4", self.base_url())
    }
    /// The simulated npm registry (`{base}/npm`).
    pub fn npm_url(&self) -> String {
        format!("{}/npm", self.base_url())
    }
    /// `--api-url` of a provider.
    pub fn api_url(&self, p: Provider) -> String {
        match p {
            Provider::Circleci => self.circleci_url(),
            Provider::Github => self.github_url(),
            Provider::Gitlab => self.gitlab_url(),
        }
    }
    /// The configuration it was started with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.cfg
    }
    /// Runs `f` on the state (locked).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        let mut s = self.shared.state.lock().expect("sim state lock");
        f(&mut s)
    }
    /// Every write so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.with_state(|s| s.events.clone())
    }
    /// Current view (fingerprint, timestamps) of one secret.
    pub fn secret(&self, provider: Provider, kind: Kind, scope: &str, name: &str) -> Option<SecretView> {
        self.with_state(|s| s.secret_view(provider, kind, scope, name))
    }
    /// Every secret and key currently stored (the ground truth an inventory should find).
    pub fn secrets(&self) -> Vec<SecretView> {
        self.with_state(|s| s.all_views())
    }
    /// The plaintext value the simulator holds for a secret (tests only; never print it).
    pub fn secret_value(
        &self,
        provider: Provider,
        kind: Kind,
        scope: &str,
        name: &str,
    ) -> Option<SecretString> {
        self.with_state(|s| s.secret_value(provider, kind, scope, name))
    }
    /// Stores a secret or variable with this value (created, or updated when it exists),
    /// as a write through the API would: for tests that plant a value, such as a token
    /// stored in a plain GitHub Actions variable. Recorded in [`SimHandle::events`].
    pub fn put_secret(&self, provider: Provider, kind: Kind, scope: &str, name: &str, value: SecretString) {
        self.with_state(|s| {
            s.write_secret(
                provider,
                kind,
                scope,
                name,
                Some(value),
                Default::default(),
                false,
            );
        });
    }
    /// The fake secrets seeded in CI logs.
    pub fn leaked(&self) -> Vec<LeakedSecret> {
        self.with_state(|s| s.leaked.clone())
    }
    /// Requests received per provider (including rejected ones).
    pub fn request_count(&self, p: Provider) -> u64 {
        self.with_state(|s| s.requests[p as usize])
    }
    /// Rate-limit replies sent per provider.
    pub fn rate_limited_count(&self, p: Provider) -> u64 {
        self.with_state(|s| s.rate_limited[p as usize])
    }
    /// Adds a pipeline of project `slug` to the organisation's pipeline list (newest):
    /// e.g. a project that has since been deleted (`GET /project/{slug}` then answers 404).
    pub fn circleci_add_pipeline(&self, slug: &str) {
        self.with_state(|s| s.circleci_pipelines.insert(0, slug.to_string()));
    }

    /// Adds an (empty) GitHub repository `org/name` to the organisation's listing: a
    /// repository the VCS side knows of, e.g. one whose CircleCI project nobody follows.
    pub fn github_add_repo(&self, full_name: &str) {
        self.with_state(|s| {
            let id = 10_000 + s.github_repos.len() as u64 + 500_000;
            s.github_index.insert(full_name.to_string(), id);
            s.github_repos.push((id, full_name.to_string()));
        });
    }

    /// Adds an empty CircleCI project; `followed = false` hides it from v1.1 `/projects`
    /// (and from the pipelines), so only the VCS side can point at it.
    pub fn circleci_add_project(&self, slug: &str, followed: bool) {
        self.with_state(|s| {
            if followed {
                s.circleci_index
                    .insert(slug.to_string(), s.circleci_projects.len());
                s.circleci_projects.push(slug.to_string());
            } else {
                s.circleci_index.insert(slug.to_string(), usize::MAX);
                s.circleci_unfollowed.push(slug.to_string());
            }
        });
    }

    /// CircleCI projects that exist but that the token does not follow (v1.1 `/projects`
    /// omits them; v2 answers for them).
    pub fn circleci_unfollowed(&self) -> Vec<String> {
        self.with_state(|s| s.circleci_unfollowed.clone())
    }

    /// Whether a runner presenting this token (by its SHA-256 fingerprint) would be
    /// accepted: it is a current resource-class token.
    pub fn runner_token_valid(&self, fingerprint: &str) -> bool {
        self.with_state(|s| s.runner_token_valid(fingerprint))
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, f: Faults) {
        *self.shared.faults.lock().expect("faults lock") = f;
    }
    /// Sets the scopes of the accepted GitLab token (default `api`), as
    /// `GET /personal_access_tokens/self` reports them. The API then answers as GitLab
    /// does: `GET /user` needs `api`, `read_api` or `read_user`; other reads need `api`
    /// or `read_api`; writes need `api`; otherwise 403 `insufficient_scope`.
    pub fn set_gitlab_token_scopes(&self, scopes: &[&str]) {
        *self.shared.gitlab_scopes.lock().expect("scopes lock") =
            scopes.iter().map(|s| s.to_string()).collect();
    }
    /// Current fault settings.
    pub fn faults(&self) -> Faults {
        self.shared.faults.lock().expect("faults lock").clone()
    }
    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
