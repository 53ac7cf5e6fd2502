//! The rotation state machine. Per secret (states and allowed moves: [`crate::state`]):
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
//! (result), in one SQLite transaction with the secret's state ([`Journal::record`], which
//! refuses a move [`State::can_go_to`] does not allow). On resume, a step whose intent is
//! recorded but whose result is not is reconciled: an issue is looked up by its key at the
//! source before issuing again; sink writes are repeated (idempotent by value);
//! verification is repeated; revocation is repeated (idempotent). The old credential is
//! revoked only after every sink has been verified to hold the new one.
//!
//! One function per step: [`Engine::process`] dispatches on the recorded state to
//! `start_issue` / `resume_issue`, `write_sinks`, `verify_sinks`, `revoke_old` and
//! `roll_back`; failures go through `fail_before_revoke` and `stop`.

use crate::crypto::SealKey;
use crate::journal::{
    crash_point, now, Change, Entry, Journal, JournalError, NewRun, NewSecret, Outcome, Phase,
    RotationRecord, RunningRun, SecretChange, SecretRow, SinkChange, Step,
};
use crate::plan::{Field, Plan, SecretSpec, SinkSpec, SourceSpec};
use crate::sinks::{SinkClients, Verified};
use crate::sources::{Credential, Issued, Lookup, Prepared, Source, SourceClients};
use firebreak_core::finding::stable_id;
use firebreak_core::SecretString;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub use crate::state::{SinkState, State};

/// Progress callback: (secret, state it reached).
pub type ProgressFn = Arc<dyn Fn(&str, State) + Send + Sync>;

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
    pub state: State,
    /// The step a stopped secret stopped at (the state to resume from).
    pub step: State,
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
    let secrets = plan
        .secrets
        .iter()
        .map(|s| {
            let (state, reason) = match &s.source {
                SourceSpec::Manual { instructions } => (State::Manual, Some(instructions.clone())),
                _ => (State::Pending, None),
            };
            NewSecret {
                name: s.name.clone(),
                state,
                reason,
                sinks: s.sinks.iter().map(|k| k.label()).collect(),
            }
        })
        .collect();
    let run = NewRun {
        run_id: run_id.clone(),
        plan_path: plan_path.to_string(),
        plan: plan.to_toml(),
        secrets,
    };
    let plan = plan.clone();
    match journal.create_run(run, move |running| overlap(&plan, running))? {
        Some(why) => Err(EngineError::Refused(why)),
        None => Ok(run_id),
    }
}

/// Why `plan` could not start now (it overlaps an unfinished run), without changing
/// anything: what `rotate run --dry-run` checks.
pub fn overlapping(journal: &Journal, plan: &Plan) -> Result<Option<String>, EngineError> {
    Ok(overlap(plan, &journal.running_runs()?))
}

