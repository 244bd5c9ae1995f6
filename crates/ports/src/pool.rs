//! How busy a store's connection pool is, for the operator's metrics.

/// A snapshot of a connection pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections the pool will open.
    pub max_size: usize,
    /// Connections open now, busy or idle.
    pub size: usize,
    /// Connections lent out to a caller right now.
    pub in_use: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// A store that draws from a connection pool. Cheap and synchronous: it reads counters the pool
/// keeps anyway, so a metrics scrape never waits for the database.
pub trait PoolStats: Send + Sync + 'static {
    fn pool_status(&self) -> PoolStatus;
}
