//! The `events` table: lifecycle events, written by the trigger on `audit_events` (never by a
//! store call), the feed's query over them, and their pruning.

use diesel::dsl::{AsExprOf, auto_type};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use domain::{
    EventId, EventType, Owner, ParseError, ReasonCode, RefId, ServerName, Standing, TenantId, Timestamp, UserId,
};
use ports::{EventQuery, LifecycleEvent, StoreError};

use crate::corrupt;
use crate::schema::{deliveries, events, webhooks};

columns! {
    /// The columns of an [`EventRow`], in its order.
    EventColumns, EVENT = events(
        seq, event_id, tenant_id, user_id, ref_id, server_name, event_type, standing, previous, reason, created_at,
    )
}

/// One lifecycle event as stored.
#[derive(Debug, Queryable)]
pub struct EventRow {
    seq: i64,
    event_id: String,
    tenant_id: String,
    user_id: String,
    ref_id: String,
    server_name: String,
    event_type: String,
    standing: String,
    previous: Option<String>,
    reason: String,
    created_at: i64,
}

fn standing(field: &'static str, value: &str) -> Result<Standing, ParseError> {
    Standing::parse(value).ok_or_else(|| ParseError::new(field, "is not a standing"))
}

impl EventRow {
    /// The event's `seq`.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    pub fn into_domain(self) -> Result<LifecycleEvent, StoreError> {
        self.decode().map_err(|e| corrupt("events", &self.event_id, e))
    }

    fn decode(&self) -> Result<LifecycleEvent, ParseError> {
        Ok(LifecycleEvent {
            seq: self.seq,
            id: EventId::parse(&self.event_id)?,
            kind: EventType::parse(&self.event_type)?,
            at: Timestamp::from_unix(self.created_at),
            ref_id: RefId::parse(&self.ref_id)?,
            server_name: ServerName::parse(&self.server_name)?,
            owner: Owner::new(TenantId::parse(&self.tenant_id)?, UserId::parse(&self.user_id)?),
            standing: standing("standing", &self.standing)?,
            previous: self.previous.as_deref().map(|p| standing("previous", p)).transpose()?,
            reason: ReasonCode::parse(&self.reason).ok_or_else(|| ParseError::new("reason", "is not a reason code"))?,
        })
    }
}

/// The query's events in `seq` order: the tenant's (one user's when it names one) after its
/// cursor's `seq`, at most its limit. For a store with one writer, whose `seq` order is its
/// commit order; PostgreSQL's feed is its own statement (`postgres-adapter`).
#[auto_type]
pub fn feed(query: &EventQuery) -> _ {
    let tenant: String = query.tenant.as_str().to_owned();
    let user: String = query.user.as_ref().map_or_else(String::new, |u| u.as_str().to_owned());
    let every_user: AsExprOf<bool, Bool> = query.user.is_none().into_sql::<Bool>();
    let after: i64 = query.after.seq;
    let limit: i64 = i64::from(query.limit);
    let columns: EventColumns = EVENT;
    events::table
        .filter(events::tenant_id.eq(tenant))
        .filter(events::user_id.eq(user).or(every_user))
        .filter(events::seq.gt(after))
        .order(events::seq.asc())
        .limit(limit)
        .select(columns)
}

/// Up to `limit` events recorded before `before` that no pending delivery waits on, oldest
/// first: their `seq`.
#[auto_type]
pub fn prunable(before: Timestamp, limit: u32) -> _ {
    let before: i64 = before.unix();
    let limit: i64 = i64::from(limit);
    let settled: settled = settled();
    events::table
        .filter(events::created_at.lt(before))
        .filter(settled)
        .order(events::seq.asc())
        .limit(limit)
        .select(events::seq)
}

/// No pending delivery to an endpoint that still exists waits on the event (one to a deleted
/// endpoint is never sent: see the migration).
#[auto_type]
fn settled() -> _ {
    let pending: &'static str = ports::DeliveryState::Pending.as_str();
    let endpoints = webhooks::table.select(webhooks::id);
    let waited_on = deliveries::table
        .filter(deliveries::state.eq(pending))
        .filter(deliveries::webhook_id.eq_any(endpoints))
        .select(deliveries::seq);
    events::seq.ne_all(waited_on)
}

/// `DELETE` the events `seqs` ([`prunable()`]'s) that no pending delivery waits on by now (a
/// manual retry may have made one pending since); their deliveries go with them (`ON DELETE
/// CASCADE`): settled ones, and pending ones to deleted endpoints.
#[auto_type]
pub fn prune(seqs: Vec<i64>) -> _ {
    let settled: settled = settled();
    diesel::dsl::delete(events::table.filter(events::seq.eq_any(seqs)).filter(settled))
}

/// The `seq` of the event `id`, as a subquery.
#[auto_type]
pub fn seq_of(id: &EventId) -> _ {
    let id: String = id.as_str().to_owned();
    events::table.filter(events::event_id.eq(id)).select(events::seq)
}
