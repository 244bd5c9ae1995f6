//! [`OAuthAdapter`]: the `OAuthClient` port on oauth2, over the guarded [`SafeHttp`].

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use domain::{Scopes, TokenEndpointAuth};
use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AuthType, AuthorizationCode, Client, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    StandardRevocableToken, TokenUrl,
};
use ports::{ClientKey, OAuthClient, OAuthError, TokenEndpoint, TokenHint, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::account::{AccountTokenResponse, token_set};
use crate::assertion::{SigningKeys, assertion_params};
use crate::errors::{Redactor, map_request_error};
use crate::http::SafeHttp;
use crate::transport::OAuthTransport;

/// How long a revocation may take by default: disconnecting never waits long on a provider.
pub const DEFAULT_REVOKE_TIMEOUT: Duration = Duration::from_secs(3);

/// The outbound OAuth client. Holds no client secret (every call gets its client from the port),
/// only the service's own signing keys for `private_key_jwt`.
#[derive(Debug, Clone)]
pub struct OAuthAdapter {
    http: SafeHttp,
    revoke_timeout: Duration,
    keys: SigningKeys,
}

impl OAuthAdapter {
    /// An adapter on the shared guarded client, revoking within [`DEFAULT_REVOKE_TIMEOUT`], with
    /// no signing key of its own.
    pub fn new(http: SafeHttp) -> Self {
        Self { http, revoke_timeout: DEFAULT_REVOKE_TIMEOUT, keys: SigningKeys::default() }
    }

    /// Signs `private_key_jwt` assertions of clients given no key of their own with `keys`.
    #[must_use]
    pub fn with_signing_keys(mut self, keys: SigningKeys) -> Self {
        self.keys = keys;
        self
    }

    /// Bounds revocation calls by `timeout` instead of the default.
    #[must_use]
    pub fn with_revoke_timeout(mut self, timeout: Duration) -> Self {
        self.revoke_timeout = timeout;
        self
    }

    /// The guarded client, for other outbound calls that must follow the same rules.
    pub fn http(&self) -> &SafeHttp {
        &self.http
    }
}

/// oauth2's basic client, whose token responses also read the fields that name who signed in.
type AccountClient = Client<
    BasicErrorResponse,
    AccountTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// An oauth2 client that authenticates as `endpoint` says, with no endpoint set yet.
fn client_for(endpoint: &TokenEndpoint) -> AccountClient {
    let client = AccountClient::new(ClientId::new(endpoint.client.client_id.clone()));
    let secret = endpoint.client.client_secret.as_ref();
    match (endpoint.auth, secret) {
        // A client assertion travels in the body with the client id (`Authenticated::params`).
        (TokenEndpointAuth::None | TokenEndpointAuth::PrivateKeyJwt, _) | (_, None) => {
            client.set_auth_type(AuthType::RequestBody)
        }
        (TokenEndpointAuth::ClientSecretPost, Some(secret)) => client
            .set_auth_type(AuthType::RequestBody)
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned())),
        (TokenEndpointAuth::ClientSecretBasic, Some(secret)) => client
            .set_auth_type(AuthType::BasicAuth)
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned())),
    }
}

fn parse_url(url: &str, what: &str) -> Result<Url, OAuthError> {
    Url::parse(url).map_err(|_| OAuthError::Blocked(format!("the {what} is not a valid URL")))
}

/// What a token call sends beyond oauth2's own handling: the RFC 8707 `resource`, and a new
/// client assertion for a `private_key_jwt` client.
struct Authenticated {
    resource: Option<String>,
    assertion: Option<[(&'static str, SecretString); 2]>,
}

impl Authenticated {
    fn for_call(endpoint: &TokenEndpoint, keys: &SigningKeys, resource: Option<String>) -> Result<Self, OAuthError> {
        if endpoint.auth != TokenEndpointAuth::PrivateKeyJwt {
            return Ok(Self { resource, assertion: None });
        }
        let [(type_name, kind), (name, jwt)] = assertion_params(endpoint, keys)?;
        Ok(Self { resource, assertion: Some([(type_name, SecretString::from(kind)), (name, SecretString::from(jwt))]) })
    }

    /// The client assertion's form fields, for the hand-written calls.
    fn fields(&self) -> Vec<(&'static str, &SecretString)> {
        self.assertion.iter().flatten().map(|(name, value)| (*name, value)).collect()
    }

    /// The `resource` and [`Self::fields`], as oauth2 takes extra parameters.
    fn params(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        let resource = self.resource.iter().map(|r| ("resource", r.clone()));
        resource.chain(self.fields().into_iter().map(|(name, value)| (name, value.expose_secret().to_owned())))
    }

    /// Every secret a call handles, for scrubbing server messages.
    fn secrets<'a>(&'a self, endpoint: &'a TokenEndpoint, others: &[&'a SecretString]) -> Vec<&'a SecretString> {
        let assertion = self.assertion.iter().flatten().map(|(_, value)| value);
        others.iter().copied().chain(endpoint.client.client_secret.as_ref()).chain(assertion).collect()
    }
}

