//! `firebreak hunt`: hunt audit logs with Sigma rules; `firebreak hunt compile`: rules to queries.

use crate::output::{formats, OutputArgs};
use anyhow::Context as _;
use firebreak_core::output::{self, Format};
use firebreak_core::secret::SecretMatcher;
use firebreak_core::{Exit, TimeWindow};
use firebreak_hunt::compile::{compile, duckdb_combined, CompileOptions, Target};
use firebreak_hunt::{hunt_into, Finding, FindingSink, HuntOptions, HuntReport, RuleSet, SourceKind};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `firebreak hunt`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<Sub>,
    /// Exposure window `START..END` (RFC 3339, YYYY-MM-DD, `now`, or a duration ago such as
    /// `7d`; half-open; `START..` = until now). Only events inside it are matched. Default:
    /// all time.
    #[arg(long, value_name = "START..END")]
    window: Option<TimeWindow>,
    /// Baseline period `START..END`: per identity, source IPs, user agents, countries and
    /// actions seen in the window but never in the baseline become findings.
    #[arg(long, value_name = "START..END")]
    baseline: Option<TimeWindow>,
    /// Extra Sigma rule files or directories (repeatable). Added to the built-in pack.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Do not load the built-in CI-breach pack (use only --rules).
    #[arg(long)]
    no_builtin: bool,
    /// Force the log kind instead of detecting it per file: cloudtrail, github, circleci,
    /// gcp, azure-signin, azure-activity, firebreak, azure-audit, azure-risk, m365,
    /// google-workspace, okta, azure-pim.
    #[arg(long, value_name = "KIND")]
    source: Option<SourceKind>,
    /// Report only findings of this level or above: informational, low, medium, high,
    /// critical (the rest are counted as held back).
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    min_level: Option<firebreak_core::Level>,
    /// Hold back findings whose actor matches this glob (repeatable, case-insensitive),
    /// e.g. your own deploy role `arn:aws:iam::123456789012:role/deploy-*` or `dependabot[bot]`.
    /// Their events still count in the baseline.
    #[arg(long = "allow-actor", value_name = "GLOB")]
    allow_actors: Vec<String>,
    /// Hold back findings whose source address is this IP or in this CIDR range
    /// (repeatable), e.g. your office `203.0.113.0/24`.
    #[arg(long = "allow-ip", value_name = "IP|CIDR")]
    allow_ips: Vec<String>,
    /// `--format`: text (timeline + summary; default on a terminal), jsonl (default
    /// otherwise), json (one document with findings, summary, problems), csv.
    #[command(flatten)]
    out: OutputArgs<HuntFormats>,
    /// List the rules that would run (id, level, title, logsource, file) instead of
    /// hunting; with --rules / --no-builtin / --min-level as given. `--format` text (a
    /// table), jsonl or json.
    #[arg(long)]
    list_rules: bool,
    /// Log files or directories (walked). `.gz` is read transparently.
    #[arg(value_name = "LOG", required_unless_present = "list_rules")]
    logs: Vec<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Print rules as queries for Athena, BigQuery, KQL (Log Analytics) or DuckDB.
    Compile(CompileArgs),
}

/// Arguments of `firebreak hunt compile`.
#[derive(clap::Args, Debug)]
struct CompileArgs {
    /// Query engine: athena (CloudTrail table `cloudtrail_logs`), bigquery
    /// (`cloudaudit_googleapis_com_activity`), kql (`SigninLogs`, `AzureActivity`),
    /// duckdb (raw JSON files), spark (Spark SQL over the raw JSON files: the output
    /// starts with the statements that make each source's records view).
    #[arg(long, value_parser = ["athena", "bigquery", "kql", "duckdb", "spark"])]
    target: String,
    /// Table name (Athena, BigQuery, KQL), file glob (DuckDB, e.g. 'logs/**/*.json') or
    /// file/directory path (Spark, e.g. 'logs/' or 's3a://bucket/AWSLogs/').
    #[arg(long)]
    table: Option<String>,
    /// DuckDB and Spark: one query per log source that scans the records once and
    /// returns (event_id, rule_id) for every match of every rule.
    #[arg(long)]
    combined: bool,
    /// `--format`: text (SQL/KQL with comments), jsonl (one object per query) or json
    /// (one document, `{"queries": [...]}`).
    #[command(flatten)]
    out: OutputArgs<CompileFormats>,
    /// Sigma rule files or directories. Default: the built-in pack.
    #[arg(value_name = "RULES")]
    rules: Vec<PathBuf>,
}

