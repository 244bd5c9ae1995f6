//! [`RegistrationStore`] for the in-memory reference store. A binding is kept only while its
//! connection exists, which is what the stores' `ON DELETE CASCADE` gives.

use async_trait::async_trait;
use domain::RefId;
use ports::{ClientRegistration, DiscoveredAuthorization, RegistrationStore, StoreError};

use super::MemoryStore;

/// A registration's key, as the stores' generated `registration_key` column spells it.
pub(super) fn key(issuer: &str, client_id: &str) -> String {
    format!("{issuer} {client_id}")
}

#[async_trait]
impl RegistrationStore for MemoryStore {
    async fn add_registration(&self, registration: &ClientRegistration) -> Result<ClientRegistration, StoreError> {
        let mut state = self.state();
        let same_uri =
            |r: &&ClientRegistration| r.issuer == registration.issuer && r.redirect_uri == registration.redirect_uri;
        if let Some(stored) = state.registrations.values().find(same_uri) {
            return Ok(stored.clone());
        }
        state
            .registrations
            .entry(key(&registration.issuer, &registration.client_id))
            .or_insert_with(|| registration.clone());
        Ok(registration.clone())
    }

    async fn registration(&self, issuer: &str, redirect_uri: &str) -> Result<Option<ClientRegistration>, StoreError> {
        let state = self.state();
        Ok(state.registrations.values().find(|r| r.issuer == issuer && r.redirect_uri == redirect_uri).cloned())
    }

    async fn client_registration(
        &self,
        issuer: &str,
        client_id: &str,
    ) -> Result<Option<ClientRegistration>, StoreError> {
        Ok(self.state().registrations.get(&key(issuer, client_id)).cloned())
    }

    async fn delete_registration(&self, issuer: &str, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.state().registrations.remove(&key(issuer, client_id)).is_some())
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
