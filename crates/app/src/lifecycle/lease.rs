//! One refresh at a time per token, across replicas: the in-process lock, then the database
//! lease, then the refresh, then the release that records the backoff. The provider call itself
//! goes through the authorization server's circuit breaker.

use std::time::Duration;

use domain::{Owner, RefId};
use ports::{
    BreakerState, Clock, ConnectionStore, Lease, OAuthClient, OAuthError, RefreshEvent, RefreshQueue, RetryState,
    Sealed, TokenEndpoint, TokenSet,
};
use secrecy::SecretString;

/// How a token is renewed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Renewal<'a> {
    /// With the refresh token of the grant.
    RefreshToken(&'a SecretString),
    /// By making the client credentials grant again, for these scopes (issue 18 §3).
    ClientCredentials(&'a domain::Scopes),
    /// By presenting an ID-JAG, which the user's ID token got at their identity provider, for
    /// these scopes (issue 18 §4; `Directory::id_jag` makes it).
    JwtBearer(&'a SecretString, &'a domain::Scopes),
}

impl Renewal<'_> {
    /// Whether the token's life is the only one the service has (no refresh token): an answer
    /// that states none counts as [`crate::use_cases::flow_parts::UNSTATED_LIFETIME_SECONDS`].
    pub(crate) fn renews_alone(&self) -> bool {
        !matches!(self, Self::RefreshToken(_))
    }
}

use super::backoff;
use super::breaker::Admission;
use crate::use_cases::credentials::ensure_usable;
use crate::{Deps, Directory, Error, RefreshOutcome};

/// Who asks for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A credentials call: waits (a bounded time) for another replica that holds the lease.
    OnDemand,
    /// The scheduler, on a connection it claimed: never waits. A lease another replica took
    /// over means that replica does the work.
    Scheduled,
}

/// How an attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    Done(RefreshOutcome),
    /// Another replica holds the lease.
    Busy,
}

enum Leased {
    Held(Lease),
    /// Another replica refreshed the token while this caller waited.
    Fresh,
    Busy,
}

/// The margin of a refresh after a refusal: a token that lives less than this (ten years) is
/// renewed, so the refresh happens however fresh the refused token looked.
const REFUSED_MARGIN: i64 = 10 * 365 * 24 * 3600;

/// The token an MCP server refused and whose it is, when a refresh is for that (a `401` at the
/// proxy): of callers refused together, only the first refreshes.
type Refused<'a> = Option<(&'a Owner, Option<&'a Sealed>)>;

/// How often a waiting credentials call looks whether the holder has finished.
const POLL: Duration = Duration::from_millis(100);

/// The end of the message of a refresh the breaker refused (see [`is_breaker_skip`]).
const BREAKER_OPEN: &str = "its circuit breaker is open after repeated failures, so it was not called";

/// Whether a refresh failed because the authorization server's breaker refused the call.
pub(crate) fn is_breaker_skip(error: &Error) -> bool {
    matches!(error, Error::Provider { message, .. } if message.ends_with(BREAKER_OPEN))
}

/// Whether the call was refused by the authorization server's breaker (not made at all).
pub(crate) fn is_breaker_refusal(error: &OAuthError) -> bool {
    matches!(error, OAuthError::Unavailable(message) if message == BREAKER_OPEN)
}

/// Whether an answer (or its absence) says the authorization server is not working.
fn server_failed<T>(result: &Result<T, OAuthError>) -> bool {
    matches!(result, Err(e) if e.is_transient() || matches!(e, OAuthError::InvalidResponse(_)))
}

impl<D: Deps> Directory<D> {
    /// Refreshes a connection's token unless it is fresher than `margin` seconds by the time this
    /// caller holds the connection's refresh lease (spec §7). A refresh another replica is doing
    /// is waited for, not repeated; if it takes too long, this answers a provider error.
    pub async fn refresh(&self, ref_id: &RefId, margin: i64) -> Result<RefreshOutcome, Error> {
        match self.refresh_with(ref_id, margin, Mode::OnDemand).await? {
            Attempt::Done(outcome) => Ok(outcome),
            Attempt::Busy => Err(Error::Provider {
                step: "token refresh",
                message: "another replica is still refreshing this token".into(),
            }),
        }
    }

