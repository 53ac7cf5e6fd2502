//! The rotation state machine. Per secret:
//!
//! ```text
//! pending ─prepare─▶ issuing ─issue─▶ issued ─write sinks─▶ written ─verify─▶ verified ─revoke old─▶ done
//!    │                  │                │                     │                │
//!    └──────────────────┴────────────────┴─────── failure ─────┴────────────────┘
//!                  rolling_back ─▶ rolled_back     (old value obtainable: sinks restored, new revoked)
//!                  stopped                          (otherwise: old credential still valid, never revoked)
//! manual: a source firebreak cannot drive (instructions shown by `status`).
//! ```
//!
//! Every step is recorded before it acts (intent, with the idempotency key) and after
//! (result), in one SQLite transaction with the secret's state. On resume, a step whose
//! intent is recorded but whose result is not is reconciled: an issue is looked up by its
//! key at the source before issuing again; sink writes are repeated (idempotent by value);
//! verification is repeated; revocation is repeated (idempotent). The old credential is
//! revoked only after every sink has been verified to hold the new one.

use crate::crypto::SealKey;
use crate::journal::{crash_point, now, Journal, JournalError};
use crate::plan::{Field, Plan, SecretSpec, SourceSpec};
use crate::sinks::{SinkClients, Verified};
use crate::sources::{Credential, Issued, Lookup, Prepared, Source, SourceClients};
use firebreak_core::finding::stable_id;
use firebreak_core::SecretString;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Terminal and intermediate states of a secret.
pub mod state {
    /// Not started.
    pub const PENDING: &str = "pending";
    /// Issue intent recorded.
    pub const ISSUING: &str = "issuing";
    /// New credential issued and recorded (encrypted).
    pub const ISSUED: &str = "issued";
    /// Every sink written.
    pub const WRITTEN: &str = "written";
    /// Every sink verified.
    pub const VERIFIED: &str = "verified";
    /// Revocation of the old credential in progress.
    pub const REVOKING: &str = "revoking";
    /// Done: new everywhere, old revoked, material erased.
    pub const DONE: &str = "done";
    /// Failed before revoke; the old credential is still valid.
    pub const STOPPED: &str = "stopped";
    /// Sinks being restored to the old value.
    pub const ROLLING_BACK: &str = "rolling_back";
    /// Sinks restored to the old value, new credential revoked.
    pub const ROLLED_BACK: &str = "rolled_back";
    /// A person must do it.
    pub const MANUAL: &str = "manual";

    /// True for states a run does not continue from by itself.
    pub fn is_terminal(s: &str) -> bool {
        matches!(s, DONE | STOPPED | ROLLED_BACK | MANUAL)
    }
}

/// Progress callback: (secret, state it reached).
pub type ProgressFn = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Options of a run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Secrets rotated at once.
    pub concurrency: usize,
    /// Also retry secrets in `stopped` state (resume).
    pub retry_stopped: bool,
    /// Called when a secret reaches a terminal state (secret, state).
    pub on_progress: Option<ProgressFn>,
    /// TEST ONLY: revoke the old credential right after issuing, before the sinks are
    /// written and verified. Exists so the crash test can prove its invariant checker
    /// catches a wrong ordering. Never set by the CLI.
    pub unsafe_revoke_before_verify: bool,
}

/// Why the engine failed as a whole (per-secret failures are states, not errors).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run was refused (overlap with another run, lock held): nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Other.
    #[error("{0}")]
    Other(String),
}

/// One secret's row as shown by `status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecretStatus {
    /// Run id.
    pub run_id: String,
    /// Secret name.
    pub secret: String,
    /// State.
    pub state: String,
    /// The step a stopped secret stopped at (the state to resume from).
    pub step: String,
    /// Source type.
    pub source: String,
    /// Sinks in the plan.
    pub sinks: usize,
    /// Sinks written with the new credential.
    pub sinks_written: usize,
    /// Sinks verified.
    pub sinks_verified: usize,
    /// Fingerprint (SHA-256) of the new credential, once issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_fingerprint: Option<String>,
    /// Id of the new credential at the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_id: Option<String>,
    /// Ids of the old credentials (revoked once done).
    pub previous_ids: Vec<String>,
    /// Why it stopped, or the manual instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Last change.
    pub updated_at: String,
}

/// Counts of a run's states.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Run id.
    pub run_id: String,
    /// Done.
    pub done: usize,
    /// Stopped (old credential valid).
    pub stopped: usize,
    /// Rolled back.
    pub rolled_back: usize,
    /// Manual.
    pub manual: usize,
    /// Not finished (engine error, interrupted).
    pub unfinished: usize,
}

impl Summary {
    /// Exit code: 0 all done, 1 some stopped / rolled back / manual, 3 some unfinished.
    pub fn exit(&self) -> firebreak_core::Exit {
        use firebreak_core::Exit;
        if self.unfinished > 0 {
            Exit::Partial
        } else if self.stopped + self.manual + self.rolled_back > 0 {
            Exit::Found
        } else {
            Exit::Clean
        }
    }
}

#[derive(Debug, Clone)]
struct SinkRow {
    state: String,
    written_at: Option<String>,
}

#[derive(Debug, Clone)]
struct Row {
    state: String,
    step: String,
    attempt: i64,
    idem: Option<String>,
    new_id: Option<String>,
    new_fp: Option<String>,
    new_enc: Option<Vec<u8>>,
    pending_enc: Option<Vec<u8>>,
    info: serde_json::Value,
    sinks: Vec<SinkRow>,
}

