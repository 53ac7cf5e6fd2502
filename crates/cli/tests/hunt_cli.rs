//! End-to-end tests of `firebreak hunt` and `firebreak hunt compile`.

use assert_cmd::Command;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn td(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

fn firebreak() -> Command {
    Command::cargo_bin("firebreak").unwrap()
}

fn jsonl(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const WINDOW: &str = "2022-12-21..2023-01-05";
const BASELINE: &str = "2022-12-01..2022-12-21";

#[test]
fn hunts_every_source_in_the_window() {
    let out = firebreak()
        .args(["hunt", "--window", WINDOW, "--format", "jsonl"])
        .arg(td("hunt"))
        .args(["--source", "github"]) // forcing a source on a mixed dir is wrong: checked below
        .output()
        .unwrap();
    // forced github over CSV/CloudTrail files: records lack GitHub timestamps -> malformed, partial
    assert_eq!(out.status.code(), Some(3));

    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(td("hunt")).unwrap().flatten() {
        if f.path().is_file() {
            std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
        }
    }
    let out = firebreak()
        .args(["hunt", "--window", WINDOW, "--format", "jsonl"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let f = jsonl(&out.stdout);
    let sources: BTreeSet<&str> = f.iter().map(|x| x["source"].as_str().unwrap()).collect();
    for s in [
        "cloudtrail",
        "github",
        "circleci",
        "gcp",
        "azure_signin",
        "azure_activity",
        "firebreak",
    ] {
        assert!(sources.contains(s), "no finding from {s}: {sources:?}");
    }
    let titles: BTreeSet<&str> = f.iter().map(|x| x["title"].as_str().unwrap()).collect();
    for t in [
        "GitHub many repositories cloned by one actor",
        "CircleCI project SSH or checkout key created",
        "AWS IAM access key created",
        "GCP service account key created",
        "Azure role assignment created or deleted",
    ] {
        assert!(titles.contains(t), "missing {t}: {titles:?}");
    }
    // every finding is inside the window and points back to its record
    for x in &f {
        let t = x["time"].as_str().unwrap();
        assert!(("2022-12-21".."2023-01-05").contains(&t), "{t}");
        assert!(x["file"].as_str().unwrap().len() > 1 && x["record"].as_u64().unwrap() >= 1);
        assert!(x["rule_id"].is_string() && x["level"].is_string());
    }
}

#[test]
fn novelty_against_baseline() {
    let out = firebreak()
        .args([
            "hunt",
            "--window",
            WINDOW,
            "--baseline",
            BASELINE,
            "--format",
            "json",
            "--no-builtin",
            "--rules",
        ])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hunt/rules/firebreak"))
        .arg(td("hunt/github-audit.json"))
        .arg(td("hunt/azure-signin.ndjson"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nov: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "novelty")
        .collect();
    assert!(nov.iter().any(|f| f["rule_id"] == "novelty.source_ip"
        && f["source_ip"] == "198.51.100.66"
        && f["actor"] == "acme-ci-bot"));
    assert!(nov
        .iter()
        .any(|f| f["rule_id"] == "novelty.country" && f["location"] == "RO"));
    // the baseline IP of the CI bot is not new
    assert!(!nov
        .iter()
        .any(|f| f["rule_id"] == "novelty.source_ip" && f["source_ip"] == "34.73.10.2"));
    assert!(doc["summary"]["by_identity"].as_array().unwrap().len() >= 2);
}

#[test]
fn bad_inputs_are_reported_and_the_rest_is_hunted() {
    let out = firebreak()
        .args(["hunt", "--format", "jsonl"])
        .arg(td("hunt/bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("github-bad-line.ndjson:2 (record 2)"), "{err}");
    assert!(
        err.contains("github-bad-line.ndjson:4 (record 4)") && err.contains("timestamp"),
        "{err}"
    );
    assert!(err.contains("circleci-bad-row.csv:3"), "{err}");
    assert!(err.contains("cloudtrail-truncated.json.gz"), "{err}");
    assert!(err.contains("unknown_type") && err.contains("notes.txt"), "{err}");
    // good records around the bad ones were still hunted
    let f = jsonl(&out.stdout);
    assert!(f
        .iter()
        .any(|x| x["file"].as_str().unwrap().ends_with("github-bad-line.ndjson")));
    assert!(f
        .iter()
        .any(|x| x["file"].as_str().unwrap().ends_with("circleci-bad-row.csv")));
}

#[test]
fn real_cloudtrail_sample_csv_and_text() {
    let out = firebreak()
        .args(["hunt", "--format", "csv", "--window", "2023-07-10..2023-07-11"])
        .arg(td("cloudtrail/invictus-aws-2023-07-10/CloudTrail"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("id,kind,rule_id,title,level,time,source,actor"));
    assert!(text.contains("AWS GetCallerIdentity (whoami)"));
    assert!(text.contains("AccessDenied") || text.contains("Client.UnauthorizedOperation"));
    let out = firebreak()
        .args(["hunt", "--format", "text", "--window", "2024-01-01.."])
        .arg(td("cloudtrail/invictus-aws-2023-07-10/CloudTrail"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no findings"));
}

#[test]
fn a_broken_rule_file_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.yml");
    std::fs::write(&p, "title: x\nlogsource: {product: aws}\ndetection:\n  sel: {eventName: A}\n  condition: sel and missing\n").unwrap();
    let out = firebreak()
        .arg("hunt")
        .arg("--rules")
        .arg(&p)
        .arg(td("hunt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yml") && err.contains("missing"), "{err}");
}

#[test]
fn compile_targets() {
    for (t, want) in [
        ("athena", "FROM cloudtrail_logs"),
        ("bigquery", "cloudaudit_googleapis_com_activity"),
        ("kql", "SigninLogs\n| where"),
        ("duckdb", "read_json_objects("),
    ] {
        let out = firebreak()
            .args(["hunt", "compile", "--target", t])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains(want), "{t}: {s}");
        // rules for other sources (and aggregations) are reported, not silently dropped
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not compiled"), "{t}: {err}");
        assert_eq!(out.status.code(), Some(3));
    }
}
