//! Enterprise-managed authorization (issue 18 §4; the MCP extension of that name): a connection
//! made with no browser and no consent page from the user's ID token, which their enterprise
//! identity provider exchanges (RFC 8693) for an Identity Assertion JWT Authorization Grant
//! (ID-JAG) that the MCP server's authorization server takes (RFC 7523), as the service's
//! pre-registered client there.
//!
//! The connect gives `server_config.identity_assertion`: the `id_token`, and the identity provider
//! (`idp_issuer`, `idp_token_endpoint`, `idp_client_id`, `idp_client_secret`). The ID token is kept
//! sealed in the connection's refresh token column (the credential that renews it: before the
//! access token expires the service exchanges again), the identity provider with the connection's
//! authorization server binding, its secret sealed. A refusal of either server (the ID token
//! expired, the policy changed) expires the connection with its reason.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use domain::{Connection, OAuthGrant, Scopes, TenantId};
use ports::{
    AuthServerMetadata, BoundIdentityProvider, Cipher, ClientCredentials, DiscoveredAuthorization, OAuthError,
    TokenEndpoint, TokenHint, TokenSet,
};
use secrecy::{ExposeSecret, SecretString};

use super::flow_parts::Target;
use super::identity::TokenTarget;
use super::idp_aad;
use crate::{Deps, Directory, Error};
use ports::OAuthClient;

/// The longest ID token accepted (they are JWTs of a few kilobytes).
const MAX_ID_TOKEN: usize = 16 * 1024;
/// The longest issuer or endpoint URL accepted.
const MAX_URL: usize = 2048;

const FIELD: &str = "server_config.identity_assertion";

/// `server_config.identity_assertion` as given, checked by [`UserAssertion::parse`].
#[derive(Debug, Clone, Default)]
pub struct IdentityAssertionParts {
    pub id_token: Option<SecretString>,
    pub idp_issuer: Option<String>,
    pub idp_token_endpoint: Option<String>,
    pub idp_client_id: Option<String>,
    pub idp_client_secret: Option<SecretString>,
}

/// An enterprise identity provider: where a user's ID token is exchanged for ID-JAGs, as which
/// client. Given with a connect, or configured by the operator for a tenant.
#[derive(Debug, Clone)]
pub struct IdentityProvider {
    pub issuer: String,
    pub token_endpoint: String,
    /// The service's client id there.
    pub client_id: String,
    /// That client's secret (none for a public client).
    pub client_secret: Option<SecretString>,
}

/// Every tenant's configured identity provider, replaced whole when the configuration is read
/// again.
#[derive(Debug, Default)]
pub struct IdentityProviders {
    by_tenant: RwLock<Arc<HashMap<TenantId, IdentityProvider>>>,
}

impl IdentityProviders {
    pub fn replace(&self, providers: HashMap<TenantId, IdentityProvider>) {
        *self.by_tenant.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(providers);
    }

    pub(crate) fn of(&self, tenant: &TenantId) -> Option<IdentityProvider> {
        self.by_tenant.read().unwrap_or_else(PoisonError::into_inner).get(tenant).cloned()
    }
}

/// A user's identity assertion, checked: their ID token and where to exchange it.
#[derive(Debug, Clone)]
pub(crate) struct UserAssertion {
    pub id_token: SecretString,
    idp: IdentityProvider,
}

fn invalid(field: &'static str, message: &str) -> Error {
    Error::validation(field, message.to_owned())
}

fn is_url(value: &str) -> bool {
    value.len() <= MAX_URL
        && url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
}

