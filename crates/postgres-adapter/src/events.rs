//! `EventStore` on PostgreSQL. The triggers of the migration write each event with the audit row
//! that announces it and queue its deliveries, in the statement of the change (`recorded`).
//!
//! Writers commit concurrently here, so an event's `seq` can become visible after a greater one.
//! The feed ([`FeedAfter`]) lists only events whose writing transaction (`txid`) is older than
//! every transaction still running, ordered by `(txid, seq)`: a transaction that commits later has
//! a greater `txid` than every event listed before it did, so a cursor never passes its events.
//! A claim is one statement whose candidate query locks the deliveries it picks
//! with `FOR UPDATE OF deliveries SKIP LOCKED`, so concurrent dispatchers take disjoint ones.

use async_trait::async_trait;
use diesel::Expression;
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use diesel_store::deliveries::{self, DeliveryRow, DueRow};
use diesel_store::events::{self, EventRow};
use diesel_store::webhooks::{self, WebhookChanges, WebhookRow};
use domain::{EventId, TenantId, Timestamp, WebhookId};
use ports::{
    AttemptOutcome, Attempted, Delivery, DueDelivery, EventQuery, EventStore, FeedPosition, LifecycleEvent,
    SecretRotation, StoreError, Webhook, WebhookUpdate,
};

use crate::PgStore;
use crate::deliveries::{ClaimDeliveries, SettleDeliveries};
use crate::error::from_diesel;

#[async_trait]
impl EventStore for PgStore {
    async fn events_after(&self, query: &EventQuery) -> Result<Vec<(FeedPosition, LifecycleEvent)>, StoreError> {
        let rows: Vec<(i64, EventRow)> = self
            .read(|conn| {
                let feed = FeedAfter::new(query);
                Box::pin(async move { feed.load(conn).await })
            })
            .await?;
        rows.into_iter().map(|(txid, row)| Ok((FeedPosition { txid, seq: row.seq() }, row.into_domain()?))).collect()
    }

    async fn prune_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let seqs: Vec<i64> = events::prunable(before, limit).load(&mut conn).await.map_err(from_diesel)?;
            if seqs.is_empty() {
                return Ok(0);
            }
            let deleted = events::prune(seqs).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        let row = WebhookRow::new(webhook);
        self.bounded(async {
            let mut conn = self.conn().await?;
            webhooks::insert(&row).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        let row: Option<WebhookRow> = self
            .read(|conn| {
                let query = webhooks::find(tenant, id);
                Box::pin(async move { query.get_result(conn).await.optional() })
            })
            .await?;
        row.map(WebhookRow::into_domain).transpose()
    }

    async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>, StoreError> {
        let rows: Vec<WebhookRow> = self
            .read(|conn| {
                let query = webhooks::all_of(tenant);
                Box::pin(async move { query.load(conn).await })
            })
            .await?;
        rows.into_iter().map(WebhookRow::into_domain).collect()
    }

    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        update: &WebhookUpdate,
    ) -> Result<Option<Webhook>, StoreError> {
        let row: Option<WebhookRow> = self
            .bounded(async {
                let mut conn = self.conn().await?;
                conn.transaction(async |tx| {
                    match webhooks::update(tenant, id, WebhookChanges::new(update)).execute(tx).await? {
                        0 => Ok(None),
                        _ => webhooks::find(tenant, id).get_result(tx).await.optional(),
                    }
                })
                .await
                .map_err(from_diesel)
            })
            .await?;
        row.map(WebhookRow::into_domain).transpose()
    }

