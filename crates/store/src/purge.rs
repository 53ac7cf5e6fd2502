//! The purge journal (migration 5): what `firebreak inventory purge` deleted from a
//! retired provider, written before each delete request and again with its outcome, so
//! that a run cut short is resumed by running it again and the record of what was
//! removed survives.

use crate::{fmt_time, parse_time, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// One line of the purge journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeEntry {
    /// Order of writing.
    pub seq: i64,
    /// The retired provider.
    pub provider: String,
    /// The secret (`provider/kind/scope/name`).
    pub identity: String,
    /// `deleting` (before the request), then `deleted`, `gone` (404: deleted earlier) or
    /// `failed`; `kept` when the plan kept it.
    pub step: String,
    /// Where its replacement lives, when proven.
    pub replacement: Option<String>,
    /// Reason or error (no value: secrets are never read).
    pub detail: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl PurgeEntry {
    /// A line written now.
    pub fn now(provider: &str, identity: &str, step: &str) -> PurgeEntry {
        PurgeEntry {
            seq: 0,
            provider: provider.into(),
            identity: identity.into(),
            step: step.into(),
            replacement: None,
            detail: None,
            at: Utc::now(),
        }
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PurgeEntry> {
    Ok(PurgeEntry {
        seq: r.get(0)?,
        provider: r.get(1)?,
        identity: r.get(2)?,
        step: r.get(3)?,
        replacement: r.get(4)?,
        detail: r.get(5)?,
        at: parse_time(r.get(6)?).unwrap_or_default(),
    })
}

impl Store {
    /// Appends a line to the purge journal.
    pub fn journal_purge(&mut self, e: &PurgeEntry) -> Result<i64> {
        let path = self.path.display().to_string();
        crate::busy_retry(|| {
            self.conn.execute(
                "INSERT INTO purges (provider, identity, step, replacement, detail, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.provider, e.identity, e.step, e.replacement, e.detail, fmt_time(e.at)],
            )
        })
        .map_err(|source| StoreError::Sqlite { path, source })?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The latest journal line of one secret.
    pub fn last_purge(&self, identity: &str) -> Result<Option<PurgeEntry>> {
        self.conn
            .query_row(
                "SELECT seq, provider, identity, step, replacement, detail, at FROM purges
                 WHERE identity = ?1 ORDER BY seq DESC LIMIT 1",
                [identity],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The whole purge journal, oldest first.
    pub fn purges(&self) -> Result<Vec<PurgeEntry>> {
        let mut st = self
            .conn
            .prepare("SELECT seq, provider, identity, step, replacement, detail, at FROM purges ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}