impl UserAssertion {
    /// The assertion `parts` make: an ID token, and the identity provider's issuer, token endpoint
    /// and the service's client id there (its secret when it has one), or, when `parts` names none
    /// of them, the tenant's configured provider. Every field is named when it is missing or
    /// malformed; nothing given is repeated.
    pub(crate) fn parse(parts: IdentityAssertionParts, tenant: Option<IdentityProvider>) -> Result<Self, Error> {
        let id_token = parts
            .id_token
            .filter(|t| !t.expose_secret().trim().is_empty() && t.expose_secret().len() <= MAX_ID_TOKEN)
            .ok_or_else(|| invalid("server_config.identity_assertion.id_token", "is required: the user's ID token"))?;
        let names_none = parts.idp_issuer.is_none()
            && parts.idp_token_endpoint.is_none()
            && parts.idp_client_id.is_none()
            && parts.idp_client_secret.is_none();
        if let (true, Some(idp)) = (names_none, tenant) {
            return Ok(Self { id_token, idp });
        }
        let (Some(issuer), Some(token_endpoint), Some(client_id)) =
            (parts.idp_issuer, parts.idp_token_endpoint, parts.idp_client_id)
        else {
            return Err(invalid(
                FIELD,
                "needs the identity provider: idp_issuer, idp_token_endpoint and idp_client_id (with \
                 idp_client_secret for a confidential client), or one the operator configured for the tenant",
            ));
        };
        if !is_url(&issuer) {
            return Err(invalid("server_config.identity_assertion.idp_issuer", "must be an http(s) URL"));
        }
        if !is_url(&token_endpoint) {
            return Err(invalid("server_config.identity_assertion.idp_token_endpoint", "must be an http(s) URL"));
        }
        if client_id.trim().is_empty()
            || client_id.chars().count() > 255
            || client_id.chars().any(domain::text::is_hidden_control)
        {
            return Err(invalid(
                "server_config.identity_assertion.idp_client_id",
                "must be 1 to 255 printable characters",
            ));
        }
        let client_secret = parts.idp_client_secret;
        if client_secret.as_ref().is_some_and(|s| s.expose_secret().is_empty() || s.expose_secret().len() > 4096) {
            return Err(invalid("server_config.identity_assertion.idp_client_secret", "must be 1 to 4096 characters"));
        }
        Ok(Self { id_token, idp: IdentityProvider { issuer, token_endpoint, client_id, client_secret } })
    }
}

/// How a discovered connection is authorized: the grant its target asks for, or, for a connect
/// that brings an identity assertion, the identity assertion grant when the authorization server
/// lists `jwt-bearer` among its grants (or the catalog entry or custom server says so).
pub(crate) fn grant_for(target: &Target<'_>, metadata: &AuthServerMetadata) -> Result<OAuthGrant, Error> {
    match (target.grant, target.assertion.is_some()) {
        (OAuthGrant::IdentityAssertion, false) => {
            Err(invalid(FIELD, "this server is connected with the user's identity assertion: give identity_assertion"))
        }
        (OAuthGrant::ClientCredentials, true) => {
            Err(invalid(FIELD, "the client credentials grant takes no identity assertion"))
        }
        (OAuthGrant::AuthorizationCode, true) if !metadata.takes_jwt_bearer() => Err(invalid(
            FIELD,
            "the authorization server does not list the jwt-bearer grant: it takes no identity assertion",
        )),
        (OAuthGrant::AuthorizationCode, true) => Ok(OAuthGrant::IdentityAssertion),
        (grant, _) => Ok(grant),
    }
    .and_then(|grant| match grant {
        // An ID-JAG names the client: only one registered beforehand can present it.
        OAuthGrant::IdentityAssertion if target.given.is_none() && !names_a_client(target) => Err(invalid(
            FIELD,
            "the identity assertion grant needs the client registered at the authorization server beforehand, \
             and this server names none",
        )),
        grant => Ok(grant),
    })
}

/// Whether the catalog entry of `target` names a pre-registered client.
fn names_a_client(target: &Target<'_>) -> bool {
    matches!(target.entry.map(|e| &e.spec.auth), Some(domain::AuthSpec::OAuth(o)) if o.client_id.is_some())
}

impl<D: Deps> Directory<D> {
    /// The ID-JAG the user's ID token `subject` gets at the identity provider of `target` for its
    /// authorization server and resource, through that provider's own circuit breaker (a flaky
    /// provider pauses exchanges there, not the authorization server's other refreshes).
    pub(crate) async fn id_jag(
        &self,
        target: &TokenTarget,
        subject: &SecretString,
        scopes: &Scopes,
    ) -> Result<SecretString, OAuthError> {
        let idp = target.identity_provider.as_ref().ok_or_else(|| {
            OAuthError::InvalidResponse("the connection's identity provider is not recorded".to_owned())
        })?;
        let audience = target.issuer.as_deref().unwrap_or_default();
        let resource = target.resource.as_deref().unwrap_or_default();
        let call = self.ports().oauth.exchange_identity(idp, subject, audience, resource, scopes);
        self.through_breaker(&idp.url, call).await
    }

