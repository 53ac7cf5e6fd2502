//! Exit codes per docs/exit-codes.md, on the cases issue 25 found wrong: 2 for a usage or
//! input error (nothing useful produced), 3 only when some inputs failed and the rest were
//! processed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn td(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

fn fb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(args)
        .env("CI", "1")
        .env_remove("CIRCLECI_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A missing path is an input error (2) naming it, not a partial failure over "0 files".
#[test]
fn a_missing_path_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let m = missing.to_str().unwrap();
    for args in [
        vec!["scan", m],
        vec!["hunt", m],
        vec!["scan", "--format", "json", m, m],
    ] {
        let o = fb(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("no-such-dir") && err.contains("no such file"),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    // one missing among readable inputs: the rest are processed, the run is partial
    let secrets = td("secrets");
    let o = fb(&["scan", "--format", "jsonl", m, secrets.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!o.stdout.is_empty());
}

/// Rules of log sources a query engine does not hold are out of its reach by design.
#[test]
fn hunt_compile_of_the_builtin_pack_succeeds() {
    for target in ["athena", "bigquery", "kql", "duckdb"] {
        let o = fb(&["hunt", "compile", "--target", target]);
        assert_eq!(o.status.code(), Some(0), "{target}: {}", stderr(&o));
        assert!(!o.stdout.is_empty());
    }
}

/// A malformed slug is a bad argument (2) naming the flag, before any token is asked for.
#[test]
fn a_malformed_slug_is_a_usage_error() {
    for (flag, bad) in [
        ("--circleci", "acme"),
        ("--circleci", "gh/acme"),
        ("--github", "gh/acme/app"),
    ] {
        let o = fb(&["scan", flag, bad]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {bad}: {err}");
        assert!(err.contains(flag), "{flag} {bad}: {err}");
    }
}

fn incident(dir: &Path) -> String {
    let db = dir.join("fb.db");
    let inv = dir.join("inventory.jsonl");
    std::fs::write(
        &inv,
        "{\"record\":\"item\",\"provider\":\"circleci\",\"kind\":\"env_var\",\"scope\":\"gh/acme/app\",\"name\":\"NPM_TOKEN\",\"created_at\":null,\"updated_at\":null,\"flags\":{}}\n",
    )
    .unwrap();
    let dbs = db.to_str().unwrap().to_string();
    let o = fb(&[
        "incident",
        "init",
        "cci",
        "--provider",
        "circleci",
        "--window",
        "2022-12-21..2023-01-05",
        "--from-inventory",
        inv.to_str().unwrap(),
        "--store",
        &dbs,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    dbs
}

/// `incident record` with the wrong `--kind` refuses (2), names the right kind, and stores
/// nothing: an empty record would count as a scan that found nothing.
#[test]
fn incident_record_of_the_wrong_kind_is_refused_before_storing() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = incident(dir.path());
    // a hunt output
    let hunt = dir.path().join("hunt.jsonl");
    let o = fb(&[
        "hunt",
        "--format",
        "jsonl",
        "--window",
        "2022-12-21..2023-01-05",
        "-o",
        hunt.to_str().unwrap(),
        td("hunt/github-audit.ndjson").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(std::fs::metadata(&hunt).unwrap().len() > 0);

    let o = fb(&[
        "incident",
        "record",
        "cci",
        "--kind",
        "scan",
        hunt.to_str().unwrap(),
        "--store",
        &dbs,
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nothing recorded") && err.contains("--kind hunt"),
        "{err}"
    );

    let o = fb(&["incident", "status", "cci", "--format", "json", "--store", &dbs]);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["scans"]["runs"], 0, "{s}");
    assert_eq!(s["hunts"]["runs"], 0, "{s}");

    // the right kind is recorded
    let o = fb(&[
        "incident",
        "record",
        "cci",
        "--kind",
        "hunt",
        hunt.to_str().unwrap(),
        "--store",
        &dbs,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = fb(&["incident", "status", "cci", "--format", "json", "--store", &dbs]);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["hunts"]["runs"], 1, "{s}");
}
