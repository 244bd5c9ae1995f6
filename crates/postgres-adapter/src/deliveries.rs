//! The dispatcher's two statements over `deliveries` on PostgreSQL, hand-written where diesel has
//! no words for them: the claim (`WITH … FOR UPDATE OF … SKIP LOCKED`, then `UPDATE … FROM`) and
//! the record of a batch of outcomes (`UPDATE … FROM unnest(…)`), each one statement whatever
//! the batch's size, and each cached by its text.

use std::collections::HashSet;

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_store::deliveries::{self, Settlement};
use ports::Attempted;

/// The claim as one statement (diesel has no `WITH … UPDATE … FROM`, nor `FOR UPDATE OF`): the
/// shared candidate query locks the deliveries it picks (not their endpoints) with
/// `FOR UPDATE OF deliveries SKIP LOCKED` in a common table expression, and the outer `UPDATE`
/// leases exactly those, returning `(webhook_id, seq)`. Cached by its text.
pub(crate) struct ClaimDeliveries<'a> {
    pub(crate) candidates: deliveries::claimable,
    pub(crate) owner: &'a str,
    pub(crate) until: i64,
}

impl QueryId for ClaimDeliveries<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for ClaimDeliveries<'_> {
    type SqlType = (Text, BigInt);
}

impl QueryFragment<Pg> for ClaimDeliveries<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH picked AS (");
        <deliveries::claimable as QueryFragment<Pg>>::walk_ast(&self.candidates, out.reborrow())?;
        out.push_sql(" FOR UPDATE OF deliveries SKIP LOCKED) UPDATE deliveries SET lease_owner = ");
        out.push_bind_param::<Text, _>(&self.owner)?;
        out.push_sql(", lease_until = ");
        out.push_bind_param::<BigInt, _>(&self.until)?;
        out.push_sql(
            " FROM picked WHERE deliveries.webhook_id = picked.webhook_id AND deliveries.seq = picked.seq \
             RETURNING deliveries.webhook_id, deliveries.seq",
        );
        Ok(())
    }
}

/// A batch of outcomes recorded in one `UPDATE … FROM unnest(…)`: each delivery `owner` still
/// holds gets its [`Settlement`] and loses its lease; returns the batch's positions it wrote.
/// Per delivery it is a row of arrays instead of a statement of its own (which cost PostgreSQL a
/// statement's overhead each, 35 µs, docs/benchmarks.md "Lifecycle events"). Run it by
/// [`SettleDeliveries::run`], which makes the setting the plan needs first.
///
/// The batch drives the plan: its events' `seq`s are looked up once (a materialized `WITH`), then
/// each delivery by its key. Statistics of `lease_owner` taken while nothing was leased make a
/// lease look rare, and the planner then read the whole table for the "few" leased rows and
/// joined each with the batch, looking the events up again per pair: 161 ms per 256 outcomes
/// with 70,000 deliveries (the materialized lookup alone: 41 ms), against 4 ms driven by the
/// batch, and a drain of 1,135 events/s instead of 11,664.
///
/// A delivery named twice is settled by its first outcome only; the later is not written, as
/// when each outcome was a statement of its own (the first let the lease go).
pub(crate) struct SettleDeliveries<'a> {
    owner: &'a str,
    position: Vec<i32>,
    webhook: Vec<String>,
    event: Vec<String>,
    state: Vec<&'static str>,
    counted: Vec<i32>,
    status: Vec<Option<i32>>,
    error: Vec<Option<String>>,
    next_at: Vec<Option<i64>>,
}

impl<'a> SettleDeliveries<'a> {
    pub(crate) fn new(owner: &'a str, attempts: &[Attempted]) -> Self {
        let mut settle = Self {
            owner,
            position: Vec::new(),
            webhook: Vec::new(),
            event: Vec::new(),
            state: Vec::new(),
            counted: Vec::new(),
            status: Vec::new(),
            error: Vec::new(),
            next_at: Vec::new(),
        };
        let mut named = HashSet::new();
        for (i, a) in attempts.iter().enumerate() {
            if !named.insert((a.webhook.as_str(), a.event.as_str())) {
                continue;
            }
            let Settlement { state, counted, status, error, next_at } = Settlement::of(&a.outcome);
            settle
                .position
                .push(i32::try_from(i).expect("a batch holds at most the claim's limit, a u32 far below i32::MAX"));
            settle.webhook.push(a.webhook.as_str().to_owned());
            settle.event.push(a.event.as_str().to_owned());
            settle.state.push(state);
            settle.counted.push(i32::from(counted));
            settle.status.push(status);
            settle.error.push(error);
            settle.next_at.push(next_at);
        }
        settle
    }
}

/// Keeps the rest of the transaction from reading a whole table where an index can serve
/// ([`SettleDeliveries`] says why): `SET LOCAL` ends with the transaction.
const SETTLE_BY_THE_BATCH: &str = "SET LOCAL enable_seqscan = off";

impl SettleDeliveries<'_> {
    /// Records the batch in `tx` (a transaction: the setting it makes ends with it), planned from
    /// the batch; whether each of the `len` attempts it was made from was written, in order.
    pub(crate) async fn run(self, tx: &mut AsyncPgConnection, len: usize) -> QueryResult<Vec<bool>> {
        tx.batch_execute(SETTLE_BY_THE_BATCH).await?;
        let positions: Vec<i32> = self.load(tx).await?;
        Ok(written(len, &positions))
    }
}

/// Whether each of a batch of `len` attempts was written, in its order, from the positions
/// [`SettleDeliveries`] returned.
fn written(len: usize, positions: &[i32]) -> Vec<bool> {
    let mut written = vec![false; len];
    for p in positions {
        if let Some(w) = usize::try_from(*p).ok().and_then(|p| written.get_mut(p)) {
            *w = true;
        }
    }
    written
}

impl QueryId for SettleDeliveries<'_> {
    type QueryId = SettleDeliveries<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for SettleDeliveries<'_> {
    type SqlType = Integer;
}

impl QueryFragment<Pg> for SettleDeliveries<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH u AS MATERIALIZED (SELECT u.position, u.webhook_id, e.seq, u.state, u.counted, u.status, \
             u.error, u.next_at FROM unnest(",
        );
        out.push_bind_param::<Array<Integer>, _>(&self.position)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.webhook)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.event)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.state)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.counted)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(&self.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.error)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(&self.next_at)?;
        out.push_sql(
            ") AS u(position, webhook_id, event_id, state, counted, status, error, next_at) \
             JOIN events e ON e.event_id = u.event_id) \
             UPDATE deliveries SET state = CASE WHEN u.counted = 1 THEN u.state ELSE deliveries.state END, attempts = deliveries.attempts + u.counted, \
             last_status = CASE WHEN u.counted = 1 THEN u.status ELSE deliveries.last_status END, \
             last_error = CASE WHEN u.counted = 1 THEN u.error ELSE deliveries.last_error END, \
             next_at = COALESCE(u.next_at, deliveries.next_at), lease_owner = NULL, lease_until = 0 \
             FROM u WHERE deliveries.webhook_id = u.webhook_id AND deliveries.seq = u.seq AND deliveries.lease_owner = ",
        );
        out.push_bind_param::<Text, _>(&self.owner)?;
        out.push_sql(" RETURNING u.position");
        Ok(())
    }
}
