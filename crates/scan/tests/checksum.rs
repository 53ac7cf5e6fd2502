//! A token whose vendor checksum fails is reported one confidence level lower.

use firebreak_scan::{RuleSet, ScanOptions, Scanner};

fn token(prefix: &str, random: &str) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32fast::hash(random.as_bytes());
    let mut sum = [b'0'; 6];
    for s in sum.iter_mut().rev() {
        *s = B62[(n % 62) as usize];
        n /= 62;
    }
    format!("{prefix}{random}{}", String::from_utf8_lossy(&sum))
}

/// Writes `NAME1=good` and `NAME2=bad` (`good` with its checksum spoiled) to `file` and
/// checks that `rule` finds the first at high confidence and the second at medium.
fn checksum_decides(prefix: &str, random: &str, spoil: &str, rule: &str, file: &str, names: [&str; 2]) {
    let good = token(prefix, random);
    let mut bad = good.clone();
    bad.replace_range(good.len() - 6.., spoil);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(file);
    std::fs::write(&f, format!("{}={good}\n{}={bad}\n", names[0], names[1])).unwrap();
    let s = Scanner::new(RuleSet::builtin().unwrap(), ScanOptions::default());
    let rep = s.scan_paths(&[f]);
    let conf = |line: u64| {
        rep.findings
            .iter()
            .find(|x| x.line == line && x.rule_id == rule)
            .map(|x| x.confidence)
    };
    assert_eq!(
        conf(1),
        Some(firebreak_core::Confidence::High),
        "{:?}",
        rep.findings
    );
    assert_eq!(
        conf(2),
        Some(firebreak_core::Confidence::Medium),
        "{:?}",
        rep.findings
    );
}

#[test]
fn checksum_decides_between_high_and_medium() {
    checksum_decides(
        "ghp_",
        "Lk8bGk2PqR7tLm4nVw9sQw3rTy8uIo",
        "AAAAAA",
        "github.pat_classic",
        "ci.log",
        ["GITHUB_TOKEN", "OTHER_TOKEN"],
    );
}

/// NetBird's personal access tokens carry the same checksum as GitHub's: `nbp_`, 30 random
/// base62 characters, then their CRC-32 (IEEE) in 6 zero-padded base62 characters (NetBird
/// management generates them so and rejects a token whose checksum does not decode to it).
#[test]
fn netbird_tokens_are_checked_like_github_tokens() {
    checksum_decides(
        "nbp_",
        "Qx7bHk2PqR9tLm4nVw3sZw8rTy1uIo",
        "zzzzzz",
        "netbird.pat",
        "deploy.env",
        ["NETBIRD_API_TOKEN", "NB_TOKEN_OLD"],
    );
}
