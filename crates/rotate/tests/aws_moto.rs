//! AWS IAM access-key rotation against moto in server mode (PyPI `moto[server]`,
//! installed by scripts/setup.d/60-moto.sh, which exports FIREBREAK_MOTO_SERVER).

use firebreak_core::SecretString;
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{Kind, Provider};
use firebreak_rotate::aws::{AwsCredentials, FromEnv, IamClient};
use firebreak_rotate::engine;
use firebreak_rotate::harness::Moto;
use firebreak_rotate::plan::{Plan, ProviderConn, SourceSpec};
use firebreak_rotate::sources::{Lookup, Source, SourceClients};
use firebreak_rotate::{Journal, SealKey};

fn moto() -> Moto {
    Moto::start().unwrap_or_else(|e| panic!("{e:#}"))
}

fn creds() -> AwsCredentials {
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAFIREBREAKTEST000");
    std::env::set_var(
        "AWS_SECRET_ACCESS_KEY",
        "firebreak-test-secret-key-not-real-00000",
    );
    AwsCredentials::from_env().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_iam_access_keys_on_moto() {
    let m = moto();
    let iam = IamClient::new(Some(&m.url), "us-east-1", creds()).unwrap();
    iam.create_user("deployer").await.unwrap();
    let (old_id, _old_secret) = iam.create_access_key("deployer").await.unwrap();
    std::env::set_var("GITHUB_TOKEN", "sim-github-token");
    let sim = Simulator::start(SimConfig {
        projects: 3,
        log_projects: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let toml = format!(
        r#"
[[secret]]
name = "aws deployer"
source = {{ type = "aws_iam", user = "deployer", endpoint = "{}" }}
[[secret.sink]]
type = "github_secret"
repo = "sim-org/repo-00001"
name = "AWS_ACCESS_KEY_ID"
field = "id"
[[secret.sink]]
type = "github_secret"
repo = "sim-org/repo-00001"
name = "AWS_SECRET_ACCESS_KEY"
"#,
        m.url
    );
    let mut plan = Plan::parse(&toml, "aws.toml").unwrap();
    plan.providers.github = Some(ProviderConn {
        api_url: Some(sim.github_url()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("fb.db")).unwrap();
    let (key, _) = SealKey::generate();
    let (run, sum) = firebreak_rotate::harness::run_plan(&j, &plan, &key)
        .await
        .unwrap();
    assert_eq!(sum.done, 1, "{:?}", engine::status(&j, &run).unwrap());
    let row = engine::status(&j, &run).unwrap().remove(0);
    let keys = iam.list_access_keys("deployer").await.unwrap();
    assert_eq!(keys.len(), 1, "old key deleted, new one left: {keys:?}");
    assert_ne!(keys[0].id, old_id);
    assert_eq!(Some(keys[0].id.clone()), row.new_id);
    assert_eq!(row.previous_ids, vec![old_id]);
    let id_in_sink = sim
        .secret_value(
            Provider::Github,
            Kind::ActionsSecret,
            "sim-org/repo-00001",
            "AWS_ACCESS_KEY_ID",
        )
        .unwrap();
    assert_eq!(id_in_sink.expose(), keys[0].id);
    let sk = sim
        .secret_value(
            Provider::Github,
            Kind::ActionsSecret,
            "sim-org/repo-00001",
            "AWS_SECRET_ACCESS_KEY",
        )
        .unwrap();
    assert_eq!(Some(key.fingerprint(&sk)), row.new_fingerprint);
}

/// A crash between CreateAccessKey and recording its result loses the secret access key:
/// the lookup finds the orphan, which is deleted before issuing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_access_key_is_found_and_deleted() {
    let m = moto();
    let iam = IamClient::new(Some(&m.url), "us-east-1", creds()).unwrap();
    iam.create_user("ci").await.unwrap();
    let (old_id, _) = iam.create_access_key("ci").await.unwrap();
    let spec = SourceSpec::AwsIam {
        user: "ci".into(),
        region: "us-east-1".into(),
        endpoint: Some(m.url.clone()),
    };
    let src = Source::new("ci", &spec, SourceClients::default()).unwrap();
    let prep = src.prepare("fbr-test").await.unwrap();
    assert!(matches!(
        src.lookup("fbr-test", &prep).await.unwrap(),
        Lookup::NotFound
    ));
    // the "crashed" issue: created, reply lost
    let (orphan, lost) = iam.create_access_key("ci").await.unwrap();
    drop::<SecretString>(lost);
    match src.lookup("fbr-test", &prep).await.unwrap() {
        Lookup::Orphan(id) => assert_eq!(id, orphan),
        other => panic!("expected an orphan, got {other:?}"),
    }
    src.delete_orphan(&orphan).await.unwrap();
    let issued = src.issue("fbr-test", &prep).await.unwrap();
    assert_eq!(issued.previous_ids, vec![old_id.clone()]);
    src.revoke(&issued.previous_ids).await.unwrap();
    let ids: Vec<String> = iam
        .list_access_keys("ci")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, vec![issued.cred.id.unwrap()]);
}
