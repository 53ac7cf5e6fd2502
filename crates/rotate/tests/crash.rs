//! The crash test: a rotation of a few hundred secrets over the provider simulator and the
//! source simulator (both in this process), run by a child process that is killed with
//! SIGKILL at random (seeded) points and resumed each time. Invariants are checked after
//! every kill and at the end (see `firebreak_rotate::invariants`).
//!
//! `FIREBREAK_CRASH_KILLS` sets the number of kills (default 40 here; `bench/rotate.sh`
//! runs 500+).

use firebreak_rotate::harness::{crash_test, CrashConfig};
use std::path::PathBuf;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn child() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rotate-harness"))
}

#[test]
fn sigkill_at_random_points_never_loses_a_credential() {
    let kills: usize = std::env::var("FIREBREAK_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let cfg = CrashConfig {
        secrets: 150,
        kills,
        seed: 20_230_104,
        concurrency: 8,
        child: child(),
        broken_order: false,
        fail_fast: true,
    };
    let rep = rt().block_on(crash_test(&cfg, dir.path())).unwrap();
    eprintln!(
        "crash test: {} kills, {} children, {} worlds, {} secrets: {} done, {} stopped, {} rolled back, {:.1}s",
        rep.kills, rep.children, rep.worlds, rep.secrets, rep.done, rep.stopped, rep.rolled_back, rep.elapsed_s
    );
    assert!(
        rep.violations.is_empty(),
        "invariant violations: {:#?}",
        &rep.violations[..rep.violations.len().min(10)]
    );
    assert!(rep.kills >= kills, "only {} kills", rep.kills);
    assert_eq!(rep.done + rep.stopped + rep.rolled_back, rep.secrets);
    // the injected failures (a forbidden repository) end rolled back or stopped, never half-done
    assert!(rep.done > 0 && rep.rolled_back + rep.stopped > 0, "{rep:?}");
}

/// The same harness with the engine's test-only wrong ordering (revoke the old credential
/// before writing and verifying the sinks): the checker must catch it.
#[test]
fn checker_catches_revoke_before_verify() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CrashConfig {
        secrets: 12,
        kills: 0,
        seed: 5,
        concurrency: 4,
        child: child(),
        broken_order: true,
        fail_fast: true,
    };
    let rep = rt().block_on(crash_test(&cfg, dir.path())).unwrap();
    assert!(
        rep.violations.iter().any(|v| v.contains("revoked")),
        "the wrong ordering went unnoticed: {:?}",
        rep.violations
    );
}
