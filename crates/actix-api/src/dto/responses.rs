//! What the service answers. Each route serializes one of these, and the OpenAPI document shows
//! the same types, so the two cannot drift.

use std::collections::BTreeMap;
use std::fmt;

use app::{Availability, CallbackOutcome, CatalogEntry};
use domain::{AuthSpec, Connection};
use ports::AuditEvent;
use serde::Serialize;
use utoipa::ToSchema;

use super::rfc3339;

/// A catalog entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServerDto {
    #[schema(example = "linear")]
    server_name: String,
    #[schema(example = "Linear")]
    display_name: String,
    #[schema(schema_with = super::transport_schema)]
    transport: &'static str,
    #[schema(schema_with = super::auth_method_schema)]
    auth_method: &'static str,
    /// OAuth servers only: `authorization_code` (a user authorizes in a browser),
    /// `client_credentials` (no user: the connect answers `connected` at once) or
    /// `identity_assertion` (the connect brings the user's ID token: `connected` at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::grant_schema)]
    grant_type: Option<&'static str>,
    /// `available`, or `unavailable` (with `status_reason`) when the entry cannot work, e.g.
    /// its client secret is not configured.
    #[schema(value_type = String, pattern = "^(available|unavailable)$")]
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
            grant_type: match &e.spec.auth {
                AuthSpec::OAuth(oauth) => Some(oauth.grant.as_str()),
                _ => None,
            },
            status,
            status_reason,
            url: e.spec.url.clone(),
            description: e.spec.description.clone(),
        }
    }
}

/// A connection; never its secrets.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectionDto {
    /// `conn-` and 26 base32 characters.
    #[schema(example = "conn-abcdefghijklmnopqrstuvwxyz")]
    ref_id: String,
    server_name: String,
    #[schema(schema_with = super::connection_status_schema)]
    status: &'static str,
    scopes: Vec<String>,
    /// RFC 3339 UTC, or null when the token does not expire (or there is none).
    #[schema(format = DateTime, required = true)]
    expires_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// When the MCP proxy last carried a call of it (written every few seconds); `null` if never.
    #[schema(format = DateTime, required = true)]
    last_used_at: Option<String>,
    /// `false`: its upstream secret is reachable only through the MCP proxy.
    exportable: bool,
    /// Why a connection is `failed` or `expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    /// The caller's name for it, as given at connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "work")]
    label: Option<String>,
    /// Who signed in at the provider, when its token response said (an OIDC `id_token`'s email
    /// or subject, or a field a well-known provider uses): up to 255 characters, never a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ada@example.com")]
    account: Option<String>,
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
            last_used_at: c.last_used_at.map(rfc3339),
            exportable: c.exportable,
            status_reason: c.status_reason().map(str::to_owned),
            display_name: c.display_name.clone(),
            label: c.label.as_ref().map(|l| l.as_str().to_owned()),
            account: c.account.as_ref().map(|a| a.as_str().to_owned()),
        }
    }
}

/// `POST /assets/connect`: connected at once, or waiting for the user at `auth_url`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectResponse {
    pub ref_id: String,
    /// `connected` (API key, no auth) or `pending_oauth`.
    #[schema(value_type = String, pattern = "^(connected|pending_oauth)$")]
    pub status: &'static str,
    /// Where to send the user's browser (OAuth only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
}

/// `POST /assets/connections/{ref_id}/reauthorize`: the consent to send the user to.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReauthorizeResponse {
    pub ref_id: String,
    /// The connection's status meanwhile: `connected` (more scopes; its token serves on until
    /// the callback) or `pending_oauth` (an `expired` or `failed` one reconnected in place).
    #[schema(value_type = String, pattern = "^(connected|pending_oauth)$")]
    pub status: &'static str,
    pub auth_url: String,
}

/// A completed OAuth flow.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CallbackResponse {
    ref_id: String,
    #[schema(schema_with = super::connection_status_schema)]
    status: &'static str,
    server_name: String,
    scopes: Vec<String>,
    #[schema(format = DateTime, required = true)]
    expires_at: Option<String>,
}

impl From<&CallbackOutcome> for CallbackResponse {
    fn from(outcome: &CallbackOutcome) -> Self {
        let c = &outcome.connection;
        Self {
            ref_id: c.ref_id.to_string(),
            status: c.status().as_str(),
            server_name: c.server_name.to_string(),
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            expires_at: c.expires_at.map(rfc3339),
        }
    }
}

/// A ready-to-use credential: send `headers` with the MCP request to `url`.
#[derive(Serialize, ToSchema)]
pub(crate) struct CredentialsResponse {
    pub ref_id: String,
    pub server_name: String,
    #[schema(required = true)]
    pub url: Option<String>,
    #[schema(schema_with = super::transport_schema)]
    pub transport: &'static str,
    /// Header name → value, e.g. `{"Authorization": "Bearer …"}`; empty for servers without auth
    /// and for a connection that is not `exportable`.
    pub headers: BTreeMap<String, String>,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
    /// `false`: the upstream secret never leaves the service; call through `proxy`.
    pub exportable: bool,
    /// The MCP proxy for this connection (`null` for a stdio server).
    #[schema(required = true)]
    pub proxy: Option<ProxyAccess>,
}

/// Where and how an MCP client reaches the connection's server through the proxy.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProxyAccess {
    /// `…/mcp` (Streamable HTTP) or `…/sse` (legacy HTTP+SSE), under `REDIRECT_BASE_URL`.
    pub url: String,
    /// A bearer token for this connection's proxy routes only (`adp_…`).
    pub token: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl fmt::Debug for CredentialsResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self.headers.keys().collect();
        f.debug_struct("CredentialsResponse")
            .field("ref_id", &self.ref_id)
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

/// `DELETE /assets/connections/{ref_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisconnectResponse {
    #[schema(value_type = String, pattern = "^disconnected$")]
    pub status: &'static str,
    pub ref_id: String,
}

/// One entry of a connection's audit history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventDto {
    #[schema(schema_with = super::audit_kind_schema)]
    event: &'static str,
    /// A status reason, or a provider's own words (its error code and description, without
    /// control or bidirectional characters, cut short); never a secret.
    #[schema(required = true)]
    detail: Option<String>,
    #[schema(format = DateTime)]
    at: String,
}

impl From<&AuditEvent> for EventDto {
    fn from(e: &AuditEvent) -> Self {
        Self { event: e.kind.as_str(), detail: e.detail.clone(), at: rfc3339(e.at) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_credential_shows_header_names_only() {
        let response = CredentialsResponse {
            ref_id: "conn-x".into(),
            server_name: "exa".into(),
            url: None,
            transport: "sse",
            headers: BTreeMap::from([("Authorization".to_owned(), "Bearer sk-distinctive".to_owned())]),
            expires_at: None,
            exportable: true,
            proxy: Some(ProxyAccess {
                url: "https://ad.example/assets/connections/conn-x/sse".into(),
                token: "adp_distinctive".into(),
                expires_at: "2026-12-07T00:00:00Z".into(),
            }),
        };
        let shown = format!("{response:?}");
        assert!(shown.contains("Authorization") && !shown.contains("sk-distinctive"), "{shown}");
        assert!(!shown.contains("adp_distinctive"), "{shown}");
    }
}
