//! The store: every table firebreak keeps, and their versioned migrations — the embedded
//! SQLite store (snapshots, journals, incidents) and the upload-token service's tables
//! ([`serve`]: SQLite, or PostgreSQL through [`postgres`]).
//!
//! One file (default `$XDG_DATA_HOME/firebreak/firebreak.db`, else
//! `~/.local/share/firebreak/firebreak.db`; `--store PATH` or `FIREBREAK_STORE` override),
//! created with mode 0600, WAL journal, `synchronous=FULL`, foreign keys on. The schema
//! is versioned with `PRAGMA user_version` and applied by [`migrate_sqlite`];
//! [`MIGRATIONS`] is append-only (later capabilities add their tables — rotation
//! journal, incidents — as new entries). Each kind of file is marked with its
//! `PRAGMA application_id` ([`SqliteSchema`]), so a service database is never migrated
//! as a store, nor the reverse.
//!
//! Tables (migration 1):
//! - `snapshots(id, provider, org, started_at, finished_at, item_count, error_count, stats_json)`
//! - `snapshot_items(snapshot_id, identity, provider, kind, scope, name, created_at, updated_at, flags_json)`
//! - `snapshot_errors(snapshot_id, provider, scope, request, status, message)`
//! - `rotation_records(id, identity, provider, kind, scope, name, rotated_at, source, detail)`:
//!   written by `firebreak rotate` when it has rotated a secret; read by
//!   `firebreak inventory verify` for secrets whose provider gives no timestamp.
//!
//! Tables (migration 2, `firebreak incident`):
//! - `incidents(id, name, providers, window_start, window_end, created_at, origin)`
//! - `incident_tasks(incident_id, seq, identity, provider, kind, scope, name, created_at,
//!   updated_at, unlocks, hunt_logs, inferred, detail)`: the playbook, one task per secret
//! - `incident_records(id, incident_id, kind, source, recorded_at, items, malformed, stats)`:
//!   one per hunt / scan / census output recorded into the incident
//! - `incident_events(record_id, incident_id, kind, item_id, at, severity, title, detail)`:
//!   the findings / artifacts of those records (redacted; never a secret value)
//!
//! Table (migration 6, `firebreak incident confirm`):
//! - `incident_confirmations(seq, incident_id, identity, confirmed_at, by_whom, note,
//!   withdrawn)`: a person's word that a task firebreak cannot check is done
//!   (append-only; the latest row of a task wins)
//!
//! Tables (migration 3, `firebreak rotate`; see its `journal` module):
//! - `rotation_runs`, `rotation_secrets`, `rotation_sinks`, `rotation_journal`: the
//!   durable journal of rotation runs (credential material only encrypted)
//! - `rotation_locks(run_id, token, pid, pid_start, host, command, acquired_at,
//!   lease_until)`: the process driving each run (one at a time)
//!
//! Times are stored as RFC 3339 UTC text (millisecond precision) so they sort as text.
//! No secret value is ever stored here by this crate.

#![warn(missing_docs)]

