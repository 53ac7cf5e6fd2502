//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<Exit>`.

pub mod census;
pub mod hunt;
pub mod inventory;
pub mod rotate;
pub mod scan;
pub mod serve;
pub mod simulate;
pub mod token;
