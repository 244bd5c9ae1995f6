//! [`RefreshQueue`] on PostgreSQL: the lease columns of `connections`. A claim is one statement
//! whose candidate query locks the rows it picks with `FOR UPDATE SKIP LOCKED` and passes over
//! rows another replica is claiming at that moment, so concurrent claims are disjoint and never
//! wait on each other; the lease they write then keeps the rows out of later claims until it ends.

use async_trait::async_trait;
use diesel::QueryResult;
use diesel::dsl::SqlTypeOf;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use diesel_store::refresh::{self, LEASE, LeaseColumns, LeaseRow};
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
        let claim = ClaimDue { candidates: refresh::due_candidates(window, limit), owner, until: lease_until.unix() };
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<LeaseRow> = claim.load(&mut conn).await.map_err(from_diesel)?;
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

/// The claim as one statement (diesel has no `WITH … UPDATE … FROM`): the shared candidate query
/// locks the rows it picks with `FOR UPDATE SKIP LOCKED` in a common table expression, which runs
/// once, and the outer `UPDATE` leases exactly those. Cached by its text (the candidate query's
/// type is not a static one).
struct ClaimDue<'a> {
    candidates: refresh::due_candidates,
    owner: &'a str,
    until: i64,
}

impl QueryId for ClaimDue<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for ClaimDue<'_> {
    type SqlType = SqlTypeOf<LeaseColumns>;
}

impl QueryFragment<Pg> for ClaimDue<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH picked AS (");
        <refresh::due_candidates as QueryFragment<Pg>>::walk_ast(&self.candidates, out.reborrow())?;
        out.push_sql(" FOR UPDATE SKIP LOCKED) UPDATE connections SET lease_owner = ");
        out.push_bind_param::<Text, _>(&self.owner)?;
        out.push_sql(", lease_until = ");
        out.push_bind_param::<BigInt, _>(&self.until)?;
        out.push_sql(" FROM picked WHERE connections.ref_id = picked.ref_id RETURNING ");
        LEASE.walk_ast(out.reborrow())
    }
}
