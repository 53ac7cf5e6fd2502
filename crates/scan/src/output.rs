//! Rendering a [`ScanReport`]: human text, JSON, JSON Lines and SARIF 2.1.0.
//!
//! None of them ever holds a secret: findings carry only the redacted form and
//! the SHA-256 fingerprint. Field lists are documented in `docs/scan.md`.

use crate::rules::RuleSet;
use crate::scanner::{ScanReport, Summary};
use firebreak_core::{Confidence, SecretFinding};
use serde_json::{json, Value};
use std::io::{self, Write};

/// Key of the fingerprint in SARIF `partialFingerprints`.
pub const SARIF_FINGERPRINT_KEY: &str = "secretFingerprint/v1";

/// Human text: one line per finding, then a summary line.
pub fn write_text(w: &mut dyn Write, report: &ScanReport, color: bool) -> io::Result<()> {
    let (bold, red, cyan, dim, reset) = if color {
        ("\x1b[1m", "\x1b[31m", "\x1b[36m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    for f in &report.findings {
        write!(
            w,
            "{cyan}{}:{}:{}{reset}: {bold}{red}{}{reset} {} {bold}{}{reset} {dim}[{} confidence, sha256:{}]{reset}",
            f.path,
            f.line,
            f.column,
            f.rule_id,
            f.rule_name,
            f.redacted,
            confidence_str(f.confidence),
            &f.fingerprint[..f.fingerprint.len().min(12)],
        )?;
        if let Some(c) = &f.commit {
            write!(w, " {dim}commit {}{reset}", &c[..c.len().min(12)])?;
        }
        if let Some(v) = &f.validation {
            write!(
                w,
                " {bold}{}{}{reset}",
                if v.status == firebreak_core::ValidationStatus::Live {
                    red
                } else {
                    ""
                },
                validation_text(v)
            )?;
        }
        writeln!(w)?;
    }
    writeln!(w, "{}", summary_line(&report.summary))
}

/// A verdict in words: `LIVE (login=octo, scopes=[repo])`, `dead`, `unknown: why`.
pub fn validation_text(v: &firebreak_core::Validation) -> String {
    let mut s = match v.status {
        firebreak_core::ValidationStatus::Live => "LIVE".to_string(),
        other => other.as_str().to_string(),
    };
    if !v.identity.is_empty() {
        let parts: Vec<String> = v
            .identity
            .iter()
            .map(|(k, x)| match x {
                Value::String(t) => format!("{k}={t}"),
                other => format!("{k}={other}"),
            })
            .collect();
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    if v.status != firebreak_core::ValidationStatus::Live {
        if let Some(r) = &v.reason {
            s.push_str(": ");
            s.push_str(r);
        }
    }
    s
}

/// The one-line summary: counts of findings, files, bytes, archives, skips and errors.
pub fn summary_line(s: &Summary) -> String {
    let mut line = format!(
        "{} finding{} in {} file{} ({}), {} archive{} opened",
        s.findings,
        if s.findings == 1 { "" } else { "s" },
        s.files,
        if s.files == 1 { "" } else { "s" },
        human_bytes(s.bytes),
        s.archives,
        if s.archives == 1 { "" } else { "s" },
    );
    if s.commits > 0 {
        line.push_str(&format!(", {} commits", s.commits));
    }
    line.push_str(&format!(
        "; skipped {} binary, {} by archive bounds; {} error{}",
        s.skipped_binary,
        s.skipped_bounds,
        s.error_count,
        if s.error_count == 1 { "" } else { "s" }
    ));
    if s.suppressed_allow + s.suppressed_baseline + s.suppressed_ignore_file > 0 {
        line.push_str(&format!(
            "; suppressed {} by firebreak:allow, {} by baseline, {} by the ignore file",
            s.suppressed_allow, s.suppressed_baseline, s.suppressed_ignore_file
        ));
    }
    if s.skipped_by_glob > 0 {
        line.push_str(&format!(
            "; {} files left out by --include/--exclude",
            s.skipped_by_glob
        ));
    }
    line
}

fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

fn confidence_str(c: Confidence) -> &'static str {
    match c {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

/// One JSON document: `{"findings": [...], "summary": {...}}`.
pub fn write_json(w: &mut dyn Write, report: &ScanReport) -> io::Result<()> {
    serde_json::to_writer_pretty(
        &mut *w,
        &json!({"findings": report.findings, "summary": report.summary}),
    )?;
    writeln!(w)
}

/// A finding as a JSON Lines object (`"type": "finding"` first).
pub fn finding_jsonl(f: &SecretFinding) -> Value {
    let mut v = json!({"type": "finding"});
    if let (Value::Object(o), Ok(Value::Object(fo))) = (&mut v, serde_json::to_value(f)) {
        o.extend(fo);
    }
    v
}

/// JSON Lines: one finding per line, then one `"type": "summary"` line.
pub fn write_jsonl(w: &mut dyn Write, report: &ScanReport) -> io::Result<()> {
    for f in &report.findings {
        serde_json::to_writer(&mut *w, &finding_jsonl(f))?;
        writeln!(w)?;
    }
    let mut s = json!({"type": "summary"});
    if let (Value::Object(o), Ok(Value::Object(so))) = (&mut s, serde_json::to_value(&report.summary)) {
        o.extend(so);
    }
    serde_json::to_writer(&mut *w, &s)?;
    writeln!(w)
}

fn sarif_level(c: Confidence) -> &'static str {
    match c {
        Confidence::High => "error",
        Confidence::Medium => "warning",
        Confidence::Low => "note",
    }
}

/// A SARIF `artifactLocation.uri` for a finding path: relative paths stay
/// relative (forward slashes, `./` dropped), absolute ones become `file://`
/// URIs; for archive members the outer file is the artifact.
pub fn sarif_uri(path: &str) -> String {
    if path == "-" {
        return "stdin".to_string();
    }
    let outer = path.split('!').next().unwrap_or(path).replace('\\', "/");
    let mut p = outer.as_str();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let mut enc = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            ' ' => enc.push_str("%20"),
            '%' => enc.push_str("%25"),
            '#' => enc.push_str("%23"),
            '?' => enc.push_str("%3F"),
            _ => enc.push(c),
        }
    }
    if enc.starts_with('/') {
        format!("file://{enc}")
    } else {
        enc
    }
}

