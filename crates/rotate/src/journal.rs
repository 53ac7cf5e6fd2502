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
}
