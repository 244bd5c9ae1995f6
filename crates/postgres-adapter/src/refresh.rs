//! [`RefreshQueue`] on PostgreSQL: the lease columns of `connections`. A claim reads its
//! candidates with `FOR UPDATE SKIP LOCKED` and leases exactly those in the same transaction, so
//! concurrent claims take disjoint rows and never wait on each other; the lease they write then
//! keeps the rows out of later claims until it ends.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use diesel_store::refresh::{self, LeaseRow};
use domain::{RefId, Timestamp};
use ports::{DueStats, DueWindow, Lease, RefreshQueue, RetryState, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

#[async_trait]
impl RefreshQueue for PgStore {
    async fn claim_due(
        &self,
        owner: &str,
        window: DueWindow,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<LeaseRow> = conn
                .transaction(async |tx| {
                    let due: Vec<String> =
                        refresh::due_candidates(window, limit).for_update().skip_locked().load(tx).await?;
                    if due.is_empty() {
                        return Ok(Vec::new());
                    }
                    refresh::lease(due, owner, lease_until).get_results(tx).await
                })
                .await
                .map_err(from_diesel)?;
            rows.into_iter().map(LeaseRow::into_lease).collect()
        })
        .await
    }

    async fn try_lease(
        &self,
        ref_id: &RefId,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Lease>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<LeaseRow> = refresh::try_lease(ref_id.as_str(), owner, now, lease_until)
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            row.map(LeaseRow::into_lease).transpose()
        })
        .await
    }

    async fn release(&self, ref_id: &RefId, owner: &str, retry: RetryState) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let written =
                refresh::release(ref_id.as_str(), owner, retry).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(written == 1)
        })
        .await
    }

    async fn due_stats(&self, window: DueWindow) -> Result<DueStats, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row = refresh::due_stats(window).get_result(&mut conn).await.map_err(from_diesel)?;
            Ok(refresh::into_due_stats(row))
        })
        .await
    }
}
