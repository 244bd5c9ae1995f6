use domain::{Connection, RefId};
use ports::{AuditEvent, AuditLog};

use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
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
