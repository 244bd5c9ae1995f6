//! One module per use case. Each is a method on [`crate::Directory`].

pub(crate) mod callback;
pub(crate) mod connect;
pub(crate) mod credentials;
pub(crate) mod disconnect;
mod discover;
pub(crate) mod identity;
pub(crate) mod listing;
mod queries;

use domain::{Connection, RefId};
use ports::{AuditEvent, AuditKind, AuditLog, Clock, ConnectionStore};

use crate::{Deps, Directory, Error};

/// Associated data that binds a sealed secret to the row and field that own it.
pub(crate) fn connection_aad(ref_id: &RefId, field: &str) -> String {
    format!("connections/{ref_id}/{field}")
}

impl<D: Deps> Directory<D> {
    /// Appends to the audit log. A failure is logged, never fatal: the change it describes
    /// has already been stored.
    pub(crate) async fn audit(&self, connection: &Connection, kind: AuditKind, detail: Option<String>) {
        let event = AuditEvent {
            ref_id: connection.ref_id.clone(),
            server_name: connection.server_name.clone(),
            kind,
            detail,
            at: self.ports().clock.now(),
        };
        if let Err(e) = self.ports().audit.record(&event).await {
            tracing::warn!(ref_id = %connection.ref_id, kind = kind.as_str(), error = %e, "audit event not recorded");
        }
    }

    pub(crate) async fn load(&self, ref_id: &RefId) -> Result<Connection, Error> {
        self.ports().connections.get(ref_id).await?.ok_or(Error::ConnectionNotFound)
    }
}

#[cfg(test)]
mod sweep_tests;
#[cfg(test)]
mod tests;
