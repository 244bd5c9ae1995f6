//! Request ids: every answer carries `X-Request-Id`, every JSON error body `details.request_id`,
//! and every log line of the request the same id through its span (see `request_span`). The id
//! is the one tracing-actix-web generates; a caller's own id is never trusted.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use serde_json::Value;
use tracing_actix_web::RequestId;

/// The response header that carries the request id.
pub const HEADER: &str = "x-request-id";

/// A JSON body that gets `details.request_id` once the request's id is known. Error answers are
/// built where the request is out of sight (`ResponseError`), so they leave this mark and the
/// middleware finishes them.
#[derive(Debug, Clone)]
pub(crate) struct WithRequestId(Value);

impl WithRequestId {
    /// Answers `body` as JSON, marked to receive the request id.
    pub(crate) fn json(mut builder: HttpResponseBuilder, body: &impl Serialize) -> HttpResponse {
        let value = serde_json::to_value(body).unwrap_or(Value::Null);
        let mut response = builder.json(&value);
        response.extensions_mut().insert(Self(value));
        response
    }
}

/// Adds the request id to the response headers and to marked JSON bodies.
pub(crate) async fn attach(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(ToString::to_string);
    // Handlers' and extractors' errors arrive as answers; only a middleware could return `Err`,
    // and ours do not.
    let response = next.call(req).await?.map_into_boxed_body();
    let Some(id) = id else { return Ok(response) };
    let marked = response.response().extensions().get::<WithRequestId>().cloned();
    let mut response = match marked {
        Some(WithRequestId(mut body)) => {
            body["details"]["request_id"] = Value::String(id.clone());
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            response.map_body(|_, _| BoxBody::new(bytes))
        }
        None => response,
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(HEADER), value);
    }
    Ok(response)
}
