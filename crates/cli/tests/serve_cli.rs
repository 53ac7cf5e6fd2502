//! `firebreak serve` and `firebreak token issue|list|revoke` end to end (SQLite).

use assert_cmd::Command;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

const ADMIN: &str = "cli-test-admin-credential-123456";

struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Serve {
    std::fs::write(dir.join("admin"), ADMIN).unwrap();
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite:{d}/db.sqlite\"\nstaging_dir = \"{d}/staging\"\npublished_dir = \"{d}/published\"\naudit_log = \"{d}/audit.jsonl\"\nadmin_token_file = \"{d}/admin\"\n[[projects]]\nname = \"numpy\"\n",
        d = dir.display()
    );
    std::fs::write(dir.join("serve.toml"), cfg).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("firebreak"))
        .args(["serve", "--config"])
        .arg(dir.join("serve.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "unexpected first line: {line:?}"
    );
    Serve { child, url }
}

fn token(s: &Serve) -> Command {
    let mut c = Command::cargo_bin("firebreak").unwrap();
    c.arg("token")
        .arg("--server")
        .arg(&s.url)
        .env("FIREBREAK_ADMIN_TOKEN", ADMIN);
    c
}

#[test]
fn issue_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let out = token(&s)
        .args([
            "issue",
            "--project",
            "numpy",
            "--provider",
            "circleci",
            "--ttl",
            "30d",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tok = v["token"].as_str().unwrap();
    assert!(tok.starts_with("fbu_") && tok.len() == 53);
    let id = v["id"].as_str().unwrap().to_string();
    // Plain issue prints only the token on stdout.
    let out = token(&s)
        .args(["issue", "--project", "numpy", "--provider", "github"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim().len(), 53);

    let out = token(&s)
        .args(["list", "--format", "jsonl", "--project", "numpy"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains("fbu_"), "list never shows tokens");

    let out = token(&s).args(["revoke", "--id", &id]).output().unwrap();
    assert!(out.status.success());
    let out = token(&s)
        .args(["revoke", "--provider", "github", "--all-projects"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["count"], 1);
    let out = token(&s).args(["list", "--format", "jsonl"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.contains("\"revoked_at\":\"")));

    // Wrong admin credential: refused, exit 2, the error names the request.
    let out = token(&s)
        .env("FIREBREAK_ADMIN_TOKEN", "wrong-credential-xxxxxxxx")
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GET /v1/admin/tokens: HTTP 401"));
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(!audit.contains("fbu_"));
}

#[test]
fn serve_rejects_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "listen = 1\n").unwrap();
    let out = Command::cargo_bin("firebreak")
        .unwrap()
        .args(["serve", "--config"])
        .arg(dir.path().join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}
