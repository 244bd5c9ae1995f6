//! [`RekeyStore`] for the in-memory reference store, with its two flaws.

use async_trait::async_trait;
use ports::{RekeyStore, Sealed, SealedEntry, SealedField, StoreError, StoredSecrets};

use super::{Flaw, MemoryStore, State};

fn connection_field(secrets: &mut StoredSecrets, field: SealedField) -> Option<&mut Option<Sealed>> {
    match field {
        SealedField::ConnectionApiKey => Some(&mut secrets.api_key),
        SealedField::ConnectionAccessToken => Some(&mut secrets.access_token),
        SealedField::ConnectionRefreshToken => Some(&mut secrets.refresh_token),
        SealedField::FlowPkceVerifier
        | SealedField::RegistrationClientSecret
        | SealedField::BindingClientSecret
        | SealedField::BindingIdpClientSecret
        | SealedField::WebhookSecret
        | SealedField::WebhookPreviousSecret => None,
    }
}

/// The sealed value of a binding's `field` (a given client's secret, an identity provider's).
fn binding_secret(binding: &mut ports::DiscoveredAuthorization, field: SealedField) -> Option<&mut Sealed> {
    match field {
        SealedField::BindingClientSecret => binding.own_client.as_mut().map(|own| &mut own.sealed),
        SealedField::BindingIdpClientSecret => binding.identity_provider.as_mut()?.client_secret.as_mut(),
        _ => None,
    }
}

/// Where an endpoint holds `field`, if it is one of an endpoint's secrets.
fn webhook_secret(field: SealedField) -> Option<fn(&mut ports::Webhook) -> Option<&mut Sealed>> {
    match field {
        SealedField::WebhookSecret => Some(|w| Some(&mut w.secret)),
        SealedField::WebhookPreviousSecret => Some(|w| w.previous_secret.as_mut().map(|(sealed, _)| sealed)),
        _ => None,
    }
}

/// Every value of `field`, ordered by key.
fn all_of(state: &mut State, field: SealedField) -> Vec<SealedEntry> {
    if field == SealedField::FlowPkceVerifier {
        return state
            .flows
            .values()
            .map(|f| SealedEntry { key: f.state_hash.clone(), sealed: f.pkce_verifier.clone() })
            .collect();
    }
    if field == SealedField::RegistrationClientSecret {
        return state
            .registrations
            .iter()
            .filter_map(|(key, r)| Some(SealedEntry { key: key.clone(), sealed: r.client_secret.clone()? }))
            .collect();
    }
    if let Some(secret) = webhook_secret(field) {
        return state
            .outbox
            .webhooks
            .values_mut()
            .filter_map(|w| Some(SealedEntry { key: w.id.as_str().to_owned(), sealed: secret(w)?.clone() }))
            .collect();
    }
    if matches!(field, SealedField::BindingClientSecret | SealedField::BindingIdpClientSecret) {
        let State { connections, bindings, .. } = state;
        return bindings
            .iter_mut()
            .filter(|(ref_id, _)| connections.contains_key(ref_id))
            .filter_map(|(ref_id, b)| {
                Some(SealedEntry { key: ref_id.as_str().to_owned(), sealed: binding_secret(b, field)?.clone() })
            })
            .collect();
    }
    state
        .connections
        .iter_mut()
        .filter_map(|(ref_id, (_, secrets))| {
            let value = connection_field(secrets, field)?.clone()?;
            Some(SealedEntry { key: ref_id.as_str().to_owned(), sealed: value })
        })
        .collect()
}

#[async_trait]
impl RekeyStore for MemoryStore {
    async fn sealed_after(
        &self,
        field: SealedField,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedEntry>, StoreError> {
        let revisit = self.has(Flaw::RevisitsTheCursor);
        let after = after.unwrap_or_default();
        let mut entries = all_of(&mut self.state(), field);
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries
            .into_iter()
            .filter(|e| e.key.as_str() > after || (revisit && e.key == after))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect())
    }

    async fn replace_sealed(
        &self,
        field: SealedField,
        key: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let blind = self.has(Flaw::SwapsWithoutComparing);
        let mut state = self.state();
        let slot = if let Some(secret) = webhook_secret(field) {
            state.outbox.webhooks.values_mut().find(|w| w.id.as_str() == key).and_then(secret)
        } else if field == SealedField::FlowPkceVerifier {
            state.flows.get_mut(key).map(|f| &mut f.pkce_verifier)
        } else if field == SealedField::RegistrationClientSecret {
            state.registrations.get_mut(key).and_then(|r| r.client_secret.as_mut())
        } else if matches!(field, SealedField::BindingClientSecret | SealedField::BindingIdpClientSecret) {
            let State { connections, bindings, .. } = &mut *state;
            let live = |ref_id: &domain::RefId| ref_id.as_str() == key && connections.contains_key(ref_id);
            bindings.iter_mut().find(|(ref_id, _)| live(ref_id)).and_then(|(_, b)| binding_secret(b, field))
        } else {
            let connection = state.connections.iter_mut().find(|(ref_id, _)| ref_id.as_str() == key);
            match connection.and_then(|(_, (_, secrets))| connection_field(secrets, field)) {
                Some(Some(value)) => Some(value),
                _ => None,
            }
        };
        match slot {
            Some(value) if blind || value == old => {
                *value = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
