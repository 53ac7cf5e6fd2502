//! The rotation engine behind `firebreak rotate`: resumable, overlapping, never loses a
//! credential.
//!
//! - [`plan`]: the plan file (TOML) and drafting it from an inventory snapshot;
//! - [`sources`]: where credentials are issued and revoked (random, command / HTTP JSON
//!   protocol, deploy keys, AWS IAM access keys via [`aws`], upload tokens of firebreak's
//!   own service and Docker Hub via [`upload`]);
//! - [`sinks`]: the CI stores holding copies (CircleCI, GitHub sealed secrets, GitLab);
//! - [`engine`]: the per-secret state machine, with its states and allowed moves in
//!   [`state`]; [`journal`]: its durable SQLite journal;
//!   [`crypto`]: encryption at rest of new credentials between issue and done;
//! - [`sim_source`], [`invariants`], [`harness`]: the source simulator, the invariant
//!   checker and the crash-test / benchmark harness.
//!
//! See `docs/rotate.md`.

#![warn(missing_docs)]

pub mod aws;
pub mod crypto;
pub mod engine;
pub mod harness;
pub mod invariants;
pub mod journal;
pub mod plan;
pub mod runner_config;
pub mod sim_source;
pub mod sinks;
pub mod sources;
pub mod sshkey;
pub mod state;
pub mod upload;

pub use crypto::SealKey;
pub use engine::{Engine, RunOptions, SecretStatus, Summary};
pub use journal::Journal;
pub use plan::Plan;
pub use state::State;
