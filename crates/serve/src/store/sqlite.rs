//! SQLite backend (rusqlite, bundled). One connection behind a mutex; queries are short.

use super::{publisher_provider, RevokeScope, Store, TokenRecord};
use crate::config::TrustedPublisher;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS projects (
  name TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  project TEXT NOT NULL REFERENCES projects(name),
  provider TEXT NOT NULL,
  origin TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS tokens_project_provider ON tokens(project, provider);
CREATE INDEX IF NOT EXISTS tokens_provider ON tokens(provider);
CREATE TABLE IF NOT EXISTS publishers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project TEXT NOT NULL REFERENCES projects(name),
  provider TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE(project, spec)
);
CREATE TABLE IF NOT EXISTS oidc_jti (
  iss TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (iss, jti)
);
";

/// SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
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

impl SqliteStore {
    /// Opens (creating 0600 if needed) the database at `path`; `:memory:` for a private in-memory one.
    pub fn open(path: &str) -> anyhow::Result<SqliteStore> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            let p = std::path::Path::new(path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", dir.display()))?;
            }
            create_private(p)?;
            let c = Connection::open(p)
                .map_err(|e| anyhow::anyhow!("{path}: cannot open SQLite database: {e}"))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> anyhow::Result<T> {
        let c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(&c)?)
    }
}

fn create_private(p: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "{}: cannot create database file: {e}",
            p.display()
        )),
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_project(&self, name: &str, now: i64) -> anyhow::Result<bool> {
        self.with(|c| {
            c.execute(
                "INSERT INTO projects(name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![name, now],
            )
            .map(|n| n == 1)
        })
    }

    async fn project_exists(&self, name: &str) -> anyhow::Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM projects WHERE name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
        })
    }

    async fn insert_token(&self, t: &TokenRecord) -> anyhow::Result<()> {
        self.with(|c| {
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
    }

    async fn token_by_hash(&self, hash_hex: &str) -> anyhow::Result<Option<TokenRecord>> {
        self.with(|c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM tokens WHERE hash = ?1"))?
                .query_row(params![hash_hex], row_to_token)
                .optional()
        })
    }

    async fn touch_token(&self, id: &str, now: i64) -> anyhow::Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map(|_| ())
        })
    }

    async fn list_tokens(
        &self,
        project: Option<&str>,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<TokenRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLS} FROM tokens WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR provider = ?2) ORDER BY created_at, id"
            ))?;
            let rows = st.query_map(params![project, provider], row_to_token)?;
            rows.collect()
        })
    }

    async fn revoke(&self, scope: &RevokeScope, now: i64) -> anyhow::Result<Vec<String>> {
        let (sql, a, b): (&str, &str, Option<&str>) = match scope {
            RevokeScope::Token(id) => ("id = ?2", id.as_str(), None),
            RevokeScope::Provider { project, provider } => (
                "project = ?2 AND provider = ?3",
                project.as_str(),
                Some(provider.as_str()),
            ),
            RevokeScope::Project(p) => ("project = ?2", p.as_str(), None),
            RevokeScope::ProviderAll(p) => ("provider = ?2", p.as_str(), None),
        };
        self.with(|c| {
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
    }

    async fn add_publisher(&self, project: &str, p: &TrustedPublisher, now: i64) -> anyhow::Result<bool> {
        let spec = serde_json::to_string(p)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO publishers(project, provider, spec, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(project, spec) DO NOTHING",
                params![project, publisher_provider(p), spec, now],
            )
            .map(|n| n == 1)
        })
    }

    async fn publishers(&self, project: &str) -> anyhow::Result<Vec<TrustedPublisher>> {
        let specs: Vec<String> = self.with(|c| {
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
        self.with(|c| {
            c.execute("DELETE FROM oidc_jti WHERE expires_at < ?1", params![now])?;
            c.execute(
                "INSERT INTO oidc_jti(iss, jti, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT(iss, jti) DO NOTHING",
                params![iss, jti, exp],
            )
            .map(|n| n == 1)
        })
    }
}
