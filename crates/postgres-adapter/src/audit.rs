//! `AuditLog` on PostgreSQL: an append-only table ordered by its `BIGSERIAL` id.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use domain::RefId;
use ports::{AuditEvent, AuditLog, StoreError};

use crate::PgStore;
use crate::error::from_diesel;
use crate::rows::{AuditRow, NewAuditRow};
use crate::schema::audit_events;

#[async_trait]
impl AuditLog for PgStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = NewAuditRow::new(event);
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::insert_into(audit_events::table).values(&row).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn events(&self, ref_id: &RefId) -> Result<Vec<AuditEvent>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            audit_events::table
                .filter(audit_events::ref_id.eq(ref_id.as_str()))
                .order(audit_events::id.asc())
                .select(AuditRow::as_select())
                .load(&mut conn)
                .await
                .map_err(from_diesel)?
                .into_iter()
                .map(AuditRow::into_domain)
                .collect()
        })
        .await
    }
}
