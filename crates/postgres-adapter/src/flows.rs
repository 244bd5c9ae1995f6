//! `FlowStore` on PostgreSQL. Taking a flow is `DELETE … RETURNING`: of concurrent callbacks
//! with the same state exactly one gets the row. The sweeper claims expired flows with
//! `FOR UPDATE SKIP LOCKED`, so replicas sweeping at once share the work instead of queueing.

use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Bytea, Nullable, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::{Connection, Timestamp};
use ports::{FlowStore, PendingFlow, StoreError};

use crate::PgStore;
use crate::error::from_diesel;
use crate::rows::{ConnectionRow, FlowRow};
use crate::schema::oauth_flows;

#[async_trait]
impl FlowStore for PgStore {
    async fn put_flow(&self, flow: &PendingFlow) -> Result<(), StoreError> {
        let row = FlowRow::new(flow);
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::insert_into(oauth_flows::table).values(&row).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn take_flow(&self, state_hash: &str) -> Result<Option<PendingFlow>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::delete(oauth_flows::table.find(state_hash))
                .returning(FlowRow::as_returning())
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?
                .map(FlowRow::into_domain)
                .transpose()
        })
        .await
    }

    async fn take_flow_with_connection(
        &self,
        state_hash: &str,
    ) -> Result<Option<(PendingFlow, Option<Connection>)>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<(FlowRow, Option<ConnectionRow>)> =
                TakeWithConnection { state_hash }.get_result(&mut conn).await.optional().map_err(from_diesel)?;
            let Some((flow, connection)) = row else { return Ok(None) };
            Ok(Some((flow.into_domain()?, connection.map(ConnectionRow::into_domain).transpose()?)))
        })
        .await
    }

    async fn take_expired_flows(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingFlow>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows = conn
                .transaction(async |tx| {
                    let claimed: Vec<String> = oauth_flows::table
                        .select(oauth_flows::state_hash)
                        .filter(oauth_flows::expires_at.lt(now.unix()))
                        .order((oauth_flows::expires_at.asc(), oauth_flows::state_hash.asc()))
                        .limit(i64::from(limit))
                        .for_update()
                        .skip_locked()
                        .load(tx)
                        .await?;
                    diesel::delete(oauth_flows::table.filter(oauth_flows::state_hash.eq_any(claimed)))
                        .returning(FlowRow::as_returning())
                        .get_results(tx)
                        .await
                })
                .await
                .map_err(from_diesel)?;
            let mut flows = rows.into_iter().map(FlowRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            // RETURNING has no order; hand them back oldest expiry first.
            flows.sort_by(|a, b| (a.expires_at, &a.state_hash).cmp(&(b.expires_at, &b.state_hash)));
            Ok(flows)
        })
        .await
    }
}

/// `DELETE` a flow and read its connection in one statement. Hand-written (diesel has no `WITH`)
/// with a fixed text, so it is a cached prepared statement; the columns are in the order of
/// [`FlowRow`] and [`ConnectionRow`], which read them by position.
struct TakeWithConnection<'a> {
    state_hash: &'a str,
}

impl QueryId for TakeWithConnection<'_> {
    type QueryId = TakeWithConnection<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

type FlowColumns =
    (Text, Text, Nullable<Text>, Bool, Bytea, Text, Text, Nullable<Text>, Nullable<Text>, BigInt, BigInt);
type ConnectionColumns = (
    Text,
    Text,
    Nullable<Text>,
    Nullable<Text>,
    Text,
    Text,
    Text,
    Nullable<Text>,
    Text,
    Nullable<BigInt>,
    BigInt,
    BigInt,
);

impl Query for TakeWithConnection<'_> {
    type SqlType = (FlowColumns, Nullable<ConnectionColumns>);
}

impl QueryFragment<Pg> for TakeWithConnection<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH taken AS (DELETE FROM oauth_flows WHERE state_hash = ");
        out.push_bind_param::<Text, _>(&self.state_hash)?;
        out.push_sql(
            " RETURNING *) SELECT taken.state_hash, taken.ref_id, taken.issuer, taken.iss_required, \
             taken.pkce_verifier, taken.redirect_uri, taken.scopes, taken.resource, taken.return_to, \
             taken.created_at, taken.expires_at, c.ref_id, c.server_name, c.display_name, c.url, c.transport, \
             c.auth_method, c.status, c.status_reason, c.scopes, c.expires_at, c.created_at, c.updated_at \
             FROM taken LEFT JOIN connections c ON c.ref_id = taken.ref_id",
        );
        Ok(())
    }
}
