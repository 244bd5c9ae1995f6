//! The `webhooks` table: each tenant's endpoints with their sealed signing secrets, and the
//! queries of `EventStore` over them. An endpoint's filter is stored as its types each between
//! spaces (` a b `), which the trigger on `events` matches a type against; NULL takes every type.

use std::fmt;

use diesel::dsl::auto_type;
use diesel::prelude::*;
use domain::{EventType, ParseError, TenantId, Timestamp, WebhookId};
use ports::{AttemptOutcome, Sealed, SecretRotation, StoreError, Webhook, WebhookUpdate};

use crate::corrupt;
use crate::schema::webhooks;

columns! {
    /// The columns of a [`WebhookRow`], in its order.
    WebhookColumns, WEBHOOK = webhooks(
        id, tenant_id, url, events, secret, previous_secret, previous_until, enabled, disabled_reason, created_at,
        updated_at,
    )
}

/// An endpoint row. `None` is inserted as `NULL`, so the insert's text never varies.
#[derive(Queryable, Insertable)]
#[diesel(table_name = webhooks, treat_none_as_default_value = false)]
pub struct WebhookRow {
    id: String,
    tenant_id: String,
    url: String,
    events: Option<String>,
    secret: Vec<u8>,
    previous_secret: Option<Vec<u8>>,
    previous_until: Option<i64>,
    enabled: bool,
    disabled_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl fmt::Debug for WebhookRow {
    /// Names the endpoint, never its secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRow").field("id", &self.id).field("tenant_id", &self.tenant_id).finish_non_exhaustive()
    }
}

/// The filter as stored: `None` for every type, else each type between spaces.
pub fn filter_text(events: Option<&[EventType]>) -> Option<String> {
    events.map(|types| format!(" {} ", types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" ")))
}

impl WebhookRow {
    pub fn new(w: &Webhook) -> Self {
        let (previous_secret, previous_until) = match &w.previous_secret {
            Some((sealed, until)) => (Some(sealed.0.clone()), Some(until.unix())),
            None => (None, None),
        };
        Self {
            id: w.id.as_str().to_owned(),
            tenant_id: w.tenant.as_str().to_owned(),
            url: w.url.clone(),
            events: filter_text(w.events.as_deref()),
            secret: w.secret.0.clone(),
            previous_secret,
            previous_until,
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            created_at: w.created_at.unix(),
            updated_at: w.updated_at.unix(),
        }
    }

    pub fn into_domain(self) -> Result<Webhook, StoreError> {
        let bad = |e| corrupt("webhooks", &self.id, e);
        let events = match &self.events {
            Some(text) => {
                Some(text.split_whitespace().map(EventType::parse).collect::<Result<Vec<_>, _>>().map_err(bad)?)
            }
            None => None,
        };
        let previous_secret = match (self.previous_secret, self.previous_until) {
            (Some(sealed), Some(until)) => Some((Sealed(sealed), Timestamp::from_unix(until))),
            (None, None) => None,
            _ => return Err(bad(ParseError::new("previous_until", "is set without its secret, or missing"))),
        };
        Ok(Webhook {
            id: WebhookId::parse(&self.id).map_err(bad)?,
            tenant: TenantId::parse(&self.tenant_id).map_err(bad)?,
            url: self.url,
            events,
            secret: Sealed(self.secret),
            previous_secret,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            created_at: Timestamp::from_unix(self.created_at),
            updated_at: Timestamp::from_unix(self.updated_at),
        })
    }
}

/// `INSERT` an endpoint.
pub fn insert(row: &WebhookRow) -> diesel::dsl::Values<diesel::dsl::insert_into<webhooks::table>, &WebhookRow> {
    diesel::insert_into(webhooks::table).values(row)
}

/// The endpoints of `tenant`: `id` alone, or all.
#[auto_type]
fn of_tenant(tenant: &TenantId) -> _ {
    let tenant: String = tenant.as_str().to_owned();
    webhooks::table.filter(webhooks::tenant_id.eq(tenant))
}

