//! The validator catalogue: YAML files, one entry per credential type, saying how to
//! prove a credential live (an HTTP request template with response matchers, a signed
//! AWS call, a GCP token exchange, or an offline decoding) and which identity fields to
//! read from the reply. The built-in files are embedded; `--validators DIR` adds more.
//! Schema and conventions: `docs/validate.md`.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The built-in validator files (name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("cloud.yml", include_str!("../validators/cloud.yml")),
    ("scm.yml", include_str!("../validators/scm.yml")),
    ("registries.yml", include_str!("../validators/registries.yml")),
    ("saas.yml", include_str!("../validators/saas.yml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    validators: Vec<Validator>,
}

/// One validator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// Id named by scan rules, e.g. `github.token`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Endpoint name for `--endpoint NAME=URL` (e.g. `github`, `aws`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Default base URL (none: the user must give `--endpoint`, e.g. for Vault).
    #[serde(default)]
    pub base: Option<String>,
    /// Hosts a full-URL template (`check.http.url`) may point at.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The parts of the credential. The first is the one a scan finds.
    pub inputs: Vec<Input>,
    /// How to check it: `{http: {...}}`, or one of `aws_sts`, `gcp_service_account`,
    /// `pypi_macaroon`.
    #[serde(deserialize_with = "de_check")]
    pub check: Check,
    /// Identity fields read from a live reply.
    #[serde(default)]
    pub identity: BTreeMap<String, Extract>,
    /// The provider's documentation of the check.
    #[serde(default)]
    pub references: Vec<String>,
    /// How to revoke it, where the provider documents how (`firebreak revoke`).
    #[serde(default)]
    pub revoke: Option<Revoke>,
    /// Documented replies, used by the catalogue's own tests against a local mock.
    #[serde(default)]
    pub mock: Option<Mock>,
    /// The file it came from.
    #[serde(skip)]
    pub source: String,
}

/// One part of a credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Name used in templates (`{{token}}`).
    pub name: String,
    /// What a value must look like (anchored when compiled).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Variable names (globs, case-insensitive) that hold this part, e.g.
    /// `*SECRET_ACCESS_KEY`. For the first input, a non-empty list means a value is
    /// recognised only under such a name (its shape alone is too common).
    #[serde(default)]
    pub names: Vec<String>,
    /// The check can run without it.
    #[serde(default)]
    pub optional: bool,
    /// A made-up value of the right shape, for tests and `validators check`.
    #[serde(default)]
    pub example: Option<String>,
}

/// How a credential is checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// An HTTP request template and reply matchers.
    Http(Box<HttpCheck>),
    /// AWS `sts:GetCallerIdentity`, SigV4-signed (inputs `key_id`, `secret`, optional
    /// `session_token`).
    AwsSts,
    /// A GCP service-account key: a signed JWT exchanged for an access token (input
    /// `json`, the key file).
    GcpServiceAccount,
    /// A PyPI API token (a macaroon): caveats decoded offline, no request.
    PypiMacaroon,
}

/// An HTTP check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// Method (default GET). A POST is listed only where the provider's check endpoint
    /// is a POST that changes nothing.
    #[serde(default = "get")]
    pub method: String,
    /// Path template appended to the base URL.
    #[serde(default)]
    pub path: Option<String>,
    /// Full URL template (the credential is itself a URL, e.g. a webhook); its host must
    /// be one of `hosts`.
    #[serde(default)]
    pub url: Option<String>,
    /// Header templates.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication: `[user, password]` templates.
    #[serde(default)]
    pub basic: Option<[String; 2]>,
    /// Form body templates.
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    /// JSON body template (strings are templates).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// The reply that proves it live (every condition holds). In a `revoke` request,
    /// spelt `done`: the reply that says it was revoked.
    #[serde(alias = "done")]
    pub live: Match,
    /// Replies that prove it dead (any one). In a `revoke` request, spelt `gone`: the
    /// replies that say it was dead already.
    #[serde(default, alias = "gone")]
    pub dead: Vec<Match>,
}

