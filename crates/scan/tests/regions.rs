//! Findings carry where the secret ends: one-line secrets end on their line, a private
//! key ends lines later; SARIF regions carry `endLine` / `endColumn` (exclusive).

use firebreak_scan::{RuleSet, ScanOptions, Scanner};

#[test]
fn end_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("leak.txt");
    let body = "MIIEowIBAAKCAQEA0Zx8bGk2PqR7tLm4nVw9sQw3rTy8uIoP2aSdF4gHjZx8bGk2PqR7\ntLm4nVw9sQw3rTy8uIoP2aSdF4gHjZx8bGk2PqR7tLm4nVw9sQw3rTy8uIoP2aSdF4gH\n";
    std::fs::write(
        &f,
        format!(
            "id=AKIAJ5RVH2M4XQ7LZ3PB\n-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\n"
        ),
    )
    .unwrap();
    let s = Scanner::new(RuleSet::builtin().unwrap(), ScanOptions::default());
    let rep = s.scan_paths(&[f]);
    let aws = rep
        .findings
        .iter()
        .find(|x| x.rule_id == "aws.access_key_id")
        .expect("aws");
    assert_eq!(
        (aws.line, aws.column, aws.end_line, aws.end_column),
        (1, 4, 1, 24)
    );
    let key = rep
        .findings
        .iter()
        .find(|x| x.rule_id.contains("private_key"))
        .unwrap_or_else(|| panic!("{:?}", rep.findings));
    assert_eq!(key.line, 2);
    assert!(key.end_line >= 4, "{key:?}");
}
