//! CircleCI, every kind of secret, on the simulator: project API tokens, runner tokens
//! and legacy AWS key pairs are listed (never their values); projects nobody follows are
//! found through the pipelines and the VCS side; checkout keys carry their SHA-256
//! fingerprint and name the GitHub deploy key with the same public key; what cannot be
//! read is an error record naming the kind and the scope, and the run goes on.

use firebreak_core::SecretString;
use firebreak_inventory as inv;
use firebreak_providers::sim::{Faults, SimConfig, SimHandle, Simulator};
use firebreak_providers::{circleci, github, HttpConfig, Kind, Provider};
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

fn truth(h: &SimHandle) -> BTreeSet<(Kind, String, String)> {
    h.secrets()
        .into_iter()
        .filter(|s| s.provider == Provider::Circleci)
        .map(|s| (s.kind, s.scope, s.name))
        .collect()
}

fn found(r: &inv::RunResult) -> BTreeSet<(Kind, String, String)> {
    r.items
        .iter()
        .map(|i| (i.kind, i.scope.clone(), i.name.clone()))
        .collect()
}

fn clients(h: &SimHandle) -> (circleci::Client, github::Client) {
    (
        circleci::Client::new(&h.circleci_url(), SecretString::new("sim-circleci-token"), http()).unwrap(),
        github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http()).unwrap(),
    )
}

