//! `GET /oauth/client-metadata.json`: the service's OAuth Client ID Metadata Document (spec
//! §5.3), which authorization servers that support such documents fetch to learn who the client
//! `https://<public base>/oauth/client-metadata.json` is. No key: an authorization server calls it.
//! Served only when the public base URL is https; otherwise `NOT_FOUND`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use app::Deps;
use serde::Serialize;
use utoipa::ToSchema;

use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::{ApiError, ApiState};

pub(crate) fn document<D: Deps>() -> Endpoint {
    Endpoint::public(__path_client_metadata, client_metadata::<D>)
}

/// A public web client whose `client_id` is the document's own URL.
#[derive(Debug, Serialize, ToSchema)]
struct ClientMetadataDocument {
    #[schema(example = "https://directory.example/oauth/client-metadata.json")]
    client_id: String,
    client_name: &'static str,
    client_uri: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<&'static str>,
    response_types: Vec<&'static str>,
    #[schema(example = "none")]
    token_endpoint_auth_method: &'static str,
    #[schema(example = "web")]
    application_type: &'static str,
}

/// The service's OAuth Client ID Metadata Document.
#[utoipa::path(get, path = "/oauth/client-metadata.json", tag = "oauth", responses(
    (status = 200, description = "The document.", body = ClientMetadataDocument),
    (status = 404, description = "`NOT_FOUND`: the public base URL is not https, so no document is offered.",
        body = ErrorBody),
))]
async fn client_metadata<D: Deps>(state: web::Data<ApiState<D>>) -> Result<HttpResponse, ApiError> {
    let doc = state.directory.client_metadata().ok_or_else(ApiError::not_found)?;
    let body = ClientMetadataDocument {
        client_id: doc.client_id,
        client_name: doc.client_name,
        client_uri: doc.client_uri,
        redirect_uris: doc.redirect_uris,
        grant_types: doc.grant_types.to_vec(),
        response_types: doc.response_types.to_vec(),
        token_endpoint_auth_method: doc.token_endpoint_auth_method,
        application_type: doc.application_type,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
        .json(body))
}
