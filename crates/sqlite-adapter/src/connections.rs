//! [`ConnectionStore`] for [`SqliteStore`]. Each write and the audit events that describe it
//! are all or nothing: one savepoint of the writer's transaction (see `writer`).

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel::sqlite::SqliteConnection;
use diesel_store::audit::{self, NewAuditRow};
use diesel_store::connections::{self, ConnectionChanges, ConnectionRow, NewConnectionRow, SecretsRow};
use diesel_store::flows::{self, FlowRow};
use domain::{Connection, ConnectionStatus, Owner, RefId, Timestamp};
use ports::{
    AuditEvent, ConnectionQuery, ConnectionStore, PendingFlow, SecretsUpdate, StoreError, StoredSecrets, UserQuery,
    UserSummary,
};

use crate::SqliteStore;

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn insert(
        &self,
        connection: &Connection,
        secrets: &StoredSecrets,
        flow: Option<PendingFlow>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let (connection, secrets, events) = (connection.clone(), secrets.clone(), events.to_vec());
        self.write(move |conn| {
            connections::insert(NewConnectionRow::new(&connection, &secrets)).execute(conn)?;
            if let Some(flow) = &flow {
                flows::insert(&FlowRow::new(flow)).execute(conn)?;
            }
            record(conn, &events)
        })
        .await
    }

    async fn get(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        let (owner, key) = (owner.clone(), ref_id.as_str().to_owned());
        let row: Option<ConnectionRow> =
            self.read(move |conn| connections::find(&owner, &key).get_result(conn).optional()).await?;
        row.map(ConnectionRow::into_domain).transpose()
    }

    async fn get_any(&self, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let row: Option<ConnectionRow> =
            self.read(move |conn| connections::find_any(&key).get_result(conn).optional()).await?;
        row.map(ConnectionRow::into_domain).transpose()
    }

    async fn list(&self, owner: &Owner) -> Result<Vec<Connection>, StoreError> {
        let owner = owner.clone();
        let rows: Vec<ConnectionRow> = self.read(move |conn| connections::of_owner(&owner).load(conn)).await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn list_page(&self, owner: &Owner, query: &ConnectionQuery) -> Result<Vec<Connection>, StoreError> {
        let (owner, query) = (owner.clone(), query.clone());
        let rows: Vec<ConnectionRow> = self.read(move |conn| connections::page(&owner, &query).load(conn)).await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn users(&self, query: &UserQuery) -> Result<Vec<UserSummary>, StoreError> {
        let query = query.clone();
        let rows = self
            .read(move |conn| {
                // One snapshot for both statements (WAL: a read transaction sees one state): a
                // user forgotten between them must not shorten the page.
                diesel::Connection::transaction(conn, |conn| {
                    let ids: Vec<String> = connections::user_ids(&query).load(conn)?;
                    let Some(last) = ids.last() else { return Ok(Vec::new()) };
                    connections::status_counts(&query, last).load(conn)
                })
            })
            .await?;
        connections::summaries(rows)
    }

    async fn pending_before(&self, updated_before: Timestamp) -> Result<Vec<Connection>, StoreError> {
        let rows: Vec<ConnectionRow> =
            self.read(move |conn| connections::pending_before(updated_before).load(conn)).await?;
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn secrets(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError> {
        let (owner, key) = (owner.clone(), ref_id.as_str().to_owned());
        let row: Option<SecretsRow> =
            self.read(move |conn| connections::secrets(&owner, &key).get_result(conn).optional()).await?;
        Ok(row.map(StoredSecrets::from))
    }

    async fn get_with_secrets(
        &self,
        owner: &Owner,
        ref_id: &RefId,
    ) -> Result<Option<(Connection, StoredSecrets)>, StoreError> {
        let (owner, key) = (owner.clone(), ref_id.as_str().to_owned());
        let row: Option<(ConnectionRow, SecretsRow)> =
            self.read(move |conn| connections::with_secrets(&owner, &key).get_result(conn).optional()).await?;
        row.map(|(connection, secrets)| Ok((connection.into_domain()?, StoredSecrets::from(secrets)))).transpose()
    }

    async fn update(
        &self,
        connection: &Connection,
        expected: ConnectionStatus,
        secrets: &SecretsUpdate,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let (connection, secrets, event) = (connection.clone(), secrets.clone(), event.clone());
        self.write(move |conn| {
            let changes = ConnectionChanges::new(&connection, &secrets);
            let written = connections::update_if(&connection.owner, connection.ref_id.as_str(), expected, changes)
                .execute(conn)?;
            if written == 1 {
                record(conn, std::slice::from_ref(&event))?;
            }
            Ok(written == 1)
        })
        .await
    }

    async fn mark_used_any(&self, ref_ids: &[RefId], at: Timestamp) -> Result<(), StoreError> {
        let keys: Vec<String> = ref_ids.iter().map(|r| r.as_str().to_owned()).collect();
        self.write(move |conn| connections::mark_used(&keys, at).execute(conn).map(drop)).await
    }

    async fn delete(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        event: &AuditEvent,
    ) -> Result<Option<StoredSecrets>, StoreError> {
        let (owner, key, event) = (owner.clone(), ref_id.as_str().to_owned(), event.clone());
        let row: Option<SecretsRow> = self
            .write(move |conn| {
                let row: Option<SecretsRow> = connections::delete(&owner, &key).get_result(conn).optional()?;
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
fn record(conn: &mut SqliteConnection, events: &[AuditEvent]) -> QueryResult<()> {
    for event in events {
        audit::insert(&NewAuditRow::new(event)).execute(conn)?;
    }
    Ok(())
}
