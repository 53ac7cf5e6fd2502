//! `firebreak dashboard` end to end: the binary serves the page and the status of an
//! incident in a store, and refuses bad input. (The browser test is
//! crates/dashboard/tests/browser.rs.)

use assert_cmd::Command;
use firebreak_providers::{Item, Provider};
use firebreak_store::{NewSnapshot, Store};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};

const INCIDENT: &str = "drill-2023";

/// A store with one incident over three CircleCI secrets.
fn store_with_incident(path: &Path) {
    let mut store = Store::open(path).unwrap();
    let items: Vec<Item> = ["AWS_ACCESS_KEY_ID", "NPM_TOKEN", "SLACK_WEBHOOK_URL"]
        .iter()
        .map(|n| {
            serde_json::from_value(
                json!({"provider": "circleci", "kind": "env_var", "scope": "gh/acme/api",
                "name": n, "created_at": "2022-06-01T00:00:00Z", "updated_at": "2022-11-01T00:00:00Z"}),
            )
            .unwrap()
        })
        .collect();
    let t = firebreak_core::window::parse_time("2023-01-04T12:00:00Z").unwrap();
    store
        .save_snapshot(&NewSnapshot {
            provider: Provider::Circleci,
            org: "gh/acme",
            started_at: t,
            finished_at: t,
            items: &items,
            errors: &[],
            stats: json!({}),
        })
        .unwrap();
    let window = "2022-12-21..2023-01-04".parse().unwrap();
    let opts = firebreak_incident::InitOptions::new(INCIDENT, vec![Provider::Circleci], window);
    firebreak_incident::init(&mut store, &opts).unwrap();
}

struct Dashboard {
    child: Child,
    addr: String,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(store: &Path, extra: &[&str]) -> Dashboard {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("firebreak"))
        .args(["dashboard", "--listen", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(extra)
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
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    Dashboard { child, addr }
}

/// A minimal HTTP/1.1 GET: (status code, lower-cased headers, body).
fn get(addr: &str, path: &str, host: &str) -> (u16, Vec<(String, String)>, String) {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let code = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (code, headers, body.to_string())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn without_clock(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("generated_at");
    v
}

#[test]
fn serves_the_page_and_the_store_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    store_with_incident(&db);
    let d = start(&db, &[]);
    let host = d.addr.clone();

    let (code, h, body) = get(&d.addr, "/", &host);
    assert_eq!(code, 200);
    assert!(body.starts_with("<!doctype html>") && body.contains("/api/status"));
    assert!(header(&h, "content-security-policy").starts_with("default-src 'self';"));
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");

    let (code, h, body) = get(&d.addr, "/api/status", &host);
    assert_eq!(code, 200, "{body}");
    assert_eq!(header(&h, "cache-control"), "no-store");
    let served: Value = serde_json::from_str(&body).unwrap();
    let store = Store::open(&db).unwrap();
    let direct = serde_json::to_value(firebreak_incident::status(&store, INCIDENT).unwrap()).unwrap();
    let mut status_part = served.clone();
    let brief = status_part
        .as_object_mut()
        .unwrap()
        .remove("brief")
        .expect("the summary and do-next list");
    assert_eq!(without_clock(status_part), without_clock(direct));
    // the summary and "Do next" list the page shows are the report's
    let data = firebreak_incident::report::gather(&store, INCIDENT).unwrap();
    let want = serde_json::to_value(firebreak_incident::report::brief(&data)).unwrap();
    assert_eq!(brief["do_next"], want["do_next"]);
    assert_eq!(brief["summary"]["states"], want["summary"]["states"]);
    assert_eq!(brief["do_next"][0]["kind"], "unrotated", "{}", brief["do_next"]);
    // 3 inventoried and the 2 CircleCI kinds no API lists (not checked)
    assert_eq!(served["secrets"]["total"], 5);
    assert_eq!(served["secrets"]["pending"], 3);

    let (code, _, body) = get(&d.addr, &format!("/api/status?incident={INCIDENT}"), "localhost");
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["incident"]["name"],
        INCIDENT
    );
    let (code, _, body) = get(&d.addr, "/api/status?incident=other", &host);
    assert_eq!(code, 404);
    assert!(body.contains("no incident named"), "{body}");
    let (code, _, body) = get(&d.addr, "/api/incidents", &host);
    assert_eq!(code, 200);
    assert!(body.contains(INCIDENT), "{body}");
    // DNS rebinding: a foreign Host gets nothing.
    let (code, _, body) = get(&d.addr, "/api/status", "attacker.example");
    assert_eq!(code, 403);
    assert!(!body.contains("AWS_ACCESS_KEY_ID"));
}

#[test]
fn bad_store_or_incident_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let out = Command::cargo_bin("firebreak")
        .unwrap()
        .args(["dashboard", "--listen", "127.0.0.1:0", "--store"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope.db") && err.contains("firebreak incident init"),
        "{err}"
    );
    assert!(!missing.exists(), "the dashboard created a store");

    let db = dir.path().join("fb.db");
    store_with_incident(&db);
    let out = Command::cargo_bin("firebreak")
        .unwrap()
        .args([
            "dashboard",
            "--listen",
            "127.0.0.1:0",
            "--incident",
            "other",
            "--store",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no incident named \"other\""), "{err}");
}
