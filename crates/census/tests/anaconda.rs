//! anaconda.org file listings: windowed by the server's `upload_time` (which a stolen
//! upload token cannot choose), and a builder timestamp more than a day away from it is a
//! `backdated` finding.

use firebreak_census::index::IndexKind;
use firebreak_census::{run, CensusOptions, Finding};
use std::path::PathBuf;

fn listing() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/census/anaconda/files.json")
}

#[test]
fn upload_time_windows_and_backdating_is_flagged() {
    let window = "2023-01-01..2023-01-05".parse().unwrap();
    let r = run(&[listing()], &CensusOptions::new(window), None);
    assert_eq!(
        r.indexes[0].kind,
        Some(IndexKind::Anaconda),
        "detected from content"
    );
    let mut names: Vec<&str> = r.artifacts.iter().map(|a| a.artifact.as_str()).collect();
    names.sort();
    // the 1.3.2 upload is outside the window; the entry with a bad time is a problem
    assert_eq!(
        names,
        vec![
            "acme-cli-0.9.1-pyhd8ed1ab_0.tar.bz2",
            "acme-sdk-1.4.0-py311h0_0.conda"
        ]
    );
    let by = |n: &str| r.artifacts.iter().find(|a| a.artifact == n).unwrap();
    assert_eq!(r.indexes[0].problems.len(), 1);
    assert!(
        r.indexes[0].problems[0].to_string().contains("files[4]"),
        "{:?}",
        r.indexes[0].problems
    );
    let cli = by("acme-cli-0.9.1-pyhd8ed1ab_0.tar.bz2");
    // built (so it says) in June 2022, uploaded in the window: backdated
    assert!(
        matches!(&cli.findings[..], [Finding::Backdated { hours, .. }] if *hours > 24 * 100),
        "{:?}",
        cli.findings
    );
    assert_eq!(
        cli.url.as_deref(),
        Some("https://anaconda.org/acme/acme-cli/0.9.1/download/noarch/acme-cli-0.9.1-pyhd8ed1ab_0.tar.bz2")
    );
    let sdk = by("acme-sdk-1.4.0-py311h0_0.conda");
    assert!(sdk.findings.is_empty(), "built and uploaded the same day");
    assert_eq!(sdk.subdir, "linux-64");
    assert_eq!(sdk.package.as_deref(), Some("acme-sdk"));
    assert!(r.found());
    let summary = r.summary_text();
    assert!(
        summary.contains("FLAGGED acme-cli-0.9.1-pyhd8ed1ab_0.tar.bz2: builder timestamp 2022-06-15"),
        "{summary}"
    );
}
