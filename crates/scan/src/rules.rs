//! Rule packs as data: schema, loading, compilation and matching.
//!
//! A rule file is YAML with a top-level `rules:` list. Each rule:
//!
//! ```yaml
//! rules:
//!   - id: aws.access_key_id            # unique, dotted, lowercase
//!     name: AWS Access Key ID
//!     pattern: '\b((?:AKIA|ASIA)[A-Z2-7]{16})\b'   # Rust `regex` syntax (no look-around)
//!     keywords: [AKIA, ASIA]           # literals for the prefilter, matched case-insensitively;
//!                                      # the rule's regex runs only where one occurs
//!     confidence: high                 # high | medium | low
//!     min_entropy: 3.0                 # optional: Shannon bits/byte the secret must reach
//!     examples: ['AKIAZ7Q3VOWRL4JD5NQK']          # each must match
//!     negative_examples: ['AKIAEXAMPLE']          # none may match
//! ```
//!
//! The secret is the capture group named `secret` when the pattern has one,
//! otherwise group 1 when there is one, otherwise the whole match. Matches
//! whose secret is an obvious placeholder ([`crate::entropy::is_placeholder`])
//! are dropped unless the rule sets `allow_placeholders: true`.

use crate::entropy;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use firebreak_core::Confidence;
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// One rule as written in a rule file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Unique id, e.g. `github.pat_classic`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// Prefilter literals (case-insensitive). Empty means the regex runs on every input.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Confidence of a match.
    #[serde(default)]
    pub confidence: Confidence,
    /// Minimum Shannon entropy (bits per byte) of the secret.
    #[serde(default)]
    pub min_entropy: Option<f64>,
    /// Keep matches whose secret looks like a placeholder.
    #[serde(default)]
    pub allow_placeholders: bool,
    /// What the rule detects and why it matters.
    #[serde(default)]
    pub description: Option<String>,
    /// Inputs that must match.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Inputs that must not match.
    #[serde(default)]
    pub negative_examples: Vec<String>,
    /// Documentation links.
    #[serde(default)]
    pub references: Vec<String>,
    /// Free-form tags (`ci`, `cloud`, `generic`, ...).
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rules: Vec<RuleDef>,
}

/// Errors loading or compiling rules. Each names the file and rule at fault.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file could not be read.
    #[error("cannot read rule file {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The YAML does not parse or does not fit the schema.
    #[error("rule file {path}: {message}")]
    Parse {
        /// File.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A rule's regex does not compile.
    #[error("rule {id} in {path}: bad pattern: {message}")]
    Pattern {
        /// File.
        path: String,
        /// Rule id.
        id: String,
        /// Regex error.
        message: String,
    },
    /// Two rules share an id.
    #[error("rule id {id} is defined twice (second time in {path})")]
    DuplicateId {
        /// Rule id.
        id: String,
        /// File of the second definition.
        path: String,
    },
}

/// Parses one rule file's text. `origin` names it in errors.
pub fn parse_rule_file(origin: &str, text: &str) -> Result<Vec<(String, RuleDef)>, RuleError> {
    let f: RuleFile = serde_yaml_ng::from_str(text).map_err(|e| RuleError::Parse {
        path: origin.to_string(),
        message: e.to_string(),
    })?;
    Ok(f.rules.into_iter().map(|r| (origin.to_string(), r)).collect())
}

/// Loads rules from a file or, recursively, from every `.yml`/`.yaml` file of a directory.
pub fn load_rules_path(path: &Path) -> Result<Vec<(String, RuleDef)>, RuleError> {
    let mut files = Vec::new();
    if path.is_dir() {
        let mut stack = vec![path.to_path_buf()];
        while let Some(d) = stack.pop() {
            let rd = std::fs::read_dir(&d).map_err(|e| RuleError::Io {
                path: d.clone(),
                source: e,
            })?;
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                    files.push(p);
                }
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| RuleError::Io {
            path: f.clone(),
            source: e,
        })?;
        out.extend(parse_rule_file(&f.display().to_string(), &text)?);
    }
    Ok(out)
}

