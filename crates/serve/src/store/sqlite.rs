//! SQLite backend (rusqlite, bundled): one writer connection, a pool of read-only
//! connections (WAL mode), prepared statements cached per connection. The tables are
//! firebreak-store's ([`firebreak_store::serve::SQLITE`]), migrated when the store opens.

use super::{publisher_provider, RevokeScope, Store, TokenRecord};
use crate::config::TrustedPublisher;
use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// SQLite store: one writer connection (writes run on the blocking pool, so a write waiting
/// for the database lock never stalls the async workers) and a small pool of read-only
/// connections (WAL lets them read while the writer writes) with cached prepared statements.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    /// Empty for `:memory:` (a private in-memory database has one connection): reads use the writer.
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        hash_hex: r.get(1)?,
        project: r.get(2)?,
        provider: r.get(3)?,
        origin: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
        last_used_at: r.get(8)?,
    })
}

const COLS: &str = "id, hash, project, provider, origin, created_at, expires_at, revoked_at, last_used_at";
const BY_HASH: &str = "SELECT id, hash, project, provider, origin, created_at, expires_at, revoked_at, last_used_at FROM tokens WHERE hash = ?1";

impl SqliteStore {
    /// Opens (creating 0600 if needed) the database at `path`; `:memory:` for a private
    /// in-memory one. `readers` read-only connections serve lookups (at least 1).
    pub fn open(path: &str, readers: usize) -> anyhow::Result<SqliteStore> {
        let (conn, readers) = if path == ":memory:" {
            let mut c = Connection::open_in_memory()?;
            init_writer(&mut c)?;
            (c, Vec::new())
        } else {
            let p = std::path::Path::new(path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", dir.display()))?;
            }
            firebreak_store::create_private_file(p)
                .map_err(|e| anyhow::anyhow!("{}: cannot create database file: {e}", p.display()))?;
            let mut c = Connection::open(p)
                .map_err(|e| anyhow::anyhow!("{path}: cannot open SQLite database: {e}"))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            init_writer(&mut c)?;
            // WAL side files inherit the process umask: tighten them too.
            firebreak_store::tighten_side_files(p);
            let mut rs = Vec::new();
            for _ in 0..readers.max(1) {
                let r = Connection::open_with_flags(
                    p,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| anyhow::anyhow!("{path}: cannot open SQLite database for reading: {e}"))?;
                r.busy_timeout(std::time::Duration::from_secs(5))?;
                r.pragma_update(None, "query_only", "ON")?;
                rs.push(Mutex::new(r));
            }
            (c, rs)
        };
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(conn),
                readers,
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// Runs a read on a free read-only connection (inline: WAL readers do not wait for the
    /// writer, and an indexed lookup takes microseconds).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> anyhow::Result<T> {
        let rs = &self.inner.readers;
        if rs.is_empty() {
            let c = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            return Ok(f(&c)?);
        }
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..rs.len() {
            if let Ok(c) = rs[(start + i) % rs.len()].try_lock() {
                return Ok(f(&c)?);
            }
        }
        let c = rs[start % rs.len()].lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(&c)?)
    }

    /// Runs a write on the writer connection, on the blocking pool.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let c = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            f(&c)
        })
        .await
        .map_err(|e| anyhow::anyhow!("sqlite write task: {e}"))?
        .map_err(Into::into)
    }
}

fn init_writer(c: &mut Connection) -> anyhow::Result<()> {
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    firebreak_store::migrate_sqlite(c, &firebreak_store::serve::SQLITE)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_project(&self, name: &str, now: i64) -> anyhow::Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO projects(name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![name, now],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn project_exists(&self, name: &str) -> anyhow::Result<bool> {
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM projects WHERE name = ?1")?
                .query_row(params![name], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
        })
    }

    async fn insert_token(&self, t: &TokenRecord) -> anyhow::Result<()> {
        let t = t.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO tokens({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    t.id,
                    t.hash_hex,
                    t.project,
                    t.provider,
                    t.origin,
                    t.created_at,
                    t.expires_at,
                    t.revoked_at,
                    t.last_used_at
                ],
            )
            .map(|_| ())
        })
        .await
    }

    async fn token_by_hash(&self, hash_hex: &str) -> anyhow::Result<Option<TokenRecord>> {
        self.read(|c| {
            c.prepare_cached(BY_HASH)?
                .query_row(params![hash_hex], row_to_token)
                .optional()
        })
    }

    async fn touch_token(&self, id: &str, now: i64) -> anyhow::Result<()> {
        let id = id.to_string();
        self.write(move |c| {
            c.prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![id, now])
                .map(|_| ())
        })
        .await
    }

    async fn list_tokens(
        &self,
        project: Option<&str>,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<TokenRecord>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLS} FROM tokens WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR provider = ?2) ORDER BY created_at, id"
            ))?;
            let rows = st.query_map(params![project, provider], row_to_token)?;
            rows.collect()
        })
    }

    async fn revoke(&self, scope: &RevokeScope, now: i64) -> anyhow::Result<Vec<String>> {
        let (sql, a, b): (&str, String, Option<String>) = match scope {
            RevokeScope::Token(id) => ("id = ?2", id.clone(), None),
            RevokeScope::Provider { project, provider } => (
                "project = ?2 AND provider = ?3",
                project.clone(),
                Some(provider.clone()),
            ),
            RevokeScope::Project(p) => ("project = ?2", p.clone(), None),
            RevokeScope::ProviderAll(p) => ("provider = ?2", p.clone(), None),
        };
        self.write(move |c| {
            let q =
                format!("UPDATE tokens SET revoked_at = ?1 WHERE revoked_at IS NULL AND {sql} RETURNING id");
            let mut st = c.prepare(&q)?;
            let ids: rusqlite::Result<Vec<String>> = match b {
                Some(b) => st.query_map(params![now, a, b], |r| r.get(0))?.collect(),
                None => st.query_map(params![now, a], |r| r.get(0))?.collect(),
            };
            let mut ids = ids?;
            ids.sort();
            Ok(ids)
        })
        .await
    }

    async fn add_publisher(&self, project: &str, p: &TrustedPublisher, now: i64) -> anyhow::Result<bool> {
        let spec = serde_json::to_string(p)?;
        let (project, provider) = (project.to_string(), publisher_provider(p));
        self.write(move |c| {
            c.execute(
                "INSERT INTO publishers(project, provider, spec, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(project, spec) DO NOTHING",
                params![project, provider, spec, now],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn publishers(&self, project: &str) -> anyhow::Result<Vec<TrustedPublisher>> {
        let specs: Vec<String> = self.read(|c| {
            let mut st = c.prepare_cached("SELECT spec FROM publishers WHERE project = ?1 ORDER BY id")?;
            let rows = st.query_map(params![project], |r| r.get(0))?;
            rows.collect()
        })?;
        specs
            .iter()
            .map(|s| serde_json::from_str(s).map_err(|e| anyhow::anyhow!("stored publisher: {e}")))
            .collect()
    }

    async fn record_jti(&self, iss: &str, jti: &str, exp: i64, now: i64) -> anyhow::Result<bool> {
        let (iss, jti) = (iss.to_string(), jti.to_string());
        self.write(move |c| {
            c.execute("DELETE FROM oidc_jti WHERE expires_at < ?1", params![now])?;
            c.execute(
                "INSERT INTO oidc_jti(iss, jti, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT(iss, jti) DO NOTHING",
                params![iss, jti, exp],
            )
            .map(|n| n == 1)
        })
        .await
    }
}
