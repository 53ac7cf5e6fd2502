//! Ed25519 key pairs in OpenSSH formats (public `ssh-ed25519 AAAA… comment`, private
//! `-----BEGIN OPENSSH PRIVATE KEY-----`, unencrypted as deploy keys stored in CI are).

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use firebreak_core::SecretString;
use rand::RngCore;
use zeroize::Zeroize;

/// A generated key pair.
pub struct KeyPair {
    /// `ssh-ed25519 AAAA… comment`.
    pub public: String,
    /// OpenSSH private key file text.
    pub private: SecretString,
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// The public key blob (`string "ssh-ed25519" || string pk`).
fn public_blob(pk: &[u8; 32]) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, b"ssh-ed25519");
    put_str(&mut b, pk);
    b
}

/// Generates an Ed25519 pair with OsRng.
pub fn generate(comment: &str) -> KeyPair {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let kp = from_seed(&seed, comment);
    seed.zeroize();
    kp
}

/// The pair for a given seed (deterministic; tests).
pub fn from_seed(seed: &[u8; 32], comment: &str) -> KeyPair {
    let sk = SigningKey::from_bytes(seed);
    let pk = sk.verifying_key().to_bytes();
    let b64 = base64::engine::general_purpose::STANDARD;
    let public = format!("ssh-ed25519 {} {comment}", b64.encode(public_blob(&pk)));
    let mut check = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut check);
    let mut priv_sec = Vec::new();
    priv_sec.extend_from_slice(&check);
    priv_sec.extend_from_slice(&check);
    put_str(&mut priv_sec, b"ssh-ed25519");
    put_str(&mut priv_sec, &pk);
    let mut kp64 = [0u8; 64];
    kp64[..32].copy_from_slice(seed);
    kp64[32..].copy_from_slice(&pk);
    put_str(&mut priv_sec, &kp64);
    kp64.zeroize();
    put_str(&mut priv_sec, comment.as_bytes());
    let mut pad = 1u8;
    while priv_sec.len() % 8 != 0 {
        priv_sec.push(pad);
        pad += 1;
    }
    let mut blob = Vec::new();
    blob.extend_from_slice(b"openssh-key-v1\0");
    put_str(&mut blob, b"none");
    put_str(&mut blob, b"none");
    put_str(&mut blob, b"");
    blob.extend_from_slice(&1u32.to_be_bytes());
    put_str(&mut blob, &public_blob(&pk));
    put_str(&mut blob, &priv_sec);
    priv_sec.zeroize();
    let mut text = b64.encode(&blob);
    blob.zeroize();
    let mut pem = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for chunk in text.as_bytes().chunks(70) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    text.zeroize();
    KeyPair {
        public,
        private: SecretString::new(pem),
    }
}

/// The public key line of an OpenSSH private key produced by [`generate`] (checks the format).
pub fn public_of_private(private: &str, comment: &str) -> Option<String> {
    let body: String = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    let mut blob = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    let res = (|| {
        let rest = blob.strip_prefix(b"openssh-key-v1\0")?;
        let read = |b: &[u8]| -> Option<(Vec<u8>, usize)> {
            let n = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
            Some((b.get(4..4 + n)?.to_vec(), 4 + n))
        };
        let mut off = 0;
        for _ in 0..3 {
            let (_, n) = read(&rest[off..])?;
            off += n;
        }
        off += 4;
        let (pubblob, _) = read(&rest[off..])?;
        Some(format!(
            "ssh-ed25519 {} {comment}",
            base64::engine::general_purpose::STANDARD.encode(pubblob)
        ))
    })();
    blob.zeroize();
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_formats() {
        let kp = from_seed(&[7u8; 32], "firebreak");
        assert!(kp.public.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        assert!(kp
            .private
            .expose()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"));
        assert_eq!(
            public_of_private(kp.private.expose(), "firebreak").unwrap(),
            kp.public
        );
        let k2 = generate("x");
        assert_ne!(k2.public, kp.public);
    }
}
