//! The PostgreSQL migrations of the service's tables, against the test cluster of
//! `scripts/setup.d/40-postgres.sh` (each test in its own schema, dropped afterwards).

use firebreak_store::postgres::{migrate, schema_version, valid_schema_name, VERSION_TABLE};
use firebreak_store::serve::{POSTGRES, POSTGRES_MIGRATIONS};
use firebreak_store::StoreError;
use tokio_postgres::{Client, NoTls};

fn pg_url() -> String {
    std::env::var("FIREBREAK_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("FIREBREAK_TEST_PG_URL is not set: run `bash scripts/setup.d/40-postgres.sh` and source .tools/env.d/postgres.sh (scripts/test does both)")
    })
}

async fn connect() -> Client {
    let (c, conn) = tokio_postgres::connect(&pg_url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    c
}

/// A schema name no other test uses.
fn fresh_schema(tag: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("store_{tag}_{}_{n}", std::process::id())
}

async fn drop_schema(c: &Client, s: &str) {
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
        .await
        .unwrap();
}

async fn tables(c: &Client, s: &str) -> Vec<String> {
    c.query(
        "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
        &[&s],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

async fn version_rows(c: &Client, s: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {s}.{VERSION_TABLE}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// A fresh schema migrates to the latest version with the service's tables; migrating
/// again applies nothing.
#[tokio::test]
async fn fresh_schema_migrates_to_latest_and_twice_is_a_no_op() {
    let mut c = connect().await;
    let s = fresh_schema("fresh");
    let latest = POSTGRES_MIGRATIONS.len() as i64;
    assert_eq!(schema_version(&c, &POSTGRES, Some(&s)).await.unwrap(), 0);
    assert_eq!(migrate(&mut c, &POSTGRES, Some(&s)).await.unwrap(), latest);
    assert_eq!(schema_version(&c, &POSTGRES, Some(&s)).await.unwrap(), latest);
    assert_eq!(
        tables(&c, &s).await,
        [VERSION_TABLE, "oidc_jti", "projects", "publishers", "tokens"]
    );
    assert_eq!(version_rows(&c, &s).await, latest);
    c.batch_execute(&format!("INSERT INTO {s}.projects VALUES ('app', 1)"))
        .await
        .unwrap();
    assert_eq!(migrate(&mut c, &POSTGRES, Some(&s)).await.unwrap(), latest);
    assert_eq!(
        version_rows(&c, &s).await,
        latest,
        "a second migration recorded a version"
    );
    let n: i64 = c
        .query_one(&format!("SELECT count(*) FROM {s}.projects"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // the connection's own search_path is left as it was
    let sp: String = c.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert!(!sp.contains(&s), "search_path changed to {sp}");
    drop_schema(&c, &s).await;
}

/// Tables the service created before its schema was versioned (no version table) are
/// adopted: rows kept, version latest.
#[tokio::test]
async fn unversioned_tables_of_the_old_code_are_adopted() {
    let mut c = connect().await;
    let s = fresh_schema("old");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s}; SET search_path TO {s}; {}; INSERT INTO projects VALUES ('app', 1); RESET search_path",
        POSTGRES_MIGRATIONS[0]
    ))
    .await
    .unwrap();
    let latest = POSTGRES_MIGRATIONS.len() as i64;
    assert_eq!(migrate(&mut c, &POSTGRES, Some(&s)).await.unwrap(), latest);
    assert_eq!(schema_version(&c, &POSTGRES, Some(&s)).await.unwrap(), latest);
    let name: String = c
        .query_one(&format!("SELECT name FROM {s}.projects"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "app");
    drop_schema(&c, &s).await;
}

/// Several nodes starting at once on a fresh schema all succeed, and each migration is
/// applied (and recorded) once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrators_all_succeed() {
    let s = fresh_schema("race");
    let latest = POSTGRES_MIGRATIONS.len() as i64;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(connect().await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let s = s.clone();
            tokio::spawn(async move { migrate(&mut c, &POSTGRES, Some(&s)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), latest);
    }
    let c = connect().await;
    assert_eq!(version_rows(&c, &s).await, latest);
    assert_eq!(tables(&c, &s).await.len(), 5);
    drop_schema(&c, &s).await;
}

/// A schema migrated by a newer build is refused, unchanged; a bad schema name is
/// refused before anything is sent.
#[tokio::test]
async fn newer_versions_and_bad_names_are_refused() {
    let mut c = connect().await;
    let s = fresh_schema("new");
    migrate(&mut c, &POSTGRES, Some(&s)).await.unwrap();
    c.execute(
        &format!("INSERT INTO {s}.{VERSION_TABLE} (component, version) VALUES ($1, 99)"),
        &[&POSTGRES.name],
    )
    .await
    .unwrap();
    assert!(matches!(
        migrate(&mut c, &POSTGRES, Some(&s)).await,
        Err(StoreError::TooNew { found: 99, .. })
    ));
    drop_schema(&c, &s).await;
    for bad in ["Public", "a;drop", "", "x\"y"] {
        assert!(!valid_schema_name(bad));
        assert!(matches!(
            migrate(&mut c, &POSTGRES, Some(bad)).await,
            Err(StoreError::InvalidSchemaName { .. })
        ));
    }
}
