//! Disconnecting: one connection, or every connection of a user (forgetting them). The local
//! delete always comes first; revocation at the provider follows, best effort and bounded.

use domain::{Connection, EventType, Owner, ReasonCode, RefId, Standing};
use ports::{
    AuditKind, AuditLog, Cipher, ConnectSessionStore, ConnectionPosition, ConnectionQuery, ConnectionStore,
    DiscoveredAuthorization, FlowStore, OAuthClient, RegistrationStore, Sealed, StoredSecrets, TokenEndpoint,
    TokenHint, TokenSet,
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
        let deleted =
            self.delete_connection(connection, ReasonCode::UserDisconnected).await?.ok_or(Error::ConnectionNotFound)?;
        deleted.revoke(self).await;
        Ok(())
    }

    /// Forgets the user `owner`: erases their pending flows and open connect sessions, then
    /// disconnects every one of their connections exactly as [`Directory::disconnect`] does
    /// (each delete recorded with its `disconnected` event), and answers once every row is gone.
    /// Their tokens are revoked after that, in a task of its own (a few connections at a time),
    /// so neither a provider that is down nor a caller that goes away holds the answer or stops
    /// a revocation.
    pub async fn forget_user(&self, owner: &Owner) -> Result<Forgotten, Error> {
        let flows_deleted = self.ports().flows.delete_flows_of(owner).await?;
        self.ports().sessions.delete_sessions_of(owner).await?;
        let mut deleted = Vec::new();
        let mut query = ConnectionQuery { after: None, limit: FORGET_PAGE, server_name: None, status: None };
        loop {
            let page = self.ports().connections.list_page(owner, &query).await?;
            let Some(last) = page.last() else { break };
            query.after = Some(ConnectionPosition { created_at: last.created_at, ref_id: last.ref_id.clone() });
            for connection in page {
                // A connection disconnected meanwhile by another caller is theirs to revoke.
                deleted.extend(self.delete_connection(connection, ReasonCode::UserForgotten).await?);
            }
        }
        let connections_deleted = u64::try_from(deleted.len()).unwrap_or(u64::MAX);
        let revocations_scheduled = deleted.iter().map(Deleted::tokens).sum();
        let directory = self.clone();
        tokio::spawn(async move { directory.revoke_deleted(deleted).await });
        Ok(Forgotten { connections_deleted, revocations_scheduled, flows_deleted })
    }

    /// Revokes the tokens of `deleted`, [`REVOCATIONS_AT_ONCE`] connections at a time.
    async fn revoke_deleted(&self, deleted: Vec<Deleted>) {
        let mut running = tokio::task::JoinSet::new();
        for one in deleted {
            if running.len() >= REVOCATIONS_AT_ONCE {
                running.join_next().await;
            }
            let directory = self.clone();
            running.spawn(async move { one.revoke(&directory).await });
        }
        while running.join_next().await.is_some() {}
    }

    /// Deletes `connection` and its secrets, recording `disconnected` with the deletion (announced
    /// for `why`); `None` when another caller deleted it first.
    async fn delete_connection(&self, connection: Connection, why: ReasonCode) -> Result<Option<Deleted>, Error> {
        let ref_id = &connection.ref_id;
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
        let was = Some(Standing::Status(connection.status()));
        let disconnected = self.announcing(disconnected, EventType::Disconnected, was, Standing::Disconnected, why);
        let secrets = self.store_delete(&connection.owner, ref_id, &disconnected).await?;
        Ok(secrets.map(|secrets| Deleted { connection, binding, secrets }))
    }

    /// Revokes the tokens of a deleted connection; answers how many it tried to revoke.
    async fn revoke_all(
        &self,
        connection: &Connection,
        binding: Option<DiscoveredAuthorization>,
        secrets: &StoredSecrets,
    ) -> u64 {
        if secrets.access_token.is_none() && secrets.refresh_token.is_none() {
            return 0;
        }
        let Some(endpoint) = self.revocation_endpoint(connection, binding).await else {
            return 0;
        };
        let open = |sealed: &Option<Sealed>, field: &str| {
            sealed.as_ref().map(|s| self.ports().cipher.open(s, &connection_aad(&connection.ref_id, field)))
        };
        let tokens = [
            (open(revocable_refresh_token(connection, secrets), "refresh_token"), TokenHint::RefreshToken),
            (open(&secrets.access_token, "access_token"), TokenHint::AccessToken),
        ];
        let tokens: Vec<_> =
            tokens.into_iter().filter_map(|(token, hint)| Some((token?.map_err(|e| e.to_string()), hint))).collect();
        let attempted = u64::try_from(tokens.len()).unwrap_or(u64::MAX);
        self.revoke_tokens(connection, &endpoint, tokens, None).await;
        attempted
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
        let mut announced = false;
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
                    let mut failed =
                        self.event(connection, AuditKind::RevocationFailed, Some(format!("{what}: {reason}")));
                    // A disconnect's revocation (no `why`) announces its first failure; tokens
                    // of a connection that was never stored with them concern no one.
                    if why.is_none() && !std::mem::replace(&mut announced, true) {
                        let (gone, kind) = (Standing::Disconnected, EventType::RevocationFailed);
                        failed = self.announcing(failed, kind, Some(gone), gone, ReasonCode::RevocationFailed);
                    }
                    if let Err(e) = self.ports().audit.record(&failed).await {
                        tracing::warn!(ref_id = %connection.ref_id, error = %e, "the failed revocation was not recorded");
                    }
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

/// How many of a user's connections are read per page while forgetting them.
const FORGET_PAGE: u32 = 100;

/// How many deleted connections have their tokens revoked at once while forgetting a user.
const REVOCATIONS_AT_ONCE: usize = 8;

/// What forgetting a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    /// Their connections this call deleted (one concurrently disconnected by another call is
    /// counted there, not here).
    pub connections_deleted: u64,
    /// The tokens of the deleted connections handed to revocation, which runs after the answer
    /// (each recorded `revoked` or `revocation_failed` in its connection's audit history; one
    /// whose provider offers no revocation endpoint is dropped).
    pub revocations_scheduled: u64,
    /// Their pending OAuth flows erased.
    pub flows_deleted: u64,
}

/// A connection just deleted, with what revoking its tokens needs.
struct Deleted {
    connection: Connection,
    binding: Option<DiscoveredAuthorization>,
    secrets: StoredSecrets,
}

impl Deleted {
    /// How many tokens it holds to revoke.
    fn tokens(&self) -> u64 {
        let refresh = revocable_refresh_token(&self.connection, &self.secrets).is_some();
        u64::from(self.secrets.access_token.is_some()) + u64::from(refresh)
    }

    /// Revokes its tokens; answers how many it tried to revoke.
    async fn revoke<D: Deps>(self, directory: &Directory<D>) -> u64 {
        directory.revoke_all(&self.connection, self.binding, &self.secrets).await
    }
}

/// The stored refresh token of `connection` that its authorization server issued. An identity
/// assertion connection's column holds the user's ID token instead: that server never issued it,
/// so it is never sent there.
fn revocable_refresh_token<'a>(connection: &Connection, secrets: &'a StoredSecrets) -> &'a Option<Sealed> {
    match connection.grant {
        domain::OAuthGrant::IdentityAssertion => &None,
        _ => &secrets.refresh_token,
    }
}