use chrono::{DateTime, SecondsFormat, Utc};
use firebreak_core::model::{Flags, Item, ItemError, Kind, Provider};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How long an operation waits for another process's lock on the store.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// True for SQLite's "database is busy / locked" errors.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` again while it fails with [`is_busy`], for up to [`BUSY_TIMEOUT`]: for the
/// statements SQLite refuses at once instead of waiting on its busy handler.
pub fn busy_retry<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r,
        }
    }
}

/// Environment variable overriding the store location.
pub const STORE_ENV: &str = "FIREBREAK_STORE";

pub mod keyed;
pub mod postgres;
pub mod purge;
pub mod serve;

/// One kind of SQLite database file and its numbered migrations: the firebreak store
/// ([`STORE_SCHEMA`]) or the upload-token service's database ([`serve::SQLITE`]).
/// [`migrate_sqlite`] applies them.
#[derive(Debug, Clone, Copy)]
pub struct SqliteSchema {
    /// Name of the kind, for messages.
    pub name: &'static str,
    /// `PRAGMA application_id` marking files of this kind (set by the first migration
    /// run; a file marked for another kind is refused).
    pub application_id: i32,
    /// Migrations, applied in order; `PRAGMA user_version` = number applied. Append
    /// only: never edit a released entry.
    pub migrations: &'static [&'static str],
}

/// The firebreak store's schema ([`MIGRATIONS`]).
pub const STORE_SCHEMA: SqliteSchema = SqliteSchema {
    name: "firebreak store",
    // "FBST"
    application_id: 0x4642_5354,
    migrations: MIGRATIONS,
};

/// Schema migrations, applied in order; `PRAGMA user_version` = number applied.
/// Append only: never edit a released entry.
pub const MIGRATIONS: &[&str] = &[
    // 1: inventory snapshots and rotation records
    r#"
    CREATE TABLE snapshots (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        provider     TEXT NOT NULL,
        org          TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        finished_at  TEXT NOT NULL,
        item_count   INTEGER NOT NULL,
        error_count  INTEGER NOT NULL,
        stats_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE snapshot_items (
        snapshot_id  INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
        identity     TEXT NOT NULL,
        provider     TEXT NOT NULL,
        kind         TEXT NOT NULL,
        scope        TEXT NOT NULL,
        name         TEXT NOT NULL,
        created_at   TEXT,
        updated_at   TEXT,
        flags_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX snapshot_items_by_snapshot ON snapshot_items(snapshot_id, identity);
    CREATE TABLE snapshot_errors (
        snapshot_id  INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
        provider     TEXT NOT NULL,
        scope        TEXT NOT NULL,
        request      TEXT NOT NULL,
        status       INTEGER,
        message      TEXT NOT NULL
    );
    CREATE TABLE rotation_records (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        identity     TEXT NOT NULL,
        provider     TEXT NOT NULL,
        kind         TEXT NOT NULL,
        scope        TEXT NOT NULL,
        name         TEXT NOT NULL,
        rotated_at   TEXT NOT NULL,
        source       TEXT NOT NULL,
        detail       TEXT
    );
    CREATE INDEX rotation_records_by_identity ON rotation_records(identity, rotated_at);
    "#,
    // 2: incidents (firebreak incident / report / drill)
    r#"
    CREATE TABLE incidents (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        name         TEXT NOT NULL UNIQUE,
        providers    TEXT NOT NULL,
        window_start TEXT NOT NULL,
        window_end   TEXT,
        created_at   TEXT NOT NULL,
        origin       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE incident_tasks (
        incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,
        identity     TEXT NOT NULL,
        provider     TEXT NOT NULL,
        kind         TEXT NOT NULL,
        scope        TEXT NOT NULL,
        name         TEXT NOT NULL,
        created_at   TEXT,
        updated_at   TEXT,
        unlocks      TEXT NOT NULL,
        hunt_logs    TEXT NOT NULL DEFAULT '[]',
        inferred     INTEGER NOT NULL,
        detail       TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (incident_id, identity)
    );
    CREATE TABLE incident_records (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        kind         TEXT NOT NULL,
        source       TEXT NOT NULL,
        recorded_at  TEXT NOT NULL,
        items        INTEGER NOT NULL,
        malformed    INTEGER NOT NULL,
        stats        TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE incident_events (
        record_id    INTEGER NOT NULL REFERENCES incident_records(id) ON DELETE CASCADE,
        incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        kind         TEXT NOT NULL,
        item_id      TEXT NOT NULL,
        at           TEXT,
        severity     TEXT,
        title        TEXT NOT NULL,
        detail       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX incident_events_by_incident ON incident_events(incident_id, kind);
    "#,
    // 3: the rotation journal (`firebreak rotate`; earlier versions created these tables
    // themselves, hence IF NOT EXISTS) and the run locks that make a run exclusive
    r#"
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
    CREATE INDEX IF NOT EXISTS rotation_sinks_label ON rotation_sinks (label);
    CREATE TABLE rotation_locks (
        run_id      TEXT PRIMARY KEY,
        token       TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        pid_start   TEXT,
        host        TEXT NOT NULL,
        command     TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        lease_until TEXT NOT NULL
    );
    "#,
    // 4: the store's fingerprint key, revocations (`firebreak revoke`), and the keyed
    // fingerprints of an incident's old (leaked) values
    r#"
    CREATE TABLE store_key (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        key BLOB NOT NULL CHECK (length(key) = 32)
    );
    INSERT INTO store_key (id, key) VALUES (1, randomblob(32));
    CREATE TABLE revocations (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL,
        validator   TEXT NOT NULL,
        label       TEXT NOT NULL,
        incident    TEXT,
        step        TEXT NOT NULL,
        request     TEXT,
        detail      TEXT,
        at          TEXT NOT NULL
    );
    CREATE INDEX revocations_credential ON revocations (fingerprint, validator);
    CREATE TABLE incident_old_values (
        incident_id      INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        name             TEXT NOT NULL,
        fingerprint      TEXT NOT NULL,
        tail_fingerprint TEXT,
        PRIMARY KEY (incident_id, name)
    );
    "#,
    // 5: the purge journal (`firebreak inventory purge`: secrets deleted from a retired
    // provider)
    r#"
    CREATE TABLE purges (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        provider    TEXT NOT NULL,
        identity    TEXT NOT NULL,
        step        TEXT NOT NULL,
        replacement TEXT,
        detail      TEXT,
        at          TEXT NOT NULL
    );
    CREATE INDEX purges_identity ON purges (identity);
    "#,
    // 6: a person's confirmations of incident tasks firebreak cannot check (`incident
    // confirm`): append-only, the latest row of a task wins (a withdrawal is a row too)
    r#"
    CREATE TABLE incident_confirmations (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        identity     TEXT NOT NULL,
        confirmed_at TEXT NOT NULL,
        by_whom      TEXT NOT NULL,
        note         TEXT NOT NULL,
        withdrawn    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX incident_confirmations_task ON incident_confirmations (incident_id, identity);
    "#,
];

/// Store errors. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// Filesystem failure (creating the directory or the file).
    #[error("store {path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        message: String,
    },
    /// No such snapshot.
    #[error("store {path}: no snapshot with id {id}")]
    NoSnapshot {
        /// The database file.
        path: String,
        /// The id asked for.
        id: i64,
    },
    /// The file is a database of another kind (marked with another `application_id`).
    #[error("store {path}: not a {expected} database (application_id {found:#x})")]
    WrongKind {
        /// The database file.
        path: String,
        /// The kind expected.
        expected: &'static str,
        /// The `application_id` found.
        found: i32,
    },
    /// A PostgreSQL schema name that is not `[a-z0-9_]+` (at most 63 bytes).
    #[error("store: schema name {name:?} must match [a-z0-9_]+ (at most 63 bytes)")]
    InvalidSchemaName {
        /// The name given (first 64 characters).
        name: String,
    },
    /// PostgreSQL failed (see [`postgres`]).
    #[error("store {target}: {source}")]
    Postgres {
        /// The database and schema (never the connection URL, which may hold a password).
        target: String,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// The database is newer than this build.
    #[error(
        "store {path}: schema version {found} is newer than this firebreak ({known}); upgrade firebreak"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// Version in the file.
        found: i64,
        /// Versions known.
        known: i64,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Snapshot header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Id.
    pub id: i64,
    /// Provider.
    pub provider: Provider,
    /// Organisation / group / owner inventoried.
    pub org: String,
    /// Start of the run.
    pub started_at: DateTime<Utc>,
    /// End of the run.
    pub finished_at: DateTime<Utc>,
    /// Items found.
    pub item_count: i64,
    /// Per-item errors recorded.
    pub error_count: i64,
}

/// A full snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Header.
    pub meta: SnapshotMeta,
    /// Items, sorted by identity.
    pub items: Vec<Item>,
    /// Per-item errors.
    pub errors: Vec<ItemError>,
}

