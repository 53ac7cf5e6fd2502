//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<Exit>`.

pub mod census;
pub mod dashboard;
pub mod drill;
pub mod hunt;
pub mod incident;
pub mod inventory;
pub mod report;
pub mod rotate;
pub mod scan;
pub mod serve;
pub mod simulate;
pub mod token;

/// Resolves on Ctrl-C or (on Unix) SIGTERM: when a long-running command should shut down.
pub async fn shutdown_signal() {
    let term = async {
        #[cfg(unix)]
        {
            if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                s.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
