use std::collections::BTreeMap;

use actix_web::{HttpResponse, Resource, web};
use app::Deps;
use secrecy::ExposeSecret;
use serde_json::json;

use super::parse_ref_id;
use crate::dto::{ConnectionDto, rfc3339};
use crate::{ApiError, ApiState};

pub(crate) fn list_resource<D: Deps>() -> Resource {
    super::resource("/connections").route(web::get().to(list::<D>))
}

pub(crate) fn one_resource<D: Deps>() -> Resource {
    super::resource("/connections/{ref_id}").route(web::get().to(get::<D>)).route(web::delete().to(disconnect::<D>))
}

pub(crate) fn credentials_resource<D: Deps>() -> Resource {
    super::resource("/connections/{ref_id}/credentials").route(web::get().to(credentials::<D>))
}

pub(crate) fn events_resource<D: Deps>() -> Resource {
    super::resource("/connections/{ref_id}/events").route(web::get().to(events::<D>))
}

async fn list<D: Deps>(state: web::Data<ApiState<D>>) -> Result<HttpResponse, ApiError> {
    let connections = state.directory.list_connections().await?;
    Ok(HttpResponse::Ok().json(connections.iter().map(ConnectionDto::from).collect::<Vec<_>>()))
}

async fn get<D: Deps>(state: web::Data<ApiState<D>>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let connection = state.directory.get_connection(&parse_ref_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(ConnectionDto::from(&connection)))
}

async fn disconnect<D: Deps>(state: web::Data<ApiState<D>>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let ref_id = parse_ref_id(&path)?;
    state.directory.disconnect(&ref_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "disconnected", "ref_id": ref_id.as_str() })))
}

/// The one answer that carries a secret; it is never cached and never logged.
async fn credentials<D: Deps>(
    state: web::Data<ApiState<D>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = state.directory.credentials(&parse_ref_id(&path)?).await?;
    let c = &credential.connection;
    let headers: BTreeMap<&str, &str> =
        credential.headers.iter().map(|(name, value)| (name.as_str(), value.expose_secret())).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "ref_id": c.ref_id.as_str(),
        "server_name": c.server_name.as_str(),
        "url": c.url,
        "transport": c.transport.as_str(),
        "headers": headers,
        "expires_at": c.expires_at.map(rfc3339),
    })))
}

async fn events<D: Deps>(state: web::Data<ApiState<D>>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let events = state.directory.connection_events(&parse_ref_id(&path)?).await?;
    let body: Vec<_> =
        events.iter().map(|e| json!({ "event": e.kind.as_str(), "detail": e.detail, "at": rfc3339(e.at) })).collect();
    Ok(HttpResponse::Ok().json(body))
}
