//! Replays every fuzz target over its seeds plus deterministic mutations, on stable Rust.
//!
//! This is how CI runs the fuzz targets without a nightly toolchain (`scripts/fuzz` runs
//! the real libFuzzer campaign). A failing input is written under
//! `target/adversarial-failures/` and named in the panic message; replay it with
//! `cargo +nightly fuzz run TARGET FILE` or add it as a seed.
//!
//! `FIREBREAK_REPLAY_MUTATIONS` sets the mutations per target (default 150).

use firebreak_adversarial::mutate::{mutate, Rng};
use firebreak_adversarial::seeds::seeds;
use firebreak_adversarial::targets::{find, TARGETS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// Hang guard for one target's whole replay (not a timing assertion: it only turns a
/// hang into a failure).
const HANG_GUARD: Duration = Duration::from_secs(600);

fn mutations() -> usize {
    std::env::var("FIREBREAK_REPLAY_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

fn save_failure(target: &str, what: &str, data: &[u8]) -> String {
    let dir = firebreak_adversarial::repo_root().join("target/adversarial-failures");
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join(format!("{target}-{what}"));
    let _ = std::fs::write(&p, data);
    p.display().to_string()
}

fn replay(name: &'static str) {
    let t = find(name).expect("registered target");
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("replay-{name}"))
        .stack_size(8 << 20)
        .spawn(move || {
            let seeds = seeds(name);
            let mut failures = Vec::new();
            let mut run = |label: String, data: &[u8]| {
                if catch_unwind(AssertUnwindSafe(|| (t.run)(data))).is_err() {
                    failures.push(format!("{label} -> {}", save_failure(name, &label, data)));
                }
            };
            for (i, s) in seeds.iter().enumerate() {
                run(format!("seed{i}"), &s.data);
            }
            let mut rng = Rng::new(name.bytes().fold(1469598103934665603u64, |h, b| {
                (h ^ b as u64).wrapping_mul(1099511628211)
            }));
            for i in 0..mutations() {
                let a = &seeds[rng.below(seeds.len())].data;
                let b = &seeds[rng.below(seeds.len())].data;
                let m = mutate(a, b, &mut rng, t.max_len);
                run(format!("mut{i}"), &m);
            }
            let _ = tx.send((seeds.len(), failures));
        })
        .expect("spawn");
    match rx.recv_timeout(HANG_GUARD) {
        Ok((n, failures)) => {
            assert!(n > 0, "{name} has no seeds");
            assert!(
                failures.is_empty(),
                "{name}: {} failing inputs (saved):\n{}",
                failures.len(),
                failures.join("\n")
            );
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: replay did not finish within {HANG_GUARD:?} (hang?)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{name}: the replay harness itself panicked"),
    }
}

#[test]
fn every_target_is_replayed_here_and_has_a_fuzz_binary() {
    let src = include_str!("replay.rs");
    let root = firebreak_adversarial::repo_root();
    for t in TARGETS {
        assert!(
            src.contains(&format!("({}, \"{}\")", t.name, t.name)),
            "{} is not replayed",
            t.name
        );
        let bin = root.join(format!("fuzz/fuzz_targets/{}.rs", t.name));
        let text = std::fs::read_to_string(&bin).unwrap_or_default();
        assert!(
            text.contains(&format!("run(\"{}\", data)", t.name)),
            "{} has no fuzz/fuzz_targets/{}.rs wrapper",
            t.name,
            t.name
        );
    }
}

macro_rules! replay_tests {
    ($(($name:ident, $target:literal)),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay($target);
            }
        )*
    };
}

replay_tests!(
    (hunt_cloudtrail, "hunt_cloudtrail"),
    (hunt_github, "hunt_github"),
    (hunt_circleci, "hunt_circleci"),
    (hunt_gcp, "hunt_gcp"),
    (hunt_azure, "hunt_azure"),
    (sigma_rule, "sigma_rule"),
    (sigma_condition, "sigma_condition"),
    (archive_zip, "archive_zip"),
    (archive_tar, "archive_tar"),
    (archive_gzip, "archive_gzip"),
    (archive_bzip2, "archive_bzip2"),
    (archive_zstd, "archive_zstd"),
    (archive_conda, "archive_conda"),
    (scan_text, "scan_text"),
    (rule_pack, "rule_pack"),
    (providers_circleci, "providers_circleci"),
    (providers_github, "providers_github"),
    (providers_gitlab, "providers_gitlab"),
    (providers_http, "providers_http"),
    (jwt_verify, "jwt_verify"),
    (serve_http, "serve_http"),
    (census_index, "census_index"),
    (census_ioc, "census_ioc"),
);
