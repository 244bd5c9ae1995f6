//! Connect sessions (`POST /assets/connect-sessions`): kept by the hash of their token, so a
//! store read never yields a token that works.

use async_trait::async_trait;
use domain::{ConnectSession, Owner, Timestamp};

use crate::StoreError;

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ConnectSessionStore: Send + Sync + 'static {
    /// Stores a new session (its token hash is fresh: random bytes of the id source).
    async fn add_session(&self, session: &ConnectSession) -> Result<(), StoreError>;

    /// The session whose token hashes to `token_hash`, expired or not (the caller decides).
    async fn session(&self, token_hash: &str) -> Result<Option<ConnectSession>, StoreError>;

    /// Deletes every session of `owner` (a user being forgotten); returns how many.
    async fn delete_sessions_of(&self, owner: &Owner) -> Result<u64, StoreError>;

    /// Deletes the sessions that expired before `now`; returns how many.
    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError>;
}
