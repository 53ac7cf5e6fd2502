//! A reader that closes the pipe early (`firebreak … | head`) ends the command quietly:
//! exit code 0 and nothing on stderr, like ripgrep, for every command that prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn td(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Runs the real binary with its stdout on a pipe whose read end is closed before the
/// command writes anything, so its first write fails with EPIPE. Returns (code, stderr).
fn closed_pipe(args: &[&str], store: Option<&Path>) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.args(args)
        .env("CI", "1")
        .env("FIREBREAK_ROTATE_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(s) = store {
        c.env("FIREBREAK_STORE", s);
    }
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scan_list_rules_and_findings_exit_quietly() {
    let secrets = td("secrets");
    for args in [
        vec!["scan", "--list-rules"],
        vec!["scan", "--format", "jsonl", secrets.to_str().unwrap()],
    ] {
        let (code, err) = closed_pipe(&args, None);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        // testdata's broken archives are reported on stderr as per-input errors; the closed
        // pipe never is, and nothing panics
        assert!(
            !err.to_lowercase().contains("pipe") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn hunt_and_hunt_compile_exit_quietly() {
    let hunt = td("hunt/github-audit.ndjson");
    for args in [
        vec!["hunt", "--format", "jsonl", hunt.to_str().unwrap()],
        vec!["hunt", "compile", "--target", "duckdb"],
    ] {
        let (code, err) = closed_pipe(&args, None);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(
            !err.to_lowercase().contains("pipe") && !err.contains("error"),
            "{args:?}: {err}"
        );
    }
}

/// `rotate plan` and `rotate status` used `println!`, which panics (exit 101) on EPIPE.
#[test]
fn rotate_plan_and_status_exit_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("fb.db");
    let inv = dir.path().join("inv.jsonl");
    let mut lines = String::new();
    for i in 0..200 {
        lines.push_str(&format!(
            "{{\"provider\":\"github\",\"kind\":\"actions_secret\",\"scope\":\"acme/app\",\"name\":\"S{i}\"}}\n"
        ));
    }
    std::fs::write(&inv, lines).unwrap();
    let (code, err) = closed_pipe(
        &["rotate", "plan", "--from-inventory", inv.to_str().unwrap()],
        None,
    );
    assert_eq!((code, err.as_str()), (Some(0), ""));

    // a run of manual steps: nothing to reach, and `status` has rows to print
    let plan = dir.path().join("plan.toml");
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "[[secret]]\nname = \"s{i}\"\nsource = {{ type = \"manual\", instructions = \"by hand\" }}\n"
        ));
    }
    std::fs::write(&plan, text).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["rotate", "--store"])
        .arg(&store)
        .arg("run")
        .arg(&plan)
        .env("FIREBREAK_ROTATE_KEY", KEY)
        .env("CI", "1")
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for format in ["text", "json"] {
        let (code, err) = closed_pipe(
            &[
                "rotate",
                "--store",
                store.to_str().unwrap(),
                "status",
                "--format",
                format,
            ],
            None,
        );
        assert_eq!((code, err.as_str()), (Some(0), ""), "{format}");
    }
    let fresh = dir.path().join("fresh.db");
    let (code, err) = closed_pipe(
        &[
            "rotate",
            "--store",
            fresh.to_str().unwrap(),
            "run",
            "--dry-run",
            plan.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!((code, err.as_str()), (Some(0), ""));
}

/// A full disk (Linux's `/dev/full`) is an error naming where the output went, with the
/// documented exit code for a failure to write (2), both for `-o FILE` and for stdout.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_an_error_naming_the_output() {
    let secrets = td("secrets");
    // (extra arguments, whether stdout goes to /dev/full, what the error names)
    let cases: [(&[&str], bool, &str); 2] = [
        (&["-o", "/dev/full"], false, "cannot write /dev/full"),
        (&[], true, "cannot write standard output"),
    ];
    for (extra, stdout_full, names) in cases {
        let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
        c.args(["scan", "--format", "jsonl", secrets.to_str().unwrap()])
            .args(extra)
            .env("CI", "1")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        if stdout_full {
            c.stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{names}: {err}");
        assert!(
            err.contains(&format!("{names}: No space left on device")),
            "{err}"
        );
    }
}
