//! Objects and arrays as field values, compiled = native. A string value is matched
//! against an array element by element (any element), and against an object (or an
//! element that is an object or an array) as its compact JSON text, members in document
//! order, the way SQL backends read it (`json_extract_string`). Every rule runs natively
//! and as its DuckDB query (PyPI `duckdb`, FIREBREAK_PYTHON) over the same records, which
//! hold arrays of objects, objects, nested arrays, empty arrays and nulls; both must
//! select the same events, and the native engine selects what is written below.

mod common;

use firebreak_hunt::compile::{compile, CompileOptions, Target};
use firebreak_hunt::{hunt, HuntOptions, RuleSet, SourceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// Okta System Log events (uuid, `target`, `debugContext.debugData`), raw JSON.
const OKTA: &[(&str, &str, &str)] = &[
    (
        "two-targets",
        r#"[{"id":"00u1","type":"User","alternateId":"alice@example.com","displayName":"Alice"},{"id":"0oa1","type":"AppInstance","alternateId":"APP-billing","displayName":"Billing"}]"#,
        r#"{"behaviors":{"New Geo-Location":"POSITIVE","New Device":"NEGATIVE"},"tags":["a","b"],"n":7.0}"#,
    ),
    (
        "one-target",
        r#"[{"id":"00u2","type":"User","alternateId":"bob@example.com","displayName":"Bob"}]"#,
        r#"{"behaviors":{"New Geo-Location":"NEGATIVE"},"tags":["b",null],"n":7}"#,
    ),
    ("no-target", r#"[]"#, r#"{"tags":[],"matrix":[["x","y"],["z"]]}"#),
    (
        "object-target",
        r#"{"id":"00u3","type":"User","alternateId":"carol@example.com"}"#,
        r#"{"tags":"a","n":"7"}"#,
    ),
    ("null-target", r#"null"#, r#"{"tags":null}"#),
];

fn rule(n: usize, sel: &str) -> String {
    format!(
        "title: nested probe {n}\nid: 00000000-0000-4000-9000-{n:012}\nstatus: test\nlogsource:\n  product: okta\n  service: okta\ndetection:\n  sel:\n{sel}\n  condition: sel\nlevel: low\n"
    )
}

/// (selection, the records it selects natively)
const PROBES: &[(&str, &[&str])] = &[
    // through the array: any element's member
    ("    target.alternateId: alice@example.com", &["two-targets"]),
    ("    target.alternateId|startswith: app-", &["two-targets"]),
    ("    target.displayName: '*'", &["two-targets", "one-target"]),
    // the array's elements (objects) as JSON text
    ("    target|contains: '\"type\":\"AppInstance\"'", &["two-targets"]),
    (
        "    target: '{\"id\":\"00u2\",\"type\":\"User\",\"alternateId\":\"bob@example.com\",\"displayName\":\"Bob\"}'",
        &["one-target"],
    ),
    ("    target|endswith: '\"user\"}'", &[]),
    ("    target|contains: 'carol'", &["object-target"]),
    // an object as JSON text, case-insensitive, members in document order
    ("    debugContext.debugData|contains: 'new geo-location'", &["two-targets", "one-target"]),
    (
        "    debugContext.debugData.behaviors: '{\"New Geo-Location\":\"POSITIVE\",\"New Device\":\"NEGATIVE\"}'",
        &["two-targets"],
    ),
    ("    debugContext.debugData.behaviors|contains: '\"new device\":\"negative\"}'", &["two-targets"]),
    ("    debugContext.debugData|contains: '\"n\":7.0'", &["two-targets"]),
    ("    debugContext.debugData|re: '\"n\":7[,}]'", &["one-target"]),
    // a number inside reads as the native engine renders scalars
    ("    debugContext.debugData.n: 7", &["two-targets", "one-target", "object-target"]),
    // an array that is not declared: any element
    ("    debugContext.debugData.tags: b", &["two-targets", "one-target"]),
    ("    debugContext.debugData.tags|all: [a, b]", &["two-targets"]),
    ("    debugContext.debugData.tags: a", &["two-targets", "object-target"]),
    // an element that is an array: its JSON text
    ("    debugContext.debugData.matrix: '[\"z\"]'", &["no-target"]),
    ("    debugContext.debugData.matrix|contains: 'y'", &["no-target"]),
    // null: missing, null, an empty array, or a null element
    ("    debugContext.debugData.tags: null", &["one-target", "no-target", "null-target"]),
    ("    target: null", &["no-target", "null-target"]),
    ("    target|exists: true", &["two-targets", "one-target", "object-target", "null-target"]),
    ("    debugContext.debugData.tags|exists: false", &["no-target"]),
    // numbers and cidr never match an object's text
    ("    debugContext.debugData|gt: 0", &[]),
];

#[test]
fn arrays_and_objects_select_the_same_events_in_duckdb() {
    common::python();
    let mut rs = RuleSet::default();
    for (i, (s, _)) in PROBES.iter().enumerate() {
        rs.add_text(&format!("r{i}.yml"), &rule(i, s)).unwrap();
    }
    assert_eq!(rs.rules.len(), PROBES.len(), "{:?}", rs.unsupported);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okta.ndjson");
    let mut f = std::fs::File::create(&path).unwrap();
    for (id, target, debug) in OKTA {
        writeln!(
            f,
            "{{\"uuid\":\"{id}\",\"published\":\"2023-01-02T00:00:00.000Z\",\"eventType\":\"user.session.start\",\"actor\":{{\"alternateId\":\"a\"}},\"target\":{target},\"debugContext\":{{\"debugData\":{debug}}}}}"
        )
        .unwrap();
    }
    drop(f);
    let rep = hunt(std::slice::from_ref(&path), &rs, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    let mut native: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for x in &rep.findings {
        let id = OKTA[x.event.record as usize - 1].0.to_string();
        native.entry(x.rule_id.clone()).or_default().insert(id);
    }
    let (compiled, unsup) = compile(
        &rs,
        &CompileOptions {
            target: Target::Duckdb,
            table: Some(path.display().to_string()),
        },
    );
    assert!(unsup.is_empty(), "{unsup:?}");
    let queries: BTreeMap<String, String> = compiled
        .iter()
        .filter(|c| c.source == SourceKind::Okta)
        .map(|c| (c.rule_id.clone(), c.query.clone()))
        .collect();
    assert_eq!(queries.len(), PROBES.len());
    let got = common::event_ids(&queries);
    for (i, (s, want)) in PROBES.iter().enumerate() {
        let id = format!("00000000-0000-4000-9000-{i:012}");
        let n = native.get(&id).cloned().unwrap_or_default();
        let d = got.get(&id).cloned().unwrap_or_default();
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(n, want, "rule {s:?}: native");
        assert_eq!(d, want, "rule {s:?}: DuckDB");
    }
}

/// CloudTrail: `requestParameters` objects and the `resources` array, in JSON Lines and
/// in a `{"Records":[...]}` file.
#[test]
fn cloudtrail_objects_and_resources_select_the_same_events_in_duckdb() {
    common::python();
    let recs = [
        (
            "ev-1",
            r#"{"bucketName":"prod-artifacts","Host":"prod-artifacts.s3.amazonaws.com","acl":""}"#,
            r#"[{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::prod-artifacts"}]"#,
        ),
        (
            "ev-2",
            r#"{"roleArn":"arn:aws:iam::111122223333:role/deploy","roleSessionName":"ci"}"#,
            r#"[{"accountId":"111122223333","type":"AWS::IAM::Role","ARN":"arn:aws:iam::111122223333:role/deploy"},{"type":"AWS::STS::AssumedRole","ARN":"arn:aws:sts::111122223333:assumed-role/deploy/ci"}]"#,
        ),
        ("ev-3", "null", "[]"),
    ];
    let sels: &[(&str, &[&str])] = &[
        ("    requestParameters|contains: 'prod-artifacts'", &["ev-1"]),
        (
            "    requestParameters|contains: '\"rolesessionname\":\"ci\"'",
            &["ev-2"],
        ),
        ("    requestParameters: null", &["ev-3"]),
        ("    resources.ARN|endswith: ':role/deploy'", &["ev-2"]),
        ("    resources.type: 'AWS::S3::Bucket'", &["ev-1"]),
        ("    resources|contains: 'assumed-role'", &["ev-2"]),
    ];
    let mut rs = RuleSet::default();
    for (i, (s, _)) in sels.iter().enumerate() {
        let y = format!(
            "title: ct probe {i}\nid: 00000000-0000-4000-a000-{i:012}\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n{s}\n  condition: sel\nlevel: low\n"
        );
        rs.add_text(&format!("c{i}.yml"), &y).unwrap();
    }
    assert_eq!(rs.rules.len(), sels.len(), "{:?}", rs.unsupported);
    let events: Vec<String> = recs
        .iter()
        .map(|(id, rp, res)| {
            format!(
                "{{\"eventVersion\":\"1.08\",\"eventTime\":\"2023-01-02T00:00:00Z\",\"eventSource\":\"sts.amazonaws.com\",\"eventName\":\"AssumeRole\",\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"198.51.100.7\",\"userIdentity\":{{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/ci\"}},\"requestParameters\":{rp},\"resources\":{res},\"eventID\":\"{id}\"}}"
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("lines.json");
    std::fs::write(&lines, events.join("\n") + "\n").unwrap();
    let wrapped = dir.path().join("wrapped.json");
    std::fs::write(&wrapped, format!("{{\"Records\":[{}]}}", events.join(","))).unwrap();
    for path in [lines, wrapped] {
        let rep = hunt(std::slice::from_ref(&path), &rs, &HuntOptions::default());
        assert!(rep.problems.is_empty(), "{:?}", rep.problems);
        let (compiled, unsup) = compile(
            &rs,
            &CompileOptions {
                target: Target::Duckdb,
                table: Some(path.display().to_string()),
            },
        );
        assert!(unsup.is_empty(), "{unsup:?}");
        let queries: BTreeMap<String, String> = compiled
            .iter()
            .map(|c| (c.rule_id.clone(), c.query.clone()))
            .collect();
        let got = common::event_ids(&queries);
        for (i, (s, want)) in sels.iter().enumerate() {
            let id = format!("00000000-0000-4000-a000-{i:012}");
            let n: BTreeSet<String> = rep
                .findings
                .iter()
                .filter(|x| x.rule_id == id)
                .map(|x| recs[x.event.record as usize - 1].0.to_string())
                .collect();
            let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(n, want, "{}: rule {s:?}: native", path.display());
            assert_eq!(
                got.get(&id).cloned().unwrap_or_default(),
                want,
                "{}: rule {s:?}: DuckDB",
                path.display()
            );
        }
    }
}

/// Targets without per-element or JSON-text matching refuse the rule with the reason.
#[test]
fn other_targets_refuse_objects_and_arrays_with_a_reason() {
    let mut rs = RuleSet::default();
    rs.add_text(
        "o.yml",
        "title: obj\nid: o\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    userIdentity|contains: 'AssumedRole'\n  condition: s\n",
    )
    .unwrap();
    rs.add_text(
        "a.yml",
        "title: arr\nid: a\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    resources.ARN|endswith: ':role/deploy'\n  condition: s\n",
    )
    .unwrap();
    let (c, u) = compile(
        &rs,
        &CompileOptions {
            target: Target::Athena,
            table: None,
        },
    );
    assert!(c.is_empty(), "{c:?}");
    let reason = |t: &str| u.iter().find(|x| x.rule == t).unwrap().reason.clone();
    assert!(
        reason("obj").contains(firebreak_hunt::compile::OBJECT_TEXT),
        "{}",
        reason("obj")
    );
    assert!(reason("arr").contains(firebreak_hunt::compile::PER_ELEMENT));
}
