//! Scans the simulator's CI logs (which hold planted fake AWS keys) through the
//! real provider clients and the real scanner.

use firebreak_core::SecretString;
use firebreak_providers::sim::{Faults, SimConfig, Simulator};
use firebreak_providers::{circleci, github, HttpConfig, Provider};
use firebreak_scan::{cilogs, rules, RuleSet, ScanOptions, Scanner};
use std::collections::BTreeSet;
use std::time::Duration;

fn http() -> HttpConfig {
    HttpConfig {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        max_retries: 10,
        ..Default::default()
    }
}

fn scanner() -> Scanner {
    let set = RuleSet::compile(rules::builtin_defs().unwrap()).unwrap();
    Scanner::new(set, ScanOptions::default())
}

fn fingerprints(r: &firebreak_scan::ScanReport) -> BTreeSet<String> {
    r.findings.iter().map(|f| f.fingerprint.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planted_secret_in_circleci_and_github_logs_is_found() {
    let h = Simulator::start(SimConfig {
        projects: 4,
        log_projects: 2,
        // Flaky provider: 5xx and slow replies are retried by the client.
        faults: Faults {
            error_rate: 0.2,
            slow_rate: 0.1,
            slow_ms: 30,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let sc = scanner();
    let cc =
        circleci::Client::new(&h.circleci_url(), SecretString::new("sim-circleci-token"), http()).unwrap();
    let gh = github::Client::new(&h.github_url(), SecretString::new("sim-github-token"), http()).unwrap();

    let leaked = h.leaked();
    assert_eq!(
        leaked.len(),
        8,
        "2 projects x (CircleCI + GitHub) x (key id + secret)"
    );
    for l in &leaked {
        let rep = match l.provider {
            Provider::Circleci => cilogs::scan_circleci(&cc, &l.scope, None, &sc).await,
            Provider::Github => cilogs::scan_github(&gh, &l.scope, None, &sc).await,
            Provider::Gitlab => unreachable!(),
        };
        assert_eq!(rep.summary.error_count, 0, "{:?}", rep.summary.errors);
        assert!(rep.summary.files > 0, "no log was scanned");
        assert!(
            fingerprints(&rep).contains(&l.fingerprint),
            "{} {} build {}: planted {} not found",
            l.provider,
            l.scope,
            l.build,
            l.rule
        );
        let f = rep
            .findings
            .iter()
            .find(|f| f.fingerprint == l.fingerprint)
            .unwrap();
        match l.provider {
            Provider::Circleci => assert!(
                f.path.starts_with(&format!("circleci:{}/{}/", l.scope, l.build)),
                "{}",
                f.path
            ),
            _ => assert!(
                f.path
                    .starts_with(&format!("github:{}/runs/{}!", l.scope, l.build)),
                "{}",
                f.path
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_project_is_an_error_naming_it_not_a_crash() {
    let h = Simulator::start(SimConfig {
        projects: 3,
        log_projects: 1,
        faults: Faults {
            forbidden: vec!["gh/sim-org/repo-00000".into()],
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let cc =
        circleci::Client::new(&h.circleci_url(), SecretString::new("sim-circleci-token"), http()).unwrap();
    let rep = cilogs::scan_circleci(&cc, "gh/sim-org/repo-00000", None, &scanner()).await;
    assert!(rep.summary.error_count >= 1);
    assert_eq!(rep.summary.errors.len() as u64, rep.summary.error_count);
    assert!(rep.summary.errors[0].file.contains("gh/sim-org/repo-00000"));
    assert!(
        rep.summary.errors[0].message.contains("403"),
        "{}",
        rep.summary.errors[0].message
    );
}
