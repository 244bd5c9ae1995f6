use domain::{Connection, Owner, RefId, UserId};
use ports::{AuditEvent, AuditLog, ConnectionStore, UserQuery, UserSummary};

use crate::{Deps, Directory, Error};

impl<D: Deps> Directory<D> {
    /// One connection of `owner`.
    pub async fn get_connection(&self, owner: &Owner, ref_id: &RefId) -> Result<Connection, Error> {
        self.load(owner, ref_id).await
    }

    /// One page of the users of `query.tenant` who have a connection, with their connections
    /// by status, and the user the next page starts after (`None` on the last page).
    pub async fn list_users(&self, query: &UserQuery) -> Result<(Vec<UserSummary>, Option<UserId>), Error> {
        let one_more = UserQuery { limit: query.limit.saturating_add(1), ..query.clone() };
        let mut users = self.ports().connections.users(&one_more).await?;
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        if users.len() <= limit {
            return Ok((users, None));
        }
        users.truncate(limit);
        let next = users.last().map(|last| last.user.clone());
        Ok((users, next))
    }

    /// The audit history of a connection of `owner`, oldest first.
    pub async fn connection_events(&self, owner: &Owner, ref_id: &RefId) -> Result<Vec<AuditEvent>, Error> {
        self.load(owner, ref_id).await?;
        Ok(self.ports().audit.events(owner, ref_id).await?)
    }
}