/// What a plan shares with the unfinished runs of the store, as a refusal message.
fn overlap(plan: &Plan, running: &[RunningRun]) -> Option<String> {
    if running.is_empty() {
        return None;
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
    for run in running {
        let mut shared: Vec<String> = run
            .sinks
            .iter()
            .filter(|l| mine_sinks.contains(*l))
            .map(|l| format!("sink {l}"))
            .collect();
        if let Ok(other) = Plan::parse(&run.plan, "(recorded plan)") {
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
        let rid = &run.run_id;
        let who = match &run.holder {
            Some(h) => format!("it is being driven by {h}; wait for it to finish"),
            None => format!("no process drives it now: finish it with `firebreak rotate resume --run {rid}`"),
        };
        return Some(format!(
            "the plan overlaps unfinished run {rid} on {list}{more}; {who}, then start the new plan"
        ));
    }
    None
}

/// The most recent run id, if any.
pub fn latest_run(journal: &Journal) -> Result<Option<String>, EngineError> {
    Ok(journal.latest_run()?)
}

/// The plan recorded with a run.
pub fn run_plan(journal: &Journal, run_id: &str) -> Result<Plan, EngineError> {
    let text = journal
        .run_plan(run_id)?
        .ok_or_else(|| EngineError::Other(format!("no run {run_id} in store {}", journal.path())))?;
    Plan::parse(&text, &format!("(plan of run {run_id})")).map_err(|e| EngineError::Other(e.to_string()))
}

/// Per-secret status of a run.
pub fn status(journal: &Journal, run_id: &str) -> Result<Vec<SecretStatus>, EngineError> {
    let plan = run_plan(journal, run_id)?;
    Ok(journal
        .status_rows(run_id)?
        .into_iter()
        .map(|r| {
            let spec = plan.secret(&r.secret);
            SecretStatus {
                run_id: run_id.to_string(),
                source: spec.map(|s| source_kind(&s.source)).unwrap_or("?").to_string(),
                sinks: spec.map_or(0, |s| s.sinks.len()),
                previous_ids: prev_ids(&r.info),
                secret: r.secret,
                state: r.state,
                step: r.step,
                sinks_written: r.sinks_written,
                sinks_verified: r.sinks_verified,
                new_fingerprint: r.new_fp,
                new_id: r.new_id,
                reason: r.reason,
                updated_at: r.updated_at,
            }
        })
        .collect())
}

/// Summary of a run.
pub fn summarize(run_id: &str, rows: &[SecretStatus]) -> Summary {
    let mut s = Summary {
        run_id: run_id.to_string(),
        ..Default::default()
    };
    for r in rows {
        match r.state {
            State::Done => s.done += 1,
            State::Stopped => s.stopped += 1,
            State::RolledBack => s.rolled_back += 1,
            State::Manual => s.manual += 1,
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
        SourceSpec::CircleciRunner { .. } => "circleci_runner",
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

/// The secret a step works on.
struct Ctx<'a> {
    name: &'a str,
    spec: &'a SecretSpec,
    source: &'a Source,
}

/// The value a sink holds: the credential, or its id.
fn sink_value(sink: &SinkSpec, cred: &Credential) -> SecretString {
    match sink.field() {
        Field::Value => cred.value.clone(),
        Field::Id => SecretString::new(cred.id.clone().unwrap_or_default()),
    }
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

    async fn load(&self, secret: &str) -> Result<SecretRow, EngineError> {
        Ok(self.journal.load_secret(&self.run_id, secret).await?)
    }

    /// Records a step of `secret` (entry and change in one durable transaction).
    async fn record(&self, secret: &str, entry: Entry, change: Change) -> Result<(), EngineError> {
        Ok(self.journal.record(&self.run_id, secret, entry, change).await?)
    }

    /// Journals that sink `i` of `secret` failed at `step` and marks the sink failed.
    async fn record_sink_failure(
        &self,
        secret: &str,
        step: Step,
        i: usize,
        idem: Option<&str>,
        msg: &str,
    ) -> Result<(), EngineError> {
        let entry = Entry::new(step, Phase::Result)
            .sink(i)
            .idem(idem)
            .status(Outcome::Error)
            .detail(msg);
        let change = Change::Sink(
            i,
            SinkChange::Failed {
                error: msg.to_string(),
            },
        );
        self.record(secret, entry, change).await
    }

    /// Records that `secret` reached `st` (state and step).
    async fn reach(
        &self,
        secret: &str,
        step: Step,
        phase: Phase,
        st: State,
        detail: Option<String>,
    ) -> Result<(), EngineError> {
        let mut entry = Entry::new(step, phase).status(Outcome::Ok);
        if let Some(d) = detail {
            entry = entry.detail(d);
        }
        self.record(secret, entry, Change::Secret(SecretChange::Reached(st)))
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
        let retry = self.opts.retry_stopped;
        let queue: VecDeque<String> = self
            .journal
            .secret_states(&self.run_id)
            .await?
            .into_iter()
            .filter(|(_, st)| !st.is_terminal() || (retry && *st == State::Stopped))
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
                                cb(name.as_str(), st);
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
        self.journal
            .set_run_finished(&self.run_id, sum.unfinished == 0)
            .await?;
        Ok(sum)
    }

    fn spec(&self, name: &str) -> Result<&SecretSpec, EngineError> {
        self.spec_index
            .get(name)
            .map(|&i| &self.plan.secrets[i])
            .ok_or_else(|| EngineError::Other(format!("secret {name} is not in the run's plan")))
    }

    fn prepared(&self, name: &str, row: &SecretRow) -> Result<Prepared, EngineError> {
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

    fn new_credential(&self, name: &str, row: &SecretRow) -> Result<Credential, EngineError> {
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
    ///
    /// Each pass takes the step of the recorded state; with
    /// [`RunOptions::retry_stopped`], a stopped secret first resumes at the step it
    /// stopped at.
    pub async fn process(&self, name: &str) -> Result<State, EngineError> {
        let spec = self.spec(name)?.clone();
        let mut row = self.load(name).await?;
        if row.state == State::Stopped && self.opts.retry_stopped {
            self.retry(name, &mut row).await?;
        }
        let Some(source) = self.sources.get(name).cloned() else {
            return Ok(row.state);
        };
        let x = Ctx {
            name,
            spec: &spec,
            source: &source,
        };
        while !row.state.is_terminal() {
            row.state = match row.state {
                State::Pending => self.start_issue(&x, &mut row).await?,
                State::Issuing => self.resume_issue(&x, &mut row).await?,
                State::Issued => self.write_sinks(&x, &mut row).await?,
                State::Written => self.verify_sinks(&x, &mut row).await?,
                State::Verified | State::Revoking => self.revoke_old(&x, &mut row).await?,
                State::RollingBack => self.roll_back(&x, &row).await?,
                st @ (State::Done | State::Stopped | State::RolledBack | State::Manual) => st,
            };
        }
        Ok(row.state)
    }

    /// stopped → the step it stopped at.
    async fn retry(&self, name: &str, row: &mut SecretRow) -> Result<(), EngineError> {
        let resume_at = row.step;
        let entry = Entry::new(Step::Retry, Phase::Intent)
            .status(Outcome::Ok)
            .detail(format!("resume at {resume_at}"));
        self.record(name, entry, Change::Secret(SecretChange::Retry { resume_at }))
            .await?;
        row.state = resume_at;
        Ok(())
    }

    /// pending → issuing → issued: prepares, records the issue intent with its
    /// idempotency key, then issues.
    async fn start_issue(&self, x: &Ctx<'_>, row: &mut SecretRow) -> Result<State, EngineError> {
        let name = x.name;
        let idem = format!(
            "fbr-{}",
            stable_id(&[&self.run_id, name, &row.attempt.to_string()])
        );
        let prep = match x.source.prepare(&idem).await {
            Ok(p) => p,
            Err(e) => {
                return self
                    .stop(
                        name,
                        State::Pending,
                        &format!("prepare failed: {e}; nothing was issued"),
                    )
                    .await
            }
        };
        let pending_enc = prep
            .material
            .as_ref()
            .map(|m| self.key.seal(m, &self.aad(name, "pending")));
        let info = serde_json::json!({"prepared": prep.info});
        let change = SecretChange::IssueIntent {
            idem: idem.clone(),
            pending_enc,
            info: info.to_string(),
        };
        self.record(
            name,
            Entry::new(Step::Issue, Phase::Intent).idem(Some(&idem)),
            Change::Secret(change),
        )
        .await?;
        row.state = State::Issuing;
        row.idem = Some(idem.clone());
        row.info = info;
        row.pending_enc = None; // the prepared material stays in memory for this pass
        let issued = self.issue(x, &idem, &prep, true).await?;
        self.after_issue(name, row, issued).await
    }

    /// issuing → issued, after a crash between the issue intent and its result: looks
    /// the credential up by its idempotency key before issuing again.
    async fn resume_issue(&self, x: &Ctx<'_>, row: &mut SecretRow) -> Result<State, EngineError> {
        let prep = self.prepared(x.name, row)?;
        let idem = row.idem.clone().unwrap_or_default();
        let issued = self.issue(x, &idem, &prep, false).await?;
        self.after_issue(x.name, row, issued).await
    }

    /// Issues at the source, with retries; when the intent was recorded before (`fresh`
    /// false) or an attempt failed, first looks up what the key may have issued already.
    async fn issue(
        &self,
        x: &Ctx<'_>,
        idem: &str,
        prep: &Prepared,
        fresh: bool,
    ) -> Result<Result<Issued, String>, EngineError> {
        let source = x.source;
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
                        let entry = Entry::new(Step::Issue, Phase::Orphan)
                            .idem(Some(idem))
                            .detail(format!(
                                "deleting orphan {id} (issued, secret lost before it was recorded)"
                            ));
                        self.record(x.name, entry, Change::None).await?;
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

    /// issuing → issued (the new credential recorded, sealed), or stopped.
    async fn after_issue(
        &self,
        name: &str,
        row: &mut SecretRow,
        issued: Result<Issued, String>,
    ) -> Result<State, EngineError> {
        let i = match issued {
            Ok(i) => i,
            Err(m) => {
                return self
                    .stop(
                        name,
                        State::Issuing,
                        &format!("issue failed: {m}; the old credential is untouched"),
                    )
                    .await
            }
        };
        let enc = self.key.seal(&i.cred.value, &self.aad(name, "new"));
        let fp = self.key.fingerprint(&i.cred.value);
        let mut info = row.info.clone();
        info["previous_ids"] = serde_json::json!(i.previous_ids);
        let entry = Entry::new(Step::Issue, Phase::Result)
            .idem(row.idem.as_deref())
            .status(Outcome::Ok)
            .detail(format!(
                "id={} fp={}",
                i.cred.id.as_deref().unwrap_or("-"),
                &fp[..16]
            ));
        let change = SecretChange::Issued {
            new_id: i.cred.id.clone(),
            new_fp: fp.clone(),
            new_enc: enc.clone(),
            info: info.to_string(),
        };
        self.record(name, entry, Change::Secret(change)).await?;
        row.new_id = i.cred.id;
        row.new_fp = Some(fp);
        row.new_enc = Some(enc);
        row.info = info;
        Ok(State::Issued)
    }

    /// issued → written: writes the new credential to every sink that does not hold it
    /// yet; a failed write rolls back or stops.
    async fn write_sinks(&self, x: &Ctx<'_>, row: &mut SecretRow) -> Result<State, EngineError> {
        if self.opts.unsafe_revoke_before_verify {
            let prev = prev_ids(&row.info);
            let _ = x.source.revoke(&prev).await;
        }
        let cred = self.new_credential(x.name, row)?;
        for (i, sink) in x.spec.sinks.iter().enumerate() {
            if matches!(row.sinks[i].state, SinkState::Written | SinkState::Verified) {
                continue;
            }
            let v = sink_value(sink, &cred);
            if let Err(message) = self.write_sink(x.name, row, i, sink, &v).await? {
                return self.fail_before_revoke(x, row, State::Issued, message).await;
            }
        }
        self.reach(x.name, Step::WriteSinks, Phase::Result, State::Written, None)
            .await?;
        Ok(State::Written)
    }

    /// Writes sink `i`: intent, write, result. `Ok(Err(message))` when the write failed
    /// (recorded, the sink marked failed).
    async fn write_sink(
        &self,
        name: &str,
        row: &mut SecretRow,
        i: usize,
        sink: &SinkSpec,
        v: &SecretString,
    ) -> Result<Result<(), String>, EngineError> {
        let fp = self.key.fingerprint(v);
        let at = now();
        let entry = Entry::new(Step::WriteSink, Phase::Intent)
            .sink(i)
            .idem(row.idem.as_deref())
            .detail(format!("fp={}", &fp[..16]));
        let change = SinkChange::Writing {
            fp,
            written_at: at.clone(),
        };
        self.record(name, entry, Change::Sink(i, change)).await?;
        row.sinks[i].written_at = Some(at);
        let res = self.clients.write(sink, v).await;
        crash_point();
        match res {
            Ok(()) => {
                let entry = Entry::new(Step::WriteSink, Phase::Result)
                    .sink(i)
                    .idem(row.idem.as_deref())
                    .status(Outcome::Ok);
                self.record(name, entry, Change::Sink(i, SinkChange::Written))
                    .await?;
                row.sinks[i].state = SinkState::Written;
                Ok(Ok(()))
            }
            Err(e) => {
                let msg = e.to_string();
                self.record_sink_failure(name, Step::WriteSink, i, row.idem.as_deref(), &msg)
                    .await?;
                row.sinks[i].state = SinkState::Failed;
                Ok(Err(msg))
            }
        }
    }

    /// written → verified: reads every sink back, then runs the verification hook; a
    /// failure rolls back or stops.
    async fn verify_sinks(&self, x: &Ctx<'_>, row: &mut SecretRow) -> Result<State, EngineError> {
        let cred = self.new_credential(x.name, row)?;
        let fps: Vec<String> = x
            .spec
            .sinks
            .iter()
            .map(|k| sink_value(k, &cred).fingerprint())
            .collect();
        drop(cred);
        for (i, sink) in x.spec.sinks.iter().enumerate() {
            if row.sinks[i].state == SinkState::Verified {
                continue;
            }
            let written_at = row.sinks[i].written_at.as_deref();
            if let Some(msg) = self.verify_sink(sink, &fps[i], written_at).await {
                self.record_sink_failure(x.name, Step::Verify, i, row.idem.as_deref(), &msg)
                    .await?;
                // the sink may hold the new value: restore / report it
                row.sinks[i].state = SinkState::Writing;
                return self.fail_before_revoke(x, row, State::Issued, msg).await;
            }
            let entry = Entry::new(Step::Verify, Phase::Result)
                .sink(i)
                .idem(row.idem.as_deref())
                .status(Outcome::Ok);
            self.record(x.name, entry, Change::Sink(i, SinkChange::Verified))
                .await?;
            row.sinks[i].state = SinkState::Verified;
        }
        if let Some(hook) = &x.spec.verify {
            let cred = self.new_credential(x.name, row)?;
            if let Err(m) = run_hook(hook, x.name, &cred.value).await {
                let message = format!("verification hook: {m}");
                return self.fail_before_revoke(x, row, State::Written, message).await;
            }
        }
        self.reach(x.name, Step::Verify, Phase::Result, State::Verified, None)
            .await?;
        Ok(State::Verified)
    }

    /// Reads `sink` back (with retries): `None` when it holds the value with fingerprint
    /// `fp`, written at or after `written_at`; else why not.
    async fn verify_sink(&self, sink: &SinkSpec, fp: &str, written_at: Option<&str>) -> Option<String> {
        let at = written_at
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(chrono::Utc::now);
        let mut outcome = Verified::Mismatch("not checked".into());
        let mut err = None;
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
            }
            match self.clients.verify(sink, fp, at).await {
                Ok(Verified::Ok) => {
                    outcome = Verified::Ok;
                    err = None;
                    break;
                }
                Ok(m) => outcome = m,
                Err(e) => err = Some(e.to_string()),
            }
        }
        match (&outcome, err) {
            (_, Some(e)) => Some(e),
            (Verified::Mismatch(m), None) => Some(format!("sink {}: {m}", sink.label())),
            (Verified::Ok, None) => None,
        }
    }

    /// verified → revoking → done: revokes the old credential (every sink verified to
    /// hold the new one), then erases the material and records the proofs of rotation.
    async fn revoke_old(&self, x: &Ctx<'_>, row: &mut SecretRow) -> Result<State, EngineError> {
        let prev = prev_ids(&row.info);
        if row.state == State::Verified {
            let ids = format!("ids={}", prev.join(","));
            self.reach(x.name, Step::RevokeOld, Phase::Intent, State::Revoking, Some(ids))
                .await?;
            row.state = State::Revoking;
        }
        let res = x.source.revoke(&prev).await;
        crash_point();
        if let Err(e) = res {
            let msg = format!("revoking the old credential failed: {e}; every sink holds the new credential, the old one may still be valid");
            return self.stop(x.name, State::Revoking, &msg).await;
        }
        // proof of rotation for `firebreak inventory verify`
        let records = x
            .spec
            .sinks
            .iter()
            .map(|k| {
                let (p, kind, scope, n) = k.identity();
                RotationRecord {
                    identity: firebreak_providers::model::identity(p, kind, &scope, &n),
                    provider: p.as_str().to_string(),
                    kind: kind.as_str().to_string(),
                    scope,
                    name: n,
                    source: format!("firebreak rotate run {}", self.run_id),
                    detail: format!("secret {}", x.name),
                }
            })
            .collect();
        let entry = Entry::new(Step::RevokeOld, Phase::Result)
            .idem(row.idem.as_deref())
            .status(Outcome::Ok);
        self.record(x.name, entry, Change::Secret(SecretChange::Done { records }))
            .await?;
        Ok(State::Done)
    }

    /// → stopped, with the old credential valid; `step` is where a retry resumes.
    async fn stop(&self, name: &str, step: State, reason: &str) -> Result<State, EngineError> {
        let entry = Entry::new(Step::Stop, Phase::Result)
            .status(Outcome::Stopped)
            .detail(reason);
        let change = SecretChange::Stopped {
            step,
            reason: reason.to_string(),
        };
        self.record(name, entry, Change::Secret(change)).await?;
        Ok(State::Stopped)
    }

    /// A failure after issue, before revoke: roll back when the old value can be had,
    /// else stop (resuming at `step`) with the old credential valid.
    async fn fail_before_revoke(
        &self,
        x: &Ctx<'_>,
        row: &SecretRow,
        step: State,
        message: String,
    ) -> Result<State, EngineError> {
        let prev = prev_ids(&row.info);
        if x.source.can_fetch() && prev.len() == 1 {
            let reason = format!("{message}; rolling back to the old credential");
            let entry = Entry::new(Step::Rollback, Phase::Intent)
                .idem(row.idem.as_deref())
                .detail(reason.clone());
            let change = SecretChange::RollingBack { reason: Some(reason) };
            self.record(x.name, entry, Change::Secret(change)).await?;
            return self.roll_back(x, row).await;
        }
        let written: Vec<String> = x
            .spec
            .sinks
            .iter()
            .enumerate()
            .filter(|(i, _)| row.sinks[*i].state.may_hold_new())
            .map(|(_, s)| s.label())
            .collect();
        let msg = format!(
            "{message}; the old credential is still valid (not revoked); the new one is valid too{}",
            if written.is_empty() {
                String::new()
            } else {
                format!(" and may be in: {}", written.join(", "))
            }
        );
        self.stop(x.name, step, &msg).await
    }

    /// rolling_back → rolled_back: restores the old value in every sink that may hold the
    /// new one, then revokes the new credential; stops when it cannot.
    async fn roll_back(&self, x: &Ctx<'_>, row: &SecretRow) -> Result<State, EngineError> {
        let (name, source) = (x.name, x.source);
        // if the rollback cannot finish, the secret stops; a retry continues forward from here
        let resume = State::Issued;
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
        for (i, sink) in x.spec.sinks.iter().enumerate() {
            // only sinks that hold (or may hold) the new value
            if !row.sinks[i].state.may_hold_new() {
                continue;
            }
            let v = match sink.field() {
                Field::Value => old.clone(),
                Field::Id => SecretString::new(prev[0].clone()),
            };
            let at = chrono::Utc::now();
            let entry = Entry::new(Step::RollbackSink, Phase::Intent).sink(i);
            self.record(name, entry, Change::None).await?;
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
            let entry = Entry::new(Step::RollbackSink, Phase::Result)
                .sink(i)
                .status(Outcome::Ok);
            self.record(name, entry, Change::Sink(i, SinkChange::RolledBack))
                .await?;
        }
        if let Some(id) = &row.new_id {
            let entry = Entry::new(Step::RevokeNew, Phase::Intent).detail(format!("id={id}"));
            self.record(name, entry, Change::None).await?;
            if let Err(e) = source.revoke(std::slice::from_ref(id)).await {
                return self
                    .stop(
                        name,
                        State::RollingBack,
                        &format!("sinks restored but revoking the new credential failed: {e}"),
                    )
                    .await;
            }
            crash_point();
        }
        let entry = Entry::new(Step::Rollback, Phase::Result).status(Outcome::Ok);
        self.record(name, entry, Change::Secret(SecretChange::RolledBack))
            .await?;
        Ok(State::RolledBack)
    }

    /// `rotate rollback SECRET`: restores the old value in the sinks and revokes the new
    /// credential, for a secret whose old credential has not been revoked yet.
    pub async fn rollback(&self, name: &str) -> Result<State, EngineError> {
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

    async fn rollback_locked(&self, name: &str) -> Result<State, EngineError> {
        let spec = self.spec(name)?.clone();
        let row = self.load(name).await?;
        match row.state {
            State::Done | State::Revoking => {
                return Err(EngineError::Other(format!(
                    "{name}: the old credential is already revoked (state {}); rotate again instead of rolling back",
                    row.state
                )))
            }
            State::Manual | State::RolledBack => {
                return Err(EngineError::Other(format!("{name}: nothing to roll back (state {})", row.state)))
            }
            State::Pending => {
                let why = Some("nothing issued".into());
                self.reach(name, Step::Rollback, Phase::Result, State::RolledBack, why)
                    .await?;
                return Ok(State::RolledBack);
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
        let entry = Entry::new(Step::Rollback, Phase::Intent)
            .idem(row.idem.as_deref())
            .detail("requested");
        self.record(
            name,
            entry,
            Change::Secret(SecretChange::RollingBack { reason: None }),
        )
        .await?;
        let x = Ctx {
            name,
            spec: &spec,
            source: &source,
        };
        self.roll_back(&x, &row).await
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
