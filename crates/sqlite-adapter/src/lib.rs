//! The embedded default store: the Asset Directory's connections, pending OAuth flows and audit
//! log in one SQLite file (bundled SQLite, WAL mode), through diesel. [`SqliteStore`]
//! implements [`ports::ConnectionStore`], [`ports::FlowStore`], [`ports::AuditLog`],
//! [`ports::RekeyStore`], [`ports::RefreshQueue`] (the refresh leases),
//! [`ports::ConnectSessionStore`], [`ports::RegistrationStore`] and [`ports::EventStore`]
//! (lifecycle events, webhook endpoints and their deliveries).
//!
//! The schema, rows and queries are `diesel_store`'s, shared with the PostgreSQL adapter; this
//! crate adds how they run here. Start-up creates the file's directory, switches the file to WAL
//! and applies the embedded migrations of `migrations/sqlite` ([`MIGRATIONS`]). Every connection waits at most the
//! configured timeout for a lock (`busy_timeout`), enforces foreign keys and syncs `NORMAL`.
//! Each store call is one closure on one connection. Writes go to the one writer (`writer`): a
//! thread with a connection of its own that runs them in arrival order, what has queued up in
//! one `IMMEDIATE` transaction (group commit), each write in a savepoint of its own; its caller
//! hears the outcome after the commit. Reads use the bounded pool through diesel-async's
//! `SyncConnectionWrapper`: short ones right on the calling thread (in WAL mode a read never
//! waits for a writer, and a thread hand-off costs more than the read), long ones on tokio's
//! blocking threads. A call that is cancelled half-way still finishes (or rolls back) as a whole.
//!
//! Races are settled by the writer's order: compare-and-set is one `UPDATE … WHERE status = ?`,
//! consuming a flow or deleting a connection is one `DELETE … RETURNING`, and a write of several
//! statements (a connection with its flow and audit events) is all or nothing in its savepoint.
//! `IMMEDIATE` takes the write lock up front instead of upgrading a read lock (that upgrade can
//! fail at once with `SQLITE_BUSY`, whatever the busy timeout). Secrets are stored as the sealed bytes given and
//! never looked into. Lock and pool timeouts become `StoreError::Unavailable`, duplicate keys
//! `Conflict`, rows that do not decode `Corrupt`.

mod audit;
mod connections;
mod error;
mod events;
mod flows;
mod pool;
mod refresh;
mod registrations;
mod rekey;
mod sessions;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::QueryResult;
use diesel::sqlite::SqliteConnection;
use ports::StoreError;

pub use error::ConnectError;
pub use pool::{MIGRATIONS, SqliteConfig};

/// The SQLite store. Cloning is cheap: clones share one pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: pool::ConnPool,
    writer: writer::Writer,
    path: Arc<PathBuf>,
    /// Short reads run on the calling thread; only when the file is in WAL mode, where a read
    /// never waits for a writer.
    inline_reads: bool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).field("pool", &self.pool.status()).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if need be) the database `url` names, brings its schema up to date and
    /// returns a store over a pool of `config.pool_size` connections.
    ///
    /// `url` is `sqlite://relative/path.db`, `sqlite:///absolute/path.db` or a plain path.
    pub async fn connect(url: &str, config: SqliteConfig) -> Result<Self, ConnectError> {
        let path = pool::database_path(url)?;
        pool::create_parent_dir(&path)?;
        let path_str = path.to_str().ok_or_else(|| ConnectError::InvalidUrl(url.to_owned()))?.to_owned();

        let prepared = path_str.clone();
        let (wal, writer) = tokio::task::spawn_blocking(move || {
            let wal = pool::prepare(&prepared, config.timeout)?;
            Ok::<_, ConnectError>((wal, pool::writer(&prepared, config.timeout)?))
        })
        .await
        .map_err(ConnectError::Startup)??;

        let pool = pool::build(&path_str, config)?;
        let store = Self { pool, writer, path: Arc::new(path), inline_reads: wal };
        ports::ConnectionStore::ping(&store).await.map_err(ConnectError::Unusable)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the one writer holds a working connection (a health check's concern).
    fn writer_healthy(&self) -> bool {
        self.writer.healthy()
    }

    /// Runs `task`, which writes, through the one writer (see `writer`), inside a transaction of
    /// the writer's: `task` must not begin one.
    async fn write<R, F>(&self, task: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.writer.write(task).await
    }

    /// Runs `task` on a pooled connection, on a blocking thread, and translates its failure.
    /// For reads that may take long (a re-encryption batch, a connection's whole history).
    ///
    /// The pooled connection goes with the task into a task of its own, so that a caller that
    /// is cancelled (its client went away, its bound ran out) leaves the closure to finish
    /// holding the connection, and the connection returns to the pool only then: never while a
    /// closure still runs on it.
    async fn run<R, F>(&self, task: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let mut conn = self.pool.get().await.map_err(error::from_pool)?;
        let done = tokio::spawn(async move { conn.spawn_blocking(task).await });
        match done.await {
            Ok(result) => result.map_err(error::from_diesel),
            Err(e) => Err(StoreError::Internal(Box::new(e))),
        }
    }

    /// Runs `task`, a short read (a few rows by key, or the user's connections), on a pooled
    /// connection on this thread (see `pool::Runner`); through [`Self::run`] when the file is
    /// not in WAL mode, where a read can wait for a writer.
    async fn read<R, F>(&self, task: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        R: Send + 'static,
    {
        if !self.inline_reads {
            return self.run(task).await;
        }
        let mut conn = self.pool.get().await.map_err(error::from_pool)?;
        pool::inline(&mut conn, task).await.map_err(error::from_diesel)
    }
}
