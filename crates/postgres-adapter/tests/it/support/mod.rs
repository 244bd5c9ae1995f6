//! What every PostgreSQL test needs: the server from `AD_TEST_DATABASE_URL`, and a fresh,
//! isolated database on it per test, so tests run in parallel without seeing each other.

pub mod proxy;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use postgres_adapter::{PgConfig, PgStore};
use tokio::sync::OnceCell;

const URL_VARIABLE: &str = "AD_TEST_DATABASE_URL";

/// Test databases are named `ad_test_<unix seconds>_<pid>_<n>`; those older than this are
/// left over from runs that ended early and are dropped by later runs.
const STALE_AFTER_SECONDS: u64 = 3600;

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

/// The URL of `database` on the test server.
pub fn url_of(database: &str) -> String {
    let mut url = url::Url::parse(&server_url()).expect("AD_TEST_DATABASE_URL is a postgres:// URL");
    url.set_path(&format!("/{database}"));
    url.into()
}

/// A config generous enough for a loaded test machine and for the contract's twenty racers.
pub fn config() -> PgConfig {
    PgConfig { pool_size: 8, timeout: Duration::from_secs(10) }
}

/// A connection to the test server's own database, for administration.
pub async fn admin() -> AsyncPgConnection {
    AsyncPgConnection::establish(&server_url()).await.expect("connect to AD_TEST_DATABASE_URL")
}

/// Creates an empty database with a name no other test uses and returns its name.
pub async fn empty_database() -> String {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    SWEPT.get_or_init(drop_stale_databases).await;
    let name = format!("ad_test_{}_{}_{}", unix_now(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    admin().await.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
    name
}

/// A store on a fresh database, migrated: what every contract case starts from.
pub async fn fresh_store() -> PgStore {
    let url = url_of(&empty_database().await);
    PgStore::connect(&url, config()).await.expect("connect and migrate")
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Names of the tables in a database's `public` schema.
pub async fn tables(database: &str) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(&url_of(database)).await.expect("connect");
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .load(&mut conn)
    .await
    .expect("list tables");
    rows.into_iter().map(|r| r.name).collect()
}

async fn drop_stale_databases() {
    let mut conn = admin().await;
    let rows: Vec<Name> =
        diesel::sql_query("SELECT datname::text AS name FROM pg_database WHERE datname LIKE 'ad\\_test\\_%'")
            .load(&mut conn)
            .await
            .expect("list test databases");
    let cutoff = unix_now().saturating_sub(STALE_AFTER_SECONDS);
    for Name { name } in rows {
        let created = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|t| t < cutoff) {
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.expect("drop");
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}
