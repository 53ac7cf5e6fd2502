//! `firebreak incident record`: hunt / scan / census / validate outputs into an incident.
//!
//! Reads the outputs those commands already write: JSON Lines (`--format jsonl`, the
//! default in pipes) or their one-document JSON (`--format json`). Each finding (hunt,
//! scan) or artifact (census) becomes an event of the incident. Malformed lines are
//! counted and named by number, never fatal. Secret values never enter the store: scan
//! findings carry only a redacted prefix and the fingerprint (re-redacted here if a
//! producer left too much); hunt findings' values are passed through the leak scanner's
//! rules and the secrets found in them redacted.

use crate::status::load_incident;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use firebreak_core::finding::stable_id;
use firebreak_core::secret::{redact_secrets, SecretMatcher};
use firebreak_store::{IncidentEvent, IncidentRecord, Store};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;

/// What kind of output is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// `firebreak hunt` findings.
    Hunt,
    /// `firebreak scan` findings.
    Scan,
    /// `firebreak census` artifacts.
    Census,
    /// `firebreak validate` results: the leaked (old) values checked at their provider.
    Validate,
    /// `firebreak revoke` results: revocations at the provider and the checks after them.
    Revoke,
}

impl RecordKind {
    /// The name stored (`hunt`, `scan`, `census`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Hunt => "hunt",
            RecordKind::Scan => "scan",
            RecordKind::Census => "census",
            RecordKind::Validate => "validate",
            RecordKind::Revoke => "revoke",
        }
    }
}

impl std::str::FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "hunt" => Ok(RecordKind::Hunt),
            "scan" => Ok(RecordKind::Scan),
            "census" => Ok(RecordKind::Census),
            "validate" => Ok(RecordKind::Validate),
            "revoke" => Ok(RecordKind::Revoke),
            _ => Err(format!(
                "unknown kind {} (hunt, scan, census, validate, revoke)",
                firebreak_core::secret::quote_untrusted(s)
            )),
        }
    }
}

/// What was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RecordOutcome {
    /// Record id.
    pub record_id: i64,
    /// Kind.
    pub kind: RecordKind,
    /// Source (file).
    pub source: String,
    /// Events recorded.
    pub items: usize,
    /// Lines that could not be read (1-based).
    pub malformed_lines: Vec<usize>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    match v.get(k) {
        Some(Value::String(x)) => Some(x.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn time(v: &Value, k: &str) -> Option<DateTime<Utc>> {
    v.get(k)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Keeps a redacted form redacted: at most 6 characters before the ellipsis.
fn re_redact(r: &str) -> String {
    let body = r.trim_end_matches('…');
    if body.chars().count() <= 6 {
        return r.to_string();
    }
    firebreak_core::redact(body)
}

/// Finds secrets for [`hunt_event`]: the leak scanner's built-in rules. Should they
/// fail to load, every value is redacted whole rather than stored as it is.
pub(crate) fn secrets() -> &'static dyn SecretMatcher {
    struct Everything;
    impl SecretMatcher for Everything {
        fn secret_spans(&self, text: &str) -> Vec<std::ops::Range<usize>> {
            std::iter::once(0..text.len()).collect()
        }
    }
    static RULES: OnceLock<Option<firebreak_scan::RuleSet>> = OnceLock::new();
    match RULES.get_or_init(|| firebreak_scan::RuleSet::builtin().ok()) {
        Some(r) => r,
        None => &Everything,
    }
}

/// Redacts the secrets in every string of `v`.
fn redact_value(v: &mut Value, m: &dyn SecretMatcher) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = redact_secrets(s, m) {
                *s = r;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, m)),
        Value::Object(o) => o.values_mut().for_each(|x| redact_value(x, m)),
        _ => {}
    }
}

