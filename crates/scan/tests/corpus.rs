//! File-level quality of the built-in pack on the repository's own labelled
//! corpora, per confidence level:
//!
//! - positives: `testdata/secrets/positives` (realistic CI logs and config
//!   files, one made-up credential or more each) and every rule's `examples`
//!   (one file each);
//! - negatives: `testdata/secrets/negatives` (prose, templates, lock files,
//!   placeholders; see `negatives.rs`) and every rule's `negative_examples`.
//!
//! For each level L, a file counts as flagged at L when a rule of confidence
//! L or more matches in it; precision at L = flagged positives / (flagged
//! positives + flagged negatives). The table printed here is the one in
//! `docs/scan.md`: `cargo test -p firebreak-scan --test corpus -- --nocapture`.

use firebreak_core::Confidence;
use firebreak_scan::RuleSet;
use std::path::{Path, PathBuf};

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("corpus dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "README.md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The highest confidence among the matches in `hay` (`None`: no match).
fn top_confidence(set: &RuleSet, hay: &[u8]) -> Option<Confidence> {
    set.find_in(hay)
        .iter()
        .map(|m| set.rules()[m.rule].def.confidence)
        .max()
}

struct Tally {
    total: usize,
    at_least: [usize; 3],
}

impl Tally {
    fn new() -> Tally {
        Tally {
            total: 0,
            at_least: [0; 3],
        }
    }
    fn add(&mut self, top: Option<Confidence>) {
        self.total += 1;
        if let Some(c) = top {
            for (i, level) in LEVELS.iter().enumerate() {
                if c >= *level {
                    self.at_least[i] += 1;
                }
            }
        }
    }
}

const LEVELS: [Confidence; 3] = [Confidence::Low, Confidence::Medium, Confidence::High];

#[test]
fn per_confidence_precision_and_recall_on_own_corpora() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/secrets");
    let set = RuleSet::builtin().expect("pack");
    let (mut pos_files, mut neg_files) = (Tally::new(), Tally::new());
    let (mut pos_examples, mut neg_examples) = (Tally::new(), Tally::new());
    let mut missed = Vec::new();
    for f in files_under(&base.join("positives")) {
        let top = top_confidence(&set, &std::fs::read(&f).expect("read"));
        if top.is_none() {
            missed.push(f.file_name().unwrap_or_default().to_string_lossy().to_string());
        }
        pos_files.add(top);
    }
    for f in files_under(&base.join("negatives")) {
        neg_files.add(top_confidence(&set, &std::fs::read(&f).expect("read")));
    }
    for r in set.rules() {
        for e in &r.def.examples {
            pos_examples.add(top_confidence(&set, e.as_bytes()));
        }
        for (n, e) in r.def.negative_examples.iter().enumerate() {
            let top = top_confidence(&set, e.as_bytes());
            // FB_NEG_EXAMPLES=1 lists the flagged ones by rule and index (and the rules
            // that flag them), never by value.
            if top.is_some() && std::env::var_os("FB_NEG_EXAMPLES").is_some() {
                let by: Vec<&str> = set
                    .find_in(e.as_bytes())
                    .iter()
                    .map(|m| set.rules()[m.rule].def.id.as_str())
                    .collect();
                println!("negative example #{} of {} flagged by {by:?}", n + 1, r.def.id);
            }
            neg_examples.add(top);
        }
    }
    println!(
        "positives: {} files + {} rule examples; negatives: {} files + {} negative examples",
        pos_files.total, pos_examples.total, neg_files.total, neg_examples.total
    );
    println!("| min confidence | positive files flagged | negative files flagged | precision (files) | rule examples flagged | negative examples flagged | precision (examples) |");
    println!("|---|---|---|---|---|---|---|");
    for (i, level) in LEVELS.iter().enumerate() {
        let prec = |tp: usize, fp: usize| {
            if tp + fp == 0 {
                1.0
            } else {
                tp as f64 / (tp + fp) as f64
            }
        };
        println!(
            "| {} | {}/{} ({:.3}) | {}/{} ({:.3}) | {:.3} | {}/{} ({:.3}) | {}/{} ({:.3}) | {:.3} |",
            format!("{level:?}").to_lowercase(),
            pos_files.at_least[i],
            pos_files.total,
            pos_files.at_least[i] as f64 / pos_files.total as f64,
            neg_files.at_least[i],
            neg_files.total,
            neg_files.at_least[i] as f64 / neg_files.total as f64,
            prec(pos_files.at_least[i], neg_files.at_least[i]),
            pos_examples.at_least[i],
            pos_examples.total,
            pos_examples.at_least[i] as f64 / pos_examples.total as f64,
            neg_examples.at_least[i],
            neg_examples.total,
            neg_examples.at_least[i] as f64 / neg_examples.total as f64,
            prec(pos_examples.at_least[i], neg_examples.at_least[i]),
        );
    }
    println!("positive files missed: {missed:?}");
    assert!(missed.is_empty(), "positive files with no finding: {missed:?}");
    // Every level must mean something: higher levels are at least as precise.
    let p = |i: usize| {
        let (tp, fp) = (
            pos_files.at_least[i] + pos_examples.at_least[i],
            neg_files.at_least[i] + neg_examples.at_least[i],
        );
        tp as f64 / (tp + fp).max(1) as f64
    };
    assert!(
        p(2) >= p(1) && p(1) >= p(0),
        "precision does not grow with confidence: {} {} {}",
        p(0),
        p(1),
        p(2)
    );
}
