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
//! `Unavailable`, as during any outage. And once any call has found the database unavailable,
//! every connection lent before that moment gets the test query on its next loan
//! ([`Suspicion`]), so after a restart the dead ones are weeded out before writes meet them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolError, PoolableConnection};

/// A connection lent again within this time of its previous loan is not sent a test query.
pub(crate) const VERIFY_IDLE_AFTER: Duration = Duration::from_millis(500);

pub(crate) type Pool = deadpool::managed::Pool<Manager>;
pub(crate) type Object = deadpool::managed::Object<Manager>;

/// When the store last found the database unavailable. A connection not lent since then is sent
/// the test query on its next loan however recently it was used before: after a restart or a
/// failover every pooled connection is suspect, not only the one that failed.
#[derive(Debug, Default)]
pub(crate) struct Suspicion(Mutex<Option<Instant>>);

impl Suspicion {
    pub(crate) fn raise(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// Whether a connection last lent at `lent` was lent before the database was last found
    /// unavailable.
    fn covers(&self, lent: Instant) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).is_some_and(|since| lent < since)
    }
}

/// diesel-async's manager (which opens connections) with the recycling rule above.
pub(crate) struct Manager {
    /// Configured with `RecyclingMethod::Verified`: its `recycle` sends the test query.
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
    verify_idle_after: Duration,
    suspicion: Arc<Suspicion>,
}

impl Manager {
    pub(crate) fn new(
        inner: AsyncDieselConnectionManager<AsyncPgConnection>,
        verify_idle_after: Duration,
        suspicion: Arc<Suspicion>,
    ) -> Self {
        Self { inner, verify_idle_after, suspicion }
    }
}

impl deadpool::managed::Manager for Manager {
    type Type = AsyncPgConnection;
    type Error = PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, PoolError> {
        self.inner.create().await
    }

    async fn recycle(&self, conn: &mut AsyncPgConnection, metrics: &Metrics) -> RecycleResult<PoolError> {
        let lent = metrics.recycled.unwrap_or(metrics.created);
        if metrics.last_used() >= self.verify_idle_after || self.suspicion.covers(lent) {
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
    fn connections_lent_before_an_outage_was_seen_are_suspect_and_later_ones_are_not() {
        let suspicion = Suspicion::default();
        let before = Instant::now();
        assert!(!suspicion.covers(before), "nothing is suspect before any outage");
        std::thread::sleep(Duration::from_millis(2));
        suspicion.raise();
        std::thread::sleep(Duration::from_millis(2));
        assert!(suspicion.covers(before));
        assert!(!suspicion.covers(Instant::now()), "lent (and so checked) since");
    }

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
