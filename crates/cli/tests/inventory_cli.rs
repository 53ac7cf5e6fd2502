//! `firebreak simulate` + `firebreak inventory` end to end: the three providers, snapshots,
//! diff, verify, a 403 recorded per item, and GitLab values never reaching the store.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Sim {
    child: Child,
    base: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("firebreak")
}

fn simulate(extra: &[&str]) -> Sim {
    let mut child = Command::new(bin())
        .args(["simulate", "--port", "0", "--projects", "40", "--seed", "7"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn firebreak simulate");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("listening line")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Sim { child, base }
}

fn inventory(store: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("inventory")
        .args(args)
        .arg("--store")
        .arg(store)
        .env("CIRCLECI_TOKEN", "sim-circleci-token")
        .env("GITHUB_TOKEN", "sim-github-token")
        .env("GITLAB_TOKEN", "sim-gitlab-token")
        .output()
        .unwrap()
}

fn lines(o: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn three_providers_snapshots_diff_verify() {
    let sim = simulate(&["--forbidden", "gh/sim-org/repo-00003"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");

    // CircleCI: a 403 on one project is one error entry; the rest is inventoried; exit 3.
    let cc = format!("{}/circleci/api/v2", sim.base);
    let o = inventory(
        &store,
        &[
            "--provider",
            "circleci",
            "--org",
            "sim-org",
            "--api-url",
            &cc,
            // JSON Lines (`--format json` was JSON Lines before the one output convention)
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let v = lines(&o);
    let errors: Vec<_> = v.iter().filter(|x| x["record"] == "error").collect();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e["scope"] == "gh/sim-org/repo-00003" && e["status"] == 403),
        "{errors:?}"
    );
    // v2 calls carry the slug as one URL-encoded path parameter (v1.1 calls use slashes).
    assert!(errors.iter().any(|e| e["request"]
        .as_str()
        .unwrap()
        .contains("/v2/project/gh%2Fsim-org%2Frepo-00003/")));
    let items: Vec<_> = v.iter().filter(|x| x["record"] == "item").collect();
    assert!(items
        .iter()
        .any(|i| i["kind"] == "checkout_key" && i["scope"] == "gh/sim-org/repo-00001"));
    assert!(items.iter().any(|i| i["kind"] == "context_var"));
    assert!(!items.iter().any(|i| i["scope"] == "gh/sim-org/repo-00003"));

    // GitHub: table output.
    let gh = format!("{}/github", sim.base);
    let o = inventory(
        &store,
        &["--provider", "github", "--org", "sim-org", "--api-url", &gh],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("KIND"), "{out}");
    assert!(out.contains("org_secret") && out.contains("ORG_NPM_TOKEN"));

    // GitLab: CSV; values never reach the output or the store.
    let gl = format!("{}/gitlab/api/v4", sim.base);
    let o = inventory(
        &store,
        &[
            "--provider",
            "gitlab",
            "--org",
            "sim-group",
            "--instance",
            "--api-url",
            &gl,
            "--format",
            "csv",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(csv.starts_with("provider,kind,scope,name,created_at,updated_at,flags"));
    assert!(
        csv.contains("group_variable")
            && csv.contains("instance_variable")
            && csv.contains("project_variable")
    );

    // list
    let o = inventory(&store, &["list", "--format", "jsonl"]);
    let snaps = lines(&o);
    assert_eq!(snaps.len(), 3);
    // `json` is one document
    let o = inventory(&store, &["list", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 3);

    // verify: seeded secrets predate 2023 -> NOT rotated, exit 1; GitLab has no timestamps -> unknown
    let o = inventory(
        &store,
        &["verify", "--rotated-after", "2023-01-04", "--format", "jsonl"],
    );
    assert_eq!(o.status.code(), Some(1));
    let rows = lines(&o);
    assert!(rows.iter().any(|r| r["verdict"] == "not_rotated"));
    // (GitLab variables have no timestamps; its tokens and keys have their created_at)
    let gitlab_var = |r: &&serde_json::Value| {
        r["provider"] == "gitlab" && r["kind"].as_str().is_some_and(|k| k.ends_with("_variable"))
    };
    assert!(rows.iter().filter(gitlab_var).count() > 0);
    assert!(rows.iter().filter(gitlab_var).all(|r| r["verdict"] == "unknown"));
    assert!(rows
        .iter()
        .filter(|r| r["kind"] == "project_access_token")
        .all(|r| r["verdict"] == "not_rotated" && r["evidence"] == "created_at"));
    // everything rotated before 2000 -> exit 0 unless a retired provider still holds secrets
    let o = inventory(
        &store,
        &["verify", "--rotated-after", "2000-01-01", "--snapshot", "2"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let o = inventory(
        &store,
        &[
            "verify",
            "--rotated-after",
            "2000-01-01",
            "--snapshot",
            "2",
            "--retired-provider",
            "github",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("retired provider"));

    // diff: a second GitHub run with no change -> exit 0
    let o = inventory(
        &store,
        &[
            "--provider",
            "github",
            "--org",
            "sim-org",
            "--api-url",
            &gh,
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!doc["items"].as_array().unwrap().is_empty() && doc["errors"].as_array().unwrap().is_empty());
    let o = inventory(&store, &["diff", "2", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let o = inventory(&store, &["diff", "1", "2", "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    let d = lines(&o);
    assert!(d
        .iter()
        .any(|x| x["change"] == "added" && x["provider"] == "github"));
    assert!(d
        .iter()
        .any(|x| x["change"] == "removed" && x["provider"] == "circleci"));

    // The store file is private and holds no GitLab value.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&store).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    drop(sim);
    let mut bytes = std::fs::read(&store).unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut p = store.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            bytes.extend(b);
        }
    }
    // Seeded values all start with "sim" followed by 29 alphanumerics (see sim::state);
    // the table names and identities never contain such a run.
    let leaked = bytes
        .windows(32)
        .any(|w| w.starts_with(b"sim") && w[3..].iter().all(|c| c.is_ascii_alphanumeric()));
    assert!(!leaked, "a seeded secret value reached the store");
    assert!(!csv.contains("value"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");
    let o = inventory(&store, &["--provider", "github"]);
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(bin())
        .args(["inventory", "--provider", "circleci", "--org", "x", "--store"])
        .arg(&store)
        .env_remove("CIRCLECI_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CIRCLECI_TOKEN"));
}

/// A token stored in a plain GitHub Actions variable is reported as a `finding` record
/// (redacted, fingerprinted), never with its value, in every format and in the store;
/// the run exits 1. GitLab's new kinds are listed with their own kinds.
#[test]
fn a_secret_in_an_actions_variable_is_a_finding_and_exits_1() {
    use firebreak_core::SecretString;
    use firebreak_providers::sim::{SimConfig, Simulator};
    use firebreak_providers::{Kind, Provider};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 6,
            log_projects: 0,
            ..SimConfig::default()
        }))
        .unwrap();
    let pat = concat!("ghp_", "R7fQ2mXv9LkTz3WcN8bYp1HsJd6Ga4Ue0Ki5");
    sim.put_secret(
        Provider::Github,
        Kind::ActionsVariable,
        "sim-org/repo-00001",
        "RELEASE_TOKEN",
        SecretString::new(pat),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");
    let gh = sim.github_url();
    for fmt in ["jsonl", "json", "text", "csv"] {
        let o = inventory(
            &store,
            &[
                "--provider",
                "github",
                "--org",
                "sim-org",
                "--api-url",
                &gh,
                "--format",
                fmt,
            ],
        );
        assert_eq!(
            o.status.code(),
            Some(1),
            "{fmt}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!out.contains(pat) && !err.contains(pat), "{fmt}: value printed");
        assert!(
            err.contains("1 secret(s) found in plain-text variable values"),
            "{err}"
        );
        if fmt == "jsonl" {
            let v = lines(&o);
            let f: Vec<_> = v.iter().filter(|x| x["record"] == "finding").collect();
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0]["kind"], "actions_variable");
            assert_eq!(f[0]["scope"], "sim-org/repo-00001");
            assert_eq!(f[0]["name"], "RELEASE_TOKEN");
            assert_eq!(f[0]["fingerprint"], firebreak_core::fingerprint(pat.as_bytes()));
            assert!(f[0]["redacted"].as_str().unwrap().len() < pat.len());
            // the variable itself is an item, and so are the other new GitHub kinds
            let kinds: Vec<&str> = v
                .iter()
                .filter(|x| x["record"] == "item")
                .filter_map(|x| x["kind"].as_str())
                .collect();
            for k in ["actions_variable", "org_variable", "codespaces_secret"] {
                assert!(kinds.contains(&k), "{k} missing");
            }
        }
        if fmt == "text" {
            assert!(out.contains("secret(s) found in variable values") && out.contains("RELEASE_TOKEN"));
        }
    }
    // GitLab: the new kinds, exit 0
    let o = inventory(
        &store,
        &[
            "--provider",
            "gitlab",
            "--org",
            "sim-group",
            "--api-url",
            &sim.gitlab_url(),
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let kinds: Vec<String> = lines(&o)
        .iter()
        .filter_map(|x| x["kind"].as_str().map(str::to_string))
        .collect();
    for k in ["group_access_token", "deploy_token", "runner"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing: {kinds:?}");
    }
    drop(sim);
    let mut bytes = std::fs::read(&store).unwrap();
    let mut wal = store.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    assert!(
        !bytes.windows(pat.len()).any(|w| w == pat.as_bytes()),
        "the variable's value reached the store"
    );
}

/// CircleCI with the GitHub side: every new kind in the JSON Lines, checkout keys linked
/// to the GitHub deploy key that is the same key, and the table naming the pairs.
#[test]
fn circleci_with_github_links_checkout_keys_to_deploy_keys() {
    let sim = simulate(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");
    let cc = format!("{}/circleci/api/v2", sim.base);
    let gh = format!("{}/github", sim.base);
    let base = [
        "--provider",
        "circleci",
        "--org",
        "sim-org",
        "--api-url",
        cc.as_str(),
        "--with-github",
        "--github-api-url",
        gh.as_str(),
        "--no-store",
    ];
    let o = inventory(&store, &[&base[..], &["--format", "jsonl"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = lines(&o);
    let kinds: std::collections::BTreeSet<&str> = recs.iter().filter_map(|r| r["kind"].as_str()).collect();
    for k in [
        "project_api_token",
        "runner_token",
        "aws_keypair",
        "checkout_key",
        "env_var",
    ] {
        assert!(kinds.contains(k), "{k}: {kinds:?}");
    }
    let linked: Vec<_> = recs
        .iter()
        .filter(|r| r["kind"] == "checkout_key" && r["flags"]["same_key_as"].is_string())
        .collect();
    assert!(!linked.is_empty());
    assert!(linked.iter().all(|r| r["flags"]["same_key_as"]
        .as_str()
        .unwrap()
        .starts_with("github/deploy_key/sim-org/")
        && r["flags"]["fingerprint_sha256"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")));
    // unfollowed projects are there
    assert!(recs.iter().any(|r| r["scope"]
        .as_str()
        .is_some_and(|s| s.starts_with("gh/sim-org/unfollowed-"))));
    let o = inventory(&store, &base);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("key(s) seen at both ends (one task covers both)"),
        "{text}"
    );
}