/// Creates a run from a plan: records the plan text and one row per secret and sink, and
/// takes the run's lock for `journal` (see [`Journal::acquire`]), all in one transaction.
///
/// Refused when the plan overlaps an unfinished run on any sink or source: two runs
/// rotating one credential would issue it twice and could revoke what the other wrote.
/// The error names the other run and, when a process is driving it, that process.
pub fn create_run(journal: &Journal, plan: &Plan, plan_path: &str) -> Result<String, EngineError> {
    let run_id = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &stable_id(&[plan_path, &now(), &rand::random::<u64>().to_string()])[..8]
    );
    let text = plan.to_toml();
    let plan = plan.clone();
    let rid = run_id.clone();
    let path = plan_path.to_string();
    let me = crate::journal::Holder::me();
    let token = me.token.clone();
    let refused: Option<String> = journal.exec_blocking(move |c| {
        if let Some(why) = overlap(c, &plan)? {
            return Ok(Some(why));
        }
        let t = now();
        c.execute(
            "INSERT INTO rotation_runs (run_id, created_at, plan_path, plan, status, updated_at) VALUES (?1, ?2, ?3, ?4, 'running', ?2)",
            params![rid, t, path, text],
        )?;
        let mut ins = c.prepare("INSERT INTO rotation_secrets (run_id, secret, state, step, reason, prev_ids, updated_at) VALUES (?1, ?2, ?3, ?3, ?4, '{}', ?5)")?;
        let mut sk = c.prepare("INSERT INTO rotation_sinks (run_id, secret, idx, label, state) VALUES (?1, ?2, ?3, ?4, 'pending')")?;
        for s in &plan.secrets {
            let (st, reason) = match &s.source {
                SourceSpec::Manual { instructions } => (state::MANUAL, Some(instructions.clone())),
                _ => (state::PENDING, None),
            };
            ins.execute(params![rid, s.name, st, reason, t])?;
            for (i, k) in s.sinks.iter().enumerate() {
                sk.execute(params![rid, s.name, i as i64, k.label()])?;
            }
        }
        if let Err(h) = crate::journal::acquire_in(c, &rid, &me)? {
            // a brand-new run id cannot be held by anyone else
            return Ok(Some(format!("run {rid} is held by {h}")));
        }
        Ok(None)
    })?;
    if let Some(why) = refused {
        return Err(EngineError::Refused(why));
    }
    journal.note_acquired(&run_id, token);
    Ok(run_id)
}

/// Why `plan` could not start now (it overlaps an unfinished run), without changing
/// anything: what `rotate run --dry-run` checks.
pub fn overlapping(journal: &Journal, plan: &Plan) -> Result<Option<String>, EngineError> {
    let plan = plan.clone();
    Ok(journal.exec_blocking(move |c| overlap(c, &plan))?)
}

/// What a plan shares with the unfinished runs of the store, as a refusal message.
fn overlap(c: &Connection, plan: &Plan) -> rusqlite::Result<Option<String>> {
    let mut runs: Vec<(String, String)> = Vec::new();
    {
        let mut q =
            c.prepare("SELECT run_id, plan FROM rotation_runs WHERE status = 'running' ORDER BY created_at")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for r in rows {
            runs.push(r?);
        }
    }
    if runs.is_empty() {
        return Ok(None);
    }
    let mine_sinks: std::collections::HashSet<String> = plan
        .secrets
        .iter()
        .flat_map(|s| s.sinks.iter().map(|k| k.label()))
        .collect();
    let mine_sources: std::collections::HashSet<String> = plan
        .secrets
        .iter()
        .filter_map(|s| s.source.identity_label(&s.name))
        .collect();
    for (rid, text) in runs {
        let mut shared: Vec<String> = Vec::new();
        let mut q = c.prepare("SELECT DISTINCT label FROM rotation_sinks WHERE run_id = ?1")?;
        for l in q.query_map([&rid], |r| r.get::<_, String>(0))? {
            let l = l?;
            if mine_sinks.contains(&l) {
                shared.push(format!("sink {l}"));
            }
        }
        if let Ok(other) = Plan::parse(&text, "(recorded plan)") {
            for s in &other.secrets {
                if let Some(l) = s.source.identity_label(&s.name) {
                    if mine_sources.contains(&l) {
                        shared.push(format!("source {l}"));
                    }
                }
            }
        }
        if shared.is_empty() {
            continue;
        }
        shared.sort();
        shared.dedup();
        let n = shared.len();
        let list = shared.into_iter().take(3).collect::<Vec<_>>().join(", ");
        let more = if n > 3 {
            format!(" and {} more", n - 3)
        } else {
            String::new()
        };
        let who = match crate::journal::live_holder(c, &rid)? {
            Some(h) => format!("it is being driven by {h}; wait for it to finish"),
            None => format!("no process drives it now: finish it with `firebreak rotate resume --run {rid}`"),
        };
        return Ok(Some(format!(
            "the plan overlaps unfinished run {rid} on {list}{more}; {who}, then start the new plan"
        )));
    }
    Ok(None)
}

