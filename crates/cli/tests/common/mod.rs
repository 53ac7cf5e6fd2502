//! Helpers shared by the CLI tests.

/// A GitHub token with the documented shape: prefix, 30 random base62 characters, and
/// their CRC32 in base62 (6 characters, zero-padded), so that its checksum holds.
#[allow(dead_code)]
pub fn gh_token(prefix: &str, seed: &str) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body: String = seed
        .chars()
        .cycle()
        .filter(char::is_ascii_alphanumeric)
        .take(30)
        .collect();
    let mut n = crc32fast::hash(body.as_bytes());
    let mut cs = Vec::new();
    while n > 0 {
        cs.push(B62[(n % 62) as usize]);
        n /= 62;
    }
    while cs.len() < 6 {
        cs.push(b'0');
    }
    cs.reverse();
    format!("{prefix}{body}{}", String::from_utf8(cs).unwrap())
}
