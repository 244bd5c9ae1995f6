//! The database the connections are stored in.

use std::time::Duration;

use super::{ConfigError, Source};

/// The store. Reads:
///
/// - `DATABASE_URL`: `sqlite://…` or `postgres://…` (default `sqlite://data/asset-directory.db`);
/// - `DATABASE_POOL_SIZE`: connections each process holds at most (default on PostgreSQL
///   4 × (cores + 1), at most 32: four for each HTTP worker's lane and four shared; on SQLite
///   4 × cores, 4..32);
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
        let url = source.text("DATABASE_URL")?.unwrap_or_else(|| "sqlite://data/asset-directory.db".to_owned());
        Ok(Self {
            pool_size: source
                .number::<u32>("DATABASE_POOL_SIZE")?
                .map_or_else(|| default_pool_size(&url), |n| n.max(1) as usize),
            url,
            timeout: Duration::from_millis(source.number::<u64>("DATABASE_TIMEOUT_MS")?.unwrap_or(5_000).max(1)),
            migrate_on_start: source.flag("DATABASE_MIGRATE_ON_START")?.unwrap_or(true),
        })
    }
}

fn default_pool_size(url: &str) -> usize {
    if url.starts_with("postgres") {
        postgres_adapter::default_pool_size(super::worker_threads())
    } else {
        (super::worker_threads() * 4).clamp(4, 32)
    }
}
