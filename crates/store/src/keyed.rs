//! Keyed fingerprints (migration 4): a value the store must recognise later (an
//! incident's leaked value, a credential `firebreak revoke` handled) is kept only as
//! HMAC-SHA256 under a random key of this store, never as a plain hash, so that a copy of
//! the store cannot be checked against a list of candidate values without the key, and
//! fingerprints from two stores never match.
//!
//! Also here: the revocation journal (`firebreak revoke`) and the fingerprints of an
//! incident's old values.

use crate::{fmt_time, parse_time, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Prefix of a keyed fingerprint (version 1: HMAC-SHA256, hex).
pub const KEYED_PREFIX: &str = "k1:";

/// How many trailing characters CircleCI shows of a stored value (`xxxxABCD`).
pub const TAIL_CHARS: usize = 4;

/// One line of the revocation journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevocationEntry {
    /// Order of writing.
    pub seq: i64,
    /// Keyed fingerprint of the credential (its first part).
    pub fingerprint: String,
    /// Validator id.
    pub validator: String,
    /// What the user calls it: a variable name, or `FILE:LINE`.
    pub label: String,
    /// Incident it was recorded in.
    pub incident: Option<String>,
    /// `sending` (written before the request), then the outcome: `revoked`, `accepted`,
    /// `already_dead`, `failed`, `manual`, `unsupported`.
    pub step: String,
    /// The request, named by its template.
    pub request: Option<String>,
    /// Reason or reply, without any value.
    pub detail: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl RevocationEntry {
    /// A journal line written now (its `seq` is given by the store).
    pub fn now(fingerprint: &str, validator: &str, label: &str, step: &str) -> RevocationEntry {
        RevocationEntry {
            seq: 0,
            fingerprint: fingerprint.to_string(),
            validator: validator.to_string(),
            label: label.to_string(),
            incident: None,
            step: step.to_string(),
            request: None,
            detail: None,
            at: Utc::now(),
        }
    }
}

/// The keyed fingerprints of one old (leaked) value of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldValue {
    /// Variable name.
    pub name: String,
    /// Keyed fingerprint of the whole value.
    pub fingerprint: String,
    /// Keyed fingerprint of its last [`TAIL_CHARS`] characters (what CircleCI's API shows).
    pub tail_fingerprint: Option<String>,
}

/// The last [`TAIL_CHARS`] characters of a value, or `None` when it is too short for the
/// tail to say anything.
pub fn tail(value: &str) -> Option<&str> {
    let n = value.chars().count();
    if n < TAIL_CHARS * 3 {
        return None;
    }
    let start = value.char_indices().nth(n - TAIL_CHARS).map(|(i, _)| i)?;
    Some(&value[start..])
}

