//! The durable journal: SQLite (WAL, `synchronous=FULL`, `secure_delete=ON`), tables
//! prefixed `rotation_` (created by the store's migration 3), in the same store file as
//! the rest of firebreak.
//!
//! One writer thread owns the connection and commits in groups: every job queued while a
//! commit is in flight goes into the next transaction (each job in its own savepoint), and
//! a job's caller is answered only once its transaction is durable. So "record the intent,
//! then act" holds for every worker while the fsync cost is shared.
//!
//! **The journal never lies.** A job is answered `Ok` only after the COMMIT of its group
//! returned success. When a commit (or the BEGIN, a savepoint, or a job with an I/O-class
//! error such as a full disk) fails, every job of the group is answered with the error and
//! the journal is *poisoned*: every later job is refused without touching the store. The
//! engine records each step's intent before it acts, so a poisoned journal stops every
//! worker before its next issue, write or revoke; `rotate resume` (a new journal) then
//! continues from the last durable state, exactly as after a crash.
//!
//! **One process per run.** [`Journal::acquire`] takes a run's lock in the store
//! (`rotation_locks`: holder pid, its start time, host, command and a lease renewed in the
//! background). A second process is refused with the holder named; a holder that died
//! (same host, pid gone or reused) or whose lease ran out (another host) is taken over.
//! Every group transaction checks that the locks this journal holds are still its own
//! (fencing): a journal whose lock was taken over is poisoned before it writes again.

use crate::state::{SinkState, State};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Why the journal failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// SQLite error, with the store path.
    #[error("store {path}: {message}")]
    Sql {
        /// Store file.
        path: String,
        /// SQLite message.
        message: String,
    },
    /// The writer thread is gone.
    #[error("store {0}: journal writer stopped")]
    Closed(String),
    /// An earlier commit failed: nothing more is written through this journal.
    #[error("store {path}: the journal could not be made durable ({cause}); the run stopped at a safe point: fix the cause (free disk space, permissions), then `firebreak rotate resume`")]
    Poisoned {
        /// Store file.
        path: String,
        /// The first failure.
        cause: String,
    },
    /// Another process drives the run.
    #[error("run {run_id} is being driven by {holder}; only one process may drive a run (wait for it to finish or stop it; a crashed holder is taken over automatically)")]
    Locked {
        /// Run id.
        run_id: String,
        /// Who holds it (pid, host, command, since, lease).
        holder: String,
    },
    /// A step would move a secret along a transition [`State::can_go_to`] does not allow:
    /// nothing was recorded.
    #[error("run {run_id}, secret {secret}: the state cannot go from {from} to {to}; nothing was recorded")]
    Transition {
        /// Run id.
        run_id: String,
        /// Secret.
        secret: String,
        /// The recorded state.
        from: State,
        /// The state the step would record.
        to: State,
    },
}

impl JournalError {
    /// True when the journal cannot be written any more (the run must stop).
    pub fn is_fatal(&self) -> bool {
        matches!(self, JournalError::Poisoned { .. } | JournalError::Closed(_))
    }
}

static CRASH_AFTER: AtomicI64 = AtomicI64::new(-1);

/// Test harness only: SIGKILL this process at the `n`-th crash point (journal commits
/// and completed external calls). `0` or negative disables.
pub fn set_crash_after(n: i64) {
    CRASH_AFTER.store(if n > 0 { n } else { -1 }, Ordering::SeqCst);
}

/// A crash point: when the countdown set by [`set_crash_after`] reaches zero, the process
/// kills itself with SIGKILL (no destructors, no flush: like a power cut for the journal).
pub fn crash_point() {
    let v = CRASH_AFTER.load(Ordering::SeqCst);
    if v <= 0 {
        return;
    }
    if CRASH_AFTER.fetch_sub(1, Ordering::SeqCst) == 1 {
        // SAFETY: plain libc calls with no pointers.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Where the store lives by default (the store crate's rule): `$FIREBREAK_STORE`, else
/// `$XDG_DATA_HOME/firebreak/firebreak.db`, else `~/.local/share/firebreak/firebreak.db`.
pub fn default_store_path() -> PathBuf {
    firebreak_store::default_path()
}

/// Opens (creating 0600 when missing, migrating under the store's lock) the store.
pub fn open_connection(path: &Path) -> Result<Connection, JournalError> {
    let err = |e: &dyn std::fmt::Display| JournalError::Sql {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    // The shared store: 0600, WAL, every migration (the rotation tables are migration 3).
    drop(firebreak_store::Store::open(path).map_err(|e| err(&e))?);
    let conn = Connection::open(path).map_err(|e| err(&e))?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(|e| err(&e))?;
    firebreak_store::busy_retry(|| {
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;",
        )
    })
    .map_err(|e| err(&e))?;
    Ok(conn)
}

/// One queued unit of work: run inside the group transaction, answered after its commit.
trait Job: Send {
    /// Runs the job; false when it failed (its savepoint is rolled back).
    fn run(&mut self, c: &Connection) -> bool;
    /// True when the failure is of the I/O class (full disk, I/O error, corruption...).
    fn io_failure(&self) -> bool;
    /// The job's own SQLite error, when it failed.
    fn error_text(&self) -> Option<String>;
    /// Answers the caller: `Some(e)` when the group did not become durable.
    fn finish(self: Box<Self>, err: Option<JournalError>);
}

struct TypedJob<R, F, C> {
    f: Option<F>,
    result: Option<rusqlite::Result<R>>,
    reply: C,
    path: String,
}

impl<R, F, C> Job for TypedJob<R, F, C>
where
    R: Send,
    F: FnOnce(&Connection) -> rusqlite::Result<R> + Send,
    C: FnOnce(Result<R, JournalError>) + Send,
{
    fn run(&mut self, c: &Connection) -> bool {
        let r = match self.f.take() {
            Some(f) => f(c),
            None => return false,
        };
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn io_failure(&self) -> bool {
        matches!(&self.result, Some(Err(e)) if is_io_class(e))
    }

    fn error_text(&self) -> Option<String> {
        match &self.result {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        }
    }

    fn finish(self: Box<Self>, err: Option<JournalError>) {
        let me = *self;
        let out = match (err, me.result) {
            (Some(e), _) => Err(e),
            (None, Some(r)) => r.map_err(|e| JournalError::Sql {
                path: me.path.clone(),
                message: e.to_string(),
            }),
            (None, None) => Err(JournalError::Closed(me.path.clone())),
        };
        (me.reply)(out)
    }
}

/// Errors after which the store cannot be trusted to have kept what it was given.
fn is_io_class(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(c) => matches!(
            c,
            C::DiskFull
                | C::SystemIoFailure
                | C::DatabaseCorrupt
                | C::OutOfMemory
                | C::ReadOnly
                | C::CannotOpen
                | C::NotADatabase
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::FileLockingProtocolFailed
                | C::OperationInterrupted
        ),
        None => false,
    }
}

/// A run lock this journal holds.
#[derive(Debug, Clone)]
struct Held {
    token: String,
}

struct Inner {
    tx: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    path: String,
    poison: Arc<Mutex<Option<String>>>,
    /// Locks held (run id → token); shared with the writer for fencing.
    held: Arc<Mutex<HashMap<String, Held>>>,
    /// Stops the lease renewal thread when dropped.
    renewer: Mutex<Option<mpsc::Sender<()>>>,
}

/// A handle on the journal writer. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.inner.path).finish()
    }
}

