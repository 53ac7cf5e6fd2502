//! Versioned migrations for PostgreSQL (the upload-token service's shared database).
//!
//! The versions applied are rows of [`VERSION_TABLE`] (`component`, `version`,
//! `applied_at`), in the schema migrated. [`migrate`] applies every pending migration in
//! one transaction under a transaction-scoped advisory lock ([`PgSchema::lock_key`]):
//! several nodes starting at once on one database apply each migration once; the others
//! wait for the lock, then find nothing left to do. A failed migration leaves nothing
//! behind (PostgreSQL's DDL is transactional).

use crate::{Result, StoreError};

/// The table recording the migrations applied.
pub const VERSION_TABLE: &str = "firebreak_schema_migrations";

/// One set of numbered PostgreSQL migrations (e.g. [`crate::serve::POSTGRES`]).
#[derive(Debug, Clone, Copy)]
pub struct PgSchema {
    /// Name of the set; also its `component` in [`VERSION_TABLE`].
    pub name: &'static str,
    /// Advisory lock key held while migrating.
    pub lock_key: i64,
    /// Migrations, applied in order; version = number applied. Append only: never edit
    /// a released entry.
    pub migrations: &'static [&'static str],
}

/// True when `name` is usable as a schema name here: `[a-z0-9_]+`, at most 63 bytes.
pub fn valid_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn target(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("postgres schema {ns}"),
        None => "postgres".to_string(),
    }
}

fn check_name(namespace: Option<&str>) -> Result<()> {
    match namespace {
        Some(ns) if !valid_schema_name(ns) => Err(StoreError::InvalidSchemaName {
            name: ns.chars().take(64).collect(),
        }),
        _ => Ok(()),
    }
}

/// Applies the pending migrations of `schema`; returns its version (migrations applied).
///
/// With `namespace`, the PostgreSQL schema of that name is created when missing and
/// migrated (the connection's own `search_path` is left as it was: set it to use the
/// tables); without, the first schema of the connection's `search_path`. A database
/// whose version is newer than this build is refused ([`StoreError::TooNew`]), unchanged.
pub async fn migrate(
    client: &mut tokio_postgres::Client,
    schema: &PgSchema,
    namespace: Option<&str>,
) -> Result<i64> {
    check_name(namespace)?;
    let pg = |source| StoreError::Postgres {
        target: target(namespace),
        source,
    };
    let tx = client.transaction().await.map_err(pg)?;
    // Released at commit or rollback, so it cannot outlive a failed migration.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema.lock_key])
        .await
        .map_err(pg)?;
    if let Some(ns) = namespace {
        // `ns` is [a-z0-9_]+ (checked above).
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{ns}\"; SET LOCAL search_path TO \"{ns}\""
        ))
        .await
        .map_err(pg)?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
           component TEXT NOT NULL,
           version BIGINT NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
           PRIMARY KEY (component, version)
         )"
    ))
    .await
    .map_err(pg)?;
    let version: i64 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE} WHERE component = $1"),
            &[&schema.name],
        )
        .await
        .map_err(pg)?
        .get(0);
    let known = schema.migrations.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: target(namespace),
            found: version,
            known,
        });
    }
    for (i, sql) in schema.migrations.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute(
            &format!("INSERT INTO {VERSION_TABLE} (component, version) VALUES ($1, $2)"),
            &[&schema.name, &(i as i64 + 1)],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(known)
}

/// The version of `schema` in `namespace` (or the first schema of the `search_path`):
/// 0 when it was never migrated.
pub async fn schema_version(
    client: &tokio_postgres::Client,
    schema: &PgSchema,
    namespace: Option<&str>,
) -> Result<i64> {
    check_name(namespace)?;
    let pg = |source| StoreError::Postgres {
        target: target(namespace),
        source,
    };
    let table = match namespace {
        Some(ns) => format!("\"{ns}\".{VERSION_TABLE}"),
        None => VERSION_TABLE.to_string(),
    };
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(pg)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: i64 = client
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {table} WHERE component = $1"),
            &[&schema.name],
        )
        .await
        .map_err(pg)?
        .get(0);
    Ok(v)
}
