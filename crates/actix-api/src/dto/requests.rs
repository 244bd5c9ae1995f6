//! What callers send.

use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// `POST /assets/connect`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ConnectBody {
    /// A catalog entry's name, or a new name for a custom server (with `server_config.url`).
    #[schema(example = "linear")]
    pub server_name: String,
    #[serde(default)]
    pub server_config: Option<ServerConfigBody>,
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
}

/// `server_config`: the API key (write-only), a custom server's URL, or the `ref_id` of an
/// `expired` or `failed` OAuth connection to re-authorize in place.
#[derive(Debug, Default, Deserialize, ToSchema)]
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
    /// Reconnect this `expired` or `failed` OAuth connection of `server_name` in place: it keeps
    /// its `ref_id` and goes back to `pending_oauth` with a new `auth_url`.
    #[serde(default)]
    #[schema(example = "conn-3k4l5m6n7o8p9q2r3s4t5u6v7w")]
    pub ref_id: Option<String>,
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
}

impl From<CallbackParams> for app::CallbackInput {
    fn from(p: CallbackParams) -> Self {
        Self { state: p.state, code: p.code, iss: p.iss, error: p.error, error_description: p.error_description }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_connect_body_redacts_the_api_key() {
        let body: ConnectBody =
            serde_json::from_str(r#"{"server_name":"exa","server_config":{"api_key":"sk-distinctive"}}"#).unwrap();
        assert!(!format!("{body:?}").contains("sk-distinctive"));
    }
}