/// The most recent run id, if any.
pub fn latest_run(journal: &Journal) -> Result<Option<String>, EngineError> {
    Ok(journal.exec_blocking(|c| {
        c.query_row(
            "SELECT run_id FROM rotation_runs ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
    })?)
}

/// The plan recorded with a run.
pub fn run_plan(journal: &Journal, run_id: &str) -> Result<Plan, EngineError> {
    let rid = run_id.to_string();
    let text: Option<String> = journal.exec_blocking(move |c| {
        c.query_row("SELECT plan FROM rotation_runs WHERE run_id = ?1", [rid], |r| {
            r.get(0)
        })
        .optional()
    })?;
    let text =
        text.ok_or_else(|| EngineError::Other(format!("no run {run_id} in store {}", journal.path())))?;
    Plan::parse(&text, &format!("(plan of run {run_id})")).map_err(|e| EngineError::Other(e.to_string()))
}

/// Per-secret status of a run.
pub fn status(journal: &Journal, run_id: &str) -> Result<Vec<SecretStatus>, EngineError> {
    let plan = run_plan(journal, run_id)?;
    let rid = run_id.to_string();
    let rows = journal.exec_blocking(move |c| {
        let mut q = c.prepare(
            "SELECT s.secret, s.state, s.step, s.new_id, s.new_fp, s.prev_ids, s.reason, s.updated_at,
                    (SELECT count(*) FROM rotation_sinks k WHERE k.run_id = s.run_id AND k.secret = s.secret AND k.state IN ('written','verified')),
                    (SELECT count(*) FROM rotation_sinks k WHERE k.run_id = s.run_id AND k.secret = s.secret AND k.state = 'verified')
             FROM rotation_secrets s WHERE s.run_id = ?1 ORDER BY s.rowid",
        )?;
        let rows = q
            .query_map([&rid], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(9)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(secret, st, step, new_id, new_fp, prev, reason, updated_at, w, v)| {
                let spec = plan.secret(&secret);
                let info: serde_json::Value = prev
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok())
                    .unwrap_or_default();
                SecretStatus {
                    run_id: run_id.to_string(),
                    source: spec.map(|s| source_kind(&s.source)).unwrap_or("?").to_string(),
                    sinks: spec.map_or(0, |s| s.sinks.len()),
                    secret,
                    state: st,
                    step,
                    sinks_written: w as usize,
                    sinks_verified: v as usize,
                    new_fingerprint: new_fp,
                    new_id,
                    previous_ids: prev_ids(&info),
                    reason,
                    updated_at,
                }
            },
        )
        .collect())
}

/// Summary of a run.
pub fn summarize(run_id: &str, rows: &[SecretStatus]) -> Summary {
    let mut s = Summary {
        run_id: run_id.to_string(),
        ..Default::default()
    };
    for r in rows {
        match r.state.as_str() {
            state::DONE => s.done += 1,
            state::STOPPED => s.stopped += 1,
            state::ROLLED_BACK => s.rolled_back += 1,
            state::MANUAL => s.manual += 1,
            _ => s.unfinished += 1,
        }
    }
    s
}

fn source_kind(s: &SourceSpec) -> &'static str {
    match s {
        SourceSpec::Random { .. } => "random",
        SourceSpec::Command(_) => "command",
        SourceSpec::Http { .. } => "http",
        SourceSpec::DeployKey { .. } => "deploy_key",
        SourceSpec::AwsIam { .. } => "aws_iam",
        SourceSpec::Manual { .. } => "manual",
    }
}

