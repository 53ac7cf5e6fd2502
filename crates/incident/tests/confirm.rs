//! `incident confirm`: a person's word closes the tasks firebreak cannot check (kinds no
//! API lists, a value rewritten whose old credential no check reaches), shown apart from
//! `verified`, withdrawable, with secrets in the note redacted, and nothing recorded when
//! the request is refused.

use chrono::{DateTime, Utc};
use firebreak_incident::playbook::InitOptions;
use firebreak_incident::{confirm, status, ConfirmRequest};
use firebreak_providers::{Flags, Item, Kind, Provider};
use firebreak_store::{NewSnapshot, Store};

// A fake, well-formed AWS secret access key: must never be stored or shown whole.
const PLANTED_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn req(tasks: &[&str], kinds: &[&str], note: &str) -> ConfirmRequest {
    ConfirmRequest {
        tasks: tasks.iter().map(|s| s.to_string()).collect(),
        kinds: kinds.iter().map(|s| s.to_string()).collect(),
        note: note.into(),
        by: "ann".into(),
        at: Some(t("2023-01-09T10:00:00Z")),
        ..Default::default()
    }
}

fn confirmations(store: &Store) -> i64 {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    c.query_row("SELECT count(*) FROM incident_confirmations", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_person_closes_what_firebreak_cannot_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("fb.db")).unwrap();
    // NPM_TOKEN written again after the window: a new value, the old one not proven dead
    let items = vec![Item {
        provider: Provider::Circleci,
        kind: Kind::EnvVar,
        scope: "gh/acme/app".into(),
        name: "NPM_TOKEN".into(),
        created_at: Some(t("2021-01-01T00:00:00Z")),
        updated_at: Some(t("2023-01-08T00:00:00Z")),
        flags: Flags::default(),
    }];
    store
        .save_snapshot(&NewSnapshot {
            provider: Provider::Circleci,
            org: "gh/acme",
            started_at: t("2023-01-08T12:00:00Z"),
            finished_at: t("2023-01-08T12:00:00Z"),
            items: &items,
            errors: &[],
            stats: serde_json::json!({}),
        })
        .unwrap();
    let o = InitOptions::new(
        "cci",
        vec![Provider::Circleci],
        "2022-12-21..2023-01-05".parse().unwrap(),
    );
    firebreak_incident::init(&mut store, &o).unwrap();

    let st = status(&store, "cci").unwrap();
    assert_eq!(
        (st.secrets.total, st.secrets.rewritten, st.secrets.not_checked),
        (3, 1, 2),
        "{:?}",
        st.secrets
    );
    assert_eq!(st.secrets.left(), 3, "not checked tasks are left to do");

    // refused whole, nothing recorded: no selector, no note, an unknown task
    for bad in [
        req(&[], &[], "done"),
        req(&[], &["oauth_authorization"], "  "),
        req(&["NOPE"], &["oauth_authorization"], "done"),
        req(&[], &["deploy_key"], "done"),
    ] {
        let e = confirm(&mut store, "cci", &bad).unwrap_err().to_string();
        assert!(!e.is_empty());
    }
    assert_eq!(confirmations(&store), 0);

    // the two kinds no API lists, with a secret pasted into the note
    let note = format!("revoked the OAuth app at github.com and all tokens; old key {PLANTED_SECRET}");
    let out = confirm(
        &mut store,
        "cci",
        &req(&[], &["oauth_authorization", "personal_api_token"], &note),
    )
    .unwrap();
    assert_eq!(out.tasks.len(), 2);
    assert!(out
        .tasks
        .iter()
        .all(|t| t.outcome == "confirmed" && t.was == "not_checked"));
    assert!(
        !out.note.contains(PLANTED_SECRET),
        "the note keeps a secret whole"
    );
    assert!(out.note.starts_with("revoked the OAuth app at github.com"));
    let raw = std::fs::read(store.path()).unwrap();
    assert!(
        !raw.windows(PLANTED_SECRET.len())
            .any(|w| w == PLANTED_SECRET.as_bytes()),
        "the store never holds a secret from a note"
    );

    let st = status(&store, "cci").unwrap();
    assert_eq!(
        (st.secrets.confirmed, st.secrets.not_checked, st.secrets.verified),
        (2, 0, 0),
        "a person's word is never counted as verified"
    );
    assert_eq!(st.secrets.left(), 1);
    let oauth = st.tasks.iter().find(|t| t.kind == "oauth_authorization").unwrap();
    assert_eq!(oauth.state, "confirmed");
    let c = oauth.confirmed.as_ref().unwrap();
    assert_eq!(
        (c.by.as_str(), c.at.as_str(), c.unconfirmed_state.as_str()),
        ("ann", "2023-01-09T10:00:00.000Z", "not_checked")
    );
    assert!(oauth.evidence.as_deref().unwrap().contains("confirmed by ann"));

    // the rewritten value, by secret name: nothing left
    confirm(
        &mut store,
        "cci",
        &req(&["NPM_TOKEN"], &[], "revoked the old token at npmjs.com"),
    )
    .unwrap();
    let st = status(&store, "cci").unwrap();
    assert_eq!((st.secrets.confirmed, st.secrets.left()), (3, 0));
    let headline = firebreak_incident::report::rotation_headline(&st.secrets);
    assert!(
        headline.contains("0 of 3") && headline.contains("3 confirmed done by a person (not proven)"),
        "{headline}"
    );

    // withdrawn: back to what firebreak sees
    let out = confirm(
        &mut store,
        "cci",
        &ConfirmRequest {
            withdraw: true,
            ..req(&["NPM_TOKEN"], &[], "")
        },
    )
    .unwrap();
    assert_eq!(
        (out.tasks[0].outcome.as_str(), out.tasks[0].was.as_str()),
        ("withdrawn", "rewritten")
    );
    let st = status(&store, "cci").unwrap();
    let npm = st.tasks.iter().find(|t| t.secret == "NPM_TOKEN").unwrap();
    assert_eq!((npm.state.as_str(), st.secrets.left()), ("rewritten", 1));
}
