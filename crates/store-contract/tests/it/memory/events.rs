//! [`EventStore`] for the in-memory reference store, with the migration's triggers emulated by
//! [`announce`] (every audit event appended goes through it), and its two flaws.

use std::collections::BTreeMap;

use async_trait::async_trait;
use domain::{EventId, TenantId, Timestamp, WebhookId};
use ports::{
    AttemptOutcome, Attempted, AuditEvent, Delivery, DeliveryState, DueDelivery, EventQuery, EventStore, FeedPosition,
    LifecycleEvent, SecretRotation, StoreError, Webhook, WebhookUpdate,
};

use super::{Flaw, MemoryStore, State};

/// The events, endpoints and deliveries, as the three tables hold them.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    events: Vec<LifecycleEvent>,
    next_seq: i64,
    pub(super) webhooks: BTreeMap<WebhookId, Webhook>,
    /// By endpoint and event `seq`.
    deliveries: BTreeMap<(WebhookId, i64), Row>,
}

/// A delivery's own columns.
#[derive(Debug, Clone)]
struct Row {
    state: DeliveryState,
    attempts: u32,
    last_status: Option<u16>,
    last_error: Option<String>,
    next_at: Timestamp,
    retry_from: Timestamp,
    lease: Option<(String, Timestamp)>,
}

/// The triggers: an audit event with a notice becomes an event, queued for each enabled endpoint
/// of its tenant whose filter takes its type.
pub(super) fn announce(outbox: &mut Outbox, audit: &AuditEvent) {
    let Some(notice) = &audit.notice else { return };
    outbox.next_seq += 1;
    let event = LifecycleEvent {
        seq: outbox.next_seq,
        id: notice.id.clone(),
        kind: notice.kind,
        at: audit.at,
        ref_id: audit.ref_id.clone(),
        server_name: audit.server_name.clone(),
        owner: audit.owner.clone(),
        standing: notice.standing,
        previous: notice.previous,
        reason: notice.reason,
    };
    for hook in outbox.webhooks.values() {
        let takes = hook.events.as_ref().is_none_or(|types| types.contains(&event.kind));
        if hook.enabled && hook.tenant == event.owner.tenant && takes {
            let row = Row {
                state: DeliveryState::Pending,
                attempts: 0,
                last_status: None,
                last_error: None,
                next_at: event.at,
                retry_from: event.at,
                lease: None,
            };
            outbox.deliveries.insert((hook.id.clone(), event.seq), row);
        }
    }
    outbox.events.push(event);
}

impl Outbox {
    fn event(&self, seq: i64) -> &LifecycleEvent {
        self.events.iter().find(|e| e.seq == seq).expect("a delivery's event exists")
    }

    fn seq_of(&self, id: &EventId) -> Option<i64> {
        self.events.iter().find(|e| &e.id == id).map(|e| e.seq)
    }

    fn delivery(&self, (webhook, seq): &(WebhookId, i64), row: &Row) -> Delivery {
        Delivery {
            webhook_id: webhook.clone(),
            event: self.event(*seq).clone(),
            state: row.state,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error.clone(),
            next_attempt_at: (row.state == DeliveryState::Pending).then_some(row.next_at),
            retry_from: row.retry_from,
        }
    }

    fn owned(&self, tenant: &TenantId, id: &WebhookId) -> bool {
        self.webhooks.get(id).is_some_and(|w| &w.tenant == tenant)
    }

    /// Whether no earlier pending delivery of the same connection to the same endpoint exists.
    fn first_of_its_connection(&self, (webhook, seq): &(WebhookId, i64)) -> bool {
        let ref_id = &self.event(*seq).ref_id;
        !self.deliveries.iter().any(|((w, s), row)| {
            w == webhook && s < seq && row.state == DeliveryState::Pending && &self.event(*s).ref_id == ref_id
        })
    }
}

