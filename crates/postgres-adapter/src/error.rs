//! Translation of diesel, pool and timeout failures into [`StoreError`].
//!
//! The rule: anything that says "the database is not there right now" (pool timeout, refused
//! or dropped connection, server shutting down or restarting, too many clients) is
//! `Unavailable`, so callers answer `503` and retry; a duplicate key is `Conflict`; a row that
//! does not decode is `Corrupt`; the rest is `Internal`. Messages carry PostgreSQL's message
//! text only, never its `DETAIL` (which can repeat key values).

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use ports::StoreError;

/// Why the database is taken to be unavailable, when no driver error says more.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Outage {
    #[error("the database did not answer within {} ms", .0.as_millis())]
    TimedOut(Duration),
}

/// Messages of PostgreSQL errors that mean the server is going away, starting, full, or too
/// slow (SQLSTATE classes 08, 53300, 57P0x, and 57014 for a statement timeout). diesel-async hands these over as
/// `DatabaseErrorKind::Unknown` without the SQLSTATE, so the message is all there is to go on.
const OUTAGE_MESSAGES: [&str; 7] = [
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "sorry, too many clients already",
    // 57014 from `statement_timeout`: the database did not answer in time.
    "canceling statement due to statement timeout",
];

pub(crate) fn from_diesel(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(kind, ref info) => match kind {
            DatabaseErrorKind::UniqueViolation => StoreError::Conflict(format!(
                "a row with the same key exists already ({})",
                info.constraint_name().unwrap_or("unique constraint")
            )),
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                StoreError::Unavailable(Box::new(e))
            }
            DatabaseErrorKind::Unknown if OUTAGE_MESSAGES.iter().any(|m| info.message().contains(m)) => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::Internal(Box::new(e)),
        },
        DieselError::DeserializationError(source) => {
            StoreError::Corrupt(format!("a stored value does not decode: {source}"))
        }
        DieselError::BrokenTransactionManager => StoreError::Unavailable(Box::new(e)),
        other => StoreError::Internal(Box::new(other)),
    }
}

pub(crate) fn from_pool(e: PoolError) -> StoreError {
    match e {
        PoolError::NoRuntimeSpecified => StoreError::Internal(Box::new(e)),
        // Timeout, refused or failed connection, failed recycle ping, closed pool: all mean the
        // database cannot be reached now.
        _ => StoreError::Unavailable(Box::new(e)),
    }
}

/// Whether `cause` is only that no pooled connection came free in time.
pub(crate) fn is_pool_wait(cause: &(dyn std::error::Error + 'static)) -> bool {
    matches!(cause.downcast_ref::<PoolError>(), Some(PoolError::Timeout(deadpool::managed::TimeoutType::Wait)))
}

pub(crate) fn timed_out(after: Duration) -> StoreError {
    StoreError::Unavailable(Box::new(Outage::TimedOut(after)))
}

/// A database error of `kind` with `message`, as diesel-async hands them over (for tests).
#[cfg(test)]
pub(crate) fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
    DieselError::DatabaseError(kind, Box::new(message.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_key_is_a_conflict() {
        let e =
            from_diesel(db_error(DatabaseErrorKind::UniqueViolation, "duplicate key value violates unique constraint"));
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    }

    #[test]
    fn an_administrator_shutdown_or_a_lost_connection_is_unavailable() {
        for e in [
            db_error(DatabaseErrorKind::Unknown, "terminating connection due to administrator command"),
            db_error(DatabaseErrorKind::Unknown, "the database system is shutting down"),
            db_error(DatabaseErrorKind::Unknown, "canceling statement due to statement timeout"),
            db_error(DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            db_error(DatabaseErrorKind::ClosedConnection, "closed"),
        ] {
            let e = from_diesel(e);
            assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        }
    }

    #[test]
    fn other_database_errors_are_internal() {
        let e = from_diesel(db_error(DatabaseErrorKind::CheckViolation, "violates check constraint"));
        assert!(matches!(e, StoreError::Internal(_)), "{e:?}");
        let e = from_diesel(db_error(DatabaseErrorKind::Unknown, "syntax error"));
        assert!(matches!(e, StoreError::Internal(_)), "{e:?}");
    }

    #[test]
    fn only_a_wait_for_a_free_connection_is_a_pool_wait() {
        let wait = PoolError::Timeout(deadpool::managed::TimeoutType::Wait);
        assert!(is_pool_wait(&wait));
        let create = PoolError::Timeout(deadpool::managed::TimeoutType::Create);
        assert!(!is_pool_wait(&create));
        assert!(!is_pool_wait(&Outage::TimedOut(Duration::from_millis(5))));
    }

    #[test]
    fn a_timeout_names_its_bound() {
        let e = timed_out(Duration::from_millis(250));
        let StoreError::Unavailable(source) = e else {
            panic!("not unavailable");
        };
        assert_eq!(source.to_string(), "the database did not answer within 250 ms");
    }
}