/// One hunt finding (as `firebreak hunt --format jsonl` writes it) → an event.
///
/// Its values come from audit logs, and the JSON from anywhere: secrets in them (a token
/// in a user agent...) are redacted with the leak scanner's rules before they are stored.
pub fn hunt_event(v: &Value) -> Option<IncidentEvent> {
    let m = secrets();
    let title = redact_secrets(&s(v, "title")?, m).into_owned();
    let rule_id = s(v, "rule_id")?;
    let id = match s(v, "id") {
        Some(id) => redact_secrets(&id, m).into_owned(),
        None => stable_id(&[&rule_id, &v.to_string()]),
    };
    let mut detail = serde_json::Map::new();
    for k in [
        "kind",
        "rule_id",
        "detail",
        "source",
        "actor",
        "actor_type",
        "action",
        "target",
        "source_ip",
        "user_agent",
        "outcome",
        "error_code",
        "location",
        "region",
        "event_id",
        "file",
        "line",
    ] {
        if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
            let mut x = x.clone();
            redact_value(&mut x, m);
            detail.insert(k.to_string(), x);
        }
    }
    Some(IncidentEvent {
        record_id: 0,
        kind: "hunt_finding".into(),
        item_id: id,
        at: time(v, "time"),
        severity: Some(s(v, "level").map_or_else(|| "medium".into(), |l| redact_secrets(&l, m).into_owned())),
        title,
        detail: Value::Object(detail),
    })
}

/// One scan finding (as `firebreak scan --format jsonl` writes it) → an event.
pub fn scan_event(v: &Value) -> Option<IncidentEvent> {
    if v.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "finding")
    {
        return None;
    }
    let rule_id = s(v, "rule_id")?;
    let fp = s(v, "fingerprint")?;
    let path = s(v, "path").unwrap_or_default();
    let line = v.get("line").and_then(Value::as_u64).unwrap_or(0);
    let id = s(v, "id").unwrap_or_else(|| stable_id(&[&rule_id, &fp, &path, &line.to_string()]));
    let mut detail = json!({
        "rule_id": rule_id,
        "path": path,
        "line": line,
        "redacted": re_redact(&s(v, "redacted").unwrap_or_else(|| "…".into())),
        "fingerprint": fp,
    });
    for k in ["commit", "account_id", "unlocks"] {
        if let Some(x) = s(v, k) {
            detail[k] = Value::String(x);
        }
    }
    Some(IncidentEvent {
        record_id: 0,
        kind: "scan_finding".into(),
        item_id: id,
        at: time(v, "time"),
        severity: s(v, "confidence"),
        title: s(v, "rule_name").unwrap_or_else(|| rule_id.clone()),
        detail,
    })
}

/// One `firebreak validate` result (JSON or JSON Lines) → a `validation` event: the
/// verdict on an old (leaked) value, keyed by its variable name. Holds no value.
pub fn validate_event(v: &Value) -> Option<IncidentEvent> {
    if v.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "result")
    {
        return None;
    }
    let name = s(v, "name")?;
    let val: firebreak_core::Validation = serde_json::from_value(v.get("validation")?.clone()).ok()?;
    let mut detail = json!({
        "name": name,
        "validator": val.validator,
        "status": val.status,
        "checked_at": firebreak_store::fmt_time(val.checked_at),
    });
    if !val.identity.is_empty() {
        let mut ident = serde_json::to_value(&val.identity).ok()?;
        redact_value(&mut ident, secrets());
        detail["identity"] = ident;
    }
    if let Some(r) = &val.reason {
        detail["reason"] = Value::String(redact_secrets(r, secrets()).into_owned());
    }
    Some(IncidentEvent {
        record_id: 0,
        kind: "validation".into(),
        item_id: stable_id(&[
            "validation",
            &name,
            &val.validator,
            &firebreak_store::fmt_time(val.checked_at),
        ]),
        at: Some(val.checked_at),
        severity: Some(val.status.as_str().to_string()),
        title: format!("{name} [{}]: {}", val.validator, val.status),
        detail,
    })
}

