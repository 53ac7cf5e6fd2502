//! Field mappings (`crates/hunt/mappings/*.yml`): rules written with the names SigmaHQ's
//! rules use (ECS for GCP, Log Analytics columns for Azure, the exports' own names for
//! GitHub and CloudTrail) fire on the raw exports; a record that holds the Sigma name
//! literally still matches; a rule naming a field its logsource cannot hold is reported
//! as never firing; DuckDB queries compiled from mapped rules select what the native
//! engine selects.
//!
//! The rules in `tests/sigmahq_style/` are firebreak's own, written in SigmaHQ's style.

mod common;

use firebreak_hunt::compile::{compile, CompileOptions, Target};
use firebreak_hunt::sigma::{parse_rules, Selection};
use firebreak_hunt::{hunt, hunt_reader, HuntOptions, RuleSet, SourceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn logs() -> Vec<PathBuf> {
    [
        "gcp-audit.ndjson",
        "gcp-audit-gcloud.json",
        "azure-signin.ndjson",
        "azure-activity.json",
        "github-audit.ndjson",
        "cloudtrail-baseline.ndjson",
    ]
    .iter()
    .map(|f| root().join("../../testdata/hunt").join(f))
    .collect()
}

fn style_dir() -> PathBuf {
    root().join("tests/sigmahq_style")
}

/// Findings per rule id.
fn fired(rules: &RuleSet) -> BTreeMap<String, usize> {
    let rep = hunt(&logs(), rules, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    let mut out = BTreeMap::new();
    for f in &rep.findings {
        *out.entry(f.rule_id.clone()).or_insert(0) += 1;
    }
    out
}

/// The rules as the engine ran them before mappings: every rule loaded, fields read as
/// written only.
fn without_mappings() -> RuleSet {
    let mut rs = RuleSet::default();
    let mut files: Vec<_> = std::fs::read_dir(style_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let (rules, unsup) =
            parse_rules(&f.display().to_string(), &std::fs::read_to_string(&f).unwrap()).unwrap();
        assert!(unsup.is_empty());
        for mut r in rules {
            for s in &mut r.selections {
                if let Selection::Maps(ms) = s {
                    for fc in ms.iter_mut().flatten() {
                        fc.alts.clear();
                    }
                }
            }
            rs.rules.push(r);
        }
    }
    rs
}

fn with_mappings() -> RuleSet {
    let mut rs = RuleSet::default();
    rs.add_paths(&[style_dir()]).unwrap();
    rs
}

#[test]
fn sigmahq_names_fire_on_raw_exports_and_never_fire_is_reported() {
    let before = fired(&without_mappings());
    let after_rules = with_mappings();
    let after = fired(&after_rules);
    let id = |n: u32| format!("7d0c3b8e-5f44-4b3e-9e0a-2a1d1c7b{n:04}");
    // before: only the rules on names the exports hold as written fired
    let want_before: BTreeMap<String, usize> = [(7, 5), (8, 1), (9, 10)]
        .iter()
        .map(|&(n, c)| (id(n), c))
        .collect();
    assert_eq!(before, want_before);
    // after: the ECS / Log Analytics names resolve to the raw paths
    let want_after: BTreeMap<String, usize> = [
        (1, 2),  // CreateServiceAccountKey: one in each GCP file
        (2, 10), // GetServiceAccount reads, none by the filtered domain
        (3, 3),  // ResultType 50126 (resultType / properties.status.errorCode)
        (4, 1),  // RiskState atRisk
        (5, 10), // DeviceDetail.operatingSystem, AppDisplayName, ResultType 0, IPAddress in 192.0.2.0/24
        (6, 1),  // OperationNameValue / ActivityStatusValue / CategoryValue
        (7, 5),
        (8, 1),
        (9, 10),
        (12, 3), // filter on an unknown column: the rule still runs
    ]
    .iter()
    .map(|&(n, c)| (id(n), c))
    .collect();
    assert_eq!(after, want_after);
    // never fire: reported with file and reason, not loaded
    let mut never: Vec<(String, String)> = after_rules
        .unsupported
        .iter()
        .map(|u| {
            (
                Path::new(&u.file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
                u.reason.clone(),
            )
        })
        .collect();
    never.sort();
    assert_eq!(
        never,
        [
            (
                "azure_la_activity_provider_never_fires.yml".to_string(),
                "can never fire: unknown field \"ResourceProviderValue\" for logsource azure/activitylogs"
                    .to_string()
            ),
            (
                "azure_la_signin_status_never_fires.yml".to_string(),
                "can never fire: unknown field \"Status\" for logsource azure/signinlogs".to_string()
            ),
        ]
    );
    assert_eq!(after_rules.rules.len(), 10);
    // a rule that runs with a field its logsource cannot hold says so
    let warned: Vec<(String, String)> = after_rules
        .warnings()
        .into_iter()
        .map(|w| (w.rule, w.reason))
        .collect();
    assert_eq!(
        warned,
        [(
            "Bad password, filter on an unknown column (runs)".to_string(),
            "unknown field \"NoSuchColumn\" for logsource azure/signinlogs: conditions on it read it as missing".to_string()
        )]
    );
    eprintln!(
        "SigmaHQ-style test rules firing: {} before mappings, {} after (of {} rules, {} reported as never firing)",
        before.len(),
        after.len(),
        after_rules.rules.len() + after_rules.unsupported.len(),
        after_rules.unsupported.len()
    );
}

fn one_rule(y: &str) -> RuleSet {
    let mut rs = RuleSet::default();
    rs.add_text("t.yml", y).unwrap();
    rs
}

fn fires(rs: &RuleSet, src: SourceKind, record: &str) -> bool {
    let opts = HuntOptions {
        source: Some(src),
        ..HuntOptions::default()
    };
    let rep = hunt_reader(
        "rec.json",
        Box::new(std::io::Cursor::new(format!("{record}\n").into_bytes())),
        rs,
        &opts,
    );
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    !rep.findings.is_empty()
}

#[test]
fn the_literal_name_still_matches_and_wins_over_the_raw_path() {
    let rs = one_rule(
        "title: t\nlogsource: {product: gcp, service: gcp.audit}\ndetection:\n  s:\n    gcp.audit.method_name: x.CreateKey\n  condition: s\n",
    );
    assert!(rs.unsupported.is_empty(), "{:?}", rs.unsupported);
    // an ECS-shaped record (nested, or one flat key with dots)
    assert!(fires(
        &rs,
        SourceKind::Gcp,
        r#"{"gcp":{"audit":{"method_name":"x.CreateKey"}}}"#
    ));
    assert!(fires(
        &rs,
        SourceKind::Gcp,
        r#"{"gcp.audit.method_name":"x.CreateKey"}"#
    ));
    // the raw export
    assert!(fires(
        &rs,
        SourceKind::Gcp,
        r#"{"protoPayload":{"methodName":"x.CreateKey"}}"#
    ));
    // both: the name as written is read first (COALESCE), as compiled queries do
    assert!(!fires(
        &rs,
        SourceKind::Gcp,
        r#"{"gcp.audit.method_name":"other","protoPayload":{"methodName":"x.CreateKey"}}"#
    ));
    // a null under the literal name falls through to the raw path
    assert!(fires(
        &rs,
        SourceKind::Gcp,
        r#"{"gcp.audit.method_name":null,"protoPayload":{"methodName":"x.CreateKey"}}"#
    ));
    assert!(!fires(
        &rs,
        SourceKind::Gcp,
        r#"{"protoPayload":{"methodName":"other"}}"#
    ));
    // `null` means missing under every name
    let rs = one_rule(
        "title: t\nlogsource: {product: gcp, service: gcp.audit}\ndetection:\n  s:\n    gcp.audit.method_name: null\n  condition: s\n",
    );
    assert!(fires(
        &rs,
        SourceKind::Gcp,
        r#"{"protoPayload":{"serviceName":"a"}}"#
    ));
    assert!(!fires(
        &rs,
        SourceKind::Gcp,
        r#"{"protoPayload":{"methodName":"a"}}"#
    ));
}

#[test]
fn mapped_aggregation_groups_read_the_raw_path() {
    let rs = one_rule(
        "title: t\nlogsource: {product: azure, service: signinlogs}\ndetection:\n  s:\n    ResultType: 50126\n  condition: s | count() by UserPrincipalName >= 2\n",
    );
    assert!(rs.unsupported.is_empty(), "{:?}", rs.unsupported);
    let rep = hunt(
        &[root().join("../../testdata/hunt/azure-signin.ndjson")],
        &rs,
        &HuntOptions::default(),
    );
    assert_eq!(rep.findings.len(), 1);
    let d = serde_json::to_value(&rep.findings[0]).unwrap();
    assert!(d["detail"].to_string().contains("acme.onmicrosoft.com"), "{d}");
}

#[test]
fn a_rule_on_several_sources_keeps_those_it_can_fire_on() {
    // `product: azure` without a service: sign-in and activity logs; `ResultType` is a
    // sign-in column only.
    let rs = one_rule(
        "title: t\nlogsource: {product: azure}\ndetection:\n  s:\n    ResultType: 50126\n  condition: s\n",
    );
    assert!(rs.unsupported.is_empty());
    assert_eq!(rs.rules[0].sources, [SourceKind::AzureSignin]);
    // a field that no Azure source holds: reported once, naming the first logsource
    let rs = one_rule(
        "title: t\nlogsource: {product: azure}\ndetection:\n  s:\n    NoSuchColumn: 1\n  condition: s\n",
    );
    assert!(rs.rules.is_empty());
    assert!(rs.unsupported[0]
        .reason
        .starts_with("can never fire: unknown field \"NoSuchColumn\" for logsource azure/"));
    // keywords, `exists: false` and `null` on an unknown field can still fire
    for sel in ["NoSuchColumn|exists: false", "NoSuchColumn: null"] {
        let rs = one_rule(&format!(
            "title: t\nlogsource: {{product: aws}}\ndetection:\n  s:\n    {sel}\n  condition: s\n"
        ));
        assert_eq!(rs.rules.len(), 1, "{sel}: {:?}", rs.unsupported);
    }
    let rs = one_rule("title: t\nlogsource: {product: aws}\ndetection:\n  s:\n    NoSuchColumn: 1\n  k: [needle]\n  condition: s or k\n");
    assert_eq!(rs.rules.len(), 1);
    let rs = one_rule("title: t\nlogsource: {product: aws}\ndetection:\n  s:\n    NoSuchColumn: 1\n  k: [needle]\n  condition: s and k\n");
    assert!(rs.rules.is_empty());
    // GitHub's audit log is open (each action adds its own keys): nothing is unknown
    let rs = one_rule(
        "title: t\nlogsource: {product: github}\ndetection:\n  s:\n    any_key: 1\n  condition: s\n",
    );
    assert_eq!(rs.rules.len(), 1);
}

#[test]
fn the_builtin_pack_has_no_rule_that_can_never_fire() {
    let rs = RuleSet::builtin().unwrap();
    assert!(rs.unsupported.is_empty(), "{:?}", rs.unsupported);
}

#[test]
fn compiled_queries_coalesce_the_names_and_refuse_arrays() {
    let mut rs = RuleSet::default();
    rs.add_text(
        "t.yml",
        "title: t\nid: t\nlogsource: {product: azure, service: signinlogs}\ndetection:\n  s:\n    ResultType: 50126\n  condition: s\n",
    )
    .unwrap();
    rs.add_text(
        "a.yml",
        "title: a\nid: a\nlogsource: {product: azure, service: signinlogs}\ndetection:\n  s:\n    RiskEventTypes_V2: unlikelyTravel\n  condition: s\n",
    )
    .unwrap();
    let opts = |target| CompileOptions { target, table: None };
    let (c, u) = compile(&rs, &opts(Target::Duckdb));
    // DuckDB matches array elements: both compile
    assert_eq!((c.len(), u.len()), (2, 0), "{u:?}");
    // the three paths in order, a number read as the native engine renders it
    let f = &c[0].filter;
    let at = |p: &str| {
        f.find(&format!("json_extract(r, '$.{p}')"))
            .unwrap_or_else(|| panic!("{p} in {f}"))
    };
    assert!(at(r#""ResultType""#) < at(r#""resultType""#));
    assert!(at(r#""resultType""#) < at(r#""properties"."status"."errorCode""#));
    assert!(f.contains("json_type(v) = 'DOUBLE'"), "{f}");
    // the other targets refuse the array, with the reason
    let (_, u) = compile(&rs, &opts(Target::Kql));
    assert_eq!(u.len(), 1);
    assert!(
        u[0].reason
            .contains("reads through the array `properties.riskEventTypes_v2`"),
        "{}",
        u[0].reason
    );
    // KQL: the Log Analytics columns the raw paths map to
    let (c, _) = compile(&rs, &opts(Target::Kql));
    assert_eq!(
        c[0].filter,
        "(coalesce(ResultType, tostring(Status.errorCode)) =~ \"50126\")"
    );
    // BigQuery: the ECS name has no column, its raw path has
    let mut rs = RuleSet::default();
    rs.add_text(
        "g.yml",
        "title: g\nid: g\nlogsource: {product: gcp, service: gcp.audit}\ndetection:\n  s:\n    gcp.audit.method_name|endswith: .CreateServiceAccountKey\n  condition: s\n",
    )
    .unwrap();
    let (c, u) = compile(&rs, &opts(Target::Bigquery));
    assert!(u.is_empty(), "{u:?}");
    assert_eq!(
        c[0].filter,
        "(ENDS_WITH(lower(CAST(protopayload_auditlog.methodName AS STRING)), '.createserviceaccountkey'))"
    );
    // Athena: two names of one column are read once
    let mut rs = RuleSet::default();
    rs.add_text(
        "a.yml",
        "title: a\nid: a\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    eventname: ListBuckets\n  condition: s\n",
    )
    .unwrap();
    let (c, _) = compile(&rs, &opts(Target::Athena));
    assert_eq!(c[0].filter, "(lower(CAST(eventname AS VARCHAR)) = 'listbuckets')");
}

/// DuckDB (FIREBREAK_PYTHON, as in duckdb_equivalence.rs) selects, for each mapped rule
/// it compiles, the events the native engine selects.
#[test]
fn duckdb_selects_what_the_native_engine_selects_through_mappings() {
    common::python();
    let rules = with_mappings();
    let mut queries = BTreeMap::new();
    let mut native = BTreeMap::new();
    for (file, src, id_field) in [
        ("gcp-audit.ndjson", SourceKind::Gcp, "insertId"),
        ("azure-signin.ndjson", SourceKind::AzureSignin, "correlationId"),
        ("azure-activity.json", SourceKind::AzureActivity, "correlationId"),
    ] {
        let path = root()
            .join("../../testdata/hunt")
            .join(file)
            .canonicalize()
            .unwrap();
        let (compiled, _) = compile(
            &rules,
            &CompileOptions {
                target: Target::Duckdb,
                table: Some(path.display().to_string()),
            },
        );
        let rep = hunt(std::slice::from_ref(&path), &rules, &HuntOptions::default());
        let raw = std::fs::read_to_string(&path).unwrap();
        let records: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(serde_json::Value::Object(o)) => o["records"].as_array().unwrap().clone(),
            _ => raw.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        };
        for c in compiled.iter().filter(|c| c.source == src) {
            let ids: BTreeSet<String> = rep
                .findings
                .iter()
                .filter(|f| f.rule_id == c.rule_id)
                .map(|f| {
                    records[f.event.record as usize - 1][id_field]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            native.insert(c.rule_id.clone(), ids);
            queries.insert(c.rule_id.clone(), c.query.clone());
        }
    }
    // every mapped GCP / Azure rule of tests/sigmahq_style compiles but the cidr one
    assert_eq!(queries.len(), 7, "{:?}", queries.keys());
    let got = common::event_ids(&queries);
    assert_eq!(got, native);
    assert!(native.values().all(|ids| !ids.is_empty()), "{native:?}");
}

#[test]
fn lower_case_okta_names_read_the_system_log() {
    // SigmaHQ's Okta rules write lower-case paths (as Splunk indexes them)
    let rs = one_rule(
        "title: t\nlogsource: {product: okta, service: okta}\ndetection:\n  s:\n    eventtype: user.session.start\n    securitycontext.isproxy: 'true'\n  condition: s\n",
    );
    assert!(rs.unsupported.is_empty(), "{:?}", rs.unsupported);
    let rep = hunt(
        &[root().join("../../testdata/hunt/okta-system-log.ndjson")],
        &rs,
        &HuntOptions::default(),
    );
    assert_eq!(rep.findings.len(), 1);
    assert_eq!(
        rep.findings[0].event.actor.as_deref(),
        Some("mallory@acme.example")
    );
}
