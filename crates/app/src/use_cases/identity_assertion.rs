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

use domain::TenantId;
use ports::{BoundIdentityProvider, Cipher, ClientCredentials, DiscoveredAuthorization, TokenEndpoint};
use secrecy::{ExposeSecret, SecretString};

use super::idp_aad;
use crate::{Deps, Directory, Error};

/// The longest ID token accepted (they are JWTs of a few kilobytes).
const MAX_ID_TOKEN: usize = 16 * 1024;

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
        if !super::is_http_url(&issuer) {
            return Err(invalid("server_config.identity_assertion.idp_issuer", "must be an http(s) URL"));
        }
        if !super::is_http_url(&token_endpoint) {
            return Err(invalid("server_config.identity_assertion.idp_token_endpoint", "must be an http(s) URL"));
        }
        if !domain::text::is_printable(&client_id, 255) {
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

impl<D: Deps> Directory<D> {
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
}
