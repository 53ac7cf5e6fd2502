//! Rule packs as data: schema, loading, compilation and matching.
//!
//! A rule file is YAML with a top-level `rules:` list. Each rule:
//!
//! ```yaml
//! rules:
//!   - id: aws.access_key_id            # unique, dotted, lowercase
//!     name: AWS Access Key ID
//!     pattern: '\b((?:AKIA|ASIA)[A-Z2-7]{16})\b'   # Rust `regex` syntax (no look-around)
//!     keywords: [AKIA, ASIA]           # literals for the prefilter; the rule's regex runs
//!                                      # only where one occurs (see "Keyword case" below)
//!     confidence: high                 # high | medium | low
//!     min_entropy: 3.0                 # optional: Shannon bits/byte the secret must reach
//!     examples: ['AKIAZ7Q3VOWRL4JD5NQK']          # each must match
//!     negative_examples: ['AKIAEXAMPLE']          # none may match
//! ```
//!
//! Matching is windowed ([`RuleSet::find_in`]): a rule's regex runs only on
//! the line(s) around a hit of one of its keywords, so a keyword must occur on
//! the secret's line (or within [`MULTILINE_BACK`]/[`MULTILINE_SPAN`] bytes for
//! rules whose pattern can match a line feed). Other optional fields:
//! `description`, `allow_placeholders`, `references`, `tags`.
//!
//! Keyword case: a keyword matches case-insensitively, except when the rule's
//! pattern has no case-insensitive flag anywhere (`(?i)`, `(?i:…)`, `(?mi)`, …)
//! and either contains the keyword verbatim (every match holds it exactly as
//! written) or has matches that all begin with one of a few literals, each
//! holding a keyword (`S[UA]A…` begins with `SUA` or `SAA`; see
//! `verbatim_spellings`): then only those spellings are hits. Short uppercase
//! prefixes such as `SK`, `AC`, `YC` or `SPA` would otherwise fire on every
//! `sk`, `ac`, `yc` or `spa` in ordinary text.
//!
//! The secret is the capture group named `secret` when the pattern has one,
//! otherwise group 1 when there is one, otherwise the whole match. Matches
//! whose secret is an obvious placeholder ([`crate::entropy::is_placeholder`])
//! are dropped unless the rule sets `allow_placeholders: true`.

use crate::analysis::{pattern_may_ignore_case, Analysis, Embedded, Needle};
use crate::entropy;
use crate::keywords::KeywordSearcher;
use firebreak_core::{Confidence, Problem};
use regex_automata::meta::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
include!(concat!(env!("OUT_DIR"), "/builtin_analysis.rs"));

/// The build script's analysis of built-in rule `id`, when it was made from
/// this pattern and these keywords.
fn embedded_analysis(id: &str, pattern: &str, keywords: &[String]) -> Option<&'static Embedded> {
    let i = BUILTIN_ANALYSES.binary_search_by(|(k, _, _)| (*k).cmp(id)).ok()?;
    let (_, print, a) = &BUILTIN_ANALYSES[i];
    (*print == crate::analysis::fingerprint(pattern, keywords)).then_some(a)
}

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
    /// Prefilter literals. Empty means the regex runs on every input. Matched
    /// case-insensitively unless the pattern is case-sensitive and holds the
    /// keyword verbatim (see the module documentation).
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
    /// A promise about where every match starts, relative to a keyword of
    /// the match, which lets the scanner try an anchored match at each keyword
    /// hit and search the hit's window only when one succeeds.
    /// [`RuleSet::check_examples`] checks it on the examples;
    /// see [`Anchor`] and `docs/rules.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
    /// The validator that checks a finding of this rule at its provider
    /// (`scan --validate`; `vendor.kind`, e.g. `github.token`, `aws.access_key`),
    /// when one exists; shown by `firebreak rules list`. See docs/validate.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<String>,
    /// A checksum the vendor documents inside its tokens (`crc32_base62`: GitHub's, npm's
    /// and NetBird's formats end in the CRC-32 of the 30 characters before, in base62). A match
    /// of the documented length whose checksum fails is reported one confidence level
    /// lower: it is a made-up or mangled token, not one the vendor issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
}

/// A checksum embedded in a vendor's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checksum {
    /// `PREFIX_` + 30 random base62 characters + their CRC-32 as 6 base62 characters
    /// (digits, upper case, lower case; zero-padded): GitHub's `gh?_` tokens, npm's
    /// `npm_` tokens and NetBird's `nbp_` personal access tokens.
    Crc32Base62,
}

impl Checksum {
    /// `Some(true)` when `token` carries a valid checksum, `Some(false)` when it has the
    /// documented shape but a wrong checksum, `None` when it does not have the shape (the
    /// checksum says nothing then).
    pub fn verify(self, token: &[u8]) -> Option<bool> {
        match self {
            Checksum::Crc32Base62 => {
                const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                let us = token.iter().position(|&b| b == b'_')?;
                let body = &token[us + 1..];
                if body.len() != 36 || !body.iter().all(u8::is_ascii_alphanumeric) {
                    return None;
                }
                let (random, sum) = body.split_at(30);
                let mut n = crc32fast::hash(random);
                let mut want = [b'0'; 6];
                for slot in want.iter_mut().rev() {
                    *slot = B62[(n % 62) as usize];
                    n /= 62;
                }
                Some(sum == want)
            }
        }
    }
}

/// Where a rule promises its matches start (the `anchor` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// At the first byte of one of the match's keywords, or at the byte just
    /// before it (a boundary such as `?` in `?code=`).
    Keyword,
    /// At the byte before the run of letters, digits, `_`, `.` and `-` in which
    /// one of the match's keywords starts, or at that run's first byte when it
    /// begins the line (a name such as `api_key` after `^` or a separator).
    Name,
}

impl Anchor {
    /// Where, by this promise, a match holding the keyword that starts at
    /// `hit` in `line` can start (one position or two, the earlier first); `None` when that is
    /// not worked out (a name longer than [`NAME_SPAN`]): a match may start
    /// anywhere.
    fn starts(self, line: &[u8], hit: usize, tally: &mut Tally) -> Option<[Option<usize>; 2]> {
        match self {
            Anchor::Name => Some([Some(name_anchor(line, hit, tally)?), None]),
            Anchor::Keyword => Some([hit.checked_sub(1), Some(hit)]),
        }
    }
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
        // Values the message quotes (a rule file may hold a pasted secret) are redacted.
        message: firebreak_core::secret::scrub_parse_message(&e.to_string()),
    })?;
    Ok(f.rules.into_iter().map(|r| (origin.to_string(), r)).collect())
}

/// `path` itself, or every `.yml` / `.yaml` file under it (recursively, sorted).
fn rule_file_paths(path: &Path) -> Result<Vec<std::path::PathBuf>, RuleError> {
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
    Ok(files)
}

/// Loads rules from a file or, recursively, from every `.yml`/`.yaml` file of a directory.
pub fn load_rules_path(path: &Path) -> Result<Vec<(String, RuleDef)>, RuleError> {
    let files = rule_file_paths(path)?;
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

/// Lints rule files the way the built-in pack is checked: every file parses
/// and fits the schema, ids are unique and dotted lowercase (`vendor.kind`),
/// every pattern compiles, every rule has keywords, examples and negative
/// examples, every example matches (with a keyword inside the match, so the
/// prefilter finds it, and where its `anchor` says), and no negative example
/// does. `files` are (name, text) pairs. Each problem names the file, the
/// 1-based line of the rule (or of the parse error) when known, the rule id as
/// its record and what is wrong (never an example's value), kind `rule`;
/// [`Problem::labelled`] with `rule` shows it as `firebreak rules check` prints it.
pub fn check_rule_files(files: &[(String, String)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut defs: Vec<(String, RuleDef, Option<usize>)> = Vec::new();
    let mut lines: std::collections::HashMap<(String, String), usize> = Default::default();
    for (path, text) in files {
        let parsed: Result<RuleFile, _> = serde_yaml_ng::from_str(text);
        match parsed {
            Err(e) => {
                let message = firebreak_core::secret::scrub_parse_message(&e.to_string());
                let p = match e.location() {
                    Some(l) => Problem::at(path.clone(), l.line() as u64, message),
                    None => Problem::new(path.clone(), message),
                };
                problems.push(p.kind("rule"));
            }
            Ok(f) => {
                // The k-th `- id:` line of the file is the k-th rule's line.
                let id_lines: Vec<usize> = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.trim_start().starts_with("- id:"))
                    .map(|(n, _)| n + 1)
                    .collect();
                let aligned = id_lines.len() == f.rules.len();
                for (k, r) in f.rules.into_iter().enumerate() {
                    let line = if aligned { Some(id_lines[k]) } else { None };
                    if let Some(l) = line {
                        lines.entry((path.clone(), r.id.clone())).or_insert(l);
                    }
                    defs.push((path.clone(), r, line));
                }
            }
        }
    }
    let line_of = |path: &str, id: &str| lines.get(&(path.to_string(), id.to_string())).copied();
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut good = Vec::new();
    for (path, d, line) in defs {
        let problem = |message: String| rule_problem(&path, line, &d.id, message);
        let dotted = d.id.contains('.')
            && d.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
        if !dotted {
            problems.push(problem(
                "id is not dotted lowercase snake_case (vendor.kind)".into(),
            ));
        }
        if let Some(first) = seen.insert(d.id.clone(), path.clone()) {
            problems.push(problem(format!("id is defined twice (first in {first})")));
            continue;
        }
        if d.keywords.is_empty() {
            problems.push(problem("no keywords: the rule would run on every input".into()));
        }
        if d.keywords.iter().any(|k| k.trim().is_empty()) {
            problems.push(problem("an empty keyword".into()));
        }
        match RuleSet::compile(vec![(path.clone(), d.clone())]) {
            Err(e) => problems.push(problem(e.to_string())),
            Ok(one) => {
                for (n, e) in d.examples.iter().enumerate() {
                    let mut m = Vec::new();
                    one.run_rule(0, e.as_bytes(), &mut m);
                    let lower = e.to_ascii_lowercase();
                    let holds_keyword = m
                        .iter()
                        .any(|_| d.keywords.iter().any(|k| lower.contains(&k.to_ascii_lowercase())));
                    if !m.is_empty() && !holds_keyword {
                        problems.push(problem(format!(
                            "example #{} matches but holds none of the keywords (the prefilter would skip it)",
                            n + 1
                        )));
                    }
                }
                good.push((path.clone(), d));
            }
        }
    }
    if let Ok(set) = RuleSet::compile(good) {
        for f in set.check_examples() {
            // "<id> (<path>): <what>"
            let (id, rest) = f.split_once(" (").unwrap_or((f.as_str(), ""));
            let (path, what) = rest.split_once("): ").unwrap_or(("", rest));
            problems.push(rule_problem(path, line_of(path, id), id, what.to_string()));
        }
    }
    problems
}

/// A problem of rule `id` in `path`, at its line when known.
fn rule_problem(path: &str, line: Option<usize>, id: &str, message: String) -> Problem {
    let p = match line {
        Some(l) => Problem::at(path, l as u64, message),
        None => Problem::new(path, message),
    };
    p.record(id).kind("rule")
}

/// Reads rule files for [`check_rule_files`]: `path` itself, or every
/// `.yml` / `.yaml` file under it.
pub fn read_rule_files(path: &Path) -> Result<Vec<(String, String)>, RuleError> {
    rule_file_paths(path)?
        .into_iter()
        .map(|f| {
            std::fs::read_to_string(&f)
                .map(|t| (f.display().to_string(), t))
                .map_err(|e| RuleError::Io {
                    path: f.clone(),
                    source: e,
                })
        })
        .collect()
}

/// The built-in pack's files, as [`check_rule_files`] takes them (as JSON,
/// which is YAML too: one line per file, so a problem's line says little; the
/// source files are checked by the crate's tests).
pub fn builtin_rule_files() -> Vec<(String, String)> {
    BUILTIN_RULE_FILES
        .iter()
        .map(|(n, z)| (format!("{BUILTIN_ORIGIN}{n}"), inflate(z)))
        .collect()
}

/// The built-in pack's rule definitions with their file names.
///
/// The pack is embedded as JSON (the build script converts the YAML files):
/// parsing it is a few milliseconds of a scan's start-up, the YAML was 26.
pub fn builtin_defs() -> Result<Vec<(String, RuleDef)>, RuleError> {
    let mut out = Vec::new();
    for (name, z) in BUILTIN_RULE_FILES {
        let origin = format!("{BUILTIN_ORIGIN}{name}");
        let f: RuleFile = serde_json::from_str(&inflate(z)).map_err(|e| RuleError::Parse {
            path: origin.clone(),
            message: firebreak_core::secret::scrub_parse_message(&e.to_string()),
        })?;
        out.extend(f.rules.into_iter().map(|r| (origin.clone(), r)));
    }
    Ok(out)
}

/// Origin prefix of the built-in pack's rules (`builtin:aws.yml`).
const BUILTIN_ORIGIN: &str = "builtin:";

/// A compiled rule.
#[derive(Debug)]
pub struct CompiledRule {
    /// Its definition.
    pub def: RuleDef,
    /// The file it came from.
    pub origin: String,
    /// Built on first use for built-in rules (tested when the crate is), at load
    /// time for user rules (so that a bad pattern is reported before scanning).
    regex: OnceLock<Regex>,
    /// The same with its literal prefilter, for long windows (built on first use).
    regex_long: OnceLock<Regex>,
    /// Where its matches start: the rule's `anchor`, else the one its pattern
    /// implies (`analysis::starts_at_keyword`).
    anchor_kind: Option<Anchor>,
    /// With an anchor: the anchored check, built on first use (`None` inside
    /// when the lazy DFA cannot be built: the rule then runs as others do).
    anchor: Option<OnceLock<Option<AnchorCheck>>>,
    secret_group: Option<usize>,
    /// True when the pattern can match a line feed (then its search window spans lines).
    multiline: bool,
    /// The fewest bytes a match spans: a shorter line cannot hold one.
    min_len: usize,
    /// Tagged `generic`: matches also pass [`entropy::generic_not_secret`].
    generic: bool,
    /// Bytes of which every match holds at least one, and which the rule's
    /// keywords do not hold: a window without any of them is not searched.
    needle: Option<Needle>,
}

impl Needle {
    /// The needle's bytes.
    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// True when `hay` holds one of the needle's bytes.
    #[inline]
    fn found_in(&self, hay: &[u8]) -> bool {
        let b = self.bytes;
        match self.len {
            1 => memchr::memchr(b[0], hay).is_some(),
            2 => memchr::memchr2(b[0], b[1], hay).is_some(),
            _ => memchr::memchr3(b[0], b[1], b[2], hay).is_some(),
        }
    }
}

/// The anchored check of a rule with an `anchor`: its pattern as a lazy DFA
/// searched from one position, with a cache per thread (each thread's own, no
/// lock: a shared pool locked on every check for all threads but one).
struct AnchorCheck {
    dfa: regex_automata::hybrid::dfa::DFA,
    caches: thread_local::ThreadLocal<std::cell::RefCell<regex_automata::hybrid::dfa::Cache>>,
}

impl std::fmt::Debug for AnchorCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnchorCheck")
    }
}

