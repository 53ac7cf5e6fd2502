//! The scanner's rules as a [`SecretMatcher`]: other capabilities (hunt, incident) find
//! and redact secrets in the untrusted text they copy into their output with the very
//! rules `firebreak scan` uses.

use crate::rules::RuleSet;
use crate::Scanner;
use firebreak_core::secret::SecretMatcher;
use std::ops::Range;

impl RuleSet {
    /// Byte ranges of the secrets in `hay` (every accepted match of every rule, sorted
    /// by position; ranges may overlap).
    pub fn secret_spans(&self, hay: &[u8]) -> Vec<Range<usize>> {
        self.find_in(hay).into_iter().map(|m| m.start..m.end).collect()
    }
}

impl Scanner {
    /// Byte ranges of the secrets in `hay`, with this scanner's rules.
    pub fn secret_spans(&self, hay: &[u8]) -> Vec<Range<usize>> {
        self.rules().secret_spans(hay)
    }
}

impl SecretMatcher for RuleSet {
    fn secret_spans(&self, text: &str) -> Vec<Range<usize>> {
        RuleSet::secret_spans(self, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_core::secret::redact_secrets;

    #[test]
    fn finds_and_redacts_vendor_tokens_in_text() {
        let rules = RuleSet::builtin().unwrap();
        let tok = "ghp_M8JxvGBCvhuCCyoNAsTBACr1RuVHNdBzHiLe";
        let text =
            format!("aws-cli/2.9 token={tok} aws_secret_access_key=YoVHhX3+JI2Gn07BPBLapktDTvewIYK55GCDgq+N");
        let spans = RuleSet::secret_spans(&rules, text.as_bytes());
        assert!(spans.iter().any(|s| &text[s.clone()] == tok), "{spans:?}");
        let r = redact_secrets(&text, &rules);
        assert!(!r.contains("M8JxvGBCvhuCCyoNAsTBACr1RuVHNdBzHiLe"), "{r}");
        assert!(!r.contains("JI2Gn07BPBLapktDTvewIYK55GCDgq"), "{r}");
        assert!(r.starts_with("aws-cli/2.9 token=ghp_M8…"), "{r}");
        assert_eq!(
            redact_secrets("aws-cli/2.9 Python/3.11", &rules),
            "aws-cli/2.9 Python/3.11"
        );
    }
}
