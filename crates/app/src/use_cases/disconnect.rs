use domain::{Connection, Owner, RefId};
use ports::{
    AuditKind, Cipher, ConnectionStore, DiscoveredAuthorization, OAuthClient, RegistrationStore, Sealed, StoredSecrets,
    TokenEndpoint, TokenHint, TokenSet,
};
use secrecy::SecretString;

use super::connection_aad;
use super::identity::TokenTarget;
use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// Disconnects (spec §2.1): deletes the connection and its secrets (recording `disconnected`
    /// with the deletion), then revokes the tokens at the provider, best effort, refresh token
    /// first. Of concurrent calls exactly one does it; the others get `ConnectionNotFound`.
    pub async fn disconnect(&self, owner: &Owner, ref_id: &RefId) -> Result<(), Error> {
        let connection = self.load(owner, ref_id).await?;
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
        let secrets =
            self.ports().connections.delete(owner, ref_id, &disconnected).await?.ok_or(Error::ConnectionNotFound)?;
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
        let open = |sealed: &Option<Sealed>, field: &str| {
            sealed.as_ref().map(|s| self.ports().cipher.open(s, &connection_aad(&connection.ref_id, field)))
        };
        let tokens = [
            (open(&secrets.refresh_token, "refresh_token"), TokenHint::RefreshToken),
            (open(&secrets.access_token, "access_token"), TokenHint::AccessToken),
        ];
        let tokens = tokens.into_iter().filter_map(|(token, hint)| Some((token?.map_err(|e| e.to_string()), hint)));
        self.revoke_tokens(connection, &endpoint, tokens, None).await;
    }

    /// Revokes `tokens` at `endpoint`, best effort and in their order, recording `revoked` or
    /// `revocation_failed` for each (with `why` after the token's kind, when given). A token that
    /// could not even be opened is recorded as a failed revocation.
    pub(crate) async fn revoke_tokens(
        &self,
        connection: &Connection,
        endpoint: &TokenEndpoint,
        tokens: impl IntoIterator<Item = (Result<SecretString, String>, TokenHint)>,
        why: Option<&str>,
    ) {
        for (token, hint) in tokens {
            let outcome = match token {
                Ok(token) => self.ports().oauth.revoke(endpoint, &token, hint).await.map_err(|e| e.to_string()),
                Err(reason) => Err(reason),
            };
            let what = match why {
                Some(why) => format!("{} ({why})", hint.as_str()),
                None => hint.as_str().to_owned(),
            };
            match outcome {
                Ok(()) => self.audit(connection, AuditKind::Revoked, Some(what)).await,
                Err(reason) => {
                    tracing::warn!(ref_id = %connection.ref_id, hint = hint.as_str(), %reason, "revocation failed");
                    self.audit(connection, AuditKind::RevocationFailed, Some(format!("{what}: {reason}"))).await;
                }
            }
        }
    }

    /// Tokens just obtained for `connection` whose write lost its compare-and-set (the connection
    /// was disconnected, or changed, while the provider answered) are stored nowhere: revoke them
    /// as a disconnect would, so no grant stays live at the provider.
    pub(crate) async fn revoke_unstored(&self, connection: &Connection, target: &TokenTarget, tokens: TokenSet) {
        let Some(url) = target.revocation_endpoint.clone() else {
            tracing::warn!(ref_id = %connection.ref_id, "tokens obtained for a vanished connection cannot be revoked: no revocation endpoint");
            return;
        };
        let endpoint = TokenEndpoint { url, ..target.endpoint.clone() };
        let tokens =
            [(tokens.refresh_token, TokenHint::RefreshToken), (Some(tokens.access_token), TokenHint::AccessToken)];
        let tokens = tokens.into_iter().filter_map(|(token, hint)| Some((Ok(token?), hint)));
        let why = "obtained after the connection was disconnected or changed";
        self.revoke_tokens(connection, &endpoint, tokens, Some(why)).await;
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
