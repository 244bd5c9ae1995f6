use async_trait::async_trait;
use domain::{Owner, RefId, ServerName, Timestamp};

use crate::{Notice, StoreError};

/// What happened to a connection. Never carries a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Created,
    Connected,
    Failed,
    Refreshed,
    RefreshFailed,
    Expired,
    /// An `expired` or `failed` OAuth connection went back to `pending_oauth` to be authorized
    /// again in place.
    Reauthorized,
    Revoked,
    RevocationFailed,
    Disconnected,
    /// The authorization server refused the service's Client ID Metadata Document client for
    /// this connection: later connects register a client instead (issue 18 §2).
    RegistrationFallback,
    /// The authorization server no longer knows the client this connection used: it is
    /// forgotten, and the next connect registers a new one.
    ClientForgotten,
    /// A connected connection's user was asked to grant more scopes (a scope challenge of its
    /// MCP server, issue 16); its token keeps serving until the callback replaces it.
    StepUp,
}

impl AuditKind {
    pub const ALL: [AuditKind; 13] = [
        Self::Created,
        Self::Connected,
        Self::Failed,
        Self::Refreshed,
        Self::RefreshFailed,
        Self::Expired,
        Self::Reauthorized,
        Self::Revoked,
        Self::RevocationFailed,
        Self::Disconnected,
        Self::RegistrationFallback,
        Self::ClientForgotten,
        Self::StepUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Connected => "connected",
            Self::Failed => "failed",
            Self::Refreshed => "refreshed",
            Self::RefreshFailed => "refresh_failed",
            Self::Expired => "expired",
            Self::Reauthorized => "reauthorized",
            Self::Revoked => "revoked",
            Self::RevocationFailed => "revocation_failed",
            Self::Disconnected => "disconnected",
            Self::RegistrationFallback => "registration_fallback",
            Self::ClientForgotten => "client_forgotten",
            Self::StepUp => "step_up",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == input)
    }
}

/// One line of a connection's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub ref_id: RefId,
    /// The owner of the connection it describes.
    pub owner: Owner,
    pub server_name: ServerName,
    pub kind: AuditKind,
    /// A status reason, or a provider's own words (cleaned and cut short by the app), never a
    /// token.
    pub detail: Option<String>,
    pub at: Timestamp,
    /// The lifecycle event this change announces to the engine, written with it (issue 17).
    pub notice: Option<Notice>,
}

/// The append-only audit log (spec §7). Events outlive the connection they describe.
///
/// An event that describes a change of a connection is recorded by the `ConnectionStore` write
/// that makes the change; [`AuditLog::record`] is for what changes no row: an outcome at the
/// provider (a revocation, a failed refresh).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The events of `owner`'s connection `ref_id`, oldest first (none for another owner's).
    async fn events(&self, owner: &Owner, ref_id: &RefId) -> Result<Vec<AuditEvent>, StoreError>;
}
