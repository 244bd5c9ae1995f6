//! The `deliveries` table: one event's delivery to one endpoint, queued by the trigger on
//! `events`, and the queries of `EventStore` over it: the dispatcher's claim (its candidates and
//! its lease), an attempt's outcome, a manual retry and an endpoint's page of deliveries.
//!
//! Claiming is two steps, as `refresh` is: [`claimable()`] picks the deliveries, [`lease()`] (or
//! PostgreSQL's one statement around the same candidates) leases exactly those, then
//! [`leased()`] reads them with what sending them needs.

use diesel::dsl::{auto_type, sql};
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable};
use domain::{EventId, ParseError, TenantId, Timestamp, WebhookId};
use ports::{AttemptOutcome, Delivery, DeliveryState, DueDelivery, Sealed, StoreError};

use crate::corrupt;
use crate::events::{EVENT, EventColumns, EventRow, seq_of};
use crate::schema::{deliveries, events, webhooks};

diesel::define_sql_function! {
    /// `COALESCE(a, b)`: `a` unless it is `NULL`.
    fn coalesce(a: Nullable<BigInt>, b: BigInt) -> BigInt;
}

columns! {
    /// The columns of a [`DeliveryRow`], in its order.
    DeliveryColumns, DELIVERY = deliveries(webhook_id, state, attempts, last_status, last_error, next_at, retry_from)
}

/// A delivery's own columns.
#[derive(Debug, Queryable)]
pub struct DeliveryRow {
    webhook_id: String,
    state: String,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    next_at: i64,
    retry_from: i64,
}

impl DeliveryRow {
    /// The delivery of `event` this row describes.
    pub fn into_domain(self, event: EventRow) -> Result<Delivery, StoreError> {
        let bad = |e| corrupt("deliveries", &self.webhook_id, e);
        let state = DeliveryState::parse(&self.state).ok_or_else(|| bad(ParseError::new("state", "is not a state")))?;
        Ok(Delivery {
            webhook_id: WebhookId::parse(&self.webhook_id).map_err(bad)?,
            event: event.into_domain()?,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            last_status: self.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: self.last_error,
            next_attempt_at: (state == DeliveryState::Pending).then(|| Timestamp::from_unix(self.next_at)),
            retry_from: Timestamp::from_unix(self.retry_from),
        })
    }
}

/// A leased delivery with its event, its endpoint's url and sealed secrets.
pub type DueRow = (DeliveryRow, EventRow, String, Vec<u8>, Option<Vec<u8>>, Option<i64>);

/// The rows of [`leased()`] that are the deliveries `picked` (`(webhook_id, seq)`), as the port's
/// values; an endpoint's previous secret only while it still signs at `now`.
pub fn claimed(rows: Vec<DueRow>, picked: &[(String, i64)], now: Timestamp) -> Result<Vec<DueDelivery>, StoreError> {
    rows.into_iter()
        .filter(|(delivery, event, ..)| picked.iter().any(|(w, seq)| *w == delivery.webhook_id && *seq == event.seq()))
        .map(|(delivery, event, url, secret, previous, until)| {
            let previous_secret = match (previous, until) {
                (Some(sealed), Some(until)) if until > now.unix() => {
                    Some((Sealed(sealed), Timestamp::from_unix(until)))
                }
                _ => None,
            };
            Ok(DueDelivery { delivery: delivery.into_domain(event)?, url, secret: Sealed(secret), previous_secret })
        })
        .collect()
}

const PENDING: &str = "pending";

/// No earlier pending delivery of the same connection to the same endpoint: a connection's
/// events go out in order (SQL text: diesel cannot alias the table it filters).
///
/// Looked up per candidate, by `deliveries_in_order`, whatever the statistics say. As a join
/// (PostgreSQL turns a plain `NOT EXISTS` into an anti-join), a table whose statistics predate a
/// burst of deliveries had the planner scan a whole index of the pending deliveries per candidate,
/// the lookup's columns tested as a filter: 2 s per claim of 256 with 30,000 pending
/// (docs/benchmarks.md, "Lifecycle events"). `OFFSET 0` keeps it a subquery run with the
/// candidate's values (PostgreSQL does not pull up one with an offset; SQLite needs the `LIMIT`
/// before it), and its predicate implies no index of the claim's own (the migration
/// `2026-12-07-230000_claim_indexes`), so that index with its three columns is the one that fits.
fn first_of_its_connection() -> SqlLiteral<Bool> {
    sql::<Bool>(
        "NOT EXISTS (SELECT 1 FROM deliveries earlier WHERE earlier.webhook_id = deliveries.webhook_id \
         AND earlier.ref_id = deliveries.ref_id AND earlier.seq < deliveries.seq AND earlier.state = 'pending' \
         LIMIT 1 OFFSET 0)",
    )
}

/// Pending, in the SQL text rather than bound: a bound value cannot prove a partial index's
/// predicate (SQLite's planner, PostgreSQL's generic plans), so the claim's own indexes would go
/// unused.
fn pending_here() -> SqlLiteral<Bool> {
    sql::<Bool>("deliveries.state = 'pending'")
}

