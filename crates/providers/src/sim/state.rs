//! The simulator's state: projects, secrets, keys, CI logs, and the write event log.

use super::SimConfig;
use crate::model::{Flags, Kind, Provider};
use chrono::{DateTime, Duration, TimeZone, Utc};
use firebreak_core::{fingerprint, SecretString};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    /// A new secret or key.
    Create,
    /// A new value for an existing secret.
    Update,
    /// Removed.
    Delete,
}

/// One write, as recorded by the simulator (in order, with a timestamp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Sequence number (0, 1, ...).
    pub seq: u64,
    /// When the write was applied.
    pub at: DateTime<Utc>,
    /// Provider.
    pub provider: Provider,
    /// Kind.
    pub kind: Kind,
    /// Scope (same convention as inventory items).
    pub scope: String,
    /// Name (keys: fingerprint for CircleCI, title for GitHub deploy keys).
    pub name: String,
    /// Create, update or delete.
    pub action: EventAction,
    /// Fingerprint (SHA-256 hex) of the new value / key, when there is one.
    pub fingerprint: Option<String>,
}

/// The current state of one secret or key (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretView {
    /// Provider.
    pub provider: Provider,
    /// Kind.
    pub kind: Kind,
    /// Scope.
    pub scope: String,
    /// Name.
    pub name: String,
    /// SHA-256 hex of the current value (secrets) or the key's fingerprint (keys).
    pub fingerprint: Option<String>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last updated.
    pub updated_at: Option<DateTime<Utc>>,
    /// Flags.
    pub flags: Flags,
}

