//! The store `DATABASE_URL` names, opened the same way for the service and for the operator
//! commands (`migrate`, `reencrypt`): `sqlite:` selects the embedded store, `postgres://` or
//! `postgresql://` the fleet store.

use postgres_adapter::{PgConfig, PgStore};
use sqlite_adapter::{SqliteConfig, SqliteStore};

use crate::config::DatabaseConfig;

/// Why the database cannot be used. Never repeats the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("DATABASE_URL must start with sqlite:// or postgres://")]
    UnknownScheme,
    #[error("{0}")]
    Open(String),
    #[error(
        "the database schema is behind this release ({pending} migration(s) pending, e.g. {first}); \
         run `asset-directory migrate`, or start with DATABASE_MIGRATE_ON_START=true"
    )]
    Outdated { pending: usize, first: String },
}

/// An open store of either kind.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// The SQLite file is up to date (SQLite reports no versions).
    Sqlite,
    /// The PostgreSQL migrations this run applied (empty when the schema was current).
    Postgres { applied: Vec<String> },
}

impl std::fmt::Display for Migrated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("SQLite schema is up to date"),
            Self::Postgres { applied } if applied.is_empty() => {
                f.write_str("PostgreSQL schema is up to date; nothing to apply")
            }
            Self::Postgres { applied } => write!(f, "PostgreSQL migrations applied: {}", applied.join(", ")),
        }
    }
}

enum Kind {
    Sqlite,
    Postgres,
}

fn kind(url: &str) -> Result<Kind, DatabaseError> {
    if url.starts_with("sqlite:") {
        Ok(Kind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Kind::Postgres)
    } else {
        Err(DatabaseError::UnknownScheme)
    }
}

fn sqlite_config(config: &DatabaseConfig) -> SqliteConfig {
    SqliteConfig { pool_size: config.pool_size, timeout: config.timeout }
}

fn pg_config(config: &DatabaseConfig) -> PgConfig {
    PgConfig { pool_size: config.pool_size, timeout: config.timeout, worker_threads: crate::config::worker_threads() }
}

/// Connections of the webhook dispatcher's own PostgreSQL pool, beside `DATABASE_POOL_SIZE`.
pub const DISPATCHER_POOL_SIZE: usize = 4;

/// The webhook dispatcher's own pool on the PostgreSQL database at `config`'s URL (migrated by
/// the service's store already): opened lazily, by the dispatcher's runtime, so its connections
/// are driven on the dispatcher's low-priority thread, and used by nothing else, so no other
/// caller's query waits on that thread (`server::background`).
pub fn dispatcher_pool(config: &DatabaseConfig) -> Result<PgStore, DatabaseError> {
    let own = PgConfig { pool_size: DISPATCHER_POOL_SIZE, worker_threads: 0, ..pg_config(config) };
    PgStore::connect_without_migrating(config.url.as_str(), own).map_err(open_error)
}

/// The error and its causes on one line, so the operator sees why ("connection refused").
fn open_error(e: impl std::error::Error) -> DatabaseError {
    DatabaseError::Open(crate::startup::error_chain(&e))
}

impl Database {
    /// Opens the store. With `migrate_on_start` (the default) pending migrations are applied
    /// first; without it, a PostgreSQL schema that is behind is refused.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, DatabaseError> {
        let url = config.url.as_str();
        match kind(url)? {
            Kind::Sqlite => {
                Ok(Self::Sqlite(SqliteStore::connect(url, sqlite_config(config)).await.map_err(open_error)?))
            }
            Kind::Postgres if config.migrate_on_start => {
                Ok(Self::Postgres(PgStore::connect(url, pg_config(config)).await.map_err(open_error)?))
            }
            Kind::Postgres => {
                let pending = postgres_adapter::pending_migrations(url, pg_config(config)).await.map_err(open_error)?;
                if let Some(first) = pending.first() {
                    return Err(DatabaseError::Outdated { pending: pending.len(), first: first.clone() });
                }
                Ok(Self::Postgres(PgStore::connect_without_migrating(url, pg_config(config)).map_err(open_error)?))
            }
        }
    }

    /// Applies pending migrations and nothing else (the `migrate` command).
    pub async fn migrate(config: &DatabaseConfig) -> Result<Migrated, DatabaseError> {
        let url = config.url.as_str();
        match kind(url)? {
            Kind::Sqlite => {
                SqliteStore::connect(url, sqlite_config(config)).await.map_err(open_error)?;
                Ok(Migrated::Sqlite)
            }
            Kind::Postgres => {
                let applied = postgres_adapter::migrate(url, pg_config(config)).await.map_err(open_error)?;
                Ok(Migrated::Postgres { applied })
            }
        }
    }
}
