//! Shared model for every firebreak capability.
//!
//! Everything a user reads or writes passes through the types here: time
//! windows ([`window::TimeWindow`]), secrets that must never be printed whole
//! ([`secret::SecretString`], [`secret::fingerprint`], [`secret::redact`], and
//! [`secret::redact_secrets`] with a [`secret::SecretMatcher`] for untrusted text),
//! findings ([`finding`]), the process exit codes shared by every subcommand
//! ([`exit::Exit`]), problems with part of an input ([`problem::Problem`]), output
//! conventions ([`output`]) and durations as people type them ([`duration::parse_secs`]).

#![warn(missing_docs)]

pub mod duration;
pub mod exit;
pub mod finding;
pub mod jsonl;
pub mod model;
pub mod output;
pub mod problem;
pub mod scrub;
pub mod secret;
pub mod values;
pub mod window;

pub use exit::Exit;
pub use finding::{Access, AccessMap, Confidence, Level, SecretFinding, Validation, ValidationStatus};
pub use problem::Problem;
pub use secret::{fingerprint, redact, redact_secrets, SecretMatcher, SecretString};
pub use window::TimeWindow;
