//! The `firebreak` binary: argument parsing and wiring only. Each subcommand
//! lives in `cmd/<name>.rs` and calls its library crate.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use firebreak_core::Exit;
use std::process::ExitCode;

mod cmd;
mod config;
mod help;
mod inputs;
mod output;

/// mimalloc instead of the system allocator: a scan allocates and frees small
/// buffers for each of tens of thousands of files from two threads, and
/// glibc's malloc took about 4 % of a scan's CPU. See [`no_huge_pages`].
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Respond to a CI/CD provider breach: inventory and rotate the secrets stored in
/// CI, scan for leaked secrets, hunt audit logs for misuse, census published
/// artifacts, and harden with per-provider upload tokens.
#[derive(Parser, Debug)]
#[command(name = "firebreak", version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log verbosity for diagnostics on stderr (also RUST_LOG). Never logs secret values.
    #[arg(long, global = true, default_value = "warn", env = "FIREBREAK_LOG")]
    log: String,
    /// Colour in text output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto",
          value_parser = ["auto", "always", "never"])]
    color: String,
    /// Print no summaries, progress or notes on stderr; problems with inputs and errors
    /// still print, and the exit code is the same.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Configuration file (default: ./firebreak.toml when present; see docs/config.md).
    #[arg(long, global = true, env = "FIREBREAK_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan files, directories, archives, stdin or git history for leaked secrets.
    Scan(cmd::scan::Args),
    /// List the scanner's rules, or check rule files the way the built-in pack is checked.
    Rules(cmd::rules::Args),
    /// Hunt audit logs (CloudTrail, GitHub, CircleCI, GCP, Azure) for misuse in an exposure window.
    Hunt(cmd::hunt::Args),
    /// Inventory the secrets stored in CI providers; diff and verify snapshots.
    Inventory(cmd::inventory::Args),
    /// Run the stateful CircleCI / GitHub / GitLab simulator (for tests, drills and benchmarks).
    Simulate(cmd::simulate::Args),
    /// Run the upload-token service.
    Serve(cmd::serve::Args),
    /// Rotate secrets: plan, run, status, resume, rollback (a durable, resumable state machine).
    Rotate(cmd::rotate::Args),
    /// Issue, list and revoke upload tokens on a running `firebreak serve`.
    Token(cmd::token::Args),
    /// Census the artifacts published in an exposure window and check them for known-bad files.
    Census(cmd::census::Args),
    /// Hold an incident: playbook from the inventory, status, recorded hunts / scans / census.
    Incident(cmd::incident::Args),
    /// Write an incident's self-contained HTML report and its Markdown twin.
    Report(cmd::report::Args),
    /// Run a complete incident on bundled data, offline: inventory, scan, hunt, rotate, census, report.
    Drill(cmd::drill::Args),
    /// Serve the live incident dashboard (a loopback web page; see docs/dashboard.md).
    Dashboard(cmd::dashboard::Args),
    /// Check whether credentials still work at their provider, and whose they are.
    Validate(cmd::validate::Args),
    /// Revoke leaked credentials at their provider and prove them dead (journaled, resumable).
    Revoke(cmd::revoke::Args),
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Turns transparent huge pages off for this process. mimalloc asks for them
/// on its arenas, and the kernel then zeroes 2 MiB at the first touch of any
/// byte of a region: on a scan of many small files, which touches a little
/// fresh memory at a time, page zeroing took 16 % of the CPU (measured on a
/// 2-core VM), against under 1 % with 4 KiB pages.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag on this process;
    // it reads no memory of ours. An error (an old kernel) changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// The text of a command-line error. clap quotes the offending value whole
/// (`invalid value 'VALUE' for '--flag <N>'`, `unexpected argument 'VALUE'
/// found`), and a value given on the command line may be a pasted token: the
/// value clap blames is shown through [`quote_untrusted`] instead, wherever
/// the message holds it, while the flag's name, the usage and the hints stay.
/// An unknown argument that looks like a flag (`--lenght`) is shown as is,
/// a value after its `=` is not. `None` for errors that quote no value
/// (help, version, a missing argument), which clap prints itself.
///
/// [`quote_untrusted`]: firebreak_core::secret::quote_untrusted
fn redacted_clap_error(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use firebreak_core::secret::quote_untrusted;
    let context = |k| match e.get(k) {
        Some(ContextValue::String(v)) => Some(v.clone()),
        _ => None,
    };
    let value = match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::TooManyValues => {
            context(ContextKind::InvalidValue)?
        }
        ErrorKind::UnknownArgument => context(ContextKind::InvalidArg)?,
        ErrorKind::InvalidSubcommand => context(ContextKind::InvalidSubcommand)?,
        _ => return None,
    };
    let flag_like = |s: &str| {
        s.starts_with('-')
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let shown = match value.split_once('=') {
        _ if flag_like(&value) => return None,
        Some((flag, v)) if e.kind() == ErrorKind::UnknownArgument && flag_like(flag) => {
            format!("{flag}={}", quote_untrusted(v))
        }
        _ => quote_untrusted(&value),
    };
    let text = e.render().to_string();
    // clap quotes the value with ' or " (depending on its styling)
    let mut text = text
        .replace(&format!("'{value}'"), &shown)
        .replace(&format!("\"{value}\""), &shown);
    // Elsewhere too (a hint, a validator's message), unless too short to be a
    // secret and so likely to be part of other words.
    // (A value shown as typed is left alone: replacing it again would quote it twice.)
    if value.chars().count() >= 4 && !shown.contains(&value) {
        text = text.replace(&value, &shown);
    }
    Some(text)
}