fn outbox(state: &mut State) -> &mut Outbox {
    &mut state.outbox
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn events_after(&self, query: &EventQuery) -> Result<Vec<(FeedPosition, LifecycleEvent)>, StoreError> {
        let mut state = self.state();
        Ok(outbox(&mut state)
            .events
            .iter()
            .filter(|e| e.owner.tenant == query.tenant && query.user.as_ref().is_none_or(|u| &e.owner.user == u))
            .filter(|e| e.seq > query.after.seq)
            .take(query.limit as usize)
            .map(|e| (FeedPosition { txid: 0, seq: e.seq }, e.clone()))
            .collect())
    }

    async fn prune_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let mut state = self.state();
        let outbox = outbox(&mut state);
        // A pending delivery to a deleted endpoint is never sent, and waits on nothing.
        let waited_on = |seq: i64| {
            outbox
                .deliveries
                .iter()
                .any(|((w, s), r)| *s == seq && r.state == DeliveryState::Pending && outbox.webhooks.contains_key(w))
        };
        let pruned: Vec<i64> = outbox
            .events
            .iter()
            .filter(|e| e.at < before && !waited_on(e.seq))
            .take(limit as usize)
            .map(|e| e.seq)
            .collect();
        outbox.events.retain(|e| !pruned.contains(&e.seq));
        outbox.deliveries.retain(|(_, seq), _| !pruned.contains(seq));
        Ok(pruned.len() as u64)
    }

    async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        let mut state = self.state();
        let webhooks = &mut outbox(&mut state).webhooks;
        if webhooks.contains_key(&webhook.id) {
            return Err(StoreError::Conflict("webhooks.id".into()));
        }
        webhooks.insert(webhook.id.clone(), webhook.clone());
        Ok(())
    }

    async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        let mut state = self.state();
        Ok(outbox(&mut state).webhooks.get(id).filter(|w| &w.tenant == tenant).cloned())
    }

    async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>, StoreError> {
        let mut state = self.state();
        let mut all: Vec<Webhook> =
            outbox(&mut state).webhooks.values().filter(|w| &w.tenant == tenant).cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        update: &WebhookUpdate,
    ) -> Result<Option<Webhook>, StoreError> {
        let mut state = self.state();
        let Some(stored) = outbox(&mut state).webhooks.get_mut(id).filter(|w| &w.tenant == tenant) else {
            return Ok(None);
        };
        if let Some(url) = &update.url {
            stored.url.clone_from(url);
        }
        if let Some(events) = &update.events {
            stored.events.clone_from(events);
        }
        if let Some(enabled) = update.enabled {
            (stored.enabled, stored.disabled_reason) = (enabled, None);
        }
        stored.updated_at = update.at;
        Ok(Some(stored.clone()))
    }

    async fn rotate_webhook_secret(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        rotation: &SecretRotation,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let webhooks = &mut outbox(&mut state).webhooks;
        let Some(stored) = webhooks.get_mut(id).filter(|w| &w.tenant == tenant && w.secret == rotation.expected) else {
            return Ok(false);
        };
        stored.secret = rotation.secret.clone();
        stored.previous_secret = Some(rotation.previous.clone());
        stored.updated_at = rotation.at;
        Ok(true)
    }

    async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<bool, StoreError> {
        let mut state = self.state();
        let outbox = outbox(&mut state);
        if !outbox.owned(tenant, id) {
            return Ok(false);
        }
        outbox.webhooks.remove(id);
        outbox.deliveries.retain(|(w, _), _| w != id);
        Ok(true)
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut state = self.state();
        let outbox = outbox(&mut state);
        if !outbox.owned(tenant, webhook) {
            return Ok(Vec::new());
        }
        Ok(outbox
            .deliveries
            .iter()
            .rev()
            .filter(|((w, seq), _)| w == webhook && before_seq.is_none_or(|b| *seq < b))
            .take(limit as usize)
            .map(|(key, row)| outbox.delivery(key, row))
            .collect())
    }

    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        event: &EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let outbox = outbox(&mut state);
        let Some(seq) = outbox.seq_of(event).filter(|_| outbox.owned(tenant, webhook)) else { return Ok(false) };
        match outbox.deliveries.get_mut(&(webhook.clone(), seq)) {
            Some(row) if row.state != DeliveryState::Pending => {
                *row = Row { state: DeliveryState::Pending, next_at: now, retry_from: now, lease: None, ..row.clone() };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let out_of_order = self.has(Flaw::ClaimsOutOfOrder);
        let mut state = self.state();
        let outbox = outbox(&mut state);
        let picked: Vec<(WebhookId, i64)> = outbox
            .deliveries
            .iter()
            .filter(|(_, row)| row.state == DeliveryState::Pending && row.next_at <= now)
            .filter(|(_, row)| row.lease.as_ref().is_none_or(|(_, until)| *until <= now))
            .filter(|((w, _), _)| outbox.webhooks.get(w).is_some_and(|w| w.enabled))
            .filter(|(key, _)| out_of_order || outbox.first_of_its_connection(key))
            .map(|(key, _)| key.clone())
            .collect();
        let mut picked = picked;
        picked.sort_by_key(|(_, seq)| *seq);
        picked.truncate(limit as usize);
        let mut due = Vec::with_capacity(picked.len());
        for key in picked {
            let row = outbox.deliveries.get_mut(&key).expect("picked");
            row.lease = Some((owner.to_owned(), lease_until));
            let row = row.clone();
            let hook = &outbox.webhooks[&key.0];
            due.push(DueDelivery {
                delivery: outbox.delivery(&key, &row),
                url: hook.url.clone(),
                secret: hook.secret.clone(),
                previous_secret: hook.previous_secret.clone().filter(|(_, until)| *until > now),
            });
        }
        Ok(due)
    }

    async fn finish_deliveries(&self, owner: &str, attempts: &[Attempted]) -> Result<Vec<bool>, StoreError> {
        let mut state = self.state();
        let outbox = outbox(&mut state);
        Ok(attempts.iter().map(|a| outbox.finish(&a.webhook, &a.event, owner, &a.outcome)).collect())
    }
}

