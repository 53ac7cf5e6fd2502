//! Argument and configuration errors name the flag, or the file and line, but
//! never echo the value whole: a value may be a token pasted in the wrong place.

use assert_cmd::Command;

/// A fake GitHub token (`ghp_` + 36 alphanumerics).
const TOKEN: &str = "ghp_Zx9Kq2Lm7Vb4Nc8Wp3Rt5Yh1Jd6Gf0Sa2Qe9";

fn fb() -> Command {
    let mut c = Command::cargo_bin("firebreak").unwrap();
    c.env("NO_COLOR", "1")
        .env("CI", "1")
        .env_remove("CIRCLECI_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("FIREBREAK_ADMIN_TOKEN");
    c
}

/// Runs `args`; asserts exit code 2, that the token's body appears nowhere in
/// the output, and that stderr names each of `named`.
fn refused(args: &[&str], named: &[&str]) -> String {
    let out = fb().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    for s in [&*stdout, &*stderr] {
        assert!(!s.contains(&TOKEN[4..]), "{args:?} echoed the value: {s}");
    }
    for n in named {
        assert!(stderr.contains(n), "{args:?}: {n:?} not named: {stderr}");
    }
    stderr
}

#[test]
fn clap_errors_name_the_flag_but_not_the_value() {
    // A number, a value from a list, a validated value (time window, log kind).
    let e = refused(
        &["scan", "--max-archive-depth", TOKEN, "."],
        &["--max-archive-depth <N>", "invalid value", "40 characters"],
    );
    assert!(e.contains("Usage:") || e.contains("--help"), "{e}");
    refused(&["scan", "-j", TOKEN, "."], &["--jobs <N>"]);
    refused(
        &["scan", "--format", TOKEN, "."],
        &["--format <FORMAT>", "possible values"],
    );
    refused(&["hunt", "--window", TOKEN, "x.log"], &["--window <START..END>"]);
    refused(
        &["hunt", "--source", TOKEN, "x.log"],
        &["--source <KIND>", "cloudtrail"],
    );
    refused(&["inventory", "--provider", TOKEN], &["--provider <PROVIDER>"]);
    refused(
        &["serve", "--config", "x.toml", "--listen", TOKEN],
        &["--listen <ADDR>"],
    );
    // A token where a subcommand or an argument goes; a flag's value after `=`.
    refused(&[TOKEN], &["unrecognized subcommand"]);
    refused(&["serve", "--config", "x.toml", TOKEN], &["unexpected argument"]);
    refused(&["scan", &format!("--tokn={TOKEN}"), "."], &["--tokn"]);
    // A misspelt flag is still shown as typed.
    refused(
        &["scan", "--max-archive-dept", "3", "."],
        &["'--max-archive-dept'"],
    );
}

#[test]
fn firebreak_flag_errors_name_the_flag_but_not_the_value() {
    refused(
        &["scan", "--since", TOKEN, "--circleci", "gh/a/b"],
        &["--since", "not an RFC 3339 time"],
    );
    let d = tempfile::tempdir().unwrap();
    let admin = d.path().join("admin");
    std::fs::write(&admin, "admin-credential-0123456789\n").unwrap();
    refused(
        &[
            "token",
            "--admin-token-file",
            admin.to_str().unwrap(),
            "issue",
            "--project",
            "p",
            "--provider",
            "github",
            "--ttl",
            TOKEN,
        ],
        &["--ttl"],
    );
    refused(
        &[
            "rotate",
            "--store",
            d.path().join("fb.db").to_str().unwrap(),
            "plan",
            "--from-inventory",
            TOKEN,
        ],
        &["--from-inventory"],
    );
}

#[test]
fn config_errors_name_the_file_and_line_but_not_the_value() {
    let d = tempfile::tempdir().unwrap();
    // A rotation plan with a token pasted as a value, then as a bare line.
    for (text, line) in [
        (
            format!("[[secret]]\nname = 'a'\nsource = {{ type = 'random', length = '{TOKEN}' }}\n"),
            3,
        ),
        (format!("[[secret]]\nname = 'a'\n\n{TOKEN}\n"), 4),
    ] {
        let plan = d.path().join("plan.toml");
        std::fs::write(&plan, text).unwrap();
        refused(
            &[
                "rotate",
                "--store",
                d.path().join("fb.db").to_str().unwrap(),
                "run",
                plan.to_str().unwrap(),
                "--dry-run",
            ],
            &[&format!("plan.toml:{line}:")],
        );
    }
    // The service's configuration, with a credential pasted inline.
    let cfg = d.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!("staging_dir = 's'\npublished_dir = 'p'\naudit_log = 'a'\nadmin_token = '{TOKEN}'\n"),
    )
    .unwrap();
    refused(
        &["serve", "--config", cfg.to_str().unwrap()],
        &["serve.toml:4:1:"],
    );
}

#[test]
fn a_missing_token_names_the_option_the_command_takes() {
    for (args, var, flag) in [
        (
            &["scan", "--circleci", "gh/acme/app"][..],
            "CIRCLECI_TOKEN",
            "--circleci-token-file",
        ),
        (
            &["scan", "--github", "acme/app"][..],
            "GITHUB_TOKEN",
            "--github-token-file",
        ),
        (
            &["inventory", "--provider", "circleci", "--org", "acme"][..],
            "CIRCLECI_TOKEN",
            "--token-file",
        ),
    ] {
        let out = fb()
            .args(args)
            .env_remove("CIRCLECI_TOKEN")
            .env_remove("GITHUB_TOKEN")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(var) && err.contains(flag), "{args:?}: {err}");
        // and the command really takes that option
        let help = fb().args([args[0], "--help"]).output().unwrap();
        assert!(String::from_utf8_lossy(&help.stdout).contains(flag), "{args:?}");
    }
}
