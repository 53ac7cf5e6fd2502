//! The Entra ID audit log, Entra ID Protection risk detections, the Microsoft 365 unified
//! audit log, Google Workspace (Reports API) and the Okta System Log: detected from
//! content in every documented shape (wrappers, arrays, JSON Lines), placed in time for
//! `--window`, normalised (actor, address, action), hunted by the built-in rules, and
//! compiled for DuckDB or refused with a reason. Records are in `testdata/hunt/`, written
//! by `scripts/testdata/hunt_new_sources.py` from the vendors' documented schemas.

mod common;

use firebreak_hunt::compile::{compile, CompileOptions, Target};
use firebreak_hunt::{hunt, HuntOptions, RuleSet, SourceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn td(f: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/hunt")
        .join(f)
}

const FILES: [(&str, SourceKind, u64); 6] = [
    ("azure-audit.json", SourceKind::AzureAudit, 5),
    ("azure-audit-graph.json", SourceKind::AzureAudit, 3),
    ("azure-riskdetections.json", SourceKind::AzureRisk, 3),
    ("m365-audit.json", SourceKind::M365, 4),
    ("google-workspace-admin.json", SourceKind::GoogleWorkspace, 4),
    ("okta-system-log.ndjson", SourceKind::Okta, 5),
];

fn window() -> HuntOptions {
    HuntOptions {
        window: Some("2022-12-21..2023-01-05".parse().unwrap()),
        ..HuntOptions::default()
    }
}

#[test]
fn detected_placed_in_time_and_hunted() {
    let rules = RuleSet::builtin().unwrap();
    let paths: Vec<PathBuf> = FILES.iter().map(|(f, _, _)| td(f)).collect();
    let rep = hunt(&paths, &rules, &window());
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    for ((f, src, n), stat) in FILES.iter().zip(&rep.files) {
        assert_eq!(stat.source, Some(*src), "{f}");
        assert_eq!(stat.records, *n, "{f}");
    }
    // each file has one record before the window (the baseline day)
    assert_eq!(rep.records, 24);
    assert_eq!(rep.in_window, 18);
    let title = |id: &str| rules.rules.iter().find(|r| r.id == id).unwrap().title.clone();
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for f in &rep.findings {
        *by_rule.entry(title(&f.rule_id)).or_default() += 1;
    }
    let want: BTreeMap<String, usize> = [
        ("Entra ID service principal or application credential added", 2),
        ("Entra ID directory role granted", 1),
        ("Entra ID consent or permission granted to an application", 2),
        ("Entra ID Protection risk detection", 2),
        (
            "Microsoft 365 mailbox forwarding or inbox rule that forwards or hides mail",
            1,
        ),
        ("Microsoft 365 mailbox permission granted", 1),
        (
            "Microsoft 365 audit log, application credential added or consent granted",
            1,
        ),
        ("Google Workspace API client granted domain-wide access", 1),
        ("Google Workspace admin role or privilege granted", 1),
        ("Google Workspace user authorised an OAuth application", 1),
        ("Okta API token created", 1),
        ("Okta MFA factor deactivated or reset", 1),
        ("Okta admin privilege granted", 1),
    ]
    .iter()
    .map(|(t, n)| (t.to_string(), *n))
    .collect();
    assert_eq!(by_rule, want);
    // the normalised event of one finding per source
    let ev = |rule: &str| {
        rep.findings
            .iter()
            .find(|f| title(&f.rule_id) == rule)
            .map(|f| f.event.clone())
            .unwrap()
    };
    let e = ev("Entra ID service principal or application credential added");
    assert_eq!(e.source, SourceKind::AzureAudit);
    assert_eq!(e.actor.as_deref(), Some("build-deployer"));
    assert_eq!(e.actor_type.as_deref(), Some("app"));
    assert_eq!(e.action.as_deref(), Some("Add service principal credentials"));
    assert_eq!(e.target.as_deref(), Some("build-deployer"));
    assert_eq!(e.outcome.as_deref(), Some("success"));
    assert_eq!(e.time.unwrap().to_rfc3339(), "2023-01-02T10:15:00+00:00");
    let e = ev("Entra ID consent or permission granted to an application");
    assert_eq!(e.actor.as_deref(), Some("mallory@acme.onmicrosoft.com"));
    assert_eq!(e.source_ip.as_deref(), Some("198.51.100.66"));
    let e = ev("Entra ID Protection risk detection");
    assert_eq!(e.actor.as_deref(), Some("mallory@acme.onmicrosoft.com"));
    assert_eq!(e.action.as_deref(), Some("anonymizedIPAddress"));
    assert_eq!(e.location.as_deref(), Some("RO"));
    let e = ev("Microsoft 365 mailbox forwarding or inbox rule that forwards or hides mail");
    assert_eq!(e.actor.as_deref(), Some("mallory@acme.onmicrosoft.com"));
    assert_eq!(e.source_ip.as_deref(), Some("198.51.100.66"), "port stripped");
    assert_eq!(e.action.as_deref(), Some("New-InboxRule"));
    assert_eq!(e.outcome.as_deref(), Some("success"));
    let e = ev("Google Workspace API client granted domain-wide access");
    assert_eq!(e.actor.as_deref(), Some("ci-admin@acme.example"));
    assert_eq!(e.action.as_deref(), Some("admin:AUTHORIZE_API_CLIENT_ACCESS"));
    assert_eq!(e.target.as_deref(), Some("104918239480231"));
    assert_eq!(e.source_ip.as_deref(), Some("198.51.100.66"));
    assert_eq!(e.time.unwrap().to_rfc3339(), "2023-01-03T11:00:00+00:00");
    let e = ev("Okta API token created");
    assert_eq!(e.actor.as_deref(), Some("ci-admin@acme.example"));
    assert_eq!(e.action.as_deref(), Some("system.api_token.create"));
    assert_eq!(e.target.as_deref(), Some("sync-token"));
    assert_eq!(e.outcome.as_deref(), Some("success"));
    assert_eq!(e.location.as_deref(), Some("Romania"));
    assert!(e.user_agent.unwrap().contains("Chrome"));
}

/// Every shape a vendor documents reads the same records: the export wrappers, a bare
/// JSON array, JSON Lines.
#[test]
fn every_shape_reads_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let rules = RuleSet::builtin().unwrap();
    for (f, src, n) in FILES {
        let doc: serde_json::Value = match f.ends_with(".ndjson") {
            true => serde_json::Value::Array(
                std::fs::read_to_string(td(f))
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect(),
            ),
            false => serde_json::from_str(&std::fs::read_to_string(td(f)).unwrap()).unwrap(),
        };
        let records: Vec<serde_json::Value> = match &doc {
            serde_json::Value::Array(a) => a.clone(),
            serde_json::Value::Object(o) => ["records", "value", "items"]
                .iter()
                .find_map(|k| o.get(*k))
                .unwrap()
                .as_array()
                .unwrap()
                .clone(),
            _ => unreachable!(),
        };
        let array = dir.path().join(format!("{f}.array.json"));
        std::fs::write(&array, serde_json::to_string_pretty(&records).unwrap()).unwrap();
        let lines = dir.path().join(format!("{f}.jsonl"));
        let text: Vec<String> = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        std::fs::write(&lines, text.join("\n") + "\n").unwrap();
        let base = hunt(&[td(f)], &rules, &window());
        for p in [&array, &lines] {
            let rep = hunt(std::slice::from_ref(p), &rules, &window());
            assert!(rep.problems.is_empty(), "{}: {:?}", p.display(), rep.problems);
            assert_eq!(rep.files[0].source, Some(src), "{}", p.display());
            assert_eq!(rep.records, n, "{}", p.display());
            let ids = |r: &firebreak_hunt::HuntReport| -> Vec<(String, u64)> {
                r.findings
                    .iter()
                    .map(|f| (f.rule_id.clone(), f.event.record))
                    .collect()
            };
            assert_eq!(ids(&rep), ids(&base), "{}", p.display());
        }
    }
}

