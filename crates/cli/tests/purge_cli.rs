//! `firebreak inventory purge`: retiring CircleCI. Only secrets whose replacement is
//! proven in another provider's snapshot are deleted unless --force; --dry-run deletes
//! nothing; a second run finds them gone; the journal keeps what was done.

use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{Kind, Provider};
use std::process::Command;

fn firebreak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.env_remove("RUST_LOG")
        .env_remove("FIREBREAK_STORE")
        .env_remove("FIREBREAK_CONFIG")
        .env("NO_COLOR", "1");
    c
}

fn rows(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn purge_deletes_only_what_is_replaced_and_resumes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 2,
            log_projects: 0,
            ..SimConfig::default()
        }))
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("fb.db");
    let org = sim.config().org.clone();
    let inv = |p: &str, url: String, var: &str, tok: &str| {
        let o = firebreak()
            .args([
                "inventory",
                "--provider",
                p,
                "--org",
                &org,
                "--api-url",
                &url,
                "--store",
            ])
            .arg(&db)
            .env(var, tok)
            .output()
            .unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let cc_tok = sim.config().circleci_token.expose().to_string();
    let gh_tok = sim.config().github_token.expose().to_string();
    inv("circleci", sim.circleci_url(), "CIRCLECI_TOKEN", &cc_tok);
    // the replacement: NPM_TOKEN moved to GitHub Actions (written now, after CircleCI's)
    let gh = firebreak_providers::github::Client::new(
        &sim.github_url(),
        sim.config().github_token.clone(),
        firebreak_providers::HttpConfig::default(),
    )
    .unwrap();
    let scope = firebreak_providers::github::SecretScope::Org(org.clone());
    let pk = rt.block_on(gh.public_key(&scope)).unwrap();
    let sealed = firebreak_rotate::sinks::seal_for_github(
        &pk.key,
        &firebreak_core::SecretString::new("npm_Zx8bGk2PqR7tLm4nVw9sQw3rTy8uIoP2aSdF"),
    )
    .unwrap();
    rt.block_on(gh.put_secret(
        &scope,
        "NPM_TOKEN",
        &firebreak_providers::github::EncryptedSecret {
            key_id: pk.key_id,
            encrypted_value: sealed,
        },
        Some(&firebreak_providers::github::OrgVisibility::All),
    ))
    .unwrap();
    inv("github", sim.github_url(), "GITHUB_TOKEN", &gh_tok);
    let cc_vars = || -> usize {
        sim.secrets()
            .iter()
            .filter(|s| s.provider == Provider::Circleci && s.kind == Kind::EnvVar)
            .count()
    };
    let before = cc_vars();
    let purge = |extra: &[&str]| {
        firebreak()
            .args([
                "inventory",
                "purge",
                "--provider",
                "circleci",
                "-f",
                "jsonl",
                "--api-url",
            ])
            .arg(sim.circleci_url())
            .args(extra)
            .arg("--store")
            .arg(&db)
            .env("CIRCLECI_TOKEN", &cc_tok)
            .output()
            .unwrap()
    };
    // refused without --yes or --dry-run
    let o = purge(&[]);
    assert_eq!(o.status.code(), Some(2));
    // dry run: a plan, nothing deleted
    let o = purge(&["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let plan = rows(&o.stdout);
    let would: Vec<&serde_json::Value> = plan.iter().filter(|r| r["action"] == "would_delete").collect();
    let kept: Vec<&serde_json::Value> = plan.iter().filter(|r| r["action"] == "kept").collect();
    assert!(!would.is_empty() && !kept.is_empty(), "{plan:?}");
    assert!(would
        .iter()
        .all(|r| r["replacement"].as_str().unwrap().starts_with("github/")));
    assert!(kept.iter().all(|r| r["reason"].as_str().is_some()));
    assert_eq!(cc_vars(), before, "a dry run deleted something");
    // --yes: the replaced ones go; what is kept stays (exit 1: still stored)
    let o = purge(&["--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let done = rows(&o.stdout);
    let deleted = done.iter().filter(|r| r["action"] == "deleted").count();
    let deleted_vars = done
        .iter()
        .filter(|r| r["action"] == "deleted" && r["secret"].as_str().unwrap().contains("/env_var/"))
        .count();
    assert_eq!(deleted, would.len());
    assert_eq!(cc_vars(), before - deleted_vars);
    // again, as after a crash: the deleted ones are gone, and the journal says so
    let o = purge(&["--yes"]);
    let again = rows(&o.stdout);
    assert_eq!(again.iter().filter(|r| r["action"] == "gone").count(), deleted);
    assert!(again
        .iter()
        .filter(|r| r["action"] == "gone")
        .all(|r| r["journal"].as_str().unwrap().starts_with("deleted at ")));
}
