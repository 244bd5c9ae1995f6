//! The HTTP face of the server: authorize, token, revoke, and the failure switch.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use url::{Url, form_urlencoded};

use crate::config::{Failure, IssMode, TestClient, WRONG_ISSUER};
use crate::grants::{Form, OAuthFailure};
use crate::state::{AuthorizeRecord, Revocation, State, TokenRecord};

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking test thread must not wedge every later request.
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn oauth_error(failure: &OAuthFailure) -> HttpResponse {
    let status =
        actix_web::http::StatusCode::from_u16(failure.status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": failure.code, "error_description": failure.description}))
}

fn is_loopback_redirect(uri: &str) -> bool {
    Url::parse(uri)
        .is_ok_and(|u| u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")))
}

fn redirect_allowed(state: &State, client: &TestClient, uri: &str) -> bool {
    client.redirect_uris.iter().any(|r| r == uri)
        || (state.config.allow_loopback_redirects && is_loopback_redirect(uri))
}

/// `GET /authorize` with automatic consent, or after the consent page when it is on.
pub(crate) async fn authorize(state: web::Data<Shared>, query: web::Query<BTreeMap<String, String>>) -> HttpResponse {
    let params = query.into_inner();
    let mut st = lock(&state);
    st.authorize_log.push(AuthorizeRecord { params: params.clone() });
    if let Some(to) = &st.config.bounce_to {
        return bounce(to, &params);
    }
    let get = |name: &str| params.get(name).map(String::as_str);
    let Some(client) = get("client_id").and_then(|id| st.client(id)) else {
        return HttpResponse::BadRequest().body("unknown client_id");
    };
    let Some(redirect_uri) = get("redirect_uri").filter(|u| redirect_allowed(&st, &client, u)) else {
        return HttpResponse::BadRequest().body("redirect_uri is not registered");
    };
    let Ok(mut location) = Url::parse(redirect_uri) else {
        return HttpResponse::BadRequest().body("redirect_uri is not a URL");
    };
    if st.config.consent_page && get(CONSENT) != Some("allow") {
        return consent_page(&params);
    }
    let challenge = get("code_challenge").unwrap_or_default();
    let outcome = if get("response_type") != Some("code") {
        Err(("unsupported_response_type", "response_type must be code"))
    } else if challenge.is_empty() || get("code_challenge_method") != Some("S256") {
        Err(("invalid_request", "PKCE with S256 is required"))
    } else if st.config.deny {
        Err(("access_denied", "the user said no"))
    } else if st.config.refuse_client_id_urls && client.client_id.starts_with("https://") {
        Err(("unauthorized_client", "client ID metadata documents are not accepted here after all"))
    } else {
        let scope = st.config.granted_scope.clone().unwrap_or_else(|| get("scope").unwrap_or_default().to_owned());
        let resource = get("resource").map(str::to_owned);
        Ok(st.new_code(&client.client_id, redirect_uri, challenge, scope, resource))
    };
    {
        let mut pairs = location.query_pairs_mut();
        match &outcome {
            Ok(code) => pairs.append_pair("code", code),
            Err((error, description)) => {
                pairs.append_pair("error", error).append_pair("error_description", description)
            }
        };
        if let Some(s) = get("state") {
            pairs.append_pair("state", s);
        }
        match st.config.iss {
            IssMode::Correct => {
                pairs.append_pair("iss", &st.issuer);
            }
            IssMode::Wrong => {
                pairs.append_pair("iss", WRONG_ISSUER);
            }
            IssMode::Missing => {}
        }
    }
    HttpResponse::Found().insert_header((header::LOCATION, location.as_str())).finish()
}

/// The parameter the consent page's button adds to the authorization request.
const CONSENT: &str = "consent";

/// A page asking the person to allow access: a form that sends the same request again with
/// `consent=allow`.
fn consent_page(params: &BTreeMap<String, String>) -> HttpResponse {
    let escape = |s: &str| {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
    };
    let client = escape(params.get("client_id").map_or("", String::as_str));
    let hidden: String = params
        .iter()
        .filter(|(k, _)| k.as_str() != CONSENT)
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test authorization server</title></head>
<body style="font-family: sans-serif; margin: 2em"><h1>Test authorization server</h1>
<p><b>{client}</b> asks for access to your account.</p>
<form method="get" action="/authorize">{hidden}<button id="allow" name="{CONSENT}" value="allow">Allow</button></form>
</body></html>"#
    ))
}

