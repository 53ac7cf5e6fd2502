//! Novelty by network: a source address new to an identity is `novelty.source_ip`; when
//! its /24 (IPv4) or /64 (IPv6) is new too, also `novelty.source_subnet` (in memory and
//! with the novelty state moved to SQLite).

use firebreak_hunt::{hunt_reader, HuntOptions, Limits, RuleSet, SourceKind};

fn rec(day: u32, ip: &str) -> String {
    format!(
        r#"{{"@timestamp":"2023-01-{day:02}T10:00:00Z","action":"git.clone","actor":"alice","actor_ip":"{ip}","repo":"acme/api"}}"#
    )
}

#[test]
fn new_subnets_are_found_besides_new_addresses() {
    let mut data = String::new();
    // baseline (December): one IPv4 and one IPv6 address
    for r in [rec(1, "203.0.113.5"), rec(1, "2001:db8:1:2::5")] {
        data.push_str(&r.replace("2023-01", "2022-12"));
        data.push('\n');
    }
    // window (January)
    for ip in [
        "203.0.113.77",     // same /24: new address only
        "198.51.100.9",     // new /24
        "2001:db8:1:2::99", // same /64: new address only
        "2001:db8:1:3::1",  // new /64
        "203.0.113.5",      // known address
    ] {
        data.push_str(&rec(2, ip));
        data.push('\n');
    }
    let mut rules = RuleSet::default();
    rules
        .add_text(
            "none.yml",
            "title: none\nlogsource: {product: github}\ndetection:\n  s: {action: never}\n  condition: s\n",
        )
        .unwrap();
    for limits in [
        Limits::default(),
        Limits {
            novelty_keys: 2,
            ..Limits::default()
        },
    ] {
        let opts = HuntOptions {
            source: Some(SourceKind::Github),
            window: Some("2023-01-01..2023-02-01".parse().unwrap()),
            baseline: Some("2022-12-01..2023-01-01".parse().unwrap()),
            limits,
            ..HuntOptions::default()
        };
        let rep = hunt_reader(
            "gh.jsonl",
            Box::new(std::io::Cursor::new(data.clone().into_bytes())),
            &rules,
            &opts,
        );
        assert!(rep.problems.is_empty(), "{:?}", rep.problems);
        let of = |id: &str| -> Vec<String> {
            let mut v: Vec<String> = rep
                .findings
                .iter()
                .filter(|f| f.rule_id == id)
                .map(|f| f.event.source_ip.clone().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            of("novelty.source_ip"),
            [
                "198.51.100.9",
                "2001:db8:1:2::99",
                "2001:db8:1:3::1",
                "203.0.113.77"
            ]
        );
        assert_eq!(of("novelty.source_subnet"), ["198.51.100.9", "2001:db8:1:3::1"]);
        let details: Vec<&str> = rep
            .findings
            .iter()
            .filter(|f| f.rule_id == "novelty.source_subnet")
            .filter_map(|f| f.detail.as_deref())
            .collect();
        assert!(
            details.iter().any(|d| d.contains("\"198.51.100.0/24\"")),
            "{details:?}"
        );
        assert!(
            details.iter().any(|d| d.contains("\"2001:db8:1:3::/64\"")),
            "{details:?}"
        );
        if limits.novelty_keys == 2 {
            assert!(rep.spills > 0);
        }
    }
}