/// How a credential is revoked at its provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// An HTTP request template; `done` is the reply of a revocation, `gone` the replies
    /// saying the credential was dead already.
    #[serde(default)]
    pub http: Option<Box<HttpCheck>>,
    /// A built-in revocation: `aws_deactivate_key` (IAM `UpdateAccessKey` to `Inactive`,
    /// signed by the key itself).
    #[serde(default)]
    pub builtin: Option<String>,
    /// Steps for a person, where no API revokes this kind of credential.
    #[serde(default)]
    pub manual: Option<String>,
    /// The provider accepts the request and revokes later (GitHub's credential
    /// revocation API): a check right after may still find it live.
    #[serde(default)]
    pub asynchronous: bool,
    /// The provider's documentation of the revocation.
    #[serde(default)]
    pub references: Vec<String>,
}

/// The built-in revocations.
pub const REVOKE_BUILTINS: &[&str] = &["aws_deactivate_key"];

fn de_check<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Check, D::Error> {
    use serde::de::Error;
    let v = serde_yaml_ng::Value::deserialize(d)?;
    match &v {
        serde_yaml_ng::Value::String(s) => match s.as_str() {
            "aws_sts" => Ok(Check::AwsSts),
            "gcp_service_account" => Ok(Check::GcpServiceAccount),
            "pypi_macaroon" => Ok(Check::PypiMacaroon),
            other => Err(D::Error::custom(format!(
                "unknown check {other:?}: expected http, aws_sts, gcp_service_account or pypi_macaroon"
            ))),
        },
        serde_yaml_ng::Value::Mapping(m) if m.len() == 1 => match m.get("http") {
            Some(h) => HttpCheck::deserialize(h.clone())
                .map(|h| Check::Http(Box::new(h)))
                .map_err(|e| D::Error::custom(format!("check.http: {e}"))),
            None => Err(D::Error::custom("a check map must be {http: {...}}")),
        },
        _ => Err(D::Error::custom(
            "check: expected {http: {...}} or the name of a built-in check",
        )),
    }
}

fn get() -> String {
    "GET".into()
}

/// Conditions on a reply; all must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// One of these statuses.
    #[serde(default)]
    pub status: Vec<u16>,
    /// JSON pointer → expected value (a list means any of them).
    #[serde(default)]
    pub json: BTreeMap<String, serde_json::Value>,
    /// JSON pointers that must exist.
    #[serde(default)]
    pub json_exists: Vec<String>,
    /// Substrings of the body.
    #[serde(default)]
    pub body_contains: Vec<String>,
}

/// Where an identity field comes from (exactly one source).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extract {
    /// A JSON pointer into the reply.
    #[serde(default)]
    pub json: Option<String>,
    /// A reply header.
    #[serde(default)]
    pub header: Option<String>,
    /// Split the text on this separator into a list (e.g. scopes).
    #[serde(default)]
    pub split: Option<String>,
}

/// Documented replies for a validator's mock test.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mock {
    /// The reply to a live credential.
    pub live: Reply,
    /// The reply to a dead one.
    pub dead: Reply,
    /// Identity fields the live reply must yield.
    #[serde(default)]
    pub identity: BTreeMap<String, serde_json::Value>,
    /// The provider's reply to a revocation (for validators with an HTTP `revoke`).
    #[serde(default)]
    pub revoked: Option<Reply>,
}

/// A canned reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Text body.
    #[serde(default)]
    pub text: Option<String>,
}

/// A problem with a validator file, naming file and line.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{line}: {message}")]
pub struct SpecError {
    /// File.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A compiled validator.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The spec.
    pub spec: Validator,
    /// Compiled input patterns (anchored), by input index.
    pub patterns: Vec<Option<Regex>>,
    /// Compiled name globs, by input index.
    pub names: Vec<Option<globset::GlobSet>>,
}

