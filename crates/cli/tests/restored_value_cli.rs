//! A leaked CircleCI value stored again is not "rewritten": the incident keeps a keyed
//! fingerprint of the leaked value's last 4 characters (`incident init --values`), the
//! store keeps one of the tail CircleCI's API shows (`xxxxABCD`), and status compares
//! them. A really new value (another tail) is rewritten. Nothing of the value is stored
//! or printed.

use firebreak_core::SecretString;
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{HttpConfig, Kind, Provider};
use std::process::Command;

fn firebreak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.env_remove("RUST_LOG")
        .env_remove("FIREBREAK_STORE")
        .env("NO_COLOR", "1")
        .env("CI", "1");
    c
}

#[test]
fn a_leaked_value_stored_again_is_caught_by_its_masked_tail() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 1,
            log_projects: 0,
            ..SimConfig::default()
        }))
        .unwrap();
    let v = sim
        .secrets()
        .into_iter()
        .find(|s| s.provider == Provider::Circleci && s.kind == Kind::EnvVar)
        .expect("a CircleCI variable");
    let leaked = sim
        .secret_value(Provider::Circleci, Kind::EnvVar, &v.scope, &v.name)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let values = dir.path().join("old.env");
    std::fs::write(&values, format!("{}={}\n", v.name, leaked.expose())).unwrap();
    let client = firebreak_providers::circleci::Client::new(
        &sim.circleci_url(),
        sim.config().circleci_token.clone(),
        HttpConfig::default(),
    )
    .unwrap();
    let inventory = || {
        let o = firebreak()
            .args([
                "inventory",
                "--provider",
                "circleci",
                "--org",
                &sim.config().org,
                "--api-url",
            ])
            .arg(sim.circleci_url())
            .arg("--store")
            .arg(&db)
            .env("CIRCLECI_TOKEN", sim.config().circleci_token.expose())
            .output()
            .unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(!out.contains(leaked.expose()));
    };
    let task = || {
        let o = firebreak()
            .args(["incident", "status", "cci", "--format", "json", "--store"])
            .arg(&db)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["secret"] == v.name.as_str() && t["scope"] == format!("circleci/{}", v.scope))
            .unwrap()
            .clone()
    };

    // the leaked value written again after the window
    rt.block_on(client.create_env_var(&v.scope, &v.name, &leaked))
        .unwrap();
    inventory();
    let o = firebreak()
        .args(["incident", "init", "cci", "--provider", "circleci"])
        .args(["--window", "2023-01-01..2023-01-05", "--values"])
        .arg(&values)
        .arg("--store")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let t = task();
    assert_eq!(t["state"], "pending", "{t}");
    assert!(
        t["evidence"].as_str().unwrap().contains("same 4 characters"),
        "{t}"
    );

    // a new value: rewritten, and the tail says it differs
    let new = SecretString::new(format!("{}-rotated-Q7x9", leaked.expose()));
    rt.block_on(client.create_env_var(&v.scope, &v.name, &new))
        .unwrap();
    inventory();
    let t = task();
    assert_eq!(t["state"], "rewritten", "{t}");
    assert!(
        t["evidence"].as_str().unwrap().contains("differ from the leaked"),
        "{t}"
    );

    // the store holds neither the value, nor its tail, nor a plain hash of either
    let raw = std::fs::read(&db).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains(leaked.expose()));
    assert!(!raw.contains(&firebreak_core::fingerprint(leaked.expose().as_bytes())));
    let tail: String = leaked
        .expose()
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert!(!raw.contains(&format!("xxxx{tail}")));
}

/// GitLab variables carry no timestamp but GitLab returns their values: the store keeps a
/// keyed fingerprint of each (never the value), and status compares it with the leaked
/// value's: the same value is `pending`, another one `rewritten`.
#[test]
fn a_gitlab_variable_without_timestamps_is_judged_by_its_keyed_value_fingerprint() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 1,
            log_projects: 0,
            ..SimConfig::default()
        }))
        .unwrap();
    let v = sim
        .secrets()
        .into_iter()
        .find(|s| s.provider == Provider::Gitlab && s.kind == Kind::ProjectVariable)
        .expect("a GitLab project variable");
    let leaked = sim
        .secret_value(Provider::Gitlab, Kind::ProjectVariable, &v.scope, &v.name)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let values = dir.path().join("old.env");
    std::fs::write(&values, format!("{}={}\n", v.name, leaked.expose())).unwrap();
    let inventory = || {
        let o = firebreak()
            .args([
                "inventory",
                "--provider",
                "gitlab",
                "--org",
                &sim.config().gitlab_group,
                "--api-url",
            ])
            .arg(sim.gitlab_url())
            .arg("--store")
            .arg(&db)
            .env("GITLAB_TOKEN", sim.config().gitlab_token.expose())
            .output()
            .unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(!out.contains(leaked.expose()), "a value printed");
    };
    let task = || {
        let o = firebreak()
            .args(["incident", "status", "cci", "--format", "json", "--store"])
            .arg(&db)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["secret"] == v.name.as_str() && t["kind"] == "project_variable")
            .unwrap_or_else(|| panic!("no task for {} in {doc}", v.name))
            .clone()
    };
    inventory();
    let o = firebreak()
        .args(["incident", "init", "cci", "--provider", "gitlab"])
        .args(["--window", "2023-01-01..2023-01-05", "--values"])
        .arg(&values)
        .arg("--store")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // still the leaked value
    let t = task();
    assert_eq!(t["state"], "pending", "{t}");
    assert!(
        t["evidence"].as_str().unwrap().contains("is the leaked one"),
        "{t}"
    );

    // a new value written: rewritten, by the fingerprints
    let client = firebreak_providers::gitlab::Client::new(
        &sim.gitlab_url(),
        sim.config().gitlab_token.clone(),
        HttpConfig::default(),
    )
    .unwrap();
    let new = SecretString::new(format!("{}-rotated-Z3", leaked.expose()));
    rt.block_on(client.update_variable(
        &firebreak_providers::gitlab::VarScope::Project(v.scope.clone()),
        &v.name,
        &new,
        &Default::default(),
    ))
    .unwrap();
    inventory();
    let t = task();
    assert_eq!(t["state"], "rewritten", "{t}");
    assert!(
        t["evidence"]
            .as_str()
            .unwrap()
            .contains("differs from the leaked one"),
        "{t}"
    );
    // the store holds no value and no plain hash of one
    let raw = std::fs::read(&db).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    for x in [&leaked, &new] {
        assert!(!raw.contains(x.expose()));
        assert!(!raw.contains(&firebreak_core::fingerprint(x.expose().as_bytes())));
    }
}