    /// Drops a refresh token the authorization server added to an identity assertion's token (the
    /// ID token renews it: renewing with a refresh token would keep a user the identity provider
    /// has since refused), revoking it there so it does not stay live, unheld.
    pub(crate) async fn drop_added_refresh_token(
        &self,
        connection: &Connection,
        target: &TokenTarget,
        tokens: &mut TokenSet,
    ) {
        let Some(added) = tokens.refresh_token.take() else { return };
        let Some(url) = target.revocation_endpoint.clone() else {
            tracing::warn!(ref_id = %connection.ref_id, "a refresh token added to an identity assertion's token cannot be revoked: no revocation endpoint");
            return;
        };
        let endpoint = TokenEndpoint { url, ..target.endpoint.clone() };
        let why = "added to an identity assertion's token, which the ID token renews";
        self.revoke_tokens(connection, &endpoint, vec![(Ok(added), TokenHint::RefreshToken)], Some(why)).await;
    }

    /// The binding's record of the identity provider `assertion` names, its secret sealed to the
    /// connection `ref_id`.
    pub(crate) fn seal_idp(&self, assertion: &UserAssertion, ref_id: &domain::RefId) -> BoundIdentityProvider {
        let idp = &assertion.idp;
        BoundIdentityProvider {
            issuer: idp.issuer.clone(),
            token_endpoint: idp.token_endpoint.clone(),
            client_id: idp.client_id.clone(),
            client_secret: idp.client_secret.as_ref().map(|s| self.ports().cipher.seal(s, &idp_aad(ref_id))),
        }
    }

