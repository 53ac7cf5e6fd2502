//! conda-forge's fix end to end: a `firebreak_serve` source gives one (project, CI
//! provider) a new upload token from a real `firebreak serve`, the rotation engine writes
//! it to that provider's CI store (the simulator), and only that provider's old token is
//! revoked, after the new one is verified; the other provider's token keeps working, and
//! old and new were valid together until then.

use firebreak_core::SecretString;
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{Kind, Provider};
use firebreak_rotate::engine;
use firebreak_rotate::plan::{Plan, ProviderConn};
use firebreak_rotate::{Journal, SealKey};
use firebreak_serve::client::Client;
use firebreak_serve::{Config, Server};

const ADMIN: &str = "test-admin-credential-for-rotation-0123";

async fn serve(dir: &std::path::Path) -> Server {
    std::fs::write(dir.join("admin-token"), format!("{ADMIN}\n")).unwrap();
    let text = format!(
        r#"listen = "127.0.0.1:0"
database_url = "sqlite:{db}"
staging_dir = "{staging}"
published_dir = "{published}"
audit_log = "{audit}"
admin_token_file = "{admin}"
[limits]
rate_limit_per_sec = 0
"#,
        db = dir.join("serve.db").display(),
        staging = dir.join("staging").display(),
        published = dir.join("published").display(),
        audit = dir.join("audit.jsonl").display(),
        admin = dir.join("admin-token").display(),
    );
    Server::start(Config::from_toml(&text, "test config").unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_provider_s_upload_token_is_rotated_and_only_its_old_token_revoked() {
    std::env::set_var("FIREBREAK_ADMIN_TOKEN", ADMIN);
    std::env::set_var("CIRCLECI_TOKEN", "sim-circleci-token");
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let admin = Client::new(&server.url(), Some(SecretString::new(ADMIN)));
    let anon = Client::new(&server.url(), None);
    admin.create_project("acme-app").await.unwrap();
    let old = admin.issue("acme-app", "circleci", Some(3600)).await.unwrap();
    let gh = admin.issue("acme-app", "github", Some(3600)).await.unwrap();
    let sim = Simulator::start(SimConfig {
        projects: 2,
        log_projects: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let toml = format!(
        r#"
[[secret]]
name = "upload token acme-app circleci"
source = {{ type = "firebreak_serve", url = "{}", project = "acme-app", provider = "circleci", ttl_secs = 86400 }}
[[secret.sink]]
type = "circleci_env"
project = "gh/sim-org/repo-00001"
name = "FIREBREAK_UPLOAD_TOKEN"
"#,
        server.url()
    );
    let mut plan = Plan::parse(&toml, "serve.toml").unwrap();
    plan.providers.circleci = Some(ProviderConn {
        api_url: Some(sim.circleci_url()),
        ..Default::default()
    });
    let sdir = tempfile::tempdir().unwrap();
    let j = Journal::open(&sdir.path().join("fb.db")).unwrap();
    let (key, _) = SealKey::generate();
    let (run, sum) = firebreak_rotate::harness::run_plan(&j, &plan, &key)
        .await
        .unwrap();
    assert_eq!(sum.done, 1, "{:?}", engine::status(&j, &run).unwrap());
    let row = engine::status(&j, &run).unwrap().remove(0);
    assert_eq!(row.previous_ids, vec![old.info.id.clone()]);
    let new = sim
        .secret_value(
            Provider::Circleci,
            Kind::EnvVar,
            "gh/sim-org/repo-00001",
            "FIREBREAK_UPLOAD_TOKEN",
        )
        .expect("the new token in the CircleCI sink");
    assert_ne!(new.expose(), old.token);
    // the new token works, the old CircleCI one is revoked, GitHub's is untouched
    assert!(anon.verify(new.expose()).await.is_ok());
    assert!(anon.verify(&old.token).await.is_err());
    assert!(anon.verify(&gh.token).await.is_ok());
    let left = admin.list(Some("acme-app"), None).await.unwrap();
    let active: Vec<(&str, &str)> = left
        .iter()
        .filter(|t| t.revoked_at.is_none())
        .map(|t| (t.provider.as_str(), t.id.as_str()))
        .collect();
    assert_eq!(active.len(), 2, "{active:?}");
    assert!(active.contains(&("github", gh.info.id.as_str())));
    assert_eq!(
        Some(active.iter().find(|t| t.0 == "circleci").unwrap().1.to_string()),
        row.new_id
    );
}