impl AnchorCheck {
    /// The pattern as `regex::bytes` reads it (UTF-8 not required), without
    /// capture groups; `None` when the lazy DFA refuses it.
    fn new(pattern: &str) -> Option<AnchorCheck> {
        use regex_automata::hybrid::dfa::DFA;
        use regex_automata::nfa::thompson;
        let dfa = DFA::builder()
            .syntax(regex_automata::util::syntax::Config::new().utf8(false))
            .thompson(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(thompson::WhichCaptures::None),
            )
            .configure(DFA::config().cache_capacity(8 << 20).unicode_word_boundary(true))
            .build(pattern)
            .ok()?;
        Some(AnchorCheck {
            dfa,
            caches: thread_local::ThreadLocal::new(),
        })
    }

    /// Whether a match of the pattern in `hay` starts at `at`: [`Try::No`]
    /// and [`Try::Yes`] are sure; a search the lazy DFA gives up on (it quits
    /// on non-ASCII bytes next to a Unicode word boundary) answers
    /// [`Try::Maybe`], and so does one that reads [`ANCHOR_SPAN`] bytes without
    /// an answer: on a long line, each hit costs at most that much (a hit's
    /// line is then searched, once for all its hits).
    fn try_at(&self, hay: &[u8], at: usize, tally: &mut Tally) -> Try {
        use regex_automata::{Anchored, Input};
        let cell = self
            .caches
            .get_or(|| std::cell::RefCell::new(self.dfa.create_cache()));
        // The cache is only borrowed here, for one search (never re-entered).
        let mut cache = cell.borrow_mut();
        if hay.len() - at <= ANCHOR_SPAN {
            // The common case, a line of ordinary length: the crate's search.
            tally.add(hay.len() - at);
            let input = Input::new(hay).range(at..).anchored(Anchored::Yes).earliest(true);
            return match self.dfa.try_search_fwd(&mut cache, &input) {
                Ok(None) => Try::No,
                Ok(Some(_)) => Try::Yes,
                Err(_) => Try::Maybe,
            };
        }
        // A long line: the same search a byte at a time, stopped after ANCHOR_SPAN
        // bytes (the range ends before the line does: no end-of-input transition).
        let end = at + ANCHOR_SPAN;
        let input = Input::new(hay).range(at..end).anchored(Anchored::Yes);
        let Ok(mut sid) = self.dfa.start_state_forward(&mut cache, &input) else {
            return Try::Maybe;
        };
        for (i, &b) in hay[at..end].iter().enumerate() {
            if sid.is_tagged() {
                if sid.is_dead() {
                    tally.add(i);
                    return Try::No;
                }
                if sid.is_match() {
                    tally.add(i);
                    return Try::Yes;
                }
                if sid.is_quit() {
                    tally.add(i);
                    return Try::Maybe;
                }
            }
            sid = match self.dfa.next_state(&mut cache, sid, b) {
                Ok(s) => s,
                Err(_) => return Try::Maybe,
            };
        }
        tally.add(ANCHOR_SPAN);
        // A match ending at `end` shows only after one more byte: the answer is
        // "maybe" either way, as for a match that would need more bytes.
        if sid.is_dead() {
            Try::No
        } else {
            Try::Maybe
        }
    }
}

/// An anchored check's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Try {
    /// No match starts there.
    No,
    /// A match starts there.
    Yes,
    /// Not worked out: the window around the hit is searched.
    Maybe,
}

/// Where, by its anchor, a rule's match holding a keyword hit starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Nowhere: no match holds the hit.
    No,
    /// At this position (of the searched line or window), the leftmost one.
    At(usize),
    /// Not worked out: the window around the hit is searched.
    Maybe,
}

/// Bytes an anchored check reads on a long line before it answers "maybe".
const ANCHOR_SPAN: usize = 1024;

/// Longest run of name bytes walked back from a hit to find where an
/// [`Anchor::Name`] rule's match must start (longer: it may start anywhere).
const NAME_SPAN: usize = 256;

/// Bytes of a name, for [`Anchor::Name`].
#[inline]
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Where an [`Anchor::Name`] rule's match holding the keyword that starts at
/// `hit` must start, in `line` (the hit's line, or a multi-line window): the
/// byte before the run of name bytes around the hit, or the run's start when
/// it begins a line. `None` when the run reaches back more than [`NAME_SPAN`]
/// bytes (it is not walked further: a long run of name bytes full of keywords
/// would otherwise be walked once per keyword).
fn name_anchor(line: &[u8], hit: usize, tally: &mut Tally) -> Option<usize> {
    let stop = hit.saturating_sub(NAME_SPAN);
    let mut n = hit;
    while n > stop && is_name_byte(line[n - 1]) {
        n -= 1;
    }
    tally.add(hit - n);
    if n > 0 && n == stop && is_name_byte(line[n - 1]) {
        return None;
    }
    // A run that begins a line (in a multi-line window, after a line feed).
    Some(if n == 0 || line[n - 1] == b'\n' { n } else { n - 1 })
}

impl CompiledRule {
    /// Tagged `generic` (a shape any vendor's secret may have: a JWT, an
    /// assignment to a `password` name).
    pub(crate) fn is_generic(&self) -> bool {
        self.generic
    }

    /// The rule's regex, built now if it was not yet.
    fn regex(&self) -> &Regex {
        self.regex.get_or_init(|| {
            build_regex(&self.def.pattern, false)
                .unwrap_or_else(|e| panic!("rule {} ({}): {e}", self.def.id, self.origin))
        })
    }

    /// The regex to search a window of `len` bytes with: past [`LONG_WINDOW`],
    /// the same regex with its literal prefilter, built on first use.
    fn regex_for(&self, len: usize) -> &Regex {
        if len <= LONG_WINDOW {
            return self.regex();
        }
        self.regex_long.get_or_init(|| {
            build_regex(&self.def.pattern, true)
                .unwrap_or_else(|e| panic!("rule {} ({}): {e}", self.def.id, self.origin))
        })
    }

    /// The anchored check of a rule with an `anchor`, built now if it was not
    /// yet; `None` for other rules (and if the lazy DFA cannot be built).
    #[inline]
    fn anchor_check(&self) -> Option<&AnchorCheck> {
        self.anchor
            .as_ref()?
            .get_or_init(|| AnchorCheck::new(&self.def.pattern))
            .as_ref()
    }

    /// Where, by the rule's `anchor` promise, a match holding the keyword hit
    /// starting at `hit` in `line` starts: the first of the anchor's positions
    /// where the check is sure a match starts, none when it is sure none does
    /// at any, "maybe" when it is not sure at one before those.
    fn start_near(&self, check: &AnchorCheck, line: &[u8], hit: usize, tally: &mut Tally) -> Start {
        let Some(anchor) = self.anchor_kind else {
            return Start::Maybe;
        };
        let Some(starts) = anchor.starts(line, hit, tally) else {
            return Start::Maybe;
        };
        for at in starts.into_iter().flatten() {
            match check.try_at(line, at, tally) {
                Try::No => {}
                Try::Yes => return Start::At(at),
                Try::Maybe => return Start::Maybe,
            }
        }
        Start::No
    }

    /// True when the rule's pattern can match across a line feed, so its search
    /// window around a keyword hit spans several lines (see [`RuleSet::find_in`]).
    pub fn is_multiline(&self) -> bool {
        self.multiline
    }
}

/// The line of the keyword hit `hs..he` (start, end), kept in `line` for the hits after it
/// on the same line; a new line's bytes count in `tally`.
#[inline]
fn hit_line(
    line: &mut (usize, usize),
    tally: &mut Tally,
    hay: &[u8],
    hs: usize,
    he: usize,
) -> (usize, usize) {
    if line.0 == usize::MAX || hs < line.0 || he > line.1 {
        *line = (line_start(hay, hs), line_end(hay, he));
        tally.add(line.1 - line.0 + 1);
    }
    *line
}

/// Bytes before a keyword hit that a multi-line rule's window also covers.
pub const MULTILINE_BACK: usize = 512;
/// Bytes after a keyword hit that a multi-line rule's window also covers
/// (large enough for a 4096-bit PEM or OpenSSH private key).
pub const MULTILINE_SPAN: usize = 8 * 1024;

