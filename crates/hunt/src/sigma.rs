//! Sigma rules: parsing SigmaHQ-style YAML and matching records.
//!
//! Supported: `title`, `id`, `status`, `level`, `description`, `logsource` (product /
//! service), `detection` with named selections (maps, lists of maps, keyword lists),
//! field modifiers `contains`, `startswith`, `endswith`, `re` (with `i`, `m`, `s`),
//! `cidr`, `all`, `base64`, `base64offset`, `exists`, `gt`, `gte`, `lt`, `lte`,
//! `windash`, `cased`; wildcards `*` and `?` (escape with `\`); null values; conditions
//! with `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`, `1 of them`,
//! `all of them`; and `| count() [by f] > N` / `| count(field) by g > N` aggregations
//! over `timeframe`. Anything else makes the rule *unsupported*: reported with the
//! reason, never silently ignored.

use crate::node::Node;
use crate::source::SourceKind;
use aho_corasick::AhoCorasick;
use base64::Engine as _;
use firebreak_core::secret::quote_untrusted;
use firebreak_core::Level;
use regex::{Regex, RegexBuilder};
use serde_yaml_ng::Value as Y;
use std::collections::HashSet;
use std::net::IpAddr;

/// A rule that failed to parse (stops the run).
#[derive(Debug, thiserror::Error)]
#[error("rule file {file}: {message}")]
pub struct RuleError {
    /// The file.
    pub file: String,
    /// The problem.
    pub message: String,
}

/// A rule that parsed but uses something firebreak does not support.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unsupported {
    /// The file.
    pub file: String,
    /// The rule title (or id).
    pub rule: String,
    /// Why it is not run.
    pub reason: String,
}

/// How a string is compared.
#[derive(Debug, Clone)]
pub enum StrMatch {
    /// Equal (ASCII case-insensitive unless cased).
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
    /// Contains.
    Contains(String),
    /// Wildcard pattern compiled to a regex (anchored); original glob kept for compilers.
    Glob(Regex, String),
    /// Regular expression (`re` modifier), unanchored.
    Re(Regex),
}

/// One value of a field condition.
#[derive(Debug, Clone)]
pub enum ValMatch {
    /// Any of these string matchers (base64offset / windash give several).
    Str {
        /// The alternatives.
        alts: Vec<StrMatch>,
        /// Case-sensitive (`cased`).
        cased: bool,
    },
    /// Numeric comparison.
    Num(CmpOp, f64),
    /// CIDR network.
    Cidr(IpAddr, u8, String),
    /// The field is absent or null.
    Null,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// `==`.
    Eq,
}

impl CmpOp {
    /// Applies the operator.
    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
            CmpOp::Eq => a == b,
        }
    }
    /// SQL / KQL spelling.
    pub fn sym(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
            CmpOp::Eq => "=",
        }
    }
}

/// A condition on one field.
#[derive(Debug, Clone)]
pub struct FieldCond {
    /// Dotted path as the rule writes it.
    pub field: String,
    /// Per source, the raw paths the field maps to ([`crate::mapping`]), tried in order
    /// after `field` when the record has no value there (empty: no mapping).
    pub alts: Vec<(SourceKind, Vec<String>)>,
    /// `Some(b)`: the `exists` modifier.
    pub exists: Option<bool>,
    /// All values must match (`all`), else any.
    pub all: bool,
    /// The values.
    pub vals: Vec<ValMatch>,
}

/// A named detection item.
#[derive(Debug, Clone)]
pub enum Selection {
    /// OR of maps; each map is an AND of field conditions.
    Maps(Vec<Vec<FieldCond>>),
    /// Keywords: any of them appears in one of the record's string values (unescaped),
    /// case-insensitively; wildcards allowed.
    Keywords(Vec<String>),
}

/// A condition expression.
#[derive(Debug, Clone)]
pub enum Cond {
    /// A selection by index.
    Sel(usize),
    /// Not.
    Not(Box<Cond>),
    /// All of.
    And(Vec<Cond>),
    /// Any of.
    Or(Vec<Cond>),
}

/// `| count(field) by group > N`.
#[derive(Debug, Clone)]
pub struct Aggregation {
    /// Distinct-count this field (None: count events).
    pub field: Option<String>,
    /// Group by this field.
    pub by: Option<String>,
    /// Comparison.
    pub op: CmpOp,
    /// Threshold.
    pub threshold: f64,
    /// Sliding window in seconds (None: whole hunt window).
    pub timeframe: Option<i64>,
}

/// A parsed, supported rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Sigma id (or file stem).
    pub id: String,
    /// Title.
    pub title: String,
    /// Level.
    pub level: Level,
    /// Status.
    pub status: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Where it came from.
    pub file: String,
    /// Which sources it applies to.
    pub sources: Vec<SourceKind>,
    /// Named selections in document order.
    pub names: Vec<String>,
    /// Selections, parallel to `names`.
    pub selections: Vec<Selection>,
    /// The condition.
    pub cond: Cond,
    /// Aggregation, when the condition has one.
    pub aggregation: Option<Aggregation>,
    /// Keyword matchers, parallel to `selections` (None for maps).
    keywords: Vec<Option<Keywords>>,
    /// Why part of the rule can never match though the rule runs (a field its logsource
    /// cannot hold, in a filter or one alternative), set when loaded into a
    /// [`crate::RuleSet`] ([`Rule::drop_sources_that_never_fire`]).
    pub warnings: Vec<String>,
}

/// Parses a time span like `1h`, `30m`, `15s`, `2d`, `1w`, `1h30m` into seconds
/// ([`firebreak_core::duration::parse_secs`]).
pub fn parse_timeframe(s: &str) -> Option<i64> {
    firebreak_core::duration::parse_secs(s)
        .ok()
        .and_then(|n| i64::try_from(n).ok())
}

/// Result of loading one YAML file: supported rules and unsupported ones.
pub type Loaded = (Vec<Rule>, Vec<Unsupported>);

