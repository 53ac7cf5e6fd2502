//! The incident workflow against a temporary store: init from an inventory, status joined
//! with rotation records, rotation runs (live states) and later snapshots, recorded hunt /
//! scan / census outputs, and the report (self-contained, escaped, no secret whole).

use chrono::{DateTime, Utc};
use firebreak_incident::blast::Values;
use firebreak_incident::playbook::{InitOptions, InventorySource};
use firebreak_incident::{record_file, RecordKind};
use firebreak_providers::{Flags, Item, Kind, Provider};
use firebreak_rotate::plan::{Plan, SecretSpec, SinkSpec, SourceSpec};
use firebreak_store::{NewSnapshot, RotationRecord, Store};

// A fake, well-formed AWS secret access key: must never appear whole in any output.
const PLANTED_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn item(kind: Kind, scope: &str, name: &str, created: &str) -> Item {
    Item {
        provider: Provider::Circleci,
        kind,
        scope: scope.into(),
        name: name.into(),
        created_at: Some(t(created)),
        updated_at: None,
        flags: Flags::default(),
    }
}

fn items() -> Vec<Item> {
    vec![
        item(
            Kind::EnvVar,
            "gh/acme/app",
            "AWS_ACCESS_KEY_ID",
            "2021-01-01T00:00:00Z",
        ),
        item(
            Kind::EnvVar,
            "gh/acme/app",
            "AWS_SECRET_ACCESS_KEY",
            "2021-01-01T00:00:00Z",
        ),
        item(Kind::EnvVar, "gh/acme/app", "NPM_TOKEN", "2021-01-01T00:00:00Z"),
        item(
            Kind::ContextVar,
            "ctx-prod",
            "PYPI_API_TOKEN",
            "2021-01-01T00:00:00Z",
        ),
        item(
            Kind::CheckoutKey,
            "gh/acme/app",
            "aa:bb:cc",
            "2021-01-01T00:00:00Z",
        ),
        // a hostile name: must come out escaped in HTML
        item(
            Kind::EnvVar,
            "gh/acme/web",
            "<script>alert(1)</script>",
            "2021-01-01T00:00:00Z",
        ),
    ]
}

fn snapshot(store: &mut Store, items: &[Item], at: &str) -> i64 {
    store
        .save_snapshot(&NewSnapshot {
            provider: Provider::Circleci,
            org: "acme",
            started_at: t(at),
            finished_at: t(at),
            items,
            errors: &[],
            stats: serde_json::json!({}),
        })
        .unwrap()
}

fn init(store: &mut Store, name: &str) -> firebreak_incident::InitOutcome {
    let mut o = InitOptions::new(
        name,
        vec![Provider::Circleci, Provider::Github],
        "2022-12-21..2023-01-05".parse().unwrap(),
    );
    // the published example key id of the decoding (account 609629065308)
    o.values = Values::parse("AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A\n").0;
    firebreak_incident::init(store, &o).unwrap()
}

