//! `firebreak census`: which artifacts a package index published in an exposure
//! window, and whether any of them matches indicators of compromise or leaks
//! secrets. See docs/census.md.

use crate::output::{formats, OutputArgs};
use anyhow::Context;
use firebreak_census::index::IndexKind;
use firebreak_census::ioc::IocSet;
use firebreak_census::{run as run_census, CensusOptions};
use firebreak_core::output::{progress_enabled, Format};
use firebreak_core::{Exit, TimeWindow};
use firebreak_scan::{RuleSet, ScanOptions, Scanner};
use std::io::Write;
use std::path::PathBuf;

formats!(
    /// `firebreak census`: one JSON object per artifact (default), one JSON document, or
    /// conda-forge's census shape.
    CensusFormats,
    [Jsonl, Json, Conda],
    Some(Format::Jsonl),
    true
);

/// Kinds accepted by `--index-kind`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindArg {
    /// Detect each index from its layout and content.
    Auto,
    /// A conda channel directory (`<subdir>/repodata.json`) or a repodata.json file.
    Conda,
    /// A PyPI JSON API export (`/pypi/<name>/json` documents): a file or a directory.
    Pypi,
    /// JSON Lines: name, uploaded_at, path or url, optional sha256 and size.
    Jsonl,
    /// A plain directory of artifacts (modification times: weaker evidence).
    Dir,
    /// anaconda.org's file listing (`/package/OWNER/NAME/files`): the server's upload time.
    Anaconda,
}

/// List every artifact an index published in an exposure window and check it
/// against indicators of compromise (and, with --scan, for leaked secrets).
///
/// Exit codes: 0 nothing found; 1 an IOC match, checksum mismatch or secret;
/// 2 usage error or no index readable; 3 some inputs failed (unreadable index,
/// malformed records, corrupt artifacts, or artifacts missing when --ioc/--scan
/// asked for their contents).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Exposure window START..END (half-open; RFC 3339 times or YYYY-MM-DD dates, UTC).
    #[arg(long, value_name = "START..END")]
    pub window: TimeWindow,
    /// Indexes: conda channel dirs or repodata.json files, PyPI JSON exports,
    /// anaconda.org file listings, JSON Lines files, or plain directories of artifacts;
    /// or their http(s) URLs (a conda channel's root URL, `https://pypi.org/pypi/NAME/json`,
    /// `https://api.anaconda.org/package/OWNER/NAME/files`, ...), fetched anonymously.
    #[arg(required = true, value_name = "INDEX")]
    pub indexes: Vec<PathBuf>,
    /// Force the kind of every index instead of detecting it.
    #[arg(long, value_enum, default_value = "auto")]
    pub index_kind: KindArg,
    /// Indicators of compromise (TOML or YAML; see docs/census.md).
    #[arg(long, value_name = "FILE")]
    pub ioc: Option<PathBuf>,
    /// Also run the leak scanner (built-in rule pack) on every member.
    #[arg(long)]
    pub scan: bool,
    /// Look up artifacts by file name in this directory too (repeatable).
    #[arg(long = "artifacts", value_name = "DIR")]
    pub artifact_dirs: Vec<PathBuf>,
    /// Download the artifacts inside the window that are only remote, so that --ioc and
    /// --scan check them (into a private temporary directory, removed afterwards).
    #[arg(long)]
    pub download: bool,
    /// Largest artifact downloaded, in MiB; a bigger one is reported, not checked.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    pub max_download_mib: u64,
    #[command(flatten)]
    pub out: OutputArgs<CensusFormats>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut opts = CensusOptions::new(args.window);
    opts.index_kind = match args.index_kind {
        KindArg::Auto => None,
        KindArg::Conda => Some(IndexKind::Conda),
        KindArg::Pypi => Some(IndexKind::Pypi),
        KindArg::Jsonl => Some(IndexKind::Jsonl),
        KindArg::Dir => Some(IndexKind::Dir),
        KindArg::Anaconda => Some(IndexKind::Anaconda),
    };
    if let Some(p) = &args.ioc {
        opts.ioc = Some(IocSet::load(p)?);
    }
    if args.scan {
        let rules = RuleSet::builtin().context("built-in rule pack")?;
        opts.scanner = Some(Scanner::new(rules, ScanOptions::default()));
    }
    opts.artifact_dirs = args.artifact_dirs.clone();
    opts.download = args.download;
    opts.max_download = args.max_download_mib.saturating_mul(1 << 20);

    let bar = progress_enabled().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_message("census: checking artifacts");
        b
    });
    let tick = |_: &firebreak_census::ArtifactRecord| {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let report = run_census(&args.indexes, &opts, Some(&tick));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    let mut out = args.out.writer()?;
    match args.out.format() {
        Format::Jsonl => report.write_jsonl(&mut out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        _ => {
            serde_json::to_writer_pretty(&mut out, &report.conda_shape())?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    if !crate::output::quiet() {
        eprint!("{}", report.summary_text());
    }
    Ok(report.exit())
}
