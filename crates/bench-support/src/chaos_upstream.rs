//! `chaos-upstream --listen ADDR`: the MCP server `cargo xtask chaos` puts behind the proxy and
//! then hurts (SIGKILL, restart on the same port). Streamable HTTP only, as little as the proxy
//! needs to be tested against:
//!
//! - `POST /mcp`: a JSON-RPC answer echoing the request's `id`; `401` without a credential
//!   (`Authorization` or `X-Api-Key`) or with a bearer token it was told to refuse;
//! - `GET /mcp`: an endless `text/event-stream`, one notification every 250 ms, until the client
//!   goes away;
//! - `DELETE /mcp`: `200`;
//! - `POST /control/refuse` (`{"token": "…"}`): refuse that bearer token from now on, as a server
//!   that revoked it would;
//! - `GET /control/stats`: `{"answered","refused","open_streams","streams"}`.
//!
//! It logs nothing, and never echoes a header: what it is sent stays with it.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

/// Between two events of a stream.
const EVENT_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct Counters {
    answered: AtomicU64,
    refused: AtomicU64,
    open_streams: AtomicU64,
    streams: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    refused_tokens: Mutex<HashSet<String>>,
    counters: Arc<Counters>,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = match args.as_slice() {
        [flag, addr] if flag == "--listen" => addr.clone(),
        _ => bail!("usage: chaos-upstream --listen ADDR"),
    };
    let state = web::Data::new(State::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/mcp", web::post().to(post_mcp))
            .route("/mcp", web::get().to(get_mcp))
            .route("/mcp", web::delete().to(|| async { HttpResponse::Ok().finish() }))
            .route("/control/refuse", web::post().to(refuse))
            .route("/control/stats", web::get().to(stats))
    })
    .workers(2)
    .shutdown_timeout(0)
    .bind(&listen)
    .with_context(|| format!("cannot listen on {listen}"))?
    .run();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(server)?;
    Ok(())
}

/// `None` when the request carries a credential this server accepts, else the `401`.
fn refusal(state: &State, req: &HttpRequest) -> Option<HttpResponse> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    let refused = match (bearer, header("x-api-key")) {
        (None, None) => true,
        (Some(token), _) => lock(&state.refused_tokens).contains(token),
        (None, Some(_)) => false,
    };
    refused.then(|| {
        state.counters.refused.fetch_add(1, Ordering::Relaxed);
        HttpResponse::Unauthorized().insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\"")).finish()
    })
}

async fn post_mcp(state: web::Data<State>, req: HttpRequest, body: Bytes) -> HttpResponse {
    if let Some(refused) = refusal(&state, &req) {
        return refused;
    }
    let id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("id").cloned()).unwrap_or(Value::Null);
    state.counters.answered.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok()
        .json(json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "ok"}]}}))
}

async fn get_mcp(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    if let Some(refused) = refusal(&state, &req) {
        return refused;
    }
    state.counters.streams.fetch_add(1, Ordering::Relaxed);
    state.counters.open_streams.fetch_add(1, Ordering::Relaxed);
    let events = Events { every: tokio::time::interval(EVENT_EVERY), sent: 0, counters: state.counters.clone() };
    HttpResponse::Ok().content_type("text/event-stream").insert_header(("Cache-Control", "no-store")).body(events)
}

async fn refuse(state: web::Data<State>, body: web::Json<Value>) -> HttpResponse {
    let Some(token) = body.get("token").and_then(Value::as_str) else {
        return HttpResponse::BadRequest().finish();
    };
    lock(&state.refused_tokens).insert(token.to_owned());
    HttpResponse::NoContent().finish()
}

async fn stats(state: web::Data<State>) -> HttpResponse {
    let c = &state.counters;
    HttpResponse::Ok().json(json!({
        "answered": c.answered.load(Ordering::Relaxed),
        "refused": c.refused.load(Ordering::Relaxed),
        "open_streams": c.open_streams.load(Ordering::Relaxed),
        "streams": c.streams.load(Ordering::Relaxed),
    }))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An endless event stream; counted open until the client goes away and it is dropped.
#[derive(Debug)]
struct Events {
    every: tokio::time::Interval,
    sent: u64,
    counters: Arc<Counters>,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.counters.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl MessageBody for Events {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.every.poll_tick(cx).is_pending() {
            return Poll::Pending;
        }
        self.sent += 1;
        let n = self.sent;
        let message =
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": n}});
        Poll::Ready(Some(Ok(Bytes::from(format!("id: {n}\nevent: message\ndata: {message}\n\n")))))
    }
}
