//! `firebreak.toml` and `.firebreakignore`: defaults found in the current directory (or
//! `--config FILE`), `--include` / `--exclude` globs, accepted findings, and errors that
//! name file, line and column.

use std::path::Path;
use std::process::Command;

fn firebreak(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("FIREBREAK_CONFIG")
        .env("NO_COLOR", "1");
    c
}

fn paths(out: &[u8]) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(out).unwrap();
    let mut v: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn config_globs_and_ignore_file_shape_a_scan() {
    let d = tempfile::tempdir().unwrap();
    let key = |i: u8| format!("AKIAJ5RVH2M4XQ7LZ3P{}", (b'A' + i) as char);
    for (p, i) in [
        ("app/ci.log", 0),
        ("vendor/lib/ci.log", 1),
        ("web/app.min.js", 2),
        ("app/old.log", 3),
    ] {
        let f = d.path().join("src").join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, format!("x\nAWS_ACCESS_KEY_ID={}\n", key(i))).unwrap();
    }
    // no configuration: all four
    let o = firebreak(d.path())
        .args(["scan", "-f", "json", "src"])
        .output()
        .unwrap();
    assert_eq!(
        paths(&o.stdout).len(),
        4,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // firebreak.toml leaves vendor out; --exclude adds *.min.js; the ignore file accepts one
    std::fs::write(
        d.path().join("firebreak.toml"),
        "[scan]\nexclude = [\"vendor/**\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join(".firebreakignore"),
        "# reviewed: a dead key in an old log\naws.access_key_id:src/app/old.log:2\n",
    )
    .unwrap();
    let o = firebreak(d.path())
        .args(["scan", "-f", "json", "--exclude", "*.min.js", "src"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(paths(&o.stdout), vec!["src/app/ci.log".to_string()], "{err}");
    assert_eq!(o.status.code(), Some(1));
    let o = firebreak(d.path())
        .args(["scan", "-f", "sarif", "--exclude", "*.min.js", "src"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 by the ignore file"), "{err}");
    assert!(err.contains("2 files left out by --include/--exclude"), "{err}");
    // --include narrows to what matches
    let o = firebreak(d.path())
        .args(["scan", "-f", "json", "--include", "*.js", "src"])
        .output()
        .unwrap();
    assert_eq!(paths(&o.stdout), vec!["src/web/app.min.js".to_string()]);
}

#[test]
fn bad_configuration_and_ignore_lines_are_usage_errors_naming_the_place() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("log.txt"), "nothing\n").unwrap();
    std::fs::write(
        d.path().join("firebreak.toml"),
        "[scan]\nexclude = []\nexlude = [\"x\"]\n",
    )
    .unwrap();
    let o = firebreak(d.path()).args(["scan", "log.txt"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("firebreak.toml:3:1:") && err.contains("exlude"),
        "{err}"
    );
    std::fs::remove_file(d.path().join("firebreak.toml")).unwrap();
    std::fs::write(d.path().join("ignore"), "aws.access_key_id:a\n").unwrap();
    let o = firebreak(d.path())
        .args(["scan", "--ignore-file", "ignore", "log.txt"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("ignore:1: expected a fingerprint"), "{err}");
}

#[test]
fn hunt_defaults_from_a_named_configuration() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("team.toml");
    std::fs::write(
        &cfg,
        "[hunt]\nmin_level = \"high\"\nallow_ips = [\"203.0.113.0/24\"]\n",
    )
    .unwrap();
    let logs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hunt");
    let o = firebreak(d.path())
        .args([
            "hunt",
            "-f",
            "jsonl",
            "--window",
            "2023-01-01..2023-01-05",
            "--config",
        ])
        .arg(&cfg)
        .arg(&logs)
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["level"] == "high" || r["level"] == "critical"));
    assert!(rows.iter().all(|r| r["source_ip"] != "203.0.113.7"));
    // a flag wins over the file
    let o = firebreak(d.path())
        .args([
            "hunt",
            "-f",
            "jsonl",
            "--min-level",
            "low",
            "--window",
            "2023-01-01..2023-01-05",
            "--config",
        ])
        .arg(&cfg)
        .arg(&logs)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"level\":\"low\""));
}

#[test]
fn serve_keeps_its_own_config_flag() {
    let d = tempfile::tempdir().unwrap();
    let o = firebreak(d.path())
        .args(["serve", "--config", "missing-serve.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    // the service's configuration loader speaks, not firebreak.toml's
    assert!(!err.contains("cannot read the configuration"), "{err}");
    assert!(err.contains("missing-serve.toml"), "{err}");
}
