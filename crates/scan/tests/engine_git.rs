//! Git history: a real repository made with the `git` CLI.

use firebreak_scan::rules::{builtin_defs, RuleSet};
use firebreak_scan::{ScanOptions, Scanner};
use std::path::Path;
use std::process::Command;

const KEY: &str = "AKIAZ7Q3VOWRL4JD5NQK";

fn git(dir: &Path, args: &[&str], date: &str) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("the git CLI is needed for this test");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn history_finds_removed_secret_and_names_introducing_commit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    git(p, &["init", "-q", "-b", "main"], "2024-01-01T00:00:00Z");
    std::fs::write(p.join("README.md"), "hello\n").unwrap();
    git(p, &["add", "."], "2024-01-01T00:00:00Z");
    git(p, &["commit", "-q", "-m", "first"], "2024-01-01T00:00:00Z");
    std::fs::create_dir(p.join("ci")).unwrap();
    std::fs::write(
        p.join("ci/deploy.sh"),
        format!("#!/bin/sh\n\nexport AWS_ACCESS_KEY_ID={KEY}\n"),
    )
    .unwrap();
    git(p, &["add", "."], "2024-01-02T00:00:00Z");
    git(p, &["commit", "-q", "-m", "add deploy"], "2024-01-02T00:00:00Z");
    let introducing = git(p, &["rev-parse", "HEAD"], "2024-01-02T00:00:00Z");
    // Same blob copied elsewhere later: scanned once, attributed to the first commit.
    std::fs::copy(p.join("ci/deploy.sh"), p.join("copy.sh")).unwrap();
    std::fs::write(p.join("README.md"), "hello again\n").unwrap();
    git(p, &["add", "."], "2024-01-03T00:00:00Z");
    git(p, &["commit", "-q", "-m", "copy"], "2024-01-03T00:00:00Z");
    // Secret removed.
    std::fs::write(
        p.join("ci/deploy.sh"),
        "#!/bin/sh\n\nexport AWS_ACCESS_KEY_ID=$FROM_VAULT\n",
    )
    .unwrap();
    std::fs::remove_file(p.join("copy.sh")).unwrap();
    git(p, &["add", "-A"], "2024-01-04T00:00:00Z");
    git(p, &["commit", "-q", "-m", "remove"], "2024-01-04T00:00:00Z");
    // A secret only on a side branch.
    git(p, &["checkout", "-q", "-b", "side"], "2024-01-05T00:00:00Z");
    std::fs::write(p.join("side.env"), "id: AKIAQ2W3E4R5T6Y7U2I3\n").unwrap();
    git(p, &["add", "."], "2024-01-05T00:00:00Z");
    git(p, &["commit", "-q", "-m", "side"], "2024-01-05T00:00:00Z");
    let side = git(p, &["rev-parse", "HEAD"], "2024-01-05T00:00:00Z");
    git(p, &["checkout", "-q", "main"], "2024-01-05T00:00:00Z");

    let mut defs = builtin_defs().unwrap();
    defs.retain(|(_, d)| d.id == "aws.access_key_id");
    let s = Scanner::new(RuleSet::compile(defs).unwrap(), ScanOptions::default());
    let r = s.scan_git(p).unwrap();
    let got: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.path.as_str(), f.line, f.column, f.commit.clone().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![("ci/deploy.sh", 3, 26, introducing), ("side.env", 1, 5, side)],
        "{:?}",
        r.summary
    );
    assert_eq!(r.summary.commits, 5);
    assert_eq!(r.summary.error_count, 0);
    // README (2 versions), deploy.sh (2), side.env: 5 distinct blobs.
    assert_eq!(r.summary.files, 5);
    // The working tree no longer holds the first secret.
    assert_eq!(s.scan_paths(&[p.to_path_buf()]).findings.len(), 0);
}

#[test]
fn not_a_repository_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let s = Scanner::new(
        RuleSet::compile(builtin_defs().unwrap()).unwrap(),
        ScanOptions::default(),
    );
    let e = s.scan_git(d.path()).unwrap_err().to_string();
    assert!(e.contains(&d.path().display().to_string()), "{e}");
}
