//! No secret reaches output: every subcommand runs on inputs full of known fake secrets,
//! in every output format, with `RUST_LOG=trace` and `FIREBREAK_LOG=trace`, and none of
//! the secret values may appear whole in its stdout, its stderr, or any file it wrote.
//!
//! Secrets checked: fake credentials planted in files, logs, archives and indexes; the
//! provider API tokens; every value the provider simulator stores (before and after
//! rotation, including the new values `rotate` generates); the journal key; the token
//! service's admin credential and the upload tokens it issues (the one place a new
//! upload token may appear is the stdout of `token issue`, which exists to show it once).

use crate::common::bin;
use firebreak_adversarial::fake;
use firebreak_adversarial::seeds::{gz, tar_raw, zip_of, TarKind};
use firebreak_core::redact;
use firebreak_core::SecretString;
use firebreak_providers::sim::{SimConfig, Simulator};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const CIRCLECI_TOKEN: &str = concat!("CCIPAT_", "Lq2Wn7Xv4Rz9Tk3Mb8Yd1Hs6");
const GITHUB_TOKEN: &str = concat!("ghp_", "Sim9Tok3nQw8Er7Ty6Ui5Op4As3Df2Gh1Jk0L");
const GITLAB_TOKEN: &str = concat!("glpat-", "SimTok7Lq2Wn9Xv4Rz8T");
const ADMIN: &str = concat!("fb-admin-", "Qm4Xr8Tz2Wv6Lp9Ks3Nd7Hf1");
const ROTATE_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Secrets(Vec<String>);

impl Secrets {
    /// Panics (naming the secret only by its redacted form) when `bytes` holds one whole.
    fn check(&self, what: &str, bytes: &[u8]) {
        for s in &self.0 {
            if s.len() >= 8 && bytes.windows(s.len()).any(|w| w == s.as_bytes()) {
                panic!("{what}: a secret appears whole ({})", redact(s));
            }
        }
    }
}

fn trace(c: &mut Command) -> &mut Command {
    c.env("RUST_LOG", "trace")
        .env("FIREBREAK_LOG", "trace")
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .env("CIRCLECI_TOKEN", CIRCLECI_TOKEN)
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("GITLAB_TOKEN", GITLAB_TOKEN)
        .env("FIREBREAK_ROTATE_KEY", ROTATE_KEY)
        .env("FIREBREAK_ADMIN_TOKEN", ADMIN)
}