fn prev_ids(info: &serde_json::Value) -> Vec<String> {
    info["previous_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The engine of one run.
pub struct Engine {
    journal: Journal,
    key: SealKey,
    run_id: String,
    plan: Arc<Plan>,
    /// Index of each secret in `plan.secrets` by name.
    spec_index: HashMap<String, usize>,
    clients: Arc<SinkClients>,
    sources: HashMap<String, Source>,
    opts: RunOptions,
}

struct Failure {
    step: String,
    message: String,
}

impl Engine {
    /// An engine for `run_id` (its plan is read from the journal).
    pub fn new(journal: Journal, key: SealKey, run_id: &str, opts: RunOptions) -> Result<Self, EngineError> {
        let plan = run_plan(&journal, run_id)?;
        let clients = SinkClients::from_plan(&plan, opts.concurrency.max(1) * 2)
            .map_err(|e| EngineError::Other(format!("{e:#}")))?;
        let sc = SourceClients {
            github: clients.github.clone(),
            circleci: clients.circleci.clone(),
            http: None,
        };
        let mut sources = HashMap::new();
        for s in &plan.secrets {
            if matches!(s.source, SourceSpec::Manual { .. }) {
                continue;
            }
            let src =
                Source::new(&s.name, &s.source, sc.clone()).map_err(|e| EngineError::Other(e.to_string()))?;
            sources.insert(s.name.clone(), src);
        }
        let spec_index = plan
            .secrets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Ok(Engine {
            journal,
            key,
            run_id: run_id.to_string(),
            spec_index,
            plan: Arc::new(plan),
            clients: Arc::new(clients),
            sources,
            opts,
        })
    }

    /// Requests sent per provider (circleci, github, gitlab).
    pub fn request_counts(&self) -> [u64; 3] {
        self.clients.request_counts()
    }

    fn aad(&self, secret: &str, what: &str) -> String {
        format!("{}\0{}\0{}", self.run_id, secret, what)
    }

    async fn load(&self, secret: &str) -> Result<Row, EngineError> {
        let rid = self.run_id.clone();
        let s = secret.to_string();
        let r = self
            .journal
            .exec(move |c| {
                let row = c.query_row(
                    "SELECT state, step, attempt, idem_key, new_id, new_fp, new_enc, pending_enc, prev_ids FROM rotation_secrets WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                            r.get::<_, Option<Vec<u8>>>(6)?,
                            r.get::<_, Option<Vec<u8>>>(7)?,
                            r.get::<_, Option<String>>(8)?,
                        ))
                    },
                )?;
                let mut q = c.prepare("SELECT state, written_at FROM rotation_sinks WHERE run_id = ?1 AND secret = ?2 ORDER BY idx")?;
                let sinks = q
                    .query_map(params![rid, s], |r| {
                        Ok(SinkRow {
                            state: r.get(0)?,
                            written_at: r.get(1)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((row, sinks))
            })
            .await?;
        let ((st, step, attempt, idem, new_id, new_fp, new_enc, pending_enc, info), sinks) = r;
        Ok(Row {
            state: st,
            step,
            attempt,
            idem,
            new_id,
            new_fp,
            new_enc,
            pending_enc,
            info: info
                .and_then(|i| serde_json::from_str(&i).ok())
                .unwrap_or(serde_json::json!({})),
            sinks,
        })
    }

    /// Records a journal entry and applies `update` to the state, in one transaction.
    /// Journals that sink `i` of `secret` failed at `step` and marks the sink failed.
    async fn record_sink_failure(
        &self,
        secret: &str,
        step: &str,
        i: usize,
        idem: Option<&str>,
        msg: &str,
    ) -> Result<(), EngineError> {
        let m2 = firebreak_core::scrub::scrub(msg);
        self.record(secret, step, Some(i), "result", idem, Some("error"), Some(msg.to_string()), move |c, rid, s| {
            c.execute(
                "UPDATE rotation_sinks SET state = 'failed', error = ?4 WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                params![rid, s, i as i64, m2],
            )
            .map(|_| ())
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        secret: &str,
        step: &str,
        sink: Option<usize>,
        phase: &str,
        idem: Option<&str>,
        status: Option<&str>,
        detail: Option<String>,
        update: impl FnOnce(&Connection, &str, &str) -> rusqlite::Result<()> + Send + 'static,
    ) -> Result<(), EngineError> {
        let (rid, s, step, phase) = (
            self.run_id.clone(),
            secret.to_string(),
            step.to_string(),
            phase.to_string(),
        );
        let idem = idem.map(str::to_string);
        let status = status.map(str::to_string);
        // source and provider texts may quote what they were sent: scrub before storing
        let detail = detail.map(|d| firebreak_core::scrub::scrub(&d));
        self.journal
            .exec(move |c| {
                c.execute(
                    "INSERT INTO rotation_journal (run_id, secret, step, sink, phase, idem_key, status, detail, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![rid, s, step, sink.map(|x| x as i64), phase, idem, status, detail, now()],
                )?;
                update(c, &rid, &s)
            })
            .await?;
        Ok(())
    }

    async fn set_state(
        &self,
        secret: &str,
        step: &str,
        phase: &str,
        st: &'static str,
        detail: Option<String>,
    ) -> Result<(), EngineError> {
        self.record(secret, step, None, phase, None, Some("ok"), detail, move |c, rid, s| {
            c.execute(
                "UPDATE rotation_secrets SET state = ?3, step = ?3, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                params![rid, s, st, now()],
            )
            .map(|_| ())
        })
        .await
    }

    /// Drives every unfinished secret of the run to a terminal state.
    ///
    /// Takes the run's lock first (refused with [`JournalError::Locked`] while another
    /// process drives it) and releases it at the end. When the journal cannot be made
    /// durable, no worker takes another step: the run stops with the journal's error and
    /// `resume` continues from the last durable state.
    pub async fn run(self: &Arc<Self>) -> Result<Summary, EngineError> {
        let j = self.journal.clone();
        let rid = self.run_id.clone();
        tokio::task::spawn_blocking(move || j.acquire(&rid))
            .await
            .map_err(|e| EngineError::Other(e.to_string()))??;
        let r = self.run_locked().await;
        let j = self.journal.clone();
        let rid = self.run_id.clone();
        let _ = tokio::task::spawn_blocking(move || j.release(&rid)).await;
        r
    }

    async fn run_locked(self: &Arc<Self>) -> Result<Summary, EngineError> {
        let rid = self.run_id.clone();
        let retry = self.opts.retry_stopped;
        let names: Vec<(String, String)> = self
            .journal
            .exec(move |c| {
                let mut q =
                    c.prepare("SELECT secret, state FROM rotation_secrets WHERE run_id = ?1 ORDER BY rowid")?;
                let v = q
                    .query_map([rid], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(v)
            })
            .await?;
        let queue: VecDeque<String> = names
            .into_iter()
            .filter(|(_, st)| !state::is_terminal(st) || (retry && st == state::STOPPED))
            .map(|(n, _)| n)
            .collect();
        let queue = Arc::new(Mutex::new(queue));
        let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        // the first journal failure: no worker starts another secret after it
        let halted: Arc<Mutex<Option<JournalError>>> = Arc::new(Mutex::new(None));
        let mut tasks = Vec::new();
        for _ in 0..self.opts.concurrency.max(1) {
            let me = self.clone();
            let q = queue.clone();
            let errs = errors.clone();
            let halt = halted.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    if halt.lock().expect("halt").is_some() {
                        break;
                    }
                    let next = q.lock().expect("queue").pop_front();
                    let Some(name) = next else { break };
                    match me.process(&name).await {
                        Ok(st) => {
                            if let Some(cb) = &me.opts.on_progress {
                                cb(name.as_str(), st.as_str());
                            }
                        }
                        Err(EngineError::Journal(e)) if e.is_fatal() => {
                            let mut h = halt.lock().expect("halt");
                            if h.is_none() {
                                *h = Some(e);
                            }
                            break;
                        }
                        Err(e) => {
                            tracing::error!(secret = %name, error = %e, "rotation stopped by an engine error");
                            errs.lock().expect("errors").push(format!("{name}: {e}"));
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        if let Some(e) = halted.lock().expect("halt").take() {
            return Err(EngineError::Journal(e));
        }
        if let Some(cause) = self.journal.poisoned() {
            return Err(EngineError::Journal(JournalError::Poisoned {
                path: self.journal.path().to_string(),
                cause,
            }));
        }
        let rows = status(&self.journal, &self.run_id)?;
        let sum = summarize(&self.run_id, &rows);
        let rid = self.run_id.clone();
        let st = if sum.unfinished == 0 {
            "finished"
        } else {
            "running"
        };
        self.journal
            .exec(move |c| {
                c.execute(
                    "UPDATE rotation_runs SET status = ?2, updated_at = ?3 WHERE run_id = ?1",
                    params![rid, st, now()],
                )
                .map(|_| ())
            })
            .await?;
        Ok(sum)
    }

    fn spec(&self, name: &str) -> Result<&SecretSpec, EngineError> {
        self.spec_index
            .get(name)
            .map(|&i| &self.plan.secrets[i])
            .ok_or_else(|| EngineError::Other(format!("secret {name} is not in the run's plan")))
    }

    fn prepared(&self, name: &str, row: &Row) -> Result<Prepared, EngineError> {
        let material = match &row.pending_enc {
            Some(b) => Some(
                self.key
                    .open(b, &self.aad(name, "pending"))
                    .map_err(|e| EngineError::Other(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Prepared {
            material,
            info: row.info["prepared"].clone(),
        })
    }

    fn new_credential(&self, name: &str, row: &Row) -> Result<Credential, EngineError> {
        let b = row.new_enc.as_ref().ok_or_else(|| {
            EngineError::Other(format!(
                "{name}: new credential material missing from the journal"
            ))
        })?;
        let value = self
            .key
            .open(b, &self.aad(name, "new"))
            .map_err(|e| EngineError::Other(e.to_string()))?;
        Ok(Credential {
            id: row.new_id.clone(),
            value,
        })
    }

    /// Rotates one secret from its recorded state to a terminal state; returns it.
    pub async fn process(&self, name: &str) -> Result<String, EngineError> {
        let spec = self.spec(name)?.clone();
        let mut row = self.load(name).await?;
        if row.state == state::STOPPED && self.opts.retry_stopped {
            let resume_at = row.step.clone();
            let rs = resume_at.clone();
            self.record(name, "retry", None, "intent", None, Some("ok"), Some(format!("resume at {resume_at}")), move |c, rid, s| {
                c.execute(
                    "UPDATE rotation_secrets SET state = ?3, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, rs, now()],
                )
                .map(|_| ())
            })
            .await?;
            row.state = resume_at;
        }
        let source = match self.sources.get(name) {
            Some(s) => s.clone(),
            None => return Ok(row.state),
        };
        let mut fresh_intent = false;
        loop {
            match row.state.as_str() {
                state::PENDING => {
                    let idem = format!(
                        "fbr-{}",
                        stable_id(&[&self.run_id, name, &row.attempt.to_string()])
                    );
                    let prep = match source.prepare(&idem).await {
                        Ok(p) => p,
                        Err(e) => {
                            return self
                                .stop(
                                    name,
                                    state::PENDING,
                                    &format!("prepare failed: {e}; nothing was issued"),
                                )
                                .await
                        }
                    };
                    let enc = prep
                        .material
                        .as_ref()
                        .map(|m| self.key.seal(m, &self.aad(name, "pending")));
                    let info = serde_json::json!({"prepared": prep.info});
                    let info_s = info.to_string();
                    let i2 = idem.clone();
                    self.record(name, "issue", None, "intent", Some(&idem), None, None, move |c, rid, s| {
                        c.execute(
                            "UPDATE rotation_secrets SET state = 'issuing', step = 'issuing', idem_key = ?3, pending_enc = ?4, prev_ids = ?5, updated_at = ?6 WHERE run_id = ?1 AND secret = ?2",
                            params![rid, s, i2, enc, info_s, now()],
                        )
                        .map(|_| ())
                    })
                    .await?;
                    row.state = state::ISSUING.into();
                    row.idem = Some(idem);
                    row.info = info;
                    row.pending_enc = None; // re-read from material below
                    fresh_intent = true;
                    // keep the material in memory for this pass
                    let issued = self
                        .issue(
                            name,
                            &source,
                            row.idem.as_deref().unwrap_or(""),
                            &prep,
                            fresh_intent,
                        )
                        .await?;
                    row = self.after_issue(name, row, issued).await?;
                }
                state::ISSUING => {
                    let prep = self.prepared(name, &row)?;
                    let idem = row.idem.clone().unwrap_or_default();
                    let issued = self.issue(name, &source, &idem, &prep, fresh_intent).await?;
                    row = self.after_issue(name, row, issued).await?;
                }
                state::ISSUED => {
                    if self.opts.unsafe_revoke_before_verify {
                        let prev = prev_ids(&row.info);
                        let _ = source.revoke(&prev).await;
                    }
                    let cred = self.new_credential(name, &row)?;
                    for (i, sink) in spec.sinks.iter().enumerate() {
                        if matches!(row.sinks[i].state.as_str(), "written" | "verified") {
                            continue;
                        }
                        let v = match sink.field() {
                            Field::Value => cred.value.clone(),
                            Field::Id => SecretString::new(cred.id.clone().unwrap_or_default()),
                        };
                        let fp = v.fingerprint();
                        let at = now();
                        let (fp2, at2) = (fp.clone(), at.clone());
                        self.record(name, "write_sink", Some(i), "intent", row.idem.as_deref(), None, Some(format!("fp={}", &fp[..16])), move |c, rid, s| {
                            c.execute(
                                "UPDATE rotation_sinks SET state = 'writing', fp = ?4, written_at = ?5, error = NULL WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                                params![rid, s, i as i64, fp2, at2],
                            )
                            .map(|_| ())
                        })
                        .await?;
                        row.sinks[i].written_at = Some(at);
                        let res = self.clients.write(sink, &v).await;
                        crash_point();
                        match res {
                            Ok(()) => {
                                self.record(name, "write_sink", Some(i), "result", row.idem.as_deref(), Some("ok"), None, move |c, rid, s| {
                                    c.execute(
                                        "UPDATE rotation_sinks SET state = 'written' WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                                        params![rid, s, i as i64],
                                    )
                                    .map(|_| ())
                                })
                                .await?;
                                row.sinks[i].state = "written".into();
                            }
                            Err(e) => {
                                let msg = e.to_string();
                                self.record_sink_failure(name, "write_sink", i, row.idem.as_deref(), &msg)
                                    .await?;
                                row.sinks[i].state = "failed".into();
                                return self
                                    .fail_before_revoke(
                                        name,
                                        &source,
                                        &spec,
                                        &row,
                                        Failure {
                                            step: state::ISSUED.into(),
                                            message: msg,
                                        },
                                    )
                                    .await;
                            }
                        }
                    }
                    self.set_state(name, "write_sinks", "result", state::WRITTEN, None)
                        .await?;
                    row.state = state::WRITTEN.into();
                }
                state::WRITTEN => {
                    let cred = self.new_credential(name, &row)?;
                    let fps: Vec<String> = spec
                        .sinks
                        .iter()
                        .map(|k| match k.field() {
                            Field::Value => cred.value.fingerprint(),
                            Field::Id => SecretString::new(cred.id.clone().unwrap_or_default()).fingerprint(),
                        })
                        .collect();
                    drop(cred);
                    for (i, sink) in spec.sinks.iter().enumerate() {
                        if row.sinks[i].state == "verified" {
                            continue;
                        }
                        let fp = fps[i].clone();
                        let at = row.sinks[i]
                            .written_at
                            .as_deref()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.with_timezone(&chrono::Utc))
                            .unwrap_or_else(chrono::Utc::now);
                        let mut outcome = Verified::Mismatch("not checked".into());
                        let mut err = None;
                        for attempt in 0..4u32 {
                            if attempt > 0 {
                                tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
                            }
                            match self.clients.verify(sink, &fp, at).await {
                                Ok(Verified::Ok) => {
                                    outcome = Verified::Ok;
                                    err = None;
                                    break;
                                }
                                Ok(m) => outcome = m,
                                Err(e) => err = Some(e.to_string()),
                            }
                        }
                        let failure = match (&outcome, err) {
                            (_, Some(e)) => Some(e),
                            (Verified::Mismatch(m), None) => Some(format!("sink {}: {m}", sink.label())),
                            (Verified::Ok, None) => None,
                        };
                        if let Some(msg) = failure {
                            self.record_sink_failure(name, "verify", i, row.idem.as_deref(), &msg)
                                .await?;
                            // the sink may hold the new value: restore / report it
                            row.sinks[i].state = "writing".into();
                            return self
                                .fail_before_revoke(
                                    name,
                                    &source,
                                    &spec,
                                    &row,
                                    Failure {
                                        step: state::ISSUED.into(),
                                        message: msg,
                                    },
                                )
                                .await;
                        }
                        self.record(name, "verify", Some(i), "result", row.idem.as_deref(), Some("ok"), None, move |c, rid, s| {
                            c.execute(
                                "UPDATE rotation_sinks SET state = 'verified', verified_at = ?4 WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                                params![rid, s, i as i64, now()],
                            )
                            .map(|_| ())
                        })
                        .await?;
                        row.sinks[i].state = "verified".into();
                    }
                    if let Some(hook) = &spec.verify {
                        let cred = self.new_credential(name, &row)?;
                        if let Err(m) = run_hook(hook, name, &cred.value).await {
                            return self
                                .fail_before_revoke(
                                    name,
                                    &source,
                                    &spec,
                                    &row,
                                    Failure {
                                        step: state::WRITTEN.into(),
                                        message: format!("verification hook: {m}"),
                                    },
                                )
                                .await;
                        }
                    }
                    self.set_state(name, "verify", "result", state::VERIFIED, None)
                        .await?;
                    row.state = state::VERIFIED.into();
                }
                state::VERIFIED | state::REVOKING => {
                    let prev = prev_ids(&row.info);
                    if row.state == state::VERIFIED {
                        self.set_state(
                            name,
                            "revoke_old",
                            "intent",
                            state::REVOKING,
                            Some(format!("ids={}", prev.join(","))),
                        )
                        .await?;
                        row.state = state::REVOKING.into();
                    }
                    let res = source.revoke(&prev).await;
                    crash_point();
                    if let Err(e) = res {
                        let msg = format!("revoking the old credential failed: {e}; every sink holds the new credential, the old one may still be valid");
                        return self.stop(name, state::REVOKING, &msg).await;
                    }
                    let idents: Vec<_> = spec.sinks.iter().map(|k| k.identity()).collect();
                    self.record(name, "revoke_old", None, "result", row.idem.as_deref(), Some("ok"), None, move |c, rid, s| {
                        // done: erase the credential material
                        let t = now();
                        c.execute(
                            "UPDATE rotation_secrets SET state = 'done', step = 'done', new_enc = NULL, pending_enc = NULL, reason = NULL, updated_at = ?3 WHERE run_id = ?1 AND secret = ?2",
                            params![rid, s, t],
                        )?;
                        // proof of rotation for `firebreak inventory verify`
                        for (p, k, scope, n) in &idents {
                            let ident = firebreak_providers::model::identity(*p, *k, scope, n);
                            c.execute(
                                "INSERT INTO rotation_records (identity, provider, kind, scope, name, rotated_at, source, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                params![ident, p.as_str(), k.as_str(), scope, n, firebreak_store::fmt_time(chrono::Utc::now()), format!("firebreak rotate run {rid}"), format!("secret {s}")],
                            )?;
                        }
                        Ok(())
                    })
                    .await?;
                    return Ok(state::DONE.into());
                }
                state::ROLLING_BACK => {
                    return self.rollback_inner(name, &source, &spec, &row).await;
                }
                other => return Ok(other.to_string()),
            }
        }
    }

    async fn issue(
        &self,
        name: &str,
        source: &Source,
        idem: &str,
        prep: &Prepared,
        fresh: bool,
    ) -> Result<Result<Issued, String>, EngineError> {
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            if !fresh || attempt > 0 {
                // The intent was recorded before: it may have been issued already.
                match source.lookup(idem, prep).await {
                    Ok(Lookup::Found(i)) => {
                        crash_point();
                        return Ok(Ok(i));
                    }
                    Ok(Lookup::NotFound) => {}
                    Ok(Lookup::Orphan(id)) => {
                        // the deletion is journaled before it is done; a journal that
                        // cannot be written stops here
                        self.record(
                            name,
                            "issue",
                            None,
                            "orphan",
                            Some(idem),
                            None,
                            Some(format!(
                                "deleting orphan {id} (issued, secret lost before it was recorded)"
                            )),
                            |_, _, _| Ok(()),
                        )
                        .await?;
                        if let Err(e) = source.delete_orphan(&id).await {
                            last = e.to_string();
                            continue;
                        }
                    }
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                }
            }
            match source.issue(idem, prep).await {
                Ok(i) => {
                    crash_point();
                    return Ok(Ok(i));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Ok(Err(last))
    }

    async fn after_issue(
        &self,
        name: &str,
        mut row: Row,
        issued: Result<Issued, String>,
    ) -> Result<Row, EngineError> {
        match issued {
            Ok(i) => {
                let enc = self.key.seal(&i.cred.value, &self.aad(name, "new"));
                let fp = i.cred.value.fingerprint();
                let mut info = row.info.clone();
                info["previous_ids"] = serde_json::json!(i.previous_ids);
                let info_s = info.to_string();
                let (id, fp2) = (i.cred.id.clone(), fp.clone());
                let enc2 = enc.clone();
                self.record(name, "issue", None, "result", row.idem.as_deref(), Some("ok"), Some(format!("id={} fp={}", id.as_deref().unwrap_or("-"), &fp[..16])), move |c, rid, s| {
                    c.execute(
                        "UPDATE rotation_secrets SET state = 'issued', step = 'issued', new_id = ?3, new_fp = ?4, new_enc = ?5, pending_enc = NULL, prev_ids = ?6, updated_at = ?7 WHERE run_id = ?1 AND secret = ?2",
                        params![rid, s, id, fp2, enc2, info_s, now()],
                    )
                    .map(|_| ())
                })
                .await?;
                row.state = state::ISSUED.into();
                row.new_id = i.cred.id;
                row.new_fp = Some(fp);
                row.new_enc = Some(enc);
                row.info = info;
                Ok(row)
            }
            Err(m) => {
                self.stop(
                    name,
                    state::ISSUING,
                    &format!("issue failed: {m}; the old credential is untouched"),
                )
                .await?;
                row.state = state::STOPPED.into();
                Ok(row)
            }
        }
    }

    async fn stop(&self, name: &str, step: &str, reason: &str) -> Result<String, EngineError> {
        let reason = &firebreak_core::scrub::scrub(reason);
        let (st, r) = (step.to_string(), reason.to_string());
        self.record(name, "stop", None, "result", None, Some("stopped"), Some(reason.to_string()), move |c, rid, s| {
            c.execute(
                "UPDATE rotation_secrets SET state = 'stopped', step = ?3, reason = ?4, updated_at = ?5 WHERE run_id = ?1 AND secret = ?2",
                params![rid, s, st, r, now()],
            )
            .map(|_| ())
        })
        .await?;
        Ok(state::STOPPED.into())
    }

    /// A failure after issue, before revoke: roll back when the old value can be had,
    /// else stop with the old credential valid.
    async fn fail_before_revoke(
        &self,
        name: &str,
        source: &Source,
        spec: &SecretSpec,
        row: &Row,
        f: Failure,
    ) -> Result<String, EngineError> {
        let prev = prev_ids(&row.info);
        if source.can_fetch() && prev.len() == 1 {
            let reason = format!("{}; rolling back to the old credential", f.message);
            let r2 = reason.clone();
            self.record(name, "rollback", None, "intent", row.idem.as_deref(), None, Some(reason), move |c, rid, s| {
                c.execute(
                    "UPDATE rotation_secrets SET state = 'rolling_back', reason = ?3, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, r2, now()],
                )
                .map(|_| ())
            })
            .await?;
            return self.rollback_inner(name, source, spec, row).await;
        }
        let written: Vec<String> = spec
            .sinks
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(row.sinks[*i].state.as_str(), "written" | "verified" | "writing"))
            .map(|(_, s)| s.label())
            .collect();
        let msg = format!(
            "{}; the old credential is still valid (not revoked); the new one is valid too{}",
            f.message,
            if written.is_empty() {
                String::new()
            } else {
                format!(" and may be in: {}", written.join(", "))
            }
        );
        self.stop(name, &f.step, &msg).await
    }

    async fn rollback_inner(
        &self,
        name: &str,
        source: &Source,
        spec: &SecretSpec,
        row: &Row,
    ) -> Result<String, EngineError> {
        // if the rollback cannot finish, the secret stops; a retry continues forward from here
        let resume = state::ISSUED;
        let prev = prev_ids(&row.info);
        let old = match prev.first() {
            Some(id) => source.fetch(id).await,
            None => Ok(None),
        };
        let old = match old {
            Ok(Some(v)) => v,
            Ok(None) => return self.stop(name, resume, "rollback impossible: the source cannot give back the old credential; the old credential is still valid").await,
            Err(e) => return self.stop(name, resume, &format!("rollback failed: {e}; the old credential is still valid")).await,
        };
        for (i, sink) in spec.sinks.iter().enumerate() {
            // only sinks that hold (or may hold) the new value
            if !matches!(row.sinks[i].state.as_str(), "writing" | "written" | "verified") {
                continue;
            }
            let v = match sink.field() {
                Field::Value => old.clone(),
                Field::Id => SecretString::new(prev[0].clone()),
            };
            let at = chrono::Utc::now();
            self.record(
                name,
                "rollback_sink",
                Some(i),
                "intent",
                None,
                None,
                None,
                |_, _, _| Ok(()),
            )
            .await?;
            let res = self.clients.write(sink, &v).await;
            crash_point();
            let res = match res {
                Ok(()) => self
                    .clients
                    .verify(sink, &v.fingerprint(), at)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|o| match o {
                        Verified::Ok => Ok(()),
                        Verified::Mismatch(m) => Err(m),
                    }),
                Err(e) => Err(e.to_string()),
            };
            if let Err(m) = res {
                return self
                    .stop(name, resume, &format!("rollback of sink {} failed: {m}; the old credential is still valid, the new one too", sink.label()))
                    .await;
            }
            self.record(name, "rollback_sink", Some(i), "result", None, Some("ok"), None, move |c, rid, s| {
                c.execute(
                    "UPDATE rotation_sinks SET state = 'rolled_back' WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                    params![rid, s, i as i64],
                )
                .map(|_| ())
            })
            .await?;
        }
        if let Some(id) = &row.new_id {
            self.record(
                name,
                "revoke_new",
                None,
                "intent",
                None,
                None,
                Some(format!("id={id}")),
                |_, _, _| Ok(()),
            )
            .await?;
            if let Err(e) = source.revoke(std::slice::from_ref(id)).await {
                return self
                    .stop(
                        name,
                        state::ROLLING_BACK,
                        &format!("sinks restored but revoking the new credential failed: {e}"),
                    )
                    .await;
            }
            crash_point();
        }
        self.record(name, "rollback", None, "result", None, Some("ok"), None, move |c, rid, s| {
            c.execute(
                "UPDATE rotation_secrets SET state = 'rolled_back', step = 'rolled_back', new_enc = NULL, pending_enc = NULL, updated_at = ?3 WHERE run_id = ?1 AND secret = ?2",
                params![rid, s, now()],
            )
            .map(|_| ())
        })
        .await?;
        Ok(state::ROLLED_BACK.into())
    }

    /// `rotate rollback SECRET`: restores the old value in the sinks and revokes the new
    /// credential, for a secret whose old credential has not been revoked yet.
    pub async fn rollback(&self, name: &str) -> Result<String, EngineError> {
        let j = self.journal.clone();
        let rid = self.run_id.clone();
        tokio::task::spawn_blocking(move || j.acquire(&rid))
            .await
            .map_err(|e| EngineError::Other(e.to_string()))??;
        let r = self.rollback_locked(name).await;
        let j = self.journal.clone();
        let rid = self.run_id.clone();
        let _ = tokio::task::spawn_blocking(move || j.release(&rid)).await;
        r
    }

    async fn rollback_locked(&self, name: &str) -> Result<String, EngineError> {
        let spec = self.spec(name)?.clone();
        let row = self.load(name).await?;
        match row.state.as_str() {
            state::DONE | state::REVOKING => {
                return Err(EngineError::Other(format!(
                    "{name}: the old credential is already revoked (state {}); rotate again instead of rolling back",
                    row.state
                )))
            }
            state::MANUAL | state::ROLLED_BACK => {
                return Err(EngineError::Other(format!("{name}: nothing to roll back (state {})", row.state)))
            }
            state::PENDING => {
                self.set_state(name, "rollback", "result", state::ROLLED_BACK, Some("nothing issued".into())).await?;
                return Ok(state::ROLLED_BACK.into());
            }
            _ => {}
        }
        let source = self
            .sources
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::Other(format!("{name}: no source")))?;
        if !source.can_fetch() {
            return Err(EngineError::Other(format!(
                "{name}: cannot roll back: source {} cannot give back the old credential, and firebreak does not keep it; the secret stays {} with its old credential valid (use `rotate resume --retry-stopped` to complete it forward)",
                source.kind(),
                row.state
            )));
        }
        self.record(name, "rollback", None, "intent", row.idem.as_deref(), None, Some("requested".into()), move |c, rid, s| {
            c.execute(
                "UPDATE rotation_secrets SET state = 'rolling_back', updated_at = ?3 WHERE run_id = ?1 AND secret = ?2",
                params![rid, s, now()],
            )
            .map(|_| ())
        })
        .await?;
        self.rollback_inner(name, &source, &spec, &row).await
    }
}

/// Runs a verification hook: the credential on stdin, `FIREBREAK_SECRET_NAME` set,
/// environment cleared except `PATH` and the allowlist. Exit 0 = verified.
async fn run_hook(c: &crate::plan::CommandSpec, secret: &str, value: &SecretString) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut child = crate::sources::spawn_isolated(c, secret, false)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(value.expose().as_bytes()).await;
    }
    let st = tokio::time::timeout(std::time::Duration::from_secs(300), child.wait())
        .await
        .map_err(|_| format!("{} timed out", c.program))?
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{} exited with {st}", c.program))
    }
}