/// The built-in pack's rule definitions with their file names.
pub fn builtin_defs() -> Result<Vec<(String, RuleDef)>, RuleError> {
    let mut out = Vec::new();
    for (name, text) in BUILTIN_RULE_FILES {
        out.extend(parse_rule_file(&format!("builtin:{name}"), text)?);
    }
    Ok(out)
}

/// A compiled rule.
#[derive(Debug)]
pub struct CompiledRule {
    /// Its definition.
    pub def: RuleDef,
    /// The file it came from.
    pub origin: String,
    regex: Regex,
    secret_group: Option<usize>,
}

/// A match before it becomes a finding: which rule, and the byte span of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawMatch {
    /// Index into [`RuleSet::rules`].
    pub rule: usize,
    /// Start of the secret (byte offset in the haystack).
    pub start: usize,
    /// End of the secret (exclusive).
    pub end: usize,
}

/// Compiled rules plus the keyword prefilter.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the rules it triggers.
    keyword_rules: Vec<Vec<usize>>,
    /// Rules with no keywords: they run on every input.
    always: Vec<usize>,
}

impl RuleSet {
    /// The built-in pack alone.
    pub fn builtin() -> Result<RuleSet, RuleError> {
        RuleSet::compile(builtin_defs()?)
    }

    /// Compiles rule definitions (with their origin file names).
    pub fn compile(defs: Vec<(String, RuleDef)>) -> Result<RuleSet, RuleError> {
        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(defs.len());
        for (origin, def) in defs {
            if !seen.insert(def.id.clone()) {
                return Err(RuleError::DuplicateId {
                    id: def.id,
                    path: origin,
                });
            }
            let regex = RegexBuilder::new(&def.pattern)
                .size_limit(32 << 20)
                .dfa_size_limit(32 << 20)
                .build()
                .map_err(|e| RuleError::Pattern {
                    path: origin.clone(),
                    id: def.id.clone(),
                    message: e.to_string(),
                })?;
            let secret_group = match regex.capture_names().position(|n| n == Some("secret")) {
                Some(i) => Some(i),
                None if regex.captures_len() > 1 => Some(1),
                None => None,
            };
            rules.push(CompiledRule {
                def,
                origin,
                regex,
                secret_group,
            });
        }
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.def.keywords.is_empty() {
                always.push(i);
            }
            for k in &r.def.keywords {
                let k = k.to_ascii_lowercase();
                match keywords.iter().position(|x| *x == k) {
                    Some(p) => keyword_rules[p].push(i),
                    None => {
                        keywords.push(k);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .expect("keyword automaton");
        Ok(RuleSet {
            rules,
            prefilter,
            keyword_rules,
            always,
        })
    }

    /// The compiled rules, in load order.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Indices of the rules whose keywords occur in `hay` (plus keyword-less rules).
    pub fn candidate_rules(&self, hay: &[u8]) -> Vec<usize> {
        let mut hit = vec![false; self.rules.len()];
        for &i in &self.always {
            hit[i] = true;
        }
        for m in self.prefilter.find_overlapping_iter(hay) {
            for &r in &self.keyword_rules[m.pattern().as_usize()] {
                hit[r] = true;
            }
        }
        hit.iter()
            .enumerate()
            .filter(|(_, &h)| h)
            .map(|(i, _)| i)
            .collect()
    }

    /// Runs one rule over `hay`, appending accepted matches to `out`.
    pub fn run_rule(&self, rule: usize, hay: &[u8], out: &mut Vec<RawMatch>) {
        let r = &self.rules[rule];
        for caps in r.regex.captures_iter(hay) {
            let m = match r.secret_group {
                Some(g) => match caps.get(g) {
                    Some(m) => m,
                    None => continue,
                },
                None => caps.get(0).expect("group 0"),
            };
            let secret = m.as_bytes();
            if secret.is_empty() {
                continue;
            }
            if !r.def.allow_placeholders && entropy::is_placeholder(secret) {
                continue;
            }
            if let Some(min) = r.def.min_entropy {
                if entropy::shannon(secret) < min {
                    continue;
                }
            }
            out.push(RawMatch {
                rule,
                start: m.start(),
                end: m.end(),
            });
        }
    }

    /// Every accepted match in `hay`, sorted by position then rule.
    pub fn find_in(&self, hay: &[u8]) -> Vec<RawMatch> {
        let mut out = Vec::new();
        for r in self.candidate_rules(hay) {
            self.run_rule(r, hay, &mut out);
        }
        out.sort_by_key(|m| (m.start, m.end, m.rule));
        out
    }

    /// Checks every rule's `examples` (must match that rule) and
    /// `negative_examples` (must not match that rule). Returns one message per failure.
    pub fn check_examples(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let hits = |text: &str| {
                let mut v = Vec::new();
                self.run_rule(i, text.as_bytes(), &mut v);
                let kw_ok = r.def.keywords.is_empty() || self.candidate_rules(text.as_bytes()).contains(&i);
                kw_ok && !v.is_empty()
            };
            if r.def.examples.is_empty() {
                failures.push(format!("{} ({}): no examples", r.def.id, r.origin));
            }
            if r.def.negative_examples.is_empty() {
                failures.push(format!("{} ({}): no negative_examples", r.def.id, r.origin));
            }
            for (n, e) in r.def.examples.iter().enumerate() {
                if !hits(e) {
                    failures.push(format!(
                        "{} ({}): example #{} does not match",
                        r.def.id,
                        r.origin,
                        n + 1
                    ));
                }
            }
            for (n, e) in r.def.negative_examples.iter().enumerate() {
                if hits(e) {
                    failures.push(format!(
                        "{} ({}): negative example #{} matches",
                        r.def.id,
                        r.origin,
                        n + 1
                    ));
                }
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(yaml: &str) -> RuleSet {
        RuleSet::compile(parse_rule_file("test.yml", yaml).unwrap()).unwrap()
    }

    const AWS: &str = r#"
rules:
  - id: t.aws
    name: AWS key
    pattern: '\b((?:AKIA|ASIA)[A-Z2-7]{16})\b'
    keywords: [akia, asia]
    confidence: high
    examples: ['id = AKIAZ7Q3VOWRL4JD5NQK']
    negative_examples: ['AKIA123']
"#;

    #[test]
    fn matches_secret_group_and_checks_examples() {
        let s = set(AWS);
        let hay = b"x AKIAZ7Q3VOWRL4JD5NQK y";
        let m = s.find_in(hay);
        assert_eq!(m.len(), 1);
        assert_eq!(&hay[m[0].start..m[0].end], b"AKIAZ7Q3VOWRL4JD5NQK");
        assert!(s.check_examples().is_empty(), "{:?}", s.check_examples());
    }

    #[test]
    fn prefilter_skips_rules_without_keyword() {
        let s = set(AWS);
        assert!(s.candidate_rules(b"nothing here").is_empty());
    }

    #[test]
    fn errors_name_file_and_rule() {
        let e = RuleSet::compile(
            parse_rule_file("f.yml", "rules:\n  - id: bad\n    name: b\n    pattern: '('\n").unwrap(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("f.yml") && msg.contains("bad"), "{msg}");
        let e = parse_rule_file("g.yml", "rules:\n  - id: x\n    nme: y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.yml"), "{e}");
    }

    #[test]
    fn placeholder_secrets_are_dropped() {
        let s = set("rules:\n  - id: t.pw\n    name: pw\n    pattern: 'password\\s*=\\s*\"([^\"]*)\"'\n    keywords: [password]\n");
        assert!(s.find_in(br#"password = "${{ secrets.PW }}""#).is_empty());
        assert!(s.find_in(br#"password = """#).is_empty());
        assert_eq!(s.find_in(br#"password = "q8Zr2LmX9vTa7Kp""#).len(), 1);
    }
}
