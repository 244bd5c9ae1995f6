//! [`EventStore`] for [`SqliteStore`]. The triggers of the migration write each event with the
//! audit row that announces it and queue its deliveries, inside the writer's savepoint of the
//! change; here are the feed, the endpoints and the dispatcher's deliveries. SQLite's one writer
//! commits events in `seq` order, so the feed needs no more than `seq > after`, and a claim (its
//! candidates read and leased in one write) is atomic without row locks.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_store::deliveries::{self, DeliveryRow, DueRow, Finish};
use diesel_store::events::{self, EventRow};
use diesel_store::webhooks::{self, WebhookChanges, WebhookRow};
use domain::{EventId, TenantId, Timestamp, WebhookId};
use ports::{
    AttemptOutcome, Attempted, Delivery, DueDelivery, EventQuery, EventStore, FeedPosition, LifecycleEvent,
    SecretRotation, StoreError, Webhook, WebhookUpdate,
};

use crate::SqliteStore;

#[async_trait]
impl EventStore for SqliteStore {
    async fn events_after(&self, query: &EventQuery) -> Result<Vec<(FeedPosition, LifecycleEvent)>, StoreError> {
        let query = query.clone();
        let rows: Vec<EventRow> = self.read(move |conn| events::feed(&query).load(conn)).await?;
        // One writer: `seq` order is commit order, and no transaction id is needed.
        rows.into_iter().map(|row| Ok((FeedPosition { txid: 0, seq: row.seq() }, row.into_domain()?))).collect()
    }

    async fn prune_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let deleted = self
            .write(move |conn| {
                let seqs: Vec<i64> = events::prunable(before, limit).load(conn)?;
                if seqs.is_empty() {
                    return Ok(0);
                }
                events::prune(seqs).execute(conn)
            })
            .await?;
        Ok(deleted as u64)
    }

    async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        let row = WebhookRow::new(webhook);
        self.write(move |conn| webhooks::insert(&row).execute(conn)).await.map(drop)
    }

    async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        let row: Option<WebhookRow> =
            self.read(move |conn| webhooks::find(&tenant, &id).get_result(conn).optional()).await?;
        row.map(WebhookRow::into_domain).transpose()
    }

    async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>, StoreError> {
        let tenant = tenant.clone();
        let rows: Vec<WebhookRow> = self.read(move |conn| webhooks::all_of(&tenant).load(conn)).await?;
        rows.into_iter().map(WebhookRow::into_domain).collect()
    }

    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        update: &WebhookUpdate,
    ) -> Result<Option<Webhook>, StoreError> {
        let (tenant, id, changes) = (tenant.clone(), id.clone(), WebhookChanges::new(update));
        let row: Option<WebhookRow> = self
            .write(move |conn| match webhooks::update(&tenant, &id, changes).execute(conn)? {
                0 => Ok(None),
                _ => webhooks::find(&tenant, &id).get_result(conn).optional(),
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
        let (tenant, id, rotation) = (tenant.clone(), id.clone(), rotation.clone());
        let written = self.write(move |conn| webhooks::rotate(&tenant, &id, &rotation).execute(conn)).await?;
        Ok(written == 1)
    }

    async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        let deleted = self
            .write(move |conn| {
                let deleted = webhooks::delete(&tenant, &id).execute(conn)?;
                if deleted == 1 {
                    deliveries::of_endpoint(&id).execute(conn)?;
                }
                Ok(deleted)
            })
            .await?;
        Ok(deleted == 1)
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (tenant, webhook) = (tenant.clone(), webhook.clone());
        let rows: Vec<(DeliveryRow, EventRow)> =
            self.read(move |conn| deliveries::page(&tenant, &webhook, before_seq, limit).load(conn)).await?;
        rows.into_iter().map(|(delivery, event)| delivery.into_domain(event)).collect()
    }

    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        event: &EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (tenant, webhook, event) = (tenant.clone(), webhook.clone(), event.clone());
        let written = self.write(move |conn| deliveries::retry(&tenant, &webhook, &event, now).execute(conn)).await?;
        Ok(written == 1)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let owner = owner.to_owned();
        let (picked, rows) = self
            .write(move |conn| {
                let picked: Vec<(String, i64)> = deliveries::claimable(now, limit).load(conn)?;
                if picked.is_empty() {
                    return Ok((picked, Vec::new()));
                }
                for (webhook, seq) in &picked {
                    deliveries::lease(webhook.clone(), *seq, owner.clone(), lease_until).execute(conn)?;
                }
                let seqs = picked.iter().map(|(_, seq)| *seq).collect();
                let rows: Vec<DueRow> = deliveries::leased(owner, seqs).load(conn)?;
                Ok((picked, rows))
            })
            .await?;
        deliveries::claimed(rows, &picked, now)
    }

    async fn finish_deliveries(&self, owner: &str, attempts: &[Attempted]) -> Result<Vec<bool>, StoreError> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let (owner, attempts) = (owner.to_owned(), attempts.to_vec());
        self.write(move |conn| {
            let mut written = Vec::with_capacity(attempts.len());
            for a in &attempts {
                let n = match deliveries::finish(&a.webhook, &a.event, &owner, &a.outcome) {
                    Finish::Attempt(attempt) => attempt.execute(conn)?,
                    Finish::Postpone(postpone) => postpone.execute(conn)?,
                };
                if let (1, AttemptOutcome::Gone { at }) = (n, &a.outcome) {
                    webhooks::disable_gone(&a.webhook, *at).execute(conn)?;
                }
                written.push(n == 1);
            }
            Ok(written)
        })
        .await
    }
}
