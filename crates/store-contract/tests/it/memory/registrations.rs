//! [`RegistrationStore`] for the in-memory reference store. A binding is kept only while its
//! connection exists, which is what the stores' `ON DELETE CASCADE` gives.

use async_trait::async_trait;
use domain::RefId;
use ports::{ClientRegistration, DiscoveredAuthorization, RegistrationStore, StoreError};

use super::MemoryStore;

#[async_trait]
impl RegistrationStore for MemoryStore {
    async fn add_registration(&self, registration: &ClientRegistration) -> Result<ClientRegistration, StoreError> {
        let mut state = self.state();
        let stored = state.registrations.entry(registration.issuer.clone()).or_insert_with(|| registration.clone());
        Ok(stored.clone())
    }

    async fn registration(&self, issuer: &str) -> Result<Option<ClientRegistration>, StoreError> {
        Ok(self.state().registrations.get(issuer).cloned())
    }

    async fn delete_registration(&self, issuer: &str, client_id: &str) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.registrations.get(issuer).is_some_and(|r| r.client_id == client_id) {
            state.registrations.remove(issuer);
            return Ok(true);
        }
        Ok(false)
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
