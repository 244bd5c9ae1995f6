//! The HTTP API of the Asset Directory (spec §2) on actix-web: routes, request and response
//! DTOs, the `X-Engine-Key` guard (spec §3), the one mapping from use-case errors to the
//! contract's stable error codes (spec §2.2), and what operators use: the OpenAPI 3.1 document
//! built from the registered routes (`/openapi.json`), health and readiness (`/health…`),
//! Prometheus metrics (`/metrics`) and a request id on every answer and error body.
//!
//! Architecture invariant: handlers parse input into domain values, call exactly one use case,
//! and shape its answer. No business rule lives here, and nothing here names a storage or
//! OAuth technology: the API is generic over `app::Deps`.

mod body_deadline;
mod caller;
mod codes;
mod cookies;
mod dto;
mod endpoint;
mod engine_keys;
mod error;
mod extract;
mod key_guard;
mod metrics;
mod openapi;
mod paging;
mod proxy_wire;
mod request_id;
mod request_span;
mod routes;
mod session_guard;
mod state;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use app::Deps;

pub use caller::{Caller, END_USER_HEADER};
pub use engine_keys::{EngineKeys, KeyRotation, TenantKeys};
pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetails};
pub use metrics::ApiMetrics;
pub use request_id::HEADER as REQUEST_ID_HEADER;
pub use request_span::{PathOnlySpan, request_logger};
pub use routes::health::{HealthProbe, SubsystemHealth, SubsystemStatus};
pub use state::{ApiState, DEFAULT_REQUEST_BODY_TIMEOUT, Exposure};

/// Largest request body accepted (spec §2.2: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole HTTP application: the deadline on request bodies outermost (it holds an unread
/// body until the final answer has been written), then request spans (with their request id),
/// then request metrics, then the request id on answers and error bodies, then every route.
pub fn app<D: Deps>(
    state: web::Data<ApiState<D>>,
    keys: web::Data<EngineKeys>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_timeout = state.request_body_timeout;
    App::new()
        .configure(|cfg| configure(cfg, state, keys))
        .wrap(from_fn(request_id::attach))
        .wrap(from_fn(metrics::record))
        .wrap(request_logger())
        .wrap_fn(move |req, service| body_deadline::limit(body_timeout, req, service))
}

/// Registers every route, and `/openapi.json` with the document of exactly those routes. Each
/// endpoint says whether it needs the engine key: all do except `/health…` and the OAuth
/// redirect target (a browser reaches it without the header; the single-use `state`
/// authenticates it), and `/metrics` and `/openapi.json` when configured public.
pub fn configure<D: Deps>(cfg: &mut web::ServiceConfig, state: web::Data<ApiState<D>>, keys: web::Data<EngineKeys>) {
    let endpoints = routes::endpoints::<D>(state.exposure);
    let document = openapi::document(&endpoints);
    let json = serde_json::to_string(&document).unwrap_or_default();
    cfg.app_data(web::Data::from(state.metrics.clone()))
        .app_data(state)
        .app_data(keys)
        .app_data(web::Data::new(openapi::OpenApiJson(json)))
        .app_data(extract::json_config())
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES));
    for endpoint in endpoints {
        cfg.service(endpoint);
    }
    cfg.default_service(web::to(routes::fallback));
}
