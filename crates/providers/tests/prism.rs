//! Every request the clients make must pass Prism's request validation against the
//! providers' published OpenAPI descriptions (testdata/specs). Prism is installed by
//! scripts/setup.d/30-prism.sh, which exports FIREBREAK_PRISM.
//!
//! Each test spawns its own Prism on a free 127.0.0.1 port, waits for "Prism is
//! listening", runs the client calls, and then checks (1) that no call got a
//! 400/404/422 (Prism's answers to invalid or unroutable requests) and (2) that Prism
//! logged no request-validation error.

use firebreak_core::SecretString;
use firebreak_providers::http::HttpError;
use firebreak_providers::{circleci, github, gitlab, HttpConfig};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Prism {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spec(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/specs")
        .join(name)
}

fn prism(spec_file: &str) -> Prism {
    let bin = std::env::var("FIREBREAK_PRISM").unwrap_or_else(|_| {
        panic!("FIREBREAK_PRISM is not set: run scripts/setup.d/30-prism.sh and source .tools/env.d/prism.sh (scripts/test does both)")
    });
    assert!(
        std::path::Path::new(&bin).exists(),
        "FIREBREAK_PRISM={bin} does not exist: run scripts/setup.d/30-prism.sh"
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(&bin)
        .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
        .arg(spec(spec_file))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn prism");
    let log = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
    }
    let p = Prism { child, port, log };
    let start = Instant::now();
    loop {
        if p.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Prism is listening"))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "Prism did not start: {:?}",
            p.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    p
}

impl Prism {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// Lines where Prism reports a request it could not route or validate.
    fn request_errors(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| {
                (l.contains("✖") || l.contains("error"))
                    && (l.contains("Request") || l.contains("NO_PATH_MATCHED") || l.contains("parameter"))
            })
            .cloned()
            .collect()
    }
}

fn http() -> HttpConfig {
    HttpConfig {
        max_retries: 1,
        backoff_base: Duration::from_millis(5),
        ..Default::default()
    }
}

/// A listing may stop with a page loop (Prism's static examples always return the same
/// `next_page_token`), but never with a rejected request.
fn listing_ok<T>(what: &str, l: &firebreak_providers::Listing<T>) {
    match &l.error {
        // PageLoop: Prism's static examples repeat `next_page_token`. BadUrl: its GitHub
        // examples' Link header points at api.github.com, which the client does not follow.
        None | Some(HttpError::PageLoop { .. }) | Some(HttpError::BadUrl { .. }) => {}
        Some(e) => panic!("{what}: {e}"),
    }
    assert!(!l.items.is_empty(), "{what}: no items parsed");
}

const UUID: &str = "be8bb2e3-c3d6-4098-89f4-572ff976ba9a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circleci_requests_pass_validation() {
    let p = prism("circleci-v2.openapi.json");
    let c = circleci::Client::new(&p.url(), SecretString::new("prism-token"), http()).unwrap();
    let slug = "gh/acme/widgets";
    let l = c.list_env_vars(slug).await;
    listing_ok("envvar list", &l);
    assert!(
        matches!(l.error, Some(HttpError::PageLoop { .. })),
        "Prism repeats next_page_token"
    );
    listing_ok("checkout-key list", &c.list_checkout_keys(slug).await);
    // issue 22: SHA-256 fingerprints, a project by slug, the organisation's pipelines
    listing_ok(
        "checkout-key list ?digest=sha256",
        &c.list_checkout_keys_sha256(slug).await,
    );
    let pr = c.get_project(slug).await.unwrap();
    assert!(!pr.slug.is_empty());
    let pl = c.list_pipeline_projects("gh/acme", 3).await;
    listing_ok("pipeline list (org-slug)", &pl);
    assert_eq!(
        pl.items.len(),
        1,
        "one example project, repeated pages folded: {:?}",
        pl.items
    );
    listing_ok(
        "context list (slug)",
        &c.list_contexts(&circleci::Owner::Slug("gh/acme".into())).await,
    );
    listing_ok(
        "context list (id)",
        &c.list_contexts(&circleci::Owner::Id(UUID.into())).await,
    );
    listing_ok("context vars", &c.list_context_vars(UUID).await);
    let v = SecretString::new("prism-test-value-123");
    c.create_env_var(slug, "FOO", &v).await.unwrap();
    c.get_env_var(slug, "FOO").await.unwrap();
    c.delete_env_var(slug, "FOO").await.unwrap();
    c.put_context_var(UUID, "FOO", &v).await.unwrap();
    c.delete_context_var(UUID, "FOO").await.unwrap();
    c.create_context(&circleci::Owner::Slug("gh/acme".into()), "deploy")
        .await
        .unwrap();
    let k = c
        .create_checkout_key(slug, circleci::CheckoutKeyType::DeployKey)
        .await
        .unwrap();
    c.delete_checkout_key(slug, &k.fingerprint).await.unwrap();
    let errs = p.request_errors();
    assert!(errs.is_empty(), "Prism rejected requests: {errs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_requests_pass_validation() {
    let p = prism("github-rest.subset.openapi.json");
    let g = github::Client::new(&p.url(), SecretString::new("prism-token"), http()).unwrap();
    // Prism's example Link header points at https://api.github.com: the client refuses
    // to follow a next page on another host (the token must not leave the API origin).
    let repos = g.list_org_repos("acme").await;
    assert!(!repos.items.is_empty());
    assert!(
        matches!(repos.error, Some(HttpError::BadUrl { .. })),
        "{:?}",
        repos.error
    );
    let scopes = [
        github::SecretScope::Repo("acme/widgets".into()),
        github::SecretScope::Org("acme".into()),
        github::SecretScope::Environment {
            repo: "acme/widgets".into(),
            environment: "production".into(),
        },
        github::SecretScope::DependabotRepo("acme/widgets".into()),
        github::SecretScope::DependabotOrg("acme".into()),
    ];
    // A valid base64 sealed value (Prism's example key is not a valid X25519 key, and
    // Prism cannot decrypt anyway: only the request shape is checked here).
    let enc = github::EncryptedSecret {
        key_id: "012345678912345678".into(),
        encrypted_value: "c2VhbGVkLWJveC1jaXBoZXJ0ZXh0LWZvci1wcmlzbQ==".into(),
    };
    for s in &scopes {
        listing_ok(&format!("{s:?} list"), &g.list_secrets(s).await);
        g.public_key(s).await.unwrap();
        g.get_secret(s, "GH_TOKEN").await.unwrap();
        let vis = github::OrgVisibility::Selected(vec![1296269]);
        g.put_secret(s, "FOO", &enc, s.is_org().then_some(&vis))
            .await
            .unwrap_or_else(|e| panic!("{s:?} put: {e}"));
        g.delete_secret(s, "FOO").await.unwrap();
    }
    listing_ok("deploy keys", &g.list_deploy_keys("acme/widgets").await);
    let k = g
        .create_deploy_key(
            "acme/widgets",
            "firebreak",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA fake",
            true,
        )
        .await
        .unwrap();
    g.delete_deploy_key("acme/widgets", k.id).await.unwrap();
    let errs = p.request_errors();
    assert!(errs.is_empty(), "Prism rejected requests: {errs:#?}");
}

/// Every GitHub request the inventory sends for the kinds the subset description lacks
/// (Actions variables, Codespaces secrets, organisation Dependabot secrets), against
/// GitHub's complete official description (npm `@octokit/openapi`, installed by
/// scripts/setup.d/30-prism.sh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_requests_pass_the_complete_description() {
    let full = std::env::var("FIREBREAK_GITHUB_OPENAPI").unwrap_or_else(|_| {
        panic!("FIREBREAK_GITHUB_OPENAPI is not set: run scripts/setup.d/30-prism.sh and source .tools/env.d/prism.sh (scripts/test does both)")
    });
    assert!(
        std::path::Path::new(&full).is_file(),
        "{full} missing: run scripts/setup.d/30-prism.sh"
    );
    let p = prism(&full);
    let g = github::Client::new(&p.url(), SecretString::new("prism-token"), http()).unwrap();
    for v in [
        github::VarScope::Repo("acme/widgets".into()),
        github::VarScope::Org("acme".into()),
        github::VarScope::Environment {
            repo: "acme/widgets".into(),
            environment: "production".into(),
        },
    ] {
        listing_ok(&format!("{v:?} variables"), &g.list_variables(&v).await);
    }
    for s in [
        github::SecretScope::CodespacesRepo("acme/widgets".into()),
        github::SecretScope::CodespacesOrg("acme".into()),
        github::SecretScope::DependabotOrg("acme".into()),
        github::SecretScope::Repo("acme/widgets".into()),
    ] {
        listing_ok(&format!("{s:?} list"), &g.list_secrets(&s).await);
    }
    listing_ok("environments", &g.list_environments("acme/widgets").await);
    let errs = p.request_errors();
    assert!(errs.is_empty(), "Prism rejected requests: {errs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_requests_pass_validation() {
    // the complete description: every kind the inventory lists (deploy keys and tokens,
    // access tokens, trigger tokens, runners) is checked against it
    let p = prism("gitlab-v4.openapi_v2.yaml");
    let g = gitlab::Client::new(
        &format!("{}/api/v4", p.url()),
        SecretString::new("prism-token"),
        http(),
    )
    .unwrap();
    listing_ok("projects", &g.list_projects(None).await);
    let v = SecretString::new("prism-test-value-123");
    for s in [
        gitlab::VarScope::Project("1".into()),
        gitlab::VarScope::Project("group/proj".into()),
        gitlab::VarScope::Group("5".into()),
        gitlab::VarScope::Instance,
    ] {
        // Prism answers the list with ONE object (GitLab's description says so): accepted.
        let l = g.list_variables(&s).await;
        listing_ok(&format!("{s:?} variables"), &l);
        assert_eq!(l.items[0].key, "TEST_VARIABLE_1");
        let opts = gitlab::VariableOptions {
            protected: Some(true),
            masked: Some(true),
            environment_scope: Some("production".into()),
            variable_type: None,
        };
        g.create_variable(&s, "FOO", &v, &opts)
            .await
            .unwrap_or_else(|e| panic!("{s:?} create: {e}"));
        g.update_variable(&s, "FOO", &v, &opts)
            .await
            .unwrap_or_else(|e| panic!("{s:?} update: {e}"));
        g.delete_variable(&s, "FOO", Some("production")).await.unwrap();
    }
    listing_ok("deploy keys", &g.list_deploy_keys("1").await);
    for o in [
        gitlab::Owner::Project("1".into()),
        gitlab::Owner::Group("5".into()),
    ] {
        listing_ok(&format!("{o:?} deploy tokens"), &g.list_deploy_tokens(&o).await);
        listing_ok(&format!("{o:?} access tokens"), &g.list_access_tokens(&o).await);
        listing_ok(&format!("{o:?} runners"), &g.list_runners(&o).await);
    }
    listing_ok("trigger tokens", &g.list_triggers("1").await);
    let errs = p.request_errors();
    assert!(errs.is_empty(), "Prism rejected requests: {errs:#?}");
}
