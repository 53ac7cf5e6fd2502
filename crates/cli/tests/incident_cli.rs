//! `firebreak incident init|list|status|record` and `firebreak report` end to end against a
//! temporary store: exit codes, the status JSON against the store's numbers, real hunt and
//! scan outputs recorded, and a self-contained report with no secret whole.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fb() -> Command {
    let mut c = Command::cargo_bin("firebreak").unwrap();
    c.env("NO_COLOR", "1")
        .env("CI", "1")
        .env_remove("FIREBREAK_STORE");
    c
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A fake AWS key pair built at run time (so no literal sits in the source tree).
fn planted() -> (String, String) {
    let b32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let kid: String = (0..16).map(|_| b32[(next() % 32) as usize] as char).collect();
    let sk: String = (0..40).map(|_| b64[(next() % 64) as usize] as char).collect();
    (format!("AKIA{kid}"), sk)
}

fn inventory_file(dir: &Path) -> PathBuf {
    let p = dir.join("inventory.jsonl");
    let mut s = String::new();
    for (kind, scope, name) in [
        ("env_var", "gh/acme/app", "AWS_ACCESS_KEY_ID"),
        ("env_var", "gh/acme/app", "AWS_SECRET_ACCESS_KEY"),
        ("context_var", "ctx-prod", "NPM_TOKEN"),
        ("checkout_key", "gh/acme/app", "aa:bb:cc"),
    ] {
        s.push_str(
            &serde_json::json!({"record":"item","provider":"circleci","kind":kind,"scope":scope,"name":name,
                "created_at":"2021-06-01T00:00:00Z","updated_at":null,"flags":{}})
            .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

fn no_secret(text: &str, what: &str) {
    let (kid, sk) = planted();
    assert!(!text.contains(&kid), "{what}: the planted key id appears whole");
    assert!(
        !text.contains(&sk),
        "{what}: the planted secret key appears whole"
    );
}

#[test]
fn init_status_record_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let dbs = db.to_str().unwrap();
    let inv = inventory_file(dir.path());
    let (kid, sk) = planted();
    let values = dir.path().join("values.env");
    std::fs::write(
        &values,
        format!("AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={sk}\nnot a line\n"),
    )
    .unwrap();

    // init: exit 3 because a line of the values file is bad (named on stderr)
    let o = fb()
        .args([
            "incident",
            "init",
            "cci",
            "--provider",
            "circleci",
            "--window",
            "2022-12-21..2023-01-05",
        ])
        .args([
            "--from-inventory",
            inv.to_str().unwrap(),
            "--values",
            values.to_str().unwrap(),
            "--store",
            dbs,
        ])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    // 4 inventoried, and the 2 kinds no API lists (OAuth, personal tokens) of the org
    assert!(out.contains("6 task(s)"), "{out}");
    assert!(err.contains("values.env:3"), "{err}");
    no_secret(&out, "init stdout");
    no_secret(&err, "init stderr");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // the same name again: usage error, named
    let o = fb()
        .args([
            "incident",
            "init",
            "cci",
            "--provider",
            "circleci",
            "--window",
            "2022-12-21..",
            "--from-inventory",
        ])
        .args([inv.to_str().unwrap(), "--store", dbs])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));

    // record a real hunt output (the drill's bundled audit logs)
    let hunt = fb()
        .args(["hunt", "--format", "jsonl", "--window", "2022-12-21..2023-01-05"])
        .arg(testdata().join("drill/audit"))
        .output()
        .unwrap();
    assert_eq!(hunt.status.code(), Some(1));
    let hunt_lines: Vec<Value> = String::from_utf8_lossy(&hunt.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let high = hunt_lines.iter().filter(|v| v["level"] == "high").count();
    assert!(high > 0);
    let hunt_file = dir.path().join("hunt.jsonl");
    std::fs::write(&hunt_file, &hunt.stdout).unwrap();
    let o = fb()
        .args([
            "incident",
            "record",
            "cci",
            "--kind",
            "hunt",
            hunt_file.to_str().unwrap(),
            "--store",
            dbs,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // record a real scan output of a log holding the planted pair
    let log = dir.path().join("ci.log");
    std::fs::write(
        &log,
        format!("+ export AWS_ACCESS_KEY_ID={kid}\n+ export AWS_SECRET_ACCESS_KEY={sk}\n"),
    )
    .unwrap();
    let scan = fb()
        .args(["scan", "--format", "jsonl"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        scan.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let scan_file = dir.path().join("scan.jsonl");
    std::fs::write(&scan_file, &scan.stdout).unwrap();
    let findings = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .filter(|l| l.contains("\"finding\""))
        .count();
    assert!(findings >= 2);
    let o = fb()
        .args([
            "incident",
            "record",
            "cci",
            "--kind",
            "scan",
            scan_file.to_str().unwrap(),
            "--store",
            dbs,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    // a file with a broken line: recorded, the line named, exit 3
    let bad = dir.path().join("census.jsonl");
    std::fs::write(&bad, "{\"artifact\":\"a-1.0.tar.gz\",\"index\":\"i\",\"uploaded_at\":\"2022-12-30T00:00:00Z\",\"findings\":[]}\n{oops\n").unwrap();
    let o = fb()
        .args([
            "incident",
            "record",
            "cci",
            "--kind",
            "census",
            bad.to_str().unwrap(),
            "--store",
            dbs,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("census.jsonl:2"));

    // status: JSON with the store's numbers; exit 1 while secrets are left
    let o = fb()
        .args(["incident", "status", "cci", "--format", "json", "--store", dbs])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    no_secret(&out, "status");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["incident"]["name"], "cci");
    assert_eq!(s["incident"]["providers"], serde_json::json!(["circleci"]));
    assert_eq!(s["incident"]["window"]["end"], "2023-01-05T00:00:00.000Z");
    assert_eq!(s["secrets"]["total"], 6);
    assert_eq!(s["secrets"]["pending"], 4);
    assert_eq!(s["secrets"]["not_checked"], 2);
    assert_eq!(s["hunts"]["runs"], 1);
    assert_eq!(s["hunts"]["findings"]["high"], high);
    let total: u64 = ["critical", "high", "medium", "low", "informational"]
        .iter()
        .map(|k| s["hunts"]["findings"][k].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, hunt_lines.len());
    assert_eq!(s["scans"]["findings"], findings);
    assert_eq!(
        (s["census"]["runs"].as_u64(), s["census"]["artifacts"].as_u64()),
        (Some(1), Some(1))
    );
    let tasks = s["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 6);
    let aws = tasks
        .iter()
        .find(|t| t["secret"] == "AWS_SECRET_ACCESS_KEY")
        .unwrap();
    assert_eq!(aws["inferred"], false, "the key id decodes to its account");
    let npm = tasks.iter().find(|t| t["secret"] == "NPM_TOKEN").unwrap();
    assert_eq!(npm["inferred"], true);
    assert_eq!(npm["scope"], "circleci/ctx-prod");
    // text status: the tasks left, then a stable footer
    let o = fb()
        .args(["incident", "status", "--store", dbs])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("secrets   6 total"), "{text}");
    assert!(text.contains("2 not checked (no API lists them)"), "{text}");
    assert!(text.contains("NPM_TOKEN"));

    // confirm: a person closes the OAuth task; refused without a task or a note
    let o = fb()
        .args(["incident", "confirm", "cci", "--note", "done", "--store", dbs])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "no task named");
    let o = fb()
        .args([
            "incident",
            "confirm",
            "cci",
            "--kind",
            "oauth_authorization",
            "--store",
            dbs,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "no note");
    let o = fb()
        .args([
            "incident",
            "confirm",
            "cci",
            "--kind",
            "oauth_authorization",
            "--by",
            "ann",
        ])
        .args([
            "--note",
            "revoked the CircleCI app at github.com/settings/applications and re-authorised it",
        ])
        .args(["--store", dbs])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("1 confirmed, 0 withdrawn, 0 skipped"), "{text}");
    let o = fb()
        .args(["incident", "status", "cci", "--format", "json", "--store", dbs])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "pending tasks are left");
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            s["secrets"]["not_checked"].as_u64(),
            s["secrets"]["confirmed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let oauth = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "oauth_authorization")
        .unwrap();
    assert_eq!(
        (oauth["state"].as_str(), oauth["confirmed"]["by"].as_str()),
        (Some("confirmed"), Some("ann"))
    );

    // list: JSON Lines (`--format json` was JSON Lines before the one output convention)
    let o = fb()
        .args(["incident", "list", "--format", "jsonl", "--store", dbs])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let l: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!((l["name"].as_str(), l["tasks"].as_u64()), (Some("cci"), Some(6)));
    // and one JSON document
    let o = fb()
        .args(["incident", "list", "--format", "json", "--store", dbs])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["incidents"][0]["name"].as_str(), Some("cci"));

    // report
    let rep = dir.path().join("rep");
    let o = fb()
        .args(["report", "--out", rep.to_str().unwrap(), "--store", dbs])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("report.html"));
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    let lower = html.to_ascii_lowercase();
    for bad in [
        "src=\"http",
        "<script",
        "<link",
        "@import",
        "url(http",
        "href=\"http",
    ] {
        assert!(!lower.contains(bad), "report.html: {bad}");
    }
    assert!(html.contains("<svg"));
    no_secret(&html, "report.html");
    no_secret(&md, "report.md");
    // one hunt finding per audit record: a record that tripped a rule and novelty checks
    // is one finding (the provider's event id, else file and line, names the record)
    let records: std::collections::BTreeSet<String> = hunt_lines
        .iter()
        .map(|v| match v["event_id"].as_str() {
            Some(id) => format!("{}|{id}", v["source"]),
            None => format!("{}|{}|{}", v["source"], v["file"], v["line"]),
        })
        .collect();
    assert!(html.contains(&format!(
        r#"<div class="card"><b>{}</b>hunt findings"#,
        records.len()
    )));
    assert!(
        md.contains(&format!("## Hunt findings ({})", records.len())),
        "{md}"
    );
    assert!(md.contains("| secrets | 6 (0 inventoried) |"), "{md}");
    assert!(
        md.contains("NOT: circleci: breached but never inventoried"),
        "{md}"
    );

    // errors name what is wrong
    let o = fb()
        .args(["incident", "status", "nope", "--store", dbs])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no incident named \"nope\""));
    let empty = dir.path().join("empty.db");
    let o = fb()
        .args(["report", "--store", empty.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no incident yet"));
}

/// `incident init --values F --verify-credentials --endpoint github=SIM --endpoint
/// gitlab=SIM`: the values are checked by the validators, access maps on, against the
/// provider simulator; the blast radii name the GitHub login, its organisation and
/// repositories, the GitLab user and its groups, the hunt pointers follow them, the live
/// credentials show `live`, and no value is printed or stored.
#[test]
fn init_verify_credentials_takes_the_blast_radius_from_the_validators() {
    use firebreak_core::SecretString;
    use firebreak_providers::sim::{SimConfig, Simulator};
    let gh_token = "ghp_FIREBREAKtestTOKENnotREAL0123456789ab";
    let gl_token = "glpat-SimAdminToken1234567890";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 3,
            log_projects: 0,
            github_token: SecretString::new(gh_token),
            gitlab_token: SecretString::new(gl_token),
            ..SimConfig::default()
        }))
        .unwrap();
    // the organisation's repositories, as the simulator lists them to its own client
    let repos: Vec<String> = rt.block_on(async {
        let gh = firebreak_providers::github::Client::new(
            &sim.github_url(),
            SecretString::new(gh_token),
            Default::default(),
        )
        .unwrap();
        let r = gh.list_org_repos("sim-org").await.into_result().unwrap();
        r.into_iter().map(|r| r.full_name).collect()
    });
    assert_eq!(repos.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let dbs = db.to_str().unwrap();
    let inv = dir.path().join("inventory.jsonl");
    let mut s = String::new();
    for name in ["GH_TOKEN", "GITLAB_TOKEN", "NPM_TOKEN"] {
        s.push_str(
            &serde_json::json!({"record":"item","provider":"circleci","kind":"env_var","scope":"gh/acme/app",
                "name":name,"created_at":"2021-06-01T00:00:00Z","updated_at":null,"flags":{}})
            .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(&inv, s).unwrap();
    let values = dir.path().join("values.env");
    std::fs::write(&values, format!("GH_TOKEN={gh_token}\nGITLAB_TOKEN={gl_token}\n")).unwrap();

    let o = fb()
        .args([
            "incident",
            "init",
            "cci",
            "--provider",
            "circleci",
            "--window",
            "2022-12-21..2023-01-05",
            "--format",
            "json",
            "--verify-credentials",
        ])
        .args(["--from-inventory", inv.to_str().unwrap()])
        .args(["--values", values.to_str().unwrap(), "--store", dbs])
        .args(["--endpoint", &format!("github={}", sim.github_url())])
        .args(["--endpoint", &format!("gitlab={}", sim.gitlab_url())])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let init: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(init["by_method"]["validated"], 2, "{init}");
    assert_eq!(init["by_method"]["name"], 1, "{init}");
    assert_eq!(init["verdicts"]["live"], 2, "{init}");
    assert_eq!(init["live"], serde_json::json!(["GH_TOKEN", "GITLAB_TOKEN"]));
    assert_eq!(init["verify_errors"], serde_json::json!([]));

    let o = fb()
        .args(["incident", "status", "cci", "--format", "json", "--store", dbs])
        .output()
        .unwrap();
    let status_out = String::from_utf8_lossy(&o.stdout).into_owned();
    // 1: tasks left to do
    assert_eq!(o.status.code(), Some(1), "{status_out}");
    let st: Value = serde_json::from_str(&status_out).unwrap();
    let task = |n: &str| {
        st["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["secret"] == n)
            .unwrap()
            .clone()
    };
    let gh = task("GH_TOKEN");
    assert_eq!(gh["inferred"], false, "{gh}");
    assert_eq!(gh["state"], "live", "{gh}");
    // a person's word never closes a LIVE credential
    let o = fb()
        .args([
            "incident",
            "confirm",
            "cci",
            "--task",
            "GH_TOKEN",
            "--note",
            "rotated it",
        ])
        .args(["--store", dbs])
        .output()
        .unwrap();
    let cerr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{cerr}");
    assert!(cerr.contains("GH_TOKEN still LIVE"), "{cerr}");
    assert_eq!(gh["old_validation"]["validator"], "github.token");
    let unlocks = gh["unlocks"].as_str().unwrap();
    assert!(unlocks.contains("GitHub as user sim-admin"), "{unlocks}");
    assert!(unlocks.contains("3 repositories"), "{unlocks}");
    for r in &repos {
        assert!(unlocks.contains(r.as_str()), "{r}: {unlocks}");
    }
    assert_eq!(
        gh["hunt_logs"],
        serde_json::json!([
            "GitHub audit log of organisation sim-org (actor = sim-admin)",
            "GitHub audit log (security log) of user sim-admin (actor = sim-admin)"
        ])
    );
    let gl = task("GITLAB_TOKEN");
    assert_eq!(gl["inferred"], false, "{gl}");
    assert_eq!(gl["state"], "live", "{gl}");
    let unlocks = gl["unlocks"].as_str().unwrap();
    assert!(
        unlocks.contains("GitLab as ") && unlocks.contains("sim-admin") && unlocks.contains("project(s)"),
        "{unlocks}"
    );
    let logs: Vec<&str> = gl["hunt_logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        logs.contains(&"GitLab audit events of group sim-group (author = sim-admin)"),
        "{logs:?}"
    );
    let npm = task("NPM_TOKEN");
    assert_eq!(npm["inferred"], true);
    assert_eq!(npm["state"], "pending");

    // the text output says what was checked, by name only
    let o = fb()
        .args([
            "incident",
            "init",
            "cci-2",
            "--provider",
            "circleci",
            "--window",
            "2022-12-21..2023-01-05",
            "--verify-credentials",
        ])
        .args(["--from-inventory", inv.to_str().unwrap()])
        .args(["--values", values.to_str().unwrap(), "--store", dbs])
        .args(["--endpoint", &format!("github={}", sim.github_url())])
        .args(["--endpoint", &format!("gitlab={}", sim.gitlab_url())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("blast radius by method: inventory 2, name 1, validated 2"),
        "{text}"
    );
    assert!(
        text.contains("credentials checked at their providers: 2 live"),
        "{text}"
    );
    assert!(text.contains("GH_TOKEN, GITLAB_TOKEN"), "{text}");

    rt.block_on(sim.shutdown());
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(w) = std::fs::read(dir.path().join("fb.db-wal")) {
        bytes.extend(w);
    }
    for (what, t) in [
        ("init", out.as_str()),
        ("init stderr", err.as_str()),
        ("status", status_out.as_str()),
        ("text", text.as_str()),
        ("store", &String::from_utf8_lossy(&bytes)),
    ] {
        assert!(
            !t.contains(gh_token) && !t.contains(gl_token),
            "{what}: a value appears whole"
        );
    }
}

#[test]
fn aws_key_ids_without_credentials_make_tasks_a_draft_and_name_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let inv = inventory_file(dir.path());
    let (kid, _) = planted();
    let list = dir.path().join("aws-notice.txt");
    std::fs::write(&list, format!("# from AWS\n{kid}\nnot-a-key-id\n")).unwrap();
    let draft = dir.path().join("draft.toml");
    let out = fb()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "incident",
            "init",
            "cci",
            "--provider",
            "circleci",
            "--window",
            "2022-12-21..2023-01-05",
        ])
        .arg("--store")
        .arg(&db)
        .arg("--from-inventory")
        .arg(&inv)
        .arg("--aws-key-ids")
        .arg(&list)
        .arg("--draft-plan")
        .arg(&draft)
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // partial: a bad line, and no IAM lookup was possible
    assert_eq!(out.status.code(), Some(3), "{so}\n{se}");
    assert!(se.contains("aws-notice.txt:3: not an AWS access key id"), "{se}");
    assert!(!se.contains("not-a-key-id"), "the bad line is never echoed: {se}");
    assert!(se.contains("decoded offline only"), "{se}");
    assert!(so.contains("7 task(s)"), "{so}");
    assert!(
        so.contains("AWS keys named as exposed: 1 (0 with their IAM user"),
        "{so}"
    );
    let d = std::fs::read_to_string(&draft).unwrap();
    assert!(d.contains("aws_access_key aws:") && d.contains(&kid), "{d}");
    assert!(
        d.contains("type = \"manual\""),
        "no user known: a manual step\n{d}"
    );
    // the task is in the status, pending
    let st = fb()
        .args(["incident", "status", "cci", "--format", "json", "--store"])
        .arg(&db)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    let t = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "aws_access_key")
        .expect("an aws_access_key task");
    assert_eq!(t["state"], "pending");
    // a list with no key id at all is a usage error
    std::fs::write(&list, "nothing here\n").unwrap();
    fb().args([
        "incident",
        "init",
        "cci2",
        "--provider",
        "circleci",
        "--window",
        "2022-12-21..",
    ])
    .arg("--store")
    .arg(&db)
    .arg("--from-inventory")
    .arg(&inv)
    .arg("--aws-key-ids")
    .arg(&list)
    .assert()
    .code(2);
}
