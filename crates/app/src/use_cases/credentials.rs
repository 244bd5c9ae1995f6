use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::{AuthSpec, Connection, ConnectionStatus, EventType, OAuthGrant, Owner, ReasonCode, RefId, Standing};
use ports::{AuditKind, AuditLog, Cipher, Clock, ConnectionStore, OAuthError, SecretsUpdate, StoredSecrets};
use secrecy::{ExposeSecret, SecretString};

use super::connection_aad;
use super::flow_parts::{UNSTATED_LIFETIME_SECONDS, expiry};
use crate::lifecycle::Renewal;
use crate::{Deps, Directory, Error};

/// A ready-to-use credential for one outbound MCP call.
#[derive(Debug)]
pub struct Credential {
    /// Shared: the MCP proxy keeps a credential a little while (`use_cases::credential_cache`)
    /// and its answer names the connection it went through.
    pub connection: Arc<Connection>,
    /// Header name and secret value pairs to send (none for servers without auth).
    pub headers: Vec<(String, SecretString)>,
    /// The sealed access token the headers carry: which token an MCP server refused, so that of
    /// callers refused at once only one refreshes (`Directory::refresh_rejected`).
    pub(crate) sealed_token: Option<ports::Sealed>,
}

/// One lock per connection being refreshed in this process, so concurrent callers wait for a
/// single refresh instead of each burning the refresh token.
#[derive(Default)]
pub(crate) struct RefreshLocks(Mutex<HashMap<RefId, Arc<tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    pub(crate) fn lock_for(&self, ref_id: &RefId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(ref_id.clone()).or_default())
    }

    pub(crate) fn forget_idle(&self) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
}

/// What a refresh attempt ended in.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed,
    /// Another caller (or replica) refreshed it first.
    AlreadyFresh,
    /// The grant is gone for good; the connection is now `expired`.
    Expired,
}

impl<D: Deps> Directory<D> {
    /// The credential the engine sends to the connection's MCP server (spec §2.1), refreshing an
    /// OAuth token first when it expires within the margin.
    pub async fn credentials(&self, owner: &Owner, ref_id: &RefId) -> Result<Credential, Error> {
        // One read for the connection and its secrets, so the token belongs to the state checked.
        let (connection, secrets) = self.load_with_secrets(owner, ref_id).await?;
        ensure_usable(&connection)?;
        let now = self.ports().clock.now();
        if self.refresh_ahead_at(&connection).is_some_and(|at| now >= at) {
            let margin = self.settings().credential_refresh_margin_seconds;
            match self.refresh(ref_id, margin).await {
                Ok(RefreshOutcome::Expired) => return Err(Error::TokenExpired),
                Ok(_) => {}
                // A provider hiccup while the token still works for a while is no reason to fail.
                Err(Error::Provider { .. }) if connection.expires_at.is_some_and(|at| at > now) => {}
                Err(e) => return Err(e),
            }
            let (connection, secrets) = self.load_with_secrets(owner, ref_id).await?;
            ensure_usable(&connection)?;
            return self.credential(connection, secrets);
        }
        self.credential(connection, secrets)
    }

    /// When the credentials path refreshes `connection`'s token before handing it out: an OAuth
    /// token's expiry less `Settings::credential_refresh_margin_seconds`; never for others.
    pub(crate) fn refresh_ahead_at(&self, connection: &Connection) -> Option<domain::Timestamp> {
        let margin = self.settings().credential_refresh_margin_seconds;
        match connection.auth_method {
            domain::AuthMethod::OAuth => connection.expires_at.map(|at| at.plus_seconds(-margin)),
            _ => None,
        }
    }

    fn credential(&self, connection: Connection, secrets: StoredSecrets) -> Result<Credential, Error> {
        let headers = self.headers_for(&connection, &secrets)?;
        Ok(Credential { connection: Arc::new(connection), headers, sealed_token: secrets.access_token })
    }

