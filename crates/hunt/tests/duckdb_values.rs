//! Compiled = native on the values where engines differ: numbers written `7`, `7.0`,
//! `"7"`, `7.5`, `1e3` against rule values `7`, `7.5`, `1000` and a number inside a
//! wildcard, and non-ASCII text compared without case (`Ä`/`ä`, `É`, `ß`, Cyrillic) with
//! equals, contains, startswith and endswith. Every rule runs natively and as its DuckDB
//! query (PyPI `duckdb`, FIREBREAK_PYTHON) over the same JSON Lines; both must select the
//! same events.

mod common;

use firebreak_hunt::compile::{compile, CompileOptions, Target};
use firebreak_hunt::{hunt, HuntOptions, RuleSet, SourceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

const RECORDS: &[(&str, &str, &str)] = &[
    // uuid, debugData.n (raw JSON), displayMessage
    ("n-int", "7", "plain"),
    ("n-float", "7.0", "plain"),
    ("n-str", "\"7\"", "plain"),
    ("n-half", "7.5", "plain"),
    ("n-half-str", "\"7.5\"", "plain"),
    ("n-exp", "1e3", "plain"),
    ("n-big", "1000", "plain"),
    ("n-neg", "-7", "plain"),
    ("t-upper", "0", "ÄRGER über Éclair"),
    ("t-lower", "0", "ärger ÜBER éclair"),
    ("t-sharp", "0", "Straße"),
    ("t-cyr", "0", "ПАРОЛЬ изменён"),
    ("t-ascii", "0", "ARGER uber Eclair"),
];

fn rule(n: usize, sel: &str) -> String {
    format!(
        "title: values probe {n}\nid: 00000000-0000-4000-8000-{n:012}\nstatus: test\nlogsource:\n  product: okta\n  service: okta\ndetection:\n  sel:\n{sel}\n  condition: sel\nlevel: low\n"
    )
}

#[test]
fn numbers_and_non_ascii_select_the_same_events_in_duckdb() {
    common::python();
    let sels = [
        "    debugContext.debugData.n: 7",
        "    debugContext.debugData.n: 7.5",
        "    debugContext.debugData.n: 1000",
        "    debugContext.debugData.n: '-7'",
        "    debugContext.debugData.n|contains: '.5'",
        "    debugContext.debugData.n: '7*'",
        "    displayMessage: 'ärger über éclair'",
        "    displayMessage|contains: 'ÜBER'",
        "    displayMessage|startswith: 'ÄR'",
        "    displayMessage|endswith: 'ÉCLAIR'",
        "    displayMessage|contains: 'straße'",
        "    displayMessage|contains: 'пароль'",
        "    displayMessage|cased: 'ÄRGER über Éclair'",
    ];
    let mut rs = RuleSet::default();
    for (i, s) in sels.iter().enumerate() {
        rs.add_text(&format!("r{i}.yml"), &rule(i, s)).unwrap();
    }
    assert_eq!(rs.rules.len(), sels.len(), "{:?}", rs.unsupported);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okta.ndjson");
    let mut f = std::fs::File::create(&path).unwrap();
    for (id, n, msg) in RECORDS {
        writeln!(
            f,
            "{{\"uuid\":\"{id}\",\"published\":\"2023-01-02T00:00:00.000Z\",\"eventType\":\"user.session.start\",\"displayMessage\":{},\"actor\":{{\"alternateId\":\"a\"}},\"debugContext\":{{\"debugData\":{{\"n\":{n}}}}}}}",
            serde_json::to_string(msg).unwrap()
        )
        .unwrap();
    }
    drop(f);
    let rep = hunt(std::slice::from_ref(&path), &rs, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    let mut native: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for x in &rep.findings {
        let id = RECORDS[x.event.record as usize - 1].0.to_string();
        native.entry(x.rule_id.clone()).or_default().insert(id);
    }
    let (compiled, unsup) = compile(
        &rs,
        &CompileOptions {
            target: Target::Duckdb,
            table: Some(path.display().to_string()),
        },
    );
    assert!(unsup.is_empty(), "{unsup:?}");
    let queries: BTreeMap<String, String> = compiled
        .iter()
        .filter(|c| c.source == SourceKind::Okta)
        .map(|c| (c.rule_id.clone(), c.query.clone()))
        .collect();
    assert_eq!(queries.len(), sels.len());
    let got = common::event_ids(&queries);
    for (i, s) in sels.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let n = native.get(&id).cloned().unwrap_or_default();
        let d = got.get(&id).cloned().unwrap_or_default();
        assert_eq!(n, d, "rule {s:?}: native vs DuckDB");
    }
    // and the native engine says what the spec says
    let sel = |i: usize| {
        native
            .get(&format!("00000000-0000-4000-8000-{i:012}"))
            .cloned()
            .unwrap_or_default()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(sel(0), set(&["n-float", "n-int", "n-str"]));
    assert_eq!(sel(1), set(&["n-half", "n-half-str"]));
    assert_eq!(sel(2), set(&["n-big", "n-exp"]));
    assert_eq!(sel(6), set(&["t-lower", "t-upper"]));
    assert_eq!(sel(10), set(&["t-sharp"]));
    assert_eq!(sel(11), set(&["t-cyr"]));
    assert_eq!(sel(12), set(&["t-upper"]));
}