    async fn rotate_webhook_secret(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        rotation: &SecretRotation,
    ) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let written = webhooks::rotate(tenant, id, rotation).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(written == 1)
        })
        .await
    }

    async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = conn
                .transaction(async |tx| {
                    let deleted = webhooks::delete(tenant, id).execute(tx).await?;
                    if deleted == 1 {
                        deliveries::of_endpoint(id).execute(tx).await?;
                    }
                    QueryResult::Ok(deleted)
                })
                .await
                .map_err(from_diesel)?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<(DeliveryRow, EventRow)> = self
            .read(|conn| {
                let query = deliveries::page(tenant, webhook, before_seq, limit);
                Box::pin(async move { query.load(conn).await })
            })
            .await?;
        rows.into_iter().map(|(delivery, event)| delivery.into_domain(event)).collect()
    }

    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        event: &EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let written =
                deliveries::retry(tenant, webhook, event, now).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(written == 1)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let claim = ClaimDeliveries { candidates: deliveries::claimable(now, limit), owner, until: lease_until.unix() };
        self.bounded(async {
            let mut conn = self.conn().await?;
            let picked: Vec<(String, i64)> = claim.load(&mut conn).await.map_err(from_diesel)?;
            if picked.is_empty() {
                return Ok(Vec::new());
            }
            let seqs = picked.iter().map(|(_, seq)| *seq).collect();
            let rows: Vec<DueRow> =
                deliveries::leased(owner.to_owned(), seqs).load(&mut conn).await.map_err(from_diesel)?;
            deliveries::claimed(rows, &picked, now)
        })
        .await
    }

    async fn finish_deliveries(&self, owner: &str, attempts: &[Attempted]) -> Result<Vec<bool>, StoreError> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let batch = SettleDeliveries::new(owner, attempts);
        self.bounded(async {
            let mut conn = self.conn().await?;
            let written = conn
                .transaction(async |tx| {
                    let written = batch.run(tx, attempts.len()).await?;
                    for (a, wrote) in attempts.iter().zip(&written) {
                        if let (true, AttemptOutcome::Gone { at }) = (wrote, &a.outcome) {
                            webhooks::disable_gone(&a.webhook, *at).execute(tx).await?;
                        }
                    }
                    QueryResult::Ok(written)
                })
                .await
                .map_err(from_diesel)?;
            Ok(written)
        })
        .await
    }
}

/// The feed's read: the query's events of settled transactions after its position, in
/// `(txid, seq)` order, each with its writing transaction's id. Hand-written: diesel knows no
/// `xid8` and no row comparison. Its text is the same whatever the values.
struct FeedAfter {
    tenant: String,
    every_user: bool,
    user: String,
    txid: String,
    seq: i64,
    limit: i64,
}

impl FeedAfter {
    fn new(query: &EventQuery) -> Self {
        Self {
            tenant: query.tenant.as_str().to_owned(),
            every_user: query.user.is_none(),
            user: query.user.as_ref().map_or_else(String::new, |u| u.as_str().to_owned()),
            txid: query.after.txid.to_string(),
            seq: query.after.seq,
            limit: i64::from(query.limit),
        }
    }
}

impl QueryId for FeedAfter {
    type QueryId = FeedAfter;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for FeedAfter {
    type SqlType = (BigInt, <events::EventColumns as Expression>::SqlType);
}

impl QueryFragment<Pg> for FeedAfter {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT txid::text::bigint, ");
        events::EVENT.walk_ast(out.reborrow())?;
        out.push_sql(" FROM events WHERE tenant_id = ");
        out.push_bind_param::<Text, _>(&self.tenant)?;
        out.push_sql(" AND (");
        out.push_bind_param::<Bool, _>(&self.every_user)?;
        out.push_sql(" OR user_id = ");
        out.push_bind_param::<Text, _>(&self.user)?;
        out.push_sql(") AND txid < pg_snapshot_xmin(pg_current_snapshot()) AND (txid, seq) > (");
        out.push_bind_param::<Text, _>(&self.txid)?;
        out.push_sql("::xid8, ");
        out.push_bind_param::<BigInt, _>(&self.seq)?;
        out.push_sql(") ORDER BY txid, seq LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        Ok(())
    }
}
