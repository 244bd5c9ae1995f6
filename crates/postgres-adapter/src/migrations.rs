//! The schema migrations of `migrations/postgres`, embedded in the binary and run without libpq:
//! diesel's synchronous harness drives an async connection through `AsyncConnectionWrapper` on
//! a blocking thread (calling the wrapper from async code directly would panic).
//!
//! Several replicas may start at once against one database: a session advisory lock makes them
//! migrate one after the other, so each migration runs exactly once.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use ports::{BoxError, StoreError};

use crate::error::{from_diesel, timed_out};
use crate::setup::Target;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// An arbitrary constant naming this service's migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK: i64 = 0x4164_4469_7200_0001;

/// Which way to migrate.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    /// Apply every pending migration.
    Up,
    /// Revert every applied migration (an empty database remains).
    DownAll,
    /// Change nothing; list the migrations not applied yet.
    Pending,
}

/// Runs the migrations one way and returns the versions it applied or reverted (or, for
/// `Pending`, would apply).
pub(crate) async fn migrate(
    target: &Target,
    connect_timeout: Duration,
    direction: Direction,
) -> Result<Vec<String>, StoreError> {
    let conn = tokio::time::timeout(connect_timeout, target.establish())
        .await
        .map_err(|_| timed_out(connect_timeout))?
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    tokio::task::spawn_blocking(move || run(conn, direction)).await.map_err(|e| StoreError::Internal(Box::new(e)))?
}

fn run(conn: AsyncPgConnection, direction: Direction) -> Result<Vec<String>, StoreError> {
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).map_err(from_diesel)?;
    let done = match direction {
        Direction::Up => conn.run_pending_migrations(MIGRATIONS),
        Direction::DownAll => conn.revert_all_migrations(MIGRATIONS),
        Direction::Pending => conn
            .pending_migrations(MIGRATIONS)
            .map(|pending| pending.iter().map(|migration| migration.name().version().as_owned()).collect()),
    }
    .map(|versions| versions.iter().map(ToString::to_string).collect())
    .map_err(from_migration);
    // Closing the session would release the lock too; unlocking keeps it short on success.
    let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    done
}

fn from_migration(e: BoxError) -> StoreError {
    match e.downcast::<diesel::result::Error>() {
        Ok(e) => from_diesel(*e),
        Err(e) => StoreError::Internal(e),
    }
}
