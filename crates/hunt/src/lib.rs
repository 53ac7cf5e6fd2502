//! Audit-log hunter: log sources to normalised events, Sigma rules, novelty, query compilers.
//!
//! - [`reader`] streams files (gzip, `{"Records":[...]}`, arrays, JSON Lines, CircleCI CSV)
//!   record by record with bounded memory;
//! - [`source`] detects the log kind and builds the normalised [`source::Event`];
//! - [`sigma`] parses and matches Sigma rules on the raw fields;
//! - [`engine`] runs a hunt (window, aggregation, novelty against a baseline), streaming
//!   findings out as they are produced, with bounded memory;
//! - [`compile`] turns rules into Athena, BigQuery, KQL and DuckDB queries.

#![warn(missing_docs)]

mod bounded;
mod codec;
pub mod compile;
pub mod engine;
pub mod filter;
pub mod node;
pub mod reader;
pub mod sigma;
pub mod source;

pub use engine::{
    hunt, hunt_into, hunt_reader, hunt_reader_into, Finding, FindingKind, FindingSink, HuntOptions,
    HuntReport, Limits, RuleSet,
};
pub use source::{Event, SourceKind};

use sigma::{parse_rules, RuleError};
use std::path::{Path, PathBuf};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
}

/// The built-in CI-breach pack: (path under `rules/`, YAML text).
pub fn builtin_rule_files() -> &'static [(&'static str, &'static str)] {
    builtin::BUILTIN_RULE_FILES
}

impl RuleSet {
    /// The built-in CI-breach pack.
    pub fn builtin() -> Result<RuleSet, RuleError> {
        let mut rs = RuleSet::default();
        for (name, text) in builtin_rule_files() {
            rs.add_text(&format!("builtin:{name}"), text)?;
        }
        Ok(rs)
    }

    /// Adds the rules of one YAML text.
    pub fn add_text(&mut self, file: &str, text: &str) -> Result<(), RuleError> {
        let (rules, unsup) = parse_rules(file, text)?;
        self.rules.extend(rules);
        self.unsupported.extend(unsup);
        Ok(())
    }

    /// Adds rule files (`.yml` / `.yaml`) from files or directories (walked).
    pub fn add_paths(&mut self, paths: &[PathBuf]) -> Result<(), RuleError> {
        for p in paths {
            let mut files = Vec::new();
            collect_yaml(p, &mut files).map_err(|e| RuleError {
                file: p.display().to_string(),
                message: e.to_string(),
            })?;
            for f in files {
                let text = std::fs::read_to_string(&f).map_err(|e| RuleError {
                    file: f.display().to_string(),
                    message: e.to_string(),
                })?;
                self.add_text(&f.display().to_string(), &text)?;
            }
        }
        Ok(())
    }
}

fn collect_yaml(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                collect_yaml(&e, out)?;
            } else if matches!(e.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                out.push(e);
            }
        }
    } else {
        std::fs::metadata(p)?;
        out.push(p.to_path_buf());
    }
    Ok(())
}
