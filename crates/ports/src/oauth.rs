use std::collections::BTreeMap;

use async_trait::async_trait;
use domain::{Account, Scopes, SigningAlgorithm, TokenEndpointAuth};
use secrecy::SecretString;

/// Who the service is to an authorization server.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// The client's own key for `private_key_jwt`; without one, the service's signing key signs.
    pub private_key: Option<ClientKey>,
}

impl ClientCredentials {
    /// A client that proves itself with `secret` (or, without one, a public client).
    pub fn with_secret(client_id: String, client_secret: Option<SecretString>) -> Self {
        Self { client_id, client_secret, private_key: None }
    }
}

/// A private key (PKCS #8 or, for RSA, PKCS #1 PEM) a client signs its assertions with.
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub pem: SecretString,
    pub algorithm: SigningAlgorithm,
}

/// Where and how to call an authorization server's token (or revocation) endpoint.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    pub url: String,
    pub auth: TokenEndpointAuth,
    pub client: ClientCredentials,
    /// The `aud` of a client assertion: the authorization server's issuer when known, else its
    /// token endpoint's URL; kept as is when `url` is the revocation endpoint's. `None`: `url`.
    pub audience: Option<String>,
}

/// Everything that goes into an authorization URL (the app builds the URL itself).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub authorization_endpoint: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: SecretString,
    pub code_challenge: String,
    pub resource: Option<String>,
    pub extra_params: BTreeMap<String, String>,
}

/// A successful token response.
#[derive(Debug)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// Seconds from now; `None` when the server did not say.
    pub expires_in: Option<u64>,
    /// The granted scopes when the server listed them; otherwise the requested ones apply.
    pub scopes: Option<Scopes>,
    /// Who signed in, when the response said (an `id_token`'s email or subject, or a field a
    /// well-known provider uses); never a secret.
    pub account: Option<Account>,
}

/// Which token a revocation request carries (RFC 7009 `token_type_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHint {
    AccessToken,
    RefreshToken,
}

impl TokenHint {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// Why a call to an authorization server did not succeed. Messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The server answered with an OAuth error (`invalid_grant`, `invalid_client`, …).
    #[error("the authorization server refused: {code}")]
    Rejected { code: String, description: Option<String> },
    /// Timeout, connection failure, `5xx` or `429`: worth retrying later.
    #[error("the authorization server is unavailable: {0}")]
    Unavailable(String),
    /// The server answered something that is not a valid OAuth response.
    #[error("the authorization server sent an invalid response: {0}")]
    InvalidResponse(String),
    /// The URL is not allowed (SSRF rules: not https, or a private address).
    #[error("the address is not allowed: {0}")]
    Blocked(String),
    /// The client cannot prove itself: its private key does not sign, or it has none.
    #[error("the client cannot authenticate: {0}")]
    ClientAuthentication(String),
}

impl OAuthError {
    /// Transient failures never expire a connection (spec §7).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The token calls of OAuth 2.1 against one authorization server.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait OAuthClient: Send + Sync + 'static {
    async fn exchange_code(
        &self,
        endpoint: &TokenEndpoint,
        code: &SecretString,
        pkce_verifier: &SecretString,
        redirect_uri: &str,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError>;

    async fn refresh(
        &self,
        endpoint: &TokenEndpoint,
        refresh_token: &SecretString,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError>;

    /// RFC 6749 §4.4: a token for the client itself (no user), for `scopes` and RFC 8707
    /// `resource`. No refresh token is expected: the grant is simply made again.
    async fn client_credentials(
        &self,
        endpoint: &TokenEndpoint,
        scopes: &Scopes,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError>;

    /// RFC 7009 revocation, bounded by a short timeout.
    async fn revoke(&self, endpoint: &TokenEndpoint, token: &SecretString, hint: TokenHint) -> Result<(), OAuthError>;

    /// RFC 8693 at an enterprise identity provider (`idp`, as the service's client there): the
    /// Identity Assertion JWT Authorization Grant (ID-JAG) the user's ID token `subject_token`
    /// gets for the authorization server `audience` and the MCP server `resource`.
    async fn exchange_identity(
        &self,
        idp: &TokenEndpoint,
        subject_token: &SecretString,
        audience: &str,
        resource: &str,
        scopes: &Scopes,
    ) -> Result<SecretString, OAuthError>;

    /// RFC 7523 §2.1 at `endpoint`: the token the ID-JAG `assertion` gets.
    async fn jwt_bearer(
        &self,
        endpoint: &TokenEndpoint,
        assertion: &SecretString,
        scopes: &Scopes,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError>;

    /// Whether `key` can sign `private_key_jwt` assertions: checked when a client is given one, so
    /// a bad key is refused at connect and not at the first token call.
    fn check_client_key(&self, key: &ClientKey) -> Result<(), OAuthError>;
}
