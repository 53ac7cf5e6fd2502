//! Log source decoders, through the same streaming reader and rule engine as `firebreak hunt`.

use firebreak_core::TimeWindow;
use firebreak_hunt::{hunt_reader, HuntOptions, RuleSet, SourceKind};
use std::io::Cursor;
use std::sync::OnceLock;

/// The built-in CI-breach pack, compiled once.
pub fn builtin_rules() -> &'static RuleSet {
    static R: OnceLock<RuleSet> = OnceLock::new();
    R.get_or_init(|| RuleSet::builtin().expect("built-in hunt rules parse"))
}

fn window(s: &str) -> TimeWindow {
    s.parse().expect("valid window")
}

/// Window and baseline vary with the input length so that matching, aggregation and
/// novelty all run on some inputs.
fn options(len: usize, source: Option<SourceKind>) -> HuntOptions {
    match len % 3 {
        0 => HuntOptions {
            window: None,
            baseline: None,
            source,
            ..HuntOptions::default()
        },
        1 => HuntOptions {
            window: Some(window("2023-01-01..2023-01-06")),
            baseline: Some(window("2022-12-01..2023-01-01")),
            source,
            ..HuntOptions::default()
        },
        _ => HuntOptions {
            window: Some(window("2023-07-01..2030-01-01")),
            baseline: Some(window("1970-01-01..2023-07-01")),
            source,
            ..HuntOptions::default()
        },
    }
}

/// Hunts `data` as the log file `name`, with `source` forced or detected, and checks
/// that every problem and finding names the input.
pub fn run(data: &[u8], source: Option<SourceKind>, name: &str) {
    let opts = options(data.len(), source);
    let rep = hunt_reader(name, Box::new(Cursor::new(data.to_vec())), builtin_rules(), &opts);
    for p in &rep.problems {
        assert_eq!(p.file, name, "a problem must name the input: {p:?}");
        assert!(!p.message.is_empty(), "a problem must say what is wrong");
    }
    for f in &rep.findings {
        assert_eq!(f.event.file, name, "a finding must name the input");
        assert!(f.event.record >= 1, "a finding must point at a record");
    }
    assert!(rep.malformed <= rep.records, "malformed records are records");
    let _ = rep.summary();
    serde_json::to_vec(&rep.findings).expect("findings serialise");
    serde_json::to_vec(&rep.problems).expect("problems serialise");
}

/// CloudTrail (`{"Records":[...]}`, arrays, NDJSON, gzip).
pub fn cloudtrail(data: &[u8]) {
    run(data, Some(SourceKind::Cloudtrail), "fuzz/cloudtrail.json");
}

/// GitHub audit log export.
pub fn github(data: &[u8]) {
    run(data, Some(SourceKind::Github), "fuzz/github-audit.json");
}

/// CircleCI audit log CSV.
pub fn circleci(data: &[u8]) {
    run(data, Some(SourceKind::Circleci), "fuzz/circleci-audit.csv");
}

/// GCP Cloud Audit Logs.
pub fn gcp(data: &[u8]) {
    run(data, Some(SourceKind::Gcp), "fuzz/gcp-audit.json");
}

/// Azure sign-in / activity (and firebreak's own audit log): the source is detected.
pub fn azure(data: &[u8]) {
    run(data, None, "fuzz/azure.json");
}
