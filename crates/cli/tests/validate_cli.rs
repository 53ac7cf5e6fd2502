//! `firebreak validate` and `firebreak scan --validate` against the provider simulator
//! (GitHub `GET /user`, GitLab `GET /personal_access_tokens/self`, CircleCI `GET /me`):
//! the simulator's own tokens are live, other tokens dead, an unreachable endpoint is
//! unknown; values never appear in any output.

mod common;
use common::gh_token;
use firebreak_core::SecretString;
use firebreak_providers::sim::{SimConfig, Simulator};
use std::process::Command;

fn firebreak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.env_remove("RUST_LOG").env("NO_COLOR", "1").env("CI", "1");
    c
}

struct World {
    _rt: tokio::runtime::Runtime,
    sim: firebreak_providers::sim::SimHandle,
    live_gh: String,
    dead_gh: String,
    live_gl: String,
    live_cc: String,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let live_gh = gh_token("ghp_", "LiveTokenOfTheSimulatorAdmin1234567");
    let dead_gh = gh_token("ghp_", "RotatedAwayLongAgoAndRevoked98765432");
    let live_gl = "glpat-SimAdminToken1234567890".to_string();
    let live_cc = "CCIPAT_Lx3Kq9Vb2Nw7Rt5Yp8Zs1A_0123456789abcdef0123456789abcdef01234567".to_string();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 2,
            log_projects: 0,
            github_token: SecretString::new(live_gh.clone()),
            gitlab_token: SecretString::new(live_gl.clone()),
            circleci_token: SecretString::new(live_cc.clone()),
            ..SimConfig::default()
        }))
        .unwrap();
    World {
        _rt: rt,
        sim,
        live_gh,
        dead_gh,
        live_gl,
        live_cc,
    }
}

fn endpoints(w: &World) -> Vec<String> {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    vec![
        "--endpoint".into(),
        format!("github={}", w.sim.github_url()),
        "--endpoint".into(),
        format!("gitlab={}", w.sim.gitlab_url()),
        "--endpoint".into(),
        format!("circleci={}/circleci", w.sim.base_url()),
        "--endpoint".into(),
        format!("aws=http://127.0.0.1:{closed}/"),
        "--validate-timeout".into(),
        "2".into(),
    ]
}

fn assert_no_values(w: &World, texts: &[&str]) {
    for t in texts {
        for v in [
            &w.live_gh,
            &w.dead_gh,
            &w.live_gl,
            &w.live_cc,
            &"wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEYa".to_string(),
        ] {
            assert!(!t.contains(v.as_str()), "a value was printed:\n{t}");
        }
    }
}

#[test]
fn validate_a_values_file() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("leaked.env");
    std::fs::write(
        &values,
        format!(
            "# values from a leaked CI log\nGITHUB_TOKEN={}\nOLD_GITHUB_TOKEN={}\nGITLAB_TOKEN={}\nCIRCLE_TOKEN={}\n\
             this line is not a value\nPROD_AWS_ACCESS_KEY_ID=AKIAZ7EXAMPLEKEY2345\nPROD_AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEYa\n\
             COLOR=blue\n",
            w.live_gh, w.dead_gh, w.live_gl, w.live_cc
        ),
    )
    .unwrap();
    let out = firebreak()
        .args(["validate", "--values"])
        .arg(&values)
        .args(["--format", "json"])
        .args(endpoints(&w))
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_no_values(&w, &[&so, &se]);
    // a malformed line makes the run partial: exit 3, the line named
    assert_eq!(out.status.code(), Some(3), "{so}\n{se}");
    assert!(se.contains("leaked.env:6: not a NAME=VALUE line"), "{se}");
    assert!(se.contains("COLOR: no validator recognises this value"), "{se}");
    let doc: serde_json::Value = serde_json::from_str(&so).unwrap();
    let by_name = |n: &str| {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} missing: {so}"))
    };
    let gh = by_name("GITHUB_TOKEN");
    assert_eq!(gh["validation"]["status"], "live");
    assert_eq!(gh["validation"]["identity"]["login"], "sim-admin");
    assert_eq!(
        gh["validation"]["identity"]["scopes"],
        serde_json::json!(["repo", "workflow", "admin:org"])
    );
    assert_eq!(by_name("OLD_GITHUB_TOKEN")["validation"]["status"], "dead");
    assert_eq!(by_name("GITLAB_TOKEN")["validation"]["status"], "live");
    assert_eq!(
        by_name("CIRCLE_TOKEN")["validation"]["identity"]["login"],
        "sim-admin"
    );
    let aws = by_name("PROD_AWS_ACCESS_KEY_ID");
    assert_eq!(aws["validator"], "aws.access_key");
    assert_eq!(aws["partners"], serde_json::json!(["PROD_AWS_SECRET_ACCESS_KEY"]));
    assert_eq!(
        aws["validation"]["status"], "unknown",
        "an unreachable endpoint proves nothing: {aws}"
    );
    assert_eq!(doc["summary"]["live"], 3);
    assert_eq!(doc["summary"]["dead"], 1);
    assert_eq!(doc["summary"]["malformed_lines"], serde_json::json!([6]));

    // without the bad line: exit 1 (live credentials found)
    let text = std::fs::read_to_string(&values)
        .unwrap()
        .replace("this line is not a value\n", "");
    std::fs::write(&values, text).unwrap();
    let out = firebreak()
        .args(["validate", "--values"])
        .arg(&values)
        .args(endpoints(&w))
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{so}");
    assert!(
        so.contains("GITHUB_TOKEN [github.token]: LIVE (account_type=User, login=sim-admin"),
        "{so}"
    );
    assert_no_values(&w, &[&so, &String::from_utf8_lossy(&out.stderr)]);
}

