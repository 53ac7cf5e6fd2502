//! `firebreak dashboard`: the live incident dashboard (see docs/dashboard.md).

use firebreak_core::Exit;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `firebreak dashboard`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Incident to show by default (the page can switch); default: the most recent one.
    #[arg(long, value_name = "NAME")]
    pub incident: Option<String>,
    /// The firebreak store (default: $FIREBREAK_STORE, else ~/.local/share/firebreak/firebreak.db).
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Address to listen on. Keep it on loopback: the dashboard has no authentication
    /// (127.0.0.1:0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = firebreak_dashboard::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
}

/// Runs the subcommand: serves until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let path = args.store.unwrap_or_else(firebreak_store::default_path);
    let source = match firebreak_dashboard::StoreSource::open(&path, args.incident) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("firebreak: error: {e:#}");
            return Ok(Exit::Error);
        }
    };
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "firebreak: warning: listening on {}, not loopback: anyone who can reach it sees the incident's secret names and progress (there is no authentication)",
            args.listen
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = firebreak_dashboard::Server::start(args.listen, Arc::new(source)).await?;
        // One line on stdout so scripts can find the port (e.g. with --listen 127.0.0.1:0).
        // A closed stdout does not stop the service.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ =
            writeln!(out, "firebreak dashboard: listening on {}", server.url()).and_then(|()| out.flush());
        drop(out);
        firebreak_serve::shutdown_signal().await;
        server.shutdown().await
    })?;
    Ok(Exit::Clean)
}
