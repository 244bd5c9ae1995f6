use domain::{Connection, RefId};
use ports::{
    AuditKind, Cipher, ConnectionStore, DiscoveredAuthorization, OAuthClient, RegistrationStore, StoredSecrets,
    TokenEndpoint, TokenHint,
};

use super::connection_aad;
use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// Disconnects (spec §2.1): deletes the connection and its secrets (recording `disconnected`
    /// with the deletion), then revokes the tokens at the provider, best effort, refresh token
    /// first. Of concurrent calls exactly one does it; the others get `ConnectionNotFound`.
    pub async fn disconnect(&self, ref_id: &RefId) -> Result<(), Error> {
        let connection = self.load(ref_id).await?;
        // A discovered connection's authorization server goes with the row: read it first.
        let binding = if self.is_discovered(&connection) {
            self.ports().registrations.authorization_of(ref_id).await.unwrap_or_else(|e| {
                tracing::warn!(%ref_id, error = %e, "could not read the connection's authorization server");
                None
            })
        } else {
            None
        };
        let disconnected = self.event(&connection, AuditKind::Disconnected, None);
        let secrets = self.ports().connections.delete(ref_id, &disconnected).await?.ok_or(Error::ConnectionNotFound)?;
        self.revoke_all(&connection, binding, &secrets).await;
        Ok(())
    }

    async fn revoke_all(
        &self,
        connection: &Connection,
        binding: Option<DiscoveredAuthorization>,
        secrets: &StoredSecrets,
    ) {
        if secrets.access_token.is_none() && secrets.refresh_token.is_none() {
            return;
        }
        let Some(endpoint) = self.revocation_endpoint(connection, binding).await else {
            return;
        };
        let tokens = [
            (&secrets.refresh_token, "refresh_token", TokenHint::RefreshToken),
            (&secrets.access_token, "access_token", TokenHint::AccessToken),
        ];
        for (sealed, field, hint) in tokens {
            let Some(sealed) = sealed else { continue };
            let outcome = match self.ports().cipher.open(sealed, &connection_aad(&connection.ref_id, field)) {
                Ok(token) => self.ports().oauth.revoke(&endpoint, &token, hint).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => self.audit(connection, AuditKind::Revoked, Some(hint.as_str().to_owned())).await,
                Err(reason) => {
                    tracing::warn!(ref_id = %connection.ref_id, hint = hint.as_str(), %reason, "revocation failed");
                    let detail = format!("{}: {reason}", hint.as_str());
                    self.audit(connection, AuditKind::RevocationFailed, Some(detail)).await;
                }
            }
        }
    }

    async fn revocation_endpoint(
        &self,
        connection: &Connection,
        binding: Option<DiscoveredAuthorization>,
    ) -> Option<TokenEndpoint> {
        match self.discovered_target(connection, binding).await {
            Ok(target) => Some(TokenEndpoint { url: target.revocation_endpoint?, ..target.endpoint }),
            Err(e) => {
                tracing::warn!(ref_id = %connection.ref_id, error = %e, "no revocation: the token endpoint is unknown");
                None
            }
        }
    }
}
