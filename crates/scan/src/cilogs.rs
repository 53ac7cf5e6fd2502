//! Scan CI build logs for leaked secrets, straight from the provider's API.
//!
//! Build logs are where secrets most often leak in plain text (`set -x`, a
//! debugging `env` dump, a tool echoing its configuration). After a provider
//! breach, every log the attacker could read must be checked. This module streams
//! the logs of a CircleCI project ([`scan_circleci`]) or a GitHub repository's
//! Actions runs ([`scan_github`]) through a [`Scanner`] as they download: each log
//! is scanned and dropped, so memory stays bounded by one log, however many
//! builds a project has. A log that cannot be downloaded or opened is an error in
//! the report's [`Summary`](crate::Summary) naming the request at fault; the scan
//! goes on with the other logs. Each log scanned counts in `summary.files`.
//!
//! Findings name the log as the provider's clients do:
//! `circleci:SLUG/BUILD/STEP/ACTION` and `github:OWNER/REPO/runs/ID!job/step.txt`.

use crate::{ScanReport, Scanner};
use chrono::{DateTime, Utc};
use firebreak_providers::{circleci, github, HttpError};

/// Scans the step logs of a CircleCI project's jobs that started at or after
/// `since` (all recent jobs when `None`). `slug` is `gh/ORG/REPO`, `bb/...` or
/// `circleci/ORG-ID/PROJECT-ID`.
pub async fn scan_circleci(
    client: &circleci::Client,
    slug: &str,
    since: Option<DateTime<Utc>>,
    scanner: &Scanner,
) -> ScanReport {
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
) -> ScanReport {
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
) -> ScanReport {
    let mut report = ScanReport::default();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(log) => match blocking(|| scan(&log)) {
                Ok(part) => report.merge(part),
                Err((input, msg)) => report.summary.error(input, msg),
            },
            Err(e) => report
                .summary
                .error(scope, format!("cannot download a {what}: {e}")),
        }
    }
    report.sort();
    report
}

/// Runs CPU-bound scanning without starving a multi-threaded runtime's other
/// tasks (downloads go on meanwhile); on a current-thread runtime it just runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
