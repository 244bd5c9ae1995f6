//! A side door for harnesses that run the server as a separate process (`cargo xtask chaos`):
//! read the counters and every value issued, and change the token lifetime, over loopback HTTP
//! on a port of its own. Tests in the same process use [`TestAuthServer`]'s methods instead.
//!
//! - `GET /counters`: `{"token_requests","code_exchanges","refreshes","refresh_reuses","revocations"}`.
//! - `GET /issued`: `{"codes":[…],"access_tokens":[…],"refresh_tokens":[…],"id_tokens":[…],
//!   "client_assertions":[…]}` (the `private_key_jwt` assertions it accepted), for leak scans.
//! - `POST /configure` with `{"access_token_lifetime_seconds": N | null, "token_delay_ms": N}`
//!   (the delay is optional and stays as it was when absent).
//! - `POST /identity` with `{"id_jag_client_id"}` makes it its own enterprise identity provider too:
//!   its token exchange issues ID-JAGs naming that client, which its `jwt-bearer` grant takes;
//!   `POST /sign-in` with `{"subject", "client_id"}` answers `{"id_token"}` (valid 10 minutes).
//! - `POST /clients` with `{"client_id", "client_secret"}` adds a `client_secret_basic` client;
//!   with `{"client_id", "generate_key": "ES256" | "RS256"}` a `private_key_jwt` client whose new
//!   key pair it makes, answering `{"private_key_pem": …}` (the harness's client signs with it).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::json;

use crate::routes::lock;
use crate::{TestAuthServer, TestClient};

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
        "client_assertions": state.assertions, "id_jags": state.id_jags,
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

/// The body of `POST /clients`.
#[derive(Debug, Deserialize)]
struct NewClient {
    client_id: String,
    client_secret: Option<String>,
    generate_key: Option<String>,
}

async fn add_client(server: web::Data<Arc<TestAuthServer>>, body: web::Json<NewClient>) -> HttpResponse {
    let body = body.into_inner();
    let (client, pem) = match (body.client_secret, body.generate_key.as_deref()) {
        (Some(secret), None) => (TestClient::basic(&body.client_id, &secret), None),
        (None, Some(algorithm)) => match crate::keys::generate_key(algorithm) {
            Some((pem, jwks)) => (TestClient::private_key_jwt(&body.client_id, jwks), Some(pem)),
            None => return HttpResponse::BadRequest().body("generate_key: ES256 or RS256"),
        },
        _ => return HttpResponse::BadRequest().body("client_secret or generate_key, one of them"),
    };
    server.configure(|c| c.clients.push(client));
    HttpResponse::Created().json(json!({"private_key_pem": pem}))
}

#[derive(Debug, Deserialize)]
struct Identity {
    id_jag_client_id: String,
}

async fn identity(server: web::Data<Arc<TestAuthServer>>, body: web::Json<Identity>) -> HttpResponse {
    let trusted = crate::TrustedIdp { issuer: server.issuer().to_owned(), jwks: server.jwks() };
    server.configure(|c| {
        c.id_jag_client_id = Some(body.id_jag_client_id.clone());
        c.trusted_idp = Some(trusted);
    });
    HttpResponse::NoContent().finish()
}

#[derive(Debug, Deserialize)]
struct SignIn {
    subject: String,
    client_id: String,
}

async fn sign_in(server: web::Data<Arc<TestAuthServer>>, body: web::Json<SignIn>) -> HttpResponse {
    let id_token = server.sign_in(&body.subject, &body.client_id, Duration::from_secs(600));
    HttpResponse::Ok().json(json!({"id_token": id_token}))
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
            .route("/clients", web::post().to(add_client))
            .route("/identity", web::post().to(identity))
            .route("/sign-in", web::post().to(sign_in))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