/// One `firebreak revoke` result → a `revocation` event (what was asked of the provider
/// and what it answered) and, when a check followed, a `validation` event with its
/// verdict, so that a credential proven dead counts for the task of its variable.
pub fn revoke_events(v: &Value) -> Option<Vec<IncidentEvent>> {
    if v.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "result")
    {
        return None;
    }
    let name = s(v, "name")?;
    let r: firebreak_validate::Revocation = serde_json::from_value(v.get("revocation")?.clone()).ok()?;
    let at = r
        .after
        .as_ref()
        .map(|a| a.checked_at)
        .or_else(|| time(v, "at"))
        .unwrap_or_else(Utc::now);
    let mut detail = json!({
        "name": name,
        "validator": r.validator,
        "status": r.status,
    });
    if let Some(q) = &r.request {
        detail["request"] = Value::String(q.clone());
    }
    if let Some(x) = &r.reason {
        detail["reason"] = Value::String(redact_secrets(x, secrets()).into_owned());
    }
    let mut out = vec![IncidentEvent {
        record_id: 0,
        kind: "revocation".into(),
        item_id: stable_id(&["revocation", &name, &r.validator, &firebreak_store::fmt_time(at)]),
        at: Some(at),
        severity: Some(r.status.as_str().to_string()),
        title: format!("{name} [{}]: {}", r.validator, r.status),
        detail,
    }];
    if let Some(after) = &r.after {
        let row = json!({"type": "result", "name": name, "validation": after});
        out.extend(validate_event(&row));
    }
    Some(out)
}

/// One census artifact record (as `firebreak census --format jsonl` writes it) → an event.
pub fn census_event(v: &Value) -> Option<IncidentEvent> {
    let artifact = s(v, "artifact")?;
    let index = s(v, "index").unwrap_or_default();
    let source = s(v, "source").unwrap_or_default();
    let findings: Vec<Value> = v
        .get("findings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|f| {
                    let mut o = json!({
                        "kind": f.get("kind").cloned().unwrap_or(Value::Null),
                        "id": f.get("id").cloned().unwrap_or(Value::Null),
                    });
                    for k in [
                        "indicator",
                        "description",
                        "member",
                        "rule_id",
                        "path",
                        "fingerprint",
                        "algorithm",
                    ] {
                        if let Some(x) = f.get(k).filter(|x| !x.is_null()) {
                            o[k] = x.clone();
                        }
                    }
                    if let Some(r) = f.get("redacted").and_then(Value::as_str) {
                        o["redacted"] = Value::String(re_redact(r));
                    }
                    o
                })
                .collect()
        })
        .unwrap_or_default();
    let status = s(v, "status").unwrap_or_else(|| "ok".into());
    let flagged = !findings.is_empty();
    Some(IncidentEvent {
        record_id: 0,
        kind: "census_artifact".into(),
        item_id: stable_id(&[&index, &artifact, &source]),
        at: time(v, "uploaded_at"),
        severity: Some(if flagged { "flagged" } else { "ok" }.into()),
        title: artifact,
        detail: json!({
            "package": v.get("package"),
            "version": v.get("version"),
            "subdir": v.get("subdir"),
            "index": index,
            "status": status,
            "findings": findings,
        }),
    })
}

/// Converts JSON values to events of `kind`; values that do not fit are reported by
/// their position (1-based).
pub fn events_of(kind: RecordKind, values: &[(usize, Value)]) -> (Vec<IncidentEvent>, Vec<usize>) {
    let mut ev = Vec::new();
    let mut bad = Vec::new();
    for (n, v) in values {
        // scan JSON Lines end with a summary line: not an event, not malformed
        if matches!(kind, RecordKind::Scan | RecordKind::Validate | RecordKind::Revoke)
            && v.get("type").and_then(Value::as_str) == Some("summary")
        {
            continue;
        }
        let e = match kind {
            RecordKind::Hunt => hunt_event(v).map(|e| vec![e]),
            RecordKind::Scan => scan_event(v).map(|e| vec![e]),
            RecordKind::Census => census_event(v).map(|e| vec![e]),
            RecordKind::Validate => validate_event(v).map(|e| vec![e]),
            RecordKind::Revoke => revoke_events(v),
        };
        match e {
            Some(e) => ev.extend(e),
            None => bad.push(*n),
        }
    }
    (ev, bad)
}

/// The refusal of an output holding no record of `kind` (every line malformed), naming
/// the kind it holds when one of the others reads it.
fn wrong_kind_message(kind: RecordKind, shown: &str, text: &str, malformed: usize) -> String {
    let fits = [RecordKind::Hunt, RecordKind::Scan, RecordKind::Census]
        .into_iter()
        .filter(|k| *k != kind)
        .find(|k| !events_of(*k, &parse_output(*k, text).0).0.is_empty());
    let hint = match fits {
        Some(k) => format!(
            "; it reads as `firebreak {k}` output: use --kind {k}",
            k = k.as_str()
        ),
        None => String::new(),
    };
    format!(
        "{shown}: no {} record in it ({malformed} malformed line(s)); nothing recorded{hint}",
        kind.as_str()
    )
}

