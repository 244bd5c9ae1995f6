//! What a test authorization server does: its clients and its (switchable) behaviour.

use std::time::Duration;

/// How a client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT client assertion (RFC 7523 §2.2) signed by a key of the client's JWK Set.
    PrivateKeyJwt,
    /// A public client: `client_id` in the body, no secret.
    None,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::PrivateKeyJwt, Self::None]
            .into_iter()
            .find(|a| a.as_str() == input)
    }
}

/// An identity provider whose ID-JAGs an MCP authorization server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIdp {
    pub issuer: String,
    /// Its public keys (a JWK Set).
    pub jwks: serde_json::Value,
}

/// A client the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub auth: ClientAuth,
    /// Redirect URIs matched exactly (loopback ones may also be allowed wholesale, see
    /// [`TestAuthConfig::allow_loopback_redirects`]).
    pub redirect_uris: Vec<String>,
    /// The public keys of a `private_key_jwt` client (a JWK Set).
    pub jwks: Option<serde_json::Value>,
}

impl TestClient {
    /// A confidential client that authenticates with HTTP Basic.
    pub fn basic(client_id: &str, client_secret: &str) -> Self {
        Self::new(client_id, Some(client_secret), ClientAuth::ClientSecretBasic)
    }

    /// A confidential client that sends its secret in the form body.
    pub fn post(client_id: &str, client_secret: &str) -> Self {
        Self::new(client_id, Some(client_secret), ClientAuth::ClientSecretPost)
    }

    /// A public client (no secret).
    pub fn public(client_id: &str) -> Self {
        Self::new(client_id, None, ClientAuth::None)
    }

    /// A client that signs assertions with a private key whose public half is in `jwks`.
    pub fn private_key_jwt(client_id: &str, jwks: serde_json::Value) -> Self {
        Self { jwks: Some(jwks), ..Self::new(client_id, None, ClientAuth::PrivateKeyJwt) }
    }

    fn new(client_id: &str, client_secret: Option<&str>, auth: ClientAuth) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: client_secret.map(str::to_owned),
            auth,
            redirect_uris: Vec::new(),
            jwks: None,
        }
    }

    #[must_use]
    pub fn with_redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uris.push(uri.to_owned());
        self
    }
}

/// Which `iss` the authorization response carries (RFC 9207).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssMode {
    /// The server's own issuer.
    Correct,
    /// Another issuer ([`WRONG_ISSUER`]), as a mix-up attacker would send.
    Wrong,
    /// No `iss` parameter.
    Missing,
}

/// The issuer [`IssMode::Wrong`] sends.
pub const WRONG_ISSUER: &str = "https://attacker.example";

/// A failure the token or revocation endpoint can be switched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `500` with a plain-text body.
    ServerError,
    /// `200` with an HTML body that is no OAuth response (and words in its `Content-Type`).
    Garbage,
    /// Sleep [`TestAuthConfig::hang_for`], then `503`.
    Hang,
    /// `400 {"error":"invalid_grant"}` whatever the request.
    InvalidGrant,
    /// `429` with `Retry-After: 1`.
    TooManyRequests,
    /// `302` to `/redirected`, which counts the requests that followed it.
    Redirect,
    /// `400` with this `error` code (any text, as a hostile server sends) and a description.
    Refuse(&'static str),
}

