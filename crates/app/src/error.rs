use domain::ConnectionStatus;
use ports::{BoxError, CipherError, StoreError};

/// Every way a use case can fail. Each variant maps to one stable error code of the contract
/// (spec §2.2); the HTTP layer does that mapping and nothing else.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `VALIDATION_ERROR`: a well-formed request with a value the service does not accept.
    #[error("{field}: {message}")]
    Validation { field: &'static str, message: String },
    /// `INVALID_REQUEST`: a required part of the request is missing.
    #[error("{0}")]
    InvalidRequest(String),
    /// `SERVER_NOT_FOUND`. The message does not repeat the name: no message repeats a value
    /// from the request.
    #[error("no server by that name in the catalog")]
    ServerNotFound,
    /// `CONNECTION_NOT_FOUND`.
    #[error("no such connection")]
    ConnectionNotFound,
    /// `WEBHOOK_NOT_FOUND`: no webhook endpoint by that id for this tenant (issue 17).
    #[error("no such webhook endpoint")]
    WebhookNotFound,
    /// `DELIVERY_NOT_FOUND`: no settled delivery of that event to that endpoint.
    #[error("no delivered or failed delivery of that event to this endpoint")]
    DeliveryNotFound,
    /// `INVALID_STATE`: the OAuth `state` is unknown, expired or already used.
    #[error("the authorization state is unknown, expired or already used")]
    InvalidState,
    /// `ISSUER_MISMATCH` (RFC 9207).
    #[error("the authorization response did not come from the expected issuer")]
    IssuerMismatch,
    /// `OAUTH_ACCESS_DENIED`: the user (or the provider) refused the authorization.
    #[error("access was not granted: the user or the authorization server refused (access_denied)")]
    AccessDenied,
    /// `CONNECTION_NOT_READY`.
    #[error("the connection is {0}, not connected")]
    NotReady(ConnectionStatus),
    /// `RECONNECT_IN_PROGRESS`: a reconnect of a connection whose authorization is already
    /// under way, or that another reconnect changed meanwhile; it is now in this status.
    #[error("another authorization of this connection got there first; it is {0} now")]
    ReconnectInProgress(ConnectionStatus),
    /// `MCP_TOKEN_EXPIRED`: refresh failed for good; the user has to reconnect.
    #[error("the connection's authorization has expired; reconnect with /assets/connect")]
    TokenExpired,
    /// `MCP_CONNECTION_FAILED`: an authorization server or MCP server failed; `step` names where.
    #[error("{step} failed: {message}")]
    Provider { step: &'static str, message: String },
    /// `INSUFFICIENT_SCOPE`: the MCP server asks for scopes the connection's token lacks (a
    /// scope challenge); `reauthorize` says whether asking the user again is still offered.
    #[error("the MCP server needs scopes the connection was not granted")]
    InsufficientScope { ref_id: domain::RefId, required: domain::Scopes, reauthorize: bool },
    /// `STEP_UP_LIMIT`: the MCP server asked for more scopes too many times in a row.
    #[error("the MCP server asked for more scopes {0} times in a row; connect it anew")]
    StepUpLimit(u32),
    /// `MCP_UPSTREAM_TIMEOUT`: the MCP server did not answer in time (the message names its host).
    #[error("{0}")]
    UpstreamTimeout(String),
    /// `SERVICE_UNAVAILABLE`.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// `INTERNAL`: a bug or corrupt data; logged with its chain, shown opaque.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl Error {
    pub(crate) fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation { field, message: message.into() }
    }

    /// The catalog entry the request names cannot be connected to, for `reason` (the operator's
    /// to fix, e.g. a client secret not configured).
    pub(crate) fn server_unavailable(reason: &str) -> Self {
        Self::validation("server_name", format!("the server is unavailable: {reason}"))
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(source) => Self::Unavailable(source),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<CipherError> for Error {
    fn from(e: CipherError) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<domain::ParseError> for Error {
    fn from(e: domain::ParseError) -> Self {
        Self::Validation { field: e.field, message: e.reason }
    }
}
