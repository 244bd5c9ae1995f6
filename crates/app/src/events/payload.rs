//! The one JSON form of an event: an item of the feed and the body of a webhook request are the
//! same bytes' worth of fields, so a receiver can switch between them.

use bytes::Bytes;
use domain::Timestamp;
use ports::LifecycleEvent;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `{"id","type","created_at","data":{…}}` (issue 17). Never a secret, a token or a provider's
/// own words: the reason is a fixed code.
#[derive(Debug, Clone, Serialize)]
pub struct EventPayload {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub created_at: String,
    pub data: EventData,
}

/// The connection an event is about.
#[derive(Debug, Clone, Serialize)]
pub struct EventData {
    pub ref_id: String,
    pub server_name: String,
    pub user_id: String,
    pub status: &'static str,
    pub previous_status: Option<&'static str>,
    pub reason_code: &'static str,
}

impl From<&LifecycleEvent> for EventPayload {
    fn from(e: &LifecycleEvent) -> Self {
        Self {
            id: e.id.to_string(),
            kind: e.kind.as_str(),
            created_at: rfc3339(e.at),
            data: EventData {
                ref_id: e.ref_id.to_string(),
                server_name: e.server_name.to_string(),
                user_id: e.owner.user.as_str().to_owned(),
                status: e.standing.as_str(),
                previous_status: e.previous.map(|p| p.as_str()),
                reason_code: e.reason.as_str(),
            },
        }
    }
}

impl EventPayload {
    /// The webhook body.
    pub(crate) fn body(&self) -> Bytes {
        // Strings and options only: serializing cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// RFC 3339 UTC, e.g. `2026-05-27T10:00:00Z`: how every instant leaves the service.
pub fn rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t.unix())
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.unix().to_string())
}
