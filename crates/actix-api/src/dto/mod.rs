//! Request and response bodies, with the schemas the OpenAPI document shows for them. Closed
//! sets of values (transports, statuses) are documented from the domain's own lists.
//!
//! Responses never carry a secret, except [`responses::CredentialsResponse`] and, once, the
//! token of a new connect session ([`sessions::SessionResponse`]).

mod requests;
mod responses;
mod sessions;

mod users;

pub(crate) use requests::{CallbackParams, ConnectBody, ReauthorizeBody, ServerConfigBody};
pub(crate) use responses::{
    CallbackResponse, ConnectResponse, ConnectionDto, CredentialsResponse, DisconnectResponse, EventDto, ProxyAccess,
    ReauthorizeResponse, ServerDto,
};
pub(crate) use sessions::{SessionBody, SessionResponse};

pub(crate) use users::{ForgetResponse, UserDto};

use domain::{AuthMethod, ConnectionStatus, OAuthGrant, RegistrationMode, SigningAlgorithm, Timestamp, Transport};
use ports::AuditKind;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// RFC 3339 UTC, e.g. `2026-05-27T10:00:00Z`.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t.unix())
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.unix().to_string())
}

fn string_enum<const N: usize>(values: [&'static str; N], description: &str) -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values)).description(Some(description)).build()
}

pub(crate) fn transport_schema() -> Object {
    string_enum(Transport::ALL.map(Transport::as_str), "How the engine talks to the MCP server.")
}

pub(crate) fn registration_mode_schema() -> Object {
    string_enum(
        RegistrationMode::ALL.map(RegistrationMode::as_str),
        "How the service identifies itself to the authorization server.",
    )
}

pub(crate) fn grant_schema() -> Object {
    string_enum(
        OAuthGrant::ALL.map(OAuthGrant::as_str),
        "How the connection is authorized (default authorization_code).",
    )
}

pub(crate) fn signing_algorithm_schema() -> Object {
    string_enum(SigningAlgorithm::ALL.map(SigningAlgorithm::as_str), "The algorithm of `private_key_pem`.")
}

pub(crate) fn auth_method_schema() -> Object {
    string_enum(AuthMethod::ALL.map(AuthMethod::as_str), "How a connection to this server is authorized.")
}

pub(crate) fn connection_status_schema() -> Object {
    string_enum(
        ConnectionStatus::ALL.map(ConnectionStatus::as_str),
        "pending_oauth → connected → expired; pending_oauth → failed.",
    )
}

pub(crate) fn audit_kind_schema() -> Object {
    string_enum(AuditKind::ALL.map(AuditKind::as_str), "What happened to the connection.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(Timestamp::from_unix(1_780_000_000)), "2026-05-28T20:26:40Z");
    }
}
