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
    // the followed projects and those only the pipelines name
    assert_eq!(r.projects, 120 + h.circleci_unfollowed().len());
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
    // variables carry no timestamp; the other GitLab kinds (tokens, keys, runners) have
    // kinds of their own, checked in `new_kinds_are_listed`
    let vars = [Kind::ProjectVariable, Kind::GroupVariable, Kind::InstanceVariable];
    assert!(r
        .items
        .iter()
        .filter(|i| vars.contains(&i.kind))
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
    // one error per kind listed for the project: variables, deploy keys, deploy tokens,
    // access tokens, trigger tokens, runners
    assert_eq!(r.errors.len(), 6, "{:?}", r.errors);
    assert!(r.errors.iter().all(|e| e.scope == "sim-group/proj-00003"));
    for k in [
        "project_deploy_key",
        "deploy_token",
        "project_access_token",
        "trigger_token",
        "runner",
    ] {
        assert!(
            r.errors.iter().any(|e| e
                .message
                .starts_with(&format!("{k}: cannot list (needs the Maintainer role"))),
            "{k}: {:?}",
            r.errors
        );
    }
}

#[tokio::test]
async fn new_kinds_are_listed() {
    let h = Simulator::start(SimConfig {
        projects: 60,
        page_size: 5,
        ..Default::default()
    })
    .await
    .unwrap();
    let g = github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http()).unwrap();
    let r = inv::collect_github(&g, "sim-org", None, 8).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(found(&r), truth(&h, Provider::Github));
    let kinds: BTreeSet<Kind> = r.items.iter().map(|i| i.kind).collect();
    for k in [
        Kind::ActionsVariable,
        Kind::OrgVariable,
        Kind::EnvironmentVariable,
        Kind::CodespacesSecret,
        Kind::DependabotSecret,
    ] {
        assert!(kinds.contains(&k), "{k} missing");
    }
    let v = r.items.iter().find(|i| i.kind == Kind::ActionsVariable).unwrap();
    assert!(v.created_at.is_some() && v.updated_at.is_some());
    // organisation Codespaces secrets and variables keep their visibility
    assert!(r.items.iter().any(|i| i.kind == Kind::CodespacesSecret
        && i.scope == "sim-org"
        && i.flags.visibility.as_deref() == Some("selected")));
    assert!(r
        .items
        .iter()
        .any(|i| i.kind == Kind::OrgVariable && i.flags.visibility.as_deref() == Some("all")));
    // seeded variable values are random: nothing to find
    assert!(r.findings.is_empty(), "{:?}", r.findings);

    let l = gitlab::Client::new(&h.gitlab_url(), SecretString::new("sim-gitlab-token"), http()).unwrap();
    let r = inv::collect_gitlab(&l, Some("sim-group"), None, true, 8).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(found(&r), truth(&h, Provider::Gitlab));
    let of = |k: Kind| r.items.iter().filter(move |i| i.kind == k);
    for k in [
        Kind::ProjectDeployKey,
        Kind::DeployToken,
        Kind::ProjectAccessToken,
        Kind::GroupAccessToken,
        Kind::TriggerToken,
        Kind::Runner,
    ] {
        assert!(of(k).next().is_some(), "{k} missing");
    }
    // the API's own timestamps: creation, last use, expiry
    assert!(of(Kind::ProjectAccessToken)
        .all(|i| i.created_at.is_some() && i.flags.last_used_at.is_some() && i.flags.expires_at.is_some()));
    assert!(of(Kind::TriggerToken).all(|i| i.created_at.is_some() && i.updated_at.is_some()));
    assert!(of(Kind::ProjectDeployKey)
        .all(|i| i.created_at.is_some() && i.flags.detail.as_deref().is_some_and(|d| d.contains("SHA256:"))));
    // names are LABEL#ID; scopes and access levels are in the detail
    assert!(
        of(Kind::GroupAccessToken).all(|i| i.name.starts_with("group-automation#")
            && i.flags
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("scopes read_api") && d.contains("access_level 30")))
    );
    // a group runner is listed once, under the group that registered it, not under
    // every subgroup that inherits it
    let top: Vec<_> = of(Kind::Runner).filter(|i| i.scope == "sim-group").collect();
    assert_eq!(top.len(), 1);
    assert_eq!(of(Kind::Runner).filter(|i| i.name == top[0].name).count(), 1);
    // a trigger's (truncated) token is never parsed, let alone stored
    let json = serde_json::to_string(&r.items).unwrap();
    assert!(!json.contains("\"token\"") && !json.contains("glpt"), "{json}");
}