#[test]
fn init_status_rotation_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("fb.db")).unwrap();
    let snap = snapshot(&mut store, &items(), "2023-01-04T12:00:00Z");
    let out = init(&mut store, "cci");
    // 6 inventoried secrets, and the 2 CircleCI kinds no API lists (OAuth authorisations
    // and personal API tokens of gh/acme)
    assert_eq!(out.tasks, 8);
    assert_eq!(out.snapshots, vec![snap]);
    // github is breached too but never inventoried: said, not hidden
    assert_eq!(out.providers_not_inventoried, vec!["github".to_string()]);
    assert_eq!(out.by_method.get("key_id_decoding"), Some(&2));
    assert_eq!(out.by_method.get("inventory"), Some(&3));
    assert_eq!(out.by_method.get("name"), Some(&3));
    // the same name twice is refused
    let mut o = InitOptions::new("cci", vec![Provider::Circleci], "2022-12-21..".parse().unwrap());
    o.inventory = InventorySource::Snapshot(snap);
    assert!(matches!(
        firebreak_incident::init(&mut store, &o),
        Err(firebreak_incident::Error::Exists { .. })
    ));

    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!(
        (
            s.secrets.total,
            s.secrets.inventoried,
            s.secrets.pending,
            s.secrets.not_checked
        ),
        (8, 6, 6, 2)
    );
    // the kinds no API lists: not checked, with the alert's steps, never done
    for (kind, words) in [
        ("oauth_authorization", "revoke the CircleCI OAuth application"),
        ("personal_api_token", "Personal API Tokens"),
    ] {
        let t = s.tasks.iter().find(|x| x.kind == kind).unwrap();
        assert_eq!(
            (t.state.as_str(), t.scope.as_str()),
            ("not_checked", "circleci/gh/acme")
        );
        assert!(t.evidence.as_deref().unwrap().contains(words), "{:?}", t.evidence);
        assert!(!t.in_inventory);
    }
    assert_eq!(s.providers_not_inventoried, vec!["github".to_string()]);
    assert_eq!(s.proof_after, "2023-01-05T00:00:00.000Z");
    let aws = s
        .tasks
        .iter()
        .find(|x| x.secret == "AWS_SECRET_ACCESS_KEY")
        .unwrap();
    assert!(aws.unlocks.contains("609629065308"), "{}", aws.unlocks);
    assert!(!aws.inferred);
    assert!(aws.hunt_logs[0].contains("CloudTrail"));
    let npm = s.tasks.iter().find(|x| x.secret == "NPM_TOKEN").unwrap();
    assert!(npm.inferred);
    assert_eq!(npm.scope, "circleci/gh/acme/app");
    let key = s.tasks.iter().find(|x| x.kind == "checkout_key").unwrap();
    assert!(key.unlocks.contains("acme/app") && !key.inferred);

    // firebreak rotated NPM_TOKEN after the window: rotated (not yet confirmed)
    let npm_id =
        firebreak_providers::model::identity(Provider::Circleci, Kind::EnvVar, "gh/acme/app", "NPM_TOKEN");
    store
        .add_rotation_record(&RotationRecord {
            identity: npm_id.clone(),
            provider: Provider::Circleci,
            kind: Kind::EnvVar,
            scope: "gh/acme/app".into(),
            name: "NPM_TOKEN".into(),
            rotated_at: t("2023-01-06T00:00:00Z"),
            source: "test".into(),
            detail: None,
        })
        .unwrap();
    // a record from inside the window proves nothing (the new value was exposed too)
    let pypi_id = firebreak_providers::model::identity(
        Provider::Circleci,
        Kind::ContextVar,
        "ctx-prod",
        "PYPI_API_TOKEN",
    );
    store
        .add_rotation_record(&RotationRecord {
            identity: pypi_id,
            provider: Provider::Circleci,
            kind: Kind::ContextVar,
            scope: "ctx-prod".into(),
            name: "PYPI_API_TOKEN".into(),
            rotated_at: t("2022-12-30T00:00:00Z"),
            source: "test".into(),
            detail: None,
        })
        .unwrap();
    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!(
        (s.secrets.rotated, s.secrets.verified, s.secrets.pending),
        (1, 0, 5)
    );
    let npm = s.tasks.iter().find(|x| x.secret == "NPM_TOKEN").unwrap();
    assert_eq!(npm.state, "rotated");
    assert_eq!(npm.evidence.as_deref(), Some("rotation record"));

    // a later inventory shows the provider's own timestamps: a new value is in place, but
    // that proves nothing about the stolen one (re-storing the leaked value looks the
    // same): `rewritten`. The checkout key was replaced by a new one and the old key is
    // gone from the provider: `verified`.
    let mut later = items();
    later[2].created_at = Some(t("2023-01-06T00:00:01Z"));
    later[0].created_at = Some(t("2023-01-07T00:00:00Z"));
    later[4].name = "dd:ee:ff".into();
    later[4].created_at = Some(t("2023-01-06T00:00:00Z"));
    snapshot(&mut store, &later, "2023-01-08T00:00:00Z");
    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!(s.secrets.verified, 1, "{:#?}", s.tasks);
    assert_eq!(s.secrets.rewritten, 2, "{:#?}", s.tasks);
    assert_eq!(s.secrets.rotated, 0);
    assert_eq!(s.secrets.pending, 3);
    assert_eq!(
        s.secrets.inventoried, 6,
        "built from a snapshot: all were inventoried"
    );
    assert_eq!(
        s.tasks.iter().filter(|x| x.in_inventory).count(),
        5,
        "the old checkout key is gone"
    );
    let key = s.tasks.iter().find(|x| x.kind == "checkout_key").unwrap();
    assert_eq!(key.state, "verified");
    assert!(
        key.evidence.as_deref().unwrap().contains("replaced"),
        "{:?}",
        key.evidence
    );
    let aws = s.tasks.iter().find(|x| x.secret == "AWS_ACCESS_KEY_ID").unwrap();
    assert_eq!(aws.state, "rewritten");
    assert!(
        aws.evidence
            .as_deref()
            .unwrap()
            .starts_with("new value: created_at in snapshot 2; the old credential is not proven dead"),
        "{:?}",
        aws.evidence
    );

    // the leaked values checked at their provider (`firebreak validate`), recorded: the
    // old AWS key is dead (verified); the old npm token still works (live, listed first)
    let validate = dir.path().join("validate.jsonl");
    std::fs::write(
        &validate,
        concat!(
            r#"{"type":"result","name":"AWS_ACCESS_KEY_ID","line":1,"validator":"aws.access_key","validation":{"validator":"aws.access_key","status":"dead","reason":"POST https://sts.amazonaws.com/ sts:GetCallerIdentity: HTTP 403 InvalidClientTokenId","checked_at":"2023-01-09T00:00:00Z"}}"#, "\n",
            r#"{"type":"result","name":"NPM_TOKEN","line":2,"validator":"npm.token","validation":{"validator":"npm.token","status":"live","identity":{"username":"ci-publisher"},"checked_at":"2023-01-09T00:00:01Z"}}"#, "\n",
            r#"{"type":"summary","checked":2,"live":1,"dead":1,"unknown":0,"error":0,"unrecognised":[],"malformed_lines":[]}"#, "\n",
            "not json\n",
        ),
    )
    .unwrap();
    let r = record_file(&mut store, "cci", RecordKind::Validate, &validate).unwrap();
    assert_eq!((r.items, r.malformed_lines.clone()), (2, vec![4]));
    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!(
        (s.secrets.live, s.secrets.verified, s.secrets.rewritten),
        (1, 2, 0),
        "{:#?}",
        s.tasks
    );
    assert_eq!(s.tasks[0].secret, "NPM_TOKEN", "live comes first");
    assert_eq!(s.tasks[0].state, "live");
    assert!(
        s.tasks[0].evidence.as_deref().unwrap().contains("still LIVE"),
        "{:?}",
        s.tasks[0].evidence
    );
    assert_eq!(
        s.tasks[0].old_validation.as_ref().unwrap()["identity"]["username"],
        "ci-publisher"
    );
    let aws = s.tasks.iter().find(|x| x.secret == "AWS_ACCESS_KEY_ID").unwrap();
    assert_eq!(aws.state, "verified");
    assert!(
        aws.evidence
            .as_deref()
            .unwrap()
            .contains("old value dead per aws.access_key"),
        "{:?}",
        aws.evidence
    );

    // recorded outputs
    let hunt = dir.path().join("hunt.jsonl");
    std::fs::write(
        &hunt,
        concat!(
            r#"{"id":"h1","kind":"rule","rule_id":"r1","title":"AWS IAM access key created","level":"high","time":"2022-12-29T02:26:00Z","source":"cloudtrail","actor":"arn:aws:iam::1:user/ci","action":"iam:CreateAccessKey","source_ip":"203.0.113.66","file":"ct.json","line":3,"record":3}"#, "\n",
            r#"{"id":"h2","kind":"novelty","rule_id":"novelty.source_ip","title":"New source IP for identity","level":"medium","time":"2022-12-29T02:11:00Z","source":"cloudtrail","actor":"arn:aws:iam::1:user/ci","file":"ct.json","line":1,"record":1}"#, "\n",
            r#"{"id":"h3","kind":"rule","rule_id":"r2","title":"AWS GetCallerIdentity","level":"low","time":"2022-12-29T02:11:00Z","source":"cloudtrail","file":"ct.json","line":1,"record":1}"#, "\n",
            "this is not json\n",
        ),
    )
    .unwrap();
    let r = record_file(&mut store, "cci", RecordKind::Hunt, &hunt).unwrap();
    assert_eq!(r.items, 3);
    assert_eq!(r.malformed_lines, vec![4]);
    let scan = dir.path().join("scan.jsonl");
    let fp = firebreak_core::fingerprint(PLANTED_SECRET.as_bytes());
    // a producer that left too much of the secret in `redacted`: re-redacted on the way in
    std::fs::write(
        &scan,
        format!(
            "{}\n{}\n",
            serde_json::json!({"type":"finding","id":"s1","rule_id":"aws.secret_access_key","rule_name":"AWS secret access key","path":"circleci:gh/acme/app/2/Run tests/0","line":3,"column":30,"redacted": PLANTED_SECRET,"fingerprint": fp,"confidence":"high"}),
            serde_json::json!({"type":"summary","files":1}),
        ),
    )
    .unwrap();
    let r = record_file(&mut store, "cci", RecordKind::Scan, &scan).unwrap();
    assert_eq!((r.items, r.malformed_lines.len()), (1, 0));
    let census = dir.path().join("census.jsonl");
    std::fs::write(
        &census,
        concat!(
            r#"{"artifact":"acme_sdk-2.1.1-py3-none-any.whl","index":"index.jsonl","uploaded_at":"2022-12-29T03:02:00Z","status":"ok","findings":[{"kind":"ioc_file_name","id":"c1","indicator":"**/_ci_exfil.py","member":"acme_sdk/_ci_exfil.py"}],"source":"index.jsonl:4"}"#, "\n",
            r#"{"artifact":"acme-cli-1.4.0.tar.gz","index":"index.jsonl","uploaded_at":"2022-12-27T16:30:00Z","status":"ok","findings":[],"source":"index.jsonl:2"}"#, "\n",
        ),
    )
    .unwrap();
    record_file(&mut store, "cci", RecordKind::Census, &census).unwrap();

    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!(s.hunts.runs, 1);
    assert_eq!(
        (
            s.hunts.findings.high,
            s.hunts.findings.medium,
            s.hunts.findings.low
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (s.scans.runs, s.scans.findings, s.scans.distinct_secrets),
        (1, 1, 1)
    );
    assert_eq!((s.census.runs, s.census.artifacts, s.census.flagged), (1, 2, 1));
    // the status shape the dashboard relies on
    let v = serde_json::to_value(&s).unwrap();
    for k in [
        "incident",
        "secrets",
        "rotation",
        "hunts",
        "scans",
        "census",
        "tasks",
        "updated_at",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for k in ["total", "inventoried", "rotated", "verified", "manual", "pending"] {
        assert!(v["secrets"].get(k).is_some(), "missing secrets.{k}");
    }
    for k in ["runs", "done", "in_progress", "stopped", "total"] {
        assert!(v["rotation"].get(k).is_some(), "missing rotation.{k}");
    }
    assert!(v["incident"]["window"]["end"].is_string());
    for k in ["secret", "scope", "state", "unlocks", "hunt_logs", "inferred"] {
        assert!(v["tasks"][0].get(k).is_some(), "missing tasks[].{k}");
    }
    let back: firebreak_incident::Status = serde_json::from_value(v).unwrap();
    assert_eq!(back.secrets, s.secrets);

    // the report
    let data = firebreak_incident::report::gather(&store, "cci").unwrap();
    let out = dir.path().join("report");
    let w = firebreak_incident::report::write(&data, &out).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    let md = std::fs::read_to_string(&w.markdown).unwrap();
    check_self_contained(&html);
    assert!(html.contains("<svg"), "no SVG timeline");
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!md.contains("<script>"));
    for text in [&html, &md] {
        assert!(!text.contains(PLANTED_SECRET), "a secret appears whole");
        assert!(!text.contains("ASIAY34FZKBOKMUTVV7A"), "a key id appears whole");
        assert!(text.contains("609629065308"));
    }
    // what was not done is said
    assert!(html.contains("github: breached but never inventoried"));
    assert!(html.contains("3 secret(s) not rotated at all"), "{html}");
    // the numbers are the store's
    assert!(html.contains(r#"<div class="card"><b>2</b>verified"#));
    assert!(
        md.contains("| verified / rewritten / rotated | 2 / 0 / 0 |"),
        "{md}"
    );
    assert!(md.contains("| LIVE (stolen value still works) | 1 |"));
    assert!(html.contains(r#"<div class="card"><b>1</b>LIVE"#));
    assert!(
        html.contains("1 secret(s) LIVE: the stolen value still works at its source"),
        "{html}"
    );
    assert!(md.contains("| hunts | 1 (findings: 0 critical, 1 high, 1 medium, 1 low, 0 informational) |"));
}

fn check_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "src=\"http",
        "src='http",
        "<script",
        "href=\"http",
        "@import",
        "url(http",
        "<link",
    ] {
        assert!(!lower.contains(bad), "external reference or script: {bad}");
    }
}

#[test]
fn rotation_runs_show_live_progress() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fb.db");
    let mut store = Store::open(&path).unwrap();
    snapshot(&mut store, &items(), "2023-01-04T12:00:00Z");
    init(&mut store, "cci");
    let plan = Plan {
        version: 1,
        secrets: vec![
            SecretSpec {
                name: "NPM_TOKEN".into(),
                source: SourceSpec::Random {
                    length: 20,
                    alphabet: "alnum".into(),
                    prefix: None,
                },
                sinks: vec![SinkSpec::CircleciEnv {
                    project: "gh/acme/app".into(),
                    name: "NPM_TOKEN".into(),
                    field: Default::default(),
                }],
                verify: None,
                shared: false,
            },
            SecretSpec {
                name: "PYPI_API_TOKEN".into(),
                source: SourceSpec::Manual {
                    instructions: "by hand".into(),
                },
                sinks: vec![SinkSpec::CircleciContext {
                    context_id: None,
                    context: Some("ctx-prod".into()),
                    owner_slug: Some("gh/acme".into()),
                    name: "PYPI_API_TOKEN".into(),
                    field: Default::default(),
                }],
                verify: None,
                shared: false,
            },
            SecretSpec {
                name: "checkout-key gh/acme/app aa:bb:cc".into(),
                source: SourceSpec::DeployKey {
                    github_repo: None,
                    circleci_project: Some("gh/acme/app".into()),
                    title: "firebreak".into(),
                    read_only: true,
                },
                sinks: vec![],
                verify: None,
                shared: false,
            },
        ],
        ..Default::default()
    };
    let journal = firebreak_rotate::Journal::open(&path).unwrap();
    let run = firebreak_rotate::engine::create_run(&journal, &plan, "plan.toml").unwrap();
    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!(s.rotation.runs, 1);
    assert_eq!(
        (s.rotation.total, s.rotation.queued, s.rotation.manual),
        (3, 2, 1)
    );
    assert_eq!(s.secrets.manual, 1);
    let set = |secret: &'static str, state: &'static str| {
        let rid = run.clone();
        journal
            .exec_blocking(move |c| {
                c.execute(
                    "UPDATE rotation_secrets SET state = ?3, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                    rusqlite::params![rid, secret, state, firebreak_rotate::journal::now()],
                )
            })
            .unwrap();
    };
    // the same open store sees the engine's progress on the next call
    set("NPM_TOKEN", "issuing");
    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!((s.rotation.in_progress, s.rotation.queued), (1, 1));
    let npm = s.tasks.iter().find(|x| x.secret == "NPM_TOKEN").unwrap();
    assert_eq!(
        (npm.state.as_str(), npm.rotation_state.as_deref()),
        ("pending", Some("issuing"))
    );
    set("NPM_TOKEN", "done");
    set("checkout-key gh/acme/app aa:bb:cc", "stopped");
    let s = firebreak_incident::status(&store, "cci").unwrap();
    assert_eq!(
        (s.rotation.done, s.rotation.stopped, s.rotation.in_progress),
        (1, 1, 0)
    );
    assert_eq!(s.secrets.rotated, 1, "a done run proves the rotation");
    assert_eq!(s.secrets.stopped, 1);
    let key = s.tasks.iter().find(|x| x.kind == "checkout_key").unwrap();
    assert_eq!(key.state, "stopped");
    assert_eq!(
        s.secrets.total,
        s.secrets.rotated
            + s.secrets.verified
            + s.secrets.manual
            + s.secrets.pending
            + s.secrets.stopped
            + s.secrets.not_checked
    );
    let list = firebreak_incident::list(&store).unwrap();
    assert_eq!((list.len(), list[0].tasks), (1, 8));
}

#[test]
fn init_from_file_and_missing_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("fb.db")).unwrap();
    let mut o = InitOptions::new("x", vec![Provider::Circleci], "2022-12-21..".parse().unwrap());
    // nothing inventoried at all: an error naming the store, no incident created
    let e = firebreak_incident::init(&mut store, &o).unwrap_err().to_string();
    assert!(e.contains("no inventory of circleci"), "{e}");
    assert!(firebreak_incident::list(&store).unwrap().is_empty());
    let file = dir.path().join("inv.jsonl");
    let mut text = String::new();
    for i in items() {
        let mut v = serde_json::to_value(&i).unwrap();
        v["record"] = "item".into();
        text.push_str(&v.to_string());
        text.push('\n');
    }
    text.push_str("{\"record\":\"error\",\"provider\":\"circleci\",\"scope\":\"x\",\"request\":\"GET /\",\"status\":403,\"message\":\"no\"}\n{broken\n");
    std::fs::write(&file, text).unwrap();
    o.inventory = InventorySource::File(file);
    let out = firebreak_incident::init(&mut store, &o).unwrap();
    // the organisation comes from the items' scopes (gh/acme): its 2 unlisted kinds too
    assert_eq!((out.tasks, out.bad_lines.clone()), (8, vec![8]));
    let s = firebreak_incident::status(&store, "x").unwrap();
    // no snapshot in the store: the window is open, nothing inventoried
    assert_eq!(s.secrets.inventoried, 0);
    assert!(s.incident.window.end.is_none());
    assert_eq!(firebreak_incident::resolve_name(&store, None).unwrap(), "x");
    assert!(matches!(
        firebreak_incident::status(&store, "nope"),
        Err(firebreak_incident::Error::NoIncident { .. })
    ));
}

