//! `--verify-credentials`: the values checked with `firebreak validate`'s engine, access
//! maps on: an AWS key pair against moto in server mode (PyPI `moto[server]`, installed by
//! scripts/setup.d/60-moto.sh, which exports FIREBREAK_MOTO_SERVER: STS names the user,
//! IAM its policies) and a GitHub token against the provider simulator (login, scopes,
//! organisations, repositories). The blast radii name them, the hunt pointers follow
//! them, live credentials show `live`, and the values given never reach the store.

use firebreak_core::SecretString;
use firebreak_http::aws::{query_request, AwsCredentials};
use firebreak_incident::blast::Values;
use firebreak_incident::playbook::{InitOptions, InventorySource};
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{Flags, Item, Kind, Provider};
use firebreak_store::Store;
use firebreak_validate::{Catalogue, Checker, Endpoints, Options};
use std::sync::Arc;

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

/// One IAM call to moto (authentication off: any credential does).
async fn iam(url: &str, action: &str, params: &[(&str, &str)]) -> String {
    let u = url::Url::parse(url).unwrap();
    let creds = AwsCredentials {
        access_key_id: "AKIAFIREBREAKTEST000".into(),
        secret_access_key: SecretString::new("firebreak-test-secret-key-not-real-00000"),
        session_token: None,
    };
    let http = firebreak_http::Http::new(&u, firebreak_http::Auth::None, Default::default()).unwrap();
    let mut req = query_request(&u, "iam", "us-east-1", "2010-05-08", action, params, &creds).unwrap();
    req.any_status = true;
    let r = http.execute(req).await.unwrap();
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 200, "iam:{action}: {body}");
    body
}

fn tag(xml: &str, t: &str) -> String {
    firebreak_http::aws::xml_tag(xml, t).unwrap().to_string()
}

