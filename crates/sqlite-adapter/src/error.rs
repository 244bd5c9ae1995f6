//! Translation of diesel, pool and start-up failures into the errors this crate returns.

use std::path::PathBuf;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::{BuildError, PoolError};
use ports::{BoxError, StoreError};

/// Why [`SqliteStore::connect`](crate::SqliteStore::connect) could not open the store.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "`{0}` is not a SQLite database URL (expected `sqlite://relative/path.db` or `sqlite:///absolute/path.db`)"
    )]
    InvalidUrl(String),
    #[error("cannot create the database directory `{}`", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database `{}`", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: diesel::ConnectionError,
    },
    #[error("cannot configure the SQLite database")]
    Configure(#[source] DieselError),
    #[error("the SQLite migrations failed")]
    Migrate(#[source] BoxError),
    #[error("cannot build the SQLite connection pool")]
    Pool(#[source] BuildError),
    #[error("cannot start the SQLite writer thread")]
    Writer(#[source] std::io::Error),
    #[error("the database start-up task did not finish")]
    Startup(#[source] tokio::task::JoinError),
    #[error("the new store does not answer")]
    Unusable(#[source] StoreError),
}

/// SQLite reports a lock it waited `busy_timeout` for with these messages (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`); diesel passes them on as an unknown database error.
pub(crate) fn is_lock_timeout(message: &str) -> bool {
    ["database is locked", "database table is locked", "database schema is locked"]
        .iter()
        .any(|known| message.contains(known))
}

/// A diesel error as a [`StoreError`]: lock timeouts make the store unavailable, duplicate keys
/// conflict, undecodable values are corrupt, the rest is internal.
pub(crate) fn from_diesel(error: DieselError) -> StoreError {
    match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StoreError::Conflict(info.message().to_owned())
        }
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) if is_lock_timeout(info.message()) => {
            StoreError::Unavailable(Box::new(error))
        }
        // The blocking task that runs the query could not be spawned: the runtime is going away.
        DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => {
            StoreError::Unavailable(Box::new(error))
        }
        DieselError::DeserializationError(cause) => StoreError::Corrupt(cause.to_string()),
        _ => StoreError::Internal(Box::new(error)),
    }
}

/// A pool failure as a [`StoreError`]: no connection within the timeout, a closed pool or a
/// database that cannot be opened are all "unavailable, try later".
pub(crate) fn from_pool(error: PoolError) -> StoreError {
    match error {
        PoolError::Timeout(_) | PoolError::Closed | PoolError::Backend(_) => StoreError::Unavailable(Box::new(error)),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::Internal(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_busy_or_locked_database_is_unavailable() {
        for message in ["database is locked", "database table is locked"] {
            let error = from_diesel(database_error(DatabaseErrorKind::Unknown, message));
            assert!(matches!(error, StoreError::Unavailable(_)), "{message}: {error:?}");
        }
    }

    #[test]
    fn a_unique_violation_is_a_conflict_and_other_failures_are_internal() {
        let conflict = from_diesel(database_error(
            DatabaseErrorKind::UniqueViolation,
            "UNIQUE constraint failed: connections.ref_id",
        ));
        assert!(matches!(conflict, StoreError::Conflict(ref m) if m.contains("connections.ref_id")));
        let check = from_diesel(database_error(DatabaseErrorKind::CheckViolation, "CHECK constraint failed"));
        assert!(matches!(check, StoreError::Internal(_)));
        assert!(matches!(from_diesel(DieselError::NotFound), StoreError::Internal(_)));
    }

    #[test]
    fn a_pool_timeout_or_closed_pool_is_unavailable() {
        let timeout = PoolError::Timeout(deadpool::managed::TimeoutType::Wait);
        assert!(matches!(from_pool(timeout), StoreError::Unavailable(_)));
        assert!(matches!(from_pool(PoolError::Closed), StoreError::Unavailable(_)));
        assert!(matches!(from_pool(PoolError::NoRuntimeSpecified), StoreError::Internal(_)));
    }
}
