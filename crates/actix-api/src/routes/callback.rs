//! The OAuth callback, reached two ways: the provider redirects the user's browser to
//! `GET /assets/oauth/callback` or, for an authorization server found by discovery,
//! `GET /assets/oauth/callback/{key}` (no engine key: the single-use `state` authenticates it), or
//! an app posts the same parameters to `POST /assets/callback` (engine key required), naming
//! the redirect URI the browser arrived at. A flow completes only at its own redirect URI.
//!
//! The browser callback answers a `302` to the flow's `return_to` when it has one; otherwise
//! a small HTML page when the browser prefers `text/html`, and JSON for everyone else.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use app::{CallbackFailure, CallbackOutcome, Deps};
use domain::Connection;
use tracing_actix_web::RequestId;

use super::callback_page;
use crate::dto::{CallbackParams, CallbackResponse};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::extract::strict_body;
use crate::{ApiError, ApiState, Caller, cookies};

/// No `HEAD`: this `GET` spends the flow's single-use `state`, which a probe or a link checker
/// must not do.
pub(crate) fn browser<D: Deps>() -> Endpoint {
    Endpoint::public(__path_oauth_redirect, oauth_redirect::<D>).without_head()
}

/// The browser callback of one authorization server found by discovery (RFC 9700 §4.4.2).
pub(crate) fn browser_per_issuer<D: Deps>() -> Endpoint {
    Endpoint::public(__path_oauth_redirect_per_issuer, oauth_redirect_per_issuer::<D>).without_head()
}

pub(crate) fn json<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_complete_from_json, complete_from_json::<D>)
}

/// The OAuth redirect target. Without a key: the single-use `state` authenticates the call.
///
/// With the flow's `return_to`: `302` there with `ref_id` and `status` (or `error` and `ref_id`)
/// added. Otherwise JSON, or a small HTML page ("Connected to Linear. You can close this window.")
/// when `Accept` prefers `text/html`. Always `Cache-Control: no-store` and
/// `Referrer-Policy: no-referrer`.
#[utoipa::path(get, path = "/assets/oauth/callback", tag = "oauth", params(CallbackParams), responses(
    (status = 200, description = "Connected.", content(
        (CallbackResponse = "application/json"),
        (String = "text/html", example = "<h1>Connected to Linear.</h1><p>You can close this window.</p>"),
    )),
    (status = 302, description = "To the flow's `return_to`, with `ref_id` and `status` or `error` added.",
        headers(("Location" = String, description = "The `return_to` URL with the outcome in its query."))),
    (status = 400, description = "`INVALID_REQUEST`, `INVALID_STATE` (also: the flow's redirect URI is another), \
        `ISSUER_MISMATCH`, `OAUTH_ACCESS_DENIED` (an HTML page with the code for a browser)", body = ErrorBody),
    (status = 502, description = "`MCP_CONNECTION_FAILED`", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn oauth_redirect<D: Deps>(
    req: HttpRequest,
    state: web::Data<ApiState<D>>,
    query: web::Query<CallbackParams>,
) -> HttpResponse {
    complete_in_browser(&req, &state, query.into_inner(), None).await
}

/// The redirect target of one authorization server found by discovery: `{key}` is derived from
/// its issuer. Answers as `GET /assets/oauth/callback` does; a flow started for another
/// redirect URI is refused (`INVALID_STATE`) before anything is sent to a token endpoint.
#[utoipa::path(get, path = "/assets/oauth/callback/{key}", tag = "oauth",
    params(("key" = String, Path, description = "32 lowercase hex characters, from the issuer."), CallbackParams),
    responses(
        (status = 200, description = "Connected.", body = CallbackResponse),
        (status = 302, description = "To the flow's `return_to`, with `ref_id` and `status` or `error` added."),
        (status = 400, description = "As `GET /assets/oauth/callback`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: `key` is not 32 lowercase hex characters.", body = ErrorBody),
        (status = "5XX", description = "As `GET /assets/oauth/callback`: `502 MCP_CONNECTION_FAILED`, \
            `503 SERVICE_UNAVAILABLE`.", body = ErrorBody),
    ))]
