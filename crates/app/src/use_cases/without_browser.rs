//! Connections made with no browser: the client credentials grant (issue 18 §3: a catalog entry
//! with `auth_method: "oauth_client_credentials"`, or a custom server with
//! `server_config.grant_type: "client_credentials"` and its own client) and the identity
//! assertion grant (§4: a user's ID token exchanged at their identity provider for an ID-JAG;
//! `identity_assertion.rs`). Either connects at once, at the token endpoint with the entry's
//! scopes and, where it is sent, the RFC 8707 `resource`; the answer is `connected`. There is no
//! refresh token: the service mints again before the token expires, by the scheduler (the row's
//! `grant_type`, or for an identity assertion its stored ID token, makes it due as a refresh
//! token would) as by the credentials route (`credentials::refresh_locked`). A refusal that says
//! the client or the user is no longer granted tokens expires the connection.

use domain::{Connection, EventType, NewConnection, OAuthGrant, ReasonCode, Scopes, Standing};
use ports::{
    AuditKind, Cipher, Clock, ConnectionStore, DiscoveredAuthorization, OAuthClient, OAuthError, RegistrationStore,
    StoredSecrets, TokenEndpoint, TokenHint, TokenSet,
};
use secrecy::SecretString;

use super::connection_aad;
use super::flow_parts::{ConnectOutcome, Minting, UNSTATED_LIFETIME_SECONDS, expiry};
use super::identity::TokenTarget;
use crate::lifecycle::Renewal;
use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// Whether `connection` was made with the client credentials grant (kept with it, so an
    /// entry that changes its `auth_method` changes nothing for connections already made).
    pub(crate) fn uses_client_credentials(&self, connection: &Connection) -> bool {
        connection.grant == OAuthGrant::ClientCredentials
    }

    /// `POST /assets/connect` for a connection minted with no browser, bound by `binding` to the
    /// authorization server discovery found (none for a catalog entry's fixed endpoints): the
    /// grant for `scopes` first, then the connection, stored `connected` with its token (and, for
    /// an identity assertion, the ID token that renews it); nothing is kept, and the token is
    /// revoked, when the grant, the connection or the binding fails.
    pub(crate) async fn connect_without_browser(
        &self,
        new: NewConnection,
        scopes: Scopes,
        binding: Option<DiscoveredAuthorization>,
        minting: Minting,
    ) -> Result<ConnectOutcome, Error> {
        let ports = self.ports();
        let mut connection = Connection::pending(new, ports.clock.now());
        let mut binding = binding;
        connection.grant = match &minting {
            Minting::ClientCredentials => OAuthGrant::ClientCredentials,
            Minting::IdentityAssertion(assertion) => {
                if let Some(binding) = binding.as_mut() {
                    binding.identity_provider = Some(self.seal_idp(assertion, &connection.ref_id));
                }
                OAuthGrant::IdentityAssertion
            }
        };
        let target = match &binding {
            Some(binding) => self.discovered_target(&connection, Some(binding.clone())).await?,
            None => self.token_target(&connection).await?,
        };
        let step =
            if matches!(minting, Minting::ClientCredentials) { "client credentials" } else { "identity assertion" };
        let failed = |e: &OAuthError, at: &str| {
            // The server's own words go to the log only; the answer names a fixed reason.
            let (message, providers_words) = crate::refusal::token_failure(e);
            tracing::warn!(server = %connection.server_name, reason = providers_words.as_deref().unwrap_or(&message),
                "the {step} grant failed at the {at}");
            Error::Provider { step, message: format!("{at}: {message}") }
        };
        let jag = match &minting {
            Minting::ClientCredentials => None,
            Minting::IdentityAssertion(assertion) => Some(
                self.id_jag(&target, &assertion.id_token, &scopes)
                    .await
                    .map_err(|e| failed(&e, "identity provider"))?,
            ),
        };
        let renewal = match &jag {
            None => Renewal::ClientCredentials(&scopes),
            Some(jag) => Renewal::JwtBearer(jag, &scopes),
        };
        let mut tokens = self
            .refresh_at_provider(&target.endpoint, renewal, target.resource.clone())
            .await
            .map_err(|e| failed(&e, "authorization server"))?;
        if jag.is_some() {
            self.drop_added_refresh_token(&connection, &target, &mut tokens).await;
        }
        let now = ports.clock.now();
        let granted = tokens.scopes.clone().unwrap_or(scopes);
        connection
            .complete_authorization(granted, expiry(now, tokens.expires_in.or(Some(UNSTATED_LIFETIME_SECONDS))), now)
            .map_err(|e| Error::internal(e.to_string()))?;
        let seal = |value, field| ports.cipher.seal(value, &connection_aad(&connection.ref_id, field));
        let secrets = StoredSecrets {
            access_token: Some(seal(&tokens.access_token, "access_token")),
            // An identity assertion connection keeps the user's ID token: what renews it.
            refresh_token: match &minting {
                Minting::IdentityAssertion(assertion) => Some(seal(&assertion.id_token, "refresh_token")),
                Minting::ClientCredentials => None,
            },
            ..StoredSecrets::default()
        };
        let stored = ports.connections.insert(&connection, &secrets, None, &self.created_connected(&connection)).await;
        let bound = match (&stored, &binding) {
            (Ok(()), Some(binding)) => ports.registrations.bind_authorization(binding).await,
            _ => Ok(()),
        };
        if let Err(e) = stored.and(bound) {
            // Kept nowhere usable: the token must not stay live at the server.
            let reason = "undone: the connection or its authorization server binding could not be stored".to_owned();
            // Announced `connected` with the insert: a receiver must hear that it is gone again.
            let undone = self.event(&connection, AuditKind::Disconnected, Some(reason));
            let (was, gone) = (Some(Standing::Status(connection.status())), Standing::Disconnected);
            let why = ReasonCode::AuthorizationFailed;
            let undone = self.announcing(undone, EventType::Disconnected, was, gone, why);
            if let Err(undo) = self.store_delete(&connection.owner, &connection.ref_id, &undone).await {
                tracing::warn!(ref_id = %connection.ref_id, error = %undo, "could not remove an unbound connection");
            }
            self.revoke_unstored(&connection, &target, tokens).await;
            return Err(e.into());
        }
        Ok(ConnectOutcome::Connected { ref_id: connection.ref_id })
    }

    /// The ID-JAG the user's ID token `subject` gets at the identity provider of `target` for its
    /// authorization server and resource, through that provider's own circuit breaker (a flaky
    /// provider pauses exchanges there, not the authorization server's other refreshes).
    pub(crate) async fn id_jag(
        &self,
        target: &TokenTarget,
        subject: &SecretString,
        scopes: &Scopes,
    ) -> Result<SecretString, OAuthError> {
        let idp = target.identity_provider.as_ref().ok_or_else(|| {
            OAuthError::InvalidResponse("the connection's identity provider is not recorded".to_owned())
        })?;
        let audience = target.issuer.as_deref().unwrap_or_default();
        let resource = target.resource.as_deref().unwrap_or_default();
        let call = self.ports().oauth.exchange_identity(idp, subject, audience, resource, scopes);
        self.through_breaker(&idp.url, call).await
    }

    /// Drops a refresh token the authorization server added to an identity assertion's token (the
    /// ID token renews it: renewing with a refresh token would keep a user the identity provider
    /// has since refused), revoking it there so it does not stay live, unheld.
    pub(crate) async fn drop_added_refresh_token(
        &self,
        connection: &Connection,
        target: &TokenTarget,
        tokens: &mut TokenSet,
    ) {
        let Some(added) = tokens.refresh_token.take() else { return };
        let Some(url) = target.revocation_endpoint.clone() else {
            tracing::warn!(ref_id = %connection.ref_id, "a refresh token added to an identity assertion's token cannot be revoked: no revocation endpoint");
            return;
        };
        let endpoint = TokenEndpoint { url, ..target.endpoint.clone() };
        let why = "added to an identity assertion's token, which the ID token renews";
        self.revoke_tokens(connection, &endpoint, vec![(Ok(added), TokenHint::RefreshToken)], Some(why)).await;
    }
}
