//! Every command's `--help`, down the whole tree, ends with examples and the exit codes.

use std::process::Command;

fn help(path: &[String]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(path)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{path:?}");
    String::from_utf8(o.stdout).unwrap()
}

/// The subcommand names listed under "Commands:" in a help text (`help` excluded).
fn subcommands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with("  ") {
                break;
            }
            let name = line.split_whitespace().next().unwrap_or("");
            if !name.is_empty() && name != "help" && !line.starts_with("    ") {
                out.push(name.to_string());
            }
        }
    }
    out
}

#[test]
fn every_command_help_shows_an_example_and_the_exit_codes() {
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let text = help(&path);
        assert!(text.contains("Examples:\n  firebreak"), "{path:?}: {text}");
        assert!(
            text.contains("Exit codes") && text.contains("3  partial failure"),
            "{path:?}: {text}"
        );
        // the examples are of this command, not another one's
        let prefix = format!("  firebreak {}", path.join(" "));
        assert!(text.contains(prefix.trim_end()), "{path:?}: {text}");
        for s in subcommands(&text) {
            let mut p = path.clone();
            p.push(s);
            todo.push(p);
        }
        seen += 1;
    }
    // the top level, 12 commands and their subcommands
    assert!(seen >= 25, "only {seen} commands walked");
}

/// A format a command does not produce is refused by the parser, naming those it does.
#[test]
fn an_unaccepted_format_is_a_usage_error_naming_the_accepted_ones() {
    let o = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args([
            "census",
            "--window",
            "2023-01-01..2023-01-02",
            "--format",
            "sarif",
            "x",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--format") && err.contains("jsonl") && err.contains("conda"),
        "{err}"
    );
}

/// `--color always` colours text output even off a terminal and over NO_COLOR (a flag
/// overrides the variable); `never` and the default off a terminal do not.
#[test]
fn color_flag() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("leak.env");
    // a GitHub token shape, built at run time so that no literal sits in the source tree
    // (pseudo-random: a value made of one repeated step reads as a placeholder)
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let tok: String = "ghp_"
        .chars()
        .chain((0..36).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(x % 62) as usize] as char
        }))
        .collect();
    std::fs::write(&f, format!("GITHUB_TOKEN={tok}\n")).unwrap();
    let run = |color: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
        c.env("NO_COLOR", "1").arg("scan").arg(&f);
        if let Some(w) = color {
            c.args(["--color", w]);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(run(Some("always")).contains('\u{1b}'));
    assert!(!run(Some("never")).contains('\u{1b}'));
    assert!(!run(None).contains('\u{1b}'));
}
