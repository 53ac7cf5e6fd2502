//! Audit log: one JSON object per line, file mode 0600, appended with `O_APPEND` so several
//! replicas may share a file. Never holds a token, JWT or secret: tokens appear by id only.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One audit record. Field names are stable (the `hunt` decoder reads exactly these).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 UTC time.
    pub time: String,
    /// `token.issue`, `token.revoke`, `token.revoke_provider`, `token.revoke_project`,
    /// `token.revoke_provider_all`, `project.create`, `publisher.add`, `publish`,
    /// `oidc.exchange`, `token.verify`, `token.list`.
    pub action: String,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// Why it was denied (absent when allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `admin`, `token:<token_id>`, `oidc:<iss>:<sub>` (a verified ID token) or
    /// `anonymous` (no credential verified: a bad admin credential, a malformed
    /// token, an ID token that failed verification).
    pub actor: String,
    /// For an `oidc.exchange` whose ID token failed verification: the issuer
    /// (`iss`) the token claims, unverified. Whole when it is a configured
    /// issuer; otherwise redacted with its length (see [`claimed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_issuer: Option<String>,
    /// For an `oidc.exchange` whose ID token failed verification: the subject
    /// (`sub`) the token claims, unverified, redacted with its length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_subject: Option<String>,
    /// Project concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Provider concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Token concerned (public id), e.g. the one issued, revoked or used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Client address.
    pub client_ip: String,
    /// Client `User-Agent` (truncated to 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Request id (also returned in the `x-request-id` response header).
    pub request_id: String,
    /// Artifact path, for `publish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Number of tokens revoked, for revocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// A claim of an ID token that failed verification, as the audit log shows
/// it: the caller's word, and any bytes the caller chose, so never whole
/// ([`firebreak_core::secret::quote_untrusted`]: a few leading characters and
/// the length) unless it is one of `known` (such as the configured issuers).
pub fn claimed(value: &str, known: &[&str]) -> String {
    if known.contains(&value) {
        value.to_string()
    } else {
        firebreak_core::secret::quote_untrusted(value)
    }
}

/// The audit log writer.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens (creating with mode 0600) the log for appending.
    pub fn open(path: &Path) -> anyhow::Result<AuditLog> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", d.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot open audit log: {e}", path.display()))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event (one `write` call per line). Failures are reported on stderr via tracing.
    pub fn write(&self, ev: &AuditEvent) {
        let mut line = match serde_json::to_vec(ev) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("audit: cannot encode event: {e}");
                return;
            }
        };
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::error!("audit: {}: cannot write: {e}", self.path.display());
        }
    }
}

/// Reads an audit log back (for tests and tools); malformed lines are reported with their number.
pub fn read_log(path: &Path) -> anyhow::Result<Vec<AuditEvent>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: bad audit record: {e}", path.display(), i + 1))
        })
        .collect()
}
