//! [`FlowStore`] for [`SqliteStore`]: every take is a `DELETE … RETURNING`, so a flow is handed
//! to exactly one caller.

use async_trait::async_trait;
use diesel::prelude::*;
use domain::{Connection, Timestamp};
use ports::{FlowStore, PendingFlow, StoreError};

use crate::SqliteStore;
use crate::models::{ConnectionRow, FlowRow};
use crate::schema::{connections, oauth_flows};

#[async_trait]
impl FlowStore for SqliteStore {
    async fn put_flow(&self, flow: &PendingFlow) -> Result<(), StoreError> {
        let row = FlowRow::from_domain(flow);
        self.write(move |conn| diesel::insert_into(oauth_flows::table).values(&row).execute(conn)).await.map(|_| ())
    }

    async fn take_flow(&self, state_hash: &str) -> Result<Option<PendingFlow>, StoreError> {
        let key = state_hash.to_owned();
        let row = self
            .write(move |conn| {
                diesel::delete(oauth_flows::table.find(key))
                    .returning(FlowRow::as_returning())
                    .get_result(conn)
                    .optional()
            })
            .await?;
        row.map(FlowRow::into_domain).transpose()
    }

    async fn take_flow_with_connection(
        &self,
        state_hash: &str,
    ) -> Result<Option<(PendingFlow, Option<Connection>)>, StoreError> {
        let key = state_hash.to_owned();
        let row = self
            .write(move |conn| {
                let Some(flow) = diesel::delete(oauth_flows::table.find(key))
                    .returning(FlowRow::as_returning())
                    .get_result(conn)
                    .optional()?
                else {
                    return Ok(None);
                };
                let connection = connections::table
                    .find(flow.ref_id().to_owned())
                    .select(ConnectionRow::as_select())
                    .get_result(conn)
                    .optional()?;
                Ok(Some((flow, connection)))
            })
            .await?;
        let Some((flow, connection)) = row else { return Ok(None) };
        Ok(Some((flow.into_domain()?, connection.map(ConnectionRow::into_domain).transpose()?)))
    }

    async fn take_expired_flows(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingFlow>, StoreError> {
        let rows = self
            .write(move |conn| {
                // The subquery reads the table under another name: diesel accepts no subquery on
                // the table a DELETE targets otherwise.
                let expired = diesel::alias!(oauth_flows as expired);
                let oldest_expired = expired
                    .select(expired.field(oauth_flows::state_hash))
                    .filter(expired.field(oauth_flows::expires_at).lt(now.unix()))
                    .order(expired.field(oauth_flows::expires_at).asc())
                    .limit(i64::from(limit));
                diesel::delete(oauth_flows::table.filter(oauth_flows::state_hash.eq_any(oldest_expired)))
                    .returning(FlowRow::as_returning())
                    .get_results(conn)
            })
            .await?;
        rows.into_iter().map(FlowRow::into_domain).collect()
    }
}
