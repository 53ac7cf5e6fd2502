//! Indicators of compromise: a small TOML or YAML file.
//!
//! ```toml
//! name = "CircleCI January 2023"           # optional
//! file_names = ["*.pth", "evil/**", { value = "payload.sh", description = "dropper" }]
//! member_sha256 = ["<64 hex digits>"]       # SHA-256 of a file inside an artifact
//! artifact_sha256 = ["<64 hex digits>"]     # SHA-256 of a whole artifact file
//! strings = ["curl -s https://evil.example", { value = "x", description = "..." }]
//! ```
//!
//! - `file_names`: globs (`*`, `?`, `[abc]`, `{a,b}`, `**`). A pattern without `/` is
//!   matched against each member's base name; a pattern with `/` against the member's
//!   path inside its archive (e.g. `site-packages/evil/__init__.py`) and against its
//!   full nested path (`foo.conda!pkg-foo.tar.zst!site-packages/...`). Case-sensitive.
//! - `member_sha256` / `artifact_sha256`: hex, any case.
//! - `strings`: searched byte for byte (case-sensitive) in every member's content.
//!
//! Every indicator may be a plain string or a table `{ value, description }`.

use aho_corasick::AhoCorasick;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// One indicator as written: a bare string or `{ value, description }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IndicatorDef {
    /// Just the value.
    Plain(String),
    /// Value with a description.
    Described {
        /// The value.
        value: String,
        /// Why it is an indicator.
        #[serde(default)]
        description: Option<String>,
    },
}

impl IndicatorDef {
    fn parts(&self) -> (&str, Option<&str>) {
        match self {
            IndicatorDef::Plain(v) => (v, None),
            IndicatorDef::Described { value, description } => (value, description.as_deref()),
        }
    }
}

/// The IOC file's schema.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IocFile {
    /// A name for this set of indicators.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// File name globs.
    #[serde(default)]
    pub file_names: Vec<IndicatorDef>,
    /// SHA-256 of files inside artifacts.
    #[serde(default)]
    pub member_sha256: Vec<IndicatorDef>,
    /// SHA-256 of whole artifacts.
    #[serde(default)]
    pub artifact_sha256: Vec<IndicatorDef>,
    /// Strings searched in member contents.
    #[serde(default)]
    pub strings: Vec<IndicatorDef>,
}

/// Errors reading an IOC file; each names the file (and line when the parser knows it).
#[derive(Debug, thiserror::Error)]
pub enum IocError {
    /// Unreadable.
    #[error("cannot read IOC file {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Does not parse or does not fit the schema.
    #[error("IOC file {path}: {message}")]
    Parse {
        /// File.
        path: String,
        /// What is wrong (with line and column from the parser).
        message: String,
    },
}

/// A compiled indicator: value + description.
#[derive(Debug, Clone)]
pub struct Indicator {
    /// As written (hashes lowercased).
    pub value: String,
    /// Description, if any.
    pub description: Option<String>,
}

/// A compiled set of indicators.
#[derive(Debug)]
pub struct IocSet {
    /// The set's name.
    pub name: Option<String>,
    base_globs: GlobSet,
    base_idx: Vec<usize>,
    path_globs: GlobSet,
    path_idx: Vec<usize>,
    /// File name indicators.
    pub file_names: Vec<Indicator>,
    member_sha: HashMap<String, usize>,
    /// Member hash indicators.
    pub member_sha256: Vec<Indicator>,
    artifact_sha: HashMap<String, usize>,
    /// Artifact hash indicators.
    pub artifact_sha256: Vec<Indicator>,
    strings_ac: Option<AhoCorasick>,
    /// String indicators.
    pub strings: Vec<Indicator>,
}

/// A match of one indicator against one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberMatch {
    /// `file_names[i]` matched the member's name or path.
    FileName(usize),
    /// `member_sha256[i]` equals the member's SHA-256.
    Sha256(usize),
    /// `strings[i]` occurs at byte `offset` of the member (first occurrence).
    String(usize, u64),
}

