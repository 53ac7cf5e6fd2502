//! Problems with part of an input: a malformed record, an unreadable file, a rule that
//! cannot be used. Every capability counts them and reports each with where it is (file,
//! line, record); none is fatal, none is skipped silently.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One problem with part of an input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Problem {
    /// The file (or URL, or `-` for stdin) at fault.
    pub file: String,
    /// 1-based line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The record at fault when lines are not known or not enough: a JSON key
    /// (`packages["x.conda"]`), a record number (`#12`), a rule id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// What kind of problem, for counting (`malformed`, `truncated`, `unreadable`,
    /// `unknown_type`, `rule`...), when the capability sorts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What is wrong, in words (never a secret value).
    pub message: String,
}

impl Problem {
    /// A problem in `file` (no line known).
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line: None,
            record: None,
            kind: None,
            message: message.into(),
        }
    }

    /// A problem at `file:line`.
    pub fn at(file: impl Into<String>, line: u64, message: impl Into<String>) -> Problem {
        Problem {
            line: Some(line),
            ..Problem::new(file, message)
        }
    }

    /// The same, with the record at fault.
    pub fn record(mut self, record: impl Into<String>) -> Problem {
        self.record = Some(record.into());
        self
    }

    /// The same, with its kind.
    pub fn kind(mut self, kind: impl Into<String>) -> Problem {
        self.kind = Some(kind.into());
        self
    }

    /// The same, with the record at fault given by its 1-based number (`#12`).
    pub fn numbered(self, n: u64) -> Problem {
        self.record(format!("#{n}"))
    }

    /// The 1-based number of the record at fault, when `record` is one (`#12`).
    pub fn record_number(&self) -> Option<u64> {
        self.record.as_deref()?.strip_prefix('#')?.parse().ok()
    }

    /// The kind, or `""` when the capability does not sort its problems.
    pub fn kind_str(&self) -> &str {
        self.kind.as_deref().unwrap_or_default()
    }

    /// `file:line` (or `file`): where to look.
    pub fn location(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }

    /// `file[:line][: LABEL record]: message`: the record named in words, as a linter
    /// lists what it found (`rules.yml:12: rule acme.token: negative example #1 matches`
    /// with `label` `rule`); [`Display`](fmt::Display) shows it in brackets instead.
    pub fn labelled(&self, label: &str) -> String {
        let mut s = self.location();
        if let Some(r) = &self.record {
            s.push_str(": ");
            if !label.is_empty() {
                s.push_str(label);
                s.push(' ');
            }
            s.push_str(r);
        }
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

/// `file[:line][ [record]]: message`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(r) = &self.record {
            write!(f, " [{r}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_with_where_it_is() {
        assert_eq!(Problem::new("a.json", "bad").to_string(), "a.json: bad");
        let p = Problem::at("a.jsonl", 3, "not JSON").kind("malformed");
        assert_eq!(p.to_string(), "a.jsonl:3: not JSON");
        assert_eq!(p.location(), "a.jsonl:3");
        let r = Problem::new("repodata.json", "no name").record("packages[\"x\"]");
        assert_eq!(r.to_string(), "repodata.json [packages[\"x\"]]: no name");
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"file": "a.jsonl", "line": 3, "kind": "malformed", "message": "not JSON"})
        );
        let back: Problem = serde_json::from_value(j).unwrap();
        assert_eq!(back, p);
        assert_eq!(p.kind_str(), "malformed");
        assert_eq!(Problem::new("a", "b").kind_str(), "");
        let n = Problem::at("a.csv", 4, "bad row").numbered(3);
        assert_eq!((n.record.as_deref(), n.record_number()), (Some("#3"), Some(3)));
        assert_eq!(n.to_string(), "a.csv:4 [#3]: bad row");
        assert_eq!(r.record_number(), None);
    }

    #[test]
    fn labelled_names_the_record_in_words() {
        let p = Problem::at("rules.yml", 12, "negative example #1 matches").record("acme.token");
        assert_eq!(
            p.labelled("rule"),
            "rules.yml:12: rule acme.token: negative example #1 matches"
        );
        assert_eq!(Problem::new("u.yml", "bad").labelled("rule"), "u.yml: bad");
        assert_eq!(
            Problem::new("u.yml", "bad").record("x").labelled(""),
            "u.yml: x: bad"
        );
    }
}