    /// After an MCP server refused the access token `refused` (a `401` at the proxy): refreshes,
    /// however fresh the token looks, unless another caller has replaced it by the time this one
    /// holds the lock, so callers refused together cause one refresh.
    pub(crate) async fn refresh_rejected(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        refused: Option<&Sealed>,
    ) -> Result<RefreshOutcome, Error> {
        let replaced = Some((owner, refused));
        match self.refresh_under_lock(ref_id, REFUSED_MARGIN, Mode::OnDemand, replaced).await? {
            Attempt::Done(outcome) => Ok(outcome),
            Attempt::Busy => Err(Error::Provider {
                step: "token refresh",
                message: "another replica is still refreshing this token".into(),
            }),
        }
    }

    /// The in-process lock, then [`Directory::refresh_leased`]; reports the outcome.
    pub(crate) async fn refresh_with(&self, ref_id: &RefId, margin: i64, mode: Mode) -> Result<Attempt, Error> {
        self.refresh_under_lock(ref_id, margin, mode, None).await
    }

    /// [`Directory::refresh_with`]; with `refused`, first whether the stored token is still the
    /// one an MCP server refused (otherwise it is fresh already). Runs to its end on its own task:
    /// a caller that goes away must not drop a refresh between the provider's answer and the
    /// store (a rotated refresh token would be lost with the grant).
    async fn refresh_under_lock(
        &self,
        ref_id: &RefId,
        margin: i64,
        mode: Mode,
        refused: Refused<'_>,
    ) -> Result<Attempt, Error> {
        let (ref_id, refused) = (ref_id.clone(), refused.map(|(o, s)| (o.clone(), s.cloned())));
        self.to_completion(move |dir| async move {
            let refused = refused.as_ref().map(|(o, s)| (o, s.as_ref()));
            dir.refresh_attempt(&ref_id, margin, mode, refused).await
        })
        .await
    }

    async fn refresh_attempt(
        &self,
        ref_id: &RefId,
        margin: i64,
        mode: Mode,
        refused: Refused<'_>,
    ) -> Result<Attempt, Error> {
        let lock = self.inner.refresh_locks.lock_for(ref_id);
        let attempt = {
            let _guard = lock.lock().await;
            match refused {
                Some((owner, refused)) if self.replaced_since(owner, ref_id, refused).await? => {
                    Ok(Attempt::Done(RefreshOutcome::AlreadyFresh))
                }
                _ => self.refresh_leased(ref_id, margin, mode, refused).await,
            }
        };
        drop(lock);
        self.inner.refresh_locks.forget_idle();
        let event = match &attempt {
            Ok(Attempt::Done(RefreshOutcome::Refreshed)) => Some(RefreshEvent::Refreshed),
            Ok(Attempt::Done(RefreshOutcome::AlreadyFresh)) => Some(RefreshEvent::AlreadyFresh),
            Ok(Attempt::Done(RefreshOutcome::Expired)) => Some(RefreshEvent::Expired),
            Err(e) if is_breaker_skip(e) => Some(RefreshEvent::Skipped),
            Err(Error::Provider { .. }) => Some(RefreshEvent::Failed),
            // Busy elsewhere, gone, not ready, or the database is down: the provider was never asked.
            Ok(Attempt::Busy) | Err(_) => None,
        };
        if let Some(event) = event {
            self.metrics().refresh(event);
        }
        attempt
    }

    async fn refresh_leased(
        &self,
        ref_id: &RefId,
        margin: i64,
        mode: Mode,
        refused: Refused<'_>,
    ) -> Result<Attempt, Error> {
        let lease = match self.take_lease(ref_id, margin, mode).await? {
            Leased::Held(lease) => lease,
            Leased::Fresh => return Ok(Attempt::Done(RefreshOutcome::AlreadyFresh)),
            Leased::Busy => return Ok(Attempt::Busy),
        };
        // A refused token another replica replaced while this one waited for the lease is fresh.
        let replaced = match refused {
            Some((owner, refused)) => self.replaced_since(owner, ref_id, refused).await,
            None => Ok(false),
        };
        let outcome = match replaced {
            Ok(true) => Ok(RefreshOutcome::AlreadyFresh),
            Err(e) => Err(e),
            Ok(false) if mode == Mode::Scheduled && !self.stale_or_expiring(ref_id, margin).await? => {
                Ok(RefreshOutcome::AlreadyFresh)
            }
            Ok(false) => self.refresh_locked(ref_id, margin, lease.failures).await,
        };
        let retry = self.retry_state(ref_id, &outcome, lease.failures).await;
        let owner = &self.inner.lifecycle.owner;
        if let Err(e) = self.ports().leases.release(ref_id, owner, retry).await {
            // The lease lapses by itself; only the backoff is lost.
            tracing::warn!(%ref_id, error = %e, "could not release a refresh lease");
        }
        outcome.map(Attempt::Done)
    }

