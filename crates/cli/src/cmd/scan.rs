//! `firebreak scan`: find leaked secrets in files, archives, stdin and git history.

use crate::output::{formats, OutputArgs};
use anyhow::Context;
use firebreak_core::output::{color_enabled, progress_enabled, Format};
use firebreak_core::Exit;
use firebreak_scan::archive::Limits;
use firebreak_scan::{output, rules, RuleSet, ScanOptions, ScanReport, Scanner};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

formats!(
    /// `firebreak scan`: text (one line per finding, then a summary line), one JSON
    /// document `{"findings": [...], "summary": {...}}`, JSON Lines (one finding per
    /// line, then a `"type":"summary"` line), SARIF 2.1.0 (GitHub code scanning).
    ScanFormats,
    [Text, Json, Jsonl, Sarif],
    Some(Format::Text),
    true
);

/// Confidence levels accepted by `--min-confidence`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfidenceLevel {
    /// Every finding (generic rules included).
    Low,
    /// Vendor context rules and vendor formats.
    Medium,
    /// Vendor formats with a distinctive prefix or structure only.
    High,
}

impl From<ConfidenceLevel> for firebreak_core::Confidence {
    fn from(c: ConfidenceLevel) -> Self {
        match c {
            ConfidenceLevel::Low => firebreak_core::Confidence::Low,
            ConfidenceLevel::Medium => firebreak_core::Confidence::Medium,
            ConfidenceLevel::High => firebreak_core::Confidence::High,
        }
    }
}

/// Arguments of `firebreak scan`.
///
/// Exit codes: 0 no findings, 1 findings, 2 usage error (bad arguments, rules
/// or baseline), 3 some inputs failed (unreadable files, broken archives; the
/// rest were scanned).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files and directories to scan (recursively; `-` reads stdin). Archives are opened.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Scan the whole history of this git repository (every blob of every commit, once).
    #[arg(long, value_name = "REPO")]
    pub git: Vec<PathBuf>,
    /// Scan the CI build logs of this CircleCI project (`gh/ORG/REPO`; repeatable).
    /// Token from CIRCLECI_TOKEN or --circleci-token-file.
    #[arg(long, value_name = "SLUG", value_parser = crate::inputs::circleci_slug)]
    pub circleci: Vec<String>,
    /// Scan the GitHub Actions run logs of this repository (`OWNER/REPO`; repeatable).
    /// Token from GITHUB_TOKEN or --github-token-file.
    #[arg(long, value_name = "OWNER/REPO", value_parser = crate::inputs::github_repo)]
    pub github: Vec<String>,
    /// With --circleci / --github: only logs of jobs and runs started at or after this
    /// time (RFC 3339 or YYYY-MM-DD), e.g. the start of the exposure window.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// CircleCI API base URL (CircleCI server: `https://HOST/api/v2`).
    #[arg(long, value_name = "URL", default_value = firebreak_providers::circleci::DEFAULT_API_URL)]
    pub circleci_url: String,
    /// GitHub API base URL (GitHub Enterprise: `https://HOST/api/v3`).
    #[arg(long, value_name = "URL", default_value = firebreak_providers::github::DEFAULT_API_URL)]
    pub github_url: String,
    /// Read the CircleCI token from this file (first line) instead of CIRCLECI_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub circleci_token_file: Option<PathBuf>,
    /// Read the GitHub token from this file (first line) instead of GITHUB_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub github_token_file: Option<PathBuf>,
    /// Add rules from a YAML file or a directory of them (repeatable).
    #[arg(long, value_name = "FILE|DIR")]
    pub rules: Vec<PathBuf>,
    /// Report only findings of rules with at least this confidence (default: all).
    /// Rules below it are not run at all, so the scan is also faster.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub min_confidence: Option<ConfidenceLevel>,
    /// Do not load the built-in rule pack (use only --rules).
    #[arg(long)]
    pub no_builtin: bool,
    /// List the loaded rules and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Scan only files matching this glob in directory walks (repeatable): a glob without
    /// `/` matches file names at any depth (`*.env`), one with `/` the path relative to the
    /// directory (`ci/**`). Files named as PATH are always scanned.
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out files matching this glob in directory walks (repeatable; wins over
    /// --include), e.g. `vendor/**`, `*.min.js`.
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Findings reviewed and accepted, one per line: a fingerprint, `RULE_ID:PATH:LINE`
    /// or `path:GLOB` (default: ./.firebreakignore when present; docs/scan.md).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// Do not honour .gitignore / .ignore files when walking directories.
    #[arg(long)]
    pub no_ignore: bool,
    /// Scan files that look binary (a NUL byte in the first 8 KiB, or a name such as
    /// `*.pyc`, `*.png`, `*.exe` that is counted as binary unread) instead of skipping them.
    #[arg(long)]
    pub include_binary: bool,
    /// Do not open archives.
    #[arg(long)]
    pub no_archives: bool,
    #[command(flatten)]
    pub out: OutputArgs<ScanFormats>,
    /// Suppress findings whose fingerprint is in this previous output (JSON, JSONL or SARIF).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Deepest archive nesting opened.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_depth)]
    pub max_archive_depth: usize,
    /// Most bytes expanded from one top-level archive.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_total_bytes)]
    pub max_archive_bytes: u64,
    /// Most entries read from one top-level archive.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    pub max_archive_entries: u64,
    /// Largest expansion ratio of an archive entry or stream (past 1 MiB) before it counts as a bomb.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_ratio)]
    pub max_archive_ratio: u64,
    /// Worker threads (0: one per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    pub jobs: usize,
    /// Check each finding at its provider while its value is in memory: live, dead,
    /// unknown or error, and whose it is (read-only requests; see docs/validate.md).
    #[command(flatten)]
    pub validate: crate::cmd::validate::ValidateArgs,
}