impl Compiled {
    /// True when `value` has the shape of input `i`.
    pub fn shape_ok(&self, i: usize, value: &str) -> bool {
        self.patterns[i].as_ref().is_none_or(|r| r.is_match(value))
    }
    /// True when variable `name` may hold input `i` (`None` when the input lists no names).
    pub fn name_ok(&self, i: usize, name: &str) -> Option<bool> {
        self.names[i]
            .as_ref()
            .map(|g| g.is_match(name.to_ascii_uppercase()))
    }
    /// True when a value (under an optional name) is recognised as this validator's
    /// first input.
    pub fn recognises(&self, value: &str, name: Option<&str>) -> bool {
        if self.patterns[0].is_none() || !self.shape_ok(0, value) {
            return false;
        }
        match (self.names[0].as_ref(), name) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(n)) => self.name_ok(0, n).unwrap_or(false),
        }
    }
}

/// The validators, by id.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    by_id: BTreeMap<String, Compiled>,
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or(0)
}

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Result<Catalogue, Vec<SpecError>> {
        let mut c = Catalogue::default();
        let mut errs = Vec::new();
        for (name, text) in BUILTIN {
            errs.extend(c.add_text(&format!("builtin:{name}"), text));
        }
        if errs.is_empty() {
            Ok(c)
        } else {
            Err(errs)
        }
    }

    /// Adds every `*.yml`/`*.yaml` file of `dir` (a validator with an existing id
    /// replaces it). Returns the problems found, each naming file and line.
    pub fn add_dir(&mut self, dir: &Path) -> Vec<SpecError> {
        let mut errs = Vec::new();
        let rd = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                return vec![SpecError {
                    file: dir.display().to_string(),
                    line: 0,
                    message: format!("cannot read the directory: {e}"),
                }]
            }
        };
        let mut files: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
            .collect();
        files.sort();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => errs.extend(self.add_text(&f.display().to_string(), &t)),
                Err(e) => errs.push(SpecError {
                    file: f.display().to_string(),
                    line: 0,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        errs
    }

    /// Parses and checks one file's text, adding its validators.
    pub fn add_text(&mut self, file: &str, text: &str) -> Vec<SpecError> {
        let parsed: File = match serde_yaml_ng::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return vec![SpecError {
                    file: file.into(),
                    line: e.location().map(|l| l.line()).unwrap_or(0),
                    message: e.to_string(),
                }]
            }
        };
        let mut errs = Vec::new();
        let mut seen = BTreeSet::new();
        for mut v in parsed.validators {
            let line = line_of(text, &format!("id: {}", v.id));
            let err = |m: String| SpecError {
                file: file.into(),
                line,
                message: format!("validator {}: {m}", v.id),
            };
            if !seen.insert(v.id.clone()) {
                errs.push(err("id given twice in this file".into()));
                continue;
            }
            v.source = file.to_string();
            match compile(v.clone()) {
                Ok(c) => {
                    self.by_id.insert(v.id.clone(), c);
                }
                Err(m) => errs.push(err(m)),
            }
        }
        errs
    }

    /// A validator by id.
    pub fn get(&self, id: &str) -> Option<&Compiled> {
        self.by_id.get(id)
    }

    /// Every validator, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Compiled> {
        self.by_id.values()
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The validators that recognise `value` (under `name`, when known), the most
    /// specific first (a name-free pattern beats one that needs the name; longer
    /// patterns beat shorter ones).
    pub fn recognise(&self, value: &str, name: Option<&str>) -> Vec<&Compiled> {
        let mut v: Vec<&Compiled> = self
            .by_id
            .values()
            .filter(|c| c.recognises(value, name))
            .collect();
        v.sort_by_key(|c| {
            (
                c.names[0].is_some(),
                std::cmp::Reverse(c.spec.inputs[0].pattern.as_ref().map_or(0, |p| p.len())),
            )
        });
        v
    }
}