#[async_trait]
impl OAuthClient for OAuthAdapter {
    async fn exchange_code(
        &self,
        endpoint: &TokenEndpoint,
        code: &SecretString,
        pkce_verifier: &SecretString,
        redirect_uri: &str,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError> {
        let token_url = parse_url(&endpoint.url, "token endpoint")?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| OAuthError::Blocked("the redirect URI is not a valid URL".to_owned()))?;
        let client = client_for(endpoint).set_token_uri(TokenUrl::from_url(token_url));
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose_secret().to_owned()))
            .set_redirect_uri(Cow::Owned(redirect));
        let auth = Authenticated::for_call(endpoint, &self.keys, resource)?;
        for (name, value) in auth.params() {
            request = request.add_extra_param(name, value);
        }
        let transport = OAuthTransport::new(&self.http, None);
        let secrets = auth.secrets(endpoint, &[code, pkce_verifier]);
        let response =
            request.request_async(&transport).await.map_err(|e| map_request_error(e, &Redactor::new(secrets)))?;
        token_set(response)
    }

    async fn refresh(
        &self,
        endpoint: &TokenEndpoint,
        refresh_token: &SecretString,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError> {
        let token_url = parse_url(&endpoint.url, "token endpoint")?;
        let client = client_for(endpoint).set_token_uri(TokenUrl::from_url(token_url));
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = client.exchange_refresh_token(&token);
        let auth = Authenticated::for_call(endpoint, &self.keys, resource)?;
        for (name, value) in auth.params() {
            request = request.add_extra_param(name, value);
        }
        let transport = OAuthTransport::new(&self.http, None);
        let secrets = auth.secrets(endpoint, &[refresh_token]);
        let response =
            request.request_async(&transport).await.map_err(|e| map_request_error(e, &Redactor::new(secrets)))?;
        token_set(response)
    }

    async fn client_credentials(
        &self,
        endpoint: &TokenEndpoint,
        scopes: &Scopes,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError> {
        let token_url = parse_url(&endpoint.url, "token endpoint")?;
        let client = client_for(endpoint).set_token_uri(TokenUrl::from_url(token_url));
        let mut request = client.exchange_client_credentials();
        if !scopes.is_empty() {
            request = request.add_scopes(scopes.iter().map(|s| Scope::new(s.to_owned())));
        }
        let auth = Authenticated::for_call(endpoint, &self.keys, resource)?;
        for (name, value) in auth.params() {
            request = request.add_extra_param(name, value);
        }
        let transport = OAuthTransport::new(&self.http, None);
        let secrets = auth.secrets(endpoint, &[]);
        let response =
            request.request_async(&transport).await.map_err(|e| map_request_error(e, &Redactor::new(secrets)))?;
        token_set(response)
    }

    async fn revoke(&self, endpoint: &TokenEndpoint, token: &SecretString, hint: TokenHint) -> Result<(), OAuthError> {
        let auth = Authenticated::for_call(endpoint, &self.keys, None)?;
        crate::revoke::revoke(&self.http, endpoint, token, hint, &auth.fields(), self.revoke_timeout).await
    }

    async fn exchange_identity(
        &self,
        idp: &TokenEndpoint,
        subject_token: &SecretString,
        audience: &str,
        resource: &str,
        scopes: &Scopes,
    ) -> Result<SecretString, OAuthError> {
        let auth = Authenticated::for_call(idp, &self.keys, None)?;
        let exchange = crate::exchange::Exchange { subject_token, audience, resource, scopes };
        crate::exchange::exchange_identity(&self.http, idp, &auth.fields(), exchange).await
    }

    async fn jwt_bearer(
        &self,
        endpoint: &TokenEndpoint,
        assertion: &SecretString,
        scopes: &Scopes,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError> {
        let auth = Authenticated::for_call(endpoint, &self.keys, None)?;
        crate::exchange::jwt_bearer(&self.http, endpoint, &auth.fields(), assertion, scopes, resource.as_deref()).await
    }

    fn check_client_key(&self, key: &ClientKey) -> Result<(), OAuthError> {
        crate::assertion::check_client_key(key)
    }
}
