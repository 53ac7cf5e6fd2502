//! The one redaction path for free text that came from outside: provider error bodies,
//! source replies, copied log fields. [`scrub`] replaces every part of a text that looks
//! like a secret with its [`redact`]ed form and leaves the rest readable.
//!
//! Two detectors run:
//! - the *registered matcher* ([`set_matcher`]): the CLI registers the scanner's own
//!   rules at start-up, so whatever `firebreak scan` would report is redacted here too;
//! - a built-in fallback that needs no rules: values of `password=` / `token:`-style
//!   assignments, the password of `scheme://user:password@host`, `Bearer` / `Basic`
//!   credentials, and token-shaped words (long runs mixing letters and digits, or
//!   carrying a well-known vendor prefix). Lowercase hexadecimal words (digests,
//!   fingerprints, commit ids) and UUIDs are left alone.

use std::ops::Range;
use std::sync::{Arc, OnceLock, RwLock};

pub use crate::secret::{redact_spans, SecretMatcher};

type Factory = fn() -> Option<Arc<dyn SecretMatcher>>;

fn registry() -> &'static RwLock<Option<Arc<dyn SecretMatcher>>> {
    static M: OnceLock<RwLock<Option<Arc<dyn SecretMatcher>>>> = OnceLock::new();
    M.get_or_init(|| RwLock::new(None))
}

fn factory() -> &'static OnceLock<Factory> {
    static F: OnceLock<Factory> = OnceLock::new();
    &F
}

/// Registers the process-wide matcher used by [`scrub`] beside the built-in fallback
/// (the CLI registers the scanner's rule set). A later call replaces the earlier one.
pub fn set_matcher(m: Arc<dyn SecretMatcher>) {
    *registry().write().unwrap_or_else(|e| e.into_inner()) = Some(m);
}

/// Registers how to build the matcher the first time [`scrub`] needs it, so a command
/// that never scrubs anything never pays for it (the CLI: the scanner's rule set).
pub fn set_matcher_factory(f: Factory) {
    let _ = factory().set(f);
}

/// The registered matcher, if any (built by the factory on first use).
pub fn matcher() -> Option<Arc<dyn SecretMatcher>> {
    if let Some(m) = registry().read().unwrap_or_else(|e| e.into_inner()).clone() {
        return Some(m);
    }
    let f = factory().get()?;
    static BUILT: OnceLock<Option<Arc<dyn SecretMatcher>>> = OnceLock::new();
    BUILT.get_or_init(f).clone()
}

/// Vendor prefixes whose words are always secrets, whatever their length.
const PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "gldt-",
    "glptt-",
    "glrt-",
    "glcbt-",
    "AKIA",
    "ASIA",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "xapp-",
    "sk_live_",
    "rk_live_",
    "sk_test_",
    "npm_",
    "pypi-",
    "fbu_",
    "dckr_pat_",
    "hvs.",
    "hvb.",
    "SG.",
    "CCIPAT_",
    "CCIPRJ_",
];

/// Assignment names whose value is a secret.
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "private_key",
    "credential",
    "auth",
];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'/' | b'=' | b'.' | b'~')
}

/// A segment of a path or dotted name that reads as a word: lowercase (with digits and
/// `-`/`_`), or one capitalised word.
fn wordy(seg: &str) -> bool {
    let mut cs = seg.chars();
    match cs.next() {
        None => true,
        Some(c) if c.is_ascii_uppercase() => cs.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        Some(_) => seg
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '~'),
    }
}

fn token_shaped(w: &str) -> bool {
    let w = w.trim_end_matches(['.', '=']);
    if PREFIXES
        .iter()
        .any(|p| w.starts_with(p) && w.len() >= p.len() + 8)
    {
        return true;
    }
    if w.len() < 20 {
        return false;
    }
    let lower_hex = w
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if lower_hex {
        return false; // digests, fingerprints, commit ids
    }
    let uuid = w.len() == 36
        && w.bytes().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    if uuid {
        return false;
    }
    // paths, hostnames and dotted names made of words are not secrets
    if (w.contains('/') || w.contains('.')) && w.split(['/', '.']).all(wordy) {
        return false;
    }
    let digits = w.bytes().filter(u8::is_ascii_digit).count();
    let upper = w.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = w.bytes().filter(u8::is_ascii_lowercase).count();
    let symbols = w.contains(['+', '/']);
    // random-looking: both cases, some digits (or base64 symbols), and letters dominate
    // (a timestamp-based id is mostly digits)
    upper >= 2 && lower >= 2 && (digits >= 2 || (digits >= 1 && symbols)) && (upper + lower) * 2 >= digits
}

