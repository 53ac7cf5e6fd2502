//! Audit-log hunter: log sources to normalised events, Sigma rules, novelty, query compilers.
//!
//! - [`reader`] streams files (gzip, `{"Records":[...]}`, arrays, JSON Lines, CircleCI CSV,
//!   the Purview audit search CSV whose `AuditData` column holds each record) record by
//!   record with bounded memory, and reports input problems as [`firebreak_core::Problem`];
//! - [`source`] detects the log kind and builds the normalised [`source::Event`];
//! - [`sigma`] parses and matches Sigma rules on the raw fields;
//! - [`mapping`] maps the field names SigmaHQ's rules use to the raw exports' paths, and
//!   knows which fields each source's records can hold;
//! - [`engine`] runs a hunt (window, aggregation, novelty against a baseline), streaming
//!   findings out as they are produced, with bounded memory;
//! - [`compile`] turns rules into Athena, BigQuery, KQL and DuckDB queries.

#![warn(missing_docs)]

mod bounded;
mod codec;
pub mod compile;
pub mod engine;
pub mod filter;
pub mod mapping;
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

/// The built-in CI-breach pack: (path under `rules/`, YAML text). The files are
/// embedded deflated, and inflated on first use.
pub fn builtin_rule_files() -> &'static [(&'static str, String)] {
    static FILES: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        builtin::BUILTIN_RULE_FILES
            .iter()
            .map(|(name, z)| (*name, builtin::inflate(z)))
            .collect()
    })
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
    ///
    /// A rule that names a field no record of its logsource can hold, as written or
    /// through a mapping, so that it can never fire, is not loaded: it goes to
    /// [`RuleSet::unsupported`] with the reason `can never fire: unknown field X for
    /// logsource P/S` ([`sigma::Rule::drop_sources_that_never_fire`]).
    pub fn add_text(&mut self, file: &str, text: &str) -> Result<(), RuleError> {
        let (rules, unsup) = parse_rules(file, text)?;
        self.unsupported.extend(unsup);
        for mut r in rules {
            match r.drop_sources_that_never_fire() {
                None => self.rules.push(r),
                Some(reason) => self.unsupported.push(sigma::Unsupported {
                    file: r.file.clone(),
                    rule: r.title.clone(),
                    reason,
                }),
            }
        }
        Ok(())
    }

    /// Adds rule files (`.yml` / `.yaml`) from files or directories (walked).
    ///
    /// A file named in `paths` that cannot be read or does not parse is an error. A file
    /// found by walking a directory that cannot be used (unreadable, not a rule, a rule
    /// that does not parse) is reported in [`RuleSet::unsupported`] with the reason, and
    /// the others are loaded: a rules checkout holds files of every kind.
    pub fn add_paths(&mut self, paths: &[PathBuf]) -> Result<(), RuleError> {
        for p in paths {
            let mut files = Vec::new();
            collect_yaml(p, &mut files).map_err(|e| RuleError {
                file: p.display().to_string(),
                message: e.to_string(),
            })?;
            let walked = p.is_dir();
            for f in files {
                let name = f.display().to_string();
                let res = std::fs::read_to_string(&f)
                    .map_err(|e| RuleError {
                        file: name.clone(),
                        message: e.to_string(),
                    })
                    .and_then(|text| self.add_text(&name, &text));
                match res {
                    Ok(()) => {}
                    Err(e) if walked => self.unsupported.push(sigma::Unsupported {
                        file: name.clone(),
                        rule: sigma::file_stem(&name),
                        reason: format!("not a usable rule file: {}", e.message),
                    }),
                    Err(e) => return Err(e),
                }
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
