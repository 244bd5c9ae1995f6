//! `ConnectSessionStore` on PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use diesel_store::sessions::{self, SessionRow};
use domain::{ConnectSession, Owner, Timestamp};
use ports::{ConnectSessionStore, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

#[async_trait]
impl ConnectSessionStore for PgStore {
    async fn add_session(&self, session: &ConnectSession) -> Result<(), StoreError> {
        let row = SessionRow::new(session);
        self.bounded(async {
            let mut conn = self.conn().await?;
            sessions::add(&row).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<ConnectSession>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<SessionRow> =
                sessions::find(token_hash).get_result(&mut conn).await.optional().map_err(from_diesel)?;
            row.map(SessionRow::into_domain).transpose()
        })
        .await
    }

    async fn delete_sessions_of(&self, owner: &Owner) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = sessions::delete_of(owner).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = sessions::delete_expired(now).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(deleted as u64)
        })
        .await
    }
}
