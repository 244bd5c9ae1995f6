//! A custom server's own client (issue 18 §3): `server_config.client_id` with a `client_secret`,
//! or with a `private_key_pem` and its `signing_algorithm`, for servers whose operator registered
//! the client out of band. It is used ahead of a metadata document or a registration, for code
//! flows and the client credentials grant alike, and belongs to the one connection it was given
//! with: its secret is sealed into that connection's authorization server binding (never a
//! registration another connection could be handed), and a reconnect in place keeps it.

use domain::{RegistrationMode, TokenEndpointAuth};
use ports::{
    AuthServerMetadata, Cipher, ClientCredentials, ClientKey, DiscoveredAuthorization, OAuthClient, OAuthError,
    OwnClient,
};
use secrecy::{ExposeSecret, SecretString};

use super::binding_aad;
use crate::{Deps, Directory, Error};

/// Longest client id, secret and PEM accepted: far beyond any real one.
const MAX_CLIENT_ID: usize = 255;
const MAX_SECRET: usize = 4096;
const MAX_PEM: usize = 16 * 1024;

/// A custom server's own client as given (`server_config.client_id`, `client_secret`,
/// `private_key_pem`, `signing_algorithm`), checked by [`GivenClient::parse`].
#[derive(Debug, Clone, Default)]
pub struct GivenClientParts {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub private_key_pem: Option<SecretString>,
    pub signing_algorithm: Option<domain::SigningAlgorithm>,
    /// The authorization server the client is registered at: its credentials go there only.
    pub issuer: Option<String>,
}

/// What proves a given client's identity.
#[derive(Debug, Clone)]
pub(crate) enum GivenCredential {
    Secret(SecretString),
    Key(ClientKey),
}

/// A custom server's own client, checked.
#[derive(Debug, Clone)]
pub(crate) struct GivenClient {
    pub client_id: String,
    pub credential: GivenCredential,
    /// The only authorization server its credentials may be sent to, when known (named with
    /// the connect, or the one a reconnected connection was bound to).
    pub issuer: Option<String>,
}

fn invalid(field: &'static str, message: &str) -> Error {
    Error::validation(field, message.to_owned())
}

impl GivenClient {
    /// The client `parts` name, if any: a client id with exactly one of a secret or a private
    /// key (which needs its algorithm); every other mix is refused, naming the field at fault.
    pub(crate) fn parse(parts: GivenClientParts) -> Result<Option<Self>, Error> {
        let GivenClientParts { client_id, client_secret, private_key_pem, signing_algorithm, issuer } = parts;
        let Some(client_id) = client_id else {
            if client_secret.is_some() || private_key_pem.is_some() || signing_algorithm.is_some() || issuer.is_some() {
                return Err(invalid("server_config.client_id", "is required with a client secret or private key"));
            }
            return Ok(None);
        };
        if !domain::text::is_printable(&client_id, MAX_CLIENT_ID) {
            return Err(invalid("server_config.client_id", "must be 1 to 255 printable characters"));
        }
        let credential = match (client_secret, private_key_pem, signing_algorithm) {
            (Some(_), Some(_), _) => {
                return Err(invalid(
                    "server_config.private_key_pem",
                    "give a client secret or a private key, not both",
                ));
            }
            (Some(_), None, Some(_)) => {
                return Err(invalid("server_config.signing_algorithm", "goes with a private key, not a client secret"));
            }
            (Some(secret), None, None) if domain::text::is_printable(secret.expose_secret(), MAX_SECRET) => {
                GivenCredential::Secret(secret)
            }
            (Some(_), None, None) => {
                return Err(invalid("server_config.client_secret", "must be 1 to 4096 printable characters"));
            }
            (None, Some(_), None) => {
                return Err(invalid(
                    "server_config.signing_algorithm",
                    "is required with a private key (ES256 or RS256)",
                ));
            }
            (None, Some(pem), Some(algorithm)) if pem.expose_secret().len() <= MAX_PEM => {
                GivenCredential::Key(ClientKey { pem, algorithm })
            }
            (None, Some(_), Some(_)) => return Err(invalid("server_config.private_key_pem", "is longer than 16 KiB")),
            (None, None, _) => {
                return Err(invalid(
                    "server_config.client_id",
                    "needs its client_secret, or its private_key_pem and signing_algorithm",
                ));
            }
        };
        if issuer.as_deref().is_some_and(|i| !super::is_http_url(i)) {
            return Err(invalid("server_config.issuer", "must be the authorization server's issuer, an http(s) URL"));
        }
        Ok(Some(Self { client_id, credential, issuer }))
    }
}

impl<D: Deps> Directory<D> {
    /// Checks what a custom server's connect asks of its own client: a private key that can sign,
    /// and a `client_registration` that leaves the choice to it.
    pub(crate) fn check_given(&self, given: &GivenClient, mode: RegistrationMode) -> Result<(), Error> {
        if matches!(mode, RegistrationMode::Cimd | RegistrationMode::Dcr) {
            return Err(invalid(
                "server_config.client_registration",
                "a client given with client_id is used ahead of metadata documents and registration: leave \
                 client_registration out, or say preregistered",
            ));
        }
        if let GivenCredential::Key(key) = &given.credential {
            self.ports().oauth.check_client_key(key).map_err(|e| match e {
                OAuthError::ClientAuthentication(why) => Error::validation("server_config.private_key_pem", why),
                other => Error::validation("server_config.private_key_pem", other.to_string()),
            })?;
        }
        Ok(())
    }

