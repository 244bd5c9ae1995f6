//! The one mapping from use-case errors to the contract's error answers (spec §2.2).

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::codes::ErrorCode;
use crate::request_id::WithRequestId;

/// An error answer in the contract's format: `{"error", "message", "details"}`.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: ErrorDetails,
}

/// The body of every non-2xx answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// For people. It repeats no value from the request, except the host of a URL the service
    /// called (the server a discovery step or the address guard failed on).
    pub message: String,
    pub details: ErrorDetails,
}

/// What more there is to know about an error. `request_id` is always there; the others only
/// with the codes they belong to.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ErrorDetails {
    /// This request's id, as in the service's log lines and the `X-Request-Id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = true, value_type = String, example = "4b4a3c1e-6f3a-4d0e-9a51-2f1d0c9b8e7a")]
    pub request_id: Option<String>,
    /// `VALIDATION_ERROR`: the field at fault, e.g. `server_config.api_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub field: Option<Cow<'static, str>>,
    /// `MCP_CONNECTION_FAILED`: the step that failed, e.g. `token exchange`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub step: Option<&'static str>,
    /// `CONNECTION_NOT_READY`, `RECONNECT_IN_PROGRESS`: the connection's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub status: Option<&'static str>,
    /// `INSUFFICIENT_SCOPE`: `required_scopes` and `reauthorize`, boxed (rare, and it would
    /// double every error's size).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ScopeChallengeFields)]
    pub scope_challenge: Option<Box<ScopeChallenge>>,
}

/// The details of a scope challenge.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeChallenge {
    /// The scopes the MCP server asked for.
    pub required_scopes: Vec<String>,
    /// How to ask the user for them (`method`, `path`, `body`), or `null` when no longer offered
    /// (`STEP_UP_MAX_ATTEMPTS` reached, or a connection no user authorized).
    pub reauthorize: serde_json::Value,
}

/// How the document shows [`ScopeChallenge`] among the details: fields present only with
/// `INSUFFICIENT_SCOPE` (the flattened, boxed field would otherwise read as an object or `null`
/// that every other error's details fail).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ScopeChallengeFields {
    /// `INSUFFICIENT_SCOPE`: the scopes the MCP server asked for.
    required_scopes: Option<Vec<String>>,
    /// `INSUFFICIENT_SCOPE`: how to ask the user for them (`method`, `path`, `body`), or `null`
    /// when no longer offered (`STEP_UP_MAX_ATTEMPTS` reached, or a connection no user authorized).
    #[schema(value_type = Option<Object>)]
    reauthorize: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: ErrorDetails::default() }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn validation(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorCode::ValidationError, message);
        e.details.field = Some(field.into());
        e
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such route")
    }

    pub fn connection_not_found() -> Self {
        Self::new(ErrorCode::ConnectionNotFound, "no such connection")
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.code, message: self.message.clone(), details: self.details.clone() }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code.as_str(), self.status().as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if self.code == ErrorCode::ServiceUnavailable {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if self.code == ErrorCode::RequestTimeout {
            // The rest of the body may still come; the connection cannot carry another request.
            response.force_close();
        }
        WithRequestId::json(response, &self.body())
    }
}

/// The single mapping from use-case errors to stable codes. 5xx causes are logged here with
/// their whole chain; the body stays opaque.
impl From<app::Error> for ApiError {
    fn from(e: app::Error) -> Self {
        use app::Error as E;
        match e {
            E::Validation { field, message } => Self::validation(field, format!("{field}: {message}")),
            E::InvalidRequest(message) => Self::invalid_request(message),
            E::ServerNotFound => Self::new(ErrorCode::ServerNotFound, e.to_string()),
            E::ConnectionNotFound => Self::connection_not_found(),
            E::WebhookNotFound => Self::new(ErrorCode::WebhookNotFound, e.to_string()),
            E::DeliveryNotFound => Self::new(ErrorCode::DeliveryNotFound, e.to_string()),
            E::InvalidState => Self::new(ErrorCode::InvalidState, e.to_string()),
            E::IssuerMismatch => Self::new(ErrorCode::IssuerMismatch, e.to_string()),
            E::AccessDenied => Self::new(ErrorCode::OAuthAccessDenied, e.to_string()),
            E::NotReady(status) => {
                let mut error = Self::new(ErrorCode::ConnectionNotReady, e.to_string());
                error.details.status = Some(status.as_str());
                error
            }
            E::ReconnectInProgress(status) => {
                let mut error = Self::new(ErrorCode::ReconnectInProgress, e.to_string());
                error.details.status = Some(status.as_str());
                error
            }
            E::TokenExpired => Self::new(ErrorCode::McpTokenExpired, e.to_string()),
            E::InsufficientScope { ref ref_id, ref required, reauthorize } => {
                let mut error = Self::new(ErrorCode::InsufficientScope, e.to_string());
                error.details.scope_challenge = Some(Box::new(ScopeChallenge {
                    required_scopes: required.iter().map(str::to_owned).collect(),
                    reauthorize: match reauthorize {
                        true => serde_json::json!({
                            "method": "POST",
                            "path": format!("/assets/connections/{ref_id}/reauthorize"),
                            "body": {"scopes": required.iter().collect::<Vec<_>>()},
                        }),
                        false => serde_json::Value::Null,
                    },
                }));
                error
            }
            E::StepUpLimit(_) => Self::new(ErrorCode::StepUpLimit, e.to_string()),
            E::UpstreamTimeout(_) => {
                tracing::warn!(error = %e, "MCP server timeout");
                Self::new(ErrorCode::McpUpstreamTimeout, e.to_string())
            }
            E::Provider { step, .. } => {
                tracing::warn!(error = %e, "provider failure");
                let mut error = Self::new(ErrorCode::McpConnectionFailed, e.to_string());
                error.details.step = Some(step);
                error
            }
            E::Unavailable(_) => {
                tracing::error!(error = %error_chain(&e), "database unavailable");
                Self::new(ErrorCode::ServiceUnavailable, "the database is unavailable; retry shortly")
            }
            E::Internal(_) => {
                tracing::error!(error = %error_chain(&e), "internal error");
                Self::internal()
            }
        }
    }
}

/// `error: cause: cause…`, for logs.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
