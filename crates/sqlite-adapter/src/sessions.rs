//! [`ConnectSessionStore`] for [`SqliteStore`].

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_store::sessions::{self, SessionRow};
use domain::{ConnectSession, Owner, Timestamp};
use ports::{ConnectSessionStore, StoreError};

use crate::SqliteStore;

#[async_trait]
impl ConnectSessionStore for SqliteStore {
    async fn add_session(&self, session: &ConnectSession) -> Result<(), StoreError> {
        let row = SessionRow::new(session);
        self.write(move |conn| sessions::add(&row).execute(conn)).await.map(|_| ())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<ConnectSession>, StoreError> {
        let key = token_hash.to_owned();
        let row: Option<SessionRow> = self.read(move |conn| sessions::find(&key).get_result(conn).optional()).await?;
        row.map(SessionRow::into_domain).transpose()
    }

    async fn delete_sessions_of(&self, owner: &Owner) -> Result<u64, StoreError> {
        let owner = owner.clone();
        let deleted = self.write(move |conn| sessions::delete_of(&owner).execute(conn)).await?;
        Ok(deleted as u64)
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let deleted = self.write(move |conn| sessions::delete_expired(now).execute(conn)).await?;
        Ok(deleted as u64)
    }
}
