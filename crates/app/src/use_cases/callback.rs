use domain::{Connection, ConnectionStatus, EventType, Owner, ReasonCode, Standing, Timestamp};
use ports::{
    AuditKind, AuditLog, Cipher, Clock, ConnectSessionStore, ConnectionStore, FlowEvent, FlowStore, OAuthClient,
    PendingFlow, SecretsUpdate, TokenSet,
};
use secrecy::{ExposeSecret, SecretString};

use super::flow_aad;
use super::flow_parts::expiry;
use super::identity::TokenTarget;
use crate::{Deps, Directory, Error, flow, refusal};

/// The query (or JSON body) of an OAuth callback, as the provider sent it.
#[derive(Debug, Default)]
pub struct CallbackInput {
    pub state: Option<SecretString>,
    pub code: Option<SecretString>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The redirect URI the callback arrived at (no query); `None` is the shared
    /// `/assets/oauth/callback`. A flow completes only at its own (RFC 9700 §4.4.2).
    pub redirect_uri: Option<String>,
    /// The owner of an engine that relays the callback with its key (`POST /assets/callback`):
    /// only a flow of that owner completes. `None` for the browser's redirect, found by its
    /// `state` alone.
    pub owner: Option<Owner>,
    /// The nonce the browser's cookie carries, if any: a flow started on the hosted connect
    /// page completes only with its own (checked as the flow is taken, so another browser's
    /// callback leaves it for the right one).
    pub browser: Option<SecretString>,
}

/// A completed flow: the connection as it now is, and where to send the browser.
#[derive(Debug)]
pub struct CallbackOutcome {
    pub connection: Connection,
    pub return_to: Option<String>,
}

/// The flow the callback belonged to, known even when it failed (to redirect to its `return_to`).
#[derive(Debug)]
pub struct CallbackFailure {
    pub error: Error,
    pub return_to: Option<String>,
    pub ref_id: Option<domain::RefId>,
    /// The tenant of the flow's connection, for the metrics.
    pub tenant: Option<domain::TenantId>,
}

impl From<Error> for CallbackFailure {
    fn from(error: Error) -> Self {
        Self { error, return_to: None, ref_id: None, tenant: None }
    }
}

/// Longest `state` accepted; ours are 43 characters.
const MAX_STATE_LEN: usize = 512;

impl<D: Deps> Directory<D> {
    /// Completes an OAuth flow (spec §5.3): consumes the state exactly once, checks `iss`,
    /// exchanges the code with the PKCE verifier and stores the tokens sealed.
    pub async fn complete_callback(&self, input: CallbackInput) -> Result<CallbackOutcome, CallbackFailure> {
        // On its own task: a browser that goes away must not drop the callback between the code's
        // exchange and the store.
        let result = self.to_completion(move |dir| async move { dir.run_callback(input).await }).await;
        match &result {
            Ok(done) => self.metrics().oauth_flow(FlowEvent::Completed, &done.connection.owner.tenant),
            // A failure that names no tenant had no flow of a connection (an unknown or replayed
            // state).
            Err(CallbackFailure { tenant: Some(tenant), .. }) => self.metrics().oauth_flow(FlowEvent::Failed, tenant),
            Err(_) => {}
        }
        result
    }

