//! firebreak's hardening kit: fuzz target bodies, their seeds, and a deterministic mutator.
//!
//! - [`targets`]: one plain function per fuzz target (`fn(&[u8])`), listed in
//!   [`targets::TARGETS`]. The cargo-fuzz project in `fuzz/` wraps each in
//!   `fuzz_target!` (libFuzzer, nightly); `tests/adversarial/replay.rs` runs each on stable over its
//!   seeds plus a bounded number of [`mutate`]d inputs, so CI exercises every target
//!   without a nightly toolchain. A target panics when an invariant breaks (and, of
//!   course, when the code under test panics).
//! - [`seeds`]: the seed corpus of each target: files from `testdata/` plus inputs
//!   synthesised here (archives, JWTs, HTTP requests, provider responses).
//! - [`mutate`]: a small deterministic byte mutator (bit flips, splices, truncations,
//!   interesting tokens).
//!
//! The adversarial suite (zip bombs, traversal, 2 GB lines, ReDoS, JWT attacks, slow
//! clients) and the no-secret-leak check live in `tests/`. See `docs/fuzzing.md`.

#![warn(missing_docs)]

pub mod mutate;
pub mod seeds;
pub mod targets;

use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(|p| p.parent())
        .map(|p| p.to_path_buf())
        .unwrap_or(here)
}

/// Fake secrets planted in adversarial inputs. They have the shape of real credentials
/// (so the scanner's rules fire) but were never valid anywhere. Each is split in the
/// source (`concat!`) so that scanning this repository does not report them.
pub mod fake {
    /// An AWS access key id in the documented shape.
    pub const AWS_KEY_ID: &str = concat!("AKIA", "Z7Q3VOWRL4JD5NQK");
    /// An AWS secret access key shape (40 characters).
    pub const AWS_SECRET: &str = concat!("q8Zr2LmX9vTa7Kp3", "Yw4Hs6Jd1Ga5Ue0Ki7NcRb2");
    /// A GitHub classic personal access token shape.
    pub const GITHUB_PAT: &str = concat!("ghp_", "R7fQ2mXv9LkTz3WcN8bYp1HsJd6Ga4Ue0Ki5");
    /// A Slack bot token shape.
    pub const SLACK_BOT: &str = concat!("xoxb-", "2718281828-3141592653-Zq8Vw2Ls9Kd4Mx7Nc1Bt5Rye");
    /// A GitLab personal access token shape.
    pub const GITLAB_PAT: &str = concat!("glpat-", "Xq7Lm2Pz9Rt4Vw8Ks3Nb");

    /// All of the above.
    pub const ALL: &[&str] = &[AWS_KEY_ID, AWS_SECRET, GITHUB_PAT, SLACK_BOT, GITLAB_PAT];
}
