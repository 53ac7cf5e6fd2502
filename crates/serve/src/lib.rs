//! Upload-token service: per-provider expiring tokens, publishing, OIDC trusted publishing.
//!
//! Start it in-process (tests, drills):
//!
//! ```no_run
//! # async fn demo(cfg: firebreak_serve::Config) -> anyhow::Result<()> {
//! let server = firebreak_serve::Server::start(cfg).await?; // cfg.listen may use port 0
//! let base = server.url();
//! let issued = server.state().issue_token("proj", "circleci", "admin", firebreak_serve::now_ms() + 3_600_000).await?;
//! # let _ = (base, issued);
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod audit;
pub mod client;
pub mod config;
pub mod oidc;
pub mod publish;
pub mod server;
pub mod store;
pub mod token;

pub use config::Config;
pub use server::{
    now_ms, router, shutdown_signal, AppState, IssueResponse, IssuedToken, Server, TokenInfo, ROUTES,
};
