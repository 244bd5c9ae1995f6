//! MCP authorization discovery (spec §5.1) and RFC 7591 client registration (§5.2): how the
//! service learns, from an MCP server's URL alone, which authorization server guards it and
//! who the service is to that server.

use std::fmt;

use async_trait::async_trait;
use domain::{Scopes, TokenEndpointAuth, Transport};
use secrecy::SecretString;

/// A discovery step, named in every error so a caller sees where discovery stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryStep {
    /// The unauthenticated request to the MCP endpoint and its `WWW-Authenticate` challenge.
    Probe,
    /// RFC 9728 protected resource metadata.
    ResourceMetadata,
    /// RFC 8414 / OpenID Connect authorization server metadata.
    ServerMetadata,
    /// RFC 7591 dynamic client registration.
    Registration,
}

impl DiscoveryStep {
    /// The step's name as error answers show it (`details.step`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::ResourceMetadata => "resource metadata",
            Self::ServerMetadata => "authorization server metadata",
            Self::Registration => "client registration",
        }
    }
}

impl fmt::Display for DiscoveryStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryErrorKind {
    /// The SSRF rule refused the address before any connection was made.
    Blocked,
    /// Timeout, connection failure, `5xx` or `429`.
    Unavailable,
    /// The server answered something the specifications do not allow (or nothing usable).
    Invalid,
    /// The server refused with an OAuth error (`invalid_client_metadata`, …).
    Refused,
}

/// Why discovery or registration failed. The message names hosts and fields, never a secret
/// and never a value quoted from a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {message}")]
pub struct DiscoveryError {
    pub step: DiscoveryStep,
    pub kind: DiscoveryErrorKind,
    pub message: String,
}

impl DiscoveryError {
    pub fn new(step: DiscoveryStep, kind: DiscoveryErrorKind, message: impl Into<String>) -> Self {
        Self { step, kind, message: message.into() }
    }
}

/// An MCP server's protected resource metadata (RFC 9728), with the challenge that led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    /// The resource identifier, checked identical to the MCP URL that was probed. It is the
    /// `resource` parameter (RFC 8707) of every authorization, token and refresh request.
    pub resource: String,
    /// Issuer identifiers, at least one.
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Option<Scopes>,
    /// The `scope` of the probe's `WWW-Authenticate: Bearer` challenge, when it had one.
    pub challenge_scope: Option<Scopes>,
}

/// What an unauthenticated request to an MCP endpoint showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceAccess {
    /// The server answered without asking for authorization.
    Open,
    /// The server asked for a bearer token and published where to get one.
    Protected(ProtectedResource),
    /// The server asked for a bearer token, named no `resource_metadata` in its challenge, and
    /// publishes no protected resource metadata: a server of the 2025-03-26 revision, whose
    /// authorization server is its own origin (see
    /// [`AuthorizationDiscovery::origin_authorization_server`]).
    ProtectedWithoutMetadata {
        /// The `scope` of the challenge, when it had one.
        challenge_scope: Option<Scopes>,
    },
}

/// An authorization server's metadata (RFC 8414), checked: its `issuer` is the one asked for,
/// its endpoints are URLs and it supports PKCE `S256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthServerMetadata {
    pub issuer: String,
    /// `None` for a server that offers no code flow (one that only mints for clients, say).
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
    pub scopes_supported: Option<Scopes>,
    pub code_challenge_methods_supported: Vec<String>,
    /// `None` when the server does not say (RFC 8414: then `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub iss_parameter_supported: bool,
    pub client_id_metadata_document_supported: bool,
    /// The server publishes no metadata: these are the 2025-03-26 revision's default endpoints
    /// at an MCP server's origin (`/authorize`, `/token`, `/register`).
    pub default_endpoints: bool,
    /// `grant_types_supported`, when the server says (RFC 8414: else the code and implicit grants).
    pub grant_types_supported: Option<Vec<String>>,
    /// `response_types_supported`, when the server says.
    pub response_types_supported: Option<Vec<String>>,
}

impl AuthServerMetadata {
    /// The RFC 7523 grant an ID-JAG is presented with (issue 18 §4).
    pub const JWT_BEARER: &'static str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

    /// The authorization endpoint of a server that can take a user through the authorization
    /// code flow the way MCP requires it (PKCE with `S256`), or why it cannot. Only code flows
    /// ask: a server that mints for clients alone need not publish one.
    pub fn code_flow(&self) -> Result<&str, &'static str> {
        if !self.code_challenge_methods_supported.iter().any(|m| m == "S256") {
            return Err("it does not support PKCE with S256 (`code_challenge_methods_supported`)");
        }
        if self.response_types_supported.as_ref().is_some_and(|types| !types.iter().any(|t| t == "code")) {
            return Err("it does not support the authorization code flow (`response_types_supported`)");
        }
        self.authorization_endpoint.as_deref().ok_or("`authorization_endpoint` is missing")
    }

    /// Whether the server lists the `jwt-bearer` grant: it takes identity assertions.
    pub fn takes_jwt_bearer(&self) -> bool {
        self.grant_types_supported.as_ref().is_some_and(|grants| grants.iter().any(|g| g == Self::JWT_BEARER))
    }

    /// Whether the token endpoint accepts `method`, with RFC 8414's default when it is silent.
    pub fn accepts_auth_method(&self, method: TokenEndpointAuth) -> bool {
        match &self.token_endpoint_auth_methods_supported {
            Some(methods) => methods.iter().any(|m| m == method.as_str()),
            None => method == TokenEndpointAuth::ClientSecretBasic,
        }
    }
}

/// An RFC 7591 registration request: a confidential or public web client with one redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRequest {
    pub client_name: String,
    /// Registered exactly; the answer must not change it.
    pub redirect_uri: String,
    pub auth: TokenEndpointAuth,
    pub scopes: Scopes,
}

/// What a registration answered.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub auth: TokenEndpointAuth,
    /// Unix seconds after which the secret is no longer accepted; `None` when it does not expire.
    pub secret_expires_at: Option<i64>,
}

/// The outbound side of MCP authorization discovery. Every call goes through the SSRF guard.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AuthorizationDiscovery: Send + Sync + 'static {
    /// Probes `mcp_url` without credentials. On `401` it reads the `WWW-Authenticate` challenge
    /// and fetches the protected resource metadata (from the challenge's `resource_metadata`,
    /// else the path-suffixed then the root well-known URL), whose `resource` must be `mcp_url`.
    async fn probe(&self, mcp_url: &str, transport: Transport) -> Result<ResourceAccess, DiscoveryError>;

    /// The metadata of the authorization server `issuer`, from the well-known URLs in the order
    /// the MCP specification gives, cached for a bounded time.
    async fn authorization_server(&self, issuer: &str) -> Result<AuthServerMetadata, DiscoveryError>;

    /// The authorization server of an MCP server of the 2025-03-26 revision, whose origin
    /// (`scheme://host[:port]`) is its issuer: the metadata published there, as
    /// [`Self::authorization_server`] finds and checks it, else (when every well-known URL
    /// answers that it has none) the default endpoints `/authorize`, `/token` and `/register` at
    /// that origin, with PKCE `S256` as that revision required. A failure to fetch is a
    /// failure, never a reason to use the defaults.
    async fn origin_authorization_server(&self, origin: &str) -> Result<AuthServerMetadata, DiscoveryError>;

    /// Registers a client at `registration_endpoint` (RFC 7591, `application_type: "web"`).
    async fn register_client(
        &self,
        registration_endpoint: &str,
        request: &RegistrationRequest,
    ) -> Result<RegisteredClient, DiscoveryError>;
}
