use domain::{AuthSpec, Connection, RefId};
use ports::{AuditKind, Cipher, ConnectionStore, OAuthClient, StoredSecrets, TokenEndpoint, TokenHint};

use super::callback::token_endpoint;
use super::connection_aad;
use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// Disconnects (spec §2.1): deletes the connection and its secrets, then revokes the tokens
    /// at the provider, best effort, refresh token first. Of concurrent calls exactly one does it;
    /// the others get `ConnectionNotFound`.
    pub async fn disconnect(&self, ref_id: &RefId) -> Result<(), Error> {
        let connection = self.load(ref_id).await?;
        let secrets = self.ports().connections.delete(ref_id).await?.ok_or(Error::ConnectionNotFound)?;
        self.revoke_all(&connection, &secrets).await;
        self.audit(&connection, AuditKind::Disconnected, None).await;
        Ok(())
    }

    async fn revoke_all(&self, connection: &Connection, secrets: &StoredSecrets) {
        let Some(endpoint) = self.revocation_endpoint(connection) else {
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

    fn revocation_endpoint(&self, connection: &Connection) -> Option<TokenEndpoint> {
        let entry = self.catalog().get(&connection.server_name)?;
        let AuthSpec::OAuth(oauth) = &entry.spec.auth else {
            return None;
        };
        let url = oauth.revocation_endpoint.clone()?;
        let endpoint = token_endpoint(entry).ok()?;
        Some(TokenEndpoint { url, ..endpoint })
    }
}
