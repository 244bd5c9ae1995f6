//! Opening the database: where the file is, the pragmas every connection gets, the migrations
//! run once at start-up, and the bounded pool of connections the store draws from.

use std::cell::Cell;
use std::error::Error;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::ConnectError;

/// The schema's migrations, compiled in from `migrations/sqlite`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// One pooled connection: diesel's synchronous SQLite connection, run on tokio's blocking pool,
/// or on the calling thread for a read (see [`Runner`]).
pub(crate) type Conn = SyncConnectionWrapper<SqliteConnection, Runner>;

thread_local! {
    /// Set by [`inline`] while it hands a read to the connection.
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// Where a pooled connection runs its closures (pooled connections only read; writes go to
/// `writer`): on tokio's blocking pool, for a long read (a connection's whole history, a
/// re-encryption batch) or when the file is not in WAL mode, where a read can wait for a
/// writer's lock (up to `busy_timeout`) and must hold up no async worker; or right on the
/// calling thread, for a short read ([`inline`]) in WAL mode, where a read never waits for a
/// writer and takes a few microseconds, less than the two thread hand-offs of the blocking pool:
/// measured on the credentials route, 87 µs of the service's CPU per request through the
/// blocking pool, 67 µs inline (docs/benchmarks.md).
pub(crate) struct Runner;

impl SpawnBlocking for Runner {
    fn spawn_blocking<'a, R>(&mut self, task: impl FnOnce() -> R + Send + 'static) -> SpawnFuture<'a, R>
    where
        R: Send + 'static,
    {
        if INLINE.with(Cell::get) {
            return Box::pin(std::future::ready(Ok(task())));
        }
        let handle = tokio::task::spawn_blocking(task);
        Box::pin(async move { handle.await.map_err(|e| -> Box<dyn Error + Send + Sync> { Box::new(e) }) })
    }

    fn get_runtime() -> Self {
        Self
    }
}

type SpawnFuture<'a, R> = Pin<Box<dyn Future<Output = Result<R, Box<dyn Error + Send + Sync>>> + Send + 'a>>;

/// Runs `task` on `conn` on this thread, now: for reads only.
pub(crate) fn inline<R: Send + 'static>(
    conn: &mut Conn,
    task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
) -> Pin<Box<dyn Future<Output = QueryResult<R>> + Send>> {
    /// Clears the flag however the call ends, a panic included.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.with(|inline| inline.set(false));
        }
    }
    INLINE.with(|inline| inline.set(true));
    let _reset = Reset;
    // The closure runs inside this call (Runner sees the flag), before the future is returned.
    conn.spawn_blocking(task)
}
pub(crate) type ConnPool = Pool<Conn>;

/// How big the pool is and how long anything may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteConfig {
    /// Most connections open at once for reading. SQLite runs one writer at a time; readers run
    /// beside it. Writes have a connection of their own besides these (see `writer`).
    pub pool_size: usize,
    /// The bound on every wait: for a pooled connection, for opening one, and for a lock held
    /// by another writer (`busy_timeout`). Past it the store answers `Unavailable`.
    pub timeout: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self { pool_size: 4, timeout: Duration::from_secs(5) }
    }
}

/// The file a `sqlite://` URL names: `sqlite://data/x.db` is relative to the working directory,
/// `sqlite:///srv/x.db` is absolute. A bare path is taken as it is. In-memory databases are
/// refused: each pooled connection would get its own, empty one.
pub(crate) fn database_path(url: &str) -> Result<PathBuf, ConnectError> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let refused = path.is_empty()
        || path.contains(":memory:")
        || path.starts_with("file:")
        || path.contains('?')
        || path.ends_with('/');
    if refused {
        return Err(ConnectError::InvalidUrl(url.to_owned()));
    }
    Ok(PathBuf::from(path))
}

/// Creates the directory the database file lives in.
pub(crate) fn create_parent_dir(path: &Path) -> Result<(), ConnectError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| ConnectError::CreateDir { path: dir.to_path_buf(), source })
        }
        _ => Ok(()),
    }
}

