//! `firebreak scan` (not wired yet).

use firebreak_core::Exit;

/// Arguments of `firebreak scan`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("`firebreak scan` is not available in this build yet")
}
