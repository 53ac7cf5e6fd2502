//! Scan CI build logs for leaked secrets, straight from the provider's API.
//!
//! Build logs are where secrets most often leak in plain text (`set -x`, a
//! debugging `env` dump, a tool echoing its configuration). After a provider
//! breach, every log the attacker could read must be checked. This crate streams
//! the logs of a CircleCI project ([`scan_circleci`]) or a GitHub repository's
//! Actions runs ([`scan_github`]) through a [`Scanner`] as they download: each log
//! is scanned and dropped, so memory stays bounded by one log, however many
//! builds a project has. Download failures become errors in the report naming the
//! request at fault; the scan goes on with the other logs.
//!
//! Findings name the log as the provider's clients do:
//! `circleci:SLUG/BUILD/STEP/ACTION` and `github:OWNER/REPO/runs/ID!job/step.txt`.
#![warn(missing_docs)]

use chrono::{DateTime, Utc};
use firebreak_providers::{circleci, github, HttpError};
use firebreak_scan::{ScanReport, Scanner};

/// What a log scan covered, besides the findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Logs (CircleCI step actions, GitHub run archives) downloaded.
    pub logs: u64,
    /// Logs that could not be downloaded or opened (each is an error in the report).
    pub failed: u64,
}

/// Scans the step logs of a CircleCI project's jobs that started at or after
/// `since` (all recent jobs when `None`). `slug` is `gh/ORG/REPO`, `bb/...` or
/// `circleci/ORG-ID/PROJECT-ID`.
pub async fn scan_circleci(
    client: &circleci::Client,
    slug: &str,
    since: Option<DateTime<Utc>>,
    scanner: &Scanner,
) -> (ScanReport, LogStats) {
    drain(
        client.job_logs(slug, since),
        &format!("circleci:{slug}"),
        "job log",
        |log| Ok(scanner.scan_bytes(&log.name, &log.data)),
    )
    .await
}

/// Scans the log archives of a GitHub repository's Actions runs created at or
/// after `since` (all runs the API lists when `None`). `repo` is `OWNER/REPO`.
/// Each run's zip archive is opened and every step log in it is scanned.
pub async fn scan_github(
    client: &github::Client,
    repo: &str,
    since: Option<DateTime<Utc>>,
    scanner: &Scanner,
) -> (ScanReport, LogStats) {
    drain(
        client.run_logs(repo, since),
        &format!("github:{repo}"),
        "run log",
        |log| {
            let entries = log.entries().map_err(|msg| (log.name.clone(), msg))?;
            let mut report = ScanReport::default();
            for (name, data) in &entries {
                report.merge(scanner.scan_bytes(name, data));
            }
            Ok(report)
        },
    )
    .await
}

/// Receives logs until the provider's stream ends, scanning each with `scan`
/// (which returns findings, or the input and reason it could not be opened).
/// Download errors are recorded against `scope` and the stream goes on.
async fn drain<L>(
    mut rx: tokio::sync::mpsc::Receiver<Result<L, HttpError>>,
    scope: &str,
    what: &str,
    scan: impl Fn(&L) -> Result<ScanReport, (String, String)>,
) -> (ScanReport, LogStats) {
    let mut report = ScanReport::default();
    let mut stats = LogStats::default();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(log) => {
                stats.logs += 1;
                match blocking(|| scan(&log)) {
                    Ok(part) => report.merge(part),
                    Err((input, msg)) => {
                        stats.failed += 1;
                        report.summary.error(input, msg);
                    }
                }
            }
            Err(e) => {
                stats.failed += 1;
                report
                    .summary
                    .error(scope, format!("cannot download a {what}: {e}"));
            }
        }
    }
    report.sort();
    (report, stats)
}

/// Runs CPU-bound scanning without starving a multi-threaded runtime's other
/// tasks (downloads go on meanwhile); on a current-thread runtime it just runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
