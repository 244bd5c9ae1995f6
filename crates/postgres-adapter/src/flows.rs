//! `FlowStore` on PostgreSQL. Taking a flow is `DELETE … RETURNING`: of concurrent callbacks
//! with the same state exactly one gets the row. The sweeper claims expired flows with
//! `FOR UPDATE SKIP LOCKED`, so replicas sweeping at once share the work instead of queueing.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::Timestamp;
use ports::{FlowStore, PendingFlow, StoreError};

use crate::PgStore;
use crate::error::from_diesel;
use crate::rows::FlowRow;
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
