//! The contract's stable error codes (spec §2.2), each with its one HTTP status. Clients route
//! on the code; the OpenAPI document lists them from [`ErrorCode::ALL`], so it cannot miss one.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use serde::{Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// A stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidKey,
    KeyRotationPending,
    InvalidRequest,
    ValidationError,
    ServerNotFound,
    ConnectionNotFound,
    WebhookNotFound,
    DeliveryNotFound,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestTimeout,
    InvalidState,
    IssuerMismatch,
    OAuthAccessDenied,
    ConnectionNotReady,
    ReconnectInProgress,
    McpConnectionFailed,
    McpTokenExpired,
    InsufficientScope,
    StepUpLimit,
    McpUpstreamTimeout,
    ServiceUnavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [Self; 24] = [
        Self::InvalidKey,
        Self::KeyRotationPending,
        Self::InvalidRequest,
        Self::ValidationError,
        Self::ServerNotFound,
        Self::ConnectionNotFound,
        Self::WebhookNotFound,
        Self::DeliveryNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::RequestTimeout,
        Self::InvalidState,
        Self::IssuerMismatch,
        Self::OAuthAccessDenied,
        Self::ConnectionNotReady,
        Self::ReconnectInProgress,
        Self::McpConnectionFailed,
        Self::McpTokenExpired,
        Self::InsufficientScope,
        Self::StepUpLimit,
        Self::McpUpstreamTimeout,
        Self::ServiceUnavailable,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        self.spec().0
    }

    /// The status every answer with this code has.
    pub fn status(self) -> StatusCode {
        StatusCode::from_u16(self.spec().1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// When the service answers it, for people.
    pub fn meaning(self) -> &'static str {
        self.spec().2
    }

    fn spec(self) -> (&'static str, u16, &'static str) {
        match self {
            Self::InvalidKey => ("INVALID_KEY", 401, "`X-Engine-Key` missing, wrong or sent more than once"),
            Self::KeyRotationPending => (
                "KEY_ROTATION_PENDING",
                401,
                "the previous key after its grace period, inside the overlap window: retry with the new key",
            ),
            Self::InvalidRequest => {
                ("INVALID_REQUEST", 400, "malformed JSON or query, wrong content type, missing field")
            }
            Self::ValidationError => {
                ("VALIDATION_ERROR", 422, "a well-formed but invalid value; `details.field` names it")
            }
            Self::ServerNotFound => ("SERVER_NOT_FOUND", 404, "unknown `server_name` without a custom `url`"),
            Self::ConnectionNotFound => ("CONNECTION_NOT_FOUND", 404, "unknown or malformed `ref_id`"),
            Self::WebhookNotFound => ("WEBHOOK_NOT_FOUND", 404, "unknown or malformed webhook endpoint id"),
            Self::DeliveryNotFound => {
                ("DELIVERY_NOT_FOUND", 404, "no delivered or failed delivery of that event to the endpoint")
            }
            Self::NotFound => ("NOT_FOUND", 404, "no such route"),
            Self::MethodNotAllowed => ("METHOD_NOT_ALLOWED", 405, "the route exists, the method does not"),
            Self::PayloadTooLarge => ("PAYLOAD_TOO_LARGE", 413, "a body over 64 KiB"),
            Self::RequestTimeout => (
                "REQUEST_TIMEOUT",
                408,
                "the body did not arrive within `REQUEST_BODY_TIMEOUT_SECONDS`; the connection is closed",
            ),
            Self::InvalidState => ("INVALID_STATE", 400, "OAuth `state` unknown, expired or already used"),
            Self::IssuerMismatch => ("ISSUER_MISMATCH", 400, "the RFC 9207 `iss` check failed"),
            Self::OAuthAccessDenied => ("OAUTH_ACCESS_DENIED", 400, "the provider returned `error=` on the callback"),
            Self::ConnectionNotReady => (
                "CONNECTION_NOT_READY",
                409,
                "credentials of a `pending_oauth` or `failed` connection; `details.status` gives it",
            ),
            Self::ReconnectInProgress => (
                "RECONNECT_IN_PROGRESS",
                409,
                "a reconnect (`server_config.ref_id`) of a connection whose authorization is under way, or that \
                 another reconnect changed meanwhile; `details.status` gives its status",
            ),
            Self::McpConnectionFailed => (
                "MCP_CONNECTION_FAILED",
                502,
                "discovery, registration, token exchange or provider failure; `details.step` names the step",
            ),
            Self::McpTokenExpired => {
                ("MCP_TOKEN_EXPIRED", 401, "refresh failed for good; reconnect with `/assets/connect`")
            }
            Self::InsufficientScope => (
                "INSUFFICIENT_SCOPE",
                403,
                "the MCP server asks for scopes the connection lacks (a scope challenge through the proxy); \
                 `details.required_scopes` names them, `details.reauthorize` how to ask the user",
            ),
            Self::StepUpLimit => (
                "STEP_UP_LIMIT",
                409,
                "`STEP_UP_MAX_ATTEMPTS` reauthorizations for more scopes in a row already; connect it anew",
            ),
            Self::McpUpstreamTimeout => (
                "MCP_UPSTREAM_TIMEOUT",
                504,
                "the MCP server did not begin its answer in time, or its stream stayed silent too long",
            ),
            Self::ServiceUnavailable => {
                ("SERVICE_UNAVAILABLE", 503, "the database is down or the pool exhausted (with `Retry-After`)")
            }
            Self::Internal => ("INTERNAL", 500, "a bug; logged with its cause chain, the body stays opaque"),
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let mut description = String::from(
            "The stable error code. Route on it, never on `message`.\n\n| code | status | when |\n|---|---|---|\n",
        );
        for code in Self::ALL {
            description.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.status().as_u16(),
                code.meaning()
            ));
        }
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .description(Some(description))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_and_match_their_serialized_form() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{code:?}");
        }
    }
}
