//! The OpenAPI 3.1 document, assembled from the endpoints the app registers (see
//! [`crate::endpoint`]) plus what every operation shares: the `X-Engine-Key` scheme, the error
//! body and its codes, `500` for all, `401` for keyed operations, and the `X-Request-Id` header
//! on every answer.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi as _, ToSchema};

use crate::endpoint::{Endpoint, operations_mut};
use crate::error::{ErrorBody, ErrorCode};
use crate::key_guard;

/// The security scheme's name in the document.
pub(crate) const ENGINE_KEY_SCHEME: &str = "engine_key";
/// The bearer scheme of a connect session's token (accepted by `POST /assets/connect` only).
pub(crate) const SESSION_SCHEME: &str = "connect_session";
/// The hosted connect page's session cookie (set by its first visit, `connect_url`).
pub(crate) const PAGE_SESSION_SCHEME: &str = "connect_page_session";
/// The bearer scheme of a connection's proxy token (accepted by that connection's proxy routes).
pub(crate) const PROXY_TOKEN_SCHEME: &str = "proxy_token";

/// The document, serialized once per worker.
#[derive(Debug)]
pub(crate) struct OpenApiJson(pub(crate) String);

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Asset Directory",
        description = "MCP server connections and their credentials for an AI agent engine. Every endpoint \
            requires the `X-Engine-Key` header unless its `security` is empty. Every non-2xx answer is an \
            `ErrorBody`; route on its `error` code, never on the message. Every `GET` operation also answers \
            `HEAD` with the same status and headers and no body, except the OAuth redirect target, whose \
            `GET` spends the flow.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody, ErrorCode)),
    tags(
        (name = "catalog", description = "The MCP servers the engine can connect to."),
        (name = "connections", description = "The user's connections and their credentials."),
        (name = "proxy", description = "The MCP proxy: calls to a connection's MCP server, its credential added by the service."),
        (name = "oauth", description = "Completing OAuth authorizations."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
        (name = "users", description = "The tenant's users, for operators: their connections, and forgetting them."),
        (name = "events", description = "Lifecycle events: signed webhooks and the event feed (docs/events.md)."),
    ),
)]
struct Base;

/// The document of `endpoints`.
pub(crate) fn document(endpoints: &[Endpoint]) -> OpenApi {
    let mut doc = Base::openapi();
    let components = doc.components.get_or_insert_with(Components::new);
    for endpoint in endpoints {
        let (paths, schemas) = endpoint.documentation();
        doc.paths.merge(paths);
        components.schemas.extend(schemas);
    }
    close_strict_bodies(components);
    components.add_security_scheme(
        ENGINE_KEY_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            key_guard::HEADER,
            "The engine's key. The service keeps only its SHA-256 (`ENGINE_KEY_HASH`).",
        ))),
    );
    components.add_security_scheme(
        SESSION_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A connect session's `session_token` (`POST /assets/connect-sessions`): starts \
                     connections as the session's user, only to the servers it allows.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        PROXY_TOKEN_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A connection's proxy token (`proxy.token` of `…/credentials`, `adp_…`): that connection's \
                     proxy routes only, until it expires (`PROXY_TOKEN_TTL_SECONDS`).",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        PAGE_SESSION_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::cookies::SESSION,
            "The hosted connect page's cookie: the session token that `connect_url` carried on the first \
             visit, moved into an `HttpOnly`, `SameSite=Strict` cookie of path `/assets/connect-page`.",
        ))),
    );
    doc.security = Some(vec![SecurityRequirement::new(ENGINE_KEY_SCHEME, Vec::<String>::new())]);
    add_shared_responses(&mut doc);
    doc
}

/// The bodies read with [`crate::extract::strict_body`] refuse fields they do not have, which
/// their types cannot say (they are lenient elsewhere): `additionalProperties: false` here.
fn close_strict_bodies(components: &mut Components) {
    for name in crate::extract::STRICT_BODIES {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

fn add_shared_responses(doc: &mut OpenApi) {
    let request_id = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some("This request's id, as in the service's log lines and `details.request_id`."))
        .build();
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            let keyed = operation.security.as_ref().is_none_or(|s| !s.is_empty());
            let responses = &mut operation.responses.responses;
            if keyed {
                let codes = [ErrorCode::InvalidKey, ErrorCode::KeyRotationPending];
                add_error(responses, codes[0].status().as_str(), &codes);
            }
            add_error(responses, ErrorCode::Internal.status().as_str(), &[ErrorCode::Internal]);
            for response in responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.headers.insert("X-Request-Id".to_owned(), request_id.clone().into());
                }
            }
        }
    }
}

/// Adds `codes` to the answer `status` describes, creating it as an `ErrorBody` answer if absent.
fn add_error(responses: &mut std::collections::BTreeMap<String, RefOr<Response>>, status: &str, codes: &[ErrorCode]) {
    let names: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
    let names = names.join(", ");
    match responses.get_mut(status) {
        Some(RefOr::T(existing)) => existing.description = format!("{}; {names}", existing.description),
        Some(RefOr::Ref(_)) => {}
        None => {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build();
            let response = ResponseBuilder::new().description(names).content("application/json", content).build();
            responses.insert(status.to_owned(), response.into());
        }
    }
}