/// Parses a YAML file that may hold several documents. A parse error is fatal
/// (`RuleError`); unsupported features give `Unsupported` entries.
///
/// Errors name the file, the line and the field, never a value whole: a rule may hold a
/// leaked key id or an internal address, so values are shown with [`quote_untrusted`].
pub fn parse_rules(file: &str, text: &str) -> Result<Loaded, RuleError> {
    let err = |m: String| RuleError {
        file: file.to_string(),
        message: m,
    };
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v: Y = serde::Deserialize::deserialize(doc).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            err(format!("{at}invalid YAML: {}", unquote_values(&e.to_string())))
        })?;
        docs.push(v);
    }
    // A rule collection (`action: global` / `reset` / `repeat`) spreads one rule over
    // several documents: none of them is a rule alone. The file is reported and skipped.
    if docs.iter().any(|d| {
        d.as_mapping()
            .is_some_and(|m| m.contains_key(Y::String("action".into())))
    }) {
        let title = docs
            .iter()
            .find_map(|d| d.get("title").and_then(ystr))
            .unwrap_or_else(|| file_stem(file));
        return Ok((
            Vec::new(),
            vec![Unsupported {
                file: file.to_string(),
                rule: title,
                reason: COLLECTION_REASON.into(),
            }],
        ));
    }
    // where each document starts, to name the line of a bad field
    let starts = doc_starts(text);
    let mut rules = Vec::new();
    let mut unsup = Vec::new();
    for (i, v) in docs.iter().enumerate() {
        if v.is_null() {
            continue;
        }
        let from = if starts.len() == docs.len() { starts[i] } else { 1 };
        match parse_rule(file, v) {
            Ok(Ok(r)) => rules.push(r),
            Ok(Err(u)) => unsup.push(u),
            Err(b) => {
                let line = locate(text, from, &b.path).unwrap_or(from);
                let field = if b.path.is_empty() {
                    String::new()
                } else {
                    format!(", field `{}`", b.path.join("."))
                };
                return Err(err(format!("line {line}{field}: {}", b.msg)));
            }
        }
    }
    Ok((rules, unsup))
}

/// The reason a rule collection is not run.
pub const COLLECTION_REASON: &str = "rule collections (action: global) are not supported";

