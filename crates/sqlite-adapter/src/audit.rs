//! [`AuditLog`] for [`SqliteStore`]: appended rows, read back in id (recording) order.

use async_trait::async_trait;
use diesel::prelude::*;
use domain::RefId;
use ports::{AuditEvent, AuditLog, StoreError};

use crate::SqliteStore;
use crate::models::AuditRow;
use crate::schema::audit_events;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = AuditRow::from_domain(event);
        self.write(move |conn| diesel::insert_into(audit_events::table).values(&row).execute(conn)).await.map(|_| ())
    }

    async fn events(&self, ref_id: &RefId) -> Result<Vec<AuditEvent>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let rows = self
            .run(move |conn| {
                audit_events::table
                    .filter(audit_events::ref_id.eq(key))
                    .order(audit_events::id.asc())
                    .select(AuditRow::as_select())
                    .load(conn)
            })
            .await?;
        rows.into_iter().map(AuditRow::into_domain).collect()
    }
}