    async fn run_callback(&self, input: CallbackInput) -> Result<CallbackOutcome, CallbackFailure> {
        let state = input.state.as_ref().ok_or(Error::InvalidState)?;
        if state.expose_secret().is_empty() || state.expose_secret().len() > MAX_STATE_LEN {
            return Err(Error::InvalidState.into());
        }
        // Checked before the flow is taken: a callback that cannot be acted on must leave the
        // flow to the real one (issue 20).
        let answer = Answer::of(&input)?;
        let ports = self.ports();
        let browser_hash = input.browser.as_ref().map(|nonce| flow::state_hash(nonce.expose_secret()));
        let (flow, connection) = ports
            .flows
            .take_flow_with_connection(
                &flow::state_hash(state.expose_secret()),
                input.owner.as_ref(),
                browser_hash.as_deref(),
            )
            .await
            .map_err(Error::from)?
            .ok_or(Error::InvalidState)?;
        let tenant = connection.as_ref().map(|c| c.owner.tenant.clone());
        let fail = |error: Error| CallbackFailure {
            error,
            return_to: flow.return_to.clone(),
            ref_id: Some(flow.ref_id.clone()),
            tenant: tenant.clone(),
        };
        let now = ports.clock.now();
        let mut connection = match connection {
            Some(c) if c.status() == ConnectionStatus::PendingOAuth => c,
            // Connected and asked for more scopes since it last connected (`lifecycle::step_up`):
            // nothing below fails it, its token serving on until this callback replaces it.
            Some(c) if c.status() == ConnectionStatus::Connected && self.awaits_step_up(&c).await => c,
            _ => return Err(fail(Error::InvalidState)),
        };
        if flow.expires_at < now {
            self.fail_connection(&mut connection, "the authorization was not completed in time", now).await;
            return Err(fail(Error::InvalidState));
        }
        let arrived_at = input.redirect_uri.clone().unwrap_or_else(|| self.settings().redirect_uri());
        if arrived_at != flow.redirect_uri {
            // Another authorization server's response, or a mix-up: nothing is sent anywhere.
            let reason = "the authorization response arrived at another redirect URI than its flow's";
            self.fail_connection(&mut connection, reason, now).await;
            return Err(fail(Error::InvalidState));
        }
        if !issuer_matches(&flow, input.iss.as_deref()) {
            self.fail_connection(&mut connection, "the authorization response came from an unexpected issuer", now)
                .await;
            return Err(fail(Error::IssuerMismatch));
        }
        let code = match answer {
            Answer::Code(code) => code,
            Answer::Refused { error, description } => {
                self.heal_refused_authorization(&connection, error).await;
                let detail = refusal::audit_detail(error, description);
                let why = match error {
                    "access_denied" => ReasonCode::ConsentDenied,
                    _ => ReasonCode::AuthorizationFailed,
                };
                let error = refusal::error(error);
                self.fail_connection_noting(&mut connection, &error.to_string(), detail, why, now).await;
                return Err(fail(error));
            }
        };
        match self.exchange(&connection, &flow, code).await {
            Ok((tokens, target)) => self.store_tokens(connection, &flow, tokens, &target).await.map_err(fail),
            Err(ExchangeFailure { error, providers_words }) => {
                let now = ports.clock.now();
                match providers_words {
                    Some(words) => {
                        let why = ReasonCode::AuthorizationFailed;
                        self.fail_connection_noting(&mut connection, &error.to_string(), words, why, now).await
                    }
                    None => self.fail_connection(&mut connection, &error.to_string(), now).await,
                }
                Err(fail(error))
            }
        }
    }

    async fn exchange(
        &self,
        connection: &Connection,
        flow: &PendingFlow,
        code: &SecretString,
    ) -> Result<(TokenSet, TokenTarget), ExchangeFailure> {
        let target = self.token_target(connection).await?;
        if let (Some(bound), Some(started)) = (&target.issuer, &flow.issuer)
            && bound != started
        {
            // The connection was bound to another authorization server since this flow began (a
            // reconnect that found another): its code is not that server's to redeem.
            return Err(Error::Provider {
                step: "token exchange",
                message: "the connection's authorization server changed since this flow started".into(),
            }
            .into());
        }
        let verifier =
            self.ports().cipher.open(&flow.pkce_verifier, &flow_aad(&flow.state_hash)).map_err(Error::from)?;
        let exchanged = self
            .ports()
            .oauth
            .exchange_code(&target.endpoint, code, &verifier, &flow.redirect_uri, flow.resource.clone())
            .await;
        match exchanged {
            Ok(tokens) => Ok((tokens, target)),
            Err(e) => {
                self.heal_rejected_client(connection, &target, &e).await;
                // A refusal's code is the token endpoint's own text: shown in fixed words, kept
                // as sent (cleaned) only in the audit trail.
                let (message, providers_words) = refusal::token_failure(&e);
                Err(ExchangeFailure { error: Error::Provider { step: "token exchange", message }, providers_words })
            }
        }
    }