/// The file name without directory and extension (a rule's name when it has no title).
pub fn file_stem(file: &str) -> String {
    std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// A rule that does not parse: where (the path of the field) and why.
struct Bad {
    path: Vec<String>,
    msg: String,
}

fn bad(path: &[&str], msg: impl Into<String>) -> Bad {
    Bad {
        path: path.iter().map(|s| s.to_string()).collect(),
        msg: msg.into(),
    }
}

/// Shows a name from a rule (selection, field, modifier): as is when it looks like one,
/// else like any untrusted value.
fn ident(s: &str) -> String {
    let plain = s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.|*?@$()".contains(c));
    if plain {
        format!("{s:?}")
    } else {
        quote_untrusted(s)
    }
}

/// Replaces every `"..."` in a message (a parser's echo of the input) by its
/// [`quote_untrusted`] form.
fn unquote_values(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut rest = m;
    while let Some(a) = rest.find('"') {
        out.push_str(&rest[..a]);
        let body = &rest[a + 1..];
        let mut end = None;
        let mut esc = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !esc => esc = true,
                '"' if !esc => {
                    end = Some(i);
                    break;
                }
                _ => esc = false,
            }
        }
        match end {
            Some(e) => {
                out.push_str(&quote_untrusted(&body[..e]));
                rest = &body[e + 1..];
            }
            None => {
                out.push_str(&quote_untrusted(body));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// 1-based line where each YAML document of `text` starts (documents are separated by
/// `---` lines; one before the first document does not start another).
fn doc_starts(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut start = 1;
    let mut content = false;
    for (i, l) in text.lines().enumerate() {
        let marker = l == "---" || l.starts_with("--- ") || l.starts_with("---\t");
        if marker {
            if content {
                out.push(start);
            }
            start = i + 1;
            content = false;
        } else if !l.trim().is_empty() && !l.trim_start().starts_with('#') && l != "..." {
            content = true;
        }
    }
    if content || out.is_empty() {
        out.push(start);
    }
    out
}

/// 1-based line of the field `path` (keys from the top of the document) at or after line
/// `from`: each key is looked for at or after the line of its parent. Best effort.
fn locate(text: &str, from: usize, path: &[String]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = from.saturating_sub(1);
    let mut found = None;
    for key in path {
        match (at..lines.len()).find(|&j| has_key(lines[j], key)) {
            Some(j) => {
                found = Some(j + 1);
                at = j;
            }
            None => break,
        }
    }
    found
}

/// True when `line` holds `key:` as a mapping key (block or flow style, quoted or not).
fn has_key(line: &str, key: &str) -> bool {
    let mut from = 0;
    while let Some(i) = line[from..].find(key) {
        let s = from + i;
        let before = line[..s].chars().next_back();
        let after = line[s + key.len()..].trim_start_matches(['"', '\'']).trim_start();
        let key_start = before.is_none_or(|c| " \t{,-\"'".contains(c));
        if key_start && after.starts_with(':') {
            return true;
        }
        from = s + key.len().max(1);
    }
    false
}

fn ystr(v: &Y) -> Option<String> {
    match v {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_rule(file: &str, v: &Y) -> Result<Result<Rule, Unsupported>, Bad> {
    let m = v.as_mapping().ok_or(bad(&[], "a rule must be a YAML mapping"))?;
    let get = |k: &str| m.get(Y::String(k.into()));
    let title = get("title").and_then(ystr).unwrap_or_default();
    let id = get("id").and_then(ystr).unwrap_or_else(|| file_stem(file));
    let name = if title.is_empty() {
        id.clone()
    } else {
        title.clone()
    };
    let unsupported = |reason: String| {
        Ok(Err(Unsupported {
            file: file.to_string(),
            rule: name.clone(),
            reason,
        }))
    };
    if get("correlation").is_some() {
        return unsupported(
            "Sigma correlation rules are not supported (use `| count()` with timeframe)".into(),
        );
    }
    if title.is_empty() {
        return Err(bad(&[], "missing `title`"));
    }
    let level = match get("level").and_then(ystr).as_deref() {
        None | Some("medium") => Level::Medium,
        Some("informational") => Level::Informational,
        Some("low") => Level::Low,
        Some("high") => Level::High,
        Some("critical") => Level::Critical,
        Some(other) => {
            return Err(bad(
                &["level"],
                format!(
                    "unknown level {} (informational, low, medium, high, critical)",
                    quote_untrusted(other)
                ),
            ))
        }
    };
    let ls = get("logsource").ok_or(bad(&[], "missing `logsource`"))?;
    let product = ls.get("product").and_then(ystr);
    let service = ls.get("service").and_then(ystr);
    let Some(sources) = SourceKind::from_logsource(product.as_deref(), service.as_deref()) else {
        return unsupported(format!(
            "logsource product={} service={} is not a supported audit log",
            product.as_deref().map_or("-".into(), ident),
            service.as_deref().map_or("-".into(), ident)
        ));
    };
    let det = get("detection")
        .and_then(|d| d.as_mapping())
        .ok_or(bad(&[], "missing `detection` mapping"))?;
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut condition = None;
    let mut timeframe = None;
    for (k, val) in det {
        let k = ystr(k).ok_or(bad(&["detection"], "detection keys must be strings"))?;
        match k.as_str() {
            "condition" => condition = Some(val.clone()),
            "timeframe" => {
                let t = ystr(val).unwrap_or_default();
                timeframe = Some(parse_timeframe(&t).ok_or(bad(
                    &["detection", "timeframe"],
                    format!("bad timeframe {} (e.g. 30s, 5m, 1h, 1d)", quote_untrusted(&t)),
                ))?);
            }
            _ => match parse_selection(val) {
                Ok(s) => {
                    names.push(k);
                    selections.push(s);
                }
                Err(SelErr::Bad(field, m)) => {
                    let mut path = vec!["detection", k.as_str()];
                    path.extend(field.as_deref());
                    return Err(bad(&path, m));
                }
                Err(SelErr::Unsupported(m)) => return unsupported(format!("selection {}: {m}", ident(&k))),
            },
        }
    }
    if let Some(tf) = get("timeframe").and_then(ystr) {
        timeframe = Some(parse_timeframe(&tf).ok_or(bad(
            &["timeframe"],
            format!("bad timeframe {} (e.g. 30s, 5m, 1h, 1d)", quote_untrusted(&tf)),
        ))?);
    }
    let condition = condition.ok_or(bad(&["detection"], "missing `detection.condition`"))?;
    let conds: Vec<String> = match &condition {
        Y::Sequence(s) => s.iter().filter_map(ystr).collect(),
        other => vec![ystr(other).ok_or(bad(&["detection", "condition"], "condition must be a string"))?],
    };
    let mut parsed = Vec::new();
    let mut aggregation = None;
    for c in &conds {
        let (expr, agg) = match c.split_once('|') {
            Some((e, a)) => (e, Some(a)),
            None => (c.as_str(), None),
        };
        let cond = match parse_condition(expr, &names) {
            Ok(c) => c,
            Err(CondErr::Bad(m)) => return Err(bad(&["detection", "condition"], m)),
            Err(CondErr::Unsupported(m)) => return unsupported(m),
        };
        parsed.push(cond);
        if let Some(a) = agg {
            if conds.len() > 1 {
                return unsupported("aggregation in a list of several conditions".into());
            }
            match parse_aggregation(a, timeframe) {
                Ok(a) => aggregation = Some(a),
                Err(CondErr::Bad(m)) => {
                    return Err(bad(&["detection", "condition"], format!("aggregation: {m}")))
                }
                Err(CondErr::Unsupported(m)) => return unsupported(m),
            }
        }
    }
    if timeframe.is_some() && aggregation.is_none() {
        return unsupported(
            "`timeframe` without a `| count()` aggregation (near / correlation) is not supported".into(),
        );
    }
    let cond = if parsed.len() == 1 {
        parsed.pop().unwrap()
    } else {
        Cond::Or(parsed)
    };
    for s in &mut selections {
        if let Selection::Maps(ms) = s {
            for f in ms.iter_mut().flatten() {
                f.alts = sources
                    .iter()
                    .map(|&src| (src, crate::mapping::schema(src).alternatives(&f.field)))
                    .filter(|(_, a)| !a.is_empty())
                    .collect();
            }
        }
    }
    let mut keywords = Vec::with_capacity(selections.len());
    for s in &selections {
        keywords.push(match s {
            Selection::Keywords(k) => match Keywords::new(k) {
                Ok(k) => Some(k),
                Err(m) => return unsupported(m),
            },
            _ => None,
        });
    }
    Ok(Ok(Rule {
        id,
        title,
        level,
        status: get("status").and_then(ystr),
        description: get("description").and_then(ystr),
        file: file.to_string(),
        sources,
        names,
        selections,
        cond,
        aggregation,
        keywords,
        warnings: Vec::new(),
    }))
}

enum SelErr {
    /// Bad, in the field named (None: the selection itself).
    Bad(Option<String>, String),
    Unsupported(String),
}

fn parse_selection(v: &Y) -> Result<Selection, SelErr> {
    match v {
        Y::Mapping(m) => Ok(Selection::Maps(vec![parse_map(m)?])),
        Y::Sequence(items) => {
            if items.iter().all(|i| i.is_mapping()) && !items.is_empty() {
                let mut maps = Vec::new();
                for i in items {
                    maps.push(parse_map(i.as_mapping().unwrap())?);
                }
                Ok(Selection::Maps(maps))
            } else if items.iter().all(|i| ystr(i).is_some()) {
                Ok(Selection::Keywords(items.iter().filter_map(ystr).collect()))
            } else {
                Err(SelErr::Bad(
                    None,
                    "a list must hold only maps or only strings".into(),
                ))
            }
        }
        Y::String(s) => Ok(Selection::Keywords(vec![s.clone()])),
        _ => Err(SelErr::Bad(
            None,
            "a selection must be a map, a list of maps or a keyword list".into(),
        )),
    }
}

fn parse_map(m: &serde_yaml_ng::Mapping) -> Result<Vec<FieldCond>, SelErr> {
    let mut out = Vec::new();
    for (k, v) in m {
        let key = ystr(k).ok_or(SelErr::Bad(None, "field names must be strings".into()))?;
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().to_string();
        let mods: Vec<&str> = parts.collect();
        out.push(parse_field(field, &mods, v).map_err(|e| match e {
            SelErr::Bad(None, m) => SelErr::Bad(Some(key.clone()), m),
            other => other,
        })?);
    }
    Ok(out)
}

fn parse_field(field: String, mods: &[&str], v: &Y) -> Result<FieldCond, SelErr> {
    let mut all = false;
    let mut cased = false;
    let mut kind = "eq";
    let mut b64: Option<&str> = None;
    let mut windash = false;
    let mut re_flags = String::new();
    let mut exists = None;
    for m in mods {
        match *m {
            "all" => all = true,
            "cased" => cased = true,
            "contains" | "startswith" | "endswith" | "re" | "cidr" | "gt" | "gte" | "lt" | "lte"
            | "exists" => {
                if kind != "eq" {
                    return Err(SelErr::Unsupported(format!("modifier combination {kind}|{m}")));
                }
                kind = m
            }
            "i" | "m" | "s" if kind == "re" => re_flags.push_str(m),
            "base64" | "base64offset" => b64 = Some(m),
            "windash" => windash = true,
            other => {
                return Err(SelErr::Unsupported(format!(
                    "field modifier {} is not supported (on {})",
                    ident(other),
                    ident(&field)
                )));
            }
        }
    }
    if kind == "exists" {
        let b = match v {
            Y::Bool(b) => *b,
            Y::String(s) if s == "true" || s == "false" => s == "true",
            _ => return Err(SelErr::Bad(None, "`exists` takes true or false".into())),
        };
        exists = Some(b);
        return Ok(FieldCond {
            field,
            alts: Vec::new(),
            exists,
            all,
            vals: vec![],
        });
    }
    let raw: Vec<&Y> = match v {
        Y::Sequence(s) => s.iter().collect(),
        other => vec![other],
    };
    let mut vals = Vec::new();
    for r in raw {
        if r.is_null() {
            if kind != "eq" {
                return Err(SelErr::Unsupported(format!("null value with modifier {kind}")));
            }
            vals.push(ValMatch::Null);
            continue;
        }
        let s = ystr(r).ok_or(SelErr::Bad(None, "a value must be a scalar".into()))?;
        match kind {
            "gt" | "gte" | "lt" | "lte" => {
                let n: f64 = s.parse().map_err(|_| {
                    SelErr::Bad(
                        None,
                        format!("{kind} needs a number, got {}", quote_untrusted(&s)),
                    )
                })?;
                let op = match kind {
                    "gt" => CmpOp::Gt,
                    "gte" => CmpOp::Gte,
                    "lt" => CmpOp::Lt,
                    _ => CmpOp::Lte,
                };
                vals.push(ValMatch::Num(op, n));
            }
            "cidr" => {
                let (ip, bits) = s.split_once('/').unwrap_or((&s, ""));
                let bad_cidr = || SelErr::Bad(None, format!("bad CIDR {}", quote_untrusted(&s)));
                let ip: IpAddr = ip.parse().map_err(|_| bad_cidr())?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 = if bits.is_empty() {
                    max
                } else {
                    bits.parse().map_err(|_| bad_cidr())?
                };
                if bits > max {
                    return Err(bad_cidr());
                }
                vals.push(ValMatch::Cidr(ip, bits, s.clone()));
            }
            "re" => {
                let pat = if re_flags.is_empty() {
                    s.clone()
                } else {
                    format!("(?{re_flags}){s}")
                };
                let re = RegexBuilder::new(&pat)
                    .size_limit(1 << 20)
                    .dfa_size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        SelErr::Unsupported(format!(
                            "regex {} not supported: {}",
                            quote_untrusted(&s),
                            regex_reason(&e)
                        ))
                    })?;
                vals.push(ValMatch::Str {
                    alts: vec![StrMatch::Re(re)],
                    cased: true,
                });
            }
            _ => {
                // string match, possibly transformed. Escapes are resolved first (`\*`,
                // `\?`, `\\`; any other backslash is literal), then `contains` /
                // `startswith` / `endswith` add their wildcards around the tokens.
                let bases: Vec<Vec<GTok>> = if let Some(mode) = b64 {
                    if kind != "contains" && mode == "base64offset" {
                        return Err(SelErr::Unsupported("base64offset without contains".into()));
                    }
                    cased = true;
                    let plain = if windash {
                        windash_variants(&s).map_err(SelErr::Unsupported)?
                    } else {
                        vec![s.clone()]
                    };
                    plain
                        .iter()
                        .flat_map(|b| base64_variants(b, mode == "base64offset"))
                        .map(|e| vec![GTok::Lit(e)])
                        .collect()
                } else {
                    vec![glob_toks(&s, windash)]
                };
                let mut alts = Vec::new();
                for mut toks in bases {
                    if matches!(kind, "contains" | "endswith") {
                        toks.insert(0, GTok::Star);
                    }
                    if matches!(kind, "contains" | "startswith") {
                        toks.push(GTok::Star);
                    }
                    alts.push(toks_matcher(toks, cased, &s).map_err(SelErr::Unsupported)?);
                }
                vals.push(ValMatch::Str { alts, cased });
            }
        }
    }
    Ok(FieldCond {
        field,
        alts: Vec::new(),
        exists,
        all,
        vals,
    })
}

fn base64_variants(s: &str, offset: bool) -> Vec<String> {
    let e = base64::engine::general_purpose::STANDARD;
    if !offset {
        // the plain encoding, padding included (the specification's `base64`)
        return vec![e.encode(s)];
    }
    (0..3)
        .map(|i| {
            let mut buf = vec![b' '; i];
            buf.extend_from_slice(s.as_bytes());
            let enc = e.encode(&buf);
            let start = [0usize, 2, 3][i];
            let cut = [0usize, 3, 2][(s.len() + i) % 3];
            enc[start..enc.len().saturating_sub(cut).max(start)].to_string()
        })
        .collect()
}

/// The reason a regex was refused, without the pattern (which the `regex` crate echoes).
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(n) => format!("larger than {n} bytes compiled"),
        other => other
            .to_string()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or("invalid")
            .to_string(),
    }
}

/// The five dash forms `windash` permutes: `-`, `/`, `–` (en dash), `—` (em dash), `―`
/// (horizontal bar).
pub const WINDASH: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// True when `chars[i]` is a dash form at the start of a word (first character, or after
/// whitespace): the places `windash` rewrites.
fn windash_at(chars: &[char], i: usize) -> bool {
    WINDASH.contains(&chars[i]) && (i == 0 || chars[i - 1].is_whitespace())
}

/// Most word-start dashes `windash` expands into separate values (5^n values) when a
/// value cannot be matched as a pattern (`base64`, `base64offset`).
pub const MAX_WINDASH_EXPANDED: usize = 3;

/// Every value `windash` makes of `s`: each dash form at a word start replaced by each of
/// the five [`WINDASH`] forms (all combinations).
fn windash_variants(s: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let at: Vec<usize> = (0..chars.len()).filter(|&i| windash_at(&chars, i)).collect();
    if at.len() > MAX_WINDASH_EXPANDED {
        return Err(format!(
            "windash with base64 on a value with more than {MAX_WINDASH_EXPANDED} dashes at word starts"
        ));
    }
    let mut out = vec![chars];
    for &i in &at {
        out = out
            .into_iter()
            .flat_map(|c| {
                WINDASH.iter().map(move |&d| {
                    let mut c = c.clone();
                    c[i] = d;
                    c
                })
            })
            .collect();
    }
    Ok(out.into_iter().map(|c| c.into_iter().collect()).collect())
}

/// Splits a Sigma value into literal runs and wildcards. A backslash escapes only `*`,
/// `?` and `\`; any other backslash (a lone trailing one included) is literal. With
/// `windash`, a dash form at a word start becomes a [`GTok::Dash`] (any of the five).
fn glob_toks(glob: &str, windash: bool) -> Vec<GTok> {
    let mut toks: Vec<GTok> = Vec::new();
    let mut lit = String::new();
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    let flush = |lit: &mut String, toks: &mut Vec<GTok>| {
        if !lit.is_empty() {
            toks.push(GTok::Lit(std::mem::take(lit)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => match chars.get(i + 1) {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    i += 1;
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                flush(&mut lit, &mut toks);
                toks.push(if c == '*' { GTok::Star } else { GTok::One });
            }
            _ if windash && windash_at(&chars, i) => {
                flush(&mut lit, &mut toks);
                toks.push(GTok::Dash);
            }
            _ => lit.push(c),
        }
        i += 1;
    }
    flush(&mut lit, &mut toks);
    toks
}

/// Builds a matcher from a Sigma wildcard value (`*`, `?`, `\` escapes).
pub fn glob_matcher(glob: &str, cased: bool) -> Result<StrMatch, String> {
    toks_matcher(glob_toks(glob, false), cased, glob)
}

/// Builds a matcher from tokens; `orig` (the rule's value) names it in errors.
fn toks_matcher(mut toks: Vec<GTok>, cased: bool, orig: &str) -> Result<StrMatch, String> {
    // `**` is `*`
    toks.dedup_by(|a, b| matches!((a, b), (GTok::Star, GTok::Star)));
    let low = |s: &str| if cased { s.to_string() } else { s.to_lowercase() };
    use GTok::*;
    let m = match toks.as_slice() {
        [] => StrMatch::Exact(String::new()),
        [Lit(a)] => StrMatch::Exact(low(a)),
        [Lit(a), Star] => StrMatch::Prefix(low(a)),
        [Star, Lit(a)] => StrMatch::Suffix(low(a)),
        [Star, Lit(a), Star] => StrMatch::Contains(low(a)),
        [Star] => StrMatch::Prefix(String::new()),
        _ => {
            let mut re = String::from(if cased { "(?s)^" } else { "(?is)^" });
            let mut glob = String::new();
            for t in &toks {
                match t {
                    Lit(a) => {
                        re.push_str(&regex::escape(a));
                        for c in a.chars() {
                            if matches!(c, '*' | '?' | '\\') {
                                glob.push('\\');
                            }
                            glob.push(c);
                        }
                    }
                    Star => {
                        re.push_str(".*");
                        glob.push('*');
                    }
                    One => {
                        re.push('.');
                        glob.push('?');
                    }
                    Dash => {
                        re.push_str("[\\-/\u{2013}\u{2014}\u{2015}]");
                        glob.push('-');
                    }
                }
            }
            re.push('$');
            let r = RegexBuilder::new(&re)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("wildcard pattern {}: {}", quote_untrusted(orig), regex_reason(&e)))?;
            StrMatch::Glob(r, glob)
        }
    };
    Ok(m)
}

/// A piece of a Sigma value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GTok {
    /// Literal text (escapes resolved).
    Lit(String),
    /// `*`: any run of characters.
    Star,
    /// `?`: one character.
    One,
    /// A word-start dash under `windash`: any of the five dash forms.
    Dash,
}

impl StrMatch {
    /// Tests a value. Without `cased` the comparison ignores case: ASCII values take a
    /// fast path; a value with other characters is lowercased (Unicode) first, as the
    /// pattern was.
    pub fn test(&self, v: &str, cased: bool) -> bool {
        if !cased && !v.is_ascii() {
            if let StrMatch::Glob(..) | StrMatch::Re(_) = self {
                return self.test_folded(v, false);
            }
            return self.test_folded(&v.to_lowercase(), true);
        }
        self.test_folded(v, cased)
    }

    fn test_folded(&self, v: &str, cased: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| if cased { a == b } else { a.eq_ignore_ascii_case(b) };
        match self {
            StrMatch::Exact(p) => eq(v.as_bytes(), p.as_bytes()),
            StrMatch::Prefix(p) => v.len() >= p.len() && eq(&v.as_bytes()[..p.len()], p.as_bytes()),
            StrMatch::Suffix(p) => v.len() >= p.len() && eq(&v.as_bytes()[v.len() - p.len()..], p.as_bytes()),
            StrMatch::Contains(p) => {
                if cased {
                    memchr::memmem::find(v.as_bytes(), p.as_bytes()).is_some()
                } else {
                    contains_ci(v.as_bytes(), p.as_bytes())
                }
            }
            StrMatch::Glob(r, _) | StrMatch::Re(r) => r.is_match(v),
        }
    }
}

/// ASCII case-insensitive substring test; `needle` is already lowercase.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.len() < needle.len() {
        return false;
    }
    let first = needle[0];
    let up = first.to_ascii_uppercase();
    let last = hay.len() - needle.len();
    let mut i = 0;
    while i <= last {
        let off = match memchr::memchr2(first, up, &hay[i..=last]) {
            Some(o) => o,
            None => return false,
        };
        let s = i + off;
        if hay[s..s + needle.len()].eq_ignore_ascii_case(needle) {
            return true;
        }
        i = s + 1;
    }
    false
}

