//! The MCP proxy (issue 16): `…/{ref_id}/mcp` (Streamable HTTP: `POST`, `GET`, `DELETE`),
//! `…/{ref_id}/sse` and `…/{ref_id}/messages` (the legacy HTTP+SSE transport), forwarded to the
//! connection's MCP server with its credential added; answers stream through as they arrive.
//! The engine's key works here as everywhere; so does the connection's proxy token, as
//! `Authorization: Bearer`, for an MCP client that can only be given a URL and a token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use app::{Deps, Proxied, ProxyFailure, ProxyRequest, ProxyTarget};
use bytes::{Bytes, BytesMut};
use domain::{Owner, RefId};
use futures_util::StreamExt;
use ports::{UpstreamError, UpstreamMethod};
use serde::Deserialize;
use url::Url;

use super::parse_ref_id;
use crate::body_deadline::BodyTimedOut;
use crate::caller::END_USER_HEADER;
use crate::dto::{ReauthorizeBody, ReauthorizeResponse};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::extract::JsonObject;
use crate::metrics::ProxyOutcome;
use crate::proxy_wire::{self, ENDPOINT_PARAM, EndpointRewriter};
use crate::session_guard::take_bearer;
use crate::{ApiError, ApiState, Caller, ErrorCode};

/// Largest request body the proxy takes (kept whole, to be sent again after a refresh).
pub const MAX_PROXY_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The answers of every proxy route that are not the MCP server's own (its own `4xx` and `5xx`
/// pass as they came).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum Refusals {
    /// `INVALID_KEY` (neither the engine key nor this connection's proxy token), or
    /// `MCP_TOKEN_EXPIRED`: the server refused the token again after a refresh; reconnect.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// `INSUFFICIENT_SCOPE`: the server asked for more scopes; `details.reauthorize`.
    #[response(status = 403)]
    InsufficientScope(ErrorBody),
    /// `CONNECTION_NOT_FOUND`.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// `CONNECTION_NOT_READY`: a `pending_oauth` or `failed` connection.
    #[response(status = 409)]
    NotReady(ErrorBody),
    /// `VALIDATION_ERROR`: another transport's route (or a stdio server), a malformed
    /// `X-End-User-Id`, or on `…/messages` an `endpoint` this connection's stream did not give.
    #[response(status = 422)]
    Validation(ErrorBody),
    /// `MCP_CONNECTION_FAILED`: the server unreachable or the connection reset, or the refresh
    /// failed.
    #[response(status = 502)]
    Failed(ErrorBody),
    /// `MCP_UPSTREAM_TIMEOUT`: no first byte within `PROXY_FIRST_BYTE_TIMEOUT_MS`.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// The answers of a proxy route that reads a body, besides [`Refusals`].
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum BodyRefusals {
    /// `INVALID_REQUEST`: the body could not be read.
    #[response(status = 400)]
    Unreadable(ErrorBody),
    /// `REQUEST_TIMEOUT`: the body stalled (the connection is closed).
    #[response(status = 408)]
    Stalled(ErrorBody),
    /// `PAYLOAD_TOO_LARGE`: over 4 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
}

pub(crate) fn mcp<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_post_mcp, post_mcp::<D>)
        .and(__path_get_mcp, get_mcp::<D>)
        .and(__path_delete_mcp, delete_mcp::<D>)
        .without_head()
        .accepting_proxy_tokens()
}

pub(crate) fn sse<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_get_sse, get_sse::<D>).without_head().accepting_proxy_tokens()
}

pub(crate) fn messages<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_post_messages, post_messages::<D>).accepting_proxy_tokens()
}

pub(crate) fn reauthorize<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_post_reauthorize, post_reauthorize::<D>)
}

/// Whom a proxy call acts for, and on which connection: the engine (its key and
/// `X-End-User-Id`), or the owner a proxy token of this very connection names.
struct ProxyCaller {
    owner: Owner,
    ref_id: RefId,
}

impl ProxyCaller {
    async fn of<D: Deps>(req: HttpRequest) -> Result<Self, ApiError> {
        let refused = || ApiError::new(ErrorCode::InvalidKey, "missing, unknown or expired proxy token");
        let Some(token) = take_bearer(&req) else {
            let Caller(owner) = Caller::extract(&req).await?;
            return Ok(Self { owner, ref_id: parse_ref_id(req.match_info().get("ref_id").unwrap_or_default())? });
        };
        if req.headers().contains_key(END_USER_HEADER) {
            return Err(ApiError::validation(
                END_USER_HEADER,
                format!("{END_USER_HEADER}: not with a proxy token, which acts for its own user"),
            ));
        }
        let state = req.app_data::<web::Data<ApiState<D>>>().ok_or_else(ApiError::internal)?;
        // A malformed ref id cannot be the token's: refused as any other connection's would be.
        let ref_id = parse_ref_id(req.match_info().get("ref_id").unwrap_or_default()).map_err(|_| refused())?;
        let owner = state.directory.proxy_token_owner(&token, &ref_id).ok_or_else(refused)?;
        Ok(Self { owner, ref_id })
    }
}

