use domain::{AuthSpec, Connection, NewConnection, OAuthSpec};
use ports::{AuditKind, Cipher, Clock, ConnectionStore, FlowEvent, IdSource, StoredSecrets};
use secrecy::ExposeSecret;

use super::connection_aad;
use super::flow_parts::{ConnectOutcome, ConnectRequest, Minting, Target};
use super::identity_assertion::UserAssertion;
use crate::{Deps, Directory, Error, flow};

/// Longest API key accepted; longer values are certainly not keys.
const MAX_API_KEY_LEN: usize = 4096;

/// A key for a server that takes none (no auth, OAuth, a custom server): refused, not dropped.
fn no_api_key() -> Error {
    Error::validation("server_config.api_key", "this server takes no API key")
}

impl<D: Deps> Directory<D> {
    /// Starts a connection to a catalog server (spec §2.1).
    pub async fn connect(&self, request: ConnectRequest) -> Result<ConnectOutcome, Error> {
        let tenant_provider = || self.identity_providers().of(&request.owner.tenant);
        let assertion =
            request.identity_assertion.map(|parts| UserAssertion::parse(parts, tenant_provider())).transpose()?;
        let entry = self.catalog().get(&request.server_name);
        let exportable = self.exportable(request.exportable, entry)?;
        let Some(entry) = entry else {
            return match request.custom {
                Some(_) if request.api_key.is_some() => Err(no_api_key()),
                Some(custom) => {
                    let target = (request.owner, request.server_name, request.label, exportable);
                    self.connect_custom(target, custom, assertion, request.return_to).await
                }
                None => Err(Error::ServerNotFound),
            };
        };
        // What a catalog entry fixes itself is refused rather than ignored.
        if request.custom.is_some() {
            return Err(Error::validation("server_config.url", "a catalog server is reached at the catalog's URL"));
        }
        if request.api_key.is_some() && !matches!(entry.spec.auth, AuthSpec::ApiKey(_)) {
            return Err(no_api_key());
        }
        self.check_return_to(request.return_to.as_deref())?;
        if let crate::Availability::Unavailable(reason) = &entry.availability {
            return Err(Error::server_unavailable(reason));
        }
        let browser_hash = request.browser.as_ref().map(|nonce| flow::state_hash(nonce.expose_secret()));
        let discovered = matches!(&entry.spec.auth, AuthSpec::OAuth(OAuthSpec { discovery: true, .. }));
        if assertion.is_some() && !discovered {
            // The identity assertion grant needs the authorization server's issuer (the ID-JAG's
            // audience) and its resource: what discovery finds.
            return Err(Error::validation(
                "server_config.identity_assertion",
                "this server is not connected through discovery, so it takes no identity assertion",
            ));
        }
        if let (AuthSpec::OAuth(oauth @ OAuthSpec { discovery: true, .. }), Some(url)) =
            (&entry.spec.auth, &entry.spec.url)
        {
            let target = Target {
                exportable,
                owner: request.owner,
                server_name: entry.spec.name.clone(),
                label: request.label,
                display_name: None,
                url: url.clone(),
                transport: entry.spec.transport,
                entry: Some(entry),
                browser_hash,
                registration: oauth.registration,
                given: None,
                grant: oauth.grant,
                assertion,
            };
            return self.connect_discovered(target, request.return_to).await;
        }
        let ids = &self.ports().ids;
        let new = NewConnection {
            ref_id: ids.ref_id(),
            owner: request.owner,
            server_name: entry.spec.name.clone(),
            label: request.label,
            display_name: None,
            url: entry.spec.url.clone(),
            transport: entry.spec.transport,
            auth_method: entry.spec.auth.method(),
            exportable,
        };
        let now = self.ports().clock.now();
        match &entry.spec.auth {
            AuthSpec::None => {
                let connection = Connection::connected(new, now);
                let events = self.created_connected(&connection);
                self.ports().connections.insert(&connection, &StoredSecrets::default(), None, &events).await?;
                Ok(ConnectOutcome::Connected { ref_id: connection.ref_id })
            }
            AuthSpec::ApiKey(_) => {
                let key = request
                    .api_key
                    .ok_or_else(|| Error::validation("server_config.api_key", "is required for this server"))?;
                let len = key.expose_secret().len();
                if len == 0 || len > MAX_API_KEY_LEN || key.expose_secret().chars().any(char::is_control) {
                    return Err(Error::validation("server_config.api_key", "must be 1 to 4096 printable characters"));
                }
                let connection = Connection::connected(new, now);
                let sealed = self.ports().cipher.seal(&key, &connection_aad(&connection.ref_id, "api_key"));
                let secrets = StoredSecrets { api_key: Some(sealed), ..StoredSecrets::default() };
                self.ports()
                    .connections
                    .insert(&connection, &secrets, None, &self.created_connected(&connection))
                    .await?;
                Ok(ConnectOutcome::Connected { ref_id: connection.ref_id })
            }
            AuthSpec::OAuth(oauth) if oauth.grant == domain::OAuthGrant::ClientCredentials => {
                self.connect_without_browser(new, oauth.scopes.clone(), None, Minting::ClientCredentials).await
            }
            AuthSpec::OAuth(oauth) => {
                let connection = Connection::pending(new, now);
                let (mut flow, auth_url) =
                    self.start_flow(entry, oauth, &connection.ref_id, request.return_to, None)?;
                flow.browser_hash = browser_hash;
                let created = self.event(&connection, AuditKind::Created, None);
                self.ports().connections.insert(&connection, &StoredSecrets::default(), Some(flow), &[created]).await?;
                self.metrics().oauth_flow(FlowEvent::Started, &connection.owner.tenant);
                Ok(ConnectOutcome::PendingOAuth { ref_id: connection.ref_id, auth_url })
            }
        }
    }
}

impl<D: Deps> Directory<D> {
    /// Whether a new connection is exportable: as the connect says, else `CREDENTIALS_EXPORTABLE`;
    /// a catalog entry that forces `false` refuses a connect that asks for `true`.
    fn exportable(&self, asked: Option<bool>, entry: Option<&crate::CatalogEntry>) -> Result<bool, Error> {
        let forced = entry.is_some_and(|e| !e.spec.exportable);
        match asked {
            Some(true) if forced => Err(Error::validation(
                "exportable",
                "this catalog server's credentials never leave the service: connect it with exportable false, \
                 or leave it out, and call it through the proxy",
            )),
            Some(asked) => Ok(asked),
            None => Ok(!forced && self.settings().proxy.exportable_by_default),
        }
    }
}
