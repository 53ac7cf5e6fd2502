//! The dashboard in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core through scripts/browser/dashboard-driver.mjs.
//!
//! Builds a store with an incident (an inventory snapshot, `firebreak_incident::init`, one
//! rotation record, one recorded hunt), serves it with the dashboard on a free loopback
//! port, and checks that the numbers and tasks the page shows are the store's status.
//! Then records the rotation of one more secret and a second hunt in the store (through
//! another connection, as `firebreak rotate` would) and checks that the open page follows
//! without a reload. Screenshots of both states are saved under the target directory
//! (their paths are printed).
//!
//! Needs FIREBREAK_CHROMIUM, FIREBREAK_PLAYWRIGHT_DIR and node: `scripts/setup.d/70-chromium.sh`
//! installs them (scripts/test runs it and sources .tools/env.d/chromium.sh).

use chrono::{DateTime, Utc};
use firebreak_core::TimeWindow;
use firebreak_dashboard::{Server, StoreSource};
use firebreak_providers::{Flags, Item, Kind, Provider};
use firebreak_store::{NewSnapshot, RotationRecord, Store};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SETUP: &str = "scripts/setup.d/70-chromium.sh";
const INCIDENT: &str = "circleci-2023-01";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Node, Chromium and playwright-core, or a failure naming the setup script.
fn browser_env() -> (PathBuf, PathBuf) {
    let need = |var: &str| -> PathBuf {
        let v = std::env::var_os(var).filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!("{var} is not set: run {SETUP} and `source .tools/env.d/chromium.sh` (scripts/test does both)")
        });
        PathBuf::from(v)
    };
    let chromium = need("FIREBREAK_CHROMIUM");
    let pw = need("FIREBREAK_PLAYWRIGHT_DIR");
    assert!(
        chromium.exists(),
        "FIREBREAK_CHROMIUM={} does not exist: run {SETUP}",
        chromium.display()
    );
    assert!(
        pw.join("node_modules/playwright-core/package.json").exists(),
        "no playwright-core under FIREBREAK_PLAYWRIGHT_DIR={}: run {SETUP}",
        pw.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is not installed (Node 20+ is needed by the dashboard browser test; see {SETUP})"
    );
    (chromium, pw)
}

fn item(scope: &str, name: &str, updated: &str) -> Item {
    Item {
        provider: Provider::Circleci,
        kind: Kind::EnvVar,
        scope: scope.into(),
        name: name.into(),
        created_at: Some(t("2022-06-01T00:00:00Z")),
        updated_at: Some(t(updated)),
        flags: Flags::default(),
    }
}

fn rotation(store: &mut Store, it: &Item, at: &str) {
    store
        .add_rotation_record(&RotationRecord {
            identity: it.identity(),
            provider: it.provider,
            kind: it.kind,
            scope: it.scope.clone(),
            name: it.name.clone(),
            rotated_at: t(at),
            source: "browser test".into(),
            detail: None,
        })
        .unwrap();
}

/// The store: 7 CircleCI secrets, one already rewritten by the provider after the window
/// (verified), one rotated by firebreak (rotated), the rest pending. One name carries HTML
/// to prove the page shows it as text.
fn build_store(path: &Path) -> (Store, Vec<Item>) {
    let mut store = Store::open(path).unwrap();
    let old = "2022-11-01T00:00:00Z";
    let items = vec![
        item("gh/acme/api", "AWS_ACCESS_KEY_ID", old),
        item("gh/acme/api", "AWS_SECRET_ACCESS_KEY", old),
        item("gh/acme/web", "GITHUB_TOKEN", "2023-01-05T09:00:00Z"),
        item("gh/acme/web", "NPM_TOKEN", old),
        item("gh/acme/infra", "SLACK_WEBHOOK_URL", old),
        item("gh/acme/infra", "PYPI_TOKEN", old),
        item(
            "gh/acme/<b>x</b>",
            "X<img src=x onerror=document.title='pwned'>",
            old,
        ),
    ];
    let fin = t("2023-01-04T12:00:00Z");
    store
        .save_snapshot(&NewSnapshot {
            provider: Provider::Circleci,
            org: "gh/acme",
            started_at: fin,
            finished_at: fin,
            items: &items,
            errors: &[],
            stats: json!({}),
        })
        .unwrap();
    let window: TimeWindow = "2022-12-21T00:00:00Z..2023-01-04T00:00:00Z".parse().unwrap();
    let opts = firebreak_incident::InitOptions::new(INCIDENT, vec![Provider::Circleci], window);
    firebreak_incident::init(&mut store, &opts).unwrap();
    rotation(&mut store, &items[3], "2023-01-05T10:00:00Z");
    let hunt = path.with_file_name("hunt.jsonl");
    write_hunt(&hunt, &[("critical", 1), ("high", 2), ("low", 3)]);
    firebreak_incident::record_file(&mut store, INCIDENT, firebreak_incident::RecordKind::Hunt, &hunt)
        .unwrap();
    (store, items)
}

