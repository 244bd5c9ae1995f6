//! A small MCP-style server on loopback for the proxy's tests: it checks bearer tokens with the
//! test authorization server, records what reached it, and can be told to misbehave (refuse a
//! token, ask for a scope, answer `500`, hang, die in the middle of a stream).

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde_json::{Value, json};
use test_oauth_server::TestAuthServer;

/// How the server behaves from now on.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Tokens answered `401` however valid.
    pub refused: HashSet<String>,
    /// Every token answered `401`.
    pub refuse_all: bool,
    /// A scope a token must carry, or `403 insufficient_scope`.
    pub needs_scope: Option<String>,
    /// Answer this status to every `POST /mcp`.
    pub status: Option<u16>,
    /// Accept the request and never answer.
    pub hang: bool,
    /// Events of a `GET /mcp` stream (then it ends), one per `interval_ms`; `None`: forever.
    pub events: Option<usize>,
    pub interval_ms: u64,
    /// End the `GET /mcp` stream abruptly after this many events.
    pub die_after: Option<usize>,
}

/// What reached the server.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub headers: Vec<Vec<(String, String)>>,
}

struct Inner {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Seen>,
    open_streams: AtomicUsize,
    auth: Option<Arc<TestAuthServer>>,
    /// Messages posted to the legacy `/messages`, relayed on `/sse`.
    legacy: tokio::sync::broadcast::Sender<String>,
}

pub struct Upstream {
    pub url: String,
    inner: Arc<Inner>,
    handle: actix_web::dev::ServerHandle,
}

impl Upstream {
    /// Starts one; with `auth`, `Authorization: Bearer` must carry one of its active tokens,
    /// without, a static key in `X-Api-Key` or `Authorization` is accepted as it is.
    pub async fn start(auth: Option<Arc<TestAuthServer>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            behaviour: Mutex::default(),
            seen: Mutex::default(),
            open_streams: AtomicUsize::new(0),
            auth,
            legacy: tokio::sync::broadcast::channel(64).0,
        });
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/mcp", web::post().to(post_mcp))
                .route("/mcp", web::get().to(get_mcp))
                .route("/mcp", web::delete().to(delete_mcp))
                .route("/sse", web::get().to(get_sse))
                .route("/messages", web::post().to(post_messages))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, inner, handle }
    }

    pub fn configure(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.inner.behaviour.lock().unwrap());
    }

    pub fn seen(&self) -> Seen {
        self.inner.seen.lock().unwrap().clone()
    }

    /// Answer streams being written now.
    pub fn open_streams(&self) -> usize {
        self.inner.open_streams.load(Ordering::SeqCst)
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

type State = web::Data<Inner>;

fn record(state: &State, req: &HttpRequest) {
    let headers = req.headers().iter().map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()));
    state.seen.lock().unwrap().headers.push(headers.collect());
}

/// `None` when the request may go on, else the refusal.
fn check(state: &State, req: &HttpRequest) -> Option<HttpResponse> {
    let behaviour = state.behaviour.lock().unwrap().clone();
    let bearer = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(auth) = &state.auth else {
        let keyed = req.headers().contains_key("x-api-key") || !bearer.is_empty();
        return (!keyed).then(|| HttpResponse::Unauthorized().finish());
    };
    let token = bearer.strip_prefix("Bearer ").unwrap_or("");
    let info = auth.token_info(token).filter(|i| i.active);
    let refused = behaviour.refuse_all || behaviour.refused.contains(token);
    let Some(info) = info.filter(|_| !refused) else {
        return Some(
            HttpResponse::Unauthorized().insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\"")).finish(),
        );
    };
    match behaviour.needs_scope {
        Some(scope) if !info.scope.split(' ').any(|s| s == scope) => Some(
            HttpResponse::Forbidden()
                .insert_header((
                    "WWW-Authenticate",
                    format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\", error_description=\"more\""),
                ))
                .finish(),
        ),
        _ => None,
    }
}

async fn post_mcp(state: State, req: HttpRequest, body: Bytes) -> HttpResponse {
    record(&state, &req);
    if let Some(refusal) = check(&state, &req) {
        return refusal;
    }
    let behaviour = state.behaviour.lock().unwrap().clone();
    if behaviour.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if let Some(status) = behaviour.status {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .json(json!({"upstream": "own error"}));
    }
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    HttpResponse::Ok()
        .insert_header(("Mcp-Session-Id", "session-1"))
        .insert_header(("Set-Cookie", "upstream=secret"))
        .insert_header(("X-Upstream-Internal", "hidden"))
        .json(json!({"jsonrpc": "2.0", "id": message["id"], "result": {"echo": message}}))
}

/// Counts a stream while it lives.
struct Open(Arc<Inner>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn get_mcp(state: State, req: HttpRequest) -> HttpResponse {
    record(&state, &req);
    if let Some(refusal) = check(&state, &req) {
        return refusal;
    }
    let behaviour = state.behaviour.lock().unwrap().clone();
    let after: usize = req.headers().get("last-event-id").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    state.open_streams.fetch_add(1, Ordering::SeqCst);
    let open = Open(state.clone().into_inner());
    let interval = Duration::from_millis(behaviour.interval_ms);
    let stream = futures_util::stream::unfold((after, open), move |(sent, open)| async move {
        if behaviour.events.is_some_and(|n| sent >= n) {
            return None;
        }
        if sent > after {
            tokio::time::sleep(interval).await;
        }
        if behaviour.die_after.is_some_and(|n| sent >= n) {
            return Some((Err(std::io::Error::other("the server died")), (sent + 1, open)));
        }
        let event = format!("id: {}\ndata: {{\"n\": {}}}\n\n", sent + 1, sent + 1);
        Some((Ok::<_, std::io::Error>(Bytes::from(event)), (sent + 1, open)))
    });
    HttpResponse::Ok().content_type("text/event-stream").streaming(stream)
}

async fn delete_mcp(state: State, req: HttpRequest) -> HttpResponse {
    record(&state, &req);
    check(&state, &req).unwrap_or_else(|| HttpResponse::Ok().finish())
}

async fn get_sse(state: State, req: HttpRequest) -> HttpResponse {
    record(&state, &req);
    if let Some(refusal) = check(&state, &req) {
        return refusal;
    }
    let first = Bytes::from_static(b": hello\n\nevent: endpoint\ndata: /messages?sessionId=legacy-1\n\n");
    let relayed = state.legacy.subscribe();
    let stream = futures_util::stream::unfold((Some(first), relayed), |(first, mut relayed)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, std::io::Error>(first), (None, relayed)));
        }
        let message = relayed.recv().await.ok()?;
        Some((Ok(Bytes::from(format!("event: message\ndata: {message}\n\n"))), (None, relayed)))
    });
    HttpResponse::Ok().content_type("text/event-stream").streaming(stream)
}

async fn post_messages(state: State, req: HttpRequest, body: Bytes) -> HttpResponse {
    record(&state, &req);
    if let Some(refusal) = check(&state, &req) {
        return refusal;
    }
    if req.query_string() != "sessionId=legacy-1" {
        return HttpResponse::NotFound().finish();
    }
    let _ = state.legacy.send(String::from_utf8_lossy(&body).into_owned());
    HttpResponse::Accepted().finish()
}
