//! `firebreak rotate plan|run|status|resume|rollback` end to end on the provider simulator.

use assert_cmd::Command;
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{Kind, Provider};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn fb(store: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("firebreak").unwrap();
    c.arg("rotate")
        .arg("--store")
        .arg(store)
        .env("FIREBREAK_ROTATE_KEY", KEY)
        .env("CIRCLECI_TOKEN", "sim-circleci-token")
        .env("GITHUB_TOKEN", "sim-github-token")
        .env("GITLAB_TOKEN", "sim-gitlab-token")
        .env("CI", "1");
    c
}

#[test]
fn plan_run_status_resume_rollback() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 5,
            log_projects: 0,
            ..SimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");

    // plan --from-inventory: same name across providers → one identity, keys → manual/deploy_key
    let inv = dir.path().join("inv.jsonl");
    std::fs::write(
        &inv,
        "{\"provider\":\"circleci\",\"kind\":\"env_var\",\"scope\":\"gh/sim-org/repo-00001\",\"name\":\"NPM_TOKEN\"}\n\
         {\"provider\":\"github\",\"kind\":\"actions_secret\",\"scope\":\"sim-org/repo-00001\",\"name\":\"NPM_TOKEN\"}\n\
         {\"provider\":\"circleci\",\"kind\":\"ssh_key\",\"scope\":\"gh/sim-org/repo-00001\",\"name\":\"aa:bb\"}\n\
         garbage\n",
    )
    .unwrap();
    let out = fb(&store)
        .args(["plan", "--from-inventory"])
        .arg(&inv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let draft = String::from_utf8(out.stdout).unwrap();
    assert!(
        draft.contains("name = \"NPM_TOKEN\"") && draft.contains("type = \"manual\""),
        "{draft}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inv.jsonl:4"),
        "bad line reported with file:line"
    );

    // a runnable plan: random source, CircleCI + GitHub sinks
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[providers.circleci]\napi_url = \"{}\"\n[providers.github]\napi_url = \"{}\"\n\n\
             [[secret]]\nname = \"NPM_TOKEN\"\nshared = true\nsource = {{ type = \"random\", length = 40 }}\n\
             [[secret.sink]]\ntype = \"circleci_env\"\nproject = \"gh/sim-org/repo-00001\"\nname = \"NPM_TOKEN\"\n\
             [[secret.sink]]\ntype = \"github_secret\"\nrepo = \"sim-org/repo-00001\"\nname = \"NPM_TOKEN\"\n\n\
             [[secret]]\nname = \"gpg\"\nsource = {{ type = \"manual\", instructions = \"re-sign with the new key\" }}\n",
            sim.circleci_url(),
            sim.github_url()
        ),
    )
    .unwrap();
    // dry run changes nothing
    fb(&store)
        .args(["run", "--dry-run"])
        .arg(&plan)
        .assert()
        .success();
    assert!(
        !store.exists()
            || sim
                .secret(
                    Provider::Circleci,
                    Kind::EnvVar,
                    "gh/sim-org/repo-00001",
                    "NPM_TOKEN"
                )
                .is_none()
    );
    // no key: a usage error naming the variable
    let out = fb(&store)
        .env_remove("FIREBREAK_ROTATE_KEY")
        .arg("run")
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIREBREAK_ROTATE_KEY"));
    // run: one done, one manual → exit 1
    let out = fb(&store)
        .args(["run", "--concurrency", "2"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = sim
        .secret_value(
            Provider::Circleci,
            Kind::EnvVar,
            "gh/sim-org/repo-00001",
            "NPM_TOKEN",
        )
        .unwrap();
    let g = sim
        .secret_value(
            Provider::Github,
            Kind::ActionsSecret,
            "sim-org/repo-00001",
            "NPM_TOKEN",
        )
        .unwrap();
    assert_eq!(v.fingerprint(), g.fingerprint());
    assert_eq!(v.len(), 40);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(v.expose()), "a secret value was printed");

    // status: JSON Lines (`--format json` was JSON Lines before the one output convention)
    let out = fb(&store).args(["status", "--format", "jsonl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["secret"], "NPM_TOKEN");
    assert_eq!(rows[0]["state"], "done");
    assert_eq!(rows[0]["sinks_verified"], 2);
    // a keyed fingerprint (HMAC under a key derived from the rotation key), never the
    // plain hash of the value
    let key = firebreak_rotate::SealKey::from_base64(KEY, "test").unwrap();
    assert_eq!(rows[0]["new_fingerprint"], key.fingerprint(&v));
    assert_ne!(rows[0]["new_fingerprint"], v.fingerprint());
    assert_eq!(rows[1]["state"], "manual");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(v.expose()));
    // status: one JSON document holding the same rows
    let out = fb(&store).args(["status", "-f", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(doc["secrets"][0]["secret"], "NPM_TOKEN");
    fb(&store)
        .arg("status")
        .assert()
        .code(1)
        .stdout(predicates::str::contains("re-sign with the new key"));

    // resume of a finished run: nothing to do, same outcome
    fb(&store).arg("resume").assert().code(1);
    // rollback after the old credential was revoked is refused
    let out = fb(&store).args(["rollback", "NPM_TOKEN"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already revoked"));
    drop(sim);
}

/// A drafted plan's placeholders (a context sink's owner) are refused by `--dry-run` as by
/// `run`, naming the secret and the field, and nothing is started.
#[test]
fn drafted_placeholders_are_refused_by_dry_run_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");
    let inv = dir.path().join("inv.jsonl");
    std::fs::write(
        &inv,
        "{\"provider\":\"circleci\",\"kind\":\"context_var\",\"scope\":\"deploy\",\"name\":\"NPM_TOKEN\"}\n",
    )
    .unwrap();
    let out = fb(&store)
        .args(["plan", "--from-inventory"])
        .arg(&inv)
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan = dir.path().join("draft.toml");
    // the operator picks a source but forgets the context's owner
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace("type = \"manual\"", "type = \"random\"");
    let text = text
        .lines()
        .filter(|l| !l.starts_with("instructions"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&plan, text).unwrap();
    for args in [vec!["run", "--dry-run"], vec!["run"]] {
        let out = fb(&store).args(&args).arg(&plan).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("draft.toml")
                && err.contains("NPM_TOKEN")
                && err.contains("owner_slug")
                && err.contains("CHANGEME"),
            "{args:?}: {err}"
        );
    }
    assert!(!store.exists(), "a refused plan must not create a run");
}

/// A source's error text that quotes a credential is redacted before `status` shows it
/// and before the journal stores it: the token is in no output and nowhere in the store.
#[test]
fn a_source_error_quoting_a_token_is_never_shown_or_stored_whole() {
    const TOKEN: &str = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yu1Io6Pa0Sd2Fg4";
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");
    let script = dir.path().join("src.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nread req\necho '{{\"error\":\"upstream refused token {TOKEN} (password=hunter2hunter2)\"}}'\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[[secret]]\nname = \"UPLOAD_TOKEN\"\n[secret.source]\ntype = \"command\"\nprogram = \"{}\"\n",
            script.display()
        ),
    )
    .unwrap();
    let run = fb(&store).arg("run").arg(&plan).output().unwrap();
    let status = fb(&store).args(["status", "--format", "json"]).output().unwrap();
    let text = fb(&store).arg("status").output().unwrap();
    for (what, o) in [("run", &run), ("status json", &status), ("status", &text)] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!all.contains("Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yu1"), "{what}: {all}");
        assert!(!all.contains("hunter2hunter2"), "{what}: {all}");
    }
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("stopped") && shown.contains("upstream refused token ghp_"),
        "{shown}"
    );
    // nowhere in the store's files either
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let p = f.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains("Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yu1") || p == script,
            "{} holds the token",
            p.display()
        );
    }
}
