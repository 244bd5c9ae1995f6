//! `RefreshQueue` over the lease columns of `connections`: which tokens are due, who holds a
//! connection's refresh lease until when, and the backoff of its failed attempts.
//!
//! Claiming is two statements in one transaction: [`due_candidates()`] picks the rows, [`lease`]
//! writes the lease on exactly those. SQLite's one writer makes that atomic as it is; PostgreSQL
//! locks the candidates with `FOR UPDATE SKIP LOCKED`, so replicas claiming at once take
//! disjoint rows and never wait for each other.

use diesel::dsl::{Eq, EqAny, Filter, Find, IsNull, Le, Or, Returning, Set, auto_type};
use diesel::prelude::*;
use domain::{OAuthGrant, RefId, Timestamp};
use ports::{DueStats, DueWindow, Lease, RetryState, StoreError};

use crate::schema::connections;

/// What a lease query returns: the leased connection and its failures in a row.
#[derive(Debug, Queryable)]
pub struct LeaseRow {
    ref_id: String,
    refresh_failures: i32,
}

impl LeaseRow {
    pub fn into_lease(self) -> Result<Lease, StoreError> {
        let ref_id = RefId::parse(&self.ref_id).map_err(|e| crate::corrupt("connections", &self.ref_id, e))?;
        Ok(Lease { ref_id, failures: u32::try_from(self.refresh_failures).unwrap_or(0) })
    }
}

columns! {
    /// The columns a [`LeaseRow`] reads, in its order.
    LeaseColumns, LEASE = connections(ref_id, refresh_failures)
}

/// The due predicate of `RefreshQueue`: a connected OAuth connection whose token expires before
/// `due_before` (or, of unknown expiry, was last written before `stale_before`) and can be
/// renewed (a refresh token, or the client credentials grant made again), or whose token has
/// expired and cannot be.
///
/// Led by the range of the partial index `connections_due` (the expiry of connected OAuth rows,
/// an unknown one sorting first): its predicate is SQL text, not binds, so a prepared (generic)
/// plan can prove the index applies, and `COALESCE(expires_at, -1) <= due_before` (redundant:
/// every due row has an expiry by then or none, `due_before` being at or after `now`) is its
/// range. Without it a round that finds nothing read every connected row: at 1M rows, mostly
/// API keys.
#[auto_type]
pub fn due(window: DueWindow) -> _ {
    let (now, due_before, stale_before): (i64, i64, i64) =
        (window.now.unix(), window.due_before.unix(), window.stale_before.unix());
    let in_range: DueRange = due_range(due_before);
    let client_credentials: &'static str = OAuthGrant::ClientCredentials.as_str();
    let renewable = connections::refresh_token.is_not_null().or(connections::grant_type.eq(client_credentials));
    let refreshable = renewable.and(
        connections::expires_at
            .le(due_before)
            .or(connections::expires_at.is_null().and(connections::updated_at.le(stale_before))),
    );
    let spent = connections::refresh_token
        .is_null()
        .and(connections::grant_type.ne(client_credentials))
        .and(connections::expires_at.le(now));
    in_range.and(refreshable.or(spent))
}

/// The type of [`due_range`].
pub type DueRange = diesel::expression::SqlLiteral<
    diesel::sql_types::Bool,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<diesel::sql_types::Bool>,
        diesel::dsl::AsExprOf<i64, diesel::sql_types::BigInt>,
    >,
>;

/// Connected OAuth rows whose expiry (an unknown one first) is at or before `due_before`: the
/// predicate and the range of the index `connections_due`, written as that index is.
fn due_range(due_before: i64) -> DueRange {
    diesel::dsl::sql::<diesel::sql_types::Bool>(
        "(status = 'connected' AND auth_method = 'oauth' AND COALESCE(expires_at, -1) <= ",
    )
    .bind::<diesel::sql_types::BigInt, _>(due_before)
    .sql(")")
}