fn template_names(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) => {
                out.push(after[..j].trim().to_string());
                rest = &after[j + 2..];
            }
            None => {
                out.push(String::new());
                break;
            }
        }
    }
    out
}

fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// Checks an HTTP request template against the validator's inputs; returns the input
/// names it sends.
fn check_http(
    h: &HttpCheck,
    v: &Validator,
    input_names: &BTreeSet<String>,
) -> Result<BTreeSet<String>, String> {
    if h.path.is_some() == h.url.is_some() {
        return Err("check.http needs exactly one of path and url".into());
    }
    if h.path.is_some() && v.endpoint.is_none() {
        return Err("a path check needs an endpoint name".into());
    }
    if h.url.is_some() && v.hosts.is_empty() {
        return Err("a url check needs the hosts it may reach".into());
    }
    if h.path.as_ref().is_some_and(|p| !p.starts_with('/')) {
        return Err("check.http.path must start with /".into());
    }
    reqwest::Method::from_bytes(h.method.as_bytes()).map_err(|_| format!("bad method {}", h.method))?;
    if h.live.status.is_empty() {
        return Err("check.http.live needs a status".into());
    }
    let mut ts: Vec<String> = Vec::new();
    ts.extend(h.path.iter().cloned());
    ts.extend(h.url.iter().cloned());
    ts.extend(h.headers.values().cloned());
    ts.extend(h.form.values().cloned());
    if let Some(b) = &h.basic {
        ts.extend(b.iter().cloned());
    }
    if let Some(j) = &h.json {
        json_strings(j, &mut ts);
    }
    let mut used = BTreeSet::new();
    for t in &ts {
        for n in template_names(t) {
            if !input_names.contains(&n) {
                return Err(format!("template names {{{{{n}}}}}, which is not an input"));
            }
            used.insert(n);
        }
    }
    for p in h
        .live
        .json
        .keys()
        .chain(h.dead.iter().flat_map(|d| d.json.keys()))
    {
        if !p.starts_with('/') {
            return Err(format!("JSON pointer {p} must start with /"));
        }
    }
    Ok(used)
}

