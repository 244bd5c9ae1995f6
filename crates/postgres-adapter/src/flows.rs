//! `FlowStore` on PostgreSQL. Taking a flow is `DELETE … RETURNING`: of concurrent callbacks
//! with the same state exactly one gets the row. The sweeper claims expired flows with
//! `FOR UPDATE SKIP LOCKED`, so replicas sweeping at once share the work instead of queueing.

use async_trait::async_trait;
use diesel::dsl::SqlTypeOf;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use diesel_store::connections::{CONNECTION, ConnectionColumns, ConnectionRow};
use diesel_store::flows::{self, FLOW, FlowColumns, FlowRow};
use domain::{Connection, Owner, Timestamp};
use ports::{FlowStore, PendingFlow, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

#[async_trait]
impl FlowStore for PgStore {
    async fn put_flow(&self, flow: &PendingFlow) -> Result<(), StoreError> {
        let row = FlowRow::new(flow);
        self.bounded(async {
            let mut conn = self.conn().await?;
            flows::insert(&row).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn take_flow(&self, state_hash: &str) -> Result<Option<PendingFlow>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<FlowRow> =
                flows::take(state_hash).get_result(&mut conn).await.optional().map_err(from_diesel)?;
            row.map(FlowRow::into_domain).transpose()
        })
        .await
    }

    async fn take_flow_with_connection<'a>(
        &self,
        state_hash: &str,
        owner: Option<&'a Owner>,
        browser_hash: Option<&'a str>,
    ) -> Result<Option<(PendingFlow, Option<Connection>)>, StoreError> {
        let statement = TakeWithConnection {
            state_hash,
            browser_hash,
            tenant_id: owner.map(|o| o.tenant.as_str()),
            user_id: owner.map(|o| o.user.as_str()),
        };
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<(FlowRow, Option<ConnectionRow>)> =
                statement.get_result(&mut conn).await.optional().map_err(from_diesel)?;
            let Some((flow, connection)) = row else { return Ok(None) };
            Ok(Some((flow.into_domain()?, connection.map(ConnectionRow::into_domain).transpose()?)))
        })
        .await
    }

    async fn delete_flows_of(&self, owner: &Owner) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = flows::delete_of_owner(owner).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }

    async fn take_expired_flows(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingFlow>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows = conn
                .transaction(async |tx| {
                    let claimed: Vec<String> = flows::expired(now, limit).for_update().skip_locked().load(tx).await?;
                    flows::take_all(claimed).get_results(tx).await
                })
                .await
                .map_err(from_diesel)?;
            flows::swept(rows)
        })
        .await
    }
}

/// `DELETE` a flow and read its connection in one statement, hand-written (diesel has no
/// `WITH`): the deleted row is a common table expression named like the table, so the shared
/// column tuples ([`FLOW`], [`CONNECTION`]), which diesel writes as `"oauth_flows"."…"` and
/// `"connections"."…"`, select from it and from the joined connection (`NULL` when gone). Inside
/// its own definition the name still means the table. Its text is fixed, so it is a cached
/// prepared statement. With an owner (both binds set) only a flow whose connection is that
/// owner's is deleted; without (both `NULL`) the state alone finds it. A flow bound to a
/// browser is deleted only with its `browser_hash`.
struct TakeWithConnection<'a> {
    state_hash: &'a str,
    browser_hash: Option<&'a str>,
    tenant_id: Option<&'a str>,
    user_id: Option<&'a str>,
}

impl QueryId for TakeWithConnection<'_> {
    type QueryId = TakeWithConnection<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for TakeWithConnection<'_> {
    type SqlType = (SqlTypeOf<FlowColumns>, Nullable<SqlTypeOf<ConnectionColumns>>);
}

impl QueryFragment<Pg> for TakeWithConnection<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH oauth_flows AS (DELETE FROM oauth_flows WHERE state_hash = ");
        out.push_bind_param::<Text, _>(&self.state_hash)?;
        out.push_sql(" AND (");
        out.push_bind_param::<Nullable<Text>, _>(&self.tenant_id)?;
        out.push_sql("::text IS NULL OR ref_id IN (SELECT ref_id FROM connections WHERE tenant_id = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.tenant_id)?;
        out.push_sql(" AND user_id = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.user_id)?;
        out.push_sql(")) AND (browser_hash IS NULL OR browser_hash = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.browser_hash)?;
        out.push_sql(") RETURNING *) SELECT ");
        FLOW.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        CONNECTION.walk_ast(out.reborrow())?;
        out.push_sql(" FROM oauth_flows LEFT JOIN connections ON connections.ref_id = oauth_flows.ref_id");
        Ok(())
    }
}
