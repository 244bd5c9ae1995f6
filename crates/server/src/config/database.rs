//! The database the connections are stored in.

use std::time::Duration;

use super::{ConfigError, Source};

/// The store. Reads:
///
/// - `DATABASE_URL`: `sqlite://…` or `postgres://…` (default `sqlite://data/asset-directory.db`);
/// - `DATABASE_POOL_SIZE`: connections each process holds at most (default 4 × (cores + 1), at
///   most 64: on PostgreSQL four for each HTTP worker's lane and four shared);
/// - `DATABASE_TIMEOUT_MS`: bound on every wait for the database (default `5000`);
/// - `DATABASE_MIGRATE_ON_START`: apply pending migrations at start-up (default `true`).
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub pool_size: usize,
    pub timeout: Duration,
    /// Apply pending migrations at start-up (the default). When off, a PostgreSQL replica
    /// refuses to start on a schema that is behind (`asset-directory migrate` brings it up to
    /// date). SQLite, one process on its own file, always migrates.
    pub migrate_on_start: bool,
}

impl DatabaseConfig {
    pub(super) const VARIABLES: &'static [&'static str] =
        &["DATABASE_URL", "DATABASE_POOL_SIZE", "DATABASE_TIMEOUT_MS", "DATABASE_MIGRATE_ON_START"];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            url: source.text("DATABASE_URL")?.unwrap_or_else(|| "sqlite://data/asset-directory.db".to_owned()),
            pool_size: source
                .number::<u32>("DATABASE_POOL_SIZE")?
                .map_or_else(default_pool_size, |n| n.max(1) as usize),
            timeout: Duration::from_millis(source.number::<u64>("DATABASE_TIMEOUT_MS")?.unwrap_or(5_000).max(1)),
            migrate_on_start: source.flag("DATABASE_MIGRATE_ON_START")?.unwrap_or(true),
        })
    }
}

fn default_pool_size() -> usize {
    postgres_adapter::default_pool_size(super::worker_threads())
}
