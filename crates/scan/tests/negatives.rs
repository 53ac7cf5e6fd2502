//! File-level false flags of the built-in pack on a corpus of files that hold
//! no real secret (`testdata/secrets/negatives`: documentation prose, config
//! templates, CI files referencing secrets by name, lock files, UUIDs, test
//! placeholders, vendor documentation examples).
//!
//! Each file is one example; a file is flagged when any rule matches in it.
//! Offenders are listed by rule id and path:line, never by value.

use firebreak_scan::RuleSet;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Most negatives flagged (fraction of files with any finding).
const MAX_FLAGGED: f64 = 0.03;

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

#[test]
fn negative_corpus_is_rarely_flagged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/secrets/negatives");
    let set = RuleSet::builtin().expect("pack");
    let files = files_under(&root);
    assert!(files.len() >= 250, "only {} negative files", files.len());
    let mut flagged = 0usize;
    let mut per_rule: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let found = set.find_in(&bytes);
        if !found.is_empty() {
            flagged += 1;
        }
        for m in found {
            let line = bytes[..m.start].iter().filter(|&&b| b == b'\n').count() + 1;
            let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
            per_rule
                .entry(set.rules()[m.rule].def.id.clone())
                .or_default()
                .push(format!("{rel}:{line}"));
        }
    }
    let rate = flagged as f64 / files.len() as f64;
    println!("negatives: {} files, {flagged} flagged ({rate:.3})", files.len());
    for (r, v) in &per_rule {
        println!("  {r}: {}", v.join(", "));
    }
    assert!(
        rate <= MAX_FLAGGED,
        "{flagged} of {} negative files flagged ({rate:.3} > {MAX_FLAGGED}), offenders above",
        files.len()
    );
}

/// Socket.dev publishes one free API token for its demo organisation (in its CLI, its
/// libraries and its agent skills): a known-public value, not a leak. Another token of the
/// same shape is still found. The public value is assembled here, never printed.
#[test]
fn socket_public_demo_token_is_not_reported() {
    let set = RuleSet::builtin().expect("pack");
    let public = [
        "sktsec_t_",
        "--RAN5U4ivauy4w37-",
        "6aoKyYPDt5ZbaT5JBVMqiwKo",
        "_api",
    ]
    .concat();
    for line in [
        format!("SOCKET_SECURITY_API_KEY={public}"),
        format!("const SOCKET_PUBLIC_API_KEY = \"{public}\""),
        format!("socket scan create --api-token {public} ."),
    ] {
        let ids: Vec<&str> = set
            .find_in(line.as_bytes())
            .iter()
            .map(|m| set.rules()[m.rule].def.id.as_str())
            .collect();
        assert!(ids.is_empty(), "the public demo token was reported by {ids:?}");
    }
    let other = "SOCKET_SECURITY_API_KEY=sktsec_Wq8Zr2LmX9vTa7Kp3Wc5Yb1Nd6Hf4Jg0QsEe2Rt5_api";
    let ids: Vec<String> = set
        .find_in(other.as_bytes())
        .iter()
        .map(|m| set.rules()[m.rule].def.id.clone())
        .collect();
    assert!(ids.iter().any(|i| i == "socket.api_key"), "{ids:?}");
}