    /// Whether `…/credentials` may hand out `connection`'s upstream secret: it was made
    /// exportable, and its catalog entry (if it has one) does not forbid it now (issue 16).
    pub fn exports_secret(&self, connection: &Connection) -> bool {
        connection.exportable && self.catalog().get(&connection.server_name).is_none_or(|entry| entry.spec.exportable)
    }

    async fn load_with_secrets(&self, owner: &Owner, ref_id: &RefId) -> Result<(Connection, StoredSecrets), Error> {
        self.ports().connections.get_with_secrets(owner, ref_id).await?.ok_or(Error::ConnectionNotFound)
    }

    fn headers_for(
        &self,
        connection: &Connection,
        secrets: &StoredSecrets,
    ) -> Result<Vec<(String, SecretString)>, Error> {
        let cipher = &self.ports().cipher;
        let open = |sealed: &Option<ports::Sealed>, field: &str| -> Result<SecretString, Error> {
            let sealed =
                sealed.as_ref().ok_or_else(|| Error::internal(format!("a usable connection has no {field}")))?;
            Ok(cipher.open(sealed, &connection_aad(&connection.ref_id, field))?)
        };
        Ok(match connection.auth_method {
            domain::AuthMethod::None => Vec::new(),
            domain::AuthMethod::ApiKey => {
                let key = open(&secrets.api_key, "api_key")?;
                let spec = match self.catalog().get(&connection.server_name).map(|e| &e.spec.auth) {
                    Some(AuthSpec::ApiKey(spec)) => spec.clone(),
                    _ => domain::ApiKeySpec { header: "Authorization".into(), scheme: Some("Bearer".into()) },
                };
                let value = SecretString::from(spec.header_value(key.expose_secret()));
                vec![(spec.header, value)]
            }
            domain::AuthMethod::OAuth => {
                let token = open(&secrets.access_token, "access_token")?;
                vec![("Authorization".to_owned(), SecretString::from(format!("Bearer {}", token.expose_secret())))]
            }
        })
    }

