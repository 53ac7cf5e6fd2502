//! `firebreak census` end to end on the bundled sample (testdata/census): a conda
//! channel, a PyPI JSON export and a JSON Lines list whose packages were built with
//! the real tools (see testdata/census/regenerate.py). No Python needed here.

use assert_cmd::Command;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const WINDOW: &str = "2022-12-19..2023-01-13";
/// The planted example key (split so this source never holds it whole).
fn planted_key() -> String {
    ["AKIA", "MI32HB4GSTOJGFVD"].concat()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn census(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("firebreak")
        .unwrap()
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .arg("census")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn records(stdout: &str) -> BTreeMap<String, Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["artifact"].as_str().unwrap().to_string(), v))
        .collect()
}

fn finding_kinds(v: &Value) -> BTreeSet<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

const ALL: [&str; 3] = [
    "testdata/census/channel",
    "testdata/census/pypi",
    "testdata/census/index.jsonl",
];

#[test]
fn full_census_with_iocs_and_scanner() {
    let mut args = vec!["--window", WINDOW, "--ioc", "testdata/census/ioc.toml", "--scan"];
    args.extend(ALL);
    let (code, out, err) = census(&args);
    // A missing, a remote and a corrupt artifact: partial (3), even though things were found.
    assert_eq!(code, 3, "stderr: {err}");
    let r = records(&out);
    let names: Vec<&str> = r.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "brokenpkg-1.0-0.tar.bz2",
            "cli-tool-0.4.2.tgz",
            "evilpkg-2.0-py_0.tar.bz2",
            "gonepkg-1.0-0.conda",
            "goodpkg-1.0-py_0.conda",
            "legacypkg-1.0-0.tar.bz2",
            "tamperedpkg-1.0-0.conda",
            "tinypkg-0.2-py3-none-any.whl",
            "tinypkg-0.2.tar.gz",
            "webapp-3.1.0.tar.bz2",
        ]
    );
    assert_eq!(r["goodpkg-1.0-py_0.conda"]["status"], "ok");
    assert_eq!(r["goodpkg-1.0-py_0.conda"]["checksum"], "verified");
    assert_eq!(
        r["legacypkg-1.0-0.tar.bz2"]["uploaded_at"],
        "2023-01-02T00:00:00Z"
    );
    assert_eq!(r["gonepkg-1.0-0.conda"]["status"], "missing");
    assert_eq!(r["cli-tool-0.4.2.tgz"]["status"], "remote");
    assert_eq!(r["brokenpkg-1.0-0.tar.bz2"]["status"], "corrupt");
    assert!(r["brokenpkg-1.0-0.tar.bz2"]["error"]
        .as_str()
        .unwrap()
        .contains("testdata/census/channel/linux-64/brokenpkg-1.0-0.tar.bz2"));
    assert_eq!(r["tamperedpkg-1.0-0.conda"]["status"], "checksum_mismatch");
    assert_eq!(
        finding_kinds(&r["evilpkg-2.0-py_0.tar.bz2"]),
        BTreeSet::from(["ioc_file_name".into(), "ioc_string".into(), "secret".into()])
    );
    assert_eq!(
        finding_kinds(&r["tinypkg-0.2-py3-none-any.whl"]),
        BTreeSet::from(["ioc_file_name".into(), "ioc_string".into()])
    );
    assert_eq!(
        finding_kinds(&r["tinypkg-0.2.tar.gz"]),
        BTreeSet::from(["ioc_file_name".into(), "ioc_string".into()])
    );
    let secret = r["evilpkg-2.0-py_0.tar.bz2"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "secret")
        .unwrap()
        .clone();
    assert_eq!(secret["rule_id"], "aws.access_key_id");
    assert_eq!(secret["redacted"], "AKIA…");
    assert!(
        !out.contains(&planted_key()) && !err.contains(&planted_key()),
        "secret printed whole"
    );
    // Summary on stderr: counts and the artifacts at fault.
    assert!(err.contains("10 in window, 4 outside"), "{err}");
    assert!(err.contains("corrupt: brokenpkg-1.0-0.tar.bz2"), "{err}");
    assert!(err.contains("missing: gonepkg-1.0-0.conda"), "{err}");
}

#[test]
fn conda_shape_output() {
    let mut args = vec!["--window", WINDOW, "--format", "conda"];
    args.extend(ALL);
    let (code, out, err) = census(&args);
    // No --ioc/--scan: the tampered package (a finding) and the corrupt one (a failed input).
    assert_eq!(code, 3, "{err}");
    let v: BTreeMap<String, Vec<String>> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["noarch"],
        vec!["evilpkg-2.0-py_0.tar.bz2", "goodpkg-1.0-py_0.conda"]
    );
    assert_eq!(
        v["linux-64"],
        vec![
            "brokenpkg-1.0-0.tar.bz2",
            "gonepkg-1.0-0.conda",
            "legacypkg-1.0-0.tar.bz2",
            "tamperedpkg-1.0-0.conda"
        ]
    );
    assert_eq!(
        v["any"],
        vec!["tinypkg-0.2-py3-none-any.whl", "webapp-3.1.0.tar.bz2"]
    );
    assert_eq!(v["source"], vec!["tinypkg-0.2.tar.gz"]);
    assert_eq!(v["unknown"], vec!["cli-tool-0.4.2.tgz"]);
}

#[test]
fn exit_codes_clean_found_and_usage() {
    // Only the clean noarch package: 0.
    let (code, out, err) = census(&[
        "--window",
        "2022-12-20..2022-12-21",
        "--ioc",
        "testdata/census/ioc.toml",
        "testdata/census/channel/noarch",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1);
    // The evil package: 1.
    let (code, _, err) = census(&[
        "--window",
        "2023-01-04..2023-01-05",
        "--ioc",
        "testdata/census/ioc.toml",
        "testdata/census/channel/noarch/repodata.json",
    ]);
    assert_eq!(code, 1, "{err}");
    // Usage errors: 2, naming what is wrong.
    let (code, _, err) = census(&["--window", "2023-01-05..2023-01-04", "testdata/census/channel"]);
    assert_eq!(code, 2);
    assert!(err.contains("not after"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-ioc.toml");
    std::fs::write(&bad, "file_name = [\"typo.sh\"]\n").unwrap();
    let (code, _, err) = census(&[
        "--window",
        WINDOW,
        "--ioc",
        bad.to_str().unwrap(),
        "testdata/census/channel",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("bad-ioc.toml") && err.contains("file_name"), "{err}");
    let (code, _, err) = census(&["--window", WINDOW, "testdata/census/nothing-here"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing-here"), "{err}");
}

#[test]
fn json_format_and_forced_kind() {
    let (code, out, err) = census(&[
        "--window",
        WINDOW,
        "--format",
        "json",
        "--index-kind",
        "pypi",
        "testdata/census/pypi/tinypkg/json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["in_window"], 2);
    assert_eq!(v["summary"]["outside_window"], 1);
    assert_eq!(v["indexes"][0]["kind"], "pypi");
    assert_eq!(v["artifacts"].as_array().unwrap().len(), 2);
}