/// A snapshot to save.
#[derive(Debug, Clone)]
pub struct NewSnapshot<'a> {
    /// Provider.
    pub provider: Provider,
    /// Organisation.
    pub org: &'a str,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Items.
    pub items: &'a [Item],
    /// Errors.
    pub errors: &'a [ItemError],
    /// Free-form statistics (requests, retries...), stored as JSON.
    pub stats: serde_json::Value,
}

/// A rotation record: firebreak rotated this secret at `rotated_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationRecord {
    /// `provider/kind/scope/name` (see [`firebreak_core::model::identity`]).
    pub identity: String,
    /// Provider.
    pub provider: Provider,
    /// Kind.
    pub kind: Kind,
    /// Scope.
    pub scope: String,
    /// Name.
    pub name: String,
    /// When the new value was written and verified.
    pub rotated_at: DateTime<Utc>,
    /// Who wrote it (e.g. `firebreak rotate` plan/run id, or `manual`).
    pub source: String,
    /// Optional detail (never a value).
    pub detail: Option<String>,
}

/// An incident (migration 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRow {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Breached providers (lowercase names).
    pub providers: Vec<String>,
    /// Exposure window start.
    pub window_start: DateTime<Utc>,
    /// Exposure window end (None: still open).
    pub window_end: Option<DateTime<Utc>>,
    /// When the incident was created.
    pub created_at: DateTime<Utc>,
    /// Where the playbook came from (snapshot ids, file), free-form JSON.
    pub origin: serde_json::Value,
}

/// One task of an incident's playbook: a secret stored in a breached provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentTask {
    /// `provider/kind/scope/name`.
    pub identity: String,
    /// Provider.
    pub provider: Provider,
    /// Kind.
    pub kind: Kind,
    /// Scope.
    pub scope: String,
    /// Name.
    pub name: String,
    /// Created (from the inventory).
    pub created_at: Option<DateTime<Utc>>,
    /// Updated (from the inventory).
    pub updated_at: Option<DateTime<Utc>>,
    /// What the secret unlocks (blast radius), in words.
    pub unlocks: String,
    /// Audit logs to hunt for its misuse.
    pub hunt_logs: Vec<String>,
    /// True when `unlocks` is inferred (from the name) rather than verified.
    pub inferred: bool,
    /// Free-form detail (account id, method...), never a value.
    pub detail: serde_json::Value,
}

/// A hunt / scan / census output recorded into an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// Id (0 when not yet saved).
    pub id: i64,
    /// `hunt`, `scan` or `census`.
    pub kind: String,
    /// Where it came from (file path, or `drill`).
    pub source: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Items (findings / artifacts) recorded.
    pub items: i64,
    /// Malformed input lines skipped.
    pub malformed: i64,
    /// Free-form statistics.
    pub stats: serde_json::Value,
}

/// A person's confirmation that an incident task is done (or its withdrawal): for the
/// tasks firebreak cannot check itself (kinds no API lists, manual steps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskConfirmation {
    /// The task's identity (`IncidentTask::identity`).
    pub identity: String,
    /// When it was confirmed.
    pub confirmed_at: DateTime<Utc>,
    /// Who says so (`--by`, else `$USER`).
    pub by: String,
    /// What they did, in their words (never a secret value: the CLI refuses one).
    pub note: String,
    /// This row withdraws an earlier confirmation.
    pub withdrawn: bool,
}

/// One finding / artifact of a recorded output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    /// The record it belongs to (0 when not yet saved).
    pub record_id: i64,
    /// `hunt_finding`, `scan_finding` or `census_artifact`.
    pub kind: String,
    /// The item's stable id.
    pub item_id: String,
    /// When it happened (hunt event time, artifact upload time).
    pub at: Option<DateTime<Utc>>,
    /// Level (hunt), confidence (scan), `flagged` / `ok` (census).
    pub severity: Option<String>,
    /// One-line description (redacted).
    pub title: String,
    /// Free-form detail (redacted; never a value).
    pub detail: serde_json::Value,
}

/// A rotation run as recorded by `firebreak rotate` (its `rotation_*` tables), read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationRunView {
    /// Run id.
    pub run_id: String,
    /// Created.
    pub created_at: String,
    /// The plan (TOML text).
    pub plan: String,
    /// Run status.
    pub status: String,
    /// Last change.
    pub updated_at: String,
    /// Per-secret state, in plan order.
    pub secrets: Vec<RotationSecretView>,
}

/// One secret of a rotation run, read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationSecretView {
    /// Secret name (in the plan).
    pub secret: String,
    /// State (`pending`, `issuing`, ..., `done`, `stopped`, `manual`...).
    pub state: String,
    /// Step.
    pub step: String,
    /// Last change.
    pub updated_at: String,
}

/// The store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    key: std::sync::OnceLock<[u8; 32]>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The default location: `$FIREBREAK_STORE`, else `$XDG_DATA_HOME/firebreak/firebreak.db`,
/// else `$HOME/.local/share/firebreak/firebreak.db`, else `./firebreak.db`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os(STORE_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("firebreak").join("firebreak.db");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h)
            .join(".local")
            .join("share")
            .join("firebreak")
            .join("firebreak.db");
    }
    PathBuf::from("firebreak.db")
}

