//! The drill's HTML report in a real browser: headless Chromium (Debian's `chromium`)
//! driven by playwright-core through scripts/browser/report-driver.mjs, in a 1280×900
//! viewport.
//!
//! Runs the drill (offline, in-process simulators) into a temporary directory, opens its
//! `report.html`, and checks what an on-call engineer sees without scrolling: the summary
//! and the whole "Do next" list lie within the first 900 px, LIVE credentials first; no
//! short cell (level, state, time) breaks inside a word; every link points at a file in
//! the report directory; the page requests nothing. Screenshots (whole page and first
//! screen) are saved under the target directory; their paths are printed.
//!
//! Needs FIREBREAK_CHROMIUM, FIREBREAK_PLAYWRIGHT_DIR and node: `scripts/setup.d/70-chromium.sh`
//! installs them (scripts/test runs it and sources .tools/env.d/chromium.sh).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const SETUP: &str = "scripts/setup.d/70-chromium.sh";
const FOLD: f64 = 900.0;

fn browser_env() {
    for var in ["FIREBREAK_CHROMIUM", "FIREBREAK_PLAYWRIGHT_DIR"] {
        let v = std::env::var_os(var).filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!("{var} is not set: run {SETUP} and `source .tools/env.d/chromium.sh` (scripts/test does both)")
        });
        assert!(Path::new(&v).exists(), "{var}={v:?} does not exist: run {SETUP}");
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is not installed (Node 20+ is needed by the browser tests; see {SETUP})"
    );
}

fn open_in_browser(html: &Path, screenshot: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/browser/report-driver.mjs");
    let o = Command::new("node")
        .arg(&script)
        .arg(html)
        .arg(screenshot)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node {}: {e} (see {SETUP})", script.display()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "driver printed {stdout:?} ({e}); stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert_ne!(v["event"], "error", "report driver failed: {}", v["message"]);
    assert!(o.status.success());
    v
}

fn within_fold(v: &Value, what: &str) {
    let b = &v["boxes"][what];
    assert!(b.is_object(), "no {what} on the page: {}", v["boxes"]);
    let (top, bottom, height) = (
        b["top"].as_f64().unwrap(),
        b["bottom"].as_f64().unwrap(),
        b["height"].as_f64().unwrap(),
    );
    assert!(height > 20.0, "{what} is empty: {b}");
    assert!(
        top >= 0.0 && bottom <= FOLD,
        "{what} is not above the fold (1280×900): {b}"
    );
}

#[test]
fn drill_report_opens_with_summary_and_do_next_above_the_fold() {
    browser_env();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let opts = firebreak_incident::drill::DrillOptions::new(out.clone(), dir.path().join("work"));
    let d = firebreak_incident::drill::run(&opts).unwrap();
    // the drill's one LIVE credential: the old npm token, in each place it is stored
    let npm = d.status.tasks.iter().filter(|t| t.secret == "NPM_TOKEN").count();
    assert!(npm >= 1);
    assert_eq!(d.status.secrets.live, npm, "the drill has one LIVE credential");

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot = shots.join("drill-report.png");
    let v = open_in_browser(&d.report_html, &shot);
    println!(
        "report screenshots: {} and {}",
        shot.display(),
        shots.join("drill-report-fold.png").display()
    );

    within_fold(&v, "summary");
    within_fold(&v, "do_next");
    let summary_bottom = v["boxes"]["summary"]["bottom"].as_f64().unwrap();
    assert!(summary_bottom <= v["boxes"]["do_next"]["top"].as_f64().unwrap());
    // the timeline and the long tables come after
    assert!(
        v["boxes"]["timeline"]["top"].as_f64().unwrap() >= v["boxes"]["do_next"]["bottom"].as_f64().unwrap()
    );

    let kinds: Vec<&str> = v["do_next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"live"), "{}", v["do_next"]);
    assert!(kinds.contains(&"manual"), "the drill's manual step: {kinds:?}");
    assert!(
        kinds.contains(&"artifact"),
        "the drill's flagged wheel: {kinds:?}"
    );
    let live = v["do_next"][0]["title"].as_str().unwrap();
    assert!(live.contains(&format!("Revoke {npm} LIVE credential")), "{live}");

    assert_eq!(
        v["broken_cells"],
        serde_json::json!([]),
        "short cells broken inside a word"
    );
    assert_eq!(
        v["requests"],
        serde_json::json!([]),
        "the report requested something"
    );
    assert_eq!(v["console_errors"], serde_json::json!([]));
    for href in v["links"].as_array().unwrap() {
        let href = href.as_str().unwrap();
        assert!(
            !href.contains("://") && !href.starts_with('/'),
            "not a relative link: {href}"
        );
        assert!(out.join(href).is_file(), "link to a missing file: {href}");
    }
}
