//! [`AuditLog`] for [`SqliteStore`]: appended rows, read back in id (recording) order.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_store::audit::{self, AuditRow, NewAuditRow};
use domain::{Owner, RefId};
use ports::{AuditEvent, AuditLog, StoreError};

use crate::SqliteStore;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.write(move |conn| audit::insert(&NewAuditRow::new(&event)).execute(conn)).await.map(|_| ())
    }

    async fn events(&self, owner: &Owner, ref_id: &RefId) -> Result<Vec<AuditEvent>, StoreError> {
        let (owner, key) = (owner.clone(), ref_id.as_str().to_owned());
        let rows: Vec<AuditRow> = self.run(move |conn| audit::of_connection(&owner, &key).load(conn)).await?;
        rows.into_iter().map(AuditRow::into_domain).collect()
    }
}
