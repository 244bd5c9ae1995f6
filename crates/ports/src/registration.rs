//! Client registrations per authorization server, and the authorization server each discovered
//! connection belongs to (spec §5.2: "all state is keyed by issuer").

use async_trait::async_trait;
use domain::{RefId, SigningAlgorithm, Timestamp, TokenEndpointAuth};

use crate::{Sealed, StoreError};

/// The client the service registered at one authorization server (RFC 7591).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    pub issuer: String,
    pub client_id: String,
    /// Sealed with `registrations/<issuer>/client_secret` as associated data.
    pub client_secret: Option<Sealed>,
    pub auth: TokenEndpointAuth,
    /// The redirect URI it was registered with; another one needs a new registration.
    pub redirect_uri: String,
    /// When the secret stops working; `None` when it does not expire.
    pub secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Which authorization server, client and resource a discovered connection's tokens belong to,
/// so the callback, refreshes and revocation talk to the same server as the same client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredAuthorization {
    pub ref_id: RefId,
    pub issuer: String,
    pub client_id: String,
    /// The RFC 8707 `resource` of every token request.
    pub resource: String,
    /// The MCP server published no protected resource metadata (the 2025-03-26 revision): the
    /// issuer is its origin, whose endpoints are looked for with
    /// [`crate::AuthorizationDiscovery::origin_authorization_server`] (its metadata, else the
    /// default endpoints).
    pub at_origin: bool,
    /// The client given with a custom server's connect, when it was (else the client is the
    /// catalog's, a metadata document's or a registration's, found by `client_id`).
    pub own_client: Option<OwnClient>,
    /// The identity provider an identity assertion connection's ID token is exchanged at, when
    /// it was given with the connect.
    pub identity_provider: Option<BoundIdentityProvider>,
}

/// An enterprise identity provider given with a connect (`server_config.identity_assertion`):
/// where the user's ID token is exchanged for an ID-JAG, as which client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundIdentityProvider {
    pub issuer: String,
    pub token_endpoint: String,
    pub client_id: String,
    /// The service's client secret there, sealed with `authorizations/<ref_id>/idp_client_secret`;
    /// `None` for a public client.
    pub client_secret: Option<Sealed>,
}

/// A client given with a custom server's connect (`server_config.client_id` with a secret or a
/// private key, issue 18 §3): this connection's alone, never offered to another, its secret sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnClient {
    pub auth: TokenEndpointAuth,
    /// The client secret, or for `private_key_jwt` the private key's PEM.
    pub sealed: Sealed,
    /// The private key's algorithm (`private_key_jwt` only).
    pub algorithm: Option<SigningAlgorithm>,
}

/// The clients registered at each issuer (one per redirect URI, for new flows; each found again by
/// its client id for the connections bound to it), and discovered connections' authorization
/// servers.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait RegistrationStore: Send + Sync + 'static {
    /// Stores `registration` unless one for its issuer and redirect URI is in use already, and
    /// returns the one that is in use now: of concurrent registrations at one issuer for one
    /// redirect URI, exactly one is kept. Registrations for other redirect URIs stay. A client id
    /// the issuer had handed out before is that client again, now for this redirect URI.
    async fn add_registration(&self, registration: &ClientRegistration) -> Result<ClientRegistration, StoreError>;

    /// The client new flows at `issuer` that come back at `redirect_uri` use (never a retired one).
    async fn registration(&self, issuer: &str, redirect_uri: &str) -> Result<Option<ClientRegistration>, StoreError>;

    /// The client `client_id` registered at `issuer`, whatever its redirect URI: what a bound
    /// connection's refreshes and revocation authenticate as.
    async fn client_registration(
        &self,
        issuer: &str,
        client_id: &str,
    ) -> Result<Option<ClientRegistration>, StoreError>;

    /// Stops offering the client `client_id` at `issuer` for new flows (its secret is about to
    /// expire) while keeping it for the connections bound to it; deletes the clients retired at
    /// that issuer whose secret no longer works at `now`. Returns whether it retired one.
    async fn retire_registration(&self, issuer: &str, client_id: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Deletes the client `client_id` at `issuer` (another client at that issuer, a newer
    /// registration included, is left alone). Returns whether it did.
    async fn delete_registration(&self, issuer: &str, client_id: &str) -> Result<bool, StoreError>;

    /// Records (or replaces) the authorization server of a stored connection; fails when there is
    /// no such connection. Deleting the connection deletes this record too.
    async fn bind_authorization(&self, binding: &DiscoveredAuthorization) -> Result<(), StoreError>;

    async fn authorization_of(&self, ref_id: &RefId) -> Result<Option<DiscoveredAuthorization>, StoreError>;
}