impl ValMatch {
    fn test(&self, n: Option<&Node>) -> bool {
        match self {
            ValMatch::Null => matches!(n, None | Some(Node::Null)),
            ValMatch::Num(op, x) => n.and_then(|n| n.as_f64()).is_some_and(|v| op.apply(v, *x)),
            ValMatch::Cidr(net, bits, _) => n
                .and_then(|n| n.scalar_str())
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| in_cidr(ip, *net, *bits)),
            // an object or an array (an element of an array that is itself one) is
            // matched as its JSON text, as SQL engines read it (`json_extract_string`)
            ValMatch::Str { alts, cased } => match n.and_then(|n| n.match_text()) {
                Some(s) => alts.iter().any(|a| a.test(&s, *cased)),
                None => false,
            },
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits as u32)
            };
            (u32::from(a) & m) == (u32::from(b) & m)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits as u32)
            };
            (u128::from(a) & m) == (u128::from(b) & m)
        }
        _ => false,
    }
}

impl FieldCond {
    /// The raw paths mapped to the field for `src` (empty: none).
    pub fn alts_for(&self, src: Option<SourceKind>) -> &[String] {
        match src {
            Some(src) => self
                .alts
                .iter()
                .find(|(s, _)| *s == src)
                .map(|(_, a)| a.as_slice())
                .unwrap_or(&[]),
            None => &[],
        }
    }

