//! Who the service is to an authorization server, and where a connection's token calls go.
//!
//! Client identity follows spec §5.2: a pre-registered client from the catalog, else the
//! service's Client ID Metadata Document (when the server supports it and the public base is
//! https), else a Dynamic Client Registration stored per issuer with its secret sealed, else an
//! error. A discovered connection records its issuer, client and resource
//! ([`DiscoveredAuthorization`]); its callback, refreshes and revocation find them again here.

use domain::{AuthSpec, Connection, RegistrationMode, TokenEndpointAuth};
use ports::{
    AuthServerMetadata, AuthorizationDiscovery, Cipher, ClientCredentials, ClientRegistration, Clock,
    DiscoveredAuthorization, RegistrationRequest, RegistrationStore, TokenEndpoint,
};

use super::flow_parts::{from_discovery, token_endpoint};
use super::registration_aad;
use crate::{CatalogEntry, Deps, Directory, Error};

/// Why a connection authorized before its catalog entry pinned another issuer gets no token calls.
pub(crate) const BOUND_ELSEWHERE: &str =
    "the connection was authorized at another authorization server than its catalog entry now names; reconnect it";

/// Why a connection whose client the service no longer holds (the server rejected it) gets no
/// token calls: it needs a reconnect.
pub(crate) const CLIENT_GONE: &str =
    "the client this connection was authorized with is no longer registered; reconnect it";

/// Whether `error` says the connection can never reach its authorization server again as it is
/// (its client is gone, or its catalog entry now pins another server): it needs a reconnect.
pub(crate) fn needs_reconnect(error: &Error) -> Option<&'static str> {
    match error {
        Error::Provider { step: "client lookup", message } => {
            [CLIENT_GONE, BOUND_ELSEWHERE].into_iter().find(|reason| message == reason)
        }
        _ => None,
    }
}

/// The name the service registers under and shows in its client metadata document.
pub(crate) const CLIENT_NAME: &str = "Asset Directory";

/// Where a connection's token, refresh and revocation calls go, as which client.
#[derive(Debug)]
pub(crate) struct TokenTarget {
    pub endpoint: TokenEndpoint,
    pub revocation_endpoint: Option<String>,
    /// The RFC 8707 `resource` of token and refresh requests.
    pub resource: Option<String>,
    /// The dynamic registration in use (issuer, client id): forgotten on `invalid_client`.
    pub registration: Option<(String, String)>,
    /// The authorization server a discovered connection is bound to (`None` for a catalog
    /// entry's fixed endpoints).
    pub issuer: Option<String>,
    /// Where an identity assertion connection's ID token is exchanged (issue 18 §4).
    pub identity_provider: Option<TokenEndpoint>,
}

fn no_identity(message: &str) -> Error {
    Error::Provider { step: "client identity", message: message.to_owned() }
}

fn lookup_failed(message: impl Into<String>) -> Error {
    Error::Provider { step: "client lookup", message: message.into() }
}

impl<D: Deps> Directory<D> {
    /// The client to authorize as at the server `metadata` describes (spec §5.2 order, or the
    /// one `mode` allows), for flows that come back at the redirect URI of issuer key `key` (the
    /// shared one for `None`).
    pub(crate) async fn client_identity(
        &self,
        entry: Option<&CatalogEntry>,
        metadata: &AuthServerMetadata,
        key: Option<&str>,
        mode: RegistrationMode,
    ) -> Result<String, Error> {
        let preregistered = match entry.map(|e| &e.spec.auth) {
            Some(AuthSpec::OAuth(oauth)) => oauth.client_id.clone(),
            _ => None,
        };
        match (mode, preregistered) {
            (RegistrationMode::Preregistered | RegistrationMode::Auto, Some(client_id)) => return Ok(client_id),
            (RegistrationMode::Preregistered, None) => {
                return Err(no_identity(
                    "client_registration is preregistered, but the catalog entry's client id is not set",
                ));
            }
            _ => {}
        }
        if mode != RegistrationMode::Dcr && metadata.client_id_metadata_document_supported {
            let window = self.settings().registration_retry_seconds;
            // Only where a client can be registered instead: a refusal (which arrives through the
            // browser, so anyone with a flow can claim one) must not leave no way in at all.
            let refused = mode == RegistrationMode::Auto
                && metadata.registration_endpoint.is_some()
                && self.healing().avoids_cimd(&metadata.issuer, self.ports().clock.now(), window);
            if let Some(url) = self.settings().client_metadata_url_at(key).filter(|_| !refused) {
                return Ok(url);
            }
        }
        if mode == RegistrationMode::Cimd {
            return Err(no_identity(
                "client_registration is cimd, but the authorization server does not support client ID metadata \
                 documents, or the public base URL is not https",
            ));
        }
        let redirect_uri = self.settings().callback_uri(key);
        let registrations = &self.ports().registrations;
        if let Some(stored) = registrations.registration(&metadata.issuer, &redirect_uri).await? {
            if self.still_usable(&stored) {
                return Ok(stored.client_id);
            }
            // Kept for the connections bound to it while its secret works; new flows get a new one.
            registrations.retire_registration(&stored.issuer, &stored.client_id, self.ports().clock.now()).await?;
        }
        let Some(endpoint) = &metadata.registration_endpoint else {
            return Err(no_identity(
                "the authorization server offers no way to identify this service: no pre-registered client, no \
                 client ID metadata document support (or no https public base URL) and no registration endpoint",
            ));
        };
        self.register(endpoint, metadata, redirect_uri).await
    }

