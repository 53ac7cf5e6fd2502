//! `firebreak inventory` (not wired yet).

use firebreak_core::Exit;

/// Arguments of `firebreak inventory`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("`firebreak inventory` is not available in this build yet")
}