/// Everything about the server's behaviour. Set at start, changeable at run time with
/// [`crate::TestAuthServer::configure`].
#[derive(Debug, Clone)]
pub struct TestAuthConfig {
    pub clients: Vec<TestClient>,
    /// Any `http://127.0.0.1…`, `http://[::1]…` or `http://localhost…` redirect URI is accepted
    /// for every client, in addition to the registered ones.
    pub allow_loopback_redirects: bool,
    pub iss: IssMode,
    /// `authorization_response_iss_parameter_supported` in the metadata.
    pub advertise_iss: bool,
    /// Consent is refused: `/authorize` redirects with `error=access_denied`.
    pub deny: bool,
    /// `expires_in` of access tokens; `None` issues tokens without one (that never expire here).
    pub access_token_lifetime: Option<Duration>,
    pub issue_refresh_tokens: bool,
    /// A refresh returns a new refresh token and retires the old one.
    pub rotate_refresh_tokens: bool,
    /// A retired refresh token presented again revokes every token of its grant.
    pub revoke_family_on_reuse: bool,
    /// The scope granted whatever was asked; `None` grants the requested scope.
    pub granted_scope: Option<String>,
    /// Whether token responses carry `scope`.
    pub return_scope: bool,
    pub scopes_supported: Vec<String>,
    pub token_failure: Option<Failure>,
    pub revoke_failure: Option<Failure>,
    /// How long [`Failure::Hang`] sleeps.
    pub hang_for: Duration,
    /// How long `/token` thinks before it answers (a slow provider widens the window in which
    /// a crash can interrupt an exchange or a refresh).
    pub token_delay: Duration,
    /// How long `/token` waits between granting (tokens issued, a refresh token rotated) and
    /// answering: the window in which a provider has issued tokens the client has not received.
    pub answer_delay: Duration,
    /// `/register` accepts registrations (otherwise it answers `invalid_client_metadata`).
    pub registration_enabled: bool,
    /// `/register` is listed in the metadata but refuses every registration.
    pub refuse_registrations: bool,
    /// The metadata document is served (otherwise every well-known URL answers `404`).
    pub serve_metadata: bool,
    /// An `https` URL is accepted as the `client_id` of a public client (a Client ID Metadata
    /// Document, taken on trust: the document is not fetched), and the metadata says so.
    pub accept_client_id_urls: bool,
    /// With `accept_client_id_urls`, as some servers do: the metadata still advertises client ID
    /// metadata documents, but `/authorize` sends such a client back with `unauthorized_client`.
    pub refuse_client_id_urls: bool,
    /// The `WWW-Authenticate` value of this server's own `/mcp` (a 2025-03-26 server) when it
    /// refuses a request: `Bearer` by default.
    pub legacy_mcp_challenge: String,
    /// Entries merged into the metadata document; a `null` value removes the entry.
    pub metadata_overrides: serde_json::Map<String, serde_json::Value>,
    /// A mix-up attacker (RFC 9700 §4.4): `/authorize` consents to nothing and sends the browser
    /// to this URL instead, adding every parameter of the request it does not set itself (so
    /// another server's `/authorize` with that server's client, and the caller's `state` and
    /// PKCE challenge).
    pub bounce_to: Option<String>,
    /// `/authorize` first shows a consent page whose "Allow" button (id `allow`) consents, as a
    /// person would click it; otherwise it consents at once.
    pub consent_page: bool,
    /// Code exchanges answer an OIDC `id_token` with these claims (`iss`, `aud` and `iat` are
    /// added unless given), signed by nobody: the payload is what a client reads.
    pub id_token_claims: Option<serde_json::Value>,
    /// Refreshes answer an `id_token` too (OIDC leaves it to the provider; most send none).
    pub id_token_on_refresh: bool,
    /// As an enterprise identity provider: the token exchange issues ID-JAGs naming this client
    /// (the MCP client's id at the MCP server's authorization server). `None`: it issues none.
    pub id_jag_client_id: Option<String>,
    /// The identity provider's policy refuses every exchange (`invalid_grant`), repeating the
    /// subject token in its description as a careless provider would.
    pub id_jag_denied: bool,
    /// The `jwt-bearer` grant answers a refresh token too (which a client should not keep).
    pub refresh_token_with_jwt_bearer: bool,
    /// As an MCP server's authorization server: the `jwt-bearer` grant takes ID-JAGs of this
    /// identity provider (and the metadata lists the grant).
    pub trusted_idp: Option<TrustedIdp>,
}

impl Default for TestAuthConfig {
    fn default() -> Self {
        Self {
            clients: vec![TestClient::basic("test-client", "test-secret")],
            allow_loopback_redirects: true,
            iss: IssMode::Correct,
            advertise_iss: true,
            deny: false,
            access_token_lifetime: Some(Duration::from_secs(3600)),
            issue_refresh_tokens: true,
            rotate_refresh_tokens: true,
            revoke_family_on_reuse: true,
            granted_scope: None,
            return_scope: true,
            scopes_supported: vec!["read".to_owned(), "write".to_owned()],
            token_failure: None,
            revoke_failure: None,
            hang_for: Duration::from_secs(30),
            token_delay: Duration::ZERO,
            answer_delay: Duration::ZERO,
            registration_enabled: true,
            refuse_registrations: false,
            serve_metadata: true,
            accept_client_id_urls: false,
            refuse_client_id_urls: false,
            legacy_mcp_challenge: "Bearer".to_owned(),
            metadata_overrides: serde_json::Map::new(),
            bounce_to: None,
            consent_page: false,
            id_token_claims: None,
            id_token_on_refresh: false,
            id_jag_client_id: None,
            id_jag_denied: false,
            refresh_token_with_jwt_bearer: false,
            trusted_idp: None,
        }
    }
}