    /// Whether the access token stored now is another than `refused`.
    async fn replaced_since(&self, owner: &Owner, ref_id: &RefId, refused: Option<&Sealed>) -> Result<bool, Error> {
        let stored = self.ports().connections.secrets(owner, ref_id).await?.ok_or(Error::ConnectionNotFound)?;
        Ok(stored.access_token.as_ref() != refused)
    }

    /// Takes the connection's lease; an on-demand caller waits while another replica holds it.
    async fn take_lease(&self, ref_id: &RefId, margin: i64, mode: Mode) -> Result<Leased, Error> {
        let settings = &self.settings().refresh;
        let give_up = tokio::time::Instant::now() + settings.lease_wait;
        loop {
            let now = self.ports().clock.now();
            let until = now.plus_seconds(settings.lease_seconds);
            let owner = &self.inner.lifecycle.owner;
            if let Some(lease) = self.ports().leases.try_lease(ref_id, owner, now, until).await? {
                return Ok(Leased::Held(lease));
            }
            if mode == Mode::Scheduled {
                return Ok(Leased::Busy);
            }
            let connection = self.load_any(ref_id).await?;
            ensure_usable(&connection)?;
            if connection.expires_at.is_some_and(|at| now.plus_seconds(margin) < at) {
                return Ok(Leased::Fresh);
            }
            if tokio::time::Instant::now() >= give_up {
                return Ok(Leased::Busy);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Takes `ref_id`'s refresh lease, waiting (up to the refresh's own bound) while another
    /// replica holds it; `false` when it is still held elsewhere then. For a change of the tokens
    /// that must not race a refresh (a step-up's); give it back with [`Directory::let_lease_go`].
    pub(crate) async fn wait_for_lease(&self, ref_id: &RefId) -> Result<bool, Error> {
        let settings = &self.settings().refresh;
        let give_up = tokio::time::Instant::now() + settings.lease_wait;
        loop {
            let now = self.ports().clock.now();
            let until = now.plus_seconds(settings.lease_seconds);
            if self.ports().leases.try_lease(ref_id, &self.inner.lifecycle.owner, now, until).await?.is_some() {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= give_up {
                tracing::warn!(%ref_id, "a refresh elsewhere still holds the lease; going on without it");
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Gives back a lease [`Directory::wait_for_lease`] took (a lapse does it too, later).
    pub(crate) async fn let_lease_go(&self, ref_id: &RefId) {
        let owner = &self.inner.lifecycle.owner;
        if let Err(e) = self.ports().leases.release(ref_id, owner, RetryState::CLEAR).await {
            tracing::warn!(%ref_id, error = %e, "could not release a refresh lease");
        }
    }

    /// Renews this replica's lease of `ref_id` for another lease period; `false` when it lapsed
    /// and another replica holds it now (then this one must not use the refresh token).
    pub(crate) async fn confirm_lease(&self, ref_id: &RefId) -> Result<bool, Error> {
        let now = self.ports().clock.now();
        let until = now.plus_seconds(self.settings().refresh.lease_seconds);
        Ok(self.ports().leases.try_lease(ref_id, &self.inner.lifecycle.owner, now, until).await?.is_some())
    }

    /// Whether a claimed token still needs refreshing: another replica may have refreshed it
    /// between the claim and now. (Expiring tokens are checked again by the refresh itself.)
    async fn stale_or_expiring(&self, ref_id: &RefId, margin: i64) -> Result<bool, Error> {
        let connection = self.load_any(ref_id).await?;
        let now = self.ports().clock.now();
        Ok(match connection.expires_at {
            Some(at) => at <= now.plus_seconds(margin),
            None => connection.updated_at <= now.plus_seconds(-self.settings().refresh.stale_after_seconds),
        })
    }

    /// What the release records: a success clears the failures; a failure backs off.
    async fn retry_state(&self, ref_id: &RefId, outcome: &Result<RefreshOutcome, Error>, failures: u32) -> RetryState {
        let settings = &self.settings().refresh;
        let now = self.ports().clock.now();
        let after = |seconds: i64| Some(now.plus_seconds(seconds));
        match outcome {
            Ok(RefreshOutcome::Refreshed) => {
                // A token that lives less than twice the window would be due again at once: wait
                // half its life first.
                let expires_at = self.load_any(ref_id).await.ok().and_then(|c| c.expires_at);
                let life = expires_at.map(|at| now.seconds_until(at));
                match life {
                    Some(life) if life < 2 * settings.ahead_seconds => {
                        RetryState { failures: 0, next_attempt_at: after((life / 2).max(1)) }
                    }
                    _ => RetryState::CLEAR,
                }
            }
            Ok(_) | Err(Error::ConnectionNotFound | Error::NotReady(_) | Error::TokenExpired) => RetryState::CLEAR,
            Err(e) if is_breaker_skip(e) => {
                let cooldown = settings.breaker_cooldown_seconds;
                let wait = backoff::delay_seconds(1, cooldown, cooldown, backoff::jitter());
                RetryState { failures, next_attempt_at: after(wait) }
            }
            Err(e) => {
                // Only a failure at the provider counts (what `refresh_failing` announces); the
                // service's own (its database down) backs off as much, without counting.
                let failures = match e {
                    Error::Provider { .. } => failures.saturating_add(1),
                    _ => failures,
                };
                let wait = backoff::delay_seconds(
                    failures.max(1),
                    settings.backoff_base_seconds,
                    settings.backoff_max_seconds,
                    backoff::jitter(),
                );
                RetryState { failures, next_attempt_at: after(wait) }
            }
        }
    }

    /// A refresh call at the authorization server, through its circuit breaker (keyed by the
    /// token endpoint, which belongs to exactly one authorization server).
    pub(crate) async fn refresh_at_provider(
        &self,
        endpoint: &TokenEndpoint,
        renewal: Renewal<'_>,
        resource: Option<String>,
    ) -> Result<TokenSet, OAuthError> {
        let oauth = &self.ports().oauth;
        let call = async {
            match renewal {
                Renewal::RefreshToken(token) => oauth.refresh(endpoint, token, resource).await,
                Renewal::ClientCredentials(scopes) => oauth.client_credentials(endpoint, scopes, resource).await,
                Renewal::JwtBearer(jag, scopes) => oauth.jwt_bearer(endpoint, jag, scopes, resource).await,
            }
        };
        self.through_breaker(&endpoint.url, call).await
    }

    /// `call` to the server at `server` (a token endpoint: one authorization server, or an
    /// identity provider), through that server's circuit breaker.
    pub(crate) async fn through_breaker<T>(
        &self,
        server: &str,
        call: impl Future<Output = Result<T, OAuthError>>,
    ) -> Result<T, OAuthError> {
        let breakers = &self.inner.lifecycle.breakers;
        match breakers.admit(server, self.ports().clock.now()) {
            Admission::Refused => return Err(OAuthError::Unavailable(BREAKER_OPEN.to_owned())),
            Admission::Go(Some(state)) => self.breaker_changed(server, state),
            Admission::Go(None) => {}
        }
        let result = call.await;
        if let Some(state) = breakers.record(server, self.ports().clock.now(), server_failed(&result)) {
            self.breaker_changed(server, state);
        }
        result
    }

    fn breaker_changed(&self, server: &str, state: BreakerState) {
        match state {
            BreakerState::Open => tracing::warn!(server, "circuit breaker open: refreshes at this server pause"),
            BreakerState::HalfOpen => tracing::info!(server, "circuit breaker half-open: one trial refresh"),
            BreakerState::Closed => tracing::info!(server, "circuit breaker closed: the server answers again"),
        }
        self.metrics().circuit_breaker(server, state);
    }
}
