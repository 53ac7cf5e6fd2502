//! End to end on the provider simulator: every sink kind, deploy / checkout keys, failures
//! that roll back or stop, rollback and resume.

use firebreak_core::SecretString;
use firebreak_http::HttpConfig;
use firebreak_providers::sim::{Faults, SimConfig, SimHandle, Simulator};
use firebreak_providers::{github, Kind, Provider};
use firebreak_rotate::engine::{self, Engine, RunOptions, State};
use firebreak_rotate::plan::{Plan, ProviderConn, Providers};
use firebreak_rotate::sim_source::SourceSim;
use firebreak_rotate::{Journal, SealKey};
use std::path::Path;
use std::sync::Arc;

fn set_tokens() {
    std::env::set_var("CIRCLECI_TOKEN", "sim-circleci-token");
    std::env::set_var("GITHUB_TOKEN", "sim-github-token");
    std::env::set_var("GITLAB_TOKEN", "sim-gitlab-token");
}

async fn sim() -> SimHandle {
    set_tokens();
    Simulator::start(SimConfig {
        projects: 10,
        log_projects: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn providers(s: &SimHandle) -> Providers {
    let c = |u: String| {
        Some(ProviderConn {
            api_url: Some(u),
            ..Default::default()
        })
    };
    Providers {
        circleci: c(s.circleci_url()),
        github: c(s.github_url()),
        gitlab: c(s.gitlab_url()),
    }
}

async fn run(store: &Path, plan: &Plan, key: &SealKey, retry: bool) -> (String, engine::Summary) {
    let j = Journal::open(store).unwrap();
    let run = match engine::latest_run(&j).unwrap() {
        Some(r) if retry => r,
        _ => engine::create_run(&j, plan, "test.toml").unwrap(),
    };
    let e = Arc::new(
        Engine::new(
            j,
            key.clone(),
            &run,
            RunOptions {
                concurrency: 4,
                retry_stopped: retry,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let s = e.run().await.unwrap();
    (run, s)
}

fn value(s: &SimHandle, p: Provider, k: Kind, scope: &str, name: &str) -> Option<SecretString> {
    s.secret_value(p, k, scope, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_secret_to_every_sink_kind() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"
[[secret]]
name = "NPM_TOKEN"
shared = true
source = { type = "random", length = 36, prefix = "npm_" }
[[secret.sink]]
type = "circleci_env"
project = "gh/sim-org/repo-00001"
name = "NPM_TOKEN"
[[secret.sink]]
type = "circleci_context"
context = "ctx-000"
owner_slug = "gh/sim-org"
name = "NPM_TOKEN"
[[secret.sink]]
type = "github_secret"
repo = "sim-org/repo-00001"
name = "NPM_TOKEN"
[[secret.sink]]
type = "github_secret"
org = "sim-org"
visibility = "all"
name = "ORG_NPM_TOKEN"
[[secret.sink]]
type = "gitlab_variable"
group = "sim-group"
key = "NPM_TOKEN"
masked = true
[[secret.sink]]
type = "gitlab_variable"
instance = true
key = "INSTANCE_NPM_TOKEN"

[[secret]]
name = "signing key"
source = { type = "manual", instructions = "ask the release manager" }
"#;
    let mut plan = Plan::parse(toml, "t.toml").unwrap();
    plan.providers = providers(&s);
    let (key, _) = SealKey::generate();
    let store = dir.path().join("fb.db");
    let (run_id, sum) = run(&store, &plan, &key, false).await;
    assert_eq!(
        (sum.done, sum.manual, sum.stopped, sum.unfinished),
        (1, 1, 0, 0),
        "{sum:?}"
    );
    let j = Journal::open(&store).unwrap();
    let rows = engine::status(&j, &run_id).unwrap();
    let npm = rows.iter().find(|r| r.secret == "NPM_TOKEN").unwrap();
    assert_eq!((npm.sinks_written, npm.sinks_verified), (6, 6));
    let fp = npm.new_fingerprint.clone().unwrap();
    let got = [
        value(
            &s,
            Provider::Circleci,
            Kind::EnvVar,
            "gh/sim-org/repo-00001",
            "NPM_TOKEN",
        ),
        value(&s, Provider::Circleci, Kind::ContextVar, "ctx-000", "NPM_TOKEN"),
        value(
            &s,
            Provider::Github,
            Kind::ActionsSecret,
            "sim-org/repo-00001",
            "NPM_TOKEN",
        ),
        value(&s, Provider::Github, Kind::OrgSecret, "sim-org", "ORG_NPM_TOKEN"),
        value(
            &s,
            Provider::Gitlab,
            Kind::GroupVariable,
            "sim-group",
            "NPM_TOKEN",
        ),
        value(
            &s,
            Provider::Gitlab,
            Kind::InstanceVariable,
            "instance",
            "INSTANCE_NPM_TOKEN",
        ),
    ];
    for v in &got {
        let v = v.as_ref().expect("sink written");
        // the journal keeps a keyed fingerprint, never the plain hash
        assert_eq!(key.fingerprint(v), fp);
        assert_ne!(v.fingerprint(), fp);
        assert!(v.expose().starts_with("npm_") && v.len() == 40);
    }
    let manual = rows.iter().find(|r| r.secret == "signing key").unwrap();
    assert_eq!(manual.state, State::Manual);
    assert_eq!(manual.reason.as_deref(), Some("ask the release manager"));
    // material erased, rotation records written, journal never holds the value in clear
    let (left, recs): (i64, i64) = j
        .exec_blocking(|c| {
            Ok((
                c.query_row("SELECT count(*) FROM rotation_secrets WHERE new_enc IS NOT NULL OR pending_enc IS NOT NULL", [], |r| r.get(0))?,
                c.query_row("SELECT count(*) FROM rotation_records", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((left, recs), (0, 6));
    drop(j);
    let raw = std::fs::read(&store).unwrap();
    let clear = got[0].as_ref().unwrap().expose().as_bytes().to_vec();
    assert!(
        !raw.windows(clear.len()).any(|w| w == clear.as_slice()),
        "value found in the store file"
    );
    // resume of a finished run does nothing
    let (_, again) = run(&store, &plan, &key, true).await;
    assert_eq!(again.done, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_checkout_keys() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let gh = github::Client::new(
        &s.github_url(),
        SecretString::new("sim-github-token"),
        HttpConfig::default(),
    )
    .unwrap();
    // make sure the repository has an old key titled "deploy"
    let repo = "sim-org/repo-00002";
    gh.create_deploy_key(
        repo,
        "deploy",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLD old",
        true,
    )
    .await
    .unwrap();
    let toml = format!(
        r#"
[[secret]]
name = "deploy key"
source = {{ type = "deploy_key", github_repo = "{repo}", title = "deploy" }}
[[secret.sink]]
type = "circleci_env"
project = "gh/sim-org/repo-00002"
name = "DEPLOY_KEY"

[[secret]]
name = "checkout key"
source = {{ type = "deploy_key", circleci_project = "gh/sim-org/repo-00003" }}
"#
    );
    let mut plan = Plan::parse(&toml, "t.toml").unwrap();
    plan.providers = providers(&s);
    let cc = firebreak_providers::circleci::Client::new(
        &s.circleci_url(),
        SecretString::new("sim-circleci-token"),
        HttpConfig::default(),
    )
    .unwrap();
    let old_ck: Vec<String> = cc
        .list_checkout_keys("gh/sim-org/repo-00003")
        .await
        .into_result()
        .unwrap()
        .into_iter()
        .map(|k| k.fingerprint)
        .collect();
    assert!(!old_ck.is_empty());
    let (key, _) = SealKey::generate();
    let (_, sum) = run(&dir.path().join("fb.db"), &plan, &key, false).await;
    assert_eq!(sum.done, 2, "{sum:?}");
    let keys = gh.list_deploy_keys(repo).await.into_result().unwrap();
    assert!(
        keys.iter().all(|k| k.title != "deploy"),
        "old deploy key still registered"
    );
    let new = keys
        .iter()
        .find(|k| k.title.starts_with("deploy (firebreak "))
        .expect("new key");
    let private = s
        .secret_value(
            Provider::Circleci,
            Kind::EnvVar,
            "gh/sim-org/repo-00002",
            "DEPLOY_KEY",
        )
        .unwrap();
    assert!(private
        .expose()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let derived = firebreak_rotate::sshkey::public_of_private(private.expose(), "x").unwrap();
    let blob = |k: &str| k.split_whitespace().nth(1).unwrap_or("").to_string();
    assert_eq!(
        blob(&derived),
        blob(&new.key),
        "the sink holds the private half of the registered key"
    );
    let now_ck: Vec<String> = cc
        .list_checkout_keys("gh/sim-org/repo-00003")
        .await
        .into_result()
        .unwrap()
        .into_iter()
        .map(|k| k.fingerprint)
        .collect();
    assert_eq!(now_ck.len(), 1);
    assert!(!old_ck.contains(&now_ck[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_roll_back_or_stop_then_resume() {
    let s = sim().await;
    let src = SourceSim::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = src.url();
    // two secrets, each written to a good sink then to a forbidden repository
    let toml = format!(
        r#"
[[secret]]
name = "A"
shared = true
source = {{ type = "http", url = "{url}" }}
[[secret.sink]]
type = "circleci_env"
project = "gh/sim-org/repo-00004"
name = "A"
[[secret.sink]]
type = "github_secret"
repo = "sim-org/repo-00005"
name = "A"
"#
    );
    let mut plan = Plan::parse(&toml, "t.toml").unwrap();
    plan.providers = providers(&s);
    let old = src.seed("A");
    let clients = firebreak_rotate::sinks::SinkClients::from_plan(&plan, 2).unwrap();
    for k in &plan.secrets[0].sinks {
        clients.write(k, &old).await.unwrap();
    }
    s.set_faults(Faults {
        forbidden: vec!["sim-org/repo-00005".into()],
        ..Faults::default()
    });
    let (key, _) = SealKey::generate();
    // 1. the source can give the old value back: automatic rollback
    let store1 = dir.path().join("a.db");
    let (_, sum) = run(&store1, &plan, &key, false).await;
    assert_eq!(sum.rolled_back, 1, "{sum:?}");
    let env = value(&s, Provider::Circleci, Kind::EnvVar, "gh/sim-org/repo-00004", "A").unwrap();
    assert_eq!(
        env.fingerprint(),
        old.fingerprint(),
        "sink restored to the old value"
    );
    assert!(src.accepts(&old.fingerprint()));
    let tl = src.timeline();
    assert!(
        tl.iter()
            .filter(|c| c.idempotency_key.is_some())
            .all(|c| c.revoked_at.is_some()),
        "new credential revoked"
    );
    // 2. it cannot: the secret stops with the old credential valid
    src.set_no_fetch(true);
    let store2 = dir.path().join("b.db");
    let (run2, sum) = run(&store2, &plan, &key, false).await;
    assert_eq!(sum.stopped, 1, "{sum:?}");
    assert_eq!(sum.exit(), firebreak_core::Exit::Found);
    assert!(src.accepts(&old.fingerprint()), "old credential must stay valid");
    let j = Journal::open(&store2).unwrap();
    let row = engine::status(&j, &run2).unwrap().remove(0);
    assert!(
        row.reason
            .as_deref()
            .unwrap()
            .contains("old credential is still valid"),
        "{:?}",
        row.reason
    );
    let e = Engine::new(j, key.clone(), &run2, RunOptions::default()).unwrap();
    // an explicit rollback cannot get the old value either: it stays stopped, old still valid
    assert_eq!(e.rollback("A").await.unwrap(), State::Stopped);
    assert!(src.accepts(&old.fingerprint()));
    drop(e);
    // 3. the repository is fixed: resume --retry-stopped completes it forward
    s.set_faults(Faults::default());
    let (_, sum) = run(&store2, &plan, &key, true).await;
    assert_eq!(sum.done, 1, "{sum:?}");
    assert!(
        !src.accepts(&old.fingerprint()),
        "old credential revoked once done"
    );
    let gh = value(
        &s,
        Provider::Github,
        Kind::ActionsSecret,
        "sim-org/repo-00005",
        "A",
    )
    .unwrap();
    assert!(src.accepts(&gh.fingerprint()));
    let calls = src.issue_calls();
    assert!(calls.values().all(|n| *n == 1), "{calls:?}");
}

/// A self-hosted runner token: created through the runner API, written to the runner's
/// configuration file, verified there, and only then is the old token deleted; tokens of
/// another nickname are left alone. Without a sink the plan is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_token_is_created_written_verified_then_the_old_one_deleted() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let class = "sim-org/linux-large";
    let cc = firebreak_providers::circleci::Client::new(
        &s.circleci_url(),
        SecretString::new("sim-circleci-token"),
        HttpConfig::default(),
    )
    .unwrap();
    let before = cc.list_runner_tokens(class).await.into_result().unwrap();
    let old: Vec<_> = before.iter().filter(|t| t.nickname == "default").collect();
    let other: Vec<_> = before.iter().filter(|t| t.nickname != "default").collect();
    assert_eq!(old.len(), 1, "{before:?}");
    assert!(!other.is_empty(), "{before:?}");
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "api:\n  auth_token: OLD\nrunner:\n  name: host-1\n").unwrap();

    let no_sink = format!(
        "[[secret]]\nname = \"runner\"\nsource = {{ type = \"circleci_runner\", resource_class = \"{class}\" }}\n"
    );
    let e = Plan::parse(&no_sink, "t.toml").unwrap_err().to_string();
    assert!(e.contains("runner") && e.contains("no sink"), "{e}");

    let toml = format!(
        "{no_sink}[[secret.sink]]\ntype = \"circleci_runner_config\"\nresource_class = \"{class}\"\npath = \"{}\"\n",
        cfg.display()
    );
    let mut plan = Plan::parse(&toml, "t.toml").unwrap();
    plan.providers = providers(&s);
    let (key, _) = SealKey::generate();
    let seq0 = s.events().len();
    let (_, sum) = run(&dir.path().join("fb.db"), &plan, &key, false).await;
    assert_eq!(sum.done, 1, "{sum:?}");

    // the file holds a token CircleCI accepts, the rest of the file untouched
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.ends_with("runner:\n  name: host-1\n") && !text.contains("OLD"),
        "{text}"
    );
    let tok = firebreak_rotate::runner_config::read(cfg.to_str().unwrap(), "auth_token")
        .unwrap()
        .unwrap();
    assert!(s.runner_token_valid(&tok.fingerprint()));
    // the old token is gone, the other nickname's tokens are not; one new token
    let after = cc.list_runner_tokens(class).await.into_result().unwrap();
    assert!(after.iter().all(|t| t.id != old[0].id), "{after:?}");
    for o in &other {
        assert!(after.iter().any(|t| t.id == o.id), "{o:?} deleted");
    }
    let new: Vec<_> = after
        .iter()
        .filter(|t| t.nickname.starts_with("default (firebreak "))
        .collect();
    assert_eq!(new.len(), 1, "{after:?}");
    // order at CircleCI: the new token existed before the old one was deleted
    let ev: Vec<_> = s
        .events()
        .into_iter()
        .skip(seq0)
        .filter(|e| e.kind == Kind::RunnerToken)
        .collect();
    let created = ev
        .iter()
        .position(|e| e.action == firebreak_providers::sim::EventAction::Create)
        .expect("create");
    let deleted = ev
        .iter()
        .position(|e| e.action == firebreak_providers::sim::EventAction::Delete)
        .expect("delete");
    assert!(created < deleted, "{ev:?}");
    assert_eq!(ev.len(), 2, "exactly one token created and one deleted: {ev:?}");
}

/// After a crash between the runner token's creation and its recorded result, the
/// token is found by its nickname and is an orphan (its value was shown only once): it
/// is deleted, never reused, and a second one is never created blindly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_token_whose_reply_was_lost_is_an_orphan() {
    let s = sim().await;
    let class = "sim-org/macos";
    let cc = firebreak_providers::circleci::Client::new(
        &s.circleci_url(),
        SecretString::new("sim-circleci-token"),
        HttpConfig::default(),
    )
    .unwrap();
    let spec = firebreak_rotate::plan::SourceSpec::CircleciRunner {
        resource_class: class.into(),
        nickname: "default".into(),
    };
    let src = firebreak_rotate::sources::Source::new(
        "runner",
        &spec,
        firebreak_rotate::sources::SourceClients {
            circleci: Some(cc.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let idem = "fbr-0123456789abcdef";
    let prep = src.prepare(idem).await.unwrap();
    assert!(matches!(
        src.lookup(idem, &prep).await.unwrap(),
        firebreak_rotate::sources::Lookup::NotFound
    ));
    // the token was created, its reply lost
    let lost = cc
        .create_runner_token(class, "default (firebreak fbr-01234567)")
        .await
        .unwrap();
    match src.lookup(idem, &prep).await.unwrap() {
        firebreak_rotate::sources::Lookup::Orphan(id) => {
            assert_eq!(id, lost.meta.id);
            src.delete_orphan(&id).await.unwrap();
        }
        other => panic!("{other:?}"),
    }
    assert!(!s.runner_token_valid(&lost.token.fingerprint()));
}

/// A CircleCI project API token (v1.1): a new token with the same scope, labelled with the
/// intent's key, is written to where it is used (here another project's variable),
/// verified there, and only then is the old token of that label deleted; tokens of other
/// labels stay. A lost reply leaves an orphan found by its label and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_api_token_is_replaced_where_it_is_used_then_the_old_one_deleted() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = firebreak_providers::circleci::Client::new(
        &s.circleci_url(),
        SecretString::new("sim-circleci-token"),
        HttpConfig::default(),
    )
    .unwrap();
    let slug = "gh/sim-org/repo-00001";
    // one token to replace, one of another label to keep
    let (old, _) = cc
        .create_project_token(slug, "view-builds", "dashboard-x")
        .await
        .unwrap();
    let (keep, _) = cc.create_project_token(slug, "status", "badge-x").await.unwrap();

    let no_sink = format!(
        "[[secret]]\nname = \"dashboard token\"\nsource = {{ type = \"circleci_project_token\", project = \"{slug}\", scope = \"view-builds\", label = \"dashboard-x\" }}\n"
    );
    let e = Plan::parse(&no_sink, "t.toml").unwrap_err().to_string();
    assert!(e.contains("no sink"), "{e}");
    let toml = format!(
        "{no_sink}[[secret.sink]]\ntype = \"circleci_env\"\nproject = \"gh/sim-org/repo-00002\"\nname = \"APP_CIRCLE_TOKEN\"\n"
    );
    let mut plan = Plan::parse(&toml, "t.toml").unwrap();
    plan.providers = providers(&s);
    let (key, _) = SealKey::generate();
    let seq0 = s.events().len();
    let (_, sum) = run(&dir.path().join("fb.db"), &plan, &key, false).await;
    assert_eq!(sum.done, 1, "{sum:?}");

    let after = cc.list_project_tokens(slug).await.unwrap();
    assert!(after.iter().all(|t| t.id != old.id), "old deleted: {after:?}");
    assert!(
        after.iter().any(|t| t.id == keep.id),
        "other label kept: {after:?}"
    );
    let new: Vec<_> = after
        .iter()
        .filter(|t| t.label.starts_with("dashboard-x (firebreak "))
        .collect();
    assert_eq!(new.len(), 1, "{after:?}");
    assert_eq!(new[0].scope, "view-builds");
    // the sink holds the token CircleCI created, and it was created before the old one
    // was deleted
    let ev: Vec<_> = s
        .events()
        .into_iter()
        .skip(seq0)
        .filter(|e| e.kind == Kind::ProjectApiToken)
        .collect();
    assert_eq!(ev.len(), 2, "one token created, one deleted: {ev:?}");
    assert_eq!(ev[0].action, firebreak_providers::sim::EventAction::Create);
    assert_eq!(ev[1].action, firebreak_providers::sim::EventAction::Delete);
    let in_sink = s
        .secret_value(
            Provider::Circleci,
            Kind::EnvVar,
            "gh/sim-org/repo-00002",
            "APP_CIRCLE_TOKEN",
        )
        .unwrap();
    assert_eq!(ev[0].fingerprint.as_deref(), Some(in_sink.fingerprint().as_str()));

    // a lost reply: the token made is found by its label and deleted as an orphan
    let spec = firebreak_rotate::plan::SourceSpec::CircleciProjectToken {
        project: slug.into(),
        scope: "status".into(),
        label: "badge-x".into(),
    };
    let src = firebreak_rotate::sources::Source::new(
        "badge",
        &spec,
        firebreak_rotate::sources::SourceClients {
            circleci: Some(cc.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let prep = src.prepare("idem-0123456789ab").await.unwrap();
    let made = src.issue("idem-0123456789ab", &prep).await.unwrap(); // as if its reply were lost
    let orphan = match src.lookup("idem-0123456789ab", &prep).await.unwrap() {
        firebreak_rotate::sources::Lookup::Orphan(id) => id,
        other => panic!("expected an orphan, got {other:?}"),
    };
    assert_eq!(Some(orphan.clone()), made.cred.id);
    src.delete_orphan(&orphan).await.unwrap();
    let left = cc.list_project_tokens(slug).await.unwrap();
    assert!(left.iter().all(|t| t.id != orphan), "{left:?}");
}
