//! Request and response bodies. Responses never carry a secret: credentials are the one
//! answer that does, and they are built field by field in their route.

use app::{Availability, CatalogEntry};
use domain::{Connection, Timestamp};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 UTC, e.g. `2026-05-27T10:00:00Z`.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t.unix())
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.unix().to_string())
}

#[derive(Debug, Serialize)]
pub(crate) struct ServerDto {
    server_name: String,
    display_name: String,
    transport: &'static str,
    auth_method: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

impl From<&CatalogEntry> for ServerDto {
    fn from(e: &CatalogEntry) -> Self {
        let (status, status_reason) = match &e.availability {
            Availability::Available => ("available", None),
            Availability::Unavailable(reason) => ("unavailable", Some(reason.clone())),
        };
        Self {
            server_name: e.spec.name.to_string(),
            display_name: e.spec.display_name.clone(),
            transport: e.spec.transport.as_str(),
            auth_method: e.spec.auth.method().as_str(),
            status,
            status_reason,
            url: e.spec.url.clone(),
            description: e.spec.description.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ConnectionDto {
    ref_id: String,
    server_name: String,
    status: &'static str,
    scopes: Vec<String>,
    expires_at: Option<String>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
}

impl From<&Connection> for ConnectionDto {
    fn from(c: &Connection) -> Self {
        Self {
            ref_id: c.ref_id.to_string(),
            server_name: c.server_name.to_string(),
            status: c.status().as_str(),
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            expires_at: c.expires_at.map(rfc3339),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            status_reason: c.status_reason().map(str::to_owned),
            display_name: c.display_name.clone(),
        }
    }
}

/// `POST /assets/connect`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConnectBody {
    pub server_name: String,
    #[serde(default)]
    pub server_config: Option<ServerConfigBody>,
    #[serde(default)]
    pub return_to: Option<String>,
}

/// `server_config`: the API key (write-only), or a custom server's URL.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServerConfigBody {
    #[serde(default)]
    pub api_key: Option<SecretString>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub transport: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `POST /assets/callback` body and `GET /assets/oauth/callback` query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallbackParams {
    #[serde(default)]
    pub code: Option<SecretString>,
    #[serde(default)]
    pub state: Option<SecretString>,
    #[serde(default)]
    pub iss: Option<String>,
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
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(Timestamp::from_unix(1_780_000_000)), "2026-05-28T20:26:40Z");
    }

    #[test]
    fn debug_of_a_connect_body_redacts_the_api_key() {
        let body: ConnectBody =
            serde_json::from_str(r#"{"server_name":"exa","server_config":{"api_key":"sk-distinctive"}}"#).unwrap();
        assert!(!format!("{body:?}").contains("sk-distinctive"));
    }
}
