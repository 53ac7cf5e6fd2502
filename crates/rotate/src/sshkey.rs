//! Ed25519 key pairs in OpenSSH formats (public `ssh-ed25519 AAAA… comment`, private
//! `-----BEGIN OPENSSH PRIVATE KEY-----`, unencrypted as deploy keys stored in CI are),
//! and their fingerprints, through the `ssh-key` crate (keys from `ed25519-dalek`).

use ed25519_dalek::SigningKey;
use firebreak_core::SecretString;
use md5::{Digest as _, Md5};
use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

/// A generated key pair.
pub struct KeyPair {
    /// `ssh-ed25519 AAAA… comment`.
    pub public: String,
    /// OpenSSH private key file text.
    pub private: SecretString,
}

/// Generates an Ed25519 pair with OsRng.
pub fn generate(comment: &str) -> KeyPair {
    let sk = SigningKey::generate(&mut rand::rngs::OsRng);
    pair(&sk, comment)
}

/// The pair for a given seed (deterministic; tests).
pub fn from_seed(seed: &[u8; 32], comment: &str) -> KeyPair {
    pair(&SigningKey::from_bytes(seed), comment)
}

fn pair(sk: &SigningKey, comment: &str) -> KeyPair {
    // `Ed25519Keypair` zeroizes its private half on drop, and so does `PrivateKey`
    let key = PrivateKey::new(KeypairData::Ed25519(Ed25519Keypair::from(sk)), comment)
        .expect("an unencrypted Ed25519 key pair is always valid");
    let public = key
        .public_key()
        .to_openssh()
        .expect("an Ed25519 public key always encodes");
    // a self-zeroizing copy, wiped when dropped here
    let pem = key
        .to_openssh(LineEnding::LF)
        .expect("an Ed25519 private key always encodes");
    KeyPair {
        public,
        private: SecretString::new(pem.as_str()),
    }
}

/// The public key line (`ssh-ed25519 AAAA… comment`, with `comment`) of an OpenSSH
/// private key; `None` when `private` is not one (the error, which may quote the key, is
/// dropped).
pub fn public_of_private(private: &str, comment: &str) -> Option<String> {
    let key = PrivateKey::from_openssh(private).ok()?;
    let mut public = key.public_key().clone();
    public.set_comment(comment);
    public.to_openssh().ok()
}

/// The SHA-256 fingerprint of a public key line, as `ssh-keygen -lf` prints it and GitHub
/// shows deploy keys: `SHA256:` then unpadded base64. `None` when `public` does not parse.
pub fn fingerprint_sha256(public: &str) -> Option<String> {
    let key = PublicKey::from_openssh(public).ok()?;
    Some(key.fingerprint(HashAlg::Sha256).to_string())
}

