//! What callers send.

use std::fmt;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;
use crate::extract::body_error;

/// `POST /assets/connect`. A field it does not list is refused, never ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectBody {
    /// A catalog entry's name, or a new name for a custom server (with `server_config.url`).
    #[schema(example = "linear")]
    pub server_name: String,
    /// An object, or `null` (the same as leaving it out); read by [`ConnectBody::server_config`].
    #[serde(default)]
    #[schema(value_type = Option<ServerConfigBody>)]
    pub server_config: Option<RawServerConfig>,
    /// Your own name for the new connection, to tell apart several accounts on one server:
    /// 1 to 64 characters, no control characters. Listed back as `label`.
    #[serde(default)]
    #[schema(example = "work")]
    pub label: Option<String>,
    /// Where the browser goes once an OAuth flow ends; must start with a prefix of
    /// `RETURN_URL_ALLOWLIST`.
    #[serde(default)]
    #[schema(example = "https://app.example/done")]
    pub return_to: Option<String>,
    /// `false`: `…/credentials` never hands out this connection's upstream secret, only its proxy
    /// token (the MCP proxy). Default from `CREDENTIALS_EXPORTABLE` (`true`); a catalog entry
    /// may force `false`.
    #[serde(default)]
    pub exportable: Option<bool>,
}

/// `POST /assets/connections/{ref_id}/reauthorize`. A field it does not list is refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReauthorizeBody {
    /// Scopes to ask for besides those the connection holds (e.g. a scope challenge's
    /// `details.required_scopes`).
    #[serde(default)]
    #[schema(example = json!(["write"]))]
    pub scopes: Option<Vec<String>>,
    /// Where the browser goes once the consent ends (as for `POST /assets/connect`).
    #[serde(default)]
    pub return_to: Option<String>,
}

impl ReauthorizeBody {
    pub(crate) fn scopes(&self) -> Result<Option<domain::Scopes>, ApiError> {
        self.scopes
            .as_ref()
            .map(|scopes| domain::Scopes::from_tokens(scopes.iter()))
            .transpose()
            .map_err(|e| ApiError::validation("scopes", format!("scopes: {}", e.reason)))
    }
}

impl ConnectBody {
    /// Takes `server_config` out, read strictly: absent or `null` is empty, an object must hold
    /// only the fields of [`ServerConfigBody`], and anything else (a string, an array, which
    /// serde would read as a struct by position) is refused.
    pub(crate) fn server_config(&mut self) -> Result<ServerConfigBody, ApiError> {
        let Some(raw) = self.server_config.take() else { return Ok(ServerConfigBody::default()) };
        // Read from the text as sent, not from a parsed map, which would keep only the last of
        // two equal keys: a duplicate field is refused.
        match raw.0.get().trim_start().as_bytes().first() {
            Some(b'n') => Ok(ServerConfigBody::default()),
            Some(b'{') => {
                let mut reader = serde_json::Deserializer::from_str(raw.0.get());
                serde_path_to_error::deserialize(&mut reader).map_err(|e| {
                    let within = |name: &str| {
                        e.path()
                            .iter()
                            .next()
                            .is_some_and(|s| matches!(s, serde_path_to_error::Segment::Map { key } if key == name))
                    };
                    let parent =
                        if within("identity_assertion") { "server_config.identity_assertion" } else { "server_config" };
                    body_error(e.inner(), Some(parent))
                })
            }
            _ => Err(ApiError::validation("server_config", "server_config: must be an object or null")),
        }
    }
}

/// `server_config` as sent, until [`ConnectBody::server_config`] reads it. It may hold an API
/// key, so its `Debug` shows nothing.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct RawServerConfig(Box<RawValue>);

impl fmt::Debug for RawServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawServerConfig(..)")
    }
}