formats!(
    /// `firebreak hunt`: a timeline and summary, one JSON document, JSON Lines, CSV; the
    /// default depends on whether stdout is a terminal.
    HuntFormats,
    [Text, Json, Jsonl, Csv],
    None,
    true
);

formats!(
    /// `firebreak hunt compile`: commented queries, JSON Lines, or one JSON document.
    CompileFormats,
    [Text, Jsonl, Json],
    Some(Format::Text),
    true
);

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    if let Some(Sub::Compile(c)) = args.cmd {
        return run_compile(c);
    }
    if !args.list_rules {
        crate::inputs::require_some_path("hunt", &args.logs, false)?;
    }
    let mut rules = if args.no_builtin {
        RuleSet::default()
    } else {
        RuleSet::builtin()?
    };
    let cfg = &crate::config::get().hunt;
    rules.add_paths(&cfg.rules)?;
    rules.add_paths(&args.rules)?;
    if rules.rules.is_empty() {
        anyhow::bail!("no rules to run (add --rules DIR or drop --no-builtin)");
    }
    for u in &rules.unsupported {
        eprintln!("hunt: rule not run: {} ({}): {}", u.rule, u.file, u.reason);
    }
    for w in rules.warnings() {
        eprintln!("hunt: rule warning: {} ({}): {}", w.rule, w.file, w.reason);
    }
    if args.list_rules {
        return list_rules(&rules, &args, cfg);
    }
    // log values copied into findings pass through the scanner's own rules
    let secrets: Arc<dyn SecretMatcher> =
        Arc::new(firebreak_scan::RuleSet::builtin().context("built-in scan rules (for redaction)")?);
    let min_level = match (args.min_level, &cfg.min_level) {
        (Some(l), _) => Some(l),
        (None, Some(s)) => Some(
            parse_level(s)
                .map_err(|e| anyhow::anyhow!("{}: [hunt] min_level {s:?}: {e}", crate::config::origin()))?,
        ),
        (None, None) => None,
    };
    let actors: Vec<String> = cfg
        .allow_actors
        .iter()
        .chain(&args.allow_actors)
        .cloned()
        .collect();
    let ips: Vec<String> = cfg.allow_ips.iter().chain(&args.allow_ips).cloned().collect();
    let filter = firebreak_hunt::filter::FindingFilter::new(min_level, &actors, &ips)
        .map_err(|e| anyhow::anyhow!(e))?;
    let opts = HuntOptions {
        window: args.window,
        baseline: args.baseline,
        source: args.source,
        secrets: Some(secrets),
        filter: Some(Arc::new(filter)),
        ..HuntOptions::default()
    };
    let tty = args.out.to_stdout() && output::stdout_is_tty();
    let format = match args.out.format_or(if tty { Format::Text } else { Format::Jsonl }) {
        Format::Json => Fmt::Json,
        Format::Csv => Fmt::Csv,
        Format::Text => Fmt::Text,
        _ => Fmt::Jsonl,
    };
    // a `Stdout` (not its lock) or a file: findings are written from the hunt's worker threads
    let out = args.out.writer()?;
    let mut sink = CliSink::new(out, format, &opts)?;
    sink.color &= args.out.to_stdout();
    let rep = hunt_into(&args.logs, &rules, &opts, &mut sink);
    for p in &rep.problems {
        eprintln!("{}", firebreak_hunt::reader::problem_line(p));
    }
    if let Some(e) = sink.error.take() {
        return Err(anyhow::Error::new(e).context("writing the findings"));
    }
    sink.finish(&rep)?;
    if let Some(why) = &rep.stopped {
        eprintln!("hunt: stopped before the end of the input: {why}");
    }
    let held = if rep.suppressed > 0 {
        format!(
            " ({} held back by --min-level / --allow-actor / --allow-ip)",
            rep.suppressed
        )
    } else {
        String::new()
    };
    crate::output::note!(
        "hunt: {} files, {} records ({} in window), {} malformed, {} findings{held}",
        rep.files.len(),
        rep.records,
        rep.in_window,
        rep.malformed,
        rep.found
    );
    Ok(Exit::from_outcome(rep.found > 0, rep.failed_inputs))
}

