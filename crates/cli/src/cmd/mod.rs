//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<Exit>`.

pub mod census;
pub mod dashboard;
pub mod drill;
pub mod hunt;
pub mod incident;
pub mod inventory;
pub mod report;
pub mod revoke;
pub mod rotate;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod simulate;
pub mod token;
pub mod validate;
