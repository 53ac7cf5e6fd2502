//! The provider clients against the simulator: pagination, loops, rate limits, retries,
//! slow replies, writes, CI logs.

use firebreak_core::{fingerprint, SecretString};
use firebreak_providers::http::HttpError;
use firebreak_providers::sim::{EventAction, Faults, SimConfig, SimHandle, Simulator};
use firebreak_providers::{circleci, github, gitlab, HttpConfig, Kind, Provider};
use std::time::Duration;

fn fast_http() -> HttpConfig {
    HttpConfig {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        max_retries: 8,
        ..Default::default()
    }
}

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).await.expect("simulator starts")
}

fn cc(h: &SimHandle, http: HttpConfig) -> circleci::Client {
    circleci::Client::new(&h.circleci_url(), SecretString::new("sim-circleci-token"), http).unwrap()
}
fn gh(h: &SimHandle, http: HttpConfig) -> github::Client {
    github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http).unwrap()
}
fn gl(h: &SimHandle, http: HttpConfig) -> gitlab::Client {
    gitlab::Client::new(&h.gitlab_url(), SecretString::new("sim-gitlab-token"), http).unwrap()
}

#[tokio::test]
async fn many_pages_are_all_followed() {
    let h = sim(SimConfig {
        projects: 57,
        page_size: 4,
        ..Default::default()
    })
    .await;
    let repos = gh(&h, fast_http()).list_org_repos("sim-org").await;
    assert!(repos.error.is_none(), "{:?}", repos.error);
    assert_eq!(repos.items.len(), 57);
    let projects = gl(&h, fast_http()).list_projects(Some("sim-group")).await;
    assert!(projects.error.is_none(), "{:?}", projects.error);
    assert_eq!(projects.items.len(), 57);
    // CircleCI page tokens: contexts (57/50 -> 1 context) and env vars; check one project fully.
    let c = cc(&h, fast_http());
    let slugs = c.list_projects("sim-org").await.unwrap();
    assert_eq!(slugs.len(), 57);
    let truth = h.secrets();
    for slug in slugs.iter().take(10) {
        let l = c.list_env_vars(slug).await;
        assert!(l.error.is_none());
        let want = truth
            .iter()
            .filter(|s| s.kind == Kind::EnvVar && &s.scope == slug)
            .count();
        assert_eq!(l.items.len(), want, "{slug}");
    }
    // more requests than pages of 4 means pagination was used
    assert!(h.request_count(Provider::Github) >= 15);
}

