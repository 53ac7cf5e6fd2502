//! Inventories of the simulator match its ground truth, for the three providers.

use firebreak_core::SecretString;
use firebreak_inventory as inv;
use firebreak_providers::sim::{Faults, SimConfig, Simulator};
use firebreak_providers::{circleci, github, gitlab, HttpConfig, Kind, Provider};
use std::collections::BTreeSet;
use std::time::Duration;

fn http() -> HttpConfig {
    HttpConfig {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        max_retries: 10,
        ..Default::default()
    }
}

fn truth(h: &firebreak_providers::sim::SimHandle, p: Provider) -> BTreeSet<(Kind, String, String)> {
    h.secrets()
        .into_iter()
        .filter(|s| s.provider == p)
        .map(|s| (s.kind, s.scope, s.name))
        .collect()
}

fn found(r: &inv::RunResult) -> BTreeSet<(Kind, String, String)> {
    r.items
        .iter()
        .map(|i| (i.kind, i.scope.clone(), i.name.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventories_match_ground_truth_despite_faults() {
    let h = Simulator::start(SimConfig {
        projects: 120,
        page_size: 7,
        faults: Faults {
            error_rate: 0.05,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let c =
        circleci::Client::new(&h.circleci_url(), SecretString::new("sim-circleci-token"), http()).unwrap();
    let r = inv::collect_circleci(&c, "sim-org", None, 16).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.projects, 120);
    assert_eq!(found(&r), truth(&h, Provider::Circleci));

    let g = github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http()).unwrap();
    let r = inv::collect_github(&g, "sim-org", None, 16).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(found(&r), truth(&h, Provider::Github));
    assert!(r
        .items
        .iter()
        .any(|i| i.kind == Kind::EnvironmentSecret && i.scope.ends_with(":production")));
    assert!(r
        .items
        .iter()
        .any(|i| i.kind == Kind::OrgSecret && i.flags.visibility.as_deref() == Some("selected")));

    let l = gitlab::Client::new(&h.gitlab_url(), SecretString::new("sim-gitlab-token"), http()).unwrap();
    let r = inv::collect_gitlab(&l, Some("sim-group"), None, true, 16).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(found(&r), truth(&h, Provider::Gitlab));
    assert!(r
        .items
        .iter()
        .all(|i| i.created_at.is_none() && i.flags.masked.is_some()));
}

#[tokio::test]
async fn forbidden_scope_is_recorded_and_the_rest_inventoried() {
    let h = Simulator::start(SimConfig {
        projects: 20,
        faults: Faults {
            forbidden: vec!["sim-org/repo-00004".into(), "sim-group/proj-00003".into()],
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let g = github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http()).unwrap();
    let r = inv::collect_github(&g, "sim-org", None, 8).await;
    assert!(!r.errors.is_empty());
    assert!(r
        .errors
        .iter()
        .all(|e| e.scope == "sim-org/repo-00004" && e.status == Some(403)));
    let want: BTreeSet<_> = truth(&h, Provider::Github)
        .into_iter()
        .filter(|(_, s, _)| !s.starts_with("sim-org/repo-00004"))
        .collect();
    assert_eq!(found(&r), want);
    let l = gitlab::Client::new(&h.gitlab_url(), SecretString::new("sim-gitlab-token"), http()).unwrap();
    let r = inv::collect_gitlab(&l, Some("sim-group"), None, false, 8).await;
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].scope, "sim-group/proj-00003");
}