/// The compiled size and lazy-DFA cache limits of every rule regex (and gate).
const REGEX_SIZE_LIMIT: usize = 32 << 20;

fn build_regex(pattern: &str, prefilter: bool) -> Result<Regex, Box<regex_automata::meta::BuildError>> {
    regex_builder(prefilter).build(pattern).map_err(Box::new)
}

/// Windows longer than this (a long line, a multi-line rule's window) are
/// searched with a rule's regex built with its literal prefilter.
const LONG_WINDOW: usize = 2048;

/// How every rule regex and gate is built: as `regex::bytes` builds them (the
/// same syntax: Unicode on, UTF-8 not required), with or without the regex's
/// own literal prefilter. A rule's regex mostly runs in the one-line windows
/// around its keywords' hits, where the prefilter costs more than it saves,
/// and it was 40 % of a regex's build time (a scan builds a few hundred on
/// first use). Measured with the 1,049-rule pack on `bench/scan.sh`'s 128 MB
/// log: builds 50 → 30 ms, searches 8 % faster; on the tree's JSON and reST,
/// whose long lines make long windows, 5 % slower, hence [`LONG_WINDOW`].
fn regex_builder(prefilter: bool) -> regex_automata::meta::Builder {
    use regex_automata::meta;
    let mut b = meta::Builder::new();
    b.configure(
        meta::Config::new()
            .utf8_empty(false)
            .auto_prefilter(prefilter)
            .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
            .onepass_size_limit(Some(REGEX_SIZE_LIMIT))
            .hybrid_cache_capacity(REGEX_SIZE_LIMIT)
            .dfa_size_limit(Some(REGEX_SIZE_LIMIT)),
    )
    .syntax(regex_automata::util::syntax::Config::new().utf8(false));
    b
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

/// Each rule's pending window while [`RuleSet::find_in_range`] reads the
/// keyword hits in input order.
#[derive(Debug)]
struct Pending {
    /// Per rule: the merged window not yet run (`start == usize::MAX`: none).
    window: Vec<(usize, usize)>,
    /// Rules with a pending window, in the order they got one.
    touched: Vec<usize>,
    /// Per rule: where its last anchored search started and where the match it
    /// found ended (the start when none), `(usize::MAX, 0)` before any.
    anchored: Vec<(usize, usize)>,
    /// Rules with an anchored search, to reset.
    anchored_touched: Vec<usize>,
}

impl Pending {
    const fn new() -> Pending {
        Pending {
            window: Vec::new(),
            touched: Vec::new(),
            anchored: Vec::new(),
            anchored_touched: Vec::new(),
        }
    }

    /// False when an anchored search of rule `r` at `at` would repeat the last
    /// one (two keywords of one name) or start inside the match it found (as a
    /// search over the line would not find a second match there).
    #[inline]
    fn fresh(&self, r: usize, at: usize) -> bool {
        let (last, end) = self.anchored[r];
        last == usize::MAX || at < last || at >= end.max(last + 1)
    }

    /// Notes rule `r`'s anchored search at `at`, whose match ended at `end`.
    #[inline]
    fn searched(&mut self, r: usize, at: usize, end: usize) {
        if self.anchored[r].0 == usize::MAX {
            self.anchored_touched.push(r);
        }
        self.anchored[r] = (at, end);
    }

    /// Ready for a rule set of `rules` rules, with nothing pending.
    fn reset(&mut self, rules: usize) {
        for &r in &self.touched {
            if let Some(w) = self.window.get_mut(r) {
                *w = (usize::MAX, 0);
            }
        }
        self.touched.clear();
        for &r in &self.anchored_touched {
            if let Some(a) = self.anchored.get_mut(r) {
                *a = (usize::MAX, 0);
            }
        }
        self.anchored_touched.clear();
        if self.window.len() != rules {
            self.window.clear();
            self.window.resize(rules, (usize::MAX, 0));
            self.anchored.clear();
            self.anchored.resize(rules, (usize::MAX, 0));
        }
    }

    /// True when rule `r`'s pending window holds `ws..we` whole.
    #[inline]
    fn covers(&self, r: usize, ws: usize, we: usize) -> bool {
        let w = self.window[r];
        w.0 != usize::MAX && w.0 <= ws && we <= w.1
    }

    /// Adds the window `ws..we` for rule `r`: merged into the pending one when
    /// they touch or overlap; otherwise the pending one is returned (to run
    /// now) and this one takes its place.
    #[inline]
    fn add(&mut self, r: usize, ws: usize, we: usize) -> Option<(usize, usize)> {
        let w = &mut self.window[r];
        if w.0 == usize::MAX {
            *w = (ws, we);
            self.touched.push(r);
            None
        } else if ws >= w.0 && ws <= w.1 {
            w.1 = w.1.max(we);
            None
        } else {
            Some(std::mem::replace(w, (ws, we)))
        }
    }

    /// The windows still pending, as (rule, start, end); nothing pending after.
    fn drain(&mut self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let window = &mut self.window;
        self.touched.drain(..).map(move |r| {
            let (s, e) = std::mem::replace(&mut window[r], (usize::MAX, 0));
            (r, s, e)
        })
    }
}

/// The rules one prefilter pattern (a lowercased keyword) triggers.
#[derive(Debug, Default)]
struct KeywordRules {
    /// Rules triggered by the keyword in any case.
    any_case: Vec<usize>,
    /// Rules triggered only when the hit's bytes equal the keyword as written
    /// (rules whose pattern is case-sensitive and holds the keyword verbatim).
    exact: Vec<(Box<[u8]>, usize)>,
}

impl KeywordRules {
    /// Calls `f` with every rule that the hit `found` (the matched bytes) triggers.
    #[inline]
    fn each(&self, found: &[u8], mut f: impl FnMut(usize)) {
        for &r in &self.any_case {
            f(r);
        }
        for (k, r) in &self.exact {
            if **k == *found {
                f(*r);
            }
        }
    }
}

/// For a case-sensitive pattern whose matches all begin with one of the
/// literals `prefixes` (as `regex-syntax` extracts them), the keywords' exact
/// spellings that every match holds: `(keyword index, bytes)` for each prefix,
/// the first keyword (in rule order) the prefix contains ASCII
/// case-insensitively, spelled as in the prefix. `None` when some prefix holds
/// no keyword (or there are no prefixes): then nothing is known.
///
/// `S[UAONCXP]A[A-Z2-7]{55}` with keywords `SUA`, `SAA`, … has the prefixes
/// `SUA`, `SAA`, …: each keyword needs to be found only in upper case.
fn verbatim_spellings(keywords: &[String], prefixes: Option<&[Vec<u8>]>) -> Option<Vec<(usize, Vec<u8>)>> {
    let prefixes = prefixes?;
    if prefixes.is_empty() {
        return None;
    }
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    for l in prefixes {
        let found = keywords.iter().enumerate().find_map(|(ki, k)| {
            let k = k.as_bytes();
            if k.is_empty() || k.len() > l.len() {
                return None;
            }
            l.windows(k.len())
                .find(|w| w.eq_ignore_ascii_case(k))
                .map(|w| (ki, w.to_vec()))
        })?;
        if !out.contains(&found) {
            out.push(found);
        }
    }
    Some(out)
}

/// Compiled rules plus the keyword prefilter.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    prefilter: KeywordSearcher,
    /// For each prefilter pattern, the rules it triggers.
    keyword_rules: Vec<KeywordRules>,
    /// Rules with no keywords: they run on every input.
    always: Vec<usize>,
    /// Per rule: its gate's index in `gates`, or [`NO_GATE`].
    gate_of: Vec<usize>,
    /// Gates of rules that share their keywords (see [`Gate`]).
    gates: Vec<Gate>,
    /// What its searches examined (test builds only).
    #[cfg(test)]
    pub(crate) examined: Examined,
}

/// Bytes of a generic match's line, each side of its secret, that
/// [`entropy::generic_not_secret`] reads.
const GENERIC_CONTEXT: usize = 240;

/// `RuleSet::gate_of` of a rule without a gate.
const NO_GATE: usize = usize::MAX;

/// One regex set for rules with the same keywords (and so, hit by hit, the
/// same windows): a window where it finds nothing holds no match of any of
/// them, and each rule's own search is skipped. The answer for the last window
/// is kept (see `GateMemo`), so the second rule of a pair pays nothing.
#[derive(Debug)]
struct Gate {
    /// The rules' indexes.
    rules: Vec<usize>,
    /// Built on first use, like the rules' own regexes; `None` when the set
    /// cannot be built (it is larger than each alone), and the rules then run
    /// ungated.
    set: OnceLock<Option<Regex>>,
}

/// Per gate, the last window it answered for, `(start, end, any match)`, within
/// one search of one input (offsets into it; reset for every search).
type GateMemo = Vec<(usize, usize, bool)>;

impl RuleSet {
    /// The built-in pack alone.
    pub fn builtin() -> Result<RuleSet, RuleError> {
        RuleSet::compile(builtin_defs()?)
    }

    /// Compiles rule definitions (with their origin file names).
    pub fn compile(defs: Vec<(String, RuleDef)>) -> Result<RuleSet, RuleError> {
        RuleSet::compile_with(defs, true, true)
    }