fn compile(v: Validator) -> Result<Compiled, String> {
    if v.id.is_empty() || !v.id.contains('.') {
        return Err("id must look like `vendor.kind`".into());
    }
    if v.inputs.is_empty() {
        return Err("no inputs".into());
    }
    if v.inputs[0].optional {
        return Err("the first input cannot be optional".into());
    }
    let mut patterns = Vec::new();
    let mut names = Vec::new();
    let mut input_names = BTreeSet::new();
    for i in &v.inputs {
        if !input_names.insert(i.name.clone()) {
            return Err(format!("input {} given twice", i.name));
        }
        patterns.push(match &i.pattern {
            Some(p) => Some(
                Regex::new(&format!("^(?:{p})$"))
                    .map_err(|e| format!("input {}: bad pattern: {e}", i.name))?,
            ),
            None => None,
        });
        names.push(if i.names.is_empty() {
            None
        } else {
            let mut b = globset::GlobSetBuilder::new();
            for n in &i.names {
                b.add(
                    globset::Glob::new(&n.to_ascii_uppercase())
                        .map_err(|e| format!("input {}: bad name glob {n}: {e}", i.name))?,
                );
            }
            Some(b.build().map_err(|e| format!("input {}: {e}", i.name))?)
        });
        if let (Some(ex), Some(p)) = (&i.example, &patterns[patterns.len() - 1]) {
            if !p.is_match(ex) {
                return Err(format!(
                    "input {}: the example does not match the pattern",
                    i.name
                ));
            }
        }
    }
    let need = |n: &[&str]| -> Result<(), String> {
        for x in n {
            if !input_names.contains(*x) {
                return Err(format!("this check needs an input named {x}"));
            }
        }
        Ok(())
    };
    match &v.check {
        Check::Http(h) => {
            let used = check_http(h, &v, &input_names)?;
            for i in &v.inputs {
                if !i.optional && !used.contains(&i.name) {
                    return Err(format!("input {} is never sent", i.name));
                }
            }
        }
        Check::AwsSts => need(&["key_id", "secret"])?,
        Check::GcpServiceAccount => need(&["json"])?,
        Check::PypiMacaroon => need(&["token"])?,
    }
    if let Some(r) = &v.revoke {
        let n = r.http.is_some() as u8 + r.builtin.is_some() as u8 + r.manual.is_some() as u8;
        if n != 1 {
            return Err("revoke: give exactly one of http, builtin and manual".into());
        }
        if let Some(h) = &r.http {
            check_http(h, &v, &input_names).map_err(|e| format!("revoke: {e}"))?;
        }
        if let Some(b) = &r.builtin {
            if !REVOKE_BUILTINS.contains(&b.as_str()) {
                return Err(format!(
                    "revoke: unknown builtin {b:?}: expected one of {}",
                    REVOKE_BUILTINS.join(", ")
                ));
            }
            if b == "aws_deactivate_key" {
                need(&["key_id", "secret"])?;
            }
        }
    }
    if v.mock.as_ref().is_some_and(|m| m.revoked.is_some())
        && v.revoke.as_ref().is_none_or(|r| r.http.is_none())
    {
        return Err("mock.revoked is given but the validator has no HTTP revoke".into());
    }
    for (k, e) in &v.identity {
        let n = e.json.is_some() as u8 + e.header.is_some() as u8;
        if n != 1 {
            return Err(format!("identity.{k}: give exactly one of json and header"));
        }
        if e.json.as_ref().is_some_and(|p| !p.starts_with('/')) {
            return Err(format!("identity.{k}: JSON pointer must start with /"));
        }
    }
    if let Some(b) = &v.base {
        url::Url::parse(b).map_err(|e| format!("bad base URL {b}: {e}"))?;
    }
    Ok(Compiled {
        spec: v,
        patterns,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_loads() {
        let c = Catalogue::builtin().unwrap_or_else(|e| panic!("{e:#?}"));
        assert!(c.len() >= 40, "{} validators", c.len());
    }

    #[test]
    fn errors_name_file_and_line() {
        let mut c = Catalogue::default();
        let text = "validators:\n  - id: x.y\n    name: X\n    endpoint: x\n    base: https://x.example\n    inputs: [{name: token, pattern: 'x_[a-z]+'}]\n    check: {http: {path: /me, headers: {A: '{{tokn}}'}, live: {status: [200]}}}\n";
        let e = c.add_text("mine.yml", text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 2);
        assert!(
            e[0].to_string()
                .contains("mine.yml:2: validator x.y: template names {{tokn}}"),
            "{}",
            e[0]
        );
        let e = c.add_text("bad.yml", "validators:\n  - id: [\n");
        assert_eq!(e[0].file, "bad.yml");
        assert!(e[0].line >= 2);
    }

    #[test]
    fn recognition_prefers_distinctive_patterns_and_honours_names() {
        let c = Catalogue::builtin().unwrap();
        let ids = |v: &str, n: Option<&str>| -> Vec<String> {
            c.recognise(v, n).iter().map(|c| c.spec.id.clone()).collect()
        };
        assert_eq!(
            ids("ghp_M8JxvGBCvhuCCyoNAsTBACr1RuVHNdBzHiLe", None)[0],
            "github.token"
        );
        // 40 hex characters: a CircleCI personal token only under a CircleCI name
        let hex = "0123456789abcdef0123456789abcdef01234567";
        assert!(!ids(hex, None).contains(&"circleci.token".to_string()));
        assert!(ids(hex, Some("CIRCLE_TOKEN")).contains(&"circleci.token".to_string()));
    }
}