async fn oauth_redirect_per_issuer<D: Deps>(
    req: HttpRequest,
    state: web::Data<ApiState<D>>,
    key: web::Path<String>,
    query: web::Query<CallbackParams>,
) -> HttpResponse {
    if !app::is_issuer_key(&key) {
        return protect(ApiError::not_found().error_response());
    }
    complete_in_browser(&req, &state, query.into_inner(), Some(&key)).await
}

/// The browser callback, arrived at the redirect URI of issuer key `key` (the shared one for `None`).
async fn complete_in_browser<D: Deps>(
    req: &HttpRequest,
    state: &ApiState<D>,
    params: CallbackParams,
    key: Option<&str>,
) -> HttpResponse {
    let html = callback_page::prefers_html(req);
    let mut input = app::CallbackInput::from(params);
    input.redirect_uri = Some(state.directory.settings().callback_uri(key));
    // A flow started on the hosted connect page completes only in the browser holding its nonce.
    input.browser = cookies::read(req, cookies::BROWSER);
    let result = state.directory.complete_callback(input).await;
    let response = match result {
        Ok(CallbackOutcome { connection, return_to: Some(to) }) => {
            redirect(&to, &[("ref_id", connection.ref_id.as_str()), ("status", connection.status().as_str())])
        }
        Ok(outcome) if html => callback_page::connected(&display_name(state, &outcome.connection)),
        Ok(outcome) => HttpResponse::Ok().json(CallbackResponse::from(&outcome)),
        Err(CallbackFailure { error, return_to: Some(to), ref_id, .. }) => {
            let api = ApiError::from(error);
            let mut params = vec![("error", api.code.as_str())];
            if let Some(r) = &ref_id {
                params.push(("ref_id", r.as_str()));
            }
            redirect(&to, &params)
        }
        Err(failure) if html => {
            let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
            callback_page::failed(&ApiError::from(failure.error), request_id.as_deref())
        }
        Err(failure) => ApiError::from(failure.error).error_response(),
    };
    protect(response)
}

/// Completes an OAuth flow from an app that received the provider's parameters itself.
#[utoipa::path(post, path = "/assets/callback", tag = "oauth", request_body = CallbackParams, responses(
    (status = 200, description = "Connected.", body = CallbackResponse),
    (status = 400, description = "`INVALID_REQUEST`, `INVALID_STATE`, `ISSUER_MISMATCH`, `OAUTH_ACCESS_DENIED`",
        body = ErrorBody),
    (status = 408, description = "`REQUEST_TIMEOUT`: the body stalled (the connection is closed)", body = ErrorBody),
    (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = ErrorBody),
    (status = 422, description = "`VALIDATION_ERROR`: a field the body does not have (named in `details.field`)",
        body = ErrorBody),
    (status = 502, description = "`MCP_CONNECTION_FAILED`", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn complete_from_json<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    body: web::Json<Box<serde_json::value::RawValue>>,
) -> HttpResponse {
    let params: CallbackParams = match strict_body(&body) {
        Ok(params) => params,
        Err(refusal) => return protect(refusal.error_response()),
    };
    // Relayed with the engine's key: only a flow of the caller's owner completes.
    let input = app::CallbackInput { owner: Some(owner), ..params.into() };
    let response = match state.directory.complete_callback(input).await {
        Ok(outcome) => HttpResponse::Ok().json(CallbackResponse::from(&outcome)),
        Err(failure) => ApiError::from(failure.error).error_response(),
    };
    protect(response)
}

/// The name the user knows the server by.
fn display_name<D: Deps>(state: &ApiState<D>, connection: &Connection) -> String {
    connection
        .display_name
        .clone()
        .or_else(|| state.directory.catalog().get(&connection.server_name).map(|e| e.spec.display_name.clone()))
        .unwrap_or_else(|| connection.server_name.to_string())
}

/// `302` to `to` (validated against the allowlist when the flow started) with `params` added.
fn redirect(to: &str, params: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(to) else {
        return ApiError::internal().error_response();
    };
    url.query_pairs_mut().extend_pairs(params);
    HttpResponse::Found().insert_header((header::LOCATION, url.as_str())).finish()
}

/// Callback answers (and the connect page's) are never cached and never leak the URL (which held
/// the code) onward.
pub(crate) fn protect(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
