//! The caller's connections (its tenant's, for its end user): list, read, disconnect,
//! credentials and audit history. A ref id of another owner answers exactly as one that never
//! existed: `404 CONNECTION_NOT_FOUND`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::http::header::{self, ContentType};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use app::Deps;
use domain::{Connection, Owner};
use secrecy::ExposeSecret;

use super::parse_ref_id;
use crate::dto::{ConnectionDto, CredentialsResponse, DisconnectResponse, EventDto, ProxyAccess, rfc3339};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::paging::{self, ConnectionListParams};
use crate::{ApiError, ApiState, Caller};

pub(crate) fn list<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_list_connections, list_connections::<D>)
}

pub(crate) fn one<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_get_connection, get_connection::<D>).and(__path_disconnect, disconnect::<D>)
}

pub(crate) fn credentials<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_get_credentials, get_credentials::<D>)
}

pub(crate) fn events<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_list_events, list_events::<D>)
}

/// The user's connections, oldest first, a page at a time; never a secret.
#[utoipa::path(get, path = "/assets/connections", tag = "connections", params(ConnectionListParams), responses(
    (status = 200, description = "One page of the caller's user's connections, oldest first.", body = [ConnectionDto],
        headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page's URL; absent on the last page."))),
    (status = 422, description = "`VALIDATION_ERROR`: a query parameter (`details.field` names it)", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn list_connections<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    connections_page(&state, &owner, &req).await
}

/// One page of `owner`'s connections as `req`'s query asks, with the `Link` to the next.
pub(crate) async fn connections_page<D: Deps>(
    state: &ApiState<D>,
    owner: &Owner,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = paging::connection_query(req)?;
    let page = state.directory.list_connections(owner, &query).await?;
    let body =
        state.listing_body.json(&page.connections).map_err(|e| ApiError::from(app::Error::Internal(Box::new(e))))?;
    let mut response = HttpResponse::Ok();
    if let Some(next) = &page.next {
        response.insert_header((header::LINK, paging::next_connections(req, &query, next)));
    }
    Ok(response.content_type(ContentType::json()).body(body))
}

/// The JSON of the last listing served, kept with the listing it was written from. Callers
/// that shared a store read (see `Directory::list_connections`) hold the same `Arc`, so the
/// listing is serialized once for all of them.
#[derive(Default)]
pub(crate) struct ListingBody(Mutex<Option<(Arc<[Connection]>, Bytes)>>);

impl ListingBody {
    fn json(&self, connections: &Arc<[Connection]>) -> serde_json::Result<Bytes> {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((listing, body)) = &*last
            && Arc::ptr_eq(listing, connections)
        {
            return Ok(body.clone());
        }
        let dtos: Vec<ConnectionDto> = connections.iter().map(ConnectionDto::from).collect();
        let body = Bytes::from(serde_json::to_vec(&dtos)?);
        *last = Some((Arc::clone(connections), body.clone()));
        Ok(body)
    }
}

/// One connection.
#[utoipa::path(get, path = "/assets/connections/{ref_id}", tag = "connections",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    responses(
        (status = 200, description = "The connection.", body = ConnectionDto),
        (status = 404, description = "`CONNECTION_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn get_connection<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let connection = state.directory.get_connection(&owner, &parse_ref_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(ConnectionDto::from(&connection)))
}

/// Disconnects: deletes the connection and its secrets, then revokes the tokens at the provider
/// (best effort, bounded; the outcome is in the audit log).
#[utoipa::path(delete, path = "/assets/connections/{ref_id}", tag = "connections",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    responses(
        (status = 200, description = "Gone.", body = DisconnectResponse),
        (status = 404, description = "`CONNECTION_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn disconnect<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ref_id = parse_ref_id(&path)?;
    state.directory.disconnect(&owner, &ref_id).await?;
    Ok(HttpResponse::Ok().json(DisconnectResponse { status: "disconnected", ref_id: ref_id.to_string() }))
}

/// A ready-to-use credential for the engine's outbound MCP call, refreshed first when the token
/// expires within 60 s. The one answer that carries a secret: never cached, never logged.
#[utoipa::path(get, path = "/assets/connections/{ref_id}/credentials", tag = "connections",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    responses(
        (status = 200, description = "The credential (`Cache-Control: no-store`).", body = CredentialsResponse),
        (status = 401, description = "`MCP_TOKEN_EXPIRED`: reconnect", body = ErrorBody),
        (status = 404, description = "`CONNECTION_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`CONNECTION_NOT_READY`", body = ErrorBody),
        (status = 502, description = "`MCP_CONNECTION_FAILED` (the refresh failed)", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn get_credentials<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = state.directory.credentials(&owner, &parse_ref_id(&path)?).await?;
    let c = &credential.connection;
    // A connection that is not exportable hands out only its proxy token.
    let exportable = state.directory.exports_secret(c);
    let headers: BTreeMap<String, String> = match exportable {
        true => {
            credential.headers.iter().map(|(name, value)| (name.clone(), value.expose_secret().to_owned())).collect()
        }
        false => BTreeMap::new(),
    };
    let proxy = proxy_path(c).map(|route| {
        let issued = state.directory.issue_proxy_token(c);
        ProxyAccess {
            url: format!("{}/assets/connections/{}/{route}", state.directory.settings().public_base_url(), c.ref_id),
            token: issued.token.expose_secret().to_owned(),
            expires_at: rfc3339(issued.expires_at),
        }
    });
    let body = CredentialsResponse {
        ref_id: c.ref_id.to_string(),
        server_name: c.server_name.to_string(),
        url: c.url.clone(),
        transport: c.transport.as_str(),
        headers,
        expires_at: c.expires_at.map(rfc3339),
        exportable,
        proxy,
    };
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body))
}

