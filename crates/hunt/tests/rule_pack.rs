//! Data-driven tests of the built-in pack: every rule `rules/<dir>/<stem>.yml` has
//! `rules/tests/<stem>.match.json` (a record, or an array of records, that must fire the
//! rule) and `rules/tests/<stem>.nomatch.json` (that must not).

use firebreak_hunt::{builtin_rule_files, hunt, HuntOptions, RuleSet};
use std::io::Write;
use std::path::Path;

fn fires(rule_file: &str, rule_text: &str, records: &serde_json::Value) -> usize {
    let mut rs = RuleSet::default();
    rs.add_text(rule_file, rule_text).unwrap();
    assert_eq!(rs.rules.len(), 1, "{rule_file}: {:?}", rs.unsupported);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("records.jsonl");
    let mut f = std::fs::File::create(&p).unwrap();
    let recs = match records {
        serde_json::Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    for r in recs {
        writeln!(f, "{}", serde_json::to_string(&r).unwrap()).unwrap();
    }
    drop(f);
    let rep = hunt(&[p], &rs, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{rule_file}: {:?}", rep.problems);
    assert!(rep.files[0].source.is_some());
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
        assert!(fires(name, text, &mj) > 0, "{name}: match record did not fire");
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