/// The MD5 fingerprint of a public key line as CircleCI lists checkout keys: lowercase
/// hex pairs joined by `:` (what `ssh-keygen -E md5 -lf` prints after `MD5:`). `None`
/// when `public` does not parse.
pub fn fingerprint_md5(public: &str) -> Option<String> {
    let blob = PublicKey::from_openssh(public).ok()?.to_bytes().ok()?;
    let digest = Md5::digest(&blob);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::io::Write as _;

    /// The SSH wire encoding of an Ed25519 public key, written out by hand.
    fn wire_blob(pk: &[u8; 32]) -> Vec<u8> {
        let mut b = Vec::new();
        for part in [&b"ssh-ed25519"[..], &pk[..]] {
            b.extend_from_slice(&(part.len() as u32).to_be_bytes());
            b.extend_from_slice(part);
        }
        b
    }

    #[test]
    fn openssh_formats() {
        let kp = from_seed(&[7u8; 32], "firebreak");
        let pk = SigningKey::from_bytes(&[7u8; 32]).verifying_key().to_bytes();
        let b64 = base64::engine::general_purpose::STANDARD.encode(wire_blob(&pk));
        assert_eq!(kp.public, format!("ssh-ed25519 {b64} firebreak"));
        assert!(kp
            .private
            .expose()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"));
        assert!(kp
            .private
            .expose()
            .ends_with("\n-----END OPENSSH PRIVATE KEY-----\n"));
        assert_eq!(
            public_of_private(kp.private.expose(), "firebreak").unwrap(),
            kp.public
        );
        assert_eq!(
            public_of_private(kp.private.expose(), "other").unwrap(),
            format!("ssh-ed25519 {b64} other")
        );
        assert_eq!(public_of_private("not a key", "x"), None);
        let k2 = generate("x");
        assert_ne!(k2.public, kp.public);
    }

    #[test]
    fn generated_keys_parse_and_the_private_half_matches_the_public() {
        let kp = generate("firebreak-test");
        let public = PublicKey::from_openssh(&kp.public).unwrap();
        assert_eq!(public.algorithm(), ssh_key::Algorithm::Ed25519);
        assert_eq!(public.comment(), "firebreak-test");
        let private = PrivateKey::from_openssh(kp.private.expose()).unwrap();
        assert!(!private.is_encrypted());
        assert_eq!(private.public_key().key_data(), public.key_data());
        // the private half signs what the public half verifies
        let ed = private.key_data().ed25519().expect("an Ed25519 key");
        let sk = SigningKey::from(&ed.private);
        use ed25519_dalek::{Signer as _, Verifier as _};
        let sig = sk.sign(b"firebreak");
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&public.key_data().ed25519().unwrap().0).unwrap();
        assert!(vk.verify(b"firebreak", &sig).is_ok());
    }

    #[test]
    fn fingerprints_are_sha256_base64_and_md5_hex_of_the_key_blob() {
        let kp = from_seed(&[7u8; 32], "firebreak");
        let pk = SigningKey::from_bytes(&[7u8; 32]).verifying_key().to_bytes();
        let blob = wire_blob(&pk);
        let sha = sha2::Sha256::digest(&blob);
        let want = format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha)
        );
        assert_eq!(fingerprint_sha256(&kp.public).unwrap(), want);
        // the inventory's parser-free fingerprint agrees with the ssh-key crate's
        assert_eq!(firebreak_core::model::openssh_sha256(&kp.public).unwrap(), want);
        let md5 = fingerprint_md5(&kp.public).unwrap();
        assert_eq!(md5, hex_colons(&Md5::digest(&blob)));
        assert_eq!(md5.len(), 16 * 3 - 1);
        // the comment is not part of the key
        let other = kp.public.replace("firebreak", "someone else");
        assert_eq!(fingerprint_sha256(&other).unwrap(), want);
        assert_eq!(fingerprint_md5(&other).unwrap(), md5);
        assert_eq!(fingerprint_sha256("ssh-ed25519 !!!"), None);
        assert_eq!(fingerprint_md5(""), None);
    }

    fn hex_colons(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
    }

    /// Runs `ssh-keygen` with `args`; `None` (with the reason printed) when it is not
    /// installed.
    fn ssh_keygen(args: &[&str]) -> Option<String> {
        match std::process::Command::new("ssh-keygen").args(args).output() {
            Ok(o) => {
                assert!(
                    o.status.success(),
                    "ssh-keygen {args:?} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                Some(String::from_utf8(o.stdout).unwrap())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipped: ssh-keygen is not installed ({e})");
                None
            }
            Err(e) => panic!("cannot run ssh-keygen: {e}"),
        }
    }

    /// OpenSSH reads what we write, and prints the same fingerprints we compute.
    #[test]
    fn ssh_keygen_agrees_on_the_keys_and_their_fingerprints() {
        let d = tempfile::tempdir().unwrap();
        let kp = generate("firebreak-keygen");
        let pub_path = d.path().join("id.pub");
        std::fs::write(&pub_path, format!("{}\n", kp.public)).unwrap();
        let pub_path = pub_path.to_str().unwrap();
        let Some(sha) = ssh_keygen(&["-l", "-f", pub_path]) else {
            return;
        };
        // `256 SHA256:… firebreak-keygen (ED25519)`
        let fields: Vec<&str> = sha.split_whitespace().collect();
        assert_eq!(fields.first(), Some(&"256"), "{sha}");
        assert_eq!(fields.last(), Some(&"(ED25519)"), "{sha}");
        assert_eq!(fields.get(1).copied(), fingerprint_sha256(&kp.public).as_deref());
        let md5 = ssh_keygen(&["-E", "md5", "-l", "-f", pub_path]).unwrap();
        let want = format!("MD5:{}", fingerprint_md5(&kp.public).unwrap());
        assert_eq!(md5.split_whitespace().nth(1), Some(want.as_str()), "{md5}");
        // the private key file is one OpenSSH reads: it derives the same public key
        use std::os::unix::fs::OpenOptionsExt as _;
        let priv_path = d.path().join("id");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&priv_path)
            .unwrap();
        f.write_all(kp.private.expose().as_bytes()).unwrap();
        drop(f);
        let derived = ssh_keygen(&["-y", "-f", priv_path.to_str().unwrap()]).unwrap();
        let key_part = |l: &str| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(key_part(&derived), key_part(&kp.public));
    }
}
