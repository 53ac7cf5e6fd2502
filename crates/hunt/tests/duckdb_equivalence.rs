//! The DuckDB queries that `hunt compile --target duckdb` prints select exactly the
//! CloudTrail events the native engine selects, on the real CloudTrail sample.
//! Needs FIREBREAK_PYTHON (a python with the `duckdb` package) from scripts/setup.d/20-duckdb.sh.

use firebreak_hunt::compile::{compile, duckdb_combined, CompileOptions, Target};
use firebreak_hunt::{hunt, HuntOptions, RuleSet, SourceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const RUNNER: &str = r#"
import sys, json, duckdb
qs = json.load(sys.stdin)
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
out = {}
for name, q in qs.items():
    rows = con.execute(q.rstrip().rstrip(';')).fetchall()
    out[name] = rows
json.dump(out, sys.stdout)
"#;

fn python() -> String {
    match std::env::var("FIREBREAK_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "FIREBREAK_PYTHON is not set: run scripts/setup.d/20-duckdb.sh and source .tools/env.d/duckdb.sh (scripts/test does both)"
        ),
    }
}

#[test]
fn duckdb_selects_the_same_events_as_the_native_engine() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/cloudtrail/invictus-aws-2023-07-10/CloudTrail");
    let dir = dir.canonicalize().unwrap();
    let glob = format!("{}/*.json", dir.display());
    let rules = RuleSet::builtin().unwrap();
    let (compiled, unsup) = compile(
        &rules,
        &CompileOptions {
            target: Target::Duckdb,
            table: Some(glob.clone()),
        },
    );
    let ct_rules: Vec<_> = rules
        .rules
        .iter()
        .filter(|r| r.sources.contains(&SourceKind::Cloudtrail))
        .collect();
    let ct_compiled: Vec<_> = compiled
        .iter()
        .filter(|c| c.source == SourceKind::Cloudtrail)
        .collect();
    assert_eq!(
        ct_compiled.len(),
        ct_rules.len(),
        "every CloudTrail rule compiles; not compiled: {unsup:?}"
    );

    let mut queries = serde_json::Map::new();
    for c in &ct_compiled {
        queries.insert(c.rule_id.clone(), c.query.clone().into());
    }
    queries.insert(
        "__combined".into(),
        duckdb_combined(&compiled, SourceKind::Cloudtrail, &glob)
            .unwrap()
            .into(),
    );
    let mut child = Command::new(python())
        .args(["-c", RUNNER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run FIREBREAK_PYTHON");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&queries).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "duckdb runner failed");
    let res: BTreeMap<String, Vec<Vec<serde_json::Value>>> = serde_json::from_slice(&out.stdout).unwrap();

    // native engine, no window
    let rep = hunt(std::slice::from_ref(&dir), &rules, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    let mut native: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &rep.findings {
        native
            .entry(f.rule_id.clone())
            .or_default()
            .insert(f.event.event_id.clone().unwrap());
    }
    let mut nonempty = 0;
    let mut combined_expected = BTreeSet::new();
    for c in &ct_compiled {
        // per-rule query columns: rule_id, event_time, event_id, record
        let duck: BTreeSet<String> = res[&c.rule_id]
            .iter()
            .map(|row| row[2].as_str().unwrap().to_string())
            .collect();
        let nat = native.get(&c.rule_id).cloned().unwrap_or_default();
        assert_eq!(
            duck, nat,
            "rule {} ({}) selects different events in DuckDB and natively",
            c.title, c.rule_id
        );
        if !nat.is_empty() {
            nonempty += 1;
        }
        for e in nat {
            combined_expected.insert((e, c.rule_id.clone()));
        }
    }
    let combined: BTreeSet<(String, String)> = res["__combined"]
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_string(),
                row[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(combined, combined_expected, "combined query differs");
    assert!(
        nonempty >= 4,
        "the sample should exercise at least 4 CloudTrail rules, got {nonempty}"
    );
}

/// The same sample as JSON Lines (one CloudTrail event per line, no `Records` wrapper),
/// which the native reader reads: the combined DuckDB query selects the same
/// (event, rule) pairs.
#[test]
fn duckdb_reads_cloudtrail_json_lines_as_the_native_engine() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/cloudtrail/invictus-aws-2023-07-10/CloudTrail");
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let mut out = String::new();
        for r in v["Records"].as_array().unwrap() {
            out.push_str(&serde_json::to_string(r).unwrap());
            out.push('\n');
        }
        n += 1;
        std::fs::write(tmp.path().join(format!("ct{n}.json")), out).unwrap();
    }
    let glob = format!("{}/*.json", tmp.path().display());
    let rules = RuleSet::builtin().unwrap();
    let (compiled, _) = compile(
        &rules,
        &CompileOptions {
            target: Target::Duckdb,
            table: Some(glob.clone()),
        },
    );
    let mut queries = serde_json::Map::new();
    queries.insert(
        "__combined".into(),
        duckdb_combined(&compiled, SourceKind::Cloudtrail, &glob)
            .unwrap()
            .into(),
    );
    let mut child = Command::new(python())
        .args(["-c", RUNNER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run FIREBREAK_PYTHON");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&queries).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "duckdb runner failed");
    let res: BTreeMap<String, Vec<Vec<serde_json::Value>>> = serde_json::from_slice(&out.stdout).unwrap();
    let duck: BTreeSet<(String, String)> = res["__combined"]
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_string(),
                row[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let rep = hunt(&[tmp.path().to_path_buf()], &rules, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    let native: BTreeSet<(String, String)> = rep
        .findings
        .iter()
        .filter(|f| compiled.iter().any(|c| c.rule_id == f.rule_id))
        .map(|f| (f.event.event_id.clone().unwrap(), f.rule_id.clone()))
        .collect();
    assert!(!native.is_empty());
    assert_eq!(duck, native, "JSON Lines CloudTrail: DuckDB and native differ");
}
