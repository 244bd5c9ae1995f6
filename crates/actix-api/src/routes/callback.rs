//! The OAuth callback, reached two ways: the provider redirects the user's browser to
//! `GET /assets/oauth/callback` (no engine key: the single-use `state` authenticates it), or an
//! app posts the same parameters to `POST /assets/callback` (engine key required).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, Resource, ResponseError, web};
use app::{CallbackFailure, CallbackOutcome, Deps};
use serde_json::json;

use crate::dto::{CallbackParams, rfc3339};
use crate::{ApiError, ApiState};

pub(crate) fn browser_resource<D: Deps>() -> Resource {
    super::resource("/assets/oauth/callback").route(web::get().to(browser::<D>))
}

pub(crate) fn json_resource<D: Deps>() -> Resource {
    super::resource("/callback").route(web::post().to(json_body::<D>))
}

async fn browser<D: Deps>(state: web::Data<ApiState<D>>, query: web::Query<CallbackParams>) -> HttpResponse {
    let result = state.directory.complete_callback(query.into_inner().into()).await;
    let response = match result {
        Ok(CallbackOutcome { connection, return_to: Some(to) }) => {
            redirect(&to, &[("ref_id", connection.ref_id.as_str()), ("status", connection.status().as_str())])
        }
        Ok(outcome) => success_json(&outcome),
        Err(CallbackFailure { error, return_to: Some(to), ref_id }) => {
            let api = ApiError::from(error);
            let mut params = vec![("error", api.code)];
            if let Some(r) = &ref_id {
                params.push(("ref_id", r.as_str()));
            }
            redirect(&to, &params)
        }
        Err(failure) => ApiError::from(failure.error).error_response(),
    };
    protect(response)
}

async fn json_body<D: Deps>(state: web::Data<ApiState<D>>, body: web::Json<CallbackParams>) -> HttpResponse {
    let response = match state.directory.complete_callback(body.into_inner().into()).await {
        Ok(outcome) => success_json(&outcome),
        Err(failure) => ApiError::from(failure.error).error_response(),
    };
    protect(response)
}

fn success_json(outcome: &CallbackOutcome) -> HttpResponse {
    let c = &outcome.connection;
    HttpResponse::Ok().json(json!({
        "ref_id": c.ref_id.as_str(),
        "status": c.status().as_str(),
        "server_name": c.server_name.as_str(),
        "scopes": c.scopes.iter().collect::<Vec<_>>(),
        "expires_at": c.expires_at.map(rfc3339),
    }))
}

/// `302` to `to` (validated against the allowlist when the flow started) with `params` added.
fn redirect(to: &str, params: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(to) else {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error").error_response();
    };
    url.query_pairs_mut().extend_pairs(params);
    HttpResponse::Found().insert_header((header::LOCATION, url.as_str())).finish()
}

/// Callback answers are never cached and never leak the URL (which held the code) onward.
fn protect(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
