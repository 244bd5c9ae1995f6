use actix_web::{HttpResponse, Resource, web};
use app::Deps;
use serde_json::json;

use crate::ApiState;

pub(crate) fn resource<D: Deps>() -> Resource {
    super::resource("/health").route(web::get().to(health::<D>))
}

/// Liveness plus the state of each subsystem; `503` when the database does not answer.
async fn health<D: Deps>(state: web::Data<ApiState<D>>) -> HttpResponse {
    let database = state.directory.check_database().await;
    let uptime = state.started.elapsed().as_secs();
    let (status, mut response) = match database {
        Ok(()) => ("ok", HttpResponse::Ok()),
        Err(_) => ("unavailable", HttpResponse::ServiceUnavailable()),
    };
    response.insert_header(("Cache-Control", "no-store")).json(json!({
        "status": if status == "ok" { "ok" } else { "degraded" },
        "uptime_seconds": uptime,
        "checks": { "database": status },
    }))
}