/// [`ProxyCaller`] for the endpoints of `Directory<D>`.
struct ProxyCallerFor<D> {
    owner: Owner,
    ref_id: RefId,
    _deps: std::marker::PhantomData<fn() -> D>,
}

impl<D: Deps> FromRequest for ProxyCallerFor<D> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ProxyCaller { owner, ref_id } = ProxyCaller::of::<D>(req).await?;
            Ok(Self { owner, ref_id, _deps: std::marker::PhantomData })
        })
    }
}

/// Streamable HTTP: a JSON-RPC message to the server; the answer is JSON or an event stream.
#[utoipa::path(post, path = "/assets/connections/{ref_id}/mcp", tag = "proxy",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    request_body(content = String, content_type = "application/json", description = "A JSON-RPC message, passed as it is."),
    responses(
        (status = 200, description = "The MCP server's answer as it came (any status of its own passes too)."),
        Refusals, BodyRefusals,
    ))]
async fn post_mcp<D: Deps>(
    state: web::Data<ApiState<D>>,
    req: HttpRequest,
    caller: ProxyCallerFor<D>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    forward(&state, &req, caller, UpstreamMethod::Post, ProxyTarget::Streamable, body).await
}

/// Streamable HTTP: the server's stream of messages (resumed with `Last-Event-ID`).
#[utoipa::path(get, path = "/assets/connections/{ref_id}/mcp", tag = "proxy",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    responses(
        (status = 200, description = "The MCP server's `text/event-stream`, streamed as it comes."),
        Refusals,
    ))]
async fn get_mcp<D: Deps>(
    state: web::Data<ApiState<D>>,
    req: HttpRequest,
    caller: ProxyCallerFor<D>,
) -> Result<HttpResponse, ApiError> {
    forward(&state, &req, caller, UpstreamMethod::Get, ProxyTarget::Streamable, Bytes::new()).await
}

/// Streamable HTTP: ends the session `Mcp-Session-Id` names.
#[utoipa::path(delete, path = "/assets/connections/{ref_id}/mcp", tag = "proxy",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    responses(
        (status = 200, description = "The MCP server's answer."),
        Refusals,
    ))]
async fn delete_mcp<D: Deps>(
    state: web::Data<ApiState<D>>,
    req: HttpRequest,
    caller: ProxyCallerFor<D>,
) -> Result<HttpResponse, ApiError> {
    forward(&state, &req, caller, UpstreamMethod::Delete, ProxyTarget::Streamable, Bytes::new()).await
}

/// Legacy HTTP+SSE: the server's event stream; its `endpoint` event names this proxy's
/// `messages` instead of the server.
#[utoipa::path(get, path = "/assets/connections/{ref_id}/sse", tag = "proxy",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    responses(
        (status = 200, description = "The server's `text/event-stream`, its `endpoint` event rewritten."),
        Refusals,
    ))]
async fn get_sse<D: Deps>(
    state: web::Data<ApiState<D>>,
    req: HttpRequest,
    caller: ProxyCallerFor<D>,
) -> Result<HttpResponse, ApiError> {
    forward(&state, &req, caller, UpstreamMethod::Get, ProxyTarget::SseStream, Bytes::new()).await
}

#[derive(Debug, Deserialize)]
struct MessagesQuery {
    endpoint: Option<String>,
}

/// Legacy HTTP+SSE: a message, posted where the stream's `endpoint` event said.
#[utoipa::path(post, path = "/assets/connections/{ref_id}/messages", tag = "proxy",
    params(
        ("ref_id" = String, Path, description = "The connection's id (`conn-…`)."),
        ("endpoint" = String, Query, description = "As the rewritten `endpoint` event gave it."),
    ),
    request_body(content = String, content_type = "application/json", description = "A JSON-RPC message."),
    responses(
        (status = 202, description = "The MCP server's answer (its own status)."),
        Refusals, BodyRefusals,
    ))]
async fn post_messages<D: Deps>(
    state: web::Data<ApiState<D>>,
    req: HttpRequest,
    caller: ProxyCallerFor<D>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<MessagesQuery>::from_query(req.query_string())
        .map_err(|_| ApiError::invalid_request("the query does not parse"))?;
    let missing = || ApiError::validation(ENDPOINT_PARAM, "endpoint: the value this connection's stream gave");
    let path = query.endpoint.as_deref().and_then(|sealed| state.directory.open_endpoint(&caller.ref_id, sealed));
    let path = path.ok_or_else(missing)?;
    let body = read_body(payload).await?;
    forward(&state, &req, caller, UpstreamMethod::Post, ProxyTarget::SseMessage(path), body).await
}

/// Asks the user to grant the connection more scopes: the union of those it holds and
/// `scopes`. Its token keeps serving until the callback replaces it (same `ref_id`). An
/// `expired` or `failed` connection is reconnected in place instead.
#[utoipa::path(post, path = "/assets/connections/{ref_id}/reauthorize", tag = "connections",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    request_body(content = ReauthorizeBody, description = "`{}` asks again for the scopes held."),
    responses(
        (status = 200, description = "The consent to send the user to.", body = ReauthorizeResponse),
        (status = 400, description = "`INVALID_REQUEST`: not a JSON object", body = ErrorBody),
        (status = 404, description = "`CONNECTION_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`STEP_UP_LIMIT`, or `RECONNECT_IN_PROGRESS`", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: not an OAuth connection a user authorized", body = ErrorBody),
        (status = 502, description = "`MCP_CONNECTION_FAILED`: discovery failed", body = ErrorBody),
    ))]
