//! `GET /metrics` (Prometheus) and `GET /openapi.json`: for operators and tools, so they need
//! the engine key unless configured public (`METRICS_PUBLIC`, `OPENAPI_PUBLIC`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::Exposure;
use crate::endpoint::Endpoint;
use crate::metrics::{self, ApiMetrics};
use crate::openapi::OpenApiJson;

pub(crate) fn metrics(exposure: Exposure) -> Endpoint {
    Endpoint::new(!exposure.metrics_public, __path_prometheus_metrics, prometheus_metrics)
}

pub(crate) fn openapi(exposure: Exposure) -> Endpoint {
    Endpoint::new(!exposure.openapi_public, __path_openapi_document, openapi_document)
}

/// Prometheus metrics in the text exposition format. No label carries a secret or a `ref_id`.
/// Needs `X-Engine-Key` unless `METRICS_PUBLIC=true`.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Every metric, as of now.", content_type = "text/plain; version=0.0.4",
        body = String),
))]
async fn prometheus_metrics(metrics: web::Data<ApiMetrics>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(metrics.render())
}

/// This OpenAPI 3.1 document. Needs `X-Engine-Key` unless `OPENAPI_PUBLIC=true`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses(
    (status = 200, description = "The document.", content_type = "application/json", body = Object),
))]
async fn openapi_document(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}