    fn test(&self, rec: &Node, src: Option<SourceKind>) -> bool {
        let found = coalesce(rec, &self.field, self.alts_for(src));
        // an array: any element matches (its elements that are objects or arrays are
        // matched as their JSON text)
        let mut flat: Vec<&Node> = Vec::with_capacity(found.len());
        for n in found {
            match n {
                Node::Arr(items) => flat.extend(items.iter()),
                other => flat.push(other),
            }
        }
        if let Some(want) = self.exists {
            return flat.is_empty() != want;
        }
        let one = |v: &ValMatch| {
            if flat.is_empty() {
                v.test(None)
            } else {
                flat.iter().any(|n| v.test(Some(n)))
            }
        };
        if self.all {
            self.vals.iter().all(one)
        } else {
            self.vals.iter().any(one)
        }
    }

    /// What the condition gives on a record that does not hold the field.
    fn on_missing(&self) -> bool {
        if let Some(want) = self.exists {
            return !want;
        }
        if self.all {
            self.vals.iter().all(|v| v.test(None))
        } else {
            self.vals.iter().any(|v| v.test(None))
        }
    }
}

/// The nodes a field reads: at `field` as written, else at the first of `alts` that has
/// a value (SQL `COALESCE`): the first path with a non-null value wins; when none has one,
/// the first path present at all (its nulls), else nothing.
pub fn coalesce<'s, 'a>(rec: &'s Node<'a>, field: &str, alts: &[String]) -> Vec<&'s Node<'a>> {
    let mut found: Vec<&Node> = Vec::new();
    rec.visit_path(field, &mut |n| found.push(n));
    if alts.is_empty() || found.iter().any(|n| !matches!(n, Node::Null)) {
        return found;
    }
    let mut present = if found.is_empty() { None } else { Some(found) };
    for p in alts {
        let mut f: Vec<&Node> = Vec::new();
        rec.visit_path(p, &mut |n| f.push(n));
        if f.iter().any(|n| !matches!(n, Node::Null)) {
            return f;
        }
        if present.is_none() && !f.is_empty() {
            present = Some(f);
        }
    }
    present.unwrap_or_default()
}

