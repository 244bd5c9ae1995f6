//! [`ConnectionStore`] for [`SqliteStore`].

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use domain::{Connection, ConnectionStatus, RefId};
use ports::{ConnectionStore, PendingFlow, SecretsUpdate, StoreError, StoredSecrets};

use crate::SqliteStore;
use crate::models::{ConnectionChanges, ConnectionRow, FlowRow, NewConnectionRow, SecretsRow};
use crate::schema::{connections, oauth_flows};

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn insert(
        &self,
        connection: &Connection,
        secrets: &StoredSecrets,
        flow: Option<PendingFlow>,
    ) -> Result<(), StoreError> {
        let row = NewConnectionRow::from_domain(connection, secrets);
        let flow = flow.as_ref().map(FlowRow::from_domain);
        self.run(move |conn| {
            // Two writes, all or nothing; IMMEDIATE takes the write lock before the first one.
            conn.immediate_transaction(|conn| {
                diesel::insert_into(connections::table).values(&row).execute(conn)?;
                if let Some(flow) = &flow {
                    diesel::insert_into(oauth_flows::table).values(flow).execute(conn)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn get(&self, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let row = self
            .read(move |conn| {
                connections::table.find(key).select(ConnectionRow::as_select()).get_result(conn).optional()
            })
            .await?;
        row.map(ConnectionRow::into_domain).transpose()
    }

    async fn list(&self) -> Result<Vec<Connection>, StoreError> {
        let rows = self
            .read(|conn| {
                connections::table
                    .select(ConnectionRow::as_select())
                    .order((connections::created_at.asc(), connections::ref_id.asc()))
                    .load(conn)
            })
            .await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn secrets(&self, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let row = self
            .read(move |conn| connections::table.find(key).select(SecretsRow::as_select()).get_result(conn).optional())
            .await?;
        Ok(row.map(StoredSecrets::from))
    }

    async fn get_with_secrets(&self, ref_id: &RefId) -> Result<Option<(Connection, StoredSecrets)>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let row = self
            .read(move |conn| {
                connections::table
                    .find(key)
                    .select((ConnectionRow::as_select(), SecretsRow::as_select()))
                    .get_result(conn)
                    .optional()
            })
            .await?;
        row.map(|(connection, secrets)| Ok((connection.into_domain()?, StoredSecrets::from(secrets)))).transpose()
    }

    async fn update(
        &self,
        connection: &Connection,
        expected: ConnectionStatus,
        secrets: &SecretsUpdate,
    ) -> Result<bool, StoreError> {
        let key = connection.ref_id.as_str().to_owned();
        let changes = ConnectionChanges::from_domain(connection, secrets);
        // Compare-and-set in one statement: the status check and the write cannot be separated.
        let written = self
            .run(move |conn| {
                diesel::update(connections::table.find(key).filter(connections::status.eq(expected.as_str())))
                    .set(&changes)
                    .execute(conn)
            })
            .await?;
        Ok(written == 1)
    }

    async fn delete(&self, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError> {
        let key = ref_id.as_str().to_owned();
        // Only the caller whose DELETE removed the row gets it back; flows go by ON DELETE CASCADE.
        let row = self
            .run(move |conn| {
                diesel::delete(connections::table.find(key))
                    .returning(SecretsRow::as_returning())
                    .get_result(conn)
                    .optional()
            })
            .await?;
        Ok(row.map(StoredSecrets::from))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| diesel::select(1.into_sql::<Integer>()).get_result::<i32>(conn)).await.map(|_| ())
    }
}
