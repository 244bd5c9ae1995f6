//! `GET /oauth/client-metadata.json` and `GET /oauth/client-metadata/{key}.json`: the service's
//! OAuth Client ID Metadata Documents (spec §5.3), which authorization servers that support such
//! documents fetch to learn who the client `https://<public base>/oauth/client-metadata….json`
//! is. One per issuer key, each naming that key's redirect URI (RFC 9700 §4.4.2); the shared one
//! names `/assets/oauth/callback`. No key: an authorization server calls it. Served only when the
//! public base URL is https; otherwise `NOT_FOUND`.
//!
//! `GET /oauth/jwks.json`: the public halves of the service's signing keys (RFC 7517), which the
//! documents name as `jwks_uri` and an operator registers for a `private_key_jwt` client; the
//! key that signs and, through a rotation's overlap, the previous ones. Always served.

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

pub(crate) fn per_issuer<D: Deps>() -> Endpoint {
    Endpoint::public(__path_client_metadata_per_issuer, client_metadata_per_issuer::<D>)
}

pub(crate) fn jwks<D: Deps>() -> Endpoint {
    Endpoint::public(__path_jwks_document, jwks_document::<D>)
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
    /// Where the service's public signing keys are.
    #[schema(example = "https://directory.example/oauth/jwks.json")]
    jwks_uri: String,
}

/// The service's OAuth Client ID Metadata Document.
#[utoipa::path(get, path = "/oauth/client-metadata.json", tag = "oauth", responses(
    (status = 200, description = "The document.", body = ClientMetadataDocument),
    (status = 404, description = "`NOT_FOUND`: the public base URL is not https, so no document is offered.",
        body = ErrorBody),
))]
async fn client_metadata<D: Deps>(state: web::Data<ApiState<D>>) -> Result<HttpResponse, ApiError> {
    document_response(&state, None)
}

/// The Client ID Metadata Document of the authorization server whose issuer gives `{key}`.
#[utoipa::path(get, path = "/oauth/client-metadata/{key}.json", tag = "oauth",
    params(("key" = String, Path, description = "32 lowercase hex characters, from the issuer.")),
    responses(
        (status = 200, description = "The document; its `redirect_uris` is `/assets/oauth/callback/{key}`.",
            body = ClientMetadataDocument),
        (status = 404, description = "`NOT_FOUND`: the public base URL is not https, or `key` is not 32 \
            lowercase hex characters.", body = ErrorBody),
    ))]
async fn client_metadata_per_issuer<D: Deps>(
    state: web::Data<ApiState<D>>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    document_response(&state, Some(&key))
}

fn document_response<D: Deps>(state: &ApiState<D>, key: Option<&str>) -> Result<HttpResponse, ApiError> {
    let doc = state.directory.client_metadata(key).ok_or_else(ApiError::not_found)?;
    let body = ClientMetadataDocument {
        client_id: doc.client_id,
        client_name: doc.client_name,
        client_uri: doc.client_uri,
        redirect_uris: doc.redirect_uris,
        grant_types: doc.grant_types.to_vec(),
        response_types: doc.response_types.to_vec(),
        token_endpoint_auth_method: doc.token_endpoint_auth_method,
        application_type: doc.application_type,
        jwks_uri: doc.jwks_uri,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
        .json(body))
}

/// The service's public signing keys, as a JWK Set.
#[utoipa::path(get, path = "/oauth/jwks.json", tag = "oauth", responses(
    (status = 200, description = "`{\"keys\": [...]}`: EC P-256 public keys (`kty`, `crv`, `x`, `y`), each with \
        its `kid` (its RFC 7638 thumbprint), `use: sig` and `alg: ES256`; empty when the service has no \
        signing key.", body = Object),
))]
async fn jwks_document<D: Deps>(state: web::Data<ApiState<D>>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")))
        .json(&state.jwks)
}
