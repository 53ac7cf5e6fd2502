//! `firebreak rules list|check [PATH]`: list the rules a scan would load, and
//! lint rule files the way the built-in pack is checked in CI.

use firebreak_core::Exit;
use firebreak_scan::rules::{self, RuleSet};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `firebreak rules`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `firebreak rules` actions.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// List rules, one per line: id, confidence, validator (`-` when none), name, origin.
    /// The built-in pack, plus the rule files under PATH when given.
    List {
        /// A rule file, or a directory of them (read recursively).
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
        /// Do not list the built-in pack (only PATH).
        #[arg(long)]
        no_builtin: bool,
    },
    /// Check rule files (default: the built-in pack): each parses and fits the schema,
    /// ids are unique and dotted (`vendor.kind`), patterns compile, keywords are present
    /// and inside every example's match, examples match (where `anchor` says), negative
    /// examples do not. Problems are printed as `FILE:LINE: rule ID: what`.
    /// Exit 0: no problem; 1: problems; 2: PATH cannot be read.
    Check {
        /// A rule file, or a directory of them (read recursively).
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    run_to(args, &mut out)
}

fn run_to(args: Args, out: &mut dyn Write) -> anyhow::Result<Exit> {
    match args.action {
        Action::List { path, no_builtin } => {
            let mut defs = Vec::new();
            if !no_builtin {
                defs.extend(rules::builtin_defs()?);
            }
            if let Some(p) = &path {
                defs.extend(rules::load_rules_path(p)?);
            }
            if defs.is_empty() {
                anyhow::bail!("no rules (--no-builtin without PATH)");
            }
            let set = RuleSet::compile(defs)?;
            for r in set.rules() {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    r.def.id,
                    format!("{:?}", r.def.confidence).to_lowercase(),
                    r.def.validator.as_deref().unwrap_or("-"),
                    r.def.name,
                    r.origin
                )?;
            }
            Ok(Exit::Clean)
        }
        Action::Check { path } => {
            let files = match &path {
                Some(p) => rules::read_rule_files(p)?,
                None => rules::builtin_rule_files(),
            };
            if files.is_empty() {
                anyhow::bail!(
                    "no rule files (.yml, .yaml) under {}",
                    path.unwrap_or_default().display()
                );
            }
            let problems = rules::check_rule_files(&files);
            for p in &problems {
                writeln!(out, "{}", p.labelled("rule"))?;
            }
            crate::output::note!(
                "firebreak rules check: {} file(s), {} problem(s)",
                files.len(),
                problems.len()
            );
            Ok(if problems.is_empty() {
                Exit::Clean
            } else {
                Exit::Found
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(action: Action) -> (Exit, String) {
        let mut buf = Vec::new();
        let exit = run_to(Args { action }, &mut buf).expect("runs");
        (exit, String::from_utf8(buf).expect("utf-8"))
    }

    #[test]
    fn check_passes_the_builtin_pack_and_names_file_and_line_of_a_bad_rule() {
        let (exit, out) = run_str(Action::Check { path: None });
        assert_eq!(exit, Exit::Clean, "{out}");
        let dir = tempfile::tempdir().unwrap();
        let good = "rules:\n  - id: acme.token\n    name: ACME token\n    pattern: '\\b(?P<secret>acme_[a-z0-9]{12})\\b'\n    keywords: ['acme_']\n    confidence: high\n    examples: ['ACME=acme_q8zr2lmx9vta']\n    negative_examples: ['acme_short']\n";
        std::fs::write(dir.path().join("good.yml"), good).unwrap();
        let (exit, out) = run_str(Action::Check {
            path: Some(dir.path().join("good.yml")),
        });
        assert_eq!(exit, Exit::Clean, "{out}");
        let bad = good.replace(
            "negative_examples: ['acme_short']",
            "negative_examples: ['acme_q8zr2lmx9vtb']",
        );
        std::fs::write(dir.path().join("bad.yml"), bad).unwrap();
        let (exit, out) = run_str(Action::Check {
            path: Some(dir.path().to_path_buf()),
        });
        assert_eq!(exit, Exit::Found);
        // The directory holds both files: the second acme.token is a duplicate, and bad.yml's
        // negative example matches.
        assert!(
            out.contains("bad.yml:2: rule acme.token: negative example #1 matches"),
            "{out}"
        );
        assert!(
            out.contains("good.yml:2: rule acme.token: id is defined twice"),
            "{out}"
        );
        assert!(
            !out.contains("acme_q8zr2lmx9vtb"),
            "never prints example values: {out}"
        );
        std::fs::write(
            dir.path().join("broken.yml"),
            "rules:\n  - id: a.b\n    nmae: x\n",
        )
        .unwrap();
        let (exit, out) = run_str(Action::Check {
            path: Some(dir.path().join("broken.yml")),
        });
        assert_eq!(exit, Exit::Found);
        assert!(out.contains("broken.yml:3"), "{out}");
    }

    #[test]
    fn list_shows_confidence_and_validator() {
        let (exit, out) = run_str(Action::List {
            path: None,
            no_builtin: false,
        });
        assert_eq!(exit, Exit::Clean);
        assert!(out.lines().count() >= 500, "{} rules", out.lines().count());
        assert!(
            out.lines()
                .any(|l| l.starts_with("github.pat_classic\thigh\tgithub.token\t")),
            "{out}"
        );
        assert!(out
            .lines()
            .any(|l| l.starts_with("generic.password_assignment\tlow\t-\t")));
    }
}
