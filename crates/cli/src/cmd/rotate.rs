//! `firebreak rotate`: plan, run, status, resume, rollback (docs/rotate.md).

use crate::output::{formats, OutputArgs};
use clap::Subcommand;
use firebreak_core::output::{progress_enabled, Format};
use firebreak_core::Exit;
use firebreak_rotate::engine::{self, Engine, RunOptions, State};
use firebreak_rotate::{Journal, Plan, SealKey};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Rotate secrets: a durable, resumable state machine per secret (issue new → write every
/// sink → verify → revoke old). Exit codes: 0 all done; 1 some stopped, rolled back or
/// manual; 2 usage or input error; 3 some secrets unfinished.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
    /// The SQLite store holding the journal (default: $FIREBREAK_STORE, else
    /// $XDG_DATA_HOME/firebreak/firebreak.db).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    /// File holding the journal encryption key (32 bytes, base64); default: $FIREBREAK_ROTATE_KEY.
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Draft a plan (TOML, on stdout) from an inventory snapshot.
    Plan {
        /// Inventory snapshot: a JSON Lines / JSON file of items, or a snapshot id in the store.
        #[arg(long)]
        from_inventory: String,
    },
    /// Start a rotation run from a plan.
    Run {
        /// Plan file (TOML).
        plan: PathBuf,
        /// Secrets rotated at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Validate the plan and print what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Per-secret state of a run (the latest by default).
    Status {
        /// Run id.
        #[arg(long)]
        run: Option<String>,
        #[command(flatten)]
        out: OutputArgs<StatusFormats>,
    },
    /// Continue an interrupted run (the latest by default).
    Resume {
        /// Run id.
        #[arg(long)]
        run: Option<String>,
        /// Secrets rotated at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Also retry stopped secrets from the step they stopped at.
        #[arg(long)]
        retry_stopped: bool,
    },
    /// Restore a secret's sinks to its old credential and revoke the new one (before the old is revoked).
    Rollback {
        /// Secret name (as in the plan).
        secret: String,
        /// Run id.
        #[arg(long)]
        run: Option<String>,
    },
}

formats!(
    /// `firebreak rotate status`: a table, one JSON document `{"run", "secrets": [...]}`,
    /// or JSON Lines (one secret per line).
    StatusFormats,
    [Text, Json, Jsonl],
    Some(Format::Text),
    true
);

fn store_path(a: &Option<PathBuf>) -> PathBuf {
    a.clone()
        .unwrap_or_else(firebreak_rotate::journal::default_store_path)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn pick_run(j: &Journal, run: Option<String>) -> anyhow::Result<String> {
    match run {
        Some(r) => Ok(r),
        None => {
            engine::latest_run(j)?.ok_or_else(|| anyhow::anyhow!("no rotation run in store {}", j.path()))
        }
    }
}

fn drive(
    j: Journal,
    key: SealKey,
    run: &str,
    concurrency: usize,
    retry_stopped: bool,
) -> anyhow::Result<Exit> {
    let total = engine::status(&j, run)?.len() as u64;
    let bar = if progress_enabled() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} secrets {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let b2 = bar.clone();
    let opts = RunOptions {
        concurrency,
        retry_stopped,
        on_progress: Some(Arc::new(move |_name: &str, st: State| {
            if let Some(b) = &b2 {
                b.inc(1);
                b.set_message(st.to_string());
            }
        })),
        unsafe_revoke_before_verify: false,
    };
    let rt = runtime()?;
    let res = rt.block_on(async {
        let e = Arc::new(Engine::new(j, key, run, opts)?);
        e.run().await
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let sum = match res {
        Ok(s) => s,
        Err(engine::EngineError::Journal(e)) if e.is_fatal() => {
            // stopped at a safe point: every step taken is journaled, none after it
            eprintln!("firebreak: error: run {run}: {e}");
            return Ok(Exit::Partial);
        }
        Err(e) => return Err(e.into()),
    };
    crate::output::note!(
        "run {}: {} done, {} stopped, {} rolled back, {} manual, {} unfinished",
        sum.run_id,
        sum.done,
        sum.stopped,
        sum.rolled_back,
        sum.manual,
        sum.unfinished
    );
    Ok(sum.exit())
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.command {
        Cmd::Plan { from_inventory } => {
            let items = if std::path::Path::new(&from_inventory).exists() {
                let text = std::fs::read_to_string(&from_inventory)
                    .map_err(|e| anyhow::anyhow!("cannot read {from_inventory}: {e}"))?;
                let (items, bad) = firebreak_rotate::plan::read_inventory(&text);
                for l in &bad {
                    eprintln!("firebreak: {from_inventory}:{l}: not an inventory item; skipped");
                }
                items
            } else if let Ok(id) = from_inventory.parse::<i64>() {
                let st = firebreak_store::Store::open(&store_path(&args.store))?;
                let snap = st.load_snapshot(id)?;
                snap.items
                    .into_iter()
                    .map(|i| firebreak_rotate::plan::InventoryItem {
                        provider: i.provider,
                        kind: i.kind,
                        scope: i.scope,
                        name: i.name,
                        flags: i.flags,
                    })
                    .collect()
            } else {
                anyhow::bail!(
                    "--from-inventory {}: no such file, and not a snapshot id",
                    firebreak_core::secret::quote_untrusted(&from_inventory)
                );
            };
            let (plan, stats) = firebreak_rotate::plan::draft_from_inventory(&items);
            let mut out = std::io::stdout().lock();
            writeln!(out, "# Drafted by `firebreak rotate plan` from {from_inventory}: {} secret(s), {} sink(s), {} manual.", stats.secrets, stats.sinks, stats.manual)?;
            writeln!(
                out,
                "# Review every source (manual steps are placeholders) before `firebreak rotate run`."
            )?;
            for n in &stats.notes {
                writeln!(out, "# - {n}")?;
            }
            write!(out, "{}", plan.to_toml())?;
            out.flush()?;
            Ok(Exit::Clean)
        }
        Cmd::Run {
            plan,
            concurrency,
            dry_run,
        } => {
            let p = Plan::load(&plan)?;
            if dry_run {
                let store = store_path(&args.store);
                if store.exists() {
                    let j = Journal::open(&store)?;
                    if let Some(why) = engine::overlapping(&j, &p)? {
                        anyhow::bail!("{}: {why}", plan.display());
                    }
                }
                let mut out = std::io::stdout().lock();
                for s in &p.secrets {
                    let src = match &s.source {
                        firebreak_rotate::plan::SourceSpec::Manual { .. } => "manual",
                        firebreak_rotate::plan::SourceSpec::Random { .. } => "random",
                        firebreak_rotate::plan::SourceSpec::Command(_) => "command",
                        firebreak_rotate::plan::SourceSpec::Http { .. } => "http",
                        firebreak_rotate::plan::SourceSpec::DeployKey { .. } => "deploy_key",
                        firebreak_rotate::plan::SourceSpec::AwsIam { .. } => "aws_iam",
                        firebreak_rotate::plan::SourceSpec::CircleciRunner { .. } => "circleci_runner",
                    };
                    writeln!(out, "{}\tsource={src}\tsinks={}", s.name, s.sinks.len())?;
                    for k in &s.sinks {
                        writeln!(out, "  write+verify {}", k.label())?;
                    }
                }
                out.flush()?;
                crate::output::note!("dry run: {} secret(s); nothing was changed", p.secrets.len());
                return Ok(Exit::Clean);
            }
            let key = SealKey::load(args.key_file.as_deref())?;
            let j = Journal::open(&store_path(&args.store))?;
            let run = engine::create_run(&j, &p, &plan.display().to_string())?;
            crate::output::note!("run {run} started (store {})", j.path());
            drive(j, key, &run, concurrency, false)
        }
        Cmd::Resume {
            run,
            concurrency,
            retry_stopped,
        } => {
            let key = SealKey::load(args.key_file.as_deref())?;
            let j = Journal::open(&store_path(&args.store))?;
            let run = pick_run(&j, run)?;
            drive(j, key, &run, concurrency, retry_stopped)
        }
        Cmd::Status { run, out: o } => {
            let j = Journal::open(&store_path(&args.store))?;
            let run = pick_run(&j, run)?;
            let rows = engine::status(&j, &run)?;
            let mut out = o.writer()?;
            match o.format() {
                Format::Jsonl => {
                    for r in &rows {
                        writeln!(out, "{}", serde_json::to_string(r)?)?;
                    }
                }
                Format::Json => {
                    let doc = serde_json::json!({ "run": run, "secrets": rows });
                    serde_json::to_writer_pretty(&mut out, &doc)?;
                    writeln!(out)?;
                }
                _ => {
                    writeln!(
                        out,
                        "{:<32} {:<12} {:<10} {:>7} {:>8}  REASON",
                        "SECRET", "STATE", "SOURCE", "WRITTEN", "VERIFIED"
                    )?;
                    for r in &rows {
                        writeln!(
                            out,
                            "{:<32} {:<12} {:<10} {:>3}/{:<3} {:>4}/{:<3}  {}",
                            r.secret,
                            r.state,
                            r.source,
                            r.sinks_written,
                            r.sinks,
                            r.sinks_verified,
                            r.sinks,
                            r.reason.as_deref().unwrap_or("")
                        )?;
                    }
                }
            }
            out.flush()?;
            let sum = engine::summarize(&run, &rows);
            Ok(sum.exit())
        }
        Cmd::Rollback { secret, run } => {
            let key = SealKey::load(args.key_file.as_deref())?;
            let j = Journal::open(&store_path(&args.store))?;
            let run = pick_run(&j, run)?;
            let rt = runtime()?;
            let st = rt.block_on(async {
                let e = Engine::new(j, key, &run, RunOptions::default())?;
                e.rollback(&secret).await
            })?;
            eprintln!("{secret}: {st}");
            Ok(if st == State::RolledBack {
                Exit::Clean
            } else {
                Exit::Found
            })
        }
    }
}
