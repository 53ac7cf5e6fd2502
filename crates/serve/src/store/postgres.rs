//! PostgreSQL backend (tokio-postgres): a small round-robin pool of pipelined connections,
//! so several service replicas can share one database. The tables are firebreak-store's
//! ([`firebreak_store::serve::POSTGRES`]), migrated when the first connection is made
//! (under an advisory lock: replicas starting together apply each migration once).

use super::{publisher_provider, RevokeScope, Store, TokenRecord};
use crate::config::TrustedPublisher;
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_postgres::{Client, NoTls, Row, Statement};

const COLS: &str = "id, hash, project, provider, origin, created_at, expires_at, revoked_at, last_used_at";

/// PostgreSQL store.
pub struct PgStore {
    clients: Vec<Conn>,
    next: AtomicUsize,
}

/// One pooled connection with the hot-path statements prepared once (a lookup is then one
/// round trip: bind + execute, instead of parse + describe + bind + execute).
struct Conn {
    client: Client,
    by_hash: Statement,
    touch: Statement,
}

fn row_to_token(r: &Row) -> TokenRecord {
    TokenRecord {
        id: r.get(0),
        hash_hex: r.get(1),
        project: r.get(2),
        provider: r.get(3),
        origin: r.get(4),
        created_at: r.get(5),
        expires_at: r.get(6),
        revoked_at: r.get(7),
        last_used_at: r.get(8),
    }
}

fn pg_err(e: tokio_postgres::Error) -> anyhow::Error {
    anyhow::anyhow!("postgres: {e}")
}

impl PgStore {
    /// Connects `pool_size` connections; when `schema` is given it is created and used.
    pub async fn connect(url: &str, schema: Option<&str>, pool_size: usize) -> anyhow::Result<PgStore> {
        let cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("database_url is not a valid postgres URL: {e}"))?;
        let mut clients = Vec::new();
        for i in 0..pool_size.max(1) {
            let (mut client, conn) = cfg.connect(NoTls).await.map_err(pg_err)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!("postgres connection closed: {e}");
                }
            });
            if i == 0 {
                // Creates `schema` when missing; replicas starting together wait for
                // each other.
                firebreak_store::postgres::migrate(&mut client, &firebreak_store::serve::POSTGRES, schema)
                    .await?;
            }
            if let Some(s) = schema {
                // `s` is validated as [a-z0-9_]+ by the config check.
                client
                    .batch_execute(&format!("SET search_path TO {s}"))
                    .await
                    .map_err(pg_err)?;
            }
            clients.push(client);
        }
        let mut conns = Vec::with_capacity(clients.len());
        for client in clients {
            let by_hash = client
                .prepare(&format!("SELECT {COLS} FROM tokens WHERE hash = $1"))
                .await
                .map_err(pg_err)?;
            let touch = client
                .prepare("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
                .await
                .map_err(pg_err)?;
            conns.push(Conn {
                client,
                by_hash,
                touch,
            });
        }
        Ok(PgStore {
            clients: conns,
            next: AtomicUsize::new(0),
        })
    }

    fn conn(&self) -> &Conn {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        &self.clients[i]
    }

    fn c(&self) -> &Client {
        &self.conn().client
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn create_project(&self, name: &str, now: i64) -> anyhow::Result<bool> {
        let n = self
            .c()
            .execute(
                "INSERT INTO projects(name, created_at) VALUES ($1, $2) ON CONFLICT(name) DO NOTHING",
                &[&name, &now],
            )
            .await
            .map_err(pg_err)?;
        Ok(n == 1)
    }

    async fn project_exists(&self, name: &str) -> anyhow::Result<bool> {
        let r = self
            .c()
            .query_opt("SELECT 1 FROM projects WHERE name = $1", &[&name])
            .await
            .map_err(pg_err)?;
        Ok(r.is_some())
    }

    async fn insert_token(&self, t: &TokenRecord) -> anyhow::Result<()> {
        self.c()
            .execute(
                &format!("INSERT INTO tokens({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
                &[
                    &t.id,
                    &t.hash_hex,
                    &t.project,
                    &t.provider,
                    &t.origin,
                    &t.created_at,
                    &t.expires_at,
                    &t.revoked_at,
                    &t.last_used_at,
                ],
            )
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn token_by_hash(&self, hash_hex: &str) -> anyhow::Result<Option<TokenRecord>> {
        let c = self.conn();
        let r = c
            .client
            .query_opt(&c.by_hash, &[&hash_hex])
            .await
            .map_err(pg_err)?;
        Ok(r.as_ref().map(row_to_token))
    }

    async fn touch_token(&self, id: &str, now: i64) -> anyhow::Result<()> {
        let c = self.conn();
        c.client.execute(&c.touch, &[&id, &now]).await.map_err(pg_err)?;
        Ok(())
    }

    async fn list_tokens(
        &self,
        project: Option<&str>,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<TokenRecord>> {
        let rows = self
            .c()
            .query(
                &format!("SELECT {COLS} FROM tokens WHERE ($1::TEXT IS NULL OR project = $1) AND ($2::TEXT IS NULL OR provider = $2) ORDER BY created_at, id"),
                &[&project, &provider],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows.iter().map(row_to_token).collect())
    }

    async fn revoke(&self, scope: &RevokeScope, now: i64) -> anyhow::Result<Vec<String>> {
        let c = self.c();
        let base = "UPDATE tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND";
        let rows = match scope {
            RevokeScope::Token(id) => {
                c.query(&format!("{base} id = $2 RETURNING id"), &[&now, id])
                    .await
            }
            RevokeScope::Provider { project, provider } => {
                c.query(
                    &format!("{base} project = $2 AND provider = $3 RETURNING id"),
                    &[&now, project, provider],
                )
                .await
            }
            RevokeScope::Project(p) => {
                c.query(&format!("{base} project = $2 RETURNING id"), &[&now, p])
                    .await
            }
            RevokeScope::ProviderAll(p) => {
                c.query(&format!("{base} provider = $2 RETURNING id"), &[&now, p])
                    .await
            }
        }
        .map_err(pg_err)?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort();
        Ok(ids)
    }

    async fn add_publisher(&self, project: &str, p: &TrustedPublisher, now: i64) -> anyhow::Result<bool> {
        let spec = serde_json::to_string(p)?;
        let n = self
            .c()
            .execute(
                "INSERT INTO publishers(project, provider, spec, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT(project, spec) DO NOTHING",
                &[&project, &publisher_provider(p), &spec, &now],
            )
            .await
            .map_err(pg_err)?;
        Ok(n == 1)
    }

    async fn publishers(&self, project: &str) -> anyhow::Result<Vec<TrustedPublisher>> {
        let rows = self
            .c()
            .query(
                "SELECT spec FROM publishers WHERE project = $1 ORDER BY id",
                &[&project],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let s: String = r.get(0);
                serde_json::from_str(&s).map_err(|e| anyhow::anyhow!("stored publisher: {e}"))
            })
            .collect()
    }

    async fn record_jti(&self, iss: &str, jti: &str, exp: i64, now: i64) -> anyhow::Result<bool> {
        let c = self.c();
        c.execute("DELETE FROM oidc_jti WHERE expires_at < $1", &[&now])
            .await
            .map_err(pg_err)?;
        let n = c
            .execute(
                "INSERT INTO oidc_jti(iss, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT(iss, jti) DO NOTHING",
                &[&iss, &jti, &exp],
            )
            .await
            .map_err(pg_err)?;
        Ok(n == 1)
    }
}
