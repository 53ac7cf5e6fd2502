//! The scan rule-pack loader: YAML schema, regex compilation, examples, matching.

use firebreak_scan::rules::parse_rule_file;
use firebreak_scan::{RuleError, RuleSet};

/// A haystack with a little of everything rules look for.
pub fn haystack() -> String {
    format!(
        "export AWS_ACCESS_KEY_ID={}\npassword = \"q8Zr2LmX9vTa7Kp\"\ntoken: {}\n\
-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n\
url=https://user:pa55w0rd@example.com/x\n\u{00e9}\u{4e2d}\n",
        crate::fake::AWS_KEY_ID,
        crate::fake::GITHUB_PAT
    )
}

/// A rule file: parse, compile, check its examples, match a haystack and its own examples.
pub fn pack(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let defs = match parse_rule_file("fuzz/rules.yml", &text) {
        Ok(d) => d,
        Err(e) => {
            assert!(
                e.to_string().contains("fuzz/rules.yml"),
                "errors name the file: {e}"
            );
            return;
        }
    };
    // Examples can be huge; keep the work per input bounded.
    let examples: Vec<String> = defs
        .iter()
        .flat_map(|(_, d)| d.examples.iter().chain(&d.negative_examples))
        .take(64)
        .cloned()
        .collect();
    match RuleSet::compile(defs) {
        Ok(set) => {
            let _ = set.check_examples();
            let mut hay = haystack().into_bytes();
            for e in &examples {
                hay.extend_from_slice(e.as_bytes());
                hay.push(b'\n');
            }
            for m in set.find_in(&hay) {
                assert!(
                    m.start < m.end && m.end <= hay.len(),
                    "match span inside the haystack"
                );
                assert!(m.rule < set.len());
            }
            let _ = set.candidate_rules(&hay);
        }
        Err(e) => {
            let msg = e.to_string();
            match &e {
                RuleError::Pattern { .. } | RuleError::DuplicateId { .. } | RuleError::Parse { .. } => {
                    assert!(msg.contains("fuzz/rules.yml"), "errors name the file: {msg}")
                }
                RuleError::Io { .. } => {}
            }
        }
    }
}