    /// A registration is used for new flows while its secret is not about to expire. (One made for
    /// another redirect URI is another registration: it stays, for the connections bound to it.)
    fn still_usable(&self, stored: &ClientRegistration) -> bool {
        let fresh_for_a_while = self.ports().clock.now().plus_seconds(3_600);
        stored.secret_expires_at.is_none_or(|at| at > fresh_for_a_while)
    }

    /// RFC 7591 registration, stored per issuer and redirect URI; a concurrent registration that
    /// was stored first wins.
    async fn register(
        &self,
        endpoint: &str,
        metadata: &AuthServerMetadata,
        redirect_uri: String,
    ) -> Result<String, Error> {
        let auth = [TokenEndpointAuth::ClientSecretBasic, TokenEndpointAuth::ClientSecretPost, TokenEndpointAuth::None]
            .into_iter()
            .find(|m| metadata.accepts_auth_method(*m))
            .ok_or_else(|| Error::Provider {
                step: "client identity",
                message: "the token endpoint accepts none of client_secret_basic, client_secret_post, none".into(),
            })?;
        let request = RegistrationRequest {
            client_name: CLIENT_NAME.to_owned(),
            redirect_uri,
            auth,
            scopes: domain::Scopes::empty(),
        };
        let client = self.ports().discovery.register_client(endpoint, &request).await.map_err(from_discovery)?;
        let ports = self.ports();
        let registration = ClientRegistration {
            issuer: metadata.issuer.clone(),
            client_id: client.client_id,
            client_secret: client.client_secret.map(|s| ports.cipher.seal(&s, &registration_aad(&metadata.issuer))),
            auth: client.auth,
            redirect_uri: request.redirect_uri,
            secret_expires_at: client.secret_expires_at.map(domain::Timestamp::from_unix),
            created_at: ports.clock.now(),
        };
        Ok(ports.registrations.add_registration(&registration).await?.client_id)
    }

    /// The metadata of the authorization server `issuer`; for one found at an MCP server's
    /// origin (no protected resource metadata), the metadata there or else the default endpoints.
    pub(crate) async fn server_metadata(&self, issuer: &str, at_origin: bool) -> Result<AuthServerMetadata, Error> {
        let discovery = &self.ports().discovery;
        let metadata = if at_origin {
            discovery.origin_authorization_server(issuer).await
        } else {
            discovery.authorization_server(issuer).await
        };
        metadata.map_err(from_discovery)
    }

    /// The token target of `connection`: from the catalog for a static entry, else from the
    /// authorization it was discovered with.
    pub(crate) async fn token_target(&self, connection: &Connection) -> Result<TokenTarget, Error> {
        if let Some(target) = self.static_target(connection)? {
            return Ok(target);
        }
        let binding = self.ports().registrations.authorization_of(&connection.ref_id).await?;
        self.discovered_target(connection, binding).await
    }

    /// Whether `connection` is an OAuth connection made through discovery (not a static entry).
    pub(crate) fn is_discovered(&self, connection: &Connection) -> bool {
        connection.auth_method == domain::AuthMethod::OAuth && matches!(self.static_target(connection), Ok(None))
    }

    fn static_target(&self, connection: &Connection) -> Result<Option<TokenTarget>, Error> {
        let Some(entry) = self.catalog().get(&connection.server_name) else { return Ok(None) };
        let AuthSpec::OAuth(oauth) = &entry.spec.auth else { return Ok(None) };
        if oauth.discovery {
            return Ok(None);
        }
        Ok(Some(TokenTarget {
            endpoint: token_endpoint(entry)?,
            revocation_endpoint: oauth.revocation_endpoint.clone(),
            resource: if oauth.send_resource { connection.url.clone() } else { None },
            registration: None,
            issuer: None,
            identity_provider: None,
        }))
    }

