//! `firebreak drill`: a complete incident on bundled data, with no network and no setup
//! (the provider simulator runs in this process). See docs/incident.md.

use crate::output::{formats, OutputArgs};
use anyhow::Context as _;
use firebreak_core::output::Format;
use firebreak_core::Exit;
use firebreak_incident::drill::{self, DrillOptions};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `firebreak drill`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory for report.html and report.md (created when missing). `--out` and `-o`
    /// are deprecated spellings (`-o` is a file everywhere else).
    #[arg(
        long = "out-dir",
        alias = "out",
        short_alias = 'o',
        value_name = "DIR",
        default_value = "firebreak-drill"
    )]
    out: PathBuf,
    /// Record the drill's incident in this store instead of a temporary one (kept).
    #[arg(long, value_name = "PATH")]
    store: Option<PathBuf>,
    /// Keep the work directory (temporary store, bundled data, rotation plan) and print it.
    #[arg(long)]
    keep: bool,
    /// Simulator seed (the same seed gives the same organisation, leaks and findings).
    #[arg(long, default_value_t = 2023)]
    seed: u64,
    /// Projects per provider in the simulated organisation.
    #[arg(long, default_value_t = 12)]
    projects: usize,
    /// `--format json`: the outcome as one JSON document (status included).
    #[command(flatten)]
    format: OutputArgs<DrillFormats>,
    /// Same as `--format json` (kept for scripts written before `--format`).
    #[arg(long, hide = true)]
    json: bool,
}

formats!(
    /// `firebreak drill`: a text summary, or one JSON document. The report goes to
    /// `--out-dir`, so there is no `-o/--output` file.
    DrillFormats,
    [Text, Json],
    Some(Format::Text),
    false
);

/// Runs `firebreak drill`.
pub fn run(a: Args) -> anyhow::Result<Exit> {
    let json = a.json || a.format.format() == Format::Json;
    let tmp = tempfile::Builder::new()
        .prefix("firebreak-drill-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let work = tmp.path().to_path_buf();
    let mut opts = DrillOptions::new(a.out.clone(), work.clone());
    opts.store = a.store.clone();
    opts.seed = a.seed;
    opts.projects = a.projects.max(3);
    if !json && !crate::output::quiet() {
        eprintln!("firebreak drill: a CircleCI breach, end to end, on a simulated organisation (no network)");
        opts.progress = Some(Box::new(|line: &str| eprintln!("  {line}")));
    }
    let out = drill::run(&opts)?;
    let kept = a.keep.then(|| tmp.keep());
    let mut w = std::io::stdout().lock();
    if json {
        writeln!(w, "{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        let s = &out.status;
        writeln!(
            w,
            "incident {}: {} secrets: {} LIVE (the stolen value still works), {} verified, {} rewritten, {} rotated, {} manual, {} pending, {} not checked (no API lists them); {} hunt findings ({} high); {} leaks in CI logs; {} of {} artifacts flagged",
            out.incident,
            s.secrets.total,
            s.secrets.live,
            s.secrets.verified,
            s.secrets.rewritten,
            s.secrets.rotated,
            s.secrets.manual,
            s.secrets.pending,
            s.secrets.not_checked,
            s.hunts.findings.total(),
            s.hunts.findings.high + s.hunts.findings.critical,
            s.scans.findings,
            s.census.flagged,
            s.census.artifacts
        )?;
        writeln!(w, "drill finished in {:.1}s", out.seconds)?;
        if let Some(k) = &kept {
            writeln!(w, "work directory: {}", k.display())?;
        }
        if kept.is_some() || a.store.is_some() {
            writeln!(w, "store: {}", out.store.display())?;
        }
        writeln!(w, "report: {}", out.report_html.display())?;
    }
    Ok(Exit::Clean)
}
