use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

/// An error answer in the contract's format: `{"error", "message", "details"?}` (spec §2.2).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Map::new() }
    }

    #[must_use]
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR", message).with_detail("field", field)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
    }

    pub fn connection_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "CONNECTION_NOT_FOUND", "no such connection")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status.as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "error": self.code, "message": self.message });
        if !self.details.is_empty() {
            body["details"] = Value::Object(self.details.clone());
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.json(body)
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
            E::ServerNotFound(name) => {
                Self::new(StatusCode::NOT_FOUND, "SERVER_NOT_FOUND", format!("no server named `{name}` in the catalog"))
            }
            E::ConnectionNotFound => Self::connection_not_found(),
            E::InvalidState => Self::new(StatusCode::BAD_REQUEST, "INVALID_STATE", e.to_string()),
            E::IssuerMismatch => Self::new(StatusCode::BAD_REQUEST, "ISSUER_MISMATCH", e.to_string()),
            E::AccessDenied(_) => Self::new(StatusCode::BAD_REQUEST, "OAUTH_ACCESS_DENIED", e.to_string()),
            E::NotReady(status) => Self::new(StatusCode::CONFLICT, "CONNECTION_NOT_READY", e.to_string())
                .with_detail("status", status.as_str()),
            E::TokenExpired => Self::new(StatusCode::UNAUTHORIZED, "MCP_TOKEN_EXPIRED", e.to_string()),
            E::Provider { step, .. } => {
                tracing::warn!(error = %e, "provider failure");
                Self::new(StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED", e.to_string()).with_detail("step", step)
            }
            E::Unavailable(_) => {
                tracing::error!(error = %error_chain(&e), "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "the database is unavailable; retry shortly",
                )
            }
            E::Internal(_) => {
                tracing::error!(error = %error_chain(&e), "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
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
