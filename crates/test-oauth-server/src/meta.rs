//! The discovery side: RFC 8414 metadata, RFC 7591 registration, and a bearer-checked resource.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::config::{ClientAuth, TestClient};
use crate::grants::{OAuthFailure, random_token};
use crate::routes::{Shared, lock, oauth_error};

/// `GET /.well-known/oauth-authorization-server`.
pub(crate) async fn metadata(state: web::Data<Shared>) -> HttpResponse {
    let st = lock(&state);
    if !st.config.serve_metadata {
        return HttpResponse::NotFound().finish();
    }
    let issuer = &st.issuer;
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "grant_types_supported": grant_types(&st.config),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "scopes_supported": st.config.scopes_supported,
        "authorization_response_iss_parameter_supported": st.config.advertise_iss,
        "client_id_metadata_document_supported": st.config.accept_client_id_urls,
    });
    if st.config.registration_enabled {
        doc["registration_endpoint"] = json!(format!("{issuer}/register"));
    }
    if let Value::Object(map) = &mut doc {
        for (key, value) in &st.config.metadata_overrides {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
    }
    HttpResponse::Ok().json(doc)
}

/// `POST /register`: RFC 7591 dynamic client registration, minimal.
pub(crate) async fn register(state: web::Data<Shared>, body: web::Json<Value>) -> HttpResponse {
    let request = body.into_inner();
    let mut st = lock(&state);
    st.registrations.push(request.clone());
    let invalid = |description: &str| oauth_error(&OAuthFailure::new(400, "invalid_client_metadata", description));
    if !st.config.registration_enabled || st.config.refuse_registrations {
        return invalid("registration is closed");
    }
    let redirect_uris: Vec<String> = request["redirect_uris"]
        .as_array()
        .map(|uris| uris.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if redirect_uris.is_empty() || redirect_uris.iter().any(|u| url::Url::parse(u).is_err()) {
        return oauth_error(&OAuthFailure::new(
            400,
            "invalid_redirect_uri",
            "redirect_uris must be a non-empty list of URLs",
        ));
    }
    let method = request["token_endpoint_auth_method"].as_str().unwrap_or("client_secret_basic");
    let Some(auth) = ClientAuth::parse(method) else {
        return invalid("unsupported token_endpoint_auth_method");
    };
    let jwks = request.get("jwks").cloned();
    if (auth == ClientAuth::PrivateKeyJwt) != jwks.is_some() {
        return invalid("private_key_jwt needs jwks (by value), and only it takes them");
    }
    let client = TestClient {
        client_id: random_token("dyn-"),
        client_secret: matches!(auth, ClientAuth::ClientSecretBasic | ClientAuth::ClientSecretPost)
            .then(|| random_token("secret-")),
        auth,
        redirect_uris: redirect_uris.clone(),
        jwks,
    };
    let mut answer = json!({
        "client_id": client.client_id,
        "client_id_issued_at": 0,
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": auth.as_str(),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    if let Some(secret) = &client.client_secret {
        answer["client_secret"] = json!(secret);
        answer["client_secret_expires_at"] = json!(0);
    }
    for field in ["client_name", "application_type", "scope"] {
        if let Some(value) = request.get(field) {
            answer[field] = value.clone();
        }
    }
    st.registered.push(client);
    HttpResponse::Created().json(answer)
}

/// `GET /userinfo`: `200` with the token's grant when the bearer token is active, else `401`.
pub(crate) async fn userinfo(state: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let token =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let info = token.and_then(|t| lock(&state).token_info(t));
    match info {
        Some(info) if info.active && info.kind == crate::TokenKind::Access => HttpResponse::Ok().json(json!({
            "sub": "test-user",
            "client_id": info.client_id,
            "scope": info.scope,
            "aud": info.audience,
        })),
        _ => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#))
            .finish(),
    }
}

/// `/mcp`: an MCP endpoint of the 2025-03-26 revision on the authorization server's own origin.
/// It answers any access token this server issued and still honours (that revision bound tokens
/// to no audience), else `401` with a bare `Bearer` challenge; it names no protected resource
/// metadata and there is none (`/.well-known/oauth-protected-resource` is not routed: `404`).
/// Whether the origin publishes authorization server metadata is `serve_metadata`.
pub(crate) async fn legacy_mcp(state: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let bearer =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let mut st = lock(&state);
    let info = bearer.and_then(|t| st.token_info(t));
    if info.is_some_and(|i| i.active && i.kind == crate::TokenKind::Access) {
        st.counters.legacy_mcp_answered += 1;
        return HttpResponse::Ok().json(json!({
            "jsonrpc": "2.0", "id": 0,
            "result": {"protocolVersion": "2025-03-26", "capabilities": {}, "serverInfo": {"name": "legacy-mcp", "version": "1"}},
        }));
    }
    let challenge = st.config.legacy_mcp_challenge.clone();
    HttpResponse::Unauthorized().insert_header((header::WWW_AUTHENTICATE, challenge)).finish()
}

/// The grants it takes: the code flow's, the client credentials grant, and the token exchange
/// (an identity provider's) or `jwt-bearer` (an MCP server's that trusts one) when configured.
fn grant_types(config: &crate::config::TestAuthConfig) -> Vec<&'static str> {
    let mut grants = vec!["authorization_code", "refresh_token", "client_credentials"];
    if config.id_jag_client_id.is_some() {
        grants.push(crate::grants::TOKEN_EXCHANGE);
    }
    if config.trusted_idp.is_some() {
        grants.push(crate::grants::JWT_BEARER);
    }
    grants
}
