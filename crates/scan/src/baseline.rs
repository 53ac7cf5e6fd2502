//! Baselines: suppress findings already known from a previous run.
//!
//! A baseline is any previous `firebreak scan` output: the JSON document
//! (`{"findings": [...]}`), JSON Lines (one object per line; objects without a
//! `fingerprint`, such as the final summary line, are ignored), a bare JSON
//! array of findings, or SARIF (`partialFingerprints."secretFingerprint/v1"`).
//! Only the fingerprints (SHA-256 of each secret) are used, so a secret stays
//! suppressed wherever it moves.

use std::collections::HashSet;
use std::path::Path;

/// Why a baseline file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Unreadable file.
    #[error("cannot read baseline {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not JSON or JSON Lines.
    #[error("baseline {path} line {line}: {message}")]
    Parse {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// Parser message.
        message: String,
    },
}

fn collect(v: &serde_json::Value, out: &mut HashSet<String>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        serde_json::Value::Object(o) => {
            if let Some(fp) = o.get("fingerprint").and_then(|f| f.as_str()) {
                out.insert(fp.to_string());
            }
            if let Some(fp) = o
                .get("partialFingerprints")
                .and_then(|p| p.get(crate::output::SARIF_FINGERPRINT_KEY))
                .and_then(|f| f.as_str())
            {
                out.insert(fp.to_string());
            }
            for key in ["findings", "runs", "results"] {
                if let Some(x) = o.get(key) {
                    collect(x, out);
                }
            }
        }
        _ => {}
    }
}

/// Parses baseline text (`origin` names it in errors) into its fingerprints.
pub fn parse_baseline(origin: &str, text: &str) -> Result<HashSet<String>, BaselineError> {
    let mut out = HashSet::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        collect(&v, &mut out);
        return Ok(out);
    }
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| BaselineError::Parse {
            path: origin.to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        collect(&v, &mut out);
    }
    Ok(out)
}

/// Loads a baseline file.
pub fn load_baseline(path: &Path) -> Result<HashSet<String>, BaselineError> {
    let text = std::fs::read_to_string(path).map_err(|e| BaselineError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    parse_baseline(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_jsonl_and_sarif() {
        let j = r#"{"findings":[{"fingerprint":"aa"}],"summary":{}}"#;
        assert!(parse_baseline("b", j).unwrap().contains("aa"));
        let l = "{\"type\":\"finding\",\"fingerprint\":\"bb\"}\n{\"type\":\"summary\",\"files\":1}\n";
        assert!(parse_baseline("b", l).unwrap().contains("bb"));
        let s = r#"{"runs":[{"results":[{"partialFingerprints":{"secretFingerprint/v1":"cc"}}]}]}"#;
        assert!(parse_baseline("b", s).unwrap().contains("cc"));
        let e = parse_baseline("b.jsonl", "{}\nnot json\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.jsonl line 2"), "{e}");
    }
}