/// Spans found by the built-in fallback.
fn fallback_spans(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let lb = lower.as_bytes();
    // assignments: NAME[=:] VALUE, NAME containing a secret name
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' || b[i] == b':' {
            let mut s = i;
            while s > 0
                && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'_' | b'-' | b'"' | b'\''))
            {
                s -= 1;
            }
            let name = &lower[s..i];
            let is_url = b.get(i + 1) == Some(&b'/') && b.get(i + 2) == Some(&b'/');
            if !is_url && SECRET_NAMES.iter().any(|n| name.contains(n)) {
                let mut v = i + 1;
                while v < b.len() && matches!(b[v], b' ' | b'"' | b'\'') {
                    v += 1;
                }
                let start = v;
                while v < b.len()
                    && !matches!(
                        b[v],
                        b' ' | b'"' | b'\'' | b',' | b';' | b'&' | b'\n' | b'\r' | b'}' | b')'
                    )
                {
                    v += 1;
                }
                if v > start + 3 {
                    out.push(start..v);
                }
                i = v.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    // scheme://user:password@host
    let mut from = 0;
    while let Some(p) = lower[from..].find("://") {
        let s = from + p + 3;
        let end = b[s..]
            .iter()
            .position(|&c| matches!(c, b'/' | b' ' | b'\n' | b'"' | b'\'' | b'?' | b'#'))
            .map_or(b.len(), |e| s + e);
        if let Some(at) = text[s..end].rfind('@') {
            if let Some(colon) = text[s..s + at].find(':') {
                if at > colon + 1 {
                    out.push(s + colon + 1..s + at);
                }
            }
        }
        from = s;
    }
    // Authorization schemes
    for scheme in ["bearer ", "basic ", "token "] {
        let mut from = 0;
        while let Some(p) = lower[from..].find(scheme) {
            let s = from + p + scheme.len();
            let e = b[s..]
                .iter()
                .position(|&c| !is_word_byte(c))
                .map_or(b.len(), |e| s + e);
            if e > s + 7 {
                out.push(s..e);
            }
            from = s;
        }
    }
    // token-shaped words
    let mut i = 0;
    while i < lb.len() {
        if is_word_byte(b[i]) {
            let s = i;
            while i < b.len() && is_word_byte(b[i]) {
                i += 1;
            }
            if token_shaped(&text[s..i]) {
                out.push(s..i);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// `text` with every secret-looking part replaced by its redacted form (see the module
/// documentation). Text without any is returned unchanged.
pub fn scrub(text: &str) -> String {
    let mut spans = fallback_spans(text);
    if let Some(m) = matcher() {
        spans.extend(m.secret_spans(text));
    }
    redact_spans(text, spans).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GH: &str = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yu1Io6Pa0Sd2Fg4";

    #[test]
    fn redacts_tokens_assignments_urls_and_auth_headers() {
        let cases = [
            format!("HTTP 401: bad credentials for token {GH}"),
            "source answered error: password=hunter2hunter2 rejected".to_string(),
            "POST https://deploy:s3cr3tPassw0rd@example.com/x: HTTP 500".to_string(),
            "header Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl".to_string(),
            "reply: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".to_string(),
            "aws said: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY is invalid".to_string(),
            r#"{"error":"invalid","api_key":"a1b2c3d4e5f6g7h8"}"#.to_string(),
        ];
        let secrets = [
            "Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yu1",
            "hunter2hunter2",
            "s3cr3tPassw0rd",
            "eyJzdWIiOiIx",
            "dozjgNryP4J3jVmNHl0w5N",
            "MDENG/bPxRfiCYEXAMPLEKEY",
            "a1b2c3d4e5f6g7h8",
        ];
        for (c, s) in cases.iter().zip(secrets) {
            let out = scrub(c);
            assert!(!out.contains(s), "{c:?} -> {out:?}");
            assert!(out.contains('…'), "{out}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for t in [
            "POST https://api.github.com/repos/acme/app/keys: HTTP 422 Unprocessable Entity",
            "fp=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "context 0f5c2a8e-4b1d-4c3e-9a7f-2d6e8b1c3a5f not found",
            "the old credential is still valid (not revoked); the new one is valid too",
            "run 20230104T120000Z-1a2b3c4d started at 2023-01-04T12:00:00.000000Z",
        ] {
            assert_eq!(scrub(t), t);
        }
    }

    struct Fixed;
    impl SecretMatcher for Fixed {
        fn secret_spans(&self, text: &str) -> Vec<Range<usize>> {
            text.find("opaque").map(|i| i..i + 14).into_iter().collect()
        }
    }

    #[test]
    fn registered_matcher_and_spans_merge() {
        assert_eq!(redact_spans("abcdefghij", vec![0..4, 2..6, 8..10]), "…gh…");
        // multi-byte boundaries are widened, never split
        assert_eq!(
            redact_spans("é-secret", std::iter::once(1..3).collect()),
            "…secret"
        );
        set_matcher(Arc::new(Fixed));
        let out = scrub("value opaque12345678 here");
        assert!(!out.contains("opaque12345678"), "{out}");
        assert!(matcher().is_some());
    }
}