/// Settings that belong to a connection rather than to the file, so every new one needs them.
fn connection_pragmas(timeout: Duration) -> String {
    let busy_ms = timeout.as_millis().min(i32::MAX as u128);
    format!("PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// Puts the file in WAL mode (a setting that stays with the file) and applies the pending
/// migrations, on a connection of its own, and says whether the file is in WAL mode. Blocking:
/// run it off the async threads.
pub(crate) fn prepare(path: &str, timeout: Duration) -> Result<bool, ConnectError> {
    let mut conn =
        SqliteConnection::establish(path).map_err(|source| ConnectError::Open { path: PathBuf::from(path), source })?;
    conn.batch_execute(&connection_pragmas(timeout)).map_err(ConnectError::Configure)?;
    let mode: JournalMode =
        diesel::sql_query("PRAGMA journal_mode = WAL").get_result(&mut conn).map_err(ConnectError::Configure)?;
    let wal = mode.journal_mode.eq_ignore_ascii_case("wal");
    if !wal {
        tracing::warn!(journal_mode = %mode.journal_mode, "SQLite could not switch to WAL mode; writers will block readers");
    }
    let applied = conn.run_pending_migrations(MIGRATIONS).map_err(ConnectError::Migrate)?;
    tracing::info!(applied = applied.len(), "SQLite schema is up to date");
    Ok(wal)
}

type SetupFuture = Pin<Box<dyn Future<Output = ConnectionResult<Conn>> + Send>>;

/// Opens one pooled connection and gives it the per-connection pragmas.
fn open(path: String, pragmas: String) -> SetupFuture {
    Box::pin(async move {
        let mut conn = Conn::establish(&path).await?;
        conn.batch_execute(&pragmas).await.map_err(ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    })
}

/// Starts the one writer (see `writer`), its connection set up as the pool's are.
pub(crate) fn writer(path: &str, timeout: Duration) -> Result<crate::writer::Writer, ConnectError> {
    crate::writer::Writer::start(path, connection_pragmas(timeout), timeout)
}

/// The bounded pool: at most `pool_size` connections, and every wait (for a free connection,
/// to open or to recycle one) bounded by `timeout`.
pub(crate) fn build(path: &str, config: SqliteConfig) -> Result<ConnPool, ConnectError> {
    let pragmas = connection_pragmas(config.timeout);
    let mut manager_config = ManagerConfig::<Conn>::default();
    // A local file does not drop connections the way a server does: skip the ping per checkout.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| open(url.to_owned(), pragmas.clone()));
    let manager = AsyncDieselConnectionManager::new_with_config(path, manager_config);
    let timeout = Some(config.timeout);
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(ConnectError::Pool)
}

/// Read from the counters deadpool keeps; never touches the database.
impl ports::PoolStats for crate::SqliteStore {
    fn pool_status(&self) -> ports::PoolStatus {
        let status = self.pool.status();
        ports::PoolStatus {
            max_size: status.max_size,
            size: status.size,
            in_use: status.size.saturating_sub(status.available),
            waiting: status.waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_relative_and_absolute_files() {
        assert_eq!(database_path("sqlite://data/asset-directory.db").unwrap(), Path::new("data/asset-directory.db"));
        assert_eq!(database_path("sqlite:///srv/ad/store.db").unwrap(), Path::new("/srv/ad/store.db"));
        assert_eq!(database_path("sqlite:local.db").unwrap(), Path::new("local.db"));
        assert_eq!(database_path("/tmp/plain.db").unwrap(), Path::new("/tmp/plain.db"));
    }

    #[test]
    fn in_memory_uri_and_directory_urls_are_refused() {
        for url in
            ["sqlite::memory:", ":memory:", "sqlite://", "", "sqlite://data/", "sqlite://x.db?mode=ro", "file:x.db"]
        {
            assert!(matches!(database_path(url), Err(ConnectError::InvalidUrl(_))), "{url}");
        }
    }

    #[tokio::test]
    async fn pool_status_counts_a_lent_connection_as_in_use() {
        use ports::PoolStats;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pool.db").display());
        let config = SqliteConfig { pool_size: 3, timeout: Duration::from_secs(5) };
        let store = crate::SqliteStore::connect(&url, config).await.unwrap();
        let held = store.pool.get().await.unwrap();
        let status = store.pool_status();
        assert_eq!((status.max_size, status.in_use, status.waiting), (3, 1, 0));
        drop(held);
        assert_eq!(store.pool_status().in_use, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_write_keeps_its_connection_until_it_has_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cancel.db");
        let url = format!("sqlite://{}", path.display());
        let config = SqliteConfig { pool_size: 1, timeout: Duration::from_secs(3) };
        let store = crate::SqliteStore::connect(&url, config).await.unwrap();
        // `run` is for long reads now (writes go to the writer); a write that waits for another
        // process's lock stands in here for a call that takes long.
        let mut locker = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        locker.batch_execute("BEGIN IMMEDIATE").unwrap();

        let write = store.run(|conn| diesel::sql_query("DELETE FROM connections").execute(conn));
        assert!(tokio::time::timeout(Duration::from_millis(100), write).await.is_err(), "the write waits");
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            locker.batch_execute("COMMIT").unwrap();
        });
        // The only connection is still the cancelled write's: the next call waits for it to end,
        // then gets it back in working order.
        let started = std::time::Instant::now();
        store.read(|conn| diesel::sql_query("SELECT 1").execute(conn)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150), "lent while the write still ran");
        release.join().unwrap();
    }

    #[tokio::test]
    async fn a_read_runs_on_the_calling_thread_and_everything_else_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("threads.db").display());
        let store = crate::SqliteStore::connect(&url, SqliteConfig::default()).await.unwrap();
        let caller = std::thread::current().id();
        let thread_of = |conn: &mut SqliteConnection| -> QueryResult<_> {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(std::thread::current().id())
        };

        assert_eq!(store.read(thread_of).await.unwrap(), caller);
        // The flag a read sets does not outlive it: the next call goes to the blocking pool.
        assert_ne!(store.run(thread_of).await.unwrap(), caller);
        assert_eq!(store.read(thread_of).await.unwrap(), caller);
        assert_ne!(store.run(thread_of).await.unwrap(), caller);
    }
}
