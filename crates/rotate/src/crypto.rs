//! Encryption at rest of new credential material kept in the journal between
//! "issued" and "done": ChaCha20-Poly1305 with a random 96-bit nonce per value, the
//! row's identity as associated data. Key: 32 bytes, base64, from `FIREBREAK_ROTATE_KEY`
//! or a key file (`--key-file`).

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use firebreak_core::SecretString;
use rand::RngCore;
use std::path::Path;
use zeroize::Zeroize;

/// Environment variable holding the base64 key.
pub const KEY_ENV: &str = "FIREBREAK_ROTATE_KEY";

/// The AEAD key. Never printed.
#[derive(Clone)]
pub struct SealKey {
    cipher: ChaCha20Poly1305,
    /// Key of the journal's fingerprints, derived from the rotation key (HMAC-SHA256 of
    /// a fixed label), so that a fingerprint cannot be checked without the key.
    fp_key: [u8; 32],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(…)")
    }
}

/// Why a key could not be loaded or a value not decrypted.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// No key configured.
    #[error("no rotation key: set {KEY_ENV} to 32 random bytes in base64 (e.g. `openssl rand -base64 32`) or pass --key-file")]
    Missing,
    /// Bad key text.
    #[error("rotation key from {0} is not 32 bytes of base64")]
    BadKey(String),
    /// Key file unreadable.
    #[error("cannot read key file {path}: {message}")]
    File {
        /// Path.
        path: String,
        /// OS error.
        message: String,
    },
    /// Wrong key or tampered ciphertext.
    #[error("cannot decrypt journal value for {0}: wrong rotation key or corrupted journal")]
    Decrypt(String),
}

impl SealKey {
    /// A key from 32 raw bytes.
    pub fn from_bytes(b: &[u8; 32]) -> Self {
        use hmac::Mac as _;
        let mut m =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b).expect("HMAC takes any key length");
        m.update(b"firebreak rotation journal fingerprints v1");
        let fp_key: [u8; 32] = m.finalize().into_bytes().into();
        SealKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(b)),
            fp_key,
        }
    }

    /// The keyed fingerprint (`k1:` + HMAC-SHA256, hex) the journal keeps of a value:
    /// never a plain hash, so a copy of the store cannot be checked against candidate
    /// values without the rotation key.
    pub fn fingerprint(&self, value: &SecretString) -> String {
        firebreak_store::keyed::keyed(&self.fp_key, value.expose().as_bytes())
    }

    /// Parses base64 text (standard or URL-safe, padding optional).
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, CryptoError> {
        let t = text.trim();
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
            .map_err(|_| CryptoError::BadKey(origin.to_string()))?;
        if bytes.len() != 32 {
            bytes.zeroize();
            return Err(CryptoError::BadKey(origin.to_string()));
        }
        let mut arr = [0u8; 32];
        arr.copy_from_slice(&bytes);
        bytes.zeroize();
        let k = SealKey::from_bytes(&arr);
        arr.zeroize();
        Ok(k)
    }

    /// Loads the key from `file` when given, else from `FIREBREAK_ROTATE_KEY`.
    pub fn load(file: Option<&Path>) -> Result<Self, CryptoError> {
        if let Some(p) = file {
            let mut s = std::fs::read_to_string(p).map_err(|e| CryptoError::File {
                path: p.display().to_string(),
                message: e.to_string(),
            })?;
            let k = SealKey::from_base64(&s, &p.display().to_string());
            s.zeroize();
            return k;
        }
        match std::env::var(KEY_ENV) {
            Ok(mut v) if !v.trim().is_empty() => {
                let k = SealKey::from_base64(&v, KEY_ENV);
                v.zeroize();
                k
            }
            _ => Err(CryptoError::Missing),
        }
    }

    /// A fresh random key (tests, harness).
    pub fn generate() -> (Self, String) {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let text = base64::engine::general_purpose::STANDARD.encode(b);
        let k = SealKey::from_bytes(&b);
        b.zeroize();
        (k, text)
    }

    /// Encrypts `value`; `aad` binds it to its row. Output: nonce (12 bytes) || ciphertext.
    pub fn seal(&self, value: &SecretString, aad: &str) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption does not fail for in-memory sizes");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`SealKey::seal`] produced with the same `aad`.
    pub fn open(&self, blob: &[u8], aad: &str) -> Result<SecretString, CryptoError> {
        if blob.len() < 12 + 16 {
            return Err(CryptoError::Decrypt(aad.to_string()));
        }
        let (n, ct) = blob.split_at(12);
        let mut pt = self
            .cipher
            .decrypt(
                Nonce::from_slice(n),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt(aad.to_string()))?;
        let s = String::from_utf8(pt.clone()).map_err(|_| CryptoError::Decrypt(aad.to_string()));
        pt.zeroize();
        s.map(SecretString::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_binding() {
        let (k, text) = SealKey::generate();
        let v = SecretString::new("value-that-is-secret-123");
        let blob = k.seal(&v, "run/a");
        assert!(!blob.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open(&blob, "run/a").unwrap(), v);
        assert!(k.open(&blob, "run/b").is_err());
        let k2 = SealKey::from_base64(&text, "t").unwrap();
        assert_eq!(k2.open(&blob, "run/a").unwrap(), v);
        let (other, _) = SealKey::generate();
        assert!(other.open(&blob, "run/a").is_err());
        assert!(SealKey::from_base64("c2hvcnQ=", "t").is_err());
    }
}
