//! Request and response bodies, with the schemas the OpenAPI document shows for them. Closed
//! sets of values (transports, statuses) are documented from the domain's own lists.
//!
//! Responses never carry a secret, except [`responses::CredentialsResponse`] and, once, the
//! token of a new connect session ([`sessions::SessionResponse`]).

mod requests;
mod responses;
mod sessions;

mod users;
mod webhooks;

pub(crate) use requests::{CallbackParams, ConnectBody, ReauthorizeBody, ServerConfigBody};
pub(crate) use responses::{
    CallbackResponse, ConnectResponse, ConnectionDto, CredentialsResponse, DisconnectResponse, EventDto, ProxyAccess,
    ReauthorizeResponse, ServerDto,
};
pub(crate) use sessions::{SessionBody, SessionResponse};

pub(crate) use users::{ForgetResponse, UserDto};
pub(crate) use webhooks::{DeliveryDto, EventPageDto, WebhookBody, WebhookDto, WebhookPatch, WebhookWithSecret};

use domain::{AuthMethod, ConnectionStatus, OAuthGrant, RegistrationMode, SigningAlgorithm, Transport};
use ports::AuditKind;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

pub(crate) use app::events::rfc3339;

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
