//! Catastrophic-backtracking patterns in Sigma rules and scan rules run on 1 MB adversarial
//! strings. Both engines use Rust's `regex` (finite automata, linear time), so these must
//! complete; the guard below only turns a hang into a failure (no timing assertion).

use firebreak_hunt::node::parse;
use firebreak_hunt::sigma::parse_rules;
use firebreak_hunt::{hunt_reader, HuntOptions, RuleSet as HuntRules};
use firebreak_scan::rules::parse_rule_file;
use firebreak_scan::{RuleSet, ScanOptions, Scanner};
use std::io::Cursor;
use std::sync::mpsc;
use std::time::Duration;

const HANG_GUARD: Duration = Duration::from_secs(300);

fn guarded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("{what}: did not finish (catastrophic backtracking?)"))
}

const EVIL: &[&str] = &[
    r"(a+)+$",
    r"(a|aa)+$",
    r"(a|a?)+$",
    r"(.*a){25}",
    r"^(([a-z])+.)+[A-Z]([a-z])+$",
    r"(\w+\s?)+$",
    r"^(a+)+b",
    r"(x+x+)+y",
];

fn adversarial_string() -> String {
    // 1 MB of 'a' ending in a character that makes backtracking engines explore everything
    let mut s = "a".repeat(1 << 20);
    s.push('!');
    s
}

#[test]
fn sigma_re_modifier_stays_linear() {
    let mut yaml =
        String::from("title: redos\nid: redos\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n");
    for (i, p) in EVIL.iter().enumerate() {
        yaml.push_str(&format!("  s{i}:\n    userAgent|re: '{p}'\n"));
    }
    // wildcards compile to regexes too
    yaml.push_str("  w:\n    userAgent: '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b'\n");
    yaml.push_str("  k:\n    - 'aaaaaaaaaaaaaaaaaaaab'\n");
    yaml.push_str("  condition: 1 of them\n");
    let (rules, unsup) = parse_rules("redos.yml", &yaml).expect("parses");
    assert!(unsup.is_empty(), "{unsup:?}");
    let evil = adversarial_string();
    let record = serde_json::json!({
        "eventVersion": "1.08", "eventTime": "2023-01-04T00:00:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject", "userAgent": evil,
    })
    .to_string();
    let rec2 = record.clone();
    let matched = guarded("sigma rule on a 1 MB field", move || {
        let node = parse(rec2.as_bytes()).unwrap();
        rules[0].matches(&node, rec2.as_bytes())
    });
    // `(.*a){25}` and `(\w+\s?)+$`-like patterns do match an all-'a' field; what matters is
    // that the call returned.
    let _ = matched;
    // the whole hunt over a file of such records
    let set = {
        let mut s = HuntRules::default();
        s.add_text("redos.yml", &yaml).unwrap();
        s
    };
    let data = format!("{record}\n{record}\n");
    let rep = guarded("hunt over 1 MB records", move || {
        hunt_reader(
            "redos.ndjson",
            Box::new(Cursor::new(data.into_bytes())),
            &set,
            &HuntOptions::default(),
        )
    });
    assert_eq!(rep.records, 2);
}

#[test]
fn oversized_sigma_regex_is_refused_with_the_file_named() {
    let yaml = "title: big\nlogsource: {product: aws}\ndetection:\n  s:\n    f|re: '(a{1000}){1000}'\n  condition: s\n";
    let (rules, unsup) = parse_rules("big.yml", yaml).expect("parse");
    assert!(rules.is_empty());
    assert_eq!(unsup.len(), 1);
    assert_eq!(unsup[0].file, "big.yml");
    assert!(unsup[0].reason.contains("regex"), "{}", unsup[0].reason);
}

#[test]
fn scan_rules_with_evil_patterns_stay_linear() {
    let mut yaml = String::from("rules:\n");
    for (i, p) in EVIL.iter().enumerate() {
        yaml.push_str(&format!(
            "  - id: redos.r{i}\n    name: r{i}\n    pattern: '{p}'\n    keywords: [aaaa]\n    allow_placeholders: true\n"
        ));
    }
    let defs = parse_rule_file("redos.yml", &yaml).expect("parses");
    let scanner = Scanner::new(RuleSet::compile(defs).expect("compiles"), ScanOptions::default());
    let evil = adversarial_string();
    // one 1 MB line, and the same split over many lines
    let many = evil
        .as_bytes()
        .chunks(1000)
        .flat_map(|c| c.iter().copied().chain([b'\n']))
        .collect::<Vec<u8>>();
    let rep = guarded("scan rules on 1 MB", move || {
        let a = scanner.scan_bytes("evil.txt", evil.as_bytes());
        let b = scanner.scan_reader("evil.log", Cursor::new(many));
        (a.summary.files, b.summary.files)
    });
    assert_eq!(rep, (1, 1));
}

#[test]
fn oversized_scan_regex_is_refused_with_file_and_rule_named() {
    let yaml = "rules:\n  - id: big.one\n    name: big\n    pattern: '(\\w{100}){1000}'\n";
    let e = RuleSet::compile(parse_rule_file("big.yml", yaml).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("big.yml") && e.contains("big.one"), "{e}");
}

#[test]
fn deeply_nested_sigma_conditions_are_refused_not_a_stack_overflow() {
    for cond in [
        format!("{}sel{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}sel", "not ".repeat(100_000)),
    ] {
        let yaml = format!(
            "title: deep\nlogsource: {{product: aws}}\ndetection:\n  sel: {{eventName: x}}\n  condition: '{cond}'\n"
        );
        let r = guarded("deep condition", move || {
            parse_rules("deep.yml", &yaml)
                .map(|(r, u)| (r.len(), u.len()))
                .map_err(|e| e.to_string())
        });
        let e = r.expect_err("a 100 000-deep condition is refused");
        assert!(e.contains("deep.yml") && e.contains("nest"), "{e}");
    }
}
