//! Secrets in memory: a wrapper that never prints its value, fingerprints and redaction.
//!
//! Rule of the project: a secret value is never printed whole — not in output, logs,
//! errors, panics or debug dumps. Hold values in [`SecretString`], show them with
//! [`redact`], identify them with [`fingerprint`].

use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroize;

/// SHA-256 of the secret's bytes, lowercase hex. Stable across runs and tools, so
/// baselines and reports can refer to a secret without holding it.
pub fn fingerprint(secret: &[u8]) -> String {
    hex::encode(Sha256::digest(secret))
}

/// How many leading characters [`redact`] keeps, by secret length.
fn kept_chars(len: usize) -> usize {
    match len {
        0..=7 => 0,
        8..=15 => 2,
        16..=31 => 4,
        _ => 6,
    }
}

/// A redacted form of a secret: a few leading characters then `…`.
///
/// Short secrets keep nothing; long ones keep at most 6 characters, so a
/// vendor prefix such as `ghp_` or `AKIA` stays readable while the random
/// part is hidden.
pub fn redact(secret: &str) -> String {
    let n = secret.chars().count();
    let keep = kept_chars(n);
    let mut out: String = secret.chars().take(keep).filter(|c| !c.is_control()).collect();
    out.push('…');
    out
}

/// Quotes a value read from untrusted input for an error message, without
/// ever echoing a secret whole: a short value made only of characters that
/// times, dates, numbers and sizes use is shown as is (quoted); anything else is
/// shown redacted ([`redact`]) with its length.
pub fn quote_untrusted(value: &str) -> String {
    let plain = value.chars().count() <= 40
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || " -:+.,/TZtz".contains(c));
    if plain {
        format!("{value:?}")
    } else {
        format!(
            "{:?} ({} characters, not shown whole)",
            redact(value),
            value.chars().count()
        )
    }
}

/// Rewrites a parser's error message (serde, through `toml` or a YAML crate)
/// so that the values it quotes from the input pass through
/// [`quote_untrusted`]: serde's `string "…"` (invalid type or value), and the
/// name after `unknown field` or `unknown variant` (a key or a value of the
/// input) unless it looks like a misspelt name (up to 32 lowercase letters,
/// digits, `_`, `-`, `.`: no token looks like that). The names the schema
/// expects are kept as they are.
pub fn scrub_parse_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let string_at = rest.find("string \"");
        let name_at = ["unknown field `", "unknown variant `"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
            .min();
        let (at, open, close) = match (string_at, name_at) {
            (Some(s), Some((n, _))) if s < n => (s, "string \"".len(), '"'),
            (Some(s), None) => (s, "string \"".len(), '"'),
            (_, Some((n, len))) => (n, len, '`'),
            (None, None) => break,
        };
        let body = &rest[at + open..];
        // The closing quote (serde escapes a quote inside a string as `\"`).
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if close == '"' && !escaped => escaped = true,
                c if c == close && !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            // No closing quote: the rest is the value.
            out.push_str(&rest[..at + open - 1]);
            out.push_str(&quote_untrusted(body));
            return out;
        };
        let value = &body[..end];
        let name_like = close == '`'
            && !value.is_empty()
            && value.len() <= 32
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
        if name_like {
            out.push_str(&rest[..at + open + end + 1]);
        } else {
            out.push_str(&rest[..at + open - 1]);
            out.push_str(&quote_untrusted(value));
        }
        rest = &body[end + close.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Where a parser blames a configuration file (TOML, YAML), and why, without
/// the offending text: the line it would show may hold a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrorAt {
    /// 1-based line and column (in characters) of the span's start, when the
    /// parser gave a span.
    pub line_column: Option<(usize, usize)>,
    /// The parser's message, scrubbed by [`scrub_parse_message`].
    pub message: String,
}