    /// The refresh itself, by a caller that holds the connection's lock and lease (see
    /// `lifecycle`): unless fresh by now, call the provider and store the answer. Found by ref
    /// id alone (the scheduler knows no owner); later reads are scoped by the owner found.
    ///
    /// `failures` is how many refreshes failed in a row before this one (the lease's count): the
    /// one that reaches `EVENT_REFRESH_FAILING_AFTER` announces `refresh_failing`, a success after
    /// that `recovered`.
    pub(crate) async fn refresh_locked(
        &self,
        ref_id: &RefId,
        margin: i64,
        failures: u32,
    ) -> Result<RefreshOutcome, Error> {
        let ports = self.ports();
        let connection = self.load_any(ref_id).await?;
        let owner = connection.owner.clone();
        ensure_usable(&connection)?;
        if connection.expires_at.is_some_and(|at| ports.clock.now().plus_seconds(margin) < at) {
            return Ok(RefreshOutcome::AlreadyFresh);
        }
        // Finding the token endpoint may fetch the authorization server's metadata (several URLs,
        // each up to the outbound timeout), which can outlast the refresh lease. So the lease is
        // confirmed after it, and only then is the refresh token read: a lease lost meanwhile
        // means another replica may be using that token, and a second use of it can make a
        // provider with reuse detection revoke the whole grant.
        let target = match self.token_target(&connection).await {
            Ok(target) => target,
            Err(e) => match super::identity::needs_reconnect(&e) {
                Some(reason) => return self.expire(connection, reason, ReasonCode::ClientRejected).await,
                None => return Err(e),
            },
        };
        if !self.confirm_lease(ref_id).await? {
            return Err(Error::Provider {
                step: "token refresh",
                message: "the refresh lease lapsed while the token endpoint was found; another replica refreshes"
                    .into(),
            });
        }
        let (mut connection, secrets) = self.load_with_secrets(&owner, ref_id).await?;
        ensure_usable(&connection)?;
        let now = ports.clock.now();
        if connection.expires_at.is_some_and(|at| now.plus_seconds(margin) < at) {
            return Ok(RefreshOutcome::AlreadyFresh);
        }
        let sealed_refresh = secrets.refresh_token.clone();
        let refresh_token = match &sealed_refresh {
            Some(sealed) => Some(ports.cipher.open(sealed, &connection_aad(ref_id, "refresh_token"))?),
            None => None,
        };
        let jag: SecretString;
        let renewal = match &refresh_token {
            _ if self.uses_client_credentials(&connection) => Renewal::ClientCredentials(&connection.scopes),
            // An identity assertion's stored credential is the user's ID token: exchanged first.
            Some(subject) if connection.grant == OAuthGrant::IdentityAssertion => {
                match self.id_jag(&target, subject, &connection.scopes).await {
                    Ok(issued) => {
                        jag = issued;
                        Renewal::JwtBearer(&jag, &connection.scopes)
                    }
                    Err(OAuthError::Rejected { code, .. }) if refused_for_good(&code) => {
                        let reason = format!(
                            "the identity provider no longer grants this user access to the server ({code}); \
                             connect it anew with a fresh ID token"
                        );
                        return self.expire(connection, &reason, ReasonCode::ClientRejected).await;
                    }
                    Err(e) => return Err(self.renewal_failed(&connection, &e, "identity provider", failures).await),
                }
            }
            Some(token) => Renewal::RefreshToken(token),
            None if connection.expires_at.is_some_and(|at| at > now) => return Ok(RefreshOutcome::AlreadyFresh),
            None => {
                let reason = "the access token expired and there is no refresh token";
                return self.expire(connection, reason, ReasonCode::NoRefreshToken).await;
            }
        };
        match self.refresh_at_provider(&target.endpoint, renewal, target.resource.clone()).await {
            Ok(mut tokens) => {
                if matches!(renewal, Renewal::JwtBearer(..)) {
                    self.drop_added_refresh_token(&connection, &target, &mut tokens).await;
                }
                let update = self.seal_tokens(&connection, &tokens);
                let now = ports.clock.now();
                let expires_in = match renewal.renews_alone() {
                    true => tokens.expires_in.or(Some(UNSTATED_LIFETIME_SECONDS)),
                    false => tokens.expires_in,
                };
                connection
                    .record_refresh(tokens.scopes.clone(), expiry(now, expires_in), now)
                    .map_err(|e| Error::internal(e.to_string()))?;
                connection.name_account(tokens.account.clone());
                let mut refreshed = self.event(&connection, AuditKind::Refreshed, None);
                if self.recovers(failures) {
                    let connected = Standing::Status(ConnectionStatus::Connected);
                    let (kind, why) = (EventType::Recovered, ReasonCode::Refreshed);
                    refreshed = self.announcing(refreshed, kind, Some(connected), connected, why);
                }
                if !self.store_update(&connection, ConnectionStatus::Connected, &update, &refreshed).await? {
                    // Disconnected (or changed) while the provider answered: store nowhere, revoke.
                    self.revoke_unstored(&connection, &target, tokens).await;
                    return Err(Error::ConnectionNotFound);
                }
                Ok(RefreshOutcome::Refreshed)
            }
            Err(OAuthError::Rejected { code, .. }) if renewal_refused(&renewal, &code) => {
                // The server no longer grants this client (or this user) tokens: nothing to retry
                // (a fixed reason; the server's own code is one of a few known words).
                let reason = match renewal {
                    Renewal::JwtBearer(..) => format!(
                        "the authorization server refused the identity assertion ({code}); connect it anew with a \
                         fresh ID token"
                    ),
                    _ => format!(
                        "the authorization server no longer grants this client tokens ({code}); connect it anew"
                    ),
                };
                self.expire(connection, &reason, ReasonCode::ClientRejected).await
            }
            Err(OAuthError::Rejected { code, .. }) if code == "invalid_grant" => {
                // A sibling may have rotated the refresh token while we used the old one.
                let now_stored = ports.connections.secrets(&owner, ref_id).await?.and_then(|s| s.refresh_token);
                if sealed_refresh.is_some() && now_stored.is_some_and(|current| Some(current) != sealed_refresh) {
                    return Ok(RefreshOutcome::AlreadyFresh);
                }
                let reason = "the authorization server rejected the refresh token (invalid_grant)";
                self.expire(connection, reason, ReasonCode::InvalidGrant).await
            }
            Err(e) => {
                self.heal_rejected_client(&connection, &target, &e).await;
                Err(self.renewal_failed(&connection, &e, "authorization server", failures).await)
            }
        }
    }

