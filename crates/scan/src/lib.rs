//! firebreak's leak scanner.
//!
//! Rules are data ([`rules`]): YAML files embedded in the binary as the built-in
//! pack, plus user files. A [`rules::RuleSet`] compiles them into a keyword
//! prefilter ([`keywords`], an Aho-Corasick DFA walked in interleaved lanes) and per-rule regexes, and finds secrets in byte
//! slices. The [`Scanner`] feeds it files, directories, stdin, any stream
//! ([`Scanner::scan_reader`]), archives ([`archive`], a reusable bounded
//! walker) and git history ([`git`]); [`output`] renders the results and
//! [`baseline`] suppresses known findings; [`cilogs`] streams CircleCI and
//! GitHub Actions build logs through a scanner as they download. [`RuleSet::secret_spans`] (also a
//! [`firebreak_core::secret::SecretMatcher`]) lets other capabilities redact secrets in
//! text they copy from untrusted input.

#![warn(missing_docs)]

pub mod accept;
mod analysis;
pub mod archive;
pub mod baseline;
pub mod cilogs;
pub mod entropy;
pub mod git;
pub mod keywords;
mod matcher;
pub mod output;
pub mod rules;
pub mod scanner;
mod walk;

pub use rules::{RawMatch, RuleDef, RuleError, RuleSet};

/// Runs `f` with this thread's scratch value in `key`, reused from call to
/// call (no allocation per file or per search). A call made while the scratch
/// is in use (re-entrance) gets a `fresh()` one instead.
pub(crate) fn with_scratch<T, R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<T>>,
    fresh: impl FnOnce() -> T,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut reused) => f(&mut reused),
        Err(_) => f(&mut fresh()),
    })
}
pub use scanner::{ScanOptions, ScanReport, Scanner, SecretHook, Summary};
