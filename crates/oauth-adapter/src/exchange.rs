//! The two calls of enterprise-managed authorization (the MCP extension, an application of the
//! Identity Assertion Authorization Grant), written by hand as revocation is (oauth2 has
//! neither grant): the RFC 8693 token exchange at the enterprise identity provider that turns a
//! user's ID token into an Identity Assertion JWT Authorization Grant (ID-JAG) for one
//! authorization server and resource, and the RFC 7523 `jwt-bearer` grant that turns the ID-JAG
//! into an access token there.

use domain::Scopes;
use ports::{OAuthError, TokenEndpoint, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::account::{AccountTokenResponse, token_set};
use crate::form::{FormCall, post};
use crate::http::SafeHttp;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// RFC 8693 §2.2.1, as the extension's §4.2 fills it in.
#[derive(Deserialize)]
struct ExchangeAnswer {
    issued_token_type: String,
    access_token: String,
}

/// What one exchange asks for.
pub(crate) struct Exchange<'a> {
    pub subject_token: &'a SecretString,
    /// The MCP server's authorization server's issuer.
    pub audience: &'a str,
    /// The MCP server's resource identifier.
    pub resource: &'a str,
    pub scopes: &'a Scopes,
}

/// The ID-JAG the identity provider at `idp` issues for `exchange`.
pub(crate) async fn exchange_identity(
    http: &SafeHttp,
    idp: &TokenEndpoint,
    assertion: &[(&'static str, &SecretString)],
    exchange: Exchange<'_>,
) -> Result<SecretString, OAuthError> {
    let scope = exchange.scopes.to_delimited();
    let mut fields = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("requested_token_type", ID_JAG),
        ("audience", exchange.audience),
        ("resource", exchange.resource),
        ("subject_token", exchange.subject_token.expose_secret()),
        ("subject_token_type", ID_TOKEN),
    ];
    if !scope.is_empty() {
        fields.push(("scope", &scope));
    }
    let call = FormCall { endpoint: idp, fields, secrets: vec![exchange.subject_token], assertion, timeout: None };
    let body = post(http, call, "identity provider's token endpoint").await?;
    let answer: ExchangeAnswer = serde_json::from_slice(&body).map_err(|_| {
        OAuthError::InvalidResponse("the identity provider's answer is not a token exchange response".to_owned())
    })?;
    if answer.issued_token_type != ID_JAG || answer.access_token.is_empty() {
        return Err(OAuthError::InvalidResponse("the identity provider issued no ID-JAG".to_owned()));
    }
    Ok(SecretString::from(answer.access_token))
}

/// The token `endpoint` grants for the ID-JAG `jag` (RFC 7523 §2.1), for `scopes` and `resource`.
pub(crate) async fn jwt_bearer(
    http: &SafeHttp,
    endpoint: &TokenEndpoint,
    assertion: &[(&'static str, &SecretString)],
    jag: &SecretString,
    scopes: &Scopes,
    resource: Option<&str>,
) -> Result<TokenSet, OAuthError> {
    let scope = scopes.to_delimited();
    let mut fields = vec![("grant_type", JWT_BEARER), ("assertion", jag.expose_secret())];
    if !scope.is_empty() {
        fields.push(("scope", &scope));
    }
    if let Some(resource) = resource {
        fields.push(("resource", resource));
    }
    let call = FormCall { endpoint, fields, secrets: vec![jag], assertion, timeout: None };
    let body = post(http, call, "token endpoint").await?;
    let response: AccountTokenResponse = serde_json::from_slice(&body)
        .map_err(|_| OAuthError::InvalidResponse("not an OAuth token response".to_owned()))?;
    token_set(response)
}
