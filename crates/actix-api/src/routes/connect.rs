use actix_web::{HttpResponse, web};
use app::{ConnectOutcome, ConnectRequest, CustomServer, Deps, GivenClientParts};
use domain::{Label, OAuthGrant, Owner, RegistrationMode, ServerName, SigningAlgorithm, Transport};

use crate::dto::{ConnectBody, ConnectResponse, ServerConfigBody};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::extract::JsonObject;
use crate::routes::parse_ref_id;
use crate::session_guard::{Acting, ActingFor};
use crate::{ApiError, ApiState};

pub(crate) fn connect<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_start_connection, start_connection::<D>).accepting_sessions()
}

/// Starts a connection: API-key and no-auth servers connect at once; OAuth servers answer an
/// `auth_url` for the user's browser. With `server_config.ref_id`, re-authorizes that expired or
/// failed OAuth connection in place instead.
///
/// A browser front end may call it with `Authorization: Bearer <session_token>` (a connect
/// session, `POST /assets/connect-sessions`) instead of `X-Engine-Key`: it then acts as the
/// session's user (no `X-End-User-Id`), only for a catalog server the session allows
/// (`422 VALIDATION_ERROR` otherwise, as for a custom server or `server_config.ref_id`); an
/// unknown or expired token is `401 INVALID_KEY`.
#[utoipa::path(post, path = "/assets/connect", tag = "connections", request_body = ConnectBody, responses(
    (status = 200, description = "Connected, or pending the user's consent at `auth_url`.", body = ConnectResponse),
    (status = 400, description = "`INVALID_REQUEST`", body = ErrorBody),
    (status = 401, description = "`INVALID_KEY`: no valid `X-Engine-Key`, nor an open connect session's bearer token", body = ErrorBody),
    (status = 404, description = "`SERVER_NOT_FOUND`, or `CONNECTION_NOT_FOUND` for an unknown `server_config.ref_id`", body = ErrorBody),
    (status = 408, description = "`REQUEST_TIMEOUT`: the body stalled (the connection is closed)", body = ErrorBody),
    (status = 409, description = "`RECONNECT_IN_PROGRESS`: another authorization of the `server_config.ref_id` \
        connection is under way or just changed it", body = ErrorBody),
    (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = ErrorBody),
    (status = 422, description = "`VALIDATION_ERROR`", body = ErrorBody),
    (status = 502, description = "`MCP_CONNECTION_FAILED` (discovery or registration)", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn start_connection<D: Deps>(
    ActingFor(acting, _): ActingFor<D>,
    state: web::Data<ApiState<D>>,
    JsonObject(mut body): JsonObject<ConnectBody>,
) -> Result<HttpResponse, ApiError> {
    let mut config = body.server_config()?;
    let outcome = match (acting, config.ref_id.take()) {
        (Acting::Engine(owner), Some(ref_id)) => {
            reconnect_in_place(&state.directory, &owner, body, config, &ref_id).await?
        }
        (Acting::Engine(owner), None) => state.directory.connect(parse(owner, body, config)?).await?,
        (Acting::Session(_), Some(_)) => {
            return Err(ApiError::validation(
                "server_config.ref_id",
                "a connect session starts new connections only; reconnecting takes the engine key",
            ));
        }
        (Acting::Session(session), None) => {
            let request = parse(session.owner.clone(), body, config)?;
            state.directory.connect_in_session(&session, request).await?
        }
    };
    Ok(HttpResponse::Ok().json(match outcome {
        ConnectOutcome::Connected { ref_id } => {
            ConnectResponse { ref_id: ref_id.to_string(), status: "connected", auth_url: None }
        }
        ConnectOutcome::PendingOAuth { ref_id, auth_url } => {
            ConnectResponse { ref_id: ref_id.to_string(), status: "pending_oauth", auth_url: Some(auth_url) }
        }
    }))
}

/// `server_config.ref_id` stands alone: a key or a URL with it is a mistake, not a hint.
async fn reconnect_in_place<D: Deps>(
    directory: &app::Directory<D>,
    owner: &Owner,
    body: ConnectBody,
    config: ServerConfigBody,
    ref_id: &str,
) -> Result<ConnectOutcome, ApiError> {
    let server_name =
        ServerName::parse(&body.server_name).map_err(|e| ApiError::validation("server_name", e.to_string()))?;
    if body.label.is_some() {
        return Err(ApiError::validation("label", "a connection keeps the label it was made with"));
    }
    if config.api_key.is_some()
        || config.url.is_some()
        || config.transport.is_some()
        || config.display_name.is_some()
        || config.client_registration.is_some()
        || config.grant_type.is_some()
        || config.client_id.is_some()
        || config.client_secret.is_some()
        || config.private_key_pem.is_some()
        || config.signing_algorithm.is_some()
        || config.issuer.is_some()
        || config.identity_assertion.is_some()
    {
        return Err(ApiError::validation("server_config.ref_id", "reconnecting takes no other server_config field"));
    }
    if body.return_to.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::validation("return_to", "return_to: must not be empty"));
    }
    Ok(directory.reconnect(owner, &server_name, &parse_ref_id(ref_id)?, body.return_to).await?)
}

