//! The refresh queue (spec §7): which connections' tokens are due, and a lease per connection so
//! that of several replicas on one database exactly one refreshes a given token at a time.
//!
//! A lease is a row-level claim with an owner and an end. It is taken in one statement (on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so replicas claim disjoint rows without waiting on
//! each other) and lapses by itself, so a replica that dies holding leases only delays those
//! tokens until the leases run out. The same rows carry each connection's failure count and the
//! earliest time of its next attempt (backoff).

use async_trait::async_trait;
use domain::{RefId, Timestamp};

use crate::StoreError;

/// Which tokens are due at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueWindow {
    pub now: Timestamp,
    /// Tokens that expire at or before this instant are due (`now` + the refresh-ahead window).
    pub due_before: Timestamp,
    /// Tokens without an expiry are due when they were last written at or before this instant
    /// (a day ago): spec §7 refreshes them at least daily.
    pub stale_before: Timestamp,
}

/// A lease this caller holds on one connection, with the connection's consecutive failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub ref_id: RefId,
    /// Refresh attempts that failed at the provider in a row (0 after a success); sizes the next
    /// backoff.
    pub failures: u32,
}

/// What a released lease leaves behind for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    pub failures: u32,
    /// No claim picks the connection before this instant; `None` means as soon as it is due.
    pub next_attempt_at: Option<Timestamp>,
}

impl RetryState {
    /// A success: no failures, no waiting.
    pub const CLEAR: Self = Self { failures: 0, next_attempt_at: None };
}

/// How many tokens are due now, for the operator (leased and backed-off ones included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueStats {
    pub due: u64,
    /// The earliest expiry among the due tokens that have one.
    pub earliest_expiry: Option<Timestamp>,
}

/// The refresh queue over the connections a store holds.
///
/// A connection is *due* when it is `connected`, uses OAuth, and either has a refresh token and
/// an expiry at or before `due_before`, or has a refresh token, no expiry and was last written at
/// or before `stale_before`, or has no refresh token and an expiry at or before `now` (the
/// refresher then marks it `expired`). A lease is *free* when nobody holds it or its end is at
/// or before `now`.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait RefreshQueue: Send + Sync + 'static {
    /// Leases up to `limit` due connections to `owner` until `lease_until`, soonest expiry
    /// first, skipping those whose lease is not free or whose next attempt is after `now`.
    /// Atomic per connection: of concurrent callers, each connection goes to at most one.
    async fn claim_due(
        &self,
        owner: &str,
        window: DueWindow,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError>;

    /// Leases one connection to `owner` until `lease_until` if its lease is free or held by
    /// `owner` already, whatever its status and next attempt. `None` when another owner holds
    /// it or the connection is gone.
    async fn try_lease(
        &self,
        ref_id: &RefId,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Lease>, StoreError>;

    /// Frees the lease if `owner` still holds it, recording `retry`. Returns whether it did.
    async fn release(&self, ref_id: &RefId, owner: &str, retry: RetryState) -> Result<bool, StoreError>;

    /// How many connections are due in `window`, leased or not.
    async fn due_stats(&self, window: DueWindow) -> Result<DueStats, StoreError>;
}
