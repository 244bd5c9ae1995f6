//! A trivial MCP server for the proxy's scenarios, the far end of the proxy and the ceiling of
//! the same calls sent straight to it (same framework, runtime and default worker count as the
//! service and the trivial handler):
//!
//! - `POST /mcp`: one JSON-RPC message; a request (`tools/call` or any other) is answered with a
//!   small JSON result at once, a notification (no `id`) with `202`. A call without a credential
//!   (`X-Api-Key` or `Authorization`) is `401`, so a proxy that forgot to add it fails the run.
//! - `GET /mcp`: the server's event stream, held open: an event at once, then one every
//!   `--every-ms` (a keep-alive carrying a small notification), until the client goes away.
//! - `GET /stats`: the streams open now and the most open at once, the calls answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Options;

/// What the server has seen.
#[derive(Debug, Default)]
struct Counts {
    open: AtomicU64,
    most_open: AtomicU64,
    streams: AtomicU64,
    calls: AtomicU64,
}

/// The pause between two events of a stream.
#[derive(Debug, Clone, Copy)]
struct Every(Duration);

/// A stream counted open for as long as it lives (actix drops it when the client goes away).
#[derive(Debug)]
struct Open(Arc<Counts>);

impl Open {
    fn new(counts: Arc<Counts>) -> Self {
        let now = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
        counts.most_open.fetch_max(now, Ordering::Relaxed);
        counts.streams.fetch_add(1, Ordering::Relaxed);
        Self(counts)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn has_credential(req: &HttpRequest) -> bool {
    req.headers().contains_key("x-api-key") || req.headers().contains_key("authorization")
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"error": "no credential came with the call"}))
}

async fn call(req: HttpRequest, body: Bytes, counts: web::Data<Counts>) -> HttpResponse {
    if !has_credential(&req) {
        return unauthorized();
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(json!({"error": "the body is not JSON"}));
    };
    if message.get("id").is_none() {
        return HttpResponse::Accepted().finish();
    }
    counts.calls.fetch_add(1, Ordering::Relaxed);
    let result = if message["method"] == "tools/call" {
        json!({"content": [{"type": "text", "text": "ok"}], "isError": false})
    } else {
        json!({})
    };
    HttpResponse::Ok().json(json!({"jsonrpc": "2.0", "id": message["id"], "result": result}))
}

async fn stream(req: HttpRequest, counts: web::Data<Counts>, every: web::Data<Every>) -> HttpResponse {
    if !has_credential(&req) {
        return unauthorized();
    }
    let open = Open::new(counts.into_inner());
    let mut ticks = tokio::time::interval(every.0);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = futures_util::stream::unfold((open, ticks, 0_u64), |(open, mut ticks, n)| async move {
        ticks.tick().await;
        let event = format!(
            "event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\
             \"params\":{{\"level\":\"info\",\"data\":{n}}}}}\n\n"
        );
        Some((Ok::<_, actix_web::Error>(Bytes::from(event)), (open, ticks, n + 1)))
    });
    HttpResponse::Ok().content_type("text/event-stream").insert_header(("Cache-Control", "no-cache")).streaming(events)
}

async fn stats(counts: web::Data<Counts>) -> HttpResponse {
    let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
    HttpResponse::Ok().json(json!({
        "open_streams": read(&counts.open), "most_open_streams": read(&counts.most_open),
        "streams": read(&counts.streams), "calls": read(&counts.calls),
    }))
}

/// `mcp-upstream --listen ADDR [--every-ms N]` (default 1000): serves until killed.
pub(crate) fn serve(options: &Options) -> Result<()> {
    let listen = options.get("listen")?;
    let every = Every(Duration::from_millis(options.number("every-ms")?.unwrap_or(1000_u64).max(10)));
    let counts = web::Data::new(Counts::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(counts.clone())
            .app_data(web::Data::new(every))
            .route("/mcp", web::post().to(call))
            .route("/mcp", web::get().to(stream))
            .route("/stats", web::get().to(stats))
    })
    .bind(&listen)
    .with_context(|| format!("cannot listen on {listen}"))?
    .run();
    crate::runtime()?.block_on(server)?;
    Ok(())
}
