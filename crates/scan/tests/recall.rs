//! Line-level recall of the built-in pack on CredSweeper's public test samples
//! (`testdata/secrets/credsweeper`), against CredSweeper's expected output.
//!
//! recall = |expected (path, line) pairs that firebreak reports| / |expected pairs|.
//! A finding covers every line its secret spans (a PEM private key block covers
//! all of its lines, as CredSweeper reports each of them).
//!
//! With `FB_RECALL_MISSES=1` it lists the missed lines (path:line, never values).
//!
//! It also prints a precision-ish figure: findings on lines that are not even in
//! CredSweeper's unfiltered superset (`no_filters_no_ml.json`) are likely false
//! positives; they are listed by rule id and path:line, never by value.
//!
//! No rule encodes sample file names or sample values: the figure comes from
//! general formats (see docs/rules.md).

use firebreak_scan::RuleSet;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const BASE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/secrets/credsweeper/tests"
);
/// Recall the pack must reach.
const MIN_RECALL: f64 = 0.90;
/// Likely false positives tolerated (findings outside CredSweeper's unfiltered superset).
const MAX_LIKELY_FP: usize = 37;

type Pair = (String, usize);

/// (path relative to samples/, line) pairs of a CredSweeper report, with rule names.
fn load_report(name: &str) -> BTreeMap<Pair, BTreeSet<String>> {
    let p = Path::new(BASE).join("data").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut out: BTreeMap<Pair, BTreeSet<String>> = BTreeMap::new();
    for cand in v.as_array().expect("array") {
        let rule = cand["rule"].as_str().unwrap_or("?").to_string();
        for ld in cand["line_data_list"].as_array().expect("line_data_list") {
            let path = ld["path"].as_str().expect("path");
            let rel = path.strip_prefix("./tests/samples/").unwrap_or(path).to_string();
            let line = ld["line_num"].as_u64().expect("line_num") as usize;
            out.entry((rel, line)).or_default().insert(rule.clone());
        }
    }
    out
}

fn sample_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(BASE).join("samples")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("samples dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Like the scanner's default: files with a NUL byte near the start are binary and skipped.
fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0)
}

/// Every (path, line, rule id) the pack reports over the samples.
fn scan(set: &RuleSet) -> (BTreeMap<Pair, BTreeSet<String>>, usize) {
    let root = Path::new(BASE).join("samples");
    let mut found: BTreeMap<Pair, BTreeSet<String>> = BTreeMap::new();
    let mut skipped = 0;
    for f in sample_files() {
        let bytes = std::fs::read(&f).expect("read sample");
        if looks_binary(&bytes) {
            skipped += 1;
            continue;
        }
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let mut line_starts = vec![0usize];
        line_starts.extend(memchr_iter(&bytes).map(|i| i + 1));
        let line_of = |off: usize| line_starts.partition_point(|&s| s <= off); // 1-based
        for m in set.find_in(&bytes) {
            let first = line_of(m.start);
            let last = line_of(m.end.saturating_sub(1).max(m.start));
            let id = &set.rules()[m.rule].def.id;
            for l in first..=last {
                found.entry((rel.clone(), l)).or_default().insert(id.clone());
            }
        }
    }
    (found, skipped)
}

fn memchr_iter(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    b.iter().enumerate().filter(|(_, &c)| c == b'\n').map(|(i, _)| i)
}

#[test]
fn credsweeper_line_recall() {
    let set = RuleSet::builtin().expect("pack");
    let expected = load_report("output.json");
    let superset = load_report("no_filters_no_ml.json");
    let (found, skipped) = scan(&set);

    let hit: Vec<&Pair> = expected.keys().filter(|k| found.contains_key(*k)).collect();
    let recall = hit.len() as f64 / expected.len() as f64;

    // Misses by CredSweeper rule name.
    let mut misses: BTreeMap<&str, usize> = BTreeMap::new();
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, rules) in &expected {
        for r in rules {
            *totals.entry(r.as_str()).or_default() += 1;
            if !found.contains_key(k) {
                *misses.entry(r.as_str()).or_default() += 1;
            }
        }
    }
    // Hits by firebreak rule id.
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &hit {
        for r in &found[*k] {
            *by_rule.entry(r.as_str()).or_default() += 1;
        }
    }
    // Likely false positives: reported lines outside CredSweeper's unfiltered superset.
    let likely_fp: Vec<(&Pair, &BTreeSet<String>)> =
        found.iter().filter(|(k, _)| !superset.contains_key(*k)).collect();
    let in_superset_not_expected = found
        .keys()
        .filter(|k| superset.contains_key(*k) && !expected.contains_key(*k))
        .count();

    println!("== CredSweeper samples: line-level recall ==");
    println!(
        "recall: {:.3} ({} of {} expected (path, line) pairs); binary files skipped: {skipped}",
        recall,
        hit.len(),
        expected.len()
    );
    println!(
        "reported lines: {}; in CredSweeper's unfiltered superset but filtered out by it: {}; outside the superset (likely false positives): {}",
        found.len(),
        in_superset_not_expected,
        likely_fp.len()
    );
    println!("-- misses by CredSweeper rule (missed / expected) --");
    for (r, n) in &misses {
        println!("  {r}: {n} / {}", totals[r]);
    }
    if std::env::var_os("FB_RECALL_MISSES").is_some() {
        println!("-- missed lines (CredSweeper rules: path:line) --");
        for (k, rules) in &expected {
            if !found.contains_key(k) {
                let names: Vec<&str> = rules.iter().map(String::as_str).collect();
                println!("  {}: {}:{}", names.join(", "), k.0, k.1);
            }
        }
    }
    println!("-- expected lines found, by firebreak rule --");
    for (r, n) in &by_rule {
        println!("  {r}: {n}");
    }
    println!("-- likely false positives (rule: path:line) --");
    let mut fp_by_rule: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((p, l), rules) in &likely_fp {
        for r in *rules {
            fp_by_rule.entry(r.as_str()).or_default().push(format!("{p}:{l}"));
        }
    }
    for (r, v) in &fp_by_rule {
        println!("  {r} ({}): {}", v.len(), v.join(", "));
    }
    assert!(recall >= MIN_RECALL, "recall {recall:.3} is below {MIN_RECALL}");
    assert!(
        likely_fp.len() <= MAX_LIKELY_FP,
        "{} likely false positives (max {MAX_LIKELY_FP}), listed above",
        likely_fp.len()
    );
}
