//! Minimal driver used by `bench/hunt.sh` when `HUNT_BENCH_LIB=1`: runs the built-in pack
//! over the given paths like `firebreak hunt --format jsonl` and writes JSON Lines to stdout.

use firebreak_hunt::{hunt, HuntOptions, RuleSet};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rules = RuleSet::builtin().expect("built-in pack");
    if args.first().map(String::as_str) == Some("--duckdb-sql") {
        // same output as `firebreak hunt compile --target duckdb --combined --table GLOB`
        use firebreak_hunt::compile::{compile, duckdb_combined, CompileOptions, Target};
        let glob = args.get(1).expect("--duckdb-sql GLOB");
        let (c, _) = compile(
            &rules,
            &CompileOptions {
                target: Target::Duckdb,
                table: Some(glob.clone()),
            },
        );
        println!(
            "{}",
            duckdb_combined(&c, firebreak_hunt::SourceKind::Cloudtrail, glob).unwrap()
        );
        return;
    }
    let paths: Vec<std::path::PathBuf> = args.iter().map(Into::into).collect();
    let rep = hunt(&paths, &rules, &HuntOptions::default());
    let out = std::io::stdout();
    let mut w = std::io::BufWriter::new(out.lock());
    for f in &rep.findings {
        serde_json::to_writer(&mut w, f).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    eprintln!(
        "{} records, {} findings, {} problems",
        rep.records,
        rep.findings.len(),
        rep.problems.len()
    );
}