    /// Where a binding's ID token is exchanged, as which client (Basic with a secret, else a
    /// public client); `aud` of nothing the service signs, so the issuer.
    pub(crate) fn idp_endpoint(&self, binding: &DiscoveredAuthorization) -> Result<Option<TokenEndpoint>, Error> {
        let Some(idp) = &binding.identity_provider else { return Ok(None) };
        let secret = match &idp.client_secret {
            Some(sealed) => Some(self.ports().cipher.open(sealed, &idp_aad(&binding.ref_id))?),
            None => None,
        };
        let auth = if secret.is_some() {
            domain::TokenEndpointAuth::ClientSecretBasic
        } else {
            domain::TokenEndpointAuth::None
        };
        Ok(Some(TokenEndpoint {
            url: idp.token_endpoint.clone(),
            auth,
            client: ClientCredentials::with_secret(idp.client_id.clone(), secret),
            audience: Some(idp.issuer.clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> IdentityAssertionParts {
        IdentityAssertionParts {
            id_token: Some(SecretString::from("eyJ.id.token")),
            idp_issuer: Some("https://idp.example".into()),
            idp_token_endpoint: Some("https://idp.example/token".into()),
            idp_client_id: Some("directory".into()),
            idp_client_secret: Some(SecretString::from("idp-secret")),
        }
    }

    fn field_of(parts: IdentityAssertionParts) -> &'static str {
        match UserAssertion::parse(parts, None) {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_assertion_needs_its_id_token_and_the_whole_identity_provider() {
        assert!(UserAssertion::parse(parts(), None).is_ok());
        assert!(UserAssertion::parse(IdentityAssertionParts { idp_client_secret: None, ..parts() }, None).is_ok());
        let cases = [
            (IdentityAssertionParts { id_token: None, ..parts() }, "server_config.identity_assertion.id_token"),
            (
                IdentityAssertionParts { id_token: Some(SecretString::from(" ")), ..parts() },
                "server_config.identity_assertion.id_token",
            ),
            (IdentityAssertionParts { idp_issuer: None, ..parts() }, FIELD),
            (IdentityAssertionParts { idp_token_endpoint: None, ..parts() }, FIELD),
            (IdentityAssertionParts { idp_client_id: None, ..parts() }, FIELD),
            (
                IdentityAssertionParts { idp_issuer: Some("idp.example".into()), ..parts() },
                "server_config.identity_assertion.idp_issuer",
            ),
            (
                IdentityAssertionParts { idp_token_endpoint: Some("ftp://idp.example".into()), ..parts() },
                "server_config.identity_assertion.idp_token_endpoint",
            ),
            (
                IdentityAssertionParts { idp_client_id: Some("a\u{7}".into()), ..parts() },
                "server_config.identity_assertion.idp_client_id",
            ),
            (
                IdentityAssertionParts { idp_client_secret: Some(SecretString::from("")), ..parts() },
                "server_config.identity_assertion.idp_client_secret",
            ),
        ];
        for (given, field) in cases {
            assert_eq!(field_of(given), field);
        }
    }

    #[test]
    fn a_connect_that_names_no_provider_takes_the_tenants_and_one_that_names_a_part_names_it_all() {
        let configured = IdentityProvider {
            issuer: "https://tenant-idp.example".into(),
            token_endpoint: "https://tenant-idp.example/token".into(),
            client_id: "directory-at-tenant".into(),
            client_secret: None,
        };
        let token_only = IdentityAssertionParts { id_token: Some(SecretString::from("eyJ.t")), ..Default::default() };
        let assertion = UserAssertion::parse(token_only.clone(), Some(configured.clone())).unwrap();
        assert_eq!(assertion.idp.client_id, "directory-at-tenant");
        assert_eq!(field_of(token_only.clone()), FIELD, "no provider anywhere");
        let partial = IdentityAssertionParts { idp_issuer: Some("https://idp.example".into()), ..token_only };
        assert!(matches!(UserAssertion::parse(partial, Some(configured)), Err(Error::Validation { field: FIELD, .. })));
    }

    fn target(grant: OAuthGrant, assertion: bool, given: bool) -> Target<'static> {
        let given_parts = crate::GivenClientParts {
            client_id: Some("c".into()),
            client_secret: Some(SecretString::from("s")),
            ..Default::default()
        };
        Target {
            owner: crate::test_support::owner(),
            server_name: domain::ServerName::parse("s").unwrap(),
            label: None,
            display_name: None,
            url: "https://mcp.example/mcp".into(),
            transport: domain::Transport::StreamableHttp,
            entry: None,
            browser_hash: None,
            registration: domain::RegistrationMode::Auto,
            given: given.then(|| crate::use_cases::own_client::GivenClient::parse(given_parts).unwrap().unwrap()),
            grant,
            assertion: assertion.then(|| UserAssertion::parse(parts(), None).unwrap()),
        }
    }

    #[test]
    fn the_grant_is_the_one_asked_for_or_the_assertion_the_server_takes_with_a_client_registered_beforehand() {
        let takes = AuthServerMetadata {
            grant_types_supported: Some(vec![AuthServerMetadata::JWT_BEARER.into()]),
            ..crate::test_support::server_metadata("https://as.example", true)
        };
        let takes_none = crate::test_support::server_metadata("https://as.example", true);
        use OAuthGrant::{AuthorizationCode as Code, ClientCredentials as Machine, IdentityAssertion as Assertion};
        let ok = |grant, assertion, given, metadata: &AuthServerMetadata| {
            grant_for(&target(grant, assertion, given), metadata).ok()
        };
        assert_eq!(ok(Code, false, false, &takes), Some(Code), "no assertion: a browser");
        assert_eq!(ok(Code, true, true, &takes), Some(Assertion), "the server lists jwt-bearer");
        assert_eq!(ok(Code, true, true, &takes_none), None, "it does not");
        assert_eq!(ok(Assertion, true, true, &takes_none), Some(Assertion), "asked for: tried");
        assert_eq!(ok(Assertion, false, true, &takes), None, "asked for without one");
        assert_eq!(ok(Machine, true, true, &takes), None, "client credentials take none");
        assert_eq!(ok(Machine, false, true, &takes), Some(Machine));
        assert_eq!(ok(Code, true, false, &takes), None, "no client registered beforehand");
    }
}
