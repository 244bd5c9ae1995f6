//! `ConnectionStore` on PostgreSQL. Every write is one statement or one transaction, so
//! concurrent replicas never see half a connection: an update is a compare-and-set on the
//! stored status, and a delete is `DELETE … RETURNING`, which exactly one caller wins.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::{Connection, ConnectionStatus, RefId};
use ports::{ConnectionStore, PendingFlow, SecretsUpdate, StoreError, StoredSecrets};

use crate::PgStore;
use crate::error::from_diesel;
use crate::rows::{ConnectionChanges, ConnectionRow, FlowRow, NewConnectionRow, SecretsRow};
use crate::schema::{connections, oauth_flows};

#[async_trait]
impl ConnectionStore for PgStore {
    async fn insert(
        &self,
        connection: &Connection,
        secrets: &StoredSecrets,
        flow: Option<PendingFlow>,
    ) -> Result<(), StoreError> {
        let row = NewConnectionRow::new(connection, secrets);
        let flow = flow.as_ref().map(FlowRow::new);
        self.bounded(async {
            let mut conn = self.conn().await?;
            conn.transaction(async |tx| {
                diesel::insert_into(connections::table).values(&row).execute(tx).await?;
                if let Some(flow) = &flow {
                    diesel::insert_into(oauth_flows::table).values(flow).execute(tx).await?;
                }
                Ok(())
            })
            .await
            .map_err(from_diesel)
        })
        .await
    }

    async fn get(&self, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        // Owned, because the query's future outlives no borrow (see `PgStore::read`).
        let id = ref_id.as_str().to_owned();
        let row = self
            .read(|conn| {
                let id = id.clone();
                Box::pin(async move {
                    connections::table.find(id).select(ConnectionRow::as_select()).get_result(conn).await.optional()
                })
            })
            .await?;
        row.map(ConnectionRow::into_domain).transpose()
    }

    async fn list(&self) -> Result<Vec<Connection>, StoreError> {
        let rows = self
            .read(|conn| {
                Box::pin(
                    connections::table
                        .select(ConnectionRow::as_select())
                        .order((connections::created_at.asc(), connections::ref_id.asc()))
                        .load(conn),
                )
            })
            .await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn secrets(&self, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError> {
        let id = ref_id.as_str().to_owned();
        let row = self
            .read(|conn| {
                let id = id.clone();
                Box::pin(async move {
                    connections::table.find(id).select(SecretsRow::as_select()).get_result(conn).await.optional()
                })
            })
            .await?;
        Ok(row.map(SecretsRow::into_domain))
    }

    async fn get_with_secrets(&self, ref_id: &RefId) -> Result<Option<(Connection, StoredSecrets)>, StoreError> {
        // Owned, because the query's future outlives no borrow (see `PgStore::read`).
        let id = ref_id.as_str().to_owned();
        let row = self
            .read(|conn| {
                let id = id.clone();
                Box::pin(async move {
                    connections::table
                        .find(id)
                        .select((ConnectionRow::as_select(), SecretsRow::as_select()))
                        .get_result(conn)
                        .await
                        .optional()
                })
            })
            .await?;
        row.map(|(connection, secrets)| Ok((connection.into_domain()?, secrets.into_domain()))).transpose()
    }

    async fn update(
        &self,
        connection: &Connection,
        expected: ConnectionStatus,
        secrets: &SecretsUpdate,
    ) -> Result<bool, StoreError> {
        use connections::dsl::{access_token, refresh_token};
        let changes = ConnectionChanges::new(connection);
        self.bounded(async {
            let mut conn = self.conn().await?;
            let target =
                connections::table.find(connection.ref_id.as_str()).filter(connections::status.eq(expected.as_str()));
            let update = diesel::update(target);
            let written = match secrets {
                SecretsUpdate::Keep => update.set(&changes).execute(&mut conn).await,
                SecretsUpdate::Tokens { access_token: access, refresh_token: Some(refresh) } => {
                    update
                        .set((&changes, access_token.eq(&access.0), refresh_token.eq(&refresh.0)))
                        .execute(&mut conn)
                        .await
                }
                // No new refresh token: the stored one stays (spec §7).
                SecretsUpdate::Tokens { access_token: access, refresh_token: None } => {
                    update.set((&changes, access_token.eq(&access.0))).execute(&mut conn).await
                }
                SecretsUpdate::ClearTokens => {
                    update
                        .set((&changes, access_token.eq(None::<Vec<u8>>), refresh_token.eq(None::<Vec<u8>>)))
                        .execute(&mut conn)
                        .await
                }
            }
            .map_err(from_diesel)?;
            Ok(written == 1)
        })
        .await
    }

    async fn delete(&self, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError> {
        // The flows go with it (ON DELETE CASCADE), in the same statement.
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row = diesel::delete(connections::table.find(ref_id.as_str()))
                .returning(SecretsRow::as_returning())
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            Ok(row.map(SecretsRow::into_domain))
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
        let status = self.pool.status();
        ports::PoolStatus {
            max_size: status.max_size,
            size: status.size,
            in_use: status.size.saturating_sub(status.available),
            waiting: status.waiting,
        }
    }
}