/// How long a lock stays valid without renewal (another host may take it over after).
pub const LEASE: Duration = Duration::from_secs(60);

impl Journal {
    /// Opens the store and starts the writer thread.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let conn = open_connection(path)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let spath = path.display().to_string();
        let poison = Arc::new(Mutex::new(None));
        let held = Arc::new(Mutex::new(HashMap::new()));
        let w = Writer {
            conn,
            path: spath.clone(),
            poison: poison.clone(),
            held: held.clone(),
        };
        std::thread::Builder::new()
            .name("rotation-journal".into())
            .spawn(move || w.run(rx))
            .map_err(|e| JournalError::Sql {
                path: spath.clone(),
                message: e.to_string(),
            })?;
        Ok(Journal {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                path: spath,
                poison,
                held,
                renewer: Mutex::new(None),
            }),
        })
    }

    /// The store path.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The first durability failure, once the journal is poisoned.
    pub fn poisoned(&self) -> Option<String> {
        self.inner.poison.lock().expect("poison").clone()
    }

    fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        reply: impl FnOnce(Result<R, JournalError>) + Send + 'static,
    ) -> Result<(), JournalError> {
        let job = Box::new(TypedJob {
            f: Some(f),
            result: None,
            reply,
            path: self.inner.path.clone(),
        });
        let tx = self.inner.tx.lock().expect("journal sender").clone();
        match tx {
            Some(tx) => tx
                .send(job)
                .map_err(|_| JournalError::Closed(self.inner.path.clone())),
            None => Err(JournalError::Closed(self.inner.path.clone())),
        }
    }

    /// Runs `f` in the next group transaction; returns once it is durable (and fails when
    /// it could not be made durable).
    pub async fn exec<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await
            .map_err(|_| JournalError::Closed(self.inner.path.clone()))?
    }

    /// Blocking form of [`Journal::exec`] (outside an async runtime).
    pub fn exec_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, JournalError> {
        let (tx, rx) = mpsc::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv()
            .map_err(|_| JournalError::Closed(self.inner.path.clone()))?
    }

    /// Takes the lock of `run_id` for this journal (no-op when it holds it already), or
    /// fails with [`JournalError::Locked`] naming the live holder. Starts the lease renewal.
    pub fn acquire(&self, run_id: &str) -> Result<(), JournalError> {
        if self.inner.held.lock().expect("held").contains_key(run_id) {
            return Ok(());
        }
        let me = Holder::me();
        let (rid, me2) = (run_id.to_string(), me.clone());
        self.exec_blocking(move |c| acquire_in(c, &rid, &me2))?
            .map_err(|holder| JournalError::Locked {
                run_id: run_id.to_string(),
                holder,
            })?;
        live_tokens().insert(me.token.clone());
        self.inner
            .held
            .lock()
            .expect("held")
            .insert(run_id.to_string(), Held { token: me.token });
        self.start_renewal();
        Ok(())
    }

    /// Records a lock taken inside another of this journal's transactions ([`acquire_in`]).
    pub(crate) fn note_acquired(&self, run_id: &str, token: String) {
        live_tokens().insert(token.clone());
        self.inner
            .held
            .lock()
            .expect("held")
            .insert(run_id.to_string(), Held { token });
        self.start_renewal();
    }

    /// Releases the lock of `run_id` (best effort: a lock left behind by a failure is taken
    /// over once its holder is gone).
    pub fn release(&self, run_id: &str) {
        let held = self.inner.held.lock().expect("held").remove(run_id);
        if let Some(h) = held {
            live_tokens().remove(&h.token);
            let rid = run_id.to_string();
            let _ = self.exec_blocking(move |c| {
                c.execute(
                    "DELETE FROM rotation_locks WHERE run_id = ?1 AND token = ?2",
                    params![rid, h.token],
                )
            });
        }
        if self.inner.held.lock().expect("held").is_empty() {
            self.inner.renewer.lock().expect("renewer").take();
        }
    }

    fn start_renewal(&self) {
        let mut r = self.inner.renewer.lock().expect("renewer");
        if r.is_some() {
            return;
        }
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        *r = Some(stop_tx);
        let weak = Arc::downgrade(&self.inner);
        let _ = std::thread::Builder::new()
            .name("rotation-lease".into())
            .spawn(move || loop {
                match stop_rx.recv_timeout(LEASE / 4) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                let j = Journal { inner };
                let held: Vec<(String, String)> = j
                    .inner
                    .held
                    .lock()
                    .expect("held")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.token.clone()))
                    .collect();
                let until = lease_until();
                let r = j.exec_blocking(move |c| {
                    for (rid, tok) in &held {
                        c.execute(
                            "UPDATE rotation_locks SET lease_until = ?3 WHERE run_id = ?1 AND token = ?2",
                            params![rid, tok, until],
                        )?;
                    }
                    Ok(())
                });
                if r.is_err() {
                    return;
                }
            });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.renewer.lock().expect("renewer").take();
        let held: Vec<(String, Held)> = self.held.lock().expect("held").drain().collect();
        for (_, h) in &held {
            live_tokens().remove(&h.token);
        }
        let tx = self.tx.lock().expect("journal sender").take();
        if let (false, Some(tx)) = (held.is_empty(), tx.as_ref()) {
            let (rtx, rrx) = mpsc::channel();
            let job = Box::new(TypedJob {
                f: Some(move |c: &Connection| {
                    for (rid, h) in &held {
                        c.execute(
                            "DELETE FROM rotation_locks WHERE run_id = ?1 AND token = ?2",
                            params![rid, h.token],
                        )?;
                    }
                    Ok(())
                }),
                result: None,
                reply: move |r: Result<(), JournalError>| {
                    let _ = rtx.send(r);
                },
                path: self.path.clone(),
            });
            if tx.send(job).is_ok() {
                let _ = rrx.recv_timeout(Duration::from_secs(10));
            }
        }
    }
}

