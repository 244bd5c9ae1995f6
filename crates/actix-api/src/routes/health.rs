//! Health for operators and load balancers:
//! - `GET /health`: status, uptime, version and each subsystem; `503` when the database does
//!   not answer (the body is then also a contract error body);
//! - `GET /health/live`: the process answers (restart it when this fails);
//! - `GET /health/ready`: start-up finished and the database answers (route traffic here).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use app::Deps;
use serde::Serialize;
use utoipa::ToSchema;

use crate::endpoint::Endpoint;
use crate::error::{ErrorBody, ErrorDetails};
use crate::request_id::WithRequestId;
use crate::{ApiError, ApiState, ErrorCode};

/// How one subsystem is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubsystemHealth {
    pub status: SubsystemStatus,
    /// Words for the operator (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl SubsystemHealth {
    pub fn new(status: SubsystemStatus, detail: Option<String>) -> Self {
        Self { status, detail }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubsystemStatus {
    Ok,
    /// Working, but not as it should (e.g. falling behind).
    Degraded,
    /// Not working.
    Unavailable,
    /// Not started in this process (or not part of this version).
    NotRunning,
}

/// Reports a subsystem's health when `/health` is asked. Must answer at once (read a flag or a
/// timestamp the subsystem keeps), never wait on I/O.
pub type HealthProbe = Arc<dyn Fn() -> SubsystemHealth + Send + Sync>;

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
struct HealthReport {
    /// `ok`; `degraded` when a subsystem other than the database is not ok (still `200`);
    /// `unavailable` when the database does not answer (`503`).
    #[schema(value_type = String, pattern = "^(ok|degraded|unavailable)$")]
    status: &'static str,
    uptime_seconds: u64,
    #[schema(example = "0.1.0")]
    version: &'static str,
    /// `database` and `scheduler` always; more may come.
    #[schema(value_type = BTreeMap<String, SubsystemHealth>)]
    subsystems: BTreeMap<&'static str, SubsystemHealth>,
    /// With `unavailable` only: `SERVICE_UNAVAILABLE`, so clients that route on `error` work here too.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<ErrorDetails>,
}

/// `GET /health/live` and `GET /health/ready` when all is well.
#[derive(Debug, Serialize, ToSchema)]
struct Probe {
    #[schema(value_type = String, pattern = "^(alive|ready)$")]
    status: &'static str,
    uptime_seconds: u64,
}

pub(crate) fn health<D: Deps>() -> Endpoint {
    Endpoint::public(__path_health_report, health_report::<D>)
}

pub(crate) fn live<D: Deps>() -> Endpoint {
    Endpoint::public(__path_liveness, liveness::<D>)
}

pub(crate) fn ready<D: Deps>() -> Endpoint {
    Endpoint::public(__path_readiness, readiness::<D>)
}

/// Liveness and the state of each subsystem.
#[utoipa::path(get, path = "/health", tag = "operations", responses(
    (status = 200, description = "The database answers.", body = HealthReport),
    (status = 503, description = "The database does not answer (`SERVICE_UNAVAILABLE`, with `Retry-After`).",
        body = HealthReport),
))]
async fn health_report<D: Deps>(state: web::Data<ApiState<D>>) -> HttpResponse {
    let mut subsystems = BTreeMap::new();
    let database_up = match state.directory.check_database().await {
        Ok(()) => {
            subsystems.insert("database", SubsystemHealth::new(SubsystemStatus::Ok, None));
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "health: the database does not answer");
            let detail = Some("the database does not answer".to_owned());
            subsystems.insert("database", SubsystemHealth::new(SubsystemStatus::Unavailable, detail));
            false
        }
    };
    for (name, probe) in state.subsystems() {
        subsystems.insert(name, probe());
    }
    let degraded =
        subsystems.values().any(|s| matches!(s.status, SubsystemStatus::Degraded | SubsystemStatus::Unavailable));
    let mut report = HealthReport {
        status: if !database_up {
            "unavailable"
        } else if degraded {
            "degraded"
        } else {
            "ok"
        },
        uptime_seconds: state.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION"),
        subsystems,
        error: None,
        message: None,
        details: None,
    };
    let mut response = if database_up { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if !database_up {
        report.error = Some(ErrorCode::ServiceUnavailable);
        report.message = Some("the database does not answer".to_owned());
        report.details = Some(ErrorDetails::default());
        response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        // Then it is also an error body, which carries `details.request_id` like every other.
        return WithRequestId::json(response, &report);
    }
    response.json(&report)
}

/// The process is alive and answering. Checks nothing else, so a database outage never gets
/// the process restarted.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses(
    (status = 200, description = "Alive.", body = Probe),
))]
async fn liveness<D: Deps>(state: web::Data<ApiState<D>>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(Probe { status: "alive", uptime_seconds: state.started.elapsed().as_secs() })
}

/// Whether to route traffic here: start-up has finished and the database answers.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "Ready.", body = Probe),
    (status = 503, description = "`SERVICE_UNAVAILABLE`: still starting, or the database does not answer.",
        body = ErrorBody),
))]
async fn readiness<D: Deps>(state: web::Data<ApiState<D>>) -> Result<HttpResponse, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::new(ErrorCode::ServiceUnavailable, "the service is still starting"));
    }
    if let Err(e) = state.directory.check_database().await {
        tracing::debug!(error = %e, "readiness: the database does not answer");
        return Err(ApiError::new(ErrorCode::ServiceUnavailable, "the database does not answer"));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(Probe { status: "ready", uptime_seconds: state.started.elapsed().as_secs() }))
}