async fn sim(projects: usize, faults: Faults) -> SimHandle {
    Simulator::start(SimConfig {
        projects,
        page_size: 7,
        faults,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_listed_and_no_value_is_kept() {
    let h = sim(60, Faults::default()).await;
    let (cc, _) = clients(&h);
    let r = inv::collect_circleci(&cc, "sim-org", None, 8).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // everything the simulator holds, the projects nobody follows included
    assert_eq!(found(&r), truth(&h));
    let unfollowed = h.circleci_unfollowed();
    assert!(!unfollowed.is_empty());
    assert_eq!(r.projects, 60 + unfollowed.len());
    for slug in &unfollowed {
        assert!(
            r.items.iter().any(|i| &i.scope == slug && i.kind == Kind::EnvVar),
            "{slug}"
        );
    }
    let of = |k: Kind| r.items.iter().filter(move |i| i.kind == k);
    for k in [Kind::ProjectApiToken, Kind::RunnerToken, Kind::AwsKeypair] {
        assert!(of(k).next().is_some(), "{k} missing");
    }
    // project tokens: LABEL#ID, scope and creation time
    assert!(of(Kind::ProjectApiToken).all(|i| i.name.contains('#')
        && i.created_at.is_some()
        && i.flags.detail.as_deref().is_some_and(|d| d.starts_with("scope "))));
    // runner tokens: NICKNAME#ID under their resource class
    assert!(of(Kind::RunnerToken).any(|i| i.scope == "sim-org/linux-large" && i.name.starts_with("default#")));
    assert!(of(Kind::RunnerToken).all(|i| i.created_at.is_some()));
    // the AWS key pair: named by its redacted key id, never the secret
    assert!(
        of(Kind::AwsKeypair).all(|i| i.name.starts_with("aws-keypair AKIA…")
            && i.name.chars().count() == "aws-keypair AKIA…".chars().count() + 4)
    );
    // checkout keys: the SHA-256 fingerprint as the API gives it with ?digest=sha256
    assert!(of(Kind::CheckoutKey).all(|i| i
        .flags
        .fingerprint_sha256
        .as_deref()
        .is_some_and(|f| f.starts_with("SHA256:") && f.len() == 7 + 43)));

    // no value of any new kind anywhere in any output format
    let fps: BTreeSet<String> = h
        .secrets()
        .into_iter()
        .filter(|s| {
            matches!(
                s.kind,
                Kind::ProjectApiToken | Kind::RunnerToken | Kind::AwsKeypair
            )
        })
        .filter_map(|s| s.fingerprint)
        .collect();
    assert!(fps.len() >= 3);
    for fmt in [
        inv::Format::Text,
        inv::Format::Json,
        inv::Format::Jsonl,
        inv::Format::Csv,
    ] {
        let mut out = Vec::new();
        inv::write_inventory_findings(&mut out, &r.items, &r.errors, &r.findings, fmt).unwrap();
        let text = String::from_utf8(out).unwrap();
        for w in text.split(|c: char| !c.is_ascii_alphanumeric()) {
            assert!(
                !fps.contains(&firebreak_core::fingerprint(w.as_bytes())),
                "a value in {fmt:?} output"
            );
        }
        // and no full AWS access key id
        assert!(!text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.len() == 20 && w.starts_with("AKIA")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vcs_side_finds_projects_and_matches_deploy_keys() {
    let h = sim(30, Faults::default()).await;
    // a project nobody follows and no pipeline names: only the GitHub side knows it
    h.circleci_add_project("gh/sim-org/hidden", false);
    h.github_add_repo("sim-org/hidden");
    h.put_secret(
        Provider::Circleci,
        Kind::EnvVar,
        "gh/sim-org/hidden",
        "HIDDEN_TOKEN",
        SecretString::new("simHiddenValueHiddenValue0001"),
    );
    let (cc, gh) = clients(&h);
    let without = inv::collect_circleci(&cc, "sim-org", None, 8).await;
    assert!(!without.items.iter().any(|i| i.scope == "gh/sim-org/hidden"));
    let opts = inv::CircleciOptions {
        tasks: 8,
        github: Some(gh.clone()),
        pipeline_pages: 10,
        ..Default::default()
    };
    let r = inv::collect_circleci_with(&cc, "sim-org", &opts).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r
        .items
        .iter()
        .any(|i| i.scope == "gh/sim-org/hidden" && i.name == "HIDDEN_TOKEN"));
    assert_eq!(found(&r), truth(&h));
    assert!(r.vcs_only.is_empty(), "{:?}", r.vcs_only);

    // checkout keys name the GitHub deploy key with the same public key, and only that
    let g = inv::collect_github(&gh, "sim-org", None, 8).await;
    let deploy: std::collections::BTreeMap<String, String> = g
        .items
        .iter()
        .filter(|i| i.kind == Kind::DeployKey)
        .map(|i| {
            (
                i.identity(),
                i.flags.fingerprint_sha256.clone().expect("deploy key sha256"),
            )
        })
        .collect();
    assert!(!deploy.is_empty());
    let linked: Vec<_> = r
        .items
        .iter()
        .filter(|i| i.kind == Kind::CheckoutKey && i.flags.same_key_as.is_some())
        .collect();
    assert!(!linked.is_empty());
    for i in &linked {
        let other = i.flags.same_key_as.as_ref().unwrap();
        assert_eq!(deploy.get(other), i.flags.fingerprint_sha256.as_ref(), "{i:?}");
        assert_eq!(
            other
                .strip_prefix("github/deploy_key/")
                .map(|o| o.rsplit_once('/').unwrap().0),
            i.scope.strip_prefix("gh/")
        );
    }
    // every deploy key whose SHA-256 is a checkout key's is linked
    let ck256: BTreeSet<_> = r
        .items
        .iter()
        .filter(|i| i.kind == Kind::CheckoutKey)
        .filter_map(|i| i.flags.fingerprint_sha256.clone())
        .collect();
    let matching = deploy.values().filter(|f| ck256.contains(*f)).count();
    assert_eq!(linked.len(), matching);
    // it shows in the table output
    let mut out = Vec::new();
    inv::write_inventory_findings(&mut out, &r.items, &r.errors, &r.findings, inv::Format::Text).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("same key as github/deploy_key/"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_read_is_an_error_naming_kind_and_scope_and_the_run_goes_on() {
    let h = sim(
        20,
        Faults {
            forbidden_kinds: vec![Kind::ProjectApiToken, Kind::RunnerToken],
            forbidden: vec!["gh/sim-org/unfollowed-000".into()],
            ..Default::default()
        },
    )
    .await;
    h.circleci_add_pipeline("gh/sim-org/deleted-000");
    let (cc, _) = clients(&h);
    let r = inv::collect_circleci(&cc, "sim-org", None, 8).await;
    let msg = |scope: &str, start: &str| {
        r.errors
            .iter()
            .any(|e| e.scope == scope && e.message.starts_with(start))
    };
    // a deleted project the pipelines name: 404
    assert!(
        msg(
            "gh/sim-org/deleted-000",
            "project: in the organisation's pipelines but not found"
        ),
        "{:?}",
        r.errors
    );
    // an unfollowed project the token may not read: 403
    assert!(
        msg("gh/sim-org/unfollowed-000", "project: cannot read it"),
        "{:?}",
        r.errors
    );
    // kinds the token may not read: one record per scope, naming the kind
    assert!(
        msg("gh/sim-org/repo-00003", "project_api_token: cannot list (needs"),
        "{:?}",
        r.errors
    );
    assert!(
        msg("sim-org", "runner_token: cannot list (needs"),
        "{:?}",
        r.errors
    );
    // the rest is inventoried
    let want: BTreeSet<_> = truth(&h)
        .into_iter()
        .filter(|(k, s, _)| {
            !matches!(k, Kind::ProjectApiToken | Kind::RunnerToken) && s != "gh/sim-org/unfollowed-000"
        })
        .collect();
    assert_eq!(found(&r), want);
}

/// Projects CircleCI connects through GitLab have opaque `circleci/ORG-ID/PROJECT-ID`
/// slugs; with the GitLab side, the inventory reads each project's `vcs_info`, lists the
/// GitLab project's deploy keys and names, on each checkout key, the deploy key with the
/// same public key: the identity a GitLab inventory gives that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_connected_projects_match_checkout_keys_to_gitlab_deploy_keys() {
    let h = Simulator::start(SimConfig {
        projects: 10,
        gitlab_linked: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let (cc, _) = clients(&h);
    let gl = firebreak_providers::gitlab::Client::new(
        &h.gitlab_url(),
        SecretString::new("sim-gitlab-token"),
        http(),
    )
    .unwrap();
    let linked: BTreeSet<String> = h
        .secrets()
        .into_iter()
        .filter(|s| s.provider == Provider::Circleci && s.scope.starts_with("circleci/"))
        .map(|s| s.scope)
        .collect();
    assert_eq!(linked.len(), 2, "{linked:?}");
    let run = |gitlab| {
        let opts = inv::CircleciOptions {
            projects: Some(linked.iter().cloned().collect()),
            tasks: 4,
            gitlab,
            ..Default::default()
        };
        let cc = cc.clone();
        async move { inv::collect_circleci_with(&cc, "sim-org", &opts).await }
    };
    // without the GitLab side: the keys are listed, unmatched
    let r = run(None).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let keys: Vec<_> = r.items.iter().filter(|i| i.kind == Kind::CheckoutKey).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.flags.same_key_as.is_none()));

    let r = run(Some(gl.clone())).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let g = inv::collect_gitlab(&gl, Some("sim-group"), None, false, 4).await;
    let deploy: std::collections::BTreeMap<String, String> = g
        .items
        .iter()
        .filter(|i| i.kind == Kind::ProjectDeployKey)
        .map(|i| {
            (
                i.identity(),
                i.flags.fingerprint_sha256.clone().unwrap_or_default(),
            )
        })
        .collect();
    let keys: Vec<_> = r.items.iter().filter(|i| i.kind == Kind::CheckoutKey).collect();
    assert_eq!(keys.len(), 2);
    for k in keys {
        let other = k
            .flags
            .same_key_as
            .as_deref()
            .expect("matched to a GitLab deploy key");
        assert!(other.starts_with("gitlab/project_deploy_key/"), "{other}");
        assert_eq!(
            deploy.get(other),
            k.flags.fingerprint_sha256.as_ref(),
            "the GitLab inventory's key with the same SHA-256: {other}"
        );
    }
}
