//! `firebreak token` (not wired yet).

use firebreak_core::Exit;

/// Arguments of `firebreak token`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("`firebreak token` is not available in this build yet")
}