/// Up to `limit` deliveries a claim at `now` may lease, in event order: pending, due, not
/// leased, of an enabled endpoint, first of their connection. Selects `(webhook_id, seq)`.
#[auto_type]
pub fn claimable(now: Timestamp, limit: u32) -> _ {
    let now: i64 = now.unix();
    let limit: i64 = i64::from(limit);
    let pending: SqlLiteral<Bool> = pending_here();
    let in_order: SqlLiteral<Bool> = first_of_its_connection();
    deliveries::table
        .inner_join(webhooks::table)
        .filter(pending)
        .filter(deliveries::next_at.le(now))
        .filter(deliveries::lease_until.le(now))
        .filter(webhooks::enabled)
        .filter(in_order)
        .order(deliveries::seq.asc())
        .limit(limit)
        .select((deliveries::webhook_id, deliveries::seq))
}

/// Leases the delivery `(webhook, seq)` to `owner` until `until`.
#[auto_type]
pub fn lease(webhook: String, seq: i64, owner: String, until: Timestamp) -> _ {
    let until: i64 = until.unix();
    diesel::dsl::update(deliveries::table.find((webhook, seq)))
        .set((deliveries::lease_owner.eq(owner), deliveries::lease_until.eq(until)))
}

/// Deliveries with their events and endpoints.
#[auto_type]
fn joined() -> _ {
    deliveries::table.inner_join(events::table).inner_join(webhooks::table)
}

/// The deliveries of events `seqs` that `owner` leases, with what sending them needs, in event
/// order (a caller keeps the pairs it claimed: `owner` may lease others of the same events).
#[auto_type]
pub fn leased(owner: String, seqs: Vec<i64>) -> _ {
    let columns: DeliveryColumns = DELIVERY;
    let event: EventColumns = EVENT;
    let joined: joined = joined();
    joined
        .filter(deliveries::seq.eq_any(seqs))
        .filter(deliveries::lease_owner.eq(owner))
        .order(deliveries::seq.asc())
        .select((columns, event, webhooks::url, webhooks::secret, webhooks::previous_secret, webhooks::previous_until))
}

/// The delivery of `event` to `webhook` while `owner` holds it (so it is pending: only a claim of
/// a pending delivery sets a lease, and every statement that settles or frees one clears it).
/// Found by its primary key whatever the statistics say: the event's `seq` is a scalar subquery,
/// and no `state` test lets the planner prefer a partial index of the pending deliveries, which
/// it did on a table filled faster than it was analyzed, walking every pending delivery of the
/// endpoint per statement (docs/benchmarks.md, "Lifecycle events").
#[auto_type]
fn held(webhook: &WebhookId, event: &EventId, owner: &str) -> _ {
    let webhook: String = webhook.as_str().to_owned();
    let owner: String = owner.to_owned();
    let seq: seq_of = seq_of(event);
    deliveries::table
        .filter(deliveries::webhook_id.eq(webhook))
        .filter(deliveries::seq.nullable().eq(seq.single_value()))
        .filter(deliveries::lease_owner.eq(owner))
}

/// The statement that records an attempt's outcome: see [`finish`].
#[derive(Debug)]
pub enum Finish {
    /// An attempt was made: counted, its state, status and error written.
    Attempt(FinishAttempt),
    /// None was made ([`AttemptOutcome::Postponed`]): only its next try moves.
    Postpone(Postpone),
}

/// What recording an outcome writes on its delivery: the one mapping of an [`AttemptOutcome`] to
/// the columns, for [`finish`] and for a store that settles many in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The delivery's state afterwards (a postponed one keeps its own: pending, as it is held).
    pub state: &'static str,
    /// Whether an attempt was made: counted, and its status and error written. A postponed
    /// delivery (the breaker was open) keeps its last ones.
    pub counted: bool,
    /// The receiver's status code, when it answered.
    pub status: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The next try; `None` keeps the one it has.
    pub next_at: Option<i64>,
}

impl Settlement {
    /// The columns `outcome` writes.
    pub fn of(outcome: &AttemptOutcome) -> Self {
        let code = |s: &Option<u16>| s.map(i32::from);
        let attempt = |state: DeliveryState, status, error, next_at| Self {
            state: state.as_str(),
            counted: true,
            status,
            error,
            next_at,
        };
        match outcome {
            AttemptOutcome::Postponed { next_at } => Self {
                state: DeliveryState::Pending.as_str(),
                counted: false,
                status: None,
                error: None,
                next_at: Some(next_at.unix()),
            },
            AttemptOutcome::Delivered { status, .. } => {
                attempt(DeliveryState::Delivered, Some(i32::from(*status)), None, None)
            }
            AttemptOutcome::Retry { status, error, next_at } => {
                attempt(DeliveryState::Pending, code(status), Some(error.clone()), Some(next_at.unix()))
            }
            AttemptOutcome::Failed { status, error, .. } => {
                attempt(DeliveryState::Failed, code(status), Some(error.clone()), None)
            }
            AttemptOutcome::Gone { .. } => {
                attempt(DeliveryState::Failed, Some(410), Some(AttemptOutcome::GONE_REASON.to_owned()), None)
            }
        }
    }
}

