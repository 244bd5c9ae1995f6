//! The pool's check of a connection before lending it, and the retry of a read that met a
//! connection the server had closed.
//!
//! diesel-async's own manager either sends a test query before every loan (`Verified`: one more
//! round trip per store call, measured at 40 % of the credentials route's cost) or only looks at
//! whether the socket is known to be closed (`Fast`). [`Manager`] does what HikariCP does with
//! its "alive bypass window": a connection lent again within [`VERIFY_IDLE_AFTER`] of its last
//! loan has just worked, so only the cheap local check runs; one idle for longer gets the test
//! query, because that is when the server (a restart, an idle timeout, a failover, an
//! administrator) has had time to end it.
//!
//! The local check cannot see a connection the server closed a moment ago whose socket the
//! driver has not read yet. A read that fails that way ([`closed`]) is therefore run once more
//! on another connection (see `PgStore::read`): a read repeated changes nothing. A write is
//! never repeated, since it may have been applied before the connection dropped; it answers
//! `Unavailable`, as during any outage.

use std::time::Duration;

use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolError, PoolableConnection};

/// A connection lent again within this time of its previous loan is not sent a test query.
pub(crate) const VERIFY_IDLE_AFTER: Duration = Duration::from_millis(500);

pub(crate) type Pool = deadpool::managed::Pool<Manager>;
pub(crate) type Object = deadpool::managed::Object<Manager>;

/// diesel-async's manager (which opens connections) with the recycling rule above.
pub(crate) struct Manager {
    /// Configured with `RecyclingMethod::Verified`: its `recycle` sends the test query.
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
    verify_idle_after: Duration,
}

impl Manager {
    pub(crate) fn new(inner: AsyncDieselConnectionManager<AsyncPgConnection>, verify_idle_after: Duration) -> Self {
        Self { inner, verify_idle_after }
    }
}

impl deadpool::managed::Manager for Manager {
    type Type = AsyncPgConnection;
    type Error = PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, PoolError> {
        self.inner.create().await
    }

    async fn recycle(&self, conn: &mut AsyncPgConnection, metrics: &Metrics) -> RecycleResult<PoolError> {
        if metrics.last_used() >= self.verify_idle_after {
            return self.inner.recycle(conn, metrics).await;
        }
        // A connection left in a transaction, or whose socket is known to be closed.
        if conn.is_broken() {
            return Err(RecycleError::message("the connection is closed or was left in a transaction"));
        }
        Ok(())
    }
}

/// Whether a query failed because its connection was already closed, before the statement could
/// have had an effect: the driver could not send it, or the server had ended the session.
pub(crate) fn closed(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
            true
        }
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            info.message().contains("terminating connection") || info.message().contains("connection closed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::db_error;

    #[test]
    fn a_connection_the_server_ended_counts_as_closed() {
        assert!(closed(&db_error(DatabaseErrorKind::ClosedConnection, "closed")));
        assert!(closed(&db_error(DatabaseErrorKind::UnableToSendCommand, "connection closed")));
        assert!(closed(&db_error(DatabaseErrorKind::Unknown, "terminating connection due to administrator command")));
    }

    #[test]
    fn an_error_of_the_statement_itself_does_not() {
        assert!(!closed(&db_error(DatabaseErrorKind::UniqueViolation, "duplicate key value")));
        assert!(!closed(&db_error(DatabaseErrorKind::Unknown, "canceling statement due to statement timeout")));
        assert!(!closed(&DieselError::NotFound));
    }
}