/// The SARIF 2.1.0 log for a report (as GitHub code scanning accepts it).
pub fn sarif(report: &ScanReport, rules: &RuleSet) -> Value {
    let driver_rules: Vec<Value> = rules
        .rules()
        .iter()
        .map(|r| {
            let d = &r.def;
            let mut rule = json!({
                "id": d.id,
                "name": d.name,
                "shortDescription": {"text": d.name},
                "fullDescription": {"text": d.description.clone().unwrap_or_else(|| d.name.clone())},
                "defaultConfiguration": {"level": sarif_level(d.confidence)},
                "properties": {"tags": d.tags, "precision": match d.confidence {
                    Confidence::High => "high", Confidence::Medium => "medium", Confidence::Low => "low" }},
            });
            if let Some(u) = d.references.first() {
                rule["helpUri"] = json!(u);
            }
            rule
        })
        .collect();
    let index_of = |id: &str| rules.rules().iter().position(|r| r.def.id == id);
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut text = format!("{} found: {} (sha256 {})", f.rule_name, f.redacted, &f.fingerprint[..12]);
            if f.path.contains('!') {
                text.push_str(&format!(" in archive member {}", f.path));
            }
            if let Some(c) = &f.commit {
                text.push_str(&format!(", introduced in commit {c}"));
            }
            let mut r = json!({
                "ruleId": f.rule_id,
                "level": sarif_level(f.confidence),
                "message": {"text": text},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": sarif_uri(&f.path)},
                    "region": if f.end_line >= f.line && f.end_column > 0 {
                        json!({"startLine": f.line, "startColumn": f.column, "endLine": f.end_line, "endColumn": f.end_column})
                    } else {
                        json!({"startLine": f.line, "startColumn": f.column})
                    }
                }}],
                "partialFingerprints": {SARIF_FINGERPRINT_KEY: f.fingerprint},
                "properties": {"id": f.id, "path": f.path, "redacted": f.redacted, "confidence": confidence_str(f.confidence)},
            });
            if let Some(i) = index_of(&f.rule_id) {
                r["ruleIndex"] = json!(i);
            }
            if let Some(c) = &f.commit {
                r["properties"]["commit"] = json!(c);
            }
            if let Some(v) = &f.validation {
                r["properties"]["validation"] = json!(v);
                r["message"]["text"] = json!(format!(
                    "{}. Validation: {}",
                    r["message"]["text"].as_str().unwrap_or(""),
                    validation_text(v)
                ));
                if v.status == firebreak_core::ValidationStatus::Live {
                    r["level"] = json!("error");
                }
            }
            r
        })
        .collect();
    let notifications: Vec<Value> = report
        .summary
        .errors
        .iter()
        .map(|e| (e, "error"))
        .chain(report.summary.notices.iter().map(|n| (n, "warning")))
        .map(|(e, level)| {
            json!({
                "level": level,
                "message": {"text": e.message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": sarif_uri(&e.file)}}}],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "firebreak",
                "informationUri": "https://example.invalid/firebreak",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": driver_rules,
            }},
            "results": results,
            "invocations": [{
                "executionSuccessful": report.summary.error_count == 0,
                "toolExecutionNotifications": notifications,
            }],
        }],
    })
}

/// Writes the SARIF log.
pub fn write_sarif(w: &mut dyn Write, report: &ScanReport, rules: &RuleSet) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &sarif(report, rules))?;
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(sarif_uri("./src/a b.txt"), "src/a%20b.txt");
        assert_eq!(sarif_uri("dist/x.tar.gz!pkg/f"), "dist/x.tar.gz");
        assert_eq!(sarif_uri("/abs/f"), "file:///abs/f");
        assert_eq!(sarif_uri("-"), "stdin");
    }

    #[test]
    fn summary_line_counts() {
        let s = Summary {
            findings: 1,
            files: 2,
            bytes: 2048,
            ..Summary::default()
        };
        let l = summary_line(&s);
        assert!(l.starts_with("1 finding in 2 files (2.0 KiB)"), "{l}");
    }
}