#[tokio::test]
async fn repeated_page_token_stops_with_an_error() {
    let h = sim(SimConfig {
        projects: 30,
        page_size: 5,
        faults: Faults {
            repeat_page_token: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let l = gh(&h, fast_http()).list_org_repos("sim-org").await;
    assert!(
        matches!(l.error, Some(HttpError::PageLoop { .. })),
        "{:?}",
        l.error
    );
    assert_eq!(l.items.len(), 10, "two pages then the repeat is detected");
    let l = gl(&h, fast_http()).list_projects(None).await;
    assert!(
        matches!(l.error, Some(HttpError::PageLoop { .. })),
        "{:?}",
        l.error
    );
    // CircleCI: a context list with many pages
    let c = cc(&h, fast_http());
    let ctx = c.list_contexts(&circleci::Owner::Slug("gh/sim-org".into())).await;
    assert!(ctx.error.is_none()); // one context, one page
    let vars = c.list_context_vars(&ctx.items[0].id).await;
    assert!(vars.error.is_none() || matches!(vars.error, Some(HttpError::PageLoop { .. })));
}

#[tokio::test]
async fn rate_limit_429_and_403_are_waited_out() {
    let h = sim(SimConfig {
        projects: 5,
        rate_limit: Some(4.0),
        burst: Some(2.0),
        ..Default::default()
    })
    .await;
    // No client-side limit: the client must honour Retry-After (CircleCI, GitLab) and
    // X-RateLimit-Reset on a 403 (GitHub).
    let c = cc(&h, fast_http());
    let g = gh(&h, fast_http());
    let l = gl(&h, fast_http());
    let slugs = c.list_projects("sim-org").await.unwrap();
    let mut ok = 0;
    for s in &slugs {
        assert!(c.list_env_vars(s).await.error.is_none());
        ok += 1;
    }
    let repos = g.list_org_repos("sim-org").await.items;
    for r in repos.iter().take(5) {
        let x = g
            .list_secrets(&github::SecretScope::Repo(r.full_name.clone()))
            .await;
        assert!(x.error.is_none(), "{:?}", x.error);
    }
    let projects = l.list_projects(Some("sim-group")).await.items;
    for p in projects.iter().take(5) {
        let x = l
            .list_variables(&gitlab::VarScope::Project(p.id.to_string()))
            .await;
        assert!(x.error.is_none(), "{:?}", x.error);
    }
    assert_eq!(ok, 5);
    assert!(c.http().stats().rate_limited > 0);
    assert!(g.http().stats().rate_limited > 0);
    assert!(l.http().stats().rate_limited > 0);
    assert!(h.rate_limited_count(Provider::Github) > 0);
}

#[tokio::test]
async fn client_rate_limiter_avoids_429() {
    let h = sim(SimConfig {
        projects: 10,
        rate_limit: Some(50.0),
        burst: Some(5.0),
        ..Default::default()
    })
    .await;
    let c = cc(
        &h,
        HttpConfig {
            requests_per_second: Some(40.0),
            ..fast_http()
        },
    );
    let slugs = c.list_projects("sim-org").await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for s in slugs {
        let c = c.clone();
        set.spawn(async move { c.list_env_vars(&s).await.error.is_none() });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap());
    }
    assert_eq!(c.http().stats().rate_limited, 0);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let h = sim(SimConfig {
        projects: 40,
        page_size: 5,
        faults: Faults {
            error_rate: 0.3,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let g = gh(&h, fast_http());
    let l = g.list_org_repos("sim-org").await;
    assert!(l.error.is_none(), "{:?}", l.error);
    assert_eq!(l.items.len(), 40);
    assert!(g.http().stats().retries > 0);
    // with retries disabled, the 503 surfaces as an error naming the request
    h.set_faults(Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    let g = gh(
        &h,
        HttpConfig {
            max_retries: 1,
            ..fast_http()
        },
    );
    let e = g.list_org_repos("sim-org").await.error.expect("fails");
    assert_eq!(e.status(), Some(503));
    assert!(
        e.request().starts_with("GET http://127.0.0.1:"),
        "{}",
        e.request()
    );
}

#[tokio::test]
async fn slow_replies_time_out_then_succeed_with_patience() {
    let h = sim(SimConfig {
        projects: 3,
        faults: Faults {
            slow_rate: 1.0,
            slow_ms: 400,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let impatient = gl(
        &h,
        HttpConfig {
            timeout: Duration::from_millis(100),
            max_retries: 1,
            ..fast_http()
        },
    );
    let e = impatient.list_projects(None).await.error.expect("times out");
    assert!(matches!(e, HttpError::Transport { .. }), "{e}");
    assert_eq!(impatient.http().stats().retries, 1);
    let patient = gl(&h, fast_http());
    assert_eq!(patient.list_projects(None).await.into_result().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_token_is_an_error_not_a_retry() {
    let h = sim(SimConfig::default()).await;
    let c = circleci::Client::new(&h.circleci_url(), SecretString::new("wrong"), fast_http()).unwrap();
    let e = c.list_projects("sim-org").await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(!e.to_string().contains("wrong"));
    assert_eq!(c.http().stats().retries, 0);
}

#[tokio::test]
async fn forbidden_project_is_a_per_item_error() {
    let h = sim(SimConfig {
        projects: 5,
        faults: Faults {
            forbidden: vec!["gh/sim-org/repo-00002".into()],
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let c = cc(&h, fast_http());
    let l = c.list_env_vars("gh/sim-org/repo-00002").await;
    let e = l.error.expect("403");
    assert_eq!(e.status(), Some(403));
    assert!(
        e.request().contains("gh%2Fsim-org%2Frepo-00002"),
        "{}",
        e.request()
    );
    assert!(c.list_env_vars("gh/sim-org/repo-00001").await.error.is_none());
}

#[tokio::test]
async fn write_side_updates_state_and_event_log() {
    let h = sim(SimConfig {
        projects: 3,
        ..Default::default()
    })
    .await;
    let new_value = SecretString::new("rotated-value-0123456789");
    let fp = fingerprint(new_value.expose().as_bytes());

    // CircleCI project env var
    let c = cc(&h, fast_http());
    let slug = "gh/sim-org/repo-00000";
    let v = c.create_env_var(slug, "NEW_TOKEN", &new_value).await.unwrap();
    assert_eq!(v.name, "NEW_TOKEN");
    let view = h
        .secret(Provider::Circleci, Kind::EnvVar, slug, "NEW_TOKEN")
        .unwrap();
    assert_eq!(view.fingerprint.as_deref(), Some(fp.as_str()));
    assert!(c.get_env_var(slug, "NEW_TOKEN").await.unwrap().is_some());
    c.delete_env_var(slug, "NEW_TOKEN").await.unwrap();
    assert!(c.get_env_var(slug, "NEW_TOKEN").await.unwrap().is_none());
    // context var
    let ctx = c
        .list_contexts(&circleci::Owner::Slug("gh/sim-org".into()))
        .await
        .into_result()
        .unwrap();
    let cv = c
        .put_context_var(&ctx[0].id, "CTX_SECRET", &new_value)
        .await
        .unwrap();
    assert!(cv.updated_at.is_some());
    assert_eq!(
        h.secret(Provider::Circleci, Kind::ContextVar, &ctx[0].name, "CTX_SECRET")
            .unwrap()
            .fingerprint
            .as_deref(),
        Some(fp.as_str())
    );
    // checkout key create/delete
    let k = c
        .create_checkout_key(slug, circleci::CheckoutKeyType::DeployKey)
        .await
        .unwrap();
    c.delete_checkout_key(slug, &k.fingerprint).await.unwrap();
    // SSH key via v1.1
    c.add_ssh_key(
        slug,
        "deploy.example.com",
        &SecretString::new("-----BEGIN fake key-----"),
    )
    .await
    .unwrap();
    assert!(c
        .list_ssh_keys(slug)
        .await
        .unwrap()
        .iter()
        .any(|k| k.hostname == "deploy.example.com"));

    // GitLab project variable: create then update
    let g = gl(&h, fast_http());
    let scope = gitlab::VarScope::Project("sim-group/proj-00000".into());
    let opts = gitlab::VariableOptions {
        masked: Some(true),
        ..Default::default()
    };
    g.create_variable(
        &scope,
        "GL_NEW",
        &SecretString::new("first-value-abcdefgh"),
        &opts,
    )
    .await
    .unwrap();
    g.update_variable(&scope, "GL_NEW", &new_value, &opts)
        .await
        .unwrap();
    assert_eq!(
        h.secret(
            Provider::Gitlab,
            Kind::ProjectVariable,
            "sim-group/proj-00000",
            "GL_NEW"
        )
        .unwrap()
        .fingerprint
        .as_deref(),
        Some(fp.as_str())
    );

    // GitHub: fetch the public key, seal, PUT; the simulator decrypts it
    let gh = gh(&h, fast_http());
    let rs = github::SecretScope::Repo("sim-org/repo-00001".into());
    let pk = gh.public_key(&rs).await.unwrap();
    let sealed = seal(&pk.key, new_value.expose().as_bytes());
    gh.put_secret(
        &rs,
        "GH_NEW",
        &github::EncryptedSecret {
            key_id: pk.key_id.clone(),
            encrypted_value: sealed,
        },
        None,
    )
    .await
    .unwrap();
    let s = gh.get_secret(&rs, "GH_NEW").await.unwrap().unwrap();
    assert!(s.updated_at.is_some());
    assert_eq!(
        h.secret(
            Provider::Github,
            Kind::ActionsSecret,
            "sim-org/repo-00001",
            "GH_NEW"
        )
        .unwrap()
        .fingerprint
        .as_deref(),
        Some(fp.as_str())
    );
    // a wrong key id is refused
    let bad = gh
        .put_secret(
            &rs,
            "GH_BAD",
            &github::EncryptedSecret {
                key_id: "1".into(),
                encrypted_value: seal(&pk.key, b"x"),
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(bad.status(), Some(422));
    // org secret needs a visibility: the client sends one
    let os = github::SecretScope::Org("sim-org".into());
    let opk = gh.public_key(&os).await.unwrap();
    gh.put_secret(
        &os,
        "ORG_NEW",
        &github::EncryptedSecret {
            key_id: opk.key_id,
            encrypted_value: seal(&opk.key, b"org-value-123456"),
        },
        Some(&github::OrgVisibility::Selected(vec![10_001])),
    )
    .await
    .unwrap();
    // deploy key create / delete
    let dk = gh
        .create_deploy_key(
            "sim-org/repo-00001",
            "rotated",
            "ssh-ed25519 AAAAC3Nza fake",
            true,
        )
        .await
        .unwrap();
    gh.delete_deploy_key("sim-org/repo-00001", dk.id).await.unwrap();

    // The event log holds every write, in order, with fingerprints and no values.
    let ev = h.events();
    assert!(ev.windows(2).all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at));
    let kinds: Vec<(Kind, EventAction)> = ev.iter().map(|e| (e.kind, e.action)).collect();
    assert!(kinds.contains(&(Kind::EnvVar, EventAction::Create)));
    assert!(kinds.contains(&(Kind::EnvVar, EventAction::Delete)));
    assert!(kinds.contains(&(Kind::ProjectVariable, EventAction::Update)));
    assert!(kinds.contains(&(Kind::DeployKey, EventAction::Delete)));
    let dump = serde_json::to_string(&ev).unwrap();
    assert!(!dump.contains(new_value.expose()));
}

fn seal(pk_b64: &str, msg: &[u8]) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.decode(pk_b64).unwrap();
    let arr: [u8; 32] = b.try_into().unwrap();
    let pk = crypto_box::PublicKey::from(arr);
    let ct = pk.seal(&mut crypto_box::aead::OsRng, msg).unwrap();
    base64::engine::general_purpose::STANDARD.encode(ct)
}

#[tokio::test]
async fn ci_logs_stream_with_planted_secrets() {
    let h = sim(SimConfig {
        projects: 5,
        log_projects: 2,
        ..Default::default()
    })
    .await;
    let leaked: Vec<String> = h.leaked().into_iter().map(|l| l.fingerprint).collect();
    assert_eq!(leaked.len(), 8);
    let re = |data: &[u8]| -> Vec<String> {
        let s = String::from_utf8_lossy(data);
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() == 20 && w.starts_with("AKIA"))
            .map(|w| fingerprint(w.as_bytes()))
            .collect()
    };
    let c = cc(&h, fast_http());
    let mut rx = c.job_logs("gh/sim-org/repo-00000", None);
    let mut n = 0;
    let mut found = Vec::new();
    while let Some(l) = rx.recv().await {
        let l = l.unwrap();
        assert!(l.name.starts_with("circleci:gh/sim-org/repo-00000/"));
        found.extend(re(&l.data));
        n += 1;
    }
    assert_eq!(n, 6, "3 builds x 2 steps");
    assert_eq!(found.len(), 1);
    assert!(leaked.contains(&found[0]));
    // since: only builds that started after it
    let since = chrono::DateTime::parse_from_rfc3339("2022-12-28T00:00:00Z")
        .unwrap()
        .to_utc();
    let mut rx = c.job_logs("gh/sim-org/repo-00000", Some(since));
    let mut m = 0;
    while let Some(l) = rx.recv().await {
        l.unwrap();
        m += 1;
    }
    assert_eq!(m, 4);

    let g = gh(&h, fast_http());
    let mut rx = g.run_logs("sim-org/repo-00001", None);
    let mut found = Vec::new();
    let mut runs = 0;
    while let Some(r) = rx.recv().await {
        let r = r.unwrap();
        runs += 1;
        for (name, data) in r.entries().unwrap() {
            assert!(name.contains('!'));
            found.extend(re(&data));
        }
    }
    assert_eq!(runs, 2);
    assert_eq!(found.len(), 1);
    assert!(leaked.contains(&found[0]));
}

/// Count of the simulator's ground truth for one kind and scope.
fn truth_count(h: &SimHandle, p: Provider, k: Kind, scope: &str) -> usize {
    h.secrets()
        .iter()
        .filter(|s| s.provider == p && s.kind == k && s.scope == scope)
        .count()
}

#[tokio::test]
async fn github_variables_and_codespaces_secrets_are_listed_page_by_page() {
    // pages of 3: variables (GitHub's cap is 30) and secrets both follow `Link`
    let h = sim(SimConfig {
        projects: 40,
        page_size: 3,
        ..Default::default()
    })
    .await;
    let g = gh(&h, fast_http());
    let org = g.list_variables(&github::VarScope::Org("sim-org".into())).await;
    assert!(org.error.is_none(), "{:?}", org.error);
    assert_eq!(org.items.len(), 3);
    let v = org.items.iter().find(|v| v.name == "ORG_SENTRY_DSN").unwrap();
    assert_eq!(v.visibility.as_deref(), Some("selected"));
    assert!(v.created_at.is_some() && v.updated_at.is_some());
    // the value is there (to be scanned), compared here through its fingerprint only,
    // and never shown by Debug
    let want = h
        .secret(Provider::Github, Kind::OrgVariable, "sim-org", "ORG_SENTRY_DSN")
        .unwrap()
        .fingerprint;
    assert_eq!(v.value.as_ref().map(|x| x.fingerprint()), want);
    assert!(!format!("{v:?}").contains(v.value.as_ref().unwrap().expose()));
    let cs = g
        .list_secrets(&github::SecretScope::CodespacesOrg("sim-org".into()))
        .await;
    assert!(cs.error.is_none(), "{:?}", cs.error);
    assert_eq!(cs.items.len(), 2);
    assert!(cs.items.iter().all(|s| s.visibility.is_some()));
    let mut repos_with_vars = 0;
    let mut envs_with_vars = 0;
    for i in 0..40 {
        let repo = format!("sim-org/repo-{i:05}");
        let l = g.list_variables(&github::VarScope::Repo(repo.clone())).await;
        assert!(l.error.is_none(), "{:?}", l.error);
        assert_eq!(
            l.items.len(),
            truth_count(&h, Provider::Github, Kind::ActionsVariable, &repo)
        );
        repos_with_vars += usize::from(!l.items.is_empty());
        let l = g
            .list_secrets(&github::SecretScope::CodespacesRepo(repo.clone()))
            .await;
        assert!(l.error.is_none(), "{:?}", l.error);
        assert_eq!(
            l.items.len(),
            truth_count(&h, Provider::Github, Kind::CodespacesSecret, &repo)
        );
        for env in g.list_environments(&repo).await.items {
            let scope = format!("{repo}:{env}");
            let l = g
                .list_variables(&github::VarScope::Environment {
                    repo: repo.clone(),
                    environment: env.clone(),
                })
                .await;
            assert!(l.error.is_none(), "{:?}", l.error);
            assert_eq!(
                l.items.len(),
                truth_count(&h, Provider::Github, Kind::EnvironmentVariable, &scope)
            );
            envs_with_vars += usize::from(!l.items.is_empty());
        }
    }
    assert!(repos_with_vars > 5 && envs_with_vars > 0);
}

#[tokio::test]
async fn gitlab_keys_tokens_triggers_and_runners_are_listed() {
    let h = sim(SimConfig {
        projects: 80,
        page_size: 2,
        ..Default::default()
    })
    .await;
    let l = gl(&h, fast_http());
    let (mut keys, mut tokens, mut access, mut triggers, mut runners) = (0, 0, 0, 0, 0);
    for p in l.list_projects(Some("sim-group")).await.items {
        let id = p.id.to_string();
        let owner = gitlab::Owner::Project(id.clone());
        let k = l.list_deploy_keys(&id).await.into_result().unwrap();
        for x in &k {
            assert!(x.created_at.is_some() && x.key.starts_with("ssh-ed25519 "));
            assert!(x
                .fingerprint_sha256
                .as_deref()
                .is_some_and(|f| f.starts_with("SHA256:")));
            assert!(x.can_push.is_some());
        }
        keys += k.len();
        let t = l.list_deploy_tokens(&owner).await.into_result().unwrap();
        assert!(t
            .iter()
            .all(|x| x.username.is_some() && !x.scopes.is_empty() && !x.revoked));
        tokens += t.len();
        let a = l.list_access_tokens(&owner).await.into_result().unwrap();
        for x in &a {
            assert!(x.created_at.is_some() && x.expires_at.is_some() && x.access_level == Some(40));
            // active, or revoked (GitLab lists both)
            assert_eq!(x.active, Some(!x.revoked));
        }
        access += a.len();
        let tr = l.list_triggers(&id).await.into_result().unwrap();
        assert!(tr.iter().all(|x| x.created_at.is_some()
            && x.last_used.is_some()
            && x.owner.as_deref() == Some("ci-bot")));
        triggers += tr.len();
        let r = l.list_runners(&owner).await.into_result().unwrap();
        assert!(r.iter().all(|x| x.runner_type.as_deref() == Some("project_type")));
        runners += r.len();
    }
    assert!(keys > 0 && tokens > 0 && access > 0 && triggers > 0 && runners > 0);
    // group deploy tokens, access tokens and runners (`type=group_type`: the top group's
    // runner is also listed for its subgroups, as GitLab does)
    let top = gitlab::Owner::Group("1".into());
    let t = l.list_deploy_tokens(&top).await.into_result().unwrap();
    assert_eq!(t.len(), 1);
    let a = l.list_access_tokens(&top).await.into_result().unwrap();
    assert!(!a.is_empty() && a.iter().all(|x| x.access_level == Some(30)));
    let r = l.list_runners(&top).await.into_result().unwrap();
    assert_eq!(r.len(), 1);
    let sub = l
        .list_runners(&gitlab::Owner::Group("sim-group/sub-00".into()))
        .await
        .into_result()
        .unwrap();
    assert!(sub.iter().any(|x| x.id == r[0].id));
    // a kind the token cannot read: 403, naming the request
    h.set_faults(Faults {
        forbidden_kinds: vec![Kind::TriggerToken],
        ..Default::default()
    });
    let e = l.list_triggers("100").await.error.expect("403");
    assert_eq!(e.status(), Some(403));
    assert!(e.request().contains("/projects/100/triggers"), "{}", e.request());
}
