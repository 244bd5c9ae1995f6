//! The token lifecycle (spec §7): keep every OAuth token fresh without ever spending a refresh
//! token twice, back off from failures, stop calling an authorization server that is down, and
//! let the user reconnect an expired connection in place.
//!
//! - A refresh, whether the scheduler or a credentials call starts it, first takes the
//!   connection's lock in this process, then its lease in the database ([`ports::RefreshQueue`]),
//!   so of all replicas exactly one holds a token's refresh at a time. A credentials call that
//!   finds the lease held elsewhere waits for the holder and reads the token it stored.
//! - A failed attempt (other than a real `invalid_grant`, which expires the connection) is
//!   retried after an exponential backoff with jitter, per connection, recorded with the lease.
//! - A circuit breaker per authorization server (in this process's memory) opens after
//!   consecutive transient failures and lets one trial call through after a cool-down.
//! - The [`Refresher`] claims due tokens every interval and refreshes them with bounded
//!   concurrency.

pub(crate) mod backoff;
pub(crate) mod breaker;
mod heartbeat;
mod lease;
mod reconnect;
mod scheduler;
mod step_up;

#[cfg(test)]
mod reconnect_tests;
#[cfg(test)]
mod scheduler_tests;
#[cfg(test)]
mod tests;

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

pub use heartbeat::{SchedulerHealth, SchedulerMonitor};
pub(crate) use lease::{Renewal, is_breaker_refusal};
pub use scheduler::{Refresher, RoundReport};
pub use step_up::Reauthorization;

/// How the lifecycle behaves (the server builds it from `REFRESH_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSettings {
    /// Tokens that expire within this many seconds are due (`REFRESH_AHEAD_SECONDS`).
    pub ahead_seconds: i64,
    /// Time between two scheduler rounds (`REFRESH_INTERVAL_SECONDS`).
    pub interval: Duration,
    /// How long a lease holds (`REFRESH_LEASE_SECONDS`). It must outlast the slowest refresh
    /// call, or a replica could take over a token whose refresh is still in flight.
    pub lease_seconds: i64,
    /// Refreshes one replica runs at once (`REFRESH_CONCURRENCY`).
    pub concurrency: usize,
    /// Tokens without an expiry are refreshed when last written longer ago than this (a day).
    pub stale_after_seconds: i64,
    /// The backoff after one failure; it doubles with each further failure up to the maximum.
    pub backoff_base_seconds: i64,
    pub backoff_max_seconds: i64,
    /// Consecutive transient failures at one authorization server that open its breaker
    /// (`REFRESH_BREAKER_THRESHOLD`).
    pub breaker_threshold: u32,
    /// How long an open breaker refuses calls before it lets a trial through
    /// (`REFRESH_BREAKER_COOLDOWN_SECONDS`).
    pub breaker_cooldown_seconds: i64,
    /// How long a credentials call waits for another replica's refresh of the same token.
    pub lease_wait: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            ahead_seconds: 300,
            interval: Duration::from_secs(30),
            lease_seconds: 60,
            concurrency: 8,
            stale_after_seconds: 86_400,
            backoff_base_seconds: 30,
            backoff_max_seconds: 900,
            breaker_threshold: 5,
            breaker_cooldown_seconds: 60,
            lease_wait: Duration::from_secs(10),
        }
    }
}

/// The lifecycle's state in one process: who this replica is to the leases, and its breakers.
pub(crate) struct Lifecycle {
    /// This process's name on the leases it takes: random, so replicas never share one.
    owner: String,
    breakers: breaker::Breakers,
}

impl Lifecycle {
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    pub(crate) fn new(settings: &RefreshSettings) -> Self {
        // Seeded from the operating system's randomness once per thread, then varied per call.
        let random = RandomState::new().hash_one(std::process::id());
        Self {
            owner: format!("replica-{}-{random:016x}", std::process::id()),
            breakers: breaker::Breakers::new(settings.breaker_threshold, settings.breaker_cooldown_seconds),
        }
    }
}