#[test]
fn validation_and_access_maps_make_the_blast_radius() {
    let m = moto();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let token = "ghp_FIREBREAKtestTOKENnotREAL0123456789ab";
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 3,
            log_projects: 0,
            org: "acme".into(),
            github_token: SecretString::new(token),
            ..SimConfig::default()
        }))
        .unwrap();
    let (kid, sk) = rt.block_on(async {
        iam(&m.url, "CreateUser", &[("UserName", "ci-deployer")]).await;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":"arn:aws:s3:::acme-releases/*"}]}"#;
        iam(
            &m.url,
            "PutUserPolicy",
            &[
                ("UserName", "ci-deployer"),
                ("PolicyName", "release-upload"),
                ("PolicyDocument", policy),
            ],
        )
        .await;
        let x = iam(&m.url, "CreateAccessKey", &[("UserName", "ci-deployer")]).await;
        (tag(&x, "AccessKeyId"), tag(&x, "SecretAccessKey"))
    });
    // the organisation's repositories, as the simulator lists them to its own client
    let repos: Vec<String> = rt.block_on(async {
        let gh = firebreak_providers::github::Client::new(
            &sim.github_url(),
            SecretString::new(token),
            Default::default(),
        )
        .unwrap();
        let r = gh.list_org_repos("acme").await.into_result().unwrap();
        r.into_iter().map(|r| r.full_name).collect()
    });
    assert_eq!(repos.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let mut store = Store::open(&db).unwrap();
    let inv = dir.path().join("inv.jsonl");
    let lines: Vec<String> = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "GH_TOKEN",
        "NPM_TOKEN",
    ]
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
    o.values = Values::parse(&format!(
        "AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={sk}\nGH_TOKEN={token}\n"
    ))
    .0;
    o.verify_credentials = true;
    let mut eps = Endpoints::default();
    eps.insert("aws", url::Url::parse(&m.url).unwrap());
    eps.insert("github", url::Url::parse(&sim.github_url()).unwrap());
    o.checker = Some(Arc::new(Checker::new(
        Arc::new(Catalogue::builtin().unwrap()),
        Options {
            endpoints: eps,
            map: true,
            ..Options::default()
        },
    )));
    let out = rt
        .block_on(firebreak_incident::playbook::init_async(&mut store, &o))
        .unwrap();
    assert!(out.verify_errors.is_empty(), "{:?}", out.verify_errors);
    assert_eq!(out.by_method.get("validated"), Some(&3), "{:?}", out.by_method);
    assert_eq!(out.by_method.get("name"), Some(&1), "{:?}", out.by_method);
    assert_eq!(out.verdicts.get("live"), Some(&2), "{:?}", out.verdicts);
    assert_eq!(
        out.live,
        vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GH_TOKEN"]
    );

    let s = firebreak_incident::status(&store, "cci").unwrap();
    let task = |n: &str| s.tasks.iter().find(|t| t.secret == n).unwrap();
    for n in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let t = task(n);
        assert!(!t.inferred);
        assert!(
            t.unlocks.contains("arn:aws:iam::123456789012:user/ci-deployer")
                && t.unlocks.contains("aws.access_key")
                && t.unlocks.contains("arn:aws:s3:::acme-releases/*"),
            "{}",
            t.unlocks
        );
        assert_eq!(t.hunt_logs.len(), 1);
        assert!(
            t.hunt_logs[0].starts_with("AWS CloudTrail of account 123456789012")
                && t.hunt_logs[0].contains("userIdentity.arn = arn:aws:iam::123456789012:user/ci-deployer")
                && t.hunt_logs[0].contains("userIdentity.accessKeyId"),
            "{:?}",
            t.hunt_logs
        );
        // live at init: recorded as a validation of the old value
        assert_eq!(t.state, "live", "{n}");
        assert_eq!(t.old_validation.as_ref().unwrap()["status"], "live");
    }
    let gh = task("GH_TOKEN");
    assert!(!gh.inferred);
    assert_eq!(gh.state, "live");
    assert!(
        gh.unlocks.contains("sim-admin") && gh.unlocks.contains("repo, workflow, admin:org"),
        "{}",
        gh.unlocks
    );
    for r in &repos {
        assert!(gh.unlocks.contains(r.as_str()), "{r}: {}", gh.unlocks);
    }
    assert_eq!(
        gh.hunt_logs,
        vec![
            "GitHub audit log of organisation acme (actor = sim-admin)".to_string(),
            "GitHub audit log (security log) of user sim-admin (actor = sim-admin)".to_string(),
        ]
    );
    // no value for NPM_TOKEN: still the name's guess, said so
    let npm = task("NPM_TOKEN");
    assert!(npm.inferred);
    assert_eq!(npm.state, "pending");

    // the detail stored with each task: the validator and its map (bounded), no value
    let id = s.incident.name.clone();
    let inc = store.incident(&id).unwrap().unwrap();
    let tasks = store.incident_tasks(inc.id).unwrap();
    let d = &tasks.iter().find(|t| t.name == "GH_TOKEN").unwrap().detail;
    assert_eq!(d["method"], "validated");
    assert_eq!(d["validator"], "github.token");
    assert_eq!(d["validation"], "live");
    assert_eq!(d["principal"], "sim-admin");
    assert_eq!(d["organisations"], serde_json::json!(["acme"]));
    assert_eq!(d["hunt_actors"], serde_json::json!(["sim-admin"]));
    assert_eq!(d["resources"].as_array().unwrap().len(), 3);
    let d = &tasks
        .iter()
        .find(|t| t.name == "AWS_SECRET_ACCESS_KEY")
        .unwrap()
        .detail;
    assert_eq!(d["validator"], "aws.access_key");
    assert_eq!(d["aws_account"], "123456789012");
    assert_eq!(d["resources"][0]["permission"], "Allow s3:PutObject");
    assert_eq!(d["resources"][0]["via"], "policy release-upload (inline)");
    drop(store);
    rt.block_on(sim.shutdown());

    // no value reached the store (database and its WAL)
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(w) = std::fs::read(dir.path().join("fb.db-wal")) {
        bytes.extend(w);
    }
    let hay = String::from_utf8_lossy(&bytes);
    for v in [sk.as_str(), token, kid.as_str()] {
        assert!(!hay.contains(v), "a value reached the store");
    }
}
