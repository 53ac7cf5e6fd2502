//! `firebreak.toml`: defaults a team keeps beside its code (`--config FILE`,
//! `$FIREBREAK_CONFIG`, else `./firebreak.toml` when present). Flags on the command line
//! win over scalars here and add to lists. Unknown keys are errors naming file, line and
//! column. See docs/config.md.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[scan]`.
    #[serde(default)]
    pub scan: ScanConfig,
    /// `[hunt]`.
    #[serde(default)]
    pub hunt: HuntConfig,
    /// `[validate]`: used by `validate`, `revoke` and `scan --validate`.
    #[serde(default)]
    pub validate: ValidateConfig,
    /// Where it was read from.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// `[scan]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// Globs of files to scan in directory walks (`--include`).
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of files to leave out (`--exclude`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `low`, `medium` or `high` (`--min-confidence`).
    #[serde(default)]
    pub min_confidence: Option<String>,
    /// The ignore file of accepted findings (`--ignore-file`), relative to the config file.
    #[serde(default)]
    pub ignore_file: Option<PathBuf>,
    /// Extra rule files or directories (`--rules`), relative to the config file.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
}

/// `[hunt]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuntConfig {
    /// `--min-level`.
    #[serde(default)]
    pub min_level: Option<String>,
    /// `--allow-actor` globs.
    #[serde(default)]
    pub allow_actors: Vec<String>,
    /// `--allow-ip` addresses and ranges.
    #[serde(default)]
    pub allow_ips: Vec<String>,
    /// Extra Sigma rules (`--rules`), relative to the config file.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
}

/// `[validate]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// Base URL overrides, `NAME = "URL"` (`--endpoint NAME=URL`).
    #[serde(default)]
    pub endpoints: BTreeMap<String, String>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The file name looked for in the current directory.
pub const FILE_NAME: &str = "firebreak.toml";

/// Reads the configuration (once, before a command runs): `explicit` (`--config` or
/// `$FIREBREAK_CONFIG`) must exist; otherwise `./firebreak.toml` is used when present.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<()> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(FILE_NAME)).filter(|p| p.is_file()),
    };
    let cfg = match path {
        None => Config::default(),
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| anyhow::anyhow!("{}: cannot read the configuration: {e}", p.display()))?;
            let mut c = parse(&text, &p.display().to_string())?;
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            let rel = |x: &PathBuf| if x.is_absolute() { x.clone() } else { base.join(x) };
            c.scan.ignore_file = c.scan.ignore_file.as_ref().map(rel);
            c.scan.rules = c.scan.rules.iter().map(rel).collect();
            c.hunt.rules = c.hunt.rules.iter().map(rel).collect();
            c.path = Some(p);
            c
        }
    };
    let _ = CONFIG.set(cfg);
    Ok(())
}

/// Parses a configuration's text; errors name `file:line:column`.
pub fn parse(text: &str, file: &str) -> anyhow::Result<Config> {
    toml::from_str::<Config>(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
                (line, col)
            })
            .unwrap_or((0, 0));
        anyhow::anyhow!("{file}:{line}:{col}: {}", e.message())
    })
}

/// The configuration in force (empty when none was found).
pub fn get() -> &'static Config {
    CONFIG.get_or_init(Config::default)
}

/// The configuration file's name for messages (empty when none was read).
pub fn origin() -> String {
    get()
        .path
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// `--endpoint` items from `[validate] endpoints` followed by the command line's (which
/// win, coming later).
pub fn endpoints(cli: &[String]) -> Vec<String> {
    let mut v: Vec<String> = get()
        .validate
        .endpoints
        .iter()
        .map(|(k, u)| format!("{k}={u}"))
        .collect();
    v.extend(cli.iter().cloned());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_file_line_and_column() {
        let e = parse(
            "[scan]\nexclude = [\"vendor/**\"]\nexlude = []\n",
            "firebreak.toml",
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("firebreak.toml:3:1: "), "{m}");
        assert!(m.contains("exlude"), "{m}");
        let c = parse(
            "[hunt]\nmin_level = \"high\"\nallow_ips = [\"203.0.113.0/24\"]\n",
            "f",
        )
        .unwrap();
        assert_eq!(c.hunt.min_level.as_deref(), Some("high"));
        assert_eq!(c.hunt.allow_ips, vec!["203.0.113.0/24"]);
    }
}
