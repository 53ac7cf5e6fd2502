//! Crash-test and benchmark harness of the rotation engine (not part of the CLI).
//!
//! ```text
//! rotate-harness child --plan P --store S [--concurrency N] [--crash-after K]   (run or resume)
//! rotate-harness crash --secrets 300 --kills 500 --seed 1 [--concurrency 8]    (prints JSON)
//! rotate-harness bench --secrets 1000 --rate 100 [--concurrency 64]             (prints JSON)
//! ```

use std::path::PathBuf;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    arg(args, name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let r: anyhow::Result<i32> = rt.block_on(async {
        match args.first().map(String::as_str) {
            Some("child") => {
                let plan = PathBuf::from(arg(&args, "--plan").unwrap_or_default());
                let store = PathBuf::from(arg(&args, "--store").unwrap_or_default());
                firebreak_rotate::journal::set_crash_after(num(&args, "--crash-after", 0i64));
                let unsafe_order = args.iter().any(|a| a == "--unsafe-revoke-before-verify");
                let sum = firebreak_rotate::harness::child_main(
                    &plan,
                    &store,
                    num(&args, "--concurrency", 8),
                    unsafe_order,
                )
                .await?;
                Ok(sum.exit().code())
            }
            Some("crash") => {
                let dir = tempfile_dir()?;
                let me = std::env::current_exe()?;
                let cfg = firebreak_rotate::harness::CrashConfig {
                    secrets: num(&args, "--secrets", 300),
                    kills: num(&args, "--kills", 500),
                    seed: num(&args, "--seed", 1),
                    concurrency: num(&args, "--concurrency", 8),
                    child: me,
                    broken_order: false,
                    fail_fast: false,
                };
                let rep = firebreak_rotate::harness::crash_test(&cfg, &dir).await;
                let _ = std::fs::remove_dir_all(&dir);
                let rep = rep?;
                println!("{}", serde_json::to_string(&rep)?);
                Ok(if rep.violations.is_empty() { 0 } else { 1 })
            }
            Some("bench") => {
                let dir = tempfile_dir()?;
                let rep = firebreak_rotate::harness::bench(
                    num(&args, "--secrets", 1000),
                    num(&args, "--rate", 100.0),
                    num(&args, "--concurrency", 64),
                    &dir,
                )
                .await;
                let _ = std::fs::remove_dir_all(&dir);
                println!("{}", serde_json::to_string(&rep?)?);
                Ok(0)
            }
            _ => {
                eprintln!("usage: rotate-harness child|crash|bench ... (see the source header)");
                Ok(2)
            }
        }
    });
    match r {
        Ok(c) => std::process::ExitCode::from(c as u8),
        Err(e) => {
            eprintln!("rotate-harness: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("fb-rotate-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