    /// The target of a discovered connection whose binding was read (before a delete, say).
    pub(crate) async fn discovered_target(
        &self,
        connection: &Connection,
        binding: Option<DiscoveredAuthorization>,
    ) -> Result<TokenTarget, Error> {
        if let Some(target) = self.static_target(connection)? {
            return Ok(target);
        }
        let binding = binding.ok_or_else(|| lookup_failed("the connection's authorization server is not recorded"))?;
        if self.bound_elsewhere(connection, &binding) {
            tracing::warn!(ref_id = %connection.ref_id, bound = %binding.issuer,
                "a connection authorized before its catalog entry was pinned to another issuer: nothing is sent");
            return Err(lookup_failed(BOUND_ELSEWHERE));
        }
        // Its metadata is looked for again (published by now, or gone).
        let metadata = self.server_metadata(&binding.issuer, binding.at_origin).await?;
        let (client, auth, registration) = self.client_credentials(connection, &binding).await?;
        let identity_provider = self.idp_endpoint(&binding)?;
        Ok(TokenTarget {
            endpoint: TokenEndpoint {
                url: metadata.token_endpoint,
                auth,
                client,
                audience: Some(binding.issuer.clone()),
            },
            revocation_endpoint: metadata.revocation_endpoint,
            resource: Some(binding.resource),
            registration,
            issuer: Some(binding.issuer),
            identity_provider,
        })
    }

    /// Whether `connection` was authorized at another issuer than the one its catalog entry now
    /// pins (`oauth.issuer`): such a connection talks to no authorization server any more.
    fn bound_elsewhere(&self, connection: &Connection, binding: &DiscoveredAuthorization) -> bool {
        let Some(entry) = self.catalog().get(&connection.server_name) else { return false };
        matches!(&entry.spec.auth, AuthSpec::OAuth(oauth) if oauth.issuer.as_ref().is_some_and(|i| *i != binding.issuer))
    }

    async fn client_credentials(
        &self,
        connection: &Connection,
        binding: &DiscoveredAuthorization,
    ) -> Result<(ClientCredentials, TokenEndpointAuth, Option<(String, String)>), Error> {
        if let (Some(own), Some(given)) = (&binding.own_client, self.open_given(binding)?) {
            return Ok((given.credentials(), own.auth, None));
        }
        let client_id = binding.client_id.clone();
        if let Some(entry) = self.catalog().get(&connection.server_name) {
            if let AuthSpec::OAuth(oauth) = &entry.spec.auth {
                if oauth.client_id.as_deref() == Some(&client_id) {
                    let credentials = ClientCredentials::with_secret(client_id, entry.client_secret.clone());
                    return Ok((credentials, oauth.token_endpoint_auth_method, None));
                }
            }
        }
        if self.settings().is_client_metadata_url(&client_id, &binding.issuer) {
            return Ok((ClientCredentials::with_secret(client_id, None), TokenEndpointAuth::None, None));
        }
        let stored = self.ports().registrations.client_registration(&binding.issuer, &client_id).await?;
        let Some(stored) = stored else {
            return Err(lookup_failed(CLIENT_GONE));
        };
        let secret = match &stored.client_secret {
            Some(sealed) => Some(self.ports().cipher.open(sealed, &registration_aad(&stored.issuer))?),
            None => None,
        };
        let registration = Some((stored.issuer, client_id.clone()));
        Ok((ClientCredentials::with_secret(client_id, secret), stored.auth, registration))
    }
}

/// One of the service's OAuth Client ID Metadata Documents (the shared one at
/// [`Settings::CLIENT_METADATA_PATH`], or an issuer key's): a public web client whose
/// `client_id` is the document's URL and whose redirect URI is the one that key's flows use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    pub client_id: String,
    pub client_name: &'static str,
    pub client_uri: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: [&'static str; 2],
    pub response_types: [&'static str; 1],
    pub token_endpoint_auth_method: &'static str,
    pub application_type: &'static str,
    /// Where the service publishes its signing keys.
    pub jwks_uri: String,
}

impl<D: Deps> Directory<D> {
    /// The Client ID Metadata Document of issuer key `key` (the shared one for `None`), when
    /// the public base URL is https (otherwise an authorization server could not fetch it, and
    /// the service does not offer it) and `key` has the form of one.
    pub fn client_metadata(&self, key: Option<&str>) -> Option<ClientMetadata> {
        let settings = self.settings();
        if key.is_some_and(|k| !crate::is_issuer_key(k)) {
            return None;
        }
        Some(ClientMetadata {
            client_id: settings.client_metadata_url_at(key)?,
            client_name: CLIENT_NAME,
            client_uri: settings.redirect_base_url.trim_end_matches('/').to_owned(),
            redirect_uris: vec![settings.callback_uri(key)],
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: TokenEndpointAuth::None.as_str(),
            application_type: "web",
            jwks_uri: settings.jwks_uri(),
        })
    }
}
