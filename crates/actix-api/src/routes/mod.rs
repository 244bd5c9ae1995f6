//! One module per resource. Each exposes the `Resource`s it serves, with a 405 default for
//! methods it does not.

pub(crate) mod callback;
pub(crate) mod connect;
pub(crate) mod connections;
pub(crate) mod health;
pub(crate) mod servers;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use domain::RefId;

use crate::ApiError;

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

pub(crate) async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} is not allowed on this route", req.method()),
    ))
}

/// A resource at `path` whose unmatched methods answer `METHOD_NOT_ALLOWED`.
pub(crate) fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// A ref id from the path; a malformed one cannot name a connection.
pub(crate) fn parse_ref_id(raw: &str) -> Result<RefId, ApiError> {
    RefId::parse(raw).map_err(|_| ApiError::connection_not_found())
}
