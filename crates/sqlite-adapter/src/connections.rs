//! [`ConnectionStore`] for [`SqliteStore`]. Each write and the audit events that describe it
//! are all or nothing: one savepoint of the writer's transaction (see `writer`).

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use domain::{Connection, ConnectionStatus, RefId};
use ports::{AuditEvent, ConnectionStore, PendingFlow, SecretsUpdate, StoreError, StoredSecrets};

use crate::SqliteStore;
use crate::models::{AuditRow, ConnectionChanges, ConnectionRow, FlowRow, NewConnectionRow, SecretsRow};
use crate::schema::{audit_events, connections, oauth_flows};

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn insert(
        &self,
        connection: &Connection,
        secrets: &StoredSecrets,
        flow: Option<PendingFlow>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let row = NewConnectionRow::from_domain(connection, secrets);
        let flow = flow.as_ref().map(FlowRow::from_domain);
        let events: Vec<AuditRow> = events.iter().map(AuditRow::from_domain).collect();
        self.write(move |conn| {
            diesel::insert_into(connections::table).values(&row).execute(conn)?;
            if let Some(flow) = &flow {
                diesel::insert_into(oauth_flows::table).values(flow).execute(conn)?;
            }
            record(conn, &events)
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
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let key = connection.ref_id.as_str().to_owned();
        let changes = ConnectionChanges::from_domain(connection, secrets);
        let event = AuditRow::from_domain(event);
        // Compare-and-set in one statement: the status check and the write cannot be separated.
        self.write(move |conn| {
            let written =
                diesel::update(connections::table.find(key).filter(connections::status.eq(expected.as_str())))
                    .set(&changes)
                    .execute(conn)?;
            if written == 1 {
                record(conn, std::slice::from_ref(&event))?;
            }
            Ok(written == 1)
        })
        .await
    }

    async fn delete(&self, ref_id: &RefId, event: &AuditEvent) -> Result<Option<StoredSecrets>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let event = AuditRow::from_domain(event);
        // Only the caller whose DELETE removed the row gets it back; flows go by ON DELETE CASCADE.
        let row = self
            .write(move |conn| {
                let row = diesel::delete(connections::table.find(key))
                    .returning(SecretsRow::as_returning())
                    .get_result(conn)
                    .optional()?;
                if row.is_some() {
                    record(conn, std::slice::from_ref(&event))?;
                }
                Ok(row)
            })
            .await?;
        Ok(row.map(StoredSecrets::from))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if !self.writer_healthy() {
            return Err(StoreError::Unavailable("the SQLite writer cannot open the database".into()));
        }
        self.read(|conn| diesel::select(1.into_sql::<Integer>()).get_result::<i32>(conn)).await.map(|_| ())
    }
}

/// Appends `events` in their order, inside the caller's transaction.
fn record(conn: &mut SqliteConnection, events: &[AuditRow]) -> QueryResult<()> {
    for event in events {
        diesel::insert_into(audit_events::table).values(event).execute(conn)?;
    }
    Ok(())
}