/// The proxy route of `connection`'s transport: `mcp`, `sse`, or none for a stdio server.
fn proxy_path(connection: &Connection) -> Option<&'static str> {
    match connection.transport {
        domain::Transport::StreamableHttp => Some("mcp"),
        domain::Transport::Sse => Some("sse"),
        domain::Transport::Stdio => None,
    }
}

/// The connection's audit history, oldest first.
#[utoipa::path(get, path = "/assets/connections/{ref_id}/events", tag = "connections",
    params(("ref_id" = String, Path, description = "The connection's id (`conn-…`).")),
    responses(
        (status = 200, description = "Its events.", body = [EventDto]),
        (status = 404, description = "`CONNECTION_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn list_events<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let events = state.directory.connection_events(&owner, &parse_ref_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(events.iter().map(EventDto::from).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use domain::{AuthMethod, NewConnection, RefId, ServerName, Timestamp, Transport};

    use super::*;

    fn listing(count: u8) -> Arc<[Connection]> {
        (1..=count)
            .map(|n| {
                let new = NewConnection {
                    ref_id: RefId::from_random([n; 16]),
                    owner: Owner::default_owner(),
                    server_name: ServerName::parse("acme").unwrap(),
                    label: None,
                    display_name: None,
                    url: None,
                    transport: Transport::StreamableHttp,
                    auth_method: AuthMethod::ApiKey,
                    exportable: true,
                };
                Connection::connected(new, Timestamp::from_unix(1_800_000_000))
            })
            .collect()
    }

    #[test]
    fn one_listing_is_serialized_once_and_another_listing_anew() {
        let body = ListingBody::default();
        let shared = listing(1);
        let first = body.json(&shared).unwrap();
        assert_eq!(body.json(&shared).unwrap().as_ptr(), first.as_ptr(), "the same bytes, not a copy");

        // Another read, even of the same rows, is written again.
        let again = body.json(&listing(1)).unwrap();
        assert_ne!(again.as_ptr(), first.as_ptr());
        assert_eq!(again, first);
        let grown = body.json(&listing(2)).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&grown).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(2));
    }
}