    /// A renewal that failed at `at` and may succeed later, after `failures` in a row: recorded
    /// with the server's own words, answered in fixed ones (a refusal's code is the server's own
    /// text); the failure that makes a run long enough announces `refresh_failing`.
    async fn renewal_failed(&self, connection: &Connection, e: &OAuthError, at: &str, failures: u32) -> Error {
        let (message, providers_words) = crate::refusal::token_failure(e);
        let detail = providers_words.unwrap_or_else(|| message.clone());
        let failed = self.event(connection, AuditKind::RefreshFailed, Some(format!("{at}: {detail}")));
        // A call the breaker refused is no failure of this connection's (nor counted as one).
        let recorded = if self.starts_failing(failures) && !crate::lifecycle::is_breaker_refusal(e) {
            let connected = Standing::Status(ConnectionStatus::Connected);
            let (kind, why) = (EventType::RefreshFailing, ReasonCode::ProviderUnavailable);
            let failed = self.announcing(failed, kind, Some(connected), connected, why);
            // Written with the row as it was read (still connected), so that it is ordered with
            // the connection's other changes and never follows a disconnect.
            self.store_update(connection, ConnectionStatus::Connected, &SecretsUpdate::Keep, &failed).await.map(|_| ())
        } else {
            self.ports().audit.record(&failed).await
        };
        if let Err(e) = recorded {
            tracing::warn!(ref_id = %connection.ref_id, error = %e, "the failed refresh was not recorded");
        }
        Error::Provider { step: "token refresh", message }
    }

    /// Marks the connection `expired` (its tokens cleared), announcing it for `why`.
    pub(crate) async fn expire(
        &self,
        mut connection: Connection,
        reason: &str,
        why: ReasonCode,
    ) -> Result<RefreshOutcome, Error> {
        let now = self.ports().clock.now();
        connection.expire(reason, now).map_err(|e| Error::internal(e.to_string()))?;
        let expired = self.event(&connection, AuditKind::Expired, Some(reason.to_owned()));
        let (was, now_expired) = (Standing::Status(ConnectionStatus::Connected), Standing::Status(connection.status()));
        let expired = self.announcing(expired, EventType::Expired, Some(was), now_expired, why);
        self.store_update(&connection, ConnectionStatus::Connected, &SecretsUpdate::ClearTokens, &expired).await?;
        Ok(RefreshOutcome::Expired)
    }
}

pub(crate) fn ensure_usable(connection: &Connection) -> Result<(), Error> {
    match connection.status() {
        ConnectionStatus::Connected => Ok(()),
        ConnectionStatus::Expired => Err(Error::TokenExpired),
        status => Err(Error::NotReady(status)),
    }
}

/// Whether `code` refuses a renewal the service makes alone for good (RFC 6749 §5.2: the client
/// is unknown or may not use the grant, its scope or, for an identity assertion, the ID token or
/// the provider's policy is refused; RFC 8707's `invalid_target`).
fn renewal_refused(renewal: &Renewal<'_>, code: &str) -> bool {
    renewal.renews_alone() && refused_for_good(code)
}

/// The refusals of a server minting for the service alone that no retry changes.
fn refused_for_good(code: &str) -> bool {
    matches!(
        code,
        "invalid_client"
            | "unauthorized_client"
            | "invalid_scope"
            | "invalid_grant"
            | "access_denied"
            | "invalid_target"
    )
}
