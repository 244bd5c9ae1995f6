//! [`ConnectSessionStore`] for the in-memory reference store.

use async_trait::async_trait;
use domain::{ConnectSession, Owner, Timestamp};
use ports::{ConnectSessionStore, StoreError};

use super::{Flaw, MemoryStore};

#[async_trait]
impl ConnectSessionStore for MemoryStore {
    async fn add_session(&self, session: &ConnectSession) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.sessions.contains_key(&session.token_hash) {
            return Err(StoreError::Conflict("connect_sessions.token_hash".into()));
        }
        state.sessions.insert(session.token_hash.clone(), session.clone());
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<ConnectSession>, StoreError> {
        Ok(self.state().sessions.get(token_hash).cloned())
    }

    async fn delete_sessions_of(&self, owner: &Owner) -> Result<u64, StoreError> {
        let mut state = self.state();
        let before = state.sessions.len();
        state.sessions.retain(|_, s| s.owner != *owner);
        Ok((before - state.sessions.len()) as u64)
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let sweeps_all = self.has(Flaw::SweepsOpenSessions);
        let mut state = self.state();
        let before = state.sessions.len();
        state.sessions.retain(|_, s| !sweeps_all && s.expires_at >= now);
        Ok((before - state.sessions.len()) as u64)
    }
}
