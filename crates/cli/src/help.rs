//! The examples and the exit codes shown at the end of every command's `--help`
//! (one table, kept here so that no subcommand goes without).

use clap::Command;

/// The exit codes (docs/exit-codes.md), the same for every command.
pub const EXIT_CODES: &str = "\
Exit codes (docs/exit-codes.md):
  0  success, nothing found
  1  success, something found (findings, matches, NOT-rotated secrets, ...)
  2  usage or input error; nothing useful produced
  3  partial failure: some inputs or items failed (named on stderr), the rest were processed";

/// Examples per command path (`"rotate status"`); the first line is the command's
/// most common use.
fn examples(path: &str) -> &'static [&'static str] {
    match path {
        "" => &[
            "firebreak drill",
            "firebreak scan --format sarif -o leaks.sarif .",
            "firebreak hunt --window 2022-12-21..2023-01-05 logs/",
        ],
        "scan" => &[
            "firebreak scan .",
            "firebreak scan --format sarif -o leaks.sarif --git .",
            "firebreak scan --circleci gh/acme/app --since 2022-12-21",
            "git diff | firebreak scan -",
            "firebreak scan --exclude 'vendor/**' --min-confidence medium --ignore-file .firebreakignore .",
        ],
        "hunt" => &[
            "firebreak hunt --window 2022-12-21..2023-01-05 logs/",
            "firebreak hunt --window 2022-12-21.. --baseline 2022-12-01..2022-12-21 -f json -o hunt.json logs/",
            "firebreak hunt --window 7d..now --min-level high --allow-actor 'dependabot[bot]' --allow-ip 203.0.113.0/24 logs/",
        ],
        "hunt compile" => &[
            "firebreak hunt compile --target athena",
            "firebreak hunt compile --target duckdb --combined --table 'logs/**/*.json'",
            "firebreak hunt compile --target spark --table s3a://acme-trail/AWSLogs/ -o hunt.sql",
        ],
        "inventory" => &[
            "firebreak inventory --provider circleci --org acme",
            "firebreak inventory --provider github --org acme --format jsonl -o inventory.jsonl",
            "firebreak inventory --provider circleci --org gh/acme --with-github --with-gitlab --projects-file slugs.txt",
        ],
        "inventory list" => &["firebreak inventory list", "firebreak inventory list --format json"],
        "inventory diff" => &["firebreak inventory diff 1 2", "firebreak inventory diff 1 2 --format csv"],
        "inventory verify" => &[
            "firebreak inventory verify --rotated-after 2023-01-04",
            "firebreak inventory verify --rotated-after 2023-01-04 --retired-provider circleci -f jsonl",
        ],
        "inventory purge" => &[
            "firebreak inventory purge --provider circleci --dry-run",
            "firebreak inventory purge --provider circleci --scope gh/acme/api --yes",
        ],
        "simulate" => &["firebreak simulate --port 0 --projects 50"],
        "serve" => &["firebreak serve -c serve.toml", "firebreak serve -c serve.toml --listen 127.0.0.1:0"],
        "rotate" => &[
            "firebreak rotate plan --from-inventory inventory.jsonl > plan.toml",
            "firebreak rotate run plan.toml",
            "firebreak rotate status",
        ],
        "rotate plan" => &["firebreak rotate plan --from-inventory inventory.jsonl > plan.toml"],
        "rotate run" => &["firebreak rotate run --dry-run plan.toml", "firebreak rotate run plan.toml"],
        "rotate status" => &["firebreak rotate status", "firebreak rotate status --format jsonl | jq .state"],
        "rotate resume" => &["firebreak rotate resume", "firebreak rotate resume --retry-stopped"],
        "rotate rollback" => &["firebreak rotate rollback NPM_TOKEN"],
        "token" => &[
            "firebreak token issue --project numpy --provider github --ttl 30d",
            "firebreak token list --format jsonl",
        ],
        "token issue" => &["firebreak token issue --project numpy --provider github --ttl 30d"],
        "token list" => &["firebreak token list --project numpy", "firebreak token list --format json"],
        "token revoke" => &[
            "firebreak token revoke --id tok_0123456789abcdef",
            "firebreak token revoke --provider circleci --all-projects",
        ],
        "census" => &[
            "firebreak census --window 2022-12-21..2023-01-05 channel/",
            "firebreak census --window 2022-12-21..2023-01-05 --ioc ioc.toml --scan -f json -o census.json channel/",
            "firebreak census --window 2022-12-21..2023-01-05 --ioc ioc.toml --download https://conda.anaconda.org/my-channel/",
        ],
        "incident" => &[
            "firebreak incident init cci --provider circleci --window 2022-12-21..",
            "firebreak incident status",
        ],
        "incident init" => &[
            "firebreak incident init cci --provider circleci --window 2022-12-21..",
            "firebreak incident init cci --provider circleci --window 2022-12-21.. --from-inventory inventory.jsonl",
            "firebreak incident init cci --provider circleci --window 2022-12-21.. --values vault.env --verify-credentials",
        ],
        "incident list" => &["firebreak incident list", "firebreak incident list --format jsonl"],
        "incident status" => &["firebreak incident status", "firebreak incident status cci --format json"],
        "incident record" => &[
            "firebreak incident record cci --kind hunt hunt.jsonl",
            "firebreak scan -f jsonl . | firebreak incident record cci --kind scan -",
        ],
        "incident confirm" => &[
            "firebreak incident confirm cci --kind oauth_authorization --note \"revoked the CircleCI app at github.com/settings/applications, re-authorised\"",
            "firebreak incident confirm cci --task CIRCLE_PROJECT_TOKEN --by alice --note \"new project API token, old one deleted\"",
            "firebreak incident confirm cci --task CIRCLE_PROJECT_TOKEN --withdraw",
        ],
        "report" => &["firebreak report", "firebreak report cci --out-dir report/"],
        "drill" => &["firebreak drill", "firebreak drill --out-dir drill/ --format json"],
        "dashboard" => &["firebreak dashboard", "firebreak dashboard --incident cci --listen 127.0.0.1:0"],
        "validate" => &[
            "firebreak validate --values leaked.env",
            "firebreak validate --values leaked.env -f jsonl -o v.jsonl && firebreak incident record cci --kind validate v.jsonl",
            "firebreak validate --type github.token --values tokens.txt --endpoint github=https://ghe.example/api/v3",
            "firebreak validate --values leaked.env --map",
            "firebreak validate --list",
        ],
        "revoke" => &[
            "firebreak revoke --values leaked.env --dry-run",
            "firebreak revoke --values leaked.env --yes --incident cci",
            "firebreak revoke --type github.token --values tokens.txt --yes -f jsonl -o revoked.jsonl",
        ],
        _ => &[],
    }
}

/// The text after a command's help: its examples, then the exit codes.
fn after_help(path: &str) -> String {
    let mut s = String::from("Examples:\n");
    let ex = examples(path);
    if ex.is_empty() {
        // a command added without an entry still shows how to reach its help
        s.push_str(&format!("  firebreak {path} --help\n"));
    }
    for e in ex {
        s.push_str("  ");
        s.push_str(e);
        s.push('\n');
    }
    s.push('\n');
    s.push_str(EXIT_CODES);
    s
}

/// Sets the examples and exit codes on `cmd` and every subcommand under it.
pub fn with_examples(cmd: Command) -> Command {
    walk(cmd, "")
}

fn walk(mut cmd: Command, path: &str) -> Command {
    cmd = cmd.after_help(after_help(path));
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    for n in names {
        let sub = if path.is_empty() {
            n.clone()
        } else {
            format!("{path} {n}")
        };
        cmd = cmd.mut_subcommand(&n, |c| walk(c, &sub));
    }
    cmd
}
