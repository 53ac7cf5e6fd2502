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
    // relative times (`now`, `7d`, `now-36h`) count as times: `now` removed, a unit
    // letter is plain right after a digit
    let lower = value.to_ascii_lowercase().replace("now", "");
    let mut prev_digit = false;
    let plain = value.chars().count() <= 40
        && lower.chars().all(|c| {
            let ok = c.is_ascii_digit() || " -:+.,/tz".contains(c) || (prev_digit && "smhdw".contains(c));
            prev_digit = c.is_ascii_digit();
            ok
        });
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

/// Finds secrets in text: implemented by the leak scanner's rule set (`firebreak-scan`)
/// and handed to the capabilities that copy untrusted text into their output (hunt,
/// incident), which pass every such string through [`redact_secrets`].
pub trait SecretMatcher: Send + Sync {
    /// Byte ranges of the secrets found in `text`, in any order; they may overlap.
    fn secret_spans(&self, text: &str) -> Vec<std::ops::Range<usize>>;
}

/// Sorts `spans`, clamps them to `text`, widens them to character boundaries and merges
/// the ones that overlap or touch.
fn normalise_spans(text: &str, mut spans: Vec<std::ops::Range<usize>>) -> Vec<std::ops::Range<usize>> {
    let len = text.len();
    for s in spans.iter_mut() {
        let mut a = s.start.min(len);
        let mut b = s.end.min(len).max(a);
        while !text.is_char_boundary(a) {
            a -= 1;
        }
        while !text.is_char_boundary(b) {
            b += 1;
        }
        *s = a..b;
    }
    spans.retain(|s| !s.is_empty());
    spans.sort_by_key(|s| (s.start, s.end));
    let mut out: Vec<std::ops::Range<usize>> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(l) if s.start <= l.end => l.end = l.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// `text` with every secret `matcher` finds replaced by its [`redact`]ed form (a few
/// leading characters and `…`). Borrowed unchanged when nothing is found.
pub fn redact_secrets<'a>(text: &'a str, matcher: &dyn SecretMatcher) -> std::borrow::Cow<'a, str> {
    redact_spans(text, matcher.secret_spans(text))
}

/// `text` with the given byte ranges replaced by their [`redact`]ed forms: ranges are
/// clamped, widened to character boundaries and merged where they overlap or touch.
/// Borrowed unchanged when there is none.
pub fn redact_spans(text: &str, spans: Vec<std::ops::Range<usize>>) -> std::borrow::Cow<'_, str> {
    let spans = normalise_spans(text, spans);
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        out.push_str(&text[at..s.start]);
        out.push_str(&redact(&text[s.clone()]));
        at = s.end;
    }
    out.push_str(&text[at..]);
    std::borrow::Cow::Owned(out)
}

/// Redacts several strings with one call of the matcher: they are joined with line
/// feeds (so a match cannot run from one value into the next on a single-line rule),
/// searched once, and each gets back its own part with the secrets [`redact`]ed. A
/// match that spans values is redacted in each of them.
pub fn redact_secrets_in(values: &mut [&mut String], matcher: &dyn SecretMatcher) {
    let mut joined = String::new();
    let mut bounds = Vec::with_capacity(values.len());
    for v in values.iter() {
        let start = joined.len();
        joined.push_str(v);
        bounds.push(start..joined.len());
        joined.push('\n');
    }
    let spans = normalise_spans(&joined, matcher.secret_spans(&joined));
    if spans.is_empty() {
        return;
    }
    for (v, b) in values.iter_mut().zip(bounds) {
        let mine: Vec<std::ops::Range<usize>> = spans
            .iter()
            .filter(|s| s.start < b.end && s.end > b.start)
            .map(|s| s.start.max(b.start) - b.start..s.end.min(b.end) - b.start)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut out = String::with_capacity(v.len());
        let mut at = 0;
        for s in normalise_spans(v, mine) {
            out.push_str(&v[at..s.start]);
            out.push_str(&redact(&v[s.clone()]));
            at = s.end;
        }
        out.push_str(&v[at..]);
        **v = out;
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
        // relative times are times, shown as typed
        assert_eq!(quote_untrusted("now"), "\"now\"");
        assert_eq!(quote_untrusted("7d..now"), "\"7d..now\"");
        assert_eq!(quote_untrusted("now-36h"), "\"now-36h\"");
        // letters not after a digit are not
        assert!(quote_untrusted("hdwms").contains("not shown whole"));
        assert!(quote_untrusted("ghp_1h").contains("not shown whole"));
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

    /// Finds `ghp_` followed by alphanumerics (a stand-in for the scanner's rules).
    struct Ghp;
    impl SecretMatcher for Ghp {
        fn secret_spans(&self, text: &str) -> Vec<std::ops::Range<usize>> {
            let mut out = Vec::new();
            let mut from = 0;
            while let Some(i) = text[from..].find("ghp_") {
                let s = from + i;
                let e = s
                    + 4
                    + text[s + 4..]
                        .bytes()
                        .take_while(|b| b.is_ascii_alphanumeric())
                        .count();
                out.push(s..e);
                from = e;
            }
            out
        }
    }

    #[test]
    fn redacts_only_the_spans() {
        let text = format!("curl/8.0 token={FAKE} and again {FAKE}.");
        let r = redact_secrets(&text, &Ghp);
        assert_eq!(r, "curl/8.0 token=ghp_ab… and again ghp_ab….");
        assert!(matches!(
            redact_secrets("nothing here", &Ghp),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn spans_are_widened_to_characters_and_merged() {
        struct Odd;
        impl SecretMatcher for Odd {
            fn secret_spans(&self, _: &str) -> Vec<std::ops::Range<usize>> {
                // inside the two-byte `é`, overlapping, and past the end
                vec![2..9, 5..12, 40..50]
            }
        }
        let r = redact_secrets("aé0123456789xyz", &Odd);
        // 2..9 starts inside `é` (bytes 1..3): widened to 1..9, merged with 5..12
        assert_eq!(r, "aé0…9xyz");
    }

    #[test]
    fn many_values_are_redacted_separately() {
        let mut a = format!("ua {FAKE}");
        let mut b = "plain".to_string();
        let mut c = FAKE.to_string();
        redact_secrets_in(&mut [&mut a, &mut b, &mut c], &Ghp);
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("ua ghp_ab…", "plain", "ghp_ab…")
        );
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