/// HMAC-SHA256 of `value` under `key`, as `k1:` + hex.
pub fn keyed(key: &[u8; 32], value: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(value);
    let out = m.finalize().into_bytes();
    let mut s = String::with_capacity(KEYED_PREFIX.len() + 64);
    s.push_str(KEYED_PREFIX);
    for b in out {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Store {
    /// This store's fingerprint key (made by migration 4 from SQLite's randomness).
    pub fn fingerprint_key(&self) -> Result<[u8; 32]> {
        if let Some(k) = self.key.get() {
            return Ok(*k);
        }
        let blob: Vec<u8> = self
            .conn
            .query_row("SELECT key FROM store_key WHERE id = 1", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let k: [u8; 32] = blob.try_into().map_err(|_| StoreError::Io {
            path: self.path.display().to_string(),
            message: "the fingerprint key is damaged (not 32 bytes)".into(),
        })?;
        let _ = self.key.set(k);
        Ok(k)
    }

    /// The keyed fingerprint of `value` in this store.
    pub fn keyed_fingerprint(&self, value: &[u8]) -> Result<String> {
        Ok(keyed(&self.fingerprint_key()?, value))
    }

    /// Appends a line to the revocation journal; returns its sequence number. Written
    /// (and synced) before a revocation request goes out, and again with its outcome.
    pub fn journal_revocation(&mut self, e: &RevocationEntry) -> Result<i64> {
        let path = self.path.display().to_string();
        crate::busy_retry(|| {
            self.conn.execute(
                "INSERT INTO revocations (fingerprint, validator, label, incident, step, request, detail, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    e.fingerprint,
                    e.validator,
                    e.label,
                    e.incident,
                    e.step,
                    e.request,
                    e.detail,
                    fmt_time(e.at)
                ],
            )
        })
        .map_err(|source| StoreError::Sqlite { path, source })?;
        Ok(self.conn.last_insert_rowid())
    }

    fn revocation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevocationEntry> {
        Ok(RevocationEntry {
            seq: r.get(0)?,
            fingerprint: r.get(1)?,
            validator: r.get(2)?,
            label: r.get(3)?,
            incident: r.get(4)?,
            step: r.get(5)?,
            request: r.get(6)?,
            detail: r.get(7)?,
            at: parse_time(r.get(8)?).unwrap_or_default(),
        })
    }

    /// The latest journal line of one credential.
    pub fn last_revocation(&self, fingerprint: &str, validator: &str) -> Result<Option<RevocationEntry>> {
        self.conn
            .query_row(
                "SELECT seq, fingerprint, validator, label, incident, step, request, detail, at
                 FROM revocations WHERE fingerprint = ?1 AND validator = ?2 ORDER BY seq DESC LIMIT 1",
                params![fingerprint, validator],
                Self::revocation_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The whole revocation journal, oldest first.
    pub fn revocations(&self) -> Result<Vec<RevocationEntry>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT seq, fingerprint, validator, label, incident, step, request, detail, at
                 FROM revocations ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], Self::revocation_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Keeps the keyed fingerprints of an incident's old values (replacing those of the
    /// same names).
    pub fn set_old_values(&mut self, incident_id: i64, values: &[OldValue]) -> Result<()> {
        let path = self.path.display().to_string();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT OR REPLACE INTO incident_old_values (incident_id, name, fingerprint, tail_fingerprint)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(wrap)?;
            for v in values {
                ins.execute(params![incident_id, v.name, v.fingerprint, v.tail_fingerprint])
                    .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)
    }

    /// The keyed fingerprints of an incident's old values, by name.
    pub fn old_values(&self, incident_id: i64) -> Result<Vec<OldValue>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT name, fingerprint, tail_fingerprint FROM incident_old_values
                 WHERE incident_id = ?1 ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([incident_id], |r| {
                Ok(OldValue {
                    name: r.get(0)?,
                    fingerprint: r.get(1)?,
                    tail_fingerprint: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_store_and_fingerprints_are_stable_within_one() {
        let d = tempfile::tempdir().unwrap();
        let a = Store::open(&d.path().join("a.db")).unwrap();
        let b = Store::open(&d.path().join("b.db")).unwrap();
        let fa = a.keyed_fingerprint(b"ghp_value").unwrap();
        assert!(fa.starts_with(KEYED_PREFIX) && fa.len() == 3 + 64, "{fa}");
        assert_ne!(fa, b.keyed_fingerprint(b"ghp_value").unwrap());
        drop(a);
        let a = Store::open(&d.path().join("a.db")).unwrap();
        assert_eq!(fa, a.keyed_fingerprint(b"ghp_value").unwrap());
        // never the plain hash
        assert!(!fa.contains(&firebreak_core::fingerprint(b"ghp_value")));
    }

    #[test]
    fn the_revocation_journal_keeps_every_step() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("s.db")).unwrap();
        let fp = s.keyed_fingerprint(b"x").unwrap();
        for step in ["sending", "revoked"] {
            s.journal_revocation(&RevocationEntry {
                seq: 0,
                fingerprint: fp.clone(),
                validator: "github.token".into(),
                label: "GITHUB_TOKEN".into(),
                incident: None,
                step: step.into(),
                request: Some("POST /credentials/revoke".into()),
                detail: None,
                at: Utc::now(),
            })
            .unwrap();
        }
        assert_eq!(s.revocations().unwrap().len(), 2);
        assert_eq!(
            s.last_revocation(&fp, "github.token").unwrap().unwrap().step,
            "revoked"
        );
        assert!(s.last_revocation(&fp, "npm.token").unwrap().is_none());
    }

    #[test]
    fn tails_are_the_last_four_characters_of_long_enough_values() {
        assert_eq!(tail("ghp_abcdefgh1234"), Some("1234"));
        assert_eq!(tail("short"), None);
        assert_eq!(tail("ééééééééééé€€€€"), Some("€€€€"));
    }
}
