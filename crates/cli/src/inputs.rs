//! Checks of the inputs named on the command line, made before any work starts, so
//! that an input error is a usage error (exit 2, docs/exit-codes.md) rather than a run
//! that processed nothing and reports a partial failure.

use firebreak_core::secret::quote_untrusted;
use std::path::PathBuf;

/// Refuses a run when PATH arguments were given, no other input was, and not one of
/// them exists (`-`, stdin, always does): nothing useful could be produced. When some
/// exist, the missing ones are reported by the run itself as failed inputs (exit 3).
pub fn require_some_path(what: &str, paths: &[PathBuf], other_inputs: bool) -> anyhow::Result<()> {
    if other_inputs || paths.is_empty() {
        return Ok(());
    }
    let exists = |p: &PathBuf| p.as_os_str() == "-" || std::fs::symlink_metadata(p).is_ok();
    if paths.iter().any(exists) {
        return Ok(());
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    anyhow::bail!(
        "nothing to {what}: no such file or directory: {}",
        names.join(", ")
    )
}

/// True when `s` is `n` non-empty `/`-separated parts without whitespace.
fn path_of(s: &str, n: usize) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == n
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.contains(char::is_whitespace))
}

/// A CircleCI project slug, `VCS/ORG/REPO` (`gh/acme/app`, `bb/...`,
/// `circleci/ORG-ID/PROJECT-ID`): a `value_parser` for `--circleci`.
pub fn circleci_slug(s: &str) -> Result<String, String> {
    if path_of(s, 3) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{}: expected a project slug VCS/ORG/REPO, e.g. gh/acme/app",
            quote_untrusted(s)
        ))
    }
}

/// A GitHub repository, `OWNER/REPO`: a `value_parser` for `--github`.
pub fn github_repo(s: &str) -> Result<String, String> {
    if path_of(s, 2) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{}: expected a repository OWNER/REPO, e.g. acme/app",
            quote_untrusted(s)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(circleci_slug("gh/acme/app").is_ok());
        assert!(circleci_slug("acme/app").is_err());
        assert!(circleci_slug("gh//app").is_err());
        assert!(github_repo("acme/app").is_ok());
        assert!(github_repo("gh/acme/app").is_err());
        assert!(github_repo("acme").is_err());
    }
}
