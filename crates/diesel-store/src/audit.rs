//! The `audit_events` table: append-only, its id (the database's) orders a connection's events.

use diesel::dsl::{And, Asc, Eq, Filter, Order, Select, Values};
use diesel::prelude::*;
use domain::{EventId, EventType, Owner, ParseError, ReasonCode, RefId, ServerName, Standing, Timestamp};
use ports::{AuditEvent, AuditKind, Notice, StoreError};

use crate::corrupt;
use crate::schema::audit_events;

columns! {
    /// The columns of an [`AuditRow`], in its order.
    AuditColumns, AUDIT = audit_events(
        ref_id, tenant_id, user_id, server_name, kind, detail, at,
        event_id, event_type, event_standing, event_previous, event_reason
    )
}

/// One audit event as stored.
#[derive(Debug, Queryable)]
pub struct AuditRow {
    ref_id: String,
    tenant_id: String,
    user_id: String,
    server_name: String,
    kind: String,
    detail: Option<String>,
    at: i64,
    event_id: Option<String>,
    event_type: Option<String>,
    event_standing: Option<String>,
    event_previous: Option<String>,
    event_reason: Option<String>,
}

impl AuditRow {
    pub fn into_domain(self) -> Result<AuditEvent, StoreError> {
        let corrupt = |e: ParseError| corrupt("audit_events", &self.ref_id, e);
        Ok(AuditEvent {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            owner: crate::connections::owner(&self.tenant_id, &self.user_id).map_err(corrupt)?,
            server_name: ServerName::parse(&self.server_name).map_err(corrupt)?,
            kind: AuditKind::parse(&self.kind)
                .ok_or_else(|| corrupt(ParseError::new("kind", "is not an audit event kind")))?,
            detail: self.detail.clone(),
            at: Timestamp::from_unix(self.at),
            notice: self.notice().map_err(corrupt)?,
        })
    }

    /// The lifecycle event the row announced, if any.
    fn notice(&self) -> Result<Option<Notice>, ParseError> {
        let Some(id) = &self.event_id else { return Ok(None) };
        let standing = |field, value: &Option<String>| {
            value.as_deref().and_then(Standing::parse).ok_or_else(|| ParseError::new(field, "is not a standing"))
        };
        Ok(Some(Notice {
            id: EventId::parse(id)?,
            kind: EventType::parse(self.event_type.as_deref().unwrap_or_default())?,
            standing: standing("event_standing", &self.event_standing)?,
            previous: self
                .event_previous
                .is_some()
                .then(|| standing("event_previous", &self.event_previous))
                .transpose()?,
            reason: self
                .event_reason
                .as_deref()
                .and_then(ReasonCode::parse)
                .ok_or_else(|| ParseError::new("event_reason", "is not a reason code"))?,
        }))
    }
}

/// A new audit event. `None` is inserted as `NULL`, so the insert's text never varies.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct NewAuditRow<'a> {
    pub ref_id: &'a str,
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub server_name: &'a str,
    pub kind: &'static str,
    pub detail: Option<&'a str>,
    pub at: i64,
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'static str>,
    pub event_standing: Option<&'static str>,
    pub event_previous: Option<&'static str>,
    pub event_reason: Option<&'static str>,
}

impl<'a> NewAuditRow<'a> {
    pub fn new(e: &'a AuditEvent) -> Self {
        Self {
            ref_id: e.ref_id.as_str(),
            tenant_id: e.owner.tenant.as_str(),
            user_id: e.owner.user.as_str(),
            server_name: e.server_name.as_str(),
            kind: e.kind.as_str(),
            detail: e.detail.as_deref(),
            at: e.at.unix(),
            event_id: e.notice.as_ref().map(|n| n.id.as_str()),
            event_type: e.notice.as_ref().map(|n| n.kind.as_str()),
            event_standing: e.notice.as_ref().map(|n| n.standing.as_str()),
            event_previous: e.notice.as_ref().and_then(|n| n.previous.map(Standing::as_str)),
            event_reason: e.notice.as_ref().map(|n| n.reason.as_str()),
        }
    }
}

/// `INSERT` an event.
pub fn insert<'a>(
    row: &'a NewAuditRow<'a>,
) -> Values<diesel::dsl::insert_into<audit_events::table>, &'a NewAuditRow<'a>> {
    diesel::insert_into(audit_events::table).values(row)
}

/// The type of [`of_connection`].
pub type OfConnection<'a> = Select<
    Order<
        Filter<
            audit_events::table,
            And<
                Eq<audit_events::ref_id, &'a str>,
                And<Eq<audit_events::tenant_id, &'a str>, Eq<audit_events::user_id, &'a str>>,
            >,
        >,
        Asc<audit_events::id>,
    >,
    AuditColumns,
>;

/// The events of `owner`'s connection `ref_id`, in recording order.
pub fn of_connection<'a>(owner: &'a Owner, ref_id: &'a str) -> OfConnection<'a> {
    let owned = audit_events::tenant_id.eq(owner.tenant.as_str()).and(audit_events::user_id.eq(owner.user.as_str()));
    audit_events::table.filter(audit_events::ref_id.eq(ref_id).and(owned)).order(audit_events::id.asc()).select(AUDIT)
}
