//! Lifecycle events (issue 17): the outbox a store writes with every change it records, the feed
//! that lists it, the webhook endpoints it is delivered to and each delivery's attempts.
//!
//! An event is written by the same store write that records the change's audit event (its
//! [`Notice`] rides on the [`crate::AuditEvent`]), so a change is never stored without its event.
//! The same transaction queues one delivery per enabled endpoint of the tenant whose filter takes
//! the event, so an endpoint never misses one written after it was registered.

use async_trait::async_trait;
use bytes::Bytes;
use domain::{
    EventId, EventType, Owner, ReasonCode, RefId, ServerName, Standing, TenantId, Timestamp, UserId, WebhookId,
};
use secrecy::SecretString;

use crate::{BoxError, Sealed, StoreError};

/// The lifecycle event an audit event announces, written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: EventId,
    pub kind: EventType,
    /// Where the connection stands after the change.
    pub standing: Standing,
    /// Where it stood before; `None` for a connection that did not exist before the change.
    pub previous: Option<Standing>,
    pub reason: ReasonCode,
}

/// A recorded lifecycle event, as the feed lists it and a webhook carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// The store's order of events: a later event has a greater `seq` (the feed's cursor).
    pub seq: i64,
    pub id: EventId,
    pub kind: EventType,
    pub at: Timestamp,
    pub ref_id: RefId,
    pub server_name: ServerName,
    pub owner: Owner,
    pub standing: Standing,
    pub previous: Option<Standing>,
    pub reason: ReasonCode,
}

/// Where an event stands in the feed: ordered by its writing transaction, then by `seq`.
///
/// Where writers commit concurrently (PostgreSQL), a `seq` can become visible after a greater
/// one, so the feed orders by the writing transaction's id first: it lists only events of
/// transactions older than every one still running, and one that commits later has a greater
/// `txid` than any listed, so a cursor never passes it. A store with one writer orders by `seq`
/// alone (its `txid` is always 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPosition {
    pub txid: i64,
    pub seq: i64,
}

/// Which events a feed read lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub tenant: TenantId,
    /// One user's events only; `None`: every user's of the tenant.
    pub user: Option<UserId>,
    /// Only events after this position (the default: from the first).
    pub after: FeedPosition,
    pub limit: u32,
}

/// A webhook endpoint of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub tenant: TenantId,
    pub url: String,
    /// The event types it takes; `None`: every type.
    pub events: Option<Vec<EventType>>,
    /// The signing secret (`whsec_…`), sealed with `webhooks/<id>/secret`.
    pub secret: Sealed,
    /// The secret before the last rotation, sealed with `webhooks/<id>/previous_secret`, still
    /// signing until `previous_until`.
    pub previous_secret: Option<(Sealed, Timestamp)>,
    /// Whether deliveries are queued and sent; `false` after a `410 Gone` or when paused.
    pub enabled: bool,
    /// Why it was disabled by the service (a fixed phrase), `None` when enabled or paused.
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A change of an endpoint's url, filter or state: each `Some` part is written, with
/// `updated_at`; every other column stays as it is (a `410 Gone` disabling it, a rotated secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    /// `Some(None)`: every type.
    pub events: Option<Option<Vec<EventType>>>,
    /// Enabling or pausing also clears `disabled_reason`.
    pub enabled: Option<bool>,
    pub at: Timestamp,
}

/// A new signing secret for an endpoint, written only over the secret it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRotation {
    /// The sealed secret as read: the rotation is written only if the endpoint still has it.
    pub expected: Sealed,
    /// The new secret, sealed with `webhooks/<id>/secret`.
    pub secret: Sealed,
    /// The replaced secret, sealed with `webhooks/<id>/previous_secret`, and until when it signs.
    pub previous: (Sealed, Timestamp),
    pub at: Timestamp,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or for an earlier event of its connection).
    Pending,
    Delivered,
    /// Given up on: out of retry time, or refused for good. Kept, and retried on request.
    Failed,
}

impl DeliveryState {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub webhook_id: WebhookId,
    pub event: LifecycleEvent,
    pub state: DeliveryState,
    pub attempts: u32,
    /// The HTTP status of the last attempt's answer; `None` before one, or when none came.
    pub last_status: Option<u16>,
    /// What went wrong last, in fixed words (never the receiver's own text).
    pub last_error: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<Timestamp>,
    /// Retries stop this long after: the event's time, or a manual retry's.
    pub retry_from: Timestamp,
}

/// A delivery a dispatcher has leased, with what sending it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub url: String,
    pub secret: Sealed,
    pub previous_secret: Option<(Sealed, Timestamp)>,
}

/// How an attempt ended, as the dispatcher records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered `2xx`.
    Delivered { status: u16, at: Timestamp },
    /// It failed in a way that may pass: try again at `next_at`.
    Retry { status: Option<u16>, error: String, next_at: Timestamp },
    /// Given up on (out of retry time, or a refusal that will not change).
    Failed { status: Option<u16>, error: String, at: Timestamp },
    /// `410 Gone`: failed, and its endpoint disabled.
    Gone { at: Timestamp },
    /// Not attempted (the endpoint's circuit breaker is open): wait until `next_at`, no attempt
    /// counted.
    Postponed { next_at: Timestamp },
}