/// True when `e` comes from writing to a pipe whose reader has gone
/// (`firebreak … | head`). Rust ignores SIGPIPE, so such a write fails with
/// `EPIPE`; the error may be wrapped (serde_json, csv, a context), hence the
/// walk down the cause chain.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        if let Some(j) = c.downcast_ref::<serde_json::Error>() {
            return j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe);
        }
        if let Some(csv::ErrorKind::Io(io)) = c.downcast_ref::<csv::Error>().map(|c| c.kind()) {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        false
    })
}

/// A panic from `print!`/`eprint!` on a closed pipe ends the process quietly
/// with code 0, like a [`is_broken_pipe`] error: every stdout path writes
/// through `writeln!` and propagates errors, and this is the safety net for a
/// print macro that slips in. Other panics keep the default report.
fn quiet_on_broken_pipe_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}

/// An error and its causes, `: `-separated, without repeating a cause whose text an
/// earlier message already holds (a context that quotes its source, as in `cannot read
/// x: No such file or directory (os error 2)`, is not followed by the source again).
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let t = cause.to_string();
        if t.is_empty() || out.contains(&t) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&t);
    }
    out
}

fn main() -> ExitCode {
    no_huge_pages();
    quiet_on_broken_pipe_panics();
    // the one redaction path (errors, provider texts, copied log values) knows every
    // secret the scanner knows; its rules are compiled only if something needs scrubbing
    firebreak_core::scrub::set_matcher_factory(|| {
        let rules = firebreak_scan::RuleSet::builtin().ok()?;
        Some(std::sync::Arc::new(rules) as std::sync::Arc<dyn firebreak_core::secret::SecretMatcher>)
    });
    let parsed = help::with_examples(Cli::command())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => match redacted_clap_error(&e) {
            Some(text) => {
                eprint!("{text}");
                return ExitCode::from(e.exit_code() as u8);
            }
            None => e.exit(),
        },
    };
    init_tracing(&cli.log);
    output::set_quiet(cli.quiet);
    // `serve --config FILE` is the token service's own configuration (docs/serve.md)
    let explicit = if matches!(cli.command, Command::Serve(_)) {
        None
    } else {
        cli.config.as_deref()
    };
    if let Err(e) = config::load(explicit) {
        eprintln!("firebreak: error: {e:#}");
        return Exit::Error.into();
    }
    use firebreak_core::output::{set_color_choice, ColorChoice};
    set_color_choice(match cli.color.as_str() {
        "always" => ColorChoice::Always,
        "never" => ColorChoice::Never,
        _ => ColorChoice::Auto,
    });
    let result = match cli.command {
        Command::Scan(a) => cmd::scan::run(a),
        Command::Rules(a) => cmd::rules::run(a),
        Command::Hunt(a) => cmd::hunt::run(a),
        Command::Inventory(a) => cmd::inventory::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Rotate(a) => cmd::rotate::run(a),
        Command::Token(a) => cmd::token::run(a),
        Command::Census(a) => cmd::census::run(a),
        Command::Incident(a) => cmd::incident::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Drill(a) => cmd::drill::run(a),
        Command::Dashboard(a) => cmd::dashboard::run(a),
        Command::Validate(a) => cmd::validate::run(a),
        Command::Revoke(a) => cmd::revoke::run(a),
    };
    match result {
        Ok(exit) => exit.into(),
        // the reader closed the pipe (`| head`): it has what it wanted; exit quietly, like ripgrep
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firebreak: error: {}", error_text(&e));
            Exit::Error.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_causes_are_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let shown = io.to_string();
        let e = anyhow::Error::new(io).context(format!("plan.toml: {shown}"));
        assert_eq!(error_text(&e), format!("plan.toml: {shown}"));
        let e =
            anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound)).context("cannot read x");
        assert_eq!(error_text(&e), format!("cannot read x: {shown}"));
    }

    #[test]
    fn broken_pipe_is_found_down_the_chain() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        let j = serde_json::Error::io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&anyhow::Error::new(j)));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }
}
