//! [`RegistrationStore`] for the in-memory reference store. A binding is kept only while its
//! connection exists, which is what the stores' `ON DELETE CASCADE` gives.

use async_trait::async_trait;
use domain::{RefId, Timestamp};
use ports::{ClientRegistration, DiscoveredAuthorization, RegistrationStore, StoreError};

use super::{MemoryStore, State};

/// A registration's key, as the stores' generated `registration_key` column spells it.
pub(super) fn key(issuer: &str, client_id: &str) -> String {
    format!("{issuer} {client_id}")
}

/// The registration new flows at `issuer` coming back at `redirect_uri` use: not retired.
fn in_use(state: &State, issuer: &str, redirect_uri: &str) -> Option<ClientRegistration> {
    let found = state
        .registrations
        .iter()
        .find(|(k, r)| r.issuer == issuer && r.redirect_uri == redirect_uri && !state.retired.contains(*k));
    found.map(|(_, r)| r.clone())
}

#[async_trait]
impl RegistrationStore for MemoryStore {
    async fn add_registration(&self, registration: &ClientRegistration) -> Result<ClientRegistration, StoreError> {
        let mut state = self.state();
        if let Some(in_use) = in_use(&state, &registration.issuer, &registration.redirect_uri) {
            return Ok(in_use);
        }
        // A client id handed out again is that client, now for this redirect URI.
        let key = key(&registration.issuer, &registration.client_id);
        state.retired.remove(&key);
        state.registrations.insert(key, registration.clone());
        Ok(registration.clone())
    }

    async fn registration(&self, issuer: &str, redirect_uri: &str) -> Result<Option<ClientRegistration>, StoreError> {
        Ok(in_use(&self.state(), issuer, redirect_uri))
    }

    async fn client_registration(
        &self,
        issuer: &str,
        client_id: &str,
    ) -> Result<Option<ClientRegistration>, StoreError> {
        Ok(self.state().registrations.get(&key(issuer, client_id)).cloned())
    }

    async fn retire_registration(&self, issuer: &str, client_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = key(issuer, client_id);
        let retired = state.registrations.contains_key(&key) && state.retired.insert(key);
        let dead: Vec<String> = state
            .registrations
            .iter()
            .filter(|(k, r)| r.issuer == issuer && state.retired.contains(*k))
            .filter(|(_, r)| r.secret_expires_at.is_some_and(|at| at < now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in dead {
            state.registrations.remove(&k);
            state.retired.remove(&k);
        }
        Ok(retired)
    }

    async fn delete_registration(&self, issuer: &str, client_id: &str) -> Result<bool, StoreError> {
        let mut state = self.state();
        state.retired.remove(&key(issuer, client_id));
        Ok(state.registrations.remove(&key(issuer, client_id)).is_some())
    }

    async fn bind_authorization(&self, binding: &DiscoveredAuthorization) -> Result<(), StoreError> {
        let mut state = self.state();
        if !state.connections.contains_key(&binding.ref_id) {
            return Err(StoreError::Internal("no such connection".into()));
        }
        state.bindings.insert(binding.ref_id.clone(), binding.clone());
        Ok(())
    }

    async fn authorization_of(&self, ref_id: &RefId) -> Result<Option<DiscoveredAuthorization>, StoreError> {
        let state = self.state();
        Ok(state.bindings.get(ref_id).filter(|_| state.connections.contains_key(ref_id)).cloned())
    }
}