    async fn store_tokens(
        &self,
        mut connection: Connection,
        flow: &PendingFlow,
        tokens: TokenSet,
        target: &TokenTarget,
    ) -> Result<CallbackOutcome, Error> {
        let now = self.ports().clock.now();
        let was = connection.status();
        if was == ConnectionStatus::Connected
            && let (Some(held), Some(signed_in)) = (&connection.account, &tokens.account)
            && held != signed_in
        {
            // More scopes for this connection, not another account behind the same ref id.
            self.revoke_unstored(&connection, target, tokens).await;
            return Err(Error::Provider {
                step: "token exchange",
                message: "the user signed in as another account than the connection's; nothing changed".into(),
            });
        }
        let update = self.seal_tokens(&connection, &tokens);
        let scopes = tokens.scopes.clone().unwrap_or_else(|| flow.scopes.clone());
        let more_scopes = scopes.iter().any(|s| !connection.scopes.contains(s))
            && connection.scopes.iter().all(|s| scopes.contains(s));
        let (changed, detail) = match was {
            ConnectionStatus::Connected => {
                (connection.record_refresh(Some(scopes), expiry(now, tokens.expires_in), now), Some("more scopes"))
            }
            _ => (connection.complete_authorization(scopes, expiry(now, tokens.expires_in), now), None),
        };
        changed.map_err(|e| Error::internal(e.to_string()))?;
        connection.grant_account(tokens.account.clone());
        let connected = self.event(&connection, AuditKind::Connected, detail.map(str::to_owned));
        let why = if was == ConnectionStatus::Connected { ReasonCode::ScopesGranted } else { ReasonCode::Authorized };
        let connected = self.announcing_connected(connected, Some(was), why);
        // A step-up replaces a token a refresh may be renewing, here or in another replica: not
        // while one does (its lock, then its lease).
        let lock = self.inner.refresh_locks.lock_for(&connection.ref_id);
        let _renewals = lock.lock().await;
        let leased = was == ConnectionStatus::Connected && self.wait_for_lease(&connection.ref_id).await?;
        let stored = self.store_update(&connection, was, &update, &connected).await;
        if leased {
            self.let_lease_go(&connection.ref_id).await;
        }
        let stored = stored?;
        if stored && more_scopes {
            // Granted what was asked: a later challenge is a new one, not the same one again.
            self.clear_step_ups(&connection.ref_id);
        }
        if !stored {
            // Disconnected (or changed) while the code was exchanged: the tokens are stored nowhere.
            self.revoke_unstored(&connection, target, tokens).await;
            return Err(Error::ConnectionNotFound);
        }
        Ok(CallbackOutcome { connection, return_to: flow.return_to.clone() })
    }

