use std::collections::BTreeMap;

use crate::{ParseError, Scopes, ServerName};

/// How the engine talks to an MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    StreamableHttp,
    Sse,
    Stdio,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Self::StreamableHttp, Self::Sse, Self::Stdio];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable_http",
            Self::Sse => "sse",
            Self::Stdio => "stdio",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == input)
            .ok_or_else(|| ParseError::new("transport", "must be one of streamable_http, sse, stdio"))
    }
}

/// How a connection to a server is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    OAuth,
    ApiKey,
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [Self::OAuth, Self::ApiKey, Self::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth => "oauth",
            Self::ApiKey => "api_key",
            Self::None => "none",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == input)
            .ok_or_else(|| ParseError::new("auth_method", "must be one of oauth, api_key, none"))
    }
}

/// How the client authenticates itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEndpointAuth {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2): the key given for that
    /// client, or the service's own signing key.
    PrivateKeyJwt,
    None,
}

impl TokenEndpointAuth {
    pub const ALL: [Self; 4] = [Self::ClientSecretBasic, Self::ClientSecretPost, Self::PrivateKeyJwt, Self::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|t| t.as_str() == input).ok_or_else(|| {
            ParseError::new(
                "token_endpoint_auth_method",
                "must be one of client_secret_basic, client_secret_post, private_key_jwt, none",
            )
        })
    }

    /// Whether the client proves itself with a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// The algorithm of a client's own signing key (`private_key_jwt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl SigningAlgorithm {
    pub const ALL: [Self; 2] = [Self::Es256, Self::Rs256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == input)
            .ok_or_else(|| ParseError::new("signing_algorithm", "must be ES256 or RS256"))
    }
}

/// How the service identifies itself to an authorization server found by discovery:
/// `client_registration` of a catalog entry or of a custom server's `server_config` (issue 18 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// A pre-registered client, else the Client ID Metadata Document, else dynamic registration
    /// (MCP's order); a refused metadata-document client falls back to dynamic registration.
    #[default]
    Auto,
    /// Only the client the operator registered (a catalog entry's `client_id`).
    Preregistered,
    /// Only the Client ID Metadata Document.
    Cimd,
    /// Only dynamic client registration (RFC 7591), for servers that advertise metadata
    /// documents but refuse a URL `client_id`.
    Dcr,
}

impl RegistrationMode {
    pub const ALL: [Self; 4] = [Self::Auto, Self::Preregistered, Self::Cimd, Self::Dcr];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Preregistered => "preregistered",
            Self::Cimd => "cimd",
            Self::Dcr => "dcr",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == input)
            .ok_or_else(|| ParseError::new("client_registration", "must be one of auto, preregistered, cimd, dcr"))
    }
}

/// The OAuth grant a catalog entry's connections are authorized with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OAuthGrant {
    /// A user at a browser: authorization code with PKCE, then refresh tokens.
    #[default]
    AuthorizationCode,
    /// No user: the client's own credentials (RFC 6749 §4.4), minted again before expiry
    /// (catalog `auth_method: "oauth_client_credentials"`).
    ClientCredentials,
    /// No browser: the user's ID token from their enterprise identity provider, exchanged there
    /// for an ID-JAG that the MCP server's authorization server takes (RFC 8693, RFC 7523; the MCP
    /// enterprise-managed authorization extension), exchanged again before expiry.
    IdentityAssertion,
}

impl OAuthGrant {
    pub const ALL: [Self; 3] = [Self::AuthorizationCode, Self::ClientCredentials, Self::IdentityAssertion];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::IdentityAssertion => "identity_assertion",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|g| g.as_str() == input).ok_or_else(|| {
            ParseError::new("grant_type", "must be authorization_code, client_credentials or identity_assertion")
        })
    }

    /// Whether the service renews the token itself, with no user and no refresh token.
    pub fn renews_alone(self) -> bool {
        self != Self::AuthorizationCode
    }
}

/// Where a static API key travels: `header: scheme key`, or the key alone without a scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySpec {
    pub header: String,
    pub scheme: Option<String>,
}

impl ApiKeySpec {
    /// The header value for `key`.
    pub fn header_value(&self, key: &str) -> String {
        match &self.scheme {
            Some(scheme) => format!("{scheme} {key}"),
            None => key.to_owned(),
        }
    }
}

/// The OAuth settings of a catalog entry (spec §6). Endpoints are absent when they are to be
/// discovered; the client secret is never here, only the name of the variable that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSpec {
    pub discovery: bool,
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub token_endpoint_auth_method: TokenEndpointAuth,
    pub scopes: Scopes,
    pub extra_authorize_params: BTreeMap<String, String>,
    pub send_resource: bool,
    /// How the client is found at a discovered authorization server.
    pub registration: RegistrationMode,
    /// How connections are authorized.
    pub grant: OAuthGrant,
}

/// How connections to a server are authorized, with the settings each method needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSpec {
    OAuth(OAuthSpec),
    ApiKey(ApiKeySpec),
    None,
}

impl AuthSpec {
    pub fn method(&self) -> AuthMethod {
        match self {
            Self::OAuth(_) => AuthMethod::OAuth,
            Self::ApiKey(_) => AuthMethod::ApiKey,
            Self::None => AuthMethod::None,
        }
    }
}

/// One MCP server the engine can connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub name: ServerName,
    pub display_name: String,
    pub transport: Transport,
    pub url: Option<String>,
    pub description: Option<String>,
    pub auth: AuthSpec,
    /// `false`: the catalog forces every connection of it to be non-exportable (issue 16).
    pub exportable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_wire_names() {
        for t in Transport::ALL {
            assert_eq!(Transport::parse(t.as_str()).unwrap(), t);
        }
        for a in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(a.as_str()).unwrap(), a);
        }
        assert!(Transport::parse("websocket").is_err());
        assert!(AuthMethod::parse("OAuth").is_err());
        assert_eq!(TokenEndpointAuth::parse("client_secret_post").unwrap(), TokenEndpointAuth::ClientSecretPost);
    }

    #[test]
    fn api_key_header_value_uses_the_scheme_when_there_is_one() {
        let bearer = ApiKeySpec { header: "Authorization".into(), scheme: Some("Bearer".into()) };
        let bare = ApiKeySpec { header: "X-Api-Key".into(), scheme: None };
        assert_eq!(bearer.header_value("k1"), "Bearer k1");
        assert_eq!(bare.header_value("k1"), "k1");
    }
}