/// `tenant`'s endpoint `id`.
#[auto_type]
pub fn find(tenant: &TenantId, id: &WebhookId) -> _ {
    let id: String = id.as_str().to_owned();
    let mine: of_tenant = of_tenant(tenant);
    let columns: WebhookColumns = WEBHOOK;
    mine.filter(webhooks::id.eq(id)).select(columns)
}

/// `tenant`'s endpoints, oldest first.
#[auto_type]
pub fn all_of(tenant: &TenantId) -> _ {
    let mine: of_tenant = of_tenant(tenant);
    let columns: WebhookColumns = WEBHOOK;
    mine.order((webhooks::created_at.asc(), webhooks::id.asc())).select(columns)
}

/// What [`update()`] writes: each `Some` column, and `updated_at`.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    url: Option<String>,
    events: Option<Option<String>>,
    enabled: Option<bool>,
    disabled_reason: Option<Option<String>>,
    updated_at: i64,
}

impl WebhookChanges {
    pub fn new(update: &WebhookUpdate) -> Self {
        Self {
            url: update.url.clone(),
            events: update.events.as_ref().map(|events| filter_text(events.as_deref())),
            enabled: update.enabled,
            // Enabling or pausing by hand forgets why the service disabled it.
            disabled_reason: update.enabled.map(|_| None),
            updated_at: update.at.unix(),
        }
    }
}

/// `UPDATE` `tenant`'s endpoint `id` with `changes` only: a column it leaves out keeps what a
/// concurrent write put there.
#[auto_type]
pub fn update(tenant: &TenantId, id: &WebhookId, changes: WebhookChanges) -> _ {
    let id: String = id.as_str().to_owned();
    let mine: of_tenant = of_tenant(tenant);
    diesel::dsl::update(mine.filter(webhooks::id.eq(id))).set(changes)
}

/// `UPDATE` `tenant`'s endpoint `id` with `rotation`'s secrets, if its secret is still
/// `rotation.expected`, byte for byte.
#[auto_type]
pub fn rotate(tenant: &TenantId, id: &WebhookId, rotation: &SecretRotation) -> _ {
    let id: String = id.as_str().to_owned();
    let expected: Vec<u8> = rotation.expected.0.clone();
    let secret: Vec<u8> = rotation.secret.0.clone();
    let previous: Vec<u8> = rotation.previous.0.0.clone();
    let until: i64 = rotation.previous.1.unix();
    let at: i64 = rotation.at.unix();
    let mine: of_tenant = of_tenant(tenant);
    diesel::dsl::update(mine.filter(webhooks::id.eq(id)).filter(webhooks::secret.eq(expected))).set((
        webhooks::secret.eq(secret),
        webhooks::previous_secret.eq(previous),
        webhooks::previous_until.eq(until),
        webhooks::updated_at.eq(at),
    ))
}

/// `DELETE` `tenant`'s endpoint `id`; when it did, its deliveries go in the same transaction
/// ([`crate::deliveries::of_endpoint()`]: no foreign key does it, see the migration).
#[auto_type]
pub fn delete(tenant: &TenantId, id: &WebhookId) -> _ {
    let id: String = id.as_str().to_owned();
    let mine: of_tenant = of_tenant(tenant);
    diesel::dsl::delete(mine.filter(webhooks::id.eq(id)))
}

/// Disables the endpoint `id` because it answered `410 Gone` at `at`.
#[auto_type]
pub fn disable_gone(id: &WebhookId, at: Timestamp) -> _ {
    let id: String = id.as_str().to_owned();
    let at: i64 = at.unix();
    let reason: &'static str = AttemptOutcome::GONE_REASON;
    let false_: bool = false;
    diesel::dsl::update(webhooks::table.filter(webhooks::id.eq(id))).set((
        webhooks::enabled.eq(false_),
        webhooks::disabled_reason.eq(reason),
        webhooks::updated_at.eq(at),
    ))
}
