//! `firebreak drill`: a complete incident on bundled data, with no network and no setup
//! (the provider simulator runs in this process). See docs/incident.md.

use anyhow::Context as _;
use firebreak_core::Exit;
use firebreak_incident::drill::{self, DrillOptions};
use std::path::PathBuf;

/// Arguments of `firebreak drill`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory for report.html and report.md (created when missing).
    #[arg(long, short = 'o', value_name = "DIR", default_value = "firebreak-drill")]
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
    /// Print the outcome as JSON (status included) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `firebreak drill`.
pub fn run(a: Args) -> anyhow::Result<Exit> {
    let tmp = tempfile::Builder::new()
        .prefix("firebreak-drill-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let work = tmp.path().to_path_buf();
    let mut opts = DrillOptions::new(a.out.clone(), work.clone());
    opts.store = a.store.clone();
    opts.seed = a.seed;
    opts.projects = a.projects.max(3);
    if !a.json {
        eprintln!("firebreak drill: a CircleCI breach, end to end, on a simulated organisation (no network)");
        opts.progress = Some(Box::new(|line: &str| eprintln!("  {line}")));
    }
    let out = drill::run(&opts)?;
    let kept = a.keep.then(|| tmp.keep());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let s = &out.status;
        println!(
            "incident {}: {} secrets: {} LIVE (the stolen value still works), {} verified, {} rewritten, {} rotated, {} manual, {} pending; {} hunt findings ({} high); {} leaks in CI logs; {} of {} artifacts flagged",
            out.incident,
            s.secrets.total,
            s.secrets.live,
            s.secrets.verified,
            s.secrets.rewritten,
            s.secrets.rotated,
            s.secrets.manual,
            s.secrets.pending,
            s.hunts.findings.total(),
            s.hunts.findings.high + s.hunts.findings.critical,
            s.scans.findings,
            s.census.flagged,
            s.census.artifacts
        );
        println!("drill finished in {:.1}s", out.seconds);
        if let Some(k) = &kept {
            println!("work directory: {}", k.display());
        }
        if kept.is_some() || a.store.is_some() {
            println!("store: {}", out.store.display());
        }
        println!("report: {}", out.report_html.display());
    }
    Ok(Exit::Clean)
}
