//! Minimal driver used by `bench/hunt.sh` when `HUNT_BENCH_LIB=1`: runs the built-in pack
//! over the given paths like `firebreak hunt --format jsonl` and writes JSON Lines to stdout.

use firebreak_hunt::{hunt_into, Finding, FindingSink, HuntOptions, RuleSet};
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
    /// Writes each finding as a JSON line as it comes.
    struct Lines<W: Write + Send>(W);
    impl<W: Write + Send> FindingSink for Lines<W> {
        fn finding(&mut self, f: Finding) -> std::io::Result<()> {
            serde_json::to_writer(&mut self.0, &f)?;
            self.0.write_all(b"\n")
        }
    }
    // `Stdout` (not its lock, which stays on this thread): findings are written from the
    // hunt's worker threads
    let mut w = Lines(std::io::BufWriter::with_capacity(64 << 10, std::io::stdout()));
    let rep = hunt_into(&paths, &rules, &HuntOptions::default(), &mut w);
    w.0.flush().unwrap();
    eprintln!(
        "{} records, {} findings, {} problems",
        rep.records,
        rep.found,
        rep.problems.len()
    );
}
