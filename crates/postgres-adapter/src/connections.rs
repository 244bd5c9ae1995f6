//! `ConnectionStore` on PostgreSQL. Every write is one statement that also records its audit
//! events (see `recorded`), so concurrent replicas never see half a connection nor a change
//! without its record: an update is a compare-and-set on the stored status, and a delete is
//! `DELETE … RETURNING`, which exactly one caller wins.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use diesel_store::connections::{self, ConnectionRow, SecretsRow};
use domain::{Connection, ConnectionStatus, Owner, RefId, Timestamp};
use ports::{
    AuditEvent, ConnectionQuery, ConnectionStore, PendingFlow, SecretsUpdate, StoreError, StoredSecrets, UserQuery,
    UserSummary,
};

use crate::PgStore;
use crate::error::from_diesel;
use crate::recorded::{DeleteConnection, InsertConnection, UpdateConnection};

#[async_trait]
impl ConnectionStore for PgStore {
    async fn insert(
        &self,
        connection: &Connection,
        secrets: &StoredSecrets,
        flow: Option<PendingFlow>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let statement = InsertConnection::new(connection, secrets, flow.as_ref(), events);
        self.bounded(async {
            let mut conn = self.conn().await?;
            statement.execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn get(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        // Owned, because the query's future outlives no borrow (see `PgStore::read`).
        let (owner, id) = (owner.clone(), ref_id.as_str().to_owned());
        let row = self
            .read(|conn| {
                let (owner, id) = (owner.clone(), id.clone());
                Box::pin(async move { connections::find(&owner, &id).get_result(conn).await.optional() })
            })
            .await?;
        row.map(ConnectionRow::into_domain).transpose()
    }

    async fn get_any(&self, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        let id = ref_id.as_str().to_owned();
        let row = self
            .read(|conn| {
                let id = id.clone();
                Box::pin(async move { connections::find_any(&id).get_result(conn).await.optional() })
            })
            .await?;
        row.map(ConnectionRow::into_domain).transpose()
    }

    async fn list(&self, owner: &Owner) -> Result<Vec<Connection>, StoreError> {
        let owner = owner.clone();
        let rows = self
            .read(|conn| {
                let owner = owner.clone();
                Box::pin(async move { connections::of_owner(&owner).load(conn).await })
            })
            .await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn list_page(&self, owner: &Owner, query: &ConnectionQuery) -> Result<Vec<Connection>, StoreError> {
        let (owner, query) = (owner.clone(), query.clone());
        let rows = self
            .read(|conn| {
                let (owner, query) = (owner.clone(), query.clone());
                Box::pin(async move { connections::page(&owner, &query).load(conn).await })
            })
            .await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn users(&self, query: &UserQuery) -> Result<Vec<UserSummary>, StoreError> {
        let rows = self
            .read(|conn| {
                let query = query.clone();
                // One snapshot for both statements: a user forgotten between them must not shorten
                // the page (which would read as the last one).
                Box::pin(async move {
                    let mut snapshot = conn.build_transaction().read_only().repeatable_read();
                    snapshot
                        .run(async move |tx| {
                            let ids: Vec<String> = connections::user_ids(&query).load(tx).await?;
                            let Some(last) = ids.last() else { return Ok(Vec::new()) };
                            connections::status_counts(&query, last).load(tx).await
                        })
                        .await
                })
            })
            .await?;
        connections::summaries(rows)
    }

    async fn pending_before(&self, updated_before: Timestamp) -> Result<Vec<Connection>, StoreError> {
        let rows = self.read(|conn| Box::pin(connections::pending_before(updated_before).load(conn))).await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn secrets(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError> {
        let (owner, id) = (owner.clone(), ref_id.as_str().to_owned());
        let row: Option<SecretsRow> = self
            .read(|conn| {
                let (owner, id) = (owner.clone(), id.clone());
                Box::pin(async move { connections::secrets(&owner, &id).get_result(conn).await.optional() })
            })
            .await?;
        Ok(row.map(StoredSecrets::from))
    }

    async fn get_with_secrets(
        &self,
        owner: &Owner,
        ref_id: &RefId,
    ) -> Result<Option<(Connection, StoredSecrets)>, StoreError> {
        // Owned, because the query's future outlives no borrow (see `PgStore::read`).
        let (owner, id) = (owner.clone(), ref_id.as_str().to_owned());
        let row: Option<(ConnectionRow, SecretsRow)> = self
            .read(|conn| {
                let (owner, id) = (owner.clone(), id.clone());
                Box::pin(async move { connections::with_secrets(&owner, &id).get_result(conn).await.optional() })
            })
            .await?;
        row.map(|(connection, secrets)| Ok((connection.into_domain()?, StoredSecrets::from(secrets)))).transpose()
    }

    async fn update(
        &self,
        connection: &Connection,
        expected: ConnectionStatus,
        secrets: &SecretsUpdate,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let statement = UpdateConnection::new(connection, expected, secrets, event);
        self.bounded(async {
            let mut conn = self.conn().await?;
            let recorded = statement.execute(&mut conn).await.map_err(from_diesel)?;
            Ok(recorded == 1)
        })
        .await
    }

    async fn delete(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        event: &AuditEvent,
    ) -> Result<Option<StoredSecrets>, StoreError> {
        let statement = DeleteConnection::new(owner, ref_id, event);
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<SecretsRow> = statement.get_result(&mut conn).await.optional().map_err(from_diesel)?;
            Ok(row.map(StoredSecrets::from))
        })
        .await
    }

    async fn mark_used_any(&self, ref_ids: &[RefId], at: Timestamp) -> Result<(), StoreError> {
        let keys: Vec<String> = ref_ids.iter().map(|r| r.as_str().to_owned()).collect();
        self.bounded(async {
            let mut conn = self.conn().await?;
            connections::mark_used(&keys, at).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| Box::pin(diesel::sql_query("SELECT 1").execute(conn))).await?;
        Ok(())
    }
}

/// Read from the counters deadpool keeps; never touches the database, so a scrape during an
/// outage still answers (and shows the callers piling up in `waiting`).
impl ports::PoolStats for PgStore {
    fn pool_status(&self) -> ports::PoolStatus {
        self.pool_status_of_lanes()
    }
}