/// A CircleCI checkout key and the GitHub deploy key with the same public key are one
/// task: the deploy key gets none of its own, and the checkout key's task names it.
#[test]
fn a_key_seen_at_both_ends_is_one_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("fb.db")).unwrap();
    let fp = "SHA256:+a7BQLfpvdSff1OVbkLdevzp7Hv7HIM5tPGoFIq8HTs";
    let deploy_id =
        firebreak_providers::model::identity(Provider::Github, Kind::DeployKey, "acme/app", "CircleCI");
    let mut ck = item(
        Kind::CheckoutKey,
        "gh/acme/app",
        "aa:bb:cc",
        "2021-01-01T00:00:00Z",
    );
    ck.flags.fingerprint_sha256 = Some(fp.into());
    ck.flags.same_key_as = Some(deploy_id.clone());
    snapshot(&mut store, &[ck], "2023-01-04T12:00:00Z");
    let mut dk = item(Kind::DeployKey, "acme/app", "CircleCI", "2021-01-01T00:00:00Z");
    dk.provider = Provider::Github;
    dk.flags.fingerprint_sha256 = Some(fp.into());
    let other = {
        let mut o = item(Kind::DeployKey, "acme/app", "backup", "2021-01-01T00:00:00Z");
        o.provider = Provider::Github;
        o
    };
    store
        .save_snapshot(&NewSnapshot {
            provider: Provider::Github,
            org: "acme",
            started_at: t("2023-01-04T12:00:00Z"),
            finished_at: t("2023-01-04T12:00:00Z"),
            items: &[dk, other],
            errors: &[],
            stats: serde_json::json!({}),
        })
        .unwrap();
    let o = InitOptions::new(
        "both",
        vec![Provider::Circleci, Provider::Github],
        "2022-12-21..2023-01-05".parse().unwrap(),
    );
    firebreak_incident::init(&mut store, &o).unwrap();
    let s = firebreak_incident::status(&store, "both").unwrap();
    let ids: Vec<&str> = s.tasks.iter().map(|t| t.identity.as_str()).collect();
    assert!(!ids.contains(&deploy_id.as_str()), "{ids:?}");
    assert!(ids.contains(&"github/deploy_key/acme/app/backup"), "{ids:?}");
    let key = s.tasks.iter().find(|t| t.kind == "checkout_key").unwrap();
    assert!(
        key.unlocks.contains(&deploy_id)
            && key.unlocks.contains(fp)
            && key.unlocks.contains("one task covers both ends"),
        "{}",
        key.unlocks
    );

    // inventoried separately (no --with-github), only CircleCI breached: the checkout
    // key is matched to the GitHub snapshot's deploy key by SHA-256 all the same
    let mut ck2 = item(
        Kind::CheckoutKey,
        "gh/acme/app",
        "aa:bb:cc",
        "2021-01-01T00:00:00Z",
    );
    ck2.flags.fingerprint_sha256 = Some(fp.into());
    snapshot(&mut store, &[ck2], "2023-01-04T13:00:00Z");
    let o = InitOptions::new(
        "cci-only",
        vec![Provider::Circleci],
        "2022-12-21..2023-01-05".parse().unwrap(),
    );
    firebreak_incident::init(&mut store, &o).unwrap();
    let s = firebreak_incident::status(&store, "cci-only").unwrap();
    let key = s.tasks.iter().find(|t| t.kind == "checkout_key").unwrap();
    assert!(key.unlocks.contains(&deploy_id), "{}", key.unlocks);
}
