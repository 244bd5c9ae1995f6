//! Lifecycle events (issue 17): every change of a connection the engine must hear of is
//! announced by the store write that makes it (a [`ports::Notice`] on its audit event), listed by
//! the feed, and delivered to the tenant's webhook endpoints, signed, at least once and in order
//! per connection.
//!
//! - `announce.rs`: which change announces which event, with which reason code.
//! - `webhooks.rs`: the endpoints (their signing secrets shown once, rotated with an overlap) and
//!   their deliveries.
//! - `feed.rs`: the events in order after a cursor, waiting for one when asked.
//! - `dispatcher.rs`: the background sender (leases, backoff with jitter, per-endpoint circuit
//!   breaker, `410 Gone`), and the pruning of old events.
//! - `payload.rs`: the one JSON form of an event, for the feed and the webhook body alike.

mod announce;
mod dispatcher;
mod feed;
mod payload;
mod webhooks;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod webhook_tests;

use std::time::Duration;

pub use dispatcher::{DispatchReport, Dispatcher};
pub use feed::{EventPage, FeedRequest, MAX_WAIT_SECONDS};
pub use payload::{EventData, EventPayload, rfc3339};
pub use webhooks::{NewWebhook, RegisteredWebhook, WebhookChange};

/// How events are kept and delivered (the server builds it from its `EVENT_*` and `WEBHOOK_*`
/// settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSettings {
    /// Transient refresh failures in a row that announce `connection.refresh_failing`
    /// (`EVENT_REFRESH_FAILING_AFTER`).
    pub refresh_failing_after: u32,
    /// How long a delivery is retried before it is `failed` (`WEBHOOK_RETRY_HOURS`), in seconds.
    pub retry_seconds: i64,
    /// How long a rotated-out secret keeps signing (`WEBHOOK_SECRET_OVERLAP_SECONDS`).
    pub secret_overlap_seconds: i64,
    /// How long events are kept (`EVENT_RETENTION_DAYS`), in seconds.
    pub retention_seconds: i64,
    /// Time between two dispatcher rounds when the last one found nothing to send.
    pub poll_interval: Duration,
    /// Deliveries one round claims, and sends at once (`WEBHOOK_CONCURRENCY`).
    pub batch: u32,
    /// How long a claimed delivery is this replica's; it must outlast a request's timeout.
    pub lease_seconds: i64,
    /// The first retry's delay, doubled per attempt up to `backoff_max_seconds`.
    pub backoff_base_seconds: i64,
    pub backoff_max_seconds: i64,
    /// Failed attempts in a row at one endpoint that open its circuit breaker, and how long it
    /// stays open.
    pub breaker_threshold: u32,
    pub breaker_cooldown_seconds: i64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            refresh_failing_after: 3,
            retry_seconds: 24 * 3600,
            secret_overlap_seconds: 24 * 3600,
            retention_seconds: 30 * 86_400,
            poll_interval: Duration::from_millis(200),
            batch: 256,
            lease_seconds: 60,
            backoff_base_seconds: 5,
            backoff_max_seconds: 3600,
            breaker_threshold: 5,
            breaker_cooldown_seconds: 30,
        }
    }
}

/// Associated data of a webhook endpoint's sealed signing secret `field` (`secret` or
/// `previous_secret`).
pub(crate) fn webhook_aad(id: &domain::WebhookId, field: &str) -> String {
    format!("webhooks/{id}/{field}")
}
