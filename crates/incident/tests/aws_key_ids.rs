//! `incident init --aws-key-ids`: the key ids AWS named, looked up in IAM on moto in
//! server mode (PyPI `moto[server]`, installed by scripts/setup.d/60-moto.sh, which
//! exports FIREBREAK_MOTO_SERVER): one task per key with its IAM user, the CI variables
//! holding it found through the values, a drafted rotation that `rotate` accepts and that
//! `incident status` links to the task; bad lines named, unknown keys said.

use firebreak_core::SecretString;
use firebreak_http::aws::AwsCredentials;
use firebreak_incident::aws_keys::parse_key_ids;
use firebreak_incident::blast::Values;
use firebreak_incident::playbook::{InitOptions, InventorySource};
use firebreak_providers::{Flags, Item, Kind, Provider};
use firebreak_rotate::aws::IamClient;
use firebreak_rotate::plan::{Plan, SourceSpec};
use firebreak_store::Store;

fn moto() -> firebreak_rotate::harness::Moto {
    firebreak_rotate::harness::Moto::start().unwrap_or_else(|e| panic!("{e:#}"))
}

fn item(name: &str) -> Item {
    Item {
        provider: Provider::Circleci,
        kind: Kind::EnvVar,
        scope: "gh/acme/app".into(),
        name: name.into(),
        created_at: None,
        updated_at: None,
        flags: Flags::default(),
    }
}

#[test]
fn listed_keys_become_tasks_with_their_iam_user_and_a_drafted_rotation() {
    let m = moto();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let creds = AwsCredentials {
        access_key_id: "AKIAFIREBREAKTEST000".into(),
        secret_access_key: SecretString::new("firebreak-test-secret-key-not-real-00000"),
        session_token: None,
    };
    let client = IamClient::new(Some(&m.url), "us-east-1", creds).unwrap();
    let kid = rt.block_on(async {
        client.create_user("ci-deployer").await.unwrap();
        client.create_access_key("ci-deployer").await.unwrap().0
    });
    // a key id of the right shape that IAM does not know
    let unknown = "AKIAQWERTYUIOPASDFGH";
    let list = parse_key_ids(&format!(
        "# keys AWS listed\n{kid}\n{unknown}\nnot-a-key-id-but-maybe-a-secret-pasted-by-mistake\n"
    ));
    assert_eq!(list.ids.len(), 2);
    assert_eq!(list.bad.len(), 1);
    assert_eq!(list.bad[0].0, 4);

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("fb.db")).unwrap();
    let inv = dir.path().join("inv.jsonl");
    let lines: Vec<String> = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "NPM_TOKEN"]
        .iter()
        .map(|n| serde_json::to_string(&item(n)).unwrap())
        .collect();
    std::fs::write(&inv, lines.join("\n")).unwrap();
    let mut o = InitOptions::new(
        "cci",
        vec![Provider::Circleci],
        "2022-12-21..2023-01-05".parse().unwrap(),
    );
    o.inventory = InventorySource::File(inv);
    o.values = Values::parse(&format!("AWS_ACCESS_KEY_ID={kid}\n")).0;
    o.aws_key_ids = list;
    o.iam = Some(client);
    let out = rt
        .block_on(firebreak_incident::playbook::init_async(&mut store, &o))
        .unwrap();
    // 3 inventory items, 2 keys, and the 2 CircleCI kinds no API lists (OAuth, personal tokens)
    assert_eq!(out.tasks, 7);
    assert_eq!(out.aws_key_id_bad_lines.len(), 1);
    let k = out.aws_keys.iter().find(|k| k.key_id == kid).unwrap();
    assert_eq!(k.user.as_deref(), Some("ci-deployer"));
    assert_eq!(k.error, None);
    assert_eq!(
        k.holders,
        vec![
            "circleci/env_var/gh/acme/app/AWS_ACCESS_KEY_ID".to_string(),
            "circleci/env_var/gh/acme/app/AWS_SECRET_ACCESS_KEY".to_string()
        ]
    );
    let u = out.aws_keys.iter().find(|k| k.key_id == unknown).unwrap();
    assert_eq!(u.user, None);
    assert!(u.error.is_some(), "{u:?}");
    assert_eq!(out.by_method.get("iam"), Some(&1), "{:?}", out.by_method);

    // the draft: an aws_iam source for the user with the two variables as sinks; the
    // unknown key a manual step; both named after their tasks
    let plan = Plan::parse(out.aws_draft.as_deref().unwrap(), "draft.toml").unwrap();
    assert_eq!(plan.secrets.len(), 2);
    let s = plan.secrets.iter().find(|s| s.name.ends_with(&kid)).unwrap();
    assert!(matches!(&s.source, SourceSpec::AwsIam { user, .. } if user == "ci-deployer"));
    assert_eq!(s.sinks.len(), 2);
    let s2 = plan.secrets.iter().find(|s| s.name.ends_with(unknown)).unwrap();
    assert!(matches!(s2.source, SourceSpec::Manual { .. }));

    // the tasks, and the drafted secret covers its task
    let st = firebreak_incident::status(&store, "cci").unwrap();
    let t = st.tasks.iter().find(|t| t.secret == kid).unwrap();
    assert_eq!(t.kind, "aws_access_key");
    assert!(t.unlocks.contains("IAM user ci-deployer"), "{}", t.unlocks);
    assert!(t.hunt_logs[0].contains(&kid), "{:?}", t.hunt_logs);
    assert_eq!(t.state, "pending");
    let covers = firebreak_incident::status::covered(s);
    assert!(
        covers
            .iter()
            .any(|c| *c == firebreak_incident::status::Cover::Exact(t.identity.clone())),
        "{covers:?} vs {}",
        t.identity
    );
}