/// Three-valued truth, for deciding whether a rule can fire at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    False,
    True,
    Unknown,
}

impl Tri {
    fn of(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }
    fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::True => Tri::False,
            Tri::Unknown => Tri::Unknown,
        }
    }
    fn all(it: impl Iterator<Item = Tri>) -> Tri {
        let mut out = Tri::True;
        for t in it {
            match t {
                Tri::False => return Tri::False,
                Tri::Unknown => out = Tri::Unknown,
                Tri::True => {}
            }
        }
        out
    }
    fn any(it: impl Iterator<Item = Tri>) -> Tri {
        let mut out = Tri::False;
        for t in it {
            match t {
                Tri::True => return Tri::True,
                Tri::Unknown => out = Tri::Unknown,
                Tri::False => {}
            }
        }
        out
    }
}

impl Rule {
    /// Field paths the rule reads (for lazy parsing).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.selections {
            if let Selection::Maps(ms) = s {
                for m in ms {
                    for f in m {
                        out.push(f.field.clone());
                        for (_, a) in &f.alts {
                            out.extend(a.iter().cloned());
                        }
                    }
                }
            }
        }
        if let Some(a) = &self.aggregation {
            for f in a.field.iter().chain(a.by.iter()) {
                out.push(f.clone());
                for &src in &self.sources {
                    out.extend(crate::mapping::schema(src).alternatives(f));
                }
            }
        }
        out
    }

    /// The value of a field (an aggregation's group or counted field) in a record of
    /// `src`, read as rules read fields (as written, then the mapped raw paths).
    pub fn value_of(&self, src: SourceKind, rec: &Node, field: &str) -> Option<String> {
        let alts = crate::mapping::schema(src).alternatives(field);
        coalesce(rec, field, &alts)
            .first()
            .and_then(|n| n.scalar_str().map(|s| s.into_owned()))
    }

    /// Keeps only the rule's sources on which it can fire, given the fields each
    /// source's records can hold ([`crate::mapping::Schema::resolves`]). When it can fire
    /// on none, returns the reason (`can never fire: unknown field X for logsource P/S`)
    /// and leaves the rule as it was.
    ///
    /// A field no record of the source can hold reads as missing; the rule can never
    /// fire when its condition is then false whatever the other fields hold (three-valued
    /// logic: a rule whose unknown field sits only in a `not` filter still runs).
    pub fn drop_sources_that_never_fire(&mut self) -> Option<String> {
        let mut keep = Vec::new();
        let mut reason = None;
        for &src in &self.sources {
            let sc = crate::mapping::schema(src);
            let unknown = |f: &FieldCond| !sc.resolves(&f.field);
            if self.tri(&self.cond, &unknown) == Tri::False {
                if reason.is_none() {
                    let field = self
                        .selections
                        .iter()
                        .filter_map(|s| match s {
                            Selection::Maps(ms) => Some(ms),
                            Selection::Keywords(_) => None,
                        })
                        .flatten()
                        .flatten()
                        .find(|f| unknown(f))
                        .map(|f| f.field.clone())
                        .unwrap_or_default();
                    let (p, s) = src.logsource();
                    reason = Some(format!(
                        "can never fire: unknown field {} for logsource {p}/{s}",
                        ident(&field)
                    ));
                }
            } else {
                keep.push(src);
            }
        }
        if keep.is_empty() {
            return reason;
        }
        // the rule runs: name the fields no source it runs on can hold (a field held by
        // one source of a several-source rule and not another is expected)
        for f in self
            .selections
            .iter()
            .filter_map(|s| match s {
                Selection::Maps(ms) => Some(ms.iter().flatten()),
                Selection::Keywords(_) => None,
            })
            .flatten()
        {
            if keep
                .iter()
                .all(|&src| !crate::mapping::schema(src).resolves(&f.field))
            {
                let ls: Vec<String> = keep
                    .iter()
                    .map(|s| {
                        let (p, v) = s.logsource();
                        format!("{p}/{v}")
                    })
                    .collect();
                let w = format!(
                    "unknown field {} for logsource {}: conditions on it read it as missing",
                    ident(&f.field),
                    ls.join(",")
                );
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
        }
        self.sources = keep;
        None
    }

    fn tri(&self, c: &Cond, unknown: &dyn Fn(&FieldCond) -> bool) -> Tri {
        match c {
            Cond::Sel(i) => match &self.selections[*i] {
                Selection::Maps(ms) => Tri::any(ms.iter().map(|m| {
                    Tri::all(m.iter().map(|f| {
                        if unknown(f) {
                            Tri::of(f.on_missing())
                        } else {
                            Tri::Unknown
                        }
                    }))
                })),
                Selection::Keywords(_) => Tri::Unknown,
            },
            Cond::Not(x) => self.tri(x, unknown).not(),
            Cond::And(xs) => Tri::all(xs.iter().map(|x| self.tri(x, unknown))),
            Cond::Or(xs) => Tri::any(xs.iter().map(|x| self.tri(x, unknown))),
        }
    }

    /// True when the rule matches the record, its fields read as written (no mapping).
    /// `raw` (its JSON text) is not read: keywords match the parsed string values.
    pub fn matches(&self, rec: &Node, _raw: &[u8]) -> bool {
        self.eval(&self.cond, rec, None)
    }

    /// True when the rule matches a record of `src`: each field read as written, then
    /// through the source's field mappings ([`crate::mapping`]).
    pub fn matches_in(&self, src: SourceKind, rec: &Node, _raw: &[u8]) -> bool {
        self.eval(&self.cond, rec, Some(src))
    }

    /// True when the rule has a keyword selection (it needs the whole record).
    pub fn uses_keywords(&self) -> bool {
        self.keywords.iter().any(|k| k.is_some())
    }

    fn eval(&self, c: &Cond, rec: &Node, src: Option<SourceKind>) -> bool {
        match c {
            Cond::Sel(i) => match &self.selections[*i] {
                Selection::Maps(ms) => ms.iter().any(|m| m.iter().all(|f| f.test(rec, src))),
                Selection::Keywords(_) => self.keywords[*i].as_ref().is_some_and(|k| k.matches(rec)),
            },
            Cond::Not(x) => !self.eval(x, rec, src),
            Cond::And(xs) => xs.iter().all(|x| self.eval(x, rec, src)),
            Cond::Or(xs) => xs.iter().any(|x| self.eval(x, rec, src)),
        }
    }
}