    /// Whether a consent for more scopes was started for `connection` since it last connected: a
    /// flow of a connected connection completes only then (an older flow left behind does not).
    async fn awaits_step_up(&self, connection: &Connection) -> bool {
        let events = match self.ports().audit.events(&connection.owner, &connection.ref_id).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(ref_id = %connection.ref_id, error = %e, "could not read the connection's history");
                return false;
            }
        };
        let last = events.iter().rev().find(|e| matches!(e.kind, AuditKind::StepUp | AuditKind::Connected));
        last.is_some_and(|e| e.kind == AuditKind::StepUp)
    }

    /// Marks a pending connection `failed`; losing a race (it changed meanwhile) is fine.
    async fn fail_connection(&self, connection: &mut Connection, reason: &str, now: Timestamp) {
        self.fail_connection_noting(connection, reason, reason.to_owned(), ReasonCode::AuthorizationFailed, now).await;
    }

    /// [`Self::fail_connection`] with `detail` in the `failed` event instead of the reason: the
    /// provider's own words, which only the audit trail keeps.
    async fn fail_connection_noting(
        &self,
        connection: &mut Connection,
        reason: &str,
        detail: String,
        why: ReasonCode,
        now: Timestamp,
    ) {
        if connection.fail(reason, now).is_err() {
            return;
        }
        let failed = self.event(connection, AuditKind::Failed, Some(detail));
        let (was, failed_now) =
            (Standing::Status(ConnectionStatus::PendingOAuth), Standing::Status(connection.status()));
        let failed = self.announcing(failed, EventType::Failed, Some(was), failed_now, why);
        match self.store_update(connection, ConnectionStatus::PendingOAuth, &SecretsUpdate::ClearTokens, &failed).await
        {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(ref_id = %connection.ref_id, error = %e, "could not mark the connection failed")
            }
        }
    }

    /// Fails the pending connections whose flows outlived their TTL, and those left pending by
    /// a callback that never finished. Returns how many. Expired connect sessions go with them.
    pub async fn sweep_expired_flows(&self) -> Result<usize, Error> {
        let now = self.ports().clock.now();
        self.ports().sessions.delete_expired_sessions(now).await?;
        let flows = self.ports().flows.take_expired_flows(now, 500).await?;
        let mut failed = 0;
        for flow in flows {
            if let Some(mut connection) = self.ports().connections.get_any(&flow.ref_id).await? {
                if connection.status() == ConnectionStatus::PendingOAuth {
                    self.fail_connection(&mut connection, "the authorization was not completed in time", now).await;
                    self.metrics().oauth_flow(FlowEvent::Failed, &connection.owner.tenant);
                    failed += 1;
                }
            }
        }
        Ok(failed + self.fail_orphaned_pending(now).await?)
    }

    /// A callback takes its flow before it exchanges the code, so a process that dies in between
    /// (a crash, a SIGKILL) leaves the connection `pending_oauth` with no flow left to expire it.
    /// A flow must be taken within its TTL and its exchange then gets as long again (far more
    /// than any outbound timeout), so a connection still pending twice the TTL after it began
    /// waiting can no longer complete: it fails as an expired flow would.
    async fn fail_orphaned_pending(&self, now: Timestamp) -> Result<usize, Error> {
        let cutoff = now.plus_seconds(-2 * self.settings().flow_ttl_seconds);
        let mut failed = 0;
        for mut connection in self.ports().connections.pending_before(cutoff).await? {
            self.fail_connection(&mut connection, "the authorization was interrupted and did not complete", now).await;
            self.metrics().oauth_flow(FlowEvent::Failed, &connection.owner.tenant);
            failed += 1;
        }
        Ok(failed)
    }
}

/// What the provider answered: a code to exchange, or its refusal (an empty value is none).
enum Answer<'a> {
    Code(&'a SecretString),
    Refused { error: &'a str, description: Option<&'a str> },
}

impl<'a> Answer<'a> {
    fn of(input: &'a CallbackInput) -> Result<Self, Error> {
        if let Some(error) = input.error.as_deref().filter(|e| !e.is_empty()) {
            return Ok(Self::Refused { error, description: input.error_description.as_deref() });
        }
        match input.code.as_ref().filter(|c| !c.expose_secret().is_empty()) {
            Some(code) => Ok(Self::Code(code)),
            None => Err(Error::InvalidRequest("the callback carries neither `code` nor `error`".into())),
        }
    }
}

/// RFC 9207: `iss` must be present when promised, and must match whenever present.
fn issuer_matches(flow: &PendingFlow, iss: Option<&str>) -> bool {
    match (iss, flow.issuer.as_deref()) {
        (None, _) => !flow.iss_required,
        (Some(got), Some(expected)) => got == expected,
        (Some(_), None) => false,
    }
}

/// Why a code exchange failed, and the token endpoint's own words for the audit trail when it
/// refused.
struct ExchangeFailure {
    error: Error,
    providers_words: Option<String>,
}

impl From<Error> for ExchangeFailure {
    fn from(error: Error) -> Self {
        Self { error, providers_words: None }
    }
}
