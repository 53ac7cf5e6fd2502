//! firebreak's leak scanner.
//!
//! Rules are data ([`rules`]): YAML files embedded in the binary as the built-in
//! pack, plus user files. A [`rules::RuleSet`] compiles them into a keyword
//! prefilter (Aho-Corasick) and per-rule regexes, and finds secrets in byte
//! slices; the input side (files, stdin, archives, git history) feeds it.

#![warn(missing_docs)]

pub mod entropy;
pub mod rules;

pub use rules::{RawMatch, RuleDef, RuleError, RuleSet};