/// Splits an output into JSON values: a one-document JSON (`{"findings": [...]}` or
/// `{"artifacts": [...]}`) or JSON Lines. Returns (line or position, value) and the
/// numbers of unreadable lines.
pub fn parse_output(kind: RecordKind, text: &str) -> (Vec<(usize, Value)>, Vec<usize>) {
    let key = match kind {
        RecordKind::Census => "artifacts",
        RecordKind::Validate | RecordKind::Revoke => "results",
        _ => "findings",
    };
    firebreak_core::jsonl::records(text, key)
}

/// Replaces every `fingerprint` holding a plain SHA-256 (64 hex) in `v` by the store's
/// keyed fingerprint of it.
fn key_fingerprints(store: &Store, v: &mut Value) -> Result<()> {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match x {
                    Value::String(s)
                        if k == "fingerprint"
                            && s.len() == 64
                            && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        *s = store.keyed_fingerprint(s.as_bytes())?;
                    }
                    _ => key_fingerprints(store, x)?,
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                key_fingerprints(store, x)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Records events (already converted) into incident `name`.
pub fn record_events(
    store: &mut Store,
    name: &str,
    kind: RecordKind,
    source: &str,
    events: &[IncidentEvent],
    malformed: usize,
    stats: Value,
) -> Result<i64> {
    let inc = load_incident(store, name)?;
    // a secret's plain SHA-256 (scan and census output) is stored keyed: HMAC under the
    // store's key, so the store cannot confirm a guessed value without it
    let mut keyed_events = events.to_vec();
    for e in &mut keyed_events {
        key_fingerprints(store, &mut e.detail)?;
    }
    let events = &keyed_events[..];
    let rec = IncidentRecord {
        id: 0,
        kind: kind.as_str().into(),
        source: source.to_string(),
        recorded_at: Utc::now(),
        items: events.len() as i64,
        malformed: malformed as i64,
        stats,
    };
    Ok(store.add_incident_record(inc.id, &rec, events)?)
}

/// Records the output file `path` (`-` = stdin) of a hunt, scan or census into incident `name`.
pub fn record_file(store: &mut Store, name: &str, kind: RecordKind, path: &Path) -> Result<RecordOutcome> {
    // fail on a missing incident before reading stdin
    load_incident(store, name)?;
    let shown = path.display().to_string();
    let text = if shown == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::Io {
            path: "-".into(),
            message: e.to_string(),
        })?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: shown.clone(),
            message: e.to_string(),
        })?
    };
    let (vals, mut bad) = parse_output(kind, &text);
    let (events, bad2) = events_of(kind, &vals);
    bad.extend(bad2);
    bad.sort();
    if events.is_empty() && !bad.is_empty() {
        // not one record of this kind: most likely the wrong --kind; refuse before storing
        return Err(Error::Input(wrong_kind_message(kind, &shown, &text, bad.len())));
    }
    let mut stats = json!({"malformed_lines": bad.iter().take(100).collect::<Vec<_>>()});
    if kind == RecordKind::Hunt {
        // `hunt --format json` lists the files read and their detected sources: a source
        // hunted without findings still counts as hunted
        if let Ok(doc) = serde_json::from_str::<Value>(text.trim_start()) {
            if let Some(files) = doc.get("files").and_then(Value::as_array) {
                let mut src: Vec<String> = files
                    .iter()
                    .filter_map(|f| f.get("source").and_then(Value::as_str).map(str::to_string))
                    .collect();
                src.sort();
                src.dedup();
                stats["sources"] = json!(src);
                stats["records"] = doc.get("records").cloned().unwrap_or(Value::Null);
            }
        }
    }
    let id = record_events(store, name, kind, &shown, &events, bad.len(), stats)?;
    Ok(RecordOutcome {
        record_id: id,
        kind,
        source: shown,
        items: events.len(),
        malformed_lines: bad,
    })
}