fn parse(owner: Owner, body: ConnectBody, config: ServerConfigBody) -> Result<ConnectRequest, ApiError> {
    let server_name =
        ServerName::parse(&body.server_name).map_err(|e| ApiError::validation("server_name", e.to_string()))?;
    let custom = match config.url {
        // Only a custom server, named by its URL, takes these; a catalog server has its own.
        None => {
            let only_custom = [
                ("transport", config.transport.is_some()),
                ("display_name", config.display_name.is_some()),
                ("client_registration", config.client_registration.is_some()),
                ("grant_type", config.grant_type.is_some()),
                ("client_id", config.client_id.is_some()),
                ("client_secret", config.client_secret.is_some()),
                ("private_key_pem", config.private_key_pem.is_some()),
                ("signing_algorithm", config.signing_algorithm.is_some()),
                ("issuer", config.issuer.is_some()),
            ];
            if let Some((name, _)) = only_custom.into_iter().find(|(_, given)| *given) {
                return Err(ApiError::validation(
                    format!("server_config.{name}"),
                    format!("server_config.{name}: only with server_config.url (a catalog entry has its own)"),
                ));
            }
            None
        }
        Some(url) => Some(CustomServer {
            url,
            transport: parse_field(config.transport, "transport", Transport::parse)?,
            display_name: config.display_name,
            registration: parse_field(config.client_registration, "client_registration", RegistrationMode::parse)?
                .unwrap_or_default(),
            grant: parse_field(config.grant_type, "grant_type", OAuthGrant::parse)?.unwrap_or_default(),
            client: GivenClientParts {
                client_id: config.client_id,
                client_secret: config.client_secret,
                private_key_pem: config.private_key_pem,
                signing_algorithm: parse_field(config.signing_algorithm, "signing_algorithm", SigningAlgorithm::parse)?,
                issuer: config.issuer,
            },
        }),
    };
    if body.return_to.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::validation("return_to", "return_to: must not be empty"));
    }
    let label = body
        .label
        .as_deref()
        .map(Label::parse)
        .transpose()
        .map_err(|e| ApiError::validation("label", e.to_string()))?;
    Ok(ConnectRequest {
        owner,
        server_name,
        label,
        api_key: config.api_key,
        custom,
        return_to: body.return_to,
        browser: None,
        identity_assertion: config.identity_assertion.map(Into::into),
        exportable: body.exportable,
    })
}

/// `server_config.<name>` read with `parse`, when given.
fn parse_field<T>(
    value: Option<String>,
    name: &str,
    parse: fn(&str) -> Result<T, domain::ParseError>,
) -> Result<Option<T>, ApiError> {
    value
        .as_deref()
        .map(parse)
        .transpose()
        .map_err(|e| ApiError::validation(format!("server_config.{name}"), e.to_string()))
}
