//! End-to-end tests of `firebreak hunt` for field mappings, rules that can never fire,
//! and the Entra ID audit / risk, Microsoft 365, Google Workspace and Okta sources.

use assert_cmd::Command;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn td(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/hunt")
        .join(p)
}

fn firebreak() -> Command {
    Command::cargo_bin("firebreak").unwrap()
}

const NEVER: &str = "title: Single-factor sign-in succeeded\nid: never-1\nlogsource:\n    product: azure\n    service: signinlogs\ndetection:\n    selection:\n        Status: Success\n        AuthenticationRequirement: singleFactorAuthentication\n    condition: selection\nlevel: medium\n";
const MAPPED: &str = "title: Bad password (Log Analytics names)\nid: mapped-1\nlogsource:\n    product: azure\n    service: signinlogs\ndetection:\n    selection:\n        ResultType: 50126\n        DeviceDetail.operatingSystem: Linux\n    filter:\n        type: AssumedRole\n    condition: selection and not filter\nlevel: medium\n";

#[test]
fn a_rule_that_can_never_fire_is_reported_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("never.yml"), NEVER).unwrap();
    std::fs::write(dir.path().join("mapped.yml"), MAPPED).unwrap();
    let never_file = dir.path().join("never.yml").display().to_string();
    for format in ["text", "json"] {
        let out = firebreak()
            .args(["hunt", "--no-builtin", "--format", format, "--rules"])
            .arg(dir.path())
            .arg(td("azure-signin.ndjson"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "hunt: rule not run: Single-factor sign-in succeeded ({never_file}): can never fire: unknown field \"Status\" for logsource azure/signinlogs"
            )),
            "{stderr}"
        );
        let mapped_file = dir.path().join("mapped.yml").display().to_string();
        assert!(
            stderr.contains(&format!(
                "hunt: rule warning: Bad password (Log Analytics names) ({mapped_file}): unknown field \"type\" for logsource azure/signinlogs: conditions on it read it as missing"
            )),
            "{stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        if format == "json" {
            assert_eq!(doc_warnings(&stdout), 1);
            let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let u = doc["unsupported_rules"].as_array().unwrap();
            assert_eq!(u.len(), 1, "{u:?}");
            assert_eq!(u[0]["file"], never_file.as_str());
            assert_eq!(
                u[0]["reason"],
                "can never fire: unknown field \"Status\" for logsource azure/signinlogs"
            );
            // the mapped rule fired on the raw export: three bad passwords
            let f = doc["findings"].as_array().unwrap();
            assert_eq!(f.len(), 3);
            assert!(f
                .iter()
                .all(|x| x["rule_id"] == "mapped-1" && x["error_code"] == "50126"));
        } else {
            assert!(stdout.contains("Bad password (Log Analytics names)"), "{stdout}");
        }
    }
}

fn doc_warnings(json: &str) -> usize {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let w = doc["rule_warnings"].as_array().unwrap();
    assert!(w.iter().all(|x| x["reason"]
        .as_str()
        .unwrap()
        .starts_with("unknown field \"type\"")));
    w.len()
}

#[test]
fn the_new_sources_are_hunted_and_listed() {
    let out = firebreak()
        .args(["hunt", "--window", "2022-12-21..2023-01-05", "--format", "jsonl"])
        .args(
            [
                "azure-audit.json",
                "azure-audit-graph.json",
                "azure-riskdetections.json",
                "m365-audit.json",
                "google-workspace-admin.json",
                "okta-system-log.ndjson",
            ]
            .map(td),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sources: BTreeSet<&str> = rows.iter().map(|r| r["source"].as_str().unwrap()).collect();
    assert_eq!(
        sources,
        BTreeSet::from(["azure_audit", "azure_risk", "m365", "google_workspace", "okta"])
    );
    assert_eq!(rows.len(), 16, "{stderr}");
    // --source names the new kinds
    let out = firebreak()
        .args(["hunt", "--source", "okta", "--format", "jsonl"])
        .arg(td("okta-system-log.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // --list-rules shows their logsources
    let out = firebreak()
        .args(["hunt", "--list-rules", "--format", "jsonl"])
        .output()
        .unwrap();
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["logsource"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for ls in [
        "azure/auditlogs",
        "azure/riskdetection",
        "m365/audit",
        "gcp/google_workspace,gcp/gcp.audit",
        "gcp/google_workspace",
        "okta/okta",
    ] {
        assert!(listed.contains(ls), "{ls} not in {listed:?}");
    }
}

#[test]
fn compile_matches_array_elements_in_duckdb_and_refuses_them_elsewhere() {
    let out = firebreak()
        .args(["hunt", "compile", "--target", "duckdb", "--format", "jsonl"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // DuckDB reads every element of M365's `Parameters` (`[*]`): the rule compiles
    assert!(!stderr.contains("reads through the array"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Microsoft 365 mailbox forwarding or inbox rule that forwards or hides mail"),
        "{stderr}"
    );
    // Athena does not: a rule through CloudTrail's `resources` is refused with the reason
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("r.yml");
    std::fs::write(
        &rule,
        "title: role in resources\nid: r\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    resources.ARN|endswith: ':role/deploy'\n  condition: s\n",
    )
    .unwrap();
    let athena = firebreak()
        .args(["hunt", "compile", "--target", "athena"])
        .arg(&rule)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&athena.stderr);
    assert!(err.contains("reads through the array `resources`"), "{err}");
    assert_eq!(athena.status.code(), Some(0), "{err}");
    let sources: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["source"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for s in ["azure_audit", "azure_risk", "m365", "okta"] {
        assert!(sources.contains(s), "{s} not compiled: {sources:?}");
    }
}

/// The Purview audit search CSV export and PIM alert incidents from the command line: the
/// CSV's bad rows are named by file and line on stderr and in `problems` (exit 3, the rest
/// hunted); PIM incidents fire the built-in PIM rule inside a `--window`.
#[test]
fn purview_csv_and_pim_alerts_from_the_command_line() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hunt-exports");
    let csv = dir.join("m365-audit-search.csv");
    let out = firebreak()
        .args(["hunt", "--format", "json"])
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&csv).unwrap();
    let line_of = |needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    for (needle, rec) in [("09d13154", 3), ("efcb72f4", 5)] {
        let at = format!(
            "hunt: malformed: {}:{} (record {rec}): ",
            csv.display(),
            line_of(needle)
        );
        assert!(stderr.contains(&at), "{at} not in {stderr}");
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["records"].as_u64(), doc["malformed"].as_u64()),
        (Some(6), Some(2))
    );
    let p = &doc["problems"][0];
    assert_eq!(p["record"], 3);
    assert_eq!(p["kind"], "malformed");
    assert_eq!(p["line"].as_u64(), Some(line_of("09d13154") as u64));
    let titles: BTreeSet<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert!(titles.iter().any(|t| t.contains("inbox rule")), "{titles:?}");

    let out = firebreak()
        .args(["hunt", "--format", "jsonl", "--window", "2023-01-01..2023-01-05"])
        .arg(dir.join("azure-pim-alert-incidents.json"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["source"], "azure_pim");
    assert_eq!(rows[0]["actor"], "mallory@acme.onmicrosoft.com");
}
