//! Throughput of the built-in pack (a tuning aid, not part of CI): scans every
//! file under `FB_CORPUS` (default: the Python standard library) with the
//! built-in rules, and with the rules under `FB_OLD_RULES` when set, and
//! prints MB/s of each. Run in release mode:
//! `FB_OLD_RULES=/path/to/rules cargo test --release -p firebreak-scan --test throughput -- --ignored --nocapture`.

use firebreak_scan::rules::{load_rules_path, RuleSet};
use std::path::PathBuf;
use std::time::Instant;

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let root = std::env::var("FB_CORPUS").map(PathBuf::from).unwrap_or_else(|_| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
            .output()
            .expect("python3");
        PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
    });
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                if !b[..b.len().min(8000)].contains(&0) {
                    files.push((p, b));
                }
            }
        }
    }
    files
}

/// CPU time of this process so far (user and system, from `/proc/self/stat`; 0 elsewhere):
/// less disturbed than the wall time when other jobs share the machine.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn measure(name: &str, set: &RuleSet, files: &[(PathBuf, Vec<u8>)]) {
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    // Warm up (builds the regexes used), then time the best of three.
    let mut found = 0;
    let mut by_rule: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (p, f) in files {
        for m in set.find_in(f) {
            found += 1;
            let line = f[..m.start].iter().filter(|&&b| b == b'\n').count() + 1;
            by_rule
                .entry(set.rules()[m.rule].def.id.as_str())
                .or_default()
                .push(format!("{}:{line}", p.display()));
        }
    }
    let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let (t, c) = (Instant::now(), cpu_seconds());
        for (_, f) in files {
            std::hint::black_box(set.find_in(f));
        }
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu_seconds() - c);
    }
    println!(
        "{name}: {} rules, {} files, {:.1} MB, {found} matches, best {:.3} s, {:.1} MB/s, best CPU {:.2} s",
        set.len(),
        files.len(),
        bytes as f64 / 1e6,
        best,
        bytes as f64 / 1e6 / best,
        best_cpu
    );
    // `FB_BY_RULE=1`: the matches by rule id, with their places (never values).
    if std::env::var_os("FB_BY_RULE").is_some() {
        for (r, v) in &by_rule {
            println!("  {r} ({}): {}", v.len(), v.join(", "));
        }
    }
}

#[test]
#[ignore]
fn throughput_of_the_builtin_pack() {
    let files = corpus();
    if let Ok(old) = std::env::var("FB_OLD_RULES") {
        let set = RuleSet::compile(load_rules_path(std::path::Path::new(&old)).expect("old rules"))
            .expect("compile");
        measure("old rules", &set, &files);
    }
    measure("built-in", &RuleSet::builtin().expect("pack"), &files);
}
