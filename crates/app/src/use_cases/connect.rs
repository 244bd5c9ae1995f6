use std::collections::BTreeMap;

use domain::{AuthSpec, Connection, NewConnection, OAuthSpec, RefId, Scopes, ServerName};
use ports::{
    AuditKind, AuthorizationRequest, Cipher, Clock, ConnectionStore, FlowEvent, IdSource, PendingFlow, StoredSecrets,
};
use secrecy::{ExposeSecret, SecretString};

use super::connection_aad;
use crate::{CatalogEntry, Deps, Directory, Error, flow};

/// A user-supplied MCP server that is not in the catalog (custom server).
#[derive(Debug, Clone)]
pub struct CustomServer {
    pub url: String,
    pub transport: Option<domain::Transport>,
    pub display_name: Option<String>,
}

/// What `POST /assets/connect` asks for, already parsed.
#[derive(Debug)]
pub struct ConnectRequest {
    pub server_name: ServerName,
    pub api_key: Option<SecretString>,
    pub custom: Option<CustomServer>,
    pub return_to: Option<String>,
}

/// The result of a connect.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// Usable at once (API key or no auth).
    Connected { ref_id: RefId },
    /// The user must visit `auth_url` to grant access.
    PendingOAuth { ref_id: RefId, auth_url: String },
}

/// Longest API key accepted; longer values are certainly not keys.
const MAX_API_KEY_LEN: usize = 4096;

impl<D: Deps> Directory<D> {
    /// Starts a connection to a catalog server (spec §2.1).
    pub async fn connect(&self, request: ConnectRequest) -> Result<ConnectOutcome, Error> {
        let Some(entry) = self.catalog().get(&request.server_name) else {
            return match request.custom {
                Some(custom) => self.connect_custom(request.server_name, custom, request.return_to).await,
                None => Err(Error::ServerNotFound(request.server_name)),
            };
        };
        self.check_return_to(request.return_to.as_deref())?;
        if let crate::Availability::Unavailable(reason) = &entry.availability {
            return Err(Error::validation("server_name", format!("`{}` is unavailable: {reason}", entry.spec.name)));
        }
        if let (AuthSpec::OAuth(OAuthSpec { discovery: true, .. }), Some(url)) = (&entry.spec.auth, &entry.spec.url) {
            let target = super::discover::Target {
                server_name: entry.spec.name.clone(),
                display_name: None,
                url: url.clone(),
                transport: entry.spec.transport,
                entry: Some(entry),
            };
            return self.connect_discovered(target, request.return_to).await;
        }
        let ids = &self.ports().ids;
        let new = NewConnection {
            ref_id: ids.ref_id(),
            server_name: entry.spec.name.clone(),
            display_name: None,
            url: entry.spec.url.clone(),
            transport: entry.spec.transport,
            auth_method: entry.spec.auth.method(),
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
            AuthSpec::OAuth(oauth) => {
                let connection = Connection::pending(new, now);
                let (flow, auth_url) = self.start_flow(entry, oauth, &connection.ref_id, request.return_to)?;
                let created = self.event(&connection, AuditKind::Created, None);
                self.ports().connections.insert(&connection, &StoredSecrets::default(), Some(flow), &[created]).await?;
                self.metrics().oauth_flow(FlowEvent::Started);
                Ok(ConnectOutcome::PendingOAuth { ref_id: connection.ref_id, auth_url })
            }
        }
    }

    /// Builds the pending flow and authorization URL for a static (pre-registered) OAuth entry.
    pub(crate) fn start_flow(
        &self,
        entry: &CatalogEntry,
        oauth: &OAuthSpec,
        ref_id: &RefId,
        return_to: Option<String>,
    ) -> Result<(PendingFlow, String), Error> {
        let (Some(endpoint), Some(client_id)) = (&oauth.authorization_endpoint, &oauth.client_id) else {
            return Err(Error::internal("an available OAuth entry lacks its endpoint or client id"));
        };
        let spec = FlowSpec {
            authorization_endpoint: endpoint.clone(),
            client_id: client_id.clone(),
            scopes: oauth.scopes.clone(),
            resource: if oauth.send_resource { entry.spec.url.clone() } else { None },
            extra_params: oauth.extra_authorize_params.clone(),
            issuer: oauth.issuer.clone(),
            iss_required: false,
        };
        self.build_flow(spec, ref_id, return_to)
    }

    /// A pending flow (state, PKCE verifier sealed) and its authorization URL.
    pub(crate) fn build_flow(
        &self,
        spec: FlowSpec,
        ref_id: &RefId,
        return_to: Option<String>,
    ) -> Result<(PendingFlow, String), Error> {
        let ports = self.ports();
        let state = ports.ids.secret_token();
        let verifier = ports.ids.secret_token();
        let state_hash = flow::state_hash(state.expose_secret());
        let now = ports.clock.now();
        let request = AuthorizationRequest {
            authorization_endpoint: spec.authorization_endpoint,
            client_id: spec.client_id,
            redirect_uri: self.settings().redirect_uri(),
            scopes: spec.scopes,
            code_challenge: flow::pkce_challenge(&verifier),
            state,
            resource: spec.resource.clone(),
            extra_params: spec.extra_params,
        };
        let auth_url = flow::authorization_url(&request)
            .map_err(|e| Error::internal(format!("the authorization endpoint is not a URL: {e}")))?;
        let pkce_verifier = ports.cipher.seal(&verifier, &flow_aad(&state_hash));
        let flow = PendingFlow {
            state_hash,
            ref_id: ref_id.clone(),
            issuer: spec.issuer,
            iss_required: spec.iss_required,
            pkce_verifier,
            redirect_uri: request.redirect_uri,
            scopes: request.scopes,
            resource: spec.resource,
            return_to,
            created_at: now,
            expires_at: now.plus_seconds(self.settings().flow_ttl_seconds),
        };
        Ok((flow, auth_url))
    }
}

/// What an authorization request is made of, however its server was found.
#[derive(Debug)]
pub(crate) struct FlowSpec {
    pub authorization_endpoint: String,
    pub client_id: String,
    pub scopes: Scopes,
    pub resource: Option<String>,
    pub extra_params: BTreeMap<String, String>,
    /// The issuer the callback's `iss` is checked against (RFC 9207).
    pub issuer: Option<String>,
    /// Whether the server promised `iss` on the callback.
    pub iss_required: bool,
}

/// Associated data of a flow's sealed PKCE verifier.
pub(crate) fn flow_aad(state_hash: &str) -> String {
    format!("flows/{state_hash}/pkce_verifier")
}
