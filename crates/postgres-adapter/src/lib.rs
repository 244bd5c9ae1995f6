//! The fleet store of the Asset Directory: every store port (`ConnectionStore`, `FlowStore`,
//! `AuditLog`, `RekeyStore`, `RefreshQueue`, `ConnectSessionStore`, `RegistrationStore`,
//! `EventStore`) on PostgreSQL, so several stateless replicas can
//! serve one database.
//!
//! diesel-async drives PostgreSQL through tokio-postgres (no libpq), behind a deadpool pool whose
//! wait, create and recycle timeouts, and a bound on every whole operation, turn a dead or
//! exhausted database into [`StoreError::Unavailable`] within [`PgConfig::timeout`] instead of a
//! hang. The pool sends a test query before lending a connection that sat idle (and a read that
//! meets a connection the server has just closed runs again on another), so the store heals by
//! itself when the database comes back. The migrations of `migrations/postgres` are embedded and run at
//! [`PgStore::connect`] (or alone through [`migrate`]). TLS is used when the URL says
//! `sslmode=require`, and then the server certificate is verified (against the platform's roots
//! or an `sslrootcert=<pem file>`). The schema, rows and most queries are `diesel_store`'s, shared
//! with the SQLite adapter; this crate adds the pool, the execution, the statements only
//! PostgreSQL has (`recorded`, `flows::TakeWithConnection`, `deliveries::ClaimDeliveries`), row locks (`FOR UPDATE SKIP LOCKED`)
//! and its error translation. Both run the same contract tests.

mod audit;
mod connections;
mod deliveries;
mod error;
mod events;
mod flows;
mod lanes;
mod migrations;
mod pool;
mod recorded;
mod refresh;
mod registrations;
mod rekey;
mod sessions;
mod setup;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use diesel::{ConnectionError, QueryResult};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use ports::StoreError;

pub use setup::UrlError;

use crate::error::{from_diesel, from_pool, timed_out};
use crate::lanes::Lanes;
use crate::migrations::Direction;
use crate::pool::{Object, Pool};
use crate::setup::Target;

/// Pool sizing and the bound on every wait (`DATABASE_POOL_SIZE`, `DATABASE_TIMEOUT_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgConfig {
    /// Most connections this process holds open at once, all lanes together (see `lanes`).
    pub pool_size: usize,
    /// How long any one store call may wait, in total, for a connection and its answer.
    pub timeout: Duration,
    /// The threads running a single-threaded runtime each (the HTTP workers) that get a lane
    /// of the pool of their own.
    pub worker_threads: usize,
}

impl Default for PgConfig {
    /// A worker per core, four connections for each and four shared (at most 32), and five
    /// seconds (the service's defaults).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self { pool_size: default_pool_size(cores), timeout: Duration::from_millis(5000), worker_threads: cores }
    }
}

/// Four connections for each of `worker_threads` lanes and for the shared one, at most 32 (as
/// before lanes: past 7 workers the lanes get fewer, past 15 the pool is not split).
pub fn default_pool_size(worker_threads: usize) -> usize {
    ((worker_threads + 1) * 4).min(32)
}

/// The future of one query on a borrowed connection (what [`PgStore::read`] runs).
type QueryFuture<'c, T> = Pin<Box<dyn Future<Output = QueryResult<T>> + Send + 'c>>;

/// The PostgreSQL store. Cheap to clone: clones share one pool (in lanes, see `lanes`).
#[derive(Clone)]
pub struct PgStore {
    lanes: Arc<Lanes<Pool>>,
    timeout: Duration,
    suspicion: Arc<pool::Suspicion>,
}

