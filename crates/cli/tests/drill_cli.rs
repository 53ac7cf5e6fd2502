//! `firebreak drill` end to end: it runs offline, and its report and status agree with the
//! store (rotations = rotation records, planted leaks found, hunt / census numbers); no
//! planted secret appears whole in the report or on stdout (checked with the scanner).

use assert_cmd::Command;
use firebreak_providers::sim::{SimConfig, SimState};
use serde_json::Value;
use std::collections::BTreeSet;

fn fb() -> Command {
    let mut c = Command::cargo_bin("firebreak").unwrap();
    c.env("NO_COLOR", "1")
        .env("CI", "1")
        .env_remove("FIREBREAK_STORE");
    c
}

#[test]
fn drill_runs_and_agrees_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("drill.db");
    let out_dir = dir.path().join("report");
    let o = fb()
        .args([
            "drill",
            "--json",
            "--out",
            out_dir.to_str().unwrap(),
            "--store",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let d: Value = serde_json::from_str(&stdout).unwrap();
    let name = d["incident"].as_str().unwrap().to_string();

    // the planted leaks are all found
    let planted = d["leaks_planted"].as_u64().unwrap();
    assert!(planted >= 2);
    assert_eq!(d["leaks_found"], planted);

    // status recomputed from the store = the drill's
    let store = firebreak_store::Store::open(&db).unwrap();
    let s = firebreak_incident::status(&store, &name).unwrap();
    let ds: firebreak_incident::Status = serde_json::from_value(d["status"].clone()).unwrap();
    assert_eq!(s.secrets, ds.secrets);
    assert_eq!(s.rotation, ds.rotation);
    assert_eq!(s.hunts, ds.hunts);
    assert_eq!(s.scans, ds.scans);
    assert_eq!(s.census, ds.census);

    // every variable rotated has a rotation record; keys were replaced through CircleCI
    let tasks: BTreeSet<String> = s.tasks.iter().map(|t| t.identity.clone()).collect();
    let recorded: BTreeSet<String> = store
        .rotation_records()
        .unwrap()
        .into_iter()
        .map(|r| r.identity)
        .filter(|i| tasks.contains(i))
        .collect();
    let vars_done = s
        .tasks
        .iter()
        .filter(|t| matches!(t.kind.as_str(), "env_var" | "context_var"))
        .filter(|t| matches!(t.state.as_str(), "rotated" | "verified" | "live"))
        .count();
    assert_eq!(recorded.len(), vars_done);
    assert!(vars_done > 0);
    assert_eq!(s.rotation.done, d["rotation"]["done"].as_u64().unwrap() as usize);
    assert_eq!(s.rotation.stopped, 0);
    // re-inventoried: rotations are verified by the provider's timestamps
    assert!(s.secrets.verified > 0);
    assert_eq!(
        s.secrets.pending,
        0,
        "{:#?}",
        s.tasks
            .iter()
            .filter(|t| t.state == "pending")
            .collect::<Vec<_>>()
    );
    assert_eq!(
        s.secrets.total,
        s.secrets.live
            + s.secrets.verified
            + s.secrets.rotated
            + s.secrets.manual
            + s.secrets.stopped
            + s.secrets.not_checked
    );
    // every CircleCI kind is in the playbook; those no API lists are not checked, and
    // the report says so
    let kinds: BTreeSet<&str> = s.tasks.iter().map(|t| t.kind.as_str()).collect();
    for k in [
        "env_var",
        "context_var",
        "checkout_key",
        "project_api_token",
        "runner_token",
        "aws_keypair",
        "oauth_authorization",
        "personal_api_token",
    ] {
        assert!(
            kinds.contains(k),
            "{k} missing from the drill's playbook: {kinds:?}"
        );
    }
    assert_eq!(
        s.secrets.not_checked, 2,
        "OAuth and personal tokens of one organisation"
    );
    assert!(s
        .tasks
        .iter()
        .filter(|t| t.kind == "oauth_authorization" || t.kind == "personal_api_token")
        .all(|t| t.state == "not_checked"));
    // runner tokens were rotated through the runner API and a config file, and verified
    assert!(
        s.tasks
            .iter()
            .filter(|t| t.kind == "runner_token")
            .all(|t| t.state == "verified"),
        "{:#?}",
        s.tasks
            .iter()
            .filter(|t| t.kind == "runner_token")
            .collect::<Vec<_>>()
    );
    // project API tokens and AWS key pairs are manual steps
    assert!(s
        .tasks
        .iter()
        .filter(|t| t.kind == "project_api_token" || t.kind == "aws_keypair")
        .all(|t| t.state == "manual"));
    // proof at the source: the old npm token was never revoked at npm although its
    // CircleCI variable was rotated: LIVE, listed first, whatever the rotation says
    // (every task of that name: the unfollowed project holds an NPM_TOKEN too)
    let npm_tasks = s.tasks.iter().filter(|t| t.secret == "NPM_TOKEN").count();
    assert!(npm_tasks >= 1);
    assert_eq!(s.secrets.live, npm_tasks, "{:#?}", s.tasks);
    assert_eq!(s.tasks[0].secret, "NPM_TOKEN");
    assert_eq!(s.tasks[0].state, "live");
    assert_eq!(
        s.tasks[0].old_validation.as_ref().unwrap()["identity"]["username"],
        "acme-publisher"
    );
    // scan findings cover the planted leaks; the hunt saw the attacker; one bad artifact
    assert!(s.scans.findings as u64 >= planted);
    assert!(s.hunts.findings.high >= 1);
    assert_eq!((s.census.artifacts, s.census.flagged), (3, 1));
    // the account behind the leaked keys is decoded, not guessed
    let inc = store.incident(&name).unwrap().unwrap();
    let events = store.incident_events(inc.id).unwrap();
    let aws: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "scan_finding" && e.detail["rule_id"] == "aws.access_key_id")
        .collect();
    assert!(!aws.is_empty() && aws.iter().all(|e| e.detail["account_id"].is_string()));

    // the report says the same, offline
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    let lower = html.to_ascii_lowercase();
    for bad in [
        "src=\"http",
        "<script",
        "<link",
        "@import",
        "url(http",
        "href=\"http",
    ] {
        assert!(!lower.contains(bad), "report.html: {bad}");
    }
    assert!(html.contains("<svg"));
    // what was not checked, and why
    assert!(md.contains("NOT checked: no API lists these kinds"), "{md}");
    assert!(md.contains("OAuth"), "{md}");
    assert!(html.contains(&format!(
        r#"<div class="card"><b>{}</b>verified"#,
        s.secrets.verified
    )));
    // hunt findings: one per audit record (a call that tripped a rule and novelty checks
    // is one finding), fewer than the raw hits
    let brief =
        firebreak_incident::report::brief(&firebreak_incident::report::gather(&store, &name).unwrap());
    assert!(brief.hunt.len() < s.hunts.findings.total());
    assert_eq!(brief.summary.hunt_raw, s.hunts.findings.total());
    assert!(html.contains(&format!(
        r#"<div class="card"><b>{}</b>hunt findings"#,
        brief.hunt.len()
    )));
    assert!(md.contains(&format!("## Hunt findings ({})", brief.hunt.len())));
    // the summary and "Do next" open both, LIVE first
    assert_eq!(brief.do_next[0].kind, "live");
    let top = html.find(r#"id="do-next""#).unwrap();
    assert!(html.find(r#"id="summary""#).unwrap() < top && top < html.find("<h2>Timeline").unwrap());
    assert!(md.find("## Do next").unwrap() < md.find("## What was checked").unwrap());
    assert!(md.contains(&format!(
        "| census | 1 ({} artifacts, {} flagged) |",
        s.census.artifacts, s.census.flagged
    )));
    // `firebreak report` on the kept store writes the same numbers
    let again = dir.path().join("again");
    let o = fb()
        .args([
            "report",
            &name,
            "--out",
            again.to_str().unwrap(),
            "--store",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let md2 = std::fs::read_to_string(again.join("report.md")).unwrap();
    let table = |m: &str| {
        m.lines()
            .filter(|l| l.starts_with("| "))
            .take(8)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(table(&md), table(&md2));

    // no planted secret whole: scan what the drill wrote with firebreak's own scanner
    let cfg = SimConfig {
        seed: 2023,
        projects: 12,
        org: firebreak_incident::drill::ORG.into(),
        log_projects: 3,
        page_size: 100,
        ..SimConfig::default()
    };
    let leaked: BTreeSet<String> = SimState::seeded(&cfg)
        .leaked
        .into_iter()
        .map(|l| l.fingerprint)
        .collect();
    assert_eq!(leaked.len() as u64, planted);
    let scanner = firebreak_scan::Scanner::new(
        firebreak_scan::RuleSet::builtin().unwrap(),
        firebreak_scan::ScanOptions::default(),
    );
    for (what, text) in [("report.html", &html), ("report.md", &md), ("stdout", &stdout)] {
        let rep = scanner.scan_reader(what, text.as_bytes());
        for f in &rep.findings {
            assert!(
                !leaked.contains(&f.fingerprint),
                "{what}: a planted secret appears whole ({})",
                f.rule_id
            );
        }
        assert!(
            firebreak_incident::blast::aws_key_ids_in(text).is_empty(),
            "{what}: an AWS key id appears whole"
        );
    }
}