impl ParseErrorAt {
    /// The error for the byte `span` of `text` that a parser blames, with its
    /// `message` (such as `toml::de::Error::message`, which unlike the error's
    /// `Display` does not quote the line).
    pub fn new(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> ParseErrorAt {
        let line_column = span.map(|span| {
            let mut at = span.start.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let line = text.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            (line, text[line_start..at].chars().count() + 1)
        });
        ParseErrorAt {
            line_column,
            message: scrub_parse_message(message.trim()),
        }
    }

    /// `line LINE, column COLUMN: message`, or the message alone without a span.
    pub fn describe(&self) -> String {
        match self.line_column {
            Some((l, c)) => format!("line {l}, column {c}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// `PATH:LINE:COLUMN: message`, or `PATH: message` without a span.
    pub fn in_file(&self, path: &str) -> String {
        match self.line_column {
            Some((l, c)) => format!("{path}:{l}:{c}: {}", self.message),
            None => format!("{path}: {}", self.message),
        }
    }
}

/// A string holding a secret. `Debug` and `Display` print a redacted form; the
/// value is wiped from memory on drop. Get at it only through [`SecretString::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }
    /// The value itself. Call sites should be few and obvious.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Fingerprint of the value.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.0.as_bytes())
    }
    /// Redacted form of the value.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(s)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString({})", redact(&self.0))
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn untrusted_values_are_quoted_whole_only_when_plain() {
        assert_eq!(quote_untrusted("2023-01-04 12:00"), "\"2023-01-04 12:00\"");
        let q = quote_untrusted("glpat-Zx9Kq2Lm7Vb4Nc8Wp3Rt");
        assert!(!q.contains("Zx9Kq2Lm7Vb4Nc8Wp3Rt"), "{q}");
        assert!(q.contains("26 characters"), "{q}");
        assert!(!quote_untrusted(&"1".repeat(41)).contains(&"1".repeat(41)));
    }
    use super::*;

    #[test]
    fn parse_messages_quote_no_input_value_whole() {
        let token = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yh1Jd6Gf0Sa2Qe";
        for m in [
            format!("invalid type: string \"{token}\", expected u32"),
            format!("unknown variant `{token}`, expected one of `random`, `file`"),
            format!("unknown field `{token}`, expected `name` or `source`"),
            format!("invalid value: string \"a\\\"b {token}\", expected x"),
            format!("invalid type: string \"{token}"),
        ] {
            let s = scrub_parse_message(&m);
            assert!(!s.contains(&token[4..]), "{s}");
            assert!(s.contains("characters, not shown whole"), "{s}");
        }
        // The schema's names and plain values stay readable.
        assert_eq!(
            scrub_parse_message("unknown field `lenght`, expected `length` or `alphabet`"),
            "unknown field `lenght`, expected `length` or `alphabet`"
        );
        assert_eq!(
            scrub_parse_message("unknown variant `Ab1`, expected `random`"),
            "unknown variant \"…\" (3 characters, not shown whole), expected `random`"
        );
        assert_eq!(
            scrub_parse_message("invalid type: string \"12\", expected u32"),
            "invalid type: string \"12\", expected u32"
        );
        assert_eq!(
            scrub_parse_message("missing field `name`"),
            "missing field `name`"
        );
        let text = format!("version = 1\n\n[[secrets]]\nname = \"{token}\"\n");
        let at = text.find("\"ghp").unwrap();
        let e = ParseErrorAt::new(&text, Some(at..at + 10), "invalid string\nexpected `\"`\n");
        assert_eq!(e.in_file("p.toml"), "p.toml:4:8: invalid string\nexpected `\"`");
        assert_eq!(ParseErrorAt::new(&text, None, "x").in_file("p.toml"), "p.toml: x");
    }

    const FAKE: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn never_prints_whole() {
        let s = SecretString::new(FAKE);
        for shown in [format!("{s:?}"), format!("{s}"), s.redacted()] {
            assert!(!shown.contains(FAKE), "{shown}");
            assert!(!shown.contains("0123456789"), "{shown}");
        }
        assert_eq!(s.redacted(), "ghp_ab…");
        assert_eq!(redact("short"), "…");
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
