//! `firebreak simulate` (not wired yet).

use firebreak_core::Exit;

/// Arguments of `firebreak simulate`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("`firebreak simulate` is not available in this build yet")
}