/// A keyword list: literal keywords in one Aho-Corasick automaton (lowercased, ASCII
/// case-insensitive), keywords with wildcards as `*kw*` patterns.
#[derive(Debug, Clone)]
struct Keywords {
    lit: Option<AhoCorasick>,
    globs: Vec<StrMatch>,
}

impl Keywords {
    fn new(kws: &[String]) -> Result<Keywords, String> {
        let mut lits = Vec::new();
        let mut globs = Vec::new();
        for k in kws {
            let toks = glob_toks(k, false);
            match toks.as_slice() {
                [GTok::Lit(l)] => lits.push(l.to_lowercase()),
                [] => lits.push(String::new()),
                _ => {
                    let mut t = toks.clone();
                    t.insert(0, GTok::Star);
                    t.push(GTok::Star);
                    globs.push(toks_matcher(t, false, k)?);
                }
            }
        }
        let lit = if lits.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&lits)
                    .map_err(|e| format!("keyword list: {e}"))?,
            )
        };
        Ok(Keywords { lit, globs })
    }

    /// True when one of the record's string values (numbers and booleans as written)
    /// holds a keyword.
    fn matches(&self, n: &Node) -> bool {
        match n {
            Node::Str(s) => self.test(s),
            Node::Obj(m) => m.iter().any(|(_, v)| self.matches(v)),
            Node::Arr(a) => a.iter().any(|v| self.matches(v)),
            Node::Null => false,
            other => other.scalar_str().is_some_and(|s| self.test(&s)),
        }
    }

    fn test(&self, s: &str) -> bool {
        if let Some(ac) = &self.lit {
            let hit = if s.is_ascii() {
                ac.is_match(s)
            } else {
                ac.is_match(s.to_lowercase().as_str())
            };
            if hit {
                return true;
            }
        }
        self.globs.iter().any(|g| g.test(s, false))
    }
}

enum CondErr {
    Bad(String),
    Unsupported(String),
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_condition(s: &str, names: &[String]) -> Result<Cond, CondErr> {
    let toks = tokenize(s);
    if toks.is_empty() {
        return Err(CondErr::Bad("empty condition".into()));
    }
    let mut p = CondParser {
        toks,
        pos: 0,
        names,
        depth: 0,
    };
    let c = p.or()?;
    if p.pos != p.toks.len() {
        let t = &p.toks[p.pos];
        if t == "near" {
            return Err(CondErr::Unsupported(
                "`near` (events close in time) is not supported".into(),
            ));
        }
        return Err(CondErr::Bad(format!("unexpected {}", ident(t))));
    }
    Ok(c)
}

/// Deepest nesting of parentheses and `not` accepted in a condition (the parser is
/// recursive: without a bound, a condition of 100 000 `(` overflows the stack).
pub const MAX_CONDITION_DEPTH: usize = 256;

struct CondParser<'n> {
    toks: Vec<String>,
    pos: usize,
    names: &'n [String],
    depth: usize,
}

impl CondParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(|s| s.as_str())
    }
    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Result<Cond, CondErr> {
        let mut xs = vec![self.and()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.pos += 1;
            xs.push(self.and()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().unwrap()
        } else {
            Cond::Or(xs)
        })
    }
    fn and(&mut self) -> Result<Cond, CondErr> {
        let mut xs = vec![self.not()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.pos += 1;
            xs.push(self.not()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().unwrap()
        } else {
            Cond::And(xs)
        })
    }
    fn enter(&mut self) -> Result<(), CondErr> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            return Err(CondErr::Bad(format!(
                "condition nested deeper than {MAX_CONDITION_DEPTH} levels"
            )));
        }
        Ok(())
    }
    fn not(&mut self) -> Result<Cond, CondErr> {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("not")) {
            self.pos += 1;
            self.enter()?;
            let inner = self.not();
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner?)));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Cond, CondErr> {
        let t = self
            .next()
            .ok_or(CondErr::Bad("condition ends too early".into()))?;
        if t == "(" {
            self.enter()?;
            let c = self.or();
            self.depth -= 1;
            let c = c?;
            if self.next().as_deref() != Some(")") {
                return Err(CondErr::Bad("missing `)`".into()));
            }
            return Ok(c);
        }
        let quant = t.to_ascii_lowercase();
        if (quant == "1" || quant == "all" || quant == "any")
            && self.peek().is_some_and(|x| x.eq_ignore_ascii_case("of"))
        {
            self.pos += 1;
            let pat = self
                .next()
                .ok_or(CondErr::Bad(format!("`{t} of` needs a name pattern")))?;
            let idx: Vec<usize> = if pat.eq_ignore_ascii_case("them") {
                (0..self.names.len())
                    .filter(|&i| !self.names[i].starts_with('_'))
                    .collect()
            } else {
                let m = glob_matcher(&pat, true).map_err(CondErr::Bad)?;
                (0..self.names.len())
                    .filter(|&i| m.test(&self.names[i], true))
                    .collect()
            };
            if idx.is_empty() {
                return Err(CondErr::Bad(format!("no selection matches {}", ident(&pat))));
            }
            let xs: Vec<Cond> = idx.into_iter().map(Cond::Sel).collect();
            return Ok(if quant == "all" {
                Cond::And(xs)
            } else {
                Cond::Or(xs)
            });
        }
        if t.chars().all(|c| c.is_ascii_digit()) && self.peek().is_some_and(|x| x.eq_ignore_ascii_case("of"))
        {
            return Err(CondErr::Unsupported(format!(
                "`{t} of` (only `1 of` and `all of`)"
            )));
        }
        match self.names.iter().position(|n| *n == t) {
            Some(i) => Ok(Cond::Sel(i)),
            None => Err(CondErr::Bad(format!("unknown selection {}", ident(&t)))),
        }
    }
}