impl AttemptOutcome {
    /// Why a [`AttemptOutcome::Gone`] failed its delivery (`last_error`) and disabled its endpoint
    /// (`disabled_reason`): the stores' fixed phrase.
    pub const GONE_REASON: &'static str = "the endpoint answered 410 Gone";

    /// Every [`AttemptOutcome::name`], for metrics.
    pub const NAMES: [&'static str; 5] = ["delivered", "retry", "failed", "gone", "postponed"];

    /// The outcome's word, for metrics and logs.
    pub fn name(&self) -> &'static str {
        let [delivered, retry, failed, gone, postponed] = Self::NAMES;
        match self {
            Self::Delivered { .. } => delivered,
            Self::Retry { .. } => retry,
            Self::Failed { .. } => failed,
            Self::Gone { .. } => gone,
            Self::Postponed { .. } => postponed,
        }
    }
}

/// How the attempt at the delivery of `event` to `webhook` ended, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub webhook: WebhookId,
    pub event: EventId,
    pub outcome: AttemptOutcome,
}

/// The events, webhook endpoints and deliveries a store holds.
///
/// Everything a request reaches is scoped by its tenant (and, for the feed, its user when one is
/// named): another tenant's endpoint or delivery is as absent as one that never existed. Only
/// [`EventStore::claim_deliveries`], [`EventStore::finish_deliveries`] and
/// [`EventStore::prune_events`] serve the background across tenants.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// The query's events in feed order with their positions: only events no write still under
    /// way can precede, so a cursor never skips one.
    async fn events_after(&self, query: &EventQuery) -> Result<Vec<(FeedPosition, LifecycleEvent)>, StoreError>;

    /// Deletes up to `limit` events recorded before `before`, with their settled deliveries (a
    /// pending one keeps its event, unless its endpoint is gone); returns how many events it
    /// deleted.
    async fn prune_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError>;

    async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;

    async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<Webhook>, StoreError>;

    /// The tenant's endpoints, oldest first.
    async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>, StoreError>;

    /// Writes `update`'s parts to `tenant`'s endpoint `id`, in one statement (a concurrent change
    /// of another part is kept); the endpoint after, `None` when the tenant has no such endpoint.
    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        update: &WebhookUpdate,
    ) -> Result<Option<Webhook>, StoreError>;

    /// Writes `rotation` to `tenant`'s endpoint `id` if its secret is still `rotation.expected`
    /// byte for byte (as a rekey's replacement is); whether it did. A caller that lost to another
    /// rotation or a rekey reads the endpoint again.
    async fn rotate_webhook_secret(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        rotation: &SecretRotation,
    ) -> Result<bool, StoreError>;

    /// Deletes the endpoint and its deliveries; whether there was one. A delivery queued to it by
    /// a change that commits meanwhile is never claimed nor listed.
    async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<bool, StoreError>;

    /// The endpoint's deliveries, newest event first, those of events before `before_seq` only
    /// when given, at most `limit`.
    async fn deliveries(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Makes the delivery of `event` pending again, due at `now`, its retry time counted from
    /// `now`; whether there was such a delivery (of the tenant's endpoint) that was not pending.
    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        event: &EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Leases up to `limit` deliveries to `owner` until `lease_until`: pending ones of enabled
    /// endpoints, due at or before `now`, not leased, and with no earlier pending delivery of the
    /// same connection to the same endpoint; in event order. Atomic per delivery: of concurrent
    /// callers each delivery goes to at most one.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records how each attempt ended and lets its delivery's lease go, where `owner` still
    /// holds it; whether it did, attempt by attempt. One write for them all (a dispatcher's
    /// round records its outcomes at once): none is recorded when it fails.
    async fn finish_deliveries(&self, owner: &str, attempts: &[Attempted]) -> Result<Vec<bool>, StoreError>;
}

/// One signed webhook request (Standard Webhooks): the adapter signs `id.timestamp.body` with each
/// secret and sends the three `webhook-*` headers.
#[derive(Debug)]
pub struct WebhookMessage {
    pub url: String,
    pub id: EventId,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    pub body: Bytes,
    /// The signing secrets (`whsec_…`), the current one first.
    pub secrets: Vec<SecretString>,
}

/// Why a webhook request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the receiver did not answer in time")]
    Timeout,
    #[error("the receiver could not be reached")]
    Unreachable(#[source] BoxError),
    /// The URL breaks the outbound rule (a private address, a redirect): a fixed reason.
    #[error("refused: {0}")]
    Refused(String),
}

/// Sends webhook requests.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Signs and sends `message`; the receiver's status, whatever it is.
    async fn send(&self, message: &WebhookMessage) -> Result<u16, SendError>;

    /// Whether `url` may receive webhooks (scheme, host, the outbound rule's addresses), checked
    /// when an endpoint is registered; a fixed reason when not.
    async fn check_url(&self, url: &str) -> Result<(), String>;
}
