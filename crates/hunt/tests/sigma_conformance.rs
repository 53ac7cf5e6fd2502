//! Conformance to the Sigma specification (SigmaHQ/sigma-specification, "Sigma Rules
//! Specification" and "Sigma Modifiers Appendix"): one test per statement firebreak
//! implements, written from the specification's text (quoted above each test), run through
//! the whole engine (`hunt_reader`: parsing, the lazy field filter, matching). Features the
//! engine does not implement are asserted to be reported with their exact reason.

use firebreak_hunt::{hunt_reader, HuntOptions, RuleSet, SourceKind};

/// A rule for GitHub audit records with this `detection` body (indented by 4).
fn rule(detection: &str) -> RuleSet {
    let y = format!(
        "title: conformance\nid: conformance\nlogsource:\n    product: github\n    service: audit\ndetection:\n{detection}"
    );
    let mut rs = RuleSet::default();
    rs.add_text("conformance.yml", &y).unwrap();
    assert!(rs.unsupported.is_empty(), "{:?}", rs.unsupported);
    assert_eq!(rs.rules.len(), 1);
    rs
}

/// True when the rule fires on the record (a JSON object; no time field is needed).
fn fires(rs: &RuleSet, record: &str) -> bool {
    let opts = HuntOptions {
        source: Some(SourceKind::Github),
        ..HuntOptions::default()
    };
    let rep = hunt_reader(
        "rec.json",
        Box::new(std::io::Cursor::new(format!("{record}\n").into_bytes())),
        rs,
        &opts,
    );
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!(rep.records, 1);
    !rep.findings.is_empty()
}

/// The reason the rule is reported as not run.
fn unsupported(detection: &str) -> String {
    let y = format!(
        "title: conformance\nid: conformance\nlogsource:\n    product: github\n    service: audit\ndetection:\n{detection}"
    );
    let mut rs = RuleSet::default();
    rs.add_text("conformance.yml", &y).unwrap();
    assert!(rs.rules.is_empty());
    assert_eq!(rs.unsupported.len(), 1);
    rs.unsupported[0].reason.clone()
}

// ---------------------------------------------------------------------------------------
// Values, wildcards and escaping

