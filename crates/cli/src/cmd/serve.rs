//! `firebreak serve`: the upload-token service (see docs/serve.md).

use firebreak_core::Exit;
use std::path::PathBuf;

/// Arguments of `firebreak serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration file (TOML; every key is documented in docs/serve.md).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Override the `listen` address of the config (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

/// Runs the subcommand: serves until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut cfg = firebreak_serve::Config::load(&args.config)?;
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let server = firebreak_serve::Server::start(cfg).await?;
        // One line on stdout so scripts can find the port (e.g. with --listen 127.0.0.1:0).
        // A closed stdout does not stop the service.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "firebreak serve: listening on {}", server.url()).and_then(|()| out.flush());
        drop(out);
        server.run_until_signal().await
    })?;
    Ok(Exit::Clean)
}
