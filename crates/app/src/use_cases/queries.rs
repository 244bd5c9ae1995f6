use domain::{Connection, Owner, RefId};
use ports::{AuditEvent, AuditLog};

use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// One connection of `owner`.
    pub async fn get_connection(&self, owner: &Owner, ref_id: &RefId) -> Result<Connection, Error> {
        self.load(owner, ref_id).await
    }

    /// The audit history of a connection of `owner`, oldest first.
    pub async fn connection_events(&self, owner: &Owner, ref_id: &RefId) -> Result<Vec<AuditEvent>, Error> {
        self.load(owner, ref_id).await?;
        Ok(self.ports().audit.events(owner, ref_id).await?)
    }
}