/// Tokens of the locks held by this process's journals that are still open.
fn live_tokens() -> std::sync::MutexGuard<'static, std::collections::HashSet<String>> {
    static T: std::sync::OnceLock<Mutex<std::collections::HashSet<String>>> = std::sync::OnceLock::new();
    T.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Who drives a run.
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    pub(crate) token: String,
    pid: i64,
    pid_start: Option<String>,
    host: String,
    command: String,
}

impl Holder {
    pub(crate) fn me() -> Holder {
        let pid = std::process::id() as i64;
        Holder {
            token: format!("{:032x}", rand::random::<u128>()),
            pid,
            pid_start: pid_start(pid),
            host: hostname(),
            command: std::env::args()
                .take(3)
                .map(|a| a.rsplit('/').next().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn lease_until() -> String {
    let t = chrono::Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The start time of process `pid` (clock ticks since boot), to tell a live holder from
/// a later process that reused its pid. `None` where `/proc` is not available.
fn pid_start(pid: i64) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command may hold spaces and parentheses: fields start after the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

fn pid_alive(pid: i64, start: Option<&str>) -> bool {
    if pid <= 0 || pid > i32::MAX as i64 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    match (start, pid_start(pid)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown-host".into();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The live holder of `run_id`'s lock, if any, described for a person: `None` when the
/// run is free or its holder is gone (same host: its pid is dead or reused; another host:
/// its lease ran out).
pub fn live_holder(c: &Connection, run_id: &str) -> rusqlite::Result<Option<String>> {
    let cur = c
        .query_row(
            "SELECT pid, pid_start, host, command, acquired_at, lease_until, token FROM rotation_locks WHERE run_id = ?1",
            [run_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((pid, start, host, command, since, until, token)) = cur else {
        return Ok(None);
    };
    let live = if host == hostname() && pid == std::process::id() as i64 {
        // this process: live while the journal that took it is (a poisoned journal
        // cannot delete its lock row, but once dropped its lock is free)
        live_tokens().contains(&token)
    } else if host == hostname() {
        pid_alive(pid, start.as_deref())
    } else {
        until.as_str() > now().as_str()
    };
    Ok(live.then(|| format!("pid {pid} on host {host} (`{command}`, since {since}, lease until {until})")))
}

/// Takes `run_id`'s lock for `me` inside the caller's transaction: `Ok(Err(holder))` names
/// a live holder (the lock is not taken).
pub(crate) fn acquire_in(c: &Connection, run_id: &str, me: &Holder) -> rusqlite::Result<Result<(), String>> {
    if let Some(h) = live_holder(c, run_id)? {
        return Ok(Err(h));
    }
    let stale = c.execute("DELETE FROM rotation_locks WHERE run_id = ?1", [run_id])?;
    if stale > 0 {
        tracing::warn!(run = run_id, "taking over the lock of a run whose holder is gone");
    }
    c.execute(
        "INSERT INTO rotation_locks (run_id, token, pid, pid_start, host, command, acquired_at, lease_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![run_id, me.token, me.pid, me.pid_start, me.host, me.command, now(), lease_until()],
    )?;
    Ok(Ok(()))
}

// ---------------------------------------------------------------------------------------
// The rotation tables: every statement the engine runs on them, behind typed methods.

impl rusqlite::types::ToSql for State {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for State {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl rusqlite::types::ToSql for SinkState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for SinkState {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

/// A secret of a new run.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Secret name.
    pub name: String,
    /// Its first state ([`State::Pending`], or [`State::Manual`]).
    pub state: State,
    /// Why it is in that state (a manual secret's instructions).
    pub reason: Option<String>,
    /// The labels of its sinks, in plan order.
    pub sinks: Vec<String>,
}

/// A new run, as [`Journal::create_run`] records it.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Run id.
    pub run_id: String,
    /// Where the plan was read from.
    pub plan_path: String,
    /// The plan's text (TOML).
    pub plan: String,
    /// Its secrets.
    pub secrets: Vec<NewSecret>,
}

/// An unfinished run of the store, as seen by the overlap check of a new run.
#[derive(Debug, Clone)]
pub struct RunningRun {
    /// Run id.
    pub run_id: String,
    /// The plan recorded with it (TOML).
    pub plan: String,
    /// The labels of its sinks.
    pub sinks: Vec<String>,
    /// The process driving it now, described for a person (see [`live_holder`]).
    pub holder: Option<String>,
}

/// One sink of a secret, as recorded.
#[derive(Debug, Clone)]
pub struct SinkRow {
    /// State.
    pub state: SinkState,
    /// When the new value was (about to be) written, RFC 3339.
    pub written_at: Option<String>,
}

/// One secret of a run, as recorded: what the engine resumes from.
#[derive(Clone)]
pub struct SecretRow {
    /// State.
    pub state: State,
    /// The state a stopped secret resumes at (else the state itself).
    pub step: State,
    /// Attempt number (part of the idempotency key).
    pub attempt: i64,
    /// Idempotency key of the issue.
    pub idem: Option<String>,
    /// Id of the new credential at the source.
    pub new_id: Option<String>,
    /// Fingerprint of the new credential.
    pub new_fp: Option<String>,
    /// The new credential, sealed.
    pub new_enc: Option<Vec<u8>>,
    /// Material prepared for the issue, sealed.
    pub pending_enc: Option<Vec<u8>>,
    /// `{"prepared": …, "previous_ids": […]}` (an empty object when none).
    pub info: serde_json::Value,
    /// Its sinks, in plan order.
    pub sinks: Vec<SinkRow>,
}

/// One secret of a run as `rotate status` shows it.
#[derive(Debug, Clone)]
pub struct StatusRow {
    /// Secret name.
    pub secret: String,
    /// State.
    pub state: State,
    /// The state a stopped secret resumes at.
    pub step: State,
    /// Id of the new credential at the source.
    pub new_id: Option<String>,
    /// Fingerprint of the new credential.
    pub new_fp: Option<String>,
    /// `{"prepared": …, "previous_ids": […]}` (an empty object when none).
    pub info: serde_json::Value,
    /// Why it stopped, or the manual instructions.
    pub reason: Option<String>,
    /// Last change.
    pub updated_at: String,
    /// Sinks written or verified.
    pub sinks_written: usize,
    /// Sinks verified.
    pub sinks_verified: usize,
}

/// The step a journal entry belongs to (`rotation_journal.step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Issuing the new credential.
    Issue,
    /// Writing one sink.
    WriteSink,
    /// Every sink written.
    WriteSinks,
    /// Verifying a sink (or, without a sink, all of them and the hook).
    Verify,
    /// Revoking the old credential.
    RevokeOld,
    /// Rolling back.
    Rollback,
    /// Restoring one sink to the old value.
    RollbackSink,
    /// Revoking the new credential during a rollback.
    RevokeNew,
    /// Stopping with the old credential valid.
    Stop,
    /// Resuming a stopped secret.
    Retry,
}

impl Step {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Issue => "issue",
            Step::WriteSink => "write_sink",
            Step::WriteSinks => "write_sinks",
            Step::Verify => "verify",
            Step::RevokeOld => "revoke_old",
            Step::Rollback => "rollback",
            Step::RollbackSink => "rollback_sink",
            Step::RevokeNew => "revoke_new",
            Step::Stop => "stop",
            Step::Retry => "retry",
        }
    }
}

/// Whether an entry is recorded before the step acts or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before: what is about to be done (with the idempotency key).
    Intent,
    /// After: what came of it.
    Result,
    /// An orphan found at the source (issued, but lost before it was recorded).
    Orphan,
}

impl Phase {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Intent => "intent",
            Phase::Result => "result",
            Phase::Orphan => "orphan",
        }
    }
}

/// How a step ended (`rotation_journal.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded.
    Ok,
    /// Failed.
    Error,
    /// The secret stopped.
    Stopped,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Stopped => "stopped",
        }
    }
}

/// One `rotation_journal` entry.
#[derive(Debug, Clone)]
pub struct Entry {
    step: Step,
    phase: Phase,
    sink: Option<usize>,
    idem: Option<String>,
    status: Option<Outcome>,
    detail: Option<String>,
}

impl Entry {
    /// An entry of `step` in `phase`, with nothing else.
    pub fn new(step: Step, phase: Phase) -> Entry {
        Entry {
            step,
            phase,
            sink: None,
            idem: None,
            status: None,
            detail: None,
        }
    }

