//! Lifecycle events and their webhooks (issue 17).

use std::time::Duration;

use super::{ConfigError, Source};

/// Lifecycle events. Reads:
///
/// - `EVENT_REFRESH_FAILING_AFTER`: transient refresh failures in a row that announce
///   `connection.refresh_failing` (default `3`, at least `1`);
/// - `EVENT_RETENTION_DAYS`: how long events are kept for the feed (default `30`);
/// - `WEBHOOK_RETRY_HOURS`: how long a delivery is retried before it is `failed` (default `24`);
/// - `WEBHOOK_SECRET_OVERLAP_SECONDS`: how long a rotated-out signing secret keeps signing
///   (default `86400`);
/// - `WEBHOOK_TIMEOUT_SECONDS`: how long a receiver may take to answer (default `10`);
/// - `WEBHOOK_CONCURRENCY`: deliveries a replica claims and sends at once (default `256`);
/// - `WEBHOOK_POLL_MS`: how often an idle dispatcher looks for due deliveries (default `200`);
/// - `WEBHOOK_BACKOFF_BASE_SECONDS` / `WEBHOOK_BACKOFF_MAX_SECONDS`: the first retry's delay,
///   doubled per attempt up to the maximum, with jitter (defaults `5` and `3600`).
#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub refresh_failing_after: u32,
    pub retention_days: u64,
    pub retry_hours: u64,
    pub secret_overlap: Duration,
    pub timeout: Duration,
    pub concurrency: u32,
    pub poll_interval: Duration,
    pub backoff_base_seconds: u64,
    pub backoff_max_seconds: u64,
}

impl EventsConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &[
        "EVENT_REFRESH_FAILING_AFTER",
        "EVENT_RETENTION_DAYS",
        "WEBHOOK_RETRY_HOURS",
        "WEBHOOK_SECRET_OVERLAP_SECONDS",
        "WEBHOOK_TIMEOUT_SECONDS",
        "WEBHOOK_CONCURRENCY",
        "WEBHOOK_POLL_MS",
        "WEBHOOK_BACKOFF_BASE_SECONDS",
        "WEBHOOK_BACKOFF_MAX_SECONDS",
    ];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        let base = source.number::<u64>("WEBHOOK_BACKOFF_BASE_SECONDS")?.unwrap_or(5).max(1);
        Ok(Self {
            refresh_failing_after: source.number::<u32>("EVENT_REFRESH_FAILING_AFTER")?.unwrap_or(3).max(1),
            retention_days: source.number::<u64>("EVENT_RETENTION_DAYS")?.unwrap_or(30).max(1),
            retry_hours: source.number::<u64>("WEBHOOK_RETRY_HOURS")?.unwrap_or(24),
            secret_overlap: Duration::from_secs(
                source.number::<u64>("WEBHOOK_SECRET_OVERLAP_SECONDS")?.unwrap_or(86_400),
            ),
            timeout: Duration::from_secs(source.number::<u64>("WEBHOOK_TIMEOUT_SECONDS")?.unwrap_or(10).max(1)),
            concurrency: source.number::<u32>("WEBHOOK_CONCURRENCY")?.unwrap_or(256).clamp(1, 4_096),
            poll_interval: Duration::from_millis(source.number::<u64>("WEBHOOK_POLL_MS")?.unwrap_or(200).max(10)),
            backoff_base_seconds: base,
            backoff_max_seconds: source.number::<u64>("WEBHOOK_BACKOFF_MAX_SECONDS")?.unwrap_or(3_600).max(base),
        })
    }

    /// What the use cases take of it.
    pub fn settings(&self) -> app::events::EventSettings {
        let seconds = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        app::events::EventSettings {
            refresh_failing_after: self.refresh_failing_after,
            retry_seconds: seconds(self.retry_hours.saturating_mul(3_600)),
            secret_overlap_seconds: seconds(self.secret_overlap.as_secs()),
            retention_seconds: seconds(self.retention_days.saturating_mul(86_400)),
            poll_interval: self.poll_interval,
            batch: self.concurrency,
            // A claimed delivery stays this replica's well past a request's timeout.
            lease_seconds: seconds(self.timeout.as_secs().saturating_mul(3).max(30)),
            backoff_base_seconds: seconds(self.backoff_base_seconds),
            backoff_max_seconds: seconds(self.backoff_max_seconds),
            ..app::events::EventSettings::default()
        }
    }
}