/// `hunt --list-rules`: the rules that would run, at or above `--min-level`, sorted by
/// file then title.
fn list_rules(rules: &RuleSet, args: &Args, cfg: &crate::config::HuntConfig) -> anyhow::Result<Exit> {
    let min = match (args.min_level, &cfg.min_level) {
        (Some(l), _) => Some(l),
        (None, Some(s)) => parse_level(s).ok(),
        (None, None) => None,
    };
    let mut rows: Vec<&firebreak_hunt::sigma::Rule> = rules
        .rules
        .iter()
        .filter(|r| min.is_none_or(|m| r.level >= m))
        .collect();
    rows.sort_by(|a, b| (&a.file, &a.title).cmp(&(&b.file, &b.title)));
    let logsource = |r: &firebreak_hunt::sigma::Rule| {
        r.sources
            .iter()
            .map(|s| {
                let (p, v) = s.logsource();
                format!("{p}/{v}")
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let obj = |r: &firebreak_hunt::sigma::Rule| {
        serde_json::json!({
            "id": r.id,
            "level": r.level,
            "title": r.title,
            "logsource": logsource(r),
            "file": r.file,
        })
    };
    let mut out = args.out.writer()?;
    match args.out.format_or(Format::Text) {
        Format::Json => {
            let v: Vec<serde_json::Value> = rows.iter().map(|r| obj(r)).collect();
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "rules": v }))?
            )?;
        }
        Format::Jsonl => {
            for r in &rows {
                writeln!(out, "{}", obj(r))?;
            }
        }
        _ => {
            writeln!(
                out,
                "{:<36}  {:<13}  {:<60}  {:<28}  file",
                "id", "level", "title", "logsource"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:<36}  {:<13}  {:<60}  {:<28}  {}",
                    r.id,
                    format!("{:?}", r.level).to_lowercase(),
                    clip(&r.title, 60),
                    logsource(r),
                    r.file
                )?;
            }
        }
    }
    out.flush()?;
    Ok(Exit::Clean)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Jsonl,
    Json,
    Csv,
    Text,
}

/// Writes each finding as it comes: a JSON line, a CSV row, a timeline line, or an
/// element of the `findings` array of the JSON document (whose other members follow
/// the array, once the hunt is over). Holds nothing per finding.
struct CliSink<W: Write + Send> {
    out: W,
    fmt: Fmt,
    n: u64,
    color: bool,
    /// The first write error; the hunt stops on it.
    error: Option<std::io::Error>,
}

const CSV_COLS: [&str; 21] = [
    "id",
    "kind",
    "rule_id",
    "title",
    "level",
    "time",
    "source",
    "actor",
    "actor_type",
    "action",
    "target",
    "source_ip",
    "user_agent",
    "outcome",
    "error_code",
    "location",
    "event_id",
    "file",
    "line",
    "record",
    "detail",
];

impl<W: Write + Send> CliSink<W> {
    fn new(mut out: W, fmt: Fmt, opts: &HuntOptions) -> anyhow::Result<Self> {
        match fmt {
            Fmt::Json => {
                let w = serde_json::to_string(&opts.window.map(|w| w.to_string()))?;
                let b = serde_json::to_string(&opts.baseline.map(|w| w.to_string()))?;
                write!(
                    out,
                    "{{\n  \"window\": {w},\n  \"baseline\": {b},\n  \"findings\": ["
                )?;
            }
            Fmt::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(CSV_COLS)?;
                out.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
            }
            Fmt::Text => {
                if let Some(w) = opts.window {
                    writeln!(out, "window {w}")?;
                }
            }
            Fmt::Jsonl => {}
        }
        Ok(CliSink {
            out,
            fmt,
            n: 0,
            color: output::color_enabled(),
            error: None,
        })
    }

    fn write_one(&mut self, f: &Finding) -> anyhow::Result<()> {
        match self.fmt {
            Fmt::Jsonl => {
                serde_json::to_writer(&mut self.out, f)?;
                self.out.write_all(b"\n")?;
            }
            Fmt::Json => {
                self.out
                    .write_all(if self.n == 0 { b"\n    " } else { b",\n    " })?;
                serde_json::to_writer(&mut self.out, f)?;
            }
            Fmt::Csv => {
                let v = serde_json::to_value(f)?;
                let row: Vec<String> = CSV_COLS
                    .iter()
                    .map(|c| match v.get(*c) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    })
                    .collect();
                let mut w = csv::Writer::from_writer(&mut self.out);
                w.write_record(&row)?;
                w.flush()?;
            }
            Fmt::Text => {
                if self.n == 0 {
                    writeln!(
                        self.out,
                        "{:<20}  {:<8}  {:<34}  {:<32}  {:<28}  {:<15}  WHERE",
                        "TIME", "LEVEL", "RULE", "ACTOR", "ACTION", "SOURCE IP"
                    )?;
                }
                write_text_line(&mut self.out, f, self.color)?;
            }
        }
        self.n += 1;
        Ok(())
    }

    /// Closes the output: the JSON document's other members, the text summary.
    fn finish(mut self, rep: &HuntReport) -> anyhow::Result<()> {
        match self.fmt {
            Fmt::Json => {
                let mut rest = serde_json::json!({
                    "summary": rep.summary(),
                    "problems": rep.problems.iter().map(firebreak_hunt::reader::problem_json).collect::<Vec<_>>(),
                    "unsupported_rules": rep.unsupported,
                    "rule_warnings": rep.rule_warnings,
                    "files": rep.files,
                    "records": rep.records,
                    "records_in_window": rep.in_window,
                    "malformed": rep.malformed,
                });
                if let Some(why) = &rep.stopped {
                    rest["stopped"] = why.clone().into();
                }
                let rest = serde_json::to_string_pretty(&rest)?;
                let close = if self.n == 0 { "],\n" } else { "\n  ],\n" };
                // `rest` is `{\n  "files": ...}`: its members follow the array
                self.out.write_all(close.as_bytes())?;
                self.out
                    .write_all(rest.strip_prefix("{\n").unwrap_or(&rest).as_bytes())?;
                self.out.write_all(b"\n")?;
            }
            Fmt::Text => write_text_summary(&mut self.out, rep, self.n)?,
            Fmt::Csv | Fmt::Jsonl => {}
        }
        self.out.flush()?;
        Ok(())
    }
}