    /// The binding's record of `given` for the connection `ref_id`: how it authenticates at the
    /// server `metadata` describes (its key: `private_key_jwt`; a secret: Basic where the server
    /// takes it, else in the body), its secret or key sealed to that connection.
    pub(crate) fn seal_given(
        &self,
        given: &GivenClient,
        metadata: &AuthServerMetadata,
        ref_id: &domain::RefId,
    ) -> OwnClient {
        let cipher = &self.ports().cipher;
        let aad = binding_aad(ref_id);
        match &given.credential {
            GivenCredential::Key(key) => OwnClient {
                auth: TokenEndpointAuth::PrivateKeyJwt,
                sealed: cipher.seal(&key.pem, &aad),
                algorithm: Some(key.algorithm),
            },
            GivenCredential::Secret(secret) => OwnClient {
                auth: [TokenEndpointAuth::ClientSecretBasic, TokenEndpointAuth::ClientSecretPost]
                    .into_iter()
                    .find(|m| metadata.accepts_auth_method(*m))
                    .unwrap_or(TokenEndpointAuth::ClientSecretBasic),
                sealed: cipher.seal(secret, &aad),
                algorithm: None,
            },
        }
    }

    /// The own client a binding holds, opened: for its token calls and for a reconnect in place.
    pub(crate) fn open_given(&self, binding: &DiscoveredAuthorization) -> Result<Option<GivenClient>, Error> {
        let Some(own) = &binding.own_client else { return Ok(None) };
        let opened = self.ports().cipher.open(&own.sealed, &binding_aad(&binding.ref_id))?;
        let credential = match own.algorithm {
            Some(algorithm) => GivenCredential::Key(ClientKey { pem: opened, algorithm }),
            None => GivenCredential::Secret(opened),
        };
        let issuer = Some(binding.issuer.clone());
        Ok(Some(GivenClient { client_id: binding.client_id.clone(), credential, issuer }))
    }
}

impl GivenClient {
    /// The client credentials of its token calls.
    pub(crate) fn credentials(self) -> ClientCredentials {
        match self.credential {
            GivenCredential::Secret(secret) => ClientCredentials::with_secret(self.client_id, Some(secret)),
            GivenCredential::Key(key) => {
                ClientCredentials { client_id: self.client_id, client_secret: None, private_key: Some(key) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::SigningAlgorithm;

    use super::*;

    fn parts(client_id: Option<&str>, secret: Option<&str>, pem: Option<&str>, alg: bool) -> GivenClientParts {
        let secret_of = |s: &str| SecretString::from(s.to_owned());
        GivenClientParts {
            client_id: client_id.map(str::to_owned),
            client_secret: secret.map(secret_of),
            private_key_pem: pem.map(secret_of),
            signing_algorithm: alg.then_some(SigningAlgorithm::Es256),
            issuer: None,
        }
    }

    fn field_of(parts: GivenClientParts) -> &'static str {
        match GivenClient::parse(parts) {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_client_is_whole_with_exactly_one_secret_or_one_key_and_its_algorithm() {
        assert!(GivenClient::parse(parts(None, None, None, false)).unwrap().is_none(), "no client at all");
        let secret = GivenClient::parse(parts(Some("c"), Some("s"), None, false)).unwrap().unwrap();
        assert!(matches!(secret.credential, GivenCredential::Secret(_)));
        let key = GivenClient::parse(parts(Some("c"), None, Some("pem"), true)).unwrap().unwrap();
        assert!(matches!(key.credential, GivenCredential::Key(ClientKey { algorithm: SigningAlgorithm::Es256, .. })));
    }

    #[test]
    fn every_partial_or_mixed_client_is_refused_naming_the_field_at_fault() {
        let cases = [
            (parts(None, Some("s"), None, false), "server_config.client_id"),
            (parts(None, None, None, true), "server_config.client_id"),
            (parts(Some("c"), None, None, false), "server_config.client_id"),
            (parts(Some("c"), Some("s"), Some("pem"), true), "server_config.private_key_pem"),
            (parts(Some("c"), Some("s"), None, true), "server_config.signing_algorithm"),
            (parts(Some("c"), None, Some("pem"), false), "server_config.signing_algorithm"),
            (parts(Some("  "), Some("s"), None, false), "server_config.client_id"),
            (parts(Some("c\u{202e}"), Some("s"), None, false), "server_config.client_id"),
            (parts(Some(&"c".repeat(256)), Some("s"), None, false), "server_config.client_id"),
            (parts(Some("c"), Some(&"s".repeat(4097)), None, false), "server_config.client_secret"),
            (parts(Some("c"), None, Some(&"k".repeat(16 * 1024 + 1)), true), "server_config.private_key_pem"),
        ];
        for (given, field) in cases {
            assert_eq!(field_of(given), field);
        }
        let not_an_issuer =
            GivenClientParts { issuer: Some("as.example".into()), ..parts(Some("c"), Some("s"), None, false) };
        assert_eq!(field_of(not_an_issuer), "server_config.issuer");
        let issuer_alone =
            GivenClientParts { issuer: Some("https://as.example".into()), ..parts(None, None, None, false) };
        assert_eq!(field_of(issuer_alone), "server_config.client_id");
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        let id = "é".repeat(255);
        assert!(GivenClient::parse(parts(Some(&id), Some("s"), None, false)).unwrap().is_some());
    }
}
