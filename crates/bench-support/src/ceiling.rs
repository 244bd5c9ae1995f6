//! The ceiling: actix-web serving one constant JSON body, with the same runtime and default
//! worker count as the service, so the service's cheapest route has a same-machine reference.

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, Result};

async fn trivial() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(r#"{"status":"ok"}"#)
}

/// Serves `GET /` on `listen` until the process is killed.
pub(crate) fn serve(listen: &str) -> Result<()> {
    let server = HttpServer::new(|| App::new().route("/", web::get().to(trivial)))
        .bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?
        .run();
    crate::runtime()?.block_on(server)?;
    Ok(())
}