/// Records `outcome` on the delivery of `event` to `webhook` if `owner` holds it and it is
/// pending, letting the lease go. A `Gone` outcome also disables the endpoint
/// ([`crate::webhooks::disable_gone()`], in the same transaction, when this wrote a row).
pub fn finish(webhook: &WebhookId, event: &EventId, owner: &str, outcome: &AttemptOutcome) -> Finish {
    if let AttemptOutcome::Postponed { next_at } = outcome {
        return Finish::Postpone(postpone(webhook, event, owner, next_at.unix()));
    }
    let Settlement { state, status, error, next_at, .. } = Settlement::of(outcome);
    Finish::Attempt(finish_attempt(webhook, event, owner, state, status, error, next_at))
}

#[auto_type]
fn finish_attempt(
    webhook: &WebhookId,
    event: &EventId,
    owner: &str,
    state: &'static str,
    status: Option<i32>,
    error: Option<String>,
    next_at: Option<i64>,
) -> _ {
    let target: held = held(webhook, event, owner);
    let no_owner: Option<String> = None;
    diesel::dsl::update(target).set((
        deliveries::state.eq(state),
        deliveries::attempts.eq(deliveries::attempts + 1_i32),
        deliveries::last_status.eq(status),
        deliveries::last_error.eq(error),
        deliveries::next_at.eq(coalesce(next_at, deliveries::next_at)),
        deliveries::lease_owner.eq(no_owner),
        deliveries::lease_until.eq(0_i64),
    ))
}

/// The statement of [`Finish::Attempt`].
pub type FinishAttempt = finish_attempt;

/// The statement of [`Finish::Postpone`].
pub type Postpone = postpone;

/// Moves the next try of the delivery `owner` holds to `next_at`, counting no attempt, and lets
/// the lease go.
#[auto_type]
fn postpone(webhook: &WebhookId, event: &EventId, owner: &str, next_at: i64) -> _ {
    let target: held = held(webhook, event, owner);
    let no_owner: Option<String> = None;
    diesel::dsl::update(target).set((
        deliveries::next_at.eq(next_at),
        deliveries::lease_owner.eq(no_owner),
        deliveries::lease_until.eq(0_i64),
    ))
}

/// Makes the settled delivery of `event` to `tenant`'s endpoint `webhook` pending again, due at
/// `now` and retried for as long from `now`; its attempts are kept.
#[auto_type]
pub fn retry(tenant: &TenantId, webhook: &WebhookId, event: &EventId, now: Timestamp) -> _ {
    let tenant: String = tenant.as_str().to_owned();
    let webhook: String = webhook.as_str().to_owned();
    let now: i64 = now.unix();
    let pending: &'static str = PENDING;
    let seq: seq_of = seq_of(event);
    let no_owner: Option<String> = None;
    let of_tenant = webhooks::table.filter(webhooks::tenant_id.eq(tenant)).select(webhooks::id);
    diesel::dsl::update(
        deliveries::table
            .filter(deliveries::webhook_id.eq(webhook))
            .filter(deliveries::webhook_id.eq_any(of_tenant))
            .filter(deliveries::seq.eq_any(seq))
            .filter(deliveries::state.ne(pending)),
    )
    .set((
        deliveries::state.eq(pending),
        deliveries::next_at.eq(now),
        deliveries::retry_from.eq(now),
        deliveries::lease_owner.eq(no_owner),
        deliveries::lease_until.eq(0_i64),
    ))
}

/// `tenant`'s endpoint `webhook`'s deliveries with their events, newest first, of events before
/// `before_seq` when given, at most `limit`.
#[auto_type]
pub fn page(tenant: &TenantId, webhook: &WebhookId, before_seq: Option<i64>, limit: u32) -> _ {
    let tenant: String = tenant.as_str().to_owned();
    let webhook: String = webhook.as_str().to_owned();
    let before: i64 = before_seq.unwrap_or(i64::MAX);
    let limit: i64 = i64::from(limit);
    let columns: DeliveryColumns = DELIVERY;
    let event: EventColumns = EVENT;
    let joined: joined = joined();
    joined
        .filter(webhooks::tenant_id.eq(tenant))
        .filter(deliveries::webhook_id.eq(webhook))
        .filter(deliveries::seq.lt(before))
        .order(deliveries::seq.desc())
        .limit(limit)
        .select((columns, event))
}

/// `DELETE` the deliveries to the endpoint `webhook`, after [`crate::webhooks::delete()`]
/// deleted it in the same transaction.
#[auto_type]
pub fn of_endpoint(webhook: &WebhookId) -> _ {
    let webhook: String = webhook.as_str().to_owned();
    diesel::dsl::delete(deliveries::table.filter(deliveries::webhook_id.eq(webhook)))
}