impl fmt::Debug for PgStore {
    // The URL (which may hold a password) is not kept, so it cannot be shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = ports::PoolStats::pool_status(self);
        f.debug_struct("PgStore")
            .field("pool_size", &status.max_size)
            .field("open", &status.size)
            .field("in_use", &status.in_use)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PgStore {
    /// Applies pending migrations, then opens the pool. Fails with `Unavailable` when the
    /// database cannot be reached within `config.timeout`.
    pub async fn connect(url: &str, config: PgConfig) -> Result<Self, StoreError> {
        let target = parse(url)?;
        migrations::migrate(&target, config.timeout, Direction::Up).await?;
        Self::open(target, config)
    }

    /// Opens the pool without touching the schema (for a deployment that migrates separately).
    /// Connections are made on first use.
    pub fn connect_without_migrating(url: &str, config: PgConfig) -> Result<Self, StoreError> {
        Self::open(parse(url)?, config)
    }

    fn open(target: Target, config: PgConfig) -> Result<Self, StoreError> {
        let suspicion = Arc::new(pool::Suspicion::default());
        let make = {
            let suspicion = Arc::clone(&suspicion);
            move |size| pool_of(&target, config, size, Arc::clone(&suspicion))
        };
        // The settings are the same for every lane, so one that builds means all do.
        drop(make(1)?);
        let split = lanes::Split::of(config.pool_size, config.worker_threads);
        let lanes = Lanes::new(split, move |size| {
            make(size).unwrap_or_else(|e| unreachable!("a pool with these settings was built once: {e}"))
        });
        Ok(Self { lanes: Arc::new(lanes), timeout: config.timeout, suspicion })
    }

    /// A pooled connection from the calling thread's lane, checked as `pool` describes before
    /// it is lent.
    async fn conn(&self) -> Result<Object, StoreError> {
        self.lanes.lend().await.map_err(from_pool)
    }

    /// Every lane's counters added up; the most is the configured pool size.
    fn pool_status_of_lanes(&self) -> ports::PoolStatus {
        self.lanes.all().map(Pool::status).fold(
            ports::PoolStatus { max_size: self.lanes.max_size(), ..ports::PoolStatus::default() },
            |sum, lane| ports::PoolStatus {
                size: sum.size + lane.size,
                in_use: sum.in_use + lane.size.saturating_sub(lane.available),
                waiting: sum.waiting + lane.waiting,
                ..sum
            },
        )
    }

    /// Runs a read on a pooled connection, and once more on another if the first turns out to
    /// have been closed by the server (see `pool`). Only for statements that change nothing.
    async fn read<T: Send>(
        &self,
        query: impl for<'c> Fn(&'c mut AsyncPgConnection) -> QueryFuture<'c, T> + Send + Sync,
    ) -> Result<T, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            match query(&mut conn).await {
                Err(e) if pool::closed(&e) => {
                    tracing::debug!(error = %e, "a pooled connection was closed by the server; reading again on another");
                    // Its siblings were likely closed too (a restart, a failover).
                    self.suspicion.raise();
                    // Out of the pool for good, so nobody else is lent it.
                    drop(Object::take(conn));
                    let mut conn = self.conn().await?;
                    query(&mut conn).await.map_err(from_diesel)
                }
                result => result.map_err(from_diesel),
            }
        })
        .await
    }

    /// Runs one store operation, bounded as a whole by the configured timeout.
    /// An `Unavailable` answer from the database (not a wait for a free pooled connection,
    /// which says nothing about the connections) makes every pooled connection suspect (see
    /// `pool::Suspicion`).
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let result = tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| Err(timed_out(self.timeout)));
        if let Err(StoreError::Unavailable(cause)) = &result
            && !error::is_pool_wait(cause.as_ref())
        {
            self.suspicion.raise();
        }
        result
    }
}

/// Applies every pending migration and returns the versions applied (the `migrate` command).
pub async fn migrate(url: &str, config: PgConfig) -> Result<Vec<String>, StoreError> {
    migrations::migrate(&parse(url)?, config.timeout, Direction::Up).await
}

/// The versions of the embedded migrations the database has not applied yet, changing nothing
/// (a replica that does not migrate at start-up refuses to serve an outdated schema).
pub async fn pending_migrations(url: &str, config: PgConfig) -> Result<Vec<String>, StoreError> {
    migrations::migrate(&parse(url)?, config.timeout, Direction::Pending).await
}

/// Reverts every applied migration, leaving an empty schema, and returns the versions reverted.
/// Destroys all data: for tests and for taking a database out of service.
pub async fn revert_all_migrations(url: &str, config: PgConfig) -> Result<Vec<String>, StoreError> {
    migrations::migrate(&parse(url)?, config.timeout, Direction::DownAll).await
}

/// A pool of at most `size` connections to `target`, opening none yet.
fn pool_of(
    target: &Target,
    config: PgConfig,
    size: usize,
    suspicion: Arc<pool::Suspicion>,
) -> Result<Pool, StoreError> {
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // A query this process gave up on (its call timed out) must not run on in the server,
    // holding locks and a backend: the server cancels it after twice the bound. (Twice, so
    // the caller's own bound always fires first and a slow call reads as Unavailable.)
    let statement_timeout = format!("SET statement_timeout = {}", 2 * config.timeout.as_millis());
    let target = target.clone();
    manager_config.custom_setup = Box::new(move |_url| {
        let (target, statement_timeout) = (target.clone(), statement_timeout.clone());
        Box::pin(async move {
            let mut conn = target.establish().await?;
            conn.batch_execute(&statement_timeout).await.map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    // The manager never reads the URL itself: `custom_setup` connects with the parsed one.
    let manager = AsyncDieselConnectionManager::new_with_config("", manager_config);
    let manager = pool::Manager::new(manager, pool::VERIFY_IDLE_AFTER, suspicion);
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(config.timeout))
        .create_timeout(Some(config.timeout))
        .recycle_timeout(Some(config.timeout))
        .build()
        .map_err(|e| StoreError::Internal(Box::new(e)))
}

fn parse(url: &str) -> Result<Target, StoreError> {
    Target::parse(url).map_err(|e| StoreError::Internal(Box::new(e)))
}
