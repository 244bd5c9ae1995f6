//! The request span every log line of a request carries. It records the path, never the query
//! string: the OAuth callback's query holds the authorization `code` and `state`.
//!
//! The route pattern (`http.route`) is recorded by the endpoint the request was routed to (see
//! `endpoint::Route`), or as `unmatched` when none was: asking actix for it here, before
//! routing, matches the path against every pattern a second time (about 3 % of a credentials
//! request, in a profile).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;

use crate::endpoint::Route;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder, TracingLogger};

/// Builds request spans without the query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathOnlySpan;

impl RootSpanBuilder for PathOnlySpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request.extensions().get::<RequestId>().copied();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = tracing::field::Empty,
            http.target = %request.path(),
            request_id = %request_id.map(|id| id.to_string()).unwrap_or_default(),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        // An endpoint records its own route; a response no endpoint produced is unmatched. (An
        // error outcome keeps whatever the endpoint recorded.)
        if let Ok(response) = outcome
            && response.request().extensions().get::<Route>().is_none()
        {
            span.record("http.route", "unmatched");
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The request-logging middleware to wrap the app in.
pub fn request_logger() -> TracingLogger<PathOnlySpan> {
    TracingLogger::<PathOnlySpan>::new()
}
