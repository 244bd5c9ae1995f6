//! The HTTP API of the Asset Directory (spec §2) on actix-web: routes, request and response
//! DTOs, the `X-Engine-Key` guard (spec §3) and the one mapping from use-case errors to the
//! contract's stable error codes (spec §2.2).
//!
//! Architecture invariant: handlers parse input into domain values, call exactly one use case,
//! and shape its answer. No business rule lives here, and nothing here names a storage or
//! OAuth technology: the API is generic over `app::Deps`.

mod dto;
mod error;
mod extract;
mod key_guard;
mod request_span;
mod routes;

use std::time::Instant;

use actix_web::web;
use app::{Deps, Directory};

pub use error::ApiError;
pub use key_guard::{EngineKeys, KeyRotation};
pub use request_span::{PathOnlySpan, request_logger};

/// What every handler shares.
pub struct ApiState<D: Deps> {
    pub directory: Directory<D>,
    pub started: Instant,
}

impl<D: Deps> std::fmt::Debug for ApiState<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("directory", &self.directory).finish_non_exhaustive()
    }
}

impl<D: Deps> ApiState<D> {
    pub fn new(directory: Directory<D>) -> Self {
        Self { directory, started: Instant::now() }
    }
}

/// Largest request body accepted (spec §2.2: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers every route. `keys` guards all of them except `/health` and the OAuth redirect
/// target, which a browser reaches without the header (the single-use `state` authenticates it).
pub fn configure<D: Deps>(cfg: &mut web::ServiceConfig, state: web::Data<ApiState<D>>, keys: web::Data<EngineKeys>) {
    cfg.app_data(state)
        .app_data(keys)
        .app_data(extract::json_config())
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(routes::health::resource::<D>())
        .service(routes::callback::browser_resource::<D>())
        .service(
            web::scope("/assets")
                .wrap(actix_web::middleware::from_fn(key_guard::require_engine_key))
                .service(routes::servers::resource::<D>())
                .service(routes::connections::list_resource::<D>())
                .service(routes::connections::one_resource::<D>())
                .service(routes::connections::credentials_resource::<D>())
                .service(routes::connections::events_resource::<D>())
                .service(routes::connect::resource::<D>())
                .service(routes::callback::json_resource::<D>())
                .default_service(web::to(routes::not_found)),
        )
        .default_service(web::to(routes::not_found));
}
