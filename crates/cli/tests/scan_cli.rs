//! `firebreak scan` end to end: formats, exit codes, SARIF shape, no secret leaks.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const KEY: &str = "AKIAZ7Q3VOWRL4JD5NQK";
/// A secret matched only by the rule loaded from a temp file.
const CUSTOM: &str = "zzcust_Q8r2LmX9vTa7Kp3Wn5Yd";

const RULE: &str = r#"
rules:
  - id: test.custom
    name: Test custom token
    pattern: '\b(?P<secret>zzcust_[A-Za-z0-9]{20})\b'
    keywords: [zzcust_]
    confidence: medium
    examples: ['t = zzcust_Q8r2LmX9vTa7Kp3Wn5Yd'] # firebreak:allow (the rule file sits in the scanned tree)
    negative_examples: ['zzcust_short']
"#;

fn fb() -> Command {
    let mut c = Command::cargo_bin("firebreak").unwrap();
    c.env("NO_COLOR", "1").env("CI", "1");
    c
}

fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("src/deploy.sh"),
        format!("#!/bin/sh\nexport AWS_ACCESS_KEY_ID={KEY}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("src/app.cfg"), format!("[api]\ntoken = {CUSTOM}\n")).unwrap();
    std::fs::write(dir.join("clean.txt"), "nothing to see\n").unwrap();
    std::fs::write(dir.join("rules.yml"), RULE).unwrap();
}

fn assert_no_secret(out: &std::process::Output) {
    for stream in [&out.stdout, &out.stderr] {
        let s = String::from_utf8_lossy(stream);
        assert!(!s.contains(KEY), "a full secret was printed");
        assert!(!s.contains(CUSTOM), "a full secret was printed");
    }
}

#[test]
fn exit_codes_and_text_output() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let out = fb().arg("scan").arg(d.path().join("clean.txt")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 findings in 1 file"));

    let out = fb()
        .args(["scan", "--rules"])
        .arg(d.path().join("rules.yml"))
        .arg(d.path().join("src"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("deploy.sh:2:26: aws.access_key_id"), "{s}");
    assert!(s.contains("app.cfg:2:9: test.custom"), "{s}");
    assert!(s.contains("2 findings in 2 files"), "{s}");

    // Bad rules and bad args: 2.
    std::fs::write(
        d.path().join("bad.yml"),
        "rules:\n  - id: x\n    name: y\n    pattern: '('\n",
    )
    .unwrap();
    let out = fb()
        .args(["scan", "--rules"])
        .arg(d.path().join("bad.yml"))
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yml"));
    assert_eq!(fb().args(["scan"]).output().unwrap().status.code(), Some(2));
    assert_eq!(
        fb().args(["scan", "--format", "xml", "."])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );

    // A missing input with findings elsewhere: partial, 3, and the path named.
    let out = fb()
        .arg("scan")
        .arg(d.path().join("src"))
        .arg(d.path().join("missing.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.txt"));
}

#[test]
fn json_jsonl_and_baseline() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let rules = d.path().join("rules.yml");
    let out = fb()
        .args(["scan", "--format", "json", "--rules"])
        .arg(&rules)
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"];
    assert_eq!(f.as_array().unwrap().len(), 2);
    for field in [
        "id",
        "rule_id",
        "rule_name",
        "path",
        "line",
        "column",
        "redacted",
        "fingerprint",
        "confidence",
    ] {
        assert!(f[0].get(field).is_some(), "missing {field}");
    }
    assert_eq!(v["summary"]["files"], 4);
    assert_eq!(v["summary"]["findings"], 2);

    let out = fb()
        .args(["scan", "-f", "jsonl", "--rules"])
        .arg(&rules)
        .arg(d.path())
        .output()
        .unwrap();
    assert_no_secret(&out);
    let lines: Vec<Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[..2].iter().all(|l| l["type"] == "finding"));
    assert_eq!(lines[2]["type"], "summary");
    assert_eq!(lines[2]["findings"], 2);

    // The JSONL output as a baseline suppresses everything: exit 0.
    let base = d.path().join("base.jsonl");
    std::fs::write(&base, &out.stdout).unwrap();
    let out = fb()
        .args(["scan", "-f", "json", "--rules"])
        .arg(&rules)
        .arg("--baseline")
        .arg(&base)
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["suppressed_baseline"], 2);
}