impl IocSet {
    /// Reads and compiles an IOC file (TOML for `.toml`, YAML for `.yml`/`.yaml`;
    /// other names are tried as TOML, then YAML).
    pub fn load(path: &Path) -> Result<IocSet, IocError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| IocError::Io {
            path: shown.clone(),
            source: e,
        })?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        // Not the parsers' own messages whole: toml's quotes the offending line, and
        // both quote values, which may be secrets (see `scrub_parse_message`).
        use firebreak_core::secret::{scrub_parse_message, ParseErrorAt};
        let toml_err = |e: toml::de::Error| ParseErrorAt::new(&text, e.span(), e.message()).describe();
        let yaml_err = |e: serde_yaml_ng::Error| scrub_parse_message(&e.to_string());
        let parsed: Result<IocFile, String> = match ext {
            "toml" => toml::from_str(&text).map_err(toml_err),
            "yml" | "yaml" => serde_yaml_ng::from_str(&text).map_err(yaml_err),
            _ => toml::from_str(&text).or_else(|te| {
                serde_yaml_ng::from_str(&text)
                    .map_err(|ye| format!("neither TOML ({}) nor YAML ({})", toml_err(te), yaml_err(ye)))
            }),
        };
        let file = parsed.map_err(|message| IocError::Parse {
            path: shown.clone(),
            message,
        })?;
        IocSet::compile(&shown, file)
    }

    /// Compiles parsed indicators; `origin` names the file in errors.
    pub fn compile(origin: &str, file: IocFile) -> Result<IocSet, IocError> {
        let err = |message: String| IocError::Parse {
            path: origin.to_string(),
            message,
        };
        let mut base = GlobSetBuilder::new();
        let mut base_idx = Vec::new();
        let mut path = GlobSetBuilder::new();
        let mut path_idx = Vec::new();
        let mut file_names = Vec::new();
        for (i, d) in file.file_names.iter().enumerate() {
            let (v, desc) = d.parts();
            if v.is_empty() {
                return Err(err(format!("file_names[{i}] is empty")));
            }
            let g = GlobBuilder::new(v)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| err(format!("file_names[{i}] {v:?}: {e}")))?;
            if v.contains('/') {
                path.add(g);
                path_idx.push(i);
            } else {
                base.add(g);
                base_idx.push(i);
            }
            file_names.push(Indicator {
                value: v.to_string(),
                description: desc.map(str::to_string),
            });
        }
        let hashes = |list: &[IndicatorDef],
                      field: &str|
         -> Result<(Vec<Indicator>, HashMap<String, usize>), IocError> {
            let mut v = Vec::new();
            let mut m = HashMap::new();
            for (i, d) in list.iter().enumerate() {
                let (val, desc) = d.parts();
                let val = val.trim().to_ascii_lowercase();
                if val.len() != 64 || !val.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(err(format!("{field}[{i}] is not a SHA-256 (64 hex digits)")));
                }
                m.entry(val.clone()).or_insert(v.len());
                v.push(Indicator {
                    value: val,
                    description: desc.map(str::to_string),
                });
            }
            Ok((v, m))
        };
        let (member_sha256, member_sha) = hashes(&file.member_sha256, "member_sha256")?;
        let (artifact_sha256, artifact_sha) = hashes(&file.artifact_sha256, "artifact_sha256")?;
        let mut strings = Vec::new();
        for (i, d) in file.strings.iter().enumerate() {
            let (v, desc) = d.parts();
            if v.is_empty() {
                return Err(err(format!("strings[{i}] is empty")));
            }
            strings.push(Indicator {
                value: v.to_string(),
                description: desc.map(str::to_string),
            });
        }
        let strings_ac = if strings.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::new(strings.iter().map(|s| s.value.as_bytes()))
                    .map_err(|e| err(format!("strings: {e}")))?,
            )
        };
        Ok(IocSet {
            name: file.name,
            base_globs: base.build().map_err(|e| err(e.to_string()))?,
            base_idx,
            path_globs: path.build().map_err(|e| err(e.to_string()))?,
            path_idx,
            file_names,
            member_sha,
            member_sha256,
            artifact_sha,
            artifact_sha256,
            strings_ac,
            strings,
        })
    }

    /// Total number of indicators.
    pub fn len(&self) -> usize {
        self.file_names.len() + self.member_sha256.len() + self.artifact_sha256.len() + self.strings.len()
    }

    /// True when the set has no indicators.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when members' hashes are needed.
    pub fn wants_member_hashes(&self) -> bool {
        !self.member_sha256.is_empty()
    }

    /// True when members' contents are needed (hashes or strings).
    pub fn wants_contents(&self) -> bool {
        !self.member_sha256.is_empty() || !self.strings.is_empty()
    }

    /// The artifact-hash indicator equal to `sha256` (lowercase hex), if any.
    pub fn artifact_match(&self, sha256: &str) -> Option<usize> {
        self.artifact_sha.get(sha256).copied()
    }

    /// File-name indicators matching a member. `inner` is the member's path inside
    /// its innermost archive, `full` its nested path (`a.conda!pkg.tar.zst!x/y`).
    pub fn match_name(&self, inner: &str, full: &str) -> Vec<usize> {
        let base = inner.rsplit('/').next().unwrap_or(inner);
        let mut out: Vec<usize> = self
            .base_globs
            .matches(base)
            .into_iter()
            .map(|i| self.base_idx[i])
            .collect();
        let inner_trim = inner.trim_start_matches("./");
        for i in self.path_globs.matches(inner_trim) {
            out.push(self.path_idx[i]);
        }
        if full != inner_trim {
            for i in self.path_globs.matches(full) {
                out.push(self.path_idx[i]);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The member-hash indicator equal to `sha256` (lowercase hex), if any.
    pub fn member_hash_match(&self, sha256: &str) -> Option<usize> {
        self.member_sha.get(sha256).copied()
    }

    /// The string automaton and the longest string's length, when there are strings.
    pub fn strings_automaton(&self) -> Option<(&AhoCorasick, usize)> {
        let max = self.strings.iter().map(|s| s.value.len()).max()?;
        self.strings_ac.as_ref().map(|ac| (ac, max))
    }

    /// String indicators in `data`: each indicator once, with its first offset.
    pub fn match_strings(&self, data: &[u8]) -> Vec<(usize, u64)> {
        let Some(ac) = &self.strings_ac else {
            return Vec::new();
        };
        let mut first: Vec<Option<u64>> = vec![None; self.strings.len()];
        for m in ac.find_overlapping_iter(data) {
            let i = m.pattern().as_usize();
            if first[i].is_none() {
                first[i] = Some(m.start() as u64);
            }
        }
        first
            .into_iter()
            .enumerate()
            .filter_map(|(i, o)| o.map(|o| (i, o)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(toml_text: &str) -> IocSet {
        IocSet::compile("t.toml", toml::from_str(toml_text).unwrap()).unwrap()
    }

    #[test]
    fn globs_on_basename_and_paths() {
        let s = set(
            r#"file_names = ["*.pth", "evil/**", { value = "payload.sh", description = "d" }, "**/site-packages/bad.py"]"#,
        );
        assert_eq!(
            s.match_name("lib/python3.11/x.pth", "a.conda!pkg.tar.zst!lib/python3.11/x.pth"),
            vec![0]
        );
        assert_eq!(s.match_name("evil/a/b.txt", "w.whl!evil/a/b.txt"), vec![1]);
        assert_eq!(s.match_name("x/payload.sh", "t.tar.gz!x/payload.sh"), vec![2]);
        assert_eq!(
            s.match_name("lib/site-packages/bad.py", "z!lib/site-packages/bad.py"),
            vec![3]
        );
        assert!(s.match_name("notevil/a.txt", "w.whl!notevil/a.txt").is_empty());
        assert!(s.match_name("x.pthx", "x.pthx").is_empty());
    }

    #[test]
    fn hashes_and_strings() {
        let h = "A".repeat(64);
        let s = set(&format!(
            "member_sha256 = [\"{h}\"]\nartifact_sha256 = []\nstrings = [\"evil.example\", \"xyz\"]"
        ));
        assert_eq!(s.member_hash_match(&"a".repeat(64)), Some(0));
        assert_eq!(
            s.match_strings(b"curl https://evil.example/x; evil.example"),
            vec![(0, 13)]
        );
    }

    #[test]
    fn errors_name_the_file() {
        let e = IocSet::compile("f.toml", toml::from_str("member_sha256 = [\"abc\"]").unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.toml") && e.contains("member_sha256[0]"), "{e}");
        assert!(
            toml::from_str::<IocFile>("file_name = []").is_err(),
            "unknown keys are rejected"
        );
    }

    /// A token pasted into an IOC file: the error names the file and line,
    /// never the token (toml's own message quotes the line; both parsers
    /// quote a misplaced value).
    #[test]
    fn parse_errors_never_show_a_pasted_token() {
        const TOKEN: &str = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yh1Jd6Gf0Sa2Qe9Xw";
        let d = tempfile::tempdir().unwrap();
        for (name, text, line) in [
            ("a.toml", format!("name = 'x'\nstrings = {TOKEN}\n"), "line 2"),
            ("b.toml", format!("name = 'x'\nstrings = '{TOKEN}'\n"), "line 2"),
            ("c.toml", format!("name = 'x'\n{TOKEN} = 1\n"), "line 2"),
            ("d.yml", format!("name: x\nstrings: {TOKEN}\n"), "line 2"),
            ("e", format!("name = 'x'\nstrings = '{TOKEN}'\n"), "line 2"),
        ] {
            let p = d.path().join(name);
            std::fs::write(&p, text).unwrap();
            let e = IocSet::load(&p).unwrap_err().to_string();
            assert!(!e.contains(&TOKEN[4..]), "{e}");
            assert!(e.contains(name) && e.contains(line), "{e}");
        }
    }
}
