//! [`FlowStore`] for [`SqliteStore`]: every take is a `DELETE … RETURNING` in the one writer, so
//! a flow is handed to exactly one caller.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_store::connections::{self, ConnectionRow};
use diesel_store::flows::{self, FlowRow};
use domain::{Connection, Owner, Timestamp};
use ports::{FlowStore, PendingFlow, StoreError};

use crate::SqliteStore;

#[async_trait]
impl FlowStore for SqliteStore {
    async fn put_flow(&self, flow: &PendingFlow) -> Result<(), StoreError> {
        let row = FlowRow::new(flow);
        self.write(move |conn| flows::insert(&row).execute(conn)).await.map(|_| ())
    }

    async fn take_flow(&self, state_hash: &str) -> Result<Option<PendingFlow>, StoreError> {
        let key = state_hash.to_owned();
        let row: Option<FlowRow> = self.write(move |conn| flows::take(&key).get_result(conn).optional()).await?;
        row.map(FlowRow::into_domain).transpose()
    }

    async fn take_flow_with_connection<'a>(
        &self,
        state_hash: &str,
        owner: Option<&'a Owner>,
        browser_hash: Option<&'a str>,
    ) -> Result<Option<(PendingFlow, Option<Connection>)>, StoreError> {
        let (key, owner, browser) = (state_hash.to_owned(), owner.cloned(), browser_hash.map(str::to_owned));
        let row = self
            .write(move |conn| {
                let taken = match &owner {
                    Some(owner) => flows::take_owned(&key, owner, browser.as_deref()).get_result::<FlowRow>(conn),
                    None => flows::take_in_browser(&key, browser.as_deref()).get_result::<FlowRow>(conn),
                };
                let Some(flow) = taken.optional()? else {
                    return Ok(None);
                };
                let connection: Option<ConnectionRow> =
                    connections::find_any(flow.ref_id()).get_result(conn).optional()?;
                Ok(Some((flow, connection)))
            })
            .await?;
        let Some((flow, connection)) = row else { return Ok(None) };
        Ok(Some((flow.into_domain()?, connection.map(ConnectionRow::into_domain).transpose()?)))
    }

    async fn delete_flows_of(&self, owner: &Owner) -> Result<u64, StoreError> {
        let owner = owner.clone();
        let deleted = self.write(move |conn| flows::delete_of_owner(&owner).execute(conn)).await?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }

    async fn take_expired_flows(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingFlow>, StoreError> {
        // Both statements in the writer's one transaction: nothing comes between them.
        let rows = self
            .write(move |conn| {
                let expired: Vec<String> = flows::expired(now, limit).load(conn)?;
                flows::take_all(expired).get_results(conn)
            })
            .await?;
        flows::swept(rows)
    }
}
