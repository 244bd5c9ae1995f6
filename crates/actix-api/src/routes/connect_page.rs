//! The hosted connect page behind a connect session's `connect_url`, for the user's browser.
//!
//! `GET /assets/connect-page?session=<token>` (the first visit) moves the token into the
//! session cookie (`cookies.rs`) and sends the browser on to `/assets/connect-page`, so the token
//! stays out of access logs, history and `Referer`. That page lists the session's servers, each
//! with a Connect form posting to `/assets/connect-page/connect` with a CSRF token derived from
//! the session. An API-key server connects at once and the page says so (a `303` back, so a
//! reload posts nothing again); an OAuth server sends the browser to its provider with the
//! browser cookie set (`cookies.rs`), and the callback completes that flow only in this browser. A missing, unknown or expired session gets a page saying
//! so, or the contract's `401 INVALID_KEY` for a client that prefers JSON.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use app::{ConnectOutcome, ConnectRequest, Deps};
use domain::{ConnectSession, ServerName};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::callback::protect;
use super::callback_page::prefers_html;
use super::connect_page_view::{self as view, Notice};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::{ApiError, ApiState, ErrorCode, cookies};

/// The page, entered at `connect_url` (this path with `?session=`).
pub(crate) const PAGE_PATH: &str = "/assets/connect-page";

pub(crate) fn page<D: Deps>() -> Endpoint {
    Endpoint::public(__path_show_page, show_page::<D>).for_page_session()
}

pub(crate) fn connect<D: Deps>() -> Endpoint {
    Endpoint::public(__path_connect_from_page, connect_from_page::<D>).for_page_session()
}

/// The hosted connect page of a connect session. With `?session=` (how `connect_url` enters
/// it): sets the session cookie (`HttpOnly`, `SameSite=Strict`, `Path=/assets/connect-page`)
/// and answers a page that goes on at once to `/assets/connect-page` without the token.
/// Without: the session's servers, each with a Connect button, from the session cookie.
#[utoipa::path(get, path = "/assets/connect-page", tag = "connect page",
    params(
        ("session" = Option<String>, Query, description = "The session token, on the first visit only (`connect_url`)."),
        ("connected" = Option<String>, Query, description = "A server just connected, to say so."),
    ),
    responses(
        (status = 200, description = "The page (or, with `session`, the step that moves the token into a cookie).",
            content_type = "text/html", body = String,
            headers(("Set-Cookie" = String, description = "With `session`: the session cookie."))),
        (status = 401, description = "`INVALID_KEY`: no open session. A page for a browser, JSON otherwise.",
            body = ErrorBody),
    ))]
async fn show_page<D: Deps>(req: HttpRequest, state: web::Data<ApiState<D>>) -> HttpResponse {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let presented = match param("session") {
        Some(token) => Some(SecretString::from(token.to_owned())),
        None => cookies::read(&req, cookies::SESSION),
    };
    let (token, session) = match open_session(&state, presented).await {
        Ok(found) => found,
        Err(refusal) => return protect(refusal_for(&req, refusal)),
    };
    if param("session").is_some() {
        let left = state.directory.session_seconds_left(&session);
        let secure = cookies::secure(&state.directory.settings().redirect_base_url);
        let mut builder = HttpResponse::Ok();
        builder.insert_header((header::SET_COOKIE, cookies::session(token.expose_secret(), left, secure)));
        return protect(view::entering(builder, PAGE_PATH));
    }
    let servers = servers_of(&state, &session);
    let notice = param("connected")
        .and_then(|name| ServerName::parse(name).ok())
        .and_then(|name| servers.iter().find(|e| e.spec.name == name).map(|e| e.spec.display_name.as_str()))
        .map_or(Notice::None, Notice::Connected);
    protect(view::list(StatusCode::OK, &servers, &csrf_token(&token), &notice))
}

/// Connects one server of the page's session: the form's `server_name`, `csrf` and, for an
/// API-key server, `api_key` (never shown again, in no answer).
#[utoipa::path(post, path = "/assets/connect-page/connect", tag = "connect page",
    request_body(content_type = "application/x-www-form-urlencoded", content = String,
        description = "`csrf` (from the page), `server_name`, and `api_key` for an API-key server."),
    responses(
        (status = 200, description = "An OAuth server: a page that goes on at once to the provider's consent \
            page.", content_type = "text/html", body = String),
        (status = 303, description = "An API-key or no-auth server, connected: back to the page, which says so.",
            headers(("Location" = String, description = "`/assets/connect-page?connected=<server_name>`"))),
        (status = 400, description = "`INVALID_REQUEST`: the form's CSRF token is missing or not this session's; \
            nothing is connected.", body = ErrorBody),
        (status = 401, description = "`INVALID_KEY`: no open session.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR` and the other refusals of `POST /assets/connect`, on \
            the page.", content_type = "text/html", body = String),
    ))]
