//! The store never holds a plain hash of a secret: a scan recorded into an incident keeps
//! the finding's fingerprint keyed (HMAC under the store's key), and counts distinct
//! secrets the same way.

use std::process::Command;

fn firebreak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.env_remove("RUST_LOG")
        .env_remove("FIREBREAK_STORE")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn recorded_scan_fingerprints_are_keyed() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("fb.db");
    let key = "AKIAJ5RVH2M4XQ7LZ3PB";
    let log = d.path().join("ci.log");
    std::fs::write(&log, format!("AWS_ACCESS_KEY_ID={key}\nagain {key}\n")).unwrap();
    let inv = d.path().join("inv.jsonl");
    std::fs::write(
        &inv,
        "{\"record\":\"item\",\"provider\":\"circleci\",\"kind\":\"env_var\",\"scope\":\"gh/a/b\",\"name\":\"AWS_ACCESS_KEY_ID\",\"created_at\":null,\"updated_at\":null,\"flags\":{}}\n",
    )
    .unwrap();
    let o = firebreak()
        .args([
            "incident",
            "init",
            "cci",
            "--provider",
            "circleci",
            "--window",
            "2023-01-01..2023-01-05",
            "--from-inventory",
        ])
        .arg(&inv)
        .arg("--store")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let scan = firebreak()
        .args(["scan", "-f", "jsonl"])
        .arg(&log)
        .output()
        .unwrap();
    let out = d.path().join("scan.jsonl");
    std::fs::write(&out, &scan.stdout).unwrap();
    let o = firebreak()
        .args(["incident", "record", "cci", "--kind", "scan"])
        .arg(&out)
        .arg("--store")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let plain = firebreak_core::fingerprint(key.as_bytes());
    assert!(
        String::from_utf8_lossy(&scan.stdout).contains(&plain),
        "scan output names the fingerprint"
    );
    let raw = std::fs::read(&db).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        !raw.contains(&plain),
        "the store holds the plain SHA-256 of a secret"
    );
    assert!(!raw.contains(key));
    let st = firebreak()
        .args(["incident", "status", "cci", "-f", "json", "--store"])
        .arg(&db)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(doc["scans"]["distinct_secrets"], 1, "{doc}");
    assert!(doc["scans"]["findings"].as_u64().unwrap() >= 1, "{doc}");
}
