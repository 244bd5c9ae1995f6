//! One module per use case. Each is a method on [`crate::Directory`].

pub(crate) mod callback;
mod connect;
pub(crate) mod credential_cache;
pub(crate) mod credentials;
pub(crate) mod disconnect;
mod discover;
pub(crate) mod flow_parts;
pub(crate) mod healing;
pub(crate) mod identity;
pub(crate) mod identity_assertion;
pub(crate) mod listing;
pub(crate) mod own_client;
pub(crate) mod proxy;
pub(crate) mod proxy_token;
mod queries;
pub(crate) mod sessions;
mod without_browser;

use domain::{Connection, ConnectionStatus, Owner, RefId};
use ports::{AuditEvent, AuditKind, AuditLog, Clock, ConnectionStore, SecretsUpdate, StoreError, StoredSecrets};

use crate::{Deps, Directory, Error};

// The associated data that binds each sealed secret to the row and field that own it. Stored
// ciphertexts open only under these exact strings: changing one makes existing secrets unreadable.

/// Associated data of a connection's sealed `field` (a token or an API key).
pub(crate) fn connection_aad(ref_id: &RefId, field: &str) -> String {
    format!("connections/{ref_id}/{field}")
}

/// Associated data of a flow's sealed PKCE verifier.
pub(crate) fn flow_aad(state_hash: &str) -> String {
    format!("flows/{state_hash}/pkce_verifier")
}

/// Associated data of the sealed secret or private key of a custom server's own client, kept
/// with the connection's authorization server binding.
pub(crate) fn binding_aad(ref_id: &RefId) -> String {
    format!("authorizations/{ref_id}/client_secret")
}

/// Associated data of the sealed secret the service holds at an identity provider given with a
/// connect (the identity assertion grant).
pub(crate) fn idp_aad(ref_id: &RefId) -> String {
    format!("authorizations/{ref_id}/idp_client_secret")
}

/// Associated data of a registration's sealed client secret.
pub(crate) fn registration_aad(issuer: &str) -> String {
    format!("registrations/{issuer}/client_secret")
}

/// Whether `value` is an absolute http(s) URL with a host, of a length a URL has: what an issuer or
/// endpoint a caller gives must be.
pub(crate) fn is_http_url(value: &str) -> bool {
    value.len() <= 2048 && url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
}

impl<D: Deps> Directory<D> {
    /// An audit event about `connection`, happening now; a store write records it with the
    /// change it describes.
    pub(crate) fn event(&self, connection: &Connection, kind: AuditKind, detail: Option<String>) -> AuditEvent {
        AuditEvent {
            ref_id: connection.ref_id.clone(),
            owner: connection.owner.clone(),
            server_name: connection.server_name.clone(),
            kind,
            detail,
            at: self.ports().clock.now(),
            notice: None,
        }
    }

    /// The events of a connection that is usable from its start (announced `connected`).
    pub(crate) fn created_connected(&self, connection: &Connection) -> [AuditEvent; 2] {
        let connected = self.event(connection, AuditKind::Connected, None);
        [
            self.event(connection, AuditKind::Created, None),
            self.announcing_connected(connected, None, domain::ReasonCode::Provisioned),
        ]
    }

    /// Appends an event that goes with no change of a stored row (an outcome at the provider).
    /// A failure is logged, never fatal: what it describes has happened already.
    pub(crate) async fn audit(&self, connection: &Connection, kind: AuditKind, detail: Option<String>) {
        let event = self.event(connection, kind, detail);
        if let Err(e) = self.ports().audit.record(&event).await {
            tracing::warn!(ref_id = %connection.ref_id, kind = kind.as_str(), error = %e, "audit event not recorded");
        }
    }

    /// The connection `ref_id` of `owner`; another owner's is as missing as one never made.
    pub(crate) async fn load(&self, owner: &Owner, ref_id: &RefId) -> Result<Connection, Error> {
        self.ports().connections.get(owner, ref_id).await?.ok_or(Error::ConnectionNotFound)
    }

    /// Writes a change of a stored connection with its event ([`ConnectionStore::update`]). Every
    /// such write goes through here (or [`Directory::store_delete`]), so this replica's proxy
    /// keeps no credential from before it (`credential_cache`); forgotten whatever the outcome,
    /// even when the caller is cancelled during the write, since a write that errs or is
    /// abandoned may have been committed all the same.
    pub(crate) async fn store_update(
        &self,
        connection: &Connection,
        expected: ConnectionStatus,
        secrets: &SecretsUpdate,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let _forget = self.forgetting_credential(&connection.ref_id);
        self.ports().connections.update(connection, expected, secrets, event).await
    }

    /// Deletes a stored connection with its event ([`ConnectionStore::delete`]), forgetting this
    /// replica's proxy credential of it as [`Directory::store_update`] does.
    pub(crate) async fn store_delete(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        event: &AuditEvent,
    ) -> Result<Option<StoredSecrets>, StoreError> {
        let _forget = self.forgetting_credential(ref_id);
        self.ports().connections.delete(owner, ref_id, event).await
    }

    /// The connection `ref_id` whoever owns it: for background work (the refresher) only.
    pub(crate) async fn load_any(&self, ref_id: &RefId) -> Result<Connection, Error> {
        self.ports().connections.get_any(ref_id).await?.ok_or(Error::ConnectionNotFound)
    }
}

#[cfg(test)]
mod owner_tests;
#[cfg(test)]
mod sessions_tests;
#[cfg(test)]
mod sweep_tests;
#[cfg(test)]
mod tests;