fn parse_aggregation(a: &str, timeframe: Option<i64>) -> Result<Aggregation, CondErr> {
    let a = a.trim();
    if a.split_whitespace().next() == Some("near") {
        return Err(CondErr::Unsupported(
            "`near` (events close in time) is not supported".into(),
        ));
    }
    let Some(rest) = a.strip_prefix("count(") else {
        let f = a.split('(').next().unwrap_or(a).trim();
        return Err(CondErr::Unsupported(format!(
            "aggregation function {} is not supported (only count)",
            ident(f)
        )));
    };
    let (inner, rest) = rest.split_once(')').ok_or(CondErr::Bad("missing `)`".into()))?;
    let field = Some(inner.trim().to_string()).filter(|s| !s.is_empty());
    let mut rest = rest.trim();
    let mut by = None;
    if let Some(r) = rest.strip_prefix("by ") {
        let r = r.trim_start();
        let end = r
            .find(|c: char| c.is_whitespace() || "<>=".contains(c))
            .unwrap_or(r.len());
        let g = &r[..end];
        if g.contains(',') {
            return Err(CondErr::Unsupported("count() by several fields".into()));
        }
        by = Some(g.to_string());
        rest = r[end..].trim();
    }
    let (op, num) = if let Some(n) = rest.strip_prefix(">=") {
        (CmpOp::Gte, n)
    } else if let Some(n) = rest.strip_prefix("<=") {
        (CmpOp::Lte, n)
    } else if let Some(n) = rest.strip_prefix('>') {
        (CmpOp::Gt, n)
    } else if let Some(n) = rest.strip_prefix('<') {
        (CmpOp::Lt, n)
    } else if let Some(n) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
        (CmpOp::Eq, n)
    } else {
        return Err(CondErr::Bad(format!(
            "expected a comparison, got {}",
            quote_untrusted(rest)
        )));
    };
    let threshold: f64 = num
        .trim()
        .parse()
        .map_err(|_| CondErr::Bad(format!("bad number {}", quote_untrusted(num.trim()))))?;
    Ok(Aggregation {
        field,
        by,
        op,
        threshold,
        timeframe,
    })
}

/// The top-level keys a set of rules may read: for each field path `a.b.c`, every dotted
/// prefix (`a`, `a.b`, `a.b.c`), since a record may hold a key with dots in it (a flat
/// export's `properties.x`, ECS's `gcp.audit.method_name`).
pub fn top_keys(rules: &[&Rule]) -> HashSet<String> {
    let mut s = HashSet::new();
    for r in rules {
        for f in r.fields() {
            for (i, c) in f.char_indices() {
                if c == '.' {
                    s.insert(f[..i].to_string());
                }
            }
            s.insert(f);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse;

    fn rule(y: &str) -> Rule {
        let (mut r, u) = parse_rules("t.yml", y).unwrap();
        assert!(u.is_empty(), "{u:?}");
        r.pop().unwrap()
    }

    #[test]
    fn modifiers_and_conditions() {
        let r = rule(
            r#"
title: t
logsource: {product: aws, service: cloudtrail}
detection:
  sel_a:
    eventName|startswith: [Get, List]
    userAgent|contains|all: ['boto', 'python']
  sel_b:
    - errorCode: AccessDenied
    - sourceIPAddress|cidr: 10.0.0.0/8
  filter:
    userIdentity.type: AWSService
  condition: (1 of sel_*) and not filter
"#,
        );
        let m = |j: &str| r.matches(&parse(j.as_bytes()).unwrap(), j.as_bytes());
        assert!(m(r#"{"eventName":"getUser","userAgent":"Boto3 Python/3"}"#));
        assert!(!m(r#"{"eventName":"getUser","userAgent":"Boto3"}"#));
        assert!(m(r#"{"eventName":"X","sourceIPAddress":"10.1.2.3"}"#));
        assert!(!m(
            r#"{"eventName":"X","sourceIPAddress":"10.1.2.3","userIdentity":{"type":"AWSService"}}"#
        ));
    }

    #[test]
    fn wildcards_null_numbers_keywords() {
        let r = rule(
            r#"
title: t
logsource: {product: github, service: audit}
detection:
  a:
    action: 'repo.*_key?create'
    x: null
    n|gte: 5
  k:
    - needle
  condition: a or k
"#,
        );
        let m = |j: &str| r.matches(&parse(j.as_bytes()).unwrap(), j.as_bytes());
        assert!(m(r#"{"action":"REPO.deploy_key.create","n":7}"#));
        assert!(!m(r#"{"action":"repo.deploy_key.create","n":7,"x":1}"#));
        assert!(!m(r#"{"action":"repo.deploy_key.create","n":4}"#));
        assert!(m(r#"{"other":"hay NEEDLE hay"}"#));
    }

    #[test]
    fn aggregation_and_unsupported() {
        let r = rule(
            r#"
title: t
logsource: {product: github, service: audit}
detection:
  s: {action: git.clone}
  timeframe: 1h
  condition: s | count(repo) by actor > 20
"#,
        );
        let a = r.aggregation.unwrap();
        assert_eq!(a.by.as_deref(), Some("actor"));
        assert_eq!(a.field.as_deref(), Some("repo"));
        assert_eq!(a.timeframe, Some(3600));
        let (_, u) = parse_rules(
            "u.yml",
            "title: u\nlogsource: {product: windows}\ndetection: {s: {a: 1}, condition: s}\n",
        )
        .unwrap();
        assert_eq!(u.len(), 1);
        let (_, u) = parse_rules(
            "u.yml",
            "title: u\nlogsource: {product: aws}\ndetection: {s: {a|utf16le: 1}, condition: s}\n",
        )
        .unwrap();
        assert!(u[0].reason.contains("utf16le"));
        assert!(parse_rules(
            "bad.yml",
            "title: b\nlogsource: {product: aws}\ndetection: {s: {a: 1}, condition: s and t}\n"
        )
        .is_err());
    }

    #[test]
    fn deep_conditions_are_refused_not_a_stack_overflow() {
        // Found by the adversarial suite: 100 000 `(` overflowed the parser's stack.
        for cond in [
            format!("{}s{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}s", "not ".repeat(100_000)),
        ] {
            let y = format!(
                "title: d\nlogsource: {{product: aws}}\ndetection:\n  s: {{a: 1}}\n  condition: '{cond}'\n"
            );
            let e = parse_rules("deep.yml", &y).unwrap_err().to_string();
            assert!(
                e.contains("deep.yml") && e.contains("nested deeper than 256"),
                "{}",
                &e[e.len() - 80..]
            );
        }
        let ok = format!(
            "{}s{}",
            "(".repeat(MAX_CONDITION_DEPTH),
            ")".repeat(MAX_CONDITION_DEPTH)
        );
        let y = format!(
            "title: d\nlogsource: {{product: aws}}\ndetection:\n  s: {{a: 1}}\n  condition: '{ok}'\n"
        );
        assert_eq!(parse_rules("ok.yml", &y).unwrap().0.len(), 1);
    }

    #[test]
    fn base64offset_finds_encoded() {
        let r = rule(
            "title: t\nlogsource: {product: aws}\ndetection:\n  s:\n    f|base64offset|contains: secret\n  condition: s\n",
        );
        let e = base64::engine::general_purpose::STANDARD;
        for pre in ["", "a", "ab"] {
            let enc = e.encode(format!("{pre}secret!"));
            let j = format!(r#"{{"f":"{enc}"}}"#);
            assert!(r.matches(&parse(j.as_bytes()).unwrap(), j.as_bytes()), "{pre}");
        }
    }
}