#[tokio::test]
async fn secret_in_an_actions_variable_is_a_finding_without_its_value() {
    let h = Simulator::start(SimConfig {
        projects: 5,
        ..Default::default()
    })
    .await
    .unwrap();
    let pat = concat!("ghp_", "R7fQ2mXv9LkTz3WcN8bYp1HsJd6Ga4Ue0Ki5");
    let aws = concat!("AKIA", "Z7Q3VOWRL4JD5NQK");
    h.put_secret(
        Provider::Github,
        Kind::ActionsVariable,
        "sim-org/repo-00002",
        "RELEASE_TOKEN",
        SecretString::new(pat),
    );
    h.put_secret(
        Provider::Github,
        Kind::OrgVariable,
        "sim-org",
        "DEPLOY_KEY_ID",
        SecretString::new(aws),
    );
    let g = github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http()).unwrap();
    let r = inv::collect_github(&g, "sim-org", None, 4).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let f: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.kind, f.scope.as_str(), f.name.as_str()))
        .collect();
    assert!(
        f.contains(&(Kind::ActionsVariable, "sim-org/repo-00002", "RELEASE_TOKEN")),
        "{f:?}"
    );
    assert!(
        f.contains(&(Kind::OrgVariable, "sim-org", "DEPLOY_KEY_ID")),
        "{f:?}"
    );
    let pf = r.findings.iter().find(|f| f.name == "RELEASE_TOKEN").unwrap();
    assert!(pf.rule_id.contains("github"), "{}", pf.rule_id);
    assert_eq!(pf.fingerprint, firebreak_core::fingerprint(pat.as_bytes()));
    // the variable is an item too
    assert!(r
        .items
        .iter()
        .any(|i| i.kind == Kind::ActionsVariable && i.name == "RELEASE_TOKEN"));
    // no value anywhere in any output format
    for fmt in [
        inv::Format::Text,
        inv::Format::Json,
        inv::Format::Jsonl,
        inv::Format::Csv,
    ] {
        let mut out = Vec::new();
        inv::write_inventory_findings(&mut out, &r.items, &r.errors, &r.findings, fmt).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains(pat) && !s.contains(aws), "{fmt:?}: {s}");
        if fmt != inv::Format::Csv {
            assert!(
                s.contains("RELEASE_TOKEN") && s.contains(&pf.fingerprint),
                "{fmt:?}: {s}"
            );
        }
    }
    assert!(!format!("{:?}", r).contains(pat));
}

#[tokio::test]
async fn a_kind_the_token_cannot_read_is_an_error_record_and_the_rest_is_listed() {
    let h = Simulator::start(SimConfig {
        projects: 12,
        faults: Faults {
            forbidden_kinds: vec![
                Kind::ActionsVariable,
                Kind::CodespacesSecret,
                Kind::ProjectAccessToken,
            ],
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let g = github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http()).unwrap();
    let r = inv::collect_github(&g, "sim-org", None, 4).await;
    // one error per repository for each of the two kinds, plus the organisation's
    // Codespaces secrets
    assert_eq!(r.errors.len(), 12 * 2 + 1, "{:?}", r.errors);
    assert!(r.errors.iter().all(|e| e.status == Some(403)));
    assert!(r
        .errors
        .iter()
        .any(|e| e.message.starts_with(
            "actions_variable: cannot list (needs the \"Variables\" repository permission (read)"
        ) && e.request.contains("/actions/variables")));
    assert!(r.errors.iter().any(|e| e.scope == "sim-org"
        && e.message
            .starts_with("codespaces_secret: cannot list (needs the \"Organization codespaces secrets\"")));
    let want: BTreeSet<_> = truth(&h, Provider::Github)
        .into_iter()
        .filter(|(k, _, _)| *k != Kind::ActionsVariable && *k != Kind::CodespacesSecret)
        .collect();
    assert_eq!(found(&r), want);

    let l = gitlab::Client::new(&h.gitlab_url(), SecretString::new("sim-gitlab-token"), http()).unwrap();
    let r = inv::collect_gitlab(&l, Some("sim-group"), None, true, 4).await;
    assert_eq!(r.errors.len(), 12, "{:?}", r.errors);
    assert!(r.errors.iter().all(|e| e.status == Some(403)
        && e.message
            .starts_with("project_access_token: cannot list (needs the Maintainer role on the project)")));
    let want: BTreeSet<_> = truth(&h, Provider::Gitlab)
        .into_iter()
        .filter(|(k, _, _)| *k != Kind::ProjectAccessToken)
        .collect();
    assert_eq!(found(&r), want);
}
