//! [`RefreshQueue`] on PostgreSQL: the lease columns of `connections`. A claim is one statement
//! whose inner `SELECT … FOR UPDATE SKIP LOCKED` locks the rows it picks and passes over rows
//! another replica is claiming at that moment, so concurrent claims are disjoint and never wait
//! on each other; the lease they write then keeps the rows out of later claims until it ends.

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use domain::{RefId, Timestamp};
use ports::{DueStats, DueWindow, Lease, RefreshQueue, RetryState, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

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

#[async_trait]
impl RefreshQueue for PgStore {
    async fn claim_due(
        &self,
        owner: &str,
        window: DueWindow,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError> {
        // A locking CTE runs once; the outer UPDATE writes exactly the rows it locked.
        let sql = format!(
            "WITH picked AS ( \
               SELECT ref_id FROM connections WHERE {} \
                 AND (lease_until IS NULL OR lease_until <= $3) \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= $3) \
               ORDER BY expires_at IS NULL, expires_at, ref_id LIMIT $6 \
               FOR UPDATE SKIP LOCKED) \
             UPDATE connections c SET lease_owner = $1, lease_until = $2 FROM picked \
             WHERE c.ref_id = picked.ref_id \
             RETURNING c.ref_id, c.refresh_failures",
            due("$3", "$4", "$5")
        );
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<LeaseRow> = diesel::sql_query(sql)
                .bind::<Text, _>(owner)
                .bind::<BigInt, _>(lease_until.unix())
                .bind::<BigInt, _>(window.now.unix())
                .bind::<BigInt, _>(window.due_before.unix())
                .bind::<BigInt, _>(window.stale_before.unix())
                .bind::<BigInt, _>(i64::from(limit))
                .load(&mut conn)
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
        let sql = "UPDATE connections SET lease_owner = $1, lease_until = $2 \
                   WHERE ref_id = $3 AND (lease_until IS NULL OR lease_until <= $4 OR lease_owner = $1) \
                   RETURNING ref_id, refresh_failures";
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<LeaseRow> = diesel::sql_query(sql)
                .bind::<Text, _>(owner)
                .bind::<BigInt, _>(lease_until.unix())
                .bind::<Text, _>(ref_id.as_str())
                .bind::<BigInt, _>(now.unix())
                .load(&mut conn)
                .await
                .map_err(from_diesel)?;
            rows.into_iter().next().map(LeaseRow::into_lease).transpose()
        })
        .await
    }

    async fn release(&self, ref_id: &RefId, owner: &str, retry: RetryState) -> Result<bool, StoreError> {
        let sql = "UPDATE connections SET lease_owner = NULL, lease_until = NULL, \
                   refresh_failures = $1, next_attempt_at = $2 WHERE ref_id = $3 AND lease_owner = $4";
        self.bounded(async {
            let mut conn = self.conn().await?;
            let written = diesel::sql_query(sql)
                .bind::<Integer, _>(i32::try_from(retry.failures).unwrap_or(i32::MAX))
                .bind::<Nullable<BigInt>, _>(retry.next_attempt_at.map(Timestamp::unix))
                .bind::<Text, _>(ref_id.as_str())
                .bind::<Text, _>(owner)
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(written == 1)
        })
        .await
    }

    async fn due_stats(&self, window: DueWindow) -> Result<DueStats, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) AS due, MIN(expires_at) AS earliest FROM connections WHERE {}",
            due("$1", "$2", "$3")
        );
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: StatsRow = diesel::sql_query(sql)
                .bind::<BigInt, _>(window.now.unix())
                .bind::<BigInt, _>(window.due_before.unix())
                .bind::<BigInt, _>(window.stale_before.unix())
                .get_result(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(DueStats {
                due: u64::try_from(row.due).unwrap_or(0),
                earliest_expiry: row.earliest.map(Timestamp::from_unix),
            })
        })
        .await
    }
}