impl Outbox {
    /// Records `outcome` on the delivery of `event` to `webhook` if `owner` holds it; whether it did.
    fn finish(&mut self, webhook: &WebhookId, event: &EventId, owner: &str, outcome: &AttemptOutcome) -> bool {
        let Some(seq) = self.seq_of(event) else { return false };
        let Some(row) = self.deliveries.get_mut(&(webhook.clone(), seq)) else { return false };
        if row.state != DeliveryState::Pending || row.lease.as_ref().is_none_or(|(holder, _)| holder != owner) {
            return false;
        }
        row.lease = None;
        let mut attempt = |state, status, error: Option<&str>| {
            (row.state, row.attempts, row.last_status) = (state, row.attempts + 1, status);
            row.last_error = error.map(str::to_owned);
        };
        match outcome {
            AttemptOutcome::Delivered { status, .. } => attempt(DeliveryState::Delivered, Some(*status), None),
            AttemptOutcome::Retry { status, error, next_at } => {
                attempt(DeliveryState::Pending, *status, Some(error));
                row.next_at = *next_at;
            }
            AttemptOutcome::Failed { status, error, .. } => attempt(DeliveryState::Failed, *status, Some(error)),
            AttemptOutcome::Gone { at } => {
                attempt(DeliveryState::Failed, Some(410), Some(AttemptOutcome::GONE_REASON));
                let hook = self.webhooks.get_mut(webhook).expect("a delivery's endpoint exists");
                (hook.enabled, hook.disabled_reason, hook.updated_at) =
                    (false, Some(AttemptOutcome::GONE_REASON.to_owned()), *at);
            }
            AttemptOutcome::Postponed { next_at } => row.next_at = *next_at,
        }
        true
    }
}
