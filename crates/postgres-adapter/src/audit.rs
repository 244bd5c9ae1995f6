//! `AuditLog` on PostgreSQL: an append-only table ordered by its `BIGSERIAL` id.

use async_trait::async_trait;
use diesel_async::RunQueryDsl;
use diesel_store::audit::{self, AuditRow, NewAuditRow};
use domain::{Owner, RefId};
use ports::{AuditEvent, AuditLog, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

#[async_trait]
impl AuditLog for PgStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = NewAuditRow::new(event);
        self.bounded(async {
            let mut conn = self.conn().await?;
            audit::insert(&row).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn events(&self, owner: &Owner, ref_id: &RefId) -> Result<Vec<AuditEvent>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<AuditRow> =
                audit::of_connection(owner, ref_id.as_str()).load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter().map(AuditRow::into_domain).collect()
        })
        .await
    }
}
