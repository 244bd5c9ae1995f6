//! Connections with no user (issue 18 §3): a catalog entry with `auth_method:
//! "oauth_client_credentials"`, or a custom server with `server_config.grant_type:
//! "client_credentials"` and its own client, connects at once with the client credentials grant (RFC 6749
//! §4.4) at its token endpoint, with its scopes and, where the entry sends it, the RFC 8707
//! `resource`; the answer is `connected`. There is no refresh token: the grant is made again
//! before the token expires, by the scheduler (the row's `grant_type` makes it due as a refresh
//! token would) as by the credentials route (`credentials::refresh_locked`). A refusal that says
//! the client is no longer granted tokens expires the connection.

use domain::{Connection, NewConnection, OAuthGrant, Scopes};
use ports::{AuditKind, Cipher, Clock, ConnectionStore, DiscoveredAuthorization, RegistrationStore, StoredSecrets};

use super::connection_aad;
use super::flow_parts::{ConnectOutcome, UNSTATED_LIFETIME_SECONDS, expiry};
use crate::lifecycle::Renewal;
use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// Whether `connection` was made with the client credentials grant (kept with it, so an
    /// entry that changes its `auth_method` changes nothing for connections already made).
    pub(crate) fn uses_client_credentials(&self, connection: &Connection) -> bool {
        connection.grant == OAuthGrant::ClientCredentials
    }

    /// `POST /assets/connect` for a client credentials entry, or a custom server whose
    /// `server_config.grant_type` says so (bound by `binding` to the authorization server
    /// discovery found): the grant for `scopes` first, then the connection, stored `connected`
    /// with its token; nothing is kept when the grant or the binding fails.
    pub(crate) async fn connect_with_client_credentials(
        &self,
        new: NewConnection,
        scopes: Scopes,
        binding: Option<DiscoveredAuthorization>,
    ) -> Result<ConnectOutcome, Error> {
        let ports = self.ports();
        let mut connection = Connection::pending(new, ports.clock.now());
        connection.grant = OAuthGrant::ClientCredentials;
        let target = match &binding {
            Some(binding) => self.discovered_target(&connection, Some(binding.clone())).await?,
            None => self.token_target(&connection).await?,
        };
        let renewal = Renewal::ClientCredentials(&scopes);
        let tokens =
            self.refresh_at_provider(&target.endpoint, renewal, target.resource.clone()).await.map_err(|e| {
                // The server's own words go to the log only; the answer names a fixed reason.
                let (message, providers_words) = crate::refusal::token_failure(&e);
                tracing::warn!(server = %connection.server_name, reason = providers_words.as_deref().unwrap_or(&message),
                "the client credentials grant failed");
                Error::Provider { step: "client credentials", message }
            })?;
        let now = ports.clock.now();
        let granted = tokens.scopes.clone().unwrap_or(scopes);
        connection
            .complete_authorization(granted, expiry(now, tokens.expires_in.or(Some(UNSTATED_LIFETIME_SECONDS))), now)
            .map_err(|e| Error::internal(e.to_string()))?;
        let sealed = ports.cipher.seal(&tokens.access_token, &connection_aad(&connection.ref_id, "access_token"));
        let secrets = StoredSecrets { access_token: Some(sealed), ..StoredSecrets::default() };
        let stored = ports.connections.insert(&connection, &secrets, None, &self.created_connected(&connection)).await;
        let bound = match (&stored, &binding) {
            (Ok(()), Some(binding)) => ports.registrations.bind_authorization(binding).await,
            _ => Ok(()),
        };
        if let Err(e) = stored.and(bound) {
            // Kept nowhere usable: the token must not stay live at the server.
            let reason = "undone: the connection or its authorization server binding could not be stored".to_owned();
            let undone = self.event(&connection, AuditKind::Disconnected, Some(reason));
            if let Err(undo) = ports.connections.delete(&connection.owner, &connection.ref_id, &undone).await {
                tracing::warn!(ref_id = %connection.ref_id, error = %undo, "could not remove an unbound connection");
            }
            self.revoke_unstored(&connection, &target, tokens).await;
            return Err(e.into());
        }
        Ok(ConnectOutcome::Connected { ref_id: connection.ref_id })
    }
}
