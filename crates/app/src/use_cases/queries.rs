use domain::{Connection, RefId};
use ports::{AuditEvent, AuditLog, ConnectionStore};

use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// The user's connections, oldest first. Never carries a secret.
    pub async fn list_connections(&self) -> Result<Vec<Connection>, Error> {
        Ok(self.ports().connections.list().await?)
    }

    /// One connection.
    pub async fn get_connection(&self, ref_id: &RefId) -> Result<Connection, Error> {
        self.load(ref_id).await
    }

    /// A connection's audit history, oldest first.
    pub async fn connection_events(&self, ref_id: &RefId) -> Result<Vec<AuditEvent>, Error> {
        self.load(ref_id).await?;
        Ok(self.ports().audit.events(ref_id).await?)
    }
}