    /// About sink `i` (its index in the plan).
    pub fn sink(mut self, i: usize) -> Entry {
        self.sink = Some(i);
        self
    }

    /// With the idempotency key of the issue.
    pub fn idem(mut self, key: Option<&str>) -> Entry {
        self.idem = key.map(str::to_string);
        self
    }

    /// With how the step ended.
    pub fn status(mut self, s: Outcome) -> Entry {
        self.status = Some(s);
        self
    }

    /// With a text for a person (scrubbed of anything secret-looking before it is stored).
    pub fn detail(mut self, d: impl Into<String>) -> Entry {
        self.detail = Some(d.into());
        self
    }
}

/// Proof of a rotation for `firebreak inventory verify` (a `rotation_records` row).
#[derive(Debug, Clone)]
pub struct RotationRecord {
    /// Identity of the rotated credential (`firebreak_providers::model::identity`).
    pub identity: String,
    /// Provider.
    pub provider: String,
    /// Kind of secret.
    pub kind: String,
    /// Scope (project, repository, context…).
    pub scope: String,
    /// Name in that scope.
    pub name: String,
    /// What rotated it.
    pub source: String,
    /// More.
    pub detail: String,
}

/// What a step changes in a secret's row. Each moves the secret to [`SecretChange::target`],
/// which the journal checks against [`State::can_go_to`] before it records anything.
#[derive(Clone)]
pub enum SecretChange {
    /// The issue intent: the idempotency key and the prepared material (sealed).
    IssueIntent {
        /// Idempotency key.
        idem: String,
        /// Prepared material, sealed.
        pending_enc: Option<Vec<u8>>,
        /// `{"prepared": …}`.
        info: String,
    },
    /// The new credential, sealed, with its id and fingerprint; the prepared material is
    /// erased.
    Issued {
        /// Id at the source.
        new_id: Option<String>,
        /// Fingerprint.
        new_fp: String,
        /// The credential, sealed.
        new_enc: Vec<u8>,
        /// `{"prepared": …, "previous_ids": […]}`.
        info: String,
    },
    /// The secret reached a state (state and step both set to it).
    Reached(State),
    /// Stopped with the old credential valid; `step` is where a retry resumes.
    Stopped {
        /// Where a retry resumes.
        step: State,
        /// Why (scrubbed before it is stored).
        reason: String,
    },
    /// A rollback starts (the reason, when given, replaces the recorded one).
    RollingBack {
        /// Why (scrubbed before it is stored).
        reason: Option<String>,
    },
    /// Rolled back: the credential material is erased.
    RolledBack,
    /// A stopped secret resumes at `resume_at`.
    Retry {
        /// The recorded step to resume at.
        resume_at: State,
    },
    /// Done: the credential material is erased and the proofs of rotation recorded.
    Done {
        /// One per sink.
        records: Vec<RotationRecord>,
    },
}

impl SecretChange {
    /// The state the secret is in once the change is recorded.
    pub fn target(&self) -> State {
        match self {
            SecretChange::IssueIntent { .. } => State::Issuing,
            SecretChange::Issued { .. } => State::Issued,
            SecretChange::Reached(s) => *s,
            SecretChange::Stopped { .. } => State::Stopped,
            SecretChange::RollingBack { .. } => State::RollingBack,
            SecretChange::RolledBack => State::RolledBack,
            SecretChange::Retry { resume_at } => *resume_at,
            SecretChange::Done { .. } => State::Done,
        }
    }
}

/// What a step changes in one sink's row.
#[derive(Debug, Clone)]
pub enum SinkChange {
    /// The write intent: the new value's fingerprint and when it is written.
    Writing {
        /// Fingerprint of the value written.
        fp: String,
        /// When, RFC 3339.
        written_at: String,
    },
    /// Written.
    Written,
    /// Verified (now).
    Verified,
    /// A write or a verification failed.
    Failed {
        /// Why (scrubbed before it is stored).
        error: String,
    },
    /// Restored to the old value.
    RolledBack,
}

/// What a recorded step changes besides adding its journal entry.
#[derive(Clone)]
pub enum Change {
    /// Nothing.
    None,
    /// The secret's row (a state transition).
    Secret(SecretChange),
    /// The row of sink `.0` of the secret.
    Sink(usize, SinkChange),
}

/// The unfinished runs of the store.
fn running_runs(c: &Connection) -> rusqlite::Result<Vec<RunningRun>> {
    let runs = c
        .prepare("SELECT run_id, plan FROM rotation_runs WHERE status = 'running' ORDER BY created_at")?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut labels = c.prepare("SELECT DISTINCT label FROM rotation_sinks WHERE run_id = ?1")?;
    runs.into_iter()
        .map(|(run_id, plan)| {
            let sinks = labels
                .query_map([&run_id], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            let holder = live_holder(c, &run_id)?;
            Ok(RunningRun {
                run_id,
                plan,
                sinks,
                holder,
            })
        })
        .collect()
}

fn info_of(text: Option<String>) -> serde_json::Value {
    text.and_then(|i| serde_json::from_str(&i).ok())
        .unwrap_or(serde_json::json!({}))
}

/// Records `entry` and applies `change`, in the caller's transaction. `Ok(Err((from, to)))`
/// when the change is a transition the table does not allow (nothing is written).
fn record_in(
    c: &Connection,
    rid: &str,
    s: &str,
    entry: Entry,
    change: Change,
) -> rusqlite::Result<Result<(), (State, State)>> {
    use firebreak_core::scrub::scrub;
    if let Change::Secret(ch) = &change {
        let from: State = c.query_row(
            "SELECT state FROM rotation_secrets WHERE run_id = ?1 AND secret = ?2",
            params![rid, s],
            |r| r.get(0),
        )?;
        let to = ch.target();
        if !from.can_go_to(to) {
            return Ok(Err((from, to)));
        }
    }
    // source and provider texts may quote what they were sent: scrub before storing
    let detail = entry.detail.as_deref().map(scrub);
    let t = now();
    c.execute(
        "INSERT INTO rotation_journal (run_id, secret, step, sink, phase, idem_key, status, detail, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            rid,
            s,
            entry.step.as_str(),
            entry.sink.map(|x| x as i64),
            entry.phase.as_str(),
            entry.idem,
            entry.status.map(Outcome::as_str),
            detail,
            t
        ],
    )?;
    match change {
        Change::None => {}
        Change::Secret(ch) => {
            let to = ch.target();
            match ch {
                SecretChange::IssueIntent { idem, pending_enc, info } => c.execute(
                    "UPDATE rotation_secrets SET state = ?3, step = ?3, idem_key = ?4, pending_enc = ?5, prev_ids = ?6, updated_at = ?7 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, to, idem, pending_enc, info, t],
                )?,
                SecretChange::Issued { new_id, new_fp, new_enc, info } => c.execute(
                    "UPDATE rotation_secrets SET state = ?3, step = ?3, new_id = ?4, new_fp = ?5, new_enc = ?6, pending_enc = NULL, prev_ids = ?7, updated_at = ?8 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, to, new_id, new_fp, new_enc, info, t],
                )?,
                SecretChange::Reached(_) => c.execute(
                    "UPDATE rotation_secrets SET state = ?3, step = ?3, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, to, t],
                )?,
                SecretChange::Stopped { step, reason } => c.execute(
                    "UPDATE rotation_secrets SET state = ?3, step = ?4, reason = ?5, updated_at = ?6 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, to, step, scrub(&reason), t],
                )?,
                SecretChange::RollingBack { reason } => c.execute(
                    "UPDATE rotation_secrets SET state = ?3, reason = coalesce(?4, reason), updated_at = ?5 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, to, reason.as_deref().map(scrub), t],
                )?,
                SecretChange::RolledBack => c.execute(
                    "UPDATE rotation_secrets SET state = ?3, step = ?3, new_enc = NULL, pending_enc = NULL, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, to, t],
                )?,
                SecretChange::Retry { .. } => c.execute(
                    "UPDATE rotation_secrets SET state = ?3, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                    params![rid, s, to, t],
                )?,
                SecretChange::Done { records } => {
                    // done: erase the credential material
                    c.execute(
                        "UPDATE rotation_secrets SET state = ?3, step = ?3, new_enc = NULL, pending_enc = NULL, reason = NULL, updated_at = ?4 WHERE run_id = ?1 AND secret = ?2",
                        params![rid, s, to, t],
                    )?;
                    let at = firebreak_store::fmt_time(chrono::Utc::now());
                    for r in &records {
                        c.execute(
                            "INSERT INTO rotation_records (identity, provider, kind, scope, name, rotated_at, source, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![r.identity, r.provider, r.kind, r.scope, r.name, at, r.source, r.detail],
                        )?;
                    }
                    records.len()
                }
            };
        }
        Change::Sink(i, ch) => {
            let i = i as i64;
            let st = match &ch {
                SinkChange::Writing { .. } => SinkState::Writing,
                SinkChange::Written => SinkState::Written,
                SinkChange::Verified => SinkState::Verified,
                SinkChange::Failed { .. } => SinkState::Failed,
                SinkChange::RolledBack => SinkState::RolledBack,
            };
            match ch {
                SinkChange::Writing { fp, written_at } => c.execute(
                    "UPDATE rotation_sinks SET state = ?4, fp = ?5, written_at = ?6, error = NULL WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                    params![rid, s, i, st, fp, written_at],
                )?,
                SinkChange::Written | SinkChange::RolledBack => c.execute(
                    "UPDATE rotation_sinks SET state = ?4 WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                    params![rid, s, i, st],
                )?,
                SinkChange::Verified => c.execute(
                    "UPDATE rotation_sinks SET state = ?4, verified_at = ?5 WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                    params![rid, s, i, st, t],
                )?,
                SinkChange::Failed { error } => c.execute(
                    "UPDATE rotation_sinks SET state = ?4, error = ?5 WHERE run_id = ?1 AND secret = ?2 AND idx = ?3",
                    params![rid, s, i, st, scrub(&error)],
                )?,
            };
        }
    }
    Ok(Ok(()))
}

impl Journal {
    /// Creates a run: records the plan text and one row per secret and sink, and takes
    /// the run's lock for this journal (see [`Journal::acquire`]), all in one transaction,
    /// unless `refuse`, given the unfinished runs of the store, says why not: then nothing
    /// is written and its reason is returned.
    pub fn create_run(
        &self,
        run: NewRun,
        refuse: impl FnOnce(&[RunningRun]) -> Option<String> + Send + 'static,
    ) -> Result<Option<String>, JournalError> {
        let me = Holder::me();
        let token = me.token.clone();
        let rid = run.run_id.clone();
        let refused = self.exec_blocking(move |c| {
            if let Some(why) = refuse(&running_runs(c)?) {
                return Ok(Some(why));
            }
            let t = now();
            c.execute(
                "INSERT INTO rotation_runs (run_id, created_at, plan_path, plan, status, updated_at) VALUES (?1, ?2, ?3, ?4, 'running', ?2)",
                params![run.run_id, t, run.plan_path, run.plan],
            )?;
            let mut ins = c.prepare("INSERT INTO rotation_secrets (run_id, secret, state, step, reason, prev_ids, updated_at) VALUES (?1, ?2, ?3, ?3, ?4, '{}', ?5)")?;
            let mut sk = c.prepare("INSERT INTO rotation_sinks (run_id, secret, idx, label, state) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for s in &run.secrets {
                ins.execute(params![run.run_id, s.name, s.state, s.reason, t])?;
                for (i, label) in s.sinks.iter().enumerate() {
                    sk.execute(params![run.run_id, s.name, i as i64, label, SinkState::Pending])?;
                }
            }
            if let Err(h) = acquire_in(c, &run.run_id, &me)? {
                // a brand-new run id cannot be held by anyone else
                return Ok(Some(format!("run {} is held by {h}", run.run_id)));
            }
            Ok(None)
        })?;
        if refused.is_none() {
            self.note_acquired(&rid, token);
        }
        Ok(refused)
    }

