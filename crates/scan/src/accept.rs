//! Accepted findings and path filters.
//!
//! An ignore file (`.firebreakignore`, or `--ignore-file FILE`) lists findings a team has
//! reviewed and accepted, one per line, in any of three forms:
//!
//! ```text
//! # a comment; blank lines are skipped
//! 3f1c…e9            # a finding's fingerprint (the `fingerprint` of JSON output,
//!                    # `partialFingerprints` of SARIF)
//! generic.password:config/test.env:12   # RULE_ID:PATH:LINE (gitleaks' form)
//! path:docs/examples/**                # every finding under these paths
//! ```
//!
//! [`PathFilter`] is `--include` / `--exclude`: globs that choose which files a directory
//! walk scans.

use firebreak_core::SecretFinding;
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::HashSet;
use std::path::Path;

/// Findings accepted by an ignore file.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    fingerprints: HashSet<String>,
    locations: HashSet<(String, String, u64)>,
    paths: Option<GlobSet>,
    /// Number of entries read.
    pub entries: usize,
}

fn glob(p: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(p).literal_separator(true).build()
}

impl Accepted {
    /// Parses an ignore file's text; problems name `file` and the line.
    pub fn parse(text: &str, file: &str) -> Result<Accepted, Vec<String>> {
        let mut a = Accepted::default();
        let mut paths = GlobSetBuilder::new();
        let mut any_path = false;
        let mut errs = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let l = raw.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                continue;
            }
            let n = i + 1;
            if let Some(g) = l.strip_prefix("path:") {
                match glob(g.trim()) {
                    Ok(g) => {
                        paths.add(g);
                        any_path = true;
                    }
                    Err(e) => errs.push(format!("{file}:{n}: bad path glob: {e}")),
                }
            } else if l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()) {
                a.fingerprints.insert(l.to_ascii_lowercase());
            } else {
                // RULE:PATH:LINE; the path may hold colons itself
                let mut it = l.rsplitn(2, ':');
                let line = it.next().and_then(|x| x.parse::<u64>().ok());
                let rest = it.next();
                match (line, rest.and_then(|r| r.split_once(':'))) {
                    (Some(line), Some((rule, path))) if !rule.is_empty() && !path.is_empty() => {
                        a.locations.insert((rule.to_string(), path.to_string(), line));
                    }
                    _ => errs.push(format!(
                        "{file}:{n}: expected a fingerprint (64 hex), RULE_ID:PATH:LINE or path:GLOB"
                    )),
                }
            }
            a.entries += 1;
        }
        if any_path {
            a.paths = Some(paths.build().map_err(|e| vec![format!("{file}: {e}")])?);
        }
        if errs.is_empty() {
            Ok(a)
        } else {
            Err(errs)
        }
    }

    /// True when the finding is accepted.
    pub fn accepts(&self, f: &SecretFinding) -> bool {
        if self.fingerprints.contains(&f.fingerprint) {
            return true;
        }
        if self
            .locations
            .contains(&(f.rule_id.clone(), f.path.clone(), f.line))
        {
            return true;
        }
        if let Some(g) = &self.paths {
            let p = f.path.strip_prefix("./").unwrap_or(&f.path);
            // inside an archive, the archive's own path counts too
            let outer = p.split('!').next().unwrap_or(p);
            return g.is_match(p) || g.is_match(outer);
        }
        false
    }
}

/// `--include` / `--exclude` globs for directory walks. A glob without `/` matches a
/// file name at any depth (`*.min.js`); one with `/` matches the path relative to the
/// directory walked (`vendor/**`, `testdata/**/*.json`).
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    include: Option<(GlobSet, GlobSet)>,
    exclude: Option<(GlobSet, GlobSet)>,
}

fn sets(globs: &[String], flag: &str) -> Result<Option<(GlobSet, GlobSet)>, String> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut names = GlobSetBuilder::new();
    let mut paths = GlobSetBuilder::new();
    for g in globs {
        let compiled = glob(g.trim_start_matches("./")).map_err(|e| format!("{flag} {g}: {e}"))?;
        if g.contains('/') {
            paths.add(compiled);
        } else {
            names.add(compiled);
        }
    }
    Ok(Some((
        names.build().map_err(|e| e.to_string())?,
        paths.build().map_err(|e| e.to_string())?,
    )))
}

fn hit(s: &(GlobSet, GlobSet), rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| s.0.is_match(n)) || s.1.is_match(rel) || {
        // `vendor/**` also matches the directory `vendor` itself: any ancestor
        rel.ancestors()
            .skip(1)
            .any(|a| !a.as_os_str().is_empty() && s.1.is_match(a))
    }
}

impl PathFilter {
    /// Builds a filter; a glob that does not parse names its flag.
    pub fn new(include: &[String], exclude: &[String]) -> Result<PathFilter, String> {
        Ok(PathFilter {
            include: sets(include, "--include")?,
            exclude: sets(exclude, "--exclude")?,
        })
    }

    /// True when no glob is set.
    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// True when the file at `rel` (relative to the directory walked) is scanned.
    pub fn keeps(&self, rel: &Path) -> bool {
        if self.exclude.as_ref().is_some_and(|e| hit(e, rel)) {
            return false;
        }
        self.include.as_ref().is_none_or(|i| hit(i, rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_file_forms_and_errors() {
        let fp = "a".repeat(64);
        let text = format!("# reviewed 2023-01-10\n{fp}  # test key\n\ngeneric.password:conf/x.env:12\npath:docs/examples/**\nnonsense here\n");
        let e = Accepted::parse(&text, ".firebreakignore").unwrap_err();
        assert_eq!(
            e,
            vec![
                ".firebreakignore:6: expected a fingerprint (64 hex), RULE_ID:PATH:LINE or path:GLOB"
                    .to_string()
            ]
        );
        let a = Accepted::parse(&text.replace("nonsense here\n", ""), "f").unwrap();
        assert_eq!(a.entries, 3);
        let mut f = SecretFinding {
            id: "x".into(),
            rule_id: "generic.password".into(),
            rule_name: "x".into(),
            path: "conf/x.env".into(),
            line: 12,
            column: 1,
            end_line: 12,
            end_column: 10,
            redacted: "p…".into(),
            fingerprint: "b".repeat(64),
            confidence: firebreak_core::Confidence::Low,
            commit: None,
            validation: None,
        };
        assert!(a.accepts(&f));
        f.line = 13;
        assert!(!a.accepts(&f));
        f.fingerprint = fp.clone();
        assert!(a.accepts(&f));
        f.fingerprint = "c".repeat(64);
        f.path = "docs/examples/setup.tar.gz!setup/.env".into();
        assert!(a.accepts(&f));
    }

    #[test]
    fn include_and_exclude_globs() {
        let f = PathFilter::new(&[], &["vendor/**".into(), "*.min.js".into()]).unwrap();
        assert!(!f.keeps(Path::new("vendor/a/b.py")));
        assert!(!f.keeps(Path::new("web/app.min.js")));
        assert!(f.keeps(Path::new("src/vendor.py")));
        let f = PathFilter::new(&["*.env".into(), "ci/**".into()], &["ci/old/**".into()]).unwrap();
        assert!(f.keeps(Path::new("deep/dir/prod.env")));
        assert!(f.keeps(Path::new("ci/build.log")));
        assert!(!f.keeps(Path::new("ci/old/build.log")));
        assert!(!f.keeps(Path::new("src/main.rs")));
        assert!(PathFilter::new(&["a[".into()], &[]).is_err());
    }
}
