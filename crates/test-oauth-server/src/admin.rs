//! A side door for harnesses that run the server as a separate process (`cargo xtask chaos`):
//! read the counters and every value issued, and change the token lifetime, over loopback HTTP
//! on a port of its own. Tests in the same process use [`TestAuthServer`]'s methods instead.
//!
//! - `GET /counters`: `{"token_requests","code_exchanges","refreshes","refresh_reuses","revocations"}`.
//! - `GET /issued`: `{"codes":[…],"access_tokens":[…],"refresh_tokens":[…],"id_tokens":[…]}`, for
//!   leak scans.
//! - `POST /configure` with `{"access_token_lifetime_seconds": N | null, "token_delay_ms": N}`
//!   (the delay is optional and stays as it was when absent).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::json;

use crate::TestAuthServer;
use crate::routes::lock;

/// The body of `POST /configure`.
#[derive(Debug, Deserialize)]
struct Configure {
    access_token_lifetime_seconds: Option<u64>,
    token_delay_ms: Option<u64>,
}

async fn counters(server: web::Data<Arc<TestAuthServer>>) -> HttpResponse {
    let c = server.counters();
    HttpResponse::Ok().json(json!({
        "token_requests": c.token_requests,
        "code_exchanges": c.code_exchanges,
        "refreshes": c.refreshes,
        "refresh_reuses": c.refresh_reuses,
        "revocations": server.revocations().len(),
    }))
}

async fn issued(server: web::Data<Arc<TestAuthServer>>) -> HttpResponse {
    let state = lock(&server.state);
    let codes: Vec<&String> = state.codes.keys().chain(state.spent_codes.keys()).collect();
    let access: Vec<&String> = state.access.keys().collect();
    let refresh: Vec<&String> = state.refresh.keys().collect();
    let id_tokens = &state.id_tokens;
    HttpResponse::Ok().json(json!({
        "codes": codes, "access_tokens": access, "refresh_tokens": refresh, "id_tokens": id_tokens,
    }))
}

async fn configure(server: web::Data<Arc<TestAuthServer>>, body: web::Json<Configure>) -> HttpResponse {
    let lifetime = body.access_token_lifetime_seconds.map(Duration::from_secs);
    let delay = body.token_delay_ms.map(Duration::from_millis);
    server.configure(|c| {
        c.access_token_lifetime = lifetime;
        c.token_delay = delay.unwrap_or(c.token_delay);
    });
    HttpResponse::NoContent().finish()
}

/// Serves the side door on `listener` until the returned server is stopped or dropped.
///
/// # Errors
/// When the listener cannot be used.
pub fn serve(server: Arc<TestAuthServer>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::new(server);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/counters", web::get().to(counters))
            .route("/issued", web::get().to(issued))
            .route("/configure", web::post().to(configure))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
