//! `--quiet` (`-q`, any position): no summaries, progress or notes on stderr; the result
//! on stdout and the exit code are unchanged; problems with inputs still print.

use std::process::Command;

fn firebreak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.env_remove("RUST_LOG").env("NO_COLOR", "1");
    c
}

#[test]
fn quiet_keeps_results_and_problems_and_drops_the_chatter() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ci.log");
    // an AWS key id of the documented shape (not a real key)
    std::fs::write(&f, "export AWS_ACCESS_KEY_ID=AKIAJ5RVH2M4XQ7LZ3PB\n").unwrap();
    let loud = firebreak()
        .args(["scan", "-f", "sarif"])
        .arg(&f)
        .output()
        .unwrap();
    let quiet = firebreak()
        .args(["scan", "-q", "-f", "sarif"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(loud.status.code(), Some(1));
    assert_eq!(quiet.status.code(), Some(1));
    assert!(
        !loud.stderr.is_empty(),
        "the summary line is expected without --quiet"
    );
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&loud.stdout).unwrap(),
        serde_json::from_slice(&quiet.stdout).unwrap(),
    );
    assert_eq!(a["runs"][0]["results"], b["runs"][0]["results"]);

    // hunt: the summary goes, a malformed record is still named
    let log = dir.path().join("trail.jsonl");
    std::fs::write(&log, "{not json\n").unwrap();
    let o = firebreak()
        .args(["--quiet", "hunt", "-f", "jsonl"])
        .arg(&log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("records ("), "{err}");
    assert!(
        err.contains("trail.jsonl"),
        "the malformed input must still be named: {err}"
    );
}
