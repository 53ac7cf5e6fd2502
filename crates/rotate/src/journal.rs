//! The durable journal: SQLite (WAL, `synchronous=FULL`, `secure_delete=ON`), tables
//! prefixed `rotation_`, in the same store file as the rest of firebreak.
//!
//! One writer thread owns the connection and commits in groups: every job queued while a
//! commit is in flight goes into the next transaction (each job in its own savepoint), and
//! a job's caller is answered only once its transaction is durable. So "record the intent,
//! then act" holds for every worker while the fsync cost is shared.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;

type Done = Box<dyn FnOnce() + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Done) + Send>;

/// Why the journal failed.
#[derive(Debug, thiserror::Error)]
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
}

/// The schema of the rotation tables.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS rotation_runs (
    run_id      TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    plan_path   TEXT NOT NULL,
    plan        TEXT NOT NULL,
    status      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rotation_secrets (
    run_id      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    state       TEXT NOT NULL,
    step        TEXT NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0,
    idem_key    TEXT,
    new_id      TEXT,
    new_fp      TEXT,
    new_enc     BLOB,
    pending_enc BLOB,
    prev_ids    TEXT,
    reason      TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, secret)
);
CREATE TABLE IF NOT EXISTS rotation_sinks (
    run_id      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    label       TEXT NOT NULL,
    state       TEXT NOT NULL,
    fp          TEXT,
    written_at  TEXT,
    verified_at TEXT,
    error       TEXT,
    PRIMARY KEY (run_id, secret, idx)
);
CREATE TABLE IF NOT EXISTS rotation_journal (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    step        TEXT NOT NULL,
    sink        INTEGER,
    phase       TEXT NOT NULL,
    idem_key    TEXT,
    status      TEXT,
    detail      TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rotation_journal_secret ON rotation_journal (run_id, secret);
"#;

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

/// Opens (creating 0600 when missing) the store and applies the rotation schema.
pub fn open_connection(path: &Path) -> Result<Connection, JournalError> {
    let err = |e: &dyn std::fmt::Display| JournalError::Sql {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    }
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| err(&e))?;
    }
    // The shared store (0600, WAL, its migrations: snapshots, rotation_records) first.
    drop(firebreak_store::Store::open(path).map_err(|e| err(&e))?);
    let conn = Connection::open(path).map_err(|e| err(&e))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| err(&e))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;",
    )
    .map_err(|e| err(&e))?;
    conn.execute_batch(SCHEMA).map_err(|e| err(&e))?;
    Ok(conn)
}

/// A handle on the journal writer. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Job>,
    path: String,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Opens the store and starts the writer thread.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let conn = open_connection(path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let spath = path.display().to_string();
        std::thread::Builder::new()
            .name("rotation-journal".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| JournalError::Sql {
                path: spath.clone(),
                message: e.to_string(),
            })?;
        Ok(Journal { tx, path: spath })
    }

    /// The store path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        reply: impl FnOnce(Result<R, JournalError>) + Send + 'static,
    ) -> Result<(), JournalError> {
        let path = self.path.clone();
        let job: Job = Box::new(move |c: &Connection| {
            let r = f(c).map_err(|e| JournalError::Sql {
                path,
                message: e.to_string(),
            });
            (r.is_ok(), Box::new(move || reply(r)) as Done)
        });
        self.tx
            .send(job)
            .map_err(|_| JournalError::Closed(self.path.clone()))
    }

    /// Runs `f` in the next group transaction; returns once it is durable.
    pub async fn exec<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| JournalError::Closed(self.path.clone()))?
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
        rx.recv().map_err(|_| JournalError::Closed(self.path.clone()))?
    }
}

fn writer(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < 512 {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let began = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
        let mut done: Vec<Done> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let _ = conn.execute_batch("SAVEPOINT job");
            let (ok, d) = job(&conn);
            if !ok {
                // A failed job's partial writes are undone; the others commit.
                let _ = conn.execute_batch("ROLLBACK TO job");
            }
            let _ = conn.execute_batch("RELEASE job");
            done.push(d);
        }
        if began {
            if let Err(e) = conn.execute_batch("COMMIT") {
                tracing::error!(error = %e, "journal commit failed");
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        crash_point();
        for d in done {
            d();
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
}
