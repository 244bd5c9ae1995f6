//! [`RefreshQueue`] for [`SqliteStore`]: the lease columns of `connections`. SQLite runs one
//! writer at a time, so a claim (its candidates read and leased in one write) and a lease are
//! atomic without row locks.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_store::refresh::{self, LeaseRow};
use domain::{RefId, Timestamp};
use ports::{DueStats, DueWindow, Lease, RefreshQueue, RetryState, StoreError};

use crate::SqliteStore;

/// Most keys one statement binds.
const MAX_BINDS: usize = 10_000;

#[async_trait]
impl RefreshQueue for SqliteStore {
    async fn claim_due(
        &self,
        owner: &str,
        window: DueWindow,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError> {
        let owner = owner.to_owned();
        let rows = self
            .write(move |conn| {
                let due: Vec<String> = refresh::due_candidates(window, limit).load(conn)?;
                // One bound parameter per row: stay far below SQLite's limit (32,766) per statement.
                let mut leased = Vec::with_capacity(due.len());
                for chunk in due.chunks(MAX_BINDS) {
                    leased.extend(refresh::lease(chunk.to_vec(), &owner, lease_until).get_results::<LeaseRow>(conn)?);
                }
                Ok(leased)
            })
            .await?;
        rows.into_iter().map(LeaseRow::into_lease).collect()
    }

    async fn try_lease(
        &self,
        ref_id: &RefId,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Lease>, StoreError> {
        let (owner, key) = (owner.to_owned(), ref_id.as_str().to_owned());
        let row = self
            .write(move |conn| {
                refresh::try_lease(&key, &owner, now, lease_until).get_result::<LeaseRow>(conn).optional()
            })
            .await?;
        row.map(LeaseRow::into_lease).transpose()
    }

    async fn release(&self, ref_id: &RefId, owner: &str, retry: RetryState) -> Result<bool, StoreError> {
        let (owner, key) = (owner.to_owned(), ref_id.as_str().to_owned());
        let written = self.write(move |conn| refresh::release(&key, &owner, retry).execute(conn)).await?;
        Ok(written == 1)
    }

    async fn due_stats(&self, window: DueWindow) -> Result<DueStats, StoreError> {
        let row = self.run(move |conn| refresh::due_stats(window).get_result(conn)).await?;
        Ok(refresh::into_due_stats(row))
    }
}
