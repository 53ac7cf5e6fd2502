//! firebreak's leak scanner.
//!
//! Rules are data ([`rules`]): YAML files embedded in the binary as the built-in
//! pack, plus user files. A [`rules::RuleSet`] compiles them into a keyword
//! prefilter ([`keywords`], an Aho-Corasick DFA walked in interleaved lanes) and per-rule regexes, and finds secrets in byte
//! slices. The [`Scanner`] feeds it files, directories, stdin, any stream
//! ([`Scanner::scan_reader`]), archives ([`archive`], a reusable bounded
//! walker) and git history ([`git`]); [`output`] renders the results and
//! [`baseline`] suppresses known findings.

#![warn(missing_docs)]

pub mod archive;
pub mod baseline;
pub mod entropy;
pub mod git;
pub mod keywords;
pub mod output;
pub mod rules;
pub mod scanner;
mod walk;

pub use rules::{RawMatch, RuleDef, RuleError, RuleSet};
pub use scanner::{ScanIssue, ScanOptions, ScanReport, Scanner, Summary};
