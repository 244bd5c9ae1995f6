//! The bodies of the lifecycle events' routes (issue 17): webhook endpoints, their deliveries,
//! and the event feed. An endpoint's signing secret is in an answer only when it was just made
//! (registered or rotated); its `Debug` shows none of it.

use std::fmt;

use app::events::{EventPage, EventPayload, RegisteredWebhook, rfc3339};
use domain::EventType;
use ports::{Delivery, Webhook};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, Object, SchemaType, Type};

use crate::ApiError;

fn event_type_schema() -> Object {
    super::string_enum(EventType::ALL.map(EventType::as_str), "A lifecycle event type.")
}

/// A list of event types, or `null` (every type).
fn event_types_schema() -> ArrayBuilder {
    ArrayBuilder::new().schema_type(SchemaType::from_iter([Type::Array, Type::Null])).items(event_type_schema())
}

/// `events` as sent: each an event type, or `422` naming `events`.
fn event_types(names: &[String]) -> Result<Vec<EventType>, ApiError> {
    names
        .iter()
        .map(|name| EventType::parse(name).map_err(|e| ApiError::validation("events", format!("events: {}", e.reason))))
        .collect()
}

/// `POST /assets/webhooks`. A field it does not list is refused, never ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookBody {
    /// Where events are POSTed: an `https` URL with a public address (plain `http` and private
    /// addresses only with `AD_ALLOW_PRIVATE_NETWORKS`).
    #[schema(example = "https://engine.example/hooks/asset-directory")]
    pub url: String,
    /// Only these event types; absent or `null`: every type.
    #[serde(default)]
    #[schema(schema_with = event_types_schema)]
    pub events: Option<Vec<String>>,
}

impl WebhookBody {
    pub(crate) fn events(&self) -> Result<Option<Vec<EventType>>, ApiError> {
        self.events.as_deref().map(event_types).transpose()
    }
}

/// `PATCH /assets/webhooks/{id}`: each field given replaces that part.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookPatch {
    #[serde(default)]
    pub url: Option<String>,
    /// The event types it takes; `null`: every type again.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = event_types_schema)]
    pub events: Option<Option<Vec<String>>>,
    /// `true` enables an endpoint the service disabled (it answered `410 Gone`) or you paused;
    /// `false` pauses it (no delivery is queued for it meanwhile).
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl WebhookPatch {
    pub(crate) fn events(&self) -> Result<Option<Option<Vec<EventType>>>, ApiError> {
        self.events.as_ref().map(|events| events.as_deref().map(event_types).transpose()).transpose()
    }
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookDto {
    #[schema(example = "wh_3kq5x2vn7bq4c6m2ztjh5wq7la")]
    pub id: String,
    pub url: String,
    /// The event types it takes; `null`: every type.
    #[schema(schema_with = event_types_schema, required = true)]
    pub events: Option<Vec<&'static str>>,
    /// Whether deliveries are queued and sent.
    pub enabled: bool,
    /// Why the service disabled it (`410 Gone`); `null` when enabled or paused by you.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation signs too (a second signature).
    #[schema(format = DateTime, required = true)]
    pub previous_secret_expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Webhook> for WebhookDto {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.to_string(),
            url: w.url.clone(),
            events: w.events.as_ref().map(|types| types.iter().map(|t| t.as_str()).collect()),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            previous_secret_expires_at: w.previous_secret.as_ref().map(|(_, until)| rfc3339(*until)),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

/// A webhook endpoint with its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookDto,
    /// The Standard Webhooks signing secret (`whsec_…`): verify each request's
    /// `webhook-signature` with it. Shown once; the service keeps it sealed.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: SecretString,
}

impl WebhookWithSecret {
    /// The answer of a registration or rotation; `None` when the use case made no secret.
    pub(crate) fn new(registered: RegisteredWebhook) -> Option<Self> {
        Some(Self { webhook: WebhookDto::from(&registered.webhook), secret: registered.secret? })
    }
}

fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

impl fmt::Debug for WebhookWithSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookWithSecret").field("webhook", &self.webhook).finish_non_exhaustive()
    }
}

/// A lifecycle event, as the feed lists it and a webhook request carries it.
#[derive(ToSchema)]
#[allow(dead_code)] // documents `app::events::EventPayload`, which is what is serialized
pub(crate) struct EventDoc {
    /// The event's id: the `webhook-id` of its deliveries, the same on every attempt.
    #[schema(example = "evt_2x7kq5vn3bq4c6m2ztjh5wq7la")]
    id: String,
    #[schema(schema_with = event_type_schema)]
    r#type: String,
    #[schema(format = DateTime)]
    created_at: String,
    data: EventDataDoc,
}

/// The connection an event is about.
#[derive(ToSchema)]
#[allow(dead_code)] // documents `app::events::EventData`
pub(crate) struct EventDataDoc {
    ref_id: String,
    server_name: String,
    user_id: String,
    /// Where the connection stands now: its status, or `disconnected`.
    #[schema(example = "expired")]
    status: String,
    /// Where it stood before; `null` for a connection made by this event.
    #[schema(required = true)]
    previous_status: Option<String>,
    /// Why, in a fixed word (docs/events.md lists them); never a provider's own text.
    #[schema(example = "invalid_grant")]
    reason_code: String,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventPageDto {
    /// The events after the cursor, oldest first.
    #[schema(value_type = Vec<EventDoc>)]
    pub events: Vec<EventPayload>,
    /// Where the next read starts (`after=`): the last event listed, or the cursor you sent when
    /// none was.
    pub next_cursor: String,
}

impl EventPageDto {
    pub(crate) fn new(page: &EventPage) -> Self {
        Self {
            events: page.events.iter().map(EventPayload::from).collect(),
            next_cursor: crate::paging::event_cursor(page.cursor),
        }
    }
}

/// One event's delivery to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryDto {
    /// The delivery's id: its event's.
    pub id: String,
    #[schema(value_type = EventDoc)]
    pub event: EventPayload,
    /// `pending` (waiting for its next attempt, or for an earlier event of its connection),
    /// `delivered` or `failed` (given up; retry it by hand).
    #[schema(example = "delivered")]
    pub state: &'static str,
    pub attempts: u32,
    /// The status the receiver answered last; `null` before an answer.
    #[schema(required = true)]
    pub last_status_code: Option<u16>,
    /// What went wrong last, in fixed words.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// When a pending delivery is tried next.
    #[schema(format = DateTime, required = true)]
    pub next_attempt_at: Option<String>,
}

impl From<&Delivery> for DeliveryDto {
    fn from(d: &Delivery) -> Self {
        let pending = d.state == ports::DeliveryState::Pending;
        Self {
            id: d.event.id.to_string(),
            event: EventPayload::from(&d.event),
            state: d.state.as_str(),
            attempts: d.attempts,
            last_status_code: d.last_status,
            last_error: d.last_error.clone(),
            next_attempt_at: d.next_attempt_at.filter(|_| pending).map(rfc3339),
        }
    }
}
