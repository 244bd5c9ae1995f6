//! The background refresh of tokens (spec §7).

use std::time::Duration;

use super::{ConfigError, Source, invalid};

/// The token lifecycle. Reads:
///
/// - `REFRESH_AHEAD_SECONDS`: refresh tokens expiring within this window (default `300`);
/// - `REFRESH_INTERVAL_SECONDS`: tick of the background work (default `30`);
/// - `REFRESH_LEASE_SECONDS`: how long a replica's claim on a token holds; more than twice
///   `OUTBOUND_TIMEOUT_MS` (default `60`);
/// - `REFRESH_CONCURRENCY`: refreshes one replica runs at once (default `8`);
/// - `REFRESH_BREAKER_THRESHOLD`: consecutive failures that open an issuer's breaker (default `5`);
/// - `REFRESH_BREAKER_COOLDOWN_SECONDS`: how long an open breaker waits (default `60`).
#[derive(Debug, Clone)]
pub struct RefreshConfig {
    pub ahead: Duration,
    pub interval: Duration,
    /// How long a replica's claim on a token holds; longer than twice the outbound timeout.
    pub lease: Duration,
    pub concurrency: usize,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

impl RefreshConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &[
        "REFRESH_AHEAD_SECONDS",
        "REFRESH_INTERVAL_SECONDS",
        "REFRESH_LEASE_SECONDS",
        "REFRESH_CONCURRENCY",
        "REFRESH_BREAKER_THRESHOLD",
        "REFRESH_BREAKER_COOLDOWN_SECONDS",
    ];

    /// `outbound_timeout` bounds the lease from below.
    pub(super) fn read(source: &Source, outbound_timeout: Duration) -> Result<Self, ConfigError> {
        let seconds = |name, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(source.number::<u64>(name)?.unwrap_or(default)))
        };
        let config = Self {
            ahead: seconds("REFRESH_AHEAD_SECONDS", 300)?,
            interval: seconds("REFRESH_INTERVAL_SECONDS", 30)?.max(Duration::from_secs(1)),
            lease: seconds("REFRESH_LEASE_SECONDS", 60)?,
            concurrency: source.number::<usize>("REFRESH_CONCURRENCY")?.unwrap_or(8).max(1),
            breaker_threshold: source.number::<u32>("REFRESH_BREAKER_THRESHOLD")?.unwrap_or(5).max(1),
            breaker_cooldown: seconds("REFRESH_BREAKER_COOLDOWN_SECONDS", 60)?.max(Duration::from_secs(1)),
        };
        if config.lease <= 2 * outbound_timeout {
            // A lease that ran out while its holder still waits for the provider would let a
            // second replica spend the same refresh token.
            return Err(invalid("REFRESH_LEASE_SECONDS", "must be more than twice OUTBOUND_TIMEOUT_MS"));
        }
        Ok(config)
    }

    /// The lifecycle settings: a failed refresh is retried after one interval, doubling up to 30
    /// intervals (at most half an hour); a credentials call waits at most 10 s for another
    /// replica's refresh.
    pub fn settings(&self) -> app::RefreshSettings {
        let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let interval = seconds(self.interval).max(1);
        app::RefreshSettings {
            ahead_seconds: seconds(self.ahead),
            interval: self.interval,
            lease_seconds: seconds(self.lease),
            concurrency: self.concurrency,
            stale_after_seconds: 86_400,
            backoff_base_seconds: interval,
            backoff_max_seconds: interval.saturating_mul(30).min(1_800).max(interval),
            breaker_threshold: self.breaker_threshold,
            breaker_cooldown_seconds: seconds(self.breaker_cooldown),
            lease_wait: Duration::from_secs(10).min(self.lease),
        }
    }
}
