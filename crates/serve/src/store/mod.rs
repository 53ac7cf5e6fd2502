//! Storage behind one trait: SQLite (rusqlite, default) and PostgreSQL (tokio-postgres).
//!
//! Times are Unix milliseconds (UTC). Token hashes are lowercase hex SHA-256.

use crate::config::TrustedPublisher;
use async_trait::async_trait;
use std::sync::Arc;

mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A stored token: metadata and hash, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    /// Public identifier (`tok_` + 16 hex).
    pub id: String,
    /// SHA-256 of the token, hex.
    #[serde(skip)]
    pub hash_hex: String,
    /// Project the token may publish to.
    pub project: String,
    /// CI provider the token was issued for.
    pub provider: String,
    /// `admin` or `oidc`.
    pub origin: String,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Expiry (Unix ms).
    pub expires_at: i64,
    /// Revocation time (Unix ms).
    pub revoked_at: Option<i64>,
    /// Last successful use (Unix ms; verify calls update it at most once per cache period).
    pub last_used_at: Option<i64>,
}

/// What a revocation covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeScope {
    /// One token by id.
    Token(String),
    /// All tokens of a provider in a project.
    Provider {
        /// Project.
        project: String,
        /// Provider.
        provider: String,
    },
    /// All tokens of a project.
    Project(String),
    /// All tokens of a provider across every project (the "provider is breached" button).
    ProviderAll(String),
}

/// The storage operations the service needs.
#[async_trait]
pub trait Store: Send + Sync {
    /// Backend name (`sqlite` or `postgres`).
    fn backend(&self) -> &'static str;
    /// Creates a project; false when it already existed.
    async fn create_project(&self, name: &str, now: i64) -> anyhow::Result<bool>;
    /// True when the project exists.
    async fn project_exists(&self, name: &str) -> anyhow::Result<bool>;
    /// Stores a new token record.
    async fn insert_token(&self, rec: &TokenRecord) -> anyhow::Result<()>;
    /// Looks a token up by its hash.
    async fn token_by_hash(&self, hash_hex: &str) -> anyhow::Result<Option<TokenRecord>>;
    /// Records a use of a token.
    async fn touch_token(&self, id: &str, now: i64) -> anyhow::Result<()>;
    /// Lists token metadata, optionally filtered, oldest first.
    async fn list_tokens(
        &self,
        project: Option<&str>,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<TokenRecord>>;
    /// Revokes the tokens in scope that are not yet revoked; returns their ids.
    async fn revoke(&self, scope: &RevokeScope, now: i64) -> anyhow::Result<Vec<String>>;
    /// Adds a trusted publisher; false when the same one already existed.
    async fn add_publisher(
        &self,
        project: &str,
        publisher: &TrustedPublisher,
        now: i64,
    ) -> anyhow::Result<bool>;
    /// Trusted publishers of a project.
    async fn publishers(&self, project: &str) -> anyhow::Result<Vec<TrustedPublisher>>;
    /// Records a JWT id until `expires_at`; false when it was already recorded (a replay).
    async fn record_jti(&self, iss: &str, jti: &str, expires_at: i64, now: i64) -> anyhow::Result<bool>;
}

/// Opens the store named by a database URL (`sqlite:PATH`, `sqlite::memory:`, `postgres://...`).
pub async fn open(url: &str, schema: Option<&str>, pool_size: usize) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, schema, pool_size).await?))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok(Arc::new(SqliteStore::open(path, pool_size)?))
    } else {
        anyhow::bail!("database_url must start with sqlite: or postgres:// (got a different scheme)")
    }
}

pub(crate) fn publisher_provider(p: &TrustedPublisher) -> &'static str {
    p.provider().as_str()
}
