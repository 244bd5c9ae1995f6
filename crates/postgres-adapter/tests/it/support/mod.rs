//! What every PostgreSQL test needs: the server from `AD_TEST_DATABASE_URL`, and a fresh,
//! isolated schema in its database per test, so tests run in parallel without seeing each other.
//! A store reaches its schema through the URL (`options=-c search_path=<schema>`), and tags its
//! sessions with the schema's name (`application_name`) so a test can find them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use postgres_adapter::{PgConfig, PgStore};
use tokio::sync::OnceCell;

const URL_VARIABLE: &str = "AD_TEST_DATABASE_URL";

/// Test schemas are named `ad_test_<unix seconds>_<pid>_<n>` and are not dropped by the test
/// that made it (a case owns only its store). Later runs drop those older than this: no test
/// lasts that long.
const STALE_AFTER_SECONDS: u64 = 600;

/// The server the tests use. Never skips: without it the suite fails and says how to get one.
pub fn server_url() -> String {
    server_url_from(std::env::var(URL_VARIABLE).ok())
}

pub fn server_url_from(value: Option<String>) -> String {
    match value.filter(|v| !v.is_empty()) {
        Some(url) => url,
        None => panic!(
            "{URL_VARIABLE} is not set: the PostgreSQL tests need a server they may create databases on. \
             Run `cargo xtask test`, which provides PostgreSQL (or `cargo xtask db up` and export \
             {URL_VARIABLE} with the URL it prints)."
        ),
    }
}

/// The URL of the test server with `schema` as the only schema its sessions see.
pub fn url_of(schema: &str) -> String {
    let mut url = url::Url::parse(&server_url()).expect("AD_TEST_DATABASE_URL is a postgres:// URL");
    // Written out by hand: tokio-postgres decodes `%20` but not `+` as a space.
    let ours = format!("options=-c%20search_path%3D{schema}&application_name={schema}");
    let query = match url.query() {
        Some(theirs) if !theirs.is_empty() => format!("{theirs}&{ours}"),
        _ => ours,
    };
    url.set_query(Some(&query));
    url.into()
}

/// A config generous enough for a loaded test machine and for the contract's twenty racers.
pub fn config() -> PgConfig {
    // Two worker lanes, as the service has on two cores: the suite runs through them.
    PgConfig { pool_size: 8, timeout: Duration::from_secs(10), worker_threads: 2 }
}

/// A connection to the test server's own database, for administration.
pub async fn admin() -> AsyncPgConnection {
    AsyncPgConnection::establish(&server_url()).await.expect("connect to AD_TEST_DATABASE_URL")
}

/// A name no other test uses, after dropping what earlier runs left behind (once per run).
async fn unique_name() -> String {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    SWEPT.get_or_init(drop_stale).await;
    format!("ad_test_{}_{}_{}", unix_now(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Creates an empty schema with a name no other test uses and returns its name.
pub async fn empty_schema() -> String {
    let name = unique_name().await;
    admin().await.batch_execute(&format!("CREATE SCHEMA {name}")).await.expect("create a test schema");
    name
}

/// A store on a fresh schema, migrated: what every contract case starts from.
pub async fn fresh_store() -> PgStore {
    let url = url_of(&empty_schema().await);
    PgStore::connect(&url, config()).await.expect("connect and migrate")
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Names of the tables in `schema` of the test server's database.
pub async fn tables(schema: &str) -> Vec<String> {
    tables_in(&server_url(), schema).await
}

/// Names of the tables in `schema` of the database at `url`.
pub async fn tables_in(url: &str, schema: &str) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
    )
    .bind::<Text, _>(schema)
    .load(&mut conn)
    .await
    .expect("list tables");
    rows.into_iter().map(|r| r.name).collect()
}

/// A whole new database, for the one test that needs a fresh database rather than a schema.
/// The test drops it at its end; one left by a failed run is dropped by a later run.
pub struct FreshDatabase {
    name: String,
}

impl FreshDatabase {
    pub async fn create() -> Self {
        let name = unique_name().await;
        admin().await.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
        Self { name }
    }

    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&server_url()).expect("AD_TEST_DATABASE_URL is a postgres:// URL");
        url.set_path(&format!("/{}", self.name));
        url.into()
    }

    pub async fn drop(self) {
        admin().await.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name)).await.expect("drop");
    }
}

async fn drop_stale() {
    let mut conn = admin().await;
    let cutoff = unix_now().saturating_sub(STALE_AFTER_SECONDS);
    let is_stale = |name: &str| name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok()).is_some_and(|t| t < cutoff);
    for (column, catalog, drop) in [
        ("nspname", "pg_namespace", "DROP SCHEMA IF EXISTS {} CASCADE"),
        ("datname", "pg_database", "DROP DATABASE IF EXISTS {} WITH (FORCE)"),
    ] {
        let list = format!("SELECT {column}::text AS name FROM {catalog} WHERE {column} LIKE 'ad\\_test\\_%'");
        let rows: Vec<Name> = diesel::sql_query(list).load(&mut conn).await.expect("list what earlier tests left");
        for Name { name } in rows.into_iter().filter(|r| is_stale(&r.name)) {
            // Another run may be sweeping too; either drop is as good.
            let _ = conn.batch_execute(&drop.replace("{}", &name)).await;
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}