/// `server_config`: the API key (write-only), a custom server's URL, or the `ref_id` of an
/// `expired` or `failed` OAuth connection to re-authorize in place. A field it does not list
/// is refused, never ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerConfigBody {
    /// The key of an `api_key` server. Write-only: no answer ever repeats it.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub api_key: Option<SecretString>,
    /// A custom server's MCP URL.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::transport_schema)]
    pub transport: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// How the service identifies itself to a custom server's authorization server: `auto` (the
    /// default: a Client ID Metadata Document where supported, else dynamic registration, falling
    /// back to registration when the document's client is refused), `cimd` or `dcr` only.
    /// `preregistered` needs a client: a catalog entry's, or one given here with `client_id`.
    #[serde(default)]
    #[schema(schema_with = super::registration_mode_schema)]
    pub client_registration: Option<String>,
    /// A custom server only: `client_credentials` connects at once with the client credentials
    /// grant (no user, no browser), `identity_assertion` with the user's `identity_assertion`;
    /// either needs `client_id` with its secret or key.
    #[serde(default)]
    #[schema(schema_with = super::grant_schema)]
    pub grant_type: Option<String>,
    /// A custom server only: a client registered at its authorization server out of band, used
    /// ahead of a metadata document or a registration. Needs `client_secret`, or
    /// `private_key_pem` and `signing_algorithm`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Write-only: the client's secret (`client_secret_basic` where the server takes it, else
    /// `client_secret_post`).
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub client_secret: Option<SecretString>,
    /// Write-only: the client's private key in PEM (PKCS #8, or PKCS #1 for RSA), for
    /// `private_key_jwt` (RFC 7523).
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub private_key_pem: Option<SecretString>,
    /// The algorithm of `private_key_pem`: `ES256` or `RS256`.
    #[serde(default)]
    #[schema(schema_with = super::signing_algorithm_schema)]
    pub signing_algorithm: Option<String>,
    /// The issuer of the authorization server `client_id` is registered at: its credentials are
    /// sent there only. Needed when the MCP server names several.
    #[serde(default)]
    #[schema(example = "https://auth.example")]
    pub issuer: Option<String>,
    /// The user's identity assertion (issue 18 §4): a connection with no browser, whose ID token
    /// the identity provider exchanges for an ID-JAG the MCP server's authorization server takes.
    #[serde(default)]
    pub identity_assertion: Option<IdentityAssertionBody>,
    /// Reconnect this `expired` or `failed` OAuth connection of `server_name` in place: it keeps
    /// its `ref_id` and goes back to `pending_oauth` with a new `auth_url`.
    #[serde(default)]
    #[schema(example = "conn-3k4l5m6n7o8p9q2r3s4t5u6v7w")]
    pub ref_id: Option<String>,
}

/// `server_config.identity_assertion`: the user's ID token from their enterprise identity
/// provider, and that provider (where the service exchanges it, as which client).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityAssertionBody {
    /// Write-only: the user's OpenID Connect ID token, issued to `idp_client_id`.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub id_token: Option<SecretString>,
    #[serde(default)]
    #[schema(example = "https://idp.example")]
    pub idp_issuer: Option<String>,
    #[serde(default)]
    #[schema(example = "https://idp.example/oauth2/token")]
    pub idp_token_endpoint: Option<String>,
    /// The service's client id at the identity provider.
    #[serde(default)]
    pub idp_client_id: Option<String>,
    /// Write-only: that client's secret (none for a public client).
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub idp_client_secret: Option<SecretString>,
}

impl From<IdentityAssertionBody> for app::IdentityAssertionParts {
    fn from(b: IdentityAssertionBody) -> Self {
        Self {
            id_token: b.id_token,
            idp_issuer: b.idp_issuer,
            idp_token_endpoint: b.idp_token_endpoint,
            idp_client_id: b.idp_client_id,
            idp_client_secret: b.idp_client_secret,
        }
    }
}

/// `POST /assets/callback` body and `GET /assets/oauth/callback` query: what the provider
/// sent back.
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackParams {
    /// The authorization code (single use).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    #[param(value_type = Option<String>)]
    pub code: Option<SecretString>,
    /// The `state` the flow started with (single use).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    #[param(value_type = Option<String>)]
    pub state: Option<SecretString>,
    /// The issuer (RFC 9207), checked against the flow's.
    #[serde(default)]
    pub iss: Option<String>,
    /// The provider's error code, e.g. `access_denied`.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    /// `POST /assets/callback` only: the URL, without query, at which the browser arrived. Absent
    /// means `<base>/assets/oauth/callback`; a flow started for another redirect URI (an
    /// authorization server found by discovery) must name it, or it is `INVALID_STATE`.
    #[serde(default)]
    #[param(ignore)]
    #[schema(example = "https://directory.example/assets/oauth/callback/0f1e2d3c4b5a69788796a5b4c3d2e1f0")]
    pub redirect_uri: Option<String>,
}

impl From<CallbackParams> for app::CallbackInput {
    fn from(p: CallbackParams) -> Self {
        Self {
            state: p.state,
            code: p.code,
            iss: p.iss,
            error: p.error,
            error_description: p.error_description,
            redirect_uri: p.redirect_uri,
            // The browser's callback: its `state` alone finds the flow. The keyed route sets it.
            owner: None,
            // The browser's cookie, read by the browser's route; an app relaying has none.
            browser: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_connect_body_redacts_the_api_key() {
        let mut body: ConnectBody =
            serde_json::from_str(r#"{"server_name":"exa","server_config":{"api_key":"sk-distinctive"}}"#).unwrap();
        assert!(!format!("{body:?}").contains("sk-distinctive"));
        let config = body.server_config().unwrap();
        assert!(!format!("{config:?}").contains("sk-distinctive"));
    }
}
