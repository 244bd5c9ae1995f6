//! Registration that heals itself (issue 18 §2), in `auto` mode: an authorization server that
//! refuses the service's Client ID Metadata Document client (`invalid_client` or
//! `unauthorized_client`, at the authorization request or the token call) gets a dynamically
//! registered client from the next connect on; a registered client the server has forgotten
//! (`invalid_client`) is forgotten too and registered again at the next connect. Neither step
//! happens more than once per issuer within `REGISTRATION_RETRY_SECONDS`, so a server that
//! refuses everything cannot make the service loop: after a fallback the metadata document is
//! tried again once the window has passed, and a second forgotten client within the window is
//! kept (connects fail at the server, visibly) instead of registered anew.
//!
//! What each replica learned is its own (kept in memory, bounded): in a fleet each replica takes
//! at most one refused flow per issuer and window to learn it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use domain::{Connection, Timestamp};
use ports::{AuditKind, Clock, HealingStep, OAuthError, RegistrationStore};

use super::identity::TokenTarget;
use crate::{Deps, Directory};

/// Issuers remembered at once; the oldest is dropped first.
const MAX_ISSUERS: usize = 4096;

/// When each issuer last refused a metadata-document client, and last forgot a registered one.
#[derive(Debug, Default)]
pub(crate) struct Healing {
    cimd_refused: Mutex<HashMap<String, Timestamp>>,
    client_rejected: Mutex<HashMap<String, Timestamp>>,
}

/// Records `issuer` in `seen` at `now` unless it is there within `window` seconds; whether it
/// was recorded (a step may be taken).
fn take_step(seen: &Mutex<HashMap<String, Timestamp>>, issuer: &str, now: Timestamp, window: i64) -> bool {
    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    if seen.get(issuer).is_some_and(|at| at.plus_seconds(window) > now) {
        return false;
    }
    seen.retain(|_, at| at.plus_seconds(window) > now);
    if seen.len() >= MAX_ISSUERS {
        let oldest = seen.iter().min_by_key(|(_, at)| **at).map(|(issuer, _)| issuer.clone());
        if let Some(oldest) = oldest {
            seen.remove(&oldest);
        }
    }
    seen.insert(issuer.to_owned(), now);
    true
}

impl Healing {
    /// `issuer` refused the metadata-document client at `now`. True when this starts a fallback
    /// to dynamic registration (none began within the window).
    pub(crate) fn cimd_refused(&self, issuer: &str, now: Timestamp, window: i64) -> bool {
        take_step(&self.cimd_refused, issuer, now, window)
    }

    /// Whether `auto` skips the metadata document at `issuer` now: it was refused within the window.
    pub(crate) fn avoids_cimd(&self, issuer: &str, now: Timestamp, window: i64) -> bool {
        let refused = self.cimd_refused.lock().unwrap_or_else(PoisonError::into_inner);
        refused.get(issuer).is_some_and(|at| at.plus_seconds(window) > now)
    }

    /// A registered client of `issuer` was rejected at `now`. True when it may be forgotten and
    /// registered again (no other was within the window).
    pub(crate) fn client_rejected(&self, issuer: &str, now: Timestamp, window: i64) -> bool {
        take_step(&self.client_rejected, issuer, now, window)
    }
}

/// The codes that say the authorization server will not have this client.
fn refuses_the_client(code: &str) -> bool {
    matches!(code, "invalid_client" | "unauthorized_client")
}

impl<D: Deps> Directory<D> {
    /// After `connection`'s authorization request came back refused with `code`: when the
    /// client was the service's Client ID Metadata Document and the code refuses the client,
    /// `auto` registers a client at that issuer from the next connect on.
    pub(crate) async fn heal_refused_authorization(&self, connection: &Connection, code: &str) {
        if !refuses_the_client(code) {
            return;
        }
        let binding = match self.ports().registrations.authorization_of(&connection.ref_id).await {
            Ok(Some(binding)) => binding,
            Ok(None) => return,
            Err(e) => return tracing::warn!(ref_id = %connection.ref_id, error = %e, "could not read the binding"),
        };
        if self.settings().is_client_metadata_url(&binding.client_id, &binding.issuer) {
            self.fall_back_to_registration(connection, &binding.issuer, code).await;
        }
    }

