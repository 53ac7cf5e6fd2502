//! Quality checks of the built-in rule pack: size, ids, keywords, and every
//! rule's own positive and negative examples.
//!
//! Failure messages name rules and example indices only, never example values.

use firebreak_scan::rules::{builtin_defs, RuleSet};
use std::collections::BTreeSet;

/// Rules allowed to have no prefilter keyword (they run on every input).
/// Keep this tiny: a keyword-less rule costs a full regex pass over every file.
const KEYWORDLESS_ALLOWED: &[&str] = &[];

/// Rules whose pattern may span lines (the engine gives them a wider window
/// around each keyword hit). Everything else must stay on one line.
const MULTILINE_ALLOWED: &[&str] = &[
    "google.service_account_key",
    "influxdb.telegraf_token",
    "cosign.private_key",
    "private_key.rsa",
    "private_key.ec",
    "private_key.dsa",
    "private_key.openssh",
    "private_key.pkcs8",
    "private_key.pkcs8_encrypted",
    "private_key.pgp",
    "private_key.ssh2",
    "private_key.putty",
    "private_key.jwk",
    "private_key.jwk_symmetric",
    "kubernetes.kubeconfig_token",
    "kubernetes.secret_manifest_data",
    "generic.netrc_password",
    "generic.curl_user_password",
    "openvpn.static_key",
    "private_key.tss2",
    "minisign.secret_key",
    "signify.secret_key",
    "generic.terraform_variable_default",
    "jenkins.credentials_xml_plaintext",
    "generic.secret_assignment_wrapped",
];

fn pack() -> RuleSet {
    RuleSet::builtin().unwrap_or_else(|e| panic!("built-in pack does not load: {e}"))
}

#[test]
fn builtin_pack_has_at_least_500_rules() {
    let s = pack();
    println!("built-in rules: {}", s.len());
    assert!(s.len() >= 500, "only {} rules", s.len());
}

#[test]
fn ids_are_unique_dotted_and_lowercase() {
    let defs = builtin_defs().expect("parse");
    let mut seen = BTreeSet::new();
    for (origin, d) in &defs {
        assert!(seen.insert(d.id.clone()), "duplicate id {} in {origin}", d.id);
        let ok = d.id.contains('.')
            && d.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
        assert!(ok, "id {} in {origin} is not dotted snake_case", d.id);
        assert!(!d.name.trim().is_empty(), "rule {} has no name", d.id);
    }
}

#[test]
fn keywordless_rules_are_an_explicit_allowlist() {
    let s = pack();
    let without: Vec<&str> = s
        .rules()
        .iter()
        .filter(|r| r.def.keywords.is_empty())
        .map(|r| r.def.id.as_str())
        .collect();
    println!("rules without keywords: {without:?}");
    for id in &without {
        assert!(
            KEYWORDLESS_ALLOWED.contains(id),
            "rule {id} has no keywords and is not allowlisted"
        );
    }
}

#[test]
fn single_line_rules_stay_single_line() {
    let s = pack();
    let multi: Vec<&str> = s
        .rules()
        .iter()
        .filter(|r| r.is_multiline())
        .map(|r| r.def.id.as_str())
        .collect();
    println!("multi-line rules: {multi:?}");
    for id in &multi {
        assert!(
            MULTILINE_ALLOWED.contains(id),
            "rule {id} can match a line feed but is not in MULTILINE_ALLOWED"
        );
    }
}

#[test]
fn every_rule_has_examples_and_vendor_rules_cite_a_reference() {
    let s = pack();
    for r in s.rules() {
        assert!(!r.def.examples.is_empty(), "rule {} has no examples", r.def.id);
        assert!(
            !r.def.negative_examples.is_empty(),
            "rule {} has no negative examples",
            r.def.id
        );
        if r.def.confidence == firebreak_core::Confidence::High {
            assert!(
                !r.def.references.is_empty(),
                "high-confidence rule {} cites no reference",
                r.def.id
            );
        }
        if r.def.confidence == firebreak_core::Confidence::Low {
            assert!(
                r.def.min_entropy.is_some(),
                "low-confidence (generic) rule {} has no entropy gate",
                r.def.id
            );
        }
    }
}

#[test]
fn all_examples_match_and_no_negative_example_does() {
    let s = pack();
    let failures = s.check_examples();
    for f in &failures {
        println!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} example failure(s), listed above",
        failures.len()
    );
}

