//! A rule that does not parse is named by file, line and field; its values (a rule may
//! hold a leaked key id or an internal address) are never shown whole.

#[test]
fn rule_errors_name_file_line_and_field_not_the_value() {
    let secret = "10.1.2.3/99-Zx9Kq2Lm7Vb4Nc8Wp3Rt";
    let y = format!(
        "title: ok\nlogsource: {{product: aws}}\ndetection:\n  s: {{eventName: A}}\n  condition: s\n---\ntitle: bad\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName: GetCallerIdentity\n    sourceIPAddress|cidr: '{secret}'\n  condition: sel\n"
    );
    let e = firebreak_hunt::sigma::parse_rules("rules/leak.yml", &y)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rules/leak.yml"), "{e}");
    assert!(e.contains("line 13"), "{e}");
    assert!(e.contains("detection.sel.sourceIPAddress|cidr"), "{e}");
    assert!(!e.contains("Zx9Kq2Lm7Vb4Nc8Wp3Rt"), "{e}");
    for (field, yaml, line) in [
        ("level", "level: 'Zx9Kq2Lm7Vb4Nc8Wp3Rt'\n", 2),
        (
            "detection.timeframe",
            "detection:\n  s: {a: 1}\n  timeframe: 'Zx9Kq2Lm7Vb4Nc8Wp3Rt'\n  condition: s | count() > 1\n",
            4,
        ),
        (
            "detection.condition",
            "detection:\n  s: {a: 1}\n  condition: s | count() > Zx9Kq2Lm7Vb4Nc8Wp3Rt\n",
            4,
        ),
        (
            "detection.s.n|gt",
            "detection:\n  s: {n|gt: Zx9Kq2Lm7Vb4Nc8Wp3Rt}\n  condition: s\n",
            3,
        ),
    ] {
        let mut y = format!("title: t\n{yaml}");
        if !yaml.contains("logsource") {
            y.push_str("logsource: {product: aws}\n");
        }
        if !yaml.contains("detection") {
            y.push_str("detection: {s: {a: 1}, condition: s}\n");
        }
        let e = firebreak_hunt::sigma::parse_rules("r.yml", &y)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
        assert!(e.contains(&format!("line {line}")), "{field}: {e}");
        assert!(!e.contains("Zx9Kq2Lm7Vb4Nc8Wp3Rt"), "{field}: {e}");
    }
    // invalid YAML: the parser's echo of the input is not shown whole either
    let e = firebreak_hunt::sigma::parse_rules("y.yml", "title: t\nkey: \"Zx9Kq2Lm7Vb4Nc8Wp3Rt\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("y.yml") && e.contains("line "), "{e}");
    assert!(!e.contains("Zx9Kq2Lm7Vb4Nc8Wp3Rt"), "{e}");
    // regexes the engine refuses are reported (rule not run) without the pattern
    let (_, u) = firebreak_hunt::sigma::parse_rules(
        "re.yml",
        "title: t\nlogsource: {product: aws}\ndetection:\n  s: {a|re: '(?<=Zx9Kq2Lm7Vb4Nc8Wp3Rt)b'}\n  condition: s\n",
    )
    .unwrap();
    assert!(u[0].reason.contains("look-around"), "{}", u[0].reason);
    assert!(!u[0].reason.contains("Zx9Kq2Lm7Vb4Nc8Wp3Rt"), "{}", u[0].reason);
}
