//! One module per resource. Each exposes the [`Endpoint`]s it serves; [`endpoints`] lists them
//! all, and the app and its OpenAPI document are both built from that list.

pub(crate) mod callback;
mod callback_page;
mod client_metadata;
pub(crate) mod connect;
pub(crate) mod connect_page;
mod connect_page_view;
mod connect_sessions;
pub(crate) mod connections;
pub(crate) mod events;
pub(crate) mod health;
mod html;
pub(crate) mod operations;
pub(crate) mod proxy;
pub(crate) mod servers;
pub(crate) mod users;
pub(crate) mod webhooks;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use app::Deps;
use domain::RefId;

use crate::endpoint::Endpoint;
use crate::{ApiError, ErrorCode, Exposure, key_guard};

/// Every endpoint of the API. The order is the matching order: the browser callback comes before
/// the `/assets/connections/…` family only by convention, as no two patterns overlap.
pub(crate) fn endpoints<D: Deps>(exposure: Exposure) -> Vec<Endpoint> {
    vec![
        health::health::<D>(),
        health::live::<D>(),
        health::ready::<D>(),
        operations::metrics(exposure),
        operations::openapi(exposure),
        servers::list::<D>(),
        connections::list::<D>(),
        connections::one::<D>(),
        connections::credentials::<D>(),
        connections::events::<D>(),
        proxy::mcp::<D>(),
        proxy::sse::<D>(),
        proxy::messages::<D>(),
        proxy::reauthorize::<D>(),
        users::list::<D>(),
        users::one::<D>(),
        users::connections::<D>(),
        events::feed::<D>(),
        webhooks::collection::<D>(),
        webhooks::one::<D>(),
        webhooks::rotate::<D>(),
        webhooks::deliveries::<D>(),
        webhooks::retry::<D>(),
        connect::connect::<D>(),
        connect_sessions::open::<D>(),
        connect_page::page::<D>(),
        connect_page::connect::<D>(),
        callback::json::<D>(),
        callback::browser::<D>(),
        callback::browser_per_issuer::<D>(),
        client_metadata::document::<D>(),
        client_metadata::per_issuer::<D>(),
        client_metadata::jwks::<D>(),
    ]
}

/// What no endpoint matched: `NOT_FOUND`, after the key check under `/assets` so a caller without
/// the key learns nothing about which routes exist there.
pub(crate) async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.path() == "/assets" || req.path().starts_with("/assets/") {
        key_guard::verdict(&req)?;
    }
    Err(ApiError::not_found())
}

/// A method the route does not serve: `METHOD_NOT_ALLOWED`, with the `Allow` header listing
/// the methods it does serve (RFC 9110 §15.5.6 requires it).
pub(crate) async fn method_not_allowed(_req: HttpRequest, allow: HeaderValue) -> HttpResponse {
    let error = ApiError::new(ErrorCode::MethodNotAllowed, "the method is not allowed on this route (see `Allow`)");
    let mut response = error.error_response();
    response.headers_mut().insert(header::ALLOW, allow);
    response
}

/// A ref id from the path; a malformed one cannot name a connection.
pub(crate) fn parse_ref_id(raw: &str) -> Result<RefId, ApiError> {
    RefId::parse(raw).map_err(|_| ApiError::connection_not_found())
}