    /// After a token call of `connection` to `target` failed with `error`: a registered client
    /// the server no longer knows (`invalid_client`) is forgotten, so the next connect registers
    /// again; a refused metadata-document client makes `auto` register from the next connect on.
    pub(crate) async fn heal_rejected_client(&self, connection: &Connection, target: &TokenTarget, error: &OAuthError) {
        let OAuthError::Rejected { code, .. } = error else { return };
        if let Some((issuer, client_id)) = target.registration.as_ref().filter(|_| code == "invalid_client") {
            self.forget_client(connection, issuer, client_id).await;
        } else if let Some(issuer) = &target.issuer
            && refuses_the_client(code)
            && self.settings().is_client_metadata_url(&target.endpoint.client.client_id, issuer)
        {
            self.fall_back_to_registration(connection, issuer, code).await;
        }
    }

    async fn fall_back_to_registration(&self, connection: &Connection, issuer: &str, code: &str) {
        let (now, window) = (self.ports().clock.now(), self.settings().registration_retry_seconds);
        if !self.healing().cimd_refused(issuer, now, window) {
            return;
        }
        tracing::warn!(%issuer, code, "the authorization server refused the client ID metadata document client; \
            connects in auto mode register a client there instead");
        self.metrics().registration_healing(HealingStep::CimdToDcr);
        let detail = format!(
            "the authorization server refused the service's client ID metadata document client ({code}); connects \
             in auto mode register a client there instead"
        );
        self.audit(connection, AuditKind::RegistrationFallback, Some(detail)).await;
    }

    async fn forget_client(&self, connection: &Connection, issuer: &str, client_id: &str) {
        let (now, window) = (self.ports().clock.now(), self.settings().registration_retry_seconds);
        if !self.healing().client_rejected(issuer, now, window) {
            // Registering again would loop if the server forgets every client it is given.
            tracing::warn!(%issuer, "a registered client was rejected again within REGISTRATION_RETRY_SECONDS; \
                it is kept, not registered anew");
            return;
        }
        if let Err(e) = self.ports().registrations.delete_registration(issuer, client_id).await {
            return tracing::warn!(%issuer, error = %e, "could not forget a rejected client registration");
        }
        tracing::warn!(%issuer, "the authorization server no longer knows our client; it is forgotten");
        self.metrics().registration_healing(HealingStep::RegisteredAgain);
        let detail = "the authorization server no longer knows the registered client (invalid_client); the next \
                      connect registers a new one";
        self.audit(connection, AuditKind::ClientForgotten, Some(detail.to_owned())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: i64 = 600;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(1_800_000_000 + seconds)
    }

    #[test]
    fn a_fallback_happens_once_per_issuer_within_the_window_and_ends_with_it() {
        let healing = Healing::default();
        assert!(!healing.avoids_cimd("https://as.example", at(0), WINDOW));
        assert!(healing.cimd_refused("https://as.example", at(0), WINDOW), "the first refusal starts a fallback");
        assert!(healing.avoids_cimd("https://as.example", at(599), WINDOW));
        assert!(!healing.cimd_refused("https://as.example", at(300), WINDOW), "not again within the window");
        assert!(!healing.avoids_cimd("https://other.example", at(1), WINDOW), "per issuer");
        assert!(!healing.avoids_cimd("https://as.example", at(600), WINDOW), "the document is tried again after it");
        assert!(healing.cimd_refused("https://as.example", at(600), WINDOW));
    }

    #[test]
    fn a_forgotten_client_is_registered_again_at_most_once_per_window() {
        let healing = Healing::default();
        assert!(healing.client_rejected("https://as.example", at(0), WINDOW));
        assert!(!healing.client_rejected("https://as.example", at(10), WINDOW), "a second rejection is kept");
        assert!(healing.client_rejected("https://other.example", at(10), WINDOW));
        assert!(healing.client_rejected("https://as.example", at(WINDOW), WINDOW));
    }

    #[test]
    fn the_memory_is_bounded() {
        let healing = Healing::default();
        for n in 0..(MAX_ISSUERS as i64 + 10) {
            assert!(healing.cimd_refused(&format!("https://as{n}.example"), at(n / 1000), WINDOW));
        }
        assert!(healing.cimd_refused.lock().unwrap().len() <= MAX_ISSUERS);
    }
}
