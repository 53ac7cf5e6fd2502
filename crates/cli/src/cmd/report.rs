//! `firebreak report`: write an incident's self-contained HTML report and its Markdown
//! twin. See docs/incident.md.

use crate::cmd::incident::StoreArg;
use firebreak_core::Exit;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `firebreak report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Incident name (default: the most recent).
    name: Option<String>,
    /// Directory to write report.html and report.md into (created when missing). `--out`
    /// and `-o` are deprecated spellings (`-o` is a file everywhere else).
    #[arg(
        long = "out-dir",
        alias = "out",
        short_alias = 'o',
        value_name = "DIR",
        default_value = "firebreak-report"
    )]
    out: PathBuf,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs `firebreak report`.
pub fn run(a: Args) -> anyhow::Result<Exit> {
    let store = a.store.open()?;
    let name = firebreak_incident::resolve_name(&store, a.name.as_deref())?;
    let data = firebreak_incident::report::gather(&store, &name)?;
    let w = firebreak_incident::report::write(&data, &a.out)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "report of incident {name}: {}", w.html.display())?;
    writeln!(out, "markdown: {}", w.markdown.display())?;
    Ok(Exit::Clean)
}
