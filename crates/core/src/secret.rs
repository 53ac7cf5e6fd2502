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