async fn connect_from_page<D: Deps>(req: HttpRequest, state: web::Data<ApiState<D>>, body: web::Bytes) -> HttpResponse {
    let (token, session) = match open_session(&state, cookies::read(&req, cookies::SESSION)).await {
        Ok(found) => found,
        Err(refusal) => return protect(refusal_for(&req, refusal)),
    };
    let form = PageForm::parse(&body);
    let expected = csrf_token(&token);
    let csrf_ok = form.csrf.as_deref().is_some_and(|c| bool::from(c.as_bytes().ct_eq(expected.as_bytes())));
    if !csrf_ok {
        let refusal = ApiError::invalid_request("the form is out of date or did not come from the connect page");
        return protect(if prefers_html(&req) { view::stale_form() } else { refusal.error_response() });
    }
    let servers = servers_of(&state, &session);
    // One nonce per browser (a second tab's flow keeps the first's working), renewed with each flow.
    let nonce = cookies::read(&req, cookies::BROWSER).unwrap_or_else(|| state.directory.new_browser_nonce());
    let outcome = match start(&state, &session, form, &nonce).await {
        Ok(outcome) => outcome,
        Err(error) => return protect(view::list(error.status(), &servers, &expected, &Notice::Failed(&error.message))),
    };
    protect(match outcome {
        (ConnectOutcome::Connected { .. }, name) => {
            let to = format!("{PAGE_PATH}?connected={}", name.as_str());
            HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
        }
        (ConnectOutcome::PendingOAuth { auth_url, .. }, name) => {
            let display = state.directory.catalog().get(&name).map_or(name.as_str(), |e| e.spec.display_name.as_str());
            let settings = state.directory.settings();
            let secure = cookies::secure(&settings.redirect_base_url);
            let cookie = cookies::browser(nonce.expose_secret(), settings.flow_ttl_seconds, secure);
            let mut builder = HttpResponseBuilder::new(StatusCode::OK);
            builder.insert_header((header::SET_COOKIE, cookie));
            view::leaving(builder, display, &auth_url)
        }
    })
}

/// The form's fields; a field sent twice counts as not sent.
#[derive(Default)]
struct PageForm {
    csrf: Option<String>,
    server_name: Option<String>,
    api_key: Option<SecretString>,
}

impl PageForm {
    fn parse(body: &[u8]) -> Self {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let one = |name: &str| {
            let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone());
            match (values.next(), values.next()) {
                (Some(v), None) => Some(v),
                _ => None,
            }
        };
        Self { csrf: one("csrf"), server_name: one("server_name"), api_key: one("api_key").map(SecretString::from) }
    }
}

/// Starts the connection the form asks for, as the session's user.
async fn start<D: Deps>(
    state: &ApiState<D>,
    session: &ConnectSession,
    form: PageForm,
    nonce: &SecretString,
) -> Result<(ConnectOutcome, ServerName), ApiError> {
    let server_name = form
        .server_name
        .as_deref()
        .and_then(|n| ServerName::parse(n).ok())
        .ok_or_else(|| ApiError::validation("server_name", "server_name: choose a server on the page"))?;
    let request = ConnectRequest {
        owner: session.owner.clone(),
        server_name: server_name.clone(),
        label: None,
        // An empty field is no key (the connect then says one is required).
        api_key: form.api_key.filter(|k| !k.expose_secret().is_empty()),
        custom: None,
        return_to: None,
        // An OAuth flow completes only in this browser, whose cookie holds the nonce.
        browser: Some(nonce.clone()),
        identity_assertion: None,
        exportable: None,
    };
    Ok((state.directory.connect_in_session(session, request).await?, server_name))
}

/// The open session `presented` names, with its token.
async fn open_session<D: Deps>(
    state: &ApiState<D>,
    presented: Option<SecretString>,
) -> Result<(SecretString, ConnectSession), ApiError> {
    let refused = || ApiError::new(ErrorCode::InvalidKey, "missing, unknown or expired connect session");
    let token = presented.ok_or_else(refused)?;
    let session = state.directory.session_by_token(token.expose_secret()).await?.ok_or_else(refused)?;
    Ok((token, session))
}

/// The session's servers of the catalog that can be connected now, in catalog order.
fn servers_of<'a, D: Deps>(state: &'a ApiState<D>, session: &ConnectSession) -> Vec<&'a app::CatalogEntry> {
    let catalog = state.directory.catalog().entries();
    // An identity assertion entry needs the user's ID token, which only the engine holds.
    let needs_an_id_token = |e: &app::CatalogEntry| matches!(&e.spec.auth, domain::AuthSpec::OAuth(o) if o.grant == domain::OAuthGrant::IdentityAssertion);
    catalog.iter().filter(|e| e.is_available() && session.allows(&e.spec.name) && !needs_an_id_token(e)).collect()
}

/// The page's CSRF token: derived from the session token (which no other site can read), so it
/// needs no storage and differs from the token's stored hash.
fn csrf_token(token: &SecretString) -> String {
    let mut digest = Sha256::new();
    digest.update(b"asset-directory connect page csrf\0");
    digest.update(token.expose_secret().as_bytes());
    hex::encode(digest.finalize())
}

/// A refusal as a page for a browser, as JSON for anyone else.
fn refusal_for(req: &HttpRequest, refusal: ApiError) -> HttpResponse {
    match refusal.code {
        ErrorCode::InvalidKey if prefers_html(req) => view::expired(),
        _ => refusal.error_response(),
    }
}