fn load_rules(args: &Args) -> anyhow::Result<RuleSet> {
    let mut defs = Vec::new();
    if !args.no_builtin {
        defs.extend(rules::builtin_defs()?);
    }
    let cfg = &crate::config::get().scan;
    for p in cfg.rules.iter().chain(&args.rules) {
        defs.extend(rules::load_rules_path(p)?);
    }
    if defs.is_empty() {
        anyhow::bail!("no rules loaded (--no-builtin without --rules)");
    }
    let from_config = match &cfg.min_confidence {
        Some(s) => Some(
            <ConfidenceLevel as clap::ValueEnum>::from_str(s, true).map_err(|_| {
                anyhow::anyhow!(
                    "{}: [scan] min_confidence {s:?}: expected low, medium or high",
                    crate::config::origin()
                )
            })?,
        ),
        None => None,
    };
    if let Some(min) = args.min_confidence.or(from_config) {
        let min = firebreak_core::Confidence::from(min);
        defs.retain(|(_, d)| d.confidence >= min);
        if defs.is_empty() {
            anyhow::bail!("no rule has confidence {min:?} or more");
        }
    }
    Ok(RuleSet::compile(defs)?)
}

/// The ignore file of accepted findings: `--ignore-file`, else `[scan] ignore_file`, else
/// `./.firebreakignore` when present. A given file that cannot be read, or a line that is
/// not an entry, is a usage error naming file and line.
fn load_accepted(args: &Args) -> anyhow::Result<Option<Arc<firebreak_scan::accept::Accepted>>> {
    let cfg = &crate::config::get().scan;
    let path = match args.ignore_file.clone().or_else(|| cfg.ignore_file.clone()) {
        Some(p) => p,
        None => {
            let p = PathBuf::from(".firebreakignore");
            if !p.is_file() {
                return Ok(None);
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("--ignore-file {}", path.display()))?;
    firebreak_scan::accept::Accepted::parse(&text, &path.display().to_string())
        .map(|a| Some(Arc::new(a)))
        .map_err(|e| anyhow::anyhow!(e.join("\n")))
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let rules = load_rules(&args)?;
    if args.list_rules {
        let mut out = std::io::stdout().lock();
        for r in rules.rules() {
            writeln!(
                out,
                "{}\t{:?}\t{}\t{}",
                r.def.id, r.def.confidence, r.def.name, r.origin
            )?;
        }
        return Ok(Exit::Clean);
    }
    if args.paths.is_empty() && args.git.is_empty() && args.circleci.is_empty() && args.github.is_empty() {
        anyhow::bail!(
            "nothing to scan: give PATH arguments, `-` for stdin, --git REPO, --circleci SLUG or --github OWNER/REPO"
        );
    }
    let others = !(args.git.is_empty() && args.circleci.is_empty() && args.github.is_empty());
    crate::inputs::require_some_path("scan", &args.paths, others)?;
    let since = args
        .since
        .as_deref()
        .map(|t| firebreak_core::window::parse_time(t).context("--since"))
        .transpose()?;
    // Credentials are checked before any work starts.
    let circleci = if args.circleci.is_empty() {
        None
    } else {
        let token = firebreak_providers::load_token_hinted(
            firebreak_providers::circleci::TOKEN_ENV,
            args.circleci_token_file.as_deref(),
            "--circleci-token-file",
        )?;
        Some(firebreak_providers::circleci::Client::new(
            &args.circleci_url,
            token,
            firebreak_providers::HttpConfig::default(),
        )?)
    };
    let github = if args.github.is_empty() {
        None
    } else {
        let token = firebreak_providers::load_token_hinted(
            firebreak_providers::github::TOKEN_ENV,
            args.github_token_file.as_deref(),
            "--github-token-file",
        )?;
        Some(firebreak_providers::github::Client::new(
            &args.github_url,
            token,
            firebreak_providers::HttpConfig::default(),
        )?)
    };
    let baseline = match &args.baseline {
        Some(p) => firebreak_scan::baseline::load_baseline(p)?,
        None => Default::default(),
    };
    let progress = if progress_enabled() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    } else {
        None
    };
    let counters = Arc::new((
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    ));
    let opts = ScanOptions {
        no_ignore: args.no_ignore,
        include_binary: args.include_binary,
        no_archives: args.no_archives,
        limits: Limits {
            max_depth: args.max_archive_depth,
            max_total_bytes: args.max_archive_bytes,
            max_entries: args.max_archive_entries,
            max_ratio: args.max_archive_ratio,
        },
        baseline,
        jobs: args.jobs,
        paths: {
            let cfg = &crate::config::get().scan;
            let inc: Vec<String> = cfg.include.iter().chain(&args.include).cloned().collect();
            let exc: Vec<String> = cfg.exclude.iter().chain(&args.exclude).cloned().collect();
            Some(Arc::new(
                firebreak_scan::accept::PathFilter::new(&inc, &exc).map_err(|e| anyhow::anyhow!(e))?,
            ))
        },
        accepted: load_accepted(&args)?,
        progress: progress.as_ref().map(|bar| {
            let bar = bar.clone();
            let c = counters.clone();
            let f: firebreak_scan::scanner::ProgressFn = Arc::new(move |_path: &str, bytes: u64| {
                use std::sync::atomic::Ordering::Relaxed;
                let files = c.0.fetch_add(1, Relaxed) + 1;
                let total = c.1.fetch_add(bytes, Relaxed) + bytes;
                bar.set_message(format!("{files} files, {} MiB", total >> 20));
            });
            f
        }),
        ..ScanOptions::default()
    };
    // with --validate, the values of findings are kept (by fingerprint, in memory only)
    // until they are checked, then dropped
    let held: Arc<std::sync::Mutex<std::collections::HashMap<String, firebreak_core::SecretString>>> =
        Arc::default();
    let mut opts = opts;
    if args.validate.validate {
        let h = held.clone();
        opts.on_secret = Some(Arc::new(
            move |f: &firebreak_core::SecretFinding, secret: &[u8]| {
                let mut m = h.lock().expect("held values lock");
                if !m.contains_key(&f.fingerprint) {
                    m.insert(
                        f.fingerprint.clone(),
                        firebreak_core::SecretString::new(String::from_utf8_lossy(secret)),
                    );
                }
            },
        ));
    }
    let checker = if args.validate.validate {
        Some(args.validate.checker()?)
    } else {
        None
    };
    let scanner = Scanner::new(rules, opts);
    let mut report = ScanReport::default();
    if !args.paths.is_empty() {
        let r = scanner.scan_paths(&args.paths);
        report.findings.extend(r.findings);
        report.summary.merge(r.summary);
    }
    for g in &args.git {
        let r = scanner.scan_git(g).with_context(|| "--git")?;
        report.findings.extend(r.findings);
        report.summary.merge(r.summary);
    }
    if circleci.is_some() || github.is_some() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        rt.block_on(async {
            if let Some(c) = &circleci {
                for slug in &args.circleci {
                    let r = firebreak_scan::cilogs::scan_circleci(c, slug, since, &scanner).await;
                    report.merge(r);
                }
            }
            if let Some(g) = &github {
                for repo in &args.github {
                    let r = firebreak_scan::cilogs::scan_github(g, repo, since, &scanner).await;
                    report.merge(r);
                }
            }
        });
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    // Each scan is final; a second pass over merged results only re-sorts.
    report.sort();
    if let Some(ck) = checker {
        let values = std::mem::take(&mut *held.lock().expect("held values lock"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let rules = scanner.rules();
        rt.block_on(firebreak_validate::validate_findings(
            ck,
            &mut report.findings,
            &values,
            |f| {
                rules
                    .rules()
                    .iter()
                    .find(|r| r.def.id == f.rule_id)
                    .and_then(|r| r.def.validator.clone())
            },
        ));
        drop(values);
        if args.validate.only_live {
            report.findings.retain(|f| {
                f.validation
                    .as_ref()
                    .is_some_and(|v| v.status == firebreak_core::ValidationStatus::Live)
            });
            report.summary.findings = report.findings.len() as u64;
        }
        let live = report
            .findings
            .iter()
            .filter(|f| {
                f.validation
                    .as_ref()
                    .is_some_and(|v| v.status == firebreak_core::ValidationStatus::Live)
            })
            .count();
        let checked = report.findings.iter().filter(|f| f.validation.is_some()).count();
        crate::output::note!("firebreak: validated {checked} findings: {live} live");
    }

    let mut err = std::io::stderr().lock();
    for e in &report.summary.errors {
        writeln!(err, "firebreak: error: {}", e.message)?;
    }
    if !crate::output::quiet() {
        write_notices(&mut err, &report.summary.notices, NOTICES_PER_KIND)?;
    }
    drop(err);

    let mut sink = args.out.writer()?;
    match args.out.format() {
        Format::Text => output::write_text(&mut sink, &report, args.out.to_stdout() && color_enabled())?,
        Format::Json => output::write_json(&mut sink, &report)?,
        Format::Jsonl => output::write_jsonl(&mut sink, &report)?,
        _ => {
            output::write_sarif(&mut sink, &report, scanner.rules())?;
            crate::output::note!("{}", output::summary_line(&report.summary));
        }
    }
    sink.flush()?;
    Ok(Exit::from_outcome(
        !report.findings.is_empty(),
        report.summary.error_count as usize,
    ))
}

/// Notices of one kind written to stderr before the rest are counted in one line.
const NOTICES_PER_KIND: usize = 5;

/// Writes the scan's notices (things skipped by policy or bound inside archives), at
/// most `per_kind` of each kind, then one line per kind with the number left out: a
/// tarball of a thousand symlinks should not bury an error on the terminal. Every
/// notice stays in the summary of the JSON, JSON Lines and SARIF outputs.
fn write_notices(
    err: &mut impl Write,
    notices: &[firebreak_core::Problem],
    per_kind: usize,
) -> std::io::Result<()> {
    let mut seen: Vec<(Option<&str>, usize)> = Vec::new();
    for n in notices {
        let kind = n.kind.as_deref();
        let i = match seen.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => {
                seen.push((kind, 0));
                seen.len() - 1
            }
        };
        seen[i].1 += 1;
        if seen[i].1 <= per_kind {
            writeln!(err, "firebreak: notice: {}", n.message)?;
        }
    }
    for (kind, count) in seen {
        if count > per_kind {
            writeln!(
                err,
                "firebreak: notice: {} more {} notices not shown ({count} in all; every one is in the summary of `--format json` or `jsonl`)",
                count - per_kind,
                kind.unwrap_or("other"),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn notices_are_bounded_per_kind_and_the_rest_counted() {
        let mk = |kind: &str, i: usize| firebreak_core::Problem {
            kind: Some(kind.to_string()),
            ..firebreak_core::Problem::new(format!("a.tar!l{i}"), format!("a.tar!l{i}: link entry; skipped"))
        };
        let mut notices: Vec<_> = (0..8).map(|i| mk("link", i)).collect();
        notices.insert(3, mk("path_traversal", 99));
        let mut out = Vec::new();
        write_notices(&mut out, &notices, 5).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // 5 links, the traversal one, then the count of the 3 links left out.
        assert_eq!(lines.len(), 7, "{text}");
        assert!(lines[..6]
            .iter()
            .all(|l| l.starts_with("firebreak: notice: a.tar!l")));
        assert!(lines.iter().any(|l| l.contains("l99")));
        assert!(!text.contains("l5:") && !text.contains("l7:"));
        assert!(
            lines[6].contains("3 more link notices not shown (8 in all"),
            "{}",
            lines[6]
        );
        // At or under the bound, nothing is summarised.
        let mut out = Vec::new();
        write_notices(&mut out, &notices[..4], 5).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["firebreak-scan"];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v).expect("arguments parse").args
    }

    #[test]
    fn min_confidence_keeps_only_rules_at_or_above_the_level() {
        let all = load_rules(&args(&["."])).expect("rules");
        let high = load_rules(&args(&["--min-confidence", "high", "."])).expect("rules");
        let medium = load_rules(&args(&["--min-confidence", "medium", "."])).expect("rules");
        let low = load_rules(&args(&["--min-confidence", "low", "."])).expect("rules");
        assert_eq!(low.len(), all.len());
        assert!(high.len() < medium.len() && medium.len() < all.len());
        assert!(high
            .rules()
            .iter()
            .all(|r| r.def.confidence == firebreak_core::Confidence::High));
        assert!(medium
            .rules()
            .iter()
            .all(|r| r.def.confidence >= firebreak_core::Confidence::Medium));
        // A generic (low) finding is dropped, a vendor-format (high) one is kept.
        let text = b"password = \"Zq8!mWr2xT4\"\ntoken = ghp_M8JxvGBCvhuCCyoNAsTBACr1RuVHNdBzHiLe\n";
        let ids = |set: &RuleSet| -> Vec<String> {
            set.find_in(text)
                .iter()
                .map(|m| set.rules()[m.rule].def.id.clone())
                .collect()
        };
        assert!(ids(&all).iter().any(|id| id.starts_with("generic.")));
        let h = ids(&high);
        assert!(h.iter().any(|id| id == "github.pat_classic"), "{h:?}");
        assert!(!h.iter().any(|id| id.starts_with("generic.")), "{h:?}");
        assert!(Cli::try_parse_from(["firebreak-scan", "--min-confidence", "certain", "."]).is_err());
    }
}
