//! [`RefreshQueue`] for [`SqliteStore`]: the lease columns of `connections`. Each operation is
//! one statement (`UPDATE … RETURNING`); SQLite runs one writer at a time, so a claim and a
//! lease are atomic without row locks.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use domain::{RefId, Timestamp};
use ports::{DueStats, DueWindow, Lease, RefreshQueue, RetryState, StoreError};

use crate::SqliteStore;

/// The due predicate of [`RefreshQueue`], over the placeholders of now, due-before and
/// stale-before.
fn due(now: &str, due_before: &str, stale_before: &str) -> String {
    format!(
        "status = 'connected' AND auth_method = 'oauth' AND ( \
           (refresh_token IS NOT NULL AND (expires_at <= {due_before} \
                                           OR (expires_at IS NULL AND updated_at <= {stale_before}))) \
        OR (refresh_token IS NULL AND expires_at <= {now}))"
    )
}

#[derive(QueryableByName)]
struct LeaseRow {
    #[diesel(sql_type = Text)]
    ref_id: String,
    #[diesel(sql_type = Integer)]
    refresh_failures: i32,
}

impl LeaseRow {
    fn into_lease(self) -> Result<Lease, StoreError> {
        let ref_id = RefId::parse(&self.ref_id).map_err(|e| StoreError::Corrupt(format!("a leased ref_id: {e}")))?;
        Ok(Lease { ref_id, failures: u32::try_from(self.refresh_failures).unwrap_or(0) })
    }
}

#[derive(QueryableByName)]
struct StatsRow {
    #[diesel(sql_type = BigInt)]
    due: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    earliest: Option<i64>,
}

fn failures(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[async_trait]
impl RefreshQueue for SqliteStore {
    async fn claim_due(
        &self,
        owner: &str,
        window: DueWindow,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError> {
        let sql = format!(
            "UPDATE connections SET lease_owner = ?1, lease_until = ?2 WHERE ref_id IN ( \
               SELECT ref_id FROM connections WHERE {} \
                 AND (lease_until IS NULL OR lease_until <= ?3) \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?3) \
               ORDER BY expires_at IS NULL, expires_at, ref_id LIMIT ?6) \
             RETURNING ref_id, refresh_failures",
            due("?3", "?4", "?5")
        );
        let owner = owner.to_owned();
        let rows = self
            .write(move |conn| {
                diesel::sql_query(sql)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(lease_until.unix())
                    .bind::<BigInt, _>(window.now.unix())
                    .bind::<BigInt, _>(window.due_before.unix())
                    .bind::<BigInt, _>(window.stale_before.unix())
                    .bind::<BigInt, _>(i64::from(limit))
                    .load::<LeaseRow>(conn)
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
        let sql = "UPDATE connections SET lease_owner = ?1, lease_until = ?2 \
                   WHERE ref_id = ?3 AND (lease_until IS NULL OR lease_until <= ?4 OR lease_owner = ?1) \
                   RETURNING ref_id, refresh_failures";
        let (owner, key) = (owner.to_owned(), ref_id.as_str().to_owned());
        let row = self
            .write(move |conn| {
                diesel::sql_query(sql)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(lease_until.unix())
                    .bind::<Text, _>(key)
                    .bind::<BigInt, _>(now.unix())
                    .get_result::<LeaseRow>(conn)
                    .optional()
            })
            .await?;
        row.map(LeaseRow::into_lease).transpose()
    }

    async fn release(&self, ref_id: &RefId, owner: &str, retry: RetryState) -> Result<bool, StoreError> {
        let sql = "UPDATE connections SET lease_owner = NULL, lease_until = NULL, \
                   refresh_failures = ?1, next_attempt_at = ?2 WHERE ref_id = ?3 AND lease_owner = ?4";
        let (owner, key) = (owner.to_owned(), ref_id.as_str().to_owned());
        let written = self
            .write(move |conn| {
                diesel::sql_query(sql)
                    .bind::<Integer, _>(failures(retry.failures))
                    .bind::<Nullable<BigInt>, _>(retry.next_attempt_at.map(Timestamp::unix))
                    .bind::<Text, _>(key)
                    .bind::<Text, _>(owner)
                    .execute(conn)
            })
            .await?;
        Ok(written == 1)
    }

    async fn due_stats(&self, window: DueWindow) -> Result<DueStats, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) AS due, MIN(expires_at) AS earliest FROM connections WHERE {}",
            due("?1", "?2", "?3")
        );
        let row = self
            .run(move |conn| {
                diesel::sql_query(sql)
                    .bind::<BigInt, _>(window.now.unix())
                    .bind::<BigInt, _>(window.due_before.unix())
                    .bind::<BigInt, _>(window.stale_before.unix())
                    .get_result::<StatsRow>(conn)
            })
            .await?;
        Ok(DueStats {
            due: u64::try_from(row.due).unwrap_or(0),
            earliest_expiry: row.earliest.map(Timestamp::from_unix),
        })
    }
}