#[test]
fn sarif_shape() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let out = fb()
        .current_dir(d.path())
        .args(["scan", "--format", "sarif", "--rules", "rules.yml", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "firebreak");
    let rules = driver["rules"].as_array().unwrap();
    for r in rules {
        assert!(r["id"].is_string() && r["name"].is_string());
        assert!(r["shortDescription"]["text"].is_string());
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], id);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(r["message"]["text"].is_string());
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("src/"), "relative uri, got {uri}");
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(loc["region"]["startColumn"].as_u64().unwrap() >= 1);
        assert_eq!(
            r["partialFingerprints"]["secretFingerprint/v1"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
    }
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

#[test]
fn stdin_list_rules_and_no_builtin() {
    let out = fb()
        .args(["scan", "-f", "jsonl", "-"])
        .write_stdin(format!("line\nAWS_ACCESS_KEY_ID={KEY}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out);
    let first: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["path"].as_str(), first["line"].as_u64()),
        (Some("-"), Some(2))
    );

    let out = fb().args(["scan", "--list-rules"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("aws.access_key_id"));

    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let out = fb()
        .args(["scan", "--no-builtin", "-f", "json", "--rules"])
        .arg(d.path().join("rules.yml"))
        .arg(d.path().join("src"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].clone())
        .collect();
    assert_eq!(ids, vec![Value::from("test.custom")]);
}

/// A minimal ustar archive written by hand (the CLI crate has no tar dependency).
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[test]
fn archive_bounds_flags_and_notices() {
    let d = tempfile::tempdir().unwrap();
    let a = format!("{KEY}\n");
    let b = format!("k={KEY}\n");
    let data = tar_of(&[("../escape.env", a.as_bytes()), ("cfg/ok.env", b.as_bytes())]);
    std::fs::write(d.path().join("pkg.tar"), data).unwrap();
    let out = fb().args(["scan", "-f", "json"]).arg(d.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secret(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["findings"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("pkg.tar!cfg/ok.env"));
    assert_eq!(v["findings"][0]["line"], 1);
    assert_eq!(v["summary"]["notices"][0]["kind"], "path_traversal");
    assert_eq!(v["summary"]["archives"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("pkg.tar!../escape.env"));
    let out = fb()
        .args(["scan", "--max-archive-entries", "1", "-f", "json"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["findings"], 0);
    assert_eq!(v["summary"]["skipped_bounds"], 2);
}

#[test]
fn git_history_from_the_cli() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let git = |args: &[&str]| {
        let st = std::process::Command::new("git")
            .args(args)
            .current_dir(p)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git CLI");
        assert!(st.status.success());
        String::from_utf8(st.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q"]);
    std::fs::write(p.join("k.env"), format!("{KEY}\n")).unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "oops"]);
    let c = git(&["rev-parse", "HEAD"]);
    std::fs::write(p.join("k.env"), "gone\n").unwrap();
    git(&["commit", "-q", "-am", "fix"]);
    let out = fb()
        .args(["scan", "-f", "json", "--git"])
        .arg(p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["commit"], Value::from(c));
    assert_eq!(v["summary"]["commits"], 2);
}

/// `firebreak simulate` in the background; killed on drop.
struct Sim(std::process::Child, String);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn simulate() -> Sim {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("firebreak"))
        .args([
            "simulate",
            "--port",
            "0",
            "--projects",
            "3",
            "--log-projects",
            "2",
            "--seed",
            "11",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn firebreak simulate");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Sim(child, base)
}

#[test]
fn ci_logs_from_circleci_and_github() {
    let sim = simulate();
    let out = fb()
        .args(["scan", "--format", "jsonl"])
        .args([
            "--circleci",
            "gh/sim-org/repo-00000",
            "--circleci",
            "gh/sim-org/repo-00001",
        ])
        .args(["--github", "sim-org/repo-00000"])
        .args(["--circleci-url", &format!("{}/circleci/api/v2", sim.1)])
        .args(["--github-url", &format!("{}/github", sim.1)])
        .env("CIRCLECI_TOKEN", "sim-circleci-token")
        .env("GITHUB_TOKEN", "sim-github-token")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secret(&out);
    for stream in [&out.stdout, &out.stderr] {
        let s = String::from_utf8_lossy(stream);
        let whole = s
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.len() == 20 && w.starts_with("AKIA"));
        assert!(!whole, "a planted AWS key id was printed whole");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] != "summary")
        .collect();
    let paths: std::collections::BTreeSet<String> = findings
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    // Each of the three logs holds one planted AWS key pair.
    for prefix in [
        "circleci:gh/sim-org/repo-00000/",
        "circleci:gh/sim-org/repo-00001/",
        "github:sim-org/repo-00000/runs/",
    ] {
        let hits: Vec<_> = findings
            .iter()
            .filter(|f| f["path"].as_str().unwrap().starts_with(prefix))
            .map(|f| f["rule_id"].as_str().unwrap().to_string())
            .collect();
        assert!(
            hits.iter().any(|r| r.contains("aws")),
            "{prefix}: {hits:?} in {paths:?}"
        );
    }

    // --since after every simulated build: nothing to scan, nothing found.
    let out = fb()
        .args([
            "scan",
            "--circleci",
            "gh/sim-org/repo-00000",
            "--since",
            "2030-01-01",
        ])
        .args(["--circleci-url", &format!("{}/circleci/api/v2", sim.1)])
        .env("CIRCLECI_TOKEN", "sim-circleci-token")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No token: a usage error naming the variable, before any request.
    let out = fb()
        .args(["scan", "--github", "sim-org/repo-00000"])
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITHUB_TOKEN"));
}
