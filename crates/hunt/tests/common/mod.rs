//! Shared by the DuckDB equivalence tests: run compiled queries in DuckDB itself (PyPI
//! `duckdb`, found through FIREBREAK_PYTHON, installed by scripts/setup.d/20-duckdb.sh).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

const RUNNER: &str = r#"
import sys, json, duckdb
qs = json.load(sys.stdin)
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
out = {}
for name, q in qs.items():
    out[name] = sorted(set(str(r[2]) for r in con.execute(q.rstrip().rstrip(';')).fetchall()))
json.dump(out, sys.stdout)
"#;

/// The python with `duckdb` importable; panics with how to get it.
pub fn python() -> String {
    std::env::var("FIREBREAK_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .expect(
            "FIREBREAK_PYTHON is not set: run scripts/setup.d/20-duckdb.sh and source .tools/env.d/duckdb.sh",
        )
}

/// Runs each named query (`SELECT rule_id, event_time, event_id, ...`) in DuckDB and
/// returns, per name, the set of event ids (third column) it selects.
pub fn event_ids(queries: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut child = std::process::Command::new(python())
        .args(["-c", RUNNER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(queries).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}
