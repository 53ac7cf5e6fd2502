//! `firebreak revoke` against the provider simulator (GitHub's credential revocation API,
//! npm token deletion) and a manual-only kind (CircleCI personal tokens): refused without
//! --yes, nothing sent with --dry-run, revoked and proven dead with --yes, journaled so
//! that a second run finds them dead already, recorded in an incident (the task's old
//! value proven dead), and no value in any output or in the store.

mod common;
use common::gh_token;
use firebreak_core::SecretString;
use firebreak_providers::sim::{SimConfig, Simulator};
use std::process::{Command, Output};

fn firebreak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.env_remove("RUST_LOG")
        .env_remove("FIREBREAK_STORE")
        .env("NO_COLOR", "1")
        .env("CI", "1");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn revoke_at_the_source_journal_and_record() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let gh = gh_token("ghp_", "LeakedFromACiLogLastTuesday12345");
    let npm = "npm_Lk8bGk2PqR7tLm4nVw9sQw3rTy8uIoP2aSdF".to_string();
    let cc = "CCIPAT_Lx3Kq9Vb2Nw7Rt5Yp8Zs1A_0123456789abcdef0123456789abcdef01234567".to_string();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 1,
            log_projects: 0,
            github_token: SecretString::new(gh.clone()),
            npm_token: Some(SecretString::new(npm.clone())),
            circleci_token: SecretString::new(cc.clone()),
            ..SimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let values = dir.path().join("leaked.env");
    std::fs::write(
        &values,
        format!("GITHUB_TOKEN={gh}\nNPM_TOKEN={npm}\nCIRCLE_TOKEN={cc}\nnot a line\n"),
    )
    .unwrap();
    let eps = [
        "--endpoint".to_string(),
        format!("github={}", sim.github_url()),
        "--endpoint".to_string(),
        format!("npm={}", sim.npm_url()),
        "--endpoint".to_string(),
        format!("circleci={}/circleci", sim.base_url()),
    ];
    let no_values = |t: &str| {
        for v in [&gh, &npm, &cc] {
            assert!(!t.contains(v.as_str()), "a value was printed:\n{t}");
        }
    };
    let requests = || sim.with_state(|s| s.requests.iter().sum::<u64>());

    // refused without --yes: nothing sent
    let before = requests();
    let o = firebreak()
        .args(["revoke", "--values"])
        .arg(&values)
        .args(&eps)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--yes"), "{}", text(&o));
    // --dry-run: the requests by template, nothing sent
    let o = firebreak()
        .args(["revoke", "--dry-run", "--values"])
        .arg(&values)
        .args(&eps)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("POST ") && t.contains("/credentials/revoke"), "{t}");
    assert!(t.contains("/-/npm/v1/tokens/token/{{token}}"), "{t}");
    assert!(t.contains("Personal API Tokens"), "{t}");
    assert_eq!(requests(), before, "--dry-run sent something");
    no_values(&t);

    // an incident with a GITHUB_TOKEN task
    let inv = dir.path().join("inventory.jsonl");
    let item = serde_json::json!({"record":"item","provider":"circleci","kind":"env_var",
        "scope":"gh/acme/app","name":"GITHUB_TOKEN","created_at":"2021-06-01T00:00:00Z",
        "updated_at":"2023-01-10T00:00:00Z","flags":{}});
    std::fs::write(&inv, format!("{item}\n")).unwrap();
    let o = firebreak()
        .args(["incident", "init", "leak", "--provider", "circleci"])
        .args(["--window", "2023-01-01..2023-01-05", "--from-inventory"])
        .arg(&inv)
        .arg("--store")
        .arg(&db)
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", text(&o));
    let status = || {
        let o = firebreak()
            .args(["incident", "status", "leak", "--format", "json", "--store"])
            .arg(&db)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["secret"] == "GITHUB_TOKEN")
            .unwrap()
            .clone()
    };
    assert!(status().get("old_validation").is_none());

    // --yes: GitHub and npm revoked and proven dead; CircleCI needs a person (exit 1);
    // the malformed line makes it partial (3)
    let o = firebreak()
        .args(["revoke", "--yes", "--incident", "leak", "-f", "jsonl", "--values"])
        .arg(&values)
        .arg("--store")
        .arg(&db)
        .args(&eps)
        .output()
        .unwrap();
    let t = text(&o);
    no_values(&t);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains(":4: not a NAME=VALUE line"), "{t}");
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!(of("GITHUB_TOKEN")["revocation"]["status"], "revoked", "{t}");
    assert_eq!(of("GITHUB_TOKEN")["validation"]["status"], "dead", "{t}");
    assert_eq!(of("NPM_TOKEN")["revocation"]["status"], "revoked", "{t}");
    assert_eq!(of("CIRCLE_TOKEN")["revocation"]["status"], "manual", "{t}");
    let summary = rows.last().unwrap();
    assert_eq!(summary["revoked"], 2, "{t}");
    assert_eq!(summary["manual"], 1, "{t}");
    // the provider's own view: both tokens refused now
    assert_eq!(sim.with_state(|s| s.revoked.len()), 2);
    // the incident: the old GitHub token is proven dead at its source
    let task = status();
    assert_eq!(task["old_validation"]["status"], "dead", "{task}");
    assert_eq!(task["old_validation"]["validator"], "github.token", "{task}");

    // run again (as after a crash): dead already, nothing revoked twice, the journal says
    // what was done; only the GitHub token, so nothing is left open: exit 0
    let o = firebreak()
        .args(["revoke", "--yes", "--only", "GITHUB_TOKEN", "--values"])
        .arg(&values)
        .arg("--store")
        .arg(&db)
        .args(&eps)
        .output()
        .unwrap();
    let t = text(&o);
    no_values(&t);
    assert_eq!(o.status.code(), Some(3), "the malformed line still counts: {t}");
    assert!(t.contains("GITHUB_TOKEN [github.token]: ALREADY DEAD"), "{t}");
    assert!(t.contains("(journal: revoked at "), "{t}");
    // the store holds keyed fingerprints only
    let raw = std::fs::read(&db).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    no_values(&raw);
    assert!(
        !raw.contains(&firebreak_core::fingerprint(gh.as_bytes())),
        "a plain hash was stored"
    );
}