#[test]
fn a_malformed_record_is_counted_with_its_line_and_the_rest_hunted() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("okta.ndjson");
    let good = std::fs::read_to_string(td("okta-system-log.ndjson")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(
        2,
        "{\"eventType\": \"user.session.start\", \"published\": \"not a time\", \"uuid\": \"x\"}",
    );
    lines.insert(3, "{not json");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let rep = hunt(&[p], &RuleSet::builtin().unwrap(), &window());
    assert_eq!(rep.malformed, 2);
    let at: Vec<(Option<u64>, &str)> = rep.problems.iter().map(|p| (p.line, p.kind_str())).collect();
    assert_eq!(at, [(Some(3), "malformed"), (Some(4), "malformed")]);
    assert!(rep.problems[0].message.contains("unparsable timestamp for okta"));
    assert_eq!(rep.findings.len(), 3);
}

#[test]
fn compiled_for_duckdb_or_refused_with_a_reason() {
    let rules = RuleSet::builtin().unwrap();
    let (compiled, unsup) = compile(
        &rules,
        &CompileOptions {
            target: Target::Duckdb,
            table: None,
        },
    );
    let srcs: BTreeSet<SourceKind> = compiled.iter().map(|c| c.source).collect();
    for s in [
        SourceKind::AzureAudit,
        SourceKind::AzureRisk,
        SourceKind::M365,
        SourceKind::Okta,
    ] {
        assert!(srcs.contains(&s), "nothing compiled for {s}");
    }
    let reason = |title: &str| {
        unsup
            .iter()
            .find(|u| u.rule == title)
            .map(|u| u.reason.clone())
            .unwrap_or_default()
    };
    // fields through arrays (M365 `Parameters`, Workspace `events`) compile: every element
    for title in [
        "Microsoft 365 mailbox forwarding or inbox rule that forwards or hides mail",
        "Google Workspace API client granted domain-wide access",
    ] {
        assert_eq!(reason(title), "", "{unsup:?}");
        let c = compiled.iter().find(|c| c.title == title).unwrap();
        assert!(c.filter.contains("[*]"), "{}", c.filter);
    }
    // Azure audit records are read from the export (`records`) and Graph pages (`value`)
    let c = compiled
        .iter()
        .find(|c| c.title == "Entra ID directory role granted")
        .unwrap();
    assert!(
        c.query.contains("'$.value'") && c.query.contains("'$.records'"),
        "{}",
        c.query
    );
    assert!(c.filter.contains("COALESCE("), "{}", c.filter);
}