/// RFC 3339 text with milliseconds, `Z`.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// Opens (creating with mode 0600 when missing) and migrates the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let io = |message: String| StoreError::Io {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(format!("cannot create directory: {e}")))?;
        }
        create_private(path).map_err(|e| io(format!("cannot create file: {e}")))?;
        let conn = Connection::open(path).map_err(|e| StoreError::Sqlite {
            path: path.display().to_string(),
            source: e,
        })?;
        let mut s = Store {
            conn,
            path: path.to_path_buf(),
            key: std::sync::OnceLock::new(),
        };
        // Another process opening the store at the same moment may hold a lock that
        // SQLite reports as busy without waiting (switching a new file to WAL, a
        // deferred read upgrading): retry the whole set-up until the busy timeout.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match s.init() {
                Err(StoreError::Sqlite { source, .. })
                    if is_busy(&source) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => break r?,
            }
        }
        // WAL side files inherit the process umask; tighten them too.
        tighten_side_files(path);
        Ok(s)
    }

    /// Opens the store at [`default_path`].
    pub fn open_default() -> Result<Store> {
        Store::open(&default_path())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        }
    }

    fn init(&mut self) -> Result<()> {
        // The busy timeout first: every later statement (even the WAL switch) may meet
        // another process opening the same store.
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.err(e))?;
        self.conn
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(|e| self.err(e))?;
        let path = self.path.display().to_string();
        migrate_sqlite_at(&mut self.conn, &STORE_SCHEMA, path).map(|_| ())
    }

    /// The schema version (number of migrations applied).
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Direct access to the connection, for capabilities that add their own tables
    /// through [`MIGRATIONS`].
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Saves a snapshot in one transaction; returns its id.
    pub fn save_snapshot(&mut self, s: &NewSnapshot<'_>) -> Result<i64> {
        let path = self.path.display().to_string();
        let wrap = |e: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let key = self.fingerprint_key()?;
        let tx = self.conn.transaction().map_err(wrap)?;
        tx.execute(
            "INSERT INTO snapshots(provider, org, started_at, finished_at, item_count, error_count, stats_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                s.provider.as_str(),
                s.org,
                fmt_time(s.started_at),
                fmt_time(s.finished_at),
                s.items.len() as i64,
                s.errors.len() as i64,
                s.stats.to_string()
            ],
        )
        .map_err(wrap)?;
        let id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO snapshot_items(snapshot_id, identity, provider, kind, scope, name, created_at, updated_at, flags_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(wrap)?;
            for it in s.items {
                // the store keeps a keyed fingerprint of a shown tail, never the tail
                let mut flags = it.flags.clone();
                if let Some(t) = flags.masked_tail.take() {
                    flags.tail_fingerprint = Some(keyed::keyed(&key, t.expose().as_bytes()));
                }
                // and of a whole value (GitLab), never the value
                if let Some(v) = flags.value.take() {
                    flags.value_fingerprint = Some(keyed::keyed(&key, v.expose().as_bytes()));
                }
                ins.execute(params![
                    id,
                    it.identity(),
                    it.provider.as_str(),
                    it.kind.as_str(),
                    it.scope,
                    it.name,
                    it.created_at.map(fmt_time),
                    it.updated_at.map(fmt_time),
                    serde_json::to_string(&flags).unwrap_or_else(|_| "{}".into())
                ])
                .map_err(wrap)?;
            }
            let mut ins = tx
                .prepare(
                    "INSERT INTO snapshot_errors(snapshot_id, provider, scope, request, status, message)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(wrap)?;
            for e in s.errors {
                ins.execute(params![
                    id,
                    e.provider.as_str(),
                    e.scope,
                    e.request,
                    e.status.map(i64::from),
                    e.message
                ])
                .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(id)
    }

    fn meta_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SnapshotMeta> {
        let provider: String = r.get(1)?;
        Ok(SnapshotMeta {
            id: r.get(0)?,
            provider: provider.parse().unwrap_or(Provider::Circleci),
            org: r.get(2)?,
            started_at: parse_time(r.get(3)?).unwrap_or_default(),
            finished_at: parse_time(r.get(4)?).unwrap_or_default(),
            item_count: r.get(5)?,
            error_count: r.get(6)?,
        })
    }

    /// All snapshots, oldest first.
    pub fn list_snapshots(&self) -> Result<Vec<SnapshotMeta>> {
        let mut st = self
            .conn
            .prepare("SELECT id, provider, org, started_at, finished_at, item_count, error_count FROM snapshots ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], Self::meta_from_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The id of the latest snapshot (optionally of one provider).
    pub fn latest_snapshot_id(&self, provider: Option<Provider>) -> Result<Option<i64>> {
        let r = match provider {
            Some(p) => self
                .conn
                .query_row(
                    "SELECT max(id) FROM snapshots WHERE provider = ?1",
                    [p.as_str()],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .optional(),
            None => self
                .conn
                .query_row("SELECT max(id) FROM snapshots", [], |r| {
                    r.get::<_, Option<i64>>(0)
                })
                .optional(),
        };
        r.map(Option::flatten).map_err(|e| self.err(e))
    }

    /// Loads a snapshot with its items and errors.
    pub fn load_snapshot(&self, id: i64) -> Result<Snapshot> {
        let meta = self
            .conn
            .query_row(
                "SELECT id, provider, org, started_at, finished_at, item_count, error_count FROM snapshots WHERE id = ?1",
                [id],
                Self::meta_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::NoSnapshot {
                path: self.path.display().to_string(),
                id,
            })?;
        let mut st = self
            .conn
            .prepare(
                "SELECT provider, kind, scope, name, created_at, updated_at, flags_json FROM snapshot_items
                 WHERE snapshot_id = ?1 ORDER BY identity",
            )
            .map_err(|e| self.err(e))?;
        let items = st
            .query_map([id], |r| {
                let p: String = r.get(0)?;
                let k: String = r.get(1)?;
                let flags: String = r.get(6)?;
                Ok(Item {
                    provider: p.parse().unwrap_or(Provider::Circleci),
                    kind: k.parse().unwrap_or(Kind::EnvVar),
                    scope: r.get(2)?,
                    name: r.get(3)?,
                    created_at: parse_time(r.get(4)?),
                    updated_at: parse_time(r.get(5)?),
                    flags: serde_json::from_str::<Flags>(&flags).unwrap_or_default(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare("SELECT provider, scope, request, status, message FROM snapshot_errors WHERE snapshot_id = ?1 ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let errors = st
            .query_map([id], |r| {
                let p: String = r.get(0)?;
                Ok(ItemError {
                    provider: p.parse().unwrap_or(Provider::Circleci),
                    scope: r.get(1)?,
                    request: r.get(2)?,
                    status: r.get::<_, Option<i64>>(3)?.map(|s| s as u16),
                    message: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(Snapshot { meta, items, errors })
    }

    /// Appends a rotation record.
    pub fn add_rotation_record(&mut self, r: &RotationRecord) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO rotation_records(identity, provider, kind, scope, name, rotated_at, source, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    r.identity,
                    r.provider.as_str(),
                    r.kind.as_str(),
                    r.scope,
                    r.name,
                    fmt_time(r.rotated_at),
                    r.source,
                    r.detail
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The latest rotation time recorded for `identity`, if any.
    pub fn last_rotation(&self, identity: &str) -> Result<Option<DateTime<Utc>>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT max(rotated_at) FROM rotation_records WHERE identity = ?1",
                [identity],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(parse_time(v))
    }

    /// Every rotation record, oldest first.
    pub fn rotation_records(&self) -> Result<Vec<RotationRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT identity, provider, kind, scope, name, rotated_at, source, detail FROM rotation_records ORDER BY rotated_at, id")
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([], |r| {
                let p: String = r.get(1)?;
                let k: String = r.get(2)?;
                Ok(RotationRecord {
                    identity: r.get(0)?,
                    provider: p.parse().unwrap_or(Provider::Circleci),
                    kind: k.parse().unwrap_or(Kind::EnvVar),
                    scope: r.get(3)?,
                    name: r.get(4)?,
                    rotated_at: parse_time(r.get(5)?).unwrap_or_default(),
                    source: r.get(6)?,
                    detail: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    // ------------------------------------------------------------- incidents (migration 2)

    /// The incident named `name`, if any.
    pub fn incident(&self, name: &str) -> Result<Option<IncidentRow>> {
        self.conn
            .query_row(
                "SELECT id, name, providers, window_start, window_end, created_at, origin FROM incidents WHERE name = ?1",
                [name],
                Self::incident_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every incident, oldest first.
    pub fn incidents(&self) -> Result<Vec<IncidentRow>> {
        let mut st = self
            .conn
            .prepare("SELECT id, name, providers, window_start, window_end, created_at, origin FROM incidents ORDER BY id")
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([], Self::incident_from_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    fn incident_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
        let providers: String = r.get(2)?;
        let origin: String = r.get(6)?;
        Ok(IncidentRow {
            id: r.get(0)?,
            name: r.get(1)?,
            providers: serde_json::from_str(&providers).unwrap_or_default(),
            window_start: parse_time(r.get(3)?).unwrap_or_default(),
            window_end: parse_time(r.get(4)?),
            created_at: parse_time(r.get(5)?).unwrap_or_default(),
            origin: serde_json::from_str(&origin).unwrap_or_default(),
        })
    }

    /// Creates an incident and its playbook in one transaction; returns its id.
    /// `inc.id` is ignored. Fails (unique constraint) when the name is taken.
    pub fn create_incident(&mut self, inc: &IncidentRow, tasks: &[IncidentTask]) -> Result<i64> {
        let path = self.path.display().to_string();
        let wrap = |e: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        tx.execute(
            "INSERT INTO incidents(name, providers, window_start, window_end, created_at, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                inc.name,
                serde_json::to_string(&inc.providers).unwrap_or_else(|_| "[]".into()),
                fmt_time(inc.window_start),
                inc.window_end.map(fmt_time),
                fmt_time(inc.created_at),
                inc.origin.to_string()
            ],
        )
        .map_err(wrap)?;
        let id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT OR REPLACE INTO incident_tasks(incident_id, seq, identity, provider, kind, scope, name, created_at, updated_at, unlocks, hunt_logs, inferred, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(wrap)?;
            for (i, t) in tasks.iter().enumerate() {
                ins.execute(params![
                    id,
                    i as i64,
                    t.identity,
                    t.provider.as_str(),
                    t.kind.as_str(),
                    t.scope,
                    t.name,
                    t.created_at.map(fmt_time),
                    t.updated_at.map(fmt_time),
                    t.unlocks,
                    serde_json::to_string(&t.hunt_logs).unwrap_or_else(|_| "[]".into()),
                    t.inferred,
                    t.detail.to_string()
                ])
                .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(id)
    }

    /// The playbook of an incident, in creation order.
    pub fn incident_tasks(&self, incident_id: i64) -> Result<Vec<IncidentTask>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT identity, provider, kind, scope, name, created_at, updated_at, unlocks, hunt_logs, inferred, detail
                 FROM incident_tasks WHERE incident_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([incident_id], |r| {
                let p: String = r.get(1)?;
                let k: String = r.get(2)?;
                let logs: String = r.get(8)?;
                let detail: String = r.get(10)?;
                Ok(IncidentTask {
                    identity: r.get(0)?,
                    provider: p.parse().unwrap_or(Provider::Circleci),
                    kind: k.parse().unwrap_or(Kind::EnvVar),
                    scope: r.get(3)?,
                    name: r.get(4)?,
                    created_at: parse_time(r.get(5)?),
                    updated_at: parse_time(r.get(6)?),
                    unlocks: r.get(7)?,
                    hunt_logs: serde_json::from_str(&logs).unwrap_or_default(),
                    inferred: r.get(9)?,
                    detail: serde_json::from_str(&detail).unwrap_or_default(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// Records a hunt / scan / census output and its events in one transaction; returns
    /// the record id. `rec.id` and each event's `record_id` are ignored.
    pub fn add_incident_record(
        &mut self,
        incident_id: i64,
        rec: &IncidentRecord,
        events: &[IncidentEvent],
    ) -> Result<i64> {
        let path = self.path.display().to_string();
        let wrap = |e: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        tx.execute(
            "INSERT INTO incident_records(incident_id, kind, source, recorded_at, items, malformed, stats) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                incident_id,
                rec.kind,
                rec.source,
                fmt_time(rec.recorded_at),
                rec.items,
                rec.malformed,
                rec.stats.to_string()
            ],
        )
        .map_err(wrap)?;
        let id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO incident_events(record_id, incident_id, kind, item_id, at, severity, title, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(wrap)?;
            for e in events {
                ins.execute(params![
                    id,
                    incident_id,
                    e.kind,
                    e.item_id,
                    e.at.map(fmt_time),
                    e.severity,
                    e.title,
                    e.detail.to_string()
                ])
                .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(id)
    }

    /// The records of an incident, oldest first.
    pub fn incident_records(&self, incident_id: i64) -> Result<Vec<IncidentRecord>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, kind, source, recorded_at, items, malformed, stats FROM incident_records
                 WHERE incident_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([incident_id], |r| {
                let stats: String = r.get(6)?;
                Ok(IncidentRecord {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    source: r.get(2)?,
                    recorded_at: parse_time(r.get(3)?).unwrap_or_default(),
                    items: r.get(4)?,
                    malformed: r.get(5)?,
                    stats: serde_json::from_str(&stats).unwrap_or_default(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// The events of an incident (all kinds), in record then insertion order.
    pub fn incident_events(&self, incident_id: i64) -> Result<Vec<IncidentEvent>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT record_id, kind, item_id, at, severity, title, detail FROM incident_events
                 WHERE incident_id = ?1 ORDER BY record_id, rowid",
            )
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([incident_id], |r| {
                let detail: String = r.get(6)?;
                Ok(IncidentEvent {
                    record_id: r.get(0)?,
                    kind: r.get(1)?,
                    item_id: r.get(2)?,
                    at: parse_time(r.get(3)?),
                    severity: r.get(4)?,
                    title: r.get(5)?,
                    detail: serde_json::from_str(&detail).unwrap_or_default(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// Records confirmations (or withdrawals) of an incident's tasks, in one transaction.
    pub fn add_task_confirmations(&mut self, incident_id: i64, rows: &[TaskConfirmation]) -> Result<()> {
        let path = self.path.display().to_string();
        let wrap = |e: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        for c in rows {
            tx.execute(
                "INSERT INTO incident_confirmations (incident_id, identity, confirmed_at, by_whom, note, withdrawn)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    incident_id,
                    c.identity,
                    fmt_time(c.confirmed_at),
                    c.by,
                    c.note,
                    c.withdrawn as i64
                ],
            )
            .map_err(wrap)?;
        }
        tx.commit().map_err(wrap)?;
        Ok(())
    }

    /// The confirmations in force for an incident's tasks: per task identity, its latest
    /// row, unless that row withdraws it.
    pub fn task_confirmations(&self, incident_id: i64) -> Result<BTreeMap<String, TaskConfirmation>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT identity, confirmed_at, by_whom, note, withdrawn FROM incident_confirmations
                 WHERE incident_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([incident_id], |r| {
                Ok(TaskConfirmation {
                    identity: r.get(0)?,
                    confirmed_at: parse_time(r.get(1)?).unwrap_or_default(),
                    by: r.get(2)?,
                    note: r.get(3)?,
                    withdrawn: r.get::<_, i64>(4)? != 0,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for c in rows {
            if c.withdrawn {
                out.remove(&c.identity);
            } else {
                out.insert(c.identity.clone(), c);
            }
        }
        Ok(out)
    }

    /// Every rotation run recorded by `firebreak rotate` in this store (its `rotation_runs`
    /// and `rotation_secrets` tables), oldest first; empty when rotate never ran here.
    pub fn rotation_runs_view(&self) -> Result<Vec<RotationRunView>> {
        let present: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('rotation_runs', 'rotation_secrets')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if present < 2 {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare("SELECT run_id, created_at, plan, status, updated_at FROM rotation_runs ORDER BY created_at, rowid")
            .map_err(|e| self.err(e))?;
        let mut runs = st
            .query_map([], |r| {
                Ok(RotationRunView {
                    run_id: r.get(0)?,
                    created_at: r.get(1)?,
                    plan: r.get(2)?,
                    status: r.get(3)?,
                    updated_at: r.get(4)?,
                    secrets: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare("SELECT secret, state, step, updated_at FROM rotation_secrets WHERE run_id = ?1 ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        for run in &mut runs {
            run.secrets = st
                .query_map([&run.run_id], |r| {
                    Ok(RotationSecretView {
                        secret: r.get(0)?,
                        state: r.get(1)?,
                        step: r.get(2)?,
                        updated_at: r.get(3)?,
                    })
                })
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?;
        }
        Ok(runs)
    }
}

/// Applies the pending migrations of `schema` to `conn`; returns the schema version
/// (number of migrations applied).
///
/// Migrations run under the write lock (BEGIN IMMEDIATE), all pending ones in one
/// transaction: two processes opening a fresh database at once apply them once; the
/// second waits (set a busy timeout on `conn` first), then finds them applied. A file
/// newer than this build ([`StoreError::TooNew`]) or marked as another kind of database
/// ([`StoreError::WrongKind`]) is refused, unchanged.
pub fn migrate_sqlite(conn: &mut Connection, schema: &SqliteSchema) -> Result<i64> {
    let path = conn
        .path()
        .filter(|p| !p.is_empty())
        .unwrap_or(":memory:")
        .to_string();
    migrate_sqlite_at(conn, schema, path)
}

/// [`migrate_sqlite`], naming the file `path` in errors.
fn migrate_sqlite_at(conn: &mut Connection, schema: &SqliteSchema, path: String) -> Result<i64> {
    let sql_err = |e: rusqlite::Error| StoreError::Sqlite {
        path: path.clone(),
        source: e,
    };
    let tx = rusqlite::Transaction::new(conn, rusqlite::TransactionBehavior::Immediate).map_err(sql_err)?;
    let app: i32 = tx
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(sql_err)?;
    // 0: a new file, or one written before files were marked
    if app != 0 && app != schema.application_id {
        return Err(StoreError::WrongKind {
            path,
            expected: schema.name,
            found: app,
        });
    }
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql_err)?;
    let known = schema.migrations.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path,
            found: version,
            known,
        });
    }
    if version == known && app == schema.application_id {
        return Ok(version);
    }
    for (i, sql) in schema.migrations.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)
            .and_then(|_| tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1)))
            .map_err(sql_err)?;
    }
    tx.execute_batch(&format!("PRAGMA application_id = {}", schema.application_id))
        .map_err(sql_err)?;
    tx.commit().map_err(sql_err)?;
    Ok(known)
}

/// Creates `path` with mode 0600 when it does not exist (an existing file is left as it
/// is), so a database is never readable by others, not even for a moment.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    create_private(path)
}

/// Sets mode 0600 on the WAL side files of the SQLite database at `path` (`-wal`,
/// `-shm`), which SQLite creates with the process umask.
pub fn tighten_side_files(path: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        set_private(Path::new(&p));
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(|_| ())
}

#[cfg(unix)]
fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(not(unix))]
fn set_private(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, updated: Option<&str>) -> Item {
        Item {
            provider: Provider::Github,
            kind: Kind::ActionsSecret,
            scope: "o/r".into(),
            name: name.into(),
            created_at: None,
            updated_at: updated.map(|u| DateTime::parse_from_rfc3339(u).unwrap().with_timezone(&Utc)),
            flags: Flags {
                visibility: Some("all".into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn snapshot_roundtrip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("fb.db");
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let items = vec![item("B", Some("2023-01-05T00:00:00Z")), item("A", None)];
        let errors = vec![ItemError {
            provider: Provider::Github,
            scope: "o/x".into(),
            request: "GET http://h/repos/o/x/actions/secrets".into(),
            status: Some(403),
            message: "forbidden".into(),
        }];
        let t = Utc::now();
        let id = s
            .save_snapshot(&NewSnapshot {
                provider: Provider::Github,
                org: "o",
                started_at: t,
                finished_at: t,
                items: &items,
                errors: &errors,
                stats: serde_json::json!({"requests": 3}),
            })
            .unwrap();
        let snap = s.load_snapshot(id).unwrap();
        assert_eq!(snap.items.len(), 2);
        assert_eq!(snap.items[0].name, "A");
        assert_eq!(snap.items[1].updated_at, items[0].updated_at);
        assert_eq!(snap.items[1].flags.visibility.as_deref(), Some("all"));
        assert_eq!(snap.errors, errors);
        assert_eq!(s.list_snapshots().unwrap().len(), 1);
        assert_eq!(s.latest_snapshot_id(Some(Provider::Github)).unwrap(), Some(id));
        assert_eq!(s.latest_snapshot_id(Some(Provider::Gitlab)).unwrap(), None);
        assert!(matches!(s.load_snapshot(99), Err(StoreError::NoSnapshot { .. })));
        drop(s);
        // reopen: migrations not re-applied
        let s = Store::open(&p).unwrap();
        assert_eq!(s.list_snapshots().unwrap().len(), 1);
    }

    /// Processes opening a fresh store at once apply the migrations once, under the
    /// write lock, and all succeed (they raced on "table snapshots already exists").
    #[test]
    fn concurrent_first_opens_migrate_once() {
        for round in 0..5 {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join(format!("race-{round}.db"));
            let hs: Vec<_> = (0..6)
                .map(|_| {
                    let p = p.clone();
                    std::thread::spawn(move || Store::open(&p).map(|s| s.schema_version().unwrap()))
                })
                .collect();
            for h in hs {
                let v = h.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert_eq!(v, MIGRATIONS.len() as i64);
            }
        }
    }

    #[test]
    fn rotation_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("fb.db")).unwrap();
        let id = firebreak_core::model::identity(Provider::Gitlab, Kind::ProjectVariable, "g/p", "TOKEN");
        assert_eq!(s.last_rotation(&id).unwrap(), None);
        for t in ["2023-01-05T00:00:00Z", "2023-01-06T00:00:00Z"] {
            s.add_rotation_record(&RotationRecord {
                identity: id.clone(),
                provider: Provider::Gitlab,
                kind: Kind::ProjectVariable,
                scope: "g/p".into(),
                name: "TOKEN".into(),
                rotated_at: DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc),
                source: "test".into(),
                detail: None,
            })
            .unwrap();
        }
        assert_eq!(
            s.last_rotation(&id).unwrap().map(fmt_time).as_deref(),
            Some("2023-01-06T00:00:00.000Z")
        );
        assert_eq!(s.rotation_records().unwrap().len(), 2);
    }

    #[test]
    fn incidents_tasks_records_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("fb.db")).unwrap();
        assert!(s.incidents().unwrap().is_empty());
        assert!(
            s.rotation_runs_view().unwrap().is_empty(),
            "no rotation tables yet"
        );
        let t = |x: &str| DateTime::parse_from_rfc3339(x).unwrap().with_timezone(&Utc);
        let inc = IncidentRow {
            id: 0,
            name: "cci".into(),
            providers: vec!["circleci".into()],
            window_start: t("2022-12-21T00:00:00Z"),
            window_end: None,
            created_at: t("2023-01-05T00:00:00Z"),
            origin: serde_json::json!({"snapshots": [1]}),
        };
        let task = IncidentTask {
            identity: "circleci/env_var/gh/a/b/NPM_TOKEN".into(),
            provider: Provider::Circleci,
            kind: Kind::EnvVar,
            scope: "gh/a/b".into(),
            name: "NPM_TOKEN".into(),
            created_at: None,
            updated_at: Some(t("2021-01-01T00:00:00Z")),
            unlocks: "npm publish rights".into(),
            hunt_logs: vec!["npm".into()],
            inferred: true,
            detail: serde_json::json!({"method": "name"}),
        };
        let id = s.create_incident(&inc, std::slice::from_ref(&task)).unwrap();
        assert!(s.create_incident(&inc, &[]).is_err(), "names are unique");
        let got = s.incident("cci").unwrap().unwrap();
        assert_eq!(
            (got.id, got.window_end, got.providers.clone()),
            (id, None, inc.providers.clone())
        );
        assert_eq!(s.incident_tasks(id).unwrap(), vec![task.clone()]);
        let ev = IncidentEvent {
            record_id: 0,
            kind: "hunt_finding".into(),
            item_id: "h1".into(),
            at: Some(t("2022-12-29T00:00:00Z")),
            severity: Some("high".into()),
            title: "x".into(),
            detail: serde_json::json!({"actor": "a"}),
        };
        let rec = IncidentRecord {
            id: 0,
            kind: "hunt".into(),
            source: "h.jsonl".into(),
            recorded_at: t("2023-01-06T00:00:00Z"),
            items: 1,
            malformed: 0,
            stats: serde_json::json!({}),
        };
        let rid = s
            .add_incident_record(id, &rec, std::slice::from_ref(&ev))
            .unwrap();
        assert_eq!(s.incident_records(id).unwrap()[0].id, rid);
        let evs = s.incident_events(id).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!((evs[0].record_id, evs[0].at), (rid, ev.at));
        assert_eq!(s.incidents().unwrap().len(), 1);

        // confirmations: the latest row of a task wins; a withdrawal removes it
        let conf = |who: &str, withdrawn: bool| TaskConfirmation {
            identity: task.identity.clone(),
            confirmed_at: t("2023-01-07T00:00:00Z"),
            by: who.into(),
            note: "revoked at npmjs.com".into(),
            withdrawn,
        };
        assert!(s.task_confirmations(id).unwrap().is_empty());
        s.add_task_confirmations(id, &[conf("ann", false), conf("bob", false)])
            .unwrap();
        let c = s.task_confirmations(id).unwrap();
        assert_eq!((c.len(), c[&task.identity].by.as_str()), (1, "bob"));
        s.add_task_confirmations(id, &[conf("bob", true)]).unwrap();
        assert!(s.task_confirmations(id).unwrap().is_empty());
    }

    #[test]
    fn default_path_honours_env() {
        // Only reads the environment; the precedence is documented above.
        let p = default_path();
        assert!(p.to_string_lossy().ends_with(".db"));
    }

    fn tables(c: &Connection) -> Vec<String> {
        let mut st = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        let r = st.query_map([], |r| r.get(0)).unwrap();
        r.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn pragma(c: &Connection, name: &str) -> i64 {
        c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap()
    }

    /// A fresh service database migrates to the latest version, holding exactly the
    /// service's tables; migrating again changes nothing.
    #[test]
    fn serve_sqlite_fresh_migrates_to_latest_and_twice_is_a_no_op() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("serve.db");
        let mut c = Connection::open(&p).unwrap();
        let latest = serve::SQLITE.migrations.len() as i64;
        assert_eq!(migrate_sqlite(&mut c, &serve::SQLITE).unwrap(), latest);
        assert_eq!(pragma(&c, "user_version"), latest);
        assert_eq!(pragma(&c, "application_id"), serve::SQLITE.application_id as i64);
        assert_eq!(tables(&c), ["oidc_jti", "projects", "publishers", "tokens"]);
        c.execute("INSERT INTO projects(name, created_at) VALUES ('app', 1)", [])
            .unwrap();
        let changes = c.total_changes();
        assert_eq!(migrate_sqlite(&mut c, &serve::SQLITE).unwrap(), latest);
        assert_eq!(c.total_changes(), changes, "a second migration wrote");
        assert_eq!(pragma(&c, "user_version"), latest);
        let n: i64 = c
            .query_row("SELECT count(*) FROM projects", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        // in memory too
        let mut m = Connection::open_in_memory().unwrap();
        assert_eq!(migrate_sqlite(&mut m, &serve::SQLITE).unwrap(), latest);
        assert_eq!(tables(&m).len(), 4);
    }

    /// A database the service created before its tables were versioned (same tables,
    /// `user_version` 0, no mark) opens: its rows are kept and it is then at the latest
    /// version.
    #[test]
    fn serve_sqlite_unversioned_database_of_the_old_code_is_adopted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("old.db");
        let mut c = Connection::open(&p).unwrap();
        // the schema the service applied itself, verbatim
        c.execute_batch(serve::SQLITE_MIGRATIONS[0]).unwrap();
        c.execute_batch(
            "INSERT INTO projects VALUES ('app', 1);
             INSERT INTO tokens VALUES ('tok_1', 'ab', 'app', 'github', 'admin', 1, 2, NULL, NULL);",
        )
        .unwrap();
        assert_eq!(pragma(&c, "user_version"), 0);
        let latest = serve::SQLITE.migrations.len() as i64;
        assert_eq!(migrate_sqlite(&mut c, &serve::SQLITE).unwrap(), latest);
        assert_eq!(pragma(&c, "user_version"), latest);
        assert_eq!(pragma(&c, "application_id"), serve::SQLITE.application_id as i64);
        let id: String = c.query_row("SELECT id FROM tokens", [], |r| r.get(0)).unwrap();
        assert_eq!(id, "tok_1");
    }

    /// A service database is never migrated as the firebreak store, nor the reverse; a
    /// store written before files were marked is adopted.
    #[test]
    fn sqlite_files_of_another_kind_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let sp = d.path().join("serve.db");
        migrate_sqlite(&mut Connection::open(&sp).unwrap(), &serve::SQLITE).unwrap();
        match Store::open(&sp) {
            Err(StoreError::WrongKind { expected, found, .. }) => {
                assert_eq!(expected, STORE_SCHEMA.name);
                assert_eq!(found, serve::SQLITE.application_id);
            }
            other => panic!("a service database opened as a store: {other:?}"),
        }
        let fp = d.path().join("fb.db");
        drop(Store::open(&fp).unwrap());
        let mut c = Connection::open(&fp).unwrap();
        assert_eq!(pragma(&c, "application_id"), STORE_SCHEMA.application_id as i64);
        assert!(matches!(
            migrate_sqlite(&mut c, &serve::SQLITE),
            Err(StoreError::WrongKind { .. })
        ));
        assert!(
            !tables(&c).contains(&"tokens".to_string()),
            "refused, yet migrated"
        );
        // an unmarked store (written before application_id) is adopted and marked
        c.execute_batch("PRAGMA application_id = 0").unwrap();
        drop(c);
        let s = Store::open(&fp).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        let c = Connection::open(&fp).unwrap();
        assert_eq!(pragma(&c, "application_id"), STORE_SCHEMA.application_id as i64);
    }

    /// A file newer than this build is refused, unchanged.
    #[test]
    fn sqlite_newer_version_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
        let latest = serve::SQLITE.migrations.len() as i64;
        assert!(matches!(
            migrate_sqlite(&mut c, &serve::SQLITE),
            Err(StoreError::TooNew { found: 99, known, .. }) if known == latest
        ));
        assert!(tables(&c).is_empty());
    }
}