    /// The unfinished runs of the store, oldest first.
    pub fn running_runs(&self) -> Result<Vec<RunningRun>, JournalError> {
        self.exec_blocking(running_runs)
    }

    /// The most recent run id, if any.
    pub fn latest_run(&self) -> Result<Option<String>, JournalError> {
        self.exec_blocking(|c| {
            c.query_row(
                "SELECT run_id FROM rotation_runs ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The plan text recorded with a run, if the run exists.
    pub fn run_plan(&self, run_id: &str) -> Result<Option<String>, JournalError> {
        let rid = run_id.to_string();
        self.exec_blocking(move |c| {
            c.query_row("SELECT plan FROM rotation_runs WHERE run_id = ?1", [rid], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Marks a run finished, or still running.
    pub async fn set_run_finished(&self, run_id: &str, finished: bool) -> Result<(), JournalError> {
        let rid = run_id.to_string();
        let st = if finished { "finished" } else { "running" };
        self.exec(move |c| {
            c.execute(
                "UPDATE rotation_runs SET status = ?2, updated_at = ?3 WHERE run_id = ?1",
                params![rid, st, now()],
            )
            .map(|_| ())
        })
        .await
    }

    /// Each secret of a run as `rotate status` shows it, in plan order.
    pub fn status_rows(&self, run_id: &str) -> Result<Vec<StatusRow>, JournalError> {
        let rid = run_id.to_string();
        self.exec_blocking(move |c| {
            let mut q = c.prepare(
                "SELECT s.secret, s.state, s.step, s.new_id, s.new_fp, s.prev_ids, s.reason, s.updated_at,
                        (SELECT count(*) FROM rotation_sinks k WHERE k.run_id = s.run_id AND k.secret = s.secret AND k.state IN ('written','verified')),
                        (SELECT count(*) FROM rotation_sinks k WHERE k.run_id = s.run_id AND k.secret = s.secret AND k.state = 'verified')
                 FROM rotation_secrets s WHERE s.run_id = ?1 ORDER BY s.rowid",
            )?;
            let rows = q
                .query_map([&rid], |r| {
                    Ok(StatusRow {
                        secret: r.get(0)?,
                        state: r.get(1)?,
                        step: r.get(2)?,
                        new_id: r.get(3)?,
                        new_fp: r.get(4)?,
                        info: info_of(r.get(5)?),
                        reason: r.get(6)?,
                        updated_at: r.get(7)?,
                        sinks_written: r.get::<_, i64>(8)? as usize,
                        sinks_verified: r.get::<_, i64>(9)? as usize,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The state of each secret of a run, in plan order.
    pub async fn secret_states(&self, run_id: &str) -> Result<Vec<(String, State)>, JournalError> {
        let rid = run_id.to_string();
        self.exec(move |c| {
            let mut q =
                c.prepare("SELECT secret, state FROM rotation_secrets WHERE run_id = ?1 ORDER BY rowid")?;
            let v = q
                .query_map([rid], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
        .await
    }

    /// One secret of a run with its sinks: what the engine resumes from.
    pub async fn load_secret(&self, run_id: &str, secret: &str) -> Result<SecretRow, JournalError> {
        let (rid, s) = (run_id.to_string(), secret.to_string());
        self.exec(move |c| {
            let mut row = c.query_row(
                "SELECT state, step, attempt, idem_key, new_id, new_fp, new_enc, pending_enc, prev_ids FROM rotation_secrets WHERE run_id = ?1 AND secret = ?2",
                params![rid, s],
                |r| {
                    Ok(SecretRow {
                        state: r.get(0)?,
                        step: r.get(1)?,
                        attempt: r.get(2)?,
                        idem: r.get(3)?,
                        new_id: r.get(4)?,
                        new_fp: r.get(5)?,
                        new_enc: r.get(6)?,
                        pending_enc: r.get(7)?,
                        info: info_of(r.get(8)?),
                        sinks: Vec::new(),
                    })
                },
            )?;
            let mut q = c.prepare("SELECT state, written_at FROM rotation_sinks WHERE run_id = ?1 AND secret = ?2 ORDER BY idx")?;
            row.sinks = q
                .query_map(params![rid, s], |r| {
                    Ok(SinkRow {
                        state: r.get(0)?,
                        written_at: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(row)
        })
        .await
    }

    /// Records a step of `secret`: its journal entry and its change, in one transaction,
    /// durable when this returns. A change of the secret's state is checked first against
    /// [`State::can_go_to`] from the recorded state: a move the table does not allow is
    /// refused with [`JournalError::Transition`] and nothing is written.
    pub async fn record(
        &self,
        run_id: &str,
        secret: &str,
        entry: Entry,
        change: Change,
    ) -> Result<(), JournalError> {
        let (rid, s) = (run_id.to_string(), secret.to_string());
        self.exec(move |c| record_in(c, &rid, &s, entry, change))
            .await?
            .map_err(|(from, to)| JournalError::Transition {
                run_id: run_id.to_string(),
                secret: secret.to_string(),
                from,
                to,
            })
    }
}

struct Writer {
    conn: Connection,
    path: String,
    poison: Arc<Mutex<Option<String>>>,
    held: Arc<Mutex<HashMap<String, Held>>>,
}

impl Writer {
    fn run(self, rx: mpsc::Receiver<Box<dyn Job>>) {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while jobs.len() < 512 {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            self.group(jobs);
        }
    }

    fn poisoned(&self) -> Option<JournalError> {
        self.poison
            .lock()
            .expect("poison")
            .clone()
            .map(|cause| JournalError::Poisoned {
                path: self.path.clone(),
                cause,
            })
    }

    /// Marks the journal poisoned (first cause wins) and returns the error to answer with.
    fn poison(&self, cause: String) -> JournalError {
        tracing::error!(store = %self.path, %cause, "journal commit failed; no further step is taken");
        let mut p = self.poison.lock().expect("poison");
        if p.is_none() {
            *p = Some(cause);
        }
        JournalError::Poisoned {
            path: self.path.clone(),
            cause: p.clone().unwrap_or_default(),
        }
    }

    fn fence(&self) -> Result<(), String> {
        let held: Vec<(String, String)> = self
            .held
            .lock()
            .expect("held")
            .iter()
            .map(|(k, v)| (k.clone(), v.token.clone()))
            .collect();
        for (rid, tok) in held {
            let cur: Option<String> = self
                .conn
                .query_row(
                    "SELECT token FROM rotation_locks WHERE run_id = ?1",
                    [&rid],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| e.to_string())?;
            if cur.as_deref() != Some(tok.as_str()) {
                return Err(format!("the lock of run {rid} was taken over by another process"));
            }
        }
        Ok(())
    }

    fn group(&self, jobs: Vec<Box<dyn Job>>) {
        if let Some(e) = self.poisoned() {
            for j in jobs {
                j.finish(Some(e.clone()));
            }
            return;
        }
        let fail_all = |jobs: Vec<Box<dyn Job>>, e: JournalError| {
            for j in jobs {
                j.finish(Some(e.clone()));
            }
        };
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let e = self.poison(format!("cannot begin a transaction: {e}"));
            return fail_all(jobs, e);
        }
        if let Err(m) = self.fence() {
            let _ = self.conn.execute_batch("ROLLBACK");
            let e = self.poison(m);
            return fail_all(jobs, e);
        }
        let mut jobs = jobs;
        let mut broken: Option<String> = None;
        for job in jobs.iter_mut() {
            if let Err(e) = self.conn.execute_batch("SAVEPOINT job") {
                broken = Some(format!("savepoint: {e}"));
                break;
            }
            let ok = job.run(&self.conn);
            if self.conn.is_autocommit() {
                // SQLite rolled the whole transaction back (full disk, I/O error, ...)
                broken = Some(format!(
                    "the transaction was rolled back by SQLite: {}",
                    job.error_text().unwrap_or_else(|| "I/O error".into())
                ));
                break;
            }
            if !ok && job.io_failure() {
                broken = Some(format!(
                    "a write failed: {}",
                    job.error_text().unwrap_or_else(|| "I/O error".into())
                ));
                break;
            }
            if !ok {
                if let Err(e) = self.conn.execute_batch("ROLLBACK TO job") {
                    broken = Some(format!("rollback to savepoint: {e}"));
                    break;
                }
            }
            if let Err(e) = self.conn.execute_batch("RELEASE job") {
                broken = Some(format!("release savepoint: {e}"));
                break;
            }
        }
        if let Some(m) = broken {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            let e = self.poison(m);
            return fail_all(jobs, e);
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            let e = self.poison(format!("commit failed: {e}"));
            return fail_all(jobs, e);
        }
        crash_point();
        for j in jobs {
            j.finish(None);
        }
    }
}

/// Now, RFC 3339 with microseconds, UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_0600_wal_and_groups_commits() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.db");
        let j = Journal::open(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let mode: String = j
            .exec_blocking(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = j
            .exec_blocking(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut hs = Vec::new();
            for i in 0..50 {
                let j = j.clone();
                hs.push(async move {
                    j.exec(move |c| {
                        c.execute(
                            "INSERT INTO rotation_journal (run_id, secret, step, phase, at) VALUES ('r', ?1, 'x', 'intent', 't')",
                            [format!("s{i}")],
                        )
                    })
                    .await
                    .unwrap()
                });
            }
            for h in hs {
                h.await;
            }
        });
        let n: i64 = j
            .exec_blocking(|c| c.query_row("SELECT count(*) FROM rotation_journal", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 50);
        // a failing job does not poison the others
        assert!(j
            .exec_blocking(|c| c.execute("INSERT INTO nope VALUES (1)", []))
            .is_err());
        assert!(j
            .exec_blocking(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .is_ok());
    }

    fn count(p: &Path) -> i64 {
        let j = Journal::open(p).unwrap();
        j.exec_blocking(|c| c.query_row("SELECT count(*) FROM rotation_journal", [], |r| r.get(0)))
            .unwrap()
    }

    fn insert(j: &Journal, name: &str) -> Result<usize, JournalError> {
        let n = name.to_string();
        j.exec_blocking(move |c| {
            c.execute(
                "INSERT INTO rotation_journal (run_id, secret, step, phase, at) VALUES ('r', ?1, 'x', 'intent', 't')",
                [n],
            )
        })
    }

    /// A commit that fails is never answered as durable, and nothing is written after it.
    #[test]
    fn a_failed_commit_is_reported_and_poisons_the_journal() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.db");
        let j = Journal::open(&p).unwrap();
        // SQLite turns a COMMIT into a ROLLBACK when the commit hook says so: an
        // injected commit failure at exactly the third commit from here
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n2 = n.clone();
        j.exec_blocking(move |c| {
            c.commit_hook(Some(move || n2.fetch_add(1, Ordering::SeqCst) + 1 == 3));
            Ok(())
        })
        .unwrap();
        insert(&j, "a").unwrap();
        let e = insert(&j, "b").unwrap_err();
        assert!(matches!(e, JournalError::Poisoned { .. }), "{e}");
        assert!(e.to_string().contains("rotate resume"), "{e}");
        // later steps are refused without reaching the store
        let e = insert(&j, "c").unwrap_err();
        assert!(e.is_fatal(), "{e}");
        assert!(j.poisoned().is_some());
        assert_eq!(n.load(Ordering::SeqCst), 3, "no commit after the failed one");
        drop(j);
        assert_eq!(count(&p), 1, "only the step answered Ok is in the store");
    }

    /// A full store (SQLite's SQLITE_FULL, here from a page budget) poisons the journal
    /// at the failing write; what was answered Ok before stays.
    #[test]
    fn a_full_store_poisons_the_journal() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.db");
        let j = Journal::open(&p).unwrap();
        j.exec_blocking(|c| {
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            c.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))
        })
        .unwrap();
        let mut ok = 0;
        let mut first_err = None;
        for i in 0..200 {
            let big = format!("{i}-{}", "x".repeat(2000));
            match insert(&j, &big) {
                Ok(_) => {
                    assert!(first_err.is_none(), "a step succeeded after a failure");
                    ok += 1
                }
                Err(e) => {
                    assert!(e.is_fatal(), "{e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        let e = first_err.expect("the page budget was never reached");
        assert!(e.to_string().contains("full"), "{e}");
        assert!(ok > 0);
        drop(j);
        assert_eq!(count(&p), ok as i64);
    }

    fn dead_pid() -> i64 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id() as i64;
        c.wait().unwrap();
        pid
    }

    #[test]
    fn one_process_per_run_and_dead_holders_are_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.db");
        let a = Journal::open(&p).unwrap();
        let b = Journal::open(&p).unwrap();
        a.acquire("run-1").unwrap();
        a.acquire("run-1").unwrap(); // re-entrant for its holder
        let e = b.acquire("run-1").unwrap_err().to_string();
        assert!(
            e.contains(&format!("pid {}", std::process::id())) && e.contains("run-1"),
            "{e}"
        );
        b.acquire("run-2").unwrap(); // other runs are free
        a.release("run-1");
        b.acquire("run-1").unwrap();
        drop(b); // dropping the journal releases its locks
        a.acquire("run-2").unwrap();

        // a holder on this host whose process is gone is taken over
        let host = hostname();
        let dead = dead_pid();
        a.exec_blocking(move |c| {
            c.execute(
                "INSERT INTO rotation_locks (run_id, token, pid, pid_start, host, command, acquired_at, lease_until) VALUES ('run-3', 't', ?1, NULL, ?2, 'x', 'then', '9999')",
                params![dead, host],
            )
        })
        .unwrap();
        a.acquire("run-3").unwrap();
        // another host: refused while its lease runs, taken over after
        a.exec_blocking(|c| {
            c.execute(
                "INSERT INTO rotation_locks (run_id, token, pid, pid_start, host, command, acquired_at, lease_until) VALUES ('run-4', 't', 1, NULL, 'elsewhere.invalid', 'x', 'then', '9999-01-01T00:00:00Z'), ('run-5', 't', 1, NULL, 'elsewhere.invalid', 'x', 'then', '2000-01-01T00:00:00Z')",
                [],
            )
        })
        .unwrap();
        let e = a.acquire("run-4").unwrap_err().to_string();
        assert!(e.contains("elsewhere.invalid"), "{e}");
        a.acquire("run-5").unwrap();
    }

    /// Fencing: a journal whose lock was taken over writes nothing more.
    #[test]
    fn a_journal_whose_lock_was_taken_over_stops() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.db");
        let a = Journal::open(&p).unwrap();
        let b = Journal::open(&p).unwrap();
        a.acquire("run-1").unwrap();
        insert(&a, "before").unwrap();
        b.exec_blocking(|c| c.execute("UPDATE rotation_locks SET token = 'someone-else'", []))
            .unwrap();
        let e = insert(&a, "after").unwrap_err();
        assert!(e.to_string().contains("taken over"), "{e}");
        drop((a, b));
        assert_eq!(count(&p), 1);
    }

    fn one_secret_run(j: &Journal, refuse: Option<&str>) -> Option<String> {
        let run = NewRun {
            run_id: "r1".into(),
            plan_path: "plan.toml".into(),
            plan: String::new(),
            secrets: vec![NewSecret {
                name: "A".into(),
                state: State::Pending,
                reason: None,
                sinks: vec!["circleci_env gh/o/r A".into()],
            }],
        };
        let refuse = refuse.map(str::to_string);
        j.create_run(run, move |_| refuse).unwrap()
    }

    /// The transition table is enforced where steps are recorded: a move it does not allow
    /// is refused (not fatal) and leaves no trace; an allowed one is stored by its name.
    #[test]
    fn a_step_the_transition_table_forbids_is_refused_and_nothing_is_recorded() {
        let d = tempfile::tempdir().unwrap();
        let j = Journal::open(&d.path().join("s.db")).unwrap();
        assert_eq!(one_secret_run(&j, Some("overlaps")), Some("overlaps".to_string()));
        assert!(
            j.running_runs().unwrap().is_empty(),
            "a refused run writes nothing"
        );
        assert_eq!(one_secret_run(&j, None), None);
        let running = j.running_runs().unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].sinks, vec!["circleci_env gh/o/r A".to_string()]);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let done = Change::Secret(SecretChange::Done { records: vec![] });
            let e = j
                .record("r1", "A", Entry::new(Step::RevokeOld, Phase::Result), done)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    JournalError::Transition {
                        from: State::Pending,
                        to: State::Done,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(!e.is_fatal());
            assert!(e.to_string().contains("from pending to done"), "{e}");
            let n: i64 = j
                .exec(|c| c.query_row("SELECT count(*) FROM rotation_journal", [], |r| r.get(0)))
                .await
                .unwrap();
            assert_eq!(n, 0, "a refused step leaves no journal entry");
            let intent = SecretChange::IssueIntent {
                idem: "fbr-1".into(),
                pending_enc: None,
                info: "{}".into(),
            };
            j.record(
                "r1",
                "A",
                Entry::new(Step::Issue, Phase::Intent).idem(Some("fbr-1")),
                Change::Secret(intent),
            )
            .await
            .unwrap();
            let row = j.load_secret("r1", "A").await.unwrap();
            assert_eq!((row.state, row.step), (State::Issuing, State::Issuing));
            assert_eq!(row.idem.as_deref(), Some("fbr-1"));
            assert_eq!(row.sinks.len(), 1);
            assert_eq!(row.sinks[0].state, SinkState::Pending);
            let (stored, entry): (String, String) = j
                .exec(|c| {
                    c.query_row(
                        "SELECT (SELECT state FROM rotation_secrets), (SELECT step || ' ' || phase FROM rotation_journal)",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                })
                .await
                .unwrap();
            assert_eq!((stored.as_str(), entry.as_str()), ("issuing", "issue intent"));
            // issuing cannot skip to written
            let e = j
                .record(
                    "r1",
                    "A",
                    Entry::new(Step::WriteSinks, Phase::Result),
                    Change::Secret(SecretChange::Reached(State::Written)),
                )
                .await
                .unwrap_err();
            assert!(matches!(e, JournalError::Transition { .. }), "{e}");
        });
    }
}
