//! `POST /assets/connect-sessions`: the engine's backend opens a connect session for one of its
//! users, and hands its token (or its `connect_url`) to a browser front end, which never sees
//! the engine key.

use actix_web::{HttpResponse, web};
use app::{Deps, SessionRequest};
use domain::ServerName;
use secrecy::{ExposeSecret, SecretString};

use super::connect_page::PAGE_PATH;
use crate::dto::{SessionBody, SessionResponse, rfc3339};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::extract::JsonObject;
use crate::{ApiError, ApiState, Caller};

pub(crate) fn open<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_open_session, open_session::<D>)
}

/// Opens a connect session for the caller's user: a token a browser front end presents to
/// `POST /assets/connect` as `Authorization: Bearer …`, and the hosted connect page at
/// `connect_url`. It starts connections only for the allowed catalog servers (any catalog
/// server when `allowed_servers` is absent), as this user, until `expires_at`.
#[utoipa::path(post, path = "/assets/connect-sessions", tag = "connections", request_body = SessionBody, responses(
    (status = 200, description = "Opened. The token is shown this once.", body = SessionResponse),
    (status = 400, description = "`INVALID_REQUEST`", body = ErrorBody),
    (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = ErrorBody),
    (status = 422, description = "`VALIDATION_ERROR`: an allowed server not in the catalog, or a `return_to` \
        outside `RETURN_URL_ALLOWLIST`", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn open_session<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    JsonObject(body): JsonObject<SessionBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed_servers = body
        .allowed_servers
        .map(|names| names.iter().map(|n| ServerName::parse(n)).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(|_| ApiError::validation("allowed_servers", "allowed_servers: each must be a server name"))?;
    if body.return_to.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::validation("return_to", "return_to: must not be empty"));
    }
    let request = SessionRequest { owner, allowed_servers, return_to: body.return_to };
    let opened = state.directory.open_session(request).await?;
    let connect_url = entry_url(&state.directory.settings().redirect_base_url, &opened.token);
    Ok(HttpResponse::Ok().json(SessionResponse {
        session_token: opened.token,
        expires_at: rfc3339(opened.expires_at),
        connect_url,
    }))
}

/// Where the hosted connect page of the session with `token` is entered: the token rides in the
/// query once (the page moves it into a cookie and goes on to a URL without it).
fn entry_url(base_url: &str, token: &SecretString) -> String {
    format!("{base_url}{PAGE_PATH}?session={}", token.expose_secret())
}
