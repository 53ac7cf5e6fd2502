//! Two more inputs: the Microsoft Purview audit search CSV export (each row's `AuditData`
//! is a Microsoft 365 record) and Entra ID Privileged Identity Management alerts
//! (Microsoft Graph alert incidents), from `testdata/hunt-exports/` (written by
//! `scripts/testdata/hunt_exports.py` from Microsoft's documented shapes).

mod common;

use firebreak_hunt::compile::{compile, CompileOptions, Target};
use firebreak_hunt::{hunt, HuntOptions, RuleSet, SourceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn td(f: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/hunt-exports")
        .join(f)
}

fn window(s: &str) -> HuntOptions {
    HuntOptions {
        window: Some(s.parse().unwrap()),
        ..HuntOptions::default()
    }
}

#[test]
fn purview_csv_rows_are_m365_records_and_bad_rows_are_reported_by_line() {
    let p = td("m365-audit-search.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    let rules = RuleSet::builtin().unwrap();
    let rep = hunt(std::slice::from_ref(&p), &rules, &HuntOptions::default());
    assert_eq!(rep.files[0].source, Some(SourceKind::M365));
    // 4 good rows, one cut-short AuditData, one row with a column missing
    assert_eq!((rep.records, rep.malformed), (6, 2), "{:?}", rep.problems);
    // the line of each bad row, counted across the multi-line AuditData cell before it
    let line_of = |needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() as u64 + 1;
    let want = [
        (line_of("09d13154"), 3, "bad JSON"),
        (line_of("efcb72f4"), 5, "columns"),
    ];
    let got: Vec<(u64, u64, String)> = rep
        .problems
        .iter()
        .map(|p| {
            (
                p.line.unwrap_or(0),
                p.record_number().unwrap_or(0),
                p.message.clone(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    for ((l, r, m), (wl, wr, wm)) in got.iter().zip(want) {
        assert_eq!((*l, *r), (wl, wr), "{got:?}");
        assert!(m.contains(wm), "{m}");
    }
    assert!(rep
        .problems
        .iter()
        .all(|x| x.kind_str() == "malformed" && x.file == p.display().to_string()));
    // the records are matched as the JSON export's are: the same findings, same events
    let json = hunt(
        &[PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hunt/m365-audit.json")],
        &rules,
        &HuntOptions::default(),
    );
    let ids = |r: &firebreak_hunt::HuntReport| -> BTreeSet<(String, Option<String>)> {
        r.findings
            .iter()
            .map(|f| (f.rule_id.clone(), f.event.event_id.clone()))
            .collect()
    };
    assert!(!json.findings.is_empty());
    assert_eq!(ids(&rep), ids(&json));
    // a finding points at the CSV row it came from (the inbox rule is record 2, whose
    // AuditData spans lines)
    let inbox = rep
        .findings
        .iter()
        .find(|f| f.event.action.as_deref() == Some("New-InboxRule"))
        .unwrap();
    assert_eq!(inbox.event.record, 2);
    assert_eq!(inbox.event.line, 3);
    assert_eq!(inbox.event.source_ip.as_deref(), Some("198.51.100.66"));
}

/// SigmaHQ's PIM rules as SigmaHQ writes them (the logsource and the field), one per
/// alert incident type, in both service names SigmaHQ has used.
fn pim_rules() -> RuleSet {
    let kinds = [
        ("pim", "staleSignInAlertIncident"),
        ("pim", "tooManyGlobalAdminsAssignedToTenantAlertIncident"),
        ("pim", "redundantAssignmentAlertIncident"),
        ("pim", "invalidLicenseAlertIncident"),
        (
            "rolemanagementalerts",
            "sequentialActivationRenewalsAlertIncident",
        ),
        ("rolemanagementalerts", "noMfaOnRoleActivationAlertIncident"),
        (
            "rolemanagementalerts",
            "rolesAssignedOutsidePrivilegedIdentityManagementAlertIncident",
        ),
    ];
    let mut rs = RuleSet::default();
    for (i, (svc, kind)) in kinds.iter().enumerate() {
        rs.add_text(
            &format!("pim{i}.yml"),
            &format!(
                "title: PIM {kind}\nid: 00000000-0000-4000-b000-{i:012}\nlogsource:\n    product: azure\n    service: {svc}\ndetection:\n    selection:\n        riskEventType: '{kind}'\n    condition: selection\nlevel: high\n"
            ),
        )
        .unwrap();
    }
    assert_eq!(
        (rs.rules.len(), rs.unsupported.len()),
        (7, 0),
        "{:?}",
        rs.unsupported
    );
    rs
}

#[test]
fn pim_alert_incidents_fire_sigmahq_pim_rules_whatever_the_window() {
    let rs = pim_rules();
    let p = td("azure-pim-alert-incidents.json");
    // incidents are state, not events: matched with or without a window
    for opts in [HuntOptions::default(), window("2023-01-01..2023-01-05")] {
        let rep = hunt(std::slice::from_ref(&p), &rs, &opts);
        assert!(rep.problems.is_empty(), "{:?}", rep.problems);
        assert_eq!(rep.files[0].source, Some(SourceKind::AzurePim));
        assert_eq!(rep.records, 7);
        let fired: BTreeSet<&str> = rep.findings.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(fired.len(), 7, "{fired:?}");
        // one finding per incident, each on its own record
        let recs: BTreeSet<u64> = rep.findings.iter().map(|f| f.event.record).collect();
        assert_eq!(recs.len(), 7);
        let outside = rep
            .findings
            .iter()
            .find(|f| {
                f.title
                    .ends_with("rolesAssignedOutsidePrivilegedIdentityManagementAlertIncident")
            })
            .unwrap();
        assert_eq!(
            outside.event.actor.as_deref(),
            Some("mallory@acme.onmicrosoft.com")
        );
        assert_eq!(
            outside.event.target.as_deref(),
            Some("Privileged Role Administrator")
        );
        assert_eq!(
            outside.event.action.as_deref(),
            Some("rolesAssignedOutsidePrivilegedIdentityManagementAlertIncident")
        );
        assert!(outside.event.time.is_none());
    }
    // the alerts (not incidents) are PIM records too, with a time, and fire no incident rule
    let rep = hunt(
        &[td("azure-pim-alerts.ndjson")],
        &rs,
        &window("2023-01-04..2023-01-05"),
    );
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!((rep.records, rep.in_window), (7, 7));
    assert!(rep.findings.is_empty());
    // and the built-in pack's PIM rule fires on the incident of a role assigned outside PIM
    let b = hunt(
        std::slice::from_ref(&p),
        &RuleSet::builtin().unwrap(),
        &HuntOptions::default(),
    );
    let titles: Vec<&str> = b.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Entra ID role assigned outside Privileged Identity Management"]
    );
}

#[test]
fn pim_rules_select_the_same_incidents_in_duckdb() {
    common::python();
    let rs = pim_rules();
    let mut queries = BTreeMap::new();
    let mut native = BTreeMap::new();
    for f in ["azure-pim-alert-incidents.json", "azure-pim-alerts.ndjson"] {
        let path = td(f).canonicalize().unwrap();
        let (compiled, unsup) = compile(
            &rs,
            &CompileOptions {
                target: Target::Duckdb,
                table: Some(path.display().to_string()),
            },
        );
        assert!(unsup.is_empty(), "{unsup:?}");
        let rep = hunt(std::slice::from_ref(&path), &rs, &HuntOptions::default());
        for c in &compiled {
            let ids: BTreeSet<String> = rep
                .findings
                .iter()
                .filter(|x| x.rule_id == c.rule_id)
                .filter_map(|x| x.event.event_id.clone())
                .collect();
            native.insert(format!("{f}|{}", c.rule_id), ids);
            queries.insert(format!("{f}|{}", c.rule_id), c.query.clone());
        }
    }
    let got = common::event_ids(&queries);
    let mut fired = 0;
    for (k, want) in native {
        fired += usize::from(!want.is_empty());
        assert_eq!(got[&k], want, "{k}");
    }
    assert_eq!(fired, 7);
}
