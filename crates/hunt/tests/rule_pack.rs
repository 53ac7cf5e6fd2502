//! Data-driven tests of the built-in pack: every rule `rules/<dir>/<stem>.yml` has
//! `rules/tests/<stem>.match.json` (a record, or an array of records, that must fire the
//! rule) and `rules/tests/<stem>.nomatch.json` (that must not).

use firebreak_hunt::{builtin_rule_files, hunt, HuntOptions, RuleSet, SourceKind};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Findings of the rules of one file on the records. Records go to one file per log
/// source (a file holds one kind of log), so a file of several rules, one per source
/// (the incident's IP addresses), is tested on records of each.
fn fires(rule_file: &str, rule_text: &str, records: &serde_json::Value) -> usize {
    let mut rs = RuleSet::default();
    rs.add_text(rule_file, rule_text).unwrap();
    assert!(!rs.rules.is_empty(), "{rule_file}: {:?}", rs.unsupported);
    assert!(rs.unsupported.is_empty(), "{rule_file}: {:?}", rs.unsupported);
    let dir = tempfile::tempdir().unwrap();
    let recs = match records {
        serde_json::Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut by_source: BTreeMap<SourceKind, Vec<serde_json::Value>> = BTreeMap::new();
    for r in recs {
        let text = serde_json::to_string(&r).unwrap();
        let node = firebreak_hunt::node::parse(text.as_bytes()).unwrap();
        let src = SourceKind::detect(&node).unwrap_or_else(|| panic!("{rule_file}: unknown record {text}"));
        by_source.entry(src).or_default().push(r);
    }
    let mut paths = Vec::new();
    for (src, recs) in by_source {
        let p = dir.path().join(format!("{}.jsonl", src.name()));
        let mut f = std::fs::File::create(&p).unwrap();
        for r in recs {
            writeln!(f, "{}", serde_json::to_string(&r).unwrap()).unwrap();
        }
        paths.push(p);
    }
    let rep = hunt(&paths, &rs, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{rule_file}: {:?}", rep.problems);
    assert!(rep.files.iter().all(|f| f.source.is_some()));
    rep.findings.len()
}

#[test]
fn every_builtin_rule_has_matching_and_non_matching_records() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/tests");
    let files = builtin_rule_files();
    assert!(files.len() >= 25, "pack has {} rules", files.len());
    for (name, text) in files {
        let stem = Path::new(name).file_stem().unwrap().to_str().unwrap();
        let m = root.join(format!("{stem}.match.json"));
        let n = root.join(format!("{stem}.nomatch.json"));
        let mj: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&m).unwrap_or_else(|_| panic!("missing {}", m.display())),
        )
        .unwrap();
        let nj: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&n).unwrap_or_else(|_| panic!("missing {}", n.display())),
        )
        .unwrap();
        let n = fires(name, text, &mj);
        assert!(n > 0, "{name}: match record did not fire");
        if name.ends_with("circleci_incident_ioc_ip.yml") {
            // one record per log source, each from an address of the report
            assert_eq!(n, mj.as_array().unwrap().len(), "{name}: not every source fired");
        }
        assert_eq!(fires(name, text, &nj), 0, "{name}: nomatch record fired");
    }
}

#[test]
fn builtin_pack_parses_without_unsupported_rules() {
    let rs = RuleSet::builtin().unwrap();
    assert!(rs.unsupported.is_empty(), "{:?}", rs.unsupported);
    let mut ids: Vec<&str> = rs.rules.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), rs.rules.len(), "duplicate rule ids");
}
