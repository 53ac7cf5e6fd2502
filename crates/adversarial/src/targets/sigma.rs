//! The Sigma rule parser, condition parser, matcher and query compilers.

use firebreak_hunt::compile::{compile_rule, CompileOptions, Target as QueryTarget};
use firebreak_hunt::node::parse;
use firebreak_hunt::sigma::{parse_rules, Rule};
use firebreak_hunt::{hunt_reader, HuntOptions, RuleSet};
use std::io::Cursor;

/// One record of each supported log source, as JSON.
pub const SAMPLE_RECORDS: &[&str] = &[
    r#"{"eventVersion":"1.08","eventTime":"2023-01-04T12:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/ci","userName":"ci","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.9 Python/3.11","requestParameters":{"userName":"ci","bucketName":"b"},"awsRegion":"us-east-1","eventID":"e1","errorCode":"AccessDenied","tags":["a","b"],"n":7}"#,
    r#"{"@timestamp":1672833600000,"action":"repo.download_zip","actor":"octocat","actor_ip":"198.51.100.7","user_agent":"curl/8.0","repo":"acme/app","org":"acme","actor_location":{"country_code":"DE"},"_document_id":"d1","programmatic_access_type":"OAuth access token"}"#,
    r#"{"id":"c1","action":"context.secrets.accessed","occurred_at":"2023-01-04 12:00:00.000 UTC","actor":{"id":"u1","name":"bot","type":"user"},"target":{"id":"t1","name":"prod"},"request":{"ip_address":"192.0.2.1","user_agent":"Go-http-client/1.1"},"success":true,"scope":{"id":"o1"}}"#,
    r#"{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"google.iam.admin.v1.CreateServiceAccountKey","resourceName":"projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com","authenticationInfo":{"principalEmail":"ci@p.iam.gserviceaccount.com"},"requestMetadata":{"callerIp":"203.0.113.5","callerSuppliedUserAgent":"google-cloud-sdk"},"status":{"code":7}},"insertId":"i1","timestamp":"2023-01-04T12:00:00.123456Z","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","severity":"NOTICE"}"#,
    r#"{"time":"2023-01-04T12:00:00Z","resourceId":"/tenants/t/providers/Microsoft.aadiam","operationName":"Sign-in activity","category":"SignInLogs","resultType":"50126","callerIpAddress":"198.51.100.77","correlationId":"c","identity":"Ci Bot","properties":{"userPrincipalName":"ci@acme.example","appDisplayName":"Azure CLI","userAgent":"python-requests/2.31","location":{"countryOrRegion":"RU"},"status":{"errorCode":50126}}}"#,
    r#"{"time":"2023-01-04T12:00:00Z","action":"oidc.exchange","outcome":"denied","reason":"JWT has expired","actor":"oidc:https://token.actions.githubusercontent.com:repo:a/b","project":"numpy","provider":"github","client_ip":"10.0.0.1","user_agent":"curl","request_id":"r1"}"#,
];

const TARGETS: [QueryTarget; 4] = [
    QueryTarget::Athena,
    QueryTarget::Bigquery,
    QueryTarget::Kql,
    QueryTarget::Duckdb,
];

/// Runs parsed rules against the sample records, the compilers and a small hunt.
fn exercise(rules: Vec<Rule>) {
    let records: Vec<_> = SAMPLE_RECORDS
        .iter()
        .map(|r| (parse(r.as_bytes()).expect("sample record parses"), r.as_bytes()))
        .collect();
    for r in &rules {
        let _ = r.fields();
        for (node, raw) in &records {
            let _ = r.matches(node, raw);
        }
        for &src in &r.sources {
            for t in TARGETS {
                let _ = compile_rule(
                    r,
                    src,
                    &CompileOptions {
                        target: t,
                        table: None,
                    },
                );
            }
        }
    }
    if rules.is_empty() {
        return;
    }
    let set = RuleSet {
        rules,
        unsupported: Vec::new(),
    };
    let mut ndjson = Vec::new();
    for r in SAMPLE_RECORDS.iter().take(1) {
        for _ in 0..3 {
            ndjson.extend_from_slice(r.as_bytes());
            ndjson.push(b'\n');
        }
    }
    let opts = HuntOptions {
        window: Some("2023-01-01..2023-01-06".parse().expect("window")),
        baseline: Some("2022-12-01..2023-01-01".parse().expect("window")),
        source: None,
        ..HuntOptions::default()
    };
    let rep = hunt_reader("fuzz/sample.ndjson", Box::new(Cursor::new(ndjson)), &set, &opts);
    assert_eq!(rep.records, 3, "the sample records are all read");
}

/// A whole rule file (YAML, possibly several documents).
pub fn rule(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_rules("fuzz/rule.yml", &text) {
        Ok((rules, unsupported)) => {
            for u in &unsupported {
                assert_eq!(u.file, "fuzz/rule.yml", "unsupported rules name their file");
            }
            exercise(rules);
        }
        Err(e) => assert!(
            e.to_string().contains("fuzz/rule.yml"),
            "rule errors name their file: {e}"
        ),
    }
}

/// The input is a condition (optionally `| count(...) by ... > N`) over selections
/// `sel_a`, `sel_b`, `filter_1` and `keywords`.
pub fn condition(data: &[u8]) {
    let cond = String::from_utf8_lossy(data);
    let quoted = serde_json::to_string(&*cond).expect("string serialises");
    let tf = if data.len().is_multiple_of(2) {
        "  timeframe: 1h\n"
    } else {
        ""
    };
    let yaml = format!(
        "title: fuzzed condition\nid: fuzz-cond\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n  sel_a: {{eventName: CreateAccessKey}}\n  sel_b:\n    - eventSource|endswith: iam.amazonaws.com\n    - sourceIPAddress|cidr: 203.0.113.0/24\n  filter_1: {{errorCode: null}}\n  keywords: [aws-cli, boto]\n{tf}  condition: {quoted}\n"
    );
    match parse_rules("fuzz/cond.yml", &yaml) {
        Ok((rules, _)) => exercise(rules),
        Err(e) => assert!(e.to_string().contains("fuzz/cond.yml"), "{e}"),
    }
}
