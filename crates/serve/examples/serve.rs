//! Minimal in-process launcher: `cargo run -p firebreak-serve --example serve -- CONFIG`.
//! Same behaviour as `firebreak serve --config CONFIG` (prints the listening URL, runs until
//! SIGINT/SIGTERM); used by `bench/serve.sh` with `BENCH_BIN=example` when the full CLI is not built.

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: serve CONFIG"))?;
    let cfg = firebreak_serve::Config::load(std::path::Path::new(&path))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let server = firebreak_serve::Server::start(cfg).await?;
        println!("firebreak serve: listening on {}", server.url());
        server.run_until_signal().await
    })
}