    /// [`RuleSet::compile`], with or without the anchors rules' patterns imply,
    /// and with or without the build script's analyses of the built-in
    /// patterns (tests compare them).
    pub(crate) fn compile_with(
        defs: Vec<(String, RuleDef)>,
        implied_anchors: bool,
        use_embedded: bool,
    ) -> Result<RuleSet, RuleError> {
        let mut seen = HashSet::new();
        for (origin, def) in &defs {
            if !seen.insert(def.id.clone()) {
                return Err(RuleError::DuplicateId {
                    id: def.id.clone(),
                    path: origin.clone(),
                });
            }
        }
        // Building a few hundred regexes was most of a small scan's start-up, and a
        // scan usually needs only the rules whose keywords occur in it. User rules'
        // patterns are parsed and analysed here (syntax errors name the rule), and
        // their regexes built now (a pattern can parse yet exceed the size limit);
        // built-in rules' analyses were made by the build script, their regexes are
        // built on first use.
        use rayon::prelude::*;
        // Every keyword once, lowercased, in order of first appearance: the keyword
        // automaton is built while the patterns are analysed.
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_at: std::collections::HashMap<String, usize> = Default::default();
        for (_, def) in &defs {
            for k in &def.keywords {
                if let std::collections::hash_map::Entry::Vacant(e) = keyword_at.entry(k.to_ascii_lowercase())
                {
                    keywords.push(e.key().clone());
                    e.insert(keywords.len() - 1);
                }
            }
        }
        let parse = || {
            defs.into_par_iter()
                .map(|(origin, def)| {
                    let pattern_error = |message: String| RuleError::Pattern {
                        path: origin.clone(),
                        id: def.id.clone(),
                        message,
                    };
                    // A built-in rule's pattern was parsed and analysed when the crate was
                    // built (tests check that it is the same analysis); a user rule's is here
                    // (syntax errors name the rule).
                    let builtin = origin.starts_with(BUILTIN_ORIGIN);
                    let embedded = (builtin && use_embedded)
                        .then(|| embedded_analysis(&def.id, &def.pattern, &def.keywords))
                        .flatten();
                    let a: Analysis = match embedded {
                        Some(e) => e.analysis(),
                        None => {
                            crate::analysis::analyze(&def.pattern, &def.keywords).map_err(pattern_error)?
                        }
                    };
                    let regex = OnceLock::new();
                    if !builtin {
                        let built =
                            build_regex(&def.pattern, false).map_err(|e| pattern_error(e.to_string()))?;
                        let _ = regex.set(built);
                    }
                    let anchor_kind = def
                        .anchor
                        .or_else(|| (implied_anchors && a.starts_at_keyword).then_some(Anchor::Keyword));
                    let prefixes = a.prefixes;
                    Ok((
                        CompiledRule {
                            anchor_kind,
                            anchor: anchor_kind.map(|_| OnceLock::new()),
                            min_len: a.min_len,
                            secret_group: a.secret_group,
                            multiline: a.multiline,
                            generic: def.tags.iter().any(|t| t == "generic"),
                            needle: a.needle,
                            def,
                            origin,
                            regex,
                            regex_long: OnceLock::new(),
                        },
                        prefixes,
                    ))
                })
                .collect::<Vec<Result<_, RuleError>>>()
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
        };
        let (rules, prefilter) = rayon::join(parse, || KeywordSearcher::new(&keywords));
        let (rules, prefixes): (Vec<CompiledRule>, Vec<_>) = rules?.into_iter().unzip();
        let mut keyword_rules: Vec<KeywordRules> = keywords.iter().map(|_| KeywordRules::default()).collect();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.def.keywords.is_empty() {
                always.push(i);
            }
            let case_sensitive = !pattern_may_ignore_case(&r.def.pattern);
            let spellings = if case_sensitive {
                verbatim_spellings(&r.def.keywords, prefixes[i].as_deref())
            } else {
                None
            };
            for (ki, k) in r.def.keywords.iter().enumerate() {
                let kr = &mut keyword_rules[keyword_at[&k.to_ascii_lowercase()]];
                // The spellings every match holds: from the prefixes, else the keyword as
                // written when the pattern holds it verbatim; none means any case.
                let mut exact: Vec<&[u8]> = spellings
                    .iter()
                    .flatten()
                    .filter(|(j, _)| *j == ki)
                    .map(|(_, s)| s.as_slice())
                    .collect();
                if exact.is_empty() && case_sensitive && !k.is_empty() && r.def.pattern.contains(k.as_str()) {
                    exact.push(k.as_bytes());
                }
                if !exact.is_empty() {
                    for e in exact {
                        if !kr.exact.iter().any(|(x, y)| **x == *e && *y == i) {
                            kr.exact.push((e.into(), i));
                        }
                    }
                } else if !kr.any_case.contains(&i) {
                    kr.any_case.push(i);
                }
            }
        }
        // Rules with the same keywords (in any case) and the same kind of window.
        let mut by_keywords: std::collections::BTreeMap<(Vec<String>, bool), Vec<usize>> = Default::default();
        for (i, r) in rules.iter().enumerate() {
            if r.def.keywords.is_empty() {
                continue;
            }
            let mut k: Vec<String> = r.def.keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
            k.sort();
            k.dedup();
            by_keywords.entry((k, r.multiline)).or_default().push(i);
        }
        let mut gate_of = vec![NO_GATE; rules.len()];
        let mut gates = Vec::new();
        for group in by_keywords.into_values().filter(|g| g.len() > 1) {
            for &r in &group {
                gate_of[r] = gates.len();
            }
            gates.push(Gate {
                rules: group,
                set: OnceLock::new(),
            });
        }
        Ok(RuleSet {
            #[cfg(test)]
            examined: Examined {
                windows: rules.iter().map(|_| Default::default()).collect(),
                ..Default::default()
            },
            rules,
            prefilter,
            keyword_rules,
            always,
            gate_of,
            gates,
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
        self.prefilter.for_each(hay, |k, s, e| {
            self.keyword_rules[k].each(&hay[s..e], |r| {
                hit[r] = true;
            });
        });
        hit.iter()
            .enumerate()
            .filter(|(_, &h)| h)
            .map(|(i, _)| i)
            .collect()
    }

    /// Runs one rule over `hay`, appending accepted matches to `out`.
    pub fn run_rule(&self, rule: usize, hay: &[u8], out: &mut Vec<RawMatch>) {
        self.run_rule_at(rule, hay, 0, out)
    }

    /// Runs `rule` on `hay[window]`, unless its gate finds nothing there.
    fn run_gated(
        &self,
        rule: usize,
        hay: &[u8],
        window: std::ops::Range<usize>,
        memo: &mut GateMemo,
        out: &mut Vec<RawMatch>,
    ) {
        // The needle first: cheaper than the gate's regex set.
        if let Some(n) = &self.rules[rule].needle {
            #[cfg(test)]
            self.examined.add_window(rule, window.len());
            if !n.found_in(&hay[window.clone()]) {
                return;
            }
        }
        let g = self.gate_of[rule];
        if g != NO_GATE {
            if let Some(set) = self.gate(g) {
                let m = &mut memo[g];
                if (m.0, m.1) != (window.start, window.end) {
                    #[cfg(test)]
                    self.examined.add_window(rule, window.len());
                    *m = (window.start, window.end, set.is_match(&hay[window.clone()]));
                }
                if !m.2 {
                    return;
                }
            }
        }
        self.search_at(rule, &hay[window.clone()], window.start, out);
    }

    /// Gate `g`'s regex set, built now if it was not yet (`None`: it cannot be).
    fn gate(&self, g: usize) -> Option<&Regex> {
        let gate = &self.gates[g];
        gate.set
            .get_or_init(|| {
                let patterns: Vec<&str> = gate
                    .rules
                    .iter()
                    .map(|&r| self.rules[r].def.pattern.as_str())
                    .collect();
                regex_builder(false).build_many(&patterns).ok()
            })
            .as_ref()
    }

    /// Runs one rule over `window`, which starts at byte `base` of the
    /// haystack; offsets in `out` are haystack offsets.
    fn run_rule_at(&self, rule: usize, window: &[u8], base: usize, out: &mut Vec<RawMatch>) {
        if let Some(n) = &self.rules[rule].needle {
            #[cfg(test)]
            self.examined.add_window(rule, window.len());
            if !n.found_in(window) {
                return;
            }
        }
        self.search_at(rule, window, base, out);
    }

    /// [`RuleSet::run_rule_at`] once the window is known to hold the rule's needle.
    fn search_at(&self, rule: usize, window: &[u8], base: usize, out: &mut Vec<RawMatch>) {
        let r = &self.rules[rule];
        #[cfg(test)]
        self.examined.add_window(rule, window.len());
        // Most windows hold no match: the earliest-match search answers that
        // without a captures allocation; only a window that matches pays for them.
        let regex = r.regex_for(window.len());
        if !regex.is_match(window) {
            return;
        }
        #[cfg(test)]
        self.examined.add_window(rule, window.len());
        for caps in regex.captures_iter(window) {
            self.accept(rule, window, base, &caps, out);
        }
    }

    /// Rule `rule`'s match starting at `at` in `hay`, if there is one, searched
    /// for there alone (anchored), in the line `line` (whose start is the search
    /// window's for the generic rules' context); accepted or not as
    /// [`RuleSet::search_at`] accepts matches. Returns where the match ends
    /// (`at` when there is none).
    fn search_anchored(
        &self,
        rule: usize,
        hay: &[u8],
        line: std::ops::Range<usize>,
        at: usize,
        out: &mut Vec<RawMatch>,
    ) -> usize {
        use regex_automata::{Anchored, Input};
        let window = &hay[line.clone()];
        let regex = self.rules[rule].regex();
        let mut caps = regex.create_captures();
        let input = Input::new(window)
            .range(at - line.start..)
            .anchored(Anchored::Yes);
        #[cfg(test)]
        self.examined.add_window(rule, window.len() - (at - line.start));
        regex.search_captures(&input, &mut caps);
        let Some(m) = caps.get_match() else {
            return at;
        };
        self.accept(rule, window, line.start, &caps, out);
        line.start + m.end()
    }

    /// Keeps a rule's match (`caps`, in `window`, which starts at `base` in the
    /// input) unless its secret is empty, a placeholder, too low in entropy,
    /// named public, or (generic rules) not a secret by its context.
    fn accept(
        &self,
        rule: usize,
        window: &[u8],
        base: usize,
        caps: &regex_automata::util::captures::Captures,
        out: &mut Vec<RawMatch>,
    ) {
        let r = &self.rules[rule];
        let Some(m) = caps.get_group(r.secret_group.unwrap_or(0)) else {
            return;
        };
        let secret = &window[m.range()];
        if secret.is_empty() {
            return;
        }
        if !r.def.allow_placeholders && entropy::is_placeholder(secret) {
            return;
        }
        if let Some(min) = r.def.min_entropy {
            if entropy::shannon(secret) < min {
                return;
            }
        }
        // A value shown in part and masked after (`xoxp-5723…-####`, `sk_live_51H…****`).
        if !r.def.allow_placeholders && entropy::masked_after(&window[m.end..]) {
            return;
        }
        let whole = caps.get_match().expect("group 0");
        let name = &window[whole.start()..m.start.max(whole.start())];
        // Any rule: a value its own name calls public (`algoliaSearchOnlyKey = …`,
        // `STRIPE_PUBLISHABLE_KEY=…`, `recaptcha_site_key: …`).
        if !r.def.allow_placeholders && entropy::names_a_public_value(name) {
            return;
        }
        if r.generic && !r.def.allow_placeholders {
            // The line around the secret, at most GENERIC_CONTEXT bytes each side
            // (bounded: a long line with many matches stays linear).
            let lo = m.start.saturating_sub(GENERIC_CONTEXT);
            let hi = (m.end + GENERIC_CONTEXT).min(window.len());
            let found = memchr::memrchr(b'\n', &window[lo..m.start]);
            let ls = found.map_or(lo, |i| lo + i + 1);
            let le = memchr::memchr(b'\n', &window[m.start..hi]).map_or(hi, |i| m.start + i);
            // The window's start is a line start (windows are whole lines).
            let whole_line = found.is_some() || lo == 0;
            let before = &window[ls.min(whole.start())..whole.start()];
            if entropy::generic_not_secret(name, secret, &window[ls..le], whole_line, before) {
                return;
            }
        }
        out.push(RawMatch {
            rule,
            start: base + m.start,
            end: base + m.end,
        });
    }

    /// Every accepted match in `hay`, sorted by position then rule.
    ///
    /// Matching is windowed: the keyword automaton runs over the whole input,
    /// and each rule's regex runs only in windows around the hits of its own
    /// keywords — the line holding the hit for single-line rules, and from
    /// [`MULTILINE_BACK`] bytes before to [`MULTILINE_SPAN`] bytes after the
    /// hit (widened to whole lines) for rules whose pattern can match a line
    /// feed. A keyword must therefore be on the secret's line (or near it for
    /// multi-line rules). Rules without keywords run over the whole input.
    /// The cost grows with the number of keyword hits, not with the number of
    /// rules times the input size.
    pub fn find_in(&self, hay: &[u8]) -> Vec<RawMatch> {
        self.find_in_range(hay, 0..hay.len())
    }

    /// Like [`RuleSet::find_in`], but only keyword hits inside `range` seed
    /// windows (windows may extend past it into `hay`), and keyword-less rules
    /// run over `range` widened by [`MULTILINE_SPAN`]. Used to split one big
    /// buffer into chunks scanned in parallel; a match near a chunk edge may
    /// be reported by both neighbours, so callers deduplicate.
    pub fn find_in_range(&self, hay: &[u8], range: std::ops::Range<usize>) -> Vec<RawMatch> {
        let mut out = Vec::new();
        let start = range.start.min(hay.len());
        let end = range.end.min(hay.len());
        // Keyword hits come in input order, so each rule's windows do too: a rule's
        // window is merged into its pending one while they touch or overlap, and the
        // pending one runs when the next does not. No list of windows, no sort.
        thread_local! {
            static PENDING: std::cell::RefCell<Pending> = const { std::cell::RefCell::new(Pending::new()) };
        }
        let mut memo: GateMemo = vec![(usize::MAX, 0, false); self.gates.len()];
        let mut tally = Tally::default();
        // Multi-line windows' first and last lines: on a long line, each is found
        // once, not once per hit (which read the line once per hit).
        let (mut first_lines, mut last_lines) = (Lines::new(), Lines::new());
        crate::with_scratch(&PENDING, Pending::new, |pending| {
            pending.reset(self.rules.len());
            let mut line: (usize, usize) = (usize::MAX, 0); // the last hit's line (start, end)
            self.prefilter.for_each(&hay[start..end], |k, ms, me| {
                let hs = start + ms;
                let he = start + me;
                let mut multi: Option<(usize, usize)> = None;
                // Line bounds only for a hit that triggers a rule: most hits of short
                // case-sensitive keywords (`AC`, `pat`) are lowercase words that do not.
                self.keyword_rules[k].each(&hay[hs..he], |r| {
                    let rule = &self.rules[r];
                    // An anchored multi-line rule tries its anchor first, from the hit's
                    // line to the input's end (its match may run on past that line), and
                    // finds its window's far lines only when the try succeeds: most hits
                    // of a generic name's keywords end there.
                    let mut tried = false;
                    if rule.multiline {
                        if let Some(check) = rule.anchor_check() {
                            let (ls, _) = hit_line(&mut line, &mut tally, hay, hs, he);
                            if rule.start_near(check, &hay[ls..], hs - ls, &mut tally) == Start::No {
                                return;
                            }
                            tried = true;
                        }
                    }
                    let (ws, we) = if rule.multiline {
                        *multi.get_or_insert_with(|| {
                            (
                                first_lines.line(hay, hs.saturating_sub(MULTILINE_BACK)).0,
                                last_lines.line(hay, (he + MULTILINE_SPAN).min(hay.len())).1,
                            )
                        })
                    } else {
                        hit_line(&mut line, &mut tally, hay, hs, he)
                    };
                    if !rule.multiline {
                        // A line shorter than the rule's shortest match cannot hold one; with
                        // an anchor at the keyword, nor can the rest of the line from the hit.
                        let from = if rule.anchor_kind == Some(Anchor::Keyword) {
                            hs.saturating_sub(1).max(ws)
                        } else {
                            ws
                        };
                        if we - from < rule.min_len {
                            return;
                        }
                    }
                    if let Some(check) = rule.anchor_check().filter(|_| !tried) {
                        // Unless the rule's pending window holds the line already, the
                        // check says where on the line a match holding this hit starts.
                        // When it is sure, the match is searched for there alone (the line
                        // is not: a large pattern's search from every position is slow
                        // to start); when it is sure there is none, nothing is searched.
                        if !pending.covers(r, ws, we) {
                            match rule.start_near(check, &hay[ws..we], hs - ws, &mut tally) {
                                Start::No => return,
                                // (On a long line, a search from the hit could read to the
                                // line's end for every hit: the line is searched once instead.)
                                Start::At(p) if we - (ws + p) <= ANCHOR_SPAN => {
                                    let at = ws + p;
                                    if pending.fresh(r, at) {
                                        let end = self.search_anchored(r, hay, ws..we, at, &mut out);
                                        pending.searched(r, at, end);
                                    }
                                    return;
                                }
                                Start::At(_) | Start::Maybe => {}
                            }
                        }
                    }
                    if let Some((ps, pe)) = pending.add(r, ws, we) {
                        self.run_gated(r, hay, ps..pe, &mut memo, &mut out);
                    }
                });
            });
            for (r, ps, pe) in pending.drain() {
                self.run_gated(r, hay, ps..pe, &mut memo, &mut out);
            }
        });
        #[cfg(test)]
        self.examined.around_hits.fetch_add(
            tally.bytes + first_lines.tally.bytes + last_lines.tally.bytes,
            std::sync::atomic::Ordering::Relaxed,
        );
        if !self.always.is_empty() {
            let ws = line_start(hay, start);
            let we = if end >= hay.len() {
                hay.len()
            } else {
                line_end(hay, (end + MULTILINE_SPAN).min(hay.len()))
            };
            let before = out.len();
            for &r in &self.always {
                self.run_rule_at(r, &hay[ws..we], ws, &mut out);
            }
            // Matches starting past the range belong to the next chunk.
            let mut i = before;
            while i < out.len() {
                if out[i].start >= end && end < hay.len() {
                    out.swap_remove(i);
                } else {
                    i += 1;
                }
            }
        }
        out.sort_by_key(|m| (m.start, m.end, m.rule));
        out.dedup();
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
                } else if r.anchor_kind.is_some() && !self.find_in(e.as_bytes()).iter().any(|m| m.rule == i) {
                    failures.push(format!(
                        "{} ({}): example #{} matches, but not where its anchor says matches start",
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

/// A count of the bytes examined around keyword hits and findings (line
/// bounds, names walked back, anchored checks, `firebreak:allow` markers), on
/// top of the keyword walk and the rules' own searches. Only test builds keep
/// it (a field-less type otherwise: counting costs nothing); the tests bound it
/// by a small multiple of the input's size, whatever its line lengths.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    #[cfg(test)]
    pub(crate) bytes: u64,
}

impl Tally {
    /// Counts `n` bytes examined.
    #[inline(always)]
    pub(crate) fn add(&mut self, n: usize) {
        #[cfg(test)]
        {
            self.bytes += n as u64;
        }
        let _ = n;
    }
}

/// What a rule set examined, for tests: see [`Tally`]. Shared by the threads
/// of a scan; each search adds its tally when it ends.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Examined {
    /// Bytes examined around hits and findings (the sum of the searches' tallies).
    pub(crate) around_hits: std::sync::atomic::AtomicU64,
    /// Per rule: bytes of the windows its needle, gate and regex searched.
    pub(crate) windows: Vec<std::sync::atomic::AtomicU64>,
}

#[cfg(test)]
impl Examined {
    fn add_window(&self, rule: usize, n: usize) {
        self.windows[rule].fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The bounds of the lines holding positions that come (mostly) in input
/// order, such as keyword hits or matches: the last two lines found are kept,
/// so that a line is searched for its line feeds once, however many positions
/// on it are asked about. (Asking `line_start` and `line_end` afresh for each
/// of many positions on one long line reads the line once per position.)
#[derive(Debug)]
pub(crate) struct Lines {
    /// The latest line found and the one before, as `start..end`: no line feed
    /// in between, `start` is 0 or follows one, `end` holds one or is the
    /// input's end. `usize::MAX` starts: none yet.
    cur: (usize, usize),
    prev: (usize, usize),
    /// Bytes read to find them.
    pub(crate) tally: Tally,
}

impl Lines {
    /// No line known yet.
    pub(crate) const fn new() -> Lines {
        Lines {
            cur: (usize::MAX, 0),
            prev: (usize::MAX, 0),
            tally: Tally {
                #[cfg(test)]
                bytes: 0,
            },
        }
    }

    /// `(line_start(hay, pos), line_end(hay, pos))`, for the same `hay` on
    /// every call.
    pub(crate) fn line(&mut self, hay: &[u8], pos: usize) -> (usize, usize) {
        let pos = pos.min(hay.len());
        for (s, e) in [self.cur, self.prev] {
            if s <= pos && pos <= e {
                return (s, e);
            }
        }
        let (cs, ce) = self.cur;
        let start = if cs != usize::MAX && pos > ce {
            // Past the latest line, whose end holds a line feed: only what lies
            // between is read.
            let back = &hay[ce..pos];
            ce + memchr::memrchr(b'\n', back).map_or(0, |i| i + 1)
        } else {
            line_start(hay, pos)
        };
        let end = if cs != usize::MAX && pos < cs {
            // Before the latest line, which follows a line feed.
            pos + memchr::memchr(b'\n', &hay[pos..cs]).unwrap_or(cs - 1 - pos)
        } else {
            line_end(hay, pos)
        };
        self.tally.add(end - start + 1);
        self.prev = self.cur;
        self.cur = (start, end);
        (start, end)
    }
}

/// Offset of the first byte of the line holding `pos`.
pub(crate) fn line_start(hay: &[u8], pos: usize) -> usize {
    match memchr::memrchr(b'\n', &hay[..pos.min(hay.len())]) {
        Some(i) => i + 1,
        None => 0,
    }
}

/// Offset just past the line holding `pos` (excluding its line feed).
pub(crate) fn line_end(hay: &[u8], pos: usize) -> usize {
    let pos = pos.min(hay.len());
    match memchr::memchr(b'\n', &hay[pos..]) {
        Some(i) => pos + i,
        None => hay.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windowed matcher against the plain definition: a single-line rule
    /// matches on a line where one of its keywords occurs (in the case the rule
    /// accepts), searched over that line alone. On every rule's examples, mixed
    /// with filler lines full of keywords and repeated past one keyword
    /// segment, both must give the same matches.
    #[test]
    fn windowed_matching_equals_the_line_by_line_definition() {
        let rs = RuleSet::builtin().expect("builtin rules");
        let mut unit = String::new();
        for r in rs.rules() {
            for e in r.def.examples.iter().chain(&r.def.negative_examples) {
                if !e.contains('\n') {
                    unit.push_str(e);
                    unit.push('\n');
                }
                unit.push_str("  path = token_key(secret); AC pat SPA matrix meta -- pass\n");
            }
        }
        let mut text = String::new();
        while text.len() < crate::keywords::SEGMENT + (300 << 10) {
            text.push_str(&unit);
        }
        let hay = text.as_bytes();
        let single = |m: &RawMatch| !rs.rules[m.rule].multiline && !rs.rules[m.rule].def.keywords.is_empty();
        let got: Vec<RawMatch> = rs.find_in(hay).into_iter().filter(single).collect();
        let want = line_by_line(&rs, hay, |_| true);
        assert!(want.len() > 1000, "only {} matches", want.len());
        assert_eq!(got.len(), want.len());
        assert!(
            got == want,
            "first difference at {:?}",
            got.iter().zip(&want).find(|(a, b)| a != b)
        );
    }

    /// The line-by-line definition (every single-line keyword rule run over
    /// every line holding one of its keywords), for rules `pick` selects.
    /// A small deterministic pseudo-random sequence (xorshift64) for the tests' random lines.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    fn line_by_line(rs: &RuleSet, hay: &[u8], pick: impl Fn(&CompiledRule) -> bool) -> Vec<RawMatch> {
        let mut want = Vec::new();
        let mut at = 0;
        for line in hay.split(|&b| b == b'\n') {
            for r in rs.candidate_rules(line) {
                if pick(&rs.rules[r]) && !rs.rules[r].multiline && !rs.rules[r].def.keywords.is_empty() {
                    rs.run_rule_at(r, line, at, &mut want);
                }
            }
            at += line.len() + 1;
        }
        want.sort_by_key(|m| (m.start, m.end, m.rule));
        want.dedup();
        want
    }

    /// A pattern as the rule set parses it.
    fn parse_hir(pattern: &str) -> regex_syntax::hir::Hir {
        regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(pattern)
            .unwrap()
    }

    /// The analyses the build script embedded for the built-in rules are the
    /// ones the run-time analysis gives (same code, same `regex-syntax`), one
    /// per rule; a pattern or keywords that differ from the built-in rule's
    /// (a user rule reusing its id) do not get it.
    #[test]
    fn the_embedded_analyses_are_the_run_time_ones() {
        let defs = builtin_defs().expect("builtin rules");
        assert_eq!(BUILTIN_ANALYSES.len(), defs.len());
        for (_, d) in &defs {
            let e = embedded_analysis(&d.id, &d.pattern, &d.keywords)
                .unwrap_or_else(|| panic!("{}: no embedded analysis", d.id));
            let a = crate::analysis::analyze(&d.pattern, &d.keywords).expect("pattern");
            assert_eq!(e.analysis(), a, "{}", d.id);
        }
        let (_, d) = &defs[0];
        assert!(embedded_analysis(&d.id, &format!("{}x", d.pattern), &d.keywords).is_none());
        let mut kws = d.keywords.clone();
        kws.push("other".into());
        assert!(embedded_analysis(&d.id, &d.pattern, &kws).is_none());
        // Compiled either way, the rule sets agree rule for rule.
        let fast = RuleSet::compile_with(defs.clone(), true, true).expect("rules");
        let slow = RuleSet::compile_with(defs, true, false).expect("rules");
        for (f, s) in fast.rules.iter().zip(&slow.rules) {
            assert_eq!(
                (f.anchor_kind, f.min_len, f.secret_group, f.multiline, f.needle),
                (s.anchor_kind, s.min_len, s.secret_group, s.multiline, s.needle),
                "{}",
                f.def.id
            );
        }
        assert_eq!(
            format!("{:?}", fast.keyword_rules),
            format!("{:?}", slow.keyword_rules)
        );
    }

    /// A user rule (not built in) is analysed from its own pattern even when it
    /// reuses a built-in rule's id and pattern, and a bad pattern is an error
    /// naming the rule.
    #[test]
    fn user_rules_are_analysed_at_load_time() {
        let (_, mut d) = builtin_defs().expect("builtin rules").remove(0);
        let set = RuleSet::compile(vec![("mine.yml".into(), d.clone())]).expect("rule");
        assert!(
            set.rules[0].regex.get().is_some(),
            "a user rule's regex is built at load time"
        );
        d.pattern = "(?P<secret>[a-z]+".into();
        match RuleSet::compile(vec![("mine.yml".into(), d.clone())]) {
            Err(RuleError::Pattern { path, id, .. }) => {
                assert_eq!((path.as_str(), id.as_str()), ("mine.yml", d.id.as_str()))
            }
            other => panic!("{other:?}"),
        }
    }

    /// Needles are bytes every match holds, the rarest that no keyword holds;
    /// optional parts, letters (in either case) and common bytes are not needles.
    #[test]
    fn needles_are_rare_bytes_that_every_match_holds() {
        let needle = |pattern: &str, keywords: &[&str]| {
            let hir = parse_hir(pattern);
            let kws: Vec<String> = keywords.iter().map(|k| k.to_string()).collect();
            crate::analysis::needle_of(&hir, &kws).map(|n| String::from_utf8(n.bytes().to_vec()).unwrap())
        };
        assert_eq!(needle(r"(?-u)\bx[a-z]+@[a-z]+", &["x"]).as_deref(), Some("@"));
        assert_eq!(needle(r"(?-u)a(?:=|!)b", &["a"]).as_deref(), Some("!="));
        assert_eq!(
            needle(r"(?-u)a(?:[ \t]*(?:=|:=|=>|:|->))x", &["a"]).as_deref(),
            Some(":=>")
        );
        assert_eq!(needle(r"(?-u)a(?:@)+b", &["a"]).as_deref(), Some("@"));
        // The rarest byte that no keyword holds: `@` is in the keyword `x@`.
        assert_eq!(needle(r"(?-u)x@y=z", &["x@"]).as_deref(), Some("="));
        // Not held by every match: optional, or one branch without it.
        assert_eq!(needle(r"(?-u)ab@?c", &["ab"]), None);
        assert_eq!(needle(r"(?-u)ab(?:@|c)d", &["ab"]), None);
        assert_eq!(needle(r"(?-u)ab(?:@x){0,3}d", &["ab"]), None);
        // Letters, digits and spaces are not needles (a line holds them), nor
        // classes of more than three bytes, nor case-folded letters.
        assert_eq!(needle(r"(?-u)ab[ ]cd", &["ab"]), None);
        assert_eq!(needle(r"(?-u)ab[@!%&]cd", &["ab"]), None);
        assert_eq!(needle(r"(?i)key", &[]), None);
        // A built-in rule's: the URL credentials rule needs the `@` of `user:pass@host`.
        let rs = RuleSet::builtin().expect("builtin rules");
        let url = rs
            .rules()
            .iter()
            .find(|r| r.def.id == "generic.url_credentials")
            .unwrap();
        assert_eq!(url.needle.map(|n| n.bytes().to_vec()), Some(b"@".to_vec()));
    }

    /// A window without the rule's needle is skipped, and nothing is lost by
    /// it: on every built-in example, positive and negative, whole and with
    /// bytes dropped or changed, among noise, the rules find what the same
    /// rules without needles find.
    #[test]
    fn needles_lose_no_match() {
        let rs = RuleSet::builtin().expect("builtin rules");
        let mut plain = RuleSet::builtin().expect("builtin rules");
        for r in plain.rules.iter_mut() {
            r.needle = None;
        }
        let with_needle = rs.rules().iter().filter(|r| r.needle.is_some()).count();
        assert!(with_needle > 50, "only {with_needle} rules have a needle");
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut text = Vec::new();
        for r in rs.rules() {
            for e in r.def.examples.iter().chain(&r.def.negative_examples) {
                let e = e.as_bytes();
                text.extend_from_slice(e);
                text.extend_from_slice(b"\n  noise = value(secret) -- pass @ user\n");
                // Variants: one byte dropped, one byte changed to a needle-ish byte.
                for _ in 0..4 {
                    if e.is_empty() {
                        break;
                    }
                    let at = (next() % e.len() as u64) as usize;
                    let mut v = e.to_vec();
                    if next().is_multiple_of(2) {
                        v.remove(at);
                    } else {
                        v[at] = b"@=:-!&?"[(next() % 7) as usize];
                    }
                    text.extend_from_slice(&v);
                    text.push(b'\n');
                }
            }
        }
        let got = rs.find_in(&text);
        let want = plain.find_in(&text);
        assert!(want.len() > 1000, "only {} matches", want.len());
        assert!(
            want.iter().any(|m| rs.rules[m.rule].needle.is_some()),
            "no rule with a needle matched"
        );
        assert!(
            got == want,
            "{} against {}; first difference at {:?}",
            got.len(),
            want.len(),
            got.iter().zip(&want).find(|(a, b)| a != b)
        );
    }

    /// Every rule with an `anchor` keeps its promise on every one of its
    /// examples: each match starts where the anchor puts one of the keyword
    /// hits inside it.
    #[test]
    fn anchored_rules_keep_their_promise_on_their_examples() {
        let rs = RuleSet::builtin().expect("builtin rules");
        let anchored: Vec<&CompiledRule> = rs.rules().iter().filter(|r| r.anchor_kind.is_some()).collect();
        assert!(anchored.iter().any(|r| r.anchor_kind == Some(Anchor::Name)));
        assert!(anchored.iter().any(|r| r.anchor_kind == Some(Anchor::Keyword)));
        for r in anchored {
            let kws = KeywordSearcher::new(&r.def.keywords);
            for e in &r.def.examples {
                let line = e.as_bytes();
                let mut hits = Vec::new();
                kws.for_each(line, |_, a, b| hits.push((a, b)));
                let found: Vec<_> = r.regex().find_iter(line).collect();
                assert!(!found.is_empty(), "{}: {e}", r.def.id);
                for m in found {
                    let anchor = r.anchor_kind.expect("anchored");
                    let kept = |a: usize| {
                        anchor
                            .starts(line, a, &mut Tally::default())
                            .is_some_and(|s| s.contains(&Some(m.start())))
                    };
                    assert!(
                        hits.iter()
                            .any(|&(a, b)| a >= m.start() && b <= m.end() && kept(a)),
                        "{}: a match of {e:?} starts at {}, away from its keywords",
                        r.def.id,
                        m.start()
                    );
                }
            }
        }
    }

    /// Rules that share a gate find, on their examples alone and side by side,
    /// what the same rules find each searching every window of its own.
    #[test]
    fn gated_rules_find_what_they_find_alone() {
        let rs = RuleSet::builtin().expect("builtin rules");
        assert!(!rs.gates.is_empty(), "no built-in rules share their keywords");
        assert!(rs.gates.iter().all(|g| g.rules.len() > 1));
        // The same rules, each searching every window of its own.
        let mut plain = RuleSet::compile(builtin_defs().expect("builtin defs")).expect("rules");
        plain.gate_of.fill(NO_GATE);
        // Every gated rule's examples, positive and negative, alone, after noise, and
        // next to each other's on one line, so that a gate says yes and no in turn
        // for adjacent and repeated windows.
        let lines: Vec<&str> = (0..rs.rules.len())
            .filter(|&i| rs.gate_of[i] != NO_GATE)
            .map(|i| &rs.rules[i])
            .flat_map(|r| {
                r.def
                    .examples
                    .iter()
                    .chain(&r.def.negative_examples)
                    .map(String::as_str)
            })
            .collect();
        assert!(lines.len() > 20);
        let mut text = String::new();
        for (i, a) in lines.iter().enumerate() {
            let b = lines[(i * 7 + 3) % lines.len()];
            text.push_str(&format!("{a}\nnoise {a} noise\n{a} {b}\n{b}\n{a}\n"));
        }
        let hay = text.as_bytes();
        let got = rs.find_in(hay);
        let want = plain.find_in(hay);
        let of_gated = want.iter().filter(|m| rs.gate_of[m.rule] != NO_GATE).count();
        assert!(of_gated > 50, "only {of_gated} matches of gated rules");
        assert!(
            got == want,
            "{} matches against {} ungated",
            got.len(),
            want.len()
        );
    }

    /// The anchored check drops only windows where the rule cannot match: on
    /// random lines built from names, separators, operators, values, the
    /// anchored rules' examples and stray bytes, the anchored rules find what
    /// the same rules without their anchors find (single- and multi-line).
    #[test]
    fn anchored_check_loses_no_match_on_random_lines() {
        let rs = RuleSet::builtin().expect("builtin rules");
        const PARTS: &[&str] = &[
            "token",
            "TOKEN",
            "api_key",
            "API KEY",
            "apikey",
            "secret",
            "client_secret",
            "Client.Secret",
            "credentials",
            "auth",
            "oauth",
            "AccessToken",
            "deploy-key",
            "my",
            "x",
            "_",
            ".",
            "-",
            ":",
            "/",
            " ",
            "\t",
            "=",
            "=>",
            ":=",
            "==",
            "->",
            "\"",
            "'",
            "`",
            "[",
            "]",
            "(",
            ")",
            "{",
            "}",
            ",",
            ";",
            "#",
            "url:",
            "http://",
            "\u{e9}",
            "\u{2014}",
            "\r",
            "Zq8mWr2xT4pL0",
            "AIhq5Xyb1Gga9Q4",
            "n2UB3wNjjRiN0yEwNKCjzOd5a6g3iv",
            "abc123",
            "12345678",
            "value",
            "_b64",
            "s",
            "1",
            ": str",
            ": Optional[str]",
            " = ",
            "\"accessToken\": \"",
            "export ",
            "SECRET KEY:",
            "pat",
            "path",
            "AC",
            "SK",
            "YC",
            "00D",
            "?code=",
            "&code=",
            "oci",
            "oracle",
            "SPA",
            "x-functions-key",
            "machine",
            "login",
            "password",
            "\n",
            "\n\n",
        ];
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        const NAMES: &[&str] = &[
            "token",
            "API_KEY",
            "db.secret",
            "my-auth",
            "oauth_token_2",
            "SECRET KEY",
            "accessToken",
        ];
        const OPS: &[&str] = &["=", ": ", " = \"", "=>'", ":=", " == `"];
        const VALUES: &[&str] = &[
            "Zq8mWr2xT4pL0",
            "AIhq5Xyb1Gga9Q4",
            "n2UB3wNjjRiN0yEwNKCjzOd5a6g3iv",
        ];
        let mut text = String::new();
        // The examples of every anchored rule, dropped into noise too.
        let examples: Vec<&str> = rs
            .rules()
            .iter()
            .filter(|r| r.anchor_kind.is_some())
            .flat_map(|r| r.def.examples.iter().map(String::as_str))
            .collect();
        let mut pick =
            |parts: &[&str], text: &mut String| text.push_str(parts[(next() % parts.len() as u64) as usize]);
        for i in 0..20_000 {
            // Half the lines are assignments or examples among noise, half noise alone.
            for _ in 0..i % 4 {
                pick(PARTS, &mut text);
            }
            if i % 4 == 0 {
                pick(NAMES, &mut text);
                pick(OPS, &mut text);
                pick(VALUES, &mut text);
            } else if i % 4 == 2 {
                pick(&examples, &mut text);
            }
            for _ in 0..(i / 4) % 4 {
                pick(PARTS, &mut text);
            }
            text.push('\n');
        }
        let hay = text.as_bytes();
        // The same rules without their anchors: every line holding a keyword
        // searched (single-line rules), every window around a hit (multi-line).
        let mut defs = builtin_defs().expect("builtin defs");
        for (_, d) in defs.iter_mut() {
            d.anchor = None;
        }
        let plain = RuleSet::compile_with(defs, false, true).expect("rules");
        let anchored = |m: &RawMatch| rs.rules[m.rule].anchor_kind.is_some();
        let got: Vec<RawMatch> = rs.find_in(hay).into_iter().filter(anchored).collect();
        let want: Vec<RawMatch> = plain.find_in(hay).into_iter().filter(anchored).collect();
        assert!(want.len() > 500, "only {} matches", want.len());
        assert!(
            want.iter().any(|m| rs.rules[m.rule].multiline),
            "no multi-line anchored rule matched"
        );
        assert!(
            got == want,
            "{} against {}; first difference at {:?}",
            got.len(),
            want.len(),
            got.iter().zip(&want).find(|(a, b)| a != b)
        );
    }

    /// On long lines (past [`ANCHOR_SPAN`] and [`NAME_SPAN`]), where the
    /// anchored check may stop early and answer "maybe", the anchored rules
    /// find what the same rules without their anchors find.
    #[test]
    fn anchored_check_loses_no_match_on_long_lines() {
        let rs = RuleSet::builtin().expect("builtin rules");
        let mut next = xorshift(0x51_7cc1_b727_220a);
        let examples: Vec<&str> = rs
            .rules()
            .iter()
            .filter(|r| r.anchor_kind.is_some())
            .flat_map(|r| r.def.examples.iter().map(String::as_str))
            .collect();
        let mut text = String::new();
        for i in 0..400 {
            let n = (next() % 3000) as usize;
            match i % 5 {
                // A name longer or shorter than NAME_SPAN, assigned a value.
                0 => {
                    text.push(' ');
                    text.push_str(&"zz9_".repeat(n / 4 + 1));
                    text.push_str("api_key=Zq8mWr2xT4pL0 ");
                }
                // An anchored match that runs on for thousands of bytes, or stops short.
                1 => {
                    text.push_str(" api_key :x[");
                    text.push_str(&"token ".repeat(n / 6));
                    text.push_str(if n.is_multiple_of(2) {
                        "]=Zq8mWr2xT4pL0 "
                    } else {
                        "] "
                    });
                }
                // Examples after filler, several on a line.
                _ => {
                    text.push_str(&"x ".repeat(n / 2));
                    text.push_str(examples[(next() % examples.len() as u64) as usize]);
                    text.push(' ');
                }
            }
            // Each case alone on its line, where no earlier hit has had the line searched.
            if i % 5 != 3 {
                text.push('\n');
            }
        }
        let hay = text.as_bytes();
        assert!(hay.len() > 40 * ANCHOR_SPAN);
        let mut defs = builtin_defs().expect("builtin defs");
        for (_, d) in defs.iter_mut() {
            d.anchor = None;
        }
        let plain = RuleSet::compile_with(defs, false, true).expect("rules");
        let anchored = |m: &RawMatch| rs.rules[m.rule].anchor_kind.is_some();
        let got: Vec<RawMatch> = rs.find_in(hay).into_iter().filter(anchored).collect();
        let want: Vec<RawMatch> = plain.find_in(hay).into_iter().filter(anchored).collect();
        assert!(want.len() > 100, "only {} matches", want.len());
        assert!(got == want, "{} against {}", got.len(), want.len());
    }

    /// On a long line, a sure anchored check does not search from each hit to the
    /// line's end (a pattern whose search can read that far, here an optional
    /// tail, made that quadratic): the line is searched once, and every match is
    /// found.
    #[test]
    fn sure_anchored_checks_on_a_long_line_search_it_once() {
        let s = set("rules:\n  - id: t.tail\n    name: tail\n    pattern: 'zqk=(?P<secret>[a-z0-9]{8})(?:[^\\n]*XYZ)?'\n    keywords: ['zqk=']\n");
        assert_eq!(s.rules()[0].anchor_kind, Some(Anchor::Keyword));
        let line = "zqk=ab12cd34 ".repeat(4_000);
        let found = s.find_in(line.as_bytes());
        assert_eq!(found.len(), 4_000);
        let searched = s.examined.windows[0].load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            searched < 4 * line.len() as u64,
            "{searched} bytes searched for a line of {}",
            line.len()
        );
    }

    /// [`Lines`] answers what `line_start` and `line_end` answer, for
    /// positions that move forward, jitter back a little, or jump anywhere,
    /// on lines short and long.
    #[test]
    fn lines_answer_as_line_start_and_line_end_do() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for every in [2u64, 7, 300, 5000] {
            let hay: Vec<u8> = (0..20_000)
                .map(|_| if next().is_multiple_of(every) { b'\n' } else { b'a' })
                .collect();
            let mut lines = Lines::new();
            let mut pos = 0usize;
            for step in 0..5000 {
                pos = match step % 10 {
                    0 => (next() % (hay.len() as u64 + 1)) as usize,
                    1 | 2 => pos.saturating_sub((next() % 40) as usize),
                    _ => (pos + (next() % 30) as usize).min(hay.len()),
                };
                let want = (line_start(&hay, pos), line_end(&hay, pos));
                assert_eq!(lines.line(&hay, pos), want, "every {every}, at {pos}");
            }
            for pos in [0, hay.len(), hay.len() - 1, 0] {
                assert_eq!(
                    lines.line(&hay, pos),
                    (line_start(&hay, pos), line_end(&hay, pos))
                );
            }
        }
        // Both ends of an input ending with a line feed, and an empty input.
        let mut lines = Lines::new();
        assert_eq!(lines.line(b"ab\n", 3), (3, 3));
        assert_eq!(lines.line(b"ab\n", 2), (0, 2));
        assert_eq!(lines.line(b"ab\n", 0), (0, 2));
        assert_eq!(Lines::new().line(b"", 0), (0, 0));
    }

    #[test]
    fn name_anchor_is_the_byte_before_the_name_or_the_line_start() {
        let anchor = |line: &[u8], hit| name_anchor(line, hit, &mut Tally::default());
        assert_eq!(anchor(b"token=1", 0), Some(0));
        assert_eq!(anchor(b"my_api.key=1", 7), Some(0));
        assert_eq!(anchor(b"x = my_token", 7), Some(3));
        assert_eq!(anchor(b"url:token", 4), Some(3));
        assert_eq!(anchor(b"\"accessToken\"", 7), Some(0));
        assert_eq!(anchor(b"a\ntoken=1", 2), Some(2));
        // A name up to NAME_SPAN bytes before the hit is walked; a longer one is not.
        let long = |n: usize, before: &str| format!("{before}{}token=1", "a".repeat(n)).into_bytes();
        assert_eq!(anchor(&long(NAME_SPAN, " "), NAME_SPAN + 1), Some(0));
        assert_eq!(anchor(&long(NAME_SPAN, ""), NAME_SPAN), Some(0));
        assert_eq!(anchor(&long(NAME_SPAN - 1, "\n"), NAME_SPAN), Some(1));
        assert_eq!(anchor(&long(NAME_SPAN + 1, " "), NAME_SPAN + 2), None);
        assert_eq!(anchor(&long(NAME_SPAN + 1, ""), NAME_SPAN + 1), None);
        // A promise the pattern does not keep (its match starts at `x`, not
        // before the name holding `key`) is caught on the examples.
        let broken = set(
            "rules:\n  - id: b\n    name: b\n    pattern: 'x=[a-z]+key'\n    keywords: [key]\n    anchor: name\n    examples: ['x=abckey']\n    negative_examples: ['y']\n",
        );
        let f = broken.check_examples();
        assert!(f.len() == 1 && f[0].contains("anchor"), "{f:?}");
    }

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

    /// The anchor a pattern implies: only when every match begins with one of
    /// the rule's keywords, or one byte before one.
    #[test]
    fn patterns_imply_a_keyword_anchor_only_when_every_match_begins_at_a_keyword() {
        let implied = |pattern: &str, keywords: &[&str]| {
            let literals: Vec<Vec<u8>> = regex_syntax::hir::literal::Extractor::new()
                .extract(&crate::analysis::fold_ascii_case(&parse_hir(pattern)))
                .literals()?
                .iter()
                .map(|l| l.as_bytes().to_vec())
                .collect();
            let keywords: Vec<String> = keywords.iter().map(|k| k.to_string()).collect();
            crate::analysis::starts_at_keyword(&literals, &keywords).then_some(Anchor::Keyword)
        };
        let k = Some(Anchor::Keyword);
        // At the keyword (any case, behind a zero-width assertion or a group).
        assert_eq!(
            implied(
                r"(?m-u)\b(?P<secret>pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b",
                &["pat"]
            ),
            k
        );
        assert_eq!(implied(r"(?m-u)\bAC[0-9a-f]{32}\b", &["ac"]), k);
        assert_eq!(
            implied(r"(?m-u)(?i:\bdd_(?:api|app)[_.-]?key)=(\w+)", &["dd_"]),
            k
        );
        assert_eq!(
            implied(
                r"(?m-u)\b(?:sk|rk)_live_[A-Za-z0-9]{24}",
                &["sk_live_", "rk_live_"]
            ),
            k
        );
        // One byte before the keyword.
        assert_eq!(implied(r"(?m-u)[#%]define[ \t]+(\w+)", &["define"]), k);
        // Two bytes before, the keyword inside the match, a prefix that may be
        // empty, an unbounded one, or one alternative without a keyword: none.
        assert_eq!(implied(r"(?m-u)[#%]{2}define[ \t]+(\w+)", &["define"]), None);
        assert_eq!(
            implied(
                r"(?m-u)(?i:(?:arm|azure|az)[_.-]?client[_.-]?secret)=(\w+)",
                &["client"]
            ),
            None
        );
        assert_eq!(implied(r"(?m-u)(?:^|[^A-Za-z0-9_])token=(\w+)", &["token"]), None);
        assert_eq!(implied(r"(?m-u)[A-Za-z0-9_]*password=(\w+)", &["password"]), None);
        assert_eq!(implied(r"(?m-u)\b(?:xoxb|xoxp)-[0-9]{10}", &["xoxb"]), None);
        // A pattern that ignores case: its prefixes are read with case folded (the
        // extractor lists no prefixes for all the spellings of these), and a class
        // of several letters stays a class.
        let vendor = r"(?m-u)(?i:(?:logtail|betterstack|better[_.-]?stack|betteruptime)[A-Za-z0-9_.-]{0,24}?token)=(\w+)";
        assert!(regex_syntax::hir::literal::Extractor::new()
            .extract(&parse_hir(vendor))
            .literals()
            .is_none_or(|l| l.len() > 8));
        assert_eq!(implied(vendor, &["logtail", "better"]), k);
        assert_eq!(
            implied(r"(?m-u)(?i:[ab]etter[_.-]?stack)=(\w+)", &["better"]),
            None
        );
        assert_eq!(implied(r"(?i)\bkey_[0-9a-f]{8}", &["key_"]), k);
    }

    /// A line shorter than a rule's shortest match is not searched, and, with
    /// an anchor at the keyword, nor is a hit too close to the line's end.
    #[test]
    fn lines_shorter_than_a_match_are_not_searched() {
        let yaml = r#"
rules:
  - id: t.long
    name: long token
    pattern: '\b(?P<secret>zqv_[a-z0-9]{40})\b'
    keywords: ['zqv_']
    confidence: high
    examples: ['t = zqv_0123456789abcdefghij0123456789abcdefghij']
    negative_examples: ['zqv_short']
  - id: t.spread
    name: spread token
    pattern: '(?i:[a-z0-9_]*wqk)=(?P<secret>[a-z0-9]{40})'
    keywords: ['wqk']
    confidence: low
    examples: ['my_wqk=0123456789abcdefghij0123456789abcdefghij']
    negative_examples: ['wqk=short']
"#;
        let s = set(yaml);
        assert_eq!(s.rules[0].anchor_kind, Some(Anchor::Keyword));
        assert_eq!(s.rules[1].anchor_kind, None);
        let token = "k3v9q2x7m1p8w4z6r5t0y2u8i3o7a1s9d4f6g2h5";
        // Short lines, and a hit of the anchored rule near the end of a long line.
        let short = format!("zqv_x\nwqk=1\n{} zqv_abc\n", "x".repeat(80));
        let found = s.find_in(short.as_bytes());
        assert!(found.is_empty(), "{found:?}");
        let examined =
            |s: &RuleSet, r: usize| s.examined.windows[r].load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(examined(&s, 0), 0, "the anchored rule searched a window");
        assert_eq!(examined(&s, 1), 0, "the other rule searched a window");
        // Lines long enough are searched, and their matches found.
        let long = format!("a zqv_{token} b\nthe_wqk={token}\n");
        let found = s.find_in(long.as_bytes());
        assert_eq!(found.iter().map(|m| m.rule).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(
            &long.as_bytes()[found[0].start..found[0].end],
            format!("zqv_{token}").as_bytes()
        );
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
        // A token pasted where a field's value goes: named by line, never shown.
        let token = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yh1Jd6Gf0Sa2Qe9Xw";
        for field in ["confidence", "min_entropy"] {
            let yaml = format!("rules:\n  - id: x\n    name: y\n    pattern: z\n    {field}: {token}\n");
            let e = parse_rule_file("t.yml", &yaml).unwrap_err().to_string();
            assert!(e.contains("t.yml") && e.contains("line 5"), "{e}");
            assert!(!e.contains(&token[4..]), "{e}");
        }
        // Parses, but its program exceeds the size limit: a user rule fails at load.
        let big = "rules:\n  - id: huge\n    name: h\n    pattern: '(?:\\w{200}){200}'\n";
        let e = RuleSet::compile(parse_rule_file("h.yml", big).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("h.yml") && e.contains("huge"), "{e}");
    }

    #[test]
    fn builtin_regexes_are_built_on_first_use_with_the_same_groups() {
        let set = RuleSet::builtin().unwrap();
        assert!(set.rules().iter().all(|r| r.regex.get().is_none()));
        set.find_in(b"aws_access_key_id = AKIAZ7Q3VOWRL4JD5NQK\n");
        let built = set.rules().iter().filter(|r| r.regex.get().is_some()).count();
        assert!(
            built > 0 && built < set.len() / 2,
            "{built} of {} built",
            set.len()
        );
        // The group found from the syntax tree is the one the regex numbers.
        for r in set.rules() {
            let re = r.regex();
            let names = re.group_info().pattern_names(regex_automata::PatternID::ZERO);
            let want = match names.clone().position(|n| n == Some("secret")) {
                Some(i) => Some(i),
                None if names.count() > 1 => Some(1),
                None => None,
            };
            assert_eq!(r.secret_group, want, "{}", r.def.id);
        }
        // User rules are built at load.
        assert!(set_user().rules().iter().all(|r| r.regex.get().is_some()));
    }

    fn set_user() -> RuleSet {
        set(AWS)
    }

    #[test]
    fn long_windows_use_the_prefiltered_regex_and_find_the_same_secrets() {
        // (A pattern that implies no anchor: an anchored rule whose check is sure
        // searches from the hit alone, not the window.)
        let s = set("rules:\n  - id: t.tok\n    name: tok\n    pattern: '(?:^|[^a-z0-9_])(?P<secret>acme_[a-z0-9]{16})\\b'\n    keywords: ['acme_']\n");
        assert_eq!(s.rules()[0].anchor_kind, None);
        let secret = "acme_q8zr2lmx9vta7kpw";
        // A short line: the regex without its prefilter, built at load for a user rule.
        let short = format!("token = {secret}\n");
        let m = s.find_in(short.as_bytes());
        assert_eq!(m.len(), 1);
        assert_eq!(&short.as_bytes()[m[0].start..m[0].end], secret.as_bytes());
        assert!(s.rules()[0].regex_long.get().is_none());
        // One line over LONG_WINDOW bytes, with the secret at both ends and a keyword
        // hit that is not one in the middle: the same regex with its prefilter.
        let filler = "word acme_ ".repeat(LONG_WINDOW / 8);
        let long = format!("{secret} {filler} {secret}\n");
        assert!(long.len() > LONG_WINDOW);
        let m = s.find_in(long.as_bytes());
        assert!(s.rules()[0].regex_long.get().is_some());
        let found: Vec<&[u8]> = m.iter().map(|m| &long.as_bytes()[m.start..m.end]).collect();
        assert_eq!(found, vec![secret.as_bytes(), secret.as_bytes()]);
        assert_eq!(m[1].start, long.len() - 1 - secret.len());
    }

    #[test]
    fn placeholder_secrets_are_dropped() {
        let s = set("rules:\n  - id: t.pw\n    name: pw\n    pattern: 'password\\s*=\\s*\"([^\"]*)\"'\n    keywords: [password]\n");
        assert!(s.find_in(br#"password = "${{ secrets.PW }}""#).is_empty());
        assert!(s.find_in(br#"password = """#).is_empty());
        assert_eq!(s.find_in(br#"password = "q8Zr2LmX9vTa7Kp""#).len(), 1);
    }

    #[test]
    fn keyword_case_follows_the_pattern() {
        // Case-sensitive pattern holding the keyword verbatim: only `SK` is a hit.
        let cs = set("rules:\n  - id: t.sk\n    name: sk\n    pattern: '\\b(SK[0-9a-f]{8})\\b'\n    keywords: ['SK']\n");
        assert!(cs.candidate_rules(b"ask sk sK Sk").is_empty());
        assert_eq!(cs.candidate_rules(b"x SK0123abcd"), vec![0]);
        assert_eq!(cs.find_in(b"x SK0123abcd y").len(), 1);
        // The pattern ignores case (a flag anywhere): the keyword matches in any case.
        // (A pattern holding it in another spelling: see the next test.)
        for pat in ["(?i)\\b(SK[0-9a-f]{8})\\b", "\\b(?m-ui:SK)([0-9a-f]{8})\\b"] {
            let yaml =
                format!("rules:\n  - id: t.x\n    name: x\n    pattern: '{pat}'\n    keywords: ['SK']\n");
            assert_eq!(set(&yaml).candidate_rules(b"a sk b"), vec![0], "{pat}");
        }
        assert!(pattern_may_ignore_case("(?mi)x"));
        assert!(!pattern_may_ignore_case("(?m-u)x(?P<secret>y)"));
    }

    #[test]
    fn keyword_spellings_come_from_the_patterns_prefixes() {
        // Every match begins with SUA or SAA: only those spellings are hits, although
        // the pattern does not hold the keywords verbatim.
        let nk = set("rules:\n  - id: t.n\n    name: n\n    pattern: '\\bS[UA]A[A-Z2-7]{4}\\b'\n    keywords: ['sua', 'SAA']\n");
        assert!(nk.candidate_rules(b"usual saan Sua sAA").is_empty());
        assert_eq!(nk.candidate_rules(b"x SUAB234 y"), vec![0]);
        assert_eq!(nk.find_in(b"x SAAB234 y").len(), 1);
        // A keyword spelled otherwise than in the pattern: the pattern's spelling counts.
        let lower = set(
            "rules:\n  - id: t.l\n    name: l\n    pattern: '\\b(sk[0-9a-f]{8})\\b'\n    keywords: ['SK']\n",
        );
        assert!(lower.candidate_rules(b"a SK b").is_empty());
        assert_eq!(lower.candidate_rules(b"a sk b"), vec![0]);
        // Prefixes that do not reach the keyword (`ab`, `cd`: a class too large to
        // expand follows): nothing known, any case.
        let mid = set(
            "rules:\n  - id: t.m\n    name: m\n    pattern: '(?:ab|cd)[a-z]{3}[Tt]ok[0-9]'\n    keywords: ['tok']\n",
        );
        assert_eq!(mid.candidate_rules(b"TOK"), vec![0]);

        let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pre = |p: &[&str]| p.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(
            verbatim_spellings(&kw(&["ghp_", "gho_"]), Some(&pre(&["ghp_", "GHO_x"]))),
            Some(vec![(0, b"ghp_".to_vec()), (1, b"GHO_".to_vec())])
        );
        // The first keyword (in rule order) a prefix holds; each spelling once.
        assert_eq!(
            verbatim_spellings(&kw(&["key", "api"]), Some(&pre(&["apikey", "ApiKey", "apikey"]))),
            Some(vec![(0, b"key".to_vec()), (0, b"Key".to_vec())])
        );
        assert_eq!(verbatim_spellings(&kw(&["ab"]), Some(&pre(&["ab", "cd"]))), None);
        assert_eq!(verbatim_spellings(&kw(&["ab"]), Some(&pre(&["ab", ""]))), None);
        assert_eq!(verbatim_spellings(&kw(&["ab"]), Some(&[])), None);
        assert_eq!(verbatim_spellings(&kw(&["ab"]), None), None);
    }
}

#[cfg(test)]
mod checksum_tests {
    use super::Checksum;

    fn token(prefix: &str, random: &str) -> String {
        const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut n = crc32fast::hash(random.as_bytes());
        let mut sum = [b'0'; 6];
        for s in sum.iter_mut().rev() {
            *s = B62[(n % 62) as usize];
            n /= 62;
        }
        format!("{prefix}{random}{}", String::from_utf8_lossy(&sum))
    }

    #[test]
    fn crc32_base62_as_github_and_npm_document() {
        let good = token("ghp_", "Lk8bGk2PqR7tLm4nVw9sQw3rTy8uIo");
        assert_eq!(Checksum::Crc32Base62.verify(good.as_bytes()), Some(true));
        let mut bad = good.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(Checksum::Crc32Base62.verify(&bad), Some(false));
        let npm = token("npm_", "Zx8bGk2PqR7tLm4nVw9sQw3rTy8uIo");
        assert_eq!(Checksum::Crc32Base62.verify(npm.as_bytes()), Some(true));
        // another length: the checksum says nothing
        assert_eq!(Checksum::Crc32Base62.verify(b"ghp_abc"), None);
    }
}
