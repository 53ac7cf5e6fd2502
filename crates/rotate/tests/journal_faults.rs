//! The journal under faults, at every step boundary: for each k, a rotation whose k-th
//! journal commit fails (SQLite's commit hook turns that COMMIT into a ROLLBACK, as a full
//! disk or an I/O error would), then a resume with a healthy journal. After the failure the
//! run must stop at once (no issue, write or revoke after it) with the journal's error, the
//! invariants must hold then, and after the resume every secret must be terminal and match
//! the truth at the source and in the sinks, with no credential issued twice.
//!
//! The worlds mix what the engine does on a good day with its failure paths: a forbidden
//! repository (a sink write fails), a verification hook that fails, a source that can give
//! old credentials back (roll back) and one that cannot (stop).

use firebreak_rotate::engine::{self, Engine, EngineError, RunOptions};
use firebreak_rotate::harness::{build_world, WorldConfig};
use firebreak_rotate::journal::JournalError;
use firebreak_rotate::{Journal, SealKey};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What one faulted run did: the step the last durable record was at when the fault hit,
/// and how the faulted run ended.
struct Outcome {
    boundary: String,
    result: String,
}

async fn one(k: usize, no_fetch: bool) -> anyhow::Result<Option<Outcome>> {
    let dir = tempfile::tempdir()?;
    let w = build_world(
        &WorldConfig {
            secrets: 6,
            projects: 8,
            seed: 7,
            rate_limit: None,
            inject_failures: true,
            no_fetch,
            failing_hook_every: Some(3),
            extra: Default::default(),
        },
        dir.path(),
    )
    .await?;
    let key = SealKey::from_base64(&w.key_b64, "test")?;
    let j = Journal::open(&w.store_path)?;
    let run = engine::create_run(&j, &w.plan, "plan.toml")?;
    // fail exactly the k-th commit after this one (which installs the hook)
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    j.exec(move |c| {
        c.commit_hook(Some(move || n2.fetch_add(1, Ordering::SeqCst) == k));
        Ok(())
    })
    .await?;
    let opts = RunOptions {
        concurrency: 2,
        ..Default::default()
    };
    let res = match Engine::new(j.clone(), key.clone(), &run, opts.clone()) {
        Ok(e) => Arc::new(e).run().await,
        Err(e) => Err(e), // reading the plan is the first commit
    };
    let commits = n.load(Ordering::SeqCst) - 1;
    drop(j);
    let faulted = commits >= k;
    match &res {
        Ok(sum) if faulted => {
            // only the lock's release may fail after the run finished: it is best effort
            // (a lock left behind is taken over once its holder is gone)
            anyhow::ensure!(
                commits == k && sum.unfinished == 0,
                "k={k}: the run reported success after its commit {k} failed"
            );
            let j = Journal::open(&w.store_path)?;
            let (status, locks): (String, i64) = j.exec_blocking(|c| {
                c.query_row(
                    "SELECT (SELECT status FROM rotation_runs), (SELECT count(*) FROM rotation_locks)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })?;
            anyhow::ensure!(status == "finished" && locks == 1, "k={k}: {status} {locks}");
            let (_, v) = w.check_final()?;
            anyhow::ensure!(v.is_empty(), "k={k}: final invariants: {v:?}");
            return Ok(Some(Outcome {
                boundary: "run finished, lock release".into(),
                result: "finished; the stale lock is taken over by the next process".into(),
            }));
        }
        Ok(_) => return Ok(None), // k is past the last commit: the sweep is complete
        Err(EngineError::Journal(JournalError::Poisoned { .. })) => {}
        Err(other) => anyhow::bail!("k={k}: unexpected error {other}"),
    }
    anyhow::ensure!(
        commits == k,
        "k={k}: {commits} commits were attempted: the run went on after the failure"
    );
    let v = w.check_now();
    anyhow::ensure!(v.is_empty(), "k={k}: invariants after the fault: {v:?}");
    // the last durable step
    let boundary = w.last_step();
    let j = Journal::open(&w.store_path)?;
    // resume with a healthy journal, until nothing is left
    let e = Arc::new(Engine::new(j, key, &run, opts)?);
    let sum = e.run().await?;
    drop(e);
    anyhow::ensure!(sum.unfinished == 0, "k={k}: unfinished after resume: {sum:?}");
    let (_, v) = w.check_final()?;
    anyhow::ensure!(v.is_empty(), "k={k}: final invariants: {v:?}");
    Ok(Some(Outcome {
        boundary,
        result: format!(
            "resumed: {} done, {} stopped, {} rolled back",
            sum.done, sum.stopped, sum.rolled_back
        ),
    }))
}

#[test]
fn a_commit_failing_at_every_step_boundary_stops_the_run_and_resume_completes_it() {
    let rt = rt();
    for no_fetch in [false, true] {
        let mut matrix: BTreeMap<String, usize> = BTreeMap::new();
        let mut k = 1;
        loop {
            match rt.block_on(one(k, no_fetch)) {
                Ok(Some(o)) => {
                    *matrix
                        .entry(format!("{} -> {}", o.boundary, o.result))
                        .or_default() += 1
                }
                Ok(None) => break,
                Err(e) => panic!("no_fetch={no_fetch}: {e:#}"),
            }
            k += 1;
            assert!(k < 1000, "the sweep never reached the end of the run");
        }
        assert!(k > 40, "only {k} commits in a run: the sweep covers too little");
        eprintln!("fault matrix (no_fetch={no_fetch}, {} faulted runs):", k - 1);
        for (row, n) in &matrix {
            eprintln!("  {n:>3} x failed commit after [{row}]");
        }
    }
}