impl<W: Write + Send> FindingSink for CliSink<W> {
    fn finding(&mut self, f: Finding) -> std::io::Result<()> {
        if let Err(e) = self.write_one(&f) {
            let e = match e.downcast::<std::io::Error>() {
                Ok(io) => io,
                Err(other) => std::io::Error::other(other.to_string()),
            };
            let copy = std::io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            return Err(copy);
        }
        Ok(())
    }
}

fn clip(s: &str, n: usize) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.chars().count() <= n {
        s
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn write_text_line(out: &mut impl Write, f: &Finding, color: bool) -> anyhow::Result<()> {
    let paint = |lvl: firebreak_core::Level, s: String| -> String {
        if !color {
            return s;
        }
        let code = match lvl {
            firebreak_core::Level::Critical | firebreak_core::Level::High => "31",
            firebreak_core::Level::Medium => "33",
            _ => "36",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    };
    let e = &f.event;
    let t = e
        .time
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let lvl = format!("{:<8}", format!("{:?}", f.level).to_ascii_lowercase());
    writeln!(
        out,
        "{:<20}  {}  {:<34}  {:<32}  {:<28}  {:<15}  {}:{}#{}{}",
        t,
        paint(f.level, lvl),
        clip(&f.title, 34),
        clip(e.actor.as_deref().unwrap_or("-"), 32),
        clip(e.action.as_deref().unwrap_or("-"), 28),
        clip(e.source_ip.as_deref().unwrap_or("-"), 15),
        e.file,
        e.line,
        e.record,
        f.detail
            .as_deref()
            .map(|d| format!("  ({})", clip(d, 80)))
            .unwrap_or_default()
    )?;
    Ok(())
}

fn write_text_summary(out: &mut impl Write, rep: &HuntReport, written: u64) -> anyhow::Result<()> {
    if written == 0 {
        writeln!(out, "no findings")?;
    }
    let s = rep.summary();
    if !s.by_rule.is_empty() {
        writeln!(out, "\nper rule:")?;
        for r in &s.by_rule {
            writeln!(
                out,
                "  {:>6}  {:<8}  {}  [{}]",
                r.findings,
                format!("{:?}", r.level).to_ascii_lowercase(),
                r.title,
                r.rule_id
            )?;
        }
        writeln!(out, "\nper identity:")?;
        for i in &s.by_identity {
            let span = match (i.first, i.last) {
                (Some(a), Some(b)) => format!(
                    "{} .. {}",
                    a.format("%Y-%m-%dT%H:%M:%SZ"),
                    b.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                _ => String::new(),
            };
            writeln!(
                out,
                "  {:>6}  {:<8}  {}  {}  rules: {}",
                i.findings,
                format!("{:?}", i.max_level).to_ascii_lowercase(),
                i.actor,
                span,
                i.rules.len()
            )?;
        }
        if s.identities_not_listed > 0 {
            writeln!(
                out,
                "  {:>6}  findings of {} more identities (not listed)",
                s.findings_not_listed, s.identities_not_listed
            )?;
        }
    }
    Ok(())
}

fn run_compile(c: CompileArgs) -> anyhow::Result<Exit> {
    let target: Target = c.target.parse().map_err(anyhow::Error::msg)?;
    let mut rules = RuleSet::default();
    if c.rules.is_empty() {
        rules = RuleSet::builtin()?;
    } else {
        rules.add_paths(&c.rules)?;
    }
    for u in &rules.unsupported {
        eprintln!(
            "hunt compile: rule not supported: {} ({}): {}",
            u.rule, u.file, u.reason
        );
    }
    for w in rules.warnings() {
        eprintln!(
            "hunt compile: rule warning: {} ({}): {}",
            w.rule, w.file, w.reason
        );
    }
    let opts = CompileOptions {
        target,
        table: c.table.clone(),
    };
    let (compiled, unsup) = compile(&rules, &opts);
    // A rule of a log source the engine holds no table of, one counting events over a
    // sliding timeframe, or one matching elements of an array or an object's JSON text (run by the native engine
    // only), is out of the target's reach by design: a notice, not a failure. Any other
    // rule left uncompiled is a failure (exit 3).
    let (mut other_source, mut aggregated, mut per_element, mut failed) = (0usize, 0usize, 0usize, 0usize);
    for u in &unsup {
        let rule = rules.rules.iter().find(|r| r.file == u.file && r.title == u.rule);
        let by_design = |p: &str| {
            p.contains(firebreak_hunt::compile::PER_ELEMENT)
                || p.contains(firebreak_hunt::compile::OBJECT_TEXT)
                || p.contains(firebreak_hunt::compile::NO_TABLE)
        };
        match rule {
            Some(r) if !r.sources.iter().any(|s| target.reads(*s)) => other_source += 1,
            Some(r) if r.aggregation.is_some() => aggregated += 1,
            Some(_) if u.reason.split("; ").all(by_design) => {
                per_element += 1;
                eprintln!(
                    "hunt compile: not compiled for {}: {} ({}): {}",
                    c.target, u.rule, u.file, u.reason
                );
            }
            _ => {
                failed += 1;
                eprintln!(
                    "hunt compile: not compiled for {}: {} ({}): {}",
                    c.target, u.rule, u.file, u.reason
                );
            }
        }
    }
    if other_source + aggregated + per_element > 0 {
        crate::output::note!(
            "hunt compile: {} rule(s) compiled for {}; skipped {other_source} of log sources {} does not hold, {aggregated} with count aggregation and {per_element} matching array elements or objects (run them with `firebreak hunt`)",
            rules.rules.len() - unsup.len(),
            c.target,
            c.target
        );
    }
    let format = c.out.format();
    let mut out = c.out.writer()?;
    // `--format json`: the JSON Lines objects, gathered into one document
    let mut queries: Vec<serde_json::Value> = Vec::new();
    if c.combined {
        if !matches!(target, Target::Duckdb | Target::Spark) {
            anyhow::bail!("--combined is only for --target duckdb or spark");
        }
        let files = c.table.clone().unwrap_or_else(|| "logs/**/*.json*".into());
        let mut sources: Vec<SourceKind> = compiled.iter().map(|x| x.source).collect();
        sources.sort();
        sources.dedup();
        for s in sources {
            let q = if target == Target::Spark {
                firebreak_hunt::compile::spark_combined(&compiled, s).map(|q| {
                    format!(
                        "{}\n{q}",
                        firebreak_hunt::compile::spark_setup(s, c.table.as_deref())
                    )
                })
            } else {
                duckdb_combined(&compiled, s, &files)
            };
            if let Some(q) = q {
                let v = serde_json::json!({"source": s, "query": q});
                if format == Format::Json {
                    queries.push(v);
                } else if format == Format::Jsonl {
                    serde_json::to_writer(&mut out, &v)?;
                    writeln!(out)?;
                } else {
                    writeln!(out, "-- all {s} rules, one scan\n{q}\n")?;
                }
            }
        }
    } else {
        let mut set_up: Vec<SourceKind> = Vec::new();
        for q in &compiled {
            // Spark: each source's records view, made once before its first query
            if let Some(setup) = q.setup.as_deref().filter(|_| format == Format::Text) {
                if !set_up.contains(&q.source) {
                    set_up.push(q.source);
                    writeln!(out, "-- {} records view (run once)\n{setup}\n", q.source)?;
                }
            }
            if format == Format::Json {
                queries.push(serde_json::to_value(q)?);
            } else if format == Format::Jsonl {
                serde_json::to_writer(&mut out, q).context("writing query")?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "-- {} [{}] ({})\n{}\n",
                    q.title, q.rule_id, q.source, q.query
                )?;
            }
        }
    }
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "queries": queries }))?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if failed == 0 && rules.unsupported.is_empty() {
        Exit::Clean
    } else {
        Exit::Partial
    })
}

fn parse_level(s: &str) -> Result<firebreak_core::Level, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| "expected informational, low, medium, high or critical".to_string())
}
