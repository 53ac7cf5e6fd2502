//! Shared harness: start the service in-process on SQLite or PostgreSQL (own schema per test).
#![allow(dead_code)]

use firebreak_core::SecretString;
use firebreak_serve::audit::{read_log, AuditEvent};
use firebreak_serve::client::Client;
use firebreak_serve::{Config, Server};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

pub const ADMIN: &str = "test-admin-credential-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Env {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub admin: Client,
    pub anon: Client,
    pub backend: Backend,
    pub schema: Option<String>,
}

pub fn pg_url() -> String {
    std::env::var("FIREBREAK_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("FIREBREAK_TEST_PG_URL is not set: run `bash scripts/setup.d/40-postgres.sh` and source .tools/env.d/postgres.sh (scripts/test does both)")
    })
}

fn rand_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Base config for a test; `extra` is appended TOML (e.g. issuers, projects).
pub fn base_config(dir: &std::path::Path, backend: Backend, schema: Option<&str>, extra: &str) -> Config {
    std::fs::write(dir.join("admin-token"), format!("{ADMIN}\n")).unwrap();
    let db = match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.join("serve.db").display()),
        Backend::Postgres => pg_url(),
    };
    let schema_line = schema
        .map(|s| format!("database_schema = \"{s}\"\ndatabase_pool_size = 2\n"))
        .unwrap_or_default();
    let text = format!(
        r#"listen = "127.0.0.1:0"
database_url = "{db}"
{schema_line}staging_dir = "{staging}"
published_dir = "{published}"
audit_log = "{audit}"
admin_token_file = "{admin}"
[limits]
rate_limit_per_sec = 0
{extra}
"#,
        staging = dir.join("staging").display(),
        published = dir.join("published").display(),
        audit = dir.join("audit.jsonl").display(),
        admin = dir.join("admin-token").display(),
    );
    Config::from_toml(&text, "test config").unwrap()
}

pub async fn start(backend: Backend, extra: &str) -> Env {
    start_with(backend, extra, |_| {}).await
}

pub async fn start_with(backend: Backend, extra: &str, tweak: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let schema = (backend == Backend::Postgres).then(|| format!("t_{}", rand_hex(6)));
    let mut cfg = base_config(dir.path(), backend, schema.as_deref(), extra);
    tweak(&mut cfg);
    let server = Server::start(cfg).await.unwrap();
    let admin = Client::new(&server.url(), Some(SecretString::new(ADMIN)));
    let anon = Client::new(&server.url(), None);
    Env {
        server,
        dir,
        admin,
        anon,
        backend,
        schema,
    }
}

impl Env {
    pub fn url(&self) -> String {
        self.server.url()
    }
    pub fn staging(&self) -> PathBuf {
        self.dir.path().join("staging")
    }
    pub fn published(&self) -> PathBuf {
        self.dir.path().join("published")
    }
    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }
    pub fn audit(&self) -> Vec<AuditEvent> {
        read_log(&self.audit_path()).unwrap()
    }

    /// Writes a staged artifact and returns its sha256.
    pub fn stage(&self, rel: &str, content: &[u8]) -> String {
        let p = self.staging().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        hex::encode(Sha256::digest(content))
    }

    /// Asserts a denial with `reason` containing `needle` was audited for `action`.
    pub fn assert_denied(&self, action: &str, needle: &str) {
        let evs = self.audit();
        assert!(
            evs.iter().any(|e| e.action == action
                && e.outcome == "denied"
                && e.reason.as_deref().is_some_and(|r| r.contains(needle))
                && !e.request_id.is_empty()
                && e.time.ends_with('Z')),
            "no audited denial for {action} with reason containing {needle:?}; audit actions: {:?}",
            evs.iter()
                .map(|e| (e.action.clone(), e.outcome.clone(), e.reason.clone()))
                .collect::<Vec<_>>()
        );
    }

    /// The audit log never holds a token or a JWT.
    pub fn assert_log_clean(&self) {
        let text = std::fs::read_to_string(self.audit_path()).unwrap();
        assert!(!text.contains("fbu_"), "audit log holds an upload token");
        assert!(!text.contains("eyJ"), "audit log holds a JWT");
        assert!(!text.contains(ADMIN), "audit log holds the admin credential");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(self.audit_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "audit log must be 0600");
    }

    pub async fn finish(self) {
        self.assert_log_clean();
        self.server.shutdown().await.unwrap();
        if let Some(s) = &self.schema {
            let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let _ = c
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
                .await;
        }
    }
}

/// Generates `#[tokio::test]`s for both backends from `async fn NAME(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::common::Backend::Postgres).await
            }
        }
    )*};
}