/// Runs `firebreak ARGS` with trace logging; checks stdout and stderr; returns them.
fn run(secrets: &Secrets, dir: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> (i32, String, String) {
    let mut c = Command::new(bin());
    trace(&mut c).current_dir(dir).args(args);
    let out = match stdin {
        None => c.output().expect("run firebreak"),
        Some(data) => {
            c.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut ch = c.spawn().unwrap();
            let mut si = ch.stdin.take().unwrap();
            let t = std::thread::spawn(move || {
                use std::io::Write;
                let _ = si.write_all(&data);
            });
            let o = ch.wait_with_output().unwrap();
            t.join().unwrap();
            o
        }
    };
    let what = format!("firebreak {}", args.join(" "));
    secrets.check(&format!("{what}: stdout"), &out.stdout);
    secrets.check(&format!("{what}: stderr"), &out.stderr);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir` except the inputs.
fn check_files(secrets: &Secrets, dir: &Path, inputs: &[PathBuf]) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if inputs.iter().any(|i| p.starts_with(i)) {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let mut b = Vec::new();
                std::fs::File::open(&p).unwrap().read_to_end(&mut b).unwrap();
                secrets.check(&format!("file written: {}", p.display()), &b);
                n += 1;
            }
        }
    }
    n
}

fn sim_values(sim: &firebreak_providers::sim::SimHandle) -> Vec<String> {
    sim.secrets()
        .iter()
        .filter_map(|v| sim.secret_value(v.provider, v.kind, &v.scope, &v.name))
        .map(|s| s.expose().to_string())
        .collect()
}

fn plant_inputs(dir: &Path) -> Vec<PathBuf> {
    let all = fake::ALL.join("\n");
    let env = format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nGITHUB_TOKEN={}\nSLACK_BOT_TOKEN={}\nGITLAB_TOKEN={}\nUPLOAD={}\n",
        fake::AWS_KEY_ID,
        fake::AWS_SECRET,
        fake::GITHUB_PAT,
        fake::SLACK_BOT,
        fake::GITLAB_PAT,
        upload_fake().expose()
    );
    let files = dir.join("inputs");
    std::fs::create_dir_all(files.join("tree")).unwrap();
    std::fs::write(files.join("tree/creds.env"), &env).unwrap();
    std::fs::write(
        files.join("tree/bad-utf8.log"),
        [
            b"\xff\xfe token=".as_ref(),
            fake::GITHUB_PAT.as_bytes(),
            b"\xc3\x28\n",
        ]
        .concat(),
    )
    .unwrap();
    std::fs::write(
        files.join("tree/bundle.zip"),
        zip_of(&[("a/creds.env", env.as_bytes()), ("../evil.env", env.as_bytes())]),
    )
    .unwrap();
    std::fs::write(
        files.join("tree/logs.tar.gz"),
        gz(&tar_raw(&[
            ("job/1.log", TarKind::File, env.as_bytes()),
            ("/abs.log", TarKind::File, all.as_bytes()),
        ])),
    )
    .unwrap();
    // audit logs with secrets in fields hunt reads but never prints, and in broken records
    let ct = |t: &str, extra: &str| {
        format!(
            "{{\"eventVersion\":\"1.08\",\"eventTime\":\"{t}\",\"eventSource\":\"secretsmanager.amazonaws.com\",\"eventName\":\"PutSecretValue\",\"userIdentity\":{{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/ci\",\"accessKeyId\":\"{}\"}},\"sourceIPAddress\":\"203.0.113.9\",\"userAgent\":\"aws-cli/2\",\"requestParameters\":{{\"secretString\":\"{}\",\"clientRequestToken\":\"{}\"}},\"responseElements\":{{\"token\":\"{}\"}}{extra}}}\n",
            fake::AWS_KEY_ID,
            fake::AWS_SECRET,
            fake::GITHUB_PAT,
            fake::SLACK_BOT
        )
    };
    std::fs::create_dir_all(files.join("logs")).unwrap();
    let mut ndjson = String::new();
    ndjson.push_str(&ct("2022-12-10T00:00:00Z", ""));
    ndjson.push_str(&ct("2023-01-04T00:00:00Z", ""));
    ndjson.push_str(&format!(
        "{{\"eventVersion\":\"1.08\",\"broken\":\"{}\n",
        fake::GITHUB_PAT
    ));
    ndjson.push_str(&format!(
        "{{\"eventVersion\":\"1.08\",\"eventTime\":\"{}\"}}\n",
        fake::AWS_SECRET
    ));
    std::fs::write(files.join("logs/cloudtrail.ndjson"), ndjson).unwrap();
    std::fs::write(
        files.join("logs/circleci.csv"),
        format!(
            "id,action,occurred_at,actor,request\n1,context.secrets.accessed,2023-01-04T00:00:00Z,\"{{\"\"name\"\":\"\"bot\"\"}}\",\"{{\"\"token\"\":\"\"{}\"\"}}\"\n2,{},bad\n",
            fake::GITLAB_PAT,
            fake::SLACK_BOT
        ),
    )
    .unwrap();
    // a census index and package with secrets, including in wrongly typed fields
    std::fs::create_dir_all(files.join("census")).unwrap();
    std::fs::write(
        files.join("census/pkg-1.0-0.tar.gz"),
        gz(&tar_raw(&[("pkg/conf.env", TarKind::File, env.as_bytes())])),
    )
    .unwrap();
    std::fs::write(
        files.join("census/index.jsonl"),
        format!(
            "{{\"name\":\"pkg\",\"version\":\"1.0\",\"uploaded_at\":\"2023-01-04T00:00:00Z\",\"path\":\"pkg-1.0-0.tar.gz\"}}\n\
             {{\"name\":\"x\",\"uploaded_at\":\"2023-01-04T00:00:00Z\",\"size\":\"{}\",\"sha256\":\"{}\"}}\n\
             {{\"name\":\"{}\",\"uploaded_at\":\"{}\"}}\n",
            fake::GITHUB_PAT,
            fake::AWS_SECRET,
            fake::SLACK_BOT,
            fake::GITLAB_PAT
        ),
    )
    .unwrap();
    vec![files]
}

fn upload_fake() -> SecretString {
    firebreak_serve::token::from_bytes(&[0x5a; 32])
}

#[test]
fn no_subcommand_prints_or_writes_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = plant_inputs(d);
    let mut secrets: Vec<String> = fake::ALL.iter().map(|s| s.to_string()).collect();
    secrets.extend([CIRCLECI_TOKEN, GITHUB_TOKEN, GITLAB_TOKEN, ADMIN, ROTATE_KEY].map(String::from));
    secrets.push(upload_fake().expose().to_string());

    // ---- provider simulator (in-process) with our tokens
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            projects: 4,
            log_projects: 2,
            circleci_token: SecretString::new(CIRCLECI_TOKEN),
            github_token: SecretString::new(GITHUB_TOKEN),
            gitlab_token: SecretString::new(GITLAB_TOKEN),
            ..SimConfig::default()
        }))
        .unwrap();
    secrets.extend(sim_values(&sim));
    let s = Secrets(secrets.clone());

    // ---- scan: every format, to stdout and to a file, files + archives + stdin
    let out_dir = d.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let tree = inputs[0].join("tree").display().to_string();
    for f in ["text", "json", "jsonl", "sarif"] {
        let (code, out, err) = run(&s, d, &["scan", "--format", f, &tree], None);
        assert_eq!(code, 1, "scan --format {f}: {err}");
        assert!(!out.is_empty());
        let o = out_dir.join(format!("scan.{f}"));
        let (code, _, err) = run(
            &s,
            d,
            &["scan", "--format", f, "-o", &o.display().to_string(), &tree],
            None,
        );
        assert_eq!(code, 1, "{err}");
        assert!(o.exists());
    }
    let (code, _, _) = run(
        &s,
        d,
        &["scan", "--format", "jsonl", "-"],
        Some(std::fs::read(inputs[0].join("tree/creds.env")).unwrap()),
    );
    assert_eq!(code, 1);
    let (code, _, _) = run(
        &s,
        d,
        &[
            "scan",
            "--format",
            "json",
            "--baseline",
            &out_dir.join("scan.jsonl").display().to_string(),
            &tree,
        ],
        None,
    );
    assert_eq!(code, 0, "everything suppressed by the baseline");
    // CI logs straight from the (simulated) providers
    let (code, _, err) = run(
        &s,
        d,
        &[
            "scan",
            "--format",
            "json",
            "--circleci",
            "gh/sim-org/repo-00000",
            "--circleci-url",
            &sim.circleci_url(),
            "--github",
            "sim-org/repo-00000",
            "--github-url",
            &sim.github_url(),
        ],
        None,
    );
    assert!(code == 0 || code == 1, "scan of CI logs: {err}");

    // ---- hunt: every format
    let logs = inputs[0].join("logs").display().to_string();
    for f in ["text", "json", "jsonl", "csv"] {
        let (code, _, err) = run(
            &s,
            d,
            &[
                "hunt",
                "--format",
                f,
                "--window",
                "2023-01-01..2023-01-10",
                "--baseline",
                "2022-12-01..2023-01-01",
                &logs,
            ],
            None,
        );
        assert_eq!(code, 3, "hunt --format {f} (malformed records → partial): {err}");
    }
    let (_, _, _) = run(&s, d, &["hunt", "compile", "--target", "athena"], None);

    // ---- inventory against the simulator, every provider and format
    let store = d.join("state/firebreak.db").display().to_string();
    std::fs::create_dir_all(d.join("state")).unwrap();
    for (p, org, url) in [
        ("circleci", "sim-org", sim.circleci_url()),
        ("github", "sim-org", sim.github_url()),
        ("gitlab", "sim-group", sim.gitlab_url()),
    ] {
        for f in ["table", "json", "csv"] {
            let (code, _, err) = run(
                &s,
                d,
                &[
                    "inventory",
                    "--provider",
                    p,
                    "--org",
                    org,
                    "--api-url",
                    &url,
                    "--format",
                    f,
                    "--store",
                    &store,
                ],
                None,
            );
            assert!(code == 0 || code == 1, "inventory {p} {f}: {err}");
        }
    }
    for args in [
        vec!["inventory", "list", "--format", "json", "--store", &store],
        vec![
            "inventory",
            "diff",
            "1",
            "2",
            "--format",
            "csv",
            "--store",
            &store,
        ],
        vec![
            "inventory",
            "verify",
            "--rotated-after",
            "2023-01-04",
            "--format",
            "table",
            "--store",
            &store,
        ],
    ] {
        let (code, _, err) = run(&s, d, &args, None);
        assert!((0..=1).contains(&code), "{args:?}: {err}");
    }

    // ---- rotate: plan, dry run, run, status (new values are generated and written)
    let plan = d.join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[providers.circleci]\napi_url = \"{}\"\n[providers.github]\napi_url = \"{}\"\n\n\
             [[secret]]\nname = \"NPM_TOKEN\"\nshared = true\nsource = {{ type = \"random\", length = 40 }}\n\
             [[secret.sink]]\ntype = \"circleci_env\"\nproject = \"gh/sim-org/repo-00001\"\nname = \"NPM_TOKEN\"\n\
             [[secret.sink]]\ntype = \"github_secret\"\nrepo = \"sim-org/repo-00001\"\nname = \"NPM_TOKEN\"\n",
            sim.circleci_url(),
            sim.github_url()
        ),
    )
    .unwrap();
    let rstore = d.join("state/rotate.db").display().to_string();
    let planp = plan.display().to_string();
    let (code, plan_out, err) = run(
        &s,
        d,
        &["rotate", "--store", &store, "plan", "--from-inventory", "1"],
        None,
    );
    assert_eq!(code, 0, "rotate plan: {err}");
    assert!(plan_out.contains("[[secret]]"), "{plan_out}");
    let (code, _, err) = run(
        &s,
        d,
        &["rotate", "--store", &rstore, "run", "--dry-run", &planp],
        None,
    );
    assert_eq!(code, 0, "dry run: {err}");
    let (code, _, err) = run(&s, d, &["rotate", "--store", &rstore, "run", &planp], None);
    assert!(code == 0 || code == 1, "rotate run: {err}");
    // the values rotate generated are secrets too
    let mut after = secrets.clone();
    after.extend(sim_values(&sim));
    let s = Secrets(after);
    for f in ["text", "json"] {
        let (code, _, err) = run(
            &s,
            d,
            &["rotate", "--store", &rstore, "status", "--format", f],
            None,
        );
        assert!((0..=3).contains(&code), "rotate status: {err}");
    }

    // ---- census with the scanner
    let idx = inputs[0].join("census/index.jsonl").display().to_string();
    for f in ["jsonl", "json", "conda"] {
        let (code, _, err) = run(
            &s,
            d,
            &[
                "census",
                "--window",
                "2023-01-01..2023-01-10",
                "--scan",
                "--format",
                f,
                &idx,
            ],
            None,
        );
        assert!(code == 1 || code == 3, "census {f}: {err}");
    }

    // ---- serve + token
    serve_and_token(&s, d, &inputs[0]);

    // ---- every file written along the way
    let n = check_files(&s, d, &inputs);
    assert!(n >= 10, "checked {n} written files");
    rt.block_on(sim.shutdown());
}

/// `input` is the inputs directory: the admin token file goes there (it is an input,
/// not something firebreak wrote).
fn serve_and_token(s: &Secrets, d: &Path, input: &Path) {
    let sd = d.join("serve");
    std::fs::create_dir_all(&sd).unwrap();
    let admin_file = input.join("admin-token");
    std::fs::write(&admin_file, format!("{ADMIN}\n")).unwrap();
    let cfg = sd.join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite:{0}/serve.db\"\nstaging_dir = \"{0}/staging\"\npublished_dir = \"{0}/published\"\naudit_log = \"{0}/audit.jsonl\"\nadmin_token_file = \"{1}\"\n[limits]\nrate_limit_per_sec = 0\n[[projects]]\nname = \"acme\"\n",
            sd.display(),
            admin_file.display()
        ),
    )
    .unwrap();
    let mut c = Command::new(bin());
    trace(&mut c)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut so = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    so.read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let mut se = child.stderr.take().unwrap();
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });

    // issue: the new token is shown once on stdout (and must appear nowhere else)
    let mut c = Command::new(bin());
    trace(&mut c).args([
        "token",
        "--server",
        &url,
        "issue",
        "--project",
        "acme",
        "--provider",
        "github",
        "--ttl",
        "1h",
    ]);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.check("token issue: stderr", &o.stderr);
    let issued = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("fbu_"))
        .expect("issued token on stdout")
        .to_string();
    let mut all = s.0.clone();
    all.push(issued.clone());
    let s2 = Secrets(all);
    for f in ["text", "jsonl"] {
        let _ = run(&s2, d, &["token", "--server", &url, "list", "--format", f], None);
    }
    // use the tokens over HTTP: verify (good, fake), publish with a traversal, OIDC exchange
    let jwt = firebreak_adversarial::targets::jwt::sign_es256(
        &firebreak_adversarial::targets::jwt::github_claims(),
        "k",
    );
    let host = url.trim_start_matches("http://").to_string();
    for (path, auth, body) in [
        ("/v1/tokens/verify", issued.clone(), String::new()),
        (
            "/v1/tokens/verify",
            upload_fake().expose().to_string(),
            String::new(),
        ),
        ("/v1/tokens/verify", fake::GITHUB_PAT.to_string(), String::new()),
        (
            "/v1/projects/acme/publish",
            issued.clone(),
            "{\"artifact\":\"acme/../../x\",\"sha256\":\"00\"}".into(),
        ),
        (
            "/v1/oidc/exchange",
            String::new(),
            format!("{{\"token\":\"{jwt}\",\"project\":\"acme\"}}"),
        ),
        ("/v1/admin/tokens", ADMIN.to_string(), String::new()),
        ("/v1/admin/tokens", format!("{ADMIN}x"), String::new()),
    ] {
        use std::io::Write;
        let mut t = std::net::TcpStream::connect(&host).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("Authorization: Bearer {auth}\r\n")
        };
        let method = if path == "/v1/admin/tokens" { "GET" } else { "POST" };
        write!(t, "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        let mut resp = Vec::new();
        let _ = t.read_to_end(&mut resp);
        s2.check(&format!("serve response to {path}"), &resp);
    }
    let id = {
        let (_, out, _) = run(
            &s2,
            d,
            &["token", "--server", &url, "list", "--format", "jsonl"],
            None,
        );
        let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    let (code, _, err) = run(&s2, d, &["token", "--server", &url, "revoke", "--id", &id], None);
    assert_eq!(code, 0, "{err}");
    let _ = run(
        &s2,
        d,
        &[
            "token",
            "--server",
            &url,
            "revoke",
            "--provider",
            "circleci",
            "--all-projects",
        ],
        None,
    );
    // stop the server and check everything it printed
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    let err = err_t.join().unwrap();
    let out = out_t.join().unwrap();
    s2.check("serve: stderr", &err);
    s2.check("serve: stdout", &out);
    assert!(!err.is_empty(), "trace logging produced something");
    // the upload token is stored only as a hash, the audit log holds ids
    for f in ["serve.db", "audit.jsonl"] {
        let b = std::fs::read(sd.join(f)).unwrap();
        s2.check(f, &b);
    }
}