/// Up to `limit` due connections that no live lease holds and whose backoff has passed, the
/// soonest expiry first (unknown expiry last).
#[auto_type]
pub fn due_candidates(window: DueWindow, limit: u32) -> _ {
    let now: i64 = window.now.unix();
    let limit: i64 = i64::from(limit);
    let is_due: due = due(window);
    connections::table
        .select(connections::ref_id)
        .filter(is_due)
        .filter(connections::lease_until.is_null().or(connections::lease_until.le(now)))
        .filter(connections::next_attempt_at.is_null().or(connections::next_attempt_at.le(now)))
        .order((connections::expires_at.is_null().asc(), connections::expires_at.asc(), connections::ref_id.asc()))
        .limit(limit)
}

/// The lease columns' new values.
type LeaseSet<'a> = (Eq<connections::lease_owner, &'a str>, Eq<connections::lease_until, i64>);

/// The type of [`lease`].
pub type LeaseAll<'a> = Returning<
    Set<diesel::dsl::update<Filter<connections::table, EqAny<connections::ref_id, Vec<String>>>>, LeaseSet<'a>>,
    LeaseColumns,
>;

/// Writes the lease of `owner` until `until` on the connections `ref_ids` (what
/// [`due_candidates()`] picked).
pub fn lease(ref_ids: Vec<String>, owner: &str, until: Timestamp) -> LeaseAll<'_> {
    diesel::update(connections::table.filter(connections::ref_id.eq_any(ref_ids)))
        .set((connections::lease_owner.eq(owner), connections::lease_until.eq(until.unix())))
        .returning(LEASE)
}

type LeaseFree<'a> =
    Or<Or<IsNull<connections::lease_until>, Le<connections::lease_until, i64>>, Eq<connections::lease_owner, &'a str>>;

/// The type of [`try_lease`].
pub type TryLease<'a> = Returning<
    Set<diesel::dsl::update<Filter<Find<connections::table, &'a str>, LeaseFree<'a>>>, LeaseSet<'a>>,
    LeaseColumns,
>;

/// Takes (or extends) the lease of `ref_id` for `owner` until `until`, if no other owner's lease
/// is live at `now`: one statement, so of racing owners exactly one gets it.
pub fn try_lease<'a>(ref_id: &'a str, owner: &'a str, now: Timestamp, until: Timestamp) -> TryLease<'a> {
    let free = connections::lease_until
        .is_null()
        .or(connections::lease_until.le(now.unix()))
        .or(connections::lease_owner.eq(owner));
    diesel::update(connections::table.find(ref_id).filter(free))
        .set((connections::lease_owner.eq(owner), connections::lease_until.eq(until.unix())))
        .returning(LEASE)
}

type Released = (
    Eq<connections::lease_owner, Option<String>>,
    Eq<connections::lease_until, Option<i64>>,
    Eq<connections::refresh_failures, i32>,
    Eq<connections::next_attempt_at, Option<i64>>,
);

/// The type of [`release`].
pub type Release<'a> = Set<
    diesel::dsl::update<Filter<Find<connections::table, &'a str>, Eq<connections::lease_owner, &'a str>>>,
    Released,
>;

/// Ends `owner`'s lease of `ref_id` and stores its backoff state; writes nothing when the lease
/// is someone else's by now.
pub fn release<'a>(ref_id: &'a str, owner: &'a str, retry: RetryState) -> Release<'a> {
    diesel::update(connections::table.find(ref_id).filter(connections::lease_owner.eq(owner))).set((
        connections::lease_owner.eq(None::<String>),
        connections::lease_until.eq(None::<i64>),
        connections::refresh_failures.eq(i32::try_from(retry.failures).unwrap_or(i32::MAX)),
        connections::next_attempt_at.eq(retry.next_attempt_at.map(Timestamp::unix)),
    ))
}

/// How many connections are due and the earliest expiry among them.
#[auto_type]
pub fn due_stats(window: DueWindow) -> _ {
    let is_due: due = due(window);
    let earliest: diesel::helper_types::min<connections::expires_at> = diesel::dsl::min(connections::expires_at);
    connections::table.filter(is_due).select((diesel::dsl::count_star(), earliest))
}

/// [`due_stats()`]'s answer as the port's value.
pub fn into_due_stats((due, earliest): (i64, Option<i64>)) -> DueStats {
    DueStats { due: u64::try_from(due).unwrap_or(0), earliest_expiry: earliest.map(Timestamp::from_unix) }
}
