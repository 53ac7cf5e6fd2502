//! The tables of the upload-token service (`firebreak serve`), for SQLite and PostgreSQL.
//!
//! Tables (migration 1, both backends):
//! - `projects(name, created_at)`
//! - `tokens(id, hash, project, provider, origin, created_at, expires_at, revoked_at,
//!   last_used_at)`: token metadata and the SHA-256 of the token, never the token
//! - `publishers(id, project, provider, spec, created_at)`: trusted OIDC publishers
//! - `oidc_jti(iss, jti, expires_at)`: ID-token ids seen, against replays
//!
//! Times are Unix milliseconds. Migration 1 creates the tables only where they are missing:
//! databases created before the service's tables were versioned (the same tables, no
//! version) take it as a no-op and are then at version 1.

use crate::postgres::PgSchema;
use crate::SqliteSchema;

/// The service's SQLite migrations (append only).
pub const SQLITE_MIGRATIONS: &[&str] = &[
    // 1: projects, tokens, trusted publishers, OIDC token ids
    r#"
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
    "#,
];

/// The service's PostgreSQL migrations (append only).
pub const POSTGRES_MIGRATIONS: &[&str] = &[
    // 1: projects, tokens, trusted publishers, OIDC token ids
    r#"
    CREATE TABLE IF NOT EXISTS projects (
      name TEXT PRIMARY KEY,
      created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS tokens (
      id TEXT PRIMARY KEY,
      hash TEXT NOT NULL UNIQUE,
      project TEXT NOT NULL REFERENCES projects(name),
      provider TEXT NOT NULL,
      origin TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      revoked_at BIGINT,
      last_used_at BIGINT
    );
    CREATE INDEX IF NOT EXISTS tokens_project_provider ON tokens(project, provider);
    CREATE INDEX IF NOT EXISTS tokens_provider ON tokens(provider);
    CREATE TABLE IF NOT EXISTS publishers (
      id BIGSERIAL PRIMARY KEY,
      project TEXT NOT NULL REFERENCES projects(name),
      provider TEXT NOT NULL,
      spec TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      UNIQUE(project, spec)
    );
    CREATE TABLE IF NOT EXISTS oidc_jti (
      iss TEXT NOT NULL,
      jti TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      PRIMARY KEY (iss, jti)
    );
    "#,
];

/// The service's SQLite database file.
pub const SQLITE: SqliteSchema = SqliteSchema {
    name: "firebreak serve",
    // "FBSV"
    application_id: 0x4642_5356,
    migrations: SQLITE_MIGRATIONS,
};

/// The service's PostgreSQL schema.
pub const POSTGRES: PgSchema = PgSchema {
    name: "firebreak serve",
    // the key the service locked its schema set-up with before migrations were versioned,
    // so an older replica starting next to a newer one still waits for it
    lock_key: 72_406_411,
    migrations: POSTGRES_MIGRATIONS,
};