/// A fake secret planted in a CI log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeakedSecret {
    /// Provider whose logs hold it.
    pub provider: Provider,
    /// Project slug / repository.
    pub scope: String,
    /// Build number / run id.
    pub build: u64,
    /// Scanner rule family (`aws_access_key_id`, `aws_secret_access_key`).
    pub rule: String,
    /// SHA-256 hex of the value.
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
pub(crate) struct SecretRecord {
    pub name: String,
    pub value: Option<SecretString>,
    pub fingerprint: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub flags: Flags,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub id: u64,
    /// Title (GitHub) or fingerprint (CircleCI).
    pub name: String,
    pub fingerprint: String,
    pub public_key: String,
    pub key_type: String,
    pub read_only: bool,
    pub hostname: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct ContextRec {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct GlGroup {
    pub id: u64,
    pub full_path: String,
    pub parent: Option<u64>,
    /// The token user's direct membership (GitLab access level), if any.
    pub access: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct GlProject {
    pub id: u64,
    pub path: String,
    pub group_id: u64,
    /// The token user's direct project membership (GitLab access level), if any.
    pub access: Option<u64>,
}

/// A GitLab credential other than a variable: deploy key, deploy token, access token,
/// trigger token or runner. Only its metadata is served (GitLab never lists these
/// tokens' values; trigger tokens are shown truncated).
#[derive(Debug, Clone)]
pub(crate) struct GlCred {
    pub kind: Kind,
    /// Project path or group full path that owns it.
    pub scope: String,
    pub id: u64,
    /// Title, name or description.
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    /// Kind-specific fields of the API entity (scopes, access_level, username, key...).
    pub extra: serde_json::Value,
}

impl GlCred {
    /// Not revoked and not expired (now): a credential that still works.
    pub(crate) fn live(&self) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| e > Utc::now())
    }

    /// The name an inventory gives it: `LABEL#ID` (labels repeat; ids do not).
    pub(crate) fn item_name(&self) -> String {
        gl_cred_name(&self.label, self.id, self.kind)
    }
}

/// `LABEL#ID`, the inventory name of a GitLab credential (`trigger#ID` / `runner#ID` when
/// it has no description).
pub(crate) fn gl_cred_name(label: &str, id: u64, kind: Kind) -> String {
    let l = if label.trim().is_empty() {
        match kind {
            Kind::TriggerToken => "trigger",
            Kind::Runner => "runner",
            _ => "token",
        }
    } else {
        label
    };
    format!("{l}#{id}")
}

/// A CircleCI credential other than a variable or key: a project API token (scope: the
/// project slug), a runner resource-class token (scope: the resource class) or a
/// project's legacy AWS key pair (scope: the slug; label: the access key id).
#[derive(Debug, Clone)]
pub(crate) struct CcCred {
    pub kind: Kind,
    pub scope: String,
    pub id: String,
    /// Label (project token), nickname (runner token), access key id (AWS key pair).
    pub label: String,
    /// Project token scope (`status`, `view-builds`, `all`).
    pub detail: String,
    pub created_at: DateTime<Utc>,
    pub value: SecretString,
}

impl CcCred {
    /// The name an inventory gives it: `LABEL#ID` (tokens), the access key id redacted
    /// (AWS key pairs).
    pub(crate) fn item_name(&self) -> String {
        match self.kind {
            Kind::AwsKeypair => crate::circleci::aws_keypair_name(&self.label),
            _ => format!("{}#{}", self.label, self.id),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Build {
    pub num: u64,
    pub start_time: DateTime<Utc>,
    pub steps: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct RunRec {
    pub id: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub zip: Vec<u8>,
}

type CollKey = (Provider, Kind, String);

/// Everything the simulator holds. Reach it through [`super::SimHandle::with_state`].
#[derive(Debug, Default)]
pub struct SimState {
    pub(crate) secrets: BTreeMap<CollKey, BTreeMap<String, SecretRecord>>,
    pub(crate) keys: BTreeMap<CollKey, Vec<KeyRecord>>,
    pub(crate) circleci_projects: Vec<String>,
    pub(crate) circleci_index: HashMap<String, usize>,
    pub(crate) contexts: Vec<ContextRec>,
    pub(crate) github_repos: Vec<(u64, String)>,
    pub(crate) github_index: HashMap<String, u64>,
    pub(crate) environments: BTreeMap<String, Vec<String>>,
    pub(crate) gitlab_groups: Vec<GlGroup>,
    pub(crate) gitlab_projects: Vec<GlProject>,
    pub(crate) gitlab_creds: Vec<GlCred>,
    pub(crate) builds: BTreeMap<String, Vec<Build>>,
    /// CircleCI project API tokens, runner tokens and legacy AWS key pairs.
    pub(crate) circleci_creds: Vec<CcCred>,
    /// CircleCI projects that exist (v2 answers for them) but that the token does not
    /// follow: v1.1 `/projects` omits them.
    pub(crate) circleci_unfollowed: Vec<String>,
    /// CircleCI projects connected through GitLab: slug → GitLab project path.
    pub(crate) circleci_gitlab: HashMap<String, String>,
    /// Project slugs of the organisation's pipelines, newest first (v2 `GET /pipeline`);
    /// may name a project that no longer exists.
    pub(crate) circleci_pipelines: Vec<String>,
    /// Runner resource classes: (id, `namespace/name`, description).
    pub(crate) runner_classes: Vec<(String, String, String)>,
    pub(crate) runs: BTreeMap<String, Vec<RunRec>>,
    /// Fake secrets planted in CI logs.
    pub leaked: Vec<LeakedSecret>,
    /// Every write, in order.
    pub events: Vec<Event>,
    /// Requests received per provider (index = `Provider as usize`).
    pub requests: [u64; 3],
    /// Rate-limit replies per provider.
    pub rate_limited: [u64; 3],
    /// Fingerprints of the tokens revoked through the simulated revocation endpoints
    /// (GitHub's credential revocation API, GitLab's self-revocation, npm token
    /// deletion): refused from then on.
    pub revoked: std::collections::HashSet<String>,
    pub(crate) next_id: u64,
    pub(crate) seed: u64,
}

/// Names of the seeded GitHub Actions variables.
const VAR_NAMES: &[&str] = &[
    "DEPLOY_REGION",
    "APP_ENV",
    "DOCKER_IMAGE",
    "SENTRY_DSN",
    "LOG_LEVEL",
    "CDN_HOST",
];

const ENV_NAMES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "NPM_TOKEN",
    "PYPI_API_TOKEN",
    "DOCKERHUB_PASSWORD",
    "SLACK_WEBHOOK_URL",
    "CODECOV_TOKEN",
    "ANACONDA_TOKEN",
    "SENTRY_AUTH_TOKEN",
    "GPG_PRIVATE_KEY",
];

fn rand_str(rng: &mut StdRng, n: usize, alphabet: &[u8]) -> String {
    (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64ISH: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn rand_time(rng: &mut StdRng) -> DateTime<Utc> {
    let start = Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap();
    start + Duration::seconds(rng.gen_range(0..(3 * 365 * 86400 + 300 * 86400)))
}

/// An SSH-style fingerprint (`aa:bb:...`, 16 bytes) of some bytes.
pub(crate) fn colon_fp(data: &[u8]) -> String {
    let h = fingerprint(data);
    h.as_bytes()
        .chunks(2)
        .take(16)
        .map(|c| std::str::from_utf8(c).unwrap_or("00"))
        .collect::<Vec<_>>()
        .join(":")
}

impl SimState {
    /// Seeds a state from the configuration (deterministic for a seed).
    pub fn seeded(cfg: &SimConfig) -> SimState {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut s = SimState {
            seed: cfg.seed,
            next_id: 1_000_000,
            ..Default::default()
        };
        let n = cfg.projects;
        let org = &cfg.org;
        let mut checkout_pks: Vec<String> = Vec::with_capacity(n);
        // ---- CircleCI
        for i in 0..n {
            let slug = format!("gh/{org}/repo-{i:05}");
            s.circleci_index.insert(slug.clone(), i);
            s.circleci_projects.push(slug.clone());
            for name in pick_names(&mut rng, 0, 4) {
                s.seed_secret(
                    &mut rng,
                    Provider::Circleci,
                    Kind::EnvVar,
                    &slug,
                    name,
                    Flags::default(),
                    true,
                );
            }
            let pk = format!("ssh-ed25519 {} sim", rand_str(&mut rng, 43, B64ISH));
            checkout_pks.push(pk.clone());
            let t = rand_time(&mut rng);
            s.add_key(
                Provider::Circleci,
                Kind::CheckoutKey,
                &slug,
                colon_fp(pk.as_bytes()),
                pk,
                "deploy-key",
                "",
                true,
                t,
            );
            if rng.gen_bool(0.1) {
                let pk = rand_str(&mut rng, 64, ALNUM);
                let t = rand_time(&mut rng);
                s.add_key(
                    Provider::Circleci,
                    Kind::SshKey,
                    &slug,
                    colon_fp(pk.as_bytes()),
                    String::new(),
                    "ssh-key",
                    "deploy.example.com",
                    false,
                    t,
                );
            }
        }
        for c in 0..(n / 50).max(1) {
            let id = uuid_like(&mut rng);
            let name = format!("ctx-{c:03}");
            let created = rand_time(&mut rng);
            s.contexts.push(ContextRec {
                id,
                name: name.clone(),
                created_at: created,
            });
            for var in pick_names(&mut rng, 1, 5) {
                s.seed_secret(
                    &mut rng,
                    Provider::Circleci,
                    Kind::ContextVar,
                    &name,
                    var,
                    Flags::default(),
                    false,
                );
            }
        }
        // ---- GitHub
        for i in 0..n {
            let repo = format!("{org}/repo-{i:05}");
            let id = 10_000 + i as u64;
            s.github_index.insert(repo.clone(), id);
            s.github_repos.push((id, repo.clone()));
            for name in pick_names(&mut rng, 0, 4) {
                s.seed_secret(
                    &mut rng,
                    Provider::Github,
                    Kind::ActionsSecret,
                    &repo,
                    name,
                    Flags::default(),
                    false,
                );
            }
            if rng.gen_bool(0.2) {
                let envs = vec!["production".to_string(), "staging".to_string()];
                for e in &envs {
                    let scope = format!("{repo}:{e}");
                    for name in pick_names(&mut rng, 1, 2) {
                        s.seed_secret(
                            &mut rng,
                            Provider::Github,
                            Kind::EnvironmentSecret,
                            &scope,
                            name,
                            Flags::default(),
                            false,
                        );
                    }
                }
                s.environments.insert(repo.clone(), envs);
            }
            if rng.gen_bool(0.1) {
                s.seed_secret(
                    &mut rng,
                    Provider::Github,
                    Kind::DependabotSecret,
                    &repo,
                    "NPM_TOKEN",
                    Flags::default(),
                    false,
                );
            }
            if rng.gen_bool(0.5) {
                let pk = format!("ssh-ed25519 {} sim", rand_str(&mut rng, 43, B64ISH));
                let t = rand_time(&mut rng);
                s.add_key(
                    Provider::Github,
                    Kind::DeployKey,
                    &repo,
                    "deploy".into(),
                    pk,
                    "deploy-key",
                    "",
                    rng.gen_bool(0.5),
                    t,
                );
            }
        }
        for (name, vis) in [
            ("ORG_NPM_TOKEN", "all"),
            ("ORG_PYPI_TOKEN", "private"),
            ("ORG_SLACK_WEBHOOK", "selected"),
            ("ORG_DOCKERHUB_TOKEN", "all"),
            ("ORG_SIGNING_KEY", "private"),
        ] {
            let flags = Flags {
                visibility: Some(vis.into()),
                ..Default::default()
            };
            s.seed_secret(
                &mut rng,
                Provider::Github,
                Kind::OrgSecret,
                org,
                name,
                flags,
                false,
            );
        }
        let flags = Flags {
            visibility: Some("private".into()),
            ..Default::default()
        };
        s.seed_secret(
            &mut rng,
            Provider::Github,
            Kind::DependabotSecret,
            org,
            "ORG_REGISTRY_TOKEN",
            flags,
            false,
        );
        // ---- GitLab
        let g = &cfg.gitlab_group;
        // the token user: Developer of the top group (inherited below), Maintainer of
        // every even subgroup; Maintainer of every 4th project, Owner of the next one
        s.gitlab_groups.push(GlGroup {
            id: 1,
            full_path: g.clone(),
            parent: None,
            access: Some(30),
        });
        let subgroups = (n / 100).clamp(1, 50);
        for k in 0..subgroups {
            s.gitlab_groups.push(GlGroup {
                id: 2 + k as u64,
                full_path: format!("{g}/sub-{k:02}"),
                parent: Some(1),
                access: k.is_multiple_of(2).then_some(40),
            });
        }
        for gr in s.gitlab_groups.clone() {
            for name in pick_names(&mut rng, 1, 2) {
                let flags = gl_flags(&mut rng);
                s.seed_secret(
                    &mut rng,
                    Provider::Gitlab,
                    Kind::GroupVariable,
                    &gr.full_path,
                    name,
                    flags,
                    false,
                );
            }
        }
        for i in 0..n {
            let gidx = if i % 3 == 0 { 0 } else { 1 + i % subgroups };
            let gr = s.gitlab_groups[gidx].clone();
            let path = format!("{}/proj-{i:05}", gr.full_path);
            s.gitlab_projects.push(GlProject {
                id: 100 + i as u64,
                path: path.clone(),
                group_id: gr.id,
                access: match i % 4 {
                    0 => Some(40),
                    1 => Some(50),
                    _ => None,
                },
            });
            for name in pick_names(&mut rng, 0, 4) {
                let flags = gl_flags(&mut rng);
                s.seed_secret(
                    &mut rng,
                    Provider::Gitlab,
                    Kind::ProjectVariable,
                    &path,
                    name,
                    flags,
                    false,
                );
            }
        }
        for name in ["INSTANCE_REGISTRY_TOKEN", "INSTANCE_SMTP_PASSWORD"] {
            let flags = Flags {
                protected: Some(false),
                masked: Some(true),
                ..Default::default()
            };
            s.seed_secret(
                &mut rng,
                Provider::Gitlab,
                Kind::InstanceVariable,
                "instance",
                name,
                flags,
                false,
            );
        }
        // ---- CI logs with planted secrets
        let base = Utc.with_ymd_and_hms(2022, 12, 20, 12, 0, 0).unwrap();
        for i in 0..cfg.log_projects.min(n) {
            let slug = s.circleci_projects[i].clone();
            let mut builds = Vec::new();
            for b in 1..=3u64 {
                let start = base + Duration::days(b as i64 * 5 + i as i64);
                let mut steps = vec![(
                    "Spin up environment".to_string(),
                    b"Build-agent version 1.0.0\nStarting container cimg/base:stable\n".to_vec(),
                )];
                let mut test_log = b"$ make test\nok  \tall tests passed\n".to_vec();
                if b == 2 {
                    let (kid, sk) = aws_pair(&mut rng);
                    test_log.extend_from_slice(
                        format!("+ export AWS_ACCESS_KEY_ID={kid}\n+ export AWS_SECRET_ACCESS_KEY={sk}\n")
                            .as_bytes(),
                    );
                    s.leak(Provider::Circleci, &slug, b, &kid, &sk);
                }
                steps.push(("Run tests".to_string(), test_log));
                builds.push(Build {
                    num: b,
                    start_time: start,
                    steps,
                });
            }
            builds.reverse(); // newest first, as v1.1 lists them
            s.builds.insert(slug, builds);
            let repo = s.github_repos[i].1.clone();
            let mut runs = Vec::new();
            for k in 1..=2u64 {
                let id = 90_000 + (i as u64) * 10 + k;
                let created = base + Duration::days(k as i64 * 7 + i as i64);
                let mut files: Vec<(String, Vec<u8>)> = vec![(
                    "build/1_Set up job.txt".into(),
                    b"2022-12-27T00:00:00Z Current runner version: '2.300.0'\n".to_vec(),
                )];
                let mut t = b"2022-12-27T00:00:01Z Run ./deploy.sh\n".to_vec();
                if k == 2 {
                    let (kid, sk) = aws_pair(&mut rng);
                    t.extend_from_slice(
                        format!("aws_access_key_id = {kid}\naws_secret_access_key = {sk}\n").as_bytes(),
                    );
                    s.leak(Provider::Github, &repo, id, &kid, &sk);
                }
                files.push(("build/2_Deploy.txt".into(), t));
                runs.push(RunRec {
                    id,
                    name: "CI".into(),
                    created_at: created,
                    zip: make_zip(&files),
                });
            }
            runs.reverse();
            s.runs.insert(repo, runs);
        }
        // The kinds added later (GitHub variables and Codespaces secrets, GitLab deploy
        // keys, tokens and runners) draw from their own RNG, so that the data seeded above
        // is the same as before they existed.
        s.seed_more_kinds(cfg);
        s.seed_circleci_kinds(cfg, &checkout_pks);
        s.seed_gitlab_linked(cfg);
        s
    }

    /// CircleCI projects connected through GitLab (`cfg.gitlab_linked`): opaque
    /// `circleci/ORG-ID/PROJECT-ID` slugs, like CircleCI gives GitLab projects, each with a
    /// variable and a checkout key whose public key is its GitLab project's deploy key.
    fn seed_gitlab_linked(&mut self, cfg: &SimConfig) {
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x0091_7a6b);
        for k in 0..cfg.gitlab_linked.min(self.gitlab_projects.len()) {
            let p = self.gitlab_projects[k].clone();
            let slug = format!(
                "circleci/5e1f0d6a-0000-4000-a000-000000000001/{:08x}-7a6b-4000-a000-{:012x}",
                k + 1,
                p.id
            );
            self.circleci_index.insert(slug.clone(), usize::MAX);
            self.circleci_gitlab.insert(slug.clone(), p.path.clone());
            for name in pick_names(&mut rng, 1, 2) {
                self.seed_secret(
                    &mut rng,
                    Provider::Circleci,
                    Kind::EnvVar,
                    &slug,
                    name,
                    Flags::default(),
                    true,
                );
            }
            let pk = format!("ssh-ed25519 {} sim", rand_str(&mut rng, 43, B64ISH));
            let t = rand_time(&mut rng);
            self.add_key(
                Provider::Circleci,
                Kind::CheckoutKey,
                &slug,
                colon_fp(pk.as_bytes()),
                pk.clone(),
                "deploy-key",
                "",
                true,
                t,
            );
            self.next_id += 1;
            let fp256 = crate::model::openssh_sha256(&pk).unwrap_or_default();
            self.gitlab_creds.push(GlCred {
                kind: Kind::ProjectDeployKey,
                scope: p.path.clone(),
                id: self.next_id,
                label: "circleci".into(),
                created_at: t,
                expires_at: None,
                last_used_at: None,
                revoked: false,
                extra: serde_json::json!({"key": pk, "fingerprint": colon_fp(pk.as_bytes()), "fingerprint_sha256": fp256, "can_push": false, "usage_type": "auth"}),
            });
        }
    }

    /// CircleCI kinds added with issue 22 (project API tokens, runner tokens, legacy AWS
    /// key pairs, projects the token does not follow, pipelines), from a third RNG so
    /// that everything seeded before is unchanged.
    fn seed_circleci_kinds(&mut self, cfg: &SimConfig, checkout_pks: &[String]) {
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x00c1_2c1e);
        let org = cfg.org.clone();
        let n = cfg.projects;
        let mut next = 7_000u64;
        let mut id = |rng: &mut StdRng| {
            next += 1;
            format!("{next:04}{}", rand_str(rng, 12, b"0123456789abcdef"))
        };
        // projects that exist but are not followed: found only through pipelines (or the
        // VCS side), each with the same kinds of secret as a followed one
        for k in 0..(n / 20).max(1) {
            let slug = format!("gh/{org}/unfollowed-{k:03}");
            self.circleci_index.insert(slug.clone(), usize::MAX);
            self.circleci_unfollowed.push(slug.clone());
            for name in pick_names(&mut rng, 1, 3) {
                self.seed_secret(
                    &mut rng,
                    Provider::Circleci,
                    Kind::EnvVar,
                    &slug,
                    name,
                    Flags::default(),
                    true,
                );
            }
            let pk = format!("ssh-ed25519 {} sim", rand_str(&mut rng, 43, B64ISH));
            let t = rand_time(&mut rng);
            self.add_key(
                Provider::Circleci,
                Kind::CheckoutKey,
                &slug,
                colon_fp(pk.as_bytes()),
                pk,
                "deploy-key",
                "",
                true,
                t,
            );
        }
        // the pipelines list the unfollowed projects and every third followed one
        let mut pipes: Vec<String> = self.circleci_unfollowed.clone();
        pipes.extend(self.circleci_projects.iter().step_by(3).cloned());
        self.circleci_pipelines = pipes;
        let all: Vec<String> = self
            .circleci_projects
            .iter()
            .chain(self.circleci_unfollowed.iter())
            .cloned()
            .collect();
        // (every organisation has at least one of each: the first projects hold them)
        for (i, slug) in all.iter().enumerate() {
            if rng.gen_bool(0.25) || i == 0 {
                let (label, scope) = [
                    ("status badge", "status"),
                    ("deploy bot", "all"),
                    ("dashboard", "view-builds"),
                ][rng.gen_range(0..3)];
                let c = rand_time(&mut rng);
                let i = id(&mut rng);
                self.circleci_creds.push(CcCred {
                    kind: Kind::ProjectApiToken,
                    scope: slug.clone(),
                    id: i,
                    label: label.into(),
                    detail: scope.into(),
                    created_at: c,
                    value: SecretString::new(rand_str(&mut rng, 40, b"0123456789abcdef")),
                });
            }
            if rng.gen_bool(0.1) || i == 1 {
                let (kid, sk) = aws_pair(&mut rng);
                let c = rand_time(&mut rng);
                let i = id(&mut rng);
                self.circleci_creds.push(CcCred {
                    kind: Kind::AwsKeypair,
                    scope: slug.clone(),
                    id: i,
                    label: kid,
                    detail: String::new(),
                    created_at: c,
                    value: SecretString::new(sk),
                });
            }
        }
        // self-hosted runners: two resource classes in the organisation's namespace
        for (k, (rc, desc)) in [("linux-large", "build machines"), ("macos", "release signing")]
            .iter()
            .enumerate()
        {
            let class = format!("{org}/{rc}");
            let rid = id(&mut rng);
            self.runner_classes.push((rid, class.clone(), desc.to_string()));
            for nick in ["default", "fleet-a"].iter().take(1 + (k == 0) as usize) {
                let c = rand_time(&mut rng);
                let i = id(&mut rng);
                self.circleci_creds.push(CcCred {
                    kind: Kind::RunnerToken,
                    scope: class.clone(),
                    id: i,
                    label: nick.to_string(),
                    detail: String::new(),
                    created_at: c,
                    value: SecretString::new(rand_str(&mut rng, 80, b"0123456789abcdef")),
                });
            }
        }
        // CircleCI's deploy-key checkout key IS the repository's deploy key: where the
        // GitHub repository has a deploy key, it holds the checkout key's public key
        for (i, pk) in checkout_pks.iter().enumerate() {
            let Some((_, repo)) = self.github_repos.get(i).cloned() else {
                continue;
            };
            if let Some(keys) = self.keys.get_mut(&(Provider::Github, Kind::DeployKey, repo)) {
                for k in keys.iter_mut() {
                    k.public_key = pk.clone();
                    k.fingerprint = colon_fp(pk.as_bytes());
                }
            }
        }
    }

    /// Creates a runner token (the runner API's `POST /runner/token`).
    pub(crate) fn create_runner_token(&mut self, class: &str, nickname: &str, value: SecretString) -> CcCred {
        self.next_id += 1;
        let now = Utc::now();
        let c = CcCred {
            kind: Kind::RunnerToken,
            scope: class.to_string(),
            id: format!("rt-{}", self.next_id),
            label: nickname.to_string(),
            detail: String::new(),
            created_at: now,
            value,
        };
        self.circleci_creds.push(c.clone());
        let fp = c.value.fingerprint();
        self.record(
            Provider::Circleci,
            Kind::RunnerToken,
            class,
            &c.item_name(),
            EventAction::Create,
            Some(fp),
            now,
        );
        c
    }

    /// Creates a project API token (v1.1) for project `slug`.
    pub(crate) fn create_project_token(
        &mut self,
        slug: &str,
        label: &str,
        scope: &str,
        value: SecretString,
    ) -> CcCred {
        self.next_id += 1;
        let now = Utc::now();
        let c = CcCred {
            kind: Kind::ProjectApiToken,
            scope: slug.to_string(),
            id: format!("pt-{}", self.next_id),
            label: label.to_string(),
            detail: scope.to_string(),
            created_at: now,
            value,
        };
        self.circleci_creds.push(c.clone());
        let fp = c.value.fingerprint();
        self.record(
            Provider::Circleci,
            Kind::ProjectApiToken,
            slug,
            &c.item_name(),
            EventAction::Create,
            Some(fp),
            now,
        );
        c
    }

    /// Deletes a CircleCI credential of `kind` by id; true when it existed.
    pub(crate) fn delete_cc_cred(&mut self, kind: Kind, id: &str) -> bool {
        let Some(pos) = self
            .circleci_creds
            .iter()
            .position(|c| c.kind == kind && c.id == id)
        else {
            return false;
        };
        let c = self.circleci_creds.remove(pos);
        self.record(
            Provider::Circleci,
            kind,
            &c.scope,
            &c.item_name(),
            EventAction::Delete,
            None,
            Utc::now(),
        );
        true
    }

    /// Whether a runner token (by its value's fingerprint) is currently valid: what a
    /// runner presenting it would be told.
    pub fn runner_token_valid(&self, fingerprint: &str) -> bool {
        self.circleci_creds
            .iter()
            .any(|c| c.kind == Kind::RunnerToken && c.value.fingerprint() == fingerprint)
    }

    fn seed_more_kinds(&mut self, cfg: &SimConfig) {
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x6b1d_5eed);
        let s = self;
        let org = cfg.org.clone();
        // ---- GitHub
        for (_, repo) in s.github_repos.clone() {
            for name in pick_from(&mut rng, VAR_NAMES, 0, 3) {
                s.seed_secret(
                    &mut rng,
                    Provider::Github,
                    Kind::ActionsVariable,
                    &repo,
                    name,
                    Flags::default(),
                    false,
                );
            }
            for e in s.environments.get(&repo).cloned().unwrap_or_default() {
                let scope = format!("{repo}:{e}");
                for name in pick_from(&mut rng, VAR_NAMES, 0, 2) {
                    s.seed_secret(
                        &mut rng,
                        Provider::Github,
                        Kind::EnvironmentVariable,
                        &scope,
                        name,
                        Flags::default(),
                        false,
                    );
                }
            }
            if rng.gen_bool(0.1) {
                s.seed_secret(
                    &mut rng,
                    Provider::Github,
                    Kind::CodespacesSecret,
                    &repo,
                    "DEV_DATABASE_URL",
                    Flags::default(),
                    false,
                );
            }
        }
        for (name, vis) in [
            ("ORG_DEFAULT_REGION", "all"),
            ("ORG_ARTIFACT_BUCKET", "private"),
            ("ORG_SENTRY_DSN", "selected"),
        ] {
            let flags = Flags {
                visibility: Some(vis.into()),
                ..Default::default()
            };
            s.seed_secret(
                &mut rng,
                Provider::Github,
                Kind::OrgVariable,
                &org,
                name,
                flags,
                false,
            );
        }
        for (name, vis) in [
            ("CODESPACES_NPM_TOKEN", "all"),
            ("CODESPACES_AWS_PROFILE", "selected"),
        ] {
            let flags = Flags {
                visibility: Some(vis.into()),
                ..Default::default()
            };
            s.seed_secret(
                &mut rng,
                Provider::Github,
                Kind::CodespacesSecret,
                &org,
                name,
                flags,
                false,
            );
        }
        // ---- GitLab
        let mut id = 5_000_000u64;
        let mut next = || {
            id += 1;
            id
        };
        let future = |rng: &mut StdRng| {
            Utc.with_ymd_and_hms(2035, 1, 1, 0, 0, 0).unwrap() + Duration::days(rng.gen_range(0..700))
        };
        for p in s.gitlab_projects.clone() {
            let path = p.path.clone();
            if rng.gen_bool(0.3) {
                let pk = format!("ssh-ed25519 {} sim", rand_str(&mut rng, 43, B64ISH));
                let can_push = rng.gen_bool(0.3);
                let fp = colon_fp(pk.as_bytes());
                let fp256 = format!("SHA256:{}", &fingerprint(pk.as_bytes())[..43]);
                let c = rand_time(&mut rng);
                let exp = rng.gen_bool(0.3).then(|| future(&mut rng));
                s.gitlab_creds.push(GlCred {
                    kind: Kind::ProjectDeployKey, scope: path.clone(), id: next(), label: "ci-deploy".into(),
                    created_at: c, expires_at: exp, last_used_at: None, revoked: false,
                    extra: serde_json::json!({"key": pk, "fingerprint": fp, "fingerprint_sha256": fp256, "can_push": can_push, "usage_type": "auth"}),
                });
            }
            if rng.gen_bool(0.2) {
                let c = rand_time(&mut rng);
                let i = next();
                s.gitlab_creds.push(GlCred {
                    kind: Kind::DeployToken, scope: path.clone(), id: i, label: "registry-pull".into(),
                    created_at: c, expires_at: rng.gen_bool(0.5).then(|| future(&mut rng)), last_used_at: None, revoked: false,
                    extra: serde_json::json!({"username": format!("gitlab+deploy-token-{i}"), "scopes": ["read_registry", "read_repository"]}),
                });
            }
            if rng.gen_bool(0.25) {
                let c = rand_time(&mut rng);
                let used = c + Duration::days(rng.gen_range(1..400));
                s.gitlab_creds.push(GlCred {
                    kind: Kind::ProjectAccessToken, scope: path.clone(), id: next(), label: "release-bot".into(),
                    created_at: c, expires_at: Some(future(&mut rng)), last_used_at: Some(used), revoked: false,
                    extra: serde_json::json!({"scopes": ["api", "write_repository"], "access_level": 40, "user_id": 9000 + p.id}),
                });
                if rng.gen_bool(0.3) {
                    // an old, revoked one beside it: listed by the API, not a live credential
                    s.gitlab_creds.push(GlCred {
                        kind: Kind::ProjectAccessToken, scope: path.clone(), id: next(), label: "release-bot".into(),
                        created_at: c - Duration::days(365), expires_at: Some(c), last_used_at: None, revoked: true,
                        extra: serde_json::json!({"scopes": ["api"], "access_level": 40, "user_id": 9500 + p.id}),
                    });
                }
            }
            if rng.gen_bool(0.2) {
                let c = rand_time(&mut rng);
                s.gitlab_creds.push(GlCred {
                    kind: Kind::TriggerToken, scope: path.clone(), id: next(), label: "nightly downstream".into(),
                    created_at: c, expires_at: None, last_used_at: Some(c + Duration::days(rng.gen_range(1..300))), revoked: false,
                    // owned by another user: GitLab shows the first 4 characters only
                    extra: serde_json::json!({"token": format!("glpt-{}", rand_str(&mut rng, 20, ALNUM))[..4].to_string()}),
                });
            }
            if rng.gen_bool(0.1) {
                let c = rand_time(&mut rng);
                s.gitlab_creds.push(GlCred {
                    kind: Kind::Runner, scope: path.clone(), id: next(), label: format!("{}-runner", p.path.rsplit('/').next().unwrap_or("p")),
                    created_at: c, expires_at: None, last_used_at: None, revoked: false,
                    extra: serde_json::json!({"runner_type": "project_type", "paused": false, "status": "online", "ip_address": "10.0.0.7"}),
                });
            }
        }
        for (k, g) in s.gitlab_groups.clone().iter().enumerate() {
            if k % 2 == 0 {
                let c = rand_time(&mut rng);
                let i = next();
                s.gitlab_creds.push(GlCred {
                    kind: Kind::DeployToken, scope: g.full_path.clone(), id: i, label: "group-registry".into(),
                    created_at: c, expires_at: None, last_used_at: None, revoked: false,
                    extra: serde_json::json!({"username": format!("gitlab+deploy-token-{i}"), "scopes": ["read_package_registry"]}),
                });
            }
            if k == 0 || rng.gen_bool(0.3) {
                let c = rand_time(&mut rng);
                s.gitlab_creds.push(GlCred {
                    kind: Kind::GroupAccessToken, scope: g.full_path.clone(), id: next(), label: "group-automation".into(),
                    created_at: c, expires_at: Some(future(&mut rng)), last_used_at: Some(c + Duration::days(rng.gen_range(1..200))), revoked: false,
                    extra: serde_json::json!({"scopes": ["read_api"], "access_level": 30, "user_id": 8000 + g.id}),
                });
            }
            if k == 0 || k % 3 == 1 {
                let c = rand_time(&mut rng);
                s.gitlab_creds.push(GlCred {
                    kind: Kind::Runner, scope: g.full_path.clone(), id: next(), label: format!("{}-fleet", g.full_path.rsplit('/').next().unwrap_or("g")),
                    created_at: c, expires_at: None, last_used_at: None, revoked: false,
                    extra: serde_json::json!({"runner_type": "group_type", "paused": k % 2 == 1, "status": "online", "ip_address": "10.0.1.2"}),
                });
            }
        }
    }

    fn leak(&mut self, p: Provider, scope: &str, build: u64, kid: &str, sk: &str) {
        self.leaked.push(LeakedSecret {
            provider: p,
            scope: scope.into(),
            build,
            rule: "aws_access_key_id".into(),
            fingerprint: fingerprint(kid.as_bytes()),
        });
        self.leaked.push(LeakedSecret {
            provider: p,
            scope: scope.into(),
            build,
            rule: "aws_secret_access_key".into(),
            fingerprint: fingerprint(sk.as_bytes()),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn seed_secret(
        &mut self,
        rng: &mut StdRng,
        p: Provider,
        k: Kind,
        scope: &str,
        name: &str,
        flags: Flags,
        created_only: bool,
    ) {
        let value = format!("sim{}", rand_str(rng, 29, ALNUM));
        let created = rand_time(rng);
        let updated = if created_only {
            created
        } else {
            created + Duration::seconds(rng.gen_range(0..200 * 86400))
        };
        let key = map_key(name, &flags);
        self.secrets.entry((p, k, scope.to_string())).or_default().insert(
            key,
            SecretRecord {
                name: name.to_string(),
                fingerprint: Some(fingerprint(value.as_bytes())),
                value: Some(SecretString::new(value)),
                created_at: created,
                updated_at: updated,
                flags,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_key(
        &mut self,
        p: Provider,
        k: Kind,
        scope: &str,
        name: String,
        public_key: String,
        key_type: &str,
        hostname: &str,
        read_only: bool,
        t: DateTime<Utc>,
    ) -> KeyRecord {
        self.next_id += 1;
        let fp = if public_key.is_empty() {
            name.clone()
        } else {
            colon_fp(public_key.as_bytes())
        };
        let rec = KeyRecord {
            id: self.next_id,
            name: if k == Kind::DeployKey { name } else { fp.clone() },
            fingerprint: fp,
            public_key,
            key_type: key_type.into(),
            read_only,
            hostname: hostname.into(),
            created_at: t,
        };
        self.keys
            .entry((p, k, scope.to_string()))
            .or_default()
            .push(rec.clone());
        rec
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        p: Provider,
        k: Kind,
        scope: &str,
        name: &str,
        action: EventAction,
        fp: Option<String>,
        at: DateTime<Utc>,
    ) {
        let seq = self.events.len() as u64;
        self.events.push(Event {
            seq,
            at,
            provider: p,
            kind: k,
            scope: scope.into(),
            name: name.into(),
            action,
            fingerprint: fp,
        });
    }

    /// Writes a secret value (create or update), records the event, returns the record.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_secret(
        &mut self,
        p: Provider,
        k: Kind,
        scope: &str,
        name: &str,
        value: Option<SecretString>,
        flags: Flags,
        replace_created: bool,
    ) -> (SecretRecord, bool) {
        let now = Utc::now();
        let key = map_key(name, &flags);
        let coll = self.secrets.entry((p, k, scope.to_string())).or_default();
        let fp = value.as_ref().map(|v| v.fingerprint());
        let created;
        let rec = match coll.get_mut(&key) {
            Some(r) => {
                created = false;
                r.value = value;
                r.fingerprint = fp.clone();
                r.updated_at = now;
                if replace_created {
                    r.created_at = now;
                }
                r.flags = merge_flags(&r.flags, &flags);
                r.clone()
            }
            None => {
                created = true;
                let r = SecretRecord {
                    name: name.into(),
                    value,
                    fingerprint: fp.clone(),
                    created_at: now,
                    updated_at: now,
                    flags,
                };
                coll.insert(key, r.clone());
                r
            }
        };
        let action = if created {
            EventAction::Create
        } else {
            EventAction::Update
        };
        self.record(p, k, scope, name, action, fp, now);
        (rec, created)
    }

    /// Deletes a secret; true when it existed.
    pub(crate) fn delete_secret(&mut self, p: Provider, k: Kind, scope: &str, key: &str) -> bool {
        let Some(coll) = self.secrets.get_mut(&(p, k, scope.to_string())) else {
            return false;
        };
        match coll.remove(key) {
            Some(r) => {
                self.record(p, k, scope, &r.name, EventAction::Delete, None, Utc::now());
                true
            }
            None => false,
        }
    }

    pub(crate) fn list_secrets(&self, p: Provider, k: Kind, scope: &str) -> Vec<SecretRecord> {
        self.secrets
            .get(&(p, k, scope.to_string()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn get_secret(&self, p: Provider, k: Kind, scope: &str, key: &str) -> Option<SecretRecord> {
        self.secrets.get(&(p, k, scope.to_string()))?.get(key).cloned()
    }

    pub(crate) fn list_keys(&self, p: Provider, k: Kind, scope: &str) -> Vec<KeyRecord> {
        self.keys
            .get(&(p, k, scope.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn remove_key(
        &mut self,
        p: Provider,
        k: Kind,
        scope: &str,
        pred: impl Fn(&KeyRecord) -> bool,
    ) -> bool {
        let Some(v) = self.keys.get_mut(&(p, k, scope.to_string())) else {
            return false;
        };
        let Some(pos) = v.iter().position(pred) else {
            return false;
        };
        let r = v.remove(pos);
        self.record(
            p,
            k,
            scope,
            &r.name,
            EventAction::Delete,
            Some(r.fingerprint),
            Utc::now(),
        );
        true
    }

    /// The current view of a secret or key (GitLab: `name` may be `KEY@env_scope`).
    pub fn secret_view(&self, p: Provider, k: Kind, scope: &str, name: &str) -> Option<SecretView> {
        if let Some(r) = self.get_secret(p, k, scope, name) {
            return Some(view(p, k, scope, &r));
        }
        self.list_keys(p, k, scope)
            .into_iter()
            .find(|r| r.name == name || r.fingerprint == name)
            .map(|r| key_view(p, k, scope, &r))
    }

    pub(crate) fn secret_value(&self, p: Provider, k: Kind, scope: &str, name: &str) -> Option<SecretString> {
        self.get_secret(p, k, scope, name)?.value
    }

    /// Every secret and key.
    pub fn all_views(&self) -> Vec<SecretView> {
        let mut out = Vec::new();
        for ((p, k, scope), m) in &self.secrets {
            for r in m.values() {
                out.push(view(*p, *k, scope, r));
            }
        }
        for ((p, k, scope), v) in &self.keys {
            for r in v {
                out.push(key_view(*p, *k, scope, r));
            }
        }
        for c in &self.circleci_creds {
            out.push(SecretView {
                provider: Provider::Circleci,
                kind: c.kind,
                scope: c.scope.clone(),
                name: c.item_name(),
                fingerprint: Some(c.value.fingerprint()),
                created_at: Some(c.created_at),
                updated_at: None,
                flags: Flags::default(),
            });
        }
        for c in self.gitlab_creds.iter().filter(|c| c.live()) {
            out.push(SecretView {
                provider: Provider::Gitlab,
                kind: c.kind,
                scope: c.scope.clone(),
                name: c.item_name(),
                fingerprint: None,
                created_at: Some(c.created_at),
                updated_at: None,
                flags: Flags {
                    expires_at: c.expires_at,
                    last_used_at: c.last_used_at,
                    ..Default::default()
                },
            });
        }
        out
    }

    /// GitHub: the X25519 secret key of a secrets scope (derived from the seed and scope).
    pub(crate) fn sealing_key(&self, scope_id: &str) -> (String, crypto_box::SecretKey) {
        let h = fingerprint(format!("{}\0{}", self.seed, scope_id).as_bytes());
        let bytes: [u8; 32] = hex::decode(&h).expect("hex").try_into().expect("32 bytes");
        let key_id = format!("{}", u64::from_str_radix(&h[..12], 16).unwrap_or(1));
        (key_id, crypto_box::SecretKey::from(bytes))
    }
}

pub(crate) fn map_key(name: &str, flags: &Flags) -> String {
    match flags.environment_scope.as_deref() {
        Some(e) if e != "*" => format!("{name}@{e}"),
        _ => name.to_string(),
    }
}

fn merge_flags(old: &Flags, new: &Flags) -> Flags {
    Flags {
        visibility: new.visibility.clone().or_else(|| old.visibility.clone()),
        protected: new.protected.or(old.protected),
        masked: new.masked.or(old.masked),
        environment_scope: new
            .environment_scope
            .clone()
            .or_else(|| old.environment_scope.clone()),
        detail: new.detail.clone().or_else(|| old.detail.clone()),
        last_used_at: new.last_used_at.or(old.last_used_at),
        expires_at: new.expires_at.or(old.expires_at),
        masked_tail: None,
        fingerprint_sha256: new
            .fingerprint_sha256
            .clone()
            .or_else(|| old.fingerprint_sha256.clone()),
        same_key_as: new.same_key_as.clone().or_else(|| old.same_key_as.clone()),
        tail_fingerprint: None,
        value: None,
        value_fingerprint: None,
    }
}

fn view(p: Provider, k: Kind, scope: &str, r: &SecretRecord) -> SecretView {
    SecretView {
        provider: p,
        kind: k,
        scope: scope.into(),
        name: r.name.clone(),
        fingerprint: r.fingerprint.clone(),
        created_at: Some(r.created_at),
        updated_at: Some(r.updated_at),
        flags: r.flags.clone(),
    }
}

fn key_view(p: Provider, k: Kind, scope: &str, r: &KeyRecord) -> SecretView {
    SecretView {
        provider: p,
        kind: k,
        scope: scope.into(),
        name: r.name.clone(),
        fingerprint: Some(r.fingerprint.clone()),
        created_at: Some(r.created_at),
        updated_at: None,
        flags: Flags::default(),
    }
}

fn pick_from(rng: &mut StdRng, names: &[&'static str], min: usize, max: usize) -> Vec<&'static str> {
    let n = rng.gen_range(min..=max.min(names.len()));
    let mut v: Vec<&'static str> = Vec::new();
    while v.len() < n {
        let c = names[rng.gen_range(0..names.len())];
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

fn pick_names(rng: &mut StdRng, min: usize, max: usize) -> Vec<&'static str> {
    let n = rng.gen_range(min..=max);
    let mut v: Vec<&'static str> = Vec::new();
    while v.len() < n {
        let c = ENV_NAMES[rng.gen_range(0..ENV_NAMES.len())];
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

fn gl_flags(rng: &mut StdRng) -> Flags {
    Flags {
        protected: Some(rng.gen_bool(0.5)),
        masked: Some(rng.gen_bool(0.7)),
        environment_scope: Some(if rng.gen_bool(0.8) { "*" } else { "production" }.into()),
        ..Default::default()
    }
}

fn uuid_like(rng: &mut StdRng) -> String {
    let h = rand_str(rng, 32, b"0123456789abcdef");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn aws_pair(rng: &mut StdRng) -> (String, String) {
    (
        format!("AKIA{}", rand_str(rng, 16, B32)),
        rand_str(rng, 40, B64ISH),
    )
}

pub(crate) fn make_zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        let opts =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file(name.as_str(), opts).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}