/// "Wildcards are used when part of the text is random. `*` matches an unbounded length
/// of characters; `?` a single character."
#[test]
fn wildcards_star_and_question_mark() {
    let rs = rule("    sel:\n        action: 'repo.*_key.?reate'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"action":"repo.deploy_key.create"}"#));
    assert!(fires(&rs, r#"{"action":"repo._key.Xreate"}"#));
    assert!(!fires(&rs, r#"{"action":"repo.deploy_key.ccreate"}"#));
    assert!(!fires(&rs, r#"{"action":"xrepo.deploy_key.create"}"#));
}

/// "The backslash character `\` is used for escaping of wildcards `*` and `?` as well as
/// the backslash character itself" — `\*` is a literal star, `\?` a literal question mark,
/// `\\` one backslash.
#[test]
fn backslash_escapes_star_question_mark_and_itself() {
    let rs = rule("    sel:\n        v:\n            - 'a\\*b'\n            - 'c\\?d'\n            - 'e\\\\f'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"v":"a*b"}"#));
    assert!(!fires(&rs, r#"{"v":"axxb"}"#));
    assert!(fires(&rs, r#"{"v":"c?d"}"#));
    assert!(!fires(&rs, r#"{"v":"cxd"}"#));
    assert!(fires(&rs, r#"{"v":"e\\f"}"#));
    assert!(!fires(&rs, r#"{"v":"e\\\\f"}"#));
}

/// "Escaping is only needed before `*`, `?` and `\`; a backslash before any other
/// character (or at the end of the value) is a plain backslash."
#[test]
fn other_backslashes_are_literal() {
    let rs = rule("    sel:\n        path: 'C:\\Windows\\System32\\'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"path":"C:\\Windows\\System32\\"}"#));
    assert!(!fires(&rs, r#"{"path":"C:\\Windows\\System32"}"#));
}

/// Modifiers `contains`, `startswith` and `endswith` "add wildcards around / after /
/// before the value": after escapes are resolved, so a value ending in a lone backslash
/// keeps it as a literal character.
#[test]
fn modifier_wildcards_are_added_after_escaping() {
    let rs = rule("    sel:\n        path|contains: 'C:\\Windows\\'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"path":"x C:\\Windows\\notepad.exe"}"#));
    assert!(!fires(&rs, r#"{"path":"C:\\Windows"}"#));
    let rs = rule("    sel:\n        path|startswith: 'C:\\Windows\\'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"path":"c:\\windows\\notepad.exe"}"#));
    assert!(!fires(&rs, r#"{"path":"C:\\Windowsx"}"#));
    let rs = rule("    sel:\n        path|endswith: '\\\\'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"path":"dir\\"}"#));
    assert!(!fires(&rs, r#"{"path":"dir"}"#));
    // an escaped star inside `contains` stays literal
    let rs = rule("    sel:\n        v|contains: 'a\\*b'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"v":"xa*bx"}"#));
    assert!(!fires(&rs, r#"{"v":"xaZbx"}"#));
}

/// "Plain string values are matched case-insensitively" — for every character, not only
/// ASCII.
#[test]
fn plain_values_are_case_insensitive() {
    let rs = rule("    sel:\n        actor: AlIcE\n        org|contains: 'ÉCOLE'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"actor":"alice","org":"une école"}"#));
    assert!(fires(&rs, r#"{"actor":"ALICE","org":"UNE ÉCOLE"}"#));
    assert!(!fires(&rs, r#"{"actor":"alicex","org":"école"}"#));
}

/// "`cased`: values are applied case sensitively."
#[test]
fn cased_is_case_sensitive() {
    let rs = rule("    sel:\n        actor|cased: Alice\n    condition: sel\n");
    assert!(fires(&rs, r#"{"actor":"Alice"}"#));
    assert!(!fires(&rs, r#"{"actor":"alice"}"#));
    let rs = rule("    sel:\n        actor|contains|cased: Ali\n    condition: sel\n");
    assert!(fires(&rs, r#"{"actor":"xAlix"}"#));
    assert!(!fires(&rs, r#"{"actor":"xalix"}"#));
}

/// "Null values: the field does not exist or its value is null" (`field: null`).
#[test]
fn null_matches_missing_or_null_fields() {
    let rs = rule("    sel:\n        action: a\n        user: null\n    condition: sel\n");
    assert!(fires(&rs, r#"{"action":"a"}"#));
    assert!(fires(&rs, r#"{"action":"a","user":null}"#));
    assert!(!fires(&rs, r#"{"action":"a","user":"bob"}"#));
    assert!(!fires(&rs, r#"{"action":"a","user":""}"#));
}

/// "Numbers compare with the field's value" (a plain number matches the number or its
/// text).
#[test]
fn numbers_match_numbers_and_their_text() {
    let rs = rule("    sel:\n        code: 403\n    condition: sel\n");
    assert!(fires(&rs, r#"{"code":403}"#));
    assert!(fires(&rs, r#"{"code":"403"}"#));
    assert!(!fires(&rs, r#"{"code":4030}"#));
}

// ---------------------------------------------------------------------------------------
// Lists and maps

/// "Lists of values are combined with a logical OR."
#[test]
fn lists_of_values_are_or() {
    let rs = rule(
        "    sel:\n        action:\n            - git.clone\n            - git.fetch\n    condition: sel\n",
    );
    assert!(fires(&rs, r#"{"action":"git.clone"}"#));
    assert!(fires(&rs, r#"{"action":"git.fetch"}"#));
    assert!(!fires(&rs, r#"{"action":"git.push"}"#));
}

/// "Maps: all elements of a map are combined with a logical AND"; "a list of maps is
/// combined with a logical OR".
#[test]
fn maps_are_and_lists_of_maps_are_or() {
    let rs = rule("    sel:\n        action: git.clone\n        actor: bob\n    condition: sel\n");
    assert!(fires(&rs, r#"{"action":"git.clone","actor":"bob"}"#));
    assert!(!fires(&rs, r#"{"action":"git.clone","actor":"eve"}"#));
    let rs = rule("    sel:\n        - action: git.clone\n        - actor: bob\n    condition: sel\n");
    assert!(fires(&rs, r#"{"action":"x","actor":"bob"}"#));
    assert!(fires(&rs, r#"{"action":"git.clone","actor":"x"}"#));
    assert!(!fires(&rs, r#"{"action":"x","actor":"x"}"#));
}

/// "`all`: all values of the list must match (AND instead of OR)."
#[test]
fn all_modifier_ands_the_list() {
    let rs = rule("    sel:\n        ua|contains|all:\n            - python\n            - requests\n    condition: sel\n");
    assert!(fires(&rs, r#"{"ua":"python-requests/2.28"}"#));
    assert!(!fires(&rs, r#"{"ua":"python-urllib"}"#));
}

/// Field names are looked up as written first: a key that holds dots (a flat export's
/// `properties.x`, ECS's `gcp.audit.method_name`) is found, as is the nested path.
#[test]
fn dotted_field_names_find_literal_keys_and_nested_paths() {
    let rs = rule("    sel:\n        gcp.audit.method_name: SetIamPolicy\n    condition: sel\n");
    assert!(fires(&rs, r#"{"gcp.audit.method_name":"SetIamPolicy"}"#));
    assert!(fires(&rs, r#"{"gcp":{"audit":{"method_name":"SetIamPolicy"}}}"#));
    assert!(fires(&rs, r#"{"gcp.audit":{"method_name":"SetIamPolicy"}}"#));
    assert!(!fires(&rs, r#"{"gcp":{"audit":{"method_name":"Other"}}}"#));
}

// ---------------------------------------------------------------------------------------
// Modifiers

/// "`contains`: wildcards around the value", "`startswith`: wildcard after", "`endswith`:
/// wildcard before".
#[test]
fn contains_startswith_endswith() {
    let rs = rule("    a:\n        v|contains: mid\n    b:\n        w|startswith: pre\n    c:\n        x|endswith: suf\n    condition: a and b and c\n");
    assert!(fires(&rs, r#"{"v":"xMIDx","w":"PREfix","x":"theSUF"}"#));
    assert!(!fires(&rs, r#"{"v":"xMIDx","w":"xpre","x":"theSUF"}"#));
    assert!(!fires(&rs, r#"{"v":"xMIDx","w":"pre","x":"sufx"}"#));
}

/// "`re`: the value is a regular expression" (case-sensitive, unanchored), with the
/// sub-modifiers "`i`: case-insensitive, `m`: multi-line, `s`: dot matches newlines".
#[test]
fn re_and_its_flags() {
    let rs = rule("    sel:\n        v|re: '^ab+c'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"v":"abbbcx"}"#));
    assert!(!fires(&rs, r#"{"v":"ABC"}"#));
    let rs = rule("    sel:\n        v|re|i: '^abc$'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"v":"ABC"}"#));
    let rs = rule("    sel:\n        v|re|m: '^b$'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"v":"a\nb\nc"}"#));
    let rs = rule("    sel:\n        v|re|s: 'a.b'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"v":"a\nb"}"#));
    let rs = rule("    sel:\n        v|re: 'a.b'\n    condition: sel\n");
    assert!(!fires(&rs, r#"{"v":"a\nb"}"#));
}

/// "`base64`: the value is encoded with Base64"; "`base64offset`: the three variants of a
/// value embedded at the three possible offsets in a Base64 string" (with `contains`).
#[test]
fn base64_and_base64offset() {
    use base64::Engine as _;
    let e = base64::engine::general_purpose::STANDARD;
    let rs = rule("    sel:\n        v|base64: 'secret!'\n    condition: sel\n");
    assert!(fires(&rs, &format!(r#"{{"v":"{}"}}"#, e.encode("secret!"))));
    assert!(!fires(&rs, &format!(r#"{{"v":"{}"}}"#, e.encode("SECRET!"))));
    let rs = rule("    sel:\n        v|base64offset|contains: 'secret'\n    condition: sel\n");
    for pre in ["", "a", "ab", "abc"] {
        let enc = e.encode(format!("{pre}secret and more"));
        assert!(fires(&rs, &format!(r#"{{"v":"{enc}"}}"#)), "{pre}");
    }
    assert!(!fires(&rs, &format!(r#"{{"v":"{}"}}"#, e.encode("public"))));
}

/// "`windash`: creates all possible permutations of the `-`, `/`, `–` (en dash), `—` (em
/// dash) and `―` (horizontal bar) characters" at the start of a word (command-line flags).
#[test]
fn windash_permutes_the_five_dash_forms_at_word_starts() {
    let rs = rule("    sel:\n        cmd|windash|contains: ' -exec bypass -nop'\n    condition: sel\n");
    for a in ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'] {
        for b in ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'] {
            let rec = serde_json::json!({ "cmd": format!("powershell {a}exec bypass {b}nop") });
            assert!(fires(&rs, &rec.to_string()), "{a} {b}");
        }
    }
    // a dash inside a word is not a flag
    let rs = rule("    sel:\n        cmd|windash: 'a-b'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"cmd":"a-b"}"#));
    assert!(!fires(&rs, r#"{"cmd":"a/b"}"#));
    // every word-start dash of a leading flag, not only the first
    let rs = rule("    sel:\n        cmd|windash: '-a -b'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"cmd":"/a /b"}"#));
    assert!(fires(&rs, "{\"cmd\":\"\u{2014}a -b\"}"));
    assert!(!fires(&rs, r#"{"cmd":"+a -b"}"#));
}

/// "`cidr`: the value is a CIDR network; the field's IP address must be in it" (IPv4 and
/// IPv6).
#[test]
fn cidr_v4_and_v6() {
    let rs = rule("    sel:\n        ip|cidr:\n            - 10.0.0.0/8\n            - '2001:db8::/32'\n    condition: sel\n");
    assert!(fires(&rs, r#"{"ip":"10.200.3.4"}"#));
    assert!(fires(&rs, r#"{"ip":"2001:db8:1::5"}"#));
    assert!(!fires(&rs, r#"{"ip":"11.0.0.1"}"#));
    assert!(!fires(&rs, r#"{"ip":"2001:db9::1"}"#));
    assert!(!fires(&rs, r#"{"ip":"not an ip"}"#));
}

/// "`exists`: the field exists (true) or not (false) in the event."
#[test]
fn exists_true_and_false() {
    let rs = rule("    sel:\n        token|exists: true\n    condition: sel\n");
    assert!(fires(&rs, r#"{"token":"x"}"#));
    assert!(!fires(&rs, r#"{"other":"x"}"#));
    let rs = rule("    sel:\n        token|exists: false\n    condition: sel\n");
    assert!(fires(&rs, r#"{"other":"x"}"#));
    assert!(!fires(&rs, r#"{"token":"x"}"#));
}

/// "`lt`, `lte`, `gt`, `gte`: the field's numeric value is less than (or equal) / greater
/// than (or equal) the value."
#[test]
fn numeric_comparisons() {
    for (m, yes, no) in [("lt", 4, 5), ("lte", 5, 6), ("gt", 6, 5), ("gte", 5, 4)] {
        let rs = rule(&format!("    sel:\n        n|{m}: 5\n    condition: sel\n"));
        assert!(fires(&rs, &format!(r#"{{"n":{yes}}}"#)), "{m}");
        assert!(fires(&rs, &format!(r#"{{"n":"{yes}"}}"#)), "{m} text");
        assert!(!fires(&rs, &format!(r#"{{"n":{no}}}"#)), "{m}");
    }
}

/// `expand` and `fieldref` are not implemented: reported, with the modifier named.
#[test]
fn expand_and_fieldref_are_reported() {
    assert_eq!(
        unsupported("    sel:\n        v|expand: '%admins%'\n    condition: sel\n"),
        "selection \"sel\": field modifier \"expand\" is not supported (on \"v\")"
    );
    assert_eq!(
        unsupported("    sel:\n        v|fieldref: w\n    condition: sel\n"),
        "selection \"sel\": field modifier \"fieldref\" is not supported (on \"v\")"
    );
}

// ---------------------------------------------------------------------------------------
// Conditions

/// "`1 of selection*`: any of the selections whose names match the pattern";
/// "`all of selection*`: all of them"; "`1 of them` / `all of them`: over every search
/// identifier" (names starting with `_` are left out of `them`).
#[test]
fn one_of_and_all_of_with_wildcards_and_them() {
    let det = "    sel_a:\n        a: 1\n    sel_b:\n        b: 1\n    other:\n        c: 1\n";
    let rs = rule(&format!("{det}    condition: 1 of sel_*\n"));
    assert!(fires(&rs, r#"{"b":1}"#));
    assert!(!fires(&rs, r#"{"c":1}"#));
    let rs = rule(&format!("{det}    condition: all of sel_*\n"));
    assert!(fires(&rs, r#"{"a":1,"b":1}"#));
    assert!(!fires(&rs, r#"{"a":1}"#));
    let rs = rule(&format!("{det}    condition: 1 of them\n"));
    assert!(fires(&rs, r#"{"c":1}"#));
    let rs = rule(&format!("{det}    condition: all of them\n"));
    assert!(fires(&rs, r#"{"a":1,"b":1,"c":1}"#));
    assert!(!fires(&rs, r#"{"a":1,"b":1}"#));
    let rs = rule("    sel:\n        a: 1\n    _helper:\n        z: 1\n    condition: all of them\n");
    assert!(fires(&rs, r#"{"a":1}"#));
}

/// "`and`, `or`, `not`, brackets; precedence: `not` binds tighter than `and`, which binds
/// tighter than `or`."
#[test]
fn boolean_operators_and_precedence() {
    let det = "    a:\n        a: 1\n    b:\n        b: 1\n    c:\n        c: 1\n";
    let rs = rule(&format!("{det}    condition: a or b and not c\n"));
    assert!(fires(&rs, r#"{"a":1,"c":1}"#));
    assert!(fires(&rs, r#"{"b":1}"#));
    assert!(!fires(&rs, r#"{"b":1,"c":1}"#));
    let rs = rule(&format!("{det}    condition: (a or b) and not c\n"));
    assert!(!fires(&rs, r#"{"a":1,"c":1}"#));
}

/// `near` and aggregation functions other than `count` are reported with the reason.
#[test]
fn near_and_other_aggregations_are_reported() {
    assert_eq!(
        unsupported(
            "    a:\n        a: 1\n    b:\n        b: 1\n    timeframe: 1m\n    condition: a | near b\n"
        ),
        "`near` (events close in time) is not supported"
    );
    assert_eq!(
        unsupported("    a:\n        a: 1\n    condition: a | max(n) > 3\n"),
        "aggregation function \"max\" is not supported (only count)"
    );
}

// ---------------------------------------------------------------------------------------
// Keywords

/// "Keywords: a list of strings searched in the whole event" — in its values as they
/// read (a quote, a backslash or a non-ASCII letter is matched as written, not as JSON
/// escapes), case-insensitively, any of the list.
#[test]
fn keywords_match_unescaped_string_values() {
    let rs = rule(
        "    kw:\n        - 'say \"hi\"'\n        - 'C:\\Temp\\x'\n        - 'ÉTÉ'\n    condition: kw\n",
    );
    assert!(fires(&rs, r#"{"msg":"they SAY \"hi\" there"}"#));
    assert!(fires(&rs, r#"{"deep":{"p":["C:\\Temp\\x.exe"]}}"#));
    assert!(fires(&rs, r#"{"m":"\u00e9t\u00e9"}"#));
    assert!(!fires(&rs, r#"{"msg":"say hi"}"#));
    // not in keys, only in values
    assert!(!fires(&rs, r#"{"ete":"x","ÉTÉ":1}"#));
}

/// Keywords with wildcards (`*`, `?`) match a value holding the pattern.
#[test]
fn keywords_with_wildcards() {
    let rs = rule("    kw:\n        - 'evil*.exe'\n    condition: kw\n");
    assert!(fires(&rs, r#"{"p":"run EVIL-tool.exe now"}"#));
    assert!(!fires(&rs, r#"{"p":"evil.dll"}"#));
}

// ---------------------------------------------------------------------------------------
// Rule files

/// Rule collections (`action: global` / `reset` / `repeat`) are reported by file, with
/// the reason, and the other rules of a directory still run.
#[test]
fn collections_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a_collection.yml"),
        "action: global\ntitle: coll\nlogsource:\n    product: github\ndetection:\n    condition: sel\n---\ndetection:\n    sel:\n        action: x\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b_broken.yml"),
        "title: broken\nlogsource: {product: github}\ndetection:\n  sel: {a: 1}\n  condition: sel and missing\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c_good.yml"),
        "title: good\nlogsource: {product: github}\ndetection:\n  sel: {action: x}\n  condition: sel\n",
    )
    .unwrap();
    let mut rs = RuleSet::default();
    rs.add_paths(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(rs.rules.len(), 1);
    assert_eq!(rs.rules[0].title, "good");
    assert_eq!(rs.unsupported.len(), 2, "{:?}", rs.unsupported);
    assert!(rs.unsupported[0].file.ends_with("a_collection.yml"));
    assert_eq!(
        rs.unsupported[0].reason,
        "rule collections (action: global) are not supported"
    );
    assert!(rs.unsupported[1].file.ends_with("b_broken.yml"));
    assert!(
        rs.unsupported[1].reason.starts_with("not a usable rule file: ")
            && rs.unsupported[1].reason.contains("missing"),
        "{}",
        rs.unsupported[1].reason
    );
    // a broken file named on its own is still an error
    let mut rs = RuleSet::default();
    assert!(rs.add_paths(&[dir.path().join("b_broken.yml")]).is_err());
}

/// Records without a time are matched when no window is given (counted, in the output
/// with no time); with a window they are problems.
#[test]
fn records_without_time_are_matched_without_a_window() {
    let rs = rule("    sel:\n        action: git.clone\n    condition: sel\n");
    let data = "{\"action\":\"git.clone\"}\n{\"action\":\"git.push\"}\n";
    let run = |window: Option<firebreak_core::TimeWindow>| {
        let opts = HuntOptions {
            source: Some(SourceKind::Github),
            window,
            ..HuntOptions::default()
        };
        hunt_reader(
            "t.json",
            Box::new(std::io::Cursor::new(data.as_bytes().to_vec())),
            &rs,
            &opts,
        )
    };
    let rep = run(None);
    assert_eq!(rep.records, 2);
    assert_eq!(rep.in_window, 2);
    assert_eq!(rep.malformed, 0);
    assert_eq!(rep.findings.len(), 1);
    assert!(rep.findings[0].event.time.is_none());
    let w: firebreak_core::TimeWindow = "2023-01-01..2023-01-02".parse().unwrap();
    let rep = run(Some(w));
    assert_eq!(rep.malformed, 2);
    assert!(rep.findings.is_empty());
    assert!(rep.problems[0].message.contains("--window"));
    // a time field that is not a time stays a problem, window or not
    let opts = HuntOptions {
        source: Some(SourceKind::Github),
        ..HuntOptions::default()
    };
    let bad = "{\"action\":\"git.clone\",\"created_at\":\"yesterday\"}\n";
    let rep = hunt_reader(
        "b.json",
        Box::new(std::io::Cursor::new(bad.as_bytes().to_vec())),
        &rs,
        &opts,
    );
    assert_eq!(rep.malformed, 1);
    assert!(rep.problems[0].message.contains("unparsable timestamp"));
}