#[test]
fn validate_bare_values_of_one_type_from_stdin() {
    use std::io::Write;
    let w = world();
    let mut child = firebreak()
        .args([
            "validate",
            "--type",
            "github.token",
            "--values",
            "-",
            "--format",
            "jsonl",
        ])
        .args(endpoints(&w))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    write!(
        child.stdin.take().unwrap(),
        "{}\n\n{}\nnot-a-github-token\n",
        w.dead_gh,
        w.live_gh
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = so.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{so}");
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["validation"]["status"], "dead");
    assert_eq!(lines[1]["validation"]["status"], "live");
    assert_eq!(
        lines[2]["validation"]["status"], "error",
        "a value of the wrong shape is not sent"
    );
    assert_eq!(lines[3]["type"], "summary");
    // an error makes the run partial
    assert_eq!(out.status.code(), Some(3));
    assert_no_values(&w, &[&so, &String::from_utf8_lossy(&out.stderr)]);
}

#[test]
fn scan_validate_marks_live_and_dead_findings() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("build.log");
    std::fs::write(
        &f,
        format!(
            "step 1\nexport GITHUB_TOKEN={}\nstep 2\ngit push https://x:{}@github.com/acme/app\n",
            w.live_gh, w.dead_gh
        ),
    )
    .unwrap();
    let out = firebreak()
        .args(["scan", "--validate", "--format", "json"])
        .arg(&f)
        .args(endpoints(&w))
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_no_values(&w, &[&so, &se]);
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    let doc: serde_json::Value = serde_json::from_str(&so).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let on = |line: u64| {
        findings
            .iter()
            .find(|f| f["line"] == line)
            .unwrap_or_else(|| panic!("no finding on line {line}: {so}"))
    };
    assert_eq!(on(2)["validation"]["status"], "live", "{so}");
    assert_eq!(on(2)["validation"]["identity"]["login"], "sim-admin");
    assert_eq!(on(4)["validation"]["status"], "dead", "{so}");
    assert!(se.contains("live"), "{se}");

    let out = firebreak()
        .args(["scan", "--validate", "--only-live", "--format", "sarif"])
        .arg(&f)
        .args(endpoints(&w))
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    let sarif: serde_json::Value = serde_json::from_str(&so).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{so}");
    assert!(
        results[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("Validation: LIVE"),
        "{so}"
    );
    assert_eq!(results[0]["level"], "error");
    assert_no_values(&w, &[&so, &String::from_utf8_lossy(&out.stderr)]);

    // without --validate nothing is sent
    let before = w.sim.request_count(firebreak_providers::Provider::Github);
    let out = firebreak()
        .args(["scan", "--format", "json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"validation\""));
    assert_eq!(w.sim.request_count(firebreak_providers::Provider::Github), before);
}

#[test]
fn list_and_bad_arguments() {
    let out = firebreak().args(["validate", "--list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(so.lines().count() >= 40, "{so}");
    assert!(
        so.contains("aws.access_key\taws\thttps://sts.amazonaws.com/"),
        "{so}"
    );
    let out = firebreak()
        .args(["validate", "--values", "/nonexistent/values.env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/values.env"));
    let out = firebreak()
        .args(["validate", "--values", "-", "--endpoint", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=URL"));
    let out = firebreak()
        .args(["validate", "--values", "-", "--type", "nope.nothing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = firebreak().args(["scan", "--only-live", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--only-live needs --validate");
}

#[test]
fn map_what_a_live_github_token_reaches() {
    let w = world();
    let out = firebreak()
        .args([
            "validate",
            "--type",
            "github.token",
            "--values",
            "-",
            "--map",
            "-f",
            "json",
        ])
        .args(endpoints(&w))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            writeln!(c.stdin.take().unwrap(), "{}\n{}", w.live_gh, w.dead_gh).unwrap();
            c.wait_with_output()
        })
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert_no_values(&w, &[&so, &String::from_utf8_lossy(&out.stderr)]);
    let doc: serde_json::Value = serde_json::from_str(&so).unwrap();
    let live = &doc["results"][0]["validation"];
    assert_eq!(live["status"], "live");
    let map = &live["access"];
    assert_eq!(map["principal"], "sim-admin");
    assert_eq!(
        map["scopes"],
        serde_json::json!(["repo", "workflow", "admin:org"])
    );
    assert_eq!(map["organisations"], serde_json::json!(["sim-org"]));
    let repos = map["resources"].as_array().unwrap();
    assert_eq!(repos.len(), 2, "{map}");
    assert_eq!(repos[0]["permission"], "admin");
    assert_eq!(repos[1]["permission"], "push");
    assert!(repos[0]["resource"].as_str().unwrap().starts_with("sim-org/"));
    assert!(
        doc["results"][1]["validation"].get("access").is_none(),
        "no map of a dead token"
    );
}
