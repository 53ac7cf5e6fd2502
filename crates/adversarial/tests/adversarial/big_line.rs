//! A log that is one enormous line: `firebreak scan` (stdin and file) and `firebreak hunt`
//! must keep memory bounded, report what they can, and name the line they gave up on.
//!
//! CI runs a 200 MB line (`big_line_200mb_*`). The 2 GB case the issue asks for is the
//! same code with a bigger size; it is `#[ignore]`d because it takes minutes in a debug
//! build. Run it with:
//!
//!     cargo test -p firebreak-adversarial --test adversarial -- --ignored big_line_2gb
//!
//! (`FIREBREAK_BIG_LINE_MB` overrides the size of the CI variant.)

use crate::common::{firebreak, run_measured};
use firebreak_adversarial::fake::{AWS_KEY_ID, GITHUB_PAT};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(1800);
/// Generous bound on peak memory (kB).
const MEM_KB: u64 = 512 * 1024;

fn head() -> String {
    format!("{{\"eventVersion\":\"1.08\",\"eventTime\":\"2023-01-04T00:00:00Z\",\"msg\":\"export AWS_ACCESS_KEY_ID={AWS_KEY_ID} ")
}

fn tail() -> String {
    format!(" token={GITHUB_PAT} end\"}}")
}

/// Writes the line: head, `mb` MiB of filler without a newline, tail.
fn write_line(w: &mut dyn Write, mb: usize) {
    let unit = b"lorem ipsum dolor sit amet, consectetur adipiscing elit; ";
    let mut block = Vec::with_capacity(1 << 20);
    while block.len() + unit.len() <= 1 << 20 {
        block.extend_from_slice(unit);
    }
    block.resize(1 << 20, b' ');
    let _ = w.write_all(head().as_bytes());
    for _ in 0..mb {
        if w.write_all(&block).is_err() {
            return;
        }
    }
    let _ = w.write_all(tail().as_bytes());
}

fn rules_found(m: &crate::common::Measured) -> Vec<String> {
    let v: Value = serde_json::from_slice(&m.stdout).unwrap_or_else(|e| panic!("{e}: {}", m.err()));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap().to_string())
        .collect()
}

fn scan_stdin(mb: usize) {
    let mut c = firebreak();
    c.args(["scan", "--format", "json", "-"]);
    let m = run_measured(&mut c, Some(Box::new(move |w| write_line(w, mb))), GUARD);
    assert!(!m.killed, "hang guard fired");
    assert_eq!(m.code, Some(1), "{}", m.err());
    let rules = rules_found(&m);
    assert!(rules.iter().any(|r| r.starts_with("aws.")), "{rules:?}");
    assert!(rules.iter().any(|r| r.starts_with("github.")), "{rules:?}");
    assert!(!m.out().contains(AWS_KEY_ID) && !m.out().contains(GITHUB_PAT));
    assert!(
        m.max_rss_kb < MEM_KB,
        "scan - of a {mb} MiB line: peak RSS {} kB",
        m.max_rss_kb
    );
    eprintln!(
        "scan stdin {mb} MiB line: {:?}, peak RSS {} kB",
        m.elapsed, m.max_rss_kb
    );
}

fn scan_file(path: &Path, mb: usize) {
    let mut c = firebreak();
    c.args(["scan", "--format", "json"]).arg(path);
    let m = run_measured(&mut c, None, GUARD);
    assert!(!m.killed, "hang guard fired");
    assert_eq!(m.code, Some(1), "{}", m.err());
    let rules = rules_found(&m);
    assert!(rules.iter().any(|r| r.starts_with("aws.")), "{rules:?}");
    assert!(rules.iter().any(|r| r.starts_with("github.")), "{rules:?}");
    // the file is memory-mapped: its pages count in RSS but are page cache, not heap
    assert!(
        m.max_anon_kb < MEM_KB,
        "scan of a {mb} MiB line: peak anonymous memory {} kB",
        m.max_anon_kb
    );
    eprintln!(
        "scan file {mb} MiB line: {:?}, peak anon {} kB, peak RSS {} kB",
        m.elapsed, m.max_anon_kb, m.max_rss_kb
    );
}

fn hunt_file(path: &Path, mb: usize) {
    let dir = path.parent().unwrap();
    let good = dir.join("good.ndjson");
    std::fs::write(
        &good,
        "{\"eventVersion\":\"1.08\",\"eventTime\":\"2023-01-04T12:00:00Z\",\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"CreateAccessKey\",\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/ci\"},\"sourceIPAddress\":\"203.0.113.9\"}\n",
    )
    .unwrap();
    let mut c = firebreak();
    c.args(["hunt", "--format", "json"]).arg(path).arg(&good);
    let m = run_measured(&mut c, None, GUARD);
    assert!(!m.killed, "hang guard fired");
    assert_eq!(m.code, Some(3), "partial failure: {}", m.err());
    let err = m.err();
    assert!(
        err.contains(&format!("{}:1", path.display())) && err.contains("longer than"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&m.stdout).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["file"] == good.display().to_string()),
        "the other file is still hunted"
    );
    assert!(
        m.max_rss_kb < MEM_KB,
        "hunt of a {mb} MiB line: peak RSS {} kB",
        m.max_rss_kb
    );
    eprintln!(
        "hunt {mb} MiB line: {:?}, peak RSS {} kB",
        m.elapsed, m.max_rss_kb
    );
}

/// A CircleCI audit CSV whose one data row is the enormous line.
fn hunt_csv(dir: &Path, mb: usize) {
    let p = dir.join("circleci-audit.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        f.write_all(b"id,action,occurred_at,actor\n1,user.logged_in,2023-01-04T00:00:00Z,\"")
            .unwrap();
        write_line(&mut f, mb);
        f.write_all(b"\"\n2,user.logged_in,2023-01-04T00:01:00Z,x\n")
            .unwrap();
        f.flush().unwrap();
    }
    let mut c = firebreak();
    c.args(["hunt", "--format", "json"]).arg(&p);
    let m = run_measured(&mut c, None, GUARD);
    assert!(!m.killed, "hang guard fired");
    assert_eq!(m.code, Some(3), "partial failure: {}", m.err());
    assert!(m.err().contains(&p.display().to_string()), "{}", m.err());
    assert!(
        m.max_rss_kb < MEM_KB,
        "hunt of a {mb} MiB CSV row: peak RSS {} kB",
        m.max_rss_kb
    );
    eprintln!(
        "hunt CSV {mb} MiB row: {:?}, peak RSS {} kB",
        m.elapsed, m.max_rss_kb
    );
}

fn all(mb: usize) {
    scan_stdin(mb);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        write_line(&mut f, mb);
        f.flush().unwrap();
    }
    scan_file(&p, mb);
    hunt_file(&p, mb);
    std::fs::remove_file(&p).unwrap();
    hunt_csv(dir.path(), mb);
}

#[test]
fn big_line_200mb_scan_and_hunt() {
    let mb = std::env::var("FIREBREAK_BIG_LINE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    all(mb);
}

#[test]
#[ignore = "2 GB: minutes in a debug build; run with --ignored (see the module docs)"]
fn big_line_2gb_scan_and_hunt() {
    all(2048);
}
