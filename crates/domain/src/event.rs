//! Lifecycle events: what the engine is told when a connection changes (issue 17), and the ids
//! of the events and of the webhook endpoints they are delivered to.

use std::fmt;

use crate::ids::{parse_random_id, random_id};
use crate::{ConnectionStatus, ParseError};

/// What happened to a connection, as the engine subscribes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// The connection can be used: a consent completed, or a key or a grant with no browser.
    Connected,
    /// The authorization did not complete (refused consent, a bad callback).
    Failed,
    /// The connection's credential is gone for good: the user must reconnect.
    Expired,
    /// Refreshes keep failing for reasons that may pass (the provider is down).
    RefreshFailing,
    /// A refresh succeeded after `RefreshFailing`.
    Recovered,
    /// The MCP server wants scopes the connection lacks: the user must consent again.
    ReauthorizationRequired,
    /// The connection was removed.
    Disconnected,
    /// The provider could not be told to revoke the removed connection's tokens.
    RevocationFailed,
}

impl EventType {
    pub const ALL: [Self; 8] = [
        Self::Connected,
        Self::Failed,
        Self::Expired,
        Self::RefreshFailing,
        Self::Recovered,
        Self::ReauthorizationRequired,
        Self::Disconnected,
        Self::RevocationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connection.connected",
            Self::Failed => "connection.failed",
            Self::Expired => "connection.expired",
            Self::RefreshFailing => "connection.refresh_failing",
            Self::Recovered => "connection.recovered",
            Self::ReauthorizationRequired => "connection.reauthorization_required",
            Self::Disconnected => "connection.disconnected",
            Self::RevocationFailed => "connection.revocation_failed",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|t| t.as_str() == input).ok_or_else(|| {
            ParseError::new("events", "must name event types such as `connection.expired` (docs/events.md)")
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a connection stands after an event: its status, or `disconnected` once it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Status(ConnectionStatus),
    Disconnected,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status(status) => status.as_str(),
            Self::Disconnected => "disconnected",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "disconnected" => Some(Self::Disconnected),
            other => ConnectionStatus::parse(other).map(Self::Status),
        }
    }
}

impl From<ConnectionStatus> for Standing {
    fn from(status: ConnectionStatus) -> Self {
        Self::Status(status)
    }
}

/// Why an event happened, in a word that never changes and never carries a provider's own text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonCode {
    /// A consent completed at the provider.
    Authorized,
    /// Connected with no browser: an API key, no auth, or a grant the service makes itself.
    Provisioned,
    /// The user added scopes to a connected connection (step-up) and it serves with them now.
    ScopesGranted,
    /// The user or the provider refused the consent (`access_denied` and its kin).
    ConsentDenied,
    /// The callback could not be completed (a bad or late callback, a failed code exchange).
    AuthorizationFailed,
    /// The authorization server refused the refresh token (`invalid_grant`).
    InvalidGrant,
    /// The authorization server no longer grants this client tokens.
    ClientRejected,
    /// The token ran out and there was nothing to renew it with.
    NoRefreshToken,
    /// The MCP server refused the token even after a refresh.
    TokenRejected,
    /// The authorization server failed in a way that may pass (down, 5xx, timeouts).
    ProviderUnavailable,
    /// A refresh succeeded again.
    Refreshed,
    /// The MCP server asked for scopes the connection does not hold.
    InsufficientScope,
    /// The engine removed the connection.
    UserDisconnected,
    /// The engine forgot the connection's user, and every connection of theirs with them.
    UserForgotten,
    /// The revocation endpoint failed or could not be reached.
    RevocationFailed,
}

impl ReasonCode {
    pub const ALL: [Self; 15] = [
        Self::Authorized,
        Self::Provisioned,
        Self::ScopesGranted,
        Self::ConsentDenied,
        Self::AuthorizationFailed,
        Self::InvalidGrant,
        Self::ClientRejected,
        Self::NoRefreshToken,
        Self::TokenRejected,
        Self::ProviderUnavailable,
        Self::Refreshed,
        Self::InsufficientScope,
        Self::UserDisconnected,
        Self::UserForgotten,
        Self::RevocationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Provisioned => "provisioned",
            Self::ScopesGranted => "scopes_granted",
            Self::ConsentDenied => "consent_denied",
            Self::AuthorizationFailed => "authorization_failed",
            Self::InvalidGrant => "invalid_grant",
            Self::ClientRejected => "client_rejected",
            Self::NoRefreshToken => "no_refresh_token",
            Self::TokenRejected => "token_rejected",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::Refreshed => "refreshed",
            Self::InsufficientScope => "insufficient_scope",
            Self::UserDisconnected => "user_disconnected",
            Self::UserForgotten => "user_forgotten",
            Self::RevocationFailed => "revocation_failed",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == input)
    }
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $field:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Built from 16 random bytes (the id source's job is to make them unpredictable).
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self(random_id(Self::PREFIX, bytes))
            }

            pub fn parse(input: &str) -> Result<Self, ParseError> {
                parse_random_id(input, Self::PREFIX, $field, $what).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

random_id!(
    /// An event's id (`evt_` + 26 base32 characters): the Standard Webhooks `webhook-id`, the
    /// same on every delivery attempt of the event, and the id of its delivery to an endpoint.
    EventId,
    "evt_",
    "event_id",
    "is not an event id"
);

random_id!(
    /// A webhook endpoint's id (`wh_` + 26 base32 characters).
    WebhookId,
    "wh_",
    "webhook_id",
    "is not a webhook id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_reads_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
        }
        assert!(EventType::parse("connection.created").is_err());
    }

    #[test]
    fn every_reason_code_and_standing_reads_back_from_its_word() {
        for r in ReasonCode::ALL {
            assert_eq!(ReasonCode::parse(r.as_str()), Some(r));
        }
        for s in ConnectionStatus::ALL.map(Standing::from).into_iter().chain([Standing::Disconnected]) {
            assert_eq!(Standing::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn event_and_webhook_ids_parse_only_their_own_prefix() {
        let event = EventId::from_random([7; 16]);
        let webhook = WebhookId::from_random([7; 16]);
        assert_eq!(EventId::parse(event.as_str()), Ok(event.clone()));
        assert_eq!(WebhookId::parse(webhook.as_str()), Ok(webhook.clone()));
        assert!(EventId::parse(webhook.as_str()).is_err());
        assert!(WebhookId::parse(event.as_str()).is_err());
        assert!(EventId::parse("evt_../../x").is_err());
    }
}