/// DuckDB (FIREBREAK_PYTHON) selects the events the native engine selects, for every
/// built-in rule of the new sources that compiles.
#[test]
fn duckdb_selects_what_the_native_engine_selects() {
    common::python();
    let rules = RuleSet::builtin().unwrap();
    let mut queries = BTreeMap::new();
    let mut native = BTreeMap::new();
    for (f, src, _) in FILES {
        let path = td(f).canonicalize().unwrap();
        let (compiled, _) = compile(
            &rules,
            &CompileOptions {
                target: Target::Duckdb,
                table: Some(path.display().to_string()),
            },
        );
        let rep = hunt(std::slice::from_ref(&path), &rules, &HuntOptions::default());
        let (_, id_path, _) = firebreak_hunt::compile::duckdb_from(src, None);
        for c in compiled.iter().filter(|c| c.source == src) {
            let ids: BTreeSet<String> = rep
                .findings
                .iter()
                .filter(|x| x.rule_id == c.rule_id)
                .map(|x| x.event.record.to_string())
                .collect();
            let key = format!("{f}|{}", c.rule_id);
            // DuckDB gives the record's id field; the native side is mapped below
            native.insert(key.clone(), (path.clone(), id_path, ids));
            queries.insert(key, c.query.clone());
        }
    }
    assert!(queries.len() >= 8, "{:?}", queries.keys());
    let got = common::event_ids(&queries);
    let mut fired = 0;
    for (key, (path, id_path, recs)) in native {
        // the id of each native finding's record, read as DuckDB reads it
        let doc: serde_json::Value = {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str(&text).unwrap_or_else(|_| {
                serde_json::Value::Array(text.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
            })
        };
        let records = match &doc {
            serde_json::Value::Array(a) => a.clone(),
            serde_json::Value::Object(o) => ["records", "value", "items"]
                .iter()
                .find_map(|k| o.get(*k))
                .unwrap()
                .as_array()
                .unwrap()
                .clone(),
            _ => unreachable!(),
        };
        let ptr = id_path.trim_start_matches("$.").replace('.', "/");
        let want: BTreeSet<String> = recs
            .iter()
            .map(|r| {
                let rec = &records[r.parse::<usize>().unwrap() - 1];
                let v = rec.pointer(&format!("/{ptr}")).unwrap();
                v.as_str().map(str::to_string).unwrap_or(v.to_string())
            })
            .collect();
        fired += usize::from(!want.is_empty());
        assert_eq!(got[&key], want, "{key}");
    }
    assert!(fired >= 6, "{fired}");
}