/// A `firebreak hunt --format jsonl` output with `n` findings of each level.
fn write_hunt(path: &Path, levels: &[(&str, usize)]) {
    let mut text = String::new();
    for (level, n) in levels {
        for i in 0..*n {
            let f = json!({"kind": "finding", "rule_id": format!("test-{level}"), "title": format!("{level} finding {i}"),
                           "level": level, "time": format!("2022-12-2{}T10:00:00Z", i + 2), "actor": "ci-deploy"});
            text.push_str(&format!("{f}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn status(store: &Store) -> Value {
    serde_json::to_value(firebreak_incident::status(store, INCIDENT).unwrap()).unwrap()
}

/// `field -> number` for every number the page shows, from the status JSON.
fn expected_numbers(status: &Value, shown: &serde_json::Map<String, Value>) -> Value {
    let mut m = serde_json::Map::new();
    for field in shown.keys() {
        let v = field.split('.').fold(status, |v, k| &v[k]);
        m.insert(field.clone(), v.clone());
    }
    Value::Object(m)
}

fn expected_tasks(status: &Value) -> Value {
    Value::Array(
        status["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| json!({"secret": t["secret"], "scope": t["scope"], "state": t["state"]}))
            .collect(),
    )
}

struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Driver {
    fn start(url: &str, screenshot: &Path) -> Driver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/browser/dashboard-driver.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(url)
            .arg(screenshot)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node {}: {e} (see {SETUP})", script.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Driver {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// The driver's next JSON line (generous bound so a wedged browser fails the test
    /// instead of hanging CI).
    fn next(&self, what: &str) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("the browser driver gave no {what} line (see its stderr above)"));
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("driver printed {line:?}: {e}"));
        assert_ne!(v["event"], "error", "browser driver failed: {}", v["message"]);
        v
    }

    fn send(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_clean(page: &Value) {
    assert_eq!(
        page["console_errors"],
        json!([]),
        "browser console errors (CSP violations show here)"
    );
    assert_eq!(
        page["foreign_requests"],
        json!([]),
        "the page requested another origin"
    );
    assert_eq!(page["error"], "", "the page shows an error");
    assert_eq!(page["conn"], "live");
    assert_eq!(
        page["title"],
        format!("firebreak · {INCIDENT}"),
        "title changed: script injection?"
    );
}

#[test]
fn dashboard_in_headless_chromium_follows_the_store() {
    let started = Instant::now();
    let _env = browser_env();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("firebreak.db");
    let (mut writer, items) = build_store(&db);
    let before = status(&writer);
    // 7 inventoried and the 2 CircleCI kinds no API lists (not checked)
    assert_eq!(before["secrets"]["total"], 9);
    assert_eq!(before["secrets"]["rotated"], 1, "{}", before["secrets"]);
    // a new value by the provider's timestamps, the old one not proven dead
    assert_eq!(before["secrets"]["rewritten"], 1, "{}", before["secrets"]);
    assert_eq!(before["secrets"]["verified"], 0, "{}", before["secrets"]);
    assert_eq!(before["hunts"]["findings"]["low"], 3, "{}", before["hunts"]);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let source = StoreSource::open(&db, Some(INCIDENT.into())).unwrap();
    let server = rt
        .block_on(Server::start("127.0.0.1:0".parse().unwrap(), Arc::new(source)))
        .unwrap();

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot1 = out.join("dashboard-screenshot.png");
    let shot2 = out.join("dashboard-screenshot-updated.png");
    let mut driver = Driver::start(&server.url(), &shot1);

    // 1. First render = the store's status.
    let page = driver.next("ready");
    println!("dashboard screenshot: {}", shot1.display());
    check_clean(&page);
    let shown = page["values"].as_object().unwrap();
    assert!(shown.len() >= 20, "too few numbers on the page: {shown:?}");
    assert_eq!(
        page["values"],
        expected_numbers(&before, shown),
        "page numbers vs store status"
    );
    assert_eq!(
        page["tasks"],
        expected_tasks(&before),
        "task table vs store status"
    );
    assert_eq!(page["tasks_count"], 9);
    assert_eq!(page["incident"]["name"], INCIDENT);
    assert_eq!(page["incident"]["providers"], "circleci");
    let html_name = page["tasks"].as_array().unwrap().iter().any(|t| {
        t["secret"] == "X<img src=x onerror=document.title='pwned'>"
            && t["scope"] == "circleci/gh/acme/<b>x</b>"
    });
    assert!(
        html_name,
        "the secret name with HTML is not shown as text: {}",
        page["tasks"]
    );

    // The summary and the "Do next" list come first and fit the first screen (1280×900).
    for what in ["summary", "do_next"] {
        let b = &page["boxes"][what];
        assert!(b.is_object(), "no {what} on the page: {}", page["boxes"]);
        assert!(b["height"].as_f64().unwrap() > 20.0, "{what} is empty: {b}");
        assert!(
            b["top"].as_f64().unwrap() >= 0.0 && b["bottom"].as_f64().unwrap() <= 900.0,
            "{what} is not above the fold of a 1280×900 viewport: {b}"
        );
    }
    let data = firebreak_incident::report::gather(&writer, INCIDENT).unwrap();
    let brief = firebreak_incident::report::brief(&data);
    let want: Vec<Value> = brief
        .do_next
        .iter()
        .map(|a| json!({"kind": a.kind, "title": a.title}))
        .collect();
    assert_eq!(
        page["do_next"],
        Value::Array(want),
        "the page's Do next list vs the report's"
    );
    assert_eq!(page["do_next"][0]["kind"], "unrotated");
    assert_eq!(page["hunt_rows"], brief.hunt.len(), "hunt findings listed");
    assert_eq!(
        page["broken_cells"],
        json!([]),
        "short cells broken inside a word"
    );

    // 2. Rotate one more secret in the store; the open page follows without a reload.
    rotation(&mut writer, &items[0], "2023-01-05T11:00:00Z");
    let hunt = dir.path().join("hunt-2.jsonl");
    write_hunt(&hunt, &[("critical", 1), ("medium", 2)]);
    firebreak_incident::record_file(&mut writer, INCIDENT, firebreak_incident::RecordKind::Hunt, &hunt)
        .unwrap();
    let after = status(&writer);
    assert_eq!(after["hunts"]["runs"], 2, "{}", after["hunts"]);
    assert_eq!(after["hunts"]["findings"]["critical"], 2, "{}", after["hunts"]);
    assert_eq!(after["secrets"]["rotated"], 2, "{}", after["secrets"]);
    assert_eq!(
        after["secrets"]["pending"].as_u64().unwrap() + 1,
        before["secrets"]["pending"].as_u64().unwrap()
    );
    let want = expected_numbers(&after, shown);
    driver.send(json!({"cmd": "wait", "expect": want, "timeout_ms": 20000, "screenshot": shot2}));
    let page = driver.next("waited");
    println!("dashboard screenshot after the rotation: {}", shot2.display());
    assert_eq!(
        page["matched"], true,
        "the page did not follow the store: {}",
        page["values"]
    );
    assert_eq!(page["values"], want);
    assert_eq!(page["tasks"], expected_tasks(&after));
    check_clean(&page);
    println!(
        "page updated {} ms after the store changed (polls every 1000 ms)",
        page["elapsed_ms"]
    );

    driver.send(json!({"cmd": "quit"}));
    drop(driver);
    rt.block_on(server.shutdown()).unwrap();
    println!("browser test took {:.1} s", started.elapsed().as_secs_f64());
}
