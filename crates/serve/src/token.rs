//! Upload-token format: `fbu_` + 43 base62 characters (256 random bits) + 6 base62
//! characters (CRC32 of the 43-character part), 53 characters in all.
//!
//! The scanner rule `firebreak.upload_token` matches `\bfbu_[0-9A-Za-z]{49}\b`; the
//! checksum lets scanners and this service reject random look-alikes without a lookup.

use firebreak_core::SecretString;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every upload token.
pub const PREFIX: &str = "fbu_";
/// Length of the random part in base62 characters.
pub const RANDOM_LEN: usize = 43;
/// Length of the checksum part in base62 characters.
pub const CHECKSUM_LEN: usize = 6;
/// Total token length (prefix included).
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// The scanner's regular expression for upload tokens.
pub const SCAN_REGEX: &str = r"\bfbu_[0-9A-Za-z]{49}\b";

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a well-formed upload token (checked before any lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Missing `fbu_` prefix.
    #[error("not an upload token (missing fbu_ prefix)")]
    Prefix,
    /// Wrong length.
    #[error("upload token has the wrong length")]
    Length,
    /// A character outside `[0-9A-Za-z]`.
    #[error("upload token contains a character outside [0-9A-Za-z]")]
    Charset,
    /// Checksum does not match.
    #[error("upload token checksum does not match")]
    Checksum,
}

/// Encodes a big-endian byte string as base62, left-padded with `0` to `width`.
fn base62_bytes(bytes: &[u8], width: usize) -> String {
    let mut num: Vec<u8> = bytes.to_vec();
    let mut digits: Vec<u8> = Vec::with_capacity(width);
    while num.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for b in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*b);
            *b = (acc / 62) as u8;
            rem = acc % 62;
        }
        digits.push(ALPHABET[rem as usize]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).expect("ascii")
}

/// Base62 of the CRC32 of `random_part`, zero-padded to 6 characters.
pub fn checksum(random_part: &str) -> String {
    String::from_utf8(checksum_bytes(random_part).to_vec()).expect("ascii")
}

/// [`checksum`] without allocating (validation runs it on every request).
fn checksum_bytes(random_part: &str) -> [u8; CHECKSUM_LEN] {
    let mut crc = u64::from(crc32fast::hash(random_part.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    // 62^6 > 2^32: six digits always hold a CRC32.
    for d in out.iter_mut().rev() {
        *d = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    out
}

/// Builds a token from 32 random bytes (exposed for tests and for tools that derive tokens).
pub fn from_bytes(random: &[u8; 32]) -> SecretString {
    let body = base62_bytes(random, RANDOM_LEN);
    debug_assert_eq!(body.len(), RANDOM_LEN);
    let sum = checksum(&body);
    SecretString::new(format!("{PREFIX}{body}{sum}"))
}

/// Generates a new token from 256 bits of OS randomness.
pub fn generate() -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    from_bytes(&bytes)
}

/// Checks prefix, length, charset and checksum. Cheap: no allocation, no lookup.
pub fn validate_format(token: &str) -> Result<(), FormatError> {
    let rest = token.strip_prefix(PREFIX).ok_or(FormatError::Prefix)?;
    if rest.len() != RANDOM_LEN + CHECKSUM_LEN {
        return Err(FormatError::Length);
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::Charset);
    }
    let (body, sum) = rest.split_at(RANDOM_LEN);
    if checksum_bytes(body) != sum.as_bytes() {
        return Err(FormatError::Checksum);
    }
    Ok(())
}

/// SHA-256 of the whole token: what the database stores.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Public token identifier: `tok_` + the first 16 hex characters of the token's SHA-256
/// (so it also prefixes the scanner's `fingerprint` of a leaked token).
pub fn token_id_from_hash(h: &[u8; 32]) -> String {
    format!("tok_{}", hex::encode(&h[..8]))
}

/// Public identifier of a token.
pub fn token_id(token: &str) -> String {
    token_id_from_hash(&hash(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed() {
        let re = regex_lite(SCAN_REGEX);
        for _ in 0..200 {
            let t = generate();
            assert_eq!(t.len(), TOKEN_LEN);
            assert!(validate_format(t.expose()).is_ok());
            assert!(re(t.expose()));
        }
    }

    // The scanner rule without pulling in the regex crate: prefix + 49 alphanumerics.
    fn regex_lite(_: &str) -> impl Fn(&str) -> bool {
        |s: &str| s.len() == 53 && s.starts_with("fbu_") && s[4..].bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn extremes_encode_to_fixed_width() {
        let zero = from_bytes(&[0u8; 32]);
        assert!(zero.expose().starts_with("fbu_0000000000"));
        let max = from_bytes(&[0xffu8; 32]);
        assert_eq!(max.len(), TOKEN_LEN);
        assert!(validate_format(max.expose()).is_ok());
        assert!(validate_format(zero.expose()).is_ok());
    }

    #[test]
    fn rejects_malformed() {
        let t = generate();
        let s = t.expose();
        assert_eq!(validate_format("ghp_x"), Err(FormatError::Prefix));
        assert_eq!(validate_format(&s[..52]), Err(FormatError::Length));
        let mut bad = s.to_string();
        bad.replace_range(10..11, "-");
        assert_eq!(validate_format(&bad), Err(FormatError::Charset));
        // Flip one character of the random part: checksum must catch it.
        let mut flipped = s.as_bytes().to_vec();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(validate_format(&flipped), Err(FormatError::Checksum));
    }

    #[test]
    fn checksum_matches_generic_base62() {
        for s in ["", "a", "0000000000000000000000000000000000000000000", "zzzz"] {
            let crc = crc32fast::hash(s.as_bytes());
            assert_eq!(checksum(s), base62_bytes(&crc.to_be_bytes(), CHECKSUM_LEN));
        }
        for _ in 0..200 {
            let t = generate();
            let body = &t.expose()[PREFIX.len()..PREFIX.len() + RANDOM_LEN];
            let crc = crc32fast::hash(body.as_bytes());
            assert_eq!(checksum(body), base62_bytes(&crc.to_be_bytes(), CHECKSUM_LEN));
        }
    }

    #[test]
    fn token_id_prefixes_fingerprint() {
        let t = generate();
        let id = token_id(t.expose());
        assert_eq!(id.len(), 20);
        assert!(t.fingerprint().starts_with(&id[4..]));
    }
}