#[test]
fn every_rule_is_listed_in_docs() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md"))
        .expect("docs/rules.md");
    let s = pack();
    let missing: Vec<&str> = s
        .rules()
        .iter()
        .map(|r| r.def.id.as_str())
        .filter(|id| !docs.contains(&format!("`{id}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "rule ids missing from docs/rules.md: {missing:?}"
    );
}

/// Prints the rule list grouped by family, in the form docs/rules.md uses.
/// Run with `cargo test -p firebreak-scan --test rules_examples -- --ignored --nocapture print_rule_list`.
#[test]
#[ignore]
fn print_rule_list() {
    let s = pack();
    let mut by_file: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in s.rules() {
        let file = r.origin.trim_start_matches("builtin:").to_string();
        by_file.entry(file).or_default().push(
            format!(
                "| `{}` | {} | {:?} |",
                r.def.id,
                r.def.name.replace('|', "/"),
                r.def.confidence
            )
            .to_lowercase_conf(),
        );
    }
    for (file, rows) in by_file {
        println!(
            "\n### {file} ({} rules)\n\n| id | name | confidence |\n|---|---|---|",
            rows.len()
        );
        for row in rows {
            println!("{row}");
        }
    }
}

trait LowerConf {
    fn to_lowercase_conf(self) -> String;
}
impl LowerConf for String {
    fn to_lowercase_conf(self) -> String {
        self.replace("| High |", "| high |")
            .replace("| Medium |", "| medium |")
            .replace("| Low |", "| low |")
    }
}

#[test]
fn the_builtin_pack_passes_the_rules_check() {
    // The YAML sources, so that a problem names its line; and the embedded JSON.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut sources = Vec::new();
    for e in std::fs::read_dir(&dir).expect("rules dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yml") {
            sources.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).expect("read"),
            ));
        }
    }
    assert!(sources.len() > 20, "{} rule files", sources.len());
    let embedded = firebreak_scan::rules::builtin_rule_files();
    assert_eq!(embedded.len(), sources.len());
    let mut problems = firebreak_scan::rules::check_rule_files(&sources);
    problems.extend(firebreak_scan::rules::check_rule_files(&embedded));
    for p in &problems {
        println!("{}", p.labelled("rule"));
    }
    assert!(problems.is_empty(), "{} problem(s), listed above", problems.len());
}

#[test]
fn the_rules_check_names_file_line_and_rule() {
    let bad = "rules:\n  - id: acme.token\n    name: t\n    pattern: '\\b(?P<secret>acme_[a-z0-9]{8})\\b'\n    keywords: ['acme_']\n    examples: ['acme_q8zr2lmx']\n    negative_examples: ['acme_q8zr2lmx']\n  - id: acme.token\n    name: dup\n    pattern: 'x('\n    keywords: [x]\n  - id: BadId\n    name: b\n    pattern: 'zz(?P<secret>[0-9]{8})'\n    keywords: ['yy']\n    examples: ['zz73910482']\n    negative_examples: ['zz']\n";
    let problems = firebreak_scan::rules::check_rule_files(&[("bad.yml".to_string(), bad.to_string())]);
    let text: Vec<String> = problems.iter().map(|p| p.labelled("rule")).collect();
    println!("{text:#?}");
    assert!(
        text.iter()
            .any(|t| t.starts_with("bad.yml:2: rule acme.token: negative example #1 matches")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("bad.yml:8: rule acme.token: id is defined twice")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("bad.yml:12: rule BadId: id is not dotted")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("rule BadId") && t.contains("holds none of the keywords")),
        "{text:?}"
    );
    let unparsable = firebreak_scan::rules::check_rule_files(&[(
        "u.yml".to_string(),
        "rules:\n  - id: a.b\n    nme: x\n".to_string(),
    )]);
    assert_eq!(unparsable.len(), 1);
    assert_eq!(unparsable[0].line, Some(3), "{}", unparsable[0]);
    // A pattern that does not compile is reported with its rule.
    let p = firebreak_scan::rules::check_rule_files(&[("p.yml".to_string(), "rules:\n  - id: a.b\n    name: x\n    pattern: 'x('\n    keywords: [x]\n    examples: [x]\n    negative_examples: [y]\n".to_string())]);
    assert!(
        p.iter()
            .any(|x| x.line == Some(2) && x.message.contains("bad pattern")),
        "{p:?}"
    );
}

/// Jenkins' own ciphertext (`{AQAAABAAAA…}`, braced base64) is the encrypted secret of
/// `jenkins.credentials_xml_secret`, never the plain-text secret of
/// `jenkins.credentials_xml_plaintext`; a hand-written value in the same file is.
#[test]
fn jenkins_ciphertext_is_not_read_as_plain_text() {
    let s = pack();
    let ids = |text: &str| -> Vec<String> {
        s.find_in(text.as_bytes())
            .iter()
            .map(|m| s.rules()[m.rule].def.id.clone())
            .collect()
    };
    let xml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/secrets/positives/credentials.xml"),
    )
    .expect("read");
    assert_eq!(ids(&xml), ["jenkins.credentials_xml_secret"]);
    let plain = xml.replace(
        "{AQAAABAAAAAQHgxzNNAL5wIScGebcy8F5n3/YNBDRzrZSgqbjG3uhkWKFLf6xuI5aHUQ=}",
        "Nq4Tz8Lw2Rv6Xc1Bm5Kp",
    );
    assert!(
        ids(&plain).contains(&"jenkins.credentials_xml_plaintext".to_string()),
        "{:?}",
        ids(&plain)
    );
}