/// The mix-up attacker's `/authorize`: to `to`, with the request's parameters `to` lacks.
fn bounce(to: &str, params: &BTreeMap<String, String>) -> HttpResponse {
    let Ok(mut location) = Url::parse(to) else {
        return HttpResponse::InternalServerError().body("bounce_to is not a URL");
    };
    let set: Vec<String> = location.query_pairs().map(|(k, _)| k.into_owned()).collect();
    location.query_pairs_mut().extend_pairs(params.iter().filter(|(k, _)| !set.contains(k)));
    HttpResponse::Found().insert_header((header::LOCATION, location.as_str())).finish()
}

/// The Basic credentials of a request, form-decoded as RFC 6749 §2.3.1 encodes them.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// The answer of a switched-on failure, after sleeping for [`Failure::Hang`].
async fn fail(state: &Shared, failure: Failure) -> HttpResponse {
    match failure {
        Failure::ServerError => HttpResponse::InternalServerError().body("internal error"),
        Failure::Garbage => {
            // A hostile server's words in a header too (oauth2 quotes the content type it refuses).
            HttpResponse::Ok()
                .content_type("text/html; note=call-555-0100")
                .body("<html><body>Login required</body></html>")
        }
        Failure::Hang => {
            let hang_for = lock(state).config.hang_for;
            tokio::time::sleep(hang_for).await;
            HttpResponse::ServiceUnavailable().body("woke up")
        }
        Failure::InvalidGrant => oauth_error(&OAuthFailure::new(400, "invalid_grant", "switched")),
        Failure::TooManyRequests => {
            HttpResponse::TooManyRequests().insert_header((header::RETRY_AFTER, "1")).body("slow down")
        }
        Failure::Refuse(code) => oauth_error(&OAuthFailure::new(400, code, "<b>call +1 555 0100</b> now")),
        Failure::Redirect => HttpResponse::Found()
            .insert_header((header::LOCATION, format!("{}/redirected", lock(state).issuer)))
            .finish(),
    }
}

/// `POST /token`.
pub(crate) async fn token(state: web::Data<Shared>, req: HttpRequest, form: web::Form<Form>) -> HttpResponse {
    let (failure, delay) = {
        let mut st = lock(&state);
        st.counters.token_requests += 1;
        (st.config.token_failure, st.config.token_delay)
    };
    if let Some(failure) = failure {
        return fail(&state, failure).await;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let form = form.into_inner();
    let (result, answer_delay) = {
        let mut st = lock(&state);
        let mut record = TokenRecord {
            grant_type: form.get("grant_type").cloned(),
            client_id: None,
            auth: None,
            resource: form.get("resource").cloned(),
            error: None,
        };
        let result = st.authenticate(basic_credentials(req.headers()), &form).and_then(|(client, auth)| {
            record.client_id = Some(client.client_id.clone());
            record.auth = Some(auth);
            st.grant(&client, &form)
        });
        record.error = result.as_ref().err().map(|f| f.code.to_owned());
        st.token_log.push(record);
        (result, st.config.answer_delay)
    };
    if !answer_delay.is_zero() {
        tokio::time::sleep(answer_delay).await;
    }
    match result {
        Ok(body) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body),
        Err(failure) => oauth_error(&failure),
    }
}

/// `POST /revoke` (RFC 7009): always `200` for an authenticated client, known token or not.
pub(crate) async fn revoke(
    state: web::Data<Shared>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let failure = lock(&state).config.revoke_failure;
    if let Some(failure) = failure {
        return fail(&state, failure).await;
    }
    let mut st = lock(&state);
    if let Err(failure) = st.authenticate(basic_credentials(req.headers()), &form) {
        return oauth_error(&failure);
    }
    let Some(token) = form.get("token") else {
        return oauth_error(&OAuthFailure::new(400, "invalid_request", "token is missing"));
    };
    let kind = st.revoke_token(token);
    st.revocations.push(Revocation { token: token.clone(), hint: form.get("token_type_hint").cloned(), kind });
    HttpResponse::Ok().finish()
}

/// `/redirected`: where [`Failure::Redirect`] points; counts whoever followed.
pub(crate) async fn redirected(state: web::Data<Shared>) -> HttpResponse {
    lock(&state).counters.redirect_follows += 1;
    HttpResponse::Ok().json(json!({"access_token": "followed-a-redirect", "token_type": "Bearer"}))
}