async fn post_reauthorize<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
    JsonObject(body): JsonObject<ReauthorizeBody>,
) -> Result<HttpResponse, ApiError> {
    let ref_id = parse_ref_id(&path)?;
    let scopes = body.scopes()?;
    let started = state.directory.reauthorize(&owner, &ref_id, scopes, body.return_to).await?;
    Ok(HttpResponse::Ok().json(ReauthorizeResponse {
        ref_id: started.ref_id.to_string(),
        status: started.status.as_str(),
        auth_url: started.auth_url,
    }))
}

/// The request body, whole, up to [`MAX_PROXY_BODY_BYTES`].
async fn read_body(mut payload: web::Payload) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match BodyTimedOut::caused(&e) {
            true => BodyTimedOut::answer(),
            false => ApiError::invalid_request("the request body could not be read"),
        })?;
        if body.len() + chunk.len() > MAX_PROXY_BODY_BYTES {
            return Err(ApiError::new(ErrorCode::PayloadTooLarge, "the body is larger than 4 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The one forwarding path of every proxy route.
async fn forward<D: Deps>(
    state: &ApiState<D>,
    req: &HttpRequest,
    ProxyCallerFor { owner, ref_id, .. }: ProxyCallerFor<D>,
    method: UpstreamMethod,
    target: ProxyTarget,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let metrics = &state.metrics.proxy;
    metrics.bytes_in(body.len());
    let rewrite = target == ProxyTarget::SseStream;
    let request = ProxyRequest { method, target, headers: proxy_wire::to_server(req.headers()), body };
    let Proxied { connection, response } = match state.directory.proxy(&owner, &ref_id, request).await {
        Ok(proxied) => proxied,
        Err(ProxyFailure { server_name, error }) => {
            let server = server_name.as_ref().map_or("unknown", |name| server_label(state, name));
            let error = ApiError::from(error);
            metrics.call(server, failure_outcome(error.code));
            return Err(error);
        }
    };
    metrics.call(server_label(state, &connection.server_name), ProxyOutcome::of_status(response.status));
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut answer = HttpResponse::build(status);
    for (name, value) in response.headers.iter().filter(|(name, _)| proxy_wire::to_client(name)) {
        answer.append_header((name.as_str(), value.as_str()));
    }
    answer.insert_header(("Cache-Control", "no-store"));
    // A length the server stated is kept (no chunked framing), unless the body is rewritten.
    let length = response.content_length.filter(|_| !rewrite);
    let open = metrics.stream_opened();
    let proxy_metrics = state.metrics.clone();
    // Only a legacy stream's answer is rewritten, so only its URL is parsed.
    let mut rewriter = if rewrite && (200..300).contains(&response.status) {
        connection.url.as_deref().and_then(|url| Url::parse(url).ok()).map(|url| {
            let (directory, ref_id) = (state.directory.clone(), connection.ref_id.clone());
            EndpointRewriter::new(url, move |path: &str| directory.seal_endpoint(&ref_id, path))
        })
    } else {
        None
    };
    let stream = response.body.map(move |chunk| {
        let _open = &open;
        let chunk = chunk.map_err(StreamEnded::Upstream)?;
        let chunk = match rewriter.as_mut() {
            Some(rewriter) => rewriter.feed(chunk).map_err(|e| StreamEnded::Rewrite(e.to_string()))?,
            None => chunk,
        };
        proxy_metrics.proxy.bytes_out(chunk.len());
        Ok::<_, StreamEnded>(chunk)
    });
    match length {
        Some(length) => Ok(answer.body(actix_web::body::SizedStream::new(length, stream))),
        None => Ok(answer.streaming(stream)),
    }
}

/// Why an answer's stream ended early: the client sees the connection close.
#[derive(Debug, thiserror::Error)]
enum StreamEnded {
    #[error(transparent)]
    Upstream(UpstreamError),
    #[error("{0}")]
    Rewrite(String),
}

/// A catalog server's name, or `custom`: the metrics' label.
fn server_label<'a, D: Deps>(state: &'a ApiState<D>, name: &'a domain::ServerName) -> &'a str {
    if state.directory.catalog().get(name).is_some() { name.as_str() } else { "custom" }
}

fn failure_outcome(code: ErrorCode) -> ProxyOutcome {
    match code {
        ErrorCode::McpConnectionFailed => ProxyOutcome::Unreachable,
        ErrorCode::McpUpstreamTimeout => ProxyOutcome::Timeout,
        ErrorCode::McpTokenExpired => ProxyOutcome::TokenExpired,
        ErrorCode::InsufficientScope => ProxyOutcome::InsufficientScope,
        _ => ProxyOutcome::Refused,
    }
}
